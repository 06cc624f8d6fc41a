/* fuzz-decode.c - an upstream's event stream through the proxy's whole
 * streaming path, for each dialect: random bytes → the SSE parser →
 * stream_decoder_event of the upstream dialect (dialect.h) → canonical
 * chunks → the completion builder (a whole answer from a stream) and the
 * stream encoder of each client dialect (ingress.h) → client SSE; then
 * stream_decoder_finish, the encoders' finish, the whole answer in each
 * client dialect, and for Anthropic the continuation of a passed-through
 * stream (stream_decoder_block_position → stream_encoder_resume).
 *
 * Input: raw SSE bytes (the seeds are recorded streams of the fake
 * upstream). The callback stops decoding after a chunk chosen from the
 * input's hash one time in four. Every chunk must be an object; every
 * client event must be JSON (fuzz_check_sse_json). */
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

struct run {
	struct stream_decoder *dec;
	struct completion_builder *b;
	struct stream_encoder *enc[DIALECT_COUNT];
	struct buf out[DIALECT_COUNT];
	int rc;       /* the decoder's last code other than STREAM_OK */
	bool done;    /* STREAM_DONE seen */
	size_t chunks;
	size_t stop_at; /* 0: never */
};

static int on_chunk(json_object *chunk, void *arg)
{
	struct run *r = arg;
	FUZZ_ASSERT(json_object_is_type(chunk, json_type_object));
	json_object *choices;
	FUZZ_ASSERT(json_object_object_get_ex(chunk, "choices", &choices) &&
		    json_object_is_type(choices, json_type_array));
	completion_builder_add(r->b, chunk);
	(void)completion_builder_usage(r->b);
	for (int d = 0; d < DIALECT_COUNT; d++)
		stream_encoder_chunk(r->enc[d], chunk, &r->out[d]);
	r->chunks++;
	return r->stop_at && r->chunks == r->stop_at ? 5 : 0;
}

static int on_event(const struct sse_event *ev, void *arg)
{
	struct run *r = arg;
	int rc = stream_decoder_event(r->dec, ev->event, ev->data, ev->data_len);
	if (rc == STREAM_DONE) {
		r->done = true;
		return 0; /* later events must be ignored: keep feeding them */
	}
	if (rc != STREAM_OK) {
		FUZZ_ASSERT(rc == STREAM_ERROR || rc == 5);
		if (rc == STREAM_ERROR)
			FUZZ_ASSERT(stream_decoder_error(r->dec) != NULL);
		r->rc = rc;
		return 1;
	}
	return 0;
}

static void run_dialect(enum dialect d, const uint8_t *data, size_t size, uint64_t seed)
{
	struct run r;
	memset(&r, 0, sizeof r);
	r.dec = stream_decoder_new(d, "req-model", on_chunk, &r);
	r.b = completion_builder_new();
	for (int c = 0; c < DIALECT_COUNT; c++)
		r.enc[c] = stream_encoder_new((enum dialect)c, "client-model", (seed >> c) & 1);
	if ((seed & 0x300) == 0)
		r.stop_at = 1 + (seed >> 10) % 8;

	struct sse_parser *p = sse_parser_new(on_event, &r, 0);
	int prc = sse_parser_feed(p, (const char *)data, size);
	if (prc == 0)
		prc = sse_parser_finish(p);
	sse_parser_free(p);
	FUZZ_ASSERT(prc == 0 || prc == 1);

	int frc = r.rc;
	if (!frc && !r.done) {
		frc = stream_decoder_finish(r.dec);
		FUZZ_ASSERT(frc == STREAM_DONE || frc == STREAM_ERROR || frc == 5);
	}
	(void)stream_decoder_error_status(r.dec);

	int64_t next = 0, open = 0;
	bool open_text = false;
	bool have_pos = stream_decoder_block_position(r.dec, &next, &open, &open_text);
	FUZZ_ASSERT(have_pos == (d == DIALECT_ANTHROPIC));

	for (int c = 0; c < DIALECT_COUNT; c++) {
		if (frc == STREAM_ERROR && (seed >> (12 + c)) & 1) {
			int st = stream_decoder_error_status(r.dec);
			const char *msg = stream_decoder_error(r.dec);
			stream_encoder_error(r.enc[c], st ? st : 502, msg ? msg : "unreadable event", &r.out[c]);
		}
		stream_encoder_finish(r.enc[c], &r.out[c]);
		stream_encoder_finish(r.enc[c], &r.out[c]); /* idempotent */
		fuzz_check_sse_json(r.out[c].data, r.out[c].len);
		stream_encoder_free(r.enc[c]);
		buf_free(&r.out[c]);
	}

	/* The answer as a whole, as a non-streaming client gets it. */
	json_object *completion = completion_builder_result(r.b);
	FUZZ_ASSERT(json_object_is_type(completion, json_type_object));
	for (int c = 0; c < DIALECT_COUNT; c++) {
		json_object *body = ingress_response_from_canonical((enum dialect)c, completion, "client-model");
		FUZZ_ASSERT(json_object_is_type(body, json_type_object));
		FUZZ_ASSERT(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN) != NULL);
		json_object_put(body);
	}
	json_object_put(completion);
	completion_builder_free(r.b);

	/* Another upstream continues a stream the client got passed through. */
	if (have_pos) {
		struct stream_encoder *e = stream_encoder_new(DIALECT_ANTHROPIC, "client-model", false);
		struct buf out = BUF_INIT;
		stream_encoder_resume(e, next, open, open_text, &out);
		json_object *chunk = json_tokener_parse(
			"{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
			"\"choices\":[{\"index\":0,\"delta\":{\"content\":\"more\"},\"finish_reason\":\"stop\"}]}");
		stream_encoder_chunk(e, chunk, &out);
		json_object_put(chunk);
		stream_encoder_finish(e, &out);
		fuzz_check_sse_json(out.data, out.len);
		buf_free(&out);
		stream_encoder_free(e);
	}
	stream_decoder_free(r.dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t seed = fuzz_hash(data, size);
	for (int d = 0; d < DIALECT_COUNT; d++) {
		run_dialect((enum dialect)d, data, size, seed);
		seed = fuzz_rand(&seed);
	}
	return 0;
}
