/* listen.h - where `arouter proxy` gets its connections when it does not
 * bind a port itself: a listening socket passed by systemd (socket
 * activation, sd_listen_fds(3) protocol) or one connection on stdin and
 * stdout (inetd style, for editors and ssh). */
#ifndef AROUTER_LISTEN_H
#define AROUTER_LISTEN_H

#include <stdbool.h>

struct event_base;

/* A listening TCP socket on host:port (non-blocking, close-on-exec,
 * SO_REUSEADDR), or -1 with errno set. shared sets SO_REUSEPORT, so that
 * each worker of the proxy listens on the port with a socket of its own
 * and the kernel spreads the connections among them. */
int listen_tcp(const char *host, int port, bool shared);

/* The port a listening socket is bound to, or -1. */
int listen_port(int fd);

/* The first socket systemd passed to this process (fd 3), or -1 when
 * LISTEN_PID/LISTEN_FDS do not name this process. The variables are
 * removed so that children do not inherit them. */
int listen_systemd_fd(void);

/* Relays one connection between stdin/stdout and the HTTP server
 * listening on 127.0.0.1:port on base, as a loopback client. When either side ends and what was
 * read is written, done(arg) is called once. Returns NULL (errno set) on
 * failure. Owned by the caller; free with stdio_relay_free. */
struct stdio_relay;
struct stdio_relay *stdio_relay_new(struct event_base *base, int port, void (*done)(void *arg), void *arg);
/* The local port of the relay's connection: requests from any other
 * connection are not the one this process serves. */
int stdio_relay_port(const struct stdio_relay *r);
/* Whether stdin has ended and all of it went to the server. */
bool stdio_relay_input_over(const struct stdio_relay *r);
/* Ends the connection once the server has answered everything (the
 * server closes its side, the rest of its output goes to stdout, then
 * done is called). */
void stdio_relay_end(struct stdio_relay *r);
void stdio_relay_free(struct stdio_relay *r);

#endif
