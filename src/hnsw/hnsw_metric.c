/*
 * hnsw_metric.c - what each metric means to the engine.
 *
 * Owns the mapping from HnswMetric to a distance kernel of the chosen
 * BrainyKernels table (distance = offset + scale * kernel), the double
 * precision recomputation used when a float kernel overflows, and the
 * checks and preparation every stored or query vector goes through: all
 * elements finite, and under cosine a non-zero norm, with the vector
 * normalised to unit length.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "hnsw_internal.h"

void
hnsw_distance_init(HnswDistance *d, const BrainyKernels *k, HnswMetric metric,
				   int dim)
{
	d->dim = dim;
	d->metric = metric;
	d->offset = 0.0f;
	d->scale = 1.0f;
	switch (metric)
	{
		case HNSW_L2:
			d->kernel = k->l2_squared;
			break;
		case HNSW_IP:
			d->kernel = k->inner_product;
			d->scale = -1.0f;
			break;
		case HNSW_COSINE:
			/* vectors are unit length: cosine distance = 1 - a . b */
			d->kernel = k->inner_product;
			d->offset = 1.0f;
			d->scale = -1.0f;
			break;
		case HNSW_L1:
		default:
			d->kernel = k->l1;
			break;
	}
}

/* A double as a float, saturating to +-infinity instead of overflowing. */
static float
to_float(double x)
{
	if (x > FLT_MAX)
		return INFINITY;
	if (x < -FLT_MAX)
		return -INFINITY;
	return (float) x;
}

float
hnsw_distance_slow(const HnswDistance *d, const float *a, const float *b)
{
	double		sum = 0.0;
	int			i;

	switch (d->metric)
	{
		case HNSW_L2:
			for (i = 0; i < d->dim; i++)
			{
				double		diff = (double) a[i] - (double) b[i];

				sum += diff * diff;
			}
			return to_float(sum);
		case HNSW_IP:
		case HNSW_COSINE:
			for (i = 0; i < d->dim; i++)
				sum += (double) a[i] * (double) b[i];
			return to_float((double) d->offset - sum);
		case HNSW_L1:
		default:
			for (i = 0; i < d->dim; i++)
				sum += fabs((double) a[i] - (double) b[i]);
			return to_float(sum);
	}
}

int
hnsw_vector_check(HnswMetric metric, const float *v, int dim, double *scale,
				  HnswError *err)
{
	double		sumsq = 0.0;
	int			i;

	if (v == NULL)
		return hnsw_fail(err, HNSW_EINVAL, "vector is missing");
	for (i = 0; i < dim; i++)
	{
		if (isnan(v[i]))
			return hnsw_fail(err, HNSW_EINVAL,
							 "vector element %d is NaN", i + 1);
		if (isinf(v[i]))
			return hnsw_fail(err, HNSW_EINVAL,
							 "vector element %d is infinite", i + 1);
		sumsq += (double) v[i] * (double) v[i];
	}
	*scale = 1.0;
	if (metric == HNSW_COSINE)
	{
		/* doubles hold any float's square exactly enough: no overflow */
		if (sumsq == 0.0)
			return hnsw_fail(err, HNSW_EINVAL,
							 "zero vector has no direction for cosine distance");
		*scale = 1.0 / sqrt(sumsq);
	}
	return HNSW_OK;
}

void
hnsw_vector_store(float *dst, const float *src, int dim, double scale)
{
	int			i;

	if (scale == 1.0)
	{
		memcpy(dst, src, sizeof(float) * (size_t) dim);
		return;
	}
	for (i = 0; i < dim; i++)
		dst[i] = (float) ((double) src[i] * scale);
}

int
hnsw_vector_prepare(HnswMetric metric, const float *v, int dim, float *out,
					HnswError *err)
{
	double		scale;
	int			rc = hnsw_vector_check(metric, v, dim, &scale, err);

	if (rc != HNSW_OK)
		return rc;
	hnsw_vector_store(out, v, dim, scale);
	return HNSW_OK;
}

void
hnsw_distances_strided(HnswMetric metric, const float *query, const void *first,
					   size_t stride, int n, int dim, float *out)
{
	HnswDistance d;
	const char *p = first;
	int			i;

	hnsw_distance_init(&d, brainy_kernels(), metric, dim);
	for (i = 0; i < n; i++, p += stride)
		out[i] = hnsw_distance(&d, query, (const float *) p);
}
