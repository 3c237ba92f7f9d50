/*
 * distance.h - the distance kernels shared by the vector type and the engine.
 *
 * Plain C: no PostgreSQL headers.  A BrainyKernels table bundles one
 * implementation of every kernel; there is one table per instruction set
 * (scalar, AVX2+FMA, AVX-512F).  brainy_kernels() returns the best table the
 * running CPU supports; it is chosen once, by CPU detection at run time, never
 * by the compiler flags of the build machine.
 *
 * The float kernels take two arrays of n >= 0 floats and accumulate in float,
 * like pgvector, so results agree with it to rounding.
 *
 * The sq8_* kernels serve 8-bit scalar quantization (quant_sq8.h): dimension
 * i of a stored vector is a code c[i] in 0..255 that stands for the float
 * lo[i] + step[i] * c[i].  They compute distances to that decoded vector
 * without materialising it, also accumulating in float.  Asymmetric kernels
 * take the query as floats prepared once per query (quant_sq8.c: qlo = query
 * - lo, or w = query * step); the codes_* kernels take two stored vectors.
 * Codes need no alignment; every kernel reads exactly n codes.
 */
#ifndef BRAINY_DISTANCE_H
#define BRAINY_DISTANCE_H

#include <stdint.h>

typedef struct BrainyKernels
{
	const char *name;			/* "scalar", "avx2", "avx512" */
	/* sum of (a[i] - b[i])^2 */
	float		(*l2_squared) (const float *a, const float *b, int n);
	/* sum of a[i] * b[i] */
	float		(*inner_product) (const float *a, const float *b, int n);
	/* sum of |a[i] - b[i]| */
	float		(*l1) (const float *a, const float *b, int n);
	/* dot = sum a*b, norm_a = sum a*a, norm_b = sum b*b, in one pass */
	void		(*cosine_parts) (const float *a, const float *b, int n,
								 float *dot, float *norm_a, float *norm_b);

	/* --- SQ8, query as floats, stored vector as codes c --- */
	/* sum of (qlo[i] - step[i] * c[i])^2 */
	float		(*sq8_l2_squared) (const float *qlo, const float *step,
								   const uint8_t *c, int n);
	/* sum of w[i] * c[i] */
	float		(*sq8_dot) (const float *w, const uint8_t *c, int n);
	/* sum of |qlo[i] - step[i] * c[i]| */
	float		(*sq8_l1) (const float *qlo, const float *step,
						   const uint8_t *c, int n);

	/* --- SQ8, both vectors as codes a and b --- */
	/* sum of (step[i] * (a[i] - b[i]))^2 */
	float		(*sq8_codes_l2_squared) (const float *step, const uint8_t *a,
										 const uint8_t *b, int n);
	/* sum of (lo[i] + step[i] * a[i]) * (lo[i] + step[i] * b[i]) */
	float		(*sq8_codes_inner_product) (const float *lo, const float *step,
											const uint8_t *a, const uint8_t *b,
											int n);
	/* sum of step[i] * |a[i] - b[i]| */
	float		(*sq8_codes_l1) (const float *step, const uint8_t *a,
								 const uint8_t *b, int n);
} BrainyKernels;

extern const BrainyKernels brainy_kernels_scalar;
#if defined(__x86_64__) || defined(_M_X64)
#define BRAINY_HAVE_X86_KERNELS 1
extern const BrainyKernels brainy_kernels_avx2;
extern const BrainyKernels brainy_kernels_avx512;
#endif

/* Does the running CPU (and OS) support this table's instructions? */
int			brainy_kernels_supported(const BrainyKernels *k);

/* The best supported table; detected on first call, then cached. */
const BrainyKernels *brainy_kernels(void);

/* Every table compiled into this build, NULL-terminated (for tests/bench). */
const BrainyKernels *const *brainy_kernels_all(void);

#endif							/* BRAINY_DISTANCE_H */
