/* cmd-chat.c - `arouter chat`: one-shot prompts from arguments and pipes,
 * and an interactive line-edited session. The request goes through the
 * shared pipeline in gateway.c; this file owns only the terminal side:
 * options, building the messages, printing the stream, the session. */
#include "config.h"

#include "buf.h"
#include "cmd.h"
#include "catalog.h"
#include "gateway.h"
#include "jsonw.h"
#include "ledger.h"
#include "route.h"
#include "term.h"
#include "util.h"

#include <editline/readline.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const chat_usage[] = {
	"chat [options] [PROMPT...]",
	"",
	"Send a prompt to a model and stream the answer to stdout. Piped input is",
	"read whole and appended to the prompt. With no prompt on a terminal, an",
	"interactive session starts (/help lists its commands).",
	"",
	"  -m, --model MODEL       provider/model, backend:model, a bare name, ?k=v params",
	"  -s, --system TEXT       system prompt",
	"  -a, --attach FILE       attach an image, PDF or text file (repeatable)",
	"  -o, --option KEY=VALUE  set any request parameter (repeatable)",
	"      --temperature N     sampling temperature",
	"      --max-tokens N      maximum tokens in the answer",
	"      --no-stream         wait for the whole answer",
	"      --json              print the final response as JSON",
	"  -u, --usage             print token counts on stderr",
	"  -c, --continue          continue the last conversation",
	"      --no-save           do not save this conversation",
	"      --show-reasoning    print the model's reasoning (dimmed, on stderr)",
	"",
	"Environment: AROUTER_MODEL, AROUTER_TIMEOUT (s), AROUTER_IDLE_TIMEOUT (s).",
	NULL,
};

enum {
	OPT_TEMPERATURE = 0x2000,
	OPT_MAX_TOKENS,
	OPT_NO_STREAM,
	OPT_JSON,
	OPT_NO_SAVE,
	OPT_SHOW_REASONING,
};

static const struct option chat_options[] = {
	{"attach", required_argument, NULL, 'a'},
	{"continue", no_argument, NULL, 'c'},
	{"json", no_argument, NULL, OPT_JSON},
	{"max-tokens", required_argument, NULL, OPT_MAX_TOKENS},
	{"model", required_argument, NULL, 'm'},
	{"no-save", no_argument, NULL, OPT_NO_SAVE},
	{"no-stream", no_argument, NULL, OPT_NO_STREAM},
	{"option", required_argument, NULL, 'o'},
	{"show-reasoning", no_argument, NULL, OPT_SHOW_REASONING},
	{"system", required_argument, NULL, 's'},
	{"temperature", required_argument, NULL, OPT_TEMPERATURE},
	{"usage", no_argument, NULL, 'u'},
	{NULL, 0, NULL, 0},
};

struct chat {
	struct context *ctx;
	char *model;            /* the model string in use (owned) */
	char *system;           /* owned */
	json_object *params;    /* request parameters from -o/--temperature/--max-tokens */
	json_object *messages;  /* the conversation (without the system prompt) */
	char **attach;
	size_t n_attach;
	bool stream, json, usage, cont, save, show_reasoning;
	long idle_timeout_ms, total_timeout_ms;
	json_object *last_usage;
	double last_cost; /* of last_usage, <0 unknown */ /* of the last answer, for /usage */
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* ---- messages ---- */

static const char *sniff_mime(const char *path, const unsigned char *d, size_t n)
{
	if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
		return "image/png";
	if (n >= 3 && memcmp(d, "\xff\xd8\xff", 3) == 0)
		return "image/jpeg";
	if (n >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0))
		return "image/gif";
	if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0)
		return "image/webp";
	if (n >= 5 && memcmp(d, "%PDF-", 5) == 0)
		return "application/pdf";
	if (memchr(d, '\0', n))
		return NULL; /* binary we cannot send */
	(void)path;
	return "text/plain";
}

/* Builds the user message content: a string, or parts when files are
 * attached (text files are inlined into the text part). */
static json_object *user_content(struct chat *c, const char *text)
{
	if (c->n_attach == 0)
		return json_object_new_string(text);
	struct buf inlined = BUF_INIT;
	buf_puts(&inlined, text);
	json_object *media = json_object_new_array();
	for (size_t i = 0; i < c->n_attach; i++) {
		size_t len;
		char *data = read_file(c->attach[i], &len);
		if (!data)
			die(EXIT_USAGE, "chat: cannot read '%s': %s", c->attach[i], strerror(errno));
		const char *mime = sniff_mime(c->attach[i], (unsigned char *)data, len);
		if (!mime)
			die(EXIT_USAGE, "chat: '%s' is a binary file that is not an image or a PDF", c->attach[i]);
		if (strcmp(mime, "text/plain") == 0) {
			const char *base = strrchr(c->attach[i], '/');
			buf_printf(&inlined, "%s--- %s ---\n%s%s", inlined.len ? "\n\n" : "", base ? base + 1 : c->attach[i],
				   data, len && data[len - 1] == '\n' ? "" : "\n");
			free(data);
			continue;
		}
		char *b64 = xbase64(data, len);
		char *url = xasprintf("data:%s;base64,%s", mime, b64);
		free(b64);
		free(data);
		json_object *part = json_object_new_object();
		if (str_has_prefix(mime, "image/")) {
			json_object_object_add(part, "type", json_object_new_string("image_url"));
			json_object *iu = json_object_new_object();
			json_object_object_add(iu, "url", json_object_new_string(url));
			json_object_object_add(part, "image_url", iu);
		} else {
			const char *base = strrchr(c->attach[i], '/');
			json_object_object_add(part, "type", json_object_new_string("file"));
			json_object *f = json_object_new_object();
			json_object_object_add(f, "filename", json_object_new_string(base ? base + 1 : c->attach[i]));
			json_object_object_add(f, "file_data", json_object_new_string(url));
			json_object_object_add(part, "file", f);
		}
		free(url);
		json_object_array_add(media, part);
	}
	json_object *parts = json_object_new_array();
	json_object *tp = json_object_new_object();
	json_object_object_add(tp, "type", json_object_new_string("text"));
	json_object_object_add(tp, "text", json_object_new_string(buf_str(&inlined)));
	json_object_array_add(parts, tp);
	for (size_t i = 0; i < json_object_array_length(media); i++)
		json_object_array_add(parts, json_object_get(json_object_array_get_idx(media, i)));
	json_object_put(media);
	buf_free(&inlined);
	return parts;
}

static void add_message(json_object *messages, const char *role, json_object *content)
{
	json_object *m = json_object_new_object();
	json_object_object_add(m, "role", json_object_new_string(role));
	json_object_object_add(m, "content", content);
	json_object_array_add(messages, m);
}

static json_object *request_body(struct chat *c)
{
	json_object *body = json_object_new_object();
	json_object *msgs = json_object_new_array();
	if (!str_empty(c->system))
		add_message(msgs, "system", json_object_new_string(c->system));
	for (size_t i = 0; i < json_object_array_length(c->messages); i++)
		json_object_array_add(msgs, json_object_get(json_object_array_get_idx(c->messages, i)));
	json_object_object_add(body, "messages", msgs);
	json_object_object_foreach(c->params, k, v)
	{
		json_object_object_add(body, k, v ? json_object_get(v) : NULL);
	}
	return body;
}

/* ---- conversation storage ---- */

static char *conversation_path(void)
{
	char *dir = xdg_dir("state");
	char *path = xasprintf("%s/conversations/last.json", dir);
	free(dir);
	return path;
}

static void conversation_save_to(struct chat *c, const char *path)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		if (*dir)
			mkdir_p(dir, 0700);
	}
	free(dir);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "model", json_object_new_string(c->model ? c->model : ""));
	if (c->system)
		json_object_object_add(o, "system", json_object_new_string(c->system));
	json_object_object_add(o, "messages", json_object_get(c->messages));
	char *tmp = xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	bool ok = false;
	if (fd >= 0) {
		const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
		size_t len = strlen(s);
		ok = write(fd, s, len) == (ssize_t)len && write(fd, "\n", 1) == 1;
		ok = close(fd) == 0 && ok;
		ok = ok && rename(tmp, path) == 0;
	}
	if (!ok) {
		warnx_("cannot save the conversation to %s: %s", path, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	json_object_put(o);
}

static void conversation_load(struct chat *c)
{
	char *path = conversation_path();
	size_t len;
	char *text = read_file(path, &len);
	if (!text)
		die(EXIT_USAGE, "chat: no conversation to continue (%s does not exist)", path);
	json_object *o = json_tokener_parse(text);
	json_object *msgs, *v;
	if (!o || !json_object_object_get_ex(o, "messages", &msgs) || !json_object_is_type(msgs, json_type_array))
		die(EXIT_FAILURE_GENERIC, "chat: %s is not a saved conversation", path);
	json_object_put(c->messages);
	c->messages = json_object_get(msgs);
	if (!c->model && json_object_object_get_ex(o, "model", &v) && *json_object_get_string(v))
		c->model = xstrdup(json_object_get_string(v));
	if (!c->system && json_object_object_get_ex(o, "system", &v))
		c->system = xstrdup(json_object_get_string(v));
	json_object_put(o);
	free(text);
	free(path);
}

/* ---- printing the answer ---- */

struct printer {
	struct chat *c;
	struct completion_builder *b;
	bool started;
	bool in_reasoning;
	bool ends_newline;
	bool wrote_text;
	long long t0;  /* monotonic ms when the request went out */
	long first_ms; /* until the first chunk, -1 before it */
};

static int print_chunk(json_object *chunk, void *arg)
{
	struct printer *pr = arg;
	if (pr->first_ms < 0)
		pr->first_ms = (long)(mono_clock_ms() - pr->t0);
	completion_builder_add(pr->b, chunk);
	json_object *choices, *delta, *v;
	if (!json_object_object_get_ex(chunk, "choices", &choices) || json_object_array_length(choices) == 0)
		return 0;
	if (!json_object_object_get_ex(json_object_array_get_idx(choices, 0), "delta", &delta))
		return 0;
	if (!pr->started && (json_object_object_get_ex(delta, "content", &v) ||
			     json_object_object_get_ex(delta, "reasoning_content", &v) ||
			     json_object_object_get_ex(delta, "tool_calls", &v))) {
		term_spinner_stop();
		pr->started = true;
	}
	if (pr->c->json)
		return 0;
	if (pr->c->show_reasoning && json_object_object_get_ex(delta, "reasoning_content", &v) &&
	    json_object_is_type(v, json_type_string)) {
		fprintf(stderr, "%s%s%s", term_dim(stderr), json_object_get_string(v), term_reset(stderr));
		fflush(stderr);
		pr->in_reasoning = true;
	}
	if (json_object_object_get_ex(delta, "content", &v) && json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		size_t n = strlen(s);
		if (n == 0)
			return 0;
		if (pr->in_reasoning) {
			fputc('\n', stderr);
			pr->in_reasoning = false;
		}
		fwrite(s, 1, n, stdout);
		fflush(stdout);
		pr->ends_newline = s[n - 1] == '\n';
		pr->wrote_text = true;
	}
	return 0;
}

/* The cost of a request from the catalog (the gateway's own figure when
 * it reported one); <0 when unknown. */
static double usage_cost(const struct config *cfg, const struct gateway_result *res, json_object *usage)
{
	json_object *v;
	if (!usage)
		return -1;
	if (json_object_object_get_ex(usage, "cost", &v))
		return json_object_get_double(v);
	if (!res->provider || !res->model)
		return -1;
	struct catalog *cat = catalog_new(cfg, NULL);
	const struct catalog_model *m = cat ? catalog_find(cat, res->provider, res->model) : NULL;
	struct ledger_row r;
	memset(&r, 0, sizeof r);
	ledger_row_set_usage(&r, usage);
	double cost = m && r.usage_known ? catalog_cost(m, r.prompt_tokens, r.completion_tokens,
						      r.cached_tokens > 0 ? r.cached_tokens : 0, 0)
					 : -1;
	catalog_free(cat);
	return cost;
}

/* Direct mode records each request in the ledger, as the proxy does
 * (counts, names and times, never text); a gateway keeps its own. A
 * ledger that cannot be written is a warning, never a failed chat. */
static void record_turn(const struct config *cfg, const struct gateway_result *res, json_object *usage, int rc,
			long long t0_wall, long latency_ms, long first_ms, bool streamed, double cost)
{
	json_object *chat, *v;
	if (json_object_object_get_ex(cfg->root, "chat", &chat) && json_object_object_get_ex(chat, "ledger", &v) &&
	    json_object_is_type(v, json_type_boolean) && !json_object_get_boolean(v))
		return;
	if (!res->provider || strcmp(res->provider, "arouter") == 0 || strcmp(res->provider, "mock") == 0 ||
	    rc == EXIT_CONFIG || rc == EXIT_USAGE)
		return;
	struct ledger_row row;
	memset(&row, 0, sizeof row);
	row.time_ms = t0_wall;
	row.provider = res->provider;
	row.model = res->model ? res->model : "-";
	row.dialect = "cli";
	row.cost_usd = -1;
	ledger_row_set_usage(&row, usage);
	if (row.cost_usd < 0)
		row.cost_usd = cost;
	row.latency_ms = latency_ms;
	row.first_token_ms = first_ms;
	row.status = rc == EXIT_OK ? 200 : res->status;
	row.streamed = streamed;
	row.attempts = res->attempts > 0 ? res->attempts : 1;
	char *err = NULL;
	struct ledger *l = ledger_open(NULL, &err);
	if (!l || ledger_record(l, &row, &err) != 0)
		warnx_("the usage ledger: %s", err ? err : "cannot write it");
	free(err);
	if (l)
		ledger_close(l);
}

static void print_usage_line(json_object *usage, double cost)
{
	json_object *v, *d;
	long long prompt = 0, completion = 0, total = 0, cached = -1, reasoning = -1;
	if (json_object_object_get_ex(usage, "prompt_tokens", &v))
		prompt = json_object_get_int64(v);
	if (json_object_object_get_ex(usage, "completion_tokens", &v))
		completion = json_object_get_int64(v);
	if (json_object_object_get_ex(usage, "total_tokens", &v))
		total = json_object_get_int64(v);
	if (json_object_object_get_ex(usage, "prompt_tokens_details", &d) && json_object_object_get_ex(d, "cached_tokens", &v))
		cached = json_object_get_int64(v);
	if (json_object_object_get_ex(usage, "completion_tokens_details", &d) &&
	    json_object_object_get_ex(d, "reasoning_tokens", &v))
		reasoning = json_object_get_int64(v);
	struct buf b = BUF_INIT;
	buf_printf(&b, "usage: %lld prompt", prompt);
	if (cached > 0)
		buf_printf(&b, " (%lld cached)", cached);
	buf_printf(&b, " + %lld completion", completion);
	if (reasoning > 0)
		buf_printf(&b, " (%lld reasoning)", reasoning);
	buf_printf(&b, " = %lld tokens", total ? total : prompt + completion);
	/* Gateways (ARouter, OpenRouter, an arouter proxy) report the cost;
	 * otherwise it is the catalog's list price. */
	if (cost >= 0)
		buf_printf(&b, ", $%.6f", cost);
	fprintf(stderr, "arouter: %s\n", buf_str(&b));
	buf_free(&b);
}

/* Sends the conversation; on success appends the answer to it. Returns
 * the exit code. */
static int chat_turn(struct chat *c)
{
	struct config *cfg = context_config(c->ctx);
	json_object *body = request_body(c);
	struct printer pr = {.c = c, .b = completion_builder_new(), .first_ms = -1};
	/* "-m a,b,c" is a fallback list. */
	json_object *models = NULL;
	if (c->model && strchr(c->model, ',')) {
		models = route_models_from_list(c->model);
	}
	struct gateway_request gr = {
		.config = cfg,
		.body = body,
		.model = models ? NULL : c->model,
		.models = models,
		.stream = c->stream,
		.on_chunk = print_chunk,
		.arg = &pr,
		.cancel = &interrupted,
		.idle_timeout_ms = c->idle_timeout_ms,
		.total_timeout_ms = c->total_timeout_ms,
	};
	struct gateway_result res;
	interrupted = 0;
	term_spinner_start(c->model ? c->model : "thinking");
	long long t0_wall = wall_clock_ms(), t0 = mono_clock_ms();
	pr.t0 = t0;
	int rc = gateway_chat(&gr, &res);
	long latency = (long)(mono_clock_ms() - t0);
	term_spinner_stop();
	if (models)
		json_object_put(models);
	if (res.mock_fallback)
		warnx_("no provider key is set, so the built-in mock provider answered (set OPENAI_API_KEY, "
		       "ANTHROPIC_API_KEY, GEMINI_API_KEY, ... or AROUTER_API_KEY)");
	json_object *result = completion_builder_result(pr.b);
	if (pr.wrote_text && !pr.ends_newline && !c->json) {
		fputc('\n', stdout);
		fflush(stdout);
	}
	if (rc == EXIT_OK) {
		if (c->json)
			printf("%s\n", json_object_to_json_string_ext(result, JSON_C_TO_STRING_PRETTY |
											 JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object *choices = json_object_object_get(result, "choices");
		json_object *msg = json_object_object_get(json_object_array_get_idx(choices, 0), "message");
		json_object *tcs;
		if (!c->json && json_object_object_get_ex(msg, "tool_calls", &tcs))
			/* A terminal client runs no tools; show what the model asked for. */
			for (size_t i = 0; i < json_object_array_length(tcs); i++) {
				json_object *fn = json_object_object_get(json_object_array_get_idx(tcs, i), "function");
				fprintf(stderr, "arouter: the model called %s(%s)\n",
					json_object_get_string(json_object_object_get(fn, "name")),
					json_object_get_string(json_object_object_get(fn, "arguments")));
			}
		json_object *copy = NULL;
		json_object_deep_copy(msg, &copy, NULL);
		json_object_object_del(copy, "reasoning_content");
		json_object_array_add(c->messages, copy);
		json_object *usage;
		if (json_object_object_get_ex(result, "usage", &usage)) {
			if (c->last_usage)
				json_object_put(c->last_usage);
			c->last_usage = json_object_get(usage);
			c->last_cost = usage_cost(cfg, &res, usage);
			if (c->usage)
				print_usage_line(usage, c->last_cost);
		} else if (c->usage) {
			fprintf(stderr, "arouter: usage: %s reported no token counts\n", res.provider);
		}
	} else if (rc == EXIT_INTERRUPTED) {
		errorx("%s", pr.wrote_text ? "interrupted; the answer above is partial" : "interrupted");
	} else {
		errorx("%s", res.error);
	}
	json_object *u = completion_builder_usage(pr.b);
	record_turn(cfg, &res, u, rc, t0_wall, latency, pr.first_ms, c->stream, usage_cost(cfg, &res, u));
	json_object_put(result);
	completion_builder_free(pr.b);
	json_object_put(body);
	gateway_result_clear(&res);
	return rc;
}

/* ---- the interactive session ---- */

static const char *const repl_help[] = {
	"/model NAME    switch model (provider/model, backend:model, ...)",
	"/system TEXT   set the system prompt (empty clears it)",
	"/clear         forget the conversation",
	"/save FILE     write the conversation as JSON",
	"/usage         tokens of the last answer",
	"/help          this list",
	"/exit          leave (or Ctrl-D)",
	"End a line with \\ to continue it; \"\"\" starts and ends a multi-line block.",
	"Ctrl-C stops an answer while it streams.",
	NULL,
};

static bool repl_command(struct chat *c, const char *line)
{
	char *cmd = xstrdup(line + 1);
	char *arg = strchr(cmd, ' ');
	if (arg) {
		*arg++ = '\0';
		while (*arg == ' ')
			arg++;
	} else {
		arg = cmd + strlen(cmd);
	}
	bool quit = false;
	if (strcmp(cmd, "exit") == 0 || strcmp(cmd, "quit") == 0) {
		quit = true;
	} else if (strcmp(cmd, "model") == 0) {
		if (!*arg) {
			printf("model: %s\n", c->model ? c->model : "(default)");
		} else {
			struct route_target t;
			char *err = NULL;
			if (route_resolve(context_config(c->ctx), arg, &t, &err) < 0) {
				errorx("%s", err);
				free(err);
			} else {
				printf("model: %s (via %s)\n", t.display, t.provider->slug);
				route_target_clear(&t);
				free(c->model);
				c->model = xstrdup(arg);
			}
		}
	} else if (strcmp(cmd, "system") == 0) {
		free(c->system);
		c->system = *arg ? xstrdup(arg) : NULL;
		printf("system prompt %s\n", *arg ? "set" : "cleared");
	} else if (strcmp(cmd, "clear") == 0) {
		json_object_put(c->messages);
		c->messages = json_object_new_array();
		printf("conversation cleared\n");
	} else if (strcmp(cmd, "save") == 0) {
		if (!*arg)
			errorx("/save needs a file name");
		else {
			conversation_save_to(c, arg);
			printf("saved to %s\n", arg);
		}
	} else if (strcmp(cmd, "usage") == 0) {
		if (c->last_usage)
			print_usage_line(c->last_usage, c->last_cost);
		else
			printf("no usage yet\n");
	} else if (strcmp(cmd, "help") == 0) {
		for (size_t i = 0; repl_help[i]; i++)
			printf("%s\n", repl_help[i]);
	} else {
		const char *names[] = {"model", "system", "clear", "save", "usage", "help", "exit"};
		const char *hint = suggest(cmd, names, 7);
		if (hint)
			errorx("unknown command /%s (did you mean /%s?)", cmd, hint);
		else
			errorx("unknown command /%s (try /help)", cmd);
	}
	free(cmd);
	fflush(stdout);
	return quit;
}

/* Reads one prompt, joining continuation lines and """ blocks. NULL at EOF. */
static char *repl_read(void)
{
	char *line = readline("> ");
	if (!line)
		return NULL;
	struct buf b = BUF_INIT;
	if (strcmp(line, "\"\"\"") == 0) {
		free(line);
		while ((line = readline(". ")) && strcmp(line, "\"\"\"") != 0) {
			if (b.len)
				buf_putc(&b, '\n');
			buf_puts(&b, line);
			free(line);
		}
		free(line);
		return buf_steal(&b);
	}
	for (;;) {
		size_t n = strlen(line);
		bool more = n > 0 && line[n - 1] == '\\';
		if (more)
			line[n - 1] = '\0';
		if (b.len)
			buf_putc(&b, '\n');
		buf_puts(&b, line);
		free(line);
		if (!more || !(line = readline(". ")))
			break;
	}
	return buf_steal(&b);
}

static int repl(struct chat *c)
{
	char *state = xdg_dir("state");
	mkdir_p(state, 0700);
	char *hist = xasprintf("%s/history", state);
	free(state);
	using_history();
	read_history(hist);
	fprintf(stderr, "arouter chat (%s). /help for commands, Ctrl-D to leave.\n", c->model ? c->model : "default model");
	int rc = EXIT_OK;
	char *text;
	while ((text = repl_read()) != NULL) {
		const char *s = text;
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s) {
			free(text);
			continue;
		}
		add_history(text);
		if (*s == '/') {
			bool quit = repl_command(c, s);
			free(text);
			if (quit)
				break;
			continue;
		}
		add_message(c->messages, "user", json_object_new_string(text));
		free(text);
		int turn = chat_turn(c);
		if (turn != EXIT_OK) {
			/* The turn did not happen: forget its question. */
			json_object_array_del_idx(c->messages, json_object_array_length(c->messages) - 1, 1);
			rc = turn;
		} else {
			rc = EXIT_OK;
			if (c->save) {
				char *path = conversation_path();
				conversation_save_to(c, path);
				free(path);
			}
		}
	}
	write_history(hist);
	history_truncate_file(hist, 1000);
	chmod(hist, 0600);
	free(hist);
	return rc == EXIT_INTERRUPTED ? EXIT_OK : rc;
}

/* ---- options and the one-shot path ---- */

static long parse_seconds_env(const char *name)
{
	const char *v = getenv(name);
	if (str_empty(v))
		return 0;
	char *end;
	double s = strtod(v, &end);
	if (*end || s <= 0)
		die(EXIT_USAGE, "%s must be a positive number of seconds, not '%s'", name, v);
	return (long)(s * 1000);
}

static void set_param(struct chat *c, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		cmd_die_usage(&cmd_chat, "-o takes KEY=VALUE, not '%s'", kv);
	char *key = xstrndup(kv, (size_t)(eq - kv));
	json_object_object_add(c->params, key, route_typed_value(eq + 1));
	free(key);
}

static void set_number(struct chat *c, const char *key, const char *value, bool integer)
{
	char *end;
	errno = 0;
	if (integer) {
		long long n = strtoll(value, &end, 10);
		if (*end || errno || n <= 0)
			cmd_die_usage(&cmd_chat, "--max-tokens takes a positive integer, not '%s'", value);
		json_object_object_add(c->params, key, json_object_new_int64(n));
	} else {
		double d = strtod(value, &end);
		if (*end || errno || !*value || !isfinite(d))
			cmd_die_usage(&cmd_chat, "--%s takes a number, not '%s'", key, value);
		json_object_object_add(c->params, key, json_new_number(d));
	}
}

static int chat_exec(struct context *ctx, int argc, char **argv)
{
	struct chat c = {.ctx = ctx, .stream = true, .save = true};
	c.params = json_object_new_object();
	c.messages = json_object_new_array();
	int opt;
	while ((opt = cmd_getopt(ctx, &cmd_chat, argc, argv)) != -1) {
		switch (opt) {
		case 'm':
			free(c.model);
			c.model = xstrdup(optarg);
			break;
		case 's':
			free(c.system);
			c.system = xstrdup(optarg);
			break;
		case 'a':
			c.attach = xrealloc(c.attach, (c.n_attach + 1) * sizeof *c.attach);
			c.attach[c.n_attach++] = optarg;
			break;
		case 'o':
			set_param(&c, optarg);
			break;
		case OPT_TEMPERATURE:
			set_number(&c, "temperature", optarg, false);
			break;
		case OPT_MAX_TOKENS:
			set_number(&c, "max_tokens", optarg, true);
			break;
		case OPT_NO_STREAM:
			c.stream = false;
			break;
		case OPT_JSON:
			c.json = true;
			break;
		case 'u':
			c.usage = true;
			break;
		case 'c':
			c.cont = true;
			break;
		case OPT_NO_SAVE:
			c.save = false;
			break;
		case OPT_SHOW_REASONING:
			c.show_reasoning = true;
			break;
		}
	}
	c.idle_timeout_ms = parse_seconds_env("AROUTER_IDLE_TIMEOUT");
	c.total_timeout_ms = parse_seconds_env("AROUTER_TIMEOUT");
	context_config(ctx); /* a malformed config fails before anything else */
	if (c.model && !*c.model)
		die(EXIT_CONFIG, "chat: the model is empty (give -m PROVIDER/MODEL or set AROUTER_MODEL)");
	if (c.cont)
		conversation_load(&c);

	/* The prompt: arguments, then piped input after a blank line. */
	struct buf prompt = BUF_INIT;
	for (int i = optind; i < argc; i++) {
		if (prompt.len)
			buf_putc(&prompt, ' ');
		buf_puts(&prompt, argv[i]);
	}
	bool tty_in = isatty(STDIN_FILENO);
	if (!tty_in) {
		size_t len;
		char *piped = read_stream(STDIN_FILENO, &len);
		if (!piped)
			die(EXIT_FAILURE_GENERIC, "chat: cannot read standard input: %s", strerror(errno));
		if (strlen(piped) != len)
			die(EXIT_USAGE, "chat: standard input holds NUL bytes; attach binary files with -a");
		/* Trailing newlines of a pipe are not part of the question. */
		while (len > 0 && (piped[len - 1] == '\n' || piped[len - 1] == '\r'))
			piped[--len] = '\0';
		if (len > 0) {
			if (prompt.len)
				buf_puts(&prompt, "\n\n");
			buf_puts(&prompt, piped);
		}
		free(piped);
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);

	int rc;
	if (prompt.len == 0 && tty_in && isatty(STDOUT_FILENO)) {
		rc = repl(&c);
	} else if (prompt.len == 0) {
		die(EXIT_USAGE, "chat: empty prompt (give PROMPT arguments or pipe text in)");
	} else {
		add_message(c.messages, "user", user_content(&c, buf_str(&prompt)));
		rc = chat_turn(&c);
		if (rc == EXIT_OK && c.save) {
			char *path = conversation_path();
			conversation_save_to(&c, path);
			free(path);
		}
	}
	buf_free(&prompt);
	free(c.model);
	free(c.system);
	free(c.attach);
	json_object_put(c.params);
	json_object_put(c.messages);
	if (c.last_usage)
		json_object_put(c.last_usage);
	return rc;
}

const struct command cmd_chat = {
	.name = "chat",
	.summary = "chat with any model from the terminal or a pipe",
	.usage = chat_usage,
	.options = chat_options,
	.shortopts = "m:s:a:o:uc",
	.exec = chat_exec,
};
