#!/usr/bin/env bash
# hnsw_parallel_build.sh - CREATE INDEX ... USING brainy_hnsw with threads.
#
# With max_parallel_maintenance_workers = 2 and the table's parallel_workers
# = 2, the build links the graph with 3 threads (the DEBUG1 line says so):
#   - the index passes brainy_hnsw_check with every node reachable;
#   - on a small table at a high ef_search, every query's top 10 through
#     the index equals the exact top 10 of a sequential scan;
#   - max_parallel_maintenance_workers = 0 builds serially (one linking
#     thread, the same graph as hnsw_insert);
#   - with maintenance_work_mem too small for the graph, the NOTICE comes,
#     the part staged so far is linked with threads and the rest inserted
#     on disk, and the index is valid;
#   - a statement_timeout that fires while the threads link cancels the
#     build cleanly: the timeout error, no crashed backend, the table usable
#     and a later build fine.
set -uo pipefail

ROOT=${BRAINY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$ROOT/test/lib/pgcluster.sh"

. "$ROOT/test/lib/check.sh"

cd / || exit 1
if ! pgc_start parbuild "max_parallel_maintenance_workers = 2"; then
	echo "0 passed, 1 failed"
	exit 1
fi
DIR=$PGC_parbuild_DIR
sql() { pgc_psql parbuild -At "$@"; }

# rows of uniform random vectors from a fixed seed (not a smooth function
# of the row number: points on a curve make HNSW miss even at large ef,
# serial or parallel alike)
make_table() {	# make_table NAME ROWS DIM
	sql -q >/dev/null <<-SQL
		CREATE TABLE $1 (id int PRIMARY KEY, v vector($3));
		SELECT setseed(0.42);
		INSERT INTO $1 SELECT i, (SELECT array_agg(random())
		                          FROM generate_series(1, $3) j WHERE i > 0)::vector
		FROM generate_series(1, $2) i;
		ALTER TABLE $1 SET (parallel_workers = 2);
		VACUUM ANALYZE $1;
	SQL
}
sql -q -c "CREATE EXTENSION brainy"
make_table items 5000 32
make_table small 1500 16
make_table big 40000 96

# --- a parallel build is valid
out=$(sql -c "SET client_min_messages = debug1" -c "SET max_parallel_maintenance_workers = 2" \
	-c "CREATE INDEX items_v ON items USING brainy_hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32)" 2>&1)
check "parallel build: linked with 3 threads ($(grep -o 'linking.*' <<<"$out"))" \
	grep -q "linking 5000 nodes with 3 threads" <<<"$out"
chk=$(sql -c "SELECT brainy_hnsw_check('items_v')")
check "parallel build: brainy_hnsw_check passes, 5000 nodes, none unreachable ($chk)" \
	bash -c 'grep -q "\"ok\": true" <<<"$1" && grep -q "\"n_nodes\": 5000" <<<"$1" &&
		grep -q "\"n_unreachable\": 0" <<<"$1"' _ "$chk"

# --- at a high ef_search the index answers exactly
out=$(sql -c "SET max_parallel_maintenance_workers = 2" -c "SET client_min_messages = debug1" \
	-c "CREATE INDEX small_v ON small USING brainy_hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32)" 2>&1)
check "small table: parallel build with 3 threads" grep -q "with 3 threads" <<<"$out"
plan=$(sql -c "SET enable_seqscan = off" \
	-c "EXPLAIN (COSTS OFF) SELECT id FROM small ORDER BY v <-> (SELECT v FROM small WHERE id = 7) LIMIT 10")
check "small table: the query uses the index" grep -q "Index Scan using small_v" <<<"$plan"
diff=$(sql <<-'SQL'
	CREATE TEMP TABLE q AS SELECT id, v FROM small WHERE id % 15 = 0;
	SET brainy.ef_search = 400;
	SET enable_seqscan = off;
	CREATE TEMP TABLE got AS
		SELECT q.id, ARRAY(SELECT s.id FROM small s ORDER BY s.v <-> q.v LIMIT 10) AS ids FROM q;
	RESET enable_seqscan;
	SET enable_indexscan = off;
	CREATE TEMP TABLE exact AS
		SELECT q.id, ARRAY(SELECT s.id FROM small s ORDER BY s.v <-> q.v LIMIT 10) AS ids FROM q;
	SELECT count(*) || ' of ' || (SELECT count(*) FROM q) FROM got JOIN exact USING (id)
	WHERE got.ids IS DISTINCT FROM exact.ids OR cardinality(got.ids) <> 10;
SQL
)
check "small table: index top 10 equals the exact top 10 for every query (differing: $diff)" \
	test "${diff%% of*}" = 0 -a "${diff##* of }" -gt 50

# --- max_parallel_maintenance_workers = 0: serial
out=$(sql -c "SET client_min_messages = debug1" -c "SET max_parallel_maintenance_workers = 0" \
	-c "CREATE INDEX items_v0 ON items USING brainy_hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32)" 2>&1)
check "max_parallel_maintenance_workers = 0: serial, one build thread" \
	bash -c 'grep -q "building \"items_v0\" serially" <<<"$1" && grep -q "in one build thread" <<<"$1" && ! grep -q "threads" <<<"$1"' _ "$out"
check "max_parallel_maintenance_workers = 0: valid" \
	test "$(sql -c "SELECT brainy_hnsw_check('items_v0')->>'ok'")" = true

# --- graph larger than maintenance_work_mem: NOTICE, threads, then on disk
out=$(sql -c "SET client_min_messages = debug1" -c "SET max_parallel_maintenance_workers = 2" \
	-c "SET maintenance_work_mem = '1MB'" \
	-c "CREATE INDEX items_v1 ON items USING brainy_hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32)" 2>&1)
check "small maintenance_work_mem: the NOTICE, then the staged part linked with threads" \
	bash -c 'grep -q "no longer fits into maintenance_work_mem" <<<"$1" &&
		grep -q "with 3 threads" <<<"$1"' _ "$out"
chk=$(sql -c "SELECT brainy_hnsw_check('items_v1')")
check "small maintenance_work_mem: valid, 5000 nodes ($chk)" \
	bash -c 'grep -q "\"ok\": true" <<<"$1" && grep -q "\"n_nodes\": 5000" <<<"$1"' _ "$chk"

# --- a timeout while the threads link (parameters that make linking take
# far longer than the timeout on any machine); meanwhile another session
# watches pg_stat_progress_create_index
t0=$(date +%s.%N)
sql -c "SET client_min_messages = debug1" -c "SET max_parallel_maintenance_workers = 2" \
	-c "SET statement_timeout = '2500ms'" \
	-c "CREATE INDEX big_v ON big USING brainy_hnsw (v vector_l2_ops) WITH (m = 48, ef_construction = 800)" \
	>"$DIR/timeout.out" 2>&1 &
build_pid=$!
progress=""
for _ in $(seq 1 40); do
	sleep 0.1
	progress=$(sql -c "SELECT phase || ' ' || tuples_done || '/' || tuples_total FROM pg_stat_progress_create_index")
	case "$progress" in "building index: linking the graph "[1-9]*) break ;; esac
done
wait "$build_pid"
out=$(cat "$DIR/timeout.out")
t1=$(date +%s.%N)
check "progress: the phase and tuples done are reported ($progress)" \
	bash -c 'grep -Eq "^building index: linking the graph [1-9][0-9]*/40000$" <<<"$1"' _ "$progress"
check "timeout: the build was linking with threads when the timeout came" \
	grep -q "linking 40000 nodes with 3 threads" <<<"$out"
check "timeout: it fails with the statement timeout error ($(grep ERROR <<<"$out"))" \
	grep -q "ERROR:  canceling statement due to statement timeout" <<<"$out"
check "timeout: it stops promptly ($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s)" \
	awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 10) }'
check "timeout: no backend crashed" \
	bash -c "! grep -E 'terminated by signal|PANIC|server process .* exited' '$DIR/server.log'"
check "timeout: no index left behind" \
	test "$(sql -c "SELECT count(*) FROM pg_class WHERE relname = 'big_v'")" = 0
cnt=$(sql -q -c "INSERT INTO big SELECT 40001, v FROM big WHERE id = 1" -c "SELECT count(*) FROM big" 2>&1)
check "timeout: the table is usable ($cnt rows after an insert)" test "$cnt" = 40001
out=$(sql -c "SET max_parallel_maintenance_workers = 2" \
	-c "CREATE INDEX big_v ON big USING brainy_hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32)" \
	-c "SELECT brainy_hnsw_check('big_v')->>'ok'" 2>&1)
check "timeout: a build afterwards succeeds and checks ($out)" test "$(tail -n 1 <<<"$out")" = true

pgc_stop parbuild
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
