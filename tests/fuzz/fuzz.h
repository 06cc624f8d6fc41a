/* fuzz.h - helpers shared by the libFuzzer targets in tests/fuzz/: cutting
 * one input into pieces, a deterministic PRNG seeded from the input for the
 * choices a target makes (split points, flags), JSON from raw bytes, and a
 * process environment that cannot reach a real provider or a user's files.
 *
 * Header-only: every helper is static, so each target is one .c file. */
#ifndef AROUTER_FUZZ_H
#define AROUTER_FUZZ_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A check that must hold whatever the input: abort so that libFuzzer
 * keeps the input as a crash. */
#define FUZZ_ASSERT(cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: fuzz assertion failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* FNV-1a over the input: seeds choices that should change when the input
 * does, so that a saved crash input replays the same choices. */
static inline uint64_t fuzz_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* splitmix64: small, good enough to pick split points. */
static inline uint64_t fuzz_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* The input as a NUL-terminated string (bytes after an embedded NUL are
 * kept but invisible to C string functions). Owned by the caller. */
static inline char *fuzz_strndup(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		abort();
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* Cuts the next piece off *p up to a separator byte sep (not included);
 * the rest follows it. The last piece is whatever is left. Returns a new
 * NUL-terminated string, owned by the caller. */
static inline char *fuzz_piece(const uint8_t **p, size_t *n, uint8_t sep)
{
	const uint8_t *at = *n ? memchr(*p, sep, *n) : NULL;
	size_t len = at ? (size_t)(at - *p) : *n;
	char *s = fuzz_strndup(*p, len);
	*p += len + (at ? 1 : 0);
	*n -= len + (at ? 1 : 0);
	return s;
}

/* JSON text as the proxy reads a request body: the whole text must be one
 * value (trailing whitespace allowed). NULL when it is not. Owned by the
 * caller (json_object_put). */
static inline json_object *fuzz_json(const uint8_t *p, size_t n)
{
	if (n == 0 || n > 1 << 20)
		return NULL;
	json_tokener *tok = json_tokener_new();
	json_object *o = json_tokener_parse_ex(tok, (const char *)p, (int)n);
	if (!o && json_tokener_get_error(tok) == json_tokener_continue)
		o = json_tokener_parse_ex(tok, "", 1); /* a bare number at the end */
	bool whole = o && json_tokener_get_error(tok) == json_tokener_success;
	if (whole) {
		for (size_t i = json_tokener_get_parse_end(tok); i < n; i++)
			if (p[i] != ' ' && p[i] != '\n' && p[i] != '\r' && p[i] != '\t')
				whole = false;
	}
	json_tokener_free(tok);
	if (!whole && o) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

/* Every variable that would select a real provider, gateway or the user's
 * own files is cleared, HOME and the XDG directories point nowhere, and the
 * few keys a target wants are set to fake values by the target itself. */
static inline void fuzz_env_init(void)
{
	static const char *const vars[] = {
		"AROUTER_CONFIG", "AROUTER_BASE_URL", "AROUTER_API_KEY", "AROUTER_MODEL",
		"AROUTER_DEFAULT_BACKEND", "AROUTER_ADMIN_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY",
		"GEMINI_API_KEY", "GOOGLE_API_KEY", "DEEPSEEK_API_KEY", "XAI_API_KEY", "MOONSHOT_API_KEY",
		"MINIMAX_API_KEY", "MISTRAL_API_KEY", "GROQ_API_KEY", "COHERE_API_KEY", "NVIDIA_API_KEY",
		"DASHSCOPE_API_KEY", "OPENROUTER_API_KEY", "XDG_CONFIG_HOME", "XDG_STATE_HOME",
		"XDG_DATA_HOME", "NO_COLOR",
	};
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
	setenv("HOME", "/nonexistent/arouter-fuzz", 1);
}

#ifdef AROUTER_SSE_H
/* What a client reads from the proxy: every event of an encoder's output
 * must carry JSON data (or OpenAI's "[DONE]"), however odd the chunks that
 * produced it. */
static inline int fuzz_check_event(const struct sse_event *ev, void *arg)
{
	(void)arg;
	if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0)
		return 0;
	FUZZ_ASSERT(ev->data_len == strlen(ev->data));
	json_object *o = json_tokener_parse(ev->data);
	if (!o || !json_object_is_type(o, json_type_object)) {
		fprintf(stderr, "encoder output event %s is not a JSON object: %.*s\n",
			ev->event ? ev->event : "(none)", (int)(ev->data_len > 300 ? 300 : ev->data_len), ev->data);
		abort();
	}
	json_object_put(o);
	return 0;
}

static inline void fuzz_check_sse_json(const char *s, size_t len)
{
	struct sse_parser *p = sse_parser_new(fuzz_check_event, NULL, 0);
	FUZZ_ASSERT(sse_parser_feed(p, s ? s : "", len) == 0);
	FUZZ_ASSERT(sse_parser_finish(p) == 0);
	sse_parser_free(p);
}
#endif

#endif
