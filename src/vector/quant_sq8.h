/*
 * quant_sq8.h - 8-bit scalar quantization (SQ8) of float vectors.
 *
 * Plain C: no PostgreSQL headers.  A quantizer maps dimension i of a vector
 * to one byte: the code c in 0..255 stands for lo[i] + step[i] * c.  It is
 * trained from a sample of vectors (the range of each dimension, widened by a
 * margin), so a stored vector takes dim bytes instead of 4 * dim, and the
 * distance kernels of distance.h (sq8_*) compare a float query with a code,
 * or two codes, without decoding.  The index traverses its graph on codes and
 * re-ranks the final candidates with the full vectors.
 *
 * Conventions (as the other plain-C modules)
 *
 *	- Fallible functions return BRAINY_SQ8_OK or a BRAINY_SQ8_E* code and,
 *	  when err is not NULL, write the code and a one-line message into *err.
 *	  Nothing here allocates memory, calls exit() or abort(); on error the
 *	  output arguments are left unchanged unless a function says otherwise.
 *	- A BrainySq8 is one block of brainy_sq8_size(dim) bytes, allocated by
 *	  the caller (malloc, palloc, ...); it holds no pointers, so it may be
 *	  copied with memcpy.
 *	- Under the cosine metric, train on and encode unit-length vectors and
 *	  use BRAINY_SQ8_IP (cosine distance = 1 - inner product; decoded
 *	  vectors are not exactly unit length, the IP bound below applies).
 *
 * Use in an index
 *
 *	Traverse the graph with brainy_sq8_adc() from the float query to each
 *	node's code (for L2, brainy_sq8_adc_norm() with a 4-byte norm stored per
 *	code is 1.4-1.7x faster at 784 dims: one FMA per dimension, not two),
 *	then re-rank the final candidates with the float kernels on the full
 *	vectors.  Neighbour selection compares stored vectors with each other:
 *	when only their codes are at hand, use brainy_sq8_sdc() for both sides
 *	of each comparison (candidate-candidate and candidate-base), so the
 *	heuristic compares like with like.
 *
 * Training
 *
 *	For each dimension, with min and max over the sample and r = max - min:
 *	lo = min - margin * r, hi = max + margin * r, step = (hi - lo) / 255.
 *	The margin (a fraction of the range, BRAINY_SQ8_DEFAULT_MARGIN = 1%)
 *	leaves room for values just outside the sample's range.  A constant
 *	dimension (r = 0, or a step that would be below FLT_MIN) gets a step of
 *	its own: the largest step of the other dimensions, at least 2^-20 of the
 *	value's magnitude (or, when every dimension is constant, the largest
 *	magnitude over all dimensions / 127, or 1/128 when all are 0), and lo is
 *	chosen so that the constant value is code 128 (it then decodes to itself
 *	up to float rounding).  Bounds are clamped to +-FLT_MAX, so lo, step and
 *	lo + 255 * step are always finite (<= FLT_MAX), and step > 0.
 *
 * Error bounds
 *
 *	Encoding rounds to the nearest code.  For an element x inside the
 *	trained range [lo, lo + 255 * step] (extended by step / 2 on both sides),
 *	the decoded value x' = lo + step * c satisfies
 *
 *		|x - x'| <= step / 2
 *
 *	(plus the float rounding of lo + step * c, at most 2^-24 |x'|).  An
 *	element outside is clamped to code 0 or 255: its error is its distance
 *	to lo or to lo + 255 * step, and brainy_sq8_encode() counts it.  NaN
 *	encodes as 0 (and is counted); callers reject non-finite vectors first.
 *
 *	With e_i = step_i / 2 and E = sqrt(sum e_i^2) (brainy_sq8_l2_error()),
 *	for a query q and a stored vector x whose elements are all in range,
 *	the asymmetric distances (to x') differ from the exact ones by at most
 *
 *		L2:      | |q - x'| - |q - x| | <= E, so for the squared distance
 *		         |d' - d| <= 2 E sqrt(d) + E^2
 *		IP:      |q.x' - q.x| <= sum |q_i| e_i
 *		L1:      | |q - x'|_1 - |q - x|_1 | <= sum e_i
 *
 *	and the symmetric (code-to-code) distances between two in-range
 *	vectors x, y by at most
 *
 *		L2:      | |x' - y'| - |x - y| | <= 2 E
 *		IP:      |x'.y' - x.y| <= sum (|x_i| + |y_i| + e_i) e_i
 *		L1:      | |x' - y'|_1 - |x - y|_1 | <= 2 sum e_i
 *
 *	plus float rounding, as in the float kernels: at most about 2 (n + 4)
 *	2^-23 times the sum over i of the terms' magnitudes, built from |q_i|,
 *	|lo_i| and 255 step_i (test_quant checks exactly this).  Clamped
 *	elements add their own errors on top.
 *
 * Serialised form (brainy_sq8_serialize, little-endian, 8 + 8 * dim bytes)
 *
 *	byte 0      version (BRAINY_SQ8_VERSION = 1)
 *	bytes 1-3   zero
 *	bytes 4-7   dim, uint32
 *	then        lo[0 .. dim-1], then step[0 .. dim-1], IEEE float32 each
 */
#ifndef BRAINY_QUANT_SQ8_H
#define BRAINY_QUANT_SQ8_H

#include <stddef.h>
#include <stdint.h>

#include "distance.h"

/* ---------------------------------------------------------------- status */

#define BRAINY_SQ8_OK		0
#define BRAINY_SQ8_EINVAL	1	/* invalid argument */
#define BRAINY_SQ8_EBLOB	2	/* a serialised quantizer failed validation */

#define BRAINY_SQ8_ERRMSG_LEN 160

typedef struct BrainySq8Error
{
	int			code;			/* BRAINY_SQ8_OK or the code last returned */
	char		message[BRAINY_SQ8_ERRMSG_LEN];	/* "" when code is OK */
} BrainySq8Error;

/* ------------------------------------------------------------ quantizer */

#define BRAINY_SQ8_MAX_DIM 16000
#define BRAINY_SQ8_VERSION 1
#define BRAINY_SQ8_BLOB_HEADER 8
#define BRAINY_SQ8_DEFAULT_MARGIN 0.01

typedef struct BrainySq8
{
	int32_t		dim;
	int32_t		training;		/* 1 between train_begin and train_end */
	uint64_t	n_trained;		/* vectors seen by training */
	float		values[];		/* lo[0 .. dim-1], then step[0 .. dim-1]
								 * (while training: min, then max) */
} BrainySq8;

static inline const float *
brainy_sq8_lo(const BrainySq8 *q)
{
	return q->values;
}

static inline const float *
brainy_sq8_step(const BrainySq8 *q)
{
	return q->values + q->dim;
}

/* Bytes of a BrainySq8 of dim dimensions; 0 when dim is out of range. */
extern size_t brainy_sq8_size(int dim);

/*
 * Train q (brainy_sq8_size(dim) bytes) on n >= 1 vectors of dim floats,
 * stored one after another in sample.  margin is the fraction of each
 * dimension's range added on both sides, 0 <= margin <= 1.  BRAINY_SQ8_EINVAL
 * for a bad argument or a non-finite sample element (named in the message).
 */
extern int	brainy_sq8_train(BrainySq8 *q, int dim, const float *sample,
							 size_t n, double margin, BrainySq8Error *err);

/*
 * The same, one vector at a time (for a sample that is streamed, such as a
 * table scan): begin, then add each vector, then end.  A vector rejected by
 * add (non-finite element) is not counted; end fails with BRAINY_SQ8_EINVAL
 * when no vector was added or margin is out of range.
 */
extern int	brainy_sq8_train_begin(BrainySq8 *q, int dim, BrainySq8Error *err);
extern int	brainy_sq8_train_add(BrainySq8 *q, const float *v, BrainySq8Error *err);
extern int	brainy_sq8_train_end(BrainySq8 *q, double margin, BrainySq8Error *err);

/*
 * Encode v (dim floats) into code (dim bytes) of a trained q.  Returns the
 * number of elements outside the trained range (clamped, error above
 * step / 2), NaN included.
 */
extern int	brainy_sq8_encode(const BrainySq8 *q, const float *v, uint8_t *code);

/* Decode code (dim bytes) into out (dim floats): lo + step * code. */
extern void brainy_sq8_decode(const BrainySq8 *q, const uint8_t *code, float *out);

/* E = sqrt(sum (step_i / 2)^2), the largest L2 error of an in-range vector. */
extern double brainy_sq8_l2_error(const BrainySq8 *q);

/*
 * sum of (step_i * code_i)^2: the per-vector term of brainy_sq8_adc_norm's
 * faster L2.  Compute it once when encoding and store it (4 bytes) beside
 * the code.
 */
extern float brainy_sq8_code_norm(const BrainySq8 *q, const uint8_t *code);

/* ------------------------------------------------------ serialised form */

/* Bytes of the serialised form of a dim-dimensional quantizer (0 if bad). */
extern size_t brainy_sq8_blob_size(int dim);

/* Write the brainy_sq8_blob_size(q->dim) bytes of trained q into buf. */
extern void brainy_sq8_serialize(const BrainySq8 *q, void *buf);

/*
 * Check the header of a serialised quantizer of len bytes (version, reserved
 * bytes, dim, exact length) and set *dim, so the caller can allocate
 * brainy_sq8_size(*dim).  BRAINY_SQ8_EBLOB when it is not valid.
 */
extern int	brainy_sq8_blob_dim(const void *blob, size_t len, int *dim,
								BrainySq8Error *err);

/*
 * Load a serialised quantizer into q (q_size bytes of room).  Validates
 * everything brainy_sq8_blob_dim does, plus every value: lo finite, step
 * finite and > 0, lo + 255 * step <= FLT_MAX.  BRAINY_SQ8_EBLOB when the blob is
 * not valid, BRAINY_SQ8_EINVAL when q_size is too small; q is unchanged on
 * error.
 */
extern int	brainy_sq8_deserialize(const void *blob, size_t len, BrainySq8 *q,
								   size_t q_size, BrainySq8Error *err);

/* ------------------------------------------------------------ distances */

/* What brainy_sq8_adc and brainy_sq8_sdc return, like the float kernels. */
typedef enum BrainySq8Kind
{
	BRAINY_SQ8_L2 = 0,			/* squared Euclidean distance */
	BRAINY_SQ8_IP = 1,			/* inner product (not negated) */
	BRAINY_SQ8_L1 = 2			/* sum of absolute differences */
} BrainySq8Kind;

/*
 * A query prepared for asymmetric distances (ADC) to codes: the per-query
 * terms are computed once, so each code costs one pass of a sq8_* kernel.
 * prep points into the caller's buffer of 2 * dim floats; the BrainySq8Query
 * is valid while q, that buffer and the kernel table are.
 */
typedef struct BrainySq8Query
{
	const BrainyKernels *k;
	const float *step;
	const float *prep;			/* query - lo (L2, L1), query * step (IP) */
	const float *w2;			/* L2: -2 * (query - lo) * step; else NULL */
	float		bias;			/* IP: sum of query * lo; L2: sum of (query -
								 * lo)^2; else 0 */
	int			dim;
	BrainySq8Kind kind;
} BrainySq8Query;

/*
 * Prepare query (dim floats, all finite) for distances of the given kind to
 * codes of q, using kernel table k (brainy_kernels() normally) and buf
 * (2 * dim floats).  BRAINY_SQ8_EINVAL for a bad argument or a non-finite
 * element.
 */
extern int	brainy_sq8_query_init(BrainySq8Query *qq, const BrainySq8 *q,
								  const BrainyKernels *k, BrainySq8Kind kind,
								  const float *query, float *buf,
								  BrainySq8Error *err);

/*
 * Distance of the prepared query to the vector encoded as code: the value
 * the float kernel of the kind (l2_squared, inner_product, l1) gives for the
 * query and the decoded vector, up to float rounding.
 */
static inline float
brainy_sq8_adc(const BrainySq8Query *qq, const uint8_t *code)
{
	switch (qq->kind)
	{
		case BRAINY_SQ8_L2:
			return qq->k->sq8_l2_squared(qq->prep, qq->step, code, qq->dim);
		case BRAINY_SQ8_IP:
			return qq->bias + qq->k->sq8_dot(qq->prep, code, qq->dim);
		case BRAINY_SQ8_L1:
		default:
			return qq->k->sq8_l1(qq->prep, qq->step, code, qq->dim);
	}
}

/*
 * The same distance, given the code's brainy_sq8_code_norm().  For L2 this
 * expands |q - x'|^2 = |q - lo|^2 + code_norm - 2 sum (q - lo) step c, so
 * each code costs one FMA per dimension (the sq8_dot kernel) instead of two;
 * the expansion cancels, but its float rounding, about 2^-24 (|q - lo|^2 +
 * code_norm) times a small factor, stays far below the quantization error
 * (see the error bounds).  The result is clamped at 0.  For IP and L1,
 * code_norm is ignored and this is brainy_sq8_adc().
 */
static inline float
brainy_sq8_adc_norm(const BrainySq8Query *qq, const uint8_t *code,
					float code_norm)
{
	if (qq->kind == BRAINY_SQ8_L2)
	{
		float		d = qq->bias + code_norm + qq->k->sq8_dot(qq->w2, code, qq->dim);

		return d > 0.0f ? d : 0.0f;
	}
	return brainy_sq8_adc(qq, code);
}

/*
 * Distance between two vectors encoded as a and b (symmetric, SDC): the
 * float kernel of the kind applied to the two decoded vectors, up to float
 * rounding.  For comparing stored vectors with each other (neighbour
 * selection) when only their codes are at hand.
 */
extern float brainy_sq8_sdc(const BrainySq8 *q, const BrainyKernels *k,
							BrainySq8Kind kind, const uint8_t *a,
							const uint8_t *b);

#endif							/* BRAINY_QUANT_SQ8_H */
