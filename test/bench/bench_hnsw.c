/*
 * bench_hnsw.c - benchmark of the HNSW engine alone (no server).
 *
 * Builds an in-memory index on random vectors or on Fashion-MNIST, then
 * prints build time, memory, and recall@k and queries per second (one
 * thread) for several ef values.  With --threads T > 1 it builds a second
 * index with T threads (hnsw_insert_batch_parallel) and measures that one
 * the same way, for serial vs parallel build time and recall.  Optionally deletes a share of the nodes,
 * repairs, and measures again on what is left.  Ground truth is a brute
 * force scan with the same kernels; a result counts as a hit when its
 * distance is within the true k-th distance (so ties are not misses).
 *
 * Build and run on Fashion-MNIST with `make bench-hnsw`; the binary is
 * test/bench/bin/bench_hnsw.
 *
 * Usage:
 *   bench_hnsw [--random N D | --fmnist DIR] [--queries Q] [--m M]
 *              [--efc EF] [--metric l2|ip|cosine|l1] [--seed S]
 *              [--efs 10,20,40,80,160] [--k K] [--delete PERCENT]
 *              [--threads T]
 *
 *   --random N D   N base vectors and Q queries, uniform in [-1, 1)^D
 *                  (default: 60000 784)
 *   --fmnist DIR   DIR/train-images-idx3-ubyte.gz (60000 base vectors) and
 *                  DIR/t10k-images-idx3-ubyte.gz (the first Q are queries);
 *                  plain (not .gz) files are used when present
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "distance.h"
#include "hnsw.h"
#include "test_rng.h"

#define MAX_EFS 16

typedef struct Data
{
	float	   *v;
	uint32_t	n;
	int			dim;
} Data;

static void
die(const char *msg, const char *detail)
{
	fprintf(stderr, "bench_hnsw: %s%s%s\n", msg, detail ? ": " : "",
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

static void *
xmalloc(size_t n)
{
	void	   *p = malloc(n > 0 ? n : 1);

	if (p == NULL)
		die("out of memory", NULL);
	return p;
}

/* ---- data */


static Data
random_data(uint32_t n, int dim)
{
	Data		d;
	size_t		i;

	d.n = n;
	d.dim = dim;
	d.v = xmalloc(sizeof(float) * (size_t) n * (size_t) dim);
	for (i = 0; i < (size_t) n * (size_t) dim; i++)
		d.v[i] = (float) (rand_unit() * 2.0 - 1.0);
	return d;
}

static uint32_t
be32(const unsigned char *b)
{
	return ((uint32_t) b[0] << 24) | ((uint32_t) b[1] << 16) |
		((uint32_t) b[2] << 8) | (uint32_t) b[3];
}

/* Open path, or path without ".gz" if that exists, decompressing as needed. */
static FILE *
open_maybe_gz(const char *path, int *is_pipe)
{
	char		plain[4096];
	char		cmd[4200];
	size_t		len = strlen(path);
	FILE	   *f;

	if (len + 1 > sizeof(plain))
		die("path too long", path);
	if (len > 3 && strcmp(path + len - 3, ".gz") == 0)
	{
		memcpy(plain, path, len - 3);
		plain[len - 3] = '\0';
		if ((f = fopen(plain, "rb")) != NULL)
		{
			*is_pipe = 0;
			return f;
		}
		if (strchr(path, '\'') != NULL)
			die("path contains a quote", path);
		snprintf(cmd, sizeof(cmd), "gzip -dc '%s'", path);
		*is_pipe = 1;
		f = popen(cmd, "r");
	}
	else
	{
		*is_pipe = 0;
		f = fopen(path, "rb");
	}
	if (f == NULL)
		die("cannot open", path);
	return f;
}

/* IDX3 unsigned-byte images: magic 0x803, count, rows, cols, pixels. */
static Data
idx3_data(const char *path, uint32_t max_n)
{
	unsigned char hdr[16];
	unsigned char *row;
	int			is_pipe;
	FILE	   *f = open_maybe_gz(path, &is_pipe);
	Data		d;
	uint32_t	count;
	uint32_t	i;
	int			j;

	if (fread(hdr, 1, 16, f) != 16 || be32(hdr) != 0x803)
		die("not an IDX3 unsigned byte file", path);
	count = be32(hdr + 4);
	if (be32(hdr + 8) == 0 || be32(hdr + 12) == 0 ||
		(uint64_t) be32(hdr + 8) * be32(hdr + 12) > HNSW_MAX_DIM)
		die("bad image size", path);
	d.dim = (int) (be32(hdr + 8) * be32(hdr + 12));
	d.n = count < max_n ? count : max_n;
	d.v = xmalloc(sizeof(float) * (size_t) d.n * (size_t) d.dim);
	row = xmalloc((size_t) d.dim);
	for (i = 0; i < d.n; i++)
	{
		if (fread(row, 1, (size_t) d.dim, f) != (size_t) d.dim)
			die("truncated file", path);
		for (j = 0; j < d.dim; j++)
			d.v[(size_t) i * d.dim + j] = (float) row[j];
	}
	free(row);
	if (is_pipe)
	{
		/* stop gzip early when we read only part of the file */
		while (fread(hdr, 1, sizeof(hdr), f) > 0)
			;
		pclose(f);
	}
	else
		fclose(f);
	return d;
}

/* ---- brute force */

typedef struct Truth
{
	uint32_t   *ids;			/* k per query */
	float	   *dist;			/* k per query */
} Truth;

static float
metric_distance(const BrainyKernels *kt, HnswMetric metric, const float *a,
				const float *b, int dim)
{
	switch (metric)
	{
		case HNSW_L2:
			return kt->l2_squared(a, b, dim);
		case HNSW_IP:
			return -kt->inner_product(a, b, dim);
		case HNSW_COSINE:
			return 1.0f - kt->inner_product(a, b, dim);
		case HNSW_L1:
			return kt->l1(a, b, dim);
	}
	return 0.0f;
}

static void
normalise(float *v, int dim)
{
	double		s = 0.0;
	int			i;

	for (i = 0; i < dim; i++)
		s += (double) v[i] * v[i];
	if (s > 0.0)
	{
		s = 1.0 / sqrt(s);
		for (i = 0; i < dim; i++)
			v[i] = (float) (v[i] * s);
	}
}

/* The k nearest live nodes of each query, from the index's stored vectors. */
static Truth
brute_force(const HnswIndex *idx, const Data *q, int k)
{
	const BrainyKernels *kt = brainy_kernels();
	HnswMetric	metric = hnsw_get_params(idx)->metric;
	uint32_t	n = hnsw_size(idx);
	float	   *qv = xmalloc(sizeof(float) * (size_t) q->dim);
	Truth		t;
	uint32_t	qi;

	t.ids = xmalloc(sizeof(uint32_t) * (size_t) q->n * (size_t) k);
	t.dist = xmalloc(sizeof(float) * (size_t) q->n * (size_t) k);
	for (qi = 0; qi < q->n; qi++)
	{
		uint32_t   *ids = t.ids + (size_t) qi * k;
		float	   *dist = t.dist + (size_t) qi * k;
		int			have = 0;
		uint32_t	id;

		memcpy(qv, q->v + (size_t) qi * q->dim, sizeof(float) * (size_t) q->dim);
		if (metric == HNSW_COSINE)
			normalise(qv, q->dim);
		for (id = 0; id < n; id++)
		{
			float		d;
			int			j;

			if (hnsw_is_deleted(idx, id))
				continue;
			d = metric_distance(kt, metric, qv, hnsw_node_vector(idx, id), q->dim);
			if (have == k && d >= dist[k - 1])
				continue;
			j = have < k ? have++ : k - 1;
			while (j > 0 && dist[j - 1] > d)
			{
				dist[j] = dist[j - 1];
				ids[j] = ids[j - 1];
				j--;
			}
			dist[j] = d;
			ids[j] = id;
		}
		for (; have < k; have++)
		{
			dist[have] = INFINITY;
			ids[have] = HNSW_NO_NODE;
		}
	}
	free(qv);
	return t;
}

/* ---- measuring */

static void
measure(HnswIndex *idx, const Data *q, const Truth *t, int k, const int *efs,
		int n_efs)
{
	HnswResult *res = xmalloc(sizeof(HnswResult) * (size_t) k);
	HnswError	err;
	int			e;

	printf("  %6s  %9s  %10s  %12s\n", "ef", "recall@k", "QPS", "ms/query");
	for (e = 0; e < n_efs; e++)
	{
		uint64_t	hits = 0;
		uint64_t	wanted = 0;
		double		t0 = now_sec();
		double		elapsed;
		uint32_t	qi;

		for (qi = 0; qi < q->n; qi++)
		{
			const float *tdist = t->dist + (size_t) qi * k;
			float		bound = tdist[k - 1];
			int			n_res;
			int			j;

			if (hnsw_knn(idx, q->v + (size_t) qi * q->dim, k, efs[e], res,
						 &n_res, &err) != HNSW_OK)
				die("search failed", err.message);
			for (j = 0; j < k; j++)
				wanted += tdist[j] < INFINITY;
			/* a hit: within the true k-th distance (ties are not misses) */
			for (j = 0; j < n_res; j++)
				hits += res[j].distance <= bound + fabsf(bound) * 1e-5f;
		}
		elapsed = now_sec() - t0;
		printf("  %6d  %9.4f  %10.0f  %12.4f\n", efs[e],
			   wanted ? (double) hits / (double) wanted : 1.0,
			   q->n / elapsed, elapsed * 1e3 / q->n);
	}
	free(res);
}

static HnswMetric
parse_metric(const char *s)
{
	if (strcmp(s, "l2") == 0)
		return HNSW_L2;
	if (strcmp(s, "ip") == 0)
		return HNSW_IP;
	if (strcmp(s, "cosine") == 0)
		return HNSW_COSINE;
	if (strcmp(s, "l1") == 0)
		return HNSW_L1;
	die("unknown metric", s);
	return HNSW_L2;
}

static long
parse_long(const char *s, const char *what)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0)
		die("bad number for", what);
	return v;
}

int
main(int argc, char **argv)
{
	const char *fmnist = NULL;
	uint32_t	n = 60000;
	int			dim = 784;
	uint32_t	n_queries = 1000;
	int			m = 16;
	int			efc = 64;
	int			k = 10;
	long		delete_pct = 0;
	uint64_t	seed = HNSW_DEFAULT_SEED;
	HnswMetric	metric = HNSW_L2;
	int			efs[MAX_EFS] = {10, 20, 40, 80, 160};
	int			n_efs = 5;
	int			threads = 1;
	int			pass;
	uint64_t   *labels;
	Data		base;
	Data		queries;
	HnswParams	p;
	HnswIndex  *idx;
	HnswError	err;
	HnswCheckReport rep;
	Truth		truth;
	uint32_t	fixed;
	double		t0;
	double		build_sec;
	uint32_t	i;
	int			a;

	rng_seed(0x243F6A8885A308D3ull);
	for (a = 1; a < argc; a++)
	{
		if (strcmp(argv[a], "--random") == 0 && a + 2 < argc)
		{
			n = (uint32_t) parse_long(argv[++a], "--random N");
			dim = (int) parse_long(argv[++a], "--random D");
		}
		else if (strcmp(argv[a], "--fmnist") == 0 && a + 1 < argc)
			fmnist = argv[++a];
		else if (strcmp(argv[a], "--queries") == 0 && a + 1 < argc)
			n_queries = (uint32_t) parse_long(argv[++a], "--queries");
		else if (strcmp(argv[a], "--m") == 0 && a + 1 < argc)
			m = (int) parse_long(argv[++a], "--m");
		else if (strcmp(argv[a], "--efc") == 0 && a + 1 < argc)
			efc = (int) parse_long(argv[++a], "--efc");
		else if (strcmp(argv[a], "--k") == 0 && a + 1 < argc)
			k = (int) parse_long(argv[++a], "--k");
		else if (strcmp(argv[a], "--seed") == 0 && a + 1 < argc)
			seed = (uint64_t) parse_long(argv[++a], "--seed");
		else if (strcmp(argv[a], "--threads") == 0 && a + 1 < argc)
			threads = (int) parse_long(argv[++a], "--threads");
		else if (strcmp(argv[a], "--delete") == 0 && a + 1 < argc)
			delete_pct = parse_long(argv[++a], "--delete");
		else if (strcmp(argv[a], "--metric") == 0 && a + 1 < argc)
			metric = parse_metric(argv[++a]);
		else if (strcmp(argv[a], "--efs") == 0 && a + 1 < argc)
		{
			char	   *s = argv[++a];

			n_efs = 0;
			while (*s != '\0' && n_efs < MAX_EFS)
			{
				char	   *end;

				efs[n_efs++] = (int) strtol(s, &end, 10);
				if (end == s)
					die("bad --efs list", argv[a]);
				s = *end == ',' ? end + 1 : end;
			}
		}
		else
		{
			fprintf(stderr, "usage: %s [--random N D | --fmnist DIR] [--queries Q] "
					"[--m M] [--efc EF] [--metric l2|ip|cosine|l1] [--seed S] "
					"[--efs 10,20,...] [--k K] [--delete PERCENT] [--threads T]\n", argv[0]);
			return 2;
		}
	}
	if (k < 1 || delete_pct > 100 || threads < 1 || threads > HNSW_MAX_THREADS)
		die("bad --k, --delete or --threads", NULL);

	if (fmnist != NULL)
	{
		char		path[4096];

		snprintf(path, sizeof(path), "%s/train-images-idx3-ubyte.gz", fmnist);
		base = idx3_data(path, UINT32_MAX);
		snprintf(path, sizeof(path), "%s/t10k-images-idx3-ubyte.gz", fmnist);
		queries = idx3_data(path, n_queries);
		printf("data: Fashion-MNIST, %u base vectors, %u queries, %d dims\n",
			   base.n, queries.n, base.dim);
	}
	else
	{
		base = random_data(n, dim);
		queries = random_data(n_queries, dim);
		printf("data: random uniform, %u base vectors, %u queries, %d dims\n",
			   base.n, queries.n, base.dim);
	}

	hnsw_params_default(&p, base.dim, metric);
	p.m = m;
	p.ef_construction = efc;
	p.seed = seed;
	printf("index: metric %s, m %d, ef_construction %d, kernels %s\n",
		   hnsw_metric_name(metric), m, efc, brainy_kernels()->name);
	labels = xmalloc(sizeof(uint64_t) * base.n);
	for (i = 0; i < base.n; i++)
		labels[i] = i;

	/* pass 1: serial (hnsw_insert); pass 2, with --threads: parallel */
	idx = NULL;
	truth.ids = NULL;
	for (pass = 1; pass <= (threads > 1 ? 2 : 1); pass++)
	{
		if (idx != NULL)
			hnsw_destroy(idx);
		if (hnsw_create(&p, NULL, &idx, &err) != HNSW_OK)
			die("cannot create the index", err.message);
		t0 = now_sec();
		if (pass == 1)
		{
			for (i = 0; i < base.n; i++)
			{
				if (hnsw_insert(idx, base.v + (size_t) i * base.dim, i, NULL, &err) != HNSW_OK)
					die("insert failed", err.message);
			}
		}
		else if (hnsw_insert_batch_parallel(idx, base.v, labels, NULL, base.n, threads,
											NULL, NULL, &err) != HNSW_OK)
			die("parallel insert failed", err.message);
		build_sec = now_sec() - t0;
		printf("build (%d thread%s): %.2f s (%.0f inserts/s), memory %.1f MiB (%.0f bytes/node), max level %d\n",
			   pass == 1 ? 1 : threads, pass == 1 ? "" : "s",
			   build_sec, base.n / build_sec, hnsw_memory_usage(idx) / 1048576.0,
			   (double) hnsw_memory_usage(idx) / base.n, hnsw_max_level(idx));

		t0 = now_sec();
		if (hnsw_reconnect(idx, &fixed, &err) != HNSW_OK)
			die("reconnect failed", err.message);
		printf("reconnect: %u unreachable nodes fixed in %.3f s\n", fixed, now_sec() - t0);
		if (hnsw_check(idx, HNSW_CHECK_REPAIRED, &rep, &err) != HNSW_OK)
			printf("check: FAILED: %s\n", err.message);
		else
			printf("check: ok, %llu edges (%.1f per node)\n",
				   (unsigned long long) rep.n_edges, (double) rep.n_edges / rep.n_live);

		if (truth.ids == NULL)
		{
			t0 = now_sec();
			truth = brute_force(idx, &queries, k);
			printf("ground truth: %.2f s\n", now_sec() - t0);
		}
		printf("recall@%d and single-thread QPS:\n", k);
		measure(idx, &queries, &truth, k, efs, n_efs);
	}
	free(labels);
	free(truth.ids);
	free(truth.dist);

	if (delete_pct > 0)
	{
		uint32_t	n_del = 0;

		for (i = 0; i < base.n; i++)
		{
			if (rand_unit() * 100.0 < (double) delete_pct)
			{
				if (hnsw_mark_deleted(idx, i, &err) != HNSW_OK)
					die("delete failed", err.message);
				n_del++;
			}
		}
		t0 = now_sec();
		if (hnsw_repair_deleted(idx, &err) != HNSW_OK)
			die("repair failed", err.message);
		printf("delete: %u nodes marked, repair %.2f s\n", n_del, now_sec() - t0);
		if (hnsw_check(idx, HNSW_CHECK_REPAIRED, &rep, &err) != HNSW_OK)
			printf("check: FAILED: %s\n", err.message);
		else
			printf("check: ok, %u live, %llu edges\n", rep.n_live,
				   (unsigned long long) rep.n_edges);
		truth = brute_force(idx, &queries, k);
		measure(idx, &queries, &truth, k, efs, n_efs);
		free(truth.ids);
		free(truth.dist);
	}

	hnsw_destroy(idx);
	free(base.v);
	free(queries.v);
	return 0;
}
