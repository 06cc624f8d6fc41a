/* fuzz-listener.c - the listener's own checks on a client request
 * (request.h): the dialect of the path, the header size, the Host
 * (DNS-rebinding) and Origin checks, the key a client presents, which
 * headers a passthrough leaves behind, the passthrough path, query and
 * model, and the Gemini method paths. The HTTP parser that hands these
 * the request (httpd.c) has a target of its own, fuzz-httpd; this one
 * builds what it hands over directly, to reach the checks without the
 * framing.
 *
 * Input, like a request as the parser hands it over:
 *   1. the request target up to the first newline ("/path?query"; split
 *      at the first '?' into the path and the query);
 *   2. header lines "Name: value" up to an empty line (a trailing CR is
 *      dropped; lines the parser would refuse, with a CR inside, or without
 *      a ':', are left out);
 *   3. the rest: the body a passthrough reads its model from.
 * The listening address and port come from a hash of the input.
 *
 * Beyond memory errors, UB and leaks, the properties checked are those the
 * listener relies on: an accepted Host names the proxy; a passthrough path
 * that is accepted cannot climb out of the provider's base URL once
 * decoded; the query sent upstream holds no "key=" parameter and keeps
 * every other one in order; no credential header is passed on; the key
 * presented is the one the documented order picks; the models read from a
 * path or body are the ones written there. */
#include "config.h"

#include "request.h"
#include "util.h"
#include "fuzz.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <strings.h>

static json_object *origins_listed, *origins_any, *origins_none;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_env_init();
	origins_listed = json_tokener_parse(
		"{\"proxy\": {\"allowed_origins\": [\"http://localhost:3000\", \"https://app.example\", 7, null]}}");
	origins_any = json_tokener_parse("{\"proxy\": {\"allowed_origins\": [\"https://app.example\", \"*\"]}}");
	origins_none = json_tokener_parse("{\"proxy\": {\"allowed_origins\": \"*\"}}");
	if (!origins_listed || !origins_any || !origins_none)
		abort();
	return 0;
}

/* ---- independent readings of what the functions should see ---- */

/* The first header of that name (any case), walking the list itself. */
static const char *header(const struct evkeyvalq *h, const char *name)
{
	for (const struct evkeyval *e = h->tqh_first; e; e = e->next.tqe_next)
		if (strcasecmp(e->key, name) == 0)
			return e->value;
	return NULL;
}

/* Whether host is one of our names (any case; an IPv6 listening address
 * bracketed), followed by nothing or by ':' (a port, whatever it says):
 * what request_host_allowed may accept. */
static bool names_us(const char *host, const char *listen_host)
{
	char bracketed[64] = "";
	if (listen_host && strchr(listen_host, ':'))
		snprintf(bracketed, sizeof bracketed, "[%s]", listen_host);
	const char *const names[] = {"localhost", "127.0.0.1", "[::1]", listen_host, bracketed[0] ? bracketed : NULL};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (!names[i])
			continue;
		size_t n = strlen(names[i]);
		if (strncasecmp(host, names[i], n) == 0 && (host[n] == '\0' || host[n] == ':'))
			return true;
	}
	return false;
}

/* A Host that is one of our names (any case), alone or followed by ':'
 * and a port, which must be 1 to 5 digits and nothing else: the answer
 * request_host_allowed must give for it; -1 when host is not that simple. */
static int plain_host_verdict(const char *host, const char *listen_host, int port)
{
	const char *const names[] = {"localhost", "127.0.0.1", "[::1]", listen_host};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (!names[i] || (i == 3 && strchr(names[i], ':')))
			continue;
		size_t n = strlen(names[i]);
		if (strncasecmp(host, names[i], n) != 0)
			continue;
		if (host[n] == '\0')
			return 1;
		if (host[n] != ':')
			continue;
		/* A port is one to five digits and nothing else. */
		const char *d = host + n + 1;
		size_t digits = strspn(d, "0123456789");
		if (digits == 0 || digits > 5 || d[digits])
			return 0;
		return atoi(d) == port;
	}
	return -1;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* What a provider would make of an accepted passthrough path: no CR or LF
 * as they are (an escaped one is only a strange name); decoded once, no
 * NUL or backslash, segments never "." or "..", and only the last one
 * empty (a trailing slash). */
static void check_safe_path(const char *path)
{
	FUZZ_ASSERT(!strpbrk(path, "\r\n"));
	size_t n = strlen(path);
	char *d = malloc(n + 1);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (path[i] == '%' && (hi = hexval(path[i + 1])) >= 0 && (lo = hexval(path[i + 2])) >= 0) {
			char c = (char)(hi * 16 + lo);
			FUZZ_ASSERT(c != '\0' && c != '.' && c != '/' && c != '\\');
			d[m++] = c;
			i += 2;
		} else {
			d[m++] = path[i];
		}
	}
	d[m] = '\0';
	FUZZ_ASSERT(!strchr(d, '\\'));
	for (const char *seg = d;;) {
		const char *end = strchr(seg, '/');
		size_t len = end ? (size_t)(end - seg) : strlen(seg);
		FUZZ_ASSERT(!(len == 1 && seg[0] == '.'));
		FUZZ_ASSERT(!(len == 2 && seg[0] == '.' && seg[1] == '.'));
		FUZZ_ASSERT(len > 0 || !end); /* no leading '/', no "//" */
		if (!end)
			break;
		seg = end + 1;
	}
	free(d);
}

/* The pieces of a query between '&', as a list of strings. */
struct pieces {
	char **v;
	size_t n;
};

static struct pieces split_query(const char *q)
{
	struct pieces p = {NULL, 0};
	for (const char *s = q ? q : "";;) {
		size_t len = strcspn(s, "&");
		p.v = realloc(p.v, (p.n + 1) * sizeof *p.v);
		p.v[p.n++] = fuzz_strndup((const uint8_t *)s, len);
		if (!s[len])
			break;
		s += len + 1;
	}
	return p;
}

static void pieces_free(struct pieces *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
}

static bool is_key_param(const char *piece)
{
	return strncmp(piece, "key=", 4) == 0;
}

/* strip_key_param: no "key=" is left, every other non-empty parameter is,
 * in its order, and nothing is added. */
static void check_stripped(const char *query, const char *out)
{
	FUZZ_ASSERT(out != NULL);
	FUZZ_ASSERT(strlen(out) <= (query ? strlen(query) : 0));
	struct pieces in = split_query(query), got = split_query(out);
	size_t j = 0;
	for (size_t i = 0; i < got.n; i++) {
		FUZZ_ASSERT(!is_key_param(got.v[i]));
		if (!*got.v[i])
			continue;
		while (j < in.n && (!*in.v[j] || is_key_param(in.v[j])))
			j++;
		FUZZ_ASSERT(j < in.n && strcmp(in.v[j], got.v[i]) == 0);
		j++;
	}
	while (j < in.n && (!*in.v[j] || is_key_param(in.v[j])))
		j++;
	FUZZ_ASSERT(j == in.n); /* none was dropped */
	pieces_free(&in);
	pieces_free(&got);
}

/* presented_key: Bearer, then x-api-key, then x-goog-api-key, then the
 * first non-empty ?key= (percent-decoded unless that gives a control
 * character). */
static void check_key(const struct evkeyvalq *h, const char *query, const char *key)
{
	const char *authz = header(h, "Authorization"), *v;
	if (authz && strncasecmp(authz, "Bearer ", 7) == 0) {
		FUZZ_ASSERT(key && strcmp(key, authz + 7) == 0);
		return;
	}
	if ((v = header(h, "X-Api-Key")) != NULL || (v = header(h, "X-Goog-Api-Key")) != NULL) {
		FUZZ_ASSERT(key && strcmp(key, v) == 0);
		return;
	}
	struct pieces q = split_query(query);
	const char *want = NULL;
	for (size_t i = 0; i < q.n && !want; i++)
		if (is_key_param(q.v[i]) && q.v[i][4])
			want = q.v[i] + 4;
	/* As written, or percent-decoded (shorter, and free of control
	 * characters, which keep it as written). */
	FUZZ_ASSERT(want ? key && (strcmp(key, want) == 0 ||
				  (strchr(want, '%') && strlen(key) < strlen(want) && !str_has_ctl(key)))
			 : key == NULL);
	if (want && !strchr(want, '%'))
		FUZZ_ASSERT(strcmp(key, want) == 0);
	pieces_free(&q);
}

static void check_model(const char *rest, const char *body, size_t len)
{
	char *model = request_passthrough_model(rest, body, len);
	const char *m = strstr(rest, "models/");
	const char *colon = m ? strchr(m, ':') : NULL;
	if (colon) {
		/* from the path: what lies between "models/" and the ':' */
		FUZZ_ASSERT(model && strlen(model) == (size_t)(colon - m - 7) && memcmp(model, m + 7, strlen(model)) == 0);
	} else if (model) {
		/* from the body: its "model", read again with a fresh tokener */
		FUZZ_ASSERT(len > 0 && len <= 1u << 20 && body[0] == '{');
		json_tokener *t = json_tokener_new();
		json_object *o = json_tokener_parse_ex(t, body, (int)len), *v;
		FUZZ_ASSERT(o && json_object_object_get_ex(o, "model", &v) && json_object_is_type(v, json_type_string));
		FUZZ_ASSERT(strcmp(json_object_get_string(v), model) == 0);
		json_object_put(o);
		json_tokener_free(t);
	}
	/* The thread's shared tokener is reset: the same answer a second time. */
	char *again = request_passthrough_model(rest, body, len);
	FUZZ_ASSERT((!model && !again) || (model && again && strcmp(model, again) == 0));
	free(again);
	free(model);
}

static void check_gemini(const char *path)
{
	char *model = (char *)"unset";
	enum request_gemini_method g = request_gemini_call(path, &model);
	if (g == REQUEST_GEMINI_NONE) {
		FUZZ_ASSERT(model == NULL);
		return;
	}
	static const char *const suffix[] = {
		[REQUEST_GEMINI_GENERATE] = ":generateContent",
		[REQUEST_GEMINI_STREAM] = ":streamGenerateContent",
		[REQUEST_GEMINI_COUNT_TOKENS] = ":countTokens",
	};
	FUZZ_ASSERT(g == REQUEST_GEMINI_GENERATE || g == REQUEST_GEMINI_STREAM || g == REQUEST_GEMINI_COUNT_TOKENS);
	FUZZ_ASSERT(request_path_dialect(path) == DIALECT_GEMINI);
	size_t plen = strlen(path), slen = strlen(suffix[g]), pre = strlen("/v1beta/models/");
	FUZZ_ASSERT(plen >= pre + slen && strncmp(path, "/v1beta/models/", pre) == 0);
	FUZZ_ASSERT(strcmp(path + plen - slen, suffix[g]) == 0);
	size_t raw = plen - pre - slen; /* the {model} as written */
	if (!model) {
		/* Only a name that decodes to a NUL byte is refused. */
		FUZZ_ASSERT(memmem(path + pre, raw, "%00", 3) != NULL);
		return;
	}
	FUZZ_ASSERT(strlen(model) <= raw);
	if (!memchr(path + pre, '%', raw))
		FUZZ_ASSERT(strlen(model) == raw && memcmp(model, path + pre, raw) == 0);
	free(model);
}

/* What a passthrough must never hand the provider: the client's own
 * credentials for the proxy, its cookies, and its Host. */
static const char *const never_passed[] = {
	"authorization", "x-api-key", "x-goog-api-key", "api-key", "cookie", "host",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t rng = fuzz_hash(data, size);
	const uint8_t *p = data;
	size_t n = size;
	char *target = fuzz_piece(&p, &n, '\n');
	size_t tlen = strlen(target);
	if (tlen && target[tlen - 1] == '\r')
		target[--tlen] = '\0';
	char *qm = strchr(target, '?');
	char *path = fuzz_strndup((const uint8_t *)target, qm ? (size_t)(qm - target) : tlen);
	const char *query = qm ? qm + 1 : NULL;

	struct evkeyvalq h = {NULL, &h.tqh_first};
	size_t n_headers = 0, header_sum = 0;
	while (n > 0 && n_headers < 64) {
		char *line = fuzz_piece(&p, &n, '\n');
		size_t len = strlen(line);
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
		if (!len) {
			free(line);
			break;
		}
		char *colon = strchr(line, ':');
		if (colon) {
			*colon = '\0';
			const char *value = colon + 1 + strspn(colon + 1, " \t");
			if (evhttp_add_header(&h, line, value) == 0) {
				n_headers++;
				header_sum += strlen(line) + strlen(value) + 4;
			}
		}
		free(line);
	}
	const char *body = (const char *)p;
	size_t body_len = n;

	/* 1. the path's dialect */
	enum dialect d = request_path_dialect(path);
	FUZZ_ASSERT(d == (strncmp(path, "/v1/messages", 12) == 0 ? DIALECT_ANTHROPIC
			  : strncmp(path, "/v1beta/", 8) == 0    ? DIALECT_GEMINI
								 : DIALECT_OPENAI));

	/* 2. the header limit's figure */
	FUZZ_ASSERT(request_header_bytes(target, &h) == tlen + 20 + header_sum);
	FUZZ_ASSERT(request_header_bytes(NULL, &h) == 20 + header_sum);

	/* 3. Host: only our own names pass */
	static const char *const listen_hosts[] = {"127.0.0.1", "192.168.1.10", "proxy.lan", "::1", "0.0.0.0", NULL};
	static const int ports[] = {8788, 80, 443, 0, 65535};
	const char *listen_host = listen_hosts[fuzz_rand(&rng) % (sizeof listen_hosts / sizeof listen_hosts[0])];
	int port = ports[fuzz_rand(&rng) % (sizeof ports / sizeof ports[0])];
	const char *host = header(&h, "Host");
	bool host_ok = request_host_allowed(listen_host, port, host);
	if (host_ok)
		FUZZ_ASSERT(host && names_us(host, listen_host));
	if (host && plain_host_verdict(host, listen_host, port) >= 0)
		FUZZ_ASSERT(host_ok == (plain_host_verdict(host, listen_host, port) == 1));
	/* The target's own text as a Host too: any bytes, not only header ones. */
	if (request_host_allowed(listen_host, port, target))
		FUZZ_ASSERT(names_us(target, listen_host));
	FUZZ_ASSERT(!request_host_allowed(listen_host, port, NULL));

	/* 4. Origin */
	const char *origin = header(&h, "Origin");
	const char *o = origin ? origin : target;
	FUZZ_ASSERT(request_origin_allowed(origins_listed, o) ==
		    (strcmp(o, "http://localhost:3000") == 0 || strcmp(o, "https://app.example") == 0));
	FUZZ_ASSERT(request_origin_allowed(origins_any, o));
	FUZZ_ASSERT(!request_origin_allowed(origins_none, o));
	FUZZ_ASSERT(!request_origin_allowed(NULL, o));

	/* 5. the key presented, and the query that goes upstream */
	char *key = request_presented_key(&h, query);
	check_key(&h, query, key);
	free(key);
	key = request_presented_key(&h, NULL);
	check_key(&h, NULL, key);
	free(key);
	char *q = request_strip_key_param(query);
	check_stripped(query, q);
	free(q);
	q = request_strip_key_param(target);
	check_stripped(target, q);
	free(q);

	/* 6. the headers a passthrough passes on */
	for (const struct evkeyval *e = h.tqh_first; e; e = e->next.tqe_next)
		if (!request_hop_by_hop(e->key))
			for (size_t i = 0; i < sizeof never_passed / sizeof never_passed[0]; i++)
				FUZZ_ASSERT(strcasecmp(e->key, never_passed[i]) != 0);

	/* 7. the passthrough path: what follows /{provider}/ in the server */
	const char *slash = path[0] ? strchr(path + 1, '/') : NULL;
	const char *rest = slash ? slash + 1 : path;
	if (request_path_safe(rest))
		check_safe_path(rest);
	if (request_path_safe(path))
		check_safe_path(path);
	check_model(rest, body, body_len);

	/* 8. the Gemini method paths */
	check_gemini(path);

	evhttp_clear_headers(&h);
	free(path);
	free(target);
	return 0;
}
