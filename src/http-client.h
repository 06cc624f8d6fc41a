/* http-client.h - upstream HTTP for the command line: one blocking libcurl
 * easy transfer at a time, streaming the body to a callback as it arrives,
 * with connect, first-byte, idle and total timeouts and cancellation. */
#ifndef AROUTER_HTTP_CLIENT_H
#define AROUTER_HTTP_CLIENT_H

#include "buf.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

struct http_header {
	const char *name;
	const char *value;
};

struct http_request {
	const char *method;               /* "GET", "POST", "PATCH", "DELETE", ... */
	const char *url;
	const struct http_header *headers; /* borrowed */
	size_t n_headers;
	const char *body;                 /* NULL for none */
	size_t body_len;
	long connect_timeout_ms;          /* 0: default 10 s */
	long idle_timeout_ms;             /* no byte for this long aborts; 0: default 120 s */
	long total_timeout_ms;            /* 0: none */
	volatile sig_atomic_t *cancel;    /* when it becomes non-zero the transfer is aborted */
	bool any_status_body;             /* give every body to the callback, not only 2xx (passthrough) */
};

/* Receives body bytes of a 2xx response as they arrive. Non-zero aborts,
 * except HTTP_BODY_COMPLETE: the answer is whole (an SSE stream's
 * terminator arrived). Then later bytes are dropped, and the transfer ends
 * when the server ends the response (the connection can be used again) or,
 * if it holds the response open, a moment later; a success (XFER_OK)
 * either way. */
typedef int (*http_body_cb)(const char *data, size_t len, void *arg);
#define HTTP_BODY_COMPLETE 2

enum http_outcome {
	XFER_OK,        /* a response arrived whole (any status) */
	XFER_NETWORK,   /* connect/DNS/TLS failure or the connection broke */
	XFER_TIMEOUT,   /* a timeout fired */
	XFER_CANCELLED, /* *cancel was set */
	XFER_ABORTED,   /* the body callback returned non-zero */
};

struct http_response {
	long status;
	char *content_type;      /* owned; NULL if none */
	long retry_after_s;      /* from Retry-After (seconds form), -1 if absent */
	struct buf error_body;   /* a non-2xx body (capped at 64 KiB); owned */
	bool body_started;       /* some body bytes reached the callback */
	char *error;             /* one-line reason for a non-XFER_OK outcome; owned */
	/* Rate-limit headers as sent (Retry-After, retry-after-ms,
	 * x-ratelimit-*, anthropic-ratelimit-*), for retry.h; owned. */
	struct http_header limits[12];
	size_t n_limits;
};

/* Performs the request. 2xx bodies go to cb; other bodies are collected in
 * resp->error_body. Returns the outcome; resp is filled in every case and
 * must be released with http_response_clear. */
enum http_outcome http_perform(const struct http_request *req, http_body_cb cb, void *arg,
			       struct http_response *resp);
void http_response_clear(struct http_response *resp);

/* Asynchronous transfers for the proxy, on a libevent loop, so that one
 * thread serves every client and upstream: libcurl's multi-socket API,
 * and for plain HTTP to a literal address or localhost the built-in
 * HTTP/1.1 client. */
struct event_base;
struct http_loop;
struct http_call;

/* Called once when a call ends; resp is valid only during the call, and
 * the call is freed after it returns. */
typedef void (*http_done_cb)(struct http_call *call, enum http_outcome outcome, const struct http_response *resp,
			     void *arg);

/* Returns a loop on base, owned by the caller (http_loop_free cancels every
 * call still in flight, without calling their done callbacks). */
struct http_loop *http_loop_new(struct event_base *base);
void http_loop_free(struct http_loop *loop);
/* Whether plain-HTTP requests to a literal address or localhost go through
 * the built-in HTTP/1.1 client (http1.h; the default) rather than libcurl.
 * Change it only while no call is in flight. */
void http_loop_use_builtin(struct http_loop *loop, bool on);

/* Starts req (copied: it need not outlive this call). 2xx body bytes go to
 * cb as they arrive; a non-zero return aborts with XFER_ABORTED. done is
 * called exactly once, unless the call is cancelled. Returns the call
 * (owned by the loop), or NULL when it failed at once (done has then
 * already been called). */
struct http_call *http_call_start(struct http_loop *loop, const struct http_request *req, http_body_cb cb,
				  http_done_cb done, void *arg);
/* The response as far as it has arrived (status, content type). Borrowed. */
const struct http_response *http_call_response(const struct http_call *call);
/* Aborts the transfer and frees the call; done is not called. From inside
 * the call's own body callback only with the built-in client (libcurl
 * forbids calls into its multi handle from a callback); a callback that
 * wants to stop should return non-zero instead, which works with both. */
void http_call_cancel(struct http_call *call);

/* Releases libcurl's global state if a transfer initialised it. libcurl
 * (and with it OpenSSL) is initialised on the first transfer, so commands
 * that never touch the network do not pay for it. */
void http_client_cleanup(void);

/* The User-Agent sent upstream ("arouter/VERSION"). Static. */
const char *http_user_agent(void);

#endif
