#!/usr/bin/env bash
# dump_restore.sh - vector data survives pg_dump and restore unchanged.
#
# A demanding user moves data with pg_dump (plain and custom format) and
# binary COPY.  This suite fills a table with vectors of many shapes
# (typmod columns, mixed dimensions, 16,000 dims, negative zero, extreme
# values, NULLs, btree and hash indexes), dumps it, restores it into a new
# database, and checks every value, the typmods and the indexes.
set -uo pipefail

ROOT=${BRAINY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$ROOT/test/lib/pgcluster.sh"

. "$ROOT/test/lib/check.sh"

WORK=$(mktemp -d)
chmod 755 "$WORK"
pgc_on_exit() { rm -rf "$WORK"; }

cd / || exit 1
if ! pgc_start dump; then
	echo "0 passed, 1 failed"
	exit 1
fi
PORT=$PGC_dump_PORT
sql() { local db=$1; shift; pgc_psql dump -d "$db" -At "$@"; }

sql postgres -c "CREATE DATABASE src" -c "CREATE DATABASE plain_copy" -c "CREATE DATABASE custom_copy"
sql src <<'SQL'
CREATE EXTENSION brainy;
CREATE TABLE items (
	id int PRIMARY KEY,
	small vector(3),
	any_dim vector,
	big vector(16000)
);
INSERT INTO items VALUES
	(1, '[1,2,3]', '[1]', NULL),
	(2, '[-0,0,1e-45]', '[3.4028235e38,-3.4028235e38,1.1754944e-38]', NULL),
	(3, '[0.1,0.2,0.3]', NULL, array_fill(0.5::real, ARRAY[16000])::vector),
	(4, NULL, '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]', NULL);
INSERT INTO items
SELECT i, ARRAY[sin(i), cos(i), i / 7.0]::vector(3),
	   (SELECT array_agg(sin(i * j)) FROM generate_series(1, 1 + i % 40) j)::vector,
	   NULL
FROM generate_series(5, 2000) i;
CREATE INDEX items_small ON items (small);
CREATE INDEX items_any_hash ON items USING hash (any_dim);
SQL

fingerprint() {
	sql "$1" -c "SELECT md5(string_agg(format('%s|%s|%s|%s', id, small, any_dim, big), ';' ORDER BY id)) FROM items"
}
binary_md5() {
	pgc_psql dump -d "$1" -c "COPY (SELECT * FROM items ORDER BY id) TO STDOUT (FORMAT binary)" | md5sum | cut -d' ' -f1
}
typmods() {
	sql "$1" -c "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
				 FROM pg_attribute WHERE attrelid = 'items'::regclass AND attnum > 0"
}
SRC_FP=$(fingerprint src)
SRC_BIN=$(binary_md5 src)
SRC_TYPES=$(typmods src)

pg_dump -h 127.0.0.1 -p "$PORT" -U postgres -d src -f "$WORK/src.sql"
check "pg_dump (plain) succeeds" test -s "$WORK/src.sql"
pg_dump -h 127.0.0.1 -p "$PORT" -U postgres -d src -Fc -f "$WORK/src.dump"
check "pg_dump (custom) succeeds" test -s "$WORK/src.dump"

pgc_psql dump -d plain_copy -v ON_ERROR_STOP=1 -f "$WORK/src.sql" >"$WORK/restore_plain.log" 2>&1
check "plain dump restores without error" test $? -eq 0
pg_restore -h 127.0.0.1 -p "$PORT" -U postgres -d custom_copy --exit-on-error "$WORK/src.dump" \
	>"$WORK/restore_custom.log" 2>&1
check "custom dump restores without error" test $? -eq 0

for db in plain_copy custom_copy; do
	check "$db: every value equal (text)" same "$(fingerprint $db)" "$SRC_FP"
	check "$db: binary COPY byte-identical" same "$(binary_md5 $db)" "$SRC_BIN"
	check "$db: column types keep their typmods" same "$(typmods $db)" "$SRC_TYPES"
	check "$db: typmod still enforced" same \
		"$(sql $db -c "INSERT INTO items (id, small) VALUES (9999, '[1,2]')" 2>&1 | grep -o 'expected 3 dimensions, not 2')" \
		"expected 3 dimensions, not 2"
	check "$db: btree index answers" same \
		"$(sql $db -c "SET enable_seqscan = off" -c "SELECT id FROM items WHERE small = '[1,2,3]'")" "1"
	check "$db: hash index answers" same \
		"$(sql $db -c "SET enable_seqscan = off" -c "SELECT id FROM items WHERE any_dim = '[1]'")" "1"
done

# binary COPY out of one database into another (what drivers and pgvector's
# own binary form use)
sql plain_copy -c "TRUNCATE items"
pgc_psql dump -d src -c "COPY items TO STDOUT (FORMAT binary)" >"$WORK/items.bin"
pgc_psql dump -d plain_copy -c "COPY items FROM STDIN (FORMAT binary)" <"$WORK/items.bin"
check "binary COPY round trip keeps every value" same "$(fingerprint plain_copy)" "$SRC_FP"

pgc_stop dump
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
