/* gateway.h - the pipeline that sends one model request: route → egress
 * dialect → upstream (or the built-in mock) → stream decoder → canonical
 * chunks. The CLI's `chat` calls it; the proxy reuses the same pieces. */
#ifndef AROUTER_GATEWAY_H
#define AROUTER_GATEWAY_H

#include "conf.h"
#include "dialect.h"

#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>

struct gateway_request {
	const struct config *config;
	json_object *body;              /* canonical request (OpenAI chat JSON); borrowed, not modified */
	const char *model;              /* model string; NULL or "" for the configured default */
	bool stream;
	chunk_cb on_chunk;              /* receives every canonical chunk, streamed or not */
	void *arg;
	volatile sig_atomic_t *cancel;  /* set asynchronously (SIGINT) to abort */
	long idle_timeout_ms;           /* 0: default */
	long total_timeout_ms;          /* 0: none */
};

struct gateway_result {
	int exit_code;       /* EXIT_OK or the failure class from util.h */
	char *error;         /* one line, e.g. "anthropic: 429 rate limited, retry after 20s"; owned */
	int status;          /* the upstream's HTTP status, 0 if none */
	char *provider;      /* slug that was asked; owned */
	char *model;         /* model name it was sent; owned */
	char *display;       /* "provider/model" as resolved; owned */
	bool mock_fallback;  /* answered by mock because no key exists */
	bool partial;        /* some output was delivered before the failure */
};

/* Sends the request. Returns res->exit_code; res must be cleared with
 * gateway_result_clear in every case. */
int gateway_chat(const struct gateway_request *req, struct gateway_result *res);
void gateway_result_clear(struct gateway_result *res);

/* Builds a canonical "chat.completion" from canonical chunks: text and
 * reasoning concatenated, tool calls merged by index, finish reason and
 * usage kept. Owned by the caller; free with completion_builder_free. */
struct completion_builder;
struct completion_builder *completion_builder_new(void);
void completion_builder_add(struct completion_builder *b, json_object *chunk);
/* The completion so far; the returned object is owned by the caller. */
json_object *completion_builder_result(const struct completion_builder *b);
/* The text so far (borrowed, valid until the next add). */
const char *completion_builder_text(const struct completion_builder *b);
void completion_builder_free(struct completion_builder *b);

/* Feeds a canonical "chat.completion" to cb as the chunks a stream of it
 * would have produced (content, reasoning, tool calls, finish, usage).
 * Returns the callback's first non-zero return, else 0. */
int completion_to_chunks(json_object *completion, chunk_cb cb, void *arg);

#endif
