/* jsonr.h - a JSON reader that builds json-c trees, fast.
 *
 * json-c's tokener is a state machine that looks at every byte in turn,
 * about 27 instructions a byte of a request; a 256 KiB conversation costs
 * 7 million instructions before anything else is done with it. json_read
 * takes runs of string bytes eight at a time and builds the same json-c
 * objects, so everything downstream is unchanged.
 *
 * It reads RFC 8259 JSON. Where json-c's default mode is laxer it is
 * stricter: no comments, single quotes, trailing commas, NaN, Infinity,
 * leading zeros or capitalised literals. Where both read a text, the tree
 * is the same, down to the details: control bytes inside strings are kept
 * as they are, but for NUL, which is refused (as json-c does both), a
 * lone or unpaired surrogate escape
 * becomes U+FFFD, a key ends at its first NUL, the last of duplicate keys
 * wins in the first one's place, integers saturate at the int64/uint64
 * limits, a number with a fraction or exponent is a double that keeps its
 * text, and nesting stops at json-c's default depth (32). */
#ifndef AROUTER_JSONR_H
#define AROUTER_JSONR_H

#include <json-c/json.h>
#include <stddef.h>

/* One JSON value in text[0..len), with whitespace around it and nothing
 * else. Returns a new tree (NULL for JSON null, as json-c), or NULL with
 * *err set to a static message; *err is NULL on success (err may be
 * NULL). */
json_object *json_read(const char *text, size_t len, const char **err);

#endif
