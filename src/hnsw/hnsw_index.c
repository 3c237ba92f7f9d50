/*
 * hnsw_index.c - the in-memory index as a container.
 *
 * Owns HnswIndex's lifetime and storage: creation (validated parameters,
 * the kernel table chosen once, derived sizes, scratch), node chunks and
 * upper-layer slots (see the layout in hnsw_internal.h), destruction,
 * memory accounting, the read accessors of hnsw.h, the HnswSource view
 * of an index, and the index as an HnswStore.  The algorithms live in hnsw_insert.c, hnsw_search.c,
 * hnsw_delete.c, hnsw_reconnect.c and hnsw_check.c.
 */
#include <math.h>
#include <string.h>

#include "hnsw_internal.h"

/* A chunk of nodes is the largest power of two of nodes within this. */
#define CHUNK_TARGET_BYTES ((size_t) 1 << 20)
#define CHUNK_ALIGN 64
#define MIN_CHUNK_DIRECTORY 16

static size_t
round_up(size_t x, size_t to)
{
	return (x + to - 1) / to * to;
}

static size_t
chunk_vectors_bytes(const HnswIndex *idx)
{
	return round_up(sizeof(float) * idx->vec_stride * ((size_t) 1 << idx->chunk_shift),
					CHUNK_ALIGN);
}

static size_t
chunk_links_bytes(const HnswIndex *idx)
{
	return round_up(sizeof(uint32_t) * idx->link0_stride * ((size_t) 1 << idx->chunk_shift),
					CHUNK_ALIGN);
}

static size_t
chunk_dists_bytes(const HnswIndex *idx)
{
	return round_up(sizeof(float) * (size_t) idx->m0 * ((size_t) 1 << idx->chunk_shift),
					CHUNK_ALIGN);
}

static size_t
chunk_bytes(const HnswIndex *idx)
{
	return CHUNK_ALIGN - 1 + chunk_vectors_bytes(idx) + chunk_links_bytes(idx) +
		chunk_dists_bytes(idx) + sizeof(HnswNode) * ((size_t) 1 << idx->chunk_shift);
}

/* Bytes of the upper-layer lists of a node of level (> 0). */
static size_t
upper_bytes(const HnswIndex *idx, int level)
{
	return (sizeof(uint32_t) * idx->upper_stride + sizeof(float) * (size_t) idx->m) *
		(size_t) level;
}

void
hnsw_destroy(HnswIndex *idx)
{
	HnswAllocator a;
	size_t		bytes;
	uint32_t	i;

	if (idx == NULL)
		return;
	a = idx->alloc;
	hnsw_work_free(&idx->work);
	for (i = 0; i < idx->n_nodes + idx->n_staged; i++)
	{
		HnswNode   *node = hnsw_node(idx, i);

		hnsw_upper_free(idx, node->upper, node->level);
	}
	bytes = idx->mem_bytes;
	for (i = 0; i < idx->n_chunks; i++)
		hnsw_mem_free(&a, &bytes, idx->chunks[i].raw, idx->chunks[i].raw_size);
	hnsw_mem_free(&a, &bytes, idx->chunks, sizeof(HnswChunk) * (size_t) idx->chunks_alloc);
	hnsw_mem_free(&a, &bytes, idx, sizeof(HnswIndex));
}

int
hnsw_create(const HnswParams *p, const HnswAllocator *alloc, HnswIndex **out,
			HnswError *err)
{
	HnswAllocator a;
	size_t		bytes = 0;
	size_t		node_bytes;
	HnswIndex  *idx;
	int			rc;

	if (out == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "no place to return the index");
	*out = NULL;
	rc = hnsw_params_validate(p, err);
	if (rc != HNSW_OK)
		return rc;

	hnsw_allocator_copy(&a, alloc);
	idx = hnsw_mem_alloc(&a, &bytes, sizeof(HnswIndex));
	if (idx == NULL)
		return hnsw_fail(err, HNSW_ENOMEM, "out of memory creating an index");
	memset(idx, 0, sizeof(HnswIndex));
	idx->params = *p;
	idx->alloc = a;
	idx->mem_bytes = bytes;
	idx->kernels = brainy_kernels();
	hnsw_distance_init(&idx->dist, idx->kernels, p->metric, p->dim);
	idx->m = p->m;
	idx->m0 = 2 * p->m;
	idx->level_mult = 1.0 / log((double) p->m);
	idx->rng = p->seed;
	idx->vec_stride = round_up((size_t) p->dim, p->dim >= 128 ? 16 : 4);
	idx->link0_stride = 2 + (size_t) idx->m0;
	idx->upper_stride = 2 + (size_t) idx->m;
	node_bytes = sizeof(float) * idx->vec_stride +
		sizeof(uint32_t) * idx->link0_stride + sizeof(float) * (size_t) idx->m0 +
		sizeof(HnswNode);
	idx->chunk_shift = 0;
	while (idx->chunk_shift < 20 &&
		   (node_bytes << (idx->chunk_shift + 1)) <= CHUNK_TARGET_BYTES)
		idx->chunk_shift++;
	idx->chunk_mask = ((uint32_t) 1 << idx->chunk_shift) - 1;
	idx->entry = HNSW_NO_NODE;
	idx->max_level = -1;

	rc = hnsw_work_init(&idx->work, &a, &idx->mem_bytes, p, idx->kernels, false, err);
	if (rc != HNSW_OK)
	{
		hnsw_destroy(idx);
		return rc;
	}
	*out = idx;
	hnsw_clear_error(err);
	return HNSW_OK;
}

/* Add one chunk of nodes (growing the directory if needed). */
static int
add_chunk(HnswIndex *idx, HnswError *err)
{
	HnswChunk  *c;
	size_t		size = chunk_bytes(idx);
	char	   *raw;
	char	   *base;

	if (idx->n_chunks == idx->chunks_alloc)
	{
		uint32_t	new_alloc = idx->chunks_alloc < MIN_CHUNK_DIRECTORY ?
			MIN_CHUNK_DIRECTORY : idx->chunks_alloc * 2;
		HnswChunk  *dir = hnsw_mem_alloc(&idx->alloc, &idx->mem_bytes,
										 sizeof(HnswChunk) * (size_t) new_alloc);

		if (dir == NULL)
			return hnsw_fail(err, HNSW_ENOMEM, "out of memory growing the chunk directory");
		if (idx->n_chunks > 0)
			memcpy(dir, idx->chunks, sizeof(HnswChunk) * (size_t) idx->n_chunks);
		hnsw_mem_free(&idx->alloc, &idx->mem_bytes, idx->chunks,
					  sizeof(HnswChunk) * (size_t) idx->chunks_alloc);
		idx->chunks = dir;
		idx->chunks_alloc = new_alloc;
	}
	raw = hnsw_mem_alloc(&idx->alloc, &idx->mem_bytes, size);
	if (raw == NULL)
		return hnsw_fail(err, HNSW_ENOMEM,
						 "out of memory allocating %zu bytes for %u more nodes",
						 size, (unsigned) 1 << idx->chunk_shift);
	base = raw + ((CHUNK_ALIGN - (uintptr_t) raw % CHUNK_ALIGN) % CHUNK_ALIGN);
	c = &idx->chunks[idx->n_chunks++];
	c->raw = raw;
	c->raw_size = size;
	c->vectors = (float *) base;
	c->links0 = (uint32_t *) (base + chunk_vectors_bytes(idx));
	c->dists0 = (float *) (base + chunk_vectors_bytes(idx) + chunk_links_bytes(idx));
	c->nodes = (HnswNode *) (base + chunk_vectors_bytes(idx) + chunk_links_bytes(idx) +
							 chunk_dists_bytes(idx));
	return HNSW_OK;
}

int
hnsw_ensure_node_capacity(HnswIndex *idx, uint32_t n, HnswError *err)
{
	while (((uint64_t) idx->n_chunks << idx->chunk_shift) < n)
	{
		int			rc = add_chunk(idx, err);

		if (rc != HNSW_OK)
			return rc;
	}
	return HNSW_OK;
}

uint32_t *
hnsw_upper_alloc(HnswIndex *idx, int level)
{
	uint32_t   *upper;
	int			l;

	if (level <= 0)
		return NULL;
	upper = hnsw_mem_alloc(&idx->alloc, &idx->mem_bytes, upper_bytes(idx, level));
	if (upper != NULL)
	{
		for (l = 0; l < level; l++)
		{
			upper[(size_t) l * idx->upper_stride] = 0;
			upper[(size_t) l * idx->upper_stride + 1] = HNSW_SEL_UNKNOWN;
		}
	}
	return upper;
}

void
hnsw_upper_free(HnswIndex *idx, uint32_t *upper, int level)
{
	if (upper != NULL)
		hnsw_mem_free(&idx->alloc, &idx->mem_bytes, upper, upper_bytes(idx, level));
}

/* ---- accessors */

const HnswParams *
hnsw_get_params(const HnswIndex *idx)
{
	return &idx->params;
}

uint32_t
hnsw_size(const HnswIndex *idx)
{
	return idx->n_nodes;
}

uint32_t
hnsw_live_count(const HnswIndex *idx)
{
	return idx->n_nodes - idx->n_deleted;
}

size_t
hnsw_memory_usage(const HnswIndex *idx)
{
	return idx->mem_bytes + hnsw_search_memory_usage(idx->work.search);
}

uint32_t
hnsw_entry_point(const HnswIndex *idx)
{
	return idx->entry;
}

int
hnsw_max_level(const HnswIndex *idx)
{
	return idx->max_level;
}

int
hnsw_node_level(const HnswIndex *idx, uint32_t id)
{
	if (id >= idx->n_nodes)
		return -1;
	return hnsw_node(idx, id)->level;
}

uint64_t
hnsw_node_label(const HnswIndex *idx, uint32_t id)
{
	if (id >= idx->n_nodes)
		return 0;
	return hnsw_node(idx, id)->label;
}

const float *
hnsw_node_vector(const HnswIndex *idx, uint32_t id)
{
	if (id >= idx->n_nodes)
		return NULL;
	return hnsw_vec(idx, id);
}

int
hnsw_node_neighbours(const HnswIndex *idx, uint32_t id, int layer,
					 const uint32_t **list)
{
	HnswList	l;

	if (id >= idx->n_nodes || layer < 0 || layer > hnsw_node(idx, id)->level)
		return -1;
	l = hnsw_list(idx, id, layer);
	*list = l.ids;
	return (int) l.hdr[0];
}

int
hnsw_is_deleted(const HnswIndex *idx, uint32_t id)
{
	if (id >= idx->n_nodes)
		return -1;
	return hnsw_deleted(idx, id) ? 1 : 0;
}

int
hnsw_check_vector(const HnswIndex *idx, const float *vec, HnswError *err)
{
	double		scale;
	int			rc;

	if (idx == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "index is missing");
	rc = hnsw_vector_check(idx->params.metric, vec, idx->params.dim, &scale, err);
	if (rc == HNSW_OK)
		hnsw_clear_error(err);
	return rc;
}

/* ---- the index as an HnswSource (ids are checked by the caller) */

static const float *
mem_vector(void *ctx, uint32_t id, float *buf)
{
	(void) buf;
	return hnsw_vec((const HnswIndex *) ctx, id);
}

static int
mem_neighbours(void *ctx, uint32_t id, int layer, const uint32_t **list,
			   uint32_t *buf)
{
	(void) buf;
	return hnsw_node_neighbours((const HnswIndex *) ctx, id, layer, list);
}

static int
mem_is_deleted(void *ctx, uint32_t id)
{
	return hnsw_is_deleted((const HnswIndex *) ctx, id);
}

static int
mem_level(void *ctx, uint32_t id)
{
	return hnsw_node_level((const HnswIndex *) ctx, id);
}

static int
mem_label(void *ctx, uint32_t id, uint64_t *label)
{
	const HnswIndex *idx = (const HnswIndex *) ctx;

	if (id >= idx->n_nodes)
		return -1;
	*label = hnsw_node(idx, id)->label;
	return 0;
}

static const HnswSourceOps mem_source_ops = {
	mem_vector,
	mem_neighbours,
	mem_is_deleted,
	mem_level,
	mem_label,
	NULL						/* vectors are at hand: no batch scoring */
};

void
hnsw_index_source(const HnswIndex *idx, HnswSource *src)
{
	src->ops = &mem_source_ops;
	src->ctx = (void *) idx;
	src->dim = idx->params.dim;
	src->m = idx->m;
	src->metric = idx->params.metric;
	src->n_nodes = idx->n_nodes;
	src->entry_point = idx->entry;
	src->max_level = idx->max_level;
}

/* ---- the index as an HnswStore (ids are checked by the engine) */

static int
mem_read_list(void *ctx, uint32_t id, int layer, uint32_t *ids, float *dists,
			  uint32_t *n_sel)
{
	const HnswIndex *idx = (const HnswIndex *) ctx;
	HnswList	l;

	if (id >= idx->n_nodes || layer < 0 || layer > hnsw_node(idx, id)->level)
		return -1;
	l = hnsw_list(idx, id, layer);
	memcpy(ids, l.ids, sizeof(uint32_t) * l.hdr[0]);
	memcpy(dists, l.dists, sizeof(float) * l.hdr[0]);
	*n_sel = l.hdr[1];
	return (int) l.hdr[0];
}

/*
 * Fill the slot of node id (capacity ensured, upper lists allocated when
 * level > 0): label, level, no flags, empty lists, the vector scaled.  The
 * node stays invisible until the caller counts it in n_nodes (or staged).
 */
void
hnsw_node_fill(HnswIndex *idx, uint32_t id, const float *vec, double scale,
			   int level, uint64_t label, uint32_t *upper)
{
	HnswNode   *node = hnsw_node(idx, id);
	HnswList	list0;

	node->label = label;
	node->upper = upper;
	node->level = (uint8_t) level;
	node->flags = 0;
	list0 = hnsw_list(idx, id, 0);
	list0.hdr[0] = 0;
	list0.hdr[1] = HNSW_SEL_UNKNOWN;
	hnsw_vector_store(hnsw_vec(idx, id), vec, idx->params.dim, scale);
}

static int
mem_add_node(void *ctx, const float *vec, int level, uint64_t label,
			 uint32_t *id_out)
{
	HnswIndex  *idx = (HnswIndex *) ctx;
	uint32_t	id = idx->n_nodes;
	uint32_t   *upper = NULL;

	if (idx->n_staged > 0 || idx->job != NULL ||
		id >= HNSW_MAX_NODES || level < 0 || level > HNSW_MAX_LEVEL ||
		hnsw_ensure_node_capacity(idx, id + 1, NULL) != HNSW_OK)
		return -1;
	if (level > 0 && (upper = hnsw_upper_alloc(idx, level)) == NULL)
		return -1;
	hnsw_node_fill(idx, id, vec, 1.0, level, label, upper);
	idx->n_nodes = id + 1;
	*id_out = id;
	return 0;
}

static int
mem_set_neighbours(void *ctx, uint32_t id, int layer, const uint32_t *ids,
				   const float *dists, int n, uint32_t n_sel)
{
	HnswIndex  *idx = (HnswIndex *) ctx;
	HnswList	l;

	if (id >= idx->n_nodes || layer < 0 || layer > hnsw_node(idx, id)->level ||
		n < 0 || n > hnsw_layer_max(idx->m, layer) || dists == NULL)
		return -1;
	l = hnsw_list(idx, id, layer);
	memmove(l.ids, ids, sizeof(uint32_t) * (size_t) n);
	memmove(l.dists, dists, sizeof(float) * (size_t) n);
	l.hdr[0] = (uint32_t) n;
	l.hdr[1] = n_sel;
	return 0;
}

static int
mem_set_entry_point(void *ctx, uint32_t id, int level)
{
	HnswIndex  *idx = (HnswIndex *) ctx;

	idx->entry = id;
	idx->max_level = level;
	return 0;
}

static int
mem_mark_deleted(void *ctx, uint32_t id)
{
	return hnsw_mark_deleted((HnswIndex *) ctx, id, NULL) == HNSW_OK ? 0 : -1;
}

static const HnswStoreOps mem_store_ops = {
	{mem_vector, mem_neighbours, mem_is_deleted, mem_level, mem_label, NULL},
	mem_read_list,
	mem_add_node,
	mem_set_neighbours,
	mem_set_entry_point,
	mem_mark_deleted
};

void
hnsw_index_store(HnswIndex *idx, HnswStore *st)
{
	st->ops = &mem_store_ops;
	st->ctx = idx;
	st->dim = idx->params.dim;
	st->m = idx->m;
	st->metric = idx->params.metric;
	st->n_nodes = idx->n_nodes;
	st->entry_point = idx->entry;
	st->max_level = idx->max_level;
}
