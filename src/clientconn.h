/* clientconn.h - the proxy's client connections: deadlines and hang-ups.
 *
 * libevent's HTTP server (2.1) knows one inactivity timeout for both the
 * reads and the writes of a connection. A slowloris keeps such a connection
 * forever by trickling a byte now and then, while a client that waits for a
 * slow upstream (a reasoning model thinking for minutes) is cut because it
 * has nothing to send. This module takes over every connection evhttp
 * accepts, with one timeout T:
 *
 *   - a request must arrive whole (request line, headers and body) within
 *     T of the connection opening or of the previous answer being written,
 *     or the connection is closed; an idle keep-alive connection too;
 *   - while a request is being answered there is no read timeout, only a
 *     write timeout: a client that takes in none of what waits for it for T
 *     is dropped;
 *   - a hang-up while a request is being answered is reported at once to
 *     whoever serves it;
 *   - final answers still being written are counted, so that a shutdown
 *     waits for them (and not for those whose client has gone).
 *
 * One table per evhttp, on its event loop; not thread-safe. */
#ifndef AROUTER_CLIENTCONN_H
#define AROUTER_CLIENTCONN_H

#include <event2/event.h>
#include <event2/http.h>

struct conn_table;
struct conn;

/* Takes over the connections http accepts from now on (evhttp_set_bevcb),
 * and never sets evhttp's own timeout. on_sent(arg) is called whenever a
 * counted answer has been written or dropped with its connection. */
struct conn_table *conn_table_new(struct evhttp *http, struct event_base *base, int timeout_s,
				  void (*on_sent)(void *arg), void *arg);
/* After evhttp_free, which closes the connections. NULL is fine. */
void conn_table_free(struct conn_table *t);

/* The connection a request arrived on, owned by the table (valid until the
 * connection closes); NULL if it is not known (then the calls below do
 * nothing). */
struct conn *conn_of(struct conn_table *t, struct evhttp_request *req);

/* Called when a request has arrived whole: its deadline stops until its
 * answer has been written. */
void conn_request_arrived(struct conn *c, struct evhttp_request *req);

/* on_hangup(owner) when the client goes away while its request is being
 * answered; conn_unwatch (or the answer being written) ends it. */
void conn_watch(struct conn *c, void (*on_hangup)(void *owner), void *owner);
void conn_unwatch(struct conn *c);

/* A final answer is being handed to evhttp: counted until it is written. */
void conn_sending(struct conn *c);

/* Writes what evhttp has queued on the connection now, instead of after
 * the next turn of the loop has reported the socket writable: the client
 * has its answer one epoll_wait sooner. What does not fit is left to the
 * bufferevent as before; evhttp learns the answer is out from its write
 * callback, run deferred (later in this turn of the loop, never from
 * inside the caller). Call it right after handing evhttp the answer. */
void conn_flush(struct conn *c);
/* conn_flush once the callbacks of this turn of the loop have run, so that
 * all they queue for the connection goes out in one write. Call it before
 * handing evhttp the data (which may end the request and free the
 * connection; then nothing is written). */
void conn_flush_soon(struct conn *c);

/* Counted answers not yet written. */
int conn_table_sending(const struct conn_table *t);
/* Open client connections. */
int conn_table_count(const struct conn_table *t);

#endif
