/* ledger-tool.c - a test helper that writes to and inspects a ledger through
 * ledger.h, so that the bats suites can give `arouter usage` and `balance`
 * rows to sum, and kill a process in the middle of writing. Not installed.
 *
 *   ledger-tool record DB          rows from stdin, one JSON object a line:
 *        {"time":"2026-01-01T10:00:00Z","key":"NAME-OR-ID","provider":"openai",
 *         "model":"gpt-4o","dialect":"openai","prompt":10,"completion":5,
 *         "cached":0,"reasoning":0,"cost":0.01,"status":200,"latency":100,
 *         "first_token":10,"streamed":true,"attempts":1}
 *        (a row without "prompt" has unknown usage; without "cost", unknown cost)
 *   ledger-tool count DB           prints the number of rows, after an integrity check
 *   ledger-tool rows DB            prints every row as stored, oldest first, one JSON
 *        object a line with the table's column names (cost_pusd an integer, NULL
 *        as null), so that suites need no sqlite3 program; DB must exist
 *   ledger-tool writer DB BATCH N [UNFLUSHED]
 *        submits N batches of BATCH rows through ledger_writer (N 0: forever),
 *        flushing after each and printing "flushed TOTAL"; then submits
 *        UNFLUSHED more rows without a flush, waits until another connection
 *        sees them and prints "committed TOTAL"; then prints "waiting" and
 *        sleeps until it is killed. */
#include "config.h"

#include "ledger.h"
#include "util.h"

#include <json-c/json.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((noreturn)) static void usage(void)
{
	fputs("usage: ledger-tool record DB < rows.jsonl | count DB | rows DB | writer DB BATCH N [UNFLUSHED]\n",
	      stderr);
	exit(2);
}

static const char *str(json_object *o, const char *k, const char *fallback)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
	           ? json_object_get_string(v)
	           : fallback;
}

static long num(json_object *o, const char *k, long fallback)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) && v ? (long)json_object_get_int64(v) : fallback;
}

static int record(const char *db)
{
	char *err = NULL;
	struct ledger *l = ledger_open(db, &err);
	if (!l)
		die(1, "%s", err);
	char line[8192];
	int n = 0;
	while (fgets(line, sizeof line, stdin)) {
		if (line[strspn(line, " \t\r\n")] == '\0')
			continue;
		json_object *o = json_tokener_parse(line);
		if (!o)
			die(1, "not JSON: %s", line);
		long long t = ledger_now_ms();
		const char *when = str(o, "time", NULL);
		if (when && ledger_parse_time(when, ledger_now_ms(), -1, &t) < 0)
			die(1, "bad time '%s'", when);
		struct ledger_key key;
		const char *kname = str(o, "key", NULL);
		if (kname && ledger_key_get(l, kname, &key, &err) < 0)
			die(1, "%s", err);
		json_object *v;
		bool known = json_object_object_get_ex(o, "prompt", &v);
		struct ledger_row r = {
		    .time_ms = t,
		    .key_id = kname ? key.id : NULL,
		    .provider = str(o, "provider", "openai"),
		    .model = str(o, "model", "gpt-4o"),
		    .dialect = str(o, "dialect", "openai"),
		    .prompt_tokens = num(o, "prompt", -1),
		    .completion_tokens = num(o, "completion", -1),
		    .cached_tokens = num(o, "cached", known ? 0 : -1),
		    .reasoning_tokens = num(o, "reasoning", known ? 0 : -1),
		    .usage_known = known,
		    .cost_usd =
		        json_object_object_get_ex(o, "cost", &v) && v ? json_object_get_double(v) : -1,
		    .latency_ms = num(o, "latency", 100),
		    .first_token_ms = num(o, "first_token", -1),
		    .status = (int)num(o, "status", 200),
		    .streamed = json_object_object_get_ex(o, "streamed", &v) && json_object_get_boolean(v),
		    .attempts = (int)num(o, "attempts", 1),
		};
		if (ledger_record(l, &r, &err) < 0)
			die(1, "%s", err);
		if (kname)
			ledger_key_clear(&key);
		json_object_put(o);
		n++;
	}
	ledger_close(l);
	printf("recorded %d\n", n);
	return 0;
}

/* Rows as SQLite itself sees them, after proving the file is intact. */
static long long count_rows(const char *db, bool check)
{
	sqlite3 *h;
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		die(1, "cannot open %s", db);
	sqlite3_busy_timeout(h, 5000);
	sqlite3_stmt *st;
	if (check) {
		if (sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_ROW ||
		    strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
			die(1, "%s fails its integrity check", db);
		sqlite3_finalize(st);
	}
	long long n = -1;
	if (sqlite3_prepare_v2(h, "SELECT COUNT(*) FROM requests", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	if (n < 0)
		die(1, "cannot count the rows of %s", db);
	return n;
}

/* Every row with the columns SQLite has, whatever they are, so that a new
 * column shows up without changing this tool. */
static int dump_rows(const char *db)
{
	sqlite3 *h;
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		die(1, "cannot open %s", db);
	sqlite3_busy_timeout(h, 5000);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(h, "SELECT * FROM requests ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		die(1, "cannot read the rows of %s: %s", db, sqlite3_errmsg(h));
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_object *o = json_object_new_object();
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			json_object *v = NULL;
			switch (sqlite3_column_type(st, i)) {
			case SQLITE_INTEGER:
				v = json_object_new_int64(sqlite3_column_int64(st, i));
				break;
			case SQLITE_FLOAT:
				v = json_object_new_double(sqlite3_column_double(st, i));
				break;
			case SQLITE_TEXT:
				v = json_object_new_string((const char *)sqlite3_column_text(st, i));
				break;
			case SQLITE_BLOB:
				v = json_object_new_string("<blob>");
				break;
			}
			json_object_object_add(o, sqlite3_column_name(st, i), v);
		}
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	}
	if (rc != SQLITE_DONE)
		die(1, "cannot read the rows of %s: %s", db, sqlite3_errmsg(h));
	sqlite3_finalize(st);
	sqlite3_close(h);
	return 0;
}

static int writer(const char *db, long batch, long batches, long unflushed)
{
	char *err = NULL;
	struct ledger_writer *w = ledger_writer_start(db, &err);
	if (!w)
		die(1, "%s", err);
	long long total = 0;
	for (long b = 0; batches == 0 || b < batches; b++) {
		for (long i = 0; i < batch; i++) {
			struct ledger_row r = {
			    .time_ms = ledger_now_ms(),
			    .provider = "openai",
			    .model = "gpt-4o",
			    .dialect = "openai",
			    .prompt_tokens = 10,
			    .completion_tokens = 5,
			    .cached_tokens = 0,
			    .reasoning_tokens = 0,
			    .usage_known = true,
			    .cost_usd = 0.001,
			    .latency_ms = 100,
			    .first_token_ms = 10,
			    .status = 200,
			    .attempts = 1,
			};
			ledger_writer_submit(w, &r);
		}
		if (ledger_writer_flush(w, -1) < 0)
			die(1, "the writer failed");
		total += batch;
		printf("flushed %lld\n", total);
		fflush(stdout);
	}
	if (unflushed > 0) {
		for (long i = 0; i < unflushed; i++) {
			struct ledger_row r = {.time_ms = ledger_now_ms(),
			                       .provider = "openai",
			                       .model = "late",
			                       .dialect = "openai",
			                       .latency_ms = 1,
			                       .first_token_ms = -1,
			                       .prompt_tokens = -1,
			                       .completion_tokens = -1,
			                       .cached_tokens = -1,
			                       .reasoning_tokens = -1,
			                       .cost_usd = -1,
			                       .status = 200,
			                       .attempts = 1};
			ledger_writer_submit(w, &r);
		}
		total += unflushed;
		/* No flush: the thread commits on its own. */
		for (int i = 0; i < 1000 && count_rows(db, false) < total; i++)
			usleep(10000);
		printf("committed %lld\n", count_rows(db, false));
		fflush(stdout);
	}
	printf("waiting\n");
	fflush(stdout);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	if (argc < 3)
		usage();
	if (strcmp(argv[1], "record") == 0 && argc == 3)
		return record(argv[2]);
	if (strcmp(argv[1], "count") == 0 && argc == 3) {
		printf("%lld\n", count_rows(argv[2], true));
		return 0;
	}
	if (strcmp(argv[1], "rows") == 0 && argc == 3)
		return dump_rows(argv[2]);
	if (strcmp(argv[1], "writer") == 0 && (argc == 5 || argc == 6))
		return writer(argv[2], atol(argv[3]), atol(argv[4]), argc == 6 ? atol(argv[5]) : 0);
	usage();
}
