/* fuzz-encode.c - the stream encoders of ingress.h on random canonical
 * chunks: each chunk goes to the OpenAI, Anthropic and Gemini encoders
 * (stream_encoder_chunk), then an in-stream error or the finish, as the
 * proxy writes a translated stream to its client. The Anthropic encoder is
 * sometimes started as the continuation of a passed-through stream
 * (stream_encoder_resume) with block positions taken from the input.
 *
 * Input: one JSON value per line (lines that are not JSON are skipped),
 * each a canonical chunk; the encoders must cope with any JSON, not only
 * the decoders' well-formed chunks. Chunks must not be modified, and every
 * event the client gets must carry JSON (fuzz_check_sse_json). */
#include "config.h"

#include "buf.h"
#include "dialect.h"
#include "ingress.h"
#include "sse.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_env_init();
	return 0;
}

static const int error_statuses[] = {429, 500, 502, 503, 529, 400};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t seed = fuzz_hash(data, size);
	struct stream_encoder *enc[DIALECT_COUNT];
	struct buf out[DIALECT_COUNT];
	for (int c = 0; c < DIALECT_COUNT; c++) {
		enc[c] = stream_encoder_new((enum dialect)c, "client-model", (seed >> c) & 1);
		out[c] = (struct buf)BUF_INIT;
	}
	if ((seed >> 3) & 1) {
		/* Positions as a passed-through Anthropic stream may leave them. */
		int64_t next = (int64_t)((seed >> 8) % 5);
		int64_t open = (int64_t)((seed >> 16) % 4) - 1;
		if (open >= next)
			open = next - 1;
		stream_encoder_resume(enc[DIALECT_ANTHROPIC], next, open, (seed >> 24) & 1, &out[DIALECT_ANTHROPIC]);
	}

	const uint8_t *p = data;
	size_t n = size;
	while (n > 0) {
		const uint8_t *nl = memchr(p, '\n', n);
		size_t len = nl ? (size_t)(nl - p) : n;
		json_object *chunk = fuzz_json(p, len);
		p += len + (nl ? 1 : 0);
		n -= len + (nl ? 1 : 0);
		if (!chunk)
			continue;
		char *before = strdup(json_object_to_json_string_ext(chunk, JSON_C_TO_STRING_PLAIN));
		for (int c = 0; c < DIALECT_COUNT; c++)
			stream_encoder_chunk(enc[c], chunk, &out[c]);
		FUZZ_ASSERT(strcmp(before, json_object_to_json_string_ext(chunk, JSON_C_TO_STRING_PLAIN)) == 0);
		free(before);
		json_object_put(chunk);
	}

	for (int c = 0; c < DIALECT_COUNT; c++) {
		if ((seed >> (30 + c)) & 1) {
			int st = error_statuses[(seed >> 40) % 6];
			stream_encoder_error(enc[c], st, "upstream \"failed\"\nbadly", &out[c]);
		}
		stream_encoder_finish(enc[c], &out[c]);
		fuzz_check_sse_json(out[c].data, out[c].len);
		stream_encoder_free(enc[c]);
		buf_free(&out[c]);
	}
	return 0;
}
