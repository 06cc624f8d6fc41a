/* health.h - what the gateway learns about its upstreams and keeps between
 * requests: one key pool per provider (keypool.h; each key with its
 * circuit breaker) and one strategy state per named route (strategy.h).
 * The proxy holds one for its lifetime, shared by its event loops; a CLI
 * run holds one for its one request.
 *
 * Thread safety: health_json locks by itself; everything else (these
 * lookups and the pools and states they return) is used between
 * health_lock and health_unlock when more than one thread shares h. */
#ifndef AROUTER_HEALTH_H
#define AROUTER_HEALTH_H

#include "breaker.h"
#include "keypool.h"
#include "provider.h"
#include "strategy.h"

#include <json-c/json.h>
#include <stdint.h>

/* Returns an empty registry, owned by the caller (health_free). cfg
 * configures every key's breaker (NULL: breaker_config_default()). */
struct health *health_new(const struct breaker_config *cfg);
void health_free(struct health *h);

void health_lock(struct health *h);
void health_unlock(struct health *h);

/* The key pool of provider p, made on first use from p's keys; keys that
 * change (a config reload) get a pool of their own. A pool lives as long
 * as h, so an attempt in flight at a reload keeps a valid one. Borrowed
 * from h. */
struct keypool *health_keypool(struct health *h, const struct provider *p);

/* The strategy state of the route named route with strategy s and n
 * candidates, made on first use (a reload that changes s or n gets a new
 * one). Borrowed from h. */
struct strategy_state *health_strategy(struct health *h, const char *route, enum strategy s, size_t n);

/* {"providers": {slug: {"keys": [...]}}, "routes": {name: {"strategy":..}}}
 * for /health and `arouter proxy --status`; keys are redacted. Owned by
 * the caller. */
json_object *health_json(struct health *h, int64_t now_ms);

#endif
