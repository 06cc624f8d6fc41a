/* test-catalog.c - the model catalog: the built-in table, lookups with
 * dated names, the config file's additions and overrides, costs with
 * cached tokens, the listing formats it reads and the JSON it writes. */
#include "config.h"

#include "buf.h"
#include "catalog.h"
#include "conf.h"
#include "json-test.h"
#include "config-test.h"
#include "tap.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Loads a config file holding json into c (config-test.h). */
static int load_config(struct config *c, const char *json, char **err)
{
	return config_load_text(c, json, err);
}

static bool near(double got, double want)
{
	bool ok_ = fabs(got - want) < 1e-12;
	if (!ok_)
		printf("#   got:  %.15g\n#   want: %.15g\n", got, want);
	return ok_;
}

static void test_builtin(void)
{
	unsetenv("OPENAI_API_KEY");
	struct config c;
	char *err = NULL;
	if (load_config(&c, "{}", &err) < 0)
		abort();
	struct catalog *cat = catalog_new(NULL, &err);
	ok(cat != NULL && cat->n > 50, "the built-in catalog loads (%zu models)", cat ? cat->n : 0);

	/* Every provider's default model is described, under its exact name. */
	for (size_t i = 0; i < c.providers.n; i++) {
		const struct provider *p = &c.providers.v[i];
		if (!p->default_model || strcmp(p->slug, "arouter") == 0)
			continue;
		const struct catalog_model *m = catalog_find(cat, p->slug, p->default_model);
		ok(m && strcmp(m->model, p->default_model) == 0, "the default model %s/%s is in the catalog",
		   p->slug, p->default_model);
	}
	/* Every entry belongs to a known provider, has a name and sane numbers;
	 * every provider with public list prices has them. */
	int bad = 0;
	for (size_t i = 0; i < cat->n; i++) {
		const struct catalog_model *m = &cat->v[i];
		bool priced = strcmp(m->provider, "nvidia") != 0 && strcmp(m->provider, "openrouter") != 0;
		if (!provider_find(&c.providers, m->provider) || str_empty(m->model) || str_empty(m->name) ||
		    m->context_length < 0 || (priced && (m->price_prompt < 0 || m->price_completion < 0)) ||
		    m->price_prompt > 0.001 || m->price_completion > 0.001 ||
		    json_object_array_length(m->input_modalities) == 0 ||
		    json_object_array_length(m->output_modalities) == 0) {
			printf("#   suspicious entry %s\n", m->id);
			bad++;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(cat->v[j].id, m->id) == 0) {
				printf("#   duplicate id %s\n", m->id);
				bad++;
			}
	}
	is_int(bad, 0, "every built-in entry is well formed and priced where a list price exists");

	const struct catalog_model *m = catalog_find(cat, "anthropic", "claude-sonnet-4-5");
	ok(m && m->context_length == 200000 && m->max_output_tokens == 64000, "claude-sonnet-4-5 limits");
	ok(m && near(m->price_prompt, 0.000003) && near(m->price_completion, 0.000015) &&
	       near(m->price_cache_read, 0.0000003) && near(m->price_cache_write, 0.00000375),
	   "claude-sonnet-4-5 prices, cache reads and writes included");
	m = catalog_find(cat, "openai", "gpt-4o-mini");
	ok(m && near(m->price_prompt, 0.00000015) && m->price_cache_write < 0,
	   "gpt-4o-mini: OpenAI has no cache-write price");
	m = catalog_find(cat, "nvidia", "meta/llama-3.1-70b-instruct");
	ok(m && m->price_prompt < 0 && m->price_completion < 0,
	   "a model without a list price has unknown prices");
	catalog_free(cat);
	config_free(&c);
}

static void test_find(void)
{
	char *err = NULL;
	struct catalog *cat = catalog_new(NULL, &err);
	const struct catalog_model *m;

	m = catalog_find(cat, "openai", "gpt-4o");
	is_str(m ? m->id : NULL, "openai/gpt-4o", "exact id");
	m = catalog_find(cat, NULL, "google/gemini-2.5-flash");
	is_str(m ? m->id : NULL, "google/gemini-2.5-flash", "a whole provider/model id with provider NULL");
	m = catalog_find(cat, NULL, "groq/openai/gpt-oss-120b");
	is_str(m ? m->id : NULL, "groq/openai/gpt-oss-120b", "a model name holding a slash");
	ok(catalog_find(cat, NULL, "gpt-4o") == NULL, "provider NULL needs a provider in the id");
	ok(catalog_find(cat, "openai", "gpt-unknown-9") == NULL, "an unknown model is NULL");
	ok(catalog_find(cat, "anthropic", "gpt-4o") == NULL, "a model is found only under its provider");
	ok(catalog_find(cat, "nope", "gpt-4o") == NULL, "an unknown provider is NULL");
	m = catalog_find(cat, "minimax", "minimax-m2");
	is_str(m ? m->id : NULL, "minimax/MiniMax-M2", "a name in another case");

	m = catalog_find(cat, "anthropic", "claude-sonnet-4-5-20250929");
	is_str(m ? m->id : NULL, "anthropic/claude-sonnet-4-5", "a dated snapshot finds its model");
	m = catalog_find(cat, "openai", "gpt-4o-mini-2024-07-18");
	is_str(m ? m->id : NULL, "openai/gpt-4o-mini", "the longest model a dated name extends wins");
	m = catalog_find(cat, "openai", "gpt-4o-2024-08-06");
	is_str(m ? m->id : NULL, "openai/gpt-4o", "YYYY-MM-DD");
	m = catalog_find(cat, "xai", "grok-4-0709");
	is_str(m ? m->id : NULL, "xai/grok-4", "a four-digit snapshot");
	m = catalog_find(cat, "google", "gemini-2.0-flash-001");
	is_str(m ? m->id : NULL, "google/gemini-2.0-flash", "a -001 version");
	ok(catalog_find(cat, "openai", "gpt-4o-mini-tts") == NULL, "a word suffix is another model");
	catalog_free(cat);

	/* Versions are not snapshots: with only claude-sonnet-4 known,
	 * claude-sonnet-4-5 is unknown rather than mistaken for it. */
	cat = catalog_new_empty();
	json_object *e = J("{`id`: `claude-sonnet-4`}");
	catalog_add_listing(cat, e, "anthropic");
	json_object_put(e);
	e = J("{`id`: `model`}");
	catalog_add_listing(cat, e, "acme");
	json_object_put(e);
	ok(catalog_find(cat, "anthropic", "claude-sonnet-4-5") == NULL, "-5 is a version, not a date");
	ok(catalog_find(cat, "anthropic", "claude-sonnet-4-20250514") != NULL, "-20250514 is a date");
	ok(catalog_find(cat, "acme", "model-120") == NULL, "-120 is not a snapshot");
	ok(catalog_find(cat, "acme", "model-2025-1-1") == NULL, "a malformed date is not a snapshot");
	ok(catalog_find(cat, "acme", "model-202509") == NULL, "six digits are not a snapshot");
	ok(catalog_find(cat, "acme", "model-") == NULL, "a bare '-' is not a snapshot");
	catalog_free(cat);
}

static void test_config(void)
{
	unsetenv("OPENAI_API_KEY");
	struct config c;
	char *err = NULL;
	int rc = load_config(
	    &c,
	    "{\n"
	    "  // a local server and its models\n"
	    "  \"providers\": {\"vllm\": {\"base_url\": \"http://127.0.0.1:8000\",\n"
	    "    \"models\": [\"llama-3.1-8b\", {\"id\": \"qwen3-8b\", \"context_length\": 32768}]},\n"
	    "    \"acme\": {\"base_url\": \"http://127.0.0.1:8001\"}},\n"
	    "  \"models\": [\n"
	    "    {\"id\": \"openai/gpt-4o-mini\", \"pricing\": {\"prompt\": \"0.0000002\"}},\n"
	    "    {\"id\": \"acme/rocket-1\", \"name\": \"Acme Rocket\", \"context_length\": 65536,\n"
	    "     \"pricing\": {\"prompt\": 0.000001, \"completion\": \"0.000004\", \"input_cache_read\": "
	    "\"0.0000001\"},\n"
	    "     \"architecture\": {\"input_modalities\": [\"text\", \"image\"]},\n"
	    "     \"top_provider\": {\"max_completion_tokens\": 8192}},\n"
	    "    {\"id\": \"vllm/llama-3.1-8b\", \"pricing\": {\"prompt\": \"0\", \"completion\": \"0\"}},\n"
	    "  ],\n"
	    "}\n",
	    &err);
	ok(rc == 0, "a config with models loads");
	if (rc != 0) {
		printf("#   %s\n", err);
		return;
	}
	struct catalog *cat = catalog_new(&c, &err);
	ok(cat != NULL, "the catalog takes the config's models");
	if (!cat) {
		printf("#   %s\n", err);
		config_free(&c);
		return;
	}
	const struct catalog_model *m = catalog_find(cat, "openai", "gpt-4o-mini");
	ok(m && near(m->price_prompt, 0.0000002), "an override replaces the field it names");
	ok(m && near(m->price_completion, 0.0000006) && m->context_length == 128000 &&
	       strcmp(m->name, "OpenAI: GPT-4o-mini") == 0,
	   "and keeps every other field");
	m = catalog_find(cat, "acme", "rocket-1");
	ok(m != NULL, "a new entry extends the catalog");
	if (m) {
		is_str(m->name, "Acme Rocket", "its name");
		is_int(m->context_length, 65536, "its context length");
		is_int(m->max_output_tokens, 8192, "top_provider.max_completion_tokens");
		ok(near(m->price_prompt, 0.000001), "a price given as a number");
		ok(near(m->price_completion, 0.000004), "a price given as a string");
		ok(near(m->price_cache_read, 0.0000001), "OpenRouter's input_cache_read");
		is_int(json_object_array_length(m->input_modalities), 2, "architecture.input_modalities");
	}
	m = catalog_find(cat, "vllm", "llama-3.1-8b");
	ok(m && near(m->price_prompt, 0) && near(m->price_completion, 0) &&
	       strcmp(m->name, "vllm/llama-3.1-8b") == 0,
	   "a provider's bare model name, priced by a top-level entry");
	m = catalog_find(cat, "vllm", "qwen3-8b");
	ok(m && m->context_length == 32768 && m->price_prompt < 0, "a provider's model entry with metadata");
	ok(cat->n > 3 && strcmp(cat->v[cat->n - 1].id, "acme/rocket-1") == 0,
	   "additions come after the built-in table");
	catalog_free(cat);
	char *report = NULL;
	if (!is_int(config_check(&c, &report), 0, "config check accepts the entries"))
		printf("#   %s", report);
	free(report);
	config_free(&c);

	/* A malformed entry fails the load with its place in the file. */
	rc = load_config(
	    &c,
	    "{\n  \"models\": [\n    {\"id\": \"openai/x\", \"pricing\": {\"prompt\": \"cheap\"}}\n  ]\n}\n",
	    &err);
	ok(rc == 0, "the config itself loads");
	cat = catalog_new(&c, &err);
	ok(cat == NULL, "a price that is not a number fails");
	if (!ok(cat == NULL &&
	            strstr(err, ":3:36: models.0.pricing.prompt must be a price in USD per token") != NULL,
	        "the error names the key with its line and column") &&
	    cat == NULL)
		printf("#   %s\n", err);
	free(err);
	catalog_free(cat);
	config_free(&c);

	const struct {
		const char *json, *want, *name;
	} bad[] = {
	    {"{\"models\": [{\"id\": \"gpt-x\"}]}", "models.0.id: 'gpt-x' is not \"provider/model\"",
	     "an id without a provider"},
	    {"{\"models\": [{\"name\": \"x\"}]}", "models.0 needs an \"id\"", "an entry without an id"},
	    {"{\"models\": [\"openai/x\"]}", "models.0 must be an object", "a bare string at the top level"},
	    {"{\"models\": [{\"id\": \"a/b\", \"context_length\": \"big\"}]}",
	     "models.0.context_length must be a whole", "a context length that is not a number"},
	    {"{\"models\": [{\"id\": \"a/b\", \"input_modalities\": \"text\"}]}",
	     "models.0.input_modalities must be a list of strings", "modalities that are not a list"},
	    {"{\"models\": [{\"id\": \"a/b\", \"pricing\": \"free\"}]}", "models.0.pricing must be an object",
	     "pricing that is not an object"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err = NULL;
		if (load_config(&c, bad[i].json, &err) < 0) {
			ok(0, "%s: the config loads (%s)", bad[i].name, err);
			free(err);
			continue;
		}
		cat = catalog_new(&c, &err);
		ok(cat == NULL && strstr(err, bad[i].want) != NULL, "%s is an error", bad[i].name);
		if (cat)
			catalog_free(cat);
		else if (!strstr(err, bad[i].want))
			printf("#   got: %s\n", err);
		free(err);
		config_free(&c);
	}

	/* config check lists what loading tolerates: unknown keys, providers. */
	rc = load_config(
	    &c,
	    "{\"models\": [{\"id\": \"opneai/x\", \"contxt_length\": 5, \"pricing\": {\"promt\": \"0\"}}]}",
	    &err);
	char *text = NULL;
	int problems = config_check(&c, &text);
	is_int(problems, 3, "config check finds three problems in a model entry");
	ok(strstr(text, "models.0.id: unknown provider 'opneai' (did you mean 'openai'?)") != NULL,
	   "an unknown provider with a suggestion");
	ok(strstr(text, "models.0.contxt_length: unknown key (did you mean 'context_length'?)") != NULL,
	   "an unknown key with a suggestion");
	ok(strstr(text, "models.0.pricing.promt: unknown key (did you mean 'prompt'?)") != NULL,
	   "an unknown pricing key");
	if (problems != 3)
		printf("#   %s", text);
	free(text);
	cat = catalog_new(&c, &err);
	ok(cat != NULL, "loading does not fail on what only config check reports");
	catalog_free(cat);
	config_free(&c);

	/* config check reads the config's entries without the built-in table:
	 * an entry overriding a built-in model gets the same checks as a new
	 * one, and a clean override is no problem. */
	rc = load_config(&c,
	                 "{\"models\": [{\"id\": \"openai/gpt-4o\", \"pricing\": {\"prompt\": \"0.000001\"}},"
	                 " {\"id\": \"openai/gpt-4o\", \"context_lenght\": 5}]}",
	                 &err);
	ok(rc == 0, "a config overriding a built-in model twice loads");
	problems = config_check(&c, &text);
	is_int(problems, 1, "config check finds one problem in two overrides of a built-in model");
	ok(strstr(text, "models.1.context_lenght: unknown key") != NULL, "the second override's unknown key");
	if (problems != 1)
		printf("#   %s", text);
	free(text);
	cat = catalog_new(&c, &err);
	m = cat ? catalog_find(cat, "openai", "gpt-4o") : NULL;
	ok(m && near(m->price_prompt, 0.000001) && m->context_length > 5,
	   "the override applies over the built-in entry");
	catalog_free(cat);
	config_free(&c);
}

static void test_cost(void)
{
	struct catalog *cat = catalog_new(NULL, NULL);
	const struct catalog_model *sonnet = catalog_find(cat, "anthropic", "claude-sonnet-4-5");
	/* $3 in, $15 out, $0.30 cache read, $3.75 cache write per million. */
	ok(near(catalog_cost(sonnet, 1000000, 0, 0, 0), 3.0), "a million prompt tokens");
	ok(near(catalog_cost(sonnet, 0, 1000000, 0, 0), 15.0), "a million completion tokens");
	/* 1000 prompt tokens of which 200 cache reads and 100 cache writes:
	 * 700*3 + 200*0.3 + 100*3.75 + 500*15 = 10035 millionths. */
	ok(near(catalog_cost(sonnet, 1000, 500, 200, 100), 0.010035),
	   "cached reads and writes are part of prompt_tokens and billed at their own prices");
	ok(near(catalog_cost(sonnet, 100, 0, 500, 0), 100 * 0.0000003),
	   "more cached than prompt tokens is clamped");
	ok(near(catalog_cost(sonnet, 100, 0, 60, 60), 60 * 0.0000003 + 40 * 0.00000375),
	   "reads and writes together never exceed the prompt");
	ok(near(catalog_cost(sonnet, -5, -5, -5, -5), 0), "negative counts count as none");

	const struct catalog_model *mini = catalog_find(cat, "openai", "gpt-4o-mini");
	/* $0.15 in, $0.60 out, $0.075 cached; no cache-write price. */
	ok(near(catalog_cost(mini, 2000, 100, 1000, 0),
	        1000 * 0.00000015 + 1000 * 0.000000075 + 100 * 0.0000006),
	   "OpenAI cached tokens at the cached price");
	ok(near(catalog_cost(mini, 2000, 0, 0, 500), 2000 * 0.00000015),
	   "an unknown cache-write price is the prompt price");
	const struct catalog_model *ds = catalog_find(cat, "deepseek", "deepseek-chat");
	ok(near(catalog_cost(ds, 1000000, 1000000, 1000000, 0), 0.028 + 0.42),
	   "DeepSeek: every prompt token a cache hit");

	ok(catalog_cost(NULL, 10, 10, 0, 0) < 0, "no model: negative");
	ok(catalog_cost(catalog_find(cat, "nvidia", "meta/llama-3.1-70b-instruct"), 10, 10, 0, 0) < 0,
	   "unknown prices: negative");
	ok(catalog_cost(catalog_find(cat, "ollama", "llama3.2"), 1000, 1000, 0, 0) == 0,
	   "a local model costs nothing");
	catalog_free(cat);
}

static bool only_openai(const char *slug, void *arg)
{
	(*(int *)arg)++;
	return strcmp(slug, "openai") == 0;
}

static void test_json(void)
{
	struct catalog *cat = catalog_new(NULL, NULL);
	json_object *o = catalog_model_json(catalog_find(cat, "anthropic", "claude-sonnet-4-6"));
	is_str(js(o, "id"), "anthropic/claude-sonnet-4-6", "id");
	is_str(js(o, "object"), "model", "object");
	is_str(js(o, "owned_by"), "anthropic", "owned_by");
	is_str(js(o, "name"), "Anthropic: Claude Sonnet 4.6", "name");
	is_int(ji(o, "context_length"), 1000000, "context_length");
	is_str(js(o, "pricing.prompt"), "0.000003", "pricing.prompt as a plain decimal string");
	is_str(js(o, "pricing.completion"), "0.000015", "pricing.completion");
	is_str(js(o, "pricing.input_cache_read"), "0.0000003", "pricing.input_cache_read");
	is_str(js(o, "pricing.input_cache_write"), "0.00000375", "pricing.input_cache_write");
	is_str(js(o, "architecture.input_modalities.1"), "image", "architecture.input_modalities");
	is_str(js(o, "architecture.output_modalities.0"), "text", "architecture.output_modalities");
	is_int(ji(o, "top_provider.context_length"), 1000000, "top_provider.context_length");
	is_int(ji(o, "top_provider.max_completion_tokens"), 64000, "top_provider.max_completion_tokens");
	ok(jlen(o, "supported_parameters") > 3, "supported_parameters");
	json_object_put(o);

	o = catalog_model_json(catalog_find(cat, "openai", "gpt-4o-mini"));
	ok(!jhas(o, "pricing.input_cache_write"), "an unknown price is left out");
	is_str(js(o, "pricing.prompt"), "0.00000015", "no exponent in small prices");
	json_object_put(o);
	o = catalog_model_json(catalog_find(cat, "openrouter", "openrouter/auto"));
	ok(jnull(o, "context_length") && jlen(o, "pricing") == 0,
	   "unknown context is null, unknown prices absent");
	json_object_put(o);
	o = catalog_model_json(catalog_find(cat, "ollama", "llama3.2"));
	is_str(js(o, "pricing.prompt"), "0", "a zero price is \"0\"");
	json_object_put(o);

	o = catalog_list_json(cat, "SONNET", NULL, NULL, NULL);
	is_str(js(o, "object"), "list", "a list");
	ok(jlen(o, "data") >= 2, "a case-insensitive query matches ids");
	bool all = true;
	for (int i = 0; i < jlen(o, "data"); i++) {
		char path[32];
		snprintf(path, sizeof path, "data.%d.id", i);
		all = all && strstr(js(o, path), "sonnet") != NULL;
	}
	ok(all, "and only what matches");
	json_object_put(o);
	o = catalog_list_json(cat, "gpt-oss 120b", NULL, NULL, NULL);
	ok(jlen(o, "data") == 1 && strcmp(js(o, "data.0.id"), "groq/openai/gpt-oss-120b") == 0,
	   "the query matches names too (\"%s\")", dump(o));
	json_object_put(o);
	o = catalog_list_json(cat, NULL, "deepseek", NULL, NULL);
	ok(jlen(o, "data") == 2, "the provider filter");
	json_object_put(o);
	o = catalog_list_json(cat, "gpt", "groq", NULL, NULL);
	is_str(js(o, "data.0.id"), "groq/openai/gpt-oss-120b", "both filters");
	json_object_put(o);
	int calls = 0;
	o = catalog_list_json(cat, NULL, NULL, only_openai, &calls);
	bool openai_only = jlen(o, "data") > 5;
	for (int i = 0; i < jlen(o, "data"); i++) {
		char path[32];
		snprintf(path, sizeof path, "data.%d.owned_by", i);
		openai_only = openai_only && strcmp(js(o, path), "openai") == 0;
	}
	ok(openai_only && calls == (int)cat->n, "provider_ok decides per model (%d calls)", calls);
	json_object_put(o);
	o = catalog_list_json(cat, "no-such-model-anywhere", NULL, NULL, NULL);
	is_int(jlen(o, "data"), 0, "no match: an empty list");
	json_object_put(o);
	catalog_free(cat);
}

static void test_listings(void)
{
	struct catalog *cat = catalog_new_empty();
	json_object *e =
	    J("{`name`: `models/gemini-x`, `displayName`: `Gemini X`, `inputTokenLimit`: 1048576,"
	      " `outputTokenLimit`: 8192, `supportedGenerationMethods`: [`generateContent`]}");
	const struct catalog_model *m = catalog_add_listing(cat, e, "google");
	json_object_put(e);
	ok(m && strcmp(m->id, "google/gemini-x") == 0 && strcmp(m->name, "Gemini X") == 0 &&
	       m->context_length == 1048576 && m->max_output_tokens == 8192 && m->price_prompt < 0,
	   "a Gemini models entry");
	e = J("{`type`: `model`, `id`: `claude-x-20260101`, `display_name`: `Claude X`}");
	m = catalog_add_listing(cat, e, "anthropic");
	json_object_put(e);
	ok(m && strcmp(m->id, "anthropic/claude-x-20260101") == 0 && strcmp(m->name, "Claude X") == 0,
	   "an Anthropic models entry");
	e = J("{`id`: `fake-model`, `object`: `model`, `owned_by`: `fake`}");
	m = catalog_add_listing(cat, e, "openai");
	json_object_put(e);
	ok(m && strcmp(m->name, "openai/fake-model") == 0 && m->context_length == 0,
	   "an OpenAI models entry");
	e = J("{`id`: `openai/gpt-4o-mini`, `name`: `GPT-4o-mini`, `context_length`: 128000,"
	      " `pricing`: {`prompt`: `0.00000015`, `completion`: `0.0000006`, `input_cache_read`: `-1`},"
	      " `architecture`: {`input_modalities`: [`text`, `image`], `output_modalities`: [`text`]},"
	      " `top_provider`: {`max_completion_tokens`: 16384}}");
	m = catalog_add_listing(cat, e, NULL);
	json_object_put(e);
	ok(m && strcmp(m->provider, "openai") == 0 && strcmp(m->model, "gpt-4o-mini") == 0 &&
	       near(m->price_prompt, 0.00000015) && m->price_cache_read < 0 && m->max_output_tokens == 16384,
	   "an OpenRouter entry; \"-1\" is an unknown price");
	e = J("{`id`: `auto`, `context_length`: `lots`, `pricing`: [1]}");
	m = catalog_add_listing(cat, e, NULL);
	json_object_put(e);
	ok(m && strcmp(m->provider, "") == 0 && m->context_length == 0 && m->price_prompt < 0,
	   "wrong types in a listing are ignored, an id without a provider kept");
	e = J("{`name`: `command-a-03-2025`, `endpoints`: [`chat`], `context_length`: 256000}");
	m = catalog_add_listing(cat, e, "cohere");
	json_object_put(e);
	ok(m && strcmp(m->id, "cohere/command-a-03-2025") == 0 &&
	       strcmp(m->name, "cohere/command-a-03-2025") == 0 && m->context_length == 256000,
	   "a Cohere models entry, named by \"name\"");
	e = J("{`object`: `model`}");
	ok(catalog_add_listing(cat, e, "openai") == NULL, "an entry without an id is skipped");
	json_object_put(e);

	/* What the catalog knows wins over a listing, what it does not stays. */
	struct catalog *known = catalog_new(NULL, NULL);
	e = J("{`name`: `models/gemini-2.5-flash-001`, `displayName`: `Gemini 2.5 Flash 001`,"
	      " `inputTokenLimit`: 1000, `outputTokenLimit`: 2000}");
	m = catalog_add_listing(cat, e, "google");
	json_object_put(e);
	const struct catalog_model *k = catalog_find(known, "google", m->model);
	ok(k && strcmp(k->id, "google/gemini-2.5-flash") == 0, "the listing's dated name is known");
	m = catalog_add_copy(cat, k, "google", "gemini-2.5-flash-001");
	ok(strcmp(m->id, "google/gemini-2.5-flash-001") == 0 &&
	       strcmp(m->name, "Google: Gemini 2.5 Flash") == 0 && m->context_length == 1048576 &&
	       near(m->price_prompt, 0.0000003),
	   "a copy keeps the listing's id and takes the catalog's data");
	e = J("{`name`: `models/gemini-2.5-flash-002`, `inputTokenLimit`: 1000}");
	catalog_add_listing(cat, e, "google");
	json_object_put(e);
	struct catalog_model unknown_ctx = *k;
	unknown_ctx.context_length = 0;
	m = catalog_add_copy(cat, &unknown_ctx, "google", "gemini-2.5-flash-002");
	ok(m->context_length == 1000 && near(m->price_prompt, 0.0000003),
	   "a field the catalog does not know keeps the listing's value");
	catalog_free(known);
	catalog_free(cat);
}

/* Many models: the id index survives the array's growth (64, 128, ...),
 * a listing of a known id updates it in place, and lookups that are not
 * exact (case, snapshot suffix, an id without a provider) still scan. */
static void test_many(void)
{
	struct catalog *cat = catalog_new_empty();
	char name[64];
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof name, "{`id`: `model-%d`, `context_length`: %d}", i, i + 1);
		json_object *e = J(name);
		catalog_add_listing(cat, e, i % 2 ? "acme" : "zeta");
		json_object_put(e);
	}
	is_int((long)cat->n, 1000, "1000 models added");
	int found = 0;
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof name, "model-%d", i);
		const struct catalog_model *m = catalog_find(cat, i % 2 ? "acme" : "zeta", name);
		found += m && m->context_length == i + 1 && m == &cat->v[i];
	}
	is_int(found, 1000, "each found by provider and name, the entry it was added as");
	ok(catalog_find(cat, "zeta", "model-1") == NULL, "a name under another provider is not found");
	snprintf(name, sizeof name, "acme/model-%d", 777);
	const struct catalog_model *m = catalog_find(cat, NULL, name);
	ok(m && m->context_length == 778, "found by \"provider/model\"");

	json_object *e = J("{`id`: `model-500`, `context_length`: 4242}");
	m = catalog_add_listing(cat, e, "zeta");
	json_object_put(e);
	ok(cat->n == 1000 && m == &cat->v[500] && m->context_length == 4242,
	   "a known id is updated in place, not added again");

	m = catalog_find(cat, "acme", "MODEL-3");
	ok(m && strcmp(m->id, "acme/model-3") == 0, "a name in other case is found by the scan");
	m = catalog_find(cat, "acme", "model-3-20250101");
	ok(m && strcmp(m->id, "acme/model-3") == 0, "a dated name is found by the scan");
	e = J("{`id`: `bare`}");
	catalog_add_listing(cat, e, NULL);
	json_object_put(e);
	m = catalog_find(cat, "", "bare");
	ok(m && strcmp(m->id, "bare") == 0, "an id without a provider is found with an empty provider");
	catalog_free(cat);
}

/* Each catalog_new starts from the models of a built-in catalog parsed
 * once per process, shared until one is changed: what one catalog changes
 * never shows in another, and threads may build and list catalogs at once
 * (the proxy's workers do). */
static void *build_many(void *arg)
{
	size_t *bad = arg;
	for (int i = 0; i < 25; i++) {
		struct catalog *cat = catalog_new(NULL, NULL);
		const struct catalog_model *m = catalog_find(cat, "openai", "gpt-4o");
		if (!m || json_object_array_length(m->input_modalities) == 0 || m->price_prompt <= 0)
			(*bad)++;
		json_object *list = catalog_list_json(cat, NULL, NULL, NULL, NULL);
		if (json_object_array_length(json_object_object_get(list, "data")) != cat->n)
			(*bad)++;
		json_object_put(list);
		catalog_free(cat);
	}
	return NULL;
}

static void test_copies(void)
{
	struct config c;
	char *err = NULL;
	struct catalog *plain = catalog_new(NULL, NULL);
	const struct catalog_model *m0 = catalog_find(plain, "openai", "gpt-4o");
	double builtin_price = m0 ? m0->price_prompt : -1;
	size_t builtin_n = plain->n;
	size_t n_in = m0 ? json_object_array_length(m0->input_modalities) : 0;
	ok(builtin_price > 0 && n_in > 0, "gpt-4o has a built-in price and input modalities");

	if (load_config(&c,
	                "{\"models\": [{\"id\": \"openai/gpt-4o\", \"pricing\": {\"prompt\": \"0.5\"},"
	                " \"input_modalities\": [\"text\"], \"name\": \"Mine\"}]}",
	                &err) < 0) {
		ok(0, "the override config loads (%s)", err);
		free(err);
		catalog_free(plain);
		return;
	}
	struct catalog *mine = catalog_new(&c, &err);
	const struct catalog_model *m = mine ? catalog_find(mine, "openai", "gpt-4o") : NULL;
	ok(m && near(m->price_prompt, 0.5) && strcmp(m->name, "Mine") == 0 &&
	       json_object_array_length(m->input_modalities) == 1,
	   "an override changes its own catalog");
	catalog_free(mine);
	config_free(&c);

	struct catalog *again = catalog_new(NULL, NULL);
	m = catalog_find(again, "openai", "gpt-4o");
	ok(again->n == builtin_n && m && near(m->price_prompt, builtin_price) && strcmp(m->name, "Mine") != 0 &&
	       json_object_array_length(m->input_modalities) == n_in,
	   "and not the next one, nor one built before it");
	m0 = catalog_find(plain, "openai", "gpt-4o");
	ok(m0 && near(m0->price_prompt, builtin_price), "the earlier catalog is unchanged");
	catalog_free(again);

	/* What the listing hands out is its own: changing it changes no
	 * catalog (a shared list is copied, not referenced). */
	m0 = catalog_find(plain, "openai", "gpt-4o");
	json_object *o = catalog_model_json(m0);
	json_object *arch = json_object_object_get(o, "architecture");
	json_object_array_add(json_object_object_get(arch, "input_modalities"), json_object_new_string("smell"));
	json_object_array_add(json_object_object_get(o, "supported_parameters"), json_object_new_string("x"));
	json_object_put(o);
	struct catalog *third = catalog_new(NULL, NULL);
	m = catalog_find(third, "openai", "gpt-4o");
	ok(json_object_array_length(m0->input_modalities) == n_in && json_object_array_length(m->input_modalities) == n_in,
	   "a listing's lists can be changed without changing the catalog's");
	const struct catalog_model *c3 = catalog_add_copy(third, m, "mine", "gpt-4o");
	json_object_array_add(c3->input_modalities, json_object_new_string("smell"));
	m = catalog_find(third, "openai", "gpt-4o"); /* the copy may have moved the table */
	ok(json_object_array_length(m->input_modalities) == n_in &&
	       json_object_array_length(c3->input_modalities) == n_in + 1,
	   "and so can a copy's");
	catalog_free(third);
	catalog_free(plain);

	ok(tap_threads(4, build_many) == 0, "four threads build and list 100 whole catalogs at once");
}

int main(void)
{
	test_builtin();
	test_find();
	test_config();
	test_cost();
	test_json();
	test_listings();
	test_many();
	test_copies();
	return tap_done();
}
