/*
 * hnsw_am.c - the brainy_hnsw index access method.
 *
 * Owns the AM handler, reloptions, GUCs, build (in memory, serially or
 * with threads, then pages; on-disk inserts past maintenance_work_mem),
 * insert, ORDER BY scans
 * (with iterative rescans), vacuum, cost estimate, and the SQL-callable
 * check and metric support functions.
 *
 * Concurrency: every change of the graph (aminsert, the repair of
 * ambulkdelete, on-disk build inserts) runs under the heavyweight page lock
 * LockPage(index, 0, ExclusiveLock): a lock on the metapage's tag, separate
 * from the buffer lock, held across the whole multi-page insert and
 * released at transaction end on error.  The engine's insert is a sequence
 * of single-page (or metapage + page) writes, each atomic (GenericXLog) and
 * each leaving a valid graph, so scans take no heavyweight lock: they
 * share-lock one page at a time while copying out of it, and ignore
 * neighbour ids at or above the node count they read at scan start.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "access/reloptions.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "commands/progress.h"
#include "commands/defrem.h"
#include "commands/vacuum.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/smgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/selfuncs.h"
#include "access/xloginsert.h"

#include "vector.h"
#include "hnsw_am.h"

/* ------------------------------------------------------- options, GUCs */

typedef struct BhOptions
{
	int32		vl_len_;
	int			m;
	int			ef_construction;
	int			quantization;	/* offset of the string, 0 when not set */
	bool		fastupdate;		/* inserts go to the pending list */
	int			pending_list_limit; /* kB of rows it may hold */
} BhOptions;

/* what the quantization option may say */
#define BH_QUANT_AUTO		(-1)	/* full vectors when they fit, else sq8 */

/* pending_list_limit by default: 64 MB, ~20,000 rows of 784 dimensions */
#define BH_PENDING_LIMIT_DEFAULT	65536

static relopt_kind bh_relopt_kind;

static int
bh_parse_quantization(const char *value)
{
	if (value == NULL || pg_strcasecmp(value, "auto") == 0)
		return BH_QUANT_AUTO;
	if (pg_strcasecmp(value, "none") == 0)
		return BH_QUANT_NONE;
	if (pg_strcasecmp(value, "sq8") == 0)
		return BH_QUANT_SQ8;
	return -2;
}

static void
bh_validate_quantization(const char *value)
{
	if (bh_parse_quantization(value) == -2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for option \"quantization\": \"%s\"", value),
				 errdetail("Valid values are \"auto\", \"none\" and \"sq8\".")));
}

int			brainy_hnsw_ef_search = 40;
int			brainy_hnsw_iterative_scan = BH_ITERATIVE_OFF;
int			brainy_hnsw_max_scan_tuples = 20000;

static const struct config_enum_entry bh_iterative_options[] = {
	{"off", BH_ITERATIVE_OFF, false},
	{"relaxed_order", BH_ITERATIVE_RELAXED, false},
	{"strict_order", BH_ITERATIVE_STRICT, false},
	{NULL, 0, false}
};

void
brainy_hnsw_init(void)
{
	bh_relopt_kind = add_reloption_kind();
	add_int_reloption(bh_relopt_kind, "m",
					  "Maximum number of neighbours per node on upper layers (twice that on layer 0)",
					  HNSW_DEFAULT_M, HNSW_MIN_M, HNSW_MAX_M, AccessExclusiveLock);
	add_int_reloption(bh_relopt_kind, "ef_construction",
					  "Size of the candidate list while building the graph",
					  HNSW_DEFAULT_EF_CONSTRUCTION, HNSW_MIN_EF_CONSTRUCTION,
					  HNSW_MAX_EF_CONSTRUCTION, AccessExclusiveLock);
	add_string_reloption(bh_relopt_kind, "quantization",
						 "What node slots keep of a vector: none (the vector), sq8 (an 8-bit code; full vectors re-rank), or auto",
						 "auto", bh_validate_quantization, AccessExclusiveLock);
	add_bool_reloption(bh_relopt_kind, "fastupdate",
					   "Inserts append rows to a pending list that scans search exactly, and that VACUUM or brainy_hnsw_merge_pending() links into the graph later",
					   false, ShareUpdateExclusiveLock);
	add_int_reloption(bh_relopt_kind, "pending_list_limit",
					  "Largest size of the pending list in kilobytes; inserts past it link their rows into the graph themselves",
					  BH_PENDING_LIMIT_DEFAULT, 64, MAX_KILOBYTES, ShareUpdateExclusiveLock);

	DefineCustomIntVariable("brainy.ef_search",
							"Size of the candidate list of brainy_hnsw searches.",
							NULL, &brainy_hnsw_ef_search, 40, 1, 1000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("brainy.iterative_scan",
							 "Search again with a larger candidate list when a brainy_hnsw scan runs out of results.",
							 NULL, &brainy_hnsw_iterative_scan, BH_ITERATIVE_OFF,
							 bh_iterative_options, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("brainy.max_scan_tuples",
							"Largest candidate list an iterative brainy_hnsw scan grows to.",
							NULL, &brainy_hnsw_max_scan_tuples, 20000, 1, INT_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("brainy");
}

static bytea *
bh_options(Datum reloptions, bool validate)
{
	static const relopt_parse_elt tab[] = {
		{"m", RELOPT_TYPE_INT, offsetof(BhOptions, m)},
		{"ef_construction", RELOPT_TYPE_INT, offsetof(BhOptions, ef_construction)},
		{"quantization", RELOPT_TYPE_STRING, offsetof(BhOptions, quantization)},
		{"fastupdate", RELOPT_TYPE_BOOL, offsetof(BhOptions, fastupdate)},
		{"pending_list_limit", RELOPT_TYPE_INT, offsetof(BhOptions, pending_list_limit)},
	};
	BhOptions  *opts;

	opts = (BhOptions *) build_reloptions(reloptions, validate, bh_relopt_kind,
										  sizeof(BhOptions), tab, lengthof(tab));
	if (validate && opts && opts->ef_construction < 2 * opts->m)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ef_construction must be greater than or equal to 2 * m"),
				 errdetail("ef_construction is %d and m is %d.",
						   opts->ef_construction, opts->m)));
	return (bytea *) opts;
}

static void
bh_get_options(Relation index, int *m, int *efc, int *quant)
{
	BhOptions  *opts = (BhOptions *) index->rd_options;

	*m = opts ? opts->m : HNSW_DEFAULT_M;
	*efc = opts ? opts->ef_construction : HNSW_DEFAULT_EF_CONSTRUCTION;
	*quant = BH_QUANT_AUTO;
	if (opts && opts->quantization != 0)
		*quant = bh_parse_quantization((const char *) opts + opts->quantization);
}

static HnswMetric
bh_get_metric(Relation index)
{
	FmgrInfo   *proc = index_getprocinfo(index, 1, 1);
	int32		metric = DatumGetInt32(FunctionCall1(proc, PointerGetDatum(NULL)));

	if (metric < HNSW_L2 || metric > HNSW_L1)
		elog(ERROR, "brainy_hnsw: bad metric %d from support function", metric);
	return (HnswMetric) metric;
}

/*
 * Validate the index column (its typmod gives the dimensions) against the
 * storage asked for, and resolve it to what slots hold:
 *	none	the full vector in the slot when it fits, else in vector pages
 *			(full precision at any dimension, one more page per visit);
 *	sq8		an 8-bit code in the slot, full vectors in vector pages;
 *	auto	the vector in the slot when it fits, else in vector pages up to
 *			BH_AUTO_FULL_MAX_DIM (the dimensions pgvector indexes at full
 *			precision), else sq8 while a code fits, else vector pages.
 */
#define BH_AUTO_FULL_MAX_DIM	2000

static int
bh_get_dim(Relation index, int m, int *quant)
{
	int			dim = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;
	int			maxfull = bh_max_dim(m, BH_QUANT_NONE);
	int			maxsq8 = bh_max_dim(m, BH_QUANT_SQ8);

	if (dim < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column does not have dimensions"),
				 errhint("Declare the column as vector(n).")));
	if (*quant == BH_QUANT_AUTO)
	{
		if (dim <= maxfull)
			*quant = BH_QUANT_NONE;
		else if (dim <= BH_AUTO_FULL_MAX_DIM || dim > maxsq8)
			*quant = BH_QUANT_PAGES;
		else
			*quant = BH_QUANT_SQ8;
	}
	else if (*quant == BH_QUANT_NONE && dim > maxfull)
		*quant = BH_QUANT_PAGES;	/* full precision, out of the slot */
	if (*quant == BH_QUANT_SQ8 && dim > maxsq8)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("brainy_hnsw indexes up to %d dimensions with quantization = sq8; the column has %d",
						maxsq8, dim),
				 errdetail("A node's 8-bit code and its layer-0 neighbour list must fit in one page at m = %d.", m),
				 errhint("Use a smaller m, or reduce the dimensions.")));
	return dim;
}

static bool
bh_is_zero(const Vector *v)
{
	int			i;

	for (i = 0; i < v->dim; i++)
		if (v->x[i] != 0.0f)
			return false;
	return true;
}

/* ------------------------------------------------------ writer cache */

typedef struct BhWriterCache
{
	Oid			relfilenode;
	Oid			dbnode;
	HnswParams	params;
	MemoryContext cxt;
	BhAlloc		al;
	HnswWriter *w;
	bool		busy;			/* an operation was interrupted: rebuild */
} BhWriterCache;

#define BH_WRITER_CACHE 4
static BhWriterCache bh_writers[BH_WRITER_CACHE];
static int	bh_writer_next;

static BhWriterCache *
bh_get_writer(Relation index, const BhMeta *meta)
{
	HnswParams	p;
	BhWriterCache *wc = NULL;
	HnswError	err;
	int			i,
				rc;

	bh_params(meta, &p);
	for (i = 0; i < BH_WRITER_CACHE; i++)
	{
		BhWriterCache *c = &bh_writers[i];

		if (c->w && c->relfilenode == index->rd_node.relNode &&
			c->dbnode == index->rd_node.dbNode &&
			c->params.dim == p.dim && c->params.m == p.m &&
			c->params.ef_construction == p.ef_construction &&
			c->params.metric == p.metric && !c->busy)
			return c;
	}
	wc = &bh_writers[bh_writer_next];
	bh_writer_next = (bh_writer_next + 1) % BH_WRITER_CACHE;
	if (wc->cxt)
		MemoryContextDelete(wc->cxt);
	memset(wc, 0, sizeof(*wc));
	wc->cxt = AllocSetContextCreate(TopMemoryContext, "brainy_hnsw writer",
									ALLOCSET_DEFAULT_SIZES);
	bh_alloc_init(&wc->al, wc->cxt, 0);
	rc = hnsw_writer_create(&p, &wc->al.a, &wc->w, &err);
	if (rc != HNSW_OK)
	{
		MemoryContextDelete(wc->cxt);
		wc->cxt = NULL;
		wc->w = NULL;
		bh_error("creating a writer", rc, &err);
	}
	wc->params = p;
	wc->relfilenode = index->rd_node.relNode;
	wc->dbnode = index->rd_node.dbNode;
	return wc;
}

/* Insert vec into the page store s, under the insert lock. */
void
bh_store_insert_one(BhStore *s, const float *vec, uint64 label, int level)
{
	BhWriterCache *wc = bh_get_writer(s->index, &s->meta);
	HnswError	err;
	int			rc;

	wc->busy = true;
	rc = hnsw_store_insert(wc->w, &s->st, vec, level, label, NULL, &err);
	wc->busy = false;
	if (rc != HNSW_OK)
		bh_error("insert", rc, &err);
}

/* Relink nodes nothing links to (see bh_vacuumcleanup); under the insert lock. */
void
bh_store_reconnect(BhStore *s)
{
	BhWriterCache *wc = bh_get_writer(s->index, &s->meta);
	HnswError	err;
	int			rc;

	wc->busy = true;
	rc = hnsw_store_reconnect(wc->w, &s->st, NULL, &err);
	wc->busy = false;
	if (rc != HNSW_OK)
		bh_error("reconnect", rc, &err);
}

int
bh_draw_level(BhMeta *meta)
{
	int			level = hnsw_random_level(meta->m, &meta->prng);

	return Min(Max(level, 0), (int) meta->max_level_fit);
}

/* ---------------------------------------------------------------- build */

typedef struct BhBuildState
{
	Relation	heap;
	Relation	index;
	BhMeta		meta;
	HnswParams	params;
	MemoryContext cxt;			/* graph memory */
	MemoryContext tmpcxt;		/* per tuple */
	BhAlloc		al;
	HnswIndex  *idx;
	HnswStore	mst;
	HnswWriter *mw;
	BhStore    *ds;				/* after the switch to on-disk inserts */
	int			nthreads;		/* > 1: stage during the scan, link with
								 * that many threads (bh_build_link) */
	double		indtuples;
	double		heaptuples;
} BhBuildState;

/* Train the quantizer of a quantized build on every vector of the graph. */
static BrainySq8 *
bh_build_train(BhBuildState *bs)
{
	const BhMeta *meta = &bs->meta;
	uint32		n = hnsw_size(bs->idx);
	BrainySq8  *q = palloc(brainy_sq8_size(meta->dim));
	BrainySq8Error err;
	uint32		id;

	if (brainy_sq8_train_begin(q, meta->dim, &err) != BRAINY_SQ8_OK)
		elog(ERROR, "brainy_hnsw: training the quantizer failed: %s", err.message);
	for (id = 0; id < n; id++)
		brainy_sq8_train_add(q, hnsw_node_vector(bs->idx, id), &err);
	if (brainy_sq8_train_end(q, BRAINY_SQ8_DEFAULT_MARGIN, &err) != BRAINY_SQ8_OK)
		elog(ERROR, "brainy_hnsw: training the quantizer failed: %s", err.message);
	return q;
}

/* Where a build puts node id's full vector (vector pages from vstart). */
static void
bh_build_vec_location(const BhMeta *meta, BlockNumber vstart, uint32 id,
					  BlockNumber *blk, uint16 *off)
{
	if (meta->vec_per_page > 0)
	{
		*blk = vstart + id / meta->vec_per_page;
		*off = BH_DATA_START + (id % meta->vec_per_page) * meta->vec_size;
	}
	else
	{
		*blk = vstart + id * meta->vec_pages;
		*off = BH_DATA_START;
	}
}

/* Fill vector page number vpage (0-based from the first) of a build. */
static void
bh_build_vec_page(const BhMeta *meta, HnswIndex *idx, uint32 n,
				  BlockNumber vpage, Page page)
{
	Size		end = BH_DATA_START;

	if (meta->vec_per_page > 0)
	{
		uint32		id = vpage * meta->vec_per_page;
		uint32		k;

		for (k = 0; k < meta->vec_per_page && id + k < n; k++)
		{
			memcpy((char *) page + BH_DATA_START + (Size) k * meta->vec_size,
				   hnsw_node_vector(idx, id + k), meta->vec_size);
			end = BH_DATA_START + (Size) (k + 1) * meta->vec_size;
		}
	}
	else
	{
		uint32		id = vpage / meta->vec_pages;
		Size		done = (Size) (vpage % meta->vec_pages) * BH_DATA_SIZE;
		Size		chunk = Min((Size) BH_DATA_SIZE, meta->vec_size - done);

		memcpy((char *) page + BH_DATA_START,
			   (const char *) hnsw_node_vector(idx, id) + done, chunk);
		end = BH_DATA_START + chunk;
	}
	((PageHeader) page)->pd_lower = end;
}

/* Write the in-memory graph as pages: metapage, node pages, upper pages. */
static void
bh_write_graph(BhBuildState *bs)
{
	BhMeta	   *meta = &bs->meta;
	HnswIndex  *idx = bs->idx;
	uint32		n = hnsw_size(idx);
	uint32		npages = (n + meta->per_page - 1) / meta->per_page;
	BlockNumber *ublk;
	uint16	   *uoff;
	char	  **upages = NULL;
	int			nupper = 0,
				maxupper = 0;
	uint32		id;
	uint32	   *ids = palloc(sizeof(uint32) * 2 * meta->m);
	float	   *dists = palloc(sizeof(float) * 2 * meta->m);
	BlockNumber blk;
	Buffer		buf;
	Page		page;
	BrainySq8  *sq8 = NULL;
	char	  **qpages = NULL;
	int			nquant = 0;
	uint32		nvec = 0;
	BlockNumber qstart,
				vstart;

	hnsw_index_store(idx, &bs->mst);
	if (meta->quant == BH_QUANT_SQ8 && n >= BH_SQ8_TRAIN_MIN)
		sq8 = bh_build_train(bs);
	ublk = palloc_extended(sizeof(BlockNumber) * Max(n, 1), MCXT_ALLOC_HUGE);
	uoff = palloc_extended(sizeof(uint16) * Max(n, 1), MCXT_ALLOC_HUGE);

	/* upper items, in memory first */
	for (id = 0; id < n; id++)
	{
		int			level = hnsw_node_level(idx, id);
		Size		size = (Size) level * meta->upper_layer_size;
		PageHeader	ph;
		int			l;

		ublk[id] = InvalidBlockNumber;
		uoff[id] = 0;
		if (level <= 0)
			continue;
		if (nupper == 0 ||
			((PageHeader) upages[nupper - 1])->pd_lower + size > BH_DATA_END)
		{
			if (nupper == maxupper)
			{
				maxupper = Max(8, maxupper * 2);
				upages = upages ? repalloc(upages, sizeof(char *) * maxupper)
					: palloc(sizeof(char *) * maxupper);
			}
			upages[nupper] = palloc0(BLCKSZ);
			bh_init_page((Page) upages[nupper], BH_PAGE_UPPER);
			nupper++;
		}
		ph = (PageHeader) upages[nupper - 1];
		ublk[id] = 1 + npages + (nupper - 1);
		uoff[id] = ph->pd_lower;
		for (l = 1; l <= level; l++)
		{
			BhUpperLayer *ul = (BhUpperLayer *) ((char *) ph + ph->pd_lower +
												 (Size) (l - 1) * meta->upper_layer_size);
			uint32		nsel;
			int			cnt = bs->mst.ops->read_list(bs->mst.ctx, id, l, ids, dists, &nsel);

			if (cnt < 0 || cnt > meta->m)
				elog(ERROR, "brainy_hnsw: cannot read the list of node %u at layer %d", id, l);
			ul->n = cnt;
			ul->nsel = nsel;
			memcpy(ul + 1, ids, sizeof(uint32) * cnt);
			memcpy((uint32 *) (ul + 1) + meta->m, dists, sizeof(float) * cnt);
		}
		ph->pd_lower += size;
	}

	/* metapage */
	meta->n_nodes = n;
	meta->entry_point = hnsw_entry_point(idx);
	meta->max_level = hnsw_max_level(idx);
	meta->n_extents = npages > 0 ? 1 : 0;
	meta->ext_start[0] = 1;
	meta->ext_len[0] = npages;
	meta->next_block = 1 + npages + nupper;
	meta->upper_block = nupper > 0 ? 1 + npages + nupper - 1 : InvalidBlockNumber;
	qstart = vstart = meta->next_block;
	if (meta->quant != BH_QUANT_NONE)
	{
		/* then the quantizer, then the full vectors */
		if (sq8)
		{
			qpages = bh_sq8_pages(sq8, &meta->quant_len, &nquant);
			meta->quant_block = qstart;
		}
		vstart = qstart + nquant;
		if (meta->vec_per_page > 0)
			nvec = (n + meta->vec_per_page - 1) / meta->vec_per_page;
		else
			nvec = n * meta->vec_pages;
		meta->next_block = vstart + nvec;
		if (meta->vec_per_page > 0 && nvec > 0)
		{
			meta->vec_block = vstart + nvec - 1;
			meta->vec_used = n - (nvec - 1) * meta->vec_per_page;
		}
	}

	LockRelationForExtension(bs->index, ExclusiveLock);
	buf = ReadBuffer(bs->index, P_NEW);
	Assert(BufferGetBlockNumber(buf) == BH_META_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	bh_init_page(page, BH_PAGE_META);
	memcpy(BhPageGetMeta(page), meta, sizeof(BhMeta));
	((PageHeader) page)->pd_lower = BH_DATA_START + sizeof(BhMeta);
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);

	/* node pages */
	for (blk = 0; blk < npages; blk++)
	{
		uint32		slot;

		buf = ReadBuffer(bs->index, P_NEW);
		Assert(BufferGetBlockNumber(buf) == blk + 1);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		bh_init_page(page, BH_PAGE_NODE);
		((PageHeader) page)->pd_lower = BH_DATA_START + meta->per_page * meta->slot_size;
		for (slot = 0; slot < meta->per_page; slot++)
		{
			BhSlot	   *sp;
			uint32		nsel;
			int			cnt;

			id = blk * meta->per_page + slot;
			if (id >= n)
				break;
			sp = (BhSlot *) ((char *) page + BH_DATA_START + (Size) slot * meta->slot_size);
			sp->flags = hnsw_is_deleted(idx, id) == 1 ? BH_SLOT_DELETED : 0;
			sp->level = hnsw_node_level(idx, id);
			sp->label = hnsw_node_label(idx, id);
			sp->upper_blk = ublk[id];
			sp->upper_off = uoff[id];
			sp->vec_blk = InvalidBlockNumber;
			if (meta->quant == BH_QUANT_NONE)
				memcpy(sp + 1, hnsw_node_vector(idx, id), sizeof(float) * meta->dim);
			else
			{
				bh_build_vec_location(meta, vstart, id, &sp->vec_blk, &sp->vec_off);
				if (sq8)
					bh_sq8_encode_slot(sq8, meta, sp, hnsw_node_vector(idx, id));
				else if (meta->quant == BH_QUANT_SQ8)
					sp->flags |= BH_SLOT_NOCODE;
			}
			cnt = bs->mst.ops->read_list(bs->mst.ctx, id, 0, ids, dists, &nsel);
			if (cnt < 0 || cnt > 2 * meta->m)
				elog(ERROR, "brainy_hnsw: cannot read the list of node %u", id);
			sp->n0 = cnt;
			sp->nsel0 = nsel;
			memcpy((char *) (sp + 1) + meta->payload_size, ids, sizeof(uint32) * cnt);
			memcpy((char *) (sp + 1) + meta->payload_size + sizeof(uint32) * 2 * meta->m,
				   dists, sizeof(float) * cnt);
		}
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
		CHECK_FOR_INTERRUPTS();
	}

	/* upper pages */
	for (blk = 0; blk < (BlockNumber) nupper; blk++)
	{
		buf = ReadBuffer(bs->index, P_NEW);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		memcpy(page, upages[blk], BLCKSZ);
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
		pfree(upages[blk]);
	}

	/* quantizer pages, vector pages */
	for (blk = 0; blk < (BlockNumber) nquant; blk++)
	{
		buf = ReadBuffer(bs->index, P_NEW);
		Assert(BufferGetBlockNumber(buf) == qstart + blk);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		memcpy(BufferGetPage(buf), qpages[blk], BLCKSZ);
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
		pfree(qpages[blk]);
	}
	for (blk = 0; blk < nvec; blk++)
	{
		buf = ReadBuffer(bs->index, P_NEW);
		Assert(BufferGetBlockNumber(buf) == vstart + blk);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		bh_init_page(page, BH_PAGE_VECTOR);
		bh_build_vec_page(meta, idx, n, blk, page);
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
		CHECK_FOR_INTERRUPTS();
	}
	UnlockRelationForExtension(bs->index, ExclusiveLock);

	if (RelationNeedsWAL(bs->index))
		log_newpage_range(bs->index, MAIN_FORKNUM, 0,
						  RelationGetNumberOfBlocks(bs->index), true);
	pfree(ublk);
	pfree(uoff);
	pfree(ids);
	pfree(dists);
	if (qpages)
		pfree(qpages);
	if (sq8)
		pfree(sq8);
}

/* sub-phases of CREATE INDEX in pg_stat_progress_create_index.phase */
#define BH_PHASE_LOAD		2
#define BH_PHASE_LINK		3
#define BH_PHASE_WRITE		4

static char *
bh_buildphasename(int64 phase)
{
	switch (phase)
	{
		case PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE:
			return "initializing";
		case BH_PHASE_LOAD:
			return "loading tuples";
		case BH_PHASE_LINK:
			return "linking the graph";
		case BH_PHASE_WRITE:
			return "writing pages";
		default:
			return NULL;
	}
}

/* Reconnect and write the in-memory graph, then drop it. */
static void
bh_build_flush(BhBuildState *bs)
{
	HnswError	err;
	int			rc;

	bs->al.limit = 0;			/* finishing may need a little more */
	rc = hnsw_reconnect(bs->idx, NULL, &err);
	if (rc != HNSW_OK)
		bh_error("reconnect", rc, &err);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, BH_PHASE_WRITE);
	bh_write_graph(bs);
	hnsw_writer_destroy(bs->mw);
	hnsw_destroy(bs->idx);
	bs->mw = NULL;
	bs->idx = NULL;
}

/*
 * Link the staged nodes with bs->nthreads threads of the engine (see
 * hnsw.h, "parallel build").  The threads touch only the graph's memory,
 * which the engine allocated (palloc) before starting them, and run with
 * every signal blocked; this thread waits for them without calling
 * anything that can throw, relaying a query cancel or termination request
 * to them and reporting progress, and handles the interrupt only once
 * they have all been joined.
 */
static void
bh_build_link(BhBuildState *bs)
{
	HnswLinkJob *job;
	HnswError	err;
	uint32		first = hnsw_size(bs->idx);
	uint32		linked = 0;
	bool		cancelled = false;
	int			rc;

	bs->al.limit = 0;			/* the threads' scratch: a few MB at most */
	if (bs->nthreads > 1)
		elog(DEBUG1, "brainy_hnsw: linking %u nodes with %d threads",
			 hnsw_staged_count(bs->idx), bs->nthreads);
	else
		elog(DEBUG1, "brainy_hnsw: linking %u nodes in one build thread",
			 hnsw_staged_count(bs->idx));
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, BH_PHASE_LINK);
	rc = hnsw_link_start(bs->idx, bs->nthreads, NULL, &job, &err);
	if (rc != HNSW_OK)
		bh_error("starting the build threads", rc, &err);
	while (!hnsw_link_wait(job, 20))
	{
		if (!cancelled && InterruptPending &&
			(QueryCancelPending || ProcDiePending))
		{
			hnsw_link_cancel(job);
			cancelled = true;
		}
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
									 (int64) first + hnsw_link_progress(job));
	}
	rc = hnsw_link_finish(job, &linked, &err);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
								 (int64) first + linked);
	CHECK_FOR_INTERRUPTS();
	if (rc == HNSW_ECANCELED)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("canceling brainy_hnsw build")));
	if (rc != HNSW_OK)
		bh_error("parallel build", rc, &err);
}

static void
bh_build_callback(Relation index, ItemPointer tid, Datum *values,
				  bool *isnull, bool tupleIsAlive, void *state)
{
	BhBuildState *bs = (BhBuildState *) state;
	MemoryContext old;
	Vector	   *v;
	uint64		label = bh_tid_to_label(tid);
	int			level;
	HnswError	err;
	int			rc;

	if (isnull[0])
		return;
	old = MemoryContextSwitchTo(bs->tmpcxt);
	v = DatumGetVector(values[0]);
	if (v->dim != bs->meta.dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", bs->meta.dim, v->dim)));
	if (bs->meta.metric == HNSW_COSINE && bh_is_zero(v))
		goto done;

	level = bh_draw_level(&bs->meta);
	if (bs->idx)
	{
		/* copy the vector in now, link after the scan (one thread: serial) */
		rc = hnsw_stage(bs->idx, v->x, label, level, NULL, &err);
		if (rc == HNSW_ENOMEM)
		{
			ereport(NOTICE,
					(errmsg("hnsw graph no longer fits into maintenance_work_mem after %.0f tuples",
							bs->indtuples),
					 errdetail("Building will take significantly more time."),
					 errhint("Increase maintenance_work_mem to speed up builds.")));
			MemoryContextSwitchTo(old);
			bh_build_link(bs);
			bh_build_flush(bs);
			/* the rest of the scan inserts page by page */
			pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, BH_PHASE_LOAD);
			bs->ds = bh_store_open(index, false);
			MemoryContextSwitchTo(bs->tmpcxt);
		}
		else if (rc != HNSW_OK)
			bh_error("insert", rc, &err);
		else
		{
			bs->indtuples++;
			goto done;
		}
	}
	/* on-disk: the metapage keeps the level generator's state */
	bs->ds->meta.prng = bs->meta.prng;
	bh_store_insert_one(bs->ds, v->x, label, level);

	bs->indtuples++;
	if (((uint64) bs->indtuples) % 1000 == 0)
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
									 (int64) bs->indtuples);
done:
	MemoryContextSwitchTo(old);
	MemoryContextReset(bs->tmpcxt);
}

static IndexBuildResult *
bh_build(Relation heap, Relation index, IndexInfo *indexInfo)
{
	BhBuildState bs;
	IndexBuildResult *result;
	int			m,
				efc,
				quant,
				dim,
				rc;
	HnswMetric	metric;
	HnswError	err;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));

	bh_get_options(index, &m, &efc, &quant);
	if (efc < 2 * m)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ef_construction must be greater than or equal to 2 * m")));
	dim = bh_get_dim(index, m, &quant);
	metric = bh_get_metric(index);

	memset(&bs, 0, sizeof(bs));
	bs.heap = heap;
	bs.index = index;
	bh_meta_init(&bs.meta, dim, m, efc, metric, quant);
	bh_params(&bs.meta, &bs.params);
	bs.cxt = AllocSetContextCreate(CurrentMemoryContext, "brainy_hnsw build graph",
								   ALLOCSET_DEFAULT_SIZES);
	bs.tmpcxt = AllocSetContextCreate(CurrentMemoryContext, "brainy_hnsw build tuple",
									  ALLOCSET_DEFAULT_SIZES);
	bh_alloc_init(&bs.al, bs.cxt, (Size) maintenance_work_mem * 1024);

	rc = hnsw_create(&bs.params, &bs.al.a, &bs.idx, &err);
	if (rc == HNSW_OK)
		rc = hnsw_writer_create(&bs.params, &bs.al.a, &bs.mw, &err);
	if (rc != HNSW_OK)
		bh_error("creating the build graph", rc, &err);
	hnsw_index_store(bs.idx, &bs.mst);

	/*
	 * Threads as PostgreSQL would start parallel workers for a btree build
	 * (max_parallel_maintenance_workers, the table's parallel_workers,
	 * planner limits; PostgreSQL 15 asks only for btree itself), plus the
	 * leader's share.  They are threads, not processes: see
	 * docs/hnsw-design.md.
	 */
	bs.nthreads = 1 + plan_create_index_workers(RelationGetRelid(heap),
												RelationGetRelid(index));
	if (bs.nthreads > 1)
		elog(DEBUG1, "brainy_hnsw: building \"%s\" with %d threads",
			 RelationGetRelationName(index), bs.nthreads);
	else
		elog(DEBUG1, "brainy_hnsw: building \"%s\" serially",
			 RelationGetRelationName(index));

	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
								 (int64) Max(heap->rd_rel->reltuples, 0));
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, BH_PHASE_LOAD);
	bs.heaptuples = table_index_build_scan(heap, index, indexInfo, true, true,
										   bh_build_callback, &bs, NULL);
	if (bs.idx)
		bh_build_link(&bs);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs.indtuples);

	if (bs.idx)
		bh_build_flush(&bs);
	else
	{
		/* on-disk part: heal what the inserts left unreachable */
		BhWriterCache *wc;

		bh_store_reload(bs.ds);
		wc = bh_get_writer(index, &bs.ds->meta);
		wc->busy = true;
		rc = hnsw_store_reconnect(wc->w, &bs.ds->st, NULL, &err);
		wc->busy = false;
		if (rc != HNSW_OK)
			bh_error("reconnect", rc, &err);
	}
	MemoryContextDelete(bs.cxt);
	MemoryContextDelete(bs.tmpcxt);

	result = palloc(sizeof(IndexBuildResult));
	result->heap_tuples = bs.heaptuples;
	result->index_tuples = bs.indtuples;
	return result;
}

static void
bh_buildempty(Relation index)
{
	Page		page = (Page) palloc0(BLCKSZ);
	BhMeta		meta;
	int			m,
				efc,
				quant,
				dim;

	bh_get_options(index, &m, &efc, &quant);
	dim = bh_get_dim(index, m, &quant);
	bh_meta_init(&meta, dim, m, efc, bh_get_metric(index), quant);
	bh_init_page(page, BH_PAGE_META);
	memcpy(BhPageGetMeta(page), &meta, sizeof(BhMeta));
	((PageHeader) page)->pd_lower = BH_DATA_START + sizeof(BhMeta);
	PageSetChecksumInplace(page, BH_META_BLKNO);
	smgrwrite(RelationGetSmgr(index), INIT_FORKNUM, BH_META_BLKNO,
			  (char *) page, true);
	log_newpage(&(RelationGetSmgr(index))->smgr_rnode.node, INIT_FORKNUM,
				BH_META_BLKNO, page, true);
	smgrimmedsync(RelationGetSmgr(index), INIT_FORKNUM);
}

/* --------------------------------------------------------------- insert */

static bool
bh_insert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
		  Relation heap, IndexUniqueCheck checkUnique, bool indexUnchanged,
		  IndexInfo *indexInfo)
{
	MemoryContext cxt,
				old;
	Vector	   *v;
	BhStore    *s;
	BhOptions  *opts = (BhOptions *) index->rd_options;

	if (isnull[0])
		return false;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "brainy_hnsw insert",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	v = DatumGetVector(values[0]);

	LockPage(index, BH_META_BLKNO, ExclusiveLock);
	if (opts && opts->fastupdate &&
		bh_pending_append(index, v->x, v->dim, bh_tid_to_label(heap_tid),
						  (Size) opts->pending_list_limit * 1024))
	{
		UnlockPage(index, BH_META_BLKNO, ExclusiveLock);
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		return false;
	}
	s = bh_store_open(index, false);
	if (v->dim != s->meta.dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", s->meta.dim, v->dim)));
	if (!(s->meta.metric == HNSW_COSINE && bh_is_zero(v)))
		bh_store_insert_one(s, v->x, bh_tid_to_label(heap_tid),
							bh_draw_level(&s->meta));
	UnlockPage(index, BH_META_BLKNO, ExclusiveLock);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return false;
}

/* ---------------------------------------------------------------- scan */

typedef struct BhScanOpaque
{
	MemoryContext cxt;
	BhStore    *s;
	BhAlloc		al;
	HnswSearch *sc;
	float	   *query;
	int			qdim;
	bool		started;
	HnswResult *res;
	int			nres;
	int			pos;
	int			k;
	HTAB	   *seen;			/* TIDs returned so far (iterative scans) */
	float		last;
	/* the pending list's rows not returned yet: a heap, nearest on top */
	BhPendingHit *pend;
	int			npend;
	BhLabelSet	pendset;		/* all their TIDs: graph results to skip */
} BhScanOpaque;

static IndexScanDesc
bh_beginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	BhScanOpaque *so = palloc0(sizeof(BhScanOpaque));

	so->cxt = AllocSetContextCreate(CurrentMemoryContext, "brainy_hnsw scan",
									ALLOCSET_DEFAULT_SIZES);
	bh_alloc_init(&so->al, so->cxt, 0);
	scan->opaque = so;
	return scan;
}

static void
bh_rescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys,
		  int norderbys)
{
	BhScanOpaque *so = (BhScanOpaque *) scan->opaque;
	MemoryContext old;

	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys, scan->numberOfOrderBys * sizeof(ScanKeyData));

	MemoryContextReset(so->cxt);
	bh_alloc_init(&so->al, so->cxt, 0);
	so->s = NULL;
	so->sc = NULL;
	so->query = NULL;
	so->res = NULL;
	so->seen = NULL;
	so->pend = NULL;
	so->npend = 0;
	so->pendset.slots = NULL;
	so->started = false;

	if (scan->numberOfOrderBys > 0 &&
		!(scan->orderByData[0].sk_flags & SK_ISNULL))
	{
		Vector	   *v;

		old = MemoryContextSwitchTo(so->cxt);
		v = DatumGetVector(scan->orderByData[0].sk_argument);
		so->qdim = v->dim;
		so->query = palloc(sizeof(float) * v->dim);
		memcpy(so->query, v->x, sizeof(float) * v->dim);
		MemoryContextSwitchTo(old);
	}
}

/*
 * Per-backend state reused by every scan: the search context (its visited
 * set is as large as the index) and the memory of the store's slot cache.
 * Setting these up afresh for each scan costs more than a short search
 * itself (allocating and zeroing hundreds of kilobytes, fresh pages from the
 * kernel each time).  Searches are synchronous: bh_search runs one to the
 * end (or throws), hnsw_search_knn starts every search from a clean state,
 * and the slot cache is cleared at the start of each search, so one set
 * serves every scan, even interleaved scans of different indexes.
 */
#define BH_SCAN_CACHE_MAX	((Size) 64 * 1024 * 1024)

static struct
{
	MemoryContext cxt;
	BhAlloc		al;
	HnswSearch *sc;
	HnswParams	p;
	char	   *slots;
	Size		slots_size;
	uint32		slots_gen;		/* generation of the last search's entries */
}			bh_scan_cache;

static HnswSearch *
bh_scan_search(const BhMeta *meta)
{
	HnswParams	p;
	HnswError	err;
	int			rc;

	bh_params(meta, &p);
	if (bh_scan_cache.cxt == NULL)
	{
		bh_scan_cache.cxt = AllocSetContextCreate(TopMemoryContext,
												  "brainy_hnsw scan cache",
												  ALLOCSET_DEFAULT_SIZES);
		bh_alloc_init(&bh_scan_cache.al, bh_scan_cache.cxt, 0);
	}
	if (bh_scan_cache.sc != NULL &&
		(bh_scan_cache.p.dim != p.dim || bh_scan_cache.p.m != p.m ||
		 bh_scan_cache.p.metric != p.metric))
	{
		hnsw_search_destroy(bh_scan_cache.sc);
		bh_scan_cache.sc = NULL;
	}
	if (bh_scan_cache.sc == NULL)
	{
		rc = hnsw_search_create(&p, &bh_scan_cache.al.a, &bh_scan_cache.sc, &err);
		if (rc != HNSW_OK)
		{
			bh_scan_cache.sc = NULL;
			bh_error("creating a search", rc, &err);
		}
		bh_scan_cache.p = p;
	}
	return bh_scan_cache.sc;
}

/*
 * Give store s the shared slot cache memory, with a generation no entry
 * has yet (so nothing an earlier search cached is trusted).  4096 entries:
 * a search at ef_search 40 reads ~700 slots, and a node it expands must
 * still be cached then.
 */
static void
bh_scan_attach_slots(BhStore *s)
{
	uint32		n = 4096;
	Size		esize = MAXALIGN(offsetof(BhCacheEntry, ids) +
								 sizeof(uint32) * 2 * s->meta.m);

	if (bh_scan_cache.slots_size < n * esize)
	{
		if (bh_scan_cache.slots)
			pfree(bh_scan_cache.slots);
		bh_scan_cache.slots = NULL;
		bh_scan_cache.slots = MemoryContextAllocZero(bh_scan_cache.cxt, n * esize);
		bh_scan_cache.slots_size = n * esize;
		bh_scan_cache.slots_gen = 0;
	}
	s->cache = bh_scan_cache.slots;
	s->cache_n = n;
	s->cache_entry_size = esize;
	s->cache_gen = bh_scan_cache.slots_gen;
	bh_cache_reset(s);
	bh_scan_cache.slots_gen = s->cache_gen;
}

/* Drop the search context when it has grown past the bound (huge index). */
static void
bh_scan_trim(void)
{
	if (bh_scan_cache.sc != NULL &&
		hnsw_search_memory_usage(bh_scan_cache.sc) > BH_SCAN_CACHE_MAX)
	{
		hnsw_search_destroy(bh_scan_cache.sc);
		bh_scan_cache.sc = NULL;
	}
}

static int
bh_result_cmp(const void *a, const void *b)
{
	const HnswResult *x = (const HnswResult *) a;
	const HnswResult *y = (const HnswResult *) b;

	if (x->distance != y->distance)
		return x->distance < y->distance ? -1 : 1;
	return x->id < y->id ? -1 : (x->id > y->id ? 1 : 0);
}

/*
 * A quantized index searched on codes: replace each result's approximate
 * distance by the exact one from its full vector and sort again, so the
 * scan returns candidates in exact order.
 */
static void
bh_rerank(BhScanOpaque *so)
{
	BhStore    *s = so->s;
	float	   *vec = s->vec_buf;
	int			i;

	for (i = 0; i < so->nres; i++)
	{
		BhSlot		hdr;

		if (bh_slot_read_head(s, so->res[i].id, &hdr) != 0)
			elog(ERROR, "brainy_hnsw: cannot read node %u", so->res[i].id);
		bh_store_release(s);	/* a read of the head may hold its page */
		bh_vec_read(s, &hdr, vec);
		so->res[i].distance = hnsw_search_query_distance(so->sc, vec);
	}
	qsort(so->res, so->nres, sizeof(HnswResult), bh_result_cmp);
}

/* One search with k = ef = so->k; false when the query cannot be searched. */
static bool
bh_search(BhScanOpaque *so)
{
	HnswError	err;
	int			rc;

	so->sc = bh_scan_search(&so->s->meta);
	bh_scan_attach_slots(so->s);

	if (so->res)
		pfree(so->res);
	so->res = MemoryContextAllocHuge(so->cxt, sizeof(HnswResult) * so->k);
	so->nres = 0;
	so->pos = 0;
	/*
	 * The store holds one page share-locked between its callbacks (see
	 * bh_store_hold_reads).  An ERROR mid-search leaves the field stale (the
	 * abort released the lock and pin): forget it first, release it after.
	 */
	bh_store_forget_held(so->s);
	bh_store_new_search(so->s);
	rc = hnsw_search_knn(so->sc, &so->s->src, so->query, so->k, so->k,
						 so->res, &so->nres, &err);
	bh_store_release(so->s);
	if (rc == HNSW_OK && so->s->meta.quant == BH_QUANT_SQ8)
		bh_rerank(so);
	so->sc = NULL;
	bh_scan_trim();
	if (rc == HNSW_EINVAL)
		return false;			/* e.g. a zero query under cosine */
	if (rc != HNSW_OK)
		bh_error("search", rc, &err);
	return true;
}

static HTAB *
bh_label_set(MemoryContext cxt, const char *name, long n)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(uint64);
	ctl.hcxt = cxt;
	return hash_create(name, Max(n, 64), &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * Read the rows of the pending list with their exact distances, before
 * the graph is searched (see hnsw_pending.c).  The metapage the store read
 * after the scan's snapshot shows every row the snapshot can see, so an
 * empty list there is empty for this scan.  False when the query cannot be
 * searched (a zero vector under cosine).
 */
static bool
bh_scan_pending(Relation index, BhScanOpaque *so)
{
	const BhMeta *meta = &so->s->meta;
	float	   *q;
	HnswError	err;

	if (meta->pend_head == 0)
		return true;
	q = palloc(sizeof(float) * meta->dim);
	if (hnsw_vector_prepare((HnswMetric) meta->metric, so->query, meta->dim, q,
							&err) != HNSW_OK)
		return false;
	so->pend = bh_pending_scan(index, meta, q, &so->npend);
	pfree(q);
	if (so->npend > 0)
	{
		bh_label_set_init(&so->pendset, so->pend, so->npend);
		bh_hits_heapify(so->pend, so->npend);
	}
	return true;
}

/*
 * Has the scan returned c's TID already?  An iterative scan keeps every
 * TID it returned (each new search meets the earlier results again).  One
 * search returns a TID once unless two nodes carry it (a row linked twice
 * after a crash, see hnsw_pending.c): they hold the same vector, so in the
 * results, sorted by distance, they sit in one run of equal distances,
 * which is all there is to look back over.
 */
static bool
bh_result_repeats(BhScanOpaque *so, const HnswResult *c)
{
	const HnswResult *p;

	if (so->seen)
		return hash_search(so->seen, &c->label, HASH_FIND, NULL) != NULL;
	for (p = c - 1; p >= so->res && p->distance == c->distance; p--)
		if (p->label == c->label)
			return true;
	return false;
}

static bool
bh_gettuple(IndexScanDesc scan, ScanDirection dir)
{
	BhScanOpaque *so = (BhScanOpaque *) scan->opaque;
	int			iter = brainy_hnsw_iterative_scan;

	if (so->query == NULL)
		return false;

	if (!so->started)
	{
		MemoryContext old = MemoryContextSwitchTo(so->cxt);
		bool		ok;

		so->started = true;
		so->s = bh_store_open(scan->indexRelation, false);
		bh_store_hold_reads(so->s);	/* read-only: it never writes */
		if (so->qdim != so->s->meta.dim)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("expected %d dimensions, not %d", so->s->meta.dim, so->qdim)));
		/* an iterative scan meets earlier results again at each search */
		if (iter != BH_ITERATIVE_OFF)
			so->seen = bh_label_set(so->cxt, "brainy_hnsw seen", 256);
		so->last = -FLT_MAX;
		so->k = brainy_hnsw_ef_search;
		/* the pending list first, then the graph (see hnsw_pending.c) */
		ok = bh_scan_pending(scan->indexRelation, so);
		MemoryContextSwitchTo(old);
		if (ok && so->s->meta.n_nodes > 0)
			ok = bh_search(so);
		if (!ok)
		{
			so->query = NULL;
			return false;
		}
	}

	for (;;)
	{
		HnswResult *r = NULL;

		/* the next graph result not returned yet */
		while (so->pos < so->nres)
		{
			HnswResult *c = &so->res[so->pos];

			if ((iter == BH_ITERATIVE_STRICT && c->distance < so->last) ||
				bh_result_repeats(so, c) ||
				bh_label_set_has(&so->pendset, c->label))
			{
				so->pos++;
				continue;
			}
			r = c;
			break;
		}
		if (r == NULL && iter != BH_ITERATIVE_OFF &&
			so->k < brainy_hnsw_max_scan_tuples &&
			(uint32) so->k < so->s->meta.n_nodes)
		{
			/* search again with a larger candidate list */
			so->k = (int) Min((int64) so->k * 2, (int64) brainy_hnsw_max_scan_tuples);
			CHECK_FOR_INTERRUPTS();
			if (!bh_search(so))
				return false;
			continue;
		}

		/* the nearer of the next pending row and the next graph result */
		if (so->npend > 0 &&
			(r == NULL || so->pend[0].distance <= r->distance))
		{
			if (so->pend[0].distance > so->last)
				so->last = so->pend[0].distance;
			bh_label_to_tid(so->pend[0].label, &scan->xs_heaptid);
			bh_hits_pop(so->pend, &so->npend);
		}
		else if (r != NULL)
		{
			so->pos++;
			if (so->seen)
				hash_search(so->seen, &r->label, HASH_ENTER, NULL);
			if (r->distance > so->last)
				so->last = r->distance;
			bh_label_to_tid(r->label, &scan->xs_heaptid);
		}
		else
			return false;
		scan->xs_recheck = false;
		scan->xs_recheckorderby = false;
		return true;
	}
}

static void
bh_endscan(IndexScanDesc scan)
{
	BhScanOpaque *so = (BhScanOpaque *) scan->opaque;

	MemoryContextDelete(so->cxt);
	pfree(so);
	scan->opaque = NULL;
}

/* --------------------------------------------------------------- vacuum */

static IndexBulkDeleteResult *
bh_bulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			  IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	BhStore    *s;
	uint32		id;
	uint32		marked = 0;
	HnswError	err;
	int			rc;

	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));

	LockPage(index, BH_META_BLKNO, ExclusiveLock);
	s = bh_store_open(index, false);
	/* the pending list first: its dead rows dropped, the others linked */
	{
		int64		dropped = 0;

		bh_pending_merge(s, -1, callback, callback_state, &dropped);
		stats->tuples_removed += dropped;
	}
	stats->num_index_tuples = 0;
	for (id = 0; id < s->meta.n_nodes; id++)
	{
		BhSlot		hdr;
		ItemPointerData tid;

		vacuum_delay_point();
		if (bh_slot_read_head(s, id, &hdr) != 0)
			elog(ERROR, "brainy_hnsw: cannot read node %u", id);
		if (hdr.flags & BH_SLOT_DELETED)
			continue;
		bh_label_to_tid(hdr.label, &tid);
		if (callback(&tid, callback_state))
		{
			rc = hnsw_store_mark_deleted(&s->st, id, &err);
			if (rc != HNSW_OK)
				bh_error("mark deleted", rc, &err);
			stats->tuples_removed++;
			marked++;
		}
		else
			stats->num_index_tuples++;
	}
	if (marked > 0)
	{
		BhWriterCache *wc = bh_get_writer(index, &s->meta);

		wc->busy = true;
		rc = hnsw_store_repair_deleted(wc->w, &s->st, &err);
		wc->busy = false;
		if (rc != HNSW_OK)
			bh_error("repair", rc, &err);
		/* the repaired nodes' slots are free for new rows */
		bh_free_rebuild(s);
		bh_pending_relinked(s);
	}
	UnlockPage(index, BH_META_BLKNO, ExclusiveLock);
	stats->num_pages = RelationGetNumberOfBlocks(index);
	return stats;
}

static IndexBulkDeleteResult *
bh_vacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	if (info->analyze_only)
		return stats;
	if (stats == NULL)
	{
		/*
		 * No bulk delete ran (its repair ends with a reconnect).  Inserts
		 * can leave a node that no other node links to (pruning under a
		 * non-metric distance such as inner product, or an insert cut short
		 * by a crash), which a search can then never return: relink such
		 * nodes, so every VACUUM, autovacuum included, leaves every live
		 * row reachable.
		 */
		Relation	index = info->index;
		BhStore    *s;

		LockPage(index, BH_META_BLKNO, ExclusiveLock);
		s = bh_store_open(index, false);
		/* VACUUM (autovacuum too) links the pending list into the graph */
		bh_pending_merge(s, -1, NULL, NULL, NULL);
		bh_store_reconnect(s);
		bh_pending_relinked(s);
		stats = palloc0(sizeof(IndexBulkDeleteResult));
		stats->num_index_tuples = s->meta.n_nodes;
		stats->estimated_count = true;
		UnlockPage(index, BH_META_BLKNO, ExclusiveLock);
	}
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	return stats;
}

/* ----------------------------------------------------------------- cost */

static void
bh_costestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				Cost *indexStartupCost, Cost *indexTotalCost,
				Selectivity *indexSelectivity, double *indexCorrelation,
				double *indexPages)
{
	GenericCosts costs;
	double		ntuples = Max(path->indexinfo->tuples, 1.0);
	double		frac,
				visited,
				pages;

	if (path->indexorderbys == NIL)
	{
		/* only ORDER BY <op> scans: never for anything else */
		*indexStartupCost = 1.0e10;
		*indexTotalCost = 1.0e10;
		*indexSelectivity = 1.0;
		*indexCorrelation = 0.0;
		*indexPages = 0;
		return;
	}
	MemSet(&costs, 0, sizeof(costs));
	genericcostestimate(root, path, loop_count, &costs);

	/*
	 * A search computes the distance to about ef_search * 2m nodes (m taken
	 * as 16), not to every tuple, and reads the slots of those nodes; the
	 * upper layers and the pages near the entry point are hot, so pages
	 * are charged at seq_page_cost.  The sequential alternative computes
	 * every distance, which the planner prices at one cpu_operator_cost
	 * whatever the dimensions: a generic estimate (all pages at
	 * random_page_cost) would lose to it at larger ef_search.
	 */
	visited = Min(ntuples, (double) brainy_hnsw_ef_search * 32.0);
	frac = visited / ntuples;
	pages = Max(1.0, costs.numIndexPages * frac);
	*indexStartupCost = visited * (cpu_index_tuple_cost + cpu_operator_cost) +
		pages * seq_page_cost;
	*indexTotalCost = *indexStartupCost;
	*indexSelectivity = 1.0;
	*indexCorrelation = 0.0;
	*indexPages = pages;
}

static bool
bh_validate(Oid opclassoid)
{
	return true;
}

/* -------------------------------------------------------------- handler */

PG_FUNCTION_INFO_V1(brainy_hnsw_handler);

Datum
brainy_hnsw_handler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *am = makeNode(IndexAmRoutine);

	am->amstrategies = 0;
	am->amsupport = 1;
	am->amoptsprocnum = 0;
	am->amcanorder = false;
	am->amcanorderbyop = true;
	am->amcanbackward = false;
	am->amcanunique = false;
	am->amcanmulticol = false;
	am->amoptionalkey = true;
	am->amsearcharray = false;
	am->amsearchnulls = false;
	am->amstorage = false;
	am->amclusterable = false;
	am->ampredlocks = false;
	am->amcanparallel = false;
	am->amcaninclude = false;
	am->amusemaintenanceworkmem = false;
	am->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
	am->amkeytype = InvalidOid;

	am->ambuild = bh_build;
	am->ambuildempty = bh_buildempty;
	am->aminsert = bh_insert;
	am->ambulkdelete = bh_bulkdelete;
	am->amvacuumcleanup = bh_vacuumcleanup;
	am->amcanreturn = NULL;
	am->amcostestimate = bh_costestimate;
	am->amoptions = bh_options;
	am->amproperty = NULL;
	am->ambuildphasename = bh_buildphasename;
	am->amvalidate = bh_validate;
	am->amadjustmembers = NULL;
	am->ambeginscan = bh_beginscan;
	am->amrescan = bh_rescan;
	am->amgettuple = bh_gettuple;
	am->amgetbitmap = NULL;
	am->amendscan = bh_endscan;
	am->ammarkpos = NULL;
	am->amrestrpos = NULL;
	am->amestimateparallelscan = NULL;
	am->aminitparallelscan = NULL;
	am->amparallelrescan = NULL;

	PG_RETURN_POINTER(am);
}

/* metric support functions (FUNCTION 1 of each operator class) */
PG_FUNCTION_INFO_V1(brainy_hnsw_l2_support);
PG_FUNCTION_INFO_V1(brainy_hnsw_ip_support);
PG_FUNCTION_INFO_V1(brainy_hnsw_cosine_support);
PG_FUNCTION_INFO_V1(brainy_hnsw_l1_support);

Datum
brainy_hnsw_l2_support(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(HNSW_L2);
}

Datum
brainy_hnsw_ip_support(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(HNSW_IP);
}

Datum
brainy_hnsw_cosine_support(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(HNSW_COSINE);
}

Datum
brainy_hnsw_l1_support(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(HNSW_L1);
}

/* ---------------------------------------------------------------- check */

PG_FUNCTION_INFO_V1(brainy_hnsw_check);

/*
 * brainy_hnsw_check(regclass) -> jsonb: the engine's structural check over
 * the index's pages (superuser only).
 */
Datum
brainy_hnsw_check(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	index;
	BhStore    *s;
	BhAlloc		al;
	HnswCheckReport rep;
	HnswError	err;
	int			rc;
	StringInfoData buf;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be superuser to run brainy_hnsw_check")));
	index = index_open(relid, AccessShareLock);
	if (index->rd_rel->relam != get_index_am_oid("brainy_hnsw", false))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a brainy_hnsw index",
						RelationGetRelationName(index))));
	/* a failed CREATE INDEX CONCURRENTLY leaves an index with no pages */
	if (RelationGetNumberOfBlocks(index) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("brainy_hnsw index \"%s\" has not been built",
						RelationGetRelationName(index)),
				 errhint("REINDEX or drop it.")));
	s = bh_store_open(index, true);
	bh_alloc_init(&al, CurrentMemoryContext, 0);
	memset(&rep, 0, sizeof(rep));
	rc = hnsw_check_source(&s->src, &al.a, 0, &rep, &err);
	if (rc != HNSW_OK && rc != HNSW_ECORRUPT)
		bh_error("check", rc, &err);

	initStringInfo(&buf);
	appendStringInfo(&buf,
					 "{\"ok\": %s, \"n_nodes\": %u, \"n_live\": %u, \"n_deleted\": %u, "
					 "\"n_edges\": " UINT64_FORMAT ", \"n_dangling\": " UINT64_FORMAT ", "
					 "\"n_invalid\": " UINT64_FORMAT ", \"n_unreachable\": %u, "
					 "\"bad_level\": %d, \"entry_point\": %u, \"max_level\": %d, "
					 "\"dim\": %d, \"m\": %d, \"ef_construction\": %d, \"metric\": \"%s\", "
					 "\"pages\": %u, \"quantization\": \"%s\", \"vectors\": \"%s\", \"trained\": %s, \"pending\": %u, \"pending_pages\": %u, \"message\": ",
					 rc == HNSW_OK ? "true" : "false", rep.n_nodes, rep.n_live,
					 rep.n_deleted, (uint64) rep.n_edges, (uint64) rep.n_dangling,
					 (uint64) rep.n_invalid, rep.n_unreachable, rep.bad_level,
					 s->meta.entry_point, s->meta.max_level, s->meta.dim,
					 s->meta.m, s->meta.ef_construction,
					 hnsw_metric_name((HnswMetric) s->meta.metric),
					 RelationGetNumberOfBlocks(index),
					 s->meta.quant == BH_QUANT_SQ8 ? "sq8" : "none",
					 s->meta.quant == BH_QUANT_NONE ? "slots" : "pages",
					 s->meta.quant != BH_QUANT_SQ8 ? "null" :
					 s->sq8 == NULL ? "false" : "true",
					 s->meta.pend_n, s->meta.pend_pages);
	escape_json(&buf, rc == HNSW_OK ? "" : err.message);
	appendStringInfoChar(&buf, '}');
	index_close(index, AccessShareLock);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
