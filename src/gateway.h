/* gateway.h - the pipeline that sends one model request: route → egress
 * dialect → upstream (or the built-in mock) → stream decoder → canonical
 * chunks. The CLI's `chat` calls it; the proxy reuses the same pieces. */
#ifndef AROUTER_GATEWAY_H
#define AROUTER_GATEWAY_H

#include "buf.h"
#include "conf.h"
#include "dialect.h"
#include "http-client.h"
#include "route.h"

#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>

struct gateway_request {
	const struct config *config;
	json_object *body;              /* canonical request (OpenAI chat JSON); borrowed, not modified */
	const char *model;              /* model string or route name; NULL or "" for the configured default */
	json_object *models;            /* a fallback list of model strings, or NULL; borrowed */
	bool stream;
	chunk_cb on_chunk;              /* receives every canonical chunk, streamed or not */
	void *arg;
	volatile sig_atomic_t *cancel;  /* set asynchronously (SIGINT) to abort */
	long idle_timeout_ms;           /* 0: default */
	long total_timeout_ms;          /* 0: none */
};

struct gateway_result {
	int exit_code;       /* EXIT_OK or the failure class from util.h */
	char *error;         /* one line, e.g. "anthropic: 429 rate limited, retry after 20s"; owned */
	int status;          /* the upstream's HTTP status, 0 if none */
	char *provider;      /* slug that was asked; owned */
	char *model;         /* model name it was sent; owned */
	char *display;       /* "provider/model" as resolved; owned */
	bool mock_fallback;  /* answered by mock because no key exists */
	bool partial;        /* some output was delivered before the failure */
	bool unknown_provider; /* the model string names no provider */
	bool timed_out;      /* an upstream timeout, not a refusal */
	int attempts;        /* upstream attempts made (gateway_chat) */
};

/* One upstream call, independent of how its bytes travel: prepare builds
 * the route, the upstream body, URL and headers; the transport (a blocking
 * libcurl transfer for the CLI, the event loop for the proxy, or the
 * in-process mock) feeds the response body through gateway_call_feed and
 * ends with gateway_call_finish, which turns what arrived into canonical
 * chunks for on_chunk and a result. The fields are the transport's to read;
 * all are owned by the call and released by gateway_call_clear. */
struct gateway_call {
	struct route_target target;
	struct provider *provider;     /* borrowed from the config */
	bool is_mock;                  /* answered in-process, no URL */
	bool stream;
	char *url;
	struct http_header headers[32];
	size_t n_headers;
	json_object *body;             /* the upstream request body */
	struct buf body_text;          /* its text: gateway_call_body_text */
	/* response side */
	chunk_cb on_chunk;
	void *arg;
	struct gateway_result *res;
	char *auth_value;
	char *content_type;
	struct sse_parser *sse;
	struct stream_decoder *dec;
	struct buf whole;              /* a non-streamed body */
	bool is_sse, decided, done, delivered;
	bool tap_only;                 /* the caller forwards the body itself; whole OpenAI
					* answers are read for usage only */
	int decoder_rc;
};

/* Prepares a call to target (copied) with key (NULL: none; from the
 * provider's key pool). res is cleared first, so it must be zeroed or
 * hold an earlier result. Returns EXIT_OK, or the failure (also in res)
 * when the body cannot be built. gc and res must be cleared either way. */
int gateway_call_prepare(struct gateway_call *gc, const struct config *config, json_object *body,
			 const struct route_target *target, const char *key, bool stream, chunk_cb on_chunk,
			 void *arg, struct gateway_result *res);
/* Same dialect in and out: the upstream is sent the client's own body
 * (deep-copied, only "model" rewritten; a Gemini body names no model), so
 * nothing the canonical form cannot hold is lost (cache_control, thinking
 * signatures, top_k, beta fields). The model string's parameters are
 * added where the body leaves them unset, as the dialect names them;
 * canon is the request's canonical form (for that), or NULL. */
void gateway_call_use_native_body(struct gateway_call *gc, json_object *client_body, json_object *canon);
/* The upstream request body's text, written on first use (after any
 * gateway_call_use_native_body). Owned by gc. size_hint: about how long
 * it will be (the client's body it comes from), or 0. */
const struct buf *gateway_call_body_text(struct gateway_call *gc, size_t size_hint);
/* A call whose bytes go to the client untouched (the provider
 * passthrough): feed it the 2xx answer with gateway_call_feed and end it
 * with gateway_call_finish, and on_chunk sees the usage it carried (and
 * the answer's chunks, for an answer in p's dialect). */
void gateway_call_tap(struct gateway_call *gc, struct provider *p, const char *model, chunk_cb on_chunk, void *arg,
		      struct gateway_result *res);
/* Sets a header on the upstream request, replacing one of the same name.
 * name and value are borrowed and must live until the transfer starts. */
void gateway_call_set_header(struct gateway_call *gc, const char *name, const char *value);
/* Feeds 2xx body bytes; non-zero means abort the transfer, except
 * HTTP_BODY_COMPLETE: the stream's terminator has arrived, the answer is
 * whole whether or not the upstream ends the response (http-client.h). */
int gateway_call_feed(struct gateway_call *gc, const char *content_type, const char *data, size_t len);
/* Ends the call with the transport's outcome and response; returns res->exit_code. */
int gateway_call_finish(struct gateway_call *gc, enum http_outcome outcome, const struct http_response *resp);
/* How an attempt really ended, for the attempt loop (attempt.h): an error
 * event in the stream counts as its status (or as a broken connection),
 * and a 2xx whose stream stopped short as a broken connection. Call after
 * gateway_call_finish; *status is set to the status to report. */
enum http_outcome gateway_call_outcome(const struct gateway_call *gc, enum http_outcome outcome,
				       const struct http_response *resp, long *status);
void gateway_call_clear(struct gateway_call *gc);
/* The in-process transport for the mock provider: feeds its whole answer
 * (to the canonical request body) in small pieces, as a network would. */
enum http_outcome gateway_call_run_mock(struct gateway_call *gc, json_object *body, volatile sig_atomic_t *cancel);

/* What a client that has part of an answer is told to go on from, for an
 * upstream that cannot continue a trailing assistant message. */
#define GATEWAY_CONTINUE_PROMPT                                                                         \
	"Your previous answer was cut off. Continue it exactly where it stopped, without repeating any " \
	"of it and without any preamble."

/* The canonical request to send to next so that it continues an answer of
 * which so_far (a canonical chat.completion) reached the client: the text
 * so far as a trailing assistant message (a prefill for Anthropic and
 * Gemini, {"prefix": true} for DeepSeek and Mistral, else followed by
 * GATEWAY_CONTINUE_PROMPT). Trailing whitespace is taken off the prefill
 * and returned in *pending_ws (caller frees; NULL if none). Returns a new
 * object owned by the caller, or NULL when the answer cannot be continued
 * (a tool call had started). */
json_object *gateway_continuation_body(json_object *canon, json_object *so_far, const struct provider *next,
				       char **pending_ws);

/* Adds the token counts of prior into usage (both canonical usage
 * objects), in place. */
void gateway_usage_add(json_object *usage, json_object *prior);

/* The seam between a broken attempt and the one that continues it. */
struct gateway_resume {
	bool active;
	int continued;           /* how many times the answer was continued */
	char *pending_ws;        /* whitespace the client has that the prefill lacked */
	json_object *prior_usage; /* what the broken attempts reported; owned */
};
/* Starts a continuation: usage_so_far (borrowed, may be NULL) is added to
 * the prior usage; pending_ws is taken over. */
void gateway_resume_start(struct gateway_resume *r, json_object *usage_so_far, char *pending_ws);
/* Adjusts a chunk of the continuing answer in place (prior usage added,
 * whitespace the client has taken off); returns 1 when the chunk carries
 * nothing new for the client and is to be dropped. */
int gateway_resume_filter(struct gateway_resume *r, json_object *chunk);
void gateway_resume_clear(struct gateway_resume *r);

/* Sends the request with a blocking transfer (the CLI): the route plan's
 * candidates in turn with retries, key rotation and mid-stream
 * continuation (attempt.h). Returns
 * res->exit_code; res must be cleared with gateway_result_clear in every
 * case. */
int gateway_chat(const struct gateway_request *req, struct gateway_result *res);
void gateway_result_clear(struct gateway_result *res);

/* Builds a canonical "chat.completion" from canonical chunks: text and
 * reasoning concatenated, tool calls merged by index, finish reason and
 * usage kept. Owned by the caller; free with completion_builder_free. */
struct completion_builder;
struct completion_builder *completion_builder_new(void);
void completion_builder_add(struct completion_builder *b, json_object *chunk);
/* The completion so far; the returned object is owned by the caller. */
json_object *completion_builder_result(const struct completion_builder *b);
/* The usage seen so far, or NULL. Borrowed, valid until the next add. */
json_object *completion_builder_usage(const struct completion_builder *b);
void completion_builder_free(struct completion_builder *b);

/* Feeds a canonical "chat.completion" to cb as the chunks a stream of it
 * would have produced (content, reasoning, tool calls, finish, usage).
 * Returns the callback's first non-zero return, else 0. */
int completion_to_chunks(json_object *completion, chunk_cb cb, void *arg);

#endif
