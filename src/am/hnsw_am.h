/*
 * hnsw_am.h - the brainy_hnsw index access method: page layout and the
 * page-backed graph store shared by build, insert, scan and vacuum.
 *
 * Layout (see docs/hnsw-design.md):
 *	block 0		metapage (BhMeta)
 *	node pages	fixed-size slots; node id i is slot i % per_page of node
 *				page i / per_page, and node pages are laid out in extents
 *				(runs of consecutive blocks) listed in the metapage, so
 *				id -> (block, slot) is arithmetic over a short table
 *	upper pages	per node with level >= 1, one item holding its lists at
 *				layers 1 .. level, located by (upper_blk, upper_off) in the
 *				node's slot
 * Pages are raw (no line pointers): the used area runs from the page header
 * to pd_lower, so GenericXLog's delta skips the rest.
 */
#ifndef BRAINY_HNSW_AM_H
#define BRAINY_HNSW_AM_H

#include "postgres.h"

#include "access/amapi.h"
#include "storage/bufmgr.h"
#include "utils/relcache.h"

#include "hnsw.h"
#include "quant_sq8.h"

#define BH_MAGIC			0x42484E57	/* "BHNW" */
#define BH_VERSION			2
#define BH_META_BLKNO		0
#define BH_MAX_EXTENTS		64

#define BH_PAGE_META		1
#define BH_PAGE_NODE		2
#define BH_PAGE_UPPER		3
#define BH_PAGE_VECTOR		4	/* full vectors of a quantized index */
#define BH_PAGE_QUANT		5	/* the serialised quantizer */
#define BH_PAGE_FREE		6	/* ids of node slots to reuse (hnsw_free.c) */
#define BH_PAGE_PENDING		7	/* rows not linked into the graph yet (hnsw_pending.c) */

/* BhMeta.quant: what a node slot holds */
#define BH_QUANT_NONE		0	/* the full vector */
#define BH_QUANT_SQ8		1	/* an SQ8 code; the full vector in vector pages */
#define BH_QUANT_PAGES		2	/* nothing: the full vector in vector pages */

/* a quantized index trains its quantizer once it has this many vectors */
#define BH_SQ8_TRAIN_MIN	1000

#define BH_SLOT_DELETED		0x01
#define BH_SLOT_NOCODE		0x02	/* SQ8: added before training, no code */

typedef struct BhPageOpaque
{
	uint16		type;
	uint16		unused;
	uint32		magic;
} BhPageOpaque;

typedef struct BhMeta
{
	uint32		magic;
	uint32		version;
	int32		dim;
	int32		m;
	int32		ef_construction;
	int32		metric;			/* HnswMetric */
	uint32		entry_point;	/* HNSW_NO_NODE when empty */
	int32		max_level;		/* -1 when empty */
	uint32		n_nodes;
	uint32		unused;
	uint64		prng;			/* level generator state */
	uint32		slot_size;		/* bytes per node slot */
	uint32		per_page;		/* slots per node page */
	uint32		upper_layer_size;	/* bytes per layer in an upper item */
	uint32		max_level_fit;	/* highest level whose upper item fits */
	BlockNumber next_block;		/* first block not allocated yet */
	BlockNumber upper_block;	/* upper page new items go to, or Invalid */
	uint32		n_extents;
	BlockNumber ext_start[BH_MAX_EXTENTS];
	uint32		ext_len[BH_MAX_EXTENTS];
	/* quantized indexes (quant = BH_QUANT_SQ8) */
	uint32		quant;			/* BH_QUANT_* */
	uint32		payload_size;	/* slot bytes between head and ids */
	uint32		vec_size;		/* bytes of a full vector */
	uint32		vec_per_page;	/* full vectors per vector page; 0: one
								 * vector spans vec_pages pages */
	uint32		vec_pages;		/* pages of one vector (1 if vec_per_page) */
	BlockNumber vec_block;		/* vector page being filled, or Invalid */
	uint32		vec_used;		/* vectors in it */
	BlockNumber quant_block;	/* first quantizer page; Invalid: untrained */
	uint32		quant_len;		/* serialised quantizer bytes */
	/* free list (hnsw_free.c) */
	BlockNumber free_first;		/* first page of the chain, or Invalid */
	BlockNumber free_block;		/* page inserts take ids from, or Invalid */
	uint32		n_free;			/* ids left in the list */
	/* pending list (hnsw_pending.c); 0: no page (block 0 is the metapage) */
	BlockNumber pend_head;		/* oldest page of the chain */
	BlockNumber pend_tail;		/* page appends go to */
	uint32		pend_n;			/* rows in the chain's pages (linked ones of
								 * the head page included) */
	uint32		pend_pages;		/* pages in the chain */
	BlockNumber pend_free;		/* emptied pending pages to reuse */
	uint32		pend_linked;	/* rows linked since the last reconnect */
} BhMeta;

/* head of a free page's data; then uint32 ids[n] */
typedef struct BhFreeHead
{
	uint32		n;
	BlockNumber next;			/* next page of the chain, or Invalid */
} BhFreeHead;

/*
 * Head of a node slot; then the payload (BhMeta.payload_size bytes: float
 * vec[dim], or for SQ8 uint8 code[dim] padded to 4 bytes and the code's
 * float norm), uint32 ids[2m], float dists[2m].
 */
typedef struct BhSlot
{
	uint8		flags;
	uint8		level;
	uint16		n0;				/* layer-0 neighbour count */
	uint32		nsel0;			/* layer-0 n_sel */
	uint64		label;			/* heap TID: block << 16 | offset */
	BlockNumber upper_blk;		/* InvalidBlockNumber when level 0 */
	uint16		upper_off;		/* byte offset of the item in its page */
	uint16		vec_off;		/* SQ8: byte offset of the full vector */
	BlockNumber vec_blk;		/* SQ8: (first) page of the full vector */
	uint32		unused;
} BhSlot;

/* head of one layer in an upper item; then uint32 ids[m], float dists[m] */
typedef struct BhUpperLayer
{
	uint16		n;
	uint16		unused;
	uint32		nsel;
} BhUpperLayer;

#define BH_DATA_START		MAXALIGN(SizeOfPageHeaderData)
#define BH_DATA_END			(BLCKSZ - MAXALIGN(sizeof(BhPageOpaque)))
#define BH_DATA_SIZE		(BH_DATA_END - BH_DATA_START)

#define BhPageGetMeta(page)	((BhMeta *) ((char *) (page) + BH_DATA_START))

/* layer-0 cache entry of a store (header and ids of a slot) */
typedef struct BhCacheEntry
{
	uint32		id;
	uint32		gen;			/* valid only when equal to the store's */
	BhSlot		hdr;
	uint32		ids[FLEXIBLE_ARRAY_MEMBER];
} BhCacheEntry;

/* a page-backed graph: an HnswStore (and HnswSource) over an index */
typedef struct BhStore
{
	Relation	index;
	BhMeta		meta;			/* copy; writers keep it in step with the page */
	HnswStore	st;
	HnswSource	src;
	/* direct-mapped cache of slot heads and layer-0 lists */
	char	   *cache;
	uint32		cache_n;		/* a power of 2 */
	uint32		cache_gen;		/* bh_cache_reset bumps it */
	Size		cache_entry_size;
	uint32	   *ids_buf;		/* 2m */
	float	   *dists_buf;		/* 2m */
	Buffer	   *score_bufs;		/* 2m: pins of a scored batch */
	uint32	   *score_slots;	/* 2m: slots of a scored batch */
	BlockNumber *score_blks;	/* 2m: blocks of a scored batch */
	int			payload_lines;	/* payload cache lines past a slot's first */

	/*
	 * Read-only scan mode (bh_store_hold_reads): reads keep the last page
	 * they used pinned and share-locked in held_buf, and the vector callback
	 * points straight into it instead of copying.  At most this one buffer
	 * lock is held; it is released before any other page is locked and by
	 * bh_store_release after each search.  Never set on a store that writes.
	 */
	bool		hold_reads;
	Buffer		held_buf;		/* InvalidBuffer when none */
	BlockNumber held_blk;

	/* quantized indexes (meta.quant == BH_QUANT_SQ8), see hnsw_quant.c */
	BrainySq8  *sq8;			/* the quantizer; NULL until trained */
	BrainySq8Query sq8q;		/* the current search's query, prepared */
	float	   *sq8_buf;		/* 2 * dim: its terms */
	bool		sq8_ready;		/* sq8q is this search's query */
	bool		sq8_exact;		/* score with full vectors (writers) */
	float	   *vec_buf;		/* dim: a full vector from vector pages */
} BhStore;

/* memory from a context, counted and optionally limited */
typedef struct BhAlloc
{
	HnswAllocator a;
	MemoryContext cxt;
	Size		used;
	Size		limit;			/* 0: none */
	bool		refused;		/* an allocation hit the limit */
} BhAlloc;

/* GUCs */
extern int	brainy_hnsw_ef_search;
extern int	brainy_hnsw_iterative_scan;
extern int	brainy_hnsw_max_scan_tuples;

#define BH_ITERATIVE_OFF		0
#define BH_ITERATIVE_RELAXED	1
#define BH_ITERATIVE_STRICT		2

/* hnsw_am.c */
extern void brainy_hnsw_init(void);
extern void bh_store_insert_one(BhStore *s, const float *vec, uint64 label, int level);
extern int	bh_draw_level(BhMeta *meta);
extern void bh_store_reconnect(BhStore *s);

/* hnsw_store.c */
extern void bh_alloc_init(BhAlloc *al, MemoryContext cxt, Size limit);
extern Size bh_slot_size(int dim, int m, int quant);
extern void bh_meta_init(BhMeta *meta, int dim, int m, int efc, HnswMetric metric,
						 int quant);
extern void bh_init_page(Page page, uint16 type);
extern void bh_check_page(Relation index, Page page, BlockNumber blk, uint16 type);
extern void bh_ensure_block(Relation index, BlockNumber blk);
extern void bh_write_meta(BhStore *s, Page metapage);
extern void bh_read_meta(Relation index, BhMeta *meta);
extern BhStore *bh_store_open(Relation index, bool cache);
extern void bh_store_reload(BhStore *s);
extern void bh_store_hold_reads(BhStore *s);
extern void bh_store_forget_held(BhStore *s);
extern void bh_store_release(BhStore *s);
extern void bh_params(const BhMeta *meta, HnswParams *p);
extern void bh_error(const char *what, int rc, const HnswError *err);
extern void bh_label_to_tid(uint64 label, ItemPointer tid);
extern uint64 bh_tid_to_label(ItemPointer tid);
extern int	bh_slot_read_head(BhStore *s, uint32 id, BhSlot *hdr);
extern void bh_cache_reset(BhStore *s);
extern void bh_store_new_search(BhStore *s);
extern Buffer bh_read_buffer(Relation index, BlockNumber blk);

/* hnsw_quant.c */
extern Size bh_payload_size(int dim, int quant);
extern int	bh_max_dim(int m, int quant);
extern void bh_meta_init_quant(BhMeta *meta);
extern void bh_sq8_encode_slot(const BrainySq8 *q, const BhMeta *meta, BhSlot *sp,
							   const float *vec);
extern BrainySq8 *bh_sq8_train(int dim, const float *vecs, Size n);
extern char **bh_sq8_pages(const BrainySq8 *q, uint32 *len, int *npages);
extern void bh_sq8_load(BhStore *s);
extern float bh_sq8_distance(BhStore *s, const float *q, BhSlot *sp);
extern void bh_vec_read(BhStore *s, const BhSlot *hdr, float *out);
extern void bh_vec_append(BhStore *s, const float *vec, BlockNumber *blk_out,
						  uint16 *off_out);
extern void bh_sq8_train_store(BhStore *s, const float *extra);
extern void bh_vec_overwrite(BhStore *s, const BhSlot *hdr, const float *vec);

/* hnsw_free.c */
extern void bh_free_rebuild(BhStore *s);
extern bool bh_free_peek(BhStore *s, uint32 *id, BhSlot *old);
extern void bh_free_pop(BhMeta *meta, Page fpage);
extern BlockNumber bh_node_block(const BhMeta *meta, uint32 id, uint32 *slot);

/* hnsw_pending.c */
typedef struct BhPendingHit
{
	float		distance;
	uint64		label;
} BhPendingHit;

extern uint32 bh_pending_capacity(int dim);
extern bool bh_pending_append(Relation index, const float *vec, int dim, uint64 label,
							  Size limit);
extern int64 bh_pending_merge(BhStore *s, int64 max,
							  IndexBulkDeleteCallback callback,
							  void *callback_state, int64 *removed);
extern int64 bh_merge_table(Oid relid, int64 max);
extern void bh_pending_relinked(BhStore *s);
extern BhPendingHit *bh_pending_scan(Relation index, const BhMeta *meta,
									 const float *query, int *n_out);

/* the hits as a min-heap by distance, and their TIDs as a set */
typedef struct BhLabelSet
{
	uint64	   *slots;			/* NULL: empty set */
	uint32		mask;
} BhLabelSet;

extern void bh_hits_heapify(BhPendingHit *h, int n);
extern void bh_hits_pop(BhPendingHit *h, int *n);
extern void bh_label_set_init(BhLabelSet *set, const BhPendingHit *hits, int n);
extern bool bh_label_set_has(const BhLabelSet *set, uint64 label);

#endif							/* BRAINY_HNSW_AM_H */
