/*
 * hnsw_parallel.c - building the in-memory index with several threads.
 *
 * Owns staging (nodes copied in, with everything they need allocated, but
 * not linked), the link job (POSIX threads inserting the staged nodes
 * concurrently: per-node list locks, a global lock for the entry point,
 * per-thread scratch allocated before any thread starts), and the
 * one-call batch insert.  The rules callers see are in hnsw.h, "parallel
 * build"; the insert itself is hnsw_insert's (hnsw_insert_search_from,
 * hnsw_write_list, hnsw_add_link), with locks around what other threads
 * share.
 *
 * Threads never call the allocator (their search contexts are frozen, see
 * hnsw_search_ctx.c), never touch the index's own scratch, and write only
 * neighbour lists (under their node's lock), the entry point and top level
 * (under the global lock), and the job's atomic counters.  n_nodes and
 * n_staged change only in hnsw_link_finish, on the caller's thread, after
 * every thread has been joined.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hnsw_internal.h"

#define MAX_NODE_LOCKS ((uint32_t) 1 << 16)

typedef struct HnswLinkThread
{
	HnswLinkJob *job;
	pthread_t	thread;
	bool		created;
	HnswWork	work;			/* its own scratch and frozen search context */
	size_t		work_bytes;
	HnswError	err;			/* the error that stopped it */
	int			rc;
	uint32_t	failed_id;		/* the node whose insert failed */
} HnswLinkThread;

struct HnswLinkJob
{
	HnswIndex  *idx;
	size_t		bytes;			/* allocated for the job, not its threads' work */
	uint32_t	first;			/* id of the first staged node */
	uint32_t	n;				/* staged nodes to link */
	int			n_threads;
	HnswLinkThread *threads;
	HnswSync	sync;
	uint32_t	n_locks;		/* 0 when one thread links (no locks) */
	bool		global_init;
	volatile const sig_atomic_t *cancel;

	atomic_uint next;			/* next index (from first) to claim */
	atomic_uint done;			/* inserts completed */
	atomic_int	stop;			/* hnsw_link_cancel or a thread error */
	atomic_int	failed;			/* some thread stopped on an error */

	/* the threads wait for "go" (or "stop") before they claim anything */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool		go;
	int			running;		/* threads not yet ended */
};

/* ---- staging */

int
hnsw_stage(HnswIndex *idx, const float *vec, uint64_t label, int level,
		   uint32_t *id_out, HnswError *err)
{
	uint32_t   *upper = NULL;
	uint64_t	rng;
	double		scale;
	uint32_t	id;
	int			rc;

	if (idx == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "index is missing");
	if (idx->job != NULL)
		return hnsw_fail(err, HNSW_EINVAL, "cannot stage nodes while linking runs");
	if (level < -1 || level > HNSW_MAX_LEVEL)
		return hnsw_fail(err, HNSW_EINVAL,
						 "level %d out of range: must be between 0 and %d, or -1",
						 level, HNSW_MAX_LEVEL);
	rc = hnsw_vector_check(idx->params.metric, vec, idx->params.dim, &scale, err);
	if (rc != HNSW_OK)
		return rc;
	id = idx->n_nodes + idx->n_staged;
	if (id >= HNSW_MAX_NODES)
		return hnsw_fail(err, HNSW_EFULL, "index is full: it has %u nodes and %u staged",
						 idx->n_nodes, idx->n_staged);
	rng = idx->rng;
	if (level < 0)
		level = hnsw_draw_level(&rng, idx->level_mult);
	rc = hnsw_ensure_node_capacity(idx, id + 1, err);
	if (rc != HNSW_OK)
		return rc;
	if (level > 0)
	{
		upper = hnsw_upper_alloc(idx, level);
		if (upper == NULL)
			return hnsw_fail(err, HNSW_ENOMEM,
							 "out of memory for the neighbour lists of a level %d node",
							 level);
	}
	hnsw_node_fill(idx, id, vec, scale, level, label, upper);
	idx->rng = rng;
	idx->n_staged++;
	if (id_out != NULL)
		*id_out = id;
	hnsw_clear_error(err);
	return HNSW_OK;
}

uint32_t
hnsw_staged_count(const HnswIndex *idx)
{
	return idx->n_staged;
}

int
hnsw_drop_staged(HnswIndex *idx, HnswError *err)
{
	uint32_t	i;

	if (idx == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "index is missing");
	if (idx->job != NULL)
		return hnsw_fail(err, HNSW_EINVAL, "cannot drop staged nodes while linking runs");
	for (i = 0; i < idx->n_staged; i++)
	{
		HnswNode   *node = hnsw_node(idx, idx->n_nodes + i);

		hnsw_upper_free(idx, node->upper, node->level);
		node->upper = NULL;
	}
	idx->n_staged = 0;
	hnsw_clear_error(err);
	return HNSW_OK;
}

/* ---- one insert */

/*
 * Insert staged node id into the graph with scratch w: hnsw_insert's two
 * phases, with idx->sync's locks when it is set.  In memory nothing but a
 * frozen search can fail, and that happens before any write.
 */
static int
link_node(HnswIndex *idx, HnswWork *w, uint32_t id, HnswError *err)
{
	HnswSync   *sync = idx->sync;
	HnswGraph	g;
	const float *q = hnsw_vec(idx, id);
	int			level = hnsw_node(idx, id)->level;
	uint32_t	entry;
	int			max_level;
	bool		raises;
	int			top;
	int			layer;
	int			rc;

	g.idx = idx;
	g.st = NULL;
	g.w = w;
	g.dist = &idx->dist;
	g.err = err;

	/* an insert that raises the top level holds the global lock throughout */
	if (sync)
		pthread_mutex_lock(&sync->global);
	entry = idx->entry;
	max_level = idx->max_level;
	raises = level > max_level;
	if (sync && !raises)
		pthread_mutex_unlock(&sync->global);

	rc = hnsw_insert_search_from(&g, q, level, id, NULL, entry, max_level, &top);
	if (rc != HNSW_OK)
	{
		if (sync && raises)
			pthread_mutex_unlock(&sync->global);
		return rc;
	}

	/* its own lists, then the entry point, then the links back */
	for (layer = top; layer >= 0; layer--)
	{
		if (sync)
			hnsw_node_lock(idx, id);
		hnsw_write_list(idx, id, layer, w->sel + (size_t) layer * w->m0,
						w->sel_n[layer], w->sel_nsel[layer]);
		if (sync)
			hnsw_node_unlock(idx, id);
	}
	if (raises)
	{
		idx->entry = id;
		idx->max_level = level;
		if (sync)
			pthread_mutex_unlock(&sync->global);
	}
	for (layer = top; layer >= 0; layer--)
	{
		const HnswCand *sel = w->sel + (size_t) layer * w->m0;
		int			i;

		for (i = 0; i < w->sel_n[layer]; i++)
		{
			HnswCand	back;

			back.id = id;
			back.dist = sel[i].dist;
			if (sync)
				hnsw_node_lock(idx, sel[i].id);
			(void) hnsw_add_link(&g, sel[i].id, layer, back);
			if (sync)
				hnsw_node_unlock(idx, sel[i].id);
		}
	}
	return HNSW_OK;
}

static bool
job_stopping(const HnswLinkJob *job)
{
	return atomic_load_explicit(&job->stop, memory_order_relaxed) != 0 ||
		(job->cancel != NULL &&
		 __atomic_load_n(job->cancel, __ATOMIC_RELAXED) != 0);
}

static void *
link_thread(void *arg)
{
	HnswLinkThread *t = arg;
	HnswLinkJob *job = t->job;

	pthread_mutex_lock(&job->mu);
	while (!job->go && !atomic_load(&job->stop))
		pthread_cond_wait(&job->cv, &job->mu);
	pthread_mutex_unlock(&job->mu);

	while (!job_stopping(job))
	{
		uint32_t	i = atomic_fetch_add(&job->next, 1);
		int			rc;

		if (i >= job->n)
			break;
		rc = link_node(job->idx, &t->work, job->first + i, &t->err);
		if (rc != HNSW_OK)
		{
			t->rc = rc;
			t->failed_id = job->first + i;
			atomic_store(&job->failed, 1);
			atomic_store(&job->stop, 1);
			break;
		}
		atomic_fetch_add_explicit(&job->done, 1, memory_order_relaxed);
	}

	pthread_mutex_lock(&job->mu);
	job->running--;
	pthread_cond_broadcast(&job->cv);
	pthread_mutex_unlock(&job->mu);
	return NULL;
}

/* ---- the job */

/* Free everything hnsw_link_start allocated (threads already joined). */
static void
job_free(HnswLinkJob *job)
{
	HnswIndex  *idx = job->idx;
	size_t		bytes = job->bytes;
	uint32_t	i;
	int			t;

	for (t = 0; t < job->n_threads; t++)
		hnsw_work_free(&job->threads[t].work);
	for (i = 0; i < job->n_locks; i++)
		pthread_mutex_destroy(&job->sync.node[i]);
	if (job->global_init)
		pthread_mutex_destroy(&job->sync.global);
	pthread_cond_destroy(&job->cv);
	pthread_mutex_destroy(&job->mu);
	if (job->n_locks > 0)
		hnsw_mem_free(&idx->alloc, &bytes, job->sync.node,
					  sizeof(pthread_mutex_t) * (size_t) job->n_locks);
	hnsw_mem_free(&idx->alloc, &bytes, job->threads,
				  sizeof(HnswLinkThread) * (size_t) job->n_threads);
	hnsw_mem_free(&idx->alloc, &bytes, job, sizeof(HnswLinkJob));
}

/* Stop and join the threads created so far, free the job; nothing linked. */
static int
start_failed(HnswLinkJob *job, HnswError *err, const char *what, int e)
{
	int			t;

	pthread_mutex_lock(&job->mu);
	atomic_store(&job->stop, 1);
	pthread_cond_broadcast(&job->cv);
	pthread_mutex_unlock(&job->mu);
	for (t = 0; t < job->n_threads; t++)
	{
		if (job->threads[t].created)
			pthread_join(job->threads[t].thread, NULL);
	}
	job->idx->sync = NULL;
	job->idx->job = NULL;
	job_free(job);
	return hnsw_fail(err, HNSW_ENOMEM, "cannot start the build threads: %s (%s)",
					 what, strerror(e));
}

int
hnsw_link_start(HnswIndex *idx, int n_threads,
				volatile const sig_atomic_t *cancel, HnswLinkJob **out,
				HnswError *err)
{
	HnswLinkJob *job;
	size_t		bytes = 0;
	uint32_t	total;
	sigset_t	all,
				old;
	int			t;
	int			rc;
	int			e;

	if (out == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "no place to return the job");
	*out = NULL;
	if (idx == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "index is missing");
	if (idx->job != NULL)
		return hnsw_fail(err, HNSW_EINVAL, "a link job is already running on this index");
	if (n_threads < 1 || n_threads > HNSW_MAX_THREADS)
		return hnsw_fail(err, HNSW_EINVAL, "thread count %d out of range: must be between 1 and %d",
						 n_threads, HNSW_MAX_THREADS);

	job = hnsw_mem_alloc(&idx->alloc, &bytes, sizeof(HnswLinkJob));
	if (job == NULL)
		return hnsw_fail(err, HNSW_ENOMEM, "out of memory for a link job");
	memset(job, 0, sizeof(HnswLinkJob));
	job->bytes = bytes;
	job->idx = idx;
	job->first = idx->n_nodes;
	job->n = idx->n_staged;
	job->cancel = cancel;
	atomic_init(&job->next, 0);
	atomic_init(&job->done, 0);
	atomic_init(&job->stop, 0);
	atomic_init(&job->failed, 0);
	pthread_mutex_init(&job->mu, NULL);
	pthread_cond_init(&job->cv, NULL);
	job->n_threads = job->n == 0 ? 0 : n_threads;
	idx->job = job;
	if (job->n_threads == 0)
	{
		*out = job;
		hnsw_clear_error(err);
		return HNSW_OK;
	}

	/* everything the threads need, before any of them exists */
	job->threads = hnsw_mem_alloc(&idx->alloc, &job->bytes,
								  sizeof(HnswLinkThread) * (size_t) job->n_threads);
	if (job->threads == NULL)
	{
		job->n_threads = 0;
		idx->job = NULL;
		job_free(job);
		return hnsw_fail(err, HNSW_ENOMEM, "out of memory for %d build threads", n_threads);
	}
	memset(job->threads, 0, sizeof(HnswLinkThread) * (size_t) job->n_threads);
	total = job->first + job->n;
	rc = HNSW_OK;
	for (t = 0; t < job->n_threads && rc == HNSW_OK; t++)
	{
		HnswLinkThread *th = &job->threads[t];

		th->job = job;
		rc = hnsw_work_init(&th->work, &idx->alloc, &th->work_bytes, &idx->params,
							idx->kernels, false, err);
		if (rc == HNSW_OK)
			rc = hnsw_search_freeze(th->work.search, total,
									(uint32_t) idx->params.ef_construction, err);
	}
	if (rc == HNSW_OK && job->n_threads > 1)
	{
		uint32_t	n_locks = 1;

		while (n_locks < total && n_locks < MAX_NODE_LOCKS)
			n_locks *= 2;
		job->sync.node = hnsw_mem_alloc(&idx->alloc, &job->bytes,
										sizeof(pthread_mutex_t) * (size_t) n_locks);
		if (job->sync.node == NULL)
			rc = hnsw_fail(err, HNSW_ENOMEM, "out of memory for %u node locks", n_locks);
		else
		{
			uint32_t	i;

			for (i = 0; i < n_locks; i++)
				pthread_mutex_init(&job->sync.node[i], NULL);
			job->n_locks = n_locks;
			job->sync.mask = n_locks - 1;
			pthread_mutex_init(&job->sync.global, NULL);
			job->global_init = true;
		}
	}
	if (rc != HNSW_OK)
	{
		idx->job = NULL;
		job_free(job);
		return rc;
	}
	if (job->n_threads > 1)
		idx->sync = &job->sync;

	/* signal handlers must only ever run on the caller's threads */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	job->running = 0;
	for (t = 0; t < job->n_threads; t++)
	{
		HnswLinkThread *th = &job->threads[t];

		e = pthread_create(&th->thread, NULL, link_thread, th);
		if (e != 0)
		{
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			return start_failed(job, err, "pthread_create", e);
		}
		th->created = true;
		pthread_mutex_lock(&job->mu);
		job->running++;
		pthread_mutex_unlock(&job->mu);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	pthread_mutex_lock(&job->mu);
	job->go = true;
	pthread_cond_broadcast(&job->cv);
	pthread_mutex_unlock(&job->mu);
	*out = job;
	hnsw_clear_error(err);
	return HNSW_OK;
}

uint32_t
hnsw_link_progress(const HnswLinkJob *job)
{
	return job == NULL ? 0 :
		atomic_load_explicit(&((HnswLinkJob *) job)->done, memory_order_relaxed);
}

void
hnsw_link_cancel(HnswLinkJob *job)
{
	if (job != NULL)
		atomic_store(&job->stop, 1);
}

int
hnsw_link_wait(HnswLinkJob *job, int timeout_ms)
{
	struct timespec until;
	int			finished;

	if (job == NULL)
		return 1;
	clock_gettime(CLOCK_REALTIME, &until);
	if (timeout_ms > 0)
	{
		until.tv_sec += timeout_ms / 1000;
		until.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L)
		{
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&job->mu);
	while (job->running > 0 && timeout_ms > 0)
	{
		if (pthread_cond_timedwait(&job->cv, &job->mu, &until) == ETIMEDOUT)
			break;
	}
	finished = job->running == 0;
	pthread_mutex_unlock(&job->mu);
	return finished;
}

int
hnsw_link_finish(HnswLinkJob *job, uint32_t *n_linked, HnswError *err)
{
	HnswIndex  *idx;
	HnswLinkThread *bad = NULL;
	uint32_t	claimed;
	bool		cancelled;
	int			t;

	if (n_linked != NULL)
		*n_linked = 0;
	if (job == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "job is missing");
	idx = job->idx;
	for (t = 0; t < job->n_threads; t++)
	{
		pthread_join(job->threads[t].thread, NULL);
		if (job->threads[t].rc != HNSW_OK && bad == NULL)
			bad = &job->threads[t];
	}

	/* every claimed node was linked completely (or is the failed one) */
	claimed = atomic_load(&job->next);
	if (claimed > job->n)
		claimed = job->n;
	cancelled = claimed < job->n;
	idx->n_nodes += claimed;
	idx->n_staged -= claimed;
	idx->sync = NULL;
	idx->job = NULL;
	if (n_linked != NULL)
		*n_linked = claimed;

	if (bad != NULL)
	{
		int			rc = bad->rc;
		char		why[HNSW_ERRMSG_LEN];

		snprintf(why, sizeof(why), "%s", bad->err.message);
		job_free(job);
		return hnsw_fail(err, rc,
						 "a build thread failed at node %u (%s); it is in the graph without edges: hnsw_reconnect links it",
						 bad->failed_id, why);
	}
	job_free(job);
	if (cancelled)
		return hnsw_fail(err, HNSW_ECANCELED,
						 "parallel build cancelled after %u of %u nodes", claimed,
						 claimed + idx->n_staged);
	hnsw_clear_error(err);
	return HNSW_OK;
}

/* ---- one call */

int
hnsw_insert_batch_parallel(HnswIndex *idx, const float *vectors,
						   const uint64_t *labels, const int *levels,
						   uint32_t n, int n_threads,
						   volatile const sig_atomic_t *cancel,
						   uint32_t *n_inserted, HnswError *err)
{
	uint32_t	done = 0;
	uint32_t	i;
	uint64_t	rng;
	int			dim;
	int			rc;

	if (n_inserted != NULL)
		*n_inserted = 0;
	if (idx == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "index is missing");
	if (idx->n_staged > 0 || idx->job != NULL)
		return hnsw_fail(err, HNSW_EINVAL, "nodes are already staged on this index");
	if (n_threads < 1 || n_threads > HNSW_MAX_THREADS)
		return hnsw_fail(err, HNSW_EINVAL, "thread count %d out of range: must be between 1 and %d",
						 n_threads, HNSW_MAX_THREADS);
	if (n > 0 && (vectors == NULL || labels == NULL))
		return hnsw_fail(err, HNSW_EINVAL, "vectors or labels are missing");
	dim = idx->params.dim;
	for (i = 0; i < n; i++)
	{
		double		scale;
		HnswError	why;

		if (levels != NULL && (levels[i] < 0 || levels[i] > HNSW_MAX_LEVEL))
			return hnsw_fail(err, HNSW_EINVAL,
							 "level %d of vector %u out of range: must be between 0 and %d",
							 levels[i], i, HNSW_MAX_LEVEL);

		rc = hnsw_vector_check(idx->params.metric, vectors + (size_t) i * dim, dim,
							   &scale, &why);
		if (rc != HNSW_OK)
			return hnsw_fail(err, rc, "vector %u: %s", i, why.message);
	}

	rng = idx->rng;
	for (i = 0; i < n; i++)
	{
		rc = hnsw_stage(idx, vectors + (size_t) i * dim, labels[i],
						levels != NULL ? levels[i] : -1, NULL, err);
		if (rc != HNSW_OK)
		{
			(void) hnsw_drop_staged(idx, NULL);
			idx->rng = rng;
			return rc;
		}
	}

	if (n_threads == 1)
	{
		HnswGraph	g;

		/* on this thread, with the index's own scratch: hnsw_insert's graph */
		hnsw_graph_of_index(&g, idx, err);
		rc = hnsw_g_reserve(&g, idx->n_nodes + n);
		for (i = 0; i < n && rc == HNSW_OK; i++)
		{
			if (cancel != NULL && __atomic_load_n(cancel, __ATOMIC_RELAXED) != 0)
			{
				rc = hnsw_fail(err, HNSW_ECANCELED,
							   "build cancelled after %u of %u nodes", i, n);
				break;
			}
			rc = link_node(idx, &idx->work, idx->n_nodes, err);
			if (rc == HNSW_OK)
			{
				idx->n_nodes++;
				idx->n_staged--;
				done++;
			}
		}
	}
	else
	{
		HnswLinkJob *job;

		rc = hnsw_link_start(idx, n_threads, cancel, &job, err);
		if (rc == HNSW_OK)
			rc = hnsw_link_finish(job, &done, err);
	}
	if (idx->n_staged > 0)
	{
		/* the generator as if only the inserted vectors had drawn levels */
		(void) hnsw_drop_staged(idx, NULL);
		if (levels == NULL)
		{
			idx->rng = rng;
			for (i = 0; i < done; i++)
				(void) hnsw_draw_level(&idx->rng, idx->level_mult);
		}
	}
	if (n_inserted != NULL)
		*n_inserted = done;
	if (rc == HNSW_OK)
		hnsw_clear_error(err);
	return rc;
}
