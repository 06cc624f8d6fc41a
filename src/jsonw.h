/* jsonw.h - JSON text from a json-c tree, fast.
 *
 * json_write appends exactly what json_object_to_json_string_ext(o,
 * JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) returns, byte
 * for byte, at a fraction of the cost on text: json-c escapes one byte at
 * a time through its printbuf (about 19 instructions a byte), json_write
 * copies runs that need no escape whole. Doubles are written by json-c
 * itself, so a number parsed from a request keeps its original text. */
#ifndef AROUTER_JSONW_H
#define AROUTER_JSONW_H

#include <json-c/json.h>

#include "buf.h"

/* Appends o (NULL: null) to out. Each string is written a block at a
 * time into room for the block's worst case: with this much room beyond
 * the text's length reserved, out never grows. */
#define JSON_WRITE_BLOCK_ROOM (6 * 4096 + 8 + 2)
void json_write(struct buf *out, json_object *o);

/* A new json-c double for a computed value, owned by the caller, carrying
 * as its text the first %g form of 15, 16 or 17 significant digits that
 * reads back as exactly d: 0.4, not json-c's 0.40000000000000002, and
 * ".0" after a whole number as json-c writes it. json-c and json_write
 * both print that text. JSON has no NaN or Infinity: a d that is not
 * finite gives NULL (null). */
json_object *json_new_number(double d);

#endif
