/* ingress-gemini.c - Gemini generateContent clients of the proxy: their
 * request → canonical, and canonical chunks/completions →
 * GenerateContentResponse SSE chunks and objects (wire-formats.md §3,
 * §4.4–§4.6). The REST API takes both camelCase and snake_case field
 * names, so both are read. */
#include "config.h"

#include "ingress.h"

#include "buf.h"
#include "dialect-internal.h"
#include "jsonw.h"
#include "util.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The member camel (or its snake_case spelling) of o, any type; NULL when
 * absent or null. Borrowed. */
static json_object *gv(json_object *o, const char *camel, const char *snake)
{
	json_object *v = NULL;
	if (!json_object_is_type(o, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(o, camel, &v) && !(snake && json_object_object_get_ex(o, snake, &v)))
		return NULL;
	return json_object_is_type(v, json_type_null) ? NULL : v;
}

static json_object *gget(json_object *o, const char *camel, const char *snake, enum json_type type)
{
	json_object *v = gv(o, camel, snake);
	return json_object_is_type(v, type) ? v : NULL;
}

static const char *gstr(json_object *o, const char *camel, const char *snake)
{
	json_object *v = gget(o, camel, snake, json_type_string);
	return v ? json_object_get_string(v) : NULL;
}

static json_object *deep_copy(json_object *o)
{
	json_object *c = NULL;
	if (json_object_deep_copy(o, &c, NULL) != 0)
		return NULL;
	return c;
}

/* A copy of an OpenAPI-subset schema (Gemini "parameters"/"responseSchema")
 * as JSON Schema: Gemini writes types upper-case ("OBJECT"). */
static json_object *schema_from_openapi(json_object *s)
{
	if (json_object_is_type(s, json_type_array)) {
		json_object *a = json_object_new_array();
		size_t n = json_object_array_length(s);
		for (size_t i = 0; i < n; i++)
			json_object_array_add(a, schema_from_openapi(json_object_array_get_idx(s, i)));
		return a;
	}
	if (!json_object_is_type(s, json_type_object))
		return deep_copy(s);
	json_object *o = json_object_new_object();
	json_object_object_foreach (s, k, v) {
		if (strcmp(k, "type") == 0 && json_object_is_type(v, json_type_string)) {
			char *t = xstrdup(json_object_get_string(v));
			for (char *c = t; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			dialect_json_set_str(o, k, t);
			free(t);
		} else {
			json_object_object_add(o, k, schema_from_openapi(v));
		}
	}
	return o;
}

/* ---------- request: contents ---------- */

/* The tool calls of the request's model turns, so that functionResponse
 * parts without an id answer the earliest unanswered call of their name. */
struct call_ids {
	struct call_id {
		char *id, *name;
		bool answered;
	} * v;
	size_t n, cap;
};

static void calls_add(struct call_ids *c, const char *id, const char *name)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 8;
		c->v = xrealloc(c->v, c->cap * sizeof *c->v);
	}
	c->v[c->n++] = (struct call_id){xstrdup(id), xstrdup(name), false};
}

/* The id a functionResponse answers; owned by the caller. */
static char *calls_answer(struct call_ids *c, const char *id, const char *name)
{
	if (!str_empty(id)) {
		for (size_t i = 0; i < c->n; i++)
			if (!c->v[i].answered && strcmp(c->v[i].id, id) == 0) {
				c->v[i].answered = true;
				break;
			}
		return xstrdup(id);
	}
	for (size_t i = 0; i < c->n; i++)
		if (!c->v[i].answered && strcmp(c->v[i].name, name) == 0) {
			c->v[i].answered = true;
			return xstrdup(c->v[i].id);
		}
	return dialect_mint_id("call_");
}

static void calls_free(struct call_ids *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].id);
		free(c->v[i].name);
	}
	free(c->v);
}

static json_object *inline_part(json_object *inl, const char *where, char **err)
{
	const char *mime = gstr(inl, "mimeType", "mime_type");
	const char *data = gstr(inl, "data", NULL);
	if (str_empty(mime) || str_empty(data)) {
		*err = xasprintf("%s: inlineData needs mimeType and data", where);
		return NULL;
	}
	char *url = xasprintf("data:%s;base64,%s", mime, data);
	json_object *p = NULL;
	if (strncasecmp(mime, "image/", 6) == 0) {
		p = ingress_image_url_part(url);
	} else if (strcasecmp(mime, "application/pdf") == 0) {
		p = ingress_file_part("document.pdf", url);
	} else if (strcasecmp(mime, "audio/wav") == 0 || strcasecmp(mime, "audio/x-wav") == 0 ||
	           strcasecmp(mime, "audio/mp3") == 0 || strcasecmp(mime, "audio/mpeg") == 0) {
		json_object *ia = json_object_new_object();
		dialect_json_set_str(ia, "data", data);
		dialect_json_set_str(ia, "format", strcasestr(mime, "wav") ? "wav" : "mp3");
		p = json_object_new_object();
		dialect_json_set_str(p, "type", "input_audio");
		json_object_object_add(p, "input_audio", ia);
	} else {
		*err = xasprintf("%s: inlineData of type %s is not supported", where, mime);
	}
	free(url);
	return p;
}

static json_object *file_data_part(json_object *fd, const char *where, char **err)
{
	const char *uri = gstr(fd, "fileUri", "file_uri");
	const char *mime = gstr(fd, "mimeType", "mime_type");
	if (!str_empty(uri) && (str_empty(mime) || strncasecmp(mime, "image/", 6) == 0))
		return ingress_image_url_part(uri);
	*err =
	    xasprintf("%s: fileData parts are only supported for images; send the file as inlineData", where);
	return NULL;
}

static bool is_thought(json_object *part)
{
	bool t = false;
	dialect_json_bool(part, "thought", &t);
	return t;
}

static int model_content(json_object *parts, json_object *messages, struct call_ids *ids, size_t ci,
                         char **err)
{
	struct buf text = BUF_INIT;
	json_object *calls = json_object_new_array();
	size_t n = json_object_array_length(parts);
	for (size_t i = 0; i < n; i++) {
		json_object *part = json_object_array_get_idx(parts, i);
		json_object *fc = gget(part, "functionCall", "function_call", json_type_object);
		json_object *t = gget(part, "text", NULL, json_type_string);
		if (fc) {
			const char *name = gstr(fc, "name", NULL);
			if (str_empty(name)) {
				*err =
				    xasprintf("contents[%zu].parts[%zu]: functionCall needs a name", ci, i);
				buf_free(&text);
				json_object_put(calls);
				return -1;
			}
			json_object *tc = ingress_tool_call(gstr(fc, "id", NULL), name, gv(fc, "args", NULL));
			/* Gemini 3 wants the signature back on the same call; the
			 * gemini egress replays it from here. */
			const char *sig = gstr(part, "thoughtSignature", "thought_signature");
			if (!str_empty(sig)) {
				json_object *g = json_object_new_object();
				dialect_json_set_str(g, "thought_signature", sig);
				json_object *ec = json_object_new_object();
				json_object_object_add(ec, "google", g);
				json_object_object_add(tc, "extra_content", ec);
			}
			json_object_array_add(calls, tc);
			calls_add(ids, dialect_json_str(tc, "id"), name);
		} else if (t && !is_thought(part)) {
			buf_append(&text, json_object_get_string(t), (size_t)json_object_get_string_len(t));
		}
		/* thoughts, executable code and its results: dropped. */
	}
	size_t nc = json_object_array_length(calls);
	if (text.len > 0 || nc > 0) {
		json_object *m = json_object_new_object();
		dialect_json_set_str(m, "role", "assistant");
		if (text.len > 0)
			dialect_json_set_strn(m, "content", text.data, text.len);
		else
			json_object_object_add(m, "content", NULL);
		if (nc > 0)
			json_object_object_add(m, "tool_calls", json_object_get(calls));
		json_object_array_add(messages, m);
	}
	json_object_put(calls);
	buf_free(&text);
	return 0;
}

/* A user turn: one tool message per functionResponse, then the rest as one
 * user message. */
static int user_content(json_object *parts, json_object *messages, struct call_ids *ids, size_t ci,
                        char **err)
{
	json_object *out = json_object_new_array();
	size_t n = json_object_array_length(parts);
	char where[64];
	for (size_t i = 0; i < n; i++) {
		json_object *part = json_object_array_get_idx(parts, i);
		snprintf(where, sizeof where, "contents[%zu].parts[%zu]", ci, i);
		json_object *t = gget(part, "text", NULL, json_type_string);
		json_object *inl = gget(part, "inlineData", "inline_data", json_type_object);
		json_object *fd = gget(part, "fileData", "file_data", json_type_object);
		json_object *fr = gget(part, "functionResponse", "function_response", json_type_object);
		json_object *p = NULL;
		if (!json_object_is_type(part, json_type_object)) {
			*err = xasprintf("%s: a part must be an object", where);
		} else if (t) {
			if (!is_thought(part))
				p = ingress_text_part(json_object_get_string(t),
				                      (size_t)json_object_get_string_len(t));
		} else if (inl) {
			p = inline_part(inl, where, err);
		} else if (fd) {
			p = file_data_part(fd, where, err);
		} else if (fr) {
			const char *name = gstr(fr, "name", NULL);
			json_object *resp = gv(fr, "response", NULL);
			char *id = calls_answer(ids, gstr(fr, "id", NULL), name ? name : "");
			char *content = resp ? dialect_json_dump(resp) : xstrdup("{}");
			json_object_array_add(messages, ingress_tool_message(id, content, strlen(content)));
			free(id);
			free(content);
		}
		if (*err) {
			json_object_put(out);
			return -1;
		}
		if (p)
			json_object_array_add(out, p);
	}
	ingress_add_user_message(messages, out);
	json_object_put(out);
	return 0;
}

static int convert_contents(json_object *contents, json_object *messages, char **err)
{
	struct call_ids ids = {0};
	size_t n = json_object_array_length(contents);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		json_object *c = json_object_array_get_idx(contents, i);
		if (!json_object_is_type(c, json_type_object)) {
			*err = xasprintf("contents[%zu]: must be an object", i);
			rc = -1;
			break;
		}
		json_object *parts = gv(c, "parts", NULL);
		if (!parts)
			continue;
		if (!json_object_is_type(parts, json_type_array)) {
			*err = xasprintf("contents[%zu].parts: must be an array", i);
			rc = -1;
			break;
		}
		const char *role = gstr(c, "role", NULL);
		if (role && strcmp(role, "model") == 0)
			rc = model_content(parts, messages, &ids, i, err);
		else /* user, function (older clients), anything new */
			rc = user_content(parts, messages, &ids, i, err);
	}
	calls_free(&ids);
	return rc;
}

/* ---------- request: configuration ---------- */

static int copy_num(json_object *gc, const char *camel, const char *snake, json_object *r, const char *to,
                    char **err)
{
	json_object *v = gv(gc, camel, snake);
	if (!v)
		return 0;
	int64_t i;
	if (dialect_json_as_int(v, &i) && json_object_is_type(v, json_type_int)) {
		json_object_object_add(r, to, json_object_new_int64(i));
	} else if ((json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)) &&
	           isfinite(json_object_get_double(v))) {
		json_object_object_add(r, to, json_new_number(json_object_get_double(v)));
	} else { /* 1e400 too: it has no double, and JSON no Infinity */
		*err = xasprintf("generationConfig.%s must be a number", camel);
		return -1;
	}
	return 0;
}

static int copy_int(json_object *gc, const char *camel, const char *snake, json_object *r, const char *to,
                    char **err)
{
	json_object *v = gv(gc, camel, snake);
	if (!v)
		return 0;
	int64_t i;
	if (!dialect_json_as_int(v, &i)) {
		*err = xasprintf("generationConfig.%s must be an integer", camel);
		return -1;
	}
	json_object_object_add(r, to, json_object_new_int64(i));
	return 0;
}

static int convert_generation_config(json_object *gc, json_object *r, char **err)
{
	if (copy_num(gc, "temperature", NULL, r, "temperature", err) ||
	    copy_num(gc, "topP", "top_p", r, "top_p", err) ||
	    copy_int(gc, "maxOutputTokens", "max_output_tokens", r, "max_tokens", err) ||
	    copy_int(gc, "candidateCount", "candidate_count", r, "n", err) ||
	    copy_int(gc, "seed", NULL, r, "seed", err) ||
	    copy_num(gc, "presencePenalty", "presence_penalty", r, "presence_penalty", err) ||
	    copy_num(gc, "frequencyPenalty", "frequency_penalty", r, "frequency_penalty", err))
		return -1;
	json_object *stop = gv(gc, "stopSequences", "stop_sequences");
	if (stop) {
		size_t n = json_object_is_type(stop, json_type_array) ? json_object_array_length(stop) : 0;
		json_object *arr = json_object_new_array();
		for (size_t i = 0; i < n; i++) {
			json_object *s = json_object_array_get_idx(stop, i);
			if (json_object_is_type(s, json_type_string))
				json_object_array_add(arr, ingress_string_copy(s));
		}
		if (!json_object_is_type(stop, json_type_array) || json_object_array_length(arr) != n) {
			json_object_put(arr);
			*err = xstrdup("generationConfig.stopSequences must be an array of strings");
			return -1;
		}
		if (n > 0)
			json_object_object_add(r, "stop", arr);
		else
			json_object_put(arr);
	}
	bool lp;
	if (dialect_json_bool(gc, "responseLogprobs", &lp) || dialect_json_bool(gc, "response_logprobs", &lp))
		json_object_object_add(r, "logprobs", json_object_new_boolean(lp));
	if (copy_int(gc, "logprobs", NULL, r, "top_logprobs", err))
		return -1;

	json_object *schema = gget(gc, "responseJsonSchema", "response_json_schema", json_type_object);
	json_object *oschema = gget(gc, "responseSchema", "response_schema", json_type_object);
	const char *mime = gstr(gc, "responseMimeType", "response_mime_type");
	if (schema)
		ingress_set_json_schema(r, deep_copy(schema));
	else if (oschema)
		ingress_set_json_schema(r, schema_from_openapi(oschema));
	else if (mime && strcmp(mime, "application/json") == 0) {
		json_object *rf = json_object_new_object();
		dialect_json_set_str(rf, "type", "json_object");
		json_object_object_add(r, "response_format", rf);
	}

	json_object *tc = gget(gc, "thinkingConfig", "thinking_config", json_type_object);
	int64_t budget;
	const char *level = gstr(tc, "thinkingLevel", "thinking_level");
	json_object *bv = gv(tc, "thinkingBudget", "thinking_budget");
	if (bv && dialect_json_as_int(bv, &budget)) {
		/* 0 turns thinking off; -1 lets the model decide. */
		if (budget == 0)
			dialect_json_set_str(r, "reasoning_effort", "none");
		else if (budget > 0)
			dialect_json_set_str(r, "reasoning_effort", ingress_effort_for_budget(budget));
	} else if (!str_empty(level)) {
		char *l = xstrdup(level);
		for (char *c = l; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		dialect_json_set_str(r, "reasoning_effort", l);
		free(l);
	}
	return 0;
}

static int convert_tools(json_object *tools, json_object *r, char **err)
{
	if (!json_object_is_type(tools, json_type_array)) {
		*err = xstrdup("tools must be an array");
		return -1;
	}
	json_object *out = json_object_new_array();
	size_t n = json_object_array_length(tools);
	for (size_t i = 0; i < n; i++) {
		json_object *t = json_object_array_get_idx(tools, i);
		if (!json_object_is_type(t, json_type_object)) {
			*err = xasprintf("tools[%zu] must be an object", i);
			goto fail;
		}
		json_object_object_foreach (t, key, val) {
			if (json_object_is_type(val, json_type_null) ||
			    strcmp(key, "functionDeclarations") == 0 ||
			    strcmp(key, "function_declarations") == 0)
				continue;
			*err = xasprintf("tools[%zu]: tool \"%s\" is not supported by this proxy", i, key);
			goto fail;
		}
		json_object *decls = gv(t, "functionDeclarations", "function_declarations");
		if (!decls)
			continue;
		if (!json_object_is_type(decls, json_type_array)) {
			*err = xasprintf("tools[%zu].functionDeclarations must be an array", i);
			goto fail;
		}
		size_t nd = json_object_array_length(decls);
		for (size_t k = 0; k < nd; k++) {
			json_object *d = json_object_array_get_idx(decls, k);
			const char *name = gstr(d, "name", NULL);
			if (str_empty(name)) {
				*err = xasprintf("tools[%zu].functionDeclarations[%zu] needs a name", i, k);
				goto fail;
			}
			json_object *pj =
			    gget(d, "parametersJsonSchema", "parameters_json_schema", json_type_object);
			json_object *po = gget(d, "parameters", NULL, json_type_object);
			json_object *params = pj ? deep_copy(pj) : po ? schema_from_openapi(po) : NULL;
			json_object *fn = ingress_function_decl(name, gstr(d, "description", NULL), params);
			json_object_array_add(out, ingress_function(fn));
		}
	}
	if (json_object_array_length(out) > 0)
		json_object_object_add(r, "tools", out);
	else
		json_object_put(out);
	return 0;
fail:
	json_object_put(out);
	return -1;
}

static void convert_tool_config(json_object *tc, json_object *r)
{
	json_object *fcc = gget(tc, "functionCallingConfig", "function_calling_config", json_type_object);
	const char *mode = gstr(fcc, "mode", NULL);
	if (!mode)
		return;
	json_object *allowed = gget(fcc, "allowedFunctionNames", "allowed_function_names", json_type_array);
	if (strcmp(mode, "AUTO") == 0 || strcmp(mode, "VALIDATED") == 0) {
		dialect_json_set_str(r, "tool_choice", "auto");
	} else if (strcmp(mode, "NONE") == 0) {
		dialect_json_set_str(r, "tool_choice", "none");
	} else if (strcmp(mode, "ANY") == 0) {
		json_object *one = allowed && json_object_array_length(allowed) == 1
		                       ? json_object_array_get_idx(allowed, 0)
		                       : NULL;
		if (json_object_is_type(one, json_type_string)) {
			json_object *fn = json_object_new_object();
			json_object_object_add(fn, "name", ingress_string_copy(one));
			json_object_object_add(r, "tool_choice", ingress_function(fn));
		} else {
			dialect_json_set_str(r, "tool_choice", "required");
		}
	}
	/* MODE_UNSPECIFIED and newer modes: the upstream's default. */
}

json_object *ingress_gemini_request(json_object *body, const char *model, bool stream, char **err)
{
	*err = NULL;
	if (model && str_has_prefix(model, "models/"))
		model += 7;
	if (str_empty(model)) {
		*err = xstrdup("the URL names no model");
		return NULL;
	}
	if (!json_object_is_type(body, json_type_object)) {
		*err = xstrdup("request body must be a JSON object");
		return NULL;
	}
	json_object *contents = gv(body, "contents", NULL);
	if (!json_object_is_type(contents, json_type_array)) {
		*err = xstrdup("contents must be an array");
		return NULL;
	}
	json_object *r = json_object_new_object();
	dialect_json_set_str(r, "model", model);
	json_object_object_add(r, "stream", json_object_new_boolean(stream));
	json_object *messages = json_object_new_array();
	json_object_object_add(r, "messages", messages);

	json_object *si = gv(body, "systemInstruction", "system_instruction");
	struct buf sys = BUF_INIT;
	if (json_object_is_type(si, json_type_string)) {
		buf_append(&sys, json_object_get_string(si), (size_t)json_object_get_string_len(si));
	} else {
		json_object *parts = gget(si, "parts", NULL, json_type_array);
		size_t n = parts ? json_object_array_length(parts) : 0;
		for (size_t i = 0; i < n; i++) {
			json_object *t =
			    gget(json_object_array_get_idx(parts, i), "text", NULL, json_type_string);
			if (!t)
				continue;
			if (sys.len > 0)
				buf_putc(&sys, '\n');
			buf_append(&sys, json_object_get_string(t), (size_t)json_object_get_string_len(t));
		}
	}
	if (sys.len > 0)
		ingress_add_text_message(messages, "system", sys.data, sys.len);
	buf_free(&sys);

	int rc = convert_contents(contents, messages, err);
	json_object *gc = gv(body, "generationConfig", "generation_config");
	if (rc == 0 && gc) {
		if (json_object_is_type(gc, json_type_object)) {
			rc = convert_generation_config(gc, r, err);
		} else {
			*err = xstrdup("generationConfig must be an object");
			rc = -1;
		}
	}
	json_object *tools = gv(body, "tools", NULL);
	if (rc == 0 && tools)
		rc = convert_tools(tools, r, err);
	if (rc == 0)
		convert_tool_config(gv(body, "toolConfig", "tool_config"), r);
	if (rc) {
		json_object_put(r);
		return NULL;
	}
	return r;
}

/* ---------- shared by stream and whole response ---------- */

static const char *finish_reason(const char *finish)
{
	if (!finish)
		return "STOP";
	if (strcmp(finish, "length") == 0)
		return "MAX_TOKENS";
	if (strcmp(finish, "content_filter") == 0)
		return "SAFETY";
	return "STOP"; /* stop, tool_calls (Gemini says STOP for calls), anything new */
}

/* A functionCall part; args that are not a JSON object become {}. */
static json_object *call_part(const char *id, const char *name, const char *args, size_t len, const char *sig)
{
	json_object *a = dialect_json_parse(args, len);
	if (!json_object_is_type(a, json_type_object)) {
		json_object_put(a);
		a = json_object_new_object();
	}
	json_object *fc = json_object_new_object();
	dialect_json_set_str(fc, "name", name);
	json_object_object_add(fc, "args", a);
	if (!str_empty(id))
		dialect_json_set_str(fc, "id", id);
	json_object *p = json_object_new_object();
	json_object_object_add(p, "functionCall", fc);
	if (!str_empty(sig))
		dialect_json_set_str(p, "thoughtSignature", sig);
	return p;
}

static const char *call_signature(json_object *tc)
{
	return dialect_json_str(dialect_json_get(dialect_json_get(tc, "extra_content", json_type_object),
	                                         "google", json_type_object),
	                        "thought_signature");
}

static json_object *thought_part(json_object *s)
{
	json_object *p = json_object_new_object();
	json_object_object_add(p, "text", ingress_string_copy(s));
	json_object_object_add(p, "thought", json_object_new_boolean(true));
	return p;
}

static json_object *plain_part(json_object *s)
{
	json_object *p = json_object_new_object();
	json_object_object_add(p, "text", ingress_string_copy(s));
	return p;
}

static json_object *usage_metadata(const struct ingress_usage *u)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "promptTokenCount", json_object_new_int64(u->prompt));
	json_object_object_add(o, "candidatesTokenCount",
	                       json_object_new_int64(u->completion - u->reasoning));
	json_object_object_add(o, "totalTokenCount", json_object_new_int64(u->total));
	if (u->reasoning > 0)
		json_object_object_add(o, "thoughtsTokenCount", json_object_new_int64(u->reasoning));
	if (u->cached > 0)
		json_object_object_add(o, "cachedContentTokenCount", json_object_new_int64(u->cached));
	return o;
}

/* {"role":"model","parts":parts}; parts (ownership taken) may be NULL. */
static json_object *model_content_obj(json_object *parts)
{
	json_object *c = json_object_new_object();
	dialect_json_set_str(c, "role", "model");
	if (parts)
		json_object_object_add(c, "parts", parts);
	return c;
}

/* ---------- stream encoder ---------- */

#define GEM_MAX_CHOICE 64

struct gem_tool {
	int64_t idx;
	char *id, *name, *sig;
	struct buf args;
};

struct gem_choice {
	int64_t index;
	const char *finish; /* Gemini word, static; NULL until the finish reason */
	struct gem_tool *tools;
	size_t ntools, cap;
};

struct gem_enc {
	char *model;
	char *id;
	struct gem_choice *ch;
	size_t n, cap;
	bool have_usage, ended;
	struct ingress_usage usage;
};

static void *gem_new(const char *model)
{
	struct gem_enc *st = xcalloc(1, sizeof *st);
	st->model = xstrdup(model ? model : "");
	return st;
}

static void tools_clear(struct gem_choice *c)
{
	for (size_t i = 0; i < c->ntools; i++) {
		free(c->tools[i].id);
		free(c->tools[i].name);
		free(c->tools[i].sig);
		buf_free(&c->tools[i].args);
	}
	c->ntools = 0;
}

static void gem_free(void *p)
{
	struct gem_enc *st = p;
	if (!st)
		return;
	for (size_t i = 0; i < st->n; i++) {
		tools_clear(&st->ch[i]);
		free(st->ch[i].tools);
	}
	free(st->ch);
	free(st->model);
	free(st->id);
	free(st);
}

static struct gem_choice *choice_get(struct gem_enc *st, int64_t index)
{
	for (size_t i = 0; i < st->n; i++)
		if (st->ch[i].index == index)
			return &st->ch[i];
	if (st->n == st->cap) {
		st->cap = st->cap ? 2 * st->cap : 2;
		st->ch = xrealloc(st->ch, st->cap * sizeof *st->ch);
	}
	struct gem_choice *c = &st->ch[st->n++];
	*c = (struct gem_choice){.index = index};
	return c;
}

/* Writes one GenerateContentResponse with candidates (ownership taken). */
static void gem_write(struct gem_enc *st, json_object *candidates, json_object *usage, struct buf *out)
{
	if (!st->id)
		st->id = dialect_mint_id("");
	json_object *o = json_object_new_object();
	json_object_object_add(o, "candidates", candidates);
	if (usage)
		json_object_object_add(o, "usageMetadata", usage);
	dialect_json_set_str(o, "modelVersion", st->model);
	dialect_json_set_str(o, "responseId", st->id);
	ingress_write_json(out, NULL, o);
	json_object_put(o);
}

static void gem_write_parts(struct gem_enc *st, int64_t index, json_object *parts, struct buf *out)
{
	json_object *cand = json_object_new_object();
	json_object_object_add(cand, "content", model_content_obj(parts));
	json_object_object_add(cand, "index", json_object_new_int64(index));
	json_object *cands = json_object_new_array();
	json_object_array_add(cands, cand);
	gem_write(st, cands, NULL, out);
}

/* Buffered tool calls come out whole, as Gemini sends them. */
static void gem_flush_tools(struct gem_enc *st, struct gem_choice *c, struct buf *out)
{
	if (c->ntools == 0)
		return;
	json_object *parts = json_object_new_array();
	for (size_t i = 0; i < c->ntools; i++) {
		struct gem_tool *t = &c->tools[i];
		json_object_array_add(
		    parts, call_part(t->id, t->name ? t->name : "", t->args.data, t->args.len, t->sig));
	}
	tools_clear(c);
	gem_write_parts(st, c->index, parts, out);
}

static void gem_buffer_tool(struct gem_choice *c, json_object *tc, size_t pos)
{
	int64_t idx = (int64_t)pos;
	dialect_json_int(tc, "index", &idx);
	struct gem_tool *t = NULL;
	for (size_t i = 0; i < c->ntools; i++)
		if (c->tools[i].idx == idx)
			t = &c->tools[i];
	if (!t) {
		if (c->ntools == c->cap) {
			c->cap = c->cap ? 2 * c->cap : 4;
			c->tools = xrealloc(c->tools, c->cap * sizeof *c->tools);
		}
		t = &c->tools[c->ntools++];
		*t = (struct gem_tool){.idx = idx, .args = BUF_INIT};
	}
	json_object *fn = dialect_json_get(tc, "function", json_type_object);
	const char *id = dialect_json_str(tc, "id");
	const char *name = dialect_json_str(fn, "name");
	const char *sig = call_signature(tc);
	if (!t->id && !str_empty(id))
		t->id = xstrdup(id);
	if (!t->name && !str_empty(name))
		t->name = xstrdup(name);
	if (!t->sig && !str_empty(sig))
		t->sig = xstrdup(sig);
	json_object *a = dialect_json_get(fn, "arguments", json_type_string);
	if (a)
		buf_append(&t->args, json_object_get_string(a), (size_t)json_object_get_string_len(a));
}

static void gem_final(struct gem_enc *st, struct buf *out)
{
	if (st->ended)
		return;
	st->ended = true;
	for (size_t i = 0; i < st->n; i++)
		gem_flush_tools(st, &st->ch[i], out);
	json_object *cands = json_object_new_array();
	size_t n = st->n ? st->n : 1;
	for (size_t i = 0; i < n; i++) {
		json_object *parts = json_object_new_array();
		json_object *empty = json_object_new_object();
		dialect_json_set_str(empty, "text", "");
		json_object_array_add(parts, empty);
		json_object *cand = json_object_new_object();
		json_object_object_add(cand, "content", model_content_obj(parts));
		const char *fr = st->n && st->ch[i].finish ? st->ch[i].finish : "STOP";
		dialect_json_set_str(cand, "finishReason", fr);
		json_object_object_add(cand, "index", json_object_new_int64(st->n ? st->ch[i].index : 0));
		json_object_array_add(cands, cand);
	}
	gem_write(st, cands, st->have_usage ? usage_metadata(&st->usage) : NULL, out);
}

static void gem_chunk(void *p, json_object *chunk, struct buf *out)
{
	struct gem_enc *st = p;
	if (st->ended || !json_object_is_type(chunk, json_type_object))
		return;
	const char *id = dialect_json_str(chunk, "id");
	if (!st->id && !str_empty(id))
		st->id = xstrdup(id);
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
		if (index < 0 || index >= GEM_MAX_CHOICE || !json_object_is_type(ch, json_type_object))
			continue;
		struct gem_choice *c = choice_get(st, index);
		json_object *d = dialect_json_get(ch, "delta", json_type_object);
		json_object *parts = json_object_new_array();
		json_object *rc = dialect_json_get(d, "reasoning_content", json_type_string);
		json_object *text = dialect_json_get(d, "content", json_type_string);
		if (rc && json_object_get_string_len(rc) > 0)
			json_object_array_add(parts, thought_part(rc));
		if (text && json_object_get_string_len(text) > 0)
			json_object_array_add(parts, plain_part(text));
		if (json_object_array_length(parts) > 0)
			gem_write_parts(st, c->index, parts, out);
		else
			json_object_put(parts);
		json_object *calls = dialect_json_get(d, "tool_calls", json_type_array);
		size_t nc = calls ? json_object_array_length(calls) : 0;
		for (size_t k = 0; k < nc; k++) {
			json_object *tc = json_object_array_get_idx(calls, k);
			if (json_object_is_type(tc, json_type_object))
				gem_buffer_tool(c, tc, k);
		}
		const char *fr = dialect_json_str(ch, "finish_reason");
		if (fr) {
			gem_flush_tools(st, c, out);
			c->finish = finish_reason(fr);
		}
	}
	/* The final chunk carries the usage, which follows the finish reasons. */
	bool all_finished = st->n > 0;
	for (size_t i = 0; i < st->n; i++)
		if (!st->ch[i].finish)
			all_finished = false;
	if (all_finished && st->have_usage)
		gem_final(st, out);
}

static void gem_finish(void *p, struct buf *out)
{
	gem_final(p, out);
}

const struct ingress_encoder_ops ingress_gemini_encoder = {
    .state_new = gem_new,
    .chunk = gem_chunk,
    .finish = gem_finish,
    .state_free = gem_free,
};

/* ---------- whole response ---------- */

static json_object *candidate(json_object *ch, size_t pos)
{
	int64_t index = (int64_t)pos;
	dialect_json_int(ch, "index", &index);
	json_object *msg = dialect_json_get(ch, "message", json_type_object);
	json_object *parts = json_object_new_array();
	json_object *rc = dialect_json_get(msg, "reasoning_content", json_type_string);
	if (rc && json_object_get_string_len(rc) > 0)
		json_object_array_add(parts, thought_part(rc));
	json_object *content = NULL;
	json_object_object_get_ex(msg, "content", &content);
	if (json_object_is_type(content, json_type_string) && json_object_get_string_len(content) > 0) {
		json_object_array_add(parts, plain_part(content));
	} else if (json_object_is_type(content, json_type_array)) {
		size_t n = json_object_array_length(content);
		for (size_t i = 0; i < n; i++) {
			json_object *t =
			    dialect_json_get(json_object_array_get_idx(content, i), "text", json_type_string);
			if (t && json_object_get_string_len(t) > 0)
				json_object_array_add(parts, plain_part(t));
		}
	}
	json_object *calls = dialect_json_get(msg, "tool_calls", json_type_array);
	size_t nc = calls ? json_object_array_length(calls) : 0;
	for (size_t i = 0; i < nc; i++) {
		json_object *tc = json_object_array_get_idx(calls, i);
		json_object *fn = dialect_json_get(tc, "function", json_type_object);
		if (!fn)
			continue;
		json_object *a = dialect_json_get(fn, "arguments", json_type_string);
		const char *name = dialect_json_str(fn, "name");
		json_object_array_add(parts, call_part(dialect_json_str(tc, "id"), name ? name : "",
		                                       a ? json_object_get_string(a) : "",
		                                       a ? (size_t)json_object_get_string_len(a) : 0,
		                                       call_signature(tc)));
	}
	if (json_object_array_length(parts) == 0) {
		json_object_put(parts);
		parts = NULL;
	}
	json_object *cand = json_object_new_object();
	json_object_object_add(cand, "content", model_content_obj(parts));
	dialect_json_set_str(cand, "finishReason", finish_reason(dialect_json_str(ch, "finish_reason")));
	json_object_object_add(cand, "index", json_object_new_int64(index));
	return cand;
}

json_object *ingress_gemini_response(json_object *completion, const char *model)
{
	json_object *cands = json_object_new_array();
	json_object *choices = dialect_json_get(completion, "choices", json_type_array);
	size_t n = choices ? json_object_array_length(choices) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *ch = json_object_array_get_idx(choices, i);
		if (json_object_is_type(ch, json_type_object))
			json_object_array_add(cands, candidate(ch, i));
	}
	if (json_object_array_length(cands) == 0)
		json_object_array_add(cands, candidate(NULL, 0));
	json_object *r = json_object_new_object();
	json_object_object_add(r, "candidates", cands);
	struct ingress_usage u;
	ingress_usage_read(dialect_json_get(completion, "usage", json_type_object), &u);
	json_object_object_add(r, "usageMetadata", usage_metadata(&u));
	dialect_json_set_str(r, "modelVersion", model);
	ingress_set_id(r, "responseId", dialect_json_str(completion, "id"), "");
	return r;
}
