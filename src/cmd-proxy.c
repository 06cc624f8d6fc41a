/* cmd-proxy.c - `arouter proxy`: options and a call into server.c. */
#include "config.h"

#include "cmd.h"
#include "server.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const proxy_usage[] = {
	"proxy [--listen HOST:PORT] [--log FILE] [--allow-remote]",
	"",
	"Serve the OpenAI (/v1/chat/completions), Anthropic (/v1/messages) and Gemini",
	"(/v1beta/models/M:generateContent) APIs on loopback in front of every provider,",
	"plus /v1/models, /health and the provider passthrough /{provider}/{path}.",
	"",
	"  --listen HOST:PORT   where to listen (default 127.0.0.1:8788; port 0 picks one)",
	"  --port-file FILE     write the port to FILE once listening (for scripts)",
	"  --log FILE           access log (default stderr); never prompt text or keys",
	"  --allow-remote       allow a non-loopback address (needs proxy.keys in the config)",
	"",
	"SIGINT/SIGTERM stop accepting and let streams finish; SIGHUP reloads the config.",
	NULL,
};

enum {
	OPT_LISTEN = 0x3000,
	OPT_LOG,
	OPT_ALLOW_REMOTE,
	OPT_PORT_FILE,
};

static const struct option proxy_options[] = {
	{"allow-remote", no_argument, NULL, OPT_ALLOW_REMOTE},
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"log", required_argument, NULL, OPT_LOG},
	{"port-file", required_argument, NULL, OPT_PORT_FILE},
	{NULL, 0, NULL, 0},
};

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
	bool listen_given = false;
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
		}
	}
	if (optind < argc)
		cmd_die_usage(&cmd_proxy, "unexpected argument '%s'", argv[optind]);
	/* Config defaults (proxy.*) apply where no flag was given. */
	json_object *pc, *v2;
	struct config *cfg = context_config(ctx);
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
	}
	const char *v = getenv("AROUTER_IDLE_TIMEOUT");
	if (!str_empty(v))
		o.idle_timeout_ms = (long)(atof(v) * 1000);
	v = getenv("AROUTER_TIMEOUT");
	if (!str_empty(v))
		o.total_timeout_ms = (long)(atof(v) * 1000);
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
