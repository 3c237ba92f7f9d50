/*
 * worker_state.c - the cluster state the background worker publishes in
 * shared memory: its id and role, config version, last heartbeat, errors
 * and metrics.  Backends copy it (under a spinlock, a plain memcpy) to
 * answer brainy.health(), brainy.instances and brainy.partition_of()
 * without talking to the object store.
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "repl.h"
#include "worker.h"

static BrainyClusterState *state = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif

#if PG_VERSION_NUM >= 150000
static void
state_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(BrainyClusterState)));
	brainy_repl_shmem_request();
}
#endif

static void
state_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	state = ShmemInitStruct("brainy cluster state", sizeof(BrainyClusterState), &found);
	if (!found)
	{
		memset(state, 0, sizeof(*state));
		SpinLockInit(&state->mutex);
		strlcpy(state->role, "none", sizeof(state->role));
		strlcpy(state->status, "starting", sizeof(state->status));
	}
	brainy_repl_shmem_startup();
	LWLockRelease(AddinShmemInitLock);
}

void
brainy_cluster_shmem_init(void)
{
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = state_request;
#else
	RequestAddinShmemSpace(MAXALIGN(sizeof(BrainyClusterState)));
	brainy_repl_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = state_startup;
}

BrainyClusterState *
brainy_cluster_state(void)
{
	return state;
}

bool
brainy_cluster_state_copy(BrainyClusterState *copy)
{
	if (state == NULL)
		return false;
	SpinLockAcquire(&state->mutex);
	memcpy(copy, state, sizeof(*copy));
	SpinLockRelease(&state->mutex);
	return true;
}

/*
 * Replication's part of the health (src/worker/repl_apply.c): the lag of
 * the writers this node is behind (0 when caught up with all of them, null
 * when it follows none) and every stopped stream, which makes the node
 * degraded.  The object store failures of the replication worker count
 * like the cluster worker's.
 */
static void
replication_inputs(ClusterHealthInputs *in)
{
	BrainyReplState *rs = brainy_repl_state();
	StringInfoData errors;
	char		store_error[CLUSTER_ERRLEN];
	int64		lag = -1;
	int			i,
				j;

	if (rs == NULL)
		return;
	initStringInfo(&errors);
	SpinLockAcquire(&rs->mutex);
	strlcpy(store_error, rs->store_error, sizeof(store_error));
	for (i = 0; i < BRAINY_REPL_MAX_COLLECTIONS; i++)
	{
		BrainyReplCollection *c = &rs->collections[i];

		if (!c->used || !c->subscribed)
			continue;
		if (lag < 0)
			lag = 0;
		for (j = 0; j < c->n_writers; j++)
		{
			BrainyReplWriter *w = &c->writers[j];

			if (!w->caught_up && w->applied_at != 0)
				lag = Max(lag, w->lag_ms);
			if (w->stopped)
				appendStringInfo(&errors, "%scollection \"%s\", writer \"%s\": %s",
								 errors.len > 0 ? "; " : "", c->name, w->writer_id, w->error);
		}
	}
	SpinLockRelease(&rs->mutex);
	in->replication_lag_ms = lag;
	in->replication_error = errors.data;
	if ((in->store_error == NULL || in->store_error[0] == '\0') && store_error[0] != '\0')
		in->store_error = pstrdup(store_error);
}

void
brainy_cluster_health_inputs(const BrainyClusterState *st, ClusterHealthInputs *out)
{
	ClusterHealthInputs in;
	TimestampTz now = GetCurrentTimestamp();

	memset(&in, 0, sizeof(in));
	in.instance_id = st->instance_id;
	in.role = st->role;
	in.uptime_s = st->worker_started ? (now - st->worker_started) / USECS_PER_SEC : 0;
	in.role_error = st->role_error;
	in.id_error = st->id_error;
	in.config_error = st->config_error;
	in.config_loaded = st->config_loaded;
	in.store_error = st->store_error;
	in.heartbeat_age_ms = st->last_heartbeat_at ? (now - st->last_heartbeat_at) / 1000 : -1;
	in.heartbeat_interval_ms = brainy_heartbeat_interval_ms;
	in.last_heartbeat_at = st->last_heartbeat_at ?
		(int64) timestamptz_to_time_t(st->last_heartbeat_at) : 0;
	in.requests_per_second = st->requests_per_second;
	in.average_latency_ms = st->average_latency_ms;
	in.error_rate = st->error_rate;
	in.memory_usage_mb = st->memory_usage_mb;
	/* measured by the publish/subscribe machinery (later issues): null */
	in.vector_count = -1;
	in.cache_hit_rate = -1;
	in.replication_lag_ms = -1;
	in.outbox_pending = -1;
	replication_inputs(&in);
	in.config_version = st->config_loaded ? st->config_version : 0;
	*out = in;
}

char *
brainy_cluster_health_json(const BrainyClusterState *st)
{
	ClusterHealthInputs in;
	char	   *json,
			   *out;

	brainy_cluster_health_inputs(st, &in);
	json = cluster_health_to_json(&in);
	if (json == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	out = pstrdup(json);
	free(json);
	return out;
}
