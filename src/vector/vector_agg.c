/*
 * vector_agg.c - sum(vector) and avg(vector).
 *
 * The transition state is a float8[] holding {count, sum_1, ..., sum_dim},
 * accumulated in double so long sums neither lose precision nor overflow
 * before the final conversion back to float4.  Being a plain array, the state
 * needs no serialisation, and the combine function lets the aggregates run
 * in parallel.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"

#include "vector.h"

PG_FUNCTION_INFO_V1(brainy_vector_accum);
PG_FUNCTION_INFO_V1(brainy_vector_combine);
PG_FUNCTION_INFO_V1(brainy_vector_sum_final);
PG_FUNCTION_INFO_V1(brainy_vector_avg_final);

/* The state's values: element 0 is the count, then the sums. */
static float8 *
state_values(ArrayType *state, int *nvalues)
{
	if (ARR_NDIM(state) != 1 || ARR_HASNULL(state) ||
		ARR_ELEMTYPE(state) != FLOAT8OID || ARR_DIMS(state)[0] < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid vector aggregate state"),
				 errdetail("The state must be a one-dimensional double precision array without nulls: {count, sum_1, ..., sum_n}.")));
	*nvalues = ARR_DIMS(state)[0];
	return (float8 *) ARR_DATA_PTR(state);
}

static ArrayType *
new_state(int dim)
{
	ArrayType  *state;
	Datum	   *zeros = palloc0(sizeof(Datum) * (dim + 1));

	for (int i = 0; i <= dim; i++)
		zeros[i] = Float8GetDatum(0.0);
	state = construct_array(zeros, dim + 1, FLOAT8OID, sizeof(float8),
							FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	pfree(zeros);
	return state;
}

static void
check_state_dim(int state_dim, int dim)
{
	if (state_dim != dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different vector dimensions %d and %d", state_dim, dim)));
}

/*
 * Inside an aggregate the state may be updated in place; called directly
 * (e.g. from SQL) it must be left alone and a copy returned.
 */
static ArrayType *
writable_state(FunctionCallInfo fcinfo, int argno, int dim)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(argno);
	int			nvalues;

	(void) state_values(state, &nvalues);
	if (nvalues == 1)			/* the initial '{0}': size it for dim */
		return new_state(dim);
	check_state_dim(nvalues - 1, dim);
	if (AggCheckCallContext(fcinfo, NULL))
		return state;
	return PG_GETARG_ARRAYTYPE_P_COPY(argno);
}

Datum
brainy_vector_accum(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(1);
	ArrayType  *state = writable_state(fcinfo, 0, v->dim);
	int			nvalues;
	float8	   *values = state_values(state, &nvalues);

	values[0] += 1.0;
	for (int i = 0; i < v->dim; i++)
		values[i + 1] += (double) v->x[i];
	PG_RETURN_ARRAYTYPE_P(state);
}

Datum
brainy_vector_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *other = PG_GETARG_ARRAYTYPE_P(1);
	int			n_other;
	float8	   *other_values = state_values(other, &n_other);
	ArrayType  *state;
	int			nvalues;
	float8	   *values;

	if (n_other == 1)			/* nothing to add */
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));

	state = writable_state(fcinfo, 0, n_other - 1);
	values = state_values(state, &nvalues);
	for (int i = 0; i < nvalues; i++)
		values[i] += other_values[i];
	PG_RETURN_ARRAYTYPE_P(state);
}

/* The sums (or their mean) as a vector; NULL when no rows were seen. */
static Datum
finish(FunctionCallInfo fcinfo, bool average)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	int			nvalues;
	float8	   *values = state_values(state, &nvalues);
	double		count = values[0];
	Vector	   *result;

	if (count == 0 || nvalues == 1)
		PG_RETURN_NULL();
	result = vector_new(nvalues - 1);
	for (int i = 1; i < nvalues; i++)
	{
		double		value = average ? values[i] / count : values[i];

		/* only a hand-made state can hold these; never store them */
		if (isnan(value) || count < 0 || isinf(count))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid vector aggregate state"),
					 errdetail("The count must be a non-negative number and the sums finite.")));
		if (fabs(value) > FLT_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("value out of range: overflow")));
		result->x[i - 1] = (float) value;
	}
	PG_RETURN_VECTOR_P(result);
}

Datum
brainy_vector_sum_final(PG_FUNCTION_ARGS)
{
	return finish(fcinfo, false);
}

Datum
brainy_vector_avg_final(PG_FUNCTION_ARGS)
{
	return finish(fcinfo, true);
}
