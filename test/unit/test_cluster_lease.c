/*
 * test_cluster_lease.c - leases (src/cluster/cluster_lease.c) against a
 * real object store: acquire a free lease, refusal while held, takeover at
 * expiry (to the millisecond, with an injected store clock, and once with
 * the store's real clock), renew, renew/release after losing the lease,
 * release then acquire by another, re-acquire renews, 16 threads racing
 * for a free lease and for an expired one (exactly one wins each time),
 * malformed lease objects, bad names, owners and ttls.
 *
 * Without settings it runs against a fresh temporary file:// directory
 * (what `make unittest` does).  test/suites/objstore_s3.sh runs it against
 * RGW with the contract suite's settings (OBJSTORE_URL, OBJSTORE_ENDPOINT,
 * OBJSTORE_ACCESS_KEY_ID, OBJSTORE_SECRET_ACCESS_KEY, OBJSTORE_PATH_STYLE);
 * a run-unique prefix is added to the URL and emptied at the end.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster_lease.h"
#include "test_report.h"

#define NTHREADS 16

static char store_url[1200];
static ObjStoreConfig config;
static char tmpdir[256];

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return (v && v[0]) ? v : NULL;
}

static ObjStore *
open_store(void)
{
	ObjStoreError err;
	ObjStore   *s = objstore_open(store_url, &config, &err);

	if (s == NULL)
	{
		fprintf(stderr, "cannot open %s: %s\n", store_url, err.message);
		exit(2);
	}
	return s;
}

/* the store's present time (ms) by a probe write */
static int64_t
store_now(ObjStore *s)
{
	int64_t		now;
	char		errbuf[256];

	if (cluster_lease_store_now(s, "_brainy/clock/lease-test.json", &now, NULL,
								errbuf, sizeof(errbuf)) != CLUSTER_LEASE_OK)
	{
		fprintf(stderr, "%s\n", errbuf);
		exit(2);
	}
	return now;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
contains(const char *haystack, const char *needle)
{
	return strstr(haystack, needle) != NULL;
}

/* ------------------------------------------------------------ bad input */

static void
test_bad_input(ObjStore *s)
{
	static const char *bad_names[] = {
		"", "../etc", "a/b", ".hidden", "-dash", "_under", "with space", "tab\tname",
		"caf\xc3\xa9", "new\nline", "x*",
		"a123456789012345678901234567890123456789012345678901234567890123456789"
	};
	static const char *good_names[] = {"compaction", "migrate-v2", "A.b_c-9", "0"};
	ClusterLease l;
	ObjStoreList list;
	ObjStoreError err;
	char		errbuf[256];
	char		desc[128];
	char		long_owner[CLUSTER_LEASE_OWNER_MAX + 2];
	size_t		i;

	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
	{
		int			rc = cluster_lease_acquire(s, bad_names[i], "me", 1000, 0, &l, NULL,
											   errbuf, sizeof(errbuf));

		snprintf(desc, sizeof(desc), "bad lease name #%zu refused", i);
		report(rc == CLUSTER_LEASE_EINVAL && contains(errbuf, "lease name"), desc, errbuf);
	}
	for (i = 0; i < sizeof(good_names) / sizeof(good_names[0]); i++)
	{
		snprintf(desc, sizeof(desc), "good lease name \"%s\" accepted", good_names[i]);
		report(cluster_lease_name_check(good_names[i], errbuf, sizeof(errbuf)) == CLUSTER_LEASE_OK,
			   desc, errbuf);
	}

	memset(long_owner, 'o', sizeof(long_owner) - 1);
	long_owner[sizeof(long_owner) - 1] = '\0';
	report(cluster_lease_acquire(s, "x", "", 1000, 0, &l, NULL, errbuf, sizeof(errbuf)) == CLUSTER_LEASE_EINVAL &&
		   contains(errbuf, "owner is empty"), "empty owner refused", errbuf);
	report(cluster_lease_acquire(s, "x", "a\x01" "b", 1000, 0, &l, NULL, errbuf, sizeof(errbuf)) == CLUSTER_LEASE_EINVAL &&
		   contains(errbuf, "control character"), "owner with a control character refused", errbuf);
	report(cluster_lease_acquire(s, "x", long_owner, 1000, 0, &l, NULL, errbuf, sizeof(errbuf)) == CLUSTER_LEASE_EINVAL &&
		   contains(errbuf, "longer than"), "owner of 256 bytes refused", errbuf);
	report(cluster_lease_acquire(s, "x", "me", 0, 0, &l, NULL, errbuf, sizeof(errbuf)) == CLUSTER_LEASE_EINVAL &&
		   contains(errbuf, "ttl"), "ttl 0 refused", errbuf);
	report(cluster_lease_acquire(s, "x", "me", CLUSTER_LEASE_TTL_MIN_MS - 1, 0, &l, NULL, errbuf, sizeof(errbuf)) == CLUSTER_LEASE_EINVAL,
		   "ttl below the minimum refused", errbuf);
	report(cluster_lease_acquire(s, "x", "me", (int64_t) CLUSTER_LEASE_TTL_MAX_MS + 1, 0, &l, NULL, errbuf, sizeof(errbuf)) == CLUSTER_LEASE_EINVAL,
		   "ttl above the maximum refused", errbuf);
	report(objstore_list(s, CLUSTER_LEASE_PREFIX, NULL, &list, &err) == OBJSTORE_OK && list.count == 0,
		   "refused requests wrote nothing", err.message);
	objstore_list_free(&list);

	/* renew / release of a lease never acquired */
	memset(&l, 0, sizeof(l));
	snprintf(l.name, sizeof(l.name), "never");
	snprintf(l.owner, sizeof(l.owner), "me");
	l.ttl_ms = 1000;
	report(cluster_lease_renew(s, &l, 0, NULL, errbuf, sizeof(errbuf)) == CLUSTER_LEASE_EINVAL &&
		   contains(errbuf, "not held"), "renew of a lease never acquired (no ETag) refused", errbuf);
	snprintf(l.etag, sizeof(l.etag), "0123456789abcdef");
	report(cluster_lease_renew(s, &l, 0, NULL, errbuf, sizeof(errbuf)) == CLUSTER_LEASE_LOST,
		   "renew of a lease whose object does not exist: lost", errbuf);
	report(cluster_lease_release(s, &l, 0, NULL, errbuf, sizeof(errbuf)) == CLUSTER_LEASE_LOST,
		   "release of a lease whose object does not exist: lost", errbuf);
	report(objstore_head(s, CLUSTER_LEASE_PREFIX "never.json", NULL, &err) == OBJSTORE_NOT_FOUND,
		   "... and neither created it", err.message);
}

/* ------------------------------------------------------------ lifecycle */

static void
test_lifecycle(ObjStore *s)
{
	ClusterLease a,
				a_old,
				b,
				b_stale,
				c,
				probe;
	ObjStoreBuffer body;
	ObjStoreInfo info;
	ObjStoreError err;
	char		errbuf[256];
	int64_t		now = store_now(s);
	int64_t		t0 = mono_ms();
	int			rc;

	/* a free lease */
	rc = cluster_lease_acquire(s, "life", "node-a", 5000, now, &a, &err, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_LEASE_OK && a.generation == 1 && strcmp(a.owner, "node-a") == 0 &&
		   a.etag[0] != '\0' && !a.released && a.acquired_ms == now && a.renewed_ms == now,
		   "acquire a free lease: ours, generation 1", errbuf);
	report(a.deadline_mono_ms >= t0 + 5000 - CLUSTER_LEASE_CLOCK_MARGIN_MS &&
		   a.deadline_mono_ms <= mono_ms() + 5000 - CLUSTER_LEASE_CLOCK_MARGIN_MS,
		   "holder's deadline: local monotonic time before the write + ttl - margin", "");
	report(objstore_get(s, CLUSTER_LEASE_PREFIX "life.json", NULL, &body, &info, &err) == OBJSTORE_OK &&
		   strcmp(info.etag, a.etag) == 0 && contains(body.data, "\"owner\":\"node-a\"") &&
		   contains(body.data, "\"generation\":1") && contains(body.data, "\"ttlMs\":5000"),
		   "the lease object is _brainy/locks/life.json with owner, ttl, generation", body.data ? body.data : err.message);
	objstore_buffer_free(&body);
	/* the holder's own copy dates the write by the put reply (Last-Modified, or Date on S3) */
	report(a.expires_store_ms >= (info.last_modified + 1) * 1000 + 5000 &&
		   a.expires_store_ms <= (info.last_modified + 2) * 1000 + 5000,
		   "expiry = (Last-Modified + 1 s) + ttl", "");
	rc = cluster_lease_acquire(s, "life", "node-b", 5000, now, &b, &err, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_LEASE_HELD && b.expires_store_ms == (info.last_modified + 1) * 1000 + 5000,
		   "others see expiry = (Last-Modified + 1 s) + ttl exactly", errbuf);
	a.expires_store_ms = b.expires_store_ms;

	/* a second owner is refused while it is held, up to the last millisecond */
	rc = cluster_lease_acquire(s, "life", "node-b", 5000, now, &b, &err, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_LEASE_HELD && strcmp(b.owner, "node-a") == 0 && b.generation == 1 &&
		   b.expires_store_ms == a.expires_store_ms && contains(errbuf, "held by \"node-a\""),
		   "second owner refused while held; told who holds it and until when", errbuf);
	rc = cluster_lease_acquire(s, "life", "node-b", 5000, a.expires_store_ms - 1, &b, &err, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_LEASE_HELD, "... still refused 1 ms before expiry", errbuf);

	/* renew keeps it (new ETag, same generation); a stale copy cannot renew */
	a_old = a;
	rc = cluster_lease_renew(s, &a, now + 10, &err, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_LEASE_OK && a.generation == 1 && a.renewed_ms == now + 10 &&
		   a.acquired_ms == now && strcmp(a.etag, a_old.etag) != 0,
		   "renew: same generation, new ETag", errbuf);
	rc = cluster_lease_acquire(s, "life", "node-b", 5000, now + 10, &b, &err, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_LEASE_HELD && strcmp(b.owner, "node-a") == 0, "after renew still refused to others", errbuf);
	rc = cluster_lease_renew(s, &a_old, now + 20, &err, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_LEASE_LOST, "renew with a stale ETag: lost (If-Match)", errbuf);

	/* re-acquire by the holder renews */
	rc = cluster_lease_acquire(s, "life", "node-a", 5000, now + 30, &a, &err, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_LEASE_OK && a.generation == 1 && a.acquired_ms == now && a.renewed_ms == now + 30,
		   "re-acquire by the holder renews it in the same tenure", errbuf);

	/* takeover exactly at expiry */
	rc = cluster_lease_acquire(s, "life", "node-b", 5000, a.expires_store_ms, &b, &err, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_LEASE_OK && strcmp(b.owner, "node-b") == 0 && b.generation == 2 &&
		   b.acquired_ms == a.expires_store_ms,
		   "takeover of an expired lease: generation 2", errbuf);

	/* the old holder finds out */
	rc = cluster_lease_renew(s, &a, a.expires_store_ms, &err, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_LEASE_LOST && contains(errbuf, "node-b") && a.deadline_mono_ms == 0,
		   "renew after someone took it over: lost, naming the new holder", errbuf);
	a.deadline_mono_ms = 1;
	rc = cluster_lease_release(s, &a, a.expires_store_ms, &err, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_LEASE_LOST, "release after someone took it over: lost", errbuf);
	rc = cluster_lease_acquire(s, "life", "node-c", 5000, now + 40, &probe, &err, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_LEASE_HELD && strcmp(probe.owner, "node-b") == 0 && probe.generation == 2,
		   "... and left the new holder's lease alone", errbuf);

	/* release, then another acquires at once */
	b_stale = b;
	rc = cluster_lease_release(s, &b, now + 50, &err, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_LEASE_OK && b.released && b.deadline_mono_ms == 0, "release", errbuf);
	report(objstore_get(s, CLUSTER_LEASE_PREFIX "life.json", NULL, &body, &info, &err) == OBJSTORE_OK &&
		   contains(body.data, "\"released\":true") && contains(body.data, "\"generation\":2"),
		   "a released lease stays, marked released, keeping its generation", body.data ? body.data : err.message);
	objstore_buffer_free(&body);
	rc = cluster_lease_renew(s, &b, now + 55, &err, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_LEASE_EINVAL && contains(errbuf, "not held"), "renew of a released lease refused", errbuf);
	rc = cluster_lease_renew(s, &b_stale, now + 55, &err, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_LEASE_LOST && contains(errbuf, "released"),
		   "renew through a copy from before the release: lost", errbuf);
	rc = cluster_lease_acquire(s, "life", "node-c", 5000, now + 60, &c, &err, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_LEASE_OK && strcmp(c.owner, "node-c") == 0 && c.generation == 3 && !c.released,
		   "after release another owner acquires before expiry: generation 3", errbuf);
	rc = cluster_lease_acquire(s, "life", "node-b", 5000, now + 70, &b, &err, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_LEASE_HELD && strcmp(b.owner, "node-c") == 0,
		   "the releaser cannot come back while the new owner holds it", errbuf);
}

/* ------------------------------------------------------------ races */

typedef struct RaceArg
{
	const char *name;
	int64_t		now;
	int			index;
	pthread_barrier_t *barrier;
	int			rc;
	ClusterLease lease;
	char		errbuf[256];
} RaceArg;

static void *
race_thread(void *p)
{
	RaceArg    *arg = p;
	ObjStore   *s = open_store();	/* a handle per thread */
	char		owner[32];

	snprintf(owner, sizeof(owner), "racer-%02d", arg->index);
	pthread_barrier_wait(arg->barrier);
	arg->rc = cluster_lease_acquire(s, arg->name, owner, 60000, arg->now, &arg->lease, NULL,
									arg->errbuf, sizeof(arg->errbuf));
	objstore_close(s);
	return NULL;
}

static void
race(const char *name, int64_t now, int64_t want_generation, const char *what)
{
	pthread_t	th[NTHREADS];
	RaceArg		args[NTHREADS];
	pthread_barrier_t barrier;
	int			winners = 0,
				held = 0,
				winner = -1,
				naming_winner = 0,
				i;
	char		desc[160],
				details[512] = "";

	pthread_barrier_init(&barrier, NULL, NTHREADS);
	for (i = 0; i < NTHREADS; i++)
	{
		memset(&args[i], 0, sizeof(args[i]));
		args[i].name = name;
		args[i].now = now;
		args[i].index = i;
		args[i].barrier = &barrier;
		pthread_create(&th[i], NULL, race_thread, &args[i]);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&barrier);
	for (i = 0; i < NTHREADS; i++)
	{
		if (args[i].rc == CLUSTER_LEASE_OK)
		{
			winners++;
			winner = i;
		}
		else if (args[i].rc == CLUSTER_LEASE_HELD)
			held++;
		else
			snprintf(details, sizeof(details), "racer %d: %s: %s", i,
					 cluster_lease_result_name(args[i].rc), args[i].errbuf);
	}
	for (i = 0; winner >= 0 && i < NTHREADS; i++)
		if (args[i].rc == CLUSTER_LEASE_HELD &&
			strcmp(args[i].lease.owner, args[winner].lease.owner) == 0 &&
			args[i].lease.generation == want_generation)
			naming_winner++;
	snprintf(desc, sizeof(desc), "%d threads race for %s: exactly one wins, the rest are told it is held",
			 NTHREADS, what);
	report(winners == 1 && held == NTHREADS - 1, desc, details);
	snprintf(desc, sizeof(desc), "%s: the winner has generation %lld and every loser names the winner",
			 what, (long long) want_generation);
	report(winner >= 0 && args[winner].lease.generation == want_generation &&
		   naming_winner == NTHREADS - 1, desc, "");
}

static void
test_races(ObjStore *s)
{
	ClusterLease old;
	char		errbuf[256];
	int64_t		now = store_now(s);
	int			rc;

	race("race-free", now, 1, "a free lease");

	rc = cluster_lease_acquire(s, "race-expired", "old-holder", 1000, now, &old, NULL, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_LEASE_OK, "a lease with a 1 s ttl for the takeover race", errbuf);
	race("race-expired", old.expires_store_ms, 2, "an expired lease");
}

/* ------------------------------------------------------------ malformed */

static void
test_malformed(ObjStore *s)
{
	static const struct
	{
		const char *text;
		const char *why;
	}			cases[] = {
		{"", "not a JSON object"},
		{"not json", "not a JSON object"},
		{"[1, 2]", "not a JSON object"},
		{"{\"name\": \"bad\", ", "not a JSON object"},
		{"{}", "does not name itself"},
		{"{\"name\":\"other\",\"owner\":\"x\",\"ttlMs\":1000,\"generation\":1,\"acquiredMs\":0,\"renewedMs\":0,\"released\":false}", "does not name itself"},
		{"{\"name\":\"bad\",\"ttlMs\":1000,\"generation\":1,\"acquiredMs\":0,\"renewedMs\":0,\"released\":false}", "owner"},
		{"{\"name\":\"bad\",\"owner\":\"\",\"ttlMs\":1000,\"generation\":1,\"acquiredMs\":0,\"renewedMs\":0,\"released\":false}", "owner is empty"},
		{"{\"name\":\"bad\",\"owner\":\"x\",\"ttlMs\":\"1000\",\"generation\":1,\"acquiredMs\":0,\"renewedMs\":0,\"released\":false}", "ttlMs"},
		{"{\"name\":\"bad\",\"owner\":\"x\",\"ttlMs\":-5,\"generation\":1,\"acquiredMs\":0,\"renewedMs\":0,\"released\":false}", "ttl"},
		{"{\"name\":\"bad\",\"owner\":\"x\",\"ttlMs\":1000,\"generation\":0,\"acquiredMs\":0,\"renewedMs\":0,\"released\":false}", "generation 0"},
		{"{\"name\":\"bad\",\"owner\":\"x\",\"ttlMs\":1000,\"generation\":1.5,\"acquiredMs\":0,\"renewedMs\":0,\"released\":false}", "generation"},
		{"{\"name\":\"bad\",\"owner\":\"x\",\"ttlMs\":1000,\"generation\":1,\"renewedMs\":0,\"released\":false}", "acquiredMs"},
		{"{\"name\":\"bad\",\"owner\":\"x\",\"ttlMs\":1000,\"generation\":1,\"acquiredMs\":0,\"renewedMs\":0}", "released"},
		{"{\"name\":\"bad\",\"owner\":\"x\",\"ttlMs\":1000,\"generation\":1,\"acquiredMs\":0,\"renewedMs\":0,\"released\":\"no\"}", "released"},
	};
	const char *key = CLUSTER_LEASE_PREFIX "bad.json";
	ObjStoreInfo before,
				after;
	ObjStoreError err;
	ClusterLease l;
	char		errbuf[256],
				desc[160],
				details[400];
	int64_t		now = store_now(s);
	size_t		i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		int			rc;

		if (objstore_put(s, key, cases[i].text, strlen(cases[i].text), OBJSTORE_PUT_PLAIN, NULL,
						 &before, &err) != OBJSTORE_OK)
		{
			report(0, "write a malformed lease object", err.message);
			continue;
		}
		errbuf[0] = '\0';
		/* far in the future: even an "expired" malformed lease is not overwritten */
		rc = cluster_lease_acquire(s, "bad", "me", 1000, now + 3600 * 1000, &l, NULL, errbuf, sizeof(errbuf));
		snprintf(desc, sizeof(desc), "malformed lease object #%zu: a clear error, the object left alone", i);
		snprintf(details, sizeof(details), "[%s] %s", cluster_lease_result_name(rc), errbuf);
		report(rc == CLUSTER_LEASE_EINVAL && contains(errbuf, "is malformed") &&
			   contains(errbuf, cases[i].why) &&
			   objstore_head(s, key, &after, &err) == OBJSTORE_OK &&
			   strcmp(after.etag, before.etag) == 0, desc, details);
	}
}

/* ------------------------------------------------------------ real clock */

static void
test_real_clock(ObjStore *s)
{
	ClusterLease a,
				b;
	char		errbuf[256];
	int64_t		now = store_now(s);
	int64_t		give_up = mono_ms() + 8000;
	time_t		local = time(NULL);
	int			rc;

	report(now / 1000 > local - 300 && now / 1000 < local + 300,
		   "the store's clock (Last-Modified of a probe write) is close to ours", "");
	rc = cluster_lease_acquire(s, "clock", "node-a", 1000, now, &a, NULL, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_LEASE_OK, "acquire with a 1 s ttl on the store's clock", errbuf);
	rc = cluster_lease_acquire(s, "clock", "node-b", 1000, store_now(s), &b, NULL, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_LEASE_HELD, "held right after, on the store's clock", errbuf);
	do
	{
		usleep(250 * 1000);
		rc = cluster_lease_acquire(s, "clock", "node-b", 1000, store_now(s), &b, NULL, errbuf, sizeof(errbuf));
	} while (rc == CLUSTER_LEASE_HELD && mono_ms() < give_up);
	report(rc == CLUSTER_LEASE_OK && b.generation == 2,
		   "taken over once the store's clock passed expiry (within 8 s)", errbuf);
	printf("# taken over %lld ms after the first holder's deadline (negative: before)\n",
		   (long long) (mono_ms() - a.deadline_mono_ms));
	report(mono_ms() >= a.deadline_mono_ms,
		   "not before the first holder's own deadline had passed", "");
}

/* ------------------------------------------------------------ cleanup */

static void
cleanup(ObjStore *s)
{
	ObjStoreList list;
	ObjStoreError err;
	int			ok = 1;

	if (objstore_list(s, NULL, NULL, &list, &err) != OBJSTORE_OK)
	{
		report(0, "list for clean-up", err.message);
		return;
	}
	for (size_t i = 0; i < list.count; i++)
		if (objstore_delete(s, list.entries[i].key, &err) != OBJSTORE_OK)
			ok = 0;
	objstore_list_free(&list);
	report(ok && objstore_list(s, NULL, NULL, &list, &err) == OBJSTORE_OK && list.count == 0,
		   "every test object deleted", err.message);
	objstore_list_free(&list);
}

int
main(void)
{
	ObjStore   *s;

	srand((unsigned) time(NULL) ^ (unsigned) getpid());
	if (env("OBJSTORE_URL") == NULL)
	{
		snprintf(tmpdir, sizeof(tmpdir), "%s/brainy-lease.XXXXXX",
				 env("TMPDIR") ? env("TMPDIR") : "/tmp");
		if (mkdtemp(tmpdir) == NULL)
		{
			perror("mkdtemp");
			return 2;
		}
		snprintf(store_url, sizeof(store_url), "file://%s/bucket", tmpdir);
		config.no_fsync = 1;	/* speed: crash safety is not what this tests */
	}
	else
	{
		const char *url = env("OBJSTORE_URL");
		size_t		len = strlen(url);

		snprintf(store_url, sizeof(store_url), "%s%slease-%d-%d", url,
				 (len > 0 && url[len - 1] == '/') ? "" : "/", (int) getpid(), rand() % 100000);
	}
	config.endpoint = env("OBJSTORE_ENDPOINT");
	config.region = env("OBJSTORE_REGION");
	config.access_key_id = env("OBJSTORE_ACCESS_KEY_ID");
	config.secret_access_key = env("OBJSTORE_SECRET_ACCESS_KEY");
	config.force_path_style = env("OBJSTORE_PATH_STYLE") != NULL;
	config.timeout_ms = 20000;
	printf("# store %s\n", store_url);

	s = open_store();
	test_bad_input(s);
	test_lifecycle(s);
	test_races(s);
	test_malformed(s);
	test_real_clock(s);
	cleanup(s);
	objstore_close(s);
	if (tmpdir[0])
	{
		char		cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	return report_summary();
}
