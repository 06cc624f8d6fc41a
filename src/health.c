/* health.c - key pools and route strategy state that outlive a request.
 * See health.h. The tables are small (a pool per provider used, a state
 * per route used), so they are arrays searched by name. */
#include "config.h"

#include "health.h"
#include "jsonw.h"
#include "util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct pool_entry {
	char *slug;
	uint64_t keys_hash; /* of the keys the pool was made from */
	struct keypool *pool;
};

struct route_entry {
	char *name;
	enum strategy strategy;
	size_t n;
	struct strategy_state *st;
};

struct health {
	pthread_mutex_t mu;
	struct breaker_config cfg;
	struct pool_entry *pools;
	size_t n_pools;
	struct route_entry *routes;
	size_t n_routes;
};

struct health *health_new(const struct breaker_config *cfg)
{
	struct health *h = xcalloc(1, sizeof *h);
	h->cfg = cfg ? *cfg : breaker_config_default();
	pthread_mutex_init(&h->mu, NULL);
	return h;
}

void health_free(struct health *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n_pools; i++) {
		free(h->pools[i].slug);
		keypool_free(h->pools[i].pool);
	}
	for (size_t i = 0; i < h->n_routes; i++) {
		free(h->routes[i].name);
		strategy_state_free(h->routes[i].st);
	}
	free(h->pools);
	free(h->routes);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

void health_lock(struct health *h)
{
	pthread_mutex_lock(&h->mu);
}

void health_unlock(struct health *h)
{
	pthread_mutex_unlock(&h->mu);
}

/* FNV-1a over the keys, each ended by a NUL: tells whether a reload
 * changed them without keeping a second copy of any. */
static uint64_t keys_hash(const struct provider *p)
{
	uint64_t x = 1469598103934665603ULL;
	for (size_t i = 0; i < p->n_keys; i++)
		for (const unsigned char *s = (const unsigned char *)p->keys[i];; s++) {
			x = (x ^ *s) * 1099511628211ULL;
			if (!*s)
				break;
		}
	return x ^ p->n_keys;
}

struct keypool *health_keypool(struct health *h, const struct provider *p)
{
	/* A pool made from other keys stays: an attempt in flight holds it,
	 * and an event loop that has not reloaded yet still asks for it. */
	uint64_t kh = keys_hash(p);
	for (size_t i = 0; i < h->n_pools; i++) {
		struct pool_entry *e = &h->pools[i];
		if (e->keys_hash == kh && strcmp(e->slug, p->slug) == 0)
			return e->pool;
	}
	h->pools = xrealloc(h->pools, (h->n_pools + 1) * sizeof *h->pools);
	struct pool_entry *e = &h->pools[h->n_pools++];
	e->slug = xstrdup(p->slug);
	e->keys_hash = kh;
	e->pool = keypool_new((const char *const *)p->keys, p->n_keys, &h->cfg);
	return e->pool;
}

struct strategy_state *health_strategy(struct health *h, const char *route, enum strategy s, size_t n)
{
	for (size_t i = 0; i < h->n_routes; i++) {
		struct route_entry *e = &h->routes[i];
		if (e->strategy == s && e->n == n && strcmp(e->name, route) == 0)
			return e->st;
	}
	h->routes = xrealloc(h->routes, (h->n_routes + 1) * sizeof *h->routes);
	struct route_entry *e = &h->routes[h->n_routes++];
	e->name = xstrdup(route);
	e->strategy = s;
	e->n = n;
	e->st = strategy_state_new(s, n);
	return e->st;
}

json_object *health_json(struct health *h, int64_t now_ms)
{
	json_object *o = json_object_new_object();
	json_object *providers = json_object_new_object();
	json_object *routes = json_object_new_object();
	health_lock(h);
	/* Newest first: a provider's or route's current state is the one
	 * made last (older ones serve what was in flight at a reload). */
	for (size_t i = h->n_pools; i-- > 0;)
		if (!json_object_object_get_ex(providers, h->pools[i].slug, NULL))
			json_object_object_add(providers, h->pools[i].slug, keypool_json(h->pools[i].pool, now_ms));
	for (size_t i = h->n_routes; i-- > 0;) {
		const struct route_entry *e = &h->routes[i];
		if (json_object_object_get_ex(routes, e->name, NULL))
			continue;
		json_object *r = json_object_new_object();
		json_object_object_add(r, "strategy", json_object_new_string(strategy_name(e->strategy)));
		json_object_object_add(r, "candidates", json_object_new_int64((int64_t)e->n));
		if (e->strategy == STRATEGY_LOWEST_LATENCY) {
			json_object *lat = json_object_new_array();
			for (size_t j = 0; j < e->n; j++) {
				double ms = strategy_latency_ms(e->st, j);
				json_object_array_add(lat, ms >= 0 ? json_new_number(ms) : NULL);
			}
			json_object_object_add(r, "latency_ms", lat);
		}
		json_object_object_add(routes, e->name, r);
	}
	health_unlock(h);
	json_object_object_add(o, "providers", providers);
	json_object_object_add(o, "routes", routes);
	return o;
}
