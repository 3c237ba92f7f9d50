/*
 * vector_ops.c - distances and arithmetic on vectors.
 *
 * Owns the distance functions behind <-> <=> <#> <+> (computed by the
 * kernels chosen for this CPU), vector_dims/vector_norm/l2_normalize,
 * subvector, concatenation and the element-wise + - * operators with their
 * overflow checks.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/float.h"

#include "vector.h"

PG_FUNCTION_INFO_V1(brainy_vector_l2_distance);
PG_FUNCTION_INFO_V1(brainy_vector_l2_squared_distance);
PG_FUNCTION_INFO_V1(brainy_vector_inner_product);
PG_FUNCTION_INFO_V1(brainy_vector_negative_inner_product);
PG_FUNCTION_INFO_V1(brainy_vector_cosine_distance);
PG_FUNCTION_INFO_V1(brainy_vector_l1_distance);
PG_FUNCTION_INFO_V1(brainy_vector_dims);
PG_FUNCTION_INFO_V1(brainy_vector_norm);
PG_FUNCTION_INFO_V1(brainy_vector_l2_normalize);
PG_FUNCTION_INFO_V1(brainy_vector_subvector);
PG_FUNCTION_INFO_V1(brainy_vector_concat);
PG_FUNCTION_INFO_V1(brainy_vector_add);
PG_FUNCTION_INFO_V1(brainy_vector_sub);
PG_FUNCTION_INFO_V1(brainy_vector_mul);

void
vector_check_same_dim(const Vector *a, const Vector *b)
{
	if (a->dim != b->dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different vector dimensions %d and %d", a->dim, b->dim)));
}

/* The two arguments of a distance function, of equal dimensions. */
static void
distance_args(FunctionCallInfo fcinfo, Vector **a, Vector **b)
{
	*a = vector_arg(fcinfo, 0);
	*b = vector_arg(fcinfo, 1);
	vector_check_same_dim(*a, *b);
}

/* The two arguments of an element-wise operator, of equal dimensions. */
static void
elementwise_args(FunctionCallInfo fcinfo, Vector **a, Vector **b)
{
	*a = PG_GETARG_VECTOR_P(0);
	*b = PG_GETARG_VECTOR_P(1);
	vector_check_same_dim(*a, *b);
}

/*
 * The kernels accumulate in float for speed.  Only vectors with elements
 * near the float4 limit can overflow that (the true result still fits a
 * double), so a non-finite kernel result is recomputed in double: a branch
 * that is never taken on ordinary data.
 */
static double
l2_squared(const Vector *a, const Vector *b)
{
	float		fast = brainy_active_kernels->l2_squared(a->x, b->x, a->dim);
	double		sum = 0.0;

	if (isfinite(fast))
		return (double) fast;
	for (int i = 0; i < a->dim; i++)
	{
		double		d = (double) a->x[i] - (double) b->x[i];

		sum += d * d;
	}
	return sum;
}

static double
inner_product(const Vector *a, const Vector *b)
{
	float		fast = brainy_active_kernels->inner_product(a->x, b->x, a->dim);
	double		sum = 0.0;

	if (isfinite(fast))
		return (double) fast;
	for (int i = 0; i < a->dim; i++)
		sum += (double) a->x[i] * (double) b->x[i];
	return sum;
}

static double
l1_distance(const Vector *a, const Vector *b)
{
	float		fast = brainy_active_kernels->l1(a->x, b->x, a->dim);
	double		sum = 0.0;

	if (isfinite(fast))
		return (double) fast;
	for (int i = 0; i < a->dim; i++)
		sum += fabs((double) a->x[i] - (double) b->x[i]);
	return sum;
}

/* cos(a, b); NaN when either vector is zero. */
static double
cosine_similarity(const Vector *a, const Vector *b)
{
	float		dot;
	float		norm_a;
	float		norm_b;
	double		ddot = 0.0;
	double		dnorm_a = 0.0;
	double		dnorm_b = 0.0;

	brainy_active_kernels->cosine_parts(a->x, b->x, a->dim, &dot, &norm_a, &norm_b);
	if (isfinite(dot) && isfinite(norm_a) && isfinite(norm_b))
		return (double) dot / sqrt((double) norm_a * (double) norm_b);
	for (int i = 0; i < a->dim; i++)
	{
		ddot += (double) a->x[i] * (double) b->x[i];
		dnorm_a += (double) a->x[i] * (double) a->x[i];
		dnorm_b += (double) b->x[i] * (double) b->x[i];
	}
	return ddot / (sqrt(dnorm_a) * sqrt(dnorm_b));
}

Datum
brainy_vector_l2_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a;
	Vector	   *b;

	distance_args(fcinfo, &a, &b);
	PG_RETURN_FLOAT8(sqrt(l2_squared(a, b)));
}

/* Squared L2: same order as L2 without the square root (for indexes). */
Datum
brainy_vector_l2_squared_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a;
	Vector	   *b;

	distance_args(fcinfo, &a, &b);
	PG_RETURN_FLOAT8(l2_squared(a, b));
}

Datum
brainy_vector_inner_product(PG_FUNCTION_ARGS)
{
	Vector	   *a;
	Vector	   *b;

	distance_args(fcinfo, &a, &b);
	PG_RETURN_FLOAT8(inner_product(a, b));
}

/* <#>: negated so that ascending order puts the largest product first. */
Datum
brainy_vector_negative_inner_product(PG_FUNCTION_ARGS)
{
	Vector	   *a;
	Vector	   *b;

	distance_args(fcinfo, &a, &b);
	PG_RETURN_FLOAT8(-inner_product(a, b));
}

/*
 * 1 - cos(a, b), in [0, 2].  With a zero vector the angle is undefined and
 * the result is NaN (as in pgvector), which sorts after every number.
 */
Datum
brainy_vector_cosine_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a;
	Vector	   *b;
	double		similarity;

	distance_args(fcinfo, &a, &b);
	similarity = cosine_similarity(a, b);
	if (isnan(similarity))
		PG_RETURN_FLOAT8(get_float8_nan());
	/* rounding can push |similarity| slightly past 1 */
	if (similarity > 1.0)
		similarity = 1.0;
	else if (similarity < -1.0)
		similarity = -1.0;
	PG_RETURN_FLOAT8(1.0 - similarity);
}

Datum
brainy_vector_l1_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a;
	Vector	   *b;

	distance_args(fcinfo, &a, &b);
	PG_RETURN_FLOAT8(l1_distance(a, b));
}

Datum
brainy_vector_dims(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);

	PG_RETURN_INT32(a->dim);
}

/* Euclidean norm, accumulated in double. */
static double
norm_of(const Vector *a)
{
	double		sum = 0.0;

	for (int i = 0; i < a->dim; i++)
		sum += (double) a->x[i] * (double) a->x[i];
	return sqrt(sum);
}

Datum
brainy_vector_norm(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);

	PG_RETURN_FLOAT8(norm_of(a));
}

/* a / |a|; the zero vector is returned unchanged. */
Datum
brainy_vector_l2_normalize(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *result = vector_new(a->dim);
	double		norm = norm_of(a);

	if (norm > 0)
		for (int i = 0; i < a->dim; i++)
			result->x[i] = (float) ((double) a->x[i] / norm);
	PG_RETURN_VECTOR_P(result);
}

/*
 * subvector(v, start, count): the elements start .. start + count - 1
 * (1-based), clipped to the vector like substring() clips a string.  An
 * empty result, or a negative count, is an error.
 */
Datum
brainy_vector_subvector(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	int32		start = PG_GETARG_INT32(1);
	int32		count = PG_GETARG_INT32(2);
	int64		first;
	int64		end;			/* one past the last, 1-based */
	Vector	   *result;

	if (count < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("subvector count must not be negative")));
	first = Max((int64) start, 1);
	end = Min((int64) start + count, (int64) a->dim + 1);
	if (end <= first)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("subvector out of range: start %d, count %d on a vector of %d dimensions",
						start, count, a->dim),
				 errhint("The result must have at least 1 dimension.")));
	result = vector_new((int) (end - first));
	memcpy(result->x, a->x + (first - 1), sizeof(float) * result->dim);
	PG_RETURN_VECTOR_P(result);
}

Datum
brainy_vector_concat(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *result;

	vector_check_dim(a->dim + b->dim);
	result = vector_new(a->dim + b->dim);
	memcpy(result->x, a->x, sizeof(float) * a->dim);
	memcpy(result->x + a->dim, b->x, sizeof(float) * b->dim);
	PG_RETURN_VECTOR_P(result);
}

/*
 * Element-wise arithmetic.  Overflow (an infinite result) and underflow (a
 * zero product of non-zero factors) are errors, as for float4.
 */
static void
check_no_overflow(const Vector *r)
{
	for (int i = 0; i < r->dim; i++)
		if (isinf(r->x[i]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("value out of range: overflow")));
}

Datum
brainy_vector_add(PG_FUNCTION_ARGS)
{
	Vector	   *a;
	Vector	   *b;
	Vector	   *r;

	elementwise_args(fcinfo, &a, &b);
	r = vector_new(a->dim);
	for (int i = 0; i < a->dim; i++)
		r->x[i] = a->x[i] + b->x[i];
	check_no_overflow(r);
	PG_RETURN_VECTOR_P(r);
}

Datum
brainy_vector_sub(PG_FUNCTION_ARGS)
{
	Vector	   *a;
	Vector	   *b;
	Vector	   *r;

	elementwise_args(fcinfo, &a, &b);
	r = vector_new(a->dim);
	for (int i = 0; i < a->dim; i++)
		r->x[i] = a->x[i] - b->x[i];
	check_no_overflow(r);
	PG_RETURN_VECTOR_P(r);
}

Datum
brainy_vector_mul(PG_FUNCTION_ARGS)
{
	Vector	   *a;
	Vector	   *b;
	Vector	   *r;

	elementwise_args(fcinfo, &a, &b);
	r = vector_new(a->dim);
	for (int i = 0; i < a->dim; i++)
		r->x[i] = a->x[i] * b->x[i];
	check_no_overflow(r);
	for (int i = 0; i < a->dim; i++)
		if (r->x[i] == 0.0f && a->x[i] != 0.0f && b->x[i] != 0.0f)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("value out of range: underflow")));
	PG_RETURN_VECTOR_P(r);
}
