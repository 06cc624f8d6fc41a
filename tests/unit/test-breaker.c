/* test-breaker.c - every transition of the circuit breaker on a fake clock. */
#include "config.h"

#include "breaker.h"
#include "tap.h"

#include <stdlib.h>

static const char *state(const struct breaker *b, int64_t now)
{
	return breaker_state_name(breaker_state(b, now));
}

static void fail_n(struct breaker *b, int n, int64_t now)
{
	for (int i = 0; i < n; i++)
		breaker_failure(b, now);
}

static void test_defaults(void)
{
	struct breaker_config d = breaker_config_default();
	is_int(d.failure_threshold, 5, "default threshold is 5");
	is_int(d.cooldown_ms, 30000, "default cooldown is 30 s");
	ok(d.max_cooldown_ms > d.cooldown_ms, "the cooldown doubles by default");

	struct breaker_config zero = {0};
	struct breaker *b = breaker_new(&zero);
	fail_n(b, 4, 0);
	is_str(state(b, 0), "closed", "zeroed config: 4 failures keep it closed (default threshold)");
	breaker_failure(b, 0);
	is_str(state(b, 0), "open", "zeroed config: the 5th opens it");
	is_int(breaker_next_allow_ms(b, 0), 30000, "zeroed config: default cooldown");
	breaker_free(b);

	b = breaker_new(NULL);
	is_str(state(b, 0), "closed", "a new breaker is closed");
	ok(breaker_allow(b, 0) && breaker_allow(b, 0), "closed allows everyone");
	is_int(breaker_next_allow_ms(b, 123), 123, "closed: next allow is now");
	breaker_free(b);

	is_str(breaker_state_name(BREAKER_CLOSED), "closed", "name closed");
	is_str(breaker_state_name(BREAKER_OPEN), "open", "name open");
	is_str(breaker_state_name(BREAKER_HALF_OPEN), "half-open", "name half-open");
}

static void test_opening(void)
{
	struct breaker_config c = {.failure_threshold = 3, .cooldown_ms = 1000, .max_cooldown_ms = 1000};
	struct breaker *b = breaker_new(&c);
	fail_n(b, 2, 10);
	is_str(state(b, 10), "closed", "N-1 failures: closed");
	is_int(breaker_consecutive_failures(b), 2, "two failures counted");
	ok(breaker_allow(b, 10), "N-1 failures: still allows");
	breaker_success(b, 11);
	is_int(breaker_consecutive_failures(b), 0, "a success resets the count");
	fail_n(b, 2, 12);
	is_str(state(b, 12), "closed", "failures must be consecutive: 2 after a success stay closed");
	breaker_failure(b, 100);
	is_str(state(b, 100), "open", "the Nth consecutive failure opens it");
	ok(!breaker_allow(b, 100), "open refuses");
	ok(!breaker_allow(b, 1099), "open refuses until the last millisecond of the cooldown");
	is_int(breaker_next_allow_ms(b, 500), 1100, "next allow is the end of the cooldown");
	is_str(state(b, 1099), "open", "open 1 ms before the end");
	is_str(state(b, 1100), "half-open", "reads half-open at exactly the end");

	breaker_success(b, 200);
	is_str(state(b, 200), "open",
	       "a late success from a request let through earlier is ignored while open");
	breaker_failure(b, 200);
	is_int(breaker_next_allow_ms(b, 200), 1100, "a late failure does not extend the cooldown");
	breaker_free(b);
}

static void test_half_open(void)
{
	struct breaker_config c = {
	    .failure_threshold = 1, .cooldown_ms = 1000, .max_cooldown_ms = 1000, .probe_timeout_ms = 5000};
	struct breaker *b = breaker_new(&c);
	breaker_failure(b, 0);
	ok(breaker_allow(b, 1000), "the first caller after the cooldown is the probe");
	is_str(state(b, 1000), "half-open", "half-open while the probe is out");
	ok(!breaker_allow(b, 1000), "a concurrent caller is refused");
	ok(!breaker_allow(b, 1500), "and another, later");
	is_int(breaker_next_allow_ms(b, 1500), 6000, "next allow is the probe's timeout");
	breaker_success(b, 1600);
	is_str(state(b, 1600), "closed", "the probe's success closes it");
	ok(breaker_allow(b, 1600) && breaker_allow(b, 1600), "closed again: everyone passes");
	is_int(breaker_consecutive_failures(b), 0, "count reset on close");

	breaker_failure(b, 2000);
	ok(breaker_allow(b, 3000), "open again; probe at the end of the cooldown");
	breaker_abandon(b, 3001);
	is_str(state(b, 3001), "half-open", "an abandoned probe leaves it half-open");
	ok(breaker_allow(b, 3002), "and frees the slot for another probe");
	ok(!breaker_allow(b, 3003), "only one at a time still");

	ok(!breaker_allow(b, 8001), "a probe that never reports holds the slot until its timeout");
	ok(breaker_allow(b, 8002), "after the timeout another probe may go");
	ok(!breaker_allow(b, 8002), "but only one");
	breaker_failure(b, 8100);
	is_str(state(b, 8100), "open", "the probe's failure re-opens it");
	ok(!breaker_allow(b, 8100), "and it refuses");
	breaker_free(b);

	b = breaker_new(&c);
	breaker_abandon(b, 0);
	is_str(state(b, 0), "closed", "abandon on a closed breaker changes nothing");
	breaker_failure(b, 0);
	breaker_abandon(b, 10);
	ok(!breaker_allow(b, 10), "abandon on an open breaker does not open the gate");
	breaker_free(b);
}

static void test_backoff(void)
{
	struct breaker_config c = {.failure_threshold = 2, .cooldown_ms = 1000, .max_cooldown_ms = 3000};
	struct breaker *b = breaker_new(&c);
	fail_n(b, 2, 0);
	is_int(breaker_cooldown_ms(b), 1000, "first opening: base cooldown");
	ok(breaker_allow(b, 1000), "probe 1");
	breaker_failure(b, 1000);
	is_int(breaker_cooldown_ms(b), 2000, "re-open from half-open doubles the cooldown");
	ok(!breaker_allow(b, 2999), "still open 1 ms before the doubled cooldown ends");
	is_str(state(b, 2000), "open", "open after the old cooldown would have ended");
	ok(breaker_allow(b, 3000), "probe 2 at exactly 2 s");
	breaker_failure(b, 3000);
	is_int(breaker_cooldown_ms(b), 3000, "doubling is capped");
	ok(breaker_allow(b, 6000), "probe 3 after the capped cooldown");
	breaker_failure(b, 6000);
	is_int(breaker_cooldown_ms(b), 3000, "stays at the cap");
	is_int(breaker_next_allow_ms(b, 6000), 9000, "next allow uses the cap");
	ok(breaker_allow(b, 9000), "probe 4");
	breaker_success(b, 9000);
	is_int(breaker_cooldown_ms(b), 1000, "closing resets the cooldown");
	fail_n(b, 2, 9500);
	is_int(breaker_next_allow_ms(b, 9500), 10500, "the next opening uses the base cooldown");
	breaker_free(b);

	struct breaker_config fixed = {.failure_threshold = 1, .cooldown_ms = 1000, .max_cooldown_ms = 1000};
	b = breaker_new(&fixed);
	breaker_failure(b, 0);
	ok(breaker_allow(b, 1000), "fixed: probe");
	breaker_failure(b, 1000);
	is_int(breaker_next_allow_ms(b, 1000), 2000, "max == cooldown keeps the cooldown fixed");
	breaker_free(b);
}

static void test_json(void)
{
	struct breaker_config c = {.failure_threshold = 2, .cooldown_ms = 1000, .max_cooldown_ms = 1000};
	struct breaker *b = breaker_new(&c);
	breaker_failure(b, 0);
	json_object *j = breaker_json(b, 0);
	is_str(json_object_get_string(json_object_object_get(j, "state")), "closed", "json: closed");
	is_int(json_object_get_int(json_object_object_get(j, "consecutive_failures")), 1, "json: failures");
	is_int(json_object_get_int64(json_object_object_get(j, "retry_in_ms")), 0,
	       "json: closed retries now");
	json_object_put(j);
	breaker_failure(b, 100);
	j = breaker_json(b, 400);
	is_str(json_object_get_string(json_object_object_get(j, "state")), "open", "json: open");
	is_int(json_object_get_int(json_object_object_get(j, "consecutive_failures")), 2, "json: 2 failures");
	is_int(json_object_get_int64(json_object_object_get(j, "retry_in_ms")), 700,
	       "json: retry_in_ms counts down");
	is_int(json_object_get_int64(json_object_object_get(j, "times_opened")), 1, "json: times opened");
	ok(!json_object_get_boolean(json_object_object_get(j, "probe_in_flight")), "json: no probe yet");
	json_object_put(j);
	ok(breaker_allow(b, 1100), "probe");
	j = breaker_json(b, 1100);
	is_str(json_object_get_string(json_object_object_get(j, "state")), "half-open", "json: half-open");
	ok(json_object_get_boolean(json_object_object_get(j, "probe_in_flight")), "json: probe in flight");
	json_object_put(j);
	breaker_free(b);
}

int main(void)
{
	test_defaults();
	test_opening();
	test_half_open();
	test_backoff();
	test_json();
	return tap_done();
}
