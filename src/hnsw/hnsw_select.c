/*
 * hnsw_select.c - choosing neighbours: the heuristic and list updates.
 *
 * Owns the paper's neighbour selection heuristic (Algorithm 4), the writing
 * of a list, and the one way a list changes during inserts: hnsw_add_link,
 * which appends a link while the list has room and otherwise re-selects
 * the list from its current members plus the new one.
 *
 * The heuristic, for candidates sorted nearest first: accept a candidate e
 * unless some already accepted r is nearer to e than the base node is
 * (dist(e, r) < dist(e, base)); stop at max accepted.  Choices:
 *	- extendCandidates is not used (the paper recommends it only for
 *	  extremely clustered data; it multiplies the cost).
 *	- keepPrunedConnections is used: after the pass, rejected candidates
 *	  (nearest first) fill the list up to max.  Full lists cost more
 *	  distance computations per hop but make each hop better: on
 *	  Fashion-MNIST they reach recall 0.99 at ~30% more queries per second
 *	  than lists of the selected candidates alone, and they leave more
 *	  routes around deleted nodes.
 *	- With no more candidates than max, all are kept without computing
 *	  anything (as hnswlib and pgvector do).
 *
 * Re-selecting a full list when a link arrives costs up to
 * max * (max + 1) / 2 distance computations, and with full lists nearly
 * every back-link does it: that was 87% of the distance computations of a
 * build (Fashion-MNIST build: 20.3 s).  So a list records each neighbour's
 * distance and which entries the heuristic selected (n_sel, see
 * hnsw_internal.h), and the re-selection of the list plus one new
 * candidate q walks the merged (distance, id) order and recomputes only
 * what q can change:
 *	- q is checked against the entries selected before it;
 *	- an entry selected before is checked only against the entries newly
 *	  selected ahead of it (q, and re-admitted entries, below); if that
 *	  rejects it, it is "dropped";
 *	- an entry rejected before stays rejected while nothing was dropped
 *	  (its blocker is still selected), and is re-checked in full after.
 * This gives exactly the full re-selection's list (checked by building
 * with -DHNSW_FULL_RESELECT=1: identical graphs, including deletes, repair
 * and later inserts), typically for a few distance computations (build:
 * 8.8 s).
 */
#include <stdlib.h>

#include "hnsw_internal.h"

#ifndef HNSW_KEEP_PRUNED
#define HNSW_KEEP_PRUNED 1
#endif
/* 1: always re-select in full (to verify the incremental path) */
#ifndef HNSW_FULL_RESELECT
#define HNSW_FULL_RESELECT 0
#endif

static int
cand_cmp(const void *a, const void *b)
{
	HnswCand	x = *(const HnswCand *) a;
	HnswCand	y = *(const HnswCand *) b;

	if (hnsw_cand_before(x, y))
		return -1;
	if (hnsw_cand_before(y, x))
		return 1;
	return 0;
}

void
hnsw_sort_cands(HnswCand *c, int n)
{
	int			i;

	if (n > 32)
	{
		qsort(c, (size_t) n, sizeof(HnswCand), cand_cmp);
		return;
	}
	for (i = 1; i < n; i++)
	{
		HnswCand	x = c[i];
		int			j = i - 1;

		while (j >= 0 && hnsw_cand_before(x, c[j]))
		{
			c[j + 1] = c[j];
			j--;
		}
		c[j + 1] = x;
	}
}

/* Is some node of sel[0 .. n_sel - 1] nearer to e than e's base is? */
static bool
blocked(const HnswIndex *idx, HnswCand e, const HnswCand *sel, int n_sel)
{
	const float *ev = hnsw_vec(idx, e.id);
	int			j;

	for (j = 0; j < n_sel; j++)
	{
		if (hnsw_distance(&idx->dist, ev, hnsw_vec(idx, sel[j].id)) < e.dist)
			return true;
	}
	return false;
}

/*
 * Select up to max of the n candidates (sorted nearest first) into keep;
 * returns how many.  *n_sel gets the number the heuristic selected (they
 * come first in keep), or HNSW_SEL_UNKNOWN when all n <= max were kept
 * without running it.  drop needs room for n.
 */
int
hnsw_select_neighbours(const HnswIndex *idx, const HnswCand *cand, int n,
					   int max, HnswCand *keep, HnswCand *drop,
					   uint32_t *n_sel)
{
	int			nk = 0;
	int			nd = 0;
	int			i;

	if (n <= max)
	{
		for (i = 0; i < n; i++)
			keep[i] = cand[i];
		*n_sel = HNSW_SEL_UNKNOWN;
		return n;
	}
	for (i = 0; i < n && nk < max; i++)
	{
		if (blocked(idx, cand[i], keep, nk))
			drop[nd++] = cand[i];
		else
			keep[nk++] = cand[i];
	}
	*n_sel = (uint32_t) nk;
	if (HNSW_KEEP_PRUNED)
	{
		for (i = 0; i < nd && nk < max; i++)
			keep[nk++] = drop[i];
	}
	return nk;
}

void
hnsw_write_list(HnswIndex *idx, uint32_t node, int layer, const HnswCand *keep,
				int n, uint32_t n_sel)
{
	HnswList	l = hnsw_list(idx, node, layer);
	int			i;

	for (i = 0; i < n; i++)
	{
		l.ids[i] = keep[i].id;
		l.dists[i] = keep[i].dist;
	}
	l.hdr[0] = (uint32_t) n;
	l.hdr[1] = n_sel;
}

/* Full re-selection of a full list l plus link. */
static void
reselect(HnswIndex *idx, uint32_t node, int layer, HnswList l, HnswCand link)
{
	HnswCand   *in = idx->prune_in;
	uint32_t	count = l.hdr[0];
	uint32_t	n_sel;
	uint32_t	i;
	int			nk;

	for (i = 0; i < count; i++)
	{
		in[i].id = l.ids[i];
		in[i].dist = l.dists[i];
	}
	in[count] = link;
	hnsw_sort_cands(in, (int) count + 1);
	nk = hnsw_select_neighbours(idx, in, (int) count + 1,
								hnsw_layer_max(idx->m, layer),
								idx->prune_keep, idx->drop, &n_sel);
	hnsw_write_list(idx, node, layer, idx->prune_keep, nk, n_sel);
}

/*
 * Incremental re-selection of a full list whose first n_sel entries are
 * the heuristic's selection (see the file comment).  The list is walked in
 * merged (distance, id) order of its selected entries, its rejected
 * entries and the link.
 */
static void
reselect_incremental(HnswIndex *idx, uint32_t node, int layer, HnswList l,
					 HnswCand link)
{
	HnswCand   *sel = idx->prune_keep;	/* new selection, nearest first */
	HnswCand   *rest = idx->drop;	/* the others, nearest first */
	HnswCand   *added = idx->prune_in;	/* selected now, not before */
	uint32_t	count = l.hdr[0];
	uint32_t	n_old_sel = l.hdr[1];
	uint32_t	si = 0;			/* next old selected entry */
	uint32_t	ri = n_old_sel; /* next old rejected entry */
	bool		link_done = false;
	bool		dropped_any = false;
	int			max = hnsw_layer_max(idx->m, layer);
	int			ns = 0;
	int			nr = 0;
	int			na = 0;
	int			i;

	while (si < n_old_sel || ri < count || !link_done)
	{
		HnswCand	c;
		int			kind = -1;	/* 0 old selected, 1 old rejected, 2 link */
		bool		accept;

		if (si < n_old_sel)
		{
			c.id = l.ids[si];
			c.dist = l.dists[si];
			kind = 0;
		}
		if (ri < count)
		{
			HnswCand	r;

			r.id = l.ids[ri];
			r.dist = l.dists[ri];
			if (kind < 0 || hnsw_cand_before(r, c))
			{
				c = r;
				kind = 1;
			}
		}
		if (!link_done && (kind < 0 || hnsw_cand_before(link, c)))
		{
			c = link;
			kind = 2;
		}
		if (kind == 0)
			si++;
		else if (kind == 1)
			ri++;
		else
			link_done = true;

		if (ns == max)
			accept = false;		/* the heuristic stops here */
		else if (kind == 0)
		{
			/* the old selection did not block it: check the new members */
			accept = !blocked(idx, c, added, na);
			if (!accept)
				dropped_any = true;
		}
		else if (kind == 1 && !dropped_any)
			accept = false;		/* its blocker is still selected */
		else
		{
			accept = !blocked(idx, c, sel, ns);
			if (accept)
				added[na++] = c;
		}

		if (accept)
			sel[ns++] = c;
		else
			rest[nr++] = c;
	}

	/* count + 1 entries, at most max selected: drop the farthest other */
	nr--;
	for (i = 0; i < nr && ns < max; i++)
		sel[ns++] = rest[i];
	hnsw_write_list(idx, node, layer, sel, ns, (uint32_t) (ns - i));
}

void
hnsw_add_link(HnswIndex *idx, uint32_t node, int layer, HnswCand link)
{
	HnswList	l = hnsw_list(idx, node, layer);
	uint32_t	count = l.hdr[0];
	uint32_t	i;

	for (i = 0; i < count; i++)
	{
		if (l.ids[i] == link.id)
			return;
	}
	if (count < (uint32_t) hnsw_layer_max(idx->m, layer))
	{
		l.ids[count] = link.id;
		l.dists[count] = link.dist;
		l.hdr[0] = count + 1;
		l.hdr[1] = HNSW_SEL_UNKNOWN;
		return;
	}
	if (HNSW_FULL_RESELECT || !HNSW_KEEP_PRUNED || l.hdr[1] == HNSW_SEL_UNKNOWN)
		reselect(idx, node, layer, l, link);
	else
		reselect_incremental(idx, node, layer, l, link);
}
