/*
 * vector_io.c - input and output of the vector type.
 *
 * Owns the text form ("[1,2.5,-3e-2]"), the binary send/recv form
 * (int16 dim, int16 unused, float4 values in network order: byte-compatible
 * with pgvector), the typmod vector(n) and its enforcement, and the checks
 * every constructor of a vector shares (dimension range, finite values).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "float_parse.h"
#include "vector.h"

PG_FUNCTION_INFO_V1(brainy_vector_in);
PG_FUNCTION_INFO_V1(brainy_vector_out);
PG_FUNCTION_INFO_V1(brainy_vector_typmod_in);
PG_FUNCTION_INFO_V1(brainy_vector_typmod_out);
PG_FUNCTION_INFO_V1(brainy_vector_recv);
PG_FUNCTION_INFO_V1(brainy_vector_send);
PG_FUNCTION_INFO_V1(brainy_vector_coerce_typmod);

/* A zeroed vector of dim dimensions (dim must already be checked). */
Vector *
vector_new(int dim)
{
	Size		size = VECTOR_SIZE(dim);
	Vector	   *v = (Vector *) palloc0(size);

	SET_VARSIZE(v, size);
	v->dim = dim;
	return v;
}

void
vector_check_dim(int dim)
{
	if (dim < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("vector must have at least 1 dimension")));
	if (dim > VECTOR_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("vector cannot have more than %d dimensions",
						VECTOR_MAX_DIM)));
}

/* A value of dim dimensions stored into vector(typmod). */
void
vector_check_typmod_dim(int dim, int32 typmod)
{
	if (typmod != -1 && dim != typmod)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", typmod, dim)));
}

void
vector_check_element(float value)
{
	if (isnan(value))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("NaN not allowed in vector")));
	if (isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("infinite value not allowed in vector")));
}

static inline bool
is_vector_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\v' || c == '\f';
}

static inline const char *
skip_space(const char *p)
{
	while (is_vector_space(*p))
		p++;
	return p;
}

static void
report_syntax_error(const char *text, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type vector: \"%s\"", text),
			 errdetail("%s", detail)));
}

/*
 * Text input: '[' number (',' number)* ']', white space allowed around every
 * token.  One pass counts the commas to size the result exactly, a second
 * pass parses.
 */
Datum
brainy_vector_in(PG_FUNCTION_ARGS)
{
	const char *text = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	const char *p;
	const char *c;
	int			commas = 0;
	int			dim;
	Vector	   *result;

	p = skip_space(text);
	if (*p != '[')
		report_syntax_error(text, "Vector contents must start with \"[\".");
	p++;

	for (c = p; *c != '\0' && *c != ']'; c++)
		if (*c == ',')
			commas++;
	if (*c != ']')
		report_syntax_error(text, "Unexpected end of input: missing \"]\".");

	if (*skip_space(p) == ']')
		vector_check_dim(0);
	vector_check_dim(commas + 1);

	dim = commas + 1;
	result = vector_new(dim);
	for (int i = 0; i < dim; i++)
	{
		const char *end;
		float		value;
		int			range_error;

		p = skip_space(p);
		end = brainy_parse_float(p, &value, &range_error);
		if (end == p)
			report_syntax_error(text, "Expected a number.");
		if (range_error)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("\"%.*s\" is out of range for type vector",
							(int) (end - p), p)));
		vector_check_element(value);
		result->x[i] = value;

		p = skip_space(end);
		if (i < dim - 1)
		{
			if (*p != ',')
				report_syntax_error(text, "Expected \",\" between numbers.");
			p++;
		}
		else if (*p != ']')
			report_syntax_error(text, "Expected \"]\" after the last number.");
	}
	p = skip_space(p + 1);
	if (*p != '\0')
		report_syntax_error(text, "Junk after closing \"]\".");

	vector_check_typmod_dim(dim, typmod);
	PG_RETURN_VECTOR_P(result);
}

/* Text output: shortest representation that reads back exactly. */
Datum
brainy_vector_out(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	char	   *buf;
	char	   *p;

	/* each number takes at most FLOAT_SHORTEST_DECIMAL_LEN - 1 chars + ',' */
	buf = palloc(2 + v->dim * FLOAT_SHORTEST_DECIMAL_LEN + 1);
	p = buf;
	*p++ = '[';
	for (int i = 0; i < v->dim; i++)
	{
		if (i > 0)
			*p++ = ',';
		p += float_to_shortest_decimal_bufn(v->x[i], p);
	}
	*p++ = ']';
	*p = '\0';
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf);
}

Datum
brainy_vector_typmod_in(PG_FUNCTION_ARGS)
{
	ArrayType  *ta = PG_GETARG_ARRAYTYPE_P(0);
	int32	   *mods;
	int			n;

	mods = ArrayGetIntegerTypmods(ta, &n);
	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid type modifier"),
				 errdetail("vector takes exactly one modifier: its number of dimensions.")));
	if (mods[0] < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type vector must be at least 1")));
	if (mods[0] > VECTOR_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type vector cannot exceed %d",
						VECTOR_MAX_DIM)));
	PG_RETURN_INT32(mods[0]);
}

Datum
brainy_vector_typmod_out(PG_FUNCTION_ARGS)
{
	int32		typmod = PG_GETARG_INT32(0);

	if (typmod < 0)
		PG_RETURN_CSTRING(pstrdup(""));
	PG_RETURN_CSTRING(psprintf("(%d)", typmod));
}

/* Binary input: int16 dim, int16 unused (must be 0), dim float4 values. */
Datum
brainy_vector_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int			dim;
	int			unused;
	Vector	   *result;

	dim = (int16) pq_getmsgint(buf, sizeof(int16));
	unused = (int16) pq_getmsgint(buf, sizeof(int16));
	vector_check_dim(dim);
	if (unused != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary vector: reserved field is %d, expected 0",
						unused)));
	if (buf->len - buf->cursor != (int) (dim * sizeof(float)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary vector: %d dimensions need %d bytes of values, got %d",
						dim, (int) (dim * sizeof(float)), buf->len - buf->cursor)));
	vector_check_typmod_dim(dim, typmod);

	result = vector_new(dim);
	for (int i = 0; i < dim; i++)
	{
		result->x[i] = pq_getmsgfloat4(buf);
		vector_check_element(result->x[i]);
	}
	PG_RETURN_VECTOR_P(result);
}

Datum
brainy_vector_send(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint16(&buf, v->dim);
	pq_sendint16(&buf, v->unused);
	for (int i = 0; i < v->dim; i++)
		pq_sendfloat4(&buf, v->x[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Length coercion vector -> vector(n), used by casts and assignments. */
Datum
brainy_vector_coerce_typmod(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	int32		typmod = PG_GETARG_INT32(1);

	vector_check_typmod_dim(v->dim, typmod);
	PG_RETURN_VECTOR_P(v);
}
