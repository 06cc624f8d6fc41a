/* ingress-anthropic.c - Anthropic Messages clients of the proxy: their
 * request → canonical, and canonical chunks/completions → Messages SSE
 * events and message objects (wire-formats.md §2, §4.4–§4.6). */
#include "config.h"

#include "ingress.h"

#include "buf.h"
#include "dialect-internal.h"
#include "jsonw.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- request ---------- */

/* "data:<mime>;base64,<data>"; owned by the caller. */
static char *data_url(const char *mime, const char *data)
{
	return xasprintf("data:%s;base64,%s", mime, data);
}

static json_object *image_part(json_object *block, const char *where, char **err)
{
	json_object *src = dialect_json_get(block, "source", json_type_object);
	const char *type = dialect_json_str(src, "type");
	char *url = NULL;
	if (type && strcmp(type, "base64") == 0) {
		const char *mime = dialect_json_str(src, "media_type");
		const char *data = dialect_json_str(src, "data");
		if (str_empty(data)) {
			*err = xasprintf("%s: image source has no data", where);
			return NULL;
		}
		url = data_url(str_empty(mime) ? "image/png" : mime, data);
	} else if (type && strcmp(type, "url") == 0 && !str_empty(dialect_json_str(src, "url"))) {
		url = xstrdup(dialect_json_str(src, "url"));
	} else {
		*err = xasprintf("%s: image source must be base64 or url", where);
		return NULL;
	}
	json_object *p = ingress_image_url_part(url);
	free(url);
	return p;
}

/* Appends the text blocks of a content value (a string or blocks) to out,
 * separated by sep. */
static void blocks_text(json_object *content, struct buf *out, const char *sep)
{
	if (json_object_is_type(content, json_type_string)) {
		buf_append(out, json_object_get_string(content), (size_t)json_object_get_string_len(content));
		return;
	}
	size_t n = json_object_is_type(content, json_type_array) ? json_object_array_length(content) : 0;
	bool first = out->len == 0;
	for (size_t i = 0; i < n; i++) {
		json_object *t =
		    dialect_json_get(json_object_array_get_idx(content, i), "text", json_type_string);
		if (!t)
			continue;
		if (!first)
			buf_puts(out, sep);
		buf_append(out, json_object_get_string(t), (size_t)json_object_get_string_len(t));
		first = false;
	}
}

/* A document block: a base64 PDF becomes an OpenAI file part, a text or
 * content source becomes text; added to parts. */
static int document_part(json_object *block, json_object *parts, const char *where, char **err)
{
	json_object *src = dialect_json_get(block, "source", json_type_object);
	const char *type = dialect_json_str(src, "type");
	if (type && strcmp(type, "base64") == 0) {
		const char *mime = dialect_json_str(src, "media_type");
		const char *data = dialect_json_str(src, "data");
		if (str_empty(data)) {
			*err = xasprintf("%s: document source has no data", where);
			return -1;
		}
		char *url = data_url(str_empty(mime) ? "application/pdf" : mime, data);
		const char *title = dialect_json_str(block, "title");
		/* OpenAI requires a filename with file_data. */
		json_object_array_add(parts,
		                      ingress_file_part(str_empty(title) ? "document.pdf" : title, url));
		free(url);
		return 0;
	}
	if (type && (strcmp(type, "text") == 0 || strcmp(type, "content") == 0)) {
		struct buf t = BUF_INIT;
		blocks_text(strcmp(type, "text") == 0 ? dialect_json_get(src, "data", json_type_string)
		                                      : json_object_object_get(src, "content"),
		            &t, "\n");
		if (t.len > 0)
			json_object_array_add(parts, ingress_text_part(t.data, t.len));
		buf_free(&t);
		return 0;
	}
	*err = xasprintf(type && strcmp(type, "url") == 0
	                     ? "%s: document url sources are not supported; send the file as base64"
	                     : "%s: document source must be base64, text or content",
	                 where);
	return -1;
}

/* One tool message for a tool_result block; images it carries go to
 * extra (the user message that follows), as tool messages hold text only. */
static json_object *tool_message(json_object *block, json_object *extra, const char *where, char **err)
{
	const char *id = dialect_json_str(block, "tool_use_id");
	if (str_empty(id)) {
		*err = xasprintf("%s: tool_result needs a tool_use_id", where);
		return NULL;
	}
	json_object *content = NULL;
	json_object_object_get_ex(block, "content", &content);
	struct buf text = BUF_INIT;
	bool is_error = false;
	dialect_json_bool(block, "is_error", &is_error);
	if (is_error)
		buf_puts(&text, "Error: ");
	size_t lead = text.len;
	if (json_object_is_type(content, json_type_string)) {
		buf_append(&text, json_object_get_string(content),
		           (size_t)json_object_get_string_len(content));
	} else if (json_object_is_type(content, json_type_array)) {
		size_t n = json_object_array_length(content);
		for (size_t i = 0; i < n; i++) {
			json_object *b = json_object_array_get_idx(content, i);
			const char *bt = dialect_json_str(b, "type");
			json_object *t = dialect_json_get(b, "text", json_type_string);
			if (t) {
				if (text.len > lead)
					buf_putc(&text, '\n');
				buf_append(&text, json_object_get_string(t),
				           (size_t)json_object_get_string_len(t));
			} else if (bt && strcmp(bt, "image") == 0) {
				char *e = NULL;
				json_object *p = image_part(b, where, &e);
				if (p)
					json_object_array_add(extra, p);
				free(e); /* an unreadable image in a result is dropped */
			}
		}
	}
	json_object *m = ingress_tool_message(id, text.data, text.len);
	buf_free(&text);
	return m;
}

/* A user turn: its tool results first (one tool message each), then the
 * rest of its content as one user message. */
static int user_turn(json_object *content, json_object *messages, size_t mi, char **err)
{
	json_object *parts = json_object_new_array();
	size_t n = json_object_array_length(content);
	char where[64];
	for (size_t i = 0; i < n; i++) {
		json_object *b = json_object_array_get_idx(content, i);
		snprintf(where, sizeof where, "messages.%zu.content.%zu", mi, i);
		if (json_object_is_type(b, json_type_string)) {
			json_object_array_add(parts,
			                      ingress_text_part(json_object_get_string(b),
			                                        (size_t)json_object_get_string_len(b)));
			continue;
		}
		const char *type = dialect_json_str(b, "type");
		if (!type) {
			*err = xasprintf("%s: a content block must be an object with a type", where);
			json_object_put(parts);
			return -1;
		}
		int rc = 0;
		if (strcmp(type, "text") == 0) {
			json_object *t = dialect_json_get(b, "text", json_type_string);
			if (!t) {
				*err = xasprintf("%s: text block has no text", where);
				rc = -1;
			} else {
				json_object_array_add(
				    parts, ingress_text_part(json_object_get_string(t),
				                             (size_t)json_object_get_string_len(t)));
			}
		} else if (strcmp(type, "image") == 0) {
			json_object *p = image_part(b, where, err);
			if (p)
				json_object_array_add(parts, p);
			else
				rc = -1;
		} else if (strcmp(type, "document") == 0) {
			rc = document_part(b, parts, where, err);
		} else if (strcmp(type, "tool_result") == 0) {
			json_object *m = tool_message(b, parts, where, err);
			if (m)
				json_object_array_add(messages, m);
			else
				rc = -1;
		}
		/* thinking in a user turn, search results, newer kinds: nothing an
		 * OpenAI-shaped upstream can take. */
		if (rc) {
			json_object_put(parts);
			return -1;
		}
	}
	ingress_add_user_message(messages, parts);
	json_object_put(parts);
	return 0;
}

static int assistant_turn(json_object *content, json_object *messages, size_t mi, char **err)
{
	struct buf text = BUF_INIT, thinking = BUF_INIT;
	json_object *calls = json_object_new_array();
	size_t n = json_object_array_length(content);
	for (size_t i = 0; i < n; i++) {
		json_object *b = json_object_array_get_idx(content, i);
		if (json_object_is_type(b, json_type_string)) {
			buf_append(&text, json_object_get_string(b), (size_t)json_object_get_string_len(b));
			continue;
		}
		const char *type = dialect_json_str(b, "type");
		if (!type) {
			*err = xasprintf(
			    "messages.%zu.content.%zu: a content block must be an object with a type", mi, i);
			goto fail;
		}
		if (strcmp(type, "text") == 0) {
			json_object *t = dialect_json_get(b, "text", json_type_string);
			if (t)
				buf_append(&text, json_object_get_string(t),
				           (size_t)json_object_get_string_len(t));
		} else if (strcmp(type, "thinking") == 0) {
			json_object *t = dialect_json_get(b, "thinking", json_type_string);
			if (t)
				buf_append(&thinking, json_object_get_string(t),
				           (size_t)json_object_get_string_len(t));
		} else if (strcmp(type, "tool_use") == 0) {
			const char *id = dialect_json_str(b, "id");
			const char *name = dialect_json_str(b, "name");
			if (str_empty(id) || str_empty(name)) {
				*err = xasprintf("messages.%zu.content.%zu: tool_use needs an id and a name",
				                 mi, i);
				goto fail;
			}
			json_object *input = NULL;
			json_object_object_get_ex(b, "input", &input);
			json_object_array_add(calls, ingress_tool_call(id, name, input));
		}
		/* redacted_thinking, server tool blocks: dropped. */
	}
	size_t nc = json_object_array_length(calls);
	if (text.len > 0 || nc > 0 || thinking.len > 0) {
		json_object *m = json_object_new_object();
		dialect_json_set_str(m, "role", "assistant");
		if (text.len > 0 || nc == 0)
			dialect_json_set_strn(m, "content", text.len ? text.data : "", text.len);
		else
			json_object_object_add(m, "content", NULL);
		if (nc > 0)
			json_object_object_add(m, "tool_calls", json_object_get(calls));
		if (thinking.len > 0)
			dialect_json_set_strn(m, "reasoning_content", thinking.data, thinking.len);
		json_object_array_add(messages, m);
	}
	json_object_put(calls);
	buf_free(&text);
	buf_free(&thinking);
	return 0;
fail:
	json_object_put(calls);
	buf_free(&text);
	buf_free(&thinking);
	return -1;
}

static int convert_messages(json_object *src, json_object *messages, char **err)
{
	size_t n = json_object_array_length(src);
	for (size_t i = 0; i < n; i++) {
		json_object *m = json_object_array_get_idx(src, i);
		const char *role = dialect_json_str(m, "role");
		if (!role) {
			*err = xasprintf("messages.%zu: a message must be an object with a role", i);
			return -1;
		}
		json_object *content = NULL;
		json_object_object_get_ex(m, "content", &content);
		bool user = strcmp(role, "user") == 0;
		if (!user && strcmp(role, "assistant") != 0 && strcmp(role, "system") != 0) {
			*err = xasprintf("messages.%zu: unknown role \"%s\"", i, role);
			return -1;
		}
		if (strcmp(role, "system") == 0 || json_object_is_type(content, json_type_string)) {
			struct buf t = BUF_INIT;
			blocks_text(content, &t, "\n");
			ingress_add_text_message(messages, role, t.data, t.len);
			buf_free(&t);
			continue;
		}
		if (!json_object_is_type(content, json_type_array)) {
			*err = xasprintf("messages.%zu: content must be a string or an array of blocks", i);
			return -1;
		}
		int rc =
		    user ? user_turn(content, messages, i, err) : assistant_turn(content, messages, i, err);
		if (rc)
			return -1;
	}
	return 0;
}

static json_object *convert_tools(json_object *tools, char **err)
{
	json_object *out = json_object_new_array();
	size_t n = json_object_array_length(tools);
	for (size_t i = 0; i < n; i++) {
		json_object *t = json_object_array_get_idx(tools, i);
		const char *name = dialect_json_str(t, "name");
		const char *type = dialect_json_str(t, "type");
		if (type && strcmp(type, "custom") != 0) {
			*err = xasprintf("tools.%zu: server tool \"%s\" (%s) is not supported by this proxy",
			                 i, name ? name : "", type);
			json_object_put(out);
			return NULL;
		}
		if (str_empty(name)) {
			*err = xasprintf("tools.%zu: a tool needs a name", i);
			json_object_put(out);
			return NULL;
		}
		json_object *schema = dialect_json_get(t, "input_schema", json_type_object);
		json_object *params = NULL;
		if (schema)
			json_object_deep_copy(schema, &params, NULL);
		json_object *fn = ingress_function_decl(name, dialect_json_str(t, "description"), params);
		bool strict;
		if (dialect_json_bool(t, "strict", &strict))
			json_object_object_add(fn, "strict", json_object_new_boolean(strict));
		json_object_array_add(out, ingress_function(fn));
	}
	return out;
}

static int convert_tool_choice(json_object *tc, json_object *r, char **err)
{
	const char *type = dialect_json_str(tc, "type");
	if (!type)
		return 0;
	if (strcmp(type, "auto") == 0) {
		dialect_json_set_str(r, "tool_choice", "auto");
	} else if (strcmp(type, "any") == 0) {
		dialect_json_set_str(r, "tool_choice", "required");
	} else if (strcmp(type, "none") == 0) {
		dialect_json_set_str(r, "tool_choice", "none");
	} else if (strcmp(type, "tool") == 0) {
		const char *name = dialect_json_str(tc, "name");
		if (str_empty(name)) {
			*err = xstrdup("tool_choice: type \"tool\" needs a name");
			return -1;
		}
		json_object *fn = json_object_new_object();
		dialect_json_set_str(fn, "name", name);
		json_object_object_add(r, "tool_choice", ingress_function(fn));
	} else {
		return 0; /* a newer kind: the upstream's default */
	}
	bool dp = false;
	if (dialect_json_bool(tc, "disable_parallel_tool_use", &dp) && dp)
		json_object_object_add(r, "parallel_tool_calls", json_object_new_boolean(false));
	return 0;
}

/* Copies a number field; a wrong type is an error. */
static int copy_number(json_object *body, const char *key, json_object *r, const char *to, char **err)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(body, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	double d;
	if (!dialect_json_num(body, key, &d)) {
		*err = xasprintf("\"%s\" must be a number", key);
		return -1;
	}
	int64_t i;
	json_object_object_add(r, to,
	                       json_object_is_type(v, json_type_int) && dialect_json_as_int(v, &i)
	                           ? json_object_new_int64(i)
	                           : json_new_number(d));
	return 0;
}

static int convert_params(json_object *body, json_object *r, char **err)
{
	json_object *v = NULL;
	if (json_object_object_get_ex(body, "max_tokens", &v) && !json_object_is_type(v, json_type_null)) {
		int64_t mt;
		if (!dialect_json_as_int(v, &mt) || mt < 0) {
			*err = xstrdup("\"max_tokens\" must be a non-negative integer");
			return -1;
		}
		json_object_object_add(r, "max_tokens", json_object_new_int64(mt));
	}
	if (copy_number(body, "temperature", r, "temperature", err) ||
	    copy_number(body, "top_p", r, "top_p", err))
		return -1;
	if (json_object_object_get_ex(body, "stop_sequences", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_array)) {
			*err = xstrdup("\"stop_sequences\" must be an array of strings");
			return -1;
		}
		json_object *stop = json_object_new_array();
		size_t n = json_object_array_length(v);
		for (size_t i = 0; i < n; i++) {
			json_object *s = json_object_array_get_idx(v, i);
			if (!json_object_is_type(s, json_type_string)) {
				json_object_put(stop);
				*err = xstrdup("\"stop_sequences\" must be an array of strings");
				return -1;
			}
			json_object_array_add(stop, ingress_string_copy(s));
		}
		if (json_object_array_length(stop) > 0)
			json_object_object_add(r, "stop", stop);
		else
			json_object_put(stop);
	}
	bool stream = false;
	if (dialect_json_bool(body, "stream", &stream))
		json_object_object_add(r, "stream", json_object_new_boolean(stream));

	json_object *tools = NULL;
	if (json_object_object_get_ex(body, "tools", &tools) && !json_object_is_type(tools, json_type_null)) {
		if (!json_object_is_type(tools, json_type_array)) {
			*err = xstrdup("\"tools\" must be an array");
			return -1;
		}
		json_object *t = convert_tools(tools, err);
		if (!t)
			return -1;
		if (json_object_array_length(t) > 0)
			json_object_object_add(r, "tools", t);
		else
			json_object_put(t);
	}
	json_object *tc = dialect_json_get(body, "tool_choice", json_type_object);
	if (tc && convert_tool_choice(tc, r, err))
		return -1;

	json_object *thinking = dialect_json_get(body, "thinking", json_type_object);
	const char *ttype = dialect_json_str(thinking, "type");
	if (ttype && strcmp(ttype, "enabled") == 0) {
		int64_t budget = 4096;
		dialect_json_int(thinking, "budget_tokens", &budget);
		dialect_json_set_str(r, "reasoning_effort", ingress_effort_for_budget(budget));
	}
	json_object *oc = dialect_json_get(body, "output_config", json_type_object);
	const char *effort = dialect_json_str(oc, "effort");
	if (!str_empty(effort) && !dialect_json_get(r, "reasoning_effort", json_type_string))
		dialect_json_set_str(r, "reasoning_effort", effort);
	json_object *fmt = dialect_json_get(oc, "format", json_type_object);
	json_object *schema = dialect_json_get(fmt, "schema", json_type_object);
	const char *ftype = dialect_json_str(fmt, "type");
	if (ftype && strcmp(ftype, "json_schema") == 0 && schema) {
		json_object *copy = NULL;
		json_object_deep_copy(schema, &copy, NULL);
		ingress_set_json_schema(r, copy);
	}
	const char *user = dialect_json_str(dialect_json_get(body, "metadata", json_type_object), "user_id");
	if (!str_empty(user))
		dialect_json_set_str(r, "user", user);
	return 0;
}

json_object *ingress_anthropic_request(json_object *body, char **err)
{
	*err = NULL;
	if (!json_object_is_type(body, json_type_object)) {
		*err = xstrdup("request body must be a JSON object");
		return NULL;
	}
	const char *model = dialect_json_str(body, "model");
	if (str_empty(model)) {
		*err = xstrdup("model: must be a non-empty string");
		return NULL;
	}
	json_object *src = dialect_json_get(body, "messages", json_type_array);
	if (!src) {
		*err = xstrdup("messages: must be an array");
		return NULL;
	}
	json_object *r = json_object_new_object();
	dialect_json_set_str(r, "model", model);
	json_object *messages = json_object_new_array();
	json_object_object_add(r, "messages", messages);

	json_object *system = NULL;
	if (json_object_object_get_ex(body, "system", &system) &&
	    !json_object_is_type(system, json_type_null)) {
		if (!json_object_is_type(system, json_type_string) &&
		    !json_object_is_type(system, json_type_array)) {
			*err = xstrdup("system: must be a string or an array of text blocks");
			json_object_put(r);
			return NULL;
		}
		struct buf t = BUF_INIT;
		blocks_text(system, &t, "\n");
		if (t.len > 0)
			ingress_add_text_message(messages, "system", t.data, t.len);
		buf_free(&t);
	}
	if (convert_messages(src, messages, err) || convert_params(body, r, err)) {
		json_object_put(r);
		return NULL;
	}
	return r;
}

/* ---------- shared by stream and whole response ---------- */

static const char *stop_reason(const char *finish, bool saw_tool)
{
	if (!finish || strcmp(finish, "stop") == 0)
		return saw_tool ? "tool_use" : "end_turn";
	if (strcmp(finish, "length") == 0)
		return "max_tokens";
	if (strcmp(finish, "tool_calls") == 0 || strcmp(finish, "function_call") == 0)
		return "tool_use";
	if (strcmp(finish, "content_filter") == 0)
		return "refusal";
	return "end_turn";
}

/* Anthropic's usage for a canonical one: input_tokens excludes the cached
 * and cache-written parts, which have fields of their own. */
static json_object *anthropic_usage(const struct ingress_usage *u, bool whole)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "input_tokens",
	                       json_object_new_int64(u->prompt - u->cached - u->cache_write));
	if (whole || u->have_cache_write)
		json_object_object_add(o, "cache_creation_input_tokens",
		                       json_object_new_int64(u->cache_write));
	json_object_object_add(o, "cache_read_input_tokens", json_object_new_int64(u->cached));
	json_object_object_add(o, "output_tokens", json_object_new_int64(u->completion));
	return o;
}

/* "msg_…" from a canonical id; owned by the caller. */
static char *message_id(const char *id)
{
	if (str_empty(id))
		return dialect_mint_id("msg_");
	if (str_has_prefix(id, "msg_"))
		return xstrdup(id);
	return xasprintf("msg_%s", id);
}

/* A tool_use content block for the canonical tool call tc (fn its
 * "function"), with input (ownership taken); an absent id is minted as
 * "toolu_…". Owned by the caller. */
static json_object *tool_use_block(json_object *tc, json_object *fn, json_object *input)
{
	json_object *b = json_object_new_object();
	dialect_json_set_str(b, "type", "tool_use");
	ingress_set_id(b, "id", dialect_json_str(tc, "id"), "toolu_");
	dialect_json_set_str(b, "name", dialect_json_str(fn, "name"));
	json_object_object_add(b, "input", input);
	return b;
}

/* ---------- stream encoder (wire-formats.md §4.6, OpenAI → Anthropic) ---------- */

enum ant_block { BLK_NONE, BLK_TEXT, BLK_THINKING, BLK_TOOL };

struct ant_tool {
	int64_t idx; /* canonical tool_calls index */
	int block;   /* Anthropic content block index */
};

struct ant_enc {
	char *model;
	bool started, ended;
	enum ant_block open;
	int open_index; /* block index of the open block */
	int64_t open_tool;
	int next_index;
	struct ant_tool *tools;
	size_t ntools, cap;
	const char *finish; /* canonical finish reason; static or NULL */
	bool have_finish, have_usage;
	struct ingress_usage usage;
};

static void *ant_new(const char *model)
{
	struct ant_enc *st = xcalloc(1, sizeof *st);
	st->model = xstrdup(model ? model : "");
	return st;
}

static void ant_free(void *p)
{
	struct ant_enc *st = p;
	if (!st)
		return;
	free(st->model);
	free(st->tools);
	free(st);
}

/* Writes event type with data o (ownership taken), adding "type". */
static void emit(struct buf *out, const char *type, json_object *o)
{
	json_object *d = json_object_new_object();
	dialect_json_set_str(d, "type", type);
	json_object_object_foreach (o, k, v)
		json_object_object_add(d, k, json_object_get(v));
	json_object_put(o);
	ingress_write_json(out, type, d);
	json_object_put(d);
}

static void ant_start(struct ant_enc *st, const char *id, struct buf *out)
{
	if (st->started)
		return;
	st->started = true;
	json_object *m = json_object_new_object();
	char *mid = message_id(id);
	dialect_json_set_str(m, "id", mid);
	free(mid);
	dialect_json_set_str(m, "type", "message");
	dialect_json_set_str(m, "role", "assistant");
	dialect_json_set_str(m, "model", st->model);
	json_object_object_add(m, "content", json_object_new_array());
	json_object_object_add(m, "stop_reason", NULL);
	json_object_object_add(m, "stop_sequence", NULL);
	json_object *u = json_object_new_object();
	json_object_object_add(u, "input_tokens", json_object_new_int(0));
	json_object_object_add(u, "output_tokens", json_object_new_int(0));
	json_object_object_add(m, "usage", u);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "message", m);
	emit(out, "message_start", o);
}

static void ant_close(struct ant_enc *st, struct buf *out)
{
	if (st->open == BLK_NONE)
		return;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "index", json_object_new_int(st->open_index));
	emit(out, "content_block_stop", o);
	st->open = BLK_NONE;
}

/* Closes the open block and starts block (ownership taken) as kind. */
static int ant_open(struct ant_enc *st, enum ant_block kind, json_object *block, struct buf *out)
{
	ant_close(st, out);
	st->open = kind;
	st->open_index = st->next_index++;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "index", json_object_new_int(st->open_index));
	json_object_object_add(o, "content_block", block);
	emit(out, "content_block_start", o);
	return st->open_index;
}

static void ant_delta(int index, json_object *delta, struct buf *out)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "index", json_object_new_int(index));
	json_object_object_add(o, "delta", delta);
	emit(out, "content_block_delta", o);
}

static void ant_text(struct ant_enc *st, enum ant_block kind, json_object *s, struct buf *out)
{
	if (!s || json_object_get_string_len(s) == 0)
		return;
	const char *field = kind == BLK_TEXT ? "text" : "thinking";
	if (st->open != kind) {
		json_object *b = json_object_new_object();
		dialect_json_set_str(b, "type", field);
		dialect_json_set_str(b, field, "");
		if (kind == BLK_THINKING)
			dialect_json_set_str(b, "signature", "");
		ant_open(st, kind, b, out);
	}
	json_object *d = json_object_new_object();
	dialect_json_set_str(d, "type", kind == BLK_TEXT ? "text_delta" : "thinking_delta");
	json_object_object_add(d, field, ingress_string_copy(s));
	ant_delta(st->open_index, d, out);
}

static void ant_tool(struct ant_enc *st, json_object *tc, size_t pos, struct buf *out)
{
	int64_t idx = (int64_t)pos;
	dialect_json_int(tc, "index", &idx);
	json_object *fn = dialect_json_get(tc, "function", json_type_object);
	struct ant_tool *t = NULL;
	for (size_t i = 0; i < st->ntools; i++)
		if (st->tools[i].idx == idx)
			t = &st->tools[i];
	if (!t) {
		int block = ant_open(st, BLK_TOOL, tool_use_block(tc, fn, json_object_new_object()), out);
		st->open_tool = idx;
		if (st->ntools == st->cap) {
			st->cap = st->cap ? 2 * st->cap : 4;
			st->tools = xrealloc(st->tools, st->cap * sizeof *st->tools);
		}
		t = &st->tools[st->ntools++];
		*t = (struct ant_tool){.idx = idx, .block = block};
	}
	json_object *args = dialect_json_get(fn, "arguments", json_type_string);
	if (!args || json_object_get_string_len(args) == 0)
		return;
	/* A fragment for a call whose block was already closed (no upstream
	 * interleaves calls, but the format allows it) still goes to that
	 * block's index, where the SDKs accumulate by index. */
	json_object *d = json_object_new_object();
	dialect_json_set_str(d, "type", "input_json_delta");
	json_object_object_add(d, "partial_json", ingress_string_copy(args));
	ant_delta(t->block, d, out);
}

static void ant_end(struct ant_enc *st, struct buf *out)
{
	if (st->ended)
		return;
	ant_start(st, NULL, out);
	ant_close(st, out);
	st->ended = true;
	json_object *delta = json_object_new_object();
	dialect_json_set_str(delta, "stop_reason", stop_reason(st->finish, st->ntools > 0));
	json_object_object_add(delta, "stop_sequence", NULL);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "delta", delta);
	if (st->have_usage) {
		json_object_object_add(o, "usage", anthropic_usage(&st->usage, false));
	} else {
		json_object *u = json_object_new_object();
		json_object_object_add(u, "output_tokens", json_object_new_int(0));
		json_object_object_add(o, "usage", u);
	}
	emit(out, "message_delta", o);
	emit(out, "message_stop", json_object_new_object());
}

static void ant_resume(void *p, int64_t next_index, int64_t open_index, bool open_is_text, struct buf *out)
{
	struct ant_enc *st = p;
	st->started = true;
	st->next_index = (int)next_index;
	if (open_index >= 0) {
		/* Text goes on in the open block; anything else is closed. */
		st->open = open_is_text ? BLK_TEXT : BLK_THINKING;
		st->open_index = (int)open_index;
		if (!open_is_text)
			ant_close(st, out);
	}
}

static void ant_chunk(void *p, json_object *chunk, struct buf *out)
{
	struct ant_enc *st = p;
	if (st->ended || !json_object_is_type(chunk, json_type_object))
		return;
	ant_start(st, dialect_json_str(chunk, "id"), out);
	json_object *usage = dialect_json_get(chunk, "usage", json_type_object);
	if (usage) {
		ingress_usage_read(usage, &st->usage);
		st->have_usage = true;
	}
	json_object *choices = dialect_json_get(chunk, "choices", json_type_array);
	size_t n = choices ? json_object_array_length(choices) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *ch = json_object_array_get_idx(choices, i);
		int64_t index = (int64_t)i;
		dialect_json_int(ch, "index", &index);
		if (index != 0 || !json_object_is_type(ch, json_type_object))
			continue; /* Anthropic has one answer per message */
		json_object *d = dialect_json_get(ch, "delta", json_type_object);
		ant_text(st, BLK_THINKING, dialect_json_get(d, "reasoning_content", json_type_string), out);
		ant_text(st, BLK_TEXT, dialect_json_get(d, "content", json_type_string), out);
		json_object *calls = dialect_json_get(d, "tool_calls", json_type_array);
		size_t nc = calls ? json_object_array_length(calls) : 0;
		for (size_t k = 0; k < nc; k++) {
			json_object *tc = json_object_array_get_idx(calls, k);
			if (json_object_is_type(tc, json_type_object))
				ant_tool(st, tc, k, out);
		}
		const char *fr = dialect_json_str(ch, "finish_reason");
		if (fr) {
			ant_close(st, out);
			st->have_finish = true;
			/* Keep a static copy: the chunk is borrowed. */
			static const char *const words[] = {"stop", "length", "tool_calls", "content_filter",
			                                    "function_call"};
			st->finish = "stop";
			for (size_t w = 0; w < sizeof words / sizeof words[0]; w++)
				if (strcmp(words[w], fr) == 0)
					st->finish = words[w];
		}
	}
	/* Usage follows the finish reason: the message ends at whichever of
	 * the two comes last (or at stream_encoder_finish). */
	if (st->have_finish && st->have_usage)
		ant_end(st, out);
}

static void ant_finish(void *p, struct buf *out)
{
	ant_end(p, out);
}

const struct ingress_encoder_ops ingress_anthropic_encoder = {
    .state_new = ant_new,
    .resume = ant_resume,
    .chunk = ant_chunk,
    .finish = ant_finish,
    .state_free = ant_free,
};

/* ---------- whole response ---------- */

/* tool_use input: the arguments parsed, {} when they are not an object. */
static json_object *tool_input(json_object *args)
{
	if (json_object_is_type(args, json_type_string)) {
		json_object *p = dialect_json_parse(json_object_get_string(args),
		                                    (size_t)json_object_get_string_len(args));
		if (json_object_is_type(p, json_type_object))
			return p;
		json_object_put(p);
	} else if (json_object_is_type(args, json_type_object)) {
		json_object *copy = NULL;
		if (json_object_deep_copy(args, &copy, NULL) == 0 && copy)
			return copy;
	}
	return json_object_new_object();
}

json_object *ingress_anthropic_response(json_object *completion, const char *model)
{
	json_object *choices = dialect_json_get(completion, "choices", json_type_array);
	json_object *ch = NULL;
	size_t n = choices ? json_object_array_length(choices) : 0;
	for (size_t i = 0; i < n && !ch; i++) {
		json_object *c = json_object_array_get_idx(choices, i);
		int64_t index = (int64_t)i;
		dialect_json_int(c, "index", &index);
		if (index == 0 && json_object_is_type(c, json_type_object))
			ch = c;
	}
	json_object *msg = dialect_json_get(ch, "message", json_type_object);
	json_object *content = json_object_new_array();

	json_object *rc = dialect_json_get(msg, "reasoning_content", json_type_string);
	if (rc && json_object_get_string_len(rc) > 0) {
		json_object *b = json_object_new_object();
		dialect_json_set_str(b, "type", "thinking");
		json_object_object_add(b, "thinking", ingress_string_copy(rc));
		dialect_json_set_str(b, "signature", "");
		json_object_array_add(content, b);
	}
	struct buf text = BUF_INIT;
	json_object *c = NULL;
	json_object_object_get_ex(msg, "content", &c);
	blocks_text(c, &text, "");
	if (text.len == 0) {
		json_object *refusal = dialect_json_get(msg, "refusal", json_type_string);
		if (refusal)
			blocks_text(refusal, &text, "");
	}
	if (text.len > 0)
		json_object_array_add(content, ingress_text_part(text.data, text.len));
	buf_free(&text);
	json_object *calls = dialect_json_get(msg, "tool_calls", json_type_array);
	size_t nc = calls ? json_object_array_length(calls) : 0;
	size_t ntools = 0;
	for (size_t i = 0; i < nc; i++) {
		json_object *tc = json_object_array_get_idx(calls, i);
		json_object *fn = dialect_json_get(tc, "function", json_type_object);
		if (!fn)
			continue;
		json_object_array_add(
		    content, tool_use_block(tc, fn, tool_input(json_object_object_get(fn, "arguments"))));
		ntools++;
	}

	json_object *r = json_object_new_object();
	char *mid = message_id(dialect_json_str(completion, "id"));
	dialect_json_set_str(r, "id", mid);
	free(mid);
	dialect_json_set_str(r, "type", "message");
	dialect_json_set_str(r, "role", "assistant");
	dialect_json_set_str(r, "model", model);
	json_object_object_add(r, "content", content);
	dialect_json_set_str(r, "stop_reason",
	                     stop_reason(dialect_json_str(ch, "finish_reason"), ntools > 0));
	json_object_object_add(r, "stop_sequence", NULL);
	struct ingress_usage u;
	ingress_usage_read(dialect_json_get(completion, "usage", json_type_object), &u);
	json_object_object_add(r, "usage", anthropic_usage(&u, true));
	return r;
}
