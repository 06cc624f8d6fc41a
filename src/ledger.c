/* ledger.c - see ledger.h. */
#include "config.h"

#include "ledger.h"
#include "sha256.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <json-c/json.h>
#include <limits.h>
#include <sys/random.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SCHEMA_VERSION  2
#define BUSY_TIMEOUT_MS 5000
#define HASH_LEN        32
#define SECRET_CHARS    40
#define MAX_NAME        64
#define MAX_PATTERN     200

/* Statements kept prepared for the life of the connection: those of the
 * hot path (recording rows), where parsing them anew cost more than the
 * inserts, and the key and usage reads the account API and the keyring
 * repeat (preparing a key lookup cost ~90k instructions, running it ~5k).
 * The usage sums are kept one per grouping, ST_USAGE + enum ledger_group. */
enum {
	ST_BEGIN,
	ST_COMMIT,
	ST_INSERT,
	ST_SPEND,
	ST_KEY_BY_ID,
	ST_KEY_BY_NAME,
	ST_NAME_TAKEN,
	ST_KEYS_ALL,
	ST_KEYS_LISTED,
	ST_KEYS_LISTED_ACTIVE,
	ST_KEYS_VERSION,
	ST_KEYS_SPENT,
	ST_USER_VERSION,
	ST_TOTAL_COST,
	ST_TRANSACTIONS,
	ST_USAGE,
	ST_COUNT = ST_USAGE + LEDGER_BY_KEY + 1
};

struct ledger {
	sqlite3 *db;
	char *path;
	int last_code; /* SQLite's primary result code of the last failure */
	unsigned yield_every; /* rows between sched_yield()s in a batch; 0: none */
	sqlite3_stmt *st[ST_COUNT];
};

/* ---- money and time ---- */

ledger_money ledger_money_from_usd(double usd)
{
	if (!(usd >= 0))
		return -1; /* negative or NaN */
	/* Beyond nine million dollars the picodollars would overflow. */
	if (usd > 9.0e6)
		usd = 9.0e6;
	return (long long)(usd * (double)LEDGER_PUSD_PER_USD + 0.5);
}

double ledger_money_usd(ledger_money m)
{
	return (double)m / (double)LEDGER_PUSD_PER_USD;
}

const char *ledger_money_format(ledger_money m, char buf[32])
{
	bool neg = m < 0;
	unsigned long long a = neg ? 0ULL - (unsigned long long)m : (unsigned long long)m;
	char frac[16];
	snprintf(frac, sizeof frac, "%012llu", a % (unsigned long long)LEDGER_PUSD_PER_USD);
	size_t n = strlen(frac);
	while (n > 1 && frac[n - 1] == '0')
		frac[--n] = '\0';
	snprintf(buf, 32, "%s%llu.%s", neg ? "-" : "", a / (unsigned long long)LEDGER_PUSD_PER_USD, frac);
	return buf;
}

long long ledger_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int days_in_month(int y, int m)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : d[m - 1];
}

/* "N[smhdw]" with an optional fraction ("1.5h"). */
static int parse_duration(const char *s, long long *ms)
{
	const char *p = s;
	long long whole = 0;
	if (!isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p)) {
		if (whole > 100000000)
			return -1;
		whole = whole * 10 + (*p++ - '0');
	}
	double frac = 0, scale = 0.1;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p)) {
			frac += (*p++ - '0') * scale;
			scale /= 10;
		}
	}
	long long unit;
	switch (*p) {
	case 's':
		unit = 1000LL;
		break;
	case 'm':
		unit = 60000LL;
		break;
	case 'h':
		unit = 3600000LL;
		break;
	case 'd':
		unit = 86400000LL;
		break;
	case 'w':
		unit = 604800000LL;
		break;
	default:
		return -1;
	}
	if (p[1])
		return -1;
	double v = ((double)whole + frac) * (double)unit;
	if (v > 1e15) /* some 30,000 years */
		return -1;
	*ms = (long long)(v + 0.5);
	return 0;
}

int ledger_parse_time(const char *s, long long now_ms, int direction, long long *out_ms)
{
	if (str_empty(s))
		return -1;
	if (strcmp(s, "now") == 0) {
		*out_ms = now_ms;
		return 0;
	}
	long long d;
	if (parse_duration(s, &d) == 0) {
		*out_ms = direction < 0 ? now_ms - d : now_ms + d;
		return 0;
	}
	const char *p = s;
	int Y, M, D, h = 0, mi = 0, sec = 0, ms = 0, off = 0;
	if (digits(&p, 4, &Y) < 0 || *p++ != '-' || digits(&p, 2, &M) < 0 || *p++ != '-' ||
	    digits(&p, 2, &D) < 0)
		return -1;
	if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > days_in_month(Y, M))
		return -1;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (digits(&p, 2, &h) < 0 || *p++ != ':' || digits(&p, 2, &mi) < 0 || h > 23 || mi > 59)
			return -1;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &sec) < 0 || sec > 60)
				return -1;
			if (*p == '.' || *p == ',') {
				p++;
				int n = 0;
				if (!isdigit((unsigned char)*p))
					return -1;
				while (isdigit((unsigned char)*p)) {
					if (n < 3)
						ms = ms * 10 + (*p - '0');
					n++;
					p++;
				}
				for (; n < 3; n++)
					ms *= 10;
			}
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
			if (digits(&p, 2, &oh) < 0 || oh > 23)
				return -1;
			if (*p == ':')
				p++;
			if (*p && (digits(&p, 2, &om) < 0 || om > 59))
				return -1;
			off = sign * (oh * 60 + om);
		}
	}
	if (*p)
		return -1;
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	time_t t = timegm(&tm);
	*out_ms = ((long long)t - (long long)off * 60) * 1000 + ms;
	return 0;
}

const char *ledger_format_time(long long ms, bool with_ms, char buf[32])
{
	time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	if (with_ms)
		snprintf(buf + n, 32 - n, ".%03dZ", (int)(ms - (long long)t * 1000));
	else
		snprintf(buf + n, 32 - n, "Z");
	return buf;
}

/* ---- opening ---- */

static void set_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(char **err, const char *fmt, ...)
{
	if (!err)
		return;
	va_list ap;
	va_start(ap, fmt);
	free(*err);
	*err = xvasprintf(fmt, ap);
	va_end(ap);
}

/* "ledger PATH: WHAT: sqlite's message". */
static int db_err(struct ledger *l, char **err, const char *what)
{
	l->last_code = sqlite3_errcode(l->db);
	set_err(err, "ledger %s: %s: %s", l->path, what, sqlite3_errmsg(l->db));
	return LEDGER_ERROR;
}

static int exec(struct ledger *l, const char *sql, char **err)
{
	char *msg = NULL;
	if ((l->last_code = sqlite3_exec(l->db, sql, NULL, NULL, &msg)) != SQLITE_OK) {
		l->last_code &= 0xff;
		set_err(err, "ledger %s: %s", l->path, msg ? msg : sqlite3_errmsg(l->db));
		sqlite3_free(msg);
		return LEDGER_ERROR;
	}
	return 0;
}

static void rollback(struct ledger *l)
{
	if (!sqlite3_get_autocommit(l->db))
		sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
}

static sqlite3_stmt *prepare(struct ledger *l, const char *sql, char **err)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK) {
		db_err(l, err, "cannot prepare a query");
		return NULL;
	}
	return st;
}

#define KEY_COLUMNS                                                                                          \
	"id, name, budget_pusd, spend_pusd, rpm, tpm, models, expires_ms, created_ms, revoked_ms, hash"

static const char *const cached_sql[ST_USAGE] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_INSERT] = "INSERT INTO requests (time_ms, key_id, provider, model, dialect, usage_known,"
                  " prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost_pusd,"
                  " latency_ms, first_token_ms, status, streamed, attempts)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    [ST_SPEND] = "UPDATE keys SET spend_pusd = spend_pusd + ?2 WHERE id = ?1",
    [ST_KEY_BY_ID] = "SELECT " KEY_COLUMNS " FROM keys WHERE id = ?1",
    /* A name: the active key, else the latest revoked one. */
    [ST_KEY_BY_NAME] = "SELECT " KEY_COLUMNS
                       " FROM keys WHERE name = ?1 ORDER BY revoked_ms IS NOT NULL, revoked_ms DESC LIMIT 1",
    [ST_NAME_TAKEN] = "SELECT 1 FROM keys WHERE name = ?1 AND revoked_ms IS NULL AND id IS NOT ?2",
    [ST_KEYS_ALL] = "SELECT " KEY_COLUMNS " FROM keys",
    [ST_KEYS_LISTED] = "SELECT " KEY_COLUMNS " FROM keys ORDER BY created_ms, id",
    [ST_KEYS_LISTED_ACTIVE] = "SELECT " KEY_COLUMNS " FROM keys WHERE revoked_ms IS NULL ORDER BY created_ms, id",
    [ST_KEYS_VERSION] = "SELECT value FROM meta WHERE name = 'keys_version'",
    [ST_USER_VERSION] = "PRAGMA user_version",
    /* Other processes spend too (a second proxy on the same ledger). */
    [ST_KEYS_SPENT] = "SELECT id, spend_pusd FROM keys WHERE budget_pusd IS NOT NULL AND revoked_ms IS NULL",
    [ST_TOTAL_COST] = "SELECT IFNULL(SUM(cost_pusd), 0) FROM requests WHERE time_ms >= ?1",
    [ST_TRANSACTIONS] = "SELECT id, time_ms, key_id, provider, model, dialect, usage_known, prompt_tokens,"
                        " completion_tokens, cached_tokens, reasoning_tokens, cost_pusd, latency_ms,"
                        " first_token_ms, status, streamed, attempts FROM requests"
                        " WHERE id < ?1 AND time_ms >= ?2 ORDER BY id DESC LIMIT ?3",
};

static char *usage_sql(enum ledger_group by);

/* The kept statement i, unbound; NULL with *err on failure. Whoever steps
 * it resets it when done (sqlite3_reset), on every path: a statement left
 * mid-way keeps its read transaction open. */
static sqlite3_stmt *cached(struct ledger *l, int i, char **err)
{
	if (!l->st[i]) {
		if (i < ST_USAGE) {
			l->st[i] = prepare(l, cached_sql[i], err);
		} else {
			char *sql = usage_sql((enum ledger_group)(i - ST_USAGE));
			l->st[i] = prepare(l, sql, err);
			free(sql);
		}
	} else {
		sqlite3_clear_bindings(l->st[i]);
	}
	return l->st[i];
}

/* Runs a kept statement without results (BEGIN, COMMIT). */
static int step_cached(struct ledger *l, int i, char **err)
{
	sqlite3_stmt *st = cached(l, i, err);
	if (!st)
		return LEDGER_ERROR;
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		l->last_code = rc & 0xff;
		set_err(err, "ledger %s: %s", l->path, sqlite3_errmsg(l->db));
		return LEDGER_ERROR;
	}
	return 0;
}

/* The first column of the first row of kept statement i; fallback when
 * there is none. */
static long long query_int(struct ledger *l, int i, long long fallback)
{
	sqlite3_stmt *st = cached(l, i, NULL);
	long long v = fallback;
	if (st && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	if (st)
		sqlite3_reset(st);
	return v;
}

/* The requests table and its indexes as schema version 2 has them: a
 * new ledger creates them so, and so does the migration from version 1.
 * Version 2 made a row cheaper to write (~25k instructions to ~14k in the
 * proxy's writer): ids are the plain rowid (version 1's AUTOINCREMENT
 * read and wrote sqlite_sequence for every row; rows are never deleted,
 * so ids still only grow), and the key index holds only rows made with a
 * client key (no query of ours filters on it; most rows have none). */
#define REQUESTS_TABLE(name)                                                                                 \
	"CREATE TABLE " name " ("                                                                           \
	" id INTEGER PRIMARY KEY,"                                                                           \
	" time_ms INTEGER NOT NULL,"                                                                         \
	" key_id TEXT,"                                                                                      \
	" provider TEXT NOT NULL,"                                                                           \
	" model TEXT NOT NULL,"                                                                              \
	" dialect TEXT NOT NULL,"                                                                            \
	" usage_known INTEGER NOT NULL,"                                                                     \
	" prompt_tokens INTEGER,"                                                                            \
	" completion_tokens INTEGER,"                                                                        \
	" cached_tokens INTEGER,"                                                                            \
	" reasoning_tokens INTEGER,"                                                                         \
	" cost_pusd INTEGER,"                                                                                \
	" latency_ms INTEGER NOT NULL,"                                                                      \
	" first_token_ms INTEGER,"                                                                           \
	" status INTEGER NOT NULL,"                                                                          \
	" streamed INTEGER NOT NULL,"                                                                        \
	" attempts INTEGER NOT NULL);"
#define REQUESTS_INDEXES                                                                                     \
	"CREATE INDEX requests_time ON requests(time_ms);"                                                   \
	"CREATE INDEX requests_key ON requests(key_id) WHERE key_id IS NOT NULL;"

static const char schema[] =
    REQUESTS_TABLE("requests")
    REQUESTS_INDEXES
    "CREATE TABLE keys ("
    " id TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " hash BLOB NOT NULL UNIQUE,"
    " budget_pusd INTEGER,"
    " spend_pusd INTEGER NOT NULL DEFAULT 0,"
    " rpm INTEGER NOT NULL DEFAULT 0,"
    " tpm INTEGER NOT NULL DEFAULT 0,"
    " models TEXT NOT NULL DEFAULT '',"
    " expires_ms INTEGER,"
    " created_ms INTEGER NOT NULL,"
    " revoked_ms INTEGER);"
    "CREATE UNIQUE INDEX keys_active_name ON keys(name) WHERE revoked_ms IS NULL;"
    /* keys_version tells a running proxy that its key table is stale; a
     * spend going up is not a change of the keys. */
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT INTO meta VALUES ('keys_version', 0);"
    "CREATE TRIGGER keys_inserted AFTER INSERT ON keys BEGIN"
    " UPDATE meta SET value = value + 1 WHERE name = 'keys_version'; END;"
    "CREATE TRIGGER keys_deleted AFTER DELETE ON keys BEGIN"
    " UPDATE meta SET value = value + 1 WHERE name = 'keys_version'; END;"
    "CREATE TRIGGER keys_updated AFTER UPDATE OF id, name, hash, budget_pusd, rpm, tpm, models, expires_ms,"
    " revoked_ms ON keys BEGIN"
    " UPDATE meta SET value = value + 1 WHERE name = 'keys_version'; END;";

/* Version 1 to 2: the requests table rebuilt, rows and ids kept (its
 * indexes go with the old table). The keys and meta tables are as they
 * were. */
static const char migrate_v2[] =
    REQUESTS_TABLE("requests_v2")
    "INSERT INTO requests_v2 SELECT id, time_ms, key_id, provider, model, dialect, usage_known, prompt_tokens,"
    " completion_tokens, cached_tokens, reasoning_tokens, cost_pusd, latency_ms, first_token_ms, status,"
    " streamed, attempts FROM requests;"
    "DROP TABLE requests;"
    "ALTER TABLE requests_v2 RENAME TO requests;"
    "DELETE FROM sqlite_sequence WHERE name = 'requests';"
    REQUESTS_INDEXES;

static bool version_unknown(struct ledger *l, long long v, char **err)
{
	if (v >= 0 && v <= SCHEMA_VERSION)
		return false;
	set_err(err,
	        "ledger %s has schema version %lld, which this arouter does not know (it knows %d); "
	        "use a newer arouter",
	        l->path, v, SCHEMA_VERSION);
	return true;
}

static int migrate(struct ledger *l, char **err)
{
	long long v = query_int(l, ST_USER_VERSION, -1);
	if (v == SCHEMA_VERSION || version_unknown(l, v, err))
		return v == SCHEMA_VERSION ? 0 : LEDGER_ERROR;
	if (exec(l, "BEGIN IMMEDIATE", err) < 0)
		return LEDGER_ERROR;
	/* Another process may have migrated while this one waited. */
	v = query_int(l, ST_USER_VERSION, -1);
	if (v == SCHEMA_VERSION || version_unknown(l, v, err)) {
		rollback(l);
		return v == SCHEMA_VERSION ? 0 : LEDGER_ERROR;
	}
	if (v == 0 && exec(l, schema, err) < 0)
		goto fail;
	if (v == 1 && exec(l, migrate_v2, err) < 0)
		goto fail;
	char sql[64];
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", SCHEMA_VERSION);
	if (exec(l, sql, err) < 0 || exec(l, "COMMIT", err) < 0)
		goto fail;
	return 0;
fail:
	rollback(l);
	return LEDGER_ERROR;
}

char *ledger_default_path(void)
{
	char *dir = xdg_dir("data");
	char *p = xasprintf("%s/ledger.db", dir);
	free(dir);
	return p;
}

const char *ledger_path(const struct ledger *l)
{
	return l->path;
}

struct ledger *ledger_open(const char *path, char **err)
{
	struct ledger *l = xcalloc(1, sizeof *l);
	l->path = path ? xstrdup(path) : ledger_default_path();
	char *dir = xstrdup(l->path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir_p(dir, 0700) < 0) {
			set_err(err, "cannot create %s for the ledger: %s", dir, strerror(errno));
			free(dir);
			goto fail;
		}
	}
	free(dir);
	/* SQLite would create the file with the umask's mode; the ledger is
	 * the user's business, and its -wal and -shm copy this mode. */
	/* Never open() and close() a database this process may have open
	 * already: closing any descriptor of a file drops every POSIX lock the
	 * process holds on it, and SQLite's WAL locks are such locks. So the
	 * file is made only when missing, and its mode fixed by path. */
	struct stat stt;
	if (stat(l->path, &stt) < 0) {
		int fd = open(l->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST) {
			set_err(err, "cannot open the ledger %s: %s", l->path, strerror(errno));
			goto fail;
		}
		if (fd >= 0)
			close(fd); /* new: nobody can hold a lock on it yet */
	} else if ((stt.st_mode & 077) && stt.st_uid == geteuid()) {
		chmod(l->path, 0600);
	}
	if (sqlite3_open_v2(l->path, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		set_err(err, "cannot open the ledger %s: %s", l->path,
		        l->db ? sqlite3_errmsg(l->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(l->db, BUSY_TIMEOUT_MS);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(l->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK) {
		db_err(l, err, "cannot read it");
		goto fail;
	}
	bool wal = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) &&
	           strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
	sqlite3_finalize(st);
	if (!wal) {
		db_err(l, err, "cannot switch to WAL mode (is the file a SQLite database?)");
		goto fail;
	}
	/* In WAL mode NORMAL loses nothing to a crash or SIGKILL of the
	 * process (a commit is in the WAL file when it returns); only a power
	 * loss or an OS crash can take the last commits, and it spares the
	 * proxy an fsync per batch. */
	if (exec(l, "PRAGMA synchronous=NORMAL", err) < 0 || migrate(l, err) < 0)
		goto fail;
	return l;
fail:
	ledger_close(l);
	return NULL;
}

void ledger_close(struct ledger *l)
{
	if (!l)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(l->st[i]);
	if (l->db)
		sqlite3_close_v2(l->db);
	free(l->path);
	free(l);
}

/* ---- rows ---- */

static void bind_count(sqlite3_stmt *st, int i, long v, bool known)
{
	if (known && v >= 0)
		sqlite3_bind_int64(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

int ledger_record_many(struct ledger *l, const struct ledger_row *rows, size_t n, char **err)
{
	if (n == 0)
		return 0;
	if (step_cached(l, ST_BEGIN, err) < 0)
		return LEDGER_ERROR;
	sqlite3_stmt *ins = cached(l, ST_INSERT, err);
	sqlite3_stmt *spend = ins ? cached(l, ST_SPEND, err) : NULL;
	int rc = LEDGER_ERROR;
	if (!ins || !spend)
		goto out;
	/* SQLITE_STATIC: the rows outlive each step and reset. */
	for (size_t i = 0; i < n; i++) {
		const struct ledger_row *r = &rows[i];
		ledger_money cost = r->cost_usd >= 0 ? ledger_money_from_usd(r->cost_usd) : -1;
		sqlite3_bind_int64(ins, 1, r->time_ms);
		if (r->key_id)
			sqlite3_bind_text(ins, 2, r->key_id, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(ins, 2);
		sqlite3_bind_text(ins, 3, or_empty(r->provider), -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 4, or_empty(r->model), -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 5, or_empty(r->dialect), -1, SQLITE_STATIC);
		sqlite3_bind_int(ins, 6, r->usage_known);
		/* Unknown usage is NULL, never a guess. */
		bind_count(ins, 7, r->prompt_tokens, r->usage_known);
		bind_count(ins, 8, r->completion_tokens, r->usage_known);
		bind_count(ins, 9, r->cached_tokens, r->usage_known);
		bind_count(ins, 10, r->reasoning_tokens, r->usage_known);
		if (cost >= 0)
			sqlite3_bind_int64(ins, 11, cost);
		else
			sqlite3_bind_null(ins, 11);
		sqlite3_bind_int64(ins, 12, r->latency_ms);
		bind_count(ins, 13, r->first_token_ms, true);
		sqlite3_bind_int(ins, 14, r->status);
		sqlite3_bind_int(ins, 15, r->streamed);
		sqlite3_bind_int(ins, 16, r->attempts);
		if (sqlite3_step(ins) != SQLITE_DONE) {
			db_err(l, err, "cannot record a request");
			sqlite3_reset(ins);
			goto out;
		}
		sqlite3_reset(ins);
		if (l->yield_every && (i + 1) % l->yield_every == 0)
			sched_yield();
		if (r->key_id && cost > 0) {
			sqlite3_bind_text(spend, 1, r->key_id, -1, SQLITE_STATIC);
			sqlite3_bind_int64(spend, 2, cost);
			if (sqlite3_step(spend) != SQLITE_DONE) {
				db_err(l, err, "cannot add to a key's spend");
				sqlite3_reset(spend);
				goto out;
			}
			sqlite3_reset(spend);
		}
	}
	if (step_cached(l, ST_COMMIT, err) == 0)
		rc = 0;
out:
	if (rc != 0)
		rollback(l);
	return rc;
}

int ledger_record(struct ledger *l, const struct ledger_row *row, char **err)
{
	return ledger_record_many(l, row, 1, err);
}

/* A non-negative integer at key in o (or in o[sub][key]), else -1. */
static long usage_count(json_object *o, const char *sub, const char *key)
{
	json_object *v;
	if (sub && !json_object_object_get_ex(o, sub, &o))
		return -1;
	if (!json_object_object_get_ex(o, key, &v) ||
	    !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
		return -1;
	long long n = json_object_get_int64(v);
	return n >= 0 && n <= LONG_MAX ? (long)n : -1;
}

void ledger_row_set_usage(struct ledger_row *row, json_object *usage)
{
	row->prompt_tokens = row->completion_tokens = row->cached_tokens = row->reasoning_tokens = -1;
	row->usage_known = false;
	if (!json_object_is_type(usage, json_type_object))
		return;
	row->prompt_tokens = usage_count(usage, NULL, "prompt_tokens");
	row->completion_tokens = usage_count(usage, NULL, "completion_tokens");
	row->usage_known = row->prompt_tokens >= 0 || row->completion_tokens >= 0;
	if (!row->usage_known)
		return;
	/* Absent details are zero: the provider counted and found none. */
	row->cached_tokens = usage_count(usage, "prompt_tokens_details", "cached_tokens");
	row->reasoning_tokens = usage_count(usage, "completion_tokens_details", "reasoning_tokens");
	if (row->cached_tokens < 0)
		row->cached_tokens = 0;
	if (row->reasoning_tokens < 0)
		row->reasoning_tokens = 0;
	if (row->prompt_tokens < 0)
		row->prompt_tokens = 0;
	if (row->completion_tokens < 0)
		row->completion_tokens = 0;
	json_object *cost;
	if (json_object_object_get_ex(usage, "cost", &cost) &&
	    (json_object_is_type(cost, json_type_double) || json_object_is_type(cost, json_type_int)) &&
	    json_object_get_double(cost) >= 0)
		row->cost_usd = json_object_get_double(cost);
}

static char *col_str(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return s ? xstrdup((const char *)s) : NULL;
}

static long col_count(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : (long)sqlite3_column_int64(st, i);
}

void ledger_entries_free(struct ledger_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].key_id);
		free(e[i].provider);
		free(e[i].model);
		free(e[i].dialect);
	}
	free(e);
}

int ledger_transactions(struct ledger *l, long long before, long long since_ms, size_t limit,
                        struct ledger_entry **out, size_t *n, bool *more, char **err)
{
	*out = NULL;
	*n = 0;
	*more = false;
	sqlite3_stmt *st = cached(l, ST_TRANSACTIONS, err);
	if (!st)
		return LEDGER_ERROR;
	sqlite3_bind_int64(st, 1, before > 0 ? before : LLONG_MAX);
	sqlite3_bind_int64(st, 2, since_ms);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)limit + 1);
	struct ledger_entry *e = xcalloc(limit + 1, sizeof *e);
	size_t k = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (k == limit) {
			*more = true;
			break;
		}
		struct ledger_entry *x = &e[k++];
		x->id = sqlite3_column_int64(st, 0);
		x->time_ms = sqlite3_column_int64(st, 1);
		x->key_id = col_str(st, 2);
		x->provider = col_str(st, 3);
		x->model = col_str(st, 4);
		x->dialect = col_str(st, 5);
		x->usage_known = sqlite3_column_int(st, 6) != 0;
		x->prompt_tokens = col_count(st, 7);
		x->completion_tokens = col_count(st, 8);
		x->cached_tokens = col_count(st, 9);
		x->reasoning_tokens = col_count(st, 10);
		x->cost = sqlite3_column_type(st, 11) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 11);
		x->latency_ms = (long)sqlite3_column_int64(st, 12);
		x->first_token_ms = col_count(st, 13);
		x->status = sqlite3_column_int(st, 14);
		x->streamed = sqlite3_column_int(st, 15) != 0;
		x->attempts = sqlite3_column_int(st, 16);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_err(l, err, "cannot read the requests");
		sqlite3_reset(st);
		ledger_entries_free(e, k);
		return LEDGER_ERROR;
	}
	sqlite3_reset(st);
	*out = e;
	*n = k;
	return 0;
}

void ledger_usage_free(struct ledger_usage *u, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(u[i].group);
		free(u[i].name);
	}
	free(u);
}

/* The usage sums grouped by by (a kept statement, ST_USAGE + by). */
static char *usage_sql(enum ledger_group by)
{
	static const char *const exprs[] = {
	    [LEDGER_BY_DAY] = "strftime('%Y-%m-%d', time_ms / 1000, 'unixepoch')",
	    [LEDGER_BY_MODEL] = "provider || '/' || model",
	    [LEDGER_BY_PROVIDER] = "provider",
	    [LEDGER_BY_KEY] = "key_id",
	};
	return xasprintf("SELECT g, COUNT(*), SUM(status < 200 OR status >= 300), SUM(usage_known = 0),"
	                 " IFNULL(SUM(prompt_tokens), 0), IFNULL(SUM(completion_tokens), 0), "
	                 "IFNULL(SUM(cached_tokens), 0),"
	                 " IFNULL(SUM(reasoning_tokens), 0), IFNULL(SUM(cost_pusd), 0), SUM(cost_pusd IS NULL),"
	                 " %s FROM (SELECT %s AS g, * FROM requests WHERE time_ms >= ?1) GROUP BY g ORDER BY %s",
	                 by == LEDGER_BY_KEY ? "(SELECT name FROM keys WHERE keys.id = g)" : "NULL", exprs[by],
	                 by == LEDGER_BY_DAY ? "g" : "9 DESC, 2 DESC, g");
}

int ledger_usage_query(struct ledger *l, enum ledger_group by, long long since_ms, struct ledger_usage **out,
                       size_t *n, struct ledger_usage *total, char **err)
{
	*out = NULL;
	*n = 0;
	memset(total, 0, sizeof *total);
	if ((unsigned)by > LEDGER_BY_KEY) {
		set_err(err, "no such grouping of the usage");
		return LEDGER_ERROR;
	}
	sqlite3_stmt *st = cached(l, ST_USAGE + (int)by, err);
	if (!st)
		return LEDGER_ERROR;
	sqlite3_bind_int64(st, 1, since_ms);
	size_t cap = 16, k = 0;
	struct ledger_usage *u = xcalloc(cap, sizeof *u);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (k == cap) {
			cap *= 2;
			u = xrealloc(u, cap * sizeof *u);
		}
		struct ledger_usage *x = &u[k++];
		memset(x, 0, sizeof *x);
		x->group = col_str(st, 0);
		x->requests = sqlite3_column_int64(st, 1);
		x->failed = sqlite3_column_int64(st, 2);
		x->without_usage = sqlite3_column_int64(st, 3);
		x->prompt_tokens = sqlite3_column_int64(st, 4);
		x->completion_tokens = sqlite3_column_int64(st, 5);
		x->cached_tokens = sqlite3_column_int64(st, 6);
		x->reasoning_tokens = sqlite3_column_int64(st, 7);
		x->cost = sqlite3_column_int64(st, 8);
		x->without_cost = sqlite3_column_int64(st, 9);
		x->name = col_str(st, 10);
		total->requests += x->requests;
		total->failed += x->failed;
		total->without_usage += x->without_usage;
		total->prompt_tokens += x->prompt_tokens;
		total->completion_tokens += x->completion_tokens;
		total->cached_tokens += x->cached_tokens;
		total->reasoning_tokens += x->reasoning_tokens;
		total->cost += x->cost;
		total->without_cost += x->without_cost;
	}
	if (rc != SQLITE_DONE) {
		db_err(l, err, "cannot sum the requests");
		sqlite3_reset(st);
		ledger_usage_free(u, k);
		memset(total, 0, sizeof *total);
		return LEDGER_ERROR;
	}
	sqlite3_reset(st);
	*out = u;
	*n = k;
	return 0;
}

int ledger_total_cost(struct ledger *l, long long since_ms, ledger_money *out, char **err)
{
	sqlite3_stmt *st = cached(l, ST_TOTAL_COST, err);
	if (!st)
		return LEDGER_ERROR;
	sqlite3_bind_int64(st, 1, since_ms);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else
		db_err(l, err, "cannot sum the costs");
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : LEDGER_ERROR;
}

/* ---- keys ---- */

/* From the kernel's CSPRNG (getrandom blocks only until it is seeded at
 * boot). */
static int random_bytes(unsigned char *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = getrandom(buf + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* Base62 by rejection sampling, so that every character is equally likely. */
static int random_base62(char *out, size_t n)
{
	static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	unsigned char buf[64];
	size_t i = 0;
	while (i < n) {
		if (random_bytes(buf, sizeof buf) < 0)
			return -1;
		for (size_t j = 0; j < sizeof buf && i < n; j++)
			if (buf[j] < 248)
				out[i++] = alphabet[buf[j] % 62];
	}
	out[n] = '\0';
	secure_wipe(buf, sizeof buf);
	return 0;
}

char *ledger_new_secret(const char *prefix)
{
	size_t plen = strlen(prefix);
	char *secret = xmalloc(plen + SECRET_CHARS + 1);
	memcpy(secret, prefix, plen);
	if (random_base62(secret + plen, SECRET_CHARS) < 0) {
		free(secret);
		return NULL;
	}
	return secret;
}

/* A key is stored as the SHA-256 of its secret, so this must not change. */
static void hash_secret(const char *s, unsigned char out[HASH_LEN])
{
	sha256(s, strlen(s), out);
}

void ledger_key_clear(struct ledger_key *k)
{
	if (!k)
		return;
	free(k->name);
	for (size_t i = 0; i < k->n_models; i++)
		free(k->models[i]);
	free(k->models);
	memset(k, 0, sizeof *k);
}

void ledger_keys_free(struct ledger_key *k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ledger_key_clear(&k[i]);
	free(k);
}

static void key_from_row(sqlite3_stmt *st, struct ledger_key *k, unsigned char *hash)
{
	memset(k, 0, sizeof *k);
	const unsigned char *id = sqlite3_column_text(st, 0);
	snprintf(k->id, sizeof k->id, "%s", id ? (const char *)id : "");
	k->name = col_str(st, 1);
	if (!k->name)
		k->name = xstrdup("");
	k->budget = sqlite3_column_type(st, 2) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 2);
	k->spend = sqlite3_column_int64(st, 3);
	k->rpm = (long)sqlite3_column_int64(st, 4);
	k->tpm = (long)sqlite3_column_int64(st, 5);
	const char *models = (const char *)sqlite3_column_text(st, 6);
	for (const char *p = models ? models : ""; *p;) {
		size_t len = strcspn(p, "\n");
		if (len) {
			k->models = xrealloc(k->models, (k->n_models + 1) * sizeof *k->models);
			k->models[k->n_models++] = xstrndup(p, len);
		}
		p += len;
		if (*p)
			p++;
	}
	k->expires_ms = sqlite3_column_type(st, 7) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 7);
	k->created_ms = sqlite3_column_int64(st, 8);
	k->revoked_ms = sqlite3_column_type(st, 9) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 9);
	if (hash) {
		memset(hash, 0, HASH_LEN);
		if (sqlite3_column_bytes(st, 10) == HASH_LEN)
			memcpy(hash, sqlite3_column_blob(st, 10), HASH_LEN);
	}
}

static int valid_text(const char *s, size_t max)
{
	return !str_empty(s) && strlen(s) <= max && !str_has_ctl(s);
}

static int check_models(const char *const *models, size_t n, char **err)
{
	for (size_t i = 0; i < n; i++)
		if (!valid_text(models[i], MAX_PATTERN)) {
			set_err(err, "a model pattern must be 1 to %d printable characters", MAX_PATTERN);
			return LEDGER_INVALID;
		}
	return 0;
}

static char *join_models(const char *const *models, size_t n)
{
	char *s = xstrdup("");
	for (size_t i = 0; i < n; i++) {
		char *t = xasprintf("%s%s%s", s, i ? "\n" : "", models[i]);
		free(s);
		s = t;
	}
	return s;
}

static int check_name(const char *name, char **err)
{
	if (!valid_text(name, MAX_NAME)) {
		set_err(err, "a key name must be 1 to %d printable characters", MAX_NAME);
		return LEDGER_INVALID;
	}
	return 0;
}

/* Whether an active key other than except_id has this name. */
static int name_taken(struct ledger *l, const char *name, const char *except_id, char **err)
{
	sqlite3_stmt *st = cached(l, ST_NAME_TAKEN, err);
	if (!st)
		return LEDGER_ERROR;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (except_id)
		sqlite3_bind_text(st, 2, except_id, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		sqlite3_reset(st);
		set_err(err, "an active key is already named '%s'", name);
		return LEDGER_CONFLICT;
	}
	if (rc != SQLITE_DONE)
		rc = db_err(l, err, "cannot read the keys");
	else
		rc = 0;
	sqlite3_reset(st);
	return rc;
}

static int key_find(struct ledger *l, const char *id_or_name, struct ledger_key *out, char **err)
{
	static const int queries[] = {ST_KEY_BY_ID, ST_KEY_BY_NAME};
	for (size_t q = 0; q < 2; q++) {
		sqlite3_stmt *st = cached(l, queries[q], err);
		if (!st)
			return LEDGER_ERROR;
		sqlite3_bind_text(st, 1, id_or_name, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			struct ledger_key k;
			key_from_row(st, &k, NULL);
			sqlite3_reset(st);
			if (out)
				*out = k;
			else
				ledger_key_clear(&k);
			return 0;
		}
		if (rc != SQLITE_DONE) {
			rc = db_err(l, err, "cannot read the keys");
			sqlite3_reset(st);
			return rc;
		}
		sqlite3_reset(st);
	}
	set_err(err, "no key '%s'", id_or_name);
	return LEDGER_NOT_FOUND;
}

int ledger_key_get(struct ledger *l, const char *id_or_name, struct ledger_key *out, char **err)
{
	if (str_empty(id_or_name)) {
		set_err(err, "no key ''");
		return LEDGER_NOT_FOUND;
	}
	return key_find(l, id_or_name, out, err);
}

int ledger_key_list(struct ledger *l, bool include_revoked, struct ledger_key **out, size_t *n, char **err)
{
	*out = NULL;
	*n = 0;
	sqlite3_stmt *st = cached(l, include_revoked ? ST_KEYS_LISTED : ST_KEYS_LISTED_ACTIVE, err);
	if (!st)
		return LEDGER_ERROR;
	size_t cap = 8, k = 0;
	struct ledger_key *keys = xcalloc(cap, sizeof *keys);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (k == cap) {
			cap *= 2;
			keys = xrealloc(keys, cap * sizeof *keys);
		}
		key_from_row(st, &keys[k++], NULL);
	}
	if (rc != SQLITE_DONE) {
		rc = db_err(l, err, "cannot read the keys");
		sqlite3_reset(st);
		ledger_keys_free(keys, k);
		return rc;
	}
	sqlite3_reset(st);
	*out = keys;
	*n = k;
	return 0;
}

int ledger_key_create(struct ledger *l, const struct ledger_key_spec *spec, char **secret_out,
                      struct ledger_key *out, char **err)
{
	*secret_out = NULL;
	int rc = check_name(spec->name, err);
	if (rc < 0)
		return rc;
	if (spec->rpm < 0 || spec->tpm < 0 || spec->budget < -1 || spec->expires_ms < 0) {
		set_err(err, "budget, rpm, tpm and expiry cannot be negative");
		return LEDGER_INVALID;
	}
	if ((rc = check_models(spec->models, spec->n_models, err)) < 0)
		return rc;
	unsigned char rnd[LEDGER_KEY_ID_LEN / 2];
	char id[LEDGER_KEY_ID_LEN + 1];
	char *secret = ledger_new_secret(LEDGER_SECRET_PREFIX);
	if (!secret) {
		set_err(err, "cannot get random bytes from the kernel");
		return LEDGER_ERROR;
	}
	unsigned char hash[HASH_LEN];
	hash_secret(secret, hash);
	char *models = join_models(spec->models, spec->n_models);
	sqlite3_stmt *st = NULL;
	rc = LEDGER_ERROR;
	if (exec(l, "BEGIN IMMEDIATE", err) < 0)
		goto out;
	if ((rc = name_taken(l, spec->name, NULL, err)) < 0)
		goto out;
	rc = LEDGER_ERROR;
	/* A fresh random id; one that exists already is drawn again. */
	for (int tries = 0;; tries++) {
		if (random_bytes(rnd, sizeof rnd) < 0) {
			set_err(err, "cannot get random bytes from the kernel");
			goto out;
		}
		for (size_t i = 0; i < sizeof rnd; i++)
			snprintf(id + 2 * i, 3, "%02x", rnd[i]);
		struct ledger_key tmp;
		char *ferr = NULL;
		int f = key_find(l, id, &tmp, &ferr);
		free(ferr);
		if (f == LEDGER_NOT_FOUND)
			break;
		if (f == 0)
			ledger_key_clear(&tmp);
		if (f == LEDGER_ERROR || tries > 16) {
			set_err(err, "cannot draw a free key id");
			goto out;
		}
	}
	st =
	    prepare(l,
	            "INSERT INTO keys (id, name, hash, budget_pusd, rpm, tpm, models, expires_ms, created_ms)"
	            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	            err);
	if (!st)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, spec->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 3, hash, HASH_LEN, SQLITE_TRANSIENT);
	if (spec->budget >= 0)
		sqlite3_bind_int64(st, 4, spec->budget);
	else
		sqlite3_bind_null(st, 4);
	sqlite3_bind_int64(st, 5, spec->rpm);
	sqlite3_bind_int64(st, 6, spec->tpm);
	sqlite3_bind_text(st, 7, models, -1, SQLITE_TRANSIENT);
	if (spec->expires_ms > 0)
		sqlite3_bind_int64(st, 8, spec->expires_ms);
	else
		sqlite3_bind_null(st, 8);
	sqlite3_bind_int64(st, 9, ledger_now_ms());
	if (sqlite3_step(st) != SQLITE_DONE) {
		db_err(l, err, "cannot store the key");
		goto out;
	}
	if (exec(l, "COMMIT", err) < 0)
		goto out;
	rc = 0;
	if (out && key_find(l, id, out, err) < 0)
		rc = LEDGER_ERROR;
out:
	sqlite3_finalize(st);
	if (rc != 0)
		rollback(l);
	free(models);
	secure_wipe(hash, sizeof hash);
	if (rc == 0) {
		*secret_out = secret;
	} else {
		secure_wipe(secret, strlen(secret));
		free(secret);
	}
	return rc;
}

int ledger_key_update(struct ledger *l, const char *id_or_name, const struct ledger_key_update *u,
                      struct ledger_key *out, char **err)
{
	int rc;
	if (u->name && (rc = check_name(u->name, err)) < 0)
		return rc;
	if ((u->set_rpm && u->rpm < 0) || (u->set_tpm && u->tpm < 0) || (u->set_budget && u->budget < -1) ||
	    (u->set_expires && u->expires_ms < 0)) {
		set_err(err, "budget, rpm, tpm and expiry cannot be negative");
		return LEDGER_INVALID;
	}
	if (u->set_models && (rc = check_models(u->models, u->n_models, err)) < 0)
		return rc;
	if (exec(l, "BEGIN IMMEDIATE", err) < 0)
		return LEDGER_ERROR;
	struct ledger_key k;
	memset(&k, 0, sizeof k);
	sqlite3_stmt *st = NULL;
	char *models = NULL;
	if ((rc = ledger_key_get(l, id_or_name, &k, err)) < 0)
		goto out;
	if (k.revoked_ms) {
		set_err(err, "key '%s' is revoked; create a new one", id_or_name);
		rc = LEDGER_CONFLICT;
		goto out;
	}
	if (u->name && (rc = name_taken(l, u->name, k.id, err)) < 0)
		goto out;
	rc = LEDGER_ERROR;
	models = u->set_models ? join_models(u->models, u->n_models)
	                       : join_models((const char *const *)k.models, k.n_models);
	st = prepare(
	    l,
	    "UPDATE keys SET name = ?2, budget_pusd = ?3, rpm = ?4, tpm = ?5, models = ?6, expires_ms = ?7"
	    " WHERE id = ?1",
	    err);
	if (!st)
		goto out;
	ledger_money budget = u->set_budget ? u->budget : k.budget;
	long long expires = u->set_expires ? u->expires_ms : k.expires_ms;
	sqlite3_bind_text(st, 1, k.id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, u->name ? u->name : k.name, -1, SQLITE_TRANSIENT);
	if (budget >= 0)
		sqlite3_bind_int64(st, 3, budget);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_int64(st, 4, u->set_rpm ? u->rpm : k.rpm);
	sqlite3_bind_int64(st, 5, u->set_tpm ? u->tpm : k.tpm);
	sqlite3_bind_text(st, 6, models, -1, SQLITE_TRANSIENT);
	if (expires > 0)
		sqlite3_bind_int64(st, 7, expires);
	else
		sqlite3_bind_null(st, 7);
	if (sqlite3_step(st) != SQLITE_DONE) {
		db_err(l, err, "cannot change the key");
		goto out;
	}
	if (exec(l, "COMMIT", err) < 0)
		goto out;
	rc = out ? key_find(l, k.id, out, err) : 0;
out:
	sqlite3_finalize(st);
	free(models);
	if (!sqlite3_get_autocommit(l->db))
		rollback(l);
	ledger_key_clear(&k);
	return rc;
}

int ledger_key_revoke(struct ledger *l, const char *id_or_name, struct ledger_key *out, char **err)
{
	if (exec(l, "BEGIN IMMEDIATE", err) < 0)
		return LEDGER_ERROR;
	struct ledger_key k;
	memset(&k, 0, sizeof k);
	int rc = ledger_key_get(l, id_or_name, &k, err);
	if (rc < 0)
		goto out;
	if (!k.revoked_ms) {
		sqlite3_stmt *st = prepare(l, "UPDATE keys SET revoked_ms = ?2 WHERE id = ?1", err);
		rc = LEDGER_ERROR;
		if (!st)
			goto out;
		sqlite3_bind_text(st, 1, k.id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, ledger_now_ms());
		int s = sqlite3_step(st);
		sqlite3_finalize(st);
		if (s != SQLITE_DONE) {
			db_err(l, err, "cannot revoke the key");
			goto out;
		}
	}
	rc = exec(l, "COMMIT", err) < 0 ? LEDGER_ERROR : 0;
	if (rc == 0 && out)
		rc = key_find(l, k.id, out, err);
out:
	if (!sqlite3_get_autocommit(l->db))
		rollback(l);
	ledger_key_clear(&k);
	return rc;
}

/* ---- the keyring ---- */

struct keyring_entry {
	struct ledger_key key;
	unsigned char hash[HASH_LEN];
};

struct ledger_keyring {
	struct ledger *l;
	struct keyring_entry *e;
	size_t n;
	long long version;
	long long checked_ms;
	bool checked;
};

const char *ledger_auth_reason(enum ledger_auth a)
{
	switch (a) {
	case LEDGER_AUTH_OK:
		return "ok";
	case LEDGER_AUTH_UNKNOWN:
		return "unknown key";
	case LEDGER_AUTH_REVOKED:
		return "key revoked";
	case LEDGER_AUTH_EXPIRED:
		return "key expired";
	case LEDGER_AUTH_MODEL_FORBIDDEN:
		return "model not allowed for this key";
	case LEDGER_AUTH_BUDGET_EXHAUSTED:
		return "key budget exhausted";
	}
	return "?";
}

int ledger_auth_http_status(enum ledger_auth a)
{
	switch (a) {
	case LEDGER_AUTH_OK:
		return 200;
	case LEDGER_AUTH_MODEL_FORBIDDEN:
		return 403;
	case LEDGER_AUTH_BUDGET_EXHAUSTED:
		return 402;
	case LEDGER_AUTH_UNKNOWN:
	case LEDGER_AUTH_REVOKED:
	case LEDGER_AUTH_EXPIRED:
		break;
	}
	return 401;
}

static void entries_free(struct keyring_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ledger_key_clear(&e[i].key);
		secure_wipe(e[i].hash, HASH_LEN);
	}
	free(e);
}

/* Reads every key and keys_version in one read transaction. */
static int keyring_read(struct ledger *l, struct keyring_entry **out, size_t *n, long long *version,
                        char **err)
{
	*out = NULL;
	*n = 0;
	if (exec(l, "BEGIN", err) < 0)
		return LEDGER_ERROR;
	sqlite3_stmt *st = cached(l, ST_KEYS_ALL, err);
	if (!st) {
		rollback(l);
		return LEDGER_ERROR;
	}
	size_t cap = 8, k = 0;
	struct keyring_entry *e = xcalloc(cap, sizeof *e);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (k == cap) {
			cap *= 2;
			e = xrealloc(e, cap * sizeof *e);
		}
		key_from_row(st, &e[k].key, e[k].hash);
		k++;
	}
	if (rc != SQLITE_DONE) {
		db_err(l, err, "cannot read the keys");
		sqlite3_reset(st);
		rollback(l);
		entries_free(e, k);
		return LEDGER_ERROR;
	}
	sqlite3_reset(st);
	*version = query_int(l, ST_KEYS_VERSION, -1);
	exec(l, "COMMIT", NULL);
	*out = e;
	*n = k;
	return 0;
}

struct ledger_keyring *ledger_keyring_load(struct ledger *l, char **err)
{
	struct ledger_keyring *kr = xcalloc(1, sizeof *kr);
	kr->l = l;
	if (keyring_read(l, &kr->e, &kr->n, &kr->version, err) < 0) {
		free(kr);
		return NULL;
	}
	return kr;
}

void ledger_keyring_free(struct ledger_keyring *kr)
{
	if (!kr)
		return;
	entries_free(kr->e, kr->n);
	free(kr);
}

static bool model_allowed(const struct ledger_key *k, const char *model)
{
	if (k->n_models == 0 || !model)
		return true;
	for (size_t i = 0; i < k->n_models; i++)
		if (fnmatch(k->models[i], model, 0) == 0)
			return true;
	return false;
}

enum ledger_auth ledger_keyring_check(const struct ledger_keyring *kr, const char *presented_secret,
                                      const char *model, const struct ledger_key **out)
{
	if (out)
		*out = NULL;
	if (str_empty(presented_secret))
		return LEDGER_AUTH_UNKNOWN;
	unsigned char h[HASH_LEN];
	hash_secret(presented_secret, h);
	/* Every entry is compared, and the match is selected without a
	 * branch, so the time taken says nothing about which key matched or
	 * how much of a hash did. */
	size_t match = 0, found = 0;
	for (size_t i = 0; i < kr->n; i++) {
		size_t eq = (size_t)const_time_equal(kr->e[i].hash, h, HASH_LEN);
		size_t mask = (size_t)0 - eq;
		match = (match & ~mask) | (i & mask);
		found |= eq;
	}
	secure_wipe(h, sizeof h);
	if (!found)
		return LEDGER_AUTH_UNKNOWN;
	const struct ledger_key *k = &kr->e[match].key;
	if (out)
		*out = k;
	if (k->revoked_ms)
		return LEDGER_AUTH_REVOKED;
	if (k->expires_ms && ledger_now_ms() >= k->expires_ms)
		return LEDGER_AUTH_EXPIRED;
	if (!model_allowed(k, model))
		return LEDGER_AUTH_MODEL_FORBIDDEN;
	if (k->budget >= 0 && k->spend >= k->budget)
		return LEDGER_AUTH_BUDGET_EXHAUSTED;
	return LEDGER_AUTH_OK;
}

static struct keyring_entry *entry_by_id(struct keyring_entry *e, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(e[i].key.id, id) == 0)
			return &e[i];
	return NULL;
}

void ledger_keyring_add_spend(struct ledger_keyring *kr, const char *key_id, double cost_usd)
{
	if (!key_id || !(cost_usd > 0))
		return;
	struct keyring_entry *e = entry_by_id(kr->e, kr->n, key_id);
	if (e)
		e->key.spend += ledger_money_from_usd(cost_usd);
}

size_t ledger_keyring_size(const struct ledger_keyring *kr)
{
	return kr->n;
}

size_t ledger_keyring_active(const struct ledger_keyring *kr)
{
	long long now = ledger_now_ms();
	size_t n = 0;
	for (size_t i = 0; i < kr->n; i++)
		if (!kr->e[i].key.revoked_ms && !(kr->e[i].key.expires_ms && now >= kr->e[i].key.expires_ms))
			n++;
	return n;
}

int ledger_keyring_refresh(struct ledger_keyring *kr, char **err)
{
	struct keyring_entry *e;
	size_t n;
	long long version;
	if (keyring_read(kr->l, &e, &n, &version, err) < 0)
		return LEDGER_ERROR;
	/* Spends only grow: one ahead in memory has rows still queued. */
	for (size_t i = 0; i < n; i++) {
		struct keyring_entry *old = entry_by_id(kr->e, kr->n, e[i].key.id);
		if (old && old->key.spend > e[i].key.spend)
			e[i].key.spend = old->key.spend;
	}
	entries_free(kr->e, kr->n);
	kr->e = e;
	kr->n = n;
	kr->version = version;
	return 0;
}

int ledger_keyring_refresh_if_changed(struct ledger_keyring *kr, long long now_ms, char **err)
{
	if (kr->checked && now_ms - kr->checked_ms < 1000 && now_ms >= kr->checked_ms)
		return 0;
	kr->checked = true;
	kr->checked_ms = now_ms;
	long long v = query_int(kr->l, ST_KEYS_VERSION, -1);
	if (v < 0) {
		set_err(err, "ledger %s: cannot read keys_version: %s", kr->l->path,
		        sqlite3_errmsg(kr->l->db));
		return LEDGER_ERROR;
	}
	if (v != kr->version)
		return ledger_keyring_refresh(kr, err) < 0 ? LEDGER_ERROR : 1;
	sqlite3_stmt *st = cached(kr->l, ST_KEYS_SPENT, err);
	if (!st)
		return LEDGER_ERROR;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		struct keyring_entry *e = id ? entry_by_id(kr->e, kr->n, id) : NULL;
		ledger_money spend = sqlite3_column_int64(st, 1);
		if (e && spend > e->key.spend)
			e->key.spend = spend;
	}
	if (rc != SQLITE_DONE)
		rc = db_err(kr->l, err, "cannot read the spends");
	else
		rc = 0;
	sqlite3_reset(st);
	return rc;
}

/* ---- the writer thread ---- */

struct ledger_writer {
	struct ledger *l; /* the thread's alone once started */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t wake; /* rows queued, or stop */
	pthread_cond_t done; /* a batch ended */
	struct ledger_row *q;
	size_t n, cap;
	unsigned long long submitted, committed, failed, dropped, failed_seen;
	bool stopping;
	bool idle;    /* the thread waits for a first row: only then is waking it worth a syscall */
	int flushers; /* callers in ledger_writer_flush: no lingering */
	char last_error[256];
};

static void row_copy(struct ledger_row *dst, const struct ledger_row *src)
{
	*dst = *src;
	dst->key_id = src->key_id ? xstrdup(src->key_id) : NULL;
	dst->provider = xstrdup(or_empty(src->provider));
	dst->model = xstrdup(or_empty(src->model));
	dst->dialect = xstrdup(or_empty(src->dialect));
}

static void rows_free(struct ledger_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)rows[i].key_id);
		free((char *)rows[i].provider);
		free((char *)rows[i].model);
		free((char *)rows[i].dialect);
	}
	free(rows);
}

/* A row waits at most this long for others to share its transaction
 * (the promise is "committed within about 50 ms"). */
#define WRITER_LINGER_MS 10
#define WRITER_BATCH 512
/* A batch of a few hundred rows is a millisecond or more of CPU, and the
 * scheduler lets the writer run it out while an event loop on the same core
 * waits with a request in hand (p99 at one connection on one CPU: 550-800 us
 * against 150-170 us without the ledger). Giving up the core every few rows
 * (~30 us of work) bounds that wait; a yield with nothing else to run costs
 * well under a microsecond. */
#define WRITER_YIELD_ROWS 8

static void *writer_main(void *arg)
{
	struct ledger_writer *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		w->idle = true;
		while (w->n == 0 && !w->stopping)
			pthread_cond_wait(&w->wake, &w->mu);
		w->idle = false;
		if (w->n == 0)
			break; /* stopping, and nothing is left */
		/* Under load, rows come faster than transactions: gather what
		 * arrives in the next few milliseconds into the same one. */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += WRITER_LINGER_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!w->stopping && !w->flushers && w->n < WRITER_BATCH &&
		       pthread_cond_timedwait(&w->wake, &w->mu, &until) == 0)
			;
		struct ledger_row *rows = w->q;
		size_t n = w->n;
		w->q = NULL;
		w->n = w->cap = 0;
		pthread_mutex_unlock(&w->mu);

		/* Another writer can hold the lock past the busy timeout (a
		 * long `arouter usage` is only a reader, but a stuck process
		 * is not); the rows wait for it rather than being lost. */
		char *err = NULL;
		int rc = -1;
		for (int attempt = 0; attempt < 6; attempt++) {
			free(err);
			err = NULL;
			w->l->last_code = SQLITE_OK;
			rc = ledger_record_many(w->l, rows, n, &err);
			if (rc == 0 || w->l->last_code != SQLITE_BUSY)
				break;
		}
		rows_free(rows, n);

		pthread_mutex_lock(&w->mu);
		if (rc == 0) {
			w->committed += n;
		} else {
			w->failed += n;
			snprintf(w->last_error, sizeof w->last_error, "%s", err ? err : "cannot record");
		}
		free(err);
		pthread_cond_broadcast(&w->done);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

struct ledger_writer *ledger_writer_start(const char *path, char **err)
{
	if (!sqlite3_threadsafe()) {
		set_err(err, "the SQLite library was built without thread support");
		return NULL;
	}
	struct ledger *l = ledger_open(path, err);
	if (!l)
		return NULL;
	struct ledger_writer *w = xcalloc(1, sizeof *w);
	w->l = l;
	l->yield_every = WRITER_YIELD_ROWS;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->wake, NULL);
	/* Timed flushes measure their wait on the monotonic clock. */
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->done, &ca);
	pthread_condattr_destroy(&ca);
	/* Signals belong to the event loop's thread; the new thread inherits
	 * this mask. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&w->thread, NULL, writer_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		set_err(err, "cannot start the ledger writer thread: %s", strerror(rc));
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->wake);
		pthread_cond_destroy(&w->done);
		ledger_close(l);
		free(w);
		return NULL;
	}
	return w;
}

void ledger_writer_submit(struct ledger_writer *w, const struct ledger_row *row)
{
	struct ledger_row copy;
	row_copy(&copy, row);
	pthread_mutex_lock(&w->mu);
	if (w->n >= LEDGER_WRITER_MAX_QUEUE) {
		w->dropped++;
		pthread_mutex_unlock(&w->mu);
		free((char *)copy.key_id);
		free((char *)copy.provider);
		free((char *)copy.model);
		free((char *)copy.dialect);
		return;
	}
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		w->q = xrealloc(w->q, w->cap * sizeof *w->q);
	}
	w->q[w->n++] = copy;
	w->submitted++;
	/* A lingering thread takes the row with its batch anyway. */
	if (w->idle || w->n >= WRITER_BATCH)
		pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->mu);
}

int ledger_writer_flush(struct ledger_writer *w, long timeout_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	if (timeout_ms >= 0) {
		until.tv_sec += timeout_ms / 1000;
		until.tv_nsec += (timeout_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&w->mu);
	unsigned long long target = w->submitted;
	w->flushers++;
	pthread_cond_signal(&w->wake);
	bool late = false;
	while (w->committed + w->failed < target && !late) {
		if (timeout_ms < 0)
			pthread_cond_wait(&w->done, &w->mu);
		else
			late = pthread_cond_timedwait(&w->done, &w->mu, &until) == ETIMEDOUT;
	}
	w->flushers--;
	if (w->committed + w->failed < target) {
		pthread_mutex_unlock(&w->mu);
		return 1;
	}
	int rc = w->failed > w->failed_seen ? -1 : 0;
	w->failed_seen = w->failed;
	pthread_mutex_unlock(&w->mu);
	return rc;
}

void ledger_writer_stats(struct ledger_writer *w, struct ledger_writer_stats *out)
{
	pthread_mutex_lock(&w->mu);
	out->submitted = w->submitted;
	out->committed = w->committed;
	out->failed = w->failed;
	out->dropped = w->dropped;
	snprintf(out->last_error, sizeof out->last_error, "%s", w->last_error);
	pthread_mutex_unlock(&w->mu);
}

void ledger_writer_stop(struct ledger_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->mu);
	/* The thread commits what is queued before it sees stopping. */
	pthread_join(w->thread, NULL);
	rows_free(w->q, w->n);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->wake);
	pthread_cond_destroy(&w->done);
	ledger_close(w->l);
	free(w);
}
