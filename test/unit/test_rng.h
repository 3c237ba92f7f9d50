/*
 * test_rng.h - the deterministic random numbers of the tests and benchmarks.
 *
 * xorshift64*: a fixed seed gives the same numbers on every platform, so a
 * failing test or a benchmark run can be reproduced exactly.  Header-only;
 * each program has its own state.
 */
#ifndef BRAINY_TEST_RNG_H
#define BRAINY_TEST_RNG_H

#include <stdint.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* Restart the sequence (seed must not be 0). */
static inline void
rng_seed(uint64_t seed)
{
	rng_state = seed;
}

/* Uniform in [0, 1). */
static inline double
rand_unit(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double) ((rng_state * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

#endif							/* BRAINY_TEST_RNG_H */
