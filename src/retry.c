/* retry.c - retry classification, backoff and rate-limit header parsing. */
#include "config.h"

#include "retry.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Waits are saturated here (about 31 years) so that callers can add them
 * to a clock without overflow. */
#define WAIT_CAP_MS ((int64_t)1000 * 1000 * 1000 * 1000)

enum retry_class retry_classify(long http_status, enum http_outcome outcome)
{
	switch (outcome) {
	case XFER_NETWORK:
	case XFER_TIMEOUT:
		return RETRY_FAILOVER;
	case XFER_CANCELLED:
	case XFER_ABORTED:
		return RETRY_FATAL;
	case XFER_OK:
		break;
	}
	if (http_status >= 200 && http_status <= 299)
		return RETRY_OK;
	if (http_status == 408 || http_status == 409 || http_status == 429)
		return RETRY_FAILOVER;
	if (http_status >= 500 && http_status <= 599)
		return RETRY_FAILOVER;
	if (http_status >= 100 && http_status <= 499)
		return RETRY_FATAL;
	/* Not HTTP: the upstream is broken, not the request. */
	return RETRY_FAILOVER;
}

const char *retry_class_name(enum retry_class c)
{
	switch (c) {
	case RETRY_OK:
		return "ok";
	case RETRY_FAILOVER:
		return "failover";
	case RETRY_FATAL:
		return "fatal";
	}
	return "unknown";
}

bool retry_after_waitable(int64_t retry_after_ms)
{
	return retry_after_ms <= RETRY_AFTER_MAX_MS;
}

/* splitmix64: good enough for jitter, and any seed works, 0 included. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi]; the modulo bias is below 2^-40 for any delay. */
static int64_t random_between(uint64_t *state, int64_t lo, int64_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (int64_t)(next_random(state) % (uint64_t)(hi - lo + 1));
}

static int64_t honour_retry_after(int64_t delay, int64_t retry_after_ms)
{
	if (retry_after_ms > RETRY_AFTER_MAX_MS)
		return RETRY_DELAY_FAILOVER;
	return retry_after_ms > delay ? retry_after_ms : delay;
}

int64_t retry_delay_ms(int attempt, int64_t base_ms, int64_t max_ms, int64_t retry_after_ms,
                       uint64_t *rng_state)
{
	if (base_ms < 0)
		base_ms = 0;
	if (max_ms < base_ms)
		max_ms = base_ms;
	int64_t cap = base_ms;
	for (int i = 1; i < attempt && cap > 0 && cap < max_ms; i++)
		cap = cap > max_ms / 2 ? max_ms : cap * 2;
	if (cap > max_ms)
		cap = max_ms;
	return honour_retry_after(random_between(rng_state, 0, cap), retry_after_ms);
}

int64_t retry_delay_decorrelated_ms(int64_t prev_delay_ms, int64_t base_ms, int64_t max_ms,
                                    int64_t retry_after_ms, uint64_t *rng_state)
{
	if (base_ms < 0)
		base_ms = 0;
	if (max_ms < base_ms)
		max_ms = base_ms;
	if (prev_delay_ms < base_ms)
		prev_delay_ms = base_ms;
	int64_t hi = prev_delay_ms > max_ms / 3 ? max_ms : prev_delay_ms * 3;
	return honour_retry_after(random_between(rng_state, base_ms, hi), retry_after_ms);
}

/* ---- dates ---- */

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil), so that no time zone is involved. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return days[m - 1];
}

/* Epoch milliseconds for a UTC date and time, or -1 if out of range. A
 * leap second (60) is accepted and read as the next second. */
static int64_t epoch_ms(int y, int mo, int d, int h, int mi, int s, int ms)
{
	if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h < 0 ||
	    h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60 || ms < 0 || ms > 999)
		return -1;
	int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
	return secs * 1000 + ms;
}

static int month_number(const char *name)
{
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	for (int i = 0; i < 12; i++)
		if (strcmp(name, months[i]) == 0)
			return i + 1;
	return 0;
}

/* Reads exactly n digits at *p. */
static bool digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

/* The three HTTP-date forms of RFC 9110 section 5.6.7, in epoch ms. */
static int64_t http_date_parse(const char *s)
{
	char wday[16], mon[4];
	int d, y, h, mi, sec, end = 0;

	/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
	if (sscanf(s, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", wday, &d, mon, &y, &h, &mi, &sec,
	           &end) == 7 &&
	    end > 0 && s[end] == '\0')
		return epoch_ms(y, month_number(mon), d, h, mi, sec, 0);
	/* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
	end = 0;
	if (sscanf(s, "%15[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n", wday, &d, mon, &y, &h, &mi, &sec,
	           &end) == 7 &&
	    end > 0 && s[end] == '\0') {
		/* Two-digit years: RFC 9110 reads those more than 50 years in
		 * the future as the past; with no clock here, 70 is the pivot. */
		y += y < 70 ? 2000 : 1900;
		return epoch_ms(y, month_number(mon), d, h, mi, sec, 0);
	}
	/* asctime: Sun Nov  6 08:49:37 1994 */
	end = 0;
	if (sscanf(s, "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", wday, mon, &d, &h, &mi, &sec, &y,
	           &end) == 7 &&
	    end > 0 && s[end] == '\0')
		return epoch_ms(y, month_number(mon), d, h, mi, sec, 0);
	return -1;
}

static bool is_blank(const char *s)
{
	return *s == ' ' || *s == '\t';
}

/* Copies value without surrounding blanks into buf; false if too long or empty. */
static bool trimmed(const char *value, char *buf, size_t size)
{
	if (!value)
		return false;
	while (is_blank(value))
		value++;
	size_t n = strlen(value);
	while (n > 0 && is_blank(value + n - 1))
		n--;
	if (n == 0 || n >= size)
		return false;
	memcpy(buf, value, n);
	buf[n] = '\0';
	return true;
}

/* A non-negative decimal "12" or "1.5" times unit, rounded up, saturated. */
static int64_t decimal_times(const char *s, int64_t unit)
{
	int64_t ip = 0, frac = 0, scale = 1;
	const char *p = s;
	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++)
		ip = ip < WAIT_CAP_MS ? ip * 10 + (*p - '0') : WAIT_CAP_MS;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		for (; isdigit((unsigned char)*p); p++)
			if (scale < 1000000000) {
				frac = frac * 10 + (*p - '0');
				scale *= 10;
			}
	}
	if (*p)
		return -1;
	if (ip > WAIT_CAP_MS / unit)
		return WAIT_CAP_MS;
	return ip * unit + (frac * unit + scale - 1) / scale;
}

int64_t retry_after_parse(const char *value, int64_t now_ms)
{
	char buf[64];
	if (!trimmed(value, buf, sizeof buf))
		return -1;
	if (isdigit((unsigned char)buf[0])) {
		/* RFC 9110 says delta-seconds is digits only; a fraction is
		 * read too since some upstreams send one. */
		return decimal_times(buf, 1000);
	}
	int64_t at = http_date_parse(buf);
	if (at < 0)
		return -1;
	return at > now_ms ? at - now_ms : 0;
}

int64_t retry_duration_parse(const char *value)
{
	static const struct {
		const char *name;
		int64_t ns;
	} units[] = {
	    /* longest first so that "ms" is not read as "m" */
	    {"ns", 1},           {"us", 1000},      {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
	    {"\xce\xbcs", 1000},                                         /* U+03BC Greek mu */
	    {"ms", 1000000},     {"s", 1000000000}, {"m", 60LL * 1000000000}, {"h", 3600LL * 1000000000},
	};
	char buf[64];
	if (!trimmed(value, buf, sizeof buf))
		return -1;
	const char *p = buf;
	if (strcmp(p, "0") == 0)
		return 0;
	const int64_t cap_ns = WAIT_CAP_MS * 1000000;
	int64_t total = 0;
	while (*p) {
		int64_t ip = 0, frac = 0, scale = 1;
		if (!isdigit((unsigned char)*p) && *p != '.')
			return -1;
		const char *start = p;
		for (; isdigit((unsigned char)*p); p++)
			ip = ip < cap_ns / 10 ? ip * 10 + (*p - '0') : cap_ns;
		if (*p == '.') {
			p++;
			for (; isdigit((unsigned char)*p); p++)
				if (scale < 1000000000) {
					frac = frac * 10 + (*p - '0');
					scale *= 10;
				}
		}
		if (p == start || (p == start + 1 && *start == '.'))
			return -1;
		size_t u;
		for (u = 0; u < sizeof units / sizeof units[0]; u++)
			if (strncmp(p, units[u].name, strlen(units[u].name)) == 0)
				break;
		if (u == sizeof units / sizeof units[0])
			return -1;
		p += strlen(units[u].name);
		int64_t unit = units[u].ns;
		if (ip > cap_ns / unit)
			return WAIT_CAP_MS;
		/* Exact: units of a second or more are whole seconds. */
		int64_t part = ip * unit + (unit >= 1000000000 ? frac * (unit / scale)
		                                               : (frac * unit + scale - 1) / scale);
		total = total > cap_ns - part ? cap_ns : total + part;
	}
	return (total + 999999) / 1000000;
}

int64_t retry_timestamp_parse(const char *value)
{
	char buf[64];
	if (!trimmed(value, buf, sizeof buf))
		return -1;
	const char *p = buf;
	int y, mo, d, h, mi, s, ms = 0;
	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' || !digits(&p, 2, &d))
		return -1;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -1;
	p++;
	if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' || !digits(&p, 2, &s))
		return -1;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		/* Milliseconds, rounded up: never earlier than the reset. */
		int n = 0, frac = 0;
		bool rest = false;
		for (; isdigit((unsigned char)*p); p++, n++) {
			if (n < 3)
				frac = frac * 10 + (*p - '0');
			else if (*p != '0')
				rest = true;
		}
		for (; n < 3; n++)
			frac *= 10;
		ms = frac + rest;
	}
	int offset_min = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
			return -1;
		offset_min = sign * (oh * 60 + om);
	} else {
		return -1;
	}
	if (*p)
		return -1;
	int64_t carry = 0;
	if (ms == 1000) {
		ms = 0;
		carry = 1000;
	}
	int64_t at = epoch_ms(y, mo, d, h, mi, s, ms);
	if (at < 0)
		return -1;
	at += carry - (int64_t)offset_min * 60000;
	return at < 0 ? -1 : at;
}

/* "x-ratelimit-reset-requests" → "requests"; NULL when not that form. */
static const char *openai_limit(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);
	return strncasecmp(name, prefix, n) == 0 && name[n] ? name + n : NULL;
}

/* "anthropic-ratelimit-tokens-reset" → "tokens" with its length. */
static const char *anthropic_limit(const char *name, const char *suffix, size_t *len)
{
	static const char prefix[] = "anthropic-ratelimit-";
	size_t np = sizeof prefix - 1, n = strlen(name), ns = strlen(suffix);
	if (n <= np + ns || strncasecmp(name, prefix, np) != 0 || strcasecmp(name + n - ns, suffix) != 0)
		return NULL;
	*len = n - np - ns;
	return name + np;
}

int64_t retry_reset_header_ms(const char *name, const char *value, int64_t now_ms)
{
	char buf[64];
	size_t len;
	if (!name || !value)
		return -1;
	if (strcasecmp(name, "retry-after") == 0)
		return retry_after_parse(value, now_ms);
	if (strcasecmp(name, "retry-after-ms") == 0 || strcasecmp(name, "x-ms-retry-after-ms") == 0)
		return trimmed(value, buf, sizeof buf) ? decimal_times(buf, 1) : -1;
	if (openai_limit(name, "x-ratelimit-reset-"))
		return retry_duration_parse(value);
	if (anthropic_limit(name, "-reset", &len)) {
		int64_t at = retry_timestamp_parse(value);
		if (at < 0)
			return -1;
		return at > now_ms ? at - now_ms : 0;
	}
	return -1;
}

static bool is_zero(const char *value)
{
	char buf[32];
	return trimmed(value, buf, sizeof buf) && strspn(buf, "0") == strlen(buf);
}

/* Whether the "remaining" header paired with the reset header name reads 0. */
static bool exhausted(const struct http_header *h, size_t n, const char *reset_name)
{
	const char *limit;
	size_t len;
	char want[128];
	if ((limit = openai_limit(reset_name, "x-ratelimit-reset-")))
		snprintf(want, sizeof want, "x-ratelimit-remaining-%s", limit);
	else if ((limit = anthropic_limit(reset_name, "-reset", &len)) && len < 64)
		snprintf(want, sizeof want, "anthropic-ratelimit-%.*s-remaining", (int)len, limit);
	else
		return false;
	for (size_t i = 0; i < n; i++)
		if (h[i].name && strcasecmp(h[i].name, want) == 0)
			return is_zero(h[i].value);
	return false;
}

int64_t retry_wait_from_headers(const struct http_header *headers, size_t n, int64_t now_ms)
{
	int64_t retry_after = -1, any = -1, out = -1;
	for (size_t i = 0; i < n; i++) {
		const char *name = headers[i].name;
		if (!name)
			continue;
		int64_t ms = retry_reset_header_ms(name, headers[i].value, now_ms);
		if (ms < 0)
			continue;
		if (strcasecmp(name, "retry-after") == 0 || strcasecmp(name, "retry-after-ms") == 0 ||
		    strcasecmp(name, "x-ms-retry-after-ms") == 0) {
			/* The millisecond forms are more precise than seconds. */
			if (retry_after < 0 || strcasecmp(name, "retry-after") != 0)
				retry_after = ms;
			continue;
		}
		if (ms > any)
			any = ms;
		if (exhausted(headers, n, name) && ms > out)
			out = ms;
	}
	if (retry_after >= 0)
		return retry_after;
	return out >= 0 ? out : any;
}

bool retry_fits_deadline(int64_t deadline_ms, int64_t now_ms, int64_t delay_ms, int64_t min_attempt_ms)
{
	if (deadline_ms <= 0)
		return true;
	if (delay_ms < 0)
		delay_ms = 0;
	if (min_attempt_ms < 0)
		min_attempt_ms = 0;
	return now_ms <= deadline_ms && delay_ms <= deadline_ms - now_ms - min_attempt_ms;
}
