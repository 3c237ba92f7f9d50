/*
 * test_objstore_contract.c - the object store contract, run against any
 * backend: every operation, 404/412 cases, range reads, 8 MiB and empty
 * objects, keys with spaces, unicode and punctuation, paging over more than
 * 1,000 keys, 16 threads racing a create-only put (exactly one wins) and a
 * compare-and-swap counter (no lost update), invalid keys, statistics.
 * Against S3 also: connection reuse, a wrong secret (access denied, no
 * credential in the message), and optionally the same operations through
 * the fault-injecting proxy (test/unit/fault_proxy.c).
 *
 * Without settings it runs against a fresh temporary file:// directory
 * (what `make unittest` does).  test/suites/objstore_s3.sh runs it against
 * RGW with:
 *
 *	OBJSTORE_URL=s3://bucket[/prefix]      the store
 *	OBJSTORE_ENDPOINT=http://127.0.0.1:N   endpoint
 *	OBJSTORE_ACCESS_KEY_ID, OBJSTORE_SECRET_ACCESS_KEY
 *	OBJSTORE_PATH_STYLE=1                  path-style addressing
 *	OBJSTORE_DEVIATIONS=rgw                allow RGW's documented deviations
 *	OBJSTORE_QUICK=1                       basic operations only
 *	OBJSTORE_FAULTS=1                      also run through the fault proxy
 *
 * Deviations allowed for with OBJSTORE_DEVIATIONS=rgw (see
 * docs/objstore.md): a compare-and-swap put on a missing key gets 412 from
 * RGW where AWS (and the file backend) answer 404.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fault_proxy.h"
#include "objstore_internal.h"
#include "test_report.h"

static const char *store_url;
static ObjStoreConfig config;
static int	is_s3;
static int	rgw;
static char run_prefix[64];
static char tmpdir[256];

static char *
k(const char *key)
{
	/* per thread: the race tests call this from 16 threads at once */
	static _Thread_local char buf[8][OBJSTORE_KEY_MAX + 1];
	static _Thread_local int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s%s", run_prefix, key);
	return buf[i];
}

static ObjStore *
open_store(const ObjStoreConfig *c)
{
	ObjStoreError err;
	ObjStore   *s = objstore_open(store_url, c, &err);

	if (s == NULL)
	{
		fprintf(stderr, "cannot open %s: %s\n", store_url, err.message);
		exit(2);
	}
	return s;
}

static char *
fmt_err(const ObjStoreError *e)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "[%s http=%d code=%s attempts=%d] %s",
			 objstore_status_name(e->status), e->http_status, e->code,
			 e->attempts, e->message);
	return buf;
}

static void
put_ok(ObjStore *s, const char *key, const void *data, size_t len, ObjStoreInfo *info)
{
	ObjStoreError err;
	char		desc[OBJSTORE_KEY_MAX + 32];

	snprintf(desc, sizeof(desc), "put %s", key);
	report(objstore_put(s, key, data, len, OBJSTORE_PUT_PLAIN, NULL, info, &err) == OBJSTORE_OK,
		   desc, fmt_err(&err));
}

/* GET key and compare with data; returns 1 if equal. */
static int
get_equals(ObjStore *s, const char *key, const void *data, size_t len, ObjStoreInfo *info)
{
	ObjStoreBuffer b;
	ObjStoreError err;
	int			ok;

	if (objstore_get(s, key, NULL, &b, info, &err) != OBJSTORE_OK)
	{
		printf("# get %s: %s\n", key, fmt_err(&err));
		return 0;
	}
	ok = b.len == len && (len == 0 || memcmp(b.data, data, len) == 0);
	objstore_buffer_free(&b);
	return ok;
}

/* ------------------------------------------------------------- basics */

static void
test_basic(ObjStore *s)
{
	ObjStoreInfo pinfo,
				hinfo,
				ginfo;
	ObjStoreError err;
	ObjStoreBuffer b;
	const char *v1 = "hello, bucket";
	const char *v2 = "second version";
	time_t		now = time(NULL);

	put_ok(s, k("basic/obj"), v1, strlen(v1), &pinfo);
	report(pinfo.etag[0] != '\0' && pinfo.size == strlen(v1), "put returns ETag and size", pinfo.etag);
	report(objstore_head(s, k("basic/obj"), &hinfo, &err) == OBJSTORE_OK, "head", fmt_err(&err));
	report(get_equals(s, k("basic/obj"), v1, strlen(v1), &ginfo), "get returns the body", "");
	report(strcmp(pinfo.etag, hinfo.etag) == 0 && strcmp(hinfo.etag, ginfo.etag) == 0,
		   "put, head and get agree on the ETag", hinfo.etag);
	report(hinfo.size == strlen(v1) && ginfo.size == strlen(v1), "head and get report the size", "");
	report(ginfo.last_modified > now - 300 && ginfo.last_modified < now + 300 &&
		   hinfo.last_modified == ginfo.last_modified,
		   "Last-Modified is the server's recent time", "");
	report(strchr(hinfo.etag, '"') == NULL, "ETags come without quotes", hinfo.etag);

	put_ok(s, k("basic/obj"), v2, strlen(v2), &pinfo);
	report(get_equals(s, k("basic/obj"), v2, strlen(v2), &ginfo) &&
		   strcmp(ginfo.etag, hinfo.etag) != 0, "plain put overwrites; new ETag", "");

	report(objstore_get(s, k("basic/missing"), NULL, &b, NULL, &err) == OBJSTORE_NOT_FOUND &&
		   err.status == OBJSTORE_NOT_FOUND && b.data == NULL,
		   "get of a missing key: not found, empty body", fmt_err(&err));
	report(objstore_head(s, k("basic/missing"), &hinfo, &err) == OBJSTORE_NOT_FOUND,
		   "head of a missing key: not found", fmt_err(&err));
	report(objstore_delete(s, k("basic/obj"), &err) == OBJSTORE_OK, "delete", fmt_err(&err));
	report(objstore_head(s, k("basic/obj"), &hinfo, &err) == OBJSTORE_NOT_FOUND,
		   "deleted key is gone", fmt_err(&err));
	report(objstore_delete(s, k("basic/obj"), &err) == OBJSTORE_OK,
		   "deleting a missing key succeeds", fmt_err(&err));

	/* equal content, equal ETag (content hash / MD5) */
	put_ok(s, k("basic/same1"), v1, strlen(v1), &pinfo);
	put_ok(s, k("basic/same2"), v1, strlen(v1), &hinfo);
	report(strcmp(pinfo.etag, hinfo.etag) == 0, "equal content gives equal ETags", "");
}

static void
test_conditional(ObjStore *s)
{
	ObjStoreInfo a,
				b,
				cur;
	ObjStoreError err;
	ObjStoreStatus st;

	objstore_delete(s, k("cond/x"), NULL);
	st = objstore_put(s, k("cond/x"), "one", 3, OBJSTORE_PUT_IF_NONE_MATCH, NULL, &a, &err);
	report(st == OBJSTORE_OK, "create-only on a new key succeeds", fmt_err(&err));
	st = objstore_put(s, k("cond/x"), "two", 3, OBJSTORE_PUT_IF_NONE_MATCH, NULL, &b, &err);
	report(st == OBJSTORE_PRECONDITION_FAILED && err.http_status == 412,
		   "create-only on an existing key: 412 precondition failed", fmt_err(&err));
	report(get_equals(s, k("cond/x"), "one", 3, NULL), "the existing object is untouched", "");

	st = objstore_put(s, k("cond/x"), "three", 5, OBJSTORE_PUT_IF_MATCH, a.etag, &b, &err);
	report(st == OBJSTORE_OK, "compare-and-swap with the current ETag succeeds", fmt_err(&err));
	report(get_equals(s, k("cond/x"), "three", 5, &cur) && strcmp(cur.etag, b.etag) == 0,
		   "compare-and-swap wrote; its ETag is the new one", "");
	st = objstore_put(s, k("cond/x"), "four", 4, OBJSTORE_PUT_IF_MATCH, a.etag, NULL, &err);
	report(st == OBJSTORE_PRECONDITION_FAILED && err.http_status == 412,
		   "compare-and-swap with a stale ETag: 412", fmt_err(&err));
	report(get_equals(s, k("cond/x"), "three", 5, NULL), "a failed compare-and-swap writes nothing", "");

	st = objstore_put(s, k("cond/none"), "x", 1, OBJSTORE_PUT_IF_MATCH, a.etag, NULL, &err);
	if (rgw)
		report(st == OBJSTORE_NOT_FOUND || st == OBJSTORE_PRECONDITION_FAILED,
			   "compare-and-swap on a missing key fails (RGW deviation allowed: 412 instead of 404)",
			   fmt_err(&err));
	else
		report(st == OBJSTORE_NOT_FOUND, "compare-and-swap on a missing key: not found", fmt_err(&err));
	report(objstore_head(s, k("cond/none"), &cur, &err) == OBJSTORE_NOT_FOUND,
		   "... and creates nothing", fmt_err(&err));

	st = objstore_put(s, k("cond/x"), "x", 1, OBJSTORE_PUT_IF_MATCH, NULL, NULL, &err);
	report(st == OBJSTORE_INVALID_ARGUMENT, "compare-and-swap without an ETag is refused", fmt_err(&err));
	st = objstore_put(s, k("cond/x"), "x", 1, OBJSTORE_PUT_IF_MATCH, "\"quoted\"", NULL, &err);
	report(st == OBJSTORE_INVALID_ARGUMENT, "an ETag with quotes is refused", fmt_err(&err));
	st = objstore_put(s, k("cond/x"), "x", 1, (ObjStorePutMode) 7, NULL, NULL, &err);
	report(st == OBJSTORE_INVALID_ARGUMENT, "an unknown put mode is refused", fmt_err(&err));
}

static void
test_ranges_and_sizes(ObjStore *s)
{
	size_t		big = 8u << 20;
	char	   *data = malloc(big);
	ObjStoreBuffer b;
	ObjStoreInfo info;
	ObjStoreError err;
	ObjStoreRange r;
	ObjStoreStatus st;

	for (size_t i = 0; i < big; i++)
		data[i] = (char) ((i * 2654435761u) >> 13);
	put_ok(s, k("size/8mib"), data, big, &info);
	report(get_equals(s, k("size/8mib"), data, big, &info) && info.size == big,
		   "8 MiB object round trip, byte for byte", "");

	r.offset = 3u << 20;
	r.length = 100000;
	st = objstore_get(s, k("size/8mib"), &r, &b, &info, &err);
	report(st == OBJSTORE_OK && b.len == r.length && memcmp(b.data, data + r.offset, r.length) == 0 &&
		   info.size == big, "range read inside 8 MiB; info has the whole size", fmt_err(&err));
	objstore_buffer_free(&b);

	r.offset = 0;
	r.length = 10;
	st = objstore_get(s, k("size/8mib"), &r, &b, NULL, &err);
	report(st == OBJSTORE_OK && b.len == 10 && memcmp(b.data, data, 10) == 0,
		   "range read of the first 10 bytes", fmt_err(&err));
	objstore_buffer_free(&b);

	r.offset = big - 5;
	r.length = 1000;
	st = objstore_get(s, k("size/8mib"), &r, &b, NULL, &err);
	report(st == OBJSTORE_OK && b.len == 5 && memcmp(b.data, data + big - 5, 5) == 0,
		   "a range past the end is cut short", fmt_err(&err));
	objstore_buffer_free(&b);

	r.offset = big;
	r.length = 1;
	st = objstore_get(s, k("size/8mib"), &r, &b, NULL, &err);
	report(st == OBJSTORE_INVALID_ARGUMENT && err.http_status == 416 && b.data == NULL,
		   "a range starting at the end: invalid range (416)", fmt_err(&err));
	r.length = 0;
	st = objstore_get(s, k("size/8mib"), &r, &b, NULL, &err);
	report(st == OBJSTORE_INVALID_ARGUMENT, "a zero-length range is refused", fmt_err(&err));
	free(data);

	put_ok(s, k("size/empty"), "", 0, &info);
	report(info.size == 0, "empty object put", "");
	report(get_equals(s, k("size/empty"), "", 0, &info) && info.size == 0, "empty object get", "");
	report(objstore_head(s, k("size/empty"), &info, &err) == OBJSTORE_OK && info.size == 0 &&
		   info.etag[0] != '\0', "empty object head has size 0 and an ETag", fmt_err(&err));
	st = objstore_put(s, k("size/empty"), "", 0, OBJSTORE_PUT_IF_NONE_MATCH, NULL, NULL, &err);
	report(st == OBJSTORE_PRECONDITION_FAILED, "create-only of an existing empty object: 412", fmt_err(&err));
	r.offset = 0;
	r.length = 1;
	st = objstore_get(s, k("size/empty"), &r, &b, NULL, &err);
	report(st == OBJSTORE_INVALID_ARGUMENT, "any range of an empty object is invalid (416)", fmt_err(&err));
}

/* keys that stress encoding, sorted in byte order */
static const char *const odd_keys[] = {
	"keys/a",
	"keys/a b c.txt",
	"keys/a%25b%",
	"keys/a//double",
	"keys/a/b",
	"keys/caf\xc3\xa9/\xe2\x9c\x93 \xf0\x9f\x98\x80",
	"keys/dir/",
	"keys/plus+equals=amp&q?hash#",
	"keys/semi;colon:at@comma,bang!$'()*[]",
	"keys/\xe4\xb8\xad\xe6\x96\x87",
};
#define N_ODD ((int) (sizeof(odd_keys) / sizeof(odd_keys[0])))

static void
test_odd_keys(ObjStore *s)
{
	ObjStoreList list;
	ObjStoreError err;
	int			ok = 1;

	for (int i = 0; i < N_ODD; i++)
	{
		char		desc[OBJSTORE_KEY_MAX + 64];

		put_ok(s, k(odd_keys[i]), odd_keys[i], strlen(odd_keys[i]), NULL);
		snprintf(desc, sizeof(desc), "get of key \"%s\"", odd_keys[i]);
		report(get_equals(s, k(odd_keys[i]), odd_keys[i], strlen(odd_keys[i]), NULL), desc, "");
	}
	report(objstore_list(s, k("keys/"), NULL, &list, &err) == OBJSTORE_OK, "list of odd keys", fmt_err(&err));
	if ((int) list.count != N_ODD)
		ok = 0;
	for (int i = 0; ok && i < N_ODD; i++)
		if (strcmp(list.entries[i].key, k(odd_keys[i])) != 0 ||
			list.entries[i].info.size != strlen(odd_keys[i]))
		{
			printf("# entry %d: %s\n", i, list.entries[i].key);
			ok = 0;
		}
	report(ok, "list returns every odd key exactly, in byte order, with sizes", "");
	objstore_list_free(&list);

	/* "a" and "a/b" coexist: an object and a "directory" of the same name */
	report(get_equals(s, k("keys/a"), "keys/a", 6, NULL) &&
		   get_equals(s, k("keys/a/b"), "keys/a/b", 8, NULL),
		   "a key and the same key followed by / coexist", "");
}

static void
test_invalid_keys(ObjStore *s)
{
	static const char *const bad[] = {
		"", "/abs", "..", "a/../b", "a/..", "./a", "a/./b", ".",
		"tab\there", "nl\nx", "del\x7f", "bad\xff", "\xc0\xaf", "\xed\xa0\x80",
	};
	char		longkey[OBJSTORE_KEY_MAX + 2];
	ObjStoreError err;
	ObjStoreBuffer b;
	ObjStoreInfo info;
	ObjStoreStats before,
				after;
	int			ok = 1;

	objstore_get_stats(s, &before);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		if (objstore_put(s, bad[i], "x", 1, OBJSTORE_PUT_PLAIN, NULL, NULL, &err) != OBJSTORE_INVALID_ARGUMENT ||
			objstore_get(s, bad[i], NULL, &b, NULL, &err) != OBJSTORE_INVALID_ARGUMENT ||
			objstore_head(s, bad[i], &info, &err) != OBJSTORE_INVALID_ARGUMENT ||
			objstore_delete(s, bad[i], &err) != OBJSTORE_INVALID_ARGUMENT)
		{
			printf("# key %zu accepted\n", i);
			ok = 0;
		}
	}
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	if (objstore_put(s, longkey, "x", 1, OBJSTORE_PUT_PLAIN, NULL, NULL, &err) != OBJSTORE_INVALID_ARGUMENT)
		ok = 0;
	report(ok, "invalid keys are refused by every operation", "");
	objstore_get_stats(s, &after);
	report(memcmp(&before, &after, sizeof(before)) == 0,
		   "refused keys send no request", "");
	{
		ObjStoreList list;

		report(objstore_list(s, "x\x01", NULL, &list, &err) == OBJSTORE_INVALID_ARGUMENT,
			   "a list prefix with a control character is refused", fmt_err(&err));
	}
}

/* ------------------------------------------------------------- listing */

#define N_PAGED 1100

static void
test_paging(ObjStore *s)
{
	ObjStoreList list;
	ObjStoreError err;
	char		key[64];
	int			ok = 1;
	ObjStoreConfig small = config;
	ObjStore   *s2;

	for (int i = 0; i < N_PAGED; i++)
	{
		ObjStoreStatus st;

		snprintf(key, sizeof(key), "page/%05d", i);
		st = objstore_put(s, k(key), key, strlen(key), OBJSTORE_PUT_PLAIN, NULL, NULL, &err);
		if (st != OBJSTORE_OK)
		{
			report(0, "put of paging keys", fmt_err(&err));
			return;
		}
	}
	put_ok(s, k("pagf"), "x", 1, NULL); /* sorts after page/, shares "pag" */

	report(objstore_list(s, k("page/"), NULL, &list, &err) == OBJSTORE_OK &&
		   list.count == N_PAGED, "list over more than 1,000 keys returns all of them", fmt_err(&err));
	for (size_t i = 0; ok && i < list.count; i++)
	{
		snprintf(key, sizeof(key), "page/%05zu", i);
		if (strcmp(list.entries[i].key, k(key)) != 0 || list.entries[i].info.size != strlen(key) ||
			list.entries[i].info.etag[0] == '\0')
			ok = 0;
	}
	report(ok, "... in order, with sizes and ETags", "");
	objstore_list_free(&list);

	report(objstore_list(s, k("page/"), k("page/00999"), &list, &err) == OBJSTORE_OK &&
		   list.count == N_PAGED - 1000 && strcmp(list.entries[0].key, k("page/01000")) == 0,
		   "start-after skips to the next key", fmt_err(&err));
	objstore_list_free(&list);
	report(objstore_list(s, k("page/"), k("page/9"), &list, &err) == OBJSTORE_OK && list.count == 0,
		   "start-after past the last key: empty", fmt_err(&err));
	objstore_list_free(&list);
	report(objstore_list(s, k("page/0100"), NULL, &list, &err) == OBJSTORE_OK && list.count == 10,
		   "a partial-segment prefix", fmt_err(&err));
	objstore_list_free(&list);
	report(objstore_list(s, k("pag"), NULL, &list, &err) == OBJSTORE_OK && list.count == N_PAGED + 1 &&
		   strcmp(list.entries[N_PAGED].key, k("pagf")) == 0,
		   "a prefix matching a directory and a file", fmt_err(&err));
	objstore_list_free(&list);
	report(objstore_list(s, k("nothing-here/"), NULL, &list, &err) == OBJSTORE_OK && list.count == 0,
		   "a prefix with no keys: empty list", fmt_err(&err));
	objstore_list_free(&list);

	/* with 7 keys per page: many continuation tokens */
	small.list_page_size = 7;
	s2 = open_store(&small);
	report(objstore_list(s2, k("page/0"), k("page/00050"), &list, &err) == OBJSTORE_OK &&
		   list.count == N_PAGED - 51 && strcmp(list.entries[0].key, k("page/00051")) == 0 &&
		   strcmp(list.entries[list.count - 1].key, k("page/01099")) == 0,
		   "pages of 7 keys with start-after: every key once", fmt_err(&err));
	objstore_list_free(&list);
	if (is_s3)
	{
		ObjStoreStats st;

		objstore_get_stats(s2, &st);
		report(st.op[OBJSTORE_OP_LIST].requests >= (N_PAGED - 51) / 7,
			   "... fetched page by page", "");
	}
	objstore_close(s2);
}

/* ------------------------------------------------------------- races */

#define N_THREADS 16

typedef struct RaceArg
{
	int			id;
	ObjStoreStatus result;
	int			increments;
	int			conflicts;
	int			failures;
	char		failure[300];
	pthread_barrier_t *barrier;
} RaceArg;

static void *
race_create(void *p)
{
	RaceArg    *a = p;
	ObjStore   *s = open_store(&config);
	char		body[32];
	ObjStoreError err;

	snprintf(body, sizeof(body), "winner %d", a->id);
	pthread_barrier_wait(a->barrier);
	a->result = objstore_put(s, k("race/create"), body, strlen(body),
							 OBJSTORE_PUT_IF_NONE_MATCH, NULL, NULL, &err);
	if (a->result != OBJSTORE_OK && a->result != OBJSTORE_PRECONDITION_FAILED)
		snprintf(a->failure, sizeof(a->failure), "%s", fmt_err(&err));
	objstore_close(s);
	return NULL;
}

static int	cas_per_thread = 5;

static void *
race_cas(void *p)
{
	RaceArg    *a = p;
	ObjStore   *s = open_store(&config);

	pthread_barrier_wait(a->barrier);
	while (a->increments < cas_per_thread && a->failures == 0)
	{
		ObjStoreBuffer b;
		ObjStoreInfo info;
		ObjStoreError err;
		char		next[32];
		ObjStoreStatus st;

		if (objstore_get(s, k("race/counter"), NULL, &b, &info, &err) != OBJSTORE_OK)
		{
			a->failures++;
			snprintf(a->failure, sizeof(a->failure), "get: %s", fmt_err(&err));
			break;
		}
		snprintf(next, sizeof(next), "%ld", atol(b.data) + 1);
		objstore_buffer_free(&b);
		st = objstore_put(s, k("race/counter"), next, strlen(next), OBJSTORE_PUT_IF_MATCH,
						  info.etag, NULL, &err);
		if (st == OBJSTORE_OK)
			a->increments++;
		else if (st == OBJSTORE_PRECONDITION_FAILED)
			a->conflicts++;
		else
		{
			a->failures++;
			snprintf(a->failure, sizeof(a->failure), "put: %s", fmt_err(&err));
		}
	}
	objstore_close(s);
	return NULL;
}

static void
test_races(ObjStore *s)
{
	pthread_t	t[N_THREADS];
	RaceArg		a[N_THREADS];
	pthread_barrier_t barrier;
	int			winners = 0;
	int			losers = 0;
	int			total = 0;
	int			conflicts = 0;
	int			winner = -1;
	char		expect[32];
	char		details[400] = "";
	ObjStoreBuffer b;
	ObjStoreError err;

	for (int round = 0; round < 3; round++)
	{
		objstore_delete(s, k("race/create"), NULL);
		pthread_barrier_init(&barrier, NULL, N_THREADS);
		memset(a, 0, sizeof(a));
		for (int i = 0; i < N_THREADS; i++)
		{
			a[i].id = i;
			a[i].barrier = &barrier;
			pthread_create(&t[i], NULL, race_create, &a[i]);
		}
		winners = losers = 0;
		for (int i = 0; i < N_THREADS; i++)
		{
			pthread_join(t[i], NULL);
			if (a[i].result == OBJSTORE_OK)
			{
				winners++;
				winner = i;
			}
			else if (a[i].result == OBJSTORE_PRECONDITION_FAILED)
				losers++;
			else
				snprintf(details, sizeof(details), "%s", a[i].failure);
		}
		pthread_barrier_destroy(&barrier);
		snprintf(expect, sizeof(expect), "winner %d", winner);
		if (winners != 1 || losers != N_THREADS - 1 ||
			!get_equals(s, k("race/create"), expect, strlen(expect), NULL))
			break;
	}
	report(winners == 1 && losers == N_THREADS - 1,
		   "16 threads racing create-only: exactly one wins, 15 get 412 (3 rounds)", details);
	report(get_equals(s, k("race/create"), expect, strlen(expect), NULL),
		   "the object holds the winner's body", expect);

	put_ok(s, k("race/counter"), "0", 1, NULL);
	pthread_barrier_init(&barrier, NULL, N_THREADS);
	memset(a, 0, sizeof(a));
	for (int i = 0; i < N_THREADS; i++)
	{
		a[i].id = i;
		a[i].barrier = &barrier;
		pthread_create(&t[i], NULL, race_cas, &a[i]);
	}
	details[0] = '\0';
	for (int i = 0; i < N_THREADS; i++)
	{
		pthread_join(t[i], NULL);
		total += a[i].increments;
		conflicts += a[i].conflicts;
		if (a[i].failures)
			snprintf(details, sizeof(details), "%s", a[i].failure);
	}
	pthread_barrier_destroy(&barrier);
	report(total == N_THREADS * cas_per_thread, "every thread's compare-and-swap increments went through",
		   details);
	snprintf(expect, sizeof(expect), "%d", total);
	report(objstore_get(s, k("race/counter"), NULL, &b, NULL, &err) == OBJSTORE_OK &&
		   strcmp(b.data, expect) == 0,
		   "16 threads racing compare-and-swap: the counter equals the successful increments (no lost update)",
		   b.data ? b.data : fmt_err(&err));
	printf("# compare-and-swap race: %d increments, %d conflicts (412)\n", total, conflicts);
	objstore_buffer_free(&b);
}

/* ------------------------------------------------------------- S3 only */

static void
test_s3_specific(ObjStore *s)
{
	ObjStoreStats st;
	ObjStoreConfig wrong = config;
	ObjStore   *w;
	ObjStoreError err;
	ObjStoreInfo info;
	ObjStoreStatus r;
	char		secret[128];

	objstore_reset_stats(s);
	for (int i = 0; i < 50; i++)
		objstore_head(s, k("size/empty"), &info, NULL);
	objstore_get_stats(s, &st);
	report(st.op[OBJSTORE_OP_HEAD].requests == 50 && st.connections <= 1,
		   "50 requests reuse one kept-alive connection", "");
	report(objstore_hist_quantile_us(st.op[OBJSTORE_OP_HEAD].latency_hist, 0.5) > 0,
		   "latency histogram filled", "");

	snprintf(secret, sizeof(secret), "%sX", config.secret_access_key);
	wrong.secret_access_key = secret;
	wrong.max_attempts = 3;
	w = open_store(&wrong);
	r = objstore_put(w, k("denied"), "x", 1, OBJSTORE_PUT_PLAIN, NULL, NULL, &err);
	report(r == OBJSTORE_ACCESS_DENIED && err.http_status == 403 && err.attempts == 1,
		   "a wrong secret: access denied (403), not retried", fmt_err(&err));
	report(strstr(err.code, "Signature") != NULL || strstr(err.code, "Denied") != NULL ||
		   strstr(err.code, "InvalidAccessKeyId") != NULL,
		   "the server's error code is kept", err.code);
	report(strstr(err.message, secret) == NULL && strstr(err.message, config.access_key_id) == NULL,
		   "the error message contains neither the secret nor the access key id", err.message);
	r = objstore_get(w, k("size/empty"), NULL, &(ObjStoreBuffer) {0}, NULL, &err);
	report(r == OBJSTORE_ACCESS_DENIED, "get with a wrong secret: access denied", fmt_err(&err));
	objstore_close(w);
	report(objstore_head(s, k("denied"), &info, &err) == OBJSTORE_NOT_FOUND,
		   "the denied put wrote nothing", fmt_err(&err));
}

/* All operations through the fault proxy with random faults. */
static void
test_faults(void)
{
	const char *ep = config.endpoint;
	const char *colon = ep ? strrchr(ep, ':') : NULL;
	int			port = colon ? atoi(colon + 1) : 0;
	FaultProxy *fp;
	ObjStoreConfig pc = config;
	char		endpoint[64];
	ObjStore   *s;
	ObjStoreStats st;
	int			ok = 1;
	char		details[400] = "";
	uint64_t	retries = 0;

	if (port <= 0 || (fp = fault_proxy_start(port)) == NULL)
	{
		report(0, "fault proxy starts", "");
		return;
	}
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", fault_proxy_port(fp));
	pc.endpoint = endpoint;
	pc.force_path_style = 1;	/* the proxy is addressed by IP */
	pc.timeout_ms = 1000;
	pc.max_attempts = 10;
	pc.backoff_base_ms = 5;
	pc.backoff_cap_ms = 50;
	/* per mille: 6% dropped, 6% 500, 6% 503 SlowDown, 3% delayed past the timeout */
	fault_proxy_random(fp, 60, 60, 60, 30, 1500, 12345);
	s = open_store(&pc);
	for (int i = 0; i < 40 && ok; i++)
	{
		char		key[64];
		char		body[64];
		ObjStoreError err;
		ObjStoreInfo info;
		ObjStoreList list;

		snprintf(key, sizeof(key), "faults/%03d", i);
		snprintf(body, sizeof(body), "body %d", i);
		if (objstore_put(s, k(key), body, strlen(body), OBJSTORE_PUT_IF_NONE_MATCH, NULL, &info, &err) != OBJSTORE_OK)
		{
			ok = 0;
			snprintf(details, sizeof(details), "create %s: %s", key, fmt_err(&err));
		}
		else if (!get_equals(s, k(key), body, strlen(body), NULL))
		{
			ok = 0;
			snprintf(details, sizeof(details), "get %s", key);
		}
		else if (objstore_head(s, k(key), &info, &err) != OBJSTORE_OK || info.size != strlen(body))
		{
			ok = 0;
			snprintf(details, sizeof(details), "head %s: %s", key, fmt_err(&err));
		}
		else if (i % 10 == 9)
		{
			if (objstore_list(s, k("faults/"), NULL, &list, &err) != OBJSTORE_OK || (int) list.count != i + 1)
			{
				ok = 0;
				snprintf(details, sizeof(details), "list: %s", fmt_err(&err));
			}
			objstore_list_free(&list);
		}
	}
	objstore_get_stats(s, &st);
	for (int op = 0; op < OBJSTORE_N_OPS; op++)
		retries += st.op[op].retries;
	report(ok, "through the fault proxy (drops, 500, 503 SlowDown, delays): every create-only put, get, head and list succeeds",
		   details);
	report(retries > 0, "... and the faults were retried", "");
	printf("# fault proxy: %d requests seen, %llu retries\n", fault_proxy_requests(fp),
		   (unsigned long long) retries);
	objstore_close(s);
	fault_proxy_stop(fp);
}

/* ------------------------------------------------------------- cleanup */

static void
cleanup(ObjStore *s)
{
	ObjStoreList list;
	ObjStoreError err;
	int			ok = 1;

	if (objstore_list(s, run_prefix, NULL, &list, &err) != OBJSTORE_OK)
	{
		report(0, "list for clean-up", fmt_err(&err));
		return;
	}
	for (size_t i = 0; i < list.count; i++)
		if (objstore_delete(s, list.entries[i].key, &err) != OBJSTORE_OK)
			ok = 0;
	objstore_list_free(&list);
	report(ok && objstore_list(s, run_prefix, NULL, &list, &err) == OBJSTORE_OK && list.count == 0,
		   "every test key deleted; the list is empty again", fmt_err(&err));
	objstore_list_free(&list);
}

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return (v && v[0]) ? v : NULL;
}

int
main(void)
{
	ObjStore   *s;
	ObjStoreStats st;

	store_url = env("OBJSTORE_URL");
	if (store_url == NULL)
	{
		static char url[300];

		snprintf(tmpdir, sizeof(tmpdir), "%s/brainy-objstore.XXXXXX",
				 env("TMPDIR") ? env("TMPDIR") : "/tmp");
		if (mkdtemp(tmpdir) == NULL)
		{
			perror("mkdtemp");
			return 2;
		}
		snprintf(url, sizeof(url), "file://%s/bucket", tmpdir);
		store_url = url;
		config.no_fsync = 1;	/* speed: crash safety is not what this tests */
	}
	is_s3 = strncmp(store_url, "s3://", 5) == 0;
	rgw = env("OBJSTORE_DEVIATIONS") && strcmp(env("OBJSTORE_DEVIATIONS"), "rgw") == 0;
	config.endpoint = env("OBJSTORE_ENDPOINT");
	config.region = env("OBJSTORE_REGION");
	config.access_key_id = env("OBJSTORE_ACCESS_KEY_ID");
	config.secret_access_key = env("OBJSTORE_SECRET_ACCESS_KEY");
	config.force_path_style = env("OBJSTORE_PATH_STYLE") != NULL;
	config.timeout_ms = 20000;
	srand((unsigned) time(NULL) ^ (unsigned) getpid());
	snprintf(run_prefix, sizeof(run_prefix), "contract-%d-%d/", (int) getpid(), rand() % 100000);
	printf("# store %s (%s addressing), keys under %s\n", store_url,
		   is_s3 ? (config.force_path_style ? "path-style" : "virtual-hosted") : "file",
		   run_prefix);

	s = open_store(&config);
	test_basic(s);
	test_conditional(s);
	test_ranges_and_sizes(s);
	test_odd_keys(s);
	test_invalid_keys(s);
	if (!env("OBJSTORE_QUICK"))
	{
		test_paging(s);
		test_races(s);
	}
	objstore_get_stats(s, &st);
	for (int op = 0; op < OBJSTORE_N_OPS; op++)
		printf("# %-6s requests %6llu  retries %4llu  errors %4llu  p50 <= %llu us  p99 <= %llu us\n",
			   objstore_op_name((ObjStoreOp) op),
			   (unsigned long long) st.op[op].requests,
			   (unsigned long long) st.op[op].retries,
			   (unsigned long long) st.op[op].errors,
			   (unsigned long long) objstore_hist_quantile_us(st.op[op].latency_hist, 0.5),
			   (unsigned long long) objstore_hist_quantile_us(st.op[op].latency_hist, 0.99));
	if (is_s3)
		test_s3_specific(s);
	if (is_s3 && env("OBJSTORE_FAULTS"))
		test_faults();
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
