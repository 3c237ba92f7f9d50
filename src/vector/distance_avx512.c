/*
 * distance_avx512.c - AVX-512F implementation of the kernels.
 *
 * Like distance_avx2.c: per-function target attributes, no global -m flags.
 * Main loops use four independent accumulators of 16 floats, then one vector
 * at a time, then a single masked load for the last n % 16 elements (masked
 * lanes are neither read nor faulted on).
 */
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include "distance.h"

#define BRAINY_AVX512 __attribute__((target("avx512f")))

/* Mask selecting the first r (1..15) lanes. */
#define TAIL_MASK(r) ((__mmask16) ((1u << (r)) - 1))

BRAINY_AVX512
static float
avx512_l2_squared(const float *a, const float *b, int n)
{
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	int			i = 0;

	for (; n - i >= 64; i += 64)
	{
		__m512		d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
		__m512		d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
		__m512		d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
		__m512		d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));

		s0 = _mm512_fmadd_ps(d0, d0, s0);
		s1 = _mm512_fmadd_ps(d1, d1, s1);
		s2 = _mm512_fmadd_ps(d2, d2, s2);
		s3 = _mm512_fmadd_ps(d3, d3, s3);
	}
	for (; n - i >= 16; i += 16)
	{
		__m512		d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));

		s0 = _mm512_fmadd_ps(d, d, s0);
	}
	if (i < n)
	{
		__mmask16	m = TAIL_MASK(n - i);
		__m512		d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i),
									  _mm512_maskz_loadu_ps(m, b + i));

		s1 = _mm512_fmadd_ps(d, d, s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1),
											  _mm512_add_ps(s2, s3)));
}

BRAINY_AVX512
static float
avx512_inner_product(const float *a, const float *b, int n)
{
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	int			i = 0;

	for (; n - i >= 64; i += 64)
	{
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
		s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
		s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
		s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
	}
	for (; n - i >= 16; i += 16)
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
	if (i < n)
	{
		__mmask16	m = TAIL_MASK(n - i);

		s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i),
							 _mm512_maskz_loadu_ps(m, b + i), s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1),
											  _mm512_add_ps(s2, s3)));
}

BRAINY_AVX512
static float
avx512_l1(const float *a, const float *b, int n)
{
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	int			i = 0;

	for (; n - i >= 64; i += 64)
	{
		__m512		d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
		__m512		d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
		__m512		d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
		__m512		d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));

		s0 = _mm512_add_ps(s0, _mm512_abs_ps(d0));
		s1 = _mm512_add_ps(s1, _mm512_abs_ps(d1));
		s2 = _mm512_add_ps(s2, _mm512_abs_ps(d2));
		s3 = _mm512_add_ps(s3, _mm512_abs_ps(d3));
	}
	for (; n - i >= 16; i += 16)
	{
		__m512		d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));

		s0 = _mm512_add_ps(s0, _mm512_abs_ps(d));
	}
	if (i < n)
	{
		__mmask16	m = TAIL_MASK(n - i);
		__m512		d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i),
									  _mm512_maskz_loadu_ps(m, b + i));

		s1 = _mm512_add_ps(s1, _mm512_abs_ps(d));
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1),
											  _mm512_add_ps(s2, s3)));
}

BRAINY_AVX512
static void
avx512_cosine_parts(const float *a, const float *b, int n,
					float *dot, float *norm_a, float *norm_b)
{
	/* two accumulators per sum: six independent chains */
	__m512		ab0 = _mm512_setzero_ps();
	__m512		ab1 = _mm512_setzero_ps();
	__m512		aa0 = _mm512_setzero_ps();
	__m512		aa1 = _mm512_setzero_ps();
	__m512		bb0 = _mm512_setzero_ps();
	__m512		bb1 = _mm512_setzero_ps();
	int			i = 0;

	for (; n - i >= 32; i += 32)
	{
		__m512		x0 = _mm512_loadu_ps(a + i);
		__m512		y0 = _mm512_loadu_ps(b + i);
		__m512		x1 = _mm512_loadu_ps(a + i + 16);
		__m512		y1 = _mm512_loadu_ps(b + i + 16);

		ab0 = _mm512_fmadd_ps(x0, y0, ab0);
		aa0 = _mm512_fmadd_ps(x0, x0, aa0);
		bb0 = _mm512_fmadd_ps(y0, y0, bb0);
		ab1 = _mm512_fmadd_ps(x1, y1, ab1);
		aa1 = _mm512_fmadd_ps(x1, x1, aa1);
		bb1 = _mm512_fmadd_ps(y1, y1, bb1);
	}
	if (n - i >= 16)
	{
		__m512		x = _mm512_loadu_ps(a + i);
		__m512		y = _mm512_loadu_ps(b + i);

		ab0 = _mm512_fmadd_ps(x, y, ab0);
		aa0 = _mm512_fmadd_ps(x, x, aa0);
		bb0 = _mm512_fmadd_ps(y, y, bb0);
		i += 16;
	}
	if (i < n)
	{
		__mmask16	m = TAIL_MASK(n - i);
		__m512		x = _mm512_maskz_loadu_ps(m, a + i);
		__m512		y = _mm512_maskz_loadu_ps(m, b + i);

		ab1 = _mm512_fmadd_ps(x, y, ab1);
		aa1 = _mm512_fmadd_ps(x, x, aa1);
		bb1 = _mm512_fmadd_ps(y, y, bb1);
	}
	*dot = _mm512_reduce_add_ps(_mm512_add_ps(ab0, ab1));
	*norm_a = _mm512_reduce_add_ps(_mm512_add_ps(aa0, aa1));
	*norm_b = _mm512_reduce_add_ps(_mm512_add_ps(bb0, bb1));
}

const BrainyKernels brainy_kernels_avx512 = {
	"avx512",
	avx512_l2_squared,
	avx512_inner_product,
	avx512_l1,
	avx512_cosine_parts
};

#endif							/* x86-64 */
