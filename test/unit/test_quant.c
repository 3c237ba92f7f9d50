/*
 * test_quant.c - unit test of 8-bit scalar quantization (src/vector/
 * quant_sq8.* and the sq8_* kernels of src/vector/distance*).
 *
 * Every SIMD table's SQ8 kernels are checked against the scalar ones on
 * random data (odd lengths, aligned and unaligned pointers) and exactly on
 * small integers (every tail length); the quantizer's training, encoding and
 * decoding against the error bounds documented in quant_sq8.h (constant
 * dimensions, out-of-range and extreme values included); the serialised form
 * against truncated and garbled blobs; and ranking quality: the top 10 by
 * exact distance re-ranked from the top 40 by SQ8 distance must recover at
 * least 0.99 of the exact top 10.  Prints "ok - ..." / "not ok - ..." per
 * check, then "N passed, N failed"; exits non-zero on any failure.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "distance.h"
#include "quant_sq8.h"
#include "test_rng.h"
#include "test_report.h"


static const int lengths[] = {0, 1, 3, 7, 15, 17, 31, 784, 1536, 16000};
#define N_LENGTHS ((int) (sizeof(lengths) / sizeof(lengths[0])))


static void *
xmalloc(size_t n)
{
	void	   *p = malloc(n > 0 ? n : 1);

	if (p == NULL)
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}

static float
rand_range(double lo, double hi)
{
	return (float) (lo + (hi - lo) * rand_unit());
}

static double
rand_normal(void)
{
	double		u = rand_unit();
	double		v = rand_unit();

	return sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * M_PI * v);
}

static BrainySq8 *
new_quantizer(int dim)
{
	return xmalloc(brainy_sq8_size(dim));
}

/*
 * Rounding of a float sum of n terms of total magnitude mag (sum of |term|),
 * each term itself a few roundings away from exact: a worst-case bound.
 */
static double
float_tol(double mag, int n)
{
	return 2.0 * ((double) n + 4.0) * FLT_EPSILON * mag;
}

/* ------------------------------------------------------- kernel tables */

static void
test_tables(void)
{
	const BrainyKernels *const *all = brainy_kernels_all();
	int			i;

	for (i = 0; all[i] != NULL; i++)
	{
		const BrainyKernels *k = all[i];
		char		desc[120];

		snprintf(desc, sizeof(desc), "%s table has every SQ8 kernel", k->name);
		report(k->sq8_l2_squared != NULL && k->sq8_dot != NULL &&
			   k->sq8_l1 != NULL && k->sq8_codes_l2_squared != NULL &&
			   k->sq8_codes_inner_product != NULL && k->sq8_codes_l1 != NULL &&
			   k->l2_squared != NULL && k->inner_product != NULL &&
			   k->l1 != NULL && k->cosine_parts != NULL, desc, "");
	}
}

/* The six SQ8 kernels' values and their magnitudes (sum of |terms|). */
typedef struct Sq8Values
{
	float		v[6];
	double		mag[6];
} Sq8Values;

static const char *const sq8_names[6] = {
	"sq8_l2_squared", "sq8_dot", "sq8_l1",
	"sq8_codes_l2_squared", "sq8_codes_inner_product", "sq8_codes_l1"
};

static void
run_sq8_kernels(const BrainyKernels *k, const float *qlo, const float *w,
				const float *lo, const float *step, const uint8_t *a,
				const uint8_t *b, int n, Sq8Values *out)
{
	out->v[0] = k->sq8_l2_squared(qlo, step, a, n);
	out->v[1] = k->sq8_dot(w, a, n);
	out->v[2] = k->sq8_l1(qlo, step, a, n);
	out->v[3] = k->sq8_codes_l2_squared(step, a, b, n);
	out->v[4] = k->sq8_codes_inner_product(lo, step, a, b, n);
	out->v[5] = k->sq8_codes_l1(step, a, b, n);
}

static void
sq8_magnitudes(const float *qlo, const float *w, const float *lo,
			   const float *step, const uint8_t *a, const uint8_t *b, int n,
			   Sq8Values *out)
{
	int			i,
				j;

	for (j = 0; j < 6; j++)
		out->mag[j] = 0.0;
	for (i = 0; i < n; i++)
	{
		double		d = (double) qlo[i] - (double) step[i] * a[i];
		double		cd = (double) step[i] * ((double) a[i] - b[i]);
		double		x = fabs((double) lo[i]) + fabs((double) step[i]) * a[i];
		double		y = fabs((double) lo[i]) + fabs((double) step[i]) * b[i];

		/* terms plus the intermediates they are computed from */
		out->mag[0] += d * d + fabs(d) * (fabs((double) qlo[i]) + step[i] * a[i]);
		out->mag[1] += fabs((double) w[i]) * a[i];
		out->mag[2] += fabs((double) qlo[i]) + step[i] * a[i];
		out->mag[3] += cd * cd;
		out->mag[4] += x * y;
		out->mag[5] += fabs(cd);
	}
}

/* k vs scalar on one data set. */
static void
compare_sq8(const BrainyKernels *k, const float *qlo, const float *w,
			const float *lo, const float *step, const uint8_t *a,
			const uint8_t *b, int n, const char *what)
{
	Sq8Values	got,
				ref;
	int			j;

	run_sq8_kernels(k, qlo, w, lo, step, a, b, n, &got);
	run_sq8_kernels(&brainy_kernels_scalar, qlo, w, lo, step, a, b, n, &ref);
	sq8_magnitudes(qlo, w, lo, step, a, b, n, &ref);
	for (j = 0; j < 6; j++)
	{
		char		desc[200];
		char		details[200];
		double		diff = fabs((double) got.v[j] - (double) ref.v[j]);

		snprintf(desc, sizeof(desc), "%s %s n=%d %s", k->name, sq8_names[j],
				 n, what);
		snprintf(details, sizeof(details),
				 "(got %.9g, scalar %.9g, diff %.3g, tolerance %.3g)",
				 got.v[j], ref.v[j], diff, float_tol(ref.mag[j], n));
		report(!isnan(got.v[j]) && diff <= float_tol(ref.mag[j], n),
			   desc, details);
	}
}

/*
 * Random data of every length; codes at offsets 0 (malloc-aligned), 1 and 3,
 * floats at offsets 0 and 1.  Each array is allocated with exactly its
 * offset + n elements, so an overread runs into ASan's redzone.
 */
static void
test_kernels_random(const BrainyKernels *k)
{
	static const int code_offsets[] = {0, 1, 3};
	int			li,
				oi;

	for (li = 0; li < N_LENGTHS; li++)
	{
		for (oi = 0; oi < 3; oi++)
		{
			int			n = lengths[li];
			int			co = code_offsets[oi];
			int			fo = co == 0 ? 0 : 1;
			float	   *qlo = xmalloc(sizeof(float) * (size_t) (n + fo));
			float	   *w = xmalloc(sizeof(float) * (size_t) (n + fo));
			float	   *lo = xmalloc(sizeof(float) * (size_t) (n + fo));
			float	   *step = xmalloc(sizeof(float) * (size_t) (n + fo));
			uint8_t    *a = xmalloc((size_t) (n + co));
			uint8_t    *b = xmalloc((size_t) (n + co));
			char		what[80];
			int			i;

			for (i = 0; i < n; i++)
			{
				float		q = rand_range(-2.0, 2.0);

				lo[fo + i] = rand_range(-1.5, -0.5);
				step[fo + i] = rand_range(0.001, 0.02);
				qlo[fo + i] = q - lo[fo + i];
				w[fo + i] = q * step[fo + i];
				a[co + i] = (uint8_t) (rand_unit() * 256.0);
				b[co + i] = (uint8_t) (rand_unit() * 256.0);
			}
			snprintf(what, sizeof(what), "random, codes %s (offset %d)",
					 co == 0 ? "aligned" : "unaligned", co);
			compare_sq8(k, qlo + fo, w + fo, lo + fo, step + fo, a + co, b + co,
						n, what);
			free(qlo);
			free(w);
			free(lo);
			free(step);
			free(a);
			free(b);
		}
	}
}

/*
 * Small integers and steps 0.5, 1, 2 make every term and partial sum exact
 * in float, whatever the order, so each kernel must return exactly the true
 * sum.  n = 0..200 covers every tail of every unrolled loop, at code offsets
 * 0..3.
 */
static void
test_kernels_exact(const BrainyKernels *k)
{
	const int	max_n = 200;
	const int	max_off = 3;
	float	   *qlo = xmalloc(sizeof(float) * (size_t) max_n);
	float	   *w = xmalloc(sizeof(float) * (size_t) max_n);
	float	   *lo = xmalloc(sizeof(float) * (size_t) max_n);
	float	   *step = xmalloc(sizeof(float) * (size_t) max_n);
	uint8_t    *ca = xmalloc((size_t) (max_n + max_off));
	uint8_t    *cb = xmalloc((size_t) (max_n + max_off));
	char		desc[160];
	char		details[300] = "";
	int			bad = 0;
	int			off,
				n,
				i,
				j;

	for (i = 0; i < max_n; i++)
	{
		static const float steps[3] = {0.5f, 1.0f, 2.0f};

		qlo[i] = (float) ((i * 7 + 3) % 17 - 8);	/* -8..8 */
		w[i] = (float) ((i * 5 + 1) % 9 - 4);	/* -4..4 */
		lo[i] = (float) ((i * 3 + 2) % 9 - 4);	/* -4..4 */
		step[i] = steps[(i * 11) % 3];
	}
	for (i = 0; i < max_n + max_off; i++)
	{
		ca[i] = (uint8_t) ((i * 13 + 5) % 16);
		cb[i] = (uint8_t) ((i * 7 + 9) % 16);
	}
	for (off = 0; off <= max_off && !bad; off++)
	{
		for (n = 0; n <= max_n && !bad; n++)
		{
			const uint8_t *a = ca + off;
			const uint8_t *b = cb + (max_off - off);
			double		want[6] = {0, 0, 0, 0, 0, 0};
			Sq8Values	got;

			for (i = 0; i < n; i++)
			{
				double		d = (double) qlo[i] - (double) step[i] * a[i];
				double		cd = (double) step[i] * ((double) a[i] - b[i]);

				want[0] += d * d;
				want[1] += (double) w[i] * a[i];
				want[2] += fabs(d);
				want[3] += cd * cd;
				want[4] += ((double) lo[i] + (double) step[i] * a[i]) *
					((double) lo[i] + (double) step[i] * b[i]);
				want[5] += fabs(cd);
			}
			run_sq8_kernels(k, qlo, w, lo, step, a, b, n, &got);
			for (j = 0; j < 6 && !bad; j++)
			{
				if (got.v[j] != (float) want[j])
				{
					bad = 1;
					snprintf(details, sizeof(details),
							 "(first mismatch: %s n=%d offset=%d: got %.9g, want %.9g)",
							 sq8_names[j], n, off, got.v[j], want[j]);
				}
			}
		}
	}
	snprintf(desc, sizeof(desc),
			 "%s SQ8 kernels exact on integer data, n=0..%d, code offsets 0..%d",
			 k->name, max_n, max_off);
	report(!bad, desc, details);
	free(qlo);
	free(w);
	free(lo);
	free(step);
	free(ca);
	free(cb);
}

/* ------------------------------------------------------------ quantizer */

/* |x - decode| allowed for an in-range element: step / 2 plus roundings. */
static double
roundtrip_tol(float x, float step)
{
	return 0.5 * (double) step * (1.0 + 1e-6) + 2.0 * FLT_EPSILON * fabs((double) x);
}

/*
 * n vectors of dim: dimension i uniform in [c_i - r_i, c_i + r_i] with
 * offsets and scales that differ per dimension.
 */
static float *
varied_vectors(int n, int dim, uint64_t seed)
{
	float	   *v = xmalloc(sizeof(float) * (size_t) n * (size_t) dim);
	int			i,
				j;

	rng_seed(seed);
	for (i = 0; i < n; i++)
	{
		for (j = 0; j < dim; j++)
		{
			double		c = (double) ((j * 37) % 11 - 5);
			double		r = pow(10.0, (double) ((j * 13) % 5 - 2));	/* 0.01..100 */

			v[(size_t) i * dim + j] = (float) (c + r * (2.0 * rand_unit() - 1.0));
		}
	}
	return v;
}

static void
test_train_and_roundtrip(void)
{
	const int	dim = 37;
	const int	n = 500;
	float	   *sample = varied_vectors(n, dim, 11);
	BrainySq8  *q = new_quantizer(dim);
	BrainySq8Error err;
	uint8_t    *code = xmalloc(dim);
	float	   *dec = xmalloc(sizeof(float) * dim);
	char		details[300] = "";
	int			rc,
				ok,
				i,
				j,
				clamped = 0;
	double		worst = 0.0;

	rc = brainy_sq8_train(q, dim, sample, n, BRAINY_SQ8_DEFAULT_MARGIN, &err);
	report(rc == BRAINY_SQ8_OK && err.code == BRAINY_SQ8_OK &&
		   err.message[0] == '\0' && q->dim == dim && !q->training &&
		   q->n_trained == (uint64_t) n,
		   "train: 500 x 37 with the default margin", err.message);

	/* the range covers [min, max] widened by the margin, no more */
	ok = 1;
	for (j = 0; j < dim && ok; j++)
	{
		float		mn = INFINITY,
					mx = -INFINITY;
		double		lo = brainy_sq8_lo(q)[j];
		double		step = brainy_sq8_step(q)[j];
		double		r,
					want_step;

		for (i = 0; i < n; i++)
		{
			mn = fminf(mn, sample[(size_t) i * dim + j]);
			mx = fmaxf(mx, sample[(size_t) i * dim + j]);
		}
		r = (double) mx - mn;
		want_step = r * (1.0 + 2.0 * BRAINY_SQ8_DEFAULT_MARGIN) / 255.0;
		if (!(step > 0.0) || lo > (double) mn - BRAINY_SQ8_DEFAULT_MARGIN * r * 0.999 ||
			lo + 255.0 * step < (double) mx + BRAINY_SQ8_DEFAULT_MARGIN * r * 0.999 ||
			fabs(step - want_step) > 1e-6 * want_step +
			4.0 * FLT_EPSILON * (fabs(lo) + fabs((double) mx)) / 255.0)
		{
			ok = 0;
			snprintf(details, sizeof(details),
					 "(dim %d: min %g max %g, lo %.9g step %.9g, want step %.9g)",
					 j, mn, mx, lo, step, want_step);
		}
	}
	report(ok, "train: lo = min - 1% range, step = 1.02 range / 255 per dimension",
		   details);

	/* every training vector: in range, round trip within step / 2 */
	ok = 1;
	for (i = 0; i < n; i++)
	{
		const float *x = sample + (size_t) i * dim;

		clamped += brainy_sq8_encode(q, x, code);
		brainy_sq8_decode(q, code, dec);
		for (j = 0; j < dim; j++)
		{
			double		e = fabs((double) x[j] - dec[j]);
			double		step = brainy_sq8_step(q)[j];

			worst = fmax(worst, e / (0.5 * step));
			if (e > roundtrip_tol(x[j], (float) step) ||
				dec[j] != (float) ((double) brainy_sq8_lo(q)[j] + step * code[j]))
			{
				if (ok)
					snprintf(details, sizeof(details),
							 "(vector %d dim %d: x %.9g decoded %.9g, step %.9g)",
							 i, j, x[j], dec[j], step);
				ok = 0;
			}
		}
	}
	snprintf(details + strlen(details), sizeof(details) - strlen(details),
			 " (%d clamped)", clamped);
	{
		char		desc[160];

		snprintf(desc, sizeof(desc),
				 "round trip: |x - decode(encode(x))| <= step/2 on the training set "
				 "(worst %.4f step/2), none clamped", worst);
		report(ok && clamped == 0, desc, details);
	}

	/* fresh vectors of the same distribution: in range thanks to the margin */
	{
		float	   *fresh = varied_vectors(200, dim, 12);

		ok = 1;
		clamped = 0;
		for (i = 0; i < 200; i++)
		{
			const float *x = fresh + (size_t) i * dim;

			clamped += brainy_sq8_encode(q, x, code);
			brainy_sq8_decode(q, code, dec);
			for (j = 0; j < dim; j++)
			{
				if (fabs((double) x[j] - dec[j]) > roundtrip_tol(x[j], brainy_sq8_step(q)[j]))
					ok = 0;
			}
		}
		report(ok && clamped == 0,
			   "round trip: fresh vectors of the same distribution within step/2",
			   "");
		free(fresh);
	}

	/* streaming training gives the same quantizer */
	{
		BrainySq8  *q2 = new_quantizer(dim);

		rc = brainy_sq8_train_begin(q2, dim, &err);
		for (i = 0; i < n && rc == BRAINY_SQ8_OK; i++)
			rc = brainy_sq8_train_add(q2, sample + (size_t) i * dim, &err);
		if (rc == BRAINY_SQ8_OK)
			rc = brainy_sq8_train_end(q2, BRAINY_SQ8_DEFAULT_MARGIN, &err);
		report(rc == BRAINY_SQ8_OK &&
			   memcmp(q, q2, brainy_sq8_size(dim)) == 0,
			   "train: begin/add/end gives the same quantizer as train()",
			   err.message);
		free(q2);
	}

	/* margin 0 on integer data 0..255: step 1, lo 0, lossless */
	{
		float		v[2 * 3] = {0, 255, 0, 255, 0, 255};
		float		x[3] = {37, 200, 17};
		uint8_t		c[3];
		float		d[3];

		rc = brainy_sq8_train(q, 3, v, 2, 0.0, &err);
		brainy_sq8_encode(q, x, c);
		brainy_sq8_decode(q, c, d);
		report(rc == BRAINY_SQ8_OK && brainy_sq8_lo(q)[0] == 0.0f &&
			   brainy_sq8_step(q)[0] == 1.0f && d[0] == 37.0f &&
			   brainy_sq8_step(q)[1] == 1.0f && d[1] == 200.0f && d[2] == 17.0f &&
			   c[0] == 37 && c[1] == 200,
			   "train: margin 0 on pixels 0..255 is lossless (step 1)", "");
	}

	free(sample);
	free(q);
	free(code);
	free(dec);
}

static void
test_constant_dimensions(void)
{
	enum
	{
		DIM = 6, N = 10
	};
	float		sample[N * DIM];
	BrainySq8  *q = new_quantizer(DIM);
	BrainySq8Error err;
	uint8_t		code[DIM];
	float		dec[DIM];
	char		details[300] = "";
	int			rc,
				ok,
				i,
				j;
	const float consts[5] = {5.0f, 0.0f, -1e30f, FLT_MAX, -FLT_MAX};

	/* dims 0..4 constant, dim 5 in [-1, 1] */
	for (i = 0; i < N; i++)
	{
		for (j = 0; j < 5; j++)
			sample[i * DIM + j] = consts[j];
		sample[i * DIM + 5] = (float) (2.0 * i / (N - 1) - 1.0);
	}
	rc = brainy_sq8_train(q, DIM, sample, N, BRAINY_SQ8_DEFAULT_MARGIN, &err);
	ok = rc == BRAINY_SQ8_OK;
	for (j = 0; j < DIM && ok; j++)
	{
		double		lo = brainy_sq8_lo(q)[j];
		double		step = brainy_sq8_step(q)[j];

		if (!isfinite(lo) || !isfinite(step) || !(step > 0.0) ||
			lo + 255.0 * step > FLT_MAX)
		{
			ok = 0;
			snprintf(details, sizeof(details), "(dim %d: lo %g step %g)", j, lo, step);
		}
	}
	report(ok, "constant dimensions: every step finite and > 0, top code <= FLT_MAX",
		   details);

	/* the constant value encodes in range and decodes to itself */
	ok = 1;
	memcpy(dec, sample, sizeof(dec));
	rc = brainy_sq8_encode(q, sample, code);
	brainy_sq8_decode(q, code, dec);
	for (j = 0; j < 5; j++)
	{
		if (fabs((double) dec[j] - consts[j]) > 4.0 * FLT_EPSILON * fabs((double) consts[j]) +
			0.5 * brainy_sq8_step(q)[j])
		{
			ok = 0;
			snprintf(details, sizeof(details), "(dim %d: %g decodes to %g, code %d)",
					 j, consts[j], dec[j], code[j]);
		}
	}
	report(ok && rc == 0 && code[0] == 128 && code[1] == 128 && dec[1] == 0.0f &&
		   fabs(dec[0] - 5.0) <= 4.0 * FLT_EPSILON * 5.0,
		   "constant dimensions: the constant is code 128 and decodes to itself",
		   details);

	/* a constant dimension still resolves values near it (the data's scale) */
	{
		float		x[DIM];
		int			c;

		memcpy(x, sample, sizeof(x));
		x[0] = 5.5f;			/* other dims' step: 2.04 / 255 */
		x[1] = -0.75f;
		c = brainy_sq8_encode(q, x, code);
		brainy_sq8_decode(q, code, dec);
		report(c == 0 && fabs(dec[0] - 5.5) <= roundtrip_tol(5.5f, brainy_sq8_step(q)[0]) &&
			   fabs(dec[1] + 0.75) <= roundtrip_tol(0.75f, brainy_sq8_step(q)[1]) &&
			   fabs(brainy_sq8_step(q)[0] / brainy_sq8_step(q)[5] - 1.0) < 1e-6 &&
			   fabs(brainy_sq8_step(q)[1] / brainy_sq8_step(q)[5] - 1.0) < 1e-6,
			   "constant dimensions: step of the widest other dimension, values "
			   "near the constant within step/2", "");
	}

	/* one training vector: every dimension constant */
	{
		float		one[3] = {0.0f, 3.0f, -127.0f};
		float		zero[3] = {0.0f, 0.0f, 0.0f};

		rc = brainy_sq8_train(q, 3, one, 1, BRAINY_SQ8_DEFAULT_MARGIN, &err);
		brainy_sq8_encode(q, one, code);
		brainy_sq8_decode(q, code, dec);
		report(rc == BRAINY_SQ8_OK && brainy_sq8_step(q)[0] == 1.0f &&
			   brainy_sq8_step(q)[2] == 1.0f && dec[0] == 0.0f &&
			   dec[1] == 3.0f && dec[2] == -127.0f,
			   "constant dimensions: a single vector (all constant) trains with "
			   "step max|v|/127 and round-trips", err.message);

		rc = brainy_sq8_train(q, 3, zero, 1, 0.0, &err);
		brainy_sq8_encode(q, zero, code);
		brainy_sq8_decode(q, code, dec);
		report(rc == BRAINY_SQ8_OK && brainy_sq8_step(q)[0] == 1.0f / 128.0f &&
			   brainy_sq8_lo(q)[0] == -1.0f && dec[0] == 0.0f && code[0] == 128,
			   "constant dimensions: an all-zero sample gets range [-1, 1)",
			   err.message);
	}

	/* a range too narrow for a normal float step counts as constant */
	{
		float		tiny[2] = {0.0f, 1e-40f};

		rc = brainy_sq8_train(q, 1, tiny, 2, 0.0, &err);
		report(rc == BRAINY_SQ8_OK && brainy_sq8_step(q)[0] >= FLT_MIN,
			   "constant dimensions: a range below 255 * FLT_MIN gets a normal step",
			   err.message);
	}
	free(q);
}

static void
test_out_of_range(void)
{
	enum
	{
		DIM = 8
	};
	float		sample[2 * DIM];
	BrainySq8  *q = new_quantizer(DIM);
	BrainySq8Error err;
	uint8_t		code[DIM];
	float		dec[DIM];
	float		x[DIM];
	int			rc,
				c,
				j;
	float		step;

	for (j = 0; j < DIM; j++)
	{
		sample[j] = 0.0f;
		sample[DIM + j] = 1.0f;
	}
	rc = brainy_sq8_train(q, DIM, sample, 2, 0.0, &err);
	step = brainy_sq8_step(q)[0];
	x[0] = 2.0f;				/* above: 255, error 1 */
	x[1] = -3.0f;				/* below: 0, error 3 */
	x[2] = NAN;					/* 0 */
	x[3] = INFINITY;			/* 255 */
	x[4] = -INFINITY;			/* 0 */
	x[5] = 1.0f;				/* the maximum: 255, in range */
	x[6] = -0.4f * step;		/* within half a step below lo: 0, in range */
	x[7] = 1.0f + 0.6f * step;	/* beyond half a step above: clamped */
	c = brainy_sq8_encode(q, x, code);
	brainy_sq8_decode(q, code, dec);
	report(rc == BRAINY_SQ8_OK && c == 6 &&
		   code[0] == 255 && code[1] == 0 && code[2] == 0 && code[3] == 255 &&
		   code[4] == 0 && code[5] == 255 && code[6] == 0 && code[7] == 255,
		   "out of range: values beyond the range clamp to 0/255 and are counted "
		   "(NaN -> 0, +-inf clamp; half a step of slack)", "");
	report(fabs(dec[0] - 1.0) <= 2.0 * FLT_EPSILON && dec[1] == 0.0f &&
		   dec[5] == dec[0] && fabs(fabs((double) x[0] - dec[0]) - 1.0) <= 2.0 * FLT_EPSILON &&
		   fabs((double) x[1] - dec[1]) == 3.0,
		   "out of range: the error of a clamped value is its distance to the range",
		   "");

	/* extreme magnitudes train, encode and serialise */
	{
		float		big[2 * 3] = {-FLT_MAX, 3e38f, -1e-38f, FLT_MAX, -3e38f, 1e-38f};
		float		y[3] = {FLT_MAX, -3e38f, 0.0f};
		unsigned char blob[8 + 8 * 3];
		BrainySq8  *q2 = new_quantizer(3);
		int			ok = 1;

		rc = brainy_sq8_train(q, 3, big, 2, BRAINY_SQ8_DEFAULT_MARGIN, &err);
		for (j = 0; j < 3; j++)
		{
			double		lo = brainy_sq8_lo(q)[j];
			double		s = brainy_sq8_step(q)[j];

			if (!isfinite(lo) || !(s > 0.0) || !isfinite(s) || lo + 255.0 * s > FLT_MAX)
				ok = 0;
		}
		c = brainy_sq8_encode(q, y, code);
		brainy_sq8_decode(q, code, dec);
		for (j = 0; j < 3; j++)
		{
			if (!isfinite(dec[j]))
				ok = 0;
		}
		brainy_sq8_serialize(q, blob);
		report(rc == BRAINY_SQ8_OK && ok && c == 0 && dec[0] == FLT_MAX &&
			   fabs(dec[1] + 3e38) <= roundtrip_tol(-3e38f, brainy_sq8_step(q)[1]) &&
			   brainy_sq8_deserialize(blob, sizeof(blob), q2, brainy_sq8_size(3),
									  &err) == BRAINY_SQ8_OK,
			   "extreme values: +-FLT_MAX ranges stay finite, decode exactly, and "
			   "their blob validates", err.message);
		free(q2);
	}
	free(q);
}

static void
test_train_errors(void)
{
	float		v[3 * 4];
	BrainySq8  *q = new_quantizer(4);
	BrainySq8Error err;
	int			i;

	for (i = 0; i < 12; i++)
		v[i] = (float) i;
	report(brainy_sq8_size(0) == 0 && brainy_sq8_size(16001) == 0 &&
		   brainy_sq8_size(4) == sizeof(BrainySq8) + 32,
		   "train errors: brainy_sq8_size rejects dims 0 and 16001", "");
	report(brainy_sq8_train(NULL, 4, v, 3, 0.0, &err) == BRAINY_SQ8_EINVAL &&
		   brainy_sq8_train(q, 4, NULL, 3, 0.0, &err) == BRAINY_SQ8_EINVAL,
		   "train errors: missing quantizer or sample", err.message);
	report(brainy_sq8_train(q, 0, v, 3, 0.0, &err) == BRAINY_SQ8_EINVAL &&
		   brainy_sq8_train(q, 16001, v, 3, 0.0, &err) == BRAINY_SQ8_EINVAL &&
		   strstr(err.message, "16001") != NULL,
		   "train errors: dimension 0 or 16001", err.message);
	report(brainy_sq8_train(q, 4, v, 0, 0.0, &err) == BRAINY_SQ8_EINVAL,
		   "train errors: empty sample", err.message);
	report(brainy_sq8_train(q, 4, v, 3, -0.1, &err) == BRAINY_SQ8_EINVAL &&
		   brainy_sq8_train(q, 4, v, 3, 1.5, &err) == BRAINY_SQ8_EINVAL &&
		   brainy_sq8_train(q, 4, v, 3, NAN, &err) == BRAINY_SQ8_EINVAL,
		   "train errors: margin outside 0..1 or NaN", err.message);

	memset(q, 0xAB, brainy_sq8_size(4));
	v[2 * 4 + 1] = NAN;
	report(brainy_sq8_train(q, 4, v, 3, 0.0, &err) == BRAINY_SQ8_EINVAL &&
		   err.code == BRAINY_SQ8_EINVAL &&
		   strcmp(err.message, "training vector 3: element 2 is NaN") == 0 &&
		   ((unsigned char *) q)[0] == 0xAB,
		   "train errors: a NaN element is named, the quantizer is untouched",
		   err.message);
	v[2 * 4 + 1] = -INFINITY;
	report(brainy_sq8_train(q, 4, v, 3, 0.0, NULL) == BRAINY_SQ8_EINVAL,
		   "train errors: an infinite element (no error report wanted)", "");

	/* streaming misuse */
	report(brainy_sq8_train_begin(q, 4, &err) == BRAINY_SQ8_OK &&
		   brainy_sq8_train_end(q, 0.0, &err) == BRAINY_SQ8_EINVAL &&
		   brainy_sq8_train_add(q, v + 8, &err) == BRAINY_SQ8_EINVAL &&
		   q->n_trained == 0 &&
		   brainy_sq8_train_add(q, v, &err) == BRAINY_SQ8_OK &&
		   brainy_sq8_train_end(q, 2.0, &err) == BRAINY_SQ8_EINVAL &&
		   brainy_sq8_train_end(q, 0.0, &err) == BRAINY_SQ8_OK &&
		   brainy_sq8_train_add(q, v, &err) == BRAINY_SQ8_EINVAL &&
		   brainy_sq8_train_end(q, 0.0, &err) == BRAINY_SQ8_EINVAL,
		   "train errors: end without vectors, a rejected vector is not counted, "
		   "add/end after end", err.message);

	/* query preparation */
	{
		BrainySq8Query qq;
		float		buf[8];
		float		query[4] = {1, 2, NAN, 4};

		report(brainy_sq8_query_init(&qq, q, brainy_kernels(), BRAINY_SQ8_L2,
									 query, buf, &err) == BRAINY_SQ8_EINVAL &&
			   strcmp(err.message, "query element 3 is NaN") == 0,
			   "query errors: a NaN query element", err.message);
		query[2] = 3;
		report(brainy_sq8_query_init(&qq, q, brainy_kernels(), (BrainySq8Kind) 7,
									 query, buf, &err) == BRAINY_SQ8_EINVAL &&
			   brainy_sq8_query_init(&qq, q, NULL, BRAINY_SQ8_L2,
									 query, buf, &err) == BRAINY_SQ8_EINVAL,
			   "query errors: unknown kind, missing kernel table", err.message);
		brainy_sq8_train_begin(q, 4, NULL);
		report(brainy_sq8_query_init(&qq, q, brainy_kernels(), BRAINY_SQ8_L2,
									 query, buf, &err) == BRAINY_SQ8_EINVAL,
			   "query errors: a quantizer still in training", err.message);
	}
	free(q);
}

/* ------------------------------------------------------- serialised form */

static void
test_blob(void)
{
	const int	dim = 19;
	float	   *sample = varied_vectors(50, dim, 21);
	BrainySq8  *q = new_quantizer(dim);
	BrainySq8  *q2 = new_quantizer(dim);
	BrainySq8  *before = new_quantizer(dim);
	size_t		size = brainy_sq8_blob_size(dim);
	unsigned char *blob = xmalloc(size);
	unsigned char *blob2 = xmalloc(size);
	BrainySq8Error err;
	char		details[300] = "";
	size_t		len;
	int			d = -1,
				rc,
				ok,
				trial;

	brainy_sq8_train(q, dim, sample, 50, BRAINY_SQ8_DEFAULT_MARGIN, NULL);
	report(size == 8 + 8 * (size_t) dim && brainy_sq8_blob_size(0) == 0 &&
		   brainy_sq8_blob_size(16001) == 0,
		   "blob: size is 8 + 8 * dim", "");

	brainy_sq8_serialize(q, blob);
	rc = brainy_sq8_blob_dim(blob, size, &d, &err);
	report(rc == BRAINY_SQ8_OK && d == dim && blob[0] == 1 && blob[4] == dim &&
		   blob[5] == 0,
		   "blob: header is version 1, zeros, little-endian dim", err.message);
	memset(q2, 0, brainy_sq8_size(dim));
	rc = brainy_sq8_deserialize(blob, size, q2, brainy_sq8_size(dim), &err);
	brainy_sq8_serialize(q2, blob2);
	report(rc == BRAINY_SQ8_OK &&
		   memcmp(q2->values, q->values, sizeof(float) * 2 * dim) == 0 &&
		   q2->dim == dim && !q2->training && memcmp(blob, blob2, size) == 0,
		   "blob: serialise, deserialise, serialise again is identity", err.message);

	/* truncated at every length, and one byte too long: exact-size copies */
	ok = 1;
	memcpy(before, q2, brainy_sq8_size(dim));
	for (len = 0; len <= size + 1 && ok; len++)
	{
		unsigned char *copy;

		if (len == size)
			continue;
		copy = xmalloc(len);
		memcpy(copy, blob, len < size ? len : size);
		if (len > size)
			copy[size] = 0;
		rc = brainy_sq8_deserialize(copy, len, q2, brainy_sq8_size(dim), &err);
		if (rc != BRAINY_SQ8_EBLOB || err.code != BRAINY_SQ8_EBLOB ||
			memcmp(before, q2, brainy_sq8_size(dim)) != 0)
		{
			ok = 0;
			snprintf(details, sizeof(details), "(length %zu: rc %d: %s)", len, rc,
					 err.message);
		}
		free(copy);
	}
	report(ok, "blob: every truncation and an extra byte are rejected, q unchanged",
		   details);

	/* one field at a time */
	{
		struct
		{
			const char *what;
			size_t		offset;
			int			is_float;
			float		f;
			unsigned char byte;
		}			cases[] = {
			{"version 0", 0, 0, 0, 0},
			{"version 2", 0, 0, 0, 2},
			{"version 255", 0, 0, 0, 255},
			{"reserved byte 1", 1, 0, 0, 1},
			{"reserved byte 3", 3, 0, 0, 0x80},
			{"dim 0", 4, 0, 0, 0},
			{"dim 18 (length mismatch)", 4, 0, 0, 18},
			{"dim 20 (length mismatch)", 4, 0, 0, 20},
			{"dim 2^24 + 19", 7, 0, 0, 1},
			{"lo NaN", 8, 1, NAN, 0},
			{"lo +inf", 8 + 4 * 5, 1, INFINITY, 0},
			{"lo -inf", 8 + 4 * 18, 1, -INFINITY, 0},
			{"step 0", 8 + 4 * 19, 1, 0.0f, 0},
			{"step -0", 8 + 4 * 20, 1, -0.0f, 0},
			{"step -1", 8 + 4 * 30, 1, -1.0f, 0},
			{"step NaN", 8 + 4 * 37, 1, NAN, 0},
			{"step +inf", 8 + 4 * 25, 1, INFINITY, 0},
			{"step 1e37 (top code overflows)", 8 + 4 * 19, 1, 1e37f, 0},
		};
		int			ci;

		for (ci = 0; ci < (int) (sizeof(cases) / sizeof(cases[0])); ci++)
		{
			char		desc[300];

			memcpy(blob2, blob, size);
			if (cases[ci].is_float)
			{
				uint32_t	x;

				memcpy(&x, &cases[ci].f, 4);
				blob2[cases[ci].offset] = (unsigned char) x;
				blob2[cases[ci].offset + 1] = (unsigned char) (x >> 8);
				blob2[cases[ci].offset + 2] = (unsigned char) (x >> 16);
				blob2[cases[ci].offset + 3] = (unsigned char) (x >> 24);
			}
			else
				blob2[cases[ci].offset] = cases[ci].byte;
			rc = brainy_sq8_deserialize(blob2, size, q2, brainy_sq8_size(dim), &err);
			snprintf(desc, sizeof(desc), "blob: %s is rejected (%s)", cases[ci].what,
					 err.message);
			report(rc == BRAINY_SQ8_EBLOB &&
				   memcmp(before, q2, brainy_sq8_size(dim)) == 0, desc, "");
		}
	}

	report(brainy_sq8_deserialize(blob, size, q2, brainy_sq8_size(dim) - 1, &err) ==
		   BRAINY_SQ8_EINVAL &&
		   brainy_sq8_deserialize(blob, size, NULL, 0, &err) == BRAINY_SQ8_EINVAL &&
		   brainy_sq8_deserialize(NULL, 0, q2, brainy_sq8_size(dim), &err) ==
		   BRAINY_SQ8_EINVAL &&
		   brainy_sq8_blob_dim(blob, size, NULL, &err) == BRAINY_SQ8_EINVAL,
		   "blob: too little room, missing quantizer, blob or output", err.message);

	/* garbled: random bytes overwritten, or random lengths; never a crash */
	rng_seed(77);
	ok = 1;
	{
		int			n_ok = 0,
					n_bad = 0;

		for (trial = 0; trial < 3000; trial++)
		{
			size_t		glen = size;
			unsigned char *g;
			int			flips = 1 + (int) (rand_unit() * 4);
			int			f;

			if (trial % 3 == 2)
				glen = (size_t) (rand_unit() * (double) (size + 16));
			g = xmalloc(glen);
			memcpy(g, blob, glen < size ? glen : size);
			for (f = (int) size; f < (int) glen; f++)
				g[f] = (unsigned char) (rand_unit() * 256);
			for (f = 0; f < flips && glen > 0; f++)
			{
				/* half the flips in the header, where they matter most */
				size_t		at = (f % 2 == 0) ? (size_t) (rand_unit() * 8) :
				(size_t) (rand_unit() * (double) glen);

				if (at < glen)
					g[at] = (unsigned char) (rand_unit() * 256);
			}
			rc = brainy_sq8_deserialize(g, glen, q2, brainy_sq8_size(dim), &err);
			if (rc == BRAINY_SQ8_OK)
			{
				int			j;

				n_ok++;
				for (j = 0; j < q2->dim; j++)
				{
					double		lo = brainy_sq8_lo(q2)[j];
					double		s = brainy_sq8_step(q2)[j];

					if (!isfinite(lo) || !isfinite(s) || !(s > 0.0) ||
						lo + 255.0 * s > FLT_MAX)
						ok = 0;
				}
			}
			else if (rc == BRAINY_SQ8_EBLOB)
				n_bad++;
			else
				ok = 0;
			free(g);
		}
		{
			char		desc[160];

			snprintf(desc, sizeof(desc),
					 "blob: 3000 garbled blobs: %d rejected, %d accepted and all valid",
					 n_bad, n_ok);
			report(ok && n_bad > 0, desc, "");
		}
	}

	free(sample);
	free(q);
	free(q2);
	free(before);
	free(blob);
	free(blob2);
}

/* ---------------------------------------------- distances and their bounds */

static double
exact_distance(BrainySq8Kind kind, const float *a, const float *b, int dim)
{
	double		s = 0.0;
	int			i;

	for (i = 0; i < dim; i++)
	{
		double		d = (double) a[i] - (double) b[i];

		if (kind == BRAINY_SQ8_L2)
			s += d * d;
		else if (kind == BRAINY_SQ8_IP)
			s += (double) a[i] * (double) b[i];
		else
			s += fabs(d);
	}
	return s;
}

static float
float_kernel(const BrainyKernels *k, BrainySq8Kind kind, const float *a,
			 const float *b, int dim)
{
	if (kind == BRAINY_SQ8_L2)
		return k->l2_squared(a, b, dim);
	if (kind == BRAINY_SQ8_IP)
		return k->inner_product(a, b, dim);
	return k->l1(a, b, dim);
}

static const char *const kind_names[3] = {"l2", "ip", "l1"};

/*
 * For each kernel table and kind: ADC equals the float kernel on the query
 * and the decoded vector, SDC the float kernel on the two decoded vectors
 * (to float rounding), and both are within the documented bounds of the
 * exact distances between the original vectors.
 */
static void
test_distance_bounds(const BrainyKernels *k, int dim)
{
	const int	n = 300;
	const int	nq = 20;
	float	   *base = varied_vectors(n, dim, 31 + (uint64_t) dim);
	float	   *queries = varied_vectors(nq, dim, 32 + (uint64_t) dim);
	BrainySq8  *q = new_quantizer(dim);
	uint8_t    *codes = xmalloc((size_t) n * dim);
	float	   *dec = xmalloc(sizeof(float) * (size_t) n * dim);
	float	   *buf = xmalloc(sizeof(float) * 2 * (size_t) dim);
	const float *step;
	const float *lo;
	double		e_l2,
				e_l1 = 0.0;
	int			kind,
				i,
				j,
				t;

	/* queries a little outside the data too */
	for (i = 0; i < nq * dim; i++)
		queries[i] *= 1.2f;
	brainy_sq8_train(q, dim, base, n, BRAINY_SQ8_DEFAULT_MARGIN, NULL);
	step = brainy_sq8_step(q);
	lo = brainy_sq8_lo(q);
	e_l2 = brainy_sq8_l2_error(q);
	for (j = 0; j < dim; j++)
		e_l1 += 0.5 * step[j];
	for (i = 0; i < n; i++)
	{
		brainy_sq8_encode(q, base + (size_t) i * dim, codes + (size_t) i * dim);
		brainy_sq8_decode(q, codes + (size_t) i * dim, dec + (size_t) i * dim);
	}

	for (kind = 0; kind < 3; kind++)
	{
		int			adc_kernel_ok = 1,
					adc_norm_ok = 1,
					adc_bound_ok = 1,
					sdc_kernel_ok = 1,
					sdc_bound_ok = 1;
		double		worst_adc = 0.0,
					worst_sdc = 0.0;
		char		desc[200];
		char		details[300] = "";

		for (t = 0; t < nq; t++)
		{
			const float *qv = queries + (size_t) t * dim;
			BrainySq8Query qq;
			double		mag_qlo = 0.0;

			if (brainy_sq8_query_init(&qq, q, k, (BrainySq8Kind) kind, qv, buf,
									  NULL) != BRAINY_SQ8_OK)
				adc_kernel_ok = 0;
			for (j = 0; j < dim; j++)
				mag_qlo += fabs((double) qv[j]) * (fabs((double) lo[j]) + 255.0 * step[j]);
			for (i = 0; i < n; i++)
			{
				const float *x = base + (size_t) i * dim;
				const float *xd = dec + (size_t) i * dim;
				const uint8_t *c = codes + (size_t) i * dim;
				const float *y = base + (size_t) ((i + 1) % n) * dim;
				const float *yd = dec + (size_t) ((i + 1) % n) * dim;
				const uint8_t *cy = codes + (size_t) ((i + 1) % n) * dim;
				float		adc = brainy_sq8_adc(&qq, c);
				float		ref = float_kernel(k, (BrainySq8Kind) kind, qv, xd, dim);
				double		exact = exact_distance((BrainySq8Kind) kind, qv, x, dim);
				double		mag,
							bound;

				/* magnitude of the float computations of both */
				if (kind == BRAINY_SQ8_IP)
					mag = mag_qlo;
				else
				{
					mag = 0.0;
					for (j = 0; j < dim; j++)
					{
						double		d = fabs((double) qv[j]) + fabs((double) lo[j]) +
							255.0 * step[j];

						mag += kind == BRAINY_SQ8_L2 ? d * d : d;
					}
				}
				if (fabs((double) adc - ref) > float_tol(mag, dim))
				{
					if (adc_kernel_ok)
						snprintf(details, sizeof(details),
								 "(adc %.9g vs float kernel on decoded %.9g)", adc, ref);
					adc_kernel_ok = 0;
				}

				/* the expanded L2: rounding relative to |q - lo|^2 + norm */
				{
					float		norm = brainy_sq8_code_norm(q, c);
					float		fast = brainy_sq8_adc_norm(&qq, c, norm);
					double		fmag = kind == BRAINY_SQ8_L2 ?
						3.0 * ((double) qq.bias + norm) : 0.0;

					if (fabs((double) fast - adc) > float_tol(fmag + mag, dim))
					{
						if (adc_norm_ok)
							snprintf(details + strlen(details),
									 sizeof(details) - strlen(details),
									 "(adc_norm %.9g vs adc %.9g)", fast, adc);
						adc_norm_ok = 0;
					}
				}

				if (kind == BRAINY_SQ8_L2)
					bound = 2.0 * e_l2 * sqrt(exact) + e_l2 * e_l2;
				else if (kind == BRAINY_SQ8_IP)
				{
					bound = 0.0;
					for (j = 0; j < dim; j++)
						bound += fabs((double) qv[j]) * 0.5 * step[j];
				}
				else
					bound = e_l1;
				worst_adc = fmax(worst_adc, fabs((double) adc - exact) / bound);
				if (fabs((double) adc - exact) > bound + float_tol(mag, dim))
				{
					if (adc_bound_ok)
						snprintf(details + strlen(details),
								 sizeof(details) - strlen(details),
								 "(adc %.9g vs exact %.9g, bound %.3g)", adc, exact, bound);
					adc_bound_ok = 0;
				}

				/* SDC between x and the next vector */
				if (t == 0)
				{
					float		sdc = brainy_sq8_sdc(q, k, (BrainySq8Kind) kind, c, cy);
					float		sref = float_kernel(k, (BrainySq8Kind) kind, xd, yd, dim);
					double		sexact = exact_distance((BrainySq8Kind) kind, x, y, dim);
					double		smag = 0.0,
								sbound = 0.0;

					for (j = 0; j < dim; j++)
					{
						double		r = fabs((double) lo[j]) + 255.0 * step[j];

						smag += kind == BRAINY_SQ8_L1 ? r : 4.0 * r * r;
						if (kind == BRAINY_SQ8_IP)
							sbound += (fabs((double) x[j]) + fabs((double) y[j]) +
									   0.5 * step[j]) * 0.5 * step[j];
					}
					if (kind == BRAINY_SQ8_L2)
						sbound = 4.0 * e_l2 * sqrt(sexact) + 4.0 * e_l2 * e_l2;
					else if (kind == BRAINY_SQ8_L1)
						sbound = 2.0 * e_l1;
					if (fabs((double) sdc - sref) > float_tol(smag, dim))
					{
						if (sdc_kernel_ok)
							snprintf(details + strlen(details),
									 sizeof(details) - strlen(details),
									 "(sdc %.9g vs float kernel on decoded %.9g)",
									 sdc, sref);
						sdc_kernel_ok = 0;
					}
					worst_sdc = fmax(worst_sdc, fabs((double) sdc - sexact) / sbound);
					if (fabs((double) sdc - sexact) > sbound + float_tol(smag, dim))
						sdc_bound_ok = 0;
				}
			}
		}
		snprintf(desc, sizeof(desc),
				 "%s %s dim %d: ADC = float kernel on the decoded vector; |ADC - exact| "
				 "within bound (worst %.3f of it)",
				 k->name, kind_names[kind], dim, worst_adc);
		report(adc_kernel_ok && adc_bound_ok, desc, details);
		snprintf(desc, sizeof(desc),
				 "%s %s dim %d: brainy_sq8_adc_norm (stored code norm) = brainy_sq8_adc "
				 "to float rounding", k->name, kind_names[kind], dim);
		report(adc_norm_ok, desc, details);
		snprintf(desc, sizeof(desc),
				 "%s %s dim %d: SDC = float kernel on both decoded; |SDC - exact| "
				 "within bound (worst %.3f of it)",
				 k->name, kind_names[kind], dim, worst_sdc);
		report(sdc_kernel_ok && sdc_bound_ok, desc, details);
	}
	free(base);
	free(queries);
	free(q);
	free(codes);
	free(dec);
	free(buf);
}

/* ----------------------------------------------------------- ranking */

/* Keep the best m (smallest key) of a stream: sorted array, insertion. */
typedef struct TopM
{
	int			m;
	int			n;
	double	   *key;
	int		   *id;
} TopM;

static void
topm_init(TopM *t, int m)
{
	t->m = m;
	t->n = 0;
	t->key = xmalloc(sizeof(double) * (size_t) m);
	t->id = xmalloc(sizeof(int) * (size_t) m);
}

static void
topm_free(TopM *t)
{
	free(t->key);
	free(t->id);
}

static void
topm_push(TopM *t, double key, int id)
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

typedef enum RankMetric
{
	RANK_L2, RANK_IP, RANK_COSINE, RANK_L1
} RankMetric;

static const char *const rank_names[4] = {"l2", "ip", "cosine", "l1"};

/* internal distance: smaller is nearer */
static double
rank_exact(RankMetric m, const float *a, const float *b, int dim)
{
	switch (m)
	{
		case RANK_L2:
			return exact_distance(BRAINY_SQ8_L2, a, b, dim);
		case RANK_L1:
			return exact_distance(BRAINY_SQ8_L1, a, b, dim);
		case RANK_IP:
			return -exact_distance(BRAINY_SQ8_IP, a, b, dim);
		case RANK_COSINE:
		default:
			return 1.0 - exact_distance(BRAINY_SQ8_IP, a, b, dim);
	}
}

static void
normalise(float *v, int n, int dim)
{
	int			i,
				j;

	for (i = 0; i < n; i++)
	{
		double		s = 0.0;

		for (j = 0; j < dim; j++)
			s += (double) v[(size_t) i * dim + j] * v[(size_t) i * dim + j];
		s = 1.0 / sqrt(s);
		for (j = 0; j < dim; j++)
			v[(size_t) i * dim + j] = (float) (v[(size_t) i * dim + j] * s);
	}
}

/*
 * Recall@10 of (a) the SQ8 top 10 and (b) the exact top 10 of the SQ8 top
 * 40, against the exact top 10 (a hit is a result within the true 10th
 * distance, so ties are not misses).
 */
static void
ranking_case(const char *data_name, float *base, int n, float *queries, int nq,
			 int dim, RankMetric metric, int use_norm)
{
	const int	k = 10;
	const int	rerank = 40;
	BrainySq8  *q = new_quantizer(dim);
	uint8_t    *codes = xmalloc((size_t) n * dim);
	float	   *norms = xmalloc(sizeof(float) * (size_t) n);
	float	   *buf = xmalloc(sizeof(float) * 2 * (size_t) dim);
	BrainySq8Kind kind = metric == RANK_L2 ? BRAINY_SQ8_L2 :
		metric == RANK_L1 ? BRAINY_SQ8_L1 : BRAINY_SQ8_IP;
	long		hits_sq8 = 0,
				hits_rerank = 0;
	TopM		exact,
				cand,
				best;
	char		desc[200];
	double		recall_sq8,
				recall_rerank;
	int			t,
				i;

	brainy_sq8_train(q, dim, base, (size_t) n, BRAINY_SQ8_DEFAULT_MARGIN, NULL);
	for (i = 0; i < n; i++)
	{
		brainy_sq8_encode(q, base + (size_t) i * dim, codes + (size_t) i * dim);
		norms[i] = brainy_sq8_code_norm(q, codes + (size_t) i * dim);
	}
	topm_init(&exact, k);
	topm_init(&cand, rerank);
	topm_init(&best, k);
	for (t = 0; t < nq; t++)
	{
		const float *qv = queries + (size_t) t * dim;
		BrainySq8Query qq;
		double		kth;

		brainy_sq8_query_init(&qq, q, brainy_kernels(), kind, qv, buf, NULL);
		exact.n = cand.n = best.n = 0;
		for (i = 0; i < n; i++)
		{
			float		a = use_norm ?
				brainy_sq8_adc_norm(&qq, codes + (size_t) i * dim, norms[i]) :
				brainy_sq8_adc(&qq, codes + (size_t) i * dim);
			double		key = kind == BRAINY_SQ8_IP ? -(double) a : (double) a;

			topm_push(&exact, rank_exact(metric, qv, base + (size_t) i * dim, dim), i);
			topm_push(&cand, key, i);
		}
		kth = exact.key[k - 1];
		kth += 1e-9 * fabs(kth);
		for (i = 0; i < k; i++)
		{
			if (rank_exact(metric, qv, base + (size_t) cand.id[i] * dim, dim) <= kth)
				hits_sq8++;
		}
		for (i = 0; i < cand.n; i++)
			topm_push(&best, rank_exact(metric, qv, base + (size_t) cand.id[i] * dim, dim),
					  cand.id[i]);
		for (i = 0; i < k; i++)
		{
			if (best.key[i] <= kth)
				hits_rerank++;
		}
	}
	recall_sq8 = (double) hits_sq8 / ((double) nq * k);
	recall_rerank = (double) hits_rerank / ((double) nq * k);
	snprintf(desc, sizeof(desc),
			 "ranking %s %s%s: recall@10 of top-40 SQ8 re-ranked %.4f >= 0.99 "
			 "(SQ8 alone %.4f)",
			 data_name, rank_names[metric], use_norm ? " (adc_norm)" : "",
			 recall_rerank, recall_sq8);
	report(recall_rerank >= 0.99, desc, "");
	topm_free(&exact);
	topm_free(&cand);
	topm_free(&best);
	free(q);
	free(codes);
	free(norms);
	free(buf);
}

static void
test_ranking(void)
{
	const int	dim = 64;
	const int	n = 10000;
	const int	nq = 100;
	const int	n_clusters = 100;
	float	   *base = xmalloc(sizeof(float) * (size_t) n * dim);
	float	   *queries = xmalloc(sizeof(float) * (size_t) nq * dim);
	float	   *centres = xmalloc(sizeof(float) * (size_t) n_clusters * dim);
	float	   *scale = xmalloc(sizeof(float) * (size_t) dim);
	int			metric,
				i,
				j;

	/* random: uniform in [-1, 1)^64 */
	for (metric = RANK_L2; metric <= RANK_L1; metric++)
	{
		rng_seed(1001);
		for (i = 0; i < n * dim; i++)
			base[i] = rand_range(-1.0, 1.0);
		for (i = 0; i < nq * dim; i++)
			queries[i] = rand_range(-1.0, 1.0);
		if (metric == RANK_COSINE)
		{
			normalise(base, n, dim);
			normalise(queries, nq, dim);
		}
		ranking_case("random 64-d", base, n, queries, nq, dim, (RankMetric) metric, 0);
		if (metric == RANK_L2)
			ranking_case("random 64-d", base, n, queries, nq, dim, RANK_L2, 1);
	}

	/*
	 * clustered: 100 Gaussian clusters (sigma 0.1 of the centres' spread),
	 * each dimension with its own scale (0.1 .. 10) and offset; queries from
	 * the same clusters.
	 */
	for (metric = RANK_L2; metric <= RANK_L1; metric++)
	{
		rng_seed(2002);
		for (j = 0; j < dim; j++)
			scale[j] = (float) pow(10.0, 2.0 * rand_unit() - 1.0);
		for (i = 0; i < n_clusters * dim; i++)
			centres[i] = (float) (scale[i % dim] * (2.0 * rand_unit() - 1.0) +
								  (double) (i % 7) - 3.0);
		for (i = 0; i < n + nq; i++)
		{
			int			c = (int) (rand_unit() * n_clusters);
			float	   *v = i < n ? base + (size_t) i * dim :
				queries + (size_t) (i - n) * dim;

			for (j = 0; j < dim; j++)
				v[j] = (float) (centres[(size_t) c * dim + j] +
								0.1 * scale[j] * rand_normal());
		}
		if (metric == RANK_COSINE)
		{
			normalise(base, n, dim);
			normalise(queries, nq, dim);
		}
		ranking_case("clustered 64-d", base, n, queries, nq, dim, (RankMetric) metric, 0);
		if (metric == RANK_L2)
			ranking_case("clustered 64-d", base, n, queries, nq, dim, RANK_L2, 1);
	}
	free(base);
	free(queries);
	free(centres);
	free(scale);
}

int
main(void)
{
	const BrainyKernels *const *all = brainy_kernels_all();
	int			i;

	test_tables();
	for (i = 0; all[i] != NULL; i++)
	{
		const BrainyKernels *k = all[i];

		if (!brainy_kernels_supported(k))
		{
			printf("skip - %s: not supported on this CPU\n", k->name);
			continue;
		}
		test_kernels_exact(k);
		if (k != &brainy_kernels_scalar)
			test_kernels_random(k);
		test_distance_bounds(k, 37);
		test_distance_bounds(k, 784);
	}
	test_train_and_roundtrip();
	test_constant_dimensions();
	test_out_of_range();
	test_train_errors();
	test_blob();
	test_ranking();
	return report_summary();
}
