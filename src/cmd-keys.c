/* cmd-keys.c - `arouter keys`: manage gateway and local client keys.
 * The command is registered so that help, completion and the dispatcher
 * know it; its engine arrives with issue #6, and until then it says so
 * and fails rather than pretend. */
#include "config.h"

#include "cmd.h"
#include "util.h"

static const char *const keys_usage[] = {
	"keys list|create|show|update|revoke [options]",
	"",
	"Manage keys of the gateway account or of a local proxy.",
	NULL,
};

static int keys_exec(struct context *ctx, int argc, char **argv)
{
	while (cmd_getopt(ctx, &cmd_keys, argc, argv) != -1)
		;
	die(EXIT_FAILURE_GENERIC, "keys: not available in this build yet (tracked as issue #6)");
}

const struct command cmd_keys = {
	.name = "keys",
	.summary = "manage gateway and local client keys",
	.usage = keys_usage,
	.exec = keys_exec,
};
