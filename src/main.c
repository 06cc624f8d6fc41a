/* main.c - global options, the command table, dispatch and exit codes. */
#include "config.h"

#include "cmd.h"
#include "curl-load.h"
#include "http-client.h"
#include "util.h"

#ifdef HAVE_MIMALLOC
#include <mimalloc.h>
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct command *const commands[] = {
	&cmd_chat, &cmd_models, &cmd_balance, &cmd_keys, &cmd_usage_report, &cmd_proxy, &cmd_config, &cmd_help,
};
const size_t n_commands = sizeof commands / sizeof commands[0];

static const char *const main_usage[] = {
	"arouter [global options] COMMAND [options] [ARGS]",
	"",
	"One binary for LLMs: a terminal client and a local gateway for every provider.",
	"",
	"Global options (accepted before or after COMMAND):",
	"  --config FILE     read this config file (default $XDG_CONFIG_HOME/arouter/config.json)",
	"  --base-url URL    the ARouter-compatible gateway (default https://api.arouter.ai)",
	"  --api-key KEY     the gateway key (prefer AROUTER_API_KEY: flags show in ps)",
	"  -v, --verbose     say more on stderr (repeatable)",
	"  -q, --quiet       only errors on stderr",
	"  --version         print the version and exit",
	"  -h, --help        print help and exit",
	NULL,
};

static const struct option global_options[] = {
	{"config", required_argument, NULL, GOPT_CONFIG},
	{"base-url", required_argument, NULL, GOPT_BASE_URL},
	{"api-key", required_argument, NULL, GOPT_API_KEY},
	{"verbose", no_argument, NULL, GOPT_VERBOSE},
	{"quiet", no_argument, NULL, GOPT_QUIET},
	{"version", no_argument, NULL, GOPT_VERSION},
	{"help", no_argument, NULL, GOPT_HELP},
	{NULL, 0, NULL, 0},
};
#define GLOBAL_SHORTOPTS "hvq"

const struct command *command_find(const char *name)
{
	for (size_t i = 0; i < n_commands; i++)
		if (strcmp(commands[i]->name, name) == 0 ||
		    (commands[i]->alias && strcmp(commands[i]->alias, name) == 0))
			return commands[i];
	return NULL;
}

__attribute__((noreturn)) static void print_version(void)
{
	const char *err = NULL;
	const struct curl_api *cu = curl_load(&err);
	const curl_version_info_data *cv = cu ? cu->version_info(CURLVERSION_NOW) : NULL;
#ifdef HAVE_MIMALLOC
	int mv = mi_version();
	if (cv)
		printf("arouter %s (libcurl %s, mimalloc %d.%d.%d)\n", PACKAGE_VERSION, cv->version, mv / 100,
		       mv / 10 % 10, mv % 10);
#else
	if (cv)
		printf("arouter %s (libcurl %s)\n", PACKAGE_VERSION, cv->version);
#endif
	else
		printf("arouter %s (%s)\n", PACKAGE_VERSION, err ? err : "libcurl unavailable");
	exit(EXIT_OK);
}

static void print_main_help(FILE *out)
{
	fprintf(out, "usage: %s\n", main_usage[0]);
	for (size_t i = 1; main_usage[i]; i++)
		fprintf(out, "%s\n", main_usage[i]);
	fprintf(out, "\nCommands:\n");
	for (size_t i = 0; i < n_commands; i++)
		fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(out, "\nRun 'arouter help COMMAND' for a command's options; man arouter for the rest.\n");
}

void cmd_usage(const struct command *cmd, int status)
{
	FILE *out = status == 0 ? stdout : stderr;
	fprintf(out, "usage: arouter %s\n", cmd->usage[0]);
	for (size_t i = 1; cmd->usage[i]; i++)
		fprintf(out, "%s\n", cmd->usage[i]);
	exit(status);
}

void cmd_die_usage(const struct command *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	fprintf(stderr, "arouter: %s: %s (see 'arouter help %s')\n", cmd->name, msg, cmd->name);
	free(msg);
	exit(EXIT_USAGE);
}

struct config *context_config(struct context *ctx)
{
	if (!ctx->config_loaded) {
		char *err = NULL;
		if (config_load(&ctx->config, &ctx->flags, &err) < 0) {
			errorx("%s", err);
			free(err);
			exit(EXIT_CONFIG);
		}
		ctx->config_loaded = true;
	}
	return &ctx->config;
}

/* Names for "did you mean" on an unknown option: long options as "--name". */
static void die_unknown_option(const char *who, const char *arg, const struct option *a, const struct option *b)
{
	char *names[128];
	size_t n = 0;
	for (const struct option *t = a; t && t->name && n < 128; t++)
		names[n++] = xasprintf("--%s", t->name);
	for (const struct option *t = b; t && t->name && n < 128; t++)
		names[n++] = xasprintf("--%s", t->name);
	char *word = xstrdup(arg);
	char *eq = strchr(word, '=');
	if (eq)
		*eq = '\0';
	const char *hint = str_has_prefix(word, "--") ? suggest(word, (const char *const *)names, n) : NULL;
	/* Global options before the command have no command to name. */
	bool global = strcmp(who, "arouter") == 0;
	char *prefix = global ? xstrdup("") : xasprintf("%s: ", who);
	fflush(stdout);
	if (hint)
		fprintf(stderr, "arouter: %sunknown option '%s' (did you mean '%s'?)\n", prefix, word, hint);
	else
		fprintf(stderr, "arouter: %sunknown option '%s' (see 'arouter help%s%s')\n", prefix, word,
			global ? "" : " ", global ? "" : who);
	free(prefix);
	free(word);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	exit(EXIT_USAGE);
}

/* Applies a global option; returns false if id is not one. */
static bool apply_global(struct context *ctx, const struct command *cmd, int id, const char *arg)
{
	switch (id) {
	case GOPT_CONFIG:
		ctx->flags.config_path = arg;
		return true;
	case GOPT_BASE_URL:
		ctx->flags.base_url = arg;
		return true;
	case GOPT_API_KEY:
		ctx->flags.api_key = arg;
		return true;
	case GOPT_VERBOSE:
		verbosity = verbosity < 0 ? 1 : verbosity + 1;
		return true;
	case GOPT_QUIET:
		verbosity = -1;
		return true;
	case GOPT_VERSION:
		print_version();
	case GOPT_HELP:
		if (cmd)
			cmd_usage(cmd, EXIT_OK);
		print_main_help(stdout);
		exit(EXIT_OK);
	}
	return false;
}

int cmd_getopt(struct context *ctx, const struct command *cmd, int argc, char **argv)
{
	static struct option merged[128];
	static char shortopts[128];
	static const struct command *built_for;
	if (built_for != cmd) {
		size_t n = 0;
		for (const struct option *t = cmd->options; t && t->name; t++)
			merged[n++] = *t;
		for (const struct option *t = global_options; t->name; t++)
			merged[n++] = *t;
		memset(&merged[n], 0, sizeof merged[n]);
		/* '+' would stop at the first operand; commands take options after
		 * their operands too ("chat 'hi' -m x"), so GNU permutation stays on.
		 * ':' makes a missing argument distinguishable from an unknown option. */
		snprintf(shortopts, sizeof shortopts, ":%s%s", cmd->shortopts ? cmd->shortopts : "",
			 GLOBAL_SHORTOPTS);
		built_for = cmd;
	}
	for (;;) {
		int idx = -1;
		int c = getopt_long(argc, argv, shortopts, merged, &idx);
		if (c == -1)
			return -1;
		if (c == '?') {
			const char *bad = argv[optind - 1];
			if (optopt && !str_has_prefix(bad, "--")) {
				char tmp[3] = {'-', (char)optopt, '\0'};
				die_unknown_option(cmd->name, tmp, cmd->options, global_options);
			}
			die_unknown_option(cmd->name, bad, cmd->options, global_options);
		}
		if (c == ':')
			cmd_die_usage(cmd, "option '%s' needs a value", argv[optind - 1]);
		if (apply_global(ctx, cmd, c, optarg))
			continue;
		return c;
	}
}

static const char *const help_usage[] = {
	"help [COMMAND]",
	"",
	"Print the list of commands, or one command's usage and options.",
	NULL,
};

static void die_unknown_command(const char *name)
{
	const char *names[32];
	size_t n = 0;
	for (size_t i = 0; i < n_commands; i++)
		names[n++] = commands[i]->name;
	const char *hint = suggest(name, names, n);
	fflush(stdout);
	if (hint)
		fprintf(stderr, "arouter: '%s' is not a command (did you mean '%s'?)\n", name, hint);
	else
		fprintf(stderr, "arouter: '%s' is not a command (see 'arouter help')\n", name);
	exit(EXIT_USAGE);
}

static int help_exec(struct context *ctx, int argc, char **argv)
{
	int c;
	while ((c = cmd_getopt(ctx, &cmd_help, argc, argv)) != -1)
		;
	if (optind >= argc) {
		print_main_help(stdout);
		return EXIT_OK;
	}
	if (optind + 1 < argc)
		cmd_die_usage(&cmd_help, "one command at a time");
	const struct command *cmd = command_find(argv[optind]);
	if (!cmd)
		die_unknown_command(argv[optind]);
	cmd_usage(cmd, EXIT_OK);
}

const struct command cmd_help = {
	.name = "help",
	.summary = "show the commands, or one command's usage",
	.usage = help_usage,
	.exec = help_exec,
};

int main(int argc, char **argv)
{
	struct context ctx;
	memset(&ctx, 0, sizeof ctx);
	use_c_locale();

	/* Global options before the command; '+' stops at the command name. */
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+:" GLOBAL_SHORTOPTS, global_options, NULL)) != -1) {
		if (c == '?')
			die_unknown_option("arouter", argv[optind - 1], global_options, NULL);
		if (c == ':') {
			fprintf(stderr, "arouter: option '%s' needs a value (see 'arouter help')\n", argv[optind - 1]);
			return EXIT_USAGE;
		}
		apply_global(&ctx, NULL, c, optarg);
	}
	if (optind >= argc) {
		print_main_help(stderr);
		return EXIT_USAGE;
	}
	const struct command *cmd = command_find(argv[optind]);
	if (!cmd)
		die_unknown_command(argv[optind]);

	/* The command sees argv starting at its own name; getopt restarts. */
	int cargc = argc - optind;
	char **cargv = argv + optind;
	optind = 0;
	int rc = cmd->exec(&ctx, cargc, cargv);

	if (ctx.config_loaded)
		config_free(&ctx.config);
	http_client_cleanup();
	return rc;
}
