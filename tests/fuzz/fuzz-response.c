/* fuzz-response.c - whole (non-streamed) upstream answers and upstream
 * errors: random bytes → upstream_error_parse (any dialect's error shape,
 * HTML, garbage) → the client's error body in each dialect
 * (ingress_error_body); and, when the bytes are a JSON object, the
 * response decoder of each dialect (dialect_response_to_canonical) → the
 * whole answer in each client dialect (ingress_response_from_canonical) and
 * the same answer replayed as a stream (completion_to_chunks → the stream
 * encoders), as the proxy does for a streaming client of a non-streaming
 * upstream.
 *
 * Input: the upstream's response body. An error's message and type must
 * be one line without control characters (they reach terminals and logs),
 * every client body JSON. */
#include "config.h"

#include "buf.h"
#include "dialect.h"
#include "gateway.h"
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

static const int statuses[] = {400, 401, 403, 404, 413, 429, 500, 502, 503, 529, 200, 0};

struct replay {
	struct stream_encoder *enc[DIALECT_COUNT];
	struct buf out[DIALECT_COUNT];
};

static int replay_chunk(json_object *chunk, void *arg)
{
	struct replay *r = arg;
	for (int c = 0; c < DIALECT_COUNT; c++)
		stream_encoder_chunk(r->enc[c], chunk, &r->out[c]);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t seed = fuzz_hash(data, size);
	char *text = fuzz_strndup(data, size);

	/* An error answer. */
	struct upstream_error ue;
	int status = statuses[seed % (sizeof statuses / sizeof statuses[0])];
	upstream_error_parse(status, text, size, &ue);
	/* Both are shown to people and written to logs as one line. */
	FUZZ_ASSERT(ue.message != NULL && !strpbrk(ue.message, "\r\n\033"));
	FUZZ_ASSERT(ue.type == NULL || !strpbrk(ue.type, "\r\n\033"));
	for (int c = 0; c < DIALECT_COUNT; c++) {
		int http = 0;
		char *body = ingress_error_body((enum dialect)c, status ? status : 502, ue.type, ue.message, &http);
		json_object *o = json_tokener_parse(body);
		FUZZ_ASSERT(o != NULL && json_object_is_type(o, json_type_object));
		FUZZ_ASSERT(http >= 100 && http <= 599);
		json_object_put(o);
		free(body);
	}
	upstream_error_clear(&ue);

	/* A whole answer, parsed as gateway.c does. */
	json_object *resp = json_tokener_parse(text);
	if (resp && json_object_is_type(resp, json_type_object)) {
		char *before = strdup(json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN));
		for (int d = 0; d < DIALECT_COUNT; d++) {
			char *err = NULL;
			json_object *canon = dialect_response_to_canonical((enum dialect)d, resp, "req-model", &err);
			if (!canon) {
				FUZZ_ASSERT(err != NULL);
				free(err);
				continue;
			}
			FUZZ_ASSERT(json_object_is_type(canon, json_type_object));
			for (int c = 0; c < DIALECT_COUNT; c++) {
				json_object *body = ingress_response_from_canonical((enum dialect)c, canon, "client-model");
				FUZZ_ASSERT(json_object_is_type(body, json_type_object));
				json_object_put(body);
			}
			struct replay r;
			for (int c = 0; c < DIALECT_COUNT; c++) {
				r.enc[c] = stream_encoder_new((enum dialect)c, "client-model", (seed >> c) & 1);
				r.out[c] = (struct buf)BUF_INIT;
			}
			FUZZ_ASSERT(completion_to_chunks(canon, replay_chunk, &r) == 0);
			for (int c = 0; c < DIALECT_COUNT; c++) {
				stream_encoder_finish(r.enc[c], &r.out[c]);
				fuzz_check_sse_json(r.out[c].data, r.out[c].len);
				stream_encoder_free(r.enc[c]);
				buf_free(&r.out[c]);
			}
			json_object_put(canon);
		}
		FUZZ_ASSERT(strcmp(before, json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN)) == 0);
		free(before);
	}
	json_object_put(resp);
	free(text);
	return 0;
}
