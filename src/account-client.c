/* account-client.c - see account-client.h. */
#include "config.h"

#include "account-client.h"
#include "account.h"
#include "buf.h"
#include "http-client.h"
#include "ledger.h"
#include "util.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define MESSAGE_MAX 300

void account_client_init(struct account_client *c, const struct config *cfg, bool force_local,
                         const char *who)
{
	memset(c, 0, sizeof *c);
	c->who = who;
	bool gateway = strcmp(cfg->base_url.source, "default") != 0 || !str_empty(cfg->api_key.value);
	if (force_local || !gateway)
		return;
	c->remote = true;
	c->base_url = xstrdup(cfg->base_url.value);
	const char *admin = getenv("AROUTER_ADMIN_KEY");
	if (str_has_ctl(admin))
		die(EXIT_CONFIG, "AROUTER_ADMIN_KEY holds a control character (a line break?); a key is sent in a header as is");
	if (!str_empty(admin))
		c->key = xstrdup(admin);
	else if (!str_empty(cfg->api_key.value))
		c->key = xstrdup(cfg->api_key.value);
	else
		die(EXIT_CONFIG,
		    "%s: no key for the gateway %s (set AROUTER_ADMIN_KEY or AROUTER_API_KEY, or use "
		    "--local)",
		    who, c->base_url);
	verbose("%s: asking the gateway %s", who, c->base_url);
}

void account_client_free(struct account_client *c)
{
	free(c->base_url);
	free(c->key);
	ledger_close(c->ledger);
	memset(c, 0, sizeof *c);
}

char *account_client_escape(const char *s)
{
	struct buf b = BUF_INIT;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~", *p))
			buf_putc(&b, (char)*p);
		else
			buf_printf(&b, "%%%02X", *p);
	}
	return buf_steal(&b);
}

static int exit_for_status(int status, bool remote)
{
	if (status == 400 || status == 422)
		return EXIT_USAGE;
	if (status == 401 || status == 403)
		return EXIT_AUTH;
	if (status == 429)
		return EXIT_RATELIMIT;
	return remote ? EXIT_UPSTREAM : EXIT_FAILURE_GENERIC;
}

/* The message of an error body: error.message, a string error, or the
 * text's first line; one line, bounded, with the key redacted should the
 * server have echoed it. Owned by the caller. */
static char *error_message(const char *text, size_t len, const char *key)
{
	char *msg = NULL;
	json_object *o = text && len ? json_tokener_parse(text) : NULL, *e, *m;
	if (o && json_object_object_get_ex(o, "error", &e)) {
		if (json_object_is_type(e, json_type_string))
			msg = xstrdup(json_object_get_string(e));
		else if (json_object_object_get_ex(e, "message", &m) &&
		         json_object_is_type(m, json_type_string))
			msg = xstrdup(json_object_get_string(m));
	}
	json_object_put(o);
	if (!msg)
		msg = xstrndup(text ? text : "", text ? strcspn(text, "\r\n") : 0);
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	if (strlen(msg) > MESSAGE_MAX)
		strcpy(msg + MESSAGE_MAX - 3, "...");
	if (!str_empty(key)) {
		char *hit;
		while ((hit = strstr(msg, key)) != NULL) {
			char *t =
			    xasprintf("%.*s%s%s", (int)(hit - msg), msg, redact(key), hit + strlen(key));
			free(msg);
			msg = t;
		}
	}
	return msg;
}

static int collect(const char *data, size_t len, void *arg)
{
	struct buf *b = arg;
	if (b->len + len > 16u * 1024 * 1024)
		return 1; /* no account answer is this large */
	buf_append(b, data, len);
	return 0;
}

static json_object *call_remote(struct account_client *c, const char *method, const char *path,
                                const char *query, const char *body)
{
	char *url = xasprintf("%s%s%s%s", c->base_url, path, str_empty(query) ? "" : "?", query ? query : "");
	char *auth = xasprintf("Bearer %s", c->key);
	struct http_header headers[] = {
	    {"Authorization", auth},
	    {"Accept", "application/json"},
	    {"Content-Type", "application/json"},
	};
	struct http_request req = {
	    .method = method,
	    .url = url,
	    .headers = headers,
	    .n_headers = body ? 3 : 2,
	    .body = body,
	    .body_len = body ? strlen(body) : 0,
	    .idle_timeout_ms = 30000,
	    .total_timeout_ms = 60000,
	};
	struct buf out = BUF_INIT;
	struct http_response resp;
	verbose("%s: %s %s%s", c->who, method, c->base_url, path);
	enum http_outcome oc = http_perform(&req, collect, &out, &resp);
	secure_wipe(auth, strlen(auth));
	free(auth);
	free(url);
	if (oc != XFER_OK) {
		const char *why = oc == XFER_ABORTED ? "the answer is too large"
		                  : resp.error       ? resp.error
		                                     : "the request failed";
		/* "cannot connect to URL" names the gateway already. */
		if (strstr(why, c->base_url))
			die(EXIT_NETWORK, "%s: %s", c->who, why);
		die(oc == XFER_ABORTED ? EXIT_UPSTREAM : EXIT_NETWORK, "%s: %s: %s", c->who, c->base_url,
		    why);
	}
	long status = resp.status;
	if (status < 200 || status > 299) {
		char *msg = error_message(buf_str(&resp.error_body), resp.error_body.len, c->key);
		const char *hint =
		    status == 401 || status == 403 ? " (check AROUTER_ADMIN_KEY or AROUTER_API_KEY)" : "";
		die(exit_for_status((int)status, true), "%s: %s: %ld %s%s", c->who, c->base_url, status,
		    *msg ? msg : "error", hint);
	}
	json_object *o = out.len && out.len < INT_MAX ? json_tokener_parse(buf_str(&out)) : NULL;
	if (!json_object_is_type(o, json_type_object))
		die(EXIT_UPSTREAM, "%s: %s: the answer to %s %s is not a JSON object", c->who, c->base_url,
		    method, path);
	buf_free(&out);
	http_response_clear(&resp);
	return o;
}

static json_object *call_local(struct account_client *c, const char *method, const char *path,
                               const char *query, const char *body)
{
	if (!c->ledger) {
		char *err = NULL;
		c->ledger = ledger_open(NULL, &err);
		if (!c->ledger)
			die(EXIT_FAILURE_GENERIC, "%s: %s", c->who, err);
	}
	json_object *o = NULL;
	int status = account_handle(c->ledger, method, path, query, body, body ? strlen(body) : 0, &o);
	if (status < 200 || status > 299) {
		const char *text = json_object_to_json_string(o);
		char *msg = error_message(text, strlen(text), NULL);
		die(exit_for_status(status, false), "%s: %s", c->who, msg);
	}
	return o;
}

json_object *account_client_call(struct account_client *c, const char *method, const char *path,
                                 const char *query, json_object *body)
{
	const char *text = body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
	                                                                   JSON_C_TO_STRING_NOSLASHESCAPE)
	                        : NULL;
	return c->remote ? call_remote(c, method, path, query, text)
	                 : call_local(c, method, path, query, text);
}

void account_print_json(json_object *o)
{
	printf("%s\n",
	       json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
}

const char *account_money(json_object *v, char buf[48])
{
	if (!v || !(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int))) {
		snprintf(buf, 48, "-");
		return buf;
	}
	double d = json_object_get_double(v);
	snprintf(buf, 48, "%s$%.8f", d < 0 ? "-" : "", d < 0 ? -d : d);
	/* Trailing zeros go, but cents stay: $5.00, $0.0123, $0.00000150. */
	char *dot = strchr(buf, '.');
	size_t n = strlen(buf);
	while (dot && buf + n - 1 > dot + 2 && buf[n - 1] == '0')
		buf[--n] = '\0';
	return buf;
}

const char *account_count(json_object *v, bool zero_dash, char buf[32])
{
	if (!v || !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) ||
	    (zero_dash && json_object_get_int64(v) == 0))
		snprintf(buf, 32, "-");
	else
		snprintf(buf, 32, "%lld", (long long)json_object_get_int64(v));
	return buf;
}

/* ---- tables ---- */

void table_init(struct table *t, size_t cols, unsigned right)
{
	memset(t, 0, sizeof *t);
	t->cols = cols;
	t->right = right;
}

void table_add(struct table *t, const char *const *cells)
{
	t->cells = xrealloc(t->cells, (t->rows + 1) * t->cols * sizeof *t->cells);
	for (size_t i = 0; i < t->cols; i++)
		t->cells[t->rows * t->cols + i] = xstrdup(cells[i] ? cells[i] : "");
	t->rows++;
}

/* Characters, not bytes: UTF-8 continuation bytes do not count. */
static size_t text_width(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

void table_print(const struct table *t, FILE *f)
{
	size_t *w = xcalloc(t->cols, sizeof *w);
	for (size_t r = 0; r < t->rows; r++)
		for (size_t i = 0; i < t->cols; i++) {
			size_t n = text_width(t->cells[r * t->cols + i]);
			if (n > w[i])
				w[i] = n;
		}
	for (size_t r = 0; r < t->rows; r++) {
		struct buf line = BUF_INIT;
		for (size_t i = 0; i < t->cols; i++) {
			const char *s = t->cells[r * t->cols + i];
			size_t pad = w[i] - text_width(s);
			bool right = t->right & (1u << i);
			if (i)
				buf_puts(&line, "  ");
			for (size_t k = 0; right && k < pad; k++)
				buf_putc(&line, ' ');
			buf_puts(&line, s);
			for (size_t k = 0; !right && i + 1 < t->cols && k < pad; k++)
				buf_putc(&line, ' ');
		}
		while (line.len && line.data[line.len - 1] == ' ')
			line.data[--line.len] = '\0';
		fprintf(f, "%s\n", buf_str(&line));
		buf_free(&line);
	}
	free(w);
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->rows * t->cols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof *t);
}
