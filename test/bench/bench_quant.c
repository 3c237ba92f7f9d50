/*
 * bench_quant.c - how well 8-bit scalar quantization (SQ8) ranks a real data
 * set: brute-force recall@10 on Fashion-MNIST.
 *
 * For each query, every base vector is ranked by its SQ8 distance alone
 * (brainy_sq8_adc on its code), and the SQ8 top 20, 40 and 80 are re-ranked
 * with the exact float distance.  Ground truth is a brute-force scan with the
 * dispatched float kernel; a result counts as a hit when its float distance
 * is within the true 10th distance (so ties are not misses).  Quantizers are
 * trained on all base vectors or on a random sample, with and without the
 * default margin, and the table reports how many base elements fell outside
 * the trained range (clamped).  Run with `make bench-quant`.
 *
 * Usage: bench_quant [--fmnist DIR] [--queries Q]
 *   DIR/train-images-idx3-ubyte.gz: 60,000 base vectors
 *   DIR/t10k-images-idx3-ubyte.gz: the first Q (default 1000) are queries
 */
#define _POSIX_C_SOURCE 200809L	/* popen, clock_gettime under -std=c11 */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "distance.h"
#include "quant_sq8.h"
#include "test_rng.h"

#define K 10
#define MAX_RERANK 80

static const int rerank_sizes[] = {20, 40, 80};
#define N_RERANK 3

typedef struct Data
{
	float	   *v;
	int			n;
	int			dim;
} Data;

static void
die(const char *msg, const char *detail)
{
	fprintf(stderr, "bench_quant: %s%s%s\n", msg, detail ? ": " : "",
			detail ? detail : "");
	exit(1);
}

static void *
xmalloc(size_t n)
{
	void	   *p = malloc(n > 0 ? n : 1);

	if (p == NULL)
		die("out of memory", NULL);
	return p;
}

static double
now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

/* An IDX3 unsigned-byte file (gzip-compressed), at most max_n images. */
static Data
read_idx3_gz(const char *path, int max_n)
{
	unsigned char hdr[16];
	unsigned char *pix;
	char		cmd[4200];
	uint32_t	magic,
				count,
				rows,
				cols;
	FILE	   *f;
	Data		d;
	size_t		i,
				total;

	if (strchr(path, '\'') != NULL || strlen(path) > 4000)
		die("unusable path", path);
	snprintf(cmd, sizeof(cmd), "gzip -dc '%s'", path);
	f = popen(cmd, "r");
	if (f == NULL || fread(hdr, 1, 16, f) != 16)
		die("cannot read an IDX3 header from", path);
	magic = (uint32_t) hdr[0] << 24 | (uint32_t) hdr[1] << 16 | (uint32_t) hdr[2] << 8 | hdr[3];
	count = (uint32_t) hdr[4] << 24 | (uint32_t) hdr[5] << 16 | (uint32_t) hdr[6] << 8 | hdr[7];
	rows = (uint32_t) hdr[8] << 24 | (uint32_t) hdr[9] << 16 | (uint32_t) hdr[10] << 8 | hdr[11];
	cols = (uint32_t) hdr[12] << 24 | (uint32_t) hdr[13] << 16 | (uint32_t) hdr[14] << 8 | hdr[15];
	if (magic != 0x803 || rows == 0 || cols == 0 || rows * cols > BRAINY_SQ8_MAX_DIM)
		die("not an IDX3 unsigned-byte image file", path);
	d.n = (int) (count < (uint32_t) max_n ? count : (uint32_t) max_n);
	d.dim = (int) (rows * cols);
	total = (size_t) d.n * d.dim;
	pix = xmalloc(total);
	if (fread(pix, 1, total, f) != total)
		die("short read", path);
	pclose(f);
	d.v = xmalloc(sizeof(float) * total);
	for (i = 0; i < total; i++)
		d.v[i] = (float) pix[i];
	free(pix);
	return d;
}

static void
normalise(Data *d)
{
	int			i,
				j;

	for (i = 0; i < d->n; i++)
	{
		float	   *v = d->v + (size_t) i * d->dim;
		double		s = 0.0;

		for (j = 0; j < d->dim; j++)
			s += (double) v[j] * v[j];
		if (s > 0.0)
		{
			s = 1.0 / sqrt(s);
			for (j = 0; j < d->dim; j++)
				v[j] = (float) (v[j] * s);
		}
	}
}

/* The best m (smallest key) of a stream: sorted array with insertion. */
typedef struct TopM
{
	int			m;
	int			n;
	float		key[MAX_RERANK];
	int			id[MAX_RERANK];
} TopM;

static inline void
topm_push(TopM *t, float key, int id)
{
	int			i;

	if (t->n == t->m && key >= t->key[t->n - 1])
		return;
	i = t->n < t->m ? t->n++ : t->m - 1;
	while (i > 0 && t->key[i - 1] > key)
	{
		t->key[i] = t->key[i - 1];
		t->id[i] = t->id[i - 1];
		i--;
	}
	t->key[i] = key;
	t->id[i] = id;
}

typedef enum Metric
{
	M_L2, M_COSINE
} Metric;

/* internal float distance, smaller is nearer */
static inline float
float_distance(const BrainyKernels *k, Metric m, const float *a, const float *b,
			   int dim)
{
	if (m == M_L2)
		return k->l2_squared(a, b, dim);
	return 1.0f - k->inner_product(a, b, dim);
}

/* Ground truth: the true 10th distance of every query, and the scan time. */
static float *
ground_truth(const Data *base, const Data *queries, Metric m, double *ns_per)
{
	const BrainyKernels *k = brainy_kernels();
	float	   *kth = xmalloc(sizeof(float) * (size_t) queries->n);
	double		t0 = now_sec();
	TopM		top;
	int			q,
				i;

	for (q = 0; q < queries->n; q++)
	{
		const float *qv = queries->v + (size_t) q * queries->dim;

		top.m = K;
		top.n = 0;
		for (i = 0; i < base->n; i++)
			topm_push(&top, float_distance(k, m, qv, base->v + (size_t) i * base->dim,
										   base->dim), i);
		kth[q] = top.key[K - 1];
	}
	*ns_per = (now_sec() - t0) * 1e9 / ((double) queries->n * base->n);
	return kth;
}

/* One quantizer: train, encode, then SQ8-only and re-ranked recall@10. */
static void
run_case(const Data *base, const Data *queries, const float *kth, Metric m,
		 int sample_n, double margin, int use_norm)
{
	const BrainyKernels *k = brainy_kernels();
	const int	dim = base->dim;
	BrainySq8  *q = xmalloc(brainy_sq8_size(dim));
	uint8_t    *codes = xmalloc((size_t) base->n * dim);
	float	   *norms = xmalloc(sizeof(float) * (size_t) base->n);
	float	   *buf = xmalloc(sizeof(float) * 2 * (size_t) dim);
	BrainySq8Error err;
	long		clamped = 0;
	long		hits_sq8 = 0;
	long		hits_rerank[N_RERANK] = {0, 0, 0};
	double		scan_sec = 0.0;
	char		trained_on[64];
	int			i,
				r,
				qi;

	/* a random sample (partial Fisher-Yates), streamed into the trainer */
	if (brainy_sq8_train_begin(q, dim, &err) != BRAINY_SQ8_OK)
		die("train_begin", err.message);
	if (sample_n >= base->n)
	{
		for (i = 0; i < base->n; i++)
			if (brainy_sq8_train_add(q, base->v + (size_t) i * dim, &err) != BRAINY_SQ8_OK)
				die("train_add", err.message);
		snprintf(trained_on, sizeof(trained_on), "all %d", base->n);
	}
	else
	{
		int		   *perm = xmalloc(sizeof(int) * (size_t) base->n);

		rng_seed(0xC0FFEEull + (uint64_t) sample_n);
		for (i = 0; i < base->n; i++)
			perm[i] = i;
		for (i = 0; i < sample_n; i++)
		{
			int			j = i + (int) (rand_unit() * (base->n - i));
			int			t = perm[i];

			perm[i] = perm[j];
			perm[j] = t;
			if (brainy_sq8_train_add(q, base->v + (size_t) perm[i] * dim, &err) !=
				BRAINY_SQ8_OK)
				die("train_add", err.message);
		}
		free(perm);
		snprintf(trained_on, sizeof(trained_on), "random %d", sample_n);
	}
	if (brainy_sq8_train_end(q, margin, &err) != BRAINY_SQ8_OK)
		die("train_end", err.message);

	for (i = 0; i < base->n; i++)
	{
		clamped += brainy_sq8_encode(q, base->v + (size_t) i * dim,
									 codes + (size_t) i * dim);
		norms[i] = brainy_sq8_code_norm(q, codes + (size_t) i * dim);
	}

	for (qi = 0; qi < queries->n; qi++)
	{
		const float *qv = queries->v + (size_t) qi * dim;
		BrainySq8Query qq;
		TopM		cand;
		float		bound = kth[qi] + 1e-6f * fabsf(kth[qi]);
		double		t0;

		if (brainy_sq8_query_init(&qq, q, k, m == M_L2 ? BRAINY_SQ8_L2 : BRAINY_SQ8_IP,
								  qv, buf, &err) != BRAINY_SQ8_OK)
			die("query_init", err.message);
		cand.m = MAX_RERANK;
		cand.n = 0;
		t0 = now_sec();
		for (i = 0; i < base->n; i++)
		{
			const uint8_t *c = codes + (size_t) i * dim;
			float		d;

			if (m == M_COSINE)
				d = -brainy_sq8_adc(&qq, c);
			else if (use_norm)
				d = brainy_sq8_adc_norm(&qq, c, norms[i]);
			else
				d = brainy_sq8_adc(&qq, c);
			topm_push(&cand, d, i);
		}
		scan_sec += now_sec() - t0;

		for (i = 0; i < K; i++)
		{
			if (float_distance(k, m, qv, base->v + (size_t) cand.id[i] * dim, dim) <= bound)
				hits_sq8++;
		}
		for (r = 0; r < N_RERANK; r++)
		{
			TopM		best;

			best.m = K;
			best.n = 0;
			for (i = 0; i < rerank_sizes[r] && i < cand.n; i++)
				topm_push(&best, float_distance(k, m, qv,
												base->v + (size_t) cand.id[i] * dim, dim),
						  cand.id[i]);
			for (i = 0; i < best.n; i++)
			{
				if (best.key[i] <= bound)
					hits_rerank[r]++;
			}
		}
	}

	printf("| %s | %s | %g%% | %.4f%% | %.4f |", m == M_L2 ? "l2" : "cosine",
		   trained_on, margin * 100.0,
		   100.0 * (double) clamped / ((double) base->n * dim),
		   (double) hits_sq8 / ((double) queries->n * K));
	for (r = 0; r < N_RERANK; r++)
		printf(" %.4f |", (double) hits_rerank[r] / ((double) queries->n * K));
	printf(" %s %.1f |\n", m == M_COSINE ? "adc" : use_norm ? "adc_norm" : "adc",
		   scan_sec * 1e9 / ((double) queries->n * base->n));
	fflush(stdout);
	free(q);
	free(codes);
	free(norms);
	free(buf);
}

int
main(int argc, char **argv)
{
	const char *dir = "/usr/share/datasets/fashion-mnist";
	int			nq = 1000;
	char		path[4096];
	Data		base,
				queries;
	int			a,
				mi;

	for (a = 1; a < argc; a++)
	{
		if (strcmp(argv[a], "--fmnist") == 0 && a + 1 < argc)
			dir = argv[++a];
		else if (strcmp(argv[a], "--queries") == 0 && a + 1 < argc)
			nq = atoi(argv[++a]);
		else
		{
			fprintf(stderr, "usage: %s [--fmnist DIR] [--queries Q]\n", argv[0]);
			return 2;
		}
	}
	if (nq < 1)
		die("--queries must be >= 1", NULL);
	snprintf(path, sizeof(path), "%s/train-images-idx3-ubyte.gz", dir);
	base = read_idx3_gz(path, 1 << 30);
	snprintf(path, sizeof(path), "%s/t10k-images-idx3-ubyte.gz", dir);
	queries = read_idx3_gz(path, nq);
	if (queries.dim != base.dim)
		die("base and queries differ in dimension", NULL);

	printf("Fashion-MNIST: %d base vectors x %d dims, %d queries; kernels: %s\n"
		   "base as floats %.1f MB, as SQ8 codes %.1f MB (+ %.2f MB of code norms)\n\n",
		   base.n, base.dim, queries.n, brainy_kernels()->name,
		   (double) base.n * base.dim * 4 / 1e6, (double) base.n * base.dim / 1e6,
		   (double) base.n * 4 / 1e6);

	for (mi = 0; mi < 2; mi++)
	{
		Metric		m = (Metric) mi;
		double		float_ns;
		float	   *kth;

		if (m == M_COSINE)
		{
			normalise(&base);
			normalise(&queries);
		}
		kth = ground_truth(&base, &queries, m, &float_ns);
		printf("%s: exact brute force %.1f ns per float distance\n\n",
			   m == M_L2 ? "L2" : "cosine (unit vectors, SQ8 inner product)", float_ns);
		printf("| metric | trained on | margin | base elements clamped | recall@10 SQ8 only "
			   "| re-rank top-20 | re-rank top-40 | re-rank top-80 | ns per SQ8 distance |\n"
			   "|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
		if (m == M_L2)
		{
			run_case(&base, &queries, kth, m, base.n, 0.0, 0);
			run_case(&base, &queries, kth, m, base.n, BRAINY_SQ8_DEFAULT_MARGIN, 0);
			run_case(&base, &queries, kth, m, base.n, BRAINY_SQ8_DEFAULT_MARGIN, 1);
			run_case(&base, &queries, kth, m, 10000, BRAINY_SQ8_DEFAULT_MARGIN, 0);
			run_case(&base, &queries, kth, m, 1000, BRAINY_SQ8_DEFAULT_MARGIN, 0);
			run_case(&base, &queries, kth, m, 1000, 0.0, 0);
		}
		else
		{
			run_case(&base, &queries, kth, m, base.n, BRAINY_SQ8_DEFAULT_MARGIN, 0);
			run_case(&base, &queries, kth, m, 10000, BRAINY_SQ8_DEFAULT_MARGIN, 0);
			run_case(&base, &queries, kth, m, 1000, BRAINY_SQ8_DEFAULT_MARGIN, 0);
		}
		printf("\n");
		free(kth);
	}
	free(base.v);
	free(queries.v);
	return 0;
}
