/* route.h - the model-string grammar, shared by `chat` and the proxy:
 *
 *   [alias rules] → [backend:]model-or-provider/model[?key=value&...]
 *
 * turned into the provider that answers, the model name it is sent, and
 * request parameters. */
#ifndef AROUTER_ROUTE_H
#define AROUTER_ROUTE_H

#include "conf.h"
#include "strategy.h"

#include <json-c/json.h>
#include <regex.h>
#include <stdbool.h>

/* Where a request goes. Strings are owned by the target. */
struct route_target {
	struct provider *provider; /* borrowed from the config */
	char *model;               /* the model name the provider is sent */
	char *display;             /* "provider/model", what the user asked for, after aliases */
	json_object *params;       /* typed ?key=value parameters, or NULL; owned */
	bool via_gateway;          /* sent through a gateway (hosted ARouter, an arouter proxy, OpenRouter) */
	bool mock_fallback;        /* chosen because no key exists for anything */
};

/* A parsed model string before the backend decision. */
struct model_ref {
	char *backend;  /* "openrouter" for "openrouter:x", else NULL */
	char *provider; /* "anthropic" for "anthropic/x" or inferred from a bare name, else NULL */
	char *model;    /* the rest, slashes included */
	json_object *params; /* NULL when no "?..." suffix */
};

/* Applies the config's model_aliases rules (ordered {pattern, replacement}
 * POSIX extended regexes, \1..\9 back-references; the first rule that
 * matches rewrites once). Returns a new string owned by the caller, or NULL
 * with *err (caller frees) when a rule is malformed. */
char *route_apply_aliases(json_object *aliases, const char *model, char **err);
/* Compiles an alias pattern (POSIX extended) into re, as every use of one
 * does. glibc's regcomp copies a repeated part for each repetition, so a
 * short pattern that repeats a repetition ("a++++++++++++++++++++",
 * "((((a)+)+)+)+...", "(a{1,999}){1,999}") takes time and memory
 * exponential in its length; one that would expand past
 * ROUTE_PATTERN_MAX_PARTS parts is refused without compiling it. So is
 * one that repeats, or makes optional, a part that can match the empty
 * string ("(a*)*", "a**", "(^|a)?", "(|a)+"): next to an anchor, regcomp's
 * closure over such parts takes time exponential in their number
 * ("cohe^&" and 75 '*' did not finish in 10 s). Returns 0, or -1 with the
 * reason in why (re is then not to be freed). */
#define ROUTE_PATTERN_MAX_PARTS 10000
int route_pattern_compile(regex_t *re, const char *pattern, char *why, size_t why_size);

/* Parses "[backend:][provider/]model[?k=v&...]" against the registry. A
 * "backend:" prefix counts only when it names a known provider, so
 * "llama3.2:3b" stays a model name. Returns 0, or -1 with *err. */
int route_parse(const struct provider_registry *reg, const char *s, struct model_ref *out, char **err);
void model_ref_clear(struct model_ref *r);

/* Parses "a=1&b=true&c=text" into a JSON object with typed values
 * (integers, floats, true/false/null, percent-decoding). Caller owns it. */
json_object *route_parse_params(const char *query);
/* Types one value the same way ("0.7" → double, "{...}" → object); a
 * number that is not finite ("-inf", "-nan") stays a string. */
json_object *route_typed_value(const char *s);

enum {
	ROUTE_ERROR = -1,            /* malformed, missing key, bad backend */
	ROUTE_UNKNOWN_PROVIDER = -2, /* no provider serves the model (HTTP 404) */
};

/* Resolves a model string (NULL or "" for the default) to a target using
 * the config's aliases, default model and default_backend (auto, direct,
 * gateway or a provider slug). On failure returns ROUTE_ERROR or
 * ROUTE_UNKNOWN_PROVIDER with *err set to a one-line message naming what
 * to set (caller frees). */
int route_resolve(const struct config *c, const char *model_string, struct route_target *out, char **err);

/* True when a model string without a backend goes to the gateway:
 * default_backend is "gateway", or "auto" and a gateway key is set. */
bool route_default_is_gateway(const struct config *c);

void route_target_clear(struct route_target *t);
/* Copies src into dst (strings duplicated, params referenced); dst is then
 * the caller's to clear. */
void route_target_copy(struct route_target *dst, const struct route_target *src);

/* The candidates one request may be answered by, in the order given (the
 * caller applies the strategy; see strategy.h). Owned by the plan. */
struct route_plan {
	struct route_target *v;
	size_t n;
	char *name;            /* the route that expanded it ("auto", a config route), or NULL */
	enum strategy strategy;
	char **skipped;        /* "member: why" for members that cannot be served */
	size_t n_skipped;
};

/* Builds the plan for a request:
 *   - model_string names a route in the config's "routes" ({"models":
 *     [...], "strategy": ...} or a bare list) → its members;
 *   - "auto" (unless the config defines a route of that name) → the
 *     default model of each provider with a key, in a fixed order;
 *   - models, a non-empty array (the request's OpenRouter-style fallback
 *     list) → model_string first when given, then each of models;
 *   - else the one model route_resolve gives, with its errors.
 * Members that cannot be resolved (no key, unknown provider) are left out
 * and listed in skipped; duplicates count once. Returns 0, or ROUTE_ERROR /
 * ROUTE_UNKNOWN_PROVIDER with *err (caller frees) when nothing is left. */
int route_plan_build(const struct config *c, const char *model_string, json_object *models,
		     struct route_plan *out, char **err);
void route_plan_clear(struct route_plan *p);
/* "a, b,c" (chat's -m, the X-Arouter-Models header) as a fallback list:
 * a new array of the non-empty names, spaces trimmed; caller owns it. */
json_object *route_models_from_list(const char *csv);

/* The length of the text a request holds (keys and strings; not images or
 * files), for token estimates of about chars/4. */
size_t route_prompt_chars(json_object *o);

/* Context-window fallback: leaves out of a plan of several candidates
 * those whose context length (from the catalog) is smaller than body's
 * estimated prompt tokens; unknown lengths are kept, and when nothing
 * would be left the largest is kept. Returns how many were left out, with
 * "display: why" lines in *left (caller frees each and the array). */
struct catalog;
size_t route_plan_fit(struct route_plan *plan, const struct catalog *cat, json_object *body, char ***left);

/* For the lowest-cost strategy: each candidate's list price of a million
 * prompt plus a million completion tokens, -1 when the catalog does not
 * know it. NULL for an empty plan; the caller frees the array. */
double *route_plan_costs(const struct route_plan *plan, const struct catalog *cat);

#endif
