/* limiter.c - GCRA buckets per local key in a bounded hash table. */
#include "config.h"

#include "limiter.h"
#include "util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A unit costs one minute of drain time at a rate of one unit per minute:
 * the level is kept in unit-milliseconds, so that a limit of L per minute
 * drains exactly L per millisecond and no arithmetic is fractional. */
#define UNIT 60000LL
/* Debts are saturated here, far beyond any limit's capacity, so that
 * absurd token counts cannot overflow. */
#define LEVEL_CAP (INT64_MAX / 4)

struct bucket {
	int64_t level; /* unit-ms still to drain */
	int64_t at;    /* when it was last drained */
};

struct entry {
	char *key;
	uint64_t hash;
	struct entry *next;
	struct bucket req, tok;
	int64_t rpm, tpm; /* the limits the last check named, for charging and sweeping */
	int64_t seen;
};

struct limiter {
	pthread_mutex_t mu; /* the proxy's event loops share one limiter */
	struct entry **slots;
	size_t n_slots; /* a power of two */
	size_t n, max;
};

struct limiter *limiter_new(size_t max_keys)
{
	struct limiter *l = xcalloc(1, sizeof *l);
	l->max = max_keys ? max_keys : LIMITER_DEFAULT_MAX_KEYS;
	l->n_slots = 16;
	while (l->n_slots < l->max && l->n_slots < ((size_t)1 << 20))
		l->n_slots *= 2;
	l->slots = xcalloc(l->n_slots, sizeof *l->slots);
	pthread_mutex_init(&l->mu, NULL);
	return l;
}

static void entry_free(struct entry *e)
{
	free(e->key);
	free(e);
}

void limiter_free(struct limiter *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n_slots; i++)
		for (struct entry *e = l->slots[i], *next; e; e = next) {
			next = e->next;
			entry_free(e);
		}
	free(l->slots);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

static int64_t clamp_limit(int64_t limit)
{
	if (limit <= 0)
		return 0;
	return limit > LIMITER_MAX_LIMIT ? LIMITER_MAX_LIMIT : limit;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
	return a <= 0 ? 0 : (a + b - 1) / b;
}

/* Drains the bucket up to now at limit per ms; with no limit the level no
 * longer matters. A clock that went back drains nothing. */
static void drain(struct bucket *b, int64_t limit, int64_t now_ms)
{
	if (limit <= 0)
		b->level = 0;
	if (now_ms <= b->at)
		return;
	int64_t dt = now_ms - b->at;
	b->at = now_ms;
	if (limit <= 0 || dt >= ceil_div(b->level, limit))
		b->level = 0;
	else
		b->level -= dt * limit;
}

/* Whether forgetting the key would change nothing. */
static bool drained(const struct entry *e, int64_t now_ms)
{
	struct bucket r = e->req, t = e->tok;
	drain(&r, e->rpm, now_ms);
	drain(&t, e->tpm, now_ms);
	return r.level == 0 && t.level == 0;
}

static struct entry **find_slot(struct limiter *l, const char *key, uint64_t h)
{
	struct entry **pp = &l->slots[h & (l->n_slots - 1)];
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && strcmp((*pp)->key, key) == 0)
			break;
	return pp;
}

static void unlink_entry(struct limiter *l, struct entry **pp)
{
	struct entry *e = *pp;
	*pp = e->next;
	entry_free(e);
	l->n--;
}

static size_t sweep(struct limiter *l, int64_t now_ms)
{
	size_t evicted = 0;
	for (size_t i = 0; i < l->n_slots; i++)
		for (struct entry **pp = &l->slots[i]; *pp;) {
			if (drained(*pp, now_ms)) {
				unlink_entry(l, pp);
				evicted++;
			} else {
				pp = &(*pp)->next;
			}
		}
	return evicted;
}

size_t limiter_sweep(struct limiter *l, int64_t now_ms)
{
	pthread_mutex_lock(&l->mu);
	size_t n = sweep(l, now_ms);
	pthread_mutex_unlock(&l->mu);
	return n;
}

static void evict_oldest(struct limiter *l)
{
	struct entry **oldest = NULL;
	for (size_t i = 0; i < l->n_slots; i++)
		for (struct entry **pp = &l->slots[i]; *pp; pp = &(*pp)->next)
			if (!oldest || (*pp)->seen < (*oldest)->seen)
				oldest = pp;
	if (oldest)
		unlink_entry(l, oldest);
}

static struct entry *lookup(struct limiter *l, const char *key, int64_t now_ms, bool create)
{
	uint64_t h = str_hash(key);
	struct entry **pp = find_slot(l, key, h);
	if (*pp || !create)
		return *pp;
	if (l->n >= l->max) {
		if (sweep(l, now_ms) == 0)
			evict_oldest(l);
		pp = find_slot(l, key, h);
	}
	struct entry *e = xcalloc(1, sizeof *e);
	e->key = xstrdup(key);
	e->hash = h;
	e->req.at = e->tok.at = now_ms;
	*pp = e;
	l->n++;
	return e;
}

size_t limiter_size(struct limiter *l)
{
	pthread_mutex_lock(&l->mu);
	size_t n = l->n;
	pthread_mutex_unlock(&l->mu);
	return n;
}

static void fill_quota(struct limiter_quota *q, const struct bucket *b, int64_t limit)
{
	q->limit = limit;
	if (limit <= 0) {
		q->remaining = q->reset_ms = 0;
		return;
	}
	int64_t room = limit * UNIT - b->level;
	q->remaining = room > 0 ? room / UNIT : 0;
	q->reset_ms = ceil_div(b->level, limit);
}

static bool check_request(struct limiter *l, const char *key_id, int64_t rpm, int64_t tpm, int64_t now_ms,
                          struct limiter_verdict *out)
{
	memset(out, 0, sizeof *out);
	out->admitted = true;
	out->reason = LIMITER_ADMITTED;
	rpm = clamp_limit(rpm);
	tpm = clamp_limit(tpm);
	struct entry *e = lookup(l, key_id, now_ms, rpm > 0 || tpm > 0);
	if (!e) {
		fill_quota(&out->requests, &(struct bucket){0}, rpm);
		fill_quota(&out->tokens, &(struct bucket){0}, tpm);
		return true;
	}
	e->seen = now_ms;
	e->rpm = rpm;
	e->tpm = tpm;
	drain(&e->req, rpm, now_ms);
	drain(&e->tok, tpm, now_ms);

	int64_t wait = 0;
	/* One more request must fit under the rpm capacity... */
	if (rpm > 0 && e->req.level + UNIT > rpm * UNIT) {
		int64_t w = ceil_div(e->req.level + UNIT - rpm * UNIT, rpm);
		out->reason = LIMITER_RPM;
		wait = w;
	}
	/* ... and at least one token must be left of the tpm budget. */
	if (tpm > 0 && e->tok.level + UNIT > tpm * UNIT) {
		int64_t w = ceil_div(e->tok.level + UNIT - tpm * UNIT, tpm);
		if (w > wait) {
			out->reason = LIMITER_TPM;
			wait = w;
		}
	}
	if (out->reason != LIMITER_ADMITTED) {
		out->admitted = false;
		out->retry_after_ms = wait;
		out->retry_after_s = ceil_div(wait, 1000); /* wait >= 1 here, so at least 1 */
	} else if (rpm > 0) {
		e->req.level += UNIT;
	}
	fill_quota(&out->requests, &e->req, rpm);
	fill_quota(&out->tokens, &e->tok, tpm);
	return out->admitted;
}

bool limiter_check_request(struct limiter *l, const char *key_id, int64_t rpm, int64_t tpm, int64_t now_ms,
                           struct limiter_verdict *out)
{
	pthread_mutex_lock(&l->mu);
	bool admitted = check_request(l, key_id, rpm, tpm, now_ms, out);
	pthread_mutex_unlock(&l->mu);
	return admitted;
}

void limiter_charge_tokens(struct limiter *l, const char *key_id, int64_t tokens, int64_t now_ms)
{
	if (tokens <= 0)
		return;
	pthread_mutex_lock(&l->mu);
	struct entry *e = lookup(l, key_id, now_ms, false);
	if (e && e->tpm > 0) {
		drain(&e->tok, e->tpm, now_ms);
		e->seen = now_ms;
		if (tokens > (LEVEL_CAP - e->tok.level) / UNIT)
			e->tok.level = LEVEL_CAP;
		else
			e->tok.level += tokens * UNIT;
	}
	pthread_mutex_unlock(&l->mu);
}

int64_t limiter_reset_epoch_s(int64_t wall_now_ms, int64_t reset_ms)
{
	return ceil_div(wall_now_ms + (reset_ms > 0 ? reset_ms : 0), 1000);
}
