/*
 * distance_scalar.c - portable reference implementation of the kernels.
 *
 * One plain loop per kernel with a float accumulator, summing in index
 * order.  This is the reference the SIMD tables are tested against and the
 * only table on non-x86 CPUs.
 */
#include <math.h>
#include <stdlib.h>

#include "distance.h"

static float
scalar_l2_squared(const float *a, const float *b, int n)
{
	float		sum = 0.0f;
	int			i;

	for (i = 0; i < n; i++)
	{
		float		d = a[i] - b[i];

		sum += d * d;
	}
	return sum;
}

static float
scalar_inner_product(const float *a, const float *b, int n)
{
	float		sum = 0.0f;
	int			i;

	for (i = 0; i < n; i++)
		sum += a[i] * b[i];
	return sum;
}

static float
scalar_l1(const float *a, const float *b, int n)
{
	float		sum = 0.0f;
	int			i;

	/* fabsf, not a compare: it compiles to a branch-free mask */
	for (i = 0; i < n; i++)
		sum += fabsf(a[i] - b[i]);
	return sum;
}

static void
scalar_cosine_parts(const float *a, const float *b, int n,
					float *dot, float *norm_a, float *norm_b)
{
	float		sab = 0.0f;
	float		saa = 0.0f;
	float		sbb = 0.0f;
	int			i;

	for (i = 0; i < n; i++)
	{
		sab += a[i] * b[i];
		saa += a[i] * a[i];
		sbb += b[i] * b[i];
	}
	*dot = sab;
	*norm_a = saa;
	*norm_b = sbb;
}

/* --- SQ8: a code c of dimension i stands for lo[i] + step[i] * c --- */

static float
scalar_sq8_l2_squared(const float *qlo, const float *step, const uint8_t *c,
					  int n)
{
	float		sum = 0.0f;
	int			i;

	for (i = 0; i < n; i++)
	{
		float		d = qlo[i] - step[i] * (float) c[i];

		sum += d * d;
	}
	return sum;
}

static float
scalar_sq8_dot(const float *w, const uint8_t *c, int n)
{
	float		sum = 0.0f;
	int			i;

	for (i = 0; i < n; i++)
		sum += w[i] * (float) c[i];
	return sum;
}

static float
scalar_sq8_l1(const float *qlo, const float *step, const uint8_t *c, int n)
{
	float		sum = 0.0f;
	int			i;

	for (i = 0; i < n; i++)
		sum += fabsf(qlo[i] - step[i] * (float) c[i]);
	return sum;
}

static float
scalar_sq8_codes_l2_squared(const float *step, const uint8_t *a,
							const uint8_t *b, int n)
{
	float		sum = 0.0f;
	int			i;

	for (i = 0; i < n; i++)
	{
		float		d = step[i] * (float) ((int) a[i] - (int) b[i]);

		sum += d * d;
	}
	return sum;
}

static float
scalar_sq8_codes_inner_product(const float *lo, const float *step,
							   const uint8_t *a, const uint8_t *b, int n)
{
	float		sum = 0.0f;
	int			i;

	for (i = 0; i < n; i++)
	{
		float		x = lo[i] + step[i] * (float) a[i];
		float		y = lo[i] + step[i] * (float) b[i];

		sum += x * y;
	}
	return sum;
}

static float
scalar_sq8_codes_l1(const float *step, const uint8_t *a, const uint8_t *b,
					int n)
{
	float		sum = 0.0f;
	int			i;

	for (i = 0; i < n; i++)
		sum += step[i] * (float) abs((int) a[i] - (int) b[i]);
	return sum;
}

const BrainyKernels brainy_kernels_scalar = {
	.name = "scalar",
	.l2_squared = scalar_l2_squared,
	.inner_product = scalar_inner_product,
	.l1 = scalar_l1,
	.cosine_parts = scalar_cosine_parts,
	.sq8_l2_squared = scalar_sq8_l2_squared,
	.sq8_dot = scalar_sq8_dot,
	.sq8_l1 = scalar_sq8_l1,
	.sq8_codes_l2_squared = scalar_sq8_codes_l2_squared,
	.sq8_codes_inner_product = scalar_sq8_codes_inner_product,
	.sq8_codes_l1 = scalar_sq8_codes_l1
};
