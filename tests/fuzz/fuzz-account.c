/* fuzz-account.c - the account API (account.h) answered from a ledger, as
 * the proxy serves /api/v1/ once the admin key is checked, and the other
 * request-derived checks the listener makes with exported helpers:
 * account_path (which paths are the account API), account_admin_key_ok
 * (the admin key, constant time) and ledger_keyring_check (a client key
 * presented in a request, against the keys the requests created).
 *
 * The listener's own checks on the request (path → dialect, Host and
 * Origin, where the key is presented, passthrough path safety) are
 * fuzz-listener's.
 *
 * Input: up to eight requests separated by NUL bytes; each is
 * "METHOD\nPATH\nQUERY\nBODY" (the body is the rest, newlines and all).
 * Every input starts from the same ledger: a copy of a template with usage
 * rows and two keys, so that an input replays the same way. Every answer
 * must be a JSON object with a status the API documents. */
#include "config.h"

#include "account.h"
#include "ledger.h"
#include "util.h"
#include "fuzz.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];
static char db[128], wal[160], shm[160];
static char *template;
static size_t template_len;

static void cleanup(void)
{
	unlink(db);
	unlink(wal);
	unlink(shm);
	rmdir(dir);
}

static void die_setup(const char *what, const char *err)
{
	fprintf(stderr, "fuzz-account: %s: %s\n", what, err ? err : "?");
	abort();
}

/* The template ledger: rows of two days, three providers, with and without
 * usage and cost and key; an active key and a revoked one. */
static void make_template(void)
{
	char *err = NULL;
	struct ledger *l = ledger_open(db, &err);
	if (!l)
		die_setup("ledger_open", err);
	const char *const models[] = {"openai/gpt-4o*", "anthropic/*"};
	struct ledger_key_spec spec = {.name = "team", .budget = ledger_money_from_usd(5), .rpm = 60,
				       .tpm = 1000, .models = models, .n_models = 2};
	struct ledger_key k;
	char *secret = NULL;
	if (ledger_key_create(l, &spec, &secret, &k, &err) != LEDGER_OK)
		die_setup("ledger_key_create", err);
	free(secret);
	struct ledger_key_spec spec2 = {.name = "old", .budget = -1};
	struct ledger_key k2;
	if (ledger_key_create(l, &spec2, &secret, &k2, &err) != LEDGER_OK ||
	    ledger_key_revoke(l, "old", NULL, &err) != LEDGER_OK)
		die_setup("second key", err);
	free(secret);
	const char *const providers[] = {"openai", "anthropic", "google"};
	const char *const mods[] = {"gpt-4o", "claude-sonnet-4-6", "gemini-2.5-flash"};
	for (int i = 0; i < 12; i++) {
		struct ledger_row r = {
			.time_ms = 1767225600000LL + (long long)i * 3600 * 1000 * 7, /* 2026-01-01 on */
			.key_id = i % 3 == 0 ? k.id : i % 3 == 1 ? k2.id : NULL,
			.provider = providers[i % 3],
			.model = mods[i % 3],
			.dialect = i % 2 ? "openai" : "anthropic",
			.prompt_tokens = i % 4 == 3 ? -1 : 100 + i,
			.completion_tokens = i % 4 == 3 ? -1 : 10 + i,
			.cached_tokens = i % 2 ? 5 : -1,
			.reasoning_tokens = i % 5 ? 0 : 3,
			.usage_known = i % 4 != 3,
			.cost_usd = i % 3 == 2 ? -1 : 0.000123 * i,
			.latency_ms = 100 + i,
			.first_token_ms = i % 2 ? -1 : 10,
			.status = i % 6 == 5 ? 502 : 200,
			.streamed = i % 2,
			.attempts = 1 + i % 2,
		};
		if (ledger_record(l, &r, &err) < 0)
			die_setup("ledger_record", err);
	}
	ledger_key_clear(&k);
	ledger_key_clear(&k2);
	ledger_close(l);
	template = read_file(db, &template_len);
	if (!template)
		die_setup("read the template", db);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_env_init();
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(dir, sizeof dir, "%s/arouter-fuzz-XXXXXX", base);
	if (!mkdtemp(dir))
		abort();
	snprintf(db, sizeof db, "%s/ledger.db", dir);
	snprintf(wal, sizeof wal, "%s-wal", db);
	snprintf(shm, sizeof shm, "%s-shm", db);
	atexit(cleanup);
	setenv("XDG_DATA_HOME", dir, 1);
	make_template();
	return 0;
}

static struct ledger *fresh_ledger(void)
{
	unlink(wal);
	unlink(shm);
	int fd = open(db, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, template, template_len) != (ssize_t)template_len)
		abort();
	close(fd);
	char *err = NULL;
	struct ledger *l = ledger_open(db, &err);
	if (!l)
		die_setup("reopen", err);
	return l;
}

static const int documented[] = {200, 201, 400, 404, 405, 409, 500};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ledger *l = fresh_ledger();
	const uint8_t *p = data;
	size_t n = size;
	char *last_path = NULL;
	for (int i = 0; i < 8 && (n > 0 || i == 0); i++) {
		const uint8_t *end = memchr(p, '\0', n);
		size_t len = end ? (size_t)(end - p) : n;
		const uint8_t *q = p;
		size_t m = len;
		char *method = fuzz_piece(&q, &m, '\n');
		char *path = fuzz_piece(&q, &m, '\n');
		char *query = fuzz_piece(&q, &m, '\n');
		json_object *resp = NULL;
		int status = account_handle(l, method, path, query, (const char *)q, m, &resp);
		bool ok = false;
		for (size_t j = 0; j < sizeof documented / sizeof documented[0]; j++)
			ok |= status == documented[j];
		if (!ok)
			fprintf(stderr, "status %d for %s %s\n", status, method, path);
		FUZZ_ASSERT(ok);
		FUZZ_ASSERT(resp != NULL && json_object_is_type(resp, json_type_object));
		FUZZ_ASSERT(json_object_to_json_string(resp) != NULL);
		json_object_put(resp);
		(void)account_path(path);
		free(last_path);
		last_path = path;
		free(method);
		free(query);
		p += len + (end ? 1 : 0);
		n -= len + (end ? 1 : 0);
	}

	/* The last request's path as a presented admin key and client key. */
	FUZZ_ASSERT(!account_admin_key_ok("ar-admin-0123456789", last_path) ||
		    strcmp(last_path, "ar-admin-0123456789") == 0);
	FUZZ_ASSERT(!account_admin_key_ok(last_path, NULL));
	char *err = NULL;
	struct ledger_keyring *kr = ledger_keyring_load(l, &err);
	if (!kr)
		die_setup("ledger_keyring_load", err);
	const struct ledger_key *key = NULL;
	enum ledger_auth a = ledger_keyring_check(kr, last_path, "openai/gpt-4o", &key);
	FUZZ_ASSERT(a == LEDGER_AUTH_UNKNOWN); /* the secrets are random: never guessed */
	(void)ledger_keyring_active(kr);
	ledger_keyring_free(kr);
	free(last_path);
	ledger_close(l);
	return 0;
}
