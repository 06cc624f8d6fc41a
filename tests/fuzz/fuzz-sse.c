/* fuzz-sse.c - the incremental SSE parser (sse.h) on random bytes.
 *
 * The input is an upstream's event stream. It is parsed in one feed and
 * again in random splits chosen from the input's hash (pieces of at most
 * 1 to 16 bytes, so that one input in sixteen is fed a byte at a time); the
 * events must come out the same both ways (the parser promises "any
 * split"). It is parsed again with a tiny event cap, where only
 * memory safety and a clean SSE_ERR_TOO_BIG are asked for, and with a
 * callback that stops early, after which the parser must stay stopped and
 * then be reusable after a reset. Finally the writer: every event parsed is
 * written with sse_write_event and must parse back to the same event, with
 * its CR and CRLF line breaks turned into LF. */
#include "config.h"

#include "buf.h"
#include "sse.h"
#include "fuzz.h"

/* Events as one flat record, to compare runs byte for byte. */
struct log {
	struct buf b;
	size_t n;
	int stop_at; /* the callback returns 7 on this event (1-based); 0 never */
};

static void log_field(struct buf *b, char tag, const char *s, size_t len)
{
	char head[32];
	int k = snprintf(head, sizeof head, "%c%zu:", tag, len);
	buf_append(b, head, (size_t)k);
	if (len)
		buf_append(b, s, len);
}

static int log_cb(const struct sse_event *ev, void *arg)
{
	struct log *l = arg;
	FUZZ_ASSERT(ev->data != NULL);
	FUZZ_ASSERT(ev->data[ev->data_len] == '\0');
	if (ev->event)
		log_field(&l->b, 'e', ev->event, strlen(ev->event));
	else
		buf_putc(&l->b, '-');
	log_field(&l->b, 'd', ev->data, ev->data_len);
	if (ev->id)
		log_field(&l->b, 'i', ev->id, strlen(ev->id));
	else
		buf_putc(&l->b, '-');
	buf_putc(&l->b, '\n');
	l->n++;
	return l->stop_at && (int)l->n == l->stop_at ? 7 : 0;
}

/* split false: one feed; true: random splits. */
static int parse(const uint8_t *data, size_t size, bool split, uint64_t seed, size_t max, struct log *l)
{
	struct sse_parser *p = sse_parser_new(log_cb, l, max);
	int rc = 0;
	size_t off = 0;
	size_t most = 1 + fuzz_rand(&seed) % 16;
	while (off < size && rc == 0) {
		size_t n = size - off;
		if (split)
			n = 1 + fuzz_rand(&seed) % (n < most ? n : most);
		rc = sse_parser_feed(p, (const char *)data + off, n);
		off += n;
	}
	if (rc == 0)
		rc = sse_parser_finish(p);
	else
		FUZZ_ASSERT(sse_parser_finish(p) == rc); /* stays stopped */
	sse_parser_free(p);
	return rc;
}

/* Writes every event of the stream again and parses each back. */
struct rewrite {
	int bad;
};

struct one {
	struct buf event, data;
	bool have_event;
	size_t n;
};

static int one_cb(const struct sse_event *ev, void *arg)
{
	struct one *o = arg;
	o->n++;
	o->have_event = ev->event != NULL;
	buf_reset(&o->event);
	buf_reset(&o->data);
	if (ev->event)
		buf_puts(&o->event, ev->event);
	buf_append(&o->data, ev->data, ev->data_len);
	return 0;
}

/* data with "\r\n" and lone "\r" turned into "\n". */
static void normalize(struct buf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\r') {
			buf_putc(out, '\n');
			if (i + 1 < len && s[i + 1] == '\n')
				i++;
		} else {
			buf_putc(out, s[i]);
		}
	}
}

static int rewrite_cb(const struct sse_event *ev, void *arg)
{
	(void)arg;
	struct buf w = BUF_INIT;
	sse_write_event(&w, ev->event, ev->data, ev->data_len);
	struct one o = {BUF_INIT, BUF_INIT, false, 0};
	struct sse_parser *p = sse_parser_new(one_cb, &o, 0);
	FUZZ_ASSERT(sse_parser_feed(p, w.data, w.len) == 0);
	FUZZ_ASSERT(sse_parser_finish(p) == 0);
	sse_parser_free(p);
	FUZZ_ASSERT(o.n == 1);
	FUZZ_ASSERT(o.have_event == (ev->event != NULL));
	if (ev->event)
		FUZZ_ASSERT(strncmp(buf_str(&o.event), ev->event, strcspn(ev->event, "\r\n")) == 0 &&
			    o.event.len == strcspn(ev->event, "\r\n"));
	struct buf want = BUF_INIT;
	normalize(&want, ev->data, ev->data_len);
	FUZZ_ASSERT(o.data.len == want.len && (want.len == 0 || memcmp(o.data.data, want.data, want.len) == 0));
	buf_free(&want);
	buf_free(&o.event);
	buf_free(&o.data);
	buf_free(&w);

	/* A comment never yields an event. */
	struct buf c = BUF_INIT;
	sse_write_comment(&c, ev->event);
	o = (struct one){BUF_INIT, BUF_INIT, false, 0};
	p = sse_parser_new(one_cb, &o, 0);
	FUZZ_ASSERT(sse_parser_feed(p, c.data, c.len) == 0 && sse_parser_finish(p) == 0);
	FUZZ_ASSERT(o.n == 0);
	sse_parser_free(p);
	buf_free(&c);
	buf_free(&o.event);
	buf_free(&o.data);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t seed = fuzz_hash(data, size);

	struct log whole = {BUF_INIT, 0, 0}, split = {BUF_INIT, 0, 0};
	FUZZ_ASSERT(parse(data, size, false, seed, 0, &whole) == 0);
	FUZZ_ASSERT(parse(data, size, true, seed, 0, &split) == 0);
	FUZZ_ASSERT(whole.n == split.n && whole.b.len == split.b.len &&
		    memcmp(buf_str(&whole.b), buf_str(&split.b), whole.b.len) == 0);

	/* A small cap: TOO_BIG or success, never anything else. */
	struct log capped = {BUF_INIT, 0, 0};
	size_t cap = 1 + seed % 64;
	int rc = parse(data, size, true, seed >> 8, cap, &capped);
	FUZZ_ASSERT(rc == 0 || rc == SSE_ERR_TOO_BIG);
	FUZZ_ASSERT(capped.n <= whole.n);

	/* Stopping early from the callback, then reusing the parser. */
	if (whole.n > 0) {
		struct log stop = {BUF_INIT, 0, (int)(1 + seed % whole.n)};
		struct sse_parser *p = sse_parser_new(log_cb, &stop, 0);
		rc = sse_parser_feed(p, (const char *)data, size);
		if (rc == 0)
			rc = sse_parser_finish(p);
		FUZZ_ASSERT(rc == 7 && (int)stop.n == stop.stop_at);
		FUZZ_ASSERT(sse_parser_feed(p, "data: x\n\n", 9) == 7);
		sse_parser_reset(p);
		stop.stop_at = 0;
		buf_reset(&stop.b);
		stop.n = 0;
		FUZZ_ASSERT(sse_parser_feed(p, (const char *)data, size) == 0 && sse_parser_finish(p) == 0);
		FUZZ_ASSERT(stop.n == whole.n && stop.b.len == whole.b.len &&
			    memcmp(buf_str(&stop.b), buf_str(&whole.b), whole.b.len) == 0);
		sse_parser_free(p);
		buf_free(&stop.b);
	}

	/* Writer round trip for each event. */
	struct sse_parser *p = sse_parser_new(rewrite_cb, NULL, 0);
	sse_parser_feed(p, (const char *)data, size);
	sse_parser_finish(p);
	sse_parser_free(p);

	buf_free(&whole.b);
	buf_free(&split.b);
	buf_free(&capped.b);
	return 0;
}
