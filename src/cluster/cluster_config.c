/*
 * cluster_config.c - _brainy/config.json: the settings every node of a
 * cluster shares.
 *
 *	{"version": 3, "updated": "2026-11-23T19:00:00Z",
 *	 "settings": {"partitionStrategy": "hash", "partitionCount": 100,
 *	              "embeddingModel": null, "dimensions": null,
 *	              "distanceMetric": null}}
 *
 * Parsing validates everything a node relies on, so a malformed or
 * truncated object is rejected as a whole (the caller keeps its last good
 * config).  Keys this version does not know are kept as they are, so a
 * rewrite by an older node does not drop a newer node's settings; a patch
 * (brainy.set_config) may only name known settings, to catch typos.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cluster.h"

static const char *const metrics[] = {"l2", "cosine", "ip", "l1", NULL};

static int
fail(char *errbuf, size_t errlen, int code, const char *fmt, const char *arg)
{
	snprintf(errbuf, errlen, fmt, arg);
	return code;
}

json_object *
cluster_json_parse(const char *text, size_t len, char *errbuf, size_t errlen)
{
	json_tokener *tok;
	json_object *obj;
	enum json_tokener_error jerr;

	if (text == NULL || len > (size_t) 0x7fffffff)
	{
		snprintf(errbuf, errlen, text == NULL ? "no text" : "JSON text too long");
		return NULL;
	}
	tok = json_tokener_new();
	if (tok == NULL)
	{
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	obj = json_tokener_parse_ex(tok, text, (int) len);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_continue)
	{
		snprintf(errbuf, errlen, "JSON parse error: unexpected end of text (truncated?)");
		json_object_put(obj);
		obj = NULL;
	}
	else if (jerr != json_tokener_success)
	{
		snprintf(errbuf, errlen, "JSON parse error at offset %zu: %s",
				 json_tokener_get_parse_end(tok), json_tokener_error_desc(jerr));
		obj = NULL;
	}
	else
	{
		size_t		end = json_tokener_get_parse_end(tok);

		while (end < len && (text[end] == ' ' || text[end] == '\n' ||
							 text[end] == '\t' || text[end] == '\r'))
			end++;
		if (end < len)
		{
			snprintf(errbuf, errlen, "JSON parse error at offset %zu: text after the value", end);
			json_object_put(obj);
			obj = NULL;
		}
		else if (obj == NULL)
			snprintf(errbuf, errlen, "JSON text is null");
	}
	json_tokener_free(tok);
	return obj;
}

/* validates one setting's value; key must be known */
static int
check_setting(const char *key, json_object *v, char *errbuf, size_t errlen)
{
	int			i;

	if (strcmp(key, "partitionStrategy") == 0)
	{
		if (!json_object_is_type(v, json_type_string) ||
			strcmp(json_object_get_string(v), "hash") != 0)
			return fail(errbuf, errlen, CLUSTER_EINVAL,
						"settings.partitionStrategy must be \"hash\"%s", "");
		return CLUSTER_OK;
	}
	if (strcmp(key, "partitionCount") == 0)
	{
		int64_t		n;

		if (!json_object_is_type(v, json_type_int))
			return fail(errbuf, errlen, CLUSTER_EINVAL,
						"settings.partitionCount must be an integer%s", "");
		n = json_object_get_int64(v);
		if (n < 1 || n > CLUSTER_PARTITION_COUNT_MAX)
		{
			snprintf(errbuf, errlen, "settings.partitionCount must be between 1 and %d",
					 CLUSTER_PARTITION_COUNT_MAX);
			return CLUSTER_EINVAL;
		}
		return CLUSTER_OK;
	}
	if (strcmp(key, "embeddingModel") == 0)
	{
		if (v != NULL && !json_object_is_type(v, json_type_string))
			return fail(errbuf, errlen, CLUSTER_EINVAL,
						"settings.embeddingModel must be a string or null%s", "");
		return CLUSTER_OK;
	}
	if (strcmp(key, "dimensions") == 0)
	{
		int64_t		n;

		if (v == NULL)
			return CLUSTER_OK;
		if (!json_object_is_type(v, json_type_int))
			return fail(errbuf, errlen, CLUSTER_EINVAL,
						"settings.dimensions must be an integer or null%s", "");
		n = json_object_get_int64(v);
		if (n < 1 || n > CLUSTER_DIMENSIONS_MAX)
		{
			snprintf(errbuf, errlen, "settings.dimensions must be between 1 and %d",
					 CLUSTER_DIMENSIONS_MAX);
			return CLUSTER_EINVAL;
		}
		return CLUSTER_OK;
	}
	if (strcmp(key, "distanceMetric") == 0)
	{
		if (v == NULL)
			return CLUSTER_OK;
		if (json_object_is_type(v, json_type_string))
			for (i = 0; metrics[i] != NULL; i++)
				if (strcmp(json_object_get_string(v), metrics[i]) == 0)
					return CLUSTER_OK;
		return fail(errbuf, errlen, CLUSTER_EINVAL,
					"settings.distanceMetric must be null, \"l2\", \"cosine\", \"ip\" or \"l1\"%s", "");
	}
	return fail(errbuf, errlen, CLUSTER_EINVAL,
				"unknown setting \"%.64s\" (known: partitionStrategy, partitionCount, embeddingModel, dimensions, distanceMetric)",
				key);
}

static const char *const known_keys[] = {
	"partitionStrategy", "partitionCount", "embeddingModel", "dimensions", "distanceMetric", NULL
};

/* fills the typed fields of config from config->root, validating it */
static int
validate(ClusterConfig *config, char *errbuf, size_t errlen)
{
	json_object *root = config->root,
			   *v,
			   *settings;
	int			i,
				rc;

	if (!json_object_is_type(root, json_type_object))
		return fail(errbuf, errlen, CLUSTER_EINVAL, "config is not a JSON object%s", "");
	if (!json_object_object_get_ex(root, "version", &v) ||
		!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1)
		return fail(errbuf, errlen, CLUSTER_EINVAL, "config.version must be an integer >= 1%s", "");
	config->version = json_object_get_int64(v);
	if (json_object_object_get_ex(root, "updated", &v) && v != NULL &&
		!json_object_is_type(v, json_type_string))
		return fail(errbuf, errlen, CLUSTER_EINVAL, "config.updated must be a string%s", "");
	if (!json_object_object_get_ex(root, "settings", &settings) ||
		!json_object_is_type(settings, json_type_object))
		return fail(errbuf, errlen, CLUSTER_EINVAL, "config.settings must be an object%s", "");
	for (i = 0; known_keys[i] != NULL; i++)
	{
		int			present = json_object_object_get_ex(settings, known_keys[i], &v);

		/* strategy and count are required; the others default to null */
		if (!present && i < 2)
			return fail(errbuf, errlen, CLUSTER_EINVAL, "config.settings.%s is missing",
						known_keys[i]);
		if (present && (rc = check_setting(known_keys[i], v, errbuf, errlen)) != CLUSTER_OK)
			return rc;
	}
	json_object_object_get_ex(settings, "partitionCount", &v);
	config->partition_count = (int) json_object_get_int64(v);
	config->dimensions = 0;
	if (json_object_object_get_ex(settings, "dimensions", &v) && v != NULL)
		config->dimensions = (int) json_object_get_int64(v);
	config->distance_metric[0] = '\0';
	if (json_object_object_get_ex(settings, "distanceMetric", &v) && v != NULL)
		snprintf(config->distance_metric, sizeof(config->distance_metric), "%s",
				 json_object_get_string(v));
	return CLUSTER_OK;
}

int
cluster_config_parse(const char *text, size_t len, ClusterConfig *config,
					 char *errbuf, size_t errlen)
{
	int			rc;

	memset(config, 0, sizeof(*config));
	config->root = cluster_json_parse(text, len, errbuf, errlen);
	if (config->root == NULL)
		return CLUSTER_EINVAL;
	rc = validate(config, errbuf, errlen);
	if (rc != CLUSTER_OK)
		cluster_config_free(config);
	return rc;
}

int
cluster_config_default(const char *now_iso, ClusterConfig *config)
{
	static const char tmpl[] =
		"{\"version\": 1, \"updated\": \"%s\", \"settings\": {"
		"\"partitionStrategy\": \"hash\", \"partitionCount\": 100, "
		"\"embeddingModel\": null, \"dimensions\": null, \"distanceMetric\": null}}";
	char		text[512];
	char		err[CLUSTER_ERRLEN];
	int			n;

	n = snprintf(text, sizeof(text), tmpl, now_iso);
	if (n < 0 || (size_t) n >= sizeof(text) || strchr(now_iso, '"') != NULL)
		return CLUSTER_EINVAL;
	return cluster_config_parse(text, (size_t) n, config, err, sizeof(err));
}

char *
cluster_config_to_json(const ClusterConfig *config)
{
	const char *s = json_object_to_json_string_ext(config->root,
												   JSON_C_TO_STRING_PRETTY |
												   JSON_C_TO_STRING_SPACED |
												   JSON_C_TO_STRING_NOSLASHESCAPE);

	return s ? strdup(s) : NULL;
}

void
cluster_config_free(ClusterConfig *config)
{
	if (config->root != NULL)
		json_object_put(config->root);
	memset(config, 0, sizeof(*config));
}

/* deep copy of cur's root (json-c 0.15+) */
static json_object *
copy_root(const ClusterConfig *cur)
{
	json_object *copy = NULL;

	if (json_object_deep_copy(cur->root, &copy, NULL) != 0)
		return NULL;
	return copy;
}

int
cluster_config_merge(const ClusterConfig *cur, const char *patch, size_t patch_len,
					 int cluster_nonempty, const char *now_iso,
					 ClusterConfig *out, char *errbuf, size_t errlen)
{
	json_object *p,
			   *settings;
	ClusterConfig next;
	int			rc;

	memset(out, 0, sizeof(*out));
	p = cluster_json_parse(patch, patch_len, errbuf, errlen);
	if (p == NULL)
		return CLUSTER_EINVAL;
	if (!json_object_is_type(p, json_type_object))
	{
		json_object_put(p);
		return fail(errbuf, errlen, CLUSTER_EINVAL, "the patch must be a JSON object of settings%s", "");
	}
	{
		json_object_object_foreach(p, key, val)
		{
			/* an unknown key is reported by check_setting() too */
			if ((rc = check_setting(key, val, errbuf, errlen)) != CLUSTER_OK)
			{
				json_object_put(p);
				return rc;
			}
		}
	}

	memset(&next, 0, sizeof(next));
	next.root = copy_root(cur);
	if (next.root == NULL)
	{
		json_object_put(p);
		return fail(errbuf, errlen, CLUSTER_ENOMEM, "out of memory%s", "");
	}
	json_object_object_get_ex(next.root, "settings", &settings);
	{
		json_object_object_foreach(p, key2, val2)
		{
			json_object_object_add(settings, key2, val2 ? json_object_get(val2) : NULL);
		}
	}
	json_object_put(p);
	json_object_object_add(next.root, "version", json_object_new_int64(cur->version + 1));
	json_object_object_add(next.root, "updated", json_object_new_string(now_iso));

	rc = validate(&next, errbuf, errlen);
	if (rc != CLUSTER_OK)
	{
		cluster_config_free(&next);
		return rc;
	}
	if (cluster_nonempty && cur->dimensions != 0 && next.dimensions != cur->dimensions)
	{
		snprintf(errbuf, errlen,
				 "dimensions cannot change from %d to %d: the cluster already holds data (collections exist)",
				 cur->dimensions, next.dimensions);
		cluster_config_free(&next);
		return CLUSTER_EREFUSED;
	}
	if (cluster_nonempty && next.partition_count != cur->partition_count)
	{
		snprintf(errbuf, errlen,
				 "partitionCount cannot change from %d to %d: the cluster already holds data (collections exist)",
				 cur->partition_count, next.partition_count);
		cluster_config_free(&next);
		return CLUSTER_EREFUSED;
	}
	*out = next;
	return CLUSTER_OK;
}

void
cluster_config_describe_changes(const ClusterConfig *a, const ClusterConfig *b,
								char *buf, size_t len)
{
	json_object *sa,
			   *sb;
	size_t		used = 0;
	int			i;

	buf[0] = '\0';
	json_object_object_get_ex(a->root, "settings", &sa);
	json_object_object_get_ex(b->root, "settings", &sb);
	for (i = 0; known_keys[i] != NULL; i++)
	{
		json_object *va = NULL,
				   *vb = NULL;
		const char *ta,
				   *tb;
		char		one[256];
		int			n;

		json_object_object_get_ex(sa, known_keys[i], &va);
		json_object_object_get_ex(sb, known_keys[i], &vb);
		ta = va ? json_object_to_json_string(va) : "null";
		tb = vb ? json_object_to_json_string(vb) : "null";
		if (strcmp(ta, tb) == 0)
			continue;
		n = snprintf(one, sizeof(one), "%s%s %.80s -> %.80s", used ? ", " : "",
					 known_keys[i], ta, tb);
		if (n > 0 && used + (size_t) n < len)
		{
			memcpy(buf + used, one, (size_t) n + 1);
			used += (size_t) n;
		}
	}
}
