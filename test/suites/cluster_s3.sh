#!/usr/bin/env bash
# cluster_s3.sh - cluster membership against a real S3 server: Ceph's RADOS
# Gateway (test/lib/rgw.sh) on 127.0.0.1, three PostgreSQL nodes with
# brainy preloaded (test/lib/cluster_nodes.sh), everything stopped by PID.
#
# Cases: config created once and adopted; instances; concurrent set_config
# from 3 nodes loses no update (If-Match on RGW); propagation; the gateway
# stopped (nodes degraded with the store's error, workers alive) and
# started again (healthy).  Reports one heartbeat's and one CAS's latency.
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
check_rc() { if [ "$2" = 0 ]; then ok "$1"; else fail "$1"; fi; }
summary() { echo "$PASSED passed, $FAILED failed"; }
contains() { [[ "$1" == *"$2"* ]]; }

. "$ROOT/test/lib/rgw.sh"
. "$ROOT/test/lib/pgcluster.sh"
. "$ROOT/test/lib/cluster_nodes.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/brainy-clusters3.XXXXXX") || exit 1
pgc_on_exit() { rgw_stop; rm -rf "$WORK"; }

if ! rgw_start; then
	fail "RADOS Gateway starts"
	summary
	exit 1
fi
ok "RADOS Gateway started on $RGW_ENDPOINT"
trap pgc_stop_all EXIT
cd / || exit 1

URL=s3://$RGW_BUCKET/cluster
CN_S3_CONF=(
	"brainy.s3_endpoint = '$RGW_ENDPOINT'"
	"brainy.s3_force_path_style = on"
	"brainy.s3_region = 'us-east-1'"
	"brainy.s3_access_key_id = '$RGW_ACCESS_KEY'"
	"brainy.s3_secret_access_key = '$RGW_SECRET_KEY'"
	"brainy.s3_timeout = '2s'"
)
for n in 1 2 3; do
	role=reader; [ $n = 1 ] && role=writer
	if ! cn_start "s$n" "$URL" "brainy.role = '$role'" "brainy.instance_id = 's3-node-$n'"; then
		fail "node s$n starts"; summary; exit 1
	fi
done
healthy() { [ "$(cn_health "$1" status)" = healthy ]; }
degraded() { [ "$(cn_health "$1" status)" = degraded ]; }
for n in 1 2 3; do check "s$n becomes healthy" cn_wait 15 healthy "s$n"; done
created=$(grep -l "created _brainy/config.json" "$(cn_log s1)" "$(cn_log s2)" "$(cn_log s3)" | wc -l)
check "exactly one node created config.json" [ "$created" = 1 ]
out=$(cn_sql s2 "SELECT string_agg(id || ':' || alive, ',' ORDER BY id) FROM brainy.instances")
check "brainy.instances on RGW lists the three nodes alive ($out)" [ "$out" = "s3-node-1:true,s3-node-2:true,s3-node-3:true" ]
out=$(cn_sql s1 "SELECT key FROM brainy.storage_list('_brainy/') WHERE key LIKE '%config.json'")
check "config.json is in the bucket under the prefix" [ "$out" = "_brainy/config.json" ]

# concurrent compare-and-swap on RGW
before=$(cn_sql s1 "SELECT brainy.config()->>'version'")
case $before in (*[!0-9]*|"") before=-1000;; esac
pids=()
for n in 1 2 3; do
	for i in 1 2 3 4; do
		cn_sql "s$n" "SELECT brainy.set_config('{\"embeddingModel\": \"m-$n-$i\"}')->>'version'" >"$WORK/cas-$n-$i.out" &
		pids+=($!)
	done
done
for p in "${pids[@]}"; do wait "$p"; done
after=$(cn_sql s1 "SELECT brainy.config()->>'version'")
check "12 concurrent set_config from 3 nodes on RGW: version $before -> $after (+12)" [ "$after" = $((before + 12)) ]

# one CAS: 20 sequential set_config calls, uncontended, timed in one session
cas_ms=$(pgc_psql s1 -d postgres -At -c "
	DO \$\$ DECLARE t0 timestamptz; BEGIN
		t0 := clock_timestamp();
		FOR i IN 1..20 LOOP PERFORM brainy.set_config('{}'); END LOOP;
		RAISE NOTICE 'cas_ms=%', round((extract(epoch FROM clock_timestamp() - t0) * 1000 / 20)::numeric, 1);
	END \$\$" 2>&1 | sed -n 's/.*cas_ms=//p')
echo "# one set_config on RGW (GET + LIST + conditional PUT): ${cas_ms} ms on average over 20"
[ -n "$cas_ms" ]; check_rc "set_config timed" $?

# propagation
target=$(cn_sql s1 "SELECT brainy.set_config('{\"embeddingModel\": \"propagated\"}')->>'version'")
t0=$(date +%s%N)
cn_wait 5 bash -c "[ \"\$(psql -X -h 127.0.0.1 -p $PGC_s3_PORT -U postgres -d postgres -Atc \"SELECT brainy.health()->>'configVersion'\")\" = $target ]"
rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check_rc "s3 applies the change (${ms} ms after set_config returned)" $rc
echo "# config propagation on RGW: ${ms} ms after set_config (poll interval 1 s)"
# the worker logs the change just after publishing the new version
cn_wait 5 grep -q "changed to version $target:" "$(cn_log s3)"
after_poll=$(grep -h -o "changed to version $target: .*(applied [0-9.]* ms after the poll fired)" "$(cn_log s3)" | sed 's/.*applied \([0-9.]*\) ms.*/\1/')
echo "# applied on s3 ${after_poll} ms after its poll fired"
# a figure, not asserted (speed belongs to benchmarks); the line must exist
[ -n "$after_poll" ]; check_rc "the change is logged with its delay after the poll (${after_poll} ms)" $?

# the S3 server goes away, then comes back
w1=$(cn_worker_pid s1)
rgw_gateway_down
check "with the gateway down s1 turns degraded" cn_wait 15 degraded s1
out=$(cn_sql s1 "SELECT brainy.health()->'warnings'->>0")
check "the warning names the object store failure: $out" contains "$out" "object store failing"
check "the worker did not die (same PID)" [ "$(cn_worker_pid s1)" = "$w1" ]
out=$(cn_sql s2 "SELECT brainy.set_config('{}')")
check "set_config with the gateway down: a clear error ($out)" contains "$out" "failed"
if rgw_gateway_up; then ok "gateway back"; else fail "gateway back"; fi
for n in 1 2 3; do check "s$n healthy again after the outage" cn_wait 20 healthy "s$n"; done
# (the worker logs a transition at the end of its turn, a moment after
# brainy.health() already shows it)
check "log: the transition to degraded and back is logged" cn_wait 5 bash -c "grep -q 'health healthy -> degraded' '$(cn_log s1)' && grep -q 'health degraded -> healthy' '$(cn_log s1)'"
grep -o 'brainy: health .*' "$(cn_log s1)" | sed 's/^/# s1 log: /'

# one heartbeat (conditional PUT + LIST + stats PUT), from the worker's log
hb=$(grep -h -o 'heartbeat [0-9]* written in [0-9.]* ms' "$(cn_log s1)" "$(cn_log s2)" "$(cn_log s3)" | awk '{print $5}' | sort -n)
n_hb=$(echo "$hb" | grep -c .)
p50=$(echo "$hb" | awk -v n="$n_hb" 'NR == int((n + 1) / 2) {print}')
echo "# one heartbeat write on RGW (If-Match PUT): median ${p50} ms over ${n_hb} (3 nodes)"
[ "$n_hb" -gt 3 ]; check_rc "heartbeats timed ($n_hb)" $?

for n in 1 2 3; do
	if grep -E "terminated by signal|PANIC:" "$(cn_log s$n)" >/dev/null; then fail "s$n: no crashed process"; else ok "s$n: no crashed process"; fi
done
# the credentials never reach a log
if grep -F -e "$RGW_SECRET_KEY" "$(cn_log s1)" "$(cn_log s2)" "$(cn_log s3)" >/dev/null; then
	fail "server logs do not contain the secret"
else
	ok "server logs do not contain the secret"
fi
summary
[ "$FAILED" -eq 0 ]
