/* attempt.h - the attempt loop of one request as a state machine, apart
 * from any transport: which candidate of the route plan to try next and
 * with which key, whether to retry it (after a backoff that honours
 * Retry-After, inside the request's deadline), fail over to the next
 * candidate, or give up. The CLI drives it with sleeps and blocking
 * transfers, the proxy with timers on its event loop.
 *
 * Failover happens on connection errors, timeouts, 408, 409, 429, 5xx and
 * 529 (retry.h); other 4xx go back to the client at once, except a 401/403
 * when the provider has another live key. Key pools and breakers live in a
 * struct health that outlives the request. Times are milliseconds on the
 * caller's monotonic clock. */
#ifndef AROUTER_ATTEMPT_H
#define AROUTER_ATTEMPT_H

#include "health.h"
#include "http-client.h"
#include "route.h"

#include <stdbool.h>
#include <stdint.h>

struct attempt_policy {
	int retries;            /* extra tries of one candidate (default 1) */
	int64_t backoff_ms;     /* first backoff (default 250) */
	int64_t max_backoff_ms; /* cap on backoff without Retry-After (default 4000) */
	int64_t deadline_ms;    /* the whole request, from the start; 0: none */
};

/* Defaults, overridden by the config's "routing" object (retries, backoff,
 * max_backoff, deadline in seconds). */
struct attempt_policy attempt_policy_from_config(json_object *root);
/* The breaker settings from "routing": {"breaker": {"failures",
 * "cooldown", "max_cooldown"}} (seconds), else breaker_config_default(). */
struct breaker_config attempt_breaker_config(json_object *root);

struct attempt {
	const struct route_plan *plan; /* borrowed */
	struct health *health;         /* borrowed */
	struct attempt_policy pol;
	size_t *order;                 /* candidate indices, strategy-ordered; owned */
	size_t pos;                    /* into order */
	int tries;                     /* of the current candidate */
	int total;                     /* attempts started */
	int64_t start_ms, wait_until_ms;
	uint64_t rng;
	struct keypool *pool;          /* the current candidate's, while a key is held */
	size_t key;
	bool key_held;
	char *note;                    /* why the last candidate was passed over; owned */
	int note_status;               /* 401 when keys were refused, else 503 */
	int64_t note_wait_ms;          /* when it may be available again, -1 unknown */
};

/* Orders the plan by its strategy (state from health for named routes;
 * costs per candidate for lowest-cost, may be NULL). */
void attempt_init(struct attempt *a, const struct route_plan *plan, struct health *h,
		  const struct attempt_policy *pol, const double *costs, int64_t now_ms);
void attempt_clear(struct attempt *a);

enum attempt_step {
	ATTEMPT_GO,   /* send to *cand with *key (NULL: no key) */
	ATTEMPT_WAIT, /* call again after *delay_ms */
	ATTEMPT_NONE, /* no candidate is left; attempt_note says why when no upstream answered */
};
enum attempt_step attempt_next(struct attempt *a, int64_t now_ms, const struct route_target **cand,
			       const char **key, int64_t *delay_ms);

enum attempt_verdict {
	ATTEMPT_DONE,  /* it succeeded */
	ATTEMPT_FATAL, /* the request itself was refused: answer the client with this error */
	ATTEMPT_AGAIN, /* call attempt_next */
};
/* Reports how the attempt attempt_next started ended: the transport's
 * outcome, the HTTP status (0 if none), the response (for Retry-After and
 * rate-limit headers; may be NULL), and whether output already reached the
 * client (then only another candidate may continue it). wall_ms is the
 * Unix time for date headers. A key taken out or resting is said in
 * *log_line (caller frees; keys redacted), else it is NULL. */
enum attempt_verdict attempt_report(struct attempt *a, int64_t now_ms, int64_t wall_ms, enum http_outcome outcome,
				    long status, const struct http_response *resp, bool delivered,
				    int64_t latency_ms, char **log_line);
/* The attempt was abandoned (the client left): releases the key. */
void attempt_abandon(struct attempt *a, int64_t now_ms);

/* Why no attempt could be made (all keys dead/resting, breakers open), or
 * NULL. Borrowed. */
const char *attempt_note(const struct attempt *a);
/* Whether a candidate after the current one remains. */
bool attempt_has_next_candidate(const struct attempt *a);

#endif
