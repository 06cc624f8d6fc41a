/* provider.h - the provider registry: the built-in table (data/providers.json,
 * compiled in) merged with custom providers and overrides from the config
 * file and the environment, with each provider's keys resolved. */
#ifndef AROUTER_PROVIDER_H
#define AROUTER_PROVIDER_H

#include "dialect.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

enum provider_auth {
	AUTH_NONE,
	AUTH_BEARER,         /* Authorization: Bearer KEY */
	AUTH_X_API_KEY,      /* x-api-key: KEY (Anthropic) */
	AUTH_X_GOOG_API_KEY, /* x-goog-api-key: KEY (Gemini) */
	AUTH_API_KEY,        /* api-key: KEY (Azure) */
};

struct provider_header {
	char *name;
	char *value;
};

/* One provider. Every string is owned by the registry. */
struct provider {
	char *slug;
	char *name;
	char *base_url;        /* no trailing slash; "builtin:" for mock */
	char *base_url_source; /* "built-in", "config", or the environment variable's name */
	enum dialect dialect;
	char *chat_path;       /* may contain {model} and {api_version} */
	char *stream_path;     /* NULL: chat_path serves streams too */
	char *models_path;     /* NULL when the provider has no models endpoint */
	char *embeddings_path;
	char *count_tokens_path;
	char *api_version;     /* Azure's api-version query value */
	char *default_model;   /* used when no model is named and this provider answers */
	enum provider_auth auth;
	char **key_env;        /* environment variables searched for a key, in order */
	size_t n_key_env;
	char **keys;           /* resolved keys (a pool), in order; may be empty */
	size_t n_keys;
	char *key_source;      /* where keys came from: "config" or a variable name; NULL if none */
	bool key_optional;     /* works without a key (ollama, mock, keyless local servers) */
	struct provider_header *headers; /* sent on every request (anthropic-version) */
	size_t n_headers;
	char **model_prefixes; /* bare model names starting with one of these belong here */
	size_t n_model_prefixes;
	bool builtin;
	json_object *models;   /* custom provider's model list from config, or NULL; owned */
};

struct provider_registry {
	struct provider *v;
	size_t n;
	/* provider.c's own: an index of slugs (open addressing, slot i+1,
	 * n_index a power of two at least twice n), made when the load
	 * completes; a registry without one is searched in order. */
	size_t *index;
	size_t n_index;
};

/* Builds the registry from the built-in table, then the config file's
 * "providers" object (may be NULL), then the environment. On a malformed
 * provider entry returns -1 and sets *err (caller frees) naming the key;
 * reg is then empty. */
int provider_registry_load(struct provider_registry *reg, json_object *config_providers, char **err);
void provider_registry_free(struct provider_registry *reg);

/* Returns the provider with this slug, or NULL. Borrowed from reg. */
struct provider *provider_find(const struct provider_registry *reg, const char *slug);
/* Returns the provider whose model_prefixes match a bare model name, or NULL. */
struct provider *provider_for_model(const struct provider_registry *reg, const char *model);
/* The closest slug to a misspelt one, or NULL (borrowed). */
const char *provider_suggest(const struct provider_registry *reg, const char *slug);

bool provider_has_key(const struct provider *p);
/* The first key, or NULL. Borrowed. */
const char *provider_key(const struct provider *p);
/* "OPENAI_API_KEY" or, for a provider without variables, "providers.SLUG.api_key". Borrowed/static. */
const char *provider_key_hint(const struct provider *p);

const char *provider_auth_name(enum provider_auth a);

/* The header that carries the provider's first key in its auth style:
 * sets *name (static) and returns the value, owned by the caller (free()).
 * Returns NULL when the provider has no key or uses no auth. */
char *provider_auth_header(const struct provider *p, const char **name);
/* The same for a given key (one of a pool's); NULL when key is NULL. */
char *provider_auth_header_with(const struct provider *p, const char *key, const char **name);

/* Expands {model} and {api_version} in a path template and prefixes the base
 * URL. The returned string is owned by the caller (free()). */
char *provider_url(const struct provider *p, const char *path_template, const char *model);

/* The built-in table as JSON text (generated from data/providers.json). */
extern const char provider_builtin_json[];

#endif
