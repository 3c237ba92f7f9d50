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
 *
 * Before the walk, the entry point: if a live node has a higher level than
 * the entry point, or there is no entry point but there are live nodes,
 * the highest-level live node (lowest id first) becomes the entry point.
 * An index never gets there (an insert moves the entry point itself); a
 * store does when an insert was interrupted between add_node and
 * set_entry_point (see hnsw.h).  Such a node may have no edges yet, so
 * first (hnsw_make_entry, which the repair also uses when it moves the
 * entry point), if it has no layer-0 edges, at each layer from min(its
 * level, max_level) down to 0 where its list is empty, it gets the
 * neighbours an insert would give it (the same search from the old entry
 * point and heuristic, never itself nor a deleted node); it needs no links
 * back, since it becomes where every search starts.
 *
 * Runs on an HnswGraph (index or store, see hnsw_internal.h).  Every node's
 * level and deleted flag are read once, up front.  Interrupted by a store
 * failure, the graph is valid and the nodes fixed so far stay fixed.
 */
#include <string.h>

#include "hnsw_internal.h"

#define NOT_REACHED UINT32_MAX

typedef struct Reach
{
	uint32_t   *parent;			/* per node: tree parent, or NOT_REACHED */
	uint32_t   *queue;			/* per node */
	uint8_t    *info;			/* per node: level | HNSW_INFO_DELETED */
	HnswCand   *cand;			/* m0 + ef_construction */
	HnswCand   *drop;			/* m0 + ef_construction */
	HnswCand   *keep;			/* m0 */
	uint32_t	n;
	uint32_t	cand_cap;
	int			m0;
	size_t		bytes;
} Reach;

static void
reach_free(HnswGraph *g, Reach *r)
{
	const HnswAllocator *a = &g->w->alloc;

	hnsw_mem_free(a, &r->bytes, r->parent, sizeof(uint32_t) * (size_t) r->n);
	hnsw_mem_free(a, &r->bytes, r->queue, sizeof(uint32_t) * (size_t) r->n);
	hnsw_mem_free(a, &r->bytes, r->info, (size_t) r->n);
	hnsw_mem_free(a, &r->bytes, r->cand, sizeof(HnswCand) * (size_t) r->cand_cap);
	hnsw_mem_free(a, &r->bytes, r->drop, sizeof(HnswCand) * (size_t) r->cand_cap);
	hnsw_mem_free(a, &r->bytes, r->keep, sizeof(HnswCand) * (size_t) r->m0);
}

static int
reach_alloc(HnswGraph *g, Reach *r)
{
	const HnswAllocator *a = &g->w->alloc;
	uint32_t	i;

	r->bytes = 0;
	r->n = hnsw_g_n_nodes(g);
	r->m0 = g->w->m0;
	r->cand_cap = (uint32_t) (r->m0 + g->w->params.ef_construction);
	r->parent = hnsw_mem_alloc(a, &r->bytes, sizeof(uint32_t) * (size_t) r->n);
	r->queue = hnsw_mem_alloc(a, &r->bytes, sizeof(uint32_t) * (size_t) r->n);
	r->info = hnsw_mem_alloc(a, &r->bytes, (size_t) r->n);
	r->cand = hnsw_mem_alloc(a, &r->bytes, sizeof(HnswCand) * (size_t) r->cand_cap);
	r->drop = hnsw_mem_alloc(a, &r->bytes, sizeof(HnswCand) * (size_t) r->cand_cap);
	r->keep = hnsw_mem_alloc(a, &r->bytes, sizeof(HnswCand) * (size_t) r->m0);
	if (r->parent == NULL || r->queue == NULL || r->info == NULL ||
		r->cand == NULL || r->drop == NULL || r->keep == NULL)
	{
		reach_free(g, r);
		return hnsw_fail(g->err, HNSW_ENOMEM,
						 "out of memory checking the reachability of %u nodes", r->n);
	}
	for (i = 0; i < r->n; i++)
		r->parent[i] = NOT_REACHED;
	return HNSW_OK;
}

static bool
is_deleted(const Reach *r, uint32_t id)
{
	return (r->info[id] & HNSW_INFO_DELETED) != 0;
}

/* Extend the reached set from start (already reached) over layer 0. */
static int
walk_from(HnswGraph *g, Reach *r, uint32_t start)
{
	uint32_t	head = 0;
	uint32_t	tail = 0;

	r->queue[tail++] = start;
	while (head < tail)
	{
		uint32_t	u = r->queue[head++];
		HnswNbrs	l;
		uint32_t	i;
		int			rc = hnsw_g_read_list(g, u, 0, 0, &l);

		if (rc != HNSW_OK)
			return rc;
		for (i = 0; i < l.n; i++)
		{
			uint32_t	v = l.ids[i];

			if (r->parent[v] == NOT_REACHED)
			{
				r->parent[v] = u;
				r->queue[tail++] = v;
			}
		}
	}
	return HNSW_OK;
}

/* Give x more out-edges: re-select from its list plus the search results. */
static int
widen_list(HnswGraph *g, Reach *r, uint32_t x)
{
	HnswSearch *sc = g->w->search;
	HnswNbrs	l;
	uint32_t	n = 0;
	uint32_t	n_sel;
	uint32_t	i;
	int			nk;
	int			rc;

	rc = hnsw_g_read_list(g, x, 0, 0, &l);
	if (rc == HNSW_OK)
		rc = hnsw_g_list_dists(g, x, &l);
	if (rc != HNSW_OK)
		return rc;
	hnsw_visited_reset(sc);
	(void) hnsw_visited_test_and_set(sc, x);
	for (i = 0; i < l.n; i++)
	{
		if (hnsw_visited_test_and_set(sc, l.ids[i]))
			continue;
		r->cand[n].id = l.ids[i];
		r->cand[n].dist = l.dists[i];
		n++;
	}
	for (i = 0; i < sc->layer_n; i++)
	{
		if (is_deleted(r, sc->layer[i].id) ||
			hnsw_visited_test_and_set(sc, sc->layer[i].id))
			continue;
		r->cand[n++] = sc->layer[i];
	}
	hnsw_sort_cands(r->cand, (int) n);
	rc = hnsw_select_neighbours(g, r->cand, (int) n, r->m0, r->keep, r->drop,
								&nk, &n_sel);
	if (rc != HNSW_OK)
		return rc;
	return hnsw_g_write_list(g, x, 0, r->keep, nk, n_sel);
}

/*
 * Link x (vector xv) from node p if p has a free slot or a non-tree edge
 * (the farthest one is replaced).  *linked says whether it did.
 */
static int
link_from(HnswGraph *g, Reach *r, uint32_t p, uint32_t x, const float *xv,
		  bool *linked)
{
	HnswNbrs	l;
	HnswCand	c;
	const float *pv;
	uint32_t	worst = UINT32_MAX;
	uint32_t	i;
	int			rc;

	*linked = false;
	rc = hnsw_g_read_list(g, p, 0, 0, &l);
	if (rc != HNSW_OK)
		return rc;
	pv = hnsw_g_vec(g, p, -1);
	if (pv == NULL)
		return HNSW_ESOURCE;
	c.id = x;
	c.dist = hnsw_distance(g->dist, pv, xv);
	if (l.n < (uint32_t) r->m0)
	{
		*linked = true;
		return hnsw_g_append(g, p, 0, &l, c);
	}
	rc = hnsw_g_list_dists(g, p, &l);
	if (rc != HNSW_OK)
		return rc;
	for (i = 0; i < l.n; i++)
	{
		if (r->parent[l.ids[i]] == p)
			continue;			/* tree edge: keeps its target reached */
		if (worst == UINT32_MAX || l.dists[i] > l.dists[worst])
			worst = i;
	}
	if (worst == UINT32_MAX)
		return HNSW_OK;
	*linked = true;
	return hnsw_g_replace(g, p, 0, &l, worst, c);
}

static int
attach(HnswGraph *g, Reach *r, uint32_t x)
{
	HnswSearch *sc = g->w->search;
	const float *xv;
	const float *v;
	HnswNbrs	l;
	HnswCand	ep;
	uint32_t	p = NOT_REACHED;
	uint32_t	i;
	int			rc;

	xv = hnsw_g_vec(g, x, HNSW_HOLD_BASE);
	if (xv == NULL)
		return HNSW_ESOURCE;
	ep.id = hnsw_g_entry(g);
	v = hnsw_g_vec(g, ep.id, -1);
	if (v == NULL)
		return HNSW_ESOURCE;
	ep.dist = hnsw_distance(g->dist, xv, v);
	rc = hnsw_g_search_layer(g, xv, &ep, 1, 0, g->w->params.ef_construction, false);
	if (rc == HNSW_OK)
		rc = hnsw_g_read_list(g, x, 0, 0, &l);
	if (rc != HNSW_OK)
		return rc;
	if (l.n < (uint32_t) g->w->params.m)
	{
		rc = widen_list(g, r, x);
		if (rc != HNSW_OK)
			return rc;
		/* widen_list reused the visited set; sc->layer is intact */
	}
	for (i = 0; i < sc->layer_n && p == NOT_REACHED; i++)
	{
		uint32_t	cand = sc->layer[i].id;
		bool		linked = false;

		if (cand != x && !is_deleted(r, cand) && r->parent[cand] != NOT_REACHED)
		{
			rc = link_from(g, r, cand, x, xv, &linked);
			if (rc != HNSW_OK)
				return rc;
		}
		if (linked)
			p = cand;
	}
	for (i = 0; i < r->n && p == NOT_REACHED; i++)
	{
		bool		linked = false;

		if (i != x && r->parent[i] != NOT_REACHED)
		{
			rc = link_from(g, r, i, x, xv, &linked);
			if (rc != HNSW_OK)
				return rc;
		}
		if (linked)
			p = i;
	}
	if (p == NOT_REACHED)		/* cannot happen, see the file comment */
		return hnsw_fail(g->err, HNSW_ECORRUPT,
						 "no reachable node can link to node %u", x);
	r->parent[x] = p;
	return walk_from(g, r, x);
}

/*
 * Make live node e (of level) the entry point.  If e has no layer-0 edges
 * (a node an interrupted store insert left unlinked) and there is an entry
 * point to search from, first give it, at each layer from min(level,
 * max_level) down to 0 where its list is empty, the neighbours an insert
 * would, leaving out e itself and nodes info marks deleted.
 */
int
hnsw_make_entry(HnswGraph *g, uint32_t e, int level, const uint8_t *info)
{
	HnswWork   *w = g->w;
	uint32_t	entry = hnsw_g_entry(g);
	HnswNbrs	l;
	int			top;
	int			layer;
	int			rc;

	rc = hnsw_g_read_list(g, e, 0, 0, &l);
	if (rc != HNSW_OK)
		return rc;
	if (l.n == 0 && entry != HNSW_NO_NODE && entry != e)
	{
		const float *q = hnsw_g_vec(g, e, -1);

		if (q == NULL)
			return HNSW_ESOURCE;
		if (g->idx == NULL)
		{
			memcpy(w->qbuf, q, sizeof(float) * (size_t) w->params.dim);
			q = w->qbuf;
		}
		rc = hnsw_insert_search(g, q, level, e, info, &top);
		for (layer = top; layer >= 0 && rc == HNSW_OK; layer--)
		{
			rc = hnsw_g_read_list(g, e, layer, 0, &l);
			if (rc == HNSW_OK && l.n == 0 && w->sel_n[layer] > 0)
				rc = hnsw_g_write_list(g, e, layer, w->sel + (size_t) layer * w->m0,
									   w->sel_n[layer], w->sel_nsel[layer]);
		}
		if (rc != HNSW_OK)
			return rc;
	}
	return hnsw_g_set_entry(g, e, level);
}

/* Make the highest-level live node the entry point if it is above it. */
static int
promote_entry(HnswGraph *g, Reach *r)
{
	uint32_t	best = hnsw_highest_live(r->info, r->n);
	int			level;

	if (best == HNSW_NO_NODE)
		return HNSW_OK;
	level = r->info[best] & HNSW_INFO_LEVEL;
	if (hnsw_g_entry(g) != HNSW_NO_NODE && level <= hnsw_g_max_level(g))
		return HNSW_OK;
	return hnsw_make_entry(g, best, level, r->info);
}

int
hnsw_reconnect_run(HnswGraph *g, uint32_t *n_fixed)
{
	Reach		r;
	uint32_t	fixed = 0;
	uint32_t	entry;
	uint32_t	x;
	int			rc;

	if (n_fixed != NULL)
		*n_fixed = 0;
	if (hnsw_g_n_nodes(g) == 0)
		return HNSW_OK;
	rc = hnsw_g_reserve(g, hnsw_g_n_nodes(g));
	if (rc == HNSW_OK)
		rc = reach_alloc(g, &r);
	if (rc != HNSW_OK)
		return rc;

	rc = hnsw_g_load_info(g, r.info);
	if (rc == HNSW_OK)
		rc = promote_entry(g, &r);
	entry = hnsw_g_entry(g);
	if (rc == HNSW_OK && entry != HNSW_NO_NODE)
	{
		r.parent[entry] = entry;
		rc = walk_from(g, &r, entry);
	}
	for (x = 0; x < r.n && rc == HNSW_OK && entry != HNSW_NO_NODE; x++)
	{
		if (r.parent[x] != NOT_REACHED || is_deleted(&r, x))
			continue;
		rc = attach(g, &r, x);
		if (rc == HNSW_OK)
			fixed++;
	}
	reach_free(g, &r);
	if (n_fixed != NULL)
		*n_fixed = fixed;
	return rc;
}

int
hnsw_reconnect(HnswIndex *idx, uint32_t *n_fixed, HnswError *err)
{
	HnswGraph	g;

	if (idx == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "index is missing");
	hnsw_clear_error(err);
	hnsw_graph_of_index(&g, idx, err);
	return hnsw_reconnect_run(&g, n_fixed);
}

int
hnsw_store_reconnect(HnswWriter *w, HnswStore *st, uint32_t *n_fixed,
					 HnswError *err)
{
	HnswGraph	g;
	int			rc;

	if (n_fixed != NULL)
		*n_fixed = 0;
	rc = hnsw_store_begin(&g, w, st, err);
	if (rc != HNSW_OK)
		return rc;
	rc = hnsw_reconnect_run(&g, n_fixed);
	if (rc == HNSW_OK)
		hnsw_clear_error(err);
	return rc;
}
