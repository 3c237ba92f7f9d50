/*
 * repl_consistency.c - brainy.consistency for queries that read mirror
 * tables: an ExecutorStart hook that, before a query reads a mirror,
 *
 *	eventual  does nothing (one comparison: the default costs nothing);
 *	bounded   waits until the mirror is at most brainy.max_staleness behind:
 *	          now - fresh_as_of <= max_staleness, where fresh_as_of is the
 *	          start of the latest poll round in which every writer of the
 *	          collection answered "nothing new";
 *	strong    asks the replication worker for a poll round now and waits
 *	          until one that started after this statement has found every
 *	          writer caught up: every segment written before the statement
 *	          started is then applied.
 *
 * Both wait at most brainy.wait_timeout, in short latch sleeps that
 * answer cancel requests, and then fail with the staleness in the message.
 * One wait per statement: the queries a statement runs inside functions
 * do not wait again.
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "repl.h"

/* the sleep between two looks at the shared state */
#define CONSISTENCY_SLEEP_MS 5

static ExecutorStart_hook_type prev_executor_start = NULL;

/* the statement (by its start time) that already waited */
static TimestampTz waited_for_statement = 0;

typedef struct MirrorRead
{
	int			slot;			/* index in rs->collections */
	char		name[BRAINY_COLLECTION_MAX + 1];
} MirrorRead;

/*
 * The subscribed collections whose mirror the query reads; their count.
 */
static int
mirrors_read(BrainyReplState *rs, List *rtable, MirrorRead *out)
{
	Oid			relids[BRAINY_REPL_MAX_COLLECTIONS];
	int			slots[BRAINY_REPL_MAX_COLLECTIONS];
	int			n_mirrors = 0,
				n = 0,
				i;
	ListCell   *lc;

	SpinLockAcquire(&rs->mutex);
	for (i = 0; i < BRAINY_REPL_MAX_COLLECTIONS; i++)
	{
		BrainyReplCollection *c = &rs->collections[i];

		if (c->used && c->subscribed && OidIsValid(c->mirror_relid))
		{
			relids[n_mirrors] = c->mirror_relid;
			slots[n_mirrors] = i;
			n_mirrors++;
		}
	}
	SpinLockRelease(&rs->mutex);
	if (n_mirrors == 0)
		return 0;

	foreach(lc, rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		if (rte->rtekind != RTE_RELATION)
			continue;
		for (i = 0; i < n_mirrors; i++)
		{
			int			k;
			bool		dup = false;

			if (rte->relid != relids[i])
				continue;
			for (k = 0; k < n; k++)
				if (out[k].slot == slots[i])
					dup = true;
			if (!dup)
			{
				out[n].slot = slots[i];
				out[n].name[0] = '\0';
				n++;
			}
		}
	}
	return n;
}

/* ms since fresh_as_of of the stalest collection read; -1 = never fresh */
static int64
staleness_ms(BrainyReplState *rs, MirrorRead *reads, int n, TimestampTz now,
			 TimestampTz *oldest, char *which, size_t whichlen)
{
	int64		worst = 0;
	int			i;

	*oldest = DT_NOEND;
	SpinLockAcquire(&rs->mutex);
	for (i = 0; i < n; i++)
	{
		BrainyReplCollection *c = &rs->collections[reads[i].slot];
		TimestampTz f = c->fresh_as_of;

		if (f < *oldest)
		{
			*oldest = f;
			strlcpy(which, c->name, whichlen);
			worst = f == 0 ? -1 : (now - f) / 1000;
		}
	}
	SpinLockRelease(&rs->mutex);
	return worst;
}

static void
wait_for_mirrors(BrainyReplState *rs, MirrorRead *reads, int n)
{
	bool		strong = brainy_consistency == BRAINY_CONSISTENCY_STRONG;
	TimestampTz started = GetCurrentStatementStartTimestamp();
	TimestampTz deadline = GetCurrentTimestamp() + (int64) brainy_wait_timeout_ms * 1000;
	char		which[BRAINY_COLLECTION_MAX + 1] = "";

	if (strong)
	{
		SpinLockAcquire(&rs->mutex);
		rs->poll_requests++;
		SpinLockRelease(&rs->mutex);
		brainy_repl_wake_worker();
	}
	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz oldest;
		int64		stale = staleness_ms(rs, reads, n, now, &oldest, which, sizeof(which));
		char		stale_text[64];

		if (strong ? (oldest != 0 && oldest >= started)
			: (stale >= 0 && stale <= brainy_max_staleness_ms))
			return;
		if (now >= deadline)
		{
			if (stale < 0)
				snprintf(stale_text, sizeof(stale_text), "it has not caught up with every writer since the replication worker started");
			else
				snprintf(stale_text, sizeof(stale_text), "it is %.3f s stale", stale / 1000.0);
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 strong ?
					 errmsg("brainy.consistency = strong: the mirror of collection \"%s\" did not catch up with every writer within brainy.wait_timeout (%d ms); %s",
							which, brainy_wait_timeout_ms, stale_text) :
					 errmsg("brainy.consistency = bounded: the mirror of collection \"%s\" is not within brainy.max_staleness (%d ms) after waiting brainy.wait_timeout (%d ms); %s",
							which, brainy_max_staleness_ms, brainy_wait_timeout_ms, stale_text),
					 errhint("See brainy.subscriptions and brainy.health() for lag and stopped streams; SET brainy.consistency = eventual reads the mirror as it is.")));
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(CONSISTENCY_SLEEP_MS, Max((deadline - now) / 1000, 1)), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

static void
consistency_executor_start(QueryDesc *queryDesc, int eflags)
{
	if (brainy_consistency != BRAINY_CONSISTENCY_EVENTUAL &&
		!(eflags & EXEC_FLAG_EXPLAIN_ONLY) && !brainy_repl_applying)
	{
		BrainyReplState *rs = brainy_repl_state();
		TimestampTz stmt = GetCurrentStatementStartTimestamp();

		if (rs != NULL && stmt != waited_for_statement && rs->worker_pid != MyProcPid)
		{
			MirrorRead	reads[BRAINY_REPL_MAX_COLLECTIONS];
			int			n = mirrors_read(rs, queryDesc->plannedstmt->rtable, reads);

			if (n > 0)
			{
				wait_for_mirrors(rs, reads, n);
				waited_for_statement = stmt;

				/*
				 * The query's snapshot was taken before the wait: at READ
				 * COMMITTED it gets a new one that sees what was applied
				 * meanwhile.  (A repeatable-read transaction keeps its
				 * snapshot: there the wait helps its first query only.)
				 */
				if (!IsolationUsesXactSnapshot() && queryDesc->snapshot != NULL)
				{
					UnregisterSnapshot(queryDesc->snapshot);
					queryDesc->snapshot = RegisterSnapshot(GetTransactionSnapshot());
				}
			}
		}
	}
	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

void
brainy_consistency_init(void)
{
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = consistency_executor_start;
}
