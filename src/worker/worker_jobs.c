/*
 * worker_jobs.c - the cluster worker's jobs: resolve this node's id and
 * role, watch _brainy/config.json, write the heartbeat, clean up stale
 * heartbeats, publish the statistics object, and keep the health status
 * in shared memory up to date.
 *
 * Heartbeat ownership: every write of _brainy/instances/<id>.json is
 * conditional on the ETag of this node's previous write.  When that fails
 * someone else wrote the object; it is read back, and if it belongs to
 * another server ("owner": host, port, data directory, system identifier)
 * that is still alive, this node refuses to join: two live nodes never
 * share an id.
 */
#include "postgres.h"

#include <time.h>
#include <unistd.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "port.h"
#include "postmaster/postmaster.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "storage_settings.h"
#include "worker.h"
#include "worker_jobs.h"

#define ID_FILE "brainy_instance_id"

static char my_id[CLUSTER_ID_MAX + 1];
static char my_host[256];
static char my_endpoint[256];
static char my_owner[512];
static char hb_etag[OBJSTORE_ETAG_LEN];
static int64 hb_sequence = 0;
static pg_time_t started_at = 0;

static ClusterConfig config;	/* the last good config */
static TimestampTz poll_started = 0;	/* when the current poll fired */
static char config_etag[OBJSTORE_ETAG_LEN];
static char bad_config_etag[OBJSTORE_ETAG_LEN];

/* requests over the current heartbeat window */
static int64 win_requests = 0;
static int64 win_errors = 0;
static int64 win_latency_us = 0;
static TimestampTz win_start = 0;

/* ---------------------------------------------------------------- helpers */

static BrainyClusterState *
st(void)
{
	return brainy_cluster_state();
}

/* logs msg as an ERROR line without leaving the worker */
static void
log_error_line(const char *msg)
{
	MemoryContext ctx = CurrentMemoryContext;

	PG_TRY();
	{
		ereport(ERROR, (errcode(ERRCODE_CONFIG_FILE_ERROR), errmsg("brainy: %s", msg)));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(ctx);
		EmitErrorReport();
		FlushErrorState();
	}
	PG_END_TRY();
}

/* counts one request of the window and the state's counters */
static ObjStoreStatus
account(ObjStoreStatus rc, TimestampTz start, const ObjStoreError *err)
{
	BrainyClusterState *s = st();
	int			attempts = Max(err->attempts, 1);
	bool		failed = rc != OBJSTORE_OK && rc != OBJSTORE_NOT_FOUND &&
		rc != OBJSTORE_PRECONDITION_FAILED;

	win_requests += attempts;
	win_latency_us += GetCurrentTimestamp() - start;
	if (failed)
		win_errors++;
	SpinLockAcquire(&s->mutex);
	s->store_requests += attempts;
	if (failed)
		s->store_errors++;
	SpinLockRelease(&s->mutex);
	return rc;
}

static ObjStoreStatus
w_get(const char *key, ObjStoreBuffer *body, ObjStoreInfo *info, ObjStoreError *err)
{
	TimestampTz t = GetCurrentTimestamp();

	memset(err, 0, sizeof(*err));
	return account(objstore_get(brainy_storage_handle(), key, NULL, body, info, err), t, err);
}

static ObjStoreStatus
w_put(const char *key, const char *text, ObjStorePutMode mode, const char *etag,
	  ObjStoreInfo *info, ObjStoreError *err)
{
	TimestampTz t = GetCurrentTimestamp();

	memset(err, 0, sizeof(*err));
	return account(objstore_put(brainy_storage_handle(), key, text, strlen(text), mode, etag, info, err),
				   t, err);
}

static ObjStoreStatus
w_head(const char *key, ObjStoreInfo *info, ObjStoreError *err)
{
	TimestampTz t = GetCurrentTimestamp();

	memset(err, 0, sizeof(*err));
	return account(objstore_head(brainy_storage_handle(), key, info, err), t, err);
}

static ObjStoreStatus
w_list(const char *prefix, ObjStoreList *list, ObjStoreError *err)
{
	TimestampTz t = GetCurrentTimestamp();

	memset(err, 0, sizeof(*err));
	return account(objstore_list(brainy_storage_handle(), prefix, NULL, list, err), t, err);
}

static ObjStoreStatus
w_delete(const char *key, ObjStoreError *err)
{
	TimestampTz t = GetCurrentTimestamp();

	memset(err, 0, sizeof(*err));
	return account(objstore_delete(brainy_storage_handle(), key, err), t, err);
}

void
worker_set_store_error(const char *what, const ObjStoreError *err)
{
	BrainyClusterState *s = st();
	char		msg[BRAINY_MSG_LEN] = "";

	if (err != NULL)
	{
		snprintf(msg, sizeof(msg), "%s: %s: %s", what, objstore_status_name(err->status), err->message);
		brainy_cluster_log(BRAINY_LOG_DEBUG, "brainy: object store failure: %s", msg);
	}
	SpinLockAcquire(&s->mutex);
	strlcpy(s->store_error, msg, sizeof(s->store_error));
	SpinLockRelease(&s->mutex);
}

static void
set_text(char *field, size_t len, const char *msg)
{
	BrainyClusterState *s = st();

	SpinLockAcquire(&s->mutex);
	strlcpy(field, msg, len);
	SpinLockRelease(&s->mutex);
}

/* ------------------------------------------------------------ id and role */

bool
worker_resolve_id(void)
{
	const char *env = getenv("BRAINY_INSTANCE_ID");
	const char *source;
	char		errbuf[CLUSTER_ERRLEN];
	char		msg[BRAINY_MSG_LEN];
	BrainyClusterState *s = st();

	if (env != NULL && env[0] != '\0')
	{
		strlcpy(my_id, env, sizeof(my_id));
		source = "BRAINY_INSTANCE_ID environment variable";
		if (strlen(env) >= sizeof(my_id))
			my_id[0] = '\0';	/* too long: reported by the check */
	}
	else if (brainy_instance_id_setting != NULL && brainy_instance_id_setting[0] != '\0')
	{
		strlcpy(my_id, brainy_instance_id_setting, sizeof(my_id));
		source = "brainy.instance_id";
		if (strlen(brainy_instance_id_setting) >= sizeof(my_id))
			my_id[0] = '\0';
	}
	else
	{
		unsigned char rnd[8];
		int			created = 0;

		source = "generated, kept in " ID_FILE;
		if (!pg_strong_random(rnd, sizeof(rnd)))
		{
			set_text(s->id_error, sizeof(s->id_error), "could not generate a random instance id");
			log_error_line("could not generate a random instance id");
			return false;
		}
		/* the worker's working directory is the data directory */
		if (cluster_id_load_or_create(ID_FILE, rnd, my_id, &created, errbuf, sizeof(errbuf)) != CLUSTER_OK)
		{
			snprintf(msg, sizeof(msg), "%s (set brainy.instance_id instead)", errbuf);
			set_text(s->id_error, sizeof(s->id_error), msg);
			log_error_line(msg);
			return false;
		}
		if (created)
			source = "generated now, kept in " ID_FILE;
	}
	if (cluster_id_check(my_id, errbuf, sizeof(errbuf)) != CLUSTER_OK)
	{
		snprintf(msg, sizeof(msg), "invalid instance id from %s: %s", source,
				 my_id[0] ? errbuf : "longer than 64 characters");
		set_text(s->id_error, sizeof(s->id_error), msg);
		log_error_line(msg);
		return false;
	}
	set_text(s->instance_id, sizeof(s->instance_id), my_id);
	brainy_cluster_log(BRAINY_LOG_INFO, "brainy: instance id \"%s\" (%s)", my_id, source);

	if (gethostname(my_host, sizeof(my_host)) != 0)
		strlcpy(my_host, "unknown", sizeof(my_host));
	my_host[sizeof(my_host) - 1] = '\0';
	env = getenv("SERVICE_ENDPOINT");
	if (env != NULL && env[0] != '\0')
		strlcpy(my_endpoint, env, sizeof(my_endpoint));
	else
		snprintf(my_endpoint, sizeof(my_endpoint), "%s:%d", my_host, PostPortNumber);
	snprintf(my_owner, sizeof(my_owner), "%s:%d:%s:" UINT64_FORMAT,
			 my_host, PostPortNumber, DataDir, GetSystemIdentifier());
	started_at = (pg_time_t) time(NULL);
	return true;
}

bool
worker_resolve_role(void)
{
	ClusterRoleInputs in;
	ClusterRole role;
	const char *source;
	char		errbuf[CLUSTER_ERRLEN];
	BrainyClusterState *s = st();
	bool		changed;

	in.env_role = getenv("BRAINY_ROLE");
	in.setting_role = brainy_role_setting;
	in.env_mode = getenv("BRAINY_MODE");
	in.hot_standby = RecoveryInProgress();
	in.default_read_only = DefaultXactReadOnly;
	if (cluster_resolve_role(&in, &role, &source, errbuf, sizeof(errbuf)) != CLUSTER_OK)
	{
		SpinLockAcquire(&s->mutex);
		changed = strcmp(s->role_error, errbuf) != 0;
		strlcpy(s->role_error, errbuf, sizeof(s->role_error));
		strlcpy(s->role, "none", sizeof(s->role));
		s->role_source[0] = '\0';
		SpinLockRelease(&s->mutex);
		if (changed)
			log_error_line(errbuf);
		return false;
	}
	SpinLockAcquire(&s->mutex);
	changed = strcmp(s->role, cluster_role_name(role)) != 0 || strcmp(s->role_source, source) != 0;
	strlcpy(s->role, cluster_role_name(role), sizeof(s->role));
	strlcpy(s->role_source, source, sizeof(s->role_source));
	s->role_error[0] = '\0';
	SpinLockRelease(&s->mutex);
	if (changed)
		brainy_cluster_log(BRAINY_LOG_INFO, "brainy: role %s (%s)", cluster_role_name(role), source);
	return true;
}

/* ------------------------------------------------------------------ config */

/* whether any collection exists in the bucket; -1 when the store failed */
static int
cluster_nonempty(ObjStoreError *err)
{
	ObjStoreList list;
	int			n;

	memset(&list, 0, sizeof(list));
	if (w_list(BRAINY_COLLECTIONS_PREFIX, &list, err) != OBJSTORE_OK)
		return -1;
	n = list.count > 0;
	objstore_list_free(&list);
	return n;
}

static void
install_config(ClusterConfig *next, const char *etag)
{
	BrainyClusterState *s = st();
	char		changes[512];
	bool		first = config.root == NULL;

	if (!first)
		cluster_config_describe_changes(&config, next, changes, sizeof(changes));
	else
		changes[0] = '\0';
	SpinLockAcquire(&s->mutex);
	s->config_loaded = true;
	s->config_version = next->version;
	s->partition_count = next->partition_count;
	strlcpy(s->config_etag, etag, sizeof(s->config_etag));
	s->config_error[0] = '\0';
	s->config_changed_at = GetCurrentTimestamp();
	s->config_loads++;
	if (!first)
		s->config_changes++;
	SpinLockRelease(&s->mutex);
	if (first)
		brainy_cluster_log(BRAINY_LOG_INFO, "brainy: config.json version " INT64_FORMAT " loaded (partitionCount %d)",
						   next->version, next->partition_count);
	else
		brainy_cluster_log(BRAINY_LOG_INFO, "brainy: config.json changed to version " INT64_FORMAT ": %s (applied %.1f ms after the poll fired)",
						   next->version, changes[0] ? changes : "no setting changed",
						   (GetCurrentTimestamp() - poll_started) / 1000.0);
	cluster_config_free(&config);
	config = *next;
	strlcpy(config_etag, etag, sizeof(config_etag));
	bad_config_etag[0] = '\0';
}

static void
reject_config(const char *etag, const char *why)
{
	BrainyClusterState *s = st();
	bool		changed;

	SpinLockAcquire(&s->mutex);
	changed = strcmp(s->config_error, why) != 0;
	strlcpy(s->config_error, why, sizeof(s->config_error));
	SpinLockRelease(&s->mutex);
	strlcpy(bad_config_etag, etag, sizeof(bad_config_etag));
	if (changed)
		ereport(WARNING, (errmsg("brainy: _brainy/config.json rejected: %s", why),
						  errdetail(config.root ? "This node keeps config version " INT64_FORMAT "." :
									"This node has no config yet.", config.version)));
}

bool
worker_poll_config(void)
{
	ObjStoreInfo info;
	ObjStoreError err;
	ObjStoreBuffer body;
	ObjStoreStatus rc;
	ClusterConfig next;
	char		errbuf[CLUSTER_ERRLEN];

	poll_started = GetCurrentTimestamp();
	rc = w_head(BRAINY_CONFIG_KEY, &info, &err);
	if (rc == OBJSTORE_NOT_FOUND)
	{
		char		now[40];
		char	   *text;
		ClusterConfig def;

		brainy_iso_now(now, sizeof(now));
		if (cluster_config_default(now, &def) != CLUSTER_OK || (text = cluster_config_to_json(&def)) == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		cluster_config_free(&def);
		rc = w_put(BRAINY_CONFIG_KEY, text, OBJSTORE_PUT_IF_NONE_MATCH, NULL, NULL, &err);
		free(text);
		if (rc == OBJSTORE_OK)
			brainy_cluster_log(BRAINY_LOG_INFO, "brainy: created _brainy/config.json (version 1): this node came first");
		else if (rc != OBJSTORE_PRECONDITION_FAILED)
		{
			worker_set_store_error("creating config.json", &err);
			return false;
		}
		rc = w_head(BRAINY_CONFIG_KEY, &info, &err);
	}
	if (rc != OBJSTORE_OK)
	{
		worker_set_store_error("checking config.json", &err);
		return false;
	}
	worker_set_store_error(NULL, NULL);
	if (config.root != NULL && strcmp(info.etag, config_etag) == 0 && bad_config_etag[0] != '\0')
	{
		/* the object was put back as it was: the config in use is current again */
		bad_config_etag[0] = '\0';
		set_text(st()->config_error, sizeof(st()->config_error), "");
		brainy_cluster_log(BRAINY_LOG_INFO, "brainy: config.json is back to version " INT64_FORMAT " (the one in use)",
						   config.version);
		return true;
	}
	if ((config.root != NULL && strcmp(info.etag, config_etag) == 0) ||
		strcmp(info.etag, bad_config_etag) == 0)
	{
		brainy_cluster_log(BRAINY_LOG_DEBUG, "brainy: config.json unchanged (ETag %s)", info.etag);
		return true;
	}

	memset(&body, 0, sizeof(body));
	rc = w_get(BRAINY_CONFIG_KEY, &body, &info, &err);
	if (rc == OBJSTORE_NOT_FOUND)
		return true;			/* deleted meanwhile: recreated next poll */
	if (rc != OBJSTORE_OK)
	{
		worker_set_store_error("reading config.json", &err);
		return false;
	}
	if (cluster_config_parse(body.data, body.len, &next, errbuf, sizeof(errbuf)) != CLUSTER_OK)
	{
		objstore_buffer_free(&body);
		reject_config(info.etag, errbuf);
		return true;
	}
	objstore_buffer_free(&body);

	/* what cannot change live is refused as a whole, never applied half-way */
	if (config.root != NULL &&
		(next.partition_count != config.partition_count ||
		 (config.dimensions != 0 && next.dimensions != config.dimensions)))
	{
		int			nonempty = cluster_nonempty(&err);

		if (nonempty < 0)
		{
			cluster_config_free(&next);
			worker_set_store_error("listing collections", &err);
			return false;
		}
		if (nonempty)
		{
			snprintf(errbuf, sizeof(errbuf),
					 "version " INT64_FORMAT " changes %s on a cluster that holds data: not applied (restore the previous value)",
					 next.version,
					 next.partition_count != config.partition_count ? "partitionCount" : "dimensions");
			cluster_config_free(&next);
			reject_config(info.etag, errbuf);
			return true;
		}
	}
	install_config(&next, info.etag);
	return true;
}

/* --------------------------------------------------------------- heartbeat */

/*
 * The object store's present time in seconds: write the probe object
 * _brainy/clock/<id>.json and read its Last-Modified.  -1 on failure.
 */
static int64
store_clock(ObjStoreError *err)
{
	char		key[128];
	ObjStoreInfo info;

	snprintf(key, sizeof(key), BRAINY_CLOCK_PREFIX "%s.json", my_id);
	if (w_put(key, "{}", OBJSTORE_PUT_PLAIN, NULL, NULL, err) != OBJSTORE_OK ||
		w_head(key, &info, err) != OBJSTORE_OK)
		return -1;
	return info.last_modified;
}

/*
 * Takes the heartbeat object before a first write, or after a write lost
 * to someone else's.  Returns OBJSTORE_OK with hb_etag set (the write to
 * make is conditional on it, or create-only when it is empty), or
 * OBJSTORE_PRECONDITION_FAILED when another live node owns the id, or a
 * store error.
 */
static ObjStoreStatus
claim_heartbeat(const char *key, ObjStoreError *err)
{
	ObjStoreBuffer body;
	ObjStoreInfo info;
	ObjStoreStatus rc;
	ClusterHeartbeat other;
	char		errbuf[CLUSTER_ERRLEN];
	char		msg[BRAINY_MSG_LEN];
	int64		now_s;
	BrainyClusterState *s = st();

	memset(&body, 0, sizeof(body));
	rc = w_get(key, &body, &info, err);
	if (rc == OBJSTORE_NOT_FOUND)
	{
		hb_etag[0] = '\0';
		return OBJSTORE_OK;
	}
	if (rc != OBJSTORE_OK)
		return rc;
	if (cluster_heartbeat_parse(body.data, body.len, &other, NULL, errbuf, sizeof(errbuf)) != CLUSTER_OK ||
		strcmp(other.owner, my_owner) == 0 || strcmp(other.status, "stopped") == 0)
	{
		objstore_buffer_free(&body);
		strlcpy(hb_etag, info.etag, sizeof(hb_etag));
		return OBJSTORE_OK;
	}
	objstore_buffer_free(&body);
	now_s = store_clock(err);
	if (now_s < 0)
		return err->status;
	if ((now_s - info.last_modified) * 1000 <= brainy_instance_timeout_ms)
	{
		bool		changed;

		snprintf(msg, sizeof(msg),
				 "instance id \"%s\" is in use by another live node (%s, endpoint %s, heartbeat " INT64_FORMAT " s old): this node does not join; give it another brainy.instance_id or BRAINY_INSTANCE_ID",
				 my_id, other.host, other.endpoint, (int64) (now_s - info.last_modified));
		SpinLockAcquire(&s->mutex);
		changed = strcmp(s->id_error, msg) != 0;
		strlcpy(s->id_error, msg, sizeof(s->id_error));
		SpinLockRelease(&s->mutex);
		if (changed)
			log_error_line(msg);
		return OBJSTORE_PRECONDITION_FAILED;
	}
	brainy_cluster_log(BRAINY_LOG_INFO, "brainy: taking over the heartbeat of instance \"%s\" from a dead node (%s)",
					   my_id, other.owner);
	strlcpy(hb_etag, info.etag, sizeof(hb_etag));
	return OBJSTORE_OK;
}

/* lists the heartbeats: our own Last-Modified is the store's clock; deletes stale ones */
static bool
scan_instances(const char *own_key, ObjStoreError *err)
{
	ObjStoreList list;
	size_t		i;
	int64		now_s = -1;
	int			alive = 0;
	BrainyClusterState *s = st();

	memset(&list, 0, sizeof(list));
	if (w_list(BRAINY_INSTANCES_PREFIX, &list, err) != OBJSTORE_OK)
		return false;
	for (i = 0; i < list.count; i++)
		if (strcmp(list.entries[i].key, own_key) == 0)
			now_s = list.entries[i].info.last_modified;
	if (now_s < 0)
	{
		/* our object vanished right after the write: try next time */
		objstore_list_free(&list);
		return true;
	}
	SpinLockAcquire(&s->mutex);
	s->heartbeat_store_s = now_s;
	s->heartbeat_store_seen_at = GetCurrentTimestamp();
	SpinLockRelease(&s->mutex);
	for (i = 0; i < list.count; i++)
	{
		ClusterLiveness l;
		ObjStoreEntry *e = &list.entries[i];

		cluster_liveness(now_s * 1000, e->info.last_modified, brainy_instance_timeout_ms, 0, &l);
		if (l.alive)
			alive++;
		if (!l.stale)
			continue;
		if (w_delete(e->key, err) != OBJSTORE_OK)
		{
			objstore_list_free(&list);
			return false;
		}
		SpinLockAcquire(&s->mutex);
		s->stale_deleted++;
		SpinLockRelease(&s->mutex);
		brainy_cluster_log(BRAINY_LOG_INFO, "brainy: deleted the stale heartbeat %s (%.1f s old, limit %.1f s)",
						   e->key, l.age_ms / 1000.0, 2 * brainy_instance_timeout_ms / 1000.0);
	}
	brainy_cluster_log(BRAINY_LOG_DEBUG, "brainy: %zu heartbeat(s) in the bucket, %d fresh", list.count, alive);
	objstore_list_free(&list);
	return true;
}

static bool
write_stats(const BrainyClusterState *c, ObjStoreError *err)
{
	char		key[128];
	char	   *text;

	snprintf(key, sizeof(key), BRAINY_STATS_PREFIX "%s.json", my_id);
	text = psprintf("{\"instanceId\": \"%s\", \"heartbeats\": " INT64_FORMAT ", \"configLoads\": " INT64_FORMAT
					", \"configChanges\": " INT64_FORMAT ", \"storeRequests\": " INT64_FORMAT
					", \"storeErrors\": " INT64_FORMAT ", \"staleHeartbeatsDeleted\": " INT64_FORMAT "}",
					my_id, c->heartbeats, c->config_loads, c->config_changes, c->store_requests,
					c->store_errors, c->stale_deleted);
	return w_put(key, text, OBJSTORE_PUT_PLAIN, NULL, NULL, err) == OBJSTORE_OK;
}

/* folds the window's requests into the metrics */
static void
close_window(void)
{
	BrainyClusterState *s = st();
	TimestampTz now = GetCurrentTimestamp();
	double		secs = win_start ? (now - win_start) / 1e6 : 0;

	SpinLockAcquire(&s->mutex);
	s->requests_per_second = secs > 0 ? win_requests / secs : 0;
	s->average_latency_ms = win_requests ? win_latency_us / 1000.0 / win_requests : 0;
	s->error_rate = win_requests ? (double) win_errors / win_requests : 0;
	s->memory_usage_mb = MemoryContextMemAllocated(TopMemoryContext, true) / (1024.0 * 1024.0);
	SpinLockRelease(&s->mutex);
	win_requests = win_errors = win_latency_us = 0;
	win_start = now;
}

bool
worker_heartbeat(const char *status)
{
	char		key[128];
	BrainyClusterState copy;
	BrainyClusterState *s = st();
	ClusterHeartbeat hb;
	ObjStoreError err;
	ObjStoreInfo info;
	ObjStoreStatus rc;
	char	   *health,
			   *text;
	int			attempt;
	TimestampTz t0 = GetCurrentTimestamp();

	if (win_start == 0)
		win_start = GetCurrentTimestamp();
	brainy_cluster_state_copy(&copy);
	if (copy.role_error[0] != '\0')
		return true;			/* no role: not a member; nothing to say */
	snprintf(key, sizeof(key), BRAINY_INSTANCES_PREFIX "%s.json", my_id);

	/* the health as it will be once this heartbeat is written */
	copy.last_heartbeat_at = GetCurrentTimestamp();
	health = brainy_cluster_health_json(&copy);

	memset(&hb, 0, sizeof(hb));
	strlcpy(hb.id, my_id, sizeof(hb.id));
	strlcpy(hb.role, copy.role, sizeof(hb.role));
	strlcpy(hb.status, status, sizeof(hb.status));
	strlcpy(hb.host, my_host, sizeof(hb.host));
	strlcpy(hb.endpoint, my_endpoint, sizeof(hb.endpoint));
	strlcpy(hb.owner, my_owner, sizeof(hb.owner));
	strlcpy(hb.pg_version, PG_VERSION, sizeof(hb.pg_version));
	strlcpy(hb.brainy_version, BRAINY_VERSION, sizeof(hb.brainy_version));
	hb.started = started_at;
	hb.last_heartbeat = (int64) time(NULL);
	hb.sequence = ++hb_sequence;
	text = cluster_heartbeat_to_json(&hb, health);
	if (text == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));

	for (attempt = 0;; attempt++)
	{
		if (hb_etag[0] == '\0' || attempt > 0)
		{
			rc = claim_heartbeat(key, &err);
			if (rc == OBJSTORE_PRECONDITION_FAILED)
			{
				free(text);
				worker_set_store_error(NULL, NULL);
				return true;	/* refused: reported in id_error */
			}
			if (rc != OBJSTORE_OK)
				break;
		}
		rc = w_put(key, text, hb_etag[0] ? OBJSTORE_PUT_IF_MATCH : OBJSTORE_PUT_IF_NONE_MATCH,
				   hb_etag[0] ? hb_etag : NULL, &info, &err);
		if (rc != OBJSTORE_PRECONDITION_FAILED || attempt >= 2)
			break;
	}
	free(text);
	if (rc != OBJSTORE_OK)
	{
		hb_etag[0] = '\0';
		worker_set_store_error("writing the heartbeat", &err);
		return false;
	}
	strlcpy(hb_etag, info.etag, sizeof(hb_etag));

	SpinLockAcquire(&s->mutex);
	s->last_heartbeat_at = GetCurrentTimestamp();
	s->heartbeats++;
	if (strncmp(s->id_error, "instance id", 11) == 0)
		s->id_error[0] = '\0';
	SpinLockRelease(&s->mutex);
	brainy_cluster_log(BRAINY_LOG_DEBUG, "brainy: heartbeat " INT64_FORMAT " written in %.1f ms (%s, %s)",
					   hb.sequence, (GetCurrentTimestamp() - t0) / 1000.0, status, copy.role);
	if (strcmp(status, "running") != 0)
		return true;

	if (!scan_instances(key, &err))
	{
		worker_set_store_error("listing heartbeats", &err);
		return false;
	}
	close_window();
	brainy_cluster_state_copy(&copy);
	if (!write_stats(&copy, &err))
	{
		worker_set_store_error("writing the statistics object", &err);
		return false;
	}
	worker_set_store_error(NULL, NULL);
	return true;
}

/* ------------------------------------------------------------------ health */

void
worker_update_health(void)
{
	BrainyClusterState copy;
	BrainyClusterState *s = st();
	ClusterHealthInputs in;
	char		warnings[CLUSTER_MAX_WARNINGS][CLUSTER_ERRLEN];
	int			n,
				i;
	const char *status;
	StringInfoData why;

	brainy_cluster_state_copy(&copy);
	brainy_cluster_health_inputs(&copy, &in);
	status = cluster_health_status(&in, warnings, &n);
	if (strcmp(status, copy.status) == 0)
		return;
	/* right after start the heartbeat is not written yet: no transition to report */
	SpinLockAcquire(&s->mutex);
	strlcpy(s->status, status, sizeof(s->status));
	SpinLockRelease(&s->mutex);
	initStringInfo(&why);
	for (i = 0; i < n; i++)
		appendStringInfo(&why, "%s%s", i ? "; " : "", warnings[i]);
	if (strcmp(status, "healthy") == 0)
		brainy_cluster_log(BRAINY_LOG_INFO, "brainy: health %s -> %s", copy.status, status);
	else
		ereport(brainy_log_level >= BRAINY_LOG_INFO ? LOG : WARNING,
				(errmsg("brainy: health %s -> %s: %s", copy.status, status, why.data)));
	pfree(why.data);
}
