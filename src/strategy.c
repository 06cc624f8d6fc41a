/* strategy.c - candidate ordering per route. */
#include "config.h"

#include "strategy.h"
#include "util.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {
    [STRATEGY_FALLBACK] = "fallback",
    [STRATEGY_ROUND_ROBIN] = "round-robin",
    [STRATEGY_LOWEST_LATENCY] = "lowest-latency",
    [STRATEGY_LOWEST_COST] = "lowest-cost",
};
#define N_NAMES (sizeof names / sizeof names[0])

struct strategy_state {
	enum strategy kind;
	size_t n;
	size_t next;     /* round-robin: the index the next order starts at */
	double *latency; /* per candidate; negative when never measured */
};

int strategy_parse(const char *name, enum strategy *out, char **err)
{
	for (size_t i = 0; name && i < N_NAMES; i++)
		if (strcmp(name, names[i]) == 0) {
			*out = (enum strategy)i;
			return 0;
		}
	const char *guess = name ? suggest(name, names, N_NAMES) : NULL;
	if (guess)
		*err = xasprintf("unknown strategy '%s' (did you mean '%s'?)", name, guess);
	else
		*err = xasprintf(
		    "unknown strategy '%s' (one of fallback, round-robin, lowest-latency, lowest-cost)",
		    name ? name : "");
	return -1;
}

const char *strategy_name(enum strategy s)
{
	return (size_t)s < N_NAMES ? names[s] : "unknown";
}

struct strategy_state *strategy_state_new(enum strategy s, size_t n)
{
	struct strategy_state *st = xcalloc(1, sizeof *st);
	st->kind = s;
	st->n = n;
	st->latency = xmalloc((n ? n : 1) * sizeof *st->latency);
	for (size_t i = 0; i < n; i++)
		st->latency[i] = -1;
	return st;
}

void strategy_state_free(struct strategy_state *st)
{
	if (!st)
		return;
	free(st->latency);
	free(st);
}

void strategy_observe_latency(struct strategy_state *st, size_t index, int64_t latency_ms)
{
	if (index >= st->n || latency_ms < 0)
		return;
	double *m = &st->latency[index];
	*m = *m < 0 ? (double)latency_ms
	            : STRATEGY_EWMA_ALPHA * (double)latency_ms + (1 - STRATEGY_EWMA_ALPHA) * *m;
}

double strategy_latency_ms(const struct strategy_state *st, size_t index)
{
	return index < st->n ? st->latency[index] : -1;
}

/* The sort key of a candidate: unknown ones form their own class, placed
 * first (latency: to be measured) or last (cost: to be avoided). */
struct rank {
	bool known;
	double value;
};

static bool before(struct rank a, struct rank b, bool unknown_first)
{
	if (a.known != b.known)
		return unknown_first ? !a.known : a.known;
	return a.known && a.value < b.value;
}

/* A stable insertion sort: routes have a handful of candidates, and ties
 * must keep the listed order. */
static void sort_by_rank(size_t *order, const struct rank *ranks, size_t n, bool unknown_first)
{
	for (size_t i = 1; i < n; i++) {
		size_t v = order[i], j = i;
		for (; j > 0 && before(ranks[v], ranks[order[j - 1]], unknown_first); j--)
			order[j] = order[j - 1];
		order[j] = v;
	}
}

void strategy_order(struct strategy_state *st, const double *costs, size_t *order)
{
	size_t n = st->n;
	if (n == 0)
		return;
	size_t start = 0;
	if (st->kind == STRATEGY_ROUND_ROBIN) {
		start = st->next;
		st->next = (st->next + 1) % n;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = (start + i) % n;
	if (st->kind != STRATEGY_LOWEST_LATENCY && st->kind != STRATEGY_LOWEST_COST)
		return;

	struct rank *ranks = xmalloc(n * sizeof *ranks);
	for (size_t i = 0; i < n; i++) {
		double v = st->kind == STRATEGY_LOWEST_LATENCY ? st->latency[i] : costs ? costs[i] : -1;
		ranks[i] = (struct rank){.known = !isnan(v) && v >= 0, .value = v};
	}
	sort_by_rank(order, ranks, n, st->kind == STRATEGY_LOWEST_LATENCY);
	free(ranks);
}
