/* cmd.h - the command table: one struct command per cmd-*.c file, listed in
 * main.c, and the option parsing every command shares. */
#ifndef AROUTER_CMD_H
#define AROUTER_CMD_H

#include "conf.h"

#include <getopt.h>
#include <stdbool.h>

struct context {
	struct config_flags flags;
	struct config config;
	bool config_loaded;
};

struct command {
	const char *name;
	const char *alias;           /* NULL if none */
	const char *summary;         /* one line for `arouter help` */
	const char *const *usage;    /* NULL-terminated lines; the first is the synopsis */
	const struct option *options; /* the command's own options, {0}-terminated; may be NULL */
	const char *shortopts;       /* getopt short options for them ("" if none) */
	int (*exec)(struct context *ctx, int argc, char **argv);
};

/* `arouter usage` is cmd_usage_report: cmd_usage prints a command's usage. */
extern const struct command cmd_chat, cmd_models, cmd_balance, cmd_keys, cmd_usage_report, cmd_proxy, cmd_config,
	cmd_help;

/* Loads the configuration on first use; exits with EXIT_CONFIG and a
 * one-line message if it is malformed. Returns ctx's config. */
struct config *context_config(struct context *ctx);

/* Option ids for the global options, which every command also accepts. */
enum {
	GOPT_CONFIG = 0x1000,
	GOPT_BASE_URL,
	GOPT_API_KEY,
	GOPT_VERSION,
	GOPT_HELP = 'h',
	GOPT_VERBOSE = 'v',
	GOPT_QUIET = 'q',
};

/* getopt_long over the command's options plus the global ones. Global
 * options are applied to ctx and skipped; returns the command's option id,
 * or -1 at the end. An unknown option or a missing argument exits 2 with a
 * "did you mean" suggestion. -h prints the command's usage and exits 0. */
int cmd_getopt(struct context *ctx, const struct command *cmd, int argc, char **argv);

/* Prints the command's usage (to stdout with status 0, else stderr) and exits. */
void cmd_usage(const struct command *cmd, int status) __attribute__((noreturn));

/* Exits 2 with "COMMAND: MESSAGE" and a pointer to help. */
void cmd_die_usage(const struct command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));


/* The command table, for help and completion. */
extern const struct command *const commands[];
extern const size_t n_commands;
const struct command *command_find(const char *name);

#endif
