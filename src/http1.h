/* http1.h - the proxy's built-in HTTP/1.1 client: plain-HTTP requests to
 * a literal IP address or localhost, on the event loop, with a pool of
 * kept-alive connections. libcurl costs about 100,000 instructions per
 * request on the proxy's loop, most of the proxy's added latency to a
 * local server (Ollama, vLLM, llama.cpp, a LAN box); this costs a few
 * thousand. Everything else (TLS, host names, a configured HTTP proxy)
 * stays with libcurl. Used through http-client.h's http_call_*, which
 * picks the engine. */
#ifndef AROUTER_HTTP1_H
#define AROUTER_HTTP1_H

#include "http-client.h"

#include <stdbool.h>

struct event_base;
struct transfer;
struct h1_pool;
struct h1_call;

/* A pool of connections on base. The environment is read here once: with
 * http_proxy, all_proxy or ALL_PROXY set, h1_serves is always false. */
struct h1_pool *h1_pool_new(struct event_base *base);
/* Closes the pooled connections; calls must have ended or been cancelled. */
void h1_pool_free(struct h1_pool *pool);

/* Whether the built-in client can carry a request to url: "http://" and a
 * literal IPv4 or bracketed IPv6 address or "localhost", without user
 * info, and no proxy configured. */
bool h1_serves(const struct h1_pool *pool, const char *url);

/* Called once when the transfer ends, with t concluded (transfer_conclude).
 * The h1_call is freed after it returns. */
typedef void (*h1_done_fn)(void *arg, enum http_outcome outcome);

/* Starts req (copied) on a pooled or new connection, reporting into t,
 * which transfer_begin has filled and which must live until done or
 * h1_cancel. Never calls done before it returns. */
struct h1_call *h1_start(struct h1_pool *pool, const struct http_request *req, struct transfer *t,
			 h1_done_fn done, void *arg);
/* Ends the transfer without calling done; its connection is closed. Safe
 * to call from inside t's body callback. */
void h1_cancel(struct h1_call *call);

#endif
