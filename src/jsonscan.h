/* jsonscan.h - where a run of plain string bytes ends, 16 bytes at once.
 *
 * Both the reader (jsonr.c) and the writer (jsonw.c) spend most of their
 * time on the bytes of strings that need nothing done: the reader stops at
 * '"', '\\' and NUL, the writer at '"', '\\' and the C0 controls. Written
 * with GCC's vector extensions (GCC and clang), which become SSE2 on
 * x86-64 and NEON on arm64; JSON_SCAN16 is 0 where they, or a
 * little-endian byte order, are missing, and the callers then go 8 bytes
 * at a time. */
#ifndef AROUTER_JSONSCAN_H
#define AROUTER_JSONSCAN_H

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define JSON_SCAN16 1

typedef unsigned char json_u8x16 __attribute__((vector_size(16)));

/* The index in p[0..16) of the first '"', '\\' or byte below `below`
 * (1: NUL only; 0x20: the controls), or 16. Reads exactly 16 bytes. */
static inline unsigned json_scan16(const char *p, unsigned char below)
{
	json_u8x16 v;
	memcpy(&v, p, 16);
	json_u8x16 hit = (json_u8x16)((v == '"') | (v == '\\') | (v < below));
	uint64_t lo, hi;
	memcpy(&lo, &hit, 8);
	memcpy(&hi, (const char *)&hit + 8, 8);
	if (lo)
		return (unsigned)__builtin_ctzll(lo) / 8;
	if (hi)
		return 8 + (unsigned)__builtin_ctzll(hi) / 8;
	return 16;
}
#else
#define JSON_SCAN16 0
#endif

#endif
