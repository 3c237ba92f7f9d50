/*
 * repl_apply.c - the reader half of the replication worker: follows every
 * writer's change log of every subscribed collection and applies it to the
 * mirror tables.  (Being written: see docs/replication.md.)
 */
#include "postgres.h"

#include "repl.h"

long
repl_apply_turn(bool forced)
{
	return brainy_poll_interval_ms;
}
