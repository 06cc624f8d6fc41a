/* jsondiff.h - json_read (src/jsonr.c) against json-c's tokener on one
 * text, shared by tests/unit/test-jsonr.c and tests/fuzz/fuzz-json.c.
 *
 * The rules: json_read reads a text exactly when it is JSON (RFC 8259, as
 * a plain byte-by-byte validator here reads it, with json-c's two
 * departures: raw control bytes other than NUL in strings are kept, and
 * nesting stops at json-c's default depth); and where it reads one,
 * json-c reads the same tree from it (types, values, key order, a
 * double's text), but for the code points json-c 0.16 turns into U+FFFD
 * (jsondiff_jsonc_mangles). json-c's own strict mode is no oracle: 0.16's
 * lets single quotes, NaN, leading zeros and "1." by. */
#ifndef AROUTER_JSONDIFF_H
#define AROUTER_JSONDIFF_H

#include "jsonr.h"

#include <json-c/json.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* json-c on the whole text, in its default or strict mode: the tree, or
 * NULL with *ok false when it refuses (a text of null gives NULL, *ok). */
static inline json_object *jsondiff_jsonc(const char *text, size_t len, bool strict, bool *ok)
{
	*ok = false;
	if (len > INT32_MAX)
		return NULL;
	json_tokener *tok = json_tokener_new();
	if (!tok)
		return NULL;
	if (strict)
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	json_object *o = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error e = json_tokener_get_error(tok);
	if (!o && e == json_tokener_continue) {
		/* A bare scalar (or the last whitespace) ends at the end. */
		o = json_tokener_parse_ex(tok, "", 1);
		e = json_tokener_get_error(tok);
		*ok = e == json_tokener_success;
	} else if (e == json_tokener_success) {
		*ok = true;
		size_t end = json_tokener_get_parse_end(tok);
		for (size_t i = end; i < len; i++) {
			char c = text[i];
			if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
				*ok = false;
				break;
			}
		}
	}
	json_tokener_free(tok);
	if (!*ok && o) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

/* Whether a and b are the same tree; the first difference is described
 * in why. */
static inline bool jsondiff_same(json_object *a, json_object *b, char *why, size_t n)
{
	enum json_type ta = json_object_get_type(a), tb = json_object_get_type(b);
	if (ta != tb) {
		snprintf(why, n, "types %s and %s", json_type_to_name(ta), json_type_to_name(tb));
		return false;
	}
	switch (ta) {
	case json_type_null:
		return true;
	case json_type_boolean:
		if (json_object_get_boolean(a) != json_object_get_boolean(b))
			return snprintf(why, n, "booleans differ"), false;
		return true;
	case json_type_int:
		if (json_object_get_int64(a) != json_object_get_int64(b) ||
		    json_object_get_uint64(a) != json_object_get_uint64(b))
			return snprintf(why, n, "integers %s and %s", json_object_to_json_string(a),
					json_object_to_json_string(b)),
			       false;
		return true;
	case json_type_double: {
		double x = json_object_get_double(a), y = json_object_get_double(b);
		const char *sa = json_object_to_json_string(a), *sb = json_object_to_json_string(b);
		if (!(x == y || (isnan(x) && isnan(y))) || signbit(x) != signbit(y) || strcmp(sa, sb) != 0)
			return snprintf(why, n, "doubles %s and %s", sa, sb), false;
		return true;
	}
	case json_type_string: {
		int la = json_object_get_string_len(a), lb = json_object_get_string_len(b);
		if (la != lb || memcmp(json_object_get_string(a), json_object_get_string(b), (size_t)la) != 0)
			return snprintf(why, n, "strings of %d and %d bytes differ", la, lb), false;
		return true;
	}
	case json_type_array: {
		size_t na = json_object_array_length(a), nb = json_object_array_length(b);
		if (na != nb)
			return snprintf(why, n, "arrays of %zu and %zu", na, nb), false;
		for (size_t i = 0; i < na; i++)
			if (!jsondiff_same(json_object_array_get_idx(a, i), json_object_array_get_idx(b, i), why, n))
				return false;
		return true;
	}
	case json_type_object: {
		struct json_object_iterator ia = json_object_iter_begin(a), ea = json_object_iter_end(a);
		struct json_object_iterator ib = json_object_iter_begin(b), eb = json_object_iter_end(b);
		while (!json_object_iter_equal(&ia, &ea) && !json_object_iter_equal(&ib, &eb)) {
			if (strcmp(json_object_iter_peek_name(&ia), json_object_iter_peek_name(&ib)) != 0)
				return snprintf(why, n, "keys \"%.40s\" and \"%.40s\"", json_object_iter_peek_name(&ia),
						json_object_iter_peek_name(&ib)),
				       false;
			if (!jsondiff_same(json_object_iter_peek_value(&ia), json_object_iter_peek_value(&ib), why, n))
				return false;
			json_object_iter_next(&ia);
			json_object_iter_next(&ib);
		}
		if (!json_object_iter_equal(&ia, &ea) || !json_object_iter_equal(&ib, &eb))
			return snprintf(why, n, "objects of %d and %d members", json_object_object_length(a),
					json_object_object_length(b)),
			       false;
		return true;
	}
	}
	return true;
}

/* ---- an RFC 8259 validator, byte by byte: the oracle for what
 * json_read should read. Raw control bytes other than NUL are allowed in
 * strings (json-c's default mode keeps them, and so does json_read);
 * nesting stops where json-c's default depth (32) stops it. ---- */

struct jsondiff_v {
	const char *p, *end;
};

static inline void jsondiff_ws(struct jsondiff_v *v)
{
	while (v->p < v->end && (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r'))
		v->p++;
}

static inline bool jsondiff_lit(struct jsondiff_v *v, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(v->end - v->p) < n || memcmp(v->p, w, n) != 0)
		return false;
	v->p += n;
	return true;
}

static inline bool jsondiff_digits(struct jsondiff_v *v)
{
	const char *s = v->p;
	while (v->p < v->end && *v->p >= '0' && *v->p <= '9')
		v->p++;
	return v->p > s;
}

static inline bool jsondiff_string(struct jsondiff_v *v)
{
	v->p++; /* the opening quote */
	while (v->p < v->end) {
		char c = *v->p++;
		if (c == '"')
			return true;
		if (c == '\0')
			return false;
		if (c != '\\')
			continue;
		if (v->p >= v->end)
			return false;
		c = *v->p++;
		if (c == 'u') {
			for (int i = 0; i < 4; i++, v->p++)
				if (v->p >= v->end || !strchr("0123456789abcdefABCDEF", *v->p) || !*v->p)
					return false;
		} else if (!c || !strchr("\"\\/bfnrt", c)) {
			return false;
		}
	}
	return false;
}

static inline bool jsondiff_value(struct jsondiff_v *v, int depth)
{
	jsondiff_ws(v);
	if (v->p >= v->end)
		return false;
	char c = *v->p;
	if (c == '"')
		return jsondiff_string(v);
	if (c == '[' || c == '{') {
		char close = c == '[' ? ']' : '}';
		v->p++;
		jsondiff_ws(v);
		if (v->p < v->end && *v->p == close)
			return v->p++, true;
		for (;;) {
			if (c == '{') {
				jsondiff_ws(v);
				if (v->p >= v->end || *v->p != '"' || !jsondiff_string(v))
					return false;
				jsondiff_ws(v);
				if (v->p >= v->end || *v->p != ':')
					return false;
				v->p++;
			}
			if (depth >= 31 || !jsondiff_value(v, depth + 1))
				return false;
			jsondiff_ws(v);
			if (v->p < v->end && *v->p == ',') {
				v->p++;
				continue;
			}
			if (v->p < v->end && *v->p == close)
				return v->p++, true;
			return false;
		}
	}
	if (jsondiff_lit(v, "true") || jsondiff_lit(v, "false") || jsondiff_lit(v, "null"))
		return true;
	if (*v->p == '-')
		v->p++;
	if (v->p < v->end && *v->p == '0')
		v->p++;
	else if (!jsondiff_digits(v))
		return false;
	if (v->p < v->end && *v->p == '.') {
		v->p++;
		if (!jsondiff_digits(v))
			return false;
	}
	if (v->p < v->end && (*v->p == 'e' || *v->p == 'E')) {
		v->p++;
		if (v->p < v->end && (*v->p == '+' || *v->p == '-'))
			v->p++;
		if (!jsondiff_digits(v))
			return false;
	}
	return true;
}

/* Whether text is one JSON value with whitespace around it. */
static inline bool jsondiff_valid(const char *text, size_t len)
{
	struct jsondiff_v v = {text, text + len};
	if (!jsondiff_value(&v, 0))
		return false;
	jsondiff_ws(&v);
	return v.p == v.end;
}

/* The value of 4 hex digits at p (which holds at least 4 bytes), or -1.
 * Not sscanf: text is not NUL-terminated, and %x takes a sign or spaces. */
static inline int jsondiff_hex4(const char *p)
{
	int v = 0;
	for (int k = 0; k < 4; k++) {
		char c = p[k];
		int d = c >= '0' && c <= '9' ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* Whether text escapes a surrogate pair for a code point whose low 16
 * bits fall in D800-DFFF (U+1D800-U+1DFFF, U+2D800-U+2DFFF, ...):
 * json-c 0.16 tests the decoded code point for a surrogate and writes
 * U+FFFD for it, json_read writes the code point. */
static inline bool jsondiff_jsonc_mangles(const char *text, size_t len)
{
	for (size_t i = 0; i + 12 <= len; i++) {
		if (text[i] != '\\' || text[i + 1] != 'u' || text[i + 6] != '\\' || text[i + 7] != 'u')
			continue;
		int hi = jsondiff_hex4(text + i + 2), lo = jsondiff_hex4(text + i + 8);
		if (hi < 0 || lo < 0)
			continue;
		unsigned cp = (((unsigned)hi & 0x3ffu) << 10) + ((unsigned)lo & 0x3ffu) + 0x10000u;
		if ((hi & 0xfc00) == 0xd800 && (lo & 0xfc00) == 0xdc00 && (cp & 0xf800u) == 0xd800u)
			return true;
	}
	return false;
}

/* Checks the rules on text; NULL when they hold, else what broke them
 * (in why). *read tells whether json_read read it. */
static inline const char *jsondiff_check(const char *text, size_t len, bool *read, char *why, size_t n)
{
	const char *err;
	json_object *mine = json_read(text, len, &err);
	bool ok_lax, valid = jsondiff_valid(text, len);
	json_object *lax = jsondiff_jsonc(text, len, false, &ok_lax);
	const char *broke = NULL;
	*read = !err;
	if (!err) {
		if (!valid)
			broke = "json_read read a text that is not JSON";
		else if (!ok_lax)
			broke = "json_read read a text json-c refuses";
		else if (!jsondiff_same(mine, lax, why, n) && !jsondiff_jsonc_mangles(text, len))
			broke = "json_read and json-c read different trees";
	} else if (valid) {
		snprintf(why, n, "json_read: %s", err);
		broke = "json_read refused a JSON text";
	}
	json_object_put(mine);
	json_object_put(lax);
	return broke;
}

#endif
