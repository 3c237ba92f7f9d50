/*
 * distance_scalar.c - portable reference implementation of the kernels.
 *
 * One plain loop per kernel with a float accumulator, summing in index
 * order.  This is the reference the SIMD tables are tested against and the
 * only table on non-x86 CPUs.
 */
#include <math.h>

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

const BrainyKernels brainy_kernels_scalar = {
	"scalar",
	scalar_l2_squared,
	scalar_inner_product,
	scalar_l1,
	scalar_cosine_parts
};
