/* sse.h - Server-Sent Events (text/event-stream): an incremental parser that
 * turns arbitrarily split bytes into events, and writers that frame events.
 *
 * The parser follows WHATWG "server-sent events" as the OpenAI SDK decoder
 * does (wire-formats §0.1), with two deliberate deviations: an event is
 * dispatched when it had a data line OR an "event:" field (so an event with
 * no data still arrives, with data ""), and end of input dispatches a pending
 * event that lacked its closing blank line. "id" is reported per event (only
 * for the event that carried it), not as a sticky last-event-ID; "retry" and
 * unknown fields are ignored.
 *
 * Memory: a parser owns a few reused buffers; feeding does not allocate per
 * byte or per event once they have grown, and the work is linear in the bytes
 * fed however they are split. */
#ifndef AROUTER_SSE_H
#define AROUTER_SSE_H

#include <stddef.h>

#include "buf.h"

struct sse_event {
	const char *event; /* the "event:" field, or NULL when absent */
	const char *data;  /* "data:" lines joined with "\n", NUL-terminated
	                    * ("" when the event had no data line) */
	size_t data_len;   /* data may itself contain NUL bytes */
	const char *id;    /* the "id:" field, or NULL */
};

/* Called once per dispatched event. The event and every pointer in it are
 * owned by the parser and valid only during the call. Returning non-zero
 * stops parsing: sse_parser_feed/finish return that value (use positive
 * values to keep them apart from SSE_ERR_TOO_BIG). The callback must not call
 * sse_parser_feed, _finish, _reset or _free on the same parser. */
typedef int (*sse_event_cb)(const struct sse_event *ev, void *arg);

enum { SSE_ERR_TOO_BIG = -2 };

/* Returns a parser owned by the caller; free with sse_parser_free().
 * max_event_bytes caps one event's buffered size (its pending line plus the
 * data, event and id gathered so far); 0 means the default of 16 MiB.
 * Exceeding it makes feed return SSE_ERR_TOO_BIG. arg is passed to cb
 * untouched and not owned. */
struct sse_parser *sse_parser_new(sse_event_cb cb, void *arg, size_t max_event_bytes);

/* Parses len bytes (any split, embedded NULs allowed), dispatching every event
 * completed by them. The bytes are copied as needed; the caller keeps them.
 * Returns 0, the callback's non-zero value, or SSE_ERR_TOO_BIG. After a
 * non-zero return the parser is stopped: the rest of that input is dropped
 * and later feed/finish calls return the same value until sse_parser_reset. */
int sse_parser_feed(struct sse_parser *p, const char *bytes, size_t len);

/* End of input: a pending line and a pending event without a trailing blank
 * line ARE dispatched (a deliberate deviation from WHATWG: some upstreams end
 * without the blank line). Returns as sse_parser_feed; on 0 the parser is left
 * reset, ready for a new stream. */
int sse_parser_finish(struct sse_parser *p);

/* Forgets all partial input and any stopped state, so the parser can read a
 * new stream (a leading BOM is skipped again). Buffers are kept for reuse. */
void sse_parser_reset(struct sse_parser *p);

/* Frees p and its buffers. NULL is allowed. */
void sse_parser_free(struct sse_parser *p);

/* Appends one event to out (which stays owned by the caller): "event: NAME\n"
 * when event is not NULL, then data split into "data: " lines, then a blank
 * line. Data is split on "\n" and also on "\r\n" and a lone "\r", because a
 * raw CR would otherwise end the line early in every reader; parsing the
 * result therefore yields data with "\n" line breaks. len == 0 writes one
 * empty data line. event is cut at its first CR or LF for the same reason. */
void sse_write_event(struct buf *out, const char *event, const char *data, size_t len);

/* Appends ": text\n\n" to out; text with line breaks becomes several comment
 * lines. NULL text writes an empty comment (a keep-alive). */
void sse_write_comment(struct buf *out, const char *text);

#endif
