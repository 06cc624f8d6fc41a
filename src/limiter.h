/* limiter.h - rate limits per local client key for `arouter proxy`:
 * requests per minute (rpm) and tokens per minute (tpm).
 *
 * Design: GCRA, i.e. a leaky bucket per key and per limit that holds a
 * level and the time it was last drained. A request adds one unit, a
 * response's tokens add their count; the bucket drains continuously at
 * limit per minute and holds at most limit units, so a key idle for a
 * minute may burst its whole limit and then gets limit/60 per second.
 * Chosen over the alternatives because it is exact and O(1): a fixed window
 * lets a client send 2x the limit across a window boundary and tells it to
 * wait for the boundary; a sliding-window log bounds every 60 s window
 * exactly but stores a timestamp per request (O(rpm) memory per key, and
 * tokens cannot be logged per unit); a sliding-window counter is an
 * approximation. GCRA also gives Remaining, Reset and Retry-After by
 * arithmetic, and tokens charged after the fact simply push the level past
 * the limit (a debt the key pays back by waiting). Its one leniency: after
 * a full burst the refill continues, so a 60 s window can see up to about
 * twice the limit; the long-run rate is exactly the limit. Providers
 * (OpenAI: "limits replenish continuously") behave the same way.
 *
 * tpm is checked at admission against what was already charged: a request
 * is admitted while at least one token of the minute's budget is left,
 * since its own cost is known only from its response.
 *
 * Per-key state lives in a small hash table of at most max_keys entries.
 * A key whose buckets have drained is indistinguishable from a new one and
 * is evicted first; only when every entry is busy is the least recently
 * seen one evicted (forgetting its debt), so max_keys should exceed the
 * number of local keys. Keys are the ledger's ids of authenticated clients,
 * not attacker-chosen strings.
 *
 * Every function may be called from any thread: the proxy's event loops
 * share one limiter, behind a mutex of its own.
 *
 * Time is the caller's milliseconds (any clock that does not go
 * backwards). No I/O, not thread-safe. */
#ifndef AROUTER_LIMITER_H
#define AROUTER_LIMITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LIMITER_DEFAULT_MAX_KEYS 4096
/* Larger limits are read as this; the arithmetic stays in 64 bits. */
#define LIMITER_MAX_LIMIT 1000000000LL

/* One limit's state as response headers show it. */
struct limiter_quota {
	int64_t limit;     /* per minute; 0 when unlimited (then the other fields are 0) */
	int64_t remaining; /* units left now (after this request when admitted) */
	int64_t reset_ms;  /* until the bucket is empty again (the whole limit available) */
};

enum limiter_reason {
	LIMITER_ADMITTED,
	LIMITER_RPM, /* rejected: requests per minute */
	LIMITER_TPM, /* rejected: tokens per minute */
};

/* What limiter_check_request decided, and what the response headers need:
 *
 *   X-RateLimit-Limit: requests.limit
 *   X-RateLimit-Remaining: requests.remaining
 *   X-RateLimit-Reset: limiter_reset_epoch_s(wall-clock now, requests.reset_ms)
 *   Retry-After: retry_after_s (only when rejected)
 *
 * X-RateLimit-Reset follows GitHub's convention: the Unix time, in whole
 * seconds, at which the quota is whole again (not a number of seconds to
 * wait; Retry-After carries that). With only tpm set, the same headers
 * carry the tokens quota; with both, tokens may be shown OpenAI's way as
 * X-RateLimit-Limit-Tokens, -Remaining-Tokens, -Reset-Tokens. */
struct limiter_verdict {
	bool admitted;
	enum limiter_reason reason;
	int64_t retry_after_ms; /* when rejected: until a request would be admitted; else 0 */
	int64_t retry_after_s;  /* the same rounded up to whole seconds, at least 1; else 0 */
	struct limiter_quota requests, tokens;
};

/* Returns an empty limiter holding at most max_keys keys (0: the default),
 * owned by the caller (free with limiter_free). */
struct limiter *limiter_new(size_t max_keys);
void limiter_free(struct limiter *l);

/* Decides whether key_id (the local key's ledger id; not NULL) may send a
 * request now under rpm and tpm (0 or less: unlimited), fills *out, and
 * when admitted counts the request; a rejected request costs nothing.
 * Returns out->admitted. */
bool limiter_check_request(struct limiter *l, const char *key_id, int64_t rpm, int64_t tpm, int64_t now_ms,
                           struct limiter_verdict *out);

/* Charges a finished response's tokens (prompt plus completion) to key_id,
 * against the tpm its last limiter_check_request named. A key with no tpm,
 * or one the limiter does not hold (never checked, or evicted), is not
 * charged. */
void limiter_charge_tokens(struct limiter *l, const char *key_id, int64_t tokens, int64_t now_ms);

/* Evicts every key whose buckets have drained by now_ms, to be called now
 * and then; eviction also happens by itself when the table is full.
 * Returns how many keys were evicted. */
size_t limiter_sweep(struct limiter *l, int64_t now_ms);
/* How many keys the limiter holds. */
size_t limiter_size(struct limiter *l);

/* X-RateLimit-Reset's value: the Unix time in seconds (rounded up) of
 * wall_now_ms + reset_ms; wall_now_ms is milliseconds since the epoch. */
int64_t limiter_reset_epoch_s(int64_t wall_now_ms, int64_t reset_ms);

#endif
