/* test-strategy.c - parsing strategy names and the order each strategy
 * gives a route's candidates. */
#include "config.h"

#include "strategy.h"
#include "tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* "2,0,1" for an order, to compare as a string. */
static const char *order_text(struct strategy_state *st, const double *costs, size_t n)
{
	static char buf[128];
	size_t order[16];
	strategy_order(st, costs, order);
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%zu", i ? "," : "", order[i]);
	return buf;
}

static void test_parse(void)
{
	static const char *const all[] = {"fallback", "round-robin", "lowest-latency", "lowest-cost"};
	for (size_t i = 0; i < 4; i++) {
		enum strategy s = STRATEGY_FALLBACK;
		char *err = NULL;
		ok(strategy_parse(all[i], &s, &err) == 0, "parses %s", all[i]);
		is_str(strategy_name(s), all[i], "%s round-trips", all[i]);
	}
	enum strategy s;
	char *err = NULL;
	ok(strategy_parse("round-robn", &s, &err) < 0, "a typo is refused");
	ok(err && strstr(err, "'round-robn'") && strstr(err, "did you mean 'round-robin'?"),
	   "and gets a suggestion");
	if (err)
		printf("#   %s\n", err);
	free(err);
	err = NULL;
	ok(strategy_parse("lowest-latncy", &s, &err) < 0 && err && strstr(err, "'lowest-latency'"),
	   "another typo, another suggestion");
	free(err);
	err = NULL;
	ok(strategy_parse("cheapest", &s, &err) < 0, "an unrelated word is refused");
	ok(err && !strstr(err, "did you mean") &&
	       strstr(err, "fallback, round-robin, lowest-latency, lowest-cost"),
	   "with the valid names and no wild guess");
	free(err);
	err = NULL;
	ok(strategy_parse("Fallback", &s, &err) < 0, "names are case-sensitive");
	free(err);
	err = NULL;
	ok(strategy_parse(NULL, &s, &err) < 0, "NULL is refused");
	free(err);
}

static void test_fallback(void)
{
	struct strategy_state *st = strategy_state_new(STRATEGY_FALLBACK, 4);
	is_str(order_text(st, NULL, 4), "0,1,2,3", "fallback: as listed");
	is_str(order_text(st, NULL, 4), "0,1,2,3", "every time");
	strategy_observe_latency(st, 3, 1);
	double costs[] = {9, 8, 7, 6};
	is_str(order_text(st, costs, 4), "0,1,2,3", "latency and cost do not matter");
	strategy_state_free(st);
}

static void test_round_robin(void)
{
	struct strategy_state *st = strategy_state_new(STRATEGY_ROUND_ROBIN, 3);
	is_str(order_text(st, NULL, 3), "0,1,2", "round-robin 1");
	is_str(order_text(st, NULL, 3), "1,2,0",
	       "round-robin 2: rotated, the rest still follow for failover");
	is_str(order_text(st, NULL, 3), "2,0,1", "round-robin 3");
	is_str(order_text(st, NULL, 3), "0,1,2", "round-robin 4 wraps");
	int first[3] = {0};
	size_t order[3];
	for (int i = 0; i < 300; i++) {
		strategy_order(st, NULL, order);
		first[order[0]]++;
	}
	ok(first[0] == 100 && first[1] == 100 && first[2] == 100,
	   "300 requests: each candidate first 100 times");
	strategy_state_free(st);

	struct strategy_state *a = strategy_state_new(STRATEGY_ROUND_ROBIN, 2);
	struct strategy_state *b = strategy_state_new(STRATEGY_ROUND_ROBIN, 2);
	order_text(a, NULL, 2);
	is_str(order_text(b, NULL, 2), "0,1", "each route has its own rotation");
	strategy_state_free(a);
	strategy_state_free(b);

	st = strategy_state_new(STRATEGY_ROUND_ROBIN, 1);
	is_str(order_text(st, NULL, 1), "0", "one candidate");
	is_str(order_text(st, NULL, 1), "0", "stays");
	strategy_state_free(st);
	st = strategy_state_new(STRATEGY_ROUND_ROBIN, 0);
	strategy_order(st, NULL, NULL);
	ok(1, "no candidates: nothing to order, no crash");
	strategy_state_free(st);
}

static void test_lowest_latency(void)
{
	struct strategy_state *st = strategy_state_new(STRATEGY_LOWEST_LATENCY, 3);
	is_str(order_text(st, NULL, 3), "0,1,2", "nothing measured: as listed");
	ok(strategy_latency_ms(st, 0) < 0, "unmeasured reads -1");
	strategy_observe_latency(st, 0, 100);
	strategy_observe_latency(st, 2, 50);
	is_str(order_text(st, NULL, 3), "1,2,0", "the unmeasured one first, then fastest first");
	strategy_observe_latency(st, 1, 75);
	is_str(order_text(st, NULL, 3), "2,1,0", "all measured: by latency");
	strategy_observe_latency(st, 2, 300);
	ok(fabs(strategy_latency_ms(st, 2) - 125.0) < 1e-9, "EWMA: 0.3 * 300 + 0.7 * 50 = 125");
	is_str(order_text(st, NULL, 3), "1,0,2", "a slow sample moves it back");
	strategy_observe_latency(st, 2, -5);
	ok(fabs(strategy_latency_ms(st, 2) - 125.0) < 1e-9, "negative samples are ignored");
	strategy_observe_latency(st, 7, 1);
	ok(strategy_latency_ms(st, 7) < 0, "an index out of range is ignored");
	for (int i = 0; i < 30; i++)
		strategy_observe_latency(st, 2, 10);
	ok(strategy_latency_ms(st, 2) < 11, "the average converges to recent samples");
	is_str(order_text(st, NULL, 3), "2,1,0", "and the order follows");
	strategy_state_free(st);

	st = strategy_state_new(STRATEGY_LOWEST_LATENCY, 4);
	strategy_observe_latency(st, 0, 40);
	strategy_observe_latency(st, 1, 40);
	strategy_observe_latency(st, 3, 40);
	is_str(order_text(st, NULL, 4), "2,0,1,3", "ties keep the listed order");
	strategy_state_free(st);
}

static void test_lowest_cost(void)
{
	struct strategy_state *st = strategy_state_new(STRATEGY_LOWEST_COST, 6);
	double costs[] = {3.0, 1.0, -1, 2.0, NAN, 1.0};
	is_str(order_text(st, costs, 6), "1,5,3,0,2,4",
	       "cheapest first, ties as listed, unknown (negative, NaN) last");
	double zero[] = {0.5, 0, 0.25, 0, 0, 0};
	is_str(order_text(st, zero, 6), "1,3,4,5,2,0", "a zero cost is known (free), not unknown");
	is_str(order_text(st, NULL, 6), "0,1,2,3,4,5", "no costs at all: as listed");
	strategy_observe_latency(st, 5, 1);
	is_str(order_text(st, costs, 6), "1,5,3,0,2,4", "latency does not matter");
	strategy_state_free(st);
}

int main(void)
{
	test_parse();
	test_fallback();
	test_round_robin();
	test_lowest_latency();
	test_lowest_cost();
	return tap_done();
}
