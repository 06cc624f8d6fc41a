/* cmd-proxy.c - `arouter proxy`: run the local gateway on 127.0.0.1.
 * The command is registered so that help, completion and the dispatcher
 * know it; its engine arrives with issue #4, and until then it says so
 * and fails rather than pretend. */
#include "config.h"

#include "cmd.h"

static const char *const proxy_usage[] = {
	"proxy [--listen HOST:PORT]",
	"",
	"Serve OpenAI, Anthropic and Gemini APIs on loopback in front of every provider.",
	NULL,
};

static int proxy_exec(struct context *ctx, int argc, char **argv)
{
	return cmd_not_built(ctx, &cmd_proxy, argc, argv, 4);
}

const struct command cmd_proxy = {
	.name = "proxy",
	.summary = "run the local gateway on 127.0.0.1",
	.usage = proxy_usage,
	.exec = proxy_exec,
};
