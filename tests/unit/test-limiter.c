/* test-limiter.c - rpm and tpm per key: admission up to the limit, the
 * Retry-After of a rejection, refill over time, tokens charged after the
 * response, the header values and eviction. */
#include "config.h"

#include "limiter.h"

#include <pthread.h>
#include "tap.h"

#include <stdio.h>

static struct limiter_verdict v;

static bool check(struct limiter *l, const char *key, int64_t rpm, int64_t tpm, int64_t now)
{
	return limiter_check_request(l, key, rpm, tpm, now, &v);
}

static void test_unlimited(void)
{
	struct limiter *l = limiter_new(0);
	bool all = true;
	for (int i = 0; i < 1000; i++)
		all &= check(l, "k", 0, 0, 0);
	ok(all, "no limits: everything is admitted");
	is_int(v.requests.limit, 0, "limit 0 means unlimited");
	is_int(limiter_size(l), 0, "and no state is kept");
	limiter_charge_tokens(l, "k", 1000, 0);
	is_int(limiter_size(l), 0, "charging an unlimited key keeps none either");
	limiter_free(l);
}

static void test_rpm(void)
{
	struct limiter *l = limiter_new(0);
	bool admitted = true, counts_down = true;
	for (int i = 0; i < 5; i++) {
		admitted &= check(l, "k", 5, 0, 1000);
		counts_down &= v.requests.remaining == 4 - i;
	}
	ok(admitted, "5 rpm: five requests at once are admitted");
	ok(counts_down, "Remaining counts down 4, 3, 2, 1, 0");
	is_int(v.requests.limit, 5, "Limit is the rpm");
	is_int(v.requests.reset_ms, 60000, "after a full burst the quota is whole again in a minute");
	ok(!check(l, "k", 5, 0, 1000), "the sixth is rejected");
	is_int(v.reason, LIMITER_RPM, "because of rpm");
	is_int(v.retry_after_ms, 12000, "one request frees every 12 s");
	is_int(v.retry_after_s, 12, "Retry-After in seconds");
	is_int(v.requests.remaining, 0, "Remaining 0");

	for (int i = 0; i < 50; i++)
		check(l, "k", 5, 0, 5000);
	ok(!v.admitted, "rejected requests...");
	is_int(v.retry_after_ms, 8000, "... are not counted: the wait only shrinks");
	ok(!check(l, "k", 5, 0, 12999), "1 ms before the slot frees: rejected");
	is_int(v.retry_after_ms, 1, "with 1 ms to go");
	is_int(v.retry_after_s, 1, "Retry-After is at least 1 s");
	ok(check(l, "k", 5, 0, 13000), "the window slides: one more at exactly 12 s");
	is_int(v.requests.remaining, 0, "and none left");
	ok(!check(l, "k", 5, 0, 13000), "the next one waits again");
	is_int(v.retry_after_ms, 12000, "another 12 s");

	ok(check(l, "other", 5, 0, 13000), "another key has its own quota");
	is_int(v.requests.remaining, 4, "full");

	int n = 0;
	while (check(l, "k", 5, 0, 73000))
		n++;
	is_int(n, 5, "a minute after the last request the whole burst is back");

	/* The limit is the caller's, per call: lowering it applies at once. */
	check(l, "lower", 10, 0, 0);
	check(l, "lower", 10, 0, 0);
	check(l, "lower", 10, 0, 0);
	ok(!check(l, "lower", 2, 0, 0), "a lowered limit applies to what was already sent");
	ok(check(l, "lower", 100, 0, 0), "a raised one too");
	limiter_free(l);
}

static void test_tpm(void)
{
	struct limiter *l = limiter_new(0);
	ok(check(l, "k", 0, 1000, 0), "tpm: the first request is admitted (cost unknown yet)");
	is_int(v.tokens.remaining, 1000, "1000 tokens left");
	limiter_charge_tokens(l, "k", 999, 10);
	ok(check(l, "k", 0, 1000, 10), "one token left: admitted");
	is_int(v.tokens.remaining, 1, "Remaining tokens 1");
	limiter_charge_tokens(l, "k", 1, 10);
	ok(!check(l, "k", 0, 1000, 10), "the minute's tokens spent: rejected");
	is_int(v.reason, LIMITER_TPM, "because of tpm");
	is_int(v.retry_after_ms, 60, "a token frees every 60 ms");
	is_int(v.tokens.reset_ms, 60000, "whole again in a minute");
	ok(check(l, "k", 0, 1000, 70), "admitted once a token is back");

	limiter_charge_tokens(l, "k", 3000, 70);
	ok(!check(l, "k", 0, 1000, 70), "a response bigger than the budget leaves a debt");
	is_int(v.retry_after_ms, 180000, "3000 tokens over budget are paid back at 1000 a minute");
	is_int(v.retry_after_s, 180, "Retry-After rounds up");
	is_int(v.tokens.remaining, 0, "Remaining never negative");
	ok(!check(l, "k", 0, 1000, 70 + 180000 - 1), "not a millisecond before");
	ok(check(l, "k", 0, 1000, 70 + 180000), "admitted when the debt is paid");

	limiter_charge_tokens(l, "never-checked", 100, 0);
	is_int(limiter_size(l), 1, "charging a key never checked does nothing");
	limiter_charge_tokens(l, "k", -5, 0);
	limiter_charge_tokens(l, "k", INT64_MAX, 200000);
	ok(!check(l, "k", 0, 1000, 200000), "an absurd charge saturates instead of overflowing");
	ok(v.retry_after_ms > 0, "and gives a positive wait");
	limiter_free(l);

	l = limiter_new(0);
	for (int i = 0; i < 59; i++)
		check(l, "k", 60, 600, 0);
	limiter_charge_tokens(l, "k", 600, 0);
	ok(!check(l, "k", 60, 600, 0), "both limits: rejected");
	is_int(v.reason, LIMITER_TPM, "by tpm, the one spent");
	is_int(v.retry_after_ms, 100, "a token frees in 100 ms");
	is_int(v.requests.remaining, 1, "the requests quota is still reported");
	ok(check(l, "k", 60, 600, 100), "after 100 ms a token is back");
	limiter_charge_tokens(l, "k", 1, 100);
	ok(!check(l, "k", 60, 600, 100), "then both are spent");
	is_int(v.reason, LIMITER_RPM, "the longer wait decides: rpm");
	is_int(v.retry_after_ms, 900, "900 ms");
	limiter_free(l);
}

static void test_eviction(void)
{
	struct limiter *l = limiter_new(3);
	check(l, "a", 1, 0, 0);   /* busy for a minute */
	check(l, "b", 60, 0, 10); /* drained by 1010 */
	check(l, "c", 60, 0, 20); /* drained by 1020 */
	is_int(limiter_size(l), 3, "three keys held");
	check(l, "d", 60, 0, 5000);
	is_int(limiter_size(l), 2, "a new key in a full table evicts the drained ones");
	ok(!check(l, "a", 1, 0, 5000), "the busy key was kept although least recently seen");

	check(l, "d", 60, 0, 5050);
	check(l, "e", 60, 0, 5100);
	is_int(limiter_size(l), 3, "full again: a, d, e");
	check(l, "f", 60, 0, 5200);
	is_int(limiter_size(l), 3, "no key drained: the table stays bounded");
	ok(check(l, "a", 1, 0, 5300), "by evicting the least recently seen, whose debt is forgotten");

	is_int(limiter_sweep(l, 5300), 0, "sweep: nothing drained yet");
	is_int(limiter_sweep(l, 200000), 3, "sweep: everything drained after long enough");
	is_int(limiter_size(l), 0, "empty");

	bool bounded = true;
	char key[32];
	for (int i = 0; i < 10000; i++) {
		snprintf(key, sizeof key, "key-%d", i);
		check(l, key, 10, 100, i);
		bounded &= limiter_size(l) <= 3;
	}
	ok(bounded, "10000 keys through a 3-key table: never more than 3 held");
	limiter_free(l);
}

static void test_reset_epoch(void)
{
	is_int(limiter_reset_epoch_s(1735689600000LL, 60000), 1735689660, "epoch seconds of the reset");
	is_int(limiter_reset_epoch_s(1735689600001LL, 0), 1735689601, "rounded up");
	is_int(limiter_reset_epoch_s(1735689600000LL, 0), 1735689600, "exact");
}

/* The proxy's event loops share one limiter: concurrent checks on one key
 * must admit exactly its limit (a lost update would admit more). */
struct hammer {
	struct limiter *l;
	int admitted;
};

static void *hammer(void *arg)
{
	struct hammer *h = arg;
	struct limiter_verdict verdict;
	for (int i = 0; i < 200000; i++) {
		if (limiter_check_request(h->l, "shared", 300000, 0, 1000, &verdict))
			h->admitted++;
		limiter_charge_tokens(h->l, "shared", 1, 1000);
	}
	return NULL;
}

static void test_threads(void)
{
	struct limiter *l = limiter_new(0);
	struct hammer hs[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		hs[i] = (struct hammer){.l = l};
		pthread_create(&t[i], NULL, hammer, &hs[i]);
	}
	int total = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		total += hs[i].admitted;
	}
	is_int(total, 300000, "four threads, 800000 checks at one instant: exactly the 300000 a minute admitted");
	is_int(limiter_size(l), 1, "one key held");
	limiter_free(l);
}

int main(void)
{
	test_threads();
	test_unlimited();
	test_rpm();
	test_tpm();
	test_eviction();
	test_reset_epoch();
	return tap_done();
}
