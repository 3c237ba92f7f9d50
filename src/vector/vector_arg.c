/*
 * vector_arg.c - fetching vector arguments of the distance functions.
 *
 * In `ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = 42)`
 * the query vector reaches the distance function once per row, still in
 * its stored form: compressed, or out of line in TOAST.  Detoasting it for
 * every row would cost more than the distance itself.  So each call site
 * (FmgrInfo) remembers, per argument, the raw datum it saw last; when the
 * same raw datum comes again it is detoasted once into the call site's
 * memory and reused until a different one arrives.
 *
 * Only datums whose identity is their bytes are cached: inline compressed
 * values (compared byte for byte) and on-disk TOAST pointers (a TOAST value
 * is immutable and named by its relation and value OID).
 */
#include "postgres.h"

#include "access/detoast.h"
#include "fmgr.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#include "vector.h"

/* A compressed inline datum larger than this is not worth comparing. */
#define ARG_CACHE_MAX_RAW	(16 * 1024)

typedef struct ArgCacheSlot
{
	struct varlena *raw;		/* copy of the raw datum seen last */
	Size		raw_size;
	Size		raw_alloc;
	Vector	   *value;			/* its detoasted form, once it repeated */
} ArgCacheSlot;

typedef struct ArgCache
{
	ArgCacheSlot slot[2];
} ArgCache;

static bool
is_cacheable(struct varlena *raw)
{
	return VARATT_IS_EXTERNAL_ONDISK(raw) || VARATT_IS_COMPRESSED(raw);
}

Vector *
vector_arg(FunctionCallInfo fcinfo, int argno)
{
	struct varlena *raw = (struct varlena *) PG_GETARG_POINTER(argno);
	FmgrInfo   *flinfo = fcinfo->flinfo;
	ArgCache   *cache;
	ArgCacheSlot *slot;
	Size		size;
	MemoryContext old;

	if (!VARATT_IS_EXTENDED(raw))
		return (Vector *) raw;	/* the common case: nothing to undo */
	if (!is_cacheable(raw) || flinfo == NULL || argno > 1)
		return (Vector *) PG_DETOAST_DATUM(PG_GETARG_DATUM(argno));
	size = VARSIZE_ANY(raw);
	if (size > ARG_CACHE_MAX_RAW)
		return (Vector *) PG_DETOAST_DATUM(PG_GETARG_DATUM(argno));

	if (flinfo->fn_extra == NULL)
		flinfo->fn_extra = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(ArgCache));
	cache = (ArgCache *) flinfo->fn_extra;
	slot = &cache->slot[argno];

	if (slot->raw != NULL && slot->raw_size == size &&
		memcmp(slot->raw, raw, size) == 0)
	{
		if (slot->value == NULL)
		{
			old = MemoryContextSwitchTo(flinfo->fn_mcxt);
			slot->value = (Vector *) detoast_attr(raw);
			MemoryContextSwitchTo(old);
		}
		return slot->value;
	}

	/* a different datum: remember its bytes, detoast it the ordinary way */
	if (slot->value != NULL)
	{
		pfree(slot->value);
		slot->value = NULL;
	}
	if (slot->raw_alloc < size)
	{
		if (slot->raw != NULL)
			pfree(slot->raw);
		slot->raw = MemoryContextAlloc(flinfo->fn_mcxt, size);
		slot->raw_alloc = size;
	}
	memcpy(slot->raw, raw, size);
	slot->raw_size = size;
	return (Vector *) detoast_attr(raw);
}
