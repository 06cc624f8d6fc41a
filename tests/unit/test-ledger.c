/* test-ledger.c - the ledger (rows, sums, keys, the keyring, the writer
 * thread) and the account API answered from it, against real SQLite files
 * in a scratch directory. */
#include "config.h"

#include "account.h"
#include "json-test.h"
#include "ledger.h"
#include "sha256.h"
#include "tap.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch[256];
static int dbs;

/* A fresh database path in the scratch directory; owned by the caller. */
static char *new_db(void)
{
	return xasprintf("%s/db%d/ledger.db", scratch, ++dbs);
}

/* The bytes of the database and its WAL, concatenated; owned by the caller. */
static char *db_bytes(const char *path, size_t *len)
{
	struct buf b = BUF_INIT;
	const char *suffixes[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < 3; i++) {
		char *p = xasprintf("%s%s", path, suffixes[i]);
		size_t n;
		char *d = read_file(p, &n);
		if (d)
			buf_append(&b, d, n);
		free(d);
		free(p);
	}
	*len = b.len;
	return buf_steal(&b);
}

static long long raw_int(const char *path, const char *sql)
{
	sqlite3 *db;
	long long v = -12345;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
			if (sqlite3_step(st) == SQLITE_ROW)
				v = sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
		}
	}
	sqlite3_close(db);
	return v;
}

/* Runs SQL statements on the file; 0 when all ran. */
static int raw_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	}
	sqlite3_close(db);
	return rc;
}

static struct ledger_row row(long long t, const char *key, const char *provider, const char *model,
                             long prompt, long completion, double cost)
{
	struct ledger_row r = {
	    .time_ms = t,
	    .key_id = key,
	    .provider = provider,
	    .model = model,
	    .dialect = "openai",
	    .prompt_tokens = prompt,
	    .completion_tokens = completion,
	    .cached_tokens = 0,
	    .reasoning_tokens = 0,
	    .usage_known = prompt >= 0,
	    .cost_usd = cost,
	    .latency_ms = 100,
	    .first_token_ms = 10,
	    .status = 200,
	    .streamed = true,
	    .attempts = 1,
	};
	return r;
}

/* The number at path exactly as serialised. */
static const char *num_text(json_object *o, const char *path)
{
	json_object *v = jp(o, path);
	return v ? json_object_to_json_string(v) : "null";
}

/* ---- money and time ---- */

static void test_money(void)
{
	char buf[32];
	is_str(ledger_money_format(ledger_money_from_usd(0.1), buf), "0.1", "0.1 dollars print exactly");
	is_str(ledger_money_format(ledger_money_from_usd(5), buf), "5.0", "whole dollars keep one decimal");
	is_str(ledger_money_format(1, buf), "0.000000000001", "one picodollar");
	is_str(ledger_money_format(0, buf), "0.0", "zero");
	is_int(ledger_money_from_usd(-0.5), -1, "a negative amount is unknown");
	ledger_money sum = 0;
	for (int i = 0; i < 10; i++)
		sum += ledger_money_from_usd(0.1);
	is_int(sum, LEDGER_PUSD_PER_USD, "ten times 0.1 dollars is exactly one dollar");
	is_int(ledger_money_from_usd(0.0000015), 1500000, "1.5 microdollars");
}

static void test_time(void)
{
	long long t, now = 1767225600000LL; /* 2026-01-01T00:00:00Z */
	ok(ledger_parse_time("2026-01-01", now, -1, &t) == 0 && t == now, "a date is its midnight UTC");
	ok(ledger_parse_time("2026-01-02T03:04:05Z", now, -1, &t) == 0 && t == now + 86400000LL + 11045000LL,
	   "ISO 8601 with Z");
	ok(ledger_parse_time("2026-01-01T02:00:00+02:00", now, -1, &t) == 0 && t == now,
	   "an offset is applied");
	ok(ledger_parse_time("2026-01-01T00:00:00.25Z", now, -1, &t) == 0 && t == now + 250,
	   "fractions of a second");
	ok(ledger_parse_time("2026-01-01T00:00", now, -1, &t) == 0 && t == now, "no seconds, no zone: UTC");
	ok(ledger_parse_time("7d", now, -1, &t) == 0 && t == now - 7 * 86400000LL, "7d back");
	ok(ledger_parse_time("30d", now, 1, &t) == 0 && t == now + 30 * 86400000LL, "30d forward");
	ok(ledger_parse_time("1.5h", now, -1, &t) == 0 && t == now - 5400000LL, "1.5h");
	ok(ledger_parse_time("2w", now, -1, &t) == 0 && t == now - 14 * 86400000LL, "2w");
	ok(ledger_parse_time("now", now, -1, &t) == 0 && t == now, "now");
	const char *bad[] = {"",
	                     "yesterday",
	                     "7x",
	                     "7",
	                     "d",
	                     "2026-02-30",
	                     "2026-13-01",
	                     "2026-1-01",
	                     "2026-01-01T25:00",
	                     "2026-01-01T10:00Zjunk",
	                     "1969-12-31",
	                     "-7d"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ok(ledger_parse_time(bad[i], now, -1, &t) < 0, "'%s' is refused", bad[i]);
	char buf[32];
	is_str(ledger_format_time(now + 1234, true, buf), "2026-01-01T00:00:01.234Z", "format with ms");
	is_str(ledger_format_time(now + 1234, false, buf), "2026-01-01T00:00:01Z", "format without ms");
	ok(ledger_parse_time("2024-02-29", now, -1, &t) == 0, "a leap day");
}

static void test_row_usage(void)
{
	struct ledger_row r = {.cost_usd = -1};
	json_object *u = J("{`prompt_tokens`:12,`completion_tokens`:8,`total_tokens`:20,"
	                   "`prompt_tokens_details`:{`cached_tokens`:2},`completion_tokens_details`:{`"
	                   "reasoning_tokens`:3}}");
	ledger_row_set_usage(&r, u);
	ok(r.usage_known, "usage with counts is known");
	is_int(r.prompt_tokens, 12, "prompt");
	is_int(r.completion_tokens, 8, "completion");
	is_int(r.cached_tokens, 2, "cached from prompt_tokens_details");
	is_int(r.reasoning_tokens, 3, "reasoning from completion_tokens_details");
	ok(r.cost_usd < 0, "no cost field leaves the cost unknown");
	json_object_put(u);
	u = J("{`prompt_tokens`:5,`completion_tokens`:1,`cost`:0.0125}");
	ledger_row_set_usage(&r, u);
	is_int(r.cached_tokens, 0, "absent details are zero");
	ok(r.cost_usd == 0.0125, "a gateway's cost is taken");
	json_object_put(u);
	ledger_row_set_usage(&r, NULL);
	ok(!r.usage_known && r.prompt_tokens == -1 && r.completion_tokens == -1 && r.cached_tokens == -1,
	   "no usage object: unknown, not zero");
	u = J("{`total_tokens`:9}");
	ledger_row_set_usage(&r, u);
	ok(!r.usage_known && r.prompt_tokens == -1, "no prompt or completion count: unknown");
	json_object_put(u);
}

/* ---- opening ---- */

static void test_open(void)
{
	char *path = new_db();
	char *err = NULL;
	struct ledger *l = ledger_open(path, &err);
	ok(l != NULL, "opens and creates a ledger in a new directory");
	if (!l) {
		printf("# %s\n", err);
		free(err);
		free(path);
		return;
	}
	struct stat st;
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "the file is 0600");
	char *dir = xstrdup(path);
	*strrchr(dir, '/') = '\0';
	ok(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700, "its directory is 0700");
	free(dir);
	is_str(ledger_path(l), path, "ledger_path");
	struct ledger_row r = row(1000, NULL, "openai", "gpt-4o", 1, 2, 0.5);
	ok(ledger_record(l, &r, &err) == 0, "records a row");
	is_int(raw_int(path, "PRAGMA user_version"), 2, "user_version is the schema version");
	char *wal = xasprintf("%s-wal", path);
	ok(access(wal, F_OK) == 0, "WAL mode: a -wal file exists");
	ok(stat(wal, &st) == 0 && (st.st_mode & 077) == 0, "the -wal file is not readable by others");
	free(wal);
	ledger_close(l);

	l = ledger_open(path, &err);
	ok(l && raw_int(path, "SELECT COUNT(*) FROM requests") == 1, "reopening keeps the rows");
	ledger_close(l);

	raw_int(path, "PRAGMA user_version = 99");
	l = ledger_open(path, &err);
	ok(l == NULL && err && strstr(err, "schema version 99"), "a newer schema is refused: %s",
	   err ? err : "");
	ledger_close(l);
	free(err);
	err = NULL;

	char *junk = xasprintf("%s/junk.db", scratch);
	FILE *f = fopen(junk, "w");
	fputs("this is not a database, not at all, not even a little bit of one..............", f);
	fclose(f);
	l = ledger_open(junk, &err);
	ok(l == NULL && err, "a file that is not SQLite is refused: %s", err ? err : "");
	ledger_close(l);
	free(err);
	free(junk);
	free(path);
}

/* ---- rows ---- */

/* A ledger written by schema version 1 (ids AUTOINCREMENT, every row in
 * the key index) is rebuilt on open: rows, ids and keys kept, and new rows
 * take ids after the highest. */
static void test_migrate_v1(void)
{
	char *path = new_db();
	char *err = NULL;
	struct ledger *l = ledger_open(path, &err);
	struct ledger_key_spec spec = {.name = "old-key", .budget = -1};
	struct ledger_key k = {0};
	char *secret = NULL;
	ok(l && ledger_key_create(l, &spec, &secret, &k, &err) == LEDGER_OK, "a key before the migration");
	free(secret);
	ledger_close(l);
	/* Back to version 1's table, as that arouter left it. */
	int rc = raw_exec(path,
	                  "BEGIN;"
	                  "DROP TABLE requests;"
	                  "CREATE TABLE requests (id INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INTEGER NOT NULL,"
	                  " key_id TEXT, provider TEXT NOT NULL, model TEXT NOT NULL, dialect TEXT NOT NULL,"
	                  " usage_known INTEGER NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER,"
	                  " cached_tokens INTEGER, reasoning_tokens INTEGER, cost_pusd INTEGER,"
	                  " latency_ms INTEGER NOT NULL, first_token_ms INTEGER, status INTEGER NOT NULL,"
	                  " streamed INTEGER NOT NULL, attempts INTEGER NOT NULL);"
	                  "CREATE INDEX requests_time ON requests(time_ms);"
	                  "CREATE INDEX requests_key ON requests(key_id);"
	                  "INSERT INTO requests VALUES (5, 1000, NULL, 'openai', 'gpt-4o', 'openai', 1, 10, 2, 0, 0,"
	                  " 1000000, 100, 10, 200, 0, 1);"
	                  "INSERT INTO requests VALUES (9, 2000, 'k1', 'anthropic', 'claude', 'anthropic', 1, 20, 3,"
	                  " 0, 0, 2000000, 100, 10, 200, 1, 2);"
	                  "INSERT INTO requests VALUES (12, 3000, NULL, 'google', 'gemini', 'gemini', 0, NULL, NULL,"
	                  " NULL, NULL, NULL, 50, NULL, 502, 0, 1);"
	                  "PRAGMA user_version = 1;"
	                  "COMMIT;");
	ok(rc == SQLITE_OK && raw_int(path, "SELECT seq FROM sqlite_sequence WHERE name = 'requests'") == 12,
	   "a version 1 ledger with three rows");

	l = ledger_open(path, &err);
	ok(l != NULL, "it opens");
	is_int(raw_int(path, "PRAGMA user_version"), 2, "as version 2");
	is_int(raw_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'requests' AND sql LIKE '%AUTOINCREMENT%'"),
	       0, "ids are the rowid");
	is_int(raw_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'requests_key'"
	                     " AND sql LIKE '%WHERE key_id IS NOT NULL'"),
	       1, "the key index holds keyed rows only");
	is_int(raw_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'requests_time'"), 1,
	       "the time index is there");
	is_int(raw_int(path, "SELECT SUM(id) || '' || SUM(cost_pusd) FROM requests"), 263000000,
	       "the rows, ids and costs are kept");
	struct ledger_row r = row(4000, NULL, "openai", "gpt-4o", 1, 1, 0);
	ok(l && ledger_record(l, &r, &err) == 0, "a new row is recorded");
	struct ledger_entry *e = NULL;
	size_t n = 0;
	bool more = false;
	ok(l && ledger_transactions(l, 0, 0, 10, &e, &n, &more, &err) == 0 && n == 4 && e[0].id == 13 &&
	       e[1].id == 12 && e[3].id == 5 && e[2].key_id && strcmp(e[2].key_id, "k1") == 0,
	   "after the highest id, the old rows listed as before");
	ledger_entries_free(e, n);
	struct ledger_key got = {0};
	ok(l && ledger_key_get(l, "old-key", &got, &err) == LEDGER_OK && strcmp(got.id, k.id) == 0,
	   "the key is kept");
	ledger_key_clear(&got);
	ledger_key_clear(&k);
	ledger_close(l);
	is_int(raw_int(path, "SELECT COUNT(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"), 1,
	       "the file passes SQLite's integrity check");
	free(err);
	free(path);
}

static void test_rows(void)
{
	char *path = new_db(), *err = NULL;
	struct ledger *l = ledger_open(path, &err);
	struct ledger_row rows[5];
	for (int i = 0; i < 5; i++) {
		rows[i] =
		    row(1000 + i, i % 2 ? "k1" : NULL, "openai", "gpt-4o", 10 + i, 20 + i, 0.01 * (i + 1));
		rows[i].latency_ms = 500 + i;
	}
	/* A stream that ended without usage: its numbers must not be kept. */
	rows[2].usage_known = false;
	rows[2].prompt_tokens = 77;
	rows[2].cost_usd = -1;
	rows[2].first_token_ms = -1;
	rows[3].status = 0;
	rows[3].dialect = "anthropic";
	rows[3].streamed = false;
	rows[3].attempts = 3;
	ok(ledger_record_many(l, rows, 5, &err) == 0, "records five rows in one transaction");

	struct ledger_entry *e;
	size_t n;
	bool more;
	ok(ledger_transactions(l, 0, 0, 2, &e, &n, &more, &err) == 0, "reads a page");
	is_int(n, 2, "two rows on the page");
	ok(more, "more remain");
	long long cursor = n ? e[n - 1].id : 0;
	if (n == 2) {
		is_int(e[0].time_ms, 1004, "newest first");
		is_int(e[1].time_ms, 1003, "then the one before");
		is_int(e[1].status, 0, "network failure status 0");
		is_str(e[1].dialect, "anthropic", "dialect");
		ok(!e[1].streamed, "not streamed");
		is_int(e[1].attempts, 3, "attempts");
		is_str(e[1].key_id, "k1", "key id");
		is_str(e[0].key_id, NULL, "no key is NULL");
		is_int(e[0].latency_ms, 504, "latency");
		is_int(e[0].first_token_ms, 10, "first token");
		is_int(e[0].prompt_tokens, 14, "prompt tokens");
		is_int(e[0].completion_tokens, 24, "completion tokens");
		is_int(e[0].cost, ledger_money_from_usd(0.05), "cost");
	}
	ledger_entries_free(e, n);
	ok(ledger_transactions(l, cursor, 0, 2, &e, &n, &more, &err) == 0 && n == 2 && more,
	   "the cursor gives the next page");
	if (n == 2) {
		is_int(e[0].time_ms, 1002, "it starts after the cursor");
		ok(!e[0].usage_known, "usage unknown is kept");
		is_int(e[0].prompt_tokens, -1, "unknown usage stores no prompt count, not a guess");
		is_int(e[0].completion_tokens, -1, "nor a completion count");
		is_int(e[0].cost, -1, "unknown cost");
		is_int(e[0].first_token_ms, -1, "no first token");
		cursor = e[1].id;
	}
	ledger_entries_free(e, n);
	ok(ledger_transactions(l, cursor, 0, 2, &e, &n, &more, &err) == 0 && n == 1 && !more,
	   "the last page");
	ledger_entries_free(e, n);
	ok(ledger_transactions(l, 0, 1003, 10, &e, &n, &more, &err) == 0 && n == 2, "since filters by time");
	ledger_entries_free(e, n);

	/* Nothing but counts, names and times are stored: no column can hold text. */
	is_int(raw_int(path, "SELECT COUNT(*) FROM pragma_table_info('requests')"), 17,
	       "the requests table has 17 columns");
	ledger_close(l);
	free(path);
}

static void test_aggregation(void)
{
	char *path = new_db(), *err = NULL;
	struct ledger *l = ledger_open(path, &err);
	long long d1 = 1767225600000LL, d2 = d1 + 86400000LL; /* 2026-01-01, 2026-01-02 */
	struct ledger_key_spec spec = {.name = "team", .budget = -1};
	char *secret = NULL;
	struct ledger_key key;
	ok(ledger_key_create(l, &spec, &secret, &key, &err) == 0, "a key for the rows");
	free(secret);
	struct ledger_row rows[] = {
	    row(d1 + 1000, key.id, "openai", "gpt-4o", 100, 10, 0.1),
	    row(d1 + 2000, key.id, "openai", "gpt-4o", 200, 20, 0.2),
	    row(d1 + 3000, NULL, "anthropic", "claude-sonnet-4-6", 1000, 100, 1.25),
	    row(d2 + 1000, NULL, "openai", "gpt-4o-mini", 7, 3, 0.000001),
	    row(d2 + 2000, key.id, "anthropic", "claude-sonnet-4-6", -1, -1, -1),
	    row(d1 - 1, NULL, "openai", "gpt-4o", 5000, 5000, 50), /* before since */
	};
	rows[1].cached_tokens = 50;
	rows[2].reasoning_tokens = 40;
	rows[4].status = 502;
	ok(ledger_record_many(l, rows, 6, &err) == 0, "records the rows");

	struct ledger_usage *u, total;
	size_t n;
	ok(ledger_usage_query(l, LEDGER_BY_DAY, d1, &u, &n, &total, &err) == 0, "by day");
	is_int(n, 2, "two days");
	if (n == 2) {
		is_str(u[0].group, "2026-01-01", "first day");
		is_int(u[0].requests, 3, "its requests");
		is_int(u[0].prompt_tokens, 1300, "its prompt tokens");
		is_int(u[0].completion_tokens, 130, "its completion tokens");
		is_int(u[0].cached_tokens, 50, "its cached tokens");
		is_int(u[0].reasoning_tokens, 40, "its reasoning tokens");
		is_int(u[0].cost, 1550000000000LL, "0.1 + 0.2 + 1.25 is exactly 1.55 dollars");
		is_str(u[1].group, "2026-01-02", "second day");
		is_int(u[1].requests, 2, "its requests");
		is_int(u[1].without_usage, 1, "one without usage");
		is_int(u[1].without_cost, 1, "one without cost");
		is_int(u[1].failed, 1, "one failed");
		is_int(u[1].prompt_tokens, 7, "unknown usage adds nothing");
		is_int(u[1].cost, 1000000, "one microdollar");
	}
	is_int(total.requests, 5, "total requests");
	is_int(total.prompt_tokens, 1307, "total prompt");
	is_int(total.completion_tokens, 133, "total completion");
	is_int(total.cost, 1550001000000LL, "total cost exact");
	ledger_usage_free(u, n);

	ok(ledger_usage_query(l, LEDGER_BY_MODEL, d1, &u, &n, &total, &err) == 0, "by model");
	is_int(n, 3, "three models");
	if (n == 3) {
		is_str(u[0].group, "anthropic/claude-sonnet-4-6", "the costliest first");
		is_int(u[0].requests, 2, "two requests");
		is_int(u[0].cost, 1250000000000LL, "its cost");
		is_str(u[1].group, "openai/gpt-4o", "then gpt-4o");
		is_int(u[1].cost, 300000000000LL, "0.1 + 0.2 is exactly 0.3");
		is_str(u[2].group, "openai/gpt-4o-mini", "then the mini");
	}
	ledger_usage_free(u, n);

	ok(ledger_usage_query(l, LEDGER_BY_PROVIDER, d1, &u, &n, &total, &err) == 0, "by provider");
	is_int(n, 2, "two providers");
	if (n == 2) {
		is_str(u[0].group, "anthropic", "anthropic costs more");
		is_str(u[1].group, "openai", "then openai");
		is_int(u[1].requests, 3, "openai requests");
		is_int(u[1].prompt_tokens, 307, "openai prompt tokens");
	}
	ledger_usage_free(u, n);

	ok(ledger_usage_query(l, LEDGER_BY_KEY, d1, &u, &n, &total, &err) == 0, "by key");
	is_int(n, 2, "the key and no key");
	if (n == 2) {
		is_str(u[0].group, NULL, "no key spent more");
		is_str(u[0].name, NULL, "and has no name");
		is_int(u[0].cost, 1250001000000LL, "its cost");
		is_str(u[1].group, key.id, "the key's id");
		is_str(u[1].name, "team", "the key's name");
		is_int(u[1].requests, 3, "its requests");
	}
	ledger_usage_free(u, n);

	ok(ledger_usage_query(l, LEDGER_BY_DAY, 0, &u, &n, &total, &err) == 0 && n == 3 &&
	       total.requests == 6,
	   "since 0 counts every row");
	ledger_usage_free(u, n);
	ledger_money all;
	ok(ledger_total_cost(l, 0, &all, &err) == 0 && all == 51550001000000LL, "total cost of every row");

	struct ledger_key got;
	ok(ledger_key_get(l, key.id, &got, &err) == 0, "reads the key back");
	is_int(got.spend, 300000000000LL, "its spend is the sum of its rows' costs");
	ledger_key_clear(&got);
	ledger_key_clear(&key);
	ledger_close(l);
	free(path);
}

/* ---- keys ---- */

static void test_keys(void)
{
	char *path = new_db(), *err = NULL;
	struct ledger *l = ledger_open(path, &err);
	const char *models[] = {"openai/*", "anthropic/claude-*"};
	struct ledger_key_spec spec = {
	    .name = "ci",
	    .budget = ledger_money_from_usd(5),
	    .rpm = 60,
	    .tpm = 10000,
	    .models = models,
	    .n_models = 2,
	    .expires_ms = ledger_now_ms() + 86400000LL,
	};
	char *secret = NULL;
	struct ledger_key k;
	ok(ledger_key_create(l, &spec, &secret, &k, &err) == 0, "creates a key");
	ok(secret && str_has_prefix(secret, LEDGER_SECRET_PREFIX), "the secret has the prefix");
	is_int(secret ? strlen(secret) : 0, strlen(LEDGER_SECRET_PREFIX) + 40, "and 40 characters after it");
	bool base62 = secret != NULL;
	for (const char *p = secret ? secret + strlen(LEDGER_SECRET_PREFIX) : ""; *p; p++)
		base62 &= (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z');
	ok(base62, "base62");
	is_int(strlen(k.id), 8, "the id is 8 characters");
	ok(strspn(k.id, "0123456789abcdef") == 8, "of hex");
	is_str(k.name, "ci", "name");
	is_int(k.budget, 5 * LEDGER_PUSD_PER_USD, "budget");
	is_int(k.rpm, 60, "rpm");
	is_int(k.tpm, 10000, "tpm");
	is_int(k.n_models, 2, "two patterns");
	if (k.n_models == 2)
		is_str(k.models[1], "anthropic/claude-*", "second pattern");
	ok(k.created_ms > 0 && k.revoked_ms == 0, "created, not revoked");

	/* Only a hash is stored: the secret is nowhere in the files. */
	size_t len;
	char *bytes = db_bytes(path, &len);
	ok(secret && !memmem(bytes, len, secret, strlen(secret)), "the secret is not in the database files");
	ok(secret && !memmem(bytes, len, secret + strlen(LEDGER_SECRET_PREFIX), 40), "nor its random part");
	unsigned char h[32];
	sha256(secret ? secret : "", secret ? strlen(secret) : 0, h);
	ok(memmem(bytes, len, h, 32) != NULL, "its SHA-256 is");
	free(bytes);

	char *s2 = NULL;
	struct ledger_key_spec dup = {.name = "ci", .budget = -1};
	is_int(ledger_key_create(l, &dup, &s2, NULL, &err), LEDGER_CONFLICT,
	       "a second active 'ci' conflicts");
	ok(s2 == NULL, "and gives no secret");
	struct ledger_key_spec bad = {.name = "", .budget = -1};
	is_int(ledger_key_create(l, &bad, &s2, NULL, &err), LEDGER_INVALID, "an empty name is invalid");
	bad.name = "tab\there";
	is_int(ledger_key_create(l, &bad, &s2, NULL, &err), LEDGER_INVALID, "a control character is invalid");
	bad.name = "ok";
	bad.rpm = -1;
	is_int(ledger_key_create(l, &bad, &s2, NULL, &err), LEDGER_INVALID, "a negative rpm is invalid");

	struct ledger_key_spec other = {.name = "dev", .budget = -1};
	struct ledger_key k2;
	ok(ledger_key_create(l, &other, &s2, &k2, &err) == 0, "a second key");
	ok(strcmp(k.id, k2.id) != 0, "with its own id");
	ok(s2 && secret && strcmp(s2, secret) != 0, "and its own secret");

	struct ledger_key *list;
	size_t n;
	ok(ledger_key_list(l, false, &list, &n, &err) == 0 && n == 2, "lists two keys");
	if (n == 2)
		ok(strcmp(list[0].name, "ci") == 0 && strcmp(list[1].name, "dev") == 0, "oldest first");
	ledger_keys_free(list, n);

	struct ledger_key got;
	ok(ledger_key_get(l, k.id, &got, &err) == 0 && strcmp(got.name, "ci") == 0, "gets by id");
	ledger_key_clear(&got);
	ok(ledger_key_get(l, "dev", &got, &err) == 0 && strcmp(got.id, k2.id) == 0, "gets by name");
	ledger_key_clear(&got);
	is_int(ledger_key_get(l, "nope", &got, &err), LEDGER_NOT_FOUND, "an unknown key is not found");
	is_str(err, "no key 'nope'", "and the error says which");

	const char *one[] = {"google/*"};
	struct ledger_key_update u = {.name = "ci2",
	                              .set_budget = true,
	                              .budget = -1,
	                              .set_models = true,
	                              .models = one,
	                              .n_models = 1,
	                              .set_rpm = true,
	                              .rpm = 0};
	ok(ledger_key_update(l, "ci", &u, &got, &err) == 0, "updates by name");
	is_str(got.name, "ci2", "renamed");
	is_int(got.budget, -1, "budget removed");
	is_int(got.rpm, 0, "rpm removed");
	is_int(got.tpm, 10000, "tpm unchanged");
	ok(got.n_models == 1 && strcmp(got.models[0], "google/*") == 0, "models replaced");
	ok(got.expires_ms == spec.expires_ms, "expiry unchanged");
	ledger_key_clear(&got);
	struct ledger_key_update clash = {.name = "dev"};
	is_int(ledger_key_update(l, k.id, &clash, NULL, &err), LEDGER_CONFLICT,
	       "renaming onto an active name conflicts");
	is_int(ledger_key_update(l, "zzz", &clash, NULL, &err), LEDGER_NOT_FOUND, "updating an unknown key");

	ok(ledger_key_revoke(l, "dev", &got, &err) == 0 && got.revoked_ms > 0, "revokes");
	long long when = got.revoked_ms;
	ledger_key_clear(&got);
	ok(ledger_key_revoke(l, k2.id, &got, &err) == 0 && got.revoked_ms == when,
	   "revoking again changes nothing");
	ledger_key_clear(&got);
	struct ledger_key_update any = {.set_rpm = true, .rpm = 5};
	is_int(ledger_key_update(l, k2.id, &any, NULL, &err), LEDGER_CONFLICT, "a revoked key cannot change");
	ok(ledger_key_list(l, false, &list, &n, &err) == 0 && n == 1, "the list leaves revoked keys out");
	ledger_keys_free(list, n);
	ok(ledger_key_list(l, true, &list, &n, &err) == 0 && n == 2, "unless asked");
	ledger_keys_free(list, n);
	char *s3 = NULL;
	struct ledger_key k3;
	ok(ledger_key_create(l, &other, &s3, &k3, &err) == 0, "the name of a revoked key can be used again");
	ok(ledger_key_get(l, "dev", &got, &err) == 0 && strcmp(got.id, k3.id) == 0,
	   "and the name finds the active one");
	ledger_key_clear(&got);

	free(err);
	free(secret);
	free(s2);
	free(s3);
	ledger_key_clear(&k);
	ledger_key_clear(&k2);
	ledger_key_clear(&k3);
	ledger_close(l);
	free(path);
}

/* ---- the keyring ---- */

static void test_keyring(void)
{
	char *path = new_db(), *err = NULL;
	struct ledger *l = ledger_open(path, &err);
	const char *openai[] = {"openai/*"};
	struct ledger_key_spec specs[] = {
	    {.name = "good", .budget = ledger_money_from_usd(1), .models = openai, .n_models = 1},
	    {.name = "revoked", .budget = -1},
	    {.name = "expired", .budget = -1, .expires_ms = ledger_now_ms() - 1000},
	    {.name = "broke", .budget = 0},
	    {.name = "open", .budget = -1},
	};
	char *secrets[5];
	struct ledger_key keys[5];
	for (int i = 0; i < 5; i++)
		ledger_key_create(l, &specs[i], &secrets[i], &keys[i], &err);
	ledger_key_revoke(l, "revoked", NULL, &err);

	struct ledger_keyring *kr = ledger_keyring_load(l, &err);
	ok(kr != NULL, "loads the keyring");
	is_int(ledger_keyring_active(kr), 3, "three keys are active (not revoked, not expired)");
	const struct ledger_key *k = NULL;
	is_int(ledger_keyring_check(kr, secrets[0], "openai/gpt-4o", &k), LEDGER_AUTH_OK,
	       "a good key and model");
	ok(k && strcmp(k->id, keys[0].id) == 0, "names the key");
	is_int(ledger_keyring_check(kr, secrets[0], NULL, &k), LEDGER_AUTH_OK, "no model to check");
	is_int(ledger_keyring_check(kr, secrets[0], "anthropic/claude-sonnet-4-6", &k),
	       LEDGER_AUTH_MODEL_FORBIDDEN, "a model outside the globs is forbidden");
	ok(k && strcmp(k->id, keys[0].id) == 0, "and still names the key");
	is_int(ledger_keyring_check(kr, secrets[1], "openai/gpt-4o", &k), LEDGER_AUTH_REVOKED, "revoked");
	is_int(ledger_keyring_check(kr, secrets[2], "openai/gpt-4o", &k), LEDGER_AUTH_EXPIRED, "expired");
	is_int(ledger_keyring_check(kr, secrets[3], "x/y", &k), LEDGER_AUTH_BUDGET_EXHAUSTED,
	       "a zero budget is spent");
	is_int(ledger_keyring_check(kr, secrets[4], "anything/at-all", &k), LEDGER_AUTH_OK,
	       "no limits at all");
	is_int(ledger_keyring_check(kr, "ar-local-nope", "openai/gpt-4o", &k), LEDGER_AUTH_UNKNOWN,
	       "an unknown key");
	ok(k == NULL, "names no key");
	is_int(ledger_keyring_check(kr, "", NULL, &k), LEDGER_AUTH_UNKNOWN, "an empty key");
	is_int(ledger_keyring_check(kr, NULL, NULL, &k), LEDGER_AUTH_UNKNOWN, "no key");
	char *longer = xasprintf("%sx", secrets[0]);
	is_int(ledger_keyring_check(kr, longer, NULL, &k), LEDGER_AUTH_UNKNOWN,
	       "the secret plus a character");
	longer[strlen(longer) - 2] = '\0';
	is_int(ledger_keyring_check(kr, longer, NULL, &k), LEDGER_AUTH_UNKNOWN,
	       "the secret minus a character");
	free(longer);
	is_str(ledger_auth_reason(LEDGER_AUTH_BUDGET_EXHAUSTED), "key budget exhausted", "reasons for logs");
	ok(ledger_auth_http_status(LEDGER_AUTH_OK) == 200 &&
	       ledger_auth_http_status(LEDGER_AUTH_UNKNOWN) == 401 &&
	       ledger_auth_http_status(LEDGER_AUTH_REVOKED) == 401 &&
	       ledger_auth_http_status(LEDGER_AUTH_EXPIRED) == 401 &&
	       ledger_auth_http_status(LEDGER_AUTH_MODEL_FORBIDDEN) == 403 &&
	       ledger_auth_http_status(LEDGER_AUTH_BUDGET_EXHAUSTED) == 402,
	   "statuses: 401 unknown, revoked, expired; 403 model; 402 budget");

	/* Budget: 1 dollar; spend goes up in memory as rows are submitted. */
	ledger_keyring_add_spend(kr, keys[0].id, 0.6);
	is_int(ledger_keyring_check(kr, secrets[0], "openai/gpt-4o", &k), LEDGER_AUTH_OK,
	       "0.6 of 1 dollar spent");
	ledger_keyring_add_spend(kr, keys[0].id, 0.4);
	is_int(ledger_keyring_check(kr, secrets[0], "openai/gpt-4o", &k), LEDGER_AUTH_BUDGET_EXHAUSTED,
	       "0.6 + 0.4 reaches the budget exactly");
	ledger_keyring_add_spend(kr, NULL, 1);
	ledger_keyring_add_spend(kr, "nosuchid", 1);
	is_int(ledger_keyring_check(kr, secrets[4], NULL, &k), LEDGER_AUTH_OK,
	       "spend without a key changes nothing");

	/* The in-memory spend survives a reload that has not seen its rows. */
	ok(ledger_keyring_refresh(kr, &err) == 0, "reloads");
	is_int(ledger_keyring_check(kr, secrets[0], "openai/gpt-4o", &k), LEDGER_AUTH_BUDGET_EXHAUSTED,
	       "a spend ahead of the database is kept");

	/* Another connection (as `arouter keys create` beside the proxy). */
	struct ledger *other = ledger_open(path, &err);
	struct ledger_key_spec late = {.name = "late", .budget = ledger_money_from_usd(2)};
	char *late_secret = NULL;
	struct ledger_key late_key;
	ok(ledger_key_create(other, &late, &late_secret, &late_key, &err) == 0,
	   "another connection adds a key");
	is_int(ledger_keyring_check(kr, late_secret, NULL, &k), LEDGER_AUTH_UNKNOWN,
	       "unknown before a refresh");
	is_int(ledger_keyring_refresh_if_changed(kr, 10000, &err), 1, "the first check notices the change");
	is_int(ledger_keyring_check(kr, late_secret, NULL, &k), LEDGER_AUTH_OK, "and the key works");
	struct ledger_key_spec later = {.name = "later", .budget = -1};
	char *later_secret = NULL;
	ledger_key_create(other, &later, &later_secret, NULL, &err);
	is_int(ledger_keyring_refresh_if_changed(kr, 10500, &err), 0, "within a second nothing is read");
	is_int(ledger_keyring_check(kr, later_secret, NULL, &k), LEDGER_AUTH_UNKNOWN,
	       "so the newest key is unknown");
	is_int(ledger_keyring_refresh_if_changed(kr, 11000, &err), 1, "a second later it is noticed");
	is_int(ledger_keyring_check(kr, later_secret, NULL, &k), LEDGER_AUTH_OK, "and works");
	is_int(ledger_keyring_refresh_if_changed(kr, 12000, &err), 0, "no change, no reload");

	/* Spend committed by another process binds too. */
	struct ledger_row r = row(ledger_now_ms(), late_key.id, "openai", "gpt-4o", 1, 1, 2.5);
	ok(ledger_record(other, &r, &err) == 0, "another process records a costly row");
	is_int(ledger_keyring_check(kr, late_secret, NULL, &k), LEDGER_AUTH_OK, "not seen yet");
	is_int(ledger_keyring_refresh_if_changed(kr, 13000, &err), 0, "a spend is not a key change");
	is_int(ledger_keyring_check(kr, late_secret, NULL, &k), LEDGER_AUTH_BUDGET_EXHAUSTED,
	       "but its spend is read and the budget binds");
	ok(k && k->spend == ledger_money_from_usd(2.5), "the spend is the database's");

	/* Revoked in another process. */
	ledger_key_revoke(other, "open", NULL, &err);
	is_int(ledger_keyring_refresh_if_changed(kr, 14000, &err), 1, "a revocation is a change");
	is_int(ledger_keyring_check(kr, secrets[4], NULL, &k), LEDGER_AUTH_REVOKED, "and binds");

	ledger_keyring_free(kr);
	ledger_close(other);
	free(late_secret);
	free(later_secret);
	ledger_key_clear(&late_key);
	for (int i = 0; i < 5; i++) {
		free(secrets[i]);
		ledger_key_clear(&keys[i]);
	}
	free(err);
	ledger_close(l);
	free(path);
}

/* A key row as an earlier build stored it (the hash from sha256sum, not
 * from this code): its secret must still be accepted. */
static void test_keyring_stored_hash(void)
{
	char *path = new_db(), *err = NULL;
	struct ledger *l = ledger_open(path, &err);
	raw_int(path, "INSERT INTO keys (id, name, hash, created_ms) VALUES ('0123abcd', 'old', "
	              "X'2241c1572a6beed7aff3359f3244e4da34aa97c337238ecd3b1b11967b250888', 1)");
	is_int(raw_int(path, "SELECT count(*) FROM keys"), 1, "a key row written by hand");
	struct ledger_keyring *kr = ledger_keyring_load(l, &err);
	const struct ledger_key *k = NULL;
	is_int(ledger_keyring_check(kr, "ar-local-0123456789ABCDEFGHIJabcdefghijKLMNOPQRST", NULL, &k),
	       LEDGER_AUTH_OK, "its secret is accepted");
	is_str(k ? k->id : NULL, "0123abcd", "as that key");
	is_int(ledger_keyring_check(kr, "ar-local-0123456789ABCDEFGHIJabcdefghijKLMNOPQRSt", NULL, &k),
	       LEDGER_AUTH_UNKNOWN, "one character off is not");
	ledger_keyring_free(kr);
	free(err);
	ledger_close(l);
	free(path);
}

/* The matching entry is selected without a branch on the comparison: every
 * position in a larger ring must still find its own key. */
static void test_keyring_many(void)
{
	char *path = new_db(), *err = NULL;
	struct ledger *l = ledger_open(path, &err);
	enum { N = 24 };
	char *secrets[N];
	struct ledger_key keys[N];
	for (int i = 0; i < N; i++) {
		char name[16];
		snprintf(name, sizeof name, "k%02d", i);
		struct ledger_key_spec s = {.name = name, .budget = -1};
		ledger_key_create(l, &s, &secrets[i], &keys[i], &err);
	}
	struct ledger_keyring *kr = ledger_keyring_load(l, &err);
	int right = 0;
	for (int i = 0; i < N; i++) {
		const struct ledger_key *k = NULL;
		if (ledger_keyring_check(kr, secrets[i], NULL, &k) == LEDGER_AUTH_OK && k &&
		    strcmp(k->id, keys[i].id) == 0)
			right++;
	}
	is_int(right, N, "each of %d keys finds itself, first to last", N);
	ledger_keyring_free(kr);
	for (int i = 0; i < N; i++) {
		free(secrets[i]);
		ledger_key_clear(&keys[i]);
	}
	ledger_close(l);
	free(path);
}

/* ---- the writer ---- */

struct side {
	const char *path;
	int rows;
	int failures;
};

/* A second writer on its own connection, as the CLI beside the proxy. */
static void *side_writer(void *arg)
{
	struct side *s = arg;
	char *err = NULL;
	struct ledger *l = ledger_open(s->path, &err);
	if (!l) {
		s->failures = s->rows;
		free(err);
		return NULL;
	}
	for (int i = 0; i < s->rows; i++) {
		struct ledger_row r = row(2000000 + i, NULL, "cli", "side", 1, 1, -1);
		r.dialect = "cli";
		r.latency_ms = 100000 + i;
		if (ledger_record(l, &r, &err) < 0)
			s->failures++;
	}
	free(err);
	ledger_close(l);
	return NULL;
}

static void test_writer(void)
{
	char *path = new_db(), *err = NULL;
	struct ledger *l = ledger_open(path, &err);
	struct ledger_key_spec spec = {.name = "proxy-client", .budget = -1};
	char *secret;
	struct ledger_key key;
	ledger_key_create(l, &spec, &secret, &key, &err);
	free(secret);

	struct ledger_writer *w = ledger_writer_start(path, &err);
	ok(w != NULL, "starts the writer");
	if (!w) {
		printf("# %s\n", err);
		return;
	}
	enum { N = 400, M = 60 };
	struct side side = {.path = path, .rows = M};
	pthread_t t;
	pthread_create(&t, NULL, side_writer, &side);
	long long latency_sum = 0;
	for (int i = 0; i < N; i++) {
		char model[32];
		snprintf(model, sizeof model, "m%d", i % 7);
		/* The row's strings are copied: this buffer changes right away. */
		struct ledger_row r = row(1000000 + i, i % 2 ? key.id : NULL, "openai", model, i, 1, 0.001);
		r.latency_ms = i;
		latency_sum += i;
		ledger_writer_submit(w, &r);
		memset(model, 'X', sizeof model - 1);
	}
	pthread_join(t, NULL);
	is_int(side.failures, 0, "the second connection wrote while the writer did");
	is_int(ledger_writer_flush(w, -1), 0, "flush: every submitted row is committed");
	struct ledger_writer_stats st;
	ledger_writer_stats(w, &st);
	is_int(st.submitted, N, "submitted");
	is_int(st.committed, N, "committed");
	is_int(st.failed, 0, "none failed");
	is_int(st.dropped, 0, "none dropped");
	is_int(raw_int(path, "SELECT COUNT(*) FROM requests WHERE provider = 'openai'"), N,
	       "all writer rows are there");
	is_int(raw_int(path, "SELECT COUNT(*) FROM requests WHERE provider = 'cli'"), M,
	       "all CLI rows are there");
	is_int(raw_int(path, "SELECT SUM(latency_ms) FROM requests WHERE provider = 'openai'"), latency_sum,
	       "each writer row exactly once");
	is_int(raw_int(path, "SELECT COUNT(*) FROM requests WHERE model LIKE 'X%'"), 0,
	       "strings were copied on submit");
	struct ledger_key got;
	ledger_key_get(l, key.id, &got, &err);
	is_int(got.spend, (N / 2) * ledger_money_from_usd(0.001), "the key's spend counts its rows");
	ledger_key_clear(&got);

	/* Committed without a flush: the thread does not wait to be asked. */
	long long before = raw_int(path, "SELECT COUNT(*) FROM requests");
	struct ledger_row r = row(3000000, NULL, "openai", "alone", 1, 1, 0);
	ledger_writer_submit(w, &r);
	long long now = before;
	for (int i = 0; i < 500 && now == before; i++) {
		usleep(10000);
		now = raw_int(path, "SELECT COUNT(*) FROM requests");
	}
	is_int(now, before + 1, "a lone row is committed without a flush");

	/* A timed flush gives up while another connection holds the write
	 * lock, and the row is committed once the lock is let go. */
	sqlite3 *blocker;
	sqlite3_open_v2(path, &blocker, SQLITE_OPEN_READWRITE, NULL);
	ok(sqlite3_exec(blocker, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK, "another connection takes the write lock");
	struct ledger_row held = row(3500000, NULL, "openai", "held", 1, 1, 0);
	ledger_writer_submit(w, &held);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int frc = ledger_writer_flush(w, 200);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long waited = (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
	ok(frc == 1 && waited >= 150 && waited < 3000, "a flush for 200 ms gives up while the file is locked (%d after %ld ms)",
	   frc, waited);
	sqlite3_exec(blocker, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(blocker);
	is_int(ledger_writer_flush(w, -1), 0, "once the lock is let go the row is committed");
	is_int(raw_int(path, "SELECT COUNT(*) FROM requests WHERE model = 'held'"), 1, "the held row is there");
	ledger_writer_stop(w);

	/* Stop flushes what is queued. */
	w = ledger_writer_start(path, &err);
	for (int i = 0; i < 50; i++) {
		struct ledger_row q = row(4000000 + i, NULL, "openai", "at-stop", 1, 1, 0);
		ledger_writer_submit(w, &q);
	}
	ledger_writer_stop(w);
	is_int(raw_int(path, "SELECT COUNT(*) FROM requests WHERE model = 'at-stop'"), 50,
	       "stop commits the queue");

	w = ledger_writer_start("/proc/nonexistent/ledger.db", &err);
	ok(w == NULL && err, "a writer on an impossible path fails at start: %s", err ? err : "");
	free(err);
	ledger_key_clear(&key);
	ledger_close(l);
	free(path);
}

/* ---- the account API ---- */

static int call(struct ledger *l, const char *method, const char *path, const char *query, const char *body,
                json_object **out)
{
	if (*out)
		json_object_put(*out);
	*out = NULL;
	return account_handle(l, method, path, query, body, body ? strlen(body) : 0, out);
}

static void test_account(void)
{
	char *path = new_db(), *err = NULL;
	struct ledger *l = ledger_open(path, &err);
	json_object *o = NULL;

	ok(account_path("/api/v1/keys") && account_path("/api/v1/keys/abc") &&
	       account_path("/api/v1/balance") && account_path("/api/v1/transactions") &&
	       account_path("/api/v1/usage") && account_path("/api/v1/keys/"),
	   "account_path: the account endpoints");
	ok(!account_path("/v1/chat/completions") && !account_path("/api/v1/chat/completions") &&
	       !account_path("/api/v1/keysmith") && !account_path("/api/v1/") && !account_path(NULL),
	   "account_path: nothing else");

	/* Keys. */
	int s = call(
	    l, "POST", "/api/v1/keys", NULL,
	    "{\"name\":\"ci bot\",\"budget\":2.5,\"rpm\":60,\"models\":[\"openai/*\"],\"expires\":\"30d\"}",
	    &o);
	is_int(s, 201, "POST /keys creates");
	const char *secret = js(o, "key");
	ok(secret && str_has_prefix(secret, "ar-local-"), "and returns the secret once");
	char *sec = xstrdup(secret ? secret : "");
	char *id = xstrdup(js(o, "data.id") ? js(o, "data.id") : "");
	is_str(js(o, "data.name"), "ci bot", "name");
	is_str(num_text(o, "data.budget"), "2.5", "budget as an exact decimal");
	is_str(num_text(o, "data.spend"), "0.0", "spend zero");
	is_str(num_text(o, "data.remaining"), "2.5", "remaining");
	is_int(ji(o, "data.rpm"), 60, "rpm");
	is_int(ji(o, "data.tpm"), 0, "tpm none");
	is_str(js(o, "data.models.0"), "openai/*", "models");
	ok(js(o, "data.expires_at") != NULL, "expires_at");
	ok(js(o, "data.created_at") != NULL, "created_at");
	is_int(jb(o, "data.revoked"), 0, "not revoked");
	ok(jnull(o, "data.revoked_at"), "revoked_at null");
	ok(!jhas(o, "data.hash") && !jhas(o, "data.key") && !jhas(o, "data.secret"),
	   "the key object holds no secret");

	is_int(call(l, "POST", "/api/v1/keys", NULL, "{\"name\":\"ci bot\"}", &o), 409,
	       "the same name conflicts");
	is_str(js(o, "error.code"), "conflict", "code conflict");
	is_int(call(l, "POST", "/api/v1/keys", NULL, "{\"name\":", &o), 400, "bad JSON is 400");
	is_str(js(o, "error.code"), "invalid_json", "code invalid_json");
	is_str(js(o, "error.type"), "invalid_request_error", "type invalid_request_error");
	is_int(call(l, "POST", "/api/v1/keys", NULL, "[1]", &o), 400, "not an object is 400");
	is_int(call(l, "POST", "/api/v1/keys", NULL, "{\"name\":\"x\"} junk", &o), 400,
	       "trailing junk is 400");
	is_int(call(l, "POST", "/api/v1/keys", NULL, NULL, &o), 400, "no body is 400");
	is_int(call(l, "POST", "/api/v1/keys", NULL, "{\"budget\":1}", &o), 400, "no name is 400");
	is_str(js(o, "error.code"), "missing_field", "code missing_field");
	is_int(call(l, "POST", "/api/v1/keys", NULL, "{\"name\":\"x\",\"budgett\":1}", &o), 400,
	       "an unknown field is 400");
	ok(js(o, "error.message") && strstr(js(o, "error.message"), "budgett"), "naming it");
	is_int(call(l, "POST", "/api/v1/keys", NULL, "{\"name\":\"x\",\"budget\":-1}", &o), 400,
	       "a negative budget");
	is_int(call(l, "POST", "/api/v1/keys", NULL, "{\"name\":\"x\",\"budget\":\"5\"}", &o), 400,
	       "a string budget");
	is_int(call(l, "POST", "/api/v1/keys", NULL, "{\"name\":\"x\",\"rpm\":1.5}", &o), 400,
	       "a fractional rpm");
	is_int(call(l, "POST", "/api/v1/keys", NULL, "{\"name\":\"x\",\"models\":\"openai/*\"}", &o), 400,
	       "models not an array");
	is_int(call(l, "POST", "/api/v1/keys", NULL, "{\"name\":\"x\",\"expires\":\"2001-01-01\"}", &o), 400,
	       "an expiry in the past");
	is_int(call(l, "POST", "/api/v1/keys", NULL, "{\"name\":\"x\",\"expires\":\"soon\"}", &o), 400,
	       "an expiry that is no time");
	is_int(call(l, "POST", "/api/v1/keys", NULL, "{\"name\":\"\"}", &o), 400, "an empty name");
	is_int(call(l, "POST", "/api/v1/keys", NULL, "{\"name\":\"second\"}", &o), 201,
	       "a key with no limits");
	ok(jnull(o, "data.budget") && jnull(o, "data.remaining") && jnull(o, "data.expires_at") &&
	       jlen(o, "data.models") == 0,
	   "has null budget, remaining, expiry and no models");

	is_int(call(l, "GET", "/api/v1/keys", NULL, NULL, &o), 200, "GET /keys");
	is_int(jlen(o, "data"), 2, "lists both");
	ok(!strstr(dump(o), sec), "the list holds no secret");
	ok(!strstr(dump(o), "ar-local-"), "nor any secret's prefix");

	is_int(call(l, "GET", "/api/v1/keys/", NULL, NULL, &o), 200, "a trailing slash is the same endpoint");
	char *p = xasprintf("/api/v1/keys/%s", id);
	is_int(call(l, "GET", p, NULL, NULL, &o), 200, "GET /keys/ID");
	is_str(js(o, "data.name"), "ci bot", "the key");
	is_int(call(l, "GET", "/api/v1/keys/ci%20bot", NULL, NULL, &o), 200,
	       "GET /keys/NAME, percent-encoded");
	is_str(js(o, "data.id"), id, "finds it by name");
	is_int(call(l, "GET", "/api/v1/keys/nope", NULL, NULL, &o), 404, "an unknown key is 404");
	is_str(js(o, "error.code"), "not_found", "code not_found");
	is_str(js(o, "error.type"), "not_found_error", "type not_found_error");
	is_str(js(o, "error.message"), "no key 'nope'", "message");
	ok(jnull(o, "error.param"), "param null");
	is_int(call(l, "GET", "/api/v1/keys/bad%zz", NULL, NULL, &o), 400, "a malformed escape is 400");

	is_int(
	    call(l, "PATCH", p, NULL, "{\"budget\":null,\"tpm\":1000,\"models\":null,\"name\":\"ci\"}", &o),
	    200, "PATCH");
	ok(jnull(o, "data.budget"), "the budget is removed");
	is_int(ji(o, "data.tpm"), 1000, "tpm set");
	is_int(ji(o, "data.rpm"), 60, "rpm kept");
	is_int(jlen(o, "data.models"), 0, "models removed");
	is_str(js(o, "data.name"), "ci", "renamed");
	is_int(call(l, "PATCH", p, NULL, "{\"expires\":null,\"budget\":0.000001}", &o), 200,
	       "PATCH expiry and budget");
	ok(jnull(o, "data.expires_at"), "never expires");
	is_str(num_text(o, "data.budget"), "0.000001", "a microdollar budget, exactly");
	is_int(call(l, "PATCH", p, NULL, "nope", &o), 400, "PATCH with bad JSON");
	is_int(call(l, "PATCH", p, NULL, "{\"name\":\"second\"}", &o), 409, "PATCH onto another key's name");
	is_int(call(l, "PATCH", "/api/v1/keys/nope", NULL, "{\"rpm\":1}", &o), 404, "PATCH an unknown key");
	is_int(call(l, "PUT", p, NULL, "{}", &o), 405, "PUT a key is 405");
	is_int(call(l, "DELETE", p, NULL, NULL, &o), 200, "DELETE revokes");
	is_int(jb(o, "data.revoked"), 1, "revoked");
	ok(js(o, "data.revoked_at") != NULL, "revoked_at");
	is_int(call(l, "DELETE", p, NULL, NULL, &o), 200, "DELETE again is fine");
	is_int(call(l, "PATCH", p, NULL, "{\"rpm\":1}", &o), 409, "a revoked key cannot change");
	is_int(call(l, "DELETE", "/api/v1/keys/nope", NULL, NULL, &o), 404, "DELETE an unknown key");
	is_int(call(l, "GET", "/api/v1/keys", NULL, NULL, &o), 200, "GET /keys");
	is_int(jlen(o, "data"), 1, "the revoked key is left out");
	is_int(call(l, "GET", "/api/v1/keys", "include_revoked=true", NULL, &o), 200, "include_revoked");
	is_int(jlen(o, "data"), 2, "shows it");
	is_int(call(l, "GET", "/api/v1/keys", "include_revoked=maybe", NULL, &o), 400,
	       "a bad include_revoked");
	is_int(call(l, "PUT", "/api/v1/keys", NULL, NULL, &o), 405, "PUT /keys is 405");
	is_str(js(o, "error.code"), "method_not_allowed", "code method_not_allowed");

	/* Rows for the money endpoints: one key with a budget, one without. */
	call(l, "POST", "/api/v1/keys", NULL, "{\"name\":\"budgeted\",\"budget\":1}", &o);
	char *bid = xstrdup(js(o, "data.id"));
	call(l, "GET", "/api/v1/keys/second", NULL, NULL, &o);
	char *sid = xstrdup(js(o, "data.id"));
	long long now = ledger_now_ms();
	struct ledger_row rows[] = {
	    row(now - 3000, bid, "openai", "gpt-4o", 10, 5, 0.1),
	    row(now - 2000, bid, "openai", "gpt-4o", 20, 5, 0.2),
	    row(now - 1000, sid, "anthropic", "claude", 30, 5, 0.7),
	    row(now - 500, NULL, "google", "gemini", -1, -1, -1),
	};
	ledger_record_many(l, rows, 4, &err);

	is_int(call(l, "GET", "/api/v1/balance", NULL, NULL, &o), 200, "GET /balance");
	is_str(num_text(o, "data.total_credits"), "1.0", "credits: the budgets of active keys");
	is_str(num_text(o, "data.total_usage"), "1.0", "usage: 0.1 + 0.2 + 0.7, exactly");
	is_str(num_text(o, "data.balance"), "0.7", "balance: what the budgets have left");
	is_int(jlen(o, "data.keys"), 2, "the active keys");
	is_str(js(o, "data.keys.0.name"), "second", "oldest first");
	ok(jnull(o, "data.keys.0.budget") && jnull(o, "data.keys.0.remaining"), "no budget, no remainder");
	is_str(num_text(o, "data.keys.0.spend"), "0.7", "its spend");
	is_str(num_text(o, "data.keys.1.budget"), "1.0", "budget");
	is_str(num_text(o, "data.keys.1.spend"), "0.3", "spend");
	is_str(num_text(o, "data.keys.1.remaining"), "0.7", "remaining");
	is_int(call(l, "POST", "/api/v1/balance", NULL, "{}", &o), 405, "POST /balance is 405");

	is_int(call(l, "GET", "/api/v1/transactions", "limit=3", NULL, &o), 200, "GET /transactions");
	is_int(jlen(o, "data"), 3, "a page of three");
	is_int(jb(o, "has_more"), 1, "has_more");
	ok(jnull(o, "data.0.prompt_tokens") && jb(o, "data.0.usage_known") == 0 && jnull(o, "data.0.cost"),
	   "the newest row has no usage and says so");
	is_str(js(o, "data.1.key_id"), sid, "key_id");
	is_str(num_text(o, "data.1.cost"), "0.7", "cost");
	is_int(ji(o, "data.1.total_tokens"), 35, "total_tokens");
	ok(js(o, "data.1.created_at") && strlen(js(o, "data.1.created_at")) == 24, "created_at with ms");
	const char *next = js(o, "next_cursor");
	char *q = xasprintf("limit=3&cursor=%s", next ? next : "0");
	is_int(call(l, "GET", "/api/v1/transactions", q, NULL, &o), 200, "the next page");
	is_int(jlen(o, "data"), 1, "the last row");
	is_int(jb(o, "has_more"), 0, "no more");
	ok(jnull(o, "next_cursor"), "no cursor");
	free(q);
	is_int(call(l, "GET", "/api/v1/transactions", NULL, NULL, &o), 200, "no limit given");
	is_int(jlen(o, "data"), 4, "the default page holds all four");
	is_int(call(l, "GET", "/api/v1/transactions", "limit=0", NULL, &o), 400, "limit 0 is 400");
	is_int(call(l, "GET", "/api/v1/transactions", "limit=101", NULL, &o), 400, "limit over 100 is 400");
	is_int(call(l, "GET", "/api/v1/transactions", "cursor=abc", NULL, &o), 400, "a bad cursor is 400");
	is_int(call(l, "GET", "/api/v1/transactions", "since=someday", NULL, &o), 400, "a bad since is 400");
	is_int(call(l, "GET", "/api/v1/transactions", "since=2001-01-01T00%3A00%3A00%2B00%3A00", NULL, &o),
	       200, "an encoded ISO time");
	is_int(jlen(o, "data"), 4, "all rows are after it");

	is_int(call(l, "GET", "/api/v1/usage", "by=provider&since=1h", NULL, &o), 200,
	       "GET /usage by provider");
	is_str(js(o, "by"), "provider", "by");
	is_int(jlen(o, "data"), 3, "three providers");
	is_str(js(o, "data.0.group"), "anthropic", "the costliest first");
	is_str(num_text(o, "totals.cost"), "1.0", "total cost");
	is_int(ji(o, "totals.requests"), 4, "total requests");
	is_int(ji(o, "totals.requests_without_usage"), 1, "one without usage");
	is_int(ji(o, "totals.prompt_tokens"), 60, "prompt tokens");
	is_int(call(l, "GET", "/api/v1/usage", "by=key", NULL, &o), 200, "by key");
	ok(jhas(o, "data.0.name"), "groups by key carry names");
	is_int(call(l, "GET", "/api/v1/usage", "by=colour", NULL, &o), 400, "an unknown grouping is 400");
	is_int(call(l, "GET", "/api/v1/usage", "since=tomorrowish", NULL, &o), 400, "a bad since is 400");

	is_int(call(l, "GET", "/api/v1/nothing", NULL, NULL, &o), 404, "an unknown endpoint is 404");
	is_int(call(l, "GET", "/v1/models", NULL, NULL, &o), 404, "a path outside the API is 404");
	is_int(call(l, "GET", "/api/v1/keys/a/b", NULL, NULL, &o), 404, "too deep is 404");

	json_object_put(o);
	free(p);
	free(sec);
	free(id);
	free(bid);
	free(sid);
	free(err);
	ledger_close(l);
	free(path);
}

static void test_admin_key(void)
{
	char *key = NULL, *err = NULL;
	setenv("AROUTER_ADMIN_KEY", "ar-admin-from-the-environment", 1);
	ok(account_admin_key(&key, &err) == 0 && key && strcmp(key, "ar-admin-from-the-environment") == 0,
	   "AROUTER_ADMIN_KEY wins");
	free(key);
	unsetenv("AROUTER_ADMIN_KEY");
	char *path = account_admin_key_path();
	ok(access(path, F_OK) != 0, "no key file was made for the environment's key");
	ok(account_admin_key(&key, &err) == 0 && key && str_has_prefix(key, ACCOUNT_ADMIN_PREFIX),
	   "a key file is created with a fresh ar-admin- key");
	struct stat st;
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "the key file is 0600");
	char *again = NULL;
	ok(account_admin_key(&again, &err) == 0 && again && key && strcmp(again, key) == 0,
	   "the same key next time");
	ok(account_admin_key_ok(key, again), "the key matches itself");
	char *plus = xasprintf("%s!", key ? key : "");
	ok(!account_admin_key_ok(key, plus), "a longer key does not");
	plus[strlen(plus) - 2] = '\0';
	ok(!account_admin_key_ok(key, plus), "a shorter key does not");
	ok(!account_admin_key_ok(key, ""), "an empty key does not");
	ok(!account_admin_key_ok(key, NULL), "no key does not");
	ok(!account_admin_key_ok("", ""), "an empty expected key matches nothing");
	free(plus);
	free(again);
	free(key);
	FILE *f = fopen(path, "w");
	fputs("\n", f);
	fclose(f);
	key = NULL;
	ok(account_admin_key(&key, &err) < 0 && err && strstr(err, "empty"), "an empty key file is an error");
	free(err);
	free(key);
	free(path);
}

/* The reads the account API repeats run on statements kept prepared: each
 * must see what another connection committed since, and none may hold its
 * read transaction once it has answered (a checkpoint would wait on it). */
static void test_kept_statements(void)
{
	char *path = new_db();
	char *err = NULL;
	struct ledger *l = ledger_open(path, &err);
	struct ledger *other = ledger_open(path, &err);
	if (!l || !other) {
		ok(0, "opens twice: %s", err);
		free(err);
		free(path);
		return;
	}
	struct ledger_key k;
	is_int(ledger_key_get(l, "late", &k, &err), LEDGER_NOT_FOUND, "no key 'late' yet");
	free(err);
	err = NULL;
	struct ledger_usage *u = NULL, total;
	size_t n = 9;
	ledger_money cost = -1;
	ok(ledger_usage_query(l, LEDGER_BY_MODEL, 0, &u, &n, &total, &err) == 0 && n == 0, "no usage yet");
	ledger_usage_free(u, n);
	ok(ledger_total_cost(l, 0, &cost, &err) == 0 && cost == 0, "no cost yet");

	struct ledger_key_spec spec = {.name = "late", .budget = -1};
	char *secret = NULL;
	struct ledger_key made;
	ok(ledger_key_create(other, &spec, &secret, &made, &err) == 0, "another connection adds 'late'");
	struct ledger_row r = row(ledger_now_ms(), made.id, "openai", "gpt-4o", 10, 2, 1.25);
	ok(ledger_record(other, &r, &err) == 0, "and records a row");

	/* Twice: the second time the kept statements run again, after
	 * 'late' was revoked and made anew and a second row recorded. */
	for (int round = 0; round < 2; round++) {
		size_t rows = (size_t)round + 1;
		ok(ledger_key_get(l, "late", &k, &err) == 0 && strcmp(k.id, made.id) == 0 && k.revoked_ms == 0,
		   "round %d: the active 'late' found by name", round);
		ledger_key_clear(&k);
		ok(ledger_key_get(l, made.id, &k, &err) == 0 && strcmp(k.name, "late") == 0,
		   "round %d: and by id", round);
		ledger_key_clear(&k);
		u = NULL;
		ok(ledger_usage_query(l, LEDGER_BY_KEY, 0, &u, &n, &total, &err) == 0 && n == rows &&
		       total.requests == (long long)rows && u[0].name && strcmp(u[0].name, "late") == 0,
		   "round %d: the usage by key holds %zu row(s)", round, rows);
		ledger_usage_free(u, n);
		ok(ledger_total_cost(l, 0, &cost, &err) == 0 && cost == ledger_money_from_usd(1.25),
		   "round %d: the cost is summed", round);
		struct ledger_key_spec dup = {.name = "late", .budget = -1};
		char *s2 = NULL;
		is_int(ledger_key_create(l, &dup, &s2, NULL, &err), LEDGER_CONFLICT,
		       "round %d: the name is taken", round);
		free(s2);
		free(err);
		err = NULL;
		struct ledger_key *list = NULL;
		size_t nk = 0;
		ok(ledger_key_list(l, true, &list, &nk, &err) == 0 && nk == rows, "round %d: %zu key(s) listed",
		   round, rows);
		ledger_keys_free(list, nk);
		ok(ledger_key_list(l, false, &list, &nk, &err) == 0 && nk == 1, "round %d: one of them active", round);
		ledger_keys_free(list, nk);
		/* One row a page: the second row (round 1) is left unread. */
		struct ledger_entry *page = NULL;
		size_t ne = 0;
		bool more = false;
		ok(ledger_transactions(l, 0, 0, 1, &page, &ne, &more, &err) == 0 && ne == 1 && more == (round == 1) &&
		       strcmp(page[0].key_id, made.id) == 0,
		   "round %d: the newest row first", round);
		ledger_entries_free(page, ne);
		struct ledger_keyring *kr = ledger_keyring_load(l, &err);
		ok(kr && ledger_keyring_active(kr) == 1, "round %d: the keyring holds one active key", round);
		ok(kr && ledger_keyring_refresh_if_changed(kr, 100000 + round * 5000, &err) == 0,
		   "round %d: and finds no change since", round);
		ledger_keyring_free(kr);
		/* Nothing reading: a checkpoint can copy and truncate the WAL. */
		is_int(raw_int(path, "PRAGMA wal_checkpoint(TRUNCATE)"), 0,
		       "round %d: no read left open after the answers", round);
		if (round == 1)
			break;
		ok(ledger_key_revoke(other, "late", NULL, &err) == 0, "another connection revokes 'late'");
		struct ledger_key_spec again = {.name = "late", .budget = -1};
		ledger_key_clear(&made);
		free(secret);
		ok(ledger_key_create(other, &again, &secret, &made, &err) == 0, "makes it anew");
		r.key_id = made.id;
		r.cost_usd = 0;
		ok(ledger_record(other, &r, &err) == 0, "and records a second row");
	}
	ledger_key_clear(&made);
	free(secret);
	free(err);
	ledger_close(other);
	ledger_close(l);
	free(path);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(scratch, sizeof scratch, "%s/test-ledger.XXXXXX", str_empty(tmp) ? "/tmp" : tmp);
	if (!mkdtemp(scratch)) {
		printf("Bail out! cannot make a scratch directory: %s\n", strerror(errno));
		return 1;
	}
	char *data = xasprintf("%s/data", scratch);
	setenv("XDG_DATA_HOME", data, 1);
	test_money();
	test_time();
	test_row_usage();
	test_open();
	test_migrate_v1();
	test_rows();
	test_aggregation();
	test_keys();
	test_keyring();
	test_keyring_stored_hash();
	test_keyring_many();
	test_writer();
	test_account();
	test_kept_statements();
	test_admin_key();
	char *rm = xasprintf("rm -rf '%s'", scratch);
	if (system(rm) != 0)
		printf("# could not remove %s\n", scratch);
	free(rm);
	free(data);
	return tap_done();
}
