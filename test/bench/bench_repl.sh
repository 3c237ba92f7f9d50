#!/usr/bin/env bash
# bench_repl.sh - replication through the bucket (issue 7), against Ceph's
# RADOS Gateway on loopback (test/lib/rgw.sh), with the default replication
# settings (batch 1000 rows, flush interval 5 s, poll 1 s).  A benchmark,
# not a test: it prints figures and asserts nothing.
#
# For each vector size (784: Fashion-MNIST base vectors when the Debian
# package dataset-fashion-mnist is installed, else random; 128: random) a
# writer and a reader (fresh PostgreSQL clusters, their own bucket prefix,
# since config.json fixes one dimension per cluster):
#   - capture: one INSERT of BENCH_ROWS rows into the published table
#     (the capture trigger fills the outbox in the same transaction);
#   - publish: from that commit until brainy.flush() returns (every row in
#     a segment): rows/s, and segment PUTs per 1,000 rows (segments in the
#     bucket / rows * 1000);
#   - apply: brainy.subscribe() on the reader until brainy.wait_for() of
#     the writer's token returns: rows/s, the rows searchable through the
#     mirror's brainy_hnsw index (appended to its pending list; the first
#     poll, up to 1 s, included);
#   - link: from then until the replication worker has linked the pending
#     list into the graph (rows/s), and the mean time of a top-10 index
#     search with the rows pending and once linked.
# Then, on the 128-dimension pair (BENCH_LAG_DIM):
#   - lag: BENCH_LAG_SECONDS (30) of a steady BENCH_LAG_RATE (1,000) rows/s
#     on the writer, each row stamped with clock_timestamp() when inserted;
#     a loop on the reader records every 50 ms which new ids it sees; lag per
#     row = first seen on the reader - inserted on the writer (one machine,
#     one clock): p50, p99, max;
#   - idle: with nothing to do, the reader's requests over 10 s counted by a
#     fault proxy with faults off between the reader and the gateway (the
#     reader always goes through it), by key class: change-log requests per
#     writer per poll, and the rest (heartbeats, config, statistics).
#
# Knobs: BENCH_ROWS (20000), BENCH_LAG_DIM (128), BENCH_LAG_SECONDS (30),
# BENCH_LAG_RATE (1000), BENCH_DIMS ("784 128"), FMNIST_DIR.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export BRAINY_ROOT=$ROOT
if [ -d /usr/lib/postgresql/15/bin ]; then
	export PATH=/usr/lib/postgresql/15/bin:$PATH
fi
ROWS=${BENCH_ROWS:-20000}
DIMS=${BENCH_DIMS:-784 128}
LAG_DIM=${BENCH_LAG_DIM:-128}
LAG_SECONDS=${BENCH_LAG_SECONDS:-30}
LAG_RATE=${BENCH_LAG_RATE:-1000}
FMNIST_DIR=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}

say() { echo "bench_repl: $*" >&2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/brainy-benchrepl.XXXXXX") || exit 1
chmod 755 "$WORK"
REPL_DIR=$WORK
# the defaults of docs/replication.md, not the suites' short intervals
REPL_POLL=1s
REPL_FLUSH=5s
REPL_BATCH=1000
REPL_WAIT_TIMEOUT=900s
REPL_STATEMENT_TIMEOUT=0
. "$ROOT/test/lib/rgw.sh"
. "$ROOT/test/lib/pgcluster.sh"
. "$ROOT/test/lib/cluster_nodes.sh"
. "$ROOT/test/lib/repl.sh"
CN_HEARTBEAT=1s
pgc_on_exit() { repl_cleanup; rgw_stop; rm -rf "$WORK"; }

rgw_start || { say "the RADOS Gateway did not start"; rm -rf "$WORK"; exit 1; }
trap pgc_stop_all EXIT
repl_proxy_start pr "$RGW_PORT" --off || exit 1
CN_S3_CONF=(
	"brainy.s3_endpoint = '$RGW_ENDPOINT'"
	"brainy.s3_force_path_style = on"
	"brainy.s3_region = 'us-east-1'"
	"brainy.s3_access_key_id = '$RGW_ACCESS_KEY'"
	"brainy.s3_secret_access_key = '$RGW_SECRET_KEY'"
)
cd / || exit 1

healthy() { [ "$(cn_health "$1" status)" = healthy ]; }
# query_ms NODE: mean ms of 50 top-10 index searches on the mirror (own rows as queries)
query_ms() {
	pgc_psql "$1" -d postgres -At -c "SET enable_seqscan = off" -c "DO \$\$ DECLARE t0 timestamptz; q vector; ids bigint[]; BEGIN
		t0 := clock_timestamp();
		FOR i IN 1..50 LOOP
			SELECT embedding INTO q FROM items WHERE id = 1 + (i * 397) % $ROWS;
			SELECT array_agg(id) INTO ids FROM (SELECT id FROM items ORDER BY embedding <-> q LIMIT 10) s;
		END LOOP;
		RAISE NOTICE 'ms %', round((extract(epoch FROM clock_timestamp() - t0) * 1000 / 50)::numeric, 2);
		END \$\$" 2>&1 | sed -n 's/.*NOTICE:  ms //p'
}
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "n/a" }'; }
declare -A R
DATASET=random
if [ -r "$FMNIST_DIR/train-images-idx3-ubyte.gz" ]; then
	cc -std=c11 -O2 -Wall -o "$WORK/fmnist_to_copy" "$HERE/fmnist_to_copy.c" || exit 1
	zcat "$FMNIST_DIR/train-images-idx3-ubyte.gz" | "$WORK/fmnist_to_copy" 1 "$ROWS" >"$WORK/fmnist.copy"
	chmod 644 "$WORK/fmnist.copy"
	DATASET=fashion-mnist
fi

for dim in $DIMS; do
	say "$dim dimensions: starting a writer and a reader"
	w=w$dim; r=r$dim
	URL=s3://$RGW_BUCKET/bench$dim
	repl_node "$w" writer "$URL" || exit 1
	repl_node "$r" reader "$URL" "brainy.s3_endpoint = 'http://127.0.0.1:$REPL_PROXY_pr_PORT'" || exit 1
	cn_wait 20 healthy "$w"
	cn_wait 20 healthy "$r"
	repl_sql "$w" "CREATE TABLE src (id bigint PRIMARY KEY, v vector($dim));
		CREATE TABLE items (id bigint PRIMARY KEY, embedding vector($dim), title text,
			inserted_at timestamptz NOT NULL DEFAULT clock_timestamp())" >/dev/null
	src=random
	if [ "$dim" = 784 ] && [ "$DATASET" = fashion-mnist ]; then
		pgc_psql "$w" -d postgres -c "\\copy src FROM '$WORK/fmnist.copy'" >/dev/null
		src=fashion-mnist
	else
		repl_sql "$w" "INSERT INTO src SELECT g, (SELECT array_agg(random()::real) FROM generate_series(1, $dim) WHERE g > 0)::vector
			FROM generate_series(1, $ROWS) g" >/dev/null
	fi
	R[$dim,src]=$src
	out=$(repl_sql "$w" "SELECT brainy.publish('items')")
	[ "$out" = items ] || { say "publish failed: $out"; exit 1; }
	repl_flush "$w" >/dev/null

	say "$dim: capture and publish of $ROWS rows"
	t0=$(date +%s%N)
	repl_sql "$w" "INSERT INTO items (id, embedding, title) SELECT id, v, 'row ' || id FROM src" >/dev/null
	t1=$(date +%s%N)
	token=$(repl_flush "$w")
	t2=$(date +%s%N)
	case $token in (items:*) ;; (*) say "flush failed: $token"; exit 1;; esac
	segs=$(repl_sql "$w" "SELECT count(*) FROM brainy.storage_list('_brainy/log/items/$w/')")
	R[$dim,capture]=$(rate "$ROWS" "$(secs "$t0" "$t1")")
	R[$dim,publish]=$(rate "$ROWS" "$(secs "$t1" "$t2")")
	R[$dim,publish_s]=$(secs "$t1" "$t2")
	R[$dim,puts]=$(awk -v s="$segs" -v n="$ROWS" 'BEGIN { printf "%.2f", s / n * 1000 }')
	say "$dim: capture ${R[$dim,capture]} rows/s, publish ${R[$dim,publish]} rows/s (${R[$dim,publish_s]} s), $segs segments"

	say "$dim: apply on the reader"
	t0=$(date +%s%N)
	out=$(repl_sql "$r" "SELECT brainy.subscribe('items')")
	[ "$out" = items ] || { say "subscribe failed: $out"; exit 1; }
	repl_wait_for "$r" "$token" || { say "wait_for failed"; exit 1; }
	t1=$(date +%s%N)
	R[$dim,apply]=$(rate "$ROWS" "$(secs "$t0" "$t1")")
	R[$dim,apply_s]=$(secs "$t0" "$t1")
	say "$dim: apply ${R[$dim,apply]} rows/s (${R[$dim,apply_s]} s)"
	n=$(repl_sql "$r" "SELECT count(*) FROM items")
	[ "$n" = "$ROWS" ] || say "WARNING: the reader has $n rows, not $ROWS"

	# the apply appends to the mirror index's pending list (fastupdate); the
	# worker links it into the graph between polls.  Search while rows are
	# pending (exact over the list + graph) and once linked, and how long
	# the linking took after the apply
	idx=$(repl_sql "$r" "SELECT indexrelid::regclass FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
		JOIN pg_am a ON a.oid = c.relam WHERE x.indrelid = 'items'::regclass AND a.amname = 'brainy_hnsw'")
	R[$dim,pending]=$(repl_sql "$r" "SELECT brainy_hnsw_check('$idx')->>'pending'")
	R[$dim,q_pending]=$(query_ms "$r")
	while [ "$(repl_sql "$r" "SELECT brainy_hnsw_check('$idx')->>'pending'")" != 0 ]; do sleep 0.2; done
	t2=$(date +%s%N)
	R[$dim,link]=$(rate "$ROWS" "$(secs "$t1" "$t2")")
	R[$dim,link_s]=$(secs "$t1" "$t2")
	R[$dim,q_linked]=$(query_ms "$r")
	say "$dim: ${R[$dim,pending]} rows pending after the apply; linked ${R[$dim,link_s]} s after it; query ${R[$dim,q_pending]} ms pending, ${R[$dim,q_linked]} ms linked"

	if [ "$dim" = "$LAG_DIM" ]; then
		total=$((LAG_SECONDS * LAG_RATE))
		say "$dim: lag under $LAG_RATE rows/s for $LAG_SECONDS s"
		repl_sql "$r" "CREATE TABLE seen (id bigint PRIMARY KEY, seen_at timestamptz NOT NULL)" >/dev/null
		# the observer: every 50 ms, the ids that appeared since the last look
		pgc_psql "$r" -d postgres -c "DO \$\$ DECLARE v_last bigint := $ROWS; stop timestamptz := clock_timestamp() + interval '$((LAG_SECONDS + 30)) s'; BEGIN
			WHILE v_last < $ROWS + $total AND clock_timestamp() < stop LOOP
				INSERT INTO seen SELECT id, clock_timestamp() FROM items WHERE id > v_last;
				SELECT coalesce(max(id), v_last) INTO v_last FROM seen;
				PERFORM pg_sleep(0.05);
			END LOOP; END \$\$" >/dev/null 2>"$WORK/observer.err" &
		observer=$!
		# the load: 50 rows every 50 ms, each batch its own transaction
		repl_sql "$w" "CREATE PROCEDURE steady(p_first bigint, total int, per int, tick_ms int) LANGUAGE plpgsql AS \$\$
			DECLARE t0 timestamptz := clock_timestamp(); k int := 0; BEGIN
			WHILE k * per < total LOOP
				INSERT INTO items (id, embedding, title)
					SELECT p_first + k * per + i, s.v, 'steady' FROM generate_series(0, per - 1) i
					JOIN src s ON s.id = 1 + (k * per + i) % $ROWS;
				COMMIT;
				k := k + 1;
				PERFORM pg_sleep(greatest(0, extract(epoch FROM t0 + k * tick_ms * interval '1 ms' - clock_timestamp())));
			END LOOP; END \$\$" >/dev/null
		per=$((LAG_RATE / 20))
		repl_sql "$w" "CALL steady($ROWS + 1, $total, $per, 50)" >"$WORK/steady.out"
		wait "$observer"
		R[lag]=$(repl_sql "$r" "SELECT count(*) || ' ' ||
			round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.seen_at - i.inserted_at)))::numeric, 2) || ' ' ||
			round((percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM s.seen_at - i.inserted_at)))::numeric, 2) || ' ' ||
			round(max(extract(epoch FROM s.seen_at - i.inserted_at))::numeric, 2)
			FROM seen s JOIN items i USING (id)")
		R[lag_rate]=$(repl_sql "$w" "SELECT round(count(*) / extract(epoch FROM max(inserted_at) - min(inserted_at))::numeric) FROM items WHERE title = 'steady'")
		# does linking keep up with the steady load? (the list when it ends)
		R[lag_pending]=$(repl_sql "$r" "SELECT brainy_hnsw_check('$idx')->>'pending'")

		say "$dim: idle reader for 10 s"
		# idle: the last segment is more than the reader's active-polling
		# span (3 poll intervals) old before the window opens
		sleep 5
		repl_proxy_snapshot pr "$WORK/idle0"
		sleep 9.85
		repl_proxy_snapshot pr "$WORK/idle1"
		idle() { echo $(( $(repl_stat "$WORK/idle1" "$1") - $(repl_stat "$WORK/idle0" "$1") )); }
		R[idle_log]=$(( $(idle log) + $(idle collections) + $(idle other_key) ))
		R[idle_all]=$(idle requests)
		R[idle_detail]="heartbeats $(idle instances), config $(idle config), stats $(idle stats), locks $(idle locks)"
	fi
	pgc_stop "$r"
	pgc_stop "$w"
done

v() { echo "${R[$1]:-n/a}"; }
echo
echo "## Replication through RGW on loopback ($ROWS rows, default settings: batch 1000, flush 5 s, poll 1 s)"
echo
echo "| measure | $(for d in $DIMS; do printf '%s dims (%s) | ' "$d" "$(v $d,src)"; done)target |"
echo "|---|$(for d in $DIMS; do printf -- '---:|'; done)---:|"
echo "| capture: INSERT into the published table, rows/s | $(for d in $DIMS; do printf '%s | ' "$(v $d,capture)"; done) |"
echo "| publish: outbox to segments, rows/s | $(for d in $DIMS; do printf '%s (%s s) | ' "$(v $d,publish)" "$(v $d,publish_s)"; done)>= 20,000 (784 dims) |"
echo "| segment PUTs per 1,000 rows | $(for d in $DIMS; do printf '%s | ' "$(v $d,puts)"; done)<= 1 |"
echo "| apply on the reader, rows/s (rows searchable through the brainy_hnsw index: appended to its pending list) | $(for d in $DIMS; do printf '%s (%s s) | ' "$(v $d,apply)" "$(v $d,apply_s)"; done)>= 20,000 |"
echo "| rows in the pending list when the apply ended | $(for d in $DIMS; do printf '%s | ' "$(v $d,pending)"; done) |"
echo "| linked into the graph by the worker, rows/s (apply end to an empty list) | $(for d in $DIMS; do printf '%s (%s s) | ' "$(v $d,link)" "$(v $d,link_s)"; done) |"
echo "| top-10 index search, ms, with those rows pending | $(for d in $DIMS; do printf '%s | ' "$(v $d,q_pending)"; done) |"
echo "| top-10 index search, ms, once linked | $(for d in $DIMS; do printf '%s | ' "$(v $d,q_linked)"; done) |"
echo
if [ -n "${R[lag]:-}" ]; then
	read -r lag_n lag_50 lag_99 lag_max <<<"${R[lag]}"
	echo "| lag at $LAG_DIM dims, $(v lag_rate) rows/s achieved for $LAG_SECONDS s ($lag_n rows) | value | target |"
	echo "|---|---:|---:|"
	echo "| p50 s | $lag_50 | <= 1.5 |"
	echo "| p99 s | $lag_99 | <= 3 |"
	echo "| max s | $lag_max | |"
	echo "| rows in the mirror index's pending list when the load ended (not linked yet) | $(v lag_pending) | |"
	echo "| idle reader: change-log requests per writer per poll (10 s, 1 writer) | $(awk -v n="$(v idle_log)" 'BEGIN { printf "%.2f", n / 10 }') | <= 1 |"
	echo "| idle reader: all requests in 10 s ($(v idle_detail)) | $(v idle_all) | |"
fi
