/* server.h - the loopback listener of `arouter proxy`: libevent loops (one
 * a worker thread) serving HTTP clients, each with its upstream transfers on
 * the same loop; request
 * limits, Host/Origin checks, client keys, path routing to the pipeline,
 * the provider passthrough, an access log, graceful shutdown and reload. */
#ifndef AROUTER_SERVER_H
#define AROUTER_SERVER_H

#include "conf.h"

#include <stdbool.h>
#include <stdio.h>

#define SERVER_DEFAULT_PORT 8788
#define SERVER_MAX_WORKERS 64

struct server_options {
	const char *host;          /* default 127.0.0.1 */
	int port;                  /* default SERVER_DEFAULT_PORT; 0 picks a free one */
	const char *port_file;     /* if set, the bound port is written here once listening */
	bool allow_remote;         /* needed to bind a non-loopback address */
	FILE *log;                 /* access log (stderr by default) */
	size_t max_body_bytes;     /* 413 beyond this */
	size_t max_header_bytes;   /* 431 beyond this */
	long client_timeout_s;     /* a client sending nothing for this long is dropped */
	long connect_timeout_ms;   /* upstream: TCP/TLS connect */
	long idle_timeout_ms;      /* upstream: no byte for this long (first byte included) */
	long total_timeout_ms;     /* upstream: whole request */
	long shutdown_grace_ms;    /* in-flight requests may finish for this long after SIGTERM */
	bool stdio;                /* serve one connection on stdin/stdout, then exit */
	bool libcurl_only;         /* no built-in HTTP/1.1 client: libcurl for every upstream */
	int workers;               /* event loops (threads); 0: one a CPU, at most 8; --stdio: 1 */
};

/* Runs the proxy until SIGINT/SIGTERM (with --stdio, until its one
 * connection ends). A listening socket passed by systemd (LISTEN_FDS) is
 * used instead of binding one. ctx_flags select the config, which
 * SIGHUP reloads. Returns an exit code; errors are printed. */
int server_run(const struct config_flags *flags, const struct server_options *opts);

#endif
