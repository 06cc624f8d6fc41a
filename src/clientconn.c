/* clientconn.c - see clientconn.h.
 *
 * evhttp 2.1 gives no hook when it accepts a connection but one: the
 * callback that makes the connection's bufferevent (evhttp_set_bevcb). The
 * connection object exists only once that returns, so the bufferevent
 * callback activates an event that runs in the same pass of the loop,
 * before anything is read from the new socket: it finds the connection
 * (the bufferevent's callback argument is evhttp's connection), asks for
 * its close callback, sets the write timeout and starts the deadline.
 * Connections are found again by their descriptor. */
#include "clientconn.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct conn {
	struct conn_table *t;
	struct bufferevent *bev;
	struct evhttp_connection *evcon; /* NULL until set up */
	int fd;
	struct event setup;              /* once, just after evhttp accepted it */
	struct event deadline;
	bool serving;                    /* a request has arrived and is not yet answered */
	bool sending;                    /* its final answer is counted in t->sending */
	void (*on_hangup)(void *owner);
	void *owner;
	struct conn *flush_next;         /* in t->to_flush */
	struct conn **flush_pprev;       /* NULL: not in it */
};

struct conn_table {
	struct event_base *base;
	struct timeval timeout;
	void (*on_sent)(void *arg);
	void *arg;
	struct conn **by_fd;
	size_t cap;
	int count;
	int sending;
	struct conn *to_flush;           /* conn_flush_soon's, for flush_ev */
	struct event flush_ev;           /* active while to_flush is not empty */
};

static void flush_unlink(struct conn *c)
{
	if (!c->flush_pprev)
		return;
	*c->flush_pprev = c->flush_next;
	if (c->flush_next)
		c->flush_next->flush_pprev = c->flush_pprev;
	c->flush_next = NULL;
	c->flush_pprev = NULL;
}

static void conn_free(struct conn *c)
{
	struct conn_table *t = c->t;
	if (c->fd >= 0 && (size_t)c->fd < t->cap && t->by_fd[c->fd] == c) {
		t->by_fd[c->fd] = NULL;
		t->count--;
	}
	flush_unlink(c);
	event_del(&c->setup);
	event_del(&c->deadline);
	free(c);
}

static void sent(struct conn *c)
{
	if (!c->sending)
		return;
	c->sending = false;
	c->t->sending--;
	if (c->t->on_sent)
		c->t->on_sent(c->t->arg);
}

static void arm(struct conn *c)
{
	evtimer_add(&c->deadline, &c->t->timeout);
}

/* evhttp is freeing the connection (a hang-up, an error, a timeout, a
 * "Connection: close" answer written, or our deadline). */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	struct conn *c = arg;
	void (*fn)(void *) = c->on_hangup;
	void *owner = c->owner;
	c->on_hangup = NULL;
	c->owner = NULL;
	if (fn)
		fn(owner);
	sent(c);
	conn_free(c);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	if (c->serving)
		return;
	/* No request arrived whole in time: evhttp frees the connection and
	 * calls on_close, which frees c. */
	evhttp_connection_free(c->evcon);
}

static void on_setup(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	struct conn_table *t = c->t;
	bufferevent_data_cb r, w;
	bufferevent_event_cb e;
	void *cbarg = NULL;
	bufferevent_getcb(c->bev, &r, &w, &e, &cbarg);
	c->fd = (int)bufferevent_getfd(c->bev);
	if (!cbarg || c->fd < 0) {
		/* evhttp could not make the connection (out of memory) and has
		 * left the bufferevent to us. */
		bufferevent_free(c->bev);
		c->fd = -1;
		conn_free(c);
		return;
	}
	c->evcon = cbarg;
	if ((size_t)c->fd >= t->cap) {
		size_t cap = t->cap ? t->cap : 64;
		while (cap <= (size_t)c->fd)
			cap *= 2;
		t->by_fd = xrealloc(t->by_fd, cap * sizeof *t->by_fd);
		memset(t->by_fd + t->cap, 0, (cap - t->cap) * sizeof *t->by_fd);
		t->cap = cap;
	}
	if (t->by_fd[c->fd]) /* cannot happen: its close callback removed it */
		t->by_fd[c->fd]->fd = -1;
	else
		t->count++;
	t->by_fd[c->fd] = c;
	evhttp_connection_set_closecb(c->evcon, on_close, c);
	bufferevent_set_timeouts(c->bev, NULL, &t->timeout);
	arm(c);
}

/* The end of a turn of the loop's callbacks: write out what they queued.
 * conn_flush calls nobody back (its callback is deferred), so no
 * connection goes away while the list is walked. */
static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn_table *t = arg;
	while (t->to_flush) {
		struct conn *c = t->to_flush;
		flush_unlink(c);
		conn_flush(c);
	}
}

static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
	struct conn_table *t = arg;
	/* evhttp closes the descriptor itself when the bufferevent does not. */
	struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!bev)
		return NULL;
	struct conn *c = calloc(1, sizeof *c);
	if (!c)
		return bev; /* served, without our deadlines */
	c->t = t;
	c->bev = bev;
	c->fd = -1;
	evtimer_assign(&c->deadline, base, on_deadline, c);
	event_assign(&c->setup, base, -1, 0, on_setup, c);
	event_active(&c->setup, EV_TIMEOUT, 1);
	return bev;
}

struct conn_table *conn_table_new(struct evhttp *http, struct event_base *base, int timeout_s,
				  void (*on_sent)(void *arg), void *arg)
{
	struct conn_table *t = xcalloc(1, sizeof *t);
	t->base = base;
	t->timeout.tv_sec = timeout_s > 0 ? timeout_s : 60;
	t->on_sent = on_sent;
	t->arg = arg;
	event_assign(&t->flush_ev, base, -1, 0, on_flush, t);
	evhttp_set_bevcb(http, make_bev, t);
	return t;
}

void conn_table_free(struct conn_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->cap; i++)
		if (t->by_fd[i])
			conn_free(t->by_fd[i]);
	event_del(&t->flush_ev);
	free(t->by_fd);
	free(t);
}

struct conn *conn_of(struct conn_table *t, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = req ? evhttp_request_get_connection(req) : NULL;
	if (!t || !evcon)
		return NULL;
	evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
	if (fd < 0 || (size_t)fd >= t->cap)
		return NULL;
	struct conn *c = t->by_fd[fd];
	return c && c->evcon == evcon ? c : NULL;
}

static void on_complete(struct evhttp_request *req, void *arg)
{
	(void)req;
	struct conn *c = arg;
	c->serving = false;
	c->on_hangup = NULL;
	c->owner = NULL;
	sent(c);
	arm(c); /* the next request's deadline */
}

void conn_request_arrived(struct conn *c, struct evhttp_request *req)
{
	if (!c)
		return;
	c->serving = true;
	evtimer_del(&c->deadline);
	evhttp_request_set_on_complete_cb(req, on_complete, c);
}

void conn_watch(struct conn *c, void (*on_hangup)(void *owner), void *owner)
{
	if (!c)
		return;
	c->on_hangup = on_hangup;
	c->owner = owner;
}

void conn_unwatch(struct conn *c)
{
	if (!c)
		return;
	c->on_hangup = NULL;
	c->owner = NULL;
}

void conn_sending(struct conn *c)
{
	if (!c || c->sending)
		return;
	c->sending = true;
	c->t->sending++;
}

void conn_flush(struct conn *c)
{
	if (!c || c->fd < 0)
		return;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	if (evbuffer_get_length(out) == 0)
		return;
	/* A socket bufferevent keeps the front of its output frozen: only its
	 * own write callback drains it. */
	evbuffer_unfreeze(out, 1);
	int n = evbuffer_write(out, c->fd);
	evbuffer_freeze(out, 1);
	/* All of it gone: the bufferevent's write event would find nothing to
	 * write and so never call evhttp back; call it (deferred) instead. An
	 * error or a part left is the bufferevent's to find or finish. */
	if (n > 0 && evbuffer_get_length(out) == 0)
		bufferevent_trigger(c->bev, EV_WRITE, BEV_TRIG_DEFER_CALLBACKS);
}

void conn_flush_soon(struct conn *c)
{
	if (!c || c->flush_pprev || c->fd < 0)
		return;
	struct conn_table *t = c->t;
	if (!t->to_flush)
		event_active(&t->flush_ev, EV_TIMEOUT, 1);
	c->flush_next = t->to_flush;
	if (t->to_flush)
		t->to_flush->flush_pprev = &c->flush_next;
	t->to_flush = c;
	c->flush_pprev = &t->to_flush;
}

int conn_table_sending(const struct conn_table *t)
{
	return t ? t->sending : 0;
}

int conn_table_count(const struct conn_table *t)
{
	return t ? t->count : 0;
}
