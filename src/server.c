/* server.c - the proxy's listener and request handling. See server.h.
 *
 * A libevent loop carries each request from start to end: httpd.c parses
 * client requests and writes responses, and the upstream transfers
 * (http-client.c: the built-in HTTP/1.1 client, or libcurl's multi-socket
 * API) run on the same loop. A model request goes through the same
 * gateway_call as `arouter chat`; only the transport and the client's
 * dialect (ingress.c) differ.
 *
 * There is one such loop per worker (--workers; by default one a CPU, at
 * most 8), each on a thread of its own with its own listening socket on
 * the same port (SO_REUSEPORT: the kernel spreads connections), its own
 * copy of the config and catalog, and nothing else of its own. What the
 * loops share is made for it: the key pools and breakers (health.h, under
 * its lock), the rate limiter (its own lock), the ledger connection and
 * keyring (hub.ledger_mu) and the ledger writer (its thread). The first
 * worker runs on the main thread and takes the signals; it tells the
 * others to reload or stop through a pipe each. */
#include "config.h"

#include "server.h"
#include "httpd.h"
#include "buf.h"
#include "dialect.h"
#include "account.h"
#include "attempt.h"
#include "catalog.h"
#include "gateway.h"
#include "health.h"
#include "ledger.h"
#include "limiter.h"
#include "listen.h"
#include "http-client.h"
#include "ingress.h"
#include "jsonr.h"
#include "jsonw.h"
#include "provider.h"
#include "request.h"
#include "route.h"
#include "sse.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct proxy_req;

/* Who sent the request being dispatched. */
struct client {
	char id[48];     /* the key's id or name; "" when anonymous */
	char *secret;    /* the key presented; owned, wiped when freed */
	long long rpm, tpm;
	bool ledger_key; /* a ledger key: its model and budget checks apply */
};

static void client_clear(struct client *c)
{
	if (c->secret) {
		secure_wipe(c->secret, strlen(c->secret));
		free(c->secret);
	}
	memset(c, 0, sizeof *c);
}

/* What the workers share (see the top). */
struct hub {
	pthread_mutex_t mu;        /* each worker's pending config */
	pthread_mutex_t ledger_mu; /* the ledger connection and the keyring */
	struct server **w;
	int n;
	int in_flight;             /* requests in flight in all workers (atomic) */
};

/* One worker: an event loop and what is its own. */
struct server {
	struct hub *hub;
	int index;                /* 0: the main thread's, which takes the signals */
	pthread_t thread;
	int notify[2];            /* from worker 0: 'R' reload (take pending), 'S' stop */
	struct event *notify_ev;
	struct config *pending;   /* a reloaded config for this worker, under hub->mu */
	struct event_base *base;
	struct httpd *http;
	int sock;                 /* the listening socket, once httpd has it */
	bool listening;
	struct http_loop *loop;
	struct config *cfg;       /* current */
	struct config **retired;  /* replaced by SIGHUP; in-flight requests may still use them */
	size_t n_retired;
	struct config_flags flags;
	struct server_options opt;
	int port;
	struct proxy_req *reqs;   /* in flight */
	bool stopping;
	struct spares req_spares; /* freed proxy_reqs, for the next requests */
	struct buf log_lines;     /* access-log lines of this turn of the loop */
	struct event *log_ev;     /* active while log_lines holds any */
	time_t log_sec;           /* the second log_when spells */
	char log_when[24];
	struct event *sigs[3];
	struct event *deadline;
	struct health *health;    /* key pools and breakers: outlive requests and reloads; shared */
	struct attempt_policy policy;
	struct limiter *limiter;  /* per client key rpm/tpm; shared */
	struct catalog *catalog;  /* /v1/models, costs, context lengths; remade on reload */
	/* the ledger (NULL when off or unavailable); shared, the first two
	 * under hub->ledger_mu */
	struct ledger *ledger;    /* the loop's connection: keys and the account API */
	struct ledger_keyring *keyring;
	struct ledger_writer *writer; /* usage rows, written on a thread of its own */
	char *admin_key;
	struct client client;     /* of the request being dispatched */
	struct stdio_relay *relay; /* --stdio */
	struct event *stdio_timer;
	struct event *release_ev; /* memory_release a second after answers */
	int stdio_idle_ticks;
	char *sd_host;            /* the address of systemd's socket */
	int n_reqs;               /* in flight */
};

/* One client request on its way through the pipeline. */
struct proxy_req {
	struct server *srv;
	struct hreq *req;
	bool watched;             /* for a hang-up (watch_for_close) */
	struct proxy_req *prev, *next;
	enum dialect ingress;
	char *model_asked;
	bool stream;
	bool raw;                 /* same dialect: upstream bytes go to the client as they are */
	struct sse_parser *relay; /* raw OpenAI stream whose client did not ask for usage: events
				   * are relayed one by one, the usage-only chunk left out */
	bool started;             /* the response status line is out */
	bool gateway_ready;       /* gc/res need clearing */
	bool passthrough;         /* /{provider}/{path} */
	struct gateway_call gc;
	struct gateway_result res;
	struct http_call *call;
	struct stream_encoder *enc;
	struct completion_builder *b;
	struct buf out;
	long long t0_ms;
	const char *method;       /* static; the request may be gone when we log */
	int status;               /* as sent to the client */
	char *provider;           /* passthrough: the slug */
	/* a JSON exchange (count_tokens, embeddings): builds the client's
	 * answer from the upstream's 2xx JSON */
	json_object *(*on_json)(struct proxy_req *pr, json_object *upstream);
	char *json_model;         /* the upstream model name */
	bool base64;              /* embeddings: the client asked for encoding_format base64 */
	bool exchanged;           /* a JSON exchange went to its provider */
	char *auth;
	/* the attempt loop (attempt.h) */
	json_object *canon;       /* the canonical request; a continuation replaces it */
	json_object *canon0;      /* the client's, once a continuation replaced it */
	json_object *client_body; /* the client's own body, for a same-dialect upstream */
	struct route_plan plan;
	struct attempt at;
	struct gateway_resume resume;
	struct event *retry_ev;
	long long attempt_t0;
	long long attempt_first_byte; /* when this attempt's first body byte came, 0 before */
	bool include_usage;
	bool drop_usage;          /* raw OpenAI stream: the client did not ask for the usage chunk */
	struct buf held;          /* a raw stream's terminator, held while it may be continued */
	bool error_held;          /* a raw stream's error event was not relayed */
	/* the client */
	char client_id[48];       /* its key's id or name, "" when anonymous */
	char *client_secret;      /* the key it presented, for the per-model check; wiped */
	bool client_ledger_key;
	long long wall_t0_ms;     /* arrival, Unix time, for the ledger */
	long long first_token_ms; /* arrival to the first byte to the client, -1 if none */
};


/* A line about upstream health (a key taken out, a failover) on stderr,
 * where the proxy's warnings go; never a key or prompt text. */
static void logx(struct server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logx(struct server *s, const char *fmt, ...)
{
	(void)s;
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	warnx_("proxy: %s", msg);
	free(msg);
}


/* ---- responses ---- */

/* The worker of this thread, for the write-completion callbacks. */
static __thread struct server *the_server;

/* The ledger connection and keyring are the workers' in common. */
static void keys_lock(struct server *s)
{
	pthread_mutex_lock(&s->hub->ledger_mu);
}

static void keys_unlock(struct server *s)
{
	pthread_mutex_unlock(&s->hub->ledger_mu);
}

static void maybe_exit(struct server *s)
{
	if (s->stopping && !s->reqs && httpd_sending(s->http) <= 0)
		event_base_loopexit(s->base, NULL);
}

static void on_release(evutil_socket_t fd, short what, void *arg)
{
	memory_release();
}

static void on_sent(void *arg)
{
	struct server *s = arg;
	/* A second after an answer (at most once a second under load), what
	 * it used goes back to the system. */
	static const struct timeval after = {1, 0};
	if (s->release_ev && !s->stopping && !evtimer_pending(s->release_ev, NULL))
		evtimer_add(s->release_ev, &after);
	maybe_exit(s);
}

static void add_header(struct hreq *req, const char *name, const char *value)
{
	evhttp_add_header(hreq_output_headers(req), name, value);
}

/* The Date header's value (RFC 9110 IMF-fixdate), formatted once a second
 * rather than for every response (gmtime and a printf). Names
 * spelled out: strftime's follow the locale. */
static const char *http_date(void)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	static __thread char text[40];
	static __thread time_t shown = -1;
	time_t now = time(NULL);
	if (now != shown) {
		struct tm tm;
		if (!gmtime_r(&now, &tm))
			return NULL;
		snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
			 months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
		shown = now;
	}
	return text;
}

static void reply_json(struct hreq *req, int status, const char *json)
{
	add_header(req, "Content-Type", "application/json");
	hreq_send_reply(req, status, json, strlen(json));
}

static void reply_json_object(struct hreq *req, int status, json_object *o)
{
	struct buf text = BUF_INIT;
	json_write(&text, o);
	add_header(req, "Content-Type", "application/json");
	hreq_send_reply(req, status, buf_str(&text), text.len);
	buf_free(&text);
}

/* An error in the caller's dialect. */
static int reply_error(struct hreq *req, enum dialect d, int status, const char *kind, const char *message)
{
	int http_status = status;
	char *body = ingress_error_body(d, status, kind, message, &http_status);
	reply_json(req, http_status, body);
	free(body);
	return http_status;
}

/* ---- the access log: counts, names and times, never text or secrets ---- */

static void write_log_lines(struct server *s)
{
	if (!s->log_lines.len)
		return;
	fwrite(s->log_lines.data, 1, s->log_lines.len, s->opt.log);
	fflush(s->opt.log);
	buf_reset(&s->log_lines);
}

static void on_log_lines(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	write_log_lines(arg);
}

/* One line per request. The lines of one turn of the loop are written
 * together at its end: one write for the many requests a busy turn ends.
 * Formatted by hand: fprintf and strftime were most of its cost. */
static void access_log(struct proxy_req *pr)
{
	struct server *s = pr->srv;
	if (!s->opt.log)
		return;
	time_t t = time(NULL);
	if (t != s->log_sec || !s->log_when[0]) {
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(s->log_when, sizeof s->log_when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		s->log_sec = t;
	}
	long long prompt = -1, completion = -1;
	json_object *u = pr->b ? completion_builder_usage(pr->b) : NULL, *v;
	if (u) {
		if (json_object_object_get_ex(u, "prompt_tokens", &v))
			prompt = json_object_get_int64(v);
		if (json_object_object_get_ex(u, "completion_tokens", &v))
			completion = json_object_get_int64(v);
	}
	struct buf *b = &s->log_lines;
	bool first = b->len == 0;
	const char *fields[] = {
	    s->log_when,
	    pr->client_id[0] ? pr->client_id : "-",
	    pr->passthrough ? "passthrough" : dialect_name(pr->ingress),
	    pr->method ? pr->method : "-",
	};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		buf_puts(b, fields[i]);
		buf_putc(b, ' ');
	}
	buf_puts(b, "model=");
	buf_puts(b, pr->model_asked ? pr->model_asked : "-");
	buf_puts(b, " served=");
	buf_puts(b, pr->res.provider ? pr->res.provider : (pr->provider ? pr->provider : "-"));
	buf_putc(b, '/');
	buf_puts(b, pr->res.model ? pr->res.model : "-");
	buf_puts(b, " status=");
	buf_put_ll(b, pr->status);
	buf_puts(b, " ms=");
	buf_put_ll(b, mono_clock_ms() - pr->t0_ms);
	buf_puts(b, " tokens=");
	buf_put_ll(b, prompt);
	buf_putc(b, '+');
	buf_put_ll(b, completion);
	buf_putc(b, '\n');
	if (!s->log_ev)
		write_log_lines(s); /* no loop (yet, or any more) */
	else if (first)
		event_active(s->log_ev, EV_TIMEOUT, 1);
}

static void proxy_req_free(struct proxy_req *pr)
{
	struct server *s = pr->srv;
	if (pr->call)
		http_call_cancel(pr->call);
	if (pr->watched) {
		pr->watched = false;
		hreq_unwatch(pr->req); /* frees it if answered */
	}
	if (pr->prev)
		pr->prev->next = pr->next;
	else
		s->reqs = pr->next;
	if (pr->next)
		pr->next->prev = pr->prev;
	if (pr->gateway_ready)
		gateway_call_clear(&pr->gc);
	gateway_result_clear(&pr->res);
	attempt_abandon(&pr->at, mono_clock_ms());
	attempt_clear(&pr->at);
	route_plan_clear(&pr->plan);
	gateway_resume_clear(&pr->resume);
	if (pr->retry_ev)
		event_free(pr->retry_ev);
	if (pr->canon)
		json_object_put(pr->canon);
	if (pr->canon0)
		json_object_put(pr->canon0);
	if (pr->client_body)
		json_object_put(pr->client_body);
	buf_free(&pr->held);
	if (pr->client_secret) {
		secure_wipe(pr->client_secret, strlen(pr->client_secret));
		free(pr->client_secret);
	}
	s->n_reqs--;
	__atomic_sub_fetch(&s->hub->in_flight, 1, __ATOMIC_RELAXED);
	if (pr->enc)
		stream_encoder_free(pr->enc);
	sse_parser_free(pr->relay);
	completion_builder_free(pr->b);
	buf_free(&pr->out);
	free(pr->model_asked);
	free(pr->provider);
	free(pr->json_model);
	free(pr->auth);
	spares_put(&s->req_spares, pr);
	maybe_exit(s);
}

/* The cost of what a request used, from the catalog; <0 unknown. r holds
 * the counts read from usage (ledger_row_set_usage). */
static double request_cost(struct proxy_req *pr, json_object *usage, const struct ledger_row *r)
{
	if (!usage || !pr->res.provider || !pr->res.model || !pr->srv->catalog)
		return -1;
	json_object *v;
	if (json_object_object_get_ex(usage, "cost", &v))
		return json_object_get_double(v); /* a gateway said */
	if (!r->usage_known)
		return -1;
	const struct catalog_model *m = catalog_find(pr->srv->catalog, pr->res.provider, pr->res.model);
	if (!m)
		return -1;
	long long write = 0;
	json_object *d;
	if (json_object_object_get_ex(usage, "prompt_tokens_details", &d) &&
	    json_object_object_get_ex(d, "cache_creation_tokens", &v))
		write = json_object_get_int64(v);
	return catalog_cost(m, r->prompt_tokens, r->completion_tokens, r->cached_tokens > 0 ? r->cached_tokens : 0,
			    (long)write);
}

/* One ledger row for a request that reached a provider (never its text). */
static void record_usage(struct proxy_req *pr)
{
	struct server *s = pr->srv;
	json_object *usage = pr->b ? completion_builder_usage(pr->b) : NULL;
	long long total = -1;
	json_object *v;
	if (usage && json_object_object_get_ex(usage, "total_tokens", &v))
		total = json_object_get_int64(v);
	if (pr->client_id[0] && total > 0)
		limiter_charge_tokens(s->limiter, pr->client_id, total, mono_clock_ms());
	bool reached = pr->at.total > 0 || pr->passthrough || pr->exchanged;
	if (!s->writer || !reached || !pr->res.provider)
		return;
	struct ledger_row row;
	memset(&row, 0, sizeof row);
	row.time_ms = pr->wall_t0_ms;
	row.key_id = pr->client_id[0] ? pr->client_id : NULL;
	row.provider = pr->res.provider;
	row.model = pr->res.model ? pr->res.model : "-";
	row.dialect = pr->passthrough ? "passthrough" : dialect_name(pr->ingress);
	row.cost_usd = -1;
	ledger_row_set_usage(&row, usage);
	if (row.cost_usd < 0)
		row.cost_usd = request_cost(pr, usage, &row);
	row.latency_ms = (long)(mono_clock_ms() - pr->t0_ms);
	row.first_token_ms = (long)pr->first_token_ms;
	row.status = pr->status;
	row.streamed = pr->stream;
	row.attempts = pr->at.total > 0 ? pr->at.total : 1;
	ledger_writer_submit(s->writer, &row);
	if (s->keyring && row.key_id) {
		keys_lock(s);
		ledger_keyring_add_spend(s->keyring, row.key_id, row.cost_usd);
		keys_unlock(s);
	}
}

/* The request is answered: log it and let go. */
static void proxy_req_done(struct proxy_req *pr)
{
	record_usage(pr);
	access_log(pr);
	proxy_req_free(pr);
}

/* One piece of a streamed answer. */
static void send_chunk(struct proxy_req *pr, const void *data, size_t len)
{
	hreq_send_reply_chunk(pr->req, data, len);
}

/* Writes what the encoder produced to a streaming client. */
static void flush_out(struct proxy_req *pr)
{
	if (!pr->out.len)
		return;
	send_chunk(pr, pr->out.data, pr->out.len);
	buf_reset(&pr->out);
}

static void add_served_headers(struct proxy_req *pr);

static void start_stream(struct proxy_req *pr)
{
	if (pr->started)
		return;
	pr->started = true;
	pr->status = 200;
	pr->first_token_ms = mono_clock_ms() - pr->t0_ms;
	add_header(pr->req, "Content-Type", "text/event-stream");
	add_header(pr->req, "Cache-Control", "no-cache");
	add_served_headers(pr);
	hreq_send_reply_start(pr->req, 200);
}

/* The client went away: abort the upstream at once. */
static void on_client_close(void *arg)
{
	struct proxy_req *pr = arg;
	pr->watched = false; /* httpd frees the request once this returns */
	pr->status = 499; /* nginx's "client closed request" */
	proxy_req_done(pr);
}

/* A client hanging up while its request waits on an upstream aborts it
 * at once. */
static void watch_for_close(struct proxy_req *pr)
{
	pr->watched = true;
	hreq_watch(pr->req, on_client_close, pr);
}

/* ---- model requests ---- */

static int on_chunk(json_object *chunk, void *arg)
{
	struct proxy_req *pr = arg;
	if (gateway_resume_filter(&pr->resume, chunk))
		return 0;
	completion_builder_add(pr->b, chunk);
	if (pr->stream && !pr->raw) {
		start_stream(pr);
		stream_encoder_chunk(pr->enc, chunk, &pr->out);
		flush_out(pr);
	}
	return 0;
}

/* Relays one upstream event unchanged, unless it is the usage-only chunk
 * the proxy asked for on its own account. */
static int relay_event(const struct sse_event *ev, void *arg)
{
	struct proxy_req *pr = arg;
	if (ev->data_len > 0 && memmem(ev->data, ev->data_len, "\"usage\"", 7)) {
		json_object *o = dialect_json_parse(ev->data, ev->data_len);
		json_object *choices, *usage;
		bool usage_only = o && json_object_object_get_ex(o, "choices", &choices) &&
				  json_object_is_type(choices, json_type_array) && json_object_array_length(choices) == 0 &&
				  json_object_object_get_ex(o, "usage", &usage) && json_object_is_type(usage, json_type_object);
		if (o)
			json_object_put(o);
		if (usage_only)
			return 0;
	}
	sse_write_event(&pr->out, ev->event, ev->data, ev->data_len);
	return 0;
}

/* A passed-through stream ends on the upstream's terminator, which must
 * not reach the client while the answer may still be continued
 * elsewhere: events are then relayed one by one and the terminator held. */
static bool terminal_event(const struct proxy_req *pr, const struct sse_event *ev)
{
	if (pr->ingress == DIALECT_OPENAI)
		return ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0;
	if (pr->ingress == DIALECT_ANTHROPIC)
		return ev->event && strcmp(ev->event, "message_stop") == 0;
	return false;
}

/* An upstream's in-stream error event, which a continuation elsewhere
 * would make a lie. */
static bool error_event(const struct proxy_req *pr, const struct sse_event *ev)
{
	if (ev->event && strcmp(ev->event, "error") == 0)
		return true;
	if (pr->ingress == DIALECT_ANTHROPIC || ev->data_len == 0)
		return ev->data_len > 0 && memmem(ev->data, ev->data_len, "\"type\":\"error\"", 14) != NULL;
	/* OpenAI and Gemini: an object whose top level has "error". */
	if (!memmem(ev->data, ev->data_len, "\"error\"", 7))
		return false;
	json_object *o = dialect_json_parse(ev->data, ev->data_len);
	bool yes = o && json_object_object_get_ex(o, "error", NULL);
	if (o)
		json_object_put(o);
	return yes;
}

static int relay_guarded(const struct sse_event *ev, void *arg)
{
	struct proxy_req *pr = arg;
	if (error_event(pr, ev)) {
		pr->error_held = true; /* the decoder reports it; we fail over or say it ourselves */
		return 0;
	}
	if (terminal_event(pr, ev)) {
		buf_reset(&pr->held);
		sse_write_event(&pr->held, ev->event, ev->data, ev->data_len);
		return 0;
	}
	return pr->drop_usage ? relay_event(ev, arg) : (sse_write_event(&pr->out, ev->event, ev->data, ev->data_len), 0);
}

static int on_upstream_body(const char *data, size_t len, void *arg)
{
	struct proxy_req *pr = arg;
	const struct http_response *resp = pr->call ? http_call_response(pr->call) : NULL;
	if (!pr->attempt_first_byte)
		pr->attempt_first_byte = mono_clock_ms();
	/* The decoder runs first, either way: it translates, or taps usage, and
	 * it decides whether the answer is a stream at all. */
	int rc = gateway_call_feed(&pr->gc, resp ? resp->content_type : NULL, data, len);
	if (!pr->gc.decided)
		return rc;
	if (pr->raw && pr->stream && !pr->gc.is_sse && !pr->started) {
		/* A whole JSON answer to a stream request: it is read whole and
		 * the client's stream is written from it. */
		pr->raw = false;
		pr->gc.tap_only = false;
		sse_parser_free(pr->relay);
		pr->relay = NULL;
	}
	if (pr->relay) {
		start_stream(pr);
		sse_parser_feed(pr->relay, data, len);
		flush_out(pr);
	} else if (pr->raw && pr->stream) {
		start_stream(pr);
		send_chunk(pr, data, len);
	}
	return rc;
}

/* The status a failed gateway call is answered with. */
static int failure_status(const struct gateway_result *res)
{
	if (res->status >= 400)
		return res->status;
	switch (res->exit_code) {
	case EXIT_USAGE:
	case EXIT_CONFIG:
		return res->unknown_provider ? 404 : 400;
	case EXIT_AUTH:
		return 401;
	case EXIT_RATELIMIT:
		return 429;
	case EXIT_NETWORK:
		return res->timed_out ? 504 : 502;
	default:
		return 502;
	}
}

static void add_served_headers(struct proxy_req *pr)
{
	if (pr->res.provider)
		add_header(pr->req, "X-Arouter-Provider", pr->res.provider);
	if (pr->res.display)
		add_header(pr->req, "X-Arouter-Model", pr->res.display);
	char n[24];
	n[ull_to_dec(n, pr->at.total > 0 ? (unsigned)pr->at.total : 0)] = '\0';
	add_header(pr->req, "X-Arouter-Attempts", n);
}

/* The model name a translated answer reports: what was asked, unless a
 * fallback list or route chose among several. */
static const char *answer_model(const struct proxy_req *pr)
{
	return pr->plan.n > 1 || pr->plan.name ? pr->res.display : pr->model_asked;
}

static void finish_ok(struct proxy_req *pr)
{
	if (pr->stream) {
		start_stream(pr);
		if (pr->relay)
			sse_parser_finish(pr->relay);
		if (pr->held.len)
			buf_append(&pr->out, pr->held.data, pr->held.len);
		if (!pr->raw)
			stream_encoder_finish(pr->enc, &pr->out);
		flush_out(pr);
		hreq_send_reply_end(pr->req);
	} else if (pr->raw && pr->gc.whole.len) {
		/* The upstream's own answer, every field of it. */
		add_served_headers(pr);
		reply_json(pr->req, 200, buf_str(&pr->gc.whole));
		pr->status = 200;
	} else {
		json_object *completion = completion_builder_result(pr->b);
		json_object *body = ingress_response_from_canonical(pr->ingress, completion, answer_model(pr));
		add_served_headers(pr);
		reply_json_object(pr->req, 200, body);
		pr->status = 200;
		json_object_put(body);
		json_object_put(completion);
	}
	proxy_req_done(pr);
}

static void finish_failed(struct proxy_req *pr, const struct http_response *resp)
{
	if (pr->started) {
		/* Too late for a status: the dialect's in-stream error, then the end.
		 * A raw stream already carried the upstream's own error event. */
		bool forwarded = pr->raw && pr->gc.decoder_rc == STREAM_ERROR && pr->gateway_ready && !pr->error_held;
		if (!forwarded) {
			struct stream_encoder *e = pr->enc;
			if (pr->raw || !e)
				e = stream_encoder_new(pr->ingress, pr->model_asked, false);
			stream_encoder_error(e, failure_status(&pr->res), pr->res.error, &pr->out);
			if (e != pr->enc)
				stream_encoder_free(e);
		}
		flush_out(pr);
		hreq_send_reply_end(pr->req);
	} else {
		int status = failure_status(&pr->res);
		if (resp && resp->retry_after_s >= 0) {
			char ra[32];
			snprintf(ra, sizeof ra, "%ld", resp->retry_after_s);
			add_header(pr->req, "Retry-After", ra);
		}
		if (pr->raw && resp && resp->status >= 400 && resp->error_body.len && resp->content_type &&
		    strstr(resp->content_type, "json")) {
			/* Same dialect: the upstream's error body is already in the
			 * client's shape, with details ours would lose. */
			reply_json(pr->req, (int)resp->status, buf_str(&resp->error_body));
			pr->status = (int)resp->status;
		} else {
			pr->status = reply_error(pr->req, pr->ingress, status, NULL, pr->res.error);
		}
	}
	proxy_req_done(pr);
}

static void start_attempt(struct proxy_req *pr);

static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
	start_attempt(arg);
}

/* Output reached the client and the upstream broke: continue the answer
 * on the next candidate. False when it cannot be continued. */
static bool continue_elsewhere(struct proxy_req *pr)
{
	const struct route_target *next = &pr->plan.v[pr->at.order[pr->at.pos]];
	json_object *so_far = completion_builder_result(pr->b);
	char *ws = NULL;
	/* Always from the client's request: the text so far holds every
	 * earlier continuation already. */
	json_object *cont = gateway_continuation_body(pr->canon0 ? pr->canon0 : pr->canon, so_far, next->provider, &ws);
	json_object_put(so_far);
	if (!cont)
		return false;
	if (pr->raw) {
		/* From here on the client's stream is ours to write: take it
		 * over where the passed-through upstream left it. */
		int64_t next_index, open_index;
		bool open_is_text;
		if (stream_decoder_block_position(pr->gc.dec, &next_index, &open_index, &open_is_text))
			stream_encoder_resume(pr->enc, next_index, open_index, open_is_text, &pr->out);
		int64_t created;
		const char *id = stream_decoder_id(pr->gc.dec, &created);
		stream_encoder_adopt_id(pr->enc, id, created);
		pr->raw = false;
	}
	json_object *u = completion_builder_usage(pr->b);
	gateway_resume_start(&pr->resume, u ? u : stream_decoder_usage(pr->gc.dec), ws);
	if (pr->canon0)
		json_object_put(pr->canon);
	else
		pr->canon0 = pr->canon;
	pr->canon = cont;
	buf_reset(&pr->held);
	logx(pr->srv, "%s; continuing on %s", pr->res.error ? pr->res.error : "the stream broke", next->display);
	return true;
}

static void finish_model_request(struct proxy_req *pr, enum http_outcome outcome, const struct http_response *resp)
{
	gateway_call_finish(&pr->gc, outcome, resp);
	bool delivered = pr->started;
	char *line = NULL;
	long st;
	enum http_outcome eff = gateway_call_outcome(&pr->gc, outcome, resp, &st);
	/* What lowest-latency ranks by: a stream's time to its first byte (its
	 * length is the answer's, not the provider's speed), a whole answer's
	 * time. */
	long long now = mono_clock_ms();
	long long took = (pr->stream && pr->attempt_first_byte ? pr->attempt_first_byte : now) - pr->attempt_t0;
	enum attempt_verdict v = attempt_report(&pr->at, now, wall_clock_ms(), eff, st, resp, delivered, took, &line);
	if (line) {
		logx(pr->srv, "%s: %s", pr->res.provider, line);
		free(line);
	}
	if (v == ATTEMPT_DONE) {
		finish_ok(pr);
		return;
	}
	if (v == ATTEMPT_AGAIN && delivered && !continue_elsewhere(pr))
		v = ATTEMPT_FATAL;
	if (v == ATTEMPT_FATAL) {
		finish_failed(pr, resp);
		return;
	}
	if (!delivered) {
		/* Nothing went out: whatever the failed attempt produced goes. */
		completion_builder_free(pr->b);
		pr->b = completion_builder_new();
	}
	start_attempt(pr);
}

static void on_upstream_done(struct http_call *call, enum http_outcome outcome, const struct http_response *resp,
			     void *arg)
{
	struct proxy_req *pr = arg;
	pr->call = NULL;
	finish_model_request(pr, outcome, resp);
}

/* Starts pr's upstream transfer. A transfer that cannot even be set up
 * (libcurl not loadable, say) is reported through done before
 * http_call_start returns, and done may have freed pr or started another
 * attempt: pr is only written when this call started. */
static void start_call(struct proxy_req *pr, const struct http_request *hr, http_body_cb body, http_done_cb done)
{
	struct http_call *call = http_call_start(pr->srv->loop, hr, body, done, pr);
	if (call)
		pr->call = call;
}

static void start_attempt(struct proxy_req *pr)
{
	struct server *s = pr->srv;
	const struct route_target *cand;
	const char *key;
	int64_t delay;
	enum attempt_step step = attempt_next(&pr->at, mono_clock_ms(), &cand, &key, &delay);
	if (step == ATTEMPT_WAIT) {
		if (!pr->retry_ev)
			pr->retry_ev = evtimer_new(s->base, on_retry_timer, pr);
		struct timeval tv = {(time_t)(delay / 1000), (suseconds_t)(delay % 1000) * 1000};
		evtimer_add(pr->retry_ev, &tv);
		return;
	}
	if (step == ATTEMPT_NONE) {
		if (pr->at.total == 0 || !pr->gateway_ready) {
			/* Nothing could even be tried: every key refused or resting. */
			const char *note = attempt_note(&pr->at);
			if (pr->at.note_wait_ms > 0) {
				char ra[32];
				snprintf(ra, sizeof ra, "%lld", (long long)((pr->at.note_wait_ms + 999) / 1000));
				add_header(pr->req, "Retry-After", ra);
			}
			if (pr->started) {
				free(pr->res.error);
				pr->res.error = xstrdup(note ? note : "no upstream is available");
				finish_failed(pr, NULL);
				return;
			}
			pr->status = reply_error(pr->req, pr->ingress, pr->at.note_status ? pr->at.note_status : 503,
						 NULL, note ? note : "no upstream is available");
			proxy_req_done(pr);
		} else {
			finish_failed(pr, NULL);
		}
		return;
	}
	if (pr->gateway_ready)
		gateway_call_clear(&pr->gc);
	pr->gateway_ready = true;
	pr->attempt_t0 = mono_clock_ms();
	pr->attempt_first_byte = 0;
	if (gateway_call_prepare(&pr->gc, s->cfg, pr->canon, cand, key, pr->stream, on_chunk, pr, &pr->res) !=
	    EXIT_OK) {
		attempt_abandon(&pr->at, mono_clock_ms());
		finish_failed(pr, NULL);
		return;
	}
	if (pr->stream && !pr->started) {
		/* A fresh stream names the model this attempt asks. */
		stream_encoder_free(pr->enc);
		pr->enc = stream_encoder_new(pr->ingress, answer_model(pr), pr->include_usage);
	}
	/* Same dialect both ways: no translation. The response goes to the
	 * client as it comes (the decoder only taps usage), and the request is
	 * the client's own body; for OpenAI the canonical body already is that
	 * (plus include_usage, which the tap needs). A continued answer is
	 * ours to write, so it is translated whatever the dialect. */
	pr->raw = pr->ingress == pr->gc.provider->dialect && !pr->gc.is_mock && !pr->resume.active;
	pr->gc.tap_only = pr->raw;
	sse_parser_free(pr->relay);
	pr->relay = NULL;
	buf_reset(&pr->held);
	pr->error_held = false;
	if (pr->raw && pr->stream) {
		/* With another candidate to continue on, the terminator is held
		 * back until the stream is known to be whole. */
		pr->drop_usage = pr->ingress == DIALECT_OPENAI && !pr->include_usage;
		if (attempt_has_next_candidate(&pr->at))
			pr->relay = sse_parser_new(relay_guarded, pr, 0);
		else if (pr->drop_usage)
			pr->relay = sse_parser_new(relay_event, pr, 0);
	}
	if (pr->raw && pr->ingress != DIALECT_OPENAI) {
		gateway_call_use_native_body(&pr->gc, pr->client_body, pr->canon);
		if (pr->ingress == DIALECT_ANTHROPIC) {
			struct evkeyvalq *in = hreq_input_headers(pr->req);
			const char *h;
			if ((h = evhttp_find_header(in, "anthropic-version")) != NULL)
				gateway_call_set_header(&pr->gc, "anthropic-version", h);
			if ((h = evhttp_find_header(in, "anthropic-beta")) != NULL)
				gateway_call_set_header(&pr->gc, "anthropic-beta", h);
		}
	}
	if (pr->gc.is_mock) {
		struct http_response resp;
		memset(&resp, 0, sizeof resp);
		resp.status = 200;
		enum http_outcome outcome = gateway_call_run_mock(&pr->gc, pr->canon, NULL);
		finish_model_request(pr, outcome, &resp);
		return;
	}
	size_t client_len;
	hreq_body(pr->req, &client_len);
	const struct buf *text = gateway_call_body_text(&pr->gc, client_len);
	struct http_request hr = {
		.method = "POST",
		.url = pr->gc.url,
		.headers = pr->gc.headers,
		.n_headers = pr->gc.n_headers,
		.body = buf_str(text),
		.body_len = text->len,
		.connect_timeout_ms = s->opt.connect_timeout_ms,
		.idle_timeout_ms = s->opt.idle_timeout_ms,
		.total_timeout_ms = s->opt.total_timeout_ms,
	};
	start_call(pr, &hr, on_upstream_body, on_upstream_done);
}

static char *request_body(struct hreq *req, size_t *len)
{
	const char *b = hreq_body(req, len);
	return xstrndup(b, *len);
}

static struct proxy_req *proxy_req_new(struct server *s, struct hreq *req, enum dialect d);
static json_object *read_json_body(struct proxy_req *pr);
static json_object *read_canonical(struct proxy_req *pr, const char *url_model, bool url_stream);

/* A ledger key's model globs and budget, over the plan's candidates: a
 * forbidden candidate is left out; when none is left, the client is told
 * (403, or 402 for a spent budget) and false returned (pr is done). */
/* A ledger key's verdict on one model ("provider/model"). */
static enum ledger_auth key_verdict(struct proxy_req *pr, const char *display, const char *slug, const char *model)
{
	keys_lock(pr->srv);
	enum ledger_auth a = ledger_keyring_check(pr->srv->keyring, pr->client_secret, display, NULL);
	if (a == LEDGER_AUTH_MODEL_FORBIDDEN && slug && model) {
		char *id = xasprintf("%s/%s", slug, model);
		a = ledger_keyring_check(pr->srv->keyring, pr->client_secret, id, NULL);
		free(id);
	}
	keys_unlock(pr->srv);
	return a;
}

/* Answers a refused key (403 for the model, 402 for the budget); pr is
 * then done. */
static void refuse_key(struct proxy_req *pr, enum ledger_auth a, const char *what)
{
	int status = ledger_auth_http_status(a);
	char *msg = xasprintf("key '%s': %s for '%s'", pr->client_id, ledger_auth_reason(a), what);
	pr->status = reply_error(pr->req, pr->ingress, status,
				 status == 402 ? "insufficient_quota" : status == 403 ? "permission_error" : NULL, msg);
	free(msg);
	proxy_req_done(pr);
}

/* The same for the endpoints that are not routed (passthrough,
 * embeddings, token counts): true when the request may go on. */
static bool key_allows(struct proxy_req *pr, const char *slug, const char *model)
{
	if (!pr->client_ledger_key || !pr->srv->keyring)
		return true;
	char *display = xasprintf("%s/%s", slug, model ? model : "");
	enum ledger_auth a = key_verdict(pr, display, NULL, NULL);
	if (a != LEDGER_AUTH_OK)
		refuse_key(pr, a, display);
	free(display);
	return a == LEDGER_AUTH_OK;
}

static bool key_allows_plan(struct proxy_req *pr)
{
	enum ledger_auth first = LEDGER_AUTH_OK;
	size_t kept = 0;
	for (size_t i = 0; i < pr->plan.n; i++) {
		struct route_target *t = &pr->plan.v[i];
		enum ledger_auth a = key_verdict(pr, t->display, t->provider->slug, t->model);
		if (a == LEDGER_AUTH_OK) {
			if (kept != i) {
				pr->plan.v[kept] = *t;
				memset(t, 0, sizeof *t);
			}
			kept++;
		} else {
			if (first == LEDGER_AUTH_OK)
				first = a;
			route_target_clear(t);
		}
	}
	pr->plan.n = kept;
	if (kept > 0)
		return true;
	refuse_key(pr, first, pr->model_asked);
	return false;
}

/* The fallback list of a request: OpenRouter's "models" in an OpenAI
 * body, or the X-Arouter-Models header (comma-separated) for any dialect.
 * A new reference owned by the caller, or NULL. */
static json_object *request_models(struct proxy_req *pr, json_object *canon)
{
	json_object *m;
	if (json_object_object_get_ex(canon, "models", &m) && json_object_is_type(m, json_type_array))
		return json_object_get(m);
	const char *h = evhttp_find_header(hreq_input_headers(pr->req), "X-Arouter-Models");
	if (str_empty(h))
		return NULL;
	return route_models_from_list(h);
}

static void handle_model_request(struct server *s, struct hreq *req, enum dialect d, const char *url_model,
				 bool url_stream)
{
	struct proxy_req *pr = proxy_req_new(s, req, d);
	json_object *client_body = read_json_body(pr);
	if (!client_body)
		return;
	char *cerr = NULL;
	json_object *canon = ingress_request_to_canonical(d, client_body, url_model, url_stream, &cerr);
	if (!canon) {
		json_object_put(client_body);
		pr->status = reply_error(req, d, 400, "invalid_request_error", cerr ? cerr : "malformed request");
		free(cerr);
		proxy_req_done(pr);
		return;
	}
	pr->canon = canon;
	pr->client_body = client_body;
	json_object *v;
	const char *model = json_object_object_get_ex(canon, "model", &v) && json_object_is_type(v, json_type_string)
				    ? json_object_get_string(v)
				    : NULL;
	json_object *models = request_models(pr, canon);
	if (str_empty(model) && !models) {
		pr->status = reply_error(req, d, 400, "invalid_request_error", "the request names no model");
		proxy_req_done(pr);
		return;
	}
	pr->model_asked = xstrdup(str_empty(model) ? json_object_get_string(json_object_array_get_idx(models, 0)) : model);
	char *err = NULL;
	int rrc = route_plan_build(s->cfg, str_empty(model) ? NULL : model, models, &pr->plan, &err);
	if (models)
		json_object_put(models);
	/* The routing fields are ours: no upstream is sent them. */
	json_object_object_del(canon, "models");
	json_object_object_del(canon, "route");
	if (canon != client_body) {
		json_object_object_del(client_body, "models");
		json_object_object_del(client_body, "route");
	}
	if (rrc < 0) {
		pr->status = reply_error(req, d, rrc == ROUTE_UNKNOWN_PROVIDER ? 404 : 400, NULL, err);
		free(err);
		proxy_req_done(pr);
		return;
	}
	for (size_t i = 0; i < pr->plan.n_skipped; i++)
		logx(s, "route %s: skipping %s", pr->model_asked, pr->plan.skipped[i]);
	if (pr->client_ledger_key && s->keyring && !key_allows_plan(pr))
		return;
	if (pr->plan.n > 1) {
		char **left = NULL;
		size_t n_left = route_plan_fit(&pr->plan, s->catalog, canon, &left);
		for (size_t i = 0; i < n_left; i++) {
			logx(s, "route %s: skipping %s", pr->model_asked, left[i]);
			free(left[i]);
		}
		free(left);
	}
	pr->stream = json_object_object_get_ex(canon, "stream", &v) && json_object_get_boolean(v);
	if (json_object_object_get_ex(canon, "stream_options", &v) && json_object_object_get_ex(v, "include_usage", &v))
		pr->include_usage = json_object_get_boolean(v);
	pr->b = completion_builder_new();
	double *costs = pr->plan.n > 1 && pr->plan.strategy == STRATEGY_LOWEST_COST ? route_plan_costs(&pr->plan, s->catalog)
										   : NULL;
	attempt_init(&pr->at, &pr->plan, s->health, &s->policy, costs, mono_clock_ms());
	free(costs);
	watch_for_close(pr);
	start_attempt(pr);
}

/* ---- the provider passthrough: /{provider}/{path} ---- */

static int on_passthrough_body(const char *data, size_t len, void *arg)
{
	struct proxy_req *pr = arg;
	const struct http_response *r = http_call_response(pr->call);
	int rc = 0;
	if (r->status >= 200 && r->status < 300)
		rc = gateway_call_feed(&pr->gc, r->content_type, data, len) == HTTP_BODY_COMPLETE ? HTTP_BODY_COMPLETE : 0;
	if (!pr->started) {
		const struct http_response *resp = r;
		pr->started = true;
		pr->status = (int)resp->status;
		if (resp->content_type)
			add_header(pr->req, "Content-Type", resp->content_type);
		hreq_send_reply_start(pr->req, pr->status);
	}
	send_chunk(pr, data, len);
	return rc; /* after its terminator, a stream is whole whatever the upstream holds open */
}

static void on_passthrough_done(struct http_call *call, enum http_outcome outcome, const struct http_response *resp,
				void *arg)
{
	struct proxy_req *pr = arg;
	pr->call = NULL;
	if (outcome != XFER_OK)
		verbose("passthrough %s: %s", pr->provider, resp->error ? resp->error : "aborted");
	else if (resp->status >= 200 && resp->status < 300)
		gateway_call_finish(&pr->gc, outcome, resp); /* flushes the usage tap */
	if (pr->started) {
		/* Byte for byte: a cut upstream is a cut response. */
		if (outcome == XFER_OK) {
			hreq_send_reply_end(pr->req);
		} else {
			/* Closing the connection runs the hang-up callback,
			 * which finishes pr. */
			hreq_abort(pr->req);
			return;
		}
	} else if (outcome == XFER_OK) {
		pr->status = (int)resp->status;
		if (resp->content_type)
			add_header(pr->req, "Content-Type", resp->content_type);
		hreq_send_reply(pr->req, pr->status, NULL, 0);
	} else {
		char *msg = xasprintf("%s: %s", pr->provider, resp->error ? resp->error : "upstream failed");
		pr->status = reply_error(pr->req, DIALECT_OPENAI, outcome == XFER_TIMEOUT ? 504 : 502, NULL, msg);
		free(msg);
	}
	proxy_req_done(pr);
}

static void handle_passthrough(struct server *s, struct hreq *req, struct provider *p, const char *rest,
			       const char *query)
{
	struct proxy_req *pr = proxy_req_new(s, req, DIALECT_OPENAI);
	pr->passthrough = true;
	pr->method = hreq_method(req) == HM_GET ? "GET" : "POST";
	pr->provider = xstrdup(p->slug);
	if (!request_path_safe(rest) || str_empty(p->base_url) || strcmp(p->slug, "mock") == 0) {
		pr->status = reply_error(req, DIALECT_OPENAI, 400, "invalid_request_error",
					 str_empty(p->base_url) ? "this provider has no base URL configured"
								: "the path is not allowed");
		proxy_req_done(pr);
		return;
	}
	char *q = request_strip_key_param(query);
	char *url = xasprintf("%s/%s%s%s", p->base_url, rest, *q ? "?" : "", q);
	free(q);

	struct http_header headers[64];
	size_t nh = 0;
	struct evkeyvalq *in = hreq_input_headers(req);
	for (struct evkeyval *h = in->tqh_first; h && nh < 40; h = h->next.tqe_next)
		if (!request_hop_by_hop(h->key) && !request_connection_lists(in, h->key))
			headers[nh++] = (struct http_header){h->key, h->value};
	const char *auth_name;
	char *auth = provider_auth_header(p, &auth_name);
	if (auth)
		headers[nh++] = (struct http_header){auth_name, auth};
	/* Provider headers (anthropic-version) only where the client sent none. */
	for (size_t i = 0; i < p->n_headers && nh < 64; i++)
		if (!evhttp_find_header(in, p->headers[i].name))
			headers[nh++] = (struct http_header){p->headers[i].name, p->headers[i].value};
	size_t len;
	char *body = request_body(req, &len);
	enum hmethod cmd = hreq_method(req);
	/* Usage is read from the answer as it goes by, for the ledger. */
	char *model = request_passthrough_model(rest, body, len);
	if (!key_allows(pr, p->slug, model)) {
		free(model);
		free(body);
		free(auth);
		free(url);
		return;
	}
	pr->b = completion_builder_new();
	gateway_call_tap(&pr->gc, p, model, on_chunk, pr, &pr->res);
	pr->gateway_ready = true;
	free(model);
	struct http_request hr = {
		.method = cmd == HM_GET ? "GET" : cmd == HM_DELETE ? "DELETE" : cmd == HM_PUT ? "PUT" : cmd == HM_PATCH ? "PATCH" : "POST",
		.url = url,
		.headers = headers,
		.n_headers = nh,
		.body = cmd == HM_GET || cmd == HM_DELETE ? NULL : body,
		.body_len = len,
		.connect_timeout_ms = s->opt.connect_timeout_ms,
		.idle_timeout_ms = s->opt.idle_timeout_ms,
		.total_timeout_ms = s->opt.total_timeout_ms,
		.any_status_body = true,
	};
	verbose("passthrough %s %s/…", hr.method, p->base_url);
	watch_for_close(pr);
	start_call(pr, &hr, on_passthrough_body, on_passthrough_done);
	free(body);
	free(auth);
	free(url);
}

/* ---- JSON exchanges: token counting and embeddings ---- */

static struct proxy_req *proxy_req_new(struct server *s, struct hreq *req, enum dialect d)
{
	struct proxy_req *pr = spares_get(&s->req_spares);
	pr->srv = s;
	pr->req = req;
	pr->ingress = d;
	pr->method = "POST";
	pr->t0_ms = mono_clock_ms();
	pr->wall_t0_ms = wall_clock_ms();
	pr->first_token_ms = -1;
	memcpy(pr->client_id, s->client.id, sizeof pr->client_id);
	pr->client_ledger_key = s->client.ledger_key;
	pr->client_secret = s->client.secret;
	s->client.secret = NULL;
	s->n_reqs++;
	__atomic_add_fetch(&s->hub->in_flight, 1, __ATOMIC_RELAXED);
	pr->next = s->reqs;
	if (s->reqs)
		s->reqs->prev = pr;
	s->reqs = pr;
	return pr;
}

static void reply_object(struct proxy_req *pr, int status, json_object *o)
{
	reply_json_object(pr->req, status, o);
	pr->status = status;
}

static int on_json_body(const char *data, size_t len, void *arg)
{
	struct proxy_req *pr = arg;
	if (pr->out.len + len > 256u * 1024 * 1024)
		return 1;
	buf_append(&pr->out, data, len);
	return 0;
}

static void on_json_done(struct http_call *call, enum http_outcome outcome, const struct http_response *resp, void *arg)
{
	struct proxy_req *pr = arg;
	pr->call = NULL;
	if (outcome != XFER_OK) {
		char *msg = xasprintf("%s: %s", pr->provider, resp->error ? resp->error : "the response was too large");
		pr->status = reply_error(pr->req, pr->ingress, outcome == XFER_TIMEOUT ? 504 : 502, NULL, msg);
		free(msg);
	} else if (resp->status < 200 || resp->status >= 300) {
		struct upstream_error ue;
		upstream_error_parse((int)resp->status, buf_str(&resp->error_body), resp->error_body.len, &ue);
		char *msg = xasprintf("%s: %s", pr->provider, ue.message);
		pr->status = reply_error(pr->req, pr->ingress, (int)resp->status, NULL, msg);
		free(msg);
		upstream_error_clear(&ue);
	} else {
		json_object *up = dialect_json_parse(pr->out.data, pr->out.len);
		json_object *answer = up ? pr->on_json(pr, up) : NULL;
		/* Embeddings report what they used: the ledger's row gets it. */
		json_object *usage;
		if (answer && json_object_object_get_ex(answer, "usage", &usage) &&
		    json_object_is_type(usage, json_type_object)) {
			json_object *chunk = json_object_new_object();
			json_object_object_add(chunk, "choices", json_object_new_array());
			json_object_object_add(chunk, "usage", json_object_get(usage));
			if (!pr->b)
				pr->b = completion_builder_new();
			completion_builder_add(pr->b, chunk);
			json_object_put(chunk);
		}
		if (answer) {
			reply_object(pr, 200, answer);
			json_object_put(answer);
		} else {
			char *msg = xasprintf("%s: unreadable response", pr->provider);
			pr->status = reply_error(pr->req, pr->ingress, 502, NULL, msg);
			free(msg);
		}
		if (up)
			json_object_put(up);
	}
	proxy_req_done(pr);
}

/* POSTs body to the provider's path and answers through pr->on_json. */
static void start_json_exchange(struct proxy_req *pr, struct provider *p, const char *path, json_object *body)
{
	struct server *s = pr->srv;
	pr->exchanged = true;
	free(pr->provider);
	pr->provider = xstrdup(p->slug);
	char *url = provider_url(p, path, pr->json_model);
	struct http_header headers[40];
	size_t nh = 0;
	headers[nh++] = (struct http_header){"Content-Type", "application/json"};
	const char *auth_name;
	if ((pr->auth = provider_auth_header(p, &auth_name)) != NULL)
		headers[nh++] = (struct http_header){auth_name, pr->auth};
	for (size_t i = 0; i < p->n_headers && nh < 40; i++)
		headers[nh++] = (struct http_header){p->headers[i].name, p->headers[i].value};
	struct buf text = BUF_INIT;
	json_write(&text, body);
	struct http_request hr = {
		.method = "POST",
		.url = url,
		.headers = headers,
		.n_headers = nh,
		.body = buf_str(&text),
		.body_len = text.len,
		.connect_timeout_ms = s->opt.connect_timeout_ms,
		.idle_timeout_ms = s->opt.idle_timeout_ms,
		.total_timeout_ms = s->opt.total_timeout_ms,
	};
	watch_for_close(pr);
	start_call(pr, &hr, on_json_body, on_json_done); /* copies the request */
	buf_free(&text);
	free(url);
}

/* Parses the client's JSON body; on failure answers 400 and returns NULL. */
static json_object *read_json_body(struct proxy_req *pr)
{
	size_t len;
	const char *text = hreq_body(pr->req, &len), *err;
	json_object *body = json_read(text, len, &err);
	if (err || !json_object_is_type(body, json_type_object)) {
		json_object_put(body);
		char *msg = err ? xasprintf("the request body is not JSON: %s", err)
				: xstrdup("the request body is not a JSON object");
		pr->status = reply_error(pr->req, pr->ingress, 400, "invalid_request_error", msg);
		free(msg);
		proxy_req_done(pr);
		return NULL;
	}
	return body;
}

/* The client's body as a canonical request; on failure answers 400 and
 * returns NULL (pr is then done). */
static json_object *read_canonical(struct proxy_req *pr, const char *url_model, bool url_stream)
{
	json_object *body = read_json_body(pr);
	if (!body)
		return NULL;
	char *err = NULL;
	json_object *canon = ingress_request_to_canonical(pr->ingress, body, url_model, url_stream, &err);
	json_object_put(body);
	if (!canon) {
		pr->status = reply_error(pr->req, pr->ingress, 400, "invalid_request_error", err ? err : "malformed request");
		free(err);
		proxy_req_done(pr);
	}
	return canon;
}

/* Resolves a model string for a JSON exchange; answers the error itself. */
static bool resolve_for(struct proxy_req *pr, const char *model, struct route_target *t)
{
	char *err = NULL;
	if (str_empty(model)) {
		pr->status = reply_error(pr->req, pr->ingress, 400, "invalid_request_error", "the request names no model");
		proxy_req_done(pr);
		return false;
	}
	pr->model_asked = xstrdup(model);
	int rc = route_resolve(pr->srv->cfg, model, t, &err);
	if (rc < 0) {
		pr->status = reply_error(pr->req, pr->ingress, rc == ROUTE_UNKNOWN_PROVIDER ? 404 : 400, NULL, err);
		free(err);
		proxy_req_done(pr);
		return false;
	}
	pr->json_model = xstrdup(t->model);
	if (key_allows(pr, t->provider->slug, t->model))
		return true;
	route_target_clear(t);
	return false;
}

static json_object *count_answer(enum dialect d, long long n)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, d == DIALECT_GEMINI ? "totalTokens" : "input_tokens", json_object_new_int64(n));
	return o;
}

static json_object *count_from_anthropic(struct proxy_req *pr, json_object *up)
{
	json_object *v;
	return json_object_object_get_ex(up, "input_tokens", &v) ? count_answer(pr->ingress, json_object_get_int64(v)) : NULL;
}

static json_object *count_from_gemini(struct proxy_req *pr, json_object *up)
{
	json_object *v;
	return json_object_object_get_ex(up, "totalTokens", &v) ? count_answer(pr->ingress, json_object_get_int64(v)) : NULL;
}

/* /v1/messages/count_tokens and :countTokens: the upstream's own counter
 * where it has one (Anthropic, Gemini), else an estimate of four
 * characters a token over messages, system and tools, marked as such. */
static void handle_count_tokens(struct server *s, struct hreq *req, enum dialect d, const char *url_model)
{
	struct proxy_req *pr = proxy_req_new(s, req, d);
	json_object *canon = read_canonical(pr, url_model, false);
	if (!canon)
		return;
	char *err = NULL;
	json_object *mv;
	struct route_target t;
	const char *model = json_object_object_get_ex(canon, "model", &mv) ? json_object_get_string(mv) : NULL;
	if (!resolve_for(pr, model, &t)) {
		json_object_put(canon);
		return;
	}
	struct provider *p = t.provider;
	pr->res.provider = xstrdup(p->slug);
	pr->res.model = xstrdup(t.model);
	struct egress_opts eo = {.model = t.model, .stream = false, .default_max_tokens = 1};
	if (p->dialect == DIALECT_ANTHROPIC || p->dialect == DIALECT_GEMINI) {
		json_object *up = dialect_build_request(p->dialect, canon, &eo, &err);
		if (!up) {
			pr->status = reply_error(req, d, 400, "invalid_request_error", err ? err : "cannot build the request");
			free(err);
			proxy_req_done(pr);
		} else if (p->dialect == DIALECT_ANTHROPIC) {
			json_object_object_del(up, "max_tokens");
			json_object_object_del(up, "stream");
			pr->on_json = count_from_anthropic;
			start_json_exchange(pr, p, p->count_tokens_path ? p->count_tokens_path : "/v1/messages/count_tokens", up);
		} else {
			/* The whole generateContentRequest, so tools and the system
			 * instruction are counted too. */
			json_object_object_del(up, "generationConfig");
			char *name = xasprintf("models/%s", t.model);
			json_object_object_add(up, "model", json_object_new_string(name));
			free(name);
			json_object *wrap = json_object_new_object();
			json_object_object_add(wrap, "generateContentRequest", up);
			pr->on_json = count_from_gemini;
			start_json_exchange(pr, p, p->count_tokens_path ? p->count_tokens_path : "/v1beta/models/{model}:countTokens", wrap);
			up = wrap;
		}
		if (up)
			json_object_put(up);
	} else {
		/* The model name is not part of the prompt. */
		size_t chars = route_prompt_chars(canon) - strlen("model") - strlen(model);
		long long n = (long long)((chars + 3) / 4);
		json_object *answer = count_answer(d, n);
		add_header(req, "X-Arouter-Token-Estimate", "chars/4");
		reply_object(pr, 200, answer);
		json_object_put(answer);
		proxy_req_done(pr);
	}
	json_object_put(canon);
	route_target_clear(&t);
}

static json_object *embeddings_from_openai(struct proxy_req *pr, json_object *up)
{
	json_object *copy = NULL;
	json_object_deep_copy(up, &copy, NULL);
	json_object_object_add(copy, "model", json_object_new_string(pr->model_asked));
	return copy;
}

static json_object *embeddings_from_gemini(struct proxy_req *pr, json_object *up)
{
	json_object *list, *data = json_object_new_array();
	if (!json_object_object_get_ex(up, "embeddings", &list) || !json_object_is_type(list, json_type_array)) {
		json_object_put(data);
		return NULL;
	}
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *values;
		if (!json_object_object_get_ex(json_object_array_get_idx(list, i), "values", &values))
			continue;
		json_object *e = json_object_new_object();
		json_object_object_add(e, "object", json_object_new_string("embedding"));
		json_object_object_add(e, "index", json_object_new_int((int)i));
		if (pr->base64 && json_object_is_type(values, json_type_array)) {
			/* OpenAI's base64 form: little-endian float32s. */
			size_t nv = json_object_array_length(values);
			unsigned char *raw = xmalloc(nv * 4 + 1);
			for (size_t j = 0; j < nv; j++) {
				float f = (float)json_object_get_double(json_object_array_get_idx(values, j));
				uint32_t u;
				memcpy(&u, &f, 4);
				for (int b = 0; b < 4; b++)
					raw[j * 4 + (size_t)b] = (unsigned char)(u >> (8 * b));
			}
			char *b64 = xbase64(raw, nv * 4);
			json_object_object_add(e, "embedding", json_object_new_string(b64));
			free(b64);
			free(raw);
		} else {
			json_object_object_add(e, "embedding", json_object_get(values));
		}
		json_object_array_add(data, e);
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "object", json_object_new_string("list"));
	json_object_object_add(o, "data", data);
	json_object_object_add(o, "model", json_object_new_string(pr->model_asked));
	/* Gemini's embedding API reports no token counts. */
	json_object *usage = json_object_new_object();
	json_object_object_add(usage, "prompt_tokens", json_object_new_int(0));
	json_object_object_add(usage, "total_tokens", json_object_new_int(0));
	json_object_object_add(o, "usage", usage);
	return o;
}

static void handle_embeddings(struct server *s, struct hreq *req)
{
	struct proxy_req *pr = proxy_req_new(s, req, DIALECT_OPENAI);
	json_object *body = read_json_body(pr);
	if (!body)
		return;
	json_object *mv, *input;
	struct route_target t;
	const char *model = json_object_object_get_ex(body, "model", &mv) && json_object_is_type(mv, json_type_string)
				    ? json_object_get_string(mv)
				    : NULL;
	if (!resolve_for(pr, model, &t)) {
		json_object_put(body);
		return;
	}
	struct provider *p = t.provider;
	pr->res.provider = xstrdup(p->slug);
	pr->res.model = xstrdup(t.model);
	if (!json_object_object_get_ex(body, "input", &input) ||
	    !(json_object_is_type(input, json_type_string) || json_object_is_type(input, json_type_array))) {
		pr->status = reply_error(req, DIALECT_OPENAI, 400, "invalid_request_error", "\"input\" must be a string or a list");
		proxy_req_done(pr);
	} else if (p->dialect == DIALECT_OPENAI && p->embeddings_path && strcmp(p->slug, "mock") != 0) {
		json_object_object_add(body, "model", json_object_new_string(t.model));
		pr->on_json = embeddings_from_openai;
		start_json_exchange(pr, p, p->embeddings_path, body);
	} else if (p->dialect == DIALECT_GEMINI && p->embeddings_path) {
		json_object *fmt, *dims = NULL;
		pr->base64 = json_object_object_get_ex(body, "encoding_format", &fmt) &&
			     strcmp(json_object_get_string(fmt), "base64") == 0;
		json_object_object_get_ex(body, "dimensions", &dims);
		json_object *reqs = json_object_new_array();
		char *name = xasprintf("models/%s", t.model);
		size_t n = json_object_is_type(input, json_type_array) ? json_object_array_length(input) : 1;
		for (size_t i = 0; i < n; i++) {
			json_object *item = json_object_is_type(input, json_type_array) ? json_object_array_get_idx(input, i) : input;
			json_object *part = json_object_new_object();
			json_object_object_add(part, "text", json_object_new_string(json_object_get_string(item)));
			json_object *parts = json_object_new_array();
			json_object_array_add(parts, part);
			json_object *content = json_object_new_object();
			json_object_object_add(content, "parts", parts);
			json_object *r = json_object_new_object();
			json_object_object_add(r, "model", json_object_new_string(name));
			json_object_object_add(r, "content", content);
			if (dims && json_object_is_type(dims, json_type_int))
				json_object_object_add(r, "outputDimensionality", json_object_get(dims));
			json_object_array_add(reqs, r);
		}
		free(name);
		json_object *g = json_object_new_object();
		json_object_object_add(g, "requests", reqs);
		pr->on_json = embeddings_from_gemini;
		start_json_exchange(pr, p, p->embeddings_path, g);
		json_object_put(g);
	} else {
		char *msg = xasprintf("%s has no embeddings API", p->slug);
		pr->status = reply_error(req, DIALECT_OPENAI, 400, "invalid_request_error", msg);
		free(msg);
		proxy_req_done(pr);
	}
	json_object_put(body);
	route_target_clear(&t);
}

/* ---- small endpoints ---- */

static bool provider_listed(const char *slug, void *arg)
{
	struct server *s = arg;
	const struct provider *p = provider_find(&s->cfg->providers, slug);
	return p && (provider_has_key(p) || p->key_optional) && strcmp(p->slug, "arouter") != 0;
}

static void handle_models(struct server *s, struct hreq *req)
{
	json_object *list = catalog_list_json(s->catalog, NULL, NULL, provider_listed, s);
	/* Models of custom providers the catalog does not know yet. */
	json_object *data = json_object_object_get(list, "data");
	for (size_t i = 0; i < s->cfg->providers.n; i++) {
		const struct provider *p = &s->cfg->providers.v[i];
		if (!provider_listed(p->slug, s) || !p->default_model ||
		    catalog_find(s->catalog, p->slug, p->default_model))
			continue;
		char *id = xasprintf("%s/%s", p->slug, p->default_model);
		json_object *e = json_object_new_object();
		json_object_object_add(e, "id", json_object_new_string(id));
		json_object_object_add(e, "name", json_object_new_string(id));
		json_object_array_add(data, e);
		free(id);
	}
	/* The OpenAI SDKs read these two of every entry. */
	for (size_t i = 0; i < json_object_array_length(data); i++) {
		json_object *e = json_object_array_get_idx(data, i);
		const char *id = json_object_get_string(json_object_object_get(e, "id"));
		json_object_object_add(e, "object", json_object_new_string("model"));
		json_object_object_add(e, "created", json_object_new_int64(0));
		const char *slash = id ? strchr(id, '/') : NULL;
		json_object_object_add(e, "owned_by",
				       slash ? json_object_new_string_len(id, (int)(slash - id)) : json_object_new_string("-"));
	}
	reply_json_object(req, 200, list);
	json_object_put(list);
}

/* ---- checks every request passes ---- */

/* Client keys from proxy.keys in the config; none means open on loopback. */
/* The config's client keys (proxy.keys: "secret" or {"key", "name",
 * "rpm", "tpm"}), or NULL. Borrowed. */
static json_object *config_client_keys(const struct config *c)
{
	json_object *proxy, *keys;
	if (!json_object_object_get_ex(c->root, "proxy", &proxy) || !json_object_object_get_ex(proxy, "keys", &keys) ||
	    !json_object_is_type(keys, json_type_array) || json_object_array_length(keys) == 0)
		return NULL;
	return keys;
}

static bool keys_required(struct server *s)
{
	if (config_client_keys(s->cfg))
		return true;
	if (!s->keyring)
		return false;
	keys_lock(s);
	bool any = ledger_keyring_size(s->keyring) > 0;
	keys_unlock(s);
	return any;
}

/* Who the client is. 0 when it may go on (c filled; anonymous when no
 * keys are configured), else the status to refuse it with and *why. */
static int identify_client(struct server *s, struct hreq *req, const char *query, struct client *c,
			   const char **why)
{
	memset(c, 0, sizeof *c);
	if (!keys_required(s))
		return 0;
	char *given = request_presented_key(hreq_input_headers(req), query);
	*why = "a valid arouter proxy key is required";
	if (!given)
		return 401;
	size_t glen = strlen(given);
	json_object *keys = config_client_keys(s->cfg);
	bool matched = false;
	for (size_t i = 0; keys && i < json_object_array_length(keys); i++) {
		json_object *e = json_object_array_get_idx(keys, i), *v;
		const char *k = json_object_is_type(e, json_type_object)
					? (json_object_object_get_ex(e, "key", &v) ? json_object_get_string(v) : NULL)
					: json_object_get_string(e);
		/* Constant time over the key's length; lengths are not secret,
		 * and every key is compared. */
		if (!k || strlen(k) != glen || !const_time_equal(k, given, glen) || matched)
			continue;
		matched = true;
		if (json_object_is_type(e, json_type_object)) {
			if (json_object_object_get_ex(e, "name", &v) && json_object_is_type(v, json_type_string))
				snprintf(c->id, sizeof c->id, "%s", json_object_get_string(v));
			if (json_object_object_get_ex(e, "rpm", &v))
				c->rpm = json_object_get_int64(v);
			if (json_object_object_get_ex(e, "tpm", &v))
				c->tpm = json_object_get_int64(v);
		}
		if (!c->id[0])
			snprintf(c->id, sizeof c->id, "config-%zu", i + 1);
	}
	if (!matched && s->keyring) {
		const struct ledger_key *k = NULL;
		keys_lock(s);
		enum ledger_auth a = ledger_keyring_check(s->keyring, given, NULL, &k);
		bool known = a == LEDGER_AUTH_OK || a == LEDGER_AUTH_MODEL_FORBIDDEN || a == LEDGER_AUTH_BUDGET_EXHAUSTED;
		if (known) {
			snprintf(c->id, sizeof c->id, "%s", k->id);
			c->rpm = k->rpm;
			c->tpm = k->tpm;
		}
		keys_unlock(s);
		if (!known) {
			secure_wipe(given, glen);
			free(given);
			*why = ledger_auth_reason(a);
			return a == LEDGER_AUTH_UNKNOWN ? 401 : ledger_auth_http_status(a);
		}
		matched = true;
		c->ledger_key = true;
	}
	if (!matched) {
		secure_wipe(given, glen);
		free(given);
		return 401;
	}
	c->secret = given;
	return 0;
}

/* Rate limits of the client's key: the X-RateLimit-* headers on every
 * response, and false (with 429 sent) when it is over. */
static bool within_limits(struct server *s, struct hreq *req, enum dialect d, const struct client *c)
{
	if (!c->id[0] || (c->rpm <= 0 && c->tpm <= 0))
		return true;
	struct limiter_verdict v;
	limiter_check_request(s->limiter, c->id, c->rpm, c->tpm, mono_clock_ms(), &v);
	const struct limiter_quota *q = v.requests.limit > 0 ? &v.requests : &v.tokens;
	char n[32];
	snprintf(n, sizeof n, "%lld", (long long)q->limit);
	add_header(req, "X-RateLimit-Limit", n);
	snprintf(n, sizeof n, "%lld", (long long)q->remaining);
	add_header(req, "X-RateLimit-Remaining", n);
	snprintf(n, sizeof n, "%lld", (long long)limiter_reset_epoch_s(wall_clock_ms(), q->reset_ms));
	add_header(req, "X-RateLimit-Reset", n);
	if (v.requests.limit > 0 && v.tokens.limit > 0) {
		snprintf(n, sizeof n, "%lld", (long long)v.tokens.limit);
		add_header(req, "X-RateLimit-Limit-Tokens", n);
		snprintf(n, sizeof n, "%lld", (long long)v.tokens.remaining);
		add_header(req, "X-RateLimit-Remaining-Tokens", n);
	}
	if (v.admitted)
		return true;
	snprintf(n, sizeof n, "%lld", (long long)v.retry_after_s);
	add_header(req, "Retry-After", n);
	char *msg = xasprintf("rate limit of key '%s' reached: %s per minute; retry in %lld s", c->id,
			      v.reason == LIMITER_TPM ? "tokens" : "requests", (long long)v.retry_after_s);
	reply_error(req, d, 429, "rate_limit_error", msg);
	free(msg);
	return false;
}

/* How long the account API waits for the ledger writer to commit. */
#define ACCOUNT_FLUSH_MS 1000

/* /api/v1/{balance,transactions,usage,keys}: the account API on the
 * ledger, for the admin key only. */
static void handle_account(struct server *s, struct hreq *req, const char *path, const char *query)
{
	json_object *resp = NULL;
	int status;
	char *given = request_presented_key(hreq_input_headers(req), NULL);
	if (!s->ledger) {
		resp = account_error(503, "ledger_unavailable", "the proxy runs without a ledger");
		status = 503;
	} else if (!given || !s->admin_key || !account_admin_key_ok(s->admin_key, given)) {
		resp = account_error(401, "invalid_admin_key",
				     "the account API needs the admin key (AROUTER_ADMIN_KEY or the admin-key file)");
		status = 401;
	} else {
		static const struct {
			enum hmethod cmd;
			const char *name;
		} methods[] = {{HM_GET, "GET"},
			       {HM_POST, "POST"},
			       {HM_PATCH, "PATCH"},
			       {HM_PUT, "PUT"},
			       {HM_DELETE, "DELETE"}};
		const char *method = "GET";
		for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
			if (methods[i].cmd == hreq_method(req))
				method = methods[i].name;
		size_t len;
		char *body = request_body(req, &len);
		/* The rows of requests already answered are committed first, so
		 * that a key's spend, the balance and the transactions include
		 * them: the writer thread may still hold them. Bounded: with the
		 * file locked by a stuck process the answer may miss them, but
		 * the loop does not wait out the writer's retries. */
		if (s->writer)
			ledger_writer_flush(s->writer, ACCOUNT_FLUSH_MS);
		keys_lock(s);
		status = account_handle(s->ledger, method, path, query, body, len, &resp);
		free(body);
		char *err = NULL;
		if (strcmp(method, "GET") != 0 && status < 300 && s->keyring && ledger_keyring_refresh(s->keyring, &err) < 0) {
			errorx("proxy: cannot reload the keys: %s", err);
			free(err);
		}
		keys_unlock(s);
	}
	if (given) {
		secure_wipe(given, strlen(given));
		free(given);
	}
	reply_json_object(req, status, resp);
	json_object_put(resp);
}

static void handle_health(struct server *s, struct hreq *req, const char *query)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string(s->stopping ? "stopping" : "ok"));
	/* Details (which providers, keys redacted) only for clients that
	 * could use the proxy. */
	struct client c;
	const char *why;
	if (identify_client(s, req, query, &c, &why) == 0) {
		json_object *h = health_json(s->health, mono_clock_ms());
		json_object_object_foreach (h, k, v)
			json_object_object_add(o, k, json_object_get(v));
		json_object_put(h);
		json_object_object_add(o, "in_flight",
				       json_object_new_int(__atomic_load_n(&s->hub->in_flight, __ATOMIC_RELAXED)));
		json_object_object_add(o, "workers", json_object_new_int(s->hub->n));
	}
	if (c.secret) {
		secure_wipe(c.secret, strlen(c.secret));
		free(c.secret);
	}
	reply_json_object(req, 200, o);
	json_object_put(o);
}

static void serve(struct server *s, struct hreq *req, const char *path, const char *query, enum dialect d,
		  enum hmethod cmd);

static void on_request(struct hreq *req, void *arg)
{
	struct server *s = arg;
	const char *path = hreq_path(req);
	const char *query = hreq_query(req);
	const char *date = http_date();
	if (date)
		add_header(req, "Date", date);
	if (path[0] != '/') {
		reply_error(req, DIALECT_OPENAI, 400, "invalid_request_error", "malformed request target");
		return;
	}
	enum dialect d = request_path_dialect(path);
	struct evkeyvalq *in = hreq_input_headers(req);
	/* Over a limit: httpd has read no body (and, for a head that did not
	 * end in time, no headers); the connection closes after this. */
	if (hreq_too_large(req) == 431) {
		reply_error(req, d, 431, "invalid_request_error", "the request headers are larger than the proxy accepts");
		return;
	}
	if (hreq_too_large(req) == 413) {
		reply_error(req, d, 413, NULL, "the request body is larger than the proxy accepts");
		return;
	}
	if (s->relay) {
		/* --stdio: the one connection from stdin/stdout, nobody else. */
		if (hreq_peer_port(req) != stdio_relay_port(s->relay)) {
			add_header(req, "Connection", "close");
			reply_error(req, d, 403, "permission_error", "this proxy serves its stdin/stdout only");
			return;
		}
	}
	if (request_header_bytes(hreq_uri(req), in) > s->opt.max_header_bytes) {
		add_header(req, "Connection", "close");
		reply_error(req, d, 431, "invalid_request_error", "the request headers are larger than the proxy accepts");
		return;
	}
	if (!request_host_allowed(s->opt.host, s->port, evhttp_find_header(in, "Host"))) {
		reply_error(req, d, 403, "permission_error", "the Host header does not name this proxy");
		return;
	}
	const char *origin = evhttp_find_header(in, "Origin");
	if (origin) {
		if (!request_origin_allowed(s->cfg->root, origin)) {
			reply_error(req, d, 403, "permission_error", "browser requests from this origin are not allowed");
			return;
		}
		add_header(req, "Access-Control-Allow-Origin", origin);
		add_header(req, "Vary", "Origin");
		if (hreq_method(req) == HM_OPTIONS) {
			add_header(req, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
			add_header(req, "Access-Control-Allow-Headers",
				   "Authorization, Content-Type, X-Api-Key, Anthropic-Version, Anthropic-Beta, X-Goog-Api-Key");
			add_header(req, "Access-Control-Max-Age", "600");
			hreq_send_reply(req, 204, NULL, 0);
			return;
		}
	}
	enum hmethod cmd = hreq_method(req);
	if (s->keyring) {
		char *err = NULL;
		keys_lock(s);
		int rrc = ledger_keyring_refresh_if_changed(s->keyring, mono_clock_ms(), &err);
		keys_unlock(s);
		if (rrc < 0) {
			errorx("proxy: cannot read the keys: %s", err);
			free(err);
		}
	}
	if (strcmp(path, "/health") == 0) {
		handle_health(s, req, query);
		return;
	}
	if (account_path(path)) {
		handle_account(s, req, path, query);
		return;
	}
	const char *why = NULL;
	int refused = identify_client(s, req, query, &s->client, &why);
	if (refused) {
		reply_error(req, d, refused, refused == 402 ? "insufficient_quota" : "authentication_error", why);
		return;
	}
	if (within_limits(s, req, d, &s->client))
		serve(s, req, path, query, d, cmd);
	client_clear(&s->client);
}

/* Sends an admitted request to its handler, which takes s->client over
 * when it needs it past this call (proxy_req_new). */
static void serve(struct server *s, struct hreq *req, const char *path, const char *query, enum dialect d,
		  enum hmethod cmd)
{
	if (s->stopping) {
		add_header(req, "Connection", "close");
		reply_error(req, d, 503, NULL, "the proxy is shutting down");
		return;
	}
	if (cmd == HM_POST && strcmp(path, "/v1/chat/completions") == 0) {
		handle_model_request(s, req, DIALECT_OPENAI, NULL, false);
		return;
	}
	if (cmd == HM_POST && strcmp(path, "/v1/messages") == 0) {
		handle_model_request(s, req, DIALECT_ANTHROPIC, NULL, false);
		return;
	}
	if (cmd == HM_POST && strcmp(path, "/v1/messages/count_tokens") == 0) {
		handle_count_tokens(s, req, DIALECT_ANTHROPIC, NULL);
		return;
	}
	if (cmd == HM_POST && strcmp(path, "/v1/embeddings") == 0) {
		handle_embeddings(s, req);
		return;
	}
	if (cmd == HM_POST && str_has_prefix(path, "/v1beta/models/")) {
		char *model;
		enum request_gemini_method method = request_gemini_call(path, &model);
		if (method != REQUEST_GEMINI_NONE) {
			if (!model)
				reply_error(req, DIALECT_GEMINI, 400, NULL, "the model name in the path holds a NUL byte");
			else if (method == REQUEST_GEMINI_COUNT_TOKENS)
				handle_count_tokens(s, req, DIALECT_GEMINI, model);
			else
				handle_model_request(s, req, DIALECT_GEMINI, model, method == REQUEST_GEMINI_STREAM);
			free(model);
			return;
		}
	}
	if (cmd == HM_GET && strcmp(path, "/v1/models") == 0) {
		handle_models(s, req);
		return;
	}
	/* /{provider}/{path...} */
	const char *slash = strchr(path + 1, '/');
	if (slash) {
		char *slug = xstrndup(path + 1, (size_t)(slash - path - 1));
		struct provider *p = provider_find(&s->cfg->providers, slug);
		free(slug);
		if (p) {
			handle_passthrough(s, req, p, slash + 1, query);
			return;
		}
	}
	reply_error(req, d, 404, "not_found_error", "no such endpoint");
}

/* ---- lifecycle ---- */

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	warnx_("shutdown: %s still in flight after the grace period; closing", s->reqs ? "requests" : "nothing");
	event_base_loopexit(s->base, NULL);
}

/* Takes fresh as this worker's config; the old one is kept for what is in
 * flight. */
static void use_config(struct server *s, struct config *fresh)
{
	s->retired = xrealloc(s->retired, (s->n_retired + 1) * sizeof *s->retired);
	s->retired[s->n_retired++] = s->cfg;
	s->cfg = fresh;
	s->policy = attempt_policy_from_config(fresh->root);
	char *cerr = NULL;
	struct catalog *cat = catalog_new(fresh, &cerr);
	if (cat) {
		catalog_free(s->catalog);
		s->catalog = cat;
	} else {
		if (s->index == 0)
			warnx_("proxy: the model catalog: %s; keeping the old one", cerr);
		free(cerr);
	}
}

/* Stop accepting; let what is in flight finish, up to the grace period. */
static void begin_stop(struct server *s)
{
	if (s->stopping)
		return;
	s->stopping = true;
	if (s->listening) {
		httpd_stop_listening(s->http);
		s->listening = false;
	}
	maybe_exit(s);
	struct timeval tv = {s->opt.shutdown_grace_ms / 1000, (s->opt.shutdown_grace_ms % 1000) * 1000};
	s->deadline = evtimer_new(s->base, on_deadline, s);
	evtimer_add(s->deadline, &tv);
}

/* Worker 0 to worker w: one byte on its pipe (a full pipe already holds
 * a wake-up). */
static void tell(struct server *w, char what)
{
	ssize_t n;
	do
		n = write(w->notify[1], &what, 1);
	while (n < 0 && errno == EINTR);
}

static void on_notify(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct server *s = arg;
	char cmds[64];
	ssize_t n;
	while ((n = read(fd, cmds, sizeof cmds)) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (cmds[i] == 'S') {
				begin_stop(s);
			} else if (cmds[i] == 'R') {
				pthread_mutex_lock(&s->hub->mu);
				struct config *fresh = s->pending;
				s->pending = NULL;
				pthread_mutex_unlock(&s->hub->mu);
				if (fresh)
					use_config(s, fresh);
			}
		}
	}
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;
	struct hub *hub = s->hub;
	if (sig == SIGHUP) {
		/* Every worker's copy is read here, on the main thread (the
		 * environment is read too), and handed over. */
		struct config **fresh = xcalloc((size_t)hub->n, sizeof *fresh);
		char *err = NULL;
		for (int i = 0; i < hub->n; i++) {
			fresh[i] = xcalloc(1, sizeof *fresh[i]);
			struct config_flags quiet = s->flags;
			if (i > 0)
				quiet.quiet = true;
			if (config_load(fresh[i], &quiet, &err) < 0) {
				errorx("reload failed, keeping the old configuration: %s", err);
				free(err);
				for (int j = 0; j <= i; j++) {
					if (j < i)
						config_free(fresh[j]);
					free(fresh[j]);
				}
				free(fresh);
				return;
			}
		}
		config_warn_problems(fresh[0]);
		use_config(s, fresh[0]);
		for (int i = 1; i < hub->n; i++) {
			struct server *w = hub->w[i];
			pthread_mutex_lock(&hub->mu);
			struct config *old = w->pending;
			w->pending = fresh[i];
			pthread_mutex_unlock(&hub->mu);
			if (old) {
				config_free(old);
				free(old);
			}
			tell(w, 'R');
		}
		free(fresh);
		warnx_("configuration reloaded from %s", s->cfg->path);
		return;
	}
	for (int i = 1; i < hub->n; i++)
		tell(hub->w[i], 'S');
	begin_stop(s);
}

static bool is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

static void close_ledger(struct server *s);

/* --stdio: the one connection is over. */
static void on_stdio_done(void *arg)
{
	struct server *s = arg;
	s->stopping = true;
	if (s->stdio_timer)
		event_del(s->stdio_timer);
	maybe_exit(s);
}

static void on_stdio_tick(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	bool idle = !s->reqs && httpd_sending(s->http) <= 0 && stdio_relay_input_over(s->relay);
	/* Two idle ticks in a row: what arrived last has been parsed. */
	if (idle && s->stdio_idle_ticks++ >= 1) {
		event_del(s->stdio_timer);
		stdio_relay_end(s->relay);
	} else if (!idle) {
		s->stdio_idle_ticks = 0;
	}
}

/* The ledger: usage rows, local keys and the account API. A proxy that
 * cannot open it still serves, without them, and says so once;
 * "proxy": {"ledger": false} turns it off. */
static void open_ledger(struct server *s)
{
	json_object *proxy, *v;
	if (json_object_object_get_ex(s->cfg->root, "proxy", &proxy) && json_object_object_get_ex(proxy, "ledger", &v) &&
	    json_object_is_type(v, json_type_boolean) && !json_object_get_boolean(v))
		return;
	char *err = NULL;
	if (!(s->ledger = ledger_open(NULL, &err)) || !(s->keyring = ledger_keyring_load(s->ledger, &err)) ||
	    !(s->writer = ledger_writer_start(NULL, &err)) || account_admin_key(&s->admin_key, &err) < 0) {
		warnx_("proxy: running without the usage ledger: %s", err ? err : "cannot open it");
		free(err);
		close_ledger(s);
		return;
	}
	char *akp = account_admin_key_path();
	if (!getenv("AROUTER_ADMIN_KEY") && akp)
		verbose("proxy: the account API's admin key is in %s", akp);
	free(akp);
}

static void close_ledger(struct server *s)
{
	if (s->writer)
		ledger_writer_stop(s->writer);
	ledger_keyring_free(s->keyring);
	if (s->ledger)
		ledger_close(s->ledger);
	if (s->admin_key) {
		secure_wipe(s->admin_key, strlen(s->admin_key));
		free(s->admin_key);
	}
	s->writer = NULL;
	s->keyring = NULL;
	s->ledger = NULL;
	s->admin_key = NULL;
}

/* The event loop of worker s and its HTTP server, not listening yet. */
static int worker_setup(struct server *s)
{
	s->req_spares = (struct spares){.size = sizeof(struct proxy_req), .max = 64};
	/* epoll's changelist merges the changes one turn of the loop makes to
	 * a descriptor into one epoll_ctl, or none (a connection's writing is
	 * switched on and off around an answer the socket did not take at
	 * once; the built-in client's likewise). It is unsafe with
	 * descriptors that share one open file (dup), as a --stdio proxy's
	 * stdin and stdout may. */
	struct event_config *ec = event_config_new();
	if (ec && !s->opt.stdio)
		event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	s->base = ec ? event_base_new_with_config(ec) : NULL;
	if (ec)
		event_config_free(ec);
	struct httpd_options ho = {
		.max_header_bytes = s->opt.max_header_bytes,
		.max_body_bytes = s->opt.max_body_bytes,
		.timeout_s = (int)s->opt.client_timeout_s,
	};
	s->http = s->base ? httpd_new(s->base, &ho, on_request, on_sent, s) : NULL;
	s->loop = s->base ? http_loop_new(s->base) : NULL;
	s->log_ev = s->base ? event_new(s->base, -1, 0, on_log_lines, s) : NULL;
	s->release_ev = s->base ? evtimer_new(s->base, on_release, s) : NULL;
	if (!s->base || !s->http || !s->loop || !s->log_ev || pipe2(s->notify, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	s->notify_ev = event_new(s->base, s->notify[0], EV_READ | EV_PERSIST, on_notify, s);
	if (!s->notify_ev || event_add(s->notify_ev, NULL) < 0)
		return -1;
	http_loop_use_builtin(s->loop, !s->opt.libcurl_only);
	return 0;
}

/* Frees what worker s has of its own, on its own thread once its loop has
 * ended (its pipe stays: worker 0 may still write to it). */
static void worker_teardown(struct server *s)
{
	struct server *was = the_server;
	the_server = s;
	while (s->reqs)
		proxy_req_free(s->reqs);
	for (int i = 0; i < 3; i++)
		if (s->sigs[i])
			event_free(s->sigs[i]);
	if (s->deadline)
		event_free(s->deadline);
	stdio_relay_free(s->relay);
	if (s->stdio_timer)
		event_free(s->stdio_timer);
	if (s->release_ev)
		event_free(s->release_ev);
	if (s->notify_ev)
		event_free(s->notify_ev);
	http_loop_free(s->loop);
	if (s->http)
		httpd_free(s->http);
	if (s->log_ev)
		event_free(s->log_ev);
	s->log_ev = NULL;
	write_log_lines(s);
	buf_free(&s->log_lines);
	spares_clear(&s->req_spares);
	if (s->base)
		event_base_free(s->base);
	s->base = NULL;
	for (size_t i = 0; i < s->n_retired; i++) {
		config_free(s->retired[i]);
		free(s->retired[i]);
	}
	free(s->retired);
	s->retired = NULL;
	s->n_retired = 0;
	if (s->index > 0) {
		catalog_free(s->catalog);
		config_free(s->cfg);
		free(s->cfg);
		s->catalog = NULL;
		s->cfg = NULL;
	}
	the_server = was;
}

static void *worker_main(void *arg)
{
	struct server *s = arg;
	the_server = s;
	use_c_locale();
	event_base_dispatch(s->base);
	worker_teardown(s);
	return NULL;
}

/* Workers: --workers, proxy.workers, else one a CPU (at most 8). */
static int worker_count(const struct server_options *o)
{
	if (o->stdio)
		return 1;
	if (o->workers > 0)
		return o->workers;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 8 ? 8 : (int)n;
}

/* Worker i (> 0): a copy of worker 0 with a config and catalog of its
 * own (they are not thread-safe, json-c's reference counts included). */
static struct server *worker_new(struct server *s0, int i, char **err)
{
	struct server *w = xcalloc(1, sizeof *w);
	w->hub = s0->hub;
	w->index = i;
	w->notify[0] = w->notify[1] = -1;
	w->flags = s0->flags;
	w->opt = s0->opt;
	w->port = s0->port;
	w->health = s0->health;
	w->limiter = s0->limiter;
	w->ledger = s0->ledger;
	w->keyring = s0->keyring;
	w->writer = s0->writer;
	w->admin_key = s0->admin_key;
	w->cfg = xcalloc(1, sizeof *w->cfg);
	struct config_flags quiet = s0->flags;
	quiet.quiet = true;
	if (config_load(w->cfg, &quiet, err) < 0) {
		free(w->cfg);
		free(w);
		return NULL;
	}
	w->policy = attempt_policy_from_config(w->cfg->root);
	w->catalog = catalog_new(w->cfg, NULL);
	if (!w->catalog)
		w->catalog = catalog_new_empty();
	return w;
}

/* Hands the listening socket fd to s's server (which closes it). */
static bool serve_socket(struct server *s, int fd)
{
	evutil_make_socket_nonblocking(fd);
	if (httpd_listen(s->http, fd) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return false;
	}
	s->sock = fd;
	s->listening = true;
	return true;
}

/* Worker i's listening socket: worker 0's when systemd passed it (each
 * worker its own descriptor: httpd closes it), else one on the same port. */
static bool worker_listen(struct server *s, int sd_fd, int port, bool shared)
{
	int fd = sd_fd >= 0 ? (s->index == 0 ? sd_fd : fcntl(sd_fd, F_DUPFD_CLOEXEC, 0))
			    : listen_tcp(s->opt.host, port, shared);
	return fd >= 0 && serve_socket(s, fd);
}

int server_run(const struct config_flags *flags, const struct server_options *opts)
{
	struct hub hub;
	memset(&hub, 0, sizeof hub);
	pthread_mutex_init(&hub.mu, NULL);
	pthread_mutex_init(&hub.ledger_mu, NULL);
	struct server s;
	memset(&s, 0, sizeof s);
	s.hub = &hub;
	s.notify[0] = s.notify[1] = -1;
	s.flags = *flags;
	s.opt = *opts;
	if (!s.opt.host)
		s.opt.host = "127.0.0.1";
	s.cfg = xcalloc(1, sizeof *s.cfg);
	the_server = &s;
	char *err = NULL;
	/* The command has read the file for its options and warned already. */
	struct config_flags first = *flags;
	first.quiet = true;
	if (config_load(s.cfg, &first, &err) < 0) {
		errorx("%s", err);
		free(err);
		free(s.cfg);
		return EXIT_CONFIG;
	}
	int rc = EXIT_OK;
	open_ledger(&s);
	if (!is_loopback(s.opt.host) && (!s.opt.allow_remote || !keys_required(&s))) {
		errorx("proxy: refusing to listen on %s: a non-loopback address needs --allow-remote and client keys "
		       "(proxy.keys in the config, or arouter keys create)",
		       s.opt.host);
		rc = EXIT_USAGE;
		goto out_config;
	}
	s.catalog = catalog_new(s.cfg, &err);
	if (!s.catalog) {
		warnx_("proxy: the model catalog: %s; listing and costs without it", err);
		free(err);
		err = NULL;
		s.catalog = catalog_new_empty();
	}
	s.limiter = limiter_new(0);
	signal(SIGPIPE, SIG_IGN);
	s.policy = attempt_policy_from_config(s.cfg->root);
	struct breaker_config bc = attempt_breaker_config(s.cfg->root);
	s.health = health_new(&bc);
	int n = worker_count(&s.opt);
	hub.w = xcalloc((size_t)n, sizeof *hub.w);
	hub.w[0] = &s;
	hub.n = 1;
	if (worker_setup(&s) < 0) {
		errorx("proxy: cannot set up the event loop");
		rc = EXIT_FAILURE_GENERIC;
		goto out;
	}
	int sd_fd = s.opt.stdio ? -1 : listen_systemd_fd();
	if (s.opt.stdio) {
		/* One connection on stdin/stdout, as if from loopback. */
		int fd = listen_tcp("127.0.0.1", 0, false);
		if (fd < 0 || !serve_socket(&s, fd) || listen_port(fd) < 0 ||
		    !(s.relay = stdio_relay_new(s.base, listen_port(fd), on_stdio_done, &s))) {
			errorx("proxy: cannot serve stdin/stdout: %s", strerror(errno));
			rc = EXIT_FAILURE_GENERIC;
			goto out;
		}
		/* When stdin has ended and nothing is in flight for a while (the
		 * server has parsed all it was sent), the connection ends. */
		s.stdio_timer = event_new(s.base, -1, EV_PERSIST, on_stdio_tick, &s);
		struct timeval tick = {0, 100000};
		event_add(s.stdio_timer, &tick);
	} else {
		/* Several workers share the port (SO_REUSEPORT), which would let
		 * this proxy share it with another one that had: a port in
		 * use is first tried without. */
		if (n > 1 && sd_fd < 0 && s.opt.port != 0) {
			int probe = listen_tcp(s.opt.host, s.opt.port, false);
			if (probe < 0) {
				errorx("proxy: cannot listen on %s:%d: %s", s.opt.host, s.opt.port, strerror(errno));
				rc = EXIT_FAILURE_GENERIC;
				goto out;
			}
			close(probe);
		}
		worker_listen(&s, sd_fd, s.opt.port, n > 1);
	}
	if (!s.listening) {
		errorx("proxy: cannot listen on %s:%d: %s", s.opt.host, s.opt.port, strerror(errno));
		rc = EXIT_FAILURE_GENERIC;
		goto out;
	}
	if (!s.opt.stdio) {
		int fd = s.sock;
		s.port = listen_port(fd);
		if (sd_fd >= 0) {
			/* systemd chose the address: the loopback rule still holds. */
			struct sockaddr_storage ss;
			socklen_t sl = sizeof ss;
			char host[INET6_ADDRSTRLEN] = "";
			if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
				if (ss.ss_family == AF_INET6)
					inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
				else
					inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
			}
			s.sd_host = xstrdup(host);
			s.opt.host = s.sd_host;
			if (!is_loopback(host) && (!s.opt.allow_remote || !keys_required(&s))) {
				errorx("proxy: refusing the socket systemd passed on %s: a non-loopback address needs "
				       "--allow-remote and client keys",
				       host);
				rc = EXIT_USAGE;
				goto out;
			}
		}
	}
	for (int i = 1; i < n; i++) {
		struct server *w = worker_new(&s, i, &err);
		if (!w) {
			errorx("proxy: worker %d: %s", i + 1, err);
			free(err);
			rc = EXIT_CONFIG;
			goto out;
		}
		hub.w[hub.n++] = w;
		if (worker_setup(w) < 0 || !worker_listen(w, sd_fd, s.port, true)) {
			errorx("proxy: cannot set up worker %d on %s:%d: %s", i + 1, s.opt.host, s.port, strerror(errno));
			rc = EXIT_FAILURE_GENERIC;
			goto out;
		}
	}
	const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
	for (int i = 0; i < 3; i++) {
		s.sigs[i] = evsignal_new(s.base, sigs[i], on_signal, &s);
		evsignal_add(s.sigs[i], NULL);
	}
	/* The other workers' threads take no signals: they are worker 0's. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int started = 1;
	for (; started < hub.n; started++) {
		int e = pthread_create(&hub.w[started]->thread, NULL, worker_main, hub.w[started]);
		if (e != 0) {
			errorx("proxy: cannot start worker %d: %s", started + 1, strerror(e));
			rc = EXIT_FAILURE_GENERIC;
			break;
		}
	}
	if (rc != EXIT_OK) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		for (int i = 1; i < started; i++)
			tell(hub.w[i], 'S');
		for (int i = 1; i < started; i++)
			pthread_join(hub.w[i]->thread, NULL);
		goto out;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (s.opt.port_file) {
		char *tmp = xasprintf("%s.tmp", s.opt.port_file);
		FILE *f = fopen(tmp, "w");
		if (f) {
			fprintf(f, "%d\n", s.port);
			fclose(f);
			rename(tmp, s.opt.port_file);
		}
		free(tmp);
	}
	if (s.opt.stdio)
		verbose("proxy: serving one connection on stdin/stdout");
	else
		fprintf(stderr, "arouter: proxy listening on http://%s%s%s:%d%s\n", strchr(s.opt.host, ':') ? "[" : "",
			s.opt.host, strchr(s.opt.host, ':') ? "]" : "", s.port, sd_fd >= 0 ? " (socket from systemd)" : "");
	if (hub.n > 1)
		verbose("proxy: %d workers", hub.n);
	fflush(stderr);
	event_base_dispatch(s.base);
	/* Worker 0 is done: the others finish what they hold, up to their
	 * own grace period. */
	for (int i = 1; i < hub.n; i++)
		tell(hub.w[i], 'S');
	for (int i = 1; i < hub.n; i++)
		pthread_join(hub.w[i]->thread, NULL);
	verbose("proxy: stopped");
out:
	/* Workers that never ran (set-up failed) are torn down here. */
	for (int i = 1; i < n && hub.w; i++)
		if (hub.w[i] && hub.w[i]->base)
			worker_teardown(hub.w[i]);
	worker_teardown(&s);
	for (int i = 0; i < n && hub.w; i++) {
		struct server *w = hub.w[i];
		if (!w)
			continue;
		for (int k = 0; k < 2; k++)
			if (w->notify[k] >= 0)
				close(w->notify[k]);
		if (w->pending) {
			config_free(w->pending);
			free(w->pending);
		}
		if (i > 0)
			free(w);
	}
	free(hub.w);
	health_free(s.health);
	free(s.sd_host);
out_config:
	the_server = NULL;
	close_ledger(&s);
	catalog_free(s.catalog);
	limiter_free(s.limiter);
	config_free(s.cfg);
	free(s.cfg);
	pthread_mutex_destroy(&hub.mu);
	pthread_mutex_destroy(&hub.ledger_mu);
	return rc;
}
