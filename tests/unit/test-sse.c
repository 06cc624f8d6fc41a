/* test-sse.c - unit tests for src/sse.c: the wire-format example streams fed
 * whole, split at every byte boundary and byte by byte; line endings, fields,
 * BOM, size caps, stopping, and writer/parser round trips. */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sse.h"
#include "tap.h"
#include "util.h"

/* Example streams from /work/shared/reference/wire-formats.md.
 * Kept one wire line per source line, so not reformatted. */
/* clang-format off */
/* §1.6 chat.completion.chunk stream, verbatim */
static const char openai_chunks[] =
	"data: {\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_44709d6fcb\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n"
	"\n"
	"data: {\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_44709d6fcb\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"logprobs\":null,\"finish_reason\":null}]}\n"
	"\n"
	"data: {\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_44709d6fcb\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n"
	"\n"
	"data: {\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_44709d6fcb\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\n"
	"\n"
	"data: [DONE]\n"
	"\n";

/* §1.6 tool-call deltas, verbatim */
static const char openai_tool_calls[] =
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null},\"finish_reason\":null}]}\n"
	"\n"
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_PieqNSej\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n"
	"\n"
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"loc\"}}]},\"finish_reason\":null}]}\n"
	"\n"
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"ation\\\":\\\"Paris\\\"}\"}}]},\"finish_reason\":null}]}\n"
	"\n"
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n"
	"\n"
	"data: [DONE]\n"
	"\n";

/* §2.5 tool_use_response fixture, verbatim */
static const char anthropic_fixture[] =
	"event: message_start\n"
	"data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_019Q1hrJbZG26Fb9BQhrkHEr\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-20250514\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":377,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1,\"service_tier\":\"standard\"}}}\n"
	"\n"
	"event: content_block_start\n"
	"data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n"
	"\n"
	"event: ping\n"
	"data: {\"type\": \"ping\"}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"I\"}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"'ll check the current weather in Paris for you.\"}}\n"
	"\n"
	"event: content_block_stop\n"
	"data: {\"type\":\"content_block_stop\",\"index\":0}\n"
	"\n"
	"event: content_block_start\n"
	"data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01NRLabsLyVHZPKxbKvkfSMn\",\"name\":\"get_weather\",\"caller\":{\"type\":\"direct\"},\"input\":{}}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"locati\"}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"on\\\": \\\"P\"}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"ar\"}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"is\\\"}\"}}\n"
	"\n"
	"event: content_block_stop\n"
	"data: {\"type\":\"content_block_stop\",\"index\":1}\n"
	"\n"
	"event: message_delta\n"
	"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":65}}\n"
	"\n"
	"event: message_stop\n"
	"data: {\"type\":\"message_stop\"}\n"
	"\n";

/* §2.5 in-stream error, verbatim */
static const char anthropic_error[] =
	"event: error\n"
	"data: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n"
	"\n";

/* §3.4 streamGenerateContent?alt=sse, verbatim */
static const char gemini_chunks[] =
	"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"In the quaint, sunlit cottage\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 8},\"modelVersion\": \"gemini-2.5-flash\"}\n"
	"\n"
	"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" lived two cats.\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 8,\"candidatesTokenCount\": 12,\"totalTokenCount\": 20},\"modelVersion\": \"gemini-2.5-flash\"}\n"
	"\n";

/* clang-format on */

/* Records every event as one log line, so two parses compare as strings.
 * NULL and "" are told apart ("~" vs "[]"), and data is length-prefixed so
 * embedded NULs and newlines cannot alias. */
struct rec {
	struct buf log;
	int count;
	int stop_at; /* the 1-based event whose callback returns stop_rc */
	int stop_rc;
	bool bad_nul; /* some event's data was not NUL-terminated */
};

static void rec_opt(struct buf *b, const char *tag, const char *s)
{
	if (s)
		buf_printf(b, "%s=[%s] ", tag, s);
	else
		buf_printf(b, "%s=~ ", tag);
}

static int rec_cb(const struct sse_event *ev, void *arg)
{
	struct rec *r = arg;
	r->count++;
	rec_opt(&r->log, "event", ev->event);
	rec_opt(&r->log, "id", ev->id);
	buf_printf(&r->log, "data=%zu[", ev->data_len);
	buf_append(&r->log, ev->data, ev->data_len);
	buf_puts(&r->log, "]\n");
	if (ev->data[ev->data_len] != '\0')
		r->bad_nul = true;
	if (r->stop_at && r->count == r->stop_at)
		return r->stop_rc;
	return 0;
}

static void rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
}

static bool rec_is(const struct rec *r, const char *want)
{
	return r->log.len == strlen(want) && memcmp(buf_str(&r->log), want, r->log.len) == 0;
}

/* Parses s fed as the pieces between cuts (ascending offsets), then finish. */
static int parse_cuts(struct rec *r, size_t max, const char *s, size_t len, const size_t *cuts, size_t ncuts)
{
	struct sse_parser *p = sse_parser_new(rec_cb, r, max);
	size_t at = 0;
	int rc = 0;
	for (size_t i = 0; i <= ncuts && !rc; i++) {
		size_t to = i < ncuts ? cuts[i] : len;
		rc = sse_parser_feed(p, s + at, to - at);
		at = to;
	}
	if (!rc)
		rc = sse_parser_finish(p);
	sse_parser_free(p);
	return rc;
}

static int parse_whole(struct rec *r, const char *s, size_t len)
{
	return parse_cuts(r, 0, s, len, NULL, 0);
}

static int parse_step(struct rec *r, const char *s, size_t len, size_t step)
{
	struct sse_parser *p = sse_parser_new(rec_cb, r, 0);
	int rc = 0;
	for (size_t at = 0; at < len && !rc; at += step)
		rc = sse_parser_feed(p, s + at, len - at < step ? len - at : step);
	if (!rc)
		rc = sse_parser_finish(p);
	sse_parser_free(p);
	return rc;
}

/* Whether parsing s with these cuts gives exactly the log want. */
static bool same_as(const struct rec *want, const char *s, size_t len, const size_t *cuts, size_t ncuts)
{
	struct rec r;
	rec_init(&r);
	int rc = parse_cuts(&r, 0, s, len, cuts, ncuts);
	bool same = rc == 0 && !r.bad_nul && r.log.len == want->log.len &&
	            memcmp(buf_str(&r.log), buf_str(&want->log), r.log.len) == 0;
	buf_free(&r.log);
	return same;
}

/* The expected log computed the dumb way, for the fixtures' simple shape
 * (LF only; blocks separated by a blank line; "event: " and "data: " lines). */
static void oracle(struct buf *log, const char *s)
{
	const char *block = s;
	while (*block) {
		const char *end = strstr(block, "\n\n");
		end = end ? end + 1 : block + strlen(block);
		struct buf data = BUF_INIT;
		char *event = NULL;
		bool have_data = false;
		for (const char *l = block; l < end;) {
			const char *nl = memchr(l, '\n', (size_t)(end - l));
			size_t n = (size_t)(nl - l);
			if (n > 7 && memcmp(l, "event: ", 7) == 0) {
				free(event);
				event = xstrndup(l + 7, n - 7);
			} else if (n >= 6 && memcmp(l, "data: ", 6) == 0) {
				if (have_data)
					buf_putc(&data, '\n');
				buf_append(&data, l + 6, n - 6);
				have_data = true;
			}
			l = nl + 1;
		}
		if (have_data || event) {
			rec_opt(log, "event", event);
			rec_opt(log, "id", NULL);
			buf_printf(log, "data=%zu[%s]\n", data.len, buf_str(&data));
		}
		free(event);
		buf_free(&data);
		block = *end == '\n' ? end + 1 : end;
	}
}

static char *replace_lf(const char *s, const char *with)
{
	struct buf b = BUF_INIT;
	for (; *s; s++) {
		if (*s == '\n')
			buf_puts(&b, with);
		else
			buf_putc(&b, *s);
	}
	return buf_steal(&b);
}

/* A fixed generator so failures reproduce. */
static unsigned long rng_state = 12345;
static size_t rng(size_t n)
{
	rng_state = rng_state * 6364136223846793005UL + 1442695040888963407UL;
	return (size_t)(rng_state >> 33) % n;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

/* Feeds s whole, split in two at every offset, in random pieces and one byte
 * at a time, checking all give the same events as the whole feed; want is the
 * whole feed's expected log, or NULL to skip that comparison. */
static void check_splits(const char *name, const char *s, int want_count, const char *want)
{
	size_t len = strlen(s);
	struct rec whole;
	rec_init(&whole);
	is_int(parse_whole(&whole, s, len), 0, "%s: whole feed returns 0", name);
	is_int(whole.count, want_count, "%s: %d events", name, want_count);
	ok(!whole.bad_nul, "%s: data NUL-terminated", name);
	if (want && !ok(rec_is(&whole, want), "%s: events match the expected list", name))
		printf("# got:\n%s# want:\n%s", buf_str(&whole.log), want);

	size_t bad = (size_t)-1;
	for (size_t k = 0; k <= len && bad == (size_t)-1; k++)
		if (!same_as(&whole, s, len, &k, 1))
			bad = k;
	if (!ok(bad == (size_t)-1, "%s: split at every one of %zu byte boundaries", name, len + 1))
		printf("#   first bad split at offset %zu\n", bad);

	bool all = true;
	for (int iter = 0; iter < 200 && all; iter++) {
		size_t cuts[16], n = 1 + rng(16);
		for (size_t i = 0; i < n; i++)
			cuts[i] = rng(len + 1);
		qsort(cuts, n, sizeof(cuts[0]), cmp_size);
		all = same_as(&whole, s, len, cuts, n);
	}
	ok(all, "%s: 200 random multi-way splits", name);

	struct rec bytes;
	rec_init(&bytes);
	int rc = parse_step(&bytes, s, len, 1);
	ok(rc == 0 && bytes.log.len == whole.log.len &&
	       memcmp(buf_str(&bytes.log), buf_str(&whole.log), whole.log.len) == 0,
	   "%s: one byte at a time", name);
	buf_free(&bytes.log);
	buf_free(&whole.log);
}

/* The fixture as written (LF), and with CRLF and bare CR line endings. */
static void check_fixture(const char *name, const char *s, int want_count)
{
	struct buf want = BUF_INIT;
	oracle(&want, s);
	check_splits(name, s, want_count, buf_str(&want));

	char *crlf = replace_lf(s, "\r\n");
	char *cr = replace_lf(s, "\r");
	char label[128];
	snprintf(label, sizeof(label), "%s (CRLF)", name);
	check_splits(label, crlf, want_count, buf_str(&want));
	snprintf(label, sizeof(label), "%s (CR)", name);
	check_splits(label, cr, want_count, buf_str(&want));
	free(crlf);
	free(cr);
	buf_free(&want);
}

/* Parses s whole and returns the log (owned by the caller). */
static char *log_of(const char *s, size_t len, int *rc)
{
	struct rec r;
	rec_init(&r);
	int got = parse_whole(&r, s, len);
	if (rc)
		*rc = got;
	return buf_steal(&r.log);
}

static void expect(const char *s, const char *want, const char *name)
{
	char *got = log_of(s, strlen(s), NULL);
	is_str(got, want, "%s", name);
	free(got);
}

static void test_fixtures(void)
{
	check_fixture("openai chunks", openai_chunks, 5);
	check_fixture("openai tool calls", openai_tool_calls, 6);
	check_fixture("anthropic fixture", anthropic_fixture, 15);
	check_fixture("anthropic error", anthropic_error, 1);
	check_fixture("gemini", gemini_chunks, 2);

	/* Spot checks that do not rely on the oracle. */
	char *log = log_of(openai_chunks, strlen(openai_chunks), NULL);
	ok(strstr(log, "event=~ id=~ data=6[[DONE]]\n") != NULL && str_has_suffix(log, "[[DONE]]\n"),
	   "openai: last event is [DONE] with no event name");
	ok(str_has_prefix(log, "event=~ id=~ data=") && strstr(log, "[{\"id\":\"chatcmpl-123\"") != NULL,
	   "openai: first event is the first chunk JSON");
	free(log);

	log = log_of(anthropic_fixture, strlen(anthropic_fixture), NULL);
	static const char *const names[] = {
	    "message_start",       "content_block_start", "ping",
	    "content_block_delta", "content_block_delta", "content_block_stop",
	    "content_block_start", "content_block_delta", "content_block_delta",
	    "content_block_delta", "content_block_delta", "content_block_delta",
	    "content_block_stop",  "message_delta",       "message_stop",
	};
	bool in_order = true;
	const char *at = log;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && in_order; i++) {
		char tag[64];
		snprintf(tag, sizeof(tag), "event=[%s] ", names[i]);
		at = strstr(at, tag);
		in_order = at && (at == log || at[-1] == '\n');
		if (at)
			at += strlen(tag);
	}
	ok(in_order, "anthropic: event names in fixture order");
	ok(strstr(log, "event=[ping] id=~ data=16[{\"type\": \"ping\"}]\n") != NULL,
	   "anthropic: ping data keeps its inner space");
	free(log);

	/* Gemini as it arrives on the wire, "\r\n\r\n" between chunks. */
	char *crlf = replace_lf(gemini_chunks, "\r\n");
	log = log_of(crlf, strlen(crlf), NULL);
	ok(strstr(log, "finishReason\": \"STOP\"") != NULL && strstr(log, "\r") == NULL,
	   "gemini CRLF: no CR leaks into data");
	free(log);
	free(crlf);
}

static void test_line_endings(void)
{
	const char *ab = "event=~ id=~ data=3[a\nb]\n";
	expect("data: a\ndata: b\n\n", ab, "LF");
	expect("data: a\r\ndata: b\r\n\r\n", ab, "CRLF");
	expect("data: a\rdata: b\r\r", ab, "CR");
	expect("data: a\r\ndata: b\r\r\n", ab, "mixed CRLF, CR, LF");
	expect("data: a\n\r\ndata: b\r\n\n", "event=~ id=~ data=1[a]\nevent=~ id=~ data=1[b]\n",
	       "LF then CRLF blank line, CRLF then LF blank line");
	expect("data: a\r\r\ndata: b\n\n", "event=~ id=~ data=1[a]\nevent=~ id=~ data=1[b]\n",
	       "CR then CRLF is a line and a blank line");
	expect("data: a\n\n\n\n\ndata: b\n\n", "event=~ id=~ data=1[a]\nevent=~ id=~ data=1[b]\n",
	       "extra blank lines dispatch nothing");

	/* The CRLF split by the feed boundary: the "\n" must not become an empty
	 * line, which would dispatch "x" alone. */
	size_t cut = strlen("data: x\r");
	const char *s = "data: x\r\ndata: y\r\n\r\n";
	struct rec r;
	rec_init(&r);
	is_int(parse_cuts(&r, 0, s, strlen(s), &cut, 1), 0, "CR at feed end: returns 0");
	ok(rec_is(&r, "event=~ id=~ data=3[x\ny]\n"), "CR at feed end, LF next feed: one event");
	buf_free(&r.log);

	size_t cuts2[] = {8, 8, 8}; /* empty feeds between the CR and the LF */
	rec_init(&r);
	parse_cuts(&r, 0, s, strlen(s), cuts2, 3);
	ok(rec_is(&r, "event=~ id=~ data=3[x\ny]\n"), "CR, empty feeds, then LF: one event");
	buf_free(&r.log);

	s = "data: x\r\n\r\ndata: y\n\n";
	size_t cut3 = strlen("data: x\r\n\r");
	rec_init(&r);
	parse_cuts(&r, 0, s, strlen(s), &cut3, 1);
	ok(rec_is(&r, "event=~ id=~ data=1[x]\nevent=~ id=~ data=1[y]\n"),
	   "CR of the blank line at feed end: exactly two events");
	buf_free(&r.log);

	s = "data: x\r";
	rec_init(&r);
	parse_cuts(&r, 0, s, strlen(s), NULL, 0);
	ok(rec_is(&r, "event=~ id=~ data=1[x]\n"), "CR at feed end, then finish");
	buf_free(&r.log);

	/* A lone CR followed by a non-LF in the next feed still ends the line. */
	s = "data: x\rdata: y\r\r";
	size_t cut4 = strlen("data: x\r");
	rec_init(&r);
	parse_cuts(&r, 0, s, strlen(s), &cut4, 1);
	ok(rec_is(&r, "event=~ id=~ data=3[x\ny]\n"), "CR at feed end, then another line");
	buf_free(&r.log);
}

static void test_fields(void)
{
	expect("data: a\ndata:\ndata: c\n\n", "event=~ id=~ data=4[a\n\nc]\n",
	       "multi-line data with an empty line in the middle");
	expect("data\n\n", "event=~ id=~ data=0[]\n", "a line without colon is a field with empty value");
	expect("data:x\n\n", "event=~ id=~ data=1[x]\n", "no space after colon");
	expect("data:  x \n\n", "event=~ id=~ data=3[ x ]\n", "exactly one leading space stripped");
	expect("data: a:b: c\n\n", "event=~ id=~ data=6[a:b: c]\n", "only the first colon splits");
	expect("event:foo\ndata:1\n\n", "event=[foo] id=~ data=1[1]\n", "event without space");

	expect(": OPENROUTER PROCESSING\n\ndata: x\n\n", "event=~ id=~ data=1[x]\n",
	       "comment then blank line dispatches nothing");
	expect(":c1\ndata: x\n: c2\n:\n\n", "event=~ id=~ data=1[x]\n", "comments inside an event");
	expect(": only comments\n\n:\n\n", "", "a stream of comments has no events");

	expect("event: ping\n\n", "event=[ping] id=~ data=0[]\n", "event field alone still dispatches");
	expect("event:\ndata: x\n\n", "event=[] id=~ data=1[x]\n", "empty event name is \"\", not NULL");
	expect("event: a\nevent: b\ndata: x\n\n", "event=[b] id=~ data=1[x]\n", "last event field wins");
	expect("event: a\ndata: 1\n\ndata: 2\n\n", "event=[a] id=~ data=1[1]\nevent=~ id=~ data=1[2]\n",
	       "event name resets after dispatch");

	expect("id: 42\ndata: x\n\ndata: y\n\n", "event=~ id=[42] data=1[x]\nevent=~ id=~ data=1[y]\n",
	       "id is per event");
	expect("id: 7\n\ndata: x\n\n", "event=~ id=~ data=1[x]\n",
	       "id alone does not dispatch nor carry over");
	expect("id\ndata: x\n\n", "event=~ id=[] data=1[x]\n", "empty id");

	static const char nul_id[] = "id: a\0b\ndata: x\n\n";
	char *got = log_of(nul_id, sizeof(nul_id) - 1, NULL);
	is_str(got, "event=~ id=~ data=1[x]\n", "id containing NUL is ignored");
	free(got);
	static const char nul_data[] = "data: a\0b\n\n";
	static const char nul_want[] = "event=~ id=~ data=3[a\0b]\n";
	got = log_of(nul_data, sizeof(nul_data) - 1, NULL);
	ok(memcmp(got, nul_want, sizeof(nul_want)) == 0, "NUL inside data is kept, length counts it");
	free(got);

	expect("retry: 1000\n\n", "", "retry alone does not dispatch");
	expect("retry: 1000\ndata: x\n\n", "event=~ id=~ data=1[x]\n", "retry is ignored");
	expect("foo: bar\nDATA: y\n data: z\n\n", "", "unknown, upper-case and space-led fields are ignored");
	expect("foo: bar\ndata: x\n\n", "event=~ id=~ data=1[x]\n", "unknown field beside data");
}

static void test_finish(void)
{
	expect("data: x", "event=~ id=~ data=1[x]\n", "final line without newline dispatched by finish");
	expect("data: x\n", "event=~ id=~ data=1[x]\n",
	       "final event without blank line dispatched by finish");
	expect("event: e\ndata: x\n\n", "event=[e] id=~ data=1[x]\n", "finish does not dispatch twice");
	expect("event: message_stop\ndata: {}", "event=[message_stop] id=~ data=2[{}]\n",
	       "anthropic-like stream cut before the blank line");
	expect("", "", "empty stream");
	expect(": keep-alive", "", "pending comment at finish");

	/* After a successful finish the parser reads a new stream. */
	struct rec r;
	rec_init(&r);
	struct sse_parser *p = sse_parser_new(rec_cb, &r, 0);
	sse_parser_feed(p, "data: 1", 7);
	sse_parser_finish(p);
	sse_parser_feed(p,
	                "\xEF\xBB\xBF"
	                "data: 2\n\n",
	                12);
	is_int(sse_parser_finish(p), 0, "finish, then a second stream");
	ok(rec_is(&r, "event=~ id=~ data=1[1]\nevent=~ id=~ data=1[2]\n"),
	   "second stream after finish, BOM skipped");
	sse_parser_free(p);
	buf_free(&r.log);
	sse_parser_free(NULL);
	ok(1, "sse_parser_free(NULL) is a no-op");
}

static void test_bom(void)
{
	expect("\xEF\xBB\xBF"
	       "data: x\n\n",
	       "event=~ id=~ data=1[x]\n", "BOM at start skipped");
	check_splits("BOM stream",
	             "\xEF\xBB\xBF"
	             "data: x\r\n\r\ndata: y\n\n",
	             2, "event=~ id=~ data=1[x]\nevent=~ id=~ data=1[y]\n");
	expect("\xEF\xBB\xBF\xEF\xBB\xBF"
	       "data: x\n\n",
	       "", "only one BOM is skipped");
	expect("data: \xEF\xBB\xBFx\n\n", "event=~ id=~ data=4[\xEF\xBB\xBFx]\n", "BOM bytes later are data");
	/* Bytes that merely start like a BOM are kept: "\xEF\xBB" glued to
	 * "data" makes an unknown field, so no event. */
	check_splits("partial BOM kept",
	             "\xEF\xBB"
	             "data: x\n\n",
	             0, "");
	check_splits("one BOM byte kept",
	             "\xEF"
	             "data: x\n\ndata: y\n\n",
	             1, "event=~ id=~ data=1[y]\n");
	expect("\xEF\xBB", "", "stream that is only a partial BOM");
	expect("\xEF\xBB\n"
	       "data: x\n\n",
	       "event=~ id=~ data=1[x]\n", "partial BOM then newline");
}

static void test_too_big(void)
{
	enum { CAP = 1024 };
	char *big = xmalloc(2 * CAP + 16);
	memcpy(big, "data: ", 6);
	memset(big + 6, 'a', 2 * CAP);
	memcpy(big + 6 + 2 * CAP, "\n\n", 3);
	size_t len = strlen(big);

	struct rec r;
	rec_init(&r);
	is_int(parse_cuts(&r, CAP, big, len, NULL, 0), SSE_ERR_TOO_BIG, "oversized line in one feed");
	is_int(r.count, 0, "nothing dispatched for it");
	buf_free(&r.log);

	rec_init(&r);
	is_int(parse_step(&r, big, len, 100), 0, "same line under the 16 MiB default works");
	buf_free(&r.log);

	struct sse_parser *p = sse_parser_new(rec_cb, &r, CAP);
	rec_init(&r);
	int rc = 0;
	size_t at;
	for (at = 0; at < len && !rc; at += 100)
		rc = sse_parser_feed(p, big + at, len - at < 100 ? len - at : 100);
	is_int(rc, SSE_ERR_TOO_BIG, "oversized line across feeds");
	ok(at <= CAP + 100, "detected once the cap is crossed, not at end of line");
	is_int(sse_parser_feed(p, "data: x\n\n", 9), SSE_ERR_TOO_BIG, "parser stays stopped");
	is_int(sse_parser_finish(p), SSE_ERR_TOO_BIG, "finish reports it too");
	sse_parser_reset(p);
	is_int(sse_parser_feed(p, "data: x\n\n", 9), 0, "after reset it parses again");
	ok(rec_is(&r, "event=~ id=~ data=1[x]\n"), "event after reset");
	sse_parser_free(p);
	buf_free(&r.log);

	/* Many small data lines adding up past the cap. */
	struct buf many = BUF_INIT;
	for (int i = 0; i < 200; i++)
		buf_puts(&many, "data: 0123456789\n");
	buf_puts(&many, "\n");
	rec_init(&r);
	is_int(parse_cuts(&r, CAP, many.data, many.len, NULL, 0), SSE_ERR_TOO_BIG,
	       "data lines accumulating past the cap");
	buf_free(&r.log);
	/* A stream of many small events is fine: the cap is per event. */
	buf_reset(&many);
	for (int i = 0; i < 200; i++)
		buf_puts(&many, "data: 0123456789\n\n");
	rec_init(&r);
	is_int(parse_cuts(&r, CAP, many.data, many.len, NULL, 0), 0, "cap is per event, not per stream");
	is_int(r.count, 200, "all small events dispatched");
	buf_free(&r.log);
	buf_free(&many);
	free(big);

	/* A 10 MB single line under the default 16 MiB cap. */
	size_t n = (size_t)10 * 1000 * 1000;
	char *huge = xmalloc(n + 16);
	memcpy(huge, "data: ", 6);
	for (size_t i = 0; i < n; i++)
		huge[6 + i] = (char)('a' + i % 26);
	memcpy(huge + 6 + n, "\n\n", 2);
	len = 6 + n + 2;
	rec_init(&r);
	is_int(parse_step(&r, huge, len, 65536), 0, "10 MB line in 64 KiB feeds");
	ok(r.count == 1 && r.log.len > n &&
	       strstr(r.log.data, "data=10000000[abcdefghijklmnopqrstuvwxyzabc") != NULL &&
	       huge[6 + n - 1] == r.log.data[r.log.len - 3] && r.log.data[r.log.len - 2] == ']',
	   "10 MB event delivered whole");
	buf_free(&r.log);
	rec_init(&r);
	is_int(parse_whole(&r, huge, len), 0, "10 MB line in one feed");
	is_int(r.count, 1, "one 10 MB event");
	buf_free(&r.log);
	free(huge);
}

static void test_stop(void)
{
	const char *s = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
	struct rec r;
	rec_init(&r);
	r.stop_at = 2;
	r.stop_rc = 7;
	struct sse_parser *p = sse_parser_new(rec_cb, &r, 0);
	is_int(sse_parser_feed(p, s, strlen(s)), 7, "callback's non-zero value returned by feed");
	ok(rec_is(&r, "event=~ id=~ data=1[1]\nevent=~ id=~ data=1[2]\n"), "no event after the stop");
	is_int(sse_parser_feed(p, "data: 4\n\n", 9), 7, "later feed returns it again");
	is_int(sse_parser_finish(p), 7, "finish returns it again");
	is_int(r.count, 2, "still nothing dispatched");
	sse_parser_reset(p);
	r.stop_at = 0;
	is_int(sse_parser_feed(p, "data: 5\n\n", 9), 0, "reset clears the stop");
	is_int(r.count, 3, "and parsing resumes");
	sse_parser_free(p);
	buf_free(&r.log);

	rec_init(&r);
	r.stop_at = 1;
	r.stop_rc = -1;
	p = sse_parser_new(rec_cb, &r, 0);
	is_int(sse_parser_feed(p, "data: [DONE]", 12), 0, "pending event not yet dispatched");
	is_int(sse_parser_finish(p), -1, "callback's value returned by finish");
	sse_parser_free(p);
	buf_free(&r.log);
}

static void roundtrip(const char *event, const char *data, size_t len, const char *name)
{
	struct buf out = BUF_INIT;
	sse_write_event(&out, event, data, len);
	struct rec r;
	rec_init(&r);
	struct sse_parser *p = sse_parser_new(rec_cb, &r, 0);
	int rc = sse_parser_feed(p, out.data, out.len);
	bool dispatched_before_finish = r.count == 1;
	rc |= sse_parser_finish(p);
	sse_parser_free(p);

	struct rec want;
	rec_init(&want);
	rec_opt(&want.log, "event", event);
	rec_opt(&want.log, "id", NULL);
	buf_printf(&want.log, "data=%zu[", len);
	buf_append(&want.log, data, len);
	buf_puts(&want.log, "]\n");
	ok(rc == 0 && dispatched_before_finish && r.log.len == want.log.len &&
	       memcmp(r.log.data, want.log.data, want.log.len) == 0,
	   "round trip: %s", name);
	buf_free(&r.log);
	buf_free(&want.log);
	buf_free(&out);
}

static void test_writer(void)
{
	struct buf out = BUF_INIT;
	const char *json = "{\"type\":\"message_start\"}";
	sse_write_event(&out, "message_start", json, strlen(json));
	is_str(buf_str(&out), "event: message_start\ndata: {\"type\":\"message_start\"}\n\n", "event + data");
	buf_reset(&out);
	sse_write_event(&out, NULL, "[DONE]", 6);
	is_str(buf_str(&out), "data: [DONE]\n\n", "data only");
	buf_reset(&out);
	sse_write_event(&out, NULL, "a\nb\n", 4);
	is_str(buf_str(&out), "data: a\ndata: b\ndata: \n\n", "data split on newlines");
	buf_reset(&out);
	sse_write_event(&out, "x", "", 0);
	is_str(buf_str(&out), "event: x\ndata: \n\n", "empty data is one empty data line");
	buf_reset(&out);
	sse_write_event(&out, NULL, "a\r\nb\rc", 6);
	is_str(buf_str(&out), "data: a\ndata: b\ndata: c\n\n", "CRLF and CR in data become line breaks");
	buf_reset(&out);
	sse_write_event(&out, "bad\nevent: injected", "x", 1);
	is_str(buf_str(&out), "event: bad\ndata: x\n\n", "event name cut at a line break");
	buf_reset(&out);
	buf_puts(&out, "kept");
	sse_write_comment(&out, "OPENROUTER PROCESSING");
	is_str(buf_str(&out), "kept: OPENROUTER PROCESSING\n\n", "comment appends");
	buf_reset(&out);
	sse_write_comment(&out, "a\nb");
	is_str(buf_str(&out), ": a\n: b\n\n", "multi-line comment");
	buf_reset(&out);
	sse_write_comment(&out, NULL);
	is_str(buf_str(&out), ": \n\n", "NULL comment is a keep-alive");
	char *got = log_of(out.data, out.len, NULL);
	is_str(got, "", "comment parses to no event");
	free(got);
	buf_free(&out);

	roundtrip(NULL, "{\"a\":1}", 7, "json");
	roundtrip("content_block_delta", "line one\nline two\n\nline four", 28, "embedded newlines");
	roundtrip(NULL, "\n", 1, "just a newline");
	roundtrip(NULL, "\n\n\n", 3, "only newlines");
	roundtrip("e", "", 0, "empty data with event");
	roundtrip(NULL, "", 0, "empty data");
	roundtrip(NULL, " leading space", 14, "leading space preserved");
	roundtrip(NULL, ": not a comment", 15, "colon at start of data");
	roundtrip("", "x", 1, "empty event name");
	roundtrip(NULL, "a\0b\nc", 5, "embedded NUL");

	/* Random data (no CR, which the writer normalises) round-trips exactly,
	 * also when several written events are parsed as one split stream. */
	struct buf stream = BUF_INIT, want = BUF_INIT;
	for (int i = 0; i < 100; i++) {
		char data[64];
		size_t n = rng(sizeof(data));
		for (size_t j = 0; j < n; j++) {
			static const char alpha[] = "ab: \n\n{}\"\\\0\xEF\xBB\xBF";
			data[j] = alpha[rng(sizeof(alpha) - 1)];
		}
		const char *ev = i % 3 ? "delta" : NULL;
		sse_write_event(&stream, ev, data, n);
		if (i % 10 == 0)
			sse_write_comment(&stream, "ping");
		rec_opt(&want, "event", ev);
		rec_opt(&want, "id", NULL);
		buf_printf(&want, "data=%zu[", n);
		buf_append(&want, data, n);
		buf_puts(&want, "]\n");
	}
	struct rec r;
	rec_init(&r);
	parse_step(&r, stream.data, stream.len, 7);
	ok(r.count == 100 && r.log.len == want.len && memcmp(r.log.data, want.data, want.len) == 0,
	   "100 random written events parse back exactly");
	buf_free(&r.log);
	buf_free(&stream);
	buf_free(&want);
}

int main(void)
{
	test_fixtures();
	test_line_endings();
	test_fields();
	test_finish();
	test_bom();
	test_too_big();
	test_stop();
	test_writer();
	return tap_done();
}
