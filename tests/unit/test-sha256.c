/* test-sha256.c - sha256.c: the FIPS 180-2 examples, digests at the block
 * boundaries (expected values from sha256sum), and the incremental interface
 * against the one-shot one for every split of every length up to 200. */
#include "config.h"

#include "sha256.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

#define PATTERN_MAX 200

static unsigned char pattern[PATTERN_MAX];

static void hex(const uint8_t d[SHA256_LEN], char out[2 * SHA256_LEN + 1])
{
	for (int i = 0; i < SHA256_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* The hex digest of s[0..len) from the one-shot function, in a static buffer. */
static const char *digest(const void *s, size_t len)
{
	static char out[2 * SHA256_LEN + 1];
	uint8_t d[SHA256_LEN];
	sha256(s, len, d);
	hex(d, out);
	return out;
}

static void test_fips(void)
{
	is_str(digest("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	       "the empty string");
	is_str(digest("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	       "\"abc\" (FIPS 180-2 B.1, one block)");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	is_str(digest(two, strlen(two)), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
	       "the 448-bit message (FIPS 180-2 B.2, padding in a second block)");
	const char *long896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
	                      "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
	is_str(digest(long896, strlen(long896)),
	       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1", "the 896-bit message");

	/* One million 'a' (FIPS 180-2 B.3), fed in uneven pieces. */
	char a[1000];
	memset(a, 'a', sizeof a);
	struct sha256_ctx c;
	sha256_init(&c);
	size_t left = 1000000, step = 1;
	while (left) {
		size_t n = step < left ? step : left;
		sha256_update(&c, a, n);
		left -= n;
		step = step % 987 + 13; /* 13..999 */
	}
	uint8_t d[SHA256_LEN];
	char h[2 * SHA256_LEN + 1];
	sha256_final(&c, d);
	hex(d, h);
	is_str(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
	       "one million 'a' in pieces (FIPS 180-2 B.3)");
}

/* pattern[0..n) around the 55/56 (length field fits or not) and 64-byte
 * block boundaries. */
static void test_boundaries(void)
{
	static const struct {
		size_t len;
		const char *hex;
	} want[] = {
	    {0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	    {1, "ca358758f6d27e6cf45272937977a748fd88391db679ceda7dc7bf1f005ee879"},
	    {55, "8aa994584139d128848eeebc4e815639ba5ab6e6e39574195a63ac4f14f7c43b"},
	    {56, "ad574708f75c044c9b85de64cb568ee7711ff4f36448c6242f053ba8f6cc2b63"},
	    {63, "280ed3e8ff1df845b2e7dfe6ac6cee817bef20e783cc65abc41b818b4d2fe076"},
	    {64, "c6ab9724ade5b6a7a1edfffb12f3aa9181351355af8fd08c919952ad211339dd"},
	    {65, "788367c73c7ddf4c53f65e68cc0d943e6227ab55b0e78ba63ace822b1c6301c0"},
	    {119, "3d610547d68216dedf7435a4fb6260353911f6b3fd3f18805ddb8be285d726fe"},
	    {120, "1f80156a804cb7862ad113e8200e9d74499723e7c7854d5f48776d3148e09656"},
	    {127, "192409cd280e14b743642ad1343fbd3e82d9305de72c078117745a679210cc3d"},
	    {128, "cc548ca2dec1f6fe4f58b2e27aa9c7521607df1130d140b55a4dad0665302356"},
	    {129, "81e89a7b2911aaa7795f9e3d4910cb47d6cd2b00d83b8399481527261a1a7519"},
	    {200, "44cae5223d431caed4a9e32271d6abf17c3f2f4abac45fcdb48a99fcc6072a09"},
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		is_str(digest(pattern, want[i].len), want[i].hex, "%zu bytes of the pattern", want[i].len);
}

/* For every length, the incremental interface split at every point, and
 * fed a byte at a time, gives the one-shot digest. */
static void test_splits(void)
{
	for (size_t n = 0; n <= PATTERN_MAX; n++) {
		uint8_t one[SHA256_LEN], d[SHA256_LEN];
		sha256(pattern, n, one);
		struct sha256_ctx c;
		size_t bad = 0;
		for (size_t k = 0; k <= n; k++) {
			sha256_init(&c);
			sha256_update(&c, pattern, k);
			sha256_update(&c, pattern + k, 0);
			sha256_update(&c, pattern + k, n - k);
			sha256_final(&c, d);
			bad += memcmp(one, d, sizeof d) != 0;
		}
		sha256_init(&c);
		for (size_t k = 0; k < n; k++)
			sha256_update(&c, pattern + k, 1);
		sha256_final(&c, d);
		bad += memcmp(one, d, sizeof d) != 0;
		ok(bad == 0, "%zu bytes: all %zu splits and byte by byte agree with one-shot", n, n + 1);
		if (bad)
			printf("#   %zu of them differ\n", bad);
	}
}

int main(void)
{
	for (size_t i = 0; i < PATTERN_MAX; i++)
		pattern[i] = (unsigned char)(i * 31 + 7);
	test_fips();
	test_boundaries();
	test_splits();
	return tap_done();
}
