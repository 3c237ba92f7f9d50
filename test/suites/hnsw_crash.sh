#!/usr/bin/env bash
# hnsw_crash.sh - a brainy_hnsw index survives a crash during inserts, and
# finds what it should.
#
# Inserts rows in a loop in the background, stops the server with
# `pg_ctl stop -m immediate` in the middle, restarts it (WAL replay of the
# GenericXLog records), then checks: the structural check passes, every
# live heap row is found by an index scan with its own vector as the query,
# inserts and VACUUM work afterwards, and recall@10 at the default
# ef_search on 10,000 random vectors is at least 0.95.  A second table with a
# quantization = sq8 index takes the same inserts and checks, plus a VACUUM
# whose freed slots new rows reuse.
set -uo pipefail

ROOT=${BRAINY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$ROOT/test/lib/pgcluster.sh"

. "$ROOT/test/lib/check.sh"

cd / || exit 1
if ! pgc_start crash "autovacuum = off"; then
	echo "0 passed, 1 failed"
	exit 1
fi
sql() { pgc_psql crash -d postgres -At "$@"; }
DIR=$PGC_crash_DIR

sql <<'SQL'
CREATE EXTENSION brainy;
CREATE TABLE items (id bigserial PRIMARY KEY, v vector(16));
CREATE FUNCTION rv() RETURNS vector LANGUAGE sql VOLATILE AS
	$$ SELECT array_agg(random())::vector FROM generate_series(1, 16) $$;
INSERT INTO items (v) SELECT rv() FROM generate_series(1, 2000);
CREATE INDEX items_v ON items USING brainy_hnsw (v vector_l2_ops);
-- the same with 8-bit codes in the graph and full vectors in vector pages
CREATE TABLE qitems (id bigserial PRIMARY KEY, v vector(16));
INSERT INTO qitems (v) SELECT rv() FROM generate_series(1, 2000);
CREATE INDEX qitems_v ON qitems USING brainy_hnsw (v vector_l2_ops) WITH (quantization = sq8);
SQL
check "index built" same "$(sql -c "SELECT (brainy_hnsw_check('items_v')->>'n_live')")" 2000
check "sq8 index built and trained" same "$(sql -c "SELECT (j->>'n_live') || ' ' || (j->>'trained') FROM brainy_hnsw_check('qitems_v') j")" "2000 true"

# background writer: many small transactions, until the server goes away
(
	for i in $(seq 1 2000); do
		pgc_psql crash -d postgres -q -c "INSERT INTO items (v) SELECT rv() FROM generate_series(1, 5)" \
			-c "INSERT INTO qitems (v) SELECT rv() FROM generate_series(1, 5)" \
			>/dev/null 2>&1 || break
	done
) &
WRITER=$!
sleep 4
before=$(sql -c "SELECT count(*) FROM items" 2>/dev/null || echo 0)
pgc_as "$PGC_BINDIR/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1
wait "$WRITER" 2>/dev/null
check "rows were being inserted when the server stopped (had $before)" test "$before" -gt 2000

if pgc_as "$PGC_BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 120 start >/dev/null; then
	PGC_crash_PID=$(head -n 1 "$DIR/data/postmaster.pid")
	check "server restarts after the crash" true
else
	check "server restarts after the crash" false
	finish
fi

rows=$(sql -c "SELECT count(*) FROM items")
echo "# $rows rows after recovery"
check "structural check after recovery has no invalid edges" \
	same "$(sql -c "SELECT (j->>'n_invalid') || ' ' || (j->>'n_dangling') FROM brainy_hnsw_check('items_v') j")" "0 0"

# every live row is found by the index with its own vector as the query
missing_sql="SET enable_seqscan = off; SET brainy.ef_search = 200;
SELECT count(*) FROM items a WHERE NOT EXISTS
	(SELECT 1 FROM (SELECT id FROM items b ORDER BY b.v <-> a.v LIMIT 5) s WHERE s.id = a.id)"
check "every live row is found after recovery" same "$(sql -c "$missing_sql" | tail -n 1)" 0
qmissing_sql=${missing_sql//items/qitems}
check "sq8 index: no invalid edges after recovery" \
	same "$(sql -c "SELECT (j->>'n_invalid') || ' ' || (j->>'n_dangling') FROM brainy_hnsw_check('qitems_v') j")" "0 0"
check "sq8 index: every live row is found after recovery" same "$(sql -c "$qmissing_sql" | tail -n 1)" 0

sql -c "INSERT INTO items (v) SELECT rv() FROM generate_series(1, 300)"
check "inserts work after recovery" same "$(sql -c "$missing_sql" | tail -n 1)" 0

sql -c "DELETE FROM items WHERE id % 4 = 0" -c "VACUUM items"
check "check passes after DELETE + VACUUM (no unreachable nodes)" \
	same "$(sql -c "SELECT (j->>'ok') || ' ' || (j->>'n_unreachable') || ' ' || (j->>'n_dangling') FROM brainy_hnsw_check('items_v') j")" "true 0 0"
check "every live row is found after VACUUM" same "$(sql -c "$missing_sql" | tail -n 1)" 0
sql -c "DELETE FROM qitems WHERE id % 4 = 0" -c "VACUUM qitems" \
	-c "INSERT INTO qitems (v) SELECT rv() FROM generate_series(1, 300)" >/dev/null
check "sq8 index: check passes after DELETE + VACUUM + inserts into freed slots" \
	same "$(sql -c "SELECT (j->>'ok') || ' ' || (j->>'n_unreachable') FROM brainy_hnsw_check('qitems_v') j")" "true 0"
check "sq8 index: every live row is found after VACUUM and reuse" same "$(sql -c "$qmissing_sql" | tail -n 1)" 0
check "deleted rows are never returned" same "$(sql -c "SET enable_seqscan = off; SET brainy.ef_search = 400;
	SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> rv() LIMIT 400) s WHERE id % 4 = 0" | tail -n 1)" 0

# recall@10 at the default ef_search on 10,000 random vectors
sql <<'SQL'
CREATE TABLE rv10k (id int PRIMARY KEY, v vector(16));
INSERT INTO rv10k SELECT i, rv() FROM generate_series(1, 10000) i;
CREATE INDEX rv10k_v ON rv10k USING brainy_hnsw (v vector_l2_ops);
CREATE TABLE queries AS SELECT i AS qid, rv() AS q FROM generate_series(1, 100) i;
SQL
recall=$(sql -c "SET enable_seqscan = off;
SELECT round(avg(hits) / 10.0, 4) FROM (
	SELECT q.qid, (SELECT count(*) FROM
		(SELECT id FROM rv10k ORDER BY v <-> q.q LIMIT 10) a
		JOIN (SELECT id FROM rv10k ORDER BY (v <-> q.q) + 0 LIMIT 10) e USING (id)) AS hits
	FROM queries q) s" | tail -n 1)
echo "# recall@10 at ef_search 40: $recall"
check "recall@10 >= 0.95 at the default ef_search (got $recall)" \
	awk -v r="$recall" 'BEGIN { exit !(r >= 0.95) }'

finish
