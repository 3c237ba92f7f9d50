/*
 * worker_main.c - the cluster background worker: registration, signals,
 * and the main loop that schedules the heartbeat and the config poll.
 *
 * The loop sleeps in WaitLatch until the next job is due (never a busy
 * loop).  SIGHUP reloads the settings; SIGTERM writes a final heartbeat
 * marked "stopped" and exits.  An ERROR raised inside a turn (out of
 * memory, a store that cannot be opened) is logged and recorded in the
 * health, and the loop backs off and carries on: the worker never dies in
 * a loop because the object store misbehaves.  If the process dies anyway
 * the postmaster restarts it after bgw_restart_time.
 */
#include "postgres.h"

#include <setjmp.h>
#include <signal.h>

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
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "storage_settings.h"
#include "worker.h"
#include "worker_jobs.h"

#define WORKER_RESTART_SECONDS 5
#define BACKOFF_MIN_MS 500

static volatile sig_atomic_t shutdown_requested = false;

void
brainy_bgworker_register(const char *function, const char *name, BgWorkerStartTime start,
						 int restart_seconds)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = start;
	worker.bgw_restart_time = restart_seconds;
	strlcpy(worker.bgw_library_name, "brainy", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, function, BGW_MAXLEN);
	strlcpy(worker.bgw_name, name, BGW_MAXLEN);
	strlcpy(worker.bgw_type, name, BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

void
brainy_worker_register(void)
{
	/* a hot standby runs it too, once it is consistent */
	brainy_bgworker_register("brainy_worker_main", "brainy cluster worker",
							 BgWorkerStart_ConsistentState, WORKER_RESTART_SECONDS);
}

static void
worker_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	shutdown_requested = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

static void
worker_exit(int code, Datum arg)
{
	BrainyClusterState *st = brainy_cluster_state();

	if (st != NULL)
	{
		SpinLockAcquire(&st->mutex);
		if (st->worker_pid == MyProcPid)
			st->worker_pid = 0;
		SpinLockRelease(&st->mutex);
	}
}

/* milliseconds from now until t (>= 0) */
static long
ms_until(TimestampTz now, TimestampTz t)
{
	return t <= now ? 0 : (long) ((t - now + 999) / 1000);
}

void
brainy_worker_main(Datum arg)
{
	sigjmp_buf	local_sigjmp_buf;
	MemoryContext turn_ctx;
	BrainyClusterState *st = brainy_cluster_state();
	TimestampTz next_config = 0,
				next_heartbeat = 0;
	int			config_backoff = 0,
				heartbeat_backoff = 0;
	bool		id_ok;
	bool		member = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, worker_sigterm);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(brainy_database, NULL, 0);
	pgstat_report_appname("brainy cluster worker");

	if (st == NULL)
		ereport(FATAL, (errmsg("brainy: the cluster state is missing from shared memory")));
	SpinLockAcquire(&st->mutex);
	st->worker_pid = MyProcPid;
	st->worker_started = GetCurrentTimestamp();
	SpinLockRelease(&st->mutex);
	before_shmem_exit(worker_exit, (Datum) 0);

	turn_ctx = AllocSetContextCreate(TopMemoryContext, "brainy cluster worker turn",
									 ALLOCSET_DEFAULT_SIZES);
	id_ok = worker_resolve_id();

	/* an ERROR inside a turn lands here: log it, back off, carry on */
	if (sigsetjmp(local_sigjmp_buf, 1) != 0)
	{
		ErrorData  *edata;
		char		msg[BRAINY_MSG_LEN];

		/* as PostgresMain does: no stale error context callbacks (SPI's) */
		error_context_stack = NULL;
		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(TopMemoryContext);
		edata = CopyErrorData();
		EmitErrorReport();
		FlushErrorState();
		strlcpy(msg, edata->message ? edata->message : "error", sizeof(msg));
		FreeErrorData(edata);
		SpinLockAcquire(&st->mutex);
		strlcpy(st->store_error, msg, sizeof(st->store_error));
		st->store_errors++;
		SpinLockRelease(&st->mutex);
		MemoryContextReset(turn_ctx);
		RESUME_INTERRUPTS();
		/* an ERROR while leaving: leave without the final heartbeat */
		if (shutdown_requested)
			proc_exit(0);
		heartbeat_backoff = Min(Max(heartbeat_backoff * 2, BACKOFF_MIN_MS), brainy_heartbeat_interval_ms);
		next_heartbeat = next_config = GetCurrentTimestamp() + (TimestampTz) heartbeat_backoff * 1000;
	}
	PG_exception_stack = &local_sigjmp_buf;

	while (!shutdown_requested)
	{
		TimestampTz now;
		long		timeout;

		CHECK_FOR_INTERRUPTS();
		/* a turn that never sleeps would not see the postmaster die */
		if (!PostmasterIsAlive())
			proc_exit(1);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			brainy_cluster_log(BRAINY_LOG_DEBUG, "brainy: settings reloaded");
			/* new intervals take effect now */
			next_config = next_heartbeat = 0;
		}
		MemoryContextReset(turn_ctx);
		MemoryContextSwitchTo(turn_ctx);

		member = worker_resolve_role() && id_ok;
		now = GetCurrentTimestamp();
		if (member && now >= next_config)
		{
			if (worker_poll_config())
				config_backoff = 0;
			else
				config_backoff = Min(Max(config_backoff * 2, BACKOFF_MIN_MS), brainy_config_poll_interval_ms);
			now = GetCurrentTimestamp();
			next_config = now + (TimestampTz) (config_backoff ? config_backoff : brainy_config_poll_interval_ms) * 1000;
			/*
			 * Log a transition now: the heartbeat's retries may outlast a
			 * short outage, and a transition seen only at the end of the
			 * turn would be missed.  (Not before the first heartbeat: until
			 * then the health would only say that there is none yet.)
			 */
			if (st->last_heartbeat_at != 0)
				worker_update_health();
		}
		if (member && now >= next_heartbeat)
		{
			if (worker_heartbeat("running"))
				heartbeat_backoff = 0;
			else
				heartbeat_backoff = Min(Max(heartbeat_backoff * 2, BACKOFF_MIN_MS), brainy_heartbeat_interval_ms);
			now = GetCurrentTimestamp();
			next_heartbeat = now + (TimestampTz) (heartbeat_backoff ? heartbeat_backoff : brainy_heartbeat_interval_ms) * 1000;
		}
		worker_update_health();
		MemoryContextSwitchTo(TopMemoryContext);

		now = GetCurrentTimestamp();
		timeout = Min(ms_until(now, next_config), ms_until(now, next_heartbeat));
		if (!member)
			timeout = brainy_heartbeat_interval_ms;	/* until SIGHUP gives a role */
		if (timeout > 0)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 timeout, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}

	/* SIGTERM: the last word, then leave */
	MemoryContextSwitchTo(turn_ctx);
	if (member && worker_heartbeat("stopped"))
		brainy_cluster_log(BRAINY_LOG_INFO, "brainy: final heartbeat written (stopped); leaving the cluster");
	proc_exit(0);
}
