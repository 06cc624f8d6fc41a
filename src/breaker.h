/* breaker.h - a circuit breaker for one upstream (a provider key, or a
 * keyless provider): closed until N consecutive failures, then open for a
 * cooldown, then half-open, when exactly one probe request is let through;
 * its success closes the breaker and its failure opens it again with a
 * longer cooldown (doubling up to a cap).
 *
 * Time is the caller's: every call takes now_ms, milliseconds on any clock
 * that does not go backwards (a monotonic clock is best). The breaker never
 * reads a clock, does no I/O and is not thread-safe. */
#ifndef AROUTER_BREAKER_H
#define AROUTER_BREAKER_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

enum breaker_state {
	BREAKER_CLOSED,    /* requests flow; failures are counted */
	BREAKER_OPEN,      /* requests are refused until the cooldown ends */
	BREAKER_HALF_OPEN, /* one probe may go; the others are refused */
};

struct breaker_config {
	int failure_threshold;    /* consecutive failures that open it; default 5 */
	int64_t cooldown_ms;      /* first open period; default 30 s */
	int64_t max_cooldown_ms;  /* each re-open from half-open doubles the cooldown up to this;
	                           * equal to cooldown_ms keeps it fixed; default 5 min */
	int64_t probe_timeout_ms; /* a probe that never reports frees its slot after this;
	                           * default 60 s */
};

/* The defaults above. */
struct breaker_config breaker_config_default(void);

/* Returns a closed breaker, owned by the caller (free with breaker_free).
 * cfg may be NULL for the defaults; zero or negative fields take their
 * default too. */
struct breaker *breaker_new(const struct breaker_config *cfg);
void breaker_free(struct breaker *b);

/* Whether a request may go now. Closed: always. Open: no, until the
 * cooldown ends, when the breaker becomes half-open. Half-open: true for
 * exactly one caller (the probe) and false for every other until the probe
 * reports with breaker_success, breaker_failure or breaker_abandon (or its
 * probe_timeout_ms passes). Every true must be followed by one report. */
bool breaker_allow(struct breaker *b, int64_t now_ms);

/* Reports the outcome of a request that breaker_allow let through. A
 * success closes the breaker and resets the cooldown; a failure counts
 * towards the threshold when closed and re-opens it when half-open.
 * Reports that arrive while the breaker is open come from requests let
 * through before it opened and are ignored. */
void breaker_success(struct breaker *b, int64_t now_ms);
void breaker_failure(struct breaker *b, int64_t now_ms);
/* A request that breaker_allow let through ended with no verdict on the
 * upstream (the client went away, the request was refused before it was
 * sent): the probe slot, if it held it, is freed. */
void breaker_abandon(struct breaker *b, int64_t now_ms);

/* The state at now_ms: an open breaker whose cooldown has ended reads as
 * half-open although the transition happens at the next breaker_allow. */
enum breaker_state breaker_state(const struct breaker *b, int64_t now_ms);
/* "closed", "open" or "half-open" (static). */
const char *breaker_state_name(enum breaker_state s);
/* The earliest time at or after now_ms when breaker_allow may return true:
 * now_ms when it would now, the end of the cooldown when open, the probe's
 * timeout while a probe is out. */
int64_t breaker_next_allow_ms(const struct breaker *b, int64_t now_ms);
int breaker_consecutive_failures(const struct breaker *b);
/* The cooldown the breaker is in (open) or would use on its next opening. */
int64_t breaker_cooldown_ms(const struct breaker *b);

/* The breaker for /health: {"state", "consecutive_failures", "times_opened",
 * "cooldown_ms", "retry_in_ms" (0 when it would allow now), "probe_in_flight"}.
 * Times are relative because the clock is the caller's. The returned object
 * is owned by the caller (json_object_put). */
json_object *breaker_json(const struct breaker *b, int64_t now_ms);

#endif
