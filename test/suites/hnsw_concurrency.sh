#!/usr/bin/env bash
# hnsw_concurrency.sh - brainy_hnsw under concurrent inserts, deletes,
# searches and VACUUMs.
#
# Four pgbench clients mix inserts, deletes and ORDER BY ... LIMIT searches
# on one indexed table while a loop VACUUMs it, for a bounded time.  Then:
# no client failed, no backend crashed, the graph passes brainy_hnsw_check,
# and every live row is found by a search for its own vector.
set -uo pipefail

ROOT=${BRAINY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$ROOT/test/lib/pgcluster.sh"

. "$ROOT/test/lib/check.sh"

WORK=$(mktemp -d)
chmod 755 "$WORK"
VACUUM_PID=""
pgc_on_exit() {
	[ -n "$VACUUM_PID" ] && kill "$VACUUM_PID" 2>/dev/null
	rm -rf "$WORK"
}

cd / || exit 1
if ! pgc_start conc "max_connections = 20"; then
	echo "0 passed, 1 failed"
	exit 1
fi
PORT=$PGC_conc_PORT
sql() { pgc_psql conc -At "$@"; }

sql <<'SQL'
CREATE EXTENSION brainy;
CREATE TABLE items (id serial PRIMARY KEY, v vector(16));
INSERT INTO items (v)
SELECT (SELECT array_agg(random() - 0.5) FROM generate_series(1, 16) WHERE i > 0)::vector
FROM generate_series(1, 2000) i;
CREATE INDEX items_v ON items USING brainy_hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32);
SQL

cat >"$WORK/insert.sql" <<'EOF2'
INSERT INTO items (v) SELECT array_agg(random() - 0.5)::vector FROM generate_series(1, 16);
EOF2
cat >"$WORK/delete.sql" <<'EOF2'
\set id random(1, 4000)
DELETE FROM items WHERE id = :id;
EOF2
cat >"$WORK/search.sql" <<'EOF2'
SELECT id FROM items ORDER BY v <-> (SELECT array_agg(random() - 0.5)::vector FROM generate_series(1, 16)) LIMIT 10;
EOF2

# VACUUM in a loop while the clients run (bounded: at most 60 rounds)
(
	for i in $(seq 1 60); do
		sql -c "VACUUM items" >/dev/null 2>>"$WORK/vacuum.err" || true
		sleep 0.3
	done
) &
VACUUM_PID=$!

pgbench -n -h 127.0.0.1 -p "$PORT" -U postgres -c 4 -j 2 -T 12 \
	-f "$WORK/insert.sql@3" -f "$WORK/delete.sql@1" -f "$WORK/search.sql@6" \
	postgres >"$WORK/pgbench.out" 2>&1
rc=$?
kill "$VACUUM_PID" 2>/dev/null; wait "$VACUUM_PID" 2>/dev/null; VACUUM_PID=""
check "pgbench: every client finished without error" test "$rc" -eq 0
grep -E "number of (transactions actually processed|failed)" "$WORK/pgbench.out" | sed 's/^/  /'
[ "$rc" -eq 0 ] || tail -20 "$WORK/pgbench.out"
check "concurrent VACUUMs raised no error" test ! -s "$WORK/vacuum.err"
[ -s "$WORK/vacuum.err" ] && head -5 "$WORK/vacuum.err"

sql -c "VACUUM items" >/dev/null
ok=$(sql -c "SELECT brainy_hnsw_check('items_v')->>'ok'")
check "graph passes brainy_hnsw_check after the run" test "$ok" = true
missing=$(sql -c "SET brainy.ef_search = 200" -c "
	SELECT count(*) FROM items a WHERE NOT EXISTS (
		SELECT 1 FROM (SELECT id FROM items b ORDER BY b.v <-> a.v LIMIT 5) s
		WHERE s.id = a.id)" | tail -n 1)
check "every live row is found by its own vector (missing: $missing)" test "$missing" = 0
check "no backend crashed" bash -c "! grep -E 'terminated by signal|PANIC' '$PGC_conc_DIR/server.log'"

pgc_stop conc
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
