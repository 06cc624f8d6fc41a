/* buf.h - a growable byte buffer, always NUL-terminated after its contents.
 * A struct buf is owned by whoever declared it; release with buf_free(). */
#ifndef AROUTER_BUF_H
#define AROUTER_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data; /* NULL until the first append; then len bytes + '\0' */
	size_t len;
	size_t cap;
};

#define BUF_INIT {NULL, 0, 0}

void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
/* Appends v in decimal. */
void buf_put_ll(struct buf *b, long long v);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Room for extra more bytes (and the NUL), so that appending them moves
 * nothing: for a length known beforehand. */
void buf_reserve(struct buf *b, size_t extra);
/* Room for n more bytes, to write in place: a pointer to the end of the
 * contents, valid until the next call on b. buf_commit(b, k) then takes
 * the first k (at most n) of them. */
char *buf_space(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t k);
/* Drops the first n bytes, keeping the rest. */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
/* Hands the contents to the caller (free with free()) and resets b. Never NULL. */
char *buf_steal(struct buf *b);
void buf_free(struct buf *b);
/* The contents as a C string; "" when empty. Owned by b. */
const char *buf_str(const struct buf *b);

#endif
