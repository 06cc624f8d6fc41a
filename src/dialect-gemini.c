/* dialect-gemini.c - the Gemini generateContent API as seen from the
 * canonical form: canonical request → GenerateContentRequest body (the model
 * goes in the URL, which the caller builds), and GenerateContentResponse
 * bodies and SSE chunks → canonical objects. Gemini streams have no
 * terminator, so the finish and usage chunks come out of
 * stream_decoder_finish. See wire-formats.md §3 and §4. */
#include "config.h"

#include "dialect-internal.h"

#include "buf.h"
#include "jsonw.h"
#include "util.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------- egress: parts ---------- */

static json_object *text_part(const char *s, size_t len)
{
	json_object *p = json_object_new_object();
	dialect_json_set_strn(p, "text", s, len);
	return p;
}

static json_object *inline_part(const char *mime, const char *data)
{
	json_object *in = json_object_new_object();
	dialect_json_set_str(in, "mimeType", mime);
	dialect_json_set_str(in, "data", data);
	json_object *p = json_object_new_object();
	json_object_object_add(p, "inlineData", in);
	return p;
}

/* Gemini needs a mimeType for fileData; an http(s) URL only hints at it
 * through its extension, and images are what image_url carries. */
static const char *guess_mime(const char *url)
{
	static const struct {
		const char *ext, *mime;
	} table[] = {
	    {"jpg", "image/jpeg"},  {"jpeg", "image/jpeg"},     {"png", "image/png"},
	    {"gif", "image/gif"},   {"webp", "image/webp"},     {"heic", "image/heic"},
	    {"heif", "image/heif"}, {"pdf", "application/pdf"},
	};
	size_t end = strcspn(url, "?#");
	size_t dot = end;
	while (dot > 0 && url[dot - 1] != '.' && url[dot - 1] != '/')
		dot--;
	if (dot == 0 || url[dot - 1] != '.')
		return "image/jpeg";
	size_t elen = end - dot;
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (strlen(table[i].ext) == elen && strncasecmp(url + dot, table[i].ext, elen) == 0)
			return table[i].mime;
	return "image/jpeg";
}

static json_object *image_part(json_object *part, size_t idx, char **err)
{
	char *mime = NULL;
	const char *data = NULL;
	int inline_data = dialect_image_source(part, idx, &mime, &data, err);
	if (inline_data < 0)
		return NULL;
	if (inline_data) {
		json_object *p = inline_part(mime, data);
		free(mime);
		return p;
	}
	json_object *fd = json_object_new_object();
	dialect_json_set_str(fd, "mimeType", guess_mime(data));
	dialect_json_set_str(fd, "fileUri", data);
	json_object *p = json_object_new_object();
	json_object_object_add(p, "fileData", fd);
	return p;
}

static json_object *file_part(json_object *part, size_t idx, char **err)
{
	char *mime = NULL;
	const char *payload = NULL;
	if (dialect_file_source(part, idx, "gemini", &mime, &payload, err) != 0)
		return NULL;
	json_object *p = inline_part(mime, payload);
	free(mime);
	return p;
}

static json_object *audio_part(json_object *part, size_t idx, char **err)
{
	json_object *au = dialect_json_get(part, "input_audio", json_type_object);
	const char *data = dialect_json_str(au, "data");
	const char *format = dialect_json_str(au, "format");
	if (str_empty(data)) {
		*err = xasprintf("audio part %zu has no data", idx);
		return NULL;
	}
	char *mime = xasprintf("audio/%s", str_empty(format) ? "wav" : format);
	json_object *p = inline_part(mime, data);
	free(mime);
	return p;
}

static json_object *message_text_part(const char *s, size_t len, json_object *part)
{
	(void)part;
	return text_part(s, len);
}

static json_object *media_part(json_object *part, const char *type, size_t idx, char **err)
{
	if (strcmp(type, "image_url") == 0)
		return image_part(part, idx, err);
	if (strcmp(type, "file") == 0)
		return file_part(part, idx, err);
	if (strcmp(type, "input_audio") == 0)
		return audio_part(part, idx, err);
	return NULL;
}

static json_object *function_call_part(json_object *tc, size_t idx, char **err)
{
	json_object *fn = dialect_json_get(tc, "function", json_type_object);
	const char *name = dialect_json_str(fn, "name");
	if (str_empty(name)) {
		*err = xasprintf("tool call %zu has no function name", idx);
		return NULL;
	}
	json_object *args = NULL;
	json_object_object_get_ex(fn, "arguments", &args);
	json_object *fc = json_object_new_object();
	dialect_json_set_str(fc, "name", name);
	/* Gemini args must be an object. */
	json_object_object_add(fc, "args", dialect_arguments_object(args));
	json_object *p = json_object_new_object();
	json_object_object_add(p, "functionCall", fc);
	/* Gemini 3 rejects a replayed call without its signature; the
	 * decoder hands it out where Gemini's own OpenAI layer does. */
	const char *sig =
	    dialect_json_str(dialect_json_get(dialect_json_get(tc, "extra_content", json_type_object),
	                                      "google", json_type_object),
	                     "thought_signature");
	if (!str_empty(sig))
		dialect_json_set_str(p, "thoughtSignature", sig);
	return p;
}

static json_object *function_response_part(json_object *msgs, size_t i, char **err)
{
	json_object *m = json_object_array_get_idx(msgs, i);
	const char *id = dialect_json_str(m, "tool_call_id");
	json_object *tc = dialect_find_tool_call(msgs, i, id);
	const char *name = dialect_json_str(dialect_json_get(tc, "function", json_type_object), "name");
	if (str_empty(name))
		name = dialect_json_str(m, "name");
	if (str_empty(name)) {
		*err = xasprintf("no earlier assistant tool call has id \"%s\"", id ? id : "");
		return NULL;
	}
	json_object *content = NULL;
	json_object_object_get_ex(m, "content", &content);
	struct buf text = BUF_INIT;
	if (json_object_is_type(content, json_type_array)) {
		dialect_join_texts(content, &text);
	} else if (dialect_content_text(content, &text, "tool", err) != 0) {
		buf_free(&text);
		return NULL;
	}
	json_object *resp = dialect_json_parse(buf_str(&text), text.len);
	if (!json_object_is_type(resp, json_type_object)) {
		json_object_put(resp);
		resp = json_object_new_object();
		dialect_json_set_strn(resp, "output", buf_str(&text), text.len);
	}
	buf_free(&text);
	json_object *fr = json_object_new_object();
	dialect_json_set_str(fr, "name", name);
	json_object_object_add(fr, "response", resp);
	json_object *p = json_object_new_object();
	json_object_object_add(p, "functionResponse", fr);
	return p;
}

/* Consecutive tool results merge into one user content. */
static const struct dialect_turns gemini_turns = {
    .items = "parts",
    .assistant_role = "model",
    .text = message_text_part,
    .media = media_part,
    .tool_call = function_call_part,
    .tool_result = function_response_part,
    .lead = NULL,
};

/* ---------- egress: config, tools ---------- */

/* Copies a numeric field into gc under gkey; -1 with *err for a wrong type. */
static int copy_number(json_object *canon, const char *key, json_object *gc, const char *gkey, char **err)
{
	double d;
	int have = dialect_request_number(canon, key, &d, err);
	if (have > 0)
		json_object_object_add(gc, gkey, json_new_number(d));
	return have < 0 ? -1 : 0;
}

static int copy_integer(json_object *canon, const char *key, json_object *gc, const char *gkey, char **err)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(canon, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	int64_t n;
	if (!dialect_json_as_int(v, &n)) {
		*err = xasprintf("\"%s\" must be an integer", key);
		return -1;
	}
	json_object_object_add(gc, gkey, json_object_new_int64(n));
	return 0;
}

/* A deep copy of a JSON Schema without "$schema", which Gemini rejects. */
static json_object *schema_copy(json_object *s)
{
	json_object *c = NULL;
	if (json_object_deep_copy(s, &c, NULL) != 0 || !c)
		return json_object_new_object();
	json_object_object_del(c, "$schema");
	return c;
}

static int build_generation_config(json_object *canon, json_object *gc, char **err)
{
	if (copy_number(canon, "temperature", gc, "temperature", err) ||
	    copy_number(canon, "top_p", gc, "topP", err) || copy_integer(canon, "top_k", gc, "topK", err) ||
	    copy_integer(canon, "seed", gc, "seed", err) ||
	    copy_integer(canon, "n", gc, "candidateCount", err) ||
	    copy_number(canon, "presence_penalty", gc, "presencePenalty", err) ||
	    copy_number(canon, "frequency_penalty", gc, "frequencyPenalty", err))
		return -1;
	int64_t max_tokens;
	int have = dialect_request_max_tokens(canon, &max_tokens, err);
	if (have < 0)
		return -1;
	if (have)
		json_object_object_add(gc, "maxOutputTokens", json_object_new_int64(max_tokens));
	json_object *stop = NULL;
	if (dialect_request_stop(canon, &stop, err) != 0)
		return -1;
	if (stop)
		json_object_object_add(gc, "stopSequences", stop);

	const char *type;
	json_object *schema;
	have = dialect_request_response_format(canon, &type, &schema, err);
	if (have < 0)
		return -1;
	if (have && (strcmp(type, "json_object") == 0 || strcmp(type, "json_schema") == 0))
		dialect_json_set_str(gc, "responseMimeType", "application/json");
	if (schema)
		json_object_object_add(gc, "responseJsonSchema", schema_copy(schema));

	const char *effort = dialect_json_str(canon, "reasoning_effort");
	if (effort) {
		long budget = dialect_effort_budget(effort);
		json_object *tc = json_object_new_object();
		/* -1 asks Gemini to size the budget itself. */
		json_object_object_add(tc, "thinkingBudget", json_object_new_int64(budget));
		if (budget != 0)
			json_object_object_add(tc, "includeThoughts", json_object_new_boolean(1));
		json_object_object_add(gc, "thinkingConfig", tc);
	}
	return 0;
}

static json_object *convert_tools(json_object *tools, char **err)
{
	json_object *decls = json_object_new_array();
	size_t n = json_object_array_length(tools);
	for (size_t i = 0; i < n; i++) {
		json_object *fn;
		json_object *d = dialect_tool_decl(tools, i, &fn, err);
		if (!d) {
			json_object_put(decls);
			return NULL;
		}
		/* parametersJsonSchema takes OpenAI's JSON Schema as is; the
		 * older "parameters" is an OpenAPI subset that rejects much of it. */
		json_object *params = dialect_json_get(fn, "parameters", json_type_object);
		if (params)
			json_object_object_add(d, "parametersJsonSchema", schema_copy(params));
		json_object_array_add(decls, d);
	}
	json_object *tool = json_object_new_object();
	json_object_object_add(tool, "functionDeclarations", decls);
	json_object *out = json_object_new_array();
	json_object_array_add(out, tool);
	return out;
}

static int convert_tool_choice(json_object *canon, json_object **out, char **err)
{
	static const char *const modes[] = {
	    [DIALECT_TOOLS_AUTO] = "AUTO",
	    [DIALECT_TOOLS_NONE] = "NONE",
	    [DIALECT_TOOLS_REQUIRED] = "ANY",
	    [DIALECT_TOOLS_FUNCTION] = "ANY",
	};
	*out = NULL;
	enum dialect_tool_choice c;
	const char *name;
	json_object *allowed;
	int have = dialect_request_tool_choice(canon, &c, &name, &allowed, err);
	if (have <= 0)
		return have;
	json_object *names = NULL;
	if (name) {
		names = json_object_new_array();
		json_object_array_add(names, json_object_new_string(name));
	}
	size_t n = allowed ? json_object_array_length(allowed) : 0;
	for (size_t i = 0; i < n; i++) {
		const char *an = dialect_json_str(
		    dialect_json_get(json_object_array_get_idx(allowed, i), "function", json_type_object),
		    "name");
		if (str_empty(an))
			continue;
		if (!names)
			names = json_object_new_array();
		json_object_array_add(names, json_object_new_string(an));
	}
	json_object *fcc = json_object_new_object();
	dialect_json_set_str(fcc, "mode", modes[c]);
	if (names)
		json_object_object_add(fcc, "allowedFunctionNames", names);
	json_object *r = json_object_new_object();
	json_object_object_add(r, "functionCallingConfig", fcc);
	*out = r;
	return 0;
}

static json_object *gemini_build_request(json_object *canon, const struct egress_opts *o, char **err)
{
	(void)o; /* the model and streaming live in the URL */
	json_object *r = json_object_new_object();
	json_object *contents = json_object_new_array();
	json_object *gc = json_object_new_object();
	json_object *tools = NULL, *choice = NULL;
	struct buf system = BUF_INIT;

	if (dialect_convert_messages(dialect_json_get(canon, "messages", json_type_array), &gemini_turns,
	                             contents, &system, err) != 0)
		goto fail;
	if (build_generation_config(canon, gc, err) != 0)
		goto fail;
	json_object *tv;
	if (dialect_request_tools(canon, &tv, err) != 0 || (tv && !(tools = convert_tools(tv, err))))
		goto fail;
	if (convert_tool_choice(canon, &choice, err) != 0)
		goto fail;

	if (system.len > 0) {
		json_object *parts = json_object_new_array();
		json_object_array_add(parts, text_part(system.data, system.len));
		json_object *si = json_object_new_object();
		json_object_object_add(si, "parts", parts);
		json_object_object_add(r, "systemInstruction", si);
	}
	json_object_object_add(r, "contents", contents);
	if (tools) {
		json_object_object_add(r, "tools", tools);
		if (choice)
			json_object_object_add(r, "toolConfig", choice);
		else
			json_object_put(choice);
	} else {
		json_object_put(choice);
	}
	if (json_object_object_length(gc) > 0)
		json_object_object_add(r, "generationConfig", gc);
	else
		json_object_put(gc);
	buf_free(&system);
	return r;

fail:
	json_object_put(tools);
	json_object_put(choice);
	json_object_put(gc);
	json_object_put(contents);
	json_object_put(r);
	buf_free(&system);
	return NULL;
}

/* ---------- decoding: shared ---------- */

static const char *gemini_finish(const char *reason)
{
	static const char *const filtered[] = {
	    "SAFETY",
	    "RECITATION",
	    "BLOCKLIST",
	    "PROHIBITED_CONTENT",
	    "SPII",
	    "IMAGE_SAFETY",
	    "IMAGE_PROHIBITED_CONTENT",
	    "IMAGE_RECITATION",
	};
	if (!reason)
		return "stop";
	if (strcmp(reason, "MAX_TOKENS") == 0)
		return "length";
	for (size_t i = 0; i < sizeof filtered / sizeof filtered[0]; i++)
		if (strcmp(filtered[i], reason) == 0)
			return "content_filter";
	/* STOP, OTHER, LANGUAGE, the malformed-call family and anything new. */
	return "stop";
}

static json_object *gemini_usage(json_object *um)
{
	if (!json_object_is_type(um, json_type_object))
		return NULL;
	int64_t prompt = 0, tool_prompt = 0, cand = 0, thoughts = 0, cached = 0, total;
	dialect_json_count(um, "promptTokenCount", &prompt);
	dialect_json_count(um, "toolUsePromptTokenCount", &tool_prompt);
	dialect_json_count(um, "candidatesTokenCount", &cand);
	dialect_json_count(um, "thoughtsTokenCount", &thoughts);
	dialect_json_count(um, "cachedContentTokenCount", &cached);
	prompt += tool_prompt;
	/* candidatesTokenCount excludes thoughts; OpenAI's completion count
	 * includes reasoning. */
	int64_t completion = cand + thoughts;
	if (!dialect_json_count(um, "totalTokenCount", &total))
		total = prompt + completion;
	return dialect_usage_new(prompt, completion, total, cached, thoughts, -1);
}

/* A tool call delta for one functionCall part; id is the part's own or a
 * synthesised call_<hex>, unique across turns so a history replayed to
 * Anthropic never repeats a tool_use id. */
static json_object *tool_call_from_part(json_object *part, json_object *fc, int index)
{
	json_object *args = dialect_json_get(fc, "args", json_type_object);
	json_object *c =
	    dialect_tool_call_new(index, dialect_json_str(fc, "id"), "call_", dialect_json_str(fc, "name"),
	                          args ? dialect_arguments_string(args) : json_object_new_string("{}"));
	const char *sig = dialect_json_str(part, "thoughtSignature");
	if (!str_empty(sig)) {
		json_object *g = json_object_new_object();
		dialect_json_set_str(g, "thought_signature", sig);
		json_object *ec = json_object_new_object();
		json_object_object_add(ec, "google", g);
		json_object_object_add(c, "extra_content", ec);
	}
	return c;
}

/* The parts of a candidate's content; NULL if it has none. */
static json_object *candidate_parts(json_object *cand)
{
	return dialect_json_get(dialect_json_get(cand, "content", json_type_object), "parts",
	                        json_type_array);
}

/* ---------- decoding: stream ---------- */

struct gem_cand {
	int index;
	int tools;          /* tool calls so far: the next canonical tool index */
	bool saw_call;      /* a functionCall arrived: STOP means tool_calls */
	const char *finish; /* canonical reason, static; NULL until seen */
};

struct gemini_state {
	struct gem_cand *c;
	size_t n, cap;
	bool any_finish;
};

static void *gemini_state_new(void)
{
	return xcalloc(1, sizeof(struct gemini_state));
}

static void gemini_state_free(void *p)
{
	struct gemini_state *st = p;
	free(st->c);
	free(st);
}

static struct gem_cand *cand_get(struct gemini_state *st, int index)
{
	for (size_t i = 0; i < st->n; i++)
		if (st->c[i].index == index)
			return &st->c[i];
	if (st->n == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 2;
		st->c = xrealloc(st->c, st->cap * sizeof *st->c);
	}
	struct gem_cand *c = &st->c[st->n++];
	*c = (struct gem_cand){.index = index};
	return c;
}

static int on_candidate(struct stream_decoder *sd, struct gemini_state *st, json_object *cand, size_t pos)
{
	int64_t idx = (int64_t)pos;
	dialect_json_int(cand, "index", &idx);
	if (idx < 0 || idx > INT_MAX)
		return 0;
	struct gem_cand *c = cand_get(st, (int)idx);
	json_object *parts = candidate_parts(cand);
	size_t n = parts ? json_object_array_length(parts) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *part = json_object_array_get_idx(parts, i);
		json_object *fc = dialect_json_get(part, "functionCall", json_type_object);
		int rc = 0;
		if (fc) {
			c->saw_call = true;
			rc = dialect_emit_tool_call(sd, c->index, tool_call_from_part(part, fc, c->tools++));
		} else {
			json_object *t = dialect_json_get(part, "text", json_type_string);
			bool thought = false;
			dialect_json_bool(part, "thought", &thought);
			if (t)
				rc = dialect_emit_text(
				    sd, c->index, thought ? "reasoning_content" : "content",
				    json_object_get_string(t), (size_t)json_object_get_string_len(t));
		}
		if (rc)
			return rc;
	}
	const char *fr = dialect_json_str(cand, "finishReason");
	if (fr) {
		c->finish = gemini_finish(fr);
		st->any_finish = true;
	}
	return 0;
}

static int gemini_event(struct stream_decoder *sd, const char *event, const char *data, size_t len)
{
	struct gemini_state *st = sd->state;
	(void)event;
	int rc;
	json_object *o = dialect_event_object(sd, data, len, &rc);
	/* Gemini streams have no terminator; a "[DONE]" from a proxy means
	 * nothing. */
	if (!o)
		return rc == STREAM_DONE ? STREAM_OK : rc;
	if (dialect_json_value(o, "error")) {
		rc = dialect_fail_event(sd, o);
		json_object_put(o);
		return rc;
	}
	dialect_note_id(sd, dialect_json_str(o, "responseId"));
	dialect_note_model(sd, dialect_json_str(o, "modelVersion"));
	dialect_set_usage(sd, gemini_usage(dialect_json_get(o, "usageMetadata", json_type_object)));

	json_object *cands = dialect_json_get(o, "candidates", json_type_array);
	size_t n = cands ? json_object_array_length(cands) : 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		json_object *cand = json_object_array_get_idx(cands, i);
		if (json_object_is_type(cand, json_type_object))
			rc = on_candidate(sd, st, cand, i);
	}
	if (n == 0 &&
	    dialect_json_str(dialect_json_get(o, "promptFeedback", json_type_object), "blockReason")) {
		cand_get(st, 0)->finish = "content_filter";
		st->any_finish = true;
	}
	json_object_put(o);
	return rc;
}

static int gemini_finish_stream(struct stream_decoder *sd)
{
	struct gemini_state *st = sd->state;
	if (!st->any_finish)
		return dialect_fail(sd, 0, "upstream stream ended without a finish reason");
	sd->done = true;
	for (size_t i = 0; i < st->n; i++) {
		const struct gem_cand *c = &st->c[i];
		if (!c->finish)
			continue;
		const char *reason = c->saw_call && strcmp(c->finish, "stop") == 0 ? "tool_calls" : c->finish;
		int rc = dialect_emit_finish(sd, c->index, reason);
		if (rc)
			return rc;
	}
	int rc = dialect_emit_usage(sd);
	return rc ? rc : STREAM_DONE;
}

/* ---------- decoding: whole response ---------- */

/* Adds the choice for one candidate to the completion r. */
static void add_candidate(json_object *r, json_object *cand, size_t pos)
{
	int64_t idx = (int64_t)pos;
	dialect_json_int(cand, "index", &idx);
	struct buf text = BUF_INIT, thoughts = BUF_INIT;
	json_object *calls = json_object_new_array();
	bool any_text = false;
	json_object *parts = candidate_parts(cand);
	size_t n = parts ? json_object_array_length(parts) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *part = json_object_array_get_idx(parts, i);
		json_object *fc = dialect_json_get(part, "functionCall", json_type_object);
		if (fc) {
			json_object_array_add(calls, tool_call_from_part(part, fc, -1));
			continue;
		}
		json_object *t = dialect_json_get(part, "text", json_type_string);
		if (!t)
			continue;
		bool thought = false;
		dialect_json_bool(part, "thought", &thought);
		if (!thought)
			any_text = true;
		buf_append(thought ? &thoughts : &text, json_object_get_string(t),
		           (size_t)json_object_get_string_len(t));
	}
	bool has_calls = json_object_array_length(calls) > 0;
	json_object *msg = dialect_message_new(any_text ? &text : NULL, &thoughts, calls);
	buf_free(&text);
	buf_free(&thoughts);

	const char *reason = gemini_finish(dialect_json_str(cand, "finishReason"));
	if (has_calls && strcmp(reason, "stop") == 0)
		reason = "tool_calls";
	dialect_completion_add_choice(r, idx, msg, reason);
}

static json_object *gemini_response(json_object *resp, const char *model, char **err)
{
	if (dialect_json_value(resp, "error")) {
		*err = dialect_error_text(resp);
		return NULL;
	}
	json_object *cands = dialect_json_get(resp, "candidates", json_type_array);
	size_t n = cands ? json_object_array_length(cands) : 0;
	const char *block =
	    dialect_json_str(dialect_json_get(resp, "promptFeedback", json_type_object), "blockReason");
	if (n == 0 && !block) {
		*err = xstrdup("gemini response has no candidates");
		return NULL;
	}
	const char *m = dialect_json_str(resp, "modelVersion");
	json_object *r =
	    dialect_completion_new(dialect_json_str(resp, "responseId"), 0, str_empty(m) ? model : m);
	for (size_t i = 0; i < n; i++) {
		json_object *cand = json_object_array_get_idx(cands, i);
		if (json_object_is_type(cand, json_type_object))
			add_candidate(r, cand, i);
	}
	if (n == 0) /* a blocked prompt: no candidates, only the reason */
		dialect_completion_add_choice(r, 0, dialect_message_new(NULL, NULL, NULL), "content_filter");
	json_object *u = gemini_usage(dialect_json_get(resp, "usageMetadata", json_type_object));
	if (u)
		json_object_object_add(r, "usage", u);
	return r;
}

const struct dialect_ops dialect_gemini_ops = {
    .name = "gemini",
    .build_request = gemini_build_request,
    .response_to_canonical = gemini_response,
    .decoder_state_new = gemini_state_new,
    .decoder_state_free = gemini_state_free,
    .decoder_event = gemini_event,
    .decoder_finish = gemini_finish_stream,
};
