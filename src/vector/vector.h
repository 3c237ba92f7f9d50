/*
 * vector.h - the on-disk and in-memory form of the `vector` type.
 *
 * The layout matches pgvector's (varlena header, int16 dim, int16 unused,
 * float4 values), so the binary send/recv form is byte-compatible with it.
 */
#ifndef BRAINY_VECTOR_H
#define BRAINY_VECTOR_H

#include "postgres.h"
#include "fmgr.h"

#include "distance.h"

#define VECTOR_MAX_DIM 16000

typedef struct Vector
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int16		dim;			/* number of dimensions */
	int16		unused;			/* reserved, always 0 */
	float		x[FLEXIBLE_ARRAY_MEMBER];
} Vector;

#define VECTOR_SIZE(dim)		(offsetof(Vector, x) + sizeof(float) * (dim))
#define DatumGetVector(d)		((Vector *) PG_DETOAST_DATUM(d))
#define PG_GETARG_VECTOR_P(n)	DatumGetVector(PG_GETARG_DATUM(n))
#define PG_RETURN_VECTOR_P(v)	PG_RETURN_POINTER(v)

/* vector_io.c */
extern Vector *vector_new(int dim);
extern void vector_check_dim(int dim);
extern void vector_check_typmod_dim(int dim, int32 typmod);
extern void vector_check_element(float value);

/* vector_arg.c: argument argno (0 or 1) detoasted, cached per call site */
extern Vector *vector_arg(FunctionCallInfo fcinfo, int argno);

/* vector_ops.c */
extern void vector_check_same_dim(const Vector *a, const Vector *b);

/* brainy.c: the kernels chosen for this CPU at load time */
extern const BrainyKernels *brainy_active_kernels;

#endif							/* BRAINY_VECTOR_H */
