/*
 * bench_distance.c - micro-benchmark of the distance kernels.
 *
 * For dims 128, 784 and 1536, times every kernel of every table that runs
 * here, plus the dispatched one (brainy_kernels()), in ns per call, and prints
 * a Markdown table.  Each timing is one query against a working set of about
 * 512 KB of vectors (bigger than L1, inside L2), repeated a few times; the
 * best repetition is reported.
 *
 * A second table times the SQ8 kernels (8-bit scalar quantization codes,
 * quant_sq8.h) on the same number of vectors, stored as codes (128 KB), next
 * to the dispatched float kernel of the same metric (sq8_dot is also the
 * whole per-code cost of L2 through brainy_sq8_adc_norm).  A third compares
 * float and SQ8 when the vectors are visited in random order in a set far
 * bigger than the caches, as a graph traversal visits them.
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
#define BIG_SET_FLOATS		(48 * 1024 * 1024)	/* 192 MB: beyond every cache */

enum
{
	K_L2, K_IP, K_COS, K_L1, N_KERNELS,
	/* SQ8: query as floats vs codes, then codes vs codes */
	K_SQ8_L2 = N_KERNELS, K_SQ8_DOT, K_SQ8_L1,
	K_SQ8C_L2, K_SQ8C_IP, K_SQ8C_L1, N_ALL_KERNELS
};
static const char *const kernel_names[N_ALL_KERNELS] = {
	"l2_squared", "inner_product", "cosine_parts", "l1",
	"sq8_l2_squared", "sq8_dot", "sq8_l1",
	"sq8_codes_l2_squared", "sq8_codes_inner_product", "sq8_codes_l1"
};

/* the float kernel each SQ8 kernel stands in for */
static const int float_counterpart[N_ALL_KERNELS] = {
	K_L2, K_IP, K_COS, K_L1, K_L2, K_IP, K_L1, K_L2, K_IP, K_L1
};

/* What one timing reads: nvec vectors of dim, as floats and as codes. */
typedef struct BenchSet
{
	int			dim;
	int			nvec;
	int			random_order;	/* visit vectors in pseudo-random order */
	const float *base;			/* nvec * dim floats */
	const uint8_t *codes;		/* nvec * dim codes */
	const float *query;			/* dim floats */
	const float *qlo;			/* query - lo */
	const float *w;				/* query * step */
	const float *lo;
	const float *step;
	const uint8_t *qcode;		/* the query's codes */
} BenchSet;
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
time_kernel(const BrainyKernels *k, int kernel, const BenchSet *set)
{
	const int	dim = set->dim;
	const float *query = set->query;
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
		uint32_t	lcg = 1;

		for (c = 0; c < calls; c++)
		{
			const float *x = set->base + (size_t) v * dim;
			const uint8_t *code = set->codes + (size_t) v * dim;
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
				case K_L1:
					acc += k->l1(query, x, dim);
					break;
				case K_SQ8_L2:
					acc += k->sq8_l2_squared(set->qlo, set->step, code, dim);
					break;
				case K_SQ8_DOT:
					acc += k->sq8_dot(set->w, code, dim);
					break;
				case K_SQ8_L1:
					acc += k->sq8_l1(set->qlo, set->step, code, dim);
					break;
				case K_SQ8C_L2:
					acc += k->sq8_codes_l2_squared(set->step, set->qcode, code, dim);
					break;
				case K_SQ8C_IP:
					acc += k->sq8_codes_inner_product(set->lo, set->step,
													  set->qcode, code, dim);
					break;
				default:
					acc += k->sq8_codes_l1(set->step, set->qcode, code, dim);
					break;
			}
			if (set->random_order)
			{
				lcg = lcg * 1664525u + 1013904223u;
				v = (int) (((uint64_t) lcg * (uint64_t) set->nvec) >> 32);
			}
			else if (++v == set->nvec)
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

/*
 * nvec uniform vectors in [-1, 1)^dim (the same numbers for the same dim and
 * nvec), their codes under lo = -1, step = 2/255, and a query (the first
 * vector) prepared for the SQ8 kernels.
 */
static BenchSet
make_set(int dim, int nvec, int random_order)
{
	BenchSet	set;
	float	   *base = malloc(sizeof(float) * (size_t) nvec * dim);
	uint8_t    *codes = malloc((size_t) nvec * dim);
	float	   *query = malloc(sizeof(float) * (size_t) dim);
	float	   *qlo = malloc(sizeof(float) * (size_t) dim);
	float	   *w = malloc(sizeof(float) * (size_t) dim);
	float	   *lo = malloc(sizeof(float) * (size_t) dim);
	float	   *step = malloc(sizeof(float) * (size_t) dim);
	uint32_t	seed = 12345;
	size_t		i;

	if (base == NULL || codes == NULL || query == NULL || qlo == NULL ||
		w == NULL || lo == NULL || step == NULL)
	{
		fprintf(stderr, "bench_distance: out of memory\n");
		exit(2);
	}
	for (i = 0; i < (size_t) nvec * dim; i++)
	{
		seed = seed * 1664525u + 1013904223u;
		base[i] = (float) (seed >> 8) / 16777216.0f * 2.0f - 1.0f;
		codes[i] = (uint8_t) ((base[i] + 1.0f) * 127.5f + 0.5f);
	}
	memcpy(query, base, sizeof(float) * (size_t) dim);
	for (i = 0; i < (size_t) dim; i++)
	{
		lo[i] = -1.0f;
		step[i] = 2.0f / 255.0f;
		qlo[i] = query[i] - lo[i];
		w[i] = query[i] * step[i];
	}
	set.dim = dim;
	set.nvec = nvec;
	set.random_order = random_order;
	set.base = base;
	set.codes = codes;
	set.query = query;
	set.qlo = qlo;
	set.w = w;
	set.lo = lo;
	set.step = step;
	set.qcode = codes;
	return set;
}

static void
free_set(BenchSet *set)
{
	free((void *) set->base);
	free((void *) set->codes);
	free((void *) set->query);
	free((void *) set->qlo);
	free((void *) set->w);
	free((void *) set->lo);
	free((void *) set->step);
}

/* One row per kernel and dim: every column's table, and the speed-up. */
static void
kernel_rows(int first, int last, const BrainyKernels *const *cols, int ncols,
			int with_float)
{
	int			kernel,
				di,
				c;

	for (kernel = first; kernel < last; kernel++)
	{
		for (di = 0; di < (int) (sizeof(dims_list) / sizeof(dims_list[0])); di++)
		{
			int			dim = dims_list[di];
			BenchSet	set = make_set(dim, WORKING_SET_FLOATS / dim, 0);
			double		scalar_ns = 0.0,
						disp_ns = 0.0;

			printf("| %s | %d |", kernel_names[kernel], dim);
			for (c = 0; c < ncols; c++)
			{
				double		ns;

				if (!brainy_kernels_supported(cols[c]))
				{
					printf(" n/a |");
					continue;
				}
				ns = time_kernel(cols[c], kernel, &set);
				if (cols[c] == &brainy_kernels_scalar && c < ncols - 1)
					scalar_ns = ns;
				if (c == ncols - 1)
					disp_ns = ns;
				printf(" %.1f |", ns);
			}
			printf(" %.1fx |", scalar_ns / disp_ns);
			if (with_float)
			{
				double		float_ns = time_kernel(brainy_kernels(),
												   float_counterpart[kernel], &set);

				printf(" %s %.1f | %.2f |", kernel_names[float_counterpart[kernel]],
					   float_ns, disp_ns / float_ns);
			}
			printf("\n");
			fflush(stdout);
			free_set(&set);
		}
	}
}

/* Column headers: every table, dispatched, speed-up (and the float columns). */
static void
table_header(const char *const *col_names, int ncols, int with_float)
{
	int			c;

	printf("| kernel | dims |");
	for (c = 0; c < ncols; c++)
		printf(" %s ns |", col_names[c]);
	printf(" speed-up dispatched/scalar |");
	if (with_float)
		printf(" float kernel, dispatched ns | SQ8 / float time |");
	printf("\n|---|---:|");
	for (c = 0; c < ncols; c++)
		printf("---:|");
	printf("---:|%s\n", with_float ? "---:|---:|" : "");
}

int
main(void)
{
	const BrainyKernels *const *all = brainy_kernels_all();
	const BrainyKernels *cols[8];
	const char *col_names[8];
	int			ncols = 0;
	int			di,
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
	table_header(col_names, ncols, 0);
	kernel_rows(0, N_KERNELS, cols, ncols, 0);

	printf("\nSQ8 kernels: the same vectors as 8-bit codes (%d KB), vs the "
		   "dispatched float kernel of the same metric on the floats\n\n",
		   (int) (WORKING_SET_FLOATS / 1024));
	table_header(col_names, ncols, 1);
	kernel_rows(K_SQ8_L2, N_ALL_KERNELS, cols, ncols, 1);

	printf("\nRandom order over %d MB of floats (%d MB of codes), dispatched "
		   "kernels, ns per call\n\n",
		   (int) (BIG_SET_FLOATS * sizeof(float) / (1024 * 1024)),
		   (int) (BIG_SET_FLOATS / (1024 * 1024)));
	printf("| dims | vectors | l2_squared ns | sq8_l2_squared ns | "
		   "sq8_dot ns | sq8_codes_l2_squared ns | float / SQ8 time |\n"
		   "|---:|---:|---:|---:|---:|---:|---:|\n");
	for (di = 0; di < (int) (sizeof(dims_list) / sizeof(dims_list[0])); di++)
	{
		int			dim = dims_list[di];
		BenchSet	set = make_set(dim, BIG_SET_FLOATS / dim, 1);
		double		f = time_kernel(brainy_kernels(), K_L2, &set);
		double		q = time_kernel(brainy_kernels(), K_SQ8_L2, &set);
		double		qd = time_kernel(brainy_kernels(), K_SQ8_DOT, &set);
		double		qc = time_kernel(brainy_kernels(), K_SQ8C_L2, &set);

		printf("| %d | %d | %.1f | %.1f | %.1f | %.1f | %.2fx |\n", dim, set.nvec, f, q,
			   qd, qc, f / q);
		fflush(stdout);
		free_set(&set);
	}
	return 0;
}
