/* test-keypool.c - rotation, dead keys, resting keys, breakers per key,
 * the all-unavailable answer and redaction in messages and JSON. */
#include "config.h"

#include "keypool.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define K0 "sk-proj-aaaaaaaaaaaaaaaa0000"
#define K1 "sk-proj-bbbbbbbbbbbbbbbb1111"
#define K2 "sk-proj-cccccccccccccccc2222"

static const char *const three[] = {K0, K1, K2};

/* Picks and reports success; returns the index or -1 (as long long for is_int). */
static long long pick_ok(struct keypool *p, int64_t now)
{
	size_t i;
	if (keypool_pick(p, now, &i) != KEYPOOL_PICKED)
		return -1;
	keypool_report(p, i, now, 200, -1, NULL);
	return (long long)i;
}

static bool leaks_secret(const char *s)
{
	return s && (strstr(s, "aaaaaaaa") || strstr(s, "bbbbbbbb") || strstr(s, "cccccccc"));
}

static void test_rotation(void)
{
	struct keypool *p = keypool_new(three, 3, NULL);
	is_int(keypool_size(p), 3, "three keys");
	is_str(keypool_key(p, 1), K1, "keypool_key gives the secret for the header");
	is_str(keypool_key_redacted(p, 1), "sk-proj-…1111", "and its redacted form");
	ok(keypool_key(p, 3) == NULL, "out of range: NULL");

	bool in_order = true;
	int counts[3] = {0};
	for (int r = 0; r < 300; r++) {
		long long i = pick_ok(p, r);
		in_order &= i == r % 3;
		if (i >= 0)
			counts[i]++;
	}
	ok(in_order, "round-robin: 0, 1, 2, 0, ...");
	ok(counts[0] == 100 && counts[1] == 100 && counts[2] == 100, "300 picks: 100 each");

	/* Picks without reports (concurrent requests) rotate too. */
	size_t a, b, c, d;
	keypool_pick(p, 400, &a);
	keypool_pick(p, 400, &b);
	keypool_pick(p, 400, &c);
	keypool_pick(p, 400, &d);
	ok(a != b && b != c && a != c && d == a, "concurrent picks spread over the keys");
	for (size_t i = 0; i < 3; i++)
		keypool_release(p, i, 400);
	keypool_free(p);

	char owned[] = K0;
	const char *one[] = {owned};
	p = keypool_new(one, 1, NULL);
	memset(owned, 'x', sizeof owned - 1);
	is_str(keypool_key(p, 0), K0, "the pool keeps its own copy");
	is_int(pick_ok(p, 0), 0, "a single key is always the pick");
	is_int(pick_ok(p, 1), 0, "and again");
	keypool_free(p);
}

static void test_dead(void)
{
	struct keypool *p = keypool_new(three, 3, NULL);
	size_t i;
	char *msg = NULL;
	keypool_pick(p, 0, &i);
	is_int(i, 0, "first pick is key 0");
	is_int(keypool_report(p, 0, 0, 401, -1, &msg), KEYPOOL_KEY_DEAD, "401 kills the key");
	ok(msg && strstr(msg, "sk-proj-…0000") && strstr(msg, "401") && strstr(msg, "2 of 3 keys left"),
	   "the message names the key redacted, the status and what is left");
	ok(!leaks_secret(msg), "and not the secret");
	if (msg)
		printf("#   %s\n", msg);
	free(msg);

	bool never = true;
	for (int r = 0; r < 100; r++)
		never &= pick_ok(p, r) != 0;
	ok(never, "a dead key is never picked again");

	/* A second request that was already out with the dead key. */
	is_int(keypool_report(p, 0, 100, 401, -1, &msg), KEYPOOL_KEY_DEAD, "a late 401 for a dead key");
	ok(msg == NULL, "says nothing twice");

	keypool_pick(p, 200, &i);
	size_t refused = i;
	is_int(keypool_report(p, i, 200, 403, -1, &msg), KEYPOOL_KEY_RESTING,
	       "403 rests the key (it may concern one model only)");
	ok(msg && strstr(msg, "403") && strstr(msg, "not used for 600s"), "and says for how long");
	free(msg);
	ok(!keypool_rate_limited(p, 201), "a 403 is not a rate limit");
	keypool_pick(p, 300, &i);
	ok(i != refused, "the other live key is picked");
	keypool_report(p, i, 300, 401, -1, NULL);
	is_int(keypool_pick(p, 400, &i), KEYPOOL_WAIT, "only the refused key is left: it waits");
	is_int(keypool_pick_resting(p, 400, &i), KEYPOOL_PICKED, "and is used when nothing else is left");
	is_int(i, refused, "that key");
	is_int(keypool_available_at(p, 400), 200 + KEYPOOL_FORBIDDEN_REST_MS, "free again after its rest");
	keypool_report(p, i, 400, 200, -1, NULL);
	is_int(keypool_pick(p, 500, &i), KEYPOOL_PICKED, "a success ends the rest");
	keypool_report(p, i, 500, 401, -1, NULL);
	is_int(keypool_pick(p, 600, &i), KEYPOOL_DEAD, "every key dead: KEYPOOL_DEAD");
	is_int(keypool_available_at(p, 600), -1, "and never available");
	keypool_free(p);

	/* Keyless access refused with 403 has no key to rest: it is dead. */
	struct keypool *none = keypool_new(NULL, 0, NULL);
	keypool_pick(none, 0, &i);
	is_int(keypool_report(none, i, 0, 403, -1, NULL), KEYPOOL_KEY_DEAD, "keyless 403: dead");
	keypool_free(none);
}

static void test_resting(void)
{
	const char *two[] = {K0, K1};
	struct keypool *p = keypool_new(two, 2, NULL);
	size_t i;
	char *msg = NULL;
	keypool_pick(p, 1000, &i);
	is_int(keypool_report(p, i, 1000, 429, 5000, &msg), KEYPOOL_KEY_RESTING, "429 rests the key");
	ok(msg && strstr(msg, "sk-proj-…0000") && strstr(msg, "5s"), "says which key and for how long");
	ok(!leaks_secret(msg), "redacted");
	free(msg);

	bool only_other = true;
	for (int64_t t = 1000; t < 6000; t += 500)
		only_other &= pick_ok(p, t) == 1;
	ok(only_other, "a resting key is skipped");
	ok(pick_ok(p, 5999) == 1, "still resting 1 ms before its reset");
	ok(pick_ok(p, 6000) == 0, "picked again at exactly its reset time");

	keypool_pick(p, 7000, &i);
	keypool_report(p, i, 7000, 429, 3000, NULL);
	keypool_pick(p, 7000, &i);
	keypool_report(p, i, 7000, 429, -1, NULL);
	is_int(keypool_pick(p, 7000, &i), KEYPOOL_WAIT, "every key resting: KEYPOOL_WAIT");
	is_int(keypool_available_at(p, 7000), 10000, "available when the earliest reset comes");
	is_int(keypool_pick(p, 9999, &i), KEYPOOL_WAIT, "not a millisecond earlier");
	ok(keypool_pick(p, 10000, &i) == KEYPOOL_PICKED, "picked at that time");
	keypool_report(p, i, 10000, 200, -1, NULL);
	is_int(keypool_available_at(p, 10001), 10001, "a usable key: available now");
	ok(keypool_pick(p, 11999, &i) == KEYPOOL_PICKED && i == 1,
	   "a 429 without a reset rests the default 5 s...");
	keypool_report(p, i, 11999, 200, -1, NULL);
	ok(keypool_pick(p, 11999, &i) == KEYPOOL_PICKED && i == 1, "... not less");
	keypool_report(p, i, 11999, 200, -1, NULL);
	ok(keypool_pick(p, 12000, &i) == KEYPOOL_PICKED && i == 0, "back at 7000 + 5000");
	keypool_report(p, i, 12000, 200, -1, NULL);
	keypool_free(p);
}

static void test_breakers(void)
{
	struct breaker_config bc = {.failure_threshold = 3, .cooldown_ms = 10000, .max_cooldown_ms = 10000};
	const char *one[] = {K0};
	struct keypool *p = keypool_new(one, 1, &bc);
	size_t i;
	char *msg = NULL;
	for (int r = 0; r < 2; r++) {
		keypool_pick(p, 0, &i);
		is_int(keypool_report(p, i, 0, 503, -1, &msg), KEYPOOL_KEY_FAILED,
		       "503 #%d counts against the key", r + 1);
		ok(msg == NULL, "no message before it opens");
	}
	keypool_pick(p, 0, &i);
	is_int(keypool_report(p, i, 0, 400, -1, NULL), KEYPOOL_KEY_OK,
	       "400 is the request's fault, not the key's");
	for (int r = 0; r < 2; r++) {
		keypool_pick(p, 0, &i);
		keypool_report(p, i, 0, 500, -1, NULL);
	}
	is_int(keypool_pick(p, 0, &i), KEYPOOL_PICKED, "failures around a 400 are not consecutive");
	is_int(keypool_report(p, i, 0, 0, -1, &msg), KEYPOOL_KEY_OPENED,
	       "a network failure (status 0) is the third in a row: opens");
	ok(msg && strstr(msg, "sk-proj-…0000") && strstr(msg, "3 failures") && strstr(msg, "10s"),
	   "the message says so");
	ok(!leaks_secret(msg), "redacted");
	free(msg);
	is_int(keypool_pick(p, 5000, &i), KEYPOOL_WAIT, "breaker open: wait");
	is_int(keypool_available_at(p, 5000), 10000, "until the cooldown ends");
	ok(keypool_pick(p, 10000, &i) == KEYPOOL_PICKED, "the probe");
	is_int(keypool_pick(p, 10000, &i), KEYPOOL_WAIT, "only one probe");
	keypool_release(p, 0, 10001);
	ok(keypool_pick(p, 10002, &i) == KEYPOOL_PICKED, "a released probe frees the slot");
	is_int(keypool_report(p, i, 10003, 200, -1, NULL), KEYPOOL_KEY_OK, "the probe succeeds");
	ok(keypool_pick(p, 10004, &i) == KEYPOOL_PICKED, "closed again");
	keypool_release(p, i, 10004);
	keypool_free(p);

	const char *two[] = {K0, K1};
	p = keypool_new(two, 2, &bc);
	for (int r = 0; r < 3; r++)
		keypool_report(p, 0, 0, 529, -1, NULL);
	bool skipped = true;
	for (int r = 0; r < 10; r++)
		skipped &= pick_ok(p, 100 + r) == 1;
	ok(skipped, "a key with an open breaker is skipped while the other serves");
	keypool_report(p, 1, 200, 429, 50000, NULL);
	is_int(keypool_pick(p, 200, &i), KEYPOOL_WAIT, "one open, one resting: wait");
	is_int(keypool_available_at(p, 200), 10000, "the breaker's cooldown ends first");
	keypool_free(p);
}

static void test_keyless(void)
{
	struct keypool *p = keypool_new(NULL, 0, NULL);
	size_t i = 99;
	is_int(keypool_size(p), 1, "a keyless pool has one slot");
	ok(keypool_pick(p, 0, &i) == KEYPOOL_PICKED && i == 0, "and picks it");
	ok(keypool_key(p, 0) == NULL, "with no key");
	char *msg = NULL;
	keypool_report(p, 0, 0, 429, 1000, &msg);
	ok(msg && strstr(msg, "keyless"), "messages say keyless");
	free(msg);
	keypool_free(p);
}

static void test_json(void)
{
	struct breaker_config bc = {.failure_threshold = 1, .cooldown_ms = 10000, .max_cooldown_ms = 10000};
	const char *four[] = {K0, K1, K2, "AIzaSyAbcdefghijklmnop"};
	struct keypool *p = keypool_new(four, 4, &bc);
	keypool_report(p, 0, 0, 401, -1, NULL);
	keypool_report(p, 1, 0, 429, 2000, NULL);
	keypool_report(p, 2, 0, 500, -1, NULL);
	keypool_report(p, 3, 0, 200, -1, NULL);
	json_object *j = keypool_json(p, 500);
	const char *text = json_object_to_json_string(j);
	ok(!leaks_secret(text) && !strstr(text, "Abcdefghijklmnop"), "no secret in the JSON");
	is_int(json_object_get_int(json_object_object_get(j, "total")), 4, "total");
	is_int(json_object_get_int(json_object_object_get(j, "usable")), 1, "usable now");
	json_object *keys = json_object_object_get(j, "keys");
	static const char *const want_key[] = {"sk-proj-…0000", "sk-proj-…1111", "sk-proj-…2222", "AIz…mnop"};
	static const char *const want_state[] = {"dead", "resting", "open", "ok"};
	for (size_t k = 0; k < 4; k++) {
		json_object *e = json_object_array_get_idx(keys, k);
		is_str(json_object_get_string(json_object_object_get(e, "key")), want_key[k],
		       "json key %zu redacted", k);
		is_str(json_object_get_string(json_object_object_get(e, "state")), want_state[k],
		       "json key %zu state", k);
	}
	json_object *e = json_object_array_get_idx(keys, 1);
	is_int(json_object_get_int64(json_object_object_get(e, "available_in_ms")), 1500,
	       "resting: available in");
	is_int(json_object_get_int(json_object_object_get(e, "last_status")), 429, "last status");
	e = json_object_array_get_idx(keys, 2);
	is_str(json_object_get_string(json_object_object_get(json_object_object_get(e, "breaker"), "state")),
	       "open", "the breaker is nested");
	json_object_put(j);
	j = keypool_json(p, 10000);
	e = json_object_array_get_idx(json_object_object_get(j, "keys"), 2);
	is_str(json_object_get_string(json_object_object_get(e, "state")), "half-open",
	       "after the cooldown the key reads half-open");
	is_int(json_object_get_int(json_object_object_get(j, "usable")), 3,
	       "resting over, probe free: 3 usable");
	json_object_put(j);
	keypool_free(p);
}

int main(void)
{
	test_rotation();
	test_dead();
	test_resting();
	test_breakers();
	test_keyless();
	test_json();
	return tap_done();
}
