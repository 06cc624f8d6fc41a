/* request.h - the listener's own checks on what a client sent: the request
 * target, the Host, Origin and key headers, the query, a passthrough path
 * and the model it names. server.c calls them for every request; they take
 * strings and libevent's plain header list (struct evkeyvalq, as
 * hreq_input_headers gives it), never the server or a request, so that
 * unit tests and a fuzz target call them alone.
 *
 * All of them take the raw, undecoded text httpd.c parsed (the path of
 * the request target, the query after '?', header values as sent). */
#ifndef AROUTER_REQUEST_H
#define AROUTER_REQUEST_H

#include "dialect.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

struct evkeyvalq;

/* The dialect to answer a path's errors in before it is routed:
 * /v1/messages... is Anthropic's, /v1beta/... Gemini's, anything else
 * OpenAI's. */
enum dialect request_path_dialect(const char *path);

/* Whether a Host header names this proxy (the DNS-rebinding check):
 * "localhost" (any case), "127.0.0.1", "[::1]" or listen_host (any case;
 * an IPv6 one bracketed), when not NULL), each with an optional ":port"
 * of one to five digits that must be port. A missing (NULL) or longer than
 * 255 bytes Host is refused. */
bool request_host_allowed(const char *listen_host, int port, const char *host);

/* Whether a browser Origin is in the config's proxy.allowed_origins
 * (config_root is the whole config; an entry "*" allows every origin).
 * False when the list is missing. */
bool request_origin_allowed(json_object *config_root, const char *origin);

/* The key a client presented, tried in this order: "Authorization: Bearer
 * K", then x-api-key, then x-goog-api-key (header names in any case; the
 * first of repeated headers), then the first non-empty "key=K" in query
 * (may be NULL; percent-decoded, '+' kept; one that decodes to a control
 * character is returned as sent). Owned by the caller, or NULL when there
 * is none. */
char *request_presented_key(const struct evkeyvalq *headers, const char *query);

/* The size of the request line and headers the way the header limit
 * counts them: the target uri (may be NULL) plus 20 for the method,
 * version, spaces and CRLF, plus "NAME: VALUE\r\n" for every header. */
size_t request_header_bytes(const char *uri, const struct evkeyvalq *headers);

/* Whether a passthrough path (what follows /{provider}/) stays under the
 * provider's base URL: refused are a leading '/', "//", '\\', CR or LF, the
 * escapes %2e %2f %5c %00 in any case, and "." or ".." segments. */
bool request_path_safe(const char *path);

/* The query (may be NULL) without its "key=" parameters, which carry the
 * client's arouter key and must not reach the provider; the others stay
 * in order. Owned by the caller; "" when nothing is left. */
char *request_strip_key_param(const char *query);

/* Whether a client's header stays behind on a passthrough: hop-by-hop
 * headers, the length, and everything that carries the client's own
 * credentials or browser context (Authorization, the key headers, Cookie,
 * Origin, Referer). Names in any case. */
bool request_hop_by_hop(const char *name);
/* Whether a Connection header in headers names the header name (which is
 * then hop-by-hop too, RFC 9110 7.6.1). */
bool request_connection_lists(const struct evkeyvalq *headers, const char *name);

/* The model a passthrough request names: the {model} of "models/{model}:"
 * in its path (as it is, not decoded), else the string "model" of a JSON
 * object body of at most 1 MiB (what follows the object is not read).
 * Owned by the caller, or NULL. */
char *request_passthrough_model(const char *rest, const char *body, size_t len);

/* The Gemini methods the proxy serves on /v1beta/models/{model}:{method}. */
enum request_gemini_method {
	REQUEST_GEMINI_NONE,
	REQUEST_GEMINI_GENERATE,        /* :generateContent */
	REQUEST_GEMINI_STREAM,          /* :streamGenerateContent */
	REQUEST_GEMINI_COUNT_TOKENS,    /* :countTokens */
};

/* For a path /v1beta/models/{model}:{method} whose last ':' starts one of
 * the methods above: the method, and in *model the percent-decoded
 * {model} (owned by the caller; cut at its last ':' after decoding), or
 * NULL when it decodes to a NUL byte (a malformed request). Otherwise
 * REQUEST_GEMINI_NONE and *model NULL. */
enum request_gemini_method request_gemini_call(const char *path, char **model);

#endif
