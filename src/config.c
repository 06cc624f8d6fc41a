/* config.c - the config file, the environment and the flags merged into one
 * struct config. See conf.h. */
#include "config.h"

#include "conf.h"
#include "buf.h"
#include "catalog.h"
#include "route.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>

/* The keys a config file may hold at the top level, with their JSON type. */
static const struct {
	const char *key;
	json_type type;
} top_keys[] = {
	{"api_key", json_type_string},
	{"base_url", json_type_string},
	{"chat", json_type_object},
	{"default_backend", json_type_string},
	{"default_model", json_type_string},
	{"identity", json_type_object},
	{"keys", json_type_array},
	{"model_aliases", json_type_array},
	{"models", json_type_array},
	{"providers", json_type_object},
	{"proxy", json_type_object},
	{"routes", json_type_object},
	{"routing", json_type_object},
};
#define N_TOP_KEYS (sizeof top_keys / sizeof top_keys[0])

static const char *const provider_keys[] = {
	"api_key", "api_version", "auth", "base_url", "chat_path", "count_tokens_path", "default_model", "dialect",
	"embeddings_path", "headers", "key_env", "key_optional", "keys", "model_prefixes", "models",
	"models_path", "name", "stream_path",
};
#define N_PROVIDER_KEYS (sizeof provider_keys / sizeof provider_keys[0])

char *config_default_path(const struct config_flags *flags, const char **source)
{
	if (flags && !str_empty(flags->config_path)) {
		*source = "--config";
		return xstrdup(flags->config_path);
	}
	const char *env = getenv("AROUTER_CONFIG");
	if (!str_empty(env)) {
		*source = "AROUTER_CONFIG";
		return xstrdup(env);
	}
	*source = "default";
	char *dir = xdg_dir("config");
	char *path = xasprintf("%s/config.json", dir);
	free(dir);
	return path;
}

/* ---- locating a dotted path in the text, for line-accurate errors ---- */

struct skim {
	const char *s;
	const char *p;
	const char *const *path; /* components */
	size_t depth;            /* number of components */
	const char *found;
};

static void skim_ws(struct skim *k)
{
	for (;;) {
		while (*k->p && isspace((unsigned char)*k->p))
			k->p++;
		if (k->p[0] == '/' && k->p[1] == '/') {
			while (*k->p && *k->p != '\n')
				k->p++;
		} else if (k->p[0] == '/' && k->p[1] == '*') {
			const char *end = strstr(k->p + 2, "*/");
			k->p = end ? end + 2 : k->p + strlen(k->p);
		} else {
			return;
		}
	}
}

/* Skips the JSON string at k->p and returns where its text starts, with
 * its length in *len (may be NULL): the raw text, escapes verbatim, which
 * is as far as matching keys needs to read them. json-c also takes
 * strings in single quotes, so the quote is whichever k->p is on. */
static const char *skim_string(struct skim *k, size_t *len)
{
	char quote = *k->p++;
	const char *start = k->p;
	while (*k->p && *k->p != quote)
		k->p += *k->p == '\\' && k->p[1] ? 2 : 1;
	if (len)
		*len = (size_t)(k->p - start);
	if (*k->p == quote)
		k->p++;
	return start;
}

static bool skim_quote(const struct skim *k)
{
	return *k->p == '"' || *k->p == '\'';
}

static void skim_value(struct skim *k, size_t level, bool on_path);

static void skim_container(struct skim *k, size_t level, bool on_path, bool is_object)
{
	char close = is_object ? '}' : ']';
	k->p++;
	size_t index = 0;
	for (;;) {
		skim_ws(k);
		/* Text the skimmer cannot read (a '}' inside [...]) ends the
		 * container rather than being looked at forever. */
		const char *start = k->p;
		if (!*k->p || *k->p == close) {
			if (*k->p)
				k->p++;
			return;
		}
		bool match = false, want = on_path && level < k->depth;
		const char *key_at = k->p;
		if (is_object) {
			if (!skim_quote(k))
				return; /* malformed; the tokenizer reports it */
			size_t len;
			const char *key = skim_string(k, &len);
			match = want && strlen(k->path[level]) == len && memcmp(key, k->path[level], len) == 0;
			skim_ws(k);
			if (*k->p == ':')
				k->p++;
		} else if (want) {
			char idx[32];
			snprintf(idx, sizeof idx, "%zu", index);
			match = strcmp(idx, k->path[level]) == 0;
		}
		skim_ws(k);
		if (match && level + 1 == k->depth) {
			k->found = is_object ? key_at : k->p;
			return; /* the first match is the answer: the rest is not read */
		}
		skim_value(k, level + 1, match);
		if (k->found)
			return;
		skim_ws(k);
		if (*k->p == ',')
			k->p++;
		else if (k->p == start)
			return;
		index++;
	}
}

static void skim_value(struct skim *k, size_t level, bool on_path)
{
	skim_ws(k);
	if (*k->p == '{' || *k->p == '[') {
		skim_container(k, level, on_path, *k->p == '{');
	} else if (skim_quote(k)) {
		skim_string(k, NULL);
	} else {
		while (*k->p && !strchr(",]}", *k->p) && !isspace((unsigned char)*k->p))
			k->p++;
	}
}

static void offset_to_line(const char *text, const char *at, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (const char *s = text; s < at && *s; s++) {
		if (*s == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

int config_locate(const char *text, const char *path, int *line, int *col)
{
	char *copy = xstrdup(path);
	const char *parts[32];
	size_t n = 0;
	for (char *save = NULL, *t = strtok_r(copy, ".", &save); t && n < 32; t = strtok_r(NULL, ".", &save))
		parts[n++] = t;
	struct skim k = {.s = text, .p = text, .path = parts, .depth = n};
	if (n > 0)
		skim_value(&k, 0, true);
	free(copy);
	if (!k.found)
		return -1;
	offset_to_line(text, k.found, line, col);
	return 0;
}

/* "PATH:LINE:COL: msg", locating the dotted path the message starts with. */
static char *located(const struct config *c, const char *msg)
{
	int line = 1, col = 1;
	size_t plen = strcspn(msg, " :[");
	char *path = xstrndup(msg, plen);
	if (config_locate(c->text, path, &line, &col) < 0) {
		/* Fall back to the parent path, then the top of the file. */
		char *dot;
		while ((dot = strrchr(path, '.')) != NULL) {
			*dot = '\0';
			if (config_locate(c->text, path, &line, &col) == 0)
				break;
		}
	}
	free(path);
	return xasprintf("%s:%d:%d: %s", c->path, line, col, msg);
}

/* ---- loading ---- */

static void setting_set(struct setting *s, const char *value, const char *source)
{
	free(s->value);
	s->value = value ? xstrdup(value) : NULL;
	s->source = source;
}

static const char *json_str(json_object *obj, const char *key)
{
	json_object *v;
	if (obj && json_object_object_get_ex(obj, key, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

static int parse_text(struct config *c, char **err)
{
	json_tokener *tok = json_tokener_new();
	size_t len = strlen(c->text);
	json_object *root = json_tokener_parse_ex(tok, c->text, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	if (jerr == json_tokener_continue) {
		/* The text ended inside a value. */
		int line, col;
		offset_to_line(c->text, c->text + len, &line, &col);
		*err = xasprintf("%s:%d:%d: unexpected end of file (an unclosed '{', '[' or string)", c->path,
				 line, col);
		json_tokener_free(tok);
		return -1;
	}
	if (jerr != json_tokener_success) {
		/* json-c stops after the bad token; point at its start. */
		size_t at = end;
		while (at > 0 && isspace((unsigned char)c->text[at - 1]))
			at--;
		while (at > 0 && (isalnum((unsigned char)c->text[at - 1]) || strchr("._-+", c->text[at - 1])))
			at--;
		int line, col;
		offset_to_line(c->text, c->text + at, &line, &col);
		*err = xasprintf("%s:%d:%d: %s", c->path, line, col, json_tokener_error_desc(jerr));
		json_tokener_free(tok);
		return -1;
	}
	/* Anything but whitespace and comments after the value is an error. */
	struct skim k = {.s = c->text, .p = c->text + end};
	skim_ws(&k);
	json_tokener_free(tok);
	if (*k.p) {
		int line, col;
		offset_to_line(c->text, k.p, &line, &col);
		*err = xasprintf("%s:%d:%d: unexpected text after the end of the configuration", c->path, line,
				 col);
		json_object_put(root);
		return -1;
	}
	if (!json_object_is_type(root, json_type_object)) {
		*err = xasprintf("%s:1:1: the configuration must be a JSON object", c->path);
		json_object_put(root);
		return -1;
	}
	c->root = root;
	return 0;
}

/* Type errors in keys this program reads: the value cannot be used. */
static int check_types(const struct config *c, struct buf *report)
{
	int problems = 0;
	json_object_object_foreach(c->root, key, val)
	{
		for (size_t i = 0; i < N_TOP_KEYS; i++) {
			if (strcmp(top_keys[i].key, key) != 0)
				continue;
			if (!json_object_is_type(val, top_keys[i].type) && !json_object_is_type(val, json_type_null)) {
				const char *want = top_keys[i].type == json_type_string   ? "a string"
						   : top_keys[i].type == json_type_object ? "an object"
											  : "a list";
				char *msg = xasprintf("%s must be %s", key, want);
				char *line = located(c, msg);
				buf_printf(report, "%s\n", line);
				free(line);
				free(msg);
				problems++;
			}
		}
	}
	json_object *aliases;
	if (json_object_object_get_ex(c->root, "model_aliases", &aliases) &&
	    json_object_is_type(aliases, json_type_array)) {
		size_t n = json_object_array_length(aliases);
		for (size_t i = 0; i < n; i++) {
			json_object *rule = json_object_array_get_idx(aliases, i);
			const char *pattern = json_str(rule, "pattern");
			const char *repl = json_str(rule, "replacement");
			char *msg = NULL;
			if (!json_object_is_type(rule, json_type_object) || !pattern || !repl) {
				msg = xasprintf("model_aliases.%zu must be an object with string \"pattern\" and "
						"\"replacement\"",
						i);
			} else {
				regex_t re;
				char why[128];
				if (route_pattern_compile(&re, pattern, why, sizeof why) < 0)
					msg = xasprintf("model_aliases.%zu.pattern: invalid regular expression: %s", i,
							why);
				else
					regfree(&re);
			}
			if (msg) {
				char *line = located(c, msg);
				buf_printf(report, "%s\n", line);
				free(line);
				free(msg);
				problems++;
			}
		}
	}
	return problems;
}

static void warn_if_readable(const struct config *c)
{
	struct stat st;
	if (stat(c->path, &st) < 0 || !(st.st_mode & 0077))
		return;
	/* Only a file that holds secrets needs to be private. */
	if (strstr(c->text, "api_key") || strstr(c->text, "\"keys\""))
		warnx_("%s holds keys and is readable by others; run: chmod 600 %s", c->path, c->path);
}

int config_load(struct config *c, const struct config_flags *flags, char **err)
{
	memset(c, 0, sizeof *c);
	c->path = config_default_path(flags, &c->path_source);
	size_t len = 0;
	c->text = read_file(c->path, &len);
	if (c->text) {
		c->file_exists = true;
		if (strlen(c->text) != len) {
			*err = xasprintf("%s: the file holds a NUL byte; it is not a JSON text file", c->path);
			goto fail;
		}
		if (parse_text(c, err) < 0)
			goto fail;
		if (!(flags && flags->quiet))
			warn_if_readable(c);
	} else if (errno != ENOENT || strcmp(c->path_source, "default") != 0) {
		/* A file named explicitly must exist; the default one need not. */
		*err = xasprintf("%s: cannot read the config file: %s", c->path, strerror(errno));
		goto fail;
	} else {
		c->text = xstrdup("");
		c->root = json_object_new_object();
	}

	struct buf report = BUF_INIT;
	if (check_types(c, &report) > 0 && !(flags && flags->lenient)) {
		size_t first = strcspn(buf_str(&report), "\n");
		*err = xstrndup(buf_str(&report), first);
		buf_free(&report);
		goto fail;
	}
	buf_free(&report);

	/* Settings: flag > environment > file > default. */
	setting_set(&c->base_url, AROUTER_DEFAULT_BASE_URL, "default");
	setting_set(&c->default_backend, "auto", "default");
	const struct {
		struct setting *s;
		const char *key, *env, *flag;
	} settings[] = {
		{&c->base_url, "base_url", "AROUTER_BASE_URL", flags ? flags->base_url : NULL},
		{&c->api_key, "api_key", "AROUTER_API_KEY", flags ? flags->api_key : NULL},
		{&c->default_model, "default_model", "AROUTER_MODEL", NULL},
		{&c->default_backend, "default_backend", "AROUTER_DEFAULT_BACKEND", NULL},
	};
	for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
		const char *v;
		if (!str_empty(settings[i].flag))
			setting_set(settings[i].s, settings[i].flag, "flag");
		else if (!str_empty(v = getenv(settings[i].env)))
			setting_set(settings[i].s, v, settings[i].env);
		else if (!str_empty(v = json_str(c->root, settings[i].key)))
			setting_set(settings[i].s, v, "config");
	}
	if (str_has_ctl(c->api_key.value)) {
		const char *src = c->api_key.source;
		char *m = xasprintf("%s holds a control character (a line break?); a key is sent in a header as is",
				    !strcmp(src, "flag") ? "--api-key" : !strcmp(src, "config") ? "api_key" : src);
		*err = !strcmp(src, "config") ? located(c, m) : xstrdup(m);
		free(m);
		goto fail;
	}
	/* The gateway's URL is used as a prefix; a trailing slash or "/v1" is
	 * tolerated because users copy either form from documentation. */
	size_t n = strlen(c->base_url.value);
	while (n > 0 && c->base_url.value[n - 1] == '/')
		c->base_url.value[--n] = '\0';
	if (str_has_suffix(c->base_url.value, "/v1"))
		c->base_url.value[n - 3] = '\0';

	json_object *providers = NULL;
	if (!json_object_object_get_ex(c->root, "providers", &providers) ||
	    !json_object_is_type(providers, json_type_object))
		providers = NULL; /* a wrong type was reported by check_types */
	char *perr = NULL;
	if (provider_registry_load(&c->providers, providers, &perr) < 0) {
		/* Errors about the file name a key in it; others (the environment) do not. */
		*err = str_has_prefix(perr, "providers.") ? located(c, perr) : xstrdup(perr);
		free(perr);
		goto fail;
	}
	/* The hosted gateway is also a provider ("arouter:model"); its URL and
	 * key follow the gateway settings. */
	struct provider *gw = provider_find(&c->providers, "arouter");
	if (gw) {
		free(gw->base_url);
		gw->base_url = xstrdup(c->base_url.value);
		free(gw->base_url_source);
		gw->base_url_source = xstrdup(c->base_url.source);
		if (!str_empty(c->api_key.value)) {
			for (size_t i = 0; i < gw->n_keys; i++)
				free(gw->keys[i]);
			gw->keys = xrealloc(gw->keys, sizeof *gw->keys);
			gw->keys[0] = xstrdup(c->api_key.value);
			gw->n_keys = 1;
			free(gw->key_source);
			gw->key_source = xstrdup(c->api_key.source);
		}
	}
	return 0;
fail:
	config_free(c);
	return -1;
}

void config_free(struct config *c)
{
	free(c->path);
	free(c->text);
	if (c->root)
		json_object_put(c->root);
	free(c->base_url.value);
	free(c->api_key.value);
	free(c->default_model.value);
	free(c->default_backend.value);
	provider_registry_free(&c->providers);
	memset(c, 0, sizeof *c);
}

static void report_unknown(const struct config *c, struct buf *report, int *problems, const char *prefix,
			   const char *key, const char *const *known, size_t n_known)
{
	const char *hint = suggest(key, known, n_known);
	char *msg = hint ? xasprintf("%s%s: unknown key (did you mean '%s'?)", prefix, key, hint)
			 : xasprintf("%s%s: unknown key", prefix, key);
	char *line = located(c, msg);
	buf_printf(report, "%s\n", line);
	free(line);
	free(msg);
	(*problems)++;
}

/* The keys of the sections whose values the commands read as they are
 * (proxy, routing, chat): a misspelt or mistyped one would be ignored. */
enum field_kind { F_NUMBER, F_BOOL, F_STRING, F_LIST, F_OBJECT };

struct field {
	const char *key;
	enum field_kind kind;
	const struct field *sub; /* the keys of an F_OBJECT, or NULL */
	size_t n_sub;
	const char *values;      /* an F_STRING's allowed values, "a|b|c", or NULL for any */
};

/* Whether v is one of the '|'-separated values. */
static bool value_allowed(const char *values, const char *v)
{
	size_t n = strlen(v);
	for (const char *p = values; *p;) {
		size_t len = strcspn(p, "|");
		if (len == n && strncmp(p, v, n) == 0)
			return true;
		p += len + (p[len] == '|');
	}
	return false;
}

static const struct field breaker_fields[] = {
	{"cooldown", F_NUMBER, NULL, 0, NULL},
	{"failures", F_NUMBER, NULL, 0, NULL},
	{"max_cooldown", F_NUMBER, NULL, 0, NULL},
};
static const struct field routing_fields[] = {
	{"backoff", F_NUMBER, NULL, 0, NULL},
	{"breaker", F_OBJECT, breaker_fields, sizeof breaker_fields / sizeof breaker_fields[0], NULL},
	{"deadline", F_NUMBER, NULL, 0, NULL},
	{"max_backoff", F_NUMBER, NULL, 0, NULL},
	{"retries", F_NUMBER, NULL, 0, NULL},
};
static const struct field proxy_fields[] = {
	{"allowed_origins", F_LIST, NULL, 0, NULL}, {"client_timeout", F_NUMBER, NULL, 0, NULL},
	{"connect_timeout", F_NUMBER, NULL, 0, NULL}, {"http_client", F_STRING, NULL, 0, "builtin|libcurl"},
	{"idle_timeout", F_NUMBER, NULL, 0, NULL}, {"keys", F_LIST, NULL, 0, NULL}, {"ledger", F_BOOL, NULL, 0, NULL},
	{"listen", F_STRING, NULL, 0, NULL}, {"log", F_STRING, NULL, 0, NULL},
	{"max_body_bytes", F_NUMBER, NULL, 0, NULL}, {"max_header_bytes", F_NUMBER, NULL, 0, NULL},
	{"shutdown_grace", F_NUMBER, NULL, 0, NULL}, {"timeout", F_NUMBER, NULL, 0, NULL},
};
static const struct field chat_fields[] = {
	{"ledger", F_BOOL, NULL, 0, NULL},
};

static void report_line(const struct config *c, struct buf *report, int *problems, char *msg)
{
	char *line = located(c, msg);
	buf_printf(report, "%s\n", line);
	free(line);
	free(msg);
	(*problems)++;
}

static bool kind_is(json_object *v, enum field_kind k)
{
	switch (k) {
	case F_NUMBER:
		return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
	case F_BOOL:
		return json_object_is_type(v, json_type_boolean);
	case F_STRING:
		return json_object_is_type(v, json_type_string);
	case F_LIST:
		return json_object_is_type(v, json_type_array);
	case F_OBJECT:
		return json_object_is_type(v, json_type_object);
	}
	return false;
}

static void check_fields(const struct config *c, struct buf *report, int *problems, const char *prefix,
			 json_object *obj, const struct field *fields, size_t n)
{
	static const char *const kind_names[] = {"a number", "true or false", "a string", "a list", "an object"};
	const char *known[16];
	for (size_t i = 0; i < n && i < 16; i++)
		known[i] = fields[i].key;
	json_object_object_foreach(obj, key, val)
	{
		size_t i;
		for (i = 0; i < n; i++)
			if (strcmp(fields[i].key, key) == 0)
				break;
		if (i == n) {
			report_unknown(c, report, problems, prefix, key, known, n < 16 ? n : 16);
			continue;
		}
		if (!kind_is(val, fields[i].kind)) {
			report_line(c, report, problems,
				    xasprintf("%s%s must be %s", prefix, key, kind_names[fields[i].kind]));
			continue;
		}
		if (fields[i].kind == F_NUMBER && json_object_get_double(val) < 0)
			report_line(c, report, problems, xasprintf("%s%s must not be negative", prefix, key));
		if (fields[i].values && !value_allowed(fields[i].values, json_object_get_string(val))) {
			struct buf list = BUF_INIT; /* "a, b or c" */
			for (const char *p = fields[i].values; *p;) {
				size_t len = strcspn(p, "|");
				bool last = p[len] == '\0';
				if (list.len)
					buf_puts(&list, last ? " or " : ", ");
				buf_append(&list, p, len);
				p += len + !last;
			}
			report_line(c, report, problems, xasprintf("%s%s must be %s", prefix, key, list.data));
			buf_free(&list);
		}
		if (fields[i].sub) {
			char *sub = xasprintf("%s%s.", prefix, key);
			check_fields(c, report, problems, sub, val, fields[i].sub, fields[i].n_sub);
			free(sub);
		}
	}
}

/* routes.NAME: a list of model strings, or {"models": [...], "strategy": S}. */
static void check_routes(const struct config *c, struct buf *report, int *problems, json_object *routes)
{
	static const char *const strategies[] = {"fallback", "round-robin", "lowest-latency", "lowest-cost"};
	static const char *const route_keys[] = {"models", "strategy"};
	json_object_object_foreach(routes, name, r)
	{
		json_object *models = r, *strategy = NULL;
		if (json_object_is_type(r, json_type_object)) {
			char *prefix = xasprintf("routes.%s.", name);
			json_object_object_foreach(r, rk, rv)
			{
				(void)rv;
				if (strcmp(rk, "models") != 0 && strcmp(rk, "strategy") != 0)
					report_unknown(c, report, problems, prefix, rk, route_keys, 2);
			}
			free(prefix);
			models = NULL;
			json_object_object_get_ex(r, "models", &models);
			json_object_object_get_ex(r, "strategy", &strategy);
		}
		if (!models || !json_object_is_type(models, json_type_array) || json_object_array_length(models) == 0) {
			report_line(c, report, problems,
				    xasprintf("routes.%s must be a list of models, or an object with one", name));
			continue;
		}
		for (size_t i = 0; i < json_object_array_length(models); i++) {
			json_object *m = json_object_array_get_idx(models, i);
			if (!json_object_is_type(m, json_type_string) || str_empty(json_object_get_string(m)))
				report_line(c, report, problems, xasprintf("routes.%s: item %zu must be a model string", name, i));
		}
		if (strategy) {
			const char *sv = json_object_is_type(strategy, json_type_string) ? json_object_get_string(strategy) : "";
			size_t k;
			for (k = 0; k < 4; k++)
				if (strcmp(sv, strategies[k]) == 0)
					break;
			if (k == 4) {
				const char *hint = suggest(sv, strategies, 4);
				report_line(c, report, problems,
					    hint ? xasprintf("routes.%s.strategy: '%s' is not a strategy (did you mean '%s'?)", name, sv, hint)
						 : xasprintf("routes.%s.strategy must be fallback, round-robin, lowest-latency or lowest-cost", name));
			}
		}
	}
}

int config_check(const struct config *c, char **report_out)
{
	struct buf report = BUF_INIT;
	int problems = check_types(c, &report);
	const char *known[N_TOP_KEYS];
	for (size_t i = 0; i < N_TOP_KEYS; i++)
		known[i] = top_keys[i].key;
	json_object_object_foreach(c->root, key, val)
	{
		size_t i;
		for (i = 0; i < N_TOP_KEYS; i++)
			if (strcmp(top_keys[i].key, key) == 0)
				break;
		if (i == N_TOP_KEYS)
			report_unknown(c, &report, &problems, "", key, known, N_TOP_KEYS);
		(void)val;
	}
	json_object *providers;
	if (json_object_object_get_ex(c->root, "providers", &providers) &&
	    json_object_is_type(providers, json_type_object)) {
		json_object_object_foreach(providers, slug, entry)
		{
			if (!json_object_is_type(entry, json_type_object))
				continue;
			char *prefix = xasprintf("providers.%s.", slug);
			json_object_object_foreach(entry, pkey, pval)
			{
				size_t i;
				for (i = 0; i < N_PROVIDER_KEYS; i++)
					if (strcmp(provider_keys[i], pkey) == 0)
						break;
				if (i == N_PROVIDER_KEYS)
					report_unknown(c, &report, &problems, prefix, pkey, provider_keys,
						       N_PROVIDER_KEYS);
				(void)pval;
			}
			free(prefix);
		}
	}
	static const struct {
		const char *name;
		const struct field *fields;
		size_t n;
	} sections[] = {
		{"proxy", proxy_fields, sizeof proxy_fields / sizeof proxy_fields[0]},
		{"routing", routing_fields, sizeof routing_fields / sizeof routing_fields[0]},
		{"chat", chat_fields, sizeof chat_fields / sizeof chat_fields[0]},
	};
	for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
		json_object *sec;
		if (json_object_object_get_ex(c->root, sections[i].name, &sec) && json_object_is_type(sec, json_type_object)) {
			char *prefix = xasprintf("%s.", sections[i].name);
			check_fields(c, &report, &problems, prefix, sec, sections[i].fields, sections[i].n);
			free(prefix);
		}
	}
	json_object *routes;
	if (json_object_object_get_ex(c->root, "routes", &routes) && json_object_is_type(routes, json_type_object))
		check_routes(c, &report, &problems, routes);
	const char *backend = c->default_backend.value;
	if (backend && strcmp(backend, "auto") != 0 && strcmp(backend, "direct") != 0 &&
	    strcmp(backend, "gateway") != 0 && !provider_find(&c->providers, backend)) {
		char *msg = xasprintf("default_backend: '%s' is not auto, direct, gateway or a provider", backend);
		char *line = located(c, msg);
		buf_printf(&report, "%s\n", line);
		free(line);
		free(msg);
		problems++;
	}
	/* The model entries ("models", "providers.*.models") are the catalog's. */
	problems += catalog_check_config(c, &report);
	*report_out = buf_steal(&report);
	return problems;
}

void config_warn_problems(const struct config *c)
{
	char *report = NULL;
	if (config_check(c, &report) > 0)
		for (char *line = strtok(report, "\n"); line; line = strtok(NULL, "\n"))
			warnx_("%s", line);
	free(report);
}

static json_object *setting_json(const struct setting *s, bool secret)
{
	json_object *o = json_object_new_object();
	if (s->value)
		json_object_object_add(o, "value", json_object_new_string(secret ? redact(s->value) : s->value));
	else
		json_object_object_add(o, "value", NULL);
	json_object_object_add(o, "source", json_object_new_string(s->value ? s->source : "unset"));
	return o;
}

json_object *config_effective_json(const struct config *c)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "config_path", json_object_new_string(c->path));
	json_object_object_add(o, "config_exists", json_object_new_boolean(c->file_exists));
	json_object_object_add(o, "base_url", setting_json(&c->base_url, false));
	json_object_object_add(o, "api_key", setting_json(&c->api_key, true));
	json_object_object_add(o, "default_model", setting_json(&c->default_model, false));
	json_object_object_add(o, "default_backend", setting_json(&c->default_backend, false));
	json_object *provs = json_object_new_object();
	for (size_t i = 0; i < c->providers.n; i++) {
		const struct provider *p = &c->providers.v[i];
		json_object *e = json_object_new_object();
		json_object_object_add(e, "name", json_object_new_string(p->name ? p->name : p->slug));
		json_object_object_add(e, "base_url", json_object_new_string(p->base_url ? p->base_url : ""));
		json_object_object_add(e, "base_url_source", json_object_new_string(p->base_url_source));
		json_object_object_add(e, "dialect", json_object_new_string(dialect_name(p->dialect)));
		json_object_object_add(e, "chat_path", json_object_new_string(p->chat_path ? p->chat_path : ""));
		json_object_object_add(e, "auth", json_object_new_string(provider_auth_name(p->auth)));
		json_object *envs = json_object_new_array();
		for (size_t j = 0; j < p->n_key_env; j++)
			json_object_array_add(envs, json_object_new_string(p->key_env[j]));
		json_object_object_add(e, "key_env", envs);
		json_object *keys = json_object_new_array();
		for (size_t j = 0; j < p->n_keys; j++)
			json_object_array_add(keys, json_object_new_string(redact(p->keys[j])));
		json_object_object_add(e, "keys", keys);
		json_object_object_add(e, "key_source", p->key_source ? json_object_new_string(p->key_source) : NULL);
		json_object_object_add(e, "ready", json_object_new_boolean(provider_has_key(p) || p->key_optional));
		json_object_object_add(e, "builtin", json_object_new_boolean(p->builtin));
		if (p->n_headers) {
			json_object *h = json_object_new_object();
			for (size_t j = 0; j < p->n_headers; j++) {
				/* Custom headers may carry credentials. */
				const char *name = p->headers[j].name, *v = p->headers[j].value;
				bool secret = strcasestr(name, "auth") || strcasestr(name, "key") ||
					      strcasestr(name, "token") || strcasestr(name, "secret");
				json_object_object_add(h, name, json_object_new_string(secret ? redact(v) : v));
			}
			json_object_object_add(e, "headers", h);
		}
		json_object_object_add(provs, p->slug, e);
	}
	json_object_object_add(o, "providers", provs);
	json_object *aliases;
	if (json_object_object_get_ex(c->root, "model_aliases", &aliases))
		json_object_object_add(o, "model_aliases", json_object_get(aliases));
	return o;
}
