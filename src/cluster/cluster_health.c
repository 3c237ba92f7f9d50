/*
 * cluster_health.c - a node's health: its status (healthy | degraded |
 * unhealthy), the warnings that explain it, and the JSON that
 * brainy.health() returns and the heartbeat carries (DESIGN.md section 5).
 *
 *	unhealthy  the node cannot take part: no valid role, its id is used by
 *	           another live node, config.json is malformed, or no config
 *	           has ever been loaded
 *	degraded   it takes part but lags: the object store is failing, the
 *	           last heartbeat is older than two heartbeat intervals, or a
 *	           replication stream is stopped (a segment it cannot apply)
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cluster.h"

static int
set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static void
warn(char warnings[CLUSTER_MAX_WARNINGS][CLUSTER_ERRLEN], int *n,
	 const char *prefix, const char *text)
{
	if (*n >= CLUSTER_MAX_WARNINGS)
		return;
	snprintf(warnings[*n], CLUSTER_ERRLEN, "%s%s", prefix, text);
	(*n)++;
}

const char *
cluster_health_status(const ClusterHealthInputs *in,
					  char warnings[CLUSTER_MAX_WARNINGS][CLUSTER_ERRLEN],
					  int *nwarnings)
{
	int			unhealthy = 0,
				degraded = 0;
	char		line[CLUSTER_ERRLEN];

	*nwarnings = 0;
	if (set(in->role_error))
	{
		warn(warnings, nwarnings, "role: ", in->role_error);
		unhealthy = 1;
	}
	if (set(in->id_error))
	{
		warn(warnings, nwarnings, "instance id: ", in->id_error);
		unhealthy = 1;
	}
	if (set(in->config_error))
	{
		warn(warnings, nwarnings,
			 in->config_loaded ? "config.json (keeping the last good config): " : "config.json: ",
			 in->config_error);
		unhealthy = 1;
	}
	else if (!in->config_loaded)
	{
		warn(warnings, nwarnings, "", "config.json has not been loaded yet");
		unhealthy = 1;
	}
	if (set(in->store_error))
	{
		warn(warnings, nwarnings, "object store failing: ", in->store_error);
		degraded = 1;
	}
	if (set(in->replication_error))
	{
		warn(warnings, nwarnings, "replication stopped: ", in->replication_error);
		degraded = 1;
	}
	if (in->heartbeat_interval_ms > 0 &&
		(in->heartbeat_age_ms < 0 || in->heartbeat_age_ms > 2 * in->heartbeat_interval_ms))
	{
		if (in->heartbeat_age_ms < 0)
			snprintf(line, sizeof(line), "no heartbeat written yet");
		else
			snprintf(line, sizeof(line), "last heartbeat written %.1f s ago (interval %.1f s)",
					 in->heartbeat_age_ms / 1000.0, in->heartbeat_interval_ms / 1000.0);
		warn(warnings, nwarnings, "", line);
		degraded = 1;
	}
	if (unhealthy)
		return "unhealthy";
	return degraded ? "degraded" : "healthy";
}

/* v to 3 decimals, printed short ("1.513", not json-c's "1.5129999999999999") */
static json_object *
num_or_null(double v)
{
	char		text[64];

	if (v < 0 || isnan(v) || isinf(v))
		return NULL;
	v = round(v * 1000.0) / 1000.0;
	snprintf(text, sizeof(text), "%.15g", v);
	if (strchr(text, '.') == NULL && strchr(text, 'e') == NULL)
		strncat(text, ".0", sizeof(text) - strlen(text) - 1);
	return json_object_new_double_s(v, text);
}

static json_object *
int_or_null(int64_t v)
{
	return v < 0 ? NULL : json_object_new_int64(v);
}

char *
cluster_health_to_json(const ClusterHealthInputs *in)
{
	char		warnings[CLUSTER_MAX_WARNINGS][CLUSTER_ERRLEN];
	int			n,
				i;
	const char *status = cluster_health_status(in, warnings, &n);
	json_object *o = json_object_new_object(),
			   *m = json_object_new_object(),
			   *w = json_object_new_array();
	const char *s;
	char	   *out = NULL;

	if (o == NULL || m == NULL || w == NULL)
	{
		json_object_put(o);
		json_object_put(m);
		json_object_put(w);
		return NULL;
	}
	json_object_object_add(o, "status", json_object_new_string(status));
	json_object_object_add(o, "instanceId", json_object_new_string(in->instance_id ? in->instance_id : ""));
	json_object_object_add(o, "role", json_object_new_string(in->role ? in->role : "none"));
	json_object_object_add(o, "uptime", json_object_new_int64(in->uptime_s));
	json_object_object_add(o, "configVersion",
						   in->config_version > 0 ? json_object_new_int64(in->config_version) : NULL);
	json_object_object_add(m, "vectorCount", int_or_null(in->vector_count));
	json_object_object_add(m, "cacheHitRate", num_or_null(in->cache_hit_rate));
	json_object_object_add(m, "memoryUsageMB", num_or_null(in->memory_usage_mb));
	json_object_object_add(m, "requestsPerSecond", num_or_null(in->requests_per_second));
	json_object_object_add(m, "averageLatencyMs", num_or_null(in->average_latency_ms));
	json_object_object_add(m, "errorRate", num_or_null(in->error_rate));
	json_object_object_add(m, "replicationLagMs", int_or_null(in->replication_lag_ms));
	json_object_object_add(m, "outboxPending", int_or_null(in->outbox_pending));
	json_object_object_add(m, "lastHeartbeatAt",
						   in->last_heartbeat_at > 0 ? json_object_new_int64(in->last_heartbeat_at) : NULL);
	json_object_object_add(o, "metrics", m);
	for (i = 0; i < n; i++)
		json_object_array_add(w, json_object_new_string(warnings[i]));
	json_object_object_add(o, "warnings", w);
	if (in->replication_json != NULL)
	{
		json_object *r = json_tokener_parse(in->replication_json);

		if (r != NULL)
			json_object_object_add(o, "replication", r);
	}
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s != NULL)
		out = strdup(s);
	json_object_put(o);
	return out;
}
