/* cmd-balance.c - `arouter balance`: show the credit balance and spend.
 * The command is registered so that help, completion and the dispatcher
 * know it; its engine arrives with issue #6, and until then it says so
 * and fails rather than pretend. */
#include "config.h"

#include "cmd.h"
#include "util.h"

static const char *const balance_usage[] = {
	"balance [--json]",
	"",
	"Show the gateway account's balance, or each local key's budget and spend.",
	NULL,
};

static int balance_exec(struct context *ctx, int argc, char **argv)
{
	while (cmd_getopt(ctx, &cmd_balance, argc, argv) != -1)
		;
	die(EXIT_FAILURE_GENERIC, "balance: not available in this build yet (tracked as issue #6)");
}

const struct command cmd_balance = {
	.name = "balance",
	.summary = "show the credit balance and spend",
	.usage = balance_usage,
	.exec = balance_exec,
};
