/*
 * hnsw_insert.c - adding a node to the in-memory index.
 *
 * Owns the insert algorithm (the paper's Algorithm 1): draw a level, descend
 * greedily from the entry point through the layers above it, then on each
 * layer from min(level, max_level) down to 0 search with ef_construction
 * (seeded with the whole result of the layer above), choose neighbours with
 * the heuristic (up to m on upper layers, 2m on layer 0), link both ways,
 * re-selecting a neighbour's list when it overflows (hnsw_add_link).
 *
 * Failure atomicity: everything that can fail (validation, node storage,
 * the upper-layer slots, scratch, the searches) happens before the node
 * becomes visible; the commit that follows cannot fail.  The level
 * generator's state is also only advanced on success, so a failed insert
 * does not change the graph a retried build produces.
 *
 * New nodes may link to nodes that are marked deleted but not yet repaired:
 * they are still part of the graph that searches walk, and the repair
 * replaces those links.
 */
#include "hnsw_internal.h"

int
hnsw_insert(HnswIndex *idx, const float *vec, uint64_t label,
			uint32_t *id_out, HnswError *err)
{
	HnswSearch *sc;
	HnswNode   *node;
	uint32_t   *upper = NULL;
	HnswList	list0;
	uint64_t	rng;
	double		scale;
	uint32_t	id;
	int			level;
	int			top = -1;
	int			layer;
	int			rc;

	if (idx == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "index is missing");
	rc = hnsw_vector_check(idx->params.metric, vec, idx->params.dim, &scale, err);
	if (rc != HNSW_OK)
		return rc;
	if (idx->n_nodes >= HNSW_MAX_NODES)
		return hnsw_fail(err, HNSW_EFULL, "index is full: it has %u nodes",
						 idx->n_nodes);
	sc = idx->search;
	id = idx->n_nodes;
	rng = idx->rng;
	level = hnsw_random_level(&rng, idx->level_mult);

	/* storage and scratch; kept on failure, as capacity for the next try */
	rc = hnsw_ensure_node_capacity(idx, id + 1, err);
	if (rc == HNSW_OK)
		rc = hnsw_search_reserve(sc, id + 1, (uint32_t) idx->params.ef_construction, err);
	if (rc != HNSW_OK)
		return rc;
	if (level > 0)
	{
		upper = hnsw_upper_alloc(idx, level);
		if (upper == NULL)
			return hnsw_fail(err, HNSW_ENOMEM,
							 "out of memory for the neighbour lists of a level %d node",
							 level);
	}

	/* fill the node's slot; it stays invisible until n_nodes counts it */
	node = hnsw_node(idx, id);
	node->label = label;
	node->upper = upper;
	node->level = (uint8_t) level;
	node->flags = 0;
	list0 = hnsw_list(idx, id, 0);
	list0.hdr[0] = 0;
	list0.hdr[1] = HNSW_SEL_UNKNOWN;
	hnsw_vector_store(hnsw_vec(idx, id), vec, idx->params.dim, scale);

	if (idx->entry != HNSW_NO_NODE)
	{
		const float *q = hnsw_vec(idx, id);
		const HnswCand *seeds;
		HnswCand	ep;
		int			n_seeds = 1;

		top = level < idx->max_level ? level : idx->max_level;
		ep.id = idx->entry;
		ep.dist = hnsw_distance(&idx->dist, q, hnsw_vec(idx, ep.id));
		hnsw_greedy_descend(sc, idx, q, &ep, idx->max_level, top);
		seeds = &ep;
		for (layer = top; layer >= 0; layer--)
		{
			rc = hnsw_search_layer(sc, idx, q, seeds, n_seeds, layer,
								   idx->params.ef_construction, false, err);
			if (rc != HNSW_OK)
			{
				hnsw_upper_free(idx, upper, level);
				node->upper = NULL;
				return rc;
			}
			idx->sel_n[layer] =
				hnsw_select_neighbours(idx, sc->layer, (int) sc->layer_n,
									   hnsw_layer_max(idx->m, layer),
									   idx->sel + (size_t) layer * idx->m0,
									   idx->drop, &idx->sel_nsel[layer]);
			seeds = sc->layer;
			n_seeds = (int) sc->layer_n;
		}
	}

	/* commit: nothing below can fail */
	idx->n_nodes = id + 1;
	idx->rng = rng;
	for (layer = top; layer >= 0; layer--)
	{
		const HnswCand *sel = idx->sel + (size_t) layer * idx->m0;
		int			i;

		hnsw_write_list(idx, id, layer, sel, idx->sel_n[layer], idx->sel_nsel[layer]);
		for (i = 0; i < idx->sel_n[layer]; i++)
		{
			HnswCand	back;

			back.id = id;
			back.dist = sel[i].dist;
			hnsw_add_link(idx, sel[i].id, layer, back);
		}
	}
	if (level > idx->max_level)
	{
		idx->entry = id;
		idx->max_level = level;
	}
	if (id_out != NULL)
		*id_out = id;
	hnsw_clear_error(err);
	return HNSW_OK;
}
