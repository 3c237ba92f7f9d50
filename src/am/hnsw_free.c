/*
 * hnsw_free.c - the free list of a brainy_hnsw index: node slots of deleted
 * rows that new rows reuse.
 *
 * VACUUM marks the nodes of dead rows deleted and repairs the graph, after
 * which a deleted node (other than the entry point) has no edges in or
 * out; bh_free_rebuild then lists those nodes in free pages, a chain whose
 * first page and current page the metapage records.  An insert takes the
 * last id of the current page (bh_free_peek, then bh_free_pop inside the
 * insert's own WAL record) and writes the new node into that slot, its
 * upper lists into the old upper item when they fit, and under vector
 * pages its vector over the old one.  Everything runs under the index's
 * insert lock.  A listed id is checked again before it is used (still
 * deleted, still edgeless, not the entry point); one that is not is
 * dropped from the list.  Pages of the chain are reused by the next
 * rebuild, so the list costs one page per ~2,000 free nodes.
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

#include "hnsw_am.h"

#define BH_FREE_CAP	((uint32) ((BH_DATA_SIZE - sizeof(BhFreeHead)) / sizeof(uint32)))

static inline BhFreeHead *
bh_free_head(Page page)
{
	return (BhFreeHead *) ((char *) page + BH_DATA_START);
}

static inline uint32 *
bh_free_ids(Page page)
{
	return (uint32 *) (bh_free_head(page) + 1);
}

/* May node id, whose slot head is hdr, take a new row? */
static bool
bh_free_usable(const BhStore *s, uint32 id, const BhSlot *hdr)
{
	return id < s->meta.n_nodes && id != s->meta.entry_point &&
		(hdr->flags & BH_SLOT_DELETED) && hdr->n0 == 0;
}

/*
 * After VACUUM's repair: list every deleted node without edges (except the
 * entry point) in the free pages, replacing the old list.  Under the insert
 * lock.  Each page is its own WAL record and the metapage comes last, so a
 * crash in between leaves the old list or pages listing nodes that are
 * free as well: either way only free nodes.
 */
void
bh_free_rebuild(BhStore *s)
{
	BhMeta	   *meta = &s->meta;
	uint32	   *ids = palloc_extended(sizeof(uint32) * Max(meta->n_nodes, 1),
									  MCXT_ALLOC_HUGE);
	uint32		n = 0,
				id,
				done = 0;
	BlockNumber blk = meta->free_first,
				first = InvalidBlockNumber;
	Buffer		mbuf;
	GenericXLogState *state;
	uint32	   *lbuf = palloc(sizeof(uint32) * 2 * meta->m);

	for (id = 0; id < meta->n_nodes; id++)
	{
		BhSlot		hdr;
		int			l;
		bool		edgeless = true;

		vacuum_delay_point();
		if (bh_slot_read_head(s, id, &hdr) != 0)
			elog(ERROR, "brainy_hnsw: cannot read node %u", id);
		if (!bh_free_usable(s, id, &hdr))
			continue;
		for (l = 1; l <= hdr.level && edgeless; l++)
		{
			const uint32_t *list;

			edgeless = s->src.ops->neighbours(s->src.ctx, id, l, &list, lbuf) == 0;
		}
		if (edgeless)
			ids[n++] = id;
	}

	/* write the list into the chain, reusing its pages, then extending it */
	while (done < n)
	{
		uint32		k = Min(BH_FREE_CAP, n - done);
		Buffer		buf;
		Page		page;
		BlockNumber next_old = InvalidBlockNumber;
		bool		fresh = (blk == InvalidBlockNumber);

		if (fresh)
			blk = meta->next_block++;
		bh_ensure_block(s->index, blk);
		buf = ReadBuffer(s->index, blk);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		if (!fresh)
		{
			bh_check_page(s->index, BufferGetPage(buf), blk, BH_PAGE_FREE);
			next_old = bh_free_head(BufferGetPage(buf))->next;
		}
		state = GenericXLogStart(s->index);
		page = GenericXLogRegisterBuffer(state, buf, GENERIC_XLOG_FULL_IMAGE);
		bh_init_page(page, BH_PAGE_FREE);
		bh_free_head(page)->n = k;
		/* keep the old chain behind this page: its pages are reused later */
		bh_free_head(page)->next = next_old;
		memcpy(bh_free_ids(page), ids + done, sizeof(uint32) * k);
		((PageHeader) page)->pd_lower = BH_DATA_START + sizeof(BhFreeHead) +
			sizeof(uint32) * k;
		GenericXLogFinish(state);
		UnlockReleaseBuffer(buf);
		if (first == InvalidBlockNumber)
			first = blk;
		done += k;
		blk = next_old;
	}

	/* pages of the old chain past the new list: empty them */
	while (blk != InvalidBlockNumber)
	{
		Buffer		buf = ReadBuffer(s->index, blk);
		Page		page;
		BlockNumber next;

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		bh_check_page(s->index, BufferGetPage(buf), blk, BH_PAGE_FREE);
		state = GenericXLogStart(s->index);
		page = GenericXLogRegisterBuffer(state, buf, 0);
		next = bh_free_head(page)->next;
		bh_free_head(page)->n = 0;
		GenericXLogFinish(state);
		UnlockReleaseBuffer(buf);
		if (first == InvalidBlockNumber)
			first = blk;
		blk = next;
	}

	mbuf = ReadBuffer(s->index, BH_META_BLKNO);
	LockBuffer(mbuf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(s->index);
	meta->free_first = first;
	meta->free_block = n > 0 ? first : InvalidBlockNumber;
	meta->n_free = n;
	bh_write_meta(s, GenericXLogRegisterBuffer(state, mbuf, 0));
	GenericXLogFinish(state);
	UnlockReleaseBuffer(mbuf);
	pfree(ids);
	pfree(lbuf);
}

/*
 * Drop the last id of the current free page (page: its image registered in
 * the caller's WAL record, with the metapage); an emptied page passes the
 * list on to the next page of the chain.
 */
static void
bh_free_drop_last(BhMeta *meta, Page page)
{
	BhFreeHead *h = bh_free_head(page);

	if (h->n > 0)
	{
		h->n--;
		if (meta->n_free > 0)
			meta->n_free--;
	}
	if (h->n == 0)
	{
		meta->free_block = h->next;
		if (meta->free_block == InvalidBlockNumber)
			meta->n_free = 0;
	}
}

/*
 * The id an insert can reuse, with its old slot head in *old; false when
 * the list is empty.  Ids that cannot be used any more are dropped.
 */
bool
bh_free_peek(BhStore *s, uint32 *id, BhSlot *old)
{
	BhMeta	   *meta = &s->meta;

	while (meta->n_free > 0 && meta->free_block != InvalidBlockNumber)
	{
		Buffer		buf = ReadBuffer(s->index, meta->free_block);
		Buffer		mbuf;
		Page		page;
		BhFreeHead *h;
		uint32		cand = HNSW_NO_NODE;
		GenericXLogState *state;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		bh_check_page(s->index, page, meta->free_block, BH_PAGE_FREE);
		h = bh_free_head(page);
		if (h->n > BH_FREE_CAP)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("brainy_hnsw index \"%s\" has a corrupted free list",
							RelationGetRelationName(s->index))));
		if (h->n > 0)
			cand = bh_free_ids(page)[h->n - 1];
		UnlockReleaseBuffer(buf);
		if (cand != HNSW_NO_NODE && cand < meta->n_nodes &&
			bh_slot_read_head(s, cand, old) == 0 &&
			bh_free_usable(s, cand, old))
		{
			*id = cand;
			return true;
		}
		/* not usable: drop it and look at the next */
		mbuf = ReadBuffer(s->index, BH_META_BLKNO);
		LockBuffer(mbuf, BUFFER_LOCK_EXCLUSIVE);
		buf = ReadBuffer(s->index, meta->free_block);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		state = GenericXLogStart(s->index);
		page = GenericXLogRegisterBuffer(state, buf, 0);
		bh_free_drop_last(meta, page);
		bh_write_meta(s, GenericXLogRegisterBuffer(state, mbuf, 0));
		GenericXLogFinish(state);
		UnlockReleaseBuffer(buf);
		UnlockReleaseBuffer(mbuf);
	}
	return false;
}

/*
 * Take the id bh_free_peek gave out of the list, inside the caller's WAL
 * record: fpage is the free page's registered image, meta the store's copy
 * (the caller writes the metapage in the same record).
 */
void
bh_free_pop(BhMeta *meta, Page fpage)
{
	bh_free_drop_last(meta, fpage);
}
