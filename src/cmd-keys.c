/* cmd-keys.c - `arouter keys`: list, create, show, update and revoke client
 * keys through /api/v1/keys, answered by the local ledger or the gateway
 * (account-client.h decides). A secret is printed once, when created. */
#include "config.h"

#include "account-client.h"
#include "cmd.h"
#include "ledger.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const keys_usage[] = {
    "keys [list|create|show|update|revoke] [KEY] [options]",
    "",
    "Manage client keys: those of the local proxy (kept in the ledger) or, when",
    "a gateway is selected, the gateway account's. KEY is a key's id or name.",
    "",
    "  keys list [--all]                  the keys, never their secrets (--all: revoked too)",
    "  keys create --name NAME [LIMITS]   a new key; its secret is printed once, on stdout",
    "  keys show KEY                      one key",
    "  keys update KEY [--name NAME] [LIMITS]",
    "                                     change a key's name or limits",
    "  keys revoke KEY                    revoke a key for good",
    "",
    "LIMITS:",
    "  --budget USD        stop the key once it has spent this much ('none' removes it)",
    "  --rpm N             requests per minute (0: no limit)",
    "  --tpm N             tokens per minute (0: no limit)",
    "  --models PATTERN    allow only matching models, globs like 'openai/*'; repeatable",
    "                      or comma-separated ('all' removes the restriction)",
    "  --expires WHEN      YYYY-MM-DD, ISO 8601, or a duration like 30d ('never' removes it)",
    "",
    "  --json              print the API's JSON (for create, with the secret)",
    "  --local             use the local ledger even when a gateway is selected",
    NULL,
};

enum {
	OPT_NAME = 0x4200,
	OPT_BUDGET,
	OPT_RPM,
	OPT_TPM,
	OPT_MODELS,
	OPT_EXPIRES,
	OPT_ALL,
	OPT_JSON,
	OPT_LOCAL,
};

static const struct option keys_options[] = {
    {"all", no_argument, NULL, OPT_ALL},
    {"budget", required_argument, NULL, OPT_BUDGET},
    {"expires", required_argument, NULL, OPT_EXPIRES},
    {"json", no_argument, NULL, OPT_JSON},
    {"local", no_argument, NULL, OPT_LOCAL},
    {"models", required_argument, NULL, OPT_MODELS},
    {"name", required_argument, NULL, OPT_NAME},
    {"rpm", required_argument, NULL, OPT_RPM},
    {"tpm", required_argument, NULL, OPT_TPM},
    {NULL, 0, NULL, 0},
};

static const char *const subcommands[] = {"list", "create", "show", "update", "revoke"};

/* The options given, as the JSON fields of a POST or PATCH body. */
struct keys_opts {
	json_object *fields;     /* only what was given */
	const char *first_limit; /* the first option that sets a field, for messages */
	bool all, json, local;
};

static void set_field(struct keys_opts *o, const char *opt, const char *key, json_object *v)
{
	json_object_object_add(o->fields, key, v);
	if (!o->first_limit)
		o->first_limit = opt;
}

static json_object *parse_budget(const char *s)
{
	if (strcmp(s, "none") == 0)
		return NULL;
	const char *p = s[0] == '$' ? s + 1 : s;
	char *end;
	errno = 0;
	double d = strtod(p, &end);
	if (!*p || *end || errno || !(d >= 0 && d <= 1e6))
		cmd_die_usage(&cmd_keys, "--budget takes US dollars from 0 to 1000000 or 'none', not '%s'",
		              s);
	char buf[32];
	return json_object_new_double_s(d, ledger_money_format(ledger_money_from_usd(d), buf));
}

static json_object *parse_limit(const char *opt, const char *s)
{
	char *end;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (!*s || *end || errno || n < 0 || n > 1000000000)
		cmd_die_usage(&cmd_keys, "--%s takes a whole number (0 for no limit), not '%s'", opt, s);
	return json_object_new_int64(n);
}

/* --models may repeat and hold commas; "all" lifts the restriction. */
static void add_models(struct keys_opts *o, const char *arg)
{
	json_object *list = json_object_object_get(o->fields, "models");
	if (strcmp(arg, "all") == 0) {
		set_field(o, "--models", "models", NULL);
		return;
	}
	if (!json_object_is_type(list, json_type_array)) {
		list = json_object_new_array();
		set_field(o, "--models", "models", list);
	}
	for (const char *p = arg; *p;) {
		size_t n = strcspn(p, ",");
		const char *s = p, *e = p + n;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e == s)
			cmd_die_usage(&cmd_keys, "--models takes glob patterns like 'openai/*', not '%s'",
			              arg);
		json_object_array_add(list, json_object_new_string_len(s, (int)(e - s)));
		p += n;
		if (*p == ',')
			p++;
	}
}

static json_object *parse_expires(const char *s)
{
	if (strcmp(s, "never") == 0)
		return NULL;
	long long now = ledger_now_ms(), t;
	if (ledger_parse_time(s, now, 1, &t) < 0)
		cmd_die_usage(&cmd_keys,
		              "--expires takes YYYY-MM-DD, an ISO 8601 time, a duration like 30d or "
		              "'never', not '%s'",
		              s);
	if (t <= now)
		cmd_die_usage(&cmd_keys, "--expires '%s' is in the past", s);
	char buf[32];
	return json_object_new_string(ledger_format_time(t, false, buf));
}

/* ---- printing ---- */

static const char *status_of(json_object *k)
{
	if (json_object_get_boolean(json_object_object_get(k, "revoked")))
		return "revoked";
	if (json_object_get_boolean(json_object_object_get(k, "expired")))
		return "expired";
	return "active";
}

static const char *str_or_dash(json_object *k, const char *field)
{
	const char *s = json_object_get_string(json_object_object_get(k, field));
	return str_empty(s) ? "-" : s;
}

/* The models as "a, b", or "all" when unrestricted. Owned by the caller. */
static char *models_text(json_object *k)
{
	json_object *m = json_object_object_get(k, "models");
	size_t n = json_object_is_type(m, json_type_array) ? json_object_array_length(m) : 0;
	if (n == 0)
		return xstrdup("all");
	char *s = xstrdup("");
	for (size_t i = 0; i < n; i++) {
		char *t = xasprintf("%s%s%s", s, i ? ", " : "",
		                    json_object_get_string(json_object_array_get_idx(m, i)));
		free(s);
		s = t;
	}
	return s;
}

static void pair(struct table *t, const char *name, const char *value)
{
	table_add(t, (const char *const[]){name, value});
}

static void print_key(json_object *k)
{
	char b[48], s[48], r[48], rpm[32], tpm[32];
	char *models = models_text(k);
	struct table t;
	table_init(&t, 2, 0);
	pair(&t, "id", str_or_dash(k, "id"));
	pair(&t, "name", str_or_dash(k, "name"));
	pair(&t, "status", status_of(k));
	pair(&t, "budget", account_money(json_object_object_get(k, "budget"), b));
	pair(&t, "spend", account_money(json_object_object_get(k, "spend"), s));
	pair(&t, "remaining", account_money(json_object_object_get(k, "remaining"), r));
	pair(&t, "rpm", account_count(json_object_object_get(k, "rpm"), true, rpm));
	pair(&t, "tpm", account_count(json_object_object_get(k, "tpm"), true, tpm));
	pair(&t, "models", models);
	pair(&t, "expires", str_or_dash(k, "expires_at"));
	pair(&t, "created", str_or_dash(k, "created_at"));
	if (json_object_get_boolean(json_object_object_get(k, "revoked")))
		pair(&t, "revoked", str_or_dash(k, "revoked_at"));
	table_print(&t, stdout);
	table_free(&t);
	free(models);
}

static void print_list(json_object *list, bool all)
{
	size_t n = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
	if (n == 0) {
		printf("no %skeys (create one with 'arouter keys create --name NAME')\n",
		       all ? "" : "active ");
		return;
	}
	struct table t;
	table_init(&t, 9, 0x3c);
	table_add(&t, (const char *const[]){"ID", "NAME", "BUDGET", "SPEND", "RPM", "TPM", "MODELS",
	                                    "EXPIRES", "STATUS"});
	for (size_t i = 0; i < n; i++) {
		json_object *k = json_object_array_get_idx(list, i);
		char b[48], s[48], rpm[32], tpm[32];
		char *models = models_text(k);
		table_add(&t,
		          (const char *const[]){str_or_dash(k, "id"), str_or_dash(k, "name"),
		                                account_money(json_object_object_get(k, "budget"), b),
		                                account_money(json_object_object_get(k, "spend"), s),
		                                account_count(json_object_object_get(k, "rpm"), true, rpm),
		                                account_count(json_object_object_get(k, "tpm"), true, tpm),
		                                models, str_or_dash(k, "expires_at"), status_of(k)});
		free(models);
	}
	table_print(&t, stdout);
	table_free(&t);
}

static json_object *data_object(json_object *o)
{
	json_object *d = json_object_object_get(o, "data");
	if (!json_object_is_type(d, json_type_object))
		die(EXIT_UPSTREAM, "keys: the answer holds no \"data\" object");
	return d;
}

/* ---- the subcommands ---- */

static char *key_path(const char *key)
{
	char *esc = account_client_escape(key);
	char *p = xasprintf("/api/v1/keys/%s", esc);
	free(esc);
	return p;
}

static int keys_exec(struct context *ctx, int argc, char **argv)
{
	struct keys_opts o = {.fields = json_object_new_object()};
	int opt;
	while ((opt = cmd_getopt(ctx, &cmd_keys, argc, argv)) != -1) {
		switch (opt) {
		case OPT_NAME:
			if (!*optarg)
				cmd_die_usage(&cmd_keys, "--name cannot be empty");
			set_field(&o, "--name", "name", json_object_new_string(optarg));
			break;
		case OPT_BUDGET:
			set_field(&o, "--budget", "budget", parse_budget(optarg));
			break;
		case OPT_RPM:
			set_field(&o, "--rpm", "rpm", parse_limit("rpm", optarg));
			break;
		case OPT_TPM:
			set_field(&o, "--tpm", "tpm", parse_limit("tpm", optarg));
			break;
		case OPT_MODELS:
			add_models(&o, optarg);
			break;
		case OPT_EXPIRES:
			set_field(&o, "--expires", "expires", parse_expires(optarg));
			break;
		case OPT_ALL:
			o.all = true;
			break;
		case OPT_JSON:
			o.json = true;
			break;
		case OPT_LOCAL:
			o.local = true;
			break;
		}
	}
	const char *sub = optind < argc ? argv[optind++] : "list";
	int which = -1;
	for (int i = 0; i < 5; i++)
		if (strcmp(sub, subcommands[i]) == 0)
			which = i;
	if (which < 0) {
		const char *hint = suggest(sub, subcommands, 5);
		if (hint)
			cmd_die_usage(&cmd_keys, "no subcommand '%s' (did you mean '%s'?)", sub, hint);
		cmd_die_usage(&cmd_keys, "no subcommand '%s' (list, create, show, update or revoke)", sub);
	}
	bool wants_key = which >= 2;
	if (wants_key && optind >= argc)
		cmd_die_usage(&cmd_keys, "%s needs a KEY (its id or name)", sub);
	const char *key = wants_key ? argv[optind++] : NULL;
	if (optind < argc)
		cmd_die_usage(&cmd_keys, "unexpected argument '%s'", argv[optind]);
	bool changes = which == 1 || which == 3;
	if (!changes && o.first_limit)
		cmd_die_usage(&cmd_keys, "%s is for create and update, not %s", o.first_limit, sub);
	if (o.all && which != 0)
		cmd_die_usage(&cmd_keys, "--all is for list, not %s", sub);
	if (which == 1 && !json_object_object_get_ex(o.fields, "name", NULL))
		cmd_die_usage(&cmd_keys, "create needs --name NAME");
	if (which == 3 && !o.first_limit)
		cmd_die_usage(&cmd_keys,
		              "update needs something to change (--name, --budget, --rpm, --tpm, --models, "
		              "--expires)");
	/* create: a key for every model needs no "models" at all. */
	if (which == 1 && json_object_object_get_ex(o.fields, "models", NULL) &&
	    !json_object_object_get(o.fields, "models"))
		json_object_object_del(o.fields, "models");

	struct account_client c;
	account_client_init(&c, context_config(ctx), o.local, "keys");
	json_object *r = NULL;
	char *path = key ? key_path(key) : NULL;
	switch (which) {
	case 0:
		r = account_client_call(&c, "GET", "/api/v1/keys", o.all ? "include_revoked=true" : NULL,
		                        NULL);
		if (o.json)
			account_print_json(r);
		else
			print_list(json_object_object_get(r, "data"), o.all);
		break;
	case 1: {
		r = account_client_call(&c, "POST", "/api/v1/keys", NULL, o.fields);
		json_object *d = data_object(r);
		const char *secret = json_object_get_string(json_object_object_get(r, "key"));
		if (str_empty(secret))
			die(EXIT_UPSTREAM, "keys: the key was created but the answer holds no secret");
		if (o.json)
			account_print_json(r);
		else
			printf("%s\n", secret);
		fflush(stdout);
		if (verbosity >= 0)
			fprintf(stderr,
			        "arouter: created key '%s' (id %s); its secret is shown only this once: "
			        "store it now\n",
			        str_or_dash(d, "name"), str_or_dash(d, "id"));
		break;
	}
	case 2:
		r = account_client_call(&c, "GET", path, NULL, NULL);
		if (o.json)
			account_print_json(r);
		else
			print_key(data_object(r));
		break;
	case 3:
		r = account_client_call(&c, "PATCH", path, NULL, o.fields);
		if (o.json)
			account_print_json(r);
		else
			print_key(data_object(r));
		break;
	case 4:
		r = account_client_call(&c, "DELETE", path, NULL, NULL);
		if (o.json) {
			account_print_json(r);
		} else {
			json_object *d = data_object(r);
			printf("revoked key '%s' (id %s)\n", str_or_dash(d, "name"), str_or_dash(d, "id"));
		}
		break;
	}
	json_object_put(r);
	json_object_put(o.fields);
	free(path);
	account_client_free(&c);
	return EXIT_OK;
}

const struct command cmd_keys = {
    .name = "keys",
    .summary = "manage gateway and local client keys",
    .usage = keys_usage,
    .options = keys_options,
    .shortopts = "",
    .exec = keys_exec,
};
