/* dialect.c - the dialect-independent half of dialect.h: names, dispatch to
 * the per-dialect converters, the stream decoder's lifecycle, canonical
 * chunk/usage/message construction shared by every decoder, upstream error
 * bodies, the canonical-request readers and conversation walker the egress
 * converters share, and the typed JSON helpers declared in
 * dialect-internal.h. */
#include "config.h"

#include "dialect-internal.h"

#include "buf.h"
#include "jsonr.h"
#include "jsonw.h"
#include "util.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Longest message upstream_error_parse keeps; long enough for any real API
 * error, short enough for one terminal line. */
#define ERROR_MESSAGE_MAX 300

static const struct dialect_ops *const ops_table[DIALECT_COUNT] = {
    [DIALECT_OPENAI] = &dialect_openai_ops,
    [DIALECT_ANTHROPIC] = &dialect_anthropic_ops,
    [DIALECT_GEMINI] = &dialect_gemini_ops,
};

static const struct dialect_ops *ops_for(enum dialect d)
{
	if ((unsigned)d >= DIALECT_COUNT)
		return NULL;
	return ops_table[d];
}

const char *dialect_name(enum dialect d)
{
	const struct dialect_ops *ops = ops_for(d);
	return ops ? ops->name : "unknown";
}

int dialect_from_name(const char *name, enum dialect *out)
{
	if (!name)
		return -1;
	for (int i = 0; i < DIALECT_COUNT; i++) {
		if (strcmp(ops_table[i]->name, name) == 0) {
			if (out)
				*out = (enum dialect)i;
			return 0;
		}
	}
	return -1;
}

static void set_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(char **err, const char *fmt, ...)
{
	if (!err)
		return;
	va_list ap;
	va_start(ap, fmt);
	*err = xvasprintf(fmt, ap);
	va_end(ap);
}

/* Clears *err and returns the converters of d; NULL with *err set for an
 * unknown dialect. */
static const struct dialect_ops *ops_or_fail(enum dialect d, char **err)
{
	if (err)
		*err = NULL;
	const struct dialect_ops *ops = ops_for(d);
	if (!ops)
		set_err(err, "unknown dialect");
	return ops;
}

/* What a converter returned: r, or NULL with the converter's message e
 * (or "cannot VERB NAME NOUN" when it left none) handed to *err. Takes e. */
static json_object *converted(json_object *r, char *e, char **err, const char *verb, const char *name,
                              const char *noun)
{
	if (!r && !e)
		e = xasprintf("cannot %s %s %s", verb, name, noun);
	if (!r && err) {
		*err = e;
		return NULL;
	}
	free(e);
	return r;
}

json_object *dialect_build_request(enum dialect d, json_object *canon, const struct egress_opts *o,
                                   char **err)
{
	const struct dialect_ops *ops = ops_or_fail(d, err);
	if (!ops)
		return NULL;
	if (!o) {
		set_err(err, "no request options");
		return NULL;
	}
	if (!json_object_is_type(canon, json_type_object)) {
		set_err(err, "request body is not a JSON object");
		return NULL;
	}
	if (!dialect_json_get(canon, "messages", json_type_array)) {
		set_err(err, "request has no \"messages\" array");
		return NULL;
	}
	char *e = NULL;
	json_object *r = ops->build_request(canon, o, &e);
	return converted(r, e, err, "build", ops->name, "request");
}

json_object *dialect_response_to_canonical(enum dialect d, json_object *resp, const char *model, char **err)
{
	const struct dialect_ops *ops = ops_or_fail(d, err);
	if (!ops)
		return NULL;
	if (!json_object_is_type(resp, json_type_object)) {
		set_err(err, "%s response is not a JSON object", ops->name);
		return NULL;
	}
	char *e = NULL;
	json_object *r = ops->response_to_canonical(resp, model ? model : "", &e);
	return converted(r, e, err, "read", ops->name, "response");
}

/* ---------- stream decoder lifecycle ---------- */

struct stream_decoder *stream_decoder_new(enum dialect d, const char *model, chunk_cb cb, void *arg)
{
	const struct dialect_ops *ops = ops_for(d);
	if (!ops)
		return NULL;
	struct stream_decoder *sd = xcalloc(1, sizeof *sd);
	sd->dialect = d;
	sd->ops = ops;
	sd->cb = cb;
	sd->arg = arg;
	sd->model = xstrdup(model ? model : "");
	sd->state = ops->decoder_state_new();
	return sd;
}

/* STREAM_ERROR or STREAM_DONE when sd takes no more input, else STREAM_OK. */
static int decoder_closed(const struct stream_decoder *sd)
{
	if (!sd || sd->failed)
		return STREAM_ERROR;
	return sd->done ? STREAM_DONE : STREAM_OK;
}

int stream_decoder_event(struct stream_decoder *sd, const char *event, const char *data, size_t len)
{
	int rc = decoder_closed(sd);
	if (rc != STREAM_OK)
		return rc;
	if (!data)
		len = 0;
	return sd->ops->decoder_event(sd, event, data ? data : "", len);
}

int stream_decoder_finish(struct stream_decoder *sd)
{
	int rc = decoder_closed(sd);
	return rc != STREAM_OK ? rc : sd->ops->decoder_finish(sd);
}

const char *stream_decoder_error(const struct stream_decoder *sd)
{
	return sd ? sd->error : NULL;
}

int stream_decoder_error_status(const struct stream_decoder *sd)
{
	return sd && sd->error ? sd->error_status : 0;
}

void stream_decoder_free(struct stream_decoder *sd)
{
	if (!sd)
		return;
	if (sd->ops && sd->state)
		sd->ops->decoder_state_free(sd->state);
	json_object_put(sd->usage);
	free(sd->id);
	free(sd->model);
	free(sd->error);
	free(sd);
}

/* ---------- canonical chunks ---------- */

static uint64_t choice_bit(int choice)
{
	if (choice < 0 || choice >= DIALECT_MAX_TRACKED_CHOICES)
		return 0;
	return (uint64_t)1 << choice;
}

static json_object *chunk_new(struct stream_decoder *sd)
{
	/* The id and created time are fixed by the first chunk out, so every
	 * chunk of one answer carries the same pair. */
	if (!sd->id)
		sd->id = dialect_mint_id("chatcmpl-");
	if (sd->created <= 0)
		sd->created = (int64_t)time(NULL);
	json_object *c = json_object_new_object();
	json_object_object_add(c, "id", json_object_new_string(sd->id));
	json_object_object_add(c, "object", json_object_new_string("chat.completion.chunk"));
	json_object_object_add(c, "created", json_object_new_int64(sd->created));
	json_object_object_add(c, "model", json_object_new_string(sd->model));
	return c;
}

static int deliver(struct stream_decoder *sd, json_object *chunk)
{
	int rc = sd->cb ? sd->cb(chunk, sd->arg) : 0;
	json_object_put(chunk);
	return rc;
}

static int emit_choice(struct stream_decoder *sd, int choice, json_object *delta, const char *finish)
{
	json_object *c = chunk_new(sd);
	json_object *choices = json_object_new_array();
	json_object *ch = json_object_new_object();
	json_object_object_add(ch, "index", json_object_new_int(choice));
	json_object_object_add(ch, "delta", delta);
	json_object_object_add(ch, "finish_reason", finish ? json_object_new_string(finish) : NULL);
	json_object_array_add(choices, ch);
	json_object_object_add(c, "choices", choices);
	return deliver(sd, c);
}

int dialect_emit_delta(struct stream_decoder *sd, int choice, json_object *delta)
{
	if (!delta)
		delta = json_object_new_object();
	uint64_t bit = choice_bit(choice);
	bool first = bit && !(sd->role_sent & bit);
	if (first) {
		/* The role leads the delta, as OpenAI sends it. */
		json_object *d = json_object_new_object();
		json_object_object_add(d, "role", json_object_new_string("assistant"));
		json_object_object_foreach (delta, k, v) {
			if (strcmp(k, "role") != 0)
				json_object_object_add(d, k, json_object_get(v));
		}
		json_object_put(delta);
		delta = d;
		sd->role_sent |= bit;
	} else {
		json_object_object_del(delta, "role");
		/* "content":"" only means something on the opening chunk. */
		json_object *c = dialect_json_get(delta, "content", json_type_string);
		if (c && json_object_get_string_len(c) == 0)
			json_object_object_del(delta, "content");
		if (json_object_object_length(delta) == 0) {
			json_object_put(delta);
			return 0;
		}
	}
	return emit_choice(sd, choice, delta, NULL);
}

int dialect_emit_text(struct stream_decoder *sd, int choice, const char *field, const char *text, size_t len)
{
	if (!text || len == 0)
		return 0;
	json_object *d = json_object_new_object();
	dialect_json_set_strn(d, field, text, len);
	return dialect_emit_delta(sd, choice, d);
}

int dialect_emit_finish(struct stream_decoder *sd, int choice, const char *reason)
{
	uint64_t bit = choice_bit(choice);
	if (bit && (sd->finish_sent & bit))
		return 0;
	sd->finish_sent |= bit;
	json_object *delta = json_object_new_object();
	/* An answer with no content at all (a blocked prompt) still opens
	 * with the role, as every OpenAI stream does. */
	if (bit && !(sd->role_sent & bit)) {
		dialect_json_set_str(delta, "role", "assistant");
		sd->role_sent |= bit;
	}
	return emit_choice(sd, choice, delta, reason ? reason : "stop");
}

int dialect_emit_tool_call(struct stream_decoder *sd, int choice, json_object *call)
{
	json_object *calls = json_object_new_array();
	json_object_array_add(calls, call);
	json_object *d = json_object_new_object();
	json_object_object_add(d, "tool_calls", calls);
	return dialect_emit_delta(sd, choice, d);
}

int dialect_emit_usage(struct stream_decoder *sd)
{
	if (!sd->usage || sd->usage_sent)
		return 0;
	sd->usage_sent = true;
	json_object *c = chunk_new(sd);
	json_object_object_add(c, "choices", json_object_new_array());
	json_object_object_add(c, "usage", json_object_get(sd->usage));
	return deliver(sd, c);
}

void dialect_set_usage(struct stream_decoder *sd, json_object *usage)
{
	if (!usage)
		return;
	json_object_put(sd->usage);
	sd->usage = usage;
}

void dialect_note_id(struct stream_decoder *sd, const char *id)
{
	if (!sd->id && !str_empty(id))
		sd->id = xstrdup(id);
}

void dialect_note_model(struct stream_decoder *sd, const char *model)
{
	if (str_empty(model) || strcmp(model, sd->model) == 0)
		return;
	free(sd->model);
	sd->model = xstrdup(model);
}

void dialect_note_created(struct stream_decoder *sd, int64_t created)
{
	if (sd->created <= 0 && created > 0)
		sd->created = created;
}

/* Collapses whitespace and control characters to single spaces, trims, and
 * truncates to max bytes on a UTF-8 boundary with an ellipsis, so a message
 * always fits on one line. Returns a new string owned by the caller. */
static char *one_line(const char *s, size_t len, size_t max)
{
	struct buf b = BUF_INIT;
	bool space = false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == ' ') {
			space = b.len > 0;
			continue;
		}
		if (space) {
			buf_putc(&b, ' ');
			space = false;
		}
		buf_putc(&b, (char)c);
	}
	if (b.len > max) {
		size_t cut = max;
		while (cut > 0 && ((unsigned char)b.data[cut] & 0xc0) == 0x80)
			cut--;
		b.len = cut;
		b.data[cut] = '\0';
		while (b.len > 0 && b.data[b.len - 1] == ' ')
			b.data[--b.len] = '\0';
		buf_puts(&b, "…");
	}
	return buf_steal(&b);
}

int dialect_fail(struct stream_decoder *sd, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	free(sd->error);
	sd->error = one_line(m, strlen(m), ERROR_MESSAGE_MAX);
	free(m);
	sd->error_status = status;
	sd->failed = true;
	return STREAM_ERROR;
}

/* "TYPE: MESSAGE", or MESSAGE alone when type is NULL or the same; owned
 * by the caller. */
static char *error_line(const char *type, const char *msg)
{
	return type && strcmp(type, msg) != 0 ? xasprintf("%s: %s", type, msg) : xstrdup(msg);
}

int dialect_fail_event(struct stream_decoder *sd, json_object *event)
{
	char *type = NULL, *msg = NULL;
	int code = 0;
	if (!dialect_error_from_json(event, &type, &msg, &code))
		return dialect_fail(sd, 502, "upstream sent an unreadable error event");
	int status = code ? code : dialect_error_status_for_type(type);
	if (!status)
		status = 500;
	char *line = error_line(type, msg);
	int rc = dialect_fail(sd, status, "%s", line);
	free(line);
	free(type);
	free(msg);
	return rc;
}

json_object *dialect_event_object(struct stream_decoder *sd, const char *data, size_t len, int *rc)
{
	while (len > 0 && isspace((unsigned char)data[0])) {
		data++;
		len--;
	}
	*rc = STREAM_OK;
	if (len == 0)
		return NULL;
	if (len >= 6 && memcmp(data, "[DONE]", 6) == 0) {
		*rc = STREAM_DONE;
		return NULL;
	}
	json_object *o = dialect_json_parse(data, len);
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		*rc = dialect_fail(sd, 502, "upstream sent an unreadable stream event");
		return NULL;
	}
	return o;
}

/* ---------- canonical objects ---------- */

json_object *dialect_usage_new(int64_t prompt, int64_t completion, int64_t total, int64_t cached,
                               int64_t reasoning, int64_t cache_write)
{
	json_object *u = json_object_new_object();
	json_object_object_add(u, "prompt_tokens", json_object_new_int64(prompt));
	json_object_object_add(u, "completion_tokens", json_object_new_int64(completion));
	json_object_object_add(u, "total_tokens", json_object_new_int64(total));
	json_object *pd = json_object_new_object();
	json_object_object_add(pd, "cached_tokens", json_object_new_int64(cached));
	if (cache_write >= 0)
		json_object_object_add(pd, "cache_write_tokens", json_object_new_int64(cache_write));
	json_object_object_add(u, "prompt_tokens_details", pd);
	json_object *cd = json_object_new_object();
	json_object_object_add(cd, "reasoning_tokens", json_object_new_int64(reasoning));
	json_object_object_add(u, "completion_tokens_details", cd);
	return u;
}

static json_object *details_obj(json_object *u, const char *key)
{
	json_object *d = dialect_json_get(u, key, json_type_object);
	if (!d) {
		d = json_object_new_object();
		json_object_object_add(u, key, d);
	}
	return d;
}

json_object *dialect_usage_from_openai(json_object *src)
{
	if (!json_object_is_type(src, json_type_object))
		return NULL;
	json_object *u = NULL;
	if (json_object_deep_copy(src, &u, NULL) != 0 || !u)
		return NULL;
	int64_t prompt = 0, completion = 0, total = 0, cached = 0, reasoning = 0;
	bool have_prompt = dialect_json_count(src, "prompt_tokens", &prompt);
	bool have_completion = dialect_json_count(src, "completion_tokens", &completion);
	/* Some compatible servers only report the Responses-style names. */
	if (!have_prompt)
		have_prompt = dialect_json_count(src, "input_tokens", &prompt);
	if (!have_completion)
		have_completion = dialect_json_count(src, "output_tokens", &completion);
	if (!dialect_json_count(src, "total_tokens", &total))
		total = prompt + completion;
	json_object *pd = dialect_json_get(src, "prompt_tokens_details", json_type_object);
	if (!dialect_json_count(pd, "cached_tokens", &cached))
		dialect_json_count(src, "prompt_cache_hit_tokens", &cached); /* DeepSeek */
	json_object *cd = dialect_json_get(src, "completion_tokens_details", json_type_object);
	if (!dialect_json_count(cd, "reasoning_tokens", &reasoning))
		dialect_json_count(src, "reasoning_tokens", &reasoning);
	json_object_object_add(u, "prompt_tokens", json_object_new_int64(prompt));
	json_object_object_add(u, "completion_tokens", json_object_new_int64(completion));
	json_object_object_add(u, "total_tokens", json_object_new_int64(total));
	json_object_object_add(details_obj(u, "prompt_tokens_details"), "cached_tokens",
	                       json_object_new_int64(cached));
	json_object_object_add(details_obj(u, "completion_tokens_details"), "reasoning_tokens",
	                       json_object_new_int64(reasoning));
	return u;
}

json_object *dialect_completion_new(const char *id, int64_t created, const char *model)
{
	json_object *r = json_object_new_object();
	if (str_empty(id)) {
		char *m = dialect_mint_id("chatcmpl-");
		json_object_object_add(r, "id", json_object_new_string(m));
		free(m);
	} else {
		json_object_object_add(r, "id", json_object_new_string(id));
	}
	json_object_object_add(r, "object", json_object_new_string("chat.completion"));
	json_object_object_add(r, "created",
	                       json_object_new_int64(created > 0 ? created : (int64_t)time(NULL)));
	json_object_object_add(r, "model", json_object_new_string(model ? model : ""));
	json_object_object_add(r, "choices", json_object_new_array());
	return r;
}

void dialect_completion_add_choice(json_object *completion, int64_t index, json_object *message,
                                   const char *finish_reason)
{
	json_object *ch = json_object_new_object();
	json_object_object_add(ch, "index", json_object_new_int64(index));
	json_object_object_add(ch, "message", message);
	dialect_json_set_str(ch, "finish_reason", finish_reason);
	json_object_array_add(dialect_json_get(completion, "choices", json_type_array), ch);
}

json_object *dialect_message_new(const struct buf *text, const struct buf *reasoning, json_object *calls)
{
	bool has_calls = json_object_is_type(calls, json_type_array) && json_object_array_length(calls) > 0;
	json_object *msg = json_object_new_object();
	dialect_json_set_str(msg, "role", "assistant");
	if (text)
		dialect_json_set_strn(msg, "content", buf_str(text), text->len);
	else if (!has_calls)
		dialect_json_set_str(msg, "content", "");
	else
		json_object_object_add(msg, "content", NULL);
	if (reasoning && reasoning->len > 0)
		dialect_json_set_strn(msg, "reasoning_content", reasoning->data, reasoning->len);
	if (has_calls)
		json_object_object_add(msg, "tool_calls", calls);
	else
		json_object_put(calls);
	return msg;
}

json_object *dialect_tool_call_new(int index, const char *id, const char *id_prefix, const char *name,
                                   json_object *arguments)
{
	json_object *c = json_object_new_object();
	if (index >= 0)
		json_object_object_add(c, "index", json_object_new_int(index));
	if (str_empty(id)) {
		char *m = dialect_mint_id(id_prefix);
		dialect_json_set_str(c, "id", m);
		free(m);
	} else {
		dialect_json_set_str(c, "id", id);
	}
	dialect_json_set_str(c, "type", "function");
	json_object *fn = json_object_new_object();
	dialect_json_set_str(fn, "name", name);
	json_object_object_add(fn, "arguments", arguments ? arguments : json_object_new_string(""));
	json_object_object_add(c, "function", fn);
	return c;
}

json_object *dialect_arguments_string(json_object *v)
{
	if (json_object_is_type(v, json_type_string))
		return json_object_get(v);
	if (json_object_is_type(v, json_type_object) || json_object_is_type(v, json_type_array)) {
		char *s = dialect_json_dump(v);
		json_object *r = json_object_new_string(s);
		free(s);
		return r;
	}
	return NULL;
}

json_object *dialect_arguments_object(json_object *v)
{
	if (json_object_is_type(v, json_type_object))
		return json_object_get(v);
	if (json_object_is_type(v, json_type_string)) {
		json_object *p =
		    dialect_json_parse(json_object_get_string(v), (size_t)json_object_get_string_len(v));
		if (json_object_is_type(p, json_type_object))
			return p;
		json_object_put(p);
	}
	return json_object_new_object();
}

void dialect_join_texts(json_object *parts, struct buf *out)
{
	size_t n = json_object_is_type(parts, json_type_array) ? json_object_array_length(parts) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *t =
		    dialect_json_get(json_object_array_get_idx(parts, i), "text", json_type_string);
		if (t)
			buf_append(out, json_object_get_string(t), (size_t)json_object_get_string_len(t));
	}
}

void dialect_random_hex(char *out, size_t nbytes)
{
	static __thread uint64_t fallback;
	unsigned char raw[64];
	if (nbytes > sizeof raw)
		nbytes = sizeof raw;
	ssize_t got = getrandom(raw, nbytes, GRND_NONBLOCK);
	if (got < 0 || (size_t)got != nbytes) {
		/* Ids only need to be unique, not secret: without the kernel's
		 * pool, a splitmix64 sequence seeded from the clock and pid
		 * is enough. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t x = fallback ^ ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
		             ((uint64_t)getpid() << 40);
		for (size_t i = 0; i < nbytes; i++) {
			x += 0x9e3779b97f4a7c15ULL;
			uint64_t z = x;
			z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
			z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
			raw[i] = (unsigned char)(z ^ (z >> 31));
		}
		fallback = x;
	}
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * nbytes] = '\0';
}

char *dialect_mint_id(const char *prefix)
{
	char hex[25];
	dialect_random_hex(hex, 12);
	return xasprintf("%s%s", prefix ? prefix : "", hex);
}

/* ---------- errors ---------- */

/* The vocabulary of all three dialects plus the common OpenAI-compatible
 * codes. */
static const struct {
	const char *type;
	int status;
} error_statuses[] = {
    {"ABORTED", 409},
    {"ALREADY_EXISTS", 409},
    {"CANCELLED", 499},
    {"DEADLINE_EXCEEDED", 504},
    {"FAILED_PRECONDITION", 400},
    {"INTERNAL", 500},
    {"INVALID_ARGUMENT", 400},
    {"NOT_FOUND", 404},
    {"OUT_OF_RANGE", 400},
    {"PERMISSION_DENIED", 403},
    {"RESOURCE_EXHAUSTED", 429},
    {"UNAUTHENTICATED", 401},
    {"UNAVAILABLE", 503},
    {"UNIMPLEMENTED", 501},
    {"UNKNOWN", 500},
    {"api_error", 500},
    {"authentication_error", 401},
    {"billing_error", 402},
    {"context_length_exceeded", 400},
    {"insufficient_quota", 429},
    {"internal_error", 500},
    {"internal_server_error", 500},
    {"invalid_api_key", 401},
    {"invalid_request_error", 400},
    {"not_found_error", 404},
    {"overloaded", 503},
    {"overloaded_error", 529},
    {"permission_error", 403},
    {"rate_limit_error", 429},
    {"rate_limit_exceeded", 429},
    {"request_too_large", 413},
    {"server_error", 500},
    {"service_unavailable", 503},
    {"timeout", 504},
    {"timeout_error", 504},
    {"tokens", 429},
};

int dialect_error_status_for_type(const char *type)
{
	if (str_empty(type))
		return 0;
	for (size_t i = 0; i < sizeof error_statuses / sizeof error_statuses[0]; i++)
		if (strcmp(error_statuses[i].type, type) == 0)
			return error_statuses[i].status;
	return 0;
}

bool dialect_error_from_json(json_object *obj, char **type, char **message, int *code)
{
	*type = NULL;
	*message = NULL;
	*code = 0;
	if (!json_object_is_type(obj, json_type_object))
		return false;
	json_object *e = NULL;
	json_object_object_get_ex(obj, "error", &e);
	const char *msg = NULL, *typ = NULL;
	int64_t num = 0;
	if (json_object_is_type(e, json_type_object)) {
		msg = dialect_json_str(e, "message");
		/* Gemini's status and OpenAI's type are the useful words;
		 * OpenAI's code (a string) is the fallback. */
		typ = dialect_json_str(e, "status");
		if (str_empty(typ))
			typ = dialect_json_str(e, "type");
		if (str_empty(typ))
			typ = dialect_json_str(e, "code");
		if (dialect_json_int(e, "code", &num) && num >= 100 && num <= 599)
			*code = (int)num;
		if (str_empty(msg))
			msg = dialect_json_str(e, "detail");
	} else if (json_object_is_type(e, json_type_string)) {
		msg = json_object_get_string(e);
		typ = dialect_json_str(obj, "type");
		if (typ && strcmp(typ, "error") == 0)
			typ = NULL;
	} else {
		const char *object = dialect_json_str(obj, "object");
		const char *t = dialect_json_str(obj, "type");
		bool flat = (object && strcmp(object, "error") == 0) || (t && strcmp(t, "error") == 0);
		if (!flat)
			return false;
		/* Mistral: the error fields sit at the top level. */
		msg = dialect_json_str(obj, "message");
		typ = t && strcmp(t, "error") != 0 ? t : dialect_json_str(obj, "code");
		if (str_empty(msg))
			msg = dialect_json_str(obj, "detail");
	}
	/* The type is shown beside the message (and stands for it when there
	 * is none): one line without control characters too. */
	*type = typ ? one_line(typ, strlen(typ), ERROR_MESSAGE_MAX) : NULL;
	if (str_empty(*type)) {
		free(*type);
		*type = NULL;
	}
	*message = msg ? one_line(msg, strlen(msg), ERROR_MESSAGE_MAX) : NULL;
	if (str_empty(*message)) {
		free(*message);
		*message = xstrdup(*type ? *type : "unknown error");
	}
	return true;
}

char *dialect_error_text(json_object *resp)
{
	char *type = NULL, *msg = NULL;
	int code;
	if (!dialect_error_from_json(resp, &type, &msg, &code))
		return xstrdup("upstream returned an error");
	char *line = error_line(type, msg);
	free(type);
	free(msg);
	return line;
}

static bool looks_like_html(const char *s, size_t len)
{
	size_t i = 0;
	while (i < len && isspace((unsigned char)s[i]))
		i++;
	if (i < len && s[i] == '<')
		return true;
	static const char *const marks[] = {"<html", "<HTML", "<!DOCTYPE", "<!doctype", "<body", "<head"};
	for (size_t m = 0; m < sizeof marks / sizeof marks[0]; m++)
		if (memmem(s, len, marks[m], strlen(marks[m])))
			return true;
	return false;
}

/* The text inside <title>…</title>, for naming an HTML error page without
 * dumping it; NULL if none. Owned by the caller. */
static char *html_title(const char *s, size_t len)
{
	const char *open = memmem(s, len, "<title", 6);
	if (!open)
		open = memmem(s, len, "<TITLE", 6);
	if (!open)
		return NULL;
	const char *end = s + len;
	const char *gt = memchr(open, '>', (size_t)(end - open));
	if (!gt)
		return NULL;
	const char *text = gt + 1;
	const char *close = memchr(text, '<', (size_t)(end - text));
	if (!close)
		return NULL;
	char *t = one_line(text, (size_t)(close - text), 80);
	if (!*t) {
		free(t);
		return NULL;
	}
	return t;
}

static bool printable_text(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 && c != '\n' && c != '\r' && c != '\t')
			return false;
		if (c == 0x7f)
			return false;
	}
	return true;
}

void upstream_error_parse(int status, const char *body, size_t len, struct upstream_error *out)
{
	out->status = status;
	out->type = NULL;
	out->message = NULL;
	if (!body)
		len = 0;

	json_object *j = dialect_json_parse(body, len);
	/* Gemini's non-SSE stream wraps everything, errors included, in an array. */
	json_object *obj = j;
	if (json_object_is_type(j, json_type_array) && json_object_array_length(j) > 0)
		obj = json_object_array_get_idx(j, 0);
	if (json_object_is_type(obj, json_type_object)) {
		int code = 0;
		char *type = NULL, *msg = NULL;
		if (dialect_error_from_json(obj, &type, &msg, &code)) {
			out->type = type;
			out->message = msg;
		} else {
			/* FastAPI/vLLM style {"detail": "..."} or a bare {"message": "..."}. */
			const char *m = dialect_json_str(obj, "message");
			if (str_empty(m))
				m = dialect_json_str(obj, "detail");
			if (!str_empty(m)) {
				out->message = one_line(m, strlen(m), ERROR_MESSAGE_MAX);
			} else {
				char *dump = dialect_json_dump(obj);
				char *line = one_line(dump, strlen(dump), ERROR_MESSAGE_MAX);
				out->message = xasprintf("upstream returned status %d: %s", status, line);
				free(line);
				free(dump);
			}
		}
		json_object_put(j);
		return;
	}
	json_object_put(j);

	size_t i = 0;
	while (i < len && isspace((unsigned char)body[i]))
		i++;
	if (i == len) {
		out->message = xasprintf("upstream returned status %d with an empty body", status);
	} else if (looks_like_html(body, len)) {
		char *title = html_title(body, len);
		if (title)
			out->message = xasprintf("upstream returned HTML (%d): %s", status, title);
		else
			out->message = xasprintf("upstream returned HTML (%d)", status);
		free(title);
	} else if (printable_text(body, len)) {
		char *line = one_line(body, len, ERROR_MESSAGE_MAX);
		out->message = xasprintf("upstream returned status %d: %s", status, line);
		free(line);
	} else {
		out->message = xasprintf("upstream returned an unreadable body (%d)", status);
	}
}

void upstream_error_clear(struct upstream_error *e)
{
	if (!e)
		return;
	free(e->type);
	free(e->message);
	e->type = NULL;
	e->message = NULL;
}

/* ---------- JSON helpers ---------- */

json_object *dialect_json_value(json_object *o, const char *key)
{
	json_object *v = NULL;
	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

json_object *dialect_json_get(json_object *o, const char *key, enum json_type type)
{
	json_object *v = dialect_json_value(o, key);
	return json_object_is_type(v, type) ? v : NULL;
}

const char *dialect_json_str(json_object *o, const char *key)
{
	json_object *v = dialect_json_get(o, key, json_type_string);
	return v ? json_object_get_string(v) : NULL;
}

bool dialect_json_as_int(json_object *v, int64_t *out)
{
	if (json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v);
		return true;
	}
	if (json_object_is_type(v, json_type_double)) {
		/* Range first so the cast is defined; no libm needed. */
		double d = json_object_get_double(v);
		if (d > -9e15 && d < 9e15 && (double)(int64_t)d == d) {
			*out = (int64_t)d;
			return true;
		}
	}
	return false;
}

bool dialect_json_int(json_object *o, const char *key, int64_t *out)
{
	return dialect_json_as_int(dialect_json_value(o, key), out);
}

bool dialect_json_count(json_object *o, const char *key, int64_t *out)
{
	int64_t v;
	if (!dialect_json_int(o, key, &v) || v < 0)
		return false;
	*out = v > DIALECT_MAX_COUNT ? DIALECT_MAX_COUNT : v;
	return true;
}

bool dialect_json_num(json_object *o, const char *key, double *out)
{
	json_object *v = dialect_json_value(o, key);
	if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);
		if (!isfinite(d))
			return false;
		*out = d;
		return true;
	}
	return false;
}

bool dialect_json_bool(json_object *o, const char *key, bool *out)
{
	json_object *v = dialect_json_get(o, key, json_type_boolean);
	if (!v)
		return false;
	*out = json_object_get_boolean(v);
	return true;
}

/* One tokener per thread, reused: json_tokener_new allocates more than a
 * kilobyte (its parse stack), and on a busy proxy that allocation made
 * malloc consolidate its free lists on every parse. The key only frees a
 * thread's tokener when the thread ends. */
static __thread json_tokener *thread_tok;
static pthread_key_t tok_key;
static pthread_once_t tok_once = PTHREAD_ONCE_INIT;

static void tok_release(void *p)
{
	json_tokener_free(p);
	thread_tok = NULL;
}

static void tok_key_init(void)
{
	if (pthread_key_create(&tok_key, tok_release) != 0)
		die(EXIT_FAILURE_GENERIC, "cannot create a thread key");
}

json_tokener *dialect_json_tokener(void)
{
	if (thread_tok) {
		json_tokener_reset(thread_tok);
		return thread_tok;
	}
	pthread_once(&tok_once, tok_key_init);
	thread_tok = json_tokener_new();
	if (!thread_tok || pthread_setspecific(tok_key, thread_tok) != 0) {
		fputs("arouter: out of memory\n", stderr);
		abort();
	}
	return thread_tok;
}

json_object *dialect_json_parse(const char *data, size_t len)
{
	if (!data || len == 0 || len > INT_MAX)
		return NULL;
	/* Strict JSON, which is what upstreams send, is read by json_read:
	 * faster, and right about the surrogate pairs json-c 0.16 turns into
	 * U+FFFD (U+1D800-1DFFF, U+2D800-2DFFF, ...). Anything else json-c's
	 * lax tokener is given a chance at, as before. */
	const char *err;
	json_object *o = json_read(data, len, &err);
	if (o || !err)
		return o;
	json_tokener *tok = dialect_json_tokener();
	o = json_tokener_parse_ex(tok, data, (int)len);
	if (!o && json_tokener_get_error(tok) == json_tokener_continue) {
		/* A bare scalar is only complete once the tokener sees the end. */
		o = json_tokener_parse_ex(tok, "", 1);
		if (o)
			return o;
	}
	if (o) {
		size_t end = json_tokener_get_parse_end(tok);
		for (size_t i = end; i < len; i++) {
			if (!isspace((unsigned char)data[i])) {
				json_object_put(o);
				o = NULL;
				break;
			}
		}
	}
	return o;
}

char *dialect_json_dump(json_object *o)
{
	struct buf text = BUF_INIT;
	json_write(&text, o);
	return buf_steal(&text);
}

void dialect_json_set_strn(json_object *o, const char *key, const char *s, size_t len)
{
	if (len > INT_MAX)
		len = INT_MAX;
	json_object_object_add(o, key, json_object_new_string_len(s, (int)len));
}

void dialect_json_set_str(json_object *o, const char *key, const char *s)
{
	json_object_object_add(o, key, json_object_new_string(s ? s : ""));
}

/* ---------- request helpers ---------- */

int dialect_content_text(json_object *content, struct buf *out, const char *what, char **err)
{
	if (!content || json_object_is_type(content, json_type_null))
		return 0;
	if (json_object_is_type(content, json_type_string)) {
		buf_append(out, json_object_get_string(content), (size_t)json_object_get_string_len(content));
		return 0;
	}
	if (!json_object_is_type(content, json_type_array)) {
		set_err(err, "%s content must be a string or an array of parts", what);
		return -1;
	}
	size_t n = json_object_array_length(content);
	for (size_t i = 0; i < n; i++) {
		json_object *part = json_object_array_get_idx(content, i);
		const char *type = dialect_json_str(part, "type");
		json_object *text = dialect_json_get(part, "text", json_type_string);
		if (json_object_is_type(part, json_type_string)) {
			text = part; /* a bare string part: lenient */
		} else if (!type || (strcmp(type, "text") != 0 && strcmp(type, "input_text") != 0 &&
		                     strcmp(type, "refusal") != 0)) {
			set_err(err, "%s content part %zu has unsupported type \"%s\"", what, i,
			        type ? type : "(none)");
			return -1;
		}
		if (type && strcmp(type, "refusal") == 0)
			text = dialect_json_get(part, "refusal", json_type_string);
		if (!text) {
			set_err(err, "%s content part %zu has no text", what, i);
			return -1;
		}
		buf_append(out, json_object_get_string(text), (size_t)json_object_get_string_len(text));
	}
	return 0;
}

/* Inserts item (reference taken over) at idx, shifting the rest up;
 * json-c 0.15 has no insert. */
static void array_insert(json_object *arr, size_t idx, json_object *item)
{
	size_t n = json_object_array_length(arr);
	if (idx >= n) {
		json_object_array_add(arr, item);
		return;
	}
	json_object_array_add(arr, json_object_get(json_object_array_get_idx(arr, n - 1)));
	for (size_t j = n - 1; j > idx; j--)
		json_object_array_put_idx(arr, j, json_object_get(json_object_array_get_idx(arr, j - 1)));
	json_object_array_put_idx(arr, idx, item);
}

/* Appends items (ownership taken) to turns as a turn of role, merged into
 * the previous turn when it has the same role; within a merged turn the
 * items lead picks stay ahead of the others. An empty items adds nothing. */
static void append_turn(json_object *turns, const char *role, const struct dialect_turns *t,
                        json_object *items)
{
	size_t ni = json_object_array_length(items);
	if (ni == 0) {
		json_object_put(items);
		return;
	}
	size_t n = json_object_array_length(turns);
	json_object *last = n ? json_object_array_get_idx(turns, n - 1) : NULL;
	const char *last_role = dialect_json_str(last, "role");
	if (!last_role || strcmp(last_role, role) != 0) {
		json_object *turn = json_object_new_object();
		dialect_json_set_str(turn, "role", role);
		json_object_object_add(turn, t->items, items);
		json_object_array_add(turns, turn);
		return;
	}
	json_object *dst = dialect_json_get(last, t->items, json_type_array);
	for (size_t i = 0; i < ni; i++) {
		json_object *item = json_object_get(json_object_array_get_idx(items, i));
		if (t->lead && t->lead(item)) {
			size_t lead = 0, len = json_object_array_length(dst);
			while (lead < len && t->lead(json_object_array_get_idx(dst, lead)))
				lead++;
			array_insert(dst, lead, item);
		} else {
			json_object_array_add(dst, item);
		}
	}
	json_object_put(items);
}

/* The items of a user message's content; NULL with *err on a part that
 * cannot be converted. */
static json_object *user_items(const struct dialect_turns *t, json_object *content, char **err)
{
	json_object *items = json_object_new_array();
	if (!content || json_object_is_type(content, json_type_null))
		return items;
	if (json_object_is_type(content, json_type_string)) {
		if (json_object_get_string_len(content) > 0)
			json_object_array_add(items,
			                      t->text(json_object_get_string(content),
			                              (size_t)json_object_get_string_len(content), NULL));
		return items;
	}
	if (!json_object_is_type(content, json_type_array)) {
		json_object_put(items);
		set_err(err, "content must be a string or an array of parts");
		return NULL;
	}
	size_t n = json_object_array_length(content);
	for (size_t i = 0; i < n; i++) {
		json_object *part = json_object_array_get_idx(content, i);
		if (json_object_is_type(part, json_type_string)) {
			if (json_object_get_string_len(part) > 0)
				json_object_array_add(items, t->text(json_object_get_string(part),
				                                     (size_t)json_object_get_string_len(part),
				                                     NULL));
			continue;
		}
		const char *type = dialect_json_str(part, "type");
		json_object *item = NULL;
		char *e = NULL;
		if (!type) {
			e = xasprintf("content part %zu has no type", i);
		} else if (strcmp(type, "text") == 0) {
			json_object *s = dialect_json_get(part, "text", json_type_string);
			if (!s)
				e = xasprintf("text part %zu has no text", i);
			else if (json_object_get_string_len(s) > 0)
				item = t->text(json_object_get_string(s),
				               (size_t)json_object_get_string_len(s), part);
		} else {
			item = t->media(part, type, i, &e);
			if (!item && !e)
				e = xasprintf("content part %zu has unsupported type \"%s\"", i, type);
		}
		if (e) {
			json_object_put(items);
			*err = e;
			return NULL;
		}
		if (item)
			json_object_array_add(items, item);
	}
	return items;
}

/* The items of an assistant message: its text, then its tool calls. */
static json_object *assistant_items(const struct dialect_turns *t, json_object *m, char **err)
{
	json_object *content = NULL;
	json_object_object_get_ex(m, "content", &content);
	struct buf text = BUF_INIT;
	if (dialect_content_text(content, &text, "assistant", err) != 0) {
		buf_free(&text);
		return NULL;
	}
	json_object *items = json_object_new_array();
	if (text.len > 0)
		json_object_array_add(items, t->text(text.data, text.len, NULL));
	buf_free(&text);

	json_object *calls = dialect_json_value(m, "tool_calls");
	if (!calls)
		return items;
	if (!json_object_is_type(calls, json_type_array)) {
		set_err(err, "tool_calls must be an array");
		json_object_put(items);
		return NULL;
	}
	size_t n = json_object_array_length(calls);
	for (size_t i = 0; i < n; i++) {
		json_object *item = t->tool_call(json_object_array_get_idx(calls, i), i, err);
		if (!item) {
			json_object_put(items);
			return NULL;
		}
		json_object_array_add(items, item);
	}
	return items;
}

/* Appends the text of a system/developer message to system, a newline
 * apart from what is there; -1 with *err for content that is not text. */
static int hoist_system(struct buf *system, json_object *content, const char *role, char **err)
{
	struct buf text = BUF_INIT;
	int rc = dialect_content_text(content, &text, role, err);
	if (rc == 0 && text.len > 0) {
		if (system->len > 0)
			buf_putc(system, '\n');
		buf_append(system, text.data, text.len);
	}
	buf_free(&text);
	return rc;
}

int dialect_convert_messages(json_object *msgs, const struct dialect_turns *t, json_object *out,
                             struct buf *system, char **err)
{
	size_t n = json_object_array_length(msgs);
	for (size_t i = 0; i < n; i++) {
		json_object *m = json_object_array_get_idx(msgs, i);
		const char *role = dialect_json_str(m, "role");
		if (!role) {
			set_err(err, "message %zu has no role", i);
			return -1;
		}
		json_object *content = NULL;
		json_object_object_get_ex(m, "content", &content);
		json_object *items = NULL;
		const char *turn = "user";
		char *e = NULL;
		if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
			if (hoist_system(system, content, role, &e) == 0)
				continue;
		} else if (strcmp(role, "user") == 0) {
			items = user_items(t, content, &e);
		} else if (strcmp(role, "assistant") == 0) {
			items = assistant_items(t, m, &e);
			turn = t->assistant_role;
		} else if (strcmp(role, "tool") == 0) {
			json_object *item = t->tool_result(msgs, i, &e);
			if (item) {
				items = json_object_new_array();
				json_object_array_add(items, item);
			}
		} else {
			set_err(err, "message %zu has unsupported role \"%s\"", i, role);
			return -1;
		}
		if (!items) {
			set_err(err, "message %zu: %s", i, e ? e : "cannot be converted");
			free(e);
			return -1;
		}
		append_turn(out, turn, t, items);
	}
	if (json_object_array_length(out) == 0) {
		set_err(err, "request has no user or assistant messages");
		return -1;
	}
	return 0;
}

int dialect_parse_data_url(const char *url, char **mime, const char **payload)
{
	if (!url || strncasecmp(url, "data:", 5) != 0)
		return -1;
	const char *meta = url + 5;
	const char *comma = strchr(meta, ',');
	if (!comma)
		return -1;
	/* The media type is everything before the first ';' of the metadata;
	 * ";base64" must be among the parameters. */
	size_t mlen = (size_t)(comma - meta);
	const char *semi = memchr(meta, ';', mlen);
	size_t tlen = semi ? (size_t)(semi - meta) : mlen;
	bool b64 = false;
	for (const char *p = semi; p && p < comma; p = memchr(p + 1, ';', (size_t)(comma - p - 1))) {
		const char *q = p + 1;
		const char *next = memchr(q, ';', (size_t)(comma - q));
		size_t plen = (size_t)((next ? next : comma) - q);
		if (plen == 6 && strncasecmp(q, "base64", 6) == 0)
			b64 = true;
		if (!next)
			break;
	}
	if (!b64)
		return -1;
	*mime = tlen ? xstrndup(meta, tlen) : xstrdup("application/octet-stream");
	for (char *c = *mime; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	*payload = comma + 1;
	return 0;
}

int dialect_image_source(json_object *part, size_t idx, char **mime, const char **data, char **err)
{
	*mime = NULL;
	*data = NULL;
	json_object *iu = NULL;
	json_object_object_get_ex(part, "image_url", &iu);
	const char *url = json_object_is_type(iu, json_type_string) ? json_object_get_string(iu)
	                                                            : dialect_json_str(iu, "url");
	if (str_empty(url)) {
		set_err(err, "image part %zu has no url", idx);
		return -1;
	}
	if (dialect_parse_data_url(url, mime, data) == 0) {
		/* "image/jpg" is common in data URLs but not a type the APIs accept. */
		if (strcmp(*mime, "image/jpg") == 0) {
			free(*mime);
			*mime = xstrdup("image/jpeg");
		}
		return 1;
	}
	if (strncasecmp(url, "https://", 8) == 0 || strncasecmp(url, "http://", 7) == 0) {
		*data = url;
		return 0;
	}
	set_err(err, "image part %zu: url must be http(s) or a base64 data URL", idx);
	return -1;
}

int dialect_file_source(json_object *part, size_t idx, const char *who, char **mime, const char **data,
                        char **err)
{
	*mime = NULL;
	json_object *file = dialect_json_get(part, "file", json_type_object);
	*data = dialect_json_str(file, "file_data");
	if (str_empty(*data)) {
		if (dialect_json_str(file, "file_id"))
			set_err(err, "file part %zu: file_id is not supported by %s; send file_data", idx,
			        who);
		else
			set_err(err, "file part %zu has no file_data", idx);
		return -1;
	}
	if (dialect_parse_data_url(*data, mime, data) != 0)
		*mime = xstrdup("application/pdf"); /* bare base64: OpenAI's files are PDFs */
	return 0;
}

int dialect_request_number(json_object *canon, const char *key, double *out, char **err)
{
	if (!dialect_json_value(canon, key))
		return 0;
	if (!dialect_json_num(canon, key, out)) {
		set_err(err, "\"%s\" must be a number", key);
		return -1;
	}
	return 1;
}

int dialect_request_tools(json_object *canon, json_object **tools, char **err)
{
	*tools = NULL;
	json_object *v = dialect_json_value(canon, "tools");
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_array)) {
		set_err(err, "\"tools\" must be an array");
		return -1;
	}
	if (json_object_array_length(v) > 0)
		*tools = v;
	return 0;
}

json_object *dialect_tool_decl(json_object *tools, size_t i, json_object **fn, char **err)
{
	json_object *t = json_object_array_get_idx(tools, i);
	const char *type = dialect_json_str(t, "type");
	*fn = dialect_json_get(t, "function", json_type_object);
	if ((type && strcmp(type, "function") != 0) || !*fn) {
		set_err(err, "tool %zu has unsupported type \"%s\"", i, type ? type : "(none)");
		return NULL;
	}
	const char *name = dialect_json_str(*fn, "name");
	if (str_empty(name)) {
		set_err(err, "tool %zu has no function name", i);
		return NULL;
	}
	json_object *d = json_object_new_object();
	dialect_json_set_str(d, "name", name);
	const char *desc = dialect_json_str(*fn, "description");
	if (!str_empty(desc))
		dialect_json_set_str(d, "description", desc);
	return d;
}

int dialect_request_tool_choice(json_object *canon, enum dialect_tool_choice *choice, const char **name,
                                json_object **allowed, char **err)
{
	*name = NULL;
	*allowed = NULL;
	json_object *tc = dialect_json_value(canon, "tool_choice");
	if (!tc)
		return 0;
	if (json_object_is_type(tc, json_type_string)) {
		static const struct {
			const char *word;
			enum dialect_tool_choice choice;
		} words[] = {
		    {"auto", DIALECT_TOOLS_AUTO},
		    {"none", DIALECT_TOOLS_NONE},
		    {"required", DIALECT_TOOLS_REQUIRED},
		};
		const char *s = json_object_get_string(tc);
		for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
			if (strcmp(s, words[i].word) == 0) {
				*choice = words[i].choice;
				return 1;
			}
		}
	} else if (json_object_is_type(tc, json_type_object)) {
		const char *t = dialect_json_str(tc, "type");
		if (t && strcmp(t, "function") == 0) {
			const char *n =
			    dialect_json_str(dialect_json_get(tc, "function", json_type_object), "name");
			if (!str_empty(n)) {
				*choice = DIALECT_TOOLS_FUNCTION;
				*name = n;
				return 1;
			}
		} else if (t && strcmp(t, "allowed_tools") == 0) {
			json_object *at = dialect_json_get(tc, "allowed_tools", json_type_object);
			const char *mode = dialect_json_str(at, "mode");
			*choice = mode && strcmp(mode, "required") == 0 ? DIALECT_TOOLS_REQUIRED
			                                                : DIALECT_TOOLS_AUTO;
			*allowed = dialect_json_get(at, "tools", json_type_array);
			return 1;
		}
	}
	set_err(err, "unsupported \"tool_choice\"");
	return -1;
}

int dialect_request_response_format(json_object *canon, const char **type, json_object **schema, char **err)
{
	*type = NULL;
	*schema = NULL;
	json_object *rf = dialect_json_value(canon, "response_format");
	if (!rf)
		return 0;
	*type = dialect_json_str(rf, "type");
	if (!*type) {
		set_err(err, "\"response_format\" must be an object with a type");
		return -1;
	}
	if (strcmp(*type, "json_schema") == 0)
		*schema = dialect_json_get(dialect_json_get(rf, "json_schema", json_type_object), "schema",
		                           json_type_object);
	return 1;
}

int dialect_request_max_tokens(json_object *canon, int64_t *out, char **err)
{
	static const char *const keys[] = {"max_completion_tokens", "max_tokens"};
	for (size_t i = 0; i < 2; i++) {
		json_object *v = dialect_json_value(canon, keys[i]);
		if (!v)
			continue;
		int64_t n;
		if (!dialect_json_as_int(v, &n) || n < 0) {
			set_err(err, "\"%s\" must be a non-negative integer", keys[i]);
			return -1;
		}
		*out = n;
		return 1;
	}
	return 0;
}

int dialect_request_stop(json_object *canon, json_object **out, char **err)
{
	*out = NULL;
	json_object *v = dialect_json_value(canon, "stop");
	if (!v)
		return 0;
	json_object *arr = json_object_new_array();
	if (json_object_is_type(v, json_type_string)) {
		if (json_object_get_string_len(v) > 0)
			json_object_array_add(arr, json_object_get(v));
	} else if (json_object_is_type(v, json_type_array)) {
		size_t n = json_object_array_length(v);
		for (size_t i = 0; i < n; i++) {
			json_object *s = json_object_array_get_idx(v, i);
			if (!json_object_is_type(s, json_type_string)) {
				json_object_put(arr);
				set_err(err, "\"stop\" must be a string or an array of strings");
				return -1;
			}
			if (json_object_get_string_len(s) > 0)
				json_object_array_add(arr, json_object_get(s));
		}
	} else {
		json_object_put(arr);
		set_err(err, "\"stop\" must be a string or an array of strings");
		return -1;
	}
	if (json_object_array_length(arr) == 0) {
		json_object_put(arr);
		return 0;
	}
	*out = arr;
	return 0;
}

long dialect_effort_budget(const char *effort)
{
	static const struct {
		const char *name;
		long budget;
	} table[] = {
	    {"none", 0},     {"minimal", 1024}, {"low", 1024},  {"medium", 4096},
	    {"high", 16384}, {"xhigh", 32768},  {"max", 32768},
	};
	if (!effort)
		return -1;
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (strcmp(table[i].name, effort) == 0)
			return table[i].budget;
	return -1;
}

json_object *dialect_find_tool_call(json_object *messages, size_t before, const char *id)
{
	if (!id || !json_object_is_type(messages, json_type_array))
		return NULL;
	size_t n = json_object_array_length(messages);
	if (before > n)
		before = n;
	/* Nearest first: ids synthesised for Gemini calls may repeat across turns. */
	for (size_t i = before; i-- > 0;) {
		json_object *m = json_object_array_get_idx(messages, i);
		const char *role = dialect_json_str(m, "role");
		if (!role || strcmp(role, "assistant") != 0)
			continue;
		json_object *calls = dialect_json_get(m, "tool_calls", json_type_array);
		size_t nc = calls ? json_object_array_length(calls) : 0;
		for (size_t k = 0; k < nc; k++) {
			json_object *tc = json_object_array_get_idx(calls, k);
			const char *tid = dialect_json_str(tc, "id");
			if (tid && strcmp(tid, id) == 0)
				return tc;
		}
	}
	return NULL;
}

json_object *stream_decoder_usage(const struct stream_decoder *sd)
{
	return sd ? sd->usage : NULL;
}

const char *stream_decoder_id(const struct stream_decoder *sd, int64_t *created)
{
	*created = sd ? sd->created : 0;
	return sd ? sd->id : NULL;
}
