/*
 * cluster_segment.h - the change log's building blocks (plain C, no
 * PostgreSQL headers): hybrid logical clocks and last-writer-wins order
 * (cluster_hlc.c), the binary change-log segment (cluster_segment.c) and
 * a published table's schema.json (cluster_schema.c).  Conventions are
 * those of cluster.h.
 */
#ifndef BRAINY_CLUSTER_SEGMENT_H
#define BRAINY_CLUSTER_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "cluster.h"

/* ------------------------------------------------- hybrid logical clock */

/*
 * An HLC value: milliseconds since the Unix epoch in the high 48 bits, a
 * logical counter in the low 16 bits.  Values compare as plain integers.
 */

/* ms << 16 | (logical & 0xffff); ms above 48 bits is cut to 48 bits */
extern uint64_t cluster_hlc_make(uint64_t ms, uint32_t logical);

/* the physical part (milliseconds) */
extern uint64_t cluster_hlc_ms(uint64_t hlc);

/*
 * A local event: max(last + 1, wall_ms << 16).  A counter overflow carries
 * into the milliseconds; a wall clock that goes backwards never makes the
 * clock go backwards.  Saturates at UINT64_MAX (year 10889).
 */
extern uint64_t cluster_hlc_next(uint64_t last, uint64_t wall_ms);

/* A received timestamp: > max(last, remote) and >= wall_ms << 16. */
extern uint64_t cluster_hlc_observe(uint64_t last, uint64_t remote, uint64_t wall_ms);

/*
 * Last-writer-wins order of two versions of a row: -1, 0 or 1.  The higher
 * HLC wins; equal HLCs are ordered by strcmp of the writer ids (the greater
 * id wins).  A NULL writer id counts as "".
 */
extern int	cluster_version_cmp(uint64_t a_hlc, const char *a_writer,
								uint64_t b_hlc, const char *b_writer);

/* ------------------------------------------------- change-log segments */

/*
 * _brainy/log/<collection>/<writer-id>/<seq:020>.seg, written once.  All
 * integers little-endian, floats IEEE-754 binary32 little-endian:
 *
 *	"BRAINYSG", u32 format_version (1), u32 header_len
 *	u16 len + collection, u16 len + writer id, u64 seq, u64 outbox_min,
 *	u64 outbox_max, u64 hlc_min, u64 hlc_max, u64 created_ms,
 *	u32 row_count, u32 dimensions, u32 partition_count, u32 n_parts,
 *	n_parts x {u32 partition, u32 row_count, u64 offset, u64 length,
 *	           u64 xxh64 of the block},
 *	u64 xxh64 of the header bytes before it
 *	blocks, one per non-empty partition, ascending, contiguous; each row:
 *	  u8 op ('I', 'U', 'D'), u64 outbox_id, u64 hlc, u32 pk_len + pk,
 *	  dimensions x f32 (not for 'D'), u32 doc_len + doc
 *	u64 xxh64 of everything before it, "BRAINYND"
 *
 * xxh64 is XXH64 with seed 0.
 */

#define CLUSTER_SEGMENT_VERSION 1
#define CLUSTER_SEGMENT_PREFIX_LEN 16	/* magic, version, header_len */
#define CLUSTER_SEGMENT_TRAILER_LEN 16	/* checksum, end magic */
#define CLUSTER_SEGMENT_PART_LEN 32		/* one partition table entry */
#define CLUSTER_COLLECTION_MAX 63
#define CLUSTER_SEGMENT_PK_MAX 65535
#define CLUSTER_SEGMENT_DOC_MAX 0x3fffffff	/* PostgreSQL's largest value */
/* the largest header_len: reading this many bytes always gets the header */
#define CLUSTER_SEGMENT_HEADER_MAX \
	(CLUSTER_SEGMENT_PREFIX_LEN + 2 + CLUSTER_COLLECTION_MAX + 2 + CLUSTER_ID_MAX + \
	 6 * 8 + 4 * 4 + CLUSTER_PARTITION_COUNT_MAX * CLUSTER_SEGMENT_PART_LEN + 8)

/*
 * A collection name as used in object keys: 1..63 bytes, no control
 * characters, no '/', not "." or "..".
 */
extern int	cluster_collection_check(const char *name, char *errbuf, size_t errlen);

typedef struct ClusterSegmentRow
{
	char		op;				/* 'I' insert, 'U' update, 'D' delete */
	uint64_t	outbox_id;
	uint64_t	hlc;
	const char *pk;				/* text form of the primary key, no NUL */
	uint32_t	pk_len;			/* 1..CLUSTER_SEGMENT_PK_MAX */
	const float *vector;		/* dimensions floats; NULL for 'D' */
	const char *doc;			/* other columns as JSON text, no NUL */
	uint32_t	doc_len;		/* 0..CLUSTER_SEGMENT_DOC_MAX */
	int			partition;		/* set by the writer and the decoder */
} ClusterSegmentRow;

typedef struct ClusterSegmentPart
{
	uint32_t	partition;
	uint32_t	row_count;
	uint64_t	offset;			/* of the block, from the object's start */
	uint64_t	length;
	uint64_t	checksum;		/* xxh64 of the block */
} ClusterSegmentPart;

typedef struct ClusterSegmentHeader
{
	uint32_t	format_version;
	char		collection[64];
	char		writer_id[CLUSTER_ID_MAX + 1];
	uint64_t	seq,
				outbox_min,
				outbox_max,
				hlc_min,
				hlc_max,
				created_ms;
	uint32_t	row_count,
				dimensions,
				partition_count,
				n_parts;
	ClusterSegmentPart *parts;	/* malloc'd, n_parts, ascending partition */
	uint32_t	header_len;
} ClusterSegmentHeader;

typedef struct ClusterSegmentWriter ClusterSegmentWriter;

/*
 * A writer for one segment.  NULL when out of memory or on bad arguments:
 * collection (cluster_collection_check), writer_id (cluster_id_check),
 * seq >= 1 (writers number their segments 1, 2, ...; 0 is "none yet"),
 * dimensions 1..CLUSTER_DIMENSIONS_MAX, partition_count
 * 1..CLUSTER_PARTITION_COUNT_MAX.
 */
extern ClusterSegmentWriter *cluster_segment_writer_new(const char *collection,
														const char *writer_id, uint64_t seq,
														uint32_t dimensions,
														uint32_t partition_count);

/*
 * Adds a copy of row (pk, vector and doc are copied; row->partition is
 * ignored and computed).  CLUSTER_EINVAL for a bad op, pk or doc length, a
 * NUL in pk or doc, a vector missing for 'I'/'U' or given for 'D', a NaN
 * or infinite element; CLUSTER_ENOMEM.  On error the writer is unchanged.
 */
extern int	cluster_segment_writer_add(ClusterSegmentWriter *w, const ClusterSegmentRow *row,
									   char *errbuf, size_t errlen);

extern uint32_t cluster_segment_writer_rows(const ClusterSegmentWriter *w);

/*
 * The segment's bytes (*out malloc'd, owned by the caller): rows grouped
 * by partition, add order kept within a partition; outbox and HLC ranges
 * from the rows.  Zero rows is CLUSTER_EINVAL.  The writer is unchanged
 * (it still has to be freed).
 */
extern int	cluster_segment_writer_finish(ClusterSegmentWriter *w, uint64_t created_ms,
										  unsigned char **out, size_t *out_len,
										  char *errbuf, size_t errlen);

extern void cluster_segment_writer_free(ClusterSegmentWriter *w);

/*
 * Reads and verifies the header (magic, version, header checksum, every
 * field) from a prefix data[0..len) of an object.  Fewer than header_len
 * bytes (or fewer than CLUSTER_SEGMENT_PREFIX_LEN, when header_len is not
 * known yet) is CLUSTER_EINVAL saying how many bytes are needed, and
 * *needed (when not NULL) gets that number; otherwise *needed is 0.  An
 * unknown format version is CLUSTER_EUNSUPPORTED.  On success free with
 * cluster_segment_header_free; on error *hdr is left empty.
 */
extern int	cluster_segment_read_header(const void *data, size_t len, ClusterSegmentHeader *hdr,
										size_t *needed, char *errbuf, size_t errlen);

typedef struct ClusterSegment
{
	ClusterSegmentHeader header;	/* owns its parts */
	ClusterSegmentRow *rows;	/* malloc'd; pk and doc point into the
								 * caller's data, vector into vectors */
	size_t		n_rows;
	float	   *vectors;		/* malloc'd, dimensions per non-delete row */
} ClusterSegment;

/*
 * Verifies a whole object data[0..len) (magic, version, header and object
 * checksums, trailer, every block's checksum, every row well-formed and in
 * its partition, counts and ranges matching the header) and decodes all
 * rows in the object's order.  Nothing is returned unless everything is
 * right; *seg is left empty on error.  The caller keeps data alive while
 * it uses seg->rows.
 */
extern int	cluster_segment_decode(const void *data, size_t len, ClusterSegment *seg,
								   char *errbuf, size_t errlen);

/*
 * Verifies and decodes one block: hdr->parts[part_index] (an index into
 * parts, not a partition number), whose bytes block[0..len) are
 * object[offset, offset + length).  out->header is a copy of *hdr.
 */
extern int	cluster_segment_decode_part(const ClusterSegmentHeader *hdr, uint32_t part_index,
										const void *block, size_t len, ClusterSegment *out,
										char *errbuf, size_t errlen);

extern void cluster_segment_free(ClusterSegment *seg);
extern void cluster_segment_header_free(ClusterSegmentHeader *hdr);

/*
 * "_brainy/log/<collection>/<writer>/<seq:020>.seg" into buf.
 * CLUSTER_EINVAL for a bad name or a buffer too small (len >= 160 is
 * always enough).
 */
extern int	cluster_segment_key(const char *collection, const char *writer_id, uint64_t seq,
								char *buf, size_t len);

/*
 * The writer a registration key names: key is prefix followed by
 * "<writer id>.json" (_brainy/collections/<c>/writers/<id>.json).  The id
 * into id[0..idlen) and CLUSTER_OK; CLUSTER_EINVAL for any other key (not
 * under prefix, another suffix, an invalid id, or too long for id).
 */
extern int	cluster_writer_from_key(const char *key, const char *prefix, char *id,
									size_t idlen);

/* ------------------------------------------------------------ schema.json */

/*
 * _brainy/collections/<name>/schema.json:
 *	{"formatVersion": 1, "collection": "items", "primaryKey": "id",
 *	 "vectorColumn": "embedding", "dimensions": 3, "distanceMetric": "l2",
 *	 "columns": [{"name": "id", "type": "bigint"},
 *	             {"name": "embedding", "type": "vector(3)"}, ...]}
 * distanceMetric is null when not set.
 */

#define CLUSTER_SCHEMA_VERSION 1
#define CLUSTER_SCHEMA_COLUMNS_MAX 1600		/* PostgreSQL's MaxHeapAttributeNumber */

typedef struct ClusterSchemaColumn
{
	char		name[64];
	char		type[128];		/* format_type text: "bigint", "vector(784)" */
} ClusterSchemaColumn;

typedef struct ClusterSchema
{
	int			format_version; /* 1 */
	char		collection[64];
	char		primary_key[64];
	char		vector_column[64];
	int			dimensions;
	char		distance_metric[16];	/* "" = not set; else l2, cosine, ip,
										 * l1 */
	int			n_columns;
	ClusterSchemaColumn *columns;	/* malloc'd, table order, includes the
									 * primary key and vector columns */
} ClusterSchema;

/* Pretty JSON (malloc'd); NULL when out of memory. */
extern char *cluster_schema_to_json(const ClusterSchema *s);

/*
 * Parses and validates: collection (cluster_collection_check); column
 * names 1..63 bytes, types 1..127 bytes, no control characters, no
 * duplicate names; the primary key and vector columns are distinct
 * columns; the vector column's type is "vector(<dimensions>)"; dimensions
 * 1..CLUSTER_DIMENSIONS_MAX.  Malformed JSON or a bad field is
 * CLUSTER_EINVAL; an unknown formatVersion CLUSTER_EUNSUPPORTED.  Keys not
 * known are ignored.  On error *s is left empty.
 */
extern int	cluster_schema_parse(const char *text, size_t len, ClusterSchema *s,
								 char *errbuf, size_t errlen);

/*
 * 1 when a and b have the same columns (names, types, order), primary
 * key, vector column and dimensions; else 0 and a one-line reason in why.
 */
extern int	cluster_schema_equal(const ClusterSchema *a, const ClusterSchema *b,
								 char *why, size_t whylen);

extern void cluster_schema_free(ClusterSchema *s);

#endif							/* BRAINY_CLUSTER_SEGMENT_H */
