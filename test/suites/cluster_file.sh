#!/usr/bin/env bash
# cluster_file.sh - cluster membership on a shared file:// bucket: several
# PostgreSQL clusters with brainy preloaded (test/lib/cluster_nodes.sh,
# heartbeat 1s, timeout 3s, config poll 1s), all stopped by PID at the end.
#
# Cases: the first node creates config.json and the others adopt it;
# heartbeats and brainy.instances; 20 concurrent set_config calls from 4
# nodes lose no update; bad patches, refused changes, privileges;
# propagation to other nodes; partition_of vectors; role errors for each
# missing or invalid setting and the environment overrides; a generated id
# kept across a restart; a duplicate live id refused; a SIGKILLed node
# reported dead then cleaned up; the worker restarted after kill -9; a
# malformed config.json; a hot standby of a writer, with no role set,
# joining as a reader; SIGTERM's final "stopped" heartbeat; no worker
# without brainy.storage.
#
# Prints "N passed, N failed" at the end.
set -uo pipefail

ROOT=${BRAINY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if [ -d /usr/lib/postgresql/15/bin ]; then
	export PATH=/usr/lib/postgresql/15/bin:$PATH
fi
PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $*"; }
check() { local desc=$1; shift; if "$@"; then ok "$desc"; else fail "$desc"; fi; }
summary() { echo "$PASSED passed, $FAILED failed"; }
contains() { [[ "$1" == *"$2"* ]]; }
# check_rc DESC STATUS: the outcome of a compound test already run
check_rc() { if [ "$2" = 0 ]; then ok "$1"; else fail "$1"; fi; }

. "$ROOT/test/lib/pgcluster.sh"
. "$ROOT/test/lib/cluster_nodes.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/brainy-clusterfile.XXXXXX") || exit 1
chmod 755 "$WORK"
pgc_on_exit() { rm -rf "$WORK"; }
trap pgc_stop_all EXIT
BUCKET=$WORK/bucket
mkdir -p "$BUCKET"
[ "$(id -u)" = 0 ] && chown "$PGC_OSUSER" "$BUCKET"
URL=file://$BUCKET
cd / || exit 1

# the file backend keeps keys under an escaped directory layout: find the
# file that holds a key by asking the server (storage_list + the layout
# is not ours to know), so objects are edited through a node's SQL
bucket_file() {
	find "$BUCKET" -type f -name "$1" | head -n 1
}
json_field() {		# json_field NODE SQL-JSON-EXPR
	cn_sql "$1" "SELECT $2"
}

# --- 1. first node creates config, the second adopts it -----------------------

if ! cn_start w1 "$URL" "brainy.role = 'writer'" "brainy.instance_id = 'writer-1'"; then
	fail "node w1 starts"; summary; exit 1
fi
if ! cn_start r1 "$URL" "brainy.role = 'reader'" "brainy.instance_id = 'reader-1'"; then
	fail "node r1 starts"; summary; exit 1
fi
healthy() { [ "$(cn_health "$1" status)" = healthy ]; }
check "w1 becomes healthy" cn_wait 10 healthy w1
check "r1 becomes healthy" cn_wait 10 healthy r1
created=$(grep -l "created _brainy/config.json" "$(cn_log w1)" "$(cn_log r1)" | wc -l)
check "exactly one node created config.json (If-None-Match)" [ "$created" = 1 ]
check "config.json is in the bucket" [ -n "$(bucket_file config.json)" ]
v1=$(cn_health w1 configVersion); v2=$(cn_health r1 configVersion)
[ -n "$v1" ] && [ "$v1" = "$v2" ]; check_rc "both nodes use the same config version ($v1, $v2)" $?
out=$(cn_sql r1 "SELECT brainy.config()->'settings'->>'partitionStrategy', brainy.config()->'settings'->>'partitionCount', brainy.config()->'settings'->>'dimensions' IS NULL")
check "config has the seed's defaults (hash, 100, dimensions null): $out" [ "$out" = "hash|100|t" ]
out=$(cn_sql w1 "SELECT brainy.health()->>'role', brainy.health()->>'instanceId'")
check "health: role and id of w1 ($out)" [ "$out" = "writer|writer-1" ]
out=$(cn_sql w1 "SELECT string_agg(id || ':' || role || ':' || status || ':' || alive, ',' ORDER BY id) FROM brainy.instances")
check "brainy.instances lists both nodes alive ($out)" [ "$out" = "reader-1:reader:running:true,writer-1:writer:running:true" ]
out=$(cn_sql w1 "SELECT count(*) FROM brainy.instances WHERE endpoint LIKE '%:$PGC_r1_PORT' AND metrics ? 'metrics' AND age < interval '3 s'")
check "instances: endpoint host:port, health metrics, age below the timeout" [ "$out" = 1 ]
h=$(cn_sql r1 "SELECT brainy.health()")
for f in status instanceId role uptime metrics warnings; do
	contains "$h" "\"$f\"" || { fail "health has $f: $h"; continue; }
done
check "health has every metric of DESIGN.md section 5" bash -c 'for m in vectorCount cacheHitRate memoryUsageMB requestsPerSecond averageLatencyMs errorRate replicationLagMs outboxPending lastHeartbeatAt; do [[ "$1" == *"\"$m\""* ]] || exit 1; done' _ "$h"

# heartbeat visible within one interval: r1's sequence advances
seq_of() { cn_sql w1 "SELECT (convert_from(brainy.storage_get('_brainy/instances/$1.json'), 'UTF8')::jsonb)->>'sequence'"; }
s1=$(seq_of reader-1); sleep 1.2; s2=$(seq_of reader-1)
[ -n "$s1" ] && [ "$s2" -gt "$s1" ]; check_rc "a heartbeat is written within one interval ($s1 -> $s2)" $?
check "log: role resolution line" grep -q 'brainy: role writer (brainy.role)' "$(cn_log w1)"
check "log: config load line" grep -q 'brainy: config.json version 1 loaded' "$(cn_log r1)"
check "log: heartbeat lines" grep -q 'brainy: heartbeat [0-9]* written in' "$(cn_log r1)"
check "log: health transition" grep -q 'brainy: health starting -> healthy' "$(cn_log r1)"

# --- 2. set_config: concurrency, validation, propagation, privileges ---------

cn_start w2 "$URL" "brainy.role = 'hybrid'" "brainy.instance_id = 'writer-2'" || fail "node w2 starts"
cn_start w3 "$URL" "brainy.role = 'writer'" "brainy.instance_id = 'writer-3'" || fail "node w3 starts"
before=$(cn_sql w1 "SELECT brainy.config()->>'version'")
case $before in (*[!0-9]*|"") before=-1000;; esac
pids=()
for n in w1 r1 w2 w3; do
	for i in 1 2 3 4 5; do
		cn_sql "$n" "SELECT brainy.set_config('{\"embeddingModel\": \"model-$n-$i\"}')->>'version'" >"$WORK/cas-$n-$i.out" &
		pids+=($!)
	done
done
for p in "${pids[@]}"; do wait "$p"; done
after=$(cn_sql w1 "SELECT brainy.config()->>'version'")
check "20 concurrent set_config from 4 nodes: version $before -> $after (+20)" [ "$after" = $((before + 20)) ]
versions=$(cat "$WORK"/cas-*.out | sort -n | uniq | wc -l)
check "each of the 20 calls got its own version" [ "$versions" = 20 ]

out=$(cn_sql w1 "SELECT brainy.set_config('{\"dimension\": 3}')")
check "a misspelt setting is refused: $out" contains "$out" 'unknown setting "dimension"'
out=$(cn_sql w1 "SELECT brainy.set_config('{\"distanceMetric\": \"hamming\"}')")
check "a bad value is refused" contains "$out" "distanceMetric must be"
out=$(cn_sql w1 "SELECT brainy.set_config('[1]')")
check "a patch that is not an object is refused" contains "$out" "must be a JSON object"
out=$(cn_sql w1 "SELECT brainy.set_config('{\"dimensions\": 3, \"distanceMetric\": \"l2\"}')->'settings'->>'dimensions'")
check "dimensions set while no collection exists" [ "$out" = 3 ]
# a collection appears: the cluster is no longer empty
cn_sql w1 "SELECT 1" >/dev/null
mkdir -p "$WORK/tmpobj"
pgc_psql w1 -d postgres -At -c "SELECT brainy.partition_of('x')" >/dev/null
# write the object through the file backend's own layout: copy config.json's path shape
cfg=$(bucket_file config.json)
coldir="$(dirname "$cfg")/collections%d/items%d"
mkdir -p "$coldir" && echo '{}' >"$coldir/schema.json" && chown -R "$PGC_OSUSER" "$(dirname "$cfg")/collections%d" 2>/dev/null
out=$(cn_sql w1 "SELECT key FROM brainy.storage_list('_brainy/collections/')")
check "a collection object exists ($out)" [ "$out" = "_brainy/collections/items/schema.json" ]
out=$(cn_sql w1 "SELECT brainy.set_config('{\"dimensions\": 4}')")
check "changing dimensions on a non-empty cluster is refused: $out" contains "$out" "dimensions cannot change from 3 to 4"
out=$(cn_sql w1 "SELECT brainy.set_config('{\"partitionCount\": 50}')")
check "changing partitionCount on a non-empty cluster is refused" contains "$out" "partitionCount cannot change"
rm -rf "$(dirname "$cfg")/collections%d"

cn_sql w1 "CREATE ROLE plain_user LOGIN; CREATE ROLE ops_user LOGIN IN ROLE brainy_admin" >/dev/null
out=$(pgc_psql w1 -d postgres -At -U plain_user -c "SELECT brainy.set_config('{}')" 2>&1)
check "an ordinary role gets a permission error from set_config" contains "$out" "permission denied for function set_config"
out=$(pgc_psql w1 -d postgres -At -U plain_user -c "SELECT count(*) FROM brainy.instances" 2>&1)
check "an ordinary role reads brainy.instances ($out)" [ "$out" = 4 ]
out=$(pgc_psql w1 -d postgres -At -U plain_user -c "SELECT brainy.health()->>'status'" 2>&1)
check "an ordinary role reads brainy.health() ($out)" [ "$out" = healthy ]
out=$(pgc_psql w1 -d postgres -At -U ops_user -c "SELECT brainy.set_config('{\"embeddingModel\": \"ops\"}')->'settings'->>'embeddingModel'" 2>&1)
check "a member of brainy_admin may set_config ($out)" [ "$out" = ops ]

# propagation: change on w1, time until r1 applies it
target=$(cn_sql w1 "SELECT brainy.set_config('{\"embeddingModel\": \"propagated\"}')->>'version'")
t0=$(date +%s%N)
cn_wait 5 bash -c "[ \"\$(psql -X -h 127.0.0.1 -p $PGC_r1_PORT -U postgres -d postgres -Atc \"SELECT brainy.health()->>'configVersion'\")\" = $target ]"
rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check_rc "r1 applies the new config (${ms} ms after set_config returned)" $rc
echo "# config propagation on file://: ${ms} ms after set_config (poll interval 1 s)"
# the worker logs the change just after publishing the new version
cn_wait 5 grep -q "changed to version $target:" "$(cn_log r1)"
after_poll=$(grep -h -o "changed to version $target: .*(applied [0-9.]* ms after the poll fired)" "$(cn_log r1)" | sed 's/.*applied \([0-9.]*\) ms.*/\1/')
echo "# applied on r1 ${after_poll} ms after its poll fired"
# a figure, not asserted (speed belongs to benchmarks); the line must exist
[ -n "$after_poll" ]; check_rc "the change is logged with its delay after the poll (${after_poll} ms)" $?
check "log: the change is logged on r1" grep -q "config.json changed to version $target: embeddingModel" "$(cn_log r1)"

# partition_of: fixed vectors, identical on every node
out=$(cn_sql w1 "SELECT brainy.partition_of('') || brainy.partition_of('a') || brainy.partition_of('abc')")
check "partition_of fixed vectors ('' p021, 'a' p055, 'abc' p049): $out" [ "$out" = p021p055p049 ]
a=$(cn_sql w1 "SELECT string_agg(brainy.partition_of(i::text), ',' ORDER BY i) FROM generate_series(1, 200) i")
b=$(cn_sql r1 "SELECT string_agg(brainy.partition_of(i::text), ',' ORDER BY i) FROM generate_series(1, 200) i")
check "partition_of identical on two nodes for 200 keys" [ "$a" = "$b" ]
out=$(cn_sql w1 "SELECT count(DISTINCT brainy.partition_of(i::text)) FROM generate_series(1, 5000) i")
check "5000 keys use all 100 partitions ($out)" [ "$out" = 100 ]

pgc_stop w2; pgc_stop w3

# --- 3. roles and ids ------------------------------------------------------------

role_case() {	# role_case DESC EXPECT_IN_LOG [env...] -- [conf lines...]
	local desc=$1 expect=$2; shift 2
	local envs=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	# the environment of the call reaches the server (pg_ctl passes it on)
	local v rc
	for v in "${envs[@]}"; do export "${v?}"; done
	cn_start rc "$URL" "$@"
	rc=$?
	for v in "${envs[@]}"; do unset "${v%%=*}"; done
	if [ $rc != 0 ]; then
		fail "$desc: node starts"; return
	fi
	cn_wait 5 grep -q -F -- "$expect" "$(cn_log rc)"
	check "$desc" grep -q -F -- "$expect" "$(cn_log rc)"
}
role_case "no role anywhere: a start-up ERROR naming brainy.role" \
	"ERROR:  brainy: this node's role is not set: add brainy.role" --
out=$(cn_sql rc "SELECT brainy.health()->>'status', brainy.health()->'warnings'->>0")
check "no role: health unhealthy, warning names the setting ($out)" contains "$out" "unhealthy|role: this node's role is not set: add brainy.role"
out=$(cn_sql rc "SELECT count(*) FROM brainy.instances WHERE id = (SELECT brainy.health()->>'instanceId')")
check "no role: the node does not join (no heartbeat)" [ "$out" = 0 ]
cn_sql rc "ALTER SYSTEM SET brainy.role = 'reader'" >/dev/null
cn_sql rc "SELECT pg_reload_conf()" >/dev/null
check "SIGHUP: a role added by reload is picked up" cn_wait 5 bash -c "[ \"\$(psql -X -h 127.0.0.1 -p $PGC_rc_PORT -U postgres -d postgres -Atc \"SELECT brainy.health()->>'role'\")\" = reader ]"
gen_id=$(cn_health rc instanceId)
check "a generated id is kept in the data directory ($gen_id)" [ "$(cat "$PGC_rc_DIR/data/brainy_instance_id" 2>/dev/null)" = "$gen_id" ]
pgc_restart rc
check "a restart keeps the generated id" cn_wait 5 bash -c "[ \"\$(psql -X -h 127.0.0.1 -p $PGC_rc_PORT -U postgres -d postgres -Atc \"SELECT brainy.health()->>'instanceId'\")\" = $gen_id ]"
check "after the restart the node is healthy again" cn_wait 8 healthy rc
pgc_stop rc
role_case "invalid brainy.role: an ERROR naming it" \
	'invalid value for brainy.role: "boss"' -- "brainy.role = 'boss'"
pgc_stop rc
role_case "invalid BRAINY_ROLE: an ERROR naming it" \
	'invalid BRAINY_ROLE environment variable "chief"' BRAINY_ROLE=chief -- "brainy.role = 'writer'"
pgc_stop rc
role_case "invalid BRAINY_MODE: an ERROR naming it" \
	'invalid BRAINY_MODE environment variable "sideways"' BRAINY_MODE=sideways --
pgc_stop rc
role_case "BRAINY_ROLE overrides brainy.role" \
	'brainy: role reader (BRAINY_ROLE environment variable)' BRAINY_ROLE=reader -- "brainy.role = 'writer'"
pgc_stop rc
role_case "BRAINY_MODE=write-only infers a writer" \
	'brainy: role writer (BRAINY_MODE environment variable)' BRAINY_MODE=write-only --
pgc_stop rc
role_case "default_transaction_read_only = on infers a reader" \
	'brainy: role reader (inferred: default_transaction_read_only = on)' -- "default_transaction_read_only = on"
pgc_stop rc
role_case "BRAINY_INSTANCE_ID overrides brainy.instance_id" \
	'brainy: instance id "env-node" (BRAINY_INSTANCE_ID environment variable)' \
	BRAINY_INSTANCE_ID=env-node -- "brainy.role = 'reader'" "brainy.instance_id = 'conf-node'"
pgc_stop rc
role_case "an invalid instance id is an ERROR" \
	'invalid instance id from brainy.instance_id' -- "brainy.role = 'reader'" "brainy.instance_id = 'bad/id'"
pgc_stop rc
role_case "a second live node with the same id refuses to join" \
	'instance id "writer-1" is in use by another live node' -- "brainy.role = 'writer'" "brainy.instance_id = 'writer-1'"
out=$(cn_sql rc "SELECT brainy.health()->>'status'")
check "the duplicate is unhealthy ($out)" [ "$out" = unhealthy ]
out=$(cn_sql w1 "SELECT brainy.health()->>'status', (SELECT endpoint FROM brainy.instances WHERE id = 'writer-1')")
check "the first owner of the id stays healthy and keeps its heartbeat ($out)" [ "$out" = "healthy|$(hostname):$PGC_w1_PORT" ]
pgc_stop rc

# --- 4. failures -------------------------------------------------------------------

# a node killed with SIGKILL: not alive after the timeout, deleted after 2 x
cn_start k1 "$URL" "brainy.role = 'reader'" "brainy.instance_id = 'doomed'" || fail "node k1 starts"
cn_wait 5 bash -c "[ \"\$(psql -X -h 127.0.0.1 -p $PGC_w1_PORT -U postgres -d postgres -Atc \"SELECT alive FROM brainy.instances WHERE id = 'doomed'\")\" = t ]"
check "k1 is seen alive" [ "$(cn_sql w1 "SELECT alive FROM brainy.instances WHERE id = 'doomed'")" = t ]
kill -KILL "$PGC_k1_PID"
t0=$(date +%s%N)
cn_wait 10 bash -c "[ \"\$(psql -X -h 127.0.0.1 -p $PGC_w1_PORT -U postgres -d postgres -Atc \"SELECT alive FROM brainy.instances WHERE id = 'doomed'\")\" = f ]"
dead_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
out=$(cn_sql w1 "SELECT status || ':' || alive FROM brainy.instances WHERE id = 'doomed'")
check "a SIGKILLed node is reported not alive after the timeout (${dead_ms} ms, timeout 3 s): $out" [ "$out" = "dead:false" ]
cn_wait 12 bash -c "[ \"\$(psql -X -h 127.0.0.1 -p $PGC_w1_PORT -U postgres -d postgres -Atc \"SELECT count(*) FROM brainy.instances WHERE id = 'doomed'\")\" = 0 ]"
gone_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$(cn_sql w1 "SELECT count(*) FROM brainy.instances WHERE id = 'doomed'")" = 0 ] && [ "$gone_ms" -ge 5000 ]; check_rc "its heartbeat is deleted after 2 x timeout (${gone_ms} ms)" $?
check "log: the deletion is logged" bash -c "grep -q 'deleted the stale heartbeat _brainy/instances/doomed.json' '$(cn_log w1)' '$(cn_log r1)'"
pgc_stop k1

# the worker killed with SIGKILL: the postmaster restarts it
wpid=$(cn_worker_pid r1)
check "r1 has a cluster worker ($wpid)" [ -n "$wpid" ]
kill -KILL "$wpid"
new_worker() { local p; p=$(cn_worker_pid r1); [ -n "$p" ] && [ "$p" != "$wpid" ]; }
check "the worker is restarted after kill -9" cn_wait 20 new_worker
check "r1 healthy again after the worker restart" cn_wait 10 healthy r1

# a malformed config.json: unhealthy, no crash, recovery
cfg=$(bucket_file config.json)
cp "$cfg" "$WORK/config.good"
wpid=$(cn_worker_pid w1)
printf '{"version": 99, "settings": {"partitionStr' >"$cfg"
unhealthy() { [ "$(cn_health "$1" status)" = unhealthy ]; }
check "a truncated config.json makes the node unhealthy" cn_wait 5 unhealthy w1
out=$(cn_sql w1 "SELECT brainy.health()->'warnings'->>0")
check "the warning carries the parse error: $out" contains "$out" "keeping the last good config): JSON parse error"
check "the worker did not crash (same PID)" [ "$(cn_worker_pid w1)" = "$wpid" ]
out=$(cn_sql w1 "SELECT brainy.partition_of('abc')")
check "the last good config still serves partition_of ($out)" [ "$out" = p049 ]
out=$(cn_sql w1 "SELECT brainy.config()")
check "brainy.config() reports the malformed object clearly" contains "$out" "config.json is malformed"
echo 'not json at all' >"$cfg"
check "garbage: still unhealthy, still the same worker" cn_wait 3 bash -c "[ \"\$(psql -X -h 127.0.0.1 -p $PGC_w1_PORT -U postgres -d postgres -Atc \"SELECT brainy.health()->'warnings'->>0\")\" != '$out' ]"
check "garbage: same worker" [ "$(cn_worker_pid w1)" = "$wpid" ]
cp "$WORK/config.good" "$cfg"
check "repaired config.json: healthy again" cn_wait 5 healthy w1

# a hot standby of a writer, with no role of its own, joins as a reader
if pgc_start_standby sb1 w1 "brainy.role = ''" "brainy.instance_id = 'standby-1'"; then
	check "hot standby: the worker infers the reader role" \
		cn_wait 10 grep -q 'brainy: role reader (inferred: the server is a hot standby)' "$PGC_sb1_DIR/server.log"
	check "hot standby: its heartbeat says reader" \
		cn_wait 10 bash -c "[ \"\$(psql -X -h 127.0.0.1 -p $PGC_w1_PORT -U postgres -d postgres -Atc \"SELECT role || ':' || alive FROM brainy.instances WHERE id = 'standby-1'\")\" = reader:true ]"
	out=$(pgc_psql sb1 -d postgres -At -c "SELECT brainy.health()->>'role'" 2>&1)
	check "hot standby: brainy.health() on it says reader ($out)" [ "$out" = reader ]
	pgc_stop sb1
else
	fail "hot standby of w1 starts"
fi

# SIGTERM: a final heartbeat marked stopped
pgc_stop r1
out=$(cn_sql w1 "SELECT status || ':' || alive FROM brainy.instances WHERE id = 'reader-1'")
check "a stopped node's last heartbeat says stopped ($out)" [ "$out" = "stopped:false" ]

out=$(cn_sql w1 "SELECT (brainy.cluster_stats()->>'nodes')::int >= 2 AND (brainy.cluster_stats()->>'heartbeats')::int > 10")
check "cluster_stats sums the per-node objects" [ "$out" = t ]

# no storage: single node, no worker
pgc_start solo "shared_preload_libraries = 'brainy'" >/dev/null || fail "solo starts"
cn_sql solo "CREATE EXTENSION brainy" >/dev/null
check "without brainy.storage no worker starts" [ -z "$(cn_worker_pid solo)" ]
out=$(cn_sql solo "SELECT brainy.health()->>'status', brainy.health()->>'role', brainy.partition_of('abc')")
check "without brainy.storage: standalone and healthy ($out)" [ "$out" = "healthy|standalone|p049" ]
pgc_stop solo

for n in w1; do
	if grep -E "terminated by signal [^9]|PANIC:" "$(cn_log $n)" >/dev/null; then fail "$n: no crashed process"; else ok "$n: no crashed process"; fi
done
summary
[ "$FAILED" -eq 0 ]
