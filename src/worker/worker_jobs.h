/*
 * worker_jobs.h - what the cluster worker does in each turn of its loop
 * (worker_jobs.c), called by its main loop (worker_main.c).
 */
#ifndef BRAINY_WORKER_JOBS_H
#define BRAINY_WORKER_JOBS_H

#include "worker.h"

/* Resolves the instance id once, at start (false: id_error is set). */
extern bool worker_resolve_id(void);

/*
 * Resolves the role from the environment and settings; logs changes.
 * false: no valid role (role_error is set), and the node stays out of the
 * bucket until it has one.
 */
extern bool worker_resolve_role(void);

/*
 * Checks config.json (HEAD; GET when the ETag changed; create when
 * missing).  false when the object store failed.
 */
extern bool worker_poll_config(void);

/*
 * Writes this node's heartbeat (status "running" or "stopped"), then
 * lists the others, deletes stale ones and writes the statistics object.
 * false when the object store failed.
 */
extern bool worker_heartbeat(const char *status);

/* Recomputes the health status, logs a transition. */
extern void worker_update_health(void);

/* Records (or clears, with NULL) the object store failure in the state. */
extern void worker_set_store_error(const char *what, const ObjStoreError *err);

#endif							/* BRAINY_WORKER_JOBS_H */
