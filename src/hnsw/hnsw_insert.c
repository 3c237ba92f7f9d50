/*
 * hnsw_insert.c - adding a node, to the in-memory index or to a store.
 *
 * Owns the insert algorithm (the paper's Algorithm 1), in two phases that
 * hnsw_insert and hnsw_store_insert share:
 *
 *	1. search (reads only, hnsw_insert_search): descend greedily from the
 *	   entry point through the layers above the node's level, then on each
 *	   layer from top = min(level, max_level) down to 0 search with
 *	   ef_construction (seeded with the whole result of the layer above)
 *	   and choose neighbours with the heuristic (up to m on upper layers, 2m
 *	   on layer 0);
 *	2. link (writes, insert_link): the node's own lists, layer top .. 0;
 *	   then, if the node is above max_level, the entry point; then the
 *	   links back, layer top .. 0, each re-selecting the neighbour's list
 *	   when it is full (hnsw_add_link).
 * Between the phases the node is created: in memory by making its slot
 * visible, in a store by add_node.  The order of phase 2 is the one that
 * leaves the most useful graph when a store callback fails part way (see
 * hnsw.h, "Interrupted operations"): a node gets its out-edges before
 * anything can reach it, and becomes the entry point only once it has
 * them.  The result does not depend on that order (every write of phase 2
 * is to a different list, and none reads another's result but through the
 * list it changes), so it is the graph the paper's interleaved order gives.
 *
 * In memory, everything that can fail (validation, node storage, the
 * upper-layer slots, scratch, the searches) happens before the node
 * becomes visible and phase 2 cannot fail, so a failed insert inserts
 * nothing.  The level generator's state is also only advanced on success,
 * so a failed insert does not change the graph a retried build produces.
 *
 * New nodes may link to nodes that are marked deleted but not yet repaired:
 * they are still part of the graph that searches walk, and the repair
 * replaces those links.
 */
#include <stdio.h>

#include "hnsw_internal.h"

int
hnsw_insert_search(HnswGraph *g, const float *q, int level, uint32_t exclude,
				   const uint8_t *info, int *top)
{
	return hnsw_insert_search_from(g, q, level, exclude, info, hnsw_g_entry(g),
								   hnsw_g_max_level(g), top);
}

int
hnsw_insert_search_from(HnswGraph *g, const float *q, int level,
						uint32_t exclude, const uint8_t *info, uint32_t entry,
						int max_level, int *top)
{
	HnswWork   *w = g->w;
	HnswSearch *sc = w->search;
	const HnswCand *seeds;
	const float *v;
	HnswCand	ep;
	int			n_seeds = 1;
	int			layer;
	int			rc;

	*top = -1;
	if (entry == HNSW_NO_NODE)
		return HNSW_OK;
	*top = level < max_level ? level : max_level;
	v = hnsw_g_vec(g, entry, -1);
	if (v == NULL)
		return HNSW_ESOURCE;
	ep.id = entry;
	ep.dist = hnsw_distance(g->dist, q, v);
	rc = hnsw_g_greedy(g, q, &ep, max_level, *top);
	if (rc != HNSW_OK)
		return rc;
	seeds = &ep;
	for (layer = *top; layer >= 0; layer--)
	{
		HnswCand   *cand = sc->layer;
		uint32_t	n = 0;
		uint32_t	i;

		rc = hnsw_g_search_layer(g, q, seeds, n_seeds, layer,
								 w->params.ef_construction, false);
		if (rc != HNSW_OK)
			return rc;
		for (i = 0; i < sc->layer_n; i++)
		{
			if (cand[i].id != exclude &&
				(info == NULL || !(info[cand[i].id] & HNSW_INFO_DELETED)))
				cand[n++] = cand[i];
		}
		sc->layer_n = n;
		rc = hnsw_select_neighbours(g, cand, (int) n,
									hnsw_layer_max(w->params.m, layer),
									w->sel + (size_t) layer * w->m0, w->drop,
									&w->sel_n[layer], &w->sel_nsel[layer]);
		if (rc != HNSW_OK)
			return rc;
		seeds = sc->layer;
		n_seeds = (int) sc->layer_n;
	}
	return HNSW_OK;
}

/* Phase 2 for node id (created, with empty lists) of level. */
static int
insert_link(HnswGraph *g, uint32_t id, int level, int top)
{
	HnswWork   *w = g->w;
	int			layer;
	int			rc;

	for (layer = top; layer >= 0; layer--)
	{
		rc = hnsw_g_write_list(g, id, layer, w->sel + (size_t) layer * w->m0,
							   w->sel_n[layer], w->sel_nsel[layer]);
		if (rc != HNSW_OK)
			return rc;
	}
	if (level > hnsw_g_max_level(g))
	{
		rc = hnsw_g_set_entry(g, id, level);
		if (rc != HNSW_OK)
			return rc;
	}
	for (layer = top; layer >= 0; layer--)
	{
		const HnswCand *sel = w->sel + (size_t) layer * w->m0;
		int			i;

		for (i = 0; i < w->sel_n[layer]; i++)
		{
			HnswCand	back;

			back.id = id;
			back.dist = sel[i].dist;
			rc = hnsw_add_link(g, sel[i].id, layer, back);
			if (rc != HNSW_OK)
				return rc;
		}
	}
	return HNSW_OK;
}

int
hnsw_insert(HnswIndex *idx, const float *vec, uint64_t label,
			uint32_t *id_out, HnswError *err)
{
	HnswGraph	g;
	uint32_t   *upper = NULL;
	uint64_t	rng;
	double		scale;
	uint32_t	id;
	int			level;
	int			top;
	int			rc;

	if (idx == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "index is missing");
	rc = hnsw_vector_check(idx->params.metric, vec, idx->params.dim, &scale, err);
	if (rc != HNSW_OK)
		return rc;
	if (idx->n_staged > 0 || idx->job != NULL)
		return hnsw_fail(err, HNSW_EINVAL,
						 "cannot insert while %u staged nodes wait to be linked",
						 idx->n_staged);
	if (idx->n_nodes >= HNSW_MAX_NODES)
		return hnsw_fail(err, HNSW_EFULL, "index is full: it has %u nodes",
						 idx->n_nodes);
	hnsw_graph_of_index(&g, idx, err);
	id = idx->n_nodes;
	rng = idx->rng;
	level = hnsw_draw_level(&rng, idx->level_mult);

	/* storage and scratch; kept on failure, as capacity for the next try */
	rc = hnsw_ensure_node_capacity(idx, id + 1, err);
	if (rc == HNSW_OK)
		rc = hnsw_g_reserve(&g, id + 1);
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
	hnsw_node_fill(idx, id, vec, scale, level, label, upper);

	rc = hnsw_insert_search(&g, hnsw_vec(idx, id), level, HNSW_NO_NODE, NULL, &top);
	if (rc != HNSW_OK)
	{
		hnsw_upper_free(idx, upper, level);
		hnsw_node(idx, id)->upper = NULL;
		return rc;
	}

	/* commit: nothing below can fail */
	idx->n_nodes = id + 1;
	idx->rng = rng;
	(void) insert_link(&g, id, level, top);
	if (id_out != NULL)
		*id_out = id;
	hnsw_clear_error(err);
	return HNSW_OK;
}

int
hnsw_store_insert(HnswWriter *w, HnswStore *st, const float *vec, int level,
				  uint64_t label, uint32_t *id_out, HnswError *err)
{
	HnswGraph	g;
	HnswWork   *wk;
	double		scale;
	uint32_t	id;
	int			top;
	int			rc;

	if (id_out != NULL)
		*id_out = HNSW_NO_NODE;
	rc = hnsw_store_begin(&g, w, st, err);
	if (rc != HNSW_OK)
		return rc;
	wk = g.w;
	if (level < 0 || level > HNSW_MAX_LEVEL)
		return hnsw_fail(err, HNSW_EINVAL, "level %d out of range: must be between 0 and %d",
						 level, HNSW_MAX_LEVEL);
	rc = hnsw_vector_check(st->metric, vec, st->dim, &scale, err);
	if (rc != HNSW_OK)
		return rc;
	if (st->n_nodes >= HNSW_MAX_NODES)
		return hnsw_fail(err, HNSW_EFULL, "index is full: it has %u nodes",
						 st->n_nodes);
	hnsw_vector_store(wk->qbuf, vec, st->dim, scale);
	rc = hnsw_g_reserve(&g, st->n_nodes + 1);
	if (rc != HNSW_OK)
		return rc;

	/* phase 1: reads only; a failure here changes nothing */
	rc = hnsw_insert_search(&g, wk->qbuf, level, HNSW_NO_NODE, NULL, &top);
	if (rc != HNSW_OK)
		return rc;

	if (st->ops->add_node(st->ctx, wk->qbuf, level, label, &id) != 0)
		return hnsw_fail(err, HNSW_ESOURCE, "storage failed to add the node");
	if (id > st->n_nodes || id >= HNSW_MAX_NODES)
		return hnsw_fail(err, HNSW_ESOURCE,
						 "storage gave the new node id %u (it had %u nodes)",
						 id, st->n_nodes);
	if (id == st->n_nodes)
		st->n_nodes++;
	if (id_out != NULL)
		*id_out = id;
	hnsw_store_cache_put(wk, id, wk->qbuf);

	/* phase 2 */
	rc = insert_link(&g, id, level, top);
	if (rc != HNSW_OK)
	{
		char		why[HNSW_ERRMSG_LEN];

		snprintf(why, sizeof(why), "%s", err != NULL ? err->message : "");
		return hnsw_fail(err, rc,
						 "insert of node %u interrupted (%s): the node is in the store but "
						 "may be unreachable; hnsw_store_reconnect links it",
						 id, why);
	}
	hnsw_clear_error(err);
	return HNSW_OK;
}
