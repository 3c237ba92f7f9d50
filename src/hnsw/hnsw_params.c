/*
 * hnsw_params.c - build parameters: defaults and validation.
 *
 * Owns the allowed ranges (see hnsw.h) and the messages that name the bad
 * field, its value and the allowed range, in the words a user of
 * CREATE INDEX ... WITH (m = ..., ef_construction = ...) would recognise.
 */
#include "hnsw_internal.h"

void
hnsw_params_default(HnswParams *p, int dim, HnswMetric metric)
{
	p->dim = dim;
	p->m = HNSW_DEFAULT_M;
	p->ef_construction = HNSW_DEFAULT_EF_CONSTRUCTION;
	p->metric = metric;
	p->seed = HNSW_DEFAULT_SEED;
}

const char *
hnsw_metric_name(HnswMetric metric)
{
	switch (metric)
	{
		case HNSW_L2:
			return "l2";
		case HNSW_IP:
			return "ip";
		case HNSW_COSINE:
			return "cosine";
		case HNSW_L1:
			return "l1";
	}
	return "unknown";
}

int
hnsw_params_validate_shape(const HnswParams *p, HnswError *err)
{
	if (p == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "parameters are missing");
	if (p->dim < HNSW_MIN_DIM || p->dim > HNSW_MAX_DIM)
		return hnsw_fail(err, HNSW_EINVAL,
						 "dimensions %d out of range: must be between %d and %d",
						 p->dim, HNSW_MIN_DIM, HNSW_MAX_DIM);
	if (p->m < HNSW_MIN_M || p->m > HNSW_MAX_M)
		return hnsw_fail(err, HNSW_EINVAL,
						 "m %d out of range: must be between %d and %d",
						 p->m, HNSW_MIN_M, HNSW_MAX_M);
	switch (p->metric)
	{
		case HNSW_L2:
		case HNSW_IP:
		case HNSW_COSINE:
		case HNSW_L1:
			break;
		default:
			return hnsw_fail(err, HNSW_EINVAL, "unknown distance metric %d",
							 (int) p->metric);
	}
	return HNSW_OK;
}

int
hnsw_params_validate(const HnswParams *p, HnswError *err)
{
	int			rc = hnsw_params_validate_shape(p, err);

	if (rc != HNSW_OK)
		return rc;
	if (p->ef_construction < HNSW_MIN_EF_CONSTRUCTION ||
		p->ef_construction > HNSW_MAX_EF_CONSTRUCTION)
		return hnsw_fail(err, HNSW_EINVAL,
						 "ef_construction %d out of range: must be between %d and %d",
						 p->ef_construction, HNSW_MIN_EF_CONSTRUCTION,
						 HNSW_MAX_EF_CONSTRUCTION);
	if (p->ef_construction < 2 * p->m)
		return hnsw_fail(err, HNSW_EINVAL,
						 "ef_construction %d must be greater than or equal to 2 * m (%d)",
						 p->ef_construction, 2 * p->m);
	hnsw_clear_error(err);
	return HNSW_OK;
}
