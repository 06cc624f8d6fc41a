/* http1.c - the built-in HTTP/1.1 client for plain-HTTP upstreams at a
 * literal address or localhost. See http1.h.
 *
 * One call is a state machine over one connection: connect (or take a
 * kept-alive connection from the pool), write the request, read the
 * status line and headers, then the body framed by Content-Length, by
 * chunks, or by the connection closing. A bufferevent connects and writes
 * what one send() could not; reading is this file's own (conn_read): a
 * bufferevent asks the kernel how much is waiting (an ioctl) before each
 * read, a system call per read that a loopback upstream feels. Body bytes
 * go through transfer_body (http-internal.h) exactly as libcurl's do, inflated first
 * when the server compressed them unasked. A connection whose response
 * ended cleanly goes back to the pool; a request that fails on a pooled
 * connection before any byte of an answer is sent once more on a new one
 * (the server closed it while it sat idle). */
#include "config.h"

#include "http1.h"
#include "http-internal.h"
#include "buf.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <zlib.h>

#define HEAD_CAP (64 * 1024)   /* a response's status line and headers, together */
#define IDLE_CONNS_MAX 256     /* pooled connections, all hosts together */
#define IDLE_CONN_SECONDS 60   /* a pooled connection unused this long is closed */
#define INFLATE_CHUNK 16384
#define H1_MAX_HEADERS 128     /* a request's; the proxy sends at most 64 */
#define READ_CHUNK 16384       /* room offered to one read */

struct h1_call;

struct h1_conn {
	struct bufferevent *bev; /* connects, and writes what send() left; never reads */
	struct event *rev;       /* readable, or idle too long; added from connected to freed */
	struct evbuffer *in;     /* read, not yet parsed; made with rev */
	struct h1_call *call;    /* the call on it; NULL while pooled */
	struct h1_pool *pool;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct h1_conn *prev, *next; /* in the pool's idle list */
};

struct h1_pool {
	struct event_base *base;
	bool proxied;          /* a proxy is set in the environment: libcurl's job */
	struct h1_conn *idle;  /* most recently used first */
	size_t n_idle;
};

enum h1_state {
	H_CONNECT,
	H_STATUS,
	H_HEADERS,
	H_BODY,        /* Content-Length bytes */
	H_CHUNK_SIZE,
	H_CHUNK_DATA,
	H_CHUNK_END,   /* the CRLF after a chunk's data */
	H_TRAILERS,
	H_UNTIL_CLOSE, /* no length given: the body ends with the connection */
	H_DONE,
};

struct h1_call {
	struct h1_pool *pool;
	struct transfer *t;
	h1_done_fn done;
	void *arg;
	struct h1_conn *conn;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char *request;        /* head and body, kept until an answer starts (for a retry) */
	size_t request_len;
	long connect_ms;
	struct event *timer;  /* total timeout; the grace after HTTP_BODY_COMPLETE; a deferred end */
	enum h1_state state;
	long status;
	uint64_t left;        /* bytes of the body or chunk still to come */
	uint64_t length;      /* Content-Length, when has_length */
	size_t head_bytes;
	z_stream *z;          /* inflating a gzip or deflate body */
	enum xfer_end deferred_end; /* an end reached inside h1_start */
	const char *deferred_msg;
	int in_callback;
	bool head_request;
	bool keep_alive;
	bool has_length;
	bool chunked;
	bool until_close;     /* Transfer-Encoding without chunked last */
	bool reused;          /* on a connection from the pool */
	bool retried;
	bool got_bytes;       /* some byte of an answer arrived */
	bool localhost;       /* "localhost": 127.0.0.1, then ::1 */
	bool tried_v6;
	bool starting;        /* inside h1_start: ends are deferred */
	bool deferred;
	bool grace_armed;
	bool cancelled;       /* h1_cancel from inside a callback */
};

static void on_readable(evutil_socket_t fd, short what, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

static struct timeval ms_tv(long ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	return tv;
}

/* ---- the pool ---- */

struct h1_pool *h1_pool_new(struct event_base *base)
{
	struct h1_pool *pool = xcalloc(1, sizeof *pool);
	pool->base = base;
	/* libcurl honours these for http:// URLs (HTTP_PROXY in capitals
	 * it ignores, as a CGI hazard); so does this by stepping aside. */
	static const char *const vars[] = {"http_proxy", "all_proxy", "ALL_PROXY"};
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
		const char *v = getenv(vars[i]);
		if (v && *v)
			pool->proxied = true;
	}
	return pool;
}

static void conn_free(struct h1_conn *conn)
{
	if (!conn)
		return;
	if (conn->rev)
		event_free(conn->rev); /* before the bufferevent closes the socket */
	if (conn->in)
		evbuffer_free(conn->in);
	bufferevent_free(conn->bev);
	free(conn);
}

/* Reading on: bytes, end of file or errors go to on_readable, and so does
 * ms without any of them (0: no limit). Adding it again only moves the
 * deadline: no system call. */
static void conn_read_on(struct h1_conn *conn, long ms)
{
	if (!conn->rev) {
		conn->rev = event_new(conn->pool->base, bufferevent_getfd(conn->bev), EV_READ | EV_PERSIST, on_readable, conn);
		conn->in = evbuffer_new();
		if (!conn->rev || !conn->in)
			abort(); /* out of memory, as xcalloc would */
	}
	struct timeval tv = ms_tv(ms);
	event_add(conn->rev, ms > 0 ? &tv : NULL);
}

/* One read into conn->in: the byte count, 0 at end of file, -1 with errno
 * set (EAGAIN: nothing waiting). */
static ssize_t conn_read(struct h1_conn *conn)
{
	struct evbuffer_iovec v[2];
	int nv = evbuffer_reserve_space(conn->in, READ_CHUNK, v, 2);
	if (nv <= 0) {
		errno = ENOMEM;
		return -1;
	}
	struct iovec iov[2];
	for (int i = 0; i < nv; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	ssize_t n;
	do
		n = readv(bufferevent_getfd(conn->bev), iov, nv);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		int saved = errno;
		evbuffer_commit_space(conn->in, v, 0);
		errno = saved;
		return n;
	}
	size_t left = (size_t)n;
	int used = 0;
	for (; used < nv && left > 0; used++) {
		if (v[used].iov_len > left)
			v[used].iov_len = left;
		left -= v[used].iov_len;
	}
	evbuffer_commit_space(conn->in, v, used);
	return n;
}

static void idle_unlink(struct h1_conn *conn)
{
	struct h1_pool *pool = conn->pool;
	if (conn->prev)
		conn->prev->next = conn->next;
	else
		pool->idle = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
	conn->prev = conn->next = NULL;
	pool->n_idle--;
}

/* A pooled connection that speaks or closes (or errs, or was idle too
 * long) is no longer usable. */
static void on_idle_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	struct h1_conn *conn = arg;
	idle_unlink(conn);
	conn_free(conn);
}

static void pool_put(struct h1_pool *pool, struct h1_conn *conn)
{
	if (pool->n_idle >= IDLE_CONNS_MAX || !conn->rev) {
		conn_free(conn);
		return;
	}
	conn->call = NULL;
	bufferevent_setcb(conn->bev, NULL, NULL, on_idle_event, conn);
	bufferevent_set_timeouts(conn->bev, NULL, NULL);
	conn_read_on(conn, IDLE_CONN_SECONDS * 1000L);
	conn->next = pool->idle;
	if (pool->idle)
		pool->idle->prev = conn;
	pool->idle = conn;
	pool->n_idle++;
}

static struct h1_conn *pool_take(struct h1_pool *pool, const struct sockaddr_storage *addr, socklen_t len)
{
	for (struct h1_conn *conn = pool->idle; conn; conn = conn->next)
		if (conn->addrlen == len && memcmp(&conn->addr, addr, len) == 0) {
			idle_unlink(conn);
			return conn;
		}
	return NULL;
}

void h1_pool_free(struct h1_pool *pool)
{
	if (!pool)
		return;
	while (pool->idle) {
		struct h1_conn *conn = pool->idle;
		idle_unlink(conn);
		conn_free(conn);
	}
	free(pool);
}

/* ---- URLs ---- */

struct target {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	bool localhost;
	const char *authority; /* host[:port] as written, for Host */
	size_t authority_len;
	const char *path;      /* from the first '/' or '?' on; "" for "/" */
	size_t path_len;       /* up to a fragment */
};

static bool parse_url(const char *url, struct target *tg)
{
	if (strncasecmp(url, "http://", 7) != 0)
		return false;
	const char *a = url + 7;
	size_t alen = strcspn(a, "/?#");
	if (alen == 0 || memchr(a, '@', alen))
		return false;
	tg->authority = a;
	tg->authority_len = alen;
	tg->path = a + alen;
	tg->path_len = strcspn(tg->path, "#");
	const char *host = a, *port = NULL;
	size_t hlen = alen, plen = 0;
	if (*a == '[') {
		const char *close = memchr(a, ']', alen);
		if (!close)
			return false;
		host = a + 1;
		hlen = (size_t)(close - host);
		if (close + 1 < a + alen) {
			if (close[1] != ':')
				return false;
			port = close + 2;
			plen = (size_t)(a + alen - port);
		}
	} else {
		const char *colon = memchr(a, ':', alen);
		if (colon) {
			hlen = (size_t)(colon - a);
			port = colon + 1;
			plen = (size_t)(a + alen - port);
		}
	}
	unsigned long pn = 80;
	if (port) {
		if (plen == 0 || plen > 5)
			return false;
		pn = 0;
		for (size_t i = 0; i < plen; i++) {
			if (port[i] < '0' || port[i] > '9')
				return false;
			pn = pn * 10 + (unsigned long)(port[i] - '0');
		}
		if (pn == 0 || pn > 65535)
			return false;
	}
	char name[64];
	if (hlen == 0 || hlen >= sizeof name)
		return false;
	memcpy(name, host, hlen);
	name[hlen] = '\0';
	memset(&tg->addr, 0, sizeof tg->addr);
	tg->localhost = false;
	if (*a == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&tg->addr;
		if (inet_pton(AF_INET6, name, &s6->sin6_addr) != 1)
			return false; /* zone ids and the like: libcurl */
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)pn);
		tg->addrlen = sizeof *s6;
		return true;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)&tg->addr;
	if (strcasecmp(name, "localhost") == 0) {
		tg->localhost = true;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (inet_pton(AF_INET, name, &s4->sin_addr) != 1) {
		return false; /* a host name: libcurl resolves it */
	}
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)pn);
	tg->addrlen = sizeof *s4;
	return true;
}

bool h1_serves(const struct h1_pool *pool, const char *url)
{
	struct target tg;
	return pool && !pool->proxied && parse_url(url, &tg);
}

/* ---- the request ---- */

/* tchar (RFC 9110), as a table: this runs for every header of every request. */
static bool is_tchar(unsigned char ch)
{
	static const char *const extra = "!#$%&'*+-.^_`|~";
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && ch < 0x80 && strchr(extra, ch));
}

/* The length of s when it is a token, else 0. */
static size_t token_len(const char *s)
{
	size_t n = 0;
	while (s[n] && is_tchar((unsigned char)s[n]))
		n++;
	return s[n] ? 0 : n;
}

/* The length of s when it holds no CR or LF, else SIZE_MAX. */
static size_t value_len(const char *s)
{
	size_t n = strcspn(s, "\r\n");
	return s[n] ? SIZE_MAX : n;
}

/* Headers the framing depends on are this client's to write. */
static bool reserved_header(const char *name, size_t len)
{
	static const char *const names[] = {"host", "content-length", "transfer-encoding", "connection",
					    "expect", "keep-alive", "te", "upgrade"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strlen(names[i]) == len && strcasecmp(name, names[i]) == 0)
			return true;
	return false;
}

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define PUT_LIT(p, lit) put((p), (lit), sizeof(lit) - 1)

/* The request's head and body in one piece, or NULL with *why set. */
static char *build_request(const struct http_request *req, const struct target *tg, size_t *len, const char **why)
{
	const char *method = req->method ? req->method : req->body ? "POST" : "GET";
	size_t mlen = token_len(method);
	if (!mlen) {
		*why = "the request method is not a token";
		return NULL;
	}
	for (size_t i = 0; i < tg->path_len; i++)
		if ((unsigned char)tg->path[i] <= ' ' || tg->path[i] == 0x7f) {
			*why = "the URL holds a space or a control character";
			return NULL;
		}
	/* Measure, then write once. */
	size_t nlen[H1_MAX_HEADERS], vlen[H1_MAX_HEADERS];
	size_t nh = req->n_headers;
	if (nh > H1_MAX_HEADERS) {
		*why = "too many request headers";
		return NULL;
	}
	bool agent = false;
	const char *ua = http_user_agent();
	size_t total = mlen + 1 + 1 + tg->path_len + sizeof " HTTP/1.1\r\nHost: \r\n" + tg->authority_len;
	for (size_t i = 0; i < nh; i++) {
		const struct http_header *h = &req->headers[i];
		nlen[i] = token_len(h->name);
		vlen[i] = value_len(h->value);
		if (!nlen[i] || vlen[i] == SIZE_MAX) {
			*why = "a request header holds a control character";
			return NULL;
		}
		/* An empty value drops the header, as with libcurl. */
		if (reserved_header(h->name, nlen[i]) || !vlen[i]) {
			nlen[i] = 0;
			continue;
		}
		if (nlen[i] == 10 && strcasecmp(h->name, "user-agent") == 0)
			agent = true;
		total += nlen[i] + 2 + vlen[i] + 2;
	}
	if (!agent)
		total += sizeof "User-Agent: \r\n" + strlen(ua);
	bool with_length = req->body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
			   strcmp(method, "PATCH") == 0;
	char clen[48] = "Content-Length: ";
	size_t clen_len = 0;
	if (with_length) {
		clen_len = strlen(clen);
		clen_len += ull_to_dec(clen + clen_len, req->body ? req->body_len : 0);
		clen[clen_len++] = '\r';
		clen[clen_len++] = '\n';
	}
	size_t body_len = req->body ? req->body_len : 0;
	total += clen_len + 2 + body_len;
	char *out = xmalloc(total), *p = out;
	p = put(p, method, mlen);
	*p++ = ' ';
	if (tg->path_len == 0 || tg->path[0] != '/')
		*p++ = '/';
	p = put(p, tg->path, tg->path_len);
	p = PUT_LIT(p, " HTTP/1.1\r\nHost: ");
	p = put(p, tg->authority, tg->authority_len);
	p = PUT_LIT(p, "\r\n");
	for (size_t i = 0; i < nh; i++) {
		if (!nlen[i])
			continue;
		p = put(p, req->headers[i].name, nlen[i]);
		p = PUT_LIT(p, ": ");
		p = put(p, req->headers[i].value, vlen[i]);
		p = PUT_LIT(p, "\r\n");
	}
	if (!agent) {
		p = PUT_LIT(p, "User-Agent: ");
		p = put(p, ua, strlen(ua));
		p = PUT_LIT(p, "\r\n");
	}
	p = put(p, clen, clen_len);
	p = PUT_LIT(p, "\r\n");
	if (body_len)
		p = put(p, req->body, body_len);
	*len = (size_t)(p - out);
	return out;
}

/* ---- ending a call ---- */

static void call_free(struct h1_call *c)
{
	conn_free(c->conn);
	if (c->timer)
		event_free(c->timer);
	if (c->z) {
		inflateEnd(c->z);
		free(c->z);
	}
	free(c->request);
	free(c);
}

/* Ends the call: its connection back to the pool when reuse is true (the
 * response ended cleanly), the transfer concluded, done called, c freed. */
static void finish(struct h1_call *c, enum xfer_end end, const char *msg, bool reuse)
{
	if (c->starting) {
		/* done must not run inside h1_start: report from the loop. */
		if (!c->deferred) {
			c->deferred = true;
			c->deferred_end = end;
			c->deferred_msg = msg;
			evtimer_del(c->timer);
			event_active(c->timer, EV_TIMEOUT, 0);
		}
		return;
	}
	/* The callback had the whole answer: whatever ends the transfer after
	 * that (the idle timeout, bytes past the answer that do not parse, a
	 * cancel) is a success, as with libcurl (transfer_finish). */
	if (c->t->callback_complete)
		end = END_DONE;
	struct h1_conn *conn = c->conn;
	c->conn = NULL;
	/* A connection goes back only with nothing of this call left on it:
	 * no byte read past the answer, and none of the request unsent (a
	 * server may answer before it has read the whole body; the rest
	 * would go out ahead of the next request). */
	if (conn && reuse && c->keep_alive && conn->in && evbuffer_get_length(conn->in) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0)
		pool_put(c->pool, conn);
	else
		conn_free(conn);
	enum http_outcome outcome = transfer_conclude(c->t, end, msg);
	h1_done_fn done = c->done;
	void *arg = c->arg;
	call_free(c);
	done(arg, outcome);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct h1_call *c = arg;
	if (c->deferred)
		finish(c, c->deferred_end, c->deferred_msg, false);
	else if (c->t->callback_complete)
		finish(c, END_DONE, NULL, false); /* the server held a whole answer open */
	else
		finish(c, END_TOTAL, NULL, false);
}

/* ---- connecting ---- */

/* Takes a pooled connection for c and sends the request on it. */
static void conn_attach(struct h1_call *c, struct h1_conn *conn)
{
	c->conn = conn;
	conn->call = c;
	struct timeval idle = ms_tv(c->t->idle_ms);
	bufferevent_setcb(conn->bev, NULL, NULL, on_event, c);
	bufferevent_set_timeouts(conn->bev, NULL, &idle);
	conn_read_on(conn, c->t->idle_ms);
	/* Reading stays on, as in the pool. The request goes out with one
	 * send(): an idle socket takes a request whole, where the bufferevent
	 * would wait a turn of the loop and switch writing on and off (two
	 * epoll_ctl calls). What does not fit, or fails (then the bufferevent
	 * finds the error, and on_event retries on a new connection), is left
	 * to the bufferevent. */
	ssize_t n = send(bufferevent_getfd(conn->bev), c->request, c->request_len, MSG_NOSIGNAL);
	size_t sent = n > 0 ? (size_t)n : 0;
	if (sent < c->request_len) {
		bufferevent_enable(conn->bev, EV_WRITE);
		bufferevent_write(conn->bev, c->request + sent, c->request_len - sent);
	}
}

/* Sends the request on a pooled connection to c's address, or on a new
 * one (then the write waits for the connection). */
static void send_request(struct h1_call *c, bool may_reuse)
{
	struct h1_conn *conn = may_reuse ? pool_take(c->pool, &c->addr, c->addrlen) : NULL;
	c->reused = conn != NULL;
	c->state = H_STATUS;
	if (conn) {
		conn_attach(c, conn);
		return;
	}
	struct bufferevent *bev = bufferevent_socket_new(c->pool->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		finish(c, END_OTHER, "cannot create a socket", false);
		return;
	}
	conn = xcalloc(1, sizeof *conn);
	conn->bev = bev;
	conn->pool = c->pool;
	conn->addr = c->addr;
	conn->addrlen = c->addrlen;
	conn->call = c;
	c->conn = conn;
	c->state = H_CONNECT;
	struct timeval connect = ms_tv(c->connect_ms);
	bufferevent_setcb(bev, NULL, NULL, on_event, c);
	/* While connecting, the write timeout is the connect timeout; reading
	 * starts once connected. */
	bufferevent_set_timeouts(bev, NULL, &connect);
	bufferevent_enable(bev, EV_WRITE);
	bufferevent_write(bev, c->request, c->request_len);
	/* A refusal may be reported at once, through on_event. */
	if (bufferevent_socket_connect(bev, (struct sockaddr *)&c->addr, (int)c->addrlen) < 0)
		on_event(bev, BEV_EVENT_ERROR, c);
}

/* "localhost" that refused on 127.0.0.1: ::1, as a resolver would offer. */
static bool try_v6(struct h1_call *c)
{
	if (!c->localhost || c->tried_v6)
		return false;
	c->tried_v6 = true;
	in_port_t port = ((struct sockaddr_in *)&c->addr)->sin_port;
	memset(&c->addr, 0, sizeof c->addr);
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&c->addr;
	s6->sin6_family = AF_INET6;
	s6->sin6_addr = in6addr_loopback;
	s6->sin6_port = port;
	c->addrlen = sizeof *s6;
	conn_free(c->conn);
	c->conn = NULL;
	send_request(c, true);
	return true;
}

/* ---- the response ---- */

/* Body bytes (compressed or not) to the transfer. Returns false when c
 * has ended (and is freed): cancelled from the callback, or told to stop. */
static bool deliver(struct h1_call *c, const char *data, size_t len)
{
	bool ok = true;
	c->in_callback++;
	if (!c->z) {
		ok = transfer_body(c->t, c->status, data, len);
	} else {
		c->z->next_in = (Bytef *)data;
		c->z->avail_in = (uInt)len;
		unsigned char out[INFLATE_CHUNK];
		while (ok && !c->cancelled && c->z->avail_in > 0) {
			c->z->next_out = out;
			c->z->avail_out = sizeof out;
			int zrc = inflate(c->z, Z_NO_FLUSH);
			size_t n = sizeof out - c->z->avail_out;
			if (n)
				ok = transfer_body(c->t, c->status, (const char *)out, n);
			if (zrc == Z_STREAM_END)
				break; /* anything after the compressed stream is ignored */
			if (ok && zrc != Z_OK && zrc != Z_BUF_ERROR) {
				c->in_callback--;
				if (c->cancelled) {
					call_free(c);
					return false;
				}
				finish(c, END_OTHER, "the upstream's compressed body is corrupt", false);
				return false;
			}
			if (zrc == Z_BUF_ERROR && n == 0)
				break;
		}
	}
	c->in_callback--;
	if (c->cancelled) {
		call_free(c);
		return false;
	}
	if (!ok) {
		finish(c, END_CALLBACK, NULL, false);
		return false;
	}
	if (c->t->callback_complete && !c->grace_armed) {
		c->grace_armed = true;
		struct timeval tv = ms_tv(COMPLETE_GRACE_MS);
		evtimer_add(c->timer, &tv);
	}
	return true;
}

static bool token_in(const char *v, size_t vlen, const char *token)
{
	size_t tl = strlen(token);
	for (size_t i = 0; i < vlen;) {
		while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t j = i;
		while (j < vlen && v[j] != ',')
			j++;
		size_t e = j;
		while (e > i && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - i == tl && strncasecmp(v + i, token, tl) == 0)
			return true;
		i = j;
	}
	return false;
}

/* The last comma-separated token of v is token. */
static bool last_token_is(const char *v, size_t vlen, const char *token)
{
	while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	size_t i = vlen;
	while (i && v[i - 1] != ',')
		i--;
	while (i < vlen && (v[i] == ' ' || v[i] == '\t'))
		i++;
	size_t tl = strlen(token);
	return vlen - i == tl && strncasecmp(v + i, token, tl) == 0;
}

/* A header of the response: recorded for the caller, and read for the
 * framing. Returns an error message, or NULL. */
static const char *on_header(struct h1_call *c, const char *line, size_t len)
{
	if (line[0] == ' ' || line[0] == '\t')
		return "the upstream folded a header line (obsolete HTTP)";
	size_t nlen, vlen;
	const char *v;
	if (!http_header_split(line, len, &nlen, &v, &vlen) || nlen == 0)
		return "the upstream sent a malformed header";
	transfer_header_line(c->t, line, len);
	if (nlen == 14 && strncasecmp(line, "content-length", 14) == 0) {
		uint64_t n = 0;
		if (vlen == 0 || vlen > 18)
			return "the upstream sent a malformed Content-Length";
		for (size_t i = 0; i < vlen; i++) {
			if (v[i] < '0' || v[i] > '9')
				return "the upstream sent a malformed Content-Length";
			n = n * 10 + (uint64_t)(v[i] - '0');
		}
		if (c->has_length && n != c->length)
			return "the upstream sent two different Content-Lengths";
		c->has_length = true;
		c->length = n;
	} else if (nlen == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
		/* Several headers make one list: the last coding decides. */
		if (vlen) {
			c->chunked = last_token_is(v, vlen, "chunked");
			c->until_close = !c->chunked;
		}
	} else if (nlen == 10 && strncasecmp(line, "connection", 10) == 0) {
		if (token_in(v, vlen, "close"))
			c->keep_alive = false;
		else if (token_in(v, vlen, "keep-alive"))
			c->keep_alive = true;
	} else if (nlen == 16 && strncasecmp(line, "content-encoding", 16) == 0) {
		if (vlen == 0 || (vlen == 8 && strncasecmp(v, "identity", 8) == 0))
			return NULL;
		bool gzip = (vlen == 4 && strncasecmp(v, "gzip", 4) == 0) ||
			    (vlen == 6 && strncasecmp(v, "x-gzip", 6) == 0) ||
			    (vlen == 7 && strncasecmp(v, "deflate", 7) == 0);
		if (!gzip)
			return "the upstream compressed its answer in an encoding arouter cannot read";
		if (!c->z) {
			c->z = xcalloc(1, sizeof *c->z);
			if (inflateInit2(c->z, 15 + 32) != Z_OK) { /* gzip or zlib, by the header */
				free(c->z);
				c->z = NULL;
				return "cannot set up decompression";
			}
		}
	}
	return NULL;
}

/* The status line: "HTTP/1.x NNN reason". */
static bool parse_status(struct h1_call *c, const char *line, size_t len)
{
	if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') || line[8] != ' ')
		return false;
	for (int i = 9; i < 12; i++)
		if (line[i] < '0' || line[i] > '9')
			return false;
	if (len > 12 && line[12] != ' ')
		return false;
	c->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	if (c->status < 100)
		return false;
	c->keep_alive = line[7] == '1';
	c->has_length = c->chunked = c->until_close = false;
	if (c->z) { /* a 1xx's Content-Encoding says nothing of the answer */
		inflateEnd(c->z);
		free(c->z);
		c->z = NULL;
	}
	transfer_header_line(c->t, line, len);
	c->t->resp->status = c->status;
	return true;
}

/* After the blank line that ends the head: how the body is framed. */
static void head_done(struct h1_call *c)
{
	if (c->status < 200) {
		c->state = H_STATUS; /* 100 Continue, 103 Early Hints: the answer follows */
	} else if (c->head_request || c->status == 204 || c->status == 304) {
		c->state = H_DONE;
	} else if (c->chunked) {
		c->keep_alive = c->keep_alive && !c->has_length; /* both: suspicious */
		c->state = H_CHUNK_SIZE;
	} else if (c->until_close || !c->has_length) {
		c->keep_alive = false;
		c->state = H_UNTIL_CLOSE;
	} else {
		c->left = c->length;
		c->state = c->left ? H_BODY : H_DONE;
	}
}

static bool parse_chunk_size(const char *line, size_t len, uint64_t *n)
{
	size_t i = 0;
	*n = 0;
	for (; i < len; i++) {
		char ch = line[i];
		int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
						    : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
		if (d < 0)
			break;
		if (i >= 15)
			return false; /* over 2^60: no */
		*n = *n * 16 + (uint64_t)d;
	}
	if (i == 0)
		return false;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return i == len || line[i] == ';'; /* chunk extensions are ignored */
}

/* One step on a line-oriented state. Returns 1 when it consumed a line,
 * 0 when the line is not whole yet, -1 when c has ended. */
static int line_step(struct h1_call *c, struct evbuffer *in)
{
	size_t eol_len = 0;
	struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
	if (p.pos < 0) {
		if (evbuffer_get_length(in) + c->head_bytes > HEAD_CAP) {
			finish(c, END_OTHER, "the upstream's response head is too large", false);
			return -1;
		}
		return 0;
	}
	size_t len = (size_t)p.pos;
	const char *line = (const char *)evbuffer_pullup(in, (ev_ssize_t)(len + eol_len));
	const char *err = NULL;
	c->head_bytes += len + eol_len;
	if (c->head_bytes > HEAD_CAP && c->state != H_CHUNK_SIZE && c->state != H_CHUNK_END) {
		finish(c, END_OTHER, "the upstream's response head is too large", false);
		return -1;
	}
	switch (c->state) {
	case H_STATUS:
		if (len == 0 && c->status) /* a stray blank line between 1xx and the answer */
			break;
		if (!parse_status(c, line, len))
			err = "the upstream's answer is not HTTP/1.x";
		else {
			c->state = H_HEADERS;
			free(c->request); /* answered: no retry now */
			c->request = NULL;
		}
		break;
	case H_HEADERS:
		if (len == 0)
			head_done(c);
		else
			err = on_header(c, line, len);
		break;
	case H_CHUNK_SIZE: {
		uint64_t n;
		c->head_bytes = 0; /* the cap is per line from here */
		if (!parse_chunk_size(line, len, &n))
			err = "the upstream sent a malformed chunk";
		else if (n == 0)
			c->state = H_TRAILERS;
		else {
			c->left = n;
			c->state = H_CHUNK_DATA;
		}
		break;
	}
	case H_CHUNK_END:
		c->head_bytes = 0;
		if (len != 0)
			err = "the upstream sent a malformed chunk";
		else
			c->state = H_CHUNK_SIZE;
		break;
	case H_TRAILERS:
		if (len == 0)
			c->state = H_DONE;
		break;
	default:
		break;
	}
	evbuffer_drain(in, len + eol_len);
	if (err) {
		finish(c, END_OTHER, err, false);
		return -1;
	}
	return 1;
}

/* Hands up to max bytes of in to the transfer. Returns the count, or -1
 * when c has ended. */
static ssize_t body_step(struct h1_call *c, struct evbuffer *in, uint64_t max)
{
	size_t have = evbuffer_get_length(in);
	size_t n = have < max ? have : (size_t)max;
	if (n == 0)
		return 0;
	struct evbuffer_iovec v[4];
	int nv = evbuffer_peek(in, (ev_ssize_t)n, NULL, v, 4);
	size_t done = 0;
	for (int i = 0; i < nv && i < 4 && done < n; i++) {
		size_t take = v[i].iov_len < n - done ? v[i].iov_len : n - done;
		if (!deliver(c, v[i].iov_base, take))
			return -1;
		done += take;
	}
	evbuffer_drain(in, done);
	return (ssize_t)done;
}

/* Parses what has arrived as far as it goes. Returns false when c has
 * ended (and is freed). */
static bool pump(struct h1_call *c, struct evbuffer *in)
{
	if (evbuffer_get_length(in))
		c->got_bytes = true;
	if (c->t->cancel && *c->t->cancel) {
		c->t->cancelled = true;
		finish(c, END_CANCELLED, NULL, false);
		return false;
	}
	for (;;) {
		int rc;
		ssize_t n;
		switch (c->state) {
		case H_STATUS:
		case H_HEADERS:
		case H_CHUNK_SIZE:
		case H_CHUNK_END:
		case H_TRAILERS:
			rc = line_step(c, in);
			if (rc <= 0)
				return rc == 0;
			break;
		case H_BODY:
		case H_CHUNK_DATA:
			n = body_step(c, in, c->left);
			if (n <= 0)
				return n == 0;
			c->left -= (uint64_t)n;
			if (c->left == 0)
				c->state = c->state == H_BODY ? H_DONE : H_CHUNK_END;
			break;
		case H_UNTIL_CLOSE:
			n = body_step(c, in, UINT64_MAX);
			if (n <= 0)
				return n == 0;
			break;
		case H_DONE:
			finish(c, END_DONE, NULL, true);
			return false;
		case H_CONNECT:
			return true; /* not before on_event says connected */
		}
	}
}

/* The connection ended (end of file, or an error reading or writing):
 * first whatever arrived before that, then what it means for the call. */
static void on_conn_end(struct h1_call *c)
{
	if (!pump(c, c->conn->in))
		return;
	if (c->state == H_UNTIL_CLOSE || c->state == H_DONE) {
		finish(c, END_DONE, NULL, false);
	} else if (c->reused && !c->got_bytes && !c->retried && c->request) {
		/* The server closed the kept-alive connection as we used it. */
		c->retried = true;
		conn_free(c->conn);
		c->conn = NULL;
		send_request(c, false);
	} else if (c->t->callback_complete) {
		finish(c, END_DONE, NULL, false);
	} else {
		finish(c, END_CLOSED, NULL, false);
	}
}

static void on_idle_timeout(struct h1_call *c)
{
	c->t->idle_expired = true;
	finish(c, END_IDLE, NULL, false);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	struct h1_conn *conn = arg;
	struct h1_call *c = conn->call;
	if (!c) {
		on_idle_event(conn->bev, what, conn);
		return;
	}
	if (what & EV_TIMEOUT) {
		on_idle_timeout(c);
		return;
	}
	ssize_t n = conn_read(conn);
	if (n > 0)
		pump(c, conn->in);
	else if (n == 0 || errno != EAGAIN)
		on_conn_end(c);
}

/* The bufferevent's news (it never reads): connected, or a write that
 * failed or stalled. */
static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct h1_call *c = arg;
	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct timeval idle = ms_tv(c->t->idle_ms);
		bufferevent_set_timeouts(bev, NULL, &idle);
		conn_read_on(c->conn, c->t->idle_ms);
		c->state = H_STATUS;
		return;
	}
	if (c->state == H_CONNECT) {
		if (what & BEV_EVENT_TIMEOUT)
			finish(c, END_CONNECT_TIMEOUT, NULL, false);
		else if (!try_v6(c))
			finish(c, END_CONNECT, NULL, false);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		on_idle_timeout(c);
		return;
	}
	/* The server may have answered, and closed, before the request was
	 * all written: read what is there before ending. */
	for (int i = 0; i < 64 && conn_read(c->conn) > 0; i++)
		;
	on_conn_end(c);
}

/* ---- starting and cancelling ---- */

struct h1_call *h1_start(struct h1_pool *pool, const struct http_request *req, struct transfer *t,
			 h1_done_fn done, void *arg)
{
	struct h1_call *c = xcalloc(1, sizeof *c);
	c->pool = pool;
	c->t = t;
	c->done = done;
	c->arg = arg;
	c->connect_ms = req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 10000;
	c->timer = evtimer_new(pool->base, on_timer, c);
	c->starting = true;
	struct target tg;
	const char *why = NULL;
	if (!c->timer)
		abort(); /* out of memory, as xcalloc would */
	if (!parse_url(req->url, &tg)) {
		finish(c, END_OTHER, "the URL is not one the built-in client serves", false);
	} else if (!(c->request = build_request(req, &tg, &c->request_len, &why))) {
		finish(c, END_OTHER, why, false);
	} else {
		c->addr = tg.addr;
		c->addrlen = tg.addrlen;
		c->localhost = tg.localhost;
		c->head_request = req->method && strcmp(req->method, "HEAD") == 0;
		if (t->total_ms > 0) {
			struct timeval tv = ms_tv(t->total_ms);
			evtimer_add(c->timer, &tv);
		}
		send_request(c, true);
	}
	c->starting = false;
	return c;
}

void h1_cancel(struct h1_call *c)
{
	if (c->in_callback) {
		c->cancelled = true; /* freed when the callback returns */
		return;
	}
	call_free(c);
}
