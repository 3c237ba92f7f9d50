/*
 * hnsw_pending.c - the pending list of a brainy_hnsw index (fastupdate):
 * rows inserted but not linked into the graph yet.
 *
 * With fastupdate on, an insert appends the row's vector and heap TID to
 * the last page of a chain of pending pages (one small WAL record) instead
 * of linking it into the graph, which costs hundreds of distance
 * computations and a dozen rewritten neighbour lists.  A scan computes the
 * exact distance of every pending row and merges them into the graph's
 * results by distance, so a pending row is found as soon as it commits.
 * bh_pending_merge links pending rows into the graph, oldest page first:
 * the replication worker calls it while idle, VACUUM (autovacuum too)
 * before anything else, brainy_hnsw_merge_pending() on demand; an insert
 * that finds the list at its limit links its row into the graph itself.
 *
 * Concurrency.  Appends and merges run under the index's insert lock, as
 * graph inserts do, so the chain has one writer at a time.  A scan reads
 * the head from the metapage and walks the chain with lock coupling (a
 * page's share lock is kept until the next page is locked).  A merge links
 * a page's rows into the graph before it unlinks the page, which it does
 * under exclusive locks of the metapage and the page.  So a row that a scan
 * does not meet in the chain was in the graph before the scan searched it,
 * and a row met in both is returned once: the scan skips graph results
 * whose TID it took from the chain.
 *
 * Crash safety.  Each append, each linked row's "done" mark and each
 * page's unlinking is one generic WAL record.  A crash between a row's link
 * and its mark links that row again at the next merge: two nodes with one
 * TID, which scans return once (they skip TIDs already returned) and VACUUM
 * deletes together.
 *
 * Page: BhPendHead, then n entries of bh_pending_entry_size(dim) bytes:
 * uint64 label (heap TID), float vec[dim] as inserted (under cosine
 * normalised, as the graph stores it).  Entries before
 * `done` are linked already.
 */
#include "postgres.h"

#include <float.h>

#include "access/generic_xlog.h"
#include "access/table.h"
#include "access/xlog.h"
#include "catalog/index.h"
#include "commands/defrem.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "hnsw_am.h"

typedef struct BhPendHead
{
	uint32		n;				/* entries on the page */
	uint32		done;			/* entries already linked into the graph */
	BlockNumber next;			/* next page of the chain, or 0 */
	uint32		unused;
} BhPendHead;

#define BH_PEND_START	(BH_DATA_START + MAXALIGN(sizeof(BhPendHead)))

static inline BhPendHead *
bh_pend_head(Page page)
{
	return (BhPendHead *) ((char *) page + BH_DATA_START);
}

static bool
bh_vector_is_zero(const float *v, int dim)
{
	int			i;

	for (i = 0; i < dim; i++)
		if (v[i] != 0.0f)
			return false;
	return true;
}

static Size
bh_pending_entry_size(int dim)
{
	return MAXALIGN(sizeof(uint64) + sizeof(float) * (Size) dim);
}

static inline char *
bh_pend_entry(Page page, Size esize, uint32 i)
{
	return (char *) page + BH_PEND_START + esize * i;
}

/* Entries per pending page; 0 when one does not fit (no pending list). */
uint32
bh_pending_capacity(int dim)
{
	return (uint32) ((BH_DATA_END - BH_PEND_START) / bh_pending_entry_size(dim));
}

static void
bh_pend_set_lower(Page page, Size esize)
{
	((PageHeader) page)->pd_lower = BH_PEND_START + esize * bh_pend_head(page)->n;
}

static void
bh_pend_check(Relation index, Buffer buf, BlockNumber blk, uint32 cap)
{
	Page		page = BufferGetPage(buf);
	BhPendHead *h;

	bh_check_page(index, page, blk, BH_PAGE_PENDING);
	h = bh_pend_head(page);
	if (h->n > cap || h->done > h->n)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("brainy_hnsw index \"%s\": pending page %u is corrupted",
						RelationGetRelationName(index), blk)));
}

/*
 * Append (vec, label) to the pending list, under the insert lock.  False
 * when the list already holds `limit` bytes of rows or a row does not fit
 * a page: the caller links the row into the graph instead.  True also for
 * a zero vector under cosine, which is not indexed at all.
 * Under cosine the row is kept normalised to unit length, as the graph
 * keeps it.
 */
bool
bh_pending_append(Relation index, const float *vec, int dim, uint64 label,
				  Size limit)
{
	Buffer		mbuf,
				tbuf = InvalidBuffer,
				nbuf = InvalidBuffer;
	BhMeta	   *meta;
	GenericXLogState *state;
	Page		mpage,
				tpage = NULL,
				npage;
	uint32		cap;
	Size		esize;
	BlockNumber nblk = 0;
	BlockNumber next_free = 0;
	char	   *e;

	mbuf = ReadBuffer(index, BH_META_BLKNO);
	LockBuffer(mbuf, BUFFER_LOCK_EXCLUSIVE);
	bh_check_page(index, BufferGetPage(mbuf), BH_META_BLKNO, BH_PAGE_META);
	meta = BhPageGetMeta(BufferGetPage(mbuf));
	if (dim != meta->dim)
	{
		int			want = meta->dim;

		UnlockReleaseBuffer(mbuf);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", want, dim)));
	}
	if (meta->metric == HNSW_COSINE && bh_vector_is_zero(vec, dim))
	{
		/* no direction: not indexed under cosine (as bh_insert does) */
		UnlockReleaseBuffer(mbuf);
		return true;
	}
	if (meta->metric == HNSW_COSINE)
	{
		/* stored as the graph stores it (unit length): scans use it as is */
		float	   *unit = palloc(sizeof(float) * dim);
		HnswError	err;

		if (hnsw_vector_prepare(HNSW_COSINE, vec, dim, unit, &err) != HNSW_OK)
		{
			UnlockReleaseBuffer(mbuf);
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("brainy_hnsw: %s", err.message)));
		}
		vec = unit;
	}
	cap = bh_pending_capacity(meta->dim);
	esize = bh_pending_entry_size(meta->dim);
	if (cap == 0 || (Size) meta->pend_n * esize >= limit)
	{
		UnlockReleaseBuffer(mbuf);
		return false;
	}

	if (meta->pend_tail != 0)
	{
		tbuf = ReadBuffer(index, meta->pend_tail);
		LockBuffer(tbuf, BUFFER_LOCK_EXCLUSIVE);
		bh_pend_check(index, tbuf, meta->pend_tail, cap);
		if (bh_pend_head(BufferGetPage(tbuf))->n < cap)
		{
			/* room on the last page: one record of that page and the count */
			state = GenericXLogStart(index);
			mpage = GenericXLogRegisterBuffer(state, mbuf, 0);
			tpage = GenericXLogRegisterBuffer(state, tbuf, 0);
			e = bh_pend_entry(tpage, esize, bh_pend_head(tpage)->n);
			memcpy(e, &label, sizeof(uint64));
			memcpy(e + sizeof(uint64), vec, sizeof(float) * meta->dim);
			bh_pend_head(tpage)->n++;
			bh_pend_set_lower(tpage, esize);
			BhPageGetMeta(mpage)->pend_n++;
			((PageHeader) mpage)->pd_lower = BH_DATA_START + sizeof(BhMeta);
			GenericXLogFinish(state);
			UnlockReleaseBuffer(tbuf);
			UnlockReleaseBuffer(mbuf);
			return true;
		}
	}

	/* a new last page: an emptied one, else a new block */
	if (meta->pend_free != 0)
	{
		nblk = meta->pend_free;
		nbuf = ReadBuffer(index, nblk);
		LockBuffer(nbuf, BUFFER_LOCK_EXCLUSIVE);
		bh_pend_check(index, nbuf, nblk, cap);
		next_free = bh_pend_head(BufferGetPage(nbuf))->next;
	}
	else
	{
		nblk = meta->next_block;
		bh_ensure_block(index, nblk);
		nbuf = ReadBuffer(index, nblk);
		LockBuffer(nbuf, BUFFER_LOCK_EXCLUSIVE);
	}

	state = GenericXLogStart(index);
	mpage = GenericXLogRegisterBuffer(state, mbuf, 0);
	if (BufferIsValid(tbuf))
		tpage = GenericXLogRegisterBuffer(state, tbuf, 0);
	npage = GenericXLogRegisterBuffer(state, nbuf, GENERIC_XLOG_FULL_IMAGE);
	bh_init_page(npage, BH_PAGE_PENDING);
	memset(bh_pend_head(npage), 0, sizeof(BhPendHead));
	e = bh_pend_entry(npage, esize, 0);
	memcpy(e, &label, sizeof(uint64));
	memcpy(e + sizeof(uint64), vec, sizeof(float) * meta->dim);
	bh_pend_head(npage)->n = 1;
	bh_pend_set_lower(npage, esize);
	if (tpage)
		bh_pend_head(tpage)->next = nblk;

	meta = BhPageGetMeta(mpage);
	if (meta->pend_free == nblk)
		meta->pend_free = next_free;
	else
		meta->next_block = nblk + 1;
	if (meta->pend_head == 0)
		meta->pend_head = nblk;
	meta->pend_tail = nblk;
	meta->pend_pages++;
	meta->pend_n++;
	((PageHeader) mpage)->pd_lower = BH_DATA_START + sizeof(BhMeta);
	GenericXLogFinish(state);

	UnlockReleaseBuffer(nbuf);
	if (BufferIsValid(tbuf))
		UnlockReleaseBuffer(tbuf);
	UnlockReleaseBuffer(mbuf);
	return true;
}

/* Record that the entries before `done` of page blk are in the graph. */
static void
bh_pend_mark_done(Relation index, BlockNumber blk, uint32 done)
{
	Buffer		buf = ReadBuffer(index, blk);
	GenericXLogState *state;
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	bh_pend_head(page)->done = done;
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
}

/* Unlink the fully linked head page blk from the chain; keep it for reuse. */
static void
bh_pend_unlink_head(BhStore *s, BlockNumber blk, uint32 n, BlockNumber next)
{
	Buffer		mbuf = ReadBuffer(s->index, BH_META_BLKNO);
	Buffer		buf = ReadBuffer(s->index, blk);
	GenericXLogState *state;
	Page		mpage,
				page;
	BhMeta	   *meta = &s->meta;

	LockBuffer(mbuf, BUFFER_LOCK_EXCLUSIVE);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(s->index);
	mpage = GenericXLogRegisterBuffer(state, mbuf, 0);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	meta->pend_head = next;
	if (next == 0)
		meta->pend_tail = 0;
	meta->pend_n -= Min(n, meta->pend_n);
	if (meta->pend_pages > 0)
		meta->pend_pages--;
	bh_pend_head(page)->n = 0;
	bh_pend_head(page)->done = 0;
	bh_pend_head(page)->next = meta->pend_free;
	((PageHeader) page)->pd_lower = BH_PEND_START;
	meta->pend_free = blk;
	meta->pend_linked += n;
	bh_write_meta(s, mpage);
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
	UnlockReleaseBuffer(mbuf);
}

/*
 * Link up to max pending rows (all when max < 0) into the graph of store s,
 * oldest first, under the insert lock.  With a callback (VACUUM's), rows
 * it reports dead are dropped instead of linked and counted in *removed.
 * Returns the rows linked.
 */
int64
bh_pending_merge(BhStore *s, int64 max, IndexBulkDeleteCallback callback,
				 void *callback_state, int64 *removed)
{
	Relation	index = s->index;
	uint32		cap = bh_pending_capacity(s->meta.dim);
	Size		esize = bh_pending_entry_size(s->meta.dim);
	char	   *entries = NULL;
	int64		linked = 0,
				dropped = 0;

	if (cap > 0)
		entries = palloc(esize * cap);
	while (s->meta.pend_head != 0 && (max < 0 || linked + dropped < max))
	{
		BlockNumber blk = s->meta.pend_head;
		Buffer		buf = ReadBuffer(index, blk);
		BhPendHead	h;
		uint32		i;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		bh_pend_check(index, buf, blk, cap);
		h = *bh_pend_head(BufferGetPage(buf));
		if (h.n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("brainy_hnsw index \"%s\": pending page %u is in the list but empty",
							RelationGetRelationName(index), blk),
					 errhint("REINDEX the index.")));
		if (h.n > 0)
			memcpy(entries, bh_pend_entry(BufferGetPage(buf), esize, 0), esize * h.n);
		UnlockReleaseBuffer(buf);

		for (i = h.done; i < h.n && (max < 0 || linked + dropped < max); i++)
		{
			const char *e = entries + esize * i;
			uint64		label;
			bool		dead = false;

			memcpy(&label, e, sizeof(uint64));
			CHECK_FOR_INTERRUPTS();
			if (callback)
			{
				ItemPointerData tid;

				vacuum_delay_point();
				bh_label_to_tid(label, &tid);
				dead = callback(&tid, callback_state);
			}
			if (dead)
				dropped++;
			else
			{
				bh_store_insert_one(s, (const float *) (e + sizeof(uint64)), label,
									bh_draw_level(&s->meta));
				linked++;
			}
			bh_pend_mark_done(index, blk, i + 1);
		}
		if (i < h.n)
			break;				/* out of budget in the middle of the page */
		bh_pend_unlink_head(s, blk, h.n, h.next);
	}
	if (entries)
		pfree(entries);
	if (removed)
		*removed = dropped;
	return linked;
}

/*
 * After a reconnect (VACUUM's, or a merge's): no row linked since needs
 * one.  Under the insert lock.
 */
void
bh_pending_relinked(BhStore *s)
{
	Buffer		mbuf;
	GenericXLogState *state;

	if (s->meta.pend_linked == 0)
		return;
	mbuf = ReadBuffer(s->index, BH_META_BLKNO);
	LockBuffer(mbuf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(s->index);
	s->meta.pend_linked = 0;
	bh_write_meta(s, GenericXLogRegisterBuffer(state, mbuf, 0));
	GenericXLogFinish(state);
	UnlockReleaseBuffer(mbuf);
}

/*
 * The rows of the pending list not linked yet, with their exact distance
 * from query (prepared: hnsw_vector_prepare), in chain order; NULL and
 * *n_out = 0 when there are none.  meta: the index's metapage as the scan
 * read it (dimensions, metric).
 */
BhPendingHit *
bh_pending_scan(Relation index, const BhMeta *meta, const float *query,
				int *n_out)
{
	Buffer		mbuf,
				buf;
	BlockNumber blk;
	uint32		cap = bh_pending_capacity(meta->dim);
	Size		esize = bh_pending_entry_size(meta->dim);
	HnswMetric	metric = (HnswMetric) meta->metric;
	int			dim = meta->dim;
	BhPendingHit *hits = NULL;
	int			n = 0,
				size = 0;
	BlockNumber nblocks,
				visited = 0;
	float	   *dists = palloc(sizeof(float) * Max(cap, 1));

	*n_out = 0;
	mbuf = ReadBuffer(index, BH_META_BLKNO);
	LockBuffer(mbuf, BUFFER_LOCK_SHARE);
	bh_check_page(index, BufferGetPage(mbuf), BH_META_BLKNO, BH_PAGE_META);
	blk = BhPageGetMeta(BufferGetPage(mbuf))->pend_head;
	if (blk == 0 || cap == 0)
	{
		UnlockReleaseBuffer(mbuf);
		pfree(dists);
		return NULL;
	}
	size = Max(16, (int) Min(BhPageGetMeta(BufferGetPage(mbuf))->pend_n, 1 << 20));
	hits = palloc(sizeof(BhPendingHit) * size);
	nblocks = RelationGetNumberOfBlocks(index);
	buf = ReadBuffer(index, blk);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	UnlockReleaseBuffer(mbuf);

	for (;;)
	{
		Page		page = BufferGetPage(buf);
		BhPendHead *h;
		uint32		i;
		BlockNumber next;
		Buffer		nbuf;

		if (++visited > nblocks &&
			visited > (nblocks = RelationGetNumberOfBlocks(index)))
		{
			UnlockReleaseBuffer(buf);
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("brainy_hnsw index \"%s\": its pending list loops",
							RelationGetRelationName(index)),
					 errhint("REINDEX the index.")));
		}
		bh_pend_check(index, buf, blk, cap);
		h = bh_pend_head(page);
		/* the page's rows not linked yet, their vectors one entry apart */
		while (n + (int) (h->n - h->done) > size)
		{
			size *= 2;
			hits = repalloc_huge(hits, sizeof(BhPendingHit) * size);
		}
		if (h->n > h->done)
			hnsw_distances_strided(metric, query,
								   bh_pend_entry(page, esize, h->done) + sizeof(uint64),
								   esize, (int) (h->n - h->done), dim, dists);
		for (i = h->done; i < h->n; i++, n++)
		{
			memcpy(&hits[n].label, bh_pend_entry(page, esize, i), sizeof(uint64));
			hits[n].distance = dists[i - h->done];
		}
		next = h->next;
		if (next == 0)
		{
			UnlockReleaseBuffer(buf);
			break;
		}
		/* lock coupling: the next page before letting go of this one */
		nbuf = ReadBuffer(index, next);
		LockBuffer(nbuf, BUFFER_LOCK_SHARE);
		UnlockReleaseBuffer(buf);
		buf = nbuf;
		blk = next;
	}
	pfree(dists);
	*n_out = n;
	return hits;
}

/* ------------------------------------------- a scan's view of the hits */

/*
 * A scan consumes the pending rows nearest first, usually only a few of
 * them (LIMIT k): a binary min-heap by (distance, label), built in linear
 * time, costs far less than sorting every row.
 */
static inline bool
bh_hit_before(const BhPendingHit *x, const BhPendingHit *y)
{
	if (x->distance != y->distance)
		return x->distance < y->distance;
	return x->label < y->label;
}

static void
bh_hits_sift_down(BhPendingHit *h, int n, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1,
					m = i;
		BhPendingHit t;

		if (l < n && bh_hit_before(&h[l], &h[m]))
			m = l;
		if (l + 1 < n && bh_hit_before(&h[l + 1], &h[m]))
			m = l + 1;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/* Make h[0..n) a heap: h[0] is then the nearest row. */
void
bh_hits_heapify(BhPendingHit *h, int n)
{
	int			i;

	for (i = n / 2 - 1; i >= 0; i--)
		bh_hits_sift_down(h, n, i);
}

/* Remove the nearest row h[0] from the heap of *n rows. */
void
bh_hits_pop(BhPendingHit *h, int *n)
{
	if (*n <= 0)
		return;
	h[0] = h[--(*n)];
	bh_hits_sift_down(h, *n, 0);
}

/*
 * The TIDs of the hits as an open-addressing set (linear probing, twice as
 * many slots as labels; a label is never 0, the offset of a TID being at
 * least 1), for the scan to skip graph results it has from the list.
 */
void
bh_label_set_init(BhLabelSet *set, const BhPendingHit *hits, int n)
{
	uint32		size = 16;
	int			i;

	while (size < (uint32) n * 2)
		size *= 2;
	set->slots = palloc0(sizeof(uint64) * size);
	set->mask = size - 1;
	for (i = 0; i < n; i++)
	{
		uint32		j = (uint32) (hits[i].label * UINT64CONST(0x9E3779B97F4A7C15) >> 40) & set->mask;

		while (set->slots[j] != 0 && set->slots[j] != hits[i].label)
			j = (j + 1) & set->mask;
		set->slots[j] = hits[i].label;
	}
}

bool
bh_label_set_has(const BhLabelSet *set, uint64 label)
{
	uint32		j;

	if (set->slots == NULL)
		return false;
	j = (uint32) (label * UINT64CONST(0x9E3779B97F4A7C15) >> 40) & set->mask;
	while (set->slots[j] != 0)
	{
		if (set->slots[j] == label)
			return true;
		j = (j + 1) & set->mask;
	}
	return false;
}

/* ------------------------------------------------------------- merging */

#define BH_RELINK_MIN 1000

/*
 * Link up to max rows (all when max < 0) of index's pending list into its
 * graph.  The caller holds RowExclusiveLock or stronger on the index, as an
 * insert does.
 */
static int64
bh_merge_index(Relation index, int64 max)
{
	BhStore    *s;
	int64		n;

	if (RelationGetNumberOfBlocks(index) == 0)
		return 0;				/* never built (a failed CONCURRENTLY) */
	LockPage(index, BH_META_BLKNO, ExclusiveLock);
	s = bh_store_open(index, false);
	n = s->meta.pend_head != 0 ? bh_pending_merge(s, max, NULL, NULL, NULL) : 0;

	/*
	 * Inserts can leave a node no other node links to (see
	 * bh_vacuumcleanup).  Once the list is empty and it has grown the graph
	 * by a tenth (at least BH_RELINK_MIN rows) since the last reconnect,
	 * reconnect, so rows linked here are found without waiting for VACUUM.
	 * A reconnect reads every node: a tenth keeps it a small share of the
	 * cost of linking.
	 */
	if (s->meta.pend_head == 0 &&
		s->meta.pend_linked >= Max(BH_RELINK_MIN, s->meta.n_nodes / 10))
	{
		bh_store_reconnect(s);
		bh_pending_relinked(s);
	}
	UnlockPage(index, BH_META_BLKNO, ExclusiveLock);
	return n;
}

/*
 * Link up to max pending rows (all when max < 0) of the brainy_hnsw indexes
 * of table relid into their graphs; the rows linked.  For the replication
 * worker, which calls it between segments; it holds no lock of its own.
 */
int64
bh_merge_table(Oid relid, int64 max)
{
	Relation	heap = try_table_open(relid, RowExclusiveLock);
	List	   *indexes;
	ListCell   *lc;
	int64		n = 0;

	if (heap == NULL)
		return 0;			/* dropped */
	indexes = RelationGetIndexList(heap);

	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), RowExclusiveLock);

		if (index->rd_rel->relam == get_index_am_oid("brainy_hnsw", false) &&
			(max < 0 || n < max))
			n += bh_merge_index(index, max < 0 ? -1 : max - n);
		index_close(index, RowExclusiveLock);
	}
	list_free(indexes);
	table_close(heap, RowExclusiveLock);
	return n;
}

PG_FUNCTION_INFO_V1(brainy_hnsw_merge_pending);

/*
 * brainy_hnsw_merge_pending(index regclass, max_rows bigint DEFAULT NULL)
 * -> bigint: link up to max_rows (all when NULL) rows of the index's
 * pending list into its graph; the rows linked.  The table's owner only.
 */
Datum
brainy_hnsw_merge_pending(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	int64		max = PG_ARGISNULL(1) ? -1 : PG_GETARG_INT64(1);
	Oid			heapid;
	Relation	heap,
				index;
	int64		n;

	if (!PG_ARGISNULL(1) && max < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must not be negative")));
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("recovery is in progress"),
				 errhint("The pending list cannot be merged during recovery.")));
	if (get_rel_name(relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	heapid = IndexGetRelation(relid, true);
	if (!OidIsValid(heapid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an index", get_rel_name(relid))));
	heap = table_open(heapid, RowExclusiveLock);
	index = index_open(relid, RowExclusiveLock);
	if (index->rd_rel->relam != get_index_am_oid("brainy_hnsw", false))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a brainy_hnsw index",
						RelationGetRelationName(index))));
	if (!pg_class_ownercheck(heapid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_INDEX,
					   RelationGetRelationName(index));
	n = bh_merge_index(index, max);
	index_close(index, RowExclusiveLock);
	table_close(heap, RowExclusiveLock);
	PG_RETURN_INT64(n);
}

PG_FUNCTION_INFO_V1(brainy_hnsw_pending_rows);

/*
 * brainy_hnsw_pending_rows(index regclass) -> bigint: the rows of the
 * index's pending list not linked into its graph yet (0 without a list).
 * Cheap (the metapage and the list's first page), for monitoring; NULL for
 * a user who cannot SELECT from the table, and for what is not a
 * brainy_hnsw index.
 */
Datum
brainy_hnsw_pending_rows(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Oid			heapid = IndexGetRelation(relid, true);
	Relation	index;
	Buffer		buf;
	BlockNumber head;
	int64		n = 0;

	if (!OidIsValid(heapid) ||
		pg_class_aclcheck(heapid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		PG_RETURN_NULL();
	index = index_open(relid, AccessShareLock);
	if (index->rd_rel->relam != get_index_am_oid("brainy_hnsw", false))
	{
		index_close(index, AccessShareLock);
		PG_RETURN_NULL();
	}
	if (RelationGetNumberOfBlocks(index) == 0)
	{
		index_close(index, AccessShareLock);
		PG_RETURN_INT64(0);		/* never built (a failed CONCURRENTLY) */
	}
	buf = ReadBuffer(index, BH_META_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	bh_check_page(index, BufferGetPage(buf), BH_META_BLKNO, BH_PAGE_META);
	head = BhPageGetMeta(BufferGetPage(buf))->pend_head;
	n = BhPageGetMeta(BufferGetPage(buf))->pend_n;
	if (head != 0)
	{
		/* the head page's linked rows are still counted in pend_n */
		Buffer		hbuf = ReadBuffer(index, head);

		LockBuffer(hbuf, BUFFER_LOCK_SHARE);
		UnlockReleaseBuffer(buf);
		bh_check_page(index, BufferGetPage(hbuf), head, BH_PAGE_PENDING);
		n -= Min(bh_pend_head(BufferGetPage(hbuf))->done, (uint32) n);
		UnlockReleaseBuffer(hbuf);
	}
	else
		UnlockReleaseBuffer(buf);
	index_close(index, AccessShareLock);
	PG_RETURN_INT64(n);
}
