/* ledger.h - the usage ledger: one SQLite database
 * ($XDG_DATA_HOME/arouter/ledger.db, WAL) holding a row per request that
 * reached a provider (counts, names, costs and times, never prompt or
 * completion text), the local client keys (the SHA-256 of each secret, never
 * the secret) and their budgets. Implemented in ledger.c.
 *
 * Threads and processes: a struct ledger is one connection and must be used
 * by one thread at a time. Any number of connections, in this process or in
 * others (`arouter keys create` beside a running proxy), may use the same
 * file at once: writers queue behind each other (busy timeout 5 s) and
 * readers never wait. A committed row survives a crash or SIGKILL of the
 * process that wrote it (WAL, synchronous=FULL).
 *
 * Money is counted in picodollars (1e-12 USD) as integers, so that sums,
 * spends and budget checks are exact whatever the order of addition. */
#ifndef AROUTER_LEDGER_H
#define AROUTER_LEDGER_H

#include <stdbool.h>
#include <stddef.h>

typedef long long ledger_money; /* picodollars; -1 stands for "unknown" or "none" where documented */
#define LEDGER_PUSD_PER_USD 1000000000000LL

/* Rounds dollars to picodollars; a negative amount gives -1. */
ledger_money ledger_money_from_usd(double usd);
double ledger_money_usd(ledger_money m);
/* The exact decimal dollars of m ("0.000123", "5.0"): at least one digit
 * after the point, no trailing zeros beyond it. buf holds 32 bytes. */
const char *ledger_money_format(ledger_money m, char buf[32]);

struct ledger;

/* Opens (creating if needed) the ledger at path, or at the default
 * $XDG_DATA_HOME/arouter/ledger.db when path is NULL: directories 0700, the
 * file 0600, WAL, the schema migrated to the current user_version. Returns
 * NULL and sets *err (one line, owned by the caller) on failure. */
struct ledger *ledger_open(const char *path, char **err);
void ledger_close(struct ledger *l);
/* The default path; owned by the caller. */
char *ledger_default_path(void);
/* The file this ledger uses. Borrowed. */
const char *ledger_path(const struct ledger *l);

/* Milliseconds since the epoch (the wall clock rows are stamped with). */
long long ledger_now_ms(void);

/* ---- usage rows ---- */

/* One request that reached a provider. Strings are borrowed by the
 * functions that take a row. */
struct ledger_row {
	long long time_ms;      /* when the request arrived, unix ms */
	const char *key_id;     /* the local client key's id, NULL if none */
	const char *provider;   /* slug that answered */
	const char *model;      /* model name served */
	const char *dialect;    /* ingress: "openai", "anthropic", "gemini" or "cli" */
	long prompt_tokens;     /* -1 unknown */
	long completion_tokens; /* -1 unknown */
	long cached_tokens;     /* -1 unknown */
	long reasoning_tokens;  /* -1 unknown */
	bool usage_known;       /* false when the answer (or a cut stream) reported no usage */
	double cost_usd;        /* <0 unknown */
	long latency_ms;        /* arrival to the last byte */
	long first_token_ms;    /* arrival to the first token, -1 if none */
	int status;             /* HTTP status sent to the client, 0 for a network failure */
	bool streamed;
	int attempts; /* upstream attempts, failover included */
};

/* Fills a row's token counts (and its cost, when the usage carries one, as
 * gateways report it) from a canonical OpenAI usage object: prompt_tokens,
 * completion_tokens, prompt_tokens_details.cached_tokens and
 * completion_tokens_details.reasoning_tokens. NULL, or an object with
 * neither count, leaves the usage unknown (-1 counts, usage_known false)
 * rather than guessed; cost_usd is left alone when there is no "cost". */
struct json_object;
void ledger_row_set_usage(struct ledger_row *row, struct json_object *usage);

/* Records one row synchronously (the CLI), and adds its cost to its key's
 * spend in the same transaction. 0 on success; -1 and *err (owned by the
 * caller; err may be NULL) on failure. */
int ledger_record(struct ledger *l, const struct ledger_row *row, char **err);
/* Records n rows in one transaction. Same result as ledger_record. */
int ledger_record_many(struct ledger *l, const struct ledger_row *rows, size_t n, char **err);

/* A row as read back; every string is owned by the entry. */
struct ledger_entry {
	long long id; /* increasing; the transactions cursor */
	long long time_ms;
	char *key_id; /* NULL if none */
	char *provider, *model, *dialect;
	long prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens; /* -1 unknown */
	bool usage_known;
	ledger_money cost; /* -1 unknown */
	long latency_ms, first_token_ms;
	int status;
	bool streamed;
	int attempts;
};
void ledger_entries_free(struct ledger_entry *e, size_t n);

/* Rows newest first: with id < before (0: from the newest) and time_ms >=
 * since_ms, at most limit of them. *more tells whether older rows remain.
 * *out is owned by the caller (ledger_entries_free). 0 or -1 and *err. */
int ledger_transactions(struct ledger *l, long long before, long long since_ms, size_t limit,
                        struct ledger_entry **out, size_t *n, bool *more, char **err);

enum ledger_group {
	LEDGER_BY_DAY,      /* "YYYY-MM-DD", UTC */
	LEDGER_BY_MODEL,    /* "provider/model" */
	LEDGER_BY_PROVIDER, /* provider slug */
	LEDGER_BY_KEY,      /* key id; NULL group for requests without a key */
};

/* Totals of one group. Token sums count rows with known usage only; cost
 * sums rows with a known cost only, and the without_* counts say how many
 * rows those sums leave out. */
struct ledger_usage {
	char *group; /* owned; NULL for the no-key group */
	char *name;  /* LEDGER_BY_KEY: the key's name, else NULL; owned */
	long long requests;
	long long failed; /* status 0 or not 2xx */
	long long without_usage;
	long long prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens;
	ledger_money cost;
	long long without_cost;
};

/* Usage since since_ms grouped by by: days in order, other groups by cost
 * then requests (largest first), then name. *total gets the sum of every
 * group (its group and name are NULL). *out is owned by the caller
 * (ledger_usage_free). 0 or -1 and *err. */
int ledger_usage_query(struct ledger *l, enum ledger_group by, long long since_ms, struct ledger_usage **out,
                       size_t *n, struct ledger_usage *total, char **err);
void ledger_usage_free(struct ledger_usage *u, size_t n);

/* ---- local client keys ---- */

#define LEDGER_KEY_ID_LEN    8 /* hex characters of the public id */
#define LEDGER_SECRET_PREFIX "ar-local-"

enum ledger_rc {
	LEDGER_OK = 0,
	LEDGER_ERROR = -1,     /* SQLite or I/O; *err says what */
	LEDGER_NOT_FOUND = -2, /* no key with that id or name */
	LEDGER_CONFLICT = -3,  /* a name another active key has, or a change to a revoked key */
	LEDGER_INVALID = -4,   /* a field out of range; *err says which */
};

/* What a new key allows. */
struct ledger_key_spec {
	const char *name;          /* required; unique among active keys */
	ledger_money budget;       /* -1: no budget */
	long rpm, tpm;             /* 0: no limit */
	const char *const *models; /* fnmatch globs like openai/gpt-4o*; none: every model */
	size_t n_models;
	long long expires_ms; /* 0: never */
};

struct ledger_key {
	char id[LEDGER_KEY_ID_LEN + 1]; /* public, shown in logs as the client key id */
	char *name;                     /* owned */
	ledger_money budget;            /* -1: none */
	ledger_money spend;             /* cost of every recorded row of this key */
	long rpm, tpm;                  /* 0: none */
	char **models;                  /* owned; n_models == 0: every model */
	size_t n_models;
	long long expires_ms; /* 0: never */
	long long created_ms;
	long long revoked_ms; /* 0: active */
};
void ledger_key_clear(struct ledger_key *k);
void ledger_keys_free(struct ledger_key *k, size_t n);

/* A fresh secret: prefix followed by 40 base62 characters from getrandom
 * (238 bits). Owned by the caller; NULL if the kernel gives no randomness. */
char *ledger_new_secret(const char *prefix);

/* Creates a key. The secret (LEDGER_SECRET_PREFIX + 40 base62 characters
 * from getrandom) is returned once in *secret_out, owned by the caller;
 * only its SHA-256 is stored. *out (may be NULL) gets the key; clear it
 * with ledger_key_clear. Returns an enum ledger_rc. */
int ledger_key_create(struct ledger *l, const struct ledger_key_spec *spec, char **secret_out,
                      struct ledger_key *out, char **err);
/* Every key, oldest first; revoked ones only if include_revoked. */
int ledger_key_list(struct ledger *l, bool include_revoked, struct ledger_key **out, size_t *n, char **err);
/* A key by id, else by name (an active key of that name, else the most
 * recently revoked one). */
int ledger_key_get(struct ledger *l, const char *id_or_name, struct ledger_key *out, char **err);

/* A change to a key: only the fields whose set_ flag is true change. */
struct ledger_key_update {
	const char *name; /* NULL: unchanged */
	bool set_budget, set_rpm, set_tpm, set_models, set_expires;
	ledger_money budget;
	long rpm, tpm;
	const char *const *models;
	size_t n_models;
	long long expires_ms;
};
int ledger_key_update(struct ledger *l, const char *id_or_name, const struct ledger_key_update *u,
                      struct ledger_key *out, char **err);
/* Revokes for good; revoking a revoked key changes nothing and succeeds. */
int ledger_key_revoke(struct ledger *l, const char *id_or_name, struct ledger_key *out, char **err);

/* Total cost of every row since since_ms (rows of any key or none). */
int ledger_total_cost(struct ledger *l, long long since_ms, ledger_money *out, char **err);

/* ---- the proxy's in-memory key table ---- */

enum ledger_auth {
	LEDGER_AUTH_OK,
	LEDGER_AUTH_UNKNOWN,          /* 401 */
	LEDGER_AUTH_REVOKED,          /* 401 */
	LEDGER_AUTH_EXPIRED,          /* 401 */
	LEDGER_AUTH_MODEL_FORBIDDEN,  /* 403 */
	LEDGER_AUTH_BUDGET_EXHAUSTED, /* 402 */
};
/* A short lower-case reason for a log line or an error message. Static. */
const char *ledger_auth_reason(enum ledger_auth a);
/* The HTTP status to answer with: 200, 401, 403 or 402. */
int ledger_auth_http_status(enum ledger_auth a);

struct ledger_keyring;

/* Loads every key (revoked ones too, so that they answer REVOKED) from l,
 * which stays borrowed: it must outlive the keyring. Owned by the caller;
 * free with ledger_keyring_free. NULL and *err on failure. The keyring is
 * meant for one thread (the proxy's event loop). */
struct ledger_keyring *ledger_keyring_load(struct ledger *l, char **err);
void ledger_keyring_free(struct ledger_keyring *kr);

/* Checks a presented secret: its SHA-256 is compared with every key's in
 * constant time (const_time_equal, no early exit), then revocation, expiry,
 * the model globs (skipped when model is NULL) and the budget (spend >=
 * budget is exhausted) are checked in that order. *out (may be NULL) gets
 * the matching key, borrowed from the keyring until its next refresh, or
 * NULL when UNKNOWN. */
enum ledger_auth ledger_keyring_check(const struct ledger_keyring *kr, const char *presented_secret,
                                      const char *model, const struct ledger_key **out);

/* Adds a request's cost to a key's spend in memory, as its row is
 * submitted, so that the budget binds before the row is committed. A NULL
 * key_id or a negative cost does nothing. */
void ledger_keyring_add_spend(struct ledger_keyring *kr, const char *key_id, double cost_usd);

/* Keys not revoked and not expired now: when 0, the proxy has no local keys. */
size_t ledger_keyring_active(const struct ledger_keyring *kr);
/* Every key ever made, revoked and expired ones too: a proxy that has
 * had keys stays closed to clients without one. */
size_t ledger_keyring_size(const struct ledger_keyring *kr);

/* Notices changes made by other connections, at most once per second of
 * now_ms (any millisecond clock; pass the event loop's): when the keys
 * changed (a keys_version counter that triggers bump) the table is reloaded
 * and 1 returned; otherwise only the budgeted keys' spends are re-read (one
 * small query) and 0 returned. Spends never go down: an in-memory spend
 * ahead of the database (rows not yet committed) is kept. -1 and *err on
 * failure, keeping the current table. Pointers from ledger_keyring_check
 * are invalid after a return of 1. */
int ledger_keyring_refresh_if_changed(struct ledger_keyring *kr, long long now_ms, char **err);
/* Reloads now, whatever changed. 0 or -1 and *err. */
int ledger_keyring_refresh(struct ledger_keyring *kr, char **err);

/* ---- the proxy's non-blocking writer ---- */

/* A thread with its own connection that commits submitted rows. Submitting
 * copies the row into a queue under a mutex and signals the thread; it never
 * touches SQLite, so the event loop never waits on the disk. The thread
 * wakes at once and commits everything queued in one transaction, so under
 * load rows are batched while a commit is in progress, and a row is
 * committed within the time of one commit (milliseconds; ~50 ms at worst on
 * a slow disk) of its submission. A SIGKILL loses only rows not yet
 * committed; ledger_writer_flush returns once every row submitted before it
 * is committed. If the queue holds LEDGER_WRITER_MAX_QUEUE rows (the disk is
 * stuck), further rows are dropped and counted. */
#define LEDGER_WRITER_MAX_QUEUE 100000

struct ledger_writer;

/* Opens path (NULL: the default) and starts the thread, with every signal
 * blocked in it. Owned by the caller; end with ledger_writer_stop. NULL and
 * *err on failure. */
struct ledger_writer *ledger_writer_start(const char *path, char **err);
void ledger_writer_submit(struct ledger_writer *w, const struct ledger_row *row);
/* Waits until every row submitted so far is committed (or failed), for at
 * most timeout_ms (negative: for as long as it takes; the writer waits out
 * another process's lock for up to ~30 s). Returns 0, -1 if rows failed
 * since the previous flush (see the stats), or 1 if the time ran out. */
int ledger_writer_flush(struct ledger_writer *w, long timeout_ms);
/* Flushes, stops and joins the thread, closes the connection and frees w. */
void ledger_writer_stop(struct ledger_writer *w);

struct ledger_writer_stats {
	unsigned long long submitted, committed, failed, dropped;
	char last_error[256]; /* "" if none */
};
void ledger_writer_stats(struct ledger_writer *w, struct ledger_writer_stats *out);

/* ---- times ---- */

/* Parses "YYYY-MM-DD" (00:00 UTC), ISO 8601 "YYYY-MM-DDTHH:MM[:SS[.fff]]"
 * with "Z" or "+HH:MM" (UTC when no offset is given), "now", or a duration
 * "N[smhdw]" counted from now_ms backwards (direction -1, "--since 7d") or
 * forwards (+1, "--expires 30d"). 0 and *out_ms, or -1. */
int ledger_parse_time(const char *s, long long now_ms, int direction, long long *out_ms);
/* "YYYY-MM-DDTHH:MM:SSZ", with ".mmm" before the Z if with_ms. buf holds 32 bytes. */
const char *ledger_format_time(long long ms, bool with_ms, char buf[32]);

#endif
