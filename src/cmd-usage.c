/* cmd-usage.c - `arouter usage`: requests, tokens and cost summed by day,
 * model, provider or key, from GET /api/v1/usage (account-client.h decides
 * whether the local ledger or the gateway answers). */
#include "config.h"

#include "account-client.h"
#include "buf.h"
#include "cmd.h"
#include "ledger.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define BAR_WIDTH 20

static const char *const usage_usage[] = {
    "usage [--since WHEN] [--by day|model|provider|key] [--json] [--local]",
    "",
    "Sum the requests, tokens and cost recorded by the proxy and by chat in",
    "direct mode, grouped by day (UTC), model, provider or client key. On a",
    "terminal the table ends with a bar chart of the cost.",
    "",
    "  --since WHEN   YYYY-MM-DD, an ISO 8601 time, or a duration back from now",
    "                 like 24h, 7d, 2w (default 30d)",
    "  --by GROUP     day (default), model, provider or key",
    "  --json         print the API's JSON",
    "  --local        read the local ledger even when a gateway is selected",
    NULL,
};

enum {
	OPT_SINCE = 0x4100,
	OPT_BY,
	OPT_JSON,
	OPT_LOCAL,
};

static const struct option usage_options[] = {
    {"by", required_argument, NULL, OPT_BY},
    {"json", no_argument, NULL, OPT_JSON},
    {"local", no_argument, NULL, OPT_LOCAL},
    {"since", required_argument, NULL, OPT_SINCE},
    {NULL, 0, NULL, 0},
};

static const char *const groups[] = {"day", "model", "provider", "key"};
static const char *const headings[] = {"DAY", "MODEL", "PROVIDER", "KEY"};

static bool utf8_locale(void)
{
	const char *vars[] = {"LC_ALL", "LC_CTYPE", "LANG"};
	for (size_t i = 0; i < 3; i++) {
		const char *v = getenv(vars[i]);
		if (!str_empty(v))
			return strcasestr(v, "utf-8") || strcasestr(v, "utf8");
	}
	return false;
}

/* A bar of value/max of BAR_WIDTH cells, in eighths when UTF-8 is there. */
static char *bar(double value, double max, bool utf8)
{
	static const char *const eighths[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
	struct buf b = BUF_INIT;
	if (max <= 0 || value <= 0)
		return buf_steal(&b);
	long units = (long)(value / max * BAR_WIDTH * 8 + 0.5);
	if (units < 1)
		units = 1; /* something is not nothing */
	if (!utf8) {
		long n = (units + 4) / 8;
		for (long i = 0; i < (n ? n : 1); i++)
			buf_putc(&b, '#');
		return buf_steal(&b);
	}
	for (long i = 0; i < units / 8; i++)
		buf_puts(&b, "█");
	buf_puts(&b, eighths[units % 8]);
	return buf_steal(&b);
}

static double num(json_object *o, const char *key)
{
	return json_object_get_double(json_object_object_get(o, key));
}

static char *group_label(json_object *g, int by)
{
	const char *group = json_object_get_string(json_object_object_get(g, "group"));
	const char *name = json_object_get_string(json_object_object_get(g, "name"));
	if (by == 3 && !group)
		return xstrdup("(no key)");
	if (by == 3 && !str_empty(name))
		return xasprintf("%s (%s)", name, group);
	return xstrdup(group ? group : "-");
}

static void print_usage(json_object *o, int by, const char *since)
{
	json_object *list = json_object_object_get(o, "data");
	json_object *totals = json_object_object_get(o, "totals");
	size_t n = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
	if (n == 0) {
		printf("no requests since %s\n", since);
		return;
	}
	bool chart = isatty(STDOUT_FILENO), utf8 = utf8_locale();
	/* The bars show cost; where nothing has a cost, tokens; else requests. */
	const char *metric = num(totals, "cost") > 0           ? "cost"
	                     : num(totals, "total_tokens") > 0 ? "total_tokens"
	                                                       : "requests";
	double max = 0;
	for (size_t i = 0; i < n; i++) {
		double v = num(json_object_array_get_idx(list, i), metric);
		if (v > max)
			max = v;
	}
	struct table t;
	table_init(&t, chart ? 6 : 5, 0x1e);
	const char *head[] = {headings[by], "REQUESTS", "PROMPT", "COMPLETION", "COST", ""};
	table_add(&t, head);
	for (size_t i = 0; i <= n; i++) {
		json_object *g = i < n ? json_object_array_get_idx(list, i) : totals;
		char *label = i < n ? group_label(g, by) : xstrdup("total");
		char r[32], p[32], c[32], m[48];
		char *b = i < n && chart ? bar(num(g, metric), max, utf8) : xstrdup("");
		/* A group none of whose requests reported usage (or had a price)
		 * has no tokens (or cost) to show, which is not zero. */
		double requests = num(g, "requests");
		bool no_usage = requests > 0 && num(g, "requests_without_usage") >= requests;
		bool no_cost = requests > 0 && num(g, "requests_without_cost") >= requests;
		const char *row[] = {
		    label,
		    account_count(json_object_object_get(g, "requests"), false, r),
		    no_usage ? "-" : account_count(json_object_object_get(g, "prompt_tokens"), false, p),
		    no_usage ? "-" : account_count(json_object_object_get(g, "completion_tokens"), false, c),
		    no_cost ? "-" : account_money(json_object_object_get(g, "cost"), m),
		    b};
		table_add(&t, row);
		free(label);
		free(b);
	}
	table_print(&t, stdout);
	table_free(&t);
	long long no_usage = (long long)num(totals, "requests_without_usage");
	long long no_cost = (long long)num(totals, "requests_without_cost");
	long long failed = (long long)num(totals, "failed");
	if (no_usage > 0)
		printf("%lld request%s reported no usage; %s tokens are not counted\n", no_usage,
		       no_usage == 1 ? "" : "s", no_usage == 1 ? "its" : "their");
	if (no_cost > 0)
		printf("%lld request%s had no known price; %s cost is not counted\n", no_cost,
		       no_cost == 1 ? "" : "s", no_cost == 1 ? "its" : "their");
	if (failed > 0)
		printf("%lld request%s failed\n", failed, failed == 1 ? "" : "s");
}

static int usage_exec(struct context *ctx, int argc, char **argv)
{
	bool json = false, local = false;
	const char *since_arg = "30d";
	int by = 0, opt;
	while ((opt = cmd_getopt(ctx, &cmd_usage_report, argc, argv)) != -1) {
		switch (opt) {
		case OPT_SINCE:
			since_arg = optarg;
			break;
		case OPT_BY:
			by = -1;
			for (int i = 0; i < 4; i++)
				if (strcmp(optarg, groups[i]) == 0)
					by = i;
			if (by < 0) {
				const char *hint = suggest(optarg, groups, 4);
				cmd_die_usage(&cmd_usage_report,
				              "--by takes day, model, provider or key, not '%s'%s%s%s",
				              optarg, hint ? " (did you mean '" : "", hint ? hint : "",
				              hint ? "'?)" : "");
			}
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_LOCAL:
			local = true;
			break;
		}
	}
	if (optind < argc)
		cmd_die_usage(&cmd_usage_report, "unexpected argument '%s'", argv[optind]);
	long long since;
	if (ledger_parse_time(since_arg, ledger_now_ms(), -1, &since) < 0)
		cmd_die_usage(&cmd_usage_report,
		              "--since takes YYYY-MM-DD, an ISO 8601 time or a duration like 7d, not '%s'",
		              since_arg);
	/* An absolute time, so that the gateway's clock does not move it. */
	char when[32];
	ledger_format_time(since, false, when);
	char *esc = account_client_escape(when);
	char *query = xasprintf("by=%s&since=%s", groups[by], esc);
	free(esc);
	struct account_client c;
	account_client_init(&c, context_config(ctx), local, "usage");
	json_object *o = account_client_call(&c, "GET", "/api/v1/usage", query, NULL);
	if (json)
		account_print_json(o);
	else
		print_usage(o, by, when);
	json_object_put(o);
	free(query);
	account_client_free(&c);
	return EXIT_OK;
}

const struct command cmd_usage_report = {
    .name = "usage",
    .summary = "sum requests, tokens and cost by day, model, provider or key",
    .usage = usage_usage,
    .options = usage_options,
    .shortopts = "",
    .exec = usage_exec,
};
