/* http-client.c - upstream HTTP: blocking libcurl transfers for the CLI,
 * and libcurl or the built-in client (http1.h) on an event loop for the
 * proxy. See http-client.h. */
#include "config.h"

#include "curl-load.h"
#include "http-client.h"
#include "http-internal.h"
#include "http1.h"
#include "util.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HANDLE_POOL 64

/* Easy handles kept for reuse by an event loop: creating one per request
 * is a measurable share of the proxy's cost. */
struct handle_pool {
	CURL *h[HANDLE_POOL];
	int n;
};

long long http_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* libcurl's functions once it is loaded (curl-load.h): every transfer
 * that uses it starts with http_client_init. */
static const struct curl_api *cu;
static const char *load_error;

static bool http_client_init(void)
{
	if (!cu)
		cu = curl_load(&load_error);
	return cu != NULL;
}

void http_client_cleanup(void)
{
	curl_unload();
	cu = NULL;
}

const char *http_user_agent(void)
{
	return "arouter/" PACKAGE_VERSION;
}

static void http_response_clear_limits(struct http_response *resp);

bool http_header_split(const char *line, size_t len, size_t *nlen, const char **value, size_t *vlen)
{
	const char *colon = memchr(line, ':', len);
	if (!colon)
		return false;
	*nlen = (size_t)(colon - line);
	const char *v = colon + 1;
	size_t n = len - *nlen - 1;
	while (n && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	*value = v;
	*vlen = n;
	return true;
}

void transfer_header_line(struct transfer *t, const char *data, size_t len)
{
	t->last_byte_ms = http_now_ms();
	/* A new status line (redirects, 100-continue) resets what we know. */
	if (len > 5 && strncmp(data, "HTTP/", 5) == 0) {
		free(t->resp->content_type);
		t->resp->content_type = NULL;
		t->resp->retry_after_s = -1;
		http_response_clear_limits(t->resp);
		return;
	}
	size_t nlen, vlen;
	const char *v;
	if (!http_header_split(data, len, &nlen, &v, &vlen))
		return;
	if (nlen == 12 && strncasecmp(data, "content-type", 12) == 0) {
		free(t->resp->content_type);
		t->resp->content_type = xstrndup(v, vlen);
	}
	if (t->resp->n_limits < sizeof t->resp->limits / sizeof t->resp->limits[0] &&
	    ((nlen >= 11 && strncasecmp(data, "retry-after", 11) == 0) ||
	     (nlen > 12 && strncasecmp(data, "x-ratelimit-", 12) == 0) ||
	     (nlen > 20 && strncasecmp(data, "anthropic-ratelimit-", 20) == 0) ||
	     (nlen == 19 && strncasecmp(data, "x-ms-retry-after-ms", 19) == 0))) {
		struct http_header *h = &t->resp->limits[t->resp->n_limits++];
		h->name = xstrndup(data, nlen);
		h->value = xstrndup(v, vlen);
	}
	if (nlen == 11 && strncasecmp(data, "retry-after", 11) == 0) {
		char *tmp = xstrndup(v, vlen);
		char *end;
		long s = strtol(tmp, &end, 10);
		if (end != tmp && *end == '\0' && s >= 0)
			t->resp->retry_after_s = s;
		free(tmp);
	}
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	transfer_header_line(arg, data, size * n);
	return size * n;
}

bool transfer_body(struct transfer *t, long status, const char *data, size_t len)
{
	t->last_byte_ms = http_now_ms();
	t->resp->status = status; /* so that the callback can read it */
	if ((status >= 200 && status < 300) || t->any_status_body) {
		t->resp->body_started = true;
		if (t->callback_complete)
			return true; /* past the end of the answer: not the caller's */
		/* The callback may cancel the call (http_call_cancel), which
		 * frees t: then t must not be touched after it returns. */
		bool gone = false;
		t->gone = &gone;
		int rc = t->cb ? t->cb(data, len, t->arg) : 0;
		if (gone)
			return false;
		t->gone = NULL;
		if (rc == HTTP_BODY_COMPLETE) {
			/* Let the server end the response itself, so that the
			 * connection can be used again; the engine cuts it short
			 * if it does not. */
			t->callback_complete = true;
			t->complete_ms = http_now_ms();
		} else if (rc != 0) {
			t->callback_aborted = true;
			return false;
		}
		return true;
	}
	struct buf *b = &t->resp->error_body;
	if (b->len < ERROR_BODY_CAP)
		buf_append(b, data, len < ERROR_BODY_CAP - b->len ? len : ERROR_BODY_CAP - b->len);
	return true;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;
	long status = 0;
	cu->easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
	return transfer_body(t, status, data, size * n) ? size * n : 0; /* 0: CURLE_WRITE_ERROR */
}

/* COMPLETE_GRACE_MS: libcurl looks about once a second while a transfer
 * is quiet, so the grace is up to a second here. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct transfer *t = arg;
	if (t->cancel && *t->cancel) {
		t->cancelled = true;
		return 1;
	}
	/* The answer is whole but the server holds the response open. */
	if (t->callback_complete && http_now_ms() - t->complete_ms >= COMPLETE_GRACE_MS)
		return 1;
	if (http_now_ms() - t->last_byte_ms > t->idle_ms) {
		t->idle_expired = true;
		return 1;
	}
	return 0;
}

/* Sets up an easy handle for req into t; the body is copied when copy_body
 * (the caller's buffer may not outlive an asynchronous transfer). */
void transfer_begin(struct transfer *t, const struct http_request *req)
{
	memset(t->resp, 0, sizeof *t->resp);
	t->resp->retry_after_s = -1;
	t->idle_ms = req->idle_timeout_ms > 0 ? req->idle_timeout_ms : 120000;
	t->total_ms = req->total_timeout_ms;
	t->start_ms = http_now_ms();
	t->cancel = req->cancel;
	t->any_status_body = req->any_status_body;
	t->last_byte_ms = t->start_ms;
	/* Name the host but never the path or query, which may carry a key. */
	const char *host = strstr(req->url, "://");
	host = host ? host + 3 : req->url;
	t->url = xstrndup(req->url, (size_t)(host - req->url) + strcspn(host, "/?#"));
}

static bool transfer_setup(struct transfer *t, const struct http_request *req, bool copy_body)
{
	transfer_begin(t, req);
	CURL *curl = NULL;
	if (t->pool && t->pool->n > 0)
		curl = t->pool->h[--t->pool->n]; /* reset when it was returned */
	else if (http_client_init())
		curl = cu->easy_init();
	t->curl = curl;
	if (!curl) {
		t->resp->error = xstrdup(cu ? "cannot create an HTTP handle" : load_error);
		return false;
	}
	for (size_t i = 0; i < req->n_headers; i++) {
		char *h = xasprintf("%s: %s", req->headers[i].name, req->headers[i].value);
		t->headers = cu->slist_append(t->headers, h);
		free(h);
	}
	/* curl would otherwise send "Expect: 100-continue" for large bodies and
	 * wait a second for an answer some servers never give. */
	t->headers = cu->slist_append(t->headers, "Expect:");

	cu->easy_setopt(curl, CURLOPT_PRIVATE, t);
	cu->easy_setopt(curl, CURLOPT_URL, req->url);
	cu->easy_setopt(curl, CURLOPT_HTTPHEADER, t->headers);
	cu->easy_setopt(curl, CURLOPT_USERAGENT, http_user_agent());
	cu->easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	cu->easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	cu->easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	cu->easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
	cu->easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
	cu->easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
			 req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 10000L);
	if (req->total_timeout_ms > 0)
		cu->easy_setopt(curl, CURLOPT_TIMEOUT_MS, req->total_timeout_ms);
	/* The progress callback enforces the idle limit in blocking transfers;
	 * on the event loop nothing calls it while a socket is silent, so
	 * libcurl's own low-speed timer does it there (whole seconds). */
	cu->easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	cu->easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, (t->idle_ms + 999) / 1000);
	if (req->body) {
		cu->easy_setopt(curl, CURLOPT_POST, 1L);
		cu->easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		cu->easy_setopt(curl, copy_body ? CURLOPT_COPYPOSTFIELDS : CURLOPT_POSTFIELDS, req->body);
		/* PATCH and PUT send a body the way POST does. */
		if (req->method && strcmp(req->method, "POST") != 0)
			cu->easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
	} else if (req->method && strcmp(req->method, "HEAD") == 0) {
		/* A custom "HEAD" would only rename the request: libcurl would
		 * still wait for the body the answer's Content-Length names. */
		cu->easy_setopt(curl, CURLOPT_NOBODY, 1L);
	} else if (req->method && strcmp(req->method, "GET") != 0) {
		cu->easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
	}
	cu->easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	cu->easy_setopt(curl, CURLOPT_HEADERDATA, t);
	cu->easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	cu->easy_setopt(curl, CURLOPT_WRITEDATA, t);
	cu->easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	cu->easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	cu->easy_setopt(curl, CURLOPT_XFERINFODATA, t);
	return true;
}

/* Releases the handle and classifies how the transfer ended. */
static enum http_outcome transfer_finish(struct transfer *t, CURLcode rc)
{
	struct http_response *resp = t->resp;
	bool connected = true;
	if (t->curl) {
		cu->easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &resp->status);
		/* libcurl reports its connect timeout as CURLE_OPERATION_TIMEDOUT
		 * too. A transfer that connected has a connect time, or, on a
		 * reused connection (no connect time), the peer's address. */
		curl_off_t connect_us = 0;
		char *ip = NULL;
		cu->easy_getinfo(t->curl, CURLINFO_CONNECT_TIME_T, &connect_us);
		cu->easy_getinfo(t->curl, CURLINFO_PRIMARY_IP, &ip);
		connected = connect_us > 0 || (ip && *ip);
		if (t->pool && t->pool->n < HANDLE_POOL) {
			cu->easy_reset(t->curl);
			t->pool->h[t->pool->n++] = t->curl;
		} else {
			cu->easy_cleanup(t->curl);
		}
		t->curl = NULL;
	}
	if (t->headers)
		cu->slist_free_all(t->headers);
	t->headers = NULL;
	enum xfer_end end = END_OTHER;
	if (rc == CURLE_OK || t->callback_complete)
		end = END_DONE;
	else if (t->callback_aborted)
		end = END_CALLBACK;
	else if (t->cancelled)
		end = END_CANCELLED;
	else if (t->idle_expired)
		end = END_IDLE;
	else if (rc == CURLE_OPERATION_TIMEDOUT && !connected)
		end = END_CONNECT_TIMEOUT;
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		/* Without a total timeout passed, libcurl's low-speed limit: idle. */
		end = t->total_ms > 0 && http_now_ms() - t->start_ms >= t->total_ms ? END_TOTAL : END_IDLE;
	else if (rc == CURLE_COULDNT_CONNECT)
		end = END_CONNECT;
	else if (rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING)
		end = END_CLOSED;
	return transfer_conclude(t, end, cu ? cu->easy_strerror(rc) : load_error);
}

enum http_outcome transfer_conclude(struct transfer *t, enum xfer_end end, const char *msg)
{
	struct http_response *resp = t->resp;
	enum http_outcome outcome = XFER_NETWORK;
	long idle_s = (t->idle_ms + 999) / 1000;
	switch (end) {
	case END_DONE:
		outcome = XFER_OK;
		break;
	case END_CALLBACK:
		outcome = t->callback_complete ? XFER_OK : XFER_ABORTED;
		break;
	case END_CANCELLED:
		resp->error = xstrdup("cancelled");
		outcome = XFER_CANCELLED;
		break;
	case END_IDLE:
		resp->error = resp->body_started ? xasprintf("no data for %ld s; the stream stalled", idle_s)
						 : xasprintf("no response within %ld s", idle_s);
		outcome = XFER_TIMEOUT;
		break;
	case END_TOTAL:
		resp->error = xstrdup(resp->status ? "timed out while reading the response" : "timed out");
		outcome = XFER_TIMEOUT;
		break;
	case END_CONNECT_TIMEOUT:
		resp->error = xasprintf("cannot connect to %s: timed out", t->url);
		outcome = XFER_TIMEOUT;
		break;
	case END_CONNECT:
		resp->error = xasprintf("cannot connect to %s", t->url);
		break;
	case END_CLOSED:
		resp->error = xstrdup(resp->body_started ? "the connection closed in the middle of the response"
							 : "the connection closed before a response");
		break;
	case END_OTHER:
		if (!resp->error)
			resp->error = xstrdup(msg ? msg : "the transfer failed");
		break;
	}
	free(t->url);
	t->url = NULL;
	return outcome;
}

enum http_outcome http_perform(const struct http_request *req, http_body_cb cb, void *arg,
			       struct http_response *resp)
{
	struct transfer t = {.resp = resp, .cb = cb, .arg = arg};
	if (!transfer_setup(&t, req, false))
		return transfer_finish(&t, CURLE_FAILED_INIT);
	return transfer_finish(&t, cu->easy_perform(t.curl));
}

/* ---- asynchronous transfers on a libevent loop (the proxy) ---- */

struct http_loop {
	struct event_base *base;
	CURLM *multi;
	struct handle_pool pool;
	struct event *timer;
	struct h1_pool *h1;       /* the built-in client; NULL when libcurl does everything */
	struct http_call *calls; /* in flight, doubly linked */
};

struct http_call {
	struct transfer t;
	struct http_response resp;
	struct http_loop *loop;
	http_done_cb done;
	void *arg;
	struct h1_call *h1;       /* the built-in client's transfer, or NULL for libcurl's */
	struct http_call *prev, *next;
};

/* Per-socket state libcurl asks us to watch. */
struct sock_watch {
	struct event *ev;
	struct http_loop *loop;
	curl_socket_t fd;
};

static void call_unlink(struct http_call *call)
{
	if (call->prev)
		call->prev->next = call->next;
	else
		call->loop->calls = call->next;
	if (call->next)
		call->next->prev = call->prev;
}

static void loop_check_done(struct http_loop *loop)
{
	CURLMsg *msg;
	int left;
	while ((msg = cu->multi_info_read(loop->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct transfer *t = NULL;
		cu->easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		struct http_call *call = (struct http_call *)t; /* t is the first member */
		CURLcode rc = msg->data.result;
		cu->multi_remove_handle(loop->multi, msg->easy_handle);
		enum http_outcome outcome = transfer_finish(&call->t, rc);
		call_unlink(call);
		call->done(call, outcome, &call->resp, call->arg);
		http_response_clear(&call->resp);
		free(call);
	}
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	struct sock_watch *w = arg;
	struct http_loop *loop = w->loop;
	int flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
	int running;
	cu->multi_socket_action(loop->multi, fd, flags, &running);
	loop_check_done(loop);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http_loop *loop = userp;
	struct sock_watch *w = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (w) {
			event_free(w->ev);
			free(w);
			cu->multi_assign(loop->multi, fd, NULL);
		}
		return 0;
	}
	short kind = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
	if (!w) {
		w = xcalloc(1, sizeof *w);
		w->loop = loop;
		w->fd = fd;
		w->ev = event_new(loop->base, fd, kind, on_socket_event, w);
		cu->multi_assign(loop->multi, fd, w);
	} else {
		/* Same socket, new interest: re-arm the event we have. */
		event_del(w->ev);
		event_assign(w->ev, loop->base, fd, kind, on_socket_event, w);
	}
	event_add(w->ev, NULL);
	return 0;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct http_loop *loop = arg;
	int running;
	cu->multi_socket_action(loop->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	loop_check_done(loop);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_loop *loop = userp;
	if (timeout_ms < 0) {
		evtimer_del(loop->timer);
		return 0;
	}
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	evtimer_add(loop->timer, &tv);
	return 0;
}

struct http_loop *http_loop_new(struct event_base *base)
{
	struct http_loop *loop = xcalloc(1, sizeof *loop);
	loop->base = base;
	loop->timer = evtimer_new(base, on_timer, loop);
	if (!loop->timer) {
		free(loop);
		return NULL;
	}
	loop->h1 = h1_pool_new(base);
	return loop;
}

void http_loop_use_builtin(struct http_loop *loop, bool on)
{
	if (!on) {
		h1_pool_free(loop->h1);
		loop->h1 = NULL;
	} else if (!loop->h1) {
		loop->h1 = h1_pool_new(loop->base);
	}
}

/* libcurl, and with it OpenSSL, is set up at the first transfer: a proxy
 * that has not been used yet does not carry their memory. */
static bool loop_ready(struct http_loop *loop)
{
	if (loop->multi)
		return true;
	if (!http_client_init() || !(loop->multi = cu->multi_init()))
		return false;
	cu->multi_setopt(loop->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	cu->multi_setopt(loop->multi, CURLMOPT_SOCKETDATA, loop);
	cu->multi_setopt(loop->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	cu->multi_setopt(loop->multi, CURLMOPT_TIMERDATA, loop);
	return true;
}

static void call_link(struct http_call *call)
{
	struct http_loop *loop = call->loop;
	call->next = loop->calls;
	if (loop->calls)
		loop->calls->prev = call;
	loop->calls = call;
}

static void on_h1_done(void *arg, enum http_outcome outcome)
{
	struct http_call *call = arg;
	call->h1 = NULL;
	call_unlink(call);
	call->done(call, outcome, &call->resp, call->arg);
	http_response_clear(&call->resp);
	free(call);
}

struct http_call *http_call_start(struct http_loop *loop, const struct http_request *req, http_body_cb cb,
				  http_done_cb done, void *arg)
{
	struct http_call *call = xcalloc(1, sizeof *call);
	call->t.resp = &call->resp;
	call->t.pool = &loop->pool;
	call->t.cb = cb;
	call->t.arg = arg;
	call->loop = loop;
	call->done = done;
	call->arg = arg;
	if (loop->h1 && h1_serves(loop->h1, req->url)) {
		transfer_begin(&call->t, req);
		call->h1 = h1_start(loop->h1, req, &call->t, on_h1_done, call);
		call_link(call);
		return call;
	}
	if (!loop_ready(loop) || !transfer_setup(&call->t, req, true) ||
	    cu->multi_add_handle(loop->multi, call->t.curl) != CURLM_OK) {
		/* Set-up failed: report it now, as the header says. */
		enum http_outcome outcome = transfer_finish(&call->t, CURLE_FAILED_INIT);
		done(call, outcome, &call->resp, arg);
		http_response_clear(&call->resp);
		free(call);
		return NULL;
	}
	call_link(call);
	return call;
}

const struct http_response *http_call_response(const struct http_call *call)
{
	return &call->resp;
}

void http_call_cancel(struct http_call *call)
{
	struct http_loop *loop = call->loop;
	if (call->t.gone)
		*call->t.gone = true; /* cancelled from inside the body callback */
	if (call->h1) {
		h1_cancel(call->h1);
		free(call->t.url);
	} else {
		cu->multi_remove_handle(loop->multi, call->t.curl);
		transfer_finish(&call->t, CURLE_ABORTED_BY_CALLBACK);
	}
	call_unlink(call);
	http_response_clear(&call->resp);
	free(call);
}

void http_loop_free(struct http_loop *loop)
{
	if (!loop)
		return;
	while (loop->calls)
		http_call_cancel(loop->calls);
	while (loop->pool.n > 0)
		cu->easy_cleanup(loop->pool.h[--loop->pool.n]);
	if (loop->multi)
		cu->multi_cleanup(loop->multi);
	h1_pool_free(loop->h1);
	event_free(loop->timer);
	free(loop);
}

static void http_response_clear_limits(struct http_response *resp)
{
	for (size_t i = 0; i < resp->n_limits; i++) {
		free((char *)resp->limits[i].name);
		free((char *)resp->limits[i].value);
	}
	resp->n_limits = 0;
}

void http_response_clear(struct http_response *resp)
{
	http_response_clear_limits(resp);
	free(resp->content_type);
	free(resp->error);
	buf_free(&resp->error_body);
	memset(resp, 0, sizeof *resp);
}
