/* fuzz-ingress.c - a client's request in each ingress dialect (ingress.h:
 * OpenAI Chat Completions, Anthropic Messages, Gemini generateContent)
 * converted to the canonical request, then on to each egress dialect
 * (dialect.h), which is the proxy's path for a translated request.
 *
 * Input: a JSON object, as the proxy accepts a request body (it answers
 * 400 to anything else before converting). Gemini takes the model and
 * stream flag from the URL; they are chosen from the input's hash. The body
 * must not be modified, a conversion must give an object or NULL with an
 * error, and the ingress error bodies must be JSON for any message. */
#include "config.h"

#include "dialect.h"
#include "ingress.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_env_init();
	return 0;
}

static const char *const url_models[] = {"gemini-2.5-flash", "", "models/x", "a%2Fb"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_object *body = fuzz_json(data, size);
	if (!body)
		return 0;
	if (!json_object_is_type(body, json_type_object)) {
		json_object_put(body);
		return 0;
	}
	uint64_t seed = fuzz_hash(data, size);
	char *before = strdup(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN));
	for (int in = 0; in < DIALECT_COUNT; in++) {
		char *err = NULL;
		json_object *canon = ingress_request_to_canonical((enum dialect)in, body, url_models[seed % 4],
								  (seed >> 2) & 1, &err);
		seed = fuzz_rand(&seed);
		if (!canon) {
			FUZZ_ASSERT(err != NULL);
			/* The proxy answers the error in the client's dialect. */
			int status = 0;
			char *eb = ingress_error_body((enum dialect)in, 400, "invalid_request_error", err, &status);
			json_object *e = json_tokener_parse(eb);
			FUZZ_ASSERT(e != NULL && status == 400);
			json_object_put(e);
			free(eb);
			free(err);
			continue;
		}
		FUZZ_ASSERT(json_object_is_type(canon, json_type_object));
		char *canon_before = strdup(json_object_to_json_string_ext(canon, JSON_C_TO_STRING_PLAIN));
		for (int out = 0; out < DIALECT_COUNT; out++) {
			struct egress_opts o = {.model = "up-model", .stream = (seed >> out) & 1,
						.default_max_tokens = 4096};
			char *e2 = NULL;
			json_object *r = dialect_build_request((enum dialect)out, canon, &o, &e2);
			if (r) {
				FUZZ_ASSERT(json_object_is_type(r, json_type_object));
				FUZZ_ASSERT(json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN) != NULL);
				json_object_put(r);
			} else {
				FUZZ_ASSERT(e2 != NULL);
			}
			free(e2);
		}
		FUZZ_ASSERT(strcmp(canon_before, json_object_to_json_string_ext(canon, JSON_C_TO_STRING_PLAIN)) == 0);
		free(canon_before);
		json_object_put(canon);
	}
	FUZZ_ASSERT(strcmp(before, json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN)) == 0);
	free(before);
	json_object_put(body);
	return 0;
}
