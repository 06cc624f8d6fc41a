/* cmd-balance.c - `arouter balance`: the credit balance of the gateway, or
 * each local key's budget, spend and remainder, from GET /api/v1/balance
 * (account-client.h decides which answers). */
#include "config.h"

#include "account-client.h"
#include "cmd.h"
#include "jsonw.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>

static const char *const balance_usage[] = {
    "balance [--json] [--local]",
    "",
    "Show the credits, usage and balance of the gateway account; for the local",
    "ledger, each client key's budget, spend and remainder and the totals.",
    "",
    "  --json    print the API's JSON",
    "  --local   read the local ledger even when a gateway is selected",
    "",
    "A gateway is used when --base-url, AROUTER_BASE_URL or AROUTER_API_KEY (or",
    "base_url/api_key in the config) is set; its key is AROUTER_ADMIN_KEY, else",
    "the gateway key.",
    NULL,
};

enum {
	OPT_JSON = 0x4000,
	OPT_LOCAL,
};

static const struct option balance_options[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {"local", no_argument, NULL, OPT_LOCAL},
    {NULL, 0, NULL, 0},
};

static void print_balance(json_object *d)
{
	char a[48];
	printf("credits  %s\n", account_money(json_object_object_get(d, "total_credits"), a));
	printf("usage    %s\n", account_money(json_object_object_get(d, "total_usage"), a));
	printf("balance  %s\n", account_money(json_object_object_get(d, "balance"), a));
	json_object *keys = json_object_object_get(d, "keys");
	size_t n = json_object_is_type(keys, json_type_array) ? json_object_array_length(keys) : 0;
	if (n == 0)
		return;
	struct table t;
	table_init(&t, 5, 0x1c); /* the money columns are right-aligned */
	table_add(&t, (const char *const[]){"KEY", "NAME", "BUDGET", "SPEND", "REMAINING"});
	double budget = 0, spend = 0, remaining = 0;
	bool budgeted = false;
	for (size_t i = 0; i < n; i++) {
		json_object *k = json_object_array_get_idx(keys, i), *v;
		char b[48], s[48], r[48];
		const char *id = json_object_get_string(json_object_object_get(k, "id"));
		const char *name = json_object_get_string(json_object_object_get(k, "name"));
		table_add(&t,
		          (const char *const[]){id ? id : "-", name ? name : "",
		                                account_money(json_object_object_get(k, "budget"), b),
		                                account_money(json_object_object_get(k, "spend"), s),
		                                account_money(json_object_object_get(k, "remaining"), r)});
		if ((v = json_object_object_get(k, "budget")) != NULL) {
			budgeted = true;
			budget += json_object_get_double(v);
		}
		spend += json_object_get_double(json_object_object_get(k, "spend"));
		remaining += json_object_get_double(json_object_object_get(k, "remaining"));
	}
	char b[48], s[48], r[48];
	json_object *jb = json_new_number(budget), *js = json_new_number(spend),
	            *jr = json_new_number(remaining);
	table_add(&t, (const char *const[]){"total", "", budgeted ? account_money(jb, b) : "-",
	                                    account_money(js, s), budgeted ? account_money(jr, r) : "-"});
	json_object_put(jb);
	json_object_put(js);
	json_object_put(jr);
	printf("\n");
	table_print(&t, stdout);
	table_free(&t);
}

static int balance_exec(struct context *ctx, int argc, char **argv)
{
	bool json = false, local = false;
	int opt;
	while ((opt = cmd_getopt(ctx, &cmd_balance, argc, argv)) != -1) {
		if (opt == OPT_JSON)
			json = true;
		else if (opt == OPT_LOCAL)
			local = true;
	}
	if (optind < argc)
		cmd_die_usage(&cmd_balance, "unexpected argument '%s'", argv[optind]);
	struct account_client c;
	account_client_init(&c, context_config(ctx), local, "balance");
	json_object *o = account_client_call(&c, "GET", "/api/v1/balance", NULL, NULL);
	json_object *d = json_object_object_get(o, "data");
	if (json)
		account_print_json(o);
	else if (!json_object_is_type(d, json_type_object))
		die(EXIT_UPSTREAM, "balance: the answer holds no \"data\" object");
	else
		print_balance(d);
	json_object_put(o);
	account_client_free(&c);
	return EXIT_OK;
}

const struct command cmd_balance = {
    .name = "balance",
    .summary = "show the credit balance and spend",
    .usage = balance_usage,
    .options = balance_options,
    .shortopts = "",
    .exec = balance_exec,
};
