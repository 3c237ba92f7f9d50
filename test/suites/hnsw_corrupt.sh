#!/usr/bin/env bash
# hnsw_corrupt.sh - a damaged brainy_hnsw index gives a clear error, never a
# crash.
#
# Builds a small index, then (server stopped each time) overwrites part of
# its file in three ways: garbage over the metapage, garbage over the node
# slots of block 1, zeros over a whole node page.  Each time a search must
# fail with an index-corrupted error naming the index, the backend must not
# crash, and REINDEX must bring the index back.  The same for garbage over
# the quantizer page of a quantization = sq8 index, and for a fastupdate
# index garbage over a pending page and a pending list that loops.
set -uo pipefail

ROOT=${BRAINY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$ROOT/test/lib/pgcluster.sh"

. "$ROOT/test/lib/check.sh"

cd / || exit 1
if ! pgc_start corrupt; then
	echo "0 passed, 1 failed"
	exit 1
fi
DIR=$PGC_corrupt_DIR
sql() { pgc_psql corrupt -At "$@"; }

sql <<'SQL'
CREATE EXTENSION brainy;
CREATE TABLE items (id int PRIMARY KEY, v vector(8));
INSERT INTO items SELECT i, (SELECT array_agg(sin(i * j)) FROM generate_series(1, 8) j)::vector
FROM generate_series(1, 3000) i;
CREATE INDEX items_v ON items USING brainy_hnsw (v vector_l2_ops) WITH (m = 4, ef_construction = 16);
CHECKPOINT;
SQL
FILE=$DIR/data/$(sql -c "SELECT pg_relation_filepath('items_v')")
cp "$FILE" "$DIR/index.orig"

restart() {
	local pid=$PGC_corrupt_PID
	kill -INT "$pid"
	for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	"$@"
	if [ "$(id -u)" = 0 ]; then
		runuser -u "$PGC_OSUSER" -- "$PGC_BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null
	else
		"$PGC_BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null
	fi
	PGC_corrupt_PID=$(head -n 1 "$DIR/data/postmaster.pid")
}
overwrite() {	# overwrite OFFSET LENGTH BYTE(hex)
	head -c "$2" /dev/zero | tr '\0' "\\$(printf '%03o' "$3")" |
		dd of="$FILE" bs=1 seek="$1" conv=notrunc status=none
}
search_error() {
	sql -c "SET enable_seqscan = off" \
		-c "SELECT id FROM items ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 5" 2>&1 >/dev/null
}

for case in "metapage:24:1000:255" "slots of block 1:8216:3000:255" "node page 2 zeroed:16384:8192:0"; do
	IFS=: read -r name off len byte <<<"$case"
	restart overwrite "$off" "$len" "$byte"
	err=$(search_error)
	check "$name: the search fails with a clear error ($err)" \
		bash -c "grep -q 'brainy_hnsw' <<<\"\$1\" && grep -qv 'server closed' <<<\"\$1\"" _ "$err"
	check "$name: the backend did not crash" \
		bash -c "! grep -E 'terminated by signal|PANIC' '$DIR/server.log'"
	sql -c "REINDEX INDEX items_v" >/dev/null 2>&1
	check "$name: REINDEX repairs it" test "$(sql -c "SELECT brainy_hnsw_check('items_v')->>'ok'")" = true
	sql -c "CHECKPOINT" >/dev/null
	FILE=$DIR/data/$(sql -c "SELECT pg_relation_filepath('items_v')")
done

# a quantized index (quantization = sq8): a damaged quantizer page
sql <<'SQL'
CREATE TABLE qitems (id int PRIMARY KEY, v vector(8));
INSERT INTO qitems SELECT i, (SELECT array_agg(sin(i * j)) FROM generate_series(1, 8) j)::vector
FROM generate_series(1, 3000) i;
CREATE INDEX qitems_v ON qitems USING brainy_hnsw (v vector_l2_ops) WITH (m = 4, ef_construction = 16, quantization = sq8);
CHECKPOINT;
SQL
FILE=$DIR/data/$(sql -c "SELECT pg_relation_filepath('qitems_v')")
qblk=""
for ((b = 0; b < $(stat -c %s "$FILE") / 8192; b++)); do
	# page type: the first uint16 of the special space (8 bytes at the end)
	if [ "$(od -An -tu2 -j $((b * 8192 + 8184)) -N2 "$FILE" | tr -d ' ')" = 5 ]; then qblk=$b; break; fi
done
check "sq8: the index has a quantizer page ($qblk)" test -n "$qblk"
restart overwrite $((qblk * 8192 + 24)) 64 255
err=$(sql -c "SET enable_seqscan = off" \
	-c "SELECT id FROM qitems ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 5" 2>&1 >/dev/null)
check "sq8: a damaged quantizer gives a clear error ($err)" \
	bash -c "grep -q 'bad quantizer' <<<\"\$1\"" _ "$err"
check "sq8: the backend did not crash" \
	bash -c "! grep -E 'terminated by signal|PANIC' '$DIR/server.log'"
sql -c "REINDEX INDEX qitems_v" >/dev/null 2>&1
check "sq8: REINDEX repairs it" test "$(sql -c "SELECT brainy_hnsw_check('qitems_v')->>'ok'")" = true

# a fastupdate index with rows in its pending list (a fresh one per case, so
# its pending pages are in block order): garbage over a pending page's head,
# and a list whose last page points back to its first (a loop).  A search
# and a merge must fail with a clear error, and REINDEX links every row.
pitems_error() {
	sql -c "SET enable_seqscan = off" \
		-c "SELECT id FROM pitems ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 5" 2>&1 >/dev/null
}
le32() {	# le32 VALUE: 4 bytes, little-endian, as printf escapes
	printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) $((($1 >> 16) & 255)) $((($1 >> 24) & 255))
}
for case in "garbage over a pending page's head:n" "the last pending page points back to the first:loop"; do
	IFS=: read -r name how <<<"$case"
	sql >/dev/null <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS pitems;
CREATE TABLE pitems (id int PRIMARY KEY, v vector(8));
CREATE INDEX pitems_v ON pitems USING brainy_hnsw (v vector_l2_ops) WITH (fastupdate = on);
INSERT INTO pitems SELECT i, (SELECT array_agg(sin(i * j)) FROM generate_series(1, 8) j)::vector
FROM generate_series(1, 3000) i;
CHECKPOINT;
SQL
	FILE=$DIR/data/$(sql -c "SELECT pg_relation_filepath('pitems_v')")
	pblks=()
	for ((b = 0; b < $(stat -c %s "$FILE") / 8192; b++)); do
		if [ "$(od -An -tu2 -j $((b * 8192 + 8184)) -N2 "$FILE" | tr -d ' ')" = 7 ]; then pblks+=("$b"); fi
	done
	check "pending, $name: 3000 rows in ${#pblks[@]} pending pages" \
		test "$(sql -c "SELECT brainy_hnsw_check('pitems_v')->>'pending'")" = 3000 -a "${#pblks[@]}" -ge 2
	first=${pblks[0]}
	last=${pblks[$((${#pblks[@]} - 1))]}
	# a page's head follows its 24-byte header: uint32 n, done, next
	if [ "$how" = n ]; then
		restart overwrite $((first * 8192 + 24)) 8 255
	else
		restart bash -c "printf '$(le32 "$first")' | dd of='$FILE' bs=1 seek=$((last * 8192 + 32)) conv=notrunc status=none"
	fi
	err=$(pitems_error)
	check "pending, $name: the search fails with a clear error ($err)" \
		bash -c "grep -q 'brainy_hnsw index \"pitems_v\"' <<<\"\$1\"" _ "$err"
	err=$(sql -c "SELECT brainy_hnsw_merge_pending('pitems_v')" 2>&1 >/dev/null)
	check "pending, $name: a merge fails with a clear error ($err)" \
		bash -c "grep -q 'brainy_hnsw index \"pitems_v\"' <<<\"\$1\"" _ "$err"
	check "pending, $name: the backend did not crash" \
		bash -c "! grep -E 'terminated by signal|PANIC' '$DIR/server.log'"
	sql -c "REINDEX INDEX pitems_v" >/dev/null 2>&1
	check "pending, $name: REINDEX repairs it (every row linked)" \
		test "$(sql -c "SELECT (j->>'ok') || ' ' || (j->>'n_live') || ' ' || (j->>'pending') FROM brainy_hnsw_check('pitems_v') j")" = "true 3000 0"
done

pgc_stop corrupt
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
