/*
 * cluster_stats.c - summing the per-node statistics objects
 * _brainy/stats/<id>.json.  Every node writes only its own object (no
 * shared counter two nodes would update); a reader adds them up.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cluster.h"

int
cluster_stats_add(json_object **sum, const char *text, size_t len,
				  char *errbuf, size_t errlen)
{
	json_tokener *tok;
	json_object *o;

	if (len > (size_t) 0x7fffffff || (tok = json_tokener_new()) == NULL)
	{
		snprintf(errbuf, errlen, "statistics object too large or out of memory");
		return CLUSTER_EINVAL;
	}
	o = json_tokener_parse_ex(tok, text, (int) len);
	if (json_tokener_get_error(tok) != json_tokener_success || o == NULL ||
		!json_object_is_type(o, json_type_object))
	{
		snprintf(errbuf, errlen, "statistics object is not a JSON object");
		json_tokener_free(tok);
		json_object_put(o);
		return CLUSTER_EINVAL;
	}
	json_tokener_free(tok);
	if (*sum == NULL && (*sum = json_object_new_object()) == NULL)
	{
		json_object_put(o);
		snprintf(errbuf, errlen, "out of memory");
		return CLUSTER_ENOMEM;
	}
	{
		json_object_object_foreach(o, key, val)
		{
			json_object *acc = NULL;

			if (!json_object_is_type(val, json_type_int) &&
				!json_object_is_type(val, json_type_double))
				continue;
			json_object_object_get_ex(*sum, key, &acc);
			if (json_object_is_type(val, json_type_int) &&
				(acc == NULL || json_object_is_type(acc, json_type_int)))
				json_object_object_add(*sum, key,
									   json_object_new_int64((acc ? json_object_get_int64(acc) : 0) +
															 json_object_get_int64(val)));
			else
				json_object_object_add(*sum, key,
									   json_object_new_double((acc ? json_object_get_double(acc) : 0) +
															  json_object_get_double(val)));
		}
	}
	json_object_put(o);
	return CLUSTER_OK;
}

char *
cluster_stats_finish(json_object **sum, int nodes)
{
	const char *s;
	char	   *out = NULL;

	if (*sum == NULL && (*sum = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(*sum, "nodes", json_object_new_int(nodes));
	s = json_object_to_json_string_ext(*sum, JSON_C_TO_STRING_PLAIN);
	if (s != NULL)
		out = strdup(s);
	json_object_put(*sum);
	*sum = NULL;
	return out;
}
