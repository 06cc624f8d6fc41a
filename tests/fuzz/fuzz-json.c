/* fuzz-json.c - json_read (src/jsonr.c), the reader of client request
 * bodies, against json-c's tokener on the same bytes (tests/jsondiff.h):
 * where json_read reads a text json-c reads the same tree; where it
 * refuses one json-c reads, json-c's strict mode refuses it too (but for
 * raw control bytes in strings and lax numbers, which json-c's strict
 * mode lets by or json_read keeps). Then json_write of the tree must be
 * json-c's text of it, and read back the same tree. */
#include "config.h"

#include "buf.h"
#include "jsonr.h"
#include "jsonw.h"
#include "fuzz.h"
#include "../jsondiff.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	char why[200] = "";
	bool read;
	const char *broke = jsondiff_check(text, size, &read, why, sizeof why);
	if (broke) {
		fprintf(stderr, "%s: %s\n", broke, why);
		abort();
	}
	if (!read)
		return 0;
	json_object *o = json_read(text, size, NULL);
	struct buf b = BUF_INIT;
	json_write(&b, o);
	const char *ref = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	FUZZ_ASSERT(strlen(ref) == b.len && memcmp(ref, buf_str(&b), b.len) == 0);
	const char *err;
	json_object *again = json_read(buf_str(&b), b.len, &err);
	FUZZ_ASSERT(!err);
	FUZZ_ASSERT(jsondiff_same(o, again, why, sizeof why));
	json_object_put(again);
	json_object_put(o);
	buf_free(&b);
	return 0;
}
