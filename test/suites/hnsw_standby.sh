#!/usr/bin/env bash
# hnsw_standby.sh - brainy_hnsw indexes replicate to a hot standby.
#
# Starts a primary, takes a base backup of it (pg_basebackup, streaming
# replication over 127.0.0.1) and starts that as a hot standby.  Then, on
# the primary only: a table, one brainy_hnsw index per operator class with
# different options (the build's full-page WAL), inserts (GenericXLog
# records), deletes + VACUUM (repair records).  t_l2 has fastupdate on:
# its inserts go to the pending list (and VACUUM links them), so the
# standby also answers with rows pending.  Once the standby has
# replayed the primary's WAL position, on the standby: the plan uses each
# index, every query returns the same rows in the same order as on the
# primary (the graph is a physical copy, so even approximate answers must
# be identical), and brainy_hnsw_check reports the very same graph.  The
# same again after more changes (and a REINDEX CONCURRENTLY) with the
# standby up, and after the standby is killed (immediate stop) and restarted
# while the primary kept changing.
set -uo pipefail

ROOT=${BRAINY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$ROOT/test/lib/pgcluster.sh"

. "$ROOT/test/lib/check.sh"

cd / || exit 1
if ! pgc_start prim "autovacuum = off" "wal_level = replica" "max_wal_senders = 4" \
		"wal_keep_size = '256MB'"; then
	echo "0 passed, 1 failed"
	exit 1
fi
if ! pgc_start_standby stby prim; then
	echo "0 passed, 1 failed"
	exit 1
fi
prim() { pgc_psql prim -d postgres -At "$@"; }
stby() { pgc_psql stby -d postgres -At "$@"; }

check "the standby is in recovery" same "$(stby -c "SELECT pg_is_in_recovery()")" t

# wait_replay: true once the standby has replayed everything the primary
# has written so far (at most 60 s)
wait_replay() {
	local lsn i
	lsn=$(prim -c "SELECT pg_current_wal_lsn()")
	for i in $(seq 1 600); do
		[ "$(stby -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn" 2>/dev/null)" = t ] && return 0
		sleep 0.1
	done
	echo "  standby did not reach $lsn; it is at $(stby -c "SELECT pg_last_wal_replay_lsn()")"
	return 1
}

# index name:operator pairs, one per operator class
INDEXES="t_l2:<-> t_ip:<#> t_cos:<=> t_l1:<+>"

# answers NODE OP: the ids of the 10 nearest rows for each query, by index
answers() {
	"$1" -c "SET enable_seqscan = off" -c "
		SELECT string_agg(array(SELECT id FROM t ORDER BY v $2 q.q LIMIT 10)::text, ';' ORDER BY q.qid)
		FROM queries q" | tail -n 1
}
uses_index() {	# uses_index NODE INDEX OP
	"$1" -c "SET enable_seqscan = off" \
		-c "EXPLAIN (COSTS OFF) SELECT id FROM t ORDER BY v $3 (SELECT q FROM queries WHERE qid = 1) LIMIT 10" |
		grep -q "Index Scan using $2 on t"
}

# compare ROUND: the standby answers exactly as the primary does
compare() {
	local round=$1 pair idx op pa sa pc sc
	check "$round: the standby replayed the primary's WAL" wait_replay
	check "$round: the standby has as many rows" \
		same "$(stby -c "SELECT count(*) FROM t")" "$(prim -c "SELECT count(*) FROM t")"
	for pair in $INDEXES; do
		idx=${pair%%:*}; op=${pair#*:}
		check "$round: $idx is used by the standby's plan" uses_index stby "$idx" "$op"
		pa=$(answers prim "$op")
		sa=$(answers stby "$op")
		check "$round: $idx answers 10 rows per query on the primary" \
			same "$(tr ';,' '\n\n' <<<"$pa" | grep -c '[0-9]')" 100
		check "$round: $idx gives the standby the primary's answers" same "$sa" "$pa"
		pc=$(prim -c "SELECT brainy_hnsw_check('$idx')")
		sc=$(stby -c "SELECT brainy_hnsw_check('$idx')")
		check "$round: $idx passes brainy_hnsw_check on the standby" \
			same "$(stby -c "SELECT brainy_hnsw_check('$idx')->>'ok'")" true
		check "$round: $idx: the standby's check report equals the primary's" same "$sc" "$pc"
	done
}

prim <<'SQL'
CREATE EXTENSION brainy;
CREATE FUNCTION rv() RETURNS vector LANGUAGE sql VOLATILE AS
	$$ SELECT array_agg(random() - 0.3)::vector FROM generate_series(1, 24) $$;
CREATE TABLE t (id serial PRIMARY KEY, v vector(24));
INSERT INTO t (v) SELECT rv() FROM generate_series(1, 3000);
CREATE TABLE queries AS SELECT i AS qid, rv() AS q FROM generate_series(1, 10) i;
CREATE INDEX t_l2 ON t USING brainy_hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32, fastupdate = on);
CREATE INDEX t_ip ON t USING brainy_hnsw (v vector_ip_ops);
CREATE INDEX t_cos ON t USING brainy_hnsw (v vector_cosine_ops) WITH (m = 12, ef_construction = 48);
CREATE INDEX t_l1 ON t USING brainy_hnsw (v vector_l1_ops) WITH (m = 6, ef_construction = 20);
INSERT INTO t (v) SELECT rv() FROM generate_series(1, 500);
DELETE FROM t WHERE id % 5 = 0;
VACUUM t;
SQL
compare "after build, inserts, VACUUM"

prim <<'SQL'
INSERT INTO t (v) SELECT rv() FROM generate_series(1, 800);
DELETE FROM t WHERE id % 7 = 0;
VACUUM t;
REINDEX INDEX CONCURRENTLY t_cos;
INSERT INTO t (v) SELECT rv() FROM generate_series(1, 200);
SQL
compare "after more changes with the standby up"
check "t_l2 (fastupdate) answered with rows in its pending list on both" \
	same "$(stby -c "SELECT (brainy_hnsw_check('t_l2')->>'pending')::int > 0")" t

# kill the standby, change the primary meanwhile, restart the standby: it
# replays from its last restartpoint (records it may have applied before)
SDIR=$PGC_stby_DIR
stby -c "CHECKPOINT"	# a restartpoint in the middle of the history
prim -c "INSERT INTO t (v) SELECT rv() FROM generate_series(1, 300)" -c "DELETE FROM t WHERE id % 11 = 0"
wait_replay >/dev/null
pgc_as "$PGC_BINDIR/pg_ctl" -D "$SDIR/data" -m immediate stop >/dev/null 2>&1
prim -c "INSERT INTO t (v) SELECT rv() FROM generate_series(1, 300)" -c "VACUUM t"
if pgc_as "$PGC_BINDIR/pg_ctl" -D "$SDIR/data" -l "$SDIR/server.log" -w -t 120 start >/dev/null; then
	PGC_stby_PID=$(head -n 1 "$SDIR/data/postmaster.pid")
	check "the standby restarts after an immediate stop" true
	compare "after the standby's restart"
else
	check "the standby restarts after an immediate stop" false
fi

check "no backend crashed on the primary" \
	bash -c "! grep -E 'terminated by signal|PANIC' '$PGC_prim_DIR/server.log'"
check "no process crashed on the standby" \
	bash -c "! grep -E 'terminated by signal|PANIC' '$SDIR/server.log'"

pgc_stop stby
pgc_stop prim
finish
