/*
 * test_cluster_segment.c - unit tests of cluster_segment.h (plain C, run
 * under ASan and UBSan by `make unittest`): the hybrid logical clock and
 * last-writer-wins order, change-log segments (exact layout, round trips,
 * partition grouping, header-only and per-block reads, every kind of
 * damage) and schema.json.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "cluster_segment.h"
#include "test_report.h"
#include "test_rng.h"

static char errbuf[CLUSTER_ERRLEN];

static int
contains(const char *s, const char *sub)
{
	return s != NULL && strstr(s, sub) != NULL;
}

/* ------------------------------------------------------------------ HLC */

static void
test_hlc(void)
{
	uint64_t	h,
				prev,
				wall;
	int			i,
				ok;
	char		details[128];

	h = cluster_hlc_make(1700000000123ull, 42);
	report(cluster_hlc_ms(h) == 1700000000123ull && (h & 0xffff) == 42,
		   "hlc_make / hlc_ms round trip", "");
	report(cluster_hlc_make(5, 0x1ffff) == cluster_hlc_make(5, 0xffff),
		   "hlc_make keeps 16 bits of the counter", "");

	/* wall clock ahead: the physical part jumps to it, counter 0 */
	h = cluster_hlc_next(cluster_hlc_make(1000, 7), 2000);
	report(h == cluster_hlc_make(2000, 0), "next: wall clock ahead -> (wall, 0)", "");
	/* same millisecond: the counter counts */
	h = cluster_hlc_next(cluster_hlc_make(1000, 7), 1000);
	report(h == cluster_hlc_make(1000, 8), "next: same millisecond -> counter + 1", "");
	/* wall clock went backwards: never backwards */
	h = cluster_hlc_next(cluster_hlc_make(5000, 3), 1000);
	report(h == cluster_hlc_make(5000, 4), "next: wall clock backwards -> last + 1", "");
	/* counter overflow carries into the milliseconds */
	h = cluster_hlc_next(cluster_hlc_make(1000, 0xffff), 1000);
	report(h == cluster_hlc_make(1001, 0) && cluster_hlc_ms(h) == 1001,
		   "next: counter overflow carries into ms", "");
	report(cluster_hlc_next(UINT64_MAX, 0) == UINT64_MAX, "next saturates at UINT64_MAX", "");

	/* a jittery wall clock that often goes backwards */
	rng_seed(12345);
	prev = 0;
	wall = 1700000000000ull;
	ok = 1;
	details[0] = '\0';
	for (i = 0; i < 100000 && ok; i++)
	{
		double		u = rand_unit();

		if (u < 0.3)
			wall -= (uint64_t) (rand_unit() * 50);
		else if (u < 0.6)
			wall += (uint64_t) (rand_unit() * 50);
		h = cluster_hlc_next(prev, wall);
		if (h <= prev || cluster_hlc_ms(h) < wall)
		{
			ok = 0;
			snprintf(details, sizeof(details), "step %d: %" PRIu64 " after %" PRIu64, i, h, prev);
		}
		prev = h;
	}
	report(ok, "next: strictly increasing and >= wall clock over 100000 jittery steps", details);

	/* observe */
	h = cluster_hlc_observe(cluster_hlc_make(1000, 1), cluster_hlc_make(3000, 5), 2000);
	report(h == cluster_hlc_make(3000, 6), "observe: remote ahead -> remote + 1", "");
	h = cluster_hlc_observe(cluster_hlc_make(4000, 9), cluster_hlc_make(3000, 5), 2000);
	report(h == cluster_hlc_make(4000, 10), "observe: local ahead -> last + 1", "");
	h = cluster_hlc_observe(cluster_hlc_make(4000, 9), cluster_hlc_make(3000, 5), 9000);
	report(h == cluster_hlc_make(9000, 0), "observe: wall clock ahead -> (wall, 0)", "");
	h = cluster_hlc_observe(cluster_hlc_make(10, 0xffff), cluster_hlc_make(10, 0xffff), 0);
	report(h == cluster_hlc_make(11, 0), "observe: counter overflow carries", "");
	rng_seed(777);
	ok = 1;
	for (i = 0; i < 10000 && ok; i++)
	{
		uint64_t	last = (uint64_t) (rand_unit() * 1e15),
					remote = (uint64_t) (rand_unit() * 1e15),
					w = (uint64_t) (rand_unit() * 1e10);

		h = cluster_hlc_observe(last, remote, w);
		if (h <= last || h <= remote || h < (w << 16))
			ok = 0;
	}
	report(ok, "observe: > max(last, remote) and >= wall << 16 on 10000 random inputs", "");

	/* last-writer-wins order */
	report(cluster_version_cmp(10, "a", 9, "z") > 0, "version_cmp: higher HLC wins over writer id", "");
	report(cluster_version_cmp(9, "z", 10, "a") < 0, "version_cmp: lower HLC loses", "");
	report(cluster_version_cmp(10, "node-b", 10, "node-a") == 1 &&
		   cluster_version_cmp(10, "node-a", 10, "node-b") == -1,
		   "version_cmp: tie broken by writer id, greater id wins", "");
	report(cluster_version_cmp(10, "node-a", 10, "node-a") == 0, "version_cmp: same version is 0", "");
	report(cluster_version_cmp(10, NULL, 10, "a") < 0 && cluster_version_cmp(10, NULL, 10, "") == 0,
		   "version_cmp: NULL writer counts as \"\"", "");
}

/* --------------------------------------------------------- test segments */

#define MAX_ROWS 1000

/* the rows a test adds, kept to compare with what comes back */
typedef struct TestRows
{
	int			n;
	uint32_t	dims;
	uint32_t	pcount;
	ClusterSegmentRow rows[MAX_ROWS];
	char		pks[MAX_ROWS][32];
	char		docs[MAX_ROWS][64];
	float	   *vecs;
} TestRows;

static void
make_rows(TestRows *t, int n, uint32_t dims, uint32_t pcount, uint64_t seed)
{
	int			i;
	uint32_t	d;

	memset(t, 0, sizeof(*t));
	t->n = n;
	t->dims = dims;
	t->pcount = pcount;
	t->vecs = malloc((size_t) n * dims * sizeof(float));
	rng_seed(seed);
	for (i = 0; i < n; i++)
	{
		ClusterSegmentRow *r = &t->rows[i];

		/* a few keys repeat: changes to the same row in one batch */
		snprintf(t->pks[i], sizeof(t->pks[i]), "key-%d", i % 7 == 6 ? i - 3 : i);
		r->op = "IIUD"[i % 4];
		r->outbox_id = 1000 + (uint64_t) i;
		r->hlc = cluster_hlc_make(1700000000000ull + (uint64_t) (rand_unit() * 1000),
								  (uint32_t) i);
		r->pk = t->pks[i];
		r->pk_len = (uint32_t) strlen(t->pks[i]);
		if (r->op != 'D')
		{
			for (d = 0; d < dims; d++)
				t->vecs[(size_t) i * dims + d] = (float) (rand_unit() * 2 - 1);
			r->vector = t->vecs + (size_t) i * dims;
		}
		if (i % 3 == 0)
			r->doc_len = 0;		/* empty document */
		else
		{
			snprintf(t->docs[i], sizeof(t->docs[i]), "{\"n\": %d, \"s\": \"row %d\"}", i, i);
			r->doc = t->docs[i];
			r->doc_len = (uint32_t) strlen(t->docs[i]);
		}
	}
}

static int
build(const TestRows *t, const char *collection, const char *writer, uint64_t seq,
	  unsigned char **out, size_t *out_len)
{
	ClusterSegmentWriter *w = cluster_segment_writer_new(collection, writer, seq, t->dims,
														 t->pcount);
	int			i,
				rc;

	*out = NULL;
	*out_len = 0;
	if (w == NULL)
		return -1;
	for (i = 0; i < t->n; i++)
		if ((rc = cluster_segment_writer_add(w, &t->rows[i], errbuf, sizeof(errbuf))) != CLUSTER_OK)
		{
			cluster_segment_writer_free(w);
			return rc;
		}
	rc = cluster_segment_writer_finish(w, 1700000009999ull, out, out_len, errbuf, sizeof(errbuf));
	cluster_segment_writer_free(w);
	return rc;
}

/* the order a reader should see: by partition, add order within one */
static int
expected_order(const TestRows *t, int *order)
{
	uint32_t	p;
	int			i,
				k = 0;

	for (p = 0; p < t->pcount; p++)
		for (i = 0; i < t->n; i++)
			if (cluster_partition_index(t->rows[i].pk, t->rows[i].pk_len, (int) t->pcount) == (int) p)
				order[k++] = i;
	return k;
}

/* compares decoded row got with the added row want; "" when equal */
static const char *
row_diff(const TestRows *t, const ClusterSegmentRow *want, const ClusterSegmentRow *got)
{
	if (got->op != want->op)
		return "op";
	if (got->outbox_id != want->outbox_id)
		return "outbox_id";
	if (got->hlc != want->hlc)
		return "hlc";
	if (got->pk_len != want->pk_len || memcmp(got->pk, want->pk, want->pk_len) != 0)
		return "pk";
	if (got->partition != cluster_partition_index(want->pk, want->pk_len, (int) t->pcount))
		return "partition";
	if ((got->vector == NULL) != (want->vector == NULL))
		return "vector presence";
	if (want->vector != NULL &&
		memcmp(got->vector, want->vector, t->dims * sizeof(float)) != 0)
		return "vector values";
	if (got->doc_len != want->doc_len ||
		(want->doc_len > 0 && memcmp(got->doc, want->doc, want->doc_len) != 0))
		return "doc";
	return "";
}

/* rows[0..n) of a decoded segment against the expected order from first */
static int
rows_match(const TestRows *t, const int *order, int first, const ClusterSegmentRow *rows,
		   size_t n, char *details, size_t dlen)
{
	size_t		i;

	for (i = 0; i < n; i++)
	{
		const char *d = row_diff(t, &t->rows[order[first + (int) i]], &rows[i]);

		if (d[0] != '\0')
		{
			snprintf(details, dlen, "row %zu differs in %s", i, d);
			return 0;
		}
	}
	return 1;
}

/* ------------------------------------------------------- exact layout */

static size_t
le(unsigned char *p, uint64_t v, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char) (v >> (8 * i));
	return (size_t) n;
}

/*
 * A one-row segment laid out by hand from the format description, compared
 * byte for byte with the writer's.
 */
static void
test_layout(void)
{
	float		vec[2] = {1.0f, -2.5f};
	ClusterSegmentRow row = {'I', 7, 9, "a", 1, vec, "{}", 2, 0};
	ClusterSegmentWriter *w = cluster_segment_writer_new("c", "w", 1, 2, 1);
	unsigned char want[256],
			   *got = NULL;
	size_t		n = 0,
				got_len = 0,
				hdr_len,
				block;
	int			rc;

	rc = cluster_segment_writer_add(w, &row, errbuf, sizeof(errbuf));
	rc = rc ? rc : cluster_segment_writer_finish(w, 5, &got, &got_len, errbuf, sizeof(errbuf));
	cluster_segment_writer_free(w);

	hdr_len = 16 + 2 + 1 + 2 + 1 + 48 + 16 + 32 + 8;
	memcpy(want, "BRAINYSG", 8);
	n = 8;
	n += le(want + n, 1, 4);
	n += le(want + n, hdr_len, 4);
	n += le(want + n, 1, 2);
	want[n++] = 'c';
	n += le(want + n, 1, 2);
	want[n++] = 'w';
	n += le(want + n, 1, 8);	/* seq */
	n += le(want + n, 7, 8);	/* outbox min, max */
	n += le(want + n, 7, 8);
	n += le(want + n, 9, 8);	/* hlc min, max */
	n += le(want + n, 9, 8);
	n += le(want + n, 5, 8);	/* created */
	n += le(want + n, 1, 4);	/* rows */
	n += le(want + n, 2, 4);	/* dimensions */
	n += le(want + n, 1, 4);	/* partition count */
	n += le(want + n, 1, 4);	/* parts */
	block = hdr_len;
	n += le(want + n, 0, 4);
	n += le(want + n, 1, 4);
	n += le(want + n, block, 8);
	n += le(want + n, 1 + 8 + 8 + 4 + 1 + 8 + 4 + 2, 8);
	n += 8;						/* block checksum, below */
	n += 8;						/* header checksum, below */
	want[n++] = 'I';
	n += le(want + n, 7, 8);
	n += le(want + n, 9, 8);
	n += le(want + n, 1, 4);
	want[n++] = 'a';
	n += le(want + n, 0x3f800000, 4);	/* 1.0f */
	n += le(want + n, 0xc0200000, 4);	/* -2.5f */
	n += le(want + n, 2, 4);
	want[n++] = '{';
	want[n++] = '}';
	le(want + hdr_len - 16, XXH64(want + block, n - block, 0), 8);
	le(want + hdr_len - 8, XXH64(want, hdr_len - 8, 0), 8);
	n += le(want + n, XXH64(want, n, 0), 8);
	memcpy(want + n, "BRAINYND", 8);
	n += 8;

	report(rc == CLUSTER_OK && got_len == n && memcmp(got, want, n) == 0,
		   "writer output matches the documented layout byte for byte", errbuf);
	free(got);
}

/* ---------------------------------------------------------- round trip */

static void
test_round_trip(void)
{
	static TestRows t;
	static int	order[MAX_ROWS];
	unsigned char *seg;
	size_t		len;
	ClusterSegment s;
	ClusterSegmentHeader *h;
	char		details[256] = "";
	int			rc,
				i,
				ok,
				k;
	uint32_t	p,
				expected_parts = 0,
				counts[64] = {0};

	make_rows(&t, MAX_ROWS, 784, 37, 42);
	rc = build(&t, "items", "node-a", 12, &seg, &len);
	report(rc == CLUSTER_OK && seg != NULL, "1000 rows x 784 dims: writer finishes", errbuf);
	if (rc != CLUSTER_OK)
	{
		free(t.vecs);
		return;
	}
	rc = cluster_segment_decode(seg, len, &s, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_OK, "1000 rows: decode verifies", errbuf);
	if (rc != CLUSTER_OK)
	{
		free(seg);
		free(t.vecs);
		return;
	}
	h = &s.header;
	for (i = 0; i < t.n; i++)
		counts[cluster_partition_index(t.rows[i].pk, t.rows[i].pk_len, 37)]++;
	for (p = 0; p < 37; p++)
		expected_parts += counts[p] > 0;
	report(h->format_version == 1 && strcmp(h->collection, "items") == 0 &&
		   strcmp(h->writer_id, "node-a") == 0 && h->seq == 12 &&
		   h->created_ms == 1700000009999ull && h->row_count == 1000 &&
		   h->dimensions == 784 && h->partition_count == 37 && h->n_parts == expected_parts,
		   "header fields round trip", "");
	{
		uint64_t	hmin = UINT64_MAX,
					hmax = 0;

		for (i = 0; i < t.n; i++)
		{
			hmin = t.rows[i].hlc < hmin ? t.rows[i].hlc : hmin;
			hmax = t.rows[i].hlc > hmax ? t.rows[i].hlc : hmax;
		}
		report(h->outbox_min == 1000 && h->outbox_max == 1999 && h->hlc_min == hmin &&
			   h->hlc_max == hmax, "outbox and HLC ranges come from the rows", "");
	}
	ok = 1;
	for (i = 0; i < (int) h->n_parts && ok; i++)
	{
		p = h->parts[i].partition;
		if ((i > 0 && p <= h->parts[i - 1].partition) || counts[p] != h->parts[i].row_count)
			ok = 0;
	}
	report(ok, "only non-empty partitions, ascending, with their row counts", "");

	k = expected_order(&t, order);
	report(k == 1000 && s.n_rows == 1000 &&
		   rows_match(&t, order, 0, s.rows, s.n_rows, details, sizeof(details)),
		   "every row comes back exactly, grouped by partition in add order", details);
	/* the repeated keys: the later change follows the earlier one */
	ok = 1;
	for (i = 0; i + 1 < (int) s.n_rows; i++)
		if (s.rows[i].partition == s.rows[i + 1].partition &&
			s.rows[i].outbox_id > s.rows[i + 1].outbox_id)
			ok = 0;
	report(ok, "within a partition rows keep their add (outbox) order", "");
	ok = 0;
	for (i = 0; i < (int) s.n_rows; i++)
		ok += s.rows[i].op == 'D' && s.rows[i].vector == NULL;
	report(ok == 250, "deletes come back without a vector", "");

	/* header-only reads from a prefix */
	{
		ClusterSegmentHeader hh;
		size_t		needed = 99;

		rc = cluster_segment_read_header(seg, h->header_len, &hh, &needed, errbuf, sizeof(errbuf));
		report(rc == CLUSTER_OK && needed == 0 && hh.seq == 12 && hh.n_parts == h->n_parts &&
			   memcmp(hh.parts, h->parts, h->n_parts * sizeof(ClusterSegmentPart)) == 0 &&
			   hh.header_len == h->header_len,
			   "read_header from exactly header_len bytes", errbuf);
		cluster_segment_header_free(&hh);

		rc = cluster_segment_read_header(seg, 10, &hh, &needed, errbuf, sizeof(errbuf));
		report(rc == CLUSTER_EINVAL && needed == CLUSTER_SEGMENT_PREFIX_LEN &&
			   contains(errbuf, "16") && hh.parts == NULL,
			   "read_header from 10 bytes asks for the 16-byte prefix", errbuf);
		rc = cluster_segment_read_header(seg, 100, &hh, &needed, errbuf, sizeof(errbuf));
		snprintf(details, sizeof(details), "%" PRIu32, h->header_len);
		report(rc == CLUSTER_EINVAL && needed == h->header_len && contains(errbuf, details),
			   "read_header from 100 bytes says how many are needed", errbuf);
		ok = 1;
		for (i = 0; i < (int) h->header_len; i++)
		{
			rc = cluster_segment_read_header(seg, (size_t) i, &hh, &needed, errbuf, sizeof(errbuf));
			if (rc == CLUSTER_OK || needed == 0 || needed > h->header_len)
				ok = 0;
		}
		report(ok, "read_header fails with a needed count from every shorter prefix", "");
		rc = cluster_segment_read_header(seg, len, &hh, NULL, errbuf, sizeof(errbuf));
		report(rc == CLUSTER_OK && hh.row_count == 1000, "read_header on the whole object", errbuf);
		cluster_segment_header_free(&hh);
	}

	/* each block on its own, as after a range read */
	{
		ClusterSegment part;
		int			first = 0;

		ok = 1;
		details[0] = '\0';
		for (i = 0; i < (int) h->n_parts && ok; i++)
		{
			const ClusterSegmentPart *pp = &h->parts[i];

			rc = cluster_segment_decode_part(h, (uint32_t) i, seg + pp->offset, pp->length,
											 &part, errbuf, sizeof(errbuf));
			if (rc != CLUSTER_OK || part.n_rows != pp->row_count ||
				!rows_match(&t, order, first, part.rows, part.n_rows, details, sizeof(details)))
			{
				ok = 0;
				if (details[0] == '\0')
					snprintf(details, sizeof(details), "part %d: %.120s", i, errbuf);
			}
			first += (int) pp->row_count;
			cluster_segment_free(&part);
		}
		report(ok && first == 1000, "decode_part decodes every block on its own", details);

		rc = cluster_segment_decode_part(h, h->n_parts, seg, len, &part, errbuf, sizeof(errbuf));
		report(rc == CLUSTER_EINVAL && part.rows == NULL, "decode_part: index out of range", errbuf);
		rc = cluster_segment_decode_part(h, 0, seg + h->parts[0].offset, h->parts[0].length - 1,
										 &part, errbuf, sizeof(errbuf));
		report(rc == CLUSTER_EINVAL && contains(errbuf, "bytes"), "decode_part: short block", errbuf);
		rc = cluster_segment_decode_part(h, 0, seg + h->parts[1].offset, h->parts[0].length,
										 &part, errbuf, sizeof(errbuf));
		report(rc == CLUSTER_EINVAL && contains(errbuf, "block checksum mismatch"),
			   "decode_part: another block's bytes", errbuf);
	}

	cluster_segment_free(&s);
	report(s.rows == NULL && s.header.parts == NULL, "segment_free empties the result", "");
	free(seg);
	free(t.vecs);
}

/* ------------------------------------------------------------- damage */

/*
 * Recomputes the checksums of seg, as a forger (or a buggy writer) would:
 * the blocks' (when blocks), the header's and the whole object's.
 */
static void
reseal(unsigned char *seg, size_t len, int blocks)
{
	uint32_t	header_len = (uint32_t) seg[12] | (uint32_t) seg[13] << 8 |
		(uint32_t) seg[14] << 16 | (uint32_t) seg[15] << 24;

	if (blocks)
	{
		size_t		pos = 16,
					table;
		uint32_t	n_parts,
					i;

		/* n_parts comes after the names, 6 u64 and 3 u32 */
		pos += 2 + (size_t) (seg[pos] | seg[pos + 1] << 8);
		pos += 2 + (size_t) (seg[pos] | seg[pos + 1] << 8);
		pos += 48 + 12;
		n_parts = (uint32_t) seg[pos] | (uint32_t) seg[pos + 1] << 8;
		table = pos + 4;
		for (i = 0; i < n_parts; i++)
		{
			unsigned char *e = seg + table + (size_t) i * 32;
			uint64_t	off = 0,
						blen = 0;
			int			b;

			for (b = 7; b >= 0; b--)
			{
				off = off << 8 | e[8 + b];
				blen = blen << 8 | e[16 + b];
			}
			le(e + 24, XXH64(seg + off, blen, 0), 8);
		}
	}
	le(seg + header_len - 8, XXH64(seg, header_len - 8, 0), 8);
	le(seg + len - 16, XXH64(seg, len - 16, 0), 8);
}

static int
decode_rc(const unsigned char *seg, size_t len)
{
	ClusterSegment s;
	int			rc = cluster_segment_decode(seg, len, &s, errbuf, sizeof(errbuf));

	if (rc == CLUSTER_OK)
		cluster_segment_free(&s);
	else if (s.rows != NULL || s.header.parts != NULL || s.vectors != NULL)
		rc = -100;				/* an error must leave the result empty */
	return rc;
}

static void
test_damage(void)
{
	static TestRows t;
	unsigned char *seg,
			   *copy;
	size_t		len,
				i;
	int			rc,
				bad;
	char		details[256] = "";
	ClusterSegmentHeader h;
	size_t		needed;

	make_rows(&t, 9, 3, 4, 7);
	rc = build(&t, "c1", "node-x", 3, &seg, &len);
	report(rc == CLUSTER_OK, "small segment for the damage tests", errbuf);
	if (rc != CLUSTER_OK)
	{
		free(t.vecs);
		return;
	}
	copy = malloc(len + 8);
	report(decode_rc(seg, len) == CLUSTER_OK, "the undamaged small segment decodes", errbuf);
	cluster_segment_read_header(seg, len, &h, NULL, errbuf, sizeof(errbuf));

	/* every single-byte change at every position */
	bad = 0;
	for (i = 0; i < len; i++)
	{
		static const unsigned char flips[] = {0x01, 0x80, 0xff};
		int			f;

		for (f = 0; f < 3; f++)
		{
			memcpy(copy, seg, len);
			copy[i] ^= flips[f];
			rc = decode_rc(copy, len);
			if (rc == CLUSTER_OK || rc == -100)
			{
				if (bad++ == 0)
					snprintf(details, sizeof(details), "byte %zu ^ 0x%02x: rc %d", i, flips[f], rc);
			}
		}
	}
	report(bad == 0, "every single-byte flip at every position fails to decode", details);

	/* the same over the header alone */
	bad = 0;
	for (i = 0; i < h.header_len; i++)
	{
		ClusterSegmentHeader hh;

		memcpy(copy, seg, len);
		copy[i] ^= 0x10;
		rc = cluster_segment_read_header(copy, len, &hh, NULL, errbuf, sizeof(errbuf));
		if (rc == CLUSTER_OK)
		{
			cluster_segment_header_free(&hh);
			bad++;
		}
		else if (hh.parts != NULL)
			bad++;
	}
	report(bad == 0, "every flipped header byte fails read_header", "");

	/* every block byte flipped, read as a range */
	bad = 0;
	for (i = 0; i < h.n_parts; i++)
	{
		size_t		j;

		for (j = 0; j < h.parts[i].length; j++)
		{
			ClusterSegment part;

			memcpy(copy, seg + h.parts[i].offset, h.parts[i].length);
			copy[j] ^= 0x04;
			rc = cluster_segment_decode_part(&h, (uint32_t) i, copy, h.parts[i].length, &part,
											 errbuf, sizeof(errbuf));
			if (rc == CLUSTER_OK)
			{
				cluster_segment_free(&part);
				bad++;
			}
		}
	}
	report(bad == 0, "every flipped block byte fails decode_part", "");

	/* truncation at every length */
	bad = 0;
	details[0] = '\0';
	for (i = 0; i < len; i++)
	{
		unsigned char *prefix = malloc(i > 0 ? i : 1);

		/* an exact-size buffer, so ASan sees any read past the end */
		memcpy(prefix, seg, i);
		rc = decode_rc(prefix, i);
		if (rc == CLUSTER_OK || rc == -100 || (i >= 16 && !contains(errbuf, "truncated")))
			if (bad++ == 0)
				snprintf(details, sizeof(details), "length %zu: rc %d %.120s", i, rc, errbuf);
		free(prefix);
	}
	report(bad == 0, "truncation at every length fails, saying truncated", details);
	memcpy(copy, seg, len);
	decode_rc(copy, len - 20);
	snprintf(details, sizeof(details), "segment truncated: %zu of %zu bytes", len - 20, len);
	report(contains(errbuf, details), "truncation message gives both sizes", errbuf);

	memcpy(copy, seg, len);
	memcpy(copy + len, "garbage!", 8);
	rc = decode_rc(copy, len + 8);
	report(rc == CLUSTER_EINVAL, "bytes after the trailer are rejected", errbuf);

	/* unknown version */
	memcpy(copy, seg, len);
	copy[8] = 7;
	rc = decode_rc(copy, len);
	report(rc == CLUSTER_EUNSUPPORTED &&
		   contains(errbuf, "unknown segment format version 7 (this build reads 1)"),
		   "unknown version is CLUSTER_EUNSUPPORTED", errbuf);
	{
		ClusterSegmentHeader hh;

		rc = cluster_segment_read_header(copy, 16, &hh, &needed, errbuf, sizeof(errbuf));
		report(rc == CLUSTER_EUNSUPPORTED && needed == 0 && hh.parts == NULL,
			   "read_header: unknown version from the 16-byte prefix", errbuf);
	}

	/* magic and trailer */
	memcpy(copy, seg, len);
	copy[0] = 'X';
	rc = decode_rc(copy, len);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "bad magic"), "wrong magic", errbuf);
	memcpy(copy, seg, len);
	copy[len - 1] = 'X';
	rc = decode_rc(copy, len);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "trailer"), "bad trailer magic", errbuf);
	memcpy(copy, seg, len);
	copy[len - 12] ^= 1;
	rc = decode_rc(copy, len);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "segment checksum mismatch"),
		   "whole-object checksum mismatch", errbuf);
	memcpy(copy, seg, len);
	copy[h.parts[0].offset + 3] ^= 1;
	le(copy + len - 16, XXH64(copy, len - 16, 0), 8);
	rc = decode_rc(copy, len);
	snprintf(details, sizeof(details), "partition %" PRIu32 " block checksum mismatch",
			 h.parts[0].partition);
	report(rc == CLUSTER_EINVAL && contains(errbuf, details),
		   "block checksum mismatch names the partition", errbuf);
	memcpy(copy, seg, len);
	copy[20] ^= 1;
	rc = decode_rc(copy, len);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "header") && contains(errbuf, "checksum"),
		   "header checksum mismatch", errbuf);

	/* damage with every checksum recomputed: the field checks must catch it */
	{
		size_t		row0 = h.parts[0].offset;
		size_t		pk_at = row0 + 1 + 8 + 8 + 4;
		int			v;

		memcpy(copy, seg, len);
		copy[row0] = 'X';
		reseal(copy, len, 1);
		rc = decode_rc(copy, len);
		report(rc == CLUSTER_EINVAL && contains(errbuf, "bad operation"),
			   "resealed: bad op", errbuf);

		/* a key byte changed so the row lands in another partition */
		for (v = 'a'; v <= 'z'; v++)
		{
			memcpy(copy, seg, len);
			copy[pk_at] = (unsigned char) v;
			if (cluster_partition_index((char *) copy + pk_at, copy[pk_at - 4], 4) !=
				(int) h.parts[0].partition)
				break;
		}
		reseal(copy, len, 1);
		rc = decode_rc(copy, len);
		report(rc == CLUSTER_EINVAL && contains(errbuf, "belongs to partition"),
			   "resealed: row in the wrong partition", errbuf);

		memcpy(copy, seg, len);
		copy[row0 + 1] ^= 0x40;	/* outbox id out of the header's range */
		reseal(copy, len, 1);
		rc = decode_rc(copy, len);
		report(rc == CLUSTER_EINVAL && contains(errbuf, "range"), "resealed: outbox id out of range",
			   errbuf);

		memcpy(copy, seg, len);
		copy[16] = 0;			/* collection length 0 */
		reseal(copy, len, 0);
		rc = decode_rc(copy, len);
		report(rc == CLUSTER_EINVAL && contains(errbuf, "collection"),
			   "resealed: empty collection name", errbuf);

		/* a NaN in the first row that has a vector */
		{
			ClusterSegment s;
			size_t		at = row0;
			uint32_t	r;

			cluster_segment_decode(seg, len, &s, errbuf, sizeof(errbuf));
			for (r = 0; r < s.n_rows && s.rows[r].vector == NULL; r++)
				at += 25 + s.rows[r].pk_len + s.rows[r].doc_len;
			at += 21 + s.rows[r].pk_len;
			cluster_segment_free(&s);
			memcpy(copy, seg, len);
			le(copy + at, 0x7fc00000, 4);
			reseal(copy, len, 1);
			rc = decode_rc(copy, len);
			report(rc == CLUSTER_EINVAL && contains(errbuf, "not finite"),
				   "resealed: NaN in a vector", errbuf);
		}

		/* the header's row count no longer adds up */
		memcpy(copy, seg, len);
		{
			size_t		pos = 16 + 2 + 2 + 2 + 6 + 48;	/* "c1", "node-x" */

			copy[pos] ^= 1;
		}
		reseal(copy, len, 1);
		rc = decode_rc(copy, len);
		report(rc == CLUSTER_EINVAL && contains(errbuf, "row count"), "resealed: row count mismatch",
			   errbuf);
	}

	/*
	 * Random damage behind valid checksums, so the field checks themselves
	 * are exercised: header fields (names and table left alone, so reseal
	 * can find the blocks) and block bytes.  Decoding may succeed (a changed
	 * document byte is still a valid row) but must stay in bounds and
	 * return all or nothing.
	 */
	{
		size_t		fields_at = 16 + 2 + 2 + 2 + 6;	/* "c1", "node-x" */
		size_t		fields_end = fields_at + 48 + 12;	/* up to n_parts */
		int			iter,
					n_ok = 0;

		bad = 0;
		rng_seed(99);
		for (iter = 0; iter < 20000; iter++)
		{
			int			k,
						nflips = 1 + (int) (rand_unit() * 4);
			int			in_header = iter % 2 == 0;
			ClusterSegment s;

			memcpy(copy, seg, len);
			for (k = 0; k < nflips; k++)
			{
				size_t		lo = in_header ? fields_at : h.header_len,
							hi = in_header ? fields_end : len - 16;
				size_t		at = lo + (size_t) (rand_unit() * (double) (hi - lo));

				copy[at] = (unsigned char) (rand_unit() * 256);
			}
			reseal(copy, len, 1);
			rc = cluster_segment_decode(copy, len, &s, errbuf, sizeof(errbuf));
			if (rc == CLUSTER_OK)
			{
				n_ok++;
				if (s.n_rows != s.header.row_count || s.n_rows != 9)
					bad++;
				cluster_segment_free(&s);
			}
			else if (s.rows != NULL || s.header.parts != NULL || s.vectors != NULL)
				bad++;
		}
		snprintf(details, sizeof(details), "%d of 20000 decoded", n_ok);
		report(bad == 0 && n_ok < 20000, "20000 resealed random mutations: all or nothing, in bounds",
			   details);
	}

	rc = cluster_segment_decode(NULL, 0, NULL, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL, "decode(NULL) is an error", errbuf);
	rc = decode_rc((const unsigned char *) "", 0);
	report(rc == CLUSTER_EINVAL, "decode of 0 bytes is an error", errbuf);
	cluster_segment_header_free(&h);
	free(copy);
	free(seg);
	free(t.vecs);
}

/* ---------------------------------------------------------- the writer */

static void
test_writer_errors(void)
{
	float		vec[3] = {1, 2, 3};
	float		nan_vec[3] = {1, NAN, 3};
	float		inf_vec[3] = {1, 2, -INFINITY};
	char	   *big_pk = malloc(CLUSTER_SEGMENT_PK_MAX + 1);
	ClusterSegmentWriter *w = cluster_segment_writer_new("items", "node-a", 1, 3, 10);
	ClusterSegmentRow r;
	unsigned char *out = (unsigned char *) "x";
	size_t		out_len = 1;
	int			rc;
	char		key[200];

	memset(big_pk, 'k', CLUSTER_SEGMENT_PK_MAX + 1);
	report(w != NULL, "writer_new with good arguments", "");
	rc = cluster_segment_writer_finish(w, 1, &out, &out_len, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL && out == NULL && out_len == 0 && contains(errbuf, "no rows"),
		   "finish with zero rows is an error", errbuf);

#define ROW(op_, vec_, pk_, pklen_) \
	do { memset(&r, 0, sizeof(r)); r.op = (op_); r.outbox_id = 1; r.hlc = 1; \
		 r.vector = (vec_); r.pk = (pk_); r.pk_len = (pklen_); } while (0)

	ROW('I', nan_vec, "k", 1);
	rc = cluster_segment_writer_add(w, &r, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL && contains(errbuf, "NaN"), "NaN element rejected", errbuf);
	ROW('U', inf_vec, "k", 1);
	rc = cluster_segment_writer_add(w, &r, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL && contains(errbuf, "infinite"), "infinite element rejected", errbuf);
	ROW('X', vec, "k", 1);
	rc = cluster_segment_writer_add(w, &r, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL && contains(errbuf, "operation"), "bad op rejected", errbuf);
	ROW('i', vec, "k", 1);
	rc = cluster_segment_writer_add(w, &r, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL, "lower-case op rejected", errbuf);
	ROW('I', vec, big_pk, CLUSTER_SEGMENT_PK_MAX + 1);
	rc = cluster_segment_writer_add(w, &r, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL && contains(errbuf, "65535"), "oversize primary key rejected", errbuf);
	ROW('I', vec, "k", 0);
	rc = cluster_segment_writer_add(w, &r, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL, "empty primary key rejected", errbuf);
	ROW('I', vec, "k\0z", 3);
	rc = cluster_segment_writer_add(w, &r, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL && contains(errbuf, "NUL"), "NUL in primary key rejected", errbuf);
	ROW('D', vec, "k", 1);
	rc = cluster_segment_writer_add(w, &r, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL && contains(errbuf, "delete"), "delete with a vector rejected", errbuf);
	ROW('I', NULL, "k", 1);
	rc = cluster_segment_writer_add(w, &r, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL && contains(errbuf, "needs a vector"), "insert without a vector rejected",
		   errbuf);
	ROW('D', NULL, "k", 1);
	r.doc = NULL;
	r.doc_len = 4;
	rc = cluster_segment_writer_add(w, &r, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL, "NULL document with a length rejected", errbuf);
	r.doc = "{\"a\0";
	rc = cluster_segment_writer_add(w, &r, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL && contains(errbuf, "NUL"), "NUL in document rejected", errbuf);
	report(cluster_segment_writer_rows(w) == 0, "rejected rows leave the writer empty", "");
	rc = cluster_segment_writer_add(NULL, &r, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL, "add to a NULL writer is an error", errbuf);

	/* the largest key is fine, and survives the trip */
	ROW('I', vec, big_pk, CLUSTER_SEGMENT_PK_MAX);
	rc = cluster_segment_writer_add(w, &r, errbuf, sizeof(errbuf));
	ROW('D', NULL, "gone", 4);
	rc = rc ? rc : cluster_segment_writer_add(w, &r, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_OK && cluster_segment_writer_rows(w) == 2, "65535-byte key accepted", errbuf);
	rc = cluster_segment_writer_finish(w, 1, &out, &out_len, errbuf, sizeof(errbuf));
	if (rc == CLUSTER_OK)
	{
		ClusterSegment s;
		size_t		i;
		int			found = 0;

		rc = cluster_segment_decode(out, out_len, &s, errbuf, sizeof(errbuf));
		for (i = 0; rc == CLUSTER_OK && i < s.n_rows; i++)
			found += s.rows[i].pk_len == CLUSTER_SEGMENT_PK_MAX &&
				memcmp(s.rows[i].pk, big_pk, CLUSTER_SEGMENT_PK_MAX) == 0 &&
				memcmp(s.rows[i].vector, vec, sizeof(vec)) == 0;
		report(rc == CLUSTER_OK && found == 1, "65535-byte key round trip", errbuf);
		if (rc == CLUSTER_OK)
			cluster_segment_free(&s);
		free(out);
	}
	else
		report(0, "65535-byte key round trip", errbuf);
	/* finish leaves the writer as it was: a second finish is the same */
	{
		unsigned char *a = NULL,
				   *b = NULL;
		size_t		alen = 0,
					blen = 0;

		cluster_segment_writer_finish(w, 1, &a, &alen, errbuf, sizeof(errbuf));
		cluster_segment_writer_finish(w, 1, &b, &blen, errbuf, sizeof(errbuf));
		report(a != NULL && alen == blen && memcmp(a, b, alen) == 0,
			   "finish twice gives the same bytes", "");
		free(a);
		free(b);
	}
	cluster_segment_writer_free(w);
	cluster_segment_writer_free(NULL);
#undef ROW

	report(cluster_segment_writer_new("a/b", "node-a", 1, 3, 10) == NULL &&
		   cluster_segment_writer_new("", "node-a", 1, 3, 10) == NULL &&
		   cluster_segment_writer_new("items", "bad id", 1, 3, 10) == NULL &&
		   cluster_segment_writer_new("items", "node-a", 0, 3, 10) == NULL &&
		   cluster_segment_writer_new("items", "node-a", 1, 0, 10) == NULL &&
		   cluster_segment_writer_new("items", "node-a", 1, 16001, 10) == NULL &&
		   cluster_segment_writer_new("items", "node-a", 1, 3, 0) == NULL &&
		   cluster_segment_writer_new("items", "node-a", 1, 3, 1001) == NULL,
		   "writer_new refuses bad arguments", "");

	rc = cluster_segment_key("items", "node-a", 42, key, sizeof(key));
	report(rc == CLUSTER_OK && strcmp(key, "_brainy/log/items/node-a/00000000000000000042.seg") == 0,
		   "segment key", key);
	rc = cluster_segment_key("items", "node-a", UINT64_MAX, key, sizeof(key));
	report(rc == CLUSTER_OK && contains(key, "/18446744073709551615.seg"), "segment key, largest seq", key);
	rc = cluster_segment_key("it/ems", "node-a", 1, key, sizeof(key));
	report(rc == CLUSTER_EINVAL, "segment key: '/' in the collection", "");
	rc = cluster_segment_key("items", "../x", 1, key, sizeof(key));
	report(rc == CLUSTER_EINVAL, "segment key: bad writer id", "");
	rc = cluster_segment_key("items", "node-a", 1, key, 20);
	report(rc == CLUSTER_EINVAL && key[0] == '\0', "segment key: buffer too small", "");
	{
		const char *pre = "_brainy/collections/items/writers/";
		char		id[64];
		char		tiny[4];

		rc = cluster_writer_from_key("_brainy/collections/items/writers/node-a.json", pre, id, sizeof(id));
		report(rc == CLUSTER_OK && strcmp(id, "node-a") == 0, "writer from its registration key", id);
		report(cluster_writer_from_key("_brainy/collections/items/writers/node-a.txt", pre, id, sizeof(id)) == CLUSTER_EINVAL &&
			   cluster_writer_from_key("_brainy/collections/items/writers/.json", pre, id, sizeof(id)) == CLUSTER_EINVAL &&
			   cluster_writer_from_key("_brainy/collections/other/writers/node-a.json", pre, id, sizeof(id)) == CLUSTER_EINVAL &&
			   cluster_writer_from_key("_brainy/collections/items/writers/bad id.json", pre, id, sizeof(id)) == CLUSTER_EINVAL &&
			   cluster_writer_from_key("_brainy/collections/items/writers/node-a.json", pre, tiny, sizeof(tiny)) == CLUSTER_EINVAL &&
			   cluster_writer_from_key(NULL, pre, id, sizeof(id)) == CLUSTER_EINVAL &&
			   id[0] == '\0',
			   "writer from key: another suffix, no id, another prefix, a bad id, too long, NULL", "");
	}
	report(cluster_collection_check("..", errbuf, sizeof(errbuf)) == CLUSTER_EINVAL &&
		   cluster_collection_check("a\tb", errbuf, sizeof(errbuf)) == CLUSTER_EINVAL &&
		   cluster_collection_check("public.items", errbuf, sizeof(errbuf)) == CLUSTER_OK,
		   "collection names", errbuf);
	free(big_pk);
}

/* --------------------------------------------------------------- schema */

static const char good_schema[] =
	"{\"formatVersion\": 1, \"collection\": \"items\", \"primaryKey\": \"id\","
	" \"vectorColumn\": \"embedding\", \"dimensions\": 3, \"distanceMetric\": \"l2\","
	" \"columns\": [{\"name\": \"id\", \"type\": \"bigint\"},"
	" {\"name\": \"embedding\", \"type\": \"vector(3)\"},"
	" {\"name\": \"created\", \"type\": \"timestamp with time zone\"}]}";

/* good_schema with the first `from` replaced by `to` */
static int
parse_edit(const char *from, const char *to, ClusterSchema *s)
{
	char		text[2048];
	const char *at = strstr(good_schema, from);
	int			rc;

	if (at == NULL)
		return -1;
	snprintf(text, sizeof(text), "%.*s%s%s", (int) (at - good_schema), good_schema, to,
			 at + strlen(from));
	rc = cluster_schema_parse(text, strlen(text), s, errbuf, sizeof(errbuf));
	if (rc == CLUSTER_OK)
		cluster_schema_free(s);
	else if (s->columns != NULL)
		rc = -100;
	return rc;
}

static void
test_schema(void)
{
	ClusterSchema s,
				s2;
	ClusterSchemaColumn cols[3] = {{"id", "bigint"}, {"embedding", "vector(784)"},
	{"note", "text"}};
	char	   *json;
	char		why[CLUSTER_ERRLEN];
	int			rc;

	memset(&s, 0, sizeof(s));
	s.format_version = 1;
	strcpy(s.collection, "fmnist");
	strcpy(s.primary_key, "id");
	strcpy(s.vector_column, "embedding");
	s.dimensions = 784;
	strcpy(s.distance_metric, "cosine");
	s.n_columns = 3;
	s.columns = cols;
	json = cluster_schema_to_json(&s);
	rc = json ? cluster_schema_parse(json, strlen(json), &s2, errbuf, sizeof(errbuf)) : -1;
	report(rc == CLUSTER_OK && contains(json, "\"formatVersion\": 1") &&
		   contains(json, "\"vector(784)\"") && contains(json, "\"primaryKey\": \"id\""),
		   "schema to_json and parse", errbuf);
	if (rc == CLUSTER_OK)
	{
		report(s2.format_version == 1 && strcmp(s2.collection, "fmnist") == 0 &&
			   strcmp(s2.primary_key, "id") == 0 && strcmp(s2.vector_column, "embedding") == 0 &&
			   s2.dimensions == 784 && strcmp(s2.distance_metric, "cosine") == 0 &&
			   s2.n_columns == 3 && strcmp(s2.columns[2].name, "note") == 0 &&
			   strcmp(s2.columns[2].type, "text") == 0,
			   "schema fields round trip exactly", "");
		report(cluster_schema_equal(&s, &s2, why, sizeof(why)) == 1 && why[0] == '\0',
			   "schema_equal after a round trip", why);
		cluster_schema_free(&s2);
	}
	free(json);

	/* no metric: null in JSON, "" after parsing */
	s.distance_metric[0] = '\0';
	json = cluster_schema_to_json(&s);
	rc = json ? cluster_schema_parse(json, strlen(json), &s2, errbuf, sizeof(errbuf)) : -1;
	report(rc == CLUSTER_OK && contains(json, "\"distanceMetric\": null") &&
		   s2.distance_metric[0] == '\0', "no distance metric is null", errbuf);
	cluster_schema_free(&s2);
	free(json);

	rc = cluster_schema_parse(good_schema, strlen(good_schema), &s2, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_OK && s2.n_columns == 3 &&
		   strcmp(s2.columns[2].type, "timestamp with time zone") == 0, "hand-written schema parses",
		   errbuf);
	cluster_schema_free(&s2);

	rc = cluster_schema_parse("{\"formatVersion\": 1,", 20, &s2, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL && contains(errbuf, "JSON parse error"), "truncated JSON", errbuf);
	rc = cluster_schema_parse("{formatVersion: 1}", 18, &s2, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL && contains(errbuf, "JSON parse error at offset"), "malformed JSON",
		   errbuf);
	rc = cluster_schema_parse("[1, 2]", 6, &s2, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL && contains(errbuf, "object"), "not an object", errbuf);
	rc = cluster_schema_parse("{} x", 4, &s2, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL && contains(errbuf, "after the value"), "text after the JSON", errbuf);

	rc = parse_edit("\"formatVersion\": 1", "\"formatVersion\": 2", &s2);
	report(rc == CLUSTER_EUNSUPPORTED && contains(errbuf, "formatVersion 2"),
		   "unknown formatVersion is CLUSTER_EUNSUPPORTED", errbuf);
	rc = parse_edit("\"formatVersion\": 1", "\"formatVersion\": \"1\"", &s2);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "formatVersion"), "formatVersion as a string",
		   errbuf);

	/* each required field missing */
	{
		static const char *const fields[][2] = {
			{"\"formatVersion\": 1,", "formatVersion"},
			{"\"collection\": \"items\",", "collection"},
			{"\"primaryKey\": \"id\",", "primaryKey"},
			{"\"vectorColumn\": \"embedding\",", "vectorColumn"},
			{"\"dimensions\": 3,", "dimensions"},
			{", \"columns\": [{\"name\": \"id\", \"type\": \"bigint\"}, {\"name\": \"embedding\", \"type\": \"vector(3)\"}, {\"name\": \"created\", \"type\": \"timestamp with time zone\"}]", "columns"},
		};
		int			i,
					ok = 1;
		char		details[256] = "";

		for (i = 0; i < (int) (sizeof(fields) / sizeof(fields[0])); i++)
		{
			rc = parse_edit(fields[i][0], "", &s2);
			if (rc != CLUSTER_EINVAL || !contains(errbuf, fields[i][1]) || !contains(errbuf, "missing"))
			{
				ok = 0;
				snprintf(details, sizeof(details), "%s: rc %d %.120s", fields[i][1], rc, errbuf);
			}
		}
		report(ok, "each missing field is named", details);
	}
	rc = parse_edit("\"dimensions\": 3", "\"dimensions\": 3.0", &s2);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "dimensions must be an integer"),
		   "dimensions as a float", errbuf);
	rc = parse_edit("\"primaryKey\": \"id\"", "\"primaryKey\": 5", &s2);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "primaryKey must be a string"),
		   "primaryKey as a number", errbuf);
	rc = parse_edit("\"columns\": [", "\"columns\": {\"a\": [", &s2);
	report(rc != CLUSTER_OK, "columns as an object", errbuf);
	rc = parse_edit("{\"name\": \"id\", \"type\": \"bigint\"}", "\"id\"", &s2);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "columns[0] must be an object"),
		   "a column that is not an object", errbuf);
	rc = parse_edit("\"type\": \"bigint\"", "\"type\": null", &s2);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "columns[0].type"), "null column type", errbuf);
	rc = parse_edit("\"type\": \"vector(3)\"", "\"type\": \"vector(4)\"", &s2);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "expected \"vector(3)\""),
		   "vector column type does not match dimensions", errbuf);
	rc = parse_edit("\"type\": \"vector(3)\"", "\"type\": \"real[]\"", &s2);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "vector column"), "vector column of another type",
		   errbuf);
	rc = parse_edit("\"primaryKey\": \"id\"", "\"primaryKey\": \"uid\"", &s2);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "primary key \"uid\" is not among"),
		   "primary key not among the columns", errbuf);
	rc = parse_edit("\"vectorColumn\": \"embedding\"", "\"vectorColumn\": \"emb\"", &s2);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "vector column \"emb\" is not among"),
		   "vector column not among the columns", errbuf);
	rc = parse_edit("\"name\": \"created\"", "\"name\": \"id\"", &s2);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "twice"), "duplicate column", errbuf);
	rc = parse_edit("\"name\": \"created\"", "\"name\": \"cre\\nated\"", &s2);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "control character"), "control character in a name",
		   errbuf);
	rc = parse_edit("\"name\": \"created\"", "\"name\": \"cre\\u0000ated\"", &s2);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "control character"), "NUL in a name", errbuf);
	rc = parse_edit("\"name\": \"created\"", "\"name\": \"\"", &s2);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "1 to 63 bytes"), "empty column name", errbuf);
	rc = parse_edit("\"name\": \"created\"",
					"\"name\": \"c234567890123456789012345678901234567890123456789012345678901234\"", &s2);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "1 to 63 bytes"), "64-byte column name", errbuf);
	rc = parse_edit("\"name\": \"created\"",
					"\"name\": \"c23456789012345678901234567890123456789012345678901234567890123\"", &s2);
	report(rc == CLUSTER_OK, "63-byte column name", errbuf);
	rc = parse_edit("\"collection\": \"items\"", "\"collection\": \"a/b\"", &s2);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "collection"), "collection with '/'", errbuf);
	rc = parse_edit("\"dimensions\": 3", "\"dimensions\": 0", &s2);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "between 1 and 16000"), "dimensions 0", errbuf);
	rc = parse_edit("\"dimensions\": 3", "\"dimensions\": 16001", &s2);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "between 1 and 16000"), "dimensions 16001", errbuf);
	rc = parse_edit("\"distanceMetric\": \"l2\"", "\"distanceMetric\": \"hamming\"", &s2);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "distanceMetric"), "unknown distance metric", errbuf);
	rc = parse_edit("\"distanceMetric\": \"l2\"", "\"distanceMetric\": null", &s2);
	report(rc == CLUSTER_OK, "null distance metric", errbuf);
	rc = parse_edit("\"distanceMetric\": \"l2\",", "", &s2);
	report(rc == CLUSTER_OK, "distance metric may be left out", errbuf);
	rc = parse_edit("\"collection\"", "\"futureKey\": [1, 2], \"collection\"", &s2);
	report(rc == CLUSTER_OK, "unknown keys are ignored", errbuf);
	rc = parse_edit(", {\"name\": \"created\", \"type\": \"timestamp with time zone\"}", "", &s2);
	report(rc == CLUSTER_OK, "two columns are enough", errbuf);
	rc = parse_edit("\"primaryKey\": \"id\"", "\"primaryKey\": \"embedding\"", &s2);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "primary key cannot be the vector column"),
		   "the vector column as primary key", errbuf);

	/* schema_equal reasons */
	{
		ClusterSchema a,
					b;
		ClusterSchemaColumn ca[3] = {{"id", "bigint"}, {"embedding", "vector(3)"}, {"n", "text"}};
		ClusterSchemaColumn cb[3];

		memset(&a, 0, sizeof(a));
		a.format_version = 1;
		strcpy(a.collection, "items");
		strcpy(a.primary_key, "id");
		strcpy(a.vector_column, "embedding");
		a.dimensions = 3;
		a.n_columns = 3;
		a.columns = ca;
		b = a;
		memcpy(cb, ca, sizeof(ca));
		b.columns = cb;
		strcpy(b.distance_metric, "l2");
		report(cluster_schema_equal(&a, &b, why, sizeof(why)) == 1,
			   "schema_equal ignores the metric", why);
		strcpy(cb[2].type, "jsonb");
		report(cluster_schema_equal(&a, &b, why, sizeof(why)) == 0 &&
			   contains(why, "column \"n\" type differs: text vs jsonb"), "schema_equal: a type", why);
		strcpy(cb[2].type, "text");
		strcpy(cb[2].name, "m");
		report(cluster_schema_equal(&a, &b, why, sizeof(why)) == 0 && contains(why, "column 3 differs"),
			   "schema_equal: a name", why);
		strcpy(cb[2].name, "n");
		b.n_columns = 2;
		report(cluster_schema_equal(&a, &b, why, sizeof(why)) == 0 &&
			   contains(why, "column count differs: 3 vs 2") && contains(why, "\"n\""),
			   "schema_equal: a missing column", why);
		b.n_columns = 3;
		b.dimensions = 4;
		report(cluster_schema_equal(&a, &b, why, sizeof(why)) == 0 &&
			   contains(why, "dimensions differ: 3 vs 4"), "schema_equal: dimensions", why);
		b.dimensions = 3;
		strcpy(b.primary_key, "n");
		report(cluster_schema_equal(&a, &b, why, sizeof(why)) == 0 && contains(why, "primary key"),
			   "schema_equal: primary key", why);
		strcpy(b.primary_key, "id");
		strcpy(b.vector_column, "n");
		report(cluster_schema_equal(&a, &b, why, sizeof(why)) == 0 && contains(why, "vector column"),
			   "schema_equal: vector column", why);
	}
}

int
main(void)
{
	test_hlc();
	test_layout();
	test_round_trip();
	test_damage();
	test_writer_errors();
	test_schema();
	return report_summary();
}
