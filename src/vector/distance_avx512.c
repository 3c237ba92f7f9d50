/*
 * distance_avx512.c - AVX-512F implementation of the kernels.
 *
 * Like distance_avx2.c: per-function target attributes, no global -m flags.
 * Main loops use four independent accumulators of 16 floats, then one vector
 * at a time, then a single masked load for the last n % 16 elements (masked
 * lanes are neither read nor faulted on).  The SQ8 kernels (codes of 8-bit
 * scalar quantization) are at the end.
 */
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

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

/*
 * --- SQ8 kernels.  A code c of dimension i stands for lo[i] + step[i] * c.
 * Sixteen codes are one 16-byte load widened to 16 int32 lanes (vpmovzxbd,
 * taking the load as its operand) and converted to 16 floats; the per-code
 * work is then convert, FMA, FMA for L2.  Byte-masked loads need AVX-512BW,
 * which this table does not require, so the last n % 16 codes are copied into
 * a zeroed 16-byte buffer (no byte past c + n - 1 is read); their float
 * operands come from masked loads.
 */

/* 16 unsigned bytes as 16 floats. */
BRAINY_AVX512
static inline __m512
u8x16_to_ps(__m128i x)
{
	return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(x));
}

BRAINY_AVX512
static inline __m128i
load16(const uint8_t *p)
{
	return _mm_loadu_si128((const __m128i *) p);
}

/* The 16 codes at p as 16 floats. */
BRAINY_AVX512
static inline __m512
codes16(const uint8_t *p)
{
	return u8x16_to_ps(load16(p));
}

/* The first r (1..15) bytes at p, then zeros; reads exactly r bytes. */
BRAINY_AVX512
static inline __m128i
tail_bytes(const uint8_t *p, int r)
{
	uint8_t		buf[16] = {0};

	memcpy(buf, p, (size_t) r);
	return _mm_loadu_si128((const __m128i *) buf);
}

/* |a - b| of 16 unsigned bytes, as 16 floats. */
BRAINY_AVX512
static inline __m512
absdiff16(__m128i a, __m128i b)
{
	return u8x16_to_ps(_mm_or_si128(_mm_subs_epu8(a, b), _mm_subs_epu8(b, a)));
}

BRAINY_AVX512
static float
avx512_sq8_l2_squared(const float *qlo, const float *step, const uint8_t *c,
					  int n)
{
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	int			i = 0;

	/* d = qlo - step * c, sum d * d */
	for (; n - i >= 64; i += 64)
	{
		__m512		d0 = _mm512_fnmadd_ps(_mm512_loadu_ps(step + i), codes16(c + i),
										  _mm512_loadu_ps(qlo + i));
		__m512		d1 = _mm512_fnmadd_ps(_mm512_loadu_ps(step + i + 16), codes16(c + i + 16),
										  _mm512_loadu_ps(qlo + i + 16));
		__m512		d2 = _mm512_fnmadd_ps(_mm512_loadu_ps(step + i + 32), codes16(c + i + 32),
										  _mm512_loadu_ps(qlo + i + 32));
		__m512		d3 = _mm512_fnmadd_ps(_mm512_loadu_ps(step + i + 48), codes16(c + i + 48),
										  _mm512_loadu_ps(qlo + i + 48));

		s0 = _mm512_fmadd_ps(d0, d0, s0);
		s1 = _mm512_fmadd_ps(d1, d1, s1);
		s2 = _mm512_fmadd_ps(d2, d2, s2);
		s3 = _mm512_fmadd_ps(d3, d3, s3);
	}
	for (; n - i >= 16; i += 16)
	{
		__m512		d = _mm512_fnmadd_ps(_mm512_loadu_ps(step + i), codes16(c + i),
										 _mm512_loadu_ps(qlo + i));

		s0 = _mm512_fmadd_ps(d, d, s0);
	}
	if (i < n)
	{
		__mmask16	m = TAIL_MASK(n - i);
		__m512		d = _mm512_fnmadd_ps(_mm512_maskz_loadu_ps(m, step + i),
										 u8x16_to_ps(tail_bytes(c + i, n - i)),
										 _mm512_maskz_loadu_ps(m, qlo + i));

		s1 = _mm512_fmadd_ps(d, d, s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1),
											  _mm512_add_ps(s2, s3)));
}

BRAINY_AVX512
static float
avx512_sq8_dot(const float *w, const uint8_t *c, int n)
{
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	int			i = 0;

	for (; n - i >= 64; i += 64)
	{
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), codes16(c + i), s0);
		s1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), codes16(c + i + 16), s1);
		s2 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 32), codes16(c + i + 32), s2);
		s3 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 48), codes16(c + i + 48), s3);
	}
	for (; n - i >= 16; i += 16)
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), codes16(c + i), s0);
	if (i < n)
	{
		__mmask16	m = TAIL_MASK(n - i);

		s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + i),
							 u8x16_to_ps(tail_bytes(c + i, n - i)), s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1),
											  _mm512_add_ps(s2, s3)));
}

BRAINY_AVX512
static float
avx512_sq8_l1(const float *qlo, const float *step, const uint8_t *c, int n)
{
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	int			i = 0;

	for (; n - i >= 64; i += 64)
	{
		__m512		d0 = _mm512_fnmadd_ps(_mm512_loadu_ps(step + i), codes16(c + i),
										  _mm512_loadu_ps(qlo + i));
		__m512		d1 = _mm512_fnmadd_ps(_mm512_loadu_ps(step + i + 16), codes16(c + i + 16),
										  _mm512_loadu_ps(qlo + i + 16));
		__m512		d2 = _mm512_fnmadd_ps(_mm512_loadu_ps(step + i + 32), codes16(c + i + 32),
										  _mm512_loadu_ps(qlo + i + 32));
		__m512		d3 = _mm512_fnmadd_ps(_mm512_loadu_ps(step + i + 48), codes16(c + i + 48),
										  _mm512_loadu_ps(qlo + i + 48));

		s0 = _mm512_add_ps(s0, _mm512_abs_ps(d0));
		s1 = _mm512_add_ps(s1, _mm512_abs_ps(d1));
		s2 = _mm512_add_ps(s2, _mm512_abs_ps(d2));
		s3 = _mm512_add_ps(s3, _mm512_abs_ps(d3));
	}
	for (; n - i >= 16; i += 16)
	{
		__m512		d = _mm512_fnmadd_ps(_mm512_loadu_ps(step + i), codes16(c + i),
										 _mm512_loadu_ps(qlo + i));

		s0 = _mm512_add_ps(s0, _mm512_abs_ps(d));
	}
	if (i < n)
	{
		__mmask16	m = TAIL_MASK(n - i);
		__m512		d = _mm512_fnmadd_ps(_mm512_maskz_loadu_ps(m, step + i),
										 u8x16_to_ps(tail_bytes(c + i, n - i)),
										 _mm512_maskz_loadu_ps(m, qlo + i));

		s1 = _mm512_add_ps(s1, _mm512_abs_ps(d));
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1),
											  _mm512_add_ps(s2, s3)));
}

/* |a - b| is computed on the bytes (two saturating subtractions), exactly. */
BRAINY_AVX512
static float
avx512_sq8_codes_l2_squared(const float *step, const uint8_t *a,
							const uint8_t *b, int n)
{
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	int			i = 0;

	for (; n - i >= 64; i += 64)
	{
		__m512		d0 = _mm512_mul_ps(_mm512_loadu_ps(step + i),
									   absdiff16(load16(a + i), load16(b + i)));
		__m512		d1 = _mm512_mul_ps(_mm512_loadu_ps(step + i + 16),
									   absdiff16(load16(a + i + 16), load16(b + i + 16)));
		__m512		d2 = _mm512_mul_ps(_mm512_loadu_ps(step + i + 32),
									   absdiff16(load16(a + i + 32), load16(b + i + 32)));
		__m512		d3 = _mm512_mul_ps(_mm512_loadu_ps(step + i + 48),
									   absdiff16(load16(a + i + 48), load16(b + i + 48)));

		s0 = _mm512_fmadd_ps(d0, d0, s0);
		s1 = _mm512_fmadd_ps(d1, d1, s1);
		s2 = _mm512_fmadd_ps(d2, d2, s2);
		s3 = _mm512_fmadd_ps(d3, d3, s3);
	}
	for (; n - i >= 16; i += 16)
	{
		__m512		d = _mm512_mul_ps(_mm512_loadu_ps(step + i),
									  absdiff16(load16(a + i), load16(b + i)));

		s0 = _mm512_fmadd_ps(d, d, s0);
	}
	if (i < n)
	{
		__mmask16	m = TAIL_MASK(n - i);
		__m512		d = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, step + i),
									  absdiff16(tail_bytes(a + i, n - i),
												tail_bytes(b + i, n - i)));

		s1 = _mm512_fmadd_ps(d, d, s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1),
											  _mm512_add_ps(s2, s3)));
}

BRAINY_AVX512
static float
avx512_sq8_codes_inner_product(const float *lo, const float *step,
							   const uint8_t *a, const uint8_t *b, int n)
{
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	int			i = 0;

	/* x = lo + step * a, y = lo + step * b, sum x * y */
	for (; n - i >= 32; i += 32)
	{
		__m512		l0 = _mm512_loadu_ps(lo + i);
		__m512		t0 = _mm512_loadu_ps(step + i);
		__m512		l1 = _mm512_loadu_ps(lo + i + 16);
		__m512		t1 = _mm512_loadu_ps(step + i + 16);

		s0 = _mm512_fmadd_ps(_mm512_fmadd_ps(t0, codes16(a + i), l0),
							 _mm512_fmadd_ps(t0, codes16(b + i), l0), s0);
		s1 = _mm512_fmadd_ps(_mm512_fmadd_ps(t1, codes16(a + i + 16), l1),
							 _mm512_fmadd_ps(t1, codes16(b + i + 16), l1), s1);
	}
	if (n - i >= 16)
	{
		__m512		l = _mm512_loadu_ps(lo + i);
		__m512		t = _mm512_loadu_ps(step + i);

		s0 = _mm512_fmadd_ps(_mm512_fmadd_ps(t, codes16(a + i), l),
							 _mm512_fmadd_ps(t, codes16(b + i), l), s0);
		i += 16;
	}
	if (i < n)
	{
		__mmask16	m = TAIL_MASK(n - i);
		__m512		l = _mm512_maskz_loadu_ps(m, lo + i);
		__m512		t = _mm512_maskz_loadu_ps(m, step + i);

		s1 = _mm512_fmadd_ps(_mm512_fmadd_ps(t, u8x16_to_ps(tail_bytes(a + i, n - i)), l),
							 _mm512_fmadd_ps(t, u8x16_to_ps(tail_bytes(b + i, n - i)), l),
							 s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

BRAINY_AVX512
static float
avx512_sq8_codes_l1(const float *step, const uint8_t *a, const uint8_t *b,
					int n)
{
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	int			i = 0;

	for (; n - i >= 64; i += 64)
	{
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(step + i),
							 absdiff16(load16(a + i), load16(b + i)), s0);
		s1 = _mm512_fmadd_ps(_mm512_loadu_ps(step + i + 16),
							 absdiff16(load16(a + i + 16), load16(b + i + 16)), s1);
		s2 = _mm512_fmadd_ps(_mm512_loadu_ps(step + i + 32),
							 absdiff16(load16(a + i + 32), load16(b + i + 32)), s2);
		s3 = _mm512_fmadd_ps(_mm512_loadu_ps(step + i + 48),
							 absdiff16(load16(a + i + 48), load16(b + i + 48)), s3);
	}
	for (; n - i >= 16; i += 16)
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(step + i),
							 absdiff16(load16(a + i), load16(b + i)), s0);
	if (i < n)
	{
		__mmask16	m = TAIL_MASK(n - i);

		s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, step + i),
							 absdiff16(tail_bytes(a + i, n - i),
									   tail_bytes(b + i, n - i)), s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1),
											  _mm512_add_ps(s2, s3)));
}

const BrainyKernels brainy_kernels_avx512 = {
	.name = "avx512",
	.l2_squared = avx512_l2_squared,
	.inner_product = avx512_inner_product,
	.l1 = avx512_l1,
	.cosine_parts = avx512_cosine_parts,
	.sq8_l2_squared = avx512_sq8_l2_squared,
	.sq8_dot = avx512_sq8_dot,
	.sq8_l1 = avx512_sq8_l1,
	.sq8_codes_l2_squared = avx512_sq8_codes_l2_squared,
	.sq8_codes_inner_product = avx512_sq8_codes_inner_product,
	.sq8_codes_l1 = avx512_sq8_codes_l1
};

#endif							/* x86-64 */
