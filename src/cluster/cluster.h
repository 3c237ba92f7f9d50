/*
 * cluster.h - public interface of the cluster module (plain C, no
 * PostgreSQL headers): the pure logic of cluster membership.
 *
 *	cluster_role.c       role resolution (environment > setting > inference)
 *	                     and instance id validation
 *	cluster_id.c         the generated instance id persisted in a file
 *	cluster_config.c     _brainy/config.json: parse, validate, default,
 *	                     merge a settings patch, serialize
 *	cluster_heartbeat.c  _brainy/instances/<id>.json: build and parse;
 *	                     liveness by the object store's clock
 *	cluster_health.c     health status, warnings and the health JSON
 *	cluster_partition.c  partition of a key (xxHash64 modulo partitionCount)
 *	cluster_stats.c      summing per-node statistics objects
 *	cluster_lease.c      leases in _brainy/locks/ (its own header,
 *	                     cluster_lease.h: it uses the object store)
 *	cluster_hlc.c        hybrid logical clock, last-writer-wins order
 *	                     (declared in cluster_segment.h)
 *	cluster_segment.c    change-log segments _brainy/log/...: write,
 *	                     verify, decode (cluster_segment.h)
 *	cluster_schema.c     _brainy/collections/<name>/schema.json: build,
 *	                     parse, compare (cluster_segment.h)
 *
 * Conventions: functions return CLUSTER_OK or an error code and, on error,
 * write a one-line message into the caller's buffer (errbuf, errlen).
 * Strings returned as char * are malloc'd and owned by the caller (free()).
 * Nothing here calls exit() or abort().
 */
#ifndef BRAINY_CLUSTER_H
#define BRAINY_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#define CLUSTER_OK 0
#define CLUSTER_EINVAL 1		/* bad input (malformed JSON, bad value) */
#define CLUSTER_EREFUSED 2		/* valid, but not allowed now */
#define CLUSTER_EIO 3			/* a file could not be read or written */
#define CLUSTER_ENOMEM 4
#define CLUSTER_EUNSUPPORTED 5	/* valid, but of a format version we do not
								 * know */

#define CLUSTER_ERRLEN 256

/* ---------------------------------------------------------------- roles */

typedef enum ClusterRole
{
	CLUSTER_ROLE_NONE = 0,
	CLUSTER_ROLE_READER,
	CLUSTER_ROLE_WRITER,
	CLUSTER_ROLE_HYBRID
} ClusterRole;

/* "reader", "writer", "hybrid"; "none" for CLUSTER_ROLE_NONE */
extern const char *cluster_role_name(ClusterRole role);

/* Parses "reader" | "writer" | "hybrid" (exact, lower case). */
extern int	cluster_role_parse(const char *text, ClusterRole *role);

/* What role resolution looks at; NULL or "" strings count as unset. */
typedef struct ClusterRoleInputs
{
	const char *env_role;		/* BRAINY_ROLE */
	const char *setting_role;	/* brainy.role */
	const char *env_mode;		/* BRAINY_MODE: read-only | write-only */
	int			hot_standby;	/* the server is in recovery */
	int			default_read_only;	/* default_transaction_read_only */
} ClusterRoleInputs;

/*
 * Resolves the role, highest first: BRAINY_ROLE, brainy.role, BRAINY_MODE,
 * hot standby, default_transaction_read_only.  An invalid value at any
 * level is an error naming it (never skipped); nothing set at all is an
 * error naming the setting to add.  *source gets a static description of
 * where the role came from.
 */
extern int	cluster_resolve_role(const ClusterRoleInputs *in, ClusterRole *role,
								 const char **source, char *errbuf, size_t errlen);

#define CLUSTER_ID_MAX 64

/* An instance id: 1..64 of [A-Za-z0-9._-], not starting with '.'. */
extern int	cluster_id_check(const char *id, char *errbuf, size_t errlen);

/*
 * The generated id kept in the file at path: read it if the file exists
 * (and check it), else make "node-" + 16 hex digits from random_bytes[0..8)
 * and create the file (O_EXCL, then fsync).  id gets CLUSTER_ID_MAX + 1
 * bytes.  *created tells whether the file was made now.
 */
extern int	cluster_id_load_or_create(const char *path, const unsigned char random_bytes[8],
									  char *id, int *created, char *errbuf, size_t errlen);

/* --------------------------------------------------------- config.json */

#define CLUSTER_PARTITION_COUNT_MAX 1000
#define CLUSTER_DIMENSIONS_MAX 16000

/* json-c's object; named by its struct tag (PostgreSQL has a function json_object) */
struct json_object;

/*
 * text[0..len) as exactly one JSON value (white space may follow it): the
 * object, which the caller puts, or NULL with the reason in errbuf
 * (config.json, its patches, schema.json).
 */
extern struct json_object *cluster_json_parse(const char *text, size_t len,
											  char *errbuf, size_t errlen);

/*
 * A validated config.json.  The typed fields mirror root (which keeps any
 * keys this version does not know, so they survive a rewrite).
 */
typedef struct ClusterConfig
{
	int64_t		version;
	int			partition_count;
	int			dimensions;		/* 0 = null (not decided yet) */
	char		distance_metric[16];	/* "" = null */
	struct json_object *root;	/* owned */
} ClusterConfig;

/* Parses and validates; on error *config is left empty. */
extern int	cluster_config_parse(const char *text, size_t len, ClusterConfig *config,
								 char *errbuf, size_t errlen);

/* The config a new cluster starts with: version 1, hash, 100 partitions. */
extern int	cluster_config_default(const char *now_iso, ClusterConfig *config);

/* Serialized (pretty) text; NULL when out of memory. */
extern char *cluster_config_to_json(const ClusterConfig *config);

extern void cluster_config_free(ClusterConfig *config);

/*
 * Merges patch (a JSON object of settings) into a copy of cur: keys given
 * replace the setting (null sets it to null), version + 1, updated =
 * now_iso.  Unknown keys and bad values are CLUSTER_EINVAL; a change of
 * dimensions (once set) or partitionCount while cluster_nonempty is
 * CLUSTER_EREFUSED.  *out is filled only on success.
 */
extern int	cluster_config_merge(const ClusterConfig *cur, const char *patch, size_t patch_len,
								 int cluster_nonempty, const char *now_iso,
								 ClusterConfig *out, char *errbuf, size_t errlen);

/*
 * One line saying which settings differ between a and b ("dimensions null
 * -> 3, distanceMetric null -> \"l2\""), or "" when none.
 */
extern void cluster_config_describe_changes(const ClusterConfig *a, const ClusterConfig *b,
											char *buf, size_t len);

/* ----------------------------------------------------------- heartbeats */

typedef struct ClusterHeartbeat
{
	char		id[CLUSTER_ID_MAX + 1];
	char		role[16];
	char		status[16];		/* "running" | "stopped" | "refused" ... */
	char		host[256];
	char		endpoint[256];	/* SERVICE_ENDPOINT or host:port */
	char		owner[512];		/* which server writes it (host, port, data
								 * directory, system identifier) */
	char		pg_version[64];
	char		brainy_version[32];
	int64_t		started;		/* seconds since the epoch, node's clock */
	int64_t		last_heartbeat; /* same */
	int64_t		sequence;		/* heartbeats written by this owner */
} ClusterHeartbeat;

/*
 * The heartbeat object's JSON; health_json (may be NULL) is embedded as
 * "health" (it must be a JSON object).
 */
extern char *cluster_heartbeat_to_json(const ClusterHeartbeat *hb, const char *health_json);

/*
 * Parses a heartbeat; *health_json (if not NULL) gets the embedded health
 * object serialized (malloc'd; "{}" when absent).
 */
extern int	cluster_heartbeat_parse(const char *text, size_t len, ClusterHeartbeat *hb,
									char **health_json, char *errbuf, size_t errlen);

typedef struct ClusterLiveness
{
	int64_t		age_ms;			/* store_now - last_modified, >= 0 */
	int			alive;			/* fresh (age <= timeout) and not stopped */
	int			stale;			/* age > 2 x timeout: may be deleted */
} ClusterLiveness;

/*
 * Liveness of a heartbeat last modified at last_modified_s (the object
 * store's clock, seconds) when the store's clock reads store_now_ms.
 */
extern void cluster_liveness(int64_t store_now_ms, int64_t last_modified_s,
							 int64_t timeout_ms, int stopped, ClusterLiveness *out);

/* --------------------------------------------------------------- health */

#define CLUSTER_MAX_WARNINGS 8

typedef struct ClusterHealthInputs
{
	const char *instance_id;
	const char *role;			/* "reader", ... or "none" */
	int64_t		uptime_s;
	const char *role_error;		/* "" or NULL when fine: each string below */
	const char *id_error;		/* too */
	const char *config_error;
	int			config_loaded;
	const char *store_error;	/* the last object store failure, if still
								 * failing */
	int64_t		heartbeat_age_ms;	/* since the last heartbeat written; -1
									 * never */
	int64_t		heartbeat_interval_ms;
	int64_t		config_version; /* of the config in use; 0 = none */
	int64_t		last_heartbeat_at;	/* seconds since the epoch, 0 = never */
	/* metrics; a negative value is "not measured" and shown as null */
	double		requests_per_second;
	double		average_latency_ms;
	double		error_rate;
	double		memory_usage_mb;
	int64_t		vector_count;
	double		cache_hit_rate;
	int64_t		replication_lag_ms;
	int64_t		outbox_pending;
	/* what stops or slows replication ("" or NULL when fine): degraded */
	const char *replication_error;
	/* replication details, a JSON object shown as "replication"; NULL: none */
	const char *replication_json;
} ClusterHealthInputs;

/* "healthy" | "degraded" | "unhealthy" and the warnings behind it. */
extern const char *cluster_health_status(const ClusterHealthInputs *in,
										 char warnings[CLUSTER_MAX_WARNINGS][CLUSTER_ERRLEN],
										 int *nwarnings);

/* The health JSON object (DESIGN.md section 5). */
extern char *cluster_health_to_json(const ClusterHealthInputs *in);

/* ----------------------------------------------------------- partitions */

/* xxHash64 (seed 0) of key[0..len) modulo count. */
extern int	cluster_partition_index(const char *key, size_t len, int count);

/* "p%03d" of the index into buf (at least 8 bytes). */
extern void cluster_partition_name(int index, char *buf, size_t len);

/* ---------------------------------------------------------------- stats */

/*
 * Adds the numeric top-level fields of one node's statistics object
 * (a JSON object) into *sum (a JSON object, created when *sum is NULL);
 * non-numeric fields are ignored.  Malformed text is CLUSTER_EINVAL and
 * leaves *sum unchanged.
 */
extern int	cluster_stats_add(struct json_object **sum, const char *text, size_t len,
							  char *errbuf, size_t errlen);

/*
 * The sum as JSON text with "nodes": nodes added; frees *sum (NULL is an
 * empty sum).  NULL when out of memory.
 */
extern char *cluster_stats_finish(struct json_object **sum, int nodes);

#endif							/* BRAINY_CLUSTER_H */
