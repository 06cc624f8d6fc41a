/* fuzz-json.c - json_read (src/jsonr.c), the reader of client request
 * bodies, on any bytes, by the rules of tests/jsondiff.h: it reads a text
 * exactly when the RFC 8259 validator there does (raw control bytes other
 * than NUL kept, json-c's nesting depth), and then json-c reads the same
 * tree from it (but for the code points json-c 0.16 turns into U+FFFD).
 * Then json_write of the tree must be json-c's text of it, and read back
 * the same tree. */
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
