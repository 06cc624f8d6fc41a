/* sse.c - the incremental Server-Sent Events parser and writers; see sse.h. */
#include "config.h"

#include "sse.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "util.h"

#define SSE_DEFAULT_MAX ((size_t)16 * 1024 * 1024)
/* Buffers that grew past this for one huge event are released after it, so a
 * long-lived proxy stream does not pin the memory of its largest event. */
#define SSE_KEEP_CAP ((size_t)1024 * 1024)

static const unsigned char sse_bom[3] = {0xEF, 0xBB, 0xBF};

struct sse_parser {
	sse_event_cb cb;
	void *arg;
	size_t max;
	struct buf line;  /* a line split across feeds; empty when none pending */
	struct buf data;  /* data lines of the current event, joined by "\n" */
	struct buf event; /* the current event's "event" value */
	struct buf id;    /* the current event's "id" value */
	bool have_data, have_event, have_id;
	/* The previous feed ended in "\r": a "\n" opening the next feed belongs
	 * to that CRLF and must not be read as an empty line (a dispatch). */
	bool after_cr;
	/* BOM bytes matched so far at the start of the stream, held back until
	 * we know whether they are a BOM; 3 once the question is settled. */
	unsigned bom_state;
	int stopped; /* non-zero once feed/finish has returned non-zero */
};

static void sse_trim(struct buf *b)
{
	if (b->cap > SSE_KEEP_CAP)
		buf_free(b);
	else
		buf_reset(b);
}

static void sse_clear_event(struct sse_parser *p)
{
	sse_trim(&p->data);
	sse_trim(&p->event);
	sse_trim(&p->id);
	p->have_data = p->have_event = p->have_id = false;
}

static int sse_dispatch(struct sse_parser *p)
{
	int rc = 0;
	if ((p->have_data || p->have_event) && p->cb) {
		struct sse_event ev = {
		    .event = p->have_event ? buf_str(&p->event) : NULL,
		    .data = buf_str(&p->data),
		    .data_len = p->data.len,
		    .id = p->have_id ? buf_str(&p->id) : NULL,
		};
		rc = p->cb(&ev, p->arg);
	}
	sse_clear_event(p);
	return rc;
}

static bool sse_field_is(const char *name, size_t len, const char *want, size_t want_len)
{
	return len == want_len && memcmp(name, want, len) == 0;
}

/* One complete line, without its terminator. */
static int sse_line(struct sse_parser *p, const char *s, size_t len)
{
	if (len == 0)
		return sse_dispatch(p);
	if (s[0] == ':')
		return 0;

	const char *colon = memchr(s, ':', len);
	size_t name_len = colon ? (size_t)(colon - s) : len;
	const char *val = colon ? colon + 1 : s + len;
	size_t val_len = len - (size_t)(val - s);
	if (val_len && val[0] == ' ') {
		val++;
		val_len--;
	}

	if (sse_field_is(s, name_len, "data", 4)) {
		if (p->have_data)
			buf_putc(&p->data, '\n');
		buf_append(&p->data, val, val_len);
		p->have_data = true;
	} else if (sse_field_is(s, name_len, "event", 5)) {
		buf_reset(&p->event);
		buf_append(&p->event, val, val_len);
		p->have_event = true;
	} else if (sse_field_is(s, name_len, "id", 2)) {
		/* WHATWG: an id with NUL is ignored, since it could not be sent
		 * back in a Last-Event-ID header. */
		if (!memchr(val, '\0', val_len)) {
			buf_reset(&p->id);
			buf_append(&p->id, val, val_len);
			p->have_id = true;
		}
	}
	return 0;
}

static bool sse_too_big(const struct sse_parser *p, size_t more)
{
	size_t held = p->line.len + p->data.len + p->event.len + p->id.len;
	return more > p->max || held > p->max - more;
}

/* Splits on "\n", "\r\n" and "\r". Lines wholly inside s are parsed in place;
 * only a line crossing a feed boundary is copied into p->line. */
static int sse_feed_lines(struct sse_parser *p, const char *s, size_t len)
{
	const char *end = s + len;
	/* The next "\n" and "\r" at or after s, or end when there is none; kept
	 * across lines so each memchr scans any byte at most once per feed
	 * (a "\r"-only stream would otherwise rescan for "\n" on every line). */
	const char *nl = NULL, *cr = NULL;

	if (p->after_cr && s < end) {
		if (*s == '\n')
			s++;
		p->after_cr = false;
	}
	while (s < end) {
		if (!nl || nl < s) {
			nl = memchr(s, '\n', (size_t)(end - s));
			if (!nl)
				nl = end;
		}
		if (!cr || cr < s) {
			cr = memchr(s, '\r', (size_t)(end - s));
			if (!cr)
				cr = end;
		}
		const char *eol = nl < cr ? nl : cr;
		size_t n = (size_t)(eol - s);
		if (sse_too_big(p, n))
			return SSE_ERR_TOO_BIG;
		if (eol == end) {
			buf_append(&p->line, s, n);
			return 0;
		}

		int rc;
		if (p->line.len) {
			buf_append(&p->line, s, n);
			rc = sse_line(p, p->line.data, p->line.len);
			sse_trim(&p->line);
		} else {
			rc = sse_line(p, s, n);
		}
		if (rc)
			return rc;

		s = eol + 1;
		if (*eol == '\r') {
			if (s == end)
				p->after_cr = true;
			else if (*s == '\n')
				s++;
		}
	}
	return 0;
}

static int sse_stop(struct sse_parser *p, int rc)
{
	p->stopped = rc;
	return rc;
}

struct sse_parser *sse_parser_new(sse_event_cb cb, void *arg, size_t max_event_bytes)
{
	struct sse_parser *p = xcalloc(1, sizeof(*p));
	p->cb = cb;
	p->arg = arg;
	p->max = max_event_bytes ? max_event_bytes : SSE_DEFAULT_MAX;
	return p;
}

int sse_parser_feed(struct sse_parser *p, const char *bytes, size_t len)
{
	if (p->stopped)
		return p->stopped;

	/* The BOM may itself arrive split across feeds. */
	while (p->bom_state < 3 && len) {
		if ((unsigned char)*bytes == sse_bom[p->bom_state]) {
			p->bom_state++;
			bytes++;
			len--;
			continue;
		}
		unsigned held = p->bom_state;
		p->bom_state = 3;
		int rc = sse_feed_lines(p, (const char *)sse_bom, held);
		if (rc)
			return sse_stop(p, rc);
	}

	int rc = sse_feed_lines(p, bytes, len);
	return rc ? sse_stop(p, rc) : 0;
}

int sse_parser_finish(struct sse_parser *p)
{
	if (p->stopped)
		return p->stopped;

	int rc = 0;
	if (p->bom_state < 3) {
		/* A stream shorter than a BOM that began like one. */
		unsigned held = p->bom_state;
		p->bom_state = 3;
		rc = sse_feed_lines(p, (const char *)sse_bom, held);
	}
	if (!rc && p->line.len)
		rc = sse_line(p, p->line.data, p->line.len);
	if (!rc)
		rc = sse_dispatch(p);
	if (rc)
		return sse_stop(p, rc);
	sse_parser_reset(p);
	return 0;
}

void sse_parser_reset(struct sse_parser *p)
{
	sse_trim(&p->line);
	sse_clear_event(p);
	p->after_cr = false;
	p->bom_state = 0;
	p->stopped = 0;
}

void sse_parser_free(struct sse_parser *p)
{
	if (!p)
		return;
	buf_free(&p->line);
	buf_free(&p->data);
	buf_free(&p->event);
	buf_free(&p->id);
	free(p);
}

/* Appends each line of s (split on "\n", "\r\n" or "\r") as prefix + line. */
static void sse_write_lines(struct buf *out, const char *prefix, const char *s, size_t len)
{
	const char *end = s + len;
	for (;;) {
		const char *eol = s;
		while (eol < end && *eol != '\n' && *eol != '\r')
			eol++;
		buf_puts(out, prefix);
		buf_append(out, s, (size_t)(eol - s));
		buf_putc(out, '\n');
		if (eol == end)
			return;
		s = eol + 1;
		if (*eol == '\r' && s < end && *s == '\n')
			s++;
	}
}

void sse_write_event(struct buf *out, const char *event, const char *data, size_t len)
{
	if (event) {
		buf_puts(out, "event: ");
		buf_append(out, event, strcspn(event, "\r\n"));
		buf_putc(out, '\n');
	}
	sse_write_lines(out, "data: ", data ? data : "", data ? len : 0);
	buf_putc(out, '\n');
}

void sse_write_comment(struct buf *out, const char *text)
{
	text = text ? text : "";
	sse_write_lines(out, ": ", text, strlen(text));
	buf_putc(out, '\n');
}
