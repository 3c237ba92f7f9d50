/*
 * cluster_schema.c - _brainy/collections/<name>/schema.json, the columns
 * and types of a published table, from which a reader creates its mirror
 * table: building the JSON, parsing and validating it, and comparing two
 * schemas (a reader refuses a collection whose schema changed under its
 * mirror).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cluster_segment.h"

static const char *const metrics[] = {"l2", "cosine", "ip", "l1", NULL};

static int
sfail(char *errbuf, size_t errlen, const char *msg)
{
	snprintf(errbuf, errlen, "schema: %s", msg);
	return CLUSTER_EINVAL;
}

char *
cluster_schema_to_json(const ClusterSchema *s)
{
	json_object *root,
			   *cols;
	const char *text;
	char	   *result = NULL;
	int			i;

	if (s == NULL || (s->n_columns > 0 && s->columns == NULL))
		return NULL;
	root = json_object_new_object();
	cols = json_object_new_array();
	if (root == NULL || cols == NULL)
	{
		json_object_put(root);
		json_object_put(cols);
		return NULL;
	}
	json_object_object_add(root, "formatVersion", json_object_new_int(s->format_version));
	json_object_object_add(root, "collection", json_object_new_string(s->collection));
	json_object_object_add(root, "primaryKey", json_object_new_string(s->primary_key));
	json_object_object_add(root, "vectorColumn", json_object_new_string(s->vector_column));
	json_object_object_add(root, "dimensions", json_object_new_int(s->dimensions));
	json_object_object_add(root, "distanceMetric",
						   s->distance_metric[0] != '\0' ?
						   json_object_new_string(s->distance_metric) : NULL);
	for (i = 0; i < s->n_columns; i++)
	{
		json_object *col = json_object_new_object();

		if (col == NULL)
			goto done;
		json_object_object_add(col, "name", json_object_new_string(s->columns[i].name));
		json_object_object_add(col, "type", json_object_new_string(s->columns[i].type));
		if (json_object_array_add(cols, col) != 0)
		{
			json_object_put(col);
			goto done;
		}
	}
	json_object_object_add(root, "columns", cols);
	cols = NULL;
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
										  JSON_C_TO_STRING_SPACED |
										  JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text != NULL)
		result = strdup(text);
done:
	json_object_put(cols);
	json_object_put(root);
	return result;
}

/*
 * root[key] as a string of 1..max bytes with no control characters, copied
 * into dst (max + 1 bytes).
 */
static int
get_name(json_object *obj, const char *key, const char *what, char *dst, size_t max,
		 char *errbuf, size_t errlen)
{
	json_object *v;
	const char *str;
	size_t		n,
				i;

	if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
	{
		snprintf(errbuf, errlen, "schema: %s is missing", what);
		return CLUSTER_EINVAL;
	}
	if (!json_object_is_type(v, json_type_string))
	{
		snprintf(errbuf, errlen, "schema: %s must be a string", what);
		return CLUSTER_EINVAL;
	}
	str = json_object_get_string(v);
	n = (size_t) json_object_get_string_len(v);
	if (n < 1 || n > max)
	{
		snprintf(errbuf, errlen, "schema: %s must be 1 to %zu bytes long", what, max);
		return CLUSTER_EINVAL;
	}
	for (i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) str[i];

		if (c < 0x20 || c == 0x7f)
		{
			snprintf(errbuf, errlen, "schema: %s has a control character at byte %zu", what, i);
			return CLUSTER_EINVAL;
		}
	}
	memcpy(dst, str, n);
	dst[n] = '\0';
	return CLUSTER_OK;
}

static int
get_int(json_object *obj, const char *key, int64_t *out, char *errbuf, size_t errlen)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
	{
		snprintf(errbuf, errlen, "schema: %s is missing", key);
		return CLUSTER_EINVAL;
	}
	if (!json_object_is_type(v, json_type_int))
	{
		snprintf(errbuf, errlen, "schema: %s must be an integer", key);
		return CLUSTER_EINVAL;
	}
	*out = json_object_get_int64(v);
	return CLUSTER_OK;
}

/* index of the column named name, or -1 */
static int
find_column(const ClusterSchema *s, const char *name)
{
	int			i;

	for (i = 0; i < s->n_columns; i++)
		if (strcmp(s->columns[i].name, name) == 0)
			return i;
	return -1;
}

static int
validate(json_object *root, ClusterSchema *s, char *errbuf, size_t errlen)
{
	json_object *v,
			   *cols;
	int64_t		n;
	int			rc,
				i,
				vec;
	size_t		ncols;
	char		expect[64];

	if (!json_object_is_type(root, json_type_object))
		return sfail(errbuf, errlen, "not a JSON object");
	/* the version first: a later version may change every other field */
	if ((rc = get_int(root, "formatVersion", &n, errbuf, errlen)) != CLUSTER_OK)
		return rc;
	if (n != CLUSTER_SCHEMA_VERSION)
	{
		snprintf(errbuf, errlen, "unknown schema formatVersion %lld (this build reads %d)",
				 (long long) n, CLUSTER_SCHEMA_VERSION);
		return CLUSTER_EUNSUPPORTED;
	}
	s->format_version = (int) n;
	if ((rc = get_name(root, "collection", "collection", s->collection,
					   sizeof(s->collection) - 1, errbuf, errlen)) != CLUSTER_OK)
		return rc;
	{
		char		err[CLUSTER_ERRLEN];

		if (cluster_collection_check(s->collection, err, sizeof(err)) != CLUSTER_OK)
			return sfail(errbuf, errlen, err);
	}
	if ((rc = get_name(root, "primaryKey", "primaryKey", s->primary_key,
					   sizeof(s->primary_key) - 1, errbuf, errlen)) != CLUSTER_OK ||
		(rc = get_name(root, "vectorColumn", "vectorColumn", s->vector_column,
					   sizeof(s->vector_column) - 1, errbuf, errlen)) != CLUSTER_OK)
		return rc;
	if ((rc = get_int(root, "dimensions", &n, errbuf, errlen)) != CLUSTER_OK)
		return rc;
	if (n < 1 || n > CLUSTER_DIMENSIONS_MAX)
	{
		snprintf(errbuf, errlen, "schema: dimensions must be between 1 and %d",
				 CLUSTER_DIMENSIONS_MAX);
		return CLUSTER_EINVAL;
	}
	s->dimensions = (int) n;
	s->distance_metric[0] = '\0';
	if (json_object_object_get_ex(root, "distanceMetric", &v) && v != NULL)
	{
		const char *m = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;

		if (m == NULL)
			return sfail(errbuf, errlen, "distanceMetric must be a string or null");
		if (m[0] != '\0')
		{
			for (i = 0; metrics[i] != NULL; i++)
				if (strcmp(m, metrics[i]) == 0)
					break;
			if (metrics[i] == NULL)
				return sfail(errbuf, errlen,
							 "distanceMetric must be null, \"l2\", \"cosine\", \"ip\" or \"l1\"");
			snprintf(s->distance_metric, sizeof(s->distance_metric), "%s", m);
		}
	}

	if (!json_object_object_get_ex(root, "columns", &cols) || cols == NULL)
		return sfail(errbuf, errlen, "columns is missing");
	if (!json_object_is_type(cols, json_type_array))
		return sfail(errbuf, errlen, "columns must be an array");
	ncols = json_object_array_length(cols);
	if (ncols < 2 || ncols > CLUSTER_SCHEMA_COLUMNS_MAX)
	{
		snprintf(errbuf, errlen, "schema: columns must list 2 to %d columns, not %zu",
				 CLUSTER_SCHEMA_COLUMNS_MAX, ncols);
		return CLUSTER_EINVAL;
	}
	s->columns = calloc(ncols, sizeof(ClusterSchemaColumn));
	if (s->columns == NULL)
	{
		snprintf(errbuf, errlen, "out of memory");
		return CLUSTER_ENOMEM;
	}
	for (i = 0; i < (int) ncols; i++)
	{
		json_object *col = json_object_array_get_idx(cols, i);
		char		what[64];

		if (col == NULL || !json_object_is_type(col, json_type_object))
		{
			snprintf(errbuf, errlen, "schema: columns[%d] must be an object", i);
			return CLUSTER_EINVAL;
		}
		snprintf(what, sizeof(what), "columns[%d].name", i);
		if ((rc = get_name(col, "name", what, s->columns[i].name,
						   sizeof(s->columns[i].name) - 1, errbuf, errlen)) != CLUSTER_OK)
			return rc;
		snprintf(what, sizeof(what), "columns[%d].type", i);
		if ((rc = get_name(col, "type", what, s->columns[i].type,
						   sizeof(s->columns[i].type) - 1, errbuf, errlen)) != CLUSTER_OK)
			return rc;
		if (find_column(s, s->columns[i].name) >= 0)
		{
			snprintf(errbuf, errlen, "schema: column \"%s\" is listed twice", s->columns[i].name);
			return CLUSTER_EINVAL;
		}
		s->n_columns = i + 1;
	}
	if (find_column(s, s->primary_key) < 0)
	{
		snprintf(errbuf, errlen, "schema: primary key \"%s\" is not among the columns",
				 s->primary_key);
		return CLUSTER_EINVAL;
	}
	vec = find_column(s, s->vector_column);
	if (vec < 0)
	{
		snprintf(errbuf, errlen, "schema: vector column \"%s\" is not among the columns",
				 s->vector_column);
		return CLUSTER_EINVAL;
	}
	if (strcmp(s->primary_key, s->vector_column) == 0)
		return sfail(errbuf, errlen, "the primary key cannot be the vector column");
	snprintf(expect, sizeof(expect), "vector(%d)", s->dimensions);
	if (strcmp(s->columns[vec].type, expect) != 0)
	{
		snprintf(errbuf, errlen, "schema: vector column \"%s\" has type \"%s\", expected \"%s\"",
				 s->vector_column, s->columns[vec].type, expect);
		return CLUSTER_EINVAL;
	}
	return CLUSTER_OK;
}

int
cluster_schema_parse(const char *text, size_t len, ClusterSchema *s, char *errbuf, size_t errlen)
{
	json_object *root;
	char		msg[CLUSTER_ERRLEN];
	int			rc;

	if (s == NULL)
		return sfail(errbuf, errlen, "nothing to fill");
	memset(s, 0, sizeof(*s));
	root = cluster_json_parse(text, len, msg, sizeof(msg));
	if (root == NULL)
		return sfail(errbuf, errlen, msg);
	rc = validate(root, s, errbuf, errlen);
	json_object_put(root);
	if (rc != CLUSTER_OK)
		cluster_schema_free(s);
	return rc;
}

int
cluster_schema_equal(const ClusterSchema *a, const ClusterSchema *b, char *why, size_t whylen)
{
	int			i;

	if (whylen > 0)
		why[0] = '\0';
	if (a == NULL || b == NULL)
	{
		snprintf(why, whylen, "a schema is missing");
		return 0;
	}
	if (strcmp(a->primary_key, b->primary_key) != 0)
	{
		snprintf(why, whylen, "primary key differs: \"%s\" vs \"%s\"", a->primary_key,
				 b->primary_key);
		return 0;
	}
	if (strcmp(a->vector_column, b->vector_column) != 0)
	{
		snprintf(why, whylen, "vector column differs: \"%s\" vs \"%s\"", a->vector_column,
				 b->vector_column);
		return 0;
	}
	if (a->dimensions != b->dimensions)
	{
		snprintf(why, whylen, "dimensions differ: %d vs %d", a->dimensions, b->dimensions);
		return 0;
	}
	for (i = 0; i < a->n_columns && i < b->n_columns; i++)
	{
		const ClusterSchemaColumn *ca = &a->columns[i],
				   *cb = &b->columns[i];

		if (strcmp(ca->name, cb->name) != 0)
		{
			snprintf(why, whylen, "column %d differs: \"%s\" vs \"%s\"", i + 1, ca->name, cb->name);
			return 0;
		}
		if (strcmp(ca->type, cb->type) != 0)
		{
			snprintf(why, whylen, "column \"%s\" type differs: %s vs %s", ca->name, ca->type,
					 cb->type);
			return 0;
		}
	}
	if (a->n_columns != b->n_columns)
	{
		const ClusterSchema *longer = a->n_columns > b->n_columns ? a : b;

		snprintf(why, whylen, "column count differs: %d vs %d (first extra column \"%s\")",
				 a->n_columns, b->n_columns, longer->columns[i].name);
		return 0;
	}
	return 1;
}

void
cluster_schema_free(ClusterSchema *s)
{
	if (s == NULL)
		return;
	free(s->columns);
	memset(s, 0, sizeof(*s));
}
