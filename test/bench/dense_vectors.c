/*
 * dense_vectors.c - a synthetic data set of dense, unit-length vectors.
 *
 * Real text and image embeddings are dense floats of unit length whose bytes
 * look random to a compressor, unlike Fashion-MNIST's integer pixels with
 * many zeros.  This writes COPY text lines `id<TAB>[x1,...,xD]` of Gaussian
 * vectors normalised to length 1, from a fixed seed, so every run and both
 * systems get the same data.
 *
 * usage: dense_vectors FIRST_ID COUNT DIM SEED
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t rng_state;

/* xorshift64*: uniform in (0, 1) */
static double
uniform(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return ((double) ((rng_state * UINT64_C(2685821657736338717)) >> 11) + 0.5) /
		9007199254740992.0;
}

/* Box-Muller: one standard normal value */
static double
gaussian(void)
{
	return sqrt(-2.0 * log(uniform())) * cos(2.0 * M_PI * uniform());
}

static long
parse_arg(const char *s, const char *what, long min, long max)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
	{
		fprintf(stderr, "dense_vectors: bad %s \"%s\" (want %ld..%ld)\n", what, s, min, max);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	long		first;
	long		count;
	int			dim;
	double	   *x;

	if (argc != 5)
	{
		fprintf(stderr, "usage: dense_vectors FIRST_ID COUNT DIM SEED\n");
		return 2;
	}
	first = parse_arg(argv[1], "FIRST_ID", 1, 1000000000L);
	count = parse_arg(argv[2], "COUNT", 0, 100000000L);
	dim = (int) parse_arg(argv[3], "DIM", 1, 16000);
	rng_state = (uint64_t) parse_arg(argv[4], "SEED", 1, 1000000000L) * UINT64_C(0x9E3779B97F4A7C15);
	x = malloc(sizeof(double) * dim);
	if (x == NULL)
	{
		fprintf(stderr, "dense_vectors: out of memory\n");
		return 1;
	}
	for (long i = 0; i < count; i++)
	{
		double		norm = 0.0;

		for (int d = 0; d < dim; d++)
		{
			x[d] = gaussian();
			norm += x[d] * x[d];
		}
		norm = sqrt(norm);
		printf("%ld\t[", first + i);
		for (int d = 0; d < dim; d++)
			printf(d ? ",%.7g" : "%.7g", x[d] / norm);
		fputs("]\n", stdout);
	}
	free(x);
	if (fflush(stdout) != 0 || ferror(stdout))
	{
		fprintf(stderr, "dense_vectors: write error\n");
		return 1;
	}
	return 0;
}
