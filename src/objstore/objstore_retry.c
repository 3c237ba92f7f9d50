/*
 * objstore_retry.c - the retry policy: capped exponential backoff with full
 * jitter (each delay uniform in [0, min(cap, base * 2^n)]), applied to
 * transient failures only.
 *
 * Retried: 5xx (server error), 429 and 503 SlowDown (throttled), 409
 * ConditionalRequestConflict (AWS asks clients to retry it), timeouts and
 * network failures (refused, reset or dropped connections).  Never retried:
 * 404, 412 and every other 4xx - they are answers, not accidents - and
 * replies we cannot parse.
 */
#include <errno.h>
#include <time.h>

#include "objstore_retry.h"

int
objstore_status_retryable(ObjStoreStatus status)
{
	switch (status)
	{
		case OBJSTORE_THROTTLED:
		case OBJSTORE_TIMEOUT:
		case OBJSTORE_NETWORK:
		case OBJSTORE_SERVER_ERROR:
		case OBJSTORE_CONFLICT:
			return 1;
		default:
			return 0;
	}
}

uint64_t
objstore_retry_ceiling_ms(const ObjStoreRetryPolicy *p, int failures)
{
	uint64_t	ceiling = (uint64_t) (p->base_ms > 0 ? p->base_ms : 0);
	uint64_t	cap = (uint64_t) (p->cap_ms > 0 ? p->cap_ms : 0);

	for (int i = 1; i < failures && ceiling < cap; i++)
		ceiling *= 2;
	return ceiling < cap ? ceiling : cap;
}

uint64_t
objstore_retry_delay_ms(const ObjStoreRetryPolicy *p, int failures, uint64_t *rng)
{
	uint64_t	ceiling = objstore_retry_ceiling_ms(p, failures);
	uint64_t	x = *rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*rng = x;
	return ceiling == 0 ? 0 : x % (ceiling + 1);
}

void
objstore_sleep_ms(uint64_t ms)
{
	struct timespec ts = {(time_t) (ms / 1000), (long) (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}
