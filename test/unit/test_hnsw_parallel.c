/*
 * test_hnsw_parallel.c - unit test of the HNSW engine's parallel build.
 *
 * Covers staging and linking with threads (src/hnsw/hnsw_parallel.c):
 * one thread gives exactly hnsw_insert's graph; several threads give a
 * graph that passes the structural check and reaches brute-force recall;
 * cancellation (by hnsw_link_cancel, by the cancel flag, by a signal
 * handler) leaves a valid graph of the first nodes, and linking can resume;
 * signals are only ever handled on the caller's thread; the allocator is
 * only ever called on the caller's thread; allocation failures at every
 * point of staging and of starting a job change nothing; bad input.
 * Prints "ok - ..." / "not ok - ..." per check, then "N passed, N failed".
 * Runs under ASan+UBSan in `make unittest`, and builds for ThreadSanitizer
 * as test/unit/bin/test_hnsw_parallel_tsan.
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "distance.h"
#include "hnsw.h"
#include "test_rng.h"
#include "test_hnsw_common.h"

static uint64_t *
labels_for(int n)
{
	uint64_t   *l = xmalloc(sizeof(uint64_t) * (size_t) n);
	int			i;

	for (i = 0; i < n; i++)
		l[i] = (uint64_t) i * 10 + 7;
	return l;
}

static HnswIndex *
create(const HnswParams *p, const HnswAllocator *alloc)
{
	HnswIndex  *idx;
	HnswError	err;

	if (hnsw_create(p, alloc, &idx, &err) != HNSW_OK)
	{
		fprintf(stderr, "hnsw_create: %s\n", err.message);
		exit(2);
	}
	return idx;
}

/* The serial reference: hnsw_insert, one vector after the other. */
static HnswIndex *
build_serial(const HnswParams *p, const float *data, int n)
{
	HnswIndex  *idx = create(p, NULL);
	HnswError	err;
	int			i;

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

/* Same levels and labels, node by node, as the reference index. */
static int
same_nodes(const HnswIndex *a, const HnswIndex *b)
{
	uint32_t	id;

	if (hnsw_size(a) != hnsw_size(b))
		return 0;
	for (id = 0; id < hnsw_size(a); id++)
	{
		if (hnsw_node_level(a, id) != hnsw_node_level(b, id) ||
			hnsw_node_label(a, id) != hnsw_node_label(b, id))
			return 0;
	}
	return 1;
}

/* Exact distance in double on stored (cosine: normalised) vectors. */
static double
exact_distance(HnswMetric metric, const float *a, const float *b, int dim)
{
	double		s = 0.0;
	int			i;

	for (i = 0; i < dim; i++)
	{
		double		x = a[i];
		double		y = b[i];

		if (metric == HNSW_L2)
			s += (x - y) * (x - y);
		else if (metric == HNSW_L1)
			s += fabs(x - y);
		else
			s += x * y;
	}
	if (metric == HNSW_IP)
		return -s;
	if (metric == HNSW_COSINE)
		return 1.0 - s;
	return s;
}

/*
 * recall@k of hnsw_knn against brute force over the stored vectors: a
 * result is a hit when its exact distance is within the true k-th.  Also
 * counts results whose label is not the one its node was given.
 */
static double
recall(HnswIndex *idx, const float *queries, int n_q, int k, int ef,
	   int *n_bad)
{
	const HnswParams *p = hnsw_get_params(idx);
	HnswResult *res = xmalloc(sizeof(HnswResult) * (size_t) k);
	double	   *best = xmalloc(sizeof(double) * (size_t) k);
	float	   *pq = xmalloc(sizeof(float) * (size_t) p->dim);
	long		hits = 0;
	long		wanted = 0;
	int			q;

	*n_bad = 0;
	for (q = 0; q < n_q; q++)
	{
		const float *qv = queries + (size_t) q * p->dim;
		double		norm = 0.0;
		uint32_t	id;
		int			have = 0;
		int			n;
		int			j;
		HnswError	err;

		for (j = 0; j < p->dim; j++)
			norm += (double) qv[j] * qv[j];
		for (j = 0; j < p->dim; j++)
			pq[j] = p->metric == HNSW_COSINE ? (float) (qv[j] / sqrt(norm)) : qv[j];
		for (id = 0; id < hnsw_size(idx); id++)
		{
			double		d = exact_distance(p->metric, pq, hnsw_node_vector(idx, id), p->dim);

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
		if (hnsw_knn(idx, qv, k, ef, res, &n, &err) != HNSW_OK)
		{
			(*n_bad)++;
			continue;
		}
		wanted += have;
		for (j = 0; j < n; j++)
		{
			double		d = exact_distance(p->metric, pq, hnsw_node_vector(idx, res[j].id), p->dim);

			if (d <= best[have - 1] + 1e-6 * (fabs(best[have - 1]) + 1.0))
				hits++;
			if (res[j].label != (uint64_t) res[j].id * 10 + 7)
				(*n_bad)++;
		}
	}
	free(res);
	free(best);
	free(pq);
	return wanted ? (double) hits / (double) wanted : 1.0;
}

/* ---- an allocator that counts, can fail, and notes off-thread calls */

typedef struct TestAlloc
{
	size_t		live;
	long		calls;
	long		fail_at;		/* fail the call with this number (-1: never) */
	int			bad_free;
	int			off_thread;		/* calls not on the thread that made it */
	pthread_t	owner;
} TestAlloc;

typedef struct TestBlock
{
	size_t		size;
	size_t		pad;
} TestBlock;

static void *
test_alloc(void *ctx, size_t size)
{
	TestAlloc  *t = ctx;
	TestBlock  *b;
	long		call;

	if (!pthread_equal(pthread_self(), t->owner))
	{
		t->off_thread = 1;		/* a race by itself: TSan reports it too */
		return NULL;
	}
	call = t->calls++;
	if (call == t->fail_at)
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

	if (!pthread_equal(pthread_self(), t->owner))
		t->off_thread = 1;
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
	t->owner = pthread_self();
	a.alloc = test_alloc;
	a.free = test_free;
	a.ctx = t;
	return a;
}

/* ------------------------------------------------------------------ tests */

static void
test_serial_identity(void)
{
	const int	n = 3000;
	const int	dim = 16;
	float	   *data = random_vectors(n, dim);
	uint64_t   *labels = labels_for(n);
	HnswParams	p = params(dim, HNSW_L2, 8, 32);
	HnswIndex  *ref = build_serial(&p, data, n);
	HnswIndex  *a = create(&p, NULL);
	HnswIndex  *b = create(&p, NULL);
	HnswIndex  *c = create(&p, NULL);
	HnswLinkJob *job;
	HnswError	err;
	uint32_t	done = 0;
	int		   *levels = xmalloc(sizeof(int) * (size_t) n);
	int			rc;
	int			i;

	rc = hnsw_insert_batch_parallel(a, data, labels, NULL, (uint32_t) n, 1, NULL, &done, &err);
	report(rc == HNSW_OK && done == (uint32_t) n && graph_hash(a) == graph_hash(ref),
		   "serial: a batch with 1 thread gives exactly hnsw_insert's graph");

	/* half by hnsw_insert, half by a one-thread job, levels given */
	for (i = 0; i < n; i++)
		levels[i] = hnsw_node_level(ref, (uint32_t) i);
	for (i = 0; i < n / 2; i++)
		hnsw_insert(b, data + (size_t) i * dim, labels[i], NULL, NULL);
	for (i = n / 2; i < n; i++)
		hnsw_stage(b, data + (size_t) i * dim, labels[i], levels[i], NULL, NULL);
	rc = hnsw_link_start(b, 1, NULL, &job, &err);
	if (rc == HNSW_OK)
		rc = hnsw_link_finish(job, &done, &err);
	report(rc == HNSW_OK && done == (uint32_t) (n - n / 2) && graph_hash(b) == graph_hash(ref),
		   "serial: hnsw_insert then a one-thread job on staged nodes with given levels: the same graph");

	/* staged levels drawn from the generator advance it like hnsw_insert */
	for (i = 0; i < n; i++)
		hnsw_stage(c, data + (size_t) i * dim, labels[i], -1, NULL, NULL);
	rc = hnsw_link_start(c, 1, NULL, &job, &err);
	if (rc == HNSW_OK)
		rc = hnsw_link_finish(job, &done, &err);
	report(rc == HNSW_OK && graph_hash(c) == graph_hash(ref) && hnsw_staged_count(c) == 0,
		   "serial: staged with drawn levels, linked by one thread: the same graph");
	report(hnsw_insert(c, data, 99, NULL, &err) == HNSW_OK && hnsw_size(c) == (uint32_t) n + 1,
		   "serial: hnsw_insert works again once nothing is staged");

	hnsw_destroy(ref);
	hnsw_destroy(a);
	hnsw_destroy(b);
	hnsw_destroy(c);
	free(levels);
	free(labels);
	free(data);
}

static void
test_parallel_recall(void)
{
	const int	n = 20000;
	const int	dim = 32;
	const int	n_q = 200;
	float	   *data = random_vectors(n, dim);
	float	   *queries = random_vectors(n_q, dim);
	uint64_t   *labels = labels_for(n);
	HnswParams	p = params(dim, HNSW_L2, 16, 64);
	HnswIndex  *ref = build_serial(&p, data, n);
	HnswIndex  *par;
	TestAlloc	ta;
	HnswAllocator a = test_allocator(&ta);
	HnswCheckReport rep;
	HnswError	err;
	uint32_t	done = 0;
	double		r_ser,
				r_par;
	int			bad_ser,
				bad_par;
	int			ok;
	int			rc;

	par = create(&p, &a);
	rc = hnsw_insert_batch_parallel(par, data, labels, NULL, (uint32_t) n, 4, NULL, &done, &err);
	report(rc == HNSW_OK && done == (uint32_t) n && hnsw_size(par) == (uint32_t) n &&
		   hnsw_staged_count(par) == 0,
		   "parallel: 4 threads insert %d vectors (%s)", n, rc == HNSW_OK ? "ok" : err.message);
	report(same_nodes(par, ref) && hnsw_max_level(par) == hnsw_max_level(ref),
		   "parallel: levels and labels are the serial build's");
	report(!ta.off_thread, "parallel: the allocator is only called on the caller's thread");
	ok = check_ok(par, 0, &rep);
	report(ok && rep.n_invalid == 0,
		   "parallel: the graph passes the check (%llu edges, %u unreachable before reconnect)",
		   (unsigned long long) rep.n_edges, rep.n_unreachable);
	report(hnsw_reconnect(par, NULL, &err) == HNSW_OK && check_ok(par, HNSW_CHECK_ALL, &rep),
		   "parallel: after reconnect every node is reachable");
	hnsw_reconnect(ref, NULL, NULL);
	r_ser = recall(ref, queries, n_q, 10, 200, &bad_ser);
	r_par = recall(par, queries, n_q, 10, 200, &bad_par);
	report(r_par >= 0.98 && r_par >= r_ser - 0.01 && bad_par == 0,
		   "parallel: recall@10 at ef 200 is %.4f (serial %.4f), labels right", r_par, r_ser);
	hnsw_destroy(par);
	report(ta.live == 0 && !ta.bad_free, "parallel: everything freed, with the right sizes");

	hnsw_destroy(ref);
	free(labels);
	free(queries);
	free(data);
}

/* Other metrics, duplicates (ties), and more threads than nodes. */
static void
test_parallel_shapes(void)
{
	static const HnswMetric metrics[] = {HNSW_COSINE, HNSW_IP, HNSW_L1};
	const int	n = 4000;
	const int	dim = 24;
	float	   *data = random_vectors(n, dim);
	float	   *queries = random_vectors(50, dim);
	uint64_t   *labels = labels_for(n);
	HnswError	err;
	uint32_t	done;
	size_t		mi;
	int			i;

	for (mi = 0; mi < sizeof(metrics) / sizeof(metrics[0]); mi++)
	{
		HnswParams	p = params(dim, metrics[mi], 8, 48);
		HnswIndex  *idx = create(&p, NULL);
		int			bad;
		double		r;
		int			rc = hnsw_insert_batch_parallel(idx, data, labels, NULL, (uint32_t) n,
													3, NULL, &done, &err);

		hnsw_reconnect(idx, NULL, NULL);
		r = recall(idx, queries, 50, 10, 120, &bad);
		report(rc == HNSW_OK && check_ok(idx, HNSW_CHECK_ALL, NULL) && r >= 0.95 && bad == 0,
			   "parallel %s: 3 threads, checked, recall@10 %.4f",
			   hnsw_metric_name(metrics[mi]), r);
		hnsw_destroy(idx);
	}

	/* 40 distinct vectors, 100 copies each: many exactly equal distances */
	{
		HnswParams	p = params(dim, HNSW_L2, 4, 8);
		HnswIndex  *idx = create(&p, NULL);
		int			rc;

		for (i = 0; i < n; i++)
			memcpy(data + (size_t) i * dim, data + (size_t) (i % 40) * dim,
				   sizeof(float) * dim);
		rc = hnsw_insert_batch_parallel(idx, data, labels, NULL, (uint32_t) n, 4,
										NULL, &done, &err);
		report(rc == HNSW_OK && done == (uint32_t) n && check_ok(idx, 0, NULL) &&
			   hnsw_reconnect(idx, NULL, NULL) == HNSW_OK &&
			   check_ok(idx, HNSW_CHECK_ALL, NULL),
			   "parallel duplicates: 4 threads over 100 copies of 40 vectors, checked and reachable");
		hnsw_destroy(idx);
	}

	/* more threads than nodes, and an empty batch */
	{
		HnswParams	p = params(dim, HNSW_L2, 8, 32);
		HnswIndex  *idx = create(&p, NULL);
		int			rc = hnsw_insert_batch_parallel(idx, data, labels, NULL, 3, 16,
													NULL, &done, &err);

		report(rc == HNSW_OK && done == 3 && hnsw_size(idx) == 3 &&
			   check_ok(idx, HNSW_CHECK_ALL, NULL),
			   "parallel: 16 threads for 3 nodes");
		rc = hnsw_insert_batch_parallel(idx, data, labels, NULL, 0, 4, NULL, &done, &err);
		report(rc == HNSW_OK && done == 0 && hnsw_size(idx) == 3,
			   "parallel: an empty batch inserts nothing");
		hnsw_destroy(idx);
	}
	free(labels);
	free(queries);
	free(data);
}

static volatile sig_atomic_t sig_cancel;
static volatile sig_atomic_t sig_seen;
static volatile sig_atomic_t sig_off_main;
static pthread_t main_thread;

static void
on_signal(int signo)
{
	(void) signo;
	sig_seen++;
	if (!pthread_equal(pthread_self(), main_thread))
		sig_off_main = 1;
	/* atomic, as the threads read it (plain would do, but TSan cannot tell) */
	__atomic_store_n(&sig_cancel, 1, __ATOMIC_RELAXED);
}

static void
sleep_ms(int ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long) (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

static void
test_cancel(void)
{
	const int	n = 12000;
	const int	dim = 32;
	float	   *data = random_vectors(n, dim);
	uint64_t   *labels = labels_for(n);
	HnswParams	p = params(dim, HNSW_L2, 16, 64);
	HnswIndex  *idx = create(&p, NULL);
	HnswLinkJob *job;
	HnswError	err;
	uint32_t	linked = 0;
	uint32_t	more = 0;
	uint32_t	progress;
	int			waited = 0;
	int			rc;
	int			i;

	for (i = 0; i < n; i++)
		hnsw_stage(idx, data + (size_t) i * dim, labels[i], -1, NULL, NULL);
	rc = hnsw_link_start(idx, 3, NULL, &job, &err);
	report(rc == HNSW_OK, "cancel: a 3-thread job starts");
	while ((progress = hnsw_link_progress(job)) < 1000 && waited++ < 20000)
		sleep_ms(1);
	report(hnsw_link_wait(job, 0) == 0 && progress >= 1000,
		   "cancel: progress is visible while the threads run (%u)", progress);
	hnsw_link_cancel(job);
	report(hnsw_link_wait(job, 10000) == 1, "cancel: the threads end after a cancel");
	rc = hnsw_link_finish(job, &linked, &err);
	report(rc == HNSW_ECANCELED && linked >= 1000 && linked < (uint32_t) n &&
		   hnsw_size(idx) == linked && hnsw_staged_count(idx) == (uint32_t) n - linked &&
		   strstr(err.message, "cancel") != NULL,
		   "cancel: the first %u nodes are linked, the rest still staged (%s)", linked,
		   err.message);
	report(check_ok(idx, 0, NULL), "cancel: the graph so far passes the check");
	rc = hnsw_link_start(idx, 2, NULL, &job, &err);
	if (rc == HNSW_OK)
		rc = hnsw_link_finish(job, &more, &err);
	report(rc == HNSW_OK && linked + more == (uint32_t) n && hnsw_size(idx) == (uint32_t) n &&
		   hnsw_reconnect(idx, NULL, NULL) == HNSW_OK && check_ok(idx, HNSW_CHECK_ALL, NULL),
		   "cancel: another job links the rest, and the whole graph checks");
	hnsw_destroy(idx);

	/* the flag set before: nothing inserted, and the index as it was */
	idx = create(&p, NULL);
	hnsw_insert(idx, data, labels[0], NULL, NULL);
	sig_cancel = 1;
	rc = hnsw_insert_batch_parallel(idx, data, labels, NULL, 500, 2, &sig_cancel, &linked, &err);
	report(rc == HNSW_ECANCELED && linked == 0 && hnsw_size(idx) == 1 &&
		   hnsw_staged_count(idx) == 0,
		   "cancel: a flag already set stops a 2-thread batch before it inserts");
	rc = hnsw_insert_batch_parallel(idx, data, labels, NULL, 500, 1, &sig_cancel, &linked, &err);
	report(rc == HNSW_ECANCELED && linked == 0 && hnsw_size(idx) == 1 &&
		   hnsw_insert(idx, data, 1, NULL, NULL) == HNSW_OK,
		   "cancel: and a 1-thread batch; hnsw_insert works afterwards");
	hnsw_destroy(idx);

	/* a signal handler sets the flag: it runs on this thread, not a worker */
	{
		struct sigaction sa,
					old;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR1, &sa, &old);
		main_thread = pthread_self();
		sig_cancel = 0;
		sig_seen = 0;
		sig_off_main = 0;
		idx = create(&p, NULL);
		for (i = 0; i < n; i++)
			hnsw_stage(idx, data + (size_t) i * dim, labels[i], -1, NULL, NULL);
		rc = hnsw_link_start(idx, 3, &sig_cancel, &job, &err);
		waited = 0;
		while (hnsw_link_progress(job) < 500 && waited++ < 20000)
			sleep_ms(1);
		for (i = 0; i < 20; i++)
			kill(getpid(), SIGUSR1);	/* process-directed: any unblocked thread */
		rc = hnsw_link_finish(job, &linked, &err);
		report(rc == HNSW_ECANCELED && linked < (uint32_t) n && sig_seen > 0 && !sig_off_main &&
			   check_ok(idx, 0, NULL),
			   "cancel: a signal is handled on the caller's thread only, its flag stops the job at %u",
			   linked);
		report(hnsw_drop_staged(idx, &err) == HNSW_OK && hnsw_staged_count(idx) == 0 &&
			   hnsw_insert(idx, data, 1, NULL, NULL) == HNSW_OK,
			   "cancel: dropping the staged rest lets hnsw_insert go on");
		hnsw_destroy(idx);
		sigaction(SIGUSR1, &old, NULL);
	}
	free(labels);
	free(data);
}

static void
test_bad_input(void)
{
	const int	n = 200;
	const int	dim = 8;
	float	   *data = random_vectors(n, dim);
	uint64_t   *labels = labels_for(n);
	int		   *levels = xmalloc(sizeof(int) * n);
	HnswParams	p = params(dim, HNSW_L2, 4, 16);
	HnswParams	pc = params(dim, HNSW_COSINE, 4, 16);
	HnswIndex  *idx = create(&p, NULL);
	HnswIndex  *cos = create(&pc, NULL);
	HnswLinkJob *job = NULL;
	HnswLinkJob *job2 = (HnswLinkJob *) &p;
	HnswError	err;
	uint32_t	done = 7;
	uint64_t	h0;
	float		zero[8] = {0};
	int			rc;
	int			i;

	for (i = 0; i < n; i++)
		levels[i] = 0;
	rc = hnsw_insert_batch_parallel(idx, data, labels, NULL, 10, 0, NULL, &done, &err);
	report(rc == HNSW_EINVAL && done == 0 && strstr(err.message, "thread") != NULL,
		   "bad: 0 threads rejected (%s)", err.message);
	rc = hnsw_insert_batch_parallel(idx, data, labels, NULL, 10, HNSW_MAX_THREADS + 1, NULL, &done, &err);
	report(rc == HNSW_EINVAL, "bad: %d threads rejected", HNSW_MAX_THREADS + 1);
	report(hnsw_insert_batch_parallel(NULL, data, labels, NULL, 10, 2, NULL, &done, &err) == HNSW_EINVAL,
		   "bad: no index rejected");
	report(hnsw_insert_batch_parallel(idx, NULL, labels, NULL, 10, 2, NULL, &done, &err) == HNSW_EINVAL &&
		   hnsw_insert_batch_parallel(idx, data, NULL, NULL, 10, 2, NULL, &done, &err) == HNSW_EINVAL,
		   "bad: missing vectors or labels rejected");

	for (i = 0; i < 20; i++)
		hnsw_insert(idx, data + (size_t) i * dim, labels[i], NULL, NULL);
	h0 = graph_hash(idx);
	data[150 * dim + 3] = NAN;
	rc = hnsw_insert_batch_parallel(idx, data, labels, NULL, (uint32_t) n, 2, NULL, &done, &err);
	report(rc == HNSW_EINVAL && done == 0 && graph_hash(idx) == h0 &&
		   hnsw_staged_count(idx) == 0 && strstr(err.message, "vector 150") != NULL,
		   "bad: a NaN in vector 150 rejects the batch, nothing inserted (%s)", err.message);
	data[150 * dim + 3] = 0.5f;
	levels[77] = HNSW_MAX_LEVEL + 1;
	rc = hnsw_insert_batch_parallel(idx, data, labels, levels, (uint32_t) n, 2, NULL, &done, &err);
	report(rc == HNSW_EINVAL && graph_hash(idx) == h0 && strstr(err.message, "level") != NULL,
		   "bad: a level out of range rejects the batch (%s)", err.message);
	levels[77] = -1;
	rc = hnsw_insert_batch_parallel(idx, data, labels, levels, (uint32_t) n, 2, NULL, &done, &err);
	report(rc == HNSW_EINVAL && graph_hash(idx) == h0, "bad: a negative given level rejects the batch");
	levels[77] = 0;

	report(hnsw_stage(idx, data, 1, -2, NULL, &err) == HNSW_EINVAL &&
		   hnsw_stage(idx, data, 1, HNSW_MAX_LEVEL + 1, NULL, &err) == HNSW_EINVAL &&
		   hnsw_staged_count(idx) == 0,
		   "bad: hnsw_stage rejects levels -2 and %d", HNSW_MAX_LEVEL + 1);
	report(hnsw_stage(cos, zero, 1, -1, NULL, &err) == HNSW_EINVAL && hnsw_staged_count(cos) == 0,
		   "bad: hnsw_stage rejects a zero vector under cosine");
	report(hnsw_stage(NULL, data, 1, 0, NULL, &err) == HNSW_EINVAL,
		   "bad: hnsw_stage without an index");

	{
		uint32_t	sid = 0;

		rc = hnsw_stage(idx, data + 25 * dim, 250, 0, &sid, &err);
		report(rc == HNSW_OK && sid == 20 && hnsw_size(idx) == 20 && hnsw_staged_count(idx) == 1,
			   "stage: the staged node gets the next id (%u) and is not in the graph yet", sid);
	}
	report(hnsw_insert(idx, data, 1, NULL, &err) == HNSW_EINVAL && hnsw_size(idx) == 20,
		   "bad: hnsw_insert refused while nodes are staged (%s)", err.message);
	{
		HnswStore	st;
		uint32_t	id;

		hnsw_index_store(idx, &st);
		report(st.ops->add_node(st.ctx, data, 0, 1, &id) != 0,
			   "bad: the index store's add_node refused while nodes are staged");
	}
	report(hnsw_insert_batch_parallel(idx, data, labels, NULL, 10, 2, NULL, &done, &err) == HNSW_EINVAL,
		   "bad: a batch refused while nodes are staged");
	report(hnsw_link_start(idx, 0, NULL, &job, &err) == HNSW_EINVAL && job == NULL &&
		   hnsw_link_start(idx, 2, NULL, NULL, &err) == HNSW_EINVAL &&
		   hnsw_link_start(NULL, 2, NULL, &job, &err) == HNSW_EINVAL,
		   "bad: hnsw_link_start with 0 threads, no job pointer, no index");
	rc = hnsw_link_start(idx, 2, NULL, &job, &err);
	report(rc == HNSW_OK && hnsw_link_start(idx, 2, NULL, &job2, &err) == HNSW_EINVAL && job2 == NULL &&
		   hnsw_stage(idx, data, 1, 0, NULL, &err) == HNSW_EINVAL &&
		   hnsw_drop_staged(idx, &err) == HNSW_EINVAL,
		   "bad: a second job, staging and dropping are refused while a job runs");
	rc = hnsw_link_finish(job, &done, &err);
	report(rc == HNSW_OK && done == 1 && hnsw_size(idx) == 21 && check_ok(idx, HNSW_CHECK_ALL, NULL),
		   "stage: the job links the staged node");
	report(hnsw_link_finish(NULL, &done, &err) == HNSW_EINVAL && done == 0,
		   "bad: hnsw_link_finish without a job");
	rc = hnsw_link_start(idx, 4, NULL, &job, &err);
	report(rc == HNSW_OK && hnsw_link_wait(job, 0) == 1 && hnsw_link_progress(job) == 0 &&
		   hnsw_link_finish(job, &done, &err) == HNSW_OK && done == 0,
		   "stage: a job with nothing staged is finished at once");

	hnsw_destroy(idx);
	hnsw_destroy(cos);
	free(levels);
	free(labels);
	free(data);
}

/* Allocation failures at every point of staging and of a job's start. */
static void
test_enomem(void)
{
	const int	n = 300;
	const int	dim = 8;
	float	   *data = random_vectors(n, dim);
	uint64_t   *labels = labels_for(n);
	HnswParams	p = params(dim, HNSW_L2, 4, 16);
	HnswIndex  *ref = build_serial(&p, data, n);
	TestAlloc	ta;
	HnswAllocator a = test_allocator(&ta);
	HnswError	err;
	long		k;
	long		n_calls;
	int			staging_ok = 1;
	int			start_ok = 1;
	int			tries_stage = 0;
	int			tries_start = 0;

	/* staging: fail each allocation in turn; the batch leaves nothing */
	{
		HnswIndex  *idx = create(&p, &a);
		long		base = ta.calls;
		uint32_t	done;

		hnsw_insert_batch_parallel(idx, data, labels, NULL, (uint32_t) n, 1, NULL, &done, &err);
		n_calls = ta.calls - base;
		hnsw_destroy(idx);
		for (k = 0; k < n_calls; k++)
		{
			int			rc;

			idx = create(&p, &a);
			ta.fail_at = ta.calls + k;
			rc = hnsw_insert_batch_parallel(idx, data, labels, NULL, (uint32_t) n, 2, NULL, &done, &err);
			ta.fail_at = -1;
			if (rc == HNSW_ENOMEM)
			{
				tries_stage++;
				if (hnsw_size(idx) != 0 || hnsw_staged_count(idx) != 0 || done != 0)
				{
					printf("# enomem at %ld: %u nodes, %u staged, %u done\n", k,
						   hnsw_size(idx), hnsw_staged_count(idx), done);
					staging_ok = 0;
				}
				/* after a failure the same batch gives the serial graph */
				if (hnsw_insert_batch_parallel(idx, data, labels, NULL, (uint32_t) n, 1, NULL, &done, &err) != HNSW_OK ||
					graph_hash(idx) != graph_hash(ref))
				{
					printf("# enomem at %ld: the retry differs (%s)\n", k, err.message);
					staging_ok = 0;
				}
			}
			else if (rc != HNSW_OK)
				staging_ok = 0;
			hnsw_destroy(idx);
		}
	}
	report(staging_ok && tries_stage > 0 && ta.live == 0,
		   "enomem: %d failed allocations while staging leave nothing; a retry gives the serial graph",
		   tries_stage);

	/* starting a job: fail each of its allocations in turn */
	for (k = 0; k < 64; k++)
	{
		HnswIndex  *idx = create(&p, &a);
		HnswLinkJob *job = NULL;
		uint32_t	done = 0;
		int			reached;
		int			i;
		int			rc;

		for (i = 0; i < n; i++)
			hnsw_stage(idx, data + (size_t) i * dim, labels[i], -1, NULL, NULL);
		ta.fail_at = ta.calls + k;
		rc = hnsw_link_start(idx, 3, NULL, &job, &err);
		reached = ta.calls > ta.fail_at;
		ta.fail_at = -1;
		if (rc == HNSW_ENOMEM)
		{
			tries_start++;
			if (job != NULL || hnsw_size(idx) != 0 || hnsw_staged_count(idx) != (uint32_t) n)
				start_ok = 0;
			rc = hnsw_link_start(idx, 3, NULL, &job, &err);
		}
		if (rc != HNSW_OK || hnsw_link_finish(job, &done, &err) != HNSW_OK ||
			done != (uint32_t) n || !check_ok(idx, 0, NULL))
			start_ok = 0;
		hnsw_destroy(idx);
		if (!reached)
			break;				/* the start made fewer than k + 1 allocations */
	}
	report(start_ok && tries_start > 0 && ta.live == 0 && !ta.bad_free && !ta.off_thread,
		   "enomem: %d failed allocations in hnsw_link_start start nothing; a retry links all",
		   tries_start);
	hnsw_destroy(ref);
	free(labels);
	free(data);
}

int
main(void)
{
	printf("# kernels: %s\n", brainy_kernels()->name);
	test_serial_identity();
	test_bad_input();
	test_enomem();
	test_cancel();
	test_parallel_shapes();
	test_parallel_recall();
	printf("%d passed, %d failed\n", n_passed, n_failed);
	return n_failed == 0 ? 0 : 1;
}
