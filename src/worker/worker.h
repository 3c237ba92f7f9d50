/*
 * worker.h - the PostgreSQL side of cluster membership: the cluster
 * settings, the shared state the background worker publishes (read by
 * brainy.health() and friends), and the worker itself.
 */
#ifndef BRAINY_WORKER_H
#define BRAINY_WORKER_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "postmaster/bgworker.h"
#include "storage/spin.h"

#include "cluster.h"
#include "objstore.h"

/* ------------------------------------------------- settings (worker_settings.c) */

typedef enum BrainyLogLevel
{
	BRAINY_LOG_WARNING,			/* problems only */
	BRAINY_LOG_INFO,			/* + role, config loads and changes, health
								 * transitions, joins and leaves */
	BRAINY_LOG_DEBUG			/* + every heartbeat, poll and clean-up */
} BrainyLogLevel;

extern char *brainy_role_setting;
extern char *brainy_instance_id_setting;
extern char *brainy_database;
extern int	brainy_heartbeat_interval_ms;
extern int	brainy_instance_timeout_ms;
extern int	brainy_config_poll_interval_ms;
extern int	brainy_log_level;

extern void brainy_cluster_settings_init(void);

/* one line in the server log when brainy.log_level >= level */
#define brainy_cluster_log(level, ...) \
	do { \
		if (brainy_log_level >= (level)) \
			ereport(LOG, (errmsg_internal(__VA_ARGS__))); \
	} while (0)

/* bucket keys */
#define BRAINY_CONFIG_KEY "_brainy/config.json"
#define BRAINY_INSTANCES_PREFIX "_brainy/instances/"
#define BRAINY_STATS_PREFIX "_brainy/stats/"
#define BRAINY_CLOCK_PREFIX "_brainy/clock/"
#define BRAINY_COLLECTIONS_PREFIX "_brainy/collections/"
#define BRAINY_VERSION "0.1.0"

/* the present time as "2026-11-23T19:00:00.123Z" (UTC) */
extern void brainy_iso_now(char *buf, size_t len);

/* ------------------------------------------ shared state (worker_state.c) */

#define BRAINY_MSG_LEN CLUSTER_ERRLEN

typedef struct BrainyClusterState
{
	slock_t		mutex;			/* protects everything below */
	int			worker_pid;		/* 0 when no worker runs */
	TimestampTz worker_started;
	char		instance_id[CLUSTER_ID_MAX + 1];
	char		role[16];		/* "none" until resolved */
	char		role_source[96];
	char		role_error[BRAINY_MSG_LEN];
	char		id_error[BRAINY_MSG_LEN];
	char		config_error[BRAINY_MSG_LEN];
	char		store_error[BRAINY_MSG_LEN];
	bool		config_loaded;
	int64		config_version;
	int			partition_count;
	char		config_etag[OBJSTORE_ETAG_LEN];
	TimestampTz config_changed_at;	/* when this node applied a new version */
	TimestampTz last_heartbeat_at;	/* local clock, last successful write */
	int64		heartbeat_store_s;	/* its Last-Modified (store's clock) */
	TimestampTz heartbeat_store_seen_at;	/* local time that was observed */
	char		status[16];		/* last computed health status */
	/* metrics over the last heartbeat interval */
	double		requests_per_second;
	double		average_latency_ms;
	double		error_rate;
	double		memory_usage_mb;
	/* counters since the worker started (also in _brainy/stats/<id>.json) */
	int64		heartbeats;
	int64		config_loads;
	int64		config_changes;
	int64		store_requests;
	int64		store_errors;
	int64		stale_deleted;
} BrainyClusterState;

/* Installs the shared memory hooks (from _PG_init, when preloaded). */
extern void brainy_cluster_shmem_init(void);

/* The shared state, or NULL when brainy is not in shared_preload_libraries. */
extern BrainyClusterState *brainy_cluster_state(void);

/* A consistent copy of the shared state; false when there is none. */
extern bool brainy_cluster_state_copy(BrainyClusterState *copy);

/* What the health of a copy of the state is computed from. */
extern void brainy_cluster_health_inputs(const BrainyClusterState *st, ClusterHealthInputs *in);

/* The health JSON for a copy of the state (palloc'd). */
extern char *brainy_cluster_health_json(const BrainyClusterState *st);

/* ------------------------------------------------- the worker (worker_main.c) */

/*
 * Registers one of brainy's background workers: connected to a database,
 * with shared memory, function in this library, name also its type.
 */
extern void brainy_bgworker_register(const char *function, const char *name,
									 BgWorkerStartTime start, int restart_seconds);

/* Registers the worker (from _PG_init, when preloaded and brainy.storage is set). */
extern void brainy_worker_register(void);

extern PGDLLEXPORT void brainy_worker_main(Datum arg);

#endif							/* BRAINY_WORKER_H */
