#!/usr/bin/env bash
# repl_reader.sh - the reader side of replication on a file:// bucket, with
# segments made by hand (test/unit/make_segment.c) so that it does not
# depend on the writer side: one reader node (test/lib/cluster_nodes.sh),
# stopped by PID at the end.
#
# Cases: subscribe errors (nothing published, malformed schema.json, a
# table that does not match); the mirror (primary key, brainy_hnsw index
# used by ORDER BY <->, guard trigger); rows from two writers; last writer
# wins by HLC, ties by writer id, in both arrival orders; a delete's
# tombstone keeps a late older insert out; several versions of a key in one
# segment; damaged, truncated, unknown-version, misplaced and
# wrong-dimension segments stop the stream with the error in
# brainy.subscriptions and brainy.health() (degraded), nothing of them
# applied, and the stream resumes when the object is replaced; user writes
# refused; wait_for (done, timeout, woken by a new segment); consistency
# strong (sees a segment written just before the query, with a 60 s poll
# interval) and bounded (errors when stale); the replication worker killed
# with SIGKILL while applying 20,000 rows of 784 dimensions: every row exactly
# once after the restart; schema.json replaced by one that does not match
# the mirror (every stream stops, resumes when it matches again);
# unsubscribe.
#
# Prints "N passed, N failed" at the end.
set -uo pipefail

ROOT=${BRAINY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$ROOT/test/lib/suite.sh"

MKSEG=$ROOT/test/unit/bin/make_segment
if ! make -s -C "$ROOT" test/unit/bin/make_segment >/dev/null 2>&1 || [ ! -x "$MKSEG" ]; then
	fail "make_segment builds"; summary; exit 1
fi

ulimit -c unlimited 2>/dev/null	# a crashed worker leaves a core in its data directory
. "$ROOT/test/lib/pgcluster.sh"
. "$ROOT/test/lib/cluster_nodes.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/brainy-replreader.XXXXXX") || exit 1
chmod 755 "$WORK"
pgc_on_exit() { rm -rf "$WORK"; }
trap pgc_stop_all EXIT
BUCKET=$WORK/bucket
mkdir -p "$BUCKET"
[ "$(id -u)" = 0 ] && chown "$PGC_OSUSER" "$BUCKET"
URL=file://$BUCKET
cd / || exit 1

# objects into the bucket (owned by the servers' user)
own() { [ "$(id -u)" = 0 ] && chown -R "$PGC_OSUSER" "$BUCKET"; return 0; }
put_raw() { "$MKSEG" --store "$URL" --raw "$1" && own; }		# put_raw KEY < data
seg() { "$MKSEG" --store "$URL" "$@" >/dev/null && own; }		# seg [opts] < description
hdr() { printf 'collection %s\nwriter %s\nseq %s\ndimensions %s\n' "$1" "$2" "$3" "${4:-3}"; }
sql() { cn_sql r1 "$1"; }
applied() { sql "SELECT applied_seq FROM brainy.subscription_writer WHERE collection = '$1' AND writer_id = '$2'"; }
wait_applied() { cn_wait "${4:-10}" bash -c "[ \"\$(psql -X -h 127.0.0.1 -p $PGC_r1_PORT -U postgres -d postgres -Atc \"SELECT applied_seq FROM brainy.subscription_writer WHERE collection = '$1' AND writer_id = '$2'\")\" = $3 ]"; }
state_of() { sql "SELECT state FROM brainy.subscriptions WHERE collection = '$1' AND writer_id = '$2'"; }
T0=$(($(date +%s%3N) - 60000))		# a base for hand-made HLC versions (ms)

if ! cn_start r1 "$URL" "brainy.role = 'reader'" "brainy.instance_id = 'reader-1'" \
		"brainy.poll_interval = '200ms'"; then
	fail "reader r1 starts"; summary; exit 1
fi
check "r1 becomes healthy" cn_wait 10 bash -c "[ \"\$(psql -X -h 127.0.0.1 -p $PGC_r1_PORT -U postgres -d postgres -Atc \"SELECT brainy.health()->>'status'\")\" = healthy ]"
sql "SELECT brainy.set_config('{\"dimensions\": 3, \"distanceMetric\": \"l2\"}')" >/dev/null

# --- 1. subscribe: errors, then the mirror ------------------------------------

out=$(sql "SELECT brainy.subscribe('items')")
check "nothing published: a clear error ($out)" contains "$out" 'collection "items" is not published: the bucket has no _brainy/collections/items/schema.json'
echo '{"formatVersion": 1, "collection": "items", "primaryKey": "id"' | put_raw _brainy/collections/items/schema.json
out=$(sql "SELECT brainy.subscribe('items')")
check "malformed schema.json: a clear error ($out)" contains "$out" 'schema.json is not a valid schema'
echo '{"formatVersion": 1, "collection": "other", "primaryKey": "id", "vectorColumn": "embedding", "dimensions": 3, "distanceMetric": "l2", "columns": [{"name": "id", "type": "bigint"}, {"name": "embedding", "type": "vector(3)"}]}' \
	| put_raw _brainy/collections/items/schema.json
out=$(sql "SELECT brainy.subscribe('items')")
check "schema.json of another collection: refused ($out)" contains "$out" 'it names collection "other"'
SCHEMA='{"formatVersion": 1, "collection": "items", "primaryKey": "id", "vectorColumn": "embedding", "dimensions": 3, "distanceMetric": "l2", "columns": [{"name": "id", "type": "bigint"}, {"name": "embedding", "type": "vector(3)"}, {"name": "title", "type": "text"}]}'
echo "$SCHEMA" | put_raw _brainy/collections/items/schema.json
echo '{"writerId": "w1"}' | put_raw _brainy/collections/items/writers/w1.json
echo '{"writerId": "w2"}' | put_raw _brainy/collections/items/writers/w2.json

sql "CREATE TABLE wrong (id bigint, embedding vector(3), title varchar(10))" >/dev/null
out=$(sql "SELECT brainy.subscribe('items', 'wrong')")
check "adopting a table with other columns: the mismatch is named ($out)" contains "$out" 'column 3 is "title character varying(10)" here and "title text" in its schema.json'
sql "CREATE TABLE notempty (id bigint, embedding vector(3), title text); INSERT INTO notempty VALUES (1, '[1,1,1]', 'x')" >/dev/null
out=$(sql "SELECT brainy.subscribe('items', 'notempty')")
check "adopting a table with rows: refused ($out)" contains "$out" 'table notempty is not empty'

out=$(sql "SELECT brainy.subscribe('items')")
check "subscribe creates public.items ($out)" [ "$out" = items ]
out=$(sql "SELECT brainy.subscribe('items')")
check "subscribing twice: refused ($out)" contains "$out" 'collection "items" is already followed here'
out=$(sql "SELECT string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod), ',' ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = 'items'::regclass AND a.attnum > 0")
check "the mirror has the schema's columns ($out)" [ "$out" = "id:bigint,embedding:vector(3),title:text" ]
out=$(sql "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'items'::regclass ORDER BY indisprimary DESC")
check "primary key and brainy_hnsw index with vector_l2_ops" bash -c '[[ "$1" == *"UNIQUE INDEX items_pkey ON public.items USING btree (id)"* && "$1" == *"USING brainy_hnsw (embedding vector_l2_ops)"* ]]' _ "$out"
out=$(sql "SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'items'::regclass")
check "guard triggers ($out)" [ "$out" = "brainy_mirror_guard,brainy_mirror_guard_truncate" ]
out=$(sql "SELECT string_agg(writer_id || ':' || applied_seq || ':' || state, ',' ORDER BY writer_id) FROM brainy.subscriptions")
check "both registered writers followed from seq 0 ($out)" [ "$out" = "w1:0:following,w2:0:following" ]

# --- 2. rows arrive; the index serves ORDER BY <-> --------------------------------

{ hdr items w1 1; echo "I 1 $T0:0 1,0,0 {\"title\": \"one\"}"; echo "I 2 $T0:0 0,1,0 {\"title\": \"two\"}"; echo "I 3 $T0:0 0,0,1 {\"title\": \"three\"}"; } | seg
check "w1 segment 1 applied" wait_applied items w1 1
out=$(sql "SELECT string_agg(id || ':' || embedding::text || ':' || title, ',' ORDER BY id) FROM items")
check "rows with vector and other columns ($out)" [ "$out" = "1:[1,0,0]:one,2:[0,1,0]:two,3:[0,0,1]:three" ]
out=$(pgc_psql r1 -d postgres -At -c "SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY embedding <-> '[0,0.9,0.1]' LIMIT 2" 2>&1)
check "ORDER BY embedding <-> uses the brainy_hnsw index" contains "$out" "Index Scan using items_embedding_idx"
out=$(pgc_psql r1 -d postgres -At -c "SET enable_seqscan = off; SELECT string_agg(id::text, ',') FROM (SELECT id FROM items ORDER BY embedding <-> '[0,0.9,0.1]' LIMIT 2) x" 2>&1)
check "nearest neighbours through the index ($out)" [ "$out" = "2,3" ]
{ hdr items w2 1; echo "I 4 $T0:0 1,1,0 {\"title\": \"four\"}"; } | seg
check "a second writer's segment is applied" wait_applied items w2 1
check "its row is there" [ "$(sql "SELECT title FROM items WHERE id = 4")" = four ]

# --- 3. last writer wins, ties by writer id, tombstones -------------------------

{ hdr items w1 2; echo "U 1 $((T0 + 100)):0 1,0,0 {\"title\": \"newer\"}"; } | seg
wait_applied items w1 2
{ hdr items w2 2; echo "U 1 $((T0 + 50)):0 9,9,9 {\"title\": \"older\"}"; } | seg
wait_applied items w2 2
out=$(sql "SELECT title || ' ' || embedding::text FROM items WHERE id = 1")
check "an older version arriving later is ignored ($out)" [ "$out" = "newer [1,0,0]" ]
# tie on the HLC: the greater writer id (w2) wins, whatever the arrival order
{ hdr items w2 3; echo "U 2 $((T0 + 200)):7 0,2,0 {\"title\": \"tie-w2\"}"; } | seg
wait_applied items w2 3
{ hdr items w1 3; echo "U 2 $((T0 + 200)):7 0,3,0 {\"title\": \"tie-w1\"}"; echo "U 3 $((T0 + 200)):7 0,0,3 {\"title\": \"tie-w1\"}"; } | seg
wait_applied items w1 3
{ hdr items w2 4; echo "U 3 $((T0 + 200)):7 0,0,2 {\"title\": \"tie-w2\"}"; } | seg
wait_applied items w2 4
out=$(sql "SELECT string_agg(id || ':' || title, ',' ORDER BY id) FROM items WHERE id IN (2, 3)")
check "equal HLCs: writer w2 wins in both arrival orders ($out)" [ "$out" = "2:tie-w2,3:tie-w2" ]
# a delete, then an older insert of the same key from the other writer
{ hdr items w1 4; echo "D 4 $((T0 + 300)):0"; } | seg
wait_applied items w1 4
check "the delete removed the row" [ "$(sql "SELECT count(*) FROM items WHERE id = 4")" = 0 ]
{ hdr items w2 5; echo "I 4 $((T0 + 250)):0 4,4,4 {\"title\": \"zombie\"}"; } | seg
wait_applied items w2 5
check "the tombstone keeps a late older insert out" [ "$(sql "SELECT count(*) FROM items WHERE id = 4")" = 0 ]
out=$(sql "SELECT deleted || ':' || writer_id FROM brainy.row_version WHERE collection = 'items' AND pk = '4'")
check "row_version keeps the tombstone ($out)" [ "$out" = "true:w1" ]
{ hdr items w2 6; echo "I 4 $((T0 + 400)):0 4,4,4 {\"title\": \"reborn\"}"; } | seg
wait_applied items w2 6
check "a newer insert after the delete brings the key back" [ "$(sql "SELECT title FROM items WHERE id = 4")" = reborn ]
# several versions of one key in one segment: only the newest counts
{ hdr items w1 5; echo "I 10 $((T0 + 500)):0 1,1,1 {\"title\": \"a\"}"; echo "U 10 $((T0 + 502)):0 2,2,2 {\"title\": \"c\"}"; echo "D 10 $((T0 + 501)):0"; echo "I 11 $((T0 + 500)):0 1,1,1 {\"title\": \"x\"}"; echo "D 11 $((T0 + 501)):0"; } | seg
wait_applied items w1 5
out=$(sql "SELECT coalesce(string_agg(id || ':' || title || ':' || embedding::text, ','), 'none') FROM items WHERE id IN (10, 11)")
check "within a segment the newest version of each key wins ($out)" [ "$out" = "10:c:[2,2,2]" ]

# --- 4. user writes are refused -----------------------------------------------

for stmt in "INSERT INTO items VALUES (99, '[1,1,1]', 'me')" "UPDATE items SET title = 'me' WHERE id = 1" \
		"DELETE FROM items WHERE id = 1" "TRUNCATE items"; do
	out=$(sql "$stmt")
	check "user ${stmt%% *} on the mirror: refused" contains "$out" 'table "items" is a Brainy mirror of collection "items": it is written only by replication'
done
check "nothing changed" [ "$(sql "SELECT count(*) FROM items")" = 5 ]

# --- 5. bad segments stop the stream, and it resumes ------------------------------

rows_before=$(sql "SELECT md5(string_agg(id || title || embedding::text, ',' ORDER BY id)) FROM items")
bad_case() {	# bad_case DESC EXPECTED-ERROR make_segment-options...
	local desc=$1 expect=$2; shift 2
	{ hdr items w1 6 "${BAD_DIMS:-3}"; echo "I 50 $((T0 + 600)):0 $(seq -s, 1 "${BAD_DIMS:-3}") {\"title\": \"bad\"}"; echo "U 1 $((T0 + 600)):0 $(seq -s, 5 $((4 + ${BAD_DIMS:-3}))) {\"title\": \"bad\"}"; } | seg "$@"
	cn_wait 10 bash -c "psql -X -h 127.0.0.1 -p $PGC_r1_PORT -U postgres -d postgres -Atc \"SELECT error FROM brainy.subscriptions WHERE writer_id = 'w1'\" | grep -qF '$expect'"
	local st err h
	st=$(state_of items w1)
	err=$(sql "SELECT error FROM brainy.subscriptions WHERE writer_id = 'w1'")
	check "$desc: stream stopped ($st: $err)" bash -c '[ "$1" = stopped ] && [[ "$2" == *"$3"* ]]' _ "$st" "$err" "$expect"
	h=$(sql "SELECT brainy.health()->>'status' || ' ' || (brainy.health()->'warnings')::text")
	check "$desc: health degraded with the error" bash -c '[[ "$1" == degraded* && "$1" == *"replication stopped: "* && "$1" == *"$2"* ]]' _ "$h" "$expect"
	check "$desc: nothing applied" [ "$(sql "SELECT md5(string_agg(id || title || embedding::text, ',' ORDER BY id)) FROM items") $(applied items w1)" = "$rows_before 5" ]
}
bad_case "bad checksum" "checksum" --corrupt
check "the log says it once" [ "$(grep -c 'writer "w1": stream stopped: .*checksum' "$(cn_log r1)")" = 1 ]
bad_case "truncated" "truncated" --truncate 60
bad_case "unknown format version" "unknown segment format version 7" --version 7
BAD_DIMS=4 bad_case "wrong dimensions" "it has 4 dimensions, the subscription 3"
# a segment of seq 9 stored under seq 6's key
{ hdr items w1 9; echo "I 50 $((T0 + 600)):0 5,0,0 {\"title\": \"misplaced\"}"; } | seg --key-seq 6
cn_wait 10 bash -c "psql -X -h 127.0.0.1 -p $PGC_r1_PORT -U postgres -d postgres -Atc \"SELECT error FROM brainy.subscriptions WHERE writer_id = 'w1'\" | grep -q 'header says seq 9'"
check "a segment under another seq's key: stopped" contains "$(sql "SELECT error FROM brainy.subscriptions WHERE writer_id = 'w1'")" "its header says seq 9"
out=$(sql "SELECT state FROM brainy.subscriptions WHERE writer_id = 'w2'")
check "the other writer keeps following ($out)" [ "$out" = following ]
# the correct object replaces the bad one: the stream resumes
{ hdr items w1 6; echo "I 50 $((T0 + 600)):0 5,0,0 {\"title\": \"good\"}"; } | seg
check "replaced by a good segment: applied" wait_applied items w1 6
check "state following, no error" [ "$(sql "SELECT state || coalesce(error, '') FROM brainy.subscriptions WHERE writer_id = 'w1'")" = following ]
check "health healthy again" cn_wait 5 bash -c "[ \"\$(psql -X -h 127.0.0.1 -p $PGC_r1_PORT -U postgres -d postgres -Atc \"SELECT brainy.health()->>'status'\")\" = healthy ]"
check "its row is there" [ "$(sql "SELECT title FROM items WHERE id = 50")" = good ]

# --- 6. wait_for --------------------------------------------------------------------

out=$(sql "SELECT brainy.wait_for('items:w1:6,items:w2:6')")
check "wait_for of applied seqs returns at once ($out)" [ -z "$out" ]
out=$(pgc_psql r1 -d postgres -At -c "SET brainy.wait_timeout = '300ms'" -c "SELECT brainy.wait_for('items:w1:7')" 2>&1)
check "wait_for times out clearly ($out)" contains "$out" 'brainy.wait_for() timed out after 300ms: collection "items", writer "w1": seq 7 wanted, 6 applied'
out=$(sql "SELECT brainy.wait_for('nope:w1:1')")
check "wait_for on a collection not followed ($out)" contains "$out" 'collection "nope" is not followed on this node'
( sleep 0.5; { hdr items w1 7; echo "I 51 $((T0 + 700)):0 5,1,0 {\"title\": \"waited\"}"; } | seg ) &
out=$(pgc_psql r1 -d postgres -At -c "SELECT brainy.wait_for('items:w1:7')" -c "SELECT title FROM items WHERE id = 51" 2>&1)
wait
check "wait_for returns once the segment is applied, and the row is visible ($out)" bash -c '[[ "$1" == *waited* ]]' _ "$out"

# --- 7. consistency -------------------------------------------------------------------

pgc_psql r1 -d postgres -Atq -c "ALTER SYSTEM SET brainy.poll_interval = '60s'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1.5	# one last 200 ms poll, then the next is a minute away
{ hdr items w2 7; echo "I 60 now 6,0,0 {\"title\": \"strong\"}"; } | seg
sleep 0.3
out=$(sql "SELECT count(*) FROM items WHERE id = 60")
check "eventual: the new segment is not applied yet (next poll in 60 s) ($out)" [ "$out" = 0 ]
t0=$(date +%s%N)
out=$(pgc_psql r1 -d postgres -At -c "SET brainy.consistency = strong" -c "SELECT title FROM items WHERE id = 60" 2>&1)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "strong: sees the segment written just before the query ($out, ${ms} ms)" [ "$out" = strong ]
sleep 1
out=$(pgc_psql r1 -d postgres -At -c "SET brainy.consistency = bounded" -c "SET brainy.max_staleness = '100ms'" -c "SET brainy.wait_timeout = '300ms'" -c "SELECT count(*) FROM items" 2>&1)
check "bounded: a stale mirror is an error naming the staleness ($out)" bash -c '[[ "$1" == *"brainy.consistency = bounded: the mirror of collection \"items\" is not within brainy.max_staleness (100 ms)"* && "$1" == *" s stale"* ]]' _ "$out"
out=$(pgc_psql r1 -d postgres -At -c "SET brainy.consistency = bounded" -c "SET brainy.max_staleness = '1min'" -c "SELECT count(*) FROM items" 2>&1)
check "bounded: within max_staleness answers ($out)" [ "$out" = 8 ]
out=$(pgc_psql r1 -d postgres -At -c "SET brainy.consistency = strong" -c "SELECT count(*) FROM notempty" 2>&1)
check "strong on a table that is not a mirror: no wait ($out)" [ "$out" = 1 ]
pgc_psql r1 -d postgres -Atq -c "ALTER SYSTEM SET brainy.poll_interval = '200ms'" -c "SELECT pg_reload_conf()" >/dev/null
sql "SELECT brainy._wake_worker(false)" >/dev/null

# --- 8. SIGKILL while applying a big segment -------------------------------------------

echo '{"formatVersion": 1, "collection": "big", "primaryKey": "id", "vectorColumn": "embedding", "dimensions": 784, "distanceMetric": "l2", "columns": [{"name": "id", "type": "bigint"}, {"name": "embedding", "type": "vector(784)"}, {"name": "n", "type": "integer"}]}' \
	| put_raw _brainy/collections/big/schema.json
echo '{"writerId": "w1"}' | put_raw _brainy/collections/big/writers/w1.json
out=$(sql "SELECT brainy.subscribe('big')")
check "subscribe a 784-dimension collection ($out)" [ "$out" = big ]
repl_pid=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'brainy replication worker'")
{ hdr big w1 1 784; echo "random 20000 1 42"; } | seg
# kill it while the segment is being applied: its rows are not there yet
killed=no
for i in $(seq 1 100); do
	if grep -q 'brainy: applied _brainy/log/big/w1/00000000000000000001.seg' "$(cn_log r1)"; then break; fi
	if [ -n "$repl_pid" ] && [ "$(sql "SELECT count(*) FROM big")" = 0 ] && \
		[ "$(sql "SELECT wait_event IS NULL OR wait_event <> 'Extension' FROM pg_stat_activity WHERE pid = $repl_pid")" = t ]; then
		kill -9 "$repl_pid" && killed=yes
		break
	fi
	sleep 0.05
done
echo "# SIGKILL sent to the replication worker ($repl_pid) while busy: $killed"
check "the worker was killed while applying (no commit of segment 1 yet)" [ "$killed" = yes ]
log_before_kill=$(sed -n '/terminated by signal 9/q;p' "$(cn_log r1)")
check "segment 1 was not applied before the kill" bash -c "! grep -q 'applied _brainy/log/big/w1/00000000000000000001.seg' <<<\"\$1\"" _ "$log_before_kill"
check "after the crash restart, segment 1 is applied" wait_applied big w1 1 120
out=$(sql "SELECT count(*) || ':' || count(DISTINCT id) || ':' || min(id) || ':' || max(id) || ':' || sum(n) FROM big")
check "every row exactly once ($out)" [ "$out" = "20000:20000:1:20000:200010000" ]
check "row versions: 20000" [ "$(sql "SELECT count(*) FROM brainy.row_version WHERE collection = 'big'")" = 20000 ]
{ hdr big w1 2 784; echo "random 100 20001 43"; } | seg
check "the next segment follows (applied seq 2)" wait_applied big w1 2 30
check "20100 rows" [ "$(sql "SELECT count(*) FROM big")" = 20100 ]
out=$(sql "SELECT lag_ms IS NOT NULL AND rows_per_second IS NOT NULL AND head_seq = 2 FROM brainy.subscriptions WHERE collection = 'big'")
check "brainy.subscriptions shows head seq, lag and rows/s ($out)" [ "$out" = t ]
out=$(sql "SELECT (brainy.health()->'metrics'->>'replicationLagMs') IS NOT NULL")
check "health has replicationLagMs ($out)" [ "$out" = t ]

# --- 8b. schema.json replaced by one that does not match the mirror: both writers
# stop (re-read when the worker lists writers; a forced poll lists at once),
# nothing is applied, and they resume when the right schema is back
rows_before=$(sql "SELECT md5(string_agg(id || title || embedding::text, ',' ORDER BY id)) FROM items")
echo "$SCHEMA" | sed 's/"type": "text"/"type": "character varying(20)"/' | put_raw _brainy/collections/items/schema.json
sql "SELECT brainy._wake_worker(false)" >/dev/null
cn_wait 10 bash -c "psql -X -h 127.0.0.1 -p $PGC_r1_PORT -U postgres -d postgres -Atc \"SELECT error FROM brainy.subscriptions WHERE writer_id = 'w1'\" | grep -q 'no longer matches the mirror table'"
# a segment written while stopped waits
next=$(( $(applied items w1) + 1 ))
{ hdr items w1 "$next"; echo "I 51 $((T0 + 900)):0 6,0,0 {\"title\": \"after schema change\"}"; } | seg
sleep 1
out=$(sql "SELECT string_agg(writer_id || ':' || state, ',' ORDER BY writer_id) FROM brainy.subscriptions WHERE collection = 'items'")
check "schema.json changed: every writer's stream stopped ($out)" [ "$out" = "w1:stopped,w2:stopped" ]
out=$(sql "SELECT error FROM brainy.subscriptions WHERE writer_id = 'w1'")
check "the reason names the difference ($out)" contains "$out" "no longer matches the mirror table"
h=$(sql "SELECT brainy.health()->>'status'")
check "schema.json changed: health degraded ($h)" [ "$h" = degraded ]
check "schema.json changed: nothing applied" [ "$(sql "SELECT md5(string_agg(id || title || embedding::text, ',' ORDER BY id)) FROM items") $(applied items w1)" = "$rows_before $((next - 1))" ]
echo "$SCHEMA" | put_raw _brainy/collections/items/schema.json
sleep 1.2
sql "SELECT brainy._wake_worker(false)" >/dev/null
check "the right schema.json back: the stream resumes" wait_applied items w1 "$next"
check "its row is there" [ "$(sql "SELECT title FROM items WHERE id = 51")" = "after schema change" ]

# --- 9. unsubscribe -------------------------------------------------------------------

out=$(sql "SELECT brainy.unsubscribe('items')")
check "unsubscribe" [ -z "$out" ]
check "the table stays, writable again" [ "$(sql "INSERT INTO items VALUES (1000, '[1,1,1]', 'mine') RETURNING id")" = 1000 ]
check "its catalog rows are gone" [ "$(sql "SELECT count(*) FROM brainy.subscription_writer WHERE collection = 'items'")" = 0 ]
check "brainy.subscriptions lists only big" [ "$(sql "SELECT string_agg(DISTINCT collection, ',') FROM brainy.subscriptions")" = big ]
out=$(sql "SELECT brainy.unsubscribe('items')")
check "unsubscribing twice: a clear error" contains "$out" 'collection "items" is not followed on this node'

check "no crash in the server log" bash -c "! grep -E 'PANIC|terminated by signal (11|6)' '$(cn_log r1)'"
summary
[ "$FAILED" -eq 0 ]
