/* keypool.h - one provider's API keys (providers.<slug>.keys in the config,
 * or the single key from its environment variable) and what is known about
 * each: requests are spread round-robin over the keys that are usable now;
 * a key the provider refuses (401/403) is taken out for good, a rate-limited
 * one (429) rests until its limit resets, and each key has a circuit breaker
 * (breaker.h) fed by server errors and network failures.
 *
 * The pool owns copies of the keys and wipes them when freed. Keys leave it
 * only through keypool_key; every message and JSON it produces names keys
 * redacted ("sk-…abcd"). Times are the caller's milliseconds on a clock
 * that does not go backwards. No I/O, not thread-safe. */
#ifndef AROUTER_KEYPOOL_H
#define AROUTER_KEYPOOL_H

#include "breaker.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How long a 429 rests a key when the response said nothing about when
 * its limit resets. */
#define KEYPOOL_DEFAULT_COOLDOWN_MS 5000
/* How long a key refused with 403 rests. */
#define KEYPOOL_FORBIDDEN_REST_MS (10 * 60 * 1000)

/* Returns a pool of copies of keys[0..n-1], owned by the caller (free with
 * keypool_free). A pool of no keys (a keyless provider: ollama, a local
 * server) has one slot whose key is NULL, so that the provider still has a
 * breaker. breaker_cfg configures every key's breaker (NULL: defaults). */
struct keypool *keypool_new(const char *const *keys, size_t n, const struct breaker_config *breaker_cfg);
void keypool_free(struct keypool *pool);

/* The number of slots (1 for a keyless pool). */
size_t keypool_size(const struct keypool *pool);
/* The key in slot index, to put in the request's auth header; NULL for the
 * keyless slot. Borrowed from the pool: never log it. */
const char *keypool_key(const struct keypool *pool, size_t index);
/* The same key redacted, safe to show. Borrowed from the pool. */
const char *keypool_key_redacted(const struct keypool *pool, size_t index);

enum keypool_pick {
	KEYPOOL_PICKED, /* *index is the key to use; report how it went with keypool_report */
	KEYPOOL_WAIT,   /* every live key rests or its breaker is open: see keypool_available_at */
	KEYPOOL_DEAD,   /* the provider refused every key (401/403) */
};

/* Picks the next usable key round-robin: not dead, not resting, its breaker
 * allowing (a half-open breaker lets one probe through, so a pick can be the
 * probe). Every KEYPOOL_PICKED must be followed by one keypool_report or
 * keypool_release for that index. */
enum keypool_pick keypool_pick(struct keypool *pool, int64_t now_ms, size_t *index);
/* The earliest time at or after now_ms when keypool_pick may pick a key:
 * now_ms when one is usable now, -1 when every key is dead. */
int64_t keypool_available_at(const struct keypool *pool, int64_t now_ms);

/* The resting key whose rest ends first, for a request with nowhere else
 * to go: a provider's limits are often per model, so its 429 for one
 * model says little about the next request. KEYPOOL_WAIT when no key
 * rests or that key's breaker is open. Report it like any pick. */
enum keypool_pick keypool_pick_resting(struct keypool *pool, int64_t now_ms, size_t *index);

/* Whether every live key is resting after a 429 (rather than held back by
 * an open breaker). */
bool keypool_rate_limited(const struct keypool *pool, int64_t now_ms);

/* What a report did to the key. */
enum keypool_outcome {
	KEYPOOL_KEY_OK,      /* a success, or a refusal of the request and not of the key */
	KEYPOOL_KEY_FAILED,  /* a server error or network failure counted by its breaker */
	KEYPOOL_KEY_OPENED,  /* that failure opened the key's breaker */
	KEYPOOL_KEY_RESTING, /* 429: not picked until its limit resets; 403: for KEYPOOL_FORBIDDEN_REST_MS */
	KEYPOOL_KEY_DEAD,    /* 401 (or 403 without a key): never picked again */
};

/* Reports how a request with the key in slot index went: status is the
 * HTTP status, or 0 when no response arrived (connection error, timeout);
 * wait_ms is how long the response said to wait (retry_wait_from_headers
 * in retry.h; -1 when it did not say). 2xx and the request's own 4xx errors
 * count as the key's breaker success; 5xx, 408, 409 and 0 as its failure;
 * 429 rests the key for wait_ms (KEYPOOL_DEFAULT_COOLDOWN_MS when -1);
 * 401 kills it; 403, which may concern one model only, rests it for
 * KEYPOOL_FORBIDDEN_REST_MS (keypool_pick_resting still offers it). A 2xx
 * ends a rest. When the key's state changed and message is not
 * NULL, *message is set to one lower-case line naming the key redacted
 * ("key sk-…abcd refused with 401: taken out of the pool, 2 of 3 keys
 * left"), owned by the caller (free()); otherwise to NULL. */
enum keypool_outcome keypool_report(struct keypool *pool, size_t index, int64_t now_ms, long status,
                                    int64_t wait_ms, char **message);
/* Ends a pick with no verdict on the key (the client went away before an
 * answer): frees its breaker's probe slot if it held it. */
void keypool_release(struct keypool *pool, size_t index, int64_t now_ms);

/* The pool for /health: {"total", "usable" (keys pickable now), "keys": [
 * {"key": redacted, "state": "ok" | "resting" | "dead" | "open" |
 * "half-open", "available_in_ms", "last_status", "breaker": breaker_json}]}.
 * The returned object is owned by the caller (json_object_put). */
json_object *keypool_json(const struct keypool *pool, int64_t now_ms);

#endif
