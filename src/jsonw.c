/* jsonw.c - see jsonw.h. */
#include "config.h"

#include "jsonw.h"

#include "util.h"

#include <inttypes.h>
#include <stdint.h>
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

/* The length of the run at s (at most n bytes) that needs no escape. */
static size_t plain_run(const unsigned char *s, size_t n)
{
	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		if (escape_of[s[i]])
			return i;
		if (escape_of[s[i + 1]])
			return i + 1;
		if (escape_of[s[i + 2]])
			return i + 2;
		if (escape_of[s[i + 3]])
			return i + 3;
	}
	while (i < n && !escape_of[s[i]])
		i++;
	return i;
}

static void put_string(struct buf *out, const char *str, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	buf_putc(out, '"');
	while (len > 0) {
		size_t run = plain_run(s, len);
		if (run)
			buf_append(out, s, run);
		if (run == len)
			break;
		unsigned char c = s[run], e = escape_of[c];
		if (e == 'u') {
			char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
			buf_append(out, u, sizeof u);
		} else {
			char two[2] = {'\\', (char)e};
			buf_append(out, two, sizeof two);
		}
		s += run + 1;
		len -= run + 1;
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
