/* test-config.c - locating paths in config text, the provider registry's
 * lookups and URL building. */
#include "config.h"

#include "buf.h"
#include "conf.h"
#include "provider.h"
#include "tap.h"
#include "util.h"

#include <stdlib.h>
#include <unistd.h>

static void test_locate(void)
{
	const char *text = "{\n"
			   "  // a comment with \"providers\" in it\n"
			   "  \"providers\": {\n"
			   "    \"openai\": { \"base_url\": 42 },\n"
			   "    /* \"anthropic\": {} */\n"
			   "    \"anthropic\": {\"keys\": [\"a\", \"b\"]}\n"
			   "  },\n"
			   "  \"model_aliases\": [ {\"pattern\": \"x\"}, {\"pattern\": \"y\"} ]\n"
			   "}\n";
	int line = 0, col = 0;
	ok(config_locate(text, "providers", &line, &col) == 0, "finds a top-level key");
	is_int(line, 3, "skips keys inside comments");
	is_int(col, 3, "column of the key");
	ok(config_locate(text, "providers.openai.base_url", &line, &col) == 0, "finds a nested key");
	is_int(line, 4, "nested line");
	is_int(col, 17, "nested column");
	ok(config_locate(text, "providers.anthropic.keys.1", &line, &col) == 0, "finds an array element");
	is_int(line, 6, "array element line");
	is_int(col, 33, "array element column");
	ok(config_locate(text, "model_aliases.1.pattern", &line, &col) == 0, "finds a key in an array of objects");
	is_int(col, 41, "second object's key");
	ok(config_locate(text, "providers.nope", &line, &col) < 0, "a missing path is not found");
	ok(config_locate("{ broken", "a.b", &line, &col) < 0, "malformed text does not crash");

	/* json-c takes strings in single quotes: brackets and double quotes
	 * inside one are text. */
	const char *single = "{'a': {'b': 1}, \"c\": 'x \" ] } y', \"d\": 2}";
	ok(config_locate(single, "a.b", &line, &col) == 0 && line == 1 && col == 8, "a key in single quotes");
	ok(config_locate(single, "d", &line, &col) == 0 && col == 35, "found after a single-quoted string");
	/* Text the skimmer cannot read ends its container: it returns (a '}'
	 * inside [...] once made it loop forever; fuzz-config found it). */
	ok(config_locate("{\"a\": [1, }], \"b\": 2}", "b", &line, &col) < 0, "a '}' inside a list ends the search");
	ok(config_locate("[[}]], [}", "1", &line, &col) == 0 && col == 3, "nested: the outer list goes on");
	ok(config_locate("{\"a\": [1, }, 2], \"b\": 2}", "a", &line, &col) == 0 && col == 2,
	   "what comes before is still found");
}

static void test_registry(void)
{
	unsetenv("OPENAI_API_KEY");
	struct provider_registry reg;
	char *err = NULL;
	json_object *conf = json_tokener_parse("{\"vllm\": {\"base_url\": \"http://127.0.0.1:8000/\","
					       " \"model_prefixes\": [\"gpt-4o-local\"]}}");
	ok(provider_registry_load(&reg, conf, &err) == 0, "loads with a custom provider");
	ok(provider_find(&reg, "openai") != NULL, "openai is built in");
	ok(provider_find(&reg, "nope") == NULL, "unknown slug is NULL");
	is_str(provider_suggest(&reg, "anthropc"), "anthropic", "suggests a misspelt provider");
	is_str(provider_for_model(&reg, "claude-sonnet-4-6")->slug, "anthropic", "claude- is Anthropic");
	is_str(provider_for_model(&reg, "gpt-4o")->slug, "openai", "gpt- is OpenAI");
	is_str(provider_for_model(&reg, "gpt-4o-local-q4")->slug, "vllm", "the longest prefix wins");
	is_str(provider_for_model(&reg, "gemini-2.5-flash")->slug, "google", "gemini- is Google");
	is_str(provider_for_model(&reg, "deepseek-chat")->slug, "deepseek", "deepseek-");
	is_str(provider_for_model(&reg, "grok-4")->slug, "xai", "grok-");
	is_str(provider_for_model(&reg, "mistral-large-latest")->slug, "mistral", "mistral-");
	is_str(provider_for_model(&reg, "kimi-k2")->slug, "kimi", "kimi-");
	ok(provider_for_model(&reg, "llama3.2") == NULL, "an unknown family has no provider");

	struct provider *g = provider_find(&reg, "google");
	char *url = provider_url(g, g->stream_path, "gemini-2.5-flash");
	is_str(url, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
	       "Gemini stream URL");
	free(url);
	url = provider_url(g, g->chat_path, "../../evil\r\nHost: x/y");
	is_str(url, "https://generativelanguage.googleapis.com/v1beta/models/..%2F..%2Fevil%0D%0AHost%3A%20x%2Fy:generateContent",
	       "a model name can neither add path segments nor headers");
	free(url);
	url = provider_url(g, "/m/{model}/{x}", "caf\xc3\xa9 ~a_b.c-d");
	is_str(url, "https://generativelanguage.googleapis.com/m/caf%C3%A9%20~a_b.c-d/{x}",
	       "bytes past ASCII escaped in upper-case hex, unreserved kept, an unknown {...} left as it is");
	free(url);
	struct provider *az = provider_find(&reg, "azure");
	free(az->base_url);
	az->base_url = xstrdup("https://res.openai.azure.com");
	url = provider_url(az, az->chat_path, "my-deploy");
	is_str(url, "https://res.openai.azure.com/openai/deployments/my-deploy/chat/completions?api-version=2024-10-21",
	       "Azure deployment URL with api-version");
	free(url);
	is_str(provider_find(&reg, "vllm")->base_url, "http://127.0.0.1:8000", "trailing slash stripped");
	ok(provider_find(&reg, "vllm")->key_optional, "a custom provider declared without a key needs none");
	provider_registry_free(&reg);
	json_object_put(conf);

	conf = json_tokener_parse("{\"bad slug\": {\"base_url\": \"http://x\"}}");
	ok(provider_registry_load(&reg, conf, &err) < 0, "a slug with a space is refused");
	ok(err && strstr(err, "providers.bad slug"), "the error names the key");
	free(err);
	json_object_put(conf);
	conf = json_tokener_parse("{\"x\": {\"base_url\": \"http://x\", \"headers\": {\"X-A\": \"v\\r\\nInjected: 1\"}}}");
	err = NULL;
	ok(provider_registry_load(&reg, conf, &err) < 0, "a header value with CR/LF is refused");
	free(err);
	json_object_put(conf);

	setenv("OPENAI_API_KEY", "sk-env-key-000000000000", 1);
	conf = json_tokener_parse("{\"openai\": {\"keys\": [\"sk-a\", \"sk-b\"]}}");
	ok(provider_registry_load(&reg, conf, &err) == 0, "loads a key pool");
	struct provider *o = provider_find(&reg, "openai");
	is_int(o->n_keys, 1, "the environment key replaces the file's pool");
	is_str(provider_key(o), "sk-env-key-000000000000", "env key in use");
	provider_registry_free(&reg);
	unsetenv("OPENAI_API_KEY");
	ok(provider_registry_load(&reg, conf, &err) == 0, "loads again without the env key");
	o = provider_find(&reg, "openai");
	is_int(o->n_keys, 2, "the file's pool");
	is_str(o->key_source, "config", "source is config");
	provider_registry_free(&reg);
	json_object_put(conf);
}

/* Every load starts from the built-in table, parsed once per process and
 * shared: what one registry changes is never in the next, a custom model
 * list belongs to its registry, and threads may load at once. */
static void *load_many(void *arg)
{
	size_t *bad = arg;
	for (int i = 0; i < 25; i++) {
		struct provider_registry reg;
		char *err = NULL;
		if (provider_registry_load(&reg, NULL, &err) < 0) {
			(*bad)++;
			free(err);
			continue;
		}
		const struct provider *a = provider_find(&reg, "anthropic");
		if (!a || a->dialect != DIALECT_ANTHROPIC || !a->base_url || !strstr(a->base_url, "anthropic.com"))
			(*bad)++;
		provider_registry_free(&reg);
	}
	return NULL;
}

static void test_registry_copies(void)
{
	struct provider_registry reg;
	char *err = NULL;
	json_object *conf = json_tokener_parse("{\"openai\": {\"base_url\": \"http://127.0.0.1:9/\"},"
					       " \"local\": {\"base_url\": \"http://127.0.0.1:8/\","
					       " \"models\": [\"m1\", \"m2\"]}}");
	ok(provider_registry_load(&reg, conf, &err) == 0, "loads a config that changes a built-in provider");
	json_object_put(conf); /* the registry keeps nothing of it */
	is_str(provider_find(&reg, "openai")->base_url, "http://127.0.0.1:9", "the change is in this registry");
	const struct provider *local = provider_find(&reg, "local");
	ok(local && local->models && json_object_array_length(local->models) == 2 &&
	       strcmp(json_object_get_string(json_object_array_get_idx(local->models, 1)), "m2") == 0,
	   "a custom model list outlives the config text it came from");
	struct provider_registry next;
	ok(provider_registry_load(&next, NULL, &err) == 0, "a second registry loads");
	is_str(provider_find(&next, "openai")->base_url, "https://api.openai.com", "without the first one's change");
	ok(provider_find(&next, "local") == NULL, "or its custom provider");
	provider_registry_free(&next);
	provider_registry_free(&reg);

	ok(tap_threads(4, load_many) == 0, "four threads load 100 whole registries at once");
}

/* Lookups go through an index of slugs: with many custom providers (and
 * so collisions in it), each slug finds its own entry, the same one a
 * search in order finds, and near misses find nothing. */
static void test_registry_index(void)
{
	struct buf b = {0};
	buf_append(&b, "{", 1);
	for (int i = 0; i < 200; i++)
		buf_printf(&b, "%s\"p%d\": {\"base_url\": \"http://127.0.0.1:%d/\"}", i ? "," : "", i, 1000 + i);
	buf_append(&b, "}", 1);
	json_object *conf = json_tokener_parse(buf_str(&b));
	buf_free(&b);
	struct provider_registry reg;
	char *err = NULL;
	ok(conf && provider_registry_load(&reg, conf, &err) == 0, "loads 200 custom providers");
	json_object_put(conf);
	size_t wrong = 0, found = 0;
	for (size_t i = 0; i < reg.n; i++) {
		const struct provider *p = provider_find(&reg, reg.v[i].slug);
		wrong += p != &reg.v[i];
	}
	for (int i = 0; i < 200; i++) {
		char slug[16], url[40];
		snprintf(slug, sizeof slug, "p%d", i);
		snprintf(url, sizeof url, "http://127.0.0.1:%d", 1000 + i);
		const struct provider *p = provider_find(&reg, slug);
		found += p && strcmp(p->base_url, url) == 0;
	}
	ok(wrong == 0, "every slug finds its own entry (%zu did not)", wrong);
	ok(found == 200, "each custom provider is found with its settings (%zu of 200)", found);
	ok(provider_find(&reg, "p200") == NULL && provider_find(&reg, "p") == NULL &&
	       provider_find(&reg, "P1") == NULL && provider_find(&reg, "") == NULL &&
	       provider_find(&reg, "openai ") == NULL,
	   "near misses find nothing");
	ok(provider_find(&reg, "openai") && provider_find(&reg, "anthropic") && provider_find(&reg, "mock"),
	   "the built-in providers are still found");
	provider_registry_free(&reg);
	ok(reg.n == 0 && reg.v == NULL && provider_find(&reg, "openai") == NULL, "a freed registry finds nothing");
}

int main(void)
{
	alarm(60); /* a skimmer that loops forever fails the test rather than hanging it */
	test_locate();
	test_registry();
	test_registry_copies();
	test_registry_index();
	return tap_done();
}
