/* provider.c - the provider registry: built-in table, config and environment
 * merged into one list. See provider.h. */
#include "config.h"

#include "provider.h"
#include "buf.h"
#include "util.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	enum provider_auth auth;
} auth_names[] = {
	{"none", AUTH_NONE},
	{"bearer", AUTH_BEARER},
	{"x-api-key", AUTH_X_API_KEY},
	{"x-goog-api-key", AUTH_X_GOOG_API_KEY},
	{"api-key", AUTH_API_KEY},
};

const char *provider_auth_name(enum provider_auth a)
{
	for (size_t i = 0; i < sizeof auth_names / sizeof auth_names[0]; i++)
		if (auth_names[i].auth == a)
			return auth_names[i].name;
	return "none";
}

char *provider_auth_header(const struct provider *p, const char **name)
{
	return provider_auth_header_with(p, provider_key(p), name);
}

char *provider_auth_header_with(const struct provider *p, const char *key, const char **name)
{
	if (!key)
		return NULL;
	switch (p->auth) {
	case AUTH_BEARER:
		*name = "Authorization";
		return xstrjoin("Bearer", " ", key);
	case AUTH_X_API_KEY:
		*name = "x-api-key";
		return xstrdup(key);
	case AUTH_X_GOOG_API_KEY:
		*name = "x-goog-api-key";
		return xstrdup(key);
	case AUTH_API_KEY:
		*name = "api-key";
		return xstrdup(key);
	case AUTH_NONE:
		break;
	}
	return NULL;
}

static int auth_from_name(const char *s, enum provider_auth *out)
{
	for (size_t i = 0; i < sizeof auth_names / sizeof auth_names[0]; i++)
		if (strcmp(auth_names[i].name, s) == 0) {
			*out = auth_names[i].auth;
			return 0;
		}
	return -1;
}

static void provider_clear(struct provider *p)
{
	free(p->slug);
	free(p->name);
	free(p->base_url);
	free(p->base_url_source);
	free(p->chat_path);
	free(p->stream_path);
	free(p->models_path);
	free(p->embeddings_path);
	free(p->count_tokens_path);
	free(p->api_version);
	free(p->default_model);
	for (size_t i = 0; i < p->n_key_env; i++)
		free(p->key_env[i]);
	free(p->key_env);
	for (size_t i = 0; i < p->n_keys; i++)
		free(p->keys[i]);
	free(p->keys);
	free(p->key_source);
	for (size_t i = 0; i < p->n_headers; i++) {
		free(p->headers[i].name);
		free(p->headers[i].value);
	}
	free(p->headers);
	for (size_t i = 0; i < p->n_model_prefixes; i++)
		free(p->model_prefixes[i]);
	free(p->model_prefixes);
	if (p->models)
		json_object_put(p->models);
	memset(p, 0, sizeof *p);
}

void provider_registry_free(struct provider_registry *reg)
{
	for (size_t i = 0; i < reg->n; i++)
		provider_clear(&reg->v[i]);
	free(reg->v);
	free(reg->index);
	memset(reg, 0, sizeof *reg);
}

/* Every request looks up a few slugs, most of them more than once, and a
 * route names one provider a member: in order, that was ~170 strcmp a
 * request for a route of three. */
static void index_build(struct provider_registry *reg)
{
	free(reg->index);
	for (reg->n_index = 16; reg->n_index < 2 * reg->n; reg->n_index *= 2)
		;
	reg->index = xcalloc(reg->n_index, sizeof *reg->index);
	for (size_t i = 0; i < reg->n; i++)
		str_index_put(reg->index, reg->n_index, reg->v[i].slug, i);
}

static const char *provider_slug(const void *table, size_t i)
{
	return ((const struct provider_registry *)table)->v[i].slug;
}

struct provider *provider_find(const struct provider_registry *reg, const char *slug)
{
	if (!reg->index) {
		for (size_t i = 0; i < reg->n; i++)
			if (strcmp(reg->v[i].slug, slug) == 0)
				return &reg->v[i];
		return NULL;
	}
	size_t i = str_index_find(reg->index, reg->n_index, slug, provider_slug, reg);
	return i ? &reg->v[i - 1] : NULL;
}

/* A valid slug is what fits in a URL path segment and an environment
 * variable name once upper-cased: letters, digits, '-' and '_'. */
static bool slug_valid(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return false;
	return true;
}

static char *strip_slash(const char *url)
{
	size_t n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	return xstrndup(url, n);
}

/* Replaces *dst with a copy of a string member of obj if present. Returns -1
 * (with *err) when present but not a string. */
static int take_string(json_object *obj, const char *key, char **dst, const char *where, char **err)
{
	json_object *v;
	if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string)) {
		*err = xasprintf("%s.%s must be a string", where, key);
		return -1;
	}
	free(*dst);
	*dst = xstrdup(json_object_get_string(v));
	return 0;
}

static int take_string_list(json_object *obj, const char *key, char ***dst, size_t *n,
			    const char *where, char **err)
{
	json_object *v;
	if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (json_object_is_type(v, json_type_string)) {
		/* One string is accepted where a list is expected. */
		for (size_t i = 0; i < *n; i++)
			free((*dst)[i]);
		*dst = xrealloc(*dst, sizeof **dst);
		(*dst)[0] = xstrdup(json_object_get_string(v));
		*n = 1;
		return 0;
	}
	if (!json_object_is_type(v, json_type_array)) {
		*err = xasprintf("%s.%s must be a list of strings", where, key);
		return -1;
	}
	size_t len = json_object_array_length(v);
	for (size_t i = 0; i < len; i++)
		if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string)) {
			*err = xasprintf("%s.%s[%zu] must be a string", where, key, i);
			return -1;
		}
	for (size_t i = 0; i < *n; i++)
		free((*dst)[i]);
	*dst = xrealloc(*dst, (len ? len : 1) * sizeof **dst);
	for (size_t i = 0; i < len; i++)
		(*dst)[i] = xstrdup(json_object_get_string(json_object_array_get_idx(v, i)));
	*n = len;
	return 0;
}

static int take_headers(json_object *obj, struct provider *p, const char *where, char **err)
{
	json_object *v;
	if (!json_object_object_get_ex(obj, "headers", &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_object)) {
		*err = xasprintf("%s.headers must be an object of strings", where);
		return -1;
	}
	json_object_object_foreach(v, name, val)
	{
		if (!json_object_is_type(val, json_type_string)) {
			*err = xasprintf("%s.headers.%s must be a string", where, name);
			return -1;
		}
		const char *s = json_object_get_string(val);
		/* A header that could split the request is refused outright. */
		if (strpbrk(name, "\r\n: ") || strpbrk(s, "\r\n") || !*name) {
			*err = xasprintf("%s.headers.%s is not a valid header", where, name);
			return -1;
		}
		size_t i;
		for (i = 0; i < p->n_headers; i++)
			if (strcasecmp(p->headers[i].name, name) == 0)
				break;
		if (i == p->n_headers) {
			p->headers = xrealloc(p->headers, (p->n_headers + 1) * sizeof *p->headers);
			p->headers[i].name = xstrdup(name);
			p->headers[i].value = NULL;
			p->n_headers++;
		}
		free(p->headers[i].value);
		p->headers[i].value = xstrdup(s);
	}
	return 0;
}

/* Applies one JSON provider entry (built-in or config) onto p. */
static int provider_apply(struct provider *p, json_object *e, const char *where, char **err)
{
	char *dialect = NULL, *auth = NULL, *base_url = NULL;
	if (take_string(e, "name", &p->name, where, err) < 0 ||
	    take_string(e, "base_url", &base_url, where, err) < 0 ||
	    take_string(e, "dialect", &dialect, where, err) < 0 ||
	    take_string(e, "chat_path", &p->chat_path, where, err) < 0 ||
	    take_string(e, "stream_path", &p->stream_path, where, err) < 0 ||
	    take_string(e, "models_path", &p->models_path, where, err) < 0 ||
	    take_string(e, "embeddings_path", &p->embeddings_path, where, err) < 0 ||
	    take_string(e, "count_tokens_path", &p->count_tokens_path, where, err) < 0 ||
	    take_string(e, "api_version", &p->api_version, where, err) < 0 ||
	    take_string(e, "default_model", &p->default_model, where, err) < 0 ||
	    take_string(e, "auth", &auth, where, err) < 0 ||
	    take_string_list(e, "key_env", &p->key_env, &p->n_key_env, where, err) < 0 ||
	    take_string_list(e, "model_prefixes", &p->model_prefixes, &p->n_model_prefixes, where, err) < 0 ||
	    take_headers(e, p, where, err) < 0)
		goto fail;
	if (base_url) {
		free(p->base_url);
		p->base_url = strip_slash(base_url);
		free(base_url);
		base_url = NULL;
	}
	if (dialect) {
		if (dialect_from_name(dialect, &p->dialect) < 0) {
			*err = xasprintf("%s.dialect: unknown dialect '%s' (use openai, anthropic or gemini)", where,
					 dialect);
			goto fail;
		}
		free(dialect);
		dialect = NULL;
	}
	if (auth) {
		if (auth_from_name(auth, &p->auth) < 0) {
			*err = xasprintf("%s.auth: unknown auth style '%s' (use bearer, x-api-key, x-goog-api-key, "
					 "api-key or none)",
					 where, auth);
			goto fail;
		}
		free(auth);
		auth = NULL;
	}
	json_object *v;
	if (json_object_object_get_ex(e, "key_optional", &v))
		p->key_optional = json_object_get_boolean(v);
	if (json_object_object_get_ex(e, "models", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_array)) {
			*err = xasprintf("%s.models must be a list", where);
			goto fail;
		}
		/* A copy: the built-in table is shared between threads, and
		 * json-c's reference counts are not atomic. */
		json_object *copy = NULL;
		if (json_object_deep_copy(v, &copy, NULL) != 0) {
			*err = xasprintf("%s.models cannot be copied", where);
			goto fail;
		}
		if (p->models)
			json_object_put(p->models);
		p->models = copy;
	}
	return 0;
fail:
	free(dialect);
	free(auth);
	free(base_url);
	return -1;
}

/* A key goes into a header as it is: one holding CR or LF would become a
 * header line of its own, so it is refused where it is loaded. Takes name. */
static char *key_ctl_message(char *name)
{
	char *m = xasprintf("%s holds a control character (a line break?); a key is sent in a header as is", name);
	free(name);
	return m;
}

/* Keys from the config: "api_key" (one) or "keys" (a pool). */
static int provider_config_keys(struct provider *p, json_object *e, const char *where, char **err)
{
	char *one = NULL;
	char **pool = NULL;
	size_t n = 0;
	if (take_string(e, "api_key", &one, where, err) < 0)
		return -1;
	if (take_string_list(e, "keys", &pool, &n, where, err) < 0) {
		free(one);
		return -1;
	}
	if (!one && n == 0) {
		free(pool);
		return 0;
	}
	bool bad = str_has_ctl(one);
	for (size_t i = 0; i < n; i++)
		bad = bad || str_has_ctl(pool[i]);
	if (bad) {
		*err = key_ctl_message(xasprintf("%s.%s", where, str_has_ctl(one) ? "api_key" : "keys"));
		free(one);
		for (size_t i = 0; i < n; i++)
			free(pool[i]);
		free(pool);
		return -1;
	}
	for (size_t i = 0; i < p->n_keys; i++)
		free(p->keys[i]);
	free(p->keys);
	p->keys = xmalloc((n + 1) * sizeof *p->keys);
	p->n_keys = 0;
	if (one)
		p->keys[p->n_keys++] = one;
	for (size_t i = 0; i < n; i++) {
		if (*pool[i])
			p->keys[p->n_keys++] = pool[i];
		else
			free(pool[i]);
	}
	free(pool);
	free(p->key_source);
	p->key_source = xstrdup("config");
	return 0;
}

/* AROUTER_<SLUG>_BASE_URL, slug upper-cased with '-' as '_'. */
static char *base_url_env_name(const char *slug)
{
	char *name = xasprintf("AROUTER_%s_BASE_URL", slug);
	for (char *s = name; *s; s++)
		*s = *s == '-' ? '_' : (char)toupper((unsigned char)*s);
	return name;
}

static void set_source(struct provider *p, const char *source)
{
	free(p->base_url_source);
	p->base_url_source = xstrdup(source);
}

static int provider_apply_env(struct provider *p, char **err)
{
	char *name = base_url_env_name(p->slug);
	const char *v = getenv(name);
	if (!str_empty(v)) {
		free(p->base_url);
		p->base_url = strip_slash(v);
		set_source(p, name);
	}
	free(name);
	/* The environment outranks the file for keys too (flag > env > file). */
	for (size_t i = 0; i < p->n_key_env; i++) {
		const char *k = getenv(p->key_env[i]);
		if (str_empty(k))
			continue;
		if (str_has_ctl(k)) {
			*err = key_ctl_message(xstrdup(p->key_env[i]));
			return -1;
		}
		for (size_t j = 0; j < p->n_keys; j++)
			free(p->keys[j]);
		p->keys = xrealloc(p->keys, sizeof *p->keys);
		p->keys[0] = xstrdup(k);
		p->n_keys = 1;
		free(p->key_source);
		p->key_source = xstrdup(p->key_env[i]);
		break;
	}
	return 0;
}

/* The built-in table, parsed once per process and after that only read
 * (lookups and strings, never a reference taken): parsing it was 60% of
 * loading the registry, which every config load does. */
static json_object *builtin_table;
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static void builtin_parse(void)
{
	builtin_table = json_tokener_parse(provider_builtin_json);
	if (!builtin_table || !json_object_is_type(builtin_table, json_type_array))
		abort(); /* the build embeds a file that `make` already validated */
}

int provider_registry_load(struct provider_registry *reg, json_object *config_providers, char **err)
{
	memset(reg, 0, sizeof *reg);
	pthread_once(&builtin_once, builtin_parse);
	json_object *table = builtin_table;
	size_t n = json_object_array_length(table);
	reg->v = xcalloc(n, sizeof *reg->v);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(table, i);
		struct provider *p = &reg->v[reg->n++];
		p->slug = xstrdup(json_object_get_string(json_object_object_get(e, "slug")));
		p->builtin = true;
		set_source(p, "built-in");
		p->auth = AUTH_BEARER;
		char *where = xasprintf("built-in provider %s", p->slug);
		int rc = provider_apply(p, e, where, err);
		free(where);
		if (rc < 0)
			abort();
	}

	if (config_providers) {
		json_object_object_foreach(config_providers, slug, e)
		{
			char *where = xasprintf("providers.%s", slug);
			if (!json_object_is_type(e, json_type_object)) {
				*err = xasprintf("%s must be an object", where);
				free(where);
				goto fail;
			}
			if (!slug_valid(slug)) {
				*err = xasprintf("%s: a provider name may hold only letters, digits, '-' and '_'",
						 where);
				free(where);
				goto fail;
			}
			struct provider *p = provider_find(reg, slug);
			if (!p) {
				reg->v = xrealloc(reg->v, (reg->n + 1) * sizeof *reg->v);
				p = &reg->v[reg->n++];
				memset(p, 0, sizeof *p);
				p->slug = xstrdup(slug);
				p->name = xstrdup(slug);
				p->dialect = DIALECT_OPENAI;
				p->chat_path = xstrdup("/v1/chat/completions");
				p->models_path = xstrdup("/v1/models");
				p->embeddings_path = xstrdup("/v1/embeddings");
				p->auth = AUTH_BEARER;
			}
			int rc = provider_apply(p, e, where, err);
			if (rc == 0)
				rc = provider_config_keys(p, e, where, err);
			if (rc == 0 && !p->builtin) {
				if (str_empty(p->base_url)) {
					*err = xasprintf("%s.base_url is required for a custom provider", where);
					rc = -1;
				} else {
					/* A local server declared without a key needs none. */
					json_object *tmp;
					if (!json_object_object_get_ex(e, "key_optional", &tmp))
						p->key_optional = p->n_keys == 0 && p->n_key_env == 0;
				}
			}
			if (rc == 0 && (!p->builtin || json_object_object_get_ex(e, "base_url", NULL)))
				set_source(p, "config");
			free(where);
			if (rc < 0)
				goto fail;
		}
	}
	for (size_t i = 0; i < reg->n; i++)
		if (provider_apply_env(&reg->v[i], err) < 0)
			goto fail;
	index_build(reg);
	return 0;
fail:
	provider_registry_free(reg);
	return -1;
}

struct provider *provider_for_model(const struct provider_registry *reg, const char *model)
{
	/* The longest matching prefix wins, so "gpt-" never shadows a more
	 * specific custom prefix. */
	struct provider *best = NULL;
	size_t best_len = 0;
	for (size_t i = 0; i < reg->n; i++)
		for (size_t j = 0; j < reg->v[i].n_model_prefixes; j++) {
			const char *pre = reg->v[i].model_prefixes[j];
			size_t len = strlen(pre);
			if (len > best_len && strncasecmp(model, pre, len) == 0) {
				best = &reg->v[i];
				best_len = len;
			}
		}
	return best;
}

const char *provider_suggest(const struct provider_registry *reg, const char *slug)
{
	const char **names = xmalloc(reg->n * sizeof *names);
	for (size_t i = 0; i < reg->n; i++)
		names[i] = reg->v[i].slug;
	const char *s = suggest(slug, names, reg->n);
	free(names);
	return s;
}

bool provider_has_key(const struct provider *p)
{
	return p->n_keys > 0 && !str_empty(p->keys[0]);
}

const char *provider_key(const struct provider *p)
{
	return provider_has_key(p) ? p->keys[0] : NULL;
}

const char *provider_key_hint(const struct provider *p)
{
	static __thread char hint[160];
	if (p->n_key_env > 0)
		return p->key_env[0];
	snprintf(hint, sizeof hint, "providers.%s.api_key", p->slug);
	return hint;
}

/* Percent-encodes everything but unreserved characters, so a model name can
 * neither add path segments nor smuggle CR/LF into the request line. */
static void url_escape(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	while (*s) {
		/* The run of unreserved characters, then one escaped. */
		size_t n = 0;
		for (unsigned char c; (c = (unsigned char)s[n]) != '\0' &&
				      (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~');)
			n++;
		buf_append(b, s, n);
		s += n;
		if (*s) {
			unsigned char c = (unsigned char)*s++;
			char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
			buf_append(b, esc, 3);
		}
	}
}

char *provider_url(const struct provider *p, const char *path_template, const char *model)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, p->base_url ? p->base_url : "");
	for (const char *s = path_template; *s;) {
		size_t n = strcspn(s, "{"); /* the literal part up to a placeholder */
		buf_append(&b, s, n);
		s += n;
		if (!*s)
			break;
		if (str_has_prefix(s, "{model}")) {
			url_escape(&b, model ? model : "");
			s += 7;
		} else if (str_has_prefix(s, "{api_version}")) {
			url_escape(&b, p->api_version ? p->api_version : "");
			s += 13;
		} else {
			buf_putc(&b, *s++);
		}
	}
	return buf_steal(&b);
}
