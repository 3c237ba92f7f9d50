/*
 * repl_state.c - the replication settings (GUCs), the replication state in
 * shared memory (what this node published and applied, per collection and
 * writer; requests from backends to the replication worker) and the
 * node's hybrid logical clock.
 */
#include "postgres.h"

#include <sys/time.h>

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/guc.h"

#include "repl.h"

int			brainy_batch_size = 1000;
int			brainy_flush_interval_ms = 5000;
int			brainy_poll_interval_ms = 1000;
int			brainy_consistency = BRAINY_CONSISTENCY_EVENTUAL;
int			brainy_max_staleness_ms = 5000;
int			brainy_wait_timeout_ms = 10000;
int			brainy_tombstone_retention_s = 7 * 24 * 3600;

bool		brainy_repl_applying = false;

static BrainyReplState *repl_state = NULL;

static const struct config_enum_entry consistency_options[] = {
	{"eventual", BRAINY_CONSISTENCY_EVENTUAL, false},
	{"bounded", BRAINY_CONSISTENCY_BOUNDED, false},
	{"strong", BRAINY_CONSISTENCY_STRONG, false},
	{NULL, 0, false}
};

void
brainy_repl_settings_init(void)
{
	DefineCustomIntVariable("brainy.batch_size",
							"Rows per change-log segment: the outbox is flushed when it holds this many rows.",
							NULL, &brainy_batch_size, 1000, 1, 100000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("brainy.flush_interval",
							"The longest a captured change waits in the outbox before it is flushed.",
							NULL, &brainy_flush_interval_ms, 5000, 10, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("brainy.poll_interval",
							"How often a reader asks each writer's log for its next segment (one request per writer).",
							NULL, &brainy_poll_interval_ms, 1000, 10, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomEnumVariable("brainy.consistency",
							 "What a query on a mirror table waits for: eventual (nothing), bounded (lag within brainy.max_staleness), strong (every writer's latest segment).",
							 NULL, &brainy_consistency, BRAINY_CONSISTENCY_EVENTUAL, consistency_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("brainy.max_staleness",
							"With brainy.consistency = bounded: how stale a mirror table may be when a query starts.",
							NULL, &brainy_max_staleness_ms, 5000, 0, 24 * 3600 * 1000,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("brainy.wait_timeout",
							"The longest brainy.flush(), brainy.wait_for() and bounded or strong queries wait before they fail.",
							NULL, &brainy_wait_timeout_ms, 10000, 0, 24 * 3600 * 1000,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("brainy.tombstone_retention",
							"How long a reader remembers a deleted row's version, so that an older insert arriving later cannot bring it back.",
							NULL, &brainy_tombstone_retention_s, 7 * 24 * 3600, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
}

/* ---------------------------------------------------------------- memory */

void
brainy_repl_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(BrainyReplState)));
}

/* called with AddinShmemInitLock held */
void
brainy_repl_shmem_startup(void)
{
	bool		found;

	repl_state = ShmemInitStruct("brainy replication state", sizeof(BrainyReplState), &found);
	if (!found)
	{
		memset(repl_state, 0, sizeof(*repl_state));
		SpinLockInit(&repl_state->mutex);
		pg_atomic_init_u64(&repl_state->hlc, 0);
	}
}

BrainyReplState *
brainy_repl_state(void)
{
	return repl_state;
}

BrainyReplState *
brainy_repl_state_required(const char *what)
{
	if (repl_state == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s needs brainy in shared_preload_libraries", what),
				 errhint("Add brainy to shared_preload_libraries, set brainy.storage, and restart the server.")));
	return repl_state;
}

BrainyReplCollection *
brainy_repl_collection(BrainyReplState *rs, const char *name, bool create)
{
	int			i,
				free_slot = -1;

	for (i = 0; i < BRAINY_REPL_MAX_COLLECTIONS; i++)
	{
		BrainyReplCollection *c = &rs->collections[i];

		if (c->used && strcmp(c->name, name) == 0)
			return c;
		if (!c->used && free_slot < 0)
			free_slot = i;
	}
	if (!create || free_slot < 0)
		return NULL;
	{
		BrainyReplCollection *c = &rs->collections[free_slot];

		memset(c, 0, sizeof(*c));
		c->used = true;
		strlcpy(c->name, name, sizeof(c->name));
		rs->n_collections++;
		return c;
	}
}

BrainyReplWriter *
brainy_repl_writer(BrainyReplCollection *c, const char *writer_id, bool create)
{
	int			i;

	for (i = 0; i < c->n_writers; i++)
		if (strcmp(c->writers[i].writer_id, writer_id) == 0)
			return &c->writers[i];
	if (!create || c->n_writers >= BRAINY_REPL_MAX_WRITERS)
		return NULL;
	memset(&c->writers[c->n_writers], 0, sizeof(BrainyReplWriter));
	strlcpy(c->writers[c->n_writers].writer_id, writer_id, CLUSTER_ID_MAX + 1);
	return &c->writers[c->n_writers++];
}

void
brainy_repl_wake_worker(void)
{
	int			procno = -1;

	if (repl_state == NULL)
		return;
	SpinLockAcquire(&repl_state->mutex);
	if (repl_state->worker_pid != 0)
		procno = repl_state->worker_procno;
	SpinLockRelease(&repl_state->mutex);
	if (procno >= 0)
		SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

/* ----------------------------------------------------------------- clock */

uint64
brainy_wall_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64) tv.tv_sec * 1000 + (uint64) tv.tv_usec / 1000;
}

uint64
brainy_hlc_next(void)
{
	uint64		last,
				next;

	if (repl_state == NULL)
		return cluster_hlc_next(0, brainy_wall_ms());
	last = pg_atomic_read_u64(&repl_state->hlc);
	for (;;)
	{
		next = cluster_hlc_next(last, brainy_wall_ms());
		if (pg_atomic_compare_exchange_u64(&repl_state->hlc, &last, next))
			return next;
		/* last now holds the value another backend installed */
	}
}

void
brainy_hlc_observe(uint64 remote)
{
	uint64		last,
				next;

	if (repl_state == NULL)
		return;
	last = pg_atomic_read_u64(&repl_state->hlc);
	for (;;)
	{
		if (remote <= last)
			return;
		next = cluster_hlc_observe(last, remote, brainy_wall_ms());
		if (pg_atomic_compare_exchange_u64(&repl_state->hlc, &last, next))
			return;
	}
}

BrainyReplCollection *
brainy_repl_collections_copy(BrainyReplState *rs)
{
	BrainyReplCollection *copy = palloc(sizeof(BrainyReplCollection) * BRAINY_REPL_MAX_COLLECTIONS);

	SpinLockAcquire(&rs->mutex);
	memcpy(copy, rs->collections, sizeof(BrainyReplCollection) * BRAINY_REPL_MAX_COLLECTIONS);
	SpinLockRelease(&rs->mutex);
	return copy;
}
