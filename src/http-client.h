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
	const char *method;               /* "GET" or "POST" */
	const char *url;
	const struct http_header *headers; /* borrowed */
	size_t n_headers;
	const char *body;                 /* NULL for none */
	size_t body_len;
	long connect_timeout_ms;          /* 0: default 10 s */
	long idle_timeout_ms;             /* no byte for this long aborts; 0: default 120 s */
	long total_timeout_ms;            /* 0: none */
	volatile sig_atomic_t *cancel;    /* when it becomes non-zero the transfer is aborted */
};

/* Receives body bytes of a 2xx response as they arrive. Non-zero aborts. */
typedef int (*http_body_cb)(const char *data, size_t len, void *arg);

enum http_outcome {
	HTTP_OK,        /* a response arrived whole (any status) */
	HTTP_NETWORK,   /* connect/DNS/TLS failure or the connection broke */
	HTTP_TIMEOUT,   /* a timeout fired */
	HTTP_CANCELLED, /* *cancel was set */
	HTTP_ABORTED,   /* the body callback returned non-zero */
};

struct http_response {
	long status;
	char *content_type;      /* owned; NULL if none */
	long retry_after_s;      /* from Retry-After (seconds form), -1 if absent */
	struct buf error_body;   /* a non-2xx body (capped at 64 KiB); owned */
	bool body_started;       /* some body bytes reached the callback */
	char *error;             /* one-line reason for a non-HTTP_OK outcome; owned */
};

/* Performs the request. 2xx bodies go to cb; other bodies are collected in
 * resp->error_body. Returns the outcome; resp is filled in every case and
 * must be released with http_response_clear. */
enum http_outcome http_perform(const struct http_request *req, http_body_cb cb, void *arg,
			       struct http_response *resp);
void http_response_clear(struct http_response *resp);

/* Releases libcurl's global state if a transfer initialised it. libcurl
 * (and with it OpenSSL) is initialised on the first transfer, so commands
 * that never touch the network do not pay for it. */
void http_client_cleanup(void);

/* The User-Agent sent upstream ("arouter/VERSION"). Static. */
const char *http_user_agent(void);

#endif
