/*
 * test_objstore_prefetch.c - unit test of src/objstore/objstore_prefetch.c
 * (one GET in a background thread) on a file:// store: a taken GET hands
 * over exactly the object's bytes; a take of another key leaves the slot;
 * a missing key reports not found; a new start drops an unclaimed GET;
 * bad arguments; destroy while a GET runs; and signals sent to the process
 * during prefetches are always handled by the main thread.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "objstore.h"
#include "test_report.h"

static char root[300];
static char url[320];
static pthread_t main_thread;
static volatile sig_atomic_t n_signals = 0;
static volatile sig_atomic_t wrong_thread = 0;

static void
on_usr1(int sig)
{
	(void) sig;
	n_signals++;
	if (!pthread_equal(pthread_self(), main_thread))
		wrong_thread = 1;
}

static ObjStore *
open_store(void)
{
	ObjStoreConfig c;
	ObjStoreError err;
	ObjStore   *s;

	memset(&c, 0, sizeof(c));
	c.no_fsync = 1;
	s = objstore_open(url, &c, &err);
	if (s == NULL)
		fprintf(stderr, "open %s: %s\n", url, err.message);
	return s;
}

static int
put(ObjStore *s, const char *key, const char *data, size_t len)
{
	ObjStoreError err;

	return objstore_put(s, key, data, len, OBJSTORE_PUT_PLAIN, NULL, NULL, &err) == OBJSTORE_OK;
}

int
main(void)
{
	ObjStore   *main_store;
	ObjStorePrefetch *p;
	ObjStoreBuffer body;
	ObjStoreError err;
	ObjStoreStatus st = OBJSTORE_OK;
	size_t		big_len = 3 * 1024 * 1024 + 17;
	char	   *big = malloc(big_len);
	char		longkey[2000];
	size_t		i;
	int			ok,
				rounds,
				good = 1;
	struct sigaction sa;

	main_thread = pthread_self();
	snprintf(root, sizeof(root), "%s/brainy-prefetch-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(root) == NULL || big == NULL)
	{
		perror("setup");
		return 1;
	}
	snprintf(url, sizeof(url), "file://%s", root);
	for (i = 0; i < big_len; i++)
		big[i] = (char) (i * 131 + (i >> 9));
	main_store = open_store();
	report(main_store != NULL, "open the store", "");
	if (main_store == NULL)
		return report_summary();
	report(put(main_store, "seg/1", big, big_len) && put(main_store, "seg/2", "two", 3),
		   "write two objects", "");

	report(objstore_prefetch_create(NULL) == NULL, "create without a store: NULL", "");
	p = objstore_prefetch_create(open_store());
	report(p != NULL, "create a prefetcher on a store of its own", "");

	/* a GET taken under its own key: the object's exact bytes */
	report(objstore_prefetch_start(p, "seg/1") == 0, "start a GET", "");
	memset(&body, 0, sizeof(body));
	report(objstore_prefetch_take(p, "seg/2", &body, &err, &st) == 0 && body.data == NULL,
		   "take of another key: nothing, slot kept", "");
	ok = objstore_prefetch_take(p, "seg/1", &body, &err, &st);
	report(ok == 1 && st == OBJSTORE_OK && body.len == big_len &&
		   memcmp(body.data, big, big_len) == 0,
		   "take of its key: the 3 MB object byte for byte", objstore_status_name(st));
	objstore_buffer_free(&body);
	memset(&body, 0, sizeof(body));
	report(objstore_prefetch_take(p, "seg/1", &body, &err, &st) == 0,
		   "a second take: nothing (handed over once)", "");

	/* a missing key */
	objstore_prefetch_start(p, "seg/3");
	ok = objstore_prefetch_take(p, "seg/3", &body, &err, &st);
	report(ok == 1 && st == OBJSTORE_NOT_FOUND && body.data == NULL,
		   "a missing key: not found", objstore_status_name(st));

	/* a new start drops the unclaimed GET */
	objstore_prefetch_start(p, "seg/1");
	objstore_prefetch_start(p, "seg/2");
	report(objstore_prefetch_take(p, "seg/1", &body, &err, &st) == 0,
		   "a new start drops the unclaimed GET", "");
	ok = objstore_prefetch_take(p, "seg/2", &body, &err, &st);
	report(ok == 1 && st == OBJSTORE_OK && body.len == 3 && memcmp(body.data, "two", 3) == 0,
		   "and serves the new one", "");
	objstore_buffer_free(&body);
	memset(&body, 0, sizeof(body));

	/* bad arguments */
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	report(objstore_prefetch_start(p, longkey) == -1 && objstore_prefetch_start(p, NULL) == -1 &&
		   objstore_prefetch_start(NULL, "seg/1") == -1,
		   "start with a key too long, no key or no prefetcher: -1", "");
	report(objstore_prefetch_take(NULL, "seg/1", &body, &err, &st) == 0 &&
		   objstore_prefetch_take(p, NULL, &body, &err, &st) == 0,
		   "take without prefetcher or key: nothing", "");

	/* signals during prefetches are handled by the main thread */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	for (rounds = 0; rounds < 200; rounds++)
	{
		objstore_prefetch_start(p, (rounds & 1) ? "seg/1" : "seg/2");
		kill(getpid(), SIGUSR1);
		if (objstore_prefetch_take(p, (rounds & 1) ? "seg/1" : "seg/2", &body, &err, &st) != 1 ||
			st != OBJSTORE_OK)
			good = 0;
		objstore_buffer_free(&body);
		memset(&body, 0, sizeof(body));
	}
	report(good, "200 start/take rounds, each served", "");
	report(n_signals == 200 && !wrong_thread,
		   "200 signals during prefetches, all handled in the main thread", "");

	/* destroy while a GET runs: waits for it, frees everything (ASan) */
	objstore_prefetch_start(p, "seg/1");
	objstore_prefetch_destroy(p);
	objstore_prefetch_destroy(NULL);
	report(1, "destroy while a GET runs, and destroy(NULL)", "");

	{
		ObjStoreError e;

		objstore_delete(main_store, "seg/1", &e);
		objstore_delete(main_store, "seg/2", &e);
	}
	objstore_close(main_store);
	rmdir(root);
	free(big);
	return report_summary();
}
