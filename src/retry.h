/* retry.h - the retry policy as pure functions: which outcomes are worth
 * another attempt, how long to wait before it (exponential backoff with
 * jitter, never sooner than the upstream's Retry-After), how long a
 * provider's rate-limit headers say to wait, and whether another attempt
 * still fits the request's deadline.
 *
 * Nothing here reads a clock: times are milliseconds passed by the caller.
 * The parsers of absolute dates (HTTP-date, RFC 3339) need now_ms on the
 * Unix epoch (wall clock); everything else takes any clock. */
#ifndef AROUTER_RETRY_H
#define AROUTER_RETRY_H

#include "http-client.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum retry_class {
	RETRY_OK,       /* 2xx: done */
	RETRY_FAILOVER, /* worth another attempt: another key, or the next candidate */
	RETRY_FATAL,    /* the request itself is refused (or the client is gone): answer the client now */
};

/* Classifies one attempt from its transport outcome (http-client.h) and,
 * when a response arrived (XFER_OK), its status. Failover: connection
 * errors, timeouts, 408, 409, 429, every 5xx (529 included) and a status
 * that is not HTTP. Fatal: every other 4xx (400, 401, 403, 404, 413, 422,
 * ...), 1xx/3xx, and a cancelled or aborted transfer. Once any byte of the
 * answer has reached the client nothing may be retried whatever this says:
 * check http_response.body_started first. */
enum retry_class retry_classify(long http_status, enum http_outcome outcome);
/* "ok", "failover", "fatal" (static). */
const char *retry_class_name(enum retry_class c);

/* A Retry-After longer than this is not waited for: fail over instead. */
#define RETRY_AFTER_MAX_MS 60000
/* retry_delay_ms's answer when the upstream asks for more than that. */
#define RETRY_DELAY_FAILOVER (-1)

/* Whether a Retry-After of this many milliseconds (-1: none) should be
 * waited for before retrying the same upstream; false means fail over. */
bool retry_after_waitable(int64_t retry_after_ms);

/* The delay before retry number attempt (1 for the first retry) with "full
 * jitter": uniform in [0, min(max_ms, base_ms * 2^(attempt-1))]. When the
 * upstream sent Retry-After (retry_after_ms >= 0; -1 for none) the delay is
 * never shorter than it, even beyond max_ms; when Retry-After exceeds
 * RETRY_AFTER_MAX_MS the answer is RETRY_DELAY_FAILOVER. *rng_state is any
 * seed (zero included) and is advanced. */
int64_t retry_delay_ms(int attempt, int64_t base_ms, int64_t max_ms, int64_t retry_after_ms,
                       uint64_t *rng_state);
/* The same with "decorrelated jitter": uniform in [base_ms, min(max_ms,
 * 3 * prev_delay_ms)], where prev_delay_ms is this function's previous
 * answer (0 before the first retry). Spreads retries of many clients
 * better than full jitter when they started together. */
int64_t retry_delay_decorrelated_ms(int64_t prev_delay_ms, int64_t base_ms, int64_t max_ms,
                                    int64_t retry_after_ms, uint64_t *rng_state);

/* Parses a Retry-After value, delta-seconds ("120") or an HTTP-date (IMF
 * fixdate, RFC 850 or asctime form), into milliseconds from now_ms (a date
 * in the past gives 0). Returns -1 for anything else. */
int64_t retry_after_parse(const char *value, int64_t now_ms);

/* Parses a Go duration as OpenAI's x-ratelimit-reset-* headers send it
 * ("20ms", "1s", "6m0s", "1h2m3.5s", "7.66s") into milliseconds, rounded
 * up. Returns -1 for anything else. */
int64_t retry_duration_parse(const char *value);
/* Parses an RFC 3339 timestamp ("2024-05-01T12:00:30Z", fractions and
 * offsets allowed) into milliseconds since the Unix epoch; -1 if malformed. */
int64_t retry_timestamp_parse(const char *value);

/* The milliseconds until the upstream's limit resets according to one
 * response header, named in any case: retry-after, retry-after-ms,
 * x-ms-retry-after-ms, OpenAI's x-ratelimit-reset-requests / -tokens (Go
 * durations) and Anthropic's anthropic-ratelimit-*-reset (RFC 3339).
 * Returns -1 for other headers and malformed values. */
int64_t retry_reset_header_ms(const char *name, const char *value, int64_t now_ms);

/* How long a 429's headers say to wait: Retry-After (or its -ms forms)
 * when present; else the longest reset among the limits whose paired
 * "remaining" header reads 0, or the longest of all the resets when none
 * says which limit ran out. Returns -1 when no header tells. */
int64_t retry_wait_from_headers(const struct http_header *headers, size_t n, int64_t now_ms);

/* Whether another attempt fits the request's deadline: waiting delay_ms
 * (RETRY_DELAY_FAILOVER counts as 0) and then running for at least
 * min_attempt_ms must end by deadline_ms. A deadline <= 0 means none. */
bool retry_fits_deadline(int64_t deadline_ms, int64_t now_ms, int64_t delay_ms, int64_t min_attempt_ms);

#endif
