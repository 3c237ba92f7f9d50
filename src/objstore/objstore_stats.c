/*
 * objstore_stats.c - per-operation statistics of a store handle (request,
 * retry and error counters, latency histograms, bytes), the clock they use,
 * and a random seed for the retry jitter.
 */
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "objstore_internal.h"

uint64_t
objstore_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static int
hist_bucket(uint64_t us)
{
	int			b = 0;

	/* bucket b holds [2^(b-1), 2^b) microseconds; bucket 0 holds 0 */
	while (b < OBJSTORE_HIST_BUCKETS - 1 && us >= (UINT64_C(1) << b))
		b++;
	return b;
}

void
objstore_stats_record(ObjStore *store, ObjStoreOp op, uint64_t elapsed_us,
					  ObjStoreStatus status)
{
	ObjStoreOpStats *s = &store->stats.op[op];

	s->latency_hist[hist_bucket(elapsed_us)]++;
	if (status != OBJSTORE_OK && status != OBJSTORE_NOT_FOUND &&
		status != OBJSTORE_PRECONDITION_FAILED)
		s->errors++;
}

void
objstore_get_stats(const ObjStore *store, ObjStoreStats *out)
{
	*out = store->stats;
}

void
objstore_reset_stats(ObjStore *store)
{
	memset(&store->stats, 0, sizeof(store->stats));
}

uint64_t
objstore_hist_quantile_us(const uint64_t *hist, double q)
{
	uint64_t	total = 0;
	uint64_t	seen = 0;
	uint64_t	rank;

	for (int b = 0; b < OBJSTORE_HIST_BUCKETS; b++)
		total += hist[b];
	if (total == 0)
		return 0;
	if (q < 0)
		q = 0;
	if (q > 1)
		q = 1;
	rank = (uint64_t) (q * (double) (total - 1)) + 1;
	for (int b = 0; b < OBJSTORE_HIST_BUCKETS; b++)
	{
		seen += hist[b];
		if (seen >= rank)
			return UINT64_C(1) << b;
	}
	return UINT64_C(1) << (OBJSTORE_HIST_BUCKETS - 1);
}

uint64_t
objstore_random_seed(void)
{
	uint64_t	seed;
	struct timespec ts;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t) sizeof(seed))
		return seed | 1;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (((uint64_t) ts.tv_nsec << 20) ^ (uint64_t) ts.tv_sec ^
			((uint64_t) getpid() << 40)) | 1;
}
