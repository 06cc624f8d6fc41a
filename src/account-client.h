/* account-client.h - the client side of the account API for `arouter keys`,
 * `balance` and `usage`. A request is answered either in-process by
 * account_handle on the local ledger or over HTTP by the selected gateway
 * (the hosted ARouter API or an `arouter proxy`), and either way the same
 * JSON reaches the same printing code. Failures end the process with one
 * line and the exit code of their class. Also the small money and table
 * printers those commands share. */
#ifndef AROUTER_ACCOUNT_CLIENT_H
#define AROUTER_ACCOUNT_CLIENT_H

#include "conf.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct ledger;

struct account_client {
	const char *who; /* the command, for messages; static */
	bool remote;
	char *base_url;        /* remote: the gateway, without a trailing "/v1"; owned */
	char *key;             /* remote: AROUTER_ADMIN_KEY, else the gateway key; owned */
	struct ledger *ledger; /* local: opened on first use; owned */
};

/* Chooses where requests go: the gateway when one is selected (--base-url,
 * AROUTER_BASE_URL or base_url in the config) or a gateway key is set
 * (AROUTER_API_KEY, --api-key or api_key), unless force_local; else the
 * local ledger. A gateway without any key exits with EXIT_CONFIG. */
void account_client_init(struct account_client *c, const struct config *cfg, bool force_local,
                         const char *who);
void account_client_free(struct account_client *c);

/* Sends one request: path "/api/v1/...", query without '?' (NULL for
 * none), body a JSON object or NULL (borrowed). Returns the 2xx response,
 * owned by the caller. Any other answer exits: 400 with EXIT_USAGE,
 * 401/403 EXIT_AUTH, 429 EXIT_RATELIMIT, other gateway statuses and bodies
 * that are not JSON EXIT_UPSTREAM, transport failures EXIT_NETWORK, and
 * local failures EXIT_FAILURE_GENERIC. */
json_object *account_client_call(struct account_client *c, const char *method, const char *path,
                                 const char *query, json_object *body);

/* s percent-encoded for a path segment or a query value; owned by the caller. */
char *account_client_escape(const char *s);

/* Prints a JSON response for --json. */
void account_print_json(json_object *o);

/* A JSON number of dollars as "$1.25" (two to eight decimals), "-" for
 * null or absent. Returns buf, which holds 48 bytes. */
const char *account_money(json_object *v, char buf[48]);
/* A JSON integer as text, "-" for null, absent or (when zero_dash) zero. */
const char *account_count(json_object *v, bool zero_dash, char buf[32]);

/* A plain text table: columns padded to their widest cell (counted in
 * characters, not bytes), two spaces apart, the last one unpadded. */
struct table {
	size_t cols, rows;
	unsigned right; /* bit i set: column i is right-aligned */
	char **cells;   /* rows * cols, owned */
};
void table_init(struct table *t, size_t cols, unsigned right);
/* Appends a row of t->cols strings (copied; NULL is ""). */
void table_add(struct table *t, const char *const *cells);
void table_print(const struct table *t, FILE *f);
void table_free(struct table *t);

#endif
