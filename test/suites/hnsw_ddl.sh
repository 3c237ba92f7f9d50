#!/usr/bin/env bash
# hnsw_ddl.sh - brainy_hnsw indexes under PostgreSQL's maintenance commands.
#
#   1. CREATE INDEX CONCURRENTLY, one table per operator class, while two
#      sessions keep inserting into every table;
#   2. REINDEX INDEX CONCURRENTLY on the same tables, again during inserts;
#      REINDEX INDEX, REINDEX INDEX CONCURRENTLY, REINDEX TABLE on a small
#      table with one index per operator class;
#   3. VACUUM FULL and CLUSTER (on the primary key) after deletes; CLUSTER on
#      a brainy_hnsw index is refused;
#   4. pg_dump / pg_restore (custom format) and pg_dump | psql (plain) of a
#      database with an index per operator class and non-default options;
#   5. a crash during CREATE INDEX (the backend killed with SIGKILL) and
#      during CREATE INDEX CONCURRENTLY (immediate shutdown), both after the
#      build has written its in-memory graph and while it inserts the rest
#      page by page; an unlogged table's index after a crash.
#
# After each step, each index concerned must be valid (pg_index), pass
# brainy_hnsw_check with as many live nodes as the table has rows, be used
# by the plan, and find the rows it should: on the big tables, each sampled
# row (and every row inserted concurrently) with its own vector as the
# query; on the small table (500 rows), exactly the rows an exact scan
# returns, for ten queries.  The small table is searched with
# brainy.ef_search = 1000, at least its row count: the search then expands
# every node it can reach, so any difference from the exact answer means a
# row missing from the graph, a wrong vector or TID, or an unreachable node
# (a smaller ef_search may legitimately miss a neighbour).
set -uo pipefail

ROOT=${BRAINY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$ROOT/test/lib/pgcluster.sh"

. "$ROOT/test/lib/check.sh"

WORK=$(mktemp -d)
chmod 755 "$WORK"
WRITERS=""
pgc_on_exit() {
	local p
	touch "$WORK/stop"
	for p in $WRITERS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$WORK"
}

cd / || exit 1
if ! pgc_start ddl "autovacuum = off" "max_connections = 30"; then
	echo "0 passed, 1 failed"
	exit 1
fi
PORT=$PGC_ddl_PORT
DIR=$PGC_ddl_DIR
DB=postgres
sql() { pgc_psql ddl -d "$DB" -At "$@"; }
val() { sql -c "$1" | tail -n 1; }	# the last line of one statement's output
T0=$SECONDS

# operator class suffix : operator
OPS="l2:<-> ip:<#> cos:<=> l1:<+>"
opclass() { case $1 in l2) echo vector_l2_ops ;; ip) echo vector_ip_ops ;;
	cos) echo vector_cosine_ops ;; l1) echo vector_l1_ops ;; esac; }

sql <<'SQL'
CREATE EXTENSION brainy;
CREATE FUNCTION rv(d int) RETURNS vector LANGUAGE sql VOLATILE AS
	$$ SELECT array_agg(random() - 0.3)::vector FROM generate_series(1, d) $$;
SQL

# --- checks shared by every step ----------------------------------------------

is_valid() { same "$(val "SELECT indisvalid AND indisready FROM pg_index WHERE indexrelid = '$1'::regclass")" t; }
check_ok() {	# check_ok INDEX TABLE: check passes, one live node per row, none deleted
	same "$(val "SELECT (j->>'ok') || ' ' || (j->>'n_live') || ' ' || (j->>'n_deleted')
				 FROM brainy_hnsw_check('$1') j")" "true $(val "SELECT count(*) FROM $2") 0"
}
uses_index() {	# uses_index TABLE INDEX OP
	sql -c "SET enable_seqscan = off" \
		-c "EXPLAIN (COSTS OFF) SELECT id FROM $1 ORDER BY v $3 (SELECT v FROM $1 LIMIT 1) LIMIT 10" |
		grep -q "Index Scan using $2 on $1"
}
# missing TABLE OP SAMPLE: how many rows matching SAMPLE a search for their
# own vector does not return among the first 5
missing() {
	val "SET enable_seqscan = off; SET brainy.ef_search = 100;
		SELECT count(*) FROM $1 a WHERE ($3) AND NOT EXISTS
			(SELECT 1 FROM (SELECT id FROM $1 b ORDER BY b.v $2 a.v LIMIT 5) s WHERE s.id = a.id)"
}
# answers TABLE OP exact|index: the 10 nearest ids of each query in table qs
answers() {
	local how="SET enable_seqscan = off; SET brainy.ef_search = 1000"
	[ "$3" = exact ] && how="SET enable_indexscan = off; SET enable_bitmapscan = off"
	sql -c "$how" -c "SELECT string_agg(array(SELECT id FROM $1 ORDER BY v $2 q.q LIMIT 10)::text, ';' ORDER BY q.qid)
					  FROM qs q" | tail -n 1
}
filenode() { val "SELECT pg_relation_filenode('$1')"; }

# verify_big STEP TABLE INDEX OP FIRST_NEW_ID
verify_big() {
	local step=$1 t=$2 idx=$3 op=$4 newid=$5 miss
	check "$step: $idx is valid" is_valid "$idx"
	check "$step: $idx passes the check with one live node per row" check_ok "$idx" "$t"
	check "$step: $idx is used for ORDER BY v $op" uses_index "$t" "$idx" "$op"
	miss=$(missing "$t" "$op" "id % 3 = 0 OR id >= $newid")
	check "$step: $idx finds every sampled and concurrently inserted row by its own vector (missing: $miss)" \
		same "$miss" 0
}
# verify_small STEP INDEX OP: index on sm answers as an exact scan does
verify_small() {
	local step=$1 idx=$2 op=$3 ex ix
	check "$step: $idx is valid" is_valid "$idx"
	check "$step: $idx passes the check with one live node per row" check_ok "$idx" sm
	check "$step: $idx is used for ORDER BY v $op" uses_index sm "$idx" "$op"
	ex=$(answers sm "$op" exact)
	ix=$(answers sm "$op" index)
	check "$step: $idx answers 10 queries exactly as a sequential scan" \
		bash -c '[ "$(tr ";," "\n\n" <<<"$1" | grep -c "[0-9]")" = 100 ] && [ "$1" = "$2" ] ||
			{ echo "  exact: $1"; echo "  index: $2"; exit 1; }' _ "$ex" "$ix"
}

# --- 1, 2: CREATE INDEX CONCURRENTLY and REINDEX CONCURRENTLY during inserts ---

for pair in $OPS; do
	o=${pair%%:*}
	gen="rv(32)"; [ "$o" = ip ] && gen="l2_normalize(rv(32))"	# unit vectors: a row is its own best match
	sql -c "CREATE TABLE ci_$o (id serial PRIMARY KEY, v vector(32))" \
		-c "INSERT INTO ci_$o (v) SELECT $gen FROM generate_series(1, 3000)"
done

# writer N: one session inserting a row into every ci_ table per transaction
# until $WORK/stop exists; psql stops at the first error (exit status 3)
writer() {
	while [ ! -e "$WORK/stop" ]; do
		echo "INSERT INTO ci_l2 (v) SELECT rv(32); INSERT INTO ci_ip (v) SELECT l2_normalize(rv(32));
			  INSERT INTO ci_cos (v) SELECT rv(32); INSERT INTO ci_l1 (v) SELECT rv(32);"
		sleep 0.01
	done | pgc_psql ddl -d postgres -q >/dev/null 2>"$WORK/writer$1.err"
}
start_writers() {
	rm -f "$WORK/stop"
	writer 1 & WRITERS="$!"
	writer 2 & WRITERS="$WRITERS $!"
	sleep 0.5
}
stop_writers() {	# stop_writers STEP: stop them; they must not have failed
	local p rc=0
	touch "$WORK/stop"
	for p in $WRITERS; do wait "$p" || rc=$?; done
	WRITERS=""
	check "$1: the inserting sessions raised no error" \
		bash -c "[ $rc = 0 ] && ! [ -s '$WORK/writer1.err' ] && ! [ -s '$WORK/writer2.err' ]"
	cat "$WORK"/writer*.err 2>/dev/null | head -5
}

# during STEP DDL TABLE: run DDL while the writers insert; rows must have
# been added while it ran
during() {
	local step=$1 ddl=$2 t=$3 before after rc
	before=$(val "SELECT count(*) FROM $t")
	sql -c "$ddl" >"$WORK/ddl.out" 2>&1
	rc=$?
	check "$step: $ddl succeeds" test $rc -eq 0
	[ $rc -eq 0 ] || head -5 "$WORK/ddl.out"
	after=$(val "SELECT count(*) FROM $t")
	check "$step: rows were inserted into $t while it ran ($before -> $after)" test "$after" -gt "$before"
}

step="CREATE INDEX CONCURRENTLY"
start_writers
for pair in $OPS; do
	o=${pair%%:*}
	during "$step" "CREATE INDEX CONCURRENTLY ci_${o}_v ON ci_$o USING brainy_hnsw (v $(opclass "$o"))" "ci_$o"
done
stop_writers "$step"
for pair in $OPS; do
	o=${pair%%:*}; op=${pair#*:}
	verify_big "$step" "ci_$o" "ci_${o}_v" "$op" 3001
done
echo "# $step: $(val "SELECT string_agg(count::text, ' ') FROM (SELECT count(*) FROM ci_l2 UNION ALL SELECT count(*) FROM ci_ip UNION ALL SELECT count(*) FROM ci_cos UNION ALL SELECT count(*) FROM ci_l1) c") rows (l2 ip cos l1); $((SECONDS - T0)) s"

step="REINDEX INDEX CONCURRENTLY during inserts"
first=$(val "SELECT max(id) + 1 FROM ci_l2")
declare -A node_before
for pair in $OPS; do o=${pair%%:*}; node_before[$o]=$(filenode "ci_${o}_v"); done
start_writers
for pair in $OPS; do
	o=${pair%%:*}
	during "$step" "REINDEX INDEX CONCURRENTLY ci_${o}_v" "ci_$o"
done
stop_writers "$step"
for pair in $OPS; do
	o=${pair%%:*}; op=${pair#*:}
	check "$step: ci_${o}_v was rebuilt (new file)" test "$(filenode "ci_${o}_v")" != "${node_before[$o]}"
	verify_big "$step" "ci_$o" "ci_${o}_v" "$op" "$first"
done
check "$step: no invalid index is left behind" same "$(val "SELECT count(*) FROM pg_index WHERE NOT indisvalid")" 0
echo "# $step: $((SECONDS - T0)) s"

# --- 2, 3: REINDEX, VACUUM FULL, CLUSTER on a small table -----------------------

sql <<'SQL'
CREATE TABLE sm (id int PRIMARY KEY, v vector(16));
INSERT INTO sm SELECT i, rv(16) FROM generate_series(1, 500) i;
CREATE TABLE qs AS SELECT i AS qid, rv(16) AS q FROM generate_series(1, 10) i;
CREATE INDEX sm_l2 ON sm USING brainy_hnsw (v vector_l2_ops);
CREATE INDEX sm_ip ON sm USING brainy_hnsw (v vector_ip_ops) WITH (m = 8, ef_construction = 24);
CREATE INDEX sm_cos ON sm USING brainy_hnsw (v vector_cosine_ops) WITH (m = 12);
CREATE INDEX sm_l1 ON sm USING brainy_hnsw (v vector_l1_ops) WITH (m = 4, ef_construction = 8);
SQL
for pair in $OPS; do o=${pair%%:*}; verify_small "CREATE INDEX" "sm_$o" "${pair#*:}"; done

# rebuilt STEP SQL INDEX...: SQL gives each INDEX a new file, and each then
# answers exactly
rebuilt() {
	local step=$1 ddl=$2 idx pair o rc; shift 2
	declare -A nb
	for idx in "$@"; do nb[$idx]=$(filenode "$idx"); done
	sql -c "$ddl" >"$WORK/ddl.out" 2>&1
	rc=$?
	check "$step: $ddl succeeds" test $rc -eq 0
	[ $rc -eq 0 ] || head -5 "$WORK/ddl.out"
	for idx in "$@"; do
		check "$step: $idx was rebuilt (new file)" test "$(filenode "$idx")" != "${nb[$idx]}"
		for pair in $OPS; do
			o=${pair%%:*}
			[ "$idx" = "sm_$o" ] && verify_small "$step" "$idx" "${pair#*:}"
		done
	done
}
rebuilt "REINDEX INDEX" "REINDEX INDEX sm_l2" sm_l2
rebuilt "REINDEX INDEX CONCURRENTLY" "REINDEX INDEX CONCURRENTLY sm_ip" sm_ip
rebuilt "REINDEX TABLE" "REINDEX TABLE sm" sm_l2 sm_ip sm_cos sm_l1
rebuilt "REINDEX TABLE CONCURRENTLY" "REINDEX TABLE CONCURRENTLY sm" sm_l2 sm_ip sm_cos sm_l1

sql -c "DELETE FROM sm WHERE id % 3 = 0"
rebuilt "VACUUM FULL after deletes" "VACUUM FULL sm" sm_l2 sm_ip sm_cos sm_l1
check "VACUUM FULL: deleted rows stay deleted" same "$(val "SELECT count(*) FROM sm")" 334
sql -c "DELETE FROM sm WHERE id % 5 = 0"
rebuilt "CLUSTER after deletes" "CLUSTER sm USING sm_pkey" sm_l2 sm_ip sm_cos sm_l1
check "CLUSTER: deleted rows stay deleted" same "$(val "SELECT count(*) FROM sm")" 267
err=$(sql -c "CLUSTER sm USING sm_l2" 2>&1)
check "CLUSTER on a brainy_hnsw index is refused with a clear error" \
	bash -c "grep -q 'does not support clustering' <<<\"\$1\"" _ "$err"

# a CREATE INDEX CONCURRENTLY whose build fails leaves an invalid index that
# was never built (no pages)
# (an expression without a typmod: its dimension is unknown)
sql -c "CREATE FUNCTION untyped(x vector) RETURNS vector LANGUAGE plpgsql IMMUTABLE AS 'BEGIN RETURN x; END'"
err=$(sql -c "CREATE INDEX CONCURRENTLY sm_bad ON sm USING brainy_hnsw (untyped(v) vector_l2_ops)" 2>&1)
check "a failing CREATE INDEX CONCURRENTLY says why" grep -q "column does not have dimensions" <<<"$err"
check "a failing CREATE INDEX CONCURRENTLY leaves an invalid index" \
	same "$(val "SELECT indisvalid FROM pg_index WHERE indexrelid = 'sm_bad'::regclass")" f
err=$(sql -c "SELECT brainy_hnsw_check('sm_bad')" 2>&1)
check "brainy_hnsw_check on the never-built index says so ($err)" \
	grep -q 'brainy_hnsw index "sm_bad" has not been built' <<<"$err"
sql -c "DROP INDEX sm_bad"
check "the never-built index can be dropped" same "$(val "SELECT to_regclass('sm_bad') IS NULL")" t
echo "# REINDEX, VACUUM FULL, CLUSTER: $((SECONDS - T0)) s"

# --- 4: pg_dump and restore ----------------------------------------------------

sql -c "CREATE DATABASE dsrc" -c "CREATE DATABASE dplain" -c "CREATE DATABASE dcustom"
DB=dsrc sql <<'SQL'
CREATE EXTENSION brainy;
CREATE TABLE sm (id int PRIMARY KEY, v vector(16));
INSERT INTO sm SELECT i, (SELECT array_agg(sin(i * j + 0.5 * j)) FROM generate_series(1, 16) j)::vector
FROM generate_series(1, 500) i;
CREATE TABLE qs AS SELECT i AS qid, (SELECT array_agg(cos(i * j + 0.3)) FROM generate_series(1, 16) j)::vector AS q
FROM generate_series(1, 10) i;
CREATE INDEX sm_l2 ON sm USING brainy_hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 40);
CREATE INDEX sm_ip ON sm USING brainy_hnsw (v vector_ip_ops) WITH (m = 12, ef_construction = 30);
CREATE INDEX sm_cos ON sm USING brainy_hnsw (v vector_cosine_ops) WITH (m = 4, ef_construction = 16);
CREATE INDEX sm_l1 ON sm USING brainy_hnsw (v vector_l1_ops) WITH (m = 20, ef_construction = 100);
SQL
indexdefs() {
	DB=$1 val "SELECT string_agg(pg_get_indexdef(indexrelid), E'\n' ORDER BY indexrelid::regclass::text)
			   FROM pg_index WHERE indrelid = 'sm'::regclass"
}
options() {	# what the index itself says its options are
	DB=$1 val "SELECT string_agg(c.relname || ' ' || (j->>'m') || ' ' || (j->>'ef_construction') || ' ' || (j->>'metric'),
							     ', ' ORDER BY c.relname)
			   FROM pg_class c, LATERAL brainy_hnsw_check(c.oid) j
			   WHERE c.relam = (SELECT oid FROM pg_am WHERE amname = 'brainy_hnsw')"
}
SRC_DEFS=$(indexdefs dsrc)
SRC_OPTS=$(options dsrc)
check "dump source: the options are as created" same "$SRC_OPTS" \
	"sm_cos 4 16 cosine, sm_ip 12 30 ip, sm_l1 20 100 l1, sm_l2 8 40 l2"
declare -A src_ans
for pair in $OPS; do
	o=${pair%%:*}
	DB=dsrc verify_small "dump source" "sm_$o" "${pair#*:}"
	src_ans[$o]=$(DB=dsrc answers sm "${pair#*:}" index)
done

pg_dump -h 127.0.0.1 -p "$PORT" -U postgres -d dsrc -Fc -f "$WORK/dsrc.dump"
check "pg_dump (custom) succeeds" test -s "$WORK/dsrc.dump"
pg_restore -h 127.0.0.1 -p "$PORT" -U postgres -d dcustom --exit-on-error "$WORK/dsrc.dump" \
	>"$WORK/restore.log" 2>&1
rc=$?
check "pg_restore succeeds" test $rc -eq 0
[ $rc -eq 0 ] || head -5 "$WORK/restore.log"
pg_dump -h 127.0.0.1 -p "$PORT" -U postgres -d dsrc |
	pgc_psql ddl -d dplain >"$WORK/plain.log" 2>&1
rc=$?
check "pg_dump | psql succeeds" test $rc -eq 0
[ $rc -eq 0 ] || head -5 "$WORK/plain.log"

for db in dcustom dplain; do
	check "$db: the indexes have the source's definitions" same "$(indexdefs $db)" "$SRC_DEFS"
	check "$db: the indexes were built with the source's options" same "$(options $db)" "$SRC_OPTS"
	for pair in $OPS; do
		o=${pair%%:*}
		DB=$db verify_small "$db" "sm_$o" "${pair#*:}"
		check "$db: sm_$o answers as in the source" same "$(DB=$db answers sm "${pair#*:}" index)" "${src_ans[$o]}"
	done
done
echo "# dump and restore: $((SECONDS - T0)) s"

check "no backend crashed so far" bash -c "! grep -E 'terminated by signal|PANIC' '$DIR/server.log'"

# --- 5: crashes during CREATE INDEX ---------------------------------------------

# A build that takes seconds on a small table: the indexed expression sleeps
# 0.5 ms per row, and maintenance_work_mem = 1MB makes the build write the
# graph built so far and insert the rest page by page.
sql <<'SQL'
CREATE TABLE cr (id int PRIMARY KEY, v vector(16));
INSERT INTO cr SELECT i, rv(16) FROM generate_series(1, 6000) i;
CREATE FUNCTION slowv(x vector) RETURNS vector LANGUAGE plpgsql IMMUTABLE AS
	$$ BEGIN PERFORM pg_sleep(0.0005); RETURN x; END $$;
CREATE UNLOGGED TABLE ul (id int PRIMARY KEY, v vector(16));
INSERT INTO ul SELECT i, rv(16) FROM generate_series(1, 500) i;
CREATE INDEX ul_v ON ul USING brainy_hnsw (v vector_l2_ops);
CHECKPOINT;
SQL
CR_MD5=$(val "SELECT md5(string_agg(id || ':' || v::text, ',' ORDER BY id)) FROM cr")

# build_pid COMMAND: wait until a COMMAND ('CREATE INDEX' or 'CREATE INDEX
# CONCURRENTLY') on cr has written the graph it built in memory and inserts
# the rest page by page (its NOTICE is in $WORK/build.out), give it 0.3 s
# more, and print its backend's PID (nothing after 60 s)
build_pid() {
	local i pid
	for i in $(seq 1 600); do
		grep -q "no longer fits" "$WORK/build.out" 2>/dev/null && break
		sleep 0.1
	done
	grep -q "no longer fits" "$WORK/build.out" 2>/dev/null || return 1
	sleep 0.3
	val "SELECT pid FROM pg_stat_progress_create_index WHERE relid = 'cr'::regclass AND command = '$1'"
}
wait_up() {
	local i
	for i in $(seq 1 600); do
		val "SELECT 1" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
cr_intact() { same "$(val "SELECT md5(string_agg(id || ':' || v::text, ',' ORDER BY id)) FROM cr")" "$CR_MD5"; }

step="SIGKILL during CREATE INDEX"
rm -f "$WORK/build.out"
sql -c "SET maintenance_work_mem = '1MB'" \
	-c "CREATE INDEX cr_v ON cr USING brainy_hnsw ((slowv(v)::vector(16)) vector_l2_ops)" >"$WORK/build.out" 2>&1 &
BUILD=$!
pid=$(build_pid "CREATE INDEX")
check "$step: the build was inserting page by page (backend $pid)" test -n "$pid"
[ -n "$pid" ] && kill -KILL "$pid"
wait "$BUILD"
check "$step: the CREATE INDEX failed" test $? -ne 0
check "$step: the server accepts connections again" wait_up
check "$step: the table is intact" cr_intact
check "$step: the aborted index does not exist" same "$(val "SELECT to_regclass('cr_v') IS NULL")" t
sql -c "CREATE INDEX cr_v ON cr USING brainy_hnsw (v vector_l2_ops)"
check "$step: the index can be created again" is_valid cr_v
verify_big "$step" cr cr_v "<->" 6001

step="immediate shutdown during CREATE INDEX CONCURRENTLY"
rm -f "$WORK/build.out"
sql -c "SET maintenance_work_mem = '1MB'" \
	-c "CREATE INDEX CONCURRENTLY cr_c ON cr USING brainy_hnsw ((slowv(v)::vector(16)) vector_l2_ops)" >"$WORK/build.out" 2>&1 &
BUILD=$!
pid=$(build_pid "CREATE INDEX CONCURRENTLY")
check "$step: the build was inserting page by page (backend $pid)" test -n "$pid"
pgc_as "$PGC_BINDIR/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1
wait "$BUILD"
if pgc_as "$PGC_BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 120 start >/dev/null; then
	PGC_ddl_PID=$(head -n 1 "$DIR/data/postmaster.pid")
	check "$step: the server restarts" true
else
	check "$step: the server restarts" false
	finish
fi
check "$step: the table is intact" cr_intact
check "$step: an invalid index is left" same "$(val "SELECT indisvalid FROM pg_index WHERE indexrelid = 'cr_c'::regclass")" f
sql -c "INSERT INTO cr SELECT i, rv(16) FROM generate_series(6001, 6200) i"
check "$step: inserts work with the invalid index present" same "$(val "SELECT count(*) FROM cr")" 6200
sql -c "REINDEX INDEX cr_c"
check "$step: REINDEX makes the invalid index valid" is_valid cr_c
check "$step: the reindexed index passes the check" check_ok cr_c cr
sql -c "DROP INDEX cr_c"
check "$step: the index can be dropped" same "$(val "SELECT to_regclass('cr_c') IS NULL")" t
sql -c "CREATE INDEX CONCURRENTLY cr_c ON cr USING brainy_hnsw (v vector_l1_ops)"
verify_big "$step, recreated" cr cr_c "<+>" 6001

step="unlogged table after the crash"
check "$step: the table is empty" same "$(val "SELECT count(*) FROM ul")" 0
check "$step: its index is empty and valid" \
	same "$(val "SELECT (j->>'ok') || ' ' || (j->>'n_nodes') FROM brainy_hnsw_check('ul_v') j")" "true 0"
sql -c "INSERT INTO ul SELECT i, rv(16) FROM generate_series(1, 400) i"
check "$step: inserts work" same "$(val "SELECT count(*) FROM ul")" 400
verify_big "$step" ul ul_v "<->" 1

check "the only backend that died is the one killed" \
	same "$(grep -cE 'terminated by signal' "$DIR/server.log")/$(grep -c PANIC "$DIR/server.log")" 1/0
echo "# crashes: $((SECONDS - T0)) s"

pgc_stop ddl
finish
