/*
 * hnsw_search.c - searching the graph: greedy descent, layer search, k-NN.
 *
 * Owns the search loop of the paper (Algorithm 2 with a candidate min-heap
 * and a bounded result max-heap, Algorithm 5 for k-NN) in one body that
 * reads the graph either straight from an in-memory HnswIndex or through an
 * HnswSource's callbacks.  The body is an always-inline function with a
 * constant in_memory flag, instantiated twice, so the in-memory build and
 * search pay no callback, no id check and no copy, while sources get every
 * id and count they return checked.
 *
 * Deleted nodes: a search that skips them (k-NN at layer 0) still expands
 * them, it only keeps them out of the results; construction and greedy
 * descent treat them as ordinary nodes.
 *
 * During a parallel build (idx->sync set) the in-memory body copies each
 * neighbour list out under its node's lock and computes distances after
 * unlocking; its frozen search context never grows (hnsw_cand_room).
 */
#include <string.h>

#include "hnsw_internal.h"

/* ---- graph access, resolved at compile time in each instantiation */

static HNSW_ALWAYS_INLINE int
get_neighbours(HnswSearch *sc, const HnswIndex *idx, const HnswSource *src,
			   const bool in_memory, uint32_t id, int layer,
			   const uint32_t **list)
{
	int			n;

	if (in_memory)
	{
		HnswList	l;

		/* a parallel build: other threads change lists, copy under lock */
		if (HNSW_UNLIKELY(idx->sync != NULL))
		{
			*list = sc->nbuf;
			return hnsw_list_copy_locked(idx, id, layer, sc->nbuf);
		}
		l = hnsw_list(idx, id, layer);
		*list = l.ids;
		return (int) l.hdr[0];
	}
	n = src->ops->neighbours(src->ctx, id, layer, list, sc->nbuf);
	if (n < 0 || n > hnsw_layer_max(src->m, layer) || (n > 0 && *list == NULL))
		return -1;
	return n;
}

static HNSW_ALWAYS_INLINE const float *
get_vector(HnswSearch *sc, const HnswIndex *idx, const HnswSource *src,
		   const bool in_memory, uint32_t id)
{
	if (in_memory)
		return hnsw_vec(idx, id);
	return src->ops->vector(src->ctx, id, sc->vbuf);
}

/* 1 deleted, 0 live, -1 callback failure */
static HNSW_ALWAYS_INLINE int
get_deleted(const HnswIndex *idx, const HnswSource *src, const bool in_memory,
			uint32_t id)
{
	if (in_memory)
		return hnsw_deleted(idx, id) ? 1 : 0;
	return src->ops->is_deleted(src->ctx, id);
}

static int
source_error(HnswError *err, const char *what, uint32_t id)
{
	return hnsw_fail(err, HNSW_ESOURCE, "storage returned %s for node %u",
					 what, id);
}

/* the engine's distance as a callback for sources that score batches */
static float
score_distance(const void *dctx, const float *q, const float *v)
{
	return hnsw_distance((const HnswDistance *) dctx, q, v);
}

/*
 * Distances from q to ids[0..n-1] into sc->bdist through the source's
 * batch callback (the caller checked src->ops->score).
 */
static int
score_batch(HnswSearch *sc, const HnswSource *src, const float *q,
			const uint32_t *ids, int n, float bound, HnswError *err)
{
	if (n == 0)
		return HNSW_OK;
	if (src->ops->score(src->ctx, ids, n, q, score_distance, &sc->dist,
						bound, sc->bdist) != 0)
		return source_error(err, "no vector", ids[0]);
	return HNSW_OK;
}

/* ---- the search body */

/*
 * Greedy descent (ef = 1) from *ep at from_layer down to to_layer + 1:
 * at each layer move to the nearest neighbour while that gets nearer.
 * Distances strictly decrease, so it ends without a visited set.
 */
static HNSW_ALWAYS_INLINE int
greedy_body(HnswSearch *sc, const HnswIndex *idx, const HnswSource *src,
			const bool in_memory, const float *q, HnswCand *ep,
			int from_layer, int to_layer, HnswError *err)
{
	int			layer;

	for (layer = from_layer; layer > to_layer; layer--)
	{
		bool		changed = true;

		while (changed)
		{
			const uint32_t *list;
			int			n = get_neighbours(sc, idx, src, in_memory, ep->id, layer, &list);
			int			i;

			if (!in_memory && n < 0)
				return source_error(err, "a bad neighbour list", ep->id);
			changed = false;
			if (!in_memory && src->ops->score != NULL)
			{
				int			rc;

				for (i = 0; i < n; i++)
					if (list[i] >= src->n_nodes)
						return source_error(err, "an out-of-range neighbour", ep->id);
				/* list may point into sc->nbuf: score from a copy */
				memcpy(sc->batch, list, sizeof(uint32_t) * (size_t) n);
				if ((rc = score_batch(sc, src, q, sc->batch, n, ep->dist, err)) != HNSW_OK)
					return rc;
				for (i = 0; i < n; i++)
				{
					HnswCand	c;

					c.dist = sc->bdist[i];
					c.id = sc->batch[i];
					if (hnsw_cand_before(c, *ep))
					{
						*ep = c;
						changed = true;
					}
				}
				continue;
			}
			for (i = 0; i < n; i++)
			{
				uint32_t	id = list[i];
				const float *v;
				HnswCand	c;

				if (!in_memory && id >= src->n_nodes)
					return source_error(err, "an out-of-range neighbour", ep->id);
				v = get_vector(sc, idx, src, in_memory, id);
				if (!in_memory && v == NULL)
					return source_error(err, "no vector", id);
				c.dist = hnsw_distance(&sc->dist, q, v);
				c.id = id;
				if (hnsw_cand_before(c, *ep))
				{
					*ep = c;
					changed = true;
				}
			}
		}
	}
	return HNSW_OK;
}

/*
 * Beam search of one layer from the seeds (which may point into sc->layer:
 * they are read before it is written).  Keeps the ef best nodes (not
 * counting deleted ones when skip_deleted) and leaves them in sc->layer,
 * nearest first.  The caller has reserved sc for the graph size and ef.
 */
static HNSW_ALWAYS_INLINE int
layer_body(HnswSearch *sc, const HnswIndex *idx, const HnswSource *src,
		   const bool in_memory, const float *q, const HnswCand *seeds,
		   int n_seeds, int layer, int ef, bool skip_deleted, HnswError *err)
{
	HnswHeap   *cand = &sc->cand;
	HnswHeap   *res = &sc->res;
	uint32_t	uef = (uint32_t) ef;
	int			i;
	int			rc;

	hnsw_visited_reset(sc);
	cand->size = 0;
	res->size = 0;
	for (i = 0; i < n_seeds; i++)
	{
		HnswCand	s = seeds[i];

		if (hnsw_visited_test_and_set(sc, s.id))
			continue;
		if (cand->size == cand->cap && (rc = hnsw_cand_room(sc, uef, err)) != HNSW_OK)
			return rc;
		hnsw_minheap_push(cand, s);
		if (skip_deleted)
		{
			int			del = get_deleted(idx, src, in_memory, s.id);

			if (!in_memory && del < 0)
				return source_error(err, "no deleted flag", s.id);
			if (del)
				continue;
		}
		if (res->size < uef)
			hnsw_maxheap_push(res, s);
		else if (hnsw_cand_before(s, res->items[0]))
			hnsw_maxheap_replace_top(res, s);
	}

	while (cand->size > 0)
	{
		HnswCand	c = cand->items[0];
		const uint32_t *list;
		uint32_t   *batch = sc->batch;
		int			n;
		int			nb = 0;

		if (res->size >= uef && c.dist > res->items[0].dist)
			break;
		hnsw_minheap_pop(cand);

		n = get_neighbours(sc, idx, src, in_memory, c.id, layer, &list);
		if (!in_memory && n < 0)
			return source_error(err, "a bad neighbour list", c.id);
		for (i = 0; i < n; i++)
		{
			uint32_t	id = list[i];

			if (!in_memory && id >= src->n_nodes)
				return source_error(err, "an out-of-range neighbour", c.id);
			if (!hnsw_visited_test_and_set(sc, id))
				batch[nb++] = id;
		}
		if (in_memory && nb > 0)
			HNSW_PREFETCH(hnsw_vec(idx, batch[0]));
		if (!in_memory && src->ops->score != NULL &&
			(rc = score_batch(sc, src, q, batch, nb,
							  res->size >= uef ? res->items[0].dist : INFINITY,
							  err)) != HNSW_OK)
			return rc;

		for (i = 0; i < nb; i++)
		{
			HnswCand	e;

			if (in_memory)
			{
				if (i + 1 < nb)
					HNSW_PREFETCH(hnsw_vec(idx, batch[i + 1]));
				e.dist = hnsw_distance(&sc->dist, q, hnsw_vec(idx, batch[i]));
			}
			else if (src->ops->score != NULL)
				e.dist = sc->bdist[i];
			else
			{
				const float *v = get_vector(sc, idx, src, in_memory, batch[i]);

				if (v == NULL)
					return source_error(err, "no vector", batch[i]);
				e.dist = hnsw_distance(&sc->dist, q, v);
			}
			e.id = batch[i];
			if (res->size >= uef && !hnsw_cand_before(e, res->items[0]))
				continue;
			if (cand->size == cand->cap && (rc = hnsw_cand_room(sc, uef, err)) != HNSW_OK)
				return rc;
			hnsw_minheap_push(cand, e);
			if (skip_deleted)
			{
				int			del = get_deleted(idx, src, in_memory, e.id);

				if (!in_memory && del < 0)
					return source_error(err, "no deleted flag", e.id);
				if (del)
					continue;
			}
			if (res->size < uef)
				hnsw_maxheap_push(res, e);
			else
				hnsw_maxheap_replace_top(res, e);
		}
	}

	sc->layer_n = res->size;
	for (i = (int) res->size - 1; i >= 0; i--)
		sc->layer[i] = hnsw_maxheap_pop(res);
	return HNSW_OK;
}

/* ---- in-memory instantiation (the algorithms on an index, hnsw_knn) */

void
hnsw_greedy_descend(HnswSearch *sc, const HnswIndex *idx, const float *q,
					HnswCand *ep, int from_layer, int to_layer)
{
	(void) greedy_body(sc, idx, NULL, true, q, ep, from_layer, to_layer, NULL);
}

int
hnsw_search_layer(HnswSearch *sc, const HnswIndex *idx, const float *q,
				  const HnswCand *seeds, int n_seeds, int layer, int ef,
				  bool skip_deleted, HnswError *err)
{
	return layer_body(sc, idx, NULL, true, q, seeds, n_seeds, layer, ef,
					  skip_deleted, err);
}

/* ---- source instantiation (hnsw_search_knn, and the store algorithms) */

int
hnsw_source_greedy(HnswSearch *sc, const HnswSource *src, const float *q,
				   HnswCand *ep, int from_layer, int to_layer, HnswError *err)
{
	return greedy_body(sc, NULL, src, false, q, ep, from_layer, to_layer, err);
}

int
hnsw_source_layer(HnswSearch *sc, const HnswSource *src, const float *q,
				  const HnswCand *seeds, int n_seeds, int layer, int ef,
				  bool skip_deleted, HnswError *err)
{
	return layer_body(sc, NULL, src, false, q, seeds, n_seeds, layer, ef,
					  skip_deleted, err);
}

/* ---- k-NN */

/* Validate k and the query, and prepare the query in sc->query. */
static int
knn_prepare(HnswSearch *sc, const float *query, int k, int *ef,
			HnswResult *out, int *n_out, HnswError *err)
{
	double		scale;
	int			rc;

	if (n_out == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "no place to return the result count");
	*n_out = 0;
	if (k < 1)
		return hnsw_fail(err, HNSW_EINVAL, "k must be at least 1, not %d", k);
	if (out == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "no place to return the results");
	if (*ef < k)
		*ef = k;
	rc = hnsw_vector_check(sc->metric, query, sc->dim, &scale, err);
	if (rc != HNSW_OK)
		return rc;
	hnsw_vector_store(sc->query, query, sc->dim, scale);
	return HNSW_OK;
}

int
hnsw_knn(HnswIndex *idx, const float *query, int k, int ef, HnswResult *out,
		 int *n_out, HnswError *err)
{
	HnswSearch *sc;
	HnswCand	ep;
	uint32_t	i;
	int			rc;

	if (idx == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "index is missing");
	sc = idx->work.search;
	rc = knn_prepare(sc, query, k, &ef, out, n_out, err);
	if (rc != HNSW_OK)
		return rc;
	hnsw_clear_error(err);
	if (idx->entry == HNSW_NO_NODE)
		return HNSW_OK;
	rc = hnsw_search_reserve(sc, idx->n_nodes, (uint32_t) ef, err);
	if (rc != HNSW_OK)
		return rc;

	ep.id = idx->entry;
	ep.dist = hnsw_distance(&sc->dist, sc->query, hnsw_vec(idx, ep.id));
	hnsw_greedy_descend(sc, idx, sc->query, &ep, idx->max_level, 0);
	rc = hnsw_search_layer(sc, idx, sc->query, &ep, 1, 0, ef, true, err);
	if (rc != HNSW_OK)
		return rc;
	for (i = 0; i < sc->layer_n && i < (uint32_t) k; i++)
	{
		out[i].id = sc->layer[i].id;
		out[i].distance = sc->layer[i].dist;
		out[i].label = hnsw_node(idx, out[i].id)->label;
	}
	*n_out = (int) i;
	return HNSW_OK;
}

int
hnsw_search_knn(HnswSearch *sc, const HnswSource *src, const float *query,
				int k, int ef, HnswResult *out, int *n_out, HnswError *err)
{
	HnswCand	ep;
	const float *v;
	uint32_t	i;
	int			rc;

	if (sc == NULL || src == NULL || src->ops == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "search context or source is missing");
	if (src->dim != sc->dim || src->m != sc->m || src->metric != sc->metric)
		return hnsw_fail(err, HNSW_EINVAL,
						 "source (dim %d, m %d, %s) does not match the search context (dim %d, m %d, %s)",
						 src->dim, src->m, hnsw_metric_name(src->metric),
						 sc->dim, sc->m, hnsw_metric_name(sc->metric));
	rc = knn_prepare(sc, query, k, &ef, out, n_out, err);
	if (rc != HNSW_OK)
		return rc;
	hnsw_clear_error(err);
	if (src->entry_point == HNSW_NO_NODE)
		return HNSW_OK;
	if (src->entry_point >= src->n_nodes || src->max_level < 0 ||
		src->max_level > HNSW_MAX_LEVEL)
		return hnsw_fail(err, HNSW_ESOURCE,
						 "bad entry point %u at level %d (%u nodes)",
						 src->entry_point, src->max_level, src->n_nodes);
	rc = hnsw_search_reserve(sc, src->n_nodes, (uint32_t) ef, err);
	if (rc != HNSW_OK)
		return rc;

	ep.id = src->entry_point;
	v = src->ops->vector(src->ctx, ep.id, sc->vbuf);
	if (v == NULL)
		return source_error(err, "no vector", ep.id);
	ep.dist = hnsw_distance(&sc->dist, sc->query, v);
	rc = hnsw_source_greedy(sc, src, sc->query, &ep, src->max_level, 0, err);
	if (rc == HNSW_OK)
		rc = hnsw_source_layer(sc, src, sc->query, &ep, 1, 0, ef, true, err);
	if (rc != HNSW_OK)
		return rc;
	for (i = 0; i < sc->layer_n && i < (uint32_t) k; i++)
	{
		out[i].id = sc->layer[i].id;
		out[i].distance = sc->layer[i].dist;
		if (src->ops->label(src->ctx, out[i].id, &out[i].label) != 0)
			return source_error(err, "no label", out[i].id);
	}
	*n_out = (int) i;
	return HNSW_OK;
}

float
hnsw_search_query_distance(const HnswSearch *sc, const float *v)
{
	return hnsw_distance(&sc->dist, sc->query, v);
}
