/* test-jsonr.c - json_read: what it reads and refuses, by hand, and
 * against json-c (tests/jsondiff.h) on every JSON document in the fuzz
 * corpora and data/ and on 64 mutations of each. */
#include "config.h"

#include "buf.h"
#include "jsonr.h"
#include "jsonw.h"
#include "tap.h"
#include "util.h"
#include "../jsondiff.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* json_read's text of s written back by json_write, or "ERR: ..." */
static char *reread(const char *s, size_t len)
{
	const char *err;
	json_object *o = json_read(s, len, &err);
	struct buf b = BUF_INIT;
	if (err) {
		buf_puts(&b, "ERR");
	} else {
		json_write(&b, o);
		json_object_put(o);
	}
	return buf_steal(&b);
}

static void reads(const char *text, const char *want, const char *name)
{
	char *got = reread(text, strlen(text));
	is_str(got, want, "%s", name);
	free(got);
}

static void refuses(const char *text, const char *name)
{
	reads(text, "ERR", name);
}

/* The rules of jsondiff_check on text. */
static void agrees(const char *text, size_t len, const char *name)
{
	char why[160] = "";
	bool read;
	const char *broke = jsondiff_check(text, len, &read, why, sizeof why);
	ok(!broke, "%s: agrees with json-c%s%s%s%s", name, broke ? ": " : "", broke ? broke : "", broke ? ": " : "",
	   why);
}

static void test_by_hand(void)
{
	reads("{}", "{}", "empty object");
	reads(" [ ] ", "[]", "empty array, whitespace around");
	reads("\t\r\n{\"a\" :\n1 , \"b\":[true,false,null]}\n", "{\"a\":1,\"b\":[true,false,null]}", "whitespace");
	reads("null", "null", "top-level null");
	reads("\"x\"", "\"x\"", "top-level string");
	reads("-12", "-12", "top-level number");
	reads("{\"a\":1,\"a\":2,\"b\":3}", "{\"a\":2,\"b\":3}", "a duplicate key: the last value in the first place");
	reads("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\\"\\\\/\\b\\f\\n\\r\\t\"", "every short escape");
	reads("\"\\u00e9\\u20ac\\ud83d\\ude00\"", "\"é€😀\"", "\\u escapes, a surrogate pair");
	reads("\"\\ud83d\"", "\"\xef\xbf\xbd\"", "a lone high surrogate at the end");
	reads("\"\\ud83dx\"", "\"\xef\xbf\xbdx\"", "a high surrogate, then a letter");
	reads("\"\\ud83d\\n\"", "\"\xef\xbf\xbd\\n\"", "a high surrogate, then another escape");
	reads("\"\\ud83d\\ud83d\\ude00\"", "\"\xef\xbf\xbd😀\"", "two high surrogates, then a low one");
	reads("\"\\ude00\"", "\"\xef\xbf\xbd\"", "a lone low surrogate");
	/* json-c 0.16 writes U+FFFD for these (it tests the decoded code
	 * point for a surrogate): U+1DDE0, U+2D800 (CJK Extension E), U+10FFFF. */
	reads("\"\\ud837\\udde0 \\ud876\\udc00 \\udbff\\udfff\"", "\"\xf0\x9d\xb7\xa0 \xf0\xad\xa0\x80 \xf4\x8f\xbf\xbf\"",
	      "pairs for code points whose low 16 bits look like a surrogate");
	reads("\"a\\u0000b\"", "\"a\\u0000b\"", "NUL inside a string");
	reads("{\"a\\u0000b\":1}", "{\"a\":1}", "a key ends at its NUL");
	reads("\"tab\there\"", "\"tab\\there\"", "a raw control byte in a string is kept (as json-c)");
	reads("[0,-0,1.50,1E+2,-3e-2,1e400]", "[0,0,1.50,1E+2,-3e-2,1e400]", "numbers keep their text");
	reads("[9223372036854775807,9223372036854775808,18446744073709551616,-9223372036854775809]",
	      "[9223372036854775807,9223372036854775808,18446744073709551615,-9223372036854775808]",
	      "integers past the limits saturate");
	char nul[] = "[\"a\0b\"]", nulkey[] = "{\"a\0b\":1}";
	is_str(json_read(nul, sizeof nul - 1, NULL) ? "read" : "refused", "refused", "a raw NUL in a string (as json-c)");
	is_str(json_read(nulkey, sizeof nulkey - 1, NULL) ? "read" : "refused", "refused", "a raw NUL in a key");
	agrees(nul, sizeof nul - 1, "a raw NUL in a string");
	agrees(nulkey, sizeof nulkey - 1, "a raw NUL in a key");
	refuses("", "nothing");
	refuses("   ", "only whitespace");
	refuses("{} x", "more after the value");
	refuses("{}{}", "two values");
	refuses("[1,]", "a trailing comma");
	refuses("{\"a\":1,}", "a trailing comma in an object");
	refuses("/* c */ {}", "a comment");
	refuses("['x']", "single quotes");
	refuses("[NaN]", "NaN");
	refuses("[-Infinity]", "Infinity");
	refuses("[TRUE]", "a capitalised literal");
	refuses("[01]", "a leading zero");
	refuses("[1.]", "a point without digits");
	refuses("[.5]", "no digit before the point");
	refuses("[+1]", "a plus sign");
	refuses("[-]", "a lone minus");
	refuses("[1e]", "an exponent without digits");
	refuses("\f{}", "form feed is not whitespace");
	refuses("{\"a\" 1}", "no colon");
	refuses("{1:2}", "a key that is not a string");
	refuses("\"abc", "no closing quote");
	refuses("\"abc\\", "a backslash at the end");
	refuses("\"\\x\"", "an unknown escape");
	refuses("\"\\u12g4\"", "a \\u escape with a non-hex digit");
	refuses("\"\\u12\"", "a \\u escape cut short");
	refuses("\"\\ud83d\\u12\"", "a high surrogate, then a \\u cut short");
	refuses("[1 2]", "no comma");
	refuses("[tru]", "a cut literal");

	/* The depth limit, as json-c's (32): arrays, objects and mixed. */
	for (int n = 28; n <= 34; n++) {
		struct buf a = BUF_INIT, o = BUF_INIT, m = BUF_INIT;
		for (int i = 0; i < n; i++) {
			buf_putc(&a, '[');
			buf_puts(&o, "{\"k\":");
			buf_puts(&m, i % 2 ? "{\"k\":" : "[");
		}
		buf_puts(&a, "1");
		buf_puts(&o, "1");
		buf_puts(&m, "1");
		for (int i = n - 1; i >= 0; i--) {
			buf_putc(&a, ']');
			buf_putc(&o, '}');
			buf_puts(&m, i % 2 ? "}" : "]");
		}
		char name[64];
		/* Where the limit falls is json-c's. */
		bool jc_a, jc_o, jc_m;
		json_object_put(jsondiff_jsonc(a.data, a.len, false, &jc_a));
		json_object_put(jsondiff_jsonc(o.data, o.len, false, &jc_o));
		json_object_put(jsondiff_jsonc(m.data, m.len, false, &jc_m));
		json_object *ra = json_read(a.data, a.len, NULL), *ro = json_read(o.data, o.len, NULL),
			    *rm = json_read(m.data, m.len, NULL);
		ok((ra != NULL) == jc_a && (ro != NULL) == jc_o && (rm != NULL) == jc_m,
		   "%d deep: json_read reads arrays, objects, mixed as json-c does (%s %s %s)", n, jc_a ? "read" : "refused",
		   jc_o ? "read" : "refused", jc_m ? "read" : "refused");
		json_object_put(ra);
		json_object_put(ro);
		json_object_put(rm);
		snprintf(name, sizeof name, "%d arrays deep", n);
		agrees(a.data, a.len, name);
		snprintf(name, sizeof name, "%d objects deep", n);
		agrees(o.data, o.len, name);
		snprintf(name, sizeof name, "%d mixed deep", n);
		agrees(m.data, m.len, name);
		/* The innermost empty. */
		a.data[n] = ' ';
		snprintf(name, sizeof name, "%d arrays deep, the last empty", n);
		agrees(a.data, a.len, name);
		buf_free(&a);
		buf_free(&o);
		buf_free(&m);
	}
	const char *cases[] = {
		"[1,2.0,\"x\",{\"y\":[null,true]}]", "{\"a\":{\"a\":{\"a\":1}},\"a\":2}", "\"\\ud800\\udc00\"",
		"[1e400,-1e400,1e-400,123456789012345678901234567890]", "[-0.0,0.0,5e0,5E00]",
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		agrees(cases[i], strlen(cases[i]), cases[i]);
}

/* ---- corpora and their mutations ---- */

struct tally {
	size_t texts, read, bad;
	uint64_t rng;
};

static uint64_t next(struct tally *t)
{
	t->rng ^= t->rng << 13;
	t->rng ^= t->rng >> 7;
	t->rng ^= t->rng << 17;
	return t->rng;
}

static void check_one(struct tally *t, const char *text, size_t len, const char *file)
{
	char why[160] = "";
	bool read;
	const char *broke = jsondiff_check(text, len, &read, why, sizeof why);
	t->texts++;
	t->read += read;
	if (broke) {
		if (t->bad < 100)
			printf("# %s: %s: %s: \"%.*s\"\n", file, broke, why, (int)(len < 60 ? len : 60), text);
		t->bad++;
	}
}

/* What a mutation puts in: the bytes that steer a JSON reader. */
static const char steer[] = "\"\\u{}[],:0123456789-+.eE \t\n\rtfn\x01\x7f\xc3\xa9/dD8" "\0";

static void mutate(struct tally *t, const char *text, size_t len, const char *file)
{
	char *m = malloc(len + 16);
	if (!m)
		abort();
	for (int k = 0; k < 64; k++) {
		memcpy(m, text, len);
		size_t n = len;
		int edits = 1 + (int)(next(t) % 3);
		for (int e = 0; e < edits; e++) {
			size_t at = n ? (size_t)(next(t) % n) : 0;
			char c = steer[next(t) % (sizeof steer - 1)];
			switch (next(t) % 4) {
			case 0: /* replace */
				if (n)
					m[at] = c;
				break;
			case 1: /* insert */
				if (n < len + 15) {
					memmove(m + at + 1, m + at, n - at);
					m[at] = c;
					n++;
				}
				break;
			case 2: /* delete */
				if (n) {
					memmove(m + at, m + at + 1, n - at - 1);
					n--;
				}
				break;
			default: /* cut */
				n = at;
				break;
			}
		}
		check_one(t, m, n, file);
	}
	free(m);
}

/* The JSON documents of a file: the whole, and each line (after "data:"),
 * with up to 3 leading flag bytes skipped (fuzz inputs); each that json-c
 * reads is checked with its mutations. */
static void check_file(struct tally *t, const char *path)
{
	size_t blen;
	char *b = read_file(path, &blen);
	if (!b || !blen) {
		free(b);
		return;
	}
	for (size_t skip = 0; skip < 4 && skip < blen; skip++) {
		const char *text = b + skip;
		size_t len = blen - skip;
		bool ok;
		json_object *o = jsondiff_jsonc(text, len, false, &ok);
		json_object_put(o);
		if (ok && len > 1) {
			check_one(t, text, len, path);
			if (len < 100000)
				mutate(t, text, len, path);
		}
		for (const char *p = text; p < text + len;) {
			const char *eol = memchr(p, '\n', (size_t)(text + len - p));
			const char *end = eol ? eol : text + len, *s = p;
			if ((size_t)(end - s) > 5 && memcmp(s, "data:", 5) == 0)
				s += 5;
			if (end - s > 1 && (size_t)(end - s) < len) {
				o = jsondiff_jsonc(s, (size_t)(end - s), false, &ok);
				json_object_put(o);
				if (ok) {
					check_one(t, s, (size_t)(end - s), path);
					mutate(t, s, (size_t)(end - s), path);
				}
			}
			p = eol ? eol + 1 : end;
		}
	}
	free(b);
}

static void check_dir(struct tally *t, const char *dir, bool recurse)
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
		if (recurse)
			check_dir(t, path, false);
		else
			check_file(t, path);
	}
	closedir(d);
}

static void test_corpora(void)
{
	const char *src = getenv("AROUTER_SRCDIR");
	if (!src)
		src = ".";
	char dir[4096];
	struct tally t = {0, 0, 0, 0x9e3779b97f4a7c15ULL};
	snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus", src);
	check_dir(&t, dir, true);
	snprintf(dir, sizeof dir, "%s/data", src);
	check_dir(&t, dir, false);
	printf("# %zu texts, %zu read by json_read\n", t.texts, t.read);
	/* So that a moved corpus cannot make this pass on nothing. */
	ok(t.texts >= 100000 && t.read >= 5000, "the corpora and mutations give texts to compare (%zu, %zu read)",
	   t.texts, t.read);
	is_int(t.bad, 0, "every text: json_read agrees with json-c");
}

/* Every byte value, and every escape, at every place of a 41-byte string
 * (the reader checks 16, then 8 bytes at once), with and without an
 * escape before it in the same block, the text ending right after the
 * string or going on (where whole blocks are read past the string). */
static void test_every_place(void)
{
	static const char *const escapes[] = {"\\\"", "\\\\", "\\/", "\\n", "\\u00e9", "\\ud83d\\ude00", "\\ud83d", "\\x"};
	size_t n_texts = 0, bad = 0;
	for (int c = 0; c < 256 + (int)(sizeof escapes / sizeof *escapes); c++)
		for (int pos = 0; pos < 41; pos++)
			for (int variant = 0; variant < 4; variant++) {
				struct buf t = BUF_INIT;
				buf_puts(&t, "[\"");
				for (int i = 0; i < 41; i++) {
					if (i == pos) {
						if (c < 256)
							buf_putc(&t, (char)c);
						else
							buf_puts(&t, escapes[c - 256]);
					} else if ((variant & 1) && i == (pos > 0 ? pos - 1 : 1)) {
						buf_puts(&t, "\\t");
					} else {
						buf_putc(&t, (char)('a' + i % 26));
					}
				}
				buf_puts(&t, variant & 2 ? "\",\"after the string, more than a block\"]" : "\"]");
				char why[160] = "";
				bool read;
				const char *broke = jsondiff_check(t.data, t.len, &read, why, sizeof why);
				if (broke && bad++ < 3)
					printf("# byte or escape %d at %d, variant %d: %s %s\n", c, pos, variant, broke, why);
				n_texts++;
				buf_free(&t);
			}
	ok(bad == 0, "every byte and escape at each of 41 places: %zu texts agree with json-c (%zu do not)", n_texts, bad);
}

int main(void)
{
	test_by_hand();
	test_every_place();
	test_corpora();
	return tap_done();
}
