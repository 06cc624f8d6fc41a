/* dialect.h - the three wire formats (OpenAI Chat Completions, Anthropic
 * Messages, Gemini generateContent) as seen from the canonical form.
 *
 * The canonical form is OpenAI Chat Completions JSON held as json-c objects:
 * a request is a chat.completions request body, a whole answer is a
 * "chat.completion" object and a streamed answer is a sequence of
 * "chat.completion.chunk" objects. Every dialect converts the canonical
 * request into its own request body (egress) and converts its responses and
 * stream events back into canonical objects (decoders).
 *
 * Canonical chunks produced by the decoders always have this shape:
 *   {"id":ID,"object":"chat.completion.chunk","created":T,"model":M,
 *    "choices":[{"index":0,"delta":{...},"finish_reason":null|R}]}
 * where delta holds any of "role":"assistant", "content":TEXT,
 * "reasoning_content":TEXT, "tool_calls":[{"index":I,"id":ID,"type":"function",
 * "function":{"name":N,"arguments":FRAGMENT}}] (id/type/name only on the first
 * delta of a tool call), and R is one of "stop", "length", "tool_calls",
 * "content_filter". Usage arrives as one extra chunk with "choices":[] and
 *   "usage":{"prompt_tokens","completion_tokens","total_tokens",
 *            "prompt_tokens_details":{"cached_tokens"},
 *            "completion_tokens_details":{"reasoning_tokens"}}
 * emitted once, after the finish reason, when the upstream reported usage.
 * Token counts are exactly what the upstream reported, mapped as in
 * shared/reference/wire-formats.md §4.5 (never estimated).
 */
#ifndef AROUTER_DIALECT_H
#define AROUTER_DIALECT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

enum dialect {
	DIALECT_OPENAI,
	DIALECT_ANTHROPIC,
	DIALECT_GEMINI,
};
#define DIALECT_COUNT 3

/* "openai", "anthropic", "gemini". */
const char *dialect_name(enum dialect d);
/* Returns 0 and sets *out for a known name, else -1. */
int dialect_from_name(const char *name, enum dialect *out);

/* Options for building an upstream request. */
struct egress_opts {
	const char *model;      /* the model name the upstream expects (no provider prefix) */
	bool stream;            /* ask for a streamed answer */
	long default_max_tokens; /* Anthropic requires max_tokens; used when the request has none */
};

/* Parses exactly len bytes as one JSON value (surrounding whitespace
 * allowed): strict JSON with json_read, anything json-c's lax tokener
 * reads (comments, NaN, invalid UTF-8, ...) with that. Returns a new
 * object owned by the caller, or NULL. */
json_object *dialect_json_parse(const char *data, size_t len);
/* This thread's tokener, reset, for a parse that needs its own handling of
 * what follows the value. Valid until the thread's next parse. */
json_tokener *dialect_json_tokener(void);

/* Builds the upstream request body for dialect d from the canonical request
 * canon (which is not modified). For OpenAI the result is a deep copy with
 * "model" and "stream" set (unknown fields kept, and "stream_options":
 * {"include_usage":true} added when streaming so that usage is reported).
 * Returns a new object owned by the caller (release with json_object_put),
 * or NULL with *err set to a one-line message owned by the caller (free()). */
json_object *dialect_build_request(enum dialect d, json_object *canon, const struct egress_opts *o,
				   char **err);

/* Converts a whole (non-streamed) upstream response body into a canonical
 * "chat.completion" object with "usage" when the upstream reported it.
 * model is the name to report when the response carries none. Returns a new
 * object owned by the caller, or NULL with *err set (caller frees). */
json_object *dialect_response_to_canonical(enum dialect d, json_object *resp, const char *model,
					   char **err);

/* Called once per canonical chunk. The chunk is borrowed: it is released
 * after the callback returns, so take a reference (json_object_get) to keep
 * it. A non-zero return stops decoding; stream_decoder_event returns it. */
typedef int (*chunk_cb)(json_object *chunk, void *arg);

enum {
	STREAM_OK = 0,
	STREAM_DONE = 1,    /* the dialect's terminal event was seen */
	STREAM_ERROR = -1,  /* an in-stream error event, or an event we cannot read */
};

struct stream_decoder;

/* Returns a decoder for the SSE events of dialect d. model is reported in
 * chunks until the upstream names its own. Owned by the caller; free with
 * stream_decoder_free. */
struct stream_decoder *stream_decoder_new(enum dialect d, const char *model, chunk_cb cb, void *arg);

/* Feeds one SSE event (event is the "event:" name or NULL; data is the
 * joined "data:" payload, not NUL-terminated). Returns STREAM_OK,
 * STREAM_DONE, STREAM_ERROR (see stream_decoder_error), or the callback's
 * non-zero return. Events after STREAM_DONE are ignored. */
int stream_decoder_event(struct stream_decoder *sd, const char *event, const char *data, size_t len);

/* Called when the upstream connection ends. Emits whatever the dialect
 * implies at end of stream (Gemini has no terminator, so its final finish
 * reason and usage chunk come out here). Returns STREAM_DONE when the
 * stream ended properly, STREAM_ERROR when it was cut short (no terminal
 * event for OpenAI/Anthropic, no finish reason for Gemini). */
int stream_decoder_finish(struct stream_decoder *sd);

/* The message of the last STREAM_ERROR, e.g. "overloaded_error: Overloaded";
 * NULL if none. Owned by the decoder. */
const char *stream_decoder_error(const struct stream_decoder *sd);
/* The HTTP-like status an in-stream error maps to (e.g. 529 for Anthropic
 * overloaded_error, 429 for rate limits), 0 if none. */
int stream_decoder_error_status(const struct stream_decoder *sd);

void stream_decoder_free(struct stream_decoder *sd);
/* The usage the upstream has reported so far (Anthropic's prompt count
 * from message_start, Gemini's running usageMetadata), or NULL; canonical,
 * borrowed until the next event. */
json_object *stream_decoder_usage(const struct stream_decoder *sd);
/* The response id the upstream gave (NULL if none yet) and its created
 * time (0 if none). Borrowed. */
const char *stream_decoder_id(const struct stream_decoder *sd, int64_t *created);
/* For an Anthropic stream: how many content blocks the upstream started
 * (*next_index), the one open now (*open_index, -1 if none) and whether it
 * is text. False for the other dialects. */
bool stream_decoder_block_position(const struct stream_decoder *sd, int64_t *next_index, int64_t *open_index,
				   bool *open_is_text);

/* An upstream error, normalised. */
struct upstream_error {
	int status;     /* HTTP status as received */
	char *type;     /* dialect error type or code ("rate_limit_error", "RESOURCE_EXHAUSTED"), may be NULL */
	char *message;  /* human-readable, one line, never NULL after parsing */
};

/* Reads an upstream error body of any dialect shape (OpenAI, Anthropic,
 * Gemini, Mistral's flat form, OpenRouter's numeric code) and fills out.
 * A body that is not JSON (an HTML error page) yields a short message
 * naming the status and the content ("502 upstream returned HTML"). The
 * strings in out are owned by out; release with upstream_error_clear. */
void upstream_error_parse(int status, const char *body, size_t len, struct upstream_error *out);
void upstream_error_clear(struct upstream_error *e);

#endif
