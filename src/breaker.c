/* breaker.c - the circuit breaker state machine. */
#include "config.h"

#include "breaker.h"
#include "util.h"

#include <stdlib.h>

struct breaker {
	struct breaker_config cfg;
	enum breaker_state state; /* stored; OPEN becomes HALF_OPEN only in breaker_allow */
	int failures;             /* consecutive */
	int64_t cooldown_ms;      /* the current one; grows on re-opens from half-open */
	int64_t open_until;       /* while OPEN */
	bool probe_out;           /* while HALF_OPEN: a probe was let through and has not reported */
	int64_t probe_at;
	long times_opened;
};

struct breaker_config breaker_config_default(void)
{
	return (struct breaker_config){
	    .failure_threshold = 5,
	    .cooldown_ms = 30000,
	    .max_cooldown_ms = 300000,
	    .probe_timeout_ms = 60000,
	};
}

struct breaker *breaker_new(const struct breaker_config *cfg)
{
	struct breaker_config d = breaker_config_default();
	struct breaker *b = xcalloc(1, sizeof *b);
	b->cfg = d;
	if (cfg) {
		if (cfg->failure_threshold > 0)
			b->cfg.failure_threshold = cfg->failure_threshold;
		if (cfg->cooldown_ms > 0)
			b->cfg.cooldown_ms = cfg->cooldown_ms;
		if (cfg->max_cooldown_ms > 0)
			b->cfg.max_cooldown_ms = cfg->max_cooldown_ms;
		if (cfg->probe_timeout_ms > 0)
			b->cfg.probe_timeout_ms = cfg->probe_timeout_ms;
	}
	if (b->cfg.max_cooldown_ms < b->cfg.cooldown_ms)
		b->cfg.max_cooldown_ms = b->cfg.cooldown_ms;
	b->state = BREAKER_CLOSED;
	b->cooldown_ms = b->cfg.cooldown_ms;
	return b;
}

void breaker_free(struct breaker *b)
{
	free(b);
}

static void open_now(struct breaker *b, int64_t now_ms)
{
	b->state = BREAKER_OPEN;
	b->open_until = now_ms + b->cooldown_ms;
	b->probe_out = false;
	b->times_opened++;
}

bool breaker_allow(struct breaker *b, int64_t now_ms)
{
	if (b->state == BREAKER_CLOSED)
		return true;
	if (b->state == BREAKER_OPEN) {
		if (now_ms < b->open_until)
			return false;
		/* The cooldown is over: this caller is the probe. */
		b->state = BREAKER_HALF_OPEN;
		b->probe_out = false;
	}
	/* A probe whose caller forgot to report must not hold the breaker
	 * half-open forever. */
	if (b->probe_out && now_ms < b->probe_at + b->cfg.probe_timeout_ms)
		return false;
	b->probe_out = true;
	b->probe_at = now_ms;
	return true;
}

void breaker_success(struct breaker *b, int64_t now_ms)
{
	if (b->state == BREAKER_OPEN)
		return;
	b->state = BREAKER_CLOSED;
	b->failures = 0;
	b->probe_out = false;
	b->cooldown_ms = b->cfg.cooldown_ms;
}

void breaker_failure(struct breaker *b, int64_t now_ms)
{
	switch (b->state) {
	case BREAKER_CLOSED:
		b->failures++;
		if (b->failures >= b->cfg.failure_threshold)
			open_now(b, now_ms);
		break;
	case BREAKER_OPEN:
		break;
	case BREAKER_HALF_OPEN:
		b->failures++;
		b->cooldown_ms =
		    b->cooldown_ms > b->cfg.max_cooldown_ms / 2 ? b->cfg.max_cooldown_ms : b->cooldown_ms * 2;
		open_now(b, now_ms);
		break;
	}
}

void breaker_abandon(struct breaker *b, int64_t now_ms)
{
	if (b->state == BREAKER_HALF_OPEN)
		b->probe_out = false;
}

enum breaker_state breaker_state(const struct breaker *b, int64_t now_ms)
{
	if (b->state == BREAKER_OPEN && now_ms >= b->open_until)
		return BREAKER_HALF_OPEN;
	return b->state;
}

const char *breaker_state_name(enum breaker_state s)
{
	switch (s) {
	case BREAKER_CLOSED:
		return "closed";
	case BREAKER_OPEN:
		return "open";
	case BREAKER_HALF_OPEN:
		return "half-open";
	}
	return "unknown";
}

int64_t breaker_next_allow_ms(const struct breaker *b, int64_t now_ms)
{
	int64_t at = now_ms;
	if (b->state == BREAKER_OPEN)
		at = b->open_until;
	else if (b->state == BREAKER_HALF_OPEN && b->probe_out)
		at = b->probe_at + b->cfg.probe_timeout_ms;
	return at > now_ms ? at : now_ms;
}

int breaker_consecutive_failures(const struct breaker *b)
{
	return b->failures;
}

int64_t breaker_cooldown_ms(const struct breaker *b)
{
	return b->cooldown_ms;
}

json_object *breaker_json(const struct breaker *b, int64_t now_ms)
{
	json_object *o = json_object_new_object();
	enum breaker_state s = breaker_state(b, now_ms);
	json_object_object_add(o, "state", json_object_new_string(breaker_state_name(s)));
	json_object_object_add(o, "consecutive_failures", json_object_new_int(b->failures));
	json_object_object_add(o, "times_opened", json_object_new_int64(b->times_opened));
	json_object_object_add(o, "cooldown_ms", json_object_new_int64(b->cooldown_ms));
	json_object_object_add(o, "retry_in_ms",
	                       json_object_new_int64(breaker_next_allow_ms(b, now_ms) - now_ms));
	json_object_object_add(o, "probe_in_flight",
	                       json_object_new_boolean(b->state == BREAKER_HALF_OPEN && b->probe_out));
	return o;
}
