/*
 * repl_apply.c - the reader half of the replication worker: follows every
 * writer's change log of every subscribed collection and applies it to the
 * mirror tables.
 *
 * A poll round GETs, for every writer of every subscription, the segment
 * after the last one applied here (_brainy/log/<c>/<writer>/<seq:020>.seg).
 * 404 means the writer is caught up: an idle reader costs one GET per writer
 * per brainy.poll_interval, plus a LIST of _brainy/collections/<c>/writers/
 * every WRITERS_LIST_MS to find writers that appeared.  A segment is
 * verified whole (cluster_segment_decode), checked against the subscription
 * (collection, writer, seq, dimensions) and applied in ONE transaction that
 * also records its seq in brainy.subscription_writer, so a crash never
 * applies a segment twice nor half of one.
 *
 * Within a segment only the newest version of each key counts; against the
 * mirror, last writer wins by (HLC, writer id) as kept in brainy.row_version,
 * where deletes leave tombstones (purged after brainy.tombstone_retention)
 * so that an older insert arriving later cannot bring a row back.
 *
 * A segment that cannot be read or applied stops its writer's stream: the
 * shared state (brainy.subscriptions, brainy.health()) shows why, the log
 * says it once, nothing of it is applied, and later polls GET the same key
 * again, so the stream resumes by itself when a correct object appears.
 * Object store failures are recorded in the shared state and retried at
 * the next poll; the applied seq is never lost.
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "repl.h"
#include "storage_settings.h"
#include "vector.h"
#include "worker.h"

/* segments one writer may apply in one turn before the others get theirs */
#define SEGMENTS_PER_TURN 4
/* how often the writers/ registrations of a collection are listed */
#define WRITERS_LIST_MS (30 * 1000)
/* forced polls (strong reads) list at most this often */
#define WRITERS_FORCED_LIST_MS 1000
/* how often expired tombstones are purged */
#define PURGE_INTERVAL_MS (60 * 1000)
/* rows/s is measured over windows of this length */
#define RATE_WINDOW_US (2 * USECS_PER_SEC)

typedef struct ApplyWriter
{
	char		id[CLUSTER_ID_MAX + 1];
	int64		applied_seq;
	bool		seen;			/* still in the table at the last load */
	char		logged[CLUSTER_ERRLEN]; /* the last error written to the log */
	TimestampTz rate_start;
	int64		rate_rows;
} ApplyWriter;

typedef struct ApplySub
{
	bool		used;
	bool		seen;
	char		collection[BRAINY_COLLECTION_MAX + 1];
	Oid			relid;
	int			dimensions;
	char		pk_column[NAMEDATALEN];
	char		vector_column[NAMEDATALEN];
	TimestampTz listed_at;		/* 0: list its writers now */
	bool		relist_wanted;	/* a forced poll came: list again once
								 * WRITERS_FORCED_LIST_MS after the last */
	char	   *schema_text;	/* schema.json as subscribed (TopMemoryContext) */
	char		schema_error[CLUSTER_ERRLEN];	/* "" while the bucket's still matches */
	int			n_writers;
	ApplyWriter writers[BRAINY_REPL_MAX_WRITERS];

	/* prepared for relid (plans_relid) */
	Oid			plans_relid;
	Oid			vector_array_type;
	SPIPlanPtr	upsert_plan;
	SPIPlanPtr	delete_plan;

	bool		pending_empty;	/* its index has no rows left to link */
} ApplySub;

typedef enum PollResult
{
	POLL_CAUGHT_UP,				/* 404: nothing new */
	POLL_APPLIED,				/* one segment applied */
	POLL_FAILED					/* store failure or bad segment */
} PollResult;

static ApplySub subs[BRAINY_REPL_MAX_COLLECTIONS];
static TimestampTz next_poll_at = 0;
static bool more_waiting = false;
static TimestampTz purged_at = 0;
static TimestampTz last_applied_at = 0;	/* start of the last round that applied a segment */

/* after a segment: poll every interval / ACTIVE_POLL_DIVISOR for ACTIVE_POLL_SPAN intervals */
#define ACTIVE_POLL_DIVISOR 16
#define ACTIVE_POLL_SPAN 3
static bool catalog_present = false;	/* CREATE EXTENSION brainy was run */

static SPIPlanPtr load_plan = NULL;
static SPIPlanPtr versions_plan = NULL;
static SPIPlanPtr version_upsert_plan = NULL;
static SPIPlanPtr applied_plan = NULL;

/* ------------------------------------------------------------- helpers */

static SPIPlanPtr
keep_plan(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

	if (p == NULL)
		elog(ERROR, "preparing \"%s\" failed: %s", sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(p) != 0)
		elog(ERROR, "keeping a prepared plan failed");
	return p;
}

/* the shared slot of a writer (creating it); caller holds the mutex */
static BrainyReplWriter *
shared_writer(BrainyReplState *rs, const ApplySub *s, const char *writer_id)
{
	BrainyReplCollection *c = brainy_repl_collection(rs, s->collection, true);

	if (c == NULL)
		return NULL;
	return brainy_repl_writer(c, writer_id, true);
}

/*
 * Stops a writer's stream with a message: shared state, and one WARNING
 * per distinct message in the log.
 */
static void
stop_writer(ApplySub *s, ApplyWriter *w, const char *msg)
{
	BrainyReplState *rs = brainy_repl_state();
	BrainyReplWriter *sw;

	SpinLockAcquire(&rs->mutex);
	sw = shared_writer(rs, s, w->id);
	if (sw != NULL)
	{
		sw->stopped = true;
		sw->caught_up = false;
		sw->head_seq = Max(sw->head_seq, w->applied_seq + 1);
		strlcpy(sw->error, msg, sizeof(sw->error));
	}
	SpinLockRelease(&rs->mutex);
	if (strcmp(w->logged, msg) != 0)
	{
		ereport(WARNING,
				(errmsg("brainy: collection \"%s\", writer \"%s\": stream stopped: %s",
						s->collection, w->id, msg),
				 errdetail("Nothing of segment " INT64_FORMAT " is applied; it is read again at every poll and applied once it is correct.",
						   w->applied_seq + 1)));
		strlcpy(w->logged, msg, sizeof(w->logged));
	}
}

/* ------------------------------------------------------- subscriptions */

static ApplySub *
find_sub(const char *collection, bool create)
{
	int			i,
				free_slot = -1;

	for (i = 0; i < BRAINY_REPL_MAX_COLLECTIONS; i++)
	{
		if (subs[i].used && strcmp(subs[i].collection, collection) == 0)
			return &subs[i];
		if (!subs[i].used && free_slot < 0)
			free_slot = i;
	}
	if (!create || free_slot < 0)
		return NULL;
	memset(&subs[free_slot], 0, sizeof(ApplySub));
	subs[free_slot].used = true;
	strlcpy(subs[free_slot].collection, collection, sizeof(subs[free_slot].collection));
	return &subs[free_slot];
}

static ApplyWriter *
find_writer(ApplySub *s, const char *id, bool create)
{
	int			i;

	for (i = 0; i < s->n_writers; i++)
		if (strcmp(s->writers[i].id, id) == 0)
			return &s->writers[i];
	if (!create || s->n_writers >= BRAINY_REPL_MAX_WRITERS)
		return NULL;
	memset(&s->writers[s->n_writers], 0, sizeof(ApplyWriter));
	strlcpy(s->writers[s->n_writers].id, id, sizeof(s->writers[0].id));
	return &s->writers[s->n_writers++];
}

static void
free_plans(ApplySub *s)
{
	if (s->upsert_plan)
		SPI_freeplan(s->upsert_plan);
	if (s->delete_plan)
		SPI_freeplan(s->delete_plan);
	s->upsert_plan = s->delete_plan = NULL;
	s->plans_relid = InvalidOid;
}

/*
 * Reads brainy.subscription and brainy.subscription_writer (the applied
 * seqs are the committed truth) and mirrors them into the shared state.
 */
static void
load_subscriptions(void)
{
	BrainyReplState *rs = brainy_repl_state();
	uint64		n,
				i;
	int			k,
				j;

	for (k = 0; k < BRAINY_REPL_MAX_COLLECTIONS; k++)
	{
		subs[k].seen = false;
		for (j = 0; j < subs[k].n_writers; j++)
			subs[k].writers[j].seen = false;
	}
	repl_begin_tx();
	/* before CREATE EXTENSION brainy in brainy.database: nothing to follow */
	catalog_present = OidIsValid(get_relname_relid("subscription_writer", get_namespace_oid("brainy", true))) &&
		OidIsValid(get_relname_relid("row_version", get_namespace_oid("brainy", true)));
	if (!catalog_present)
	{
		repl_end_tx();
		n = 0;
		goto forget;
	}
	if (load_plan == NULL)
		load_plan = keep_plan("SELECT s.collection, s.relid::oid, s.dimensions, s.pk_column::text,"
							  " s.vector_column::text, w.writer_id, w.applied_seq, s.schema_json::text"
							  " FROM brainy.subscription s LEFT JOIN brainy.subscription_writer w USING (collection)"
							  " ORDER BY s.collection, w.writer_id", 0, NULL);
	if (SPI_execute_plan(load_plan, NULL, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading brainy.subscription failed");
	n = SPI_processed;

	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *name = SPI_getvalue(tup, desc, 1);
		char	   *writer;
		ApplySub   *s = find_sub(name, true);
		ApplyWriter *w;

		if (s == NULL)
		{
			ereport(WARNING,
					(errmsg("brainy: collection \"%s\" is not followed: this node follows at most %d collections",
							name, BRAINY_REPL_MAX_COLLECTIONS)));
			continue;
		}
		s->seen = true;
		s->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		s->dimensions = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		strlcpy(s->pk_column, SPI_getvalue(tup, desc, 4), sizeof(s->pk_column));
		strlcpy(s->vector_column, SPI_getvalue(tup, desc, 5), sizeof(s->vector_column));
		{
			char	   *schema = SPI_getvalue(tup, desc, 8);

			if (schema != NULL && (s->schema_text == NULL || strcmp(s->schema_text, schema) != 0))
			{
				if (s->schema_text != NULL)
					pfree(s->schema_text);
				s->schema_text = MemoryContextStrdup(TopMemoryContext, schema);
				s->schema_error[0] = '\0';
			}
		}
		writer = SPI_getvalue(tup, desc, 6);
		if (writer == NULL)
			continue;
		w = find_writer(s, writer, true);
		if (w == NULL)
		{
			ereport(WARNING,
					(errmsg("brainy: collection \"%s\": writer \"%s\" is not followed: at most %d writers per collection",
							name, writer, BRAINY_REPL_MAX_WRITERS)));
			continue;
		}
		w->seen = true;
		w->applied_seq = DatumGetInt64(SPI_getbinval(tup, desc, 7, &isnull));
	}
	repl_end_tx();

	/* forget what is gone, in here and in the shared state */
forget:
	for (k = 0; k < BRAINY_REPL_MAX_COLLECTIONS; k++)
	{
		ApplySub   *s = &subs[k];

		if (!s->used)
			continue;
		if (!s->seen)
		{
			BrainyReplCollection *c;

			free_plans(s);
			SpinLockAcquire(&rs->mutex);
			c = brainy_repl_collection(rs, s->collection, false);
			if (c != NULL)
			{
				c->subscribed = false;
				c->mirror_relid = InvalidOid;
				c->fresh_as_of = 0;
				c->n_writers = 0;
				if (!c->published)
				{
					c->used = false;
					rs->n_collections--;
				}
			}
			SpinLockRelease(&rs->mutex);
			if (s->schema_text != NULL)
				pfree(s->schema_text);
			s->schema_text = NULL;
			s->used = false;
			continue;
		}
		for (j = 0; j < s->n_writers;)
		{
			if (!s->writers[j].seen)
			{
				memmove(&s->writers[j], &s->writers[j + 1], sizeof(ApplyWriter) * (s->n_writers - j - 1));
				s->n_writers--;
			}
			else
				j++;
		}
		if (s->plans_relid != s->relid)
			free_plans(s);

		SpinLockAcquire(&rs->mutex);
		{
			BrainyReplCollection *c = brainy_repl_collection(rs, s->collection, true);

			if (c != NULL)
			{
				c->subscribed = true;
				c->mirror_relid = s->relid;
				for (j = 0; j < s->n_writers; j++)
				{
					BrainyReplWriter *sw = brainy_repl_writer(c, s->writers[j].id, true);

					if (sw != NULL)
					{
						sw->applied_seq = s->writers[j].applied_seq;
						sw->head_seq = Max(sw->head_seq, sw->applied_seq);
					}
				}
				/* writers dropped from the table leave the shared state too */
				for (j = 0; j < c->n_writers;)
				{
					if (find_writer(s, c->writers[j].writer_id, false) == NULL)
					{
						memmove(&c->writers[j], &c->writers[j + 1],
								sizeof(BrainyReplWriter) * (c->n_writers - j - 1));
						c->n_writers--;
					}
					else
						j++;
				}
			}
		}
		SpinLockRelease(&rs->mutex);
	}
}

/*
 * Lists _brainy/collections/<c>/writers/ and adds the writers not known
 * yet to brainy.subscription_writer (applied seq 0).
 */
/*
 * Reads the bucket's schema.json of the collection again and compares it
 * with the one subscribed to: when it no longer matches (or is gone or
 * unreadable), every writer's stream of the collection stops with the
 * reason until it matches again.  A store failure changes nothing (it is
 * reported as such).
 */
static void
check_schema(ApplySub *s)
{
	char		key[256];
	char		errbuf[CLUSTER_ERRLEN];
	char		why[CLUSTER_ERRLEN];
	ObjStoreBuffer body;
	ObjStoreError err;
	ObjStoreStatus rc;
	ClusterSchema mine,
				theirs;

	if (s->schema_text == NULL)
		return;
	memset(&mine, 0, sizeof(mine));
	if (cluster_schema_parse(s->schema_text, strlen(s->schema_text), &mine, errbuf, sizeof(errbuf)) != CLUSTER_OK)
		return;					/* checked at subscribe; nothing to compare with */
	snprintf(key, sizeof(key), BRAINY_SCHEMA_KEY_FMT, s->collection);
	memset(&body, 0, sizeof(body));
	memset(&err, 0, sizeof(err));
	rc = objstore_get(brainy_storage_handle(), key, NULL, &body, NULL, &err);
	if (rc == OBJSTORE_NOT_FOUND)
		snprintf(s->schema_error, sizeof(s->schema_error), "%s is gone from the bucket", key);
	else if (rc != OBJSTORE_OK)
	{
		snprintf(errbuf, sizeof(errbuf), "reading %s: %s: %s", key, objstore_status_name(rc), err.message);
		repl_set_store_error(errbuf);
	}
	else
	{
		memset(&theirs, 0, sizeof(theirs));
		if (cluster_schema_parse(body.data, body.len, &theirs, errbuf, sizeof(errbuf)) != CLUSTER_OK)
			snprintf(s->schema_error, sizeof(s->schema_error), "%s is not a valid schema: %s", key, errbuf);
		else if (!cluster_schema_equal(&mine, &theirs, why, sizeof(why)))
			snprintf(s->schema_error, sizeof(s->schema_error),
					 "%s no longer matches the mirror table: %s", key, why);
		else
			s->schema_error[0] = '\0';
		cluster_schema_free(&theirs);
		objstore_buffer_free(&body);
	}
	cluster_schema_free(&mine);
}

static void
list_writers(ApplySub *s)
{
	char		prefix[256];
	ObjStoreList list;
	ObjStoreError err;
	ObjStoreStatus rc;
	size_t		i;
	int			n_new = 0;
	Datum	   *ids;

	check_schema(s);
	snprintf(prefix, sizeof(prefix), BRAINY_WRITERS_PREFIX_FMT, s->collection);
	memset(&list, 0, sizeof(list));
	memset(&err, 0, sizeof(err));
	rc = objstore_list(brainy_storage_handle(), prefix, NULL, &list, &err);
	if (rc != OBJSTORE_OK)
	{
		char		msg[CLUSTER_ERRLEN];

		snprintf(msg, sizeof(msg), "listing %s: %s: %s", prefix, objstore_status_name(rc), err.message);
		repl_set_store_error(msg);
		return;
	}
	s->listed_at = GetCurrentTimestamp();
	ids = palloc(sizeof(Datum) * Max(list.count, 1));
	for (i = 0; i < list.count; i++)
	{
		char		id[CLUSTER_ID_MAX + 1];

		if (cluster_writer_from_key(list.entries[i].key, prefix, id, sizeof(id)) != CLUSTER_OK)
			continue;
		if (find_writer(s, id, false) != NULL)
			continue;
		ids[n_new++] = CStringGetTextDatum(id);
	}
	objstore_list_free(&list);
	if (n_new == 0)
		return;

	repl_begin_tx();
	{
		Oid			types[2] = {TEXTOID, TEXTARRAYOID};
		Datum		args[2];

		args[0] = CStringGetTextDatum(s->collection);
		args[1] = PointerGetDatum(construct_array(ids, n_new, TEXTOID, -1, false, TYPALIGN_INT));
		if (SPI_execute_with_args("INSERT INTO brainy.subscription_writer (collection, writer_id)"
								  " SELECT $1, w FROM unnest($2) w"
								  " WHERE EXISTS (SELECT 1 FROM brainy.subscription s WHERE s.collection = $1)"
								  " ON CONFLICT DO NOTHING", 2, types, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "adding writers of collection \"%s\" failed", s->collection);
	}
	repl_end_tx();
	for (i = 0; i < (size_t) n_new; i++)
	{
		char	   *id = TextDatumGetCString(ids[i]);

		if (find_writer(s, id, true) != NULL)
			brainy_cluster_log(BRAINY_LOG_INFO, "brainy: collection \"%s\": following writer \"%s\"",
							   s->collection, id);
	}
}

/* ------------------------------------------------------------- plans */

/*
 * The mirror's upsert and delete, by its columns as they are now (the
 * names come from the table, so a renamed mirror keeps working).
 */
static void
prepare_mirror_plans(ApplySub *s)
{
	Relation	rel;
	TupleDesc	desc;
	StringInfoData cols,
				sel,
				set,
				sql;
	char	   *qualified;
	char	   *pk_type = NULL;
	Oid			vector_type = InvalidOid;
	int			i;

	free_plans(s);
	rel = relation_open(s->relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	qualified = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
										   RelationGetRelationName(rel));
	initStringInfo(&cols);
	initStringInfo(&sel);
	initStringInfo(&set);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);
		const char *name = NameStr(a->attname);
		const char *q = quote_identifier(name);

		if (a->attisdropped)
			continue;
		if (cols.len > 0)
			appendStringInfoString(&cols, ", ");
		appendStringInfoString(&cols, q);
		if (sel.len > 0)
			appendStringInfoString(&sel, ", ");
		if (strcmp(name, s->pk_column) == 0)
		{
			pk_type = format_type_extended(a->atttypid, a->atttypmod,
										   FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
			appendStringInfo(&sel, "u.k::%s", pk_type);
			continue;
		}
		if (strcmp(name, s->vector_column) == 0)
		{
			vector_type = a->atttypid;
			appendStringInfoString(&sel, "u.v");
		}
		else
			appendStringInfo(&sel, "r.%s", q);
		if (set.len > 0)
			appendStringInfoString(&set, ", ");
		appendStringInfo(&set, "%s = EXCLUDED.%s", q, q);
	}
	relation_close(rel, AccessShareLock);
	if (pk_type == NULL || vector_type == InvalidOid)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("mirror table %s of collection \"%s\" has no column \"%s\" or \"%s\"",
						qualified, s->collection, s->pk_column, s->vector_column),
				 errhint("Its columns must stay those of the collection's schema.json; brainy.unsubscribe() and subscribe again.")));
	s->vector_array_type = get_array_type(vector_type);
	if (s->vector_array_type == InvalidOid)
		elog(ERROR, "the vector type has no array type");

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "INSERT INTO %s AS m (%s) SELECT %s"
					 " FROM unnest($1::pg_catalog.text[], $2, $3::pg_catalog.text[]) AS u(k, v, d)"
					 " CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(NULL::%s,"
					 " COALESCE(NULLIF(u.d, ''), '{}')::pg_catalog.jsonb) AS r"
					 " ON CONFLICT (%s) DO UPDATE SET %s",
					 qualified, cols.data, sel.data, qualified, quote_identifier(s->pk_column), set.data);
	{
		Oid			types[3] = {TEXTARRAYOID, s->vector_array_type, TEXTARRAYOID};

		s->upsert_plan = keep_plan(sql.data, 3, types);
	}
	resetStringInfo(&sql);
	appendStringInfo(&sql, "DELETE FROM %s WHERE %s IN (SELECT k::%s FROM unnest($1::pg_catalog.text[]) k)",
					 qualified, quote_identifier(s->pk_column), pk_type);
	{
		Oid			types[1] = {TEXTARRAYOID};

		s->delete_plan = keep_plan(sql.data, 1, types);
	}
	s->plans_relid = s->relid;
}

static void
prepare_catalog_plans(void)
{
	if (versions_plan == NULL)
	{
		Oid			types[2] = {TEXTOID, TEXTARRAYOID};

		/*
		 * A join over the keys (one index probe each), not pk = ANY ($2):
		 * the generic plan of that filtered a scan of every version with
		 * the whole array, rows x keys comparisons per segment.
		 */
		versions_plan = keep_plan("SELECT v.pk, v.hlc, v.writer_id FROM pg_catalog.unnest($2) AS k(pk)"
								  " JOIN brainy.row_version v ON v.collection = $1 AND v.pk = k.pk",
								  2, types);
	}
	if (version_upsert_plan == NULL)
	{
		Oid			types[5] = {TEXTOID, TEXTOID, TEXTARRAYOID, INT8ARRAYOID, BOOLARRAYOID};

		version_upsert_plan = keep_plan("INSERT INTO brainy.row_version AS v (collection, pk, hlc, writer_id, deleted)"
										" SELECT $1, u.k, u.h, $2, u.d FROM unnest($3, $4, $5) AS u(k, h, d)"
										" ON CONFLICT (collection, pk) DO UPDATE SET hlc = EXCLUDED.hlc,"
										" writer_id = EXCLUDED.writer_id, deleted = EXCLUDED.deleted", 5, types);
	}
	if (applied_plan == NULL)
	{
		Oid			types[3] = {TEXTOID, TEXTOID, INT8OID};

		applied_plan = keep_plan("UPDATE brainy.subscription_writer SET applied_seq = $3, applied_at = pg_catalog.now()"
								 " WHERE collection = $1 AND writer_id = $2 AND applied_seq = $3 - 1", 3, types);
	}
}

/* -------------------------------------------------------------- apply */

/* order of rows by key bytes, then newest (hlc, outbox id) first */
static const ClusterSegmentRow *sort_rows;

static int
pk_cmp(const char *a, uint32 alen, const char *b, uint32 blen)
{
	int			c = memcmp(a, b, Min(alen, blen));

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static int
row_order(const void *pa, const void *pb)
{
	const ClusterSegmentRow *a = &sort_rows[*(const int *) pa];
	const ClusterSegmentRow *b = &sort_rows[*(const int *) pb];
	int			c = pk_cmp(a->pk, a->pk_len, b->pk, b->pk_len);

	if (c != 0)
		return c;
	if (a->hlc != b->hlc)
		return a->hlc > b->hlc ? -1 : 1;
	if (a->outbox_id != b->outbox_id)
		return a->outbox_id > b->outbox_id ? -1 : 1;
	return 0;
}

typedef struct OldVersion
{
	text	   *pk;
	uint64		hlc;
	char	   *writer;
} OldVersion;

static int
old_order(const void *pa, const void *pb)
{
	const OldVersion *a = pa;
	const OldVersion *b = pb;

	return pk_cmp(VARDATA_ANY(a->pk), VARSIZE_ANY_EXHDR(a->pk), VARDATA_ANY(b->pk), VARSIZE_ANY_EXHDR(b->pk));
}

static Datum
text_array(Datum *elems, int n)
{
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * Applies a verified segment; runs inside the caller's transaction (SPI
 * connected).  Returns the rows applied (changes that won).
 */
static int64
apply_rows(ApplySub *s, const ClusterSegment *seg)
{
	const char *writer = seg->header.writer_id;
	int			n = (int) seg->n_rows;
	int		   *order = palloc(sizeof(int) * Max(n, 1));
	int			n_keys = 0,
				i,
				j;
	Datum	   *keys;
	OldVersion *old;
	int			n_old;
	Datum	   *up_k,
			   *up_v,
			   *up_d,
			   *del_k,
			   *ver_k,
			   *ver_h,
			   *ver_d;
	int			n_up = 0,
				n_del = 0,
				n_ver = 0;
	Datum		args[5];
	Oid			vtype;

	/* newest version of each key within the segment */
	for (i = 0; i < n; i++)
		order[i] = i;
	sort_rows = seg->rows;
	qsort(order, n, sizeof(int), row_order);
	sort_rows = NULL;
	keys = palloc(sizeof(Datum) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		const ClusterSegmentRow *r = &seg->rows[order[i]];

		if (n_keys > 0)
		{
			const ClusterSegmentRow *prev = &seg->rows[order[n_keys - 1]];

			if (pk_cmp(prev->pk, prev->pk_len, r->pk, r->pk_len) == 0)
				continue;
		}
		order[n_keys] = order[i];
		keys[n_keys] = PointerGetDatum(cstring_to_text_with_len(r->pk, (int) r->pk_len));
		n_keys++;
	}

	/* the versions already here, in key order */
	args[0] = CStringGetTextDatum(s->collection);
	args[1] = text_array(keys, n_keys);
	if (SPI_execute_plan(versions_plan, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading brainy.row_version failed");
	n_old = (int) SPI_processed;
	old = palloc(sizeof(OldVersion) * Max(n_old, 1));
	for (i = 0; i < n_old; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		old[i].pk = DatumGetTextPP(SPI_getbinval(tup, desc, 1, &isnull));
		old[i].hlc = (uint64) DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		old[i].writer = SPI_getvalue(tup, desc, 3);
	}
	qsort(old, n_old, sizeof(OldVersion), old_order);

	up_k = palloc(sizeof(Datum) * Max(n_keys, 1));
	up_v = palloc(sizeof(Datum) * Max(n_keys, 1));
	up_d = palloc(sizeof(Datum) * Max(n_keys, 1));
	del_k = palloc(sizeof(Datum) * Max(n_keys, 1));
	ver_k = palloc(sizeof(Datum) * Max(n_keys, 1));
	ver_h = palloc(sizeof(Datum) * Max(n_keys, 1));
	ver_d = palloc(sizeof(Datum) * Max(n_keys, 1));
	for (i = 0, j = 0; i < n_keys; i++)
	{
		const ClusterSegmentRow *r = &seg->rows[order[i]];
		int			c = 1;

		/* merge: old is sorted the same way as the keys */
		while (j < n_old && pk_cmp(VARDATA_ANY(old[j].pk), VARSIZE_ANY_EXHDR(old[j].pk), r->pk, r->pk_len) < 0)
			j++;
		if (j < n_old && pk_cmp(VARDATA_ANY(old[j].pk), VARSIZE_ANY_EXHDR(old[j].pk), r->pk, r->pk_len) == 0)
			c = cluster_version_cmp(r->hlc, writer, old[j].hlc, old[j].writer);
		if (c <= 0)
			continue;			/* a newer version (or this one) is here */

		ver_k[n_ver] = keys[i];
		ver_h[n_ver] = Int64GetDatum((int64) r->hlc);
		ver_d[n_ver] = BoolGetDatum(r->op == 'D');
		n_ver++;
		if (r->op == 'D')
			del_k[n_del++] = keys[i];
		else
		{
			Vector	   *v = palloc(VECTOR_SIZE(seg->header.dimensions));

			SET_VARSIZE(v, VECTOR_SIZE(seg->header.dimensions));
			v->dim = (int16) seg->header.dimensions;
			v->unused = 0;
			memcpy(v->x, r->vector, sizeof(float) * seg->header.dimensions);
			up_k[n_up] = keys[i];
			up_v[n_up] = PointerGetDatum(v);
			up_d[n_up] = PointerGetDatum(cstring_to_text_with_len(r->doc ? r->doc : "", (int) r->doc_len));
			n_up++;
		}
	}

	if (n_del > 0)
	{
		args[0] = text_array(del_k, n_del);
		if (SPI_execute_plan(s->delete_plan, args, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "deleting mirror rows failed");
	}
	if (n_up > 0)
	{
		int16		typlen;
		bool		typbyval;
		char		typalign;

		vtype = get_element_type(s->vector_array_type);
		get_typlenbyvalalign(vtype, &typlen, &typbyval, &typalign);
		args[0] = text_array(up_k, n_up);
		args[1] = PointerGetDatum(construct_array(up_v, n_up, vtype, typlen, typbyval, typalign));
		args[2] = text_array(up_d, n_up);
		if (SPI_execute_plan(s->upsert_plan, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "writing mirror rows failed");
	}
	if (n_ver > 0)
	{
		args[0] = CStringGetTextDatum(s->collection);
		args[1] = CStringGetTextDatum(writer);
		args[2] = text_array(ver_k, n_ver);
		args[3] = PointerGetDatum(construct_array(ver_h, n_ver, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		args[4] = PointerGetDatum(construct_array(ver_d, n_ver, BOOLOID, 1, true, TYPALIGN_CHAR));
		if (SPI_execute_plan(version_upsert_plan, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "recording row versions failed");
	}
	return n_ver;
}

/* Checks a decoded segment against what is expected; "" when it fits. */
static void
check_header(const ApplySub *s, const ApplyWriter *w, const ClusterSegmentHeader *h,
			 char *why, size_t len)
{
	why[0] = '\0';
	if (strcmp(h->collection, s->collection) != 0)
		snprintf(why, len, "its header names collection \"%s\"", h->collection);
	else if (strcmp(h->writer_id, w->id) != 0)
		snprintf(why, len, "its header names writer \"%s\"", h->writer_id);
	else if (h->seq != (uint64_t) (w->applied_seq + 1))
		snprintf(why, len, "its header says seq " UINT64_FORMAT, (uint64) h->seq);
	else if (h->dimensions != (uint32_t) s->dimensions)
		snprintf(why, len, "it has %u dimensions, the subscription %d", h->dimensions, s->dimensions);
}

/* what is shown per writer after a segment is applied */
static void
publish_applied(ApplySub *s, ApplyWriter *w, const ClusterSegmentHeader *h, int64 rows)
{
	BrainyReplState *rs = brainy_repl_state();
	BrainyReplWriter *sw;
	TimestampTz now = GetCurrentTimestamp();
	uint64		now_ms = brainy_wall_ms();
	uint64		newest = cluster_hlc_ms(h->hlc_max);

	if (w->rate_start == 0)
		w->rate_start = now;
	w->rate_rows += rows;
	SpinLockAcquire(&rs->mutex);
	sw = shared_writer(rs, s, w->id);
	if (sw != NULL)
	{
		sw->applied_seq = w->applied_seq;
		sw->head_seq = Max(sw->head_seq, w->applied_seq);
		sw->applied_at = now;
		sw->lag_ms = now_ms > newest ? (int64) (now_ms - newest) : 0;
		sw->rows_applied += rows;
		sw->stopped = false;
		sw->error[0] = '\0';
		if (now - w->rate_start >= RATE_WINDOW_US)
		{
			sw->rows_per_second = w->rate_rows * (double) USECS_PER_SEC / (double) (now - w->rate_start);
			w->rate_start = now;
			w->rate_rows = 0;
		}
	}
	SpinLockRelease(&rs->mutex);
}

static void
publish_caught_up(ApplySub *s, ApplyWriter *w)
{
	BrainyReplState *rs = brainy_repl_state();
	BrainyReplWriter *sw;
	TimestampTz now = GetCurrentTimestamp();

	SpinLockAcquire(&rs->mutex);
	sw = shared_writer(rs, s, w->id);
	if (sw != NULL)
	{
		sw->caught_up = true;
		sw->stopped = false;
		sw->error[0] = '\0';
		sw->head_seq = w->applied_seq;
		/* nothing applied for a window: the rate decays to 0 */
		if (w->rate_start != 0 && now - w->rate_start >= RATE_WINDOW_US)
		{
			sw->rows_per_second = w->rate_rows * (double) USECS_PER_SEC / (double) (now - w->rate_start);
			w->rate_start = now;
			w->rate_rows = 0;
		}
		else if (w->rate_start == 0)
			sw->rows_per_second = 0;
	}
	SpinLockRelease(&rs->mutex);
	w->logged[0] = '\0';
}

/*
 * GETs the next segment of a writer and applies it.  Object store
 * failures are recorded; a bad segment stops the stream (and is read
 * again at the next poll).
 */
/*
 * The prefetcher of the next segment (objstore_prefetch.c), on a store of
 * its own made for the current storage settings: while a segment is
 * applied, its thread fetches the writer's next one, so the GET overlaps
 * the apply.  NULL when none could be made (then every GET is in line).
 */
static ObjStorePrefetch *prefetcher = NULL;
static uint64 prefetcher_generation = 0;

static ObjStorePrefetch *
get_prefetcher(void)
{
	(void) brainy_storage_handle();	/* reopened if the settings changed */
	if (prefetcher != NULL && prefetcher_generation == brainy_storage_generation())
		return prefetcher;
	objstore_prefetch_destroy(prefetcher);
	prefetcher = objstore_prefetch_create(brainy_storage_open_new());
	prefetcher_generation = brainy_storage_generation();
	return prefetcher;
}

/* Start fetching segment seq of writer w (if its key can be made). */
static void
prefetch_segment(ApplySub *s, ApplyWriter *w, int64 seq)
{
	char		key[512];
	ObjStorePrefetch *pf = get_prefetcher();

	if (pf != NULL &&
		cluster_segment_key(s->collection, w->id, (uint64_t) seq, key, sizeof(key)) == CLUSTER_OK)
		(void) objstore_prefetch_start(pf, key);
}

static PollResult
poll_writer(ApplySub *s, ApplyWriter *w)
{
	char		key[512];
	char		msg[CLUSTER_ERRLEN];
	char		errbuf[CLUSTER_ERRLEN];
	ObjStoreBuffer body;
	ObjStoreError err;
	ObjStoreStatus rc;
	ClusterSegment seg;
	int			crc;
	int64		seq = w->applied_seq + 1;
	MemoryContext outer = CurrentMemoryContext;
	volatile PollResult result = POLL_FAILED;

	if (cluster_segment_key(s->collection, w->id, (uint64_t) seq, key, sizeof(key)) != CLUSTER_OK)
	{
		stop_writer(s, w, "cannot make the segment key of this collection and writer");
		return POLL_FAILED;
	}
	if (s->schema_error[0] != '\0')
	{
		stop_writer(s, w, s->schema_error);
		return POLL_FAILED;
	}
	memset(&body, 0, sizeof(body));
	memset(&err, 0, sizeof(err));
	/*
	 * The prefetched segment when the prefetch found it.  Else a GET now:
	 * a "not found" from before this poll began must not count as this
	 * poll's answer (a strong read waits for a poll that started after it),
	 * and failures are retried in line.
	 */
	if (!objstore_prefetch_take(get_prefetcher(), key, &body, &err, &rc) ||
		rc != OBJSTORE_OK)
	{
		objstore_buffer_free(&body);
		memset(&body, 0, sizeof(body));
		memset(&err, 0, sizeof(err));
		rc = objstore_get(brainy_storage_handle(), key, NULL, &body, NULL, &err);
	}
	if (rc == OBJSTORE_NOT_FOUND)
	{
		repl_set_store_error("");
		publish_caught_up(s, w);
		return POLL_CAUGHT_UP;
	}
	if (rc != OBJSTORE_OK)
	{
		snprintf(msg, sizeof(msg), "reading %s: %s: %s", key, objstore_status_name(rc), err.message);
		repl_set_store_error(msg);
		return POLL_FAILED;
	}
	repl_set_store_error("");

	memset(&seg, 0, sizeof(seg));
	crc = cluster_segment_decode(body.data, body.len, &seg, errbuf, sizeof(errbuf));
	if (crc != CLUSTER_OK)
	{
		snprintf(msg, sizeof(msg), "segment %s is %s: %s", key,
				 crc == CLUSTER_EUNSUPPORTED ? "of a format this node cannot read" : "damaged",
				 errbuf);
		objstore_buffer_free(&body);
		stop_writer(s, w, msg);
		return POLL_FAILED;
	}
	check_header(s, w, &seg.header, errbuf, sizeof(errbuf));
	if (errbuf[0] != '\0')
	{
		snprintf(msg, sizeof(msg), "segment %s does not belong here: %s", key, errbuf);
		cluster_segment_free(&seg);
		objstore_buffer_free(&body);
		stop_writer(s, w, msg);
		return POLL_FAILED;
	}
	/* the next segment is fetched while this one is applied */
	prefetch_segment(s, w, seq + 1);

	PG_TRY();
	{
		int64		rows;
		Datum		args[3];

		repl_begin_tx();
		if (s->plans_relid != s->relid)
			prepare_mirror_plans(s);
		prepare_catalog_plans();
		brainy_repl_applying = true;
		rows = apply_rows(s, &seg);
		args[0] = CStringGetTextDatum(s->collection);
		args[1] = CStringGetTextDatum(w->id);
		args[2] = Int64GetDatum(seq);
		if (SPI_execute_plan(applied_plan, args, NULL, false, 0) != SPI_OK_UPDATE || SPI_processed != 1)
			ereport(ERROR,
					(errmsg("the applied seq of writer \"%s\" is no longer " INT64_FORMAT " (unsubscribed meanwhile?)",
							w->id, seq - 1)));
		repl_end_tx();
		brainy_repl_applying = false;
		MemoryContextSwitchTo(outer);

		w->applied_seq = seq;
		brainy_hlc_observe(seg.header.hlc_max);
		publish_applied(s, w, &seg.header, rows);
		brainy_cluster_log(BRAINY_LOG_DEBUG, "brainy: applied %s (%u rows, " INT64_FORMAT " won)",
						   key, seg.header.row_count, rows);
		w->logged[0] = '\0';
		result = POLL_APPLIED;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		brainy_repl_applying = false;
		MemoryContextSwitchTo(outer);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(outer);
		/* a plan may be what failed (the mirror changed): prepare again */
		free_plans(s);
		snprintf(msg, sizeof(msg), "applying segment %s failed: %s", key,
				 edata->message ? edata->message : "error");
		FreeErrorData(edata);
		stop_writer(s, w, msg);
		result = POLL_FAILED;
	}
	PG_END_TRY();

	cluster_segment_free(&seg);
	objstore_buffer_free(&body);
	return result;
}

/* deletes tombstones older than brainy.tombstone_retention */
static void
purge_tombstones(void)
{
	uint64		now_ms = brainy_wall_ms();
	uint64		keep_ms = (uint64) brainy_tombstone_retention_s * 1000;
	Oid			types[1] = {INT8OID};
	Datum		args[1];

	if (now_ms <= keep_ms)
		return;
	repl_begin_tx();
	args[0] = Int64GetDatum((int64) cluster_hlc_make(now_ms - keep_ms, 0));
	if (SPI_execute_with_args("DELETE FROM brainy.row_version WHERE deleted AND hlc < $1",
							  1, types, args, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "purging tombstones failed");
	if (SPI_processed > 0)
		brainy_cluster_log(BRAINY_LOG_DEBUG, "brainy: purged " UINT64_FORMAT " expired tombstone(s)",
						   (uint64) SPI_processed);
	repl_end_tx();
}

/* rows linked per transaction between polls (~20 ms at 784 dimensions) */
#define MERGE_CHUNK 32

/*
 * Between polls: link the rows the apply left in the mirror indexes'
 * pending lists (they are created with fastupdate on) into their graphs,
 * MERGE_CHUNK rows per transaction, until the next poll is due or a
 * backend sets the latch (brainy.flush(), a strong read).  The apply itself
 * only appends, so a catch-up runs at the speed of the heap, and scans find
 * pending rows exactly until they are linked.
 */
static void
merge_pending(TimestampTz until)
{
	int			k;

	for (k = 0; k < BRAINY_REPL_MAX_COLLECTIONS; k++)
	{
		ApplySub   *s = &subs[k];
		int64		n;

		if (!s->used || s->pending_empty)
			continue;
		do
		{
			if (GetCurrentTimestamp() >= until || MyLatch->is_set)
				return;
			CHECK_FOR_INTERRUPTS();
			repl_begin_tx();
			n = bh_merge_table(s->relid, MERGE_CHUNK);
			repl_end_tx();
		} while (n >= MERGE_CHUNK);
		s->pending_empty = true;
	}
}

/* ------------------------------------------------------------------- turn */

long
repl_apply_turn(bool forced)
{
	BrainyReplState *rs = brainy_repl_state();
	TimestampTz round_start = GetCurrentTimestamp();
	bool		all_fresh = true;
	bool		more = false;
	int			k,
				j;
	long		wait_ms;

	if (!forced && !more_waiting && next_poll_at != 0 && round_start < next_poll_at)
		return (long) ((next_poll_at - round_start + 999) / 1000);

	load_subscriptions();

	/* the writers of each collection: at start, then now and then */
	for (k = 0; k < BRAINY_REPL_MAX_COLLECTIONS; k++)
	{
		ApplySub   *s = &subs[k];
		long		age_ms;

		if (!s->used)
			continue;
		age_ms = s->listed_at ? (long) ((round_start - s->listed_at) / 1000) : LONG_MAX;
		/* a forced poll too soon after a listing is kept, not dropped */
		if (forced)
			s->relist_wanted = true;
		if (age_ms >= WRITERS_LIST_MS ||
			(s->relist_wanted && age_ms >= WRITERS_FORCED_LIST_MS))
		{
			s->relist_wanted = false;
			list_writers(s);
		}
	}

	if (catalog_present &&
		(purged_at == 0 || round_start - purged_at >= (int64) PURGE_INTERVAL_MS * 1000))
	{
		purged_at = round_start;
		purge_tombstones();
	}

	for (k = 0; k < BRAINY_REPL_MAX_COLLECTIONS; k++)
	{
		ApplySub   *s = &subs[k];
		bool		fresh = true;

		if (!s->used)
			continue;
		for (j = 0; j < s->n_writers; j++)
		{
			ApplyWriter *w = &s->writers[j];
			PollResult	r = POLL_FAILED;
			int			n;

			for (n = 0; n < SEGMENTS_PER_TURN; n++)
			{
				CHECK_FOR_INTERRUPTS();
				r = poll_writer(s, w);
				if (r != POLL_APPLIED)
					break;
				last_applied_at = round_start;
				s->pending_empty = false;
			}
			if (r == POLL_APPLIED)
				more = true;	/* there may be more: the next turn at once */
			if (r != POLL_CAUGHT_UP)
				fresh = false;
		}
		if (!fresh)
			all_fresh = false;
		SpinLockAcquire(&rs->mutex);
		{
			BrainyReplCollection *c = brainy_repl_collection(rs, s->collection, false);

			if (c != NULL && fresh)
				c->fresh_as_of = round_start;
		}
		SpinLockRelease(&rs->mutex);
	}
	if (all_fresh)
	{
		SpinLockAcquire(&rs->mutex);
		rs->poll_round_started = round_start;
		SpinLockRelease(&rs->mutex);
	}

	more_waiting = more;
	{
		/*
		 * While segments keep coming, poll sixteen times as often (for three
		 * poll intervals after the last one): a segment then waits a sixteenth
		 * of the interval for us instead of half of it on average.  An idle
		 * reader stays at one GET per writer per poll interval.
		 */
		int64		interval_us = (int64) brainy_poll_interval_ms * 1000;

		if (last_applied_at != 0 && round_start - last_applied_at < ACTIVE_POLL_SPAN * interval_us)
			interval_us = Max(interval_us / ACTIVE_POLL_DIVISOR, 10 * 1000);
		next_poll_at = round_start + interval_us;
	}
	if (more)
		return 0;
	merge_pending(next_poll_at);
	wait_ms = (long) ((next_poll_at - GetCurrentTimestamp() + 999) / 1000);
	return Max(wait_ms, 1);
}
