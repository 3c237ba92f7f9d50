/*
 * test_cluster.c - unit tests of src/cluster (plain C, run under ASan and
 * UBSan by `make unittest`): role resolution, instance ids, config.json
 * parsing / merging, heartbeats, liveness, health, partitions, statistics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cluster.h"
#include "test_report.h"

static char errbuf[CLUSTER_ERRLEN];

static int
contains(const char *s, const char *sub)
{
	return s != NULL && strstr(s, sub) != NULL;
}

/* ---------------------------------------------------------------- roles */

static int
resolve(const char *env_role, const char *setting, const char *mode, int standby, int ro,
		ClusterRole *role, const char **source)
{
	ClusterRoleInputs in = {env_role, setting, mode, standby, ro};

	errbuf[0] = '\0';
	return cluster_resolve_role(&in, role, source, errbuf, sizeof(errbuf));
}

static void
test_roles(void)
{
	ClusterRole r;
	const char *src;
	int			rc;

	rc = resolve("writer", "reader", "read-only", 1, 1, &r, &src);
	report(rc == CLUSTER_OK && r == CLUSTER_ROLE_WRITER && contains(src, "BRAINY_ROLE"),
		   "BRAINY_ROLE wins over everything", src);
	rc = resolve("", "hybrid", "read-only", 1, 0, &r, &src);
	report(rc == CLUSTER_OK && r == CLUSTER_ROLE_HYBRID && strcmp(src, "brainy.role") == 0,
		   "empty BRAINY_ROLE is unset; brainy.role next", src);
	rc = resolve(NULL, NULL, "read-only", 0, 0, &r, &src);
	report(rc == CLUSTER_OK && r == CLUSTER_ROLE_READER, "BRAINY_MODE=read-only -> reader", src);
	rc = resolve(NULL, NULL, "write-only", 1, 1, &r, &src);
	report(rc == CLUSTER_OK && r == CLUSTER_ROLE_WRITER, "BRAINY_MODE=write-only -> writer (over standby)", src);
	rc = resolve(NULL, NULL, NULL, 1, 0, &r, &src);
	report(rc == CLUSTER_OK && r == CLUSTER_ROLE_READER && contains(src, "standby"),
		   "a hot standby is a reader", src);
	rc = resolve(NULL, "", NULL, 0, 1, &r, &src);
	report(rc == CLUSTER_OK && r == CLUSTER_ROLE_READER && contains(src, "default_transaction_read_only"),
		   "default_transaction_read_only = on is a reader", src);

	rc = resolve(NULL, NULL, NULL, 0, 0, &r, &src);
	report(rc == CLUSTER_EINVAL && r == CLUSTER_ROLE_NONE && contains(errbuf, "add brainy.role"),
		   "nothing set: error naming brainy.role", errbuf);
	rc = resolve("boss", "writer", NULL, 0, 0, &r, &src);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "BRAINY_ROLE") && contains(errbuf, "boss"),
		   "invalid BRAINY_ROLE is an error, not skipped", errbuf);
	rc = resolve(NULL, "Writer", NULL, 0, 0, &r, &src);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "brainy.role"),
		   "invalid brainy.role (case matters) is an error", errbuf);
	rc = resolve(NULL, NULL, "readonly", 1, 0, &r, &src);
	report(rc == CLUSTER_EINVAL && contains(errbuf, "BRAINY_MODE"),
		   "invalid BRAINY_MODE is an error even on a standby", errbuf);
	report(strcmp(cluster_role_name(CLUSTER_ROLE_HYBRID), "hybrid") == 0 &&
		   strcmp(cluster_role_name(CLUSTER_ROLE_NONE), "none") == 0, "role names", "");
	report(cluster_role_parse(NULL, &r) == CLUSTER_EINVAL, "parse(NULL) is an error", "");
}

static void
test_ids(void)
{
	char		path[] = "/tmp/brainy-test-id-XXXXXX";
	char		file[64];
	char		id[CLUSTER_ID_MAX + 1],
				id2[CLUSTER_ID_MAX + 1];
	unsigned char rnd[8] = {0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 0xff};
	unsigned char rnd2[8] = {1, 1, 1, 1, 1, 1, 1, 1};
	int			created,
				rc;
	char		long_id[80];
	FILE	   *f;

	report(cluster_id_check("bluesky-ingest-1", errbuf, sizeof(errbuf)) == CLUSTER_OK, "id ok", errbuf);
	report(cluster_id_check("a.b_C-9", errbuf, sizeof(errbuf)) == CLUSTER_OK, "id with . _ - ok", errbuf);
	report(cluster_id_check("", errbuf, sizeof(errbuf)) == CLUSTER_EINVAL, "empty id refused", "");
	report(cluster_id_check(NULL, errbuf, sizeof(errbuf)) == CLUSTER_EINVAL, "NULL id refused", "");
	report(cluster_id_check("a/b", errbuf, sizeof(errbuf)) == CLUSTER_EINVAL && contains(errbuf, "character"),
		   "id with / refused", errbuf);
	report(cluster_id_check("..", errbuf, sizeof(errbuf)) == CLUSTER_EINVAL, "id .. refused", errbuf);
	report(cluster_id_check("a b", errbuf, sizeof(errbuf)) == CLUSTER_EINVAL, "id with space refused", errbuf);
	memset(long_id, 'x', 65);
	long_id[65] = '\0';
	report(cluster_id_check(long_id, errbuf, sizeof(errbuf)) == CLUSTER_EINVAL, "65-char id refused", errbuf);
	long_id[64] = '\0';
	report(cluster_id_check(long_id, errbuf, sizeof(errbuf)) == CLUSTER_OK, "64-char id ok", errbuf);

	if (mkdtemp(path) == NULL)
	{
		report(0, "mkdtemp", "");
		return;
	}
	snprintf(file, sizeof(file), "%s/brainy_instance_id", path);
	rc = cluster_id_load_or_create(file, rnd, id, &created, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_OK && created && strcmp(id, "node-deadbeef000102ff") == 0,
		   "generated id made from the random bytes and created", id);
	rc = cluster_id_load_or_create(file, rnd2, id2, &created, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_OK && !created && strcmp(id, id2) == 0, "second call reads the same id", id2);
	f = fopen(file, "w");
	fputs("bad id!\n", f);
	fclose(f);
	rc = cluster_id_load_or_create(file, rnd2, id2, &created, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL && contains(errbuf, "does not hold a valid instance id"),
		   "a corrupt id file is an error, not silently replaced", errbuf);
	unlink(file);
	snprintf(file, sizeof(file), "%s/missing/dir/id", path);
	rc = cluster_id_load_or_create(file, rnd, id2, &created, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EIO && contains(errbuf, "could not create"), "unwritable path is an I/O error", errbuf);
	rmdir(path);
}

/* --------------------------------------------------------------- config */

static const char good_config[] =
	"{\"version\": 7, \"updated\": \"2026-01-01T00:00:00Z\", \"settings\": {"
	"\"partitionStrategy\": \"hash\", \"partitionCount\": 100, \"embeddingModel\": null, "
	"\"dimensions\": null, \"distanceMetric\": null, \"futureKey\": [1, 2]}}";

static int
parse_fails(const char *text, const char *expect)
{
	ClusterConfig c;
	int			rc = cluster_config_parse(text, strlen(text), &c, errbuf, sizeof(errbuf));

	return rc == CLUSTER_EINVAL && c.root == NULL && contains(errbuf, expect);
}

static void
test_config_parse(void)
{
	ClusterConfig c,
				d;
	char	   *text;
	int			rc;

	rc = cluster_config_parse(good_config, strlen(good_config), &c, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_OK && c.version == 7 && c.partition_count == 100 && c.dimensions == 0 &&
		   c.distance_metric[0] == '\0', "parse a good config", errbuf);
	text = cluster_config_to_json(&c);
	report(contains(text, "futureKey"), "unknown keys survive a rewrite", text ? text : "");
	rc = cluster_config_parse(text, strlen(text), &d, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_OK && d.version == 7, "serialized config parses again", errbuf);
	cluster_config_free(&d);
	free(text);
	cluster_config_free(&c);

	rc = cluster_config_default("2026-11-23T10:00:00Z", &c);
	report(rc == CLUSTER_OK && c.version == 1 && c.partition_count == 100, "default config", "");
	text = cluster_config_to_json(&c);
	report(contains(text, "\"partitionStrategy\": \"hash\"") && contains(text, "\"dimensions\": null") &&
		   contains(text, "\"embeddingModel\": null") && contains(text, "2026-11-23T10:00:00Z"),
		   "default config has the seed's fields", text ? text : "");
	free(text);
	cluster_config_free(&c);
	report(cluster_config_default("bad\"quote", &c) == CLUSTER_EINVAL, "default refuses a quote in the date", "");

	report(parse_fails("", "unexpected end"), "empty text", errbuf);
	report(parse_fails("{\"version\": 1, \"settings\": {\"partitionStr", "truncated"), "truncated text", errbuf);
	report(parse_fails("garbage!", "parse error"), "garbage", errbuf);
	report(parse_fails("{\"version\":1,\"settings\":{\"partitionStrategy\":\"hash\",\"partitionCount\":1}} x",
					   "text after"), "text after the object", errbuf);
	report(parse_fails("[1]", "not a JSON object"), "an array", errbuf);
	report(parse_fails("null", "parse error"), "null", errbuf);
	report(parse_fails("{\"settings\":{}}", "version"), "no version", errbuf);
	report(parse_fails("{\"version\":0,\"settings\":{}}", "version"), "version 0", errbuf);
	report(parse_fails("{\"version\":\"1\",\"settings\":{}}", "version"), "version as string", errbuf);
	report(parse_fails("{\"version\":1}", "settings"), "no settings", errbuf);
	report(parse_fails("{\"version\":1,\"settings\":{\"partitionCount\":10}}", "partitionStrategy"),
		   "no strategy", errbuf);
	report(parse_fails("{\"version\":1,\"settings\":{\"partitionStrategy\":\"range\",\"partitionCount\":10}}",
					   "partitionStrategy"), "strategy range", errbuf);
	report(parse_fails("{\"version\":1,\"settings\":{\"partitionStrategy\":\"hash\"}}", "partitionCount"),
		   "no count", errbuf);
	report(parse_fails("{\"version\":1,\"settings\":{\"partitionStrategy\":\"hash\",\"partitionCount\":0}}",
					   "between 1 and"), "count 0", errbuf);
	report(parse_fails("{\"version\":1,\"settings\":{\"partitionStrategy\":\"hash\",\"partitionCount\":1001}}",
					   "between 1 and"), "count 1001", errbuf);
	report(parse_fails("{\"version\":1,\"settings\":{\"partitionStrategy\":\"hash\",\"partitionCount\":1.5}}",
					   "integer"), "count 1.5", errbuf);
	report(parse_fails("{\"version\":1,\"settings\":{\"partitionStrategy\":\"hash\",\"partitionCount\":1,\"dimensions\":-3}}",
					   "dimensions"), "dimensions -3", errbuf);
	report(parse_fails("{\"version\":1,\"settings\":{\"partitionStrategy\":\"hash\",\"partitionCount\":1,\"distanceMetric\":\"hamming\"}}",
					   "distanceMetric"), "unknown metric", errbuf);
	report(parse_fails("{\"version\":1,\"settings\":{\"partitionStrategy\":\"hash\",\"partitionCount\":1,\"embeddingModel\":5}}",
					   "embeddingModel"), "model as number", errbuf);
	report(parse_fails("{\"version\":1,\"updated\":5,\"settings\":{\"partitionStrategy\":\"hash\",\"partitionCount\":1}}",
					   "updated"), "updated as number", errbuf);
}

static void
test_config_merge(void)
{
	ClusterConfig c,
				n,
				m;
	char		changes[512];
	int			rc;
	const char *p;

	cluster_config_parse(good_config, strlen(good_config), &c, errbuf, sizeof(errbuf));
	p = "{\"dimensions\": 3, \"distanceMetric\": \"l2\"}";
	rc = cluster_config_merge(&c, p, strlen(p), 1, "2026-11-23T11:00:00Z", &n, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_OK && n.version == 8 && n.dimensions == 3 && strcmp(n.distance_metric, "l2") == 0,
		   "merge sets dimensions (from null, even when non-empty) and metric; version + 1", errbuf);
	report(c.version == 7 && c.dimensions == 0, "merge leaves the input untouched", "");
	cluster_config_describe_changes(&c, &n, changes, sizeof(changes));
	report(contains(changes, "dimensions null -> 3") && contains(changes, "distanceMetric null -> \"l2\"") &&
		   !contains(changes, "partitionCount"), "describe changes", changes);
	cluster_config_describe_changes(&n, &n, changes, sizeof(changes));
	report(changes[0] == '\0', "no changes described as empty", changes);

	p = "{\"dimensions\": 4}";
	rc = cluster_config_merge(&n, p, strlen(p), 1, "t", &m, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EREFUSED && contains(errbuf, "dimensions cannot change from 3 to 4") && m.root == NULL,
		   "changing dimensions on a non-empty cluster is refused", errbuf);
	p = "{\"dimensions\": null}";
	rc = cluster_config_merge(&n, p, strlen(p), 1, "t", &m, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EREFUSED, "clearing dimensions on a non-empty cluster is refused", errbuf);
	rc = cluster_config_merge(&n, "{\"dimensions\": 4}", 17, 0, "t", &m, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_OK && m.dimensions == 4, "changing dimensions on an empty cluster is allowed", errbuf);
	cluster_config_free(&m);
	p = "{\"partitionCount\": 50}";
	rc = cluster_config_merge(&n, p, strlen(p), 1, "t", &m, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EREFUSED && contains(errbuf, "partitionCount cannot change"),
		   "changing partitionCount on a non-empty cluster is refused", errbuf);
	rc = cluster_config_merge(&n, p, strlen(p), 0, "t", &m, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_OK && m.partition_count == 50, "partitionCount on an empty cluster", errbuf);
	cluster_config_free(&m);
	p = "{\"partitionCount\": 100, \"embeddingModel\": \"m1\"}";
	rc = cluster_config_merge(&n, p, strlen(p), 1, "t", &m, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_OK && m.version == 9, "the same partitionCount is no change; model is live", errbuf);
	cluster_config_free(&m);

	p = "{\"dimension\": 3}";
	rc = cluster_config_merge(&n, p, strlen(p), 0, "t", &m, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL && contains(errbuf, "unknown setting \"dimension\""), "a typo is refused", errbuf);
	p = "{\"futureKey\": 1}";
	rc = cluster_config_merge(&n, p, strlen(p), 0, "t", &m, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL, "a patch cannot set unknown keys", errbuf);
	p = "[1]";
	rc = cluster_config_merge(&n, p, strlen(p), 0, "t", &m, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL && contains(errbuf, "must be a JSON object"), "an array patch", errbuf);
	p = "{\"distanceMetric\": \"manhattan\"}";
	rc = cluster_config_merge(&n, p, strlen(p), 0, "t", &m, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL && contains(errbuf, "distanceMetric"), "a bad metric", errbuf);
	p = "{\"partitionStrategy\": null}";
	rc = cluster_config_merge(&n, p, strlen(p), 0, "t", &m, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL, "strategy cannot be null", errbuf);
	p = "{\"dimensions\": 3";
	rc = cluster_config_merge(&n, p, strlen(p), 0, "t", &m, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL && contains(errbuf, "truncated"), "a truncated patch", errbuf);
	p = "{}";
	rc = cluster_config_merge(&n, p, strlen(p), 1, "t", &m, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_OK && m.version == 9, "an empty patch bumps the version only", errbuf);
	cluster_config_free(&m);
	cluster_config_free(&n);
	cluster_config_free(&c);
}

/* ----------------------------------------------------------- heartbeats */

static void
test_heartbeat(void)
{
	ClusterHeartbeat hb,
				back;
	char	   *text,
			   *health = NULL;
	int			rc;
	ClusterLiveness l;

	memset(&hb, 0, sizeof(hb));
	snprintf(hb.id, sizeof(hb.id), "node-1");
	snprintf(hb.role, sizeof(hb.role), "writer");
	snprintf(hb.status, sizeof(hb.status), "running");
	snprintf(hb.host, sizeof(hb.host), "h\"ost");
	snprintf(hb.endpoint, sizeof(hb.endpoint), "10.0.0.1:5432");
	snprintf(hb.owner, sizeof(hb.owner), "h:5432:/data:123");
	snprintf(hb.pg_version, sizeof(hb.pg_version), "15.8");
	snprintf(hb.brainy_version, sizeof(hb.brainy_version), "0.1.0");
	hb.started = 1700000000;
	hb.last_heartbeat = 1700000030;
	hb.sequence = 2;
	text = cluster_heartbeat_to_json(&hb, "{\"status\": \"healthy\", \"metrics\": {\"x\": 1}}");
	report(text != NULL && contains(text, "\"health\":{\"status\":\"healthy\""), "heartbeat JSON embeds health",
		   text ? text : "");
	rc = cluster_heartbeat_parse(text, strlen(text), &back, &health, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_OK && strcmp(back.host, "h\"ost") == 0 && strcmp(back.owner, hb.owner) == 0 &&
		   back.started == hb.started && back.last_heartbeat == hb.last_heartbeat && back.sequence == 2 &&
		   strcmp(back.role, "writer") == 0 && contains(health, "\"x\":1"),
		   "heartbeat round trip", errbuf);
	free(health);
	free(text);
	report(cluster_heartbeat_to_json(&hb, "[1]") == NULL, "health must be an object", "");
	report(cluster_heartbeat_to_json(&hb, "{broken") == NULL, "health must be JSON", "");
	text = cluster_heartbeat_to_json(&hb, NULL);
	rc = cluster_heartbeat_parse(text, strlen(text), &back, &health, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_OK && strcmp(health, "{}") == 0, "no health: {}", health ? health : "");
	free(health);
	free(text);
	rc = cluster_heartbeat_parse("{\"role\":\"x\"}", 12, &back, NULL, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL && contains(errbuf, "no id"), "heartbeat without id", errbuf);
	rc = cluster_heartbeat_parse("{\"id\":\"a\"", 9, &back, NULL, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL, "truncated heartbeat", errbuf);
	rc = cluster_heartbeat_parse("", 0, &back, NULL, errbuf, sizeof(errbuf));
	report(rc == CLUSTER_EINVAL, "empty heartbeat", errbuf);

	cluster_liveness(100000, 90, 60000, 0, &l);
	report(l.age_ms == 10000 && l.alive && !l.stale, "10 s old: alive", "");
	cluster_liveness(100000, 40, 60000, 0, &l);
	report(l.age_ms == 60000 && l.alive, "exactly the timeout: still alive", "");
	cluster_liveness(100000, 39, 60000, 0, &l);
	report(!l.alive && !l.stale, "61 s: dead, not stale", "");
	cluster_liveness(200000, 79, 60000, 0, &l);
	report(!l.alive && l.stale, "121 s: stale", "");
	cluster_liveness(100000, 95, 60000, 1, &l);
	report(!l.alive && !l.stale, "stopped: not alive though fresh", "");
	cluster_liveness(100000, 200, 60000, 0, &l);
	report(l.age_ms == 0 && l.alive, "a heartbeat from the future counts as age 0", "");
}

/* --------------------------------------------------------------- health */

static void
test_health(void)
{
	ClusterHealthInputs in;
	char		w[CLUSTER_MAX_WARNINGS][CLUSTER_ERRLEN];
	int			n;
	const char *s;
	char	   *json;
	json_object *o,
			   *v;

	memset(&in, 0, sizeof(in));
	in.instance_id = "n1";
	in.role = "reader";
	in.uptime_s = 5;
	in.config_loaded = 1;
	in.heartbeat_age_ms = 100;
	in.heartbeat_interval_ms = 1000;
	in.last_heartbeat_at = 1700000000;
	in.requests_per_second = 2.5;
	in.average_latency_ms = 1.513;
	in.error_rate = 0;
	in.memory_usage_mb = -1;
	in.vector_count = -1;
	in.cache_hit_rate = -1;
	in.replication_lag_ms = -1;
	in.outbox_pending = -1;
	s = cluster_health_status(&in, w, &n);
	report(strcmp(s, "healthy") == 0 && n == 0, "healthy with no warnings", s);

	in.store_error = "network: connection refused";
	s = cluster_health_status(&in, w, &n);
	report(strcmp(s, "degraded") == 0 && n == 1 && contains(w[0], "connection refused"),
		   "store failing: degraded with the error", w[0]);
	in.store_error = NULL;
	in.replication_error = "collection \"items\", writer \"w1\": segment damaged";
	s = cluster_health_status(&in, w, &n);
	report(strcmp(s, "degraded") == 0 && n == 1 && contains(w[0], "replication stopped: ") &&
		   contains(w[0], "segment damaged"), "stopped replication stream: degraded with the message", w[0]);
	in.replication_error = "";
	s = cluster_health_status(&in, w, &n);
	report(strcmp(s, "healthy") == 0 && n == 0, "empty replication error: healthy", s);
	in.replication_error = NULL;
	in.heartbeat_age_ms = 2500;
	s = cluster_health_status(&in, w, &n);
	report(strcmp(s, "degraded") == 0 && contains(w[0], "2.5 s ago"), "heartbeat lagging: degraded", w[0]);
	in.heartbeat_age_ms = -1;
	s = cluster_health_status(&in, w, &n);
	report(strcmp(s, "degraded") == 0 && contains(w[0], "no heartbeat"), "never written: degraded", w[0]);
	in.heartbeat_age_ms = 10;
	in.config_error = "JSON parse error at offset 0";
	s = cluster_health_status(&in, w, &n);
	report(strcmp(s, "unhealthy") == 0 && contains(w[0], "keeping the last good config"),
		   "malformed config: unhealthy", w[0]);
	in.config_error = NULL;
	in.config_loaded = 0;
	s = cluster_health_status(&in, w, &n);
	report(strcmp(s, "unhealthy") == 0 && contains(w[0], "not been loaded"), "no config yet: unhealthy", w[0]);
	in.config_loaded = 1;
	in.role_error = "add brainy.role";
	in.id_error = "in use";
	in.store_error = "x";
	s = cluster_health_status(&in, w, &n);
	report(strcmp(s, "unhealthy") == 0 && n == 3, "several problems: all listed", s);
	in.role_error = in.id_error = in.store_error = NULL;

	json = cluster_health_to_json(&in);
	o = json ? json_tokener_parse(json) : NULL;
	report(o != NULL, "health JSON parses", json ? json : "");
	if (o != NULL)
	{
		json_object *m = NULL;

		report(json_object_object_get_ex(o, "status", &v) && strcmp(json_object_get_string(v), "healthy") == 0 &&
			   json_object_object_get_ex(o, "instanceId", &v) && strcmp(json_object_get_string(v), "n1") == 0 &&
			   json_object_object_get_ex(o, "role", &v) && json_object_object_get_ex(o, "uptime", &v) &&
			   json_object_get_int64(v) == 5 && json_object_object_get_ex(o, "warnings", &v) &&
			   json_object_array_length(v) == 0, "health fields", json);
		report(contains(json, "\"averageLatencyMs\":1.513,") && contains(json, "\"errorRate\":0.0,"),
			   "numbers printed short", json);
		report(json_object_object_get_ex(o, "metrics", &m) &&
			   json_object_object_get_ex(m, "requestsPerSecond", &v) && json_object_get_double(v) == 2.5 &&
			   json_object_object_get_ex(m, "vectorCount", &v) && v == NULL &&
			   json_object_object_get_ex(m, "cacheHitRate", &v) && v == NULL &&
			   json_object_object_get_ex(m, "memoryUsageMB", &v) &&
			   json_object_object_get_ex(m, "averageLatencyMs", &v) &&
			   json_object_object_get_ex(m, "errorRate", &v) &&
			   json_object_object_get_ex(m, "replicationLagMs", &v) &&
			   json_object_object_get_ex(m, "outboxPending", &v) &&
			   json_object_object_get_ex(m, "lastHeartbeatAt", &v) && json_object_get_int64(v) == 1700000000,
			   "metrics: every field of DESIGN.md section 5; unmeasured ones null", json);
		json_object_put(o);
	}
	free(json);

	/* replication: a stopped stream degrades with its reason; details shown */
	in.replication_error = "\"items\" from writer \"w1\" stopped: segment checksum mismatch";
	s = cluster_health_status(&in, w, &n);
	report(strcmp(s, "degraded") == 0 && n == 1 && contains(w[0], "replication stopped: ") &&
		   contains(w[0], "checksum mismatch"), "replication error: degraded with the reason", w[0]);
	in.replication_error = "";
	s = cluster_health_status(&in, w, &n);
	report(strcmp(s, "healthy") == 0 && n == 0, "empty replication error: healthy", s);
	in.replication_json = "{\"published\": [{\"collection\": \"items\", \"seq\": 7}], \"subscribed\": []}";
	in.outbox_pending = 12;
	json = cluster_health_to_json(&in);
	report(json != NULL && contains(json, "\"replication\":{\"published\":[{\"collection\":\"items\",\"seq\":7}]") &&
		   contains(json, "\"outboxPending\":12"), "replication object and outboxPending in the JSON", json ? json : "");
	free(json);
	in.replication_json = "{not json";
	json = cluster_health_to_json(&in);
	report(json != NULL && !contains(json, "\"replication\""), "malformed replication JSON left out", json ? json : "");
	free(json);
	in.replication_json = NULL;
}

/* ----------------------------------------------------------- partitions */

static void
test_partitions(void)
{
	char		name[16];
	int			i,
				counts[100] = {0},
				min = 1 << 30,
				max = 0;

	/*
	 * Fixed vectors: XXH64 with seed 0 of "" is 0xEF46DB3751D8E999, of
	 * "a" 0xD24EC4F1A98C6E5B, of "abc" 0x44BC2CF5AD770999 (the reference
	 * implementation's published values); modulo 100: 21, 55, 49.
	 */
	report(cluster_partition_index("", 0, 100) == (int) (0xEF46DB3751D8E999ULL % 100), "p(\"\")", "");
	report(cluster_partition_index("", 0, 100) == 21, "p(\"\") = 21", "");
	report(cluster_partition_index("a", 1, 100) == 55, "p(\"a\") = 55", "");
	report(cluster_partition_index("abc", 3, 100) == 49, "p(\"abc\") = 49", "");
	report(cluster_partition_index("abc", 3, 7) == (int) (0x44BC2CF5AD770999ULL % 7), "p(\"abc\") mod 7", "");
	report(cluster_partition_index("abc", 3, 1) == 0, "one partition: always 0", "");
	report(cluster_partition_index("abc", 3, 0) == -1, "count 0: -1", "");
	cluster_partition_name(7, name, sizeof(name));
	report(strcmp(name, "p007") == 0, "name p007", name);
	cluster_partition_name(999, name, sizeof(name));
	report(strcmp(name, "p999") == 0, "name p999", name);
	for (i = 0; i < 100000; i++)
	{
		char		key[16];
		int			n = snprintf(key, sizeof(key), "%d", i);

		counts[cluster_partition_index(key, (size_t) n, 100)]++;
	}
	for (i = 0; i < 100; i++)
	{
		if (counts[i] < min)
			min = counts[i];
		if (counts[i] > max)
			max = counts[i];
	}
	report(min > 850 && max < 1150, "100000 keys spread evenly over 100 partitions (+-15%)", "");
}

static void
test_stats(void)
{
	json_object *sum = NULL,
			   *v;
	const char *a = "{\"heartbeats\": 3, \"latency\": 1.5, \"name\": \"x\"}";
	const char *b = "{\"heartbeats\": 4, \"latency\": 2, \"other\": 1}";

	report(cluster_stats_add(&sum, a, strlen(a), errbuf, sizeof(errbuf)) == CLUSTER_OK, "add a", errbuf);
	report(cluster_stats_add(&sum, b, strlen(b), errbuf, sizeof(errbuf)) == CLUSTER_OK, "add b", errbuf);
	report(cluster_stats_add(&sum, "{bad", 4, errbuf, sizeof(errbuf)) == CLUSTER_EINVAL, "malformed refused", errbuf);
	report(cluster_stats_add(&sum, "[1]", 3, errbuf, sizeof(errbuf)) == CLUSTER_EINVAL, "array refused", errbuf);
	report(json_object_object_get_ex(sum, "heartbeats", &v) && json_object_get_int64(v) == 7 &&
		   json_object_object_get_ex(sum, "latency", &v) && json_object_get_double(v) == 3.5 &&
		   json_object_object_get_ex(sum, "other", &v) && json_object_get_int64(v) == 1 &&
		   !json_object_object_get_ex(sum, "name", &v),
		   "sums ints and doubles, skips strings", json_object_to_json_string(sum));
	{
		char	   *text = cluster_stats_finish(&sum, 2);

		report(text != NULL && sum == NULL && contains(text, "\"nodes\":2") && contains(text, "\"heartbeats\":7"),
			   "finish adds nodes and frees the sum", text ? text : "");
		free(text);
		text = cluster_stats_finish(&sum, 0);
		report(text != NULL && strcmp(text, "{\"nodes\":0}") == 0, "empty sum", text ? text : "");
		free(text);
	}
}

int
main(void)
{
	test_roles();
	test_ids();
	test_config_parse();
	test_config_merge();
	test_heartbeat();
	test_health();
	test_partitions();
	test_stats();
	return report_summary();
}
