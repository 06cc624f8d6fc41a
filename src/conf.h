/* conf.h - the configuration: the config file, the environment and the
 * command-line flags merged into one struct config (flag > environment >
 * file > built-in default). Implemented in config.c. */
#ifndef AROUTER_CONF_H
#define AROUTER_CONF_H

#include "provider.h"

#include <json-c/json.h>
#include <stdbool.h>

#define AROUTER_DEFAULT_BASE_URL "https://api.arouter.ai"

/* Global flags that override the file and the environment. */
struct config_flags {
	const char *config_path;
	const char *base_url;
	const char *api_key;
	bool lenient; /* load despite type errors, for `config check` to list them all */
	bool quiet;   /* no warnings: the same file was loaded (and warned about) already */
};

/* A merged setting and where it came from. */
struct setting {
	char *value;        /* NULL when unset */
	const char *source; /* "flag", an environment variable, "config", "default" */
};

struct config {
	char *path;              /* the config file in use (may not exist) */
	const char *path_source; /* "--config", "AROUTER_CONFIG" or "default" */
	bool file_exists;
	char *text;              /* the file's text, "" when absent */
	json_object *root;       /* the parsed file, {} when absent */
	struct setting base_url; /* the gateway: hosted ARouter API or an arouter proxy */
	struct setting api_key;
	struct setting default_model;
	struct setting default_backend; /* auto, direct, gateway or a provider slug */
	struct provider_registry providers;
};

/* Loads the configuration. On failure returns -1 and sets *err to a
 * one-line message ("PATH:LINE:COL: what is wrong"), owned by the caller;
 * c is then empty. Warnings (unknown keys, a file others can read) go to
 * stderr. */
int config_load(struct config *c, const struct config_flags *flags, char **err);
void config_free(struct config *c);

/* Validates the file strictly: every problem, including unknown keys, one
 * "PATH:LINE:COL: message" line each appended to *report (caller frees).
 * Returns the number of problems. */
int config_check(const struct config *c, char **report);
/* config_check's problems as warnings on stderr, one line each (for a
 * long-running command, which goes on with the keys it can read). */
void config_warn_problems(const struct config *c);

/* The effective configuration as JSON with every secret redacted. The
 * returned object is owned by the caller (json_object_put). */
json_object *config_effective_json(const struct config *c);

/* The config file path that flags and the environment select; owned by the
 * caller. *source is set to a static string. */
char *config_default_path(const struct config_flags *flags, const char **source);

/* Finds the line and column of the value at a dotted path ("providers.x.y",
 * "model_aliases.2.pattern") in JSON text with comments. 0 if found. */
int config_locate(const char *text, const char *path, int *line, int *col);

#endif
