/* test-route.c - the model-string grammar, aliases, typed parameters and
 * the backend decision. */
#include "config.h"

#include "conf.h"
#include "route.h"
#include "config-test.h"
#include "tap.h"
#include "util.h"

#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

static struct config cfg;

static void load(const char *json)
{
	config_load_text_or_die(&cfg, json);
}

static void parse_ok(const char *s, const char *backend, const char *provider, const char *model, const char *name)
{
	struct model_ref r;
	char *err = NULL;
	int rc = route_parse(&cfg.providers, s, &r, &err);
	ok(rc == 0, "%s: parses", name);
	if (rc != 0) {
		printf("#   error: %s\n", err);
		free(err);
		return;
	}
	is_str(r.backend, backend, "%s: backend", name);
	is_str(r.provider, provider, "%s: provider", name);
	is_str(r.model, model, "%s: model", name);
	model_ref_clear(&r);
}

static void test_grammar(void)
{
	parse_ok("anthropic/claude-sonnet-4.6", NULL, "anthropic", "claude-sonnet-4.6", "provider/model");
	parse_ok("google/gemini-2.5-flash", NULL, "google", "gemini-2.5-flash", "google/");
	parse_ok("openrouter:anthropic/claude-3-5-sonnet", "openrouter", NULL, "anthropic/claude-3-5-sonnet",
		 "backend:model keeps slashes");
	parse_ok("ollama:llama3.2", "ollama", NULL, "llama3.2", "ollama:");
	parse_ok("ollama:llama3.2:3b", "ollama", NULL, "llama3.2:3b", "a colon in the model after a backend");
	parse_ok("gpt-4o", NULL, "openai", "gpt-4o", "bare gpt");
	parse_ok("claude-sonnet-4-6", NULL, "anthropic", "claude-sonnet-4-6", "bare claude");
	parse_ok("gemini-2.5-flash", NULL, "google", "gemini-2.5-flash", "bare gemini");
	parse_ok("deepseek-chat", NULL, "deepseek", "deepseek-chat", "bare deepseek");
	parse_ok("grok-4", NULL, "xai", "grok-4", "bare grok");
	parse_ok("mistral-large-latest", NULL, "mistral", "mistral-large-latest", "bare mistral");
	parse_ok("kimi-k2", NULL, "kimi", "kimi-k2", "bare kimi");
	parse_ok("llama3.2:3b", NULL, NULL, "llama3.2:3b", "a colon that names no backend is part of the model");
	parse_ok("meta-llama/llama-3", NULL, NULL, "meta-llama/llama-3", "an unknown prefix is not a provider");

	struct model_ref r;
	char *err = NULL;
	ok(route_parse(&cfg.providers, "openrouter:anthropic/claude-3-5-sonnet?temperature=0.7&top_p=0.9&stream=true&n=2&stop=%5B%22x%22%5D&user=a%20b",
		       &r, &err) == 0,
	   "params parse");
	is_str(r.model, "anthropic/claude-3-5-sonnet", "params are not part of the model");
	json_object *v = json_object_object_get(r.params, "temperature");
	ok(json_object_is_type(v, json_type_double) && json_object_get_double(v) == 0.7, "0.7 is a number");
	ok(json_object_is_type(json_object_object_get(r.params, "stream"), json_type_boolean), "true is a boolean");
	ok(json_object_is_type(json_object_object_get(r.params, "n"), json_type_int), "2 is an integer");
	ok(json_object_is_type(json_object_object_get(r.params, "stop"), json_type_array), "JSON arrays decode");
	is_str(json_object_get_string(json_object_object_get(r.params, "user")), "a b", "percent-decoding");
	is_str(json_object_to_json_string(v), "0.7", "0.7 is written as 0.7, not in 17 digits");
	model_ref_clear(&r);

	ok(route_parse(&cfg.providers, "openai/gpt-4o?temperature=-inf&top_p=-nan&seed=1e999", &r, &err) == 0,
	   "non-finite params parse");
	ok(json_object_is_type(json_object_object_get(r.params, "temperature"), json_type_string) &&
	       json_object_is_type(json_object_object_get(r.params, "top_p"), json_type_string) &&
	       json_object_is_type(json_object_object_get(r.params, "seed"), json_type_string),
	   "-inf, -nan and an overflowing 1e999 stay strings: JSON has no Infinity or NaN");
	model_ref_clear(&r);
	ok(route_parse(&cfg.providers, "openai/", &r, &err) < 0, "an empty model is an error");
	ok(err && strstr(err, "names no model"), "says so");
	free(err);
	err = NULL;
	ok(route_parse(&cfg.providers, "gpt-4o\r\nX: y", &r, &err) < 0, "CR/LF in a model is refused");
	free(err);
}

static void test_aliases(void)
{
	json_object *rules = json_tokener_parse("[{\"pattern\": \"^gpt-(.*)\", \"replacement\": \"openrouter:openai/gpt-\\\\1\"},"
						" {\"pattern\": \"^fast$\", \"replacement\": \"groq:llama-3.3\"},"
						" {\"pattern\": \"^gpt-4o$\", \"replacement\": \"never\"}]");
	char *err = NULL;
	char *s = route_apply_aliases(rules, "gpt-4o", &err);
	is_str(s, "openrouter:openai/gpt-4o", "back-reference substituted; first rule wins");
	free(s);
	s = route_apply_aliases(rules, "fast", &err);
	is_str(s, "groq:llama-3.3", "anchored rule");
	free(s);
	s = route_apply_aliases(rules, "claude-x", &err);
	is_str(s, "claude-x", "no match leaves the name");
	free(s);
	json_object_put(rules);
	rules = json_tokener_parse("[{\"pattern\": \"(\", \"replacement\": \"x\"}]");
	ok(route_apply_aliases(rules, "a", &err) == NULL, "a bad pattern is an error");
	free(err);
	err = NULL;
	ok(route_apply_aliases(rules, "a", &err) == NULL && err && strstr(err, "model_aliases.0.pattern"),
	   "and stays one on the next use (a failed compile is not cached)");
	free(err);
	json_object_put(rules);
}

/* Compiled patterns are cached (at most 64); rules past that are compiled
 * for each use. 100 distinct rules, each used twice, must all still match. */
static void test_aliases_many(void)
{
	int good = 0;
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 100; i++) {
			char text[128], want[32], model[32];
			snprintf(text, sizeof text, "[{\"pattern\": \"^m%d-(.*)$\", \"replacement\": \"p%d/\\\\1\"}]", i, i);
			json_object *rules = json_tokener_parse(text);
			snprintf(model, sizeof model, "m%d-x%d", i, round);
			snprintf(want, sizeof want, "p%d/x%d", i, round);
			char *err = NULL;
			char *s = route_apply_aliases(rules, model, &err);
			good += s && strcmp(s, want) == 0;
			free(s);
			free(err);
			json_object_put(rules);
		}
	ok(good == 200, "100 distinct patterns, each used twice, all substituted (%d/200)", good);
}

struct alias_worker {
	json_object *rules;
	int id, good;
};

static void *alias_thread(void *arg)
{
	struct alias_worker *w = arg;
	for (int i = 0; i < 2000; i++) {
		char model[32], want[40];
		snprintf(model, sizeof model, "gpt-%d-%d", w->id, i);
		snprintf(want, sizeof want, "openrouter:openai/gpt-%d-%d", w->id, i);
		char *err = NULL;
		char *s = route_apply_aliases(w->rules, model, &err);
		w->good += s && strcmp(s, want) == 0;
		free(s);
		free(err);
	}
	return NULL;
}

/* Worker threads share the compiled patterns. */
static void test_aliases_threads(void)
{
	json_object *rules = json_tokener_parse("[{\"pattern\": \"^fast$\", \"replacement\": \"groq:llama\"},"
						" {\"pattern\": \"^gpt-([0-9]+)-([0-9]+)$\","
						" \"replacement\": \"openrouter:openai/gpt-\\\\1-\\\\2\"}]");
	struct alias_worker w[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct alias_worker){.rules = rules, .id = i};
		pthread_create(&th[i], NULL, alias_thread, &w[i]);
	}
	int good = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		good += w[i].good;
	}
	ok(good == 8000, "4 threads x 2000 aliased names, all right (%d/8000)", good);
	json_object_put(rules);
}

static void resolve_ok(const char *s, const char *provider, const char *model, bool gw, const char *name)
{
	struct route_target t;
	char *err = NULL;
	int rc = route_resolve(&cfg, s, &t, &err);
	ok(rc == 0, "%s: resolves", name);
	if (rc) {
		printf("#   error: %s\n", err);
		free(err);
		return;
	}
	is_str(t.provider->slug, provider, "%s: provider", name);
	is_str(t.model, model, "%s: model", name);
	is_int(t.via_gateway, gw, "%s: via gateway", name);
	route_target_clear(&t);
}

static void resolve_err(const char *s, const char *want, const char *name)
{
	struct route_target t;
	char *err = NULL;
	ok(route_resolve(&cfg, s, &t, &err) < 0, "%s: fails", name);
	ok(err && strstr(err, want), "%s: error mentions '%s'", name, want);
	if (err && !strstr(err, want))
		printf("#   got: %s\n", err);
	free(err);
}

static void test_resolve(void)
{
	unsetenv("AROUTER_API_KEY");
	unsetenv("OPENAI_API_KEY");
	unsetenv("ANTHROPIC_API_KEY");
	load("{}");
	struct route_target t;
	char *err = NULL;
	ok(route_resolve(&cfg, NULL, &t, &err) == 0, "no key, no model: resolves");
	is_str(t.provider->slug, "mock", "the mock answers");
	ok(t.mock_fallback, "and it is marked as a fallback so the CLI says so");
	route_target_clear(&t);
	ok(route_resolve(&cfg, "anthropic/claude-x", &t, &err) == 0 && t.mock_fallback,
	   "no key for anything: mock, marked");
	route_target_clear(&t);
	resolve_ok("mock/echo", "mock", "echo", false, "mock explicitly");
	config_free(&cfg);

	setenv("OPENAI_API_KEY", "sk-test-0000000000000000", 1);
	load("{\"model_aliases\": [{\"pattern\": \"^fast$\", \"replacement\": \"openai/gpt-4o-mini?temperature=0\"}]}");
	resolve_ok("gpt-4o", "openai", "gpt-4o", false, "direct with a key");
	resolve_ok("fast", "openai", "gpt-4o-mini", false, "alias then grammar");
	resolve_err("anthropic/claude-x", "ANTHROPIC_API_KEY", "a missing key names the variable");
	resolve_err("antropic/claude-x", "did you mean 'anthropic'", "an unknown provider gets a suggestion");
	resolve_err("llama3.2", "name it as PROVIDER/llama3.2", "an unclaimed bare name says how to name it");
	resolve_ok("ollama:llama3.2", "ollama", "llama3.2", false, "ollama needs no key");
	resolve_ok(NULL, "openai", "gpt-4o-mini", false, "no model: the keyed provider's default");
	config_free(&cfg);

	setenv("AROUTER_API_KEY", "lr_live_test000000000000", 1);
	load("{}");
	resolve_ok("anthropic/claude-sonnet-4-6", "arouter", "anthropic/claude-sonnet-4-6", true,
		   "auto with a gateway key: the gateway, full name");
	resolve_ok("gpt-4o", "arouter", "openai/gpt-4o", true, "bare names are qualified for the gateway");
	resolve_ok("openai:gpt-4o", "openai", "gpt-4o", false, "a backend prefix wins over the gateway");
	ok(route_default_is_gateway(&cfg), "auto with a gateway key is the gateway");
	config_free(&cfg);

	load("{\"default_backend\": \"direct\"}");
	resolve_ok("gpt-4o", "openai", "gpt-4o", false, "direct ignores the gateway key");
	ok(!route_default_is_gateway(&cfg), "direct is not the gateway");
	config_free(&cfg);
	unsetenv("AROUTER_API_KEY");
	load("{}");
	ok(!route_default_is_gateway(&cfg), "auto without a gateway key is not the gateway");
	config_free(&cfg);
	load("{\"default_backend\": \"gateway\"}");
	resolve_err("gpt-4o", "AROUTER_API_KEY", "gateway without its key");
	ok(route_default_is_gateway(&cfg), "default_backend gateway is the gateway, key or not");
	config_free(&cfg);
	setenv("OPENROUTER_API_KEY", "sk-or-000000000000000000", 1);
	load("{\"default_backend\": \"openrouter\", \"default_model\": \"anthropic/claude-3-5-sonnet\"}");
	resolve_ok(NULL, "openrouter", "anthropic/claude-3-5-sonnet", true, "a provider as default backend");
	config_free(&cfg);
	unsetenv("OPENROUTER_API_KEY");
	unsetenv("OPENAI_API_KEY");
}

/* glibc's regcomp takes time and memory exponential in how deeply a
 * pattern repeats repetitions (fuzz-config found "-+++...+" in an alias
 * take over 2 GB); such a pattern is refused before it is compiled, and
 * ordinary ones compile as before. */
static void test_pattern_limits(void)
{
	char plus[64] = "a", nest[128] = "", why[160];
	for (int i = 0; i < 40; i++)
		strcat(plus, "+");
	for (int i = 0; i < 30; i++)
		strcat(nest, "(");
	strcat(nest, "a");
	for (int i = 0; i < 30; i++)
		strcat(nest, ")+");
	char stars[96] = "cohe^&", empties[256] = "^", nested_empty[128] = "";
	for (int i = 0; i < 75; i++)
		strcat(stars, "*");
	for (int i = 0; i < 40; i++)
		strcat(empties, "(a*)*");
	for (int i = 0; i < 12; i++)
		strcat(nested_empty, "(");
	strcat(nested_empty, "^a");
	for (int i = 0; i < 12; i++)
		strcat(nested_empty, "*)*");
	/* The second kind: a part that can match nothing, repeated or made
	 * optional (fuzz-config's "cohe^&***...": no end in 10 s). */
	const char *const refused[] = {plus, nest, "(a{1,999}){1,999}", "x(([a-z]+)*){100}{100}",
				       "^gptnpic?/c?/cgpt-++++++++++++++++++++++++++++++-(.*)",
				       stars, empties, nested_empty, "^(a*)?", "(^|a)+", "(|a)*", "x(b|)?{2}",
				       "(\\b)*", "a**", "a?+", "(a{0,3})*"};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		regex_t re;
		ok(route_pattern_compile(&re, refused[i], why, sizeof why) < 0 && strstr(why, "too complex"),
		   "refused uncompiled: %.40s (%s)", refused[i], why);
	}
	const char *const fine[] = {"^gpt-4o-(.*)$", "^(claude|gpt)-([0-9]+)\\.([0-9]+)$",
				    "[[:alpha:]]+-[a-z]{1,64}", "^([a-z0-9-]{1,64}/){0,4}[^/]+$",
				    "a++++++++++++", /* 2^13 parts: under the limit */
				    "x|y|z", "[]+()]+", "\\(+", "^gpt-4o(-mini)?(-[0-9]{4}-[0-9]{2}-[0-9]{2})?$",
				    "^(a+)*$", "(ab*)+", "^(\\ba)*", "a+*", "^(.*)$", "(x|y)?z*$"};
	for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
		regex_t re;
		int rc = route_pattern_compile(&re, fine[i], why, sizeof why);
		ok(rc == 0, "compiles: %s%s%s", fine[i], rc ? " - " : "", rc ? why : "");
		if (rc == 0)
			regfree(&re);
	}
	regex_t re;
	ok(route_pattern_compile(&re, "(", why, sizeof why) < 0 && !strstr(why, "too complex"),
	   "an ill-formed pattern gets regcomp's reason (%s)", why);
	json_object *rules = json_tokener_parse("[{\"pattern\": \"a+++++++++++++++++++++++++++++++\","
						" \"replacement\": \"x\"}]");
	char *err = NULL;
	char *got = route_apply_aliases(rules, "a", &err);
	ok(got == NULL && err && strstr(err, "too complex"), "an alias with such a pattern is an error, not a hang: %s",
	   err ? err : "");
	free(err);
	json_object_put(rules);
}

int main(void)
{
	alarm(60); /* an exponential regcomp fails the test rather than hanging it */
	setenv("HOME", "/nonexistent", 1);
	unsetenv("XDG_CONFIG_HOME");
	load("{}");
	test_grammar();
	test_aliases();
	test_aliases_many();
	test_aliases_threads();
	test_pattern_limits();
	config_free(&cfg);
	test_resolve();
	return tap_done();
}
