/*
 * hnsw_check.c - the structural check of a graph (amcheck-style).
 *
 * Owns hnsw_check and hnsw_check_source.  It reads the graph only through
 * an HnswSource, so the same check runs on the in-memory index and on any
 * other store.  It verifies:
 *	- every node's level is in range, and no live node is above max_level;
 *	- the entry point is a node of level max_level (or, for an empty graph,
 *	  that there is no live node), and live once repaired;
 *	- every edge of a live node: target in range, not the node itself, not
 *	  repeated, of level >= the layer, list not over its maximum; and, with
 *	  HNSW_CHECK_REPAIRED, not to a deleted node;
 *	- every live node is reachable at layer 0 from the entry point (a
 *	  failure only with HNSW_CHECK_REACHABLE; always counted).
 * Deleted nodes' own lists are not checked (they are about to disappear).
 * Memory: one byte and two uint32 per node, freed before returning.
 */
#include <string.h>

#include "hnsw_internal.h"

#define LEVEL_DELETED 0x80		/* in levels[]: the node is deleted */

typedef struct CheckState
{
	const HnswSource *src;
	HnswAllocator alloc;
	size_t		bytes;
	uint32_t	n;
	uint8_t    *levels;			/* level | LEVEL_DELETED */
	uint32_t   *stamp;			/* duplicate detection, then reached marks */
	uint32_t   *queue;
	uint32_t   *nbuf;			/* 2m */
	HnswCheckReport rep;
	HnswError  *err;
	int			first_rc;		/* first problem found, reported in err */
} CheckState;

static void
problem(CheckState *st, int code, const char *what, uint32_t node)
{
	if (st->first_rc != HNSW_OK)
		return;
	if (node == HNSW_NO_NODE)
		st->first_rc = hnsw_fail(st->err, code, "%s", what);
	else
		st->first_rc = hnsw_fail(st->err, code, "%s (node %u)", what, node);
}

static void
state_free(CheckState *st)
{
	hnsw_mem_free(&st->alloc, &st->bytes, st->levels, (size_t) st->n);
	hnsw_mem_free(&st->alloc, &st->bytes, st->stamp, sizeof(uint32_t) * (size_t) st->n);
	hnsw_mem_free(&st->alloc, &st->bytes, st->queue, sizeof(uint32_t) * (size_t) st->n);
	hnsw_mem_free(&st->alloc, &st->bytes, st->nbuf, sizeof(uint32_t) * 2 * (size_t) st->src->m);
}

/* Pass 1: levels and deleted flags of every node. */
static int
read_levels(CheckState *st)
{
	const HnswSource *src = st->src;
	uint32_t	id;

	for (id = 0; id < st->n; id++)
	{
		int			level = src->ops->level(src->ctx, id);
		int			del = src->ops->is_deleted(src->ctx, id);

		if (level < 0 || del < 0)
			return hnsw_fail(st->err, HNSW_ESOURCE,
							 "storage returned no level or deleted flag for node %u", id);
		if (level > HNSW_MAX_LEVEL)
		{
			problem(st, HNSW_ECORRUPT, "level above HNSW_MAX_LEVEL", id);
			st->rep.bad_level = 1;
			level = HNSW_MAX_LEVEL;
		}
		st->levels[id] = (uint8_t) (level | (del ? LEVEL_DELETED : 0));
		if (del)
			st->rep.n_deleted++;
		else
		{
			st->rep.n_live++;
			if (level > src->max_level)
			{
				problem(st, HNSW_ECORRUPT, "live node above the entry point's level", id);
				st->rep.bad_level = 1;
			}
		}
	}
	return HNSW_OK;
}

/* Pass 2: every edge of every live node. */
static int
check_edges(CheckState *st, int flags)
{
	const HnswSource *src = st->src;
	uint32_t	stamp_no = 0;
	uint32_t	id;

	memset(st->stamp, 0, sizeof(uint32_t) * (size_t) st->n);
	for (id = 0; id < st->n; id++)
	{
		int			level = st->levels[id] & ~LEVEL_DELETED;
		int			layer;

		if (st->levels[id] & LEVEL_DELETED)
			continue;
		for (layer = 0; layer <= level; layer++)
		{
			const uint32_t *list = NULL;
			int			n = src->ops->neighbours(src->ctx, id, layer, &list, st->nbuf);
			int			i;

			if (n < 0 || (n > 0 && list == NULL))
				return hnsw_fail(st->err, HNSW_ESOURCE,
								 "storage returned no neighbour list for node %u at layer %d",
								 id, layer);
			if (n > hnsw_layer_max(src->m, layer))
			{
				st->rep.n_invalid++;
				problem(st, HNSW_ECORRUPT, "neighbour list over its maximum", id);
				n = hnsw_layer_max(src->m, layer);
			}
			if (++stamp_no == 0)
			{
				memset(st->stamp, 0, sizeof(uint32_t) * (size_t) st->n);
				stamp_no = 1;
			}
			for (i = 0; i < n; i++)
			{
				uint32_t	nb = list[i];

				st->rep.n_edges++;
				if (nb >= st->n || nb == id || st->stamp[nb] == stamp_no ||
					(st->levels[nb] & ~LEVEL_DELETED) < layer)
				{
					st->rep.n_invalid++;
					problem(st, HNSW_ECORRUPT,
							nb >= st->n ? "edge to a node out of range" :
							nb == id ? "edge to itself" :
							st->stamp[nb] == stamp_no ? "repeated edge" :
							"edge to a node of a lower level", id);
					continue;
				}
				st->stamp[nb] = stamp_no;
				if (st->levels[nb] & LEVEL_DELETED)
				{
					st->rep.n_dangling++;
					if (flags & HNSW_CHECK_REPAIRED)
						problem(st, HNSW_ECORRUPT, "edge to a deleted node", id);
				}
			}
		}
	}
	return HNSW_OK;
}

/* Pass 3: walk layer 0 from the entry point; count live nodes not reached. */
static int
check_reachable(CheckState *st, int flags)
{
	const HnswSource *src = st->src;
	uint32_t	head = 0;
	uint32_t	tail = 0;
	uint32_t	id;

	memset(st->stamp, 0, sizeof(uint32_t) * (size_t) st->n);
	if (src->entry_point != HNSW_NO_NODE && src->entry_point >= st->n)
		return HNSW_OK;			/* reported by check_entry */
	if (src->entry_point != HNSW_NO_NODE)
	{
		st->stamp[src->entry_point] = 1;
		st->queue[tail++] = src->entry_point;
	}
	while (head < tail)
	{
		uint32_t	u = st->queue[head++];
		const uint32_t *list = NULL;
		int			n = src->ops->neighbours(src->ctx, u, 0, &list, st->nbuf);
		int			i;

		if (n < 0 || (n > 0 && list == NULL))
			return hnsw_fail(st->err, HNSW_ESOURCE,
							 "storage returned no neighbour list for node %u at layer 0", u);
		if (n > 2 * src->m)
			n = 2 * src->m;		/* reported by check_edges */
		for (i = 0; i < n; i++)
		{
			uint32_t	v = list[i];

			if (v < st->n && st->stamp[v] == 0)
			{
				st->stamp[v] = 1;
				st->queue[tail++] = v;
			}
		}
	}
	for (id = 0; id < st->n; id++)
	{
		if (st->stamp[id] == 0 && !(st->levels[id] & LEVEL_DELETED))
		{
			st->rep.n_unreachable++;
			if (flags & HNSW_CHECK_REACHABLE)
				problem(st, HNSW_ECORRUPT,
						"live node not reachable from the entry point", id);
		}
	}
	return HNSW_OK;
}

static void
check_entry(CheckState *st, int flags)
{
	const HnswSource *src = st->src;
	uint32_t	ep = src->entry_point;

	if (ep == HNSW_NO_NODE)
	{
		if (st->rep.n_live > 0)
		{
			st->rep.bad_level = 1;
			problem(st, HNSW_ECORRUPT, "no entry point, but there are live nodes",
					HNSW_NO_NODE);
		}
		return;
	}
	if (ep >= st->n || (st->levels[ep] & ~LEVEL_DELETED) != src->max_level)
	{
		st->rep.bad_level = 1;
		problem(st, HNSW_ECORRUPT,
				"entry point out of range or not at the maximum level", ep);
	}
	else if ((flags & HNSW_CHECK_REPAIRED) && (st->levels[ep] & LEVEL_DELETED))
	{
		st->rep.bad_level = 1;
		problem(st, HNSW_ECORRUPT, "entry point is deleted", ep);
	}
}

int
hnsw_check_source(const HnswSource *src, const HnswAllocator *alloc,
				  int flags, HnswCheckReport *report, HnswError *err)
{
	CheckState	st;
	int			rc;

	if (report != NULL)
		memset(report, 0, sizeof(HnswCheckReport));
	if (src == NULL || src->ops == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "source is missing");
	if (src->m < HNSW_MIN_M || src->m > HNSW_MAX_M)
		return hnsw_fail(err, HNSW_EINVAL, "source has m %d", src->m);
	memset(&st, 0, sizeof(st));
	st.src = src;
	st.n = src->n_nodes;
	st.err = err;
	st.first_rc = HNSW_OK;
	st.rep.n_nodes = src->n_nodes;
	hnsw_allocator_copy(&st.alloc, alloc);
	if (st.n == 0)
	{
		/* nothing to read; the entry point must then be absent */
		check_entry(&st, flags);
		if (report != NULL)
			*report = st.rep;
		if (st.first_rc == HNSW_OK)
			hnsw_clear_error(err);
		return st.first_rc;
	}
	st.levels = hnsw_mem_alloc(&st.alloc, &st.bytes, (size_t) st.n);
	st.stamp = hnsw_mem_alloc(&st.alloc, &st.bytes, sizeof(uint32_t) * (size_t) st.n);
	st.queue = hnsw_mem_alloc(&st.alloc, &st.bytes, sizeof(uint32_t) * (size_t) st.n);
	st.nbuf = hnsw_mem_alloc(&st.alloc, &st.bytes, sizeof(uint32_t) * 2 * (size_t) src->m);
	if (st.nbuf == NULL || st.levels == NULL || st.stamp == NULL || st.queue == NULL)
	{
		state_free(&st);
		return hnsw_fail(err, HNSW_ENOMEM, "out of memory checking %u nodes", st.n);
	}

	rc = read_levels(&st);
	if (rc == HNSW_OK)
	{
		check_entry(&st, flags);
		rc = check_edges(&st, flags);
	}
	if (rc == HNSW_OK)
		rc = check_reachable(&st, flags);
	state_free(&st);
	if (report != NULL)
		*report = st.rep;
	if (rc != HNSW_OK)
		return rc;				/* a source failure, already in err */
	if (st.first_rc == HNSW_OK)
		hnsw_clear_error(err);
	return st.first_rc;
}

int
hnsw_check(const HnswIndex *idx, int flags, HnswCheckReport *report,
		   HnswError *err)
{
	HnswSource	src;

	if (idx == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "index is missing");
	hnsw_index_source(idx, &src);
	return hnsw_check_source(&src, &idx->alloc, flags, report, err);
}
