/* request.c - the listener's checks on request data. See request.h. */
#include "config.h"

#include "request.h"
#include "dialect.h"
#include "buf.h"
#include "util.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum dialect request_path_dialect(const char *path)
{
	if (str_has_prefix(path, "/v1/messages"))
		return DIALECT_ANTHROPIC;
	if (str_has_prefix(path, "/v1beta/"))
		return DIALECT_GEMINI;
	return DIALECT_OPENAI;
}

/* A page on evil.example whose name was rebound to 127.0.0.1 still sends
 * Host: evil.example, so only the proxy's own names pass. */
bool request_host_allowed(const char *listen_host, int port, const char *host)
{
	if (!host)
		return false;
	char name[256];
	size_t n = strlen(host);
	if (n >= sizeof name)
		return false;
	memcpy(name, host, n + 1);
	/* The port follows the last ':', or the "]:" of a bracketed IPv6
	 * address (whose own colons are not a port). */
	char *colon = name[0] == '[' ? strstr(name, "]:") : strrchr(name, ':');
	if (colon) {
		if (name[0] == '[')
			colon++;
		/* One to five digits, nothing else, equal to the port. */
		const char *d = colon + 1;
		size_t nd = strspn(d, "0123456789");
		if (nd == 0 || nd > 5 || d[nd] != '\0' || atoi(d) != port)
			return false;
		*colon = '\0';
	}
	if (strcasecmp(name, "localhost") == 0 || strcmp(name, "127.0.0.1") == 0 || strcmp(name, "[::1]") == 0)
		return true;
	if (!listen_host)
		return false;
	/* An IPv6 listening address is written bare; in Host it is bracketed. */
	size_t ln = strlen(name);
	if (name[0] == '[' && ln > 2 && name[ln - 1] == ']')
		return strncasecmp(name + 1, listen_host, ln - 2) == 0 && listen_host[ln - 2] == '\0';
	return strcasecmp(name, listen_host) == 0;
}

bool request_origin_allowed(json_object *config_root, const char *origin)
{
	json_object *proxy, *list;
	if (!json_object_object_get_ex(config_root, "proxy", &proxy) ||
	    !json_object_object_get_ex(proxy, "allowed_origins", &list) || !json_object_is_type(list, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *e = json_object_array_get_idx(list, i);
		const char *o = json_object_is_type(e, json_type_string) ? json_object_get_string(e) : NULL;
		if (o && (strcmp(o, "*") == 0 || strcmp(o, origin) == 0))
			return true;
	}
	return false;
}

char *request_presented_key(const struct evkeyvalq *headers, const char *query)
{
	const char *authz = evhttp_find_header(headers, "Authorization"), *v;
	if (authz && strncasecmp(authz, "Bearer ", 7) == 0)
		return xstrdup(authz + 7);
	if ((v = evhttp_find_header(headers, "x-api-key")) != NULL ||
	    (v = evhttp_find_header(headers, "x-goog-api-key")) != NULL)
		return xstrdup(v);
	for (const char *p = query; p && *p;) {
		size_t n = strcspn(p, "&");
		if (n > 4 && strncmp(p, "key=", 4) == 0) {
			/* Percent-decoded ('+' stays '+'), as a client encodes it; a
			 * key that decodes to a control character is kept as sent,
			 * and so matches none. */
			char *raw = xstrndup(p + 4, n - 4);
			size_t len = 0;
			char *key = evhttp_uridecode(raw, 0, &len);
			if (!key || strlen(key) != len || str_has_ctl(key)) {
				free(key);
				return raw;
			}
			free(raw);
			return key;
		}
		p += n;
		if (*p == '&')
			p++;
	}
	return NULL;
}

size_t request_header_bytes(const char *uri, const struct evkeyvalq *headers)
{
	size_t n = (uri ? strlen(uri) : 0) + 20;
	for (const struct evkeyval *h = headers->tqh_first; h; h = h->next.tqe_next)
		n += strlen(h->key) + strlen(h->value) + 4;
	return n;
}

bool request_path_safe(const char *path)
{
	if (path[0] == '/' || strpbrk(path, "\r\n\\") || strstr(path, "//"))
		return false;
	/* Escapes the upstream would decode into a dot, a separator or an
	 * end of string. */
	for (const char *s = path; *s; s++)
		if (*s == '%' && (strncasecmp(s, "%2e", 3) == 0 || strncasecmp(s, "%2f", 3) == 0 ||
				  strncasecmp(s, "%5c", 3) == 0 || strncasecmp(s, "%00", 3) == 0))
			return false;
	/* No segment may be "." or "..". */
	for (const char *seg = path; seg; seg = strchr(seg, '/')) {
		while (*seg == '/')
			seg++;
		if ((seg[0] == '.' && (seg[1] == '/' || !seg[1])) ||
		    (seg[0] == '.' && seg[1] == '.' && (seg[2] == '/' || !seg[2])))
			return false;
	}
	return true;
}

/* The Gemini SDKs' ?key= is the client's key for the proxy, not one for
 * the provider. */
char *request_strip_key_param(const char *query)
{
	struct buf b = BUF_INIT;
	for (const char *p = query; p && *p;) {
		size_t n = strcspn(p, "&");
		if (!(n >= 4 && strncmp(p, "key=", 4) == 0)) {
			if (b.len)
				buf_putc(&b, '&');
			buf_append(&b, p, n);
		}
		p += n;
		if (*p == '&')
			p++;
	}
	return buf_steal(&b);
}

bool request_hop_by_hop(const char *name)
{
	static const char *const skip[] = {
		"host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
		"upgrade", "content-length", "authorization", "x-api-key", "x-goog-api-key", "api-key",
		"accept-encoding", "cookie", "origin", "referer", "proxy-authorization",
	};
	for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
		if (strcasecmp(name, skip[i]) == 0)
			return true;
	return false;
}

bool request_connection_lists(const struct evkeyvalq *headers, const char *name)
{
	/* "Connection: close, X-Private" names X-Private as hop-by-hop. */
	for (const struct evkeyval *h = headers->tqh_first; h; h = h->next.tqe_next) {
		if (strcasecmp(h->key, "Connection") != 0)
			continue;
		const char *p = h->value;
		while (*p) {
			p += strspn(p, " \t,");
			size_t n = strcspn(p, " \t,");
			if (n && strlen(name) == n && strncasecmp(p, name, n) == 0)
				return true;
			p += n;
		}
	}
	return false;
}

char *request_passthrough_model(const char *rest, const char *body, size_t len)
{
	const char *m = strstr(rest, "models/");
	if (m && strchr(m, ':'))
		return xstrndup(m + 7, (size_t)(strchr(m, ':') - m - 7));
	if (!body || len == 0 || len > (1u << 20) || body[0] != '{')
		return NULL;
	json_object *o = json_tokener_parse_ex(dialect_json_tokener(), body, (int)len), *v;
	char *model = o && json_object_object_get_ex(o, "model", &v) && json_object_is_type(v, json_type_string)
			      ? xstrdup(json_object_get_string(v))
			      : NULL;
	if (o)
		json_object_put(o);
	return model;
}

enum request_gemini_method request_gemini_call(const char *path, char **model)
{
	*model = NULL;
	if (!str_has_prefix(path, "/v1beta/models/"))
		return REQUEST_GEMINI_NONE;
	const char *m = path + strlen("/v1beta/models/");
	const char *colon = strrchr(m, ':');
	if (!colon)
		return REQUEST_GEMINI_NONE;
	enum request_gemini_method method = strcmp(colon, ":generateContent") == 0         ? REQUEST_GEMINI_GENERATE
					    : strcmp(colon, ":streamGenerateContent") == 0 ? REQUEST_GEMINI_STREAM
					    : strcmp(colon, ":countTokens") == 0           ? REQUEST_GEMINI_COUNT_TOKENS
											   : REQUEST_GEMINI_NONE;
	if (method == REQUEST_GEMINI_NONE)
		return method;
	size_t len = 0;
	*model = evhttp_uridecode(m, 0, &len);
	if (strlen(*model) != len) {
		/* A %00 would cut the name short into another one. */
		free(*model);
		*model = NULL;
		return method;
	}
	char *mc = strrchr(*model, ':');
	if (mc)
		*mc = '\0';
	return method;
}
