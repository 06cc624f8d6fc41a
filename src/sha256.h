/* sha256.h - SHA-256 (FIPS 180-4), for hashing secrets: the admin key
 * compared as two digests, API keys stored as digests in the ledger.
 * Portable C99; not hardened against side channels beyond having no
 * data-dependent branches or table lookups. */
#ifndef AROUTER_SHA256_H
#define AROUTER_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

struct sha256_ctx {
	uint32_t h[8];
	uint64_t bytes;    /* message length so far */
	uint8_t block[64]; /* a partial block of bytes % 64 bytes */
};

void sha256_init(struct sha256_ctx *c);
/* Feeds len bytes of data; any split of a message gives the same digest. */
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
/* Writes the digest and wipes c, which needs sha256_init to be used again. */
void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_LEN]);
/* The digest of data[0..len) in one call. */
void sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]);

#endif
