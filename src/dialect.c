/* dialect.c - the dialect-independent half of dialect.h: names, dispatch to
 * the per-dialect converters, the stream decoder's lifecycle, canonical
 * chunk/usage construction shared by every decoder, upstream error bodies,
 * and the typed JSON helpers declared in dialect-internal.h. */
#include "config.h"

#include "dialect-internal.h"

#include "buf.h"
#include "util.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
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

json_object *dialect_build_request(enum dialect d, json_object *canon, const struct egress_opts *o,
                                   char **err)
{
	if (err)
		*err = NULL;
	const struct dialect_ops *ops = ops_for(d);
	if (!ops) {
		set_err(err, "unknown dialect");
		return NULL;
	}
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
	if (!r) {
		if (!e)
			e = xasprintf("cannot build %s request", ops->name);
		if (err)
			*err = e;
		else
			free(e);
	} else {
		free(e);
	}
	return r;
}

json_object *dialect_response_to_canonical(enum dialect d, json_object *resp, const char *model, char **err)
{
	if (err)
		*err = NULL;
	const struct dialect_ops *ops = ops_for(d);
	if (!ops) {
		set_err(err, "unknown dialect");
		return NULL;
	}
	if (!json_object_is_type(resp, json_type_object)) {
		set_err(err, "%s response is not a JSON object", ops->name);
		return NULL;
	}
	char *e = NULL;
	json_object *r = ops->response_to_canonical(resp, model ? model : "", &e);
	if (!r) {
		if (!e)
			e = xasprintf("cannot read %s response", ops->name);
		if (err)
			*err = e;
		else
			free(e);
	} else {
		free(e);
	}
	return r;
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

int stream_decoder_event(struct stream_decoder *sd, const char *event, const char *data, size_t len)
{
	if (!sd)
		return STREAM_ERROR;
	if (sd->failed)
		return STREAM_ERROR;
	if (sd->done)
		return STREAM_DONE;
	if (!data)
		len = 0;
	return sd->ops->decoder_event(sd, event, data ? data : "", len);
}

int stream_decoder_finish(struct stream_decoder *sd)
{
	if (!sd)
		return STREAM_ERROR;
	if (sd->failed)
		return STREAM_ERROR;
	if (sd->done)
		return STREAM_DONE;
	return sd->ops->decoder_finish(sd);
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

int dialect_fail_event(struct stream_decoder *sd, json_object *event)
{
	char *type = NULL, *msg = NULL;
	int code = 0;
	if (!dialect_error_from_json(event, &type, &msg, &code))
		return dialect_fail(sd, 502, "upstream sent an unreadable error event");
	int status = code ? code : dialect_error_status_for_type(type);
	if (!status)
		status = 500;
	int rc;
	if (type && strcmp(type, msg) != 0)
		rc = dialect_fail(sd, status, "%s: %s", type, msg);
	else
		rc = dialect_fail(sd, status, "%s", msg);
	free(type);
	free(msg);
	return rc;
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

void dialect_random_hex(char *out, size_t nbytes)
{
	static uint64_t fallback;
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

static char *dup_nonempty(const char *s)
{
	return str_empty(s) ? NULL : xstrdup(s);
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
	*type = dup_nonempty(typ);
	*message = msg ? one_line(msg, strlen(msg), ERROR_MESSAGE_MAX) : NULL;
	if (str_empty(*message)) {
		free(*message);
		*message = xstrdup(*type ? *type : "unknown error");
	}
	return true;
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

json_object *dialect_json_get(json_object *o, const char *key, enum json_type type)
{
	json_object *v = NULL;
	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
		return NULL;
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
	json_object *v = NULL;
	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
		return false;
	return dialect_json_as_int(v, out);
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
	json_object *v = NULL;
	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
		return false;
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

json_object *dialect_json_parse(const char *data, size_t len)
{
	if (!data || len == 0 || len > INT_MAX)
		return NULL;
	json_tokener *tok = json_tokener_new();
	if (!tok)
		return NULL;
	json_object *o = json_tokener_parse_ex(tok, data, (int)len);
	if (!o && json_tokener_get_error(tok) == json_tokener_continue) {
		/* A bare scalar is only complete once the tokener sees the end. */
		o = json_tokener_parse_ex(tok, "", 1);
		if (o) {
			json_tokener_free(tok);
			return o;
		}
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
	json_tokener_free(tok);
	return o;
}

char *dialect_json_dump(json_object *o)
{
	const char *s =
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	return xstrdup(s ? s : "null");
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

int dialect_request_max_tokens(json_object *canon, int64_t *out, char **err)
{
	static const char *const keys[] = {"max_completion_tokens", "max_tokens"};
	for (size_t i = 0; i < 2; i++) {
		json_object *v = NULL;
		if (!json_object_object_get_ex(canon, keys[i], &v) || json_object_is_type(v, json_type_null))
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
	json_object *v = NULL;
	if (!json_object_object_get_ex(canon, "stop", &v) || json_object_is_type(v, json_type_null))
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
