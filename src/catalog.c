/* catalog.c - the model catalog: the built-in table, the config file's
 * additions and overrides, lookups, costs and the /v1/models JSON. See
 * catalog.h. */
#include "config.h"

#include "catalog.h"
#include "buf.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- problems: the first one fails a load, `config check` lists them all ---- */

struct problems {
	const struct config *c; /* for locating paths in the file; NULL for built-in and listings */
	bool check;             /* `config check`: also unknown keys and providers */
	bool report_any;        /* false for listings from the network: bad values are skipped */
	struct buf *report;     /* every problem, one line each; may be NULL */
	char *first;            /* the first problem; owned */
	int count;
};

static char *locate_line(const struct config *c, const char *path, const char *msg)
{
	if (!c)
		return xasprintf("%s", msg);
	int line = 1, col = 1;
	char *p = xstrdup(path);
	/* Fall back to the parent path when the value itself is not found. */
	while (config_locate(c->text, p, &line, &col) < 0) {
		char *dot = strrchr(p, '.');
		if (!dot) {
			line = col = 1;
			break;
		}
		*dot = '\0';
	}
	free(p);
	return xasprintf("%s:%d:%d: %s", c->path, line, col, msg);
}

static void vproblem(struct problems *pr, const char *path, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void vproblem(struct problems *pr, const char *path, const char *fmt, va_list ap)
{
	char *what = xvasprintf(fmt, ap);
	char *msg = xasprintf("%s%s", path, what);
	char *line = locate_line(pr->c, path, msg);
	if (pr->report)
		buf_printf(pr->report, "%s\n", line);
	if (!pr->first)
		pr->first = line;
	else
		free(line);
	free(msg);
	free(what);
	pr->count++;
}

static void problem(struct problems *pr, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(struct problems *pr, const char *path, const char *fmt, ...)
{
	if (!pr || !pr->report_any)
		return;
	va_list ap;
	va_start(ap, fmt);
	vproblem(pr, path, fmt, ap);
	va_end(ap);
}

/* A problem at path.key: the path is only built when there is one, since
 * entries are read far more often than they are wrong. */
static void problem_at(struct problems *pr, const char *path, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void problem_at(struct problems *pr, const char *path, const char *key, const char *fmt, ...)
{
	if (!pr || !pr->report_any)
		return;
	char *at = xasprintf("%s.%s", path, key);
	va_list ap;
	va_start(ap, fmt);
	vproblem(pr, at, fmt, ap);
	va_end(ap);
	free(at);
}

/* ---- models ---- */

static void model_clear(struct catalog_model *m)
{
	if (m->shared) {
		memset(m, 0, sizeof *m);
		return;
	}
	free(m->id);
	free(m->provider);
	free(m->model);
	free(m->name);
	free(m->description);
	if (m->input_modalities)
		json_object_put(m->input_modalities);
	if (m->output_modalities)
		json_object_put(m->output_modalities);
	if (m->supported_parameters)
		json_object_put(m->supported_parameters);
	memset(m, 0, sizeof *m);
}

/* A copy of a list of strings that only reads the original: the shared
 * built-in catalog may be copied by several threads at once, and json-c's
 * reference counts are not atomic. */
static json_object *strings_copy(json_object *from)
{
	size_t n = json_object_array_length(from);
	json_object *a = json_object_new_array_ext((int)(n ? n : 1));
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(from, i);
		json_object_array_add(a, json_object_new_string_len(json_object_get_string(e),
		                                                    json_object_get_string_len(e)));
	}
	return a;
}

/* A reference to one of m's lists for another owner: the list itself, or
 * for a shared model a copy (a reference would change the shared list's
 * count, which threads may do at once). */
static json_object *strings_ref(const struct catalog_model *m, json_object *list)
{
	return m->shared ? strings_copy(list) : json_object_get(list);
}

/* m as a copy of from owning all it points to (what model_clear frees),
 * reading from only. */
static void model_copy(struct catalog_model *m, const struct catalog_model *from)
{
	*m = *from;
	m->shared = false;
	m->id = xstrdup(from->id);
	m->provider = xstrdup(from->provider);
	m->model = xstrdup(from->model);
	m->name = from->name ? xstrdup(from->name) : NULL;
	m->description = from->description ? xstrdup(from->description) : NULL;
	m->input_modalities = strings_copy(from->input_modalities);
	m->output_modalities = strings_copy(from->output_modalities);
	m->supported_parameters = strings_copy(from->supported_parameters);
}

static void model_init(struct catalog_model *m, const char *id)
{
	memset(m, 0, sizeof *m);
	m->id = xstrdup(id);
	const char *slash = strchr(id, '/');
	m->provider = slash ? xstrndup(id, (size_t)(slash - id)) : xstrdup("");
	m->model = xstrdup(slash ? slash + 1 : id);
	m->price_prompt = m->price_completion = m->price_cache_read = m->price_cache_write = -1;
	m->input_modalities = json_object_new_array();
	m->output_modalities = json_object_new_array();
	m->supported_parameters = json_object_new_array();
}

struct catalog *catalog_new_empty(void)
{
	return xcalloc(1, sizeof(struct catalog));
}

void catalog_free(struct catalog *cat)
{
	if (!cat)
		return;
	for (size_t i = 0; i < cat->n; i++)
		model_clear(&cat->v[i]);
	free(cat->v);
	free(cat->index);
	free(cat);
}

static void index_put(struct catalog *cat, size_t i)
{
	str_index_put(cat->index, cat->n_index, cat->v[i].id, i);
}

static const char *model_id(const void *table, size_t i)
{
	return ((const struct catalog *)table)->v[i].id;
}

static struct catalog_model *find_exact(const struct catalog *cat, const char *id)
{
	size_t i = str_index_find(cat->index, cat->n_index, id, model_id, cat);
	return i ? &cat->v[i - 1] : NULL;
}

/* The model with this id, created (with everything unknown) if new. */
static struct catalog_model *model_slot(struct catalog *cat, const char *id)
{
	struct catalog_model *m = find_exact(cat, id);
	if (m && m->shared) {
		/* About to change: from now on its own copy. */
		struct catalog_model from = *m;
		model_copy(m, &from);
	}
	if (m)
		return m;
	if (cat->n == cat->cap) {
		cat->cap = cat->cap ? cat->cap * 2 : 64;
		cat->v = xrealloc(cat->v, cat->cap * sizeof *cat->v);
		free(cat->index);
		for (cat->n_index = 128; cat->n_index < 2 * cat->cap; cat->n_index *= 2)
			;
		cat->index = xcalloc(cat->n_index, sizeof *cat->index);
		for (size_t i = 0; i < cat->n; i++)
			index_put(cat, i);
	}
	m = &cat->v[cat->n];
	model_init(m, id);
	index_put(cat, cat->n++);
	return m;
}

/* ---- reading entries ---- */

static json_object *member(json_object *o, const char *key)
{
	json_object *v;
	if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v) &&
	    !json_object_is_type(v, json_type_null))
		return v;
	return NULL;
}

static void take_text(json_object *v, char **dst, struct problems *pr, const char *path,
                      const char *key)
{
	if (!v)
		return;
	if (!json_object_is_type(v, json_type_string)) {
		problem_at(pr, path, key, " must be a string");
		return;
	}
	free(*dst);
	*dst = xstrdup(json_object_get_string(v));
}

static void take_count(json_object *v, long *dst, struct problems *pr, const char *path,
                      const char *key)
{
	if (!v)
		return;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) {
		problem_at(pr, path, key, " must be a whole number of tokens");
		return;
	}
	int64_t n = json_object_get_int64(v);
	*dst = n > (int64_t)0x7fffffff ? 0x7fffffff : (long)n;
}

/* A price: a decimal string like OpenRouter's ("0.000003") or a number, in
 * USD per token. A negative one ("-1", OpenRouter's "varies") is unknown. */
static void take_price(json_object *v, double *dst, struct problems *pr, const char *path,
                      const char *key)
{
	if (!v)
		return;
	double d;
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		char *end;
		errno = 0;
		d = strtod(s, &end);
		if (!*s || *end || errno || !isfinite(d)) {
			problem_at(
			    pr, path, key,
			    " must be a price in USD per token, like \"0.000003\" ($3 per million), not '%s'",
			    s);
			return;
		}
	} else if (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)) {
		d = json_object_get_double(v);
		if (!isfinite(d)) {
			problem_at(pr, path, key, " must be a price in USD per token");
			return;
		}
	} else {
		problem_at(pr, path, key, " must be a price in USD per token, like \"0.000003\" ($3 per million)");
		return;
	}
	*dst = d < 0 ? -1 : d;
}

static void take_strings(json_object *v, json_object **dst, struct problems *pr, const char *path,
                      const char *key)
{
	if (!v)
		return;
	bool ok = json_object_is_type(v, json_type_array);
	for (size_t i = 0; ok && i < json_object_array_length(v); i++)
		ok = json_object_is_type(json_object_array_get_idx(v, i), json_type_string);
	if (!ok) {
		problem_at(pr, path, key, " must be a list of strings");
		return;
	}
	json_object_put(*dst);
	*dst = json_object_get(v);
}

/* Applies the fields an entry has onto m. Keys of other listing formats
 * are read too, so that one reader serves every source. */
static void apply_entry(struct catalog_model *m, json_object *e, struct problems *pr, const char *path)
{
	static const char *const name_keys[] = {"name", "display_name", "displayName"};
	static const char *const context_keys[] = {"context_length", "context_window", "max_context_length",
	                                           "inputTokenLimit", "max_input_tokens"};
	static const char *const output_keys[] = {"max_output_tokens", "outputTokenLimit",
	                                          "max_completion_tokens"};

	/* In a list without "id" (Gemini's, Cohere's), "name" is the id. */
	bool name_is_id = !member(e, "id");
	for (size_t i = 0; i < sizeof name_keys / sizeof name_keys[0]; i++) {
		if (i == 0 && name_is_id)
			continue;
		take_text(member(e, name_keys[i]), &m->name, pr, path, name_keys[i]);
	}
	take_text(member(e, "description"), &m->description, pr, path, "description");

	json_object *top = member(e, "top_provider");
	if (top && !json_object_is_type(top, json_type_object)) {
		problem_at(pr, path, "top_provider", " must be an object");
		top = NULL;
	}
	take_count(member(top, "context_length"), &m->context_length, pr, path, "top_provider.context_length");
	for (size_t i = 0; i < sizeof context_keys / sizeof context_keys[0]; i++)
		take_count(member(e, context_keys[i]), &m->context_length, pr, path, context_keys[i]);
	take_count(member(top, "max_completion_tokens"), &m->max_output_tokens, pr, path,
	           "top_provider.max_completion_tokens");
	for (size_t i = 0; i < sizeof output_keys / sizeof output_keys[0]; i++)
		take_count(member(e, output_keys[i]), &m->max_output_tokens, pr, path, output_keys[i]);

	json_object *pricing = member(e, "pricing");
	if (pricing && !json_object_is_type(pricing, json_type_object)) {
		problem_at(pr, path, "pricing", " must be an object of prices in USD per token");
		pricing = NULL;
	}
	if (pricing) {
		static const struct {
			const char *key, *where;
			size_t off;
		} prices[] = {
		    {"prompt", "pricing.prompt", offsetof(struct catalog_model, price_prompt)},
		    {"completion", "pricing.completion", offsetof(struct catalog_model, price_completion)},
		    {"cache_read", "pricing.cache_read", offsetof(struct catalog_model, price_cache_read)},
		    {"input_cache_read", "pricing.input_cache_read", offsetof(struct catalog_model, price_cache_read)},
		    {"cache_write", "pricing.cache_write", offsetof(struct catalog_model, price_cache_write)},
		    {"input_cache_write", "pricing.input_cache_write",
		     offsetof(struct catalog_model, price_cache_write)},
		};
		for (size_t i = 0; i < sizeof prices / sizeof prices[0]; i++)
			take_price(member(pricing, prices[i].key), (double *)((char *)m + prices[i].off), pr, path,
			           prices[i].where);
	}

	json_object *arch = member(e, "architecture");
	if (arch && !json_object_is_type(arch, json_type_object)) {
		problem_at(pr, path, "architecture", " must be an object");
		arch = NULL;
	}
	take_strings(member(arch, "input_modalities"), &m->input_modalities, pr, path,
	             "architecture.input_modalities");
	take_strings(member(arch, "output_modalities"), &m->output_modalities, pr, path,
	             "architecture.output_modalities");
	take_strings(member(e, "input_modalities"), &m->input_modalities, pr, path, "input_modalities");
	take_strings(member(e, "output_modalities"), &m->output_modalities, pr, path, "output_modalities");
	take_strings(member(e, "supported_parameters"), &m->supported_parameters, pr, path,
	             "supported_parameters");
}

/* The keys a config entry may hold, for `config check`. */
static const char *const entry_keys[] = {
    "architecture",     "context_length",       "description",  "id",
    "input_modalities", "max_output_tokens",    "name",         "output_modalities",
    "pricing",          "supported_parameters", "top_provider",
};
static const char *const pricing_keys[] = {
    "cache_read", "cache_write", "completion", "input_cache_read", "input_cache_write", "prompt",
};
static const char *const architecture_keys[] = {"input_modalities", "output_modalities"};
static const char *const top_provider_keys[] = {"context_length", "max_completion_tokens"};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void check_keys(struct problems *pr, json_object *o, const char *path, const char *const *known,
                       size_t n_known)
{
	if (!o || !json_object_is_type(o, json_type_object))
		return;
	json_object_object_foreach (o, key, val) {
		(void)val;
		size_t i;
		for (i = 0; i < n_known; i++)
			if (strcmp(known[i], key) == 0)
				break;
		if (i < n_known)
			continue;
		char *p = xasprintf("%s.%s", path, key);
		const char *hint = suggest(key, known, n_known);
		if (hint)
			problem(pr, p, ": unknown key (did you mean '%s'?)", hint);
		else
			problem(pr, p, ": unknown key");
		free(p);
	}
}

static void check_entry_keys(struct problems *pr, json_object *e, const char *path)
{
	check_keys(pr, e, path, entry_keys, N_OF(entry_keys));
	static const struct {
		const char *key;
		const char *const *known;
		size_t n;
	} parts[] = {
	    {"pricing", pricing_keys, N_OF(pricing_keys)},
	    {"architecture", architecture_keys, N_OF(architecture_keys)},
	    {"top_provider", top_provider_keys, N_OF(top_provider_keys)},
	};
	for (size_t i = 0; i < N_OF(parts); i++) {
		json_object *o = member(e, parts[i].key);
		if (!o || !json_object_is_type(o, json_type_object))
			continue;
		char *p = xasprintf("%s.%s", path, parts[i].key);
		check_keys(pr, o, p, parts[i].known, parts[i].n);
		free(p);
	}
}

/* The id an entry gives: "id", else "name" (Gemini's without "models/"). */
static const char *entry_id(json_object *e)
{
	json_object *v = member(e, "id");
	if (!v)
		v = member(e, "name");
	if (!v || !json_object_is_type(v, json_type_string))
		return NULL;
	const char *s = json_object_get_string(v);
	return str_has_prefix(s, "models/") ? s + 7 : s;
}

/* Adds or overrides one config or built-in entry at path; provider is the
 * slug for a provider's own list (whose ids are model names), else NULL
 * (ids are "provider/model"). */
static void add_config_entry(struct catalog *cat, json_object *e, const char *provider, struct problems *pr,
                             const char *path)
{
	char *id;
	if (provider && json_object_is_type(e, json_type_string)) {
		if (!*json_object_get_string(e)) {
			problem(pr, path, " must name a model");
			return;
		}
		id = xasprintf("%s/%s", provider, json_object_get_string(e));
		struct catalog_model *m = model_slot(cat, id);
		free(id);
		if (!m->name)
			m->name = xstrdup(m->id);
		return;
	}
	if (!json_object_is_type(e, json_type_object)) {
		problem(pr, path,
		        provider ? " must be a model name or an object with an \"id\""
		                 : " must be an object with an \"id\" (\"provider/model\")");
		return;
	}
	json_object *v = member(e, "id");
	if (!v || !json_object_is_type(v, json_type_string) || !*json_object_get_string(v)) {
		problem(pr, path,
		        provider ? " needs an \"id\": the model's name"
		                 : " needs an \"id\": \"provider/model\"");
		return;
	}
	const char *s = json_object_get_string(v);
	if (provider) {
		id = xasprintf("%s/%s", provider, s);
	} else {
		const char *slash = strchr(s, '/');
		if (!slash || slash == s || !slash[1]) {
			problem_at(pr, path, "id", ": '%s' is not \"provider/model\"", s);
			return;
		}
		if (pr && pr->check && pr->c) {
			char *slug = xstrndup(s, (size_t)(slash - s));
			if (!provider_find(&pr->c->providers, slug)) {
				const char *hint = provider_suggest(&pr->c->providers, slug);
				if (hint)
					problem_at(pr, path, "id", ": unknown provider '%s' (did you mean '%s'?)",
					           slug, hint);
				else
					problem_at(pr, path, "id", ": unknown provider '%s'", slug);
			}
			free(slug);
		}
		id = xstrdup(s);
	}
	if (pr && pr->check)
		check_entry_keys(pr, e, path);
	struct catalog_model *m = model_slot(cat, id);
	free(id);
	apply_entry(m, e, pr, path);
	if (!m->name)
		m->name = xstrdup(m->id);
}

/* The built-in table (abort on a malformed one: it is compiled in and the
 * unit tests load it). */
static void load_builtin_table(struct catalog *cat)
{
	json_object *table = json_tokener_parse(catalog_builtin_json);
	if (!table || !json_object_is_type(table, json_type_array))
		abort();
	struct problems pr = {.report_any = true};
	for (size_t i = 0; i < json_object_array_length(table); i++) {
		char *path = xasprintf("built-in models.%zu", i);
		add_config_entry(cat, json_object_array_get_idx(table, i), NULL, &pr, path);
		free(path);
	}
	json_object_put(table);
	if (pr.count)
		abort();
}

/* The built-in table is parsed once per process, into a catalog no one
 * changes or frees; each catalog_new starts from its models, shared
 * (model_slot copies one before it is changed). Parsing it cost about
 * ten times as much as a deep copy (2.8M instructions against ~0.2M),
 * and chat builds a catalog twice. */
static struct catalog *builtin_cat;
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static void builtin_init(void)
{
	builtin_cat = catalog_new_empty();
	load_builtin_table(builtin_cat);
}

/* Fills the empty catalog cat with the built-in models, shared. */
static void load_builtin(struct catalog *cat)
{
	pthread_once(&builtin_once, builtin_init);
	const struct catalog *b = builtin_cat;
	cat->cap = b->cap;
	cat->n = b->n;
	cat->v = xcalloc(b->cap, sizeof *cat->v);
	cat->n_index = b->n_index;
	cat->index = xcalloc(b->n_index, sizeof *cat->index);
	memcpy(cat->index, b->index, b->n_index * sizeof *b->index);
	for (size_t i = 0; i < b->n; i++) {
		cat->v[i] = b->v[i];
		cat->v[i].shared = true;
	}
}

/* Adds the built-in table when builtin is set, then the config's entries. */
static void load(struct catalog *cat, const struct config *c, struct problems *pr, bool builtin)
{
	if (builtin)
		load_builtin(cat);
	if (!c)
		return;
	/* Each provider's own list: bare model names or entries without the
	 * provider prefix (a local server declared with its models). */
	json_object *providers = member(c->root, "providers");
	if (providers && json_object_is_type(providers, json_type_object)) {
		json_object_object_foreach (providers, slug, pe) {
			json_object *list = member(pe, "models");
			if (!list || !json_object_is_type(list, json_type_array))
				continue; /* the registry reports a wrong type */
			for (size_t i = 0; i < json_object_array_length(list); i++) {
				char *path = xasprintf("providers.%s.models.%zu", slug, i);
				add_config_entry(cat, json_object_array_get_idx(list, i), slug, pr, path);
				free(path);
			}
		}
	}
	json_object *models = member(c->root, "models");
	if (models && json_object_is_type(models, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(models); i++) {
			char *path = xasprintf("models.%zu", i);
			add_config_entry(cat, json_object_array_get_idx(models, i), NULL, pr, path);
			free(path);
		}
	}
}

struct catalog *catalog_new(const struct config *c, char **err)
{
	struct catalog *cat = catalog_new_empty();
	struct problems pr = {.c = c, .report_any = true};
	load(cat, c, &pr, true);
	if (pr.count) {
		if (err)
			*err = pr.first;
		else
			free(pr.first);
		catalog_free(cat);
		return NULL;
	}
	return cat;
}

int catalog_check_config(const struct config *c, struct buf *report)
{
	struct catalog *cat = catalog_new_empty();
	/* A config entry's problems are its own: whether it overrides a
	 * built-in model or adds one, the same checks run on the same values. */
	struct problems pr = {.c = c, .check = true, .report_any = true, .report = report};
	load(cat, c, &pr, false);
	catalog_free(cat);
	free(pr.first);
	return pr.count;
}

const struct catalog_model *catalog_add_listing(struct catalog *cat, json_object *entry, const char *provider)
{
	const char *s = entry_id(entry);
	if (!s || !*s)
		return NULL;
	char *id = provider ? xasprintf("%s/%s", provider, s) : xstrdup(s);
	struct catalog_model *m = model_slot(cat, id);
	free(id);
	apply_entry(m, entry, NULL, "");
	if (!m->name)
		m->name = xstrdup(m->id);
	return m;
}

const struct catalog_model *catalog_add_copy(struct catalog *cat, const struct catalog_model *from,
                                             const char *provider, const char *model)
{
	/* from may point into cat, whose array the new slot may move. */
	struct catalog_model src = *from;
	char *name = xstrdup(from->name ? from->name : from->id);
	char *desc = from->description ? xstrdup(from->description) : NULL;
	json_object *in = strings_ref(from, from->input_modalities),
	            *out = strings_ref(from, from->output_modalities),
	            *params = strings_ref(from, from->supported_parameters);
	char *id = xasprintf("%s/%s", provider, model);
	struct catalog_model *m = model_slot(cat, id);
	free(id);
	free(m->name);
	m->name = name;
	if (desc) {
		free(m->description);
		m->description = desc;
	}
	if (src.context_length > 0)
		m->context_length = src.context_length;
	if (src.max_output_tokens > 0)
		m->max_output_tokens = src.max_output_tokens;
	if (src.price_prompt >= 0)
		m->price_prompt = src.price_prompt;
	if (src.price_completion >= 0)
		m->price_completion = src.price_completion;
	if (src.price_cache_read >= 0)
		m->price_cache_read = src.price_cache_read;
	if (src.price_cache_write >= 0)
		m->price_cache_write = src.price_cache_write;
	json_object **lists[] = {&m->input_modalities, &m->output_modalities, &m->supported_parameters};
	json_object *values[] = {in, out, params};
	for (size_t i = 0; i < 3; i++) {
		if (json_object_array_length(values[i]) > 0) {
			json_object_put(*lists[i]);
			*lists[i] = values[i];
		} else {
			json_object_put(values[i]);
		}
	}
	return m;
}

/* ---- lookups ---- */

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* A suffix that names a snapshot of a model rather than another model:
 * "-20250929", "-2024-08-06", "-0709" (MMDD or YYMM), "-001". A single
 * version digit ("-5") is another model, never a snapshot. */
static bool snapshot_suffix(const char *s)
{
	if (*s++ != '-')
		return false;
	size_t n = strlen(s);
	if (n == 8 || n == 4)
		return digits(s, n);
	if (n == 10)
		return digits(s, 4) && s[4] == '-' && digits(s + 5, 2) && s[7] == '-' && digits(s + 8, 2);
	if (n == 3)
		return s[0] == '0' && digits(s, 3);
	return false;
}

const struct catalog_model *catalog_find(const struct catalog *cat, const char *provider, const char *model)
{
	if (!cat || !model)
		return NULL;
	size_t plen;
	if (provider) {
		plen = strlen(provider);
	} else {
		const char *slash = strchr(model, '/');
		if (!slash)
			return NULL;
		provider = model;
		plen = (size_t)(slash - model);
		model = slash + 1;
	}
	/* The exact id first, through the index; ids are unique, so the scan
	 * below would return the same entry. */
	char key[256];
	if (!memchr(provider, '/', plen) && plen + 1 + strlen(model) < sizeof key) {
		memcpy(key, provider, plen);
		key[plen] = '/';
		strcpy(key + plen + 1, model);
		const struct catalog_model *m = find_exact(cat, key);
		if (m)
			return m;
	}
	const struct catalog_model *nocase = NULL, *dated = NULL;
	size_t dated_len = 0;
	for (size_t i = 0; i < cat->n; i++) {
		const struct catalog_model *m = &cat->v[i];
		/* Most entries are another provider's: rejected on the first
		 * byte, before any call. */
		if (plen && ((unsigned char)m->provider[0] | 0x20) != ((unsigned char)provider[0] | 0x20))
			continue; /* | 0x20 folds ASCII letters; a pair it wrongly equates goes on to the full test */
		if (strlen(m->provider) != plen || strncasecmp(m->provider, provider, plen) != 0)
			continue;
		if (strncmp(m->provider, provider, plen) == 0 && strcmp(m->model, model) == 0)
			return m;
		if (!nocase && strcasecmp(m->model, model) == 0)
			nocase = m;
		size_t len = strlen(m->model);
		if (len > dated_len && strncasecmp(model, m->model, len) == 0 &&
		    snapshot_suffix(model + len)) {
			dated = m;
			dated_len = len;
		}
	}
	return nocase ? nocase : dated;
}

double catalog_cost(const struct catalog_model *m, long prompt_tokens, long completion_tokens,
                    long cached_read_tokens, long cache_write_tokens)
{
	if (!m || m->price_prompt < 0 || m->price_completion < 0)
		return -1;
	long prompt = prompt_tokens > 0 ? prompt_tokens : 0;
	long completion = completion_tokens > 0 ? completion_tokens : 0;
	long cached = cached_read_tokens > 0 ? cached_read_tokens : 0;
	long written = cache_write_tokens > 0 ? cache_write_tokens : 0;
	/* Counts that do not add up are clamped so that no token is billed twice. */
	if (cached > prompt)
		cached = prompt;
	if (written > prompt - cached)
		written = prompt - cached;
	double read_price = m->price_cache_read >= 0 ? m->price_cache_read : m->price_prompt;
	double write_price = m->price_cache_write >= 0 ? m->price_cache_write : m->price_prompt;
	return (double)(prompt - cached - written) * m->price_prompt + (double)cached * read_price +
	       (double)written * write_price + (double)completion * m->price_completion;
}

static bool contains_nocase(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return n == 0;
}

bool catalog_model_matches(const struct catalog_model *m, const char *query, const char *provider)
{
	if (provider && strcmp(m->provider, provider) != 0)
		return false;
	if (str_empty(query))
		return true;
	return contains_nocase(m->id, query) || (m->name && contains_nocase(m->name, query));
}

/* ---- JSON ---- */

/* A per-token price as a plain decimal string ("0.00000125"), never in
 * exponent form, which some clients cannot read. */
static json_object *price_json(double d)
{
	char s[64];
	snprintf(s, sizeof s, "%.15f", d);
	char *dot = strchr(s, '.');
	if (dot) {
		char *end = s + strlen(s);
		while (end > dot + 1 && end[-1] == '0')
			*--end = '\0';
		if (end == dot + 1)
			*dot = '\0';
	}
	return json_object_new_string(s);
}

static json_object *count_json(long n)
{
	return n > 0 ? json_object_new_int64(n) : NULL;
}

json_object *catalog_model_json(const struct catalog_model *m)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(m->id));
	json_object_object_add(o, "object", json_object_new_string("model"));
	json_object_object_add(o, "created", json_object_new_int64(0));
	json_object_object_add(o, "owned_by", json_object_new_string(*m->provider ? m->provider : "unknown"));
	json_object_object_add(o, "name", json_object_new_string(m->name ? m->name : m->id));
	if (m->description)
		json_object_object_add(o, "description", json_object_new_string(m->description));
	json_object_object_add(o, "context_length", count_json(m->context_length));
	json_object *arch = json_object_new_object();
	json_object_object_add(arch, "input_modalities", strings_ref(m, m->input_modalities));
	json_object_object_add(arch, "output_modalities", strings_ref(m, m->output_modalities));
	json_object_object_add(o, "architecture", arch);
	json_object *pricing = json_object_new_object();
	if (m->price_prompt >= 0)
		json_object_object_add(pricing, "prompt", price_json(m->price_prompt));
	if (m->price_completion >= 0)
		json_object_object_add(pricing, "completion", price_json(m->price_completion));
	if (m->price_cache_read >= 0)
		json_object_object_add(pricing, "input_cache_read", price_json(m->price_cache_read));
	if (m->price_cache_write >= 0)
		json_object_object_add(pricing, "input_cache_write", price_json(m->price_cache_write));
	json_object_object_add(o, "pricing", pricing);
	json_object *top = json_object_new_object();
	json_object_object_add(top, "context_length", count_json(m->context_length));
	json_object_object_add(top, "max_completion_tokens", count_json(m->max_output_tokens));
	json_object_object_add(o, "top_provider", top);
	json_object_object_add(o, "supported_parameters", strings_ref(m, m->supported_parameters));
	return o;
}

json_object *catalog_list_json(const struct catalog *cat, const char *query, const char *provider_filter,
                               bool (*provider_ok)(const char *slug, void *arg), void *arg)
{
	json_object *data = json_object_new_array();
	for (size_t i = 0; i < cat->n; i++) {
		const struct catalog_model *m = &cat->v[i];
		if (!catalog_model_matches(m, query, provider_filter))
			continue;
		if (provider_ok && !provider_ok(m->provider, arg))
			continue;
		json_object_array_add(data, catalog_model_json(m));
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "object", json_object_new_string("list"));
	json_object_object_add(o, "data", data);
	return o;
}
