/*
 * make_segment.c - a test tool: builds a change-log segment from a small
 * text description with the cluster module's own writer, optionally damages
 * it, and writes it into a bucket (any object store URL) or a file.  The
 * reader tests (test/suites/repl_reader.sh) use it so that they do not
 * depend on the writer side.
 *
 *   make_segment [options] < description
 *
 * Options:
 *   --store URL        put the segment into this bucket (file:// or s3://),
 *                      under _brainy/log/<collection>/<writer>/<seq:020>.seg
 *                      (a plain PUT: it replaces what is there)
 *   --key-seq N        ... but under seq N instead of the header's
 *   -o FILE            write the bytes to FILE instead
 *   --version N        patch the format version field to N
 *   --raw KEY          (with --store) put stdin as it is under KEY instead:
 *                      schema.json and writer registrations
 *   --corrupt          flip one byte of the rows (the last row's last byte)
 *   --truncate N       keep only the first N bytes
 *
 * Description, one item per line ('#' starts a comment):
 *   collection NAME | writer ID | seq N | dimensions N | partitions N
 *   I|U PK HLC V1,V2,...[ JSON]   an insert or update (JSON: the other columns)
 *   D PK HLC                      a delete
 *   random N FIRST SEED           N inserts, keys FIRST.., random vectors,
 *                                 HLC now, doc {"n": key}
 * HLC: a number (the raw value), MS:LOGICAL, "now", or now-MS / now+MS.
 *
 * Exits 0 when the segment was written, 1 with a message on stderr when
 * not.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "cluster_segment.h"
#include "objstore.h"

#define LINE_MAX_LEN (1 << 20)

static uint64_t now_ms;

static int
die(const char *msg, const char *detail)
{
	fprintf(stderr, "make_segment: %s%s%s\n", msg, detail ? ": " : "", detail ? detail : "");
	return 1;
}

static int
parse_hlc(const char *s, uint64_t *out)
{
	char	   *end;

	if (strncmp(s, "now", 3) == 0)
	{
		long long	off = 0;

		if (s[3] != '\0')
		{
			off = strtoll(s + 3, &end, 10);
			if (*end != '\0')
				return 0;
		}
		*out = cluster_hlc_make((uint64_t) ((long long) now_ms + off), 0);
		return 1;
	}
	if (strchr(s, ':') != NULL)
	{
		unsigned long long ms = strtoull(s, &end, 10);
		unsigned long logical;

		if (*end != ':')
			return 0;
		logical = strtoul(end + 1, &end, 10);
		if (*end != '\0')
			return 0;
		*out = cluster_hlc_make(ms, (uint32_t) logical);
		return 1;
	}
	*out = strtoull(s, &end, 10);
	return *end == '\0' && s[0] != '\0';
}

/* "1,2,3" into v[0..dims); 1 when exactly dims numbers */
static int
parse_vector(const char *s, float *v, uint32_t dims)
{
	uint32_t	i;
	char	   *end;

	for (i = 0; i < dims; i++)
	{
		v[i] = strtof(s, &end);
		if (end == s)
			return 0;
		s = end;
		if (i + 1 < dims)
		{
			if (*s != ',')
				return 0;
			s++;
		}
	}
	return *s == '\0';
}

static uint64_t
rng_next(uint64_t *state)
{
	uint64_t	z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static ObjStore *
open_store(const char *url)
{
	ObjStoreConfig cfg;
	ObjStoreError err;
	ObjStore   *store;

	memset(&cfg, 0, sizeof(cfg));
	memset(&err, 0, sizeof(err));
	cfg.endpoint = getenv("OBJSTORE_ENDPOINT");
	cfg.access_key_id = getenv("AWS_ACCESS_KEY_ID");
	cfg.secret_access_key = getenv("AWS_SECRET_ACCESS_KEY");
	cfg.force_path_style = 1;
	cfg.no_fsync = 1;
	store = objstore_open(url, &cfg, &err);
	if (store == NULL)
		die("cannot open the store", err.message);
	return store;
}

/* --raw KEY: stdin as it is */
static int
put_raw(const char *url, const char *key)
{
	char	   *data = NULL;
	size_t		len = 0,
				cap = 0,
				n;
	ObjStore   *store;
	ObjStoreError err;

	if (url == NULL)
		return die("--raw needs --store", NULL);
	for (;;)
	{
		if (len == cap)
		{
			char	   *more = realloc(data, cap = cap ? cap * 2 : 4096);

			if (more == NULL)
				return die("out of memory", NULL);
			data = more;
		}
		n = fread(data + len, 1, cap - len, stdin);
		if (n == 0)
			break;
		len += n;
	}
	store = open_store(url);
	if (store == NULL)
		return 1;
	memset(&err, 0, sizeof(err));
	if (objstore_put(store, key, data, len, OBJSTORE_PUT_PLAIN, NULL, NULL, &err) != OBJSTORE_OK)
		return die("put failed", err.message);
	objstore_close(store);
	free(data);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *store_url = NULL,
			   *out_file = NULL,
			   *raw_key = NULL;
	long long	key_seq = -1,
				version = -1,
				truncate_to = -1;
	int			corrupt = 0;
	char		collection[64] = "",
				writer[CLUSTER_ID_MAX + 1] = "";
	uint64_t	seq = 0;
	uint32_t	dims = 0,
				partitions = 100;
	ClusterSegmentWriter *w = NULL;
	char	   *line = malloc(LINE_MAX_LEN);
	float	   *vec = NULL;
	char		errbuf[CLUSTER_ERRLEN];
	unsigned char *bytes = NULL;
	size_t		len = 0;
	uint64_t	outbox_id = 1;
	int			i;
	struct timeval tv;

	gettimeofday(&tv, NULL);
	now_ms = (uint64_t) tv.tv_sec * 1000 + (uint64_t) tv.tv_usec / 1000;
	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--store") == 0 && i + 1 < argc)
			store_url = argv[++i];
		else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			out_file = argv[++i];
		else if (strcmp(argv[i], "--key-seq") == 0 && i + 1 < argc)
			key_seq = atoll(argv[++i]);
		else if (strcmp(argv[i], "--version") == 0 && i + 1 < argc)
			version = atoll(argv[++i]);
		else if (strcmp(argv[i], "--truncate") == 0 && i + 1 < argc)
			truncate_to = atoll(argv[++i]);
		else if (strcmp(argv[i], "--raw") == 0 && i + 1 < argc)
			raw_key = argv[++i];
		else if (strcmp(argv[i], "--corrupt") == 0)
			corrupt = 1;
		else
			return die("unknown argument", argv[i]);
	}
	if ((store_url == NULL) == (out_file == NULL))
		return die("give exactly one of --store URL and -o FILE", NULL);
	if (line == NULL)
		return die("out of memory", NULL);
	if (raw_key != NULL)
		return put_raw(store_url, raw_key);

	while (fgets(line, LINE_MAX_LEN, stdin) != NULL)
	{
		char	   *p = line,
				   *tok,
				   *rest;
		size_t		n = strlen(line);

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		tok = strtok_r(p, " \t", &rest);
		if (strcmp(tok, "collection") == 0 || strcmp(tok, "writer") == 0 ||
			strcmp(tok, "seq") == 0 || strcmp(tok, "dimensions") == 0 ||
			strcmp(tok, "partitions") == 0)
		{
			char	   *val = strtok_r(NULL, " \t", &rest);

			if (val == NULL)
				return die("a value is missing after", tok);
			if (w != NULL)
				return die("header lines must come before the rows", tok);
			if (tok[0] == 'c')
				snprintf(collection, sizeof(collection), "%s", val);
			else if (tok[0] == 'w')
				snprintf(writer, sizeof(writer), "%s", val);
			else if (tok[0] == 's')
				seq = strtoull(val, NULL, 10);
			else if (tok[0] == 'd')
				dims = (uint32_t) strtoul(val, NULL, 10);
			else
				partitions = (uint32_t) strtoul(val, NULL, 10);
			continue;
		}
		if (w == NULL)
		{
			w = cluster_segment_writer_new(collection, writer, seq, dims, partitions);
			if (w == NULL)
				return die("bad header (collection, writer, seq >= 1, dimensions, partitions)", NULL);
			vec = calloc(dims, sizeof(float));
			if (vec == NULL)
				return die("out of memory", NULL);
		}
		if (strcmp(tok, "random") == 0)
		{
			char	   *a = strtok_r(NULL, " \t", &rest),
					   *b = strtok_r(NULL, " \t", &rest),
					   *c = strtok_r(NULL, " \t", &rest);
			long long	count,
						first,
						k;
			uint64_t	state;

			if (a == NULL || b == NULL || c == NULL)
				return die("random needs N FIRST SEED", NULL);
			count = atoll(a);
			first = atoll(b);
			state = strtoull(c, NULL, 10);
			for (k = 0; k < count; k++)
			{
				ClusterSegmentRow row;
				char		pk[32],
							doc[64];
				uint32_t	d;

				for (d = 0; d < dims; d++)
					vec[d] = (float) ((rng_next(&state) >> 11) * (1.0 / 9007199254740992.0));
				snprintf(pk, sizeof(pk), "%lld", first + k);
				snprintf(doc, sizeof(doc), "{\"n\": %lld}", first + k);
				memset(&row, 0, sizeof(row));
				row.op = 'I';
				row.outbox_id = outbox_id++;
				row.hlc = cluster_hlc_make(now_ms, (uint32_t) (k & 0xffff));
				row.pk = pk;
				row.pk_len = (uint32_t) strlen(pk);
				row.vector = vec;
				row.doc = doc;
				row.doc_len = (uint32_t) strlen(doc);
				if (cluster_segment_writer_add(w, &row, errbuf, sizeof(errbuf)) != 0)
					return die("adding a row", errbuf);
			}
			continue;
		}
		if (strcmp(tok, "I") == 0 || strcmp(tok, "U") == 0 || strcmp(tok, "D") == 0)
		{
			ClusterSegmentRow row;
			char	   *pk = strtok_r(NULL, " \t", &rest);
			char	   *hlc = strtok_r(NULL, " \t", &rest);
			char	   *v = tok[0] == 'D' ? NULL : strtok_r(NULL, " \t", &rest);

			memset(&row, 0, sizeof(row));
			row.op = tok[0];
			row.outbox_id = outbox_id++;
			if (pk == NULL || hlc == NULL || (tok[0] != 'D' && v == NULL))
				return die("a row needs PK HLC and, unless a delete, a vector", NULL);
			if (!parse_hlc(hlc, &row.hlc))
				return die("bad HLC", hlc);
			row.pk = pk;
			row.pk_len = (uint32_t) strlen(pk);
			if (v != NULL)
			{
				if (!parse_vector(v, vec, dims))
					return die("bad vector (dimensions numbers, comma-separated)", v);
				row.vector = vec;
			}
			while (rest != NULL && (*rest == ' ' || *rest == '\t'))
				rest++;
			if (rest != NULL && *rest != '\0')
			{
				row.doc = rest;
				row.doc_len = (uint32_t) strlen(rest);
			}
			if (cluster_segment_writer_add(w, &row, errbuf, sizeof(errbuf)) != 0)
				return die("adding a row", errbuf);
			continue;
		}
		return die("unknown line", tok);
	}
	if (w == NULL)
		return die("no rows", NULL);
	if (cluster_segment_writer_finish(w, now_ms, &bytes, &len, errbuf, sizeof(errbuf)) != 0)
		return die("finishing the segment", errbuf);
	cluster_segment_writer_free(w);

	if (version >= 0)
	{
		uint32_t	v = (uint32_t) version;

		bytes[8] = (unsigned char) (v & 0xff);
		bytes[9] = (unsigned char) ((v >> 8) & 0xff);
		bytes[10] = (unsigned char) ((v >> 16) & 0xff);
		bytes[11] = (unsigned char) ((v >> 24) & 0xff);
	}
	if (corrupt)
		bytes[len - CLUSTER_SEGMENT_TRAILER_LEN - 1] ^= 0x5a;	/* the last row's last byte */
	if (truncate_to >= 0 && (size_t) truncate_to < len)
		len = (size_t) truncate_to;

	if (out_file != NULL)
	{
		FILE	   *f = fopen(out_file, "wb");

		if (f == NULL || fwrite(bytes, 1, len, f) != len || fclose(f) != 0)
			return die("cannot write", out_file);
	}
	else
	{
		ObjStoreError err;
		ObjStore   *store;
		char		key[512];

		memset(&err, 0, sizeof(err));
		if (cluster_segment_key(collection, writer, key_seq >= 0 ? (uint64_t) key_seq : seq,
								key, sizeof(key)) != 0)
			return die("bad segment key", NULL);
		store = open_store(store_url);
		if (store == NULL)
			return 1;
		if (objstore_put(store, key, bytes, len, OBJSTORE_PUT_PLAIN, NULL, NULL, &err) != OBJSTORE_OK)
			return die("put failed", err.message);
		objstore_close(store);
		printf("%s %zu\n", key, len);
	}
	free(bytes);
	free(vec);
	free(line);
	return 0;
}
