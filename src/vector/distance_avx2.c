/*
 * distance_avx2.c - AVX2+FMA implementation of the kernels.
 *
 * Each function carries its own target attribute, so this file is built with
 * the ordinary (baseline x86-64) flags and only the dispatcher decides whether
 * the code may run.  Main loops use four independent accumulators of 8 floats
 * to hide FMA latency, then one vector at a time, then a masked tail.  The
 * SQ8 kernels (codes of 8-bit scalar quantization) are at the end.
 */
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "distance.h"

#define BRAINY_AVX2 __attribute__((target("avx2,fma")))

/* Loading 8 ints at mask_table + 8 - r gives r all-ones lanes, then zeros. */
static const int mask_table[16] = {
	-1, -1, -1, -1, -1, -1, -1, -1,
	0, 0, 0, 0, 0, 0, 0, 0
};

/* Mask selecting the first r (1..7) lanes. */
BRAINY_AVX2
static inline __m256i
tail_mask(int r)
{
	return _mm256_loadu_si256((const __m256i *) (mask_table + 8 - r));
}

BRAINY_AVX2
static inline float
hsum(__m256 v)
{
	__m128		x = _mm_add_ps(_mm256_castps256_ps128(v),
							   _mm256_extractf128_ps(v, 1));

	x = _mm_add_ps(x, _mm_movehl_ps(x, x));
	x = _mm_add_ss(x, _mm_movehdup_ps(x));
	return _mm_cvtss_f32(x);
}

BRAINY_AVX2
static float
avx2_l2_squared(const float *a, const float *b, int n)
{
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	int			i = 0;

	for (; n - i >= 32; i += 32)
	{
		__m256		d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		__m256		d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
		__m256		d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
		__m256		d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));

		s0 = _mm256_fmadd_ps(d0, d0, s0);
		s1 = _mm256_fmadd_ps(d1, d1, s1);
		s2 = _mm256_fmadd_ps(d2, d2, s2);
		s3 = _mm256_fmadd_ps(d3, d3, s3);
	}
	for (; n - i >= 8; i += 8)
	{
		__m256		d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));

		s0 = _mm256_fmadd_ps(d, d, s0);
	}
	if (i < n)
	{
		__m256i		m = tail_mask(n - i);
		__m256		d = _mm256_sub_ps(_mm256_maskload_ps(a + i, m),
									  _mm256_maskload_ps(b + i, m));

		s1 = _mm256_fmadd_ps(d, d, s1);
	}
	return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

BRAINY_AVX2
static float
avx2_inner_product(const float *a, const float *b, int n)
{
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	int			i = 0;

	for (; n - i >= 32; i += 32)
	{
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
		s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
		s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
	}
	for (; n - i >= 8; i += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
	if (i < n)
	{
		__m256i		m = tail_mask(n - i);

		s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m),
							 _mm256_maskload_ps(b + i, m), s1);
	}
	return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

BRAINY_AVX2
static float
avx2_l1(const float *a, const float *b, int n)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	int			i = 0;

	/* |x| is x with the sign bit cleared: andnot(-0.0, x) */
	for (; n - i >= 32; i += 32)
	{
		__m256		d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		__m256		d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
		__m256		d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
		__m256		d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));

		s0 = _mm256_add_ps(s0, _mm256_andnot_ps(sign, d0));
		s1 = _mm256_add_ps(s1, _mm256_andnot_ps(sign, d1));
		s2 = _mm256_add_ps(s2, _mm256_andnot_ps(sign, d2));
		s3 = _mm256_add_ps(s3, _mm256_andnot_ps(sign, d3));
	}
	for (; n - i >= 8; i += 8)
	{
		__m256		d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));

		s0 = _mm256_add_ps(s0, _mm256_andnot_ps(sign, d));
	}
	if (i < n)
	{
		__m256i		m = tail_mask(n - i);
		__m256		d = _mm256_sub_ps(_mm256_maskload_ps(a + i, m),
									  _mm256_maskload_ps(b + i, m));

		s1 = _mm256_add_ps(s1, _mm256_andnot_ps(sign, d));
	}
	return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

BRAINY_AVX2
static void
avx2_cosine_parts(const float *a, const float *b, int n,
				  float *dot, float *norm_a, float *norm_b)
{
	/* two accumulators per sum: six independent chains */
	__m256		ab0 = _mm256_setzero_ps();
	__m256		ab1 = _mm256_setzero_ps();
	__m256		aa0 = _mm256_setzero_ps();
	__m256		aa1 = _mm256_setzero_ps();
	__m256		bb0 = _mm256_setzero_ps();
	__m256		bb1 = _mm256_setzero_ps();
	int			i = 0;

	for (; n - i >= 16; i += 16)
	{
		__m256		x0 = _mm256_loadu_ps(a + i);
		__m256		y0 = _mm256_loadu_ps(b + i);
		__m256		x1 = _mm256_loadu_ps(a + i + 8);
		__m256		y1 = _mm256_loadu_ps(b + i + 8);

		ab0 = _mm256_fmadd_ps(x0, y0, ab0);
		aa0 = _mm256_fmadd_ps(x0, x0, aa0);
		bb0 = _mm256_fmadd_ps(y0, y0, bb0);
		ab1 = _mm256_fmadd_ps(x1, y1, ab1);
		aa1 = _mm256_fmadd_ps(x1, x1, aa1);
		bb1 = _mm256_fmadd_ps(y1, y1, bb1);
	}
	if (n - i >= 8)
	{
		__m256		x = _mm256_loadu_ps(a + i);
		__m256		y = _mm256_loadu_ps(b + i);

		ab0 = _mm256_fmadd_ps(x, y, ab0);
		aa0 = _mm256_fmadd_ps(x, x, aa0);
		bb0 = _mm256_fmadd_ps(y, y, bb0);
		i += 8;
	}
	if (i < n)
	{
		__m256i		m = tail_mask(n - i);
		__m256		x = _mm256_maskload_ps(a + i, m);
		__m256		y = _mm256_maskload_ps(b + i, m);

		ab1 = _mm256_fmadd_ps(x, y, ab1);
		aa1 = _mm256_fmadd_ps(x, x, aa1);
		bb1 = _mm256_fmadd_ps(y, y, bb1);
	}
	*dot = hsum(_mm256_add_ps(ab0, ab1));
	*norm_a = hsum(_mm256_add_ps(aa0, aa1));
	*norm_b = hsum(_mm256_add_ps(bb0, bb1));
}

/*
 * --- SQ8 kernels.  A code c of dimension i stands for lo[i] + step[i] * c.
 * Eight codes are one 8-byte load widened to 8 int32 lanes (vpmovzxbd, which
 * takes the load as its operand) and converted to 8 floats; the per-code work
 * is then convert, FMA, FMA for L2.  The last n % 8 codes are copied into a
 * zeroed 8-byte word, so no byte past c + n - 1 is ever read, and their float
 * operands come from masked loads (zeros in the unused lanes give zero terms).
 */

/* 8 unsigned bytes (the low 8 of x) as 8 floats. */
BRAINY_AVX2
static inline __m256
u8x8_to_ps(__m128i x)
{
	return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(x));
}

/* The 8 codes at p as 8 floats. */
BRAINY_AVX2
static inline __m256
codes8(const uint8_t *p)
{
	return u8x8_to_ps(_mm_loadl_epi64((const __m128i *) p));
}

/* The first r (1..7) bytes at p, then zeros; reads exactly r bytes. */
BRAINY_AVX2
static inline __m128i
tail_bytes(const uint8_t *p, int r)
{
	uint64_t	v = 0;

	memcpy(&v, p, (size_t) r);
	return _mm_cvtsi64_si128((long long) v);
}

/* |a - b| of the low 8 unsigned bytes, as 8 floats. */
BRAINY_AVX2
static inline __m256
absdiff8(__m128i a, __m128i b)
{
	return u8x8_to_ps(_mm_or_si128(_mm_subs_epu8(a, b), _mm_subs_epu8(b, a)));
}

BRAINY_AVX2
static inline __m128i
load8(const uint8_t *p)
{
	return _mm_loadl_epi64((const __m128i *) p);
}

BRAINY_AVX2
static float
avx2_sq8_l2_squared(const float *qlo, const float *step, const uint8_t *c, int n)
{
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	int			i = 0;

	/* d = qlo - step * c, sum d * d */
	for (; n - i >= 32; i += 32)
	{
		__m256		d0 = _mm256_fnmadd_ps(_mm256_loadu_ps(step + i), codes8(c + i),
										  _mm256_loadu_ps(qlo + i));
		__m256		d1 = _mm256_fnmadd_ps(_mm256_loadu_ps(step + i + 8), codes8(c + i + 8),
										  _mm256_loadu_ps(qlo + i + 8));
		__m256		d2 = _mm256_fnmadd_ps(_mm256_loadu_ps(step + i + 16), codes8(c + i + 16),
										  _mm256_loadu_ps(qlo + i + 16));
		__m256		d3 = _mm256_fnmadd_ps(_mm256_loadu_ps(step + i + 24), codes8(c + i + 24),
										  _mm256_loadu_ps(qlo + i + 24));

		s0 = _mm256_fmadd_ps(d0, d0, s0);
		s1 = _mm256_fmadd_ps(d1, d1, s1);
		s2 = _mm256_fmadd_ps(d2, d2, s2);
		s3 = _mm256_fmadd_ps(d3, d3, s3);
	}
	for (; n - i >= 8; i += 8)
	{
		__m256		d = _mm256_fnmadd_ps(_mm256_loadu_ps(step + i), codes8(c + i),
										 _mm256_loadu_ps(qlo + i));

		s0 = _mm256_fmadd_ps(d, d, s0);
	}
	if (i < n)
	{
		__m256i		m = tail_mask(n - i);
		__m256		d = _mm256_fnmadd_ps(_mm256_maskload_ps(step + i, m),
										 u8x8_to_ps(tail_bytes(c + i, n - i)),
										 _mm256_maskload_ps(qlo + i, m));

		s1 = _mm256_fmadd_ps(d, d, s1);
	}
	return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

BRAINY_AVX2
static float
avx2_sq8_dot(const float *w, const uint8_t *c, int n)
{
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	int			i = 0;

	for (; n - i >= 32; i += 32)
	{
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), codes8(c + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), codes8(c + i + 8), s1);
		s2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), codes8(c + i + 16), s2);
		s3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), codes8(c + i + 24), s3);
	}
	for (; n - i >= 8; i += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), codes8(c + i), s0);
	if (i < n)
	{
		__m256i		m = tail_mask(n - i);

		s1 = _mm256_fmadd_ps(_mm256_maskload_ps(w + i, m),
							 u8x8_to_ps(tail_bytes(c + i, n - i)), s1);
	}
	return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

BRAINY_AVX2
static float
avx2_sq8_l1(const float *qlo, const float *step, const uint8_t *c, int n)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	int			i = 0;

	for (; n - i >= 32; i += 32)
	{
		__m256		d0 = _mm256_fnmadd_ps(_mm256_loadu_ps(step + i), codes8(c + i),
										  _mm256_loadu_ps(qlo + i));
		__m256		d1 = _mm256_fnmadd_ps(_mm256_loadu_ps(step + i + 8), codes8(c + i + 8),
										  _mm256_loadu_ps(qlo + i + 8));
		__m256		d2 = _mm256_fnmadd_ps(_mm256_loadu_ps(step + i + 16), codes8(c + i + 16),
										  _mm256_loadu_ps(qlo + i + 16));
		__m256		d3 = _mm256_fnmadd_ps(_mm256_loadu_ps(step + i + 24), codes8(c + i + 24),
										  _mm256_loadu_ps(qlo + i + 24));

		s0 = _mm256_add_ps(s0, _mm256_andnot_ps(sign, d0));
		s1 = _mm256_add_ps(s1, _mm256_andnot_ps(sign, d1));
		s2 = _mm256_add_ps(s2, _mm256_andnot_ps(sign, d2));
		s3 = _mm256_add_ps(s3, _mm256_andnot_ps(sign, d3));
	}
	for (; n - i >= 8; i += 8)
	{
		__m256		d = _mm256_fnmadd_ps(_mm256_loadu_ps(step + i), codes8(c + i),
										 _mm256_loadu_ps(qlo + i));

		s0 = _mm256_add_ps(s0, _mm256_andnot_ps(sign, d));
	}
	if (i < n)
	{
		__m256i		m = tail_mask(n - i);
		__m256		d = _mm256_fnmadd_ps(_mm256_maskload_ps(step + i, m),
										 u8x8_to_ps(tail_bytes(c + i, n - i)),
										 _mm256_maskload_ps(qlo + i, m));

		s1 = _mm256_add_ps(s1, _mm256_andnot_ps(sign, d));
	}
	return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

/* |a - b| is computed on the bytes (two saturating subtractions), exactly. */
BRAINY_AVX2
static float
avx2_sq8_codes_l2_squared(const float *step, const uint8_t *a, const uint8_t *b,
						  int n)
{
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	int			i = 0;

	for (; n - i >= 32; i += 32)
	{
		__m256		d0 = _mm256_mul_ps(_mm256_loadu_ps(step + i),
									   absdiff8(load8(a + i), load8(b + i)));
		__m256		d1 = _mm256_mul_ps(_mm256_loadu_ps(step + i + 8),
									   absdiff8(load8(a + i + 8), load8(b + i + 8)));
		__m256		d2 = _mm256_mul_ps(_mm256_loadu_ps(step + i + 16),
									   absdiff8(load8(a + i + 16), load8(b + i + 16)));
		__m256		d3 = _mm256_mul_ps(_mm256_loadu_ps(step + i + 24),
									   absdiff8(load8(a + i + 24), load8(b + i + 24)));

		s0 = _mm256_fmadd_ps(d0, d0, s0);
		s1 = _mm256_fmadd_ps(d1, d1, s1);
		s2 = _mm256_fmadd_ps(d2, d2, s2);
		s3 = _mm256_fmadd_ps(d3, d3, s3);
	}
	for (; n - i >= 8; i += 8)
	{
		__m256		d = _mm256_mul_ps(_mm256_loadu_ps(step + i),
									  absdiff8(load8(a + i), load8(b + i)));

		s0 = _mm256_fmadd_ps(d, d, s0);
	}
	if (i < n)
	{
		__m256i		m = tail_mask(n - i);
		__m256		d = _mm256_mul_ps(_mm256_maskload_ps(step + i, m),
									  absdiff8(tail_bytes(a + i, n - i),
											   tail_bytes(b + i, n - i)));

		s1 = _mm256_fmadd_ps(d, d, s1);
	}
	return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

BRAINY_AVX2
static float
avx2_sq8_codes_inner_product(const float *lo, const float *step,
							 const uint8_t *a, const uint8_t *b, int n)
{
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	int			i = 0;

	/* x = lo + step * a, y = lo + step * b, sum x * y */
	for (; n - i >= 16; i += 16)
	{
		__m256		l0 = _mm256_loadu_ps(lo + i);
		__m256		t0 = _mm256_loadu_ps(step + i);
		__m256		l1 = _mm256_loadu_ps(lo + i + 8);
		__m256		t1 = _mm256_loadu_ps(step + i + 8);

		s0 = _mm256_fmadd_ps(_mm256_fmadd_ps(t0, codes8(a + i), l0),
							 _mm256_fmadd_ps(t0, codes8(b + i), l0), s0);
		s1 = _mm256_fmadd_ps(_mm256_fmadd_ps(t1, codes8(a + i + 8), l1),
							 _mm256_fmadd_ps(t1, codes8(b + i + 8), l1), s1);
	}
	if (n - i >= 8)
	{
		__m256		l = _mm256_loadu_ps(lo + i);
		__m256		t = _mm256_loadu_ps(step + i);

		s0 = _mm256_fmadd_ps(_mm256_fmadd_ps(t, codes8(a + i), l),
							 _mm256_fmadd_ps(t, codes8(b + i), l), s0);
		i += 8;
	}
	if (i < n)
	{
		__m256i		m = tail_mask(n - i);
		__m256		l = _mm256_maskload_ps(lo + i, m);
		__m256		t = _mm256_maskload_ps(step + i, m);

		s1 = _mm256_fmadd_ps(_mm256_fmadd_ps(t, u8x8_to_ps(tail_bytes(a + i, n - i)), l),
							 _mm256_fmadd_ps(t, u8x8_to_ps(tail_bytes(b + i, n - i)), l),
							 s1);
	}
	return hsum(_mm256_add_ps(s0, s1));
}

BRAINY_AVX2
static float
avx2_sq8_codes_l1(const float *step, const uint8_t *a, const uint8_t *b, int n)
{
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	int			i = 0;

	for (; n - i >= 32; i += 32)
	{
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(step + i),
							 absdiff8(load8(a + i), load8(b + i)), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(step + i + 8),
							 absdiff8(load8(a + i + 8), load8(b + i + 8)), s1);
		s2 = _mm256_fmadd_ps(_mm256_loadu_ps(step + i + 16),
							 absdiff8(load8(a + i + 16), load8(b + i + 16)), s2);
		s3 = _mm256_fmadd_ps(_mm256_loadu_ps(step + i + 24),
							 absdiff8(load8(a + i + 24), load8(b + i + 24)), s3);
	}
	for (; n - i >= 8; i += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(step + i),
							 absdiff8(load8(a + i), load8(b + i)), s0);
	if (i < n)
	{
		__m256i		m = tail_mask(n - i);

		s1 = _mm256_fmadd_ps(_mm256_maskload_ps(step + i, m),
							 absdiff8(tail_bytes(a + i, n - i),
									  tail_bytes(b + i, n - i)), s1);
	}
	return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

const BrainyKernels brainy_kernels_avx2 = {
	.name = "avx2",
	.l2_squared = avx2_l2_squared,
	.inner_product = avx2_inner_product,
	.l1 = avx2_l1,
	.cosine_parts = avx2_cosine_parts,
	.sq8_l2_squared = avx2_sq8_l2_squared,
	.sq8_dot = avx2_sq8_dot,
	.sq8_l1 = avx2_sq8_l1,
	.sq8_codes_l2_squared = avx2_sq8_codes_l2_squared,
	.sq8_codes_inner_product = avx2_sq8_codes_inner_product,
	.sq8_codes_l1 = avx2_sq8_codes_l1
};

#endif							/* x86-64 */
