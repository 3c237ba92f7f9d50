/*
 * repl_main.c - the replication worker: a background worker of its own
 * (next to the cluster worker) that flushes this node's outbox into
 * change-log segments when it is a writer, and applies other writers'
 * segments to the mirror tables when it is a reader; a hybrid does both.
 *
 * It is a process apart from the cluster worker so that a long apply (a
 * catch-up of many segments, each with HNSW index maintenance) or a slow
 * upload never delays a heartbeat: a node must not look dead because it is
 * busy.  The role and instance id come from the cluster worker through
 * shared memory; the loop waits until both are known.
 *
 * Backends wake it through its latch (brainy.flush(), strong reads).
 * SIGTERM: one last flush of the outbox, then exit.  An ERROR inside a turn
 * is logged and recorded, and the loop backs off and carries on.
 */
#include "postgres.h"

#include <setjmp.h>
#include <signal.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "repl.h"
#include "worker.h"

#define REPL_RESTART_SECONDS 1
#define REPL_BACKOFF_MIN_MS 200
#define REPL_BACKOFF_MAX_MS 5000
#define REPL_NO_ROLE_WAIT_MS 500

static volatile sig_atomic_t repl_shutdown = false;

void
brainy_repl_worker_register(void)
{
	/* it writes (mirror tables, the outbox): a primary only */
	brainy_bgworker_register("brainy_repl_worker_main", "brainy replication worker",
							 BgWorkerStart_RecoveryFinished, REPL_RESTART_SECONDS);
}

static void
repl_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	repl_shutdown = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

static void
repl_exit(int code, Datum arg)
{
	BrainyReplState *rs = brainy_repl_state();

	if (rs == NULL)
		return;
	SpinLockAcquire(&rs->mutex);
	if (rs->worker_pid == MyProcPid)
		rs->worker_pid = 0;
	SpinLockRelease(&rs->mutex);
}

/* the role the cluster worker resolved: "reader", "writer", "hybrid" or "none" */
static void
current_role(char *role, size_t len)
{
	BrainyClusterState *cs = brainy_cluster_state();

	SpinLockAcquire(&cs->mutex);
	if (cs->instance_id[0] == '\0' || cs->id_error[0] != '\0')
		strlcpy(role, "none", len);
	else
		strlcpy(role, cs->role, len);
	SpinLockRelease(&cs->mutex);
}

/*
 * Whether CREATE EXTENSION brainy has run in brainy.database: until then
 * there is no catalog to read, and a turn would only fail (and show its
 * error in health).  Looked up until it is there, then trusted.
 */
static bool
catalog_ready(void)
{
	static bool ready = false;
	Oid			nsp;

	if (ready)
		return true;
	StartTransactionCommand();
	nsp = get_namespace_oid("brainy", true);
	ready = OidIsValid(nsp) && OidIsValid(get_relname_relid("publication", nsp)) &&
		OidIsValid(get_relname_relid("subscription_writer", nsp)) &&
		OidIsValid(get_relname_relid("row_version", nsp));
	CommitTransactionCommand();
	return ready;
}

/*
 * The message an ERROR of a turn left in the shared store_error: the next
 * turn that ends without one clears it, unless a turn has put its own
 * failure there since (a node whose worker started before CREATE EXTENSION
 * otherwise stayed degraded with "relation ... does not exist").
 */
static char turn_error[CLUSTER_ERRLEN];

static void
clear_turn_error(BrainyReplState *rs)
{
	if (turn_error[0] == '\0')
		return;
	SpinLockAcquire(&rs->mutex);
	if (strcmp(rs->store_error, turn_error) == 0)
		rs->store_error[0] = '\0';
	SpinLockRelease(&rs->mutex);
	turn_error[0] = '\0';
}

void
brainy_repl_worker_main(Datum arg)
{
	sigjmp_buf	local_sigjmp_buf;
	MemoryContext turn_ctx;
	BrainyReplState *rs = brainy_repl_state();
	long		backoff = 0;
	uint64		flush_seen = 0,
				poll_seen = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, repl_sigterm);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(brainy_database, NULL, 0);
	pgstat_report_appname("brainy replication worker");

	/*
	 * Its statements are short and run thousands of times (a few per
	 * segment): compiling them with JIT costs far more than it saves (a
	 * third of a catch-up's time when it was on).
	 */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	if (rs == NULL || brainy_cluster_state() == NULL)
		ereport(FATAL, (errmsg("brainy: the replication state is missing from shared memory")));
	SpinLockAcquire(&rs->mutex);
	rs->worker_pid = MyProcPid;
	rs->worker_procno = MyProc->pgprocno;
	rs->worker_started = GetCurrentTimestamp();
	SpinLockRelease(&rs->mutex);
	before_shmem_exit(repl_exit, (Datum) 0);

	turn_ctx = AllocSetContextCreate(TopMemoryContext, "brainy replication turn",
									 ALLOCSET_DEFAULT_SIZES);

	if (sigsetjmp(local_sigjmp_buf, 1) != 0)
	{
		ErrorData  *edata;

		/*
		 * As PostgresMain does: the error context callbacks of the failed
		 * turn (SPI's, pointing into stack frames that are gone) must not
		 * run for the next error; a stale one looped forever in errfinish.
		 */
		error_context_stack = NULL;
		HOLD_INTERRUPTS();
		brainy_repl_applying = false;
		MemoryContextSwitchTo(TopMemoryContext);
		edata = CopyErrorData();
		EmitErrorReport();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		SpinLockAcquire(&rs->mutex);
		strlcpy(rs->store_error, edata->message ? edata->message : "error", sizeof(rs->store_error));
		strlcpy(turn_error, rs->store_error, sizeof(turn_error));
		SpinLockRelease(&rs->mutex);
		FreeErrorData(edata);
		MemoryContextReset(turn_ctx);
		RESUME_INTERRUPTS();
		if (repl_shutdown)
			proc_exit(0);
		backoff = Min(Max(backoff * 2, REPL_BACKOFF_MIN_MS), REPL_BACKOFF_MAX_MS);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 backoff, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	PG_exception_stack = &local_sigjmp_buf;

	while (!repl_shutdown)
	{
		char		role[16];
		long		timeout = REPL_NO_ROLE_WAIT_MS;
		bool		writer,
					reader;
		uint64		flush_req,
					poll_req;

		CHECK_FOR_INTERRUPTS();
		/* a turn that never sleeps would not see the postmaster die */
		if (!PostmasterIsAlive())
			proc_exit(1);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextReset(turn_ctx);
		MemoryContextSwitchTo(turn_ctx);

		current_role(role, sizeof(role));
		writer = strcmp(role, "writer") == 0 || strcmp(role, "hybrid") == 0;
		reader = strcmp(role, "reader") == 0 || strcmp(role, "hybrid") == 0;
		if ((writer || reader) && !catalog_ready())
			writer = reader = false;	/* no extension yet: wait for it */
		MemoryContextSwitchTo(turn_ctx);

		SpinLockAcquire(&rs->mutex);
		flush_req = rs->flush_requests;
		poll_req = rs->poll_requests;
		SpinLockRelease(&rs->mutex);

		if (writer)
		{
			timeout = Min(timeout, repl_flush_turn(flush_req != flush_seen));
			flush_seen = flush_req;
		}
		if (reader)
		{
			timeout = writer ? Min(timeout, repl_apply_turn(poll_req != poll_seen))
				: repl_apply_turn(poll_req != poll_seen);
			poll_seen = poll_req;
		}
		backoff = 0;
		clear_turn_error(rs);
		MemoryContextSwitchTo(TopMemoryContext);

		if (timeout > 0)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 timeout, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}

	/* SIGTERM: what is in the outbox goes out before we leave */
	{
		char		role[16];

		current_role(role, sizeof(role));
		MemoryContextSwitchTo(turn_ctx);
		if ((strcmp(role, "writer") == 0 || strcmp(role, "hybrid") == 0) && catalog_ready())
			(void) repl_flush_turn(true);
	}
	proc_exit(0);
}
