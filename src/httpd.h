/* httpd.h - the proxy's HTTP/1.1 server: connections accepted from a
 * listening socket on an event loop, requests parsed in place, answers
 * written straight to the socket.
 *
 * It replaced libevent's evhttp, which cost the proxy about a third of
 * its instructions per request (header lines printed one by one, a small
 * allocation per header part, an ioctl before every read, reading
 * switched off and on around every request) and knew one inactivity
 * timeout for reads and writes alike.
 *
 * Per connection, with one timeout T:
 *   - a request must arrive whole (request line, headers and body) within
 *     T of the connection opening or of the previous answer being written,
 *     or the connection is closed; an idle kept-alive connection too;
 *   - while a request is being answered there is no read timeout, only a
 *     write timeout: a client that takes in none of what waits for it for
 *     T is dropped;
 *   - a hang-up while a request is being answered is reported at once to
 *     whoever serves it (hreq_watch);
 *   - requests are answered in order; a pipelined one waits in the input
 *     buffer until the one before it is answered.
 *
 * Limits: a head (request line and headers) that has not ended within
 * max_header_bytes, or a body over max_body_bytes (declared, or counted as
 * chunks arrive), is
 * still handed over, without its body, with hreq_too_large() saying 431
 * or 413, so that it can be refused in the client's own dialect; its
 * connection is closed after that answer. Only what cannot be handed over
 * at all (no request line within the limit, a malformed request, an
 * unknown method or version) is answered here, with a bare status.
 *
 * Headers are libevent's evkeyvalq lists, so that evhttp_find_header and
 * evhttp_add_header work on them; the input list points into the
 * connection's buffer and must not be changed.
 *
 * One server per event loop; not thread-safe. */
#ifndef AROUTER_HTTPD_H
#define AROUTER_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct evkeyvalq;
struct httpd;
struct hreq;

enum hmethod {
	HM_GET = 1,
	HM_POST = 2,
	HM_PUT = 4,
	HM_DELETE = 8,
	HM_PATCH = 16,
	HM_OPTIONS = 32,
};

struct httpd_options {
	size_t max_header_bytes; /* head larger than this: 431 */
	size_t max_body_bytes;   /* body larger than this: 413 */
	int timeout_s;           /* T above; 60 if not positive */
};

/* Called for every request read whole (or refused as too large). The
 * request must be answered with hreq_send_reply, or hreq_send_reply_start
 * and then hreq_send_reply_end, now or later. */
typedef void (*httpd_request_fn)(struct hreq *r, void *arg);

/* on_sent(arg) is called whenever an answer counted by hreq_sending has
 * been written or dropped with its connection. */
struct httpd *httpd_new(struct event_base *base, const struct httpd_options *o, httpd_request_fn on_request,
			void (*on_sent)(void *arg), void *arg);
/* Closes every connection (requests still being answered are reported as
 * hang-ups first) and the listening socket. */
void httpd_free(struct httpd *h);

/* Accepts connections from fd, a non-blocking listening socket, which
 * the server now owns. Returns 0, or -1 with errno set. */
int httpd_listen(struct httpd *h, int fd);
/* Stops accepting and closes the listening socket. */
void httpd_stop_listening(struct httpd *h);

/* Serves fd, a connected stream socket (made non-blocking), as if it
 * had been accepted from peer_port; the server owns it. 0, or -1. */
int httpd_adopt(struct httpd *h, int fd, int peer_port);

/* Final answers queued and not yet written. */
int httpd_sending(const struct httpd *h);
/* Open connections. */
int httpd_connections(const struct httpd *h);

/* What the accessors below return belongs to the request: valid until
 * its answer ends (or, for a watched request, until hreq_unwatch); never
 * freed by the caller. */
enum hmethod hreq_method(const struct hreq *r);
/* The request target as sent ("/path?query"). */
const char *hreq_uri(const struct hreq *r);
/* The target's path, before any '?' ('#'), as sent (not decoded). */
const char *hreq_path(const struct hreq *r);
/* The target's query, after the '?', or NULL. */
const char *hreq_query(const struct hreq *r);
struct evkeyvalq *hreq_input_headers(struct hreq *r);
struct evkeyvalq *hreq_output_headers(struct hreq *r);
/* The body (de-chunked; not NUL-terminated); valid until the answer ends. */
const char *hreq_body(const struct hreq *r, size_t *len);
/* 431 or 413 when the request was over a limit (no body then), else 0. */
int hreq_too_large(const struct hreq *r);
/* The client's port (the proxy's own port for --stdio's relay). */
int hreq_peer_port(const struct hreq *r);

/* The whole answer: status, the output headers plus Content-Length (and
 * Connection when the connection will close), and len bytes of body. It
 * is written at once; what the socket does not take is written as it
 * can. The request is freed. Counted by httpd_sending until written. */
void hreq_send_reply(struct hreq *r, int status, const void *body, size_t len);
/* A streamed answer: the status and headers now, the body in chunks
 * (chunked encoding; to an HTTP/1.0 client, until the connection closes).
 * Chunks are written at the end of the loop's turn, so that those queued
 * in one turn go out in one write. */
void hreq_send_reply_start(struct hreq *r, int status);
void hreq_send_reply_chunk(struct hreq *r, const void *data, size_t len);
/* The end of a streamed answer; the request is freed. */
void hreq_send_reply_end(struct hreq *r);
/* Ends the request by closing its connection now (a cut stream): the
 * hang-up callback, if any, is called; the request is freed. */
void hreq_abort(struct hreq *r);

/* on_hangup(owner) is called once if the connection closes before the
 * answer has ended; the request is freed after it returns, and must not
 * be used after that. A watched request outlives its answer (its headers
 * stay readable) until hreq_unwatch, which frees an answered request;
 * calls other than hreq_unwatch on it do nothing. Without a watch, the
 * answer frees the request, and a request whose client has gone waits
 * for its answer, which is then discarded. */
void hreq_watch(struct hreq *r, void (*on_hangup)(void *owner), void *owner);
void hreq_unwatch(struct hreq *r);

#endif
