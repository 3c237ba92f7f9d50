#!/usr/bin/env bash
# repl_converge.sh - two writers change the same ids, two readers converge
# to the same rows (file:// bucket; test/lib/repl.sh: poll and flush every
# 200 ms), all stopped by PID at the end.
#
# Both writers publish their own table "items" as the one collection
# "items"; both readers subscribe to it.
#
# 1. A randomized sequence of 1,080 operations (insert, update of the
#    vector, of the title or of both, delete) on 200 ids, from a seed printed
#    at the start (REPL_SEED to repeat).  It runs in 60 rounds; in each round
#    both writers work at the same time, on ids the round gives to one of
#    them only, and rounds are 60 ms apart: every two writes to one id are
#    ordered in real time, more than 50 ms apart when they come from
#    different writers, so last-writer-wins by hybrid logical clock has one
#    right answer.  A model in this script follows every operation (each
#    writer's own table decides whether an UPDATE or DELETE finds its row)
#    and records, per id, the last effective write and its writer.
#    Checks: both readers have identical contents; they equal the model row
#    for row; every surviving row's version (brainy.row_version) names the
#    writer the model expects; every id whose last write was a delete is
#    absent and has a tombstone.
# 2. True conflicts: both writers upsert the same 40 ids at the same time,
#    5 times each, with no pause.  Who wins an id is up to the clocks, but
#    both readers must agree on every row and on its version (hlc, writer),
#    and each row must be the winner's own last write.
#
# Prints "N passed, N failed" at the end.
set -uo pipefail

ROOT=${BRAINY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$ROOT/test/lib/suite.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/brainy-replconv.XXXXXX") || exit 1
chmod 755 "$WORK"
REPL_DIR=$WORK
. "$ROOT/test/lib/pgcluster.sh"
. "$ROOT/test/lib/cluster_nodes.sh"
. "$ROOT/test/lib/repl.sh"
pgc_on_exit() { repl_cleanup; rm -rf "$WORK"; }
trap pgc_stop_all EXIT
cd / || exit 1

suite_seed
DIM=8
IDS=200
ROUNDS=60
PER_ROUND=9			# operations per writer per round: 60 x 2 x 9 = 1,080

BUCKET=$(repl_bucket_dir)
URL=file://$BUCKET
for n in w1 w2; do
	repl_node "$n" writer "$URL" || { fail "$n starts"; summary; exit 1; }
done
for n in r1 r2; do
	repl_node "$n" reader "$URL" || { fail "$n starts"; summary; exit 1; }
done
for n in w1 w2 r1 r2; do repl_vec_fn "$n"; done
for n in w1 w2; do
	repl_items "$n" $DIM
	out=$(repl_sql "$n" "SELECT brainy.publish('items')")
	check "$n publishes its table as collection items ($out)" [ "$out" = items ]
done
for n in r1 r2; do
	out=$(repl_sql "$n" "SELECT brainy.subscribe('items')")
	check "$n subscribes ($out)" [ "$out" = items ]
done

# --- 1. ordered conflicts, with a model -------------------------------------------

# per writer, its own table: LOC<w>[id] = "seed|title" (absent: unset);
# the collection's last effective write: LAST[id] = "seed|title|w" or "D||w"
declare -A LOC1 LOC2 LAST
declare -A OWNER
opn=0
conflicts=0			# writes whose previous write to the id came from the other writer
n_ins=0 n_upd=0 n_del=0 n_noop=0

# apply_op W ID: choose an operation for writer W on ID, update the model,
# print the SQL
apply_op() {
	local w=$1 x=$2 cur r seed title kind prev
	opn=$((opn + 1))
	if [ "$w" = 1 ]; then cur=${LOC1[$x]:-}; else cur=${LOC2[$x]:-}; fi
	seed=$((opn * 10 + w))
	title="w$w-op$opn"
	r=$((RANDOM % 100))
	if [ -z "$cur" ]; then
		if [ $r -lt 85 ]; then
			kind=insert
			echo "INSERT INTO items VALUES ($x, tvec($seed, $DIM), '$title');"
			cur="$seed|$title"
		else
			# a write that finds nothing in this writer's table: no effect
			kind=noop
			if [ $r -lt 93 ]; then
				echo "UPDATE items SET title = '$title' WHERE id = $x;"
			else
				echo "DELETE FROM items WHERE id = $x;"
			fi
		fi
	elif [ $r -lt 20 ]; then
		kind=update
		echo "UPDATE items SET embedding = tvec($seed, $DIM) WHERE id = $x;"
		cur="$seed|${cur#*|}"
	elif [ $r -lt 40 ]; then
		kind=update
		echo "UPDATE items SET title = '$title' WHERE id = $x;"
		cur="${cur%%|*}|$title"
	elif [ $r -lt 65 ]; then
		kind=update
		echo "UPDATE items SET embedding = tvec($seed, $DIM), title = '$title' WHERE id = $x;"
		cur="$seed|$title"
	else
		kind=delete
		echo "DELETE FROM items WHERE id = $x;"
		cur=""
	fi
	if [ "$w" = 1 ]; then LOC1[$x]=$cur; else LOC2[$x]=$cur; fi
	case $kind in
	(noop) n_noop=$((n_noop + 1)); return;;
	(insert) n_ins=$((n_ins + 1));;
	(update) n_upd=$((n_upd + 1));;
	(delete) n_del=$((n_del + 1));;
	esac
	prev=${LAST[$x]:-}
	[ -n "$prev" ] && [ "${prev##*|}" != "$w" ] && conflicts=$((conflicts + 1))
	if [ "$kind" = delete ]; then LAST[$x]="D||$w"; else LAST[$x]="$cur|$w"; fi
}

t0=$(date +%s%N)
for round in $(seq 1 $ROUNDS); do
	for x in $(seq 1 $IDS); do OWNER[$x]=$(( RANDOM % 2 + 1 )); done
	for w in 1 2; do
		: >"$WORK/round.$w.sql"
		for i in $(seq 1 $PER_ROUND); do
			x=$(( RANDOM % IDS + 1 ))
			while [ "${OWNER[$x]}" != "$w" ]; do x=$(( RANDOM % IDS + 1 )); done
			apply_op "$w" "$x" >>"$WORK/round.$w.sql"
		done
	done
	# both writers at once, each statement its own transaction
	pgc_psql w1 -d postgres -f "$WORK/round.1.sql" >/dev/null 2>"$WORK/round.1.err" &
	p1=$!
	pgc_psql w2 -d postgres -f "$WORK/round.2.sql" >/dev/null 2>"$WORK/round.2.err" &
	p2=$!
	wait $p1; rc1=$?
	wait $p2; rc2=$?
	if [ $rc1 != 0 ] || [ $rc2 != 0 ]; then
		echo "# round $round failed: $(cat "$WORK/round.1.err" "$WORK/round.2.err" | head -n 3)"
		fail "round $round of operations ran"
		break
	fi
	sleep 0.06
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "# $opn operations in ${ms} ms: $n_ins inserts, $n_upd updates, $n_del deletes, $n_noop that found no row; $conflicts writes overwrote the other writer's"
check "at least 1,000 operations ran ($opn)" [ "$opn" -ge 1000 ]
[ "$conflicts" -ge 100 ]; check_rc "the sequence has cross-writer conflicts ($conflicts)" $?

# each writer's own table equals its part of the model (the script's
# bookkeeping is right before the readers are judged by it)
for w in 1 2; do
	: >"$WORK/loc$w.copy"
	for x in $(seq 1 $IDS); do
		if [ "$w" = 1 ]; then v=${LOC1[$x]:-}; else v=${LOC2[$x]:-}; fi
		[ -n "$v" ] && printf '%s\t%s\t%s\n' "$x" "${v%%|*}" "${v#*|}" >>"$WORK/loc$w.copy"
	done
	repl_sql "w$w" "CREATE TABLE model_local (id bigint, seed bigint, title text)" >/dev/null
	pgc_psql "w$w" -d postgres -c "\\copy model_local FROM '$WORK/loc$w.copy'" >/dev/null
	dm=$(repl_digest "w$w" "(SELECT id, tvec(seed, $DIM) AS embedding, title FROM model_local) m")
	dw=$(repl_digest "w$w" items)
	check "w$w's own table equals the script's model of it ($dw)" same "$dw" "$dm"
done

out=$(repl_sync "w1 w2" "r1 r2")
check_rc "flush both writers, wait_for on both readers${out:+: $out}" $?
d1=$(repl_digest r1 items); d2=$(repl_digest r2 items)
check "(a) both readers have identical contents ($d1)" same "$d2" "$d1"

# the model's final state: surviving rows with their writer, deleted ids
: >"$WORK/expected.copy"; : >"$WORK/deleted.copy"
n_live=0; n_dead=0
for x in $(seq 1 $IDS); do
	v=${LAST[$x]:-}
	[ -n "$v" ] || continue
	w=${v##*|}; v=${v%|*}
	if [ "${v%%|*}" = D ]; then
		printf '%s\tw%s\n' "$x" "$w" >>"$WORK/deleted.copy"; n_dead=$((n_dead + 1))
	else
		printf '%s\t%s\t%s\tw%s\n' "$x" "${v%%|*}" "${v#*|}" "$w" >>"$WORK/expected.copy"; n_live=$((n_live + 1))
	fi
done
echo "# model: $n_live rows, $n_dead ids deleted last"
for r in r1 r2; do
	repl_sql "$r" "CREATE TABLE expected (id bigint, seed bigint, title text, writer text);
		CREATE TABLE expected_deleted (id bigint, writer text)" >/dev/null
	pgc_psql "$r" -d postgres -c "\\copy expected FROM '$WORK/expected.copy'" >/dev/null
	pgc_psql "$r" -d postgres -c "\\copy expected_deleted FROM '$WORK/deleted.copy'" >/dev/null
	bad=$(repl_sql "$r" "SELECT count(*) FROM (SELECT id, tvec(seed, $DIM) AS embedding, title FROM expected) e
		FULL JOIN items i USING (id)
		WHERE e.id IS NULL OR i.id IS NULL OR e.embedding::text <> i.embedding::text OR e.title IS DISTINCT FROM i.title")
	if [ "$bad" != 0 ]; then
		repl_sql "$r" "SELECT coalesce(e.id, i.id) || ': expected ' || coalesce(e.title, '(none)') || ', got ' || coalesce(i.title, '(none)')
			FROM (SELECT id, tvec(seed, $DIM) AS embedding, title FROM expected) e FULL JOIN items i USING (id)
			WHERE e.id IS NULL OR i.id IS NULL OR e.embedding::text <> i.embedding::text OR e.title IS DISTINCT FROM i.title
			ORDER BY 1 LIMIT 5" | sed 's/^/#   /'
	fi
	check "(b) $r: every row equals the model's last write for its id ($bad differ)" [ "$bad" = 0 ]
	bad=$(repl_sql "$r" "SELECT count(*) FROM expected e LEFT JOIN brainy.row_version v
		ON v.collection = 'items' AND v.pk = e.id::text
		WHERE v.pk IS NULL OR v.deleted OR v.writer_id <> e.writer")
	check "(b) $r: every surviving row's version names the writer of the model's last write ($bad differ)" [ "$bad" = 0 ]
	bad=$(repl_sql "$r" "SELECT count(*) FROM expected_deleted d
		WHERE EXISTS (SELECT 1 FROM items i WHERE i.id = d.id)
		   OR NOT EXISTS (SELECT 1 FROM brainy.row_version v WHERE v.collection = 'items'
				AND v.pk = d.id::text AND v.deleted AND v.writer_id = d.writer)")
	check "(c) $r: ids deleted last are absent, with the deleting writer's tombstone ($bad of $n_dead wrong)" [ "$bad" = 0 ]
done

# --- 2. true conflicts: the same ids at the same time --------------------------------

for w in 1 2; do
	: >"$WORK/conflict.$w.sql"
	for k in 1 2 3 4 5; do
		for x in $(seq 1 40); do
			echo "INSERT INTO items VALUES ($x, tvec($((900000 + w * 1000 + k)), $DIM), 'c$w-$k') ON CONFLICT (id) DO UPDATE SET embedding = excluded.embedding, title = excluded.title;" >>"$WORK/conflict.$w.sql"
		done
	done
done
pgc_psql w1 -d postgres -f "$WORK/conflict.1.sql" >/dev/null 2>&1 &
p1=$!
pgc_psql w2 -d postgres -f "$WORK/conflict.2.sql" >/dev/null 2>&1 &
p2=$!
wait $p1; rc1=$?; wait $p2; rc2=$?
[ $rc1 = 0 ] && [ $rc2 = 0 ]; check_rc "both writers upserted ids 1..40 five times at once" $?
out=$(repl_sync "w1 w2" "r1 r2")
check_rc "flush both, wait_for on both${out:+: $out}" $?
d1=$(repl_digest r1 items); d2=$(repl_digest r2 items)
check "both readers have identical contents after simultaneous writes ($d1)" same "$d2" "$d1"
v1=$(repl_sql r1 "SELECT md5(string_agg(pk || ':' || hlc || ':' || writer_id || ':' || deleted, ',' ORDER BY pk)) FROM brainy.row_version WHERE collection = 'items'")
v2=$(repl_sql r2 "SELECT md5(string_agg(pk || ':' || hlc || ':' || writer_id || ':' || deleted, ',' ORDER BY pk)) FROM brainy.row_version WHERE collection = 'items'")
check "both readers hold the same version (hlc, writer) for every id" same "$v2" "$v1"
bad=$(repl_sql r1 "SELECT count(*) FROM items i JOIN brainy.row_version v ON v.collection = 'items' AND v.pk = i.id::text
	WHERE i.id <= 40 AND (i.title <> 'c' || substr(v.writer_id, 2) || '-5'
		OR i.embedding::text <> tvec(900000 + substr(v.writer_id, 2)::int * 1000 + 5, $DIM)::text)")
n=$(repl_sql r1 "SELECT count(*) FROM items WHERE id <= 40")
[ "$bad" = 0 ] && [ "$n" = 40 ]; check_rc "ids 1..40 each hold its winner's last write ($n rows, $bad wrong)" $?
wins=$(repl_sql r1 "SELECT string_agg(writer_id || ' ' || c, ', ' ORDER BY writer_id) FROM
	(SELECT writer_id, count(*) c FROM brainy.row_version WHERE collection = 'items' AND pk::bigint <= 40 GROUP BY 1) s")
echo "# simultaneous writes won by: $wins"

for n in w1 w2 r1 r2; do
	if grep -E "terminated by signal|PANIC:" "$(cn_log $n)" >/dev/null; then
		fail "$n: no crashed process"; grep -E "terminated by signal|PANIC:" "$(cn_log $n)" | head -3
	else
		ok "$n: no crashed process"
	fi
done
summary
[ "$FAILED" -eq 0 ]
