/* health.h - what the gateway learns about its upstreams and keeps between
 * requests: one key pool per provider (keypool.h; each key with its
 * circuit breaker) and one strategy state per named route (strategy.h).
 * The proxy holds one for its lifetime; a CLI run holds one for its one
 * request. Not thread-safe. */
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

/* The key pool of provider p, made on first use from p's keys and made
 * again when they change (a config reload); state is kept otherwise.
 * Borrowed from h. */
struct keypool *health_keypool(struct health *h, const struct provider *p);

/* The strategy state of the route named route with n candidates, made on
 * first use (again when the strategy or n changes). Borrowed from h. */
struct strategy_state *health_strategy(struct health *h, const char *route, enum strategy s, size_t n);

/* {"providers": {slug: {"keys": [...]}}, "routes": {name: {"strategy":..}}}
 * for /health and `arouter proxy --status`; keys are redacted. Owned by
 * the caller. */
json_object *health_json(const struct health *h, int64_t now_ms);

#endif
