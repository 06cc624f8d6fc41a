/* dialect-internal.h - what dialect.c shares with dialect-openai.c,
 * dialect-anthropic.c and dialect-gemini.c and nothing else: the per-dialect
 * operation table, the stream decoder's common state, the canonical chunk,
 * usage and message builders every decoder emits through, the readers of
 * the canonical request and the conversation walker every egress converter
 * builds on, and typed JSON accessors that make malformed upstream input
 * read as "absent" instead of crashing.
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
/* Emits {"tool_calls":[call]} as a delta of choice; takes ownership of call. */
int dialect_emit_tool_call(struct stream_decoder *sd, int choice, json_object *call);
/* Reads the data of one stream event (leading white space skipped) as a
 * JSON object: a new object owned by the caller, with *rc STREAM_OK. NULL
 * when there is none, with *rc STREAM_OK for blank data, STREAM_DONE for a
 * "[DONE]" marker (what it means is the caller's business) or STREAM_ERROR
 * for data that is not a JSON object, the decoder then having failed. */
json_object *dialect_event_object(struct stream_decoder *sd, const char *data, size_t len, int *rc);
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
/* Appends {"index":index,"message":message,"finish_reason":finish_reason}
 * to the choices of a dialect_completion_new object; takes ownership of
 * message. */
void dialect_completion_add_choice(json_object *completion, int64_t index, json_object *message,
                                   const char *finish_reason);
/* A canonical assistant message assembled from a whole response:
 * "content" is text when the response had any text (text non-NULL) or has
 * no tool calls ("" when text is NULL), else null; "reasoning_content" is
 * reasoning when non-empty (reasoning may be NULL); "tool_calls" is calls
 * when non-empty. Takes ownership of calls (may be NULL); the bufs stay the
 * caller's. Returns a new object owned by the caller. */
json_object *dialect_message_new(const struct buf *text, const struct buf *reasoning, json_object *calls);
/* A canonical tool call {"index":index,"id":ID,"type":"function",
 * "function":{"name":name,"arguments":arguments}}: "index" is left out when
 * index < 0, ID is id or, when id is empty, a new id_prefix id (see
 * dialect_mint_id), a NULL name reads as "". arguments is a JSON string
 * value whose reference is taken over; NULL stands for "". Returns a new
 * object owned by the caller. */
json_object *dialect_tool_call_new(int index, const char *id, const char *id_prefix, const char *name,
                                   json_object *arguments);
/* Function arguments as a canonical JSON string value: a string as is (a
 * new reference), an object or array serialised; NULL for anything else.
 * Owned by the caller. */
json_object *dialect_arguments_string(json_object *v);
/* Function arguments as an object, for dialects that want one: an object
 * as is (a new reference), a string parsed; anything else, and a string
 * that is not a JSON object (models do emit broken JSON), gives {}. Never
 * NULL; owned by the caller. */
json_object *dialect_arguments_object(json_object *v);
/* Appends the "text" string of each element of parts to out; parts that
 * are not an array add nothing. */
void dialect_join_texts(json_object *parts, struct buf *out);
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
/* The one-line message for the error a whole response carries: "TYPE:
 * MESSAGE", MESSAGE alone when the type says nothing more, or "upstream
 * returned an error" when resp holds no error dialect_error_from_json
 * reads. Owned by the caller. */
char *dialect_error_text(json_object *resp);

/* --- JSON helpers (dialect.c): every getter checks the type and returns
 * NULL/false for a missing key, a non-object parent or the wrong type. --- */

/* The member key of o if it has the given type; borrowed from o. */
json_object *dialect_json_get(json_object *o, const char *key, enum json_type type);
/* The member key of o, whatever its type, unless it is absent or null;
 * borrowed from o. */
json_object *dialect_json_value(json_object *o, const char *key);
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
/* Compact serialisation; the string is owned by the caller. */
char *dialect_json_dump(json_object *o);
/* Sets key in o to a new string of len bytes. */
void dialect_json_set_strn(json_object *o, const char *key, const char *s, size_t len);
void dialect_json_set_str(json_object *o, const char *key, const char *s);

/* --- request helpers (dialect.c) --- */

/* How a dialect lays out a conversation, for dialect_convert_messages.
 * Every callback returns a new object owned by the caller, or NULL with
 * *err set to a message (owned by the caller) that the converter reports
 * as "message N: <message>". */
struct dialect_turns {
	const char *items;          /* a turn's array member: "content" or "parts" */
	const char *assistant_role; /* role of assistant turns; user and tool turns are "user" */
	/* A text item. part is the user content part it comes from, NULL for
	 * string content, a bare string part or assistant text. */
	json_object *(*text)(const char *s, size_t len, json_object *part);
	/* The item for user content part idx of any type but "text" (type).
	 * NULL without *err for a type the dialect does not take. */
	json_object *(*media)(json_object *part, const char *type, size_t idx, char **err);
	/* The item for tool call idx of an assistant message. */
	json_object *(*tool_call)(json_object *tc, size_t idx, char **err);
	/* The item for the tool message at index i of msgs. */
	json_object *(*tool_result)(json_object *msgs, size_t i, char **err);
	/* Items for which this is true stay ahead of the others when a turn is
	 * merged into the previous one (Anthropic's tool_result blocks); may be
	 * NULL. */
	bool (*lead)(json_object *item);
};

/* Converts the canonical messages msgs into turns appended to out
 * ({"role":R,<t->items>:[...]}, consecutive turns of one role merged into
 * one), hoisting system and developer messages into system (joined with
 * "\n"). Returns 0, or -1 with *err set (owned by the caller) for a message
 * it cannot convert or when no user or assistant turn results. */
int dialect_convert_messages(json_object *msgs, const struct dialect_turns *t, json_object *out,
                             struct buf *system, char **err);
/* The image of an "image_url" content part (its url a string or
 * {"url":...}). Returns 1 for a base64 data URL, with *mime its media type
 * (owned by the caller; "image/jpg" reads as "image/jpeg") and *data the
 * base64 payload; 0 for an http(s) URL, with *data the URL and *mime NULL;
 * -1 with *err set (owned by the caller) for anything else. *data is
 * borrowed from part; idx names the part in messages. */
int dialect_image_source(json_object *part, size_t idx, char **mime, const char **data, char **err);
/* The data of a "file" content part ({"file":{"file_data":...}}): 0 with
 * *mime its media type (owned by the caller; "application/pdf" for bare
 * base64) and *data the base64 payload (borrowed from part); -1 with *err
 * set (owned by the caller) when there is no file_data, naming the dialect
 * who when the part has only a file_id. */
int dialect_file_source(json_object *part, size_t idx, const char *who, char **mime, const char **data,
                        char **err);
/* The number canon[key]: 1 and *out when present, 0 when absent or null,
 * -1 with *err set (owned by the caller) when it is not a finite number. */
int dialect_request_number(json_object *canon, const char *key, double *out, char **err);
/* The "tools" of a canonical request: 0 with *tools the array (borrowed
 * from canon) or NULL when absent, null or empty; -1 with *err set (owned by
 * the caller) when it is not an array. */
int dialect_request_tools(json_object *canon, json_object **tools, char **err);
/* The start of a declaration for function tool i of tools: a new object
 * {"name":N} with "description" added when the tool has a non-empty one,
 * owned by the caller, and *fn its "function" object (borrowed). NULL with
 * *err set (owned by the caller) for a tool of another type or without a
 * name. */
json_object *dialect_tool_decl(json_object *tools, size_t i, json_object **fn, char **err);
enum dialect_tool_choice {
	DIALECT_TOOLS_AUTO,
	DIALECT_TOOLS_NONE,
	DIALECT_TOOLS_REQUIRED,
	DIALECT_TOOLS_FUNCTION,
};
/* The "tool_choice" of a canonical request: 0 when absent or null; 1 with
 * *choice set for "auto", "none", "required", {"type":"function","function":
 * {"name":N}} (DIALECT_TOOLS_FUNCTION, *name N) or {"type":"allowed_tools",
 * "allowed_tools":{"mode":M,"tools":[...]}} (REQUIRED when M is "required",
 * else AUTO; *allowed its tools array, if any); -1 with *err set (owned by
 * the caller) for anything else. *name and *allowed are borrowed from canon
 * and NULL unless set as said. */
int dialect_request_tool_choice(json_object *canon, enum dialect_tool_choice *choice, const char **name,
                                json_object **allowed, char **err);
/* The "response_format" of a canonical request: 0 when absent or null; 1
 * with *type its type and, when that is "json_schema", *schema its
 * json_schema.schema object if any (both borrowed from canon, *schema NULL
 * otherwise); -1 with *err set (owned by the caller) when it has no type. */
int dialect_request_response_format(json_object *canon, const char **type, json_object **schema, char **err);

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
