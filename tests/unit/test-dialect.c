/* test-dialect.c - unit tests for dialect.h: egress request bodies for each
 * dialect, stream decoders fed the reference streams of
 * shared/reference/wire-formats.md, whole-response conversion, upstream
 * error bodies, and a mutation/garbage loop that must never crash.
 *
 * Fixtures write '"' as '`' so that JSON reads like JSON; unq() turns them
 * back before use (none of the reference texts contains a backtick). */
#include "config.h"

#include "buf.h"
#include "dialect.h"
#include "dialect-internal.h"
#include "util.h"

#include "json-test.h"
#include "tap.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- SSE fixtures ---------- */

struct ev {
	char *event;
	char *data;
};

struct evlist {
	struct ev *v;
	size_t n;
};

static void evlist_add(struct evlist *l, const char *event, const char *data)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	l->v[l->n].event = event ? xstrdup(event) : NULL;
	l->v[l->n].data = xstrdup(data);
	l->n++;
}

/* A minimal SSE reader for fixtures (the real one lives in sse.c): "\n"
 * line ends, "event:"/"data:" fields, blank line dispatches. */
static void parse_sse(const char *text, struct evlist *out)
{
	char *t = unq(text);
	struct buf data = BUF_INIT;
	char *event = NULL;
	bool have_data = false;
	char *save = NULL;
	for (char *p = t;;) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		if (*p == '\0') {
			if (have_data || event)
				evlist_add(out, event, buf_str(&data));
			free(event);
			event = NULL;
			buf_reset(&data);
			have_data = false;
		} else if (*p == ':') {
			/* comment */
		} else if (strncmp(p, "event:", 6) == 0) {
			free(event);
			event = xstrdup(p[6] == ' ' ? p + 7 : p + 6);
		} else if (strncmp(p, "data:", 5) == 0) {
			if (have_data)
				buf_putc(&data, '\n');
			buf_puts(&data, p[5] == ' ' ? p + 6 : p + 5);
			have_data = true;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	if (have_data || event)
		evlist_add(out, event, buf_str(&data));
	(void)save;
	free(event);
	buf_free(&data);
	free(t);
}

static void evlist_free(struct evlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].event);
		free(l->v[i].data);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* ---------- running a decoder ---------- */

static bool is_finish_word(const char *s)
{
	return s && (!strcmp(s, "stop") || !strcmp(s, "length") || !strcmp(s, "tool_calls") ||
	             !strcmp(s, "content_filter"));
}

/* Checks one chunk against the canonical shape in dialect.h; returns the
 * number of violations. */
static int shape_errors(json_object *c)
{
	int bad = 0;
	if (!json_object_is_type(c, json_type_object))
		return 1;
	if (!js(c, "id") || !*js(c, "id"))
		bad++;
	if (!js(c, "object") || strcmp(js(c, "object"), "chat.completion.chunk"))
		bad++;
	if (ji(c, "created") <= 0)
		bad++;
	if (!js(c, "model"))
		bad++;
	json_object *choices = jp(c, "choices");
	if (!json_object_is_type(choices, json_type_array))
		return bad + 1;
	size_t n = json_object_array_length(choices);
	if (n == 0) {
		json_object *u = jp(c, "usage");
		if (ji(u, "prompt_tokens") < 0 || ji(u, "completion_tokens") < 0 ||
		    ji(u, "total_tokens") < 0 || ji(u, "prompt_tokens_details.cached_tokens") < 0 ||
		    ji(u, "completion_tokens_details.reasoning_tokens") < 0)
			bad++;
		return bad;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *ch = json_object_array_get_idx(choices, i);
		if (ji(ch, "index") < 0)
			bad++;
		json_object *d = jp(ch, "delta");
		if (!json_object_is_type(d, json_type_object))
			bad++;
		json_object *fr = jp(ch, "finish_reason");
		if (!jhas(ch, "finish_reason") || (fr && !is_finish_word(json_object_get_string(fr))))
			bad++;
		json_object_object_foreach (d, k, v) {
			if (!strcmp(k, "role")) {
				if (!json_object_is_type(v, json_type_string))
					bad++;
			} else if (!strcmp(k, "content") || !strcmp(k, "reasoning_content") ||
			           !strcmp(k, "refusal")) {
				if (!json_object_is_type(v, json_type_string))
					bad++;
			} else if (!strcmp(k, "tool_calls")) {
				size_t nt =
				    json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
				if (!nt)
					bad++;
				for (size_t t = 0; t < nt; t++) {
					json_object *tc = json_object_array_get_idx(v, t);
					if (ji(tc, "index") < 0)
						bad++;
					json_object *a = jp(tc, "function.arguments");
					if (a && !json_object_is_type(a, json_type_string))
						bad++;
					json_object *nm = jp(tc, "function.name");
					if (nm && !json_object_is_type(nm, json_type_string))
						bad++;
				}
			} else {
				bad++;
			}
		}
	}
	return bad;
}

struct run {
	json_object *chunks;
	int rc_events; /* the first non-OK return, else STREAM_OK */
	int rc_finish; /* 99 when finish was not called */
	char *error;
	int status;
	int stop_at; /* the callback returns 42 on this chunk (1-based); 0 never */
	int shape_bad;
};

static int run_cb(json_object *chunk, void *arg)
{
	struct run *r = arg;
	json_object_array_add(r->chunks, json_object_get(chunk));
	int sb = shape_errors(chunk);
	if (sb && getenv("TD_DEBUG"))
		printf("# shape: %s\n", dump(chunk));
	r->shape_bad += sb;
	if (r->stop_at && (int)json_object_array_length(r->chunks) == r->stop_at)
		return 42;
	return 0;
}

static void run_init(struct run *r)
{
	memset(r, 0, sizeof *r);
	r->chunks = json_object_new_array();
	r->rc_finish = 99;
}

static void run_events(enum dialect d, const struct evlist *l, bool finish, struct run *r)
{
	struct stream_decoder *sd = stream_decoder_new(d, "req-model", run_cb, r);
	r->rc_events = STREAM_OK;
	for (size_t i = 0; i < l->n; i++) {
		int rc = stream_decoder_event(sd, l->v[i].event, l->v[i].data, strlen(l->v[i].data));
		if (rc != STREAM_OK) {
			r->rc_events = rc;
			break;
		}
	}
	if (finish)
		r->rc_finish = stream_decoder_finish(sd);
	const char *e = stream_decoder_error(sd);
	r->error = e ? xstrdup(e) : NULL;
	r->status = stream_decoder_error_status(sd);
	stream_decoder_free(sd);
}

static void run_sse(enum dialect d, const char *sse, bool finish, struct run *r)
{
	struct evlist l = {0};
	parse_sse(sse, &l);
	run_init(r);
	run_events(d, &l, finish, r);
	evlist_free(&l);
}

static void run_free(struct run *r)
{
	json_object_put(r->chunks);
	free(r->error);
	memset(r, 0, sizeof *r);
}

static int canon_modified; /* egress calls that changed their input */

static json_object *build(enum dialect d, const char *canon_q, const char *model, bool stream, long dmax,
                          char **err)
{
	json_object *canon = J(canon_q);
	struct egress_opts o = {.model = model, .stream = stream, .default_max_tokens = dmax};
	char *before = xstrdup(dump(canon));
	*err = NULL;
	json_object *r = dialect_build_request(d, canon, &o, err);
	if (strcmp(before, dump(canon)) != 0)
		canon_modified++;
	free(before);
	json_object_put(canon);
	return r;
}

/* ---------- names ---------- */

static void test_names(void)
{
	enum dialect d;
	is_str(dialect_name(DIALECT_OPENAI), "openai", "name openai");
	is_str(dialect_name(DIALECT_ANTHROPIC), "anthropic", "name anthropic");
	is_str(dialect_name(DIALECT_GEMINI), "gemini", "name gemini");
	ok(dialect_from_name("gemini", &d) == 0 && d == DIALECT_GEMINI, "from_name gemini");
	ok(dialect_from_name("anthropic", &d) == 0 && d == DIALECT_ANTHROPIC, "from_name anthropic");
	ok(dialect_from_name("openai", &d) == 0 && d == DIALECT_OPENAI, "from_name openai");
	ok(dialect_from_name("claude", &d) == -1, "from_name rejects unknown names");
	ok(dialect_from_name(NULL, &d) == -1, "from_name rejects NULL");
	is_str(dialect_name((enum dialect)77), "unknown", "name of an out-of-range dialect");
	ok(stream_decoder_new((enum dialect)77, "m", NULL, NULL) == NULL,
	   "no decoder for an unknown dialect");
}

/* ---------- OpenAI egress ---------- */

static void test_openai_egress(void)
{
	char *err;
	json_object *r =
	    build(DIALECT_OPENAI,
	          "{`model`:`openai/gpt-4o-mini`,`messages`:[{`role`:`user`,`content`:`hi`}],"
	          "`stream_options`:{`include_obfuscation`:false},`x_custom`:{`a`:1},`logit_bias`:{`5`:1}}",
	          "gpt-4o-mini", true, 0, &err);
	ok(r && !err, "openai: builds");
	is_str(js(r, "model"), "gpt-4o-mini", "openai: model rewritten");
	ok(json_object_get_boolean(jp(r, "stream")), "openai: stream true");
	ok(json_object_get_boolean(jp(r, "stream_options.include_usage")), "openai: include_usage added");
	ok(jhas(r, "stream_options.include_obfuscation") &&
	       !json_object_get_boolean(jp(r, "stream_options.include_obfuscation")),
	   "openai: other stream_options kept");
	is_int(ji(r, "x_custom.a"), 1, "openai: unknown fields kept");
	is_str(js(r, "messages.0.content"), "hi", "openai: messages copied");
	json_object_put(r);

	r = build(DIALECT_OPENAI,
	          "{`model`:`x`,`messages`:[{`role`:`user`,`content`:`hi`}],`stream`:true,"
	          "`stream_options`:{`include_usage`:true}}",
	          "y", false, 0, &err);
	ok(r && json_object_is_type(jp(r, "stream"), json_type_boolean) &&
	       !json_object_get_boolean(jp(r, "stream")),
	   "openai: stream false when not streaming");
	ok(!jhas(r, "stream_options"), "openai: stream_options dropped when not streaming");
	json_object_put(r);

	r = build(DIALECT_OPENAI, "{`model`:`keep-me`,`messages`:[]}", NULL, false, 0, &err);
	is_str(js(r, "model"), "keep-me", "openai: request model kept without an override");
	json_object_put(r);

	r = build(DIALECT_OPENAI, "{`messages`:[]}", NULL, false, 0, &err);
	ok(!r && err && strstr(err, "model"), "openai: no model at all is an error");
	free(err);

	r = build(DIALECT_OPENAI, "{`model`:`m`}", "m", false, 0, &err);
	ok(!r && err, "openai: missing messages is an error");
	free(err);

	json_object *arr = J("[1,2]");
	struct egress_opts o = {.model = "m"};
	err = NULL;
	ok(dialect_build_request(DIALECT_OPENAI, arr, &o, &err) == NULL && err,
	   "openai: non-object body rejected");
	free(err);
	err = NULL;
	ok(dialect_build_request(DIALECT_OPENAI, NULL, &o, &err) == NULL && err, "NULL body rejected");
	free(err);
	json_object_put(arr);
}

/* ---------- Anthropic egress ---------- */

/* clang-format off */
static const char TOOL_CONVERSATION[] =
	"{`model`:`x`,`messages`:["
	"{`role`:`system`,`content`:`You are terse.`},"
	"{`role`:`developer`,`content`:[{`type`:`text`,`text`:`Use metric.`}]},"
	"{`role`:`user`,`content`:`Weather in Paris, Rome and Oslo?`},"
	"{`role`:`assistant`,`content`:``,`tool_calls`:["
	"{`id`:`call_A1`,`type`:`function`,`function`:{`name`:`get_weather`,`arguments`:`{\\`location\\`:\\`Paris\\`}`}},"
	"{`id`:`toolu_01NRLabsLyVHZPKxbKvkfSMn`,`type`:`function`,`function`:{`name`:`get_weather`,`arguments`:`{\\`location\\`:\\`Rome\\`}`}},"
	"{`id`:`call_C3`,`type`:`function`,`function`:{`name`:`get_time`,`arguments`:`{not json`}}]},"
	"{`role`:`tool`,`tool_call_id`:`call_A1`,`content`:`{\\`temp_c\\`:14}`},"
	"{`role`:`tool`,`tool_call_id`:`toolu_01NRLabsLyVHZPKxbKvkfSMn`,`content`:`sunny, 22C`},"
	"{`role`:`tool`,`tool_call_id`:`call_C3`,`content`:[{`type`:`text`,`text`:`12:00`}]},"
	"{`role`:`user`,`content`:`Also suggest clothing.`},"
	"{`role`:`user`,`content`:`Be brief.`},"
	"{`role`:`assistant`,`content`:`Sure.`},"
	"{`role`:`assistant`,`content`:[{`type`:`text`,`text`:`Here goes.`}]}"
	"],"
	"`tools`:[{`type`:`function`,`function`:{`name`:`get_weather`,`description`:`Get weather`,"
	"`parameters`:{`$schema`:`http://json-schema.org/draft-07/schema#`,`type`:`object`,"
	"`properties`:{`location`:{`type`:`string`}},`required`:[`location`]}}},"
	"{`type`:`function`,`function`:{`name`:`get_time`}}],"
	"`temperature`:1.7,`top_p`:0.9,`stop`:`END`,`max_completion_tokens`:300,`user`:`user-1234`,"
	"`seed`:7,`presence_penalty`:0.5,`frequency_penalty`:0.25}";
/* clang-format on */

static void test_anthropic_egress_conversation(void)
{
	char *err;
	json_object *r = build(DIALECT_ANTHROPIC, TOOL_CONVERSATION, "claude-sonnet-4", true, 1024, &err);
	ok(r && !err, "anthropic: tool conversation builds (%s)", err ? err : "");
	if (!r) {
		free(err);
		return;
	}
	is_str(js(r, "model"), "claude-sonnet-4", "anthropic: model");
	ok(json_object_get_boolean(jp(r, "stream")), "anthropic: stream");
	is_str(js(r, "system"), "You are terse.\nUse metric.",
	       "anthropic: system and developer hoisted and joined");
	is_int(jlen(r, "messages"), 4, "anthropic: turns merged to user/assistant/user/assistant");
	is_str(js(r, "messages.0.role"), "user", "anthropic: first turn user");
	is_str(js(r, "messages.0.content.0.text"), "Weather in Paris, Rome and Oslo?",
	       "anthropic: user text block");
	is_str(js(r, "messages.1.role"), "assistant", "anthropic: second turn assistant");
	is_int(jlen(r, "messages.1.content"), 3, "anthropic: no empty text block, three tool_use blocks");
	is_str(js(r, "messages.1.content.0.type"), "tool_use", "anthropic: tool_use block");
	is_str(js(r, "messages.1.content.0.id"), "call_A1", "anthropic: tool_use id kept");
	is_str(js(r, "messages.1.content.1.id"), "toolu_01NRLabsLyVHZPKxbKvkfSMn",
	       "anthropic: tool_use id byte-exact");
	is_str(js(r, "messages.1.content.0.name"), "get_weather", "anthropic: tool_use name");
	is_str(js(r, "messages.1.content.1.input.location"), "Rome", "anthropic: tool_use input parsed");
	ok(json_object_is_type(jp(r, "messages.1.content.2.input"), json_type_object) &&
	       jlen(r, "messages.1.content.2.input") == 0,
	   "anthropic: invalid arguments become {}");
	is_str(js(r, "messages.2.role"), "user", "anthropic: tool results in a user turn");
	is_int(jlen(r, "messages.2.content"), 5,
	       "anthropic: three results and two merged user texts in one turn");
	is_str(js(r, "messages.2.content.0.type"), "tool_result", "anthropic: tool_result first");
	is_str(js(r, "messages.2.content.0.tool_use_id"), "call_A1", "anthropic: tool_result 1 id");
	is_str(js(r, "messages.2.content.0.content"), "{\"temp_c\":14}",
	       "anthropic: tool_result content string");
	is_str(js(r, "messages.2.content.1.tool_use_id"), "toolu_01NRLabsLyVHZPKxbKvkfSMn",
	       "anthropic: tool_result 2 id");
	is_str(js(r, "messages.2.content.2.tool_use_id"), "call_C3", "anthropic: tool_result 3 id");
	is_str(js(r, "messages.2.content.2.content.0.text"), "12:00",
	       "anthropic: tool_result parts become text blocks");
	is_str(js(r, "messages.2.content.3.text"), "Also suggest clothing.",
	       "anthropic: following user text after results");
	is_str(js(r, "messages.2.content.4.text"), "Be brief.", "anthropic: consecutive user turns merged");
	is_int(jlen(r, "messages.3.content"), 2, "anthropic: consecutive assistant turns merged");
	is_str(js(r, "messages.3.content.1.text"), "Here goes.", "anthropic: assistant text parts");
	is_int(ji(r, "max_tokens"), 300, "anthropic: max_tokens from max_completion_tokens");
	ok(jd(r, "temperature") == 1.0, "anthropic: temperature clamped to 1");
	ok(jd(r, "top_p") > 0.89 && jd(r, "top_p") < 0.91, "anthropic: top_p kept");
	is_int(jlen(r, "stop_sequences"), 1, "anthropic: stop string becomes an array");
	is_str(js(r, "stop_sequences.0"), "END", "anthropic: stop_sequences value");
	is_str(js(r, "metadata.user_id"), "user-1234", "anthropic: user → metadata.user_id");
	ok(!jhas(r, "seed") && !jhas(r, "presence_penalty") && !jhas(r, "frequency_penalty") &&
	       !jhas(r, "user") && !jhas(r, "stop") && !jhas(r, "max_completion_tokens"),
	   "anthropic: OpenAI-only fields dropped");
	is_int(jlen(r, "tools"), 2, "anthropic: tools converted");
	is_str(js(r, "tools.0.name"), "get_weather", "anthropic: tool name");
	is_str(js(r, "tools.0.description"), "Get weather", "anthropic: tool description");
	is_str(js(r, "tools.0.input_schema.required.0"), "location",
	       "anthropic: input_schema from parameters");
	is_str(js(r, "tools.1.input_schema.type"), "object", "anthropic: default input_schema type");
	ok(json_object_is_type(jp(r, "tools.1.input_schema.properties"), json_type_object),
	   "anthropic: default input_schema properties");
	ok(!jhas(r, "tools.1.description"), "anthropic: no empty description");
	ok(!jhas(r, "tool_choice"), "anthropic: no tool_choice when none was asked");
	ok(!jhas(r, "thinking"), "anthropic: no thinking without reasoning_effort");
	json_object_put(r);
}

static json_object *anth(const char *canon, long dmax, char **err)
{
	return build(DIALECT_ANTHROPIC, canon, "claude", false, dmax, err);
}

#define ONE_TOOL "`tools`:[{`type`:`function`,`function`:{`name`:`f`,`parameters`:{`type`:`object`}}}]"

static void test_anthropic_egress_fields(void)
{
	char *err;
	json_object *r;

	r = anth("{`messages`:[{`role`:`user`,`content`:`hi`}],`max_tokens`:77}", 1024, &err);
	is_int(ji(r, "max_tokens"), 77, "anthropic: max_tokens from max_tokens");
	ok(!jhas(r, "system"), "anthropic: no system when there is none");
	ok(json_object_is_type(jp(r, "stream"), json_type_boolean) &&
	       !json_object_get_boolean(jp(r, "stream")),
	   "anthropic: stream false");
	json_object_put(r);
	r = anth("{`messages`:[{`role`:`user`,`content`:`hi`}]}", 2048, &err);
	is_int(ji(r, "max_tokens"), 2048, "anthropic: max_tokens from default_max_tokens");
	json_object_put(r);
	r = anth("{`messages`:[{`role`:`user`,`content`:`hi`}]}", 0, &err);
	is_int(ji(r, "max_tokens"), 4096, "anthropic: max_tokens 4096 when no default");
	json_object_put(r);
	r = anth("{`messages`:[{`role`:`user`,`content`:`hi`}],`temperature`:0.3,`stop`:[`a`,``,`b`]}", 0,
	         &err);
	ok(jd(r, "temperature") > 0.29 && jd(r, "temperature") < 0.31, "anthropic: temperature under 1 kept");
	is_int(jlen(r, "stop_sequences"), 2, "anthropic: stop array, empty strings dropped");
	is_str(js(r, "stop_sequences.1"), "b", "anthropic: stop array order");
	json_object_put(r);

	static const struct {
		const char *choice, *type, *name;
	} choices[] = {
	    {"`auto`", "auto", NULL},
	    {"`none`", "none", NULL},
	    {"`required`", "any", NULL},
	    {"{`type`:`function`,`function`:{`name`:`f`}}", "tool", "f"},
	    {"{`type`:`allowed_tools`,`allowed_tools`:{`mode`:`required`,`tools`:[]}}", "any", NULL},
	};
	for (size_t i = 0; i < sizeof choices / sizeof choices[0]; i++) {
		char *canon =
		    xasprintf("{`messages`:[{`role`:`user`,`content`:`hi`}]," ONE_TOOL ",`tool_choice`:%s}",
		              choices[i].choice);
		r = anth(canon, 0, &err);
		is_str(js(r, "tool_choice.type"), choices[i].type, "anthropic: tool_choice %s",
		       choices[i].choice);
		is_str(js(r, "tool_choice.name"), choices[i].name, "anthropic: tool_choice %s name",
		       choices[i].choice);
		json_object_put(r);
		free(canon);
	}
	r = anth("{`messages`:[{`role`:`user`,`content`:`hi`}]," ONE_TOOL ",`parallel_tool_calls`:false}", 0,
	         &err);
	is_str(js(r, "tool_choice.type"), "auto", "anthropic: parallel_tool_calls false implies auto");
	ok(json_object_get_boolean(jp(r, "tool_choice.disable_parallel_tool_use")),
	   "anthropic: parallel_tool_calls false → disable_parallel_tool_use");
	json_object_put(r);
	r = anth("{`messages`:[{`role`:`user`,`content`:`hi`}]," ONE_TOOL
	         ",`tool_choice`:`required`,`parallel_tool_calls`:false}",
	         0, &err);
	is_str(js(r, "tool_choice.type"), "any", "anthropic: required with parallel off");
	ok(json_object_get_boolean(jp(r, "tool_choice.disable_parallel_tool_use")),
	   "anthropic: disable_parallel_tool_use on any");
	json_object_put(r);
	r = anth("{`messages`:[{`role`:`user`,`content`:`hi`}],`tool_choice`:`auto`}", 0, &err);
	ok(r && !jhas(r, "tool_choice"), "anthropic: tool_choice without tools dropped");
	json_object_put(r);
	r = anth("{`messages`:[{`role`:`user`,`content`:`hi`}]," ONE_TOOL ",`tool_choice`:`sometimes`}", 0,
	         &err);
	ok(!r && err, "anthropic: unknown tool_choice is an error");
	free(err);

	/* reasoning effort */
	r = anth("{`messages`:[{`role`:`user`,`content`:`hi`}]," ONE_TOOL
	         ",`reasoning_effort`:`high`,`temperature`:0.5,`top_p`:0.5,`tool_choice`:`required`,`max_"
	         "tokens`:1000}",
	         0, &err);
	is_str(js(r, "thinking.type"), "enabled", "anthropic: reasoning_effort enables thinking");
	is_int(ji(r, "thinking.budget_tokens"), 16384, "anthropic: high → 16384");
	ok(ji(r, "max_tokens") > 16384, "anthropic: max_tokens raised above the budget (%lld)",
	   ji(r, "max_tokens"));
	ok(!jhas(r, "temperature") && !jhas(r, "top_p"), "anthropic: sampling dropped with thinking");
	is_str(js(r, "tool_choice.type"), "auto",
	       "anthropic: forced tool choice relaxed to auto with thinking");
	json_object_put(r);
	r = anth("{`messages`:[{`role`:`user`,`content`:`hi`}],`reasoning_effort`:`low`,`max_tokens`:8000}",
	         0, &err);
	is_int(ji(r, "thinking.budget_tokens"), 1024, "anthropic: low → 1024");
	is_int(ji(r, "max_tokens"), 8000, "anthropic: max_tokens above the budget kept");
	json_object_put(r);
	r = anth("{`messages`:[{`role`:`user`,`content`:`hi`}],`reasoning_effort`:`medium`}", 0, &err);
	is_int(ji(r, "thinking.budget_tokens"), 4096, "anthropic: medium → 4096");
	ok(ji(r, "max_tokens") > 4096, "anthropic: default max_tokens raised above medium budget");
	json_object_put(r);
	r = anth("{`messages`:[{`role`:`user`,`content`:`hi`}],`reasoning_effort`:`low`,`max_tokens`:0}", 0,
	         &err);
	ok(ji(r, "max_tokens") > 1024, "anthropic: max_tokens 0 with thinking still above the budget");
	json_object_put(r);
	r = anth("{`messages`:[{`role`:`user`,`content`:`hi`}],`reasoning_effort`:`none`}", 0, &err);
	ok(r && !jhas(r, "thinking"), "anthropic: reasoning_effort none → no thinking");
	json_object_put(r);
	r = anth("{`messages`:[{`role`:`user`,`content`:`hi`}],`reasoning_effort`:`turbo`}", 0, &err);
	ok(r && ji(r, "thinking.budget_tokens") >= 1024, "anthropic: unknown effort gets a default budget");
	json_object_put(r);

	/* response_format */
	r = anth("{`messages`:[{`role`:`system`,`content`:`Be nice.`},{`role`:`user`,`content`:`hi`}],"
	         "`response_format`:{`type`:`json_object`}}",
	         0, &err);
	ok(js(r, "system") && !strncmp(js(r, "system"), "Be nice.\n\n", 10) &&
	       strstr(js(r, "system"), "JSON"),
	   "anthropic: json_object instruction appended to system");
	json_object_put(r);
	r = anth(
	    "{`messages`:[{`role`:`user`,`content`:`hi`}],`response_format`:{`type`:`json_schema`,"
	    "`json_schema`:{`name`:`w`,`schema`:{`type`:`object`,`properties`:{`temp`:{`type`:`number`}}}}}}",
	    0, &err);
	ok(js(r, "system") && strstr(js(r, "system"), "\"temp\""),
	   "anthropic: json_schema instruction carries the schema");
	json_object_put(r);

	/* errors */
	r = anth("{`messages`:[{`role`:`user`,`content`:`hi`}],`n`:2}", 0, &err);
	ok(!r && err, "anthropic: n > 1 is an error");
	free(err);
	r = anth("{`messages`:[{`role`:`user`,`content`:`hi`}],`temperature`:`hot`}", 0, &err);
	ok(!r && err && strstr(err, "temperature"), "anthropic: non-numeric temperature is an error");
	free(err);
	r = anth("{`messages`:[{`role`:`user`,`content`:`hi`}],`max_tokens`:`lots`}", 0, &err);
	ok(!r && err && strstr(err, "max_tokens"), "anthropic: non-integer max_tokens is an error");
	free(err);
	r = anth("{`messages`:[{`role`:`system`,`content`:`only system`}]}", 0, &err);
	ok(!r && err, "anthropic: no user/assistant messages is an error");
	free(err);
	r = anth("{`messages`:[{`role`:`wizard`,`content`:`hi`}]}", 0, &err);
	ok(!r && err && strstr(err, "wizard"), "anthropic: unknown role is an error");
	free(err);
	r = anth("{`messages`:[{`role`:`tool`,`content`:`x`}]}", 0, &err);
	ok(!r && err && strstr(err, "tool_call_id"), "anthropic: tool message without id is an error");
	free(err);
	r = anth(
	    "{`messages`:[{`role`:`user`,`content`:`hi`}],`tools`:[{`type`:`custom`,`custom`:{`name`:`x`}}]}",
	    0, &err);
	ok(!r && err, "anthropic: non-function tools are an error");
	free(err);
}

static void test_anthropic_egress_media(void)
{
	char *err;
	json_object *r = anth(
	    "{`messages`:[{`role`:`user`,`content`:["
	    "{`type`:`text`,`text`:`What is in this image and this PDF?`},"
	    "{`type`:`image_url`,`image_url`:{`url`:`data:image/png;base64,iVBORw0KG`,`detail`:`auto`}},"
	    "{`type`:`image_url`,`image_url`:{`url`:`https://example.com/cat.jpg`}},"
	    "{`type`:`image_url`,`image_url`:{`url`:`data:image/jpg;base64,/9j/4AAQ`}},"
	    "{`type`:`file`,`file`:{`filename`:`a.pdf`,`file_data`:`data:application/pdf;base64,JVBERi0`}},"
	    "{`type`:`text`,`text`:``}]}]}",
	    0, &err);
	ok(r && !err, "anthropic: media message builds (%s)", err ? err : "");
	is_int(jlen(r, "messages.0.content"), 5, "anthropic: five blocks, empty text skipped");
	is_str(js(r, "messages.0.content.1.type"), "image", "anthropic: data URL → image");
	is_str(js(r, "messages.0.content.1.source.type"), "base64", "anthropic: base64 source");
	is_str(js(r, "messages.0.content.1.source.media_type"), "image/png", "anthropic: media_type");
	is_str(js(r, "messages.0.content.1.source.data"), "iVBORw0KG", "anthropic: base64 data");
	is_str(js(r, "messages.0.content.2.source.type"), "url", "anthropic: http URL → url source");
	is_str(js(r, "messages.0.content.2.source.url"), "https://example.com/cat.jpg",
	       "anthropic: url kept");
	is_str(js(r, "messages.0.content.3.source.media_type"), "image/jpeg",
	       "anthropic: image/jpg normalised");
	is_str(js(r, "messages.0.content.4.type"), "document", "anthropic: PDF → document");
	is_str(js(r, "messages.0.content.4.source.media_type"), "application/pdf",
	       "anthropic: document media_type");
	is_str(js(r, "messages.0.content.4.source.data"), "JVBERi0", "anthropic: document data");
	is_str(js(r, "messages.0.content.4.title"), "a.pdf", "anthropic: document title");
	json_object_put(r);

	r = anth(
	    "{`messages`:[{`role`:`user`,`content`:[{`type`:`input_audio`,`input_audio`:{`data`:`UklGRi`,"
	    "`format`:`wav`}}]}]}",
	    0, &err);
	ok(!r && err && strstr(err, "audio"), "anthropic: input_audio is an error (%s)", err ? err : "");
	free(err);
	r = anth("{`messages`:[{`role`:`user`,`content`:[{`type`:`image_url`,`image_url`:{`url`:`ftp://x/"
	         "y.png`}}]}]}",
	         0, &err);
	ok(!r && err, "anthropic: ftp image URL is an error");
	free(err);
	r = anth("{`messages`:[{`role`:`user`,`content`:[{`type`:`file`,`file`:{`file_id`:`file-abc`}}]}]}",
	         0, &err);
	ok(!r && err && strstr(err, "file_id"), "anthropic: file_id is an error");
	free(err);
	r = anth("{`messages`:[{`role`:`user`,`content`:[{`type`:`file`,`file`:{`file_data`:"
	         "`data:text/csv;base64,YSxi`}}]}]}",
	         0, &err);
	ok(!r && err, "anthropic: non-PDF file is an error");
	free(err);
	r = anth("{`messages`:[{`role`:`user`,`content`:[{`type`:`video`}]}]}", 0, &err);
	ok(!r && err && strstr(err, "video"), "anthropic: unknown part type is an error");
	free(err);
	r = anth("{`messages`:[{`role`:`user`,`content`:42}]}", 0, &err);
	ok(!r && err, "anthropic: numeric content is an error");
	free(err);
}

/* ---------- Gemini egress ---------- */

static void test_gemini_egress_conversation(void)
{
	char *err;
	json_object *r = build(DIALECT_GEMINI, TOOL_CONVERSATION, "gemini-2.5-flash", true, 0, &err);
	ok(r && !err, "gemini: tool conversation builds (%s)", err ? err : "");
	if (!r) {
		free(err);
		return;
	}
	ok(!jhas(r, "model") && !jhas(r, "stream"), "gemini: model and stream stay out of the body");
	is_str(js(r, "systemInstruction.parts.0.text"), "You are terse.\nUse metric.",
	       "gemini: systemInstruction");
	is_int(jlen(r, "contents"), 4, "gemini: four contents after merging");
	is_str(js(r, "contents.0.role"), "user", "gemini: user role");
	is_str(js(r, "contents.0.parts.0.text"), "Weather in Paris, Rome and Oslo?", "gemini: user text");
	is_str(js(r, "contents.1.role"), "model", "gemini: assistant → model");
	is_int(jlen(r, "contents.1.parts"), 3, "gemini: three functionCall parts, no empty text");
	is_str(js(r, "contents.1.parts.0.functionCall.name"), "get_weather", "gemini: functionCall name");
	is_str(js(r, "contents.1.parts.0.functionCall.args.location"), "Paris",
	       "gemini: functionCall args parsed");
	is_str(js(r, "contents.1.parts.1.functionCall.args.location"), "Rome", "gemini: second call args");
	ok(json_object_is_type(jp(r, "contents.1.parts.2.functionCall.args"), json_type_object) &&
	       jlen(r, "contents.1.parts.2.functionCall.args") == 0,
	   "gemini: invalid arguments become {}");
	is_str(js(r, "contents.2.role"), "user", "gemini: tool results in a user content");
	is_int(jlen(r, "contents.2.parts"), 5,
	       "gemini: three functionResponses plus two user texts in one content");
	is_str(js(r, "contents.2.parts.0.functionResponse.name"), "get_weather",
	       "gemini: name looked up by id");
	is_int(ji(r, "contents.2.parts.0.functionResponse.response.temp_c"), 14,
	       "gemini: JSON object response kept");
	is_str(js(r, "contents.2.parts.1.functionResponse.name"), "get_weather",
	       "gemini: second name looked up");
	is_str(js(r, "contents.2.parts.1.functionResponse.response.output"), "sunny, 22C",
	       "gemini: text wrapped in output");
	is_str(js(r, "contents.2.parts.2.functionResponse.name"), "get_time", "gemini: third name looked up");
	is_str(js(r, "contents.2.parts.2.functionResponse.response.output"), "12:00",
	       "gemini: text parts joined");
	is_str(js(r, "contents.2.parts.3.text"), "Also suggest clothing.",
	       "gemini: user text after responses");
	is_str(js(r, "contents.3.role"), "model", "gemini: final model content");
	is_int(jlen(r, "contents.3.parts"), 2, "gemini: consecutive assistant turns merged");
	ok(jd(r, "generationConfig.temperature") > 1.69 && jd(r, "generationConfig.temperature") < 1.71,
	   "gemini: temperature not clamped");
	ok(jd(r, "generationConfig.topP") > 0.89, "gemini: topP");
	is_int(ji(r, "generationConfig.maxOutputTokens"), 300, "gemini: maxOutputTokens");
	is_str(js(r, "generationConfig.stopSequences.0"), "END", "gemini: stopSequences");
	is_int(ji(r, "generationConfig.seed"), 7, "gemini: seed");
	ok(jd(r, "generationConfig.presencePenalty") == 0.5, "gemini: presencePenalty");
	ok(jd(r, "generationConfig.frequencyPenalty") == 0.25, "gemini: frequencyPenalty");
	is_int(jlen(r, "tools.0.functionDeclarations"), 2, "gemini: functionDeclarations");
	is_str(js(r, "tools.0.functionDeclarations.0.name"), "get_weather", "gemini: declaration name");
	is_str(js(r, "tools.0.functionDeclarations.0.description"), "Get weather",
	       "gemini: declaration description");
	is_str(js(r, "tools.0.functionDeclarations.0.parametersJsonSchema.properties.location.type"),
	       "string", "gemini: parametersJsonSchema");
	ok(!jhas(r, "tools.0.functionDeclarations.0.parametersJsonSchema.$schema"),
	   "gemini: $schema stripped");
	ok(!jhas(r, "tools.0.functionDeclarations.1.parametersJsonSchema"),
	   "gemini: no schema without parameters");
	ok(!jhas(r, "toolConfig"), "gemini: no toolConfig without tool_choice");
	json_object_put(r);
}

static json_object *gem(const char *canon, char **err)
{
	return build(DIALECT_GEMINI, canon, "gemini-2.5-flash", false, 0, err);
}

static void test_gemini_egress_fields(void)
{
	char *err;
	json_object *r;
	static const struct {
		const char *choice, *mode, *name;
	} choices[] = {
	    {"`auto`", "AUTO", NULL},
	    {"`none`", "NONE", NULL},
	    {"`required`", "ANY", NULL},
	    {"{`type`:`function`,`function`:{`name`:`f`}}", "ANY", "f"},
	    {"{`type`:`allowed_tools`,`allowed_tools`:{`mode`:`auto`,`tools`:[{`type`:`function`,`function`:{"
	     "`name`:`f`}}]}}",
	     "AUTO", "f"},
	};
	for (size_t i = 0; i < sizeof choices / sizeof choices[0]; i++) {
		char *canon =
		    xasprintf("{`messages`:[{`role`:`user`,`content`:`hi`}]," ONE_TOOL ",`tool_choice`:%s}",
		              choices[i].choice);
		r = gem(canon, &err);
		is_str(js(r, "toolConfig.functionCallingConfig.mode"), choices[i].mode,
		       "gemini: tool_choice %s", choices[i].choice);
		is_str(js(r, "toolConfig.functionCallingConfig.allowedFunctionNames.0"), choices[i].name,
		       "gemini: tool_choice %s names", choices[i].choice);
		json_object_put(r);
		free(canon);
	}

	r = gem("{`messages`:[{`role`:`user`,`content`:`hi`}],`n`:2,`max_tokens`:50,`stop`:[`x`,`y`],"
	        "`response_format`:{`type`:`json_schema`,`json_schema`:{`name`:`w`,`schema`:{`$schema`:`s`,"
	        "`type`:`object`,`properties`:{`a`:{`type`:`string`}}}}},`reasoning_effort`:`low`}",
	        &err);
	is_int(ji(r, "generationConfig.candidateCount"), 2, "gemini: n → candidateCount");
	is_int(ji(r, "generationConfig.maxOutputTokens"), 50, "gemini: max_tokens → maxOutputTokens");
	is_int(jlen(r, "generationConfig.stopSequences"), 2, "gemini: stop array");
	is_str(js(r, "generationConfig.responseMimeType"), "application/json",
	       "gemini: json_schema → mime type");
	is_str(js(r, "generationConfig.responseJsonSchema.properties.a.type"), "string",
	       "gemini: responseJsonSchema");
	ok(!jhas(r, "generationConfig.responseJsonSchema.$schema"),
	   "gemini: $schema stripped from response schema");
	is_int(ji(r, "generationConfig.thinkingConfig.thinkingBudget"), 1024,
	       "gemini: low → thinkingBudget 1024");
	ok(json_object_get_boolean(jp(r, "generationConfig.thinkingConfig.includeThoughts")),
	   "gemini: includeThoughts with reasoning");
	json_object_put(r);

	r = gem("{`messages`:[{`role`:`user`,`content`:`hi`}],`response_format`:{`type`:`json_object`},"
	        "`reasoning_effort`:`none`}",
	        &err);
	is_str(js(r, "generationConfig.responseMimeType"), "application/json",
	       "gemini: json_object → mime type");
	ok(!jhas(r, "generationConfig.responseJsonSchema"), "gemini: no schema for json_object");
	is_int(ji(r, "generationConfig.thinkingConfig.thinkingBudget"), 0, "gemini: none → budget 0");
	ok(!jhas(r, "generationConfig.thinkingConfig.includeThoughts"), "gemini: no thoughts when disabled");
	json_object_put(r);

	r = gem("{`messages`:[{`role`:`user`,`content`:`hi`}]}", &err);
	ok(r && !jhas(r, "generationConfig") && !jhas(r, "systemInstruction") && !jhas(r, "tools"),
	   "gemini: minimal request has only contents");
	json_object_put(r);

	r = gem(
	    "{`messages`:[{`role`:`user`,`content`:["
	    "{`type`:`text`,`text`:`look`},"
	    "{`type`:`image_url`,`image_url`:{`url`:`data:image/png;base64,iVBORw0KG`}},"
	    "{`type`:`image_url`,`image_url`:{`url`:`https://example.com/a/cat.webp?x=1`}},"
	    "{`type`:`image_url`,`image_url`:{`url`:`https://example.com/noext`}},"
	    "{`type`:`file`,`file`:{`filename`:`a.pdf`,`file_data`:`data:application/pdf;base64,JVBERi0`}},"
	    "{`type`:`input_audio`,`input_audio`:{`data`:`SUQz`,`format`:`mp3`}}]}]}",
	    &err);
	ok(r && !err, "gemini: media builds (%s)", err ? err : "");
	is_str(js(r, "contents.0.parts.1.inlineData.mimeType"), "image/png",
	       "gemini: data URL → inlineData mime");
	is_str(js(r, "contents.0.parts.1.inlineData.data"), "iVBORw0KG", "gemini: inlineData data");
	is_str(js(r, "contents.0.parts.2.fileData.fileUri"), "https://example.com/a/cat.webp?x=1",
	       "gemini: http → fileData");
	is_str(js(r, "contents.0.parts.2.fileData.mimeType"), "image/webp",
	       "gemini: mime guessed from extension");
	is_str(js(r, "contents.0.parts.3.fileData.mimeType"), "image/jpeg", "gemini: default guessed mime");
	is_str(js(r, "contents.0.parts.4.inlineData.mimeType"), "application/pdf", "gemini: PDF inlineData");
	is_str(js(r, "contents.0.parts.4.inlineData.data"), "JVBERi0", "gemini: PDF data");
	is_str(js(r, "contents.0.parts.5.inlineData.mimeType"), "audio/mp3", "gemini: audio inlineData");
	json_object_put(r);

	/* thought signatures ride on tool calls through the canonical form */
	r = gem(
	    "{`messages`:[{`role`:`user`,`content`:`hi`},{`role`:`assistant`,`content`:null,`tool_calls`:["
	    "{`id`:`call_1`,`type`:`function`,`function`:{`name`:`f`,`arguments`:`{}`},"
	    "`extra_content`:{`google`:{`thought_signature`:`CrICAdHt`}}}]},"
	    "{`role`:`tool`,`tool_call_id`:`call_1`,`content`:`[1,2]`}]}",
	    &err);
	is_str(js(r, "contents.1.parts.0.thoughtSignature"), "CrICAdHt", "gemini: thoughtSignature replayed");
	is_str(js(r, "contents.2.parts.0.functionResponse.response.output"), "[1,2]",
	       "gemini: non-object JSON result wrapped in output");
	json_object_put(r);

	r = gem("{`messages`:[{`role`:`user`,`content`:`hi`},{`role`:`tool`,`tool_call_id`:`nope`,`content`:`"
	        "x`}]}",
	        &err);
	ok(!r && err && strstr(err, "nope"), "gemini: tool result for an unknown id is an error");
	free(err);
	r = gem("{`messages`:[{`role`:`user`,`content`:`hi`},{`role`:`tool`,`tool_call_id`:`nope`,`name`:`f`,"
	        "`content`:`x`}]}",
	        &err);
	is_str(js(r, "contents.0.parts.1.functionResponse.name"), "f",
	       "gemini: tool message name as a fallback");
	json_object_put(r);
	r = gem("{`messages`:[{`role`:`user`,`content`:`hi`}],`seed`:1.5}", &err);
	ok(!r && err && strstr(err, "seed"), "gemini: non-integer seed is an error");
	free(err);
	r = gem("{`messages`:[{`role`:`user`,`content`:`hi`}],`top_p`:[1]}", &err);
	ok(!r && err, "gemini: non-numeric top_p is an error");
	free(err);
	r = gem("{`messages`:[]}", &err);
	ok(!r && err, "gemini: empty messages is an error");
	free(err);
}

/* ---------- OpenAI decoder ---------- */

/* clang-format off */
static const char OPENAI_TEXT_STREAM[] =
	"data: {`id`:`chatcmpl-123`,`object`:`chat.completion.chunk`,`created`:1694268190,`model`:`gpt-4o-mini`,`system_fingerprint`:`fp_44709d6fcb`,`choices`:[{`index`:0,`delta`:{`role`:`assistant`,`content`:``},`logprobs`:null,`finish_reason`:null}]}\n"
	"\n"
	"data: {`id`:`chatcmpl-123`,`object`:`chat.completion.chunk`,`created`:1694268190,`model`:`gpt-4o-mini`,`system_fingerprint`:`fp_44709d6fcb`,`choices`:[{`index`:0,`delta`:{`content`:`Hello`},`logprobs`:null,`finish_reason`:null}]}\n"
	"\n"
	"data: {`id`:`chatcmpl-123`,`object`:`chat.completion.chunk`,`created`:1694268190,`model`:`gpt-4o-mini`,`system_fingerprint`:`fp_44709d6fcb`,`choices`:[{`index`:0,`delta`:{},`logprobs`:null,`finish_reason`:`stop`}]}\n"
	"\n"
	"data: {`id`:`chatcmpl-123`,`object`:`chat.completion.chunk`,`created`:1694268190,`model`:`gpt-4o-mini`,`system_fingerprint`:`fp_44709d6fcb`,`choices`:[],`usage`:{`prompt_tokens`:9,`completion_tokens`:2,`total_tokens`:11}}\n"
	"\n"
	"data: [DONE]\n"
	"\n";
/* clang-format on */

/* clang-format off */
static const char OPENAI_TOOL_STREAM[] =
	"data: {`id`:`chatcmpl-1`,`object`:`chat.completion.chunk`,`created`:1,`model`:`m`,`choices`:[{`index`:0,`delta`:{`role`:`assistant`,`content`:null},`finish_reason`:null}]}\n"
	"\n"
	"data: {`id`:`chatcmpl-1`,`object`:`chat.completion.chunk`,`created`:1,`model`:`m`,`choices`:[{`index`:0,`delta`:{`tool_calls`:[{`index`:0,`id`:`call_PieqNSej`,`type`:`function`,`function`:{`name`:`get_weather`,`arguments`:``}}]},`finish_reason`:null}]}\n"
	"\n"
	"data: {`id`:`chatcmpl-1`,`object`:`chat.completion.chunk`,`created`:1,`model`:`m`,`choices`:[{`index`:0,`delta`:{`tool_calls`:[{`index`:0,`function`:{`arguments`:`{\\`loc`}}]},`finish_reason`:null}]}\n"
	"\n"
	"data: {`id`:`chatcmpl-1`,`object`:`chat.completion.chunk`,`created`:1,`model`:`m`,`choices`:[{`index`:0,`delta`:{`tool_calls`:[{`index`:0,`function`:{`arguments`:`ation\\`:\\`Paris\\`}`}}]},`finish_reason`:null}]}\n"
	"\n"
	"data: {`id`:`chatcmpl-1`,`object`:`chat.completion.chunk`,`created`:1,`model`:`m`,`choices`:[{`index`:0,`delta`:{},`finish_reason`:`tool_calls`}]}\n"
	"\n"
	"data: [DONE]\n"
	"\n";
/* clang-format on */

/* Azure's filter chunk first, Groq-style reasoning, DeepSeek-style
 * reasoning_content, obfuscation padding, two parallel calls, usage on the
 * finish chunk and again (cumulative) on a later one. */
/* clang-format off */
static const char OPENAI_QUIRKS_STREAM[] =
	"data: {`id`:``,`object`:``,`created`:0,`model`:``,`choices`:[],`prompt_filter_results`:[{`prompt_index`:0,`content_filter_results`:{}}]}\n"
	"\n"
	": OPENROUTER PROCESSING\n"
	"\n"
	"data: {`id`:`gen-9`,`created`:1700000000,`model`:`qwen3`,`choices`:[{`index`:0,`delta`:{`role`:`assistant`,`reasoning`:`Let me `},`finish_reason`:null}],`obfuscation`:`abc`}\n"
	"\n"
	"data: {`id`:`gen-9`,`created`:1700000000,`model`:`qwen3`,`choices`:[{`index`:0,`delta`:{`reasoning_content`:`think.`,`content_filter_results`:{}},`finish_reason`:null}],`usage`:null}\n"
	"\n"
	"data: {`id`:`gen-9`,`created`:1700000000,`model`:`qwen3`,`choices`:[{`index`:0,`delta`:{`role`:`assistant`,`content`:`Two calls.`,`obfuscation`:`xyz`},`finish_reason`:null}]}\n"
	"\n"
	"data: {`id`:`gen-9`,`created`:1700000000,`model`:`qwen3`,`choices`:[{`index`:0,`delta`:{`tool_calls`:[{`index`:0,`id`:`call_a`,`type`:`function`,`function`:{`name`:`f`,`arguments`:`{\\`x\\``}},{`index`:1,`id`:`call_b`,`type`:`function`,`function`:{`name`:`g`,`arguments`:``}}]},`finish_reason`:null}]}\n"
	"\n"
	"data: {`id`:`gen-9`,`created`:1700000000,`model`:`qwen3`,`choices`:[{`index`:0,`delta`:{`tool_calls`:[{`index`:1,`function`:{`arguments`:`{}`}},{`index`:0,`function`:{`arguments`:`:1}`}}]},`finish_reason`:null}]}\n"
	"\n"
	"data: {`id`:`gen-9`,`created`:1700000000,`model`:`qwen3`,`choices`:[{`index`:0,`delta`:{},`finish_reason`:`tool_calls`}],`usage`:{`prompt_tokens`:5,`completion_tokens`:1,`total_tokens`:6}}\n"
	"\n"
	"data: {`id`:`gen-9`,`created`:1700000000,`model`:`qwen3`,`choices`:[],`x_groq`:{`id`:`req_1`,`usage`:{`prompt_tokens`:20,`completion_tokens`:30,`total_tokens`:50,`prompt_tokens_details`:{`cached_tokens`:4},`completion_tokens_details`:{`reasoning_tokens`:12},`queue_time`:0.01}}}\n"
	"\n"
	"data: [DONE]\n"
	"\n";
/* clang-format on */

static void test_openai_decoder(void)
{
	struct run r;
	struct summary s;

	run_sse(DIALECT_OPENAI, OPENAI_TEXT_STREAM, false, &r);
	summarize(r.chunks, &s);
	is_int(r.rc_events, STREAM_DONE, "openai §1.6: [DONE] → STREAM_DONE");
	is_str(buf_str(&s.content), "Hello", "openai §1.6: text");
	is_int(s.roles, 1, "openai §1.6: role once");
	ok(s.role_first, "openai §1.6: first chunk carries the role");
	is_str(s.finish, "stop", "openai §1.6: finish stop");
	is_int(s.finishes, 1, "openai §1.6: one finish");
	is_int(s.usage_chunks, 1, "openai §1.6: one usage chunk");
	ok(s.usage_last, "openai §1.6: usage chunk last");
	is_int(ji(s.usage, "prompt_tokens"), 9, "openai §1.6: prompt_tokens");
	is_int(ji(s.usage, "completion_tokens"), 2, "openai §1.6: completion_tokens");
	is_int(ji(s.usage, "total_tokens"), 11, "openai §1.6: total_tokens");
	is_int(ji(s.usage, "prompt_tokens_details.cached_tokens"), 0, "openai §1.6: cached_tokens filled in");
	ok(s.same_id && s.id && !strcmp(s.id, "chatcmpl-123"), "openai §1.6: upstream id on every chunk");
	is_int(ji(json_object_array_get_idx(r.chunks, 0), "created"), 1694268190,
	       "openai §1.6: upstream created");
	is_str(s.model, "gpt-4o-mini", "openai §1.6: upstream model");
	is_int(r.shape_bad, 0, "openai §1.6: canonical shape");
	ok(!strstr(dump(r.chunks), "system_fingerprint"), "openai §1.6: chunk reduced to canonical fields");
	summary_free(&s);
	run_free(&r);

	run_sse(DIALECT_OPENAI, OPENAI_TOOL_STREAM, false, &r);
	summarize(r.chunks, &s);
	is_int(r.rc_events, STREAM_DONE, "openai tools: STREAM_DONE");
	is_int(s.ntools, 1, "openai tools: one call");
	is_str(s.tools[0].id, "call_PieqNSej", "openai tools: id");
	is_int(s.tools[0].ids, 1, "openai tools: id on the first delta only");
	is_str(s.tools[0].name, "get_weather", "openai tools: name");
	is_str(buf_str(&s.tools[0].args), "{\"location\":\"Paris\"}", "openai tools: arguments concatenated");
	is_str(s.finish, "tool_calls", "openai tools: finish tool_calls");
	is_int(s.usage_chunks, 0, "openai tools: no usage chunk when none reported");
	is_int(r.shape_bad, 0, "openai tools: canonical shape");
	summary_free(&s);
	run_free(&r);

	run_sse(DIALECT_OPENAI, OPENAI_QUIRKS_STREAM, false, &r);
	summarize(r.chunks, &s);
	is_int(r.rc_events, STREAM_DONE, "openai quirks: STREAM_DONE");
	is_str(buf_str(&s.reasoning), "Let me think.",
	       "openai quirks: reasoning and reasoning_content → reasoning_content");
	is_str(buf_str(&s.content), "Two calls.", "openai quirks: content");
	is_int(s.roles, 1, "openai quirks: repeated role dropped");
	ok(s.role_first, "openai quirks: Azure's empty first chunk skipped");
	ok(!strstr(dump(r.chunks), "obfuscation") && !strstr(dump(r.chunks), "filter"),
	   "openai quirks: obfuscation and filter results dropped");
	is_int(s.ntools, 2, "openai quirks: two parallel calls");
	ok(s.ordered_tools, "openai quirks: tool indices in order");
	is_str(s.tools[0].id, "call_a", "openai quirks: first call id");
	is_str(buf_str(&s.tools[0].args), "{\"x\":1}", "openai quirks: first call arguments");
	is_str(s.tools[1].name, "g", "openai quirks: second call name");
	is_str(buf_str(&s.tools[1].args), "{}", "openai quirks: second call arguments");
	is_str(s.finish, "tool_calls", "openai quirks: finish");
	is_int(s.usage_chunks, 1, "openai quirks: usage emitted once");
	ok(s.usage_last, "openai quirks: usage after the finish even when it rode on the finish chunk");
	is_int(ji(s.usage, "total_tokens"), 50,
	       "openai quirks: last usage wins (x_groq.usage), never summed");
	is_int(ji(s.usage, "prompt_tokens_details.cached_tokens"), 4, "openai quirks: cached tokens");
	is_int(ji(s.usage, "completion_tokens_details.reasoning_tokens"), 12,
	       "openai quirks: reasoning tokens");
	ok(s.same_id && s.id && !strcmp(s.id, "gen-9"), "openai quirks: id from the first real chunk");
	is_int(r.shape_bad, 0, "openai quirks: canonical shape");
	summary_free(&s);
	run_free(&r);

	/* Mistral's model_length, a provider with no id at all, and no [DONE] */
	run_sse(DIALECT_OPENAI,
	        "data: {`choices`:[{`delta`:{`content`:`a`}}]}\n\n"
	        "data: "
	        "{`choices`:[{`delta`:{`content`:`b`},`finish_reason`:`model_length`}],`usage`:{`prompt_"
	        "tokens`:3,`completion_tokens`:2}}\n\n",
	        true, &r);
	summarize(r.chunks, &s);
	is_str(s.finish, "length", "openai: model_length → length");
	ok(s.id && !strncmp(s.id, "chatcmpl-", 9) && strlen(s.id) > 12 && s.same_id,
	   "openai: minted chatcmpl- id (%s)", s.id ? s.id : "");
	is_str(s.model, "req-model", "openai: caller's model when upstream names none");
	is_int(r.rc_finish, STREAM_ERROR, "openai: end without [DONE] → STREAM_ERROR");
	ok(r.error && strstr(r.error, "DONE"), "openai: cut stream message (%s)", r.error ? r.error : "");
	summary_free(&s);
	run_free(&r);

	/* a refusal is shown as content; a repeated empty content is no chunk */
	run_sse(DIALECT_OPENAI,
	        "data: {`choices`:[{`delta`:{`role`:`assistant`,`content`:``}}]}\n\n"
	        "data: {`choices`:[{`delta`:{`content`:``}}]}\n\n"
	        "data: {`choices`:[{`delta`:{`refusal`:`I can't help with that.`}}]}\n\n"
	        "data: {`choices`:[{`delta`:{},`finish_reason`:`content_filter`}]}\n\ndata: [DONE]\n\n",
	        false, &r);
	summarize(r.chunks, &s);
	is_str(buf_str(&s.content), "I can't help with that.", "openai: refusal delta → content");
	is_int(json_object_array_length(r.chunks), 3,
	       "openai: empty content after the role chunk emits nothing");
	is_str(s.finish, "content_filter", "openai: content_filter kept");
	summary_free(&s);
	run_free(&r);

	/* [DONE] without any finish reason still closes the answer */
	run_sse(DIALECT_OPENAI,
	        "data: {`id`:`x`,`choices`:[{`index`:0,`delta`:{`content`:`hi`}}]}\n\ndata: [DONE]\n\n", true,
	        &r);
	summarize(r.chunks, &s);
	is_str(s.finish, "stop", "openai: finish synthesised at [DONE]");
	is_int(r.rc_finish, STREAM_DONE, "openai: finish after [DONE] → STREAM_DONE");
	summary_free(&s);
	run_free(&r);

	/* tool calls without ids, all at index 0 with distinct ids */
	run_sse(
	    DIALECT_OPENAI,
	    "data: {`choices`:[{`delta`:{`tool_calls`:[{`function`:{`name`:`f`,`arguments`:{`a`:1}}}]}}]}\n\n"
	    "data: "
	    "{`choices`:[{`delta`:{`tool_calls`:[{`index`:1,`id`:`c1`,`function`:{`name`:`g`,`arguments`:`{}`"
	    "}}]}}]}\n\n"
	    "data: "
	    "{`choices`:[{`delta`:{`tool_calls`:[{`index`:1,`id`:`c2`,`function`:{`name`:`h`,`arguments`:`{}`"
	    "}}]}}]}\n\n"
	    "data: "
	    "{`choices`:[{`delta`:{`tool_calls`:[{`index`:1,`id`:`c2`,`function`:{`name`:`h`,`arguments`:`  "
	    "`}}]},`finish_reason`:`tool_calls`}]}\n\n"
	    "data: [DONE]\n\n",
	    false, &r);
	summarize(r.chunks, &s);
	is_int(s.ntools, 3, "openai: distinct ids at one index become separate calls");
	ok(s.tools[0].id && !strncmp(s.tools[0].id, "call_", 5), "openai: id minted for a call without one");
	is_str(buf_str(&s.tools[0].args), "{\"a\":1}", "openai: object arguments serialised");
	is_str(s.tools[2].id, "c2", "openai: third call id");
	is_int(s.tools[2].ids, 1, "openai: repeated id dropped");
	is_str(buf_str(&s.tools[2].args), "{}  ", "openai: fragments of a repeated id appended");
	is_int(r.shape_bad, 0, "openai: canonical shape with odd tool calls");
	summary_free(&s);
	run_free(&r);

	/* in-stream errors */
	run_sse(DIALECT_OPENAI,
	        "data: {`id`:`x`,`choices`:[{`index`:0,`delta`:{`content`:`par`}}]}\n\n"
	        "data: {`error`:{`message`:`Rate limit reached\\nfor "
	        "requests`,`type`:`rate_limit_error`,`param`:null,`code`:`rate_limit_exceeded`}}\n\n"
	        "data: [DONE]\n\n",
	        true, &r);
	is_int(r.rc_events, STREAM_ERROR, "openai: error event → STREAM_ERROR");
	is_str(r.error, "rate_limit_error: Rate limit reached for requests",
	       "openai: error message one line");
	is_int(r.status, 429, "openai: rate limit → 429");
	is_int(r.rc_finish, STREAM_ERROR, "openai: finish after an error stays an error");
	run_free(&r);
	run_sse(DIALECT_OPENAI,
	        "data: {`error`:{`code`:502,`message`:`Provider returned error`,`metadata`:{}}}\n\n", false,
	        &r);
	is_int(r.status, 502, "openai: OpenRouter numeric code → status");
	is_str(r.error, "Provider returned error", "openai: OpenRouter message");
	run_free(&r);
	run_sse(DIALECT_OPENAI, "data: {`choices`:[],`x_groq`:{`error`:`stream stopped: over capacity`}}\n\n",
	        false, &r);
	is_int(r.rc_events, STREAM_ERROR, "openai: x_groq.error → STREAM_ERROR");
	run_free(&r);
	run_sse(DIALECT_OPENAI, "data: {`choices`:[{`delta`:{},`finish_reason`:`error`}]}\n\n", false, &r);
	is_int(r.rc_events, STREAM_ERROR, "openai: Mistral finish_reason error → STREAM_ERROR");
	run_free(&r);
	run_sse(DIALECT_OPENAI, "data: {not json\n\n", false, &r);
	is_int(r.rc_events, STREAM_ERROR, "openai: unreadable event → STREAM_ERROR");
	is_int(r.status, 502, "openai: unreadable event → 502");
	run_free(&r);
	run_sse(DIALECT_OPENAI, "data: [1,2]\n\n", false, &r);
	is_int(r.rc_events, STREAM_ERROR, "openai: non-object event → STREAM_ERROR");
	run_free(&r);

	/* callback stop and events after DONE */
	run_init(&r);
	r.stop_at = 2;
	struct evlist l = {0};
	parse_sse(OPENAI_TEXT_STREAM, &l);
	run_events(DIALECT_OPENAI, &l, false, &r);
	is_int(r.rc_events, 42, "openai: callback's non-zero return passed back");
	run_free(&r);
	run_init(&r);
	struct stream_decoder *sd = stream_decoder_new(DIALECT_OPENAI, "m", run_cb, &r);
	for (size_t i = 0; i < l.n; i++)
		stream_decoder_event(sd, NULL, l.v[i].data, strlen(l.v[i].data));
	size_t before = json_object_array_length(r.chunks);
	is_int(stream_decoder_event(sd, NULL, l.v[1].data, strlen(l.v[1].data)), STREAM_DONE,
	       "openai: events after DONE return STREAM_DONE");
	is_int(json_object_array_length(r.chunks), before, "openai: events after DONE emit nothing");
	is_int(stream_decoder_finish(sd), STREAM_DONE, "openai: finish after DONE → STREAM_DONE");
	ok(stream_decoder_error(sd) == NULL && stream_decoder_error_status(sd) == 0,
	   "openai: no error after DONE");
	is_int(stream_decoder_event(sd, NULL, NULL, 5), STREAM_DONE, "openai: NULL data tolerated");
	stream_decoder_free(sd);
	evlist_free(&l);
	run_free(&r);
	stream_decoder_free(NULL);
}

/* ---------- Anthropic decoder ---------- */

/* clang-format off */
static const char ANTHROPIC_FIXTURE[] =
	"event: message_start\n"
	"data: {`type`:`message_start`,`message`:{`id`:`msg_019Q1hrJbZG26Fb9BQhrkHEr`,`type`:`message`,`role`:`assistant`,`model`:`claude-sonnet-4-20250514`,`content`:[],`stop_reason`:null,`stop_sequence`:null,`usage`:{`input_tokens`:377,`cache_creation_input_tokens`:0,`cache_read_input_tokens`:0,`output_tokens`:1,`service_tier`:`standard`}}}\n"
	"\n"
	"event: content_block_start\n"
	"data: {`type`:`content_block_start`,`index`:0,`content_block`:{`type`:`text`,`text`:``}}\n"
	"\n"
	"event: ping\n"
	"data: {`type`: `ping`}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {`type`:`content_block_delta`,`index`:0,`delta`:{`type`:`text_delta`,`text`:`I`}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {`type`:`content_block_delta`,`index`:0,`delta`:{`type`:`text_delta`,`text`:`'ll check the current weather in Paris for you.`}}\n"
	"\n"
	"event: content_block_stop\n"
	"data: {`type`:`content_block_stop`,`index`:0}\n"
	"\n"
	"event: content_block_start\n"
	"data: {`type`:`content_block_start`,`index`:1,`content_block`:{`type`:`tool_use`,`id`:`toolu_01NRLabsLyVHZPKxbKvkfSMn`,`name`:`get_weather`,`caller`:{`type`:`direct`},`input`:{}}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {`type`:`content_block_delta`,`index`:1,`delta`:{`type`:`input_json_delta`,`partial_json`:``}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {`type`:`content_block_delta`,`index`:1,`delta`:{`type`:`input_json_delta`,`partial_json`:`{\\`locati`}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {`type`:`content_block_delta`,`index`:1,`delta`:{`type`:`input_json_delta`,`partial_json`:`on\\`: \\`P`}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {`type`:`content_block_delta`,`index`:1,`delta`:{`type`:`input_json_delta`,`partial_json`:`ar`}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {`type`:`content_block_delta`,`index`:1,`delta`:{`type`:`input_json_delta`,`partial_json`:`is\\`}`}}\n"
	"\n"
	"event: content_block_stop\n"
	"data: {`type`:`content_block_stop`,`index`:1}\n"
	"\n"
	"event: message_delta\n"
	"data: {`type`:`message_delta`,`delta`:{`stop_reason`:`tool_use`,`stop_sequence`:null},`usage`:{`output_tokens`:65}}\n"
	"\n"
	"event: message_stop\n"
	"data: {`type`:`message_stop`}\n"
	"\n";
/* clang-format on */

/* clang-format off */
static const char ANTHROPIC_THINKING[] =
	"event: message_start\n"
	"data: {`type`:`message_start`,`message`:{`id`:`msg_think`,`model`:`claude-opus-4`,`usage`:{`input_tokens`:10,`cache_creation_input_tokens`:200,`cache_read_input_tokens`:3000,`output_tokens`:1}}}\n"
	"\n"
	"event: content_block_start\n"
	"data: {`type`:`content_block_start`,`index`:0,`content_block`:{`type`:`thinking`,`thinking`:``,`signature`:``}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {`type`:`content_block_delta`,`index`:0,`delta`:{`type`:`thinking_delta`,`thinking`:`Hmm, `}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {`type`:`content_block_delta`,`index`:0,`delta`:{`type`:`thinking_delta`,`thinking`:`two tools.`}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {`type`:`content_block_delta`,`index`:0,`delta`:{`type`:`signature_delta`,`signature`:`c3ludGhldGlj`}}\n"
	"\n"
	"event: content_block_stop\n"
	"data: {`type`:`content_block_stop`,`index`:0}\n"
	"\n"
	"event: content_block_start\n"
	"data: {`type`:`content_block_start`,`index`:1,`content_block`:{`type`:`text`,`text`:``}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {`type`:`content_block_delta`,`index`:1,`delta`:{`type`:`citations_delta`,`citation`:{`type`:`char_location`}}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {`type`:`content_block_delta`,`index`:1,`delta`:{`type`:`text_delta`,`text`:`Checking.`}}\n"
	"\n"
	"event: content_block_start\n"
	"data: {`type`:`content_block_start`,`index`:2,`content_block`:{`type`:`tool_use`,`id`:`toolu_A`,`name`:`a`,`input`:{}}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {`type`:`content_block_delta`,`index`:2,`delta`:{`type`:`input_json_delta`,`partial_json`:`{}`}}\n"
	"\n"
	"event: content_block_start\n"
	"data: {`type`:`content_block_start`,`index`:3,`content_block`:{`type`:`tool_use`,`id`:`toolu_B`,`name`:`b`,`input`:{}}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {`type`:`content_block_delta`,`index`:3,`delta`:{`type`:`input_json_delta`,`partial_json`:`{\\`q\\`:2}`}}\n"
	"\n"
	"event: brand_new_event\n"
	"data: {`type`:`brand_new_event`,`stuff`:[1,2,3]}\n"
	"\n"
	"event: message_delta\n"
	"data: {`type`:`message_delta`,`delta`:{`stop_reason`:`max_tokens`},`usage`:{`output_tokens`:90,`output_tokens_details`:{`thinking_tokens`:40}}}\n"
	"\n"
	"event: message_stop\n"
	"data: {`type`:`message_stop`}\n"
	"\n"
	"data: [DONE]\n"
	"\n";
/* clang-format on */

static void test_anthropic_decoder(void)
{
	struct run r;
	struct summary s;

	run_sse(DIALECT_ANTHROPIC, ANTHROPIC_FIXTURE, true, &r);
	summarize(r.chunks, &s);
	is_int(r.rc_events, STREAM_DONE, "anthropic §2.5: message_stop → STREAM_DONE");
	is_int(r.rc_finish, STREAM_DONE, "anthropic §2.5: finish after message_stop → STREAM_DONE");
	is_str(buf_str(&s.content), "I'll check the current weather in Paris for you.",
	       "anthropic §2.5: text");
	is_int(s.roles, 1, "anthropic §2.5: role once");
	ok(s.role_first, "anthropic §2.5: role first");
	is_int(s.ntools, 1, "anthropic §2.5: one tool call");
	is_str(s.tools[0].id, "toolu_01NRLabsLyVHZPKxbKvkfSMn", "anthropic §2.5: tool id byte-exact");
	is_str(s.tools[0].name, "get_weather", "anthropic §2.5: tool name");
	is_str(buf_str(&s.tools[0].args), "{\"location\": \"Paris\"}", "anthropic §2.5: arguments");
	is_str(s.finish, "tool_calls", "anthropic §2.5: tool_use → tool_calls");
	ok(s.usage_last && s.usage_chunks == 1, "anthropic §2.5: one usage chunk, last");
	is_int(ji(s.usage, "prompt_tokens"), 377, "anthropic §2.5: prompt_tokens");
	is_int(ji(s.usage, "completion_tokens"), 65,
	       "anthropic §2.5: completion_tokens (cumulative, not summed)");
	is_int(ji(s.usage, "total_tokens"), 442, "anthropic §2.5: total_tokens");
	is_int(ji(s.usage, "prompt_tokens_details.cached_tokens"), 0, "anthropic §2.5: cached_tokens");
	ok(s.same_id && s.id && !strcmp(s.id, "msg_019Q1hrJbZG26Fb9BQhrkHEr"),
	   "anthropic §2.5: msg id on every chunk");
	is_str(s.model, "claude-sonnet-4-20250514", "anthropic §2.5: model");
	is_int(r.shape_bad, 0, "anthropic §2.5: canonical shape");
	summary_free(&s);
	run_free(&r);

	run_sse(DIALECT_ANTHROPIC, ANTHROPIC_THINKING, true, &r);
	summarize(r.chunks, &s);
	is_int(r.rc_events, STREAM_DONE, "anthropic thinking: STREAM_DONE");
	is_int(r.rc_finish, STREAM_DONE, "anthropic thinking: trailing [DONE] tolerated");
	is_str(buf_str(&s.reasoning), "Hmm, two tools.",
	       "anthropic thinking: thinking_delta → reasoning_content");
	is_str(buf_str(&s.content), "Checking.", "anthropic thinking: text; citations dropped");
	ok(!strstr(dump(r.chunks), "c3ludGhldGlj"), "anthropic thinking: signature dropped");
	is_int(s.ntools, 2, "anthropic thinking: two tools");
	ok(s.ordered_tools, "anthropic thinking: tool indices count tools only");
	is_str(s.tools[1].id, "toolu_B", "anthropic thinking: second tool id");
	is_str(buf_str(&s.tools[1].args), "{\"q\":2}", "anthropic thinking: second tool arguments");
	is_str(s.finish, "length", "anthropic thinking: max_tokens → length");
	is_int(ji(s.usage, "prompt_tokens"), 3210,
	       "anthropic thinking: prompt = input + cache creation + cache read");
	is_int(ji(s.usage, "prompt_tokens_details.cached_tokens"), 3000,
	       "anthropic thinking: cached = cache read");
	is_int(ji(s.usage, "prompt_tokens_details.cache_write_tokens"), 200,
	       "anthropic thinking: cache_write_tokens");
	is_int(ji(s.usage, "completion_tokens"), 90, "anthropic thinking: completion = output");
	is_int(ji(s.usage, "completion_tokens_details.reasoning_tokens"), 40,
	       "anthropic thinking: reasoning tokens");
	is_int(ji(s.usage, "total_tokens"), 3300, "anthropic thinking: total");
	is_int(r.shape_bad, 0, "anthropic thinking: canonical shape");
	summary_free(&s);
	run_free(&r);

	/* in-stream error after a 200 */
	run_sse(DIALECT_ANTHROPIC,
	        "event: message_start\ndata: "
	        "{`type`:`message_start`,`message`:{`id`:`msg_1`,`usage`:{`input_tokens`:1}}}\n\n"
	        "event: error\ndata: {`type`: `error`, `error`: {`type`: `overloaded_error`, `message`: "
	        "`Overloaded`}}\n\n",
	        true, &r);
	is_int(r.rc_events, STREAM_ERROR, "anthropic: error event → STREAM_ERROR");
	is_str(r.error, "overloaded_error: Overloaded", "anthropic: error message");
	is_int(r.status, 529, "anthropic: overloaded_error → 529");
	run_free(&r);
	static const struct {
		const char *type;
		int status;
	} statuses[] = {{"rate_limit_error", 429},
	                {"api_error", 500},
	                {"timeout_error", 504},
	                {"authentication_error", 401},
	                {"something_new_error", 500}};
	for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
		char *sse =
		    xasprintf("event: error\ndata: {`type`:`error`,`error`:{`type`:`%s`,`message`:`m`}}\n\n",
		              statuses[i].type);
		run_sse(DIALECT_ANTHROPIC, sse, false, &r);
		is_int(r.status, statuses[i].status, "anthropic: %s → %d", statuses[i].type,
		       statuses[i].status);
		run_free(&r);
		free(sse);
	}

	/* cut: no message_stop */
	run_sse(DIALECT_ANTHROPIC,
	        "event: message_start\ndata: {`type`:`message_start`,`message`:{`id`:`msg_1`}}\n\n"
	        "event: content_block_delta\ndata: "
	        "{`type`:`content_block_delta`,`index`:0,`delta`:{`type`:`text_delta`,`text`:`Hel`}}\n\n",
	        true, &r);
	summarize(r.chunks, &s);
	is_int(r.rc_events, STREAM_OK, "anthropic cut: events OK");
	is_int(r.rc_finish, STREAM_ERROR, "anthropic cut: finish without message_stop → STREAM_ERROR");
	is_int(s.finishes, 0, "anthropic cut: no finish chunk invented");
	is_str(buf_str(&s.content), "Hel", "anthropic cut: text before the cut delivered");
	summary_free(&s);
	run_free(&r);

	/* no event: lines, a stray stop_reason, a block index never started */
	run_sse(DIALECT_ANTHROPIC,
	        "data: {`type`:`message_start`,`message`:{}}\n\n"
	        "data: "
	        "{`type`:`content_block_delta`,`index`:7,`delta`:{`type`:`input_json_delta`,`partial_json`:`{"
	        "`}}\n\n"
	        "data: {`type`:`content_block_delta`,`index`:0,`delta`:{`type`:`text_delta`,`text`:`ok`}}\n\n"
	        "data: "
	        "{`type`:`message_delta`,`delta`:{`stop_reason`:`brand_new_reason`},`usage`:{`output_tokens`:"
	        "3}}\n\n"
	        "event: ping\n\n"
	        "data: {`type`:`message_stop`}\n\n",
	        false, &r);
	summarize(r.chunks, &s);
	is_int(r.rc_events, STREAM_DONE, "anthropic: data.type without event lines");
	is_str(buf_str(&s.content), "ok", "anthropic: text without a block start");
	is_int(s.ntools, 0, "anthropic: json delta for an unknown block ignored");
	is_str(s.finish, "stop", "anthropic: unknown stop_reason → stop");
	ok(!strncmp(s.id ? s.id : "", "chatcmpl-", 9), "anthropic: id minted when message has none");
	is_int(r.shape_bad, 0, "anthropic: canonical shape with odd events");
	summary_free(&s);
	run_free(&r);

	run_sse(DIALECT_ANTHROPIC, "event: message_start\ndata: <html>\n\n", false, &r);
	is_int(r.rc_events, STREAM_ERROR, "anthropic: unreadable event → STREAM_ERROR");
	run_free(&r);
}

/* ---------- Gemini decoder ---------- */

/* clang-format off */
static const char GEMINI_TEXT_STREAM[] =
	"data: {`candidates`: [{`content`: {`parts`: [{`text`: `In the quaint, sunlit cottage`}],`role`: `model`},`index`: 0}],`usageMetadata`: {`promptTokenCount`: 8},`modelVersion`: `gemini-2.5-flash`}\n"
	"\n"
	"data: {`candidates`: [{`content`: {`parts`: [{`text`: ` lived two cats.`}],`role`: `model`},`finishReason`: `STOP`,`index`: 0}],`usageMetadata`: {`promptTokenCount`: 8,`candidatesTokenCount`: 12,`totalTokenCount`: 20},`modelVersion`: `gemini-2.5-flash`}\n"
	"\n";
/* clang-format on */

/* clang-format off */
static const char GEMINI_TOOL_STREAM[] =
	"data: {`candidates`:[{`content`:{`role`:`model`,`parts`:[{`text`:`Planning the calls`,`thought`:true}]},`index`:0}],`responseId`:`tTCwacuEBMvnitYP06qsgQY`,`modelVersion`:`gemini-2.5-pro`}\n"
	"\n"
	"data: {`candidates`:[{`content`:{`role`:`model`,`parts`:[{`functionCall`:{`name`:`find_theaters`,`args`:{`movie`:`Barbie`,`location`:`Mountain View, CA`}},`thoughtSignature`:`CrICAdHtim82`},{`functionCall`:{`name`:`get_time`,`id`:`fc_7`}}]},`finishReason`:`STOP`,`index`:0}],`usageMetadata`:{`promptTokenCount`:82,`candidatesTokenCount`:17,`thoughtsTokenCount`:120,`cachedContentTokenCount`:50,`totalTokenCount`:219},`responseId`:`tTCwacuEBMvnitYP06qsgQY`}\n"
	"\n";
/* clang-format on */

static void test_gemini_decoder(void)
{
	struct run r;
	struct summary s;

	run_sse(DIALECT_GEMINI, GEMINI_TEXT_STREAM, false, &r);
	size_t before_finish = json_object_array_length(r.chunks);
	is_int(r.rc_events, STREAM_OK, "gemini §3.4: events OK (no terminator)");
	run_free(&r);
	run_sse(DIALECT_GEMINI, GEMINI_TEXT_STREAM, true, &r);
	summarize(r.chunks, &s);
	is_int(r.rc_finish, STREAM_DONE, "gemini §3.4: finish → STREAM_DONE");
	ok(json_object_array_length(r.chunks) == before_finish + 2,
	   "gemini §3.4: finish and usage come out of finish");
	is_str(buf_str(&s.content), "In the quaint, sunlit cottage lived two cats.", "gemini §3.4: text");
	is_int(s.roles, 1, "gemini §3.4: role once");
	ok(s.role_first, "gemini §3.4: role first");
	is_str(s.finish, "stop", "gemini §3.4: STOP → stop");
	ok(s.usage_last && s.usage_chunks == 1, "gemini §3.4: one usage chunk, last");
	is_int(ji(s.usage, "prompt_tokens"), 8, "gemini §3.4: prompt_tokens from the last usageMetadata");
	is_int(ji(s.usage, "completion_tokens"), 12, "gemini §3.4: completion_tokens");
	is_int(ji(s.usage, "total_tokens"), 20, "gemini §3.4: total_tokens");
	is_str(s.model, "gemini-2.5-flash", "gemini §3.4: modelVersion as model");
	ok(s.same_id && s.id && !strncmp(s.id, "chatcmpl-", 9), "gemini §3.4: minted id on every chunk");
	is_int(r.shape_bad, 0, "gemini §3.4: canonical shape");
	summary_free(&s);
	run_free(&r);

	run_sse(DIALECT_GEMINI, GEMINI_TOOL_STREAM, true, &r);
	summarize(r.chunks, &s);
	is_int(r.rc_finish, STREAM_DONE, "gemini tools: STREAM_DONE");
	is_str(buf_str(&s.reasoning), "Planning the calls", "gemini tools: thought → reasoning_content");
	is_str(buf_str(&s.content), "", "gemini tools: no content");
	is_int(s.ntools, 2, "gemini tools: two calls");
	ok(s.tools[0].id && !strncmp(s.tools[0].id, "call_", 5), "gemini tools: synthesised call_ id (%s)",
	   s.tools[0].id ? s.tools[0].id : "");
	is_str(s.tools[0].name, "find_theaters", "gemini tools: name");
	is_str(buf_str(&s.tools[0].args), "{\"movie\":\"Barbie\",\"location\":\"Mountain View, CA\"}",
	       "gemini tools: args serialised whole");
	is_str(s.tools[1].id, "fc_7", "gemini tools: the part's own id");
	is_str(buf_str(&s.tools[1].args), "{}", "gemini tools: missing args → {}");
	is_str(js(json_object_array_get_idx(r.chunks, 1),
	          "choices.0.delta.tool_calls.0.extra_content.google.thought_signature"),
	       "CrICAdHtim82", "gemini tools: thoughtSignature carried on the tool call");
	is_str(s.finish, "tool_calls", "gemini tools: STOP with calls → tool_calls");
	is_int(ji(s.usage, "prompt_tokens"), 82, "gemini tools: prompt_tokens");
	is_int(ji(s.usage, "completion_tokens"), 137, "gemini tools: completion = candidates + thoughts");
	is_int(ji(s.usage, "completion_tokens_details.reasoning_tokens"), 120,
	       "gemini tools: reasoning = thoughts");
	is_int(ji(s.usage, "prompt_tokens_details.cached_tokens"), 50, "gemini tools: cached");
	is_int(ji(s.usage, "total_tokens"), 219, "gemini tools: total");
	is_str(s.id, "tTCwacuEBMvnitYP06qsgQY", "gemini tools: responseId as id");
	is_int(r.shape_bad, 0, "gemini tools: canonical shape");
	summary_free(&s);
	run_free(&r);

	/* two streams never synthesise the same id */
	struct run r2;
	run_sse(DIALECT_GEMINI, GEMINI_TOOL_STREAM, true, &r);
	run_sse(DIALECT_GEMINI, GEMINI_TOOL_STREAM, true, &r2);
	struct summary s2;
	summarize(r.chunks, &s);
	summarize(r2.chunks, &s2);
	ok(s.tools[0].id && s2.tools[0].id && strcmp(s.tools[0].id, s2.tools[0].id) != 0,
	   "gemini: synthesised ids differ across turns");
	summary_free(&s);
	summary_free(&s2);
	run_free(&r);
	run_free(&r2);

	run_sse(DIALECT_GEMINI, "data: {`candidates`:[{`content`:{`parts`:[{`text`:`half`}]}}]}\n\n", true,
	        &r);
	is_int(r.rc_finish, STREAM_ERROR, "gemini cut: no finishReason → STREAM_ERROR");
	ok(r.error && strstr(r.error, "finish"), "gemini cut: message names the missing finish reason");
	run_free(&r);

	run_sse(DIALECT_GEMINI,
	        "data: {`candidates`:[{`content`:{`parts`:[{`text`:`x`}]}}]}\n\n"
	        "data: {`error`:{`code`:429,`message`:`Resource has been exhausted (e.g. check "
	        "quota).`,`status`:`RESOURCE_EXHAUSTED`}}\n\n",
	        true, &r);
	is_int(r.rc_events, STREAM_ERROR, "gemini: error data → STREAM_ERROR");
	is_int(r.status, 429, "gemini: error status");
	is_str(r.error, "RESOURCE_EXHAUSTED: Resource has been exhausted (e.g. check quota).",
	       "gemini: error message");
	run_free(&r);

	run_sse(
	    DIALECT_GEMINI,
	    "data: {`promptFeedback`:{`blockReason`:`SAFETY`},`usageMetadata`:{`promptTokenCount`:4}}\n\n",
	    true, &r);
	summarize(r.chunks, &s);
	is_int(r.rc_finish, STREAM_DONE, "gemini blocked: STREAM_DONE");
	is_str(s.finish, "content_filter", "gemini blocked: content_filter");
	ok(s.role_first, "gemini blocked: the finish chunk carries the role");
	is_int(ji(s.usage, "prompt_tokens"), 4, "gemini blocked: usage");
	is_int(r.shape_bad, 0, "gemini blocked: canonical shape");
	summary_free(&s);
	run_free(&r);

	static const struct {
		const char *reason, *want;
	} reasons[] = {{"MAX_TOKENS", "length"},
	               {"SAFETY", "content_filter"},
	               {"RECITATION", "content_filter"},
	               {"PROHIBITED_CONTENT", "content_filter"},
	               {"MALFORMED_FUNCTION_CALL", "stop"},
	               {"OTHER", "stop"},
	               {"SOMETHING_NEW", "stop"}};
	for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
		char *sse = xasprintf(
		    "data: {`candidates`:[{`content`:{`parts`:[{`text`:`x`}]},`finishReason`:`%s`}]}\n\n",
		    reasons[i].reason);
		run_sse(DIALECT_GEMINI, sse, true, &r);
		summarize(r.chunks, &s);
		is_str(s.finish, reasons[i].want, "gemini: %s → %s", reasons[i].reason, reasons[i].want);
		summary_free(&s);
		run_free(&r);
		free(sse);
	}

	/* two candidates (candidateCount) */
	run_sse(
	    DIALECT_GEMINI,
	    "data: "
	    "{`candidates`:[{`content`:{`parts`:[{`text`:`a`}]},`index`:0},{`content`:{`parts`:[{`text`:`b`}]"
	    "},`index`:1,`finishReason`:`MAX_TOKENS`}]}\n\n"
	    "data: {`candidates`:[{`content`:{`parts`:[{`text`:`c`}]},`index`:0,`finishReason`:`STOP`}]}\n\n",
	    true, &r);
	int finishes = 0;
	for (size_t i = 0; i < json_object_array_length(r.chunks); i++) {
		json_object *c = json_object_array_get_idx(r.chunks, i);
		if (js(c, "choices.0.finish_reason"))
			finishes++;
	}
	is_int(finishes, 2, "gemini: a finish per candidate");
	is_int(r.shape_bad, 0, "gemini: canonical shape with two candidates");
	run_free(&r);

	run_sse(DIALECT_GEMINI, "data: [{`candidates`:[]}]\n\n", false, &r);
	is_int(r.rc_events, STREAM_ERROR, "gemini: array payload (non-SSE mode) → STREAM_ERROR");
	run_free(&r);
}

/* ---------- whole responses ---------- */

static void test_responses(void)
{
	char *err = NULL;
	json_object *in, *r;

	in = J("{`id`:`chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT`,`object`:`chat.completion`,`created`:"
	       "1741569952,`model`:`gpt-4o-mini`,"
	       "`choices`:[{`index`:0,`message`:{`role`:`assistant`,`content`:null,`refusal`:null,`"
	       "annotations`:[],"
	       "`tool_calls`:[{`id`:`call_abc123`,`type`:`function`,`function`:{`name`:`get_current_weather`,"
	       "`arguments`:`{\\n\\`location\\`: \\`Boston, MA\\`\\n}`}}]},"
	       "`logprobs`:null,`finish_reason`:`tool_calls`}],"
	       "`usage`:{`prompt_tokens`:82,`completion_tokens`:17,`total_tokens`:99,`prompt_tokens_details`:"
	       "{`cached_tokens`:0,`audio_tokens`:0},"
	       "`completion_tokens_details`:{`reasoning_tokens`:0,`audio_tokens`:0,`accepted_prediction_"
	       "tokens`:0,`rejected_prediction_tokens`:0}},"
	       "`service_tier`:`default`,`system_fingerprint`:`fp_44709d6fcb`}");
	r = dialect_response_to_canonical(DIALECT_OPENAI, in, "fallback", &err);
	ok(r && !err, "openai response §1.5: converts");
	is_str(js(r, "id"), "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", "openai response: id");
	is_str(js(r, "object"), "chat.completion", "openai response: object");
	is_int(ji(r, "created"), 1741569952, "openai response: created");
	is_str(js(r, "model"), "gpt-4o-mini", "openai response: model");
	ok(jhas(r, "choices.0.message.content") && !jp(r, "choices.0.message.content"),
	   "openai response: content null");
	is_str(js(r, "choices.0.message.tool_calls.0.id"), "call_abc123", "openai response: tool call id");
	is_str(js(r, "choices.0.message.tool_calls.0.function.arguments"),
	       "{\n\"location\": \"Boston, MA\"\n}", "openai response: arguments verbatim");
	is_str(js(r, "choices.0.finish_reason"), "tool_calls", "openai response: finish_reason");
	is_int(ji(r, "usage.total_tokens"), 99, "openai response: usage");
	json_object_put(r);
	json_object_put(in);

	in =
	    J("{`id`:`x`,`model`:`deepseek-reasoner`,`choices`:[{`message`:{`role`:`assistant`,`content`:`4`,"
	      "`reasoning_content`:`2+2`},`finish_reason`:`model_length`}],`x_groq`:{`usage`:{`prompt_tokens`"
	      ":1,`completion_tokens`:2}}}");
	r = dialect_response_to_canonical(DIALECT_OPENAI, in, "fallback", &err);
	is_str(js(r, "choices.0.message.reasoning_content"), "2+2",
	       "openai response: reasoning_content kept");
	is_str(js(r, "choices.0.finish_reason"), "length", "openai response: model_length → length");
	is_int(ji(r, "usage.total_tokens"), 3, "openai response: x_groq usage, total computed");
	json_object_put(r);
	json_object_put(in);

	in = J("{`choices`:[{`message`:{`content`:`hi`,`reasoning`:`groq says`}}]}");
	r = dialect_response_to_canonical(DIALECT_OPENAI, in, "fallback", &err);
	is_str(js(r, "choices.0.message.reasoning_content"), "groq says",
	       "openai response: reasoning → reasoning_content");
	is_str(js(r, "model"), "fallback", "openai response: caller's model when none");
	ok(js(r, "id") && !strncmp(js(r, "id"), "chatcmpl-", 9), "openai response: minted id");
	is_str(js(r, "choices.0.finish_reason"), "stop", "openai response: missing finish → stop");
	json_object_put(r);
	json_object_put(in);

	in = J("{`error`:{`message`:`bad key`,`type`:`invalid_request_error`}}");
	r = dialect_response_to_canonical(DIALECT_OPENAI, in, "m", &err);
	ok(!r && err && strstr(err, "bad key"), "openai response: error body → error");
	free(err);
	err = NULL;
	json_object_put(in);
	in = J("{`object`:`list`}");
	r = dialect_response_to_canonical(DIALECT_OPENAI, in, "m", &err);
	ok(!r && err, "openai response: no choices → error");
	free(err);
	err = NULL;
	json_object_put(in);

	in = J("{`id`:`msg_019Q1hrJbZG26Fb9BQhrkHEr`,`type`:`message`,`role`:`assistant`,`model`:`claude-"
	       "sonnet-4-20250514`,"
	       "`content`:[{`type`:`thinking`,`thinking`:`Paris weather.`,`signature`:`sig`},"
	       "{`type`:`text`,`text`:`I'll check the current weather in Paris for you.`},"
	       "{`type`:`tool_use`,`id`:`toolu_01NRLabsLyVHZPKxbKvkfSMn`,`name`:`get_weather`,`input`:{`"
	       "location`:`Paris`}}],"
	       "`stop_reason`:`tool_use`,`stop_sequence`:null,"
	       "`usage`:{`input_tokens`:377,`output_tokens`:65,`cache_creation_input_tokens`:0,`cache_read_"
	       "input_tokens`:0,"
	       "`cache_creation`:{`ephemeral_5m_input_tokens`:0,`ephemeral_1h_input_tokens`:0},`service_tier`"
	       ":`standard`}}");
	r = dialect_response_to_canonical(DIALECT_ANTHROPIC, in, "m", &err);
	ok(r && !err, "anthropic response §2.4: converts");
	is_str(js(r, "id"), "msg_019Q1hrJbZG26Fb9BQhrkHEr", "anthropic response: id");
	is_str(js(r, "model"), "claude-sonnet-4-20250514", "anthropic response: model");
	is_str(js(r, "choices.0.message.role"), "assistant", "anthropic response: role");
	is_str(js(r, "choices.0.message.content"), "I'll check the current weather in Paris for you.",
	       "anthropic response: text");
	is_str(js(r, "choices.0.message.reasoning_content"), "Paris weather.",
	       "anthropic response: thinking");
	is_str(js(r, "choices.0.message.tool_calls.0.id"), "toolu_01NRLabsLyVHZPKxbKvkfSMn",
	       "anthropic response: tool id");
	is_str(js(r, "choices.0.message.tool_calls.0.type"), "function", "anthropic response: tool type");
	is_str(js(r, "choices.0.message.tool_calls.0.function.name"), "get_weather",
	       "anthropic response: tool name");
	is_str(js(r, "choices.0.message.tool_calls.0.function.arguments"), "{\"location\":\"Paris\"}",
	       "anthropic response: arguments serialised");
	is_str(js(r, "choices.0.finish_reason"), "tool_calls", "anthropic response: finish");
	is_int(ji(r, "usage.prompt_tokens"), 377, "anthropic response: prompt_tokens");
	is_int(ji(r, "usage.completion_tokens"), 65, "anthropic response: completion_tokens");
	is_int(ji(r, "usage.total_tokens"), 442, "anthropic response: total_tokens");
	json_object_put(r);
	json_object_put(in);

	in = J("{`type`:`message`,`content`:[{`type`:`text`,`text`:`a`},{`type`:`text`,`text`:`b`}],`stop_"
	       "reason`:`stop_sequence`}");
	r = dialect_response_to_canonical(DIALECT_ANTHROPIC, in, "m", &err);
	is_str(js(r, "choices.0.message.content"), "ab", "anthropic response: text blocks concatenated");
	is_str(js(r, "choices.0.finish_reason"), "stop", "anthropic response: stop_sequence → stop");
	ok(!jhas(r, "usage"), "anthropic response: no usage when none reported");
	json_object_put(r);
	json_object_put(in);
	static const struct {
		const char *reason, *want;
	} stops[] = {{"end_turn", "stop"},
	             {"max_tokens", "length"},
	             {"refusal", "content_filter"},
	             {"pause_turn", "stop"},
	             {"model_context_window_exceeded", "length"},
	             {"future", "stop"}};
	for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) {
		char *body = xasprintf("{`content`:[],`stop_reason`:`%s`}", stops[i].reason);
		in = J(body);
		r = dialect_response_to_canonical(DIALECT_ANTHROPIC, in, "m", &err);
		is_str(js(r, "choices.0.finish_reason"), stops[i].want, "anthropic response: %s → %s",
		       stops[i].reason, stops[i].want);
		json_object_put(r);
		json_object_put(in);
		free(body);
	}
	in = J("{`type`:`error`,`error`:{`type`:`not_found_error`,`message`:`The requested resource could "
	       "not be found.`},`request_id`:`req_1`}");
	r = dialect_response_to_canonical(DIALECT_ANTHROPIC, in, "m", &err);
	is_str(err, "not_found_error: The requested resource could not be found.",
	       "anthropic response: error body");
	free(err);
	err = NULL;
	json_object_put(in);

	in = J("{`candidates`:[{`content`:{`role`:`model`,`parts`:[{`text`:`Let me look.`,`thought`:true},"
	       "{`functionCall`:{`name`:`find_theaters`,`args`:{`movie`:`Barbie`,`location`:`Mountain View, "
	       "CA`}}}]},"
	       "`finishReason`:`STOP`,`index`:0,`safetyRatings`:[{`category`:`HARM_CATEGORY_HARASSMENT`,`"
	       "probability`:`NEGLIGIBLE`}]}],"
	       "`promptFeedback`:{`safetyRatings`:[]},"
	       "`usageMetadata`:{`promptTokenCount`:82,`candidatesTokenCount`:17,`thoughtsTokenCount`:120,`"
	       "cachedContentTokenCount`:0,"
	       "`totalTokenCount`:219,`promptTokensDetails`:[{`modality`:`TEXT`,`tokenCount`:82}]},"
	       "`modelVersion`:`gemini-2.5-flash`,`responseId`:`tTCwacuEBMvnitYP06qsgQY`}");
	r = dialect_response_to_canonical(DIALECT_GEMINI, in, "m", &err);
	ok(r && !err, "gemini response §3.3: converts");
	is_str(js(r, "id"), "tTCwacuEBMvnitYP06qsgQY", "gemini response: responseId");
	is_str(js(r, "model"), "gemini-2.5-flash", "gemini response: modelVersion");
	ok(jhas(r, "choices.0.message.content") && !jp(r, "choices.0.message.content"),
	   "gemini response: content null with only a call");
	is_str(js(r, "choices.0.message.reasoning_content"), "Let me look.", "gemini response: thought");
	ok(js(r, "choices.0.message.tool_calls.0.id") &&
	       !strncmp(js(r, "choices.0.message.tool_calls.0.id"), "call_", 5),
	   "gemini response: synthesised id");
	is_str(js(r, "choices.0.message.tool_calls.0.function.arguments"),
	       "{\"movie\":\"Barbie\",\"location\":\"Mountain View, CA\"}",
	       "gemini response: args serialised");
	is_str(js(r, "choices.0.finish_reason"), "tool_calls",
	       "gemini response: STOP with a call → tool_calls");
	is_int(ji(r, "usage.prompt_tokens"), 82, "gemini response: prompt");
	is_int(ji(r, "usage.completion_tokens"), 137, "gemini response: completion = candidates + thoughts");
	is_int(ji(r, "usage.completion_tokens_details.reasoning_tokens"), 120, "gemini response: reasoning");
	is_int(ji(r, "usage.total_tokens"), 219, "gemini response: total");
	json_object_put(r);
	json_object_put(in);

	in = J("{`promptFeedback`:{`blockReason`:`PROHIBITED_CONTENT`}}");
	r = dialect_response_to_canonical(DIALECT_GEMINI, in, "m", &err);
	is_str(js(r, "choices.0.finish_reason"), "content_filter",
	       "gemini response: blocked prompt → content_filter");
	is_str(js(r, "model"), "m", "gemini response: caller's model");
	json_object_put(r);
	json_object_put(in);
	in = J("{`candidates`:[]}");
	r = dialect_response_to_canonical(DIALECT_GEMINI, in, "m", &err);
	ok(!r && err, "gemini response: no candidates → error");
	free(err);
	err = NULL;
	json_object_put(in);
	in = J("{`error`:{`code`:400,`message`:`API key not valid. Please pass a valid API "
	       "key.`,`status`:`INVALID_ARGUMENT`}}");
	r = dialect_response_to_canonical(DIALECT_GEMINI, in, "m", &err);
	is_str(err, "INVALID_ARGUMENT: API key not valid. Please pass a valid API key.",
	       "gemini response: error body");
	free(err);
	err = NULL;
	json_object_put(in);

	in = J("[1]");
	for (int d = 0; d < DIALECT_COUNT; d++) {
		r = dialect_response_to_canonical((enum dialect)d, in, "m", &err);
		ok(!r && err, "%s response: non-object → error", dialect_name((enum dialect)d));
		free(err);
		err = NULL;
	}
	json_object_put(in);
}

/* ---------- upstream errors ---------- */

static void check_error(int status, const char *body_q, const char *type, const char *message,
                        const char *name)
{
	char *body = unq(body_q);
	struct upstream_error e;
	upstream_error_parse(status, body, strlen(body), &e);
	is_int(e.status, status, "error %s: status", name);
	is_str(e.type, type, "error %s: type", name);
	is_str(e.message, message, "error %s: message", name);
	upstream_error_clear(&e);
	free(body);
}

static void test_upstream_errors(void)
{
	check_error(429,
	            "{`error`: {`message`: `You exceeded your current quota, please check your plan and "
	            "billing details.`,"
	            "`type`: `insufficient_quota`, `param`: null, `code`: `insufficient_quota`}}",
	            "insufficient_quota",
	            "You exceeded your current quota, please check your plan and billing details.", "openai");
	check_error(404,
	            "{`type`: `error`, `error`: {`type`: `not_found_error`, `message`: `The requested "
	            "resource could not be found.`},"
	            " `request_id`: `req_011CSHoEeqs5C35K2UUqR7Fy`}",
	            "not_found_error", "The requested resource could not be found.", "anthropic");
	check_error(400,
	            "{`error`:{`code`:400,`message`:`API key not valid. Please pass a valid API "
	            "key.`,`status`:`INVALID_ARGUMENT`,"
	            "`details`:[{`@type`:`type.googleapis.com/"
	            "google.rpc.ErrorInfo`,`reason`:`API_KEY_INVALID`,`domain`:`googleapis.com`}]}}",
	            "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", "gemini");
	check_error(
	    400,
	    "{`object`:`error`,`message`:`Tool call id was 38f04d9ea185424a8dc6ed9a88da5 but must be a-z, "
	    "A-Z, 0-9, with a length of 9.`,"
	    "`type`:`invalid_request_error`,`param`:null,`code`:null}",
	    "invalid_request_error",
	    "Tool call id was 38f04d9ea185424a8dc6ed9a88da5 but must be a-z, A-Z, 0-9, with a length of 9.",
	    "mistral");
	check_error(422,
	            "{`object`:`error`,`message`:`bad call`,`type`:`invalid_function_call`,`code`:`3280`}",
	            "invalid_function_call", "bad call", "mistral later form");
	check_error(402, "{`error`:{`code`:402,`message`:`Insufficient credits`,`metadata`:{`raw`:`x`}}}",
	            NULL, "Insufficient credits", "openrouter");
	check_error(404, "{`error`:`model 'llama9' not found`}", NULL, "model 'llama9' not found",
	            "ollama string error");
	check_error(400, "{`detail`:`Not Found`}", NULL, "Not Found", "fastapi detail");
	check_error(503,
	            "[{`error`:{`code`:503,`message`:`The model is overloaded.`,`status`:`UNAVAILABLE`}}]",
	            "UNAVAILABLE", "The model is overloaded.", "gemini array");
	check_error(500, "{`error`:{`message`:`line one\\nline two\\t\\ttabbed`,`type`:`server_error`}}",
	            "server_error", "line one line two tabbed", "multi-line message collapsed");
	check_error(502,
	            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
	            "Gateway</h1></center>\r\n"
	            "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
	            NULL, "upstream returned HTML (502): 502 Bad Gateway", "nginx page");
	check_error(503, "  <!DOCTYPE html><html><body>down</body></html>", NULL,
	            "upstream returned HTML (503)", "html no title");
	check_error(504, "", NULL, "upstream returned status 504 with an empty body", "empty body");
	check_error(502, "upstream connect error or disconnect/reset before headers", NULL,
	            "upstream returned status 502: upstream connect error or disconnect/reset before headers",
	            "plain text");
	check_error(500, "{`foo`:`bar`}", NULL, "upstream returned status 500: {\"foo\":\"bar\"}",
	            "unknown JSON");
	check_error(500, "{`error`:{`type`:`api_error`}}", "api_error", "api_error",
	            "error without a message");
	check_error(500, "{`error`:{`type`:`api_error`,`message`:` \n\t `}}", "api_error", "api_error",
	            "error with a blank message");
	check_error(500, "{`error`:{`message`:42}}", NULL, "unknown error", "error with a numeric message");

	struct upstream_error e;
	upstream_error_parse(500, "\x01\x02\xff\xfe", 4, &e);
	is_str(e.message, "upstream returned an unreadable body (500)", "error binary: short message");
	upstream_error_clear(&e);
	upstream_error_parse(500, NULL, 10, &e);
	ok(e.message != NULL, "error NULL body: message set");
	upstream_error_clear(&e);
	upstream_error_clear(NULL);

	struct buf b = BUF_INIT;
	buf_puts(&b, "{\"error\":{\"message\":\"");
	for (int i = 0; i < 400; i++)
		buf_puts(&b, "é\\n");
	buf_puts(&b, "\"}}");
	upstream_error_parse(400, b.data, b.len, &e);
	ok(e.message && strlen(e.message) <= 310, "error long: truncated (%zu bytes)",
	   e.message ? strlen(e.message) : 0);
	ok(e.message && !strchr(e.message, '\n'), "error long: one line");
	ok(e.message && strstr(e.message, "…"), "error long: ellipsis");
	upstream_error_clear(&e);
	buf_free(&b);

	buf_puts(&b, "<html><head><title>Attention</title></head><body>");
	for (int i = 0; i < 2000; i++)
		buf_puts(&b, "<p>blocked</p>\n");
	buf_puts(&b, "</body></html>");
	upstream_error_parse(403, b.data, b.len, &e);
	ok(e.message && strlen(e.message) < 100 && !strstr(e.message, "blocked"),
	   "error big HTML: never dumped (%s)", e.message ? e.message : "");
	upstream_error_clear(&e);
	buf_free(&b);
}

/* ---------- robustness ---------- */

/* ---------- shared helpers (dialect-internal.h) ---------- */

static void test_json_and_request_helpers(void)
{
	json_object *o = J("{`a`:null,`b`:0,`c`:`x`}");
	ok(!dialect_json_value(o, "a") && !dialect_json_value(o, "z"),
	   "json_value: null and absent read as NULL");
	ok(dialect_json_value(o, "b") && dialect_json_value(o, "c"), "json_value: 0 and a string are values");
	ok(!dialect_json_value(dialect_json_value(o, "c"), "c"),
	   "json_value: a non-object parent has no members");
	json_object_put(o);

	char *err = NULL;
	double d = -1;
	o = J("{`t`:1.5,`n`:null,`s`:`x`}");
	is_int(dialect_request_number(o, "t", &d, &err), 1, "request_number: present");
	ok(d == 1.5, "request_number: value");
	is_int(dialect_request_number(o, "n", &d, &err), 0, "request_number: null is absent");
	is_int(dialect_request_number(o, "z", &d, &err), 0, "request_number: absent");
	is_int(dialect_request_number(o, "s", &d, &err), -1, "request_number: a string is an error");
	is_str(err, "\"s\" must be a number", "request_number: error names the field");
	free(err);
	err = NULL;
	json_object_put(o);

	json_object *tools = (json_object *)1;
	o = J("{`tools`:[]}");
	ok(dialect_request_tools(o, &tools, &err) == 0 && !tools, "request_tools: an empty array is none");
	json_object_put(o);
	o = J("{`tools`:null}");
	ok(dialect_request_tools(o, &tools, &err) == 0 && !tools, "request_tools: null is none");
	json_object_put(o);
	o = J("{`tools`:{}}");
	ok(dialect_request_tools(o, &tools, &err) == -1 && !tools, "request_tools: an object is an error");
	is_str(err, "\"tools\" must be an array", "request_tools: error message");
	free(err);
	err = NULL;
	json_object_put(o);
	o = J(
	    "{`tools`:[{`type`:`function`,`function`:{`name`:`f`,`description`:`d`}},"
	    "{`function`:{`name`:`g`,`description`:``}},{`type`:`web`},{`type`:`function`,`function`:{}}]}");
	ok(dialect_request_tools(o, &tools, &err) == 0 && jlen(tools, "") == 4, "request_tools: the array");
	json_object *fn = NULL;
	json_object *decl = dialect_tool_decl(tools, 0, &fn, &err);
	is_str(dump(decl), "{\"name\":\"f\",\"description\":\"d\"}", "tool_decl: name and description");
	is_str(js(fn, "name"), "f", "tool_decl: *fn is the function object");
	json_object_put(decl);
	decl = dialect_tool_decl(tools, 1, &fn, &err);
	is_str(dump(decl), "{\"name\":\"g\"}",
	       "tool_decl: no type means function; empty description left out");
	json_object_put(decl);
	ok(!dialect_tool_decl(tools, 2, &fn, &err), "tool_decl: another type is an error");
	is_str(err, "tool 2 has unsupported type \"web\"", "tool_decl: type error message");
	free(err);
	err = NULL;
	ok(!dialect_tool_decl(tools, 3, &fn, &err), "tool_decl: no name is an error");
	is_str(err, "tool 3 has no function name", "tool_decl: name error message");
	free(err);
	err = NULL;
	json_object_put(o);

	static const struct {
		const char *canon;
		int rc;
		enum dialect_tool_choice choice;
		const char *name;
		int allowed;
	} choices[] = {
	    {"{}", 0, 0, NULL, -1},
	    {"{`tool_choice`:null}", 0, 0, NULL, -1},
	    {"{`tool_choice`:`auto`}", 1, DIALECT_TOOLS_AUTO, NULL, -1},
	    {"{`tool_choice`:`none`}", 1, DIALECT_TOOLS_NONE, NULL, -1},
	    {"{`tool_choice`:`required`}", 1, DIALECT_TOOLS_REQUIRED, NULL, -1},
	    {"{`tool_choice`:{`type`:`function`,`function`:{`name`:`f`}}}", 1, DIALECT_TOOLS_FUNCTION, "f",
	     -1},
	    {"{`tool_choice`:{`type`:`allowed_tools`,`allowed_tools`:{`mode`:`required`,`tools`:[{},{}]}}}",
	     1, DIALECT_TOOLS_REQUIRED, NULL, 2},
	    {"{`tool_choice`:{`type`:`allowed_tools`,`allowed_tools`:{`mode`:`auto`}}}", 1,
	     DIALECT_TOOLS_AUTO, NULL, -1},
	    {"{`tool_choice`:`any`}", -1, 0, NULL, -1},
	    {"{`tool_choice`:{`type`:`function`,`function`:{`name`:``}}}", -1, 0, NULL, -1},
	    {"{`tool_choice`:3}", -1, 0, NULL, -1},
	};
	for (size_t i = 0; i < sizeof choices / sizeof choices[0]; i++) {
		o = J(choices[i].canon);
		enum dialect_tool_choice c = 99;
		const char *name = NULL;
		json_object *allowed = NULL;
		int rc = dialect_request_tool_choice(o, &c, &name, &allowed, &err);
		ok(rc == choices[i].rc && (rc != 1 || c == choices[i].choice) &&
		       (choices[i].name ? name && strcmp(name, choices[i].name) == 0 : !name) &&
		       (allowed ? (int)json_object_array_length(allowed) : -1) == choices[i].allowed &&
		       (rc == -1) == (err != NULL),
		   "request_tool_choice: %s", choices[i].canon);
		if (rc == -1)
			is_str(err, "unsupported \"tool_choice\"", "request_tool_choice: error message");
		free(err);
		err = NULL;
		json_object_put(o);
	}

	const char *type = NULL;
	json_object *schema = NULL;
	o = J("{`response_format`:null}");
	is_int(dialect_request_response_format(o, &type, &schema, &err), 0,
	       "response_format: null is absent");
	json_object_put(o);
	o = J("{`response_format`:{`type`:`json_schema`,`json_schema`:{`schema`:{`type`:`object`}}}}");
	ok(dialect_request_response_format(o, &type, &schema, &err) == 1 &&
	       strcmp(type, "json_schema") == 0 && schema && strcmp(js(schema, "type"), "object") == 0,
	   "response_format: json_schema with its schema");
	json_object_put(o);
	o = J("{`response_format`:{`type`:`json_object`,`json_schema`:{`schema`:{}}}}");
	ok(dialect_request_response_format(o, &type, &schema, &err) == 1 &&
	       strcmp(type, "json_object") == 0 && !schema,
	   "response_format: a schema counts only for json_schema");
	json_object_put(o);
	o = J("{`response_format`:{}}");
	is_int(dialect_request_response_format(o, &type, &schema, &err), -1, "response_format: no type");
	is_str(err, "\"response_format\" must be an object with a type", "response_format: error message");
	free(err);
	err = NULL;
	json_object_put(o);
}

static void test_media_helpers(void)
{
	char *err = NULL, *mime = NULL;
	const char *data = NULL;
	json_object *p = J("{`image_url`:{`url`:`data:image/JPG;base64,AAAA`}}");
	ok(dialect_image_source(p, 0, &mime, &data, &err) == 1 && strcmp(mime, "image/jpeg") == 0 &&
	       strcmp(data, "AAAA") == 0,
	   "image_source: a data URL is inline data; image/jpg reads as image/jpeg");
	free(mime);
	json_object_put(p);
	p = J("{`image_url`:`https://x/a.png`}");
	ok(dialect_image_source(p, 0, &mime, &data, &err) == 0 && !mime &&
	       strcmp(data, "https://x/a.png") == 0,
	   "image_source: an http(s) URL, given as a bare string");
	json_object_put(p);
	p = J("{`image_url`:{`url`:`ftp://x`}}");
	is_int(dialect_image_source(p, 3, &mime, &data, &err), -1, "image_source: another scheme");
	is_str(err, "image part 3: url must be http(s) or a base64 data URL", "image_source: scheme message");
	free(err);
	err = NULL;
	json_object_put(p);
	p = J("{`image_url`:{}}");
	is_int(dialect_image_source(p, 1, &mime, &data, &err), -1, "image_source: no url");
	is_str(err, "image part 1 has no url", "image_source: no-url message");
	free(err);
	err = NULL;
	json_object_put(p);

	p = J("{`file`:{`file_data`:`JVBER`}}");
	ok(dialect_file_source(p, 0, "x", &mime, &data, &err) == 0 && strcmp(mime, "application/pdf") == 0 &&
	       strcmp(data, "JVBER") == 0,
	   "file_source: bare base64 is a PDF");
	free(mime);
	json_object_put(p);
	p = J("{`file`:{`file_data`:`data:text/plain;base64,QQ==`}}");
	ok(dialect_file_source(p, 0, "x", &mime, &data, &err) == 0 && strcmp(mime, "text/plain") == 0 &&
	       strcmp(data, "QQ==") == 0,
	   "file_source: a data URL gives its type and payload");
	free(mime);
	json_object_put(p);
	p = J("{`file`:{`file_id`:`f`}}");
	is_int(dialect_file_source(p, 2, "gemini", &mime, &data, &err), -1, "file_source: file_id only");
	is_str(err, "file part 2: file_id is not supported by gemini; send file_data",
	       "file_source: file_id message names the dialect");
	free(err);
	err = NULL;
	json_object_put(p);
	p = J("{`file`:{}}");
	is_int(dialect_file_source(p, 0, "gemini", &mime, &data, &err), -1, "file_source: nothing");
	is_str(err, "file part 0 has no file_data", "file_source: no-data message");
	free(err);
	json_object_put(p);
}

/* A toy dialect for dialect_convert_messages: every item says what it is. */
static json_object *toy_text(const char *s, size_t len, json_object *part)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, part ? "part_text" : "text", json_object_new_string_len(s, (int)len));
	return o;
}

static json_object *toy_media(json_object *part, const char *type, size_t idx, char **err)
{
	(void)part;
	if (strcmp(type, "bad") == 0) {
		*err = xasprintf("part %zu is bad", idx);
		return NULL;
	}
	if (strcmp(type, "image_url") != 0)
		return NULL;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "media", json_object_new_int((int)idx));
	return o;
}

static json_object *toy_call(json_object *tc, size_t idx, char **err)
{
	const char *id = js(tc, "id");
	if (!id) {
		*err = xasprintf("call %zu has no id", idx);
		return NULL;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "call", json_object_new_string(id));
	return o;
}

static json_object *toy_result(json_object *msgs, size_t i, char **err)
{
	const char *id = js(json_object_array_get_idx(msgs, i), "tool_call_id");
	if (!id) {
		*err = xstrdup("no id");
		return NULL;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "result", json_object_new_string(id));
	return o;
}

static bool toy_lead(json_object *item)
{
	return jhas(item, "result");
}

static const struct dialect_turns TOY = {
    .items = "items",
    .assistant_role = "bot",
    .text = toy_text,
    .media = toy_media,
    .tool_call = toy_call,
    .tool_result = toy_result,
    .lead = toy_lead,
};

static char *toy_convert(const struct dialect_turns *t, const char *msgs_q, char **system)
{
	json_object *msgs = J(msgs_q);
	json_object *out = json_object_new_array();
	struct buf sys = BUF_INIT;
	char *err = NULL;
	char *r;
	if (dialect_convert_messages(msgs, t, out, &sys, &err) == 0) {
		r = xstrdup(dump(out));
		ok(!err, "convert_messages: no error on success");
	} else {
		r = err;
		ok(err != NULL, "convert_messages: a message on failure");
	}
	*system = buf_steal(&sys);
	json_object_put(out);
	json_object_put(msgs);
	return r;
}

static void test_convert_messages(void)
{
	char *sys = NULL;
	char *r =
	    toy_convert(&TOY,
	                "[{`role`:`system`,`content`:`s1`},{`role`:`user`,`content`:`a`},"
	                "{`role`:`developer`,`content`:[{`type`:`text`,`text`:`s2`}]},"
	                "{`role`:`assistant`,`content`:`b`,`tool_calls`:[{`id`:`c1`},{`id`:`c2`}]},"
	                "{`role`:`tool`,`tool_call_id`:`c1`,`content`:`x`},"
	                "{`role`:`user`,`content`:[`u`,{`type`:`text`,`text`:`v`},{`type`:`image_url`}]},"
	                "{`role`:`tool`,`tool_call_id`:`c2`,`content`:`y`},"
	                "{`role`:`assistant`,`content`:null},{`role`:`user`,`content`:[]}]",
	                &sys);
	is_str(r,
	       "[{\"role\":\"user\",\"items\":[{\"text\":\"a\"}]},"
	       "{\"role\":\"bot\",\"items\":[{\"text\":\"b\"},{\"call\":\"c1\"},{\"call\":\"c2\"}]},"
	       "{\"role\":\"user\",\"items\":[{\"result\":\"c1\"},{\"result\":\"c2\"},{\"text\":\"u\"},"
	       "{\"part_text\":\"v\"},{\"media\":2}]}]",
	       "convert_messages: turns merge by role, lead items first, empty messages dropped");
	is_str(sys, "s1\ns2", "convert_messages: system and developer text hoisted, joined by a newline");
	free(r);
	free(sys);

	struct dialect_turns plain = TOY;
	plain.lead = NULL;
	r = toy_convert(&plain,
	                "[{`role`:`tool`,`tool_call_id`:`c1`},{`role`:`user`,`content`:`u`},"
	                "{`role`:`tool`,`tool_call_id`:`c2`}]",
	                &sys);
	is_str(r,
	       "[{\"role\":\"user\",\"items\":[{\"result\":\"c1\"},{\"text\":\"u\"},{\"result\":\"c2\"}]}]",
	       "convert_messages: without lead, merged items keep their order");
	free(r);
	free(sys);

	static const struct {
		const char *msgs, *err;
	} errors[] = {
	    {"[{`content`:`x`}]", "message 0 has no role"},
	    {"[{`role`:`user`,`content`:`a`},{`role`:`critic`}]",
	     "message 1 has unsupported role \"critic\""},
	    {"[{`role`:`system`,`content`:`x`}]", "request has no user or assistant messages"},
	    {"[{`role`:`system`,`content`:[{`type`:`image_url`}]}]",
	     "message 0: system content part 0 has unsupported type \"image_url\""},
	    {"[{`role`:`user`,`content`:5}]", "message 0: content must be a string or an array of parts"},
	    {"[{`role`:`user`,`content`:[{`text`:`x`}]}]", "message 0: content part 0 has no type"},
	    {"[{`role`:`user`,`content`:[{`type`:`text`}]}]", "message 0: text part 0 has no text"},
	    {"[{`role`:`user`,`content`:[`a`,{`type`:`video`}]}]",
	     "message 0: content part 1 has unsupported type \"video\""},
	    {"[{`role`:`user`,`content`:[{`type`:`bad`}]}]", "message 0: part 0 is bad"},
	    {"[{`role`:`assistant`,`content`:5}]",
	     "message 0: assistant content must be a string or an array of parts"},
	    {"[{`role`:`assistant`,`tool_calls`:{}}]", "message 0: tool_calls must be an array"},
	    {"[{`role`:`assistant`,`tool_calls`:[{`id`:`a`},{}]}]", "message 0: call 1 has no id"},
	    {"[{`role`:`user`,`content`:`a`},{`role`:`tool`}]", "message 1: no id"},
	};
	for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
		r = toy_convert(&TOY, errors[i].msgs, &sys);
		is_str(r, errors[i].err, "convert_messages: %s", errors[i].msgs);
		free(r);
		free(sys);
	}
}

static void test_canonical_helpers(void)
{
	json_object *v = J("{`s`:`{\\`a\\`:1}`,`o`:{`a`:[1]},`b`:`[1]`,`n`:3}");
	json_object *a = dialect_arguments_string(jp(v, "s"));
	ok(a == jp(v, "s"), "arguments_string: a string is used as is");
	json_object_put(a);
	a = dialect_arguments_string(jp(v, "o"));
	is_str(json_object_get_string(a), "{\"a\":[1]}", "arguments_string: an object is serialised");
	json_object_put(a);
	ok(!dialect_arguments_string(jp(v, "n")) && !dialect_arguments_string(NULL),
	   "arguments_string: other values give NULL");
	a = dialect_arguments_object(jp(v, "s"));
	is_str(dump(a), "{\"a\":1}", "arguments_object: a string is parsed");
	json_object_put(a);
	a = dialect_arguments_object(jp(v, "o"));
	ok(a == jp(v, "o"), "arguments_object: an object is used as is");
	json_object_put(a);
	a = dialect_arguments_object(jp(v, "b"));
	is_str(dump(a), "{}", "arguments_object: a string that is not an object gives {}");
	json_object_put(a);
	a = dialect_arguments_object(NULL);
	is_str(dump(a), "{}", "arguments_object: nothing gives {}");
	json_object_put(a);
	json_object_put(v);

	struct buf b = BUF_INIT;
	v = J("[{`text`:`a`},{`x`:1},`s`,{`text`:2},{`text`:`b`}]");
	dialect_join_texts(v, &b);
	dialect_join_texts(NULL, &b);
	is_str(buf_str(&b), "ab", "join_texts: the text strings of the elements");
	json_object_put(v);

	json_object *c = dialect_tool_call_new(2, "id1", "call_", "f", json_object_new_string("{}"));
	is_str(dump(c),
	       "{\"index\":2,\"id\":\"id1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":"
	       "\"{}\"}}",
	       "tool_call_new: the canonical shape");
	json_object_put(c);
	c = dialect_tool_call_new(-1, "", "toolu_", NULL, NULL);
	ok(!jhas(c, "index") && strncmp(js(c, "id"), "toolu_", 6) == 0 && strlen(js(c, "id")) == 30 &&
	       strcmp(js(c, "function.name"), "") == 0 && strcmp(js(c, "function.arguments"), "") == 0,
	   "tool_call_new: no index, a minted id, empty name and arguments");

	json_object *calls = json_object_new_array();
	json_object_array_add(calls, c);
	json_object *m = dialect_message_new(NULL, &b, calls);
	ok(jhas(m, "content") && !jp(m, "content") && strcmp(js(m, "reasoning_content"), "ab") == 0 &&
	       jlen(m, "tool_calls") == 1 && strcmp(js(m, "role"), "assistant") == 0,
	   "message_new: calls and no text give null content");
	struct buf empty = BUF_INIT;
	json_object *m2 = dialect_message_new(&empty, NULL, json_object_new_array());
	is_str(dump(m2), "{\"role\":\"assistant\",\"content\":\"\"}",
	       "message_new: text (even empty) is kept; empty calls and reasoning left out");
	json_object_put(m2);
	m2 = dialect_message_new(NULL, NULL, NULL);
	is_str(dump(m2), "{\"role\":\"assistant\",\"content\":\"\"}", "message_new: nothing at all");
	json_object_put(m2);
	buf_free(&b);

	json_object *r = dialect_completion_new("x", 5, "m");
	dialect_completion_add_choice(r, 3, m, "tool_calls");
	ok(ji(r, "choices.0.index") == 3 && jp(r, "choices.0.message") == m &&
	       strcmp(js(r, "choices.0.finish_reason"), "tool_calls") == 0,
	   "completion_add_choice: index, message, finish_reason");
	json_object_put(r);

	static const struct {
		const char *body, *text;
	} errs[] = {
	    {"{`error`:{`type`:`t`,`message`:`m`}}", "t: m"},
	    {"{`error`:{`type`:`m`,`message`:`m`}}", "m"},
	    {"{`error`:`plain`}", "plain"},
	    {"{`ok`:1}", "upstream returned an error"},
	};
	for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
		v = J(errs[i].body);
		char *t = dialect_error_text(v);
		is_str(t, errs[i].text, "error_text: %s", errs[i].body);
		free(t);
		json_object_put(v);
	}
}

static void test_stream_helpers(void)
{
	struct run r;
	run_init(&r);
	struct stream_decoder *sd = stream_decoder_new(DIALECT_OPENAI, "m", run_cb, &r);
	int rc = 99;
	ok(!dialect_event_object(sd, " \n", 2, &rc) && rc == STREAM_OK, "event_object: blank data");
	ok(!dialect_event_object(sd, " [DONE]", 7, &rc) && rc == STREAM_DONE, "event_object: [DONE]");
	json_object *o = dialect_event_object(sd, "\t{\"a\":1} ", 9, &rc);
	ok(o && rc == STREAM_OK && ji(o, "a") == 1, "event_object: an object");
	json_object_put(o);
	ok(!sd->failed, "event_object: the decoder is still fine");
	rc = dialect_emit_tool_call(sd, 1, dialect_tool_call_new(0, "c", "call_", "f", NULL));
	ok(rc == 0 && jlen(r.chunks, "") == 1 && ji(r.chunks, "0.choices.0.index") == 1 &&
	       strcmp(js(r.chunks, "0.choices.0.delta.tool_calls.0.id"), "c") == 0 &&
	       strcmp(js(r.chunks, "0.choices.0.delta.role"), "assistant") == 0,
	   "emit_tool_call: one tool call delta on the choice");
	ok(!dialect_event_object(sd, "[1]", 3, &rc) && rc == STREAM_ERROR, "event_object: not an object");
	is_str(stream_decoder_error(sd), "upstream sent an unreadable stream event",
	       "event_object: fails the decoder");
	is_int(stream_decoder_error_status(sd), 502, "event_object: status 502");
	stream_decoder_free(sd);
	run_free(&r);
}

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static const char *const ALTERNATIVES[] = {
    "null",
    "0",
    "-1",
    "1e300",
    "2147483648",
    "-9223372036854775808",
    "18446744073709551615",
    "0.5",
    "\"\"",
    "\"x\"",
    "true",
    "[]",
    "{}",
    "[1,\"a\",{},null]",
    "{\"type\":\"text\",\"text\":1}",
};
#define N_ALT (sizeof ALTERNATIVES / sizeof ALTERNATIVES[0])

static bool valid_rc(int rc)
{
	return rc == STREAM_OK || rc == STREAM_DONE || rc == STREAM_ERROR;
}

/* Every event of the stream, every node of its JSON, every alternative
 * value: the decoder must return a valid code and emit only canonical
 * chunks. ASan/UBSan catch the rest. */
static void fuzz_stream_mutations(enum dialect d, const char *sse, const char *name)
{
	struct evlist l = {0};
	parse_sse(sse, &l);
	size_t runs = 0, bad = 0, shape = 0;
	for (size_t e = 0; e < l.n; e++) {
		json_object *orig = json_tokener_parse(l.v[e].data);
		if (!orig)
			continue;
		size_t nodes = count_nodes(orig) - 1; /* below the root */
		char *saved = l.v[e].data;
		for (size_t node = 0; node < nodes; node++) {
			for (size_t alt = 0; alt < N_ALT; alt++) {
				json_object *m = mutated(orig, node + 1, ALTERNATIVES[alt]);
				l.v[e].data = (char *)dump(m);
				struct run r;
				run_init(&r);
				run_events(d, &l, true, &r);
				runs++;
				if (!valid_rc(r.rc_events) || !valid_rc(r.rc_finish))
					bad++;
				shape += (size_t)r.shape_bad;
				if (r.rc_finish == STREAM_ERROR && (!r.error || !*r.error))
					bad++;
				run_free(&r);
				json_object_put(m);
			}
		}
		/* the whole event replaced by each alternative */
		for (size_t alt = 0; alt < N_ALT; alt++) {
			l.v[e].data = (char *)ALTERNATIVES[alt];
			struct run r;
			run_init(&r);
			run_events(d, &l, true, &r);
			runs++;
			if (!valid_rc(r.rc_events) || !valid_rc(r.rc_finish))
				bad++;
			shape += (size_t)r.shape_bad;
			run_free(&r);
		}
		l.v[e].data = saved;
		json_object_put(orig);
	}
	ok(bad == 0 && shape == 0,
	   "fuzz %s: %zu mutated streams decode safely (%zu bad codes, %zu shape errors)", name, runs, bad,
	   shape);
	evlist_free(&l);
}

/* Each event cut at every length, and random bytes. */
static void fuzz_stream_garbage(enum dialect d, const char *sse, const char *name)
{
	struct evlist l = {0};
	parse_sse(sse, &l);
	size_t runs = 0, bad = 0;
	for (size_t e = 0; e < l.n; e++) {
		size_t len = strlen(l.v[e].data);
		for (size_t cut = 0; cut < len; cut++) {
			struct run r;
			run_init(&r);
			struct stream_decoder *sd = stream_decoder_new(d, "m", run_cb, &r);
			int rc = STREAM_OK;
			for (size_t k = 0; k < e && rc == STREAM_OK; k++)
				rc = stream_decoder_event(sd, l.v[k].event, l.v[k].data, strlen(l.v[k].data));
			/* A truncated buffer with no NUL after it, so an
			 * over-read shows up under ASan. */
			char *piece = xmalloc(cut ? cut : 1);
			memcpy(piece, l.v[e].data, cut);
			rc = stream_decoder_event(sd, l.v[e].event, piece, cut);
			free(piece);
			if (!valid_rc(rc) || !valid_rc(stream_decoder_finish(sd)))
				bad++;
			bad += (size_t)r.shape_bad;
			stream_decoder_free(sd);
			run_free(&r);
			runs++;
		}
	}
	static const char *const names[] = {NULL,    "message_start", "content_block_delta",
	                                    "error", "message_stop",  "ping"};
	for (int i = 0; i < 2000; i++) {
		struct run r;
		run_init(&r);
		struct stream_decoder *sd = stream_decoder_new(d, "m", run_cb, &r);
		for (int k = 0; k < 4; k++) {
			size_t len = rng() % 64;
			unsigned char *p = xmalloc(len ? len : 1);
			for (size_t j = 0; j < len; j++)
				p[j] = (unsigned char)rng();
			if (len && k % 2)
				p[0] = '{';
			int rc = stream_decoder_event(sd, names[rng() % 6], (const char *)p, len);
			free(p);
			if (!valid_rc(rc))
				bad++;
		}
		if (!valid_rc(stream_decoder_finish(sd)))
			bad++;
		bad += (size_t)r.shape_bad;
		stream_decoder_free(sd);
		run_free(&r);
		runs++;
	}
	ok(bad == 0, "fuzz %s: %zu truncated/random feeds decode safely", name, runs);
	evlist_free(&l);
}

static void fuzz_egress(void)
{
	static const char *const canons[] = {
	    TOOL_CONVERSATION,
	    "{`model`:`m`,`messages`:[{`role`:`user`,`content`:[{`type`:`text`,`text`:`a`},"
	    "{`type`:`image_url`,`image_url`:{`url`:`data:image/png;base64,AAAA`}},"
	    "{`type`:`file`,`file`:{`filename`:`a.pdf`,`file_data`:`data:application/pdf;base64,JVB`}}]}],"
	    "`tools`:[{`type`:`function`,`function`:{`name`:`f`,`parameters`:{`type`:`object`}}}],"
	    "`tool_choice`:{`type`:`function`,`function`:{`name`:`f`}},`parallel_tool_calls`:false,"
	    "`reasoning_effort`:`high`,`response_format`:{`type`:`json_schema`,`json_schema`:{`schema`:{`"
	    "type`:`object`}}},"
	    "`n`:1,`seed`:3,`stop`:[`x`],`stream_options`:{`include_usage`:false}}",
	};
	size_t runs = 0, bad = 0;
	for (size_t c = 0; c < sizeof canons / sizeof canons[0]; c++) {
		json_object *orig = J(canons[c]);
		size_t nodes = count_nodes(orig) - 1; /* below the root */
		for (size_t node = 0; node < nodes; node++) {
			for (size_t alt = 0; alt < N_ALT; alt++) {
				json_object *m = mutated(orig, node + 1, ALTERNATIVES[alt]);
				for (int d = 0; d < DIALECT_COUNT; d++) {
					struct egress_opts o = {
					    .model = "m", .stream = (node & 1), .default_max_tokens = 0};
					char *err = NULL;
					char *before = xstrdup(dump(m));
					json_object *r = dialect_build_request((enum dialect)d, m, &o, &err);
					if (strcmp(before, dump(m)) != 0)
						canon_modified++;
					free(before);
					if ((r == NULL) == (err == NULL))
						bad++;
					if (r && !json_object_to_json_string(r))
						bad++;
					json_object_put(r);
					free(err);
					runs++;
				}
				json_object_put(m);
			}
		}
		json_object_put(orig);
	}
	ok(bad == 0, "fuzz egress: %zu mutated requests give a body or an error, never both or neither",
	   runs);
}

static void fuzz_responses(void)
{
	static const struct {
		enum dialect d;
		const char *body;
	} bodies[] = {
	    {DIALECT_OPENAI,
	     "{`id`:`x`,`created`:1,`model`:`m`,`choices`:[{`index`:0,`message`:{`role`:`assistant`,`content`"
	     ":`hi`,"
	     "`reasoning_content`:`r`,`tool_calls`:[{`id`:`c`,`type`:`function`,`function`:{`name`:`f`,`"
	     "arguments`:`{}`}}]},"
	     "`finish_reason`:`stop`}],`usage`:{`prompt_tokens`:1,`completion_tokens`:2,`total_tokens`:3,"
	     "`prompt_tokens_details`:{`cached_tokens`:0}}}"},
	    {DIALECT_ANTHROPIC,
	     "{`id`:`msg`,`type`:`message`,`model`:`m`,`content`:[{`type`:`thinking`,`thinking`:`t`},{`type`:"
	     "`text`,`text`:`a`},"
	     "{`type`:`tool_use`,`id`:`t`,`name`:`n`,`input`:{`a`:[1]}}],`stop_reason`:`tool_use`,"
	     "`usage`:{`input_tokens`:1,`output_tokens`:2,`cache_read_input_tokens`:3,`output_tokens_details`"
	     ":{`thinking_tokens`:1}}}"},
	    {DIALECT_GEMINI, "{`candidates`:[{`content`:{`parts`:[{`text`:`a`},{`text`:`t`,`thought`:true},{`"
	                     "functionCall`:{`name`:`f`,`args`:{}},"
	                     "`thoughtSignature`:`s`}]},`finishReason`:`STOP`,`index`:0}],`promptFeedback`:{`"
	                     "blockReason`:`SAFETY`},"
	                     "`usageMetadata`:{`promptTokenCount`:1,`candidatesTokenCount`:2,`"
	                     "thoughtsTokenCount`:3},`responseId`:`r`,`modelVersion`:`v`}"},
	};
	size_t runs = 0, bad = 0;
	for (size_t b = 0; b < sizeof bodies / sizeof bodies[0]; b++) {
		json_object *orig = J(bodies[b].body);
		size_t nodes = count_nodes(orig) - 1; /* below the root */
		for (size_t node = 0; node < nodes; node++) {
			for (size_t alt = 0; alt < N_ALT; alt++) {
				json_object *m = mutated(orig, node + 1, ALTERNATIVES[alt]);
				char *err = NULL;
				json_object *r = dialect_response_to_canonical(bodies[b].d, m, "m", &err);
				if ((r == NULL) == (err == NULL))
					bad++;
				if (r && (!js(r, "id") || !js(r, "model") || jlen(r, "choices") < 0))
					bad++;
				json_object_put(r);
				free(err);
				json_object_put(m);
				runs++;
			}
		}
		json_object_put(orig);
	}
	ok(bad == 0, "fuzz responses: %zu mutated bodies convert or fail cleanly", runs);
}

static void fuzz_errors(void)
{
	size_t bad = 0;
	for (int i = 0; i < 3000; i++) {
		size_t len = rng() % 200;
		char *p = xmalloc(len ? len : 1);
		for (size_t j = 0; j < len; j++)
			p[j] = (char)(rng() % 4 ? " {}[]\":,errormessagetype<>\\u00e9\n"[rng() % 34]
			                        : (char)rng());
		struct upstream_error e;
		upstream_error_parse((int)(rng() % 600), p, len, &e);
		if (!e.message || strchr(e.message, '\n'))
			bad++;
		upstream_error_clear(&e);
		free(p);
	}
	ok(bad == 0, "fuzz errors: random bodies always give a one-line message");
}

int main(void)
{
	test_names();
	test_openai_egress();
	test_anthropic_egress_conversation();
	test_anthropic_egress_fields();
	test_anthropic_egress_media();
	test_gemini_egress_conversation();
	test_gemini_egress_fields();
	test_openai_decoder();
	test_anthropic_decoder();
	test_gemini_decoder();
	test_responses();
	test_upstream_errors();
	test_json_and_request_helpers();
	test_media_helpers();
	test_convert_messages();
	test_canonical_helpers();
	test_stream_helpers();

	fuzz_stream_mutations(DIALECT_OPENAI, OPENAI_TEXT_STREAM, "openai text");
	fuzz_stream_mutations(DIALECT_OPENAI, OPENAI_QUIRKS_STREAM, "openai quirks");
	fuzz_stream_mutations(DIALECT_ANTHROPIC, ANTHROPIC_FIXTURE, "anthropic §2.5");
	fuzz_stream_mutations(DIALECT_ANTHROPIC, ANTHROPIC_THINKING, "anthropic thinking");
	fuzz_stream_mutations(DIALECT_GEMINI, GEMINI_TOOL_STREAM, "gemini tools");
	fuzz_stream_garbage(DIALECT_OPENAI, OPENAI_TOOL_STREAM, "openai");
	fuzz_stream_garbage(DIALECT_ANTHROPIC, ANTHROPIC_FIXTURE, "anthropic");
	fuzz_stream_garbage(DIALECT_GEMINI, GEMINI_TEXT_STREAM, "gemini");
	fuzz_egress();
	fuzz_responses();
	fuzz_errors();
	is_int(canon_modified, 0, "egress never modifies the canonical request");
	return tap_done();
}
