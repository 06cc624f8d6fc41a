/* jsonw.c - see jsonw.h. */
#include "config.h"

#include "jsonw.h"

#include "jsonscan.h"
#include "util.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What each byte becomes inside a JSON string: 0 itself, 'u' \u00XX, any
 * other the letter after a backslash. As json-c: the C0 controls, '"' and
 * '\\'; '/' stays (NOSLASHESCAPE); DEL and bytes over 0x7f stay. */
static const unsigned char escape_of[256] = {
	['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', ['\f'] = 'f', ['\r'] = 'r',
	[0x00] = 'u', [0x01] = 'u', [0x02] = 'u', [0x03] = 'u', [0x04] = 'u', [0x05] = 'u', [0x06] = 'u',
	[0x07] = 'u', [0x0b] = 'u', [0x0e] = 'u', [0x0f] = 'u', [0x10] = 'u', [0x11] = 'u', [0x12] = 'u',
	[0x13] = 'u', [0x14] = 'u', [0x15] = 'u', [0x16] = 'u', [0x17] = 'u', [0x18] = 'u', [0x19] = 'u',
	[0x1a] = 'u', [0x1b] = 'u', [0x1c] = 'u', [0x1d] = 'u', [0x1e] = 'u', [0x1f] = 'u',
	['"'] = '"', ['\\'] = '\\',
};

/* The bytes of w that need an escape, as the high bit of each such byte:
 * bytes under 0x20, '"' and '\\'. Bits above the lowest may be false
 * (a borrow carries up), the lowest is exact. */
static inline uint64_t special8(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
	return (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs;
}

/* Writes the escape of byte c at p; returns the bytes written. */
static inline size_t put_escape(char *p, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char e = escape_of[c];
	if (e == 'u') {
		memcpy(p, "\\u00", 4);
		p[4] = hex[c >> 4];
		p[5] = hex[c & 0xf];
		return 6;
	}
	p[0] = '\\';
	p[1] = (char)e;
	return 2;
}

/* Bytes are escaped a block at a time, written in place: room for a
 * block is its worst case (\u00XX for each byte), so it stays small.
 * Sixteen bytes at a time (then eight) are checked at once and copied
 * whole. */
#define BLOCK 4096
_Static_assert(JSON_WRITE_BLOCK_ROOM >= 6 * BLOCK + 8 + 2, "JSON_WRITE_BLOCK_ROOM below a block's worst case");

static void put_string(struct buf *out, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	buf_putc(out, '"');
	while (len > 0) {
		size_t n = len < BLOCK ? len : BLOCK, i = 0;
		char *start = buf_space(out, 6 * n + 8), *p = start;
#if JSON_SCAN16
		while (i + 16 <= n) {
			memcpy(p, s + i, 16); /* room for it: 6 * n + 8 */
			unsigned k = json_scan16((const char *)s + i, 0x20);
			p += k;
			if (k == 16) {
				i += 16;
				continue;
			}
			p += put_escape(p, s[i + k]);
			i += k + 1;
		}
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		while (i + 8 <= n) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			memcpy(p, &w, 8); /* room for it: 6 * n + 8 */
			uint64_t m = special8(w);
			if (!m) {
				p += 8;
				i += 8;
				continue;
			}
			size_t k = (size_t)__builtin_ctzll(m) / 8; /* the first byte to escape */
			p += k;
			p += put_escape(p, s[i + k]);
			i += k + 1;
		}
#endif
		for (; i < n; i++) {
			if (escape_of[s[i]])
				p += put_escape(p, s[i]);
			else
				*p++ = (char)s[i];
		}
		buf_commit(out, (size_t)(p - start));
		s += n;
		len -= n;
	}
	buf_putc(out, '"');
}

static void put_int(struct buf *out, json_object *o)
{
	int64_t v = json_object_get_int64(o);
	if (v == INT64_MAX) {
		/* An unsigned value past INT64_MAX reads as INT64_MAX here. */
		char tmp[24];
		size_t n = ull_to_dec(tmp, (unsigned long long)json_object_get_uint64(o));
		buf_append(out, tmp, n);
		return;
	}
	buf_put_ll(out, (long long)v);
}

void json_write(struct buf *out, json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_null:
		buf_append(out, "null", 4);
		return;
	case json_type_boolean:
		if (json_object_get_boolean(o))
			buf_append(out, "true", 4);
		else
			buf_append(out, "false", 5);
		return;
	case json_type_int:
		put_int(out, o);
		return;
	case json_type_string:
		put_string(out, json_object_get_string(o), (size_t)json_object_get_string_len(o));
		return;
	case json_type_object: {
		buf_putc(out, '{');
		bool first = true;
		json_object_object_foreach(o, key, val)
		{
			if (!first)
				buf_putc(out, ',');
			first = false;
			/* The key up to its first NUL, as json-c writes it. */
			put_string(out, key, strlen(key));
			buf_putc(out, ':');
			json_write(out, val);
		}
		buf_putc(out, '}');
		return;
	}
	case json_type_array: {
		buf_putc(out, '[');
		size_t n = json_object_array_length(o);
		for (size_t i = 0; i < n; i++) {
			if (i)
				buf_putc(out, ',');
			json_write(out, json_object_array_get_idx(o, i));
		}
		buf_putc(out, ']');
		return;
	}
	case json_type_double:
	default:
		/* A parsed double keeps its text; a computed one is formatted
		 * as json-c formats it. */
		buf_puts(out, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		return;
	}
}

json_object *json_new_number(double d)
{
	if (!isfinite(d))
		return NULL;
	/* 15 significant digits read back as d for every decimal of up to 15
	 * digits, and %g drops trailing zeros, so this is the shortest form
	 * for them; 17 always reads back. */
	char text[40];
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(text, sizeof text - 2, "%.*g", prec, d);
		if (strtod(text, NULL) == d)
			break;
	}
	if (!strpbrk(text, ".e"))
		strcat(text, ".0");
	return json_object_new_double_s(d, text);
}
