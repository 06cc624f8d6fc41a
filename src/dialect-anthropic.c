/* dialect-anthropic.c - the Anthropic Messages API as seen from the
 * canonical form: canonical request → Messages request body (system
 * hoisting, tool_use/tool_result pairing, turn merging, thinking), and
 * Messages responses and SSE events → canonical objects (the §4.6 state
 * machine). See wire-formats.md §2 and §4. */
#include "config.h"

#include "dialect-internal.h"

#include "buf.h"
#include "jsonw.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* Used when neither the request nor the caller names a max_tokens, which
 * Anthropic requires. */
#define ANTHROPIC_FALLBACK_MAX_TOKENS 4096
/* For a reasoning_effort word the policy table does not know. */
#define ANTHROPIC_DEFAULT_BUDGET 4096

static const char JSON_OBJECT_INSTRUCTION[] =
    "Respond only with a single valid JSON object, with no text before or after it.";
static const char JSON_SCHEMA_INSTRUCTION[] =
    "Respond only with a single valid JSON object that conforms to this JSON schema, with no text "
    "before or after it:\n";

/* ---------- egress: content blocks ---------- */

static json_object *text_block(const char *s, size_t len)
{
	json_object *b = json_object_new_object();
	dialect_json_set_str(b, "type", "text");
	dialect_json_set_strn(b, "text", s, len);
	return b;
}

/* A text block of a message; a user's text part may carry cache_control. */
static json_object *message_text_block(const char *s, size_t len, json_object *part)
{
	json_object *b = text_block(s, len);
	json_object *cc = dialect_json_get(part, "cache_control", json_type_object);
	if (cc)
		json_object_object_add(b, "cache_control", json_object_get(cc));
	return b;
}

/* Anthropic wants tool_result blocks first in a user turn. */
static bool is_tool_result(json_object *block)
{
	const char *t = dialect_json_str(block, "type");
	return t && strcmp(t, "tool_result") == 0;
}

static json_object *image_block(json_object *part, size_t idx, char **err)
{
	char *mime = NULL;
	const char *data = NULL;
	int inline_data = dialect_image_source(part, idx, &mime, &data, err);
	if (inline_data < 0)
		return NULL;
	json_object *src = json_object_new_object();
	if (inline_data) {
		dialect_json_set_str(src, "type", "base64");
		dialect_json_set_str(src, "media_type", mime);
		dialect_json_set_str(src, "data", data);
		free(mime);
	} else {
		dialect_json_set_str(src, "type", "url");
		dialect_json_set_str(src, "url", data);
	}
	json_object *b = json_object_new_object();
	dialect_json_set_str(b, "type", "image");
	json_object_object_add(b, "source", src);
	return b;
}

static json_object *document_block(json_object *part, size_t idx, char **err)
{
	char *mime = NULL;
	const char *payload = NULL;
	if (dialect_file_source(part, idx, "anthropic", &mime, &payload, err) != 0)
		return NULL;
	if (strcmp(mime, "application/pdf") != 0) {
		*err = xasprintf("file part %zu: anthropic does not accept %s files", idx, mime);
		free(mime);
		return NULL;
	}
	free(mime);
	json_object *src = json_object_new_object();
	dialect_json_set_str(src, "type", "base64");
	dialect_json_set_str(src, "media_type", "application/pdf");
	dialect_json_set_str(src, "data", payload);
	json_object *b = json_object_new_object();
	dialect_json_set_str(b, "type", "document");
	json_object_object_add(b, "source", src);
	const char *name = dialect_json_str(dialect_json_get(part, "file", json_type_object), "filename");
	if (!str_empty(name))
		dialect_json_set_str(b, "title", name);
	return b;
}

static json_object *media_block(json_object *part, const char *type, size_t idx, char **err)
{
	if (strcmp(type, "image_url") == 0)
		return image_block(part, idx, err);
	if (strcmp(type, "file") == 0)
		return document_block(part, idx, err);
	if (strcmp(type, "input_audio") == 0)
		*err = xasprintf("content part %zu: anthropic does not accept audio input", idx);
	return NULL;
}

static json_object *tool_use_block(json_object *tc, size_t idx, char **err)
{
	json_object *fn = dialect_json_get(tc, "function", json_type_object);
	const char *id = dialect_json_str(tc, "id");
	const char *name = dialect_json_str(fn, "name");
	if (str_empty(id) || str_empty(name)) {
		*err = xasprintf("tool call %zu needs an id and a function name", idx);
		return NULL;
	}
	json_object *args = NULL;
	json_object_object_get_ex(fn, "arguments", &args);
	json_object *b = json_object_new_object();
	dialect_json_set_str(b, "type", "tool_use");
	dialect_json_set_str(b, "id", id);
	dialect_json_set_str(b, "name", name);
	/* tool_use input must be an object. */
	json_object_object_add(b, "input", dialect_arguments_object(args));
	return b;
}

static json_object *tool_result_block(json_object *msgs, size_t i, char **err)
{
	json_object *m = json_object_array_get_idx(msgs, i);
	const char *id = dialect_json_str(m, "tool_call_id");
	if (str_empty(id)) {
		*err = xstrdup("tool message has no tool_call_id");
		return NULL;
	}
	json_object *b = json_object_new_object();
	dialect_json_set_str(b, "type", "tool_result");
	dialect_json_set_str(b, "tool_use_id", id);
	json_object *content = NULL;
	json_object_object_get_ex(m, "content", &content);
	if (json_object_is_type(content, json_type_array)) {
		json_object *parts = json_object_new_array();
		size_t n = json_object_array_length(content);
		for (size_t k = 0; k < n; k++) {
			json_object *t =
			    dialect_json_get(json_object_array_get_idx(content, k), "text", json_type_string);
			if (t && json_object_get_string_len(t) > 0)
				json_object_array_add(parts,
				                      text_block(json_object_get_string(t),
				                                 (size_t)json_object_get_string_len(t)));
		}
		if (json_object_array_length(parts) > 0)
			json_object_object_add(b, "content", parts);
		else
			json_object_put(parts);
	} else {
		struct buf text = BUF_INIT;
		if (dialect_content_text(content, &text, "tool", err) != 0) {
			buf_free(&text);
			json_object_put(b);
			return NULL;
		}
		if (text.len > 0)
			dialect_json_set_strn(b, "content", text.data, text.len);
		buf_free(&text);
	}
	return b;
}

/* ---------- egress: the request ---------- */

static const struct dialect_turns anthropic_turns = {
    .items = "content",
    .assistant_role = "assistant",
    .text = message_text_block,
    .media = media_block,
    .tool_call = tool_use_block,
    .tool_result = tool_result_block,
    .lead = is_tool_result,
};

static int response_format_instruction(json_object *canon, struct buf *system, char **err)
{
	const char *type;
	json_object *s;
	int have = dialect_request_response_format(canon, &type, &s, err);
	if (have <= 0)
		return have;
	const char *add = NULL;
	char *schema = NULL;
	if (strcmp(type, "json_object") == 0) {
		add = JSON_OBJECT_INSTRUCTION;
	} else if (strcmp(type, "json_schema") == 0) {
		if (s)
			schema = dialect_json_dump(s);
		add = schema ? JSON_SCHEMA_INSTRUCTION : JSON_OBJECT_INSTRUCTION;
	}
	if (add) {
		if (system->len > 0)
			buf_puts(system, "\n\n");
		buf_puts(system, add);
		if (schema)
			buf_puts(system, schema);
	}
	free(schema);
	return 0;
}

static json_object *convert_tools(json_object *tools, char **err)
{
	json_object *out = json_object_new_array();
	size_t n = json_object_array_length(tools);
	for (size_t i = 0; i < n; i++) {
		json_object *fn;
		json_object *a = dialect_tool_decl(tools, i, &fn, err);
		if (!a) {
			json_object_put(out);
			return NULL;
		}
		json_object *params = dialect_json_get(fn, "parameters", json_type_object);
		json_object *schema = NULL;
		if (params)
			json_object_deep_copy(params, &schema, NULL);
		if (!schema)
			schema = json_object_new_object();
		/* Anthropic insists on an object schema. */
		if (!dialect_json_get(schema, "type", json_type_string))
			dialect_json_set_str(schema, "type", "object");
		if (!params)
			json_object_object_add(schema, "properties", json_object_new_object());
		json_object_object_add(a, "input_schema", schema);
		json_object_array_add(out, a);
	}
	return out;
}

/* The Anthropic tool_choice for the canonical one, NULL if absent. */
static int convert_tool_choice(json_object *canon, json_object **out, char **err)
{
	static const char *const types[] = {
	    [DIALECT_TOOLS_AUTO] = "auto",
	    [DIALECT_TOOLS_NONE] = "none",
	    [DIALECT_TOOLS_REQUIRED] = "any",
	    [DIALECT_TOOLS_FUNCTION] = "tool",
	};
	*out = NULL;
	enum dialect_tool_choice c;
	const char *name;
	json_object *allowed; /* Anthropic cannot narrow the tools offered */
	int have = dialect_request_tool_choice(canon, &c, &name, &allowed, err);
	if (have <= 0)
		return have;
	json_object *r = json_object_new_object();
	dialect_json_set_str(r, "type", types[c]);
	if (name)
		dialect_json_set_str(r, "name", name);
	*out = r;
	return 0;
}

static int build_sampling(json_object *canon, json_object *r, char **err)
{
	double d;
	int have = dialect_request_number(canon, "temperature", &d, err);
	if (have < 0)
		return -1;
	if (have) {
		/* OpenAI's range is 0–2, Anthropic's 0–1. */
		if (d > 1)
			d = 1;
		if (d < 0)
			d = 0;
		json_object_object_add(r, "temperature", json_new_number(d));
	}
	have = dialect_request_number(canon, "top_p", &d, err);
	if (have < 0)
		return -1;
	if (have)
		json_object_object_add(r, "top_p", json_new_number(d));
	int64_t k;
	if (dialect_json_int(canon, "top_k", &k) && k > 0)
		json_object_object_add(r, "top_k", json_object_new_int64(k));
	return 0;
}

static json_object *anthropic_build_request(json_object *canon, const struct egress_opts *o, char **err)
{
	const char *model = !str_empty(o->model) ? o->model : dialect_json_str(canon, "model");
	if (str_empty(model)) {
		*err = xstrdup("request has no model");
		return NULL;
	}
	int64_t n_choices;
	if (dialect_json_int(canon, "n", &n_choices) && n_choices > 1) {
		*err = xstrdup("anthropic cannot return more than one choice (n > 1)");
		return NULL;
	}
	json_object *r = json_object_new_object();
	json_object *messages = json_object_new_array();
	struct buf system = BUF_INIT;
	json_object *tools = NULL, *choice = NULL;

	dialect_json_set_str(r, "model", model);
	if (dialect_convert_messages(dialect_json_get(canon, "messages", json_type_array), &anthropic_turns,
	                             messages, &system, err) != 0)
		goto fail;
	if (response_format_instruction(canon, &system, err) != 0)
		goto fail;

	int64_t max_tokens = 0;
	int have = dialect_request_max_tokens(canon, &max_tokens, err);
	if (have < 0)
		goto fail;
	if (!have)
		max_tokens =
		    o->default_max_tokens > 0 ? o->default_max_tokens : ANTHROPIC_FALLBACK_MAX_TOKENS;

	if (build_sampling(canon, r, err) != 0)
		goto fail;
	json_object *stop = NULL;
	if (dialect_request_stop(canon, &stop, err) != 0)
		goto fail;
	if (stop)
		json_object_object_add(r, "stop_sequences", stop);

	json_object *tv;
	if (dialect_request_tools(canon, &tv, err) != 0 || (tv && !(tools = convert_tools(tv, err))))
		goto fail;
	if (convert_tool_choice(canon, &choice, err) != 0)
		goto fail;
	bool parallel = true;
	dialect_json_bool(canon, "parallel_tool_calls", &parallel);
	if (!tools) {
		/* A tool_choice without tools is an error upstream. */
		json_object_put(choice);
		choice = NULL;
	} else if (!parallel) {
		if (!choice) {
			choice = json_object_new_object();
			dialect_json_set_str(choice, "type", "auto");
		}
		if (strcmp(dialect_json_str(choice, "type"), "none") != 0)
			json_object_object_add(choice, "disable_parallel_tool_use",
			                       json_object_new_boolean(1));
	}

	const char *effort = dialect_json_str(canon, "reasoning_effort");
	long budget = effort ? dialect_effort_budget(effort) : 0;
	if (budget < 0)
		budget = ANTHROPIC_DEFAULT_BUDGET;
	if (budget > 0) {
		json_object *th = json_object_new_object();
		dialect_json_set_str(th, "type", "enabled");
		json_object_object_add(th, "budget_tokens", json_object_new_int64(budget));
		json_object_object_add(r, "thinking", th);
		/* budget_tokens counts inside max_tokens and must stay below
		 * it; keep the requested room for the answer on top. */
		if (max_tokens <= budget)
			max_tokens = budget + (max_tokens > 0 ? max_tokens : ANTHROPIC_FALLBACK_MAX_TOKENS);
		/* Extended thinking rejects sampling parameters and forced tool use. */
		json_object_object_del(r, "temperature");
		json_object_object_del(r, "top_p");
		json_object_object_del(r, "top_k");
		const char *ct = choice ? dialect_json_str(choice, "type") : NULL;
		if (ct && (strcmp(ct, "any") == 0 || strcmp(ct, "tool") == 0)) {
			dialect_json_set_str(choice, "type", "auto");
			json_object_object_del(choice, "name");
		}
	}
	json_object_object_add(r, "max_tokens", json_object_new_int64(max_tokens));
	if (system.len > 0)
		dialect_json_set_strn(r, "system", system.data, system.len);
	json_object_object_add(r, "messages", messages);
	messages = NULL;
	if (tools)
		json_object_object_add(r, "tools", tools);
	if (choice)
		json_object_object_add(r, "tool_choice", choice);

	const char *user = dialect_json_str(canon, "user");
	if (str_empty(user))
		user = dialect_json_str(canon, "safety_identifier");
	if (!str_empty(user)) {
		json_object *md = json_object_new_object();
		dialect_json_set_str(md, "user_id", user);
		json_object_object_add(r, "metadata", md);
	}
	json_object_object_add(r, "stream", json_object_new_boolean(o->stream));
	buf_free(&system);
	return r;

fail:
	json_object_put(tools);
	json_object_put(choice);
	json_object_put(messages);
	json_object_put(r);
	buf_free(&system);
	return NULL;
}

/* ---------- decoding: shared ---------- */

static const char *anthropic_finish(const char *stop_reason)
{
	static const struct {
		const char *from, *to;
	} map[] = {
	    {"end_turn", "stop"},       {"stop_sequence", "stop"},
	    {"max_tokens", "length"},   {"model_context_window_exceeded", "length"},
	    {"tool_use", "tool_calls"}, {"refusal", "content_filter"},
	    {"pause_turn", "stop"},
	};
	if (!stop_reason)
		return "stop";
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(map[i].from, stop_reason) == 0)
			return map[i].to;
	return "stop";
}

/* Anthropic usage fields, cumulative; a field the upstream did not send
 * keeps its earlier value. */
struct anthropic_usage {
	int64_t input, cache_creation, cache_read, output, thinking;
	bool seen, have_cache_creation;
};

static void usage_update(struct anthropic_usage *u, json_object *src)
{
	if (!json_object_is_type(src, json_type_object))
		return;
	u->seen = true;
	dialect_json_count(src, "input_tokens", &u->input);
	if (dialect_json_count(src, "cache_creation_input_tokens", &u->cache_creation))
		u->have_cache_creation = true;
	dialect_json_count(src, "cache_read_input_tokens", &u->cache_read);
	dialect_json_count(src, "output_tokens", &u->output);
	dialect_json_count(dialect_json_get(src, "output_tokens_details", json_type_object),
	                   "thinking_tokens", &u->thinking);
}

static json_object *usage_canonical(const struct anthropic_usage *u)
{
	int64_t prompt = u->input + u->cache_creation + u->cache_read;
	return dialect_usage_new(prompt, u->output, prompt + u->output, u->cache_read, u->thinking,
	                         u->have_cache_creation ? u->cache_creation : -1);
}

/* ---------- decoding: stream (§4.6) ---------- */

enum block_kind { BLOCK_TEXT, BLOCK_THINKING, BLOCK_TOOL, BLOCK_OTHER };

/* A content block by Anthropic's index, which counts every block; tool
 * calls get their own canonical counter. Looked up linearly so a hostile
 * index never sizes an allocation. */
struct ant_block {
	int64_t index;
	enum block_kind kind;
	int tool_idx;
	bool args_at_start; /* input arrived whole in content_block_start */
};

struct anthropic_state {
	struct ant_block *blocks;
	size_t n, cap;
	int tools;
	const char *stop; /* canonical finish reason from message_delta; static */
	struct anthropic_usage usage;
	/* Where the client of a passed-through stream is: blocks started,
	 * and the one open (-1 none), for continuing it elsewhere. */
	int64_t next_index, open_index;
	enum block_kind open_kind;
};

static void *anthropic_state_new(void)
{
	struct anthropic_state *st = xcalloc(1, sizeof(struct anthropic_state));
	st->open_index = -1;
	return st;
}

bool stream_decoder_block_position(const struct stream_decoder *sd, int64_t *next_index, int64_t *open_index,
				   bool *open_is_text)
{
	if (!sd || sd->dialect != DIALECT_ANTHROPIC || !sd->state)
		return false;
	const struct anthropic_state *st = sd->state;
	*next_index = st->next_index;
	*open_index = st->open_index;
	*open_is_text = st->open_index >= 0 && st->open_kind == BLOCK_TEXT;
	return true;
}

static void anthropic_state_free(void *p)
{
	struct anthropic_state *st = p;
	free(st->blocks);
	free(st);
}

static struct ant_block *block_find(struct anthropic_state *st, int64_t index)
{
	for (size_t i = st->n; i-- > 0;)
		if (st->blocks[i].index == index)
			return &st->blocks[i];
	return NULL;
}

static struct ant_block *block_add(struct anthropic_state *st, int64_t index, enum block_kind kind)
{
	if (st->n == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 8;
		st->blocks = xrealloc(st->blocks, st->cap * sizeof *st->blocks);
	}
	struct ant_block *b = &st->blocks[st->n++];
	*b = (struct ant_block){.index = index, .kind = kind, .tool_idx = -1};
	return b;
}

static int emit_string(struct stream_decoder *sd, const char *field, json_object *s)
{
	if (!s)
		return 0;
	return dialect_emit_text(sd, 0, field, json_object_get_string(s),
	                         (size_t)json_object_get_string_len(s));
}

static int on_message_start(struct stream_decoder *sd, struct anthropic_state *st, json_object *o)
{
	json_object *msg = dialect_json_get(o, "message", json_type_object);
	dialect_note_id(sd, dialect_json_str(msg, "id"));
	dialect_note_model(sd, dialect_json_str(msg, "model"));
	usage_update(&st->usage, dialect_json_get(msg, "usage", json_type_object));
	json_object *d = json_object_new_object();
	dialect_json_set_str(d, "content", "");
	return dialect_emit_delta(sd, 0, d);
}

static int on_block_start(struct stream_decoder *sd, struct anthropic_state *st, json_object *o)
{
	int64_t index;
	json_object *cb = dialect_json_get(o, "content_block", json_type_object);
	if (!dialect_json_int(o, "index", &index) || !cb)
		return 0;
	const char *type = dialect_json_str(cb, "type");
	if (!type)
		type = "";
	if (index >= st->next_index && index < INT32_MAX)
		st->next_index = index + 1;
	st->open_index = index;
	st->open_kind = strcmp(type, "text") == 0 ? BLOCK_TEXT : strcmp(type, "thinking") == 0 ? BLOCK_THINKING
					     : strcmp(type, "tool_use") == 0 ? BLOCK_TOOL : BLOCK_OTHER;
	if (strcmp(type, "text") == 0) {
		block_add(st, index, BLOCK_TEXT);
		return emit_string(sd, "content", dialect_json_get(cb, "text", json_type_string));
	}
	if (strcmp(type, "thinking") == 0) {
		block_add(st, index, BLOCK_THINKING);
		return emit_string(sd, "reasoning_content",
		                   dialect_json_get(cb, "thinking", json_type_string));
	}
	if (strcmp(type, "tool_use") != 0) {
		/* redacted_thinking, server tools and their results: nothing an
		 * OpenAI client can use. */
		block_add(st, index, BLOCK_OTHER);
		return 0;
	}
	struct ant_block *b = block_add(st, index, BLOCK_TOOL);
	b->tool_idx = st->tools++;
	/* The API starts every tool block with "input":{} and streams the
	 * JSON; a proxy that sends the input whole gets it used as is. */
	json_object *input = dialect_json_get(cb, "input", json_type_object);
	b->args_at_start = input && json_object_object_length(input) > 0;
	json_object *call = dialect_tool_call_new(b->tool_idx, dialect_json_str(cb, "id"), "toolu_",
	                                          dialect_json_str(cb, "name"),
	                                          b->args_at_start ? dialect_arguments_string(input) : NULL);
	return dialect_emit_tool_call(sd, 0, call);
}

static int on_block_delta(struct stream_decoder *sd, struct anthropic_state *st, json_object *o)
{
	json_object *delta = dialect_json_get(o, "delta", json_type_object);
	const char *type = dialect_json_str(delta, "type");
	if (!type)
		return 0;
	if (strcmp(type, "text_delta") == 0)
		return emit_string(sd, "content", dialect_json_get(delta, "text", json_type_string));
	if (strcmp(type, "thinking_delta") == 0)
		return emit_string(sd, "reasoning_content",
		                   dialect_json_get(delta, "thinking", json_type_string));
	if (strcmp(type, "input_json_delta") != 0)
		return 0; /* signature_delta, citations_delta, newer kinds */
	int64_t index;
	if (!dialect_json_int(o, "index", &index))
		return 0;
	struct ant_block *b = block_find(st, index);
	json_object *pj = dialect_json_get(delta, "partial_json", json_type_string);
	if (!b || b->kind != BLOCK_TOOL || b->args_at_start || !pj || json_object_get_string_len(pj) == 0)
		return 0;
	json_object *fn = json_object_new_object();
	json_object_object_add(fn, "arguments", json_object_get(pj));
	json_object *call = json_object_new_object();
	json_object_object_add(call, "index", json_object_new_int(b->tool_idx));
	json_object_object_add(call, "function", fn);
	return dialect_emit_tool_call(sd, 0, call);
}

static int on_message_stop(struct stream_decoder *sd, struct anthropic_state *st)
{
	sd->done = true;
	int rc = dialect_emit_finish(sd, 0, st->stop ? st->stop : "stop");
	if (rc)
		return rc;
	if (st->usage.seen) {
		dialect_set_usage(sd, usage_canonical(&st->usage));
		rc = dialect_emit_usage(sd);
		if (rc)
			return rc;
	}
	return STREAM_DONE;
}

static int anthropic_event(struct stream_decoder *sd, const char *event, const char *data, size_t len)
{
	struct anthropic_state *st = sd->state;
	int rc;
	json_object *o = dialect_event_object(sd, data, len, &rc);
	/* Empty data (a bare "event: ping") and OpenRouter's trailing [DONE]
	 * carry nothing; message_stop ends the stream. */
	if (!o)
		return rc == STREAM_DONE ? STREAM_OK : rc;
	/* data.type repeats the event name; it survives proxies that drop
	 * the event: line, so it wins. */
	const char *type = dialect_json_str(o, "type");
	if (!type)
		type = event;
	if (!type) {
		if (dialect_json_get(o, "error", json_type_object))
			rc = dialect_fail_event(sd, o);
	} else if (strcmp(type, "message_start") == 0) {
		rc = on_message_start(sd, st, o);
		/* The prompt's count comes first: known even if the stream breaks. */
		if (st->usage.seen)
			dialect_set_usage(sd, usage_canonical(&st->usage));
	} else if (strcmp(type, "content_block_start") == 0) {
		rc = on_block_start(sd, st, o);
	} else if (strcmp(type, "content_block_delta") == 0) {
		rc = on_block_delta(sd, st, o);
	} else if (strcmp(type, "message_delta") == 0) {
		const char *sr =
		    dialect_json_str(dialect_json_get(o, "delta", json_type_object), "stop_reason");
		if (sr)
			st->stop = anthropic_finish(sr);
		usage_update(&st->usage, dialect_json_get(o, "usage", json_type_object));
		if (st->usage.seen)
			dialect_set_usage(sd, usage_canonical(&st->usage));
	} else if (strcmp(type, "message_stop") == 0) {
		rc = on_message_stop(sd, st);
	} else if (strcmp(type, "content_block_stop") == 0) {
		st->open_index = -1;
	} else if (strcmp(type, "error") == 0) {
		rc = dialect_fail_event(sd, o);
	}
	/* content_block_stop, ping and unknown events carry nothing for us. */
	json_object_put(o);
	return rc;
}

static int anthropic_finish_stream(struct stream_decoder *sd)
{
	return dialect_fail(sd, 0, "upstream stream ended before message_stop");
}

/* ---------- decoding: whole response ---------- */

static json_object *anthropic_response(json_object *resp, const char *model, char **err)
{
	const char *type = dialect_json_str(resp, "type");
	if ((type && strcmp(type, "error") == 0) || dialect_json_get(resp, "error", json_type_object)) {
		*err = dialect_error_text(resp);
		return NULL;
	}
	json_object *content = dialect_json_get(resp, "content", json_type_array);
	if (!content) {
		*err = xstrdup("anthropic response has no content");
		return NULL;
	}
	struct buf text = BUF_INIT, thinking = BUF_INIT;
	bool any_text = false;
	json_object *calls = json_object_new_array();
	size_t n = json_object_array_length(content);
	for (size_t i = 0; i < n; i++) {
		json_object *b = json_object_array_get_idx(content, i);
		const char *bt = dialect_json_str(b, "type");
		if (!bt)
			continue;
		if (strcmp(bt, "text") == 0) {
			json_object *t = dialect_json_get(b, "text", json_type_string);
			if (t) {
				any_text = true;
				buf_append(&text, json_object_get_string(t),
				           (size_t)json_object_get_string_len(t));
			}
		} else if (strcmp(bt, "thinking") == 0) {
			json_object *t = dialect_json_get(b, "thinking", json_type_string);
			if (t)
				buf_append(&thinking, json_object_get_string(t),
				           (size_t)json_object_get_string_len(t));
		} else if (strcmp(bt, "tool_use") == 0) {
			json_object *input = dialect_json_get(b, "input", json_type_object);
			json_object_array_add(calls,
			                      dialect_tool_call_new(-1, dialect_json_str(b, "id"), "toolu_",
			                                            dialect_json_str(b, "name"),
			                                            input ? dialect_arguments_string(input)
			                                                  : json_object_new_string("{}")));
		}
	}
	json_object *msg = dialect_message_new(any_text ? &text : NULL, &thinking, calls);
	buf_free(&text);
	buf_free(&thinking);

	const char *m = dialect_json_str(resp, "model");
	json_object *r = dialect_completion_new(dialect_json_str(resp, "id"), 0, str_empty(m) ? model : m);
	dialect_completion_add_choice(r, 0, msg, anthropic_finish(dialect_json_str(resp, "stop_reason")));

	struct anthropic_usage u = {0};
	usage_update(&u, dialect_json_get(resp, "usage", json_type_object));
	if (u.seen)
		json_object_object_add(r, "usage", usage_canonical(&u));
	return r;
}

const struct dialect_ops dialect_anthropic_ops = {
    .name = "anthropic",
    .build_request = anthropic_build_request,
    .response_to_canonical = anthropic_response,
    .decoder_state_new = anthropic_state_new,
    .decoder_state_free = anthropic_state_free,
    .decoder_event = anthropic_event,
    .decoder_finish = anthropic_finish_stream,
};
