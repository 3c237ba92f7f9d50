/*
 * cluster_segment.c - change-log segments, the immutable objects a writer
 * puts under _brainy/log/<collection>/<writer-id>/<seq:020>.seg (layout in
 * cluster_segment.h): the writer that groups rows by partition and lays
 * the object out, and the reader that verifies every byte before it
 * returns a single row.
 *
 * The layout is fixed little-endian whatever the host, written and read a
 * byte at a time.  Reading goes through a cursor that checks every length
 * against the bytes left, so no input, however damaged, makes the decoder
 * read outside the buffer it was given.  A reader either gets every row of
 * a verified segment or an error: a partial segment is never returned.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "cluster_segment.h"

static const char segment_magic[8] = {'B', 'R', 'A', 'I', 'N', 'Y', 'S', 'G'};
static const char segment_end_magic[8] = {'B', 'R', 'A', 'I', 'N', 'Y', 'N', 'D'};

/* op, outbox_id, hlc, pk_len, doc_len: a row's bytes besides pk, vector, doc */
#define ROW_FIXED_LEN (1 + 8 + 8 + 4 + 4)
/* the smallest row: a delete with a 1-byte key and no document */
#define ROW_MIN_LEN (ROW_FIXED_LEN + 1)
/* header bytes besides the two names and the partition table */
#define HEADER_FIXED_LEN (CLUSTER_SEGMENT_PREFIX_LEN + 2 + 2 + 6 * 8 + 4 * 4 + 8)
#define HEADER_MIN_LEN (HEADER_FIXED_LEN + 1 + 1 + CLUSTER_SEGMENT_PART_LEN)

_Static_assert(sizeof(float) == 4, "segments store floats as IEEE-754 binary32");

/* ------------------------------------------------------------ names */

int
cluster_collection_check(const char *name, char *errbuf, size_t errlen)
{
	size_t		n,
				i;

	if (name == NULL || name[0] == '\0')
	{
		snprintf(errbuf, errlen, "collection name is empty");
		return CLUSTER_EINVAL;
	}
	n = strlen(name);
	if (n > CLUSTER_COLLECTION_MAX)
	{
		snprintf(errbuf, errlen, "collection name is longer than %d bytes",
				 CLUSTER_COLLECTION_MAX);
		return CLUSTER_EINVAL;
	}
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
	{
		snprintf(errbuf, errlen, "collection name \"%s\" is not allowed", name);
		return CLUSTER_EINVAL;
	}
	for (i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) name[i];

		if (c < 0x20 || c == 0x7f || c == '/')
		{
			snprintf(errbuf, errlen,
					 "collection name has a control character or '/' at byte %zu", i);
			return CLUSTER_EINVAL;
		}
	}
	return CLUSTER_OK;
}

int
cluster_segment_key(const char *collection, const char *writer_id, uint64_t seq,
					char *buf, size_t len)
{
	char		err[CLUSTER_ERRLEN];
	int			n;

	if (buf == NULL || len == 0)
		return CLUSTER_EINVAL;
	buf[0] = '\0';
	if (cluster_collection_check(collection, err, sizeof(err)) != CLUSTER_OK ||
		cluster_id_check(writer_id, err, sizeof(err)) != CLUSTER_OK)
		return CLUSTER_EINVAL;
	n = snprintf(buf, len, "_brainy/log/%s/%s/%020" PRIu64 ".seg", collection, writer_id, seq);
	if (n < 0 || (size_t) n >= len)
	{
		buf[0] = '\0';
		return CLUSTER_EINVAL;
	}
	return CLUSTER_OK;
}

int
cluster_writer_from_key(const char *key, const char *prefix, char *id, size_t idlen)
{
	char		err[CLUSTER_ERRLEN];
	size_t		klen,
				plen,
				n;

	if (key == NULL || prefix == NULL || id == NULL || idlen == 0)
		return CLUSTER_EINVAL;
	id[0] = '\0';
	klen = strlen(key);
	plen = strlen(prefix);
	if (klen <= plen + 5 || strncmp(key, prefix, plen) != 0 ||
		strcmp(key + klen - 5, ".json") != 0)
		return CLUSTER_EINVAL;
	n = klen - plen - 5;
	if (n >= idlen)
		return CLUSTER_EINVAL;
	memcpy(id, key + plen, n);
	id[n] = '\0';
	if (cluster_id_check(id, err, sizeof(err)) != CLUSTER_OK)
	{
		id[0] = '\0';
		return CLUSTER_EINVAL;
	}
	return CLUSTER_OK;
}

/* ------------------------------------------------------- little endian */

static void
put_u16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char) v;
	p[1] = (unsigned char) (v >> 8);
}

static void
put_u32(unsigned char *p, uint32_t v)
{
	int			i;

	for (i = 0; i < 4; i++)
		p[i] = (unsigned char) (v >> (8 * i));
}

static void
put_u64(unsigned char *p, uint64_t v)
{
	int			i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char) (v >> (8 * i));
}

static uint32_t
load_u32(const unsigned char *p)
{
	return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
		(uint32_t) p[3] << 24;
}

static uint64_t
load_u64(const unsigned char *p)
{
	return (uint64_t) load_u32(p) | (uint64_t) load_u32(p + 4) << 32;
}

static uint32_t
float_bits(float f)
{
	uint32_t	u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static float
bits_float(uint32_t u)
{
	float		f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

/* a sequential writer into a buffer sized beforehand */
typedef struct Out
{
	unsigned char *p;
	size_t		pos;
} Out;

static void
out_u8(Out *o, uint8_t v)
{
	o->p[o->pos++] = v;
}

static void
out_u16(Out *o, uint16_t v)
{
	put_u16(o->p + o->pos, v);
	o->pos += 2;
}

static void
out_u32(Out *o, uint32_t v)
{
	put_u32(o->p + o->pos, v);
	o->pos += 4;
}

static void
out_u64(Out *o, uint64_t v)
{
	put_u64(o->p + o->pos, v);
	o->pos += 8;
}

static void
out_bytes(Out *o, const void *src, size_t n)
{
	if (n > 0)
		memcpy(o->p + o->pos, src, n);
	o->pos += n;
}

/*
 * The bounds-checked reading cursor: every take checks the bytes left
 * first; once one fails the cursor stays failed.
 */
typedef struct Cursor
{
	const unsigned char *buf;
	size_t		len;
	size_t		pos;
	int			failed;
} Cursor;

static const unsigned char *
cur_take(Cursor *c, size_t n)
{
	const unsigned char *p;

	if (c->failed || c->len - c->pos < n)
	{
		c->failed = 1;
		return NULL;
	}
	p = c->buf + c->pos;
	c->pos += n;
	return p;
}

static uint8_t
cur_u8(Cursor *c)
{
	const unsigned char *p = cur_take(c, 1);

	return p != NULL ? p[0] : 0;
}

static uint16_t
cur_u16(Cursor *c)
{
	const unsigned char *p = cur_take(c, 2);

	return p != NULL ? (uint16_t) (p[0] | p[1] << 8) : 0;
}

static uint32_t
cur_u32(Cursor *c)
{
	const unsigned char *p = cur_take(c, 4);

	return p != NULL ? load_u32(p) : 0;
}

static uint64_t
cur_u64(Cursor *c)
{
	const unsigned char *p = cur_take(c, 8);

	return p != NULL ? load_u64(p) : 0;
}

/* ------------------------------------------------------------- writer */

typedef struct WriterRow
{
	char		op;
	uint64_t	outbox_id;
	uint64_t	hlc;
	uint32_t	partition;
	uint32_t	pk_len;
	uint32_t	doc_len;
	size_t		pk_off;			/* into bytes */
	size_t		doc_off;
	size_t		vec_index;		/* into vecs, in vectors; SIZE_MAX = none */
} WriterRow;

struct ClusterSegmentWriter
{
	char		collection[CLUSTER_COLLECTION_MAX + 1];
	char		writer_id[CLUSTER_ID_MAX + 1];
	uint64_t	seq;
	uint32_t	dimensions;
	uint32_t	partition_count;
	WriterRow  *rows;
	size_t		n_rows,
				cap_rows;
	char	   *bytes;			/* every row's pk and doc */
	size_t		n_bytes,
				cap_bytes;
	float	   *vecs;
	size_t		n_vecs,
				cap_vecs;		/* in vectors */
};

ClusterSegmentWriter *
cluster_segment_writer_new(const char *collection, const char *writer_id, uint64_t seq,
						   uint32_t dimensions, uint32_t partition_count)
{
	char		err[CLUSTER_ERRLEN];
	ClusterSegmentWriter *w;

	if (cluster_collection_check(collection, err, sizeof(err)) != CLUSTER_OK ||
		cluster_id_check(writer_id, err, sizeof(err)) != CLUSTER_OK ||
		seq == 0 || dimensions < 1 || dimensions > CLUSTER_DIMENSIONS_MAX ||
		partition_count < 1 || partition_count > CLUSTER_PARTITION_COUNT_MAX)
		return NULL;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	snprintf(w->collection, sizeof(w->collection), "%s", collection);
	snprintf(w->writer_id, sizeof(w->writer_id), "%s", writer_id);
	w->seq = seq;
	w->dimensions = dimensions;
	w->partition_count = partition_count;
	return w;
}

/* grows *buf (of *cap elements of size elem) to hold need elements */
static int
grow(void **buf, size_t *cap, size_t need, size_t elem)
{
	size_t		ncap = *cap > 0 ? *cap : 16;
	void	   *p;

	if (need <= *cap)
		return 1;
	while (ncap < need)
	{
		if (ncap > SIZE_MAX / 2)
		{
			ncap = need;
			break;
		}
		ncap *= 2;
	}
	if (ncap > SIZE_MAX / elem)
		return 0;
	p = realloc(*buf, ncap * elem);
	if (p == NULL)
		return 0;
	*buf = p;
	*cap = ncap;
	return 1;
}

static int
wfail(char *errbuf, size_t errlen, const char *msg)
{
	snprintf(errbuf, errlen, "%s", msg);
	return CLUSTER_EINVAL;
}

int
cluster_segment_writer_add(ClusterSegmentWriter *w, const ClusterSegmentRow *row,
						   char *errbuf, size_t errlen)
{
	WriterRow  *r;
	uint32_t	i;
	size_t		need;

	if (w == NULL || row == NULL)
		return wfail(errbuf, errlen, "no segment writer or row");
	if (row->op != 'I' && row->op != 'U' && row->op != 'D')
	{
		snprintf(errbuf, errlen, "bad row operation 0x%02x (expected 'I', 'U' or 'D')",
				 (unsigned char) row->op);
		return CLUSTER_EINVAL;
	}
	if (row->pk == NULL || row->pk_len == 0)
		return wfail(errbuf, errlen, "row has an empty primary key");
	if (row->pk_len > CLUSTER_SEGMENT_PK_MAX)
	{
		snprintf(errbuf, errlen, "primary key is %" PRIu32 " bytes, the limit is %d",
				 row->pk_len, CLUSTER_SEGMENT_PK_MAX);
		return CLUSTER_EINVAL;
	}
	if (memchr(row->pk, '\0', row->pk_len) != NULL)
		return wfail(errbuf, errlen, "primary key contains a NUL byte");
	if (row->doc_len > CLUSTER_SEGMENT_DOC_MAX)
	{
		snprintf(errbuf, errlen, "row document is %" PRIu32 " bytes, the limit is %d",
				 row->doc_len, CLUSTER_SEGMENT_DOC_MAX);
		return CLUSTER_EINVAL;
	}
	if (row->doc_len > 0 && row->doc == NULL)
		return wfail(errbuf, errlen, "row document is NULL with a non-zero length");
	if (row->doc_len > 0 && memchr(row->doc, '\0', row->doc_len) != NULL)
		return wfail(errbuf, errlen, "row document contains a NUL byte");
	if (row->op == 'D' && row->vector != NULL)
		return wfail(errbuf, errlen, "a delete row must not carry a vector");
	if (row->op != 'D' && row->vector == NULL)
		return wfail(errbuf, errlen, "an insert or update row needs a vector");
	if (row->vector != NULL)
		for (i = 0; i < w->dimensions; i++)
			if (!isfinite(row->vector[i]))
			{
				snprintf(errbuf, errlen, "vector element %" PRIu32 " is %s", i,
						 isnan(row->vector[i]) ? "NaN" : "infinite");
				return CLUSTER_EINVAL;
			}
	if (w->n_rows >= UINT32_MAX)
		return wfail(errbuf, errlen, "segment has too many rows");

	/* make room everywhere first, so a failure leaves the writer unchanged */
	need = w->n_bytes + row->pk_len;
	if (need < w->n_bytes || need + row->doc_len < need)
		return wfail(errbuf, errlen, "segment too large");
	need += row->doc_len;
	if (!grow((void **) &w->rows, &w->cap_rows, w->n_rows + 1, sizeof(WriterRow)) ||
		!grow((void **) &w->bytes, &w->cap_bytes, need, 1) ||
		(row->vector != NULL &&
		 !grow((void **) &w->vecs, &w->cap_vecs, w->n_vecs + 1,
			   (size_t) w->dimensions * sizeof(float))))
	{
		snprintf(errbuf, errlen, "out of memory");
		return CLUSTER_ENOMEM;
	}

	r = &w->rows[w->n_rows];
	r->op = row->op;
	r->outbox_id = row->outbox_id;
	r->hlc = row->hlc;
	r->partition = (uint32_t) cluster_partition_index(row->pk, row->pk_len,
													  (int) w->partition_count);
	r->pk_len = row->pk_len;
	r->pk_off = w->n_bytes;
	memcpy(w->bytes + w->n_bytes, row->pk, row->pk_len);
	w->n_bytes += row->pk_len;
	r->doc_len = row->doc_len;
	r->doc_off = w->n_bytes;
	if (row->doc_len > 0)
		memcpy(w->bytes + w->n_bytes, row->doc, row->doc_len);
	w->n_bytes += row->doc_len;
	r->vec_index = SIZE_MAX;
	if (row->vector != NULL)
	{
		r->vec_index = w->n_vecs;
		memcpy(w->vecs + w->n_vecs * w->dimensions, row->vector,
			   (size_t) w->dimensions * sizeof(float));
		w->n_vecs++;
	}
	w->n_rows++;
	return CLUSTER_OK;
}

uint32_t
cluster_segment_writer_rows(const ClusterSegmentWriter *w)
{
	return w != NULL ? (uint32_t) w->n_rows : 0;
}

static uint64_t
row_encoded_len(const ClusterSegmentWriter *w, const WriterRow *r)
{
	return (uint64_t) ROW_FIXED_LEN + r->pk_len + r->doc_len +
		(r->vec_index != SIZE_MAX ? (uint64_t) w->dimensions * 4 : 0);
}

int
cluster_segment_writer_finish(ClusterSegmentWriter *w, uint64_t created_ms,
							  unsigned char **out, size_t *out_len,
							  char *errbuf, size_t errlen)
{
	uint32_t   *counts = NULL;
	uint64_t   *lengths = NULL;
	size_t	   *start = NULL,
			   *order = NULL;
	unsigned char *buf = NULL;
	uint64_t	outbox_min = UINT64_MAX,
				outbox_max = 0,
				hlc_min = UINT64_MAX,
				hlc_max = 0,
				total;
	uint32_t	n_parts = 0,
				p,
				header_len;
	size_t		i,
				clen,
				wlen,
				table_pos;
	Out			o;
	int			rc = CLUSTER_ENOMEM;

	if (out != NULL)
		*out = NULL;
	if (out_len != NULL)
		*out_len = 0;
	if (w == NULL || out == NULL || out_len == NULL)
		return wfail(errbuf, errlen, "no segment writer or output");
	if (w->n_rows == 0)
		return wfail(errbuf, errlen, "segment has no rows");

	counts = calloc(w->partition_count, sizeof(*counts));
	lengths = calloc(w->partition_count, sizeof(*lengths));
	start = calloc((size_t) w->partition_count + 1, sizeof(*start));
	order = malloc(w->n_rows * sizeof(*order));
	if (counts == NULL || lengths == NULL || start == NULL || order == NULL)
		goto oom;

	for (i = 0; i < w->n_rows; i++)
	{
		const WriterRow *r = &w->rows[i];

		counts[r->partition]++;
		lengths[r->partition] += row_encoded_len(w, r);
		if (r->outbox_id < outbox_min)
			outbox_min = r->outbox_id;
		if (r->outbox_id > outbox_max)
			outbox_max = r->outbox_id;
		if (r->hlc < hlc_min)
			hlc_min = r->hlc;
		if (r->hlc > hlc_max)
			hlc_max = r->hlc;
	}
	/* a stable counting sort: by partition, add order within one */
	for (p = 0; p < w->partition_count; p++)
	{
		start[p + 1] = start[p] + counts[p];
		if (counts[p] > 0)
			n_parts++;
	}
	for (i = 0; i < w->n_rows; i++)
		order[start[w->rows[i].partition]++] = i;

	clen = strlen(w->collection);
	wlen = strlen(w->writer_id);
	header_len = (uint32_t) (HEADER_FIXED_LEN + clen + wlen +
							 (size_t) n_parts * CLUSTER_SEGMENT_PART_LEN);
	total = header_len;
	for (p = 0; p < w->partition_count; p++)
		total += lengths[p];
	total += CLUSTER_SEGMENT_TRAILER_LEN;
	if (total > SIZE_MAX)
	{
		rc = wfail(errbuf, errlen, "segment too large for this platform");
		goto done;
	}
	buf = malloc((size_t) total);
	if (buf == NULL)
		goto oom;

	o.p = buf;
	o.pos = 0;
	out_bytes(&o, segment_magic, 8);
	out_u32(&o, CLUSTER_SEGMENT_VERSION);
	out_u32(&o, header_len);
	out_u16(&o, (uint16_t) clen);
	out_bytes(&o, w->collection, clen);
	out_u16(&o, (uint16_t) wlen);
	out_bytes(&o, w->writer_id, wlen);
	out_u64(&o, w->seq);
	out_u64(&o, outbox_min);
	out_u64(&o, outbox_max);
	out_u64(&o, hlc_min);
	out_u64(&o, hlc_max);
	out_u64(&o, created_ms);
	out_u32(&o, (uint32_t) w->n_rows);
	out_u32(&o, w->dimensions);
	out_u32(&o, w->partition_count);
	out_u32(&o, n_parts);
	/* the table's checksums are filled in once the blocks are written */
	table_pos = o.pos;
	o.pos += (size_t) n_parts * CLUSTER_SEGMENT_PART_LEN + 8;

	{
		uint32_t	k = 0;
		size_t		next = 0;

		for (p = 0; p < w->partition_count; p++)
		{
			size_t		block_start = o.pos,
						entry = table_pos + (size_t) k * CLUSTER_SEGMENT_PART_LEN;

			if (counts[p] == 0)
				continue;
			for (; next < start[p]; next++)
			{
				const WriterRow *r = &w->rows[order[next]];
				uint32_t	d;

				out_u8(&o, (uint8_t) r->op);
				out_u64(&o, r->outbox_id);
				out_u64(&o, r->hlc);
				out_u32(&o, r->pk_len);
				out_bytes(&o, w->bytes + r->pk_off, r->pk_len);
				if (r->vec_index != SIZE_MAX)
				{
					const float *v = w->vecs + r->vec_index * w->dimensions;

					for (d = 0; d < w->dimensions; d++)
						out_u32(&o, float_bits(v[d]));
				}
				out_u32(&o, r->doc_len);
				out_bytes(&o, w->bytes + r->doc_off, r->doc_len);
			}
			put_u32(buf + entry, p);
			put_u32(buf + entry + 4, counts[p]);
			put_u64(buf + entry + 8, block_start);
			put_u64(buf + entry + 16, o.pos - block_start);
			put_u64(buf + entry + 24, XXH64(buf + block_start, o.pos - block_start, 0));
			k++;
		}
	}
	put_u64(buf + header_len - 8, XXH64(buf, header_len - 8, 0));
	put_u64(buf + o.pos, XXH64(buf, o.pos, 0));
	o.pos += 8;
	out_bytes(&o, segment_end_magic, 8);
	if (o.pos != total)
	{
		/* cannot happen: the sizes above and the bytes written disagree */
		rc = wfail(errbuf, errlen, "internal error: segment size mismatch");
		goto done;
	}
	*out = buf;
	*out_len = (size_t) total;
	buf = NULL;
	rc = CLUSTER_OK;
	goto done;

oom:
	snprintf(errbuf, errlen, "out of memory");
	rc = CLUSTER_ENOMEM;
done:
	free(buf);
	free(counts);
	free(lengths);
	free(start);
	free(order);
	return rc;
}

void
cluster_segment_writer_free(ClusterSegmentWriter *w)
{
	if (w == NULL)
		return;
	free(w->rows);
	free(w->bytes);
	free(w->vecs);
	free(w);
}

/* ------------------------------------------------------------- reader */

void
cluster_segment_header_free(ClusterSegmentHeader *hdr)
{
	if (hdr == NULL)
		return;
	free(hdr->parts);
	memset(hdr, 0, sizeof(*hdr));
}

void
cluster_segment_free(ClusterSegment *seg)
{
	if (seg == NULL)
		return;
	cluster_segment_header_free(&seg->header);
	free(seg->rows);
	free(seg->vectors);
	memset(seg, 0, sizeof(*seg));
}

static int
hfail(char *errbuf, size_t errlen, const char *what)
{
	snprintf(errbuf, errlen, "segment header: %s", what);
	return CLUSTER_EINVAL;
}

/* a u16-length name of 1..max bytes with no NUL, copied into dst */
static int
read_name(Cursor *c, char *dst, size_t max, const char *what, char *errbuf, size_t errlen)
{
	uint16_t	n = cur_u16(c);
	const unsigned char *p;

	if (c->failed)
		return 0;
	if (n < 1 || n > max)
	{
		snprintf(errbuf, errlen, "segment header: %s length %u out of range (1..%zu)",
				 what, (unsigned) n, max);
		return 0;
	}
	p = cur_take(c, n);
	if (p == NULL)
		return 0;
	if (memchr(p, '\0', n) != NULL)
	{
		snprintf(errbuf, errlen, "segment header: %s contains a NUL byte", what);
		return 0;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 1;
}

/*
 * Reads, checks and decodes the header of data[0..len); *needed gets the
 * bytes needed when len is too short.
 */
static int
parse_header(const unsigned char *data, size_t len, ClusterSegmentHeader *hdr,
			 size_t *needed, char *errbuf, size_t errlen)
{
	Cursor		c;
	uint32_t	version,
				header_len,
				i,
				sum_rows = 0;
	uint64_t	offset;
	char		err[CLUSTER_ERRLEN];

	memset(hdr, 0, sizeof(*hdr));
	*needed = 0;
	if (len >= 8 && memcmp(data, segment_magic, 8) != 0)
		return hfail(errbuf, errlen, "not a Brainy segment (bad magic)");
	if (len < CLUSTER_SEGMENT_PREFIX_LEN)
	{
		*needed = CLUSTER_SEGMENT_PREFIX_LEN;
		snprintf(errbuf, errlen, "segment truncated: %zu bytes, its fixed prefix alone is %d",
				 len, CLUSTER_SEGMENT_PREFIX_LEN);
		return CLUSTER_EINVAL;
	}
	version = load_u32(data + 8);
	header_len = load_u32(data + 12);
	if (version != CLUSTER_SEGMENT_VERSION)
	{
		snprintf(errbuf, errlen, "unknown segment format version %" PRIu32 " (this build reads %d)",
				 version, CLUSTER_SEGMENT_VERSION);
		return CLUSTER_EUNSUPPORTED;
	}
	if (header_len < HEADER_MIN_LEN || header_len > CLUSTER_SEGMENT_HEADER_MAX)
	{
		snprintf(errbuf, errlen, "segment header: length %" PRIu32 " out of range (%d..%d)",
				 header_len, HEADER_MIN_LEN, CLUSTER_SEGMENT_HEADER_MAX);
		return CLUSTER_EINVAL;
	}
	if (len < header_len)
	{
		*needed = header_len;
		snprintf(errbuf, errlen, "segment header truncated: %zu of %" PRIu32 " bytes",
				 len, header_len);
		return CLUSTER_EINVAL;
	}
	if (XXH64(data, header_len - 8, 0) != load_u64(data + header_len - 8))
		return hfail(errbuf, errlen, "checksum mismatch");

	hdr->format_version = version;
	hdr->header_len = header_len;
	c.buf = data;
	c.len = header_len - 8;
	c.pos = CLUSTER_SEGMENT_PREFIX_LEN;
	c.failed = 0;
	if (!read_name(&c, hdr->collection, CLUSTER_COLLECTION_MAX, "collection", errbuf, errlen) ||
		!read_name(&c, hdr->writer_id, CLUSTER_ID_MAX, "writer id", errbuf, errlen))
	{
		if (c.failed)
			hfail(errbuf, errlen, "shorter than its fields");
		goto bad;
	}
	if (cluster_collection_check(hdr->collection, err, sizeof(err)) != CLUSTER_OK ||
		cluster_id_check(hdr->writer_id, err, sizeof(err)) != CLUSTER_OK)
	{
		hfail(errbuf, errlen, err);
		goto bad;
	}
	hdr->seq = cur_u64(&c);
	hdr->outbox_min = cur_u64(&c);
	hdr->outbox_max = cur_u64(&c);
	hdr->hlc_min = cur_u64(&c);
	hdr->hlc_max = cur_u64(&c);
	hdr->created_ms = cur_u64(&c);
	hdr->row_count = cur_u32(&c);
	hdr->dimensions = cur_u32(&c);
	hdr->partition_count = cur_u32(&c);
	hdr->n_parts = cur_u32(&c);
	if (c.failed)
	{
		hfail(errbuf, errlen, "shorter than its fields");
		goto bad;
	}
	if (hdr->seq == 0)
	{
		hfail(errbuf, errlen, "seq is 0");
		goto bad;
	}
	if (hdr->outbox_min > hdr->outbox_max || hdr->hlc_min > hdr->hlc_max)
	{
		hfail(errbuf, errlen, "outbox or HLC range has min > max");
		goto bad;
	}
	if (hdr->row_count == 0)
	{
		hfail(errbuf, errlen, "row count is 0");
		goto bad;
	}
	if (hdr->dimensions < 1 || hdr->dimensions > CLUSTER_DIMENSIONS_MAX)
	{
		snprintf(errbuf, errlen, "segment header: dimensions %" PRIu32 " out of range (1..%d)",
				 hdr->dimensions, CLUSTER_DIMENSIONS_MAX);
		goto bad;
	}
	if (hdr->partition_count < 1 || hdr->partition_count > CLUSTER_PARTITION_COUNT_MAX)
	{
		snprintf(errbuf, errlen,
				 "segment header: partition count %" PRIu32 " out of range (1..%d)",
				 hdr->partition_count, CLUSTER_PARTITION_COUNT_MAX);
		goto bad;
	}
	if (hdr->n_parts < 1 || hdr->n_parts > hdr->partition_count ||
		hdr->n_parts > hdr->row_count ||
		(uint64_t) hdr->n_parts * CLUSTER_SEGMENT_PART_LEN != c.len - c.pos)
	{
		snprintf(errbuf, errlen,
				 "segment header: %" PRIu32 " partition entries do not fit its %" PRIu32 " bytes",
				 hdr->n_parts, header_len);
		goto bad;
	}
	hdr->parts = calloc(hdr->n_parts, sizeof(ClusterSegmentPart));
	if (hdr->parts == NULL)
	{
		snprintf(errbuf, errlen, "out of memory");
		memset(hdr, 0, sizeof(*hdr));
		return CLUSTER_ENOMEM;
	}
	offset = header_len;
	for (i = 0; i < hdr->n_parts; i++)
	{
		ClusterSegmentPart *part = &hdr->parts[i];

		part->partition = cur_u32(&c);
		part->row_count = cur_u32(&c);
		part->offset = cur_u64(&c);
		part->length = cur_u64(&c);
		part->checksum = cur_u64(&c);
		if (c.failed)
		{
			hfail(errbuf, errlen, "shorter than its fields");
			goto bad;
		}
		if (part->partition >= hdr->partition_count ||
			(i > 0 && part->partition <= hdr->parts[i - 1].partition))
		{
			snprintf(errbuf, errlen,
					 "segment header: partition entry %" PRIu32 " (partition %" PRIu32
					 ") out of range or out of order", i, part->partition);
			goto bad;
		}
		if (part->row_count == 0 || part->row_count > hdr->row_count - sum_rows)
		{
			snprintf(errbuf, errlen,
					 "segment header: partition %" PRIu32 " row count %" PRIu32
					 " does not add up to the segment's %" PRIu32,
					 part->partition, part->row_count, hdr->row_count);
			goto bad;
		}
		sum_rows += part->row_count;
		if (part->offset != offset)
		{
			snprintf(errbuf, errlen,
					 "segment header: partition %" PRIu32 " block at offset %" PRIu64
					 ", expected %" PRIu64, part->partition, part->offset, offset);
			goto bad;
		}
		if (part->length < (uint64_t) part->row_count * ROW_MIN_LEN ||
			part->length > UINT64_MAX - CLUSTER_SEGMENT_TRAILER_LEN - offset)
		{
			snprintf(errbuf, errlen,
					 "segment header: partition %" PRIu32 " block length %" PRIu64
					 " impossible for %" PRIu32 " rows",
					 part->partition, part->length, part->row_count);
			goto bad;
		}
		offset += part->length;
	}
	if (sum_rows != hdr->row_count)
	{
		snprintf(errbuf, errlen,
				 "segment header: partition row counts add up to %" PRIu32
				 ", the segment's row count is %" PRIu32,
				 sum_rows, hdr->row_count);
		goto bad;
	}
	return CLUSTER_OK;

bad:
	cluster_segment_header_free(hdr);
	return CLUSTER_EINVAL;
}

int
cluster_segment_read_header(const void *data, size_t len, ClusterSegmentHeader *hdr,
							size_t *needed, char *errbuf, size_t errlen)
{
	size_t		need = 0;
	int			rc;

	if (needed != NULL)
		*needed = 0;
	if (hdr == NULL)
		return wfail(errbuf, errlen, "no header to fill");
	memset(hdr, 0, sizeof(*hdr));
	if (data == NULL && len > 0)
		return wfail(errbuf, errlen, "no segment data");
	rc = parse_header(data, len, hdr, &need, errbuf, errlen);
	if (needed != NULL)
		*needed = need;
	return rc;
}

/* the end of the object the header describes: last block + trailer */
static uint64_t
object_len(const ClusterSegmentHeader *hdr)
{
	const ClusterSegmentPart *last = &hdr->parts[hdr->n_parts - 1];

	return last->offset + last->length + CLUSTER_SEGMENT_TRAILER_LEN;
}

/* how many rows of a block can carry a vector, given its length */
static size_t
vector_bound(const ClusterSegmentHeader *hdr, const ClusterSegmentPart *part)
{
	uint64_t	fit = part->length / (ROW_MIN_LEN + (uint64_t) hdr->dimensions * 4);

	return (size_t) (fit < part->row_count ? fit : part->row_count);
}

/*
 * Verifies and decodes the block of hdr->parts[idx], block[0..len), into
 * rows[0..row_count) and vectors from vecs[*n_vecs] on (room for vec_cap
 * vectors in all).
 */
static int
decode_block(const ClusterSegmentHeader *hdr, uint32_t idx, const unsigned char *block,
			 size_t len, ClusterSegmentRow *rows, float *vecs, size_t vec_cap,
			 size_t *n_vecs, char *errbuf, size_t errlen)
{
	const ClusterSegmentPart *part = &hdr->parts[idx];
	uint32_t	pno = part->partition,
				i,
				d;
	Cursor		c;

	if ((uint64_t) len != part->length)
	{
		snprintf(errbuf, errlen,
				 "partition %" PRIu32 " block is %zu bytes, the header says %" PRIu64,
				 pno, len, part->length);
		return CLUSTER_EINVAL;
	}
	if (XXH64(block, len, 0) != part->checksum)
	{
		snprintf(errbuf, errlen, "partition %" PRIu32 " block checksum mismatch", pno);
		return CLUSTER_EINVAL;
	}
	c.buf = block;
	c.len = len;
	c.pos = 0;
	c.failed = 0;
	for (i = 0; i < part->row_count; i++)
	{
		ClusterSegmentRow *r = &rows[i];
		const unsigned char *p;

		memset(r, 0, sizeof(*r));
		r->op = (char) cur_u8(&c);
		r->outbox_id = cur_u64(&c);
		r->hlc = cur_u64(&c);
		r->pk_len = cur_u32(&c);
		if (c.failed)
			goto truncated;
		if (r->op != 'I' && r->op != 'U' && r->op != 'D')
		{
			snprintf(errbuf, errlen, "partition %" PRIu32 " row %" PRIu32 ": bad operation 0x%02x",
					 pno, i, (unsigned char) r->op);
			return CLUSTER_EINVAL;
		}
		if (r->outbox_id < hdr->outbox_min || r->outbox_id > hdr->outbox_max ||
			r->hlc < hdr->hlc_min || r->hlc > hdr->hlc_max)
		{
			snprintf(errbuf, errlen,
					 "partition %" PRIu32 " row %" PRIu32
					 ": outbox id or HLC outside the header's range", pno, i);
			return CLUSTER_EINVAL;
		}
		if (r->pk_len < 1 || r->pk_len > CLUSTER_SEGMENT_PK_MAX)
		{
			snprintf(errbuf, errlen,
					 "partition %" PRIu32 " row %" PRIu32 ": primary key length %" PRIu32
					 " out of range (1..%d)", pno, i, r->pk_len, CLUSTER_SEGMENT_PK_MAX);
			return CLUSTER_EINVAL;
		}
		if ((p = cur_take(&c, r->pk_len)) == NULL)
			goto truncated;
		r->pk = (const char *) p;
		if (memchr(p, '\0', r->pk_len) != NULL)
		{
			snprintf(errbuf, errlen, "partition %" PRIu32 " row %" PRIu32
					 ": primary key contains a NUL byte", pno, i);
			return CLUSTER_EINVAL;
		}
		r->partition = cluster_partition_index(r->pk, r->pk_len, (int) hdr->partition_count);
		if (r->partition != (int) pno)
		{
			snprintf(errbuf, errlen, "partition %" PRIu32 " row %" PRIu32
					 ": primary key belongs to partition %d", pno, i, r->partition);
			return CLUSTER_EINVAL;
		}
		if (r->op != 'D')
		{
			float	   *v;

			if ((p = cur_take(&c, (size_t) hdr->dimensions * 4)) == NULL)
				goto truncated;
			if (*n_vecs >= vec_cap)
			{
				/* the bound from the block length makes this impossible */
				snprintf(errbuf, errlen, "partition %" PRIu32 " has more vectors than fit", pno);
				return CLUSTER_EINVAL;
			}
			v = vecs + *n_vecs * hdr->dimensions;
			for (d = 0; d < hdr->dimensions; d++)
			{
				v[d] = bits_float(load_u32(p + 4 * (size_t) d));
				if (!isfinite(v[d]))
				{
					snprintf(errbuf, errlen, "partition %" PRIu32 " row %" PRIu32
							 ": vector element %" PRIu32 " is not finite", pno, i, d);
					return CLUSTER_EINVAL;
				}
			}
			r->vector = v;
			(*n_vecs)++;
		}
		r->doc_len = cur_u32(&c);
		if (c.failed)
			goto truncated;
		if (r->doc_len > CLUSTER_SEGMENT_DOC_MAX)
		{
			snprintf(errbuf, errlen, "partition %" PRIu32 " row %" PRIu32
					 ": document length %" PRIu32 " over the limit", pno, i, r->doc_len);
			return CLUSTER_EINVAL;
		}
		if ((p = cur_take(&c, r->doc_len)) == NULL)
			goto truncated;
		r->doc = (const char *) p;
		if (memchr(p, '\0', r->doc_len) != NULL)
		{
			snprintf(errbuf, errlen, "partition %" PRIu32 " row %" PRIu32
					 ": document contains a NUL byte", pno, i);
			return CLUSTER_EINVAL;
		}
	}
	if (c.pos != len)
	{
		snprintf(errbuf, errlen,
				 "partition %" PRIu32 " block has %zu bytes after its %" PRIu32 " rows",
				 pno, len - c.pos, part->row_count);
		return CLUSTER_EINVAL;
	}
	return CLUSTER_OK;

truncated:
	snprintf(errbuf, errlen, "partition %" PRIu32 " row %" PRIu32 " runs past the block's end",
			 pno, i);
	return CLUSTER_EINVAL;
}

/* rows and vectors for n_rows rows, up to max_vecs of them with a vector */
static int
alloc_rows(ClusterSegment *seg, size_t n_rows, size_t max_vecs, uint32_t dimensions,
		   char *errbuf, size_t errlen)
{
	seg->rows = calloc(n_rows > 0 ? n_rows : 1, sizeof(ClusterSegmentRow));
	if (max_vecs > 0)
		seg->vectors = malloc(max_vecs * dimensions * sizeof(float));
	if (seg->rows == NULL || (max_vecs > 0 && seg->vectors == NULL))
	{
		snprintf(errbuf, errlen, "out of memory");
		return CLUSTER_ENOMEM;
	}
	return CLUSTER_OK;
}

int
cluster_segment_decode(const void *data, size_t len, ClusterSegment *seg,
					   char *errbuf, size_t errlen)
{
	const unsigned char *bytes = data;
	ClusterSegmentHeader *hdr;
	size_t		need,
				max_vecs = 0,
				n_vecs = 0,
				at = 0;
	uint64_t	total,
				omin = UINT64_MAX,
				omax = 0,
				hmin = UINT64_MAX,
				hmax = 0;
	uint32_t	i;
	int			rc;

	if (seg == NULL)
		return wfail(errbuf, errlen, "no segment to fill");
	memset(seg, 0, sizeof(*seg));
	if (data == NULL && len > 0)
		return wfail(errbuf, errlen, "no segment data");
	hdr = &seg->header;
	rc = parse_header(bytes, len, hdr, &need, errbuf, errlen);
	if (rc != CLUSTER_OK)
	{
		if (need > 0)
			snprintf(errbuf, errlen, "segment truncated: %zu bytes, its header alone is %zu",
					 len, need);
		return rc;
	}
	total = object_len(hdr);
	if ((uint64_t) len < total)
	{
		snprintf(errbuf, errlen, "segment truncated: %zu of %" PRIu64 " bytes", len, total);
		rc = CLUSTER_EINVAL;
		goto fail;
	}
	if ((uint64_t) len > total)
	{
		snprintf(errbuf, errlen, "segment is %zu bytes, its header describes %" PRIu64,
				 len, total);
		rc = CLUSTER_EINVAL;
		goto fail;
	}
	if (memcmp(bytes + len - 8, segment_end_magic, 8) != 0)
	{
		snprintf(errbuf, errlen, "segment trailer missing (bad end magic)");
		rc = CLUSTER_EINVAL;
		goto fail;
	}
	if (XXH64(bytes, len - CLUSTER_SEGMENT_TRAILER_LEN, 0) !=
		load_u64(bytes + len - CLUSTER_SEGMENT_TRAILER_LEN))
	{
		snprintf(errbuf, errlen, "segment checksum mismatch");
		rc = CLUSTER_EINVAL;
		goto fail;
	}

	for (i = 0; i < hdr->n_parts; i++)
		max_vecs += vector_bound(hdr, &hdr->parts[i]);
	rc = alloc_rows(seg, hdr->row_count, max_vecs, hdr->dimensions, errbuf, errlen);
	if (rc != CLUSTER_OK)
		goto fail;
	for (i = 0; i < hdr->n_parts; i++)
	{
		const ClusterSegmentPart *part = &hdr->parts[i];

		rc = decode_block(hdr, i, bytes + part->offset, (size_t) part->length,
						  seg->rows + at, seg->vectors, max_vecs, &n_vecs, errbuf, errlen);
		if (rc != CLUSTER_OK)
			goto fail;
		at += part->row_count;
	}
	for (at = 0; at < hdr->row_count; at++)
	{
		const ClusterSegmentRow *r = &seg->rows[at];

		if (r->outbox_id < omin)
			omin = r->outbox_id;
		if (r->outbox_id > omax)
			omax = r->outbox_id;
		if (r->hlc < hmin)
			hmin = r->hlc;
		if (r->hlc > hmax)
			hmax = r->hlc;
	}
	if (omin != hdr->outbox_min || omax != hdr->outbox_max ||
		hmin != hdr->hlc_min || hmax != hdr->hlc_max)
	{
		snprintf(errbuf, errlen, "segment header's outbox or HLC range differs from its rows'");
		rc = CLUSTER_EINVAL;
		goto fail;
	}
	seg->n_rows = hdr->row_count;
	return CLUSTER_OK;

fail:
	cluster_segment_free(seg);
	return rc;
}

int
cluster_segment_decode_part(const ClusterSegmentHeader *hdr, uint32_t part_index,
							const void *block, size_t len, ClusterSegment *out,
							char *errbuf, size_t errlen)
{
	const ClusterSegmentPart *part;
	size_t		max_vecs,
				n_vecs = 0;
	int			rc;

	if (out == NULL)
		return wfail(errbuf, errlen, "no segment to fill");
	memset(out, 0, sizeof(*out));
	if (hdr == NULL || hdr->parts == NULL || block == NULL)
		return wfail(errbuf, errlen, "no segment header or block");
	if (part_index >= hdr->n_parts)
	{
		snprintf(errbuf, errlen, "partition entry %" PRIu32 " out of range (the segment has %" PRIu32 ")",
				 part_index, hdr->n_parts);
		return CLUSTER_EINVAL;
	}
	if (hdr->dimensions < 1 || hdr->dimensions > CLUSTER_DIMENSIONS_MAX ||
		hdr->n_parts > CLUSTER_PARTITION_COUNT_MAX || hdr->partition_count < 1 || hdr->partition_count > CLUSTER_PARTITION_COUNT_MAX)
		return wfail(errbuf, errlen, "segment header not verified");
	part = &hdr->parts[part_index];

	out->header = *hdr;
	out->header.parts = malloc(hdr->n_parts * sizeof(ClusterSegmentPart));
	if (out->header.parts == NULL)
	{
		memset(out, 0, sizeof(*out));
		snprintf(errbuf, errlen, "out of memory");
		return CLUSTER_ENOMEM;
	}
	memcpy(out->header.parts, hdr->parts, hdr->n_parts * sizeof(ClusterSegmentPart));

	/* the length check comes first so row_count cannot size a huge array */
	if ((uint64_t) len != part->length || part->length < (uint64_t) part->row_count * ROW_MIN_LEN)
	{
		snprintf(errbuf, errlen,
				 "partition %" PRIu32 " block is %zu bytes, the header says %" PRIu64,
				 part->partition, len, part->length);
		rc = CLUSTER_EINVAL;
		goto fail;
	}
	max_vecs = vector_bound(hdr, part);
	rc = alloc_rows(out, part->row_count, max_vecs, hdr->dimensions, errbuf, errlen);
	if (rc != CLUSTER_OK)
		goto fail;
	rc = decode_block(hdr, part_index, block, len, out->rows, out->vectors, max_vecs,
					  &n_vecs, errbuf, errlen);
	if (rc != CLUSTER_OK)
		goto fail;
	out->n_rows = part->row_count;
	return CLUSTER_OK;

fail:
	cluster_segment_free(out);
	return rc;
}
