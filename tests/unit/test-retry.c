/* test-retry.c - classification, backoff with jitter, Retry-After and the
 * providers' rate-limit reset headers, the deadline check. */
#include "config.h"

#include "retry.h"
#include "tap.h"

#include <stdlib.h>

#define NOV_1994 784111777000LL  /* Sun, 06 Nov 1994 08:49:37 GMT */
#define JAN_2025 1735689600000LL /* 2025-01-01T00:00:00Z */

static void test_classify(void)
{
	static const struct {
		long status;
		enum retry_class want;
	} cases[] = {
	    {200, RETRY_OK},       {201, RETRY_OK},       {204, RETRY_OK},       {299, RETRY_OK},
	    {408, RETRY_FAILOVER}, {409, RETRY_FAILOVER}, {429, RETRY_FAILOVER}, {500, RETRY_FAILOVER},
	    {502, RETRY_FAILOVER}, {503, RETRY_FAILOVER}, {504, RETRY_FAILOVER}, {529, RETRY_FAILOVER},
	    {599, RETRY_FAILOVER}, {400, RETRY_FATAL},    {401, RETRY_FATAL},    {402, RETRY_FATAL},
	    {403, RETRY_FATAL},    {404, RETRY_FATAL},    {413, RETRY_FATAL},    {422, RETRY_FATAL},
	    {451, RETRY_FATAL},    {499, RETRY_FATAL},    {100, RETRY_FATAL},    {304, RETRY_FATAL},
	    {0, RETRY_FAILOVER},   {600, RETRY_FAILOVER}, {-1, RETRY_FAILOVER},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		is_str(retry_class_name(retry_classify(cases[i].status, XFER_OK)),
		       retry_class_name(cases[i].want), "status %ld", cases[i].status);
	is_str(retry_class_name(retry_classify(0, XFER_NETWORK)), "failover", "connection error fails over");
	is_str(retry_class_name(retry_classify(0, XFER_TIMEOUT)), "failover", "timeout fails over");
	is_str(retry_class_name(retry_classify(200, XFER_TIMEOUT)), "failover",
	       "a timeout after the status line still fails over");
	is_str(retry_class_name(retry_classify(0, XFER_CANCELLED)), "fatal",
	       "a cancelled transfer is not retried");
	is_str(retry_class_name(retry_classify(200, XFER_ABORTED)), "fatal",
	       "an aborted transfer is not retried");
}

static void test_full_jitter(void)
{
	bool saw_low = false, saw_high = false, in_bounds = true;
	for (uint64_t seed = 0; seed < 2000; seed++) {
		uint64_t rng = seed;
		for (int attempt = 1; attempt <= 8; attempt++) {
			int64_t cap = 100LL << (attempt - 1);
			if (cap > 2000)
				cap = 2000;
			int64_t d = retry_delay_ms(attempt, 100, 2000, -1, &rng);
			if (d < 0 || d > cap) {
				in_bounds = false;
				printf("# seed %llu attempt %d: %lld not in [0, %lld]\n",
				       (unsigned long long)seed, attempt, (long long)d, (long long)cap);
			}
			if (attempt == 3 && d < 40)
				saw_low = true;
			if (attempt == 3 && d > 360)
				saw_high = true;
		}
	}
	ok(in_bounds, "full jitter stays in [0, min(max, base*2^(n-1))] over 2000 seeds and 8 attempts");
	ok(saw_low && saw_high,
	   "and spreads over the whole range (attempt 3: below 10%% and above 90%% seen)");

	uint64_t a = 42, b = 42;
	is_int(retry_delay_ms(2, 100, 2000, -1, &a), retry_delay_ms(2, 100, 2000, -1, &b),
	       "same seed, same delay");
	ok(a == b && a != 42, "the state advances");
	int64_t first = retry_delay_ms(5, 100, 100000, -1, &a), differs = 0;
	for (int i = 0; i < 10; i++)
		differs += retry_delay_ms(5, 100, 100000, -1, &a) != first;
	ok(differs > 0, "successive calls differ");

	uint64_t rng = 7;
	is_int(retry_delay_ms(3, 0, 0, -1, &rng), 0, "zero base: no delay");
	bool capped = true;
	for (int i = 0; i < 200; i++)
		capped &= retry_delay_ms(1000000, 100, 5000, -1, &rng) <= 5000;
	ok(capped, "a huge attempt number is capped at max_ms without overflow");
}

static void test_decorrelated(void)
{
	bool in_bounds = true, grew = false;
	for (uint64_t seed = 0; seed < 2000; seed++) {
		uint64_t rng = seed * 7919;
		int64_t prev = 0;
		for (int attempt = 1; attempt <= 10; attempt++) {
			int64_t hi = (prev < 100 ? 100 : prev) * 3;
			if (hi > 5000)
				hi = 5000;
			int64_t d = retry_delay_decorrelated_ms(prev, 100, 5000, -1, &rng);
			if (d < 100 || d > hi) {
				in_bounds = false;
				printf("# seed %llu: %lld not in [100, %lld]\n", (unsigned long long)seed,
				       (long long)d, (long long)hi);
			}
			if (d > 1000)
				grew = true;
			prev = d;
		}
	}
	ok(in_bounds, "decorrelated jitter stays in [base, min(max, 3*prev)] over 2000 seeds");
	ok(grew, "and grows past the base");
}

static void test_retry_after_delay(void)
{
	uint64_t rng = 1;
	bool floor_held = true;
	for (int i = 0; i < 500; i++)
		floor_held &= retry_delay_ms(1, 100, 1000, 750, &rng) >= 750;
	ok(floor_held, "never sooner than Retry-After");
	is_int(retry_delay_ms(1, 100, 1000, 20000, &rng), 20000,
	       "Retry-After beyond max_ms is still honoured");
	is_int(retry_delay_ms(1, 100, 1000, 60000, &rng), 60000, "exactly the Retry-After cap is waited");
	is_int(retry_delay_ms(1, 100, 1000, 60001, &rng), RETRY_DELAY_FAILOVER, "beyond the cap: fail over");
	is_int(retry_delay_decorrelated_ms(0, 100, 1000, 90000, &rng), RETRY_DELAY_FAILOVER,
	       "decorrelated: beyond the cap: fail over");
	is_int(retry_delay_decorrelated_ms(0, 100, 1000, 5000, &rng), 5000,
	       "decorrelated honours Retry-After");
	ok(retry_after_waitable(-1), "no Retry-After: waitable");
	ok(retry_after_waitable(60000), "60 s: waitable");
	ok(!retry_after_waitable(60001), "over 60 s: fail over");
}

static void test_retry_after_parse(void)
{
	is_int(retry_after_parse("120", 0), 120000, "delta-seconds");
	is_int(retry_after_parse("0", 0), 0, "zero seconds");
	is_int(retry_after_parse("  7 ", 0), 7000, "blanks around it");
	is_int(retry_after_parse("1.5", 0), 1500, "a fraction, leniently");
	is_int(retry_after_parse("0.0001", 0), 1, "fractions round up");
	is_int(retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", NOV_1994 - 5000), 5000, "IMF-fixdate");
	is_int(retry_after_parse("Sunday, 06-Nov-94 08:49:37 GMT", NOV_1994 - 5000), 5000, "RFC 850 date");
	is_int(retry_after_parse("Sun Nov  6 08:49:37 1994", NOV_1994 - 5000), 5000, "asctime date");
	is_int(retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", NOV_1994 + 5000), 0, "a past date: 0");
	is_int(retry_after_parse("Wed, 01 Jan 2025 00:00:00 GMT", JAN_2025 - 1), 1,
	       "a recent date to the ms");
	is_int(retry_after_parse("Thu, 29 Feb 2024 23:59:59 GMT", 1709251199000LL), 0, "leap day");
	is_int(retry_after_parse("99999999999999999999", 0), 1000LL * 1000 * 1000 * 1000,
	       "an absurd number saturates instead of overflowing");

	static const char *const garbage[] = {
	    "",
	    "   ",
	    "soon",
	    "-5",
	    "+5",
	    "5s",
	    "1e3",
	    "12 34",
	    "1.",
	    "Sun, 06 Nov 1994 08:49:37",
	    "Sun, 06 Nov 1994 08:49:37 GMT extra",
	    "Sun, 31 Feb 1994 08:49:37 GMT",
	    "Sun, 06 Foo 1994 08:49:37 GMT",
	    "Sun, 06 Nov 1994 25:49:37 GMT",
	    "Sun, 06 nov 1994 08:49:37 GMT",
	    "2024-01-01T00:00:00Z",
	};
	for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++)
		is_int(retry_after_parse(garbage[i], 0), -1, "garbage '%s' is -1", garbage[i]);
	is_int(retry_after_parse(NULL, 0), -1, "NULL is -1");
}

static void test_duration(void)
{
	is_int(retry_duration_parse("1s"), 1000, "1s");
	is_int(retry_duration_parse("6m0s"), 360000, "6m0s");
	is_int(retry_duration_parse("20ms"), 20, "20ms");
	is_int(retry_duration_parse("1h2m3.5s"), 3723500, "1h2m3.5s");
	is_int(retry_duration_parse("7.66s"), 7660, "7.66s is exact, not 7661");
	is_int(retry_duration_parse("2m59.56s"), 179560, "2m59.56s");
	is_int(retry_duration_parse("0"), 0, "bare 0");
	is_int(retry_duration_parse("0s"), 0, "0s");
	is_int(retry_duration_parse("1.5ms"), 2, "sub-millisecond rounds up");
	is_int(retry_duration_parse("500us"), 1, "microseconds round up");
	is_int(retry_duration_parse("500\xc2\xb5s"), 1, "micro sign");
	is_int(retry_duration_parse("1ns"), 1, "a nanosecond is a millisecond of waiting");
	is_int(retry_duration_parse("1.5h"), 5400000, "fractional hours");
	is_int(retry_duration_parse(".5s"), 500, "leading dot");
	is_int(retry_duration_parse("5m"), 300000, "m is minutes, not ms");
	is_int(retry_duration_parse("99999999999h"), 1000LL * 1000 * 1000 * 1000, "saturates");
	static const char *const garbage[] = {"", "1", "s", "1x", "-1s", "1s2", "1 s", "abc", ".s", "1..5s"};
	for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++)
		is_int(retry_duration_parse(garbage[i]), -1, "duration garbage '%s'", garbage[i]);
}

static void test_timestamp(void)
{
	is_int(retry_timestamp_parse("2025-01-01T00:00:00Z"), JAN_2025, "RFC 3339 Z");
	is_int(retry_timestamp_parse("2025-01-01t00:00:00z"), JAN_2025, "lower-case t and z");
	is_int(retry_timestamp_parse("2025-01-01T00:00:00.25Z"), JAN_2025 + 250, "fraction");
	is_int(retry_timestamp_parse("2025-01-01T00:00:00.0001Z"), JAN_2025 + 1, "fraction rounds up");
	is_int(retry_timestamp_parse("2025-01-01T00:00:00.9999Z"), JAN_2025 + 1000, "rounding carries");
	is_int(retry_timestamp_parse("2025-01-01T01:30:00+01:30"), JAN_2025, "positive offset");
	is_int(retry_timestamp_parse("2024-12-31T23:00:00-01:00"), JAN_2025, "negative offset");
	is_int(retry_timestamp_parse("2000-03-01T00:00:00Z"), 951868800000LL, "century leap year");
	static const char *const garbage[] = {
	    "2025-01-01",           "2025-01-01T00:00:00",      "2025-13-01T00:00:00Z",
	    "2025-02-29T00:00:00Z", "2025-01-01T00:00:00.Z",    "2025-01-01T00:00:00+0100",
	    "2025-1-01T00:00:00Z",  "2025-01-01T00:00:00Zjunk", "Wed, 01 Jan 2025 00:00:00 GMT"};
	for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++)
		is_int(retry_timestamp_parse(garbage[i]), -1, "timestamp garbage '%s'", garbage[i]);
}

static void test_reset_headers(void)
{
	int64_t now = JAN_2025;
	is_int(retry_reset_header_ms("x-ratelimit-reset-requests", "1s", now), 1000, "OpenAI requests reset");
	is_int(retry_reset_header_ms("X-RateLimit-Reset-Tokens", "6m0s", now), 360000,
	       "OpenAI tokens reset, any case");
	is_int(retry_reset_header_ms("anthropic-ratelimit-requests-reset", "2025-01-01T00:00:30Z", now),
	       30000, "Anthropic requests reset");
	is_int(retry_reset_header_ms("anthropic-ratelimit-input-tokens-reset", "2025-01-01T00:00:00.5Z", now),
	       500, "Anthropic input tokens reset");
	is_int(retry_reset_header_ms("anthropic-ratelimit-tokens-reset", "2024-12-31T23:59:00Z", now), 0,
	       "a reset in the past: 0");
	is_int(retry_reset_header_ms("retry-after", "3", now), 3000, "retry-after");
	is_int(retry_reset_header_ms("Retry-After-Ms", "1500", now), 1500, "retry-after-ms");
	is_int(retry_reset_header_ms("x-ms-retry-after-ms", "12.2", now), 13,
	       "x-ms-retry-after-ms rounds up");
	is_int(retry_reset_header_ms("x-ratelimit-reset-requests", "soon", now), -1, "malformed value");
	is_int(retry_reset_header_ms("anthropic-ratelimit-requests-reset", "30", now), -1,
	       "Anthropic's reset is a timestamp, not seconds");
	is_int(retry_reset_header_ms("x-ratelimit-remaining-requests", "0", now), -1, "not a reset header");
	is_int(retry_reset_header_ms("anthropic-ratelimit-requests-remaining", "0", now), -1,
	       "not a reset header either");
	is_int(retry_reset_header_ms("x-ratelimit-reset-", "1s", now), -1, "a name with no limit");

	const struct http_header openai[] = {
	    {"x-ratelimit-remaining-requests", "4999"}, {"x-ratelimit-remaining-tokens", "0"},
	    {"x-ratelimit-reset-requests", "12ms"},     {"x-ratelimit-reset-tokens", "6s"},
	    {"content-type", "application/json"},
	};
	is_int(retry_wait_from_headers(openai, 5, now), 6000, "the exhausted limit's reset");
	const struct http_header openai2[] = {
	    {"x-ratelimit-remaining-requests", "0"},
	    {"x-ratelimit-remaining-tokens", "100"},
	    {"x-ratelimit-reset-requests", "12ms"},
	    {"x-ratelimit-reset-tokens", "6s"},
	};
	is_int(retry_wait_from_headers(openai2, 4, now), 12, "a short exhausted limit is not made longer");
	const struct http_header unknown[] = {
	    {"x-ratelimit-reset-requests", "2s"},
	    {"x-ratelimit-reset-tokens", "5s"},
	};
	is_int(retry_wait_from_headers(unknown, 2, now), 5000, "no remaining headers: the longest reset");
	const struct http_header anthropic[] = {
	    {"anthropic-ratelimit-requests-remaining", "0"},
	    {"anthropic-ratelimit-requests-reset", "2025-01-01T00:00:20Z"},
	    {"anthropic-ratelimit-tokens-remaining", "5000"},
	    {"anthropic-ratelimit-tokens-reset", "2025-01-01T00:00:50Z"},
	};
	is_int(retry_wait_from_headers(anthropic, 4, now), 20000, "Anthropic: the exhausted limit");
	const struct http_header with_ra[] = {
	    {"x-ratelimit-remaining-tokens", "0"},
	    {"x-ratelimit-reset-tokens", "6s"},
	    {"Retry-After", "2"},
	};
	is_int(retry_wait_from_headers(with_ra, 3, now), 2000, "Retry-After wins over reset headers");
	const struct http_header with_ms[] = {
	    {"retry-after-ms", "1234"},
	    {"retry-after", "2"},
	};
	is_int(retry_wait_from_headers(with_ms, 2, now), 1234,
	       "retry-after-ms is more precise than retry-after");
	const struct http_header none[] = {
	    {"retry-after", "whenever"},
	    {"x-ratelimit-limit-requests", "5000"},
	};
	is_int(retry_wait_from_headers(none, 2, now), -1, "nothing usable: -1");
	is_int(retry_wait_from_headers(NULL, 0, now), -1, "no headers: -1");
}

static void test_deadline(void)
{
	ok(retry_fits_deadline(0, 1000, 500, 100), "no deadline: always fits");
	ok(retry_fits_deadline(2000, 1000, 500, 500),
	   "delay plus minimum attempt ends exactly at the deadline");
	ok(!retry_fits_deadline(2000, 1000, 500, 501), "one millisecond over does not fit");
	ok(!retry_fits_deadline(2000, 1000, 1001, 0), "the delay alone overshoots");
	ok(retry_fits_deadline(2000, 1000, RETRY_DELAY_FAILOVER, 1000), "a failover delay counts as none");
	ok(!retry_fits_deadline(2000, 2001, 0, 0), "already past the deadline");
}

int main(void)
{
	test_classify();
	test_full_jitter();
	test_decorrelated();
	test_retry_after_delay();
	test_retry_after_parse();
	test_duration();
	test_timestamp();
	test_reset_headers();
	test_deadline();
	return tap_done();
}
