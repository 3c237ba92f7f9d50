/*
 * cluster_lease.c - leases in _brainy/locks/<name>.json: acquire (create or
 * take over), renew, release, with conditional puts on the object store.
 * See cluster_lease.h for the protocol and how time is judged.
 *
 * Why release writes a released state instead of deleting: a delete
 * cannot be made conditional on the ETag (S3 DELETE takes no If-Match), so
 * "check that it is ours, then delete" could delete the lease of someone
 * who took it over in between; and a deleted object would start the next
 * tenure at generation 1 again, which breaks the fencing token.  A
 * released lease stays (a few hundred bytes) and acquire treats it as free.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cluster.h"
#include "cluster_lease.h"

/* rounds of read + conditional write before acquire gives up on contention */
#define LEASE_MAX_ROUNDS 8

const char *
cluster_lease_result_name(int result)
{
	switch (result)
	{
		case CLUSTER_LEASE_OK:
			return "ok";
		case CLUSTER_LEASE_HELD:
			return "held";
		case CLUSTER_LEASE_LOST:
			return "lost";
		case CLUSTER_LEASE_EINVAL:
			return "invalid";
		case CLUSTER_LEASE_ESTORE:
			return "store error";
		case CLUSTER_LEASE_ENOMEM:
			return "out of memory";
	}
	return "unknown";
}

static int64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
cluster_lease_name_check(const char *name, char *errbuf, size_t errlen)
{
	size_t		i,
				len;

	if (name == NULL || name[0] == '\0')
	{
		snprintf(errbuf, errlen, "lease name is empty");
		return CLUSTER_LEASE_EINVAL;
	}
	len = strlen(name);
	if (len > CLUSTER_LEASE_NAME_MAX)
	{
		snprintf(errbuf, errlen, "lease name is longer than %d bytes", CLUSTER_LEASE_NAME_MAX);
		return CLUSTER_LEASE_EINVAL;
	}
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) name[i];
		int			alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9');

		if (i == 0 && !alnum)
		{
			snprintf(errbuf, errlen, "lease name must start with a letter or digit");
			return CLUSTER_LEASE_EINVAL;
		}
		if (!alnum && c != '.' && c != '_' && c != '-')
		{
			snprintf(errbuf, errlen, "lease name has a character other than [A-Za-z0-9._-] at byte %zu", i);
			return CLUSTER_LEASE_EINVAL;
		}
	}
	return CLUSTER_LEASE_OK;
}

static int
owner_check(const char *owner, char *errbuf, size_t errlen)
{
	size_t		i,
				len;

	if (owner == NULL || owner[0] == '\0')
	{
		snprintf(errbuf, errlen, "lease owner is empty");
		return CLUSTER_LEASE_EINVAL;
	}
	len = strlen(owner);
	if (len > CLUSTER_LEASE_OWNER_MAX)
	{
		snprintf(errbuf, errlen, "lease owner is longer than %d bytes", CLUSTER_LEASE_OWNER_MAX);
		return CLUSTER_LEASE_EINVAL;
	}
	for (i = 0; i < len; i++)
		if ((unsigned char) owner[i] < 0x20 || owner[i] == 0x7f)
		{
			snprintf(errbuf, errlen, "lease owner has a control character at byte %zu", i);
			return CLUSTER_LEASE_EINVAL;
		}
	return CLUSTER_LEASE_OK;
}

static int
ttl_check(int64_t ttl_ms, char *errbuf, size_t errlen)
{
	if (ttl_ms < CLUSTER_LEASE_TTL_MIN_MS || ttl_ms > CLUSTER_LEASE_TTL_MAX_MS)
	{
		snprintf(errbuf, errlen, "lease ttl %lld ms is outside %d .. %d ms",
				 (long long) ttl_ms, CLUSTER_LEASE_TTL_MIN_MS, CLUSTER_LEASE_TTL_MAX_MS);
		return CLUSTER_LEASE_EINVAL;
	}
	return CLUSTER_LEASE_OK;
}

int
cluster_lease_store_now(ObjStore *store, const char *probe_key, int64_t *now_ms,
						ObjStoreError *err, char *errbuf, size_t errlen)
{
	ObjStoreError local;
	ObjStoreInfo info;

	if (err == NULL)
		err = &local;
	*now_ms = 0;
	if (objstore_put(store, probe_key, "{}", 2, OBJSTORE_PUT_PLAIN, NULL, NULL, err) != OBJSTORE_OK ||
		objstore_head(store, probe_key, &info, err) != OBJSTORE_OK)
	{
		snprintf(errbuf, errlen, "could not read the object store's clock from \"%s\": %s",
				 probe_key, err->message);
		return CLUSTER_LEASE_ESTORE;
	}
	*now_ms = info.last_modified * 1000;
	return CLUSTER_LEASE_OK;
}

/* ------------------------------------------------------------------ JSON */

static char *
lease_to_json(const ClusterLease *l)
{
	json_object *o = json_object_new_object();
	char	   *out = NULL;
	int			bad = 0;

	if (o == NULL)
		return NULL;
	bad |= json_object_object_add(o, "name", json_object_new_string(l->name));
	bad |= json_object_object_add(o, "owner", json_object_new_string(l->owner));
	bad |= json_object_object_add(o, "ttlMs", json_object_new_int64(l->ttl_ms));
	bad |= json_object_object_add(o, "generation", json_object_new_int64(l->generation));
	bad |= json_object_object_add(o, "acquiredMs", json_object_new_int64(l->acquired_ms));
	bad |= json_object_object_add(o, "renewedMs", json_object_new_int64(l->renewed_ms));
	bad |= json_object_object_add(o, "released", json_object_new_boolean(l->released));
	if (!bad)
	{
		const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
													   JSON_C_TO_STRING_NOSLASHESCAPE);

		out = s ? strdup(s) : NULL;
	}
	json_object_put(o);
	return out;
}

/* the integer field key of o, or -1 (with a message) when missing or not an integer */
static int
get_int_field(json_object *o, const char *key, int64_t *out, char *errbuf, size_t errlen)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
	{
		snprintf(errbuf, errlen, "lease object has no integer \"%s\"", key);
		return -1;
	}
	*out = json_object_get_int64(v);
	return 0;
}

int
cluster_lease_parse(const char *text, size_t len, const char *expected_name,
					ClusterLease *lease, char *errbuf, size_t errlen)
{
	json_tokener *tok;
	json_object *o,
			   *v;
	const char *s;
	int			rc = CLUSTER_LEASE_EINVAL;

	if (len > 65536)
	{
		snprintf(errbuf, errlen, "lease object is %zu bytes, more than a lease can be", len);
		return CLUSTER_LEASE_EINVAL;
	}
	if ((tok = json_tokener_new()) == NULL)
	{
		snprintf(errbuf, errlen, "out of memory");
		return CLUSTER_LEASE_ENOMEM;
	}
	o = json_tokener_parse_ex(tok, text, (int) len);
	if (json_tokener_get_error(tok) != json_tokener_success || o == NULL ||
		!json_object_is_type(o, json_type_object))
	{
		snprintf(errbuf, errlen, "lease object is not a JSON object (%s)",
				 json_tokener_error_desc(json_tokener_get_error(tok)));
		json_tokener_free(tok);
		json_object_put(o);
		return CLUSTER_LEASE_EINVAL;
	}
	json_tokener_free(tok);

	if (!json_object_object_get_ex(o, "name", &v) || !json_object_is_type(v, json_type_string) ||
		strcmp(json_object_get_string(v), expected_name) != 0)
	{
		snprintf(errbuf, errlen, "lease object does not name itself \"%s\"", expected_name);
		goto done;
	}
	if (!json_object_object_get_ex(o, "owner", &v) || !json_object_is_type(v, json_type_string))
	{
		snprintf(errbuf, errlen, "lease object has no string \"owner\"");
		goto done;
	}
	s = json_object_get_string(v);
	if (owner_check(s, errbuf, errlen) != CLUSTER_LEASE_OK)
		goto done;
	if (get_int_field(o, "ttlMs", &lease->ttl_ms, errbuf, errlen) < 0 ||
		get_int_field(o, "generation", &lease->generation, errbuf, errlen) < 0 ||
		get_int_field(o, "acquiredMs", &lease->acquired_ms, errbuf, errlen) < 0 ||
		get_int_field(o, "renewedMs", &lease->renewed_ms, errbuf, errlen) < 0)
		goto done;
	if (ttl_check(lease->ttl_ms, errbuf, errlen) != CLUSTER_LEASE_OK)
		goto done;
	if (lease->generation < 1)
	{
		snprintf(errbuf, errlen, "lease object has generation %lld (must be >= 1)",
				 (long long) lease->generation);
		goto done;
	}
	if (!json_object_object_get_ex(o, "released", &v) || !json_object_is_type(v, json_type_boolean))
	{
		snprintf(errbuf, errlen, "lease object has no boolean \"released\"");
		goto done;
	}
	lease->released = json_object_get_boolean(v) ? 1 : 0;
	snprintf(lease->name, sizeof(lease->name), "%s", expected_name);
	snprintf(lease->owner, sizeof(lease->owner), "%s", s);
	rc = CLUSTER_LEASE_OK;
done:
	json_object_put(o);
	return rc;
}

/* ------------------------------------------------------------ store I/O */

static void
set_key(ClusterLease *l, const char *name)
{
	snprintf(l->name, sizeof(l->name), "%s", name);
	snprintf(l->key, sizeof(l->key), CLUSTER_LEASE_PREFIX "%s.json", name);
}

static int64_t
expires_at(const ClusterLease *l, int64_t store_now_ms)
{
	int64_t		lm = l->last_modified_s > 0 ? l->last_modified_s : store_now_ms / 1000;

	return (lm + 1) * 1000 + l->ttl_ms;
}

/*
 * Reads the lease object into *l (JSON fields, ETag, Last-Modified).
 * OBJSTORE_NOT_FOUND is passed back as CLUSTER_LEASE_LOST with *nf set.
 */
static int
read_lease(ObjStore *store, const char *name, ClusterLease *l, int *nf,
		   ObjStoreError *err, char *errbuf, size_t errlen)
{
	ObjStoreBuffer body;
	ObjStoreInfo info;
	ObjStoreStatus st;
	int			rc;
	char		why[CLUSTER_ERRLEN];

	*nf = 0;
	memset(l, 0, sizeof(*l));
	set_key(l, name);
	memset(&body, 0, sizeof(body));
	st = objstore_get(store, l->key, NULL, &body, &info, err);
	if (st == OBJSTORE_NOT_FOUND)
	{
		*nf = 1;
		snprintf(errbuf, errlen, "lease object \"%s\" does not exist", l->key);
		return CLUSTER_LEASE_LOST;
	}
	if (st != OBJSTORE_OK)
	{
		snprintf(errbuf, errlen, "could not read lease object \"%s\": %s", l->key, err->message);
		return st == OBJSTORE_NO_MEMORY ? CLUSTER_LEASE_ENOMEM : CLUSTER_LEASE_ESTORE;
	}
	rc = cluster_lease_parse(body.data, body.len, name, l, why, sizeof(why));
	objstore_buffer_free(&body);
	if (rc != CLUSTER_LEASE_OK)
	{
		snprintf(errbuf, errlen, "lease object \"%s\" is malformed: %s", l->key, why);
		return rc;
	}
	snprintf(l->etag, sizeof(l->etag), "%s", info.etag);
	l->last_modified_s = info.last_modified;
	l->expires_store_ms = expires_at(l, 0);
	return CLUSTER_LEASE_OK;
}

/* whether two lease states are the same write (ours, repeated) */
static int
same_write(const ClusterLease *a, const ClusterLease *b)
{
	return strcmp(a->owner, b->owner) == 0 && a->generation == b->generation &&
		a->released == b->released && a->acquired_ms == b->acquired_ms &&
		a->renewed_ms == b->renewed_ms && a->ttl_ms == b->ttl_ms;
}

/*
 * Writes the state *want (mode and if_match as for objstore_put) and, on
 * success, sets its ETag, Last-Modified, expiry and deadline.  A 412 that
 * came after an attempt which failed in transit (err->maybe_applied) may
 * be our own earlier attempt: the object is read back and, if it is
 * exactly what we wrote, the write counts as done.
 */
static ObjStoreStatus
write_lease(ObjStore *store, ClusterLease *want, ObjStorePutMode mode, const char *if_match,
			int64_t store_now_ms, ObjStoreError *err)
{
	ObjStoreInfo info;
	ObjStoreStatus st;
	int64_t		t0 = monotonic_ms();
	char	   *json = lease_to_json(want);

	if (json == NULL)
	{
		memset(err, 0, sizeof(*err));
		err->status = OBJSTORE_NO_MEMORY;
		snprintf(err->message, sizeof(err->message), "out of memory");
		return OBJSTORE_NO_MEMORY;
	}
	memset(&info, 0, sizeof(info));
	st = objstore_put(store, want->key, json, strlen(json), mode, if_match, &info, err);
	free(json);
	if (st == OBJSTORE_PRECONDITION_FAILED && err->maybe_applied)
	{
		ClusterLease back;
		ObjStoreError e2;
		char		ignored[CLUSTER_ERRLEN];
		int			nf;

		if (read_lease(store, want->name, &back, &nf, &e2, ignored, sizeof(ignored)) == CLUSTER_LEASE_OK &&
			same_write(&back, want))
		{
			snprintf(info.etag, sizeof(info.etag), "%s", back.etag);
			info.last_modified = back.last_modified_s;
			st = OBJSTORE_OK;
		}
	}
	if (st != OBJSTORE_OK)
		return st;
	snprintf(want->etag, sizeof(want->etag), "%s", info.etag);
	want->last_modified_s = info.last_modified;
	want->expires_store_ms = expires_at(want, store_now_ms);
	want->deadline_mono_ms = want->released ? 0 :
		t0 + want->ttl_ms - CLUSTER_LEASE_CLOCK_MARGIN_MS;
	return OBJSTORE_OK;
}

static int
store_failure(const char *what, const ClusterLease *l, const ObjStoreError *err,
			  char *errbuf, size_t errlen)
{
	snprintf(errbuf, errlen, "could not %s lease object \"%s\": %s", what, l->key, err->message);
	return err->status == OBJSTORE_NO_MEMORY ? CLUSTER_LEASE_ENOMEM : CLUSTER_LEASE_ESTORE;
}

static int
held_by(const ClusterLease *cur, int64_t store_now_ms, char *errbuf, size_t errlen)
{
	snprintf(errbuf, errlen,
			 "lease \"%s\" is held by \"%s\" (generation %lld) until store time %lld ms (%lld ms from now)",
			 cur->name, cur->owner, (long long) cur->generation,
			 (long long) cur->expires_store_ms,
			 (long long) (cur->expires_store_ms - store_now_ms));
	return CLUSTER_LEASE_HELD;
}

/* -------------------------------------------------------------- the API */

int
cluster_lease_acquire(ObjStore *store, const char *name, const char *owner,
					  int64_t ttl_ms, int64_t store_now_ms, ClusterLease *lease,
					  ObjStoreError *err, char *errbuf, size_t errlen)
{
	ObjStoreError local;
	ClusterLease want,
				cur;
	ObjStoreStatus st;
	int			need_create = 1,
				round,
				rc,
				nf;

	if (err == NULL)
		err = &local;
	memset(err, 0, sizeof(*err));
	memset(lease, 0, sizeof(*lease));
	if ((rc = cluster_lease_name_check(name, errbuf, errlen)) != CLUSTER_LEASE_OK ||
		(rc = owner_check(owner, errbuf, errlen)) != CLUSTER_LEASE_OK ||
		(rc = ttl_check(ttl_ms, errbuf, errlen)) != CLUSTER_LEASE_OK)
		return rc;
	memset(&cur, 0, sizeof(cur));
	for (round = 0; round < LEASE_MAX_ROUNDS; round++)
	{
		int			ours,
					expired;

		memset(&want, 0, sizeof(want));
		set_key(&want, name);
		snprintf(want.owner, sizeof(want.owner), "%s", owner);
		want.ttl_ms = ttl_ms;
		want.acquired_ms = want.renewed_ms = store_now_ms;

		if (need_create)
		{
			want.generation = 1;
			st = write_lease(store, &want, OBJSTORE_PUT_IF_NONE_MATCH, NULL, store_now_ms, err);
			if (st == OBJSTORE_OK)
			{
				*lease = want;
				return CLUSTER_LEASE_OK;
			}
			if (st != OBJSTORE_PRECONDITION_FAILED)
				return store_failure("create", &want, err, errbuf, errlen);
			need_create = 0;
		}

		rc = read_lease(store, name, &cur, &nf, err, errbuf, errlen);
		if (nf)
		{
			/* it was there a moment ago: someone's delete, start over */
			need_create = 1;
			continue;
		}
		if (rc != CLUSTER_LEASE_OK)
			return rc;
		ours = !cur.released && strcmp(cur.owner, owner) == 0;
		expired = store_now_ms >= cur.expires_store_ms;
		if (!cur.released && !expired && !ours)
		{
			*lease = cur;
			return held_by(&cur, store_now_ms, errbuf, errlen);
		}
		if (ours && !expired)
		{
			/* we hold it already: a renewal within the same tenure */
			want.generation = cur.generation;
			want.acquired_ms = cur.acquired_ms;
		}
		else
			want.generation = cur.generation + 1;
		st = write_lease(store, &want, OBJSTORE_PUT_IF_MATCH, cur.etag, store_now_ms, err);
		if (st == OBJSTORE_OK)
		{
			*lease = want;
			return CLUSTER_LEASE_OK;
		}
		/* 412: someone else wrote it since we read it; 404: deleted */
		if (st == OBJSTORE_NOT_FOUND)
			need_create = 1;
		else if (st != OBJSTORE_PRECONDITION_FAILED)
			return store_failure("write", &want, err, errbuf, errlen);
	}
	*lease = cur;
	snprintf(errbuf, errlen, "lease \"%s\" changed hands under us %d times in a row: giving up for now (last seen with \"%s\")",
			 name, LEASE_MAX_ROUNDS, cur.owner);
	return CLUSTER_LEASE_HELD;
}

/* the message for a renew or release that found the lease no longer ours */
static int
lost(ObjStore *store, const ClusterLease *mine, const char *what, char *errbuf, size_t errlen)
{
	ClusterLease cur;
	ObjStoreError e2;
	char		why[CLUSTER_ERRLEN];
	int			nf;

	if (read_lease(store, mine->name, &cur, &nf, &e2, why, sizeof(why)) == CLUSTER_LEASE_OK)
		snprintf(errbuf, errlen, "could not %s lease \"%s\": it is no longer ours (now \"%s\", generation %lld%s)",
				 what, mine->name, cur.owner, (long long) cur.generation,
				 cur.released ? ", released" : "");
	else
		snprintf(errbuf, errlen, "could not %s lease \"%s\": it is no longer ours (%s)",
				 what, mine->name, why);
	return CLUSTER_LEASE_LOST;
}

static int
check_mine(const ClusterLease *lease, char *errbuf, size_t errlen)
{
	int			rc;

	if ((rc = cluster_lease_name_check(lease->name, errbuf, errlen)) != CLUSTER_LEASE_OK ||
		(rc = owner_check(lease->owner, errbuf, errlen)) != CLUSTER_LEASE_OK ||
		(rc = ttl_check(lease->ttl_ms, errbuf, errlen)) != CLUSTER_LEASE_OK)
		return rc;
	if (lease->etag[0] == '\0' || lease->released)
	{
		snprintf(errbuf, errlen, "lease \"%s\" is not held (never acquired, or released)", lease->name);
		return CLUSTER_LEASE_EINVAL;
	}
	return CLUSTER_LEASE_OK;
}

/* renew (released = 0) or release (released = 1) by If-Match on our ETag */
static int
rewrite_mine(ObjStore *store, ClusterLease *lease, int released, int64_t store_now_ms,
			 ObjStoreError *err, char *errbuf, size_t errlen)
{
	ObjStoreError local;
	ClusterLease want;
	ObjStoreStatus st;
	int			rc;
	const char *what = released ? "release" : "renew";

	if (err == NULL)
		err = &local;
	memset(err, 0, sizeof(*err));
	if ((rc = check_mine(lease, errbuf, errlen)) != CLUSTER_LEASE_OK)
		return rc;
	want = *lease;
	set_key(&want, lease->name);
	want.renewed_ms = store_now_ms;
	want.released = released;
	st = write_lease(store, &want, OBJSTORE_PUT_IF_MATCH, lease->etag, store_now_ms, err);
	if (st == OBJSTORE_PRECONDITION_FAILED || st == OBJSTORE_NOT_FOUND)
	{
		lease->deadline_mono_ms = 0;
		return lost(store, lease, what, errbuf, errlen);
	}
	if (st != OBJSTORE_OK)
		return store_failure(what, &want, err, errbuf, errlen);
	*lease = want;
	return CLUSTER_LEASE_OK;
}

int
cluster_lease_renew(ObjStore *store, ClusterLease *lease, int64_t store_now_ms,
					ObjStoreError *err, char *errbuf, size_t errlen)
{
	return rewrite_mine(store, lease, 0, store_now_ms, err, errbuf, errlen);
}

int
cluster_lease_release(ObjStore *store, ClusterLease *lease, int64_t store_now_ms,
					  ObjStoreError *err, char *errbuf, size_t errlen)
{
	return rewrite_mine(store, lease, 1, store_now_ms, err, errbuf, errlen);
}
