/* util.c - see util.h. */
#include "config.h"

#include "util.h"
#include "buf.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

const char *progname = "arouter";
int verbosity = 0;

static void oom(void)
{
	fputs("arouter: out of memory\n", stderr);
	abort();
}

#if defined(__SANITIZE_ADDRESS__)
#define AR_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AR_ASAN 1
#endif
#endif
#ifdef AR_ASAN
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(a, n) ((void)(a), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(a, n) ((void)(a), (void)(n))
#endif

void *spares_get(struct spares *sp)
{
	void *p = sp->head;
	if (!p)
		return xcalloc(1, sp->size);
	ASAN_UNPOISON_MEMORY_REGION(p, sp->size);
	memcpy(&sp->head, p, sizeof sp->head);
	sp->n--;
	memset(p, 0, sp->size);
	return p;
}

void spares_put(struct spares *sp, void *p)
{
	if (!p)
		return;
	if (sp->n >= sp->max || sp->size < sizeof(void *)) {
		free(p);
		return;
	}
	memcpy(p, &sp->head, sizeof sp->head);
	ASAN_POISON_MEMORY_REGION(p, sp->size);
	sp->head = p;
	sp->n++;
}

void spares_clear(struct spares *sp)
{
	while (sp->head) {
		void *p = sp->head;
		ASAN_UNPOISON_MEMORY_REGION(p, sp->size);
		memcpy(&sp->head, p, sizeof sp->head);
		free(p);
	}
	sp->n = 0;
}

void use_c_locale(void)
{
	/* glibc answers a request for the whole "C" locale with its static
	 * object, which duplocale and newlocale then hand back unchanged. */
	locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	if (c)
		uselocale(c);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		oom();
	char *p = xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

char *xstrjoin(const char *a, const char *sep, const char *b)
{
	size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
	char *p = xmalloc(la + ls + lb + 1);
	memcpy(p, a, la);
	memcpy(p + la, sep, ls);
	memcpy(p + la + ls, b, lb + 1);
	return p;
}

size_t ull_to_dec(char *out, unsigned long long v)
{
	char tmp[20];
	size_t n = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

static void vreport(const char *prefix, const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: %s", progname, prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void die(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport("", fmt, ap);
	va_end(ap);
	exit(code);
}

void errorx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport("", fmt, ap);
	va_end(ap);
}

void warnx_(const char *fmt, ...)
{
	if (verbosity < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vreport("warning: ", fmt, ap);
	va_end(ap);
}

void verbose(const char *fmt, ...)
{
	if (verbosity <= 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vreport("", fmt, ap);
	va_end(ap);
}

bool str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_has_suffix(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);
	return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

bool str_empty(const char *s)
{
	return !s || !*s;
}

bool str_has_ctl(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return true;
	return false;
}

const char *redact(const char *secret)
{
	static __thread char out[64];
	if (str_empty(secret))
		return "(none)";
	size_t n = strlen(secret);
	if (n < 12) {
		snprintf(out, sizeof out, "…");
		return out;
	}
	/* Keep a recognisable prefix ("sk-", "lr_live_") up to the last
	 * separator in the first third (at most 8 characters), else three
	 * characters, and the last four. */
	size_t limit = n / 3 < 8 ? n / 3 : 8, keep = 3;
	for (size_t i = 0; i < limit; i++)
		if (secret[i] == '-' || secret[i] == '_')
			keep = i + 1;
	snprintf(out, sizeof out, "%.*s…%s", (int)keep, secret, secret + n - 4);
	return out;
}

#ifdef HAVE_MIMALLOC
/* Weak: only the arouter binary links mimalloc, not the unit tests. */
extern void mi_collect(bool force) __attribute__((weak));
#endif

void memory_release(void)
{
#ifdef HAVE_MIMALLOC
	if (mi_collect)
		mi_collect(true);
#endif
}

/* Called through a volatile pointer, memset cannot be proven to be memset,
 * so the store is not dead whatever happens to p afterwards. */
static void *(*const volatile wipe_memset)(void *, int, size_t) = memset;

void secure_wipe(void *p, size_t n)
{
	if (n)
		wipe_memset(p, 0, n);
}

bool const_time_equal(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char diff = 0;
	for (size_t i = 0; i < n; i++)
		diff = (unsigned char)(diff | (x[i] ^ y[i]));
	return diff == 0;
}

size_t base64_encode(char *out, const void *data, size_t len)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *d = data;
	char *o = out;
	for (; len >= 3; d += 3, len -= 3) {
		uint32_t v = (uint32_t)d[0] << 16 | (uint32_t)d[1] << 8 | d[2];
		*o++ = alphabet[v >> 18];
		*o++ = alphabet[(v >> 12) & 63];
		*o++ = alphabet[(v >> 6) & 63];
		*o++ = alphabet[v & 63];
	}
	if (len) {
		uint32_t v = (uint32_t)d[0] << 16 | (len == 2 ? (uint32_t)d[1] << 8 : 0);
		*o++ = alphabet[v >> 18];
		*o++ = alphabet[(v >> 12) & 63];
		*o++ = len == 2 ? alphabet[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return (size_t)(o - out);
}

char *xbase64(const void *data, size_t len)
{
	if (len > (SIZE_MAX - 1) / 4 * 3 - 2)
		oom();
	char *out = xmalloc(BASE64_SIZE(len));
	base64_encode(out, data, len);
	return out;
}

/* Optimal string alignment distance: Levenshtein plus adjacent
 * transpositions, since "chta" for "chat" is one slip, not two. */
size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t *prev2 = xmalloc((lb + 1) * sizeof *prev2);
	size_t *prev = xmalloc((lb + 1) * sizeof *prev);
	size_t *cur = xmalloc((lb + 1) * sizeof *cur);
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t best = prev[j - 1] + cost;
			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < best)
				best = prev2[j - 2] + 1;
			cur[j] = best;
		}
		size_t *t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
	}
	size_t d = prev[lb];
	free(prev2);
	free(prev);
	free(cur);
	return d;
}

const char *suggest(const char *word, const char *const *candidates, size_t n)
{
	/* A third of the word's length, at least one edit, at most three. */
	size_t len = strlen(word), limit = len / 3;
	if (limit < 1)
		limit = 1;
	if (limit > 3)
		limit = 3;
	const char *best = NULL;
	size_t best_d = (size_t)-1;
	for (size_t i = 0; i < n; i++) {
		/* The distance is at least the difference in length: a
		 * candidate too long or too short cannot be within the limit,
		 * and measuring it costs the product of the two lengths. */
		size_t cl = strlen(candidates[i]);
		if ((cl > len ? cl - len : len - cl) > limit)
			continue;
		size_t d = edit_distance(word, candidates[i]);
		if (d < best_d) {
			best_d = d;
			best = candidates[i];
		}
	}
	if (best && best_d <= limit)
		return best;
	/* A prefix of a command ("mod" for "models") is also a plausible slip. */
	if (strlen(word) >= 2)
		for (size_t i = 0; i < n; i++)
			if (str_has_prefix(candidates[i], word))
				return candidates[i];
	return NULL;
}

char *read_stream(int fd, size_t *len_out)
{
	size_t cap = 8192, len = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		if (cap - len < 4096) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		ssize_t r = read(fd, buf + len, cap - len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(buf);
			errno = e;
			return NULL;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	if (len_out)
		*len_out = len;
	return buf;
}

char *read_file(const char *path, size_t *len_out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char *buf = read_stream(fd, len_out);
	int e = errno;
	close(fd);
	errno = e;
	return buf;
}

int mkdir_p(const char *path, unsigned mode)
{
	char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			free(p);
			return -1;
		}
		*s = '/';
	}
	int rc = mkdir(p, mode);
	free(p);
	return rc < 0 && errno != EEXIST ? -1 : 0;
}

char *xdg_dir(const char *kind)
{
	static const struct {
		const char *kind, *env, *fallback;
	} dirs[] = {
		{"config", "XDG_CONFIG_HOME", ".config"},
		{"state", "XDG_STATE_HOME", ".local/state"},
		{"data", "XDG_DATA_HOME", ".local/share"},
	};
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		if (strcmp(dirs[i].kind, kind) != 0)
			continue;
		const char *base = getenv(dirs[i].env);
		/* The spec says a relative path is invalid and must be ignored. */
		if (!str_empty(base) && base[0] == '/')
			return xasprintf("%s/arouter", base);
		const char *home = getenv("HOME");
		if (str_empty(home))
			home = "/";
		return xasprintf("%s/%s/arouter", home, dirs[i].fallback);
	}
	abort();
}

long long mono_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long wall_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The length of the well-formed sequence at s (at most n bytes), or 0 when
 * it is not one; *bad is then the length of its maximal subpart (>= 1). */
static size_t utf8_sequence(const unsigned char *s, size_t n, size_t *bad)
{
	unsigned char c = s[0];
	size_t need;
	unsigned char lo = 0x80, hi = 0xbf; /* bounds of the second byte */
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* past U+10FFFF */
	} else {
		*bad = 1;
		return 0;
	}
	size_t i = 1;
	for (; i < need && i < n; i++) {
		unsigned char b = s[i];
		if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf))
			break;
	}
	if (i == need)
		return need;
	*bad = i;
	return 0;
}

size_t utf8_valid_prefix(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, bad;
	while (i < len) {
		/* ASCII runs, eight bytes at a time where aligned enough. */
		while (i + 8 <= len) {
			uint64_t w;
			memcpy(&w, p + i, 8);
			if (w & 0x8080808080808080ull)
				break;
			i += 8;
		}
		if (i >= len)
			break;
		size_t n = utf8_sequence(p + i, len - i, &bad);
		if (!n)
			return i;
		i += n;
	}
	return len;
}

char *utf8_repair(const char *s, size_t len, size_t *out_len)
{
	size_t ok = utf8_valid_prefix(s, len);
	if (ok == len)
		return NULL;
	struct buf b = BUF_INIT;
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, bad;
	while (i < len) {
		size_t run = utf8_valid_prefix(s + i, len - i);
		buf_append(&b, s + i, run);
		i += run;
		if (i >= len)
			break;
		utf8_sequence(p + i, len - i, &bad);
		buf_append(&b, "\xef\xbf\xbd", 3);
		i += bad;
	}
	if (out_len)
		*out_len = b.len;
	return buf_steal(&b);
}

uint64_t str_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

void str_index_put(size_t *index, size_t n_index, const char *key, size_t i)
{
	size_t mask = n_index - 1, h = (size_t)str_hash(key) & mask;
	while (index[h])
		h = (h + 1) & mask;
	index[h] = i + 1;
}

size_t str_index_find(const size_t *index, size_t n_index, const char *key,
                      const char *(*key_of)(const void *table, size_t i), const void *table)
{
	if (!index)
		return 0;
	size_t mask = n_index - 1;
	for (size_t h = (size_t)str_hash(key) & mask; index[h]; h = (h + 1) & mask)
		if (strcmp(key_of(table, index[h] - 1), key) == 0)
			return index[h];
	return 0;
}
