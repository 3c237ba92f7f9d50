/*
 * repl_flush.c - the writer half of the replication worker: copies the
 * rows of newly published tables into the outbox (the backfill, one batch
 * per transaction), and drains the outbox into change-log segments.
 *
 * A flush takes the oldest brainy.batch_size rows of a collection's
 * outbox, writes them as segment published_seq + 1 with If-None-Match: *,
 * and then, in the same local transaction that read them, deletes them and
 * records the new seq.  If the worker dies between the PUT and the commit,
 * the next PUT of that seq answers 412: the worker reads the segment that
 * is there, deletes the outbox rows it holds (matched by outbox id and HLC
 * version, so a segment that is not ours deletes nothing), records its seq
 * and goes on with the next one.  Nothing is published twice and the seqs
 * have no gaps.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "repl.h"
#include "storage_settings.h"
#include "vector.h"
#include "worker.h"

/* segments one collection may write in one turn before the others get theirs */
#define FLUSHES_PER_TURN 32
/* how often the writer looks at its outbox when nothing forces it */
#define WRITER_CHECK_MS 20

typedef struct PubEntry
{
	char		collection[BRAINY_COLLECTION_MAX + 1];
	int64		published_seq;
	bool		backfill_done;
	int			dimensions;
	int64		pending;		/* rows in the outbox */
	int64		oldest_hlc;		/* of the oldest of them, 0 if none */
} PubEntry;

/* rows/s over a window of a few seconds, per collection slot */
typedef struct RateWindow
{
	TimestampTz start;
	int64		rows;
} RateWindow;

static RateWindow rate_windows[BRAINY_REPL_MAX_COLLECTIONS];

static SPIPlanPtr read_plan = NULL;

/* ------------------------------------------------------------- helpers */

static void
my_identity(char *id, size_t idlen, int *partition_count)
{
	BrainyClusterState *cs = brainy_cluster_state();

	SpinLockAcquire(&cs->mutex);
	strlcpy(id, cs->instance_id, idlen);
	*partition_count = cs->config_loaded ? cs->partition_count : 0;
	SpinLockRelease(&cs->mutex);
}

static void
set_publish_error(const char *collection, const char *msg)
{
	BrainyReplState *rs = brainy_repl_state();
	BrainyReplCollection *c;
	bool		changed = false;

	SpinLockAcquire(&rs->mutex);
	c = brainy_repl_collection(rs, collection, true);
	if (c != NULL)
	{
		changed = strcmp(c->publish_error, msg) != 0;
		strlcpy(c->publish_error, msg, sizeof(c->publish_error));
	}
	SpinLockRelease(&rs->mutex);
	if (changed && msg[0] != '\0')
		ereport(WARNING, (errmsg("brainy: publishing collection \"%s\": %s", collection, msg)));
}

/* ------------------------------------------------------- publications */

static int
load_publications(PubEntry **out)
{
	int			n,
				i;
	PubEntry *pubs;
	MemoryContext outer = CurrentMemoryContext;

	repl_begin_tx();
	/* before CREATE EXTENSION brainy in this database there is nothing to do */
	if (!OidIsValid(get_extension_oid("brainy", true)))
	{
		repl_end_tx();
		*out = MemoryContextAllocZero(outer, sizeof(PubEntry));
		return 0;
	}
	if (SPI_execute("SELECT p.collection, p.published_seq, p.backfill_done, p.dimensions,"
					" (SELECT count(*) FROM brainy.outbox o WHERE o.collection = p.collection),"
					" (SELECT o.hlc FROM brainy.outbox o WHERE o.collection = p.collection ORDER BY o.id LIMIT 1)"
					" FROM brainy.publication p ORDER BY p.collection", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading brainy.publication failed");
	n = (int) SPI_processed;
	pubs = MemoryContextAllocZero(outer, sizeof(PubEntry) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *name = SPI_getvalue(tup, desc, 1);

		strlcpy(pubs[i].collection, name, sizeof(pubs[i].collection));
		pubs[i].published_seq = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		pubs[i].backfill_done = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
		pubs[i].dimensions = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		pubs[i].pending = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
		pubs[i].oldest_hlc = DatumGetInt64(SPI_getbinval(tup, desc, 6, &isnull));
		if (isnull)
			pubs[i].oldest_hlc = 0;
	}
	repl_end_tx();
	*out = pubs;
	return n;
}

/* mirrors the publications into the shared state (and forgets unpublished ones) */
static void
publish_state(const PubEntry *pubs, int n)
{
	BrainyReplState *rs = brainy_repl_state();
	int			i,
				j;

	SpinLockAcquire(&rs->mutex);
	for (i = 0; i < BRAINY_REPL_MAX_COLLECTIONS; i++)
	{
		BrainyReplCollection *c = &rs->collections[i];
		bool		found = false;

		if (!c->used || !c->published)
			continue;
		for (j = 0; j < n; j++)
			if (strcmp(pubs[j].collection, c->name) == 0)
				found = true;
		if (!found)
			c->published = false;
	}
	for (j = 0; j < n; j++)
	{
		BrainyReplCollection *c = brainy_repl_collection(rs, pubs[j].collection, true);

		if (c == NULL)
			continue;
		c->published = true;
		c->published_seq = pubs[j].published_seq;
		c->outbox_pending = pubs[j].pending;
		c->backfill_done = pubs[j].backfill_done;
	}
	SpinLockRelease(&rs->mutex);
}

/* ---------------------------------------------------------------- backfill */

static int64
backfill_step(const char *collection)
{
	Datum		args[2];
	Oid			types[2] = {TEXTOID, INT4OID};
	bool		isnull;
	int64		n;

	repl_begin_tx();
	args[0] = CStringGetTextDatum(collection);
	args[1] = Int32GetDatum(brainy_batch_size);
	if (SPI_execute_with_args("SELECT brainy._backfill_step($1, $2)", 2, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "the backfill of collection \"%s\" failed", collection);
	n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	repl_end_tx();
	if (n > 0)
		brainy_cluster_log(BRAINY_LOG_DEBUG, "brainy: backfill of \"%s\": " INT64_FORMAT " row(s) copied to the outbox",
						   collection, n);
	return n;
}

/* ------------------------------------------------------------------ flush */

static Datum
int8_array(const int64 *values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = Int64GetDatum(values[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* after the PUT (or the 412 resolution): drop the rows, record the seq; commits */
static void
record_flush(const char *collection, int64 seq, const int64 *ids, const int64 *hlcs, int n,
			 bool match_hlc)
{
	Oid			types[3] = {TEXTOID, INT8ARRAYOID, INT8ARRAYOID};
	Datum		args[3];

	args[0] = CStringGetTextDatum(collection);
	args[1] = int8_array(ids, n);
	args[2] = match_hlc ? int8_array(hlcs, n) : (Datum) 0;
	if (match_hlc)
	{
		if (SPI_execute_with_args("DELETE FROM brainy.outbox o USING unnest($2::bigint[], $3::bigint[]) AS s(id, hlc)"
								  " WHERE o.collection = $1 AND o.id = s.id AND o.hlc = s.hlc",
								  3, types, args, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "deleting flushed outbox rows failed");
	}
	else if (SPI_execute_with_args("DELETE FROM brainy.outbox WHERE collection = $1 AND id = ANY ($2)",
								   2, types, args, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "deleting flushed outbox rows failed");
	args[1] = Int64GetDatum(seq);
	types[1] = INT8OID;
	if (SPI_execute_with_args("UPDATE brainy.publication SET published_seq = $2 WHERE collection = $1",
							  2, types, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "recording the published seq failed");
}

/*
 * The segment at seq already exists: a flush of ours whose commit was lost,
 * or (after the local catalog was reset) an older life of this writer id.
 * Drops the outbox rows it holds (same id and version) and moves past it.
 * false (with the error recorded) when it cannot be read.
 */
static bool
resolve_existing(const char *collection, const char *writer, int64 seq, const char *key)
{
	ObjStoreBuffer body;
	ObjStoreError err;
	ObjStoreStatus rc;
	ClusterSegment seg;
	char		errbuf[CLUSTER_ERRLEN];
	int64	   *ids,
			   *hlcs;
	size_t		i;
	int			crc;

	memset(&body, 0, sizeof(body));
	memset(&err, 0, sizeof(err));
	rc = objstore_get(brainy_storage_handle(), key, NULL, &body, NULL, &err);
	if (rc != OBJSTORE_OK)
	{
		snprintf(errbuf, sizeof(errbuf), "reading %s after a 412: %s: %s", key,
				 objstore_status_name(rc), err.message);
		repl_set_store_error(errbuf);
		return false;
	}
	memset(&seg, 0, sizeof(seg));
	crc = cluster_segment_decode(body.data, body.len, &seg, errbuf, sizeof(errbuf));
	if (crc != CLUSTER_OK)
	{
		char		msg[CLUSTER_ERRLEN];

		objstore_buffer_free(&body);
		snprintf(msg, sizeof(msg), "segment %s exists but cannot be read (%s); publishing is stopped until it is fixed",
				 key, errbuf);
		set_publish_error(collection, msg);
		return false;
	}
	if (strcmp(seg.header.collection, collection) != 0 || strcmp(seg.header.writer_id, writer) != 0 ||
		seg.header.seq != (uint64_t) seq)
	{
		char		msg[CLUSTER_ERRLEN];

		snprintf(msg, sizeof(msg), "segment %s holds collection \"%s\", writer \"%s\", seq " UINT64_FORMAT
				 "; publishing is stopped until it is fixed", key, seg.header.collection,
				 seg.header.writer_id, (uint64) seg.header.seq);
		cluster_segment_free(&seg);
		objstore_buffer_free(&body);
		set_publish_error(collection, msg);
		return false;
	}
	ids = palloc(sizeof(int64) * Max(seg.n_rows, 1));
	hlcs = palloc(sizeof(int64) * Max(seg.n_rows, 1));
	for (i = 0; i < seg.n_rows; i++)
	{
		ids[i] = (int64) seg.rows[i].outbox_id;
		hlcs[i] = (int64) seg.rows[i].hlc;
	}
	brainy_hlc_observe(seg.header.hlc_max);
	record_flush(collection, seq, ids, hlcs, (int) seg.n_rows, true);
	cluster_segment_free(&seg);
	objstore_buffer_free(&body);
	brainy_cluster_log(BRAINY_LOG_INFO, "brainy: segment %s was already written (a flush whose commit was lost); resumed after it",
					   key);
	return true;
}

static void
count_rate(const char *collection, int rows)
{
	BrainyReplState *rs = brainy_repl_state();
	BrainyReplCollection *c;
	TimestampTz now = GetCurrentTimestamp();

	SpinLockAcquire(&rs->mutex);
	c = brainy_repl_collection(rs, collection, true);
	if (c != NULL)
	{
		RateWindow *w = &rate_windows[c - rs->collections];

		if (w->start == 0)
			w->start = now;
		w->rows += rows;
		c->rows_published += rows;
		c->last_flush_at = now;
		if (now - w->start >= 2 * USECS_PER_SEC)
		{
			c->publish_rows_per_second = w->rows * (double) USECS_PER_SEC / (double) (now - w->start);
			w->start = now;
			w->rows = 0;
		}
	}
	SpinLockRelease(&rs->mutex);
}

/*
 * Writes the next segment of a collection from the oldest outbox rows.
 * Returns the rows flushed (0: nothing to do), or -1 when it failed (the
 * error is recorded; nothing changed locally).
 */
static int
flush_one(PubEntry *pub)
{
	char		writer[CLUSTER_ID_MAX + 1];
	int			partition_count;
	int64		seq = pub->published_seq + 1;
	int			n,
				i;
	int64	   *ids;
	ClusterSegmentWriter *sw = NULL;
	unsigned char *bytes = NULL;
	size_t		len = 0;
	char		errbuf[CLUSTER_ERRLEN];
	char		key[512];
	ObjStoreError err;
	ObjStoreStatus rc = OBJSTORE_OK;
	int			result = -1;
	Datum		args[2];

	my_identity(writer, sizeof(writer), &partition_count);
	if (writer[0] == '\0' || partition_count <= 0)
		return 0;				/* config not loaded yet: next turn */
	if (cluster_segment_key(pub->collection, writer, (uint64_t) seq, key, sizeof(key)) != CLUSTER_OK)
	{
		set_publish_error(pub->collection, "cannot make the segment key");
		return -1;
	}

	repl_begin_tx();
	if (read_plan == NULL)
	{
		Oid			types[2] = {TEXTOID, INT4OID};
		SPIPlanPtr	p = SPI_prepare("SELECT id, op, pk, hlc, vec, doc::text FROM brainy.outbox"
									" WHERE collection = $1 ORDER BY id LIMIT $2", 2, types);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "preparing the outbox read failed");
		read_plan = p;
	}
	args[0] = CStringGetTextDatum(pub->collection);
	args[1] = Int32GetDatum(brainy_batch_size);
	if (SPI_execute_plan(read_plan, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the outbox failed");
	n = (int) SPI_processed;
	if (n == 0)
	{
		repl_end_tx();
		return 0;
	}
	ids = palloc(sizeof(int64) * n);

	PG_TRY();
	{
		sw = cluster_segment_writer_new(pub->collection, writer, (uint64_t) seq,
										(uint32_t) pub->dimensions, (uint32_t) partition_count);
		if (sw == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory for a segment")));
		for (i = 0; i < n; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			ClusterSegmentRow row;
			bool		isnull;
			Datum		d;
			char	   *pk;
			char	   *doc;
			Vector	   *v = NULL;

			memset(&row, 0, sizeof(row));
			ids[i] = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			row.outbox_id = (uint64_t) ids[i];
			row.op = DatumGetChar(SPI_getbinval(tup, desc, 2, &isnull));
			pk = SPI_getvalue(tup, desc, 3);
			row.pk = pk;
			row.pk_len = (uint32_t) strlen(pk);
			row.hlc = (uint64_t) DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
			d = SPI_getbinval(tup, desc, 5, &isnull);
			if (!isnull && row.op != 'D')
			{
				v = DatumGetVector(d);
				if (v->dim != pub->dimensions)
					ereport(ERROR,
							(errcode(ERRCODE_DATA_EXCEPTION),
							 errmsg("outbox row " INT64_FORMAT " of collection \"%s\" has %d dimensions, the collection %d",
									ids[i], pub->collection, v->dim, pub->dimensions),
							 errhint("The table's vector column changed after brainy.publish(); unpublish and publish again.")));
				row.vector = v->x;
			}
			else if (row.op != 'D')
				row.op = 'D';	/* no vector: not on readers */
			doc = SPI_getvalue(tup, desc, 6);
			if (doc != NULL)
			{
				row.doc = doc;
				row.doc_len = (uint32_t) strlen(doc);
			}
			if (cluster_segment_writer_add(sw, &row, errbuf, sizeof(errbuf)) != CLUSTER_OK)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("outbox row " INT64_FORMAT " of collection \"%s\" cannot be published: %s",
								ids[i], pub->collection, errbuf)));
		}
		if (cluster_segment_writer_finish(sw, brainy_wall_ms(), &bytes, &len, errbuf, sizeof(errbuf)) != CLUSTER_OK)
			ereport(ERROR, (errmsg("building segment %s: %s", key, errbuf)));
		cluster_segment_writer_free(sw);
		sw = NULL;

		memset(&err, 0, sizeof(err));
		rc = objstore_put(brainy_storage_handle(), key, bytes, len, OBJSTORE_PUT_IF_NONE_MATCH, NULL, NULL, &err);
		free(bytes);
		bytes = NULL;
	}
	PG_CATCH();
	{
		if (sw != NULL)
			cluster_segment_writer_free(sw);
		free(bytes);
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (rc == OBJSTORE_OK)
	{
		record_flush(pub->collection, seq, ids, NULL, n, false);
		repl_end_tx();
		repl_set_store_error("");
		set_publish_error(pub->collection, "");
		pub->published_seq = seq;
		count_rate(pub->collection, n);
		brainy_cluster_log(BRAINY_LOG_DEBUG, "brainy: wrote %s (%d rows, %zu bytes)", key, n, len);
		result = n;
	}
	else if (rc == OBJSTORE_PRECONDITION_FAILED)
	{
		/* the rows read above may differ from the segment's: match by its content */
		if (resolve_existing(pub->collection, writer, seq, key))
		{
			repl_end_tx();
			pub->published_seq = seq;
			result = 1;			/* progress: try again with the next seq */
		}
		else
			repl_abort_tx();
	}
	else
	{
		snprintf(errbuf, sizeof(errbuf), "writing %s: %s: %s", key, objstore_status_name(rc), err.message);
		repl_set_store_error(errbuf);
		repl_abort_tx();
	}
	return result;
}

/* ------------------------------------------------------------------- turn */

long
repl_flush_turn(bool forced)
{
	PubEntry *pubs;
	int			n,
				i;
	long		timeout = WRITER_CHECK_MS;
	uint64		now_ms = brainy_wall_ms();

	n = load_publications(&pubs);
	publish_state(pubs, n);
	for (i = 0; i < n; i++)
	{
		PubEntry *p = &pubs[i];
		int			k;

		if (!p->backfill_done)
		{
			int64		copied = backfill_step(p->collection);

			p->pending += copied;
			if (p->oldest_hlc == 0 && copied > 0)
				p->oldest_hlc = (int64) cluster_hlc_make(now_ms, 0);
			if (copied > 0)
				timeout = 0;	/* more backfill next turn */
		}
		for (k = 0; k < FLUSHES_PER_TURN && p->pending > 0; k++)
		{
			uint64		age_ms = p->oldest_hlc ? now_ms - Min(now_ms, cluster_hlc_ms((uint64) p->oldest_hlc)) : 0;
			int			done;

			if (!(forced || p->pending >= brainy_batch_size || age_ms >= (uint64) brainy_flush_interval_ms))
			{
				timeout = Min(timeout, (long) (brainy_flush_interval_ms - age_ms));
				break;
			}
			done = flush_one(p);
			if (done <= 0)
			{
				if (done < 0)
					timeout = Max(timeout, 500);	/* a failure: do not hammer */
				break;
			}
			p->pending = Max(p->pending - done, 0);
			/* the next batch's age: unknown without a query, flush if full */
			if (p->pending > 0 && p->pending < brainy_batch_size && !forced)
			{
				p->oldest_hlc = 0;
				timeout = 0;	/* re-read the outbox next turn */
				break;
			}
		}
		/* a full batch left after flushing: go on at once (never after a failure) */
		if (p->pending >= brainy_batch_size && k == FLUSHES_PER_TURN)
			timeout = 0;
	}
	if (n > 0)
		publish_state(pubs, n);
	return Max(timeout, 0);
}
