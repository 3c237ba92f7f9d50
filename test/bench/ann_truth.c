/*
 * ann_truth.c - exact k nearest neighbours (L2) for an ANN benchmark.
 *
 * Reads two COPY text files of `id<TAB>[x1,...,xD]` lines (the base set and
 * the queries), computes for every query the k nearest base vectors by brute
 * force with Brainy's own SIMD kernels, and writes COPY text lines
 *
 *     query_id<TAB>{id1,...,idk}<TAB>distance_k
 *
 * where distance_k is the L2 distance of the k-th neighbour, so that recall
 * can count every result within that distance as correct (ties).
 *
 * usage: ann_truth BASE.copy QUERIES.copy K > truth.copy
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "distance.h"

typedef struct VectorSet
{
	int			n;
	int			dim;
	long	   *ids;
	float	   *x;				/* n * dim */
} VectorSet;

static void
fail(const char *what, const char *path)
{
	fprintf(stderr, "ann_truth: %s: %s\n", what, path);
	exit(1);
}

/* Parse "[a,b,...]" into out (capacity cap); returns the count or -1. */
static int
parse_vector(char *p, float *out, int cap)
{
	int			n = 0;

	if (*p++ != '[')
		return -1;
	for (;;)
	{
		char	   *end;
		float		v;

		errno = 0;
		v = strtof(p, &end);
		if (end == p || errno != 0 || n >= cap)
			return -1;
		out[n++] = v;
		p = end;
		if (*p == ']')
			return n;
		if (*p++ != ',')
			return -1;
	}
}

static void
load(const char *path, VectorSet *set)
{
	FILE	   *f = fopen(path, "r");
	char	   *line = NULL;
	size_t		cap = 0;
	int			alloc = 1024;
	float	   *row = malloc(sizeof(float) * 16000);

	if (f == NULL || row == NULL)
		fail("cannot open", path);
	set->n = 0;
	set->dim = 0;
	set->ids = malloc(sizeof(long) * alloc);
	set->x = NULL;
	while (getline(&line, &cap, f) > 0)
	{
		char	   *tab = strchr(line, '\t');
		int			dim;

		if (tab == NULL)
			fail("line without a tab in", path);
		dim = parse_vector(tab + 1, row, 16000);
		if (dim < 1 || (set->dim != 0 && dim != set->dim))
			fail("bad or inconsistent vector in", path);
		if (set->dim == 0)
		{
			set->dim = dim;
			set->x = malloc(sizeof(float) * (size_t) alloc * dim);
		}
		if (set->n == alloc)
		{
			alloc *= 2;
			set->ids = realloc(set->ids, sizeof(long) * alloc);
			set->x = realloc(set->x, sizeof(float) * (size_t) alloc * dim);
		}
		if (set->ids == NULL || set->x == NULL)
			fail("out of memory reading", path);
		set->ids[set->n] = strtol(line, NULL, 10);
		memcpy(set->x + (size_t) set->n * dim, row, sizeof(float) * dim);
		set->n++;
	}
	free(line);
	free(row);
	fclose(f);
	if (set->n == 0)
		fail("no vectors in", path);
}

int
main(int argc, char **argv)
{
	VectorSet	base;
	VectorSet	queries;
	const BrainyKernels *k;
	int			want;
	float	   *best_d;
	long	   *best_id;

	if (argc != 4 || (want = atoi(argv[3])) < 1 || want > 1000)
	{
		fprintf(stderr, "usage: ann_truth BASE.copy QUERIES.copy K(1..1000)\n");
		return 2;
	}
	load(argv[1], &base);
	load(argv[2], &queries);
	if (base.dim != queries.dim)
		fail("dimensions differ from the base set", argv[2]);
	if (want > base.n)
		want = base.n;
	k = brainy_kernels();
	best_d = malloc(sizeof(float) * want);
	best_id = malloc(sizeof(long) * want);
	if (best_d == NULL || best_id == NULL)
		fail("out of memory", "");

	for (int q = 0; q < queries.n; q++)
	{
		const float *qv = queries.x + (size_t) q * queries.dim;
		int			have = 0;

		/* insertion into a small sorted array: fine for k <= 1000 */
		for (int i = 0; i < base.n; i++)
		{
			float		d = k->l2_squared(qv, base.x + (size_t) i * base.dim, base.dim);
			int			j;

			if (have == want && d >= best_d[have - 1])
				continue;
			j = (have < want) ? have++ : have - 1;
			while (j > 0 && best_d[j - 1] > d)
			{
				best_d[j] = best_d[j - 1];
				best_id[j] = best_id[j - 1];
				j--;
			}
			best_d[j] = d;
			best_id[j] = base.ids[i];
		}
		printf("%ld\t{", queries.ids[q]);
		for (int j = 0; j < have; j++)
			printf(j ? ",%ld" : "%ld", best_id[j]);
		printf("}\t%.9g\n", sqrt((double) best_d[have - 1]));
	}
	free(best_d);
	free(best_id);
	free(base.ids);
	free(base.x);
	free(queries.ids);
	free(queries.x);
	return 0;
}
