/* strategy.h - the order in which a named route tries its candidates
 * (provider and model pairs, indexed as the route lists them):
 *
 *   fallback        as listed
 *   round-robin     as listed, rotated by one on every request
 *   lowest-latency  by an exponentially weighted moving average of observed
 *                   latency; candidates never measured go first, so that
 *                   they get measured
 *   lowest-cost     by a cost the caller supplies per candidate; unknown
 *                   costs go last
 *
 * Ties keep the listed order. The state (the rotation, the averages) lives
 * in a struct strategy_state that the caller keeps per route. Every order
 * is a full permutation: the attempt loop fails over down the whole list,
 * skipping candidates whose keys or breakers are unavailable. No clock, no
 * I/O, not thread-safe. */
#ifndef AROUTER_STRATEGY_H
#define AROUTER_STRATEGY_H

#include <stddef.h>
#include <stdint.h>

enum strategy {
	STRATEGY_FALLBACK,
	STRATEGY_ROUND_ROBIN,
	STRATEGY_LOWEST_LATENCY,
	STRATEGY_LOWEST_COST,
};

/* The weight of a new latency sample in the moving average. */
#define STRATEGY_EWMA_ALPHA 0.3

/* Parses "fallback", "round-robin", "lowest-latency" or "lowest-cost".
 * Returns 0, or -1 with *err set to one line naming the bad value and the
 * closest name when it looks like a typo, else the valid names ("unknown
 * strategy 'round-robn' (did you mean 'round-robin'?)"); *err is owned by
 * the caller (free()). */
int strategy_parse(const char *name, enum strategy *out, char **err);
/* The name strategy_parse reads (static). */
const char *strategy_name(enum strategy s);

/* Returns the state of one route with n candidates, owned by the caller
 * (free with strategy_state_free). */
struct strategy_state *strategy_state_new(enum strategy s, size_t n);
void strategy_state_free(struct strategy_state *st);

/* Writes into order[0..n-1] the candidate indices in the order to try
 * them, n being the state's. costs (lowest-cost only; may be NULL) holds
 * one number per candidate, lower is better, in any unit the caller uses
 * consistently (the price of a million input tokens, say); a negative or
 * NaN cost is unknown. Round-robin advances its rotation on each call. */
void strategy_order(struct strategy_state *st, const double *costs, size_t *order);

/* Feeds a latency observed on candidate index into its moving average. Only
 * successful attempts should be fed, with the same measure each time (time
 * to first byte suits streams): a candidate that fails fast must not look
 * fast. Negative samples are ignored. */
void strategy_observe_latency(struct strategy_state *st, size_t index, int64_t latency_ms);
/* The moving average of candidate index in ms, or -1 when never measured. */
double strategy_latency_ms(const struct strategy_state *st, size_t index);

#endif
