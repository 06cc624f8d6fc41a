/* http-internal.h - what the two upstream HTTP engines share: libcurl's
 * (http-client.c: blocking transfers for the CLI, and TLS or anything
 * unusual on the proxy's loop) and the built-in HTTP/1.1 client
 * (http1.c: plain HTTP to a literal address or localhost on the proxy's
 * loop). Both fill the same http_response the same way, so callers
 * cannot tell them apart. Not a public interface. */
#ifndef AROUTER_HTTP_INTERNAL_H
#define AROUTER_HTTP_INTERNAL_H

#include "http-client.h"

#include <stdbool.h>

#define ERROR_BODY_CAP (64 * 1024)

/* How long a server may take to end a response after the answer in it is
 * whole (HTTP_BODY_COMPLETE) before the transfer is cut short. */
#define COMPLETE_GRACE_MS 250

/* One transfer's state that does not depend on the engine. */
struct transfer {
	struct handle_pool *pool; /* libcurl: where the handle goes back to, or NULL */
	struct http_response *resp;
	http_body_cb cb;
	void *arg;
	void *curl;                    /* libcurl: the easy handle */
	struct curl_slist *headers;    /* libcurl: the request's headers */
	char *url;                     /* for error messages: scheme and host only */
	long idle_ms;
	long total_ms;
	long long start_ms;
	volatile sig_atomic_t *cancel;
	bool any_status_body;
	bool callback_aborted;
	bool callback_complete;        /* the callback had all it needed */
	long long complete_ms;         /* when it said so; 0 before */
	bool cancelled;
	bool idle_expired;
	long long last_byte_ms;
	bool *gone;                    /* while the body callback runs: set when it frees the call */
};

/* How a transfer ended, whichever engine ran it. */
enum xfer_end {
	END_DONE,            /* the response arrived whole */
	END_CALLBACK,        /* the body callback said stop (or was complete) */
	END_CANCELLED,
	END_IDLE,            /* no byte for idle_ms */
	END_TOTAL,           /* total_timeout_ms passed */
	END_CONNECT,         /* the connection could not be made */
	END_CONNECT_TIMEOUT, /* ... in time */
	END_CLOSED,          /* the connection closed or broke too early */
	END_OTHER,           /* another failure, with its own message */
};

long long http_now_ms(void);

/* Fills t's engine-independent fields from req and clears t->resp. */
void transfer_begin(struct transfer *t, const struct http_request *req);

/* Splits a header line at its colon: the name's length, and the value
 * without surrounding blanks or a line end. False when there is no colon. */
bool http_header_split(const char *line, size_t len, size_t *nlen, const char **value, size_t *vlen);

/* One line of the response head, without or with its CRLF: a status line
 * resets what is known, a header is recorded when it matters (content
 * type, Retry-After, rate-limit headers). */
void transfer_header_line(struct transfer *t, const char *line, size_t len);

/* Body bytes of a response with this status: to the callback (2xx, or any
 * status for passthrough) or into the capped error body. Returns false
 * when the callback asked to stop (t->callback_aborted is then set) or
 * cancelled the call (t is then freed). */
bool transfer_body(struct transfer *t, long status, const char *data, size_t len);

/* Sets resp->error for how the transfer ended and returns the outcome.
 * msg is END_OTHER's message. */
enum http_outcome transfer_conclude(struct transfer *t, enum xfer_end end, const char *msg);

#endif
