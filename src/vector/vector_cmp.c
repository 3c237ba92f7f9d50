/*
 * vector_cmp.c - ordering, equality and hashing of vectors.
 *
 * Owns the btree support (element-wise order, then shorter first), the
 * comparison operators and the hash function, so ORDER BY, DISTINCT,
 * GROUP BY, unique indexes and hash joins work on vector columns.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"

#include "vector.h"

PG_FUNCTION_INFO_V1(brainy_vector_cmp);
PG_FUNCTION_INFO_V1(brainy_vector_eq);
PG_FUNCTION_INFO_V1(brainy_vector_ne);
PG_FUNCTION_INFO_V1(brainy_vector_lt);
PG_FUNCTION_INFO_V1(brainy_vector_le);
PG_FUNCTION_INFO_V1(brainy_vector_gt);
PG_FUNCTION_INFO_V1(brainy_vector_ge);
PG_FUNCTION_INFO_V1(brainy_vector_hash);
PG_FUNCTION_INFO_V1(brainy_vector_hash_extended);

/* Values are never NaN (input rejects it), so float order is total. */
static int
compare_vectors(const Vector *a, const Vector *b)
{
	int			n = Min(a->dim, b->dim);

	for (int i = 0; i < n; i++)
	{
		if (a->x[i] < b->x[i])
			return -1;
		if (a->x[i] > b->x[i])
			return 1;
	}
	if (a->dim < b->dim)
		return -1;
	if (a->dim > b->dim)
		return 1;
	return 0;
}

static int
compare_args(FunctionCallInfo fcinfo)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	int			result = compare_vectors(a, b);

	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return result;
}

Datum
brainy_vector_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(compare_args(fcinfo));
}

Datum
brainy_vector_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(compare_args(fcinfo) == 0);
}

Datum
brainy_vector_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(compare_args(fcinfo) != 0);
}

Datum
brainy_vector_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(compare_args(fcinfo) < 0);
}

Datum
brainy_vector_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(compare_args(fcinfo) <= 0);
}

Datum
brainy_vector_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(compare_args(fcinfo) > 0);
}

Datum
brainy_vector_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(compare_args(fcinfo) >= 0);
}

/*
 * Hash of the values, with -0 folded into +0 because they compare equal.
 * seed 0 gives the standard hash; the extended variant mixes in the seed.
 */
static uint64
hash_vector(const Vector *v, uint64 seed)
{
	uint64		h = hash_uint32_extended((uint32) v->dim, seed);

	for (int i = 0; i < v->dim; i++)
	{
		float		f = v->x[i] == 0.0f ? 0.0f : v->x[i];
		uint32		bits;

		memcpy(&bits, &f, sizeof(bits));
		h = hash_combine64(h, hash_uint32_extended(bits, seed));
	}
	return h;
}

Datum
brainy_vector_hash(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);

	PG_RETURN_INT32((int32) hash_vector(v, 0));
}

Datum
brainy_vector_hash_extended(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	uint64		seed = (uint64) PG_GETARG_INT64(1);

	PG_RETURN_INT64((int64) hash_vector(v, seed));
}
