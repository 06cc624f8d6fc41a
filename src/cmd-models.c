/* cmd-models.c - `arouter models`: the models arouter knows, with context
 * length and prices. The list comes from the catalog (catalog.c), from the
 * providers' own models endpoints (--live), or from the gateway when one is
 * in use; this file owns the options, the requests and the table. */
#include "config.h"

#include "buf.h"
#include "catalog.h"
#include "cmd.h"
#include "dialect.h"
#include "http-client.h"
#include "route.h"
#include "term.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const models_usage[] = {
	"models [QUERY] [--provider P] [--json] [--live]",
	"",
	"List models with their context length and price per million tokens. The",
	"list is the built-in catalog with the config file's \"models\" added, or,",
	"when a gateway is in use (--base-url, AROUTER_BASE_URL or base_url, a",
	"gateway key, or default_backend gateway), the gateway's own list.",
	"",
	"  QUERY                 only models whose id or name contains QUERY (any case)",
	"  -p, --provider P      only provider P's models",
	"      --json            print {\"object\": \"list\", \"data\": [...]} like GET /v1/models",
	"      --live            ask every provider that has a key which models it serves",
	"                        now; models the catalog does not know show no prices",
	"",
	"Environment: AROUTER_TIMEOUT (s, default 30) limits each request.",
	NULL,
};

enum {
	OPT_JSON = 0x2000,
	OPT_LIVE,
};

static const struct option models_options[] = {
	{"json", no_argument, NULL, OPT_JSON},
	{"live", no_argument, NULL, OPT_LIVE},
	{"provider", required_argument, NULL, 'p'},
	{NULL, 0, NULL, 0},
};

/* A models list bigger than this is not a models list. */
#define MAX_LIST_BYTES (16L * 1024 * 1024)

/* ---- fetching a list ---- */

static int collect(const char *data, size_t len, void *arg)
{
	struct buf *b = arg;
	if (b->len + len > (size_t)MAX_LIST_BYTES)
		return 1;
	buf_append(b, data, len);
	return 0;
}

/* Replaces every occurrence of key in *msg by its redacted form: an
 * upstream may quote the key it refused. */
static void scrub(char **msg, const char *key)
{
	if (str_empty(key) || !strstr(*msg, key))
		return;
	struct buf b = BUF_INIT;
	size_t n = strlen(key);
	for (const char *s = *msg; *s;) {
		if (strncmp(s, key, n) == 0) {
			buf_puts(&b, redact(key));
			s += n;
		} else {
			buf_putc(&b, *s++);
		}
	}
	free(*msg);
	*msg = buf_steal(&b);
}

struct fetch {
	const char *who;      /* "openai", "gateway": names the source in messages */
	const char *url;
	const struct http_header *headers;
	size_t n_headers;
	const char *key;      /* scrubbed from messages; may be NULL */
	const char *key_hint; /* what to check on 401/403 */
	long timeout_ms;
};

/* GETs a models list. Returns EXIT_OK with the parsed JSON in *out (owned
 * by the caller), or an exit code from util.h with *err set to one line
 * (owned by the caller). */
static int fetch_list(const struct fetch *f, json_object **out, char **err)
{
	*out = NULL;
	verbose("%s: GET %s", f->who, f->url);
	struct http_request req = {
		.method = "GET",
		.url = f->url,
		.headers = f->headers,
		.n_headers = f->n_headers,
		.total_timeout_ms = f->timeout_ms,
	};
	struct http_response resp;
	memset(&resp, 0, sizeof resp);
	struct buf body = BUF_INIT;
	enum http_outcome outcome = http_perform(&req, collect, &body, &resp);
	int rc = EXIT_OK;
	if (outcome == XFER_NETWORK || outcome == XFER_TIMEOUT || outcome == XFER_CANCELLED) {
		*err = xasprintf("%s: %s", f->who, resp.error ? resp.error : "network error");
		rc = outcome == XFER_CANCELLED ? EXIT_INTERRUPTED : EXIT_NETWORK;
	} else if (outcome == XFER_ABORTED) {
		*err = xasprintf("%s: the models list is larger than %ld MiB", f->who, MAX_LIST_BYTES >> 20);
		rc = EXIT_UPSTREAM;
	} else if (resp.status < 200 || resp.status >= 300) {
		struct upstream_error ue;
		upstream_error_parse((int)resp.status, buf_str(&resp.error_body), resp.error_body.len, &ue);
		if (resp.status == 401 || resp.status == 403) {
			*err = xasprintf("%s: %ld %s (check %s)", f->who, resp.status, ue.message, f->key_hint);
			rc = EXIT_AUTH;
		} else {
			*err = xasprintf("%s: %ld %s", f->who, resp.status, ue.message);
			rc = resp.status == 429 || resp.status == 402 ? EXIT_RATELIMIT : EXIT_UPSTREAM;
		}
		upstream_error_clear(&ue);
	} else {
		json_tokener *tok = json_tokener_new();
		json_object *o = json_tokener_parse_ex(tok, buf_str(&body), (int)body.len);
		bool whole = json_tokener_get_error(tok) == json_tokener_success &&
			     json_tokener_get_parse_end(tok) == body.len;
		json_tokener_free(tok);
		if (!o || !whole || !json_object_is_type(o, json_type_object)) {
			if (o)
				json_object_put(o);
			*err = xasprintf("%s: the models list from %s is not a JSON object", f->who, f->url);
			rc = EXIT_UPSTREAM;
		} else {
			*out = o;
		}
	}
	if (rc != EXIT_OK)
		scrub(err, f->key);
	buf_free(&body);
	http_response_clear(&resp);
	return rc;
}

/* The entries of a list: OpenAI, Anthropic and OpenRouter say "data",
 * Gemini and Cohere's native API "models". Borrowed from list. */
static json_object *list_entries(json_object *list)
{
	json_object *v;
	if (json_object_object_get_ex(list, "data", &v) && json_object_is_type(v, json_type_array))
		return v;
	if (json_object_object_get_ex(list, "models", &v) && json_object_is_type(v, json_type_array))
		return v;
	return NULL;
}

static long timeout_ms(void)
{
	const char *v = getenv("AROUTER_TIMEOUT");
	if (str_empty(v))
		return 30000;
	char *end;
	errno = 0;
	double s = strtod(v, &end);
	if (*end || errno || s <= 0)
		die(EXIT_USAGE, "AROUTER_TIMEOUT must be a positive number of seconds, not '%s'", v);
	return (long)(s * 1000);
}

/* ---- the sources ---- */

/* The list comes from the gateway when a model string would go there (the
 * decision route.c makes), and also when its URL was chosen on purpose:
 * a local arouter proxy needs no key. */
static bool use_gateway(const struct config *c)
{
	if (route_default_is_gateway(c))
		return true;
	const char *backend = c->default_backend.value ? c->default_backend.value : "auto";
	return strcmp(backend, "auto") == 0 && strcmp(c->base_url.source, "default") != 0;
}

/* GET {base_url}/v1/models with the gateway key. Returns EXIT_OK and the
 * gateway's models in *out (owned by the caller), or the exit code after
 * printing the error. */
static int gateway_list(const struct config *c, struct catalog **out)
{
	const struct provider *gw = provider_find(&c->providers, "arouter");
	char *url = provider_url(gw, gw->models_path ? gw->models_path : "/v1/models", NULL);
	const char *auth_name = NULL;
	char *auth = provider_auth_header(gw, &auth_name);
	struct http_header h[2] = {{"Accept", "application/json"}};
	size_t nh = 1;
	if (auth)
		h[nh++] = (struct http_header){auth_name, auth};
	struct fetch f = {
		.who = "gateway",
		.url = url,
		.headers = h,
		.n_headers = nh,
		.key = provider_key(gw),
		.key_hint = provider_key_hint(gw),
		.timeout_ms = timeout_ms(),
	};
	json_object *list = NULL;
	char *err = NULL;
	int rc = fetch_list(&f, &list, &err);
	json_object *entries = list ? list_entries(list) : NULL;
	if (rc == EXIT_OK && !entries) {
		err = xasprintf("gateway: the answer from %s has no \"data\" list of models", url);
		rc = EXIT_UPSTREAM;
	}
	if (rc == EXIT_OK) {
		*out = catalog_new_empty();
		for (size_t i = 0; i < json_object_array_length(entries); i++)
			catalog_add_listing(*out, json_object_array_get_idx(entries, i), NULL);
	} else {
		errorx("%s", err);
	}
	if (list)
		json_object_put(list);
	free(err);
	free(auth);
	free(url);
	return rc;
}

/* Asks one provider for its models and adds them to out: a model the
 * catalog knows (also under a dated name) keeps the catalog's data, a new
 * one what the provider said about it. Returns EXIT_OK, or the exit code
 * after one warning line. */
static int live_provider(const struct catalog *cat, const struct provider *p, long timeout, struct catalog *out)
{
	/* One page holds every model: Anthropic pages by 20 and Gemini by 50
	 * unless asked for more. */
	const char *more = p->dialect == DIALECT_ANTHROPIC ? "?limit=1000"
			   : p->dialect == DIALECT_GEMINI  ? "?pageSize=1000"
							   : "";
	char *path = xasprintf("%s%s", p->models_path, strchr(p->models_path, '?') ? "" : more);
	char *url = provider_url(p, path, NULL);
	free(path);
	const char *auth_name = NULL;
	char *auth = provider_auth_header(p, &auth_name);
	struct http_header h[34] = {{"Accept", "application/json"}};
	size_t nh = 1;
	if (auth)
		h[nh++] = (struct http_header){auth_name, auth};
	for (size_t i = 0; i < p->n_headers && nh < sizeof h / sizeof h[0]; i++)
		h[nh++] = (struct http_header){p->headers[i].name, p->headers[i].value};
	struct fetch f = {
		.who = p->slug,
		.url = url,
		.headers = h,
		.n_headers = nh,
		.key = provider_key(p),
		.key_hint = provider_key_hint(p),
		.timeout_ms = timeout,
	};
	json_object *list = NULL;
	char *err = NULL;
	int rc = fetch_list(&f, &list, &err);
	json_object *entries = list ? list_entries(list) : NULL;
	if (rc == EXIT_OK && !entries) {
		err = xasprintf("%s: the answer from %s has no list of models", p->slug, url);
		rc = EXIT_UPSTREAM;
	}
	if (rc == EXIT_OK) {
		for (size_t i = 0; i < json_object_array_length(entries); i++) {
			const struct catalog_model *m =
				catalog_add_listing(out, json_object_array_get_idx(entries, i), p->slug);
			if (!m)
				continue;
			const struct catalog_model *known = catalog_find(cat, p->slug, m->model);
			if (known)
				catalog_add_copy(out, known, p->slug, m->model);
		}
	} else {
		warnx_("%s; its models are not listed", err);
	}
	if (list)
		json_object_put(list);
	free(err);
	free(auth);
	free(url);
	return rc;
}

/* The live list of every provider that has a key (or only of `only`) in
 * *out, owned by the caller. Providers that fail are warned about and left
 * out; when every one fails, returns the first failure's exit code. *out
 * is NULL when no provider could be asked: the catalog is listed instead. */
static int live_list(const struct config *c, const struct catalog *cat, const char *only, struct catalog **out)
{
	*out = catalog_new_empty();
	long timeout = timeout_ms();
	size_t asked = 0, failed = 0;
	int first_rc = EXIT_OK;
	for (size_t i = 0; i < c->providers.n; i++) {
		const struct provider *p = &c->providers.v[i];
		if (only ? strcmp(p->slug, only) != 0
			 : strcmp(p->slug, "arouter") == 0 || strcmp(p->slug, "mock") == 0 || !provider_has_key(p))
			continue;
		if (!p->models_path) {
			if (only)
				warnx_("%s has no models endpoint; listing the catalog's models", p->slug);
			continue;
		}
		if (only && !provider_has_key(p) && !p->key_optional) {
			warnx_("%s: no API key (set %s); listing the catalog's models", p->slug, provider_key_hint(p));
			continue;
		}
		asked++;
		int rc = live_provider(cat, p, timeout, *out);
		if (rc != EXIT_OK) {
			failed++;
			if (first_rc == EXIT_OK)
				first_rc = rc;
		}
	}
	if (asked == 0 && !only)
		warnx_("--live: no provider has a key (set OPENAI_API_KEY, ANTHROPIC_API_KEY, ...); listing the "
		       "catalog");
	if (asked == 0 || failed == asked) {
		catalog_free(*out);
		*out = NULL;
	}
	return asked > 0 && failed == asked ? first_rc : EXIT_OK;
}

/* ---- output ---- */

/* "400K", "1M", "2M", "131K"; "-" when unknown. */
static void format_context(char *out, size_t size, long n)
{
	if (n <= 0)
		snprintf(out, size, "-");
	else if (n >= 1000000)
		snprintf(out, size, "%.*fM", n % 1000000 >= 50000 && n % 1000000 < 950000 ? 1 : 0, n / 1e6);
	else if (n >= 1000)
		snprintf(out, size, "%.0fK", n / 1e3);
	else
		snprintf(out, size, "%ld", n);
}

/* A per-token price as dollars per million tokens: "3.00", "0.075",
 * "0.0375"; "-" when unknown. */
static void format_price(char *out, size_t size, double per_token)
{
	if (per_token < 0) {
		snprintf(out, size, "-");
		return;
	}
	snprintf(out, size, "%.4f", per_token * 1e6);
	char *dot = strchr(out, '.');
	char *end = out + strlen(out);
	while (dot && end > dot + 3 && end[-1] == '0')
		*--end = '\0';
}

static void print_table(const struct catalog *cat, const char *query, const char *provider)
{
	int width = (int)strlen("MODEL");
	size_t shown = 0;
	for (size_t i = 0; i < cat->n; i++)
		if (catalog_model_matches(&cat->v[i], query, provider)) {
			int len = (int)strlen(cat->v[i].id);
			if (len > width)
				width = len;
			shown++;
		}
	if (shown == 0) {
		if (!str_empty(query))
			errorx("no model matches '%s'", query);
		else
			errorx("no models to list");
		return;
	}
	printf("%s%-*s  %7s  %9s  %9s%s\n", term_dim(stdout), width, "MODEL", "CONTEXT", "$/M IN", "$/M OUT",
	       term_reset(stdout));
	for (size_t i = 0; i < cat->n; i++) {
		const struct catalog_model *m = &cat->v[i];
		if (!catalog_model_matches(m, query, provider))
			continue;
		char ctx[16], in[32], out[32];
		format_context(ctx, sizeof ctx, m->context_length);
		format_price(in, sizeof in, m->price_prompt);
		format_price(out, sizeof out, m->price_completion);
		printf("%-*s  %7s  %9s  %9s\n", width, m->id, ctx, in, out);
	}
}

static void print_json(const struct catalog *cat, const char *query, const char *provider)
{
	json_object *o = catalog_list_json(cat, query, provider, NULL, NULL);
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static int models_exec(struct context *ctx, int argc, char **argv)
{
	const char *provider = NULL;
	bool json = false, live = false;
	int opt;
	while ((opt = cmd_getopt(ctx, &cmd_models, argc, argv)) != -1) {
		switch (opt) {
		case 'p':
			provider = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_LIVE:
			live = true;
			break;
		}
	}
	if (argc - optind > 1)
		cmd_die_usage(&cmd_models, "give one QUERY, not %d words (quote it)", argc - optind);
	const char *query = optind < argc ? argv[optind] : NULL;
	struct config *c = context_config(ctx);
	if (provider && !provider_find(&c->providers, provider)) {
		const char *hint = provider_suggest(&c->providers, provider);
		if (hint)
			die(EXIT_USAGE, "models: unknown provider '%s' (did you mean '%s'?)", provider, hint);
		die(EXIT_USAGE, "models: unknown provider '%s' (see 'arouter config show' for providers)", provider);
	}

	struct catalog *list = NULL;
	if (use_gateway(c)) {
		if (live)
			verbose("--live: the gateway's list is already its live one");
		int rc = gateway_list(c, &list);
		if (rc != EXIT_OK)
			return rc;
	} else {
		char *err = NULL;
		struct catalog *cat = catalog_new(c, &err);
		if (!cat) {
			errorx("%s", err);
			free(err);
			return EXIT_CONFIG;
		}
		if (live) {
			int rc = live_list(c, cat, provider, &list);
			if (rc != EXIT_OK) {
				catalog_free(cat);
				return rc;
			}
			if (list)
				catalog_free(cat);
		}
		if (!list)
			list = cat;
	}
	if (json)
		print_json(list, query, provider);
	else
		print_table(list, query, provider);
	catalog_free(list);
	return EXIT_OK;
}

const struct command cmd_models = {
	.name = "models",
	.summary = "list models with context length and pricing",
	.usage = models_usage,
	.options = models_options,
	.shortopts = "p:",
	.exec = models_exec,
};
