/*
 * bench_churn.c - self-recall of the HNSW engine through delete, repair and
 * inserts from another distribution (no server).
 *
 * Replays, on an in-memory index, the scenario first seen through SQL:
 * 3,000 rows of 32 dims, v_i[j] = sin(i * 0.7 + j * 1.3 + (i % 5) * j)
 * (i = 1 .. 3000: five closed curves, one per i % 5), m 16,
 * ef_construction 64, L2; every even id deleted and repaired; then 1,400
 * rows w_i[j] = cos(i * 0.3 + j * 0.9) (i = 3001 .. 4400: a sixth curve).
 * For comparison the same is done without the delete: the index built on
 * the 1,500 odd rows only, then the same inserts.
 *
 * Self-recall: the share of live rows that a k = 1 search with the row's
 * own vector returns (a result at distance 0 counts).  Printed for every
 * live row and for the rows with id % 37 == 0 (the sample of the SQL
 * test), at ef 400 and 40, per level seed, since on this data the figures
 * depend strongly on which rows the level generator puts on the upper
 * layers.
 *
 * Usage: bench_churn [--seeds N]   (level seeds 1 .. N, default 12)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hnsw.h"

#define DIM 32
#define N_OLD 3000
#define N_NEW 1400

typedef struct SelfRecall
{
	int			hit;			/* live rows found */
	int			n;				/* live rows */
	int			sample_hit;		/* the same for id % 37 == 0 */
	int			sample_n;
	int			old_hit;		/* the same for rows 1 .. N_OLD */
	int			old_n;
} SelfRecall;

static void
die(const char *msg, const char *detail)
{
	fprintf(stderr, "bench_churn: %s%s%s\n", msg, detail ? ": " : "",
			detail ? detail : "");
	exit(1);
}

static double
now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

/* The vector of row id (1 .. N_OLD + N_NEW). */
static void
row_vector(uint64_t id, float *v)
{
	int			j;

	for (j = 0; j < DIM; j++)
	{
		if (id <= N_OLD)
			v[j] = (float) sin((double) id * 0.7 + j * 1.3 + (double) (id % 5) * j);
		else
			v[j] = (float) cos((double) id * 0.3 + j * 0.9);
	}
}

static void
insert_row(HnswIndex *idx, uint64_t id)
{
	float		v[DIM];
	HnswError	err;

	row_vector(id, v);
	if (hnsw_insert(idx, v, id, NULL, &err) != HNSW_OK)
		die("insert failed", err.message);
}

static SelfRecall
self_recall(HnswIndex *idx, int ef)
{
	SelfRecall	r;
	uint32_t	node;

	memset(&r, 0, sizeof(r));
	for (node = 0; node < hnsw_size(idx); node++)
	{
		uint64_t	id = hnsw_node_label(idx, node);
		float		v[DIM];
		HnswResult	res;
		HnswError	err;
		int			n_res;
		int			hit;

		if (hnsw_is_deleted(idx, node))
			continue;
		row_vector(id, v);
		if (hnsw_knn(idx, v, 1, ef, &res, &n_res, &err) != HNSW_OK)
			die("search failed", err.message);
		hit = n_res == 1 && (res.label == id || res.distance == 0.0f);
		r.n++;
		r.hit += hit;
		if (id % 37 == 0)
		{
			r.sample_n++;
			r.sample_hit += hit;
		}
		if (id <= N_OLD)
		{
			r.old_n++;
			r.old_hit += hit;
		}
	}
	return r;
}

static void
print_recall(const char *stage, int ef, SelfRecall r)
{
	printf("  %-14s ef %3d: sample %2d/%2d, all live %4d/%4d (old rows %4d/%4d)\n",
		   stage, ef, r.sample_hit, r.sample_n, r.hit, r.n, r.old_hit, r.old_n);
}

/*
 * One run: with_delete builds on all N_OLD rows, deletes the even ids and
 * repairs; without, builds on the odd rows only.  Then the inserts.  Adds
 * the ef 400 figures after the inserts to *sum.
 */
static void
run(uint64_t seed, int with_delete, SelfRecall *sum)
{
	HnswParams	p;
	HnswIndex  *idx;
	HnswError	err;
	HnswCheckReport rep;
	SelfRecall	r;
	uint64_t	id;

	hnsw_params_default(&p, DIM, HNSW_L2);
	p.m = 16;
	p.ef_construction = 64;
	p.seed = seed;
	if (hnsw_create(&p, NULL, &idx, &err) != HNSW_OK)
		die("cannot create the index", err.message);
	for (id = 1; id <= N_OLD; id++)
	{
		if (with_delete || id % 2 == 1)
			insert_row(idx, id);
	}
	printf(" seed %llu, %s:\n", (unsigned long long) seed,
		   with_delete ? "delete even ids + repair" : "built on the odd ids");
	if (with_delete)
	{
		uint32_t	node;
		double		t0;

		for (node = 0; node < hnsw_size(idx); node++)
		{
			if (hnsw_node_label(idx, node) % 2 == 0)
				(void) hnsw_mark_deleted(idx, node, NULL);
		}
		t0 = now_sec();
		if (hnsw_repair_deleted(idx, &err) != HNSW_OK)
			die("repair failed", err.message);
		printf("  repair: %.3f s\n", now_sec() - t0);
	}
	print_recall("before inserts", 400, self_recall(idx, 400));
	for (id = N_OLD + 1; id <= N_OLD + N_NEW; id++)
		insert_row(idx, id);
	r = self_recall(idx, 400);
	print_recall("after inserts", 400, r);
	print_recall("after inserts", 40, self_recall(idx, 40));
	if (hnsw_check(idx, HNSW_CHECK_ALL, &rep, &err) != HNSW_OK)
		printf("  check: FAILED: %s\n", err.message);
	sum->hit += r.hit;
	sum->n += r.n;
	sum->sample_hit += r.sample_hit;
	sum->sample_n += r.sample_n;
	sum->old_hit += r.old_hit;
	sum->old_n += r.old_n;
	hnsw_destroy(idx);
}

int
main(int argc, char **argv)
{
	long		n_seeds = 12;
	SelfRecall	sum[2];
	long		s;
	int			v;

	if (argc == 3 && strcmp(argv[1], "--seeds") == 0)
	{
		char	   *end;

		n_seeds = strtol(argv[2], &end, 10);
		if (*end != '\0' || n_seeds < 1 || n_seeds > 1000)
			die("bad --seeds", argv[2]);
	}
	else if (argc != 1)
	{
		fprintf(stderr, "usage: %s [--seeds N]\n", argv[0]);
		return 2;
	}
	memset(sum, 0, sizeof(sum));
	for (s = 1; s <= n_seeds; s++)
	{
		for (v = 0; v < 2; v++)
			run((uint64_t) s, v == 0, &sum[v]);
	}
	printf("after the inserts, ef 400, level seeds 1 .. %ld:\n", n_seeds);
	for (v = 0; v < 2; v++)
		printf("  %-26s sample %.4f, all live %.4f, old rows %.4f\n",
			   v == 0 ? "delete even ids + repair:" : "built on the odd ids:",
			   (double) sum[v].sample_hit / sum[v].sample_n,
			   (double) sum[v].hit / sum[v].n,
			   (double) sum[v].old_hit / sum[v].old_n);
	return 0;
}
