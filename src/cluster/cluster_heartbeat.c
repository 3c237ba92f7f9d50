/*
 * cluster_heartbeat.c - the heartbeat object _brainy/instances/<id>.json
 * each node rewrites every brainy.heartbeat_interval, and liveness.
 *
 * A heartbeat's age is measured with the object store's clock: the
 * object's Last-Modified against the store's present time (which the
 * caller derives from its own latest write), never against the reading
 * node's clock, so nodes with skewed clocks agree on who is alive.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cluster.h"

static int
add_string(json_object *o, const char *key, const char *value)
{
	json_object *s = json_object_new_string(value ? value : "");

	if (s == NULL)
		return -1;
	return json_object_object_add(o, key, s);
}

char *
cluster_heartbeat_to_json(const ClusterHeartbeat *hb, const char *health_json)
{
	json_object *o = json_object_new_object();
	json_object *health = NULL;
	char	   *out = NULL;
	int			bad = 0;

	if (o == NULL)
		return NULL;
	bad |= add_string(o, "id", hb->id);
	bad |= add_string(o, "role", hb->role);
	bad |= add_string(o, "status", hb->status);
	bad |= add_string(o, "host", hb->host);
	bad |= add_string(o, "endpoint", hb->endpoint);
	bad |= add_string(o, "owner", hb->owner);
	bad |= add_string(o, "postgresVersion", hb->pg_version);
	bad |= add_string(o, "brainyVersion", hb->brainy_version);
	bad |= json_object_object_add(o, "started", json_object_new_int64(hb->started));
	bad |= json_object_object_add(o, "lastHeartbeat", json_object_new_int64(hb->last_heartbeat));
	bad |= json_object_object_add(o, "sequence", json_object_new_int64(hb->sequence));
	if (health_json != NULL)
	{
		health = json_tokener_parse(health_json);
		if (health == NULL || !json_object_is_type(health, json_type_object))
			bad = 1;
		else
		{
			bad |= json_object_object_add(o, "health", health);
			health = NULL;
		}
	}
	if (!bad)
	{
		const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
													   JSON_C_TO_STRING_NOSLASHESCAPE);

		out = s ? strdup(s) : NULL;
	}
	json_object_put(health);
	json_object_put(o);
	return out;
}

static void
get_string(json_object *o, const char *key, char *dst, size_t len)
{
	json_object *v;

	dst[0] = '\0';
	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		snprintf(dst, len, "%s", json_object_get_string(v));
}

static int64_t
get_int(json_object *o, const char *key)
{
	json_object *v;

	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int))
		return json_object_get_int64(v);
	return 0;
}

int
cluster_heartbeat_parse(const char *text, size_t len, ClusterHeartbeat *hb,
						char **health_json, char *errbuf, size_t errlen)
{
	json_tokener *tok;
	json_object *o,
			   *v;

	memset(hb, 0, sizeof(*hb));
	if (health_json)
		*health_json = NULL;
	if (len > (size_t) 0x7fffffff || (tok = json_tokener_new()) == NULL)
	{
		snprintf(errbuf, errlen, "heartbeat too large or out of memory");
		return CLUSTER_EINVAL;
	}
	o = json_tokener_parse_ex(tok, text, (int) len);
	if (json_tokener_get_error(tok) != json_tokener_success || o == NULL ||
		!json_object_is_type(o, json_type_object))
	{
		snprintf(errbuf, errlen, "heartbeat is not a JSON object (%s)",
				 json_tokener_error_desc(json_tokener_get_error(tok)));
		json_tokener_free(tok);
		json_object_put(o);
		return CLUSTER_EINVAL;
	}
	json_tokener_free(tok);
	get_string(o, "id", hb->id, sizeof(hb->id));
	if (hb->id[0] == '\0')
	{
		snprintf(errbuf, errlen, "heartbeat has no id");
		json_object_put(o);
		return CLUSTER_EINVAL;
	}
	get_string(o, "role", hb->role, sizeof(hb->role));
	get_string(o, "status", hb->status, sizeof(hb->status));
	get_string(o, "host", hb->host, sizeof(hb->host));
	get_string(o, "endpoint", hb->endpoint, sizeof(hb->endpoint));
	get_string(o, "owner", hb->owner, sizeof(hb->owner));
	get_string(o, "postgresVersion", hb->pg_version, sizeof(hb->pg_version));
	get_string(o, "brainyVersion", hb->brainy_version, sizeof(hb->brainy_version));
	hb->started = get_int(o, "started");
	hb->last_heartbeat = get_int(o, "lastHeartbeat");
	hb->sequence = get_int(o, "sequence");
	if (health_json)
	{
		const char *s = "{}";

		if (json_object_object_get_ex(o, "health", &v) && json_object_is_type(v, json_type_object))
			s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
											   JSON_C_TO_STRING_NOSLASHESCAPE);
		*health_json = strdup(s);
		if (*health_json == NULL)
		{
			json_object_put(o);
			snprintf(errbuf, errlen, "out of memory");
			return CLUSTER_ENOMEM;
		}
	}
	json_object_put(o);
	return CLUSTER_OK;
}

void
cluster_liveness(int64_t store_now_ms, int64_t last_modified_s,
				 int64_t timeout_ms, int stopped, ClusterLiveness *out)
{
	int64_t		age = store_now_ms - last_modified_s * 1000;

	/* a heartbeat "from the future" (clock of a replica ahead) is fresh */
	if (age < 0)
		age = 0;
	out->age_ms = age;
	out->alive = !stopped && age <= timeout_ms;
	out->stale = age > 2 * timeout_ms;
}
