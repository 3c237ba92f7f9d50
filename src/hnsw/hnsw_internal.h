/*
 * hnsw_internal.h - what the engine's files share among themselves.
 *
 * Owns the layouts of HnswIndex and HnswSearch, the inline node accessors
 * and distance call of the hot path, and the prototypes of the engine's
 * internal functions.  Not for callers outside src/hnsw (they use hnsw.h).
 *
 * Memory layout of the in-memory index
 *
 *	Nodes live in chunks of 2^chunk_shift nodes, one allocation each (about
 *	1 MiB; never moved once allocated, so pointers into them stay valid while
 *	the index grows).  A chunk holds, for each of its nodes:
 *	  - the vector: vec_stride floats (dim rounded up so vectors start on
 *		16-byte, and for dim >= 128 on 64-byte, boundaries),
 *	  - the layer-0 neighbour list: a header of 2 uint32 (count, n_sel) and
 *		2m ids, and separately 2m floats: each neighbour's distance,
 *	  - an HnswNode (label, level, flags, pointer to the upper-layer lists).
 *	A node with level L > 0 has one more allocation: L list headers and id
 *	arrays of 2 + m uint32, then L arrays of m distances, for layers 1 .. L.
 *	The chunk directory is a growable array.
 *
 *	A list keeps each neighbour's distance from its node, and n_sel: when
 *	known, its first n_sel entries are the ones the heuristic selected and
 *	the rest the ones it rejected (each group nearest first), which lets an
 *	overflowing list be re-selected incrementally (see hnsw_select.c).
 *	HNSW_SEL_UNKNOWN means the list is not in that form.
 */
#ifndef BRAINY_HNSW_INTERNAL_H
#define BRAINY_HNSW_INTERNAL_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "distance.h"
#include "hnsw.h"
#include "hnsw_heap.h"

#if defined(__GNUC__)
#define HNSW_ALWAYS_INLINE inline __attribute__((always_inline))
#define HNSW_LIKELY(x) __builtin_expect(!!(x), 1)
#define HNSW_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define HNSW_PREFETCH(p) __builtin_prefetch(p)
#define HNSW_PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define HNSW_ALWAYS_INLINE inline
#define HNSW_LIKELY(x) (x)
#define HNSW_UNLIKELY(x) (x)
#define HNSW_PREFETCH(p) ((void) 0)
#define HNSW_PRINTF_LIKE(f, a)
#endif

/* ---------------------------------------------------------------- errors */

/* hnsw_error.c */
extern int	hnsw_fail(HnswError *err, int code, const char *fmt,...) HNSW_PRINTF_LIKE(3, 4);
extern void hnsw_clear_error(HnswError *err);

/* ---------------------------------------------------------------- memory */

/* hnsw_memory.c: allocation through an HnswAllocator, counted in *bytes */
extern void hnsw_allocator_copy(HnswAllocator *dst, const HnswAllocator *src);
extern void *hnsw_mem_alloc(const HnswAllocator *a, size_t *bytes, size_t size);
extern void hnsw_mem_free(const HnswAllocator *a, size_t *bytes, void *ptr,
						  size_t size);

/* -------------------------------------------------------------- distance */

typedef float (*HnswKernel) (const float *a, const float *b, int n);

/* distance = offset + scale * kernel(a, b, dim) */
typedef struct HnswDistance
{
	HnswKernel	kernel;
	float		offset;
	float		scale;
	int			dim;
	HnswMetric	metric;
} HnswDistance;

/* hnsw_metric.c */
extern void hnsw_distance_init(HnswDistance *d, const BrainyKernels *k,
							   HnswMetric metric, int dim);
extern float hnsw_distance_slow(const HnswDistance *d, const float *a,
								const float *b);
extern int	hnsw_vector_check(HnswMetric metric, const float *v, int dim,
							  double *scale, HnswError *err);
extern void hnsw_vector_store(float *dst, const float *src, int dim,
							  double scale);

/*
 * The distance of the hot path.  A float kernel overflows only on huge
 * inputs (and the inner product can then give inf - inf = NaN); those rare
 * cases are recomputed in double so the ordering never sees a NaN.
 */
static inline float
hnsw_distance(const HnswDistance *d, const float *a, const float *b)
{
	float		r = d->kernel(a, b, d->dim);

	if (HNSW_UNLIKELY(!isfinite(r)))
		return hnsw_distance_slow(d, a, b);
	return d->offset + d->scale * r;
}

/* ------------------------------------------------------------ parameters */

/* hnsw_params.c: dim, m and metric only (what a search context needs) */
extern int	hnsw_params_validate_shape(const HnswParams *p, HnswError *err);

/* hnsw_level.c */
extern uint64_t hnsw_rng_next(uint64_t *state);
extern int	hnsw_random_level(uint64_t *state, double level_mult);

/* Most neighbours a node keeps at layer. */
static inline int
hnsw_layer_max(int m, int layer)
{
	return layer == 0 ? 2 * m : m;
}

/* -------------------------------------------------------- search context */

struct HnswSearch
{
	HnswAllocator alloc;
	size_t		mem_bytes;		/* everything below */
	int			dim;
	int			m;
	HnswMetric	metric;
	HnswDistance dist;

	/* visited set: node id is visited iff visited[id] == epoch */
	uint32_t   *visited;
	uint32_t	visited_cap;
	uint32_t	epoch;

	HnswHeap	cand;			/* min-heap: frontier */
	HnswHeap	res;			/* max-heap: best ef so far */

	/* result of the last layer search, nearest first */
	HnswCand   *layer;
	uint32_t	layer_cap;
	uint32_t	layer_n;

	uint32_t   *batch;			/* 2m: unvisited neighbours of one node */
	uint32_t   *nbuf;			/* 2m: neighbour buffer for sources */
	float	   *query;			/* dim: the prepared query */
	float	   *vbuf;			/* dim: vector buffer for sources */
};

/* hnsw_search_ctx.c */
extern int	hnsw_search_init(HnswSearch **out, const HnswAllocator *alloc,
							 const BrainyKernels *k, int dim, int m,
							 HnswMetric metric, HnswError *err);
extern int	hnsw_search_reserve(HnswSearch *sc, uint32_t n_nodes, uint32_t ef,
								HnswError *err);
extern int	hnsw_heap_grow(HnswSearch *sc, HnswHeap *h, HnswError *err);

/* Start a new visited set (O(1) except once every 2^32 searches). */
static inline void
hnsw_visited_reset(HnswSearch *sc)
{
	if (HNSW_UNLIKELY(++sc->epoch == 0))
	{
		uint32_t	i;

		for (i = 0; i < sc->visited_cap; i++)
			sc->visited[i] = 0;
		sc->epoch = 1;
	}
}

/* Mark id visited; returns whether it already was. */
static inline bool
hnsw_visited_test_and_set(HnswSearch *sc, uint32_t id)
{
	if (sc->visited[id] == sc->epoch)
		return true;
	sc->visited[id] = sc->epoch;
	return false;
}

/* ----------------------------------------------------------------- index */

#define HNSW_NODE_DELETED	0x01	/* marked deleted: never returned */
#define HNSW_NODE_UNLINKED	0x02	/* deleted and repaired: no edges */

typedef struct HnswNode
{
	uint64_t	label;
	uint32_t   *upper;			/* slots of layers 1..level, or NULL */
	uint8_t		level;
	uint8_t		flags;
} HnswNode;

typedef struct HnswChunk
{
	void	   *raw;			/* as allocated (freed with raw_size) */
	size_t		raw_size;
	float	   *vectors;
	uint32_t   *links0;			/* headers and ids of the layer-0 lists */
	float	   *dists0;			/* distances of the layer-0 lists */
	HnswNode   *nodes;
} HnswChunk;

#define HNSW_SEL_UNKNOWN UINT32_MAX

/* A node's neighbour list at one layer, in place. */
typedef struct HnswList
{
	uint32_t   *hdr;			/* hdr[0]: count; hdr[1]: n_sel */
	uint32_t   *ids;			/* up to the layer's max */
	float	   *dists;			/* distance from the node, per id */
} HnswList;

struct HnswIndex
{
	HnswParams	params;
	HnswAllocator alloc;
	size_t		mem_bytes;		/* allocated by the index, not by search */
	const BrainyKernels *kernels;
	HnswDistance dist;
	int			m;				/* max neighbours on upper layers */
	int			m0;				/* max neighbours on layer 0 (2m) */
	double		level_mult;		/* 1 / ln(m) */
	uint64_t	rng;			/* level generator state */

	size_t		vec_stride;		/* floats per vector */
	size_t		link0_stride;	/* uint32 per layer-0 list: 2 + m0 */
	size_t		upper_stride;	/* uint32 per upper-layer list: 2 + m */
	uint32_t	chunk_shift;
	uint32_t	chunk_mask;
	HnswChunk  *chunks;
	uint32_t	n_chunks;
	uint32_t	chunks_alloc;

	uint32_t	n_nodes;
	uint32_t	n_deleted;		/* marked deleted, repaired or not */
	uint32_t	n_pending;		/* marked deleted, not yet repaired */
	uint32_t	entry;			/* HNSW_NO_NODE when no live node is linked */
	int			max_level;		/* entry's level, -1 when empty */

	HnswSearch *search;			/* the index's own search context */

	/* insert scratch: the neighbours chosen per layer, m0 each */
	HnswCand   *sel;
	int			sel_n[HNSW_MAX_LEVEL + 1];
	uint32_t	sel_nsel[HNSW_MAX_LEVEL + 1];
	/* list pruning scratch: m0 + 1 each */
	HnswCand   *prune_in;
	HnswCand   *prune_keep;
	/* candidates the heuristic rejects: max(ef_construction, m0 + 1) */
	HnswCand   *drop;
	uint32_t	drop_cap;
};

static inline HnswChunk *
hnsw_chunk_of(const HnswIndex *idx, uint32_t id)
{
	return &idx->chunks[id >> idx->chunk_shift];
}

static inline HnswNode *
hnsw_node(const HnswIndex *idx, uint32_t id)
{
	return &hnsw_chunk_of(idx, id)->nodes[id & idx->chunk_mask];
}

static inline float *
hnsw_vec(const HnswIndex *idx, uint32_t id)
{
	return hnsw_chunk_of(idx, id)->vectors +
		(size_t) (id & idx->chunk_mask) * idx->vec_stride;
}

/* The list of id at layer (<= its level). */
static inline HnswList
hnsw_list(const HnswIndex *idx, uint32_t id, int layer)
{
	HnswList	l;

	if (layer == 0)
	{
		const HnswChunk *c = hnsw_chunk_of(idx, id);
		size_t		off = id & idx->chunk_mask;

		l.hdr = c->links0 + off * idx->link0_stride;
		l.dists = c->dists0 + off * (size_t) idx->m0;
	}
	else
	{
		const HnswNode *node = hnsw_node(idx, id);

		l.hdr = node->upper + (size_t) (layer - 1) * idx->upper_stride;
		l.dists = (float *) (node->upper + (size_t) node->level * idx->upper_stride) +
			(size_t) (layer - 1) * (size_t) idx->m;
	}
	l.ids = l.hdr + 2;
	return l;
}

static inline bool
hnsw_deleted(const HnswIndex *idx, uint32_t id)
{
	return (hnsw_node(idx, id)->flags & HNSW_NODE_DELETED) != 0;
}

/* hnsw_index.c */
extern int	hnsw_ensure_node_capacity(HnswIndex *idx, uint32_t n, HnswError *err);
extern uint32_t *hnsw_upper_alloc(HnswIndex *idx, int level);
extern void hnsw_upper_free(HnswIndex *idx, uint32_t *upper, int level);

/* ------------------------------------------------------------- algorithms */

/* hnsw_search.c (in-memory index; the results land in sc->layer) */
extern void hnsw_greedy_descend(HnswSearch *sc, const HnswIndex *idx,
								const float *q, HnswCand *ep, int from_layer,
								int to_layer);
extern int	hnsw_search_layer(HnswSearch *sc, const HnswIndex *idx,
							  const float *q, const HnswCand *seeds,
							  int n_seeds, int layer, int ef,
							  bool skip_deleted, HnswError *err);

/* hnsw_select.c */
extern void hnsw_sort_cands(HnswCand *c, int n);
extern int	hnsw_select_neighbours(const HnswIndex *idx, const HnswCand *cand,
								   int n, int max, HnswCand *keep,
								   HnswCand *drop, uint32_t *n_sel);
extern void hnsw_write_list(HnswIndex *idx, uint32_t node, int layer,
							const HnswCand *keep, int n, uint32_t n_sel);
extern void hnsw_add_link(HnswIndex *idx, uint32_t node, int layer,
						  HnswCand link);

/* hnsw_reconnect.c: uses sc for its searches */
extern int	hnsw_reconnect_internal(HnswIndex *idx, uint32_t *n_fixed,
									HnswError *err);

#endif							/* BRAINY_HNSW_INTERNAL_H */
