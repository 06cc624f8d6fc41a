/* cmd-keys.c - `arouter keys`: manage gateway and local client keys.
 * The command is registered so that help, completion and the dispatcher
 * know it; its engine arrives with issue #6, and until then it says so
 * and fails rather than pretend. */
#include "config.h"

#include "cmd.h"

static const char *const keys_usage[] = {
	"keys list|create|show|update|revoke [options]",
	"",
	"Manage keys of the gateway account or of a local proxy.",
	NULL,
};

static int keys_exec(struct context *ctx, int argc, char **argv)
{
	return cmd_not_built(ctx, &cmd_keys, argc, argv, 6);
}

const struct command cmd_keys = {
	.name = "keys",
	.summary = "manage gateway and local client keys",
	.usage = keys_usage,
	.exec = keys_exec,
};
