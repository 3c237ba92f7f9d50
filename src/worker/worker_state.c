/*
 * worker_state.c - the cluster state the background worker publishes in
 * shared memory: its id and role, config version, last heartbeat, errors
 * and metrics.  Backends copy it (under a spinlock, a plain memcpy) to
 * answer brainy.health(), brainy.instances and brainy.partition_of()
 * without talking to the object store.
 */
#include "postgres.h"

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
	in.config_version = st->config_loaded ? st->config_version : 0;
	brainy_repl_health_inputs(&in);
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
