/* test-util.c - util.c and buf.c: suggestions, redaction, buffers, XDG,
 * the spares free list, base64, secret comparison and wiping. */
#include "config.h"

#include "buf.h"
#include "tap.h"
#include "util.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_edit_distance(void)
{
	is_int(edit_distance("", ""), 0, "empty strings are equal");
	is_int(edit_distance("chat", "chat"), 0, "same word");
	is_int(edit_distance("chta", "chat"), 1, "a transposition is one edit");
	is_int(edit_distance("modles", "models"), 1, "transposition in the middle");
	is_int(edit_distance("kitten", "sitting"), 3, "classic example");
	is_int(edit_distance("", "abc"), 3, "insertions from empty");
}

static void test_suggest(void)
{
	const char *cmds[] = {"chat", "models", "balance", "keys", "proxy", "config", "help"};
	is_str(suggest("chta", cmds, 7), "chat", "typo suggests chat");
	is_str(suggest("balnce", cmds, 7), "balance", "missing letter");
	is_str(suggest("mod", cmds, 7), "models", "a prefix suggests the command");
	is_str(suggest("xyzzyplugh", cmds, 7), NULL, "nothing close gives no suggestion");
	is_str(suggest("k", cmds, 7), NULL, "one letter is too little to guess from");

	/* suggest skips candidates whose length alone rules them out; it
	 * must answer what measuring every candidate answers. Words: the
	 * candidates with up to four random edits, and random strings. */
	const char *keys[] = {"providers", "routes", "models", "model_aliases", "default_model", "proxy", "chat",
			      "budget", "keys", "ledger", "log", "a", "ab", "abcdefgh", "abcdefghijk"};
	size_t nk = sizeof keys / sizeof keys[0], differ = 0, found = 0;
	unsigned seed = 12345;
	for (int t = 0; t < 20000; t++) {
		char w[40];
		seed = seed * 1103515245u + 12345u;
		if (t % 4 == 3) {
			size_t n = (seed >> 16) % 20;
			for (size_t i = 0; i < n; i++) {
				seed = seed * 1103515245u + 12345u;
				w[i] = (char)('a' + (seed >> 16) % 26);
			}
			w[n] = '\0';
		} else {
			snprintf(w, sizeof w, "%s", keys[(seed >> 16) % nk]);
			for (int e = (int)((seed >> 8) % 5); e > 0; e--) {
				seed = seed * 1103515245u + 12345u;
				size_t n = strlen(w), at = n ? (seed >> 16) % (n + 1) : 0;
				char c = (char)('a' + (seed >> 4) % 26);
				if ((seed >> 24) % 3 == 0 && n + 1 < sizeof w) { /* insert */
					memmove(w + at + 1, w + at, n - at + 1);
					w[at] = c;
				} else if ((seed >> 24) % 3 == 1 && at < n) { /* delete */
					memmove(w + at, w + at + 1, n - at);
				} else if (at < n) { /* replace */
					w[at] = c;
				}
			}
		}
		/* The reference: the closest by distance, first on ties,
		 * within the limit; else the first the word is a prefix of. */
		size_t limit = strlen(w) / 3, best_d = (size_t)-1;
		limit = limit < 1 ? 1 : limit > 3 ? 3 : limit;
		const char *want = NULL;
		for (size_t i = 0; i < nk; i++) {
			size_t d = edit_distance(w, keys[i]);
			if (d < best_d) {
				best_d = d;
				want = keys[i];
			}
		}
		if (best_d > limit) {
			want = NULL;
			for (size_t i = 0; strlen(w) >= 2 && i < nk && !want; i++)
				if (str_has_prefix(keys[i], w))
					want = keys[i];
		}
		const char *got = suggest(w, keys, nk);
		differ += got != want;
		found += got != NULL;
	}
	ok(differ == 0, "20000 words: suggest answers as measuring every candidate does (%zu differ, %zu found)",
	   differ, found);
	ok(found > 5000, "and most of the near words get a suggestion (%zu)", found);
}

static void test_redact(void)
{
	is_str(redact("sk-proj-abcdefghijklmnop1234"), "sk-proj-…1234", "OpenAI key keeps its prefix and last four");
	is_str(redact("lr_live_abcdefghijklmnopqrst9876"), "lr_live_…9876", "gateway key keeps lr_live_");
	is_str(redact("AIzaSyAbcdefghijklmnop"), "AIz…mnop", "a key without separator keeps three characters");
	is_str(redact("short"), "…", "short secrets are hidden whole");
	is_str(redact(NULL), "(none)", "NULL");
	const char *r = redact("sk-ant-api03-0123456789abcdefghij");
	ok(strstr(r, "0123456789") == NULL, "the middle of the key never appears");
}

static void test_buf_put_ll(void)
{
	static const struct {
		long long v;
		const char *want;
	} cases[] = {
	    {0, "0"}, {7, "7"}, {-1, "-1"}, {1234567890123LL, "1234567890123"}, {-40, "-40"},
	    {LLONG_MAX, "9223372036854775807"}, {LLONG_MIN, "-9223372036854775808"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b = BUF_INIT;
		buf_puts(&b, "n=");
		buf_put_ll(&b, cases[i].v);
		char want[40];
		snprintf(want, sizeof want, "n=%s", cases[i].want);
		is_str(buf_str(&b), want, "buf_put_ll %s", cases[i].want);
		buf_free(&b);
	}
}

static void test_buf(void)
{
	struct buf b = BUF_INIT;
	is_str(buf_str(&b), "", "empty buffer is an empty string");
	buf_puts(&b, "hello");
	buf_putc(&b, ' ');
	buf_printf(&b, "%s %d", "world", 42);
	is_str(buf_str(&b), "hello world 42", "appends");
	buf_consume(&b, 6);
	is_str(buf_str(&b), "world 42", "consume drops the front");
	for (int i = 0; i < 10000; i++)
		buf_putc(&b, 'x');
	is_int(b.len, 8 + 10000, "grows");
	char *s = buf_steal(&b);
	is_int(strlen(s), 10008, "steal hands over the contents");
	ok(b.data == NULL && b.len == 0, "steal resets");
	free(s);
	buf_free(&b);
}

static void test_xdg(void)
{
	setenv("HOME", "/home/u", 1);
	unsetenv("XDG_STATE_HOME");
	char *d = xdg_dir("state");
	is_str(d, "/home/u/.local/state/arouter", "state falls back to ~/.local/state");
	free(d);
	setenv("XDG_DATA_HOME", "/x/data", 1);
	d = xdg_dir("data");
	is_str(d, "/x/data/arouter", "XDG_DATA_HOME is honoured");
	free(d);
	setenv("XDG_CONFIG_HOME", "rel", 1);
	d = xdg_dir("config");
	is_str(d, "/home/u/.config/arouter", "a relative XDG path is ignored");
	free(d);
}

/* utf8_repair on s (len bytes) gives want, or NULL when s is well-formed. */
static void check_repair(const char *s, size_t len, const char *want, const char *what)
{
	size_t n = 0;
	char *got = utf8_repair(s, len, &n);
	is_str(got, want, "%s", what);
	if (got)
		is_int(n, strlen(want), "%s: its length", what);
	free(got);
	is_int(utf8_valid_prefix(s, len), want ? (size_t)(strchr(want, '\xef') ? strstr(want, "\xef\xbf\xbd") - want : 0) : len,
	       "%s: the valid prefix", what);
}

static void test_utf8(void)
{
	const char ok1[] = "plain ASCII that runs past eight bytes, and caf\xc3\xa9, \xe2\x82\xac, \xf0\x9f\x98\x80";
	check_repair(ok1, sizeof ok1 - 1, NULL, "well-formed text is left alone");
	check_repair("", 0, NULL, "empty");
	check_repair("Hello \xff\xfe from", 13, "Hello \xef\xbf\xbd\xef\xbf\xbd from", "bytes that never start a sequence: one U+FFFD each");
	check_repair("a\xc0\xaf" "b", 4, "a\xef\xbf\xbd\xef\xbf\xbd" "b", "an overlong '/' (C0 AF): two");
	check_repair("a\xe0\x80\xaf" "b", 5, "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "b", "an overlong three-byte form: each byte");
	check_repair("a\xed\xa0\x80" "b", 5, "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "b", "a UTF-16 surrogate (ED A0 80)");
	check_repair("a\xf4\x90\x80\x80" "b", 6, "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "b", "past U+10FFFF");
	check_repair("a\xe2\x82" "b", 4, "a\xef\xbf\xbd" "b", "a truncated sequence is one maximal subpart");
	check_repair("ab\xf0\x9f\x98", 5, "ab\xef\xbf\xbd", "a sequence cut by the end of the input");
	check_repair("\x80x", 2, "\xef\xbf\xbdx", "a lone continuation byte");
	char nul[] = {'a', '\0', 'b'};
	check_repair(nul, 3, NULL, "NUL is well-formed UTF-8");
}

/* spares: blocks come back zeroed, are reused newest first, at most max
 * are kept, and the rest are freed (ASan/LSan would report a leak or a
 * double free here). */
static void test_spares(void)
{
	struct spares sp = {.size = 64, .max = 2};
	unsigned char *a = spares_get(&sp), *b = spares_get(&sp), *c = spares_get(&sp);
	ok(a && b && c && a != b && b != c, "three distinct blocks from an empty list");
	memset(a, 0xab, 64);
	memset(b, 0xcd, 64);
	spares_put(&sp, a);
	spares_put(&sp, b);
	spares_put(&sp, c); /* over max: freed */
	spares_put(&sp, NULL);
	is_int(sp.n, 2, "two kept, the third freed");
	unsigned char *d = spares_get(&sp);
	ok(d == b, "the last kept block comes back first");
	bool zero = true;
	for (int i = 0; i < 64; i++)
		zero = zero && d[i] == 0;
	ok(zero, "and it is zeroed");
	unsigned char *e = spares_get(&sp);
	ok(e == a, "then the one before it");
	is_int(sp.n, 0, "none kept now");
	unsigned char *f = spares_get(&sp);
	ok(f && f != d && f != e, "an empty list allocates again");
	spares_put(&sp, d);
	spares_put(&sp, e);
	free(f);
	spares_clear(&sp);
	is_int(sp.n, 0, "cleared");
	ok(sp.head == NULL, "nothing left to hand out");
}

/* RFC 4648 §10, and every byte value (expected from Python's base64). */
static void test_base64(void)
{
	static const char *const rfc[][2] = {
	    {"", ""},
	    {"f", "Zg=="},
	    {"fo", "Zm8="},
	    {"foo", "Zm9v"},
	    {"foob", "Zm9vYg=="},
	    {"fooba", "Zm9vYmE="},
	    {"foobar", "Zm9vYmFy"},
	};
	char out[BASE64_SIZE(256)];
	for (size_t i = 0; i < sizeof rfc / sizeof rfc[0]; i++) {
		memset(out, 'x', sizeof out);
		size_t n = base64_encode(out, rfc[i][0], strlen(rfc[i][0]));
		is_str(out, rfc[i][1], "base64 of \"%s\"", rfc[i][0]);
		is_int(n, strlen(rfc[i][1]), "returns its length");
	}
	unsigned char all[256];
	for (size_t i = 0; i < sizeof all; i++)
		all[i] = (unsigned char)i;
	static const char want[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7"
	                           "PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3"
	                           "eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKz"
	                           "tLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v"
	                           "8PHy8/T19vf4+fr7/P3+/w==";
	memset(out, 'x', sizeof out);
	is_int(base64_encode(out, all, sizeof all), 344, "bytes 0..255 make 344 characters");
	is_str(out, want, "bytes 0..255");
	is_int(BASE64_SIZE(256), 345, "BASE64_SIZE counts the NUL");
	char *x = xbase64(all, 255);
	is_int(strlen(x), 340, "xbase64 of 255 bytes: 340 characters");
	ok(strncmp(x, want, 340) == 0, "the same as for 256 bytes, less the last group");
	free(x);
	x = xbase64(all, 0);
	is_str(x, "", "xbase64 of nothing is an empty string");
	free(x);
}

static void test_secrets(void)
{
	ok(const_time_equal("abcd", "abcd", 4), "equal bytes are equal");
	ok(!const_time_equal("abcd", "abce", 4), "the last byte differs");
	ok(!const_time_equal("xbcd", "abcd", 4), "the first byte differs");
	ok(!const_time_equal("\x80", "\x00", 1), "the top bit differs");
	ok(const_time_equal("a", "b", 0), "no bytes are equal");
	char s[] = "secret";
	secure_wipe(s, sizeof s);
	ok(memcmp(s, "\0\0\0\0\0\0\0", sizeof s) == 0, "secure_wipe zeroes");
	secure_wipe(NULL, 0);
	ok(1, "and takes nothing");
}

static void test_join_dec(void)
{
	char *j = xstrjoin("openai", "/", "gpt-4o");
	is_str(j, "openai/gpt-4o", "xstrjoin puts the three together");
	free(j);
	j = xstrjoin("", "", "");
	is_str(j, "", "xstrjoin of empty strings is empty");
	free(j);
	j = xstrjoin("Bearer", " ", "sk-1");
	is_str(j, "Bearer sk-1", "xstrjoin with a one-space separator");
	free(j);
	static const struct {
		unsigned long long v;
		const char *want;
	} cases[] = {{0, "0"}, {7, "7"}, {10, "10"}, {4096, "4096"}, {18446744073709551615ULL, "18446744073709551615"}};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char out[24];
		memset(out, 'x', sizeof out);
		size_t n = ull_to_dec(out, cases[i].v);
		ok(n == strlen(cases[i].want) && memcmp(out, cases[i].want, n) == 0 && out[n] == 'x',
		   "ull_to_dec %s: the digits, their count, nothing after", cases[i].want);
	}
}

int main(void)
{
	test_join_dec();
	test_spares();
	test_utf8();
	test_edit_distance();
	test_suggest();
	test_redact();
	test_buf();
	test_buf_put_ll();
	test_xdg();
	test_base64();
	test_secrets();
	return tap_done();
}
