/*
 * quant_sq8.c - 8-bit scalar quantization: training, encoding, decoding, the
 * serialised form, and query preparation.
 *
 * Owns everything of SQ8 except the distance kernels, which are members of
 * the BrainyKernels tables (distance_*.c) so they are chosen by the same
 * run-time CPU dispatch as the float kernels.  See quant_sq8.h for the
 * training rules, the error bounds and the serialised layout.
 *
 * Training and encoding work in double so that rounding to the nearest code
 * is exact up to one rounding of t = (x - lo) / step; they run once per
 * vector, not per distance, so speed does not matter here.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "quant_sq8.h"

#define N_CODES 256
#define MAX_CODE 255
#define MID_CODE 128

/* A constant dimension's step is at least this fraction of its magnitude. */
#define CONST_STEP_REL (1.0 / 1048576.0)	/* 2^-20 */

#if defined(__GNUC__)
#define SQ8_PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define SQ8_PRINTF_LIKE(f, a)
#endif

static int	sq8_fail(BrainySq8Error *err, int code, const char *fmt,...) SQ8_PRINTF_LIKE(3, 4);

static int
sq8_fail(BrainySq8Error *err, int code, const char *fmt,...)
{
	if (err != NULL)
	{
		va_list		ap;

		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return code;
}

static int
sq8_ok(BrainySq8Error *err)
{
	if (err != NULL)
	{
		err->code = BRAINY_SQ8_OK;
		err->message[0] = '\0';
	}
	return BRAINY_SQ8_OK;
}

static float *
lo_of(BrainySq8 *q)
{
	return q->values;
}

static float *
step_of(BrainySq8 *q)
{
	return q->values + q->dim;
}

size_t
brainy_sq8_size(int dim)
{
	if (dim < 1 || dim > BRAINY_SQ8_MAX_DIM)
		return 0;
	return sizeof(BrainySq8) + 2 * sizeof(float) * (size_t) dim;
}

/* ------------------------------------------------------------- training */

int
brainy_sq8_train_begin(BrainySq8 *q, int dim, BrainySq8Error *err)
{
	int			i;

	if (q == NULL)
		return sq8_fail(err, BRAINY_SQ8_EINVAL, "quantizer is missing");
	if (dim < 1 || dim > BRAINY_SQ8_MAX_DIM)
		return sq8_fail(err, BRAINY_SQ8_EINVAL,
						"dimension %d is out of range 1..%d",
						dim, BRAINY_SQ8_MAX_DIM);
	q->dim = dim;
	q->training = 1;
	q->n_trained = 0;
	/* while training, lo holds the minimum and step the maximum */
	for (i = 0; i < dim; i++)
	{
		lo_of(q)[i] = INFINITY;
		step_of(q)[i] = -INFINITY;
	}
	return sq8_ok(err);
}

/* First non-finite element of v, or -1. */
static int
first_non_finite(const float *v, int dim)
{
	int			i;

	for (i = 0; i < dim; i++)
	{
		if (!isfinite(v[i]))
			return i;
	}
	return -1;
}

int
brainy_sq8_train_add(BrainySq8 *q, const float *v, BrainySq8Error *err)
{
	float	   *mn;
	float	   *mx;
	int			bad;
	int			i;

	if (q == NULL || v == NULL)
		return sq8_fail(err, BRAINY_SQ8_EINVAL, "quantizer or vector is missing");
	if (!q->training)
		return sq8_fail(err, BRAINY_SQ8_EINVAL,
						"quantizer is not being trained (call train_begin)");
	bad = first_non_finite(v, q->dim);
	if (bad >= 0)
		return sq8_fail(err, BRAINY_SQ8_EINVAL,
						"training vector %llu: element %d is %s",
						(unsigned long long) q->n_trained + 1, bad + 1,
						isnan(v[bad]) ? "NaN" : "infinite");
	mn = lo_of(q);
	mx = step_of(q);
	for (i = 0; i < q->dim; i++)
	{
		if (v[i] < mn[i])
			mn[i] = v[i];
		if (v[i] > mx[i])
			mx[i] = v[i];
	}
	q->n_trained++;
	return sq8_ok(err);
}

/*
 * Store the range [lo, hi] (doubles, -FLT_MAX <= lo < hi <= FLT_MAX, with
 * (hi - lo) / 255 > 0) as a float lo rounded down and a float step rounded
 * up, so the float range still covers [lo, hi], while lo + 255 * step stays
 * finite in float.
 */
static void
set_range(float *lo_out, float *step_out, double lo, double hi)
{
	float		lo_f = (float) lo;
	float		step_f;
	int			guard;

	if ((double) lo_f > lo)
		lo_f = nextafterf(lo_f, -FLT_MAX);
	step_f = (float) ((hi - (double) lo_f) / MAX_CODE);
	if ((double) lo_f + MAX_CODE * (double) step_f < hi)
		step_f = nextafterf(step_f, FLT_MAX);
	/* only near FLT_MAX: a step or two back keeps the top code <= FLT_MAX */
	for (guard = 0; guard < 64 && step_f > 0.0f &&
		 (double) lo_f + MAX_CODE * (double) step_f > FLT_MAX; guard++)
		step_f = nextafterf(step_f, 0.0f);
	if (!(step_f > 0.0f))
		step_f = FLT_MIN;		/* unreachable for valid arguments */
	*lo_out = lo_f;
	*step_out = step_f;
}

/* The range of a non-constant dimension, or 0 if it is (nearly) constant. */
static int
widened_range(float mn, float mx, double margin, double *lo, double *hi)
{
	double		r = (double) mx - (double) mn;

	if (!(r > 0.0))
		return 0;
	*lo = fmax((double) mn - margin * r, -FLT_MAX);
	*hi = fmin((double) mx + margin * r, FLT_MAX);
	return (*hi - *lo) / MAX_CODE >= FLT_MIN;
}

int
brainy_sq8_train_end(BrainySq8 *q, double margin, BrainySq8Error *err)
{
	float	   *mn;
	float	   *mx;
	double		ref_step = 0.0;
	double		max_abs = 0.0;
	double		lo,
				hi;
	int			i;

	if (q == NULL)
		return sq8_fail(err, BRAINY_SQ8_EINVAL, "quantizer is missing");
	if (!q->training)
		return sq8_fail(err, BRAINY_SQ8_EINVAL,
						"quantizer is not being trained (call train_begin)");
	if (q->n_trained == 0)
		return sq8_fail(err, BRAINY_SQ8_EINVAL,
						"no training vectors were added");
	if (!(margin >= 0.0 && margin <= 1.0))
		return sq8_fail(err, BRAINY_SQ8_EINVAL,
						"margin %g is out of range 0..1", margin);

	mn = lo_of(q);
	mx = step_of(q);

	/* the scale of the data, for the constant dimensions */
	for (i = 0; i < q->dim; i++)
	{
		if (widened_range(mn[i], mx[i], margin, &lo, &hi))
			ref_step = fmax(ref_step, (hi - lo) / MAX_CODE);
		max_abs = fmax(max_abs, fmax(fabs((double) mn[i]), fabs((double) mx[i])));
	}
	if (ref_step == 0.0)
		ref_step = max_abs > 0.0 ? max_abs / 127.0 : 1.0 / 128.0;

	/* in place: each dimension's (min, max) becomes its (lo, step) */
	for (i = 0; i < q->dim; i++)
	{
		if (!widened_range(mn[i], mx[i], margin, &lo, &hi))
		{
			double		v = ((double) mn[i] + (double) mx[i]) / 2.0;
			double		s = fmax(ref_step, fabs(v) * CONST_STEP_REL);

			s = fmin(fmax(s, FLT_MIN), FLT_MAX / MAX_CODE);
			lo = v - MID_CODE * s;
			hi = lo + MAX_CODE * s;
			if (lo < -FLT_MAX)
			{
				lo = -FLT_MAX;
				hi = lo + MAX_CODE * s;
			}
			if (hi > FLT_MAX)
			{
				hi = FLT_MAX;
				lo = hi - MAX_CODE * s;
			}
		}
		set_range(&mn[i], &mx[i], lo, hi);
	}
	q->training = 0;
	return sq8_ok(err);
}

int
brainy_sq8_train(BrainySq8 *q, int dim, const float *sample, size_t n,
				 double margin, BrainySq8Error *err)
{
	size_t		j;
	int			rc;

	if (q == NULL || sample == NULL)
		return sq8_fail(err, BRAINY_SQ8_EINVAL, "quantizer or sample is missing");
	if (dim < 1 || dim > BRAINY_SQ8_MAX_DIM)
		return sq8_fail(err, BRAINY_SQ8_EINVAL,
						"dimension %d is out of range 1..%d",
						dim, BRAINY_SQ8_MAX_DIM);
	if (n == 0)
		return sq8_fail(err, BRAINY_SQ8_EINVAL, "the training sample is empty");
	if (!(margin >= 0.0 && margin <= 1.0))
		return sq8_fail(err, BRAINY_SQ8_EINVAL,
						"margin %g is out of range 0..1", margin);
	/* check everything first, so q is untouched on error */
	for (j = 0; j < n; j++)
	{
		int			bad = first_non_finite(sample + j * (size_t) dim, dim);

		if (bad >= 0)
			return sq8_fail(err, BRAINY_SQ8_EINVAL,
							"training vector %zu: element %d is %s",
							j + 1, bad + 1,
							isnan(sample[j * (size_t) dim + (size_t) bad]) ?
							"NaN" : "infinite");
	}
	rc = brainy_sq8_train_begin(q, dim, err);
	for (j = 0; rc == BRAINY_SQ8_OK && j < n; j++)
		rc = brainy_sq8_train_add(q, sample + j * (size_t) dim, err);
	if (rc == BRAINY_SQ8_OK)
		rc = brainy_sq8_train_end(q, margin, err);
	return rc;
}

/* ------------------------------------------------------ encode, decode */

int
brainy_sq8_encode(const BrainySq8 *q, const float *v, uint8_t *code)
{
	const float *lo = brainy_sq8_lo(q);
	const float *step = brainy_sq8_step(q);
	int			clamped = 0;
	int			i;

	for (i = 0; i < q->dim; i++)
	{
		/* NaN in, NaN t: fails both tests below, code 0 */
		double		t = ((double) v[i] - (double) lo[i]) / (double) step[i];

		if (t >= -0.5 && t < MAX_CODE + 0.5)
			code[i] = (uint8_t) (t + 0.5);	/* t + 0.5 in [0, 256): rounds */
		else
		{
			clamped++;
			code[i] = t > 0.0 ? MAX_CODE : 0;
		}
	}
	return clamped;
}

void
brainy_sq8_decode(const BrainySq8 *q, const uint8_t *code, float *out)
{
	const float *lo = brainy_sq8_lo(q);
	const float *step = brainy_sq8_step(q);
	int			i;

	for (i = 0; i < q->dim; i++)
		out[i] = (float) ((double) lo[i] + (double) step[i] * code[i]);
}

double
brainy_sq8_l2_error(const BrainySq8 *q)
{
	const float *step = brainy_sq8_step(q);
	double		sum = 0.0;
	int			i;

	for (i = 0; i < q->dim; i++)
		sum += 0.25 * (double) step[i] * (double) step[i];
	return sqrt(sum);
}

/* A double as a float, saturating to +-infinity instead of overflowing. */
static float
to_float(double x)
{
	if (x > FLT_MAX)
		return INFINITY;
	if (x < -FLT_MAX)
		return -INFINITY;
	return (float) x;
}

float
brainy_sq8_code_norm(const BrainySq8 *q, const uint8_t *code)
{
	const float *step = brainy_sq8_step(q);
	double		sum = 0.0;
	int			i;

	for (i = 0; i < q->dim; i++)
	{
		double		x = (double) step[i] * code[i];

		sum += x * x;
	}
	return to_float(sum);
}

/* ------------------------------------------------------ serialised form */

static void
put_u32(unsigned char *p, uint32_t x)
{
	p[0] = (unsigned char) x;
	p[1] = (unsigned char) (x >> 8);
	p[2] = (unsigned char) (x >> 16);
	p[3] = (unsigned char) (x >> 24);
}

static uint32_t
get_u32(const unsigned char *p)
{
	return (uint32_t) p[0] | ((uint32_t) p[1] << 8) |
		((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

static void
put_float(unsigned char *p, float f)
{
	uint32_t	x;

	memcpy(&x, &f, sizeof(x));
	put_u32(p, x);
}

static float
get_float(const unsigned char *p)
{
	uint32_t	x = get_u32(p);
	float		f;

	memcpy(&f, &x, sizeof(f));
	return f;
}

size_t
brainy_sq8_blob_size(int dim)
{
	if (dim < 1 || dim > BRAINY_SQ8_MAX_DIM)
		return 0;
	return BRAINY_SQ8_BLOB_HEADER + 2 * 4 * (size_t) dim;
}

void
brainy_sq8_serialize(const BrainySq8 *q, void *buf)
{
	unsigned char *p = buf;
	const float *lo = brainy_sq8_lo(q);
	const float *step = brainy_sq8_step(q);
	int			i;

	p[0] = BRAINY_SQ8_VERSION;
	p[1] = p[2] = p[3] = 0;
	put_u32(p + 4, (uint32_t) q->dim);
	p += BRAINY_SQ8_BLOB_HEADER;
	for (i = 0; i < q->dim; i++, p += 4)
		put_float(p, lo[i]);
	for (i = 0; i < q->dim; i++, p += 4)
		put_float(p, step[i]);
}

int
brainy_sq8_blob_dim(const void *blob, size_t len, int *dim, BrainySq8Error *err)
{
	const unsigned char *p = blob;
	uint32_t	d;
	size_t		want;

	if (blob == NULL || dim == NULL)
		return sq8_fail(err, BRAINY_SQ8_EINVAL, "blob or output is missing");
	if (len < BRAINY_SQ8_BLOB_HEADER)
		return sq8_fail(err, BRAINY_SQ8_EBLOB,
						"quantizer blob is truncated: %zu bytes, the header alone is %d",
						len, BRAINY_SQ8_BLOB_HEADER);
	if (p[0] != BRAINY_SQ8_VERSION)
		return sq8_fail(err, BRAINY_SQ8_EBLOB,
						"quantizer blob has version %d, expected %d",
						p[0], BRAINY_SQ8_VERSION);
	if (p[1] != 0 || p[2] != 0 || p[3] != 0)
		return sq8_fail(err, BRAINY_SQ8_EBLOB,
						"quantizer blob has non-zero reserved bytes");
	d = get_u32(p + 4);
	if (d < 1 || d > BRAINY_SQ8_MAX_DIM)
		return sq8_fail(err, BRAINY_SQ8_EBLOB,
						"quantizer blob has dimension %lu, out of range 1..%d",
						(unsigned long) d, BRAINY_SQ8_MAX_DIM);
	want = brainy_sq8_blob_size((int) d);
	if (len != want)
		return sq8_fail(err, BRAINY_SQ8_EBLOB,
						"quantizer blob is %zu bytes, expected %zu for dimension %lu",
						len, want, (unsigned long) d);
	*dim = (int) d;
	return sq8_ok(err);
}

int
brainy_sq8_deserialize(const void *blob, size_t len, BrainySq8 *q,
					   size_t q_size, BrainySq8Error *err)
{
	const unsigned char *lo_p;
	const unsigned char *step_p;
	int			dim;
	int			rc;
	int			i;

	rc = brainy_sq8_blob_dim(blob, len, &dim, err);
	if (rc != BRAINY_SQ8_OK)
		return rc;
	if (q == NULL || q_size < brainy_sq8_size(dim))
		return sq8_fail(err, BRAINY_SQ8_EINVAL,
						"quantizer of dimension %d needs %zu bytes, got %zu",
						dim, brainy_sq8_size(dim), q == NULL ? (size_t) 0 : q_size);
	lo_p = (const unsigned char *) blob + BRAINY_SQ8_BLOB_HEADER;
	step_p = lo_p + 4 * (size_t) dim;

	/* validate everything before writing q */
	for (i = 0; i < dim; i++)
	{
		float		lo = get_float(lo_p + 4 * (size_t) i);
		float		step = get_float(step_p + 4 * (size_t) i);

		if (!isfinite(lo))
			return sq8_fail(err, BRAINY_SQ8_EBLOB,
							"quantizer blob: lower bound of dimension %d is not finite",
							i + 1);
		if (!isfinite(step) || !(step > 0.0f))
			return sq8_fail(err, BRAINY_SQ8_EBLOB,
							"quantizer blob: step of dimension %d is %g, must be finite and > 0",
							i + 1, (double) step);
		if ((double) lo + MAX_CODE * (double) step > FLT_MAX)
			return sq8_fail(err, BRAINY_SQ8_EBLOB,
							"quantizer blob: range of dimension %d exceeds FLT_MAX",
							i + 1);
	}
	q->dim = dim;
	q->training = 0;
	q->n_trained = 0;
	for (i = 0; i < dim; i++)
	{
		lo_of(q)[i] = get_float(lo_p + 4 * (size_t) i);
		step_of(q)[i] = get_float(step_p + 4 * (size_t) i);
	}
	return sq8_ok(err);
}

/* ------------------------------------------------------------ distances */

int
brainy_sq8_query_init(BrainySq8Query *qq, const BrainySq8 *q,
					  const BrainyKernels *k, BrainySq8Kind kind,
					  const float *query, float *buf, BrainySq8Error *err)
{
	const float *lo;
	const float *step;
	double		bias = 0.0;
	int			bad;
	int			i;

	if (qq == NULL || q == NULL || k == NULL || query == NULL || buf == NULL)
		return sq8_fail(err, BRAINY_SQ8_EINVAL, "an argument is missing");
	if (q->training)
		return sq8_fail(err, BRAINY_SQ8_EINVAL, "quantizer is not trained");
	if (kind != BRAINY_SQ8_L2 && kind != BRAINY_SQ8_IP && kind != BRAINY_SQ8_L1)
		return sq8_fail(err, BRAINY_SQ8_EINVAL, "unknown distance kind %d",
						(int) kind);
	bad = first_non_finite(query, q->dim);
	if (bad >= 0)
		return sq8_fail(err, BRAINY_SQ8_EINVAL, "query element %d is %s",
						bad + 1, isnan(query[bad]) ? "NaN" : "infinite");

	lo = brainy_sq8_lo(q);
	step = brainy_sq8_step(q);
	qq->w2 = NULL;
	if (kind == BRAINY_SQ8_IP)
	{
		/* q . (lo + step * c) = sum q * lo + sum (q * step) * c */
		for (i = 0; i < q->dim; i++)
		{
			buf[i] = query[i] * step[i];
			bias += (double) query[i] * (double) lo[i];
		}
	}
	else
	{
		for (i = 0; i < q->dim; i++)
			buf[i] = query[i] - lo[i];
	}
	if (kind == BRAINY_SQ8_L2)
	{
		/* |q - lo - step c|^2 = |q - lo|^2 + |step c|^2 + sum w2 c */
		float	   *w2 = buf + q->dim;

		for (i = 0; i < q->dim; i++)
		{
			double		d = (double) query[i] - (double) lo[i];

			w2[i] = to_float(-2.0 * d * (double) step[i]);
			bias += d * d;
		}
		qq->w2 = w2;
	}
	qq->k = k;
	qq->step = step;
	qq->prep = buf;
	qq->bias = to_float(bias);
	qq->dim = q->dim;
	qq->kind = kind;
	return sq8_ok(err);
}

float
brainy_sq8_sdc(const BrainySq8 *q, const BrainyKernels *k, BrainySq8Kind kind,
			   const uint8_t *a, const uint8_t *b)
{
	switch (kind)
	{
		case BRAINY_SQ8_L2:
			return k->sq8_codes_l2_squared(brainy_sq8_step(q), a, b, q->dim);
		case BRAINY_SQ8_IP:
			return k->sq8_codes_inner_product(brainy_sq8_lo(q), brainy_sq8_step(q),
											  a, b, q->dim);
		case BRAINY_SQ8_L1:
		default:
			return k->sq8_codes_l1(brainy_sq8_step(q), a, b, q->dim);
	}
}
