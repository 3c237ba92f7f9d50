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
 *
 * One implementation of the algorithms, two kinds of graph
 *
 *	Insert, neighbour selection, repair and reconnect are written once,
 *	against an HnswGraph: either an in-memory HnswIndex, read and written in
 *	place, or an HnswStore, read and written through its callbacks.  The
 *	accessors below (hnsw_g_*) pick the way at run time with a branch that
 *	always goes the same way during an operation; the two hot loops (the
 *	layer search and the heuristic's distance loop) have a separate
 *	in-memory body, so the in-memory build pays neither callbacks nor
 *	copies.  Everything a store returns is checked (ids below n_nodes,
 *	counts within the layer's maximum, n_sel within the count) before it is
 *	used, and each vector read from a store goes through a small
 *	direct-mapped cache that lives for one operation.
 */
#ifndef BRAINY_HNSW_INTERNAL_H
#define BRAINY_HNSW_INTERNAL_H

#include <math.h>
#include <pthread.h>
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
extern int	hnsw_draw_level(uint64_t *state, double level_mult);

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
	float	   *bdist;			/* 2m: distances of a scored batch */

	/*
	 * A parallel build thread's context: sized up front and never grown
	 * (the thread must not call the allocator); see hnsw_cand_room.
	 */
	bool		frozen;
};

/* hnsw_search_ctx.c */
extern int	hnsw_search_init(HnswSearch **out, const HnswAllocator *alloc,
							 const BrainyKernels *k, int dim, int m,
							 HnswMetric metric, HnswError *err);
extern int	hnsw_search_reserve(HnswSearch *sc, uint32_t n_nodes, uint32_t ef,
								HnswError *err);
extern int	hnsw_heap_grow(HnswSearch *sc, HnswHeap *h, HnswError *err);
extern int	hnsw_cand_room(HnswSearch *sc, uint32_t ef, HnswError *err);
extern int	hnsw_search_freeze(HnswSearch *sc, uint32_t n_nodes, uint32_t ef,
							   HnswError *err);

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

/* ------------------------------------------------------------- workspace */

/* which hold buffer a store-mode caller keeps a vector in (see hnsw_g_vec) */
#define HNSW_HOLD_SEL	0		/* the candidate the heuristic tests */
#define HNSW_HOLD_BASE	1		/* the node a list is rebuilt or linked for */
#define HNSW_HOLD_LIST	2		/* the node whose list distances are recomputed */
#define HNSW_N_HOLD		3

/*
 * Scratch of insert, selection, repair and reconnect.  An HnswIndex has one
 * (the store-only part left NULL), an HnswWriter has one for stores.
 */
typedef struct HnswWork
{
	HnswAllocator alloc;
	size_t	   *bytes;			/* the owner's allocation count */
	HnswParams	params;
	int			m0;
	HnswDistance dist;
	HnswSearch *search;

	/* insert: the neighbours chosen per layer, m0 each */
	HnswCand   *sel;
	int			sel_n[HNSW_MAX_LEVEL + 1];
	uint32_t	sel_nsel[HNSW_MAX_LEVEL + 1];
	/* list pruning scratch: m0 + 1 each */
	HnswCand   *prune_in;
	HnswCand   *prune_keep;
	/* candidates the heuristic rejects: max(ef_construction, m0 + 1) */
	HnswCand   *drop;
	uint32_t	drop_cap;

	/* stores only (NULL in an index) */
	float	   *qbuf;			/* dim: the vector being inserted */
	float	   *hold[HNSW_N_HOLD];	/* dim each */
	uint32_t   *list_ids[2];	/* m0 + 1 each: lists read, by slot */
	float	   *list_dists[2];
	uint32_t   *out_ids;		/* m0 + 1: a list being written */
	float	   *out_dists;
	/* vector cache: direct-mapped, slot valid iff stamp == epoch */
	float	   *cache_vecs;		/* (cache_mask + 1) * dim */
	uint32_t   *cache_id;
	uint32_t   *cache_stamp;
	uint32_t	cache_mask;
	uint32_t	cache_epoch;
} HnswWork;

/* hnsw_work.c */
extern int	hnsw_work_init(HnswWork *w, const HnswAllocator *alloc,
						   size_t *bytes, const HnswParams *p,
						   const BrainyKernels *k, bool for_store,
						   HnswError *err);
extern void hnsw_work_free(HnswWork *w);

/* ----------------------------------------------------------------- index */

#define HNSW_NODE_DELETED	0x01	/* marked deleted: never returned */

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

#define HNSW_SEL_UNKNOWN HNSW_NSEL_UNKNOWN

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

	/* parallel build (hnsw_parallel.c) */
	uint32_t	n_staged;		/* ids n_nodes .. n_nodes + n_staged - 1 */
	HnswLinkJob *job;			/* linking runs: NULL when not */
	struct HnswSync *sync;		/* locks, while more than one thread links */

	HnswWork	work;			/* scratch of the algorithms; work.search is
								 * the index's own search context */
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

/*
 * Locks of a multi-threaded link job (see hnsw.h, "parallel build"): node
 * id's lists are guarded by node[id & mask], the entry point and top level
 * by global.
 */
typedef struct HnswSync
{
	pthread_mutex_t global;
	pthread_mutex_t *node;
	uint32_t	mask;
} HnswSync;

static inline void
hnsw_node_lock(const HnswIndex *idx, uint32_t id)
{
	pthread_mutex_lock(&idx->sync->node[id & idx->sync->mask]);
}

static inline void
hnsw_node_unlock(const HnswIndex *idx, uint32_t id)
{
	pthread_mutex_unlock(&idx->sync->node[id & idx->sync->mask]);
}

/*
 * Copy id's list at layer into buf (room for the layer's maximum) under the
 * node's lock, for searches while other threads link; the count.
 */
static inline int
hnsw_list_copy_locked(const HnswIndex *idx, uint32_t id, int layer,
					  uint32_t *buf)
{
	HnswList	l = hnsw_list(idx, id, layer);
	uint32_t	n;
	uint32_t	i;

	hnsw_node_lock(idx, id);
	n = l.hdr[0];
	for (i = 0; i < n; i++)
		buf[i] = l.ids[i];
	hnsw_node_unlock(idx, id);
	return (int) n;
}

/* hnsw_index.c */
extern int	hnsw_ensure_node_capacity(HnswIndex *idx, uint32_t n, HnswError *err);
extern uint32_t *hnsw_upper_alloc(HnswIndex *idx, int level);
extern void hnsw_node_fill(HnswIndex *idx, uint32_t id, const float *vec,
						   double scale, int level, uint64_t label,
						   uint32_t *upper);
extern void hnsw_upper_free(HnswIndex *idx, uint32_t *upper, int level);

/* ----------------------------------------------------------------- writer */

struct HnswWriter
{
	HnswAllocator alloc;
	size_t		mem_bytes;		/* everything below, and the struct */
	HnswWork	work;
};

/* ------------------------------------------------------------------ graph */

/*
 * The graph an algorithm runs on: an in-memory index (idx) or a store (st),
 * with the scratch to use and where errors go.  Algorithms return an HNSW_*
 * status; in memory nothing but allocation can fail.
 */
typedef struct HnswGraph
{
	HnswIndex  *idx;			/* in memory, or NULL */
	HnswStore  *st;				/* through callbacks, or NULL */
	HnswWork   *w;
	const HnswDistance *dist;
	HnswError  *err;
} HnswGraph;

/*
 * A neighbour list as read.  In memory it points at the list itself (and
 * changes to it go through hnsw_g_append/replace/write_list); from a store
 * it is a copy in the scratch buffers of its slot (0 or 1: two lists can be
 * held at once), with dists NULL until hnsw_g_list_dists when the store
 * has no read_list.
 */
typedef struct HnswNbrs
{
	uint32_t   *ids;
	float	   *dists;
	uint32_t	n;
	uint32_t	n_sel;
	uint32_t   *hdr;			/* in memory: the list's header, else NULL */
	int			slot;
} HnswNbrs;

/* per-node byte of hnsw_g_load_info */
#define HNSW_INFO_DELETED 0x80
#define HNSW_INFO_LEVEL 0x7f

/* hnsw_graph.c */
extern void hnsw_graph_of_index(HnswGraph *g, HnswIndex *idx, HnswError *err);
extern void hnsw_graph_of_store(HnswGraph *g, HnswStore *st, HnswWork *w,
								HnswError *err);
extern int	hnsw_store_begin(HnswGraph *g, HnswWriter *w, HnswStore *st,
							 HnswError *err);
extern int	hnsw_g_reserve(HnswGraph *g, uint32_t n_nodes);
extern int	hnsw_g_load_info(HnswGraph *g, uint8_t *info);
extern const float *hnsw_store_vec(HnswGraph *g, uint32_t id, int hold);
extern void hnsw_store_cache_put(HnswWork *w, uint32_t id, const float *vec);
extern int	hnsw_store_read_list(HnswGraph *g, uint32_t id, int layer, int slot,
								 HnswNbrs *l);
extern int	hnsw_g_list_dists(HnswGraph *g, uint32_t id, HnswNbrs *l);
extern int	hnsw_g_write_list(HnswGraph *g, uint32_t id, int layer,
							  const HnswCand *c, int n, uint32_t n_sel);
extern int	hnsw_g_append(HnswGraph *g, uint32_t id, int layer, HnswNbrs *l,
						  HnswCand link);
extern int	hnsw_g_replace(HnswGraph *g, uint32_t id, int layer, HnswNbrs *l,
						   uint32_t pos, HnswCand c);
extern int	hnsw_g_set_entry(HnswGraph *g, uint32_t id, int level);
extern int	hnsw_g_greedy(HnswGraph *g, const float *q, HnswCand *ep,
						  int from_layer, int to_layer);
extern int	hnsw_g_search_layer(HnswGraph *g, const float *q,
								const HnswCand *seeds, int n_seeds, int layer,
								int ef, bool skip_deleted);

static inline uint32_t
hnsw_g_n_nodes(const HnswGraph *g)
{
	return g->idx != NULL ? g->idx->n_nodes : g->st->n_nodes;
}

static inline uint32_t
hnsw_g_entry(const HnswGraph *g)
{
	return g->idx != NULL ? g->idx->entry : g->st->entry_point;
}

static inline int
hnsw_g_max_level(const HnswGraph *g)
{
	return g->idx != NULL ? g->idx->max_level : g->st->max_level;
}

/*
 * A node's vector, or NULL after a store failure (err set).  In memory, a
 * pointer into the index.  From a store: with hold < 0 a pointer valid
 * until the next hnsw_g_vec; with hold = HNSW_HOLD_*, a copy in that hold
 * buffer, valid until that buffer is used again.
 */
static inline const float *
hnsw_g_vec(HnswGraph *g, uint32_t id, int hold)
{
	if (g->idx != NULL)
		return hnsw_vec(g->idx, id);
	return hnsw_store_vec(g, id, hold);
}

/* Read id's list at layer (<= its level) into *l; see HnswNbrs. */
static inline int
hnsw_g_read_list(HnswGraph *g, uint32_t id, int layer, int slot, HnswNbrs *l)
{
	if (g->idx != NULL)
	{
		HnswList	ml = hnsw_list(g->idx, id, layer);

		l->ids = ml.ids;
		l->dists = ml.dists;
		l->n = ml.hdr[0];
		l->n_sel = ml.hdr[1];
		l->hdr = ml.hdr;
		l->slot = slot;
		return HNSW_OK;
	}
	return hnsw_store_read_list(g, id, layer, slot, l);
}

/* ------------------------------------------------------------- algorithms */

/* hnsw_search.c (the results land in sc->layer) */
extern void hnsw_greedy_descend(HnswSearch *sc, const HnswIndex *idx,
								const float *q, HnswCand *ep, int from_layer,
								int to_layer);
extern int	hnsw_search_layer(HnswSearch *sc, const HnswIndex *idx,
							  const float *q, const HnswCand *seeds,
							  int n_seeds, int layer, int ef,
							  bool skip_deleted, HnswError *err);
extern int	hnsw_source_greedy(HnswSearch *sc, const HnswSource *src,
							   const float *q, HnswCand *ep, int from_layer,
							   int to_layer, HnswError *err);
extern int	hnsw_source_layer(HnswSearch *sc, const HnswSource *src,
							  const float *q, const HnswCand *seeds,
							  int n_seeds, int layer, int ef,
							  bool skip_deleted, HnswError *err);

/* hnsw_select.c */
extern void hnsw_sort_cands(HnswCand *c, int n);
extern int	hnsw_select_neighbours(HnswGraph *g, const HnswCand *cand, int n,
								   int max, HnswCand *keep, HnswCand *drop,
								   int *n_keep, uint32_t *n_sel);
extern void hnsw_write_list(HnswIndex *idx, uint32_t node, int layer,
							const HnswCand *keep, int n, uint32_t n_sel);
extern int	hnsw_add_link(HnswGraph *g, uint32_t node, int layer,
						  HnswCand link);

/*
 * hnsw_insert.c: phase 1 of an insert (reads only), into w->sel; never
 * selects exclude, nor, when info is given, a node it marks deleted
 */
extern int	hnsw_insert_search(HnswGraph *g, const float *q, int level,
							   uint32_t exclude, const uint8_t *info, int *top);
/* the same from a given entry point and top level (parallel build) */
extern int	hnsw_insert_search_from(HnswGraph *g, const float *q, int level,
									uint32_t exclude, const uint8_t *info,
									uint32_t entry, int max_level, int *top);

/* hnsw_delete.c */
extern uint32_t hnsw_highest_live(const uint8_t *info, uint32_t n);
extern int	hnsw_repair_run(HnswGraph *g);

/* hnsw_reconnect.c */
extern int	hnsw_make_entry(HnswGraph *g, uint32_t e, int level,
							const uint8_t *info);
extern int	hnsw_reconnect_run(HnswGraph *g, uint32_t *n_fixed);

#endif							/* BRAINY_HNSW_INTERNAL_H */
