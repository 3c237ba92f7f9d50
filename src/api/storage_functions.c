/*
 * storage_functions.c - superuser-only SQL functions to look into the shared
 * bucket and to test it before going live:
 *
 *	brainy.storage_list(prefix)  -> (key, size, etag, last_modified)
 *	brainy.storage_get(key)      -> bytea
 *	brainy.storage_check()       -> (step, ok, detail): writes, reads,
 *	                                conditionally overwrites and deletes a
 *	                                probe object, saying what works
 *
 * They use the backend's store handle (storage_settings.c).  Buffers from
 * the object store are malloc'd: they are copied into palloc'd memory and
 * freed before anything can raise an error.
 */
#include "postgres.h"

#include <unistd.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "storage_settings.h"

PG_FUNCTION_INFO_V1(brainy_storage_list);
PG_FUNCTION_INFO_V1(brainy_storage_get);
PG_FUNCTION_INFO_V1(brainy_storage_check);

static void
require_superuser(const char *fn)
{
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only superusers may call %s", fn)));
}

Datum
brainy_storage_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *prefix = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ObjStore   *store;
	ObjStoreList list;
	ObjStoreError err;
	Datum	   *keys;
	Datum	   *etags;
	int64	   *sizes;
	TimestampTz *mtimes;
	size_t		n;

	require_superuser("brainy.storage_list()");
	store = brainy_storage_handle();
	if (objstore_list(store, prefix, NULL, &list, &err) != OBJSTORE_OK)
		brainy_storage_error("listing the storage", &err);

	/* copy out of malloc'd memory first: nothing below may leak it */
	n = list.count;
	keys = palloc_extended(sizeof(Datum) * (n + 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	etags = palloc_extended(sizeof(Datum) * (n + 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	sizes = palloc_extended(sizeof(int64) * (n + 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	mtimes = palloc_extended(sizeof(TimestampTz) * (n + 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	if (keys == NULL || etags == NULL || sizes == NULL || mtimes == NULL)
	{
		objstore_list_free(&list);
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	PG_TRY();
	{
		for (size_t i = 0; i < n; i++)
		{
			keys[i] = CStringGetTextDatum(list.entries[i].key);
			etags[i] = CStringGetTextDatum(list.entries[i].info.etag);
			sizes[i] = (int64) list.entries[i].info.size;
			mtimes[i] = time_t_to_timestamptz((pg_time_t) list.entries[i].info.last_modified);
		}
	}
	PG_FINALLY();
	{
		objstore_list_free(&list);
	}
	PG_END_TRY();

	InitMaterializedSRF(fcinfo, 0);
	for (size_t i = 0; i < n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = keys[i];
		values[1] = Int64GetDatum(sizes[i]);
		values[2] = etags[i];
		values[3] = TimestampTzGetDatum(mtimes[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

Datum
brainy_storage_get(PG_FUNCTION_ARGS)
{
	char	   *key = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ObjStore   *store;
	ObjStoreBuffer body;
	ObjStoreError err;
	bytea	   *result;

	require_superuser("brainy.storage_get()");
	store = brainy_storage_handle();
	if (objstore_get(store, key, NULL, &body, NULL, &err) != OBJSTORE_OK)
	{
		if (err.status == OBJSTORE_NOT_FOUND)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("storage object \"%s\" does not exist", key)));
		brainy_storage_error("reading from the storage", &err);
	}
	if (body.len > MaxAllocSize - VARHDRSZ)
	{
		size_t		len = body.len;

		objstore_buffer_free(&body);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("storage object \"%s\" is too large for bytea (%zu bytes)", key, len)));
	}
	result = palloc_extended(body.len + VARHDRSZ, MCXT_ALLOC_NO_OOM);
	if (result == NULL)
	{
		objstore_buffer_free(&body);
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	SET_VARSIZE(result, body.len + VARHDRSZ);
	if (body.len > 0)
		memcpy(VARDATA(result), body.data, body.len);
	objstore_buffer_free(&body);
	PG_RETURN_BYTEA_P(result);
}

/* ---------------------------------------------------------- storage_check */

typedef struct CheckState
{
	ReturnSetInfo *rsinfo;
	int			failures;
} CheckState;

static void
check_row(CheckState *cs, const char *step, bool ok, const char *detail)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = CStringGetTextDatum(step);
	values[1] = BoolGetDatum(ok);
	values[2] = CStringGetTextDatum(detail ? detail : "");
	tuplestore_putvalues(cs->rsinfo->setResult, cs->rsinfo->setDesc, values, nulls);
	if (!ok)
		cs->failures++;
}

/* one row from an operation's outcome: ok if it ended with `want` */
static bool
check_outcome(CheckState *cs, const char *step, ObjStoreStatus got,
			  ObjStoreStatus want, const ObjStoreError *err)
{
	char	   *detail;

	if (got == want)
		detail = psprintf("%s as expected", objstore_status_name(want));
	else
		detail = psprintf("expected %s, got %s: %s", objstore_status_name(want),
						  objstore_status_name(got), err->message);
	check_row(cs, step, got == want, detail);
	return got == want;
}

Datum
brainy_storage_check(PG_FUNCTION_ARGS)
{
	CheckState	cs;
	ObjStore   *store = NULL;
	ObjStoreError err;
	ObjStoreInfo first;
	ObjStoreInfo second;
	ObjStoreBuffer body;
	ObjStoreList list;
	ObjStoreStatus st;
	char		key[128];
	const char *v1 = "brainy storage probe, version 1";
	const char *v2 = "brainy storage probe, version 2";
	const char *v3 = "brainy storage probe, version 3";

	require_superuser("brainy.storage_check()");
	InitMaterializedSRF(fcinfo, 0);
	cs.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	cs.failures = 0;

	/* opening: report the error as a row instead of raising it */
	PG_TRY();
	{
		store = brainy_storage_handle();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cs.rsinfo->econtext->ecxt_per_query_memory);
		edata = CopyErrorData();
		FlushErrorState();
		check_row(&cs, "open", false, edata->detail ? psprintf("%s: %s", edata->message, edata->detail)
				  : edata->message);
		store = NULL;
	}
	PG_END_TRY();
	if (store == NULL)
		return (Datum) 0;
	check_row(&cs, "open", true, psprintf("%s backend", objstore_backend_name(store)));

	snprintf(key, sizeof(key), "_brainy/probe/%d-%08lx", (int) getpid(),
			 (unsigned long) (GetCurrentTimestamp() & 0xffffffff));

	st = objstore_put(store, key, v1, strlen(v1), OBJSTORE_PUT_IF_NONE_MATCH, NULL, &first, &err);
	if (!check_outcome(&cs, "create-only put (If-None-Match: *)", st, OBJSTORE_OK, &err))
		return (Datum) 0;		/* nothing written: nothing else to test */

	st = objstore_get(store, key, NULL, &body, NULL, &err);
	if (st == OBJSTORE_OK)
	{
		bool		same = body.len == strlen(v1) && memcmp(body.data, v1, body.len) == 0;

		objstore_buffer_free(&body);
		check_row(&cs, "get", same, same ? "read back what was written" : "read back different bytes");
	}
	else
		check_outcome(&cs, "get", st, OBJSTORE_OK, &err);

	st = objstore_head(store, key, &second, &err);
	if (check_outcome(&cs, "head", st, OBJSTORE_OK, &err) && strcmp(first.etag, second.etag) != 0)
		check_row(&cs, "etag", false, "put and head report different ETags");

	st = objstore_put(store, key, v2, strlen(v2), OBJSTORE_PUT_IF_NONE_MATCH, NULL, NULL, &err);
	check_outcome(&cs, "create-only put on an existing key is refused (412)", st,
				  OBJSTORE_PRECONDITION_FAILED, &err);

	st = objstore_put(store, key, v2, strlen(v2), OBJSTORE_PUT_IF_MATCH, first.etag, &second, &err);
	check_outcome(&cs, "compare-and-swap put with the current ETag (If-Match)", st, OBJSTORE_OK, &err);

	st = objstore_put(store, key, v3, strlen(v3), OBJSTORE_PUT_IF_MATCH, first.etag, NULL, &err);
	check_outcome(&cs, "compare-and-swap put with a stale ETag is refused (412)", st,
				  OBJSTORE_PRECONDITION_FAILED, &err);

	st = objstore_list(store, "_brainy/probe/", NULL, &list, &err);
	if (st == OBJSTORE_OK)
	{
		bool		found = false;

		for (size_t i = 0; i < list.count; i++)
			if (strcmp(list.entries[i].key, key) == 0)
				found = true;
		objstore_list_free(&list);
		check_row(&cs, "list", found, found ? "the probe is listed" : "the probe is missing from the list");
	}
	else
		check_outcome(&cs, "list", st, OBJSTORE_OK, &err);

	st = objstore_delete(store, key, &err);
	check_outcome(&cs, "delete", st, OBJSTORE_OK, &err);
	st = objstore_head(store, key, &second, &err);
	check_outcome(&cs, "deleted object is gone (404)", st, OBJSTORE_NOT_FOUND, &err);
	return (Datum) 0;
}
