/*
 * repl_publish.c - the C side of the writer's SQL API (the rest is
 * PL/pgSQL in the extension script): the hybrid logical clock for capture
 * triggers, waking the replication worker, this node's role and id, and
 * writing a collection's schema.json and writer registration into the
 * bucket.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "repl.h"
#include "storage_settings.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(brainy_hlc_next_sql);
PG_FUNCTION_INFO_V1(brainy_wake_worker_sql);
PG_FUNCTION_INFO_V1(brainy_local_role);
PG_FUNCTION_INFO_V1(brainy_local_instance_id);
PG_FUNCTION_INFO_V1(brainy_publish_schema);

/* A new HLC value: the version of one captured change. */
Datum
brainy_hlc_next_sql(PG_FUNCTION_ARGS)
{
	(void) brainy_repl_state_required("capturing changes of a published table");
	PG_RETURN_INT64((int64) brainy_hlc_next());
}

/* Asks the replication worker to flush (true) or to poll every writer (false) now. */
Datum
brainy_wake_worker_sql(PG_FUNCTION_ARGS)
{
	bool		flush = PG_GETARG_BOOL(0);
	BrainyReplState *rs = brainy_repl_state_required(flush ? "brainy.flush()" : "polling");

	SpinLockAcquire(&rs->mutex);
	if (flush)
		rs->flush_requests++;
	else
		rs->poll_requests++;
	SpinLockRelease(&rs->mutex);
	brainy_repl_wake_worker();
	PG_RETURN_VOID();
}

/*
 * This node's role as the cluster worker resolved it ("none" when it has
 * not, or when no worker runs).
 */
Datum
brainy_local_role(PG_FUNCTION_ARGS)
{
	BrainyClusterState st;

	if (!brainy_cluster_state_copy(&st) || st.worker_pid == 0 || st.instance_id[0] == '\0')
		PG_RETURN_TEXT_P(cstring_to_text("none"));
	PG_RETURN_TEXT_P(cstring_to_text(st.role));
}

Datum
brainy_local_instance_id(PG_FUNCTION_ARGS)
{
	BrainyClusterState st;

	if (!brainy_cluster_state_copy(&st) || st.instance_id[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this node has no instance id yet"),
				 errhint("The cluster worker sets it at start; check brainy.health() and the server log.")));
	PG_RETURN_TEXT_P(cstring_to_text(st.instance_id));
}

static void
schema_error(int rc, const char *what, const char *msg)
{
	ereport(ERROR,
			(errcode(rc == CLUSTER_EUNSUPPORTED ? ERRCODE_FEATURE_NOT_SUPPORTED : ERRCODE_DATA_CORRUPTED),
			 errmsg("%s: %s", what, msg)));
}

/*
 * brainy._publish_schema(collection, schema text): creates
 * _brainy/collections/<c>/schema.json (create-only) or checks that the one
 * there is the same, then registers this node as a writer of the
 * collection (_brainy/collections/<c>/writers/<id>.json), which is how
 * readers find the writers of a collection.
 */
Datum
brainy_publish_schema(PG_FUNCTION_ARGS)
{
	char	   *collection = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *schema_text = text_to_cstring(PG_GETARG_TEXT_PP(1));
	ObjStore   *store = brainy_storage_handle();
	ClusterSchema mine,
				theirs;
	ObjStoreError err;
	ObjStoreBuffer body;
	ObjStoreStatus rc;
	char		errbuf[CLUSTER_ERRLEN];
	char		key[256];
	char		why[CLUSTER_ERRLEN];
	char		iso[64];
	char	   *reg;
	int			crc,
				attempt;
	BrainyClusterState st;

	if (!brainy_cluster_state_copy(&st) || st.instance_id[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this node has no instance id yet")));
	memset(&mine, 0, sizeof(mine));
	crc = cluster_schema_parse(schema_text, strlen(schema_text), &mine, errbuf, sizeof(errbuf));
	if (crc != CLUSTER_OK)
		schema_error(crc, "invalid schema", errbuf);
	if (strcmp(mine.collection, collection) != 0)
	{
		cluster_schema_free(&mine);
		ereport(ERROR, (errmsg("schema names collection \"%s\", not \"%s\"", mine.collection, collection)));
	}
	snprintf(key, sizeof(key), BRAINY_SCHEMA_KEY_FMT, collection);

	for (attempt = 0; attempt < 3; attempt++)
	{
		memset(&err, 0, sizeof(err));
		memset(&body, 0, sizeof(body));
		rc = objstore_get(store, key, NULL, &body, NULL, &err);
		if (rc == OBJSTORE_NOT_FOUND)
		{
			memset(&err, 0, sizeof(err));
			rc = objstore_put(store, key, schema_text, strlen(schema_text), OBJSTORE_PUT_IF_NONE_MATCH, NULL, NULL, &err);
			if (rc == OBJSTORE_OK)
				break;
			if (rc == OBJSTORE_PRECONDITION_FAILED)
				continue;		/* another writer created it just now: compare */
			cluster_schema_free(&mine);
			brainy_storage_error("writing schema.json", &err);
		}
		if (rc != OBJSTORE_OK)
		{
			cluster_schema_free(&mine);
			brainy_storage_error("reading schema.json", &err);
		}
		memset(&theirs, 0, sizeof(theirs));
		crc = cluster_schema_parse(body.data, body.len, &theirs, errbuf, sizeof(errbuf));
		objstore_buffer_free(&body);
		if (crc != CLUSTER_OK)
		{
			cluster_schema_free(&mine);
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("%s in the bucket is not a valid schema: %s", key, errbuf),
					 errhint("Fix or delete the object, then publish again.")));
		}
		if (!cluster_schema_equal(&mine, &theirs, why, sizeof(why)))
		{
			cluster_schema_free(&mine);
			cluster_schema_free(&theirs);
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("collection \"%s\" is already published with another schema: %s", collection, why),
					 errhint("Publish under another collection name, or give the table the same columns as %s.", key)));
		}
		cluster_schema_free(&theirs);
		break;
	}
	cluster_schema_free(&mine);
	if (attempt == 3)
		ereport(ERROR, (errmsg("schema.json of collection \"%s\" keeps changing; try again", collection)));

	/* register as a writer of the collection (plain PUT: ours alone) */
	snprintf(key, sizeof(key), BRAINY_WRITERS_PREFIX_FMT "%s.json", collection, st.instance_id);
	brainy_iso_now(iso, sizeof(iso));
	reg = psprintf("{\"writerId\": \"%s\", \"collection\": \"%s\", \"registered\": \"%s\"}\n",
				   st.instance_id, collection, iso);
	memset(&err, 0, sizeof(err));
	if (objstore_put(store, key, reg, strlen(reg), OBJSTORE_PUT_PLAIN, NULL, NULL, &err) != OBJSTORE_OK)
		brainy_storage_error("registering this writer", &err);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(brainy_publication_state);

/*
 * What the replication worker reports about each collection this node
 * publishes: rows/s, rows published, last flush, error.  One row per
 * collection in the shared state.
 */
Datum
brainy_publication_state(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	BrainyReplState *rs = brainy_repl_state();
	BrainyReplCollection *copy;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (rs == NULL)
		return (Datum) 0;
	copy = brainy_repl_collections_copy(rs);
	for (i = 0; i < BRAINY_REPL_MAX_COLLECTIONS; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};
		BrainyReplCollection *c = &copy[i];

		if (!c->used || !c->published)
			continue;
		values[0] = CStringGetTextDatum(c->name);
		values[1] = Float8GetDatum(c->publish_rows_per_second);
		values[2] = Int64GetDatum(c->rows_published);
		if (c->last_flush_at != 0)
			values[3] = TimestampTzGetDatum(c->last_flush_at);
		else
			nulls[3] = true;
		if (c->publish_error[0] != '\0')
			values[4] = CStringGetTextDatum(c->publish_error);
		else
			nulls[4] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
