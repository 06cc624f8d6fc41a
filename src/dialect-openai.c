/* dialect-openai.c - OpenAI Chat Completions and its compatible providers
 * (Groq, DeepSeek, Mistral, Moonshot, DashScope, Azure, OpenRouter, …):
 * the request body is the canonical one with model/stream set, and this file
 * normalises each provider's response and chunk quirks back to the exact
 * canonical shape of dialect.h (wire-formats.md §1, §5). */
#include "config.h"

#include "dialect-internal.h"

#include "buf.h"
#include "util.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---------- egress ---------- */

/* A new object holding o's members (the values shared, not copied). */
static json_object *shallow_copy(json_object *o)
{
	json_object *r = json_object_new_object();
	json_object_object_foreach(o, k, v)
	{
		json_object_object_add_ex(r, k, v ? json_object_get(v) : NULL, JSON_C_OBJECT_ADD_KEY_IS_NEW);
	}
	return r;
}

/* The canonical form is OpenAI's own: the request is the canonical body
 * with the model, "stream" and stream_options set. Only the top level (and
 * stream_options, when it changes) is copied; everything below is shared
 * with canon, which stays as it was, for other attempts. */
static json_object *openai_build_request(json_object *canon, const struct egress_opts *o, char **err)
{
	if (!json_object_is_type(canon, json_type_object)) {
		*err = xstrdup("the request is not a JSON object");
		return NULL;
	}
	json_object *r = shallow_copy(canon);
	if (!str_empty(o->model)) {
		json_object_object_add(r, "model", json_object_new_string(o->model));
	} else if (str_empty(dialect_json_str(r, "model"))) {
		json_object_put(r);
		*err = xstrdup("request has no model");
		return NULL;
	}
	json_object_object_add(r, "stream", json_object_new_boolean(o->stream));
	if (o->stream) {
		json_object *so = dialect_json_get(r, "stream_options", json_type_object);
		so = so ? shallow_copy(so) : json_object_new_object();
		json_object_object_add(so, "include_usage", json_object_new_boolean(1));
		json_object_object_add(r, "stream_options", so);
	} else {
		/* OpenAI rejects stream_options on a request that does not stream. */
		json_object_object_del(r, "stream_options");
	}
	return r;
}

/* ---------- shared normalisation ---------- */

/* Finish reasons outside the canonical four: Mistral's model_length, the
 * deprecated function_call, and words other servers borrow from Anthropic.
 * Anything unknown is a normal stop. NULL means "error" (Mistral). */
static const char *openai_finish(const char *r)
{
	static const struct {
		const char *from, *to;
	} map[] = {
	    {"stop", "stop"},
	    {"length", "length"},
	    {"tool_calls", "tool_calls"},
	    {"content_filter", "content_filter"},
	    {"model_length", "length"},
	    {"max_tokens", "length"},
	    {"function_call", "tool_calls"},
	    {"tool_use", "tool_calls"},
	    {"error", NULL},
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(map[i].from, r) == 0)
			return map[i].to;
	return "stop";
}

/* Copies the reasoning text of a delta or message, whichever field the
 * provider uses, into dst as "reasoning_content". */
static void copy_reasoning(json_object *src, json_object *dst)
{
	static const char *const fields[] = {"reasoning_content", "reasoning"};
	for (size_t i = 0; i < 2; i++) {
		json_object *v = dialect_json_get(src, fields[i], json_type_string);
		if (v && json_object_get_string_len(v) > 0) {
			json_object_object_add(dst, "reasoning_content", json_object_get(v));
			return;
		}
	}
	/* MiniMax's reasoning_split form: [{"type":"reasoning.text","text":…}]. */
	struct buf b = BUF_INIT;
	dialect_join_texts(dialect_json_get(src, "reasoning_details", json_type_array), &b);
	if (b.len)
		dialect_json_set_strn(dst, "reasoning_content", b.data, b.len);
	buf_free(&b);
}

static json_object *usage_of(json_object *o)
{
	json_object *u = dialect_usage_from_openai(dialect_json_get(o, "usage", json_type_object));
	if (!u)
		u = dialect_usage_from_openai(dialect_json_get(
		    dialect_json_get(o, "x_groq", json_type_object), "usage", json_type_object));
	return u;
}

/* ---------- stream decoder ---------- */

/* A tool call as seen on the wire: the upstream's (choice, index) maps to
 * the canonical index, so repeated ids/names can be dropped and providers
 * that put every parallel call at index 0 still get distinct indices. */
struct oa_tool {
	int choice;
	int64_t up_index;
	int64_t index;
	char *id;
	char *name;
	bool minted; /* the upstream sent no id; a later one cannot replace ours */
};

struct openai_state {
	struct oa_tool *tools;
	size_t n, cap;
	bool any_finish;
};

static void *openai_state_new(void)
{
	return xcalloc(1, sizeof(struct openai_state));
}

static void openai_state_free(void *p)
{
	struct openai_state *st = p;
	for (size_t i = 0; i < st->n; i++) {
		free(st->tools[i].id);
		free(st->tools[i].name);
	}
	free(st->tools);
	free(st);
}

static struct oa_tool *tool_find(struct openai_state *st, int choice, int64_t up_index)
{
	/* The latest mapping wins: an index may have been re-pointed. */
	for (size_t i = st->n; i-- > 0;)
		if (st->tools[i].choice == choice && st->tools[i].up_index == up_index)
			return &st->tools[i];
	return NULL;
}

static struct oa_tool *tool_add(struct openai_state *st, int choice, int64_t up_index)
{
	int64_t next = 0;
	for (size_t i = 0; i < st->n; i++)
		if (st->tools[i].choice == choice && st->tools[i].index >= next)
			next = st->tools[i].index + 1;
	if (st->n == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 4;
		st->tools = xrealloc(st->tools, st->cap * sizeof *st->tools);
	}
	struct oa_tool *t = &st->tools[st->n++];
	*t = (struct oa_tool){.choice = choice, .up_index = up_index, .index = next};
	return t;
}

/* Canonical tool-call deltas for one upstream delta; NULL if none carries
 * anything. */
static json_object *stream_tool_calls(struct openai_state *st, int choice, json_object *arr)
{
	json_object *out = json_object_new_array();
	size_t n = json_object_array_length(arr);
	for (size_t k = 0; k < n; k++) {
		json_object *tc = json_object_array_get_idx(arr, k);
		if (!json_object_is_type(tc, json_type_object))
			continue;
		int64_t up = (int64_t)k;
		dialect_json_int(tc, "index", &up);
		const char *id = dialect_json_str(tc, "id");
		json_object *fn = dialect_json_get(tc, "function", json_type_object);
		const char *name = dialect_json_str(fn, "name");
		json_object *args = NULL;
		json_object_object_get_ex(fn, "arguments", &args);

		struct oa_tool *t = tool_find(st, choice, up);
		bool first = false;
		if (!t || (!str_empty(id) && !t->minted && strcmp(t->id, id) != 0)) {
			t = tool_add(st, choice, up);
			first = true;
		}
		json_object *d = json_object_new_object();
		json_object_object_add(d, "index", json_object_new_int64(t->index));
		json_object *dfn = json_object_new_object();
		if (first) {
			/* Every canonical tool call gets an id, even from servers
			 * that send none, because Anthropic clients need one. */
			t->minted = str_empty(id);
			t->id = t->minted ? dialect_mint_id("call_") : xstrdup(id);
			json_object_object_add(d, "id", json_object_new_string(t->id));
			json_object_object_add(d, "type", json_object_new_string("function"));
		}
		if (!str_empty(name) && !t->name) {
			t->name = xstrdup(name);
			dialect_json_set_str(dfn, "name", name);
		}
		/* A JSON string; a few servers send the object. */
		json_object *a = dialect_arguments_string(args);
		if (a && (first || json_object_get_string_len(a) > 0))
			json_object_object_add(dfn, "arguments", a);
		else if (first)
			dialect_json_set_str(dfn, "arguments", "");
		else
			json_object_put(a);
		if (!first && json_object_object_length(dfn) == 0) {
			json_object_put(dfn);
			json_object_put(d);
			continue;
		}
		json_object_object_add(d, "function", dfn);
		json_object_array_add(out, d);
	}
	if (json_object_array_length(out) == 0) {
		json_object_put(out);
		return NULL;
	}
	return out;
}

static int openai_choice(struct stream_decoder *sd, struct openai_state *st, json_object *ch, size_t pos)
{
	int64_t idx = (int64_t)pos;
	dialect_json_int(ch, "index", &idx);
	if (idx < 0 || idx > INT_MAX)
		return 0;
	int choice = (int)idx;
	json_object *delta = dialect_json_get(ch, "delta", json_type_object);

	json_object *d = json_object_new_object();
	json_object *content = dialect_json_get(delta, "content", json_type_string);
	/* Canonical deltas have no refusal field: its text is what the model
	 * said, so other dialects and the terminal show it as content. */
	if (!content || json_object_get_string_len(content) == 0)
		content = dialect_json_get(delta, "refusal", json_type_string);
	if (content && json_object_get_string_len(content) > 0)
		json_object_object_add(d, "content", json_object_get(content));
	copy_reasoning(delta, d);
	json_object *tcs = dialect_json_get(delta, "tool_calls", json_type_array);
	json_object *calls = tcs ? stream_tool_calls(st, choice, tcs) : NULL;
	if (calls)
		json_object_object_add(d, "tool_calls", calls);

	int rc = 0;
	if (json_object_object_length(d) > 0) {
		rc = dialect_emit_delta(sd, choice, d);
	} else if (dialect_json_str(delta, "role")) {
		/* The opening role chunk, "content":"" as OpenAI sends it;
		 * dropped if the role already went out. */
		dialect_json_set_str(d, "content", "");
		rc = dialect_emit_delta(sd, choice, d);
	} else {
		json_object_put(d);
	}
	if (rc)
		return rc;

	const char *fr = dialect_json_str(ch, "finish_reason");
	if (fr) {
		const char *mapped = openai_finish(fr);
		if (!mapped)
			return dialect_fail(sd, 502,
			                    "upstream ended the answer with finish_reason \"error\"");
		st->any_finish = true;
		rc = dialect_emit_finish(sd, choice, mapped);
	}
	return rc;
}

static int openai_chunk(struct stream_decoder *sd, struct openai_state *st, json_object *o)
{
	if (dialect_json_value(o, "error"))
		return dialect_fail_event(sd, o);
	json_object *xg = dialect_json_get(o, "x_groq", json_type_object);
	const char *xerr = dialect_json_str(xg, "error");
	if (!str_empty(xerr))
		return dialect_fail(sd, 500, "%s", xerr);

	dialect_note_id(sd, dialect_json_str(o, "id"));
	int64_t created;
	if (dialect_json_int(o, "created", &created))
		dialect_note_created(sd, created);
	dialect_note_model(sd, dialect_json_str(o, "model"));
	/* Usage may ride on any chunk and some providers repeat it
	 * cumulatively: keep the last one, and emit it only at [DONE] so it
	 * always follows the finish reason. */
	dialect_set_usage(sd, usage_of(o));

	json_object *choices = dialect_json_get(o, "choices", json_type_array);
	size_t n = choices ? json_object_array_length(choices) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *ch = json_object_array_get_idx(choices, i);
		if (!json_object_is_type(ch, json_type_object))
			continue;
		int rc = openai_choice(sd, st, ch, i);
		if (rc)
			return rc;
	}
	return STREAM_OK;
}

static int openai_done(struct stream_decoder *sd, struct openai_state *st)
{
	sd->done = true;
	/* A server that closes properly without ever naming a finish reason
	 * still finished; consumers need one to close the answer. */
	if (!st->any_finish) {
		int rc = dialect_emit_finish(sd, 0, "stop");
		if (rc)
			return rc;
	}
	int rc = dialect_emit_usage(sd);
	return rc ? rc : STREAM_DONE;
}

static int openai_event(struct stream_decoder *sd, const char *event, const char *data, size_t len)
{
	struct openai_state *st = sd->state;
	(void)event; /* OpenAI-style streams carry everything in data */
	int rc;
	json_object *o = dialect_event_object(sd, data, len, &rc);
	if (!o)
		return rc == STREAM_DONE ? openai_done(sd, st) : rc;
	rc = openai_chunk(sd, st, o);
	json_object_put(o);
	return rc;
}

static int openai_finish_stream(struct stream_decoder *sd)
{
	return dialect_fail(sd, 0, "upstream stream ended before [DONE]");
}

/* ---------- whole responses ---------- */

static json_object *response_tool_calls(json_object *arr)
{
	json_object *out = json_object_new_array();
	size_t n = json_object_array_length(arr);
	for (size_t k = 0; k < n; k++) {
		json_object *tc = json_object_array_get_idx(arr, k);
		json_object *fn = dialect_json_get(tc, "function", json_type_object);
		if (!fn)
			continue;
		json_object *args = NULL;
		json_object_object_get_ex(fn, "arguments", &args);
		json_object_array_add(out, dialect_tool_call_new(-1, dialect_json_str(tc, "id"), "call_",
		                                                 dialect_json_str(fn, "name"),
		                                                 dialect_arguments_string(args)));
	}
	if (json_object_array_length(out) == 0) {
		json_object_put(out);
		return NULL;
	}
	return out;
}

static json_object *response_message(json_object *m)
{
	json_object *msg = json_object_new_object();
	dialect_json_set_str(msg, "role", "assistant");
	json_object *content = NULL;
	json_object_object_get_ex(m, "content", &content);
	if (json_object_is_type(content, json_type_string)) {
		json_object_object_add(msg, "content", json_object_get(content));
	} else if (json_object_is_type(content, json_type_array)) {
		/* A few servers answer with text parts. */
		struct buf b = BUF_INIT;
		dialect_join_texts(content, &b);
		dialect_json_set_strn(msg, "content", buf_str(&b), b.len);
		buf_free(&b);
	} else {
		json_object_object_add(msg, "content", NULL);
	}
	copy_reasoning(m, msg);
	json_object *refusal = dialect_json_get(m, "refusal", json_type_string);
	if (refusal)
		json_object_object_add(msg, "refusal", json_object_get(refusal));
	json_object *tcs = dialect_json_get(m, "tool_calls", json_type_array);
	json_object *calls = tcs ? response_tool_calls(tcs) : NULL;
	if (calls)
		json_object_object_add(msg, "tool_calls", calls);
	return msg;
}

static json_object *openai_response(json_object *resp, const char *model, char **err)
{
	if (dialect_json_value(resp, "error")) {
		*err = dialect_error_text(resp);
		return NULL;
	}
	json_object *choices = dialect_json_get(resp, "choices", json_type_array);
	if (!choices) {
		*err = xstrdup("upstream response has no choices");
		return NULL;
	}
	int64_t created = 0;
	dialect_json_int(resp, "created", &created);
	const char *m = dialect_json_str(resp, "model");
	json_object *r =
	    dialect_completion_new(dialect_json_str(resp, "id"), created, str_empty(m) ? model : m);
	size_t n = json_object_array_length(choices);
	for (size_t i = 0; i < n; i++) {
		json_object *ch = json_object_array_get_idx(choices, i);
		if (!json_object_is_type(ch, json_type_object))
			continue;
		int64_t idx = (int64_t)i;
		dialect_json_int(ch, "index", &idx);
		const char *fr = dialect_json_str(ch, "finish_reason");
		const char *mapped = fr ? openai_finish(fr) : "stop";
		if (!mapped) {
			json_object_put(r);
			*err = xstrdup("upstream ended the answer with finish_reason \"error\"");
			return NULL;
		}
		dialect_completion_add_choice(
		    r, idx, response_message(dialect_json_get(ch, "message", json_type_object)), mapped);
	}
	json_object *u = usage_of(resp);
	if (u)
		json_object_object_add(r, "usage", u);
	return r;
}

const struct dialect_ops dialect_openai_ops = {
    .name = "openai",
    .build_request = openai_build_request,
    .response_to_canonical = openai_response,
    .decoder_state_new = openai_state_new,
    .decoder_state_free = openai_state_free,
    .decoder_event = openai_event,
    .decoder_finish = openai_finish_stream,
};
