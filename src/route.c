/* route.c - the model-string grammar and the backend decision. See route.h. */
#include "config.h"

#include "route.h"
#include "catalog.h"
#include "buf.h"
#include "jsonw.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Compiled alias patterns, shared by every thread: regcomp costs tens of
 * microseconds a pattern and route_resolve runs on every request. Keyed by
 * the pattern text, so a reloaded config reuses what it still has. Bounded:
 * past ALIAS_CACHE_MAX patterns, the rest are compiled for each use. Entries
 * are never freed before exit, so a regex_t handed out stays valid; glibc's
 * regexec locks inside, so threads may share one. */
#define ALIAS_CACHE_MAX 64
static struct {
	char *pattern;
	regex_t re;
} alias_cache[ALIAS_CACHE_MAX];
static size_t alias_cache_n;
static pthread_mutex_t alias_cache_mu = PTHREAD_MUTEX_INITIALIZER;

/* How many parts glibc's regcomp expands an extended pattern into, bounded
 * above: a repeated part counts once for each copy ('+' two, {m,n} n or
 * m+1, '*' and '?' one), so repetition of repetition multiplies. Returns
 * more than limit as soon as it gets there. *empty_loop is set when a
 * repetition applies to a part that can match the empty string ("(a*)*",
 * "a**", "(^|a)?", "(|a)+"): glibc's closure of such a part next to an
 * anchor takes time exponential (or of high degree) in their number. */
static double pattern_parts(const char *p, double limit, bool *empty_loop)
{
	struct level {
		double done;     /* the branches before the last '|' */
		double cur;      /* this branch so far */
		double last;     /* the last item of it, which a repetition applies to */
		bool done_empty; /* one of the earlier branches can match "" */
		bool pre_empty;  /* this branch before its last item can */
		bool last_empty; /* the last item can */
	} st[64] = {{0, 0, 0, false, true, true}};
	size_t top = 0;
	*empty_loop = false;
	while (*p) {
		double item = -1, times = 1;
		bool empty = false, repeat = false, optional = false;
		if (*p == '\\') {
			/* glibc's assertions match no character; a back-reference
			 * may match none. */
			empty = p[1] && strchr("bB<>`'123456789", p[1]);
			p += p[1] ? 2 : 1;
			item = 1;
		} else if (*p == '[') {
			p++;
			if (*p == '^')
				p++;
			if (*p == ']')
				p++;
			while (*p && *p != ']') {
				if (p[0] == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
					const char *end = strchr(p + 2, ']');
					p = end ? end + 1 : p + strlen(p);
				} else {
					p++;
				}
			}
			if (*p)
				p++;
			item = 1;
		} else if (*p == '(') {
			if (++top == sizeof st / sizeof st[0])
				return limit + 1; /* deeper than anyone writes */
			st[top] = (struct level){0, 0, 0, false, true, true};
			p++;
		} else if (*p == ')' && top > 0) {
			item = st[top].done + st[top].cur + 1;
			empty = st[top].done_empty || (st[top].pre_empty && st[top].last_empty);
			top--;
			p++;
		} else if (*p == '|') {
			st[top].done += st[top].cur;
			st[top].done_empty |= st[top].pre_empty && st[top].last_empty;
			st[top].cur = st[top].last = 0;
			st[top].pre_empty = st[top].last_empty = true;
			p++;
		} else if (*p == '*' || *p == '?') {
			repeat = *p == '*';
			optional = true;
			p++;
		} else if (*p == '+') {
			times = 2;
			repeat = true;
			p++;
		} else if (*p == '{' && isdigit((unsigned char)p[1])) {
			char *end;
			double m = strtod(p + 1, &end), n = m;
			if (*end == ',')
				n = isdigit((unsigned char)end[1]) ? strtod(end + 1, &end) : (end++, m + 1);
			times = n > m ? n : m;
			times = times < 1 ? 1 : times;
			repeat = true;
			optional = m < 1;
			p = *end == '}' ? end + 1 : end;
		} else {
			empty = *p == '^' || *p == '$';
			p++;
			item = 1;
		}
		struct level *l = &st[top];
		if (item >= 0) {
			l->cur += item;
			l->last = item;
			l->pre_empty = l->pre_empty && l->last_empty;
			l->last_empty = empty;
		} else if (repeat || optional) {
			/* What can match nothing, repeated or made optional, is
			 * refused ('?' too: regcomp is as slow on it). */
			if (l->last > 0 && l->last_empty)
				*empty_loop = true;
			l->cur += l->last * (times - 1);
			l->last *= times;
			l->last_empty = l->last_empty || optional;
		}
		if (l->done + l->cur > limit)
			return limit + 1;
	}
	double total = 0;
	for (size_t i = 0; i <= top; i++)
		total += st[i].done + st[i].cur;
	return total;
}

int route_pattern_compile(regex_t *re, const char *pattern, char *why, size_t why_size)
{
	bool empty_loop;
	if (pattern_parts(pattern, ROUTE_PATTERN_MAX_PARTS, &empty_loop) > ROUTE_PATTERN_MAX_PARTS) {
		snprintf(why, why_size, "too complex: its repetitions of repetitions would expand it past %d parts",
		         ROUTE_PATTERN_MAX_PARTS);
		return -1;
	}
	if (empty_loop) {
		snprintf(why, why_size,
		         "too complex: it repeats or makes optional a part that can match nothing (as in \"(a*)*\", "
		         "\"a**\" or \"(^|a)?\")");
		return -1;
	}
	int rc = regcomp(re, pattern, REG_EXTENDED);
	if (rc != 0) {
		regerror(rc, re, why, why_size);
		return -1;
	}
	return 0;
}

/* The compiled form of pattern: from the cache (*owned false) or, when the
 * cache is full, compiled for this use (*owned true; regfree it). Returns
 * NULL with regcomp's message in why when the pattern does not compile. */
static regex_t *alias_regex(const char *pattern, regex_t *scratch, bool *owned, char *why, size_t why_size)
{
	*owned = false;
	regex_t *found = NULL;
	pthread_mutex_lock(&alias_cache_mu);
	for (size_t i = 0; i < alias_cache_n && !found; i++)
		if (strcmp(alias_cache[i].pattern, pattern) == 0)
			found = &alias_cache[i].re;
	pthread_mutex_unlock(&alias_cache_mu);
	if (found)
		return found;
	if (route_pattern_compile(scratch, pattern, why, why_size) < 0)
		return NULL;
	pthread_mutex_lock(&alias_cache_mu);
	for (size_t i = 0; i < alias_cache_n && !found; i++) /* another thread won the race */
		if (strcmp(alias_cache[i].pattern, pattern) == 0)
			found = &alias_cache[i].re;
	if (!found && alias_cache_n < ALIAS_CACHE_MAX) {
		alias_cache[alias_cache_n].pattern = xstrdup(pattern);
		alias_cache[alias_cache_n].re = *scratch;
		found = &alias_cache[alias_cache_n++].re;
		scratch = NULL;
	}
	pthread_mutex_unlock(&alias_cache_mu);
	if (!scratch)
		return found;
	if (found) {
		regfree(scratch);
		return found;
	}
	*owned = true;
	return scratch;
}

char *route_apply_aliases(json_object *aliases, const char *model, char **err)
{
	if (!aliases || !json_object_is_type(aliases, json_type_array))
		return xstrdup(model);
	size_t n = json_object_array_length(aliases);
	for (size_t i = 0; i < n; i++) {
		json_object *rule = json_object_array_get_idx(aliases, i), *pat, *rep;
		if (!json_object_object_get_ex(rule, "pattern", &pat) ||
		    !json_object_object_get_ex(rule, "replacement", &rep)) {
			*err = xasprintf("model_aliases.%zu needs \"pattern\" and \"replacement\"", i);
			return NULL;
		}
		regex_t scratch;
		regmatch_t m[10];
		char why[128];
		bool owned;
		regex_t *re = alias_regex(json_object_get_string(pat), &scratch, &owned, why, sizeof why);
		if (!re) {
			*err = xasprintf("model_aliases.%zu.pattern: %s", i, why);
			return NULL;
		}
		int rc = regexec(re, model, 10, m, 0);
		if (owned)
			regfree(re);
		if (rc != 0)
			continue;
		/* Replace the matched part; \N inserts group N, \\ a backslash. */
		struct buf out = BUF_INIT;
		buf_append(&out, model, (size_t)m[0].rm_so);
		for (const char *r = json_object_get_string(rep); *r; r++) {
			if (r[0] == '\\' && isdigit((unsigned char)r[1])) {
				int g = r[1] - '0';
				if (m[g].rm_so >= 0)
					buf_append(&out, model + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so));
				r++;
			} else if (r[0] == '\\' && r[1] == '\\') {
				buf_putc(&out, '\\');
				r++;
			} else {
				buf_putc(&out, *r);
			}
		}
		buf_puts(&out, model + m[0].rm_eo);
		return buf_steal(&out);
	}
	return xstrdup(model);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static char *percent_decode(const char *s, size_t n)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			buf_putc(&b, (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
			i += 2;
		} else if (s[i] == '+') {
			buf_putc(&b, ' ');
		} else {
			buf_putc(&b, s[i]);
		}
	}
	return buf_steal(&b);
}

json_object *route_typed_value(const char *s)
{
	if (strcmp(s, "true") == 0)
		return json_object_new_boolean(1);
	if (strcmp(s, "false") == 0)
		return json_object_new_boolean(0);
	if (strcmp(s, "null") == 0)
		return NULL;
	if (*s && (isdigit((unsigned char)*s) || ((*s == '-' || *s == '.') && s[1]))) {
		char *end;
		errno = 0;
		long long ll = strtoll(s, &end, 10);
		if (!*end && errno == 0)
			return json_object_new_int64(ll);
		errno = 0;
		double d = strtod(s, &end);
		if (!*end && errno == 0 && isfinite(d))
			return json_new_number(d);
	}
	if (*s == '{' || *s == '[') {
		json_object *o = json_tokener_parse(s);
		if (o)
			return o;
	}
	return json_object_new_string(s);
}

json_object *route_parse_params(const char *query)
{
	json_object *o = json_object_new_object();
	const char *p = query;
	while (*p) {
		size_t n = strcspn(p, "&");
		const char *eq = memchr(p, '=', n);
		if (n > 0) {
			char *key = percent_decode(p, eq ? (size_t)(eq - p) : n);
			char *val = eq ? percent_decode(eq + 1, n - (size_t)(eq - p) - 1) : xstrdup("true");
			if (*key)
				json_object_object_add(o, key, route_typed_value(val));
			free(key);
			free(val);
		}
		p += n;
		if (*p == '&')
			p++;
	}
	return o;
}

void model_ref_clear(struct model_ref *r)
{
	free(r->backend);
	free(r->provider);
	free(r->model);
	if (r->params)
		json_object_put(r->params);
	memset(r, 0, sizeof *r);
}

int route_parse(const struct provider_registry *reg, const char *s, struct model_ref *out, char **err)
{
	memset(out, 0, sizeof *out);
	if (strpbrk(s, "\r\n") || strchr(s, '\0') != s + strlen(s)) {
		*err = xstrdup("a model name cannot contain line breaks");
		return -1;
	}
	size_t len = strcspn(s, "?");
	if (s[len] == '?')
		out->params = route_parse_params(s + len + 1);
	char *rest = xstrndup(s, len);
	char *name = rest;

	/* backend:model — only when the prefix is a provider and holds no '/'. */
	char *colon = strchr(name, ':');
	char *slash = strchr(name, '/');
	if (colon && (!slash || colon < slash)) {
		char *backend = xstrndup(name, (size_t)(colon - name));
		if (provider_find(reg, backend)) {
			out->backend = backend;
			name = colon + 1;
		} else {
			free(backend);
		}
	}
	if (!out->backend) {
		slash = strchr(name, '/');
		if (slash) {
			char *prov = xstrndup(name, (size_t)(slash - name));
			if (provider_find(reg, prov)) {
				out->provider = prov;
				name = slash + 1;
			} else {
				free(prov);
			}
		}
	}
	if (!*name) {
		*err = xasprintf("'%s' names no model", s);
		free(rest);
		model_ref_clear(out);
		return -1;
	}
	out->model = xstrdup(name);
	free(rest);
	if (!out->backend && !out->provider) {
		struct provider *p = provider_for_model(reg, out->model);
		if (p)
			out->provider = xstrdup(p->slug);
	}
	return 0;
}

void route_target_clear(struct route_target *t)
{
	free(t->model);
	free(t->display);
	if (t->params)
		json_object_put(t->params);
	memset(t, 0, sizeof *t);
}

static bool provider_ready(const struct provider *p)
{
	return p && (provider_has_key(p) || p->key_optional);
}

/* True when some real provider (or the gateway) has a key. */
static bool any_key(const struct config *c)
{
	for (size_t i = 0; i < c->providers.n; i++) {
		const struct provider *p = &c->providers.v[i];
		if (provider_has_key(p) && strcmp(p->slug, "mock") != 0)
			return true;
	}
	return false;
}

static char *missing_key_message(const struct provider *p)
{
	return xasprintf("%s: no API key (set %s, or use AROUTER_API_KEY for the hosted gateway)", p->slug,
			 provider_key_hint(p));
}

/* The model used when none is named anywhere: the gateway's default when
 * its key is set, else the default of the first provider (in table order)
 * that has a key, else the offline mock. Caller frees. */
static char *fallback_default_model(const struct config *c)
{
	const struct provider *gw = provider_find(&c->providers, "arouter");
	if (gw && provider_has_key(gw) && gw->default_model)
		return xstrdup(gw->default_model);
	for (size_t i = 0; i < c->providers.n; i++) {
		const struct provider *p = &c->providers.v[i];
		if (provider_has_key(p) && p->default_model)
			return xstrjoin(p->slug, "/", p->default_model);
	}
	return xstrdup("mock/echo");
}

bool route_default_is_gateway(const struct config *c)
{
	const char *backend = c->default_backend.value ? c->default_backend.value : "auto";
	if (strcmp(backend, "gateway") == 0)
		return true;
	const struct provider *gw = provider_find(&c->providers, "arouter");
	return strcmp(backend, "auto") == 0 && gw && provider_has_key(gw);
}

int route_resolve(const struct config *c, const char *model_string, struct route_target *out, char **err)
{
	const char *model_string_in = model_string;
	memset(out, 0, sizeof *out);
	const struct provider_registry *reg = &c->providers;
	char *defaulted = NULL;
	if (str_empty(model_string))
		model_string = c->default_model.value;
	if (str_empty(model_string))
		model_string = defaulted = fallback_default_model(c);
	json_object *aliases = NULL;
	json_object_object_get_ex(c->root, "model_aliases", &aliases);
	char *aliased = route_apply_aliases(aliases, model_string, err);
	free(defaulted);
	if (!aliased)
		return -1;
	struct model_ref ref;
	int rc = route_parse(reg, aliased, &ref, err);
	free(aliased);
	if (rc < 0)
		return -1;
	out->params = ref.params;
	ref.params = NULL;

	if (ref.backend) {
		/* An explicit backend always wins; the rest is its model name. */
		struct provider *p = provider_find(reg, ref.backend);
		out->provider = p;
		out->model = xstrdup(ref.model);
		out->display = xstrjoin(ref.backend, ":", ref.model);
		out->via_gateway = strcmp(p->slug, "arouter") == 0 || strcmp(p->slug, "openrouter") == 0;
		model_ref_clear(&ref);
		if (!provider_ready(p)) {
			*err = missing_key_message(p);
			route_target_clear(out);
			return -1;
		}
		return 0;
	}
	if (!ref.provider) {
		/* "meta-llama/x" or "llama3.2": nobody claims it. A slug-like
		 * prefix that is not a provider gets a suggestion. */
		const char *slash = strchr(ref.model, '/');
		char *prefix = slash ? xstrndup(ref.model, (size_t)(slash - ref.model)) : NULL;
		const char *hint = prefix ? provider_suggest(reg, prefix) : NULL;
		if (prefix && hint)
			*err = xasprintf("unknown provider '%s' (did you mean '%s'?)", prefix, hint);
		else if (prefix)
			*err = xasprintf("unknown provider '%s' in '%s' (see 'arouter config show' for providers)",
					 prefix, ref.model);
		else
			*err = xasprintf("cannot tell which provider serves '%s'; name it as PROVIDER/%s "
					 "(e.g. openai/%s or ollama:%s)",
					 ref.model, ref.model, ref.model, ref.model);
		free(prefix);
		model_ref_clear(&ref);
		route_target_clear(out);
		return ROUTE_UNKNOWN_PROVIDER;
	}
	struct provider *p = provider_find(reg, ref.provider);
	out->display = xstrjoin(ref.provider, "/", ref.model);

	const char *backend = c->default_backend.value ? c->default_backend.value : "auto";
	struct provider *gw = provider_find(reg, "arouter");
	bool is_mock = strcmp(p->slug, "mock") == 0;
	if (is_mock) {
		out->provider = p;
		out->model = xstrdup(ref.model);
		/* Nothing named and nothing keyed: the fresh-install default. */
		out->mock_fallback = str_empty(model_string_in) && str_empty(c->default_model.value) && !any_key(c);
	} else if (route_default_is_gateway(c)) {
		if (!provider_has_key(gw)) {
			*err = xstrdup("default_backend is gateway but no gateway key is set (set AROUTER_API_KEY)");
			goto fail;
		}
		out->provider = gw;
		out->model = strcmp(p->slug, "arouter") == 0 ? xstrdup(ref.model) : xstrdup(out->display);
		out->via_gateway = true;
	} else if (strcmp(backend, "auto") == 0 || strcmp(backend, "direct") == 0) {
		out->provider = p;
		out->model = xstrdup(ref.model);
		out->via_gateway = strcmp(p->slug, "arouter") == 0 || strcmp(p->slug, "openrouter") == 0;
		if (!provider_ready(p)) {
			if (strcmp(backend, "auto") == 0 && !any_key(c)) {
				/* A fresh install: show arouter working, and say so. */
				out->provider = provider_find(reg, "mock");
				free(out->model);
				out->model = xstrdup("echo");
				out->mock_fallback = true;
			} else {
				*err = missing_key_message(p);
				goto fail;
			}
		}
	} else {
		/* default_backend names a provider: it serves every model that has
		 * no explicit backend, under the full provider/model name. */
		struct provider *b = provider_find(reg, backend);
		if (!b) {
			const char *hint = provider_suggest(reg, backend);
			*err = hint ? xasprintf("default_backend '%s' is not a provider (did you mean '%s'?)", backend, hint)
				    : xasprintf("default_backend '%s' is not auto, direct, gateway or a provider", backend);
			goto fail;
		}
		out->provider = b;
		out->model = b == p ? xstrdup(ref.model) : xstrdup(out->display);
		out->via_gateway = b != p;
		if (!provider_ready(b)) {
			*err = missing_key_message(b);
			goto fail;
		}
	}
	model_ref_clear(&ref);
	return 0;
fail:
	model_ref_clear(&ref);
	route_target_clear(out);
	return -1;
}

/* ---- plans: the candidates one request may be answered by ---- */

void route_target_copy(struct route_target *dst, const struct route_target *src)
{
	*dst = *src;
	dst->model = src->model ? xstrdup(src->model) : NULL;
	dst->display = src->display ? xstrdup(src->display) : NULL;
	dst->params = src->params ? json_object_get(src->params) : NULL;
}

/* The built-in "auto" route: each provider's default model, in this order,
 * for the providers that have a key. Documented in arouter-config(5). */
static const char *const auto_order[] = {
	"anthropic", "openai", "google", "xai", "deepseek", "mistral", "kimi",
	"dashscope", "minimax", "groq", "cohere", "nvidia", "openrouter", "arouter",
};

static void plan_add(struct route_plan *plan, const struct route_target *t)
{
	for (size_t i = 0; i < plan->n; i++)
		if (plan->v[i].provider == t->provider && strcmp(plan->v[i].model, t->model) == 0)
			return; /* listed twice: the first place counts */
	plan->v = xrealloc(plan->v, (plan->n + 1) * sizeof *plan->v);
	route_target_copy(&plan->v[plan->n++], t);
}

static void plan_skip(struct route_plan *plan, const char *member, const char *why)
{
	plan->skipped = xrealloc(plan->skipped, (plan->n_skipped + 1) * sizeof *plan->skipped);
	plan->skipped[plan->n_skipped++] = xasprintf("%s: %s", member, why);
}

/* Resolves one member of a list; a member that cannot be served is left
 * out (and said why), so that the others still answer. */
static int plan_member(const struct config *c, struct route_plan *plan, const char *member, int *first_rc,
		       char **first_err)
{
	struct route_target t;
	char *err = NULL;
	int rc = route_resolve(c, member, &t, &err);
	if (rc < 0) {
		plan_skip(plan, member, err ? err : "cannot be resolved");
		if (!*first_err) {
			*first_err = err;
			*first_rc = rc;
		} else {
			free(err);
		}
		return rc;
	}
	plan_add(plan, &t);
	route_target_clear(&t);
	return 0;
}

static json_object *config_route(const struct config *c, const char *s);

/* The auto route's members, for "auto" inside a list: a configured route
 * named auto, else the default model of each provider with a key, in
 * auto_order. */
static void plan_auto(const struct config *c, struct route_plan *out, int *first_rc, char **first_err)
{
	json_object *own = config_route(c, "auto"), *v;
	if (own) {
		json_object *members = json_object_is_type(own, json_type_object)
					       ? (json_object_object_get_ex(own, "models", &v) ? v : NULL)
					       : own;
		size_t n = members && json_object_is_type(members, json_type_array) ? json_object_array_length(members) : 0;
		for (size_t i = 0; i < n; i++) {
			const char *m = json_object_get_string(json_object_array_get_idx(members, i));
			if (!str_empty(m))
				plan_member(c, out, m, first_rc, first_err);
		}
		return;
	}
	for (size_t i = 0; i < sizeof auto_order / sizeof auto_order[0]; i++) {
		struct provider *p = provider_find(&c->providers, auto_order[i]);
		if (!p || !provider_has_key(p) || str_empty(p->default_model))
			continue;
		char *m = xstrjoin(p->slug, "/", p->default_model);
		plan_member(c, out, m, first_rc, first_err);
		free(m);
	}
}

/* The route named s in the config, or NULL. */
static json_object *config_route(const struct config *c, const char *s)
{
	json_object *routes, *r;
	if (!s || !json_object_object_get_ex(c->root, "routes", &routes) ||
	    !json_object_is_type(routes, json_type_object) || !json_object_object_get_ex(routes, s, &r))
		return NULL;
	return r;
}

int route_plan_build(const struct config *c, const char *model_string, json_object *models,
		     struct route_plan *out, char **err)
{
	memset(out, 0, sizeof *out);
	out->strategy = STRATEGY_FALLBACK;
	int first_rc = 0;
	char *first_err = NULL;
	/* No model named: the configured default, which may be a route (or
	 * auto) as well as a model. */
	if (str_empty(model_string) && !(models && json_object_is_type(models, json_type_array) &&
					 json_object_array_length(models) > 0) &&
	    !str_empty(c->default_model.value) &&
	    (config_route(c, c->default_model.value) || strcmp(c->default_model.value, "auto") == 0))
		model_string = c->default_model.value;
	json_object *route = config_route(c, model_string);
	bool list = models && json_object_is_type(models, json_type_array) && json_object_array_length(models) > 0;

	if (route) {
		/* {"models": [...], "strategy": "..."} or just [...] */
		json_object *members = route, *v;
		if (json_object_is_type(route, json_type_object)) {
			members = json_object_object_get_ex(route, "models", &v) ? v : NULL;
			if (json_object_object_get_ex(route, "strategy", &v) &&
			    strategy_parse(json_object_get_string(v), &out->strategy, err) != 0) {
				char *why = *err;
				*err = xasprintf("routes.%s.strategy: %s", model_string, why);
				free(why);
				route_plan_clear(out);
				return ROUTE_ERROR;
			}
		}
		if (!members || !json_object_is_type(members, json_type_array) ||
		    json_object_array_length(members) == 0) {
			*err = xasprintf("routes.%s needs a non-empty \"models\" list", model_string);
			route_plan_clear(out);
			return ROUTE_ERROR;
		}
		out->name = xstrdup(model_string);
		for (size_t i = 0; i < json_object_array_length(members); i++) {
			const char *m = json_object_get_string(json_object_array_get_idx(members, i));
			if (!str_empty(m))
				plan_member(c, out, m, &first_rc, &first_err);
		}
	} else if (model_string && strcmp(model_string, "auto") == 0 && !list) {
		out->name = xstrdup("auto");
		plan_auto(c, out, &first_rc, &first_err);
		if (out->n == 0 && !first_err) {
			first_rc = ROUTE_ERROR;
			first_err = xstrdup("auto: no provider has a key (set ANTHROPIC_API_KEY, OPENAI_API_KEY, "
					    "GEMINI_API_KEY or another provider's key)");
		}
	} else if (list) {
		/* OpenRouter's fallback list: "model" first when given, then
		 * "models"; "auto" anywhere in it stands for its members. */
		if (!str_empty(model_string) && strcmp(model_string, "auto") == 0)
			plan_auto(c, out, &first_rc, &first_err);
		else if (!str_empty(model_string))
			plan_member(c, out, model_string, &first_rc, &first_err);
		for (size_t i = 0; i < json_object_array_length(models); i++) {
			json_object *m = json_object_array_get_idx(models, i);
			if (!json_object_is_type(m, json_type_string) || str_empty(json_object_get_string(m))) {
				*err = xasprintf("\"models\" must be a list of model names (item %zu is not)", i);
				free(first_err);
				route_plan_clear(out);
				return ROUTE_ERROR;
			}
			if (strcmp(json_object_get_string(m), "auto") == 0)
				plan_auto(c, out, &first_rc, &first_err);
			else
				plan_member(c, out, json_object_get_string(m), &first_rc, &first_err);
		}
	} else {
		/* One model: exactly route_resolve's answer and errors. */
		struct route_target t;
		int rc = route_resolve(c, model_string, &t, err);
		if (rc < 0) {
			route_plan_clear(out);
			return rc;
		}
		plan_add(out, &t);
		route_target_clear(&t);
		return 0;
	}
	if (out->n == 0) {
		*err = first_err ? first_err : xstrdup("no model to try");
		int rc = first_rc ? first_rc : ROUTE_ERROR;
		route_plan_clear(out);
		return rc;
	}
	free(first_err);
	return 0;
}

void route_plan_clear(struct route_plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		route_target_clear(&p->v[i]);
	free(p->v);
	for (size_t i = 0; i < p->n_skipped; i++)
		free(p->skipped[i]);
	free(p->skipped);
	free(p->name);
	memset(p, 0, sizeof *p);
}

size_t route_prompt_chars(json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_string:
		return (size_t)json_object_get_string_len(o);
	case json_type_array: {
		size_t n = 0;
		for (size_t i = 0; i < json_object_array_length(o); i++)
			n += route_prompt_chars(json_object_array_get_idx(o, i));
		return n;
	}
	case json_type_object: {
		size_t n = 0;
		json_object_object_foreach (o, k, v) {
			/* Images and files are not text; their bytes say nothing. */
			if (strcmp(k, "image_url") == 0 || strcmp(k, "file") == 0 || strcmp(k, "input_audio") == 0)
				continue;
			n += strlen(k) + route_prompt_chars(v);
		}
		return n;
	}
	default:
		return 0;
	}
}

size_t route_plan_fit(struct route_plan *plan, const struct catalog *cat, json_object *body, char ***left_out)
{
	*left_out = NULL;
	if (!cat || plan->n < 2)
		return 0;
	long long need = (long long)(route_prompt_chars(body) + 3) / 4;
	size_t kept = 0, n_left = 0, biggest = 0;
	long biggest_ctx = -1;
	long *ctx = xcalloc(plan->n, sizeof *ctx);
	for (size_t i = 0; i < plan->n; i++) {
		const struct catalog_model *m = catalog_find(cat, plan->v[i].provider->slug, plan->v[i].model);
		ctx[i] = m && m->context_length > 0 ? m->context_length : 0; /* 0: unknown, kept */
		if (ctx[i] > biggest_ctx) {
			biggest_ctx = ctx[i];
			biggest = i;
		}
	}
	bool any_fits = false;
	for (size_t i = 0; i < plan->n; i++)
		any_fits |= ctx[i] == 0 || need <= ctx[i];
	for (size_t i = 0; i < plan->n; i++) {
		/* When nothing fits, the largest is tried: the estimate is rough
		 * and the provider has the last word. */
		bool fits = ctx[i] == 0 || need <= ctx[i] || (!any_fits && i == biggest);
		if (fits) {
			if (kept != i) {
				plan->v[kept] = plan->v[i];
				memset(&plan->v[i], 0, sizeof plan->v[i]);
			}
			kept++;
			continue;
		}
		*left_out = xrealloc(*left_out, (n_left + 1) * sizeof **left_out);
		(*left_out)[n_left++] = xasprintf("%s: about %lld tokens do not fit its context of %ld", plan->v[i].display,
						  need, ctx[i]);
		route_target_clear(&plan->v[i]);
	}
	plan->n = kept;
	free(ctx);
	return n_left;
}

double *route_plan_costs(const struct route_plan *plan, const struct catalog *cat)
{
	if (!plan->n)
		return NULL;
	double *c = xcalloc(plan->n, sizeof *c);
	for (size_t i = 0; i < plan->n; i++) {
		const struct catalog_model *m =
			cat ? catalog_find(cat, plan->v[i].provider->slug, plan->v[i].model) : NULL;
		c[i] = m && m->price_prompt >= 0 && m->price_completion >= 0
			       ? (m->price_prompt + m->price_completion) * 1e6
			       : -1;
	}
	return c;
}

json_object *route_models_from_list(const char *csv)
{
	json_object *list = json_object_new_array();
	char *copy = xstrdup(csv), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ' || *t == '\t')
			t++;
		size_t n = strlen(t);
		while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
			t[--n] = '\0';
		if (*t)
			json_object_array_add(list, json_object_new_string(t));
	}
	free(copy);
	return list;
}
