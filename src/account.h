/* account.h - the ARouter account API answered from the local ledger, with
 * no transport of its own: the proxy (server.c) calls account_handle for
 * every /api/v1/ path once the admin key is checked, and `arouter keys`,
 * `balance` and `usage` call it in-process when no gateway is selected, so
 * that both go through the same JSON. Also the admin key guarding it.
 *
 * Endpoints (shapes modelled on OpenRouter's keys and credits API; money in
 * US dollars as exact decimals; times ISO 8601 UTC):
 *   GET    /api/v1/balance        {"data":{"total_credits","total_usage","balance","keys":[...]}}
 *   GET    /api/v1/transactions   ?limit=1..100&cursor=ID&since=WHEN
 *                                 {"data":[rows],"has_more","next_cursor"}
 *   GET    /api/v1/usage          ?by=day|model|provider|key&since=WHEN {"data":[groups],"totals",...}
 *   GET    /api/v1/keys           ?include_revoked=true  {"data":[keys]}
 *   POST   /api/v1/keys           {name,budget,rpm,tpm,models,expires} -> 201 {"data":key,"key":SECRET}
 *   GET    /api/v1/keys/{id}      {"data":key}   ({id} is a key id or name)
 *   PATCH  /api/v1/keys/{id}      the same fields, each optional; null removes a limit
 *   DELETE /api/v1/keys/{id}      revokes; {"data":key}
 * Errors: {"error":{"message","type","param":null,"code"}} with 400, 404,
 * 405, 409 or 500. */
#ifndef AROUTER_ACCOUNT_H
#define AROUTER_ACCOUNT_H

#include "ledger.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#define ACCOUNT_ADMIN_PREFIX "ar-admin-"

/* True for the paths account_handle serves: /api/v1/balance, transactions,
 * usage, keys and keys/... (not /api/v1/chat/completions, say). */
bool account_path(const char *path);

/* Answers one request. path is as sent (percent-encoded), query the raw
 * query string without '?' (NULL or "" for none), body the request body
 * (may be NULL when body_len is 0). Returns the HTTP status; *response is
 * always set to the JSON body, owned by the caller (json_object_put). */
int account_handle(struct ledger *l, const char *method, const char *path, const char *query,
                   const char *body, size_t body_len, json_object **response);

/* An OpenAI-style error body for status, with code a specific cause
 * ("not_found", "invalid_json", ...) or NULL. Owned by the caller. */
json_object *account_error(int status, const char *code, const char *message);

/* The admin key: AROUTER_ADMIN_KEY if set, else the contents of
 * $XDG_DATA_HOME/arouter/admin-key, which is created 0600 with a fresh
 * secret (ACCOUNT_ADMIN_PREFIX + 40 base62 characters) if absent. 0 and
 * *out (owned by the caller), or -1 and *err (owned by the caller). */
int account_admin_key(char **out, char **err);
/* The path of the admin key file; owned by the caller. */
char *account_admin_key_path(void);

/* Whether presented is the expected admin key, in constant time: their
 * SHA-256 digests are compared with const_time_equal, so neither the length
 * nor a common prefix shows in the time taken. NULL or "" never matches. */
bool account_admin_key_ok(const char *expected, const char *presented);

#endif
