/*
 * hnsw_work.c - the algorithms' scratch memory, and the store writer.
 *
 * Owns HnswWork (see hnsw_internal.h): the search context and selection
 * buffers every insert, repair and reconnect uses, and, for stores, the
 * buffers that hold copies of what the callbacks return and the vector
 * cache.  An HnswIndex embeds one (without the store part); an HnswWriter
 * is nothing but one, for the store functions of hnsw.h.  Everything is
 * allocated up front and counted in the owner's byte count; a failed
 * initialisation frees what it got.
 */
#include <string.h>

#include "hnsw_internal.h"

/*
 * Vector cache size: a power of two of at least 4 * (m0 + 1) vectors (the
 * vectors a selection compares repeatedly are at most m0 + 1), but no more
 * than about CACHE_MAX_BYTES of vectors, and at least 16.
 */
#define CACHE_MAX_BYTES ((size_t) 4 << 20)
#define CACHE_MIN_ENTRIES 16

static uint32_t
cache_entries(const HnswParams *p)
{
	uint32_t	want = 4 * (2 * (uint32_t) p->m + 1);
	uint32_t	n = CACHE_MIN_ENTRIES;

	while (n < want &&
		   (size_t) n * 2 * sizeof(float) * (size_t) p->dim <= CACHE_MAX_BYTES)
		n *= 2;
	return n;
}

static size_t
cand_bytes(const HnswWork *w)
{
	return sizeof(HnswCand) * ((size_t) w->m0 + 1);
}

void
hnsw_work_free(HnswWork *w)
{
	const HnswAllocator *a = &w->alloc;
	size_t		dim = (size_t) w->params.dim;
	size_t		list = (size_t) w->m0 + 1;
	size_t		n_cache = (size_t) w->cache_mask + 1;
	int			i;

	hnsw_search_destroy(w->search);
	w->search = NULL;
	if (w->bytes == NULL)
		return;					/* nothing else was allocated */
	hnsw_mem_free(a, w->bytes, w->sel,
				  sizeof(HnswCand) * (size_t) w->m0 * (HNSW_MAX_LEVEL + 1));
	hnsw_mem_free(a, w->bytes, w->prune_in, cand_bytes(w));
	hnsw_mem_free(a, w->bytes, w->prune_keep, cand_bytes(w));
	hnsw_mem_free(a, w->bytes, w->drop, sizeof(HnswCand) * (size_t) w->drop_cap);
	hnsw_mem_free(a, w->bytes, w->qbuf, sizeof(float) * dim);
	for (i = 0; i < HNSW_N_HOLD; i++)
		hnsw_mem_free(a, w->bytes, w->hold[i], sizeof(float) * dim);
	for (i = 0; i < 2; i++)
	{
		hnsw_mem_free(a, w->bytes, w->list_ids[i], sizeof(uint32_t) * list);
		hnsw_mem_free(a, w->bytes, w->list_dists[i], sizeof(float) * list);
	}
	hnsw_mem_free(a, w->bytes, w->out_ids, sizeof(uint32_t) * list);
	hnsw_mem_free(a, w->bytes, w->out_dists, sizeof(float) * list);
	hnsw_mem_free(a, w->bytes, w->cache_vecs, sizeof(float) * dim * n_cache);
	hnsw_mem_free(a, w->bytes, w->cache_id, sizeof(uint32_t) * n_cache);
	hnsw_mem_free(a, w->bytes, w->cache_stamp, sizeof(uint32_t) * n_cache);
	memset(w, 0, sizeof(HnswWork));
}

int
hnsw_work_init(HnswWork *w, const HnswAllocator *alloc, size_t *bytes,
			   const HnswParams *p, const BrainyKernels *k, bool for_store,
			   HnswError *err)
{
	const HnswAllocator *a;
	size_t		dim = (size_t) p->dim;
	size_t		list;
	bool		ok;
	int			i;
	int			rc;

	memset(w, 0, sizeof(HnswWork));
	w->alloc = *alloc;
	w->bytes = bytes;
	w->params = *p;
	w->m0 = 2 * p->m;
	hnsw_distance_init(&w->dist, k, p->metric, p->dim);
	a = &w->alloc;
	list = (size_t) w->m0 + 1;

	w->sel = hnsw_mem_alloc(a, bytes,
							sizeof(HnswCand) * (size_t) w->m0 * (HNSW_MAX_LEVEL + 1));
	w->prune_in = hnsw_mem_alloc(a, bytes, cand_bytes(w));
	w->prune_keep = hnsw_mem_alloc(a, bytes, cand_bytes(w));
	w->drop_cap = (uint32_t) (p->ef_construction > w->m0 + 1 ?
							  p->ef_construction : w->m0 + 1);
	w->drop = hnsw_mem_alloc(a, bytes, sizeof(HnswCand) * (size_t) w->drop_cap);
	ok = w->sel != NULL && w->prune_in != NULL && w->prune_keep != NULL &&
		w->drop != NULL;
	if (ok && for_store)
	{
		size_t		n_cache = cache_entries(p);

		w->qbuf = hnsw_mem_alloc(a, bytes, sizeof(float) * dim);
		ok = w->qbuf != NULL;
		for (i = 0; i < HNSW_N_HOLD; i++)
		{
			w->hold[i] = hnsw_mem_alloc(a, bytes, sizeof(float) * dim);
			ok = ok && w->hold[i] != NULL;
		}
		for (i = 0; i < 2; i++)
		{
			w->list_ids[i] = hnsw_mem_alloc(a, bytes, sizeof(uint32_t) * list);
			w->list_dists[i] = hnsw_mem_alloc(a, bytes, sizeof(float) * list);
			ok = ok && w->list_ids[i] != NULL && w->list_dists[i] != NULL;
		}
		w->out_ids = hnsw_mem_alloc(a, bytes, sizeof(uint32_t) * list);
		w->out_dists = hnsw_mem_alloc(a, bytes, sizeof(float) * list);
		/* cache_mask first: hnsw_work_free sizes the cache with it */
		w->cache_mask = (uint32_t) n_cache - 1;
		w->cache_vecs = hnsw_mem_alloc(a, bytes, sizeof(float) * dim * n_cache);
		w->cache_id = hnsw_mem_alloc(a, bytes, sizeof(uint32_t) * n_cache);
		w->cache_stamp = hnsw_mem_alloc(a, bytes, sizeof(uint32_t) * n_cache);
		ok = ok && w->out_ids != NULL && w->out_dists != NULL &&
			w->cache_vecs != NULL && w->cache_id != NULL && w->cache_stamp != NULL;
		if (ok)
		{
			memset(w->cache_stamp, 0, sizeof(uint32_t) * n_cache);
			w->cache_epoch = 0;
		}
	}
	if (!ok)
	{
		hnsw_work_free(w);
		return hnsw_fail(err, HNSW_ENOMEM, "out of memory for insert scratch");
	}
	rc = hnsw_search_init(&w->search, alloc, k, p->dim, p->m, p->metric, err);
	if (rc != HNSW_OK)
	{
		hnsw_work_free(w);
		return rc;
	}
	return HNSW_OK;
}

/* ---- the writer */

void
hnsw_writer_destroy(HnswWriter *w)
{
	HnswAllocator a;
	size_t		bytes;

	if (w == NULL)
		return;
	hnsw_work_free(&w->work);
	a = w->alloc;
	bytes = w->mem_bytes;
	hnsw_mem_free(&a, &bytes, w, sizeof(HnswWriter));
}

int
hnsw_writer_create(const HnswParams *p, const HnswAllocator *alloc,
				   HnswWriter **out, HnswError *err)
{
	HnswAllocator a;
	size_t		bytes = 0;
	HnswWriter *w;
	int			rc;

	if (out == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "no place to return the writer");
	*out = NULL;
	rc = hnsw_params_validate(p, err);
	if (rc != HNSW_OK)
		return rc;
	hnsw_allocator_copy(&a, alloc);
	w = hnsw_mem_alloc(&a, &bytes, sizeof(HnswWriter));
	if (w == NULL)
		return hnsw_fail(err, HNSW_ENOMEM, "out of memory creating a writer");
	memset(w, 0, sizeof(HnswWriter));
	w->alloc = a;
	w->mem_bytes = bytes;
	rc = hnsw_work_init(&w->work, &a, &w->mem_bytes, p, brainy_kernels(), true, err);
	if (rc != HNSW_OK)
	{
		hnsw_writer_destroy(w);
		return rc;
	}
	*out = w;
	hnsw_clear_error(err);
	return HNSW_OK;
}

size_t
hnsw_writer_memory_usage(const HnswWriter *w)
{
	if (w == NULL)
		return 0;
	return w->mem_bytes + hnsw_search_memory_usage(w->work.search);
}
