/*
 * objstore_internal.h - what the object store's files share and callers do
 * not see: the backend vtable, the store handle's common part, error and
 * buffer helpers.
 */
#ifndef BRAINY_OBJSTORE_INTERNAL_H
#define BRAINY_OBJSTORE_INTERNAL_H

#include "objstore.h"

typedef struct ObjStoreBackendOps
{
	const char *name;
	ObjStoreStatus (*get) (ObjStore *store, const char *key,
						   const ObjStoreRange *range, ObjStoreBuffer *body,
						   ObjStoreInfo *info, ObjStoreError *err);
	ObjStoreStatus (*put) (ObjStore *store, const char *key,
						   const void *data, size_t len, ObjStorePutMode mode,
						   const char *if_match, ObjStoreInfo *info,
						   ObjStoreError *err);
	ObjStoreStatus (*head) (ObjStore *store, const char *key,
							ObjStoreInfo *info, ObjStoreError *err);
	ObjStoreStatus (*delete) (ObjStore *store, const char *key,
							  ObjStoreError *err);
	ObjStoreStatus (*list) (ObjStore *store, const char *prefix,
							const char *start_after, ObjStoreList *out,
							ObjStoreError *err);
	void		(*close) (ObjStore *store);
} ObjStoreBackendOps;

/* The common head of every store handle; backends put it first. */
struct ObjStore
{
	const ObjStoreBackendOps *ops;
	ObjStoreStats stats;
};

/* backends' constructors */
extern ObjStore *objstore_file_open(const char *dir, const ObjStoreConfig *config,
									ObjStoreError *err);
extern ObjStore *objstore_s3_open(const char *bucket, const char *prefix,
								  const ObjStoreConfig *config,
								  ObjStoreError *err);

/* for tests: the URL and Host header a request for key would use */
extern ObjStoreStatus objstore_s3_describe(ObjStore *store, const char *key,
										   ObjStoreBuffer *url, ObjStoreBuffer *host);

/* errors (objstore.c) */
extern ObjStoreStatus objstore_fail(ObjStoreError *err, ObjStoreStatus status,
									int http_status, const char *code,
									const char *fmt,...)
			__attribute__((format(printf, 5, 6)));
extern void objstore_clear_error(ObjStoreError *err);

/* buffers and lists (objstore.c); they return OBJSTORE_NO_MEMORY or OK */
extern ObjStoreStatus objstore_buffer_reserve(ObjStoreBuffer *buf, size_t extra);
extern ObjStoreStatus objstore_buffer_append(ObjStoreBuffer *buf,
											 const void *data, size_t len);
extern ObjStoreStatus objstore_list_append(ObjStoreList *list, size_t *cap,
										   const char *key, size_t key_len,
										   const ObjStoreInfo *info);
extern void objstore_list_sort(ObjStoreList *list);

/* statistics and time (objstore_stats.c) */
extern uint64_t objstore_now_us(void);
extern void objstore_stats_record(ObjStore *store, ObjStoreOp op,
								  uint64_t elapsed_us, ObjStoreStatus status);

/* a random 64-bit seed from the kernel, or the time if that fails */
extern uint64_t objstore_random_seed(void);

#endif							/* BRAINY_OBJSTORE_INTERNAL_H */
