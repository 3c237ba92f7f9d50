/*
 * hnsw_quant.c - quantized brainy_hnsw indexes (quantization = sq8).
 *
 * Owns what a quantized index adds to the page layout of hnsw_am.h: node
 * slots hold an 8-bit scalar-quantized code of the vector (quant_sq8.h)
 * instead of the vector, so the graph is searched on codes (a quarter of
 * the bytes), and the full vectors live in vector pages, read to re-rank
 * the final candidates and by writers.  A vector of up to a page's data
 * area shares vector pages with others; a larger one (up to 16,000 floats)
 * spans vec_pages consecutive pages of its own.  The quantizer is trained
 * once, from the first BH_SQ8_TRAIN_MIN vectors (at CREATE INDEX from all
 * rows), serialised into consecutive quantizer pages and never changed;
 * nodes added before that carry BH_SLOT_NOCODE and are scored with their
 * full vectors.
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw_am.h"

/* ------------------------------------------------------------ layout */

Size
bh_payload_size(int dim, int quant)
{
	if (quant == BH_QUANT_SQ8)
		return TYPEALIGN(sizeof(float), (Size) dim) + sizeof(float);
	if (quant == BH_QUANT_PAGES)
		return 0;
	return sizeof(float) * (Size) dim;
}

/* the largest dim whose slot fits in a page at m, for the given storage */
int
bh_max_dim(int m, int quant)
{
	Size		room = BH_DATA_SIZE - sizeof(BhSlot) -
		(sizeof(uint32) + sizeof(float)) * 2 * (Size) m;
	int			dim;

	/* bh_slot_size rounds up to MAXALIGN: stay below that */
	room &= ~(Size) (MAXIMUM_ALIGNOF - 1);
	if (quant == BH_QUANT_SQ8)
		dim = (int) ((room - sizeof(float)) & ~(Size) (sizeof(float) - 1));
	else if (quant == BH_QUANT_PAGES)
		dim = HNSW_MAX_DIM;
	else
		dim = (int) (room / sizeof(float));
	return Min(dim, HNSW_MAX_DIM);
}

/* Set the vector-page geometry of a quantized meta (dim already set). */
void
bh_meta_init_quant(BhMeta *meta)
{
	meta->vec_size = sizeof(float) * meta->dim;
	if (meta->vec_size <= BH_DATA_SIZE)
	{
		meta->vec_per_page = BH_DATA_SIZE / meta->vec_size;
		meta->vec_pages = 1;
	}
	else
	{
		meta->vec_per_page = 0;
		meta->vec_pages = (meta->vec_size + BH_DATA_SIZE - 1) / BH_DATA_SIZE;
	}
	meta->vec_block = InvalidBlockNumber;
	meta->vec_used = 0;
	meta->quant_block = InvalidBlockNumber;
	meta->quant_len = 0;
}

static inline uint8 *
bh_slot_code(BhSlot *sp)
{
	return (uint8 *) (sp + 1);
}

static inline float *
bh_slot_code_norm(BhSlot *sp, const BhMeta *meta)
{
	return (float *) ((char *) (sp + 1) + meta->payload_size - sizeof(float));
}

/* Encode vec into slot sp's payload (a trained quantizer q). */
void
bh_sq8_encode_slot(const BrainySq8 *q, const BhMeta *meta, BhSlot *sp,
				   const float *vec)
{
	uint8	   *code = bh_slot_code(sp);

	memset(code, 0, meta->payload_size);
	brainy_sq8_encode(q, vec, code);
	*bh_slot_code_norm(sp, meta) = brainy_sq8_code_norm(q, code);
	sp->flags &= ~BH_SLOT_NOCODE;
}

/* ------------------------------------------------------ the quantizer */

/* Bytes of quantizer data a quantizer page holds. */
#define BH_QUANT_PAGE_DATA	BH_DATA_SIZE

/*
 * Train a quantizer on n vectors (dim floats each, one after another):
 * palloc'd, in CurrentMemoryContext.
 */
BrainySq8 *
bh_sq8_train(int dim, const float *vecs, Size n)
{
	BrainySq8  *q = palloc(brainy_sq8_size(dim));
	BrainySq8Error err;

	if (brainy_sq8_train(q, dim, vecs, n, BRAINY_SQ8_DEFAULT_MARGIN, &err) != BRAINY_SQ8_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("brainy_hnsw: training the quantizer failed: %s", err.message)));
	return q;
}

/* Serialise q into pages (palloc'd BLCKSZ images); *npages is set. */
char	  **
bh_sq8_pages(const BrainySq8 *q, uint32 *len, int *npages)
{
	Size		blob_len = brainy_sq8_blob_size(q->dim);
	char	   *blob = palloc(blob_len);
	int			n = (int) ((blob_len + BH_QUANT_PAGE_DATA - 1) / BH_QUANT_PAGE_DATA);
	char	  **pages = palloc(sizeof(char *) * n);
	int			i;

	brainy_sq8_serialize(q, blob);
	for (i = 0; i < n; i++)
	{
		Size		off = (Size) i * BH_QUANT_PAGE_DATA;
		Size		chunk = Min(BH_QUANT_PAGE_DATA, blob_len - off);

		pages[i] = palloc0(BLCKSZ);
		bh_init_page((Page) pages[i], BH_PAGE_QUANT);
		memcpy(pages[i] + BH_DATA_START, blob + off, chunk);
		((PageHeader) pages[i])->pd_lower = BH_DATA_START + chunk;
	}
	pfree(blob);
	*len = (uint32) blob_len;
	*npages = n;
	return pages;
}

/*
 * Per-backend copy of the last quantizer loaded, so a scan does not read
 * and validate the quantizer pages each time: keyed by the relation's file
 * and the quantizer's first block (a REINDEX gives a new file; a trained
 * quantizer never changes in place).
 */
static struct
{
	RelFileNode node;
	BlockNumber block;
	BrainySq8  *q;
}			bh_sq8_cache;

/* Load the quantizer of s (trained, meta.quant_block valid) into s->sq8. */
void
bh_sq8_load(BhStore *s)
{
	const BhMeta *meta = &s->meta;
	char	   *blob;
	Size		done = 0;
	BlockNumber blk;
	BrainySq8Error err;
	BrainySq8  *q;
	int			dim;

	s->sq8 = NULL;
	if (meta->quant != BH_QUANT_SQ8 || meta->quant_block == InvalidBlockNumber)
		return;
	if (bh_sq8_cache.q != NULL &&
		RelFileNodeEquals(bh_sq8_cache.node, s->index->rd_node) &&
		bh_sq8_cache.block == meta->quant_block &&
		bh_sq8_cache.q->dim == meta->dim)
	{
		s->sq8 = bh_sq8_cache.q;
		return;
	}
	if (meta->quant_len != brainy_sq8_blob_size(meta->dim))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("brainy_hnsw index \"%s\" has a bad quantizer length %u",
						RelationGetRelationName(s->index), meta->quant_len)));
	blob = palloc(meta->quant_len);
	for (blk = meta->quant_block; done < meta->quant_len; blk++)
	{
		Buffer		buf = ReadBuffer(s->index, blk);
		Page		page;
		Size		chunk = Min(BH_QUANT_PAGE_DATA, meta->quant_len - done);

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		bh_check_page(s->index, page, blk, BH_PAGE_QUANT);
		memcpy(blob + done, (char *) page + BH_DATA_START, chunk);
		UnlockReleaseBuffer(buf);
		done += chunk;
	}
	if (brainy_sq8_blob_dim(blob, meta->quant_len, &dim, &err) != BRAINY_SQ8_OK ||
		dim != meta->dim)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("brainy_hnsw index \"%s\" has a bad quantizer: %s",
						RelationGetRelationName(s->index),
						dim != meta->dim ? "wrong dimensions" : err.message)));
	q = MemoryContextAlloc(TopMemoryContext, brainy_sq8_size(dim));
	if (brainy_sq8_deserialize(blob, meta->quant_len, q, brainy_sq8_size(dim), &err) != BRAINY_SQ8_OK)
	{
		pfree(q);
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("brainy_hnsw index \"%s\" has a bad quantizer: %s",
						RelationGetRelationName(s->index), err.message)));
	}
	pfree(blob);
	if (bh_sq8_cache.q)
		pfree(bh_sq8_cache.q);
	bh_sq8_cache.q = q;
	bh_sq8_cache.node = s->index->rd_node;
	bh_sq8_cache.block = meta->quant_block;
	s->sq8 = q;
}

/* ---------------------------------------------------------- distances */

/* Prepare s's query for code distances (once per search). */
static void
bh_sq8_prepare(BhStore *s, const float *q)
{
	BrainySq8Error err;
	BrainySq8Kind kind;

	switch ((HnswMetric) s->meta.metric)
	{
		case HNSW_L2:
			kind = BRAINY_SQ8_L2;
			break;
		case HNSW_L1:
			kind = BRAINY_SQ8_L1;
			break;
		default:
			kind = BRAINY_SQ8_IP;	/* inner product, and cosine on unit vectors */
			break;
	}
	if (brainy_sq8_query_init(&s->sq8q, s->sq8, brainy_kernels(), kind, q,
							  s->sq8_buf, &err) != BRAINY_SQ8_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("brainy_hnsw: cannot prepare the query: %s", err.message)));
	s->sq8_ready = true;
}

/*
 * Distance from the search's query q to the node in slot sp, from its code,
 * on the engine's scale (squared L2, negative inner product, 1 - cosine
 * similarity, L1).
 */
float
bh_sq8_distance(BhStore *s, const float *q, BhSlot *sp)
{
	float		r;

	if (!s->sq8_ready)
		bh_sq8_prepare(s, q);
	r = brainy_sq8_adc_norm(&s->sq8q, bh_slot_code(sp),
							*bh_slot_code_norm(sp, &s->meta));
	switch ((HnswMetric) s->meta.metric)
	{
		case HNSW_IP:
			return -r;
		case HNSW_COSINE:
			return 1.0f - r;
		default:
			return r;
	}
}

/* ------------------------------------------------------- vector pages */

/* Where the full vector of a node whose slot head is hdr lives. */
static void
bh_vec_check_ptr(BhStore *s, const BhSlot *hdr)
{
	const BhMeta *meta = &s->meta;

	if (hdr->vec_blk == InvalidBlockNumber || hdr->vec_blk == BH_META_BLKNO ||
		hdr->vec_blk >= meta->next_block ||
		hdr->vec_off < BH_DATA_START ||
		(meta->vec_per_page > 0 &&
		 hdr->vec_off + meta->vec_size > BH_DATA_END) ||
		(meta->vec_per_page == 0 && hdr->vec_off != BH_DATA_START))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("brainy_hnsw index \"%s\" is corrupted: bad vector location (%u, %u)",
						RelationGetRelationName(s->index), hdr->vec_blk,
						(unsigned) hdr->vec_off)));
}

/* Copy the full vector of the node whose slot head is hdr into out. */
void
bh_vec_read(BhStore *s, const BhSlot *hdr, float *out)
{
	const BhMeta *meta = &s->meta;
	Size		done = 0;
	BlockNumber blk;

	bh_vec_check_ptr(s, hdr);
	for (blk = hdr->vec_blk; done < meta->vec_size; blk++)
	{
		Buffer		buf = bh_read_buffer(s->index, blk);
		Page		page;
		Size		chunk = Min((Size) BH_DATA_SIZE, meta->vec_size - done);

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		bh_check_page(s->index, page, blk, BH_PAGE_VECTOR);
		memcpy((char *) out + done, (char *) page + hdr->vec_off, chunk);
		UnlockReleaseBuffer(buf);
		done += chunk;
	}
}

/*
 * Write len bytes of data into npages consecutive pages from first, at
 * byte off of each page (a page's share: up to BH_DATA_SIZE bytes), in WAL
 * records of at most 3 pages; the last record also carries the metapage,
 * after meta_update (when not NULL) has changed s->meta.  fresh_type: the
 * page type to initialise the pages with, or 0 to write into existing
 * pages of type BH_PAGE_VECTOR.  Under the insert lock.  A crash between
 * records leaves pages nothing points to yet (or, overwriting, a freed
 * node's vector half written), never a torn reference.
 */
static void
bh_write_run(BhStore *s, BlockNumber first, uint32 npages, uint16 off,
			 const char *data, Size len, uint16 fresh_type,
			 void (*meta_update) (BhMeta *meta, void *arg), void *arg)
{
	uint32		p;

	for (p = 0; p < npages; p += 3)
	{
		GenericXLogState *state;
		Buffer		bufs[3];
		Buffer		mbuf = InvalidBuffer;
		uint32		k,
					nk = Min(3, npages - p);
		bool		last = p + nk >= npages;

		if (last && meta_update)
		{
			mbuf = ReadBuffer(s->index, BH_META_BLKNO);
			LockBuffer(mbuf, BUFFER_LOCK_EXCLUSIVE);
		}
		for (k = 0; k < nk; k++)
		{
			bh_ensure_block(s->index, first + p + k);
			bufs[k] = ReadBuffer(s->index, first + p + k);
			LockBuffer(bufs[k], BUFFER_LOCK_EXCLUSIVE);
			if (fresh_type == 0)
				bh_check_page(s->index, BufferGetPage(bufs[k]), first + p + k,
							  BH_PAGE_VECTOR);
		}
		state = GenericXLogStart(s->index);
		for (k = 0; k < nk; k++)
		{
			Page		page;
			Size		done = (Size) (p + k) * BH_DATA_SIZE;
			Size		chunk = Min((Size) BH_DATA_SIZE, len - done);

			if (fresh_type != 0)
			{
				page = GenericXLogRegisterBuffer(state, bufs[k], GENERIC_XLOG_FULL_IMAGE);
				bh_init_page(page, fresh_type);
			}
			else
				page = GenericXLogRegisterBuffer(state, bufs[k], 0);
			memcpy((char *) page + off, data + done, chunk);
			if (((PageHeader) page)->pd_lower < off + chunk)
				((PageHeader) page)->pd_lower = off + chunk;
		}
		if (mbuf != InvalidBuffer)
		{
			Page		mpage = GenericXLogRegisterBuffer(state, mbuf, 0);

			meta_update(&s->meta, arg);
			bh_write_meta(s, mpage);
		}
		GenericXLogFinish(state);
		for (k = 0; k < nk; k++)
			UnlockReleaseBuffer(bufs[k]);
		if (mbuf != InvalidBuffer)
			UnlockReleaseBuffer(mbuf);
	}
}

/* metapage change of bh_vec_append: arg is the first block, or NULL */
static void
bh_vec_append_meta(BhMeta *meta, void *arg)
{
	if (arg != NULL)
	{
		BlockNumber first = *(BlockNumber *) arg;

		meta->next_block = first + meta->vec_pages;
		meta->vec_block = meta->vec_per_page > 0 ? first : InvalidBlockNumber;
		meta->vec_used = meta->vec_per_page > 0 ? 1 : 0;
	}
	else
		meta->vec_used++;
}

/*
 * Append vec to the vector pages of s's index, under the insert lock, and
 * say where it went.  WAL-logged with the metapage (whose copy s->meta
 * stays in step) in records of at most 3 pages; a crash between them leaves
 * space the next append overwrites, never a reference to a torn vector.
 */
void
bh_vec_append(BhStore *s, const float *vec, BlockNumber *blk_out,
			  uint16 *off_out)
{
	BhMeta	   *meta = &s->meta;
	BlockNumber first;
	uint16		off;
	bool		fresh;

	if (meta->vec_per_page > 0 && meta->vec_block != InvalidBlockNumber &&
		meta->vec_used < meta->vec_per_page)
	{
		first = meta->vec_block;
		off = BH_DATA_START + meta->vec_used * meta->vec_size;
		fresh = false;
	}
	else
	{
		first = meta->next_block;
		off = BH_DATA_START;
		fresh = true;
	}
	bh_write_run(s, first, meta->vec_pages, off, (const char *) vec,
				 meta->vec_size, fresh ? BH_PAGE_VECTOR : 0,
				 bh_vec_append_meta, fresh ? &first : NULL);
	*blk_out = first;
	*off_out = off;
}

/*
 * Write vec over the full vector of a node whose slot head is hdr (a freed
 * node whose slot a new row reuses: nothing reads it meanwhile but scans
 * that started before, which may then see either vector).  Its own WAL
 * records, at most 3 pages each.
 */
void
bh_vec_overwrite(BhStore *s, const BhSlot *hdr, const float *vec)
{
	bh_vec_check_ptr(s, hdr);
	bh_write_run(s, hdr->vec_blk, s->meta.vec_pages, hdr->vec_off,
				 (const char *) vec, s->meta.vec_size, 0, NULL, NULL);
}

/* metapage change when a quantizer is written: where it is */
typedef struct BhTrainedMeta
{
	BlockNumber first;
	Size		len;
} BhTrainedMeta;

static void
bh_sq8_trained_meta(BhMeta *meta, void *arg)
{
	BhTrainedMeta *t = (BhTrainedMeta *) arg;

	meta->next_block = t->first + (t->len + BH_DATA_SIZE - 1) / BH_DATA_SIZE;
	meta->quant_block = t->first;
	meta->quant_len = (uint32) t->len;
}

/*
 * Train the quantizer of s's untrained index from the full vectors of its
 * nodes and extra (the vector being added), write it to fresh quantizer
 * pages and record it in the metapage.  Under the insert lock.
 */
void
bh_sq8_train_store(BhStore *s, const float *extra)
{
	BhMeta	   *meta = &s->meta;
	uint32		n = meta->n_nodes;
	float	   *vecs = palloc_extended(sizeof(float) * meta->dim * ((Size) n + 1),
									   MCXT_ALLOC_HUGE);
	uint32		id,
				have = 0;
	BrainySq8  *q;
	char	   *blob;
	Size		len;
	BhTrainedMeta meta_arg;

	for (id = 0; id < n; id++)
	{
		BhSlot		hdr;

		if (bh_slot_read_head(s, id, &hdr) != 0)
			elog(ERROR, "brainy_hnsw: cannot read node %u", id);
		bh_vec_read(s, &hdr, vecs + (Size) have * meta->dim);
		have++;
	}
	memcpy(vecs + (Size) have * meta->dim, extra, sizeof(float) * meta->dim);
	have++;
	q = bh_sq8_train(meta->dim, vecs, have);
	pfree(vecs);

	len = brainy_sq8_blob_size(meta->dim);
	blob = palloc(len);
	brainy_sq8_serialize(q, blob);
	pfree(q);
	meta_arg.first = meta->next_block;
	meta_arg.len = len;
	bh_write_run(s, meta->next_block, (len + BH_DATA_SIZE - 1) / BH_DATA_SIZE,
				 BH_DATA_START, blob, len, BH_PAGE_QUANT,
				 bh_sq8_trained_meta, &meta_arg);
	pfree(blob);
	bh_sq8_load(s);
}
