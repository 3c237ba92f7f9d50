/*
 * objstore_prefetch.c - one GET at a time in a background thread, so a
 * caller can fetch the next object while it works on the current one (the
 * replication reader fetches a writer's next segment while it applies the
 * one it has).
 *
 * The prefetcher owns a store of its own (its own connection), used only
 * by its thread.  One slot: objstore_prefetch_start(key) begins a GET of
 * key (after waiting for and dropping any earlier one);
 * objstore_prefetch_take(key) waits for the GET of exactly that key and
 * hands its result over, or says there is none (the slot keeps a GET of
 * another key for a later take).  The thread blocks every signal, so the
 * host process's handlers (PostgreSQL's) always run in its main thread,
 * and calls nothing but objstore_get.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "objstore.h"

#define PREFETCH_KEY_MAX 1024

struct ObjStorePrefetch
{
	ObjStore   *store;			/* owned; only the thread uses it */
	pthread_t	thread;
	int			running;		/* a thread was started and not joined */
	char		key[PREFETCH_KEY_MAX];
	/* the GET's result, read after pthread_join */
	ObjStoreStatus status;
	ObjStoreBuffer body;
	ObjStoreError err;
};

ObjStorePrefetch *
objstore_prefetch_create(ObjStore *store)
{
	ObjStorePrefetch *p;

	if (store == NULL)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
	{
		objstore_close(store);	/* it was given to us */
		return NULL;
	}
	p->store = store;
	return p;
}

static void *
prefetch_main(void *arg)
{
	ObjStorePrefetch *p = arg;

	p->status = objstore_get(p->store, p->key, NULL, &p->body, NULL, &p->err);
	return NULL;
}

/* Wait for the thread, if any; its result stays in the slot. */
static void
prefetch_join(ObjStorePrefetch *p)
{
	if (p->running)
	{
		pthread_join(p->thread, NULL);
		p->running = 0;
	}
}

static void
prefetch_clear(ObjStorePrefetch *p)
{
	prefetch_join(p);
	objstore_buffer_free(&p->body);
	memset(&p->body, 0, sizeof(p->body));
	memset(&p->err, 0, sizeof(p->err));
	p->key[0] = '\0';
}

int
objstore_prefetch_start(ObjStorePrefetch *p, const char *key)
{
	sigset_t	all,
				old;
	int			e;

	if (p == NULL || key == NULL || strlen(key) >= PREFETCH_KEY_MAX)
		return -1;
	prefetch_clear(p);
	strcpy(p->key, key);
	p->status = OBJSTORE_NETWORK;
	/* the new thread inherits this mask: no signal is ever handled there */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&p->thread, NULL, prefetch_main, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0)
	{
		p->key[0] = '\0';
		return -1;
	}
	p->running = 1;
	return 0;
}

int
objstore_prefetch_take(ObjStorePrefetch *p, const char *key,
					   ObjStoreBuffer *body, ObjStoreError *err,
					   ObjStoreStatus *status)
{
	if (p == NULL || key == NULL || p->key[0] == '\0' || strcmp(p->key, key) != 0)
		return 0;
	prefetch_join(p);
	*status = p->status;
	*body = p->body;
	*err = p->err;
	memset(&p->body, 0, sizeof(p->body));
	p->key[0] = '\0';
	return 1;
}

void
objstore_prefetch_destroy(ObjStorePrefetch *p)
{
	if (p == NULL)
		return;
	prefetch_clear(p);
	objstore_close(p->store);
	free(p);
}
