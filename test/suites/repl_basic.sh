#!/usr/bin/env bash
# repl_basic.sh - replication through a file:// bucket (docs/replication.md):
# one writer and one reader (test/lib/repl.sh: poll and flush every 200 ms),
# all stopped by PID at the end.
#
# Cases: publishing a table that already holds 5,000 rows while a client
# keeps inserting (backfill + capture: every row arrives, contents equal);
# the reader's mirror has a brainy_hnsw index that ORDER BY embedding <-> q
# uses and that returns the writer's exact top 5; inserts, updates of the
# vector, of the other columns and to NULL, deletes and a multi-row
# statement replicate (contents compared by digest, not counts); user
# writes to the mirror fail clearly and change nothing; publish refuses a
# table without primary key, with two vector columns, with dimensions that
# differ from config.json, and TRUNCATE of a published table; unpublish
# stops the capture (no new segment, nothing reaches the reader); health
# shows outboxPending on the writer and replicationLagMs on the reader.
#
# Prints "N passed, N failed" at the end.
set -uo pipefail

ROOT=${BRAINY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$ROOT/test/lib/suite.sh"
first() { echo "${1%%$'\n'*}"; }	# the first line of an error message
is_number() { [[ "$1" =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/brainy-replbasic.XXXXXX") || exit 1
chmod 755 "$WORK"
REPL_DIR=$WORK
. "$ROOT/test/lib/pgcluster.sh"
. "$ROOT/test/lib/cluster_nodes.sh"
. "$ROOT/test/lib/repl.sh"
pgc_on_exit() { repl_cleanup; rm -rf "$WORK"; }
trap pgc_stop_all EXIT
cd / || exit 1

DIM=32
BUCKET=$(repl_bucket_dir)
URL=file://$BUCKET

if ! repl_node w1 writer "$URL" || ! repl_node r1 reader "$URL"; then
	fail "writer and reader start"; summary; exit 1
fi
healthy() { [ "$(cn_health "$1" status)" = healthy ]; }
check "writer healthy" cn_wait 15 healthy w1
check "reader healthy" cn_wait 15 healthy r1
repl_vec_fn w1
repl_vec_fn r1

# --- 1. publish a table with 5,000 rows while a client keeps inserting -----------

repl_items w1 $DIM
repl_sql w1 "INSERT INTO items SELECT g, tvec(g, $DIM), 'pre ' || g FROM generate_series(1, 5000) g" >/dev/null
# the live client: 20 rows per transaction from id 100001 on, until told to stop
live_client() {
	local next=100001
	while [ ! -e "$WORK/stop-live" ]; do
		if pgc_psql w1 -d postgres -c "INSERT INTO items SELECT g, tvec(g, $DIM), 'live ' || g
				FROM generate_series($next, $((next + 19))) g" >/dev/null 2>>"$WORK/live.err"; then
			next=$((next + 20))
			echo $((next - 1)) >"$WORK/live.last"
		fi
	done
}
repl_bg live_client
sleep 0.5
out=$(repl_sql w1 "SELECT brainy.publish('items')")
check "publish('items') on a table of 5,000 rows returns the collection name ($out)" [ "$out" = items ]
sleep 2
touch "$WORK/stop-live"
wait "${REPL_BG_PIDS[@]}" 2>/dev/null
REPL_BG_PIDS=()
live_last=$(cat "$WORK/live.last" 2>/dev/null || echo 100000)
live_rows=$((live_last - 100000))
echo "# the live client committed $live_rows rows during the publish"
[ "$live_rows" -gt 0 ]; check_rc "the client kept inserting during the publish ($live_rows rows)" $?
out=$(repl_sql w1 "SELECT count(*) FROM items")
check "writer: 5,000 + $live_rows rows" [ "$out" = $((5000 + live_rows)) ]
out=$(repl_sql w1 "SELECT collection || ':' || table_name FROM brainy.publications")
check "brainy.publications lists the collection ($out)" [ "$out" = "items:items" ]
out=$(repl_sql w1 "SELECT key FROM brainy.storage_list('_brainy/collections/items/') ORDER BY key")
check "schema.json and the writer's registration are in the bucket" \
	bash -c '[[ "$1" == *"_brainy/collections/items/schema.json"* && "$1" == *"_brainy/collections/items/writers/w1.json"* ]]' _ "$out"

out=$(repl_sql r1 "SELECT brainy.subscribe('items')")
check "subscribe('items') on the reader ($out)" [ "$out" = items ]
out=$(repl_sync w1 r1)
check_rc "flush on the writer, wait_for on the reader${out:+: $out}" $?
dw=$(repl_digest w1 items); dr=$(repl_digest r1 items)
check "backfill + live inserts: reader's contents equal the writer's ($dr)" same "$dr" "$dw"
out=$(repl_sql r1 "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'items'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum")
check "mirror columns from schema.json" same "$(echo $out)" "bigint vector($DIM) text"
out=$(repl_sql r1 "SELECT collection || ':' || writer_id || ':' || (applied_seq > 0) FROM brainy.subscriptions")
check "brainy.subscriptions: one writer, segments applied ($out)" [ "$out" = "items:w1:true" ]
nseg=$(repl_sql w1 "SELECT count(*) FROM brainy.storage_list('_brainy/log/items/w1/')")
pseq=$(repl_sql w1 "SELECT published_seq FROM brainy.publications")
check "segments in the bucket numbered 1..$pseq without gaps ($nseg objects)" [ "$nseg" = "$pseq" ]
out=$(repl_sql w1 "SELECT string_agg(key, ',' ORDER BY key) FROM brainy.storage_list('_brainy/log/items/w1/') LIMIT 1")
check "segment keys are <seq:020>.seg" contains "$out" "_brainy/log/items/w1/00000000000000000001.seg"

# --- 2. nearest neighbours on the reader ------------------------------------------

idx=$(repl_sql r1 "SELECT indexrelid::regclass FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
	JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = 'items'::regclass AND a.amname = 'brainy_hnsw'")
check "the mirror has a brainy_hnsw index ($idx)" [ -n "$idx" ]
plan=$(repl_sql r1 "EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY embedding <-> tvec(424242, $DIM) LIMIT 5")
check "ORDER BY embedding <-> q LIMIT 5 uses it" contains "$plan" "Index Scan using $idx"
knn_ok=0
for q in 11 222 3333 44444 555555; do
	exact=$(repl_sql w1 "SET enable_indexscan = off; SELECT string_agg(id::text, ',') FROM
		(SELECT id FROM items ORDER BY embedding <-> tvec($q * 7, $DIM), id LIMIT 5) s")
	got=$(repl_sql r1 "SET brainy.ef_search = 200; SELECT string_agg(id::text, ',') FROM
		(SELECT id FROM items ORDER BY embedding <-> tvec($q * 7, $DIM) LIMIT 5) s")
	exact=${exact##*$'\n'}; got=${got##*$'\n'}
	if [ -n "$exact" ] && [ "$exact" = "$got" ]; then knn_ok=$((knn_ok + 1)); else echo "# query $q: writer exact $exact, reader $got"; fi
done
check "reader's index top 5 = writer's exact top 5 for 5 queries ($knn_ok/5)" [ $knn_ok = 5 ]

# the apply appends to the mirror index's pending list (fastupdate); the
# worker links the rows into the graph between polls
fu=$(repl_sql r1 "SELECT array_to_string(reloptions, ',') FROM pg_class WHERE oid = '$idx'::regclass")
check "the mirror index has fastupdate on ($fu)" contains "$fu" "fastupdate=on"
linked=no
for i in $(seq 1 600); do
	[ "$(repl_sql r1 "SELECT max(unlinked_rows) FROM brainy.subscriptions WHERE collection = 'items'")" = 0 ] && { linked=yes; break; }
	sleep 0.1
done
check "the worker links every applied row (brainy.subscriptions.unlinked_rows reaches 0)" [ "$linked" = yes ]
out=$(repl_sql r1 "SELECT (j->>'ok') || ' ' || (j->>'pending') || ' ' ||
	((j->>'n_live')::bigint >= (SELECT count(*) FROM items WHERE embedding IS NOT NULL)) FROM brainy_hnsw_check('$idx') j")
check "then the graph holds every row, nothing pending ($out)" [ "$out" = "true 0 true" ]

# --- 3. inserts, updates, deletes -------------------------------------------------

repl_sql w1 "INSERT INTO items SELECT g, tvec(g, $DIM), 'new ' || g FROM generate_series(200001, 200500) g" >/dev/null
repl_sql w1 "UPDATE items SET embedding = tvec(id + 7000000, $DIM) WHERE id BETWEEN 1 AND 100" >/dev/null
repl_sql w1 "UPDATE items SET title = 'retitled ' || id WHERE id BETWEEN 101 AND 200" >/dev/null
repl_sql w1 "UPDATE items SET title = NULL WHERE id BETWEEN 201 AND 210" >/dev/null
repl_sql w1 "UPDATE items SET embedding = tvec(id + 8000000, $DIM), title = 'both' WHERE id BETWEEN 211 AND 220" >/dev/null
repl_sql w1 "DELETE FROM items WHERE id BETWEEN 301 AND 400 OR id BETWEEN 200401 AND 200500" >/dev/null
# one id inserted, updated and deleted, another deleted and re-inserted, in separate commits
repl_sql w1 "INSERT INTO items VALUES (300001, tvec(1, $DIM), 'short-lived')" >/dev/null
repl_sql w1 "UPDATE items SET title = 'changed' WHERE id = 300001" >/dev/null
repl_sql w1 "DELETE FROM items WHERE id = 300001" >/dev/null
repl_sql w1 "DELETE FROM items WHERE id = 500" >/dev/null
repl_sql w1 "INSERT INTO items VALUES (500, tvec(99, $DIM), 'reborn')" >/dev/null
# a primary key change is a delete of the old key and an insert of the new one
repl_sql w1 "UPDATE items SET id = 600000 WHERE id = 600" >/dev/null
# several changes to one row inside one transaction: the last one counts
repl_sql w1 "BEGIN; UPDATE items SET title = 'a' WHERE id = 700; UPDATE items SET title = 'b' WHERE id = 700; COMMIT" >/dev/null
out=$(repl_sync w1 r1)
check_rc "sync after the changes${out:+: $out}" $?
dw=$(repl_digest w1 items); dr=$(repl_digest r1 items)
check "inserts, updates (vector, title, NULL, both, key), deletes: contents equal ($dr)" same "$dr" "$dw"
out=$(repl_sql r1 "SELECT count(*) FROM items WHERE id BETWEEN 1 AND 100 AND embedding = tvec(id + 7000000, $DIM)")
check "updated vectors arrived (100)" [ "$out" = 100 ]
out=$(repl_sql r1 "SELECT count(*) FILTER (WHERE title IS NULL) || ':' || count(*) FILTER (WHERE id BETWEEN 301 AND 400) || ':' || (SELECT title FROM items WHERE id = 500) || ':' || (SELECT count(*) FROM items WHERE id IN (300001, 600)) || ':' || (SELECT title FROM items WHERE id = 700) FROM items")
check "NULL titles, deleted ids, a re-inserted id, a moved key, the last of two updates ($out)" [ "$out" = "10:0:reborn:0:b" ]
out=$(repl_sql r1 "SELECT count(*) FROM brainy.row_version WHERE collection = 'items' AND deleted AND pk::bigint BETWEEN 301 AND 400")
check "the reader keeps tombstones of deleted rows ($out)" [ "$out" = 100 ]

# --- 4. the mirror refuses user writes ---------------------------------------------

before=$(repl_digest r1 items)
for stmt in "INSERT INTO items VALUES (900001, tvec(5, $DIM), 'x')" \
		"UPDATE items SET title = 'x' WHERE id = 1" \
		"DELETE FROM items WHERE id = 2" \
		"TRUNCATE items"; do
	out=$(repl_sql r1 "$stmt")
	# (docs/replication.md: the error names the collection)
	if [[ "$out" == *ERROR* ]] && [[ "$out" == *items* ]] && [[ "$out" != *"does not exist"* ]]; then
		ok "mirror refuses '${stmt%% *}' with a clear error: ${out%%$'\n'*}"
	else
		fail "mirror refuses '${stmt%% *}' with a clear error: $out"
	fi
done
after=$(repl_digest r1 items)
[[ "$before" != *ERROR* ]] && same "$after" "$before"; check_rc "the refused writes changed nothing ($after)" $?

# --- 5. publish errors -----------------------------------------------------------

repl_sql w1 "CREATE TABLE nopk (id bigint, embedding vector($DIM));
	CREATE TABLE twovec (id bigint PRIMARY KEY, a vector($DIM), b vector($DIM));
	CREATE TABLE wrongdim (id bigint PRIMARY KEY, embedding vector($((DIM + 1))));
	CREATE TABLE novec (id bigint PRIMARY KEY, title text)" >/dev/null
out=$(repl_sql w1 "SELECT brainy.publish('nopk')")
check "publish: a table without primary key is refused ($(first "$out"))" contains "$out" "has no primary key"
out=$(repl_sql w1 "SELECT brainy.publish('twovec')")
check "publish: two vector columns are refused ($(first "$out"))" contains "$out" "vector columns"
out=$(repl_sql w1 "SELECT brainy.publish('wrongdim')")
check "publish: dimensions other than config.json's are refused ($(first "$out"))" contains "$out" "config.json says dimensions = $DIM"
out=$(repl_sql w1 "SELECT brainy.publish('novec')")
check "publish: a table without vector column is refused ($(first "$out"))" contains "$out" "no vector column"
out=$(repl_sql w1 "SELECT brainy.publish('items', 'Bad-Name')")
check "publish: an invalid collection name is refused ($(first "$out"))" contains "$out" "invalid collection name"
out=$(repl_sql w1 "SELECT brainy.publish('items')")
check "publish: the same table twice is refused ($(first "$out"))" contains "$out" "already published"
out=$(repl_sql w1 "TRUNCATE items")
check "TRUNCATE of a published table is refused ($(first "$out"))" contains "$out" "cannot truncate"
out=$(repl_sql r1 "SELECT brainy.publish('items')")
check "publish on a reader is refused ($(first "$out"))" contains "$out" "this node is a reader"
out=$(repl_sql w1 "SELECT brainy.subscribe('items')")
check "subscribe on a writer is refused ($(first "$out"))" contains "$out" "this node is a writer"
out=$(repl_sql r1 "SELECT brainy.subscribe('no_such_collection')")
[[ "$out" == *ERROR*no_such_collection* ]]; check_rc "subscribe to an unknown collection is refused, naming it ($(first "$out"))" $?
out=$(repl_sql r1 "SELECT brainy.wait_for('garbage')")
[[ "$out" == *ERROR*garbage* && "$out" != *"does not exist"* ]]; check_rc "wait_for with a malformed token is refused ($(first "$out"))" $?

# --- 6. health ----------------------------------------------------------------------

out=$(repl_sql w1 "SELECT brainy.health()->'metrics'->>'outboxPending'")
check "writer health: outboxPending is a number ($out)" is_number "$out"
# a burst of 20,000 rows in one statement, with the flush held back (a large
# batch, a long interval): the outbox holds every row until brainy.flush()
repl_sql w1 "ALTER SYSTEM SET brainy.batch_size = 100000" >/dev/null
repl_sql w1 "ALTER SYSTEM SET brainy.flush_interval = '1h'" >/dev/null
repl_sql w1 "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
repl_sql w1 "INSERT INTO items SELECT g, tvec(g, $DIM), 'burst' FROM generate_series(400001, 420000) g" >/dev/null
pending=0
for i in $(seq 1 100); do
	pending=$(repl_sql w1 "SELECT (brainy.health()->'metrics'->>'outboxPending')::bigint")
	is_number "$pending" && [ "$pending" -ge 20000 ] && break
	sleep 0.1
done
check "writer health: outboxPending >= 20000 after a 20,000-row insert, flush held ($pending)" [ "${pending:-0}" -ge 20000 ]
repl_sql w1 "ALTER SYSTEM RESET brainy.batch_size" >/dev/null
repl_sql w1 "ALTER SYSTEM RESET brainy.flush_interval" >/dev/null
repl_sql w1 "SELECT pg_reload_conf()" >/dev/null
repl_sync w1 r1 >/dev/null
out=$(repl_sql w1 "SELECT (brainy.health()->'metrics'->>'outboxPending')::bigint")
check "writer health: outboxPending 0 after flush ($out)" [ "$out" = 0 ]
out=$(repl_sql r1 "SELECT brainy.health()->'metrics'->>'replicationLagMs'")
check "reader health: replicationLagMs is a number ($out)" is_number "$out"
out=$(repl_sql r1 "SELECT brainy.health()->>'status'")
check "reader healthy after the burst ($out)" [ "$out" = healthy ]
dw=$(repl_digest w1 items); dr=$(repl_digest r1 items)
check "after the burst: contents equal ($dr)" same "$dr" "$dw"

# --- 7. unpublish ------------------------------------------------------------------

out=$(repl_sql w1 "SELECT brainy.unpublish('items')")
check "unpublish('items')${out:+: $out}" [ -z "$out" ]
segs_before=$(repl_sql w1 "SELECT count(*) FROM brainy.storage_list('_brainy/log/items/w1/')")
repl_sql w1 "INSERT INTO items VALUES (990001, tvec(3, $DIM), 'after unpublish')" >/dev/null
repl_sql w1 "UPDATE items SET title = 'after unpublish' WHERE id = 1" >/dev/null
out=$(repl_sql w1 "SELECT count(*) FROM brainy.outbox")
check "after unpublish nothing is captured ($out rows in the outbox)" [ "$out" = 0 ]
out=$(repl_sql w1 "SELECT count(*) FROM brainy.publications")
check "brainy.publications is empty ($out)" [ "$out" = 0 ]
out=$(repl_sql w1 "SELECT brainy.flush('items')")
check "flush of an unpublished collection is an error ($(first "$out"))" contains "$out" "not published"
sleep 1.5
segs_after=$(repl_sql w1 "SELECT count(*) FROM brainy.storage_list('_brainy/log/items/w1/')")
check "no new segment after unpublish ($segs_before -> $segs_after)" [ "$segs_after" = "$segs_before" ]
out=$(repl_sql r1 "SELECT count(*) FROM items WHERE id = 990001 OR title = 'after unpublish'")
check "the reader did not get the changes made after unpublish ($out)" [ "$out" = 0 ]
out=$(repl_sql w1 "TRUNCATE nopk")
check "TRUNCATE of another table still works ($out)" [ -z "$out" ]

for n in w1 r1; do
	if grep -E "terminated by signal|PANIC:" "$(cn_log $n)" >/dev/null; then
		fail "$n: no crashed process"; grep -E "terminated by signal|PANIC:" "$(cn_log $n)" | head -3
	else
		ok "$n: no crashed process"
	fi
done
summary
[ "$FAILED" -eq 0 ]
