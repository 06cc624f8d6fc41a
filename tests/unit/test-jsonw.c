/* test-jsonw.c - json_write against json-c's own writer: byte for byte the
 * same text for built trees (every byte value in strings and keys, NUL
 * inside strings, integers at the edges, parsed and computed
 * doubles, NULL members, nesting), and for every JSON document in the
 * repository's fuzz corpora and data files, whole and line by line (SSE
 * "data:" lines included). */
#include "config.h"

#include "buf.h"
#include "dialect.h"
#include "jsonw.h"
#include "tap.h"
#include "util.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *reference(json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* Whether json_write(o) equals json-c's text; the first difference is
 * reported once per name. */
static bool same(json_object *o, const char *name, bool report)
{
	struct buf b = BUF_INIT;
	json_write(&b, o);
	const char *want = reference(o);
	bool eq = strlen(want) == b.len && memcmp(want, buf_str(&b), b.len) == 0;
	if (!eq && report) {
		size_t i = 0;
		while (i < b.len && want[i] && want[i] == b.data[i])
			i++;
		printf("# %s: differs at byte %zu: got \"%.40s\", json-c \"%.40s\"\n", name, i, buf_str(&b) + i,
		       want + i);
	}
	buf_free(&b);
	return eq;
}

static void check(json_object *o, const char *name)
{
	ok(same(o, name, true), "%s", name);
	json_object_put(o);
}

static void test_built(void)
{
	check(NULL, "NULL is null");
	check(json_object_new_null(), "null");
	check(json_object_new_boolean(1), "true");
	check(json_object_new_boolean(0), "false");
	check(json_object_new_int64(0), "0");
	check(json_object_new_int64(-1), "-1");
	check(json_object_new_int64(INT64_MAX), "INT64_MAX");
	check(json_object_new_int64(INT64_MIN), "INT64_MIN");
	check(json_object_new_uint64(UINT64_MAX), "UINT64_MAX");
	check(json_object_new_uint64((uint64_t)INT64_MAX + 1), "INT64_MAX + 1, unsigned");
	check(json_object_new_int(42), "a 32-bit int");
	check(json_object_new_double(0.1), "a computed double");
	check(json_object_new_double(1e300), "a large double");
	check(json_object_new_double(-0.0), "negative zero");
	check(json_object_new_double(3.0), "a whole double");
	check(json_object_new_string(""), "the empty string");
	check(json_object_new_object(), "{}");
	check(json_object_new_array(), "[]");

	/* Every byte value, in a string and as a key. */
	char all[257];
	for (int i = 0; i < 256; i++)
		all[i] = (char)i;
	all[256] = '\0';
	check(json_object_new_string_len(all, 256), "a string of every byte, NUL first");
	check(json_object_new_string_len(all + 1, 255), "a string of every byte but NUL");
	json_object *o = json_object_new_object();
	json_object_object_add(o, all + 1, json_object_new_int(1));
	check(o, "a key of every byte but NUL");
	check(json_object_new_string_len("a\0b\0", 4), "NULs inside a string");
	check(json_object_new_string("/path/to\\file \"quoted\" \x7f é 😀"), "slashes stay, DEL and UTF-8 stay");
	check(json_object_new_string("\b\f\n\r\t\x01\x1f"), "short escapes and \\u00XX");

	/* One byte needing an escape at each position of the 4-byte steps. */
	for (int pos = 0; pos < 9; pos++) {
		char s[10] = "abcdefghi";
		s[pos] = '"';
		char name[64];
		snprintf(name, sizeof name, "a quote at %d of 9", pos);
		check(json_object_new_string(s), name);
	}

	/* Every byte value at every place of a 41-byte string (the writer
	 * checks 16, then 8 bytes at once: two blocks of 16, one of 8 and a
	 * byte), alone and after a quote in the same block. */
	size_t bad = 0;
	for (int c = 0; c < 256; c++)
		for (int pos = 0; pos < 41; pos++)
			for (int q = 0; q < 2; q++) {
				char t[41];
				memset(t, 'a', sizeof t);
				if (q)
					t[pos > 0 ? pos - 1 : 1] = '"';
				t[pos] = (char)c;
				json_object *js = json_object_new_string_len(t, sizeof t);
				if (!same(js, "byte at a place", bad < 3))
					bad++;
				json_object_put(js);
			}
	is_int(bad, 0, "every byte value at each of 41 places, with and without a quote before it");

	/* NULL members and elements, nesting, order kept. */
	o = json_object_new_object();
	json_object_object_add(o, "z", NULL);
	json_object_object_add(o, "a", json_object_new_array());
	json_object *arr = json_object_new_array();
	json_object_array_add(arr, NULL);
	json_object_array_add(arr, json_object_new_string("x"));
	json_object *inner = json_object_new_object();
	json_object_object_add(inner, "k", json_object_new_double(2.5));
	json_object_array_add(arr, inner);
	json_object_object_add(o, "m", arr);
	check(o, "NULL members and elements, nesting");

	/* A deep tree. */
	o = json_object_new_string("leaf");
	for (int i = 0; i < 200; i++) {
		json_object *a = json_object_new_array();
		json_object_array_add(a, o);
		o = a;
	}
	check(o, "200 arrays deep");

	/* Parsed numbers keep their text through json-c, as before. */
	const char *texts[] = {
		"{\"t\":0.50,\"e\":1E+2,\"n\":-0,\"f\":1.0e-7,\"big\":123456789012345678901234567890,"
		"\"i\":9223372036854775807,\"j\":-9223372036854775808,\"u\":18446744073709551615}",
		"[1,2.0,-3.25e10,1e400]",
		"{\"s\":\"\\u0000\\u001f\\u2028\\ud83d\\ude00\\/\"}",
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		json_object *p = dialect_json_parse(texts[i], strlen(texts[i]));
		char name[64];
		snprintf(name, sizeof name, "parsed numbers and escapes #%zu", i + 1);
		ok(p != NULL, "%s parse", name);
		if (p)
			check(p, name);
	}
}

/* Every document in text: the whole, and each line (after "data:"). */
static void compare_text(const char *text, size_t len, size_t *docs, size_t *bad, const char *file)
{
	json_object *o = dialect_json_parse(text, len);
	if (o) {
		(*docs)++;
		if (!same(o, file, *bad < 5))
			(*bad)++;
		json_object_put(o);
	}
	for (const char *p = text; p < text + len;) {
		const char *eol = memchr(p, '\n', (size_t)(text + len - p));
		const char *end = eol ? eol : text + len;
		const char *s = p;
		if ((size_t)(end - s) > 5 && memcmp(s, "data:", 5) == 0)
			s += 5;
		if (end > s && end - s < (long)len && (o = dialect_json_parse(s, (size_t)(end - s))) != NULL) {
			(*docs)++;
			if (!same(o, file, *bad < 5))
				(*bad)++;
			json_object_put(o);
		}
		p = eol ? eol + 1 : end;
	}
}

static void compare_dir(const char *dir, size_t *files, size_t *docs, size_t *bad)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[8192];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		size_t blen;
		char *b = read_file(path, &blen);
		if (b && blen) {
			(*files)++;
			/* Fuzz inputs may open with flag bytes: from each of the first 4 too. */
			for (size_t skip = 0; skip < 4 && skip < blen; skip++)
				compare_text(b + skip, blen - skip, docs, bad, path);
		}
		free(b);
	}
	closedir(d);
}

static void test_corpora(void)
{
	const char *src = getenv("AROUTER_SRCDIR");
	if (!src)
		src = ".";
	char dir[4096];
	size_t files = 0, docs = 0, bad = 0;
	snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus", src);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char sub[8192];
		snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
		compare_dir(sub, &files, &docs, &bad);
	}
	if (d)
		closedir(d);
	snprintf(dir, sizeof dir, "%s/data", src);
	compare_dir(dir, &files, &docs, &bad);
	printf("# %zu files, %zu JSON documents\n", files, docs);
	/* So that a moved corpus cannot make this pass on nothing. */
	ok(docs >= 500, "the corpora hold JSON documents to compare (%zu in %zu files)", docs, files);
	is_int(bad, 0, "every document: json_write's text is json-c's");
}

/* json_new_number's text, as json_write prints it; json-c must print the
 * same. */
static const char *number_text(double d, struct buf *b)
{
	json_object *o = json_new_number(d);
	b->len = 0;
	json_write(b, o);
	if (!same(o, "a computed number", true))
		buf_puts(b, " (json-c differs)");
	json_object_put(o);
	return buf_str(b);
}

static void test_numbers(void)
{
	struct buf b = BUF_INIT;
	is_str(number_text(0.4, &b), "0.4", "0.4 is 0.4, not 0.40000000000000002");
	is_str(number_text(0.1 + 0.2, &b), "0.30000000000000004", "0.1 + 0.2 needs all 17 digits");
	is_str(number_text(1.0, &b), "1.0", "a whole number keeps json-c's .0");
	is_str(number_text(-0.0, &b), "-0.0", "negative zero");
	is_str(number_text(1e300, &b), "1e+300", "a large number");
	is_str(number_text(5e-324, &b), "4.94065645841247e-324", "the least subnormal, in 15 digits");
	is_str(number_text(1.7976931348623157e308, &b), "1.7976931348623157e+308", "the largest double");
	is_str(number_text(123456789012345.0, &b), "123456789012345.0", "15 digits, whole");
	is_str(number_text(0.1234567890123456, &b), "0.1234567890123456", "16 digits");
	ok(json_new_number(__builtin_nan("")) == NULL, "NaN is null");
	ok(json_new_number(__builtin_inf()) == NULL && json_new_number(-__builtin_inf()) == NULL,
	   "Infinity is null");

	/* Random bit patterns: every finite one reads back bit for bit. */
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	int bad = 0, n = 0;
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		double d;
		memcpy(&d, &x, sizeof d);
		if (!__builtin_isfinite(d))
			continue;
		n++;
		const char *t = number_text(d, &b);
		char *end;
		double back = strtod(t, &end);
		if (*end || memcmp(&back, &d, sizeof d) != 0) {
			if (bad++ < 3)
				printf("# %a written as %s\n", d, t);
		}
	}
	is_int(bad, 0, "%d random finite doubles read back bit for bit", n);
	buf_free(&b);
}

int main(void)
{
	test_built();
	test_numbers();
	test_corpora();
	return tap_done();
}
