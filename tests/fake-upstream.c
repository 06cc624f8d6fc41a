/*
 * fake-upstream.c - the test suite's stand-in for the OpenAI, Anthropic and
 * Gemini APIs, served on loopback with libevent's evhttp.
 *
 * Owns: the listener and its port file; the JSONL record of every request
 * (tests assert on what arouter sent by reading it back with jq); the three
 * dialects' deterministic answers, JSON and SSE; and per-request scripting
 * ("directives") that makes a request fail, stall, drip, get cut, or answer
 * with garbage, HTML, tool calls or reasoning.  tests/fake.bash drives it from
 * bats and tests/fake-upstream.bats pins down every behaviour.
 *
 * It also answers the ARouter account API (/api/v1/balance, /transactions,
 * /usage, /keys and /keys/{id}) with fixed JSON, so that `arouter keys`,
 * `balance` and `usage` can be tested against a gateway.
 *
 * Directive syntax, from the /_fake/next queue, an X-Fake header and
 * [[fake:...]] markers in the body (applied in that order, later wins per
 * key): "key=value;key2=value2;flag".  Keys: status, retry_after, stall,
 * drip, cut, cut_deltas, clean_end, garbage, html, stream_error, tool[=N],
 * reasoning, reply, echo, nousage, catalog, and the faults below.  Unknown
 * keys are ignored.  --directive DIRECTIVE applies one before all of those
 * to every request (a fake that misbehaves for everyone, e.g. fail_pct).
 *
 * Faults of a hostile or broken upstream:
 *   huge_line=N   the answer's first word is N bytes of "x": one SSE line
 *                 (or JSON body) of N bytes and a little more
 *   ascii         every JSON text is pure ASCII: other characters are
 *                 \uXXXX escapes, surrogate pairs past U+FFFF (as Python's
 *                 json.dumps writes them, and so many OpenAI-compatible
 *                 servers)
 *   bad_utf8      the answer has " \xff\xfe" (invalid UTF-8) after its first
 *                 word, raw in the JSON strings
 *   wrong_ctype[=swap|text|none]  the Content-Type lies: swap (the default)
 *                 labels a stream application/json and a JSON body
 *                 text/event-stream; text says text/plain; none sends none
 *   error_200     a 200 whose body is the dialect's error JSON (also for a
 *                 streamed request)
 *   gzip          the body gzip-encoded (Content-Encoding: gzip) whatever
 *                 the request's Accept-Encoding; a stream is one gzip member
 *                 whose events are each flushed as a stored block
 *   no_terminator the stream ends properly at the HTTP level without its
 *                 terminator: OpenAI's "data: [DONE]", Anthropic's
 *                 message_stop (Gemini streams have none: no change)
 *   never_close   after the last event the response stays open (no last
 *                 chunk, no close) until the client hangs up
 *   reset         the connection is reset (RST, SO_LINGER 0) where a cut
 *                 would close it; alone it cuts after the second content
 *                 event (or 20 bytes into a JSON body)
 *   redirect=URL  a 302 (or the status=3xx given) with Location: URL
 *   fail_pct=P    P percent of requests (drawn from a PRNG seeded by
 *                 --seed, default 1) are cut after their second content
 *                 event (or 20 bytes into a JSON body), unless a cut was
 *                 asked anyway; each such cut is recorded as an event
 *                 {"event":"fail_pct","seq":N}
 *
 * cut=N counts every event of a stream (an OpenAI role chunk, Anthropic's
 * message_start and ping, ...) and bytes of a JSON body; cut_deltas=N counts
 * only the events that carry content (text, reasoning or tool-call deltas),
 * so that "cut after two words" reads the same in every dialect (it is
 * ignored for a JSON body).  Either way the connection closes without the
 * stream's terminator -- unless `clean_end` is set too, when the HTTP
 * response ends properly (its last chunk) although the stream stopped short:
 * an upstream that gives up without saying so.
 *
 * Continuations: a request whose conversation ends with the assistant's
 * own words -- OpenAI: a last message of role assistant (with or without
 * "prefix": true), or an assistant message followed by a user message that
 * starts with "Your previous answer was cut off"; Anthropic: a last message
 * of role assistant; Gemini: a last content of role model -- is answered
 * with only the rest of the answer when those words, trailing whitespace
 * trimmed, begin it (so a gateway that resends a broken stream's text as a
 * prefill gets exactly the missing tail, its leading space included).
 * Words that do not begin the answer get the whole answer, so that a wrong
 * prefill shows as repeated text.  `echo` answers the last user turn before
 * the continued assistant turn.
 *
 * Every request record carries "t_ms", milliseconds on a monotonic clock,
 * so that tests can measure the time between two requests, and
 * "peer_port", the client's port, so that they can tell whether two
 * requests came on one connection.
 *
 * Everything is event driven: a stalled or dripping response is a timer, so
 * one slow request never holds up another connection.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, memmem */
#endif

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>

#define DEFAULT_TEXT   "Hello from the fake upstream."
#define REASONING_TEXT "Let me think."
#define SIGNATURE      "ZmFrZS1zaWduYXR1cmU=" /* base64("fake-signature") */
#define CREATED        1700000000
#define MAX_TOOLS      8
#define MAX_DELAY_MS   600000L
#define EMBED_DIMS     8
#define MAX_EMBED_DIMS 4096
#define MAX_HUGE_LINE  (256L * 1024 * 1024)

/*
 * Usage is chosen so that every dialect maps (wire-formats §4.5) to the same
 * canonical numbers: prompt 12 (2 of them cached), completion 5, total 17.
 * Anthropic reports input_tokens 10 because its input_tokens excludes the 2
 * cache reads.  The `reasoning` directive adds 3 reasoning tokens, counted
 * where each real API counts them: inside OpenAI completion_tokens (8, total
 * 20) and Anthropic output_tokens (8), and beside Gemini candidatesTokenCount
 * (5) as thoughtsTokenCount 3 with totalTokenCount 20 -- so the canonical
 * completion is 8 and total 20 in every dialect.  The numbers do not depend
 * on the answer's text (reply, echo, tool calls keep them).
 */
/*
 * A continuation (see above) reports as completion tokens the number of
 * words of the tail it sends (the pieces split_words makes: " fake
 * upstream." is 2), plus reasoning; the prompt side does not change.  The
 * default answer is 5 such words, so a whole answer and its two halves add
 * up to the same 5.
 */
enum {
	PROMPT_TOKENS = 12,
	CACHED_TOKENS = 2,
	COMPLETION_TOKENS = 5,
	REASONING_TOKENS = 3,
};

static const char *const tool_locations[MAX_TOOLS] = {
	"Paris", "Tokyo", "London", "Berlin", "Madrid", "Rome", "Oslo", "Lima",
};

/* ---- small utilities ---- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("fake-upstream: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn(const char *fmt, ...)
{
	va_list ap;

	fputs("fake-upstream: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A test helper has nothing useful to do when memory runs out: say so and
 * stop, rather than carrying NULL checks through every builder. */
static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		die("out of memory");
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		die("out of memory");
	return p;
}

static char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		die("out of memory");
	return p;
}

static char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		die("out of memory");
	return s;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ---- json-c wrappers: every constructor checked once, here ---- */

static json_object *jcheck(json_object *o)
{
	if (o == NULL)
		die("out of memory");
	return o;
}

static json_object *jobj(void)
{
	return jcheck(json_object_new_object());
}

static json_object *jarr(void)
{
	return jcheck(json_object_new_array());
}

static json_object *jstr(const char *s)
{
	return jcheck(json_object_new_string(s));
}

static json_object *jstrn(const char *s, size_t n)
{
	if (n > INT_MAX)
		die("string too long for json-c");
	return jcheck(json_object_new_string_len(s, (int)n));
}

static json_object *jint(int64_t v)
{
	return jcheck(json_object_new_int64(v));
}

static json_object *jbool(bool b)
{
	return jcheck(json_object_new_boolean(b));
}

static json_object *jdbl(double d)
{
	return jcheck(json_object_new_double(d));
}

/* Takes ownership of v; a NULL v is written as JSON null. */
static void jset(json_object *o, const char *key, json_object *v)
{
	if (json_object_object_add(o, key, v) != 0)
		die("out of memory");
}

static void jpush(json_object *a, json_object *v)
{
	if (json_object_array_add(a, v) != 0)
		die("out of memory");
}

static json_object *jget(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (o == NULL || !json_object_is_type(o, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static const char *jget_str(json_object *o, const char *key)
{
	json_object *v = jget(o, key);

	return v != NULL && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* The ascii directive of the request being answered (one at a time). */
static bool ascii_json;

/* s with every UTF-8 sequence as \u escapes (a surrogate pair past U+FFFF);
 * bytes that are not UTF-8 stay. Non-ASCII bytes occur only inside strings. */
static char *ascii_escape(const char *s)
{
	size_t n = strlen(s);
	char *out = xmalloc(n * 12 + 1), *o = out;
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned long c = *p;
		int len = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 1;
		bool ok = c >= 0x80 && len > 1;

		for (int i = 1; ok && i < len; i++)
			ok = (p[i] & 0xc0) == 0x80;
		if (!ok) {
			*o++ = (char)*p++;
			continue;
		}
		c &= 0xffu >> (len + 1);
		for (int i = 1; i < len; i++)
			c = c << 6 | (p[i] & 0x3f);
		p += len;
		if (c > 0xffff) {
			c -= 0x10000;
			o += sprintf(o, "\\u%04lx\\u%04lx", 0xd800 + (c >> 10), 0xdc00 + (c & 0x3ff));
		} else {
			o += sprintf(o, "\\u%04lx", c);
		}
	}
	*o = '\0';
	return out;
}

/* Compact text of o, owned by the caller; o itself is released, since every
 * caller builds a value only to serialize it once. */
static char *jtake(json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	char *copy;

	if (s == NULL)
		die("out of memory");
	copy = ascii_json ? ascii_escape(s) : xstrdup(s);
	json_object_put(o);
	return copy;
}

/* ---- directives ---- */

struct directive {
	int status;	   /* 0: the endpoint's own status */
	char *retry_after; /* NULL: no Retry-After header */
	char *location;    /* redirect=URL: a 302 (or status=3xx) to it */
	long stall_ms;
	long drip_ms;
	long cut; /* -1: send everything */
	long cut_deltas; /* -1: no cut by content events */
	int tools; /* 0: answer with text */
	char *reply; /* NULL: the default text */
	bool garbage, html, stream_error, reasoning, echo, nousage;
	bool clean_end; /* a cut stream ends its HTTP response properly */
	bool catalog; /* GET .../models answers like an OpenRouter or ARouter gateway */
	long huge_line; /* 0: off; else the first word's length in bytes */
	bool ascii, bad_utf8, error_200, gzip, no_terminator, never_close, reset;
	const char *wrong_ctype; /* NULL: honest; else a static Content-Type ("" for none) */
	long fail_pct;
};

static void directive_init(struct directive *d)
{
	memset(d, 0, sizeof(*d));
	d->cut = -1;
	d->cut_deltas = -1;
}

static void directive_free(struct directive *d)
{
	free(d->retry_after);
	free(d->location);
	free(d->reply);
}

static bool parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* A bare flag turns it on; "=0", "=false", "=no" or "=off" turn it back off
 * so that a later source can cancel an earlier one. */
static bool parse_flag(const char *v)
{
	return v == NULL || !(strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0 ||
			      strcasecmp(v, "off") == 0);
}

static void directive_set(struct directive *d, const char *key, const char *val)
{
	long n;

	if (strcmp(key, "status") == 0) {
		if (parse_long(val, 200, 599, &n))
			d->status = (int)n;
		else
			warn("directive status=%s ignored: want 200..599", val ? val : "");
	} else if (strcmp(key, "retry_after") == 0) {
		free(d->retry_after);
		d->retry_after = val && *val ? xstrdup(val) : NULL;
	} else if (strcmp(key, "redirect") == 0) {
		free(d->location);
		d->location = val && *val ? xstrdup(val) : NULL;
	} else if (strcmp(key, "stall") == 0 || strcmp(key, "drip") == 0) {
		if (parse_long(val, 0, MAX_DELAY_MS, &n))
			*(key[0] == 's' ? &d->stall_ms : &d->drip_ms) = n;
		else
			warn("directive %s=%s ignored: want milliseconds", key, val ? val : "");
	} else if (strcmp(key, "cut") == 0 || strcmp(key, "cut_deltas") == 0) {
		if (parse_long(val, 0, LONG_MAX, &n))
			*(key[3] == '\0' ? &d->cut : &d->cut_deltas) = n;
		else
			warn("directive %s=%s ignored: want a count", key, val ? val : "");
	} else if (strcmp(key, "tool") == 0) {
		if (val == NULL)
			d->tools = 1;
		else if (parse_long(val, 0, MAX_TOOLS, &n))
			d->tools = (int)n;
		else
			warn("directive tool=%s ignored: want 0..%d", val, MAX_TOOLS);
	} else if (strcmp(key, "reply") == 0) {
		free(d->reply);
		d->reply = xstrdup(val ? val : "");
	} else if (strcmp(key, "garbage") == 0) {
		d->garbage = parse_flag(val);
	} else if (strcmp(key, "html") == 0) {
		d->html = parse_flag(val);
	} else if (strcmp(key, "stream_error") == 0) {
		d->stream_error = parse_flag(val);
	} else if (strcmp(key, "reasoning") == 0) {
		d->reasoning = parse_flag(val);
	} else if (strcmp(key, "echo") == 0) {
		d->echo = parse_flag(val);
	} else if (strcmp(key, "nousage") == 0) {
		d->nousage = parse_flag(val);
	} else if (strcmp(key, "clean_end") == 0) {
		d->clean_end = parse_flag(val);
	} else if (strcmp(key, "catalog") == 0) {
		d->catalog = parse_flag(val);
	} else if (strcmp(key, "huge_line") == 0) {
		if (parse_long(val, 0, MAX_HUGE_LINE, &n))
			d->huge_line = n;
		else
			warn("directive huge_line=%s ignored: want 0..%ld bytes", val ? val : "", MAX_HUGE_LINE);
	} else if (strcmp(key, "ascii") == 0) {
		d->ascii = parse_flag(val);
	} else if (strcmp(key, "bad_utf8") == 0) {
		d->bad_utf8 = parse_flag(val);
	} else if (strcmp(key, "wrong_ctype") == 0) {
		if (val == NULL || strcmp(val, "swap") == 0)
			d->wrong_ctype = "swap";
		else if (strcmp(val, "text") == 0)
			d->wrong_ctype = "text/plain";
		else if (strcmp(val, "none") == 0)
			d->wrong_ctype = "";
		else if (!parse_flag(val))
			d->wrong_ctype = NULL;
		else
			warn("directive wrong_ctype=%s ignored: want swap, text or none", val);
	} else if (strcmp(key, "error_200") == 0) {
		d->error_200 = parse_flag(val);
	} else if (strcmp(key, "gzip") == 0) {
		d->gzip = parse_flag(val);
	} else if (strcmp(key, "no_terminator") == 0) {
		d->no_terminator = parse_flag(val);
	} else if (strcmp(key, "never_close") == 0) {
		d->never_close = parse_flag(val);
	} else if (strcmp(key, "reset") == 0) {
		d->reset = parse_flag(val);
	} else if (strcmp(key, "fail_pct") == 0) {
		if (parse_long(val, 0, 100, &n))
			d->fail_pct = n;
		else
			warn("directive fail_pct=%s ignored: want 0..100", val ? val : "");
	}
	/* Unknown keys are ignored so that tests can carry notes. */
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Applies "k=v;k2=v2;flag" from text[0..len).  Keys are trimmed; values are
 * kept byte for byte (a reply may start or end with a space). */
static void directive_apply(struct directive *d, const char *text, size_t len)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *item_end = semi ? semi : end;
		const char *eq = memchr(p, '=', (size_t)(item_end - p));
		const char *k = p, *k_end = eq ? eq : item_end;
		char *key, *val;

		while (k < k_end && is_space(*k))
			k++;
		while (k_end > k && is_space(k_end[-1]))
			k_end--;
		if (k < k_end) {
			key = xstrndup(k, (size_t)(k_end - k));
			val = eq ? xstrndup(eq + 1, (size_t)(item_end - eq - 1)) : NULL;
			directive_set(d, key, val);
			free(key);
			free(val);
		}
		p = semi ? semi + 1 : end;
	}
}

/* The queue and the header take the bare syntax, but accept the body
 * marker's [[fake:...]] wrapper too so that one string works everywhere. */
static void directive_apply_source(struct directive *d, const char *text)
{
	size_t len;

	while (is_space(*text))
		text++;
	len = strlen(text);
	while (len > 0 && is_space(text[len - 1]))
		len--;
	if (len >= 9 && strncmp(text, "[[fake:", 7) == 0 && strncmp(text + len - 2, "]]", 2) == 0) {
		text += 7;
		len -= 9;
	}
	directive_apply(d, text, len);
}

/* Every [[fake:...]] in s[0..len); a marker runs to the first "]]". */
static void directive_apply_markers(struct directive *d, const char *s, size_t len)
{
	const char *p = s, *end = s + len;

	for (;;) {
		const char *open = memmem(p, (size_t)(end - p), "[[fake:", 7), *close;

		if (open == NULL)
			return;
		open += 7;
		close = memmem(open, (size_t)(end - open), "]]", 2);
		if (close == NULL)
			return;
		directive_apply(d, open, (size_t)(close - open));
		p = close + 2;
	}
}

/* Markers are looked for in the decoded strings of a JSON body, so that a
 * marker survives whatever escaping the client's JSON writer chose. */
static void directive_apply_json_markers(struct directive *d, json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_string:
		directive_apply_markers(d, json_object_get_string(o), (size_t)json_object_get_string_len(o));
		break;
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			directive_apply_json_markers(d, json_object_array_get_idx(o, i));
		break;
	case json_type_object: {
		json_object_object_foreach(o, key, val)
		{
			(void)key;
			directive_apply_json_markers(d, val);
		}
		break;
	}
	default:
		break;
	}
}

/* ---- the server context ---- */

struct queued {
	struct queued *next;
	char *text;
};

struct exchange;

struct server {
	struct event_base *base;
	struct evhttp *http;
	FILE *record;
	long seq;
	struct queued *queue_head;
	struct queued **queue_tail;
	struct exchange *exchanges; /* responses still in progress */
	const char *default_directive; /* --directive, or NULL */
	uint64_t rng; /* xorshift64 state for fail_pct, from --seed */
};

/* xorshift64: tiny, seedable and the same on every machine, so that a
 * seeded fail_pct run picks the same requests every time. */
static uint64_t rng_next(struct server *srv)
{
	uint64_t x = srv->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	srv->rng = x;
	return x;
}

static void queue_clear(struct server *srv)
{
	struct queued *q, *next;

	for (q = srv->queue_head; q != NULL; q = next) {
		next = q->next;
		free(q->text);
		free(q);
	}
	srv->queue_head = NULL;
	srv->queue_tail = &srv->queue_head;
}

static void queue_push(struct server *srv, char *text)
{
	struct queued *q = xmalloc(sizeof(*q));

	q->next = NULL;
	q->text = text;
	*srv->queue_tail = q;
	srv->queue_tail = &q->next;
}

/* Returns the oldest queued directive, owned by the caller, or NULL. */
static char *queue_pop(struct server *srv)
{
	struct queued *q = srv->queue_head;
	char *text;

	if (q == NULL)
		return NULL;
	srv->queue_head = q->next;
	if (srv->queue_head == NULL)
		srv->queue_tail = &srv->queue_head;
	text = q->text;
	free(q);
	return text;
}

/* One line per request or event, flushed at once: tests read the file while
 * the fake is still running. */
static void record_line(struct server *srv, json_object *o)
{
	char *line = jtake(o);

	if (fputs(line, srv->record) == EOF || fputc('\n', srv->record) == EOF || fflush(srv->record) != 0)
		warn("cannot write the record file: %s", strerror(errno));
	free(line);
}

static void record_event(struct server *srv, const char *event, long seq)
{
	json_object *o = jobj();

	jset(o, "event", jstr(event));
	jset(o, "seq", jint(seq));
	record_line(srv, o);
}

/* ---- the request as the builders see it ---- */

enum dialect { D_NONE, D_OPENAI, D_ANTHROPIC, D_GEMINI };

enum endpoint {
	EP_UNKNOWN,
	EP_OPENAI_CHAT,
	EP_OPENAI_EMBEDDINGS,
	EP_OPENAI_MODELS,
	EP_ANTHROPIC_MESSAGES,
	EP_ANTHROPIC_COUNT,
	EP_ANTHROPIC_MODELS,
	EP_GEMINI_GENERATE,
	EP_GEMINI_STREAM,
	EP_GEMINI_COUNT,
	EP_GEMINI_EMBED,
	EP_GEMINI_BATCH_EMBED,
	EP_GEMINI_MODELS,
	EP_ACCOUNT,
};

struct request {
	struct server *srv;
	struct evhttp_request *req;
	long seq;
	const char *method;
	const char *path;  /* as sent */
	char *dpath;	   /* percent-decoded, for routing */
	const char *query; /* "" when none */
	char *body;	   /* NUL-terminated copy */
	size_t body_len;
	json_object *json; /* the body parsed, or NULL */
	enum endpoint ep;
	char *gemini_model; /* from the path */
};

static enum dialect endpoint_dialect(enum endpoint ep)
{
	switch (ep) {
	case EP_OPENAI_CHAT:
	case EP_OPENAI_EMBEDDINGS:
	case EP_OPENAI_MODELS:
		return D_OPENAI;
	case EP_ANTHROPIC_MESSAGES:
	case EP_ANTHROPIC_COUNT:
	case EP_ANTHROPIC_MODELS:
		return D_ANTHROPIC;
	case EP_GEMINI_GENERATE:
	case EP_GEMINI_STREAM:
	case EP_GEMINI_COUNT:
	case EP_GEMINI_EMBED:
	case EP_GEMINI_BATCH_EMBED:
	case EP_GEMINI_MODELS:
		return D_GEMINI;
	case EP_ACCOUNT:
		return D_OPENAI;
	case EP_UNKNOWN:
		break;
	}
	return D_NONE;
}

/* Routing ignores any prefix before the part a real API would see, because
 * OpenAI-compatible providers mount the same paths under their own prefixes
 * (/compatible-mode/v1, /openai/deployments/X, ...). */
static void route(struct request *rq)
{
	const char *p = rq->dpath;
	bool get = strcmp(rq->method, "GET") == 0, post = strcmp(rq->method, "POST") == 0;

	rq->ep = EP_UNKNOWN;
	{
		/* OpenRouter serves chat under /api/v1/ too; only these are the
		 * account API. */
		const char *api = strstr(p, "/api/v1/");
		const char *rest = api ? api + strlen("/api/v1/") : "";

		if (strcmp(rest, "balance") == 0 || strcmp(rest, "transactions") == 0 || strcmp(rest, "usage") == 0 ||
		    (strncmp(rest, "keys", 4) == 0 && (rest[4] == '\0' || rest[4] == '/'))) {
			rq->ep = EP_ACCOUNT;
			return;
		}
	}
	if (post) {
		static const struct {
			const char *name;
			enum endpoint ep;
		} gemini_methods[] = {
			{"generateContent", EP_GEMINI_GENERATE},	 {"streamGenerateContent", EP_GEMINI_STREAM},
			{"countTokens", EP_GEMINI_COUNT},		 {"embedContent", EP_GEMINI_EMBED},
			{"batchEmbedContents", EP_GEMINI_BATCH_EMBED},
		};
		const char *slash = strrchr(p, '/');
		const char *colon = slash ? strchr(slash, ':') : NULL;

		if (colon != NULL && colon > slash + 1 && slash - p >= 7 && strncmp(slash - 7, "/models", 7) == 0) {
			for (size_t i = 0; i < sizeof(gemini_methods) / sizeof(gemini_methods[0]); i++) {
				if (strcmp(colon + 1, gemini_methods[i].name) == 0) {
					rq->ep = gemini_methods[i].ep;
					rq->gemini_model = xstrndup(slash + 1, (size_t)(colon - slash - 1));
					return;
				}
			}
			return;
		}
		if (ends_with(p, "/chat/completions"))
			rq->ep = EP_OPENAI_CHAT;
		else if (ends_with(p, "/embeddings"))
			rq->ep = EP_OPENAI_EMBEDDINGS;
		else if (ends_with(p, "/v1/messages/count_tokens"))
			rq->ep = EP_ANTHROPIC_COUNT;
		else if (ends_with(p, "/v1/messages"))
			rq->ep = EP_ANTHROPIC_MESSAGES;
	} else if (get) {
		if (ends_with(p, "/v1beta/models"))
			rq->ep = EP_GEMINI_MODELS;
		else if (ends_with(p, "/models"))
			rq->ep = evhttp_find_header(evhttp_request_get_input_headers(rq->req), "anthropic-version")
					 ? EP_ANTHROPIC_MODELS
					 : EP_OPENAI_MODELS;
	}
}

static bool request_streams(const struct request *rq)
{
	json_object *s;

	if (rq->ep == EP_GEMINI_STREAM)
		return true;
	if (rq->ep != EP_OPENAI_CHAT && rq->ep != EP_ANTHROPIC_MESSAGES)
		return false;
	s = jget(rq->json, "stream");
	return s != NULL && json_object_is_type(s, json_type_boolean) && json_object_get_boolean(s);
}

/* Gemini answers a plain JSON array unless asked for SSE with alt=sse. */
static bool query_wants_sse(const char *query)
{
	struct evkeyvalq params;
	const char *alt;
	bool sse;

	/* evhttp_parse_query_str initializes params even when it fails. */
	if (evhttp_parse_query_str(query, &params) != 0) {
		evhttp_clear_headers(&params);
		return false;
	}
	alt = evhttp_find_header(&params, "alt");
	sse = alt != NULL && strcmp(alt, "sse") == 0;
	evhttp_clear_headers(&params);
	return sse;
}

/* ---- what gets sent: a status, headers and one or more pieces ---- */

/* Stream events (each already framed), or for a plain response a single
 * piece: the body.  `delta` marks the events that carry content, which is
 * what stream_error counts. */
struct events {
	char **item;
	bool *delta;
	size_t n, cap;
};

static void events_add(struct events *ev, char *owned, bool delta)
{
	if (ev->n == ev->cap) {
		ev->cap = ev->cap ? ev->cap * 2 : 16;
		ev->item = xrealloc(ev->item, ev->cap * sizeof(*ev->item));
		ev->delta = xrealloc(ev->delta, ev->cap * sizeof(*ev->delta));
	}
	ev->item[ev->n] = owned;
	ev->delta[ev->n] = delta;
	ev->n++;
}

static void events_truncate(struct events *ev, size_t n)
{
	while (ev->n > n)
		free(ev->item[--ev->n]);
}

static void events_free(struct events *ev)
{
	events_truncate(ev, 0);
	free(ev->item);
	free(ev->delta);
	memset(ev, 0, sizeof(*ev));
}

struct reply {
	int status;
	const char *content_type; /* static; "" sends no Content-Type */
	bool stream; /* chunked, one event per write */
	bool gzip;   /* Content-Encoding: gzip, whatever was asked */
	struct events ev;
	char *retry_after;
	char *location;
};

static void reply_free(struct reply *r)
{
	events_free(&r->ev);
	free(r->retry_after);
	free(r->location);
}

static void reply_body(struct reply *r, int status, const char *content_type, char *owned_body)
{
	r->status = status;
	r->content_type = content_type;
	r->stream = false;
	events_truncate(&r->ev, 0);
	events_add(&r->ev, owned_body, false);
}

static void reply_json(struct reply *r, int status, json_object *o)
{
	reply_body(r, status, "application/json", jtake(o));
}

/* stream_error: keep the stream up to its second content event, then the
 * dialect's in-stream error (and, for Gemini's JSON array, the closing "]"). */
static void events_inject_error(struct events *ev, char *error_event, const char *tail)
{
	size_t keep = 0, deltas = 0;

	for (size_t i = 0; i < ev->n && deltas < 2; i++) {
		if (ev->delta[i]) {
			deltas++;
			keep = i + 1;
		}
	}
	events_truncate(ev, keep);
	events_add(ev, error_event, false);
	if (tail != NULL)
		events_add(ev, xstrdup(tail), false);
}

/* ---- the answer every chat endpoint renders in its own dialect ---- */

struct strv {
	char **v;
	size_t n;
};

static void strv_free(struct strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

/* Splits before every run of spaces that follows a word, so the pieces keep
 * their leading spaces and concatenate back to the text exactly:
 * "Hello from" -> "Hello", " from". */
static struct strv split_words(const char *text)
{
	struct strv sv = {NULL, 0};
	const char *start = text;

	sv.v = xmalloc((strlen(text) + 1) * sizeof(*sv.v));
	for (const char *p = text; *p; p++) {
		if (*p == ' ' && p > start && p[-1] != ' ') {
			sv.v[sv.n++] = xstrndup(start, (size_t)(p - start));
			start = p;
		}
	}
	if (*start)
		sv.v[sv.n++] = xstrdup(start);
	return sv;
}

struct answer {
	long seq;
	const char *model;
	char *text; /* NULL when answering with tool calls */
	int tools;
	bool reasoning;
	bool usage;
	bool include_usage; /* OpenAI stream_options.include_usage */
	bool stream;
	int words; /* completion tokens before reasoning: COMPLETION_TOKENS, or a continuation's words */
};

static void append_text(char **acc, const char *s)
{
	size_t a = *acc ? strlen(*acc) : 0, b = strlen(s);

	*acc = xrealloc(*acc, a + b + 1);
	memcpy(*acc + a, s, b + 1);
}

/* The text of a message's content: a string, or the text parts of an array
 * (OpenAI and Anthropic {"type":"text","text":...}, Gemini {"text":...}). */
static char *content_text(json_object *content)
{
	char *acc = NULL;

	if (content == NULL)
		return xstrdup("");
	if (json_object_is_type(content, json_type_string))
		return xstrdup(json_object_get_string(content));
	if (!json_object_is_type(content, json_type_array))
		return xstrdup("");
	for (size_t i = 0; i < json_object_array_length(content); i++) {
		json_object *part = json_object_array_get_idx(content, i);
		const char *type = jget_str(part, "type"), *text = jget_str(part, "text");

		if (text != NULL && (type == NULL || strcmp(type, "text") == 0))
			append_text(&acc, text);
	}
	return acc ? acc : xstrdup("");
}

/* The conversation of a chat request: messages, or Gemini's contents. */
static json_object *turns(json_object *body, enum dialect d)
{
	json_object *list = jget(body, d == D_GEMINI ? "contents" : "messages");

	return list != NULL && json_object_is_type(list, json_type_array) ? list : NULL;
}

static bool role_is(json_object *msg, const char *role)
{
	const char *r = jget_str(msg, "role");

	return r != NULL && strcmp(r, role) == 0;
}

#define CONTINUE_PROMPT "Your previous answer was cut off"

/* The assistant's words a request asks to be continued (see the top of
 * the file), owned by the caller, or NULL; *before is the index of that
 * assistant turn (the conversation before it is the question). */
static char *continuation_prefill(json_object *body, enum dialect d, size_t *before)
{
	json_object *list = turns(body, d), *last, *prev;
	size_t n = list ? json_object_array_length(list) : 0;

	if (n == 0)
		return NULL;
	last = json_object_array_get_idx(list, n - 1);
	if (role_is(last, d == D_GEMINI ? "model" : "assistant")) {
		*before = n - 1;
		return content_text(jget(last, d == D_GEMINI ? "parts" : "content"));
	}
	if (d != D_OPENAI || n < 2 || !role_is(last, "user"))
		return NULL;
	prev = json_object_array_get_idx(list, n - 2);
	if (role_is(prev, "assistant")) {
		char *ask = content_text(jget(last, "content"));
		bool is_continue = strncmp(ask, CONTINUE_PROMPT, strlen(CONTINUE_PROMPT)) == 0;

		free(ask);
		if (is_continue) {
			*before = n - 2;
			return content_text(jget(prev, "content"));
		}
	}
	return NULL;
}

/* The text of the last user turn among the first `limit` turns. */
static char *last_user_text(json_object *body, enum dialect d, size_t limit)
{
	json_object *list = turns(body, d);

	if (list == NULL)
		return xstrdup("");
	if (limit > json_object_array_length(list))
		limit = json_object_array_length(list);
	for (size_t i = limit; i-- > 0;) {
		json_object *msg = json_object_array_get_idx(list, i);
		const char *role = jget_str(msg, "role");

		/* Gemini's role is optional and then means the user. */
		if (role == NULL ? d == D_GEMINI : strcmp(role, "user") == 0)
			return content_text(jget(msg, d == D_GEMINI ? "parts" : "content"));
	}
	return xstrdup("");
}

static void answer_init(struct answer *a, const struct request *rq, const struct directive *d, const char *model)
{
	json_object *opts = jget(rq->json, "stream_options"), *inc = jget(opts, "include_usage");

	memset(a, 0, sizeof(*a));
	a->seq = rq->seq;
	a->model = model;
	a->tools = d->tools;
	a->reasoning = d->reasoning;
	a->usage = !d->nousage;
	a->include_usage = inc != NULL && json_object_get_boolean(inc);
	a->stream = request_streams(rq);
	a->words = COMPLETION_TOKENS;
	if (a->tools > 0) {
		a->text = NULL;
		return;
	}
	{
		enum dialect dl = endpoint_dialect(rq->ep);
		size_t before = SIZE_MAX, keep;
		char *prefill = continuation_prefill(rq->json, dl, &before);

		if (d->echo) {
			char *t = last_user_text(rq->json, dl, before);

			a->text = xasprintf("Echo: %s", t);
			free(t);
		} else {
			a->text = xstrdup(d->reply ? d->reply : DEFAULT_TEXT);
		}
		if (prefill == NULL)
			return;
		keep = strlen(prefill);
		while (keep > 0 && is_space(prefill[keep - 1]))
			keep--;
		if (strncmp(a->text, prefill, keep) == 0) {
			char *tail = xstrdup(a->text + keep);
			struct strv words = split_words(tail);

			free(a->text);
			a->text = tail;
			a->words = (int)words.n;
			strv_free(&words);
		}
		free(prefill);
	}
}

/* huge_line and bad_utf8 rewrite the answer's text once it is chosen. */
static void answer_faults(struct answer *a, const struct directive *d)
{
	if (a->text == NULL)
		return;
	if (d->huge_line > 0) {
		const char *rest = a->text + strcspn(a->text, " ");
		size_t n = (size_t)d->huge_line, m = strlen(rest);
		char *t = xmalloc(n + m + 1);

		memset(t, 'x', n);
		memcpy(t + n, rest, m + 1);
		free(a->text);
		a->text = t;
	}
	if (d->bad_utf8) {
		size_t first = strcspn(a->text, " ");
		char *t = xasprintf("%.*s \xff\xfe%s", (int)first, a->text, a->text + first);

		free(a->text);
		a->text = t;
	}
}

static char *tool_args(int i)
{
	return xasprintf("{\"location\":\"%s\"}", tool_locations[i % MAX_TOOLS]);
}

/* The arguments in two fragments, split inside the JSON so that a client has
 * to concatenate before parsing. */
static void tool_args_split(int i, char **first, char **second)
{
	char *args = tool_args(i);
	size_t cut = strlen("{\"location\":");

	*first = xstrndup(args, cut);
	*second = xstrdup(args + cut);
	free(args);
}

static int completion_tokens(const struct answer *a)
{
	return a->words + (a->reasoning ? REASONING_TOKENS : 0);
}

/* ---- OpenAI ---- */

static json_object *openai_usage(const struct answer *a)
{
	json_object *u = jobj(), *pd = jobj(), *cd = jobj();

	jset(u, "prompt_tokens", jint(PROMPT_TOKENS));
	jset(u, "completion_tokens", jint(completion_tokens(a)));
	jset(u, "total_tokens", jint(PROMPT_TOKENS + completion_tokens(a)));
	jset(pd, "cached_tokens", jint(CACHED_TOKENS));
	jset(u, "prompt_tokens_details", pd);
	jset(cd, "reasoning_tokens", jint(a->reasoning ? REASONING_TOKENS : 0));
	jset(u, "completion_tokens_details", cd);
	return u;
}

static json_object *openai_tool_call(int i)
{
	json_object *tc = jobj(), *fn = jobj();
	char *id = xasprintf("call_fake%d", i + 1), *args = tool_args(i);

	jset(tc, "id", jstr(id));
	jset(tc, "type", jstr("function"));
	jset(fn, "name", jstr("get_weather"));
	jset(fn, "arguments", jstr(args));
	jset(tc, "function", fn);
	free(id);
	free(args);
	return tc;
}

static json_object *openai_error(int status, const char *message)
{
	const char *type = "invalid_request_error", *code = NULL;
	json_object *o = jobj(), *e = jobj();

	if (status == 401) {
		type = "authentication_error";
		code = "invalid_api_key";
	} else if (status == 403) {
		type = "permission_error";
	} else if (status == 404) {
		type = "not_found_error";
	} else if (status == 429) {
		type = "rate_limit_error";
		code = "rate_limit_exceeded";
	} else if (status >= 500) {
		type = "server_error";
	}
	jset(e, "message", jstr(message));
	jset(e, "type", jstr(type));
	jset(e, "param", NULL);
	jset(e, "code", code ? jstr(code) : NULL);
	jset(o, "error", e);
	return o;
}

static void openai_chat_body(struct reply *r, const struct answer *a)
{
	json_object *o = jobj(), *choices = jarr(), *choice = jobj(), *msg = jobj();
	char *id = xasprintf("chatcmpl-fake%ld", a->seq);

	jset(msg, "role", jstr("assistant"));
	jset(msg, "content", a->text ? jstr(a->text) : NULL);
	jset(msg, "refusal", NULL);
	if (a->reasoning)
		jset(msg, "reasoning_content", jstr(REASONING_TEXT));
	if (a->tools > 0) {
		json_object *calls = jarr();

		for (int i = 0; i < a->tools; i++)
			jpush(calls, openai_tool_call(i));
		jset(msg, "tool_calls", calls);
	}
	jset(choice, "index", jint(0));
	jset(choice, "message", msg);
	jset(choice, "logprobs", NULL);
	jset(choice, "finish_reason", jstr(a->tools > 0 ? "tool_calls" : "stop"));
	jpush(choices, choice);
	jset(o, "id", jstr(id));
	jset(o, "object", jstr("chat.completion"));
	jset(o, "created", jint(CREATED));
	jset(o, "model", jstr(a->model));
	jset(o, "choices", choices);
	if (a->usage)
		jset(o, "usage", openai_usage(a));
	jset(o, "system_fingerprint", jstr("fp_fake"));
	free(id);
	reply_json(r, 200, o);
}

/* Like real OpenAI, with include_usage every chunk but the last carries
 * "usage": null and the last has "choices": [] and the numbers. */
static json_object *openai_chunk(const struct answer *a, json_object *delta, const char *finish)
{
	json_object *o = jobj(), *choices = jarr();
	char *id = xasprintf("chatcmpl-fake%ld", a->seq);

	jset(o, "id", jstr(id));
	jset(o, "object", jstr("chat.completion.chunk"));
	jset(o, "created", jint(CREATED));
	jset(o, "model", jstr(a->model));
	jset(o, "system_fingerprint", jstr("fp_fake"));
	if (delta != NULL) {
		json_object *choice = jobj();

		jset(choice, "index", jint(0));
		jset(choice, "delta", delta);
		jset(choice, "logprobs", NULL);
		jset(choice, "finish_reason", finish ? jstr(finish) : NULL);
		jpush(choices, choice);
	}
	jset(o, "choices", choices);
	if (a->include_usage && a->usage)
		jset(o, "usage", delta ? NULL : openai_usage(a));
	free(id);
	return o;
}

static char *sse_data(json_object *o, const char *eol)
{
	char *json = jtake(o), *s = xasprintf("data: %s%s%s", json, eol, eol);

	free(json);
	return s;
}

static void openai_push(struct events *ev, const struct answer *a, json_object *delta, const char *finish,
			bool is_delta)
{
	events_add(ev, sse_data(openai_chunk(a, delta, finish), "\n"), is_delta);
}

static void openai_chat_stream(struct reply *r, const struct answer *a)
{
	json_object *delta = jobj();

	r->status = 200;
	r->content_type = "text/event-stream";
	r->stream = true;
	jset(delta, "role", jstr("assistant"));
	jset(delta, "content", a->tools > 0 ? NULL : jstr(""));
	openai_push(&r->ev, a, delta, NULL, false);
	if (a->reasoning) {
		struct strv words = split_words(REASONING_TEXT);

		for (size_t i = 0; i < words.n; i++) {
			delta = jobj();
			jset(delta, "reasoning_content", jstr(words.v[i]));
			openai_push(&r->ev, a, delta, NULL, true);
		}
		strv_free(&words);
	}
	for (int i = 0; i < a->tools; i++) {
		char *frag[2], *id = xasprintf("call_fake%d", i + 1);
		json_object *calls, *tc, *fn;

		tool_args_split(i, &frag[0], &frag[1]);
		/* id, type and name only on the first delta of an index. */
		delta = jobj(), calls = jarr(), tc = jobj(), fn = jobj();
		jset(tc, "index", jint(i));
		jset(tc, "id", jstr(id));
		jset(tc, "type", jstr("function"));
		jset(fn, "name", jstr("get_weather"));
		jset(fn, "arguments", jstr(""));
		jset(tc, "function", fn);
		jpush(calls, tc);
		jset(delta, "tool_calls", calls);
		openai_push(&r->ev, a, delta, NULL, true);
		for (int f = 0; f < 2; f++) {
			delta = jobj(), calls = jarr(), tc = jobj(), fn = jobj();
			jset(tc, "index", jint(i));
			jset(fn, "arguments", jstr(frag[f]));
			jset(tc, "function", fn);
			jpush(calls, tc);
			jset(delta, "tool_calls", calls);
			openai_push(&r->ev, a, delta, NULL, true);
			free(frag[f]);
		}
		free(id);
	}
	if (a->text != NULL) {
		struct strv words = split_words(a->text);

		for (size_t i = 0; i < words.n; i++) {
			delta = jobj();
			jset(delta, "content", jstr(words.v[i]));
			openai_push(&r->ev, a, delta, NULL, true);
		}
		strv_free(&words);
	}
	openai_push(&r->ev, a, jobj(), a->tools > 0 ? "tool_calls" : "stop", false);
	if (a->include_usage && a->usage)
		openai_push(&r->ev, a, NULL, NULL, false);
	events_add(&r->ev, xstrdup("data: [DONE]\n\n"), false);
}

static void openai_stream_error(struct reply *r)
{
	json_object *o = jobj(), *e = jobj();

	jset(e, "message", jstr("fake stream error"));
	jset(e, "type", jstr("server_error"));
	jset(e, "param", NULL);
	jset(e, "code", NULL);
	jset(o, "error", e);
	events_inject_error(&r->ev, sse_data(o, "\n"), NULL);
}

/* Deterministic values that are exact in binary, so they print short. */
static json_object *embedding_values(size_t input, long dims)
{
	json_object *v = jarr();

	for (long j = 0; j < dims; j++)
		jpush(v, jdbl((double)((long)(input * 7 + (size_t)j * 3) % 17 - 8) / 16.0));
	return v;
}

/* encoding_format=base64 (the default of the OpenAI Node SDK): the float32
 * values, little-endian, base64-encoded. */
static json_object *embedding_base64(size_t input, long dims)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = (size_t)dims * 4, o = 0;
	unsigned char *raw = xmalloc(n);
	char *out = xmalloc((n + 2) / 3 * 4 + 1);
	json_object *s;

	for (long j = 0; j < dims; j++) {
		float f = (float)((double)((long)(input * 7 + (size_t)j * 3) % 17 - 8) / 16.0);
		uint32_t bits;

		memcpy(&bits, &f, sizeof(bits));
		for (int b = 0; b < 4; b++)
			raw[j * 4 + b] = (unsigned char)(bits >> (8 * b));
	}
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)raw[i + 1] << 8;
		if (i + 2 < n)
			v |= raw[i + 2];
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	s = jstr(out);
	free(raw);
	free(out);
	return s;
}

static long embedding_dims(json_object *v)
{
	long dims = EMBED_DIMS;

	if (v != NULL && json_object_is_type(v, json_type_int)) {
		int64_t n = json_object_get_int64(v);

		if (n >= 1 && n <= MAX_EMBED_DIMS)
			dims = (long)n;
	}
	return dims;
}

static void openai_embeddings(struct reply *r, const struct request *rq, const struct directive *d)
{
	json_object *input = jget(rq->json, "input"), *o = jobj(), *data = jarr();
	const char *model = jget_str(rq->json, "model"), *fmt = jget_str(rq->json, "encoding_format");
	long dims = embedding_dims(jget(rq->json, "dimensions"));
	bool b64 = fmt != NULL && strcmp(fmt, "base64") == 0;
	size_t n = 1;

	/* A list of strings or of token lists is a batch; a list of numbers is
	 * one tokenized input. */
	if (input != NULL && json_object_is_type(input, json_type_array) && json_object_array_length(input) > 0) {
		json_object *first = json_object_array_get_idx(input, 0);

		if (json_object_is_type(first, json_type_string) || json_object_is_type(first, json_type_array))
			n = json_object_array_length(input);
	}
	for (size_t i = 0; i < n; i++) {
		json_object *e = jobj();

		jset(e, "object", jstr("embedding"));
		jset(e, "index", jint((int64_t)i));
		jset(e, "embedding", b64 ? embedding_base64(i, dims) : embedding_values(i, dims));
		jpush(data, e);
	}
	jset(o, "object", jstr("list"));
	jset(o, "data", data);
	jset(o, "model", jstr(model ? model : "fake-embedding"));
	if (!d->nousage) {
		json_object *u = jobj();

		jset(u, "prompt_tokens", jint(PROMPT_TOKENS));
		jset(u, "total_tokens", jint(PROMPT_TOKENS));
		jset(o, "usage", u);
	}
	reply_json(r, 200, o);
}

/* A gateway's list (OpenRouter, ARouter): "provider/model" ids with names,
 * context lengths, per-token prices as strings, modalities and parameters.
 * The second entry knows nothing but its id; the third has no provider. */
static void gateway_models(struct reply *r)
{
	json_object *o = jobj(), *data = jarr(), *m, *v;

	m = jobj();
	jset(m, "id", jstr("openai/gpt-4o-mini"));
	jset(m, "object", jstr("model"));
	jset(m, "created", jint(CREATED));
	jset(m, "name", jstr("OpenAI: GPT-4o-mini (gateway)"));
	jset(m, "context_length", jint(128000));
	v = jobj();
	jset(v, "prompt", jstr("0.0000002"));
	jset(v, "completion", jstr("0.0000008"));
	jset(v, "input_cache_read", jstr("0.0000001"));
	jset(m, "pricing", v);
	v = jobj();
	jset(v, "input_modalities", jarr());
	jpush(jget(v, "input_modalities"), jstr("text"));
	jpush(jget(v, "input_modalities"), jstr("image"));
	jset(v, "output_modalities", jarr());
	jpush(jget(v, "output_modalities"), jstr("text"));
	jset(m, "architecture", v);
	v = jobj();
	jset(v, "context_length", jint(128000));
	jset(v, "max_completion_tokens", jint(16384));
	jset(m, "top_provider", v);
	jset(m, "supported_parameters", jarr());
	jpush(jget(m, "supported_parameters"), jstr("max_tokens"));
	jpush(jget(m, "supported_parameters"), jstr("tools"));
	jpush(data, m);
	m = jobj();
	jset(m, "id", jstr("anthropic/claude-gateway-only"));
	jpush(data, m);
	m = jobj();
	jset(m, "id", jstr("auto"));
	jset(m, "name", jstr("Auto"));
	jpush(data, m);
	jset(o, "object", jstr("list"));
	jset(o, "data", data);
	reply_json(r, 200, o);
}

static void openai_models(struct reply *r)
{
	static const char *const ids[] = {"fake-model", "fake-model-mini", "fake-embedding"};
	json_object *o = jobj(), *data = jarr();

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		json_object *m = jobj();

		jset(m, "id", jstr(ids[i]));
		jset(m, "object", jstr("model"));
		jset(m, "created", jint(CREATED));
		jset(m, "owned_by", jstr("fake"));
		jpush(data, m);
	}
	jset(o, "object", jstr("list"));
	jset(o, "data", data);
	reply_json(r, 200, o);
}

/* ---- Anthropic ---- */

static const char *anthropic_error_type(int status)
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
	case 504:
		return "timeout_error";
	case 529:
		return "overloaded_error";
	default:
		/* "invalid_request_error ... for other 4XX status codes" (§2.6) */
		return status >= 500 ? "api_error" : "invalid_request_error";
	}
}

static json_object *anthropic_error(const char *type, const char *message)
{
	json_object *o = jobj(), *e = jobj();

	jset(o, "type", jstr("error"));
	jset(e, "type", jstr(type));
	jset(e, "message", jstr(message));
	jset(o, "error", e);
	return o;
}

static json_object *anthropic_usage(const struct answer *a)
{
	json_object *u = jobj();

	jset(u, "input_tokens", jint(PROMPT_TOKENS - CACHED_TOKENS));
	jset(u, "output_tokens", jint(completion_tokens(a)));
	jset(u, "cache_read_input_tokens", jint(CACHED_TOKENS));
	jset(u, "cache_creation_input_tokens", jint(0));
	return u;
}

static json_object *anthropic_tool_block(int i, bool with_input)
{
	json_object *b = jobj();
	char *id = xasprintf("toolu_fake%d", i + 1);

	jset(b, "type", jstr("tool_use"));
	jset(b, "id", jstr(id));
	jset(b, "name", jstr("get_weather"));
	if (with_input) {
		json_object *input = jobj();

		jset(input, "location", jstr(tool_locations[i % MAX_TOOLS]));
		jset(b, "input", input);
	} else {
		jset(b, "input", jobj());
	}
	free(id);
	return b;
}

static void anthropic_message_body(struct reply *r, const struct answer *a)
{
	json_object *o = jobj(), *content = jarr();
	char *id = xasprintf("msg_fake%ld", a->seq);

	if (a->reasoning) {
		json_object *b = jobj();

		jset(b, "type", jstr("thinking"));
		jset(b, "thinking", jstr(REASONING_TEXT));
		jset(b, "signature", jstr(SIGNATURE));
		jpush(content, b);
	}
	for (int i = 0; i < a->tools; i++)
		jpush(content, anthropic_tool_block(i, true));
	if (a->text != NULL) {
		json_object *b = jobj();

		jset(b, "type", jstr("text"));
		jset(b, "text", jstr(a->text));
		jpush(content, b);
	}
	jset(o, "id", jstr(id));
	jset(o, "type", jstr("message"));
	jset(o, "role", jstr("assistant"));
	jset(o, "model", jstr(a->model));
	jset(o, "content", content);
	jset(o, "stop_reason", jstr(a->tools > 0 ? "tool_use" : "end_turn"));
	jset(o, "stop_sequence", NULL);
	if (a->usage)
		jset(o, "usage", anthropic_usage(a));
	free(id);
	reply_json(r, 200, o);
}

/* "event: <type>\ndata: <json>\n\n": the event name is always data.type. */
static void anthropic_push(struct events *ev, json_object *o, bool is_delta)
{
	char *type = xstrdup(jget_str(o, "type")), *json = jtake(o);

	events_add(ev, xasprintf("event: %s\ndata: %s\n\n", type, json), is_delta);
	free(type);
	free(json);
}

struct anthropic_stream {
	struct events *ev;
	int index;  /* of the next content block */
	bool pinged;
};

static void anthropic_block_start(struct anthropic_stream *st, json_object *block)
{
	json_object *o = jobj();

	jset(o, "type", jstr("content_block_start"));
	jset(o, "index", jint(st->index));
	jset(o, "content_block", block);
	anthropic_push(st->ev, o, false);
	/* The real API pings once, right after the first block opens. */
	if (!st->pinged) {
		json_object *p = jobj();

		jset(p, "type", jstr("ping"));
		anthropic_push(st->ev, p, false);
		st->pinged = true;
	}
}

static void anthropic_delta(struct anthropic_stream *st, const char *type, const char *field, const char *value)
{
	json_object *o = jobj(), *delta = jobj();

	jset(o, "type", jstr("content_block_delta"));
	jset(o, "index", jint(st->index));
	jset(delta, "type", jstr(type));
	jset(delta, field, jstr(value));
	jset(o, "delta", delta);
	anthropic_push(st->ev, o, true);
}

static void anthropic_block_stop(struct anthropic_stream *st)
{
	json_object *o = jobj();

	jset(o, "type", jstr("content_block_stop"));
	jset(o, "index", jint(st->index));
	anthropic_push(st->ev, o, false);
	st->index++;
}

static void anthropic_message_stream(struct reply *r, const struct answer *a)
{
	struct anthropic_stream st = {&r->ev, 0, false};
	json_object *o = jobj(), *msg = jobj(), *delta, *block;
	char *id = xasprintf("msg_fake%ld", a->seq);

	r->status = 200;
	r->content_type = "text/event-stream";
	r->stream = true;
	jset(msg, "id", jstr(id));
	jset(msg, "type", jstr("message"));
	jset(msg, "role", jstr("assistant"));
	jset(msg, "model", jstr(a->model));
	jset(msg, "content", jarr());
	jset(msg, "stop_reason", NULL);
	jset(msg, "stop_sequence", NULL);
	if (a->usage) {
		/* The input side; output_tokens 1 as the real API sends it here,
		 * the cumulative count comes in message_delta. */
		json_object *u = jobj();

		jset(u, "input_tokens", jint(PROMPT_TOKENS - CACHED_TOKENS));
		jset(u, "cache_creation_input_tokens", jint(0));
		jset(u, "cache_read_input_tokens", jint(CACHED_TOKENS));
		jset(u, "output_tokens", jint(1));
		jset(msg, "usage", u);
	}
	jset(o, "type", jstr("message_start"));
	jset(o, "message", msg);
	anthropic_push(&r->ev, o, false);
	free(id);

	if (a->reasoning) {
		struct strv words = split_words(REASONING_TEXT);

		block = jobj();
		jset(block, "type", jstr("thinking"));
		jset(block, "thinking", jstr(""));
		jset(block, "signature", jstr(""));
		anthropic_block_start(&st, block);
		for (size_t i = 0; i < words.n; i++)
			anthropic_delta(&st, "thinking_delta", "thinking", words.v[i]);
		anthropic_delta(&st, "signature_delta", "signature", SIGNATURE);
		anthropic_block_stop(&st);
		strv_free(&words);
	}
	for (int i = 0; i < a->tools; i++) {
		char *frag[2];

		tool_args_split(i, &frag[0], &frag[1]);
		anthropic_block_start(&st, anthropic_tool_block(i, false));
		anthropic_delta(&st, "input_json_delta", "partial_json", "");
		anthropic_delta(&st, "input_json_delta", "partial_json", frag[0]);
		anthropic_delta(&st, "input_json_delta", "partial_json", frag[1]);
		anthropic_block_stop(&st);
		free(frag[0]);
		free(frag[1]);
	}
	if (a->text != NULL) {
		struct strv words = split_words(a->text);

		block = jobj();
		jset(block, "type", jstr("text"));
		jset(block, "text", jstr(""));
		anthropic_block_start(&st, block);
		for (size_t i = 0; i < words.n; i++)
			anthropic_delta(&st, "text_delta", "text", words.v[i]);
		anthropic_block_stop(&st);
		strv_free(&words);
	}
	o = jobj();
	delta = jobj();
	jset(o, "type", jstr("message_delta"));
	jset(delta, "stop_reason", jstr(a->tools > 0 ? "tool_use" : "end_turn"));
	jset(delta, "stop_sequence", NULL);
	jset(o, "delta", delta);
	if (a->usage) {
		json_object *u = jobj();

		jset(u, "output_tokens", jint(completion_tokens(a)));
		jset(o, "usage", u);
	}
	anthropic_push(&r->ev, o, false);
	o = jobj();
	jset(o, "type", jstr("message_stop"));
	anthropic_push(&r->ev, o, false);
}

static void anthropic_stream_error(struct reply *r)
{
	json_object *o = anthropic_error("overloaded_error", "Overloaded");
	char *json = jtake(o);

	events_inject_error(&r->ev, xasprintf("event: error\ndata: %s\n\n", json), NULL);
	free(json);
}

/* Anthropic lists dated snapshot ids; the second one is a real model's,
 * so that a client can be seen to match it to its undated name. */
static void anthropic_models(struct reply *r)
{
	static const struct {
		const char *id, *display, *created;
	} models[] = {
		{"claude-fake", "Claude Fake", "2025-01-01T00:00:00Z"},
		{"claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"},
	};
	json_object *o = jobj(), *data = jarr();

	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
		json_object *m = jobj();

		jset(m, "type", jstr("model"));
		jset(m, "id", jstr(models[i].id));
		jset(m, "display_name", jstr(models[i].display));
		jset(m, "created_at", jstr(models[i].created));
		jpush(data, m);
	}
	jset(o, "data", data);
	jset(o, "has_more", jbool(false));
	jset(o, "first_id", jstr(models[0].id));
	jset(o, "last_id", jstr(models[sizeof(models) / sizeof(models[0]) - 1].id));
	reply_json(r, 200, o);
}

/* ---- Gemini ---- */

static const char *gemini_status(int status)
{
	switch (status) {
	case 401:
		return "UNAUTHENTICATED";
	case 403:
		return "PERMISSION_DENIED";
	case 404:
		return "NOT_FOUND";
	case 409:
		return "ABORTED";
	case 429:
		return "RESOURCE_EXHAUSTED";
	case 501:
		return "UNIMPLEMENTED";
	case 503:
		return "UNAVAILABLE";
	case 504:
		return "DEADLINE_EXCEEDED";
	default:
		return status >= 500 ? "INTERNAL" : "INVALID_ARGUMENT";
	}
}

static json_object *gemini_error(int status, const char *message)
{
	json_object *o = jobj(), *e = jobj();

	jset(e, "code", jint(status));
	jset(e, "message", jstr(message));
	jset(e, "status", jstr(gemini_status(status)));
	jset(o, "error", e);
	return o;
}

/* The final chunk (and a whole response) carry the full numbers; earlier
 * stream chunks only the prompt side, as the real API does. */
static json_object *gemini_usage(const struct answer *a, bool final)
{
	json_object *u = jobj();

	jset(u, "promptTokenCount", jint(PROMPT_TOKENS));
	if (final) {
		jset(u, "candidatesTokenCount", jint(a->words));
		if (a->reasoning)
			jset(u, "thoughtsTokenCount", jint(REASONING_TOKENS));
		jset(u, "totalTokenCount", jint(PROMPT_TOKENS + completion_tokens(a)));
		jset(u, "cachedContentTokenCount", jint(CACHED_TOKENS));
	} else {
		jset(u, "totalTokenCount", jint(PROMPT_TOKENS));
	}
	return u;
}

static json_object *gemini_text_part(const char *text, bool thought)
{
	json_object *p = jobj();

	jset(p, "text", jstr(text));
	if (thought)
		jset(p, "thought", jbool(true));
	return p;
}

/* The first call carries a thoughtSignature, as Gemini's thinking models
 * do: a gateway has to hand it back on the next turn (wire-formats §3.8). */
static json_object *gemini_call_part(int i)
{
	json_object *p = jobj(), *fc = jobj(), *args = jobj();

	jset(args, "location", jstr(tool_locations[i % MAX_TOOLS]));
	jset(fc, "name", jstr("get_weather"));
	jset(fc, "args", args);
	jset(p, "functionCall", fc);
	if (i == 0)
		jset(p, "thoughtSignature", jstr(SIGNATURE));
	return p;
}

static json_object *gemini_response(const struct answer *a, json_object *parts, bool final)
{
	json_object *o = jobj(), *cands = jarr(), *cand = jobj(), *content = jobj();
	char *id = xasprintf("fake-response-%ld", a->seq);

	jset(content, "parts", parts);
	jset(content, "role", jstr("model"));
	jset(cand, "content", content);
	if (final)
		jset(cand, "finishReason", jstr("STOP"));
	jset(cand, "index", jint(0));
	jpush(cands, cand);
	jset(o, "candidates", cands);
	if (a->usage)
		jset(o, "usageMetadata", gemini_usage(a, final));
	jset(o, "modelVersion", jstr(a->model));
	jset(o, "responseId", jstr(id));
	free(id);
	return o;
}

static void gemini_generate_body(struct reply *r, const struct answer *a)
{
	json_object *parts = jarr();

	if (a->reasoning)
		jpush(parts, gemini_text_part(REASONING_TEXT, true));
	for (int i = 0; i < a->tools; i++)
		jpush(parts, gemini_call_part(i));
	if (a->text != NULL)
		jpush(parts, gemini_text_part(a->text, false));
	reply_json(r, 200, gemini_response(a, parts, true));
}

/* SSE uses CRLF like the real API; without alt=sse the chunks form one JSON
 * array, written element by element. */
static char *gemini_frame(json_object *o, bool sse, bool first)
{
	char *json = jtake(o), *s;

	if (sse)
		s = xasprintf("data: %s\r\n\r\n", json);
	else
		s = xasprintf("%s%s", first ? "[" : ",\r\n", json);
	free(json);
	return s;
}

static void gemini_stream(struct reply *r, const struct answer *a, bool sse)
{
	json_object **parts = NULL;
	size_t n = 0;

	r->status = 200;
	r->content_type = sse ? "text/event-stream" : "application/json";
	r->stream = true;
	if (a->reasoning) {
		struct strv words = split_words(REASONING_TEXT);

		parts = xrealloc(parts, (n + words.n) * sizeof(*parts));
		for (size_t i = 0; i < words.n; i++)
			parts[n++] = gemini_text_part(words.v[i], true);
		strv_free(&words);
	}
	if (a->tools > 0) {
		parts = xrealloc(parts, (n + (size_t)a->tools) * sizeof(*parts));
		for (int i = 0; i < a->tools; i++)
			parts[n++] = gemini_call_part(i);
	}
	if (a->text != NULL) {
		struct strv words = split_words(a->text);

		parts = xrealloc(parts, (n + words.n) * sizeof(*parts));
		for (size_t i = 0; i < words.n; i++)
			parts[n++] = gemini_text_part(words.v[i], false);
		strv_free(&words);
	}
	if (n == 0) {
		/* An empty reply still needs a chunk to carry finishReason. */
		parts = xrealloc(parts, sizeof(*parts));
		parts[n++] = gemini_text_part("", false);
	}
	for (size_t i = 0; i < n; i++) {
		json_object *arr = jarr();

		jpush(arr, parts[i]);
		events_add(&r->ev, gemini_frame(gemini_response(a, arr, i + 1 == n), sse, i == 0), true);
	}
	if (!sse)
		events_add(&r->ev, xstrdup("]"), false);
	free(parts);
}

static void gemini_stream_error(struct reply *r, bool sse)
{
	json_object *o = jobj(), *e = jobj();

	jset(e, "code", jint(503));
	jset(e, "message", jstr("The model is overloaded. Please try again later."));
	jset(e, "status", jstr("UNAVAILABLE"));
	jset(o, "error", e);
	events_inject_error(&r->ev, gemini_frame(o, sse, false), sse ? NULL : "]");
}

static void gemini_embed(struct reply *r, const struct request *rq, bool batch)
{
	json_object *o = jobj();

	if (batch) {
		json_object *reqs = jget(rq->json, "requests"), *list = jarr();
		size_t n = reqs && json_object_is_type(reqs, json_type_array) ? json_object_array_length(reqs) : 0;

		for (size_t i = 0; i < n; i++) {
			json_object *e = jobj();
			long dims = embedding_dims(jget(json_object_array_get_idx(reqs, i), "outputDimensionality"));

			jset(e, "values", embedding_values(i, dims));
			jpush(list, e);
		}
		jset(o, "embeddings", list);
	} else {
		json_object *e = jobj();

		jset(e, "values", embedding_values(0, embedding_dims(jget(rq->json, "outputDimensionality"))));
		jset(o, "embedding", e);
	}
	reply_json(r, 200, o);
}

static void gemini_models(struct reply *r)
{
	static const struct {
		const char *id, *display;
		bool embedding;
	} models[] = {
		{"gemini-fake", "Gemini Fake", false},
		{"gemini-fake-lite", "Gemini Fake Lite", false},
		{"gemini-fake-embedding", "Gemini Fake Embedding", true},
	};
	json_object *o = jobj(), *list = jarr();

	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
		json_object *m = jobj(), *methods = jarr();
		char *name = xasprintf("models/%s", models[i].id);

		jset(m, "name", jstr(name));
		jset(m, "baseModelId", jstr(models[i].id));
		jset(m, "version", jstr("001"));
		jset(m, "displayName", jstr(models[i].display));
		jset(m, "description", jstr("A model of the fake upstream."));
		jset(m, "inputTokenLimit", jint(models[i].embedding ? 2048 : 1048576));
		jset(m, "outputTokenLimit", jint(models[i].embedding ? 1 : 8192));
		if (models[i].embedding) {
			jpush(methods, jstr("embedContent"));
			jpush(methods, jstr("batchEmbedContents"));
		} else {
			jpush(methods, jstr("generateContent"));
			jpush(methods, jstr("streamGenerateContent"));
			jpush(methods, jstr("countTokens"));
		}
		jset(m, "supportedGenerationMethods", methods);
		jpush(list, m);
		free(name);
	}
	jset(o, "models", list);
	reply_json(r, 200, o);
}

/* ---- the ARouter account API: fixed answers ---- */

static void reply_error(struct reply *r, enum dialect d, int status, const char *message);

static json_object *account_key(const char *name, bool revoked)
{
	json_object *k = jobj();

	jset(k, "id", jstr("gw000001"));
	jset(k, "name", jstr(name));
	jset(k, "budget", jdbl(10.0));
	jset(k, "spend", jdbl(3.5));
	jset(k, "remaining", jdbl(6.5));
	jset(k, "rpm", jint(0));
	jset(k, "tpm", jint(0));
	jset(k, "models", jarr());
	jset(k, "expires_at", NULL);
	jset(k, "expired", jbool(false));
	jset(k, "created_at", jstr("2026-01-01T00:00:00Z"));
	jset(k, "revoked", jbool(revoked));
	jset(k, "revoked_at", revoked ? jstr("2026-01-02T00:00:00Z") : NULL);
	return k;
}

static json_object *account_usage_group(const char *group)
{
	json_object *g = jobj();

	if (group != NULL)
		jset(g, "group", jstr(group));
	jset(g, "requests", jint(3));
	jset(g, "failed", jint(0));
	jset(g, "requests_without_usage", jint(0));
	jset(g, "prompt_tokens", jint(30));
	jset(g, "completion_tokens", jint(15));
	jset(g, "cached_tokens", jint(0));
	jset(g, "reasoning_tokens", jint(0));
	jset(g, "total_tokens", jint(45));
	jset(g, "cost", jdbl(0.75));
	jset(g, "requests_without_cost", jint(0));
	return g;
}

static void account_reply(struct reply *r, const struct request *rq)
{
	const char *api = strstr(rq->dpath, "/api/v1/") + strlen("/api/v1/");
	bool get = strcmp(rq->method, "GET") == 0;
	json_object *o = jobj(), *d, *keys, *k;

	if (get && strcmp(api, "balance") == 0) {
		d = jobj();
		jset(d, "total_credits", jdbl(25.0));
		jset(d, "total_usage", jdbl(3.5));
		jset(d, "balance", jdbl(21.5));
		keys = jarr();
		k = jobj();
		jset(k, "id", jstr("gw000001"));
		jset(k, "name", jstr("hosted"));
		jset(k, "budget", jdbl(10.0));
		jset(k, "spend", jdbl(3.5));
		jset(k, "remaining", jdbl(6.5));
		jpush(keys, k);
		jset(d, "keys", keys);
		jset(o, "data", d);
	} else if (get && strcmp(api, "transactions") == 0) {
		jset(o, "data", jarr());
		jset(o, "has_more", jbool(false));
		jset(o, "next_cursor", NULL);
	} else if (get && strcmp(api, "usage") == 0) {
		d = jarr();
		jpush(d, account_usage_group("2026-01-01"));
		jset(o, "data", d);
		jset(o, "by", jstr("day"));
		jset(o, "since", jstr("2026-01-01T00:00:00Z"));
		jset(o, "totals", account_usage_group(NULL));
	} else if (get && strcmp(api, "keys") == 0) {
		d = jarr();
		jpush(d, account_key("hosted", false));
		jset(o, "data", d);
	} else if (strcmp(rq->method, "POST") == 0 && strcmp(api, "keys") == 0) {
		const char *name = jget_str(rq->json, "name");

		jset(o, "data", account_key(name ? name : "hosted", false));
		jset(o, "key", jstr("ar-fake-0123456789abcdefghijklmnop"));
		reply_json(r, 201, o);
		return;
	} else if (strncmp(api, "keys/", 5) == 0 && api[5] != '\0' &&
		   (get || strcmp(rq->method, "PATCH") == 0 || strcmp(rq->method, "DELETE") == 0)) {
		jset(o, "data", account_key("hosted", strcmp(rq->method, "DELETE") == 0));
	} else {
		char *msg = xasprintf("fake upstream: no account endpoint %s %s", rq->method, rq->path);

		json_object_put(o);
		reply_error(r, D_OPENAI, 404, msg);
		free(msg);
		return;
	}
	reply_json(r, 200, o);
}

/* ---- choosing the reply ---- */

static void reply_error(struct reply *r, enum dialect d, int status, const char *message)
{
	switch (d) {
	case D_ANTHROPIC:
		reply_json(r, status, anthropic_error(anthropic_error_type(status), message));
		break;
	case D_GEMINI:
		reply_json(r, status, gemini_error(status, message));
		break;
	case D_OPENAI:
	case D_NONE:
		reply_json(r, status, openai_error(status, message));
		break;
	}
}

/* NULL lets evhttp pick from its own table; ours adds the codes it lacks
 * (529) and the page title of the html directive. */
static const char *reason_phrase(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 402:
		return "Payment Required";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 422:
		return "Unprocessable Entity";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 529:
		return "Overloaded";
	default:
		return NULL;
	}
}

static void reply_html(struct reply *r, int status)
{
	const char *phrase = reason_phrase(status) ? reason_phrase(status) : "Error";

	reply_body(r, status, "text/html",
		   xasprintf("<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n"
			     "<center><h1>%d %s</h1></center>\r\n<hr><center>fake-upstream</center>\r\n"
			     "</body>\r\n</html>\r\n",
			     status, phrase, status, phrase));
}

static void reply_garbage(struct reply *r, int status, bool stream, const char *content_type)
{
	if (stream && status < 400) {
		r->status = status;
		r->content_type = content_type;
		r->stream = true;
		for (int i = 0; i < 3; i++)
			events_add(&r->ev, xstrdup("data: {not json\n\n"), true);
	} else {
		reply_body(r, status, content_type, xstrdup("this is {not json"));
	}
}

static void reply_answer(struct reply *r, const struct request *rq, const struct directive *d)
{
	const char *model;
	struct answer a;
	bool sse;

	switch (rq->ep) {
	case EP_OPENAI_CHAT:
		model = jget_str(rq->json, "model");
		answer_init(&a, rq, d, model ? model : "fake-model");
		answer_faults(&a, d);
		if (a.stream) {
			openai_chat_stream(r, &a);
			if (d->stream_error)
				openai_stream_error(r);
		} else {
			openai_chat_body(r, &a);
		}
		free(a.text);
		break;
	case EP_ANTHROPIC_MESSAGES:
		model = jget_str(rq->json, "model");
		answer_init(&a, rq, d, model ? model : "claude-fake");
		answer_faults(&a, d);
		if (a.stream) {
			anthropic_message_stream(r, &a);
			if (d->stream_error)
				anthropic_stream_error(r);
		} else {
			anthropic_message_body(r, &a);
		}
		free(a.text);
		break;
	case EP_GEMINI_GENERATE:
	case EP_GEMINI_STREAM:
		answer_init(&a, rq, d, rq->gemini_model);
		answer_faults(&a, d);
		sse = query_wants_sse(rq->query);
		if (a.stream) {
			gemini_stream(r, &a, sse);
			if (d->stream_error)
				gemini_stream_error(r, sse);
		} else {
			gemini_generate_body(r, &a);
		}
		free(a.text);
		break;
	case EP_OPENAI_EMBEDDINGS:
		openai_embeddings(r, rq, d);
		break;
	case EP_OPENAI_MODELS:
		if (d->catalog)
			gateway_models(r);
		else
			openai_models(r);
		break;
	case EP_ANTHROPIC_COUNT: {
		json_object *o = jobj();

		jset(o, "input_tokens", jint(PROMPT_TOKENS));
		reply_json(r, 200, o);
		break;
	}
	case EP_ANTHROPIC_MODELS:
		anthropic_models(r);
		break;
	case EP_GEMINI_COUNT: {
		json_object *o = jobj();

		jset(o, "totalTokens", jint(PROMPT_TOKENS));
		reply_json(r, 200, o);
		break;
	}
	case EP_GEMINI_EMBED:
	case EP_GEMINI_BATCH_EMBED:
		gemini_embed(r, rq, rq->ep == EP_GEMINI_BATCH_EMBED);
		break;
	case EP_GEMINI_MODELS:
		gemini_models(r);
		break;
	case EP_ACCOUNT:
		account_reply(r, rq);
		break;
	case EP_UNKNOWN: {
		char *msg = xasprintf("fake upstream: no route for %s %s", rq->method, rq->path);

		reply_error(r, D_NONE, 404, msg);
		free(msg);
		break;
	}
	}
	if (d->status != 0 && r->status < 400)
		r->status = d->status;
}

/* Precedence: html, then garbage, then an error status, then the answer. */
static void reply_build(struct reply *r, const struct request *rq, const struct directive *d)
{
	enum dialect dl = endpoint_dialect(rq->ep);
	bool stream = request_streams(rq);

	memset(r, 0, sizeof(*r));
	if (d->retry_after)
		r->retry_after = xstrdup(d->retry_after);
	if (d->location) {
		/* A redirect wins over everything but the headers above. */
		r->location = xstrdup(d->location);
		reply_body(r, d->status >= 300 && d->status < 400 ? d->status : 302, "text/plain",
			   xasprintf("redirecting to %s\n", d->location));
		r->gzip = d->gzip;
		return;
	}
	if (d->html) {
		reply_html(r, d->status ? d->status : 502);
	} else if (d->garbage) {
		const char *ct = "application/json";

		if (stream && (rq->ep != EP_GEMINI_STREAM || query_wants_sse(rq->query)))
			ct = "text/event-stream";
		reply_garbage(r, d->status ? d->status : 200, stream, ct);
	} else if (d->error_200) {
		reply_error(r, dl, 500, "fake error in a 200");
		r->status = 200;
	} else if (d->status >= 400) {
		char *msg = xasprintf("fake error %d", d->status);

		reply_error(r, dl, d->status, msg);
		free(msg);
	} else {
		reply_answer(r, rq, d);
	}
	if (d->no_terminator && r->stream && r->ev.n > 0) {
		const char *last = r->ev.item[r->ev.n - 1];

		if (strcmp(last, "data: [DONE]\n\n") == 0 || strncmp(last, "event: message_stop\n", 20) == 0)
			events_truncate(&r->ev, r->ev.n - 1);
	}
	if (d->wrong_ctype != NULL) {
		if (strcmp(d->wrong_ctype, "swap") == 0)
			r->content_type = r->stream ? "application/json" : "text/event-stream";
		else
			r->content_type = d->wrong_ctype;
	}
	r->gzip = d->gzip;
}

/* ---- sending: stall, drip and cut as timers, never blocking ---- */

enum exchange_state {
	X_STALL,  /* waiting before sending anything */
	X_STREAM, /* between events */
	X_CLOSE,  /* waiting for the output to drain before closing */
	X_HOLD,   /* never_close: all sent, the response left open */
};

struct exchange {
	struct exchange *prev, *next;
	struct server *srv;
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	struct event *timer;
	enum exchange_state state;
	long seq;
	struct reply reply;
	long drip_ms;
	long cut;    /* -1: no cut */
	bool clean_end; /* a cut stream still ends with the terminating chunk */
	bool never_close; /* the response is never ended */
	bool reset;	  /* close with an RST instead of a FIN */
	bool reset_waited;
	size_t sent; /* events written */
	bool gz_open; /* the gzip header went out */
	uint32_t gz_crc;
	uint32_t gz_size; /* ISIZE: bytes before compression, mod 2^32 */
};

/* ---- gzip without zlib: stored (uncompressed) deflate blocks ---- */

static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
	static uint32_t table[256];

	if (table[1] == 0) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	}
	crc = ~crc;
	while (n--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void put_le32(struct evbuffer *b, uint32_t v)
{
	unsigned char le[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 24)};

	evbuffer_add(b, le, 4);
}

static void gzip_header(struct evbuffer *b)
{
	static const unsigned char hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};

	evbuffer_add(b, hdr, sizeof(hdr));
}

/* Deflate stored blocks of data; a final one when `final` (an empty final
 * block when len is 0).  Each block is complete, so a decoder can hand its
 * bytes on at once: what a server flushing a compressed stream does. */
static void gzip_blocks(struct evbuffer *b, const char *data, size_t len, bool final)
{
	do {
		size_t n = len > 65535 ? 65535 : len;
		unsigned char h[5] = {final && n == len ? 1 : 0, (unsigned char)n, (unsigned char)(n >> 8),
				      (unsigned char)~n, (unsigned char)(~n >> 8)};

		evbuffer_add(b, h, sizeof(h));
		evbuffer_add(b, data, n);
		data += n;
		len -= n;
	} while (len > 0);
}

static void gzip_trailer(struct evbuffer *b, uint32_t crc, uint32_t size)
{
	gzip_blocks(b, "", 0, true);
	put_le32(b, crc);
	put_le32(b, size);
}

/* A whole body as one gzip member, owned by the caller (*out_len bytes). */
static char *gzip_whole(const char *body, size_t len, size_t *out_len)
{
	struct evbuffer *b = evbuffer_new();
	char *out;

	if (b == NULL)
		die("out of memory");
	gzip_header(b);
	if (len > 0)
		gzip_blocks(b, body, len, false);
	gzip_trailer(b, crc32_update(0, (const unsigned char *)body, len), (uint32_t)len);
	*out_len = evbuffer_get_length(b);
	out = xmalloc(*out_len);
	evbuffer_remove(b, out, *out_len);
	evbuffer_free(b);
	return out;
}

static void exchange_unlink(struct exchange *ex)
{
	if (ex->prev)
		ex->prev->next = ex->next;
	else
		ex->srv->exchanges = ex->next;
	if (ex->next)
		ex->next->prev = ex->prev;
}

/* Leaves the request alone: whoever calls this has handed it to libevent
 * or freed it. */
static void exchange_free(struct exchange *ex)
{
	exchange_unlink(ex);
	if (ex->evcon != NULL)
		evhttp_connection_set_closecb(ex->evcon, NULL, NULL);
	event_free(ex->timer);
	reply_free(&ex->reply);
	free(ex);
}

static void exchange_after(struct exchange *ex, long ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	if (evtimer_add(ex->timer, &tv) != 0)
		die("cannot arm a timer");
}

static void add_header(struct evhttp_request *req, const char *name, const char *value)
{
	if (evhttp_add_header(evhttp_request_get_output_headers(req), name, value) != 0)
		warn("cannot add header %s: %s", name, value);
}

static void reply_headers(struct evhttp_request *req, const struct reply *r)
{
	if (r->content_type != NULL && *r->content_type != '\0')
		add_header(req, "Content-Type", r->content_type);
	if (r->retry_after)
		add_header(req, "Retry-After", r->retry_after);
	if (r->location)
		add_header(req, "Location", r->location);
	if (r->gzip)
		add_header(req, "Content-Encoding", "gzip");
}

/* The body of a whole reply as sent: gzip-encoded when asked (owned by
 * the caller then), else the item itself. */
static const char *whole_body(const struct reply *r, size_t *len, char **owned)
{
	const char *body = r->ev.item[0];

	*len = strlen(body);
	*owned = NULL;
	if (r->gzip)
		body = *owned = gzip_whole(body, *len, len);
	return body;
}

static void send_whole(struct evhttp_request *req, const struct reply *r)
{
	struct evbuffer *b = evbuffer_new();
	size_t len;
	char *owned;
	const char *body = whole_body(r, &len, &owned);

	if (b == NULL)
		die("out of memory");
	reply_headers(req, r);
	if (evbuffer_add(b, body, len) != 0)
		die("out of memory");
	evhttp_send_reply(req, r->status, reason_phrase(r->status), b);
	evbuffer_free(b);
	free(owned);
}

static void on_flushed(struct evhttp_connection *evcon, void *arg);

/* Returns false when nothing was queued, so no flush callback will follow:
 * an empty piece, or a status that has no body (204, 304), for which evhttp
 * quietly leaves the data where it was. */
static bool exchange_write(struct exchange *ex, const char *data, size_t len)
{
	struct evbuffer *b;
	bool queued;

	if (len == 0)
		return false;
	b = evbuffer_new();
	if (b == NULL)
		die("out of memory");
	if (ex->reply.gzip && ex->reply.stream) {
		if (!ex->gz_open) {
			gzip_header(b);
			ex->gz_open = true;
		}
		gzip_blocks(b, data, len, false);
		ex->gz_crc = crc32_update(ex->gz_crc, (const unsigned char *)data, len);
		ex->gz_size += (uint32_t)len;
	} else if (evbuffer_add(b, data, len) != 0) {
		die("out of memory");
	}
	evhttp_send_reply_chunk_with_cb(ex->req, b, on_flushed, ex);
	queued = evbuffer_get_length(b) == 0;
	evbuffer_free(b);
	return queued;
}

static void exchange_close_soon(struct exchange *ex)
{
	ex->state = X_CLOSE;
	exchange_after(ex, 0);
}

static void exchange_start(struct exchange *ex)
{
	struct reply *r = &ex->reply;

	if (!r->stream && ex->cut < 0 && !ex->never_close) {
		send_whole(ex->req, r);
		exchange_free(ex);
		return;
	}
	reply_headers(ex->req, r);
	if (!r->stream && ex->cut < 0) {
		/* never_close: the whole body, chunked, and never the last
		 * chunk. */
		size_t len;
		char *owned;
		const char *body = whole_body(r, &len, &owned);

		evhttp_send_reply_start(ex->req, r->status, reason_phrase(r->status));
		exchange_write(ex, body, len);
		free(owned);
		ex->state = X_HOLD;
		return;
	}
	if (!r->stream) {
		/* Announce the whole body, send only its first `cut` bytes
		 * (always short of the whole), then close. */
		size_t len, part = (size_t)ex->cut;
		char cl[32], *owned;
		const char *body = whole_body(r, &len, &owned);

		if (part >= len)
			part = len ? len - 1 : 0;
		snprintf(cl, sizeof(cl), "%zu", len);
		add_header(ex->req, "Content-Length", cl);
		evhttp_send_reply_start(ex->req, r->status, reason_phrase(r->status));
		exchange_write(ex, body, part);
		free(owned);
		exchange_close_soon(ex);
		return;
	}
	evhttp_send_reply_start(ex->req, r->status, reason_phrase(r->status));
	ex->state = X_STREAM;
	if (ex->cut == 0 || r->ev.n == 0) {
		/* Nothing to write: decide at once instead of waiting for a
		 * flush callback that would never come. */
		exchange_after(ex, 0);
		return;
	}
	ex->sent = 1;
	if (!exchange_write(ex, r->ev.item[0], strlen(r->ev.item[0])))
		exchange_after(ex, 0);
}

static bool exchange_stream_done(const struct exchange *ex)
{
	return ex->sent == ex->reply.ev.n || (ex->cut >= 0 && ex->sent >= (size_t)ex->cut);
}

/* Each event goes out on its own write: the next is queued only once the
 * previous one has left the output buffer (after the drip delay, if any). */
static void on_flushed(struct evhttp_connection *evcon, void *arg)
{
	struct exchange *ex = arg;

	(void)evcon;
	if (ex->state != X_STREAM)
		return;
	exchange_after(ex, exchange_stream_done(ex) ? 0 : ex->drip_ms);
}

/* An abortive close: SO_LINGER 0 makes the last close of the socket an
 * RST.  evhttp would shutdown(SHUT_WR) first -- a FIN -- so the socket is
 * closed here by putting /dev/null in its place (dup2), leaving evhttp a
 * descriptor to shut down and close harmlessly. */
static void reset_socket(evutil_socket_t fd)
{
	struct linger lg = {1, 0};
	int null_fd;

	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) != 0) {
		warn("cannot set SO_LINGER: %s", strerror(errno));
		return;
	}
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0 || dup2(null_fd, fd) < 0)
		warn("cannot reset a connection: %s", strerror(errno));
	if (null_fd >= 0)
		close(null_fd);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct exchange *ex = arg;

	(void)fd;
	(void)what;
	switch (ex->state) {
	case X_STALL:
		exchange_start(ex);
		break;
	case X_STREAM:
		if (!exchange_stream_done(ex)) {
			const char *item = ex->reply.ev.item[ex->sent++];

			if (!exchange_write(ex, item, strlen(item)))
				exchange_after(ex, 0);
		} else if (ex->cut >= 0 && !ex->clean_end) {
			/* A cut always ends without the terminating chunk, even
			 * when every event made it out. */
			exchange_close_soon(ex);
		} else if (ex->never_close) {
			/* Everything went out; the response is left open until
			 * the client hangs up (on_client_closed). */
			ex->state = X_HOLD;
		} else {
			struct evhttp_request *req = ex->req;

			if (ex->reply.gzip) {
				struct evbuffer *b = evbuffer_new();

				if (b == NULL)
					die("out of memory");
				if (!ex->gz_open)
					gzip_header(b);
				gzip_trailer(b, ex->gz_crc, ex->gz_size);
				evhttp_send_reply_chunk(req, b);
				evbuffer_free(b);
			}
			exchange_free(ex);
			evhttp_send_reply_end(req);
		}
		break;
	case X_HOLD:
		break;
	case X_CLOSE: {
		struct bufferevent *bev = evhttp_connection_get_bufferevent(ex->evcon);

		if (evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
			exchange_after(ex, 2);
		} else if (ex->reset && !ex->reset_waited) {
			/* Give what was sent 50 ms to be read: an RST makes
			 * the peer drop data it has not read yet. */
			ex->reset_waited = true;
			exchange_after(ex, 50);
		} else {
			/* Freeing the connection closes the socket (FIN) and
			 * frees the request with it; with SO_LINGER 0 the
			 * close is an RST. */
			struct evhttp_connection *evcon = ex->evcon;

			if (ex->reset)
				reset_socket(bufferevent_getfd(bev));
			exchange_free(ex);
			evhttp_connection_free(evcon);
		}
		break;
	}
	}
}

/* The connection died mid-response.  When the client hung up, libevent has
 * detached the request from it (we had not finished the request), so the
 * request is ours to free; otherwise the connection still owns it. */
static void on_client_closed(struct evhttp_connection *evcon, void *arg)
{
	struct exchange *ex = arg;
	struct evhttp_request *req = ex->req;

	(void)evcon;
	record_event(ex->srv, "client_closed", ex->seq);
	ex->evcon = NULL;
	exchange_free(ex);
	if (evhttp_request_get_connection(req) == NULL)
		evhttp_request_free(req);
}

/* evhttp stops reading while the handler owns a request, so a client that
 * hangs up during a stall would go unnoticed until the first write.  Reading
 * again with no read callback -- what evhttp itself does while it writes --
 * turns the hang-up into an EOF that reaches the close callback. */
static void watch_for_close(struct evhttp_connection *evcon)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	bufferevent_data_cb readcb, writecb;
	bufferevent_event_cb eventcb;
	void *cbarg;

	bufferevent_getcb(bev, &readcb, &writecb, &eventcb, &cbarg);
	(void)readcb;
	bufferevent_setcb(bev, NULL, writecb, eventcb, cbarg);
	if (bufferevent_enable(bev, EV_READ) != 0)
		warn("cannot watch a connection for close");
}

/* The event count cut_deltas=N means: everything up to and including the
 * Nth content event (every event when there are fewer). */
static long cut_of(const struct reply *r, const struct directive *d)
{
	size_t deltas = 0;

	if (d->cut_deltas < 0 || !r->stream)
		return d->cut;
	if (d->cut_deltas == 0)
		return 0;
	for (size_t i = 0; i < r->ev.n; i++)
		if (r->ev.delta[i] && ++deltas == (size_t)d->cut_deltas)
			return (long)(i + 1);
	return (long)r->ev.n;
}

static void exchange_begin(struct server *srv, struct evhttp_request *req, long seq, struct reply *r,
			   const struct directive *d)
{
	struct exchange *ex;
	long cut = cut_of(r, d);

	if (d->stall_ms == 0 && !r->stream && cut < 0 && !d->never_close) {
		send_whole(req, r);
		reply_free(r);
		return;
	}
	ex = xmalloc(sizeof(*ex));
	memset(ex, 0, sizeof(*ex));
	ex->srv = srv;
	ex->req = req;
	ex->evcon = evhttp_request_get_connection(req);
	ex->seq = seq;
	ex->reply = *r;
	memset(r, 0, sizeof(*r));
	ex->drip_ms = d->drip_ms;
	ex->cut = cut;
	ex->clean_end = d->clean_end && ex->reply.stream;
	ex->never_close = d->never_close;
	ex->reset = d->reset;
	ex->timer = evtimer_new(srv->base, on_timer, ex);
	if (ex->timer == NULL)
		die("out of memory");
	ex->next = srv->exchanges;
	if (ex->next)
		ex->next->prev = ex;
	srv->exchanges = ex;
	evhttp_connection_set_closecb(ex->evcon, on_client_closed, ex);
	watch_for_close(ex->evcon);
	if (d->stall_ms > 0) {
		ex->state = X_STALL;
		exchange_after(ex, d->stall_ms);
	} else {
		exchange_start(ex);
	}
}

/* ---- the handler ---- */

static const char *method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	case EVHTTP_REQ_TRACE:
		return "TRACE";
	case EVHTTP_REQ_CONNECT:
		return "CONNECT";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	}
	return "UNKNOWN";
}

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		die("clock_gettime: %s", strerror(errno));
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void record_request(const struct request *rq)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(rq->req);
	json_object *o = jobj(), *headers = jobj();

	for (struct evkeyval *kv = in->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
		char *name = xstrdup(kv->key);
		const char *prev;

		for (char *c = name; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		/* A repeated header is one comma-joined value, as HTTP allows. */
		prev = jget_str(headers, name);
		if (prev != NULL) {
			char *joined = xasprintf("%s, %s", prev, kv->value);

			jset(headers, name, jstr(joined));
			free(joined);
		} else {
			jset(headers, name, jstr(kv->value));
		}
		free(name);
	}
	jset(o, "seq", jint(rq->seq));
	jset(o, "t_ms", jint(monotonic_ms()));
	{
		/* The client's port tells connections apart: the same port on
		 * two requests means a reused connection. */
		char *peer = NULL;
		ev_uint16_t port = 0;
		struct evhttp_connection *evcon = evhttp_request_get_connection(rq->req);
		if (evcon)
			evhttp_connection_get_peer(evcon, &peer, &port);
		jset(o, "peer_port", jint(port));
	}
	jset(o, "method", jstr(rq->method));
	jset(o, "path", jstr(rq->path));
	jset(o, "query", jstr(rq->query));
	jset(o, "headers", headers);
	jset(o, "body", jstrn(rq->body, rq->body_len));
	record_line(rq->srv, o);
}

static void send_text(struct evhttp_request *req, int status, const char *text)
{
	struct reply r;

	memset(&r, 0, sizeof(r));
	reply_body(&r, status, "text/plain", xstrdup(text));
	send_whole(req, &r);
	reply_free(&r);
}

static void handle_control(struct request *rq)
{
	struct server *srv = rq->srv;
	const char *what = rq->dpath + strlen("/_fake/");
	bool get = strcmp(rq->method, "GET") == 0, post = strcmp(rq->method, "POST") == 0;

	if (get && strcmp(what, "health") == 0) {
		send_text(rq->req, 200, "ok\n");
	} else if (post && strcmp(what, "next") == 0) {
		queue_push(srv, xstrdup(rq->body));
		send_text(rq->req, 200, "queued\n");
	} else if (post && strcmp(what, "reset") == 0) {
		queue_clear(srv);
		srv->seq = 0;
		if (fflush(srv->record) != 0 || ftruncate(fileno(srv->record), 0) != 0)
			warn("cannot truncate the record file: %s", strerror(errno));
		send_text(rq->req, 200, "reset\n");
	} else {
		send_text(rq->req, 404, "no such control endpoint\n");
	}
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct server *srv = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct evbuffer *input = evhttp_request_get_input_buffer(req);
	struct request rq;
	struct directive d;
	struct reply r;
	char *queued;
	size_t n;

	memset(&rq, 0, sizeof(rq));
	rq.srv = srv;
	rq.req = req;
	rq.method = method_name(evhttp_request_get_command(req));
	rq.path = uri && evhttp_uri_get_path(uri) && *evhttp_uri_get_path(uri) ? evhttp_uri_get_path(uri) : "/";
	rq.query = uri && evhttp_uri_get_query(uri) ? evhttp_uri_get_query(uri) : "";
	rq.dpath = evhttp_uridecode(rq.path, 0, &n);
	if (rq.dpath == NULL)
		die("out of memory");
	rq.body_len = evbuffer_get_length(input);
	rq.body = xmalloc(rq.body_len + 1);
	if (evbuffer_copyout(input, rq.body, rq.body_len) != (ev_ssize_t)rq.body_len)
		die("cannot read a request body");
	rq.body[rq.body_len] = '\0';

	if (strncmp(rq.dpath, "/_fake/", 7) == 0) {
		handle_control(&rq);
		goto out;
	}

	rq.seq = ++srv->seq;
	record_request(&rq);
	if (rq.body_len > 0) {
		struct json_tokener *tok = json_tokener_new();

		if (tok == NULL)
			die("out of memory");
		rq.json = json_tokener_parse_ex(tok, rq.body, (int)(rq.body_len > INT_MAX ? INT_MAX : rq.body_len));
		if (json_tokener_get_error(tok) == json_tokener_success) {
			/* Text after the JSON value makes it not JSON: markers
			 * are then looked for in the raw bytes. */
			for (size_t i = json_tokener_get_parse_end(tok); i < rq.body_len; i++) {
				if (!is_space(rq.body[i])) {
					json_object_put(rq.json);
					rq.json = NULL;
					break;
				}
			}
		} else {
			json_object_put(rq.json);
			rq.json = NULL;
		}
		json_tokener_free(tok);
	}
	route(&rq);

	directive_init(&d);
	if (srv->default_directive != NULL)
		directive_apply_source(&d, srv->default_directive);
	queued = queue_pop(srv);
	if (queued != NULL) {
		directive_apply_source(&d, queued);
		free(queued);
	}
	for (struct evkeyval *kv = evhttp_request_get_input_headers(req)->tqh_first; kv; kv = kv->next.tqe_next)
		if (strcasecmp(kv->key, "X-Fake") == 0)
			directive_apply_source(&d, kv->value);
	if (rq.json != NULL)
		directive_apply_json_markers(&d, rq.json);
	else
		directive_apply_markers(&d, rq.body, rq.body_len);
	if (d.fail_pct > 0 && rng_next(srv) % 100 < (uint64_t)d.fail_pct && d.cut < 0 && d.cut_deltas < 0) {
		d.cut_deltas = 2;
		d.cut = 20;
		record_event(srv, "fail_pct", rq.seq);
	}
	if (d.reset && d.cut < 0 && d.cut_deltas < 0) {
		d.cut_deltas = 2;
		d.cut = 20;
	}

	ascii_json = d.ascii;
	reply_build(&r, &rq, &d);
	ascii_json = false;
	exchange_begin(srv, req, rq.seq, &r, &d);
	directive_free(&d);
out:
	json_object_put(rq.json);
	free(rq.gemini_model);
	free(rq.body);
	free(rq.dpath);
}

/* ---- startup and shutdown ---- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;

	(void)sig;
	(void)what;
	event_base_loopbreak(srv->base);
}

static int bound_port(struct evhttp_bound_socket *handle)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(evhttp_bound_socket_get_fd(handle), (struct sockaddr *)&ss, &len) != 0)
		die("getsockname: %s", strerror(errno));
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Written to FILE.tmp and renamed, so a reader never sees half a number. */
static void write_port_file(const char *path, int port)
{
	char *tmp = xasprintf("%s.tmp", path);
	FILE *f = fopen(tmp, "w");

	if (f == NULL)
		die("cannot create %s: %s", tmp, strerror(errno));
	if (fprintf(f, "%d\n", port) < 0 || fclose(f) != 0)
		die("cannot write %s: %s", tmp, strerror(errno));
	if (rename(tmp, path) != 0)
		die("cannot rename %s to %s: %s", tmp, path, strerror(errno));
	free(tmp);
}

static const char usage_text[] =
	"usage: fake-upstream --port-file FILE --record FILE [--host ADDR] [--port N]\n"
	"                     [--directive DIRECTIVE] [--seed N]\n";

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{"host", required_argument, NULL, 'H'},
		{"port", required_argument, NULL, 'p'},
		{"port-file", required_argument, NULL, 'f'},
		{"record", required_argument, NULL, 'r'},
		{"directive", required_argument, NULL, 'd'},
		{"seed", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	const char *host = "127.0.0.1", *port_file = NULL, *record_path = NULL;
	struct evhttp_bound_socket *handle;
	struct event *sigterm, *sigint;
	struct sigaction sa;
	struct server srv;
	long port = 0, seed = 1;
	const char *default_directive = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'H':
			host = optarg;
			break;
		case 'p':
			if (!parse_long(optarg, 0, 65535, &port)) {
				fprintf(stderr, "fake-upstream: bad port '%s'\n%s", optarg, usage_text);
				return 2;
			}
			break;
		case 'f':
			port_file = optarg;
			break;
		case 'r':
			record_path = optarg;
			break;
		case 'd':
			default_directive = optarg;
			break;
		case 's':
			if (!parse_long(optarg, 0, LONG_MAX, &seed)) {
				fprintf(stderr, "fake-upstream: bad seed '%s'\n%s", optarg, usage_text);
				return 2;
			}
			break;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "fake-upstream: unexpected argument '%s'\n%s", argv[optind], usage_text);
		return 2;
	}
	if (port_file == NULL || record_path == NULL) {
		fprintf(stderr, "fake-upstream: --port-file and --record are required\n%s", usage_text);
		return 2;
	}

	/* A client hanging up must be an EPIPE on write, not our death. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		die("sigaction: %s", strerror(errno));

	memset(&srv, 0, sizeof(srv));
	srv.queue_tail = &srv.queue_head;
	srv.default_directive = default_directive;
	/* xorshift needs a non-zero state; mix the seed so 0 and 1 differ. */
	srv.rng = ((uint64_t)seed * 0x9E3779B97F4A7C15u) ^ 0x2545F4914F6CDD1Du;
	if (srv.rng == 0)
		srv.rng = 1;
	srv.record = fopen(record_path, "a");
	if (srv.record == NULL)
		die("cannot open %s: %s", record_path, strerror(errno));
	srv.base = event_base_new();
	if (srv.base == NULL)
		die("cannot create an event base");
	srv.http = evhttp_new(srv.base);
	if (srv.http == NULL)
		die("cannot create the HTTP server");
	evhttp_set_allowed_methods(srv.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
						     EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	/* The client under test decides when to give up, not the fake: keep
	 * evhttp's own 50-second timeouts from cutting long stalls short. */
	{
		struct timeval tv = {3600, 0};

		evhttp_set_timeout_tv(srv.http, &tv);
	}
	/* A reply without a Content-Type (wrong_ctype=none) gets none, not
	 * evhttp's text/html default. */
	evhttp_set_default_content_type(srv.http, NULL);
	evhttp_set_gencb(srv.http, on_request, &srv);
	handle = evhttp_bind_socket_with_handle(srv.http, host, (ev_uint16_t)port);
	if (handle == NULL)
		die("cannot listen on %s port %ld", host, port);

	sigterm = evsignal_new(srv.base, SIGTERM, on_signal, &srv);
	sigint = evsignal_new(srv.base, SIGINT, on_signal, &srv);
	if (sigterm == NULL || sigint == NULL || evsignal_add(sigterm, NULL) != 0 || evsignal_add(sigint, NULL) != 0)
		die("cannot watch signals");
	write_port_file(port_file, bound_port(handle));

	if (event_base_dispatch(srv.base) < 0)
		die("the event loop failed");

	/* Responses in flight die with their connections in evhttp_free, which
	 * also frees their requests; only our side needs releasing first. */
	while (srv.exchanges != NULL)
		exchange_free(srv.exchanges);
	evhttp_free(srv.http);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(srv.base);
	queue_clear(&srv);
	if (fclose(srv.record) != 0)
		warn("cannot close the record file: %s", strerror(errno));
	libevent_global_shutdown();
	return 0;
}
