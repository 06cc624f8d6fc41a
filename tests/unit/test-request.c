/* test-request.c - the listener's checks on request data (request.c):
 * the dialect of a path, the Host and Origin checks, the keys a client
 * presents, the header size, passthrough paths, queries and models, the
 * Gemini method paths. */
#include "config.h"

#include "request.h"
#include "tap.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

/* A header list the way libevent hands it over: pairs of name and value,
 * ended by NULL. */
static void headers_set(struct evkeyvalq *h, const char *const *pairs)
{
	h->tqh_first = NULL;
	h->tqh_last = &h->tqh_first;
	for (size_t i = 0; pairs && pairs[i]; i += 2)
		if (evhttp_add_header(h, pairs[i], pairs[i + 1]) != 0)
			abort();
}

static void test_path_dialect(void)
{
	is_int(request_path_dialect("/v1/messages"), DIALECT_ANTHROPIC, "/v1/messages is Anthropic's");
	is_int(request_path_dialect("/v1/messages/count_tokens"), DIALECT_ANTHROPIC, "so is its count_tokens");
	is_int(request_path_dialect("/v1beta/models/gemini-2.5-flash:generateContent"), DIALECT_GEMINI,
	       "/v1beta/ is Gemini's");
	is_int(request_path_dialect("/v1beta"), DIALECT_OPENAI, "/v1beta without its slash is not");
	is_int(request_path_dialect("/v1/chat/completions"), DIALECT_OPENAI, "/v1/chat/completions is OpenAI's");
	is_int(request_path_dialect("/anthropic/v1/messages"), DIALECT_OPENAI, "a passthrough path answers as OpenAI");
	is_int(request_path_dialect("/"), DIALECT_OPENAI, "/ answers as OpenAI");
}

static void test_host_allowed(void)
{
	static const char *const ok_local[] = {
		"localhost", "localhost:8788", "LocalHost:8788", "LOCALHOST", "127.0.0.1",
		"127.0.0.1:8788", "[::1]", "[::1]:8788",
	};
	for (size_t i = 0; i < sizeof ok_local / sizeof ok_local[0]; i++)
		ok(request_host_allowed("127.0.0.1", 8788, ok_local[i]), "Host %s is accepted", ok_local[i]);

	static const char *const refused[] = {
		"",
		"evil.example",
		"evil.example:8788",
		"127.0.0.1.nip.io:8788",     /* a rebinding name that resolves to loopback */
		"localhost.evil.example:8788",
		"evil-localhost:8788",
		"127.0.0.2:8788",            /* loopback, but not a name the proxy answers to */
		"0.0.0.0:8788",
		"[::2]:8788",
		"[::ffff:127.0.0.1]:8788",
		"::1",                       /* unbracketed: ":1" reads as the port */
		"localhost:8789",            /* our name, another port */
		"127.0.0.1:1",
		"[::1]:80",
		"localhost:",
		"localhost:0",
		"192.168.1.10:8788",         /* not the listening address here */
	};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
		ok(!request_host_allowed("127.0.0.1", 8788, refused[i]), "Host \"%s\" is refused", refused[i]);
	ok(!request_host_allowed("127.0.0.1", 8788, NULL), "a request without Host is refused");

	ok(request_host_allowed("192.168.1.10", 8788, "192.168.1.10:8788"), "the listening address with the port");
	ok(request_host_allowed("192.168.1.10", 8788, "192.168.1.10"), "the listening address without a port");
	ok(!request_host_allowed("192.168.1.10", 8788, "192.168.1.10:8000"), "the listening address, another port");
	ok(!request_host_allowed("192.168.1.10", 8788, "192.168.1.100:8788"), "an address it is a prefix of");
	ok(!request_host_allowed("192.168.1.10", 8788, "192.168.1.1:8788"), "a prefix of the address");
	ok(request_host_allowed("192.168.1.10", 8788, "localhost:8788"), "localhost still is ours");
	ok(request_host_allowed("proxy.lan", 443, "proxy.lan:443"), "a listening name");
	ok(!request_host_allowed(NULL, 8788, "192.168.1.10:8788"), "no listening address: only the localhost names");
	ok(request_host_allowed(NULL, 8788, "[::1]:8788"), "no listening address: [::1] is ours");

	/* Longer than the 255 bytes the check copies: refused whatever it is. */
	char h[300];
	memset(h, '0', sizeof h);
	memcpy(h, "localhost:", 10);
	memcpy(h + 255 - 4, "8788", 5); /* 255 bytes: "localhost:000...08788" */
	ok(!request_host_allowed("127.0.0.1", 8788, h), "a port of more than five digits is refused, zeros or not");
	ok(request_host_allowed("127.0.0.1", 8788, "localhost:08788"), "five digits with a leading zero: the port");
	ok(!request_host_allowed("127.0.0.1", 8788, "localhost:8788junk"), "a port with trailing junk");
	ok(!request_host_allowed("127.0.0.1", 8788, "localhost: 8788"), "a port after a space");
	ok(!request_host_allowed("127.0.0.1", 8788, "localhost:+8788"), "a signed port");
	ok(!request_host_allowed("127.0.0.1", 8228, "localhost:4294975524"), "a port that would wrap to ours");
	ok(request_host_allowed("fd00::5", 8788, "[fd00::5]:8788"), "an IPv6 listening address, bracketed in Host");
	ok(request_host_allowed("fd00::5", 8788, "[FD00::5]"), "an IPv6 listening address in capitals, no port");
	ok(!request_host_allowed("fd00::5", 8788, "[fd00::50]:8788"), "an IPv6 address it is a prefix of");
	ok(!request_host_allowed("fd00::5", 8788, "[fd00::]:8788"), "a prefix of the IPv6 address");
	ok(!request_host_allowed("fd00::5", 8788, "fd00::5"), "an unbracketed IPv6 Host is not ours");
	ok(request_host_allowed("proxy.lan", 443, "PROXY.lan:443"), "a listening name in any case");
	memset(h, '0', sizeof h);
	memcpy(h, "localhost:", 10);
	memcpy(h + 256 - 4, "8788", 5); /* 256 bytes */
	ok(!request_host_allowed("127.0.0.1", 8788, h), "a 256-byte Host is refused");
}

static void test_origin_allowed(void)
{
	json_object *root = json_tokener_parse(
		"{\"proxy\": {\"allowed_origins\": [\"http://localhost:3000\", \"https://app.example\"]}}");
	ok(request_origin_allowed(root, "http://localhost:3000"), "a listed origin");
	ok(request_origin_allowed(root, "https://app.example"), "the other listed origin");
	ok(!request_origin_allowed(root, "http://localhost:3001"), "another port is another origin");
	ok(!request_origin_allowed(root, "http://localhost:3000/"), "origins compare exactly");
	ok(!request_origin_allowed(root, "https://evil.example"), "a foreign origin");
	ok(!request_origin_allowed(root, "null"), "the opaque origin \"null\"");
	ok(!request_origin_allowed(root, ""), "an empty Origin");
	json_object_put(root);

	root = json_tokener_parse("{\"proxy\": {\"allowed_origins\": [\"https://app.example\", \"*\"]}}");
	ok(request_origin_allowed(root, "https://evil.example"), "\"*\" allows any origin");
	ok(request_origin_allowed(root, "null"), "\"*\" allows even \"null\"");
	json_object_put(root);

	static const char *const none[] = {
		"{}",
		"{\"proxy\": {}}",
		"{\"proxy\": {\"allowed_origins\": \"*\"}}",
		"{\"proxy\": {\"allowed_origins\": []}}",
		"{\"allowed_origins\": [\"*\"]}",
	};
	for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
		root = json_tokener_parse(none[i]);
		ok(!request_origin_allowed(root, "http://localhost:3000"), "no origin is allowed by %s", none[i]);
		json_object_put(root);
	}
	ok(!request_origin_allowed(NULL, "http://localhost:3000"), "no origin is allowed without a config");
}

static void check_key(const char *const *pairs, const char *query, const char *want, const char *what)
{
	struct evkeyvalq h;
	headers_set(&h, pairs);
	char *got = request_presented_key(&h, query);
	is_str(got, want, "%s", what);
	free(got);
	evhttp_clear_headers(&h);
}

static void test_presented_key(void)
{
	check_key((const char *const[]){"Authorization", "Bearer sk-one", NULL}, NULL, "sk-one", "Bearer");
	check_key((const char *const[]){"authorization", "bearer sk-one", NULL}, NULL, "sk-one",
		  "Bearer in any case, under a lowercase header name");
	check_key((const char *const[]){"x-api-key", "sk-two", NULL}, NULL, "sk-two", "x-api-key (Anthropic)");
	check_key((const char *const[]){"X-Goog-Api-Key", "sk-three", NULL}, NULL, "sk-three",
		  "x-goog-api-key (Gemini)");
	check_key(NULL, "alt=sse&key=sk-four", "sk-four", "?key= (the Gemini SDK)");
	check_key(NULL, "key=sk-four&alt=sse", "sk-four", "?key= first in the query");
	check_key((const char *const[]){"Authorization", "Bearer sk-one", "x-api-key", "sk-two", "x-goog-api-key",
					"sk-three", NULL},
		  "key=sk-four", "sk-one", "Bearer wins over the others");
	check_key((const char *const[]){"x-goog-api-key", "sk-three", "x-api-key", "sk-two", NULL}, "key=sk-four",
		  "sk-two", "x-api-key wins over x-goog-api-key and the query");
	check_key((const char *const[]){"x-goog-api-key", "sk-three", NULL}, "key=sk-four", "sk-three",
		  "x-goog-api-key wins over the query");
	check_key((const char *const[]){"Authorization", "Basic dXNlcjpwYXNz", "x-api-key", "sk-two", NULL}, NULL,
		  "sk-two", "a Basic Authorization is no key; x-api-key is used");
	check_key((const char *const[]){"Authorization", "Basic dXNlcjpwYXNz", NULL}, NULL, NULL,
		  "a Basic Authorization alone is no key");
	check_key((const char *const[]){"Authorization", "Bearer", NULL}, NULL, NULL, "\"Bearer\" without a key");
	check_key((const char *const[]){"Authorization", "Bearer ", NULL}, NULL, "", "\"Bearer \": an empty key");
	check_key((const char *const[]){"Authorization", "Bearer sk-first", "Authorization", "Bearer sk-second", NULL},
		  NULL, "sk-first", "the first of two Authorization headers");
	check_key(NULL, "key=&key=sk-five", "sk-five", "an empty key= is skipped");
	check_key(NULL, "monkey=x&apikey=y&key=sk-six", "sk-six", "only a parameter named key");
	check_key(NULL, "keys=x&key&alt=sse", NULL, "no key= parameter");
	check_key(NULL, "key=a%2Bb", "a+b", "the query's key is percent-decoded, as clients encode it");
	check_key(NULL, "key=a+b", "a+b", "a '+' stays a '+'");
	check_key(NULL, "key=ar-1%00", "ar-1%00", "a key decoding to a NUL is kept as sent (matching none)");
	check_key(NULL, "key=ar-1%0D%0AX:%201", "ar-1%0D%0AX:%201", "nor to CR or LF");
	check_key(NULL, "", NULL, "an empty query");
	check_key(NULL, NULL, NULL, "nothing presented");
	check_key((const char *const[]){"Content-Type", "application/json", NULL}, "alt=sse", NULL,
		  "other headers are no key");
}

static void test_header_bytes(void)
{
	struct evkeyvalq h;
	headers_set(&h, NULL);
	is_int(request_header_bytes(NULL, &h), 20, "no target, no headers: the request line's overhead");
	is_int(request_header_bytes("/v1/models", &h), 30, "the target counts");
	evhttp_clear_headers(&h);
	headers_set(&h, (const char *const[]){"Host", "localhost", "Authorization", "Bearer sk-x", NULL});
	is_int(request_header_bytes("/v1/models", &h), 30 + (4 + 9 + 4) + (13 + 11 + 4),
	       "each header counts as NAME: VALUE CRLF");
	evhttp_clear_headers(&h);
	headers_set(&h, (const char *const[]){"X-Empty", "", NULL});
	is_int(request_header_bytes("/", &h), 21 + 7 + 4, "an empty value still costs its name and separators");
	evhttp_clear_headers(&h);
}

/* A test name for text holding control characters, which would break
 * the TAP line: CR, LF and backslash written as C escapes. */
static const char *shown(const char *s)
{
	static char out[256];
	size_t n = 0;
	for (; *s && n + 3 < sizeof out; s++) {
		const char *e = *s == '\r' ? "\\r" : *s == '\n' ? "\\n" : *s == '\\' ? "\\\\" : NULL;
		if (e) {
			memcpy(out + n, e, 2);
			n += 2;
		} else {
			out[n++] = *s;
		}
	}
	out[n] = '\0';
	return out;
}

static void test_path_safe(void)
{
	static const char *const refused[] = {
		"..",
		".",
		"../etc/passwd",
		"./v1/models",
		"v1/..",
		"v1/../../admin",
		"v1/./models",
		"v1/.",
		"v1/%2e%2e/admin",
		"v1/%2E%2E/admin",
		"v1/%2e/models",
		"v1/.%2e/admin",
		"%2e%2e",
		"v1%2fadmin",
		"v1%2F..",
		"v1%5cadmin",
		"v1%5C..%5Cadmin",
		"v1/models%00.json",
		"v1%00",
		"/v1/models",
		"//evil.example/v1/models",
		"v1//models",
		"v1/models//",
		"v1\\models",
		"..\\..\\admin",
		"v1/models\r\nHost: evil.example",
		"v1/models\nX: y",
		"v1\rx",
	};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
		ok(!request_path_safe(refused[i]), "path \"%s\" is refused", shown(refused[i]));

	static const char *const accepted[] = {
		"v1/models",
		"v1/chat/completions",
		"v1beta/models/gemini-2.5-flash:generateContent",
		"v1/files/file-abc.jsonl",
		"a..b/c.d",
		".hidden/x",
		"...",
		"v1/models/",
		"v1/%20x/%41",
		"v1/models/gpt-4o%3Alatest",
		"",
	};
	for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++)
		ok(request_path_safe(accepted[i]), "path \"%s\" is accepted", shown(accepted[i]));
}

static void check_strip(const char *query, const char *want)
{
	char *got = request_strip_key_param(query);
	is_str(got, want, "query \"%s\" without key=", query ? query : "(null)");
	free(got);
}

static void test_strip_key_param(void)
{
	check_strip("key=secret", "");
	check_strip("alt=sse&key=secret", "alt=sse");
	check_strip("key=secret&alt=sse&x=1", "alt=sse&x=1");
	check_strip("a=1&key=secret&b=2", "a=1&b=2");
	check_strip("key=a&key=b", "");
	check_strip("key=", "");
	check_strip("key", "key");
	check_strip("monkey=1&apikey=2&key=3&keys=4", "monkey=1&apikey=2&keys=4");
	check_strip("a=key=1", "a=key=1");
	check_strip("alt=sse&pageSize=10", "alt=sse&pageSize=10");
	check_strip("a=1&&b=2", "a=1&&b=2");
	check_strip("", "");
	check_strip(NULL, "");
}

static void test_hop_by_hop(void)
{
	static const char *const dropped[] = {
		"Authorization", "AUTHORIZATION", "x-api-key", "X-Goog-Api-Key", "api-key", "Cookie",
		"Host", "Connection", "Keep-Alive", "Proxy-Connection", "Content-Length", "Transfer-Encoding",
		"TE", "Trailer", "Upgrade", "Accept-Encoding", "Origin", "Referer", "Proxy-Authorization",
	};
	for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++)
		ok(request_hop_by_hop(dropped[i]), "%s is not passed on", dropped[i]);
	static const char *const kept[] = {
		"Content-Type", "anthropic-version", "anthropic-beta", "X-Custom", "Authorization2", "Accept", "",
	};
	for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
		ok(!request_hop_by_hop(kept[i]), "\"%s\" is passed on", kept[i]);

	/* Headers the Connection header names are hop-by-hop too. */
	struct evkeyvalq h;
	headers_set(&h, (const char *const[]){"Connection", "keep-alive, X-Private ,X-Other", "Connection", "x-third",
					      NULL});
	ok(request_connection_lists(&h, "X-Private"), "a name in Connection is hop-by-hop");
	ok(request_connection_lists(&h, "x-other"), "in any case, after a comma without a space");
	ok(request_connection_lists(&h, "X-Third"), "in a second Connection header");
	ok(!request_connection_lists(&h, "X-Priv"), "a prefix of a listed name is not listed");
	ok(!request_connection_lists(&h, "X-Custom"), "an unlisted name");
	evhttp_clear_headers(&h);
	headers_set(&h, NULL);
	ok(!request_connection_lists(&h, "X-Private"), "no Connection header: nothing listed");
}

static void check_model(const char *rest, const char *body, const char *want, const char *what)
{
	char *got = request_passthrough_model(rest, body, body ? strlen(body) : 0);
	is_str(got, want, "%s", what);
	free(got);
}

static void test_passthrough_model(void)
{
	check_model("v1beta/models/gemini-2.5-flash:generateContent", NULL, "gemini-2.5-flash",
		    "the model of a Gemini path");
	check_model("v1beta/models/gemini-2.5-flash:generateContent", "{\"model\": \"other\"}",
		    "gemini-2.5-flash", "the path wins over the body");
	check_model("v1/chat/completions", "{\"model\": \"gpt-4o\", \"messages\": []}", "gpt-4o",
		    "the model of a JSON body");
	check_model("v1beta/models/a%2Db:countTokens", NULL, "a%2Db", "the path's model is not decoded");
	check_model("v1/models/gpt-4o", NULL, NULL, "models/ without a ':' names no model");
	check_model("v1/chat/completions", "{\"model\": 5}", NULL, "a model that is not a string");
	check_model("v1/chat/completions", "[{\"model\": \"gpt-4o\"}]", NULL, "a body that is not an object");
	check_model("v1/chat/completions", " {\"model\": \"gpt-4o\"}", NULL, "a body not starting with '{'");
	check_model("v1/chat/completions", "", NULL, "an empty body");
	check_model("v1/chat/completions", NULL, NULL, "no body");
	check_model("v1/chat/completions", "{\"model\": \"gpt-4o\"", NULL, "a body cut short");
	check_model("v1/chat/completions", "{\"model\": \"gpt-4o-mini\"}", "gpt-4o-mini",
		    "the shared tokener is reset after a body cut short");
	check_model("v1/chat/completions", "{\"model\": \"a\"} trailing", "a",
		    "what follows the object is not read");

	/* The 1 MiB bound: a body of exactly 1 MiB is read, one byte more is not. */
	size_t big = 1u << 20;
	char *body = malloc(big + 2);
	memset(body, ' ', big + 1);
	memcpy(body, "{\"model\": \"big\"", 15);
	body[big - 1] = '}';
	body[big] = '\0';
	char *got = request_passthrough_model("v1/chat/completions", body, big);
	is_str(got, "big", "a 1 MiB body");
	free(got);
	body[big - 1] = ' ';
	body[big] = '}';
	body[big + 1] = '\0';
	got = request_passthrough_model("v1/chat/completions", body, big + 1);
	is_str(got, NULL, "a body over 1 MiB is not parsed");
	free(got);
	free(body);
}

static void check_gemini(const char *path, enum request_gemini_method want, const char *want_model)
{
	char *model = (char *)"unset";
	enum request_gemini_method got = request_gemini_call(path, &model);
	is_int(got, want, "%s: method", path);
	is_str(model, want_model, "%s: model", path);
	free(model);
}

static void test_gemini_call(void)
{
	check_gemini("/v1beta/models/gemini-2.5-flash:generateContent", REQUEST_GEMINI_GENERATE, "gemini-2.5-flash");
	check_gemini("/v1beta/models/gemini-2.5-flash:streamGenerateContent", REQUEST_GEMINI_STREAM,
		     "gemini-2.5-flash");
	check_gemini("/v1beta/models/gemini-2.5-flash:countTokens", REQUEST_GEMINI_COUNT_TOKENS, "gemini-2.5-flash");
	check_gemini("/v1beta/models/openai%2Fgpt-4o:generateContent", REQUEST_GEMINI_GENERATE, "openai/gpt-4o");
	check_gemini("/v1beta/models/openai/gpt-4o:generateContent", REQUEST_GEMINI_GENERATE, "openai/gpt-4o");
	check_gemini("/v1beta/models/a+b:generateContent", REQUEST_GEMINI_GENERATE, "a+b");
	check_gemini("/v1beta/models/groq:llama-3.3:generateContent", REQUEST_GEMINI_GENERATE, "groq:llama-3.3");
	check_gemini("/v1beta/models/x%3Ay:countTokens", REQUEST_GEMINI_COUNT_TOKENS, "x:y");
	check_gemini("/v1beta/models/:generateContent", REQUEST_GEMINI_GENERATE, "");
	check_gemini("/v1beta/models/a%00b:generateContent", REQUEST_GEMINI_GENERATE, NULL);
	check_gemini("/v1beta/models/gemini-2.5-flash:embedContent", REQUEST_GEMINI_NONE, NULL);
	check_gemini("/v1beta/models/gemini-2.5-flash:generateContentX", REQUEST_GEMINI_NONE, NULL);
	check_gemini("/v1beta/models/gemini-2.5-flash:generateContent/x", REQUEST_GEMINI_NONE, NULL);
	check_gemini("/v1beta/models/gemini-2.5-flash", REQUEST_GEMINI_NONE, NULL);
	check_gemini("/v1beta/models/", REQUEST_GEMINI_NONE, NULL);
	check_gemini("/v1/models/gemini-2.5-flash:generateContent", REQUEST_GEMINI_NONE, NULL);
	check_gemini("/gemini/v1beta/models/gemini-2.5-flash:generateContent", REQUEST_GEMINI_NONE, NULL);
}

int main(void)
{
	test_path_dialect();
	test_host_allowed();
	test_origin_allowed();
	test_presented_key();
	test_header_bytes();
	test_path_safe();
	test_strip_key_param();
	test_hop_by_hop();
	test_passthrough_model();
	test_gemini_call();
	return tap_done();
}
