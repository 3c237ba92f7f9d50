/*
 * cluster_functions.c - the SQL functions of cluster membership:
 *
 *	brainy.config()              _brainy/config.json as jsonb
 *	brainy.set_config(patch)     merge settings with If-Match CAS, retried
 *	brainy.partition_of(key)     'p000'..: xxHash64 of key mod partitionCount
 *	brainy.health()              this node's health (DESIGN.md section 5)
 *	brainy.instance_list()       every heartbeat in the bucket (the view
 *	                             brainy.instances)
 *	brainy.cluster_stats()       the per-node statistics objects, summed
 *
 * config() and set_config() talk to the object store from the calling
 * backend; health() reads the worker's state from shared memory.
 */
#include "postgres.h"

#include "common/pg_prng.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "storage_settings.h"
#include "worker.h"

#define SET_CONFIG_MAX_ATTEMPTS 200

/* partitionCount read from the bucket by a backend without a worker */
static int	cached_partition_count = 0;
static TimestampTz cached_partition_count_at = 0;

PG_FUNCTION_INFO_V1(brainy_config);
PG_FUNCTION_INFO_V1(brainy_set_config);
PG_FUNCTION_INFO_V1(brainy_partition_of);
PG_FUNCTION_INFO_V1(brainy_health);
PG_FUNCTION_INFO_V1(brainy_instance_list);
PG_FUNCTION_INFO_V1(brainy_cluster_stats);

static Datum
jsonb_from_text(const char *text)
{
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(text));
}

/*
 * Reads config.json (creating the default one when there is none yet)
 * into *config; *etag gets its ETag.  ERROR on a store failure or a
 * malformed object.
 */
static void
read_config(ObjStore *store, ClusterConfig *config, char *etag)
{
	ObjStoreBuffer body;
	ObjStoreInfo info;
	ObjStoreError err;
	ObjStoreStatus rc;
	char		errbuf[CLUSTER_ERRLEN];
	int			attempt;

	for (attempt = 0; attempt < 3; attempt++)
	{
		memset(&body, 0, sizeof(body));
		rc = objstore_get(store, BRAINY_CONFIG_KEY, NULL, &body, &info, &err);
		if (rc == OBJSTORE_NOT_FOUND)
		{
			char		now[40];
			char	   *text;
			ClusterConfig def;

			brainy_iso_now(now, sizeof(now));
			if (cluster_config_default(now, &def) != CLUSTER_OK ||
				(text = cluster_config_to_json(&def)) == NULL)
				ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
			cluster_config_free(&def);
			rc = objstore_put(store, BRAINY_CONFIG_KEY, text, strlen(text),
							  OBJSTORE_PUT_IF_NONE_MATCH, NULL, NULL, &err);
			free(text);
			if (rc != OBJSTORE_OK && rc != OBJSTORE_PRECONDITION_FAILED)
				brainy_storage_error("creating _brainy/config.json", &err);
			continue;
		}
		if (rc != OBJSTORE_OK)
			brainy_storage_error("reading _brainy/config.json", &err);
		if (cluster_config_parse(body.data, body.len, config, errbuf, sizeof(errbuf)) != CLUSTER_OK)
		{
			objstore_buffer_free(&body);
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("_brainy/config.json is malformed: %s", errbuf),
					 errhint("Repair the object in the bucket (or delete it to start from the defaults).")));
		}
		objstore_buffer_free(&body);
		strlcpy(etag, info.etag, OBJSTORE_ETAG_LEN);
		return;
	}
	ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					errmsg("_brainy/config.json keeps disappearing")));
}

/* JSON text of a config, as jsonb; frees the config */
static Datum
config_datum(ClusterConfig *config)
{
	char	   *text = cluster_config_to_json(config);
	Datum		d;

	cluster_config_free(config);
	if (text == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	PG_TRY();
	{
		d = jsonb_from_text(text);
	}
	PG_FINALLY();
	{
		free(text);
	}
	PG_END_TRY();
	return d;
}

Datum
brainy_config(PG_FUNCTION_ARGS)
{
	ClusterConfig config;
	char		etag[OBJSTORE_ETAG_LEN];

	read_config(brainy_storage_handle(), &config, etag);
	PG_RETURN_DATUM(config_datum(&config));
}

Datum
brainy_set_config(PG_FUNCTION_ARGS)
{
	Jsonb	   *patch = PG_GETARG_JSONB_P(0);
	char	   *patch_text = JsonbToCString(NULL, &patch->root, VARSIZE(patch));
	ObjStore   *store = brainy_storage_handle();
	int			nonempty = -1;
	int			attempt;

	for (attempt = 0; attempt < SET_CONFIG_MAX_ATTEMPTS; attempt++)
	{
		ClusterConfig cur,
					next;
		char		etag[OBJSTORE_ETAG_LEN];
		char		now[40];
		char		errbuf[CLUSTER_ERRLEN];
		char	   *text;
		ObjStoreError err;
		ObjStoreStatus rc;
		int			mrc;

		CHECK_FOR_INTERRUPTS();
		read_config(store, &cur, etag);
		if (nonempty < 0)
		{
			ObjStoreList list;

			memset(&list, 0, sizeof(list));
			if (objstore_list(store, BRAINY_COLLECTIONS_PREFIX, NULL, &list, &err) != OBJSTORE_OK)
			{
				cluster_config_free(&cur);
				brainy_storage_error("listing _brainy/collections/", &err);
			}
			nonempty = list.count > 0;
			objstore_list_free(&list);
		}
		brainy_iso_now(now, sizeof(now));
		mrc = cluster_config_merge(&cur, patch_text, strlen(patch_text), nonempty, now,
								   &next, errbuf, sizeof(errbuf));
		cluster_config_free(&cur);
		if (mrc == CLUSTER_EREFUSED)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("brainy.set_config refused: %s", errbuf)));
		if (mrc != CLUSTER_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("brainy.set_config: %s", errbuf)));
		text = cluster_config_to_json(&next);
		if (text == NULL)
		{
			cluster_config_free(&next);
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		}
		rc = objstore_put(store, BRAINY_CONFIG_KEY, text, strlen(text),
						  OBJSTORE_PUT_IF_MATCH, etag, NULL, &err);
		free(text);
		if (rc == OBJSTORE_OK)
		{
			cached_partition_count = 0; /* this backend sees its own change */
			PG_RETURN_DATUM(config_datum(&next));
		}
		cluster_config_free(&next);
		if (rc != OBJSTORE_PRECONDITION_FAILED && rc != OBJSTORE_CONFLICT)
			brainy_storage_error("writing _brainy/config.json", &err);
		/* another node changed it first: re-read and merge again */
		pg_usleep((long) (1000 + pg_prng_uint64_range(&pg_global_prng_state, 0, 1000 * Min(attempt + 1, 20))));
	}
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("brainy.set_config gave up after %d conflicting attempts", SET_CONFIG_MAX_ATTEMPTS)));
	PG_RETURN_NULL();
}

/* partitionCount: the worker's config, else the bucket's (cached), else 100 */
static int
current_partition_count(void)
{
	BrainyClusterState st;
	TimestampTz now = GetCurrentTimestamp();

	if (brainy_cluster_state_copy(&st) && st.config_loaded && st.worker_pid != 0)
		return st.partition_count;
	if (brainy_storage_url()[0] == '\0')
		return 100;
	if (cached_partition_count == 0 ||
		now - cached_partition_count_at > (TimestampTz) brainy_config_poll_interval_ms * 1000)
	{
		ClusterConfig config;
		char		etag[OBJSTORE_ETAG_LEN];

		read_config(brainy_storage_handle(), &config, etag);
		cached_partition_count = config.partition_count;
		cached_partition_count_at = now;
		cluster_config_free(&config);
	}
	return cached_partition_count;
}

Datum
brainy_partition_of(PG_FUNCTION_ARGS)
{
	text	   *key = PG_GETARG_TEXT_PP(0);
	char		name[16];

	cluster_partition_name(cluster_partition_index(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
												   current_partition_count()),
						   name, sizeof(name));
	PG_RETURN_TEXT_P(cstring_to_text(name));
}

Datum
brainy_health(PG_FUNCTION_ARGS)
{
	BrainyClusterState st;
	bool		preloaded = brainy_cluster_state_copy(&st);
	bool		clustered = brainy_storage_url()[0] != '\0';
	ClusterHealthInputs in;
	char	   *json;
	Datum		d;

	if (preloaded && clustered)
	{
		if (st.worker_pid == 0 && st.store_error[0] == '\0')
			strlcpy(st.store_error, "the brainy cluster worker is not running (it is restarted by the postmaster)",
					sizeof(st.store_error));
		PG_RETURN_DATUM(jsonb_from_text(brainy_cluster_health_json(&st)));
	}
	/* not a cluster member: a single-node server */
	memset(&in, 0, sizeof(in));
	in.role = "standalone";
	in.config_loaded = 1;
	in.uptime_s = (GetCurrentTimestamp() - PgStartTime) / USECS_PER_SEC;
	in.heartbeat_age_ms = -1;
	in.requests_per_second = in.average_latency_ms = in.error_rate = in.memory_usage_mb = -1;
	in.cache_hit_rate = -1;
	in.vector_count = in.replication_lag_ms = in.outbox_pending = -1;
	if (clustered)
		in.role_error = "brainy.storage is set but brainy is not in shared_preload_libraries: this server is not a cluster member";
	json = cluster_health_to_json(&in);
	if (json == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	d = jsonb_from_text(json);
	free(json);
	PG_RETURN_DATUM(d);
}

/*
 * The object store's present time in milliseconds: the Last-Modified of
 * this node's latest heartbeat plus the local time since it was seen.
 * Without a worker, the local clock.
 */
static int64
store_now_ms(void)
{
	BrainyClusterState st;
	TimestampTz now = GetCurrentTimestamp();

	if (brainy_cluster_state_copy(&st) && st.heartbeat_store_s > 0)
		return st.heartbeat_store_s * 1000 + (now - st.heartbeat_store_seen_at) / 1000;
	return (int64) timestamptz_to_time_t(now) * 1000;
}

Datum
brainy_instance_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ObjStore   *store = brainy_storage_handle();
	ObjStoreList list;
	ObjStoreError err;
	size_t		i,
				plen = strlen(BRAINY_INSTANCES_PREFIX);
	int64		now_ms;

	InitMaterializedSRF(fcinfo, 0);
	memset(&list, 0, sizeof(list));
	if (objstore_list(store, BRAINY_INSTANCES_PREFIX, NULL, &list, &err) != OBJSTORE_OK)
		brainy_storage_error("listing _brainy/instances/", &err);
	now_ms = store_now_ms();
	PG_TRY();
	{
		for (i = 0; i < list.count; i++)
		{
			ObjStoreEntry *e = &list.entries[i];
			ObjStoreBuffer body;
			ObjStoreInfo info;
			ClusterHeartbeat hb;
			ClusterLiveness l;
			char	   *health = NULL;
			char		errbuf[CLUSTER_ERRLEN];
			char		id[CLUSTER_ID_MAX + 8];
			Datum		values[8];
			bool		nulls[8] = {0};
			size_t		klen = strlen(e->key);
			bool		parsed;

			if (klen <= plen + 5 || strcmp(e->key + klen - 5, ".json") != 0)
				continue;
			snprintf(id, sizeof(id), "%.*s", (int) (klen - plen - 5), e->key + plen);
			memset(&body, 0, sizeof(body));
			if (objstore_get(store, e->key, NULL, &body, &info, &err) != OBJSTORE_OK)
			{
				if (err.status == OBJSTORE_NOT_FOUND)
					continue;	/* deleted since the list */
				brainy_storage_error("reading a heartbeat", &err);
			}
			parsed = cluster_heartbeat_parse(body.data, body.len, &hb, &health, errbuf, sizeof(errbuf)) == CLUSTER_OK;
			objstore_buffer_free(&body);
			cluster_liveness(now_ms, info.last_modified, brainy_instance_timeout_ms,
							 parsed && strcmp(hb.status, "stopped") == 0, &l);
			values[0] = CStringGetTextDatum(id);
			if (parsed)
			{
				values[1] = CStringGetTextDatum(hb.role);
				values[2] = CStringGetTextDatum(l.alive || strcmp(hb.status, "stopped") == 0 ? hb.status : "dead");
				values[5] = BoolGetDatum(l.alive);
				values[6] = CStringGetTextDatum(hb.endpoint);
				PG_TRY();
				{
					values[7] = jsonb_from_text(health);
				}
				PG_FINALLY();
				{
					free(health);
				}
				PG_END_TRY();
			}
			else
			{
				nulls[1] = nulls[6] = nulls[7] = true;
				values[2] = CStringGetTextDatum("malformed");
				values[5] = BoolGetDatum(false);
			}
			values[3] = TimestampTzGetDatum(time_t_to_timestamptz((pg_time_t) info.last_modified));
			{
				Interval   *age = palloc0(sizeof(Interval));

				age->time = l.age_ms * 1000;
				values[4] = IntervalPGetDatum(age);
			}
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	PG_FINALLY();
	{
		objstore_list_free(&list);
	}
	PG_END_TRY();
	return (Datum) 0;
}

Datum
brainy_cluster_stats(PG_FUNCTION_ARGS)
{
	ObjStore   *store = brainy_storage_handle();
	ObjStoreList list;
	ObjStoreError err;
	struct json_object *sum = NULL;
	size_t		i;
	int			nodes = 0;
	char	   *text;
	Datum		d;

	memset(&list, 0, sizeof(list));
	if (objstore_list(store, BRAINY_STATS_PREFIX, NULL, &list, &err) != OBJSTORE_OK)
		brainy_storage_error("listing _brainy/stats/", &err);
	for (i = 0; i < list.count; i++)
	{
		ObjStoreBuffer body;
		char		errbuf[CLUSTER_ERRLEN];

		memset(&body, 0, sizeof(body));
		if (objstore_get(store, list.entries[i].key, NULL, &body, NULL, &err) != OBJSTORE_OK)
			continue;			/* deleted meanwhile, or unreadable: not counted */
		if (cluster_stats_add(&sum, body.data, body.len, errbuf, sizeof(errbuf)) == CLUSTER_OK)
			nodes++;
		else
			ereport(WARNING, (errmsg("brainy: skipping %s: %s", list.entries[i].key, errbuf)));
		objstore_buffer_free(&body);
	}
	objstore_list_free(&list);
	text = cluster_stats_finish(&sum, nodes);
	if (text == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	PG_TRY();
	{
		d = jsonb_from_text(text);
	}
	PG_FINALLY();
	{
		free(text);
	}
	PG_END_TRY();
	PG_RETURN_DATUM(d);
}
