/* httpd.c - the proxy's HTTP/1.1 server (see httpd.h). */
#include "config.h"

#include "httpd.h"
#include "buf.h"
#include "request.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

/* A request line longer than this is refused even when the head limit is
 * larger; and what a connection being closed may still send is read and
 * dropped for this long, so that the client gets the answer, not a reset. */
#define LINE_MAX_BYTES 65536
#define LINGER_SECONDS 2
#define READ_ROOM 16384
#define OUT_KEEP 16384 /* output capacity kept between answers */

enum timer_mode { T_NONE, T_REQUEST, T_WRITE, T_LINGER };
enum framing { BODY_NONE, BODY_LENGTH, BODY_CHUNKED };
enum chunk_state { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER };

struct hconn;

struct hreq {
	struct httpd *h;
	struct hconn *c; /* NULL once the connection has gone */
	struct hreq *prev, *next; /* the server's live requests */
	enum hmethod method;
	bool http10, keep_alive, dispatched, in_hangup, streaming;
	bool answered; /* and detached; kept only for its watcher */
	int too_large;
	char *head;        /* the head, copied and parsed in place; then the
			    * target again, split into path and query */
	const char *uri, *path, *query;
	struct evkeyvalq in, out;
	struct evkeyval *in_items;
	enum framing framing;
	size_t length;    /* BODY_LENGTH: the declared length */
	const char *body; /* into the connection's buffer, or body_buf's */
	size_t body_len;
	struct buf body_buf; /* a chunked body, de-chunked */
	void (*on_hangup)(void *owner);
	void *owner;
};

struct hconn {
	struct httpd *h;
	struct hconn *prev, *next;
	int fd;
	int peer_port;
	struct event rev, wev, timer, again;
	bool reading, writing;
	enum timer_mode timer_mode;
	char *in;
	size_t in_off, in_len, in_cap; /* unparsed input: in[in_off, in_len) */
	size_t scan;                   /* the head's end was not in in[in_off, in_off + scan) */
	struct buf out;
	size_t out_off;
	struct hreq *req; /* being received or answered */
	size_t consumed;  /* input bytes req's body still holds in place */
	enum chunk_state chunk;
	size_t chunk_left;
	bool counted;     /* a final answer in out, counted in h->sending */
	bool close_after; /* once out is written */
	bool lingering, dead;
	int busy;
	struct hconn *flush_next;
	bool in_flush;
};

struct httpd {
	struct event_base *base;
	struct httpd_options o;
	struct timeval timeout;
	httpd_request_fn on_request;
	void (*on_sent)(void *arg);
	void *arg;
	int lfd;
	struct event accept_ev, accept_pause;
	bool accepting;
	struct hconn *conns;
	struct hreq *reqs;
	int n_conns, sending;
	struct hconn *to_flush;
	struct event flush_ev;
	struct buf scratch;
};

static void conn_close(struct hconn *c);
static void conn_process(struct hconn *c);
static void conn_write(struct hconn *c);

/* ---- requests ---- */

static void req_free(struct hreq *r)
{
	struct httpd *h = r->h;
	if (r->prev)
		r->prev->next = r->next;
	else
		h->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	evhttp_clear_headers(&r->out);
	buf_free(&r->body_buf);
	free(r->in_items);
	free(r->head);
	free(r);
}

static struct hreq *req_new(struct hconn *c)
{
	struct hreq *r = xcalloc(1, sizeof *r);
	r->h = c->h;
	r->c = c;
	TAILQ_INIT(&r->in);
	TAILQ_INIT(&r->out);
	r->next = c->h->reqs;
	if (r->next)
		r->next->prev = r;
	c->h->reqs = r;
	return r;
}

enum hmethod hreq_method(const struct hreq *r)
{
	return r->method;
}

const char *hreq_uri(const struct hreq *r)
{
	return r->uri;
}

const char *hreq_path(const struct hreq *r)
{
	return r->path;
}

const char *hreq_query(const struct hreq *r)
{
	return r->query;
}

struct evkeyvalq *hreq_input_headers(struct hreq *r)
{
	return &r->in;
}

struct evkeyvalq *hreq_output_headers(struct hreq *r)
{
	return &r->out;
}

const char *hreq_body(const struct hreq *r, size_t *len)
{
	*len = r->body_len;
	return r->body ? r->body : "";
}

int hreq_too_large(const struct hreq *r)
{
	return r->too_large;
}

int hreq_peer_port(const struct hreq *r)
{
	return r->c ? r->c->peer_port : -1;
}

void hreq_watch(struct hreq *r, void (*on_hangup)(void *owner), void *owner)
{
	r->on_hangup = on_hangup;
	r->owner = owner;
}

void hreq_unwatch(struct hreq *r)
{
	r->on_hangup = NULL;
	r->owner = NULL;
	if (r->answered && !r->in_hangup)
		req_free(r);
}

/* ---- timers and events ---- */

static void set_timer(struct hconn *c, enum timer_mode m)
{
	if (m == T_NONE) {
		if (c->timer_mode != T_NONE)
			evtimer_del(&c->timer);
	} else {
		struct timeval linger = {LINGER_SECONDS, 0};
		evtimer_add(&c->timer, m == T_LINGER ? &linger : &c->h->timeout);
	}
	c->timer_mode = m;
}

static void set_reading(struct hconn *c, bool on)
{
	if (on == c->reading)
		return;
	c->reading = on;
	if (on)
		event_add(&c->rev, NULL);
	else
		event_del(&c->rev);
}

static void set_writing(struct hconn *c, bool on)
{
	if (on == c->writing)
		return;
	c->writing = on;
	if (on)
		event_add(&c->wev, NULL);
	else
		event_del(&c->wev);
}

static void unbusy(struct hconn *c)
{
	if (--c->busy == 0 && c->dead)
		free(c);
}

static void flush_unlink(struct hconn *c)
{
	if (!c->in_flush)
		return;
	for (struct hconn **p = &c->h->to_flush; *p; p = &(*p)->flush_next)
		if (*p == c) {
			*p = c->flush_next;
			break;
		}
	c->in_flush = false;
	c->flush_next = NULL;
}

static void sent(struct hconn *c)
{
	if (!c->counted)
		return;
	c->counted = false;
	c->h->sending--;
	if (c->h->on_sent)
		c->h->on_sent(c->h->arg);
}

/* ---- answers ---- */

static const char *reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 499: return "Client Closed Request";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	case 529: return "Overloaded";
	default: return status < 200 ? "Informational" : status < 300 ? "OK" : status < 400 ? "Redirection"
		      : status < 500 ? "Client Error" : "Server Error";
	}
}

static void put_status_line(struct buf *b, int status)
{
	if (status < 100 || status > 999)
		status = 500;
	buf_append(b, "HTTP/1.1 ", 9);
	buf_put_ll(b, status);
	buf_putc(b, ' ');
	buf_puts(b, reason(status));
	buf_append(b, "\r\n", 2);
}

/* The status line and headers of r's answer into b. */
static void put_head(struct buf *b, struct hreq *r, int status, bool stream, size_t len)
{
	struct hconn *c = r->c;
	put_status_line(b, status);
	bool said_connection = evhttp_find_header(&r->out, "Connection") != NULL;
	if (request_connection_lists(&r->out, "close"))
		c->close_after = true;
	for (struct evkeyval *h = r->out.tqh_first; h; h = h->next.tqe_next) {
		/* Framing is ours to say. */
		if (strcasecmp(h->key, "Content-Length") == 0 || strcasecmp(h->key, "Transfer-Encoding") == 0)
			continue;
		buf_puts(b, h->key);
		buf_append(b, ": ", 2);
		buf_puts(b, h->value);
		buf_append(b, "\r\n", 2);
	}
	bool no_body = status < 200 || status == 204 || status == 304;
	if (stream) {
		if (r->http10)
			c->close_after = true; /* the end of the body is the end of the connection */
		else if (!no_body)
			buf_puts(b, "Transfer-Encoding: chunked\r\n");
	} else if (!no_body) {
		buf_puts(b, "Content-Length: ");
		buf_put_ll(b, (long long)len);
		buf_append(b, "\r\n", 2);
	}
	if (!r->keep_alive || r->too_large)
		c->close_after = true;
	if (!said_connection) {
		if (c->close_after)
			buf_puts(b, "Connection: close\r\n");
		else if (r->http10)
			buf_puts(b, "Connection: keep-alive\r\n");
	}
	buf_append(b, "\r\n", 2);
}

/* Writes b (from off) now, as far as the socket takes it; keeps the rest
 * in c's output. */
static void write_now(struct hconn *c, const char *data, size_t len)
{
	if (c->out.len > c->out_off) {
		buf_append(&c->out, data, len);
		conn_write(c);
		return;
	}
	size_t off = 0;
	while (off < len) {
		ssize_t n = send(c->fd, data + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		conn_close(c);
		return;
	}
	if (off < len) {
		buf_reset(&c->out);
		c->out_off = 0;
		buf_append(&c->out, data + off, len - off);
	}
	conn_write(c); /* what is left, or the bookkeeping of none left */
}

/* Writes c's output at the end of this turn of the loop, with whatever
 * else is queued for it by then. */
static void flush_soon(struct hconn *c)
{
	if (c->in_flush)
		return;
	if (!c->h->to_flush)
		event_active(&c->h->flush_ev, EV_TIMEOUT, 1);
	c->in_flush = true;
	c->flush_next = c->h->to_flush;
	c->h->to_flush = c;
}

/* The answer has ended: the connection goes on to its next request once
 * the output is written; r is freed, or kept answered until its watcher
 * lets go (hreq_unwatch). */
static void req_end(struct hreq *r)
{
	struct hconn *c = r->c;
	if (c) {
		c->req = NULL;
		c->in_off += c->consumed;
		c->consumed = 0;
		r->c = NULL;
		if (r->body && r->body != r->body_buf.data) {
			r->body = NULL; /* the buffer is the next request's */
			r->body_len = 0;
		}
	}
	if (r->on_hangup)
		r->answered = true;
	else
		req_free(r);
}

/* The connection a call that ends r's answer goes on with; NULL when
 * there is nothing to do: r was answered already, or its client has gone
 * (r is then let go of here). */
static struct hconn *ending(struct hreq *r)
{
	if (r->in_hangup || r->answered)
		return NULL;
	struct hconn *c = r->c;
	if (!c)
		req_end(r);
	return c;
}

/* The last of r's answer is queued (in c's output, or data, len): it is
 * counted until written, and written as far as the socket takes it now. */
static void end_answer(struct hconn *c, struct hreq *r, const char *data, size_t len)
{
	c->busy++;
	c->counted = true;
	c->h->sending++;
	req_end(r);
	if (data)
		write_now(c, data, len);
	else
		conn_write(c);
	unbusy(c);
}

void hreq_send_reply(struct hreq *r, int status, const void *body, size_t len)
{
	if (r->streaming) {
		hreq_send_reply_end(r);
		return;
	}
	struct hconn *c = ending(r);
	if (!c)
		return;
	struct buf *b = &c->h->scratch;
	buf_reset(b);
	put_head(b, r, status, false, len);
	if (len)
		buf_append(b, body, len);
	end_answer(c, r, b->data, b->len);
}

void hreq_send_reply_start(struct hreq *r, int status)
{
	if (r->in_hangup || r->answered || r->streaming)
		return;
	r->streaming = true;
	struct hconn *c = r->c;
	if (!c)
		return;
	put_head(&c->out, r, status, true, 0);
	flush_soon(c);
}

void hreq_send_reply_chunk(struct hreq *r, const void *data, size_t len)
{
	struct hconn *c = r->c;
	if (r->in_hangup || r->answered || !r->streaming || !c || !len)
		return;
	if (!r->http10) {
		char hex[20];
		int n = snprintf(hex, sizeof hex, "%zx\r\n", len);
		buf_append(&c->out, hex, (size_t)n);
	}
	buf_append(&c->out, data, len);
	if (!r->http10)
		buf_append(&c->out, "\r\n", 2);
	flush_soon(c);
}

void hreq_send_reply_end(struct hreq *r)
{
	struct hconn *c = ending(r);
	if (!c)
		return;
	if (!r->streaming)
		hreq_send_reply_start(r, 200);
	if (!r->http10)
		buf_append(&c->out, "0\r\n\r\n", 5);
	flush_unlink(c);
	end_answer(c, r, NULL, 0);
}

void hreq_abort(struct hreq *r)
{
	struct hconn *c = ending(r);
	if (!c)
		return;
	if (!r->on_hangup)
		r->dispatched = false; /* conn_close frees it: nobody will answer it */
	conn_close(c);
}

/* A bare answer of our own (the request could not be handed over), and
 * the connection closed after it. */
static void bare_answer(struct hconn *c, int status)
{
	struct buf *b = &c->h->scratch;
	buf_reset(b);
	put_status_line(b, status);
	const char *text = reason(status);
	buf_puts(b, "Content-Type: text/plain\r\nConnection: close\r\nContent-Length: ");
	buf_put_ll(b, (long long)strlen(text) + 1);
	buf_append(b, "\r\n\r\n", 4);
	buf_puts(b, text);
	buf_putc(b, '\n');
	if (c->req) {
		req_free(c->req);
		c->req = NULL;
	}
	c->close_after = true;
	set_reading(c, false);
	write_now(c, b->data, b->len);
}

/* ---- output ---- */

static void conn_linger(struct hconn *c)
{
	if (shutdown(c->fd, SHUT_WR) < 0) {
		conn_close(c);
		return;
	}
	c->lingering = true;
	c->in_off = c->in_len = 0;
	set_reading(c, true);
	set_timer(c, T_LINGER);
}

static void conn_write(struct hconn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
		if (n > 0) {
			c->out_off += (size_t)n;
			if (c->timer_mode == T_WRITE)
				set_timer(c, T_WRITE); /* progress: the write timeout starts again */
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			set_writing(c, true);
			if (c->timer_mode != T_WRITE)
				set_timer(c, T_WRITE);
			return;
		}
		conn_close(c);
		return;
	}
	/* All written. */
	if (c->out.cap > OUT_KEEP)
		buf_free(&c->out);
	else
		buf_reset(&c->out);
	c->out_off = 0;
	set_writing(c, false);
	sent(c);
	if (c->req) { /* a stream goes on: no timeout while the upstream is quiet */
		if (c->timer_mode == T_WRITE)
			set_timer(c, T_NONE);
		return;
	}
	if (c->close_after) {
		conn_linger(c);
		return;
	}
	/* The next request must arrive whole within the timeout. */
	set_timer(c, T_REQUEST);
	set_reading(c, true);
	if (c->in_len > c->in_off)
		event_active(&c->again, EV_TIMEOUT, 1);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct httpd *h = arg;
	while (h->to_flush) {
		struct hconn *c = h->to_flush;
		h->to_flush = c->flush_next;
		c->flush_next = NULL;
		c->in_flush = false;
		c->busy++;
		conn_write(c);
		unbusy(c);
	}
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct hconn *c = arg;
	c->busy++;
	conn_write(c);
	unbusy(c);
}

/* ---- parsing ---- */

/* RFC 9110 tchar: letters, digits and !#$%&'*+-.^_`|~ (bit c of the
 * 128-bit mask, low word first). */
static bool is_tchar(unsigned char ch)
{
	static const uint64_t mask[2] = {0x03ff6cfa00000000ULL, 0x57ffffffc7fffffeULL};
	return ch < 128 && (mask[ch >> 6] >> (ch & 63)) & 1;
}

static enum hmethod method_of(const char *m, size_t n)
{
	static const struct {
		const char *name;
		enum hmethod m;
	} known[] = {{"GET", HM_GET},     {"POST", HM_POST},   {"PUT", HM_PUT},
		     {"DELETE", HM_DELETE}, {"PATCH", HM_PATCH}, {"OPTIONS", HM_OPTIONS}};
	for (size_t i = 0; i < sizeof known / sizeof *known; i++)
		if (strlen(known[i].name) == n && memcmp(known[i].name, m, n) == 0)
			return known[i].m;
	return 0;
}

/* The end of the head in p[0, n): the offset just past its empty line,
 * or 0; *scanned is where the search resumes (no end starts before it). */
static size_t head_end(const char *p, size_t n, size_t *scanned)
{
	size_t i = *scanned;
	while (i < n) {
		const char *nl = memchr(p + i, '\n', n - i);
		if (!nl)
			break;
		i = (size_t)(nl - p);
		if (i + 1 < n && p[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')
			return i + 3;
		if (i + 2 >= n && (i + 1 >= n || p[i + 1] == '\r')) {
			*scanned = i; /* what follows this line end has not arrived */
			return 0;
		}
		i++;
	}
	*scanned = n;
	return 0;
}

/* Splits the next line off *p (ending at end), without its CR LF; NULL
 * at the end. A CR elsewhere than before the LF, or a NUL, makes the line
 * *bad. */
static char *next_line(char **p, char *end, bool *bad)
{
	char *s = *p;
	if (s >= end)
		return NULL;
	char *nl = memchr(s, '\n', (size_t)(end - s));
	char *e = nl ? nl : end;
	*p = nl ? nl + 1 : end;
	if (e > s && e[-1] == '\r')
		e--;
	*e = '\0';
	if (strlen(s) != (size_t)(e - s) || strchr(s, '\r'))
		*bad = true;
	return s;
}

/* Parses the request line in r->head; 0 or the status to refuse with.
 * pq has room for the target and two more bytes. */
static int parse_request_line(struct hreq *r, char *line, char *pq)
{
	char *sp1 = strchr(line, ' ');
	if (!sp1)
		return 400;
	char *target = sp1 + 1;
	char *sp2 = strchr(target, ' ');
	if (!sp2 || sp2 == target || strchr(sp2 + 1, ' '))
		return 400;
	*sp2 = '\0';
	const char *version = sp2 + 1;
	for (const char *t = line; t < sp1; t++)
		if (!is_tchar((unsigned char)*t))
			return 400;
	if (strncmp(version, "HTTP/", 5) != 0 || version[5] < '0' || version[5] > '9' || version[6] != '.' ||
	    version[7] < '0' || version[7] > '9' || version[8])
		return 400;
	if (version[5] != '1')
		return 505;
	r->http10 = version[7] == '0';
	r->keep_alive = !r->http10;
	for (const unsigned char *t = (const unsigned char *)target; *t; t++)
		if (*t <= ' ' || *t >= 0x7f)
			return 400;
	r->method = method_of(line, (size_t)(sp1 - line));
	r->uri = target;
	/* The path and query: copies after the head, split at '?' and '#'. */
	memcpy(pq, target, strlen(target) + 1);
	char *hash = strchr(pq, '#');
	if (hash)
		*hash = '\0';
	char *q = strchr(pq, '?');
	if (q)
		*q++ = '\0';
	r->path = pq;
	r->query = q;
	/* An absolute-form target names a host the proxy does not serve
	 * for; its path is what the checks see. */
	if (pq[0] != '/' && strncasecmp(pq, "http://", 7) == 0) {
		char *slash = strchr(pq + 7, '/');
		r->path = slash ? slash : "/";
	}
	if (!r->method) {
		static const char *other[] = {"HEAD", "TRACE", "CONNECT"};
		for (size_t i = 0; i < 3; i++)
			if (strlen(other[i]) == (size_t)(sp1 - line) && memcmp(other[i], line, (size_t)(sp1 - line)) == 0)
				return 405;
		return 501;
	}
	return 0;
}

/* Parses r->head[0, len): the request line and the headers. 0 or the
 * status to refuse with. */
static int parse_head(struct hreq *r, size_t len, bool lines_only)
{
	char *p = r->head, *end = r->head + len;
	bool bad = false;
	char *line = next_line(&p, end, &bad);
	if (!line || bad)
		return 400;
	int st = parse_request_line(r, line, r->head + len + 1);
	if (st)
		return st;
	if (lines_only)
		return 0;
	size_t n = 0;
	for (char *s = p; s < end; s++)
		n += *s == '\n';
	r->in_items = n ? xcalloc(n, sizeof *r->in_items) : NULL;
	size_t used = 0;
	while ((line = next_line(&p, end, &bad)) != NULL) {
		if (bad)
			return 400;
		if (!*line)
			break;
		if (*line == ' ' || *line == '\t') /* obsolete line folding */
			return 400;
		char *colon = strchr(line, ':');
		if (!colon || colon == line)
			return 400;
		for (char *t = line; t < colon; t++)
			if (!is_tchar((unsigned char)*t))
				return 400;
		*colon = '\0';
		char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		char *ve = v + strlen(v);
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			*--ve = '\0';
		if (used >= n)
			return 400;
		struct evkeyval *kv = &r->in_items[used++];
		kv->key = line;
		kv->value = v;
		TAILQ_INSERT_TAIL(&r->in, kv, next);
	}
	return 0;
}

/* The body's framing from the headers; 0 or the status to refuse with. */
static int framing_of(struct hreq *r)
{
	const char *te = NULL, *cl = NULL;
	for (struct evkeyval *h = r->in.tqh_first; h; h = h->next.tqe_next) {
		if (strcasecmp(h->key, "Transfer-Encoding") == 0) {
			if (te)
				return 400;
			te = h->value;
		} else if (strcasecmp(h->key, "Content-Length") == 0) {
			if (cl && strcmp(cl, h->value) != 0)
				return 400;
			cl = h->value;
		}
	}
	if (request_connection_lists(&r->in, "close"))
		r->keep_alive = false;
	else if (r->http10 && request_connection_lists(&r->in, "keep-alive"))
		r->keep_alive = true;
	if (te) {
		/* Both framings at once is how requests are smuggled. */
		if (cl || r->http10)
			return 400;
		if (strcasecmp(te, "chunked") != 0)
			return 501;
		r->framing = BODY_CHUNKED;
		return 0;
	}
	if (cl) {
		if (!*cl)
			return 400;
		unsigned long long v = 0;
		for (const char *s = cl; *s; s++) {
			if (*s < '0' || *s > '9' || v > (ULLONG_MAX - 9) / 10)
				return 400;
			v = v * 10 + (unsigned)(*s - '0');
		}
		if (v > SIZE_MAX / 2)
			v = SIZE_MAX / 2;
		r->length = (size_t)v;
		r->framing = v ? BODY_LENGTH : BODY_NONE;
	}
	return 0;
}

/* Makes room for want more input bytes, compacting or growing the
 * buffer; only while no request being answered has its body in it. */
static void make_room(struct hconn *c, size_t want)
{
	if (c->in_off && !c->consumed) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	if (c->in_cap - c->in_len >= want)
		return;
	size_t cap = c->in_cap ? c->in_cap : want;
	while (cap - c->in_len < want)
		cap *= 2;
	c->in = xrealloc(c->in, cap);
	c->in_cap = cap;
}

static void dispatch(struct hconn *c)
{
	struct hreq *r = c->req;
	r->dispatched = true;
	if (c->timer_mode == T_REQUEST)
		set_timer(c, T_NONE);
	if (r->too_large) {
		c->close_after = true;
		set_reading(c, false); /* nothing more is read from it */
	}
	c->h->on_request(r, c->h->arg);
}

/* De-chunks what has arrived of r's body; 1 when it is whole, 0 for more,
 * or the status to refuse with. */
static int dechunk(struct hconn *c, struct hreq *r)
{
	size_t max = c->h->o.max_body_bytes;
	while (c->in_off < c->in_len) {
		char *p = c->in + c->in_off;
		size_t avail = c->in_len - c->in_off;
		if (c->chunk == CH_DATA) {
			size_t n = avail < c->chunk_left ? avail : c->chunk_left;
			if (r->body_buf.len + n > max)
				return 413;
			buf_append(&r->body_buf, p, n);
			c->in_off += n;
			c->chunk_left -= n;
			if (!c->chunk_left)
				c->chunk = CH_DATA_END;
			continue;
		}
		/* A line: a chunk's size, the end of its data, or a trailer. */
		char *nl = memchr(p, '\n', avail);
		if (!nl) /* wait for the rest of the line, kept in the buffer */
			return avail > LINE_MAX_BYTES ? (c->chunk == CH_TRAILER ? 431 : 400) : 0;
		size_t ll = (size_t)(nl - p);
		if (ll > LINE_MAX_BYTES)
			return c->chunk == CH_TRAILER ? 431 : 400;
		c->in_off += ll + 1;
		size_t tl = ll && p[ll - 1] == '\r' ? ll - 1 : ll;
		if (c->chunk == CH_DATA_END) {
			if (tl)
				return 400;
			c->chunk = CH_SIZE;
		} else if (c->chunk == CH_TRAILER) {
			if (!tl)
				return 1;
		} else { /* CH_SIZE */
			size_t v = 0, i = 0;
			for (; i < tl; i++) {
				char ch = p[i];
				int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
					: ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
				if (d < 0)
					break;
				if (v > max)
					return 413;
				v = v * 16 + (size_t)d;
			}
			if (i == 0 || (i < tl && p[i] != ';' && p[i] != ' ' && p[i] != '\t'))
				return 400;
			if (v > max || r->body_buf.len + v > max)
				return 413;
			c->chunk_left = v;
			c->chunk = v ? CH_DATA : CH_TRAILER;
		}
	}
	return 0;
}

/* Hands the request whose head has been read over once its body is
 * here: 1 if it was, 0 to wait for more. */
static int take_body(struct hconn *c)
{
	struct hreq *r = c->req;
	if (r->framing == BODY_LENGTH) {
		if (c->in_len - c->in_off < r->length)
			return 0;
		r->body = c->in + c->in_off;
		r->body_len = r->length;
		c->consumed = r->length;
	} else if (r->framing == BODY_CHUNKED) {
		int st = dechunk(c, r);
		if (st == 0)
			return 0;
		if (st > 1) {
			if (st == 400) {
				bare_answer(c, 400);
				return 1;
			}
			r->too_large = st;
			buf_free(&r->body_buf);
		} else {
			r->body = r->body_buf.data;
			r->body_len = r->body_buf.len;
		}
	}
	dispatch(c);
	return 1;
}

/* Reads the next request's head from the buffer; 1 if a request was
 * handed over or refused, 0 to wait for more. */
static int take_head(struct hconn *c)
{
	struct httpd *h = c->h;
	/* Empty lines before a request line are allowed (RFC 9112 2.2). */
	while (c->in_off < c->in_len && (c->in[c->in_off] == '\r' || c->in[c->in_off] == '\n'))
		c->in_off++;
	const char *p = c->in + c->in_off;
	size_t avail = c->in_len - c->in_off;
	size_t len = head_end(p, avail, &c->scan);
	size_t limit = h->o.max_header_bytes;
	if (!len) {
		if (avail <= limit)
			return 0;
		/* Over the limit: handed over as such if its request line is
		 * here, so that the answer is in the client's dialect. */
		const char *nl = memchr(p, '\n', avail < LINE_MAX_BYTES ? avail : LINE_MAX_BYTES);
		if (!nl) {
			bare_answer(c, 431);
			return 1;
		}
		struct hreq *r = req_new(c);
		c->req = r;
		r->head = xmalloc(2 * ((size_t)(nl - p) + 1) + 3);
		memcpy(r->head, p, (size_t)(nl - p) + 1);
		r->head[nl - p + 1] = '\0';
		int st = parse_head(r, (size_t)(nl - p) + 1, true);
		if (st) {
			bare_answer(c, st == 400 ? 431 : st);
			return 1;
		}
		r->too_large = 431;
		c->scan = 0;
		dispatch(c);
		return 1;
	}
	c->scan = 0;
	struct hreq *r = req_new(c);
	c->req = r;
	r->head = xmalloc(2 * len + 3);
	memcpy(r->head, p, len);
	r->head[len] = '\0';
	c->in_off += len;
	int st = parse_head(r, len, false);
	if (!st)
		st = framing_of(r);
	if (st) {
		bare_answer(c, st);
		return 1;
	}
	if (r->framing == BODY_LENGTH && r->length > h->o.max_body_bytes) {
		r->too_large = 413;
		dispatch(c);
		return 1;
	}
	c->chunk = CH_SIZE;
	c->chunk_left = 0;
	if (r->framing != BODY_NONE && !r->http10) {
		const char *expect = evhttp_find_header(&r->in, "Expect");
		bool whole = r->framing == BODY_LENGTH && c->in_len - c->in_off >= r->length;
		if (expect && strcasecmp(expect, "100-continue") == 0 && !whole) {
			static const char go[] = "HTTP/1.1 100 Continue\r\n\r\n";
			if (send(c->fd, go, sizeof go - 1, MSG_NOSIGNAL) < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
				conn_close(c);
				return 1;
			}
		}
	}
	take_body(c);
	return 1;
}

/* Takes in what has arrived: requests handed over while none is being
 * answered and no answer waits to be written. */
static void conn_process(struct hconn *c)
{
	c->busy++;
	while (!c->dead && !c->lingering && !c->close_after && c->out_off >= c->out.len) {
		if (c->req) {
			if (c->req->dispatched || !take_body(c))
				break;
		} else if (c->in_off >= c->in_len || !take_head(c)) {
			break;
		}
	}
	unbusy(c);
}

static void on_again(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_process(arg);
}

/* Room to ask for before a read: a buffer's worth, or, while a body of
 * a declared length arrives, the rest of it (up to BODY_ROOM_MAX at once),
 * so the buffer grows once, not by doubling with a copy each time. */
#define BODY_ROOM_MAX (4u << 20)
static size_t read_want(const struct hconn *c)
{
	const struct hreq *r = c->req;
	if (!r || r->framing != BODY_LENGTH || r->too_large)
		return READ_ROOM;
	size_t have = c->in_len - c->in_off;
	size_t rest = r->length > have ? r->length - have : 0;
	rest = rest < BODY_ROOM_MAX ? rest : BODY_ROOM_MAX;
	return rest > READ_ROOM ? rest : READ_ROOM;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct hconn *c = arg;
	if (c->lingering) {
		char sink[4096];
		ssize_t n = read(c->fd, sink, sizeof sink);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			conn_close(c);
		return;
	}
	size_t room;
	if (c->req && c->req->dispatched) {
		/* Being answered: the body may lie in the buffer, which must not
		 * move; read what fits (to notice a hang-up), then stop. */
		room = c->in_cap - c->in_len;
		if (!room) {
			set_reading(c, false);
			return;
		}
	} else {
		/* An answer still being written, or the connection closing after
		 * it: a client that sends on without reading is not read from
		 * (up to a buffer's worth, to notice a hang-up) until it has
		 * taken the answer in. */
		if ((c->out_off < c->out.len || c->close_after) && c->in_len - c->in_off >= READ_ROOM) {
			set_reading(c, false);
			return;
		}
		/* Otherwise bounded by the parsing: a head ends within the header
		 * limit, a declared body within the body limit, chunks are taken
		 * out of the buffer as they arrive. */
		make_room(c, read_want(c));
		room = c->in_cap - c->in_len;
	}
	ssize_t n = read(c->fd, c->in + c->in_len, room);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		conn_close(c);
		return;
	}
	if (n == 0) { /* the client hung up (or half-closed: answered as gone) */
		conn_close(c);
		return;
	}
	c->in_len += (size_t)n;
	if (!c->req || !c->req->dispatched)
		conn_process(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct hconn *c = arg;
	enum timer_mode m = c->timer_mode;
	c->timer_mode = T_NONE;
	if (m == T_REQUEST && c->req && c->req->dispatched)
		return;
	conn_close(c);
}

/* ---- connections ---- */

static void conn_close(struct hconn *c)
{
	if (c->dead)
		return;
	struct httpd *h = c->h;
	c->dead = true;
	c->busy++;
	flush_unlink(c);
	event_del(&c->rev);
	event_del(&c->wev);
	event_del(&c->timer);
	event_del(&c->again);
	close(c->fd);
	c->fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->n_conns--;
	struct hreq *r = c->req;
	c->req = NULL;
	if (r) {
		r->c = NULL;
		if (!r->dispatched) {
			req_free(r);
		} else if (r->on_hangup) {
			r->in_hangup = true;
			r->on_hangup(r->owner);
			req_free(r);
		}
		else if (r->body && r->body != r->body_buf.data) {
			/* An orphan, freed when it is answered: its body must
			 * outlive the connection's buffer. */
			buf_reset(&r->body_buf);
			buf_append(&r->body_buf, r->body, r->body_len);
			r->body = r->body_buf.data;
		}
	}
	sent(c);
	free(c->in);
	buf_free(&c->out);
	unbusy(c);
}

static void conn_new(struct httpd *h, int fd, int peer_port)
{
	struct hconn *c = xcalloc(1, sizeof *c);
	c->h = h;
	c->fd = fd;
	c->peer_port = peer_port;
	event_assign(&c->rev, h->base, fd, EV_READ | EV_PERSIST, on_readable, c);
	event_assign(&c->wev, h->base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
	evtimer_assign(&c->timer, h->base, on_timer, c);
	event_assign(&c->again, h->base, -1, 0, on_again, c);
	c->next = h->conns;
	if (c->next)
		c->next->prev = c;
	h->conns = c;
	h->n_conns++;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	set_reading(c, true);
	set_timer(c, T_REQUEST);
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct httpd *h = arg;
	if (h->accepting)
		event_add(&h->accept_ev, NULL);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	(void)what;
	struct httpd *h = arg;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage sa;
		socklen_t sl = sizeof sa;
		int fd = accept4(lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* Out of descriptors: try again in a while, not in a spin. */
				struct timeval pause = {0, 100000};
				event_del(&h->accept_ev);
				evtimer_add(&h->accept_pause, &pause);
			}
			return;
		}
		int port = -1;
		if (sa.ss_family == AF_INET)
			port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
		else if (sa.ss_family == AF_INET6)
			port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
		conn_new(h, fd, port);
	}
}

struct httpd *httpd_new(struct event_base *base, const struct httpd_options *o, httpd_request_fn on_request,
			void (*on_sent)(void *arg), void *arg)
{
	struct httpd *h = xcalloc(1, sizeof *h);
	h->base = base;
	h->o = *o;
	h->timeout.tv_sec = o->timeout_s > 0 ? o->timeout_s : 60;
	h->on_request = on_request;
	h->on_sent = on_sent;
	h->arg = arg;
	h->lfd = -1;
	event_assign(&h->flush_ev, base, -1, 0, on_flush, h);
	evtimer_assign(&h->accept_pause, base, on_accept_resume, h);
	return h;
}

int httpd_listen(struct httpd *h, int fd)
{
	if (h->lfd >= 0) {
		errno = EBUSY;
		return -1;
	}
	h->lfd = fd;
	event_assign(&h->accept_ev, h->base, fd, EV_READ | EV_PERSIST, on_accept, h);
	if (event_add(&h->accept_ev, NULL) < 0) {
		h->lfd = -1;
		return -1;
	}
	h->accepting = true;
	return 0;
}

void httpd_stop_listening(struct httpd *h)
{
	if (h->lfd < 0)
		return;
	event_del(&h->accept_ev);
	evtimer_del(&h->accept_pause);
	h->accepting = false;
	close(h->lfd);
	h->lfd = -1;
}

void httpd_free(struct httpd *h)
{
	if (!h)
		return;
	httpd_stop_listening(h);
	while (h->conns)
		conn_close(h->conns);
	while (h->reqs)
		req_free(h->reqs);
	event_del(&h->flush_ev);
	buf_free(&h->scratch);
	free(h);
}

int httpd_adopt(struct httpd *h, int fd, int peer_port)
{
	if (evutil_make_socket_nonblocking(fd) < 0)
		return -1;
	conn_new(h, fd, peer_port);
	return 0;
}

int httpd_sending(const struct httpd *h)
{
	return h ? h->sending : 0;
}

int httpd_connections(const struct httpd *h)
{
	return h ? h->n_conns : 0;
}
