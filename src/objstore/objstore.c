/*
 * objstore.c - the interface's front door: opening a store by URL, the
 * checks every operation shares (keys, arguments), timing and counting
 * each operation, and the error, buffer and list helpers the backends use.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objstore_internal.h"

const char *
objstore_status_name(ObjStoreStatus status)
{
	switch (status)
	{
		case OBJSTORE_OK:
			return "ok";
		case OBJSTORE_NOT_FOUND:
			return "not found";
		case OBJSTORE_PRECONDITION_FAILED:
			return "precondition failed";
		case OBJSTORE_ACCESS_DENIED:
			return "access denied";
		case OBJSTORE_THROTTLED:
			return "throttled";
		case OBJSTORE_TIMEOUT:
			return "timeout";
		case OBJSTORE_NETWORK:
			return "network error";
		case OBJSTORE_SERVER_ERROR:
			return "server error";
		case OBJSTORE_BAD_RESPONSE:
			return "bad response";
		case OBJSTORE_INVALID_ARGUMENT:
			return "invalid argument";
		case OBJSTORE_CONFLICT:
			return "conflict";
		case OBJSTORE_NO_MEMORY:
			return "out of memory";
	}
	return "unknown status";
}

const char *
objstore_op_name(ObjStoreOp op)
{
	static const char *const names[OBJSTORE_N_OPS] = {
		"get", "put", "head", "delete", "list"
	};

	return (op >= 0 && op < OBJSTORE_N_OPS) ? names[op] : "unknown";
}

/* ----------------------------------------------------------------- errors */

ObjStoreStatus
objstore_fail(ObjStoreError *err, ObjStoreStatus status, int http_status,
			  const char *code, const char *fmt,...)
{
	if (err != NULL)
	{
		va_list		ap;

		err->status = status;
		err->http_status = http_status;
		snprintf(err->code, sizeof(err->code), "%s", code ? code : "");
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return status;
}

void
objstore_clear_error(ObjStoreError *err)
{
	if (err != NULL)
	{
		err->status = OBJSTORE_OK;
		err->http_status = 0;
		err->attempts = 0;
		err->maybe_applied = 0;
		err->code[0] = '\0';
		err->message[0] = '\0';
	}
}

/* ------------------------------------------------------- buffers, lists */

ObjStoreStatus
objstore_buffer_reserve(ObjStoreBuffer *buf, size_t extra)
{
	size_t		need;
	size_t		cap;
	char	   *data;

	if (extra > SIZE_MAX - 1 - buf->len)
		return OBJSTORE_NO_MEMORY;
	need = buf->len + extra + 1;	/* + the NUL */
	if (need <= buf->cap)
		return OBJSTORE_OK;
	cap = buf->cap ? buf->cap : 256;
	while (cap < need)
		cap = (cap > SIZE_MAX / 2) ? need : cap * 2;
	data = realloc(buf->data, cap);
	if (data == NULL)
		return OBJSTORE_NO_MEMORY;
	buf->data = data;
	buf->cap = cap;
	return OBJSTORE_OK;
}

ObjStoreStatus
objstore_buffer_append(ObjStoreBuffer *buf, const void *data, size_t len)
{
	if (objstore_buffer_reserve(buf, len) != OBJSTORE_OK)
		return OBJSTORE_NO_MEMORY;
	if (len > 0)
		memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
	return OBJSTORE_OK;
}

void
objstore_buffer_free(ObjStoreBuffer *buf)
{
	if (buf == NULL)
		return;
	free(buf->data);
	buf->data = NULL;
	buf->len = 0;
	buf->cap = 0;
}

ObjStoreStatus
objstore_list_append(ObjStoreList *list, size_t *cap, const char *key,
					 size_t key_len, const ObjStoreInfo *info)
{
	ObjStoreEntry *e;
	char	   *copy;

	if (list->count == *cap)
	{
		size_t		ncap = *cap ? *cap * 2 : 64;

		e = realloc(list->entries, ncap * sizeof(ObjStoreEntry));
		if (e == NULL)
			return OBJSTORE_NO_MEMORY;
		list->entries = e;
		*cap = ncap;
	}
	copy = malloc(key_len + 1);
	if (copy == NULL)
		return OBJSTORE_NO_MEMORY;
	memcpy(copy, key, key_len);
	copy[key_len] = '\0';
	e = &list->entries[list->count++];
	e->key = copy;
	e->info = *info;
	return OBJSTORE_OK;
}

static int
entry_cmp(const void *a, const void *b)
{
	/* strcmp compares as unsigned char: S3's UTF-8 byte order */
	return strcmp(((const ObjStoreEntry *) a)->key,
				  ((const ObjStoreEntry *) b)->key);
}

void
objstore_list_sort(ObjStoreList *list)
{
	if (list->count > 1)
		qsort(list->entries, list->count, sizeof(ObjStoreEntry), entry_cmp);
}

void
objstore_list_free(ObjStoreList *list)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < list->count; i++)
		free(list->entries[i].key);
	free(list->entries);
	list->entries = NULL;
	list->count = 0;
}

/* ------------------------------------------------------------- opening */

static int
valid_bucket_name(const char *b, size_t len)
{
	if (len < 1 || len > 255)
		return 0;
	for (size_t i = 0; i < len; i++)
	{
		char		c = b[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

ObjStore *
objstore_open(const char *url, const ObjStoreConfig *config, ObjStoreError *err)
{
	static const ObjStoreConfig defaults;

	objstore_clear_error(err);
	if (config == NULL)
		config = &defaults;
	if (url == NULL || url[0] == '\0')
	{
		objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "", "storage URL is empty");
		return NULL;
	}
	if (strncmp(url, "file://", 7) == 0)
	{
		const char *dir = url + 7;

		if (dir[0] != '/')
		{
			objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "",
						  "file:// storage needs an absolute directory (file:///path)");
			return NULL;
		}
		return objstore_file_open(dir, config, err);
	}
	if (strncmp(url, "s3://", 5) == 0)
	{
		const char *b = url + 5;
		const char *slash = strchr(b, '/');
		size_t		blen = slash ? (size_t) (slash - b) : strlen(b);
		char		bucket[256];
		ObjStore   *store;

		if (!valid_bucket_name(b, blen))
		{
			objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "",
						  "s3:// storage URL has no valid bucket name (s3://bucket/prefix)");
			return NULL;
		}
		memcpy(bucket, b, blen);
		bucket[blen] = '\0';
		store = objstore_s3_open(bucket, slash ? slash + 1 : "", config, err);
		return store;
	}
	objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "",
				  "storage URL must start with file:// or s3://");
	return NULL;
}

void
objstore_close(ObjStore *store)
{
	if (store != NULL)
		store->ops->close(store);
}

const char *
objstore_backend_name(const ObjStore *store)
{
	return store->ops->name;
}

/* ---------------------------------------------------------- operations */

/* A list prefix or start-after key: like a key, but may be empty. */
static ObjStoreStatus
check_list_arg(const char *what, const char *s, ObjStoreError *err)
{
	size_t		len;

	if (s == NULL)
		return OBJSTORE_OK;
	len = strlen(s);
	if (len > OBJSTORE_KEY_MAX)
		return objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "",
							 "list %s is longer than %d bytes", what, OBJSTORE_KEY_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
			return objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "",
								 "list %s contains a control character", what);
	return OBJSTORE_OK;
}

static void
finish(ObjStore *store, ObjStoreOp op, uint64_t start, ObjStoreStatus status)
{
	objstore_stats_record(store, op, objstore_now_us() - start, status);
}

ObjStoreStatus
objstore_get(ObjStore *store, const char *key, const ObjStoreRange *range,
			 ObjStoreBuffer *body, ObjStoreInfo *info, ObjStoreError *err)
{
	uint64_t	start = objstore_now_us();
	ObjStoreStatus st;

	objstore_clear_error(err);
	memset(body, 0, sizeof(*body));
	if (info)
		memset(info, 0, sizeof(*info));
	if ((st = objstore_key_check(key, err)) != OBJSTORE_OK)
		return st;
	if (range != NULL && range->length == 0)
		return objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "",
							 "a range read needs a length > 0");
	if (range != NULL && range->offset > UINT64_MAX - range->length)
		return objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "",
							 "range end overflows");
	st = store->ops->get(store, key, range, body, info, err);
	if (st != OBJSTORE_OK)
		objstore_buffer_free(body);
	finish(store, OBJSTORE_OP_GET, start, st);
	return st;
}

ObjStoreStatus
objstore_put(ObjStore *store, const char *key, const void *data, size_t len,
			 ObjStorePutMode mode, const char *if_match, ObjStoreInfo *info,
			 ObjStoreError *err)
{
	uint64_t	start = objstore_now_us();
	ObjStoreStatus st;

	objstore_clear_error(err);
	if (info)
		memset(info, 0, sizeof(*info));
	if ((st = objstore_key_check(key, err)) != OBJSTORE_OK)
		return st;
	if (data == NULL && len > 0)
		return objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "", "no data");
	if (mode == OBJSTORE_PUT_IF_MATCH)
	{
		size_t		elen = if_match ? strlen(if_match) : 0;

		if (elen == 0 || elen >= OBJSTORE_ETAG_LEN)
			return objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "",
								 "a compare-and-swap put needs the ETag to match");
		for (size_t i = 0; i < elen; i++)
			if ((unsigned char) if_match[i] <= 0x20 || if_match[i] == '"' ||
				if_match[i] == 0x7f)
				return objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "",
									 "ETag contains a space, quote or control character");
	}
	else if (mode != OBJSTORE_PUT_PLAIN && mode != OBJSTORE_PUT_IF_NONE_MATCH)
		return objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "", "unknown put mode");
	else
		if_match = NULL;
	st = store->ops->put(store, key, data, len, mode, if_match, info, err);
	finish(store, OBJSTORE_OP_PUT, start, st);
	return st;
}

ObjStoreStatus
objstore_head(ObjStore *store, const char *key, ObjStoreInfo *info,
			  ObjStoreError *err)
{
	uint64_t	start = objstore_now_us();
	ObjStoreInfo dummy;
	ObjStoreStatus st;

	objstore_clear_error(err);
	if (info == NULL)
		info = &dummy;
	memset(info, 0, sizeof(*info));
	if ((st = objstore_key_check(key, err)) != OBJSTORE_OK)
		return st;
	st = store->ops->head(store, key, info, err);
	finish(store, OBJSTORE_OP_HEAD, start, st);
	return st;
}

ObjStoreStatus
objstore_delete(ObjStore *store, const char *key, ObjStoreError *err)
{
	uint64_t	start = objstore_now_us();
	ObjStoreStatus st;

	objstore_clear_error(err);
	if ((st = objstore_key_check(key, err)) != OBJSTORE_OK)
		return st;
	st = store->ops->delete(store, key, err);
	finish(store, OBJSTORE_OP_DELETE, start, st);
	return st;
}

ObjStoreStatus
objstore_list(ObjStore *store, const char *prefix, const char *start_after,
			  ObjStoreList *out, ObjStoreError *err)
{
	uint64_t	start = objstore_now_us();
	ObjStoreStatus st;

	objstore_clear_error(err);
	out->entries = NULL;
	out->count = 0;
	if ((st = check_list_arg("prefix", prefix, err)) != OBJSTORE_OK ||
		(st = check_list_arg("start-after key", start_after, err)) != OBJSTORE_OK)
		return st;
	st = store->ops->list(store, prefix ? prefix : "",
						  start_after ? start_after : "", out, err);
	if (st != OBJSTORE_OK)
		objstore_list_free(out);
	finish(store, OBJSTORE_OP_LIST, start, st);
	return st;
}
