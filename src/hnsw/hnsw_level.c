/*
 * hnsw_level.c - the deterministic level generator.
 *
 * Owns the PRNG (splitmix64: 64-bit state, one add and three xor-shift-
 * multiply rounds per draw; passes BigCrush and is identical on every
 * platform) and the level draw floor(-ln(U) * mL) with mL = 1 / ln(m) and U
 * uniform in (0, 1], capped at HNSW_MAX_LEVEL.  The same seed and the same
 * sequence of inserts therefore give the same levels, hence the same graph.
 * hnsw_random_level exports the draw for callers of hnsw_store_insert, with
 * the same mL as an index of that m (so the same levels as hnsw_insert).
 */
#include <math.h>

#include "hnsw_internal.h"

uint64_t
hnsw_rng_next(uint64_t *state)
{
	uint64_t	z = (*state += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

int
hnsw_draw_level(uint64_t *state, double level_mult)
{
	/* 53 random bits; +1 keeps U > 0 so the log is finite */
	double		u = (double) ((hnsw_rng_next(state) >> 11) + 1) *
		(1.0 / 9007199254740992.0);
	double		level = floor(-log(u) * level_mult);

	if (!(level < HNSW_MAX_LEVEL))
		return HNSW_MAX_LEVEL;
	return (int) level;
}

int
hnsw_random_level(int m, uint64_t *state)
{
	if (state == NULL || m < HNSW_MIN_M || m > HNSW_MAX_M)
		return -1;
	/* computed exactly as hnsw_create computes the index's level_mult */
	return hnsw_draw_level(state, 1.0 / log((double) m));
}
