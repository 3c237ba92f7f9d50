/*
 * hnsw_delete.c - deleting nodes: marking, and repairing the graph.
 *
 * Owns hnsw_mark_deleted (searches stop returning the node at once, but
 * still walk through it) and hnsw_repair_deleted, which removes marked
 * nodes from the graph:
 *
 *	1. every live node with an edge to a marked node at some layer gets its
 *	   list at that layer rebuilt.  Candidates: its live neighbours, plus the
 *	   live neighbours of its marked neighbours; when those are marked too,
 *	   the walk continues through marked nodes (breadth first, at most 2m
 *	   marked nodes per list), so runs of deleted nodes are bridged.  The
 *	   ef_construction nearest candidates go through the heuristic.
 *	   Marked nodes' own lists are read, never changed, during this step, so
 *	   the order in which lists are rebuilt does not matter;
 *	   Then each rebuilt list's neighbours get a link back to its node
 *	   (hnsw_add_link), as after an insert: without it, nodes whose incoming
 *	   edges came from deleted nodes stay hard to reach (Fashion-MNIST, 30%
 *	   deleted: recall@10 at ef 40 0.968 without, 0.998 with);
 *	2. the entry point moves to the highest-level live node (lowest id
 *	   first) if it was marked;
 *	3. marked nodes lose their own edges (they now have none in or out);
 *	4. hnsw_reconnect links any live node that is no longer reachable.
 *
 * Deleted nodes keep their ids and their memory.  All scratch is allocated
 * before step 1, so a failure there changes nothing.
 */
#include "hnsw_internal.h"

int
hnsw_mark_deleted(HnswIndex *idx, uint32_t id, HnswError *err)
{
	HnswNode   *node;

	if (idx == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "index is missing");
	if (id >= idx->n_nodes)
		return hnsw_fail(err, HNSW_EINVAL,
						 "node %u does not exist (the index has %u nodes)",
						 id, idx->n_nodes);
	hnsw_clear_error(err);
	node = hnsw_node(idx, id);
	if (node->flags & HNSW_NODE_DELETED)
		return HNSW_OK;
	node->flags |= HNSW_NODE_DELETED;
	idx->n_deleted++;
	idx->n_pending++;
	return HNSW_OK;
}

typedef struct RepairScratch
{
	HnswCand   *cand;			/* live candidates */
	HnswCand   *drop;			/* rejected by the heuristic */
	HnswCand   *keep;			/* the new list */
	uint32_t   *queue;			/* marked nodes to walk through */
	uint32_t   *rebuilt;		/* per node: bit l set if layer l was rebuilt */
	uint32_t	n_nodes;
	uint32_t	cand_cap;
	uint32_t	queue_cap;
	size_t		bytes;
} RepairScratch;

static void
scratch_free(HnswIndex *idx, RepairScratch *s)
{
	hnsw_mem_free(&idx->alloc, &s->bytes, s->cand, sizeof(HnswCand) * (size_t) s->cand_cap);
	hnsw_mem_free(&idx->alloc, &s->bytes, s->drop, sizeof(HnswCand) * (size_t) s->cand_cap);
	hnsw_mem_free(&idx->alloc, &s->bytes, s->keep, sizeof(HnswCand) * (size_t) idx->m0);
	hnsw_mem_free(&idx->alloc, &s->bytes, s->queue, sizeof(uint32_t) * (size_t) s->queue_cap);
	hnsw_mem_free(&idx->alloc, &s->bytes, s->rebuilt, sizeof(uint32_t) * (size_t) s->n_nodes);
}

static int
scratch_alloc(HnswIndex *idx, RepairScratch *s, HnswError *err)
{
	s->bytes = 0;
	s->queue_cap = (uint32_t) idx->m0;
	/* own live neighbours, plus up to m0 from each walked marked node */
	s->cand_cap = (uint32_t) idx->m0 * (1 + s->queue_cap);
	s->cand = hnsw_mem_alloc(&idx->alloc, &s->bytes, sizeof(HnswCand) * (size_t) s->cand_cap);
	s->drop = hnsw_mem_alloc(&idx->alloc, &s->bytes, sizeof(HnswCand) * (size_t) s->cand_cap);
	s->keep = hnsw_mem_alloc(&idx->alloc, &s->bytes, sizeof(HnswCand) * (size_t) idx->m0);
	s->queue = hnsw_mem_alloc(&idx->alloc, &s->bytes, sizeof(uint32_t) * (size_t) s->queue_cap);
	s->n_nodes = idx->n_nodes;
	s->rebuilt = hnsw_mem_alloc(&idx->alloc, &s->bytes, sizeof(uint32_t) * (size_t) s->n_nodes);
	if (s->cand == NULL || s->drop == NULL || s->keep == NULL || s->queue == NULL ||
		s->rebuilt == NULL)
	{
		scratch_free(idx, s);
		return hnsw_fail(err, HNSW_ENOMEM, "out of memory for repairing deleted nodes");
	}
	return HNSW_OK;
}

/* Does node's list at layer have an edge to a marked node? */
static bool
links_to_deleted(const HnswIndex *idx, uint32_t node, int layer)
{
	HnswList	l = hnsw_list(idx, node, layer);
	uint32_t	i;

	for (i = 0; i < l.hdr[0]; i++)
	{
		if (hnsw_deleted(idx, l.ids[i]))
			return true;
	}
	return false;
}

/*
 * Add node's layer neighbours that are new to this rebuild: live ones as
 * candidates, marked ones to the walk (while the walk has room).
 */
static void
gather(HnswIndex *idx, RepairScratch *s, uint32_t node, int layer,
	   uint32_t *n_cand, uint32_t *n_queue)
{
	HnswList	l = hnsw_list(idx, node, layer);
	uint32_t	i;

	for (i = 0; i < l.hdr[0]; i++)
	{
		uint32_t	nb = l.ids[i];

		if (hnsw_visited_test_and_set(idx->search, nb))
			continue;
		if (!hnsw_deleted(idx, nb))
		{
			s->cand[(*n_cand)++].id = nb;
		}
		else if (*n_queue < s->queue_cap && hnsw_node(idx, nb)->level >= layer)
			s->queue[(*n_queue)++] = nb;
	}
}

/* Rebuild the list of live node a at layer without marked nodes. */
static void
rebuild_list(HnswIndex *idx, RepairScratch *s, uint32_t a, int layer)
{
	const float *av = hnsw_vec(idx, a);
	uint32_t	n_cand = 0;
	uint32_t	n_sel;
	uint32_t	n_queue = 0;
	uint32_t	qi;
	uint32_t	i;
	uint32_t	limit = (uint32_t) idx->params.ef_construction;
	int			nk;

	hnsw_visited_reset(idx->search);
	(void) hnsw_visited_test_and_set(idx->search, a);
	gather(idx, s, a, layer, &n_cand, &n_queue);
	for (qi = 0; qi < n_queue; qi++)
		gather(idx, s, s->queue[qi], layer, &n_cand, &n_queue);

	for (i = 0; i < n_cand; i++)
		s->cand[i].dist = hnsw_distance(&idx->dist, av, hnsw_vec(idx, s->cand[i].id));
	hnsw_sort_cands(s->cand, (int) n_cand);
	if (n_cand > limit)
		n_cand = limit;
	nk = hnsw_select_neighbours(idx, s->cand, (int) n_cand,
								hnsw_layer_max(idx->m, layer), s->keep, s->drop,
								&n_sel);
	hnsw_write_list(idx, a, layer, s->keep, nk, n_sel);
}

/* The live node with the highest level (lowest id first), or none. */
static uint32_t
highest_live_node(const HnswIndex *idx)
{
	uint32_t	best = HNSW_NO_NODE;
	int			best_level = -1;
	uint32_t	id;

	for (id = 0; id < idx->n_nodes; id++)
	{
		const HnswNode *node = hnsw_node(idx, id);

		if (!(node->flags & HNSW_NODE_DELETED) && (int) node->level > best_level)
		{
			best = id;
			best_level = node->level;
			if (best_level == idx->max_level)
				break;			/* cannot do better */
		}
	}
	return best;
}

int
hnsw_repair_deleted(HnswIndex *idx, HnswError *err)
{
	RepairScratch s;
	uint32_t	id;
	int			rc;

	if (idx == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "index is missing");
	hnsw_clear_error(err);
	if (idx->n_pending == 0)
		return HNSW_OK;
	rc = hnsw_search_reserve(idx->search, idx->n_nodes,
							 (uint32_t) idx->params.ef_construction, err);
	if (rc == HNSW_OK)
		rc = scratch_alloc(idx, &s, err);
	if (rc != HNSW_OK)
		return rc;

	/* 1. rebuild lists that lead to marked nodes */
	for (id = 0; id < idx->n_nodes; id++)
	{
		const HnswNode *node = hnsw_node(idx, id);
		int			layer;

		s.rebuilt[id] = 0;
		if (node->flags & HNSW_NODE_DELETED)
			continue;
		for (layer = 0; layer <= node->level; layer++)
		{
			if (links_to_deleted(idx, id, layer))
			{
				rebuild_list(idx, &s, id, layer);
				s.rebuilt[id] |= (uint32_t) 1 << layer;
			}
		}
	}

	/* 1b. links back to the rebuilt nodes, as an insert would add them */
	for (id = 0; id < idx->n_nodes; id++)
	{
		int			layer;

		for (layer = 0; s.rebuilt[id] >> layer; layer++)
		{
			HnswList	l = hnsw_list(idx, id, layer);
			uint32_t	i;

			if (!(s.rebuilt[id] & ((uint32_t) 1 << layer)))
				continue;
			for (i = 0; i < l.hdr[0]; i++)
			{
				HnswCand	back;

				back.id = id;
				back.dist = l.dists[i];
				hnsw_add_link(idx, l.ids[i], layer, back);
			}
		}
	}

	/* 2. a live entry point */
	if (idx->entry != HNSW_NO_NODE && hnsw_deleted(idx, idx->entry))
	{
		idx->entry = highest_live_node(idx);
		idx->max_level = idx->entry == HNSW_NO_NODE ? -1 :
			hnsw_node(idx, idx->entry)->level;
	}

	/* 3. marked nodes lose their edges */
	for (id = 0; id < idx->n_nodes; id++)
	{
		HnswNode   *node = hnsw_node(idx, id);
		int			layer;

		if ((node->flags & (HNSW_NODE_DELETED | HNSW_NODE_UNLINKED)) != HNSW_NODE_DELETED)
			continue;
		for (layer = 0; layer <= node->level; layer++)
			hnsw_write_list(idx, id, layer, NULL, 0, HNSW_SEL_UNKNOWN);
		node->flags |= HNSW_NODE_UNLINKED;
	}
	idx->n_pending = 0;
	scratch_free(idx, &s);

	/* 4. nobody left behind */
	rc = hnsw_reconnect_internal(idx, NULL, err);
	if (rc != HNSW_OK)
		return hnsw_fail(err, rc,
						 "deleted nodes were removed from the graph, but reconnecting "
						 "nodes left unreachable failed (%s); call hnsw_reconnect again",
						 hnsw_strerror(rc));
	return HNSW_OK;
}
