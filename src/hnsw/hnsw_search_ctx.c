/*
 * hnsw_search_ctx.c - the search context: scratch memory of searches.
 *
 * Owns HnswSearch's buffers and their growth: the epoch-stamped visited
 * array (one uint32 per node; a new search bumps the epoch instead of
 * clearing it), the two heaps, the layer result array and the per-node
 * buffers.  Everything grows to the largest graph and ef seen and is then
 * reused, so steady-state searches do not allocate.  Growth allocates the
 * new buffer before freeing the old one: on failure the context is intact.
 * A frozen context (a parallel build thread's, see hnsw_search_freeze)
 * never allocates: its candidate heap makes room instead of growing.
 */
#include <string.h>

#include "hnsw_internal.h"

#define MIN_VISITED_CAP 1024
#define MIN_HEAP_CAP 64

void
hnsw_search_destroy(HnswSearch *sc)
{
	HnswAllocator a;
	size_t		bytes;

	if (sc == NULL)
		return;
	a = sc->alloc;
	bytes = sc->mem_bytes;
	hnsw_mem_free(&a, &bytes, sc->visited, sizeof(uint32_t) * (size_t) sc->visited_cap);
	hnsw_mem_free(&a, &bytes, sc->cand.items, sizeof(HnswCand) * (size_t) sc->cand.cap);
	hnsw_mem_free(&a, &bytes, sc->res.items, sizeof(HnswCand) * (size_t) sc->res.cap);
	hnsw_mem_free(&a, &bytes, sc->layer, sizeof(HnswCand) * (size_t) sc->layer_cap);
	hnsw_mem_free(&a, &bytes, sc->batch, sizeof(uint32_t) * 2 * (size_t) sc->m);
	hnsw_mem_free(&a, &bytes, sc->nbuf, sizeof(uint32_t) * 2 * (size_t) sc->m);
	hnsw_mem_free(&a, &bytes, sc->query, sizeof(float) * (size_t) sc->dim);
	hnsw_mem_free(&a, &bytes, sc->vbuf, sizeof(float) * (size_t) sc->dim);
	hnsw_mem_free(&a, &bytes, sc->bdist, sizeof(float) * 2 * (size_t) sc->m);
	hnsw_mem_free(&a, &bytes, sc, sizeof(HnswSearch));
}

int
hnsw_search_init(HnswSearch **out, const HnswAllocator *alloc,
				 const BrainyKernels *k, int dim, int m, HnswMetric metric,
				 HnswError *err)
{
	HnswAllocator a;
	size_t		bytes = 0;
	HnswSearch *sc;

	*out = NULL;
	hnsw_allocator_copy(&a, alloc);
	sc = hnsw_mem_alloc(&a, &bytes, sizeof(HnswSearch));
	if (sc == NULL)
		return hnsw_fail(err, HNSW_ENOMEM, "out of memory for a search context");
	memset(sc, 0, sizeof(HnswSearch));
	sc->alloc = a;
	sc->mem_bytes = bytes;
	sc->dim = dim;
	sc->m = m;
	sc->metric = metric;
	hnsw_distance_init(&sc->dist, k, metric, dim);

	sc->batch = hnsw_mem_alloc(&a, &sc->mem_bytes, sizeof(uint32_t) * 2 * (size_t) m);
	sc->nbuf = hnsw_mem_alloc(&a, &sc->mem_bytes, sizeof(uint32_t) * 2 * (size_t) m);
	sc->query = hnsw_mem_alloc(&a, &sc->mem_bytes, sizeof(float) * (size_t) dim);
	sc->vbuf = hnsw_mem_alloc(&a, &sc->mem_bytes, sizeof(float) * (size_t) dim);
	sc->bdist = hnsw_mem_alloc(&a, &sc->mem_bytes, sizeof(float) * 2 * (size_t) m);
	if (sc->batch == NULL || sc->nbuf == NULL || sc->query == NULL ||
		sc->vbuf == NULL || sc->bdist == NULL)
	{
		hnsw_search_destroy(sc);
		return hnsw_fail(err, HNSW_ENOMEM, "out of memory for a search context");
	}
	*out = sc;
	return HNSW_OK;
}

/* Replace *items (cap entries) by a copy with room for new_cap entries. */
static int
grow_cands(HnswSearch *sc, HnswCand **items, uint32_t *cap, uint32_t keep,
		   uint32_t new_cap)
{
	HnswCand   *p = hnsw_mem_alloc(&sc->alloc, &sc->mem_bytes,
								   sizeof(HnswCand) * (size_t) new_cap);

	if (p == NULL)
		return HNSW_ENOMEM;
	if (keep > 0)
		memcpy(p, *items, sizeof(HnswCand) * (size_t) keep);
	hnsw_mem_free(&sc->alloc, &sc->mem_bytes, *items,
				  sizeof(HnswCand) * (size_t) *cap);
	*items = p;
	*cap = new_cap;
	return HNSW_OK;
}

int
hnsw_heap_grow(HnswSearch *sc, HnswHeap *h, HnswError *err)
{
	uint32_t	new_cap;

	if (sc->frozen)
		return hnsw_fail(err, HNSW_ENOMEM, "a parallel build thread cannot grow its search heap");
	if (h->cap >= UINT32_MAX / 2)
		return hnsw_fail(err, HNSW_ENOMEM, "search heap cannot grow beyond %u entries",
						 h->cap);
	new_cap = h->cap < MIN_HEAP_CAP ? MIN_HEAP_CAP : h->cap * 2;
	if (grow_cands(sc, &h->items, &h->cap, h->size, new_cap) != HNSW_OK)
		return hnsw_fail(err, HNSW_ENOMEM,
						 "out of memory growing a search heap to %u entries", new_cap);
	return HNSW_OK;
}

int
hnsw_search_reserve(HnswSearch *sc, uint32_t n_nodes, uint32_t ef,
					HnswError *err)
{
	uint32_t	want = ef < UINT32_MAX - 1 ? ef + 1 : UINT32_MAX;

	if (sc->frozen && (sc->visited_cap < n_nodes || sc->res.cap < want ||
					   sc->layer_cap < want || sc->cand.cap < want))
		return hnsw_fail(err, HNSW_ENOMEM,
						 "a parallel build thread cannot grow its search buffers");
	if (sc->visited_cap < n_nodes)
	{
		uint64_t	cap = (uint64_t) sc->visited_cap * 2;
		uint32_t   *v;

		if (cap < n_nodes)
			cap = n_nodes;
		if (cap < MIN_VISITED_CAP)
			cap = MIN_VISITED_CAP;
		if (cap > UINT32_MAX)
			cap = UINT32_MAX;
		v = hnsw_mem_alloc(&sc->alloc, &sc->mem_bytes, sizeof(uint32_t) * (size_t) cap);
		if (v == NULL)
			return hnsw_fail(err, HNSW_ENOMEM,
							 "out of memory for the visited set of %u nodes", n_nodes);
		memset(v, 0, sizeof(uint32_t) * (size_t) cap);
		hnsw_mem_free(&sc->alloc, &sc->mem_bytes, sc->visited,
					  sizeof(uint32_t) * (size_t) sc->visited_cap);
		sc->visited = v;
		sc->visited_cap = (uint32_t) cap;
		sc->epoch = 0;			/* every stamp is 0: nothing is visited */
	}
	if (want < MIN_HEAP_CAP)
		want = MIN_HEAP_CAP;
	if ((sc->res.cap < want &&
		 grow_cands(sc, &sc->res.items, &sc->res.cap, sc->res.size, want) != HNSW_OK) ||
		(sc->cand.cap < want &&
		 grow_cands(sc, &sc->cand.items, &sc->cand.cap, sc->cand.size, want) != HNSW_OK) ||
		(sc->layer_cap < want &&
		 grow_cands(sc, &sc->layer, &sc->layer_cap, sc->layer_n, want) != HNSW_OK))
		return hnsw_fail(err, HNSW_ENOMEM,
						 "out of memory for search buffers of ef %u", ef);
	return HNSW_OK;
}

/*
 * Room for one more candidate in the full frontier heap (sc->cand) of a
 * layer search keeping ef results.  An ordinary context grows the heap.  A
 * frozen one first drops the candidates the search can no longer expand:
 * with ef results, those farther than the farthest result (the loop stops
 * before it reaches them, and the bound only tightens), which changes
 * nothing in the outcome.  A construction search (deleted nodes not
 * skipped) has at most ef other candidates, as every candidate it keeps is
 * also a result, so that always makes room, except when many candidates
 * are exactly as far as the farthest result; then the farthest candidate
 * is dropped, the one place where a thread's search can differ from the
 * serial one.
 */
int
hnsw_cand_room(HnswSearch *sc, uint32_t ef, HnswError *err)
{
	HnswHeap   *cand = &sc->cand;
	uint32_t	n = 0;
	uint32_t	i;

	if (!sc->frozen)
		return hnsw_heap_grow(sc, cand, err);
	if (sc->res.size >= ef && sc->res.size > 0)
	{
		float		bound = sc->res.items[0].dist;

		for (i = 0; i < cand->size; i++)
		{
			if (!(cand->items[i].dist > bound))
				cand->items[n++] = cand->items[i];
		}
	}
	else
		n = cand->size;
	if (n == cand->size)
	{
		uint32_t	worst = 0;

		/* nothing dead: drop the farthest (a leaf of the min-heap) */
		for (i = cand->size / 2; i < cand->size; i++)
		{
			if (hnsw_cand_before(cand->items[worst], cand->items[i]))
				worst = i;
		}
		cand->items[worst] = cand->items[--n];
	}
	/* rebuild the min-heap over the n kept */
	cand->size = 0;
	for (i = 0; i < n; i++)
		hnsw_minheap_push(cand, cand->items[i]);
	return HNSW_OK;
}

/*
 * Size sc for searches of n_nodes nodes with ef (construction: the
 * candidate heap gets twice the results' room) and freeze it.
 */
int
hnsw_search_freeze(HnswSearch *sc, uint32_t n_nodes, uint32_t ef,
				   HnswError *err)
{
	uint32_t	want = 2 * (ef + 1) + 2 * (uint32_t) sc->m;
	int			rc;

	sc->frozen = false;
	rc = hnsw_search_reserve(sc, n_nodes, ef, err);
	if (rc == HNSW_OK && sc->cand.cap < want &&
		grow_cands(sc, &sc->cand.items, &sc->cand.cap, sc->cand.size, want) != HNSW_OK)
		rc = hnsw_fail(err, HNSW_ENOMEM, "out of memory for a build thread's search heap");
	if (rc == HNSW_OK)
		sc->frozen = true;
	return rc;
}

int
hnsw_search_create(const HnswParams *p, const HnswAllocator *alloc,
				   HnswSearch **out, HnswError *err)
{
	int			rc;

	if (out == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "no place to return the search context");
	*out = NULL;
	rc = hnsw_params_validate_shape(p, err);
	if (rc != HNSW_OK)
		return rc;
	rc = hnsw_search_init(out, alloc, brainy_kernels(), p->dim, p->m,
						  p->metric, err);
	if (rc == HNSW_OK)
		hnsw_clear_error(err);
	return rc;
}

size_t
hnsw_search_memory_usage(const HnswSearch *sc)
{
	return sc == NULL ? 0 : sc->mem_bytes;
}
