/*
 * vector_cast.c - casts between vector and SQL arrays.
 *
 * Owns the conversions from integer[], real[], double precision[] and
 * numeric[] to vector(n) (one-dimensional, no NULLs, finite values within
 * float4 range) and from vector back to each of those array types.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "vector.h"

PG_FUNCTION_INFO_V1(brainy_array_to_vector);
PG_FUNCTION_INFO_V1(brainy_vector_to_float4);
PG_FUNCTION_INFO_V1(brainy_vector_to_float8);
PG_FUNCTION_INFO_V1(brainy_vector_to_int4);
PG_FUNCTION_INFO_V1(brainy_vector_to_numeric);

/* A double that must fit float4 exactly as float4 casts demand. */
static float
double_to_element(double d)
{
	float		f;

	if (isnan(d) || isinf(d))
		vector_check_element((float) d);
	f = (float) d;
	if (isinf(f))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("value out of range: overflow")));
	if (f == 0.0f && d != 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("value out of range: underflow")));
	return f;
}

/* array_to_vector(anyarray, typmod, explicit): the cast from arrays. */
Datum
brainy_array_to_vector(PG_FUNCTION_ARGS)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(0);
	int32		typmod = PG_GETARG_INT32(1);
	Oid			elemtype = ARR_ELEMTYPE(array);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	Vector	   *result;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array must be 1-D to become a vector")));
	if (ARR_HASNULL(array) && array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("array must not contain nulls to become a vector")));
	if (elemtype != INT4OID && elemtype != FLOAT4OID &&
		elemtype != FLOAT8OID && elemtype != NUMERICOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("cannot cast an array of %s to vector",
						format_type_be(elemtype))));

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(array, elemtype, typlen, typbyval, typalign,
					  &elems, &nulls, &n);
	vector_check_dim(n);
	vector_check_typmod_dim(n, typmod);

	result = vector_new(n);
	for (int i = 0; i < n; i++)
	{
		switch (elemtype)
		{
			case INT4OID:
				result->x[i] = (float) DatumGetInt32(elems[i]);
				break;
			case FLOAT4OID:
				result->x[i] = DatumGetFloat4(elems[i]);
				vector_check_element(result->x[i]);
				break;
			case FLOAT8OID:
				result->x[i] = double_to_element(DatumGetFloat8(elems[i]));
				break;
			case NUMERICOID:
				result->x[i] = double_to_element(
					DatumGetFloat8(DirectFunctionCall1(numeric_float8, elems[i])));
				break;
		}
	}
	pfree(elems);
	pfree(nulls);
	PG_RETURN_VECTOR_P(result);
}

static ArrayType *
vector_to_array(const Vector *v, Oid elemtype)
{
	Datum	   *elems = palloc(sizeof(Datum) * v->dim);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	ArrayType  *result;

	for (int i = 0; i < v->dim; i++)
	{
		switch (elemtype)
		{
			case FLOAT4OID:
				elems[i] = Float4GetDatum(v->x[i]);
				break;
			case FLOAT8OID:
				elems[i] = Float8GetDatum((double) v->x[i]);
				break;
			case INT4OID:
				{
					float		r = rintf(v->x[i]);

					/* same range test as float4 -> integer */
					if (!FLOAT4_FITS_IN_INT32(r))
						ereport(ERROR,
								(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
								 errmsg("integer out of range")));
					elems[i] = Int32GetDatum((int32) r);
					break;
				}
			case NUMERICOID:
				elems[i] = DirectFunctionCall1(float4_numeric,
											   Float4GetDatum(v->x[i]));
				break;
			default:
				elog(ERROR, "unsupported array element type %u", elemtype);
		}
	}
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	result = construct_array(elems, v->dim, elemtype, typlen, typbyval, typalign);
	pfree(elems);
	return result;
}

Datum
brainy_vector_to_float4(PG_FUNCTION_ARGS)
{
	PG_RETURN_ARRAYTYPE_P(vector_to_array(PG_GETARG_VECTOR_P(0), FLOAT4OID));
}

Datum
brainy_vector_to_float8(PG_FUNCTION_ARGS)
{
	PG_RETURN_ARRAYTYPE_P(vector_to_array(PG_GETARG_VECTOR_P(0), FLOAT8OID));
}

Datum
brainy_vector_to_int4(PG_FUNCTION_ARGS)
{
	PG_RETURN_ARRAYTYPE_P(vector_to_array(PG_GETARG_VECTOR_P(0), INT4OID));
}

Datum
brainy_vector_to_numeric(PG_FUNCTION_ARGS)
{
	PG_RETURN_ARRAYTYPE_P(vector_to_array(PG_GETARG_VECTOR_P(0), NUMERICOID));
}
