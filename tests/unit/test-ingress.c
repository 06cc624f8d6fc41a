/* test-ingress.c - unit tests for ingress.h: client requests of each
 * dialect converted to canonical field by field (and accepted by the
 * egress builders), stream encoders checked event by event after parsing
 * their output with sse.c, encoder output decoded again by the dialect.h
 * decoders (both halves must agree), whole responses, error bodies, and a
 * mutation/garbage loop that must never crash.
 *
 * Fixtures write '"' as '`' so that JSON reads like JSON; unq() turns them
 * back before use. */
#include "config.h"

#include "buf.h"
#include "dialect.h"
#include "ingress.h"
#include "sse.h"
#include "util.h"

#include "json-test.h"
#include "tap.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- request helpers ---------- */

static json_object *req(enum dialect d, const char *body_q, const char *url_model, bool url_stream,
                        char **err)
{
	json_object *body = J(body_q);
	char *before = xstrdup(dump(body));
	*err = NULL;
	json_object *r = ingress_request_to_canonical(d, body, url_model, url_stream, err);
	if (strcmp(before, dump(body)) != 0)
		printf("# request body was modified\n");
	free(before);
	json_object_put(body);
	if (!r && getenv("TI_DEBUG"))
		printf("# err: %s\n", *err ? *err : "(null)");
	if (r && getenv("TI_DEBUG"))
		printf("# canon: %s\n", dump(r));
	return r;
}

/* Expects an error whose message contains want. */
static void req_fails(enum dialect d, const char *body_q, const char *url_model, const char *want,
                      const char *name)
{
	char *err = NULL;
	json_object *r = req(d, body_q, url_model, false, &err);
	ok(!r && err && strstr(err, want), "%s (%s)", name, err ? err : "no error");
	json_object_put(r);
	free(err);
}

static json_object *egress(enum dialect d, json_object *canon, char **err)
{
	struct egress_opts o = {.model = "up-model", .stream = false, .default_max_tokens = 1000};
	*err = NULL;
	return dialect_build_request(d, canon, &o, err);
}

/* ---------- SSE helpers ---------- */

struct ev {
	char *event;
	char *data;
	json_object *json; /* NULL when data is not JSON ([DONE]) */
};

struct evs {
	struct ev *v;
	size_t n;
	int bad_json; /* events whose data is neither JSON nor [DONE] */
};

static int collect_cb(const struct sse_event *ev, void *arg)
{
	struct evs *l = arg;
	l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	struct ev *e = &l->v[l->n++];
	e->event = ev->event ? xstrdup(ev->event) : NULL;
	e->data = xstrndup(ev->data, ev->data_len);
	e->json = NULL;
	if (strcmp(e->data, "[DONE]") != 0) {
		e->json = json_tokener_parse(e->data);
		if (!e->json)
			l->bad_json++;
	}
	return 0;
}

static void sse_parse(const struct buf *b, struct evs *l)
{
	memset(l, 0, sizeof *l);
	struct sse_parser *p = sse_parser_new(collect_cb, l, 0);
	sse_parser_feed(p, b->data ? b->data : "", b->len);
	sse_parser_finish(p);
	sse_parser_free(p);
}

static void evs_free(struct evs *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].event);
		free(l->v[i].data);
		json_object_put(l->v[i].json);
	}
	free(l->v);
	memset(l, 0, sizeof *l);
}

/* Runs chunks (backtick JSON, NULL-terminated) through an encoder. */
static void encode(enum dialect d, bool include_usage, const char *const *chunks, bool finish,
                   struct buf *out)
{
	struct stream_encoder *e = stream_encoder_new(d, "client-model", include_usage);
	for (size_t i = 0; chunks[i]; i++) {
		json_object *c = J(chunks[i]);
		char *before = xstrdup(dump(c));
		stream_encoder_chunk(e, c, out);
		if (strcmp(before, dump(c)) != 0)
			printf("# chunk was modified\n");
		free(before);
		json_object_put(c);
	}
	if (finish)
		stream_encoder_finish(e, out);
	stream_encoder_free(e);
}

/* ---------- decoding encoder output again ---------- */

static int gather_cb(json_object *chunk, void *arg)
{
	json_object_array_add(arg, json_object_get(chunk));
	return 0;
}

/* Feeds the events of l to a decoder of dialect d and summarizes the
 * chunks it emits into s. Returns the first code other than STREAM_OK the
 * events gave (else STREAM_OK); *rc_finish (unless NULL) gets the code of
 * stream_decoder_finish. */
static int decode_again(enum dialect d, const struct evs *l, struct summary *s, int *rc_finish)
{
	json_object *chunks = json_object_new_array();
	struct stream_decoder *sd = stream_decoder_new(d, "m", gather_cb, chunks);
	int rc_events = STREAM_OK;
	for (size_t i = 0; i < l->n; i++) {
		int rc = stream_decoder_event(sd, l->v[i].event, l->v[i].data, strlen(l->v[i].data));
		if (rc != STREAM_OK) {
			rc_events = rc;
			break;
		}
	}
	int rcf = stream_decoder_finish(sd);
	if (rc_finish)
		*rc_finish = rcf;
	stream_decoder_free(sd);
	summarize(chunks, s);
	json_object_put(chunks);
	return rc_events;
}

/* Summarizes canonical chunk fixtures directly, for comparison. */
static void summarize_fixture(const char *const *chunks, struct summary *s)
{
	json_object *arr = json_object_new_array();
	for (size_t i = 0; chunks[i]; i++)
		json_object_array_add(arr, J(chunks[i]));
	summarize(arr, s);
	json_object_put(arr);
}

/* ---------- OpenAI requests ---------- */

static void test_openai_request(void)
{
	char *err;
	json_object *r = req(DIALECT_OPENAI,
	                     "{`model`:`gpt-x`,`messages`:[{`role`:`user`,`content`:`hi`}],`stream`:true,"
	                     "`x_custom`:{`a`:1},`temperature`:0.5}",
	                     NULL, false, &err);
	ok(r != NULL, "openai: valid request converts");
	is_str(js(r, "model"), "gpt-x", "openai: model kept");
	is_int(jb(r, "stream"), 1, "openai: stream kept");
	is_int(ji(r, "x_custom.a"), 1, "openai: unknown fields kept");
	ok(jd(r, "temperature") == 0.5, "openai: temperature kept");
	is_str(js(r, "messages.0.content"), "hi", "openai: messages kept");
	json_object_put(r);

	req_fails(DIALECT_OPENAI, "{`messages`:[]}", NULL, "model", "openai: missing model is an error");
	req_fails(DIALECT_OPENAI, "{`model`:``,`messages`:[]}", NULL, "model", "openai: empty model");
	req_fails(DIALECT_OPENAI, "{`model`:7,`messages`:[]}", NULL, "model", "openai: numeric model");
	req_fails(DIALECT_OPENAI, "{`model`:`m`,`messages`:{}}", NULL, "messages",
	          "openai: messages must be an array");
	req_fails(DIALECT_OPENAI, "{`model`:`m`}", NULL, "messages", "openai: missing messages");
	req_fails(DIALECT_OPENAI, "[1,2]", NULL, "object", "openai: body must be an object");
}

/* ---------- Anthropic requests ---------- */

static const char ANT_CONVERSATION[] =
    "{`model`:`claude-x`,`max_tokens`:1024,`stream`:true,"
    "`system`:[{`type`:`text`,`text`:`You are terse.`,`cache_control`:{`type`:`ephemeral`}},"
    "          {`type`:`text`,`text`:`Be kind.`}],"
    "`messages`:["
    " {`role`:`user`,`content`:`What's the weather in Paris and Rome?`},"
    " {`role`:`assistant`,`content`:["
    "   {`type`:`thinking`,`thinking`:`Two cities.`,`signature`:`sig==`},"
    "   {`type`:`redacted_thinking`,`data`:`xyz`},"
    "   {`type`:`text`,`text`:`Checking both.`},"
    "   {`type`:`tool_use`,`id`:`toolu_01A`,`name`:`get_weather`,`input`:{`location`:`Paris`}},"
    "   {`type`:`tool_use`,`id`:`toolu_01B`,`name`:`get_weather`,`input`:{`location`:`Rome`,`n`:[1,2]}}]},"
    " {`role`:`user`,`content`:["
    "   {`type`:`tool_result`,`tool_use_id`:`toolu_01A`,`content`:`14C cloudy`},"
    "   {`type`:`tool_result`,`tool_use_id`:`toolu_01B`,`is_error`:true,"
    "    `content`:[{`type`:`text`,`text`:`timeout`},{`type`:`text`,`text`:`retry later`}]},"
    "   {`type`:`text`,`text`:`Also suggest clothing.`}]}"
    "],"
    "`temperature`:0.3,`top_p`:0.9,`top_k`:40,`stop_sequences`:[`\\n\\nHuman:`,`END`],"
    "`metadata`:{`user_id`:`u-123`},`service_tier`:`auto`,`container`:`c1`}";

static void test_anthropic_request_conversation(void)
{
	char *err;
	json_object *r = req(DIALECT_ANTHROPIC, ANT_CONVERSATION, NULL, false, &err);
	ok(r != NULL, "anthropic: conversation converts");
	is_str(js(r, "model"), "claude-x", "anthropic: model");
	is_int(jb(r, "stream"), 1, "anthropic: stream");
	is_int(ji(r, "max_tokens"), 1024, "anthropic: max_tokens");
	ok(jd(r, "temperature") == 0.3, "anthropic: temperature");
	ok(jd(r, "top_p") == 0.9, "anthropic: top_p");
	ok(!jhas(r, "top_k"), "anthropic: top_k dropped");
	is_int(jlen(r, "stop"), 2, "anthropic: stop_sequences -> stop");
	is_str(js(r, "stop.0"), "\n\nHuman:", "anthropic: stop[0]");
	is_str(js(r, "user"), "u-123", "anthropic: metadata.user_id -> user");
	ok(!jhas(r, "service_tier") && !jhas(r, "container") && !jhas(r, "metadata"),
	   "anthropic: unknown fields ignored");

	is_int(jlen(r, "messages"), 6, "anthropic: system + user + assistant + 2 tool + user");
	is_str(js(r, "messages.0.role"), "system", "anthropic: system first");
	is_str(js(r, "messages.0.content"), "You are terse.\nBe kind.", "anthropic: system blocks joined");
	is_str(js(r, "messages.1.role"), "user", "anthropic: user turn");
	is_str(js(r, "messages.1.content"), "What's the weather in Paris and Rome?",
	       "anthropic: string content kept as string");

	json_object *a = jp(r, "messages.2");
	is_str(js(a, "role"), "assistant", "anthropic: assistant turn");
	is_str(js(a, "content"), "Checking both.",
	       "anthropic: assistant text, thinking dropped from content");
	is_str(js(a, "reasoning_content"), "Two cities.", "anthropic: thinking kept as reasoning_content");
	is_int(jlen(a, "tool_calls"), 2, "anthropic: parallel tool_use -> 2 tool_calls");
	is_str(js(a, "tool_calls.0.id"), "toolu_01A", "anthropic: tool id byte-exact");
	is_str(js(a, "tool_calls.0.type"), "function", "anthropic: tool call type");
	is_str(js(a, "tool_calls.0.function.name"), "get_weather", "anthropic: tool name");
	is_str(js(a, "tool_calls.0.function.arguments"), "{\"location\":\"Paris\"}",
	       "anthropic: arguments = serialized input");
	is_str(js(a, "tool_calls.1.id"), "toolu_01B", "anthropic: second tool id");
	is_str(js(a, "tool_calls.1.function.arguments"), "{\"location\":\"Rome\",\"n\":[1,2]}",
	       "anthropic: second arguments");

	is_str(js(r, "messages.3.role"), "tool", "anthropic: tool_result -> tool message");
	is_str(js(r, "messages.3.tool_call_id"), "toolu_01A", "anthropic: tool_call_id");
	is_str(js(r, "messages.3.content"), "14C cloudy", "anthropic: string result");
	is_str(js(r, "messages.4.role"), "tool", "anthropic: consecutive result -> second tool message");
	is_str(js(r, "messages.4.tool_call_id"), "toolu_01B", "anthropic: second tool_call_id");
	is_str(js(r, "messages.4.content"), "Error: timeout\nretry later",
	       "anthropic: is_error prefix, text blocks joined");
	is_str(js(r, "messages.5.role"), "user", "anthropic: remaining user text after the results");
	is_str(js(r, "messages.5.content"), "Also suggest clothing.", "anthropic: remaining text");

	/* The egress builders accept the result and restore the pairing. */
	json_object *up = egress(DIALECT_ANTHROPIC, r, &err);
	ok(up != NULL, "anthropic: canonical accepted by anthropic egress (%s)", err ? err : "ok");
	is_str(js(up, "messages.1.content.1.id"), "toolu_01A", "anthropic: egress tool_use id 1");
	is_str(js(up, "messages.1.content.2.id"), "toolu_01B", "anthropic: egress tool_use id 2");
	is_str(js(up, "messages.2.content.0.tool_use_id"), "toolu_01A", "anthropic: egress tool_result 1");
	is_str(js(up, "messages.2.content.1.tool_use_id"), "toolu_01B", "anthropic: egress tool_result 2");
	is_str(js(up, "messages.2.content.2.type"), "text", "anthropic: egress text after results");
	free(err);
	json_object_put(up);
	json_object *g = egress(DIALECT_GEMINI, r, &err);
	ok(g != NULL, "anthropic: canonical accepted by gemini egress (%s)", err ? err : "ok");
	is_str(js(g, "contents.2.parts.0.functionResponse.name"), "get_weather",
	       "anthropic: gemini egress finds the call name by id");
	free(err);
	json_object_put(g);
	json_object_put(r);
}

static void test_anthropic_request_media(void)
{
	char *err;
	json_object *r = req(
	    DIALECT_ANTHROPIC,
	    "{`model`:`c`,`max_tokens`:5,`messages`:[{`role`:`user`,`content`:["
	    " {`type`:`text`,`text`:`Describe.`},"
	    " {`type`:`image`,`source`:{`type`:`base64`,`media_type`:`image/png`,`data`:`iVBOR`}},"
	    " {`type`:`image`,`source`:{`type`:`url`,`url`:`https://x.test/cat.jpg`}},"
	    " {`type`:`document`,`title`:`a.pdf`,`source`:{`type`:`base64`,`media_type`:`application/pdf`,"
	    "`data`:`JVBER`}},"
	    " {`type`:`document`,`source`:{`type`:`base64`,`media_type`:`application/pdf`,`data`:`QQ`}},"
	    " {`type`:`document`,`source`:{`type`:`text`,`media_type`:`text/plain`,`data`:`plain doc`}},"
	    " {`type`:`search_result`,`source`:`x`,`title`:`t`,`content`:[]}"
	    "]}]}",
	    NULL, false, &err);
	ok(r != NULL, "anthropic media: converts");
	json_object *c = jp(r, "messages.0.content");
	is_int(jlen(c, ""), 6, "anthropic media: six parts (unknown block skipped)");
	is_str(js(c, "0.type"), "text", "anthropic media: text part");
	is_str(js(c, "1.type"), "image_url", "anthropic media: base64 image -> image_url");
	is_str(js(c, "1.image_url.url"), "data:image/png;base64,iVBOR", "anthropic media: data URL");
	is_str(js(c, "2.image_url.url"), "https://x.test/cat.jpg", "anthropic media: url image");
	is_str(js(c, "3.type"), "file", "anthropic media: PDF -> file part");
	is_str(js(c, "3.file.file_data"), "data:application/pdf;base64,JVBER", "anthropic media: file_data");
	is_str(js(c, "3.file.filename"), "a.pdf", "anthropic media: title -> filename");
	is_str(js(c, "4.file.filename"), "document.pdf", "anthropic media: default filename");
	is_str(js(c, "5.text"), "plain doc", "anthropic media: text document -> text");
	json_object *up = egress(DIALECT_ANTHROPIC, r, &err);
	is_str(js(up, "messages.0.content.1.source.data"), "iVBOR", "anthropic media: egress image back");
	is_str(js(up, "messages.0.content.3.type"), "document", "anthropic media: egress document back");
	is_str(js(up, "messages.0.content.3.source.data"), "JVBER", "anthropic media: egress PDF data");
	free(err);
	json_object_put(up);
	json_object_put(r);

	/* An image inside a tool result moves to the user message after it. */
	r = req(DIALECT_ANTHROPIC,
	        "{`model`:`c`,`messages`:[{`role`:`assistant`,`content`:[{`type`:`tool_use`,`id`:`t1`,"
	        "`name`:`shot`,`input`:{}}]},{`role`:`user`,`content`:[{`type`:`tool_result`,"
	        "`tool_use_id`:`t1`,`content`:[{`type`:`text`,`text`:`see image`},{`type`:`image`,"
	        "`source`:{`type`:`base64`,`media_type`:`image/gif`,`data`:`R0lG`}}]}]}]}",
	        NULL, false, &err);
	is_str(js(r, "messages.0.content"), NULL, "anthropic: tool-only assistant has null content");
	ok(jnull(r, "messages.0.content"), "anthropic: content is JSON null");
	is_str(js(r, "messages.1.content"), "see image", "anthropic: tool result text");
	is_str(js(r, "messages.2.role"), "user", "anthropic: tool result image -> user message");
	is_str(js(r, "messages.2.content.0.image_url.url"), "data:image/gif;base64,R0lG",
	       "anthropic: tool result image kept");
	json_object_put(r);

	req_fails(DIALECT_ANTHROPIC,
	          "{`model`:`c`,`messages`:[{`role`:`user`,`content`:[{`type`:`image`,`source`:{`type`:`file`"
	          "}}]}]}",
	          NULL, "messages.0.content.0", "anthropic: unsupported image source names the block");
	req_fails(
	    DIALECT_ANTHROPIC,
	    "{`model`:`c`,`messages`:[{`role`:`user`,`content`:[{`type`:`document`,`source`:{`type`:`url`,"
	    "`url`:`https://x/a.pdf`}}]}]}",
	    NULL, "url", "anthropic: document url source is an error");
}

static void test_anthropic_request_params(void)
{
	char *err;
	json_object *r = req(DIALECT_ANTHROPIC,
	                     "{`model`:`c`,`messages`:[],`tools`:["
	                     " {`name`:`get_weather`,`description`:`Weather`,`input_schema`:{`type`:`object`,"
	                     "`properties`:{`location`:{`type`:`string`}},`required`:[`location`]}},"
	                     " {`name`:`noargs`,`type`:`custom`}],"
	                     "`tool_choice`:{`type`:`any`,`disable_parallel_tool_use`:true},"
	                     "`thinking`:{`type`:`enabled`,`budget_tokens`:2048}}",
	                     NULL, false, &err);
	ok(r != NULL, "anthropic params: converts");
	is_int(jlen(r, "tools"), 2, "anthropic params: two tools");
	is_str(js(r, "tools.0.type"), "function", "anthropic params: function tool");
	is_str(js(r, "tools.0.function.name"), "get_weather", "anthropic params: tool name");
	is_str(js(r, "tools.0.function.description"), "Weather", "anthropic params: description");
	is_str(js(r, "tools.0.function.parameters.required.0"), "location",
	       "anthropic params: input_schema -> parameters");
	is_str(js(r, "tools.1.function.parameters.type"), "object",
	       "anthropic params: missing schema -> empty object schema");
	is_str(js(r, "tool_choice"), "required", "anthropic params: any -> required");
	is_int(jb(r, "parallel_tool_calls"), 0, "anthropic params: disable_parallel_tool_use");
	is_str(js(r, "reasoning_effort"), "low", "anthropic params: budget 2048 -> low");
	ok(!jhas(r, "stream"), "anthropic params: no stream when absent");
	json_object_put(r);

	static const struct {
		const char *choice, *want;
	} choices[] = {
	    {"{`type`:`auto`}", "auto"},
	    {"{`type`:`none`}", "none"},
	    {"{`type`:`any`}", "required"},
	    {"{`type`:`brand_new`}", NULL},
	};
	for (size_t i = 0; i < sizeof choices / sizeof choices[0]; i++) {
		char *body = xasprintf("{`model`:`c`,`messages`:[],`tool_choice`:%s}", choices[i].choice);
		r = req(DIALECT_ANTHROPIC, body, NULL, false, &err);
		is_str(js(r, "tool_choice"), choices[i].want, "anthropic tool_choice %s", choices[i].choice);
		ok(!jhas(r, "parallel_tool_calls"), "anthropic tool_choice %s: parallel untouched",
		   choices[i].choice);
		json_object_put(r);
		free(body);
	}
	r = req(DIALECT_ANTHROPIC, "{`model`:`c`,`messages`:[],`tool_choice`:{`type`:`tool`,`name`:`f`}}",
	        NULL, false, &err);
	is_str(js(r, "tool_choice.type"), "function", "anthropic tool_choice tool -> function");
	is_str(js(r, "tool_choice.function.name"), "f", "anthropic tool_choice tool name");
	json_object_put(r);

	static const struct {
		long budget;
		const char *effort;
	} budgets[] = {{1024, "low"},    {2048, "low"},  {2049, "medium"},
	               {8192, "medium"}, {8193, "high"}, {32000, "high"}};
	for (size_t i = 0; i < sizeof budgets / sizeof budgets[0]; i++) {
		char *body =
		    xasprintf("{`model`:`c`,`messages`:[],`thinking`:{`type`:`enabled`,`budget_tokens`:%ld}}",
		              budgets[i].budget);
		r = req(DIALECT_ANTHROPIC, body, NULL, false, &err);
		is_str(js(r, "reasoning_effort"), budgets[i].effort, "anthropic thinking %ld -> %s",
		       budgets[i].budget, budgets[i].effort);
		json_object_put(r);
		free(body);
	}
	r = req(DIALECT_ANTHROPIC, "{`model`:`c`,`messages`:[],`thinking`:{`type`:`disabled`}}", NULL, false,
	        &err);
	ok(r && !jhas(r, "reasoning_effort"), "anthropic thinking disabled -> no reasoning_effort");
	json_object_put(r);

	req_fails(DIALECT_ANTHROPIC,
	          "{`model`:`c`,`messages`:[],`tools`:[{`type`:`web_search_20250305`,`name`:`web_search`}]}",
	          NULL, "web_search", "anthropic: server tool is an error naming it");
	req_fails(DIALECT_ANTHROPIC, "{`messages`:[]}", NULL, "model", "anthropic: missing model");
	req_fails(DIALECT_ANTHROPIC, "{`model`:`c`,`messages`:`hi`}", NULL, "messages",
	          "anthropic: messages must be an array");
	req_fails(DIALECT_ANTHROPIC, "{`model`:`c`,`messages`:[{`role`:`user`,`content`:5}]}", NULL,
	          "messages.0", "anthropic: numeric content");
	req_fails(DIALECT_ANTHROPIC, "{`model`:`c`,`messages`:[{`role`:`tool`,`content`:`x`}]}", NULL, "role",
	          "anthropic: unknown role");
	req_fails(DIALECT_ANTHROPIC, "{`model`:`c`,`messages`:[7]}", NULL, "messages.0",
	          "anthropic: message must be an object");
	req_fails(
	    DIALECT_ANTHROPIC,
	    "{`model`:`c`,`messages`:[{`role`:`assistant`,`content`:[{`type`:`tool_use`,`name`:`f`}]}]}",
	    NULL, "id", "anthropic: tool_use without id");
	req_fails(DIALECT_ANTHROPIC,
	          "{`model`:`c`,`messages`:[{`role`:`user`,`content`:[{`type`:`tool_result`}]}]}", NULL,
	          "tool_use_id", "anthropic: tool_result without tool_use_id");
	req_fails(DIALECT_ANTHROPIC, "{`model`:`c`,`messages`:[],`max_tokens`:`many`}", NULL, "max_tokens",
	          "anthropic: max_tokens must be an integer");
	req_fails(DIALECT_ANTHROPIC, "{`model`:`c`,`messages`:[],`stop_sequences`:`x`}", NULL,
	          "stop_sequences", "anthropic: stop_sequences must be an array");
	req_fails(DIALECT_ANTHROPIC, "{`model`:`c`,`messages`:[],`temperature`:`hot`}", NULL, "temperature",
	          "anthropic: temperature must be a number");
	req_fails(DIALECT_ANTHROPIC, "{`model`:`c`,`messages`:[],`system`:5}", NULL, "system",
	          "anthropic: system must be text");
}

/* ---------- Gemini requests ---------- */

static const char GEM_CONVERSATION[] =
    "{`systemInstruction`:{`parts`:[{`text`:`You are terse.`},{`text`:`Be kind.`}]},"
    "`contents`:["
    " {`role`:`user`,`parts`:[{`text`:`Weather in Paris, Rome and the time?`},"
    "   {`inlineData`:{`mimeType`:`image/jpeg`,`data`:`/9j/`}},"
    "   {`inlineData`:{`mimeType`:`application/pdf`,`data`:`JVBER`}},"
    "   {`fileData`:{`mimeType`:`image/png`,`fileUri`:`https://x.test/a.png`}}]},"
    " {`role`:`model`,`parts`:[{`text`:`thinking...`,`thought`:true},{`text`:`Checking.`},"
    "   {`functionCall`:{`name`:`get_weather`,`args`:{`location`:`Paris`}},`thoughtSignature`:`SIG1`},"
    "   {`functionCall`:{`name`:`get_weather`,`args`:{`location`:`Rome`}}},"
    "   {`functionCall`:{`name`:`get_time`,`args`:{},`id`:`own-id`}}]},"
    " {`role`:`user`,`parts`:["
    "   {`functionResponse`:{`name`:`get_time`,`response`:{`time`:`noon`}}},"
    "   {`functionResponse`:{`name`:`get_weather`,`response`:{`temp`:14}}},"
    "   {`functionResponse`:{`name`:`get_weather`,`response`:{`temp`:20}}},"
    "   {`text`:`Thanks.`}]}"
    "],"
    "`generationConfig`:{`temperature`:0.4,`topP`:0.8,`topK`:10,`maxOutputTokens`:256,"
    " `stopSequences`:[`END`],`candidateCount`:2,`seed`:7,`presencePenalty`:0.1,`frequencyPenalty`:0.2,"
    " `thinkingConfig`:{`thinkingBudget`:8192}},"
    "`safetySettings`:[{`category`:`HARM_CATEGORY_HATE_SPEECH`,`threshold`:`BLOCK_NONE`}]}";

static void test_gemini_request_conversation(void)
{
	char *err;
	json_object *r = req(DIALECT_GEMINI, GEM_CONVERSATION, "models/gemini-x", true, &err);
	ok(r != NULL, "gemini: conversation converts");
	is_str(js(r, "model"), "gemini-x", "gemini: model from the URL, models/ stripped");
	is_int(jb(r, "stream"), 1, "gemini: stream from the URL");
	is_str(js(r, "messages.0.role"), "system", "gemini: systemInstruction -> system");
	is_str(js(r, "messages.0.content"), "You are terse.\nBe kind.", "gemini: system parts joined");

	json_object *u = jp(r, "messages.1");
	is_str(js(u, "role"), "user", "gemini: user turn");
	is_int(jlen(u, "content"), 4, "gemini: four user parts");
	is_str(js(u, "content.0.text"), "Weather in Paris, Rome and the time?", "gemini: text part");
	is_str(js(u, "content.1.image_url.url"), "data:image/jpeg;base64,/9j/", "gemini: inline image");
	is_str(js(u, "content.2.type"), "file", "gemini: inline PDF -> file part");
	is_str(js(u, "content.2.file.file_data"), "data:application/pdf;base64,JVBER",
	       "gemini: PDF data URL");
	is_str(js(u, "content.3.image_url.url"), "https://x.test/a.png", "gemini: fileData image -> url");

	json_object *a = jp(r, "messages.2");
	is_str(js(a, "role"), "assistant", "gemini: model -> assistant");
	is_str(js(a, "content"), "Checking.", "gemini: thought part dropped");
	ok(!jhas(a, "reasoning_content"), "gemini: no reasoning_content from thoughts");
	is_int(jlen(a, "tool_calls"), 3, "gemini: three functionCalls -> tool_calls");
	const char *id0 = js(a, "tool_calls.0.id");
	const char *id1 = js(a, "tool_calls.1.id");
	ok(id0 && str_has_prefix(id0, "call_") && strlen(id0) > 5, "gemini: synthesized id %s", id0);
	ok(id1 && id0 && strcmp(id0, id1) != 0, "gemini: distinct synthesized ids");
	is_str(js(a, "tool_calls.2.id"), "own-id", "gemini: a part's own id kept");
	is_str(js(a, "tool_calls.0.function.arguments"), "{\"location\":\"Paris\"}",
	       "gemini: args serialized");
	is_str(js(a, "tool_calls.0.extra_content.google.thought_signature"), "SIG1",
	       "gemini: thoughtSignature kept for replay");
	is_str(js(r, "messages.3.role"), "tool", "gemini: functionResponse -> tool message");
	is_str(js(r, "messages.3.tool_call_id"), "own-id", "gemini: response mapped by name to own id");
	is_str(js(r, "messages.3.content"), "{\"time\":\"noon\"}", "gemini: content = serialized response");
	is_str(js(r, "messages.4.tool_call_id"), id0, "gemini: first get_weather response -> first call id");
	is_str(js(r, "messages.4.content"), "{\"temp\":14}", "gemini: first response content");
	is_str(js(r, "messages.5.tool_call_id"), id1,
	       "gemini: second get_weather response -> second call id");
	is_str(js(r, "messages.6.role"), "user", "gemini: remaining text after tool messages");
	is_str(js(r, "messages.6.content"), "Thanks.", "gemini: remaining text content");

	ok(jd(r, "temperature") == 0.4, "gemini: temperature");
	ok(jd(r, "top_p") == 0.8, "gemini: topP -> top_p");
	ok(!jhas(r, "top_k") && !jhas(r, "topK"), "gemini: topK dropped");
	is_int(ji(r, "max_tokens"), 256, "gemini: maxOutputTokens -> max_tokens");
	is_str(js(r, "stop.0"), "END", "gemini: stopSequences -> stop");
	is_int(ji(r, "n"), 2, "gemini: candidateCount -> n");
	is_int(ji(r, "seed"), 7, "gemini: seed");
	ok(jd(r, "presence_penalty") == 0.1, "gemini: presencePenalty");
	ok(jd(r, "frequency_penalty") == 0.2, "gemini: frequencyPenalty");
	is_str(js(r, "reasoning_effort"), "medium", "gemini: thinkingBudget 8192 -> medium");
	ok(!jhas(r, "safetySettings"), "gemini: safetySettings ignored");

	json_object *up = egress(DIALECT_GEMINI, r, &err);
	ok(up != NULL, "gemini: canonical accepted by gemini egress (%s)", err ? err : "ok");
	is_str(js(up, "contents.1.parts.1.thoughtSignature"), "SIG1", "gemini: egress replays the signature");
	is_str(js(up, "contents.2.parts.0.functionResponse.name"), "get_time",
	       "gemini: egress response name 1");
	is_str(js(up, "contents.2.parts.1.functionResponse.name"), "get_weather",
	       "gemini: egress response name 2");
	free(err);
	json_object_put(up);
	json_object_object_del(r, "n"); /* Anthropic serves one choice */
	json_object *an = egress(DIALECT_ANTHROPIC, r, &err);
	ok(an != NULL, "gemini: canonical accepted by anthropic egress (%s)", err ? err : "ok");
	is_str(js(an, "messages.2.content.1.tool_use_id"), id0, "gemini: anthropic egress pairs the ids");
	free(err);
	json_object_put(an);
	json_object_put(r);

	/* Responses that carry ids use them; snake_case spellings are read. */
	r = req(DIALECT_GEMINI,
	        "{`system_instruction`:{`parts`:[{`text`:`S`}]},`contents`:["
	        "{`role`:`model`,`parts`:[{`function_call`:{`name`:`f`,`args`:{`a`:1},`id`:`x1`}},"
	        "{`functionCall`:{`name`:`f`,`args`:{`a`:2},`id`:`x2`}}]},"
	        "{`role`:`user`,`parts`:[{`functionResponse`:{`name`:`f`,`id`:`x2`,`response`:{`r`:2}}},"
	        "{`function_response`:{`name`:`f`,`response`:{`r`:1}}},"
	        "{`inline_data`:{`mime_type`:`image/png`,`data`:`AA`}}]}],"
	        "`generation_config`:{`max_output_tokens`:9,`stop_sequences`:[`s`]}}",
	        "gm", false, &err);
	ok(r != NULL, "gemini snake: converts");
	is_int(jb(r, "stream"), 0, "gemini snake: stream false from the URL");
	is_str(js(r, "messages.0.content"), "S", "gemini snake: system_instruction");
	is_str(js(r, "messages.1.tool_calls.0.id"), "x1", "gemini snake: function_call id");
	is_str(js(r, "messages.2.tool_call_id"), "x2", "gemini snake: explicit response id");
	is_str(js(r, "messages.3.tool_call_id"), "x1", "gemini snake: unanswered call by name");
	is_str(js(r, "messages.4.content.0.image_url.url"), "data:image/png;base64,AA",
	       "gemini snake: inline_data (a lone image stays a part)");
	is_int(ji(r, "max_tokens"), 9, "gemini snake: max_output_tokens");
	is_str(js(r, "stop.0"), "s", "gemini snake: stop_sequences");
	json_object_put(r);
}

static void test_gemini_request_params(void)
{
	char *err;
	json_object *r =
	    req(DIALECT_GEMINI,
	        "{`contents`:[{`parts`:[{`text`:`hi`}]}],`tools`:[{`functionDeclarations`:["
	        " {`name`:`get_weather`,`description`:`W`,`parameters`:{`type`:`OBJECT`,`properties`:{"
	        "   "
	        "`loc`:{`type`:`STRING`},`days`:{`type`:`ARRAY`,`items`:{`type`:`INTEGER`}}},`required`:[`"
	        "loc`]}},"
	        " {`name`:`raw`,`parametersJsonSchema`:{`type`:`object`,`additionalProperties`:false}}]},"
	        " {`function_declarations`:[{`name`:`bare`}]}],"
	        "`toolConfig`:{`functionCallingConfig`:{`mode`:`ANY`,`allowedFunctionNames`:[`raw`]}},"
	        "`generationConfig`:{`responseMimeType`:`application/json`,`responseSchema`:{`type`:`OBJECT`,"
	        " `properties`:{`temp`:{`type`:`NUMBER`}}},`thinkingConfig`:{`thinkingBudget`:0}}}",
	        "g", false, &err);
	ok(r != NULL, "gemini params: converts");
	is_str(js(r, "messages.0.role"), "user", "gemini params: role defaults to user");
	is_str(js(r, "messages.0.content"), "hi", "gemini params: lone text is a string");
	is_int(jlen(r, "tools"), 3, "gemini params: declarations from both spellings");
	is_str(js(r, "tools.0.function.name"), "get_weather", "gemini params: tool name");
	is_str(js(r, "tools.0.function.description"), "W", "gemini params: description");
	is_str(js(r, "tools.0.function.parameters.type"), "object", "gemini params: OBJECT -> object");
	is_str(js(r, "tools.0.function.parameters.properties.loc.type"), "string", "gemini params: STRING");
	is_str(js(r, "tools.0.function.parameters.properties.days.items.type"), "integer",
	       "gemini params: nested INTEGER");
	is_str(js(r, "tools.0.function.parameters.required.0"), "loc", "gemini params: required kept");
	is_int(jb(r, "tools.1.function.parameters.additionalProperties"), 0,
	       "gemini params: parametersJsonSchema as is");
	is_str(js(r, "tools.2.function.name"), "bare", "gemini params: function_declarations");
	is_str(js(r, "tools.2.function.parameters.type"), "object", "gemini params: no parameters -> object");
	is_str(js(r, "tool_choice.function.name"), "raw", "gemini params: ANY + one name -> named choice");
	is_str(js(r, "response_format.type"), "json_schema", "gemini params: responseSchema -> json_schema");
	is_str(js(r, "response_format.json_schema.schema.properties.temp.type"), "number",
	       "gemini params: response schema normalized");
	ok(js(r, "response_format.json_schema.name") != NULL, "gemini params: json_schema has a name");
	is_str(js(r, "reasoning_effort"), "none", "gemini params: thinkingBudget 0 -> none");
	json_object_put(r);

	static const struct {
		const char *cfg, *want;
	} modes[] = {
	    {"{`mode`:`AUTO`}", "auto"},
	    {"{`mode`:`NONE`}", "none"},
	    {"{`mode`:`ANY`}", "required"},
	    {"{`mode`:`ANY`,`allowedFunctionNames`:[`a`,`b`]}", "required"},
	    {"{`mode`:`SOMETHING_NEW`}", NULL},
	};
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		char *body =
		    xasprintf("{`contents`:[],`toolConfig`:{`functionCallingConfig`:%s}}", modes[i].cfg);
		r = req(DIALECT_GEMINI, body, "g", false, &err);
		is_str(js(r, "tool_choice"), modes[i].want, "gemini toolConfig %s", modes[i].cfg);
		json_object_put(r);
		free(body);
	}

	static const struct {
		const char *gc, *path, *want;
	} cfgs[] = {
	    {"{`responseMimeType`:`application/json`}", "response_format.type", "json_object"},
	    {"{`responseMimeType`:`application/json`,`responseJsonSchema`:{`type`:`object`,`x-k`:1}}",
	     "response_format.json_schema.schema.type", "object"},
	    {"{`thinkingConfig`:{`thinkingBudget`:1024}}", "reasoning_effort", "low"},
	    {"{`thinkingConfig`:{`thinkingBudget`:100000}}", "reasoning_effort", "high"},
	    {"{`thinkingConfig`:{`thinkingBudget`:-1}}", "reasoning_effort", NULL},
	    {"{`thinkingConfig`:{`thinkingLevel`:`HIGH`}}", "reasoning_effort", "high"},
	    {"{`responseMimeType`:`text/plain`}", "response_format.type", NULL},
	};
	for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
		char *body = xasprintf("{`contents`:[],`generationConfig`:%s}", cfgs[i].gc);
		r = req(DIALECT_GEMINI, body, "g", false, &err);
		is_str(js(r, cfgs[i].path), cfgs[i].want, "gemini generationConfig %s", cfgs[i].gc);
		json_object_put(r);
		free(body);
	}

	req_fails(DIALECT_GEMINI, "{`contents`:[]}", NULL, "model", "gemini: no model in the URL");
	req_fails(DIALECT_GEMINI, "{`contents`:[]}", "models/", "model", "gemini: empty model in the URL");
	req_fails(DIALECT_GEMINI, "{`contents`:{}}", "g", "contents", "gemini: contents must be an array");
	req_fails(DIALECT_GEMINI, "{`contents`:[{`parts`:5}]}", "g", "parts",
	          "gemini: parts must be an array");
	req_fails(DIALECT_GEMINI, "{`contents`:[`x`]}", "g", "contents[0]",
	          "gemini: content must be an object");
	req_fails(DIALECT_GEMINI, "{`contents`:[{`parts`:[7]}]}", "g", "parts[0]",
	          "gemini: part must be an object");
	req_fails(DIALECT_GEMINI, "{`contents`:[],`generationConfig`:{`temperature`:`hot`}}", "g",
	          "temperature", "gemini: temperature must be a number");
	req_fails(DIALECT_GEMINI, "{`contents`:[],`generationConfig`:{`stopSequences`:[1]}}", "g",
	          "stopSequences", "gemini: stopSequences must be strings");
	req_fails(DIALECT_GEMINI, "{`contents`:[],`tools`:[{`googleSearch`:{}}]}", "g", "googleSearch",
	          "gemini: built-in tool is an error naming it");
	req_fails(DIALECT_GEMINI, "{`contents`:[{`role`:`model`,`parts`:[{`functionCall`:{`args`:{}}}]}]}",
	          "g", "name", "gemini: functionCall without name");
	req_fails(DIALECT_GEMINI,
	          "{`contents`:[{`parts`:[{`inlineData`:{`mimeType`:`video/mp4`,`data`:`AA`}}]}]}", "g",
	          "video/mp4", "gemini: unsupported inline type names it");
	req_fails(DIALECT_GEMINI, "[]", "g", "object", "gemini: body must be an object");
}

/* ---------- OpenAI encoder ---------- */

static const char *const TEXT_STREAM[] = {
    "{`id`:`chatcmpl-1`,`object`:`chat.completion.chunk`,`created`:5,`model`:`up`,"
    "`choices`:[{`index`:0,`delta`:{`role`:`assistant`,`content`:``},`finish_reason`:null}]}",
    "{`id`:`chatcmpl-1`,`object`:`chat.completion.chunk`,`created`:5,`model`:`up`,"
    "`choices`:[{`index`:0,`delta`:{`content`:`Hel`},`finish_reason`:null}]}",
    "{`id`:`chatcmpl-1`,`object`:`chat.completion.chunk`,`created`:5,`model`:`up`,"
    "`choices`:[{`index`:0,`delta`:{`content`:`lo`},`finish_reason`:null}]}",
    "{`id`:`chatcmpl-1`,`object`:`chat.completion.chunk`,`created`:5,`model`:`up`,"
    "`choices`:[{`index`:0,`delta`:{},`finish_reason`:`stop`}]}",
    "{`id`:`chatcmpl-1`,`object`:`chat.completion.chunk`,`created`:5,`model`:`up`,`choices`:[],"
    "`usage`:{`prompt_tokens`:9,`completion_tokens`:2,`total_tokens`:11,"
    "`prompt_tokens_details`:{`cached_tokens`:4},`completion_tokens_details`:{`reasoning_tokens`:0}}}",
    NULL,
};

static void test_openai_encoder(void)
{
	struct buf out = BUF_INIT;
	struct evs l;
	encode(DIALECT_OPENAI, false, TEXT_STREAM, true, &out);
	sse_parse(&out, &l);
	is_int(l.n, 5, "openai enc: 4 chunks + [DONE] without include_usage");
	is_int(l.bad_json, 0, "openai enc: every data is JSON or [DONE]");
	is_str(js(l.v[0].json, "model"), "client-model", "openai enc: model replaced");
	is_str(js(l.v[0].json, "id"), "chatcmpl-1", "openai enc: id kept");
	is_str(js(l.v[1].json, "choices.0.delta.content"), "Hel", "openai enc: content kept");
	is_str(js(l.v[3].json, "choices.0.finish_reason"), "stop", "openai enc: finish kept");
	is_str(l.v[4].data, "[DONE]", "openai enc: [DONE] last");
	ok(l.v[0].event == NULL, "openai enc: no event names");
	ok(strstr(out.data, "data: {") == out.data, "openai enc: data lines");
	evs_free(&l);
	buf_reset(&out);

	encode(DIALECT_OPENAI, true, TEXT_STREAM, true, &out);
	sse_parse(&out, &l);
	is_int(l.n, 6, "openai enc: usage chunk with include_usage");
	is_int(jlen(l.v[4].json, "choices"), 0, "openai enc: usage chunk has choices []");
	is_int(ji(l.v[4].json, "usage.total_tokens"), 11, "openai enc: usage kept");
	is_str(js(l.v[4].json, "model"), "client-model", "openai enc: usage chunk model replaced");
	is_str(l.v[5].data, "[DONE]", "openai enc: [DONE] after usage");
	evs_free(&l);
	buf_reset(&out);

	struct stream_encoder *e = stream_encoder_new(DIALECT_OPENAI, "m", false);
	stream_encoder_finish(e, &out);
	size_t len = out.len;
	stream_encoder_finish(e, &out);
	is_int(out.len, len, "openai enc: finish is idempotent");
	stream_encoder_free(e);
	buf_reset(&out);

	e = stream_encoder_new(DIALECT_OPENAI, "m", true);
	json_object *c = J(TEXT_STREAM[1]);
	stream_encoder_chunk(e, c, &out);
	stream_encoder_error(e, 429, "slow down", &out);
	stream_encoder_chunk(e, c, &out);
	stream_encoder_finish(e, &out);
	json_object_put(c);
	stream_encoder_free(e);
	sse_parse(&out, &l);
	is_int(l.n, 2, "openai enc: nothing after an error");
	is_str(js(l.v[1].json, "error.message"), "slow down", "openai enc: error message");
	is_str(js(l.v[1].json, "error.type"), "rate_limit_error", "openai enc: error type");
	ok(jnull(l.v[1].json, "error.param"), "openai enc: error param null");
	evs_free(&l);
	buf_free(&out);
}

/* ---------- Anthropic encoder ---------- */

#define CH(delta, finish)                                                                                    \
	"{`id`:`chatcmpl-9`,`object`:`chat.completion.chunk`,`created`:5,`model`:`up`,"                      \
	"`choices`:[{`index`:0,`delta`:" delta ",`finish_reason`:" finish "}]}"

static const char *const FULL_STREAM[] = {
    CH("{`role`:`assistant`,`content`:``}", "null"),
    CH("{`reasoning_content`:`Let me `}", "null"),
    CH("{`reasoning_content`:`think.`}", "null"),
    CH("{`content`:`I'll check`}", "null"),
    CH("{`content`:` both.`}", "null"),
    CH("{`tool_calls`:[{`index`:0,`id`:`call_A`,`type`:`function`,`function`:{`name`:`get_weather`,"
       "`arguments`:``}}]}",
       "null"),
    CH("{`tool_calls`:[{`index`:0,`function`:{`arguments`:`{\\`loc`}}]}", "null"),
    CH("{`tool_calls`:[{`index`:0,`function`:{`arguments`:`\\`:\\`Paris\\`}`}}]}", "null"),
    CH("{`tool_calls`:[{`index`:1,`id`:`call_B`,`type`:`function`,`function`:{`name`:`get_time`,"
       "`arguments`:`{}`}}]}",
       "null"),
    CH("{}", "`tool_calls`"),
    "{`id`:`chatcmpl-9`,`object`:`chat.completion.chunk`,`created`:5,`model`:`up`,`choices`:[],"
    "`usage`:{`prompt_tokens`:100,`completion_tokens`:40,`total_tokens`:140,"
    "`prompt_tokens_details`:{`cached_tokens`:30},`completion_tokens_details`:{`reasoning_tokens`:12}}}",
    NULL,
};

struct want_ev {
	const char *event;
	long long index;  /* -1: no index */
	const char *what; /* content_block type or delta type */
};

static void check_events(const struct evs *l, const struct want_ev *w, size_t nw, const char *name)
{
	int bad = 0;
	if (l->n != nw) {
		printf("# %s: %zu events, want %zu\n", name, l->n, nw);
		bad++;
	}
	for (size_t i = 0; i < l->n && i < nw; i++) {
		json_object *d = l->v[i].json;
		const char *ev = l->v[i].event;
		if (!ev || strcmp(ev, w[i].event) != 0 || !js(d, "type") || strcmp(js(d, "type"), ev) != 0) {
			printf("# %s: event %zu is %s (%s), want %s\n", name, i, ev ? ev : "(none)",
			       js(d, "type") ? js(d, "type") : "-", w[i].event);
			bad++;
			continue;
		}
		if (w[i].index >= 0 && ji(d, "index") != w[i].index) {
			printf("# %s: event %zu index %lld, want %lld\n", name, i, ji(d, "index"),
			       w[i].index);
			bad++;
		}
		if (w[i].what) {
			const char *t = js(d, "content_block.type");
			if (!t)
				t = js(d, "delta.type");
			if (!t || strcmp(t, w[i].what) != 0) {
				printf("# %s: event %zu kind %s, want %s\n", name, i, t ? t : "-", w[i].what);
				bad++;
			}
		}
	}
	ok(bad == 0, "%s: exact event sequence (%zu events)", name, l->n);
}

static void test_anthropic_encoder(void)
{
	struct buf out = BUF_INIT;
	struct evs l;
	struct stream_encoder *e = stream_encoder_new(DIALECT_ANTHROPIC, "client-model", false);
	for (size_t i = 0; FULL_STREAM[i]; i++) {
		json_object *c = J(FULL_STREAM[i]);
		stream_encoder_chunk(e, c, &out);
		json_object_put(c);
	}
	size_t before_finish = out.len;
	stream_encoder_finish(e, &out);
	is_int(out.len, before_finish, "anthropic enc: the usage chunk already ended the message");
	stream_encoder_finish(e, &out);
	stream_encoder_free(e);
	sse_parse(&out, &l);
	static const struct want_ev want[] = {
	    {"message_start", -1, NULL},
	    {"content_block_start", 0, "thinking"},
	    {"content_block_delta", 0, "thinking_delta"},
	    {"content_block_delta", 0, "thinking_delta"},
	    {"content_block_stop", 0, NULL},
	    {"content_block_start", 1, "text"},
	    {"content_block_delta", 1, "text_delta"},
	    {"content_block_delta", 1, "text_delta"},
	    {"content_block_stop", 1, NULL},
	    {"content_block_start", 2, "tool_use"},
	    {"content_block_delta", 2, "input_json_delta"},
	    {"content_block_delta", 2, "input_json_delta"},
	    {"content_block_stop", 2, NULL},
	    {"content_block_start", 3, "tool_use"},
	    {"content_block_delta", 3, "input_json_delta"},
	    {"content_block_stop", 3, NULL},
	    {"message_delta", -1, NULL},
	    {"message_stop", -1, NULL},
	};
	check_events(&l, want, sizeof want / sizeof want[0], "anthropic enc");
	is_int(l.bad_json, 0, "anthropic enc: all data is JSON");
	json_object *ms = l.n > 0 ? l.v[0].json : NULL;
	is_str(js(ms, "message.id"), "msg_chatcmpl-9", "anthropic enc: msg_ id from the chunk id");
	is_str(js(ms, "message.type"), "message", "anthropic enc: message type");
	is_str(js(ms, "message.role"), "assistant", "anthropic enc: role");
	is_str(js(ms, "message.model"), "client-model", "anthropic enc: reported model");
	is_int(jlen(ms, "message.content"), 0, "anthropic enc: content []");
	ok(jnull(ms, "message.stop_reason"), "anthropic enc: stop_reason null");
	is_int(ji(ms, "message.usage.input_tokens"), 0, "anthropic enc: input_tokens 0 at start");
	is_int(ji(ms, "message.usage.output_tokens"), 0, "anthropic enc: output_tokens 0 at start");
	if (l.n == sizeof want / sizeof want[0]) {
		is_str(js(l.v[1].json, "content_block.thinking"), "", "anthropic enc: thinking starts empty");
		is_str(js(l.v[2].json, "delta.thinking"), "Let me ", "anthropic enc: thinking delta");
		ok(!strstr(out.data, "signature_delta"), "anthropic enc: no signature_delta");
		is_str(js(l.v[6].json, "delta.text"), "I'll check", "anthropic enc: text delta");
		is_str(js(l.v[5].json, "content_block.text"), "", "anthropic enc: text block starts empty");
		json_object *tb = jp(l.v[9].json, "content_block");
		is_str(js(tb, "id"), "call_A", "anthropic enc: tool id kept");
		is_str(js(tb, "name"), "get_weather", "anthropic enc: tool name");
		is_int(jlen(tb, "input"), 0, "anthropic enc: input {}");
		is_str(js(l.v[10].json, "delta.partial_json"), "{\"loc", "anthropic enc: partial_json 1");
		is_str(js(l.v[11].json, "delta.partial_json"), "\":\"Paris\"}",
		       "anthropic enc: partial_json 2");
		is_str(js(l.v[13].json, "content_block.id"), "call_B", "anthropic enc: second tool id");
		json_object *md = l.v[16].json;
		is_str(js(md, "delta.stop_reason"), "tool_use", "anthropic enc: tool_calls -> tool_use");
		ok(jnull(md, "delta.stop_sequence"), "anthropic enc: stop_sequence null");
		is_int(ji(md, "usage.output_tokens"), 40, "anthropic enc: output_tokens");
		is_int(ji(md, "usage.input_tokens"), 70, "anthropic enc: input_tokens = prompt - cached");
		is_int(ji(md, "usage.cache_read_input_tokens"), 30, "anthropic enc: cache_read_input_tokens");
	}
	ok(strstr(out.data, "event: message_start\ndata: {") == out.data,
	   "anthropic enc: event/data framing");

	/* The same stream decoded again gives what went in. */
	struct summary got, want_s;
	int rc = decode_again(DIALECT_ANTHROPIC, &l, &got, NULL);
	summarize_fixture(FULL_STREAM, &want_s);
	is_int(rc, STREAM_DONE, "anthropic round trip: decoder sees message_stop");
	is_str(buf_str(&got.content), buf_str(&want_s.content), "anthropic round trip: text");
	is_str(buf_str(&got.reasoning), buf_str(&want_s.reasoning), "anthropic round trip: reasoning");
	is_int(got.ntools, 2, "anthropic round trip: two tool calls");
	for (int t = 0; t < 2; t++) {
		is_str(got.tools[t].id, want_s.tools[t].id, "anthropic round trip: tool %d id", t);
		is_str(got.tools[t].name, want_s.tools[t].name, "anthropic round trip: tool %d name", t);
		is_str(buf_str(&got.tools[t].args), buf_str(&want_s.tools[t].args),
		       "anthropic round trip: tool %d args", t);
	}
	is_str(got.finish, "tool_calls", "anthropic round trip: finish");
	is_int(ji(got.usage, "prompt_tokens"), 100, "anthropic round trip: prompt_tokens");
	is_int(ji(got.usage, "completion_tokens"), 40, "anthropic round trip: completion_tokens");
	is_int(ji(got.usage, "total_tokens"), 140, "anthropic round trip: total_tokens");
	is_int(ji(got.usage, "prompt_tokens_details.cached_tokens"), 30, "anthropic round trip: cached");
	summary_free(&got);
	summary_free(&want_s);
	evs_free(&l);
	buf_reset(&out);

	/* No usage: the message ends at finish; the open block is closed. */
	static const char *const short_stream[] = {
	    CH("{`role`:`assistant`,`content`:`Hi`}", "null"),
	    CH("{`content`:` there`}", "`length`"),
	    NULL,
	};
	encode(DIALECT_ANTHROPIC, false, short_stream, false, &out);
	sse_parse(&out, &l);
	is_int(l.n, 5, "anthropic enc: without usage nothing ends before finish");
	evs_free(&l);
	buf_reset(&out);
	encode(DIALECT_ANTHROPIC, false, short_stream, true, &out);
	sse_parse(&out, &l);
	static const struct want_ev want2[] = {
	    {"message_start", -1, NULL},      {"content_block_start", 0, "text"},
	    {"content_block_delta", 0, NULL}, {"content_block_delta", 0, NULL},
	    {"content_block_stop", 0, NULL},  {"message_delta", -1, NULL},
	    {"message_stop", -1, NULL},
	};
	check_events(&l, want2, sizeof want2 / sizeof want2[0], "anthropic enc no usage");
	if (l.n == 7) {
		is_str(js(l.v[5].json, "delta.stop_reason"), "max_tokens",
		       "anthropic enc: length -> max_tokens");
		is_int(ji(l.v[5].json, "usage.output_tokens"), 0,
		       "anthropic enc: output_tokens 0 when unknown");
	}
	evs_free(&l);
	buf_reset(&out);

	/* Empty stream: a complete, empty message. */
	static const char *const empty[] = {NULL};
	encode(DIALECT_ANTHROPIC, false, empty, true, &out);
	sse_parse(&out, &l);
	static const struct want_ev want3[] = {
	    {"message_start", -1, NULL}, {"message_delta", -1, NULL}, {"message_stop", -1, NULL}};
	check_events(&l, want3, 3, "anthropic enc empty");
	ok(l.n > 0 && str_has_prefix(js(l.v[0].json, "message.id"), "msg_"), "anthropic enc: minted msg_ id");
	if (l.n == 3)
		is_str(js(l.v[1].json, "delta.stop_reason"), "end_turn",
		       "anthropic enc: no finish -> end_turn");
	evs_free(&l);
	buf_reset(&out);

	static const struct {
		const char *finish, *want;
	} reasons[] = {{"`stop`", "end_turn"},
	               {"`length`", "max_tokens"},
	               {"`tool_calls`", "tool_use"},
	               {"`content_filter`", "refusal"},
	               {"`something_new`", "end_turn"}};
	for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
		char *fin =
		    xasprintf("{`id`:`msg_keep`,`choices`:[{`index`:0,`delta`:{},`finish_reason`:%s}]}",
		              reasons[i].finish);
		const char *chunks[] = {
		    fin, "{`choices`:[],`usage`:{`prompt_tokens`:1,`completion_tokens`:1}}", NULL};
		encode(DIALECT_ANTHROPIC, false, chunks, false, &out);
		sse_parse(&out, &l);
		is_str(l.n == 3 ? js(l.v[1].json, "delta.stop_reason") : NULL, reasons[i].want,
		       "anthropic enc: finish %s -> %s", reasons[i].finish, reasons[i].want);
		if (i == 0)
			is_str(js(l.v[0].json, "message.id"), "msg_keep", "anthropic enc: msg_ id kept");
		evs_free(&l);
		buf_reset(&out);
		free(fin);
	}

	/* Errors. */
	e = stream_encoder_new(DIALECT_ANTHROPIC, "m", false);
	json_object *c = J(FULL_STREAM[3]);
	stream_encoder_chunk(e, c, &out);
	stream_encoder_error(e, 529, "Overloaded", &out);
	stream_encoder_chunk(e, c, &out);
	stream_encoder_finish(e, &out);
	json_object_put(c);
	stream_encoder_free(e);
	sse_parse(&out, &l);
	is_int(l.n, 4, "anthropic enc: start, block, delta, error; nothing after");
	is_str(l.n == 4 ? l.v[3].event : NULL, "error", "anthropic enc: event: error");
	is_str(l.n == 4 ? js(l.v[3].json, "type") : NULL, "error", "anthropic enc: error data type");
	is_str(l.n == 4 ? js(l.v[3].json, "error.type") : NULL, "overloaded_error",
	       "anthropic enc: 529 overloaded");
	is_str(l.n == 4 ? js(l.v[3].json, "error.message") : NULL, "Overloaded",
	       "anthropic enc: error message");
	struct summary s;
	is_int(decode_again(DIALECT_ANTHROPIC, &l, &s, NULL), STREAM_ERROR,
	       "anthropic enc: decoder reads the error");
	summary_free(&s);
	evs_free(&l);
	buf_reset(&out);

	/* Cache writes survive the trip. */
	static const char *const cw[] = {
	    CH("{`content`:`x`}", "`stop`"),
	    "{`choices`:[],`usage`:{`prompt_tokens`:50,`completion_tokens`:5,`total_tokens`:55,"
	    "`prompt_tokens_details`:{`cached_tokens`:10,`cache_write_tokens`:15}}}",
	    NULL,
	};
	encode(DIALECT_ANTHROPIC, false, cw, true, &out);
	sse_parse(&out, &l);
	json_object *md = l.n >= 2 ? l.v[l.n - 2].json : NULL;
	is_int(ji(md, "usage.input_tokens"), 25, "anthropic enc: input excludes cache reads and writes");
	is_int(ji(md, "usage.cache_creation_input_tokens"), 15, "anthropic enc: cache writes");
	decode_again(DIALECT_ANTHROPIC, &l, &s, NULL);
	is_int(ji(s.usage, "prompt_tokens"), 50, "anthropic round trip: prompt with cache writes");
	is_int(ji(s.usage, "prompt_tokens_details.cache_write_tokens"), 15,
	       "anthropic round trip: cache_write");
	summary_free(&s);
	evs_free(&l);
	buf_free(&out);
}

/* ---------- Gemini encoder ---------- */

static void test_gemini_encoder(void)
{
	struct buf out = BUF_INIT;
	struct evs l;
	encode(DIALECT_GEMINI, false, FULL_STREAM, false, &out);
	sse_parse(&out, &l);
	/* thinking x2, text x2, one chunk with both calls, final (usage came). */
	is_int(l.n, 6, "gemini enc: one chunk per delta, one for the calls, the final one");
	is_int(l.bad_json, 0, "gemini enc: all data is JSON");
	if (l.n == 6) {
		json_object *c0 = l.v[0].json;
		is_str(js(c0, "candidates.0.content.role"), "model", "gemini enc: role model");
		is_str(js(c0, "candidates.0.content.parts.0.text"), "Let me ", "gemini enc: thought text");
		is_int(jb(c0, "candidates.0.content.parts.0.thought"), 1, "gemini enc: thought:true");
		is_int(ji(c0, "candidates.0.index"), 0, "gemini enc: index 0");
		is_str(js(c0, "modelVersion"), "client-model", "gemini enc: modelVersion");
		is_str(js(c0, "responseId"), "chatcmpl-9", "gemini enc: responseId");
		ok(!jhas(c0, "candidates.0.finishReason"), "gemini enc: no finishReason mid-stream");
		is_str(js(l.v[2].json, "candidates.0.content.parts.0.text"), "I'll check",
		       "gemini enc: text");
		ok(!jhas(l.v[2].json, "candidates.0.content.parts.0.thought"),
		   "gemini enc: text is no thought");
		json_object *calls = jp(l.v[4].json, "candidates.0.content.parts");
		is_int(jlen(calls, ""), 2, "gemini enc: both calls in one chunk");
		is_str(js(calls, "0.functionCall.name"), "get_weather", "gemini enc: call name");
		is_str(js(calls, "0.functionCall.id"), "call_A", "gemini enc: call id");
		is_str(js(calls, "0.functionCall.args.loc"), "Paris", "gemini enc: args parsed");
		is_int(jlen(calls, "1.functionCall.args"), 0, "gemini enc: {} args");
		json_object *f = l.v[5].json;
		is_str(js(f, "candidates.0.finishReason"), "STOP", "gemini enc: tool calls still STOP");
		is_int(ji(f, "usageMetadata.promptTokenCount"), 100, "gemini enc: promptTokenCount");
		is_int(ji(f, "usageMetadata.candidatesTokenCount"), 28,
		       "gemini enc: candidates = completion - reasoning");
		is_int(ji(f, "usageMetadata.thoughtsTokenCount"), 12, "gemini enc: thoughtsTokenCount");
		is_int(ji(f, "usageMetadata.totalTokenCount"), 140, "gemini enc: totalTokenCount");
		is_int(ji(f, "usageMetadata.cachedContentTokenCount"), 30,
		       "gemini enc: cachedContentTokenCount");
	}
	struct summary got, want_s;
	int rc_finish = 0;
	decode_again(DIALECT_GEMINI, &l, &got, &rc_finish);
	summarize_fixture(FULL_STREAM, &want_s);
	is_int(rc_finish, STREAM_DONE, "gemini round trip: stream ends properly");
	is_str(buf_str(&got.content), buf_str(&want_s.content), "gemini round trip: text");
	is_str(buf_str(&got.reasoning), buf_str(&want_s.reasoning), "gemini round trip: reasoning");
	is_int(got.ntools, 2, "gemini round trip: two tool calls");
	for (int t = 0; t < 2; t++) {
		is_str(got.tools[t].id, want_s.tools[t].id, "gemini round trip: tool %d id", t);
		is_str(got.tools[t].name, want_s.tools[t].name, "gemini round trip: tool %d name", t);
		json_object *a = json_tokener_parse(buf_str(&got.tools[t].args));
		json_object *b = json_tokener_parse(buf_str(&want_s.tools[t].args));
		ok(a && b && json_object_equal(a, b), "gemini round trip: tool %d args equal as JSON", t);
		json_object_put(a);
		json_object_put(b);
	}
	is_str(got.finish, "tool_calls", "gemini round trip: finish");
	is_int(ji(got.usage, "prompt_tokens"), 100, "gemini round trip: prompt_tokens");
	is_int(ji(got.usage, "completion_tokens"), 40, "gemini round trip: completion_tokens");
	is_int(ji(got.usage, "completion_tokens_details.reasoning_tokens"), 12,
	       "gemini round trip: reasoning");
	is_int(ji(got.usage, "prompt_tokens_details.cached_tokens"), 30, "gemini round trip: cached");
	is_int(ji(got.usage, "total_tokens"), 140, "gemini round trip: total");
	summary_free(&got);
	summary_free(&want_s);
	size_t len = out.len;
	evs_free(&l);
	/* finish after the final chunk adds nothing */
	struct stream_encoder *e = stream_encoder_new(DIALECT_GEMINI, "client-model", false);
	for (size_t i = 0; FULL_STREAM[i]; i++) {
		json_object *c = J(FULL_STREAM[i]);
		stream_encoder_chunk(e, c, &out);
		json_object_put(c);
	}
	size_t mid = out.len;
	stream_encoder_finish(e, &out);
	stream_encoder_finish(e, &out);
	is_int(out.len, mid, "gemini enc: final already sent, finish adds nothing");
	ok(mid == 2 * len && memcmp(out.data, out.data + len, len) == 0, "gemini enc: same output twice");
	stream_encoder_free(e);
	buf_reset(&out);

	/* No usage: the final chunk comes at finish; reasons map. */
	static const struct {
		const char *finish, *want;
	} reasons[] = {{"`stop`", "STOP"},
	               {"`length`", "MAX_TOKENS"},
	               {"`content_filter`", "SAFETY"},
	               {"`tool_calls`", "STOP"},
	               {"`brand_new`", "STOP"}};
	for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
		char *fin = xasprintf("{`choices`:[{`index`:0,`delta`:{`content`:`x`},`finish_reason`:%s}]}",
		                      reasons[i].finish);
		const char *chunks[] = {fin, NULL};
		encode(DIALECT_GEMINI, false, chunks, true, &out);
		sse_parse(&out, &l);
		is_str(l.n == 2 ? js(l.v[1].json, "candidates.0.finishReason") : NULL, reasons[i].want,
		       "gemini enc: finish %s -> %s", reasons[i].finish, reasons[i].want);
		ok(l.n == 2 && !jhas(l.v[1].json, "usageMetadata"),
		   "gemini enc: no usageMetadata when unknown");
		evs_free(&l);
		buf_reset(&out);
		free(fin);
	}

	/* Two candidates, a call cut short by the end of the stream, a
	 * thought signature. */
	static const char *const multi[] = {
	    "{`id`:`r1`,`choices`:[{`index`:0,`delta`:{`content`:`A`},`finish_reason`:null},"
	    "{`index`:1,`delta`:{`content`:`B`},`finish_reason`:null}]}",
	    "{`id`:`r1`,`choices`:[{`index`:1,`delta`:{`tool_calls`:[{`index`:0,`id`:`c9`,`function`:{`name`:"
	    "`f`,"
	    "`arguments`:`{\\`a\\`:`},`extra_content`:{`google`:{`thought_signature`:`TS`}}}]},"
	    "`finish_reason`:null}]}",
	    "{`id`:`r1`,`choices`:[{`index`:1,`delta`:{`tool_calls`:[{`index`:0,`function`:{`arguments`:`1}`}"
	    "}]},"
	    "`finish_reason`:null}]}",
	    "{`id`:`r1`,`choices`:[{`index`:0,`delta`:{},`finish_reason`:`stop`}]}",
	    NULL,
	};
	encode(DIALECT_GEMINI, false, multi, true, &out);
	sse_parse(&out, &l);
	is_int(l.n, 4, "gemini enc multi: A, B, call at finish, final");
	if (l.n == 4) {
		is_int(ji(l.v[1].json, "candidates.0.index"), 1, "gemini enc multi: candidate index 1");
		is_str(js(l.v[2].json, "candidates.0.content.parts.0.functionCall.name"), "f",
		       "gemini enc multi: buffered call flushed at the end");
		is_int(ji(l.v[2].json, "candidates.0.content.parts.0.functionCall.args.a"), 1,
		       "gemini enc multi: fragments joined");
		is_str(js(l.v[2].json, "candidates.0.content.parts.0.thoughtSignature"), "TS",
		       "gemini enc multi: thoughtSignature passed on");
		is_int(jlen(l.v[3].json, "candidates"), 2, "gemini enc multi: final names both candidates");
		is_str(js(l.v[3].json, "candidates.1.finishReason"), "STOP",
		       "gemini enc multi: unfinished candidate STOP");
	}
	evs_free(&l);
	buf_reset(&out);

	e = stream_encoder_new(DIALECT_GEMINI, "m", false);
	stream_encoder_error(e, 529, "Overloaded", &out);
	stream_encoder_finish(e, &out);
	stream_encoder_free(e);
	sse_parse(&out, &l);
	is_int(l.n, 1, "gemini enc: error only");
	is_int(ji(l.v[0].json, "error.code"), 503, "gemini enc: 529 -> code 503");
	is_str(js(l.v[0].json, "error.status"), "UNAVAILABLE", "gemini enc: UNAVAILABLE");
	is_str(js(l.v[0].json, "error.message"), "Overloaded", "gemini enc: error message");
	struct summary s;
	is_int(decode_again(DIALECT_GEMINI, &l, &s, NULL), STREAM_ERROR,
	       "gemini enc: decoder reads the error");
	summary_free(&s);
	evs_free(&l);
	buf_free(&out);
}

/* ---------- whole responses ---------- */

static const char COMPLETION[] =
    "{`id`:`chatcmpl-7`,`object`:`chat.completion`,`created`:5,`model`:`up`,`system_fingerprint`:`fp`,"
    "`choices`:[{`index`:0,`message`:{`role`:`assistant`,`content`:`Checking.`,`reasoning_content`:`Hmm.`,"
    "`tool_calls`:[{`id`:`call_1`,`type`:`function`,`function`:{`name`:`get_weather`,"
    "`arguments`:`{\\`loc\\`:\\`Paris\\`}`}},{`id`:`call_2`,`type`:`function`,`function`:{`name`:`t`,"
    "`arguments`:`not json`}}]},`finish_reason`:`tool_calls`}],"
    "`usage`:{`prompt_tokens`:20,`completion_tokens`:10,`total_tokens`:30,"
    "`prompt_tokens_details`:{`cached_tokens`:5},`completion_tokens_details`:{`reasoning_tokens`:3}}}";

static void test_responses(void)
{
	json_object *c = J(COMPLETION);
	char *before = xstrdup(dump(c));

	json_object *o = ingress_response_from_canonical(DIALECT_OPENAI, c, "client-model");
	is_str(js(o, "model"), "client-model", "openai response: model replaced");
	is_str(js(o, "system_fingerprint"), "fp", "openai response: other fields kept");
	is_str(js(o, "choices.0.message.tool_calls.1.id"), "call_2", "openai response: tool calls kept");
	json_object_put(o);

	json_object *a = ingress_response_from_canonical(DIALECT_ANTHROPIC, c, "client-model");
	is_str(js(a, "id"), "msg_chatcmpl-7", "anthropic response: id");
	is_str(js(a, "type"), "message", "anthropic response: type");
	is_str(js(a, "role"), "assistant", "anthropic response: role");
	is_str(js(a, "model"), "client-model", "anthropic response: model");
	is_int(jlen(a, "content"), 4, "anthropic response: thinking, text, 2 tool_use");
	is_str(js(a, "content.0.type"), "thinking", "anthropic response: thinking first");
	is_str(js(a, "content.0.thinking"), "Hmm.", "anthropic response: thinking text");
	is_str(js(a, "content.1.type"), "text", "anthropic response: text");
	is_str(js(a, "content.1.text"), "Checking.", "anthropic response: text content");
	is_str(js(a, "content.2.type"), "tool_use", "anthropic response: tool_use");
	is_str(js(a, "content.2.id"), "call_1", "anthropic response: tool id");
	is_str(js(a, "content.2.input.loc"), "Paris", "anthropic response: input object");
	is_int(jlen(a, "content.3.input"), 0, "anthropic response: invalid arguments -> {}");
	is_str(js(a, "stop_reason"), "tool_use", "anthropic response: stop_reason");
	ok(jnull(a, "stop_sequence"), "anthropic response: stop_sequence null");
	is_int(ji(a, "usage.input_tokens"), 15, "anthropic response: input_tokens");
	is_int(ji(a, "usage.output_tokens"), 10, "anthropic response: output_tokens");
	is_int(ji(a, "usage.cache_read_input_tokens"), 5, "anthropic response: cache_read_input_tokens");
	is_int(ji(a, "usage.cache_creation_input_tokens"), 0, "anthropic response: cache_creation 0");
	char *err = NULL;
	json_object *back = dialect_response_to_canonical(DIALECT_ANTHROPIC, a, "m", &err);
	is_str(js(back, "choices.0.message.content"), "Checking.", "anthropic response round trip: text");
	is_str(js(back, "choices.0.message.tool_calls.0.id"), "call_1", "anthropic response round trip: id");
	is_str(js(back, "choices.0.finish_reason"), "tool_calls", "anthropic response round trip: finish");
	is_int(ji(back, "usage.prompt_tokens"), 20, "anthropic response round trip: prompt_tokens");
	json_object_put(back);
	free(err);
	json_object_put(a);

	json_object *g = ingress_response_from_canonical(DIALECT_GEMINI, c, "client-model");
	json_object *parts = jp(g, "candidates.0.content.parts");
	is_str(js(g, "candidates.0.content.role"), "model", "gemini response: role");
	is_int(jlen(parts, ""), 4, "gemini response: thought, text, 2 calls");
	is_int(jb(parts, "0.thought"), 1, "gemini response: thought part");
	is_str(js(parts, "1.text"), "Checking.", "gemini response: text part");
	is_str(js(parts, "2.functionCall.name"), "get_weather", "gemini response: functionCall");
	is_str(js(parts, "2.functionCall.args.loc"), "Paris", "gemini response: args");
	is_str(js(parts, "2.functionCall.id"), "call_1", "gemini response: call id");
	is_str(js(g, "candidates.0.finishReason"), "STOP", "gemini response: STOP for calls");
	is_int(ji(g, "candidates.0.index"), 0, "gemini response: index");
	is_int(ji(g, "usageMetadata.promptTokenCount"), 20, "gemini response: promptTokenCount");
	is_int(ji(g, "usageMetadata.candidatesTokenCount"), 7, "gemini response: candidatesTokenCount");
	is_int(ji(g, "usageMetadata.thoughtsTokenCount"), 3, "gemini response: thoughtsTokenCount");
	is_int(ji(g, "usageMetadata.totalTokenCount"), 30, "gemini response: totalTokenCount");
	is_int(ji(g, "usageMetadata.cachedContentTokenCount"), 5, "gemini response: cached");
	is_str(js(g, "modelVersion"), "client-model", "gemini response: modelVersion");
	is_str(js(g, "responseId"), "chatcmpl-7", "gemini response: responseId");
	back = dialect_response_to_canonical(DIALECT_GEMINI, g, "m", &err);
	is_str(js(back, "choices.0.message.content"), "Checking.", "gemini response round trip: text");
	is_str(js(back, "choices.0.message.tool_calls.0.id"), "call_1", "gemini response round trip: id");
	is_str(js(back, "choices.0.finish_reason"), "tool_calls", "gemini response round trip: finish");
	is_int(ji(back, "usage.completion_tokens"), 10, "gemini response round trip: completion_tokens");
	json_object_put(back);
	free(err);
	json_object_put(g);

	is_str(dump(c), before, "responses: the completion is not modified");
	free(before);
	json_object_put(c);

	/* A plain length-limited answer, and an empty one. */
	c = J("{`id`:`msg_x`,`choices`:[{`index`:0,`message`:{`role`:`assistant`,`content`:`cut`},"
	      "`finish_reason`:`length`}]}");
	a = ingress_response_from_canonical(DIALECT_ANTHROPIC, c, "m");
	is_str(js(a, "id"), "msg_x", "anthropic response: msg_ id kept");
	is_str(js(a, "stop_reason"), "max_tokens", "anthropic response: length -> max_tokens");
	is_int(jlen(a, "content"), 1, "anthropic response: one text block");
	g = ingress_response_from_canonical(DIALECT_GEMINI, c, "m");
	is_str(js(g, "candidates.0.finishReason"), "MAX_TOKENS", "gemini response: MAX_TOKENS");
	json_object_put(a);
	json_object_put(g);
	json_object_put(c);

	c = J("{`choices`:[]}");
	a = ingress_response_from_canonical(DIALECT_ANTHROPIC, c, "m");
	is_int(jlen(a, "content"), 0, "anthropic response: no choices -> content []");
	is_str(js(a, "stop_reason"), "end_turn", "anthropic response: no choices -> end_turn");
	ok(str_has_prefix(js(a, "id"), "msg_"), "anthropic response: minted id");
	g = ingress_response_from_canonical(DIALECT_GEMINI, c, "m");
	is_int(jlen(g, "candidates"), 1, "gemini response: no choices -> one empty candidate");
	ok(js(g, "responseId") && *js(g, "responseId"), "gemini response: minted responseId");
	json_object_put(a);
	json_object_put(g);
	json_object_put(c);
}

/* ---------- error bodies ---------- */

static void check_error_body(enum dialect d, int status, const char *kind, int want_status, const char *path,
                             const char *want)
{
	int hs = 0;
	char *body = ingress_error_body(d, status, kind, "it broke", &hs);
	json_object *o = json_tokener_parse(body);
	is_int(hs, want_status, "%s error %d/%s: http status", dialect_name(d), status, kind ? kind : "-");
	is_str(js(o, path), want, "%s error %d/%s: %s", dialect_name(d), status, kind ? kind : "-", path);
	/* Our own bodies read back through the upstream error parser. */
	struct upstream_error ue;
	upstream_error_parse(hs, body, strlen(body), &ue);
	ok(ue.message && strstr(ue.message, "it broke"), "%s error %d: parses back", dialect_name(d), status);
	upstream_error_clear(&ue);
	json_object_put(o);
	free(body);
}

static void test_errors(void)
{
	check_error_body(DIALECT_OPENAI, 400, NULL, 400, "error.type", "invalid_request_error");
	check_error_body(DIALECT_OPENAI, 401, NULL, 401, "error.type", "authentication_error");
	check_error_body(DIALECT_OPENAI, 429, NULL, 429, "error.type", "rate_limit_error");
	check_error_body(DIALECT_OPENAI, 500, NULL, 500, "error.type", "server_error");
	check_error_body(DIALECT_OPENAI, 529, NULL, 503, "error.type", "server_error");
	check_error_body(DIALECT_OPENAI, 429, "insufficient_quota", 429, "error.type", "insufficient_quota");
	check_error_body(DIALECT_OPENAI, 429, "insufficient_quota", 429, "error.code", "insufficient_quota");
	check_error_body(DIALECT_OPENAI, 0, NULL, 502, "error.message", "it broke");
	check_error_body(DIALECT_OPENAI, 401, "authentication_error", 401, "error.type",
	                 "authentication_error");
	check_error_body(DIALECT_OPENAI, 401, "authentication_error", 401, "error.code", NULL);

	check_error_body(DIALECT_ANTHROPIC, 400, NULL, 400, "error.type", "invalid_request_error");
	check_error_body(DIALECT_ANTHROPIC, 401, NULL, 401, "error.type", "authentication_error");
	check_error_body(DIALECT_ANTHROPIC, 403, NULL, 403, "error.type", "permission_error");
	check_error_body(DIALECT_ANTHROPIC, 404, NULL, 404, "error.type", "not_found_error");
	check_error_body(DIALECT_ANTHROPIC, 413, NULL, 413, "error.type", "request_too_large");
	check_error_body(DIALECT_ANTHROPIC, 422, NULL, 422, "error.type", "invalid_request_error");
	check_error_body(DIALECT_ANTHROPIC, 429, NULL, 429, "error.type", "rate_limit_error");
	check_error_body(DIALECT_ANTHROPIC, 500, NULL, 500, "error.type", "api_error");
	check_error_body(DIALECT_ANTHROPIC, 502, NULL, 502, "error.type", "api_error");
	check_error_body(DIALECT_ANTHROPIC, 504, NULL, 504, "error.type", "timeout_error");
	check_error_body(DIALECT_ANTHROPIC, 529, NULL, 529, "error.type", "overloaded_error");
	check_error_body(DIALECT_ANTHROPIC, 529, NULL, 529, "type", "error");
	check_error_body(DIALECT_ANTHROPIC, 429, "rate_limit_exceeded", 429, "error.type",
	                 "rate_limit_error");
	check_error_body(DIALECT_ANTHROPIC, 400, "authentication_error", 400, "error.type",
	                 "authentication_error");
	check_error_body(DIALECT_ANTHROPIC, 400, "RESOURCE_EXHAUSTED", 400, "error.type", "rate_limit_error");
	check_error_body(DIALECT_ANTHROPIC, 400, "weird_kind", 400, "error.type", "invalid_request_error");

	check_error_body(DIALECT_GEMINI, 400, NULL, 400, "error.status", "INVALID_ARGUMENT");
	check_error_body(DIALECT_GEMINI, 401, NULL, 401, "error.status", "UNAUTHENTICATED");
	check_error_body(DIALECT_GEMINI, 403, NULL, 403, "error.status", "PERMISSION_DENIED");
	check_error_body(DIALECT_GEMINI, 404, NULL, 404, "error.status", "NOT_FOUND");
	check_error_body(DIALECT_GEMINI, 429, NULL, 429, "error.status", "RESOURCE_EXHAUSTED");
	check_error_body(DIALECT_GEMINI, 500, NULL, 500, "error.status", "INTERNAL");
	check_error_body(DIALECT_GEMINI, 503, NULL, 503, "error.status", "UNAVAILABLE");
	check_error_body(DIALECT_GEMINI, 504, NULL, 504, "error.status", "DEADLINE_EXCEEDED");
	check_error_body(DIALECT_GEMINI, 529, NULL, 503, "error.status", "UNAVAILABLE");
	check_error_body(DIALECT_GEMINI, 429, "rate_limit_error", 429, "error.status", "RESOURCE_EXHAUSTED");
	check_error_body(DIALECT_GEMINI, 400, "authentication_error", 400, "error.status", "UNAUTHENTICATED");

	int hs;
	char *body = ingress_error_body(DIALECT_GEMINI, 529, NULL, "x", &hs);
	json_object *o = json_tokener_parse(body);
	is_int(ji(o, "error.code"), 503, "gemini error: code is the sent status");
	json_object_put(o);
	free(body);
	body = ingress_error_body(DIALECT_OPENAI, 400, NULL, NULL, &hs);
	o = json_tokener_parse(body);
	ok(jnull(o, "error.param") && jnull(o, "error.code"), "openai error: param and code null");
	ok(js(o, "error.message") && *js(o, "error.message"), "openai error: a message even without one");
	json_object_put(o);
	free(body);
}

/* ---------- mutation and garbage loop ---------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static const char *const ALTERNATIVES[] = {
    "null", "0",  "-1", "1e300",  "\"\"",         "\"x\"",
    "true", "[]", "{}", "[null]", "{\"a\":null}", "9223372036854775807",
};
#define N_ALT (sizeof ALTERNATIVES / sizeof ALTERNATIVES[0])

/* Every node of a request replaced by every alternative: a canonical
 * object or an error, never both or neither. */
static void fuzz_requests(enum dialect d, const char *body_q, const char *name)
{
	json_object *orig = J(body_q);
	size_t nodes = count_nodes(orig), runs = 0, bad = 0, accepted = 0;
	for (size_t node = 0; node < nodes; node++) {
		for (size_t alt = 0; alt < N_ALT; alt++) {
			json_object *m = mutated(orig, node, ALTERNATIVES[alt]);
			char *err = NULL;
			json_object *r = ingress_request_to_canonical(d, m, "g", true, &err);
			runs++;
			if ((r == NULL) == (err == NULL))
				bad++;
			if (r) {
				accepted++;
				/* what we accept, the egress builders must survive */
				for (int e = 0; e < DIALECT_COUNT; e++) {
					char *e2 = NULL;
					json_object *up = egress((enum dialect)e, r, &e2);
					json_object_put(up);
					free(e2);
				}
			}
			json_object_put(r);
			free(err);
			json_object_put(m);
		}
	}
	ok(bad == 0, "fuzz %s: %zu mutated requests (%zu accepted), %zu bad results", name, runs, accepted,
	   bad);
	json_object_put(orig);
}

/* Checks encoder output: every event parses, Anthropic events name their
 * type and only refer to started blocks. */
static int output_errors(enum dialect d, const struct buf *out)
{
	struct evs l;
	sse_parse(out, &l);
	int bad = l.bad_json;
	bool started[64] = {false};
	for (size_t i = 0; i < l.n; i++) {
		json_object *j = l.v[i].json;
		if (d == DIALECT_ANTHROPIC) {
			if (!l.v[i].event || !js(j, "type") || strcmp(l.v[i].event, js(j, "type")) != 0)
				bad++;
			long long idx = ji(j, "index");
			if (l.v[i].event && strcmp(l.v[i].event, "content_block_start") == 0) {
				if (idx < 0 || idx >= 64 || started[idx])
					bad++;
				else
					started[idx] = true;
			} else if (jhas(j, "index") && (idx < 0 || idx >= 64 || !started[idx])) {
				bad++;
			}
		} else if (d == DIALECT_GEMINI && !j) {
			bad++;
		}
	}
	if (l.n == 0 && out->len > 0)
		bad++;
	evs_free(&l);
	return bad;
}

/* Every node of every chunk of a stream replaced by every alternative. */
static void fuzz_encoders(const char *const *chunks, const char *name)
{
	size_t nchunks = 0;
	while (chunks[nchunks])
		nchunks++;
	json_object **orig = xcalloc(nchunks, sizeof *orig);
	for (size_t i = 0; i < nchunks; i++)
		orig[i] = J(chunks[i]);
	size_t runs = 0, bad = 0;
	for (size_t target = 0; target < nchunks; target++) {
		size_t nodes = count_nodes(orig[target]);
		for (size_t node = 0; node < nodes; node++) {
			for (size_t alt = 0; alt < N_ALT; alt++) {
				json_object *m = mutated(orig[target], node, ALTERNATIVES[alt]);
				for (int d = 0; d < DIALECT_COUNT; d++) {
					struct buf out = BUF_INIT;
					struct stream_encoder *e =
					    stream_encoder_new((enum dialect)d, "m", true);
					for (size_t i = 0; i < nchunks; i++)
						stream_encoder_chunk(e, i == target ? m : orig[i], &out);
					if (alt % 3 == 0)
						stream_encoder_error(e, (int)(rng() % 700), "boom", &out);
					stream_encoder_finish(e, &out);
					stream_encoder_free(e);
					int errs = output_errors((enum dialect)d, &out);
					if (errs && getenv("TI_DEBUG"))
						printf("# %s d=%d chunk %zu node %zu alt %zu:\n%s\n", name, d,
						       target, node, alt, buf_str(&out));
					bad += (size_t)errs;
					runs++;
					buf_free(&out);
				}
				json_object_put(m);
			}
		}
	}
	for (size_t i = 0; i < nchunks; i++)
		json_object_put(orig[i]);
	free(orig);
	ok(bad == 0, "fuzz encoders %s: %zu mutated streams encode to well-formed SSE (%zu errors)", name,
	   runs, bad);
}

/* Random JSON values of random shapes as chunks, completions and bodies. */
static json_object *random_json(int depth)
{
	static const char *const keys[] = {"choices",
	                                   "delta",
	                                   "content",
	                                   "reasoning_content",
	                                   "tool_calls",
	                                   "index",
	                                   "id",
	                                   "function",
	                                   "name",
	                                   "arguments",
	                                   "finish_reason",
	                                   "usage",
	                                   "prompt_tokens",
	                                   "message",
	                                   "messages",
	                                   "role",
	                                   "model",
	                                   "type",
	                                   "text",
	                                   "parts",
	                                   "contents",
	                                   "tool_use_id",
	                                   "input",
	                                   "functionCall",
	                                   "functionResponse",
	                                   "source",
	                                   "system",
	                                   "generationConfig",
	                                   "tools",
	                                   "tool_choice",
	                                   "prompt_tokens_details",
	                                   "cached_tokens"};
	static const char *const strs[] = {"",          "stop",     "tool_calls", "length",      "user",
	                                   "assistant", "model",    "tool_use",   "tool_result", "text",
	                                   "image",     "function", "{\"a\":",    "base64",      "ANY",
	                                   "auto"};
	int kind = (int)(rng() % (depth > 3 ? 5 : 7));
	switch (kind) {
	case 0:
		return NULL;
	case 1:
		return json_object_new_int64((int64_t)(rng() % 2000) - 1000);
	case 2:
		return json_object_new_string(strs[rng() % (sizeof strs / sizeof strs[0])]);
	case 3:
		return json_object_new_boolean(rng() & 1);
	case 4:
		return json_object_new_double(-1e300);
	case 5: {
		json_object *a = json_object_new_array();
		int n = (int)(rng() % 4);
		for (int i = 0; i < n; i++)
			json_object_array_add(a, random_json(depth + 1));
		return a;
	}
	default: {
		json_object *o = json_object_new_object();
		int n = (int)(rng() % 5);
		for (int i = 0; i < n; i++)
			json_object_object_add(o, keys[rng() % (sizeof keys / sizeof keys[0])],
			                       random_json(depth + 1));
		return o;
	}
	}
}

static void fuzz_garbage(void)
{
	size_t runs = 0, bad = 0;
	for (int iter = 0; iter < 3000; iter++) {
		enum dialect d = (enum dialect)(rng() % DIALECT_COUNT);
		json_object *body = random_json(0);
		char *err = NULL;
		json_object *r =
		    ingress_request_to_canonical(d, body, (rng() & 1) ? "g" : NULL, rng() & 1, &err);
		if ((r == NULL) == (err == NULL))
			bad++;
		json_object_put(r);
		free(err);
		json_object *resp = ingress_response_from_canonical(d, body, "m");
		if (!json_object_is_type(resp, json_type_object))
			bad++;
		json_object_put(resp);
		json_object_put(body);

		struct buf out = BUF_INIT;
		struct stream_encoder *e = stream_encoder_new(d, "m", rng() & 1);
		int n = (int)(rng() % 8);
		for (int i = 0; i < n; i++) {
			json_object *c = random_json(0);
			stream_encoder_chunk(e, c, &out);
			json_object_put(c);
		}
		stream_encoder_finish(e, &out);
		stream_encoder_free(e);
		bad += (size_t)output_errors(d, &out);
		buf_free(&out);

		int hs = 0;
		char *eb = ingress_error_body(d, (int)(rng() % 1000) - 100, (rng() & 1) ? "x" : NULL,
		                              (rng() & 1) ? "m" : NULL, &hs);
		json_object *ej = json_tokener_parse(eb);
		if (!ej || hs < 400 || hs > 599)
			bad++;
		json_object_put(ej);
		free(eb);
		runs++;
	}
	ok(bad == 0, "garbage loop: %zu random requests, streams, responses and errors (%zu bad)", runs, bad);
}

int main(void)
{
	test_openai_request();
	test_anthropic_request_conversation();
	test_anthropic_request_media();
	test_anthropic_request_params();
	test_gemini_request_conversation();
	test_gemini_request_params();
	test_openai_encoder();
	test_anthropic_encoder();
	test_gemini_encoder();
	test_responses();
	test_errors();
	fuzz_requests(DIALECT_ANTHROPIC, ANT_CONVERSATION, "anthropic conversation");
	fuzz_requests(DIALECT_GEMINI, GEM_CONVERSATION, "gemini conversation");
	fuzz_requests(
	    DIALECT_OPENAI,
	    "{`model`:`m`,`messages`:[{`role`:`user`,`content`:[{`type`:`text`,`text`:`x`}]}],`stream`:true}",
	    "openai request");
	fuzz_encoders(FULL_STREAM, "full stream");
	fuzz_garbage();
	return tap_done();
}
