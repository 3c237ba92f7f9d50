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

#define BH_MAGIC			0x42484E57	/* "BHNW" */
#define BH_VERSION			1
#define BH_META_BLKNO		0
#define BH_MAX_EXTENTS		64

#define BH_PAGE_META		1
#define BH_PAGE_NODE		2
#define BH_PAGE_UPPER		3

#define BH_SLOT_DELETED		0x01

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
} BhMeta;

/* head of a node slot; then float vec[dim], uint32 ids[2m], float dists[2m] */
typedef struct BhSlot
{
	uint8		flags;
	uint8		level;
	uint16		n0;				/* layer-0 neighbour count */
	uint32		nsel0;			/* layer-0 n_sel */
	uint64		label;			/* heap TID: block << 16 | offset */
	BlockNumber upper_blk;		/* InvalidBlockNumber when level 0 */
	uint16		upper_off;		/* byte offset of the item in its page */
	uint16		unused;
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
	int			vec_lines;		/* vector cache lines past a slot's first 4 */

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

/* hnsw_store.c */
extern void bh_alloc_init(BhAlloc *al, MemoryContext cxt, Size limit);
extern Size bh_slot_size(int dim, int m);
extern int	bh_max_dim(int m);
extern void bh_meta_init(BhMeta *meta, int dim, int m, int efc, HnswMetric metric);
extern void bh_init_page(Page page, uint16 type);
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
extern BlockNumber bh_node_block(const BhMeta *meta, uint32 id, uint32 *slot);

#endif							/* BRAINY_HNSW_AM_H */
