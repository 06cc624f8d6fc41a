/* fuzz-egress.c - the request builders of dialect.h on random JSON: a
 * canonical (OpenAI Chat Completions) request converted into the OpenAI,
 * Anthropic and Gemini request bodies, streamed and not.
 *
 * Input: JSON text, used as the canonical request whatever its type (the
 * builders must refuse what is not a request with an error, never crash).
 * The builders must not modify their input, and must return either an
 * object or NULL with an error message. */
#include "config.h"

#include "dialect.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_env_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_object *canon = fuzz_json(data, size);
	if (!canon)
		return 0;
	uint64_t seed = fuzz_hash(data, size);
	char *before = strdup(json_object_to_json_string_ext(canon, JSON_C_TO_STRING_PLAIN));
	for (int d = 0; d < DIALECT_COUNT; d++) {
		for (int stream = 0; stream < 2; stream++) {
			struct egress_opts o = {
				.model = (seed >> (d * 2 + stream)) & 1 ? "up-model" : "m",
				.stream = stream,
				.default_max_tokens = (seed & 4) ? 1024 : 0,
			};
			char *err = NULL;
			json_object *r = dialect_build_request((enum dialect)d, canon, &o, &err);
			if (r) {
				FUZZ_ASSERT(json_object_is_type(r, json_type_object));
				FUZZ_ASSERT(json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN) != NULL);
				json_object_put(r);
			} else {
				FUZZ_ASSERT(err != NULL);
			}
			free(err);
		}
	}
	FUZZ_ASSERT(strcmp(before, json_object_to_json_string_ext(canon, JSON_C_TO_STRING_PLAIN)) == 0);
	free(before);
	json_object_put(canon);
	return 0;
}
