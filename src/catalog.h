/* catalog.h - the model catalog: what is known about each model (context
 * length, prices, modalities, parameters). It is built from data/models.json,
 * compiled in, then the models listed under each provider in the config
 * file ("providers.SLUG.models"), then the config file's top-level "models"
 * list, whose entries extend the catalog or override fields of an entry
 * with the same id. The catalog describes models; it never restricts them:
 * a model it does not know is still sent to its provider.
 *
 * Prices are USD per token, as OpenRouter writes them ("0.000003" is $3 per
 * million tokens). */
#ifndef AROUTER_CATALOG_H
#define AROUTER_CATALOG_H

#include "conf.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

/* One model. Every pointer is owned by the catalog that holds it. */
struct catalog_model {
	char *id;               /* "provider/model" */
	char *provider;         /* the part of id before the first '/'; "" when id has none */
	char *model;            /* the provider's own name for it: the rest of id */
	char *name;             /* for people ("Anthropic: Claude Sonnet 4.6"); the id when none is known */
	char *description;      /* NULL when none */
	long context_length;    /* tokens; 0 when unknown */
	long max_output_tokens; /* 0 when unknown */
	double price_prompt;    /* USD per token; negative when unknown */
	double price_completion;
	double price_cache_read;           /* a prompt token read from the provider's cache */
	double price_cache_write;          /* a prompt token written to it (Anthropic) */
	json_object *input_modalities;     /* array of strings ("text", "image", ...), never NULL */
	json_object *output_modalities;    /* array of strings, never NULL */
	json_object *supported_parameters; /* array of request parameter names, never NULL */
	bool shared;                       /* catalog.c's own: every pointer above is the built-in
	                                    * table's, read by every catalog and freed by none */
};

struct catalog {
	struct catalog_model *v; /* in order: built-in table order, then additions */
	size_t n;
	/* catalog.c's own: room in v, and an index of ids (open addressing,
	 * slot i+1, n_index a power of two at least twice cap). */
	size_t cap;
	size_t *index;
	size_t n_index;
};

/* The built-in catalog extended by the configuration c (NULL for the
 * built-in catalog alone). Returns a catalog owned by the caller (free with
 * catalog_free), or NULL with *err set (caller frees) to one line naming the
 * malformed entry ("PATH:LINE:COL: models.2.pricing.prompt must be ...");
 * err may be NULL when the reason is not wanted. */
struct catalog *catalog_new(const struct config *c, char **err);
/* An empty catalog, for a list that comes from elsewhere (a gateway, a
 * provider's models endpoint). Owned by the caller; free with catalog_free. */
struct catalog *catalog_new_empty(void);
void catalog_free(struct catalog *cat);

/* Reads one model listing entry in any of the shapes models come in:
 * data/models.json's, an OpenRouter or ARouter /v1/models entry (pricing
 * with input_cache_read, architecture.*_modalities, top_provider), an
 * OpenAI or Anthropic models-list entry ({"id", "display_name"}) or a
 * Gemini one ({"name": "models/x", "displayName", "inputTokenLimit",
 * "outputTokenLimit"}) or a Cohere one ({"name", "context_length"}): without
 * an "id", "name" is the id. With provider set, the entry's id is that
 * provider's model name and the catalog id is "provider/id"; with provider
 * NULL the id is taken whole. Fields the entry has override those of a
 * model with the same id; the others stay as they were (unknown for a new
 * one); values of the wrong type are ignored. Returns the model (owned by cat, valid until the next change to
 * it), or NULL when the entry names no model. */
const struct catalog_model *catalog_add_listing(struct catalog *cat, json_object *entry,
                                                const char *provider);

/* Copies what m knows into the model provider/model of cat, added if new
 * (a provider's dated name for a model the catalog knows): m's name and
 * every field m knows override; fields m does not know stay as they were.
 * Returns the model, owned by cat. */
const struct catalog_model *catalog_add_copy(struct catalog *cat, const struct catalog_model *m,
                                             const char *provider, const char *model);

/* The model provider/model, or NULL when the catalog does not know it.
 * Tried in order: the exact id; the id ignoring case; then the longest
 * known model name that the name extends by a date or snapshot suffix
 * ("-20250929", "-2024-08-06", "-0709", "-001"), so that
 * claude-sonnet-4-5-20250929 finds claude-sonnet-4-5 but claude-sonnet-4-5
 * never finds claude-sonnet-4. With provider NULL, model is a whole
 * "provider/model" id. The result is borrowed from cat. */
const struct catalog_model *catalog_find(const struct catalog *cat, const char *provider, const char *model);

/* The cost in USD of one request, or a negative value when m is NULL or its
 * prompt or completion price is unknown. The counts follow the OpenAI usage
 * convention that arouter's canonical form uses: prompt_tokens INCLUDES the
 * cached_read_tokens (prompt_tokens_details.cached_tokens) and the
 * cache_write_tokens (prompt_tokens_details.cache_write_tokens), so those
 * are billed at the cache prices and only the rest of the prompt at the
 * prompt price; completion_tokens includes reasoning tokens. A cache price
 * the catalog does not know is taken to be the prompt price. */
double catalog_cost(const struct catalog_model *m, long prompt_tokens, long completion_tokens,
                    long cached_read_tokens, long cache_write_tokens);

/* True when m passes the filters of `arouter models`: query (NULL or "" for
 * any) is a case-insensitive substring of the id or the name, and provider
 * (NULL for any) is m's provider slug. */
bool catalog_model_matches(const struct catalog_model *m, const char *query, const char *provider);

/* The model as an OpenRouter-style /v1/models entry: id, object, created,
 * owned_by, name, description, context_length, pricing {prompt, completion,
 * input_cache_read, input_cache_write} as strings (unknown prices left out),
 * architecture {input_modalities, output_modalities}, top_provider
 * {context_length, max_completion_tokens}, supported_parameters. The
 * returned object is owned by the caller (json_object_put). */
json_object *catalog_model_json(const struct catalog_model *m);

/* {"object": "list", "data": [...]} of the models that match query and
 * provider_filter (as catalog_model_matches) and, when provider_ok is not
 * NULL, whose provider slug it accepts (the proxy passes one that says
 * whether it holds a key for the provider). The returned object is owned by
 * the caller (json_object_put). */
json_object *catalog_list_json(const struct catalog *cat, const char *query, const char *provider_filter,
                               bool (*provider_ok)(const char *slug, void *arg), void *arg);

/* Validates the config file's model entries strictly, for `config check`:
 * every problem, including unknown keys, one "PATH:LINE:COL: message" line
 * each appended to report. Returns the number of problems. */
struct buf;
int catalog_check_config(const struct config *c, struct buf *report);

/* The built-in catalog as JSON text (generated from data/models.json). */
extern const char catalog_builtin_json[];

#endif
