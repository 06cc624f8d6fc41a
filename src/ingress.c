/* ingress.c - see ingress.h: dispatch to the per-dialect halves, the
 * OpenAI client side (a validated copy in, chunks re-labelled out), the
 * stream encoder's common life cycle, and error bodies for all three
 * dialects (wire-formats.md §1.7, §2.6, §3.7, §4.7). */
#include "config.h"

#include "ingress.h"

#include "buf.h"
#include "dialect-internal.h"
#include "sse.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* ---------- requests ---------- */

static json_object *openai_request(json_object *body, char **err)
{
	if (!json_object_is_type(body, json_type_object)) {
		*err = xstrdup("request body must be a JSON object");
		return NULL;
	}
	const char *model = dialect_json_str(body, "model");
	if (str_empty(model)) {
		*err = xstrdup("\"model\" must be a non-empty string");
		return NULL;
	}
	if (!dialect_json_get(body, "messages", json_type_array)) {
		*err = xstrdup("\"messages\" must be an array");
		return NULL;
	}
	/* The body already is canonical: share it rather than copy it (the
	 * caller owns a reference; nothing downstream modifies it). */
	return json_object_get(body);
}

json_object *ingress_request_to_canonical(enum dialect d, json_object *body, const char *url_model,
                                          bool url_stream, char **err)
{
	*err = NULL;
	json_object *r = NULL;
	switch (d) {
	case DIALECT_OPENAI:
		r = openai_request(body, err);
		break;
	case DIALECT_ANTHROPIC:
		r = ingress_anthropic_request(body, err);
		break;
	case DIALECT_GEMINI:
		r = ingress_gemini_request(body, url_model, url_stream, err);
		break;
	default:
		*err = xstrdup("unknown dialect");
		break;
	}
	if (!r && !*err)
		*err = xstrdup("cannot convert the request");
	return r;
}

/* ---------- shared helpers ---------- */

void ingress_usage_read(json_object *u, struct ingress_usage *out)
{
	memset(out, 0, sizeof *out);
	if (!json_object_is_type(u, json_type_object))
		return;
	int64_t v;
	if (dialect_json_count(u, "prompt_tokens", &v))
		out->prompt = v;
	if (dialect_json_count(u, "completion_tokens", &v))
		out->completion = v;
	if (dialect_json_count(u, "total_tokens", &v))
		out->total = v;
	else
		out->total = out->prompt + out->completion;
	json_object *pd = dialect_json_get(u, "prompt_tokens_details", json_type_object);
	if (dialect_json_count(pd, "cached_tokens", &v))
		out->cached = v;
	if (dialect_json_count(pd, "cache_write_tokens", &v)) {
		out->cache_write = v;
		out->have_cache_write = true;
	}
	json_object *cd = dialect_json_get(u, "completion_tokens_details", json_type_object);
	if (dialect_json_count(cd, "reasoning_tokens", &v))
		out->reasoning = v;
	/* Keep the derived counts non-negative whatever the upstream said. */
	if (out->cached > out->prompt)
		out->cached = out->prompt;
	if (out->cache_write > out->prompt - out->cached)
		out->cache_write = out->prompt - out->cached;
	if (out->reasoning > out->completion)
		out->reasoning = out->completion;
}

const char *ingress_effort_for_budget(long long budget)
{
	if (budget <= 2048)
		return "low";
	if (budget <= 8192)
		return "medium";
	return "high";
}

json_object *ingress_string_copy(json_object *s)
{
	return json_object_new_string_len(json_object_get_string(s), json_object_get_string_len(s));
}

void ingress_set_id(json_object *o, const char *key, const char *id, const char *prefix)
{
	char *minted = str_empty(id) ? dialect_mint_id(prefix) : NULL;
	dialect_json_set_str(o, key, minted ? minted : id);
	free(minted);
}

json_object *ingress_text_part(const char *s, size_t len)
{
	json_object *p = json_object_new_object();
	dialect_json_set_str(p, "type", "text");
	dialect_json_set_strn(p, "text", s, len);
	return p;
}

json_object *ingress_image_url_part(const char *url)
{
	json_object *iu = json_object_new_object();
	dialect_json_set_str(iu, "url", url);
	json_object *p = json_object_new_object();
	dialect_json_set_str(p, "type", "image_url");
	json_object_object_add(p, "image_url", iu);
	return p;
}

json_object *ingress_file_part(const char *filename, const char *data_url)
{
	json_object *file = json_object_new_object();
	dialect_json_set_str(file, "filename", filename);
	dialect_json_set_str(file, "file_data", data_url);
	json_object *p = json_object_new_object();
	dialect_json_set_str(p, "type", "file");
	json_object_object_add(p, "file", file);
	return p;
}

void ingress_add_text_message(json_object *messages, const char *role, const char *text, size_t len)
{
	json_object *m = json_object_new_object();
	dialect_json_set_str(m, "role", role);
	dialect_json_set_strn(m, "content", len ? text : "", len);
	json_object_array_add(messages, m);
}

void ingress_add_user_message(json_object *messages, json_object *parts)
{
	size_t np = json_object_array_length(parts);
	if (np == 0)
		return;
	json_object *m = json_object_new_object();
	dialect_json_set_str(m, "role", "user");
	/* A lone text part reads best as plain string content, which every
	 * OpenAI-compatible server accepts. */
	json_object *only = np == 1 ? json_object_array_get_idx(parts, 0) : NULL;
	const char *ptype = dialect_json_str(only, "type");
	json_object *text = dialect_json_get(only, "text", json_type_string);
	if (text && ptype && strcmp(ptype, "text") == 0)
		json_object_object_add(m, "content", ingress_string_copy(text));
	else
		json_object_object_add(m, "content", json_object_get(parts));
	json_object_array_add(messages, m);
}

json_object *ingress_tool_message(const char *id, const char *content, size_t len)
{
	json_object *m = json_object_new_object();
	dialect_json_set_str(m, "role", "tool");
	dialect_json_set_str(m, "tool_call_id", id);
	dialect_json_set_strn(m, "content", len ? content : "", len);
	return m;
}

json_object *ingress_tool_call(const char *id, const char *name, json_object *args)
{
	char *a = args ? dialect_json_dump(args) : xstrdup("{}");
	json_object *tc = dialect_tool_call_new(-1, id, "call_", name, json_object_new_string(a));
	free(a);
	return tc;
}

json_object *ingress_function_decl(const char *name, const char *desc, json_object *params)
{
	json_object *fn = json_object_new_object();
	dialect_json_set_str(fn, "name", name);
	if (desc)
		dialect_json_set_str(fn, "description", desc);
	if (!params) {
		params = json_object_new_object();
		dialect_json_set_str(params, "type", "object");
		json_object_object_add(params, "properties", json_object_new_object());
	}
	json_object_object_add(fn, "parameters", params);
	return fn;
}

json_object *ingress_function(json_object *fn)
{
	json_object *f = json_object_new_object();
	dialect_json_set_str(f, "type", "function");
	json_object_object_add(f, "function", fn);
	return f;
}

void ingress_set_json_schema(json_object *r, json_object *schema)
{
	json_object *js = json_object_new_object();
	dialect_json_set_str(js, "name", "response");
	json_object_object_add(js, "schema", schema);
	json_object *rf = json_object_new_object();
	dialect_json_set_str(rf, "type", "json_schema");
	json_object_object_add(rf, "json_schema", js);
	json_object_object_add(r, "response_format", rf);
}

/* ---------- errors ---------- */

/* Any status the caller passes becomes one an HTTP client can act on: 0
 * (no response at all) reads as a bad gateway. */
static int error_status(int status)
{
	if (status == 0)
		return 502;
	if (status < 400 || status > 599)
		return 500;
	return status;
}

const char *ingress_openai_type_for_status(int status)
{
	switch (status) {
	case 401:
		return "authentication_error";
	case 403:
		return "permission_error";
	case 404:
		return "not_found_error";
	case 429:
		return "rate_limit_error";
	default:
		return status >= 500 ? "server_error" : "invalid_request_error";
	}
}

static bool generic_openai_type(const char *kind)
{
	static const char *const words[] = {
	    "invalid_request_error", "authentication_error", "permission_error", "not_found_error",
	    "rate_limit_error",      "server_error",         "api_error"};
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strcmp(words[i], kind) == 0)
			return true;
	return false;
}

static const char *anthropic_type_for_status(int status)
{
	switch (status) {
	case 401:
		return "authentication_error";
	case 402:
		return "billing_error";
	case 403:
		return "permission_error";
	case 404:
		return "not_found_error";
	case 413:
		return "request_too_large";
	case 429:
		return "rate_limit_error";
	case 503:
	case 529:
		return "overloaded_error";
	case 504:
		return "timeout_error";
	default:
		return status >= 500 ? "api_error" : "invalid_request_error";
	}
}

/* The OpenAI-style (and a few other) words a caller may pass as kind, in
 * Anthropic's vocabulary. */
static const struct {
	const char *kind, *anthropic;
} anthropic_kinds[] = {
    {"api_error", "api_error"},
    {"authentication_error", "authentication_error"},
    {"billing_error", "billing_error"},
    {"insufficient_quota", "rate_limit_error"},
    {"internal_error", "api_error"},
    {"invalid_api_key", "authentication_error"},
    {"invalid_request_error", "invalid_request_error"},
    {"model_not_found", "not_found_error"},
    {"not_found", "not_found_error"},
    {"not_found_error", "not_found_error"},
    {"overloaded", "overloaded_error"},
    {"overloaded_error", "overloaded_error"},
    {"permission_denied", "permission_error"},
    {"permission_error", "permission_error"},
    {"rate_limit_error", "rate_limit_error"},
    {"rate_limit_exceeded", "rate_limit_error"},
    {"request_too_large", "request_too_large"},
    {"server_error", "api_error"},
    {"service_unavailable", "overloaded_error"},
    {"timeout", "timeout_error"},
    {"timeout_error", "timeout_error"},
};

static const char *anthropic_type(int status, const char *kind)
{
	if (status == 402)
		return "billing_error"; /* whatever the kind: OpenAI's insufficient_quota is a 429 */
	if (!str_empty(kind)) {
		for (size_t i = 0; i < sizeof anthropic_kinds / sizeof anthropic_kinds[0]; i++)
			if (strcmp(anthropic_kinds[i].kind, kind) == 0)
				return anthropic_kinds[i].anthropic;
		int s = dialect_error_status_for_type(kind);
		if (s)
			return anthropic_type_for_status(s);
	}
	return anthropic_type_for_status(status);
}

static const char *gemini_status_for(int status)
{
	switch (status) {
	case 400:
		return "INVALID_ARGUMENT";
	case 401:
		return "UNAUTHENTICATED";
	case 403:
		return "PERMISSION_DENIED";
	case 404:
		return "NOT_FOUND";
	case 429:
		return "RESOURCE_EXHAUSTED";
	case 502:
	case 503:
	case 529:
		return "UNAVAILABLE";
	case 504:
		return "DEADLINE_EXCEEDED";
	default:
		return status >= 500 ? "INTERNAL" : "INVALID_ARGUMENT";
	}
}

static const char *gemini_status(int status, const char *kind)
{
	static const char *const words[] = {
	    "INVALID_ARGUMENT",   "UNAUTHENTICATED", "PERMISSION_DENIED", "NOT_FOUND",
	    "RESOURCE_EXHAUSTED", "INTERNAL",        "UNAVAILABLE",       "DEADLINE_EXCEEDED",
	};
	if (!str_empty(kind)) {
		for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
			if (strcmp(words[i], kind) == 0)
				return words[i];
		int s = dialect_error_status_for_type(kind);
		if (s)
			return gemini_status_for(s);
	}
	return gemini_status_for(status);
}

/* The error object for d; *http_status gets the status to send. Owned by
 * the caller. */
static json_object *error_json(enum dialect d, int status, const char *kind, const char *message,
                               int *http_status)
{
	status = error_status(status);
	if (str_empty(message))
		message = "error";
	json_object *r = json_object_new_object();
	json_object *e = json_object_new_object();
	if (d == DIALECT_ANTHROPIC) {
		*http_status = status;
		dialect_json_set_str(r, "type", "error");
		dialect_json_set_str(e, "type", anthropic_type(status, kind));
		dialect_json_set_str(e, "message", message);
	} else if (d == DIALECT_GEMINI) {
		/* 529 is Anthropic's own; other clients know 503. */
		*http_status = status == 529 ? 503 : status;
		json_object_object_add(e, "code", json_object_new_int(*http_status));
		dialect_json_set_str(e, "message", message);
		dialect_json_set_str(e, "status", gemini_status(*http_status, kind));
	} else {
		*http_status = status == 529 ? 503 : status;
		dialect_json_set_str(e, "message", message);
		dialect_json_set_str(e, "type",
		                     str_empty(kind) ? ingress_openai_type_for_status(*http_status) : kind);
		json_object_object_add(e, "param", NULL);
		/* OpenAI's code names the specific cause (insufficient_quota,
		 * context_length_exceeded); a generic type word is not one. */
		bool specific = !str_empty(kind) && !generic_openai_type(kind);
		json_object_object_add(e, "code", specific ? json_object_new_string(kind) : NULL);
	}
	json_object_object_add(r, "error", e);
	return r;
}

char *ingress_error_body(enum dialect d, int status, const char *kind, const char *message, int *http_status)
{
	int hs = 0;
	json_object *o = error_json(d, status, kind, message, &hs);
	char *s = dialect_json_dump(o);
	json_object_put(o);
	if (http_status)
		*http_status = hs;
	return s;
}

/* ---------- streams ---------- */

struct stream_encoder {
	enum dialect dialect;
	const struct ingress_encoder_ops *ops; /* NULL for OpenAI */
	void *state;
	char *model;
	bool include_usage;
	bool over; /* finished or failed: nothing more is written */
	char *id;  /* OpenAI: the first chunk's id and created, kept for the whole
		    * stream even when a continuation comes from elsewhere */
	json_object *created;
};

struct stream_encoder *stream_encoder_new(enum dialect d, const char *model, bool include_usage)
{
	struct stream_encoder *e = xcalloc(1, sizeof *e);
	e->dialect = d;
	e->model = xstrdup(model ? model : "");
	e->include_usage = include_usage;
	if (d == DIALECT_ANTHROPIC)
		e->ops = &ingress_anthropic_encoder;
	else if (d == DIALECT_GEMINI)
		e->ops = &ingress_gemini_encoder;
	else
		e->dialect = DIALECT_OPENAI;
	if (e->ops)
		e->state = e->ops->state_new(e->model);
	return e;
}

void ingress_write_json(struct buf *out, const char *event, json_object *o)
{
	char *s = dialect_json_dump(o);
	sse_write_event(out, event, s, strlen(s));
	free(s);
}

/* The chunk as the client sees it: the reported model name, and no usage
 * unless the client asked for it. Members are shared, not copied. */
static void openai_chunk(struct stream_encoder *e, json_object *chunk, struct buf *out)
{
	if (!json_object_is_type(chunk, json_type_object))
		return;
	json_object *choices = dialect_json_get(chunk, "choices", json_type_array);
	bool has_usage = dialect_json_get(chunk, "usage", json_type_object) != NULL;
	if (!choices || json_object_array_length(choices) == 0) {
		if (!has_usage || !e->include_usage)
			return;
	}
	json_object *c = json_object_new_object();
	bool model_set = false;
	if (!e->id && dialect_json_str(chunk, "id")) {
		e->id = xstrdup(dialect_json_str(chunk, "id"));
		e->created = json_object_get(json_object_object_get(chunk, "created"));
	}
	json_object_object_foreach (chunk, k, v) {
		if (strcmp(k, "id") == 0 && e->id) {
			dialect_json_set_str(c, "id", e->id);
		} else if (strcmp(k, "created") == 0 && e->created) {
			json_object_object_add(c, "created", json_object_get(e->created));
		} else if (strcmp(k, "model") == 0) {
			dialect_json_set_str(c, "model", e->model);
			model_set = true;
		} else if (strcmp(k, "usage") == 0 && !e->include_usage) {
			continue;
		} else {
			json_object_object_add(c, k, json_object_get(v));
		}
	}
	if (!model_set)
		dialect_json_set_str(c, "model", e->model);
	ingress_write_json(out, NULL, c);
	json_object_put(c);
}

void stream_encoder_chunk(struct stream_encoder *e, json_object *chunk, struct buf *out)
{
	if (!e || e->over)
		return;
	if (e->ops)
		e->ops->chunk(e->state, chunk, out);
	else
		openai_chunk(e, chunk, out);
}

void stream_encoder_finish(struct stream_encoder *e, struct buf *out)
{
	if (!e || e->over)
		return;
	e->over = true;
	if (e->ops)
		e->ops->finish(e->state, out);
	else
		sse_write_event(out, NULL, "[DONE]", 6);
}

void stream_encoder_error(struct stream_encoder *e, int status, const char *message, struct buf *out)
{
	if (!e || e->over)
		return;
	e->over = true;
	int hs;
	json_object *o = error_json(e->dialect, status, NULL, message, &hs);
	if (e->dialect == DIALECT_ANTHROPIC)
		ingress_write_json(out, "error", o);
	else
		ingress_write_json(out, NULL, o);
	json_object_put(o);
}

void stream_encoder_resume(struct stream_encoder *e, int64_t next_index, int64_t open_index, bool open_is_text,
			   struct buf *out)
{
	if (e->ops && e->ops->resume)
		e->ops->resume(e->state, next_index, open_index, open_is_text, out);
}

void stream_encoder_adopt_id(struct stream_encoder *e, const char *id, int64_t created)
{
	if (!id || e->id)
		return;
	e->id = xstrdup(id);
	e->created = created ? json_object_new_int64(created) : NULL;
}

void stream_encoder_free(struct stream_encoder *e)
{
	if (!e)
		return;
	if (e->ops)
		e->ops->state_free(e->state);
	free(e->model);
	free(e->id);
	if (e->created)
		json_object_put(e->created);
	free(e);
}

/* ---------- whole responses ---------- */

static json_object *openai_response(json_object *completion, const char *model)
{
	json_object *r = NULL;
	if (!json_object_is_type(completion, json_type_object) ||
	    json_object_deep_copy(completion, &r, NULL) != 0 || !r)
		return dialect_completion_new(NULL, 0, model);
	dialect_json_set_str(r, "model", model ? model : "");
	return r;
}

json_object *ingress_response_from_canonical(enum dialect d, json_object *completion, const char *model)
{
	switch (d) {
	case DIALECT_ANTHROPIC:
		return ingress_anthropic_response(completion, model);
	case DIALECT_GEMINI:
		return ingress_gemini_response(completion, model);
	default:
		return openai_response(completion, model);
	}
}
