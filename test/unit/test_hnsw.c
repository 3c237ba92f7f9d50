/*
 * test_hnsw.c - unit test of the HNSW engine (src/hnsw).
 *
 * Covers parameters, exact answers on tiny inputs, recall against brute
 * force for every metric, determinism, the storage interface (the index
 * itself, a copying source, a broken source), deletes and repair, the
 * reachability fix, bad input, memory accounting, and allocation failures
 * at every point of a build (the graph must come out the same); and the
 * read-write store interface: a store in plain arrays gets, through the
 * store functions, exactly the graphs HnswIndex gets (build, delete and
 * repair, reconnect), and write and read callbacks failing at every point
 * leave graphs that check consistent (or that reconnect heals) and reach
 * the usual recall.  Prints
 * "ok - ..." / "not ok - ..." per check, then "N passed, N failed"; exits
 * non-zero on any failure.  Sized to run in a few seconds under ASan+UBSan.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "distance.h"
#include "hnsw.h"
#include "test_rng.h"
#include "test_hnsw_common.h"

static HnswIndex *
build(const HnswParams *p, const HnswAllocator *alloc, const float *data, int n)
{
	HnswIndex  *idx;
	HnswError	err;
	int			i;

	if (hnsw_create(p, alloc, &idx, &err) != HNSW_OK)
	{
		fprintf(stderr, "hnsw_create: %s\n", err.message);
		exit(2);
	}
	for (i = 0; i < n; i++)
	{
		if (hnsw_insert(idx, data + (size_t) i * p->dim, (uint64_t) i * 10 + 7,
						NULL, &err) != HNSW_OK)
		{
			fprintf(stderr, "hnsw_insert: %s\n", err.message);
			exit(2);
		}
	}
	return idx;
}

/* Exact distance in double, on stored (for cosine: normalised) vectors. */
static double
exact_distance(HnswMetric metric, const float *a, const float *b, int dim)
{
	double		s = 0.0;
	int			i;

	for (i = 0; i < dim; i++)
	{
		double		x = a[i];
		double		y = b[i];

		switch (metric)
		{
			case HNSW_L2:
				s += (x - y) * (x - y);
				break;
			case HNSW_IP:
			case HNSW_COSINE:
				s += x * y;
				break;
			case HNSW_L1:
				s += fabs(x - y);
				break;
		}
	}
	if (metric == HNSW_IP)
		return -s;
	if (metric == HNSW_COSINE)
		return 1.0 - s;
	return s;
}

/* The query as the index sees it (normalised under cosine). */
static void
prepare_query(HnswMetric metric, const float *q, float *out, int dim)
{
	double		s = 0.0;
	int			i;

	for (i = 0; i < dim; i++)
		s += (double) q[i] * q[i];
	for (i = 0; i < dim; i++)
		out[i] = metric == HNSW_COSINE ? (float) (q[i] / sqrt(s)) : q[i];
}

/* The k-th smallest exact distance from q to a live node (inf if fewer). */
static double
kth_distance(const HnswIndex *idx, const float *q, int k)
{
	const HnswParams *p = hnsw_get_params(idx);
	double	   *best = xmalloc(sizeof(double) * (size_t) k);
	float	   *pq = xmalloc(sizeof(float) * (size_t) p->dim);
	int			have = 0;
	uint32_t	id;
	double		kth;

	prepare_query(p->metric, q, pq, p->dim);
	for (id = 0; id < hnsw_size(idx); id++)
	{
		double		d;
		int			j;

		if (hnsw_is_deleted(idx, id))
			continue;
		d = exact_distance(p->metric, pq, hnsw_node_vector(idx, id), p->dim);
		if (have == k && d >= best[k - 1])
			continue;
		j = have < k ? have++ : k - 1;
		while (j > 0 && best[j - 1] > d)
		{
			best[j] = best[j - 1];
			j--;
		}
		best[j] = d;
	}
	kth = have == k ? best[k - 1] : INFINITY;
	free(best);
	free(pq);
	return kth;
}

/*
 * recall@k of hnsw_knn over n_q queries: a result is a hit when its exact
 * distance is within the true k-th distance (ties are not misses).  Also
 * counts results that are deleted or out of order into *n_bad.
 */
static double
recall(HnswIndex *idx, const float *queries, int n_q, int k, int ef, int *n_bad)
{
	const HnswParams *p = hnsw_get_params(idx);
	HnswResult *res = xmalloc(sizeof(HnswResult) * (size_t) k);
	float	   *pq = xmalloc(sizeof(float) * (size_t) p->dim);
	long		hits = 0;
	long		wanted = 0;
	int			qi;

	*n_bad = 0;
	for (qi = 0; qi < n_q; qi++)
	{
		const float *q = queries + (size_t) qi * p->dim;
		double		kth = kth_distance(idx, q, k);
		HnswError	err;
		int			n_res;
		int			j;

		if (hnsw_knn(idx, q, k, ef, res, &n_res, &err) != HNSW_OK)
		{
			(*n_bad)++;
			continue;
		}
		prepare_query(p->metric, q, pq, p->dim);
		wanted += k;
		for (j = 0; j < n_res; j++)
		{
			double		d = exact_distance(p->metric, pq, hnsw_node_vector(idx, res[j].id), p->dim);

			if (d <= kth + 1e-4 * (fabs(kth) + 1e-3))
				hits++;
			if (hnsw_is_deleted(idx, res[j].id) ||
				res[j].label != (uint64_t) res[j].id * 10 + 7 ||
				(j > 0 && res[j].distance < res[j - 1].distance) ||
				fabs(res[j].distance - d) > 1e-3 * (fabs(d) + 1.0))
				(*n_bad)++;
		}
	}
	free(res);
	free(pq);
	return wanted ? (double) hits / (double) wanted : 1.0;
}

/* ---- a counting allocator that can fail on request */

typedef struct TestAlloc
{
	size_t		live;			/* bytes allocated and not freed */
	long		calls;
	long		fail_at;		/* fail the call with this number (-1: never) */
	long		fail_every;		/* or every n-th call (0: never) */
	int			bad_free;		/* a free with a size that was not allocated */
} TestAlloc;

typedef struct TestBlock
{
	size_t		size;
	size_t		pad;			/* keeps the payload 16-byte aligned */
} TestBlock;

static void *
test_alloc(void *ctx, size_t size)
{
	TestAlloc  *t = ctx;
	TestBlock  *b;
	long		call = t->calls++;

	if (call == t->fail_at || (t->fail_every > 0 && call % t->fail_every == t->fail_every - 1))
		return NULL;
	b = malloc(sizeof(TestBlock) + size);
	if (b == NULL)
		return NULL;
	b->size = size;
	t->live += size;
	return b + 1;
}

static void
test_free(void *ctx, void *ptr, size_t size)
{
	TestAlloc  *t = ctx;
	TestBlock  *b = (TestBlock *) ptr - 1;

	if (b->size != size)
		t->bad_free = 1;
	t->live -= b->size;
	free(b);
}

static HnswAllocator
test_allocator(TestAlloc *t)
{
	HnswAllocator a;

	memset(t, 0, sizeof(*t));
	t->fail_at = -1;
	a.alloc = test_alloc;
	a.free = test_free;
	a.ctx = t;
	return a;
}

/* ------------------------------------------------------------------ tests */

static void
test_params(void)
{
	static const struct
	{
		int			dim;
		int			m;
		int			efc;
		int			metric;
		const char *what;
	}			bad[] = {
		{8, 1, 64, HNSW_L2, "m"},
		{8, 101, 1000, HNSW_L2, "m"},
		{8, 2, 3, HNSW_L2, "ef_construction"},
		{8, 16, 31, HNSW_L2, "2 * m"},
		{8, 16, 1001, HNSW_L2, "ef_construction"},
		{0, 16, 64, HNSW_L2, "dimensions"},
		{16001, 16, 64, HNSW_L2, "dimensions"},
		{-5, 16, 64, HNSW_L2, "dimensions"},
		{8, 16, 64, 99, "metric"},
	};
	static const struct
	{
		int			dim;
		int			m;
		int			efc;
	}			good[] = {
		{1, 2, 4}, {16000, 16, 64}, {8, 100, 200}, {8, 16, 32}, {8, 2, 1000},
	};
	size_t		i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		HnswParams	p = params(bad[i].dim, (HnswMetric) bad[i].metric, bad[i].m, bad[i].efc);
		HnswIndex  *idx = (HnswIndex *) &p;	/* must be reset to NULL */
		HnswError	err;
		int			rc = hnsw_create(&p, NULL, &idx, &err);

		report(rc == HNSW_EINVAL && idx == NULL && err.code == HNSW_EINVAL &&
			   strstr(err.message, bad[i].what) != NULL,
			   "params: dim %d m %d ef_construction %d metric %d rejected (%s)",
			   bad[i].dim, bad[i].m, bad[i].efc, bad[i].metric, err.message);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
	{
		HnswParams	p = params(good[i].dim, HNSW_L2, good[i].m, good[i].efc);
		HnswIndex  *idx = NULL;
		HnswError	err;
		int			rc = hnsw_create(&p, NULL, &idx, &err);

		report(rc == HNSW_OK && idx != NULL && err.code == HNSW_OK,
			   "params: dim %d m %d ef_construction %d accepted",
			   good[i].dim, good[i].m, good[i].efc);
		hnsw_destroy(idx);
	}
	report(hnsw_params_validate(NULL, NULL) == HNSW_EINVAL,
		   "params: NULL parameters rejected");
	report(strcmp(hnsw_strerror(HNSW_ENOMEM), "out of memory") == 0 &&
		   strcmp(hnsw_metric_name(HNSW_COSINE), "cosine") == 0,
		   "params: names of codes and metrics");
}

static void
test_tiny(void)
{
	static const float pts[4][2] = {{0, 0}, {3, 4}, {-1, 0}, {3, 4}};
	HnswParams	p = params(2, HNSW_L2, 4, 8);
	HnswIndex  *idx;
	HnswResult	res[8];
	HnswError	err;
	float		q[2] = {0, 0};
	int			n;
	int			rc;
	uint32_t	id;

	if (hnsw_create(&p, NULL, &idx, &err) != HNSW_OK)
		exit(2);
	rc = hnsw_knn(idx, q, 5, 10, res, &n, &err);
	report(rc == HNSW_OK && n == 0, "tiny: empty index returns nothing");

	rc = hnsw_insert(idx, pts[0], 100, &id, &err);
	report(rc == HNSW_OK && id == 0 && hnsw_entry_point(idx) == 0,
		   "tiny: first insert gets id 0 and becomes the entry point");
	rc = hnsw_knn(idx, q, 5, 0, res, &n, &err);
	report(rc == HNSW_OK && n == 1 && res[0].label == 100 && res[0].id == 0 &&
		   res[0].distance == 0.0f, "tiny: 1 point, k 5: that point at distance 0");

	hnsw_insert(idx, pts[1], 101, &id, &err);
	q[0] = 3;
	q[1] = 3;
	rc = hnsw_knn(idx, q, 5, 0, res, &n, &err);
	report(rc == HNSW_OK && n == 2 && res[0].label == 101 && res[0].distance == 1.0f &&
		   res[1].label == 100 && res[1].distance == 18.0f,
		   "tiny: 2 points, exact order and squared L2 distances");

	hnsw_insert(idx, pts[2], 102, &id, &err);
	q[0] = -0.25f;
	q[1] = 0;
	rc = hnsw_knn(idx, q, 3, 3, res, &n, &err);
	report(rc == HNSW_OK && n == 3 && res[0].label == 100 && res[1].label == 102 &&
		   res[2].label == 101 && res[0].distance == 0.0625f &&
		   res[1].distance == 0.5625f,
		   "tiny: 3 points, exact order");
	rc = hnsw_knn(idx, q, 1, 1, res, &n, &err);
	report(rc == HNSW_OK && n == 1 && res[0].label == 100, "tiny: k 1");

	/* a duplicate of (3, 4): both come back, at the same distance */
	rc = hnsw_insert(idx, pts[3], 103, &id, &err);
	q[0] = 3;
	q[1] = 4;
	rc = hnsw_knn(idx, q, 10, 10, res, &n, &err);
	report(rc == HNSW_OK && n == 4 && res[0].distance == 0.0f &&
		   res[1].distance == 0.0f && res[0].id == 1 && res[1].id == 3 &&
		   res[3].label == 102,
		   "tiny: duplicates both returned at distance 0, k > n gives n results");
	report(check_ok(idx, HNSW_CHECK_ALL, NULL), "tiny: check passes");
	hnsw_destroy(idx);
}

static void
test_duplicates(void)
{
	/* 200 copies of one vector and 200 of another: all must be found */
	HnswParams	p = params(4, HNSW_L2, 4, 16);
	float	   *data = xmalloc(sizeof(float) * 400 * 4);
	HnswResult *res = xmalloc(sizeof(HnswResult) * 400);
	HnswIndex  *idx;
	HnswError	err;
	HnswCheckReport rep;
	uint32_t	fixed = 0;
	int			n;
	int			i;
	int			zero = 0;

	for (i = 0; i < 400; i++)
	{
		data[i * 4 + 0] = i % 2 ? 1.0f : -1.0f;
		data[i * 4 + 1] = 0.5f;
		data[i * 4 + 2] = 0.25f;
		data[i * 4 + 3] = 0.0f;
	}
	idx = build(&p, NULL, data, 400);
	(void) hnsw_check(idx, 0, &rep, &err);
	printf("# duplicates: %u unreachable nodes before reconnect\n", rep.n_unreachable);
	report(hnsw_reconnect(idx, &fixed, &err) == HNSW_OK && fixed <= rep.n_unreachable &&
		   (fixed > 0) == (rep.n_unreachable > 0),
		   "duplicates: reconnect fixes the %u unreachable nodes", fixed);
	report(check_ok(idx, HNSW_CHECK_ALL, &rep) && rep.n_unreachable == 0,
		   "duplicates: every node reachable after reconnect");
	hnsw_knn(idx, data, 200, 400, res, &n, &err);
	for (i = 0; i < n; i++)
		zero += res[i].distance == 0.0f && res[i].id % 2 == 0;
	report(n == 200 && zero == 200, "duplicates: all 200 copies found (%d)", zero);
	hnsw_destroy(idx);
	free(data);
	free(res);
}

static void
test_recall(void)
{
	static const HnswMetric metrics[] = {HNSW_L2, HNSW_IP, HNSW_COSINE, HNSW_L1};
	const int	n = 5000;
	const int	dim = 64;
	const int	n_q = 100;
	float	   *data = random_vectors(n, dim);
	float	   *queries = random_vectors(n_q, dim);
	size_t		i;

	for (i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++)
	{
		HnswParams	p = params(dim, metrics[i], 16, 64);
		HnswIndex  *idx = build(&p, NULL, data, n);
		HnswCheckReport rep;
		int			ok = check_ok(idx, 0, &rep);
		int			bad;
		double		r;

		report(ok && rep.n_live == (uint32_t) n,
			   "recall %s: graph of %d nodes passes the check (%.1f edges per node)",
			   hnsw_metric_name(metrics[i]), n, (double) rep.n_edges / n);

		/*
		 * Uniform data in 64 dimensions is the hardest case for HNSW (no
		 * low-dimensional structure): ef 64 gives about 0.95 here, ef 160
		 * about 0.99.
		 */
		r = recall(idx, queries, n_q, 10, 160, &bad);
		report(r >= 0.98 && bad == 0, "recall %s: recall@10 %.3f >= 0.98 at ef 160, %d bad results",
			   hnsw_metric_name(metrics[i]), r, bad);
		if (metrics[i] == HNSW_L2)
		{
			double		r40 = recall(idx, queries, n_q, 10, 40, &bad);
			double		r64 = recall(idx, queries, n_q, 10, 64, &bad);

			report(r40 < r64 && r64 <= r + 1e-9 && r64 >= 0.9,
				   "recall l2: grows with ef (%.3f at 40, %.3f at 64)", r40, r64);
		}
		hnsw_destroy(idx);
	}
	free(data);
	free(queries);
}

static void
test_clustered_recall(void)
{
	/* 40 Gaussian-ish clusters: realistic data reaches 0.98 at small ef */
	const int	n = 4000;
	const int	dim = 64;
	const int	n_q = 100;
	float	   *centres = random_vectors(40, dim);
	float	   *data = xmalloc(sizeof(float) * n * dim);
	float	   *queries = xmalloc(sizeof(float) * n_q * dim);
	HnswParams	p = params(dim, HNSW_L2, 16, 64);
	HnswIndex  *idx;
	double		r;
	int			bad;
	int			i;
	int			j;

	for (i = 0; i < n + n_q; i++)
	{
		const float *c = centres + (size_t) (i % 40) * dim;
		float	   *v = i < n ? data + (size_t) i * dim : queries + (size_t) (i - n) * dim;

		for (j = 0; j < dim; j++)
			v[j] = c[j] + (float) ((rand_unit() + rand_unit() + rand_unit() - 1.5) * 0.3);
	}
	idx = build(&p, NULL, data, n);
	r = recall(idx, queries, n_q, 10, 64, &bad);
	report(r >= 0.98 && bad == 0, "recall clustered l2: recall@10 %.3f >= 0.98 at ef 64", r);
	hnsw_destroy(idx);
	free(centres);
	free(data);
	free(queries);
}

static void
test_determinism(void)
{
	const int	n = 1500;
	float	   *data = random_vectors(n, 16);
	HnswParams	p = params(16, HNSW_L2, 8, 32);
	HnswIndex  *a = build(&p, NULL, data, n);
	HnswIndex  *b = build(&p, NULL, data, n);
	HnswIndex  *c;
	int			max_level = 0;
	uint32_t	id;

	report(graph_hash(a) == graph_hash(b) && hnsw_entry_point(a) == hnsw_entry_point(b),
		   "determinism: same seed and order give the same graph");
	p.seed = 12345;
	c = build(&p, NULL, data, n);
	report(graph_hash(a) != graph_hash(c), "determinism: another seed gives another graph");
	for (id = 0; id < (uint32_t) n; id++)
		if (hnsw_node_level(a, id) > max_level)
			max_level = hnsw_node_level(a, id);
	report(max_level == hnsw_max_level(a) && max_level >= 1 && max_level <= HNSW_MAX_LEVEL &&
		   hnsw_node_level(a, hnsw_entry_point(a)) == max_level,
		   "determinism: entry point is at the highest level (%d)", max_level);
	hnsw_destroy(a);
	hnsw_destroy(b);
	hnsw_destroy(c);
	free(data);
}

static void
test_levels(void)
{
	/* P(level >= 1) = 1/m; with m = 2 the cap must hold */
	const int	n = 6000;
	float	   *data = random_vectors(n, 2);
	HnswParams	p = params(2, HNSW_L2, 2, 4);
	HnswIndex  *idx = build(&p, NULL, data, n);
	int			above = 0;
	int			max = 0;
	uint32_t	id;

	for (id = 0; id < (uint32_t) n; id++)
	{
		above += hnsw_node_level(idx, id) >= 1;
		if (hnsw_node_level(idx, id) > max)
			max = hnsw_node_level(idx, id);
	}
	report(above > n / 2 - 250 && above < n / 2 + 250 && max <= HNSW_MAX_LEVEL && max >= 8,
		   "levels: m 2 puts about half the nodes above layer 0 (%d of %d), max %d",
		   above, n, max);
	{
		HnswCheckReport rep;
		int			ok = check_ok(idx, 0, &rep);

		report(ok, "levels: m 2 graph passes the check (%u of %d unreachable before reconnect)",
			   rep.n_unreachable, n);
		ok = hnsw_reconnect(idx, NULL, NULL) == HNSW_OK;
		report(ok && check_ok(idx, HNSW_CHECK_ALL, NULL),
			   "levels: and after reconnect, every node is reachable");
	}
	hnsw_destroy(idx);
	free(data);
}

/* ---- a source that copies, like a page-based store would */

typedef struct CopySource
{
	const HnswIndex *idx;
	int			break_at;		/* which callback call fails (-1: none) */
	int			calls;
	int			bad_id;			/* return an out-of-range neighbour */
} CopySource;

static int
copy_should_fail(CopySource *s)
{
	return s->calls++ == s->break_at;
}

static const float *
copy_vector(void *ctx, uint32_t id, float *buf)
{
	CopySource *s = ctx;
	const HnswParams *p = hnsw_get_params(s->idx);

	if (copy_should_fail(s))
		return NULL;
	memcpy(buf, hnsw_node_vector(s->idx, id), sizeof(float) * (size_t) p->dim);
	return buf;
}

static int
copy_neighbours(void *ctx, uint32_t id, int layer, const uint32_t **list,
				uint32_t *buf)
{
	CopySource *s = ctx;
	const uint32_t *l;
	int			n;

	if (copy_should_fail(s))
		return -1;
	n = hnsw_node_neighbours(s->idx, id, layer, &l);
	if (n < 0)
		return 0;				/* above the node's level: no neighbours */
	memcpy(buf, l, sizeof(uint32_t) * (size_t) n);
	if (s->bad_id && n > 0)
		buf[0] = hnsw_size(s->idx) + 5;
	*list = buf;
	return n;
}

static int
copy_is_deleted(void *ctx, uint32_t id)
{
	CopySource *s = ctx;

	if (copy_should_fail(s))
		return -1;
	return hnsw_is_deleted(s->idx, id);
}

static int
copy_level(void *ctx, uint32_t id)
{
	CopySource *s = ctx;

	return hnsw_node_level(s->idx, id);
}

static int
copy_label(void *ctx, uint32_t id, uint64_t *label)
{
	CopySource *s = ctx;

	if (copy_should_fail(s))
		return -1;
	*label = hnsw_node_label(s->idx, id);
	return 0;
}

static const HnswSourceOps copy_ops = {
	copy_vector, copy_neighbours, copy_is_deleted, copy_level, copy_label, NULL
};

/* batch scoring, as the page store does it: one callback for n nodes */
static int
copy_score(void *ctx, const uint32_t *ids, int n, const float *q,
		   HnswScoreFn dist, const void *dctx, float bound, float *out)
{
	CopySource *s = ctx;
	int			i;

	(void) bound;
	if (copy_should_fail(s))
		return -1;
	for (i = 0; i < n; i++)
		out[i] = dist(dctx, q, hnsw_node_vector(s->idx, ids[i]));
	return 0;
}

static const HnswSourceOps scoring_ops = {
	copy_vector, copy_neighbours, copy_is_deleted, copy_level, copy_label,
	copy_score
};

static int
same_results(const HnswResult *a, int na, const HnswResult *b, int nb)
{
	int			i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
	{
		if (a[i].id != b[i].id || a[i].label != b[i].label ||
			a[i].distance != b[i].distance)
			return 0;
	}
	return 1;
}

static void
test_source(void)
{
	const int	n = 2000;
	const int	dim = 24;
	float	   *data = random_vectors(n, dim);
	float	   *queries = random_vectors(20, dim);
	HnswParams	p = params(dim, HNSW_COSINE, 8, 40);
	HnswIndex  *idx = build(&p, NULL, data, n);
	HnswSearch *sc;
	HnswSource	msrc;
	HnswSource	csrc;
	CopySource	cs;
	HnswResult	r1[10];
	HnswResult	r2[10];
	HnswResult	r3[10];
	HnswError	err;
	HnswCheckReport rep;
	int			same = 1;
	int			n1;
	int			n2;
	int			n3;
	int			i;
	int			rc;

	for (i = 0; i < n; i += 7)
		hnsw_mark_deleted(idx, (uint32_t) i, NULL);
	rc = hnsw_search_create(&p, NULL, &sc, &err);
	report(rc == HNSW_OK, "source: search context created");
	hnsw_index_source(idx, &msrc);
	memset(&cs, 0, sizeof(cs));
	cs.idx = idx;
	cs.break_at = -1;
	csrc = msrc;
	csrc.ops = &copy_ops;
	csrc.ctx = &cs;
	for (i = 0; i < 20; i++)
	{
		const float *q = queries + (size_t) i * dim;

		hnsw_knn(idx, q, 10, 30, r1, &n1, NULL);
		hnsw_search_knn(sc, &msrc, q, 10, 30, r2, &n2, NULL);
		hnsw_search_knn(sc, &csrc, q, 10, 30, r3, &n3, NULL);
		same &= n1 == 10 && same_results(r1, n1, r2, n2) && same_results(r1, n1, r3, n3);
	}
	report(same, "source: index view and copying source give hnsw_knn's results");
	{
		HnswSource	ssrc = csrc;
		int			same_scored = 1;

		ssrc.ops = &scoring_ops;
		for (i = 0; i < 20; i++)
		{
			const float *q = queries + (size_t) i * dim;

			hnsw_knn(idx, q, 10, 30, r1, &n1, NULL);
			hnsw_search_knn(sc, &ssrc, q, 10, 30, r3, &n3, NULL);
			same_scored &= n1 == 10 && same_results(r1, n1, r3, n3);
		}
		report(same_scored, "source: a batch-scoring source gives hnsw_knn's results");
		for (i = 0; i < 40; i += 3)
		{
			cs.calls = 0;
			cs.break_at = i;
			rc = hnsw_search_knn(sc, &ssrc, queries, 10, 30, r3, &n3, &err);
			if (rc != HNSW_ESOURCE || n3 != 0)
				break;
		}
		report(i >= 40, "source: a failing batch score gives HNSW_ESOURCE (%s)", err.message);
		cs.break_at = -1;
	}
	report(hnsw_search_memory_usage(sc) > (size_t) n * sizeof(uint32_t),
		   "source: search context reports its memory (%zu bytes)",
		   hnsw_search_memory_usage(sc));

	rc = hnsw_check_source(&csrc, NULL, 0, &rep, &err);
	report(rc == HNSW_OK && rep.n_dangling > 0 && rep.n_deleted == (uint32_t) (n + 6) / 7,
		   "source: check through the copying source (%llu dangling edges before repair)",
		   (unsigned long long) rep.n_dangling);
	rc = hnsw_check_source(&csrc, NULL, HNSW_CHECK_ALL, &rep, &err);
	report(rc == HNSW_ECORRUPT && strstr(err.message, "deleted") != NULL,
		   "source: strict check flags edges to deleted nodes (%s)", err.message);

	for (i = 0; i < 40; i += 3)
	{
		cs.calls = 0;
		cs.break_at = i;
		rc = hnsw_search_knn(sc, &csrc, queries, 10, 30, r3, &n3, &err);
		if (rc != HNSW_ESOURCE || n3 != 0)
			break;
	}
	report(i >= 40, "source: a failing callback gives HNSW_ESOURCE (%s)", err.message);
	cs.break_at = -1;
	cs.bad_id = 1;
	rc = hnsw_search_knn(sc, &csrc, queries, 10, 30, r3, &n3, &err);
	report(rc == HNSW_ESOURCE && strstr(err.message, "out-of-range") != NULL,
		   "source: an out-of-range neighbour gives HNSW_ESOURCE");
	rc = hnsw_check_source(&csrc, NULL, 0, &rep, &err);
	report(rc == HNSW_ECORRUPT && rep.n_invalid > 0,
		   "source: check reports out-of-range edges (%llu)", (unsigned long long) rep.n_invalid);
	cs.bad_id = 0;

	csrc.dim = dim + 1;
	rc = hnsw_search_knn(sc, &csrc, queries, 10, 30, r3, &n3, &err);
	report(rc == HNSW_EINVAL, "source: dimension mismatch rejected");
	csrc.dim = dim;
	csrc.entry_point = (uint32_t) n + 3;
	rc = hnsw_search_knn(sc, &csrc, queries, 10, 30, r3, &n3, &err);
	report(rc == HNSW_ESOURCE, "source: bad entry point rejected");

	hnsw_search_destroy(sc);
	hnsw_destroy(idx);
	free(data);
	free(queries);
}

static void
test_deletes(void)
{
	const int	n = 4000;
	const int	dim = 32;
	const int	n_q = 50;
	float	   *data = random_vectors(n, dim);
	float	   *queries = random_vectors(n_q, dim);
	HnswParams	p = params(dim, HNSW_L2, 12, 48);
	HnswIndex  *idx = build(&p, NULL, data, n);
	HnswCheckReport rep;
	HnswResult	res[10];
	HnswError	err;
	uint32_t	n_del = 0;
	uint32_t	id;
	int			bad;
	int			n_res;
	double		r;
	int			rc;

	for (id = 0; id < (uint32_t) n; id++)
	{
		if (rand_unit() < 0.3)
		{
			hnsw_mark_deleted(idx, id, NULL);
			n_del++;
		}
	}
	if (!hnsw_is_deleted(idx, 0))
	{
		hnsw_mark_deleted(idx, 0, NULL);
		n_del++;
	}
	report(hnsw_live_count(idx) == (uint32_t) n - n_del, "deletes: %u of %d marked", n_del, n);
	report(hnsw_mark_deleted(idx, 0, &err) == HNSW_OK && hnsw_live_count(idx) == (uint32_t) n - n_del,
		   "deletes: marking twice is a no-op");
	report(hnsw_mark_deleted(idx, (uint32_t) n, &err) == HNSW_EINVAL &&
		   hnsw_is_deleted(idx, (uint32_t) n) == -1,
		   "deletes: id out of range rejected (%s)", err.message);

	r = recall(idx, queries, n_q, 10, 64, &bad);
	report(bad == 0 && r >= 0.95, "deletes: before repair, no deleted results, recall %.3f", r);

	rc = hnsw_repair_deleted(idx, &err);
	report(rc == HNSW_OK, "deletes: repair succeeds");
	rc = check_ok(idx, HNSW_CHECK_ALL, &rep);
	report(rc && rep.n_dangling == 0 && rep.n_unreachable == 0 &&
		   rep.n_live == (uint32_t) n - n_del,
		   "deletes: after repair no dangling edges, all %u live nodes reachable",
		   rep.n_live);
	report(!hnsw_is_deleted(idx, hnsw_entry_point(idx)), "deletes: entry point is live");
	r = recall(idx, queries, n_q, 10, 64, &bad);
	report(bad == 0 && r >= 0.95, "deletes: after repair, no deleted results, recall %.3f >= 0.95", r);
	report(hnsw_repair_deleted(idx, &err) == HNSW_OK && check_ok(idx, HNSW_CHECK_ALL, NULL),
		   "deletes: a second repair is a no-op");

	/* insert after repair, then delete everything */
	rc = hnsw_insert(idx, queries, 999999, &id, &err);
	hnsw_knn(idx, queries, 1, 10, res, &n_res, &err);
	report(rc == HNSW_OK && n_res == 1 && res[0].label == 999999 && res[0].distance == 0.0f,
		   "deletes: inserting after a repair works");
	for (id = 0; id < hnsw_size(idx); id++)
		hnsw_mark_deleted(idx, id, NULL);
	rc = hnsw_knn(idx, queries, 10, 40, res, &n_res, &err);
	report(rc == HNSW_OK && n_res == 0 && hnsw_live_count(idx) == 0,
		   "deletes: everything deleted, search returns nothing");
	rc = hnsw_repair_deleted(idx, &err);
	report(rc == HNSW_OK && hnsw_entry_point(idx) == HNSW_NO_NODE && hnsw_max_level(idx) == -1 &&
		   check_ok(idx, HNSW_CHECK_ALL, &rep) && rep.n_edges == 0,
		   "deletes: repair of an all-deleted graph leaves no entry point and no edges");
	rc = hnsw_knn(idx, queries, 10, 40, res, &n_res, &err);
	report(rc == HNSW_OK && n_res == 0, "deletes: search of the emptied graph returns nothing");
	rc = hnsw_insert(idx, data, 42, &id, &err);
	hnsw_knn(idx, data, 10, 40, res, &n_res, &err);
	report(rc == HNSW_OK && id == (uint32_t) n + 1 && n_res == 1 && res[0].label == 42 &&
		   hnsw_entry_point(idx) == id && check_ok(idx, HNSW_CHECK_ALL, NULL),
		   "deletes: a new node in the emptied graph becomes the entry point");
	hnsw_destroy(idx);
	free(data);
	free(queries);
}

static void
test_delete_entry(void)
{
	const int	n = 1500;
	float	   *data = random_vectors(n, 8);
	HnswParams	p = params(8, HNSW_L1, 6, 24);
	HnswIndex  *idx = build(&p, NULL, data, n);
	uint32_t	ep = hnsw_entry_point(idx);
	int			old_level = hnsw_max_level(idx);
	HnswResult	res[5];
	HnswError	err;
	uint32_t	id;
	int			best = -1;
	int			n_res;
	int			rc;

	hnsw_mark_deleted(idx, ep, NULL);
	rc = hnsw_knn(idx, data + (size_t) ep * 8, 5, 20, res, &n_res, &err);
	report(rc == HNSW_OK && n_res == 5 && res[0].id != ep && res[1].id != ep,
		   "delete entry: search without repair skips the deleted entry point");
	rc = hnsw_repair_deleted(idx, &err);
	for (id = 0; id < (uint32_t) n; id++)
		if (id != ep && hnsw_node_level(idx, id) > best)
			best = hnsw_node_level(idx, id);
	report(rc == HNSW_OK && hnsw_entry_point(idx) != ep &&
		   hnsw_max_level(idx) == best && best <= old_level &&
		   hnsw_node_level(idx, hnsw_entry_point(idx)) == best,
		   "delete entry: repair picks a live entry point at the highest level (%d)", best);
	report(check_ok(idx, HNSW_CHECK_ALL, NULL), "delete entry: check passes");
	hnsw_destroy(idx);
	free(data);
}

static void
test_bad_input(void)
{
	HnswParams	p = params(4, HNSW_COSINE, 4, 8);
	HnswIndex  *idx;
	HnswResult	res[4];
	HnswError	err;
	const float zero[4] = {0, 0, 0, 0};
	const float one[4] = {1, 2, 3, 4};
	float		v[4] = {1, 2, 3, 4};
	uint32_t	id = 77;
	int			n_res = 5;
	int			rc;
	int			i;

	hnsw_create(&p, NULL, &idx, NULL);
	rc = hnsw_insert(idx, zero, 1, &id, &err);
	report(rc == HNSW_EINVAL && hnsw_size(idx) == 0 && id == 77 && strstr(err.message, "zero") != NULL,
		   "bad input: zero vector rejected under cosine (%s)", err.message);
	report(hnsw_check_vector(idx, zero, NULL) == HNSW_EINVAL &&
		   hnsw_check_vector(idx, one, NULL) == HNSW_OK, "bad input: hnsw_check_vector agrees");
	v[2] = NAN;
	rc = hnsw_insert(idx, v, 1, &id, &err);
	report(rc == HNSW_EINVAL && hnsw_size(idx) == 0 && strstr(err.message, "NaN") != NULL,
		   "bad input: NaN rejected (%s)", err.message);
	v[2] = -INFINITY;
	rc = hnsw_insert(idx, v, 1, &id, &err);
	report(rc == HNSW_EINVAL && hnsw_size(idx) == 0, "bad input: infinity rejected (%s)", err.message);
	rc = hnsw_insert(idx, NULL, 1, &id, &err);
	report(rc == HNSW_EINVAL, "bad input: NULL vector rejected");
	rc = hnsw_insert(idx, one, 1, &id, &err);
	report(rc == HNSW_OK && id == 0, "bad input: a good vector after bad ones gets id 0");
	for (i = 0; i < 20; i++)
	{
		v[0] = (float) i;
		v[2] = 3;
		hnsw_insert(idx, v, (uint64_t) i + 10, NULL, NULL);
	}

	rc = hnsw_knn(idx, one, 0, 10, res, &n_res, &err);
	report(rc == HNSW_EINVAL && n_res == 0, "bad input: k 0 rejected (%s)", err.message);
	rc = hnsw_knn(idx, one, -3, 10, res, &n_res, &err);
	report(rc == HNSW_EINVAL, "bad input: negative k rejected");
	rc = hnsw_knn(idx, zero, 3, 10, res, &n_res, &err);
	report(rc == HNSW_EINVAL, "bad input: zero query rejected under cosine");
	v[1] = NAN;
	rc = hnsw_knn(idx, v, 3, 10, res, &n_res, &err);
	report(rc == HNSW_EINVAL, "bad input: NaN query rejected");
	rc = hnsw_knn(idx, one, 4, 1, res, &n_res, &err);
	report(rc == HNSW_OK && n_res == 4 && res[0].label == 1 && fabsf(res[0].distance) < 1e-6f,
		   "bad input: ef 1 < k 4 searches with ef = k (4 results)");
	{
		HnswResult	res2[4];
		int			n2;

		hnsw_knn(idx, one, 4, 4, res2, &n2, NULL);
		report(same_results(res, n_res, res2, n2), "bad input: ef below k equals ef = k");
		rc = hnsw_knn(idx, one, 4, -1, res2, &n2, NULL);
		report(rc == HNSW_OK && same_results(res, n_res, res2, n2), "bad input: negative ef means k");
	}
	rc = hnsw_knn(idx, one, 4, 10, NULL, &n_res, &err);
	report(rc == HNSW_EINVAL, "bad input: NULL result array rejected");
	report(hnsw_node_level(idx, 999) == -1 && hnsw_node_vector(idx, 999) == NULL &&
		   hnsw_node_neighbours(idx, 0, HNSW_MAX_LEVEL + 1, NULL) == -1,
		   "bad input: accessors reject ids and layers out of range");
	hnsw_destroy(idx);

	/*
	 * huge values: every float kernel overflows (inf - inf = NaN); the
	 * double recomputation is exact here, so the order must be right
	 */
	p = params(3, HNSW_IP, 4, 8);
	hnsw_create(&p, NULL, &idx, NULL);
	for (i = 0; i < 30; i++)
	{
		float		h[3] = {3e38f, -3e38f, (float) i};

		hnsw_insert(idx, h, (uint64_t) i, NULL, NULL);
	}
	{
		float		q[3] = {3e38f, 3e38f, 1e30f};

		/*
		 * inner product is no metric: on these collinear points pruning
		 * leaves nodes unreachable; reconnect so ef 30 sees all 30
		 */
		hnsw_reconnect(idx, NULL, NULL);
		rc = hnsw_knn(idx, q, 3, 30, res, &n_res, &err);
		report(rc == HNSW_OK && n_res == 3 && res[0].label == 29 && res[1].label == 28 &&
			   !isnan(res[0].distance),
			   "bad input: overflowing inner products order correctly (no NaN)");
	}
	hnsw_destroy(idx);
}

static void
test_memory(void)
{
	const int	n = 3000;
	const int	dim = 100;
	float	   *data = random_vectors(n, dim);
	HnswParams	p = params(dim, HNSW_L2, 10, 40);
	TestAlloc	t;
	HnswAllocator a = test_allocator(&t);
	HnswIndex  *idx = build(&p, &a, data, n);
	size_t		per_node = sizeof(float) * dim + sizeof(uint32_t) * (1 + 2 * 10);
	size_t		used = hnsw_memory_usage(idx);
	HnswResult	res[10];
	int			n_res;

	report(used == t.live, "memory: hnsw_memory_usage %zu equals the bytes allocated %zu",
		   used, t.live);
	report(used >= (size_t) n * per_node && used <= (size_t) n * per_node * 2 + (2u << 20),
		   "memory: %zu bytes for %d nodes of %zu payload bytes (%.0f per node)",
		   used, n, per_node, (double) used / n);
	hnsw_knn(idx, data, 10, 900, res, &n_res, NULL);
	report(hnsw_memory_usage(idx) == t.live && hnsw_memory_usage(idx) > used,
		   "memory: search scratch growth is counted (%zu)", hnsw_memory_usage(idx));
	hnsw_mark_deleted(idx, 5, NULL);
	hnsw_repair_deleted(idx, NULL);
	report(hnsw_memory_usage(idx) == t.live, "memory: repair scratch is freed");
	hnsw_destroy(idx);
	report(t.live == 0 && !t.bad_free, "memory: destroy frees everything, with the right sizes");
	free(data);
}

/*
 * Allocation failures: every k-th allocation fails during a build, every
 * failed insert is retried.  A failed insert must report HNSW_ENOMEM and
 * leave the index unchanged, so the final graph equals a clean build's.
 */
static void
test_enomem(void)
{
	const int	n = 1200;
	const int	dim = 700;			/* big nodes: several chunks */
	float	   *data = random_vectors(n, dim);
	HnswParams	p = params(dim, HNSW_L2, 4, 16);
	HnswIndex  *clean = build(&p, NULL, data, n);
	TestAlloc	t;
	HnswAllocator a = test_allocator(&t);
	HnswIndex  *idx = NULL;
	HnswError	err;
	int			failures = 0;
	int			wrong = 0;
	int			rc;
	int			i;
	long		at;

	/* creation fails cleanly at each of its allocations */
	for (at = 0; at < 20; at++)
	{
		a = test_allocator(&t);
		t.fail_at = at;
		rc = hnsw_create(&p, &a, &idx, &err);
		if (rc == HNSW_OK)
			break;
		wrong += rc != HNSW_ENOMEM || idx != NULL || t.live != 0;
	}
	report(rc == HNSW_OK && at > 3 && wrong == 0,
		   "enomem: create fails cleanly at each of its %ld allocations", at);
	hnsw_destroy(idx);

	a = test_allocator(&t);
	hnsw_create(&p, &a, &idx, NULL);
	t.fail_every = 3;
	for (i = 0; i < n; i++)
	{
		uint32_t	before = hnsw_size(idx);
		uint32_t	id;

		rc = hnsw_insert(idx, data + (size_t) i * dim, (uint64_t) i * 10 + 7, &id, &err);
		if (rc == HNSW_ENOMEM)
		{
			failures++;
			wrong += hnsw_size(idx) != before || err.code != HNSW_ENOMEM;
			i--;				/* retry */
		}
		else
			wrong += rc != HNSW_OK || id != (uint32_t) i;
		wrong += hnsw_memory_usage(idx) != t.live;
	}
	report(failures > 5 && wrong == 0,
		   "enomem: %d inserts failed cleanly and were retried", failures);
	report(graph_hash(idx) == graph_hash(clean),
		   "enomem: the graph equals one built without failures");

	/* a failing repair changes nothing */
	for (i = 0; i < n; i += 4)
		hnsw_mark_deleted(idx, (uint32_t) i, NULL);
	{
		uint64_t	h = graph_hash(idx);

		t.fail_every = 0;
		t.fail_at = t.calls;
		rc = hnsw_repair_deleted(idx, &err);
		report(rc == HNSW_ENOMEM && graph_hash(idx) == h,
			   "enomem: a repair that cannot allocate changes nothing (%s)", err.message);
	}
	rc = hnsw_repair_deleted(idx, &err);
	report(rc == HNSW_OK && check_ok(idx, HNSW_CHECK_ALL, NULL),
		   "enomem: the repair then succeeds");
	t.fail_at = t.calls;
	{
		HnswResult *res = xmalloc(sizeof(HnswResult) * 600);
		int			n_res;

		rc = hnsw_knn(idx, data, 600, 600, res, &n_res, &err);
		report(rc == HNSW_ENOMEM && n_res == 0,
			   "enomem: a search that cannot grow its scratch fails cleanly");
		rc = hnsw_knn(idx, data, 600, 600, res, &n_res, &err);
		report(rc == HNSW_OK && n_res == 600, "enomem: and then succeeds");
		free(res);
	}
	hnsw_destroy(idx);
	report(t.live == 0 && !t.bad_free, "enomem: nothing leaked");
	hnsw_destroy(clean);
	free(data);
}

/* ---- a store in plain arrays, deliberately separate from HnswIndex */

#define TS_ADD 1
#define TS_LIST 2
#define TS_ENTRY 3
#define TS_MARK 4

typedef struct TList
{
	uint32_t	n;
	uint32_t	n_sel;
	uint32_t	ids[2 * HNSW_MAX_M];
	float		dists[2 * HNSW_MAX_M];
} TList;

typedef struct TestStore
{
	int			dim;
	int			m;
	HnswMetric	metric;
	int			keep_meta;		/* keeps distances and n_sel (read_list) */
	uint32_t	n;
	uint32_t	cap;
	float	   *vecs;
	uint8_t    *level;
	uint8_t    *deleted;
	uint64_t   *label;
	TList	  **lists;			/* per node: level + 1 lists */
	uint32_t	entry;
	int			max_level;
	/* fault injection: the write (read) call with this number fails */
	long		writes;
	long		fail_write;
	long		reads;
	long		fail_read;
	int			failed_kind;	/* TS_* of the write that failed, else 0 */
	int			corrupt;		/* 1 bad neighbour id, 2 bad n_sel, 3 bad new id */
	uint32_t   *free_ids;		/* ids add_node recycles, last first */
	int			n_free;
	long		vec_reads;		/* calls of the vector callback */
} TestStore;

static TestStore *
ts_new(const HnswParams *p, int keep_meta)
{
	TestStore  *s = xmalloc(sizeof(TestStore));

	memset(s, 0, sizeof(*s));
	s->dim = p->dim;
	s->m = p->m;
	s->metric = p->metric;
	s->keep_meta = keep_meta;
	s->entry = HNSW_NO_NODE;
	s->max_level = -1;
	s->fail_write = -1;
	s->fail_read = -1;
	return s;
}

static void
ts_free(TestStore *s)
{
	uint32_t	i;

	for (i = 0; i < s->n; i++)
		free(s->lists[i]);
	free(s->vecs);
	free(s->level);
	free(s->deleted);
	free(s->label);
	free(s->lists);
	free(s->free_ids);
	free(s);
}

static TestStore *
ts_clone(const TestStore *s)
{
	TestStore  *c = xmalloc(sizeof(TestStore));
	uint32_t	i;

	*c = *s;
	c->vecs = xmalloc(sizeof(float) * (size_t) s->cap * s->dim);
	c->level = xmalloc(s->cap);
	c->deleted = xmalloc(s->cap);
	c->label = xmalloc(sizeof(uint64_t) * s->cap);
	c->lists = xmalloc(sizeof(TList *) * s->cap);
	memcpy(c->vecs, s->vecs, sizeof(float) * (size_t) s->n * s->dim);
	memcpy(c->level, s->level, s->n);
	memcpy(c->deleted, s->deleted, s->n);
	memcpy(c->label, s->label, sizeof(uint64_t) * s->n);
	c->free_ids = NULL;
	c->n_free = 0;
	for (i = 0; i < s->n; i++)
	{
		c->lists[i] = xmalloc(sizeof(TList) * (s->level[i] + 1));
		memcpy(c->lists[i], s->lists[i], sizeof(TList) * (s->level[i] + 1));
	}
	return c;
}

static int
ts_read_fails(TestStore *s)
{
	return s->reads++ == s->fail_read;
}

static int
ts_write_fails(TestStore *s, int kind)
{
	if (s->writes++ != s->fail_write)
		return 0;
	s->failed_kind = kind;
	return 1;
}

static const float *
ts_vector(void *ctx, uint32_t id, float *buf)
{
	TestStore  *s = ctx;

	s->vec_reads++;
	if (ts_read_fails(s) || id >= s->n)
		return NULL;
	memcpy(buf, s->vecs + (size_t) id * s->dim, sizeof(float) * s->dim);
	return buf;
}

static int
ts_score(void *ctx, const uint32_t *ids, int n, const float *q,
		 HnswScoreFn dist, const void *dctx, float bound, float *out)
{
	TestStore  *s = ctx;
	int			i;

	(void) bound;
	s->vec_reads++;
	if (ts_read_fails(s))
		return -1;
	for (i = 0; i < n; i++)
	{
		if (ids[i] >= s->n)
			return -1;
		out[i] = dist(dctx, q, s->vecs + (size_t) ids[i] * s->dim);
	}
	return 0;
}

static int
ts_neighbours(void *ctx, uint32_t id, int layer, const uint32_t **list,
			  uint32_t *buf)
{
	TestStore  *s = ctx;
	const TList *l;

	if (ts_read_fails(s) || id >= s->n || layer < 0)
		return -1;
	if (layer > s->level[id])
		return 0;
	l = &s->lists[id][layer];
	memcpy(buf, l->ids, sizeof(uint32_t) * l->n);
	if (s->corrupt == 1 && l->n > 0)
		buf[0] = s->n + 3;
	*list = buf;
	return (int) l->n;
}

static int
ts_is_deleted(void *ctx, uint32_t id)
{
	TestStore  *s = ctx;

	return ts_read_fails(s) || id >= s->n ? -1 : s->deleted[id];
}

static int
ts_level(void *ctx, uint32_t id)
{
	TestStore  *s = ctx;

	return ts_read_fails(s) || id >= s->n ? -1 : s->level[id];
}

static int
ts_label(void *ctx, uint32_t id, uint64_t *label)
{
	TestStore  *s = ctx;

	if (ts_read_fails(s) || id >= s->n)
		return -1;
	*label = s->label[id];
	return 0;
}

static int
ts_read_list(void *ctx, uint32_t id, int layer, uint32_t *ids, float *dists,
			 uint32_t *n_sel)
{
	TestStore  *s = ctx;
	const TList *l;

	if (ts_read_fails(s) || id >= s->n || layer < 0 || layer > s->level[id])
		return -1;
	l = &s->lists[id][layer];
	memcpy(ids, l->ids, sizeof(uint32_t) * l->n);
	memcpy(dists, l->dists, sizeof(float) * l->n);
	*n_sel = s->corrupt == 2 ? l->n + 1 : l->n_sel;
	if (s->corrupt == 1 && l->n > 0)
		ids[0] = s->n + 3;
	return (int) l->n;
}

static int
ts_add_node(void *ctx, const float *vec, int level, uint64_t label,
			uint32_t *id_out)
{
	TestStore  *s = ctx;
	uint32_t	id = s->n;
	int			l;

	if (ts_write_fails(s, TS_ADD) || level < 0 || level > HNSW_MAX_LEVEL)
		return -1;
	if (s->n_free > 0)
	{
		id = s->free_ids[--s->n_free];
		free(s->lists[id]);
	}
	else if (s->n == s->cap)
	{
		s->cap = s->cap ? s->cap * 2 : 64;
		s->vecs = realloc(s->vecs, sizeof(float) * (size_t) s->cap * s->dim);
		s->level = realloc(s->level, s->cap);
		s->deleted = realloc(s->deleted, s->cap);
		s->label = realloc(s->label, sizeof(uint64_t) * s->cap);
		s->lists = realloc(s->lists, sizeof(TList *) * s->cap);
		if (!s->vecs || !s->level || !s->deleted || !s->label || !s->lists)
			exit(2);
	}
	memcpy(s->vecs + (size_t) id * s->dim, vec, sizeof(float) * s->dim);
	s->level[id] = (uint8_t) level;
	s->deleted[id] = 0;
	s->label[id] = label;
	s->lists[id] = xmalloc(sizeof(TList) * (level + 1));
	for (l = 0; l <= level; l++)
	{
		s->lists[id][l].n = 0;
		s->lists[id][l].n_sel = HNSW_NSEL_UNKNOWN;
	}
	if (id == s->n)
		s->n++;
	*id_out = s->corrupt == 3 ? id + 7 : id;
	return 0;
}

static int
ts_set_neighbours(void *ctx, uint32_t id, int layer, const uint32_t *ids,
				  const float *dists, int n, uint32_t n_sel)
{
	TestStore  *s = ctx;
	TList	   *l;
	int			i;

	if (ts_write_fails(s, TS_LIST) || id >= s->n || layer < 0 ||
		layer > s->level[id] || n < 0 || n > (layer == 0 ? 2 * s->m : s->m) ||
		(s->keep_meta && n > 0 && dists == NULL))
		return -1;
	for (i = 0; i < n; i++)
		if (ids[i] >= s->n)
			return -1;
	l = &s->lists[id][layer];
	memcpy(l->ids, ids, sizeof(uint32_t) * n);
	l->n = (uint32_t) n;
	/* a store without read_list keeps neither distances nor n_sel */
	if (s->keep_meta)
		memcpy(l->dists, dists, sizeof(float) * n);
	l->n_sel = s->keep_meta ? n_sel : HNSW_NSEL_UNKNOWN;
	return 0;
}

static int
ts_set_entry_point(void *ctx, uint32_t id, int level)
{
	TestStore  *s = ctx;

	if (ts_write_fails(s, TS_ENTRY))
		return -1;
	s->entry = id;
	s->max_level = level;
	return 0;
}

static int
ts_mark_deleted(void *ctx, uint32_t id)
{
	TestStore  *s = ctx;

	if (ts_write_fails(s, TS_MARK) || id >= s->n)
		return -1;
	s->deleted[id] = 1;
	return 0;
}

static const HnswStoreOps ts_ops_meta = {
	{ts_vector, ts_neighbours, ts_is_deleted, ts_level, ts_label, ts_score},
	ts_read_list, ts_add_node, ts_set_neighbours, ts_set_entry_point, ts_mark_deleted
};

static const HnswStoreOps ts_ops_plain = {
	{ts_vector, ts_neighbours, ts_is_deleted, ts_level, ts_label, NULL},
	NULL, ts_add_node, ts_set_neighbours, ts_set_entry_point, ts_mark_deleted
};

/* The HnswStore of s, as the access method would load it from its metapage. */
static HnswStore
ts_view(TestStore *s)
{
	HnswStore	st;

	st.ops = s->keep_meta ? &ts_ops_meta : &ts_ops_plain;
	st.ctx = s;
	st.dim = s->dim;
	st.m = s->m;
	st.metric = s->metric;
	st.n_nodes = s->n;
	st.entry_point = s->entry;
	st.max_level = s->max_level;
	return st;
}

/* Did the engine keep st in step with what the store holds? */
static int
ts_in_step(const TestStore *s, const HnswStore *st)
{
	return st->n_nodes == s->n && st->entry_point == s->entry &&
		st->max_level == s->max_level;
}

static int
ts_check(TestStore *s, int flags, HnswCheckReport *rep, HnswError *err)
{
	HnswStore	st = ts_view(s);
	HnswSource	src;
	long		fail_read = s->fail_read;
	int			rc;

	hnsw_store_source(&st, &src);
	s->fail_read = -1;
	rc = hnsw_check_source(&src, NULL, flags, rep, err);
	s->fail_read = fail_read;
	return rc;
}

/* Is s node for node the graph of idx?  Says where not into why. */
static int
same_graph(const HnswIndex *idx, const TestStore *s, char *why, size_t why_len)
{
	uint32_t	id;

	if (hnsw_size(idx) != s->n || hnsw_entry_point(idx) != s->entry ||
		hnsw_max_level(idx) != s->max_level)
	{
		snprintf(why, why_len, "size %u/%u, entry %u/%u, max level %d/%d",
				 hnsw_size(idx), s->n, hnsw_entry_point(idx), s->entry,
				 hnsw_max_level(idx), s->max_level);
		return 0;
	}
	for (id = 0; id < s->n; id++)
	{
		int			level = hnsw_node_level(idx, id);
		int			layer;

		if (level != s->level[id] || hnsw_is_deleted(idx, id) != s->deleted[id] ||
			hnsw_node_label(idx, id) != s->label[id] ||
			memcmp(hnsw_node_vector(idx, id), s->vecs + (size_t) id * s->dim,
				   sizeof(float) * s->dim) != 0)
		{
			snprintf(why, why_len, "node %u: level, flag, label or vector differ", id);
			return 0;
		}
		for (layer = 0; layer <= level; layer++)
		{
			const uint32_t *list;
			int			n = hnsw_node_neighbours(idx, id, layer, &list);

			if (n != (int) s->lists[id][layer].n ||
				memcmp(list, s->lists[id][layer].ids, sizeof(uint32_t) * n) != 0)
			{
				snprintf(why, why_len, "node %u layer %d: lists differ", id, layer);
				return 0;
			}
		}
	}
	snprintf(why, why_len, "identical");
	return 1;
}

static HnswWriter *
writer(const HnswParams *p)
{
	HnswWriter *w;
	HnswError	err;

	if (hnsw_writer_create(p, NULL, &w, &err) != HNSW_OK)
	{
		fprintf(stderr, "hnsw_writer_create: %s\n", err.message);
		exit(2);
	}
	return w;
}

/* Insert n vectors into s through the engine, levels drawn from *rng. */
static void
ts_build(TestStore *s, HnswWriter *w, uint64_t *rng, const float *data,
		 int from, int to)
{
	int			i;

	for (i = from; i < to; i++)
	{
		HnswStore	st = ts_view(s);
		HnswError	err;
		int			level = hnsw_random_level(s->m, rng);

		if (hnsw_store_insert(w, &st, data + (size_t) i * s->dim, level,
							  (uint64_t) i * 10 + 7, NULL, &err) != HNSW_OK)
		{
			fprintf(stderr, "hnsw_store_insert: %s\n", err.message);
			exit(2);
		}
	}
}

/*
 * recall@k of searches through the store's source view, as recall() for an
 * index: a hit is a result within the true k-th distance over live nodes.
 */
static double
ts_recall(TestStore *s, const float *queries, int n_q, int k, int ef)
{
	HnswParams	p = params(s->dim, s->metric, s->m, 2 * s->m);
	HnswStore	st = ts_view(s);
	HnswSource	src;
	HnswSearch *sc;
	HnswResult *res = xmalloc(sizeof(HnswResult) * k);
	double	   *best = xmalloc(sizeof(double) * k);
	float	   *pq = xmalloc(sizeof(float) * s->dim);
	long		hits = 0;
	int			qi;

	hnsw_search_create(&p, NULL, &sc, NULL);
	hnsw_store_source(&st, &src);
	for (qi = 0; qi < n_q; qi++)
	{
		const float *q = queries + (size_t) qi * s->dim;
		int			have = 0;
		int			n_res = 0;
		double		kth;
		uint32_t	id;
		int			j;

		prepare_query(s->metric, q, pq, s->dim);
		for (id = 0; id < s->n; id++)
		{
			double		d;

			if (s->deleted[id])
				continue;
			d = exact_distance(s->metric, pq, s->vecs + (size_t) id * s->dim, s->dim);
			if (have == k && d >= best[k - 1])
				continue;
			j = have < k ? have++ : k - 1;
			while (j > 0 && best[j - 1] > d)
			{
				best[j] = best[j - 1];
				j--;
			}
			best[j] = d;
		}
		kth = have == k ? best[k - 1] : INFINITY;
		hnsw_search_knn(sc, &src, q, k, ef, res, &n_res, NULL);
		for (j = 0; j < n_res; j++)
		{
			double		d = exact_distance(s->metric, pq,
										   s->vecs + (size_t) res[j].id * s->dim, s->dim);

			hits += d <= kth + 1e-4 * (fabs(kth) + 1e-3);
		}
	}
	hnsw_search_destroy(sc);
	free(res);
	free(best);
	free(pq);
	return (double) hits / ((double) n_q * k);
}

/*
 * The same data, levels and operations through HnswIndex, through a store
 * that keeps the list metadata, through one that keeps none, and through
 * the index-as-store adapter: identical graphs at every step.
 */
static void
test_store_identity(void)
{
	static const HnswMetric metrics[] = {HNSW_L2, HNSW_COSINE};
	const int	n = 1500;
	const int	dim = 16;
	size_t		mi;

	for (mi = 0; mi < sizeof(metrics) / sizeof(metrics[0]); mi++)
	{
		HnswParams	p = params(dim, metrics[mi], 6, 24);
		const char *mname = hnsw_metric_name(metrics[mi]);
		float	   *data = random_vectors(n + 200, dim);
		float	   *queries = random_vectors(20, dim);
		HnswIndex  *idx;
		HnswIndex  *via;		/* built through hnsw_index_store */
		TestStore  *meta = ts_new(&p, 1);
		TestStore  *plain = ts_new(&p, 0);
		HnswWriter *w = writer(&p);
		HnswStore	vst;
		HnswStore	st;
		HnswSearch *sc;
		HnswError	err;
		uint64_t	rng_meta = p.seed;
		uint64_t	rng_plain = p.seed;
		uint64_t	rng_via = p.seed;
		uint32_t	fixed_idx;
		uint32_t	fixed_meta;
		uint32_t	fixed_plain;
		char		why1[128];
		char		why2[128];
		int			same_search = 1;
		int			i;
		int			rc;

		/*
		 * a fifth of the data are copies, and the last 200 copies of 3
		 * vectors: pruning then leaves nodes unreachable for reconnect
		 */
		for (i = n - n / 5; i < n + 200; i++)
			memcpy(data + (size_t) i * dim, data + (size_t) (i % (i < n ? 97 : 3)) * dim,
				   sizeof(float) * dim);
		idx = build(&p, NULL, data, n);
		ts_build(meta, w, &rng_meta, data, 0, n);
		ts_build(plain, w, &rng_plain, data, 0, n);
		hnsw_create(&p, NULL, &via, NULL);
		for (i = 0; i < n; i++)
		{
			hnsw_index_store(via, &vst);
			rc = hnsw_store_insert(w, &vst, data + (size_t) i * dim,
								   hnsw_random_level(p.m, &rng_via),
								   (uint64_t) i * 10 + 7, NULL, &err);
			if (rc != HNSW_OK)
				break;
		}
		report(same_graph(idx, meta, why1, sizeof(why1)) &&
			   same_graph(idx, plain, why2, sizeof(why2)),
			   "store %s: %d inserts give hnsw_insert's graph (with metadata: %s; without: %s)",
			   mname, n, why1, why2);
		report(rc == HNSW_OK && graph_hash(via) == graph_hash(idx),
			   "store %s: the index as a store gives the same graph", mname);

		hnsw_search_create(&p, NULL, &sc, NULL);
		for (i = 0; i < 20; i++)
		{
			HnswResult	r1[10];
			HnswResult	r2[10];
			HnswSource	src;
			int			n1;
			int			n2;

			st = ts_view(meta);
			hnsw_store_source(&st, &src);
			hnsw_knn(idx, queries + (size_t) i * dim, 10, 30, r1, &n1, NULL);
			hnsw_search_knn(sc, &src, queries + (size_t) i * dim, 10, 30, r2, &n2, NULL);
			same_search &= n1 == 10 && same_results(r1, n1, r2, n2);
		}
		report(same_search, "store %s: searches of the store give hnsw_knn's results", mname);

		/* delete a third, repair */
		for (i = 0; i < n; i++)
		{
			if (i % 3 == 1 || (uint32_t) i == hnsw_entry_point(idx))
			{
				hnsw_mark_deleted(idx, (uint32_t) i, NULL);
				st = ts_view(meta);
				hnsw_store_mark_deleted(&st, (uint32_t) i, NULL);
				st = ts_view(plain);
				hnsw_store_mark_deleted(&st, (uint32_t) i, NULL);
				hnsw_index_store(via, &vst);
				hnsw_store_mark_deleted(&vst, (uint32_t) i, NULL);
			}
		}
		rc = hnsw_repair_deleted(idx, &err);
		st = ts_view(meta);
		rc |= hnsw_store_repair_deleted(w, &st, &err);
		rc |= !ts_in_step(meta, &st);
		st = ts_view(plain);
		rc |= hnsw_store_repair_deleted(w, &st, &err);
		hnsw_index_store(via, &vst);
		rc |= hnsw_store_repair_deleted(w, &vst, &err);
		report(rc == HNSW_OK && same_graph(idx, meta, why1, sizeof(why1)) &&
			   same_graph(idx, plain, why2, sizeof(why2)) &&
			   graph_hash(via) == graph_hash(idx),
			   "store %s: delete + repair give the same graph (%s; %s)", mname, why1, why2);
		report(ts_check(meta, HNSW_CHECK_ALL, NULL, &err) == HNSW_OK,
			   "store %s: the repaired store passes the full check", mname);

		/* more inserts (copies among them), then reconnect */
		for (i = n; i < n + 200; i++)
			hnsw_insert(idx, data + (size_t) i * dim, (uint64_t) i * 10 + 7, NULL, NULL);
		ts_build(meta, w, &rng_meta, data, n, n + 200);
		ts_build(plain, w, &rng_plain, data, n, n + 200);
		rc = hnsw_reconnect(idx, &fixed_idx, &err);
		st = ts_view(meta);
		rc |= hnsw_store_reconnect(w, &st, &fixed_meta, &err);
		st = ts_view(plain);
		rc |= hnsw_store_reconnect(w, &st, &fixed_plain, &err);
		report(rc == HNSW_OK && fixed_idx > 0 && fixed_meta == fixed_idx && fixed_plain == fixed_idx &&
			   same_graph(idx, meta, why1, sizeof(why1)) &&
			   same_graph(idx, plain, why2, sizeof(why2)),
			   "store %s: inserts after repair, then reconnect (%u fixed) give the same graph (%s; %s)",
			   mname, fixed_idx, why1, why2);
		report(ts_check(plain, HNSW_CHECK_ALL, NULL, &err) == HNSW_OK,
			   "store %s: and it passes the full check", mname);

		hnsw_search_destroy(sc);
		hnsw_writer_destroy(w);
		hnsw_destroy(idx);
		hnsw_destroy(via);
		ts_free(meta);
		ts_free(plain);
		free(data);
		free(queries);
	}
}

/* The callbacks an insert makes, for the access method's planning. */
static void
test_store_costs(void)
{
	const int	n = 3000;
	const int	dim = 32;
	float	   *data = random_vectors(n + 100, dim);
	HnswParams	p = params(dim, HNSW_L2, 16, 64);
	TestStore  *s = ts_new(&p, 1);
	HnswWriter *w = writer(&p);
	uint64_t	rng = p.seed;
	long		reads;
	long		vec_reads;
	long		writes;

	ts_build(s, w, &rng, data, 0, n);
	reads = s->reads;
	vec_reads = s->vec_reads;
	writes = s->writes;
	ts_build(s, w, &rng, data, n, n + 100);
	printf("# store costs, m 16, ef_construction 64, %d nodes, per insert: %.0f reads "
		   "(%.0f vectors, %.0f lists), %.1f writes\n",
		   n, (double) (s->reads - reads) / 100, (double) (s->vec_reads - vec_reads) / 100,
		   (double) (s->reads - reads - (s->vec_reads - vec_reads)) / 100,
		   (double) (s->writes - writes) / 100);
	report((s->writes - writes) / 100 <= 2 + 2 * 16 + 16,
		   "store costs: writes per insert bounded by the lists an insert may change");
	report(hnsw_writer_memory_usage(w) > 0, "store costs: writer reports %zu bytes",
		   hnsw_writer_memory_usage(w));
	hnsw_writer_destroy(w);
	ts_free(s);
	free(data);
}

/*
 * What a failed insert leaves, for every write it makes: fail the k-th
 * write callback of a small build, for every k.
 */
static void
test_store_faults_every_write(void)
{
	const int	n = 50;
	const int	dim = 8;
	float	   *data = random_vectors(n, dim);
	HnswParams	p = params(dim, HNSW_L2, 3, 12);
	HnswWriter *w = writer(&p);
	long		total;
	long		k;
	int			wrong = 0;
	int			bad_rc = 0;
	int			bad_check = 0;
	int			bad_final = 0;
	int			window = 0;
	int			healed = 0;
	int			kinds[5] = {0, 0, 0, 0, 0};
	char		msg[HNSW_ERRMSG_LEN] = "";

	{
		TestStore  *s = ts_new(&p, 1);
		uint64_t	rng = p.seed;

		ts_build(s, w, &rng, data, 0, n);
		total = s->writes;
		ts_free(s);
	}
	for (k = 0; k < total; k++)
	{
		TestStore  *s = ts_new(&p, k % 2);
		uint64_t	rng = p.seed;
		int			i;

		s->fail_write = k;
		for (i = 0; i < n; i++)
		{
			HnswStore	st = ts_view(s);
			uint32_t	before_entry = s->entry;
			int			before_max = s->max_level;
			uint64_t	saved = rng;
			int			level = hnsw_random_level(p.m, &rng);
			HnswError	err;
			HnswCheckReport rep;
			uint32_t	id;
			int			rc;

			rc = hnsw_store_insert(w, &st, data + (size_t) i * dim, level,
								   (uint64_t) i, &id, &err);
			if (rc == HNSW_OK)
				continue;
			/* the failure: report, state, check, heal; then retry */
			kinds[s->failed_kind]++;
			bad_rc += rc != HNSW_ESOURCE || !ts_in_step(s, &st) ||
				(s->failed_kind == TS_ADD) != (id == HNSW_NO_NODE);
			if (msg[0] == '\0' && s->failed_kind == TS_LIST)
				snprintf(msg, sizeof(msg), "%s", err.message);
			rc = ts_check(s, 0, &rep, &err);
			if (rc != HNSW_OK)
			{
				uint32_t	fixed;

				/*
				 * only a node above the old entry point (or the first node),
				 * interrupted after add_node and before set_entry_point
				 */
				window++;
				bad_check += rc != HNSW_ECORRUPT || rep.bad_level != 1 ||
					(s->failed_kind != TS_LIST && s->failed_kind != TS_ENTRY) ||
					(before_entry != HNSW_NO_NODE && level <= before_max);
				/* an interrupted reconnect first, then a complete one */
				st = ts_view(s);
				s->fail_write = s->writes;
				rc = hnsw_store_reconnect(w, &st, &fixed, &err);
				bad_check += rc != HNSW_ESOURCE || !ts_in_step(s, &st);
				st = ts_view(s);
				rc = hnsw_store_reconnect(w, &st, &fixed, &err);
				healed += rc == HNSW_OK;
				bad_check += rc != HNSW_OK || !ts_in_step(s, &st) ||
					ts_check(s, HNSW_CHECK_ALL, NULL, &err) != HNSW_OK;
			}
			rng = saved;
			i--;				/* retry: the interrupted node stays as an orphan */
		}
		{
			HnswStore	st = ts_view(s);
			HnswError	err;

			if (hnsw_store_reconnect(w, &st, NULL, &err) != HNSW_OK ||
				ts_check(s, HNSW_CHECK_ALL, NULL, &err) != HNSW_OK)
				bad_final++;
		}
		wrong += s->failed_kind == 0;	/* k < total: something must fail */
		ts_free(s);
	}
	printf("# every write: %ld runs; failures: add_node %d, set_neighbours %d, "
		   "set_entry_point %d; %d left a node above the entry point\n",
		   total, kinds[TS_ADD], kinds[TS_LIST], kinds[TS_ENTRY], window);
	report(wrong == 0 && bad_rc == 0 && kinds[TS_ADD] > 0 && kinds[TS_LIST] > 0 &&
		   kinds[TS_ENTRY] > 0,
		   "store faults: a write failing at each of %ld points gives HNSW_ESOURCE, the store "
		   "struct in step, *id_out set iff the node was added (%s)", total, msg);
	report(bad_check == 0 && window > 0 && healed == window,
		   "store faults: the check passes after every failure but the %d between add_node "
		   "and set_entry_point of a node above the entry point; reconnect heals those", window);
	report(bad_final == 0,
		   "store faults: every run, finished and reconnected, passes the full check");
	hnsw_writer_destroy(w);
	free(data);
}

/*
 * A longer build with a failure every few inserts, at every offset within
 * an insert, of writes and of reads: recall at the end as a clean build's.
 */
static void
test_store_faults_recall(void)
{
	const int	n = 2500;
	const int	dim = 24;
	const int	n_q = 50;
	float	   *data = random_vectors(n, dim);
	float	   *queries = random_vectors(n_q, dim);
	HnswParams	p = params(dim, HNSW_L2, 8, 40);
	HnswWriter *w = writer(&p);
	TestStore  *s = ts_new(&p, 1);
	TestStore  *clean = ts_new(&p, 1);
	uint64_t	rng = p.seed;
	HnswCheckReport rep;
	HnswError	err;
	HnswStore	st;
	int			failures = 0;
	int			orphans = 0;
	int			unchanged = 0;
	int			bad = 0;
	int			window = 0;
	double		r_clean;
	double		r;
	int			retried = -1;
	int			i;

	ts_build(clean, w, &rng, data, 0, n);
	rng = p.seed;
	for (i = 0; i < n; i++)
	{
		uint64_t	saved = rng;
		int			level = hnsw_random_level(p.m, &rng);
		uint32_t	n_before = s->n;
		uint32_t	id;
		int			rc;

		if (i % 4 == 3 && i != retried)
		{
			if ((i / 4) % 3 == 0)
				s->fail_read = s->reads + (i * 7) % 200;
			else
				s->fail_write = s->writes + (i / 4) % 40;
		}
		st = ts_view(s);
		s->failed_kind = 0;
		rc = hnsw_store_insert(w, &st, data + (size_t) i * dim, level,
							   (uint64_t) i * 10 + 7, &id, &err);
		s->fail_read = -1;
		s->fail_write = -1;
		if (rc == HNSW_OK)
			continue;
		failures++;
		bad += rc != HNSW_ESOURCE || !ts_in_step(s, &st);
		if (s->n == n_before)
			unchanged++;
		else
			orphans++;
		rc = ts_check(s, 0, &rep, &err);
		if (rc != HNSW_OK)
		{
			window++;
			bad += rep.bad_level != 1 ||
				(s->failed_kind != TS_LIST && s->failed_kind != TS_ENTRY);
			st = ts_view(s);
			bad += hnsw_store_reconnect(w, &st, NULL, &err) != HNSW_OK ||
				ts_check(s, 0, NULL, &err) != HNSW_OK;
		}
		rng = saved;
		retried = i--;			/* once, without a fault */
	}
	st = ts_view(s);
	bad += hnsw_store_reconnect(w, &st, NULL, &err) != HNSW_OK;
	bad += ts_check(s, HNSW_CHECK_ALL, &rep, &err) != HNSW_OK;
	st = ts_view(clean);
	hnsw_store_reconnect(w, &st, NULL, NULL);
	r_clean = ts_recall(clean, queries, n_q, 10, 64);
	r = ts_recall(s, queries, n_q, 10, 64);
	report(bad == 0 && failures > n / 8 && unchanged > 0 && orphans > 0,
		   "store faults: %d failed inserts (%d changed nothing, %d left a node, %d above the "
		   "entry point), each HNSW_ESOURCE with a consistent graph", failures, unchanged,
		   orphans, window);
	report(r >= r_clean - 0.01 && r >= 0.95,
		   "store faults: after %d inserts and %d failures, recall@10 %.3f (clean build %.3f)",
		   n, failures, r, r_clean);
	hnsw_writer_destroy(w);
	ts_free(s);
	ts_free(clean);
	free(data);
	free(queries);
}

/* Interrupted repairs and reconnects: valid graph, and a rerun finishes. */
static void
test_store_faults_repair(void)
{
	const int	n = 1200;
	const int	dim = 12;
	float	   *data = random_vectors(n, dim);
	HnswParams	p = params(dim, HNSW_L2, 5, 20);
	HnswWriter *w = writer(&p);
	TestStore  *base = ts_new(&p, 0);
	TestStore  *ref;
	uint64_t	rng = p.seed;
	HnswStore	st;
	HnswError	err;
	long		total;
	long		k;
	int			runs = 0;
	int			bad = 0;
	int			i;

	for (i = n / 2; i < n; i++)	/* copies: reconnect has work to do */
		if (i % 3 == 0)
			memcpy(data + (size_t) i * dim, data + (size_t) (i % 50) * dim,
				   sizeof(float) * dim);
	ts_build(base, w, &rng, data, 0, n);
	for (i = 0; i < n; i++)
	{
		if (i % 4 == 0 || (uint32_t) i == base->entry)
		{
			st = ts_view(base);
			hnsw_store_mark_deleted(&st, (uint32_t) i, NULL);
		}
	}
	ref = ts_clone(base);
	st = ts_view(ref);
	ref->writes = 0;
	bad += hnsw_store_repair_deleted(w, &st, &err) != HNSW_OK;
	total = ref->writes;
	for (k = 0; k < total; k += 1 + k / 4)
	{
		TestStore  *s = ts_clone(base);
		int			rc;

		s->writes = 0;
		s->fail_write = k;
		st = ts_view(s);
		rc = hnsw_store_repair_deleted(w, &st, &err);
		bad += rc != HNSW_ESOURCE || !ts_in_step(s, &st) ||
			ts_check(s, 0, NULL, &err) != HNSW_OK;
		st = ts_view(s);
		rc = hnsw_store_repair_deleted(w, &st, &err);
		bad += rc != HNSW_OK || ts_check(s, HNSW_CHECK_ALL, NULL, &err) != HNSW_OK;
		runs++;
		ts_free(s);
	}
	report(bad == 0 && total > 100,
		   "store faults: a repair interrupted at %d of its %ld writes leaves a valid graph, "
		   "and a second repair passes the full check", runs, total);
	{
		long		total_reads;

		ref->reads = 0;
		ts_free(ref);
		ref = ts_clone(base);
		ref->reads = 0;
		st = ts_view(ref);
		hnsw_store_repair_deleted(w, &st, NULL);
		total_reads = ref->reads;
		runs = 0;
		for (k = 0; k < total_reads; k += 1 + k / 3)
		{
			TestStore  *s = ts_clone(base);
			int			rc;

			s->reads = 0;
			s->fail_read = k;
			st = ts_view(s);
			rc = hnsw_store_repair_deleted(w, &st, &err);
			s->fail_read = -1;
			bad += rc != HNSW_ESOURCE || ts_check(s, 0, NULL, &err) != HNSW_OK;
			st = ts_view(s);
			rc = hnsw_store_repair_deleted(w, &st, &err);
			bad += rc != HNSW_OK || ts_check(s, HNSW_CHECK_ALL, NULL, &err) != HNSW_OK;
			runs++;
			ts_free(s);
		}
		report(bad == 0 && runs > 20,
			   "store faults: so does a repair whose read fails at %d of its %ld reads",
			   runs, total_reads);
	}

	/* reconnect: a built store with many unreachable copies */
	ts_free(ref);
	ref = ts_new(&p, 1);
	rng = p.seed;
	for (i = 0; i < 400; i++)
		if (i % 2)
			memcpy(data + (size_t) i * dim, data, sizeof(float) * dim);
	ts_build(ref, w, &rng, data, 0, 400);
	{
		TestStore  *t = ts_clone(ref);
		HnswCheckReport rep;

		ts_check(t, 0, &rep, &err);
		t->writes = 0;
		st = ts_view(t);
		bad += hnsw_store_reconnect(w, &st, NULL, &err) != HNSW_OK;
		total = t->writes;
		runs = 0;
		for (k = 0; k < total; k += 1 + k / 5)
		{
			TestStore  *s = ts_clone(ref);
			int			rc;

			s->writes = 0;
			s->fail_write = k;
			st = ts_view(s);
			rc = hnsw_store_reconnect(w, &st, NULL, &err);
			bad += rc != HNSW_ESOURCE || ts_check(s, 0, NULL, &err) != HNSW_OK;
			st = ts_view(s);
			rc = hnsw_store_reconnect(w, &st, NULL, &err);
			bad += rc != HNSW_OK || ts_check(s, HNSW_CHECK_ALL, NULL, &err) != HNSW_OK;
			runs++;
			ts_free(s);
		}
		report(bad == 0 && rep.n_unreachable > 20 && total > 40,
			   "store faults: a reconnect (%u unreachable) interrupted at %d of its %ld "
			   "writes leaves a valid graph, and a second one passes the full check",
			   rep.n_unreachable, runs, total);
		ts_free(t);
	}
	ts_free(ref);
	ts_free(base);
	hnsw_writer_destroy(w);
	free(data);
}

/*
 * A store that gives new nodes the ids of repaired deleted nodes (the
 * access method's free list), and a repair that must make a node an
 * interrupted insert left unlinked the entry point.
 */
static void
test_store_recycle(void)
{
	const int	n = 1200;
	const int	dim = 16;
	const int	n_q = 40;
	float	   *data = random_vectors(n + 400, dim);
	float	   *queries = random_vectors(n_q, dim);
	HnswParams	p = params(dim, HNSW_COSINE, 8, 32);
	HnswWriter *w = writer(&p);
	TestStore  *s = ts_new(&p, 1);
	uint64_t	rng = p.seed;
	HnswStore	st;
	HnswError	err;
	int			n_free;
	int			bad = 0;
	uint32_t	id;
	uint32_t	orphan;
	double		r;
	int			level;
	int			i;
	int			rc;

	ts_build(s, w, &rng, data, 0, n);
	for (i = 0; i < n; i += 3)
	{
		st = ts_view(s);
		hnsw_store_mark_deleted(&st, (uint32_t) i, NULL);
	}
	st = ts_view(s);
	rc = hnsw_store_repair_deleted(w, &st, &err);
	/* every deleted node but the entry point is now free: no edges in or out */
	s->free_ids = xmalloc(sizeof(uint32_t) * s->n);
	for (id = s->n; id-- > 0;)
	{
		int			l;
		int			empty = s->deleted[id] && id != s->entry;

		for (l = 0; empty && l <= s->level[id]; l++)
			empty = s->lists[id][l].n == 0;
		bad += s->deleted[id] && !empty;
		if (empty)
			s->free_ids[s->n_free++] = id;
	}
	n_free = s->n_free;
	for (i = n; i < n + 400; i++)
	{
		uint32_t	want = s->n_free > 0 ? s->free_ids[s->n_free - 1] : s->n;

		level = hnsw_random_level(p.m, &rng);
		st = ts_view(s);
		rc |= hnsw_store_insert(w, &st, data + (size_t) i * dim, level,
								(uint64_t) i * 10 + 7, &id, &err);
		bad += id != want || !ts_in_step(s, &st);
	}
	rc |= ts_check(s, HNSW_CHECK_ALL, NULL, &err);
	r = ts_recall(s, queries, n_q, 10, 64);
	report(rc == HNSW_OK && bad == 0 && n_free >= 399 &&
		   s->n == (uint32_t) (n + 400 - n_free) && r >= 0.95,
		   "store recycle: 400 inserts, %d into the slots of repaired deleted nodes, keep the "
		   "graph whole (recall@10 %.3f)", n_free, r);

	/* an insert above the entry point, interrupted right after add_node */
	level = s->max_level + 2;
	id = s->n;
	st = ts_view(s);
	s->fail_write = s->writes + 1;
	rc = hnsw_store_insert(w, &st, queries, level, 4242, &orphan, &err);
	s->fail_write = -1;
	bad += rc != HNSW_ESOURCE || orphan != id || s->lists[orphan][0].n != 0;
	/* then the entry point is deleted: the repair must make the orphan entry */
	st = ts_view(s);
	hnsw_store_mark_deleted(&st, s->entry, NULL);
	st = ts_view(s);
	rc = hnsw_store_repair_deleted(w, &st, &err);
	/* only the linking gives it upper-layer edges; reconnect works on layer 0 */
	report(rc == HNSW_OK && bad == 0 && s->entry == orphan && s->max_level == level &&
		   level >= 3 && s->lists[orphan][0].n > 0 && s->lists[orphan][1].n > 0 &&
		   ts_check(s, HNSW_CHECK_ALL, NULL, &err) == HNSW_OK,
		   "store recycle: a repair that moves the entry point to an unlinked node links "
		   "it first (%u edges at layer 0, %u at layer 1)", s->lists[orphan][0].n,
		   s->lists[orphan][1].n);
	r = ts_recall(s, queries + dim, n_q - 1, 10, 64);
	report(r >= 0.95, "store recycle: and searches from it reach recall@10 %.3f", r);
	hnsw_writer_destroy(w);
	ts_free(s);
	free(data);
	free(queries);
}

/* Bad arguments and bad data from a store: rejected, nothing breaks. */
static void
test_store_bad(void)
{
	const int	dim = 6;
	float	   *data = random_vectors(300, dim);
	HnswParams	p = params(dim, HNSW_L2, 4, 16);
	HnswParams	q = params(dim + 1, HNSW_L2, 4, 16);
	HnswWriter *w = writer(&p);
	TestStore  *s = ts_new(&p, 1);
	HnswStoreOps ops = ts_ops_meta;
	uint64_t	rng = p.seed;
	uint64_t	state = 1;
	TestAlloc	t;
	HnswAllocator a;
	HnswWriter *w2 = NULL;
	HnswStore	st;
	HnswError	err;
	float		nan_vec[6] = {1, 2, NAN, 4, 5, 6};
	uint32_t	id;
	int			rc;
	long		at;
	int			wrong = 0;

	ts_build(s, w, &rng, data, 0, 300);
	st = ts_view(s);
	rc = hnsw_store_insert(w, &st, data, -1, 0, &id, &err);
	report(rc == HNSW_EINVAL && id == HNSW_NO_NODE && s->n == 300,
		   "store bad: level -1 rejected (%s)", err.message);
	rc = hnsw_store_insert(w, &st, data, HNSW_MAX_LEVEL + 1, 0, &id, &err);
	report(rc == HNSW_EINVAL, "store bad: level above HNSW_MAX_LEVEL rejected");
	rc = hnsw_store_insert(w, &st, nan_vec, 0, 0, &id, &err);
	report(rc == HNSW_EINVAL && s->n == 300, "store bad: NaN vector rejected");
	st.dim = dim + 1;
	rc = hnsw_store_insert(w, &st, data, 0, 0, &id, &err);
	report(rc == HNSW_EINVAL && strstr(err.message, "does not match") != NULL,
		   "store bad: store of another shape rejected (%s)", err.message);
	st = ts_view(s);
	ops.add_node = NULL;
	st.ops = &ops;
	rc = hnsw_store_insert(w, &st, data, 0, 0, &id, &err);
	report(rc == HNSW_EINVAL, "store bad: missing callback rejected");
	st = ts_view(s);
	st.entry_point = 301;
	rc = hnsw_store_insert(w, &st, data, 0, 0, &id, &err);
	report(rc == HNSW_ESOURCE, "store bad: entry point out of range rejected");
	st = ts_view(s);
	rc = hnsw_store_mark_deleted(&st, 300, &err);
	report(rc == HNSW_EINVAL, "store bad: deleting an id out of range rejected");

	s->corrupt = 1;
	st = ts_view(s);
	rc = hnsw_store_insert(w, &st, data + dim, 0, 1, &id, &err);
	report(rc == HNSW_ESOURCE && id == HNSW_NO_NODE && s->n == 300,
		   "store bad: an out-of-range neighbour gives HNSW_ESOURCE, nothing added (%s)",
		   err.message);
	st = ts_view(s);
	rc = hnsw_store_reconnect(w, &st, NULL, &err);
	report(rc == HNSW_ESOURCE, "store bad: reconnect too");
	s->corrupt = 2;
	st = ts_view(s);
	for (at = 0; at < 40 && rc != HNSW_OK; at++)
	{
		st = ts_view(s);
		rc = hnsw_store_insert(w, &st, data + (size_t) at * dim, 0, 1, &id, &err);
		wrong += rc != HNSW_ESOURCE;
	}
	report(wrong == 0 && strstr(err.message, "n_sel") != NULL,
		   "store bad: a list with a bad n_sel gives HNSW_ESOURCE (%s)", err.message);
	s->corrupt = 3;
	st = ts_view(s);
	rc = hnsw_store_insert(w, &st, data + dim, 0, 1, &id, &err);
	report(rc == HNSW_ESOURCE && strstr(err.message, "id") != NULL,
		   "store bad: add_node giving an id beyond n_nodes gives HNSW_ESOURCE (%s)",
		   err.message);
	s->corrupt = 0;

	report(hnsw_random_level(1, &state) == -1 && hnsw_random_level(HNSW_MAX_M + 1, &state) == -1 &&
		   hnsw_random_level(16, NULL) == -1 && state == 1,
		   "store bad: hnsw_random_level rejects m out of range");
	report(hnsw_writer_create(&q, NULL, &w2, &err) == HNSW_OK && w2 != NULL,
		   "store bad: writer for other parameters");
	st = ts_view(s);
	rc = hnsw_store_repair_deleted(w2, &st, &err);
	report(rc == HNSW_EINVAL, "store bad: repair with a writer of another shape rejected");
	hnsw_writer_destroy(w2);

	/* writer creation fails cleanly at each allocation, counts what it holds */
	for (at = 0; at < 40; at++)
	{
		a = test_allocator(&t);
		t.fail_at = at;
		w2 = NULL;
		rc = hnsw_writer_create(&p, &a, &w2, &err);
		if (rc == HNSW_OK)
			break;
		wrong += rc != HNSW_ENOMEM || w2 != NULL || t.live != 0;
	}
	report(rc == HNSW_OK && at > 10 && wrong == 0 && hnsw_writer_memory_usage(w2) == t.live,
		   "store bad: writer creation fails cleanly at each of its %ld allocations, "
		   "then reports its %zu bytes", at, t.live);
	t.fail_at = -1;
	st = ts_view(s);
	rc = hnsw_store_insert(w2, &st, data, 0, 5, &id, &err);
	hnsw_writer_destroy(w2);
	report(rc == HNSW_OK && t.live == 0 && !t.bad_free,
		   "store bad: a writer frees everything, with the right sizes");

	hnsw_writer_destroy(w);
	ts_free(s);
	free(data);
}

int
main(void)
{
	printf("# kernels: %s\n", brainy_kernels()->name);
	test_params();
	test_tiny();
	test_duplicates();
	test_determinism();
	test_levels();
	test_source();
	test_bad_input();
	test_delete_entry();
	test_deletes();
	test_memory();
	test_enomem();
	test_clustered_recall();
	test_recall();
	test_store_identity();
	test_store_costs();
	test_store_faults_every_write();
	test_store_faults_recall();
	test_store_faults_repair();
	test_store_recycle();
	test_store_bad();
	printf("%d passed, %d failed\n", n_passed, n_failed);
	return n_failed == 0 ? 0 : 1;
}
