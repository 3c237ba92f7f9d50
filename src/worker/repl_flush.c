/*
 * repl_flush.c - the writer half of the replication worker.  (Being
 * written: see docs/replication.md.)
 */
#include "postgres.h"

#include "repl.h"

long
repl_flush_turn(bool forced)
{
	return brainy_flush_interval_ms;
}
