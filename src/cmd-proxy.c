/* cmd-proxy.c - `arouter proxy`: options and a call into server.c. */
#include "config.h"

#include "buf.h"
#include "cmd.h"
#include "http-client.h"
#include "server.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const proxy_usage[] = {
	"proxy [--listen HOST:PORT] [--log FILE] [--allow-remote]",
	"proxy --status [--listen HOST:PORT] [--json]",
	"",
	"Serve the OpenAI (/v1/chat/completions), Anthropic (/v1/messages) and Gemini",
	"(/v1beta/models/M:generateContent) APIs on loopback in front of every provider,",
	"plus /v1/models, /health and the provider passthrough /{provider}/{path}.",
	"",
	"  --listen HOST:PORT   where to listen (default 127.0.0.1:8788; port 0 picks one)",
	"  --port-file FILE     write the port to FILE once listening (for scripts)",
	"  --log FILE           access log (default stderr); never prompt text or keys",
	"  --allow-remote       allow a non-loopback address (needs proxy.keys in the config)",
	"  --stdio              serve one HTTP connection on stdin/stdout, then exit (inetd, ssh)",
	"  --workers N          event loops, one a thread (default: one a CPU, at most 8)",
	"  --status             ask a running proxy how its providers, keys and routes are",
	"  --json               with --status: the /health JSON as it is",
	"",
	"SIGINT/SIGTERM stop accepting and let streams finish; SIGHUP reloads the config.",
	"A listening socket passed by systemd (socket activation) is used as it is.",
	NULL,
};

enum {
	OPT_LISTEN = 0x3000,
	OPT_LOG,
	OPT_ALLOW_REMOTE,
	OPT_PORT_FILE,
	OPT_STATUS,
	OPT_JSON,
	OPT_STDIO,
	OPT_WORKERS,
};

static const struct option proxy_options[] = {
	{"allow-remote", no_argument, NULL, OPT_ALLOW_REMOTE},
	{"json", no_argument, NULL, OPT_JSON},
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"log", required_argument, NULL, OPT_LOG},
	{"port-file", required_argument, NULL, OPT_PORT_FILE},
	{"status", no_argument, NULL, OPT_STATUS},
	{"stdio", no_argument, NULL, OPT_STDIO},
	{"workers", required_argument, NULL, OPT_WORKERS},
	{NULL, 0, NULL, 0},
};

/* --workers / proxy.workers: 1..SERVER_MAX_WORKERS, else -1. */
static int parse_workers(const char *s)
{
	char *end;
	errno = 0;
	long n = strtol(s, &end, 10);
	if (errno || end == s || *end || n < 1 || n > SERVER_MAX_WORKERS)
		return -1;
	return (int)n;
}

/* "HOST:PORT", ":PORT", "PORT" or "[V6]:PORT". */
static void parse_listen(const char *s, char **host, int *port)
{
	const char *colon = s[0] == '[' ? strstr(s, "]:") : strrchr(s, ':');
	const char *portstr = s;
	if (colon) {
		if (s[0] == '[') {
			*host = xstrndup(s + 1, (size_t)(colon - s - 1));
			portstr = colon + 2;
		} else {
			*host = colon == s ? NULL : xstrndup(s, (size_t)(colon - s));
			portstr = colon + 1;
		}
	}
	char *end;
	errno = 0;
	long p = strtol(portstr, &end, 10);
	if (*end || errno || p < 0 || p > 65535 || !*portstr)
		cmd_die_usage(&cmd_proxy, "--listen takes HOST:PORT, not '%s'", s);
	*port = (int)p;
}

static int collect(const char *data, size_t len, void *arg)
{
	buf_append(arg, data, len);
	return 0;
}

static void print_status(json_object *h)
{
	json_object *v, *providers, *routes;
	printf("status: %s", json_object_get_string(json_object_object_get(h, "status")));
	if (json_object_object_get_ex(h, "in_flight", &v))
		printf(", %d in flight", json_object_get_int(v));
	putchar('\n');
	if (json_object_object_get_ex(h, "providers", &providers) && json_object_object_length(providers) > 0) {
		printf("\n%-12s %-20s %-10s %s\n", "PROVIDER", "KEY", "STATE", "DETAIL");
		json_object_object_foreach (providers, slug, pool) {
			json_object *keys = json_object_object_get(pool, "keys");
			for (size_t i = 0; i < json_object_array_length(keys); i++) {
				json_object *k = json_object_array_get_idx(keys, i), *b;
				const char *key = json_object_get_string(json_object_object_get(k, "key"));
				struct buf d = BUF_INIT;
				if (json_object_object_get_ex(k, "available_in_ms", &v) && json_object_get_int64(v) > 0)
					buf_printf(&d, "available in %lld s ", (long long)((json_object_get_int64(v) + 999) / 1000));
				if (json_object_object_get_ex(k, "last_status", &v) && v)
					buf_printf(&d, json_object_get_int(v) ? "last status %d; " : "last: no response; ",
						   json_object_get_int(v));
				if (json_object_object_get_ex(k, "breaker", &b) &&
				    json_object_object_get_ex(b, "consecutive_failures", &v) && json_object_get_int(v) > 0)
					buf_printf(&d, "%d failures in a row", json_object_get_int(v));
				/* Redacted keys hold a 3-byte "…": pad by columns. */
				int extra = 0;
				for (const char *c = key ? key : ""; *c; c++)
					extra += ((unsigned char)*c & 0xC0) == 0x80;
				printf("%-12s %-*s %-10s %s\n", i == 0 ? slug : "", 20 + extra, key ? key : "(none)",
				       json_object_get_string(json_object_object_get(k, "state")), buf_str(&d));
				buf_free(&d);
			}
		}
	}
	if (json_object_object_get_ex(h, "routes", &routes) && json_object_object_length(routes) > 0) {
		printf("\n%-24s %s\n", "ROUTE", "STRATEGY");
		json_object_object_foreach (routes, name, r)
			printf("%-24s %s\n", name, json_object_get_string(json_object_object_get(r, "strategy")));
	}
}

/* `--status`: GET /health of the proxy this config (or --listen) names. */
static int proxy_status(struct context *ctx, const char *host, int port, bool json)
{
	struct config *cfg = context_config(ctx);
	json_object *pc, *keys;
	const char *key = NULL;
	if (json_object_object_get_ex(cfg->root, "proxy", &pc) && json_object_object_get_ex(pc, "keys", &keys) &&
	    json_object_array_length(keys) > 0) {
		json_object *k = json_object_array_get_idx(keys, 0), *v;
		key = json_object_is_type(k, json_type_object)
			      ? (json_object_object_get_ex(k, "key", &v) ? json_object_get_string(v) : NULL)
			      : json_object_get_string(k);
	}
	char *url = xasprintf("http://%s%s%s:%d/health", strchr(host, ':') ? "[" : "", host,
			      strchr(host, ':') ? "]" : "", port);
	char *auth = key ? xasprintf("Bearer %s", key) : NULL;
	struct http_header h = {"Authorization", auth};
	struct http_request req = {.method = "GET", .url = url, .headers = auth ? &h : NULL, .n_headers = auth ? 1 : 0,
				   .connect_timeout_ms = 2000, .total_timeout_ms = 5000};
	struct buf body = BUF_INIT;
	struct http_response resp;
	enum http_outcome o = http_perform(&req, collect, &body, &resp);
	int rc = EXIT_OK;
	json_object *health = o == XFER_OK && resp.status == 200 ? json_tokener_parse(buf_str(&body)) : NULL;
	if (o != XFER_OK) {
		errorx("proxy: no proxy answers at %s: %s", url, resp.error ? resp.error : "network error");
		rc = EXIT_NETWORK;
	} else if (!health) {
		errorx("proxy: %s answered %ld, not a health report", url, resp.status);
		rc = EXIT_UPSTREAM;
	} else if (json) {
		printf("%s\n", json_object_to_json_string_ext(health, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	} else {
		print_status(health);
	}
	if (health)
		json_object_put(health);
	http_response_clear(&resp);
	buf_free(&body);
	free(auth);
	free(url);
	return rc;
}

static int proxy_exec(struct context *ctx, int argc, char **argv)
{
	struct server_options o = {
		.port = SERVER_DEFAULT_PORT,
		.log = stderr,
		.max_body_bytes = 32u * 1024 * 1024,
		.max_header_bytes = 64u * 1024,
		.client_timeout_s = 60,
		.connect_timeout_ms = 10000,
		.idle_timeout_ms = 120000,
		.shutdown_grace_ms = 10000,
	};
	char *host = NULL;
	const char *log_path = NULL;
	bool listen_given = false, status = false, json = false;
	int opt;
	while ((opt = cmd_getopt(ctx, &cmd_proxy, argc, argv)) != -1) {
		switch (opt) {
		case OPT_LISTEN:
			free(host);
			host = NULL;
			parse_listen(optarg, &host, &o.port);
			listen_given = true;
			break;
		case OPT_LOG:
			log_path = optarg;
			break;
		case OPT_ALLOW_REMOTE:
			o.allow_remote = true;
			break;
		case OPT_PORT_FILE:
			o.port_file = optarg;
			break;
		case OPT_STATUS:
			status = true;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_STDIO:
			o.stdio = true;
			break;
		case OPT_WORKERS:
			o.workers = parse_workers(optarg);
			if (o.workers < 1)
				cmd_die_usage(&cmd_proxy, "--workers takes a number from 1 to %d, not '%s'", SERVER_MAX_WORKERS,
					      optarg);
			break;
		}
	}
	if (optind < argc)
		cmd_die_usage(&cmd_proxy, "unexpected argument '%s'", argv[optind]);
	/* Config defaults (proxy.*) apply where no flag was given. */
	json_object *pc, *v2;
	struct config *cfg = context_config(ctx);
	config_warn_problems(cfg);
	if (json_object_object_get_ex(cfg->root, "proxy", &pc)) {
		if (!listen_given && json_object_object_get_ex(pc, "listen", &v2) && json_object_is_type(v2, json_type_string))
			parse_listen(json_object_get_string(v2), &host, &o.port);
		if (!log_path && json_object_object_get_ex(pc, "log", &v2) && json_object_is_type(v2, json_type_string))
			log_path = json_object_get_string(v2);
		if (json_object_object_get_ex(pc, "max_body_bytes", &v2) && json_object_get_int64(v2) > 0)
			o.max_body_bytes = (size_t)json_object_get_int64(v2);
		if (json_object_object_get_ex(pc, "max_header_bytes", &v2) && json_object_get_int64(v2) > 0)
			o.max_header_bytes = (size_t)json_object_get_int64(v2);
		if (json_object_object_get_ex(pc, "idle_timeout", &v2) && json_object_get_double(v2) > 0)
			o.idle_timeout_ms = (long)(json_object_get_double(v2) * 1000);
		if (json_object_object_get_ex(pc, "timeout", &v2) && json_object_get_double(v2) > 0)
			o.total_timeout_ms = (long)(json_object_get_double(v2) * 1000);
		if (json_object_object_get_ex(pc, "client_timeout", &v2) && json_object_get_double(v2) > 0)
			o.client_timeout_s = (long)json_object_get_double(v2);
		if (json_object_object_get_ex(pc, "connect_timeout", &v2) && json_object_get_double(v2) > 0)
			o.connect_timeout_ms = (long)(json_object_get_double(v2) * 1000);
		if (json_object_object_get_ex(pc, "shutdown_grace", &v2) && json_object_get_double(v2) > 0)
			o.shutdown_grace_ms = (long)(json_object_get_double(v2) * 1000);
		if (!o.workers && json_object_object_get_ex(pc, "workers", &v2)) {
			o.workers = json_object_is_type(v2, json_type_int) ? parse_workers(json_object_get_string(v2)) : -1;
			if (o.workers < 1)
				die(EXIT_CONFIG, "proxy.workers must be a number from 1 to %d", SERVER_MAX_WORKERS);
		}
		if (json_object_object_get_ex(pc, "http_client", &v2) && json_object_is_type(v2, json_type_string))
			o.libcurl_only = strcmp(json_object_get_string(v2), "libcurl") == 0;
	}
	if (status) {
		int rc = proxy_status(ctx, host ? host : "127.0.0.1", o.port, json);
		free(host);
		return rc;
	}
	if (json)
		cmd_die_usage(&cmd_proxy, "--json goes with --status");
	const char *v = getenv("AROUTER_IDLE_TIMEOUT");
	if (!str_empty(v))
		o.idle_timeout_ms = (long)(atof(v) * 1000);
	v = getenv("AROUTER_TIMEOUT");
	if (!str_empty(v))
		o.total_timeout_ms = (long)(atof(v) * 1000);
	v = getenv("AROUTER_HTTP_CLIENT");
	if (!str_empty(v)) {
		if (strcmp(v, "builtin") != 0 && strcmp(v, "libcurl") != 0)
			die(EXIT_CONFIG, "proxy: AROUTER_HTTP_CLIENT must be builtin or libcurl, not '%s'", v);
		o.libcurl_only = strcmp(v, "libcurl") == 0;
	}
	if (log_path) {
		o.log = fopen(log_path, "a");
		if (!o.log)
			die(EXIT_FAILURE_GENERIC, "proxy: cannot open the log '%s': %s", log_path, strerror(errno));
	}
	o.host = host;
	int rc = server_run(&ctx->flags, &o);
	if (o.log && o.log != stderr)
		fclose(o.log);
	free(host);
	return rc;
}

const struct command cmd_proxy = {
	.name = "proxy",
	.summary = "run the local gateway on 127.0.0.1",
	.usage = proxy_usage,
	.options = proxy_options,
	.exec = proxy_exec,
};
