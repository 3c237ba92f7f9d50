/*
 * repl.h - replication through the bucket, PostgreSQL side: the settings,
 * the shared state the replication worker publishes (per collection: what
 * this node published, what it applied from every writer), the hybrid
 * logical clock in shared memory, and the entry points of the writer
 * (repl_flush.c) and reader (repl_apply.c) halves of the replication worker
 * (repl_main.c).
 *
 * Local catalog (the extension script, schema brainy):
 *	brainy.publication          one row per collection this node publishes
 *	brainy.outbox               captured changes not yet in a segment
 *	brainy.subscription         one row per collection this node follows
 *	brainy.subscription_writer  per (collection, writer): the applied seq
 *	brainy.row_version          per (collection, pk): the LWW version of the
 *	                            mirror row, or its tombstone
 */
#ifndef BRAINY_REPL_H
#define BRAINY_REPL_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "storage/spin.h"

#include "cluster.h"
#include "cluster_segment.h"

/* ---------------------------------------------------- settings (repl_state.c) */

typedef enum BrainyConsistency
{
	BRAINY_CONSISTENCY_EVENTUAL,
	BRAINY_CONSISTENCY_BOUNDED,
	BRAINY_CONSISTENCY_STRONG
} BrainyConsistency;

extern int	brainy_batch_size;			/* rows per segment (flush trigger) */
extern int	brainy_flush_interval_ms;	/* oldest pending row waits at most this */
extern int	brainy_poll_interval_ms;	/* reader: one GET per writer per poll */
extern int	brainy_consistency;			/* BrainyConsistency, per session */
extern int	brainy_max_staleness_ms;	/* bounded: allowed staleness */
extern int	brainy_wait_timeout_ms;		/* bounded/strong/wait_for/flush */
extern int	brainy_tombstone_retention_s;	/* deleted rows' versions kept */

extern void brainy_repl_settings_init(void);

/* bucket keys */
#define BRAINY_LOG_PREFIX "_brainy/log/"
/* _brainy/collections/<name>/schema.json and .../writers/<id>.json */
#define BRAINY_SCHEMA_KEY_FMT "_brainy/collections/%s/schema.json"
#define BRAINY_WRITERS_PREFIX_FMT "_brainy/collections/%s/writers/"

/* ---------------------------------------------- shared state (repl_state.c) */

#define BRAINY_REPL_MAX_COLLECTIONS 32
#define BRAINY_REPL_MAX_WRITERS 32
#define BRAINY_COLLECTION_MAX 63

typedef struct BrainyReplWriter
{
	char		writer_id[CLUSTER_ID_MAX + 1];
	int64		applied_seq;	/* last segment applied here */
	int64		head_seq;		/* highest segment known to exist */
	TimestampTz applied_at;		/* when the last segment was applied */
	int64		lag_ms;			/* last segment: applied_at - its newest change */
	double		rows_per_second;	/* applied, over the last few seconds */
	int64		rows_applied;	/* since the worker started */
	bool		stopped;		/* a bad segment stopped this stream */
	bool		caught_up;		/* the last poll of its next segment was a 404 */
	char		error[CLUSTER_ERRLEN];	/* why (stopped) or the last failure */
} BrainyReplWriter;

typedef struct BrainyReplCollection
{
	bool		used;
	char		name[BRAINY_COLLECTION_MAX + 1];

	/* writer side: this node publishes it */
	bool		published;
	int64		published_seq;	/* last segment written */
	int64		outbox_pending; /* rows captured, not yet in a segment */
	bool		backfill_done;
	TimestampTz last_flush_at;
	double		publish_rows_per_second;
	int64		rows_published;
	char		publish_error[CLUSTER_ERRLEN];

	/* reader side: this node follows it */
	bool		subscribed;
	Oid			mirror_relid;
	/*
	 * Start time of the latest poll round after which every writer was
	 * caught up (its next segment answered 404): the mirror holds every
	 * change published before this moment.
	 */
	TimestampTz fresh_as_of;
	int			n_writers;
	BrainyReplWriter writers[BRAINY_REPL_MAX_WRITERS];
} BrainyReplCollection;

typedef struct BrainyReplState
{
	slock_t		mutex;			/* protects everything but hlc */
	pg_atomic_uint64 hlc;		/* the node's hybrid logical clock */
	int			worker_pid;		/* the replication worker, 0 when none */
	int			worker_procno;	/* its PGPROC number (for its latch) */
	TimestampTz worker_started;

	/* requests from backends, served by the worker's next turn */
	uint64		flush_requests;
	uint64		poll_requests;	/* strong consistency: poll every writer now */
	TimestampTz poll_round_started;	/* start of the latest complete poll round */

	char		store_error[CLUSTER_ERRLEN];	/* last object store failure,
												 * "" once a request works */
	int			n_collections;
	BrainyReplCollection collections[BRAINY_REPL_MAX_COLLECTIONS];
} BrainyReplState;

extern void brainy_repl_shmem_request(void);
extern void brainy_repl_shmem_startup(void);

/* The shared state, or NULL when brainy is not in shared_preload_libraries. */
extern BrainyReplState *brainy_repl_state(void);

/* As above, but an ERROR naming the setting when there is none. */
extern BrainyReplState *brainy_repl_state_required(const char *what);

/*
 * The slot of a collection (created when create is true and there is
 * room; NULL otherwise).  Caller holds the mutex.
 */
extern BrainyReplCollection *brainy_repl_collection(BrainyReplState *rs, const char *name,
													bool create);

/*
 * A palloc'd copy of every collection slot (BRAINY_REPL_MAX_COLLECTIONS),
 * taken under the mutex, for the views to read at leisure.
 */
extern BrainyReplCollection *brainy_repl_collections_copy(BrainyReplState *rs);

/* The slot of a writer within a collection (created when there is room). */
extern BrainyReplWriter *brainy_repl_writer(BrainyReplCollection *c, const char *writer_id,
											bool create);

/* Wakes the replication worker (no-op when none runs). */
extern void brainy_repl_wake_worker(void);

/* A new HLC value for a local change (atomic; never goes backwards). */
extern uint64 brainy_hlc_next(void);

/* Moves the clock past a value seen from another node. */
extern void brainy_hlc_observe(uint64 remote);

/* milliseconds since the Unix epoch, by this machine's clock */
extern uint64 brainy_wall_ms(void);

/*
 * Fills outbox_pending, replication_lag_ms and replication_json of the
 * health inputs from the shared state (repl_health.c); leaves them as
 * they are on a node that neither publishes nor follows anything.
 */
extern void brainy_repl_health_inputs(ClusterHealthInputs *in);

/* --------------------------------------------- the worker (repl_main.c) */

extern void brainy_repl_worker_register(void);
extern PGDLLEXPORT void brainy_repl_worker_main(Datum arg);

/*
 * The worker's flag for "changes made now are the replication worker's
 * own" (mirror tables reject every other writer).
 */
extern bool brainy_repl_applying;

/* ------------------------------------- worker helpers (repl_worker_tx.c) */

/*
 * A transaction of the replication worker with SPI connected and a
 * snapshot; ending it (commit or abort) makes the caller's memory context
 * current again (a commit leaves TopMemoryContext current, and what a turn
 * allocated there afterwards would leak).
 */
extern void repl_begin_tx(void);
extern void repl_end_tx(void);
extern void repl_abort_tx(void);

/* Records the replication worker's last object store failure ("" clears it). */
extern void repl_set_store_error(const char *msg);

/* ------------------------------------------- writer side (repl_flush.c) */

/*
 * One writer turn: backfill, then flush every published collection whose
 * outbox holds a batch, whose oldest row is older than the flush interval,
 * or for which a flush was requested.  Runs its own transactions.  Returns
 * the milliseconds until the next turn is due (the caller sleeps at most
 * that).
 */
extern long repl_flush_turn(bool forced);

/* ------------------------------------------- reader side (repl_apply.c) */

/*
 * One reader turn: for every subscribed collection and every writer, GET
 * the next segment, verify it, apply it (one transaction each, applied seq
 * stored with it), repeat while there are more.  Returns the milliseconds
 * until the next poll is due.
 */
extern long repl_apply_turn(bool forced);

/*
 * Link up to max rows (all when max < 0) of the pending lists of table
 * relid's brainy_hnsw indexes into their graphs; the rows linked
 * (src/am/hnsw_pending.c).  Mirror indexes have fastupdate on: the apply
 * only appends, and the worker links between segments.
 */
extern int64 bh_merge_table(Oid relid, int64 max);

/* ------------------------------------ consistency (src/api/repl_consistency.c) */

/* Installs the ExecutorStart hook of brainy.consistency (from _PG_init). */
extern void brainy_consistency_init(void);

#endif							/* BRAINY_REPL_H */
