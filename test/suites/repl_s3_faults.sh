#!/usr/bin/env bash
# repl_s3_faults.sh - replication against a real S3 server (Ceph's RADOS
# Gateway, test/lib/rgw.sh) with faults: one writer and one reader, each
# reaching the gateway through its own fault proxy (test/unit/bin/fault_proxy,
# test/lib/repl.sh), everything stopped by PID at the end.
#
# 1. Faults on 25% of requests (dropped connections, 500, 503 SlowDown,
#    replies lost after the request took effect, 2.5 s delays against a 2 s
#    client timeout) while 8,000 rows are loaded with updates and deletes
#    for about 15 s:
#    no loss, no duplicate (the reader's contents equal the writer's),
#    brainy.health() polled every 0.3 s shows degraded on each node while
#    the faults last and healthy again after.
# 2. An idle reader (poll 1 s, one writer) over 10 s: at most about one
#    change-log request per writer per poll, counted by the reader's proxy
#    by key class (heartbeats, config and statistics reported apart).
# 3. The gateway stopped for 4 s and started again during a 3,000-row load:
#    degraded while it is away, converges after.
#
# The proxies' random faults use a seed printed at the start (REPL_SEED).
# Prints "N passed, N failed" at the end.
set -uo pipefail

ROOT=${BRAINY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$ROOT/test/lib/suite.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/brainy-repls3.XXXXXX") || exit 1
chmod 755 "$WORK"
REPL_DIR=$WORK
. "$ROOT/test/lib/rgw.sh"
. "$ROOT/test/lib/pgcluster.sh"
. "$ROOT/test/lib/cluster_nodes.sh"
. "$ROOT/test/lib/repl.sh"
pgc_on_exit() { repl_cleanup; rgw_stop; rm -rf "$WORK"; }

suite_seed
DIM=16

if ! rgw_start; then
	fail "RADOS Gateway starts"; rm -rf "$WORK"; summary; exit 1
fi
ok "RADOS Gateway started on $RGW_ENDPOINT"
trap pgc_stop_all EXIT
cd / || exit 1

# 250 per mille faulted: 6% dropped, 6% 500, 6% 503, 3% reply lost, 4% slow
FAULTS=(--drop 60 --e500 60 --e503 60 --lost-reply 30 --delay 40 --delay-ms 2500)
for p in pw pr; do
	if ! repl_proxy_start "$p" "$RGW_PORT" "${FAULTS[@]}" --seed $((SEED + ${#p})) --off; then
		fail "fault proxy $p starts"; summary; exit 1
	fi
done
URL=s3://$RGW_BUCKET/repl
CN_S3_CONF=(
	"brainy.s3_force_path_style = on"
	"brainy.s3_region = 'us-east-1'"
	"brainy.s3_access_key_id = '$RGW_ACCESS_KEY'"
	"brainy.s3_secret_access_key = '$RGW_SECRET_KEY'"
	"brainy.s3_timeout = '2s'"
)
if ! repl_node w1 writer "$URL" "brainy.s3_endpoint = 'http://127.0.0.1:$REPL_PROXY_pw_PORT'" ||
		! repl_node r1 reader "$URL" "brainy.s3_endpoint = 'http://127.0.0.1:$REPL_PROXY_pr_PORT'"; then
	fail "writer and reader start"; summary; exit 1
fi
healthy() { [ "$(cn_health "$1" status)" = healthy ]; }
check "writer healthy (through its proxy)" cn_wait 20 healthy w1
check "reader healthy (through its proxy)" cn_wait 20 healthy r1
repl_vec_fn w1
repl_vec_fn r1
repl_items w1 $DIM
repl_sql w1 "INSERT INTO items SELECT g, tvec(g, $DIM), 'pre' FROM generate_series(1, 500) g" >/dev/null
out=$(repl_sql w1 "SELECT brainy.publish('items')")
check "publish ($out)" [ "$out" = items ]
out=$(repl_sql r1 "SELECT brainy.subscribe('items')")
check "subscribe ($out)" [ "$out" = items ]

# health of both nodes every 0.3 s into a file, while told to
health_poller() {
	while [ ! -e "$WORK/stop-health" ]; do
		for n in w1 r1; do
			echo "$n $(cn_health $n status 2>/dev/null | head -n 1)" >>"$WORK/health.$1"
		done
		sleep 0.3
	done
}
# n transactions of 100 rows from id FROM, PAUSE seconds apart: insert,
# update the previous hundred's multiples of 10, delete its ids ending in 5
# (idempotent, retried)
load() {
	local from=$1 n=$2 pause=${3:-0} k lo
	for k in $(seq 0 $((n - 1))); do
		lo=$((from + k * 100))
		until pgc_psql w1 -d postgres -c "BEGIN;
			INSERT INTO items SELECT g, tvec(g, $DIM), 't' || g FROM generate_series($lo, $((lo + 99))) g ON CONFLICT (id) DO NOTHING;
			UPDATE items SET embedding = tvec(id + 5000000, $DIM), title = 'u' WHERE id BETWEEN $((lo - 100)) AND $((lo - 1)) AND id % 10 = 0;
			DELETE FROM items WHERE id BETWEEN $((lo - 100)) AND $((lo - 1)) AND id % 10 = 5;
			COMMIT" >/dev/null 2>&1; do
			sleep 0.2
		done
		sleep "$pause"
	done
}
# the two proxies' counts, summed, copied to FILE.pw and FILE.pr
snap() { repl_proxy_snapshot pw "$1.pw"; repl_proxy_snapshot pr "$1.pr"; }
stat_sum() { echo $(( $(repl_stat "$1.pw" "$2") + $(repl_stat "$1.pr" "$2") )); }
faulted_sum() {
	local s=0 k
	for k in dropped e500 e503 lost_reply delayed; do s=$((s + $(stat_sum "$1" $k))); done
	echo $s
}

# --- 1. random faults during a load -----------------------------------------------

snap "$WORK/s0"
repl_proxy_toggle pw; repl_proxy_toggle pr
rm -f "$WORK/stop-health"
repl_bg health_poller faults
t0=$(date +%s)
# about 15 s of load, then 5 s more for the last flushes under faults
load 1001 80 0.15
sleep 5
repl_proxy_toggle pw; repl_proxy_toggle pr
snap "$WORK/s1"
req0=$(stat_sum "$WORK/s0" requests); flt0=$(faulted_sum "$WORK/s0")
req1=$(stat_sum "$WORK/s1" requests); flt1=$(faulted_sum "$WORK/s1")
touch "$WORK/stop-health"
wait "${REPL_BG_PIDS[@]}" 2>/dev/null; REPL_BG_PIDS=()
req=$((req1 - req0)); flt=$((flt1 - flt0))
echo "# fault period: $(( $(date +%s) - t0 )) s, $req requests through the proxies, $flt faulted"
for k in dropped e500 e503 lost_reply delayed; do echo "#   $k: $(( $(stat_sum "$WORK/s1" $k) - $(stat_sum "$WORK/s0" $k) ))"; done
[ "$req" -gt 0 ] && [ $((flt * 100)) -ge $((req * 10)) ]; check_rc "at least 10% of the requests were faulted ($flt of $req)" $?
for n in w1 r1; do
	d=$(grep -c "^$n degraded" "$WORK/health.faults"); t=$(grep -c "^$n " "$WORK/health.faults")
	echo "# $n: degraded in $d of $t health samples during the faults"
	check "$n: health shows degraded while the faults last ($d of $t samples)" [ "$d" -gt 0 ]
done
out=$(repl_sync w1 r1)
check_rc "after the faults: flush and wait_for${out:+: $out}" $?
dw=$(repl_digest w1 items); dr=$(repl_digest r1 items)
check "no loss, no duplicate: the reader's contents equal the writer's ($dr)" same "$dr" "$dw"
out=$(repl_sql r1 "SELECT count(*) = count(DISTINCT id) FROM items")
check "every id once" [ "$out" = t ]
pseq=$(repl_sql w1 "SELECT published_seq FROM brainy.publications")
nseg=$(repl_sql w1 "SELECT count(*) FROM brainy.storage_list('_brainy/log/items/w1/')")
check "segments 1..$pseq in the bucket, no gap, none extra (lost replies answered 412 on retry) ($nseg)" [ "$nseg" = "$pseq" ]
check "writer healthy again after the faults" cn_wait 20 healthy w1
check "reader healthy again after the faults" cn_wait 20 healthy r1

# --- 2. the idle reader's requests ------------------------------------------------

repl_sql r1 "ALTER SYSTEM SET brainy.poll_interval = '1s'" >/dev/null
repl_sql r1 "SELECT pg_reload_conf()" >/dev/null
sleep 3
repl_proxy_snapshot pr "$WORK/idle0"
sleep 9.85
repl_proxy_snapshot pr "$WORK/idle1"
idle() { echo $(( $(repl_stat "$WORK/idle1" "$1") - $(repl_stat "$WORK/idle0" "$1") )); }
line=""
for k in requests GET PUT HEAD log instances config stats collections locks other_key; do
	line="$line $k=$(idle $k)"
done
echo "# idle reader, 10 s at poll 1 s, one writer:$line"
repl_req=$(( $(idle log) + $(idle collections) + $(idle other_key) ))
check "idle reader: change-log requests <= ~1 per writer per poll ($repl_req in 10 polls; heartbeat/config/stats apart)" [ "$repl_req" -le 12 ]
[ "$repl_req" -ge 8 ]; check_rc "idle reader: it does poll the writer's log ($repl_req requests in 10 s)" $?

# --- 3. the gateway restarted during a load -----------------------------------------

rm -f "$WORK/stop-health"
repl_bg health_poller outage
poller=${REPL_BG_PIDS[-1]}
load 20001 30 &
loader=$!
sleep 1
rgw_gateway_down
echo "# gateway stopped"
sleep 4
if rgw_gateway_up; then ok "gateway back"; else fail "gateway back"; fi
wait "$loader"
touch "$WORK/stop-health"
wait "$poller" 2>/dev/null; REPL_BG_PIDS=()
d=$(grep -c "^w1 degraded" "$WORK/health.outage")
check "writer degraded while the gateway was away ($d samples)" [ "$d" -gt 0 ]
d=$(grep -c "^r1 degraded" "$WORK/health.outage")
check "reader degraded while the gateway was away ($d samples)" [ "$d" -gt 0 ]
out=$(repl_sync w1 r1)
check_rc "after the restart: flush and wait_for${out:+: $out}" $?
dw=$(repl_digest w1 items); dr=$(repl_digest r1 items)
check "after the gateway restart: contents equal ($dr)" same "$dr" "$dw"
check "writer healthy again" cn_wait 20 healthy w1
check "reader healthy again" cn_wait 20 healthy r1

for n in w1 r1; do
	if grep -E "terminated by signal|PANIC:" "$(cn_log $n)" >/dev/null; then
		fail "$n: no crashed process"; grep -E "terminated by signal|PANIC:" "$(cn_log $n)" | head -3
	else
		ok "$n: no crashed process"
	fi
done
if grep -F -e "$RGW_SECRET_KEY" "$(cn_log w1)" "$(cn_log r1)" >/dev/null; then
	fail "server logs do not contain the secret"
else
	ok "server logs do not contain the secret"
fi
repl_proxy_stop pw; repl_proxy_stop pr
summary
[ "$FAILED" -eq 0 ]
