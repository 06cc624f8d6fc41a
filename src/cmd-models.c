/* cmd-models.c - `arouter models`: list models with context length and pricing.
 * The command is registered so that help, completion and the dispatcher
 * know it; its engine arrives with issue #6, and until then it says so
 * and fails rather than pretend. */
#include "config.h"

#include "cmd.h"

static const char *const models_usage[] = {
	"models [QUERY] [--provider P] [--json] [--live]",
	"",
	"List the models of the catalog or of the gateway.",
	NULL,
};

static int models_exec(struct context *ctx, int argc, char **argv)
{
	return cmd_not_built(ctx, &cmd_models, argc, argv, 6);
}

const struct command cmd_models = {
	.name = "models",
	.summary = "list models with context length and pricing",
	.usage = models_usage,
	.exec = models_exec,
};
