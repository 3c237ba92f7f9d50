/*
 * hnsw_memory.c - every allocation of the engine, and its accounting.
 *
 * Owns the default allocator (malloc/free) and the two wrappers all engine
 * code allocates through: they call the caller's HnswAllocator and keep a
 * running byte count, which is what hnsw_memory_usage() reports.  Sizes
 * that would overflow are refused here, so callers may pass products.
 */
#include <stdlib.h>

#include "hnsw_internal.h"

static void *
default_alloc(void *ctx, size_t size)
{
	(void) ctx;
	return malloc(size);
}

static void
default_free(void *ctx, void *ptr, size_t size)
{
	(void) ctx;
	(void) size;
	free(ptr);
}

void
hnsw_allocator_copy(HnswAllocator *dst, const HnswAllocator *src)
{
	if (src != NULL && src->alloc != NULL && src->free != NULL)
		*dst = *src;
	else
	{
		dst->alloc = default_alloc;
		dst->free = default_free;
		dst->ctx = NULL;
	}
}

void *
hnsw_mem_alloc(const HnswAllocator *a, size_t *bytes, size_t size)
{
	void	   *p;

	/* nothing we allocate is near this; a bigger size is an overflow */
	if (size == 0 || size > (SIZE_MAX >> 2))
		return NULL;
	p = a->alloc(a->ctx, size);
	if (p != NULL)
		*bytes += size;
	return p;
}

void
hnsw_mem_free(const HnswAllocator *a, size_t *bytes, void *ptr, size_t size)
{
	if (ptr == NULL)
		return;
	a->free(a->ctx, ptr, size);
	*bytes -= size;
}
