/*
 * repl_subscribe.c - the C side of the reader's SQL API (the rest is
 * PL/pgSQL in the extension script): fetching and validating a
 * collection's schema.json, listing its writers, the guard trigger that
 * keeps users from writing to mirror tables, telling the replication
 * worker that the subscriptions changed, and the per-writer state behind
 * the brainy.subscriptions view.
 */
#include "postgres.h"

#include "access/tupdesc.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "repl.h"
#include "storage_settings.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(brainy_fetch_schema);
PG_FUNCTION_INFO_V1(brainy_collection_writers);
PG_FUNCTION_INFO_V1(brainy_mirror_guard);
PG_FUNCTION_INFO_V1(brainy_subscription_changed);
PG_FUNCTION_INFO_V1(brainy_subscription_state);

static void
check_collection_name(const char *collection)
{
	char		errbuf[CLUSTER_ERRLEN];

	if (cluster_collection_check(collection, errbuf, sizeof(errbuf)) != CLUSTER_OK ||
		strchr(collection, '%') != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid collection name \"%s\"", collection),
				 errhint("A collection name is 1 to 63 lower-case letters, digits and underscores, starting with a letter.")));
}

/*
 * brainy._fetch_schema(collection) -> jsonb: _brainy/collections/<c>/schema.json,
 * validated (cluster_schema_parse) and checked to name this collection.
 */
Datum
brainy_fetch_schema(PG_FUNCTION_ARGS)
{
	char	   *collection = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ObjStore   *store;
	ObjStoreBuffer body;
	ObjStoreError err;
	ObjStoreStatus rc;
	ClusterSchema schema;
	char		key[256];
	char		errbuf[CLUSTER_ERRLEN];
	char	   *text;
	int			crc;

	check_collection_name(collection);
	store = brainy_storage_handle();
	snprintf(key, sizeof(key), BRAINY_SCHEMA_KEY_FMT, collection);
	memset(&body, 0, sizeof(body));
	memset(&err, 0, sizeof(err));
	rc = objstore_get(store, key, NULL, &body, NULL, &err);
	if (rc == OBJSTORE_NOT_FOUND)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("collection \"%s\" is not published: the bucket has no %s", collection, key),
				 errhint("Publish it first on a writer node with brainy.publish(), or check the name (brainy.storage_list('_brainy/collections/') shows the published ones).")));
	if (rc != OBJSTORE_OK)
		brainy_storage_error("reading schema.json", &err);

	memset(&schema, 0, sizeof(schema));
	crc = cluster_schema_parse(body.data, body.len, &schema, errbuf, sizeof(errbuf));
	if (crc != CLUSTER_OK)
	{
		objstore_buffer_free(&body);
		ereport(ERROR,
				(errcode(crc == CLUSTER_EUNSUPPORTED ? ERRCODE_FEATURE_NOT_SUPPORTED : ERRCODE_DATA_CORRUPTED),
				 errmsg("%s is not a valid schema: %s", key, errbuf),
				 errhint(crc == CLUSTER_EUNSUPPORTED ? "The writer runs a newer Brainy: upgrade this node." :
						 "The object was damaged or written by something else than brainy.publish().")));
	}
	if (strcmp(schema.collection, collection) != 0)
	{
		char		named[64];

		strlcpy(named, schema.collection, sizeof(named));
		cluster_schema_free(&schema);
		objstore_buffer_free(&body);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("%s is not a valid schema: it names collection \"%s\"", key, named)));
	}
	cluster_schema_free(&schema);
	text = pnstrdup(body.data, body.len);
	objstore_buffer_free(&body);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}

/* a materialized set of one text column (InitMaterializedSRF wants rows) */
static void
scalar_srf(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext old;
	TupleDesc	desc;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	desc = CreateTemplateTupleDesc(1);
	TupleDescInitEntry(desc, (AttrNumber) 1, "writer_id", TEXTOID, -1, 0);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap(false, false, work_mem);
	rsinfo->setDesc = BlessTupleDesc(desc);
	MemoryContextSwitchTo(old);
}

/* brainy._collection_writers(collection) -> SETOF text: _brainy/collections/<c>/writers/<id>.json */
Datum
brainy_collection_writers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *collection = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char		prefix[256];
	ObjStoreList list;
	ObjStoreError err;
	ObjStoreStatus rc;
	size_t		i;

	check_collection_name(collection);
	scalar_srf(fcinfo);
	snprintf(prefix, sizeof(prefix), BRAINY_WRITERS_PREFIX_FMT, collection);
	memset(&list, 0, sizeof(list));
	memset(&err, 0, sizeof(err));
	rc = objstore_list(brainy_storage_handle(), prefix, NULL, &list, &err);
	if (rc != OBJSTORE_OK)
		brainy_storage_error("listing the writers of a collection", &err);
	PG_TRY();
	{
		for (i = 0; i < list.count; i++)
		{
			char		id[CLUSTER_ID_MAX + 1];
			Datum		value;
			bool		isnull = false;

			if (cluster_writer_from_key(list.entries[i].key, prefix, id, sizeof(id)) != CLUSTER_OK)
				continue;
			value = CStringGetTextDatum(id);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
		}
	}
	PG_FINALLY();
	{
		objstore_list_free(&list);
	}
	PG_END_TRY();
	return (Datum) 0;
}

/*
 * The guard trigger of a mirror table (BEFORE INSERT/UPDATE/DELETE FOR
 * EACH ROW, BEFORE TRUNCATE FOR EACH STATEMENT; argument: the collection):
 * only the replication worker writes there.
 */
Datum
brainy_mirror_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *collection;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("brainy._mirror_guard() must be called as a trigger")));
	if (brainy_repl_applying)
	{
		if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
			return PointerGetDatum(td->tg_newtuple);
		if (TRIGGER_FIRED_FOR_ROW(td->tg_event))
			return PointerGetDatum(td->tg_trigtuple);
		return PointerGetDatum(NULL);
	}
	collection = td->tg_trigger->tgnargs > 0 ? td->tg_trigger->tgargs[0] : "?";
	ereport(ERROR,
			(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
			 errmsg("table \"%s\" is a Brainy mirror of collection \"%s\": it is written only by replication",
					RelationGetRelationName(td->tg_relation), collection),
			 errhint("Write to the published table on a writer node; the change reaches this table through the bucket. brainy.unsubscribe('%s') makes it an ordinary table again.",
					 collection)));
	PG_RETURN_NULL();			/* not reached */
}

/* ----------------------------------------------- telling the worker */

static bool wake_registered = false;

static void
wake_at_commit(XactEvent event, void *arg)
{
	BrainyReplState *rs;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT)
		return;
	UnregisterXactCallback(wake_at_commit, NULL);
	wake_registered = false;
	rs = brainy_repl_state();
	if (rs == NULL)
		return;
	/* after an abort too: the worker then undoes what was marked below */
	SpinLockAcquire(&rs->mutex);
	rs->poll_requests++;
	SpinLockRelease(&rs->mutex);
	brainy_repl_wake_worker();
}

/*
 * brainy._subscription_changed(collection, mirror regclass or NULL):
 * marks the collection subscribed (mirror set) or not in the shared state
 * now, so queries on the mirror see the consistency setting at once, and
 * wakes the replication worker when the transaction ends; the worker then
 * reloads the subscriptions and lists the new collection's writers.
 */
Datum
brainy_subscription_changed(PG_FUNCTION_ARGS)
{
	char	   *collection = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			relid = PG_ARGISNULL(1) ? InvalidOid : PG_GETARG_OID(1);
	BrainyReplState *rs = brainy_repl_state_required("brainy.subscribe()");
	BrainyReplCollection *c;

	SpinLockAcquire(&rs->mutex);
	c = brainy_repl_collection(rs, collection, OidIsValid(relid));
	if (c != NULL)
	{
		c->subscribed = OidIsValid(relid);
		c->mirror_relid = relid;
		if (!OidIsValid(relid))
			c->fresh_as_of = 0;
	}
	SpinLockRelease(&rs->mutex);
	if (c == NULL && OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("this node already follows or publishes %d collections, the most it can", BRAINY_REPL_MAX_COLLECTIONS)));
	if (!wake_registered)
	{
		RegisterXactCallback(wake_at_commit, NULL);
		wake_registered = true;
	}
	PG_RETURN_VOID();
}

/*
 * brainy._subscription_state(): per followed collection and writer, what
 * the replication worker reports (the view brainy.subscriptions joins it
 * with the catalog).
 */
Datum
brainy_subscription_state(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	BrainyReplState *rs = brainy_repl_state();
	BrainyReplCollection *copy;
	int			i,
				j;

	InitMaterializedSRF(fcinfo, 0);
	if (rs == NULL)
		return (Datum) 0;
	copy = brainy_repl_collections_copy(rs);
	for (i = 0; i < BRAINY_REPL_MAX_COLLECTIONS; i++)
	{
		BrainyReplCollection *c = &copy[i];

		if (!c->used || !c->subscribed)
			continue;
		for (j = 0; j < c->n_writers; j++)
		{
			BrainyReplWriter *w = &c->writers[j];
			Datum		values[10];
			bool		nulls[10];

			memset(nulls, 0, sizeof(nulls));
			values[0] = CStringGetTextDatum(c->name);
			values[1] = CStringGetTextDatum(w->writer_id);
			values[2] = Int64GetDatum(w->applied_seq);
			values[3] = Int64GetDatum(w->head_seq);
			/* lag: of the last segment applied, while behind; 0 once caught up */
			values[4] = Int64GetDatum(w->caught_up ? 0 : w->lag_ms);
			values[5] = Float8GetDatum(w->rows_per_second);
			values[6] = Int64GetDatum(w->rows_applied);
			values[7] = BoolGetDatum(w->stopped);
			if (w->error[0] != '\0')
				values[8] = CStringGetTextDatum(w->error);
			else
				nulls[8] = true;
			if (c->fresh_as_of != 0)
				values[9] = TimestampTzGetDatum(c->fresh_as_of);
			else
				nulls[9] = true;
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}
