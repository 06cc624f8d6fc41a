/* test-http1.c - the proxy's upstream HTTP (http-client.h's http_call_*)
 * against a scripted raw TCP server on 127.0.0.1. Every case runs on both
 * engines, the built-in HTTP/1.1 client (http1.c) and libcurl, and both
 * must show the same outcome, status, body, content type, error body and
 * Retry-After: a differential test. A case that only the built-in client
 * can pass, or that only concerns it, says so.
 *
 * The server runs in a thread, one script per case: accept, read a request
 * (recorded whole, for checks on what was sent), write canned bytes in
 * pieces with pauses, close or hold the connection, and hand-shake with
 * the test through pipes where an order matters. Nothing hangs: the loop
 * runs under a safety timer that fails the case when it fires, and every
 * server step gives up after SRV_WAIT_MS. */
#include "config.h"

#include "buf.h"
#include "http-client.h"
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define SRV_WAIT_MS 5000  /* a server step that waits longer has failed */
#define LOOP_WAIT_MS 5000 /* the loop's safety net: hitting it fails the case */
#define SRV_MAX_REQ 16

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static bool wait_fd(int fd, int ms)
{
	struct pollfd p = {fd, POLLIN, 0};
	int r;
	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	return r > 0;
}

/* ---- the scripted server ---- */

enum op {
	OP_END,
	OP_ACCEPT,     /* the next connection (closing the current one) */
	OP_READ,       /* one whole request, recorded */
	OP_READ_HEAD,  /* a request's head only, recorded; its body is left unread */
	OP_READ_AFTER, /* the rest of that body, dropped, then one whole request, here or on
			* the next connection if the client closes this one first */
	OP_WRITE,      /* data, in pieces of .piece bytes .ms apart when .piece */
	OP_PAUSE,      /* .ms */
	OP_CLOSE,      /* close the connection now */
	OP_WAIT_CLOSE, /* hold the connection until the client closes it */
	OP_TELL,       /* one byte to the test: "done so far" */
	OP_AWAIT,      /* until the test says go */
};

struct step {
	enum op op;
	const char *data;
	size_t len; /* 0: strlen(data) */
	size_t piece;
	int ms;
};

#define S_ACCEPT {.op = OP_ACCEPT}
#define S_READ {.op = OP_READ}
#define S_READ_HEAD {.op = OP_READ_HEAD}
#define S_READ_AFTER {.op = OP_READ_AFTER}
#define S_SEND(s) {.op = OP_WRITE, .data = (s)}
#define S_SENDN(p, n) {.op = OP_WRITE, .data = (p), .len = (n)}
#define S_DRIP(s, n, t) {.op = OP_WRITE, .data = (s), .piece = (n), .ms = (t)}
#define S_PAUSE(t) {.op = OP_PAUSE, .ms = (t)}
#define S_CLOSE {.op = OP_CLOSE}
#define S_WAIT_CLOSE {.op = OP_WAIT_CLOSE}
#define S_TELL {.op = OP_TELL}
#define S_AWAIT {.op = OP_AWAIT}
#define S_END {.op = OP_END}

struct srv {
	int lfd;
	int port;
	const struct step *steps;
	pthread_t th;
	int to_test[2], to_srv[2]; /* pipes */
	/* Written by the server thread; read by the test after srv_stop. */
	int accepted;
	struct buf req[SRV_MAX_REQ];
	int n_req;
	char failure[160];
};

struct sconn {
	struct srv *s;
	int fd;
	struct buf in;
	size_t body_left; /* of the request read by OP_READ_HEAD */
};

static void conn_drop(struct sconn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	buf_free(&c->in);
}

/* More bytes into c->in: the count, 0 at end of file, -1 on timeout. */
static ssize_t srv_fill(struct sconn *c)
{
	if (!wait_fd(c->fd, SRV_WAIT_MS))
		return -1;
	char tmp[16384];
	ssize_t n;
	do
		n = read(c->fd, tmp, sizeof tmp);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return 0; /* reset: as good as closed */
	buf_append(&c->in, tmp, (size_t)n);
	return n;
}

static size_t request_content_length(const char *head, size_t len)
{
	for (const char *p = head; p < head + len;) {
		const char *eol = memchr(p, '\n', (size_t)(head + len - p));
		if (!eol)
			break;
		if (strncasecmp(p, "content-length:", 15) == 0)
			return (size_t)strtoul(p + 15, NULL, 10);
		p = eol + 1;
	}
	return 0;
}

/* One request into the record; with head_only, its head alone (the body's
 * bytes stay unread). */
static bool srv_read_request(struct sconn *c, bool head_only)
{
	for (;;) {
		const char *end = c->in.len ? memmem(c->in.data, c->in.len, "\r\n\r\n", 4) : NULL;
		if (end) {
			size_t head = (size_t)(end + 4 - c->in.data);
			size_t body = request_content_length(c->in.data, head);
			size_t want = head + (head_only ? 0 : body);
			c->body_left = head_only ? body : 0;
			if (c->in.len >= want) {
				struct srv *s = c->s;
				if (s->n_req < SRV_MAX_REQ)
					buf_append(&s->req[s->n_req++], c->in.data, want);
				buf_consume(&c->in, want);
				return true;
			}
		}
		if (srv_fill(c) <= 0)
			return false;
	}
}

/* OP_READ_AFTER: drops the unread body, then reads the next request. A
 * client may send the rest of the body and go on on this connection, or
 * close it (then the request comes on a new one); it may not send the
 * next request before the body is through. */
static bool srv_read_after(struct sconn *c, const char **fail)
{
	while (c->body_left > 0) {
		if (c->in.len == 0 && srv_fill(c) <= 0)
			break; /* closed (or reset) before the body was through */
		size_t n = c->in.len < c->body_left ? c->in.len : c->body_left;
		buf_consume(&c->in, n);
		c->body_left -= n;
	}
	if (c->body_left == 0 && (c->in.len > 0 || srv_fill(c) > 0))
		return srv_read_request(c, false);
	conn_drop(c);
	c->body_left = 0;
	struct srv *s = c->s;
	if (!wait_fd(s->lfd, SRV_WAIT_MS) || (c->fd = accept(s->lfd, NULL, NULL)) < 0) {
		*fail = "no next request: the connection closed and no other came";
		return false;
	}
	s->accepted++;
	return srv_read_request(c, false);
}

/* Write failures are not the script's: the client may have gone on purpose. */
static void srv_write(struct sconn *c, const char *p, size_t len, size_t piece, int ms)
{
	while (len > 0) {
		size_t n = piece && piece < len ? piece : len;
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		len -= (size_t)w;
		if (piece && len && ms)
			pause_ms(ms);
	}
}

/* Until the client closes: any byte it sends meanwhile is dropped. */
static bool srv_wait_close(struct sconn *c)
{
	for (;;) {
		ssize_t n = srv_fill(c);
		if (n < 0)
			return false;
		if (n == 0)
			return true;
	}
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	struct sconn c = {s, -1, BUF_INIT, 0};
	int i = 0;
	for (const struct step *st = s->steps; st->op != OP_END; st++, i++) {
		const char *fail = NULL;
		char b = 'x';
		switch (st->op) {
		case OP_ACCEPT:
			conn_drop(&c);
			if (!wait_fd(s->lfd, SRV_WAIT_MS) || (c.fd = accept(s->lfd, NULL, NULL)) < 0) {
				fail = "no connection came";
			} else {
				int one = 1;
				setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
				s->accepted++;
			}
			break;
		case OP_READ:
			if (!srv_read_request(&c, false))
				fail = "no whole request came";
			break;
		case OP_READ_HEAD:
			if (!srv_read_request(&c, true))
				fail = "no request head came";
			break;
		case OP_READ_AFTER:
			if (!srv_read_after(&c, &fail) && !fail)
				fail = "no whole request came after the body";
			break;
		case OP_WRITE:
			srv_write(&c, st->data, st->len ? st->len : strlen(st->data), st->piece, st->ms);
			break;
		case OP_PAUSE:
			pause_ms(st->ms);
			break;
		case OP_CLOSE:
			conn_drop(&c);
			break;
		case OP_WAIT_CLOSE:
			if (!srv_wait_close(&c))
				fail = "the client never closed the connection";
			break;
		case OP_TELL:
			if (write(s->to_test[1], &b, 1) != 1)
				fail = "cannot tell the test";
			break;
		case OP_AWAIT:
			if (!wait_fd(s->to_srv[0], SRV_WAIT_MS) || read(s->to_srv[0], &b, 1) != 1)
				fail = "the test never said go";
			break;
		case OP_END:
			break;
		}
		if (fail) {
			snprintf(s->failure, sizeof s->failure, "step %d: %s", i, fail);
			break;
		}
	}
	conn_drop(&c);
	return NULL;
}

/* A server on the loopback of family with its script running, or NULL
 * when that loopback is unavailable. */
static struct srv *srv_start_on(int family, const struct step *steps)
{
	struct srv *s = calloc(1, sizeof *s);
	if (!s)
		abort();
	s->steps = steps;
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	socklen_t len;
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		len = sizeof *a;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof *a;
	}
	s->lfd = socket(family, SOCK_STREAM, 0);
	int one = 1;
	if (s->lfd >= 0 && family == AF_INET6)
		setsockopt(s->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&ss, len) != 0 || listen(s->lfd, 16) != 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&ss, &len) != 0) {
		if (s->lfd >= 0)
			close(s->lfd);
		free(s);
		return NULL;
	}
	s->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					   : ((struct sockaddr_in *)&ss)->sin_port);
	if (pipe(s->to_test) != 0 || pipe(s->to_srv) != 0 || pthread_create(&s->th, NULL, srv_main, s) != 0)
		abort();
	return s;
}

static struct srv *srv_start(const struct step *steps)
{
	struct srv *s = srv_start_on(AF_INET, steps);
	if (!s)
		abort();
	return s;
}

/* Waits for the script to end (bounded: each step is) and reports it. */
static void srv_stop(struct srv *s, const char *e, const char *name)
{
	pthread_join(s->th, NULL);
	ok(!s->failure[0], "%s %s: the server's script ran through%s%s", e, name, s->failure[0] ? ": " : "",
	   s->failure);
	close(s->lfd);
	close(s->to_test[0]);
	close(s->to_test[1]);
	close(s->to_srv[0]);
	close(s->to_srv[1]);
}

static void srv_free(struct srv *s)
{
	for (int i = 0; i < s->n_req; i++)
		buf_free(&s->req[i]);
	free(s);
}

static void srv_go(struct srv *s)
{
	if (write(s->to_srv[1], "g", 1) != 1)
		abort();
}

/* Whether the server said it is done so far, within ms. */
static bool srv_told(struct srv *s, int ms)
{
	char b;
	return wait_fd(s->to_test[0], ms) && read(s->to_test[0], &b, 1) == 1;
}

/* ---- a recorded request ---- */

/* How many headers called name the request has; the first one's value
 * goes to val. */
static int req_header(const struct buf *req, const char *name, char *val, size_t vsize)
{
	int n = 0;
	size_t nlen = strlen(name);
	if (vsize)
		val[0] = '\0';
	const char *p = memchr(buf_str(req), '\n', req->len);
	for (p = p ? p + 1 : NULL; p && *p && strncmp(p, "\r\n", 2) != 0;) {
		const char *eol = strstr(p, "\r\n");
		if (!eol)
			break;
		if ((size_t)(eol - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			if (n++ == 0 && vsize) {
				const char *v = p + nlen + 1;
				while (*v == ' ')
					v++;
				snprintf(val, vsize, "%.*s", (int)(eol - v), v);
			}
		}
		p = eol + 2;
	}
	return n;
}

static const char *req_body(const struct buf *req)
{
	const char *end = strstr(buf_str(req), "\r\n\r\n");
	return end ? end + 4 : "";
}

static bool req_line_is(const struct buf *req, const char *line)
{
	size_t n = strlen(line);
	return req->len > n + 2 && memcmp(req->data, line, n) == 0 && memcmp(req->data + n, "\r\n", 2) == 0;
}

/* ---- the client side ---- */

enum cb_mode {
	CB_COLLECT,  /* keep everything */
	CB_ABORT,    /* non-zero at the first bytes */
	CB_COMPLETE, /* HTTP_BODY_COMPLETE once the body holds .marker */
	CB_CANCEL,   /* http_call_cancel from inside, then return .cancel_rc */
};

struct ctx {
	struct event_base *base;
	struct http_loop *loop;
	bool builtin;
	const char *e; /* which engine, for the test names */
	int pending;
	bool timed_out;
};

struct result {
	struct ctx *ctx;
	struct http_call *call;
	enum cb_mode mode;
	const char *marker;
	int cancel_rc;
	bool starting, done, done_early, done_twice, cancelled;
	enum http_outcome outcome;
	long status;
	char *content_type;
	long retry_after_s;
	struct buf error_body;
	bool body_started;
	char *error;
	struct buf limits; /* "name: value\n" each */
	struct buf body;
	int cb_calls;
	long long t_start, t_done;
};

static void ctx_init(struct ctx *x, bool builtin)
{
	memset(x, 0, sizeof *x);
	x->base = event_base_new();
	x->loop = http_loop_new(x->base);
	if (!x->base || !x->loop)
		abort();
	x->builtin = builtin;
	x->e = builtin ? "[h1]" : "[curl]";
	if (!builtin)
		http_loop_use_builtin(x->loop, false);
}

/* Frees the loop, which closes its pooled connections: do it before
 * srv_stop, whose scripts may wait for the client to close. */
static void ctx_free(struct ctx *x)
{
	http_loop_free(x->loop);
	event_base_free(x->base);
}

static void result_init(struct result *r, enum cb_mode mode)
{
	memset(r, 0, sizeof *r);
	r->mode = mode;
	r->marker = "[DONE]"; /* where CB_COMPLETE stops: the end of an SSE stream */
	r->retry_after_s = -2;
}

static void result_free(struct result *r)
{
	free(r->content_type);
	free(r->error);
	buf_free(&r->error_body);
	buf_free(&r->limits);
	buf_free(&r->body);
}

static void one_less(struct ctx *x)
{
	if (--x->pending == 0)
		event_base_loopbreak(x->base);
}

static int on_body(const char *data, size_t len, void *arg)
{
	struct result *r = arg;
	r->cb_calls++;
	buf_append(&r->body, data, len);
	switch (r->mode) {
	case CB_ABORT:
		return 1;
	case CB_COMPLETE:
		return strstr(buf_str(&r->body), r->marker) ? HTTP_BODY_COMPLETE : 0;
	case CB_CANCEL:
		http_call_cancel(r->call);
		r->call = NULL;
		r->cancelled = true;
		one_less(r->ctx);
		return r->cancel_rc;
	case CB_COLLECT:
		break;
	}
	return 0;
}

static void on_done(struct http_call *call, enum http_outcome outcome, const struct http_response *resp, void *arg)
{
	struct result *r = arg;
	if (r->done)
		r->done_twice = true;
	r->done = true;
	r->done_early = r->starting;
	r->t_done = now_ms();
	r->outcome = outcome;
	r->status = resp->status;
	free(r->content_type);
	r->content_type = resp->content_type ? strdup(resp->content_type) : NULL;
	r->retry_after_s = resp->retry_after_s;
	buf_reset(&r->error_body);
	buf_append(&r->error_body, resp->error_body.data ? resp->error_body.data : "", resp->error_body.len);
	r->body_started = resp->body_started;
	free(r->error);
	r->error = resp->error ? strdup(resp->error) : NULL;
	buf_reset(&r->limits);
	for (size_t i = 0; i < resp->n_limits; i++)
		buf_printf(&r->limits, "%s: %s\n", resp->limits[i].name, resp->limits[i].value);
	r->call = NULL;
	one_less(r->ctx);
}

static void start(struct ctx *x, struct result *r, const struct http_request *req)
{
	r->ctx = x;
	r->t_start = now_ms();
	x->pending++;
	r->starting = true;
	struct http_call *call = http_call_start(x->loop, req, on_body, on_done, r);
	r->starting = false;
	if (!r->done)
		r->call = call;
}

static void on_safety(evutil_socket_t fd, short what, void *arg)
{
	struct ctx *x = arg;
	x->timed_out = true;
	event_base_loopbreak(x->base);
}

static void on_told(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* Runs the loop until every started call has ended (or, with told_fd, until
 * that fd is readable), at most LOOP_WAIT_MS. Returns false when the
 * safety net fired. */
static bool run_until(struct ctx *x, int told_fd)
{
	if (told_fd < 0 && x->pending == 0)
		return true;
	struct event *safety = evtimer_new(x->base, on_safety, x);
	struct event *told = told_fd >= 0 ? event_new(x->base, told_fd, EV_READ, on_told, x->base) : NULL;
	struct timeval tv = {LOOP_WAIT_MS / 1000, (LOOP_WAIT_MS % 1000) * 1000};
	x->timed_out = false;
	evtimer_add(safety, &tv);
	if (told)
		event_add(told, NULL);
	/* One pass at a time, checking the condition between them: a loop
	 * break asked for outside the loop (a call ending between runs) must
	 * not end this run early, nor a spurious wake-up. */
	while (!x->timed_out && (told_fd >= 0 ? !wait_fd(told_fd, 0) : x->pending > 0))
		event_base_loop(x->base, EVLOOP_ONCE);
	event_free(safety);
	if (told)
		event_free(told);
	return !x->timed_out;
}

static bool run(struct ctx *x)
{
	return run_until(x, -1);
}

/* Runs the loop for ms, for checks that something does not happen. */
static void run_for(struct ctx *x, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_base_loopexit(x->base, &tv);
	event_base_dispatch(x->base);
}

static bool contains(const char *s, const char *part)
{
	return s && strstr(s, part);
}

/* The checks every call that ended gets. */
static void check_end(const struct ctx *x, const char *name, const struct result *r)
{
	ok(r->done && !r->done_twice, "%s %s: done called once", x->e, name);
	ok(!r->done_early, "%s %s: done not called inside http_call_start", x->e, name);
}

/* A whole 2xx answer. */
static void check_ok(const struct ctx *x, const char *name, const struct result *r, long status, const char *ctype,
		     const char *body, size_t body_len)
{
	check_end(x, name, r);
	is_int(r->outcome, XFER_OK, "%s %s: XFER_OK", x->e, name);
	if (r->outcome != XFER_OK && r->error)
		printf("#   error: %s\n", r->error);
	is_int(r->status, status, "%s %s: status %ld", x->e, name, status);
	is_str(r->content_type, ctype, "%s %s: content type", x->e, name);
	ok(r->body.len == body_len && memcmp(buf_str(&r->body), body, body_len) == 0,
	   "%s %s: the body reached the callback exactly (%zu bytes of %zu)", x->e, name, r->body.len, body_len);
	is_int(r->error_body.len, 0, "%s %s: no error body", x->e, name);
	is_int(r->retry_after_s, -1, "%s %s: no Retry-After", x->e, name);
	is_int(r->body_started, body_len > 0, "%s %s: body_started", x->e, name);
	ok(r->error == NULL, "%s %s: no error message", x->e, name);
}

/* A call that timed out: after at least min_ms from its start and before
 * max_ms (when says so in the test's name). */
static void check_timeout(const struct ctx *x, const char *name, const struct result *r, long long min_ms,
			  long long max_ms, const char *when)
{
	check_end(x, name, r);
	is_int(r->outcome, XFER_TIMEOUT, "%s %s: XFER_TIMEOUT", x->e, name);
	long long took = r->t_done - r->t_start;
	ok(r->done && took >= min_ms && took < max_ms, "%s %s: %s (%lld ms)", x->e, name, when, took);
}

static char url_buf[8][128];
static int url_next;

/* A URL on the server's port (a few live at once; plenty for a case). */
static const char *url(const struct srv *s, const char *path)
{
	char *u = url_buf[url_next++ % 8];
	snprintf(u, sizeof url_buf[0], "http://127.0.0.1:%d%s", s->port, path);
	return u;
}

static struct http_request get(const char *u)
{
	struct http_request req = {.method = "GET", .url = u, .idle_timeout_ms = 4000};
	return req;
}

/* ---- a case: one script, one engine, a few calls in turn ---- */

#define CASE_MAX_CALLS 4

struct tcase {
	struct srv *s; /* NULL for a case without a server */
	struct ctx x;
	const char *name; /* for the server's own check */
	struct result r[CASE_MAX_CALLS];
};

/* Starts the server on steps (none when steps is NULL) and a loop of the
 * engine; every result collects until the case says otherwise. */
static void case_start(struct tcase *c, bool builtin, const struct step *steps, const char *name)
{
	c->s = steps ? srv_start(steps) : NULL;
	ctx_init(&c->x, builtin);
	c->name = name;
	for (int i = 0; i < CASE_MAX_CALLS; i++)
		result_init(&c->r[i], CB_COLLECT);
}

/* Starts req as call i and runs the loop until it ends, checked as
 * "<engine> <fmt...>". Calls go one at a time: while an earlier one has
 * not ended (its run has already failed), the next is not started, so a
 * failing case does not pile calls onto a script that expects them in
 * turn. */
static bool case_call(struct tcase *c, int i, const struct http_request *req, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static bool case_call(struct tcase *c, int i, const struct http_request *req, const char *fmt, ...)
{
	char what[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (c->x.pending == 0)
		start(&c->x, &c->r[i], req);
	return ok(run(&c->x), "%s %s", c->x.e, what);
}

/* A new loop, so that the next call opens a new connection. */
static void case_new_loop(struct tcase *c)
{
	bool builtin = c->x.builtin;
	ctx_free(&c->x);
	ctx_init(&c->x, builtin);
}

/* Frees the loop, then waits for the server's script (in that order: see
 * ctx_free). What the calls and the server recorded stays for the checks;
 * c->x.e still names the engine. */
static void case_stop(struct tcase *c)
{
	ctx_free(&c->x);
	if (c->s)
		srv_stop(c->s, c->x.e, c->name);
}

static void case_free(struct tcase *c)
{
	for (int i = 0; i < CASE_MAX_CALLS; i++)
		result_free(&c->r[i]);
	if (c->s)
		srv_free(c->s);
}

/* The commonest case, whole but for its checks: one request against one
 * script, collected as mode, checked as "<engine> <name>: ends in time".
 * req.url is a path on the server's port. Returns the call's result; the
 * case is stopped, and case_free ends it after the checks. */
static struct result *one_call(struct tcase *c, bool builtin, const struct step *steps, const char *name,
			       enum cb_mode mode, struct http_request req)
{
	case_start(c, builtin, steps, name);
	c->r[0].mode = mode;
	req.url = url(c->s, req.url);
	case_call(c, 0, &req, "%s: ends in time", name);
	case_stop(c);
	return &c->r[0];
}

/* ---- 1. a Content-Length body ---- */

static void test_content_length(bool builtin)
{
	static const struct step steps[] = {
		S_ACCEPT,
		S_READ,
		S_SEND("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nCONTENT-LENGTH: 17\r\n"
		       "X-Other: x\r\n\r\n{\"hel"),
		S_PAUSE(20),
		S_SEND("lo\":\"world\"}"),
		S_WAIT_CLOSE,
		S_END,
	};
	struct tcase c;
	struct result *r = one_call(&c, builtin, steps, "content-length", CB_COLLECT, get("/v1/models"));
	check_ok(&c.x, "content-length", r, 200, "application/json", "{\"hello\":\"world\"}", 17);
	is_int(c.s->accepted, 1, "%s content-length: one connection", c.x.e);
	case_free(&c);
}

/* ---- 2. chunks, with extensions and trailers, split across writes ---- */

#define CHUNKED_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
#define CHUNKED_BODY                                                                                                   \
	"5;ext=1\r\nhello\r\n"                                                                                         \
	"7 ; name=\"v\"\r\n, world\r\n"                                                                                \
	"1a\r\nabcdefghijklmnopqrstuvwxyz\r\n"                                                                         \
	"0\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n"
#define CHUNKED_TEXT "hello, worldabcdefghijklmnopqrstuvwxyz"

static void test_chunked(bool builtin, size_t piece, const char *name)
{
	/* Then a second request on the same connection: the trailers were
	 * read to their end. */
	const struct step steps[] = {
		S_ACCEPT,
		S_READ,
		S_DRIP(CHUNKED_HEAD CHUNKED_BODY, piece, 1),
		S_READ,
		S_SEND("HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Type: text/plain\r\n\r\nnext"),
		S_WAIT_CLOSE,
		S_END,
	};
	struct tcase c;
	case_start(&c, builtin, steps, name);
	struct http_request req = get(url(c.s, "/stream"));
	case_call(&c, 0, &req, "%s: ends in time", name);
	case_call(&c, 1, &req, "%s: the next request ends in time", name);
	case_stop(&c);
	check_ok(&c.x, name, &c.r[0], 200, "text/event-stream", CHUNKED_TEXT, strlen(CHUNKED_TEXT));
	check_ok(&c.x, name, &c.r[1], 200, "text/plain", "next", 4);
	is_int(c.s->accepted, 1, "%s %s: the connection was used again", c.x.e, name);
	case_free(&c);
}

/* ---- 3. a body that ends with the connection ---- */

static void test_until_close(bool builtin)
{
	static const struct step steps[] = {
		S_ACCEPT,
		S_READ,
		S_SEND("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst part, "),
		S_PAUSE(20),
		S_SEND("second part"),
		S_CLOSE,
		S_ACCEPT,
		S_READ,
		S_SEND("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nan HTTP/1.0 answer"),
		S_CLOSE,
		S_END,
	};
	struct tcase c;
	case_start(&c, builtin, steps, "until-close");
	struct http_request req = get(url(c.s, "/"));
	case_call(&c, 0, &req, "until-close: ends in time");
	case_call(&c, 1, &req, "until-close: the HTTP/1.0 one ends in time");
	case_stop(&c);
	check_ok(&c.x, "until-close", &c.r[0], 200, "text/plain", "first part, second part", 23);
	check_ok(&c.x, "until-close 1.0", &c.r[1], 200, "text/plain", "an HTTP/1.0 answer", 18);
	case_free(&c);
}

/* ---- 4. 100 Continue, then the answer ---- */

static void test_continue(bool builtin)
{
	static const struct step steps[] = {
		S_ACCEPT,
		S_READ,
		S_SEND("HTTP/1.1 100 Continue\r\n\r\n"),
		S_PAUSE(20),
		S_SEND("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"),
		S_WAIT_CLOSE,
		S_END,
	};
	struct http_request req = {.method = "POST", .url = "/v1/chat", .body = "{\"q\":1}", .body_len = 7};
	struct tcase c;
	struct result *r = one_call(&c, builtin, steps, "100-continue", CB_COLLECT, req);
	check_ok(&c.x, "100-continue", r, 200, "application/json", "{}", 2);
	case_free(&c);
}

/* ---- 5. 204 and HEAD: no body, whatever the headers say ---- */

static void test_no_body(bool builtin)
{
	static const struct step steps[] = {
		S_ACCEPT,
		S_READ,
		S_SEND("HTTP/1.1 204 No Content\r\nContent-Type: text/plain\r\n\r\n"),
		S_READ,
		/* A HEAD answer that names the length a GET would have. */
		S_SEND("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n"),
		S_READ,
		S_SEND("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc"),
		S_WAIT_CLOSE,
		S_END,
	};
	struct tcase c;
	case_start(&c, builtin, steps, "204/HEAD");
	struct http_request req = {.method = "DELETE", .url = url(c.s, "/thing"), .idle_timeout_ms = 2000};
	case_call(&c, 0, &req, "204: ends in time");
	req.method = "HEAD";
	case_call(&c, 1, &req, "HEAD: ends in time");
	req.method = "GET";
	case_call(&c, 2, &req, "GET after HEAD: ends in time");
	case_stop(&c);
	check_ok(&c.x, "204", &c.r[0], 204, "text/plain", "", 0);
	is_int(c.r[0].cb_calls, 0, "%s 204: no body callback", c.x.e);
	check_ok(&c.x, "HEAD", &c.r[1], 200, "text/plain", "", 0);
	is_int(c.r[1].cb_calls, 0, "%s HEAD: no body callback", c.x.e);
	check_ok(&c.x, "GET after HEAD", &c.r[2], 200, "text/plain", "abc", 3);
	is_int(c.s->accepted, 1, "%s 204/HEAD: one connection for all three", c.x.e);
	ok(c.s->n_req == 3 && req_line_is(&c.s->req[1], "HEAD /thing HTTP/1.1"), "%s HEAD: sent as HEAD", c.x.e);
	case_free(&c);
}

/* ---- 6. a non-2xx answer: the error body, Retry-After, rate limits ---- */

#define RL_BODY "{\"error\":{\"message\":\"slow down\",\"type\":\"rate_limit\"}}"

static void test_error_status(bool builtin)
{
	static char big[100 * 1024 + 200];
	size_t n = (size_t)snprintf(big, sizeof big, "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
						     "Content-Length: %d\r\n\r\n", 100 * 1024);
	memset(big + n, 'e', 100 * 1024);
	char rl[512];
	snprintf(rl, sizeof rl,
		 "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 7\r\n"
		 "x-ratelimit-remaining-requests: 0\r\nX-Unrelated: 1\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(RL_BODY), RL_BODY);
	const struct step steps[] = {
		S_ACCEPT,
		S_READ,
		S_SEND(rl),
		S_READ,
		S_SENDN(big, n + 100 * 1024),
		S_WAIT_CLOSE,
		S_END,
	};
	struct tcase c;
	case_start(&c, builtin, steps, "429");
	struct http_request req = get(url(c.s, "/v1/chat"));
	case_call(&c, 0, &req, "429: ends in time");
	case_call(&c, 1, &req, "500: ends in time");
	case_stop(&c);
	const char *e = c.x.e;
	const struct result *r = &c.r[0], *r2 = &c.r[1];
	check_end(&c.x, "429", r);
	is_int(r->outcome, XFER_OK, "%s 429: XFER_OK (a response arrived whole)", e);
	is_int(r->status, 429, "%s 429: status", e);
	is_str(r->content_type, "application/json", "%s 429: content type", e);
	is_str(buf_str(&r->error_body), RL_BODY, "%s 429: error_body holds the body", e);
	is_int(r->retry_after_s, 7, "%s 429: retry_after_s", e);
	is_str(buf_str(&r->limits), "Retry-After: 7\nx-ratelimit-remaining-requests: 0\n",
	       "%s 429: the rate-limit headers", e);
	is_int(r->cb_calls, 0, "%s 429: the body callback was not called", e);
	ok(!r->body_started, "%s 429: body_started false", e);
	check_end(&c.x, "500", r2);
	is_int(r2->outcome, XFER_OK, "%s 500 with 100 KiB: XFER_OK", e);
	is_int(r2->error_body.len, 64 * 1024, "%s 500 with 100 KiB: error_body capped at 64 KiB", e);
	is_int(r2->cb_calls, 0, "%s 500: the body callback was not called", e);
	case_free(&c);
}

/* ---- 7. keep-alive ---- */

#define KA_ANSWER "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
#define CLOSE_ANSWER "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
#define OLD_ANSWER "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"

static void test_keep_alive(bool builtin)
{
	static const struct step ka[] = {
		S_ACCEPT, S_READ, S_SEND(KA_ANSWER), S_READ, S_SEND(KA_ANSWER), S_READ, S_SEND(KA_ANSWER), S_WAIT_CLOSE,
		S_END,
	};
	static const struct step cl[] = {
		S_ACCEPT, S_READ, S_SEND(CLOSE_ANSWER), S_WAIT_CLOSE, S_ACCEPT, S_READ, S_SEND(CLOSE_ANSWER), S_WAIT_CLOSE,
		S_ACCEPT, S_READ, S_SEND(CLOSE_ANSWER), S_WAIT_CLOSE, S_END,
	};
	static const struct step old[] = {
		S_ACCEPT, S_READ, S_SEND(OLD_ANSWER), S_WAIT_CLOSE, S_ACCEPT, S_READ, S_SEND(OLD_ANSWER), S_WAIT_CLOSE,
		S_END,
	};
	/* Kept alive: one connection for all. The server says close (and
	 * waits for the client to): a new connection each time. HTTP/1.0
	 * without keep-alive: the same. */
	static const struct {
		const struct step *steps;
		const char *name;
		int calls, connections;
		const char *why;
	} runs[] = {
		{ka, "keep-alive", 3, 1, "three requests, one connection"},
		{cl, "connection-close", 3, 3, "three requests, three connections"},
		{old, "http/1.0", 2, 2, "two requests, two connections"},
	};
	for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
		struct tcase c;
		case_start(&c, builtin, runs[k].steps, runs[k].name);
		for (int i = 0; i < runs[k].calls; i++) {
			struct http_request req = get(url(c.s, "/again"));
			case_call(&c, i, &req, "%s #%d: ends in time", c.name, i + 1);
			check_ok(&c.x, c.name, &c.r[i], 200, "text/plain", "ok", 2);
		}
		case_stop(&c);
		is_int(c.s->accepted, runs[k].connections, "%s %s: %s", c.x.e, c.name, runs[k].why);
		case_free(&c);
	}
}

/* ---- 8. a pooled connection the server has closed ---- */

static void test_stale(bool builtin)
{
	/* The server closes the idle connection while the loop is not
	 * running, so the client finds out only when it uses it. The retry
	 * is the built-in client's own logic; libcurl checks a connection
	 * before reusing it. Both must succeed. */
	static const struct step idle[] = {
		S_ACCEPT, S_READ, S_SEND(KA_ANSWER), S_AWAIT, S_CLOSE, S_TELL,
		S_ACCEPT, S_READ, S_SEND("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\ntwo"),
		S_WAIT_CLOSE, S_END,
	};
	/* The server reads the next request and closes without an answer
	 * (it timed the connection out just as the request came). */
	static const struct step used[] = {
		S_ACCEPT, S_READ, S_SEND(KA_ANSWER), S_READ, S_CLOSE,
		S_ACCEPT, S_READ, S_SEND("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\ntwo"),
		S_WAIT_CLOSE, S_END,
	};
	for (int v = 0; v < 2; v++) {
		const char *name = v == 0 ? "stale idle" : "closed as used";
		struct tcase c;
		case_start(&c, builtin, v == 0 ? idle : used, name);
		struct srv *s = c.s;
		struct http_request req = {.method = "POST", .url = url(s, "/p"), .body = "b", .body_len = 1,
					   .idle_timeout_ms = 4000};
		case_call(&c, 0, &req, "%s: the first ends in time", name);
		if (v == 0) {
			srv_go(s);
			ok(srv_told(s, SRV_WAIT_MS), "%s %s: the server closed the idle connection", c.x.e, name);
		}
		case_call(&c, 1, &req, "%s: the second ends in time", name);
		case_stop(&c);
		check_ok(&c.x, name, &c.r[0], 200, "text/plain", "ok", 2);
		check_ok(&c.x, name, &c.r[1], 200, "text/plain", "two", 3);
		is_int(s->accepted, 2, "%s %s: on a new connection", c.x.e, name);
		ok(s->n_req >= 2 && strcmp(req_body(&s->req[s->n_req - 1]), "b") == 0,
		   "%s %s: the retried request carried its body", c.x.e, name);
		case_free(&c);
	}
}

/* ---- 9. gzip ---- */

static void gzip_of(struct buf *out, const char *data, size_t len)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	uLong cap = deflateBound(&z, (uLong)len);
	char *p = malloc(cap);
	if (!p)
		abort();
	z.next_in = (Bytef *)data;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)p;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		abort();
	buf_append(out, p, z.total_out);
	deflateEnd(&z);
	free(p);
}

static void test_gzip(bool builtin)
{
	struct buf text = BUF_INIT, gz = BUF_INIT;
	for (int i = 0; i < 2000; i++)
		buf_printf(&text, "line %d: the quick brown fox jumps over the lazy dog\n", i);
	gzip_of(&gz, text.data, text.len);
	/* Three answers: good gzip; the trailer's CRC wrong; a deflate
	 * stream that starts with a reserved block type. */
	struct buf crc = BUF_INIT, junk = BUF_INIT;
	buf_append(&crc, gz.data, gz.len);
	crc.data[crc.len - 8] ^= 0x5a;
	buf_append(&junk, gz.data, 10);
	for (int i = 0; i < 64; i++)
		buf_putc(&junk, (char)0xff);
	struct buf a1 = BUF_INIT, a2 = BUF_INIT, a3 = BUF_INIT;
#define GZ_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n"
	buf_printf(&a1, GZ_HEAD, gz.len);
	buf_append(&a1, gz.data, gz.len);
	buf_printf(&a2, GZ_HEAD, crc.len);
	buf_append(&a2, crc.data, crc.len);
	buf_printf(&a3, GZ_HEAD, junk.len);
	buf_append(&a3, junk.data, junk.len);
	const struct step steps[] = {
		S_ACCEPT, S_READ, {.op = OP_WRITE, .data = a1.data, .len = a1.len, .piece = 700, .ms = 1}, S_WAIT_CLOSE,
		S_ACCEPT, S_READ, S_SENDN(a2.data, a2.len), S_WAIT_CLOSE,
		S_ACCEPT, S_READ, S_SENDN(a3.data, a3.len), S_WAIT_CLOSE,
		S_END,
	};
	struct tcase c;
	case_start(&c, builtin, steps, "gzip");
	/* One connection each: a failed one is closed, and the first is
	 * dropped by the test to keep the three alike. */
	for (int i = 0; i < 3; i++) {
		struct http_request req = get(url(c.s, "/gz"));
		case_call(&c, i, &req, "gzip #%d: ends in time", i + 1);
		if (i == 0)
			case_new_loop(&c);
	}
	case_stop(&c);
	check_ok(&c.x, "gzip", &c.r[0], 200, "text/plain", text.data, text.len);
	for (int i = 1; i < 3; i++) {
		const char *name = i == 1 ? "gzip with a bad CRC" : "gzip with a corrupt stream";
		const struct result *r = &c.r[i];
		check_end(&c.x, name, r);
		ok(r->outcome != XFER_OK, "%s %s: not XFER_OK (%d: %s)", c.x.e, name, r->outcome,
		   r->error ? r->error : "");
		is_int(r->outcome, XFER_NETWORK, "%s %s: XFER_NETWORK", c.x.e, name);
		ok(r->error != NULL, "%s %s: an error message", c.x.e, name);
	}
	case_free(&c);
	buf_free(&text);
	buf_free(&gz);
	buf_free(&crc);
	buf_free(&junk);
	buf_free(&a1);
	buf_free(&a2);
	buf_free(&a3);
}

/* ---- 10. the server closes too early ---- */

static void test_closed_early(bool builtin)
{
	static const struct step steps[] = {
		S_ACCEPT,
		S_READ,
		S_SEND("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n"
		       "forty bytes of a hundred, then nothing.."),
		S_CLOSE,
		S_ACCEPT,
		S_READ,
		S_SEND(CHUNKED_HEAD "a\r\n0123456789\r\n10\r\nonly half"),
		S_CLOSE,
		S_ACCEPT,
		S_READ,
		S_CLOSE,
		S_END,
	};
	struct tcase c;
	case_start(&c, builtin, steps, "closed early");
	for (int i = 0; i < 3; i++) {
		struct http_request req = get(url(c.s, "/cut"));
		case_call(&c, i, &req, "closed early #%d: ends in time", i + 1);
	}
	case_stop(&c);
	static const char *const names[] = {"closed mid-body", "closed mid-chunk", "closed before an answer"};
	static const char *const bodies[] = {"forty bytes of a hundred, then nothing..", "0123456789only half", ""};
	for (int i = 0; i < 3; i++) {
		const struct result *r = &c.r[i];
		check_end(&c.x, names[i], r);
		is_int(r->outcome, XFER_NETWORK, "%s %s: XFER_NETWORK", c.x.e, names[i]);
		is_int(r->body_started, i < 2, "%s %s: body_started", c.x.e, names[i]);
		is_str(buf_str(&r->body), bodies[i], "%s %s: what came reached the callback", c.x.e, names[i]);
		ok(contains(r->error, "connection closed"), "%s %s: the error says the connection closed (%s)", c.x.e,
		   names[i], r->error ? r->error : "");
	}
	case_free(&c);
}

/* ---- 11. connection refused ---- */

/* A port that refuses: bound, never listening. */
static int refusing_port(int *fd)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof a;
	*fd = socket(AF_INET, SOCK_STREAM, 0);
	if (*fd < 0 || bind(*fd, (struct sockaddr *)&a, len) != 0 || getsockname(*fd, (struct sockaddr *)&a, &len) != 0)
		abort();
	return ntohs(a.sin_port);
}

static void test_refused(bool builtin)
{
	int fd;
	int port = refusing_port(&fd);
	char u[64];
	snprintf(u, sizeof u, "http://127.0.0.1:%d/x", port);
	struct tcase c;
	case_start(&c, builtin, NULL, "refused");
	struct result *r = &c.r[0];
	struct http_request req = get(u);
	start(&c.x, r, &req);
	ok(!r->done, "%s refused: done not called before http_call_start returns", c.x.e);
	ok(run(&c.x), "%s refused: ends in time", c.x.e);
	case_stop(&c);
	check_end(&c.x, "refused", r);
	is_int(r->outcome, XFER_NETWORK, "%s refused: XFER_NETWORK", c.x.e);
	ok(contains(r->error, "cannot connect"), "%s refused: \"cannot connect\" (%s)", c.x.e,
	   r->error ? r->error : "");
	ok(!contains(r->error, "/x"), "%s refused: the error names no path", c.x.e);
	is_int(r->status, 0, "%s refused: no status", c.x.e);
	case_free(&c);
	close(fd);
}

/* ---- 12. the idle timeout ---- */

static void test_idle(bool builtin)
{
	static const struct step steps[] = {
		S_ACCEPT,
		S_READ,
		S_SEND("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nten bytes."),
		S_WAIT_CLOSE,
		S_END,
	};
	struct http_request req = get("/stall");
	req.idle_timeout_ms = 300;
	struct tcase c;
	struct result *r = one_call(&c, builtin, steps, "idle", CB_COLLECT, req);
	check_timeout(&c.x, "idle", r, 250, 3000, "after the idle limit, within 3 s");
	is_str(buf_str(&r->body), "ten bytes.", "%s idle: the bytes before the stall were delivered", c.x.e);
	ok(contains(r->error, "stalled"), "%s idle: the error says the stream stalled (%s)", c.x.e,
	   r->error ? r->error : "");
	case_free(&c);

	/* No answer at all, on a kept-alive connection: a timeout, not a
	 * retry (the server may be working on it) nor a connect failure. */
	static const struct step reused_steps[] = {
		S_ACCEPT, S_READ, S_SEND(KA_ANSWER), S_READ, S_WAIT_CLOSE, S_END,
	};
	case_start(&c, builtin, reused_steps, "idle, reused");
	req = get(url(c.s, "/first"));
	case_call(&c, 0, &req, "idle, reused: the first ends in time");
	req = get(url(c.s, "/silent"));
	req.idle_timeout_ms = 300;
	case_call(&c, 1, &req, "idle, reused: ends in time");
	case_stop(&c);
	check_ok(&c.x, "idle, reused: first", &c.r[0], 200, "text/plain", "ok", 2);
	r = &c.r[1];
	check_timeout(&c.x, "idle, reused", r, 250, 3000, "within 3 s");
	is_str(r->error, "no response within 1 s", "%s idle, reused: the error", c.x.e);
	is_int(c.s->accepted, 1, "%s idle, reused: on the one connection", c.x.e);
	is_int(c.s->n_req, 2, "%s idle, reused: sent once", c.x.e);
	case_free(&c);
}

/* ---- the total timeout, while bytes keep coming; the connect timeout ---- */

static void test_total(bool builtin)
{
	static const struct step steps[] = {
		S_ACCEPT,
		S_READ,
		S_SEND("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n"),
		S_DRIP("a trickle that never stalls", 1, 60),
		S_WAIT_CLOSE,
		S_END,
	};
	struct http_request req = get("/trickle");
	req.total_timeout_ms = 500;
	struct tcase c;
	struct result *r = one_call(&c, builtin, steps, "total", CB_COLLECT, req);
	check_timeout(&c.x, "total", r, 450, 1500, "after 500 ms");
	ok(r->body.len > 0 && r->body.len < 27, "%s total: part of the body came (%zu bytes)", c.x.e, r->body.len);
	is_str(r->error, "timed out while reading the response", "%s total: the error", c.x.e);
	case_free(&c);

	/* A listener whose accept queue is full drops the SYN: the connect
	 * hangs until connect_timeout_ms. */
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof a;
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fill[4];
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, len) != 0 || listen(lfd, 0) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &len) != 0)
		abort();
	/* The first filler's handshake fills the queue (a backlog of 0
	 * holds one); the others are for good measure and stay unanswered. */
	for (int i = 0; i < 4; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (connect(fill[i], (struct sockaddr *)&a, len) != 0 && errno != EINPROGRESS)
			abort();
		struct pollfd p = {fill[i], POLLOUT, 0};
		if (i == 0 && poll(&p, 1, SRV_WAIT_MS) != 1)
			abort();
	}
	char u[64];
	snprintf(u, sizeof u, "http://127.0.0.1:%d/x", ntohs(a.sin_port));
	case_start(&c, builtin, NULL, "connect timeout");
	req = get(u);
	req.connect_timeout_ms = 300;
	case_call(&c, 0, &req, "connect timeout: ends in time");
	case_stop(&c);
	r = &c.r[0];
	check_timeout(&c.x, "connect timeout", r, 250, 1500, "after 300 ms");
	ok(contains(r->error, "cannot connect"), "%s connect timeout: \"cannot connect\" (%s)", c.x.e,
	   r->error ? r->error : "");
	case_free(&c);
	for (int i = 0; i < 4; i++)
		close(fill[i]);
	close(lfd);
}

/* ---- 13. the body callback: abort, and the answer whole early ---- */

static void test_callback_ends(bool builtin)
{
	/* Non-zero: XFER_ABORTED. */
	static const struct step abort_steps[] = {
		S_ACCEPT,
		S_READ,
		S_SEND("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nfirst"),
		S_PAUSE(30),
		S_SEND("again"),
		S_WAIT_CLOSE,
		S_END,
	};
	struct tcase c;
	struct result *r = one_call(&c, builtin, abort_steps, "abort", CB_ABORT, get("/abort"));
	check_end(&c.x, "abort", r);
	is_int(r->outcome, XFER_ABORTED, "%s abort: XFER_ABORTED", c.x.e);
	is_int(r->cb_calls, 1, "%s abort: the callback was not called again", c.x.e);
	ok(r->body_started, "%s abort: body_started", c.x.e);
	case_free(&c);

	/* HTTP_BODY_COMPLETE while the server holds the response open: a
	 * success a moment later (the built-in client waits
	 * COMPLETE_GRACE_MS; libcurl notices within about a second). */
	static const struct step hold_steps[] = {
		S_ACCEPT, S_READ, S_SEND(CHUNKED_HEAD "e\r\ndata: [DONE]\n\n\r\n"), S_WAIT_CLOSE, S_END,
	};
	r = one_call(&c, builtin, hold_steps, "complete, held open", CB_COMPLETE, get("/sse"));
	check_ok(&c.x, "complete, held open", r, 200, "text/event-stream", "data: [DONE]\n\n", 14);
	long long took = r->t_done - r->t_start;
	ok(r->done && took < 1500, "%s complete, held open: within 1.5 s (%lld ms)", c.x.e, took);
	case_free(&c);

	/* HTTP_BODY_COMPLETE, then the server sends one more event and ends
	 * the response: the extra bytes are dropped and the connection is
	 * used again. */
	static const struct step end_steps[] = {
		S_ACCEPT,
		S_READ,
		S_SEND(CHUNKED_HEAD "e\r\ndata: [DONE]\n\n\r\n"),
		S_PAUSE(30),
		S_SEND("d\r\ndata: extra\n\n\r\n0\r\n\r\n"),
		S_READ,
		S_SEND(KA_ANSWER),
		S_WAIT_CLOSE,
		S_END,
	};
	case_start(&c, builtin, end_steps, "complete, then ended");
	c.r[0].mode = CB_COMPLETE;
	struct http_request req = get(url(c.s, "/sse"));
	case_call(&c, 0, &req, "complete, then ended: ends in time");
	case_call(&c, 1, &req, "complete, then ended: the next ends in time");
	case_stop(&c);
	check_ok(&c.x, "complete, then ended", &c.r[0], 200, "text/event-stream", "data: [DONE]\n\n", 14);
	check_ok(&c.x, "after complete", &c.r[1], 200, "text/plain", "ok", 2);
	is_int(c.s->accepted, 1, "%s complete, then ended: the connection was used again", c.x.e);
	case_free(&c);
}

/* ---- 14. header injection (the built-in client's own check) ---- */

static void test_injection(void)
{
	static const struct step steps[] = {
		S_ACCEPT, S_READ, S_SEND(KA_ANSWER), S_WAIT_CLOSE, S_END,
	};
	struct tcase c;
	case_start(&c, true, steps, "injection");
	static const struct http_header evil[] = {{"X-Evil", "a\r\nX-Injected: 1"}};
	static const struct http_header evil_lf[] = {{"X-Evil", "a\nX-Injected: 1"}};
	static const struct http_header bad_name[] = {{"X-Bad Name", "v"}};
	const struct http_header *const bad[] = {evil, evil_lf, bad_name};
	static const char *const names[] = {"CRLF in a header value", "LF in a header value", "a space in a header name"};
	for (int i = 0; i < 3; i++) {
		struct http_request req = get(url(c.s, "/bad"));
		req.headers = bad[i];
		req.n_headers = 1;
		case_call(&c, i, &req, "%s: ends in time", names[i]);
	}
	/* Then a good one: had a bad one reached the server, the server
	 * would have recorded it first. */
	struct http_request req = get(url(c.s, "/good"));
	case_call(&c, 3, &req, "injection: the good request ends in time");
	case_stop(&c);
	for (int i = 0; i < 3; i++) {
		const struct result *r = &c.r[i];
		check_end(&c.x, names[i], r);
		ok(r->outcome != XFER_OK, "%s %s: refused", c.x.e, names[i]);
		ok(contains(r->error, "header"), "%s %s: the error says why (%s)", c.x.e, names[i],
		   r->error ? r->error : "");
	}
	const struct srv *s = c.s;
	check_ok(&c.x, "injection, then good", &c.r[3], 200, "text/plain", "ok", 2);
	is_int(s->accepted, 1, "%s injection: only the good request connected", c.x.e);
	ok(s->n_req == 1 && req_line_is(&s->req[0], "GET /good HTTP/1.1"), "%s injection: the server saw only /good",
	   c.x.e);
	ok(s->n_req >= 1 && req_header(&s->req[0], "X-Injected", NULL, 0) == 0, "%s injection: no X-Injected", c.x.e);
	case_free(&c);
}

/* ---- 15. what was sent ---- */

static void test_sent(bool builtin)
{
	static const struct step steps[] = {
		S_ACCEPT, S_READ, S_SEND(KA_ANSWER), S_READ, S_SEND(KA_ANSWER), S_READ, S_SEND(KA_ANSWER), S_WAIT_CLOSE,
		S_END,
	};
	struct tcase c;
	case_start(&c, builtin, steps, "sent");
	struct srv *s = c.s;
	char host[64], cl[16];
	snprintf(host, sizeof host, "127.0.0.1:%d", s->port);
	static const char body[] = "{\"model\":\"m\",\"x\":\"\\u00e9\"}";
	snprintf(cl, sizeof cl, "%zu", strlen(body));
	const struct http_header headers[] = {
		{"Authorization", "Bearer sk-test"},
		{"X-Empty", ""},
		{"Host", host},
		{"Content-Length", cl},
		{"Connection", "keep-alive"},
		{"Content-Type", "application/json"},
		{"anthropic-version", "2023-06-01"},
	};
	struct http_request req = {.method = "POST", .url = url(s, "/v1/chat/completions?a=1&b=%20c#frag"),
				   .headers = headers, .n_headers = 7, .body = body, .body_len = strlen(body),
				   .idle_timeout_ms = 4000};
	case_call(&c, 0, &req, "sent POST: ends in time");
	struct http_request g = get(url(s, "?only=query"));
	case_call(&c, 1, &g, "sent GET: ends in time");
	struct http_request p = {.method = "PATCH", .url = url(s, ""), .body = "", .body_len = 0,
				 .idle_timeout_ms = 4000};
	case_call(&c, 2, &p, "sent PATCH: ends in time");
	case_stop(&c);
	const char *e = c.x.e;
	for (int i = 0; i < 3; i++)
		check_ok(&c.x, "sent", &c.r[i], 200, "text/plain", "ok", 2);
	if (s->n_req != 3) {
		ok(0, "%s sent: the server recorded three requests (%d)", e, s->n_req);
		case_free(&c);
		return;
	}
	char v[256];
	const struct buf *q = &s->req[0];
	ok(req_line_is(q, "POST /v1/chat/completions?a=1&b=%20c HTTP/1.1"),
	   "%s sent: method, path and query, no fragment", e);
	is_int(req_header(q, "Host", v, sizeof v), 1, "%s sent: one Host", e);
	is_str(v, host, "%s sent: Host is the URL's authority", e);
	is_int(req_header(q, "User-Agent", v, sizeof v), 1, "%s sent: one User-Agent", e);
	is_str(v, http_user_agent(), "%s sent: User-Agent is http_user_agent()", e);
	is_int(req_header(q, "Content-Length", v, sizeof v), 1, "%s sent: one Content-Length", e);
	is_str(v, cl, "%s sent: Content-Length is the body's", e);
	ok(req_header(q, "Connection", NULL, 0) <= 1, "%s sent: at most one Connection", e);
	is_int(req_header(q, "Authorization", v, sizeof v), 1, "%s sent: the caller's Authorization", e);
	is_str(v, "Bearer sk-test", "%s sent: its value", e);
	is_int(req_header(q, "Content-Type", v, sizeof v), 1, "%s sent: the caller's Content-Type", e);
	is_str(v, "application/json", "%s sent: its value", e);
	is_int(req_header(q, "anthropic-version", v, sizeof v), 1, "%s sent: anthropic-version", e);
	is_str(v, "2023-06-01", "%s sent: its value", e);
	is_int(req_header(q, "X-Empty", NULL, 0), 0, "%s sent: a header with an empty value is not sent", e);
	ok(req_header(q, "Transfer-Encoding", NULL, 0) == 0 && req_header(q, "Expect", NULL, 0) == 0,
	   "%s sent: no Transfer-Encoding, no Expect", e);
	is_str(req_body(q), body, "%s sent: the body", e);
	/* The engines differ here, which shows which one ran: libcurl
	 * sends "Accept: * / *", the built-in client no Accept at all. */
	is_int(req_header(q, "Accept", NULL, 0), builtin ? 0 : 1, "%s sent: the engine under test ran", e);

	q = &s->req[1];
	ok(req_line_is(q, "GET /?only=query HTTP/1.1"), "%s sent GET: a query without a path gets /", e);
	is_int(req_header(q, "Content-Length", NULL, 0), 0, "%s sent GET: no Content-Length", e);
	is_str(req_body(q), "", "%s sent GET: no body", e);
	is_int(req_header(q, "Host", v, sizeof v), 1, "%s sent GET: one Host", e);
	is_str(v, host, "%s sent GET: Host", e);

	q = &s->req[2];
	ok(req_line_is(q, "PATCH / HTTP/1.1"), "%s sent PATCH: method and /", e);
	is_int(req_header(q, "Content-Length", v, sizeof v), 1, "%s sent PATCH: one Content-Length", e);
	is_str(v, "0", "%s sent PATCH: of 0", e);
	case_free(&c);
}

/* ---- 15b. an answer before the whole body was sent ---- */

static void test_early_answer(bool builtin)
{
	/* The server answers as soon as it has the head of a body larger
	 * than loopback's socket buffers can hold, so the client still has
	 * most of the body to write. The next request must not go out
	 * before the rest of it: the built-in client closes that connection
	 * and opens another, libcurl sends the rest of the body first. A
	 * client that pooled the connection at once would put the next
	 * request inside the first one's body, where the server drops it. */
	static const struct step steps[] = {
		S_ACCEPT, S_READ_HEAD, S_SEND(KA_ANSWER), S_READ_AFTER,
		S_SEND("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\ntwo"),
		S_WAIT_CLOSE, S_END,
	};
	enum { BIG = 32 << 20 };
	char *big = malloc(BIG);
	if (!big)
		abort();
	memset(big, 'x', BIG);
	struct tcase c;
	case_start(&c, builtin, steps, "early answer");
	struct srv *s = c.s;
	struct http_request req = {.method = "POST", .url = url(s, "/big"), .body = big, .body_len = BIG,
				   .idle_timeout_ms = 4000};
	case_call(&c, 0, &req, "early answer: the first ends in time");
	struct http_request small = {.method = "POST", .url = url(s, "/small"), .body = "b", .body_len = 1,
				     .idle_timeout_ms = 4000};
	case_call(&c, 1, &small, "early answer: the second ends in time");
	case_stop(&c);
	check_ok(&c.x, "early answer", &c.r[0], 200, "text/plain", "ok", 2);
	check_ok(&c.x, "early answer", &c.r[1], 200, "text/plain", "two", 3);
	if (builtin)
		is_int(s->accepted, 2, "%s early answer: the second on a new connection", c.x.e);
	ok(s->n_req == 2 && req_line_is(&s->req[1], "POST /small HTTP/1.1") && strcmp(req_body(&s->req[1]), "b") == 0,
	   "%s early answer: the second request arrived whole", c.x.e);
	case_free(&c);
	free(big);
}

/* ---- 16. a response head over 64 KiB (the built-in client's limit) ---- */

static void test_big_head(bool builtin)
{
	/* Many lines (70 KiB), and one line that never ends (70 KiB); and
	 * 60 KiB of head, which both engines take. */
	struct buf many = BUF_INIT, one = BUF_INIT, fine = BUF_INIT;
	buf_puts(&many, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n");
	buf_puts(&fine, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n");
	for (int i = 0; i < 70; i++) {
		buf_printf(&many, "X-Pad-%02d: ", i);
		for (int j = 0; j < 1000; j++)
			buf_putc(&many, 'a');
		buf_puts(&many, "\r\n");
	}
	for (int i = 0; i < 60; i++) {
		buf_printf(&fine, "X-Pad-%02d: ", i);
		for (int j = 0; j < 1000; j++)
			buf_putc(&fine, 'a');
		buf_puts(&fine, "\r\n");
	}
	buf_puts(&many, "Content-Length: 2\r\n\r\nok");
	buf_puts(&fine, "Content-Length: 2\r\n\r\nok");
	buf_puts(&one, "HTTP/1.1 200 OK\r\nX-Big: ");
	for (int j = 0; j < 70 * 1024; j++)
		buf_putc(&one, 'b');
	struct step steps[] = {
		S_ACCEPT, S_READ, S_SENDN(fine.data, fine.len), S_WAIT_CLOSE,
		S_ACCEPT, S_READ, S_SENDN(many.data, many.len), S_WAIT_CLOSE,
		S_ACCEPT, S_READ, S_SENDN(one.data, one.len), S_WAIT_CLOSE,
		S_END,
	};
	if (!builtin) /* libcurl's limits are its own: the third is not asked */
		steps[8] = (struct step)S_END;
	struct tcase c;
	case_start(&c, builtin, steps, "big head");
	for (int i = 0; i < 3; i++) {
		struct http_request req = get(url(c.s, "/big"));
		case_call(&c, i, &req, "big head #%d: ends in time", i + 1);
		if (i == 1 && !builtin)
			break;
		/* The next on a new connection, as the script has it. */
		case_new_loop(&c);
	}
	case_stop(&c);
	const struct result *r = c.r;
	check_ok(&c.x, "60 KiB head", &r[0], 200, "text/plain", "ok", 2);
	if (builtin) {
		static const char *const names[] = {"", "70 KiB of header lines", "a 70 KiB header line"};
		for (int i = 1; i < 3; i++) {
			check_end(&c.x, names[i], &r[i]);
			ok(r[i].outcome != XFER_OK, "%s %s: not XFER_OK", c.x.e, names[i]);
			ok(contains(r[i].error, "too large"), "%s %s: the head is too large (%s)", c.x.e, names[i],
			   r[i].error ? r[i].error : "");
			is_int(r[i].cb_calls, 0, "%s %s: no body callback", c.x.e, names[i]);
		}
	} else if (r[1].done) {
		printf("# [curl] 70 KiB of header lines: outcome %d, status %ld%s%s\n", r[1].outcome, r[1].status,
		       r[1].error ? ", " : "", r[1].error ? r[1].error : "");
	}
	case_free(&c);
	buf_free(&many);
	buf_free(&one);
	buf_free(&fine);
}

/* ---- 17. cancelling ---- */

/* http_call_cancel from inside the body callback: the built-in client's
 * (libcurl forbids calls into the multi handle from its callbacks). */
static void test_cancel_in_callback(void)
{
	struct buf gz = BUF_INIT, gz_answer = BUF_INIT;
	gzip_of(&gz, "some compressed text, some compressed text", 42);
	buf_printf(&gz_answer, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", gz.len);
	buf_append(&gz_answer, gz.data, gz.len);
	struct variant {
		const char *name;
		const char *answer;
		size_t len;
		int rc;
	} variants[] = {
		{"cancel in callback, return 0", KA_ANSWER, 0, 0},
		{"cancel in callback, return 1", KA_ANSWER, 0, 1},
		{"cancel in callback, return COMPLETE", KA_ANSWER, 0, HTTP_BODY_COMPLETE},
		{"cancel in callback, chunks", CHUNKED_HEAD CHUNKED_BODY, 0, 0},
		{"cancel in callback, chunks, return 1", CHUNKED_HEAD CHUNKED_BODY, 0, 1},
		{"cancel in callback, gzip", gz_answer.data, gz_answer.len, 0},
		{"cancel in callback, gzip, return 1", gz_answer.data, gz_answer.len, 1},
	};
	for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
		const struct variant *v = &variants[i];
		const struct step steps[] = {
			S_ACCEPT, S_READ, S_SENDN(v->answer, v->len ? v->len : strlen(v->answer)), S_WAIT_CLOSE, S_TELL,
			S_END,
		};
		struct tcase c;
		case_start(&c, true, steps, v->name);
		struct result *r = &c.r[0];
		r->mode = CB_CANCEL;
		r->cancel_rc = v->rc;
		struct http_request req = get(url(c.s, "/c"));
		start(&c.x, r, &req);
		/* Until the server has seen the connection close. */
		ok(run_until(&c.x, c.s->to_test[0]), "%s %s: the connection closed in time", c.x.e, v->name);
		ok(r->cancelled && r->cb_calls == 1, "%s %s: the callback cancelled, once", c.x.e, v->name);
		ok(!r->done, "%s %s: done not called", c.x.e, v->name);
		case_stop(&c);
		case_free(&c);
	}
	buf_free(&gz);
	buf_free(&gz_answer);
}

static void on_cancel_timer(evutil_socket_t fd, short what, void *arg)
{
	struct result *r = arg;
	if (r->call) {
		http_call_cancel(r->call);
		r->call = NULL;
		r->cancelled = true;
		one_less(r->ctx);
	}
}

/* http_call_cancel from a timer while the answer trickles; and right
 * after http_call_start, while it connects. */
static void test_cancel_in_flight(bool builtin)
{
	static const struct step steps[] = {
		S_ACCEPT,
		S_READ,
		S_SEND("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nsome"),
		S_WAIT_CLOSE,
		S_TELL,
		S_END,
	};
	struct tcase c;
	case_start(&c, builtin, steps, "cancel from a timer");
	struct result *r = &c.r[0];
	struct http_request req = get(url(c.s, "/slow"));
	start(&c.x, r, &req);
	struct event *t = evtimer_new(c.x.base, on_cancel_timer, r);
	struct timeval tv = {0, 150 * 1000};
	evtimer_add(t, &tv);
	ok(run_until(&c.x, c.s->to_test[0]), "%s cancel from a timer: the connection closed in time", c.x.e);
	ok(r->cancelled, "%s cancel from a timer: cancelled", c.x.e);
	ok(!r->done, "%s cancel from a timer: done not called", c.x.e);
	is_str(buf_str(&r->body), "some", "%s cancel from a timer: the body so far arrived", c.x.e);
	event_free(t);
	case_stop(&c);
	case_free(&c);

	/* At once, on a port that refuses: nothing may come of it. */
	int fd;
	int port = refusing_port(&fd);
	char u[64];
	snprintf(u, sizeof u, "http://127.0.0.1:%d/x", port);
	case_start(&c, builtin, NULL, "cancel at once");
	req = get(u);
	start(&c.x, r, &req);
	ok(r->call != NULL, "%s cancel at once: a call", c.x.e);
	if (r->call)
		http_call_cancel(r->call);
	run_for(&c.x, 100);
	ok(!r->done, "%s cancel at once: done not called", c.x.e);
	case_stop(&c);
	case_free(&c);

	/* The built-in client's refusal of a bad header is reported from the
	 * loop; cancelled before that, done is never called. */
	if (builtin) {
		case_start(&c, builtin, NULL, "cancel a refused request");
		static const struct http_header evil[] = {{"X-Evil", "a\r\nb"}};
		req.headers = evil;
		req.n_headers = 1;
		start(&c.x, r, &req);
		ok(r->call != NULL, "%s cancel a refused request: a call", c.x.e);
		if (r->call)
			http_call_cancel(r->call);
		run_for(&c.x, 50);
		ok(!r->done, "%s cancel a refused request: done not called", c.x.e);
		case_stop(&c);
		case_free(&c);
	}
	close(fd);

	/* Calls in flight when the loop is freed: cancelled, done not called. */
	static const struct step hold[] = {
		S_ACCEPT, S_READ, S_SEND("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome"), S_WAIT_CLOSE, S_END,
	};
	case_start(&c, builtin, hold, "loop freed mid-call");
	req = get(url(c.s, "/held"));
	start(&c.x, r, &req);
	while (r->body.len == 0 && now_ms() - r->t_start < LOOP_WAIT_MS)
		run_for(&c.x, 20);
	ok(r->body.len > 0, "%s loop freed mid-call: the body began", c.x.e);
	/* case_stop's two steps apart: the check is on freeing the loop. */
	ctx_free(&c.x);
	ok(!r->done, "%s loop freed mid-call: done not called", c.x.e);
	srv_stop(c.s, c.x.e, c.name);
	case_free(&c);
}

/* ---- 18. localhost when only ::1 listens ---- */

static void test_localhost_v6(bool builtin)
{
	/* A connection each: libcurl pools by host name, the built-in
	 * client by address. */
	static const struct step steps[] = {
		S_ACCEPT, S_READ, S_SEND(CLOSE_ANSWER), S_WAIT_CLOSE,
		S_ACCEPT, S_READ, S_SEND(CLOSE_ANSWER), S_WAIT_CLOSE, S_END,
	};
	struct srv *s = srv_start_on(AF_INET6, steps);
	if (!s) {
		tap_skip("%s localhost on ::1: no IPv6 loopback here", builtin ? "[h1]" : "[curl]");
		return;
	}
	/* 127.0.0.1 on the same port must refuse: hold it, bound, not
	 * listening. If another program has it, the case cannot run. */
	int v4 = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool have_v4 = v4 >= 0 && bind(v4, (struct sockaddr *)&a, sizeof a) == 0;
	struct ctx x;
	ctx_init(&x, builtin);
	char u1[64], u2[64];
	snprintf(u1, sizeof u1, "http://localhost:%d/v6", s->port);
	snprintf(u2, sizeof u2, "http://[::1]:%d/v6", s->port);
	struct result r1, r2;
	result_init(&r1, CB_COLLECT);
	result_init(&r2, CB_COLLECT);
	struct http_request req = get(u1);
	if (have_v4) {
		start(&x, &r1, &req);
		ok(run(&x), "%s localhost on ::1: ends in time", x.e);
	}
	req = get(u2);
	start(&x, &r2, &req);
	ok(run(&x), "%s [::1]: ends in time", x.e);
	ctx_free(&x);
	if (!have_v4) {
		/* The script waits for a second request that never comes. */
		tap_skip("%s localhost on ::1: 127.0.0.1:%d is taken", x.e, s->port);
		pthread_join(s->th, NULL);
	} else {
		srv_stop(s, x.e, "localhost on ::1");
		check_ok(&x, "localhost on ::1", &r1, 200, "text/plain", "ok", 2);
		char v[128], want[64];
		snprintf(want, sizeof want, "localhost:%d", s->port);
		ok(s->n_req >= 1 && req_header(&s->req[0], "Host", v, sizeof v) == 1 && strcmp(v, want) == 0,
		   "%s localhost on ::1: Host is localhost:port", x.e);
		snprintf(want, sizeof want, "[::1]:%d", s->port);
		ok(s->n_req >= 2 && req_header(&s->req[1], "Host", v, sizeof v) == 1 && strcmp(v, want) == 0,
		   "%s [::1]: Host is [::1]:port", x.e);
	}
	check_ok(&x, "[::1]", &r2, 200, "text/plain", "ok", 2);
	if (v4 >= 0)
		close(v4);
	result_free(&r1);
	result_free(&r2);
	srv_free(s);
}

int main(void)
{
	/* As the proxy does (server.c): a write to a closed peer is an
	 * error, not the end of the process. */
	signal(SIGPIPE, SIG_IGN);
	/* Both engines must go direct. */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	long long t0 = now_ms();
	for (int e = 0; e < 2; e++) {
		bool builtin = e == 0;
		test_content_length(builtin);
		test_chunked(builtin, 7, "chunked in pieces");
		test_chunked(builtin, 1, "chunked byte by byte");
		test_until_close(builtin);
		test_continue(builtin);
		test_no_body(builtin);
		test_error_status(builtin);
		test_keep_alive(builtin);
		test_stale(builtin);
		test_gzip(builtin);
		test_closed_early(builtin);
		test_refused(builtin);
		test_idle(builtin);
		test_total(builtin);
		test_callback_ends(builtin);
		test_sent(builtin);
		test_early_answer(builtin);
		test_big_head(builtin);
		test_cancel_in_flight(builtin);
		test_localhost_v6(builtin);
	}
	test_injection();
	test_cancel_in_callback();
	http_client_cleanup();
	printf("# %lld ms\n", now_ms() - t0);
	return tap_done();
}
