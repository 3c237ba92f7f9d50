/*
 * hnsw_reconnect.c - making every live node reachable again.
 *
 * Owns hnsw_reconnect.  A node is reachable when a walk over layer-0 edges
 * from the entry point gets to it (searches walk through marked-deleted
 * nodes, so this walk does too).  Heuristic pruning can leave a node with
 * no incoming edge; deletes make that more likely.
 *
 * The walk is a breadth-first search that records each reached node's
 * parent: the parent edges form a spanning tree of the reached set.  For
 * each unreached live node X (in id order):
 *	- search layer 0 for X from the entry point (ef_construction, so the
 *	  results are reached nodes near X);
 *	- if X has fewer than m out-edges, re-select its list from its current
 *	  neighbours plus those results;
 *	- link X from the nearest live result R that has a free slot or an edge
 *	  that is not a tree edge (replacing the farthest such edge); if no
 *	  result qualifies, from the first reached node that does (one always
 *	  exists: n reached nodes have n - 1 tree edges but room for 2m * n);
 *	- X's parent is R; continue the walk from X.
 * Only non-tree edges are ever replaced, so nodes once reached stay
 * reached.  Upper layers are left alone (they only speed up the descent).
 */
#include "hnsw_internal.h"

#define NOT_REACHED UINT32_MAX

typedef struct Reach
{
	uint32_t   *parent;			/* per node: tree parent, or NOT_REACHED */
	uint32_t   *queue;			/* per node */
	HnswCand   *cand;			/* m0 + ef_construction */
	HnswCand   *drop;			/* m0 + ef_construction */
	HnswCand   *keep;			/* m0 */
	uint32_t	n;
	uint32_t	cand_cap;
	size_t		bytes;
} Reach;

static void
reach_free(HnswIndex *idx, Reach *r)
{
	hnsw_mem_free(&idx->alloc, &r->bytes, r->parent, sizeof(uint32_t) * (size_t) r->n);
	hnsw_mem_free(&idx->alloc, &r->bytes, r->queue, sizeof(uint32_t) * (size_t) r->n);
	hnsw_mem_free(&idx->alloc, &r->bytes, r->cand, sizeof(HnswCand) * (size_t) r->cand_cap);
	hnsw_mem_free(&idx->alloc, &r->bytes, r->drop, sizeof(HnswCand) * (size_t) r->cand_cap);
	hnsw_mem_free(&idx->alloc, &r->bytes, r->keep, sizeof(HnswCand) * (size_t) idx->m0);
}

static int
reach_alloc(HnswIndex *idx, Reach *r, HnswError *err)
{
	uint32_t	i;

	r->bytes = 0;
	r->n = idx->n_nodes;
	r->cand_cap = (uint32_t) (idx->m0 + idx->params.ef_construction);
	r->parent = hnsw_mem_alloc(&idx->alloc, &r->bytes, sizeof(uint32_t) * (size_t) r->n);
	r->queue = hnsw_mem_alloc(&idx->alloc, &r->bytes, sizeof(uint32_t) * (size_t) r->n);
	r->cand = hnsw_mem_alloc(&idx->alloc, &r->bytes, sizeof(HnswCand) * (size_t) r->cand_cap);
	r->drop = hnsw_mem_alloc(&idx->alloc, &r->bytes, sizeof(HnswCand) * (size_t) r->cand_cap);
	r->keep = hnsw_mem_alloc(&idx->alloc, &r->bytes, sizeof(HnswCand) * (size_t) idx->m0);
	if (r->parent == NULL || r->queue == NULL || r->cand == NULL ||
		r->drop == NULL || r->keep == NULL)
	{
		reach_free(idx, r);
		return hnsw_fail(err, HNSW_ENOMEM,
						 "out of memory checking the reachability of %u nodes", r->n);
	}
	for (i = 0; i < r->n; i++)
		r->parent[i] = NOT_REACHED;
	return HNSW_OK;
}

/* Extend the reached set from start (already reached) over layer 0. */
static void
walk_from(const HnswIndex *idx, Reach *r, uint32_t start)
{
	uint32_t	head = 0;
	uint32_t	tail = 0;

	r->queue[tail++] = start;
	while (head < tail)
	{
		uint32_t	u = r->queue[head++];
		HnswList	l = hnsw_list(idx, u, 0);
		uint32_t	i;

		for (i = 0; i < l.hdr[0]; i++)
		{
			uint32_t	v = l.ids[i];

			if (r->parent[v] == NOT_REACHED)
			{
				r->parent[v] = u;
				r->queue[tail++] = v;
			}
		}
	}
}

/* Give x more out-edges: re-select from its list plus the search results. */
static void
widen_list(HnswIndex *idx, Reach *r, uint32_t x)
{
	HnswSearch *sc = idx->search;
	HnswList	l = hnsw_list(idx, x, 0);
	uint32_t	n = 0;
	uint32_t	n_sel;
	uint32_t	i;
	int			nk;

	hnsw_visited_reset(sc);
	(void) hnsw_visited_test_and_set(sc, x);
	for (i = 0; i < l.hdr[0]; i++)
	{
		if (hnsw_visited_test_and_set(sc, l.ids[i]))
			continue;
		r->cand[n].id = l.ids[i];
		r->cand[n].dist = l.dists[i];
		n++;
	}
	for (i = 0; i < sc->layer_n; i++)
	{
		if (hnsw_deleted(idx, sc->layer[i].id) ||
			hnsw_visited_test_and_set(sc, sc->layer[i].id))
			continue;
		r->cand[n++] = sc->layer[i];
	}
	hnsw_sort_cands(r->cand, (int) n);
	nk = hnsw_select_neighbours(idx, r->cand, (int) n, idx->m0, r->keep, r->drop,
								&n_sel);
	hnsw_write_list(idx, x, 0, r->keep, nk, n_sel);
}

/*
 * Link x from node p if p has a free slot or a non-tree edge (the farthest
 * one is replaced).  Returns whether it did.
 */
static bool
link_from(HnswIndex *idx, Reach *r, uint32_t p, uint32_t x)
{
	HnswList	l = hnsw_list(idx, p, 0);
	float		dx = hnsw_distance(&idx->dist, hnsw_vec(idx, p), hnsw_vec(idx, x));
	uint32_t	worst = UINT32_MAX;
	uint32_t	i;

	if (l.hdr[0] < (uint32_t) idx->m0)
	{
		l.ids[l.hdr[0]] = x;
		l.dists[l.hdr[0]] = dx;
		l.hdr[0]++;
		l.hdr[1] = HNSW_SEL_UNKNOWN;
		return true;
	}
	for (i = 0; i < l.hdr[0]; i++)
	{
		if (r->parent[l.ids[i]] == p)
			continue;			/* tree edge: keeps its target reached */
		if (worst == UINT32_MAX || l.dists[i] > l.dists[worst])
			worst = i;
	}
	if (worst == UINT32_MAX)
		return false;
	l.ids[worst] = x;
	l.dists[worst] = dx;
	l.hdr[1] = HNSW_SEL_UNKNOWN;
	return true;
}

static int
attach(HnswIndex *idx, Reach *r, uint32_t x, HnswError *err)
{
	HnswSearch *sc = idx->search;
	const float *xv = hnsw_vec(idx, x);
	HnswCand	ep;
	uint32_t	p = NOT_REACHED;
	uint32_t	i;
	int			rc;

	ep.id = idx->entry;
	ep.dist = hnsw_distance(&idx->dist, xv, hnsw_vec(idx, ep.id));
	rc = hnsw_search_layer(sc, idx, xv, &ep, 1, 0, idx->params.ef_construction,
						   false, err);
	if (rc != HNSW_OK)
		return rc;
	if (hnsw_list(idx, x, 0).hdr[0] < (uint32_t) idx->m)
	{
		widen_list(idx, r, x);
		/* widen_list reused the visited set; sc->layer is intact */
	}
	for (i = 0; i < sc->layer_n && p == NOT_REACHED; i++)
	{
		uint32_t	cand = sc->layer[i].id;

		if (cand != x && !hnsw_deleted(idx, cand) && r->parent[cand] != NOT_REACHED &&
			link_from(idx, r, cand, x))
			p = cand;
	}
	for (i = 0; i < r->n && p == NOT_REACHED; i++)
	{
		if (i != x && r->parent[i] != NOT_REACHED && link_from(idx, r, i, x))
			p = i;
	}
	if (p == NOT_REACHED)		/* cannot happen, see the file comment */
		return hnsw_fail(err, HNSW_ECORRUPT,
						 "no reachable node can link to node %u", x);
	r->parent[x] = p;
	walk_from(idx, r, x);
	return HNSW_OK;
}

int
hnsw_reconnect_internal(HnswIndex *idx, uint32_t *n_fixed, HnswError *err)
{
	Reach		r;
	uint32_t	fixed = 0;
	uint32_t	x;
	int			rc;

	if (n_fixed != NULL)
		*n_fixed = 0;
	if (idx->entry == HNSW_NO_NODE)
		return HNSW_OK;
	rc = hnsw_search_reserve(idx->search, idx->n_nodes,
							 (uint32_t) idx->params.ef_construction, err);
	if (rc == HNSW_OK)
		rc = reach_alloc(idx, &r, err);
	if (rc != HNSW_OK)
		return rc;

	r.parent[idx->entry] = idx->entry;
	walk_from(idx, &r, idx->entry);
	for (x = 0; x < idx->n_nodes && rc == HNSW_OK; x++)
	{
		if (r.parent[x] != NOT_REACHED || hnsw_deleted(idx, x))
			continue;
		rc = attach(idx, &r, x, err);
		if (rc == HNSW_OK)
			fixed++;
	}
	reach_free(idx, &r);
	if (n_fixed != NULL)
		*n_fixed = fixed;
	return rc;
}

int
hnsw_reconnect(HnswIndex *idx, uint32_t *n_fixed, HnswError *err)
{
	int			rc;

	if (idx == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "index is missing");
	hnsw_clear_error(err);
	rc = hnsw_reconnect_internal(idx, n_fixed, err);
	return rc;
}
