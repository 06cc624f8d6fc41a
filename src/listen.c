/* listen.c - listening sockets, systemd socket activation and the
 * stdin/stdout relay. See listen.h. */
#include "config.h"

#include "listen.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#define SD_LISTEN_FDS_START 3

/* Connections the kernel queues for a worker that is busy: a thousand
 * clients may connect at once (the kernel caps it at somaxconn). */
#define BACKLOG 1024

int listen_tcp(const char *host, int port, bool shared)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	char service[16];
	snprintf(service, sizeof service, "%d", port);
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(host, service, &hints, &ai);
	if (rc != 0) {
		errno = rc == EAI_SYSTEM ? errno : EADDRNOTAVAIL;
		return -1;
	}
	int fd = -1, saved = EADDRNOTAVAIL;
	for (const struct addrinfo *a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		int one = 1;
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
		    (!shared || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0) &&
		    bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, BACKLOG) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		errno = saved;
	return fd;
}

int listen_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return -1;
}

int listen_systemd_fd(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	if (!pid || !fds)
		return -1;
	char *end;
	errno = 0;
	long p = strtol(pid, &end, 10);
	if (errno || *end || p != (long)getpid())
		return -1;
	long n = strtol(fds, &end, 10);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (*end || n < 1)
		return -1;
	int fd = SD_LISTEN_FDS_START;
	int type = 0;
	socklen_t len = sizeof type;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
		return -1;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

struct stdio_relay {
	struct bufferevent *in, *out, *sock; /* in/out NULL for a regular file (epoll cannot watch one) */
	int out_fd;
	int local_port;
	void (*done)(void *arg);
	void *arg;
	bool in_eof, sock_eof, finished;
};

static void finish(struct stdio_relay *r)
{
	if (r->finished)
		return;
	r->finished = true;
	r->done(r->arg);
}

/* The server's side is over once it closed and stdout has it all. */
static void maybe_finish(struct stdio_relay *r)
{
	if (r->sock_eof && (!r->out || evbuffer_get_length(bufferevent_get_output(r->out)) == 0))
		finish(r);
}

static bool regular_file(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

static void on_stdin(struct bufferevent *bev, void *arg)
{
	struct stdio_relay *r = arg;
	bufferevent_write_buffer(r->sock, bufferevent_get_input(bev));
}

static void on_sock(struct bufferevent *bev, void *arg)
{
	struct stdio_relay *r = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	if (r->out) {
		bufferevent_write_buffer(r->out, in);
		return;
	}
	/* A regular file takes what it is given at once. */
	while (evbuffer_get_length(in) > 0)
		if (evbuffer_write(in, r->out_fd) < 0 && errno != EINTR) {
			evbuffer_drain(in, evbuffer_get_length(in));
			finish(r);
			return;
		}
}

static void on_stdout_drained(struct bufferevent *bev, void *arg)
{
	maybe_finish(arg);
}

static void on_stdin_event(struct bufferevent *bev, short what, void *arg)
{
	struct stdio_relay *r = arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		/* The client has said all it will: the server reads to the end
		 * of the request and answers. */
		r->in_eof = true;
		bufferevent_disable(bev, EV_READ);
		/* Not a half-close yet: the server takes a client's end of
		 * input for a hang-up and drops what it is answering. The
		 * server calls stdio_relay_end when nothing is in flight. */
	}
}

static void on_sock_event(struct bufferevent *bev, short what, void *arg)
{
	struct stdio_relay *r = arg;
	if (what & BEV_EVENT_CONNECTED) {
		bufferevent_enable(r->sock, EV_READ);
		if (r->in) {
			bufferevent_enable(r->in, EV_READ);
		} else {
			/* A file on stdin is read whole: it is the request. */
			struct evbuffer *b = evbuffer_new();
			while (evbuffer_read(b, STDIN_FILENO, 65536) > 0)
				;
			bufferevent_write_buffer(r->sock, b);
			evbuffer_free(b);
			r->in_eof = true;
		}
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		r->sock_eof = true;
		bufferevent_disable(bev, EV_READ);
		maybe_finish(r);
	}
}

static void on_stdout_event(struct bufferevent *bev, short what, void *arg)
{
	/* Nobody reads our answers any more. */
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		finish(arg);
}

struct stdio_relay *stdio_relay_new(struct event_base *base, int port, void (*done)(void *arg), void *arg)
{
	struct stdio_relay *r = xcalloc(1, sizeof *r);
	r->done = done;
	r->arg = arg;
	r->out_fd = STDOUT_FILENO;
	bool in_file = regular_file(STDIN_FILENO), out_file = regular_file(STDOUT_FILENO);
	if (!in_file) {
		evutil_make_socket_nonblocking(STDIN_FILENO);
		r->in = bufferevent_socket_new(base, STDIN_FILENO, 0);
	}
	if (!out_file) {
		evutil_make_socket_nonblocking(STDOUT_FILENO);
		r->out = bufferevent_socket_new(base, STDOUT_FILENO, 0);
	}
	r->sock = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if ((!in_file && !r->in) || (!out_file && !r->out) || !r->sock) {
		stdio_relay_free(r);
		errno = ENOMEM;
		return NULL;
	}
	if (r->in)
		bufferevent_setcb(r->in, on_stdin, NULL, on_stdin_event, r);
	bufferevent_setcb(r->sock, on_sock, NULL, on_sock_event, r);
	if (r->out) {
		bufferevent_setcb(r->out, NULL, on_stdout_drained, on_stdout_event, r);
		bufferevent_enable(r->out, EV_WRITE);
	}
	struct sockaddr_in lo = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bufferevent_socket_connect(r->sock, (struct sockaddr *)&lo, sizeof lo) < 0) {
		int e = errno;
		stdio_relay_free(r);
		errno = e;
		return NULL;
	}
	/* The relay's own port tells its connection from any other. */
	struct sockaddr_in me;
	socklen_t ml = sizeof me;
	if (getsockname(bufferevent_getfd(r->sock), (struct sockaddr *)&me, &ml) == 0)
		r->local_port = ntohs(me.sin_port);
	return r;
}

bool stdio_relay_input_over(const struct stdio_relay *r)
{
	return r->in_eof && evbuffer_get_length(bufferevent_get_output(r->sock)) == 0;
}

void stdio_relay_end(struct stdio_relay *r)
{
	shutdown(bufferevent_getfd(r->sock), SHUT_WR);
}

int stdio_relay_port(const struct stdio_relay *r)
{
	return r ? r->local_port : -1;
}

void stdio_relay_free(struct stdio_relay *r)
{
	if (!r)
		return;
	if (r->in)
		bufferevent_free(r->in);
	if (r->out)
		bufferevent_free(r->out);
	if (r->sock)
		bufferevent_free(r->sock);
	free(r);
}
