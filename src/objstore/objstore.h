/*
 * objstore.h - public interface of the object store layer.
 *
 * Plain C: no PostgreSQL headers.  Everything distributed in Brainy reaches
 * the shared bucket through this interface: get (whole object or a byte
 * range), put (plain, create-only, compare-and-swap), head, delete and list.
 * Two backends implement it with one contract:
 *
 *	file://DIR              a directory on this machine (objstore_file.c)
 *	s3://bucket[/prefix]    an S3 or S3-compatible server (objstore_s3.c)
 *
 * Conventions
 *
 *	- Every operation returns an ObjStoreStatus (OBJSTORE_OK or an error)
 *	  and, when err is not NULL, fills *err: the status, the HTTP status if
 *	  there was one, the server's error code and message (or the errno name
 *	  and text for the file backend), and how many attempts were made.
 *	  Messages never contain credentials.  Nothing here calls exit() or
 *	  abort().
 *	- Output buffers and lists are allocated with malloc and owned by the
 *	  caller afterwards: objstore_buffer_free(), objstore_list_free().  On
 *	  error they are left empty.
 *	- Keys are relative to the store's root (the bucket prefix or DIR) and
 *	  are validated the same way by both backends (objstore_key_check()).
 *	- ETags are returned without the surrounding double quotes S3 puts on
 *	  them, and given back the same way to objstore_put(..., IF_MATCH).
 *	- A store handle is used by one thread at a time; threads open their own.
 *	  Each handle keeps its own connection (S3: one kept-alive libcurl
 *	  handle) and its own statistics.
 */
#ifndef BRAINY_OBJSTORE_H
#define BRAINY_OBJSTORE_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- status */

typedef enum ObjStoreStatus
{
	OBJSTORE_OK = 0,
	OBJSTORE_NOT_FOUND,			/* no such key (S3 404 NoSuchKey) */
	OBJSTORE_PRECONDITION_FAILED,	/* If-None-Match / If-Match failed (412) */
	OBJSTORE_ACCESS_DENIED,		/* 401/403: bad credentials or signature,
								 * no permission */
	OBJSTORE_THROTTLED,			/* 429, 503 SlowDown */
	OBJSTORE_TIMEOUT,			/* connect or request timeout */
	OBJSTORE_NETWORK,			/* connection refused/reset/dropped, DNS */
	OBJSTORE_SERVER_ERROR,		/* 5xx, or a local I/O error (file backend) */
	OBJSTORE_BAD_RESPONSE,		/* a reply we cannot parse or that breaks
								 * the protocol */
	OBJSTORE_INVALID_ARGUMENT,	/* bad key, URL, range or setting; other
								 * 4xx */
	OBJSTORE_CONFLICT,			/* 409 (S3 ConditionalRequestConflict) after
								 * every retry */
	OBJSTORE_NO_MEMORY
} ObjStoreStatus;

#define OBJSTORE_N_STATUS (OBJSTORE_NO_MEMORY + 1)

#define OBJSTORE_CODE_LEN 64
#define OBJSTORE_MESSAGE_LEN 256

typedef struct ObjStoreError
{
	ObjStoreStatus status;
	int			http_status;	/* 0 if there was no HTTP reply */
	int			attempts;		/* requests sent (1 + retries) */
	int			maybe_applied;	/* a conditional put's 412 came after an
								 * attempt that failed in transit and may
								 * itself have written the object */
	char		code[OBJSTORE_CODE_LEN];	/* "NoSuchKey", "SlowDown",
											 * "ENOENT", "" */
	char		message[OBJSTORE_MESSAGE_LEN];	/* one line for the log */
} ObjStoreError;

/* Static name of a status ("not found", "precondition failed", ...). */
extern const char *objstore_status_name(ObjStoreStatus status);

/* Whether the retry policy retries an error of this kind (objstore_retry.c) */
extern int	objstore_status_retryable(ObjStoreStatus status);

/* -------------------------------------------------------- configuration */

#define OBJSTORE_DEFAULT_REGION "us-east-1"
#define OBJSTORE_DEFAULT_TIMEOUT_MS 30000
#define OBJSTORE_DEFAULT_CONNECT_TIMEOUT_MS 5000
#define OBJSTORE_DEFAULT_MAX_ATTEMPTS 5
#define OBJSTORE_DEFAULT_BACKOFF_BASE_MS 50
#define OBJSTORE_DEFAULT_BACKOFF_CAP_MS 2000

/*
 * Settings of a store.  Zero / NULL fields take the defaults above;
 * strings are copied by objstore_open().  The file backend uses only
 * no_fsync.
 */
typedef struct ObjStoreConfig
{
	const char *endpoint;		/* "http://127.0.0.1:7480"; NULL or "" =
								 * https://s3.<region>.amazonaws.com */
	const char *region;
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token;	/* NULL or "" = none */
	int			force_path_style;	/* 1: http://host/bucket/key, 0:
									 * http://bucket.host/key */
	int			timeout_ms;		/* whole request, per attempt */
	int			connect_timeout_ms;
	int			max_attempts;	/* 1 = no retries */
	int			backoff_base_ms;
	int			backoff_cap_ms;
	int			list_page_size; /* max-keys per list request; 0 = 1000 */
	int			no_fsync;		/* file backend: skip fsync (tests, benches) */
} ObjStoreConfig;

/* ------------------------------------------------------------- objects */

#define OBJSTORE_ETAG_LEN 80

typedef struct ObjStoreInfo
{
	uint64_t	size;
	int64_t		last_modified;	/* seconds since the epoch, the server's
								 * clock */
	char		etag[OBJSTORE_ETAG_LEN];	/* without quotes */
} ObjStoreInfo;

/* A body: data[0..len) plus a NUL at data[len] for convenience. */
typedef struct ObjStoreBuffer
{
	char	   *data;
	size_t		len;
	size_t		cap;
} ObjStoreBuffer;

extern void objstore_buffer_free(ObjStoreBuffer *buf);

/* A byte range: bytes [offset, offset + length) of the object. */
typedef struct ObjStoreRange
{
	uint64_t	offset;
	uint64_t	length;			/* > 0 */
} ObjStoreRange;

typedef enum ObjStorePutMode
{
	OBJSTORE_PUT_PLAIN,			/* create or overwrite */
	OBJSTORE_PUT_IF_NONE_MATCH, /* create only (If-None-Match: *) */
	OBJSTORE_PUT_IF_MATCH		/* overwrite only if the ETag still matches */
} ObjStorePutMode;

typedef struct ObjStoreEntry
{
	char	   *key;			/* relative to the store's root */
	ObjStoreInfo info;
} ObjStoreEntry;

typedef struct ObjStoreList
{
	ObjStoreEntry *entries;		/* sorted by key, byte order (like S3) */
	size_t		count;
} ObjStoreList;

extern void objstore_list_free(ObjStoreList *list);

/* ---------------------------------------------------------------- store */

typedef struct ObjStore ObjStore;

/*
 * Open a store by URL: "file:///abs/dir" or "s3://bucket[/prefix]".  The
 * file backend creates DIR if it does not exist (not its parents).  No
 * request is sent by opening an S3 store.
 */
extern ObjStore *objstore_open(const char *url, const ObjStoreConfig *config,
							   ObjStoreError *err);
extern void objstore_close(ObjStore *store);

/* "file" or "s3" */
extern const char *objstore_backend_name(const ObjStore *store);

/*
 * Read an object, or the range of it if range is not NULL (a range that
 * ends past the end of the object is cut short; one that starts at or past
 * the end is OBJSTORE_INVALID_ARGUMENT, like S3's 416).  info, if not NULL,
 * gets the whole object's size, ETag and Last-Modified.
 */
extern ObjStoreStatus objstore_get(ObjStore *store, const char *key,
								   const ObjStoreRange *range,
								   ObjStoreBuffer *body, ObjStoreInfo *info,
								   ObjStoreError *err);

/*
 * Write an object.  if_match is the ETag the object must still have
 * (OBJSTORE_PUT_IF_MATCH only; NULL otherwise).  info, if not NULL, gets
 * the new object's ETag and size (last_modified may be 0 when the server
 * does not say).
 */
extern ObjStoreStatus objstore_put(ObjStore *store, const char *key,
								   const void *data, size_t len,
								   ObjStorePutMode mode, const char *if_match,
								   ObjStoreInfo *info, ObjStoreError *err);

extern ObjStoreStatus objstore_head(ObjStore *store, const char *key,
									ObjStoreInfo *info, ObjStoreError *err);

/* Deleting a key that does not exist succeeds (as on S3). */
extern ObjStoreStatus objstore_delete(ObjStore *store, const char *key,
									  ObjStoreError *err);

/*
 * Every key that starts with prefix (NULL or "" = all) and sorts after
 * start_after (NULL or "" = from the first), through every page.
 */
extern ObjStoreStatus objstore_list(ObjStore *store, const char *prefix,
									const char *start_after,
									ObjStoreList *out, ObjStoreError *err);

/* ----------------------------------------------------------------- keys */

#define OBJSTORE_KEY_MAX 1024

/*
 * Checks a key: 1..1024 bytes, valid UTF-8, no NUL or control characters
 * (bytes < 0x20, 0x7f), not starting with '/', no "." or ".." segment.
 * Returns OBJSTORE_OK or OBJSTORE_INVALID_ARGUMENT with the reason in err.
 */
extern ObjStoreStatus objstore_key_check(const char *key, ObjStoreError *err);

/* ----------------------------------------------------------- statistics */

typedef enum ObjStoreOp
{
	OBJSTORE_OP_GET,
	OBJSTORE_OP_PUT,
	OBJSTORE_OP_HEAD,
	OBJSTORE_OP_DELETE,
	OBJSTORE_OP_LIST,			/* one per page request */
	OBJSTORE_N_OPS
} ObjStoreOp;

/*
 * Latency histogram: bucket i counts operations that took < 2^i
 * microseconds (and >= 2^(i-1)); the last bucket holds everything longer.
 */
#define OBJSTORE_HIST_BUCKETS 28

typedef struct ObjStoreOpStats
{
	uint64_t	requests;		/* HTTP requests sent (file: operations) */
	uint64_t	retries;		/* of which retries */
	uint64_t	errors;			/* operations that returned an error other
								 * than not found / precondition failed */
	uint64_t	latency_hist[OBJSTORE_HIST_BUCKETS];	/* per operation, with
														 * retries */
	uint64_t	bytes_in;
	uint64_t	bytes_out;
} ObjStoreOpStats;

typedef struct ObjStoreStats
{
	ObjStoreOpStats op[OBJSTORE_N_OPS];
	uint64_t	connections;	/* connections opened (S3; 0 for file) */
} ObjStoreStats;

extern const char *objstore_op_name(ObjStoreOp op);
extern void objstore_get_stats(const ObjStore *store, ObjStoreStats *out);
extern void objstore_reset_stats(ObjStore *store);

/* Upper bound (microseconds) of the bucket holding the q-quantile (0..1). */
extern uint64_t objstore_hist_quantile_us(const uint64_t *hist, double q);

/* ------------------------------------------ prefetch (objstore_prefetch.c) */

/*
 * One GET at a time in a background thread (signals blocked there), on a
 * store the prefetcher owns and closes.  start: begin a GET of key, after
 * waiting for and dropping an earlier one; 0, or -1 if no thread could be
 * started.  take: if the slot holds a GET of exactly key, wait for it and
 * hand over its status, body (the caller frees it) and error, returning 1;
 * else 0, leaving the slot as it is.  destroy waits for a running GET.
 */
typedef struct ObjStorePrefetch ObjStorePrefetch;

extern ObjStorePrefetch *objstore_prefetch_create(ObjStore *store);
extern int	objstore_prefetch_start(ObjStorePrefetch *p, const char *key);
extern int	objstore_prefetch_take(ObjStorePrefetch *p, const char *key,
								   ObjStoreBuffer *body, ObjStoreError *err,
								   ObjStoreStatus *status);
extern void objstore_prefetch_destroy(ObjStorePrefetch *p);

#endif							/* BRAINY_OBJSTORE_H */
