/* ingress.h - the client side of `arouter proxy`: a client's request in
 * its own dialect (OpenAI Chat Completions, Anthropic Messages, Gemini
 * generateContent) converted to the canonical form of dialect.h, and the
 * canonical answer (a "chat.completion" object, or the stream of
 * "chat.completion.chunk" objects documented in dialect.h) re-encoded in
 * that client's dialect, errors included. The egress half lives in
 * dialect.h; wire-formats.md §4 is the mapping both halves follow.
 */
#ifndef AROUTER_INGRESS_H
#define AROUTER_INGRESS_H

#include "dialect.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

struct buf;

/* Client request body in dialect d → canonical request (a reference the
 * caller owns; release with json_object_put; treat it as read-only, since
 * for OpenAI it is body itself, shared rather than copied) or NULL with *err
 * (a one-line message, caller frees with free()). body is not modified. For Gemini, model and
 * stream come from the URL and are passed in; for the others they are read
 * from the body (model copied to "model", stream to "stream"). */
json_object *ingress_request_to_canonical(enum dialect d, json_object *body, const char *url_model,
                                          bool url_stream, char **err);

struct stream_encoder;

/* model: the name to report to the client; include_usage: OpenAI clients'
 * stream_options.include_usage (Anthropic/Gemini always carry usage).
 * Returns an encoder owned by the caller; free with stream_encoder_free.
 * model is copied. */
struct stream_encoder *stream_encoder_new(enum dialect d, const char *model, bool include_usage);

/* Appends the client-dialect SSE bytes for one canonical chunk to out (which
 * stays owned by the caller). The chunk is borrowed and not modified. Chunks
 * after the stream is over (finish or error) are ignored. */
void stream_encoder_chunk(struct stream_encoder *e, json_object *chunk, struct buf *out);

/* Appends the terminal events (OpenAI `data: [DONE]`; Anthropic closing
 * content_block_stop/message_delta/message_stop if not yet sent; Gemini the
 * final chunk with finishReason+usageMetadata if not yet sent). Idempotent. */
void stream_encoder_finish(struct stream_encoder *e, struct buf *out);

/* Appends the dialect's in-stream error (OpenAI `data: {"error":{...}}`;
 * Anthropic `event: error`; Gemini `data: {"error":{code,message,status}}`),
 * after which the stream is over. status is the HTTP-like status (429, 502,
 * 529…). message is copied. */
void stream_encoder_error(struct stream_encoder *e, int status, const char *message, struct buf *out);

/* NULL is allowed. */
void stream_encoder_free(struct stream_encoder *e);
/* OpenAI: the id (and created, 0 if unknown) the client's stream already
 * has, from a passed-through upstream, for every chunk from here on. */
void stream_encoder_adopt_id(struct stream_encoder *e, const char *id, int64_t created);
/* Takes over a stream whose start the client already has from a passed-
 * through upstream (Anthropic: message_start sent, next_index blocks
 * started, open_index open and whether it is text; see
 * stream_decoder_block_position), so that what follows continues it. */
void stream_encoder_resume(struct stream_encoder *e, int64_t next_index, int64_t open_index, bool open_is_text,
			   struct buf *out);

/* Canonical "chat.completion" → the client's whole-response JSON (new
 * object, caller owns; release with json_object_put). completion is
 * borrowed and not modified. model: the name to report. */
json_object *ingress_response_from_canonical(enum dialect d, json_object *completion, const char *model);

/* The client-dialect error body (JSON text, caller frees with free()) and
 * the HTTP status to send in *http_status, for an error of `status` with
 * `message`; kind is an optional OpenAI-style type hint
 * ("invalid_request_error", "authentication_error", "rate_limit_error", …)
 * or NULL to derive from status. OpenAI {"error":{"message","type",
 * "param":null,"code"}}; Anthropic {"type":"error","error":{"type",
 * "message"}} (529 overloaded_error kept as 529); Gemini {"error":{"code",
 * "message","status"}}. For OpenAI and Gemini clients a 529 becomes 503. */
/* The OpenAI error "type" for an HTTP status (authentication_error,
 * permission_error, not_found_error, rate_limit_error, server_error,
 * invalid_request_error). Static. */
const char *ingress_openai_type_for_status(int status);

char *ingress_error_body(enum dialect d, int status, const char *kind, const char *message, int *http_status);

/* ---- between ingress.c and ingress-<dialect>.c only ---- */

/* Per-dialect stream encoder state. new copies model; the state is owned by
 * the encoder and released with state_free. chunk/finish are not called
 * once the stream is over. */
struct ingress_encoder_ops {
	void *(*state_new)(const char *model);
	void (*chunk)(void *state, json_object *chunk, struct buf *out);
	/* optional: take over a stream the client got from elsewhere */
	void (*resume)(void *state, int64_t next_index, int64_t open_index, bool open_is_text, struct buf *out);
	void (*finish)(void *state, struct buf *out);
	void (*state_free)(void *state);
};
extern const struct ingress_encoder_ops ingress_anthropic_encoder;
extern const struct ingress_encoder_ops ingress_gemini_encoder;

json_object *ingress_anthropic_request(json_object *body, char **err);
json_object *ingress_gemini_request(json_object *body, const char *model, bool stream, char **err);
json_object *ingress_anthropic_response(json_object *completion, const char *model);
json_object *ingress_gemini_response(json_object *completion, const char *model);

/* The token counts of a canonical usage object; all 0 when u is not one. */
struct ingress_usage {
	long long prompt, completion, total, cached, reasoning, cache_write;
	bool have_cache_write;
};
void ingress_usage_read(json_object *u, struct ingress_usage *out);
/* "reasoning_effort" for a thinking budget in tokens (Anthropic
 * budget_tokens, Gemini thinkingBudget): low, medium or high. Static. */
const char *ingress_effort_for_budget(long long budget);

/* Appends o (borrowed) serialised as one SSE event, with an "event:" line
 * when event is not NULL, to out. */
void ingress_write_json(struct buf *out, const char *event, json_object *o);

/* Canonical pieces both request converters build (ingress.c). Every
 * json_object returned is new and owned by the caller; strings passed in
 * are copied. */

/* A new string holding the bytes of the JSON string s (NULs and all). */
json_object *ingress_string_copy(json_object *s);
/* Sets key in o to id, or to a new dialect_mint_id(prefix) when id is NULL
 * or empty. */
void ingress_set_id(json_object *o, const char *key, const char *id, const char *prefix);
/* {"type":"text","text":<len bytes of s>}. */
json_object *ingress_text_part(const char *s, size_t len);
/* {"type":"image_url","image_url":{"url":url}}. */
json_object *ingress_image_url_part(const char *url);
/* {"type":"file","file":{"filename":filename,"file_data":data_url}}. */
json_object *ingress_file_part(const char *filename, const char *data_url);
/* Appends {"role":role,"content":<len bytes of text>} to messages (text
 * may be NULL when len is 0). */
void ingress_add_text_message(json_object *messages, const char *role, const char *text, size_t len);
/* Appends {"role":"user","content":parts} to messages unless parts (an
 * array) is empty; a lone text part becomes plain string content. parts
 * stays the caller's: the message takes a reference of its own. */
void ingress_add_user_message(json_object *messages, json_object *parts);
/* {"role":"tool","tool_call_id":id,"content":<len bytes of content>}
 * (content may be NULL when len is 0). */
json_object *ingress_tool_message(const char *id, const char *content, size_t len);
/* A canonical tool call without "index" (dialect_tool_call_new): an empty
 * id is minted as "call_…", and the arguments are args serialised, "{}"
 * when args is NULL. args is borrowed. */
json_object *ingress_tool_call(const char *id, const char *name, json_object *args);
/* {"name":name,"description":desc,"parameters":params}: no description
 * when desc is NULL; params (ownership taken) {"type":"object",
 * "properties":{}} when NULL. */
json_object *ingress_function_decl(const char *name, const char *desc, json_object *params);
/* {"type":"function","function":fn}, as in tools and tool_choice; takes
 * ownership of fn. */
json_object *ingress_function(json_object *fn);
/* Sets "response_format" in r to {"type":"json_schema","json_schema":
 * {"name":"response","schema":schema}}; takes ownership of schema. */
void ingress_set_json_schema(json_object *r, json_object *schema);

#endif
