/*
 * repl_worker_tx.c - what both halves of the replication worker
 * (repl_flush.c, repl_apply.c) use around their work: a transaction with
 * SPI and a snapshot that gives back the caller's memory context when it
 * ends, and the store error shown in health.
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "repl.h"

/* the caller's memory context, current again after the transaction */
static MemoryContext tx_caller_context = NULL;

void
repl_begin_tx(void)
{
	tx_caller_context = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
}

void
repl_end_tx(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(tx_caller_context);
}

void
repl_abort_tx(void)
{
	SPI_finish();
	PopActiveSnapshot();
	AbortCurrentTransaction();
	MemoryContextSwitchTo(tx_caller_context);
}

void
repl_set_store_error(const char *msg)
{
	BrainyReplState *rs = brainy_repl_state();

	SpinLockAcquire(&rs->mutex);
	strlcpy(rs->store_error, msg, sizeof(rs->store_error));
	SpinLockRelease(&rs->mutex);
}
