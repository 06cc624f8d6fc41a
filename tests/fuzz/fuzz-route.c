/* fuzz-route.c - the model-string grammar (route.h) against a fixed
 * configuration: aliases, named routes, a custom provider, and keys for
 * two providers.
 *
 * Input: up to four pieces separated by newlines (a model string cannot
 * hold one, so each piece is a whole field):
 *   1. a model string: route_parse, route_resolve, route_plan_build;
 *   2. a query string: route_parse_params, and route_typed_value on it;
 *   3. a model name for route_apply_aliases with the fixed alias table;
 *   4. the rest, as JSON: a request body for route_plan_build's "models"
 *      fallback list (its "models" member, or the value itself when it is
 *      an array), route_prompt_chars and route_plan_fit with the built-in
 *      catalog. */
#include "config.h"

#include "catalog.h"
#include "conf.h"
#include "route.h"
#include "fuzz.h"

#include <unistd.h>

static struct config cfg;
static struct catalog *cat;
static json_object *aliases;

static const char config_text[] =
	"{\n"
	"  // a fixed configuration: every feature of the grammar has a rule here\n"
	"  \"model_aliases\": [\n"
	"    {\"pattern\": \"^gpt-(.*)$\", \"replacement\": \"openai/gpt-\\\\1\"},\n"
	"    {\"pattern\": \"^fast$\", \"replacement\": \"groq:llama-3.3-70b?temperature=0&top_p=0.5\"},\n"
	"    {\"pattern\": \"^(a)(b)?(c)*(d|e)$\", \"replacement\": \"\\\\9\\\\2\\\\1\\\\\\\\x\\\\0\\\\4\"},\n"
	"    {\"pattern\": \"sonnet\", \"replacement\": \"anthropic/claude-sonnet-4-6\"},\n"
	"    {\"pattern\": \"^local-(.+)\", \"replacement\": \"vllm/\\\\1\"},\n"
	"  ],\n"
	"  \"routes\": {\n"
	"    \"smart\": {\"models\": [\"anthropic/claude-sonnet-4-6\", \"openai/gpt-4o\", \"fast\"], \"strategy\": \"fallback\"},\n"
	"    \"cheap\": [\"gpt-4o-mini\", \"deepseek-chat\", \"mock/echo\", \"vllm/llama-3.1-8b\"],\n"
	"    \"rr\": {\"models\": [\"openai/gpt-4o\", \"openai/gpt-4o-mini\", \"openai/gpt-4o\"], \"strategy\": \"round-robin\"},\n"
	"    \"empty\": {\"models\": []},\n"
	"    \"badstrategy\": {\"models\": [\"mock/echo\"], \"strategy\": \"fastest\"},\n"
	"  },\n"
	"  \"providers\": {\n"
	"    \"vllm\": {\"base_url\": \"http://127.0.0.1:9/\", \"models\": [\"llama-3.1-8b\"], \"key_optional\": true,\n"
	"             \"model_prefixes\": [\"llama-\"]},\n"
	"  },\n"
	"}\n";

static const char alias_table[] =
	"[{\"pattern\": \"^gpt-(.*)\", \"replacement\": \"openrouter:openai/gpt-\\\\1\"},"
	" {\"pattern\": \"^fast$\", \"replacement\": \"groq:llama-3.3\"},"
	" {\"pattern\": \"(x+)(y*)(z?)\", \"replacement\": \"<\\\\3\\\\2\\\\1\\\\7\\\\\\\\>\"},"
	" {\"pattern\": \"^$\", \"replacement\": \"empty\"},"
	" {\"pattern\": \"^gpt-4o$\", \"replacement\": \"never\"}]";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_env_init();
	setenv("OPENAI_API_KEY", "sk-fuzz-000000000000000000", 1);
	setenv("ANTHROPIC_API_KEY", "sk-ant-fuzz-0000000000000000", 1);
	char path[] = "/tmp/arouter-fuzz-route-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, config_text, sizeof config_text - 1) != (ssize_t)(sizeof config_text - 1))
		abort();
	close(fd);
	struct config_flags f = {.config_path = path};
	char *err = NULL;
	if (config_load(&cfg, &f, &err) < 0) {
		fprintf(stderr, "fuzz-route: the fixed config does not load: %s\n", err);
		abort();
	}
	unlink(path);
	cat = catalog_new(&cfg, &err);
	if (!cat) {
		fprintf(stderr, "fuzz-route: catalog: %s\n", err);
		abort();
	}
	aliases = json_tokener_parse(alias_table);
	if (!aliases)
		abort();
	return 0;
}

static void check_target(const struct route_target *t)
{
	FUZZ_ASSERT(t->provider != NULL && t->model != NULL && t->display != NULL);
	FUZZ_ASSERT(!strpbrk(t->model, "\r\n"));
}

static void plan(const char *model, json_object *models, json_object *body)
{
	struct route_plan p;
	char *err = NULL;
	int rc = route_plan_build(&cfg, model, models, &p, &err);
	if (rc < 0) {
		FUZZ_ASSERT(err != NULL && (rc == ROUTE_ERROR || rc == ROUTE_UNKNOWN_PROVIDER));
		free(err);
		return;
	}
	FUZZ_ASSERT(rc == 0 && p.n > 0);
	for (size_t i = 0; i < p.n; i++)
		check_target(&p.v[i]);
	char **left = NULL;
	size_t n_before = p.n;
	size_t n_left = route_plan_fit(&p, cat, body, &left);
	FUZZ_ASSERT(p.n + n_left == n_before && p.n > 0);
	for (size_t i = 0; i < n_left; i++)
		free(left[i]);
	free(left);
	route_plan_clear(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	size_t n = size;
	char *model = fuzz_piece(&p, &n, '\n');
	char *query = fuzz_piece(&p, &n, '\n');
	char *alias_in = fuzz_piece(&p, &n, '\n');
	json_object *body = fuzz_json(p, n);

	/* 1. the grammar */
	struct model_ref ref;
	char *err = NULL;
	if (route_parse(&cfg.providers, model, &ref, &err) == 0) {
		FUZZ_ASSERT(ref.model && *ref.model);
		model_ref_clear(&ref);
	} else {
		FUZZ_ASSERT(err);
		free(err);
		err = NULL;
	}
	struct route_target t;
	int rc = route_resolve(&cfg, model, &t, &err);
	if (rc == 0) {
		check_target(&t);
		struct route_target copy;
		route_target_copy(&copy, &t);
		route_target_clear(&copy);
		route_target_clear(&t);
	} else {
		FUZZ_ASSERT(err);
		free(err);
		err = NULL;
	}
	plan(model, NULL, body);

	/* 2. parameters */
	json_object *params = route_parse_params(query);
	FUZZ_ASSERT(json_object_is_type(params, json_type_object));
	json_object_put(params);
	json_object_put(route_typed_value(query));

	/* 3. aliases */
	char *aliased = route_apply_aliases(aliases, alias_in, &err);
	FUZZ_ASSERT(aliased);
	free(aliased);
	aliased = route_apply_aliases(cfg.root ? json_object_object_get(cfg.root, "model_aliases") : NULL, alias_in,
				      &err);
	FUZZ_ASSERT(aliased);
	free(aliased);

	/* 4. fallback lists and fitting */
	if (body) {
		json_object *models = json_object_is_type(body, json_type_array) ? body
				      : json_object_is_type(body, json_type_object)
					  ? json_object_object_get(body, "models")
					  : NULL;
		plan(model, models, body);
		plan(NULL, models, body);
		(void)route_prompt_chars(body);
		json_object_put(body);
	}
	free(model);
	free(query);
	free(alias_in);
	return 0;
}
