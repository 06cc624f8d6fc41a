/* test-httpd.c - the proxy's HTTP/1.1 server (httpd.h), byte for byte:
 * raw requests written into one end of a socket pair whose other end the
 * server serves, the loop run until the answers are there, and the bytes
 * that came back compared with what HTTP/1.1 says they must be.
 *
 * The request handler answers by path: /echo with what it was handed
 * (method, path, query, a header, the body), /stream in three chunks,
 * /hold not at once (the test answers, or hangs up, later), and anything
 * over a limit with its status. Every wait is bounded. */
#include "config.h"

#include "buf.h"
#include "httpd.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

static struct event_base *base;
static struct httpd *srv;
static int cli = -1; /* the client's end */
static struct hreq *held;
static int hangups, sent_calls, requests;
static char held_header[64];

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_hangup(void *owner)
{
	(void)owner;
	hangups++;
	held = NULL;
}

static void on_request(struct hreq *r, void *arg)
{
	(void)arg;
	requests++;
	const char *path = hreq_path(r);
	if (hreq_too_large(r)) {
		char body[32];
		int n = snprintf(body, sizeof body, "too large %d", hreq_too_large(r));
		hreq_send_reply(r, hreq_too_large(r), body, (size_t)n);
		return;
	}
	if (strcmp(path, "/echo") == 0) {
		size_t len;
		const char *b = hreq_body(r, &len);
		const char *x = evhttp_find_header(hreq_input_headers(r), "X-Test");
		struct buf out = BUF_INIT;
		buf_printf(&out, "%d %s q=%s x=%s body=", (int)hreq_method(r), path, hreq_query(r) ? hreq_query(r) : "-",
			   x ? x : "-");
		buf_append(&out, b, len);
		evhttp_add_header(hreq_output_headers(r), "Content-Type", "text/plain");
		hreq_send_reply(r, 200, out.data, out.len);
		buf_free(&out);
	} else if (strcmp(path, "/stream") == 0) {
		hreq_send_reply_start(r, 200);
		hreq_send_reply_chunk(r, "a", 1);
		hreq_send_reply_chunk(r, "bc", 2);
		hreq_send_reply_end(r);
	} else if (strcmp(path, "/big") == 0) {
		size_t n = 8 << 20;
		char *b = malloc(n);
		memset(b, 'z', n);
		hreq_send_reply(r, 200, b, n);
		free(b);
	} else if (strcmp(path, "/hold") == 0 || strcmp(path, "/hold-unwatched") == 0) {
		held = r;
		const char *x = evhttp_find_header(hreq_input_headers(r), "X-Test");
		snprintf(held_header, sizeof held_header, "%s", x ? x : "");
		if (strcmp(path, "/hold") == 0)
			hreq_watch(r, on_hangup, NULL);
	} else {
		hreq_send_reply(r, 404, "no", 2);
	}
}

static void on_sent(void *arg)
{
	(void)arg;
	sent_calls++;
}

static void start(size_t max_header, size_t max_body, int timeout_s)
{
	base = event_base_new();
	struct httpd_options o = {max_header, max_body, timeout_s};
	srv = httpd_new(base, &o, on_request, on_sent, NULL);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("socketpair");
		exit(1);
	}
	cli = sv[0];
	fcntl(cli, F_SETFL, fcntl(cli, F_GETFL) | O_NONBLOCK);
	httpd_adopt(srv, sv[1], 4242);
	held = NULL;
	hangups = sent_calls = requests = 0;
}

static void stop(void)
{
	if (cli >= 0)
		close(cli);
	cli = -1;
	httpd_free(srv);
	event_base_free(base);
	srv = NULL;
	base = NULL;
}

static void put(const char *s, size_t n)
{
	size_t off = 0;
	long long until = now_ms() + 3000;
	while (off < n && now_ms() < until) {
		ssize_t w = write(cli, s + off, n - off);
		if (w > 0)
			off += (size_t)w;
		else
			event_base_loop(base, EVLOOP_NONBLOCK);
	}
}

static void puts_(const char *s)
{
	put(s, strlen(s));
}

/* Runs the loop and reads what comes back into out until it holds want
 * (or, with want NULL, until the server closes), for at most ms. Returns
 * whether the server closed its end. */
static bool collect(struct buf *out, const char *want, int ms)
{
	long long until = now_ms() + ms;
	bool closed = false;
	while (now_ms() < until) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		char tmp[65536];
		ssize_t n = read(cli, tmp, sizeof tmp);
		if (n > 0) {
			buf_append(out, tmp, (size_t)n);
			continue;
		}
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
			closed = true;
			break;
		}
		if (want && out->len && strstr(out->data, want))
			break;
		struct pollfd p = {cli, POLLIN, 0};
		poll(&p, 1, 5);
	}
	return closed;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

#define CHECK(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
/* CHECK, and what came back when it fails. */
#define CHECKD(cond, name, got)                                                       \
	do {                                                                          \
		if (!CHECK(cond, "%s", name))                                         \
			printf("#   got: %s\n", got);                                 \
	} while (0)

static void test_keep_alive_and_pipelining(void)
{
	start(8192, 65536, 30);
	struct buf out = BUF_INIT;
	puts_("GET /echo?a=1 HTTP/1.1\r\nHost: x\r\nX-Test:  spaced  \r\n\r\n");
	bool closed = collect(&out, "body=", 2000);
	CHECK(!closed && strncmp(buf_str(&out), "HTTP/1.1 200 OK\r\n", 17) == 0, "a GET is answered 200 and kept alive");
	CHECKD(strstr(buf_str(&out), "Content-Length: 28\r\n") && strstr(buf_str(&out), "\r\n\r\n1 /echo q=a=1 x=spaced body="),
	      "path, query and a trimmed header value reach the handler; Content-Length is the body's", buf_str(&out));
	CHECK(!strstr(buf_str(&out), "Connection:"), "no Connection header on a kept-alive HTTP/1.1 answer");
	buf_reset(&out);
	/* Three at once, one with a body: answered in order. */
	puts_("POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /echo?n=2 HTTP/1.1\r\n\r\n"
	      "\r\nPOST /echo?n=3 HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz");
	closed = collect(&out, "body=xyz", 2000);
	const char *s = buf_str(&out);
	const char *a = strstr(s, "body=hello"), *b = strstr(s, "q=n=2"), *c = strstr(s, "body=xyz");
	CHECKD(!closed && a && b && c && a < b && b < c && count(s, "HTTP/1.1 200 OK") == 3,
	      "three pipelined requests get three answers in order", s);
	CHECK(requests == 4, "four requests handed over (%d)", requests);
	buf_free(&out);
	stop();
}

static void test_one_byte_writes(void)
{
	start(8192, 65536, 30);
	const char *req = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world";
	for (const char *p = req; *p; p++) {
		put(p, 1);
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	struct buf out = BUF_INIT;
	collect(&out, "body=hello world", 2000);
	CHECK(strstr(buf_str(&out), "body=hello world") && requests == 1,
	      "a request written a byte at a time is one request with its whole body");
	buf_free(&out);
	stop();
}

static void test_chunked_body(void)
{
	start(8192, 64, 30);
	struct buf out = BUF_INIT;
	puts_("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	      "5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n");
	bool closed = collect(&out, "body=hello 0123456789", 2000);
	CHECK(!closed && strstr(buf_str(&out), "body=hello 0123456789"), "a chunked body is de-chunked (extension and trailer skipped)");
	buf_reset(&out);
	/* 3 x 30 bytes: over the 64-byte body limit as the chunks arrive. */
	puts_("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1e\r\n");
	for (int i = 0; i < 3; i++)
		puts_("012345678901234567890123456789\r\n1e\r\n");
	closed = collect(&out, NULL, 3000);
	CHECKD(closed && strstr(buf_str(&out), "HTTP/1.1 413 ") && strstr(buf_str(&out), "too large 413") &&
		      strstr(buf_str(&out), "Connection: close"),
	      "a chunked body over the limit is handed over as 413, then the connection closes", buf_str(&out));
	buf_free(&out);
	stop();
}

static void test_expect_continue(void)
{
	start(8192, 65536, 30);
	struct buf out = BUF_INIT;
	puts_("POST /echo HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
	collect(&out, "100 Continue\r\n\r\n", 2000);
	CHECKD(strcmp(buf_str(&out), "HTTP/1.1 100 Continue\r\n\r\n") == 0, "Expect: 100-continue gets 100 before the body", buf_str(&out));
	buf_reset(&out);
	puts_("ping");
	collect(&out, "body=ping", 2000);
	CHECK(strstr(buf_str(&out), "HTTP/1.1 200 OK") && strstr(buf_str(&out), "body=ping"), "then the answer");
	buf_reset(&out);
	/* Over the limit: no 100, the refusal at once. */
	puts_("POST /echo HTTP/1.1\r\nContent-Length: 9999999\r\nExpect: 100-continue\r\n\r\n");
	bool closed = collect(&out, NULL, 3000);
	CHECKD(closed && !strstr(buf_str(&out), "100 Continue") && strstr(buf_str(&out), "HTTP/1.1 413 "),
	      "a declared body over the limit: 413 without 100 Continue, and closed", buf_str(&out));
	buf_free(&out);
	stop();
}

/* A request the server refuses itself: status and a closed connection. */
static void refused(const char *req, const char *status, const char *what)
{
	start(8192, 65536, 30);
	struct buf out = BUF_INIT;
	puts_(req);
	bool closed = collect(&out, NULL, 3000);
	CHECK(closed && strncmp(buf_str(&out), status, strlen(status)) == 0 && requests == 0 &&
		      strstr(buf_str(&out), "Connection: close"),
	      "%s: %s and closed, never handed over", what, status);
	buf_free(&out);
	stop();
}

static void test_refusals(void)
{
	refused("POST /echo HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 400 ", "Content-Length with Transfer-Encoding (smuggling)");
	refused("POST /echo HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "HTTP/1.1 400 ",
		"two different Content-Lengths");
	refused("POST /echo HTTP/1.1\r\nContent-Length: -3\r\n\r\n", "HTTP/1.1 400 ", "a negative Content-Length");
	refused("POST /echo HTTP/1.1\r\nContent-Length: 3x\r\n\r\n", "HTTP/1.1 400 ", "a Content-Length with a letter");
	refused("POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 501 ", "a transfer coding other than chunked");
	refused("GET /echo HTTP/2.0\r\n\r\n", "HTTP/1.1 505 ", "HTTP/2.0 on this port");
	refused("GET /echo\r\n\r\n", "HTTP/1.1 400 ", "no version (HTTP/0.9)");
	refused("GET  /echo HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ", "two spaces in the request line");
	refused("GET /e cho HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ", "a space in the target");
	refused("BREW /echo HTTP/1.1\r\n\r\n", "HTTP/1.1 501 ", "an unknown method");
	refused("HEAD /echo HTTP/1.1\r\n\r\n", "HTTP/1.1 405 ", "HEAD (not served)");
	refused("GET /echo HTTP/1.1\r\nX-Test: a\r\n folded\r\n\r\n", "HTTP/1.1 400 ", "an obsolete folded header line");
	refused("GET /echo HTTP/1.1\r\nX-Test : a\r\n\r\n", "HTTP/1.1 400 ", "a space before a header's colon");
	refused("GET /echo HTTP/1.1\r\nNoColon\r\n\r\n", "HTTP/1.1 400 ", "a header line without a colon");
	refused("GET /echo HTTP/1.1\r\nX-Test: a\rb\r\n\r\n", "HTTP/1.1 400 ", "a bare CR inside a header value");
	static const char nul[] = "GET /echo HTTP/1.1\r\nX-Test: a\0b\r\n\r\n";
	start(8192, 65536, 30);
	struct buf out = BUF_INIT;
	put(nul, sizeof nul - 1);
	bool closed = collect(&out, NULL, 3000);
	CHECK(closed && strncmp(buf_str(&out), "HTTP/1.1 400 ", 13) == 0 && requests == 0, "a NUL inside a header value: 400");
	buf_free(&out);
	stop();
	refused("POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "HTTP/1.1 400 ",
		"chunked from an HTTP/1.0 client");
	refused("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "HTTP/1.1 400 ", "a chunk size that is not hex");
}

static void test_limits(void)
{
	/* A head that has not ended within the limit: handed over with its
	 * request line only, for an answer in the client's dialect. */
	start(1024, 65536, 30);
	struct buf out = BUF_INIT;
	puts_("GET /echo HTTP/1.1\r\nX-Pad: ");
	for (int i = 0; i < 40; i++)
		puts_("pppppppppppppppppppppppppppppppppppppppppppppppppp");
	bool closed = collect(&out, NULL, 3000);
	CHECKD(closed && strstr(buf_str(&out), "HTTP/1.1 431 ") && strstr(buf_str(&out), "too large 431") && requests == 1,
	      "headers past the limit: handed over as 431, then closed", buf_str(&out));
	buf_free(&out);
	stop();
	/* A request line alone past the limit (and past 64 KiB): a bare 431. */
	start(1024, 65536, 30);
	puts_("GET /");
	for (int i = 0; i < 1400; i++)
		puts_("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	closed = collect(&out, NULL, 3000);
	CHECK(closed && strncmp(buf_str(&out), "HTTP/1.1 431 ", 13) == 0 && requests == 0,
	      "a request line of 70 KB: a bare 431, never handed over");
	buf_free(&out);
	stop();
	/* A declared body over the limit is refused before it is read. */
	start(8192, 100, 30);
	puts_("POST /echo HTTP/1.1\r\nContent-Length: 101\r\n\r\n");
	closed = collect(&out, NULL, 3000);
	CHECK(closed && strstr(buf_str(&out), "HTTP/1.1 413 ") && strstr(buf_str(&out), "too large 413"),
	      "Content-Length one over the limit: 413 at once, closed");
	buf_reset(&out);
	stop();
	start(8192, 100, 30);
	puts_("POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\n");
	for (int i = 0; i < 10; i++)
		puts_("0123456789");
	closed = collect(&out, "body=0123", 2000);
	CHECK(!closed && strstr(buf_str(&out), "HTTP/1.1 200 "), "a body at the limit is served");
	buf_free(&out);
	stop();
}

static void test_connection_header_and_http10(void)
{
	start(8192, 65536, 30);
	struct buf out = BUF_INIT;
	puts_("GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n");
	bool closed = collect(&out, NULL, 3000);
	CHECK(closed && strstr(buf_str(&out), "Connection: close\r\n"), "Connection: close is honoured and said");
	buf_free(&out);
	stop();
	start(8192, 65536, 30);
	puts_("GET /echo HTTP/1.0\r\n\r\n");
	closed = collect(&out, NULL, 3000);
	CHECK(closed && strstr(buf_str(&out), "Connection: close\r\n"), "HTTP/1.0 without keep-alive: closed after the answer");
	buf_free(&out);
	stop();
	start(8192, 65536, 30);
	puts_("GET /echo HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
	closed = collect(&out, "body=", 2000);
	CHECK(!closed && strstr(buf_str(&out), "Connection: keep-alive\r\n"), "HTTP/1.0 keep-alive: kept, and said");
	buf_reset(&out);
	puts_("GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	closed = collect(&out, NULL, 3000);
	const char *body = strstr(buf_str(&out), "\r\n\r\n");
	CHECKD(closed && body && strcmp(body, "\r\n\r\nabc") == 0 && !strstr(buf_str(&out), "chunked"),
	      "a stream to HTTP/1.0 is not chunked and ends with the connection", buf_str(&out));
	buf_free(&out);
	stop();
}

static void test_stream(void)
{
	start(8192, 65536, 30);
	struct buf out = BUF_INIT;
	puts_("GET /stream HTTP/1.1\r\n\r\n");
	bool closed = collect(&out, "0\r\n\r\n", 2000);
	const char *body = strstr(buf_str(&out), "\r\n\r\n");
	CHECKD(!closed && strstr(buf_str(&out), "Transfer-Encoding: chunked\r\n") && body &&
		      strcmp(body, "\r\n\r\n1\r\na\r\n2\r\nbc\r\n0\r\n\r\n") == 0,
	      "a stream is chunked, each chunk framed, and the connection kept", buf_str(&out));
	CHECK(!strstr(buf_str(&out), "Content-Length"), "no Content-Length on a stream");
	buf_free(&out);
	stop();
}

static void test_hangups(void)
{
	start(8192, 65536, 30);
	struct buf out = BUF_INIT;
	puts_("POST /hold HTTP/1.1\r\nX-Test: kept\r\nContent-Length: 2\r\n\r\nhi");
	collect(&out, "never", 200);
	CHECK(held != NULL && hangups == 0, "a held request waits");
	close(cli);
	cli = -1;
	for (int i = 0; i < 100 && !hangups; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK(hangups == 1 && httpd_connections(srv) == 0, "the client hanging up is reported at once, once");
	stop();

	/* Unwatched: the request outlives its connection; the late answer
	 * goes nowhere and frees it (ASan watches). */
	start(8192, 65536, 30);
	puts_("POST /hold-unwatched HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
	collect(&out, "never", 200);
	struct hreq *r = held;
	close(cli);
	cli = -1;
	for (int i = 0; i < 50; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	size_t len;
	const char *b = r ? hreq_body(r, &len) : NULL;
	CHECK(r && hangups == 0 && b && len == 2 && memcmp(b, "hi", 2) == 0,
	      "an unwatched request keeps its body after its client has gone");
	if (r)
		hreq_send_reply(r, 200, "late", 4);
	stop();

	/* Watched and answered: its headers stay readable until unwatched. */
	start(8192, 65536, 30);
	puts_("GET /hold HTTP/1.1\r\nX-Test: still\r\n\r\n");
	collect(&out, "never", 200);
	r = held;
	if (r) {
		hreq_send_reply(r, 200, "ok", 2);
		const char *x = evhttp_find_header(hreq_input_headers(r), "X-Test");
		CHECK(x && strcmp(x, "still") == 0, "an answered watched request's headers are readable");
		hreq_unwatch(r);
	} else {
		CHECK(0, "an answered watched request's headers are readable");
	}
	buf_reset(&out);
	collect(&out, "\r\n\r\nok", 2000);
	CHECK(strstr(buf_str(&out), "HTTP/1.1 200 OK") && hangups == 0, "and the answer went out, no hang-up reported");
	buf_free(&out);
	stop();
}

static void test_timeouts(void)
{
	/* A request that does not arrive whole within the timeout. */
	start(8192, 65536, 1);
	puts_("GET /echo HTTP/1.1\r\nX-Slow: ");
	struct buf out = BUF_INIT;
	long long t0 = now_ms();
	bool closed = collect(&out, NULL, 4000);
	long long took = now_ms() - t0;
	CHECK(closed && out.len == 0 && took >= 900 && took < 3000, "a partial request is dropped after the timeout (%lld ms)",
	      took);
	stop();
	/* An idle kept-alive connection, after its answer. */
	start(8192, 65536, 1);
	puts_("GET /echo HTTP/1.1\r\n\r\n");
	t0 = now_ms();
	closed = collect(&out, NULL, 4000);
	took = now_ms() - t0;
	CHECK(closed && strstr(buf_str(&out), "HTTP/1.1 200 ") && took >= 900, "an idle kept-alive connection is closed after the timeout");
	buf_reset(&out);
	stop();
	/* A held request is not cut by the request timeout. */
	start(8192, 65536, 1);
	puts_("GET /hold HTTP/1.1\r\n\r\n");
	collect(&out, "never", 2000);
	CHECK(held && hangups == 0 && httpd_connections(srv) == 1, "no read timeout while a request is answered");
	if (held)
		hreq_send_reply(held, 200, "x", 1);
	/* held was watched: its answer keeps it for the watcher. */
	stop();
	/* A client that reads nothing of a large answer is dropped after the
	 * timeout, and the answer counted as sent. */
	start(8192, 65536, 1);
	puts_("GET /big HTTP/1.1\r\n\r\n");
	t0 = now_ms();
	for (int i = 0; i < 400 && httpd_connections(srv) > 0; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		struct timespec ts = {0, 10 * 1000000L};
		nanosleep(&ts, NULL);
	}
	took = now_ms() - t0;
	CHECK(httpd_connections(srv) == 0 && took >= 900 && sent_calls == 1 && httpd_sending(srv) == 0,
	      "a client taking in nothing is dropped after the write timeout (%lld ms), the answer no longer counted", took);
	buf_free(&out);
	stop();
}

/* A client that sends on without reading its answer is not read from
 * without bound: its writes block once the socket buffers are full. */
static void test_backpressure(void)
{
	start(8192, 65536, 30);
	puts_("GET /big HTTP/1.1\r\n\r\n");
	char chunk[4096];
	memset(chunk, 'G', sizeof chunk);
	size_t written = 0;
	for (int i = 0; i < 2000 && written < (16u << 20); i++) {
		ssize_t w = write(cli, chunk, sizeof chunk);
		if (w > 0)
			written += (size_t)w;
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	CHECK(written < (4u << 20), "pipelined bytes behind an unread answer: the client could write %zu bytes", written);
	CHECK(httpd_connections(srv) == 1, "and the connection is still served");
	stop();
}

static void test_leading_empty_lines_and_absolute_form(void)
{
	start(8192, 65536, 30);
	struct buf out = BUF_INIT;
	puts_("\r\n\r\nGET http://example.com/echo?z=9 HTTP/1.1\r\n\r\n");
	collect(&out, "body=", 2000);
	CHECKD(strstr(buf_str(&out), "1 /echo q=z=9 "), "empty lines before the request line; an absolute-form target's path", buf_str(&out));
	buf_free(&out);
	stop();
}

/* Bodies of a declared length past one read's room: one under and one
 * over what the server reserves at once for a body (4 MiB), each followed
 * by a pipelined request in the same writes. Numbered records make any
 * byte lost, doubled or moved show. */
static void test_big_bodies(void)
{
	static const size_t sizes[] = {300 * 1024 + 5, (6u << 20) + 3};
	for (size_t t = 0; t < sizeof sizes / sizeof *sizes; t++) {
		size_t n = sizes[t];
		start(8192, 16u << 20, 30);
		struct buf req = BUF_INIT, out = BUF_INIT;
		buf_printf(&req, "POST /echo HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", n);
		size_t body_at = req.len;
		for (size_t i = 0; req.len - body_at < n; i++)
			buf_printf(&req, "%08zu,", i);
		req.len = body_at + n;
		static const char after[] = "GET /echo?after HTTP/1.1\r\n\r\n";
		buf_append(&req, after, sizeof after - 1);
		put(req.data, req.len);
		collect(&out, "q=after", 10000);
		const char *got = memmem(out.data, out.len, "body=", 5);
		bool same = got && (size_t)(out.data + out.len - got) > 5 + n && memcmp(got + 5, req.data + body_at, n) == 0;
		CHECK(same && requests == 2, "a body of %zu bytes arrives whole and in order, and the request after it is read",
		      n);
		buf_free(&req);
		buf_free(&out);
		stop();
	}
}

int main(void)
{
	test_keep_alive_and_pipelining();
	test_one_byte_writes();
	test_chunked_body();
	test_expect_continue();
	test_refusals();
	test_limits();
	test_connection_header_and_http10();
	test_stream();
	test_hangups();
	test_timeouts();
	test_backpressure();
	test_leading_empty_lines_and_absolute_form();
	test_big_bodies();
	return tap_done();
}
