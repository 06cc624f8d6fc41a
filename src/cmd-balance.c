/* cmd-balance.c - `arouter balance`: show the credit balance and spend.
 * The command is registered so that help, completion and the dispatcher
 * know it; its engine arrives with issue #6, and until then it says so
 * and fails rather than pretend. */
#include "config.h"

#include "cmd.h"

static const char *const balance_usage[] = {
	"balance [--json]",
	"",
	"Show the gateway account's balance, or each local key's budget and spend.",
	NULL,
};

static int balance_exec(struct context *ctx, int argc, char **argv)
{
	return cmd_not_built(ctx, &cmd_balance, argc, argv, 6);
}

const struct command cmd_balance = {
	.name = "balance",
	.summary = "show the credit balance and spend",
	.usage = balance_usage,
	.exec = balance_exec,
};
