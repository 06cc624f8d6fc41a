/* dialect-internal.h - what dialect.c shares with dialect-openai.c,
 * dialect-anthropic.c and dialect-gemini.c and nothing else: the per-dialect
 * operation table, the stream decoder's common state, the canonical chunk
 * and usage builders every decoder emits through, and typed JSON accessors
 * that make malformed upstream input read as "absent" instead of crashing.
 *
 * Not part of the public interface; only the dialect-*.c files and the unit
 * tests include it.
 */
#ifndef AROUTER_DIALECT_INTERNAL_H
#define AROUTER_DIALECT_INTERNAL_H

#include "dialect.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* One dialect's converters. The decoder functions see the shared
 * struct stream_decoder; their private state hangs off sd->state. */
struct dialect_ops {
	const char *name;
	json_object *(*build_request)(json_object *canon, const struct egress_opts *o, char **err);
	json_object *(*response_to_canonical)(json_object *resp, const char *model, char **err);
	/* Returns the private decoder state (owned by the decoder). */
	void *(*decoder_state_new)(void);
	void (*decoder_state_free)(void *state);
	/* Called only while the decoder is neither done nor failed. */
	int (*decoder_event)(struct stream_decoder *sd, const char *event, const char *data, size_t len);
	int (*decoder_finish)(struct stream_decoder *sd);
};

extern const struct dialect_ops dialect_openai_ops;
extern const struct dialect_ops dialect_anthropic_ops;
extern const struct dialect_ops dialect_gemini_ops;

/* Bits for per-choice flags; choices beyond this many are still decoded but
 * do not get the role/finish bookkeeping (no real upstream sends 64). */
#define DIALECT_MAX_TRACKED_CHOICES 64

struct stream_decoder {
	enum dialect dialect;
	const struct dialect_ops *ops;
	chunk_cb cb;
	void *arg;
	char *id;             /* NULL until the upstream names one or the first chunk mints one */
	char *model;          /* the caller's name until the upstream reports its own */
	int64_t created;      /* 0 until the upstream reports it or the first chunk is emitted */
	uint64_t role_sent;   /* bit per choice: "role":"assistant" already emitted */
	uint64_t finish_sent; /* bit per choice: a finish_reason chunk already emitted */
	json_object *usage;   /* canonical usage, the last the upstream reported; owned */
	bool usage_sent;
	bool done;   /* the terminal event was seen; later events are ignored */
	bool failed; /* a STREAM_ERROR was returned; later events return it again */
	char *error; /* message of the last STREAM_ERROR; owned */
	int error_status;
	void *state; /* per-dialect; owned, freed with ops->decoder_state_free */
};

/* --- emitting canonical chunks (dialect.c) ---
 * Each returns 0 or the callback's non-zero value, which the caller must
 * pass back out of stream_decoder_event unchanged. */

/* Emits {"choices":[{"index":choice,"delta":delta,"finish_reason":null}]}.
 * Takes ownership of delta. Adds "role":"assistant" to the first delta of
 * each choice. An empty delta is not emitted unless it is that first one. */
int dialect_emit_delta(struct stream_decoder *sd, int choice, json_object *delta);
/* Emits one text delta under field ("content" or "reasoning_content");
 * empty text is skipped. */
int dialect_emit_text(struct stream_decoder *sd, int choice, const char *field, const char *text, size_t len);
/* Emits a chunk with an empty delta and finish_reason reason, once per choice. */
int dialect_emit_finish(struct stream_decoder *sd, int choice, const char *reason);
/* Emits the usage chunk ("choices":[]) once, if any usage was recorded. */
int dialect_emit_usage(struct stream_decoder *sd);
/* Replaces the recorded usage; takes ownership of usage (may be NULL). */
void dialect_set_usage(struct stream_decoder *sd, json_object *usage);
/* Records the upstream's id/model/created; empty or absent values are ignored
 * and the id never changes once chosen. */
void dialect_note_id(struct stream_decoder *sd, const char *id);
void dialect_note_model(struct stream_decoder *sd, const char *model);
void dialect_note_created(struct stream_decoder *sd, int64_t created);
/* Marks the decoder failed with a one-line message and status; returns
 * STREAM_ERROR. */
int dialect_fail(struct stream_decoder *sd, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Fails the decoder with the error carried in an upstream event (any of the
 * shapes dialect_error_from_json reads): message "TYPE: MESSAGE" and the
 * status its numeric code or type maps to (500 if neither says). */
int dialect_fail_event(struct stream_decoder *sd, json_object *event);

/* --- canonical objects (dialect.c) --- */

/* A canonical usage object. cache_write < 0 leaves out
 * prompt_tokens_details.cache_write_tokens. Owned by the caller. */
json_object *dialect_usage_new(int64_t prompt, int64_t completion, int64_t total, int64_t cached,
                               int64_t reasoning, int64_t cache_write);
/* Normalises an OpenAI-shaped usage object (any provider's) into the
 * canonical shape, keeping its extra fields. NULL if u is not an object.
 * Owned by the caller. */
json_object *dialect_usage_from_openai(json_object *u);
/* A new "chat.completion" skeleton with id (minted when NULL/empty), created
 * (now when <= 0), model and an empty choices array. Owned by the caller. */
json_object *dialect_completion_new(const char *id, int64_t created, const char *model);
/* prefix ("chatcmpl-", "call_") followed by 24 random hex digits; owned by
 * the caller. */
char *dialect_mint_id(const char *prefix);
/* Fills out with 2*nbytes lowercase hex digits and a NUL (not for secrets). */
void dialect_random_hex(char *out, size_t nbytes);

/* Maps an error type/status/code word from any dialect ("overloaded_error",
 * "RESOURCE_EXHAUSTED", "rate_limit_exceeded") to an HTTP status; 0 if unknown. */
int dialect_error_status_for_type(const char *type);
/* Reads {"error":{...}} / {"type":"error","error":{...}} / Mistral's flat
 * {"object":"error",...} / {"error":"text"}. Sets *type (may be NULL) and
 * *message (never NULL when it returns true), both owned by the caller, and
 * *code to a numeric error.code or 0. Returns false if obj has no error. */
bool dialect_error_from_json(json_object *obj, char **type, char **message, int *code);

/* --- JSON helpers (dialect.c): every getter checks the type and returns
 * NULL/false for a missing key, a non-object parent or the wrong type. --- */

/* The member key of o if it has the given type; borrowed from o. */
json_object *dialect_json_get(json_object *o, const char *key, enum json_type type);
/* The string value (owned by o), or NULL. */
const char *dialect_json_str(json_object *o, const char *key);
/* Integers, and doubles with an integral value. */
bool dialect_json_int(json_object *o, const char *key, int64_t *out);
bool dialect_json_num(json_object *o, const char *key, double *out);
/* A token count: a non-negative integer, capped at DIALECT_MAX_COUNT so
 * that sums of a few counts cannot overflow. Negative values read as
 * absent. */
#define DIALECT_MAX_COUNT ((int64_t)1 << 50)
bool dialect_json_count(json_object *o, const char *key, int64_t *out);
bool dialect_json_bool(json_object *o, const char *key, bool *out);
/* The value itself, typed as above. */
bool dialect_json_as_int(json_object *v, int64_t *out);
/* Parses exactly len bytes as one JSON value (surrounding whitespace
 * allowed). Returns a new object owned by the caller, or NULL. */
json_object *dialect_json_parse(const char *data, size_t len);
/* Compact serialisation; the string is owned by the caller. */
char *dialect_json_dump(json_object *o);
/* Sets key in o to a new string of len bytes. */
void dialect_json_set_strn(json_object *o, const char *key, const char *s, size_t len);
void dialect_json_set_str(json_object *o, const char *key, const char *s);

/* --- request helpers (dialect.c) --- */

/* Appends the text of a system/developer/tool message content (a string or
 * an array of text parts) to out, parts joined with nothing. Returns 0, or
 * -1 with *err set (owned by the caller) for a non-text part or wrong type. */
int dialect_content_text(json_object *content, struct buf *out, const char *what, char **err);
/* Splits "data:<mime>;base64,<payload>". On success returns 0, sets *mime to
 * a new string (owned by the caller; "application/octet-stream" if none)
 * and *payload to the base64 text inside url. -1 if url is not a base64
 * data URL. */
int dialect_parse_data_url(const char *url, char **mime, const char **payload);
/* The max_completion_tokens / max_tokens of a canonical request: 1 and *out
 * when present, 0 when absent, -1 with *err set for a wrong type. */
int dialect_request_max_tokens(json_object *canon, int64_t *out, char **err);
/* The "stop" field as a new array of non-empty strings (NULL when absent or
 * empty); -1 with *err for a wrong type. *out is owned by the caller. */
int dialect_request_stop(json_object *canon, json_object **out, char **err);
/* The thinking budget in tokens for a reasoning_effort value: 0 for "none",
 * -1 for an unknown value (caller picks its default). */
long dialect_effort_budget(const char *effort);
/* The assistant tool call in canon's messages before message index before
 * whose id is id, or NULL. Borrowed from canon. */
json_object *dialect_find_tool_call(json_object *messages, size_t before, const char *id);

#endif
