/* jsonr.c - see jsonr.h. A recursive descent over the text, bounded by
 * MAX_DEPTH, that hands each value to json-c's constructors. */
#include "config.h"

#include "jsonr.h"

#include "buf.h"
#include "jsonscan.h"
#include "util.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* json-c's JSON_TOKENER_DEFAULT_DEPTH: a value inside a container at
 * depth MAX_DEPTH - 1 is refused. */
#define MAX_DEPTH 32

struct reader {
	const char *p, *end;
	const char *err;
	struct buf text; /* a string being unescaped, or a key */
};

static json_object *value(struct reader *r, int depth);

static void *fail(struct reader *r, const char *msg)
{
	if (!r->err)
		r->err = msg;
	return NULL;
}

static void skip_ws(struct reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
		r->p++;
}

/* The first '"', '\\' or NUL in [p, end), or end. */
static const char *string_stop(const char *p, const char *end)
{
#if JSON_SCAN16
	while (end - p >= 16) {
		unsigned k = json_scan16(p, 1);
		if (k < 16)
			return p + k;
		p += 16;
	}
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	while (end - p >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
		/* The lowest flagged byte is exact (a borrow only carries up). */
		uint64_t m = ((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones) & ~w);
		m &= highs;
		if (m)
			return p + __builtin_ctzll(m) / 8;
		p += 8;
	}
#endif
	while (p < end && *p != '"' && *p != '\\' && *p)
		p++;
	return p;
}

static int hex4(const char *p)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		v = v << 4 | d;
	}
	return v;
}

/* Writes cp as UTF-8 at d; returns the bytes written (1 to 4). */
static size_t put_utf8(char *d, unsigned cp)
{
	unsigned char *u = (unsigned char *)d;
	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	u[0] = (unsigned char)(0xf0 | (cp >> 18 & 0x07));
	u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	u[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

#define REPLACEMENT 0xfffd
#define IS_HIGH(c) ((c) >= 0xd800 && (c) <= 0xdbff)
#define IS_LOW(c) ((c) >= 0xdc00 && (c) <= 0xdfff)

/* The \u escape at *pp (on its backslash), written at *dp; both move on.
 * A high surrogate pairs with a low one that follows, as json-c pairs
 * them; a lone one becomes U+FFFD. Every form is shorter written than
 * read (6 bytes for at most 3, 12 for 4), so the output never overtakes
 * the input. */
static bool unicode_escape(struct reader *r, const char **pp, char **dp)
{
	const char *p = *pp;
	char *d = *dp;
	if (r->end - p < 6)
		return fail(r, "a \\u escape is cut short"), false;
	int cp = hex4(p + 2);
	if (cp < 0)
		return fail(r, "a \\u escape is not four hex digits"), false;
	p += 6;
	for (;;) {
		if (!IS_HIGH(cp)) {
			d += put_utf8(d, IS_LOW(cp) ? REPLACEMENT : (unsigned)cp);
			break;
		}
		/* Only another \u can complete it; anything else leaves it lone. */
		if (r->end - p < 2 || p[0] != '\\' || p[1] != 'u') {
			d += put_utf8(d, REPLACEMENT);
			break;
		}
		if (r->end - p < 6)
			return fail(r, "a \\u escape is cut short"), false;
		int next = hex4(p + 2);
		if (next < 0)
			return fail(r, "a \\u escape is not four hex digits"), false;
		p += 6;
		if (IS_LOW(next)) {
			d += put_utf8(d, 0x10000 + (((unsigned)cp - 0xd800) << 10) + ((unsigned)next - 0xdc00));
			break;
		}
		d += put_utf8(d, REPLACEMENT);
		cp = next; /* itself perhaps a high one */
	}
	*pp = p;
	*dp = d;
	return true;
}

/* A string at r->p (after its opening quote). Without escapes it is
 * [*s, *s + *len) of the text; with them, r->text holds it unescaped
 * and *s points there. */
static bool string(struct reader *r, const char **s, size_t *len)
{
	const char *start = r->p, *end = r->end, *q = string_stop(start, end);
	if (q < end && *q == '"') {
		*s = start;
		*len = (size_t)(q - start);
		r->p = q + 1;
		return true;
	}
	/* Unescaped in place, copied as it is scanned: the string is never
	 * longer than what is left of the text (escapes shrink), plus 16 for
	 * a whole block written past its end. */
	buf_reset(&r->text);
	char *d0 = buf_space(&r->text, (size_t)(end - start) + 16), *d = d0;
	const char *p = start;
	for (;;) {
#if JSON_SCAN16
		while (end - p >= 16) {
			memcpy(d, p, 16);
			unsigned k = json_scan16(p, 1);
			p += k;
			d += k;
			if (k < 16)
				goto stop;
		}
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
		while (end - p >= 8) {
			uint64_t w;
			memcpy(&w, p, 8);
			memcpy(d, &w, 8);
			uint64_t qq = w ^ (ones * '"'), b = w ^ (ones * '\\');
			uint64_t m = (((qq - ones) & ~qq) | ((b - ones) & ~b) | ((w - ones) & ~w)) & highs;
			if (m) {
				size_t k = (size_t)__builtin_ctzll(m) / 8;
				p += k;
				d += k;
				goto stop;
			}
			p += 8;
			d += 8;
		}
#endif
		while (p < end && *p != '"' && *p != '\\' && *p)
			*d++ = *p++;
		if (p == end)
			return fail(r, "a string has no closing quote"), false;
#if JSON_SCAN16 || (defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
	stop:
#endif
		if (*p == '"')
			break;
		if (!*p)
			return fail(r, "a string holds a NUL byte"), false;
		if (end - p < 2)
			return fail(r, "a string has no closing quote"), false;
		char c;
		switch (p[1]) {
		case '"':
		case '\\':
		case '/':
			c = p[1];
			break;
		case 'b':
			c = '\b';
			break;
		case 'f':
			c = '\f';
			break;
		case 'n':
			c = '\n';
			break;
		case 'r':
			c = '\r';
			break;
		case 't':
			c = '\t';
			break;
		case 'u':
			if (!unicode_escape(r, &p, &d))
				return false;
			continue;
		default:
			return fail(r, "a string holds an unknown escape"), false;
		}
		*d++ = c;
		p += 2;
	}
	buf_commit(&r->text, (size_t)(d - d0));
	r->p = p + 1; /* past the closing quote */
	*s = buf_str(&r->text);
	*len = r->text.len;
	return true;
}

static bool is_digit(const char *p, const char *end)
{
	return p < end && *p >= '0' && *p <= '9';
}

static json_object *number(struct reader *r)
{
	const char *s = r->p, *p = s, *end = r->end;
	bool dbl = false;
	if (p < end && *p == '-')
		p++;
	if (!is_digit(p, end))
		return fail(r, "a value is not JSON");
	if (*p == '0')
		p++;
	else
		while (is_digit(p, end))
			p++;
	if (p < end && *p == '.') {
		dbl = true;
		if (!is_digit(++p, end))
			return fail(r, "a number has no digits after its point");
		while (is_digit(p, end))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		dbl = true;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (!is_digit(p, end))
			return fail(r, "a number has no digits in its exponent");
		while (is_digit(p, end))
			p++;
	}
	r->p = p;
	size_t n = (size_t)(p - s);
	char small[64], *t = n < sizeof small ? small : xmalloc(n + 1);
	memcpy(t, s, n);
	t[n] = '\0';
	json_object *o;
	/* As json-c: out-of-range integers saturate, a double keeps its text. */
	if (dbl)
		o = json_object_new_double_s(strtod(t, NULL), t);
	else if (*t == '-')
		o = json_object_new_int64(strtoll(t, NULL, 10));
	else {
		unsigned long long u = strtoull(t, NULL, 10);
		o = u <= INT64_MAX ? json_object_new_int64((int64_t)u) : json_object_new_uint64(u);
	}
	if (t != small)
		free(t);
	return o;
}

static bool literal(struct reader *r, const char *word, size_t n)
{
	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return false;
	r->p += n;
	return true;
}

/* After an array element or object member: 1 at a ',' (more follow),
 * 0 at close (the end), -1 at anything else; r->p moves past either. */
static int after_member(struct reader *r, char close)
{
	skip_ws(r);
	if (r->p < r->end && (*r->p == ',' || *r->p == close))
		return *r->p++ == ',';
	return -1;
}

static json_object *array(struct reader *r, int depth)
{
	json_object *a = json_object_new_array();
	skip_ws(r);
	if (r->p < r->end && *r->p == ']') {
		r->p++;
		return a;
	}
	for (;;) {
		if (depth >= MAX_DEPTH - 1) {
			json_object_put(a);
			return fail(r, "the JSON is nested too deeply");
		}
		json_object *v = value(r, depth + 1);
		if (!v && r->err) {
			json_object_put(a);
			return NULL;
		}
		json_object_array_add(a, v);
		int more = after_member(r, ']');
		if (more > 0)
			continue;
		if (more == 0)
			return a;
		json_object_put(a);
		return fail(r, "an array is missing a ',' or ']'");
	}
}

static json_object *object(struct reader *r, int depth)
{
	json_object *o = json_object_new_object();
	skip_ws(r);
	if (r->p < r->end && *r->p == '}') {
		r->p++;
		return o;
	}
	for (;;) {
		skip_ws(r);
		const char *k;
		size_t klen;
		if (r->p >= r->end || *r->p != '"') {
			json_object_put(o);
			return fail(r, "an object key is not a string");
		}
		r->p++;
		if (!string(r, &k, &klen)) {
			json_object_put(o);
			return NULL;
		}
		/* A key is a C string, cut at its first NUL as json-c keeps it;
		 * copied, since the value may reuse r->text. */
		char small[64], *key = klen < sizeof small ? small : xmalloc(klen + 1);
		memcpy(key, k, klen);
		key[klen] = '\0';
		skip_ws(r);
		json_object *v = NULL;
		if (r->p >= r->end || *r->p != ':')
			fail(r, "an object key has no ':'");
		else if (depth >= MAX_DEPTH - 1)
			fail(r, "the JSON is nested too deeply");
		else
			r->p++, v = value(r, depth + 1);
		if (!r->err)
			json_object_object_add(o, key, v);
		if (key != small)
			free(key);
		if (r->err) {
			json_object_put(o);
			return NULL;
		}
		int more = after_member(r, '}');
		if (more > 0)
			continue;
		if (more == 0)
			return o;
		json_object_put(o);
		return fail(r, "an object is missing a ',' or '}'");
	}
}

/* The value at r->p (after whitespace). NULL is either JSON null (r->err
 * unset) or a failure. */
static json_object *value(struct reader *r, int depth)
{
	skip_ws(r);
	if (r->p >= r->end)
		return fail(r, "the JSON ends where a value should be");
	switch (*r->p) {
	case '{':
		r->p++;
		return object(r, depth);
	case '[':
		r->p++;
		return array(r, depth);
	case '"': {
		r->p++;
		const char *s;
		size_t len;
		if (!string(r, &s, &len))
			return NULL;
		return json_object_new_string_len(s, (int)len);
	}
	case 't':
		if (literal(r, "true", 4))
			return json_object_new_boolean(1);
		break;
	case 'f':
		if (literal(r, "false", 5))
			return json_object_new_boolean(0);
		break;
	case 'n':
		if (literal(r, "null", 4))
			return NULL;
		break;
	default:
		return number(r);
	}
	return fail(r, "a value is not JSON");
}

json_object *json_read(const char *text, size_t len, const char **err)
{
	struct reader r = {text, text + len, NULL, BUF_INIT};
	if (len > INT32_MAX)
		r.err = "the JSON is too large";
	json_object *o = r.err ? NULL : value(&r, 0);
	if (!r.err) {
		skip_ws(&r);
		if (r.p != r.end) {
			json_object_put(o);
			o = NULL;
			r.err = "the JSON has more after its value";
		}
	}
	buf_free(&r.text);
	if (err)
		*err = r.err;
	return o;
}
