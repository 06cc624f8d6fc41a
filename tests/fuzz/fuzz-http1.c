/* fuzz-http1.c - the built-in HTTP/1.1 client (http1.c) against an
 * upstream that answers with arbitrary bytes: the status line, 1xx interim
 * answers, headers, Content-Length, chunked (extensions, trailers) and
 * close-delimited bodies, gzip and deflate bodies, keep-alive pooling and
 * the one retry on a kept-alive connection the server closed. A loopback
 * listener in this process (127.0.0.1, a free port) accepts the client's
 * connection, reads its request and answers with the input; the call runs
 * through http_call_start on a libevent loop until its done callback.
 *
 * Input: two bytes of flags, then the upstream's answer, byte for byte.
 *   byte 0, bits 0-1: how the answer is written: 0 in one write; 1 cut at
 *                     up to 7 points picked from the input's hash; 2 in
 *                     pieces of 1 to 8 bytes (64 of them, then the rest);
 *                     3 the first 32 bytes one at a time, then the rest;
 *                     one piece per turn of the loop, so that the client
 *                     reads between them.
 *           bits 2-3: the request: 0 GET, 1 HEAD, 2 POST with a body,
 *                     3 GET with any_status_body (every body to the
 *                     callback, as for a passthrough).
 *           bits 4-5: the body callback: 0 takes everything; after N body
 *                     bytes, 1 returns HTTP_BODY_COMPLETE, 2 aborts,
 *                     3 cancels the call.
 *           bit 6:    when the first call has ended, a second one on the
 *                     same loop (on the pooled connection if the first
 *                     left it there), answered with the same bytes.
 *           bit 7:    with callback 3, cancel with http_call_cancel from
 *                     inside the callback and return 0 (http-client.h
 *                     rules that out for callers; the built-in client
 *                     survives it all the same), else through req.cancel;
 *                     otherwise a server connection closes on its second
 *                     request without answering (a kept-alive connection
 *                     gone stale: the client sends once more on a new one).
 *   byte 1, bits 0-4: N is their value squared (0 to 961).
 *           bits 5-7: after writing the answer the server: 0 to 5 closes;
 *                     6 holds the connection 1 ms more, then closes (a
 *                     kept-alive server that goes away); 7 holds it until
 *                     the client closes (the client's idle timeout, 2 ms
 *                     here, ends an answer that is not whole). Both cost
 *                     time, so most inputs close at once.
 * Whether the URL says "localhost" or "127.0.0.1" comes from the hash.
 *
 * Asserted beyond memory errors, UB and leaks: done is called exactly once
 * per call, never inside http_call_start and never for a cancelled call;
 * the outcome is one of the enum's; XFER_OK comes with a status in
 * 100..999 and no error, any other outcome with a one-line error without
 * control characters (XFER_ABORTED may have none: the callback asked for
 * it, and callers say so themselves); an abort from the callback ends as XFER_ABORTED, and only
 * that does, and HTTP_BODY_COMPLETE as XFER_OK (http-client.h's promise); the callback
 * sees a 2xx status (unless any_status_body); without a Content-Encoding
 * in the input, the body bytes handed over (to the callback and into
 * error_body) never outnumber the bytes the server wrote; error_body stays
 * within 64 KiB; the request the server reads is the one asked for. */
#include "config.h"

#include "http-client.h"
#include "util.h"
#include "fuzz.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQ_CAP 16384
#define POST_BODY "{\"model\":\"m\"}"

static struct event_base *base;
static struct http_loop *loop;
static int listen_fd = -1;
static struct event *accept_ev;
static char url_ip[64], url_localhost[64], host_ip[32], host_localhost[32];

/* One input's settings and what has happened so far. */
static struct run {
	const uint8_t *answer;
	size_t answer_len;
	uint64_t seed;
	int split, method, cb_mode;
	int server_end; /* 0 closes, 1 holds 1 ms, 2 holds until the client closes */
	size_t n;
	bool second, bit7, encoded;
	const char *host; /* the Host the request must carry */
	size_t responses; /* answers begun, for the split points */
	size_t written;   /* answer bytes the server wrote, all connections */
	size_t handed;    /* body bytes the client handed over, all calls */
	struct srv_conn *conns;
	/* the current call */
	struct http_call *call;
	volatile sig_atomic_t cancel_flag;
	bool in_start, done, cancelled, said_complete, said_abort, any_status;
	int done_count;
	size_t cb_bytes;
} run;

/* ---- the upstream: one connection it accepted ---- */

struct srv_conn {
	int fd;
	struct event *rd, *wr, *hold;
	char req[REQ_CAP];
	size_t req_len;
	size_t served;  /* requests answered (or refused) on it */
	size_t off;     /* how much of the answer is written */
	uint64_t rng;   /* split points of this answer */
	size_t pieces;
	struct srv_conn *next;
};

static void srv_close(struct srv_conn *s)
{
	for (struct srv_conn **p = &run.conns; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	event_free(s->rd);
	event_free(s->wr);
	event_free(s->hold);
	close(s->fd);
	free(s);
}

/* The size of the next piece of the answer. */
static size_t next_piece(struct srv_conn *s)
{
	size_t left = run.answer_len - s->off;
	size_t n = left;
	switch (run.split) {
	case 1:
		if (s->pieces < 7)
			n = (size_t)(fuzz_rand(&s->rng) % (left + 1));
		break;
	case 2:
		if (s->pieces < 64)
			n = 1 + (size_t)(fuzz_rand(&s->rng) % 8);
		break;
	case 3:
		if (s->pieces < 32)
			n = 1;
		break;
	}
	s->pieces++;
	return n < left ? n : left;
}

static void on_hold(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	srv_close(arg);
}

static void on_srv_write(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct srv_conn *s = arg;
	size_t n = next_piece(s);
	if (n) {
		ssize_t w = send(fd, run.answer + s->off, n, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (w < 0) { /* the client went away */
			srv_close(s);
			return;
		}
		s->off += (size_t)w;
		run.written += (size_t)w;
	}
	if (s->off < run.answer_len)
		return;
	event_del(s->wr);
	if (run.server_end == 0) {
		srv_close(s);
		return;
	}
	/* Kept open: ready for the next request. */
	event_add(s->rd, NULL);
	if (run.server_end == 1) {
		struct timeval tv = {0, 1000};
		evtimer_add(s->hold, &tv);
	}
}

/* The request as it must be: line, Host, and for a POST its body. */
static void check_request(const char *req, size_t head_len, size_t len)
{
	static const char *const methods[] = {"GET", "HEAD", "POST", "GET"};
	char line[128];
	snprintf(line, sizeof line, "%s /v1/fuzz?q=1 HTTP/1.1\r\nHost: %s\r\n", methods[run.method], run.host);
	FUZZ_ASSERT(head_len >= strlen(line) && memcmp(req, line, strlen(line)) == 0);
	FUZZ_ASSERT(!memmem(req, head_len, "\r\nConnection:", 13));
	if (run.method == 2) {
		FUZZ_ASSERT(memmem(req, head_len, "\r\nContent-Length: 13\r\n", 22) != NULL);
		FUZZ_ASSERT(len - head_len == strlen(POST_BODY) && memcmp(req + head_len, POST_BODY, len - head_len) == 0);
	}
}

static void on_srv_read(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct srv_conn *s = arg;
	ssize_t r = recv(fd, s->req + s->req_len, sizeof s->req - s->req_len, 0);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		srv_close(s);
		return;
	}
	s->req_len += (size_t)r;
	const char *end = memmem(s->req, s->req_len, "\r\n\r\n", 4);
	if (!end) {
		FUZZ_ASSERT(s->req_len < sizeof s->req);
		return;
	}
	size_t head_len = (size_t)(end + 4 - s->req);
	size_t want = head_len + (run.method == 2 ? strlen(POST_BODY) : 0);
	if (s->req_len < want)
		return;
	FUZZ_ASSERT(s->req_len == want); /* the client never pipelines */
	check_request(s->req, head_len, want);
	s->req_len = 0;
	event_del(s->rd);
	evtimer_del(s->hold);
	if (s->served++ == 1 && run.bit7 && run.cb_mode != 3) {
		srv_close(s); /* gone stale */
		return;
	}
	s->off = 0;
	s->pieces = 0;
	s->rng = run.seed ^ run.responses++;
	event_add(s->wr, NULL);
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	(void)arg;
	for (;;) {
		int cfd = accept(fd, NULL, NULL);
		if (cfd < 0)
			return;
		evutil_make_socket_nonblocking(cfd);
		struct srv_conn *s = xcalloc(1, sizeof *s);
		s->fd = cfd;
		s->rd = event_new(base, cfd, EV_READ | EV_PERSIST, on_srv_read, s);
		s->wr = event_new(base, cfd, EV_WRITE | EV_PERSIST, on_srv_write, s);
		s->hold = evtimer_new(base, on_hold, s);
		if (!s->rd || !s->wr || !s->hold)
			abort();
		event_add(s->rd, NULL);
		s->next = run.conns;
		run.conns = s;
	}
}

/* ---- the client ---- */

static int on_body(const char *data, size_t len, void *arg)
{
	(void)data;
	struct run *r = arg;
	FUZZ_ASSERT(!r->in_start && r->call && !r->done && !r->cancelled);
	long status = http_call_response(r->call)->status;
	FUZZ_ASSERT(r->any_status || (status >= 200 && status <= 299));
	r->cb_bytes += len;
	r->handed += len;
	if (r->cb_bytes < r->n)
		return 0;
	switch (r->cb_mode) {
	case 1:
		r->said_complete = true;
		return HTTP_BODY_COMPLETE;
	case 2:
		r->said_abort = true;
		return 1;
	case 3:
		if (r->bit7) {
			r->cancelled = true;
			http_call_cancel(r->call);
		} else {
			r->cancel_flag = 1;
		}
		return 0;
	}
	return 0;
}

static void on_done(struct http_call *call, enum http_outcome outcome, const struct http_response *resp, void *arg)
{
	struct run *r = arg;
	FUZZ_ASSERT(!r->in_start);
	FUZZ_ASSERT(!r->cancelled);
	FUZZ_ASSERT(call == r->call);
	FUZZ_ASSERT(++r->done_count == 1);
	r->done = true;
	FUZZ_ASSERT(outcome == XFER_OK || outcome == XFER_NETWORK || outcome == XFER_TIMEOUT ||
		    outcome == XFER_CANCELLED || outcome == XFER_ABORTED);
	FUZZ_ASSERT(resp->error_body.len <= 64 * 1024);
	r->handed += resp->error_body.len;
	if (!r->encoded)
		FUZZ_ASSERT(r->handed <= r->written);
	if (outcome == XFER_OK) {
		FUZZ_ASSERT(resp->status >= 100 && resp->status <= 999);
		FUZZ_ASSERT(resp->error == NULL);
	} else if (resp->error || outcome != XFER_ABORTED) {
		/* An abort is the caller's own doing: it may come without one. */
		FUZZ_ASSERT(resp->error != NULL && resp->error[0] != '\0');
		for (const char *p = resp->error; *p; p++)
			FUZZ_ASSERT((unsigned char)*p >= 0x20 && *p != 0x7f);
	}
	FUZZ_ASSERT(r->said_abort == (outcome == XFER_ABORTED));
	if (r->said_complete)
		FUZZ_ASSERT(outcome == XFER_OK);
}

static void one_call(void)
{
	static const struct http_header headers[] = {
		{"Accept", "*/*"},
		{"Connection", "close"}, /* the client's own: dropped */
	};
	static const char *const methods[] = {"GET", "HEAD", "POST", "GET"};
	bool localhost = run.seed & 1;
	struct http_request req = {
		.method = methods[run.method],
		.url = localhost ? url_localhost : url_ip,
		.headers = headers,
		.n_headers = 2,
		.body = run.method == 2 ? POST_BODY : NULL,
		.body_len = run.method == 2 ? strlen(POST_BODY) : 0,
		.connect_timeout_ms = 1000,
		.idle_timeout_ms = run.server_end == 2 ? 2 : 0,
		.total_timeout_ms = 2000, /* the safety bound: -timeout is 10 s */
		.cancel = &run.cancel_flag,
		.any_status_body = run.method == 3,
	};
	run.host = localhost ? host_localhost : host_ip;
	run.call = NULL;
	run.cancel_flag = 0;
	run.done = run.cancelled = run.said_complete = run.said_abort = false;
	run.any_status = req.any_status_body;
	run.done_count = 0;
	run.cb_bytes = 0;
	run.in_start = true;
	run.call = http_call_start(loop, &req, on_body, on_done, &run);
	run.in_start = false;
	FUZZ_ASSERT(run.call != NULL); /* the built-in client never fails at once */
	FUZZ_ASSERT(!run.done);
	while (!run.done && !run.cancelled)
		event_base_loop(base, EVLOOP_ONCE);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_env_init();
	/* With a proxy set, the built-in client steps aside for libcurl. */
	unsetenv("http_proxy");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	loop = base ? http_loop_new(base) : NULL;
	listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sin;
	if (!loop || listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
	    listen(listen_fd, 64) < 0 || getsockname(listen_fd, (struct sockaddr *)&sin, &len) < 0)
		abort();
	evutil_make_socket_nonblocking(listen_fd);
	int port = ntohs(sin.sin_port);
	snprintf(host_ip, sizeof host_ip, "127.0.0.1:%d", port);
	snprintf(host_localhost, sizeof host_localhost, "localhost:%d", port);
	snprintf(url_ip, sizeof url_ip, "http://%s/v1/fuzz?q=1#frag", host_ip);
	snprintf(url_localhost, sizeof url_localhost, "http://%s/v1/fuzz?q=1", host_localhost);
	accept_ev = event_new(base, listen_fd, EV_READ | EV_PERSIST, on_accept, NULL);
	if (!accept_ev || event_add(accept_ev, NULL) < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	memset(&run, 0, sizeof run);
	run.answer = data + 2;
	run.answer_len = size - 2;
	run.seed = fuzz_hash(data, size);
	run.split = data[0] & 3;
	run.method = (data[0] >> 2) & 3;
	run.cb_mode = (data[0] >> 4) & 3;
	run.second = data[0] & 0x40;
	run.bit7 = data[0] & 0x80;
	run.n = (size_t)(data[1] & 31) * (data[1] & 31);
	run.server_end = data[1] >> 5 < 6 ? 0 : (data[1] >> 5) - 5; /* 0 closes, 1 holds, 2 until idle */
	run.encoded = false;
	for (size_t i = 0; i + 16 <= run.answer_len && !run.encoded; i++)
		run.encoded = strncasecmp((const char *)run.answer + i, "content-encoding", 16) == 0;

	one_call();
	if (run.second)
		one_call();

	/* Nothing carries over to the next input: the pool is emptied, the
	 * server's connections closed, connections not yet accepted too. */
	http_loop_use_builtin(loop, false);
	http_loop_use_builtin(loop, true);
	while (run.conns)
		srv_close(run.conns);
	for (int fd; (fd = accept(listen_fd, NULL, NULL)) >= 0;)
		close(fd);
	return 0;
}
