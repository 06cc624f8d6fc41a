/* util.h - process-wide helpers: allocation that cannot fail, fatal errors
 * with documented exit codes, small string utilities, secret redaction,
 * wiping and comparison, and base64. */
#ifndef AROUTER_UTIL_H
#define AROUTER_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes, documented in arouter(1). */
enum exit_code {
	EXIT_OK = 0,
	EXIT_FAILURE_GENERIC = 1,
	EXIT_USAGE = 2,
	EXIT_CONFIG = 3,    /* malformed config, missing key, unknown provider */
	EXIT_AUTH = 4,      /* upstream said 401/403 */
	EXIT_RATELIMIT = 5, /* upstream said 429 or quota exhausted */
	EXIT_UPSTREAM = 6,  /* upstream error status or a response we cannot read */
	EXIT_NETWORK = 7,   /* connect failure, timeout, cut stream */
	EXIT_INTERRUPTED = 130,
};

extern const char *progname;

/* Makes the calling thread use the "C" locale object. arouter never calls
 * setlocale, so nothing it prints changes; what changes is json-c's cost:
 * every json_tokener_parse_ex duplicates the thread's locale and builds a
 * numeric "C" one from it (about 1,200 instructions and a getenv a parse),
 * and glibc skips both when the thread's locale already is the "C"
 * object. Call it first in every thread that parses JSON. */
void use_c_locale(void);
extern int verbosity; /* -1 quiet, 0 normal, >0 verbose */

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
/* The returned string is owned by the caller; free with free(). */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap);
/* a, sep and b end to end in a new string the caller frees: as
 * xasprintf("%s%s%s") without the cost of printf, for names built on
 * every request. */
char *xstrjoin(const char *a, const char *sep, const char *b);
/* v in decimal at out (room for 20 digits), not terminated; the length. */
size_t ull_to_dec(char *out, unsigned long long v);

/* A free list of same-sized blocks, for objects made and freed on every
 * request: glibc's caches stop at about 1 KiB, and a bigger calloc on a busy
 * loop makes malloc consolidate its free lists each time. Single-threaded.
 * Under AddressSanitizer a kept block is poisoned, so a use after
 * spares_put is still caught. */
struct spares {
	size_t size;   /* of each block; set before first use */
	unsigned max;  /* how many freed blocks to keep */
	unsigned n;
	void *head;
};
/* A zeroed block of sp->size bytes. */
void *spares_get(struct spares *sp);
/* Keeps p (from spares_get; NULL is ignored) for reuse, or frees it. */
void spares_put(struct spares *sp, void *p);
/* Frees every kept block. */
void spares_clear(struct spares *sp);

/* Prints "arouter: MESSAGE" to stderr and exits with code. */
void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
/* Prints "arouter: warning: MESSAGE" to stderr unless quiet. */
void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "arouter: MESSAGE" to stderr only with -v. */
void verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "arouter: MESSAGE" to stderr (an error that does not exit). */
void errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

bool str_has_prefix(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);
bool str_empty(const char *s);
/* Whether s holds a control character (below 0x20, or DEL): such a value
 * can never go into a header, a request line or a one-line field. */
bool str_has_ctl(const char *s);

/* The length of the longest prefix of s[0..len) that is well-formed
 * UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). */
size_t utf8_valid_prefix(const char *s, size_t len);
/* s[0..len) with every ill-formed sequence (each maximal subpart, as
 * Unicode recommends) replaced by U+FFFD, in a new NUL-terminated string
 * of *out_len bytes (caller frees); NULL when s is well-formed already. */
char *utf8_repair(const char *s, size_t len, size_t *out_len);

/* Redacts a secret to a recognisable prefix and its last four characters
 * ("sk-…abcd"); short secrets become "…". Returns a buffer of the calling
 * thread that its next call overwrites. */
const char *redact(const char *secret);
/* Gives the memory the allocator holds free back to the system, for the
 * calling thread's heap. Only mimalloc (the plain build's allocator) needs
 * it: it decommits freed spans 25-500 ms late, and only when the thread
 * allocates again, so an idle proxy kept the pages of its last big answer
 * (186 MiB after 10 MB answers in every dialect pair). glibc's free gives back
 * large blocks itself; without mimalloc this does nothing. */
void memory_release(void);
/* Zeroes p[0..n) in a way the compiler cannot drop as a dead store, for a
 * secret about to be freed or to go out of scope. */
void secure_wipe(void *p, size_t n);
/* Whether a[0..n) equals b[0..n), looking at every byte whatever the
 * first difference: for comparing secrets (n itself is not secret). */
bool const_time_equal(const void *a, const void *b, size_t n);

/* Standard base64 (RFC 4648 §4, with padding). base64_encode writes the
 * 4 * ceil(len / 3) characters of data[0..len) and a NUL to out, which has
 * room for BASE64_SIZE(len) bytes, and returns the number of characters;
 * xbase64 returns them in a new string owned by the caller. */
#define BASE64_SIZE(len) (4 * (((len) + 2) / 3) + 1)
size_t base64_encode(char *out, const void *data, size_t len);
char *xbase64(const void *data, size_t len);

/* Levenshtein distance, for "did you mean" suggestions. */
size_t edit_distance(const char *a, const char *b);
/* FNV-1a over a NUL-terminated string: for hash tables keyed by text. */
uint64_t str_hash(const char *s);
/* An index of strings by open addressing, for a table that owns the keys:
 * n_index slots (a power of two, more than the entries), each 0 or i + 1
 * for entry i. str_index_put files entry i under key; str_index_find
 * returns i + 1 for the entry whose key (key_of(table, i)) is key, or 0. */
void str_index_put(size_t *index, size_t n_index, const char *key, size_t i);
size_t str_index_find(const size_t *index, size_t n_index, const char *key,
                      const char *(*key_of)(const void *table, size_t i), const void *table);
/* Returns the candidate closest to word if it is close enough to be a
 * plausible typo, else NULL. The pointer is one of candidates. */
const char *suggest(const char *word, const char *const *candidates, size_t n);

/* Reads a whole file; the returned buffer is NUL-terminated and owned by the
 * caller. Returns NULL and sets errno on failure. */
char *read_file(const char *path, size_t *len_out);
/* Reads a whole stream until EOF; same ownership as read_file. */
char *read_stream(int fd, size_t *len_out);
/* mkdir -p with the given mode for each created component. 0 on success. */
int mkdir_p(const char *path, unsigned mode);

/* The XDG base directory for kind ("config", "state", "data") joined with
 * "arouter". The returned string is owned by the caller. */
char *xdg_dir(const char *kind);

/* Milliseconds on the monotonic clock (intervals) and since the Unix
 * epoch (timestamps). */
long long mono_clock_ms(void);
long long wall_clock_ms(void);

#endif
