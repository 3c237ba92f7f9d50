#!/usr/bin/env bash
# repl_crash.sh - replication survives SIGKILL: one writer, one reader on
# Ceph's RADOS Gateway (test/lib/rgw.sh), test/lib/repl.sh with flush every
# 200 ms and 500-row segments.  The writer reaches the gateway through the
# fault proxy holding 60% of the replies for 150 ms after the gateway has
# acted (--delay-reply), so that kills land in the middle of flushes,
# between a segment's PUT and the commit that records it.
#
# 1. Writer killed 20 times during a 50,000-row load: a client loads 250
#    transactions of 200 rows (16 dimensions), each of which also updates
#    rows of the previous transaction and deletes rows of the one before;
#    every statement is idempotent, so a transaction whose commit the client
#    did not see is simply run again.  Meanwhile the writer's replication
#    worker (found in pg_stat_activity) gets SIGKILL at random moments,
#    which restarts the whole instance through crash recovery.  After the
#    load: the writer's rows are exactly the model's (computed in SQL from
#    the transaction plan), brainy.flush() on the writer and
#    brainy.wait_for() on the reader succeed, and the reader's mirror has
#    exactly the writer's contents (digest over every row).
# 2. Reader killed mid-apply: with the reader's subscription behind by
#    about 100,000 changes, its replication worker is killed 5 times while its
#    applied seq advances; it converges to the writer's contents, every id
#    once, and the applied seq equals the writer's last segment.
#
# The random moments come from a seed printed at the start (REPL_SEED to
# repeat a run).  Prints "N passed, N failed" at the end.
set -uo pipefail

ROOT=${BRAINY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$ROOT/test/lib/suite.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/brainy-replcrash.XXXXXX") || exit 1
chmod 755 "$WORK"
REPL_DIR=$WORK
REPL_BATCH=${REPL_BATCH:-500}
. "$ROOT/test/lib/rgw.sh"
. "$ROOT/test/lib/pgcluster.sh"
. "$ROOT/test/lib/cluster_nodes.sh"
. "$ROOT/test/lib/repl.sh"
pgc_on_exit() { repl_cleanup; rgw_stop; rm -rf "$WORK"; }
if ! rgw_start; then
	fail "RADOS Gateway starts"; rm -rf "$WORK"; summary; exit 1
fi
trap pgc_stop_all EXIT
cd / || exit 1

suite_seed
DIM=16
TXNS=250			# transactions of ...
PER=200				# ... rows each: 50,000 rows
KILLS=20

if ! repl_proxy_start pw "$RGW_PORT" --delay 600 --delay-ms 150 --delay-reply --seed "$SEED"; then
	fail "fault proxy starts"; summary; exit 1
fi
URL=s3://$RGW_BUCKET/crash
CN_S3_CONF=(
	"brainy.s3_endpoint = '$RGW_ENDPOINT'"
	"brainy.s3_force_path_style = on"
	"brainy.s3_region = 'us-east-1'"
	"brainy.s3_access_key_id = '$RGW_ACCESS_KEY'"
	"brainy.s3_secret_access_key = '$RGW_SECRET_KEY'"
)
if ! repl_node w1 writer "$URL" "brainy.s3_endpoint = 'http://127.0.0.1:$REPL_PROXY_pw_PORT'" ||
		! repl_node r1 reader "$URL"; then
	fail "writer and reader start"; summary; exit 1
fi
repl_vec_fn w1
repl_vec_fn r1
repl_items w1 $DIM
out=$(repl_sql w1 "SELECT brainy.publish('items')")
check "publish ($out)" [ "$out" = items ]
out=$(repl_sql r1 "SELECT brainy.subscribe('items')")
check "subscribe ($out)" [ "$out" = items ]

# transaction k (1-based): inserts ids (k-1)*PER+1 .. k*PER; updates the
# ids = 0 mod 10 of transaction k-1 (new vector and title, both functions
# of k); deletes the ids = 5 mod 10 of transaction k-2.  Every statement
# gives the same result when run again, so a retry is always safe.
txn_sql() {
	local k=$1 lo=$(( ($1 - 1) * PER + 1 )) hi=$(( $1 * PER ))
	echo "BEGIN;
INSERT INTO items SELECT g, tvec(g, $DIM), 't' || g FROM generate_series($lo, $hi) g ON CONFLICT (id) DO NOTHING;
UPDATE items SET embedding = tvec(id * 1000 + $k, $DIM), title = 'u$k' WHERE id BETWEEN $((lo - PER)) AND $((lo - 1)) AND id % 10 = 0;
DELETE FROM items WHERE id BETWEEN $((lo - 2 * PER)) AND $((lo - PER - 1)) AND id % 10 = 5;
COMMIT;"
}
# the model: what the table holds after transactions 1..K, as a query
model_sql() {
	local K=$1
	echo "SELECT g AS id,
		CASE WHEN g % 10 = 0 AND (g - 1) / $PER + 1 < $K THEN tvec(g * 1000 + (g - 1) / $PER + 2, $DIM) ELSE tvec(g, $DIM) END AS embedding,
		CASE WHEN g % 10 = 0 AND (g - 1) / $PER + 1 < $K THEN 'u' || ((g - 1) / $PER + 2) ELSE 't' || g END AS title
	FROM generate_series(1, $K * $PER) g
	WHERE NOT (g % 10 = 5 AND (g - 1) / $PER + 1 < $K - 1)"
}

# --- 1. the writer killed during the load ----------------------------------------

# the client: each transaction until it sees COMMIT succeed; counts
# retries.  It paces itself a little, and before its last 10 transactions
# waits until all the kills are done, so that every kill hits the load.
load_client() {
	local k out tries=0
	for k in $(seq 1 $TXNS); do
		if [ "$k" -gt $((TXNS - 10)) ]; then
			while [ "$(cat "$WORK/kills" 2>/dev/null || echo 0)" -lt $KILLS ] && [ ! -e "$WORK/kills-gave-up" ]; do
				sleep 0.1
			done
		fi
		while :; do
			if out=$(txn_sql "$k" | pgc_psql w1 -d postgres -v ON_ERROR_STOP=1 2>&1); then
				echo "$k" >"$WORK/committed"
				break
			fi
			tries=$((tries + 1))
			echo "txn $k: $out" | head -n 2 >>"$WORK/client.err"
			sleep 0.2
		done
		sleep 0.02
	done
	echo "$tries" >"$WORK/client.retries"
}
echo 0 >"$WORK/kills"
repl_bg load_client
LOADER=${REPL_BG_PIDS[-1]}

killed=0
during=0
down_ms_total=0
while [ "$killed" -lt "$KILLS" ]; do
	# a random moment 0.05 .. 0.8 s after the worker is back: it flushes
	# a 500-row segment every few hundred ms under this load
	sleep "0.$(( RANDOM % 76 + 5 ))"
	pid=$(repl_worker_pid w1)
	case $pid in (""|*[!0-9]*) repl_wait_up w1 30 || break; continue;; esac
	kill -0 "$LOADER" 2>/dev/null && during=$((during + 1))
	t0=$(date +%s%N)
	kill -KILL "$pid" || continue
	killed=$((killed + 1))
	echo "$killed" >"$WORK/kills"
	# the postmaster restarts every process, then the worker comes back
	sleep 0.3
	repl_wait_up w1 60 || { echo "# w1 did not come back after kill $killed"; break; }
	down_ms_total=$(( down_ms_total + ($(date +%s%N) - t0) / 1000000 ))
done
[ "$killed" -ge "$KILLS" ] || touch "$WORK/kills-gave-up"
wait "$LOADER"
REPL_BG_PIDS=()
echo "# $killed kills, about $((down_ms_total / (killed > 0 ? killed : 1))) ms each until the worker was back; client retries: $(cat "$WORK/client.retries" 2>/dev/null)"
head -n 4 "$WORK/client.err" 2>/dev/null | sed 's/^/# client: /'
resumed=$(grep -c "was already written (a flush whose commit was lost); resumed after it" "$(cn_log w1)")
echo "# kills that fell between a segment's PUT and its commit (resumed after a 412): $resumed"
check "the replication worker was SIGKILLed $KILLS times during the load ($during of $killed kills while the client was loading)" [ "$during" -ge "$KILLS" ]
[ "$resumed" -ge 1 ]; check_rc "some kills fell between a segment's PUT and its commit ($resumed resumed after a 412)" $?
check "the instance restarted through crash recovery" grep -q "terminated by signal 9" "$(cn_log w1)"
check "the client committed all $TXNS transactions" [ "$(cat "$WORK/committed" 2>/dev/null)" = $TXNS ]
repl_wait_up w1 60
dm=$(repl_digest w1 "($(model_sql $TXNS)) m")
dw=$(repl_digest w1 items)
check "the writer holds exactly the model's rows ($dw)" same "$dw" "$dm"
tok=$(repl_flush w1)
check "brainy.flush() on the writer after the last restart ($tok)" contains "$tok" "items:w1:"
out=$(repl_wait_for r1 "$tok")
check_rc "brainy.wait_for() on the reader${out:+: $out}" $?
dr=$(repl_digest r1 items)
check "the reader's mirror has exactly the writer's rows ($dr)" same "$dr" "$dw"
pseq=$(repl_sql w1 "SELECT published_seq FROM brainy.publications")
nseg=$(repl_sql w1 "SELECT count(*) FROM brainy.storage_list('_brainy/log/items/w1/')")
check "segments 1..$pseq in the bucket, no gap and none extra ($nseg)" [ "$nseg" = "$pseq" ]
out=$(repl_sql r1 "SELECT applied_seq FROM brainy.subscriptions WHERE writer_id = 'w1'")
check "the reader applied up to the writer's last segment ($out = $pseq)" [ "$out" = "$pseq" ]
out=$(repl_sql w1 "SELECT count(*) FROM brainy.outbox")
check "the writer's outbox is empty ($out)" [ "$out" = 0 ]

# --- 2. the reader killed mid-apply ------------------------------------------------

# stop following for a while: the reader is down while the writer goes on
pgc_stop_keep() {	# stop r1 but keep its data directory for a restart
	pgc_as "$PGC_BINDIR/pg_ctl" -D "$PGC_r1_DIR/data" -m fast -w -t 60 stop >/dev/null
}
pgc_stop_keep
base=$((TXNS * PER))
repl_sql w1 "INSERT INTO items SELECT g, tvec(g, $DIM), 'behind' FROM generate_series($base + 1, $base + 80000) g" >/dev/null
repl_sql w1 "UPDATE items SET title = 'late update' WHERE id % 7 = 0" >/dev/null
repl_sql w1 "DELETE FROM items WHERE id % 11 = 0" >/dev/null
tok=$(repl_flush w1)
check "writer flushed the backlog while the reader was down ($tok)" contains "$tok" "items:w1:"
head_seq=${tok##*:}
pgc_as "$PGC_BINDIR/pg_ctl" -D "$PGC_r1_DIR/data" -l "$PGC_r1_DIR/server.log" -w -t 60 start >/dev/null
PGC_r1_PID=$(head -n 1 "$PGC_r1_DIR/data/postmaster.pid")
rkills=0
mid=0
applied() { repl_sql r1 "SELECT applied_seq FROM brainy.subscriptions WHERE writer_id = 'w1'" 2>/dev/null; }
is_seq() { [[ "$1" =~ ^[0-9]+$ ]]; }
prev=-1
for i in $(seq 1 300); do
	[ "$rkills" -ge 5 ] && break
	a=$(applied)
	is_seq "$a" || { sleep 0.1; continue; }
	[ "$a" -ge "$head_seq" ] && break
	# between kills the reader must make progress: kill only once it has
	# applied something since the last restart, a random 0..99 ms later
	[ "$a" -gt "$prev" ] || { sleep 0.05; continue; }
	pid=$(repl_worker_pid r1)
	case $pid in (""|*[!0-9]*) sleep 0.1; continue;; esac
	sleep "0.0$(( RANDOM % 10 ))$(( RANDOM % 10 ))"
	kill -KILL "$pid" || continue
	rkills=$((rkills + 1))
	sleep 0.1
	repl_wait_up r1 60 || break
	b=$(applied)
	echo "# reader kill $rkills after applied seq $a (head $head_seq); after the restart $b"
	is_seq "$b" && [ "$b" -lt "$head_seq" ] && mid=$((mid + 1))
	prev=${b:-$a}
	is_seq "$prev" || prev=$a
done
check "the reader's replication worker was killed 5 times while catching up ($rkills kills, $mid before the end)" [ "$rkills" -ge 5 ]
out=$(repl_wait_for r1 "$tok")
check_rc "the reader catches up after the kills${out:+: $out}" $?
dw=$(repl_digest w1 items); dr=$(repl_digest r1 items)
check "reader contents equal the writer's after the kills ($dr)" same "$dr" "$dw"
out=$(repl_sql r1 "SELECT count(*) = count(DISTINCT id) FROM items")
check "every id once in the mirror" [ "$out" = t ]
out=$(repl_sql r1 "SELECT applied_seq FROM brainy.subscriptions WHERE writer_id = 'w1'")
check "applied seq = the writer's last segment ($out = $head_seq)" [ "$out" = "$head_seq" ]
out=$(repl_sql r1 "SELECT count(*) FROM brainy.row_version v WHERE v.collection = 'items' AND NOT v.deleted
	AND NOT EXISTS (SELECT 1 FROM items i WHERE i.id = v.pk::bigint)")
check "every live row version has its row ($out missing)" [ "$out" = 0 ]

for n in w1 r1; do
	if grep -E "PANIC:|terminated by signal (6|11)" "$(cn_log $n)" >/dev/null; then
		fail "$n: no PANIC or crash other than our SIGKILLs"
		grep -B 8 -E "PANIC:|terminated by signal (6|11)" "$(cn_log $n)" | grep -v 'heartbeat\|config.json unchanged' | head -30 | cut -c1-300
	else
		ok "$n: no PANIC or crash other than our SIGKILLs"
	fi
done
summary
[ "$FAILED" -eq 0 ]
