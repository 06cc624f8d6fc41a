/* cmd-config.c - `arouter config path|show|check`: where the config is, the
 * effective configuration with secrets redacted, and strict validation. */
#include "config.h"

#include "cmd.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const config_usage[] = {
	"config path|show|check",
	"",
	"  path     print the config file in use and whether it exists",
	"  show     print the effective configuration (file, environment and flags",
	"           merged) as JSON, with every secret redacted",
	"  check    validate the config file; problems are printed as",
	"           FILE:LINE:COL: message and the exit status is 3",
	NULL,
};

static int config_exec(struct context *ctx, int argc, char **argv)
{
	while (cmd_getopt(ctx, &cmd_config, argc, argv) != -1)
		;
	if (optind >= argc)
		cmd_die_usage(&cmd_config, "say path, show or check");
	const char *sub = argv[optind];
	if (optind + 1 < argc)
		cmd_die_usage(&cmd_config, "'%s' takes no arguments", sub);

	if (strcmp(sub, "path") == 0) {
		/* Works even when the file is malformed: that is when it is needed. */
		const char *source;
		char *path = config_default_path(&ctx->flags, &source);
		printf("%s\n", path);
		FILE *f = fopen(path, "r");
		if (f)
			fclose(f);
		else
			verbose("%s does not exist (selected by %s)", path, source);
		free(path);
		return EXIT_OK;
	}
	if (strcmp(sub, "show") == 0) {
		struct config *c = context_config(ctx);
		json_object *o = config_effective_json(c);
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
								     JSON_C_TO_STRING_SPACED |
								     JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		return EXIT_OK;
	}
	if (strcmp(sub, "check") == 0) {
		ctx->flags.lenient = true;
		struct config *c = context_config(ctx);
		char *report = NULL;
		int problems = config_check(c, &report);
		if (problems > 0) {
			fputs(report, stderr);
			free(report);
			return EXIT_CONFIG;
		}
		free(report);
		if (c->file_exists)
			printf("%s: ok\n", c->path);
		else
			printf("%s: no config file; using built-in defaults\n", c->path);
		return EXIT_OK;
	}
	const char *subs[] = {"path", "show", "check"};
	const char *hint = suggest(sub, subs, 3);
	if (hint)
		cmd_die_usage(&cmd_config, "unknown subcommand '%s' (did you mean '%s'?)", sub, hint);
	cmd_die_usage(&cmd_config, "unknown subcommand '%s'", sub);
}

const struct command cmd_config = {
	.name = "config",
	.summary = "show where the config is, what is in effect, and check it",
	.usage = config_usage,
	.exec = config_exec,
};
