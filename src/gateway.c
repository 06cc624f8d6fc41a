/* gateway.c - one model request through the pipeline. See gateway.h. */
#include "config.h"

#include "gateway.h"
#include "attempt.h"
#include "catalog.h"
#include "health.h"
#include "buf.h"
#include "http-client.h"
#include "jsonw.h"
#include "route.h"
#include "sse.h"
#include "util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- assembling a completion from chunks ---- */

struct completion_builder {
	struct buf text;
	struct buf reasoning;
	json_object *tool_calls; /* array, by index */
	char *id;
	char *model;
	long long created;
	char *finish_reason;
	json_object *usage;
};

struct completion_builder *completion_builder_new(void)
{
	struct completion_builder *b = xcalloc(1, sizeof *b);
	b->tool_calls = json_object_new_array();
	return b;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;
	if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

static void set_str(char **dst, const char *s)
{
	if (!s)
		return;
	free(*dst);
	*dst = xstrdup(s);
}

static void builder_add_tool_delta(struct completion_builder *b, json_object *tc)
{
	json_object *idx_o, *fn;
	int idx = json_object_object_get_ex(tc, "index", &idx_o) ? json_object_get_int(idx_o)
								 : (int)json_object_array_length(b->tool_calls);
	if (idx < 0 || idx > 1024)
		return;
	while ((int)json_object_array_length(b->tool_calls) <= idx) {
		json_object *n = json_object_new_object();
		json_object_object_add(n, "id", json_object_new_string(""));
		json_object_object_add(n, "type", json_object_new_string("function"));
		json_object *f = json_object_new_object();
		json_object_object_add(f, "name", json_object_new_string(""));
		json_object_object_add(f, "arguments", json_object_new_string(""));
		json_object_object_add(n, "function", f);
		json_object_array_add(b->tool_calls, n);
	}
	json_object *cur = json_object_array_get_idx(b->tool_calls, (size_t)idx);
	const char *id = jstr(tc, "id");
	if (id)
		json_object_object_add(cur, "id", json_object_new_string(id));
	/* Provider extras ride along (Gemini's thought signature must come
	 * back on the next turn). */
	json_object *extra;
	if (json_object_object_get_ex(tc, "extra_content", &extra))
		json_object_object_add(cur, "extra_content", json_object_get(extra));
	if (json_object_object_get_ex(tc, "function", &fn)) {
		json_object *cf = json_object_object_get(cur, "function");
		const char *name = jstr(fn, "name");
		if (name && *name)
			json_object_object_add(cf, "name", json_object_new_string(name));
		const char *args = jstr(fn, "arguments");
		if (args && *args) {
			char *joined = xasprintf("%s%s", jstr(cf, "arguments"), args);
			json_object_object_add(cf, "arguments", json_object_new_string(joined));
			free(joined);
		}
	}
}

void completion_builder_add(struct completion_builder *b, json_object *chunk)
{
	json_object *v;
	set_str(&b->id, jstr(chunk, "id"));
	set_str(&b->model, jstr(chunk, "model"));
	if (json_object_object_get_ex(chunk, "created", &v) && !b->created)
		b->created = json_object_get_int64(v);
	if (json_object_object_get_ex(chunk, "usage", &v) && json_object_is_type(v, json_type_object)) {
		if (b->usage)
			json_object_put(b->usage);
		b->usage = json_object_get(v);
	}
	json_object *choices;
	if (!json_object_object_get_ex(chunk, "choices", &choices) || !json_object_is_type(choices, json_type_array) ||
	    json_object_array_length(choices) == 0)
		return;
	json_object *choice = json_object_array_get_idx(choices, 0), *delta;
	set_str(&b->finish_reason, jstr(choice, "finish_reason"));
	if (!json_object_object_get_ex(choice, "delta", &delta))
		return;
	const char *s;
	if ((s = jstr(delta, "content")))
		buf_puts(&b->text, s);
	if ((s = jstr(delta, "reasoning_content")))
		buf_puts(&b->reasoning, s);
	json_object *tcs;
	if (json_object_object_get_ex(delta, "tool_calls", &tcs) && json_object_is_type(tcs, json_type_array))
		for (size_t i = 0; i < json_object_array_length(tcs); i++)
			builder_add_tool_delta(b, json_object_array_get_idx(tcs, i));
}

json_object *completion_builder_usage(const struct completion_builder *b)
{
	return b->usage;
}

json_object *completion_builder_result(const struct completion_builder *b)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(b->id ? b->id : "chatcmpl-arouter"));
	json_object_object_add(o, "object", json_object_new_string("chat.completion"));
	json_object_object_add(o, "created", json_object_new_int64(b->created ? b->created : (long long)time(NULL)));
	json_object_object_add(o, "model", json_object_new_string(b->model ? b->model : ""));
	json_object *msg = json_object_new_object();
	json_object_object_add(msg, "role", json_object_new_string("assistant"));
	bool tools = json_object_array_length(b->tool_calls) > 0;
	json_object_object_add(msg, "content",
			       b->text.len || !tools ? json_object_new_string(buf_str(&b->text)) : NULL);
	if (b->reasoning.len)
		json_object_object_add(msg, "reasoning_content", json_object_new_string(buf_str(&b->reasoning)));
	if (tools)
		json_object_object_add(msg, "tool_calls", json_object_get(b->tool_calls));
	json_object *choice = json_object_new_object();
	json_object_object_add(choice, "index", json_object_new_int(0));
	json_object_object_add(choice, "message", msg);
	json_object_object_add(choice, "finish_reason",
			       b->finish_reason ? json_object_new_string(b->finish_reason) : NULL);
	json_object *choices = json_object_new_array();
	json_object_array_add(choices, choice);
	json_object_object_add(o, "choices", choices);
	if (b->usage)
		json_object_object_add(o, "usage", json_object_get(b->usage));
	return o;
}

void completion_builder_free(struct completion_builder *b)
{
	if (!b)
		return;
	buf_free(&b->text);
	buf_free(&b->reasoning);
	json_object_put(b->tool_calls);
	free(b->id);
	free(b->model);
	free(b->finish_reason);
	if (b->usage)
		json_object_put(b->usage);
	free(b);
}

static json_object *chunk_new(json_object *completion, json_object *delta, const char *finish)
{
	json_object *c = json_object_new_object();
	json_object *v;
	json_object_object_add(c, "id", json_object_new_string(jstr(completion, "id") ? jstr(completion, "id") : ""));
	json_object_object_add(c, "object", json_object_new_string("chat.completion.chunk"));
	json_object_object_add(c, "created", json_object_object_get_ex(completion, "created", &v)
						     ? json_object_get(v)
						     : json_object_new_int64((long long)time(NULL)));
	json_object_object_add(c, "model",
			       json_object_new_string(jstr(completion, "model") ? jstr(completion, "model") : ""));
	json_object *choices = json_object_new_array();
	if (delta) {
		json_object *ch = json_object_new_object();
		json_object_object_add(ch, "index", json_object_new_int(0));
		json_object_object_add(ch, "delta", delta);
		json_object_object_add(ch, "finish_reason", finish ? json_object_new_string(finish) : NULL);
		json_object_array_add(choices, ch);
	}
	json_object_object_add(c, "choices", choices);
	return c;
}

static int emit(chunk_cb cb, void *arg, json_object *chunk)
{
	int rc = cb(chunk, arg);
	json_object_put(chunk);
	return rc;
}

int completion_to_chunks(json_object *completion, chunk_cb cb, void *arg)
{
	json_object *choices, *choice = NULL, *msg = NULL, *v;
	if (json_object_object_get_ex(completion, "choices", &choices) &&
	    json_object_is_type(choices, json_type_array) && json_object_array_length(choices) > 0) {
		choice = json_object_array_get_idx(choices, 0);
		json_object_object_get_ex(choice, "message", &msg);
	}
	int rc = 0;
	json_object *delta = json_object_new_object();
	json_object_object_add(delta, "role", json_object_new_string("assistant"));
	if (jstr(msg, "reasoning_content"))
		json_object_object_add(delta, "reasoning_content", json_object_new_string(jstr(msg, "reasoning_content")));
	if (jstr(msg, "content"))
		json_object_object_add(delta, "content", json_object_new_string(jstr(msg, "content")));
	if (msg && json_object_object_get_ex(msg, "tool_calls", &v) && json_object_is_type(v, json_type_array)) {
		json_object *tcs = json_object_new_array();
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			json_object *tc = json_object_array_get_idx(v, i);
			json_object *copy = NULL;
			json_object_deep_copy(tc, &copy, NULL);
			json_object_object_add(copy, "index", json_object_new_int((int)i));
			json_object_array_add(tcs, copy);
		}
		json_object_object_add(delta, "tool_calls", tcs);
	}
	if ((rc = emit(cb, arg, chunk_new(completion, delta, NULL))) != 0)
		return rc;
	const char *finish = choice ? jstr(choice, "finish_reason") : NULL;
	if ((rc = emit(cb, arg, chunk_new(completion, json_object_new_object(), finish ? finish : "stop"))) != 0)
		return rc;
	if (json_object_object_get_ex(completion, "usage", &v) && json_object_is_type(v, json_type_object)) {
		json_object *u = chunk_new(completion, NULL, NULL);
		json_object_object_add(u, "usage", json_object_get(v));
		rc = emit(cb, arg, u);
	}
	return rc;
}

/* ---- the built-in mock provider ---- */

/* The last user message's text, for the echo. */
static char *last_user_text(json_object *body)
{
	json_object *msgs;
	if (!json_object_object_get_ex(body, "messages", &msgs) || !json_object_is_type(msgs, json_type_array))
		return xstrdup("");
	for (size_t i = json_object_array_length(msgs); i-- > 0;) {
		json_object *m = json_object_array_get_idx(msgs, i), *content;
		const char *role = jstr(m, "role");
		if (!role || strcmp(role, "user") != 0 || !json_object_object_get_ex(m, "content", &content))
			continue;
		if (json_object_is_type(content, json_type_string))
			return xstrdup(json_object_get_string(content));
		struct buf b = BUF_INIT;
		if (json_object_is_type(content, json_type_array))
			for (size_t j = 0; j < json_object_array_length(content); j++) {
				const char *t = jstr(json_object_array_get_idx(content, j), "text");
				if (t) {
					if (b.len)
						buf_putc(&b, '\n');
					buf_puts(&b, t);
				}
			}
		return buf_steal(&b);
	}
	return xstrdup("");
}

/* Produces the bytes an OpenAI-compatible server would send: SSE for a
 * stream, a chat.completion body otherwise. Token counts are whitespace
 * words, which is what a reader would count, and are reported as such. */
static char *mock_response(json_object *body, const char *model, bool stream, size_t *len)
{
	char *user = last_user_text(body);
	char *text = xasprintf("Echo: %s", user);
	free(user);
	long words = 0;
	for (const char *s = text; *s;) {
		while (*s == ' ' || *s == '\n' || *s == '\t')
			s++;
		if (!*s)
			break;
		words++;
		while (*s && *s != ' ' && *s != '\n' && *s != '\t')
			s++;
	}
	long long created = (long long)time(NULL);
	json_object *usage = json_object_new_object();
	json_object_object_add(usage, "prompt_tokens", json_object_new_int64(words > 0 ? words - 1 : 0));
	json_object_object_add(usage, "completion_tokens", json_object_new_int64(words));
	json_object_object_add(usage, "total_tokens", json_object_new_int64(2 * words - 1 > 0 ? 2 * words - 1 : 0));
	struct buf out = BUF_INIT;
	if (!stream) {
		json_object *completion = json_object_new_object();
		json_object_object_add(completion, "id", json_object_new_string("chatcmpl-mock"));
		json_object_object_add(completion, "object", json_object_new_string("chat.completion"));
		json_object_object_add(completion, "created", json_object_new_int64(created));
		json_object_object_add(completion, "model", json_object_new_string(model));
		json_object *msg = json_object_new_object();
		json_object_object_add(msg, "role", json_object_new_string("assistant"));
		json_object_object_add(msg, "content", json_object_new_string(text));
		json_object *choice = json_object_new_object();
		json_object_object_add(choice, "index", json_object_new_int(0));
		json_object_object_add(choice, "message", msg);
		json_object_object_add(choice, "finish_reason", json_object_new_string("stop"));
		json_object *choices = json_object_new_array();
		json_object_array_add(choices, choice);
		json_object_object_add(completion, "choices", choices);
		json_object_object_add(completion, "usage", usage);
		buf_puts(&out, json_object_to_json_string_ext(completion, JSON_C_TO_STRING_PLAIN));
		json_object_put(completion);
		free(text);
		*len = out.len;
		return buf_steal(&out);
	}
	/* A few words per event, as real providers stream. */
	const char *s = text;
	bool first = true;
	while (*s || first) {
		const char *e = s;
		for (int w = 0; w < 3 && *e; w++) {
			while (*e == ' ')
				e++;
			while (*e && *e != ' ')
				e++;
		}
		json_object *delta = json_object_new_object();
		if (first)
			json_object_object_add(delta, "role", json_object_new_string("assistant"));
		json_object_object_add(delta, "content", json_object_new_string_len(s, (int)(e - s)));
		json_object *fake = json_object_new_object();
		json_object_object_add(fake, "id", json_object_new_string("chatcmpl-mock"));
		json_object_object_add(fake, "created", json_object_new_int64(created));
		json_object_object_add(fake, "model", json_object_new_string(model));
		json_object *chunk = chunk_new(fake, delta, NULL);
		const char *j = json_object_to_json_string_ext(chunk, JSON_C_TO_STRING_PLAIN);
		sse_write_event(&out, NULL, j, strlen(j));
		json_object_put(chunk);
		json_object_put(fake);
		first = false;
		s = e;
	}
	json_object *fake = json_object_new_object();
	json_object_object_add(fake, "id", json_object_new_string("chatcmpl-mock"));
	json_object_object_add(fake, "created", json_object_new_int64(created));
	json_object_object_add(fake, "model", json_object_new_string(model));
	json_object *fin = chunk_new(fake, json_object_new_object(), "stop");
	const char *j = json_object_to_json_string_ext(fin, JSON_C_TO_STRING_PLAIN);
	sse_write_event(&out, NULL, j, strlen(j));
	json_object_put(fin);
	json_object *u = chunk_new(fake, NULL, NULL);
	json_object_object_add(u, "usage", usage);
	j = json_object_to_json_string_ext(u, JSON_C_TO_STRING_PLAIN);
	sse_write_event(&out, NULL, j, strlen(j));
	json_object_put(u);
	json_object_put(fake);
	sse_write_event(&out, NULL, "[DONE]", 6);
	free(text);
	*len = out.len;
	return buf_steal(&out);
}

/* ---- one upstream call, independent of the transport ---- */

static int deliver(json_object *chunk, void *arg)
{
	struct gateway_call *gc = arg;
	gc->delivered = true;
	return gc->on_chunk ? gc->on_chunk(chunk, gc->arg) : 0;
}

static int on_sse_event(const struct sse_event *ev, void *arg)
{
	struct gateway_call *gc = arg;
	if (gc->done)
		return 0;
	/* Ill-formed UTF-8 would go on into the JSON we write: U+FFFD instead. */
	size_t fixed_len;
	char *fixed = utf8_repair(ev->data, ev->data_len, &fixed_len);
	int rc = fixed ? stream_decoder_event(gc->dec, ev->event, fixed, fixed_len)
		       : stream_decoder_event(gc->dec, ev->event, ev->data, ev->data_len);
	free(fixed);
	if (rc == STREAM_DONE) {
		gc->done = true;
		return 0;
	}
	if (rc != STREAM_OK) {
		gc->decoder_rc = rc;
		return 1;
	}
	return 0;
}

static int classify_status(int status)
{
	if (status == 401 || status == 403)
		return EXIT_AUTH;
	if (status == 429 || status == 402)
		return EXIT_RATELIMIT;
	return EXIT_UPSTREAM;
}

static void fail(struct gateway_result *res, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct gateway_result *res, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(res->error);
	res->error = xvasprintf(fmt, ap);
	va_end(ap);
	char *fixed = utf8_repair(res->error, strlen(res->error), NULL);
	if (fixed) {
		free(res->error);
		res->error = fixed;
	}
	res->exit_code = code;
}

static void add_header(struct gateway_call *gc, const char *name, const char *value)
{
	if (gc->n_headers < sizeof gc->headers / sizeof gc->headers[0]) {
		gc->headers[gc->n_headers].name = name;
		gc->headers[gc->n_headers].value = value;
		gc->n_headers++;
	}
}

int gateway_call_prepare(struct gateway_call *gc, const struct config *config, json_object *body,
			 const struct route_target *target, const char *key, bool stream, chunk_cb on_chunk, void *arg,
			 struct gateway_result *res)
{
	(void)config;
	memset(gc, 0, sizeof *gc);
	gateway_result_clear(res);
	gc->res = res;
	gc->on_chunk = on_chunk;
	gc->arg = arg;
	char *err = NULL;
	route_target_copy(&gc->target, target);
	struct provider *p = gc->target.provider;
	gc->provider = p;
	res->provider = xstrdup(p->slug);
	res->model = xstrdup(gc->target.model);
	res->display = xstrdup(gc->target.display);
	res->mock_fallback = gc->target.mock_fallback;

	/* The canonical body plus model-string parameters the caller left
	 * unset; without parameters the body is only read, never copied. */
	json_object *canon = NULL;
	if (!gc->target.params)
		canon = json_object_get(body);
	else
		json_object_deep_copy(body, &canon, NULL);
	if (gc->target.params) {
		json_object_object_foreach(gc->target.params, k, v)
		{
			if (!json_object_object_get_ex(canon, k, NULL))
				json_object_object_add(canon, k, v ? json_object_get(v) : NULL);
		}
	}
	/* "stream" in the body (from "?stream=false" or -o) overrides the caller. */
	json_object *sv;
	if (json_object_object_get_ex(canon, "stream", &sv) && json_object_is_type(sv, json_type_boolean))
		stream = json_object_get_boolean(sv);
	gc->stream = stream;
	struct egress_opts eo = {.model = gc->target.model, .stream = stream, .default_max_tokens = 4096};
	gc->body = dialect_build_request(p->dialect, canon, &eo, &err);
	json_object_put(canon);
	if (!gc->body) {
		fail(res, EXIT_USAGE, "%s: %s", p->slug, err ? err : "cannot build the request");
		free(err);
		return res->exit_code;
	}
	gc->sse = sse_parser_new(on_sse_event, gc, 0);
	gc->dec = stream_decoder_new(p->dialect, gc->target.model, deliver, gc);
	gc->is_mock = strcmp(p->slug, "mock") == 0;
	if (gc->is_mock)
		return EXIT_OK;

	const char *path = stream && p->stream_path ? p->stream_path : p->chat_path;
	gc->url = provider_url(p, path, gc->target.model);
	add_header(gc, "Content-Type", "application/json");
	add_header(gc, "Accept", stream ? "text/event-stream" : "application/json");
	const char *auth_name;
	if ((gc->auth_value = provider_auth_header_with(p, key, &auth_name)) != NULL)
		add_header(gc, auth_name, gc->auth_value);
	for (size_t i = 0; i < p->n_headers; i++)
		add_header(gc, p->headers[i].name, p->headers[i].value);
	return EXIT_OK;
}

void gateway_call_tap(struct gateway_call *gc, struct provider *p, const char *model, chunk_cb on_chunk, void *arg,
		      struct gateway_result *res)
{
	memset(gc, 0, sizeof *gc);
	gateway_result_clear(res);
	gc->res = res;
	gc->on_chunk = on_chunk;
	gc->arg = arg;
	gc->provider = p;
	gc->stream = true; /* an event stream unless the answer says JSON */
	gc->tap_only = true;
	res->provider = xstrdup(p->slug);
	res->model = xstrdup(model ? model : "-");
	gc->target.model = xstrdup(res->model);
	gc->sse = sse_parser_new(on_sse_event, gc, 0);
	gc->dec = stream_decoder_new(p->dialect, res->model, deliver, gc);
}

/* Adds to dst what `with` holds and `without` does not hold the same,
 * where dst has nothing under that name; objects in both are merged
 * member by member (Gemini's generationConfig). */
static void merge_changed(json_object *dst, json_object *with, json_object *without)
{
	json_object_object_foreach(with, k, v)
	{
		json_object *was = NULL, *have = NULL;
		json_object_object_get_ex(without, k, &was);
		if (was && json_object_equal(v, was))
			continue;
		if (!json_object_object_get_ex(dst, k, &have)) {
			json_object *copy = NULL;
			if (!v || json_object_deep_copy(v, &copy, NULL) == 0)
				json_object_object_add(dst, k, copy);
		} else if (json_object_is_type(have, json_type_object) && json_object_is_type(v, json_type_object)) {
			merge_changed(have, v, json_object_is_type(was, json_type_object) ? was : NULL);
		}
	}
}

void gateway_call_use_native_body(struct gateway_call *gc, json_object *client_body, json_object *canon)
{
	json_object *copy = NULL;
	if (json_object_deep_copy(client_body, &copy, NULL) != 0 || !copy)
		return;
	if (gc->provider->dialect != DIALECT_GEMINI)
		json_object_object_add(copy, "model", json_object_new_string(gc->target.model));
	if (gc->target.params && canon) {
		/* Model-string parameters (?temperature=...) apply here too, in
		 * the native body's own names and places: what the request built
		 * with them (gc->body) holds that one built without them does
		 * not, where the client's body leaves it unset. */
		struct egress_opts eo = {.model = gc->target.model, .stream = gc->stream, .default_max_tokens = 4096};
		char *err = NULL;
		json_object *without = dialect_build_request(gc->provider->dialect, canon, &eo, &err);
		free(err);
		if (without && gc->body)
			merge_changed(copy, gc->body, without);
		json_object_put(without);
	}
	json_object_put(gc->body);
	gc->body = copy;
	buf_reset(&gc->body_text);
}

const struct buf *gateway_call_body_text(struct gateway_call *gc, size_t size_hint)
{
	if (gc->body_text.len == 0) {
		/* Room for the text at once, not grown (and copied) by doubling:
		 * the hint, some slack, and a string block's worst case. */
		if (size_hint)
			buf_reserve(&gc->body_text, size_hint + size_hint / 16 + JSON_WRITE_BLOCK_ROOM);
		json_write(&gc->body_text, gc->body);
	}
	return &gc->body_text;
}

void gateway_call_set_header(struct gateway_call *gc, const char *name, const char *value)
{
	for (size_t i = 0; i < gc->n_headers; i++)
		if (strcasecmp(gc->headers[i].name, name) == 0) {
			gc->headers[i].value = value;
			return;
		}
	add_header(gc, name, value);
}

int gateway_call_feed(struct gateway_call *gc, const char *content_type, const char *data, size_t len)
{
	if (!gc->decided) {
		/* A server may ignore "stream": a JSON body is read whole. The
		 * bytes decide, not the Content-Type, which servers get wrong: a
		 * JSON body opens with '{' or '[', an event stream with a field
		 * name or ':'. White space before the first byte that tells is
		 * insignificant to both, and dropped. */
		size_t skip = 0;
		while (skip < len && (data[skip] == ' ' || data[skip] == '\t' || data[skip] == '\r' || data[skip] == '\n'))
			skip++;
		if (skip == len)
			return 0;
		data += skip;
		len -= skip;
		gc->decided = true;
		gc->is_sse = gc->stream && data[0] != '{' && data[0] != '[';
		free(gc->content_type);
		gc->content_type = content_type ? xstrdup(content_type) : NULL;
	}
	if (!gc->is_sse) {
		if (gc->whole.len + len > 64u * 1024 * 1024)
			return 1;
		buf_append(&gc->whole, data, len);
		return 0;
	}
	if (sse_parser_feed(gc->sse, data, len) != 0)
		return 1;
	return gc->done ? HTTP_BODY_COMPLETE : 0;
}

/* Finishes a whole (non-SSE) body: parse, convert, deliver as chunks. */
/* The "usage" object of an OpenAI answer without parsing the whole body:
 * an unescaped "usage" followed by ':' can only be a key (inside a string
 * its quotes would be escaped). The last one is the top-level one. NULL if
 * absent. The returned object is owned by the caller. */
static json_object *usage_of_text(const char *s, size_t len)
{
	const char *hit = NULL;
	for (const char *p = s; (p = memmem(p, len - (size_t)(p - s), "\"usage\"", 7)) != NULL; p += 7)
		hit = p;
	if (!hit)
		return NULL;
	const char *p = hit + 7;
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	if (*p++ != ':')
		return NULL;
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	if (*p != '{')
		return NULL;
	json_object *u = json_tokener_parse_ex(dialect_json_tokener(), p, (int)(len - (size_t)(p - s)));
	if (u && !json_object_is_type(u, json_type_object)) {
		json_object_put(u);
		u = NULL;
	}
	return u;
}

static void finish_parsed(struct gateway_call *gc, json_object *resp);

static void finish_whole(struct gateway_call *gc)
{
	/* A body holding "error" (a key, or such a string) is read whole
	 * below, where a 200 carrying an error is caught. */
	bool maybe_error = memmem(buf_str(&gc->whole), gc->whole.len, "\"error\"", 7) != NULL;
	if (gc->tap_only && gc->provider->dialect == DIALECT_OPENAI && !maybe_error) {
		/* The body goes to the client as it is; only usage is needed. */
		json_object *usage = usage_of_text(buf_str(&gc->whole), gc->whole.len);
		if (usage) {
			json_object *chunk = json_object_new_object();
			json_object_object_add(chunk, "choices", json_object_new_array());
			json_object_object_add(chunk, "usage", usage);
			deliver(chunk, gc);
			json_object_put(chunk);
		}
		return;
	}
	/* Ill-formed UTF-8 would go on into the JSON we write: U+FFFD instead.
	 * (A raw answer is sent as the upstream wrote it.) */
	size_t fixed_len = 0;
	char *fixed = utf8_repair(buf_str(&gc->whole), gc->whole.len, &fixed_len);
	json_object *resp = fixed ? dialect_json_parse(fixed, fixed_len) : dialect_json_parse(buf_str(&gc->whole), gc->whole.len);
	free(fixed);
	finish_parsed(gc, resp);
}

/* The rest of finish_whole, on the parsed body (NULL: not JSON). */
static void finish_parsed(struct gateway_call *gc, json_object *resp)
{
	const char *slug = gc->provider->slug;
	if (!resp || !json_object_is_type(resp, json_type_object)) {
		if (resp)
			json_object_put(resp);
		fail(gc->res, EXIT_UPSTREAM, "%s: the response is not JSON (%s)", slug,
		     gc->content_type ? gc->content_type : "no content type");
		return;
	}
	if (json_object_object_get_ex(resp, "error", NULL)) {
		/* A 200 that carries an error body. */
		struct upstream_error ue;
		upstream_error_parse(200, buf_str(&gc->whole), gc->whole.len, &ue);
		fail(gc->res, EXIT_UPSTREAM, "%s: %s", slug, ue.message);
		upstream_error_clear(&ue);
		json_object_put(resp);
		return;
	}
	char *err = NULL;
	json_object *canon = dialect_response_to_canonical(gc->provider->dialect, resp, gc->res->model, &err);
	json_object_put(resp);
	if (!canon) {
		fail(gc->res, EXIT_UPSTREAM, "%s: unreadable response: %s", slug, err ? err : "unknown shape");
		free(err);
		return;
	}
	completion_to_chunks(canon, deliver, gc);
	json_object_put(canon);
}

int gateway_call_finish(struct gateway_call *gc, enum http_outcome outcome, const struct http_response *resp)
{
	struct gateway_result *res = gc->res;
	const char *slug = gc->provider->slug;
	res->status = (int)resp->status;
	if (outcome == XFER_CANCELLED) {
		fail(res, EXIT_INTERRUPTED, "%s: cancelled", slug);
	} else if (outcome == XFER_TIMEOUT || outcome == XFER_NETWORK) {
		res->timed_out = outcome == XFER_TIMEOUT;
		fail(res, EXIT_NETWORK, "%s: %s", slug, resp->error ? resp->error : "network error");
	} else if (resp->status < 200 || resp->status >= 300) {
		struct upstream_error ue;
		upstream_error_parse((int)resp->status, buf_str(&resp->error_body), resp->error_body.len, &ue);
		if (resp->status == 429 && resp->retry_after_s >= 0)
			fail(res, EXIT_RATELIMIT, "%s: %ld %s, retry after %lds", slug, resp->status, ue.message,
			     resp->retry_after_s);
		else if (resp->status == 401 || resp->status == 403)
			fail(res, EXIT_AUTH, "%s: %ld %s (check %s)", slug, resp->status, ue.message,
			     provider_key_hint(gc->provider));
		else
			fail(res, classify_status((int)resp->status), "%s: %ld %s", slug, resp->status, ue.message);
		upstream_error_clear(&ue);
	} else if (outcome == XFER_ABORTED && gc->decoder_rc == STREAM_ERROR) {
		const char *msg = stream_decoder_error(gc->dec);
		int st = stream_decoder_error_status(gc->dec);
		fail(res, st ? classify_status(st) : EXIT_UPSTREAM, "%s: error in the stream: %s", slug,
		     msg ? msg : "unreadable event");
	} else if (outcome == XFER_ABORTED && gc->decoder_rc != 0) {
		fail(res, EXIT_INTERRUPTED, "%s: stopped", slug);
	} else if (outcome == XFER_ABORTED) {
		fail(res, EXIT_UPSTREAM, "%s: the response is too large or malformed", slug);
	} else if (!gc->is_sse) {
		finish_whole(gc);
	} else {
		int rc = sse_parser_finish(gc->sse);
		if (rc != 0 && gc->decoder_rc == STREAM_ERROR) {
			const char *msg = stream_decoder_error(gc->dec);
			fail(res, EXIT_UPSTREAM, "%s: error in the stream: %s", slug, msg ? msg : "unreadable event");
		} else if (!gc->done) {
			rc = stream_decoder_finish(gc->dec);
			if (rc != STREAM_DONE) {
				const char *msg = stream_decoder_error(gc->dec);
				if (msg)
					fail(res, EXIT_UPSTREAM, "%s: error in the stream: %s", slug, msg);
				else
					fail(res, EXIT_NETWORK, "%s: the stream ended before the answer was complete",
					     slug);
			}
		}
	}
	res->partial = gc->delivered;
	return res->exit_code;
}

enum http_outcome gateway_call_outcome(const struct gateway_call *gc, enum http_outcome outcome,
				       const struct http_response *resp, long *status)
{
	*status = resp ? resp->status : 0;
	if (outcome == XFER_ABORTED && gc->decoder_rc == STREAM_ERROR) {
		/* An error event in the stream: its status when it named one
		 * (overloaded, rate limited), else a broken upstream. */
		int st = stream_decoder_error_status(gc->dec);
		*status = st;
		return st ? XFER_OK : XFER_NETWORK;
	}
	if (outcome == XFER_ABORTED && gc->decoder_rc == 0) {
		/* The bytes could not be taken at all (an event or a body over
		 * the limits): the upstream is broken, not the request. */
		*status = 0;
		return XFER_NETWORK;
	}
	if (outcome == XFER_OK && *status >= 200 && *status < 300 && gc->res && gc->res->exit_code != EXIT_OK) {
		/* A 200 whose stream stopped short is a broken connection. */
		*status = 0;
		return XFER_NETWORK;
	}
	return outcome;
}

void gateway_call_clear(struct gateway_call *gc)
{
	sse_parser_free(gc->sse);
	stream_decoder_free(gc->dec);
	buf_free(&gc->whole);
	buf_free(&gc->body_text);
	if (gc->body)
		json_object_put(gc->body);
	free(gc->url);
	free(gc->auth_value);
	free(gc->content_type);
	route_target_clear(&gc->target);
	memset(gc, 0, sizeof *gc);
}

enum http_outcome gateway_call_run_mock(struct gateway_call *gc, json_object *body, volatile sig_atomic_t *cancel)
{
	size_t len;
	char *bytes = mock_response(body, gc->target.model, gc->stream, &len);
	const char *ct = gc->stream ? "text/event-stream" : "application/json";
	enum http_outcome outcome = XFER_OK;
	for (size_t off = 0; off < len; off += 64) {
		int rc = gateway_call_feed(gc, ct, bytes + off, len - off < 64 ? len - off : 64);
		if (rc != 0) {
			if (rc != HTTP_BODY_COMPLETE)
				outcome = XFER_ABORTED;
			break;
		}
		if (cancel && *cancel) {
			outcome = XFER_CANCELLED;
			break;
		}
	}
	free(bytes);
	return outcome;
}

/* ---- continuing a broken stream on another candidate ---- */

static bool provider_takes_prefix_flag(const struct provider *p)
{
	/* OpenAI-dialect servers that continue a trailing assistant message
	 * when it is marked {"prefix": true}. */
	return strcmp(p->slug, "deepseek") == 0 || strcmp(p->slug, "mistral") == 0;
}

json_object *gateway_continuation_body(json_object *canon, json_object *so_far, const struct provider *next,
				       char **pending_ws)
{
	*pending_ws = NULL;
	json_object *msg = NULL, *choices, *v;
	if (json_object_object_get_ex(so_far, "choices", &choices) && json_object_array_length(choices) > 0)
		json_object_object_get_ex(json_object_array_get_idx(choices, 0), "message", &msg);
	if (msg && json_object_object_get_ex(msg, "tool_calls", &v) && json_object_array_length(v) > 0)
		return NULL; /* a call cannot be resumed half-way */
	const char *text = msg && json_object_object_get_ex(msg, "content", &v) ? json_object_get_string(v) : NULL;
	json_object *body = NULL;
	if (json_object_deep_copy(canon, &body, NULL) != 0 || !body)
		return NULL;
	if (str_empty(text))
		return body; /* nothing but reasoning so far: ask again */
	/* Anthropic refuses a prefill ending in whitespace; the client has
	 * that whitespace already, so it is taken off the next answer. */
	size_t len = strlen(text), keep = len;
	while (keep > 0 && strchr(" \t\r\n", text[keep - 1]))
		keep--;
	if (keep < len)
		*pending_ws = xstrdup(text + keep);
	json_object *messages;
	if (!json_object_object_get_ex(body, "messages", &messages) || !json_object_is_type(messages, json_type_array)) {
		json_object_put(body);
		free(*pending_ws);
		*pending_ws = NULL;
		return NULL;
	}
	json_object *prefill = json_object_new_object();
	json_object_object_add(prefill, "role", json_object_new_string("assistant"));
	json_object_object_add(prefill, "content", json_object_new_string_len(text, (int)keep));
	json_object_array_add(messages, prefill);
	if (next->dialect == DIALECT_OPENAI && provider_takes_prefix_flag(next)) {
		json_object_object_add(prefill, "prefix", json_object_new_boolean(1));
	} else if (next->dialect == DIALECT_OPENAI) {
		/* No prefill: the nearest equivalent is to ask for the rest. */
		json_object *ask = json_object_new_object();
		json_object_object_add(ask, "role", json_object_new_string("user"));
		json_object_object_add(ask, "content",
				       json_object_new_string(GATEWAY_CONTINUE_PROMPT));
		json_object_array_add(messages, ask);
	}
	return body;
}

static long long usage_field(json_object *u, const char *obj, const char *key)
{
	json_object *v;
	if (obj && !json_object_object_get_ex(u, obj, &u))
		return 0;
	return json_object_object_get_ex(u, key, &v) ? json_object_get_int64(v) : 0;
}

static void usage_set(json_object *u, const char *obj, const char *key, long long n)
{
	if (obj) {
		json_object *d;
		if (!json_object_object_get_ex(u, obj, &d) || !json_object_is_type(d, json_type_object)) {
			if (n == 0)
				return;
			d = json_object_new_object();
			json_object_object_add(u, obj, d);
		}
		u = d;
	}
	json_object_object_add(u, key, json_object_new_int64(n));
}

void gateway_usage_add(json_object *usage, json_object *prior)
{
	if (!usage || !prior)
		return;
	static const struct {
		const char *obj, *key;
	} f[] = {{NULL, "prompt_tokens"},
		 {NULL, "completion_tokens"},
		 {NULL, "total_tokens"},
		 {"prompt_tokens_details", "cached_tokens"},
		 {"completion_tokens_details", "reasoning_tokens"}};
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		long long add = usage_field(prior, f[i].obj, f[i].key);
		if (add)
			usage_set(usage, f[i].obj, f[i].key, usage_field(usage, f[i].obj, f[i].key) + add);
	}
}

void gateway_resume_start(struct gateway_resume *r, json_object *usage_so_far, char *pending_ws)
{
	free(r->pending_ws);
	r->pending_ws = pending_ws;
	if (usage_so_far) {
		if (!r->prior_usage)
			r->prior_usage = json_object_new_object();
		gateway_usage_add(r->prior_usage, usage_so_far);
	}
	r->active = true;
	r->continued++;
}

int gateway_resume_filter(struct gateway_resume *r, json_object *chunk)
{
	if (!r->active)
		return 0;
	json_object *choices, *usage;
	if (r->prior_usage && json_object_object_get_ex(chunk, "usage", &usage) &&
	    json_object_is_type(usage, json_type_object))
		gateway_usage_add(usage, r->prior_usage);
	if (!json_object_object_get_ex(chunk, "choices", &choices) || json_object_array_length(choices) == 0)
		return 0;
	json_object *ch = json_object_array_get_idx(choices, 0), *delta, *content, *fr;
	if (!json_object_object_get_ex(ch, "delta", &delta))
		return 0;
	bool has_content = json_object_object_get_ex(delta, "content", &content) &&
			   json_object_is_type(content, json_type_string) && json_object_get_string_len(content) > 0;
	bool has_other = json_object_object_get_ex(delta, "tool_calls", NULL) ||
			 json_object_object_get_ex(delta, "reasoning_content", NULL) ||
			 (json_object_object_get_ex(ch, "finish_reason", &fr) && fr) ||
			 json_object_object_get_ex(chunk, "usage", NULL);
	if (has_content && r->pending_ws) {
		/* Whitespace the client already has: leave it out once. */
		const char *t = json_object_get_string(content);
		size_t wl = strlen(r->pending_ws), tl = (size_t)json_object_get_string_len(content), cut = 0;
		while (cut < wl && cut < tl && t[cut] == r->pending_ws[cut])
			cut++;
		if (cut == tl && cut < wl) {
			/* All of this delta was whitespace we had: keep waiting. */
			memmove(r->pending_ws, r->pending_ws + cut, wl - cut + 1);
			return has_other ? 0 : 1;
		}
		if (cut > 0)
			json_object_set_string_len(content, t + cut, (int)(tl - cut));
		free(r->pending_ws);
		r->pending_ws = NULL;
	}
	/* The new answer's opening (a role with nothing in it) is not news to
	 * a client that is in the middle of one. */
	return has_content || has_other ? 0 : 1;
}

void gateway_resume_clear(struct gateway_resume *r)
{
	free(r->pending_ws);
	if (r->prior_usage)
		json_object_put(r->prior_usage);
	memset(r, 0, sizeof *r);
}

/* ---- the command line's attempt loop: blocking transfers and sleeps ---- */

struct blocking {
	struct gateway_call *gc;
	const struct http_response *resp;
};

static int blocking_body(const char *data, size_t len, void *arg)
{
	struct blocking *b = arg;
	return gateway_call_feed(b->gc, b->resp->content_type, data, len);
}

struct chat_tap {
	const struct gateway_request *req;
	struct completion_builder *b; /* what reached the caller */
	struct gateway_resume resume;
};

static int chat_tap_chunk(json_object *chunk, void *arg)
{
	struct chat_tap *t = arg;
	if (gateway_resume_filter(&t->resume, chunk))
		return 0;
	completion_builder_add(t->b, chunk);
	return t->req->on_chunk ? t->req->on_chunk(chunk, t->req->arg) : 0;
}


/* Sleeps ms unless *cancel becomes set; false when cancelled. */
static bool nap(int64_t ms, volatile sig_atomic_t *cancel)
{
	while (ms > 0) {
		if (cancel && *cancel)
			return false;
		int64_t step = ms < 50 ? ms : 50;
		struct timespec ts = {0, (long)step * 1000000L};
		nanosleep(&ts, NULL);
		ms -= step;
	}
	return !(cancel && *cancel);
}

/* One attempt with a blocking transfer (or the mock). */
static enum http_outcome chat_attempt(const struct gateway_request *req, struct gateway_call *gc,
				      json_object *body, struct http_response *resp)
{
	memset(resp, 0, sizeof *resp);
	if (gc->is_mock) {
		resp->status = 200;
		return gateway_call_run_mock(gc, body, req->cancel);
	}
	verbose("%s: POST %s (model %s)", gc->provider->slug, gc->url, gc->target.model);
	const struct buf *text = gateway_call_body_text(gc, 0);
	struct http_request hr = {
		.method = "POST",
		.url = gc->url,
		.headers = gc->headers,
		.n_headers = gc->n_headers,
		.body = buf_str(text),
		.body_len = text->len,
		.idle_timeout_ms = req->idle_timeout_ms,
		.total_timeout_ms = req->total_timeout_ms,
		.cancel = req->cancel,
	};
	/* The body callback reads the content type from the response as
	 * http_perform fills it in. */
	struct blocking b = {gc, resp};
	return http_perform(&hr, blocking_body, &b, resp);
}

int gateway_chat(const struct gateway_request *req, struct gateway_result *res)
{
	memset(res, 0, sizeof *res);
	struct route_plan plan;
	char *err = NULL;
	int rrc = route_plan_build(req->config, req->model, req->models, &plan, &err);
	if (rrc < 0) {
		res->unknown_provider = rrc == ROUTE_UNKNOWN_PROVIDER;
		fail(res, EXIT_CONFIG, "%s", err);
		free(err);
		return res->exit_code;
	}
	for (size_t i = 0; i < plan.n_skipped; i++)
		verbose("route: skipping %s", plan.skipped[i]);
	double *costs = NULL;
	if (plan.n > 1) {
		struct catalog *cat = catalog_new(req->config, NULL);
		char **left = NULL;
		size_t n_left = route_plan_fit(&plan, cat, req->body, &left);
		for (size_t i = 0; i < n_left; i++) {
			verbose("route: skipping %s", left[i]);
			free(left[i]);
		}
		free(left);
		costs = route_plan_costs(&plan, cat);
		catalog_free(cat);
	}
	struct health *h = health_new(NULL);
	struct attempt_policy pol = attempt_policy_from_config(req->config->root);
	struct attempt at;
	attempt_init(&at, &plan, h, &pol, costs, mono_clock_ms());
	free(costs);
	struct chat_tap tap = {.req = req, .b = completion_builder_new()};
	json_object *body = json_object_get(req->body);
	bool have_result = false;
	for (;;) {
		const struct route_target *cand;
		const char *key;
		int64_t delay;
		enum attempt_step step = attempt_next(&at, mono_clock_ms(), &cand, &key, &delay);
		if (step == ATTEMPT_WAIT) {
			verbose("retrying in %lld ms", (long long)delay);
			if (!nap(delay, req->cancel)) {
				fail(res, EXIT_INTERRUPTED, "cancelled");
				have_result = true;
				break;
			}
			continue;
		}
		if (step == ATTEMPT_NONE) {
			if (!have_result)
				fail(res, at.note_status == 401 ? EXIT_AUTH : EXIT_UPSTREAM, "%s",
				     attempt_note(&at) ? attempt_note(&at) : "no model could be tried");
			break;
		}
		struct gateway_call gc;
		int64_t t0 = mono_clock_ms();
		if (gateway_call_prepare(&gc, req->config, body, cand, key, req->stream, chat_tap_chunk, &tap, res) !=
		    EXIT_OK) {
			attempt_abandon(&at, t0);
			gateway_call_clear(&gc);
			have_result = true;
			break;
		}
		struct http_response resp;
		enum http_outcome outcome = chat_attempt(req, &gc, body, &resp);
		gateway_call_finish(&gc, outcome, &resp);
		have_result = true;
		bool delivered = gc.delivered;
		char *line = NULL;
		long st;
		enum http_outcome eff = gateway_call_outcome(&gc, outcome, &resp, &st);
		enum attempt_verdict v = attempt_report(&at, mono_clock_ms(), wall_clock_ms(), eff, st, &resp, delivered,
							mono_clock_ms() - t0, &line);
		if (line) {
			/* With one key the error says it all; with a pool, which
			 * key went is news. */
			if (keypool_size(health_keypool(h, gc.provider)) > 1)
				warnx_("%s: %s", gc.provider->slug, line);
			else
				verbose("%s: %s", gc.provider->slug, line);
			free(line);
		}
		http_response_clear(&resp);
		if (v == ATTEMPT_DONE || v == ATTEMPT_FATAL || res->exit_code == EXIT_INTERRUPTED) {
			gateway_call_clear(&gc);
			break;
		}
		verbose("%s; trying again", res->error ? res->error : "failed");
		if (delivered) {
			/* Go on from what the caller already has. */
			json_object *so_far = completion_builder_result(tap.b);
			const struct route_target *next = &plan.v[at.order[at.pos]];
			char *ws = NULL;
			json_object *cont = gateway_continuation_body(req->body, so_far, next->provider, &ws);
			if (!cont) {
				json_object_put(so_far);
				gateway_call_clear(&gc);
				break;
			}
			json_object *u = completion_builder_usage(tap.b);
			gateway_resume_start(&tap.resume, u ? u : stream_decoder_usage(gc.dec), ws);
			json_object_put(so_far);
			json_object_put(body);
			body = cont;
			warnx_("%s; continuing on %s", res->error, next->display);
		}
		gateway_call_clear(&gc);
	}
	json_object_put(body);
	res->attempts = at.total;
	completion_builder_free(tap.b);
	gateway_resume_clear(&tap.resume);
	attempt_clear(&at);
	health_free(h);
	route_plan_clear(&plan);
	return res->exit_code;
}

void gateway_result_clear(struct gateway_result *res)
{
	free(res->error);
	free(res->provider);
	free(res->model);
	free(res->display);
	memset(res, 0, sizeof *res);
}
