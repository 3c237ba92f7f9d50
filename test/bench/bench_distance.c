/*
 * bench_distance.c - micro-benchmark of the distance kernels.
 *
 * For dims 128, 784 and 1536, times every kernel of every table that runs
 * here, plus the dispatched one (brainy_kernels()), in ns per call, and prints
 * a Markdown table.  Each timing is one query against a working set of about
 * 512 KB of vectors (bigger than L1, inside L2), repeated a few times; the
 * best repetition is reported.
 */
#define _POSIX_C_SOURCE 200809L	/* clock_gettime under -std=c11 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "distance.h"

#define WORKING_SET_FLOATS	(128 * 1024)	/* 512 KB */
#define FLOATS_PER_REP		(150 * 1000 * 1000)	/* elements per repetition */
#define REPS				3

enum
{
	K_L2, K_IP, K_COS, K_L1, N_KERNELS
};
static const char *const kernel_names[N_KERNELS] = {
	"l2_squared", "inner_product", "cosine_parts", "l1"
};
static const int dims_list[] = {128, 784, 1536};

static volatile float sink;

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

/* ns per call of one kernel of table k; best of REPS repetitions */
static double
time_kernel(const BrainyKernels *k, int kernel, const float *query,
			const float *base, int nvec, int dim)
{
	long		calls = FLOATS_PER_REP / dim;
	double		best = 0.0;
	int			rep;

	for (rep = 0; rep <= REPS; rep++)
	{
		float		acc = 0.0f;
		double		t0 = now_ns();
		double		t;
		long		c;
		int			v = 0;

		for (c = 0; c < calls; c++)
		{
			const float *x = base + (size_t) v * dim;
			float		dot,
						na,
						nb;

			switch (kernel)
			{
				case K_L2:
					acc += k->l2_squared(query, x, dim);
					break;
				case K_IP:
					acc += k->inner_product(query, x, dim);
					break;
				case K_COS:
					k->cosine_parts(query, x, dim, &dot, &na, &nb);
					acc += dot + na + nb;
					break;
				default:
					acc += k->l1(query, x, dim);
					break;
			}
			if (++v == nvec)
				v = 0;
		}
		t = (now_ns() - t0) / (double) calls;
		sink = acc;
		/* repetition 0 is a warm-up */
		if (rep == 1 || (rep > 1 && t < best))
			best = t;
	}
	return best;
}

int
main(void)
{
	const BrainyKernels *const *all = brainy_kernels_all();
	const BrainyKernels *cols[8];
	const char *col_names[8];
	int			ncols = 0;
	int			di,
				kernel,
				c,
				i;

	for (i = 0; all[i] != NULL && ncols < 7; i++)
	{
		cols[ncols] = all[i];
		col_names[ncols++] = all[i]->name;
	}
	cols[ncols] = brainy_kernels();
	col_names[ncols++] = "dispatched";

	printf("dispatched table: %s; working set %d KB; best of %d runs\n\n",
		   brainy_kernels()->name, (int) (WORKING_SET_FLOATS * sizeof(float) / 1024), REPS);
	printf("| kernel | dims |");
	for (c = 0; c < ncols; c++)
		printf(" %s ns |", col_names[c]);
	printf(" speed-up dispatched/scalar |\n|---|---:|");
	for (c = 0; c < ncols; c++)
		printf("---:|");
	printf("---:|\n");

	for (kernel = 0; kernel < N_KERNELS; kernel++)
	{
		for (di = 0; di < (int) (sizeof(dims_list) / sizeof(dims_list[0])); di++)
		{
			int			dim = dims_list[di];
			int			nvec = WORKING_SET_FLOATS / dim;
			float	   *base = malloc(sizeof(float) * (size_t) nvec * dim);
			float	   *query = malloc(sizeof(float) * (size_t) dim);
			double		scalar_ns = 0.0,
						disp_ns = 0.0;
			uint32_t	seed = 12345;

			if (base == NULL || query == NULL)
				return 2;
			for (i = 0; i < nvec * dim; i++)
			{
				seed = seed * 1664525u + 1013904223u;
				base[i] = (float) (seed >> 8) / 16777216.0f * 2.0f - 1.0f;
			}
			memcpy(query, base, sizeof(float) * (size_t) dim);

			printf("| %s | %d |", kernel_names[kernel], dim);
			for (c = 0; c < ncols; c++)
			{
				double		ns;

				if (!brainy_kernels_supported(cols[c]))
				{
					printf(" n/a |");
					continue;
				}
				ns = time_kernel(cols[c], kernel, query, base, nvec, dim);
				if (cols[c] == &brainy_kernels_scalar && c < ncols - 1)
					scalar_ns = ns;
				if (c == ncols - 1)
					disp_ns = ns;
				printf(" %.1f |", ns);
			}
			printf(" %.1fx |\n", scalar_ns / disp_ns);
			fflush(stdout);
			free(base);
			free(query);
		}
	}
	return 0;
}
