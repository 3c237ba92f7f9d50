#!/usr/bin/env bash
# bench_sql.sh - Brainy vs pgvector, side by side, on one data set.
#
# A benchmark, not a test: it measures and prints, it does not pass or fail
# on the numbers.  In one throwaway PostgreSQL cluster (127.0.0.1 only) it
#   (a) COPYs the 60,000 x 784 Fashion-MNIST training images into
#       items(id int, embedding vector(784)) -- the primary key is added
#       after the COPY, identically for both, and is not part of the timing;
#   (b) runs exact sequential-scan k-NN
#       SELECT id FROM items ORDER BY embedding <-> $1 LIMIT 10
#       (no vector index) for query vectors taken from the 10,000 test
#       images, alternating brainy query / pgvector query, timed inside the
#       server with clock_timestamp(), and checks both return the same ids.
#
# Data sets (BENCH_DATASET):
#   fmnist  Fashion-MNIST by Zalando Research (MIT licence), from the Debian
#           package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist):
#           784-dim integer pixels, many zeros, so PostgreSQL compresses them;
#   dense   synthetic unit-length Gaussian vectors (dense_vectors.c, fixed
#           seed), 784 dims by default: bytes like a real embedding model's,
#           which PostgreSQL cannot compress.
# Storage (BENCH_STORAGE): default keeps each type's own storage strategy
# (brainy: main, pgvector: external); plain, main or external sets it on the
# column for both.
#
# Brainy is benchmarked if it is installed (brainy.so and brainy.control),
# pgvector if vector.control is installed; a missing one gets "n/a".
#
# Knobs (environment):
#   BENCH_DATASET=fmnist  fmnist | dense
#   BENCH_STORAGE=default default | plain | main | external
#   BENCH_DIM=784         dimensions of the dense data set
#   BENCH_ROWS=60000      training vectors to load (all of them by default)
#   BENCH_QUERIES=20      query vectors (test images 1..N)
#   BENCH_PASSES=3        measured passes over the queries (plus 1 warm-up)
#   BENCH_COPY_REPS=3     timed COPY repetitions per extension (median used)
#   BENCH_SHARED_BUFFERS=1GB
#   FMNIST_DIR=/usr/share/datasets/fashion-mnist
#   PGC_KEEP=1            keep the cluster directory (see pgcluster.sh)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../lib/pgcluster.sh
. "$ROOT/test/lib/pgcluster.sh"

ROWS=${BENCH_ROWS:-60000}
NQ=${BENCH_QUERIES:-20}
PASSES=${BENCH_PASSES:-3}
COPY_REPS=${BENCH_COPY_REPS:-3}
SHARED_BUFFERS=${BENCH_SHARED_BUFFERS:-1GB}
FMNIST_DIR=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
DATASET=${BENCH_DATASET:-fmnist}
STORAGE=${BENCH_STORAGE:-default}
case $DATASET in
	fmnist) DIM=784 ;;
	dense) DIM=${BENCH_DIM:-784} ;;
	*) echo "bench: BENCH_DATASET must be fmnist or dense" >&2; exit 2 ;;
esac
case $STORAGE in
	default | plain | main | external) ;;
	*) echo "bench: BENCH_STORAGE must be default, plain, main or external" >&2; exit 2 ;;
esac

say() { echo "bench: $*" >&2; }
die() { echo "bench: ERROR: $*" >&2; exit 1; }

# ---------------------------------------------------------------- cleanup
WORK=""
SESSION_FDS=()		# write ends of the psql sessions' input FIFOs
cleanup() {
	local fd
	for fd in "${SESSION_FDS[@]}"; do
		exec {fd}>&- 2>/dev/null || true
	done
	pgc_stop_all || true
	[ -n "$WORK" ] && rm -rf "$WORK"
	return 0
}
trap cleanup EXIT

# ---------------------------------------------------------------- inputs
TRAIN_GZ=$FMNIST_DIR/train-images-idx3-ubyte.gz
TEST_GZ=$FMNIST_DIR/t10k-images-idx3-ubyte.gz
if [ "$DATASET" = fmnist ]; then
	for f in "$TRAIN_GZ" "$TEST_GZ"; do
		[ -r "$f" ] || die "missing $f (apt-get install dataset-fashion-mnist)"
	done
fi
command -v pg_config >/dev/null || die "pg_config not found"

SHAREDIR=$(pg_config --sharedir)
PKGLIBDIR=$(pg_config --pkglibdir)

# Which systems to run.  Order matters only for the alternation.
SYSTEMS=()
if [ -f "$PKGLIBDIR/brainy.so" ] && [ -f "$SHAREDIR/extension/brainy.control" ]; then
	SYSTEMS+=(brainy)
else
	say "Brainy is not installed ($PKGLIBDIR/brainy.so or brainy.control missing): skipping it"
fi
if [ -f "$SHAREDIR/extension/vector.control" ]; then
	SYSTEMS+=(pgvector)
else
	say "pgvector is not installed ($SHAREDIR/extension/vector.control missing): skipping it"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/brainy-bench.XXXXXX")

say "building the data set converters"
cc -std=c11 -O2 -Wall -Wextra -o "$WORK/fmnist_to_copy" "$HERE/fmnist_to_copy.c"
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -o "$WORK/dense_vectors" "$HERE/dense_vectors.c" -lm

# convert GZ MAX OUT: the converter may stop early, so zcat may get SIGPIPE.
convert() {
	local st
	set +o pipefail
	zcat "$1" | "$WORK/fmnist_to_copy" 1 "$2" >"$3"
	st=("${PIPESTATUS[@]}")
	set -o pipefail
	[ "${st[1]}" = 0 ] || die "converting $1 failed"
	[ "${st[0]}" = 0 ] || [ "${st[0]}" = 141 ] || die "zcat $1 failed"
}
if [ "$DATASET" = fmnist ]; then
	say "converting Fashion-MNIST ($ROWS training vectors, $NQ test vectors)"
	convert "$TRAIN_GZ" "$ROWS" "$WORK/train.copy"
	convert "$TEST_GZ" "$NQ" "$WORK/queries.copy"
	TITLE="Fashion-MNIST (Zalando Research)"
else
	say "generating $ROWS + $NQ dense unit vectors of $DIM dims"
	"$WORK/dense_vectors" 1 "$ROWS" "$DIM" 42 >"$WORK/train.copy"
	"$WORK/dense_vectors" 1 "$NQ" "$DIM" 4242 >"$WORK/queries.copy"
	TITLE="synthetic dense unit vectors (Gaussian, seed 42)"
fi
NROWS=$(wc -l <"$WORK/train.copy")
[ "$NROWS" -gt 0 ] || die "no training vectors converted"

# ---------------------------------------------------------------- cluster
say "starting a throwaway cluster"
pgc_start bench \
	"shared_buffers = '$SHARED_BUFFERS'" \
	"max_parallel_workers_per_gather = 0" \
	"max_parallel_maintenance_workers = 0" \
	"jit = off" \
	"autovacuum = off" \
	"max_wal_size = '8GB'" \
	"checkpoint_timeout = '1h'" \
	"work_mem = '64MB'"
trap cleanup EXIT		# pgc_start installed its own; ours calls it too

psql_db() { local db=$1; shift; pgc_psql bench -d "$db" "$@"; }

db_of() { case $1 in brainy) echo brainy_db ;; pgvector) echo pgvector_db ;; esac; }
ext_of() { case $1 in brainy) echo brainy ;; pgvector) echo vector ;; esac; }

ACTIVE=()
for s in "${SYSTEMS[@]}"; do
	db=$(db_of "$s")
	psql_db postgres -c "CREATE DATABASE $db"
	if err=$(psql_db "$db" -c "CREATE EXTENSION $(ext_of "$s")" 2>&1); then
		ACTIVE+=("$s")
	else
		say "WARNING: CREATE EXTENSION $(ext_of "$s") failed, skipping $s:"
		echo "$err" >&2
	fi
done
[ "${#ACTIVE[@]}" -gt 0 ] || die "neither Brainy nor pgvector can be benchmarked"
say "benchmarking: ${ACTIVE[*]}"

# ---------------------------------------------------------------- (a) COPY
# Each repetition: fresh table without indexes, CHECKPOINT, timed COPY FROM
# STDIN fed by psql from the file (client side, like a real load).  The time
# is wall clock around that psql call (its connection setup is a few ms of a
# multi-second COPY).  Repetitions alternate between the systems; rep 0 is
# an untimed warm-up (the very first load also creates the WAL segment files
# that later loads recycle, and took twice as long in trials).
now() { date +%s.%N; }
if [ "$STORAGE" = default ]; then
	SET_STORAGE="SET client_min_messages = warning"
else
	SET_STORAGE="ALTER TABLE items ALTER COLUMN embedding SET STORAGE $STORAGE"
fi
declare -A COPY_TIMES
for rep in $(seq 0 "$COPY_REPS"); do
	for s in "${ACTIVE[@]}"; do
		db=$(db_of "$s")
		psql_db "$db" -c "SET client_min_messages = warning" \
			-c "DROP TABLE IF EXISTS items" \
			-c "CREATE TABLE items (id int, embedding vector($DIM))" \
			-c "$SET_STORAGE" \
			-c "CHECKPOINT"
		t0=$(now)
		psql_db "$db" -c "COPY items (id, embedding) FROM STDIN" <"$WORK/train.copy"
		t1=$(now)
		secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
		if [ "$rep" -eq 0 ]; then
			say "COPY warm-up $s: ${secs}s (not counted)"
			continue
		fi
		COPY_TIMES[$s]="${COPY_TIMES[$s]:-} $secs"
		say "COPY rep $rep $s: ${secs}s"
	done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 }
	END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2];
		  else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Finish the load identically: primary key, query table, vacuum/analyze
# (which also sets hint bits, so no scan pays for that), timing function.
for s in "${ACTIVE[@]}"; do
	db=$(db_of "$s")
	psql_db "$db" <<-SQL
		ALTER TABLE items ADD PRIMARY KEY (id);
		CREATE TABLE queries (id int PRIMARY KEY, embedding vector($DIM));
		-- the query vectors reach both systems as plain, uncompressed values
		ALTER TABLE queries ALTER COLUMN embedding SET STORAGE plain;
		\copy queries FROM '$WORK/queries.copy'
		VACUUM (ANALYZE) items;
		VACUUM (ANALYZE) queries;
		CHECKPOINT;
		-- One k-NN query, timed inside the server.  q is a PL/pgSQL
		-- variable, so the query runs with it as a parameter (\$1).
		CREATE FUNCTION bench_knn(qid int, OUT ms float8, OUT ids int[])
		LANGUAGE plpgsql AS \$fn\$
		DECLARE
			q  vector;
			t0 timestamptz;
		BEGIN
			SELECT embedding INTO STRICT q FROM queries WHERE id = qid;
			t0 := clock_timestamp();
			ids := ARRAY(SELECT i.id FROM items i
						 ORDER BY i.embedding <-> q LIMIT 10);
			ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
		END
		\$fn\$;
	SQL
done

# ---------------------------------------------------------------- (b) k-NN
# One persistent psql session per database (so neither pays connection or
# catalog-cache warm-up inside a timed query), driven through FIFOs.
declare -A SESS_W SESS_R
for s in "${ACTIVE[@]}"; do
	mkfifo "$WORK/$s.in" "$WORK/$s.out"
	# shellcheck disable=SC2154  # set by pgc_start
	psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGC_bench_PORT" \
		-U postgres -d "$(db_of "$s")" <"$WORK/$s.in" >"$WORK/$s.out" &
	exec {w}>"$WORK/$s.in"
	exec {r}<"$WORK/$s.out"
	SESS_W[$s]=$w
	SESS_R[$s]=$r
	SESSION_FDS+=("$w" "$r")
done

# run_query SYSTEM QID -> prints "ms|{ids}"
run_query() {
	local s=$1 qid=$2 line
	echo "SELECT ms, ids FROM bench_knn($qid);" >&"${SESS_W[$s]}"
	if ! read -r -t 600 -u "${SESS_R[$s]}" line; then
		die "no answer from $s for query $qid (see messages above)"
	fi
	echo "$line"
}

say "k-NN: 1 warm-up pass + $PASSES measured passes x $NQ queries, alternating"
declare -A KNN_MS
for pass in $(seq 0 "$PASSES"); do
	for q in $(seq 1 "$NQ"); do
		for s in "${ACTIVE[@]}"; do
			res=$(run_query "$s" "$q")
			if [ "$pass" -eq 0 ]; then continue; fi		# warm-up
			KNN_MS[$s]="${KNN_MS[$s]:-} ${res%%|*}"
			# ids of the first measured pass, one query per line
			if [ "$pass" -eq 1 ]; then echo "$q ${res#*|}" >>"$WORK/$s.ids"; fi
		done
	done
	if [ "$pass" -gt 0 ]; then say "k-NN pass $pass done"; fi
done

# ---------------------------------------------------------------- facts
declare -A R
for s in "${ACTIVE[@]}"; do
	db=$(db_of "$s")
	mean=$(echo "${KNN_MS[$s]}" | tr ' ' '\n' | grep -v '^$' |
		awk '{ t += $1; n++ } END { printf "%.3f", t / n }')
	med=$(echo "${KNN_MS[$s]}" | median)
	copy_s=$(echo "${COPY_TIMES[$s]}" | median)
	R[$s,copy_s]=$(awk -v x="$copy_s" 'BEGIN { printf "%.3f", x }')
	R[$s,copy_rps]=$(awk -v x="$copy_s" -v n="$NROWS" 'BEGIN { printf "%.0f", n / x }')
	R[$s,knn_mean]=$mean
	R[$s,knn_med]=$(awk -v x="$med" 'BEGIN { printf "%.3f", x }')
	R[$s,knn_qps]=$(awk -v x="$mean" 'BEGIN { printf "%.2f", 1000 / x }')
	R[$s,scan_rps]=$(awk -v x="$mean" -v n="$NROWS" 'BEGIN { printf "%.0f", n / (x / 1000) }')
	IFS='|' read -r attstorage total heap toast extver <<<"$(psql_db "$db" -At -c "
		SELECT a.attstorage,
			   pg_total_relation_size(c.oid),
			   pg_relation_size(c.oid),
			   CASE WHEN c.reltoastrelid = 0 THEN 0
					ELSE pg_total_relation_size(c.reltoastrelid) END,
			   (SELECT extversion FROM pg_extension
				 WHERE extname = '$(ext_of "$s")')
		  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
		 WHERE c.oid = 'items'::regclass AND a.attname = 'embedding'")"
	case $attstorage in
		p) R[$s,attstorage]="p (PLAIN)" ;;
		e) R[$s,attstorage]="e (EXTERNAL)" ;;
		m) R[$s,attstorage]="m (MAIN)" ;;
		x) R[$s,attstorage]="x (EXTENDED)" ;;
		*) R[$s,attstorage]=$attstorage ;;
	esac
	IFS='|' read -r colsize ncompressed <<<"$(psql_db "$db" -At -c "
		SELECT round(avg(pg_column_size(embedding))),
			   count(*) FILTER (WHERE pg_column_compression(embedding) IS NOT NULL)
		  FROM items")"
	R[$s,colsize]=$colsize
	R[$s,ncompressed]=$ncompressed
	R[$s,total]=$total
	R[$s,heap]=$heap
	R[$s,toast]=$toast
	R[$s,extver]=$extver
done

mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

# Same ids?  Count queries whose ordered top-10 lists differ, and those
# whose id sets differ (ties or rounding can reorder equal distances).
MISMATCH="n/a"
if [ -f "$WORK/brainy.ids" ] && [ -f "$WORK/pgvector.ids" ]; then
	MISMATCH=$(paste -d ' ' "$WORK/brainy.ids" "$WORK/pgvector.ids" |
		awk '{ if ($2 != $4) n++ } END { print n + 0 }')
	SET_MISMATCH=$(paste -d ' ' "$WORK/brainy.ids" "$WORK/pgvector.ids" |
		awk 'function key(s,  a, n, i, j, t) {
				 gsub(/[{}]/, "", s); n = split(s, a, ",")
				 for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
					 if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
				 t = ""; for (i = 1; i <= n; i++) t = t a[i] ","; return t }
			 { if (key($2) != key($4)) n++ } END { print n + 0 }')
	MISMATCH="$MISMATCH of $NQ queries (id sets differ: $SET_MISMATCH)"
	if [ "${MISMATCH%% *}" != 0 ]; then
		say "queries whose ids differ (query brainy-ids pgvector-ids):"
		paste -d ' ' "$WORK/brainy.ids" "$WORK/pgvector.ids" |
			awk '$2 != $4 { print $1, $2, $4 }' >&2
	fi
fi

# ---------------------------------------------------------------- report
val() { local s=$1 k=$2; if [[ " ${ACTIVE[*]} " == *" $s "* ]]; then echo "${R[$s,$k]}"; else echo "n/a"; fi; }
ratio() {
	local a b
	a=$(val brainy "$1"); b=$(val pgvector "$1")
	if [ "$a" = n/a ] || [ "$b" = n/a ]; then echo "n/a"; return; fi
	if ! [[ $a =~ ^[0-9.]+$ && $b =~ ^[0-9.]+$ ]]; then
		if [ "$a" = "$b" ]; then echo "same"; else echo "differ"; fi
		return
	fi
	awk -v a="$a" -v b="$b" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'
}
row() { printf '| %s | %s | %s | %s |\n' "$1" "$(val brainy "$2")" "$(val pgvector "$2")" "$(ratio "$2")"; }
row_mib() {
	local a b
	a=$(val brainy "$2"); b=$(val pgvector "$2")
	if [ "$a" != n/a ]; then a=$(mib "$a"); fi
	if [ "$b" != n/a ]; then b=$(mib "$b"); fi
	printf '| %s | %s | %s | %s |\n' "$1" "$a" "$b" "$(ratio "$2")"
}

echo
echo "## Brainy vs pgvector: $TITLE, $NROWS x $DIM, storage $STORAGE"
echo
echo "- $(psql_db postgres -At -c 'SELECT version()')"
echo "- CPU: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores;" \
	"shared_buffers=$SHARED_BUFFERS, max_parallel_workers_per_gather=0, jit=off"
echo "- brainy $(val brainy extver), pgvector $(val pgvector extver)"
echo "- COPY: median of $COPY_REPS after 1 warm-up load, into a table without indexes (PK added afterwards, not timed)"
echo "- k-NN: \`SELECT id FROM items ORDER BY embedding <-> \$1 LIMIT 10\`, seq scan, no index;" \
	"$NQ test-set queries x $PASSES passes after 1 warm-up pass, alternating, timed in the server"
echo
echo "| measure | brainy | pgvector | brainy/pgvector |"
echo "| --- | --- | --- | --- |"
row "COPY time (s)" copy_s
row "COPY rows/s" copy_rps
row "k-NN ms/query (mean)" knn_mean
row "k-NN ms/query (median)" knn_med
row "k-NN queries/s" knn_qps
row "k-NN rows scanned/s" scan_rps
row "embedding attstorage" attstorage
row "stored embedding size, avg bytes (pg_column_size)" colsize
row "embeddings stored compressed (pg_column_compression)" ncompressed
row_mib "table size (pg_total_relation_size)" total
row_mib "heap size (main fork)" heap
row_mib "TOAST size (incl. its index)" toast
printf '| %s | | | %s |\n' "k-NN top-10 id lists that differ" "$MISMATCH"
echo
