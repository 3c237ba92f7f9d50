/*
 * cluster_lease.h - leases in the shared bucket (_brainy/locks/<name>.json):
 * one owner at a time for cluster-wide jobs (compaction, migrations).
 *
 * Plain C, no PostgreSQL headers; uses the object store (objstore.h).
 *
 * A lease object holds its name, owner, ttlMs, a generation (a fencing
 * token: it grows by one whenever a new tenure starts, and never goes back
 * because a lease object is never deleted, only marked released) and the
 * acquiring/renewing node's idea of the store's time.
 *
 *	acquire   create-only put (If-None-Match: *); if the object exists and
 *	          is released, expired, or already ours, a put conditional on
 *	          the ETag just read (If-Match).  A lost race is "held".
 *	renew     If-Match on our ETag; 412 / 404 = lost.
 *	release   If-Match write of the released state; 412 / 404 = lost.
 *
 * Time.  Expiry is judged with the object store's clock only: a lease last
 * written at Last-Modified L (whole seconds, truncated) with ttl T is
 * expired when store_now_ms >= (L + 1) * 1000 + T.  The "+ 1 s" covers the
 * truncation, so a lease is never judged expired before T has really
 * passed on the store's clock; it may be judged up to about 2 s late.  The
 * caller passes store_now_ms in: cluster_lease_store_now() derives it from
 * the Last-Modified of a probe write (as the cluster worker does), a caller
 * that already knows the store's time (the worker's heartbeat) passes that,
 * and tests pass a controlled clock.
 *
 * The holder's side: deadline_mono_ms is the local monotonic time taken
 * just before the winning write was sent, plus ttl, minus a safety margin
 * of CLUSTER_LEASE_CLOCK_MARGIN_MS.  The write reached the store after that
 * instant, so nobody can take the lease over before the deadline as long as
 * the two clocks run at the same rate (the margin absorbs coarse server
 * clocks: RGW timestamps are a few ms coarse); a holder stops acting on the
 * lease at its deadline unless a renewal has succeeded.  The holder's own
 * expires_store_ms dates its write by the put reply (Last-Modified, or the
 * Date header where S3 sends no Last-Modified), so it may be up to 1 s
 * later than what others compute from a GET; deadline_mono_ms is what a
 * holder should go by.
 */
#ifndef BRAINY_CLUSTER_LEASE_H
#define BRAINY_CLUSTER_LEASE_H

#include <stddef.h>
#include <stdint.h>

#include "objstore.h"

/* results (besides CLUSTER_LEASE_OK, always with a message in errbuf) */
#define CLUSTER_LEASE_OK 0
#define CLUSTER_LEASE_HELD 1	/* another owner holds it: *lease describes
								 * the holder's lease */
#define CLUSTER_LEASE_LOST 2	/* renew/release: the lease is no longer ours */
#define CLUSTER_LEASE_EINVAL 3	/* bad name, owner or ttl; malformed lease
								 * object */
#define CLUSTER_LEASE_ESTORE 4	/* the object store failed (*err says how) */
#define CLUSTER_LEASE_ENOMEM 5

#define CLUSTER_LEASE_PREFIX "_brainy/locks/"
#define CLUSTER_LEASE_NAME_MAX 64
#define CLUSTER_LEASE_OWNER_MAX 255
#define CLUSTER_LEASE_TTL_MIN_MS 1000
#define CLUSTER_LEASE_CLOCK_MARGIN_MS 100
#define CLUSTER_LEASE_TTL_MAX_MS (24 * 3600 * 1000)

typedef struct ClusterLease
{
	char		name[CLUSTER_LEASE_NAME_MAX + 1];
	char		key[sizeof(CLUSTER_LEASE_PREFIX) + CLUSTER_LEASE_NAME_MAX + 8];
	char		owner[CLUSTER_LEASE_OWNER_MAX + 1];
	int64_t		ttl_ms;
	int64_t		generation;		/* 1 for the first tenure, + 1 per new one */
	int64_t		acquired_ms;	/* store time (as its writer saw it) this
								 * tenure began */
	int64_t		renewed_ms;		/* ... of the latest write */
	int			released;
	char		etag[OBJSTORE_ETAG_LEN];	/* of the object as we know it */
	int64_t		last_modified_s;	/* its Last-Modified (0 = unknown) */
	int64_t		expires_store_ms;	/* store time from which others may take
									 * it over */
	int64_t		deadline_mono_ms;	/* ours only: stop acting by this
									 * CLOCK_MONOTONIC time (ms) */
} ClusterLease;

/* "ok", "held", "lost", "invalid", "store error", "out of memory" */
extern const char *cluster_lease_result_name(int result);

/* A lease name: 1..64 of [A-Za-z0-9._-], starting with a letter or digit. */
extern int	cluster_lease_name_check(const char *name, char *errbuf, size_t errlen);

/* The object store's present time (ms): put probe_key, read its Last-Modified. */
extern int	cluster_lease_store_now(ObjStore *store, const char *probe_key, int64_t *now_ms,
									ObjStoreError *err, char *errbuf, size_t errlen);

/*
 * Parses a lease object's text (its name must be expected_name).  Fills the
 * JSON fields of *lease only.
 */
extern int	cluster_lease_parse(const char *text, size_t len, const char *expected_name,
								ClusterLease *lease, char *errbuf, size_t errlen);

/*
 * Takes the lease name for owner for ttl_ms, or renews it when owner holds
 * it already.  CLUSTER_LEASE_OK: *lease is ours.  CLUSTER_LEASE_HELD:
 * *lease is the holder's (owner, generation, expires_store_ms).  err may
 * be NULL.
 */
extern int	cluster_lease_acquire(ObjStore *store, const char *name, const char *owner,
								  int64_t ttl_ms, int64_t store_now_ms, ClusterLease *lease,
								  ObjStoreError *err, char *errbuf, size_t errlen);

/* Extends our lease by its ttl from now; CLUSTER_LEASE_LOST if it is not ours. */
extern int	cluster_lease_renew(ObjStore *store, ClusterLease *lease, int64_t store_now_ms,
								ObjStoreError *err, char *errbuf, size_t errlen);

/* Marks our lease released; CLUSTER_LEASE_LOST if it was not ours any more. */
extern int	cluster_lease_release(ObjStore *store, ClusterLease *lease, int64_t store_now_ms,
								  ObjStoreError *err, char *errbuf, size_t errlen);

#endif							/* BRAINY_CLUSTER_LEASE_H */
