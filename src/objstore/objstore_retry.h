/*
 * objstore_retry.h - the retry policy of S3 requests: which failures are
 * retried, and how long to wait before the next attempt.
 */
#ifndef BRAINY_OBJSTORE_RETRY_H
#define BRAINY_OBJSTORE_RETRY_H

#include <stdint.h>

#include "objstore.h"

typedef struct ObjStoreRetryPolicy
{
	int			max_attempts;	/* >= 1 */
	int			base_ms;		/* first ceiling */
	int			cap_ms;			/* largest ceiling */
} ObjStoreRetryPolicy;

/* The delay ceiling after `failures` failed attempts: min(cap, base * 2^(failures-1)). */
extern uint64_t objstore_retry_ceiling_ms(const ObjStoreRetryPolicy *p, int failures);

/* "Full jitter": a uniform random delay in [0, ceiling], from *rng (xorshift). */
extern uint64_t objstore_retry_delay_ms(const ObjStoreRetryPolicy *p, int failures,
										uint64_t *rng);

/* Sleep ms milliseconds (restarting after signals). */
extern void objstore_sleep_ms(uint64_t ms);

#endif							/* BRAINY_OBJSTORE_RETRY_H */
