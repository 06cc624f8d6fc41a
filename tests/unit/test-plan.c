/* test-plan.c - route plans (route_plan_build): one model, a request's
 * fallback list, named routes from the config with their strategies, the
 * built-in "auto" route; duplicates, members left out and why, errors. */
#include "config.h"

#include "conf.h"
#include "route.h"
#include "config-test.h"
#include "tap.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct config cfg;

static void load(const char *json)
{
	config_load_text_or_die(&cfg, json);
}

/* Every provider key variable the tests could meet, so that the machine's
 * environment cannot change a plan. */
static void no_keys(void)
{
	static const char *const vars[] = {
		"AROUTER_API_KEY", "OPENAI_API_KEY",  "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
		"DEEPSEEK_API_KEY", "XAI_API_KEY",    "MOONSHOT_API_KEY",  "MINIMAX_API_KEY", "MISTRAL_API_KEY",
		"GROQ_API_KEY",    "COHERE_API_KEY",  "CO_API_KEY",        "NVIDIA_API_KEY",  "DASHSCOPE_API_KEY",
		"OPENROUTER_API_KEY", "AROUTER_DEFAULT_BACKEND", "AROUTER_MODEL",
	};
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
}

/* The plan's candidates as "slug/model,slug/model". Caller frees. */
static char *members(const struct route_plan *p)
{
	char *s = xstrdup("");
	for (size_t i = 0; i < p->n; i++) {
		char *t = xasprintf("%s%s%s/%s", s, i ? "," : "", p->v[i].provider->slug, p->v[i].model);
		free(s);
		s = t;
	}
	return s;
}

static json_object *list(const char *json)
{
	return json ? json_tokener_parse(json) : NULL;
}

/* Builds a plan that must succeed and checks its members, name, strategy
 * and the number of members left out. */
static void plan_ok(const char *model, const char *models_json, const char *want, const char *name,
		    enum strategy strategy, size_t skipped, const char *what)
{
	struct route_plan p;
	char *err = NULL;
	json_object *models = list(models_json);
	int rc = route_plan_build(&cfg, model, models, &p, &err);
	if (models)
		json_object_put(models);
	if (!ok(rc == 0, "%s: builds", what)) {
		printf("#   error: %s\n", err ? err : "(none)");
		free(err);
		return;
	}
	ok(err == NULL, "%s: no error set", what);
	char *got = members(&p);
	is_str(got, want, "%s: candidates", what);
	free(got);
	is_str(p.name, name, "%s: route name", what);
	is_str(strategy_name(p.strategy), strategy_name(strategy), "%s: strategy", what);
	is_int(p.n_skipped, skipped, "%s: members left out", what);
	route_plan_clear(&p);
}

/* Builds a plan that must fail with rc and an error containing want. */
static void plan_err(const char *model, const char *models_json, int want_rc, const char *want, const char *what)
{
	struct route_plan p;
	char *err = NULL;
	json_object *models = list(models_json);
	int rc = route_plan_build(&cfg, model, models, &p, &err);
	if (models)
		json_object_put(models);
	is_int(rc, want_rc, "%s: fails with the right code", what);
	ok(err && strstr(err, want), "%s: error mentions '%s'", what, want);
	if (err && !strstr(err, want))
		printf("#   got: %s\n", err);
	ok(p.n == 0 && p.v == NULL && p.name == NULL && p.skipped == NULL, "%s: the plan is left empty", what);
	free(err);
	if (rc == 0)
		route_plan_clear(&p);
}

static void test_one_model(void)
{
	setenv("OPENAI_API_KEY", "sk-test-openai-000000000001", 1);
	load("{}");
	plan_ok("openai/gpt-4o", NULL, "openai/gpt-4o", NULL, STRATEGY_FALLBACK, 0, "one model");
	plan_ok("gpt-4o", NULL, "openai/gpt-4o", NULL, STRATEGY_FALLBACK, 0, "a bare name");
	plan_ok(NULL, NULL, "openai/gpt-4o-mini", NULL, STRATEGY_FALLBACK, 0, "no model: the default");
	plan_ok("openai/gpt-4o", "[]", "openai/gpt-4o", NULL, STRATEGY_FALLBACK, 0,
		"an empty models list is no list");
	/* One model fails exactly as route_resolve does. */
	plan_err("anthropic/claude-x", NULL, ROUTE_ERROR, "ANTHROPIC_API_KEY", "one model without its key");
	plan_err("antropic/claude-x", NULL, ROUTE_UNKNOWN_PROVIDER, "did you mean 'anthropic'",
		 "one model of an unknown provider");

	struct route_plan p;
	char *err = NULL;
	ok(route_plan_build(&cfg, "openai/gpt-4o?temperature=0.5", NULL, &p, &err) == 0, "parameters: builds");
	ok(p.n == 1 && p.v[0].params && json_object_get_double(json_object_object_get(p.v[0].params, "temperature")) == 0.5,
	   "parameters: kept on the candidate");
	is_str(p.v[0].display, "openai/gpt-4o", "parameters: not part of the display name");
	route_plan_clear(&p);
	ok(p.n == 0 && p.v == NULL, "route_plan_clear empties the plan");
	config_free(&cfg);
	unsetenv("OPENAI_API_KEY");
}

static void test_request_list(void)
{
	setenv("OPENAI_API_KEY", "sk-test-openai-000000000001", 1);
	setenv("GEMINI_API_KEY", "AIza-test-gemini-00000000002", 1);
	load("{\"model_aliases\": [{\"pattern\": \"^fast$\", \"replacement\": \"google/gemini-2.5-flash\"}]}");
	plan_ok("openai/gpt-4o", "[\"google/gemini-2.5-pro\", \"openai/gpt-4o-mini\"]",
		"openai/gpt-4o,google/gemini-2.5-pro,openai/gpt-4o-mini", NULL, STRATEGY_FALLBACK, 0,
		"model first, then models");
	plan_ok(NULL, "[\"google/gemini-2.5-pro\", \"openai/gpt-4o-mini\"]",
		"google/gemini-2.5-pro,openai/gpt-4o-mini", NULL, STRATEGY_FALLBACK, 0, "models without a model");
	plan_ok("", "[\"openai/gpt-4o-mini\"]", "openai/gpt-4o-mini", NULL, STRATEGY_FALLBACK, 0,
		"an empty model counts as none");
	plan_ok("openai/gpt-4o", "[\"gpt-4o\", \"openai/gpt-4o\", \"google/gemini-2.5-pro\", \"gemini-2.5-pro\"]",
		"openai/gpt-4o,google/gemini-2.5-pro", NULL, STRATEGY_FALLBACK, 0,
		"duplicates, however spelled, count once in their first place");
	plan_ok(NULL, "[\"fast\", \"google/gemini-2.5-flash\"]", "google/gemini-2.5-flash", NULL, STRATEGY_FALLBACK, 0,
		"aliases apply to list members (and then dedupe)");

	/* Members that cannot be served are left out, each with its reason. */
	struct route_plan p;
	char *err = NULL;
	json_object *models = list("[\"anthropic/claude-x\", \"nosuch/model\", \"openai/gpt-4o-mini\", \"llama3.2\"]");
	ok(route_plan_build(&cfg, NULL, models, &p, &err) == 0, "members left out: the rest builds");
	json_object_put(models);
	char *got = members(&p);
	is_str(got, "openai/gpt-4o-mini", "members left out: only the servable one remains");
	free(got);
	is_int(p.n_skipped, 3, "members left out: three");
	if (p.n_skipped == 3) {
		ok(strncmp(p.skipped[0], "anthropic/claude-x: ", 20) == 0 && strstr(p.skipped[0], "ANTHROPIC_API_KEY"),
		   "a member without a key says which variable to set");
		ok(strncmp(p.skipped[1], "nosuch/model: ", 14) == 0, "an unknown provider is named");
		ok(strncmp(p.skipped[2], "llama3.2: ", 10) == 0, "an unclaimed bare name is named");
		for (size_t i = 0; i < p.n_skipped; i++)
			printf("#   skipped: %s\n", p.skipped[i]);
	}
	ok(!strstr(p.skipped[0], "sk-test-openai"), "no key in the reasons");
	route_plan_clear(&p);
	ok(p.skipped == NULL && p.n_skipped == 0, "route_plan_clear frees the reasons");

	/* Nothing left: the first member's error and its code. */
	plan_err(NULL, "[\"nosuch/model\", \"anthropic/claude-x\"]", ROUTE_UNKNOWN_PROVIDER, "nosuch",
		 "no member left: the first error (unknown provider)");
	plan_err(NULL, "[\"anthropic/claude-x\", \"nosuch/model\"]", ROUTE_ERROR, "ANTHROPIC_API_KEY",
		 "no member left: the first error (missing key)");
	plan_err("anthropic/claude-x", "[\"nosuch/model\"]", ROUTE_ERROR, "ANTHROPIC_API_KEY",
		 "no member left: model counts as the first member");

	/* The list must hold names. */
	plan_err(NULL, "[\"openai/gpt-4o\", 7]", ROUTE_ERROR, "item 1", "a number in models");
	plan_err(NULL, "[\"openai/gpt-4o\", \"\"]", ROUTE_ERROR, "\"models\" must be a list of model names",
		 "an empty name in models");
	plan_err(NULL, "[{\"model\": \"x\"}]", ROUTE_ERROR, "item 0", "an object in models");
	config_free(&cfg);
	unsetenv("OPENAI_API_KEY");
	unsetenv("GEMINI_API_KEY");
}

static void test_named_routes(void)
{
	setenv("OPENAI_API_KEY", "sk-test-openai-000000000001", 1);
	setenv("ANTHROPIC_API_KEY", "sk-ant-test-000000000000003", 1);
	load("{\"routes\": {"
	     " \"smart\": {\"models\": [\"anthropic/claude-sonnet-4-6\", \"openai/gpt-4o\"], \"strategy\": \"round-robin\"},"
	     " \"cheap\": {\"models\": [\"openai/gpt-4o-mini\", \"google/gemini-2.5-flash\", \"openai/gpt-4o-mini\"],"
	     "           \"strategy\": \"lowest-cost\"},"
	     " \"quick\": {\"models\": [\"openai/gpt-4o-mini\", \"anthropic/claude-haiku-4-5\"], \"strategy\": \"lowest-latency\"},"
	     " \"safe\": {\"models\": [\"openai/gpt-4o\", \"anthropic/claude-sonnet-4-6\"], \"strategy\": \"fallback\"},"
	     " \"plain\": {\"models\": [\"openai/gpt-4o\", \"anthropic/claude-sonnet-4-6\"]},"
	     " \"bare\": [\"anthropic/claude-sonnet-4-6\", \"openai/gpt-4o\"],"
	     " \"typo\": {\"models\": [\"openai/gpt-4o\"], \"strategy\": \"round-robn\"},"
	     " \"empty\": {\"models\": []},"
	     " \"nomodels\": {\"strategy\": \"fallback\"},"
	     " \"nothing\": {\"models\": [\"google/gemini-2.5-flash\", \"nosuch/x\"]},"
	     " \"gpt-4o\": [\"anthropic/claude-sonnet-4-6\"]"
	     "}}");
	plan_ok("smart", NULL, "anthropic/claude-sonnet-4-6,openai/gpt-4o", "smart", STRATEGY_ROUND_ROBIN, 0,
		"a route with round-robin");
	plan_ok("cheap", NULL, "openai/gpt-4o-mini", "cheap", STRATEGY_LOWEST_COST, 1,
		"lowest-cost; the keyless member left out, the duplicate counted once");
	plan_ok("quick", NULL, "openai/gpt-4o-mini,anthropic/claude-haiku-4-5", "quick", STRATEGY_LOWEST_LATENCY, 0,
		"lowest-latency");
	plan_ok("safe", NULL, "openai/gpt-4o,anthropic/claude-sonnet-4-6", "safe", STRATEGY_FALLBACK, 0, "fallback");
	plan_ok("plain", NULL, "openai/gpt-4o,anthropic/claude-sonnet-4-6", "plain", STRATEGY_FALLBACK, 0,
		"no strategy: fallback");
	plan_ok("bare", NULL, "anthropic/claude-sonnet-4-6,openai/gpt-4o", "bare", STRATEGY_FALLBACK, 0,
		"a bare list is a fallback route");
	plan_ok("gpt-4o", NULL, "anthropic/claude-sonnet-4-6", "gpt-4o", STRATEGY_FALLBACK, 0,
		"a route named like a model wins over the model");
	plan_ok("smart", "[\"openai/gpt-4o-mini\"]", "anthropic/claude-sonnet-4-6,openai/gpt-4o", "smart",
		STRATEGY_ROUND_ROBIN, 0, "a route name with a request list: the route decides");
	plan_err("typo", NULL, ROUTE_ERROR, "routes.typo.strategy: unknown strategy 'round-robn' (did you mean 'round-robin'?)",
		 "a misspelt strategy");
	plan_err("empty", NULL, ROUTE_ERROR, "routes.empty needs a non-empty \"models\" list", "an empty route");
	plan_err("nomodels", NULL, ROUTE_ERROR, "routes.nomodels needs a non-empty \"models\" list",
		 "a route without models");
	plan_err("nothing", NULL, ROUTE_ERROR, "GEMINI_API_KEY", "a route none of whose members can be served");
	plan_err("nosuchroute", NULL, ROUTE_UNKNOWN_PROVIDER, "'nosuchroute'",
		 "an unknown name is a model name, and resolves as one");
	config_free(&cfg);
	unsetenv("OPENAI_API_KEY");
	unsetenv("ANTHROPIC_API_KEY");
}

static void test_auto(void)
{
	setenv("OPENAI_API_KEY", "sk-test-openai-000000000001", 1);
	setenv("GEMINI_API_KEY", "AIza-test-gemini-00000000002", 1);
	setenv("ANTHROPIC_API_KEY", "sk-ant-test-000000000000003", 1);
	load("{}");
	plan_ok("auto", NULL, "anthropic/claude-sonnet-4-6,openai/gpt-4o-mini,google/gemini-2.5-flash", "auto",
		STRATEGY_FALLBACK, 0, "auto: each keyed provider's default, in the fixed order");
	config_free(&cfg);

	unsetenv("ANTHROPIC_API_KEY");
	setenv("DEEPSEEK_API_KEY", "sk-deepseek-test-000000004", 1);
	load("{\"providers\": {\"google\": {\"default_model\": \"gemini-2.5-pro\"}}}");
	plan_ok("auto", NULL, "openai/gpt-4o-mini,google/gemini-2.5-pro,deepseek/deepseek-chat", "auto",
		STRATEGY_FALLBACK, 0, "auto: only providers with a key; a configured default model counts");
	plan_ok("openai/gpt-4o", "[\"auto\", \"google/gemini-2.5-flash\"]",
		"openai/gpt-4o,openai/gpt-4o-mini,google/gemini-2.5-pro,deepseek/deepseek-chat,google/gemini-2.5-flash", NULL,
		STRATEGY_FALLBACK, 0, "auto inside a request list stands for its members, in its place");
	plan_ok("auto", "[\"openai/gpt-4o-mini\", \"auto\"]", "openai/gpt-4o-mini,google/gemini-2.5-pro,deepseek/deepseek-chat",
		NULL, STRATEGY_FALLBACK, 0, "auto as the model with a list, and again in it: each member once");
	config_free(&cfg);

	load("{\"routes\": {\"auto\": [\"google/gemini-2.5-flash\"]}}");
	plan_ok("openai/gpt-4o", "[\"auto\"]", "openai/gpt-4o,google/gemini-2.5-flash", NULL, STRATEGY_FALLBACK, 0,
		"auto inside a list is the configured auto route when there is one");
	plan_ok("auto", NULL, "google/gemini-2.5-flash", "auto", STRATEGY_FALLBACK, 0, "a config route named auto wins");
	config_free(&cfg);

	no_keys();
	load("{}");
	plan_err("auto", NULL, ROUTE_ERROR, "auto: no provider has a key", "auto without any key");
	config_free(&cfg);
}

int main(void)
{
	setenv("HOME", "/nonexistent", 1);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("AROUTER_CONFIG");
	no_keys();
	test_one_model();
	test_request_list();
	test_named_routes();
	test_auto();
	return tap_done();
}
