/*
 * hnsw_heap.h - binary heaps of (distance, node id) candidates.
 *
 * Owns the candidate type and the two heaps the search loop needs: a
 * min-heap (nearest first: the frontier still to expand) and a max-heap
 * (farthest first: the best ef found so far, whose top is the bound to
 * beat).  Candidates order by distance, then by id, so equal distances
 * order the same way on every run.  Inline because they are the search's
 * hot path; capacity is the caller's job (push assumes room, see
 * hnsw_heap_reserve in hnsw_search_ctx.c).
 */
#ifndef BRAINY_HNSW_HEAP_H
#define BRAINY_HNSW_HEAP_H

#include <stdint.h>

typedef struct HnswCand
{
	float		dist;
	uint32_t	id;
} HnswCand;

typedef struct HnswHeap
{
	HnswCand   *items;
	uint32_t	size;
	uint32_t	cap;
} HnswHeap;

/* Does a come before b (nearer, or as near with a smaller id)? */
static inline int
hnsw_cand_before(HnswCand a, HnswCand b)
{
	return a.dist < b.dist || (a.dist == b.dist && a.id < b.id);
}

/* ---- min-heap: items[0] is the nearest */

static inline void
hnsw_minheap_push(HnswHeap *h, HnswCand c)
{
	uint32_t	i = h->size++;

	while (i > 0)
	{
		uint32_t	parent = (i - 1) / 2;

		if (!hnsw_cand_before(c, h->items[parent]))
			break;
		h->items[i] = h->items[parent];
		i = parent;
	}
	h->items[i] = c;
}

static inline HnswCand
hnsw_minheap_pop(HnswHeap *h)
{
	HnswCand	top = h->items[0];
	HnswCand	last = h->items[--h->size];
	uint32_t	n = h->size;
	uint32_t	i = 0;

	for (;;)
	{
		uint32_t	child = 2 * i + 1;

		if (child >= n)
			break;
		if (child + 1 < n && hnsw_cand_before(h->items[child + 1], h->items[child]))
			child++;
		if (!hnsw_cand_before(h->items[child], last))
			break;
		h->items[i] = h->items[child];
		i = child;
	}
	if (n > 0)
		h->items[i] = last;
	return top;
}

/* ---- max-heap: items[0] is the farthest */

static inline void
hnsw_maxheap_sift_down(HnswHeap *h, uint32_t i, HnswCand c)
{
	uint32_t	n = h->size;

	for (;;)
	{
		uint32_t	child = 2 * i + 1;

		if (child >= n)
			break;
		if (child + 1 < n && hnsw_cand_before(h->items[child], h->items[child + 1]))
			child++;
		if (!hnsw_cand_before(c, h->items[child]))
			break;
		h->items[i] = h->items[child];
		i = child;
	}
	h->items[i] = c;
}

static inline void
hnsw_maxheap_push(HnswHeap *h, HnswCand c)
{
	uint32_t	i = h->size++;

	while (i > 0)
	{
		uint32_t	parent = (i - 1) / 2;

		if (!hnsw_cand_before(h->items[parent], c))
			break;
		h->items[i] = h->items[parent];
		i = parent;
	}
	h->items[i] = c;
}

static inline HnswCand
hnsw_maxheap_pop(HnswHeap *h)
{
	HnswCand	top = h->items[0];
	HnswCand	last = h->items[--h->size];

	if (h->size > 0)
		hnsw_maxheap_sift_down(h, 0, last);
	return top;
}

/* Replace the farthest item by c (size unchanged; size must be > 0). */
static inline void
hnsw_maxheap_replace_top(HnswHeap *h, HnswCand c)
{
	hnsw_maxheap_sift_down(h, 0, c);
}

#endif							/* BRAINY_HNSW_HEAP_H */
