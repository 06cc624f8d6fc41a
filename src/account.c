/* account.c - see account.h. */
#include "config.h"

#include "account.h"
#include "ingress.h"
#include "sha256.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define API_PREFIX           "/api/v1/"
#define TRANSACTIONS_LIMIT   100
#define TRANSACTIONS_DEFAULT 20
#define MAX_BUDGET_USD       1000000.0
#define DEFAULT_USAGE_DAYS   30

/* ---- JSON helpers ---- */

json_object *account_error(int status, const char *code, const char *message)
{
	json_object *e = json_object_new_object();
	json_object_object_add(e, "message", json_object_new_string(message ? message : "error"));
	json_object_object_add(e, "type", json_object_new_string(ingress_openai_type_for_status(status)));
	json_object_object_add(e, "param", NULL);
	json_object_object_add(e, "code", code ? json_object_new_string(code) : NULL);
	json_object *r = json_object_new_object();
	json_object_object_add(r, "error", e);
	return r;
}

static int fail(json_object **response, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(json_object **response, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	*response = account_error(status, code, msg);
	free(msg);
	return status;
}

/* A ledger failure as an HTTP status. */
static int fail_ledger(json_object **response, int rc, char *err)
{
	static const struct {
		int rc, status;
		const char *code;
	} map[] = {
	    {LEDGER_NOT_FOUND, 404, "not_found"},
	    {LEDGER_CONFLICT, 409, "conflict"},
	    {LEDGER_INVALID, 400, "invalid_value"},
	};
	int status = 500;
	const char *code = "ledger_error";
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (map[i].rc == rc) {
			status = map[i].status;
			code = map[i].code;
		}
	fail(response, status, code, "%s", err ? err : "the ledger failed");
	free(err);
	return status;
}

/* Dollars as an exact decimal; NULL (JSON null) for a negative amount. */
static json_object *money_json(ledger_money m)
{
	if (m < 0)
		return NULL;
	char buf[32];
	return json_object_new_double_s(ledger_money_usd(m), ledger_money_format(m, buf));
}

static json_object *time_json(long long ms, bool with_ms)
{
	char buf[32];
	return ms > 0 ? json_object_new_string(ledger_format_time(ms, with_ms, buf)) : NULL;
}

static json_object *count_json(long long v)
{
	return v >= 0 ? json_object_new_int64(v) : NULL;
}

static json_object *key_json(const struct ledger_key *k)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(k->id));
	json_object_object_add(o, "name", json_object_new_string(k->name));
	json_object_object_add(o, "budget", money_json(k->budget));
	json_object_object_add(o, "spend", money_json(k->spend));
	json_object_object_add(o, "remaining",
	                       k->budget >= 0 ? money_json(k->spend < k->budget ? k->budget - k->spend : 0)
	                                      : NULL);
	json_object_object_add(o, "rpm", json_object_new_int64(k->rpm));
	json_object_object_add(o, "tpm", json_object_new_int64(k->tpm));
	json_object *models = json_object_new_array();
	for (size_t i = 0; i < k->n_models; i++)
		json_object_array_add(models, json_object_new_string(k->models[i]));
	json_object_object_add(o, "models", models);
	json_object_object_add(o, "expires_at", time_json(k->expires_ms, false));
	json_object_object_add(o, "expired",
	                       json_object_new_boolean(k->expires_ms && ledger_now_ms() >= k->expires_ms));
	json_object_object_add(o, "created_at", time_json(k->created_ms, false));
	json_object_object_add(o, "revoked", json_object_new_boolean(k->revoked_ms != 0));
	json_object_object_add(o, "revoked_at", time_json(k->revoked_ms, false));
	return o;
}

static json_object *data(json_object *d)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "data", d);
	return o;
}

/* ---- the query string ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes n bytes of s; '+' is a space only in a query. NULL if
 * the result would hold a NUL or an escape is malformed. */
static char *url_decode(const char *s, size_t n, bool query)
{
	char *out = xmalloc(n + 1), *o = out;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			*o++ = query && s[i] == '+' ? ' ' : s[i];
			continue;
		}
		int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
		int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			free(out);
			return NULL;
		}
		*o++ = (char)(hi * 16 + lo);
		i += 2;
	}
	*o = '\0';
	return out;
}

/* The decoded value of name in query; owned by the caller. NULL if absent;
 * *bad is set when it is present but malformed. */
static char *query_get(const char *query, const char *name, bool *bad)
{
	size_t nlen = strlen(name);
	for (const char *p = query ? query : ""; *p;) {
		size_t n = strcspn(p, "&");
		const char *eq = memchr(p, '=', n);
		size_t klen = eq ? (size_t)(eq - p) : n;
		if (klen == nlen && strncmp(p, name, nlen) == 0) {
			char *v = eq ? url_decode(eq + 1, n - klen - 1, true) : xstrdup("");
			if (!v)
				*bad = true;
			return v;
		}
		p += n;
		if (*p == '&')
			p++;
	}
	return NULL;
}

/* A query parameter as a time; absent gives fallback. */
static int query_time(const char *query, const char *name, long long fallback, long long *out,
                      json_object **response)
{
	bool bad = false;
	char *v = query_get(query, name, &bad);
	*out = fallback;
	if (bad || (v && *v && ledger_parse_time(v, ledger_now_ms(), -1, out) < 0)) {
		fail(response, 400, "invalid_value",
		     "%s must be YYYY-MM-DD, an ISO 8601 time or a duration like 7d, not '%s'", name,
		     v ? v : "");
		free(v);
		return -1;
	}
	free(v);
	return 0;
}

static int query_long(const char *query, const char *name, long long min, long long max, long long fallback,
                      long long *out, json_object **response)
{
	bool bad = false;
	char *v = query_get(query, name, &bad);
	*out = fallback;
	if (v && *v) {
		char *end;
		errno = 0;
		long long n = strtoll(v, &end, 10);
		if (*end || errno || n < min || n > max)
			bad = true;
		else
			*out = n;
	}
	if (bad)
		fail(response, 400, "invalid_value", "%s must be an integer from %lld to %lld, not '%s'",
		     name, min, max, v ? v : "");
	free(v);
	return bad ? -1 : 0;
}

/* ---- endpoints ---- */

static int get_balance(struct ledger *l, json_object **response)
{
	struct ledger_key *keys;
	size_t n;
	char *err = NULL;
	int rc = ledger_key_list(l, false, &keys, &n, &err);
	if (rc < 0)
		return fail_ledger(response, rc, err);
	ledger_money usage = 0, credits = 0, balance = 0;
	bool budgeted = false;
	if ((rc = ledger_total_cost(l, 0, &usage, &err)) < 0) {
		ledger_keys_free(keys, n);
		return fail_ledger(response, rc, err);
	}
	json_object *list = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		const struct ledger_key *k = &keys[i];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_string(k->id));
		json_object_object_add(o, "name", json_object_new_string(k->name));
		json_object_object_add(o, "budget", money_json(k->budget));
		json_object_object_add(o, "spend", money_json(k->spend));
		if (k->budget >= 0) {
			ledger_money left = k->spend < k->budget ? k->budget - k->spend : 0;
			json_object_object_add(o, "remaining", money_json(left));
			budgeted = true;
			credits += k->budget;
			balance += left;
		} else {
			json_object_object_add(o, "remaining", NULL);
		}
		json_object_array_add(list, o);
	}
	ledger_keys_free(keys, n);
	json_object *d = json_object_new_object();
	json_object_object_add(d, "total_credits", budgeted ? money_json(credits) : NULL);
	json_object_object_add(d, "total_usage", money_json(usage));
	json_object_object_add(d, "balance", budgeted ? money_json(balance) : NULL);
	json_object_object_add(d, "keys", list);
	*response = data(d);
	return 200;
}

static json_object *entry_json(const struct ledger_entry *e)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(e->id));
	json_object_object_add(o, "created_at", time_json(e->time_ms, true));
	json_object_object_add(o, "key_id", e->key_id ? json_object_new_string(e->key_id) : NULL);
	json_object_object_add(o, "provider", json_object_new_string(e->provider));
	json_object_object_add(o, "model", json_object_new_string(e->model));
	json_object_object_add(o, "dialect", json_object_new_string(e->dialect));
	json_object_object_add(o, "usage_known", json_object_new_boolean(e->usage_known));
	json_object_object_add(o, "prompt_tokens", count_json(e->prompt_tokens));
	json_object_object_add(o, "completion_tokens", count_json(e->completion_tokens));
	json_object_object_add(o, "cached_tokens", count_json(e->cached_tokens));
	json_object_object_add(o, "reasoning_tokens", count_json(e->reasoning_tokens));
	json_object_object_add(o, "total_tokens",
	                       e->prompt_tokens >= 0 && e->completion_tokens >= 0
	                           ? json_object_new_int64((long long)e->prompt_tokens + e->completion_tokens)
	                           : NULL);
	json_object_object_add(o, "cost", money_json(e->cost));
	json_object_object_add(o, "latency_ms", json_object_new_int64(e->latency_ms));
	json_object_object_add(o, "first_token_ms", count_json(e->first_token_ms));
	json_object_object_add(o, "status", json_object_new_int(e->status));
	json_object_object_add(o, "streamed", json_object_new_boolean(e->streamed));
	json_object_object_add(o, "attempts", json_object_new_int(e->attempts));
	return o;
}

static int get_transactions(struct ledger *l, const char *query, json_object **response)
{
	long long limit, cursor, since;
	if (query_long(query, "limit", 1, TRANSACTIONS_LIMIT, TRANSACTIONS_DEFAULT, &limit, response) < 0 ||
	    query_long(query, "cursor", 1, LLONG_MAX, 0, &cursor, response) < 0 ||
	    query_time(query, "since", 0, &since, response) < 0)
		return 400;
	struct ledger_entry *e;
	size_t n;
	bool more;
	char *err = NULL;
	int rc = ledger_transactions(l, cursor, since, (size_t)limit, &e, &n, &more, &err);
	if (rc < 0)
		return fail_ledger(response, rc, err);
	json_object *list = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(list, entry_json(&e[i]));
	*response = data(list);
	json_object_object_add(*response, "has_more", json_object_new_boolean(more));
	char next[32];
	snprintf(next, sizeof next, "%lld", n ? e[n - 1].id : 0);
	json_object_object_add(*response, "next_cursor", more ? json_object_new_string(next) : NULL);
	ledger_entries_free(e, n);
	return 200;
}

static json_object *usage_json(const struct ledger_usage *u, bool with_group, bool with_name)
{
	json_object *o = json_object_new_object();
	if (with_group)
		json_object_object_add(o, "group", u->group ? json_object_new_string(u->group) : NULL);
	if (with_name)
		json_object_object_add(o, "name", u->name ? json_object_new_string(u->name) : NULL);
	json_object_object_add(o, "requests", json_object_new_int64(u->requests));
	json_object_object_add(o, "failed", json_object_new_int64(u->failed));
	json_object_object_add(o, "requests_without_usage", json_object_new_int64(u->without_usage));
	json_object_object_add(o, "prompt_tokens", json_object_new_int64(u->prompt_tokens));
	json_object_object_add(o, "completion_tokens", json_object_new_int64(u->completion_tokens));
	json_object_object_add(o, "cached_tokens", json_object_new_int64(u->cached_tokens));
	json_object_object_add(o, "reasoning_tokens", json_object_new_int64(u->reasoning_tokens));
	json_object_object_add(o, "total_tokens",
	                       json_object_new_int64(u->prompt_tokens + u->completion_tokens));
	json_object_object_add(o, "cost", money_json(u->cost));
	json_object_object_add(o, "requests_without_cost", json_object_new_int64(u->without_cost));
	return o;
}

static int get_usage(struct ledger *l, const char *query, json_object **response)
{
	static const char *const names[] = {
	    [LEDGER_BY_DAY] = "day",
	    [LEDGER_BY_MODEL] = "model",
	    [LEDGER_BY_PROVIDER] = "provider",
	    [LEDGER_BY_KEY] = "key",
	};
	long long now = ledger_now_ms(), since;
	if (query_time(query, "since", now - DEFAULT_USAGE_DAYS * 86400000LL, &since, response) < 0)
		return 400;
	bool bad = false;
	char *by = query_get(query, "by", &bad);
	int g = by ? -1 : LEDGER_BY_DAY;
	for (int i = 0; by && i < (int)(sizeof names / sizeof names[0]); i++)
		if (strcmp(by, names[i]) == 0)
			g = i;
	if (g < 0) {
		fail(response, 400, "invalid_value", "by must be day, model, provider or key, not '%s'", by);
		free(by);
		return 400;
	}
	free(by);
	struct ledger_usage *u, total;
	size_t n;
	char *err = NULL;
	int rc = ledger_usage_query(l, (enum ledger_group)g, since, &u, &n, &total, &err);
	if (rc < 0)
		return fail_ledger(response, rc, err);
	json_object *list = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(list, usage_json(&u[i], true, g == LEDGER_BY_KEY));
	ledger_usage_free(u, n);
	*response = data(list);
	json_object_object_add(*response, "by", json_object_new_string(names[g]));
	char when[32];
	json_object_object_add(*response, "since",
	                       json_object_new_string(ledger_format_time(since, false, when)));
	json_object_object_add(*response, "totals", usage_json(&total, false, false));
	return 200;
}

static int get_keys(struct ledger *l, const char *query, json_object **response)
{
	bool bad = false;
	char *v = query_get(query, "include_revoked", &bad);
	bool all = v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
	if (bad || (v && !all && strcmp(v, "false") != 0 && strcmp(v, "0") != 0)) {
		fail(response, 400, "invalid_value", "include_revoked must be true or false, not '%s'",
		     v ? v : "");
		free(v);
		return 400;
	}
	free(v);
	struct ledger_key *keys;
	size_t n;
	char *err = NULL;
	int rc = ledger_key_list(l, all, &keys, &n, &err);
	if (rc < 0)
		return fail_ledger(response, rc, err);
	json_object *list = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(list, key_json(&keys[i]));
	ledger_keys_free(keys, n);
	*response = data(list);
	return 200;
}

/* The fields of a POST or PATCH body, validated. Strings borrow from the
 * parsed body. */
struct key_fields {
	const char *name;
	bool has_name, has_budget, has_rpm, has_tpm, has_models, has_expires;
	ledger_money budget;
	long rpm, tpm;
	const char **models;
	size_t n_models;
	long long expires_ms;
};

static int limit_field(json_object *v, const char *key, long *out, json_object **response)
{
	if (!v) {
		*out = 0;
		return 0;
	}
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
	    json_object_get_int64(v) > 1000000000) {
		fail(response, 400, "invalid_value",
		     "%s must be a whole number from 0 (no limit) to 1000000000", key);
		return -1;
	}
	*out = (long)json_object_get_int64(v);
	return 0;
}

static int parse_fields(json_object *body, bool creating, struct key_fields *f, json_object **response)
{
	memset(f, 0, sizeof *f);
	f->budget = -1;
	json_object_object_foreach (body, key, v) {
		if (strcmp(key, "name") == 0) {
			if (!json_object_is_type(v, json_type_string) || !*json_object_get_string(v)) {
				fail(response, 400, "invalid_value", "name must be a non-empty string");
				return -1;
			}
			f->name = json_object_get_string(v);
			f->has_name = true;
		} else if (strcmp(key, "budget") == 0) {
			f->has_budget = true;
			if (v && !(json_object_is_type(v, json_type_int) ||
			           json_object_is_type(v, json_type_double))) {
				fail(response, 400, "invalid_value",
				     "budget must be a number of US dollars or null");
				return -1;
			}
			double usd = v ? json_object_get_double(v) : -1;
			if (v && !(usd >= 0 && usd <= MAX_BUDGET_USD)) {
				fail(response, 400, "invalid_value",
				     "budget must be from 0 to %.0f US dollars", MAX_BUDGET_USD);
				return -1;
			}
			f->budget = v ? ledger_money_from_usd(usd) : -1;
		} else if (strcmp(key, "rpm") == 0) {
			f->has_rpm = true;
			if (limit_field(v, key, &f->rpm, response) < 0)
				return -1;
		} else if (strcmp(key, "tpm") == 0) {
			f->has_tpm = true;
			if (limit_field(v, key, &f->tpm, response) < 0)
				return -1;
		} else if (strcmp(key, "models") == 0) {
			f->has_models = true;
			if (v && !json_object_is_type(v, json_type_array)) {
				fail(response, 400, "invalid_value",
				     "models must be an array of glob patterns or null");
				return -1;
			}
			size_t n = v ? json_object_array_length(v) : 0;
			f->models = xcalloc(n + 1, sizeof *f->models);
			for (size_t i = 0; i < n; i++) {
				json_object *m = json_object_array_get_idx(v, i);
				if (!json_object_is_type(m, json_type_string) ||
				    !*json_object_get_string(m)) {
					fail(response, 400, "invalid_value",
					     "models must hold non-empty strings");
					return -1;
				}
				f->models[f->n_models++] = json_object_get_string(m);
			}
		} else if (strcmp(key, "expires") == 0 || strcmp(key, "expires_at") == 0) {
			f->has_expires = true;
			if (!v) {
				f->expires_ms = 0;
				continue;
			}
			const char *s =
			    json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
			long long now = ledger_now_ms();
			if (!s || ledger_parse_time(s, now, 1, &f->expires_ms) < 0) {
				fail(response, 400, "invalid_value",
				     "%s must be YYYY-MM-DD, an ISO 8601 time, a duration like 30d, or null",
				     key);
				return -1;
			}
			if (f->expires_ms <= now) {
				fail(response, 400, "invalid_value", "%s is in the past", key);
				return -1;
			}
		} else {
			fail(response, 400, "unknown_field",
			     "unknown field '%s' (known: name, budget, rpm, tpm, models, expires)", key);
			return -1;
		}
	}
	if (creating && !f->has_name) {
		fail(response, 400, "missing_field", "name is required");
		return -1;
	}
	return 0;
}

static json_object *parse_body(const char *body, size_t len, json_object **response)
{
	if (!body || len == 0) {
		fail(response, 400, "invalid_json", "the request body must be a JSON object");
		return NULL;
	}
	if (len > INT_MAX || memchr(body, '\0', len)) {
		fail(response, 400, "invalid_json", "the request body is not JSON");
		return NULL;
	}
	struct json_tokener *tok = json_tokener_new();
	json_object *o = json_tokener_parse_ex(tok, body, (int)len);
	bool ok = json_tokener_get_error(tok) == json_tokener_success;
	for (size_t i = ok ? json_tokener_get_parse_end(tok) : len; i < len; i++)
		if (body[i] != ' ' && body[i] != '\n' && body[i] != '\r' && body[i] != '\t')
			ok = false;
	json_tokener_free(tok);
	if (!ok || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		fail(response, 400, "invalid_json", "the request body must be a JSON object");
		return NULL;
	}
	return o;
}

static int post_key(struct ledger *l, const char *body, size_t len, json_object **response)
{
	json_object *o = parse_body(body, len, response);
	if (!o)
		return 400;
	struct key_fields f;
	int status = 400;
	if (parse_fields(o, true, &f, response) == 0) {
		struct ledger_key_spec spec = {
		    .name = f.name,
		    .budget = f.budget,
		    .rpm = f.rpm,
		    .tpm = f.tpm,
		    .models = f.models,
		    .n_models = f.n_models,
		    .expires_ms = f.expires_ms,
		};
		char *secret = NULL, *err = NULL;
		struct ledger_key k;
		int rc = ledger_key_create(l, &spec, &secret, &k, &err);
		if (rc < 0) {
			status = fail_ledger(response, rc, err);
		} else {
			*response = data(key_json(&k));
			json_object_object_add(*response, "key", json_object_new_string(secret));
			secure_wipe(secret, strlen(secret));
			free(secret);
			ledger_key_clear(&k);
			status = 201;
		}
	}
	free(f.models);
	json_object_put(o);
	return status;
}

static int patch_key(struct ledger *l, const char *id, const char *body, size_t len, json_object **response)
{
	json_object *o = parse_body(body, len, response);
	if (!o)
		return 400;
	struct key_fields f;
	int status = 400;
	if (parse_fields(o, false, &f, response) == 0) {
		struct ledger_key_update u = {
		    .name = f.has_name ? f.name : NULL,
		    .set_budget = f.has_budget,
		    .budget = f.budget,
		    .set_rpm = f.has_rpm,
		    .rpm = f.rpm,
		    .set_tpm = f.has_tpm,
		    .tpm = f.tpm,
		    .set_models = f.has_models,
		    .models = f.models,
		    .n_models = f.n_models,
		    .set_expires = f.has_expires,
		    .expires_ms = f.expires_ms,
		};
		char *err = NULL;
		struct ledger_key k;
		int rc = ledger_key_update(l, id, &u, &k, &err);
		if (rc < 0) {
			status = fail_ledger(response, rc, err);
		} else {
			*response = data(key_json(&k));
			ledger_key_clear(&k);
			status = 200;
		}
	}
	free(f.models);
	json_object_put(o);
	return status;
}

static int one_key(struct ledger *l, const char *method, const char *id, const char *body, size_t len,
                   json_object **response)
{
	struct ledger_key k;
	char *err = NULL;
	int rc;
	if (strcmp(method, "GET") == 0)
		rc = ledger_key_get(l, id, &k, &err);
	else if (strcmp(method, "DELETE") == 0)
		rc = ledger_key_revoke(l, id, &k, &err);
	else if (strcmp(method, "PATCH") == 0)
		return patch_key(l, id, body, len, response);
	else
		return fail(response, 405, "method_not_allowed",
		            "%s is not allowed on a key (GET, PATCH, DELETE)", method);
	if (rc < 0)
		return fail_ledger(response, rc, err);
	*response = data(key_json(&k));
	ledger_key_clear(&k);
	return 200;
}

bool account_path(const char *path)
{
	if (!path || !str_has_prefix(path, API_PREFIX))
		return false;
	/* Only the account endpoints: OpenRouter-style clients also use
	 * /api/v1/chat/completions, which is not ours. */
	static const char *const names[] = {"balance", "transactions", "usage", "keys"};
	const char *rest = path + strlen(API_PREFIX);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		size_t n = strlen(names[i]);
		if (strncmp(rest, names[i], n) == 0 && (rest[n] == '\0' || rest[n] == '/'))
			return true;
	}
	return false;
}

int account_handle(struct ledger *l, const char *method, const char *path, const char *query,
                   const char *body, size_t body_len, json_object **response)
{
	*response = NULL;
	if (!path || !str_has_prefix(path, API_PREFIX))
		return fail(response, 404, "not_found", "no such endpoint: %s", path ? path : "");
	const char *rest = path + strlen(API_PREFIX);
	size_t n = strlen(rest);
	while (n > 0 && rest[n - 1] == '/')
		n--;
	bool get = strcmp(method, "GET") == 0;
	struct {
		const char *name;
		const char *allowed;
	} const fixed[] = {
	    {"balance", "GET"},
	    {"transactions", "GET"},
	    {"usage", "GET"},
	    {"keys", "GET, POST"},
	};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
		if (strlen(fixed[i].name) != n || strncmp(rest, fixed[i].name, n) != 0)
			continue;
		if (i == 0 && get)
			return get_balance(l, response);
		if (i == 1 && get)
			return get_transactions(l, query, response);
		if (i == 2 && get)
			return get_usage(l, query, response);
		if (i == 3 && get)
			return get_keys(l, query, response);
		if (i == 3 && strcmp(method, "POST") == 0)
			return post_key(l, body, body_len, response);
		return fail(response, 405, "method_not_allowed", "%s is not allowed on /api/v1/%s (%s)",
		            method, fixed[i].name, fixed[i].allowed);
	}
	if (n > 5 && strncmp(rest, "keys/", 5) == 0 && !memchr(rest + 5, '/', n - 5)) {
		char *id = url_decode(rest + 5, n - 5, false);
		if (!id)
			return fail(response, 400, "invalid_value", "the key id in the path is malformed");
		int status = one_key(l, method, id, body, body_len, response);
		free(id);
		return status;
	}
	return fail(response, 404, "not_found", "no such endpoint: %s", path);
}

/* ---- the admin key ---- */

char *account_admin_key_path(void)
{
	char *dir = xdg_dir("data");
	char *p = xasprintf("%s/admin-key", dir);
	free(dir);
	return p;
}

/* Reads a key file: its first line, without surrounding blanks. */
static int read_key_file(const char *path, char **out, char **err)
{
	size_t len;
	char *text = read_file(path, &len);
	if (!text)
		return -1;
	char *s = text;
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strcspn(s, "\r\n");
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n == 0) {
		*err = xasprintf("the admin key file %s is empty (delete it to make a new key)", path);
		free(text);
		errno = 0;
		return -1;
	}
	*out = xstrndup(s, n);
	secure_wipe(text, len);
	free(text);
	struct stat st;
	if (stat(path, &st) == 0 && (st.st_mode & 077))
		warnx_("the admin key file %s is readable by others (chmod 600 it)", path);
	return 0;
}

int account_admin_key(char **out, char **err)
{
	*out = NULL;
	const char *env = getenv("AROUTER_ADMIN_KEY");
	if (!str_empty(env)) {
		*out = xstrdup(env);
		return 0;
	}
	char *path = account_admin_key_path();
	int rc = -1;
	if (read_key_file(path, out, err) == 0) {
		rc = 0;
		goto done;
	}
	if (errno != ENOENT) {
		if (!*err)
			*err = xasprintf("cannot read the admin key %s: %s", path, strerror(errno));
		goto done;
	}
	char *dir = xdg_dir("data");
	int made = mkdir_p(dir, 0700);
	free(dir);
	char *secret = made == 0 ? ledger_new_secret(ACCOUNT_ADMIN_PREFIX) : NULL;
	if (!secret) {
		*err = xasprintf("cannot create the admin key %s: %s", path,
		                 made == 0 ? "no random bytes from the kernel" : strerror(errno));
		goto done;
	}
	/* Written whole under a temporary name and linked into place, so that
	 * two processes starting at once agree on one key and neither reads a
	 * half-written file. */
	char *tmp = xasprintf("%s.%ld.tmp", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	bool written = false;
	if (fd >= 0) {
		size_t len = strlen(secret);
		written = write(fd, secret, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
		written = close(fd) == 0 && written;
	}
	if (written && link(tmp, path) == 0) {
		*out = secret;
		secret = NULL;
		rc = 0;
	} else if (written && errno == EEXIST) {
		rc = read_key_file(path, out, err);
		if (rc < 0 && !*err)
			*err = xasprintf("cannot read the admin key %s: %s", path, strerror(errno));
	} else {
		*err = xasprintf("cannot create the admin key %s: %s", path, strerror(errno));
	}
	unlink(tmp);
	free(tmp);
	if (secret) {
		secure_wipe(secret, strlen(secret));
		free(secret);
	}
done:
	free(path);
	return rc;
}

bool account_admin_key_ok(const char *expected, const char *presented)
{
	if (str_empty(expected) || str_empty(presented))
		return false;
	uint8_t a[SHA256_LEN], b[SHA256_LEN];
	sha256(expected, strlen(expected), a);
	sha256(presented, strlen(presented), b);
	bool ok = const_time_equal(a, b, sizeof a);
	secure_wipe(a, sizeof a);
	secure_wipe(b, sizeof b);
	return ok;
}
