/*
 * hnsw.h - public interface of the HNSW engine.
 *
 * Plain C: no PostgreSQL headers.  Owns the vocabulary every caller of the
 * engine shares: status codes and error reports, build parameters, the
 * in-memory index (HnswIndex: build by insert, k-NN search, delete and
 * repair, structural check), the read-only storage interface (HnswSource)
 * through which the same search and check run over any other graph store,
 * and the read-write storage interface (HnswStore) through which the same
 * insert, repair and reconnect run over it, such as the index access
 * method's pages.
 *
 * Conventions
 *
 *	- Every fallible function returns an int status (HNSW_OK or an HNSW_E*
 *	  code) and, when err is not NULL, writes the code and a one-line message
 *	  into *err.  Nothing here calls exit() or abort().
 *	- On any error the index is left exactly as it was before the call (an
 *	  insert that fails inserts nothing), except where a function says
 *	  otherwise (hnsw_repair_deleted, hnsw_reconnect: a valid graph always).
 *	  A store's callbacks can fail part way through an operation: what that
 *	  leaves, and what heals it, is under "Interrupted operations" below.
 *	- Memory comes from an HnswAllocator (NULL means malloc/free).  The index
 *	  owns copies of everything it is given; callers keep ownership of their
 *	  own buffers.
 *	- Node ids are dense: the i-th successful insert gets id i - 1.  They are
 *	  never reused (deleted nodes keep their ids).
 *	- Distances are the metric's internal distance (see HnswMetric); smaller
 *	  is nearer.
 *	- Not thread-safe: an HnswIndex or HnswSearch is used by one thread at a
 *	  time.  Searches through separate HnswSearch contexts may run
 *	  concurrently on an index that is not being modified.  The one
 *	  exception is the parallel build ("parallel build" below), which runs
 *	  its own threads inside the engine.
 */
#ifndef BRAINY_HNSW_H
#define BRAINY_HNSW_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- status */

#define HNSW_OK			0
#define HNSW_EINVAL		1		/* invalid argument (parameters, vector, id) */
#define HNSW_ENOMEM		2		/* an allocation failed */
#define HNSW_EFULL		3		/* node id space exhausted */
#define HNSW_ESOURCE	4		/* a storage callback failed or returned bad data */
#define HNSW_ECORRUPT	5		/* the structural check found a problem */
#define HNSW_ECANCELED	6		/* a parallel build was cancelled */

#define HNSW_ERRMSG_LEN 256

typedef struct HnswError
{
	int			code;			/* HNSW_OK or the code last returned */
	char		message[HNSW_ERRMSG_LEN];	/* "" when code == HNSW_OK */
} HnswError;

/* Static name of a status code ("out of memory", ...). */
extern const char *hnsw_strerror(int code);

/* ------------------------------------------------------------ parameters */

#define HNSW_MIN_DIM 1
#define HNSW_MAX_DIM 16000
#define HNSW_MIN_M 2
#define HNSW_MAX_M 100
#define HNSW_DEFAULT_M 16
#define HNSW_MIN_EF_CONSTRUCTION 4
#define HNSW_MAX_EF_CONSTRUCTION 1000
#define HNSW_DEFAULT_EF_CONSTRUCTION 64
#define HNSW_DEFAULT_SEED UINT64_C(0x5DEECE66D)

/*
 * Highest level a node can get.  Levels are drawn as floor(-ln(U) / ln(m));
 * P(level >= L) = m^-L, so for m >= 4 the cap is never reached in practice
 * (4^-16 = 2e-10), and even for m = 2 only one node in 65536 is capped.
 * The cap bounds per-node memory and the on-disk level field.
 */
#define HNSW_MAX_LEVEL 16

/* No node: empty graph's entry point, absent results. */
#define HNSW_NO_NODE UINT32_MAX
/* Ids run from 0 to HNSW_MAX_NODES - 1. */
#define HNSW_MAX_NODES (UINT32_MAX - 1)

typedef enum HnswMetric
{
	HNSW_L2 = 0,				/* squared Euclidean distance (orders like L2) */
	HNSW_IP = 1,				/* -(a . b), negative inner product */
	HNSW_COSINE = 2,			/* 1 - (a . b) of unit vectors; vectors are
								 * normalised on insert and zero vectors are
								 * rejected (HNSW_EINVAL) */
	HNSW_L1 = 3					/* sum |a - b| */
} HnswMetric;

typedef struct HnswParams
{
	int			dim;			/* HNSW_MIN_DIM .. HNSW_MAX_DIM */
	int			m;				/* HNSW_MIN_M .. HNSW_MAX_M; layer 0 keeps up
								 * to 2 * m neighbours, upper layers m */
	int			ef_construction;	/* 4 .. 1000, and >= 2 * m */
	HnswMetric	metric;
	uint64_t	seed;			/* seeds the level generator */
} HnswParams;

/* Defaults: m 16, ef_construction 64, HNSW_DEFAULT_SEED. */
extern void hnsw_params_default(HnswParams *p, int dim, HnswMetric metric);

/* HNSW_OK, or HNSW_EINVAL naming the first bad field and its range. */
extern int	hnsw_params_validate(const HnswParams *p, HnswError *err);

/* "l2", "ip", "cosine", "l1", or "unknown". */
extern const char *hnsw_metric_name(HnswMetric metric);

/*
 * Exact distances outside a graph (rows an index has not linked yet):
 * hnsw_vector_prepare checks v (finite; non-zero under cosine) and writes
 * to out what the engine stores for it (normalised under cosine);
 * hnsw_distances_strided writes to out[i] the distance the engine computes
 * (the figure a search of a graph gives) between the prepared query and
 * the i-th of n prepared vectors, which start at first and follow each
 * other every stride bytes.
 */
extern int	hnsw_vector_prepare(HnswMetric metric, const float *v, int dim,
								float *out, HnswError *err);
extern void hnsw_distances_strided(HnswMetric metric, const float *query,
								   const void *first, size_t stride, int n,
								   int dim, float *out);

/*
 * Draw a node's level from the level generator: floor(-ln(U) / ln(m)), U
 * from splitmix64 on *state, capped at HNSW_MAX_LEVEL.  hnsw_insert draws
 * its levels this way from a state that starts at params.seed and advances
 * once per successful insert; a caller of hnsw_store_insert that keeps its
 * own state (the access method: in its metapage), starts it at the same
 * seed and advances it the same way gets the same levels, hence the same
 * graph.  Returns -1 (and leaves *state alone) when m is out of range or
 * state is NULL.
 */
extern int	hnsw_random_level(int m, uint64_t *state);

/* ------------------------------------------------------------- allocator */

/*
 * Where the engine's memory comes from.  alloc returns NULL on failure (the
 * engine then returns HNSW_ENOMEM); free gets the size that was allocated.
 * Memory need not be zeroed or more than 8-byte aligned.
 */
typedef struct HnswAllocator
{
	void	   *(*alloc) (void *ctx, size_t size);
	void		(*free) (void *ctx, void *ptr, size_t size);
	void	   *ctx;
} HnswAllocator;

/* ---------------------------------------------------------------- search */

typedef struct HnswResult
{
	uint64_t	label;			/* the caller's label given at insert */
	float		distance;		/* internal distance to the query */
	uint32_t	id;				/* node id */
} HnswResult;

/*
 * A search context: scratch memory for searches (visited set, heaps,
 * buffers), allocated once and grown as needed, so steady-state searches do
 * not allocate.  One per concurrent searcher.
 */
typedef struct HnswSearch HnswSearch;

/* ------------------------------------------------------- in-memory index */

typedef struct HnswIndex HnswIndex;

/* Validate p and create an empty index.  alloc may be NULL (malloc). */
extern int	hnsw_create(const HnswParams *p, const HnswAllocator *alloc,
						HnswIndex **out, HnswError *err);

/* Free the index and everything it owns.  NULL is a no-op. */
extern void hnsw_destroy(HnswIndex *idx);

extern const HnswParams *hnsw_get_params(const HnswIndex *idx);

/* Number of nodes ever inserted (ids are 0 .. hnsw_size() - 1). */
extern uint32_t hnsw_size(const HnswIndex *idx);

/* Number of nodes not marked deleted. */
extern uint32_t hnsw_live_count(const HnswIndex *idx);

/*
 * Bytes currently allocated by the index (node storage, neighbour lists,
 * scratch), as requested from the allocator.  Node storage grows in chunks
 * of at most about 1 MiB, so an insert can raise this by that much.
 */
extern size_t hnsw_memory_usage(const HnswIndex *idx);

/*
 * Would vec be accepted by hnsw_insert?  HNSW_EINVAL for a non-finite
 * element, or for a zero vector under HNSW_COSINE.
 */
extern int	hnsw_check_vector(const HnswIndex *idx, const float *vec,
							  HnswError *err);

/*
 * Insert a copy of vec (dim floats) with the caller's label.  Sets *id_out
 * (may be NULL) to the new node's id.  HNSW_EINVAL for a vector
 * hnsw_check_vector rejects, HNSW_ENOMEM, HNSW_EFULL; on error nothing is
 * inserted.
 */
extern int	hnsw_insert(HnswIndex *idx, const float *vec, uint64_t label,
						uint32_t *id_out, HnswError *err);

/*
 * The k nearest live nodes to query, best first, into out[0 .. *n_out - 1]
 * (out has room for k).  ef is the search breadth; values below k (including
 * 0 and negative) mean k.  Fewer than k results when fewer live nodes are
 * reachable.  Deleted nodes are never returned, but searches still pass
 * through them until hnsw_repair_deleted() unlinks them.  HNSW_EINVAL for
 * k < 1 or a query hnsw_check_vector rejects.  Uses the index's own search
 * context; use hnsw_search_knn with hnsw_index_source for concurrent
 * searches.
 */
extern int	hnsw_knn(HnswIndex *idx, const float *query, int k, int ef,
					 HnswResult *out, int *n_out, HnswError *err);

/*
 * Mark node id deleted: searches stop returning it at once.  Marking a
 * deleted node again is a no-op.  HNSW_EINVAL for an id out of range.
 */
extern int	hnsw_mark_deleted(HnswIndex *idx, uint32_t id, HnswError *err);

/* 1 if id is marked deleted, 0 if live, -1 if out of range. */
extern int	hnsw_is_deleted(const HnswIndex *idx, uint32_t id);

/*
 * Repair the graph around nodes marked deleted since the last repair: every
 * live node that links to a deleted node gets its list at that layer rebuilt
 * from its live neighbours plus the live neighbours of its deleted
 * neighbours (heuristic selection); the entry point moves to the
 * highest-level live node if it was deleted; deleted nodes lose all their
 * edges, in and out; finally hnsw_reconnect().  Like an insert, a rebuilt
 * list's new neighbours get a link back (hnsw_add_link rules), so nodes
 * whose incoming edges came from deleted nodes are linked again.
 * Afterwards hnsw_check with HNSW_CHECK_ALL passes.  Deleted nodes keep
 * their ids and memory.  No-op when nothing was marked since the last
 * repair.  On HNSW_ENOMEM before any change the index is unchanged; if only
 * the final hnsw_reconnect fails, the deleted nodes are already unlinked
 * (a valid graph) and the message says to call hnsw_reconnect again.
 */
extern int	hnsw_repair_deleted(HnswIndex *idx, HnswError *err);

/*
 * Make every live node reachable at layer 0 from the entry point.  HNSW's
 * pruning can, rarely, drop every edge into a node (most often among exact
 * duplicates); this finds such nodes and links each one from a nearby
 * reachable node, replacing an edge that is not needed for reachability,
 * so no other node becomes unreachable.  Also gives such a node more out
 * edges when it has fewer than m.  Called by hnsw_repair_deleted; worth
 * calling once after a bulk build (Fashion-MNIST: 300 of 60,000 nodes are
 * unreachable after the build; fixing them takes 0.07 s).  *n_fixed (may
 * be NULL) gets the number of nodes that had to be linked.  On failure
 * (HNSW_ENOMEM) the nodes fixed so far stay fixed.  First, if a live node
 * is above the entry point's level, it becomes the entry point (an index
 * never has one; a store's interrupted insert can leave one, see
 * hnsw_store_reconnect).
 */
extern int	hnsw_reconnect(HnswIndex *idx, uint32_t *n_fixed, HnswError *err);

/* ---- read access to nodes (for tests, and for writing the graph out) */

/* Entry point (HNSW_NO_NODE when empty) and its level (-1 when empty). */
extern uint32_t hnsw_entry_point(const HnswIndex *idx);
extern int	hnsw_max_level(const HnswIndex *idx);

/* Level of node id, or -1 if out of range. */
extern int	hnsw_node_level(const HnswIndex *idx, uint32_t id);

/* Label of node id (0 if out of range). */
extern uint64_t hnsw_node_label(const HnswIndex *idx, uint32_t id);

/* The stored (under cosine: normalised) vector, or NULL if out of range. */
extern const float *hnsw_node_vector(const HnswIndex *idx, uint32_t id);

/*
 * Neighbour count of node id at layer, with *list pointing at the ids (valid
 * until the index is next modified); -1 if id or layer is out of range.
 */
extern int	hnsw_node_neighbours(const HnswIndex *idx, uint32_t id, int layer,
								 const uint32_t **list);

/* -------------------------------------------------- storage interface */

/*
 * A read-only view of a graph, for searching and checking graphs the engine
 * does not hold in memory.  Node ids are dense (0 .. n_nodes - 1): the
 * search keeps its visited set as an array indexed by id.  Callbacks may
 * return data through the buffers they are given or point into their own
 * storage; a returned pointer must stay valid until the next call that is
 * given the same buffer.
 */
/* one distance as the engine computes it (metric, scaling, overflow) */
typedef float (*HnswScoreFn) (const void *dctx, const float *q, const float *v);

typedef struct HnswSourceOps
{
	/* The node's dim floats (normalised under cosine), or NULL on failure. */
	const float *(*vector) (void *ctx, uint32_t id, float *buf);

	/*
	 * The node's neighbour count at layer (0 .. max for the layer), with
	 * *list set to the ids (buf has room for 2 * m); -1 on failure.  A node
	 * has no neighbours at layers above its level.
	 */
	int			(*neighbours) (void *ctx, uint32_t id, int layer,
							   const uint32_t **list, uint32_t *buf);

	/* 1 if the node is deleted, 0 if not, -1 on failure. */
	int			(*is_deleted) (void *ctx, uint32_t id);

	/* The node's level (0 .. HNSW_MAX_LEVEL), or -1 on failure. */
	int			(*level) (void *ctx, uint32_t id);

	/* The node's label; 0 on success, -1 on failure. */
	int			(*label) (void *ctx, uint32_t id, uint64_t *label);

	/*
	 * Optional (NULL: the engine calls vector() per node).  Distances from
	 * q to the n nodes ids[0..n-1] into out[0..n-1], each one computed as
	 * dist(dctx, q, that node's vector); 0 on success, -1 on failure.
	 * Searches hand over all unvisited neighbours of a node at once, so a
	 * source whose vectors are costly to reach one by one (pages behind a
	 * buffer manager) can fetch them together and overlap the memory
	 * latency.  bound: the search will not look further at a node whose
	 * distance is not below it (neither its neighbours nor its flags), so
	 * a source that caches what it read may skip those nodes.
	 */
	int			(*score) (void *ctx, const uint32_t *ids, int n, const float *q,
						  HnswScoreFn dist, const void *dctx, float bound,
						  float *out);
} HnswSourceOps;

typedef struct HnswSource
{
	const HnswSourceOps *ops;
	void	   *ctx;
	int			dim;
	int			m;
	HnswMetric	metric;
	uint32_t	n_nodes;		/* every id is below this */
	uint32_t	entry_point;	/* HNSW_NO_NODE when empty */
	int			max_level;		/* entry point's level; -1 when empty */
} HnswSource;

/*
 * Fill *src with a view of idx.  The view reads idx directly: it stays valid
 * while idx is not modified, except n_nodes, entry_point and max_level,
 * which are copied (call again after inserts).
 */
extern void hnsw_index_source(const HnswIndex *idx, HnswSource *src);

/*
 * A search context for graphs with p's dim, m and metric (ef_construction
 * and seed are not used).  alloc may be NULL (malloc).
 */
extern int	hnsw_search_create(const HnswParams *p, const HnswAllocator *alloc,
							   HnswSearch **out, HnswError *err);
extern void hnsw_search_destroy(HnswSearch *sc);
extern size_t hnsw_search_memory_usage(const HnswSearch *sc);

/*
 * hnsw_knn over any source (same semantics).  HNSW_EINVAL if src's dim, m
 * or metric differ from sc's; HNSW_ESOURCE if a callback fails or returns
 * an id >= n_nodes or too many neighbours.
 */
extern int	hnsw_search_knn(HnswSearch *sc, const HnswSource *src,
							const float *query, int k, int ef,
							HnswResult *out, int *n_out, HnswError *err);

/*
 * Distance from the query of sc's last search (as the search prepared it:
 * normalised under cosine) to v (dim floats, normalised under cosine like
 * stored vectors), computed as the search computes distances: for
 * re-ranking results a source scored approximately.
 */
extern float hnsw_search_query_distance(const HnswSearch *sc, const float *v);

/* ------------------------------------------- read-write storage interface */

/*
 * A graph store the engine can change: everything an HnswSource reads, plus
 * write callbacks.  hnsw_store_insert, hnsw_store_repair_deleted and
 * hnsw_store_reconnect run the same algorithms as hnsw_insert,
 * hnsw_repair_deleted and hnsw_reconnect (one implementation, see
 * hnsw_internal.h), so for the same data, levels and operations a store
 * ends up with exactly the graph the in-memory index has: the same
 * neighbour lists, in the same order, and the same entry point.
 *
 * Callbacks return 0 on success and -1 on failure (the engine then returns
 * HNSW_ESOURCE, see "Interrupted operations" below).  Each write callback
 * must be atomic: it happens completely or not at all.  The engine keeps no
 * pointer into anything a callback gets or returns beyond the next callback.
 *
 * Neighbour lists carry two pieces of metadata that make the insert's
 * re-selection of an overflowing list incremental (a few distance
 * computations instead of up to max * (max + 1) / 2): each neighbour's
 * distance from the list's node, and n_sel, how many of the first entries
 * the selection heuristic chose (HNSW_NSEL_UNKNOWN when the list is not in
 * that form).  A store may keep both (read_list returns exactly what
 * set_neighbours was given), keep the distances only (read_list always
 * returns HNSW_NSEL_UNKNOWN), or neither (read_list NULL: the engine
 * recomputes distances when it needs them).  The graph comes out the same
 * in all three cases; only the cost differs.
 */
#define HNSW_NSEL_UNKNOWN UINT32_MAX

typedef struct HnswStoreOps
{
	/*
	 * Reads, as for an HnswSource (hnsw_store_source hands exactly these to
	 * searches and checks).  neighbours is called for a node's own level
	 * and below only.
	 */
	HnswSourceOps src;

	/*
	 * Optional (may be NULL).  The node's list at layer (<= its level):
	 * count returned, ids into ids[] and their distances into dists[]
	 * (room for 2 * m each), *n_sel set to n_sel or HNSW_NSEL_UNKNOWN; -1
	 * on failure.
	 */
	int			(*read_list) (void *ctx, uint32_t id, int layer, uint32_t *ids,
							  float *dists, uint32_t *n_sel);

	/*
	 * Create a node: vector (dim floats, already normalised under cosine),
	 * level (0 .. HNSW_MAX_LEVEL), label, not deleted, an empty list at
	 * every layer 0 .. level.  The store chooses the id: n_nodes (ids are
	 * dense), or the id of a deleted node it recycles, which must then have
	 * no edges in or out (hnsw_store_repair_deleted leaves deleted nodes
	 * so).  Sets *id_out.
	 */
	int			(*add_node) (void *ctx, const float *vec, int level,
							 uint64_t label, uint32_t *id_out);

	/*
	 * Replace the node's whole list at layer (<= its level) by ids[0 .. n -
	 * 1], 0 <= n <= 2 * m at layer 0, m above.  dists[i] is ids[i]'s
	 * distance from the node, n_sel as described above; a store without
	 * read_list may ignore both, and then gets dists NULL where the engine
	 * does not know them.
	 */
	int			(*set_neighbours) (void *ctx, uint32_t id, int layer,
								   const uint32_t *ids, const float *dists,
								   int n, uint32_t n_sel);

	/* Persist the entry point and its level (HNSW_NO_NODE and -1: none). */
	int			(*set_entry_point) (void *ctx, uint32_t id, int level);

	/* Mark the node deleted (a deleted node again: no-op). */
	int			(*mark_deleted) (void *ctx, uint32_t id);
} HnswStoreOps;

/*
 * A store and the part of its state the engine needs up front.  The caller
 * fills it (from its metapage) before each operation; the engine keeps
 * n_nodes, entry_point and max_level up to date as its callbacks succeed, so
 * afterwards they match what the store holds, also after a failure.
 */
typedef struct HnswStore
{
	const HnswStoreOps *ops;
	void	   *ctx;
	int			dim;
	int			m;
	HnswMetric	metric;
	uint32_t	n_nodes;		/* every id is below this */
	uint32_t	entry_point;	/* HNSW_NO_NODE when empty */
	int			max_level;		/* entry point's level; -1 when empty */
} HnswStore;

/* The read-only view of a store, for hnsw_search_knn and hnsw_check_source. */
extern void hnsw_store_source(const HnswStore *st, HnswSource *src);

/*
 * The in-memory index as a store (keeps distances and n_sel), so the store
 * algorithms can run on it.  Its add_node ignores the index's own level
 * generator (the caller passes levels) and fails only when memory runs
 * out; its other callbacks do not fail.  The index and the store struct
 * stay in step while only store functions change the index; call again
 * after using hnsw_insert or hnsw_repair_deleted on the index.
 */
extern void hnsw_index_store(HnswIndex *idx, HnswStore *st);

/*
 * Scratch memory for the store algorithms (search context, selection
 * buffers, a small cache of vectors read during one operation), allocated
 * once and reused: one per concurrent writer.  Grows with the graph (the
 * visited set is 4 bytes per node).  p's dim, m, metric and
 * ef_construction are the ones the store's graph was built with (seed is
 * not used).
 */
typedef struct HnswWriter HnswWriter;

extern int	hnsw_writer_create(const HnswParams *p, const HnswAllocator *alloc,
							   HnswWriter **out, HnswError *err);
extern void hnsw_writer_destroy(HnswWriter *w);
extern size_t hnsw_writer_memory_usage(const HnswWriter *w);

/*
 * hnsw_insert through a store: vec (dim floats) gets the given level (see
 * hnsw_random_level) and label.  HNSW_EINVAL for a bad vector or level, or a
 * store whose dim, m or metric differ from w's; HNSW_EFULL; HNSW_ENOMEM;
 * HNSW_ESOURCE when a callback fails or returns bad data.  *id_out (may
 * be NULL) gets the new node's id, or HNSW_NO_NODE when no node was added.
 *
 * The engine reads, in order: st's entry_point, max_level and n_nodes;
 * vectors and neighbour lists of the nodes its searches visit (layers
 * min(level, max_level) and below, any node); the vectors of selected
 * nodes.  It reads no labels, no levels and no deleted flags.  Then it
 * writes, in order:
 *	1. add_node (the node, no edges);
 *	2. set_neighbours of the new node, layer top .. 0;
 *	3. set_entry_point, if level > max_level (or the store was empty);
 *	4. for each layer top .. 0, for each selected neighbour: read_list (or
 *	   neighbours) of that neighbour at that layer, then at most one
 *	   set_neighbours of the same list (the link back, re-selecting the
 *	   list when it is full).
 * Nothing is written before step 1, so a failure there changes nothing.
 * A caller that runs inserts concurrently must make each step 4 read and
 * write of a list atomic against other writers, and re-read entry_point
 * and max_level under whatever lock step 3 takes; serialising inserts
 * with one lock is always enough.  Searches may run concurrently: every
 * state between two callbacks is a valid graph (see below).
 *
 * Interrupted operations.  When a callback fails, the engine stops at
 * once and returns HNSW_ESOURCE, with err saying what was done.  What an
 * insert can leave, by the step that failed:
 *	- step 1 or earlier: nothing;
 *	- step 2 or 3: the new node exists (*id_out) with some, none or all of
 *	  its own lists; nothing links to it, so searches do not see it: a live
 *	  node that is not reachable, harmless and counted by the check.  When
 *	  its level is above max_level (or the store was empty), it is also a
 *	  live node above the entry point's level (or there is no entry point
 *	  at all): hnsw_check_source reports that as HNSW_ECORRUPT; searches
 *	  still work (from the old entry point).  Only inserts that raise the
 *	  top level can leave this, about log_m(n) in an index's life;
 *	- step 4: some neighbours link back, others not (an edge without its
 *	  partner is an ordinary HNSW state); a re-selected list may have
 *	  dropped an edge, which can leave a node unreachable, as any insert
 *	  can.
 * Every edge written is valid, so hnsw_check_source with flags 0 passes in
 * all these states but the one noted at steps 2 and 3.
 * hnsw_store_reconnect (or a repair, which ends with it) heals all of them:
 * it makes the highest-level live node the entry point when it is above
 * the entry point (if that node has no layer-0 edges, first giving it, at
 * each layer where its list is empty, the neighbours an insert would, from
 * a search that starts at the old entry point), then links every
 * unreachable live node; afterwards HNSW_CHECK_REACHABLE passes.  The
 * interrupted node stays in the store (with the caller's label): mark it
 * deleted if it should not be found (the access method's aborted
 * transaction leaves its heap tuple dead, so VACUUM does that).
 */
extern int	hnsw_store_insert(HnswWriter *w, HnswStore *st, const float *vec,
							  int level, uint64_t label, uint32_t *id_out,
							  HnswError *err);

/* hnsw_mark_deleted through a store.  HNSW_EINVAL for an id >= n_nodes. */
extern int	hnsw_store_mark_deleted(HnswStore *st, uint32_t id, HnswError *err);

/*
 * hnsw_repair_deleted through a store, same steps and rules.  A store has
 * no count of nodes marked since the last repair, so this always runs:
 * when there is nothing to repair it reads the graph and ends with
 * hnsw_store_reconnect.  Writes: set_neighbours of each rebuilt list and of
 * each list that gets a link back; set_entry_point if the entry point was
 * deleted (after set_neighbours of the new one's empty lists if it had no
 * edges, as hnsw_store_reconnect links a node it promotes); set_neighbours
 * (empty) of deleted nodes that still have edges; then reconnect's writes.
 * Afterwards deleted nodes have no edges in or out, which is what add_node
 * requires of an id it recycles.  Reads every node's level and deleted
 * flag once, and every live node's lists.  Interrupted, it leaves a valid
 * graph (hnsw_check_source with flags 0 passes: some lists rebuilt, some
 * still with edges to deleted nodes); calling it again finishes the job.
 */
extern int	hnsw_store_repair_deleted(HnswWriter *w, HnswStore *st,
									  HnswError *err);

/*
 * hnsw_reconnect through a store; also heals what an interrupted insert
 * leaves (see hnsw_store_insert).  Reads every node's level and deleted
 * flag and the layer-0 list of every reachable node; writes the lists it
 * changes and, when it must move it, the entry point.  Interrupted, it
 * leaves a valid graph; calling it again finishes the job.
 */
extern int	hnsw_store_reconnect(HnswWriter *w, HnswStore *st,
								 uint32_t *n_fixed, HnswError *err);

/* -------------------------------------------------------- parallel build */

/*
 * Building with several threads, in two steps:
 *
 *	1. Staging (one thread, the caller's): hnsw_stage copies a vector into
 *	   the index with its label and level, allocating everything the node
 *	   will need, but links it to nothing.  Staged nodes get the ids that
 *	   follow the graph's (the i-th staged node gets hnsw_size() + i) but
 *	   are not part of the graph yet: hnsw_size(), searches and checks do
 *	   not see them.  While nodes are staged, hnsw_insert (and the index's
 *	   own store's add_node) fail with HNSW_EINVAL.
 *	2. Linking: hnsw_link_start starts n_threads POSIX threads that insert
 *	   the staged nodes into the graph concurrently, taking them in id
 *	   order, each with the insert algorithm of hnsw_insert.  Everything the
 *	   threads need (their search contexts and scratch, the locks) is
 *	   allocated by hnsw_link_start, from the index's allocator, on the
 *	   calling thread: the threads never call the allocator, so it need not
 *	   be thread-safe (the access method's is PostgreSQL's palloc).  The
 *	   threads are started with every signal blocked, so signal handlers
 *	   only ever run on the caller's threads.  While they run, the caller
 *	   may call hnsw_link_progress, hnsw_link_wait and hnsw_link_cancel, and
 *	   nothing else on this index; hnsw_link_finish joins the threads and
 *	   frees what hnsw_link_start allocated.
 *
 * Concurrency (as hnswlib does it): each node's lists are guarded by a
 * mutex (node ids share a table of at most 65,536 mutexes by id modulo its
 * size), held while a list is copied out by a search or changed by a link,
 * never while a search computes distances; only the re-selection of a
 * full list computes distances under its node's lock (the few the
 * incremental re-selection needs).  The entry point and the top level are
 * guarded by a global mutex, which an insert that raises the top level
 * holds for its whole search, so two nodes never raise it concurrently.
 * Vectors, levels and labels are written at staging and only read while
 * linking.
 *
 * Determinism: with n_threads = 1 nothing is locked and the nodes are
 * inserted one after the other in id order, so the graph is exactly the
 * one hnsw_insert gives for the same vectors, levels and order.  With more
 * threads, inserts overlap and the graph depends on timing (the same kind
 * of graph, with the same recall, but not the same lists); levels never
 * depend on timing, since they are fixed at staging.
 */

#define HNSW_MAX_THREADS 256

/*
 * Stage vec (dim floats) with label and level: level -1 draws it from the
 * index's level generator exactly as hnsw_insert would (the generator
 * advances), 0 .. HNSW_MAX_LEVEL uses the given one (as hnsw_store_insert
 * does; the generator does not advance).  *id_out (may be NULL) gets the
 * id the node will have.  HNSW_EINVAL for a vector hnsw_check_vector
 * rejects, a bad level, or while linking runs; HNSW_ENOMEM; HNSW_EFULL.
 * On error nothing is staged.
 */
extern int	hnsw_stage(HnswIndex *idx, const float *vec, uint64_t label,
					   int level, uint32_t *id_out, HnswError *err);

/* Number of staged nodes not linked yet. */
extern uint32_t hnsw_staged_count(const HnswIndex *idx);

/*
 * Drop every staged node (freeing its level's lists; the node storage is
 * kept as capacity).  Levels drawn from the generator are not given back.
 * HNSW_EINVAL while linking runs.
 */
extern int	hnsw_drop_staged(HnswIndex *idx, HnswError *err);

typedef struct HnswLinkJob HnswLinkJob;

/*
 * Start n_threads (1 .. HNSW_MAX_THREADS) threads linking every staged node.
 * cancel (may be NULL) is polled by the threads between inserts (an atomic
 * load: set it with an atomic store, or from a signal handler), as is
 * hnsw_link_cancel: when either is set, each thread finishes the insert it
 * is in and stops.  HNSW_EINVAL for bad arguments or a job already
 * running, HNSW_ENOMEM (nothing started), or HNSW_ENOMEM when a thread
 * cannot be created (the others are stopped before they link anything).
 * With no staged nodes the job starts no thread and is finished at once.
 */
extern int	hnsw_link_start(HnswIndex *idx, int n_threads,
							volatile const sig_atomic_t *cancel,
							HnswLinkJob **out, HnswError *err);

/* Nodes linked so far (for progress reports; callable while running). */
extern uint32_t hnsw_link_progress(const HnswLinkJob *job);

/* Ask the threads to stop after their current insert (async-signal-safe). */
extern void hnsw_link_cancel(HnswLinkJob *job);

/*
 * Wait up to timeout_ms (0: just look) for every thread to end; 1 when they
 * all have, 0 on timeout.
 */
extern int	hnsw_link_wait(HnswLinkJob *job, int timeout_ms);

/*
 * Wait for the threads, free the job, and end the build step.  *n_linked
 * (may be NULL) gets how many staged nodes were linked: always the first
 * ones in id order, each completely, so the index holds a valid graph of
 * its old nodes and those.  The rest stay staged (link them with another
 * job, or drop them).  Returns HNSW_OK when every staged node was linked,
 * HNSW_ECANCELED when a cancel stopped the threads before that, or the
 * error a thread met (HNSW_ENOMEM if a thread's search needed more
 * memory than was reserved, which the reservation rules out; that node is
 * in the graph without edges, which hnsw_reconnect repairs).  Like after
 * any build, hnsw_reconnect is worth calling once at the end.
 */
extern int	hnsw_link_finish(HnswLinkJob *job, uint32_t *n_linked,
							 HnswError *err);

/*
 * Stage and link n vectors (vectors: n * dim floats, labels: n, levels: n
 * or NULL to draw each from the generator in order) with n_threads threads
 * (1: on the calling thread, no threads, the graph hnsw_insert gives).
 * *n_inserted (may be NULL) gets how many were inserted: vector i gets id
 * hnsw_size() + i.  On HNSW_ECANCELED (cancel set while it ran) the first
 * *n_inserted vectors are in the graph and the others were dropped; on
 * HNSW_EINVAL (any bad vector or level, checked first), HNSW_ENOMEM, or
 * nodes already staged, nothing is inserted.  Either way the level
 * generator is left as if only the inserted vectors had been inserted.
 */
extern int	hnsw_insert_batch_parallel(HnswIndex *idx, const float *vectors,
									   const uint64_t *labels,
									   const int *levels, uint32_t n,
									   int n_threads,
									   volatile const sig_atomic_t *cancel,
									   uint32_t *n_inserted, HnswError *err);

/* ---------------------------------------------------------------- check */

/* hnsw_check flags */
#define HNSW_CHECK_REPAIRED 0x1 /* also fail on edges from live to deleted
								 * nodes and on a deleted entry point */
#define HNSW_CHECK_REACHABLE 0x2	/* also fail on live nodes not reachable
									 * from the entry point */
#define HNSW_CHECK_ALL (HNSW_CHECK_REPAIRED | HNSW_CHECK_REACHABLE)

typedef struct HnswCheckReport
{
	uint32_t	n_nodes;
	uint32_t	n_live;
	uint32_t	n_deleted;
	uint64_t	n_edges;		/* all layers, from live nodes */
	uint64_t	n_dangling;		/* edges from live to deleted nodes */
	uint64_t	n_invalid;		/* out-of-range, self, duplicate, overfull,
								 * or to a node whose level is too low */
	uint32_t	n_unreachable;	/* live nodes not reachable at layer 0 from
								 * the entry point (searches pass through
								 * deleted nodes, so the walk does too) */
	int			bad_level;		/* live nodes with a level above max_level,
								 * or a bad entry point: 1, else 0 */
} HnswCheckReport;

/*
 * Check a graph's structure: every edge valid (and, with
 * HNSW_CHECK_REPAIRED, none to a deleted node), the entry point consistent,
 * and count the live nodes not reachable at layer 0 from the entry point.
 * Unreachable nodes are a loss of recall, not corruption: inserts can leave
 * a few (see hnsw_reconnect), so they fail the check only with
 * HNSW_CHECK_REACHABLE.  After hnsw_repair_deleted, HNSW_CHECK_ALL passes.
 * Fills *report (may be NULL) and returns HNSW_OK, HNSW_ECORRUPT (err
 * describes the first problem), HNSW_ENOMEM or HNSW_ESOURCE.  Uses
 * O(n_nodes) temporary memory.
 */
extern int	hnsw_check(const HnswIndex *idx, int flags,
					   HnswCheckReport *report, HnswError *err);
extern int	hnsw_check_source(const HnswSource *src,
							  const HnswAllocator *alloc, int flags,
							  HnswCheckReport *report, HnswError *err);

#endif							/* BRAINY_HNSW_H */
