/* keypool.c - a provider's keys: round-robin over the usable ones, dead
 * keys out, rate-limited keys resting, a breaker per key. */
#include "config.h"

#include "keypool.h"
#include "retry.h"
#include "util.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct pool_key {
	char *secret;   /* NULL for a keyless slot */
	char *redacted; /* computed once: redact() returns a shared buffer */
	char *label;    /* "key sk-…abcd", how messages name it */
	bool dead;
	bool forbidden;     /* resting after a 403, not a 429 */
	int64_t rest_until; /* not picked before this; 0 when it never rested */
	long last_status;   /* -1 before the first report */
	struct breaker *breaker;
};

struct keypool {
	struct pool_key *keys;
	size_t n;
	size_t next; /* where the round-robin resumes */
};

struct keypool *keypool_new(const char *const *keys, size_t n, const struct breaker_config *breaker_cfg)
{
	struct keypool *pool = xcalloc(1, sizeof *pool);
	pool->n = n ? n : 1;
	pool->keys = xcalloc(pool->n, sizeof *pool->keys);
	for (size_t i = 0; i < pool->n; i++) {
		struct pool_key *k = &pool->keys[i];
		k->secret = n ? xstrdup(keys[i]) : NULL;
		k->redacted = xstrdup(redact(k->secret));
		k->label = n ? xasprintf("key %s", k->redacted) : xstrdup("keyless access");
		k->last_status = -1;
		k->breaker = breaker_new(breaker_cfg);
	}
	return pool;
}

/* A plain memset before free may be optimised away. */
static void wipe(char *s)
{
	if (!s)
		return;
	volatile char *p = s;
	while (*p)
		*p++ = '\0';
}

void keypool_free(struct keypool *pool)
{
	if (!pool)
		return;
	for (size_t i = 0; i < pool->n; i++) {
		wipe(pool->keys[i].secret);
		free(pool->keys[i].secret);
		free(pool->keys[i].redacted);
		free(pool->keys[i].label);
		breaker_free(pool->keys[i].breaker);
	}
	free(pool->keys);
	free(pool);
}

size_t keypool_size(const struct keypool *pool)
{
	return pool->n;
}

const char *keypool_key(const struct keypool *pool, size_t index)
{
	return index < pool->n ? pool->keys[index].secret : NULL;
}

const char *keypool_key_redacted(const struct keypool *pool, size_t index)
{
	return index < pool->n ? pool->keys[index].redacted : NULL;
}

enum keypool_pick keypool_pick(struct keypool *pool, int64_t now_ms, size_t *index)
{
	bool any_alive = false;
	for (size_t step = 0; step < pool->n; step++) {
		size_t i = (pool->next + step) % pool->n;
		struct pool_key *k = &pool->keys[i];
		if (k->dead)
			continue;
		any_alive = true;
		if (now_ms < k->rest_until)
			continue;
		/* Asked last: a half-open breaker hands its one probe to
		 * whoever asks, so ask only for the key that will be used. */
		if (!breaker_allow(k->breaker, now_ms))
			continue;
		pool->next = (i + 1) % pool->n;
		*index = i;
		return KEYPOOL_PICKED;
	}
	return any_alive ? KEYPOOL_WAIT : KEYPOOL_DEAD;
}

enum keypool_pick keypool_pick_resting(struct keypool *pool, int64_t now_ms, size_t *index)
{
	size_t best = pool->n;
	for (size_t i = 0; i < pool->n; i++) {
		const struct pool_key *k = &pool->keys[i];
		if (k->dead || k->rest_until <= now_ms)
			continue;
		if (best == pool->n || k->rest_until < pool->keys[best].rest_until)
			best = i;
	}
	if (best == pool->n || !breaker_allow(pool->keys[best].breaker, now_ms))
		return KEYPOOL_WAIT;
	*index = best;
	return KEYPOOL_PICKED;
}

static int64_t key_available_at(const struct pool_key *k, int64_t now_ms)
{
	int64_t at = breaker_next_allow_ms(k->breaker, now_ms);
	return k->rest_until > at ? k->rest_until : at;
}

int64_t keypool_available_at(const struct keypool *pool, int64_t now_ms)
{
	int64_t best = -1;
	for (size_t i = 0; i < pool->n; i++) {
		if (pool->keys[i].dead)
			continue;
		int64_t at = key_available_at(&pool->keys[i], now_ms);
		if (best < 0 || at < best)
			best = at;
	}
	return best;
}

bool keypool_rate_limited(const struct keypool *pool, int64_t now_ms)
{
	for (size_t i = 0; i < pool->n; i++) {
		const struct pool_key *k = &pool->keys[i];
		if (!k->dead && (k->rest_until <= now_ms || k->forbidden))
			return false; /* usable, held back by its breaker, or refused */
	}
	return true;
}

static size_t alive(const struct keypool *pool)
{
	size_t n = 0;
	for (size_t i = 0; i < pool->n; i++)
		n += !pool->keys[i].dead;
	return n;
}

static char *duration_text(int64_t ms)
{
	if (ms < 1000)
		return xasprintf("%lldms", (long long)ms);
	return xasprintf("%llds", (long long)((ms + 999) / 1000));
}

/* Rests a key for ms (its breaker gets no verdict: the upstream answered);
 * returns the duration as text for the log line (caller frees). */
static char *rest(struct pool_key *k, int64_t now_ms, int64_t ms, bool forbidden)
{
	breaker_abandon(k->breaker, now_ms);
	k->rest_until = now_ms + ms;
	k->forbidden = forbidden;
	return duration_text(ms);
}

enum keypool_outcome keypool_report(struct keypool *pool, size_t index, int64_t now_ms, long status,
                                    int64_t wait_ms, char **message)
{
	char *msg = NULL;
	enum keypool_outcome out = KEYPOOL_KEY_OK;
	if (message)
		*message = NULL;
	if (index >= pool->n)
		return out;
	struct pool_key *k = &pool->keys[index];
	k->last_status = status;

	if (status == 403 && k->secret) {
		/* A 403 can be about one model ("no access to this model") as well
		 * as about the key: the key rests long, and is still used when
		 * nothing else is left (the provider decides). */
		char *d = rest(k, now_ms, KEYPOOL_FORBIDDEN_REST_MS, true);
		out = KEYPOOL_KEY_RESTING;
		msg = xasprintf("%s refused with 403: not used for %s unless no other key is left", k->label, d);
		free(d);
	} else if (status == 401 || status == 403) {
		breaker_abandon(k->breaker, now_ms);
		out = KEYPOOL_KEY_DEAD;
		if (!k->dead) {
			k->dead = true;
			if (k->secret)
				msg = xasprintf(
				    "%s refused with %ld: taken out of the pool, %zu of %zu keys left",
				    k->label, status, alive(pool), pool->n);
			else
				msg = xasprintf("refused with %ld without a key: set one in the config",
				                status);
		}
	} else if (status == 429) {
		/* The upstream answered: no verdict on its health, only on
		 * this key's quota. */
		char *d = rest(k, now_ms, wait_ms >= 0 ? wait_ms : KEYPOOL_DEFAULT_COOLDOWN_MS, false);
		out = KEYPOOL_KEY_RESTING;
		msg = xasprintf("%s rate limited: resting for %s", k->label, d);
		free(d);
	} else if (retry_classify(status, status > 0 ? XFER_OK : XFER_NETWORK) == RETRY_FAILOVER) {
		enum breaker_state before = breaker_state(k->breaker, now_ms);
		breaker_failure(k->breaker, now_ms);
		out = KEYPOOL_KEY_FAILED;
		if (before != BREAKER_OPEN && breaker_state(k->breaker, now_ms) == BREAKER_OPEN) {
			out = KEYPOOL_KEY_OPENED;
			char *d = duration_text(breaker_cooldown_ms(k->breaker));
			msg = xasprintf("%s: %d failures in a row, not used for %s", k->label,
			                breaker_consecutive_failures(k->breaker), d);
			free(d);
		}
	} else {
		breaker_success(k->breaker, now_ms);
		/* A success (a resting key used for want of another) ends its rest. */
		if (status >= 200 && status < 300) {
			k->rest_until = 0;
			k->forbidden = false;
		}
	}
	if (message)
		*message = msg;
	else
		free(msg);
	return out;
}

void keypool_release(struct keypool *pool, size_t index, int64_t now_ms)
{
	if (index < pool->n)
		breaker_abandon(pool->keys[index].breaker, now_ms);
}

static const char *key_state(const struct pool_key *k, int64_t now_ms)
{
	if (k->dead)
		return "dead";
	if (now_ms < k->rest_until)
		return "resting";
	switch (breaker_state(k->breaker, now_ms)) {
	case BREAKER_CLOSED:
		return "ok";
	case BREAKER_OPEN:
		return "open";
	case BREAKER_HALF_OPEN:
		return "half-open";
	}
	return "ok";
}

json_object *keypool_json(const struct keypool *pool, int64_t now_ms)
{
	json_object *o = json_object_new_object(), *arr = json_object_new_array();
	size_t usable = 0;
	for (size_t i = 0; i < pool->n; i++) {
		const struct pool_key *k = &pool->keys[i];
		json_object *e = json_object_new_object();
		json_object_object_add(e, "key", json_object_new_string(k->redacted));
		json_object_object_add(e, "state", json_object_new_string(key_state(k, now_ms)));
		if (!k->dead) {
			int64_t at = key_available_at(k, now_ms);
			usable += at == now_ms;
			json_object_object_add(e, "available_in_ms", json_object_new_int64(at - now_ms));
		}
		json_object_object_add(e, "last_status",
		                       k->last_status < 0 ? NULL : json_object_new_int64(k->last_status));
		json_object_object_add(e, "breaker", breaker_json(k->breaker, now_ms));
		json_object_array_add(arr, e);
	}
	json_object_object_add(o, "total", json_object_new_int64((int64_t)pool->n));
	json_object_object_add(o, "usable", json_object_new_int64((int64_t)usable));
	json_object_object_add(o, "keys", arr);
	return o;
}
