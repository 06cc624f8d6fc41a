/* attempt.c - the attempt loop's decisions. See attempt.h. */
#include "config.h"

#include "attempt.h"
#include "retry.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

struct attempt_policy attempt_policy_from_config(json_object *root)
{
	struct attempt_policy p = {.retries = 1, .backoff_ms = 250, .max_backoff_ms = 4000, .deadline_ms = 0};
	json_object *r, *v;
	if (!root || !json_object_object_get_ex(root, "routing", &r) || !json_object_is_type(r, json_type_object))
		return p;
	if (json_object_object_get_ex(r, "retries", &v) && json_object_get_int(v) >= 0)
		p.retries = json_object_get_int(v);
	if (json_object_object_get_ex(r, "backoff", &v) && json_object_get_double(v) >= 0)
		p.backoff_ms = (int64_t)(json_object_get_double(v) * 1000);
	if (json_object_object_get_ex(r, "max_backoff", &v) && json_object_get_double(v) >= 0)
		p.max_backoff_ms = (int64_t)(json_object_get_double(v) * 1000);
	if (json_object_object_get_ex(r, "deadline", &v) && json_object_get_double(v) > 0)
		p.deadline_ms = (int64_t)(json_object_get_double(v) * 1000);
	return p;
}

struct breaker_config attempt_breaker_config(json_object *root)
{
	struct breaker_config c = breaker_config_default();
	json_object *r, *b, *v;
	if (!root || !json_object_object_get_ex(root, "routing", &r) || !json_object_object_get_ex(r, "breaker", &b) ||
	    !json_object_is_type(b, json_type_object))
		return c;
	if (json_object_object_get_ex(b, "failures", &v) && json_object_get_int(v) > 0)
		c.failure_threshold = json_object_get_int(v);
	if (json_object_object_get_ex(b, "cooldown", &v) && json_object_get_double(v) > 0) {
		c.cooldown_ms = (int64_t)(json_object_get_double(v) * 1000);
		if (c.max_cooldown_ms < c.cooldown_ms)
			c.max_cooldown_ms = c.cooldown_ms;
	}
	if (json_object_object_get_ex(b, "max_cooldown", &v) && json_object_get_double(v) > 0)
		c.max_cooldown_ms = (int64_t)(json_object_get_double(v) * 1000);
	if (c.max_cooldown_ms < c.cooldown_ms)
		c.max_cooldown_ms = c.cooldown_ms;
	return c;
}

void attempt_init(struct attempt *a, const struct route_plan *plan, struct health *h,
		  const struct attempt_policy *pol, const double *costs, int64_t now_ms)
{
	memset(a, 0, sizeof *a);
	a->plan = plan;
	a->health = h;
	a->pol = *pol;
	a->start_ms = now_ms;
	a->rng = (uint64_t)now_ms * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)a;
	a->order = xcalloc(plan->n ? plan->n : 1, sizeof *a->order);
	if (plan->name && plan->n > 1) {
		health_lock(h);
		strategy_order(health_strategy(h, plan->name, plan->strategy, plan->n), costs, a->order);
		health_unlock(h);
	} else {
		for (size_t i = 0; i < plan->n; i++)
			a->order[i] = i;
	}
}

void attempt_clear(struct attempt *a)
{
	free(a->order);
	free(a->note);
	memset(a, 0, sizeof *a);
}

static void set_note(struct attempt *a, char *note)
{
	free(a->note);
	a->note = note;
}

static void next_candidate(struct attempt *a)
{
	a->pos++;
	a->tries = 0;
	a->wait_until_ms = 0;
}

static bool fits(const struct attempt *a, int64_t now_ms, int64_t delay_ms)
{
	if (a->pol.deadline_ms <= 0)
		return true;
	return retry_fits_deadline(a->start_ms + a->pol.deadline_ms, now_ms, delay_ms, 0);
}

/* Starts an attempt at t with the key in slot idx of pool. */
static enum attempt_step go(struct attempt *a, const struct route_target *t, struct keypool *pool, size_t idx,
			    const struct route_target **cand, const char **key)
{
	a->pool = pool;
	a->key = idx;
	a->key_held = true;
	a->tries++;
	a->total++;
	*cand = t;
	*key = keypool_key(pool, idx);
	return ATTEMPT_GO;
}

static enum attempt_step next_locked(struct attempt *a, int64_t now_ms, const struct route_target **cand,
				     const char **key, int64_t *delay_ms)
{
	*delay_ms = 0;
	if (a->total > 0 && a->pol.deadline_ms > 0 && now_ms >= a->start_ms + a->pol.deadline_ms) {
		/* The request's time is up: no retry and no other candidate. */
		set_note(a, xasprintf("gave up after %d attempts: routing.deadline of %lld s passed", a->total,
				      (long long)(a->pol.deadline_ms / 1000)));
		a->note_status = 504;
		a->note_wait_ms = -1;
		a->pos = a->plan->n;
		return ATTEMPT_NONE;
	}
	while (a->pos < a->plan->n) {
		if (a->wait_until_ms > now_ms) {
			*delay_ms = a->wait_until_ms - now_ms;
			return ATTEMPT_WAIT;
		}
		const struct route_target *t = &a->plan->v[a->order[a->pos]];
		struct keypool *pool = health_keypool(a->health, t->provider);
		size_t idx;
		enum keypool_pick pick = keypool_pick(pool, now_ms, &idx);
		if (pick == KEYPOOL_PICKED)
			return go(a, t, pool, idx, cand, key);
		if (pick == KEYPOOL_DEAD) {
			set_note(a, xasprintf("%s: every key was refused (check %s)", t->provider->slug,
					      provider_key_hint(t->provider)));
			a->note_status = 401;
			a->note_wait_ms = -1;
			next_candidate(a);
			continue;
		}
		/* Every key rests or its breaker is open. Another candidate
		 * is tried first; the last one uses a resting key all the same
		 * (the provider decides), waits for a breaker if that is soon,
		 * else is passed over. */
		if (!attempt_has_next_candidate(a) && keypool_pick_resting(pool, now_ms, &idx) == KEYPOOL_PICKED)
			return go(a, t, pool, idx, cand, key);
		int64_t at = keypool_available_at(pool, now_ms);
		int64_t wait = at > now_ms ? at - now_ms : 0;
		if (!attempt_has_next_candidate(a) && wait <= a->pol.max_backoff_ms && fits(a, now_ms, wait) &&
		    a->total > 0) {
			a->wait_until_ms = now_ms + (wait > 0 ? wait : 1);
			continue;
		}
		bool limited = keypool_rate_limited(pool, now_ms);
		set_note(a, xasprintf("%s: %s; retry in %lld s", t->provider->slug,
				      limited ? "rate limited" : "failing, its circuit breaker is open",
				      (long long)((wait + 999) / 1000)));
		a->note_status = limited ? 429 : 503;
		a->note_wait_ms = wait;
		next_candidate(a);
	}
	return ATTEMPT_NONE;
}

enum attempt_step attempt_next(struct attempt *a, int64_t now_ms, const struct route_target **cand,
			       const char **key, int64_t *delay_ms)
{
	health_lock(a->health);
	enum attempt_step step = next_locked(a, now_ms, cand, key, delay_ms);
	health_unlock(a->health);
	return step;
}

bool attempt_has_next_candidate(const struct attempt *a)
{
	return a->pos + 1 < a->plan->n;
}

void attempt_abandon(struct attempt *a, int64_t now_ms)
{
	if (a->key_held) {
		health_lock(a->health);
		keypool_release(a->pool, a->key, now_ms);
		health_unlock(a->health);
	}
	a->key_held = false;
}

static enum attempt_verdict report_locked(struct attempt *a, int64_t now_ms, int64_t wall_ms,
					  enum http_outcome outcome, long status, const struct http_response *resp,
					  bool delivered, int64_t latency_ms, char **log_line)
{
	*log_line = NULL;
	int64_t wait_ms = -1;
	/* Only a refusal for load says when to come back: OpenAI sends its
	 * quota's reset on every answer, which is no reason to wait out a 500. */
	if (resp && resp->n_limits > 0 && (status == 429 || status == 503 || status == 529))
		wait_ms = retry_wait_from_headers(resp->limits, resp->n_limits, wall_ms);
	long st = outcome == XFER_OK ? status : 0;
	enum retry_class cls = retry_classify(status, outcome);
	if (a->key_held) {
		if (outcome == XFER_CANCELLED || (outcome == XFER_ABORTED && cls != RETRY_FAILOVER))
			keypool_release(a->pool, a->key, now_ms);
		else
			keypool_report(a->pool, a->key, now_ms, st, wait_ms, log_line);
		a->key_held = false;
	}
	if (cls == RETRY_OK && outcome == XFER_OK) {
		if (a->plan->name && a->plan->n > 1 && a->plan->strategy == STRATEGY_LOWEST_LATENCY)
			strategy_observe_latency(
				health_strategy(a->health, a->plan->name, a->plan->strategy, a->plan->n),
				a->order[a->pos], latency_ms);
		return ATTEMPT_DONE;
	}
	if (delivered) {
		/* Part of the answer is out: only another candidate can go on
		 * from it (the caller decides whether it can). */
		if (outcome == XFER_CANCELLED || !attempt_has_next_candidate(a))
			return ATTEMPT_FATAL;
		next_candidate(a);
		return ATTEMPT_AGAIN;
	}
	if (cls == RETRY_FATAL) {
		/* A refused key is the key's fault while the pool has another
		 * that is free now (a 403 rests the key, a 401 kills it). */
		if ((st == 401 || st == 403) && a->pool && keypool_available_at(a->pool, now_ms) == now_ms)
			return ATTEMPT_AGAIN;
		return ATTEMPT_FATAL;
	}
	/* A key's rate limit is not the provider's: another key that is
	 * free now is tried at once (the 429 rested this one). */
	if (st == 429 && a->pool && keypool_available_at(a->pool, now_ms) == now_ms)
		return ATTEMPT_AGAIN;
	/* Worth another try: this candidate after a backoff, or the next. */
	if (a->tries <= a->pol.retries) {
		int64_t d = retry_delay_ms(a->tries, a->pol.backoff_ms, a->pol.max_backoff_ms, wait_ms, &a->rng);
		/* A longer wait than our own cap is not ours to impose on
		 * the client: fail over, or pass the Retry-After on. */
		if (d != RETRY_DELAY_FAILOVER && fits(a, now_ms, d) && d <= a->pol.max_backoff_ms) {
			a->wait_until_ms = now_ms + d;
			return ATTEMPT_AGAIN;
		}
	}
	next_candidate(a);
	return a->pos < a->plan->n ? ATTEMPT_AGAIN : ATTEMPT_FATAL;
}

enum attempt_verdict attempt_report(struct attempt *a, int64_t now_ms, int64_t wall_ms, enum http_outcome outcome,
				    long status, const struct http_response *resp, bool delivered,
				    int64_t latency_ms, char **log_line)
{
	health_lock(a->health);
	enum attempt_verdict v = report_locked(a, now_ms, wall_ms, outcome, status, resp, delivered, latency_ms, log_line);
	health_unlock(a->health);
	return v;
}

const char *attempt_note(const struct attempt *a)
{
	return a->note;
}
