/*
 * hnsw_graph.c - the graph the algorithms run on: index or store.
 *
 * Owns the HnswGraph accessors that are not inline (see hnsw_internal.h):
 * reading and writing neighbour lists, moving the entry point, the layer
 * searches, per-node levels and deleted flags; and, for stores, the checks
 * on everything a callback returns, the vector cache, and the read view of
 * a store (hnsw_store_source).
 *
 * The vector cache is direct-mapped by node id and lives for one operation
 * (hnsw_graph_of_store starts a new epoch): vectors do not change while an
 * operation runs (a node's vector is written only by the add_node that
 * creates it, and hnsw_store_insert puts the new vector in the cache
 * itself, which also covers a store that recycles the id of a deleted
 * node).  It saves the repeated reads of the same few vectors that the
 * selection heuristic makes; the layer searches read each node once anyway
 * and go straight to the callbacks.
 */
#include <string.h>

#include "hnsw_internal.h"

void
hnsw_graph_of_index(HnswGraph *g, HnswIndex *idx, HnswError *err)
{
	g->idx = idx;
	g->st = NULL;
	g->w = &idx->work;
	g->dist = &idx->dist;
	g->err = err;
}

void
hnsw_graph_of_store(HnswGraph *g, HnswStore *st, HnswWork *w, HnswError *err)
{
	g->idx = NULL;
	g->st = st;
	g->w = w;
	g->dist = &w->dist;
	g->err = err;
	if (++w->cache_epoch == 0)
	{
		memset(w->cache_stamp, 0, sizeof(uint32_t) * ((size_t) w->cache_mask + 1));
		w->cache_epoch = 1;
	}
}

int
hnsw_store_begin(HnswGraph *g, HnswWriter *w, HnswStore *st, HnswError *err)
{
	const HnswParams *p;
	const HnswStoreOps *ops;

	if (w == NULL || st == NULL || st->ops == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "writer or store is missing");
	ops = st->ops;
	if (ops->src.vector == NULL || ops->src.neighbours == NULL ||
		ops->src.is_deleted == NULL || ops->src.level == NULL ||
		ops->add_node == NULL || ops->set_neighbours == NULL ||
		ops->set_entry_point == NULL || ops->mark_deleted == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "store lacks a required callback");
	p = &w->work.params;
	if (st->dim != p->dim || st->m != p->m || st->metric != p->metric)
		return hnsw_fail(err, HNSW_EINVAL,
						 "store (dim %d, m %d, %s) does not match the writer (dim %d, m %d, %s)",
						 st->dim, st->m, hnsw_metric_name(st->metric),
						 p->dim, p->m, hnsw_metric_name(p->metric));
	if (st->n_nodes > HNSW_MAX_NODES ||
		(st->entry_point == HNSW_NO_NODE ? st->max_level != -1 :
		 (st->entry_point >= st->n_nodes || st->max_level < 0 ||
		  st->max_level > HNSW_MAX_LEVEL)))
		return hnsw_fail(err, HNSW_ESOURCE,
						 "store has a bad entry point %u at level %d (%u nodes)",
						 st->entry_point, st->max_level, st->n_nodes);
	hnsw_graph_of_store(g, st, &w->work, err);
	return HNSW_OK;
}

void
hnsw_store_source(const HnswStore *st, HnswSource *src)
{
	src->ops = &st->ops->src;
	src->ctx = st->ctx;
	src->dim = st->dim;
	src->m = st->m;
	src->metric = st->metric;
	src->n_nodes = st->n_nodes;
	src->entry_point = st->entry_point;
	src->max_level = st->max_level;
}

int
hnsw_g_reserve(HnswGraph *g, uint32_t n_nodes)
{
	return hnsw_search_reserve(g->w->search, n_nodes,
							   (uint32_t) g->w->params.ef_construction, g->err);
}

/* ---- store reads, checked */

static inline float *
cache_slot(const HnswWork *w, uint32_t id, uint32_t *slot)
{
	*slot = ((id * UINT32_C(0x9E3779B1)) >> 16) & w->cache_mask;
	return w->cache_vecs + (size_t) *slot * (size_t) w->params.dim;
}

const float *
hnsw_store_vec(HnswGraph *g, uint32_t id, int hold)
{
	HnswWork   *w = g->w;
	const HnswStore *st = g->st;
	size_t		bytes = sizeof(float) * (size_t) w->params.dim;
	uint32_t	slot;
	float	   *v = cache_slot(w, id, &slot);

	if (w->cache_stamp[slot] != w->cache_epoch || w->cache_id[slot] != id)
	{
		const float *r;

		if (id >= st->n_nodes)
		{
			hnsw_fail(g->err, HNSW_ESOURCE, "node %u is out of range (%u nodes)",
					  id, st->n_nodes);
			return NULL;
		}
		w->cache_stamp[slot] = 0;	/* not valid while the callback fills it */
		r = st->ops->src.vector(st->ctx, id, v);
		if (r == NULL)
		{
			hnsw_fail(g->err, HNSW_ESOURCE, "storage returned no vector for node %u", id);
			return NULL;
		}
		if (r != v)
			memcpy(v, r, bytes);
		w->cache_id[slot] = id;
		w->cache_stamp[slot] = w->cache_epoch;
	}
	if (hold < 0)
		return v;
	memcpy(w->hold[hold], v, bytes);
	return w->hold[hold];
}

void
hnsw_store_cache_put(HnswWork *w, uint32_t id, const float *vec)
{
	uint32_t	slot;
	float	   *v = cache_slot(w, id, &slot);

	memcpy(v, vec, sizeof(float) * (size_t) w->params.dim);
	w->cache_id[slot] = id;
	w->cache_stamp[slot] = w->cache_epoch;
}

int
hnsw_store_read_list(HnswGraph *g, uint32_t id, int layer, int slot, HnswNbrs *l)
{
	const HnswStore *st = g->st;
	HnswWork   *w = g->w;
	uint32_t   *ids = w->list_ids[slot];
	uint32_t	n_sel = HNSW_SEL_UNKNOWN;
	int			max = hnsw_layer_max(st->m, layer);
	int			n;
	int			i;

	if (st->ops->read_list != NULL)
	{
		n = st->ops->read_list(st->ctx, id, layer, ids, w->list_dists[slot], &n_sel);
		l->dists = w->list_dists[slot];
	}
	else
	{
		const uint32_t *p = NULL;

		n = st->ops->src.neighbours(st->ctx, id, layer, &p, ids);
		if (n > 0 && p == NULL)
			n = -1;
		if (n > 0 && n <= max && p != ids)
			memcpy(ids, p, sizeof(uint32_t) * (size_t) n);
		l->dists = NULL;
	}
	if (n < 0)
		return hnsw_fail(g->err, HNSW_ESOURCE,
						 "storage returned no neighbour list for node %u at layer %d",
						 id, layer);
	if (n > max || (n_sel != HNSW_SEL_UNKNOWN && n_sel > (uint32_t) n))
		return hnsw_fail(g->err, HNSW_ESOURCE,
						 "storage returned a list of %d entries (n_sel %u) for node %u at layer %d",
						 n, n_sel, id, layer);
	for (i = 0; i < n; i++)
	{
		if (ids[i] >= st->n_nodes)
			return hnsw_fail(g->err, HNSW_ESOURCE,
							 "storage returned an out-of-range neighbour %u for node %u",
							 ids[i], id);
	}
	l->ids = ids;
	l->n = (uint32_t) n;
	l->n_sel = n_sel;
	l->hdr = NULL;
	l->slot = slot;
	return HNSW_OK;
}

int
hnsw_g_list_dists(HnswGraph *g, uint32_t id, HnswNbrs *l)
{
	const float *base;
	float	   *d;
	uint32_t	i;

	if (l->dists != NULL)
		return HNSW_OK;
	/* a store without read_list: recompute, as the engine computed them */
	base = hnsw_store_vec(g, id, HNSW_HOLD_LIST);
	if (base == NULL)
		return HNSW_ESOURCE;
	d = g->w->list_dists[l->slot];
	for (i = 0; i < l->n; i++)
	{
		const float *v = hnsw_store_vec(g, l->ids[i], -1);

		if (v == NULL)
			return HNSW_ESOURCE;
		d[i] = hnsw_distance(g->dist, base, v);
	}
	l->dists = d;
	return HNSW_OK;
}

int
hnsw_g_load_info(HnswGraph *g, uint8_t *info)
{
	uint32_t	n = hnsw_g_n_nodes(g);
	uint32_t	id;

	if (g->idx != NULL)
	{
		for (id = 0; id < n; id++)
		{
			const HnswNode *node = hnsw_node(g->idx, id);

			info[id] = (uint8_t) (node->level |
								  ((node->flags & HNSW_NODE_DELETED) ? HNSW_INFO_DELETED : 0));
		}
		return HNSW_OK;
	}
	for (id = 0; id < n; id++)
	{
		const HnswStore *st = g->st;
		int			level = st->ops->src.level(st->ctx, id);
		int			del = st->ops->src.is_deleted(st->ctx, id);

		if (level < 0 || level > HNSW_MAX_LEVEL || del < 0)
			return hnsw_fail(g->err, HNSW_ESOURCE,
							 "storage returned no level or deleted flag for node %u", id);
		info[id] = (uint8_t) (level | (del ? HNSW_INFO_DELETED : 0));
	}
	return HNSW_OK;
}

/* ---- writes */

static int
store_write(HnswGraph *g, uint32_t id, int layer, const uint32_t *ids,
			const float *dists, int n, uint32_t n_sel)
{
	const HnswStore *st = g->st;

	if (st->ops->set_neighbours(st->ctx, id, layer, ids, dists, n, n_sel) != 0)
		return hnsw_fail(g->err, HNSW_ESOURCE,
						 "storage failed to write the neighbour list of node %u at layer %d",
						 id, layer);
	return HNSW_OK;
}

int
hnsw_g_write_list(HnswGraph *g, uint32_t id, int layer, const HnswCand *c,
				  int n, uint32_t n_sel)
{
	HnswWork   *w = g->w;
	int			i;

	if (g->idx != NULL)
	{
		hnsw_write_list(g->idx, id, layer, c, n, n_sel);
		return HNSW_OK;
	}
	for (i = 0; i < n; i++)
	{
		w->out_ids[i] = c[i].id;
		w->out_dists[i] = c[i].dist;
	}
	return store_write(g, id, layer, w->out_ids, w->out_dists, n, n_sel);
}

int
hnsw_g_append(HnswGraph *g, uint32_t id, int layer, HnswNbrs *l, HnswCand link)
{
	l->ids[l->n] = link.id;
	if (l->dists != NULL)
		l->dists[l->n] = link.dist;
	if (g->idx != NULL)
	{
		l->hdr[0] = l->n + 1;
		l->hdr[1] = HNSW_SEL_UNKNOWN;
	}
	else
	{
		int			rc = store_write(g, id, layer, l->ids, l->dists, (int) l->n + 1,
									 HNSW_SEL_UNKNOWN);

		if (rc != HNSW_OK)
			return rc;
	}
	l->n++;
	l->n_sel = HNSW_SEL_UNKNOWN;
	return HNSW_OK;
}

int
hnsw_g_replace(HnswGraph *g, uint32_t id, int layer, HnswNbrs *l, uint32_t pos,
			   HnswCand c)
{
	l->ids[pos] = c.id;
	if (l->dists != NULL)
		l->dists[pos] = c.dist;
	l->n_sel = HNSW_SEL_UNKNOWN;
	if (g->idx != NULL)
	{
		l->hdr[1] = HNSW_SEL_UNKNOWN;
		return HNSW_OK;
	}
	return store_write(g, id, layer, l->ids, l->dists, (int) l->n, HNSW_SEL_UNKNOWN);
}

int
hnsw_g_set_entry(HnswGraph *g, uint32_t id, int level)
{
	if (g->idx != NULL)
	{
		g->idx->entry = id;
		g->idx->max_level = level;
		return HNSW_OK;
	}
	if (g->st->ops->set_entry_point(g->st->ctx, id, level) != 0)
		return hnsw_fail(g->err, HNSW_ESOURCE,
						 "storage failed to set the entry point to node %u at level %d",
						 id, level);
	g->st->entry_point = id;
	g->st->max_level = level;
	return HNSW_OK;
}

/* ---- searches */

int
hnsw_g_greedy(HnswGraph *g, const float *q, HnswCand *ep, int from_layer,
			  int to_layer)
{
	HnswSource	src;

	if (g->idx != NULL)
	{
		hnsw_greedy_descend(g->w->search, g->idx, q, ep, from_layer, to_layer);
		return HNSW_OK;
	}
	hnsw_store_source(g->st, &src);
	return hnsw_source_greedy(g->w->search, &src, q, ep, from_layer, to_layer,
							  g->err);
}

int
hnsw_g_search_layer(HnswGraph *g, const float *q, const HnswCand *seeds,
					int n_seeds, int layer, int ef, bool skip_deleted)
{
	HnswSource	src;

	if (g->idx != NULL)
		return hnsw_search_layer(g->w->search, g->idx, q, seeds, n_seeds, layer,
								 ef, skip_deleted, g->err);
	hnsw_store_source(g->st, &src);
	return hnsw_source_layer(g->w->search, &src, q, seeds, n_seeds, layer, ef,
							 skip_deleted, g->err);
}
