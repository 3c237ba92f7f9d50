/*
 * hnsw_store.c - the brainy_hnsw page layout as an HnswStore.
 *
 * Reads share-lock one page at a time, only while copying out of it (in
 * scan mode, see bh_store_hold_reads, until the next read of another page).
 * Writes (under the index's insert lock, see hnsw_am.c) exclusive-lock the
 * pages they change and WAL-log them with GenericXLog, one record per
 * callback, so each callback is atomic, as the engine requires.
 */
#include "postgres.h"

#include <math.h>

#include "access/generic_xlog.h"
#include "miscadmin.h"
#include "storage/buf_internals.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw_am.h"

/* ------------------------------------------------------------ allocator */

static void *
bh_alloc_fn(void *ctx, size_t size)
{
	BhAlloc    *al = (BhAlloc *) ctx;

	if (al->limit > 0 && al->used + size > al->limit)
	{
		al->refused = true;
		return NULL;
	}
	al->used += size;
	return MemoryContextAllocExtended(al->cxt, size == 0 ? 1 : size,
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
}

static void
bh_free_fn(void *ctx, void *ptr, size_t size)
{
	BhAlloc    *al = (BhAlloc *) ctx;

	if (ptr == NULL)
		return;
	al->used -= Min(size, al->used);
	pfree(ptr);
}

void
bh_alloc_init(BhAlloc *al, MemoryContext cxt, Size limit)
{
	al->a.alloc = bh_alloc_fn;
	al->a.free = bh_free_fn;
	al->a.ctx = al;
	al->cxt = cxt;
	al->used = 0;
	al->limit = limit;
	al->refused = false;
}

void
bh_error(const char *what, int rc, const HnswError *err)
{
	ereport(ERROR,
			(errcode(rc == HNSW_ENOMEM ? ERRCODE_OUT_OF_MEMORY :
					 rc == HNSW_ECORRUPT || rc == HNSW_ESOURCE ?
					 ERRCODE_INDEX_CORRUPTED : ERRCODE_INTERNAL_ERROR),
			 errmsg("brainy_hnsw: %s failed: %s", what,
					err && err->message[0] ? err->message : hnsw_strerror(rc))));
}

/* -------------------------------------------------------------- layout */

Size
bh_slot_size(int dim, int m, int quant)
{
	return MAXALIGN(sizeof(BhSlot) + bh_payload_size(dim, quant) +
					(sizeof(uint32) + sizeof(float)) * 2 * (Size) m);
}

void
bh_meta_init(BhMeta *meta, int dim, int m, int efc, HnswMetric metric,
			 int quant)
{
	memset(meta, 0, sizeof(BhMeta));
	meta->magic = BH_MAGIC;
	meta->version = BH_VERSION;
	meta->dim = dim;
	meta->m = m;
	meta->ef_construction = efc;
	meta->metric = metric;
	meta->entry_point = HNSW_NO_NODE;
	meta->max_level = -1;
	meta->n_nodes = 0;
	meta->prng = HNSW_DEFAULT_SEED;
	meta->quant = quant;
	meta->payload_size = bh_payload_size(dim, quant);
	meta->slot_size = bh_slot_size(dim, m, quant);
	meta->per_page = BH_DATA_SIZE / meta->slot_size;
	meta->upper_layer_size = sizeof(BhUpperLayer) +
		(sizeof(uint32) + sizeof(float)) * m;
	meta->max_level_fit = Min(HNSW_MAX_LEVEL,
							  BH_DATA_SIZE / meta->upper_layer_size);
	meta->next_block = 1;
	meta->upper_block = InvalidBlockNumber;
	meta->n_extents = 0;
	meta->free_first = InvalidBlockNumber;
	meta->free_block = InvalidBlockNumber;
	meta->n_free = 0;
	if (quant != BH_QUANT_NONE)
		bh_meta_init_quant(meta);
}

void
bh_init_page(Page page, uint16 type)
{
	BhPageOpaque *op;

	PageInit(page, BLCKSZ, sizeof(BhPageOpaque));
	op = (BhPageOpaque *) PageGetSpecialPointer(page);
	op->type = type;
	op->magic = BH_MAGIC;
	((PageHeader) page)->pd_lower = BH_DATA_START;
}

void
bh_check_page(Relation index, Page page, BlockNumber blk, uint16 type)
{
	BhPageOpaque *op;

	if (PageIsNew(page) || ((PageHeader) page)->pd_special != BH_DATA_END)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("brainy_hnsw index \"%s\": block %u is not initialised",
						RelationGetRelationName(index), blk)));
	op = (BhPageOpaque *) PageGetSpecialPointer(page);
	if (op->magic != BH_MAGIC || op->type != type)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("brainy_hnsw index \"%s\": block %u has the wrong page type",
						RelationGetRelationName(index), blk)));
}

void
bh_read_meta(Relation index, BhMeta *meta)
{
	Buffer		buf = ReadBuffer(index, BH_META_BLKNO);
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	bh_check_page(index, page, BH_META_BLKNO, BH_PAGE_META);
	memcpy(meta, BhPageGetMeta(page), sizeof(BhMeta));
	UnlockReleaseBuffer(buf);
	if (meta->magic != BH_MAGIC || meta->version != BH_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("brainy_hnsw index \"%s\" has a bad metapage",
						RelationGetRelationName(index))));
}

void
bh_params(const BhMeta *meta, HnswParams *p)
{
	hnsw_params_default(p, meta->dim, (HnswMetric) meta->metric);
	p->m = meta->m;
	p->ef_construction = meta->ef_construction;
}

BlockNumber
bh_node_block(const BhMeta *meta, uint32 id, uint32 *slot)
{
	uint32		p = id / meta->per_page;
	uint32		e;

	*slot = id % meta->per_page;
	for (e = 0; e < meta->n_extents; e++)
	{
		if (p < meta->ext_len[e])
			return meta->ext_start[e] + p;
		p -= meta->ext_len[e];
	}
	return InvalidBlockNumber;
}

static inline BhSlot *
bh_slot(Page page, const BhMeta *meta, uint32 slot)
{
	return (BhSlot *) ((char *) page + BH_DATA_START + (Size) slot * meta->slot_size);
}

static inline float *
bh_slot_vec(BhSlot *s)
{
	return (float *) (s + 1);
}

static inline uint32 *
bh_slot_ids(BhSlot *s, const BhMeta *meta)
{
	return (uint32 *) ((char *) (s + 1) + meta->payload_size);
}

static inline float *
bh_slot_dists(BhSlot *s, const BhMeta *meta)
{
	return (float *) (bh_slot_ids(s, meta) + 2 * meta->m);
}

static inline BhUpperLayer *
bh_upper_layer(Page page, const BhMeta *meta, uint16 off, int layer)
{
	return (BhUpperLayer *) ((char *) page + off +
							 (Size) (layer - 1) * meta->upper_layer_size);
}

uint64
bh_tid_to_label(ItemPointer tid)
{
	return ((uint64) ItemPointerGetBlockNumber(tid) << 16) |
		ItemPointerGetOffsetNumber(tid);
}

void
bh_label_to_tid(uint64 label, ItemPointer tid)
{
	ItemPointerSet(tid, (BlockNumber) (label >> 16), (OffsetNumber) (label & 0xFFFF));
}

/* ------------------------------------------------------------- reads */

static inline BhCacheEntry *
bh_cache_entry(BhStore *s, uint32 id)
{
	return (BhCacheEntry *) (s->cache + (Size) (id & (s->cache_n - 1)) * s->cache_entry_size);
}

/* the cache entry of id, or NULL when it is not cached */
static inline BhCacheEntry *
bh_cache_lookup(BhStore *s, uint32 id)
{
	BhCacheEntry *e;

	if (s->cache == NULL)
		return NULL;
	e = bh_cache_entry(s, id);
	return (e->id == id && e->gen == s->cache_gen) ? e : NULL;
}

static inline void
bh_cache_forget(BhStore *s, uint32 id)
{
	BhCacheEntry *e = bh_cache_lookup(s, id);

	if (e)
		e->id = HNSW_NO_NODE;
}

/* Invalidate every entry: O(1), except when the generation wraps. */
void
bh_cache_reset(BhStore *s)
{
	if (s->cache == NULL)
		return;
	if (++s->cache_gen == 0)
	{
		uint32		i;

		for (i = 0; i < s->cache_n; i++)
			bh_cache_entry(s, i)->gen = 0;
		s->cache_gen = 1;
	}
}

/* Fill id's cache entry from its slot (on a locked page). */
static inline void
bh_cache_fill(BhStore *s, uint32 id, const BhSlot *sp)
{
	BhCacheEntry *e = bh_cache_entry(s, id);

	e->id = id;
	e->gen = s->cache_gen;
	e->hdr = *sp;
	memcpy(e->ids, bh_slot_ids((BhSlot *) sp, &s->meta), sizeof(uint32) * sp->n0);
}

/*
 * Scan mode (s->hold_reads): page blk of the given type, share-locked and
 * kept as the store's one held buffer.  The same block is reused without
 * locking again; another block is locked only after the held one has been
 * released, so at most one buffer lock is ever held (and never while
 * waiting for another), as for a plain read.
 */
static Page
bh_hold_page(BhStore *s, BlockNumber blk, uint16 type)
{
	Buffer		buf;
	Page		page;

	if (s->held_buf != InvalidBuffer)
	{
		if (s->held_blk == blk)
		{
			page = BufferGetPage(s->held_buf);
			if (((BhPageOpaque *) PageGetSpecialPointer(page))->type != type)
				bh_check_page(s->index, page, blk, type);
			return page;
		}
		buf = s->held_buf;
		s->held_buf = InvalidBuffer;
		UnlockReleaseBuffer(buf);
	}
	buf = ReadBuffer(s->index, blk);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	s->held_buf = buf;
	s->held_blk = blk;
	page = BufferGetPage(buf);
	bh_check_page(s->index, page, blk, type);
	return page;
}

/*
 * Put s in scan mode: for a read-only store only (its writes would
 * self-deadlock on the held share lock).  Its source's vector callback then
 * returns a pointer into the held page, valid until the next callback.
 */
void
bh_store_hold_reads(BhStore *s)
{
	s->hold_reads = true;
	s->held_buf = InvalidBuffer;
	s->held_blk = InvalidBlockNumber;
	s->sq8_exact = false;
}

/*
 * Forget the held buffer without releasing it: at the start of a search,
 * in case an ERROR ended the last one (the abort released its lock and pin).
 */
void
bh_store_forget_held(BhStore *s)
{
	s->held_buf = InvalidBuffer;
	s->held_blk = InvalidBlockNumber;
}

/* Release the held buffer, if any: at the end of each search. */
void
bh_store_release(BhStore *s)
{
	if (s->held_buf != InvalidBuffer)
	{
		Buffer		buf = s->held_buf;

		s->held_buf = InvalidBuffer;
		s->held_blk = InvalidBlockNumber;
		UnlockReleaseBuffer(buf);
	}
}

static pg_noinline void
bh_bad_n0(BhStore *s, uint32 id, const BhSlot *sp)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("brainy_hnsw index \"%s\" is corrupted: node %u has %u layer-0 neighbours, more than %d",
					RelationGetRelationName(s->index), id,
					(unsigned) sp->n0, 2 * s->meta.m)));
}

/*
 * Copy node id's slot head (and layer-0 ids into the cache, and the vector
 * into vec when not NULL, and ids/dists when not NULL) under a share lock.
 * In scan mode the page stays held, and *vecp (when not NULL) is set to the
 * vector in it.
 */
static int
bh_read_slot_at(BhStore *s, uint32 id, BhSlot *hdr, float *vec,
				const float **vecp, uint32 *ids, float *dists)
{
	const BhMeta *meta = &s->meta;
	uint32		slot;
	BlockNumber blk;
	Buffer		buf = InvalidBuffer;
	Page		page;
	BhSlot	   *sp;

	if (id >= meta->n_nodes)
		return -1;
	blk = bh_node_block(meta, id, &slot);
	if (blk == InvalidBlockNumber)
		return -1;
	if (s->hold_reads)
		page = bh_hold_page(s, blk, BH_PAGE_NODE);
	else
	{
		buf = ReadBuffer(s->index, blk);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		bh_check_page(s->index, page, blk, BH_PAGE_NODE);
	}
	sp = bh_slot(page, meta, slot);
	/* a corrupted count must not make us copy past the slot */
	if (sp->n0 > 2 * meta->m)
		bh_bad_n0(s, id, sp);
	if (hdr)
		*hdr = *sp;
	if (vec)
		memcpy(vec, bh_slot_vec(sp), sizeof(float) * meta->dim);
	if (vecp)
		*vecp = bh_slot_vec(sp);
	if (ids)
		memcpy(ids, bh_slot_ids(sp, meta), sizeof(uint32) * sp->n0);
	if (dists)
		memcpy(dists, bh_slot_dists(sp, meta), sizeof(float) * sp->n0);
	if (s->cache)
		bh_cache_fill(s, id, sp);
	if (!s->hold_reads)
		UnlockReleaseBuffer(buf);
	return 0;
}

static int
bh_read_slot(BhStore *s, uint32 id, BhSlot *hdr, float *vec,
			 uint32 *ids, float *dists)
{
	return bh_read_slot_at(s, id, hdr, vec, NULL, ids, dists);
}

int
bh_slot_read_head(BhStore *s, uint32 id, BhSlot *hdr)
{
	BhCacheEntry *e = bh_cache_lookup(s, id);

	if (e)
	{
		*hdr = e->hdr;
		return 0;
	}
	return bh_read_slot(s, id, hdr, NULL, NULL, NULL);
}

/* copy an upper layer's list (ids, and dists/nsel when not NULL) */
static int
bh_read_upper(BhStore *s, const BhSlot *hdr, int layer, uint32 *ids,
			  float *dists, uint32 *nsel)
{
	const BhMeta *meta = &s->meta;
	Buffer		buf;
	Page		page;
	BhUpperLayer *ul;
	int			n;

	buf = InvalidBuffer;
	if (layer > hdr->level || hdr->upper_blk == InvalidBlockNumber)
		return -1;
	if (s->hold_reads)
		page = bh_hold_page(s, hdr->upper_blk, BH_PAGE_UPPER);
	else
	{
		buf = ReadBuffer(s->index, hdr->upper_blk);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		bh_check_page(s->index, page, hdr->upper_blk, BH_PAGE_UPPER);
	}
	ul = bh_upper_layer(page, meta, hdr->upper_off, layer);
	n = ul->n;
	if (n > meta->m)
	{
		if (!s->hold_reads)
			UnlockReleaseBuffer(buf);
		return -1;
	}
	memcpy(ids, ul + 1, sizeof(uint32) * n);
	if (dists)
		memcpy(dists, (uint32 *) (ul + 1) + meta->m, sizeof(float) * n);
	if (nsel)
		*nsel = ul->nsel;
	if (!s->hold_reads)
		UnlockReleaseBuffer(buf);
	return n;
}

static const float *
bh_src_vector(void *ctx, uint32_t id, float *buf)
{
	BhStore    *s = (BhStore *) ctx;
	const float *v;

	if (s->meta.quant != BH_QUANT_NONE)
	{
		BhSlot		hdr;

		/* the full vector, from the vector pages: one lock at a time */
		if (bh_slot_read_head(s, id, &hdr) != 0)
			return NULL;
		if (s->hold_reads)
			bh_store_release(s);
		bh_vec_read(s, &hdr, buf);
		return buf;
	}

	/*
	 * In scan mode, point into the held page instead of copying: the engine
	 * uses the vector only before its next callback (which may release it).
	 */
	if (s->hold_reads)
		return bh_read_slot_at(s, id, NULL, NULL, &v, NULL, NULL) != 0 ? NULL : v;
	if (bh_read_slot(s, id, NULL, buf, NULL, NULL) != 0)
		return NULL;
	return buf;
}

/*
 * Guesses of which shared buffer holds an index block, for ReadRecentBuffer:
 * it pins the guessed buffer and checks its tag, skipping the buffer
 * mapping table (a hash lookup under a partition lock, in profiles the
 * largest single cost of a search).  A guess is never trusted: a wrong or
 * stale one costs one plain ReadBuffer, which refreshes it.  Per backend,
 * indexed by a hash of (relation, block), so indexes share it; temporary
 * indexes (local buffers) do not use it.
 */
#define BH_RECENT_N		(1 << 17)

static Buffer *bh_recent;

static inline uint32
bh_recent_slot(Relation index, BlockNumber blk)
{
	return (blk ^ (index->rd_node.relNode * 0x9E3779B1u)) & (BH_RECENT_N - 1);
}

/* the buffer blk was last seen in, or InvalidBuffer: a guess to verify */
static inline Buffer
bh_recent_guess(Relation index, BlockNumber blk)
{
	if (bh_recent == NULL || RelationUsesLocalBuffers(index))
		return InvalidBuffer;
	return bh_recent[bh_recent_slot(index, blk)];
}

/* Pin blk, trying the guessed buffer first. */
static Buffer
bh_pin_block(Relation index, BlockNumber blk, Buffer guess)
{
	Buffer		buf;

	if (RelationUsesLocalBuffers(index))
		return ReadBuffer(index, blk);
	if (guess != InvalidBuffer &&
		ReadRecentBuffer(index->rd_node, MAIN_FORKNUM, blk, guess))
		return guess;
	if (bh_recent == NULL)
		bh_recent = MemoryContextAllocZero(TopMemoryContext,
										   sizeof(Buffer) * BH_RECENT_N);
	buf = ReadBuffer(index, blk);
	bh_recent[bh_recent_slot(index, blk)] = buf;
	return buf;
}

/* ReadBuffer through the recent-buffer guesses (for pages read often) */
Buffer
bh_read_buffer(Relation index, BlockNumber blk)
{
	return bh_pin_block(index, blk, bh_recent_guess(index, blk));
}

static inline void
bh_prefetch_lines(const char *p, int lines)
{
	int			i;

	for (i = 0; i < lines; i++)
		__builtin_prefetch(p + 64 * i);
}

/* prefetch the parts of node slot sp's page a score reads first */
static inline void
bh_prefetch_slot(Page page, const BhMeta *meta, uint32 slot)
{
	BhSlot	   *sp = bh_slot(page, meta, slot);

	__builtin_prefetch(page);
	__builtin_prefetch((char *) page + BH_DATA_END);
	bh_prefetch_lines((const char *) sp, 4);
	bh_prefetch_lines((const char *) bh_slot_ids(sp, meta), 2);
}

/*
 * Read (not prefetch) the parts of node slot slot's page a score reads
 * first: page header, special space, slot head, layer-0 ids.  Shared
 * buffers are usually mapped with 4 kB pages, so each buffer costs TLB
 * misses, and on the CPUs we measured a software prefetch that misses the
 * TLB is dropped; plain loads of independent addresses are not, and the
 * CPU overlaps them.  The result only feeds bh_touch_sink.
 */
static volatile uint32 bh_touch_sink;

/* PostgreSQL tracks 8 pins per backend in an array, more in a hash table */
#define BH_SCORE_PINS	6

static inline uint32
bh_touch_slot(Page page, const BhMeta *meta, uint32 slot)
{
	BhSlot	   *sp = bh_slot(page, meta, slot);

	return *(volatile uint16 *) ((char *) page + offsetof(PageHeaderData, pd_special)) ^
		*(volatile uint32 *) ((char *) page + BH_DATA_END + offsetof(BhPageOpaque, magic)) ^
		*(volatile uint8 *) sp ^
		*(volatile uint8 *) bh_slot_ids(sp, meta);
}

/* passes 3 and 4 of bh_src_score (below) for batch entries c .. cend - 1 */
static inline void
bh_score_chunk(BhStore *s, const uint32_t *ids, int c, int cend,
			   const float *q, HnswScoreFn dist, const void *dctx,
			   float bound, float *out)
{
	const BhMeta *meta = &s->meta;
	Relation	index = s->index;
	Buffer	   *bufs = s->score_bufs;
	uint32	   *slots = s->score_slots;
	BlockNumber *blks = s->score_blks;
	int			i;

	for (i = c; i < cend; i++)
	{
		Buffer		guess = bufs[i];

		bufs[i] = bh_pin_block(index, blks[i], guess);
		if (bufs[i] != guess)
			bh_prefetch_slot(BufferGetPage(bufs[i]), meta, slots[i]);
		/* a short payload (a code) entirely, else the first one's */
		if (i == c || s->payload_lines <= 16)
			bh_prefetch_lines((const char *) bh_slot(BufferGetPage(bufs[i]), meta, slots[i]) + 64,
							  s->payload_lines);
	}
	for (i = c; i < cend; i++)
	{
		Page		page;
		BhSlot	   *sp;
		BhPageOpaque *op;

		LockBuffer(bufs[i], BUFFER_LOCK_SHARE);
		page = BufferGetPage(bufs[i]);
		op = (BhPageOpaque *) ((char *) page + BH_DATA_END);
		if (((PageHeader) page)->pd_special != BH_DATA_END ||
			op->magic != BH_MAGIC || op->type != BH_PAGE_NODE)
			bh_check_page(index, page, blks[i], BH_PAGE_NODE);
		sp = bh_slot(page, meta, slots[i]);
		if (sp->n0 > 2 * meta->m)
			bh_bad_n0(s, ids[i], sp);
		if (i + 1 < cend && s->payload_lines > 16)
			bh_prefetch_lines((const char *) bh_slot(BufferGetPage(bufs[i + 1]), meta, slots[i + 1]) + 64,
							  s->payload_lines);
		if (meta->quant == BH_QUANT_NONE)
			out[i] = dist(dctx, q, bh_slot_vec(sp));
		else if (!s->sq8_exact && s->sq8 != NULL &&
				 !(sp->flags & BH_SLOT_NOCODE))
			out[i] = bh_sq8_distance(s, q, sp);
		else
		{
			BhSlot		hdr = *sp;

			/* the full vector: from other pages, so unlock this one first */
			if (s->cache)
				bh_cache_fill(s, ids[i], sp);
			LockBuffer(bufs[i], BUFFER_LOCK_UNLOCK);
			bh_vec_read(s, &hdr, s->vec_buf);
			out[i] = dist(dctx, q, s->vec_buf);
			ReleaseBuffer(bufs[i]);
			continue;
		}
		/* what the search will not look at again need not be cached */
		if (s->cache && out[i] < bound)
			bh_cache_fill(s, ids[i], sp);
		LockBuffer(bufs[i], BUFFER_LOCK_UNLOCK);
		ReleaseBuffer(bufs[i]);
	}
}

/*
 * Batch scoring (HnswSourceOps.score).  Memory latency (cache and TLB
 * misses), not arithmetic, is what a search on pages waits for, so the
 * work is done in passes over the batch, each starting the misses of the
 * next before waiting on any: (1) locate the nodes and prefetch their
 * recent-buffer guesses; (2) through the guesses, touch the buffer headers
 * (for pinning) and the parts of the pages we read first (bh_touch_slot);
 * then, BH_SCORE_PINS nodes at a time: (3) pin their pages
 * (ReadRecentBuffer, or ReadBuffer when the guess is wrong);
 * (4) share-lock one page at a time, compute the distance on the page,
 * cache the slot head and ids of nodes nearer than bound for a later
 * expansion, unlock and unpin.  Only pins are held together, never two
 * content locks.
 */
static int
bh_src_score(void *ctx, const uint32_t *ids, int n, const float *q,
			 HnswScoreFn dist, const void *dctx, float bound, float *out)
{
	BhStore    *s = (BhStore *) ctx;
	const BhMeta *meta = &s->meta;
	Relation	index = s->index;
	Buffer	   *bufs = s->score_bufs;
	uint32	   *slots = s->score_slots;
	BlockNumber *blks = s->score_blks;
	int			i,
				c,
				cend;
	uint32		touch = 0;

	if (n > 2 * meta->m)
		return -1;
	if (s->hold_reads)
		bh_store_release(s);
	for (i = 0; i < n; i++)
	{
		BlockNumber blk = InvalidBlockNumber;

		if (ids[i] < meta->n_nodes)
			blk = bh_node_block(meta, ids[i], &slots[i]);
		if (blk == InvalidBlockNumber)
			return -1;
		blks[i] = blk;
		if (bh_recent != NULL)
			__builtin_prefetch(&bh_recent[bh_recent_slot(index, blk)]);
	}
	for (i = 0; i < n; i++)
	{
		bufs[i] = bh_recent_guess(index, blks[i]);
		if (bufs[i] > 0)
		{
			touch ^= pg_atomic_read_u32(&GetBufferDescriptor(bufs[i] - 1)->state);
			touch ^= bh_touch_slot(BufferGetPage(bufs[i]), meta, slots[i]);
		}
	}
	for (c = 0; c < n; c = cend)
	{
		cend = Min(n, c + BH_SCORE_PINS);
		bh_score_chunk(s, ids, c, cend, q, dist, dctx, bound, out);
	}
	bh_touch_sink = touch;
	return 0;
}

/* drop ids a concurrent insert added after our snapshot of n_nodes */
static int
bh_filter_ids(const BhStore *s, uint32 *ids, int n)
{
	int			i,
				j = 0;

	for (i = 0; i < n; i++)
		if (ids[i] < s->meta.n_nodes)
			ids[j++] = ids[i];
	return j;
}

static int
bh_src_neighbours(void *ctx, uint32_t id, int layer, const uint32_t **list,
				  uint32_t *buf)
{
	BhStore    *s = (BhStore *) ctx;
	BhSlot		hdr;
	int			n;

	if (layer == 0)
	{
		BhCacheEntry *e = bh_cache_lookup(s, id);

		if (e)
		{
			n = e->hdr.n0;
			if (n > 2 * s->meta.m)
				return -1;
			memcpy(buf, e->ids, sizeof(uint32) * n);
			*list = buf;
			return bh_filter_ids(s, buf, n);
		}
		if (bh_read_slot(s, id, &hdr, NULL, buf, NULL) != 0)
			return -1;
		if (hdr.n0 > 2 * s->meta.m)
			return -1;
		*list = buf;
		return bh_filter_ids(s, buf, hdr.n0);
	}
	if (bh_slot_read_head(s, id, &hdr) != 0)
		return -1;
	if (layer > hdr.level)
	{
		*list = buf;
		return 0;
	}
	n = bh_read_upper(s, &hdr, layer, buf, NULL, NULL);
	if (n < 0)
		return -1;
	*list = buf;
	return bh_filter_ids(s, buf, n);
}

/*
 * The search asks right after reading the node's vector, which cached its
 * slot head: answer from that (it is as fresh as the vector it goes with).
 */
static int
bh_src_is_deleted(void *ctx, uint32_t id)
{
	BhSlot		hdr;

	if (bh_slot_read_head((BhStore *) ctx, id, &hdr) != 0)
		return -1;
	return (hdr.flags & BH_SLOT_DELETED) ? 1 : 0;
}

static int
bh_src_level(void *ctx, uint32_t id)
{
	BhSlot		hdr;

	if (bh_slot_read_head((BhStore *) ctx, id, &hdr) != 0)
		return -1;
	return hdr.level;
}

static int
bh_src_label(void *ctx, uint32_t id, uint64_t *label)
{
	BhSlot		hdr;

	if (bh_slot_read_head((BhStore *) ctx, id, &hdr) != 0)
		return -1;
	*label = hdr.label;
	return 0;
}

static int
bh_read_list(void *ctx, uint32_t id, int layer, uint32_t *ids, float *dists,
			 uint32_t *n_sel)
{
	BhStore    *s = (BhStore *) ctx;
	BhSlot		hdr;

	if (layer == 0)
	{
		if (bh_read_slot(s, id, &hdr, NULL, ids, dists) != 0)
			return -1;
		if (hdr.n0 > 2 * s->meta.m)
			return -1;
		*n_sel = hdr.nsel0;
		return hdr.n0;
	}
	if (bh_slot_read_head(s, id, &hdr) != 0)
		return -1;
	if (layer > hdr.level)
	{
		*n_sel = HNSW_NSEL_UNKNOWN;
		return 0;
	}
	return bh_read_upper(s, &hdr, layer, ids, dists, n_sel);
}

/* ------------------------------------------------------------- writes */

/* Make sure block blk exists physically (blocks past EOF are zero-filled). */
void
bh_ensure_block(Relation index, BlockNumber blk)
{
	if (blk < RelationGetNumberOfBlocks(index))
		return;
	LockRelationForExtension(index, ExclusiveLock);
	while (RelationGetNumberOfBlocks(index) <= blk)
	{
		Buffer		buf = ReadBuffer(index, P_NEW);

		ReleaseBuffer(buf);
	}
	UnlockRelationForExtension(index, ExclusiveLock);
}

void
bh_write_meta(BhStore *s, Page metapage)
{
	memcpy(BhPageGetMeta(metapage), &s->meta, sizeof(BhMeta));
	((PageHeader) metapage)->pd_lower = BH_DATA_START + sizeof(BhMeta);
}

static int
bh_add_node(void *ctx, const float *vec, int level, uint64_t label,
			uint32_t *id_out)
{
	BhStore    *s = (BhStore *) ctx;
	BhMeta	   *meta = &s->meta;
	uint32		id = meta->n_nodes;
	uint32		slot;
	BlockNumber blk,
				ublk = InvalidBlockNumber,
				vblk = InvalidBlockNumber;
	uint16		uoff = 0,
				voff = 0;
	bool		unew = false;
	bool		recycle;
	bool		ureuse;
	BhSlot		old;
	Buffer		mbuf,
				nbuf,
				ubuf = InvalidBuffer,
				fbuf = InvalidBuffer;
	Page		mpage,
				npage,
				upage = NULL;
	GenericXLogState *state;
	BhSlot	   *sp;
	Size		usize = (Size) level * meta->upper_layer_size;

	if (level < 0 || level > (int) meta->max_level_fit)
		return -1;
	/* the slot of a node VACUUM freed, if any (hnsw_free.c) */
	recycle = bh_free_peek(s, &id, &old);
	if (!recycle && id >= HNSW_MAX_NODES)
		return -1;
	/* its upper lists go into the old item when they fit */
	ureuse = recycle && level > 0 && level <= old.level &&
		old.upper_blk != InvalidBlockNumber;
	if (meta->quant != BH_QUANT_NONE)
	{
		/* its own WAL records first: space nothing points to yet */
		if (meta->quant == BH_QUANT_SQ8 && s->sq8 == NULL &&
			meta->quant_block == InvalidBlockNumber &&
			meta->n_nodes + 1 >= BH_SQ8_TRAIN_MIN)
			bh_sq8_train_store(s, vec);
		if (recycle)
		{
			bh_vec_overwrite(s, &old, vec);
			vblk = old.vec_blk;
			voff = old.vec_off;
		}
		else
			bh_vec_append(s, vec, &vblk, &voff);
	}
	blk = bh_node_block(meta, id, &slot);
	if (blk == InvalidBlockNumber && !recycle)
	{
		uint32		total = 0,
					e,
					len;

		if (meta->n_extents >= BH_MAX_EXTENTS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("brainy_hnsw index \"%s\" has too many extents",
							RelationGetRelationName(s->index))));
		for (e = 0; e < meta->n_extents; e++)
			total += meta->ext_len[e];
		len = Max(4, total / 2);
		meta->ext_start[meta->n_extents] = meta->next_block;
		meta->ext_len[meta->n_extents] = len;
		meta->n_extents++;
		meta->next_block += len;
		blk = bh_node_block(meta, id, &slot);
	}
	bh_ensure_block(s->index, blk);

	if (blk == InvalidBlockNumber)
		return -1;

	mbuf = ReadBuffer(s->index, BH_META_BLKNO);
	LockBuffer(mbuf, BUFFER_LOCK_EXCLUSIVE);
	if (recycle)
	{
		fbuf = ReadBuffer(s->index, meta->free_block);
		LockBuffer(fbuf, BUFFER_LOCK_EXCLUSIVE);
	}
	nbuf = ReadBuffer(s->index, blk);
	LockBuffer(nbuf, BUFFER_LOCK_EXCLUSIVE);

	if (ureuse)
	{
		ublk = old.upper_blk;
		uoff = old.upper_off;
		if (ublk >= meta->next_block ||
			uoff + usize > BH_DATA_END || uoff < BH_DATA_START)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("brainy_hnsw index \"%s\" is corrupted: node %u has a bad upper item",
							RelationGetRelationName(s->index), id)));
		ubuf = ReadBuffer(s->index, ublk);
		LockBuffer(ubuf, BUFFER_LOCK_EXCLUSIVE);
	}
	else if (level > 0)
	{
		ublk = meta->upper_block;
		if (ublk != InvalidBlockNumber)
		{
			ubuf = ReadBuffer(s->index, ublk);
			LockBuffer(ubuf, BUFFER_LOCK_EXCLUSIVE);
			if (((PageHeader) BufferGetPage(ubuf))->pd_lower + usize > BH_DATA_END)
			{
				UnlockReleaseBuffer(ubuf);
				ubuf = InvalidBuffer;
				ublk = InvalidBlockNumber;
			}
		}
		if (ublk == InvalidBlockNumber)
		{
			ublk = meta->next_block++;
			meta->upper_block = ublk;
			bh_ensure_block(s->index, ublk);
			ubuf = ReadBuffer(s->index, ublk);
			LockBuffer(ubuf, BUFFER_LOCK_EXCLUSIVE);
			unew = true;
		}
	}

	state = GenericXLogStart(s->index);
	mpage = GenericXLogRegisterBuffer(state, mbuf, 0);
	if (recycle)
	{
		Page		fpage = GenericXLogRegisterBuffer(state, fbuf, 0);

		bh_check_page(s->index, fpage, meta->free_block, BH_PAGE_FREE);
		bh_free_pop(meta, fpage);
	}
	if (PageIsNew(BufferGetPage(nbuf)))
	{
		npage = GenericXLogRegisterBuffer(state, nbuf, GENERIC_XLOG_FULL_IMAGE);
		bh_init_page(npage, BH_PAGE_NODE);
		((PageHeader) npage)->pd_lower = BH_DATA_START +
			meta->per_page * meta->slot_size;
	}
	else
		npage = GenericXLogRegisterBuffer(state, nbuf, 0);
	if (ureuse)
	{
		upage = GenericXLogRegisterBuffer(state, ubuf, 0);
		bh_check_page(s->index, upage, ublk, BH_PAGE_UPPER);
		memset((char *) upage + uoff, 0, usize);
	}
	else if (ubuf != InvalidBuffer)
	{
		if (unew)
		{
			upage = GenericXLogRegisterBuffer(state, ubuf, GENERIC_XLOG_FULL_IMAGE);
			bh_init_page(upage, BH_PAGE_UPPER);
		}
		else
			upage = GenericXLogRegisterBuffer(state, ubuf, 0);
		uoff = ((PageHeader) upage)->pd_lower;
		memset((char *) upage + uoff, 0, usize);
		((PageHeader) upage)->pd_lower += usize;
	}

	sp = bh_slot(npage, meta, slot);
	memset(sp, 0, meta->slot_size);
	sp->level = level;
	sp->label = label;
	sp->nsel0 = HNSW_NSEL_UNKNOWN;
	sp->upper_blk = level > 0 ? ublk : InvalidBlockNumber;
	sp->upper_off = uoff;
	sp->vec_blk = vblk;
	sp->vec_off = voff;
	if (meta->quant == BH_QUANT_NONE)
		memcpy(bh_slot_vec(sp), vec, sizeof(float) * meta->dim);
	else if (s->sq8 != NULL)
		bh_sq8_encode_slot(s->sq8, meta, sp, vec);
	else if (meta->quant == BH_QUANT_SQ8)
		sp->flags |= BH_SLOT_NOCODE;
	if (upage)
	{
		int			l;

		for (l = 1; l <= level; l++)
			bh_upper_layer(upage, meta, uoff, l)->nsel = HNSW_NSEL_UNKNOWN;
	}

	if (!recycle)
		meta->n_nodes = id + 1;
	bh_write_meta(s, mpage);
	GenericXLogFinish(state);

	if (ubuf != InvalidBuffer)
		UnlockReleaseBuffer(ubuf);
	UnlockReleaseBuffer(nbuf);
	if (fbuf != InvalidBuffer)
		UnlockReleaseBuffer(fbuf);
	UnlockReleaseBuffer(mbuf);
	bh_cache_forget(s, id);
	*id_out = id;
	return 0;
}

static int
bh_set_neighbours(void *ctx, uint32_t id, int layer, const uint32_t *ids,
				  const float *dists, int n, uint32_t n_sel)
{
	BhStore    *s = (BhStore *) ctx;
	BhMeta	   *meta = &s->meta;
	GenericXLogState *state;
	Buffer		buf;
	Page		page;
	int			i;

	if (dists == NULL || n < 0 || id >= meta->n_nodes)
		return -1;
	if (layer == 0)
	{
		uint32		slot;
		BlockNumber blk = bh_node_block(meta, id, &slot);
		BhSlot	   *sp;

		if (blk == InvalidBlockNumber || n > 2 * meta->m)
			return -1;
		buf = ReadBuffer(s->index, blk);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		state = GenericXLogStart(s->index);
		page = GenericXLogRegisterBuffer(state, buf, 0);
		sp = bh_slot(page, meta, slot);
		sp->n0 = n;
		sp->nsel0 = n_sel;
		memcpy(bh_slot_ids(sp, meta), ids, sizeof(uint32) * n);
		memcpy(bh_slot_dists(sp, meta), dists, sizeof(float) * n);
		for (i = n; i < 2 * meta->m; i++)
		{
			bh_slot_ids(sp, meta)[i] = 0;
			bh_slot_dists(sp, meta)[i] = 0;
		}
		GenericXLogFinish(state);
		UnlockReleaseBuffer(buf);
		bh_cache_forget(s, id);
	}
	else
	{
		BhSlot		hdr;
		BhUpperLayer *ul;

		if (n > meta->m)
			return -1;
		bh_cache_forget(s, id);
		if (bh_read_slot(s, id, &hdr, NULL, NULL, NULL) != 0 ||
			layer > hdr.level || hdr.upper_blk == InvalidBlockNumber)
			return -1;
		buf = ReadBuffer(s->index, hdr.upper_blk);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		state = GenericXLogStart(s->index);
		page = GenericXLogRegisterBuffer(state, buf, 0);
		ul = bh_upper_layer(page, meta, hdr.upper_off, layer);
		ul->n = n;
		ul->nsel = n_sel;
		memset(ul + 1, 0, (sizeof(uint32) + sizeof(float)) * meta->m);
		memcpy(ul + 1, ids, sizeof(uint32) * n);
		memcpy((uint32 *) (ul + 1) + meta->m, dists, sizeof(float) * n);
		GenericXLogFinish(state);
		UnlockReleaseBuffer(buf);
	}
	return 0;
}

static int
bh_set_entry_point(void *ctx, uint32_t id, int level)
{
	BhStore    *s = (BhStore *) ctx;
	GenericXLogState *state;
	Buffer		buf;
	Page		page;

	buf = ReadBuffer(s->index, BH_META_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(s->index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	s->meta.entry_point = id;
	s->meta.max_level = level;
	bh_write_meta(s, page);
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
	return 0;
}

static int
bh_mark_deleted(void *ctx, uint32_t id)
{
	BhStore    *s = (BhStore *) ctx;
	BhMeta	   *meta = &s->meta;
	GenericXLogState *state;
	uint32		slot;
	BlockNumber blk;
	Buffer		buf;
	Page		page;

	if (id >= meta->n_nodes)
		return -1;
	blk = bh_node_block(meta, id, &slot);
	if (blk == InvalidBlockNumber)
		return -1;
	buf = ReadBuffer(s->index, blk);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(s->index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	bh_slot(page, meta, slot)->flags |= BH_SLOT_DELETED;
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
	bh_cache_forget(s, id);
	return 0;
}

static const HnswStoreOps bh_store_ops = {
	.src = {
		.vector = bh_src_vector,
		.neighbours = bh_src_neighbours,
		.is_deleted = bh_src_is_deleted,
		.level = bh_src_level,
		.label = bh_src_label,
		.score = bh_src_score,
	},
	.read_list = bh_read_list,
	.add_node = bh_add_node,
	.set_neighbours = bh_set_neighbours,
	.set_entry_point = bh_set_entry_point,
	.mark_deleted = bh_mark_deleted,
};

/* Refresh the metapage copy and the store/source state from it. */
void
bh_store_reload(BhStore *s)
{
	bh_read_meta(s->index, &s->meta);
	s->st.ops = &bh_store_ops;
	s->st.ctx = s;
	s->st.dim = s->meta.dim;
	s->st.m = s->meta.m;
	s->st.metric = (HnswMetric) s->meta.metric;
	s->st.n_nodes = s->meta.n_nodes;
	s->st.entry_point = s->meta.entry_point;
	s->st.max_level = s->meta.max_level;
	hnsw_store_source(&s->st, &s->src);
	bh_cache_reset(s);
	if (s->meta.quant == BH_QUANT_SQ8)
		bh_sq8_load(s);
}

/* Start a search: the query to prepare for code distances is a new one. */
void
bh_store_new_search(BhStore *s)
{
	s->sq8_ready = false;
}

/* A store over index, in CurrentMemoryContext. */
BhStore *
bh_store_open(Relation index, bool cache)
{
	BhStore    *s = palloc0(sizeof(BhStore));

	s->index = index;
	s->held_buf = InvalidBuffer;
	s->held_blk = InvalidBlockNumber;
	bh_read_meta(index, &s->meta);
	s->score_bufs = palloc(sizeof(Buffer) * 2 * s->meta.m);
	s->score_slots = palloc(sizeof(uint32) * 2 * s->meta.m);
	s->score_blks = palloc(sizeof(BlockNumber) * 2 * s->meta.m);
	if (s->meta.quant != BH_QUANT_NONE)
	{
		s->sq8_buf = palloc(sizeof(float) * 2 * s->meta.dim);
		s->vec_buf = palloc(sizeof(float) * s->meta.dim);
	}
	/* writers score with full vectors; scans (bh_store_hold_reads) with codes */
	s->sq8_exact = true;
	/* cache lines of a slot's payload past the slot's first line */
	s->payload_lines = Max(0, (int) ((sizeof(BhSlot) + s->meta.payload_size - 64 + 63) / 64));
	if (cache)
	{
		s->cache_n = 1024;
		s->cache_entry_size = MAXALIGN(offsetof(BhCacheEntry, ids) +
									   sizeof(uint32) * 2 * s->meta.m);
		s->cache = palloc0(s->cache_n * s->cache_entry_size);
		s->cache_gen = 0;		/* bh_store_reload makes it 1 */
	}
	bh_store_reload(s);
	return s;
}
