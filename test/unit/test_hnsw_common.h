/*
 * test_hnsw_common.h - scaffolding shared by the HNSW engine's unit tests
 * (test_hnsw.c, test_hnsw_parallel.c): printf-style pass/fail lines and
 * their counters, allocation that exits on failure, random vectors from
 * test_rng.h, parameters, a graph fingerprint and the structural check.
 * Header-only, static: each test program has its own counters.
 */
#ifndef BRAINY_TEST_HNSW_COMMON_H
#define BRAINY_TEST_HNSW_COMMON_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "hnsw.h"
#include "test_rng.h"

static int	n_passed = 0;
static int	n_failed = 0;

static void report(int ok, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static void
report(int ok, const char *fmt,...)
{
	va_list		ap;

	if (ok)
		n_passed++;
	else
		n_failed++;
	printf("%s - ", ok ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void *
xmalloc(size_t n)
{
	void	   *p = malloc(n > 0 ? n : 1);

	if (p == NULL)
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}

/* n vectors of dim floats, uniform in [-1, 1) */
static float *
random_vectors(int n, int dim)
{
	float	   *v = xmalloc(sizeof(float) * (size_t) n * (size_t) dim);
	size_t		i;

	for (i = 0; i < (size_t) n * (size_t) dim; i++)
		v[i] = (float) (rand_unit() * 2.0 - 1.0);
	return v;
}

static HnswParams
params(int dim, HnswMetric metric, int m, int efc)
{
	HnswParams	p;

	hnsw_params_default(&p, dim, metric);
	p.m = m;
	p.ef_construction = efc;
	return p;
}

/* A fingerprint of the whole graph: levels, flags, lists, entry point. */
static uint64_t
graph_hash(const HnswIndex *idx)
{
	uint64_t	h = 1469598103934665603ull;
	uint32_t	id;

#define MIX(x) (h = (h ^ (uint64_t) (x)) * 1099511628211ull)
	MIX(hnsw_size(idx));
	MIX(hnsw_entry_point(idx));
	MIX((uint32_t) hnsw_max_level(idx));
	for (id = 0; id < hnsw_size(idx); id++)
	{
		int			level = hnsw_node_level(idx, id);
		int			layer;

		MIX((uint32_t) level);
		MIX((uint32_t) hnsw_is_deleted(idx, id));
		MIX(hnsw_node_label(idx, id));
		for (layer = 0; layer <= level; layer++)
		{
			const uint32_t *list;
			int			n = hnsw_node_neighbours(idx, id, layer, &list);
			int			i;

			MIX((uint32_t) n);
			for (i = 0; i < n; i++)
				MIX(list[i]);
		}
	}
#undef MIX
	return h;
}

static int
check_ok(const HnswIndex *idx, int flags, HnswCheckReport *rep)
{
	HnswError	err;
	int			rc = hnsw_check(idx, flags, rep, &err);

	if (rc != HNSW_OK)
		printf("# check: %s\n", err.message);
	return rc == HNSW_OK;
}

#endif							/* BRAINY_TEST_HNSW_COMMON_H */
