#!/usr/bin/env bash
# bench_ann.sh - approximate nearest neighbours: Brainy's HNSW vs pgvector's.
#
# A benchmark, not a test.  On Fashion-MNIST (Zalando Research, Debian
# package dataset-fashion-mnist: 60,000 x 784 base vectors, queries from the
# 10,000 test images) in one throwaway cluster on 127.0.0.1:
#   - exact ground truth (ann_truth.c, brute force with Brainy's kernels);
#   - per system: COPY, CREATE INDEX (timed, serial), index size;
#   - per system, after the per-ef runs: the index rebuilt in parallel
#     (max_parallel_maintenance_workers = 2 and the table's parallel_workers
#     = 2, which pgvector needs to build in parallel; Brainy links the graph
#     with 1 + 2 threads), timed, with recall@10 at ef_search PAR_EF (40);
#   - per ef_search: recall@10 over all queries (a result counts when its
#     distance is within the true 10th distance, so ties are fair), and
#     queries/s with p50/p99 latency from pgbench on one connection.
# A system is benchmarked when its index access method exists: brainy_hnsw
# for Brainy, hnsw for pgvector (built from its source outside this
# repository).  Knobs: BENCH_ROWS (60000), BENCH_QUERIES (1000), BENCH_M (16),
# BENCH_EFC (64), BENCH_EFS ("10 20 40 80 120 200 400"), BENCH_SECONDS (5,
# pgbench time per ef), BENCH_MWM (maintenance_work_mem, 2GB), BENCH_SQ8 (1:
# also Brainy with quantization = sq8, the graph searched on 8-bit codes and
# re-ranked with full vectors; 0 to skip).
# Systems run one after another in one cluster, each in its own database.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/test/lib/pgcluster.sh"

ROWS=${BENCH_ROWS:-60000}
NQ=${BENCH_QUERIES:-1000}
M=${BENCH_M:-16}
EFC=${BENCH_EFC:-64}
EFS=${BENCH_EFS:-10 20 40 80 120 200 400}
SECS=${BENCH_SECONDS:-5}
MWM=${BENCH_MWM:-2GB}
PAR_EF=${BENCH_PAR_EF:-40}
FMNIST_DIR=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}

say() { echo "bench_ann: $*" >&2; }
die() { echo "bench_ann: ERROR: $*" >&2; exit 1; }

for f in train t10k; do
	[ -r "$FMNIST_DIR/$f-images-idx3-ubyte.gz" ] ||
		die "missing $FMNIST_DIR/$f-images-idx3-ubyte.gz (apt-get install dataset-fashion-mnist)"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/brainy-ann.XXXXXX")
chmod 755 "$WORK"
pgc_on_exit() { rm -rf "$WORK"; }
trap 'pgc_stop_all' EXIT

say "building tools and converting $ROWS base vectors, $NQ queries"
cc -std=c11 -O2 -Wall -o "$WORK/fmnist_to_copy" "$HERE/fmnist_to_copy.c"
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -I"$ROOT/src/vector" -o "$WORK/ann_truth" \
	"$HERE/ann_truth.c" "$ROOT"/src/vector/distance_*.c -lm
set +o pipefail
zcat "$FMNIST_DIR/train-images-idx3-ubyte.gz" | "$WORK/fmnist_to_copy" 1 "$ROWS" >"$WORK/base.copy"
zcat "$FMNIST_DIR/t10k-images-idx3-ubyte.gz" | "$WORK/fmnist_to_copy" 1 "$NQ" >"$WORK/queries.copy"
set -o pipefail
say "computing the exact top 10 of every query"
"$WORK/ann_truth" "$WORK/base.copy" "$WORK/queries.copy" 10 >"$WORK/truth.copy"

cd /
pgc_start ann "shared_buffers = '2GB'" "maintenance_work_mem = '$MWM'" \
	"max_parallel_maintenance_workers = 0" "max_parallel_workers_per_gather = 0" \
	"jit = off" "autovacuum = off" "max_wal_size = '8GB'" "checkpoint_timeout = '1h'"
PORT=$PGC_ann_PORT
sql() { local db=$1; shift; pgc_psql ann -d "$db" -At "$@"; }

# per system: extension, access method, ef_search setting, index options
ext_of() { [ "$1" = pgvector ] && echo vector || echo brainy; }
am_of() { [ "$1" = pgvector ] && echo hnsw || echo brainy_hnsw; }
guc_of() { [ "$1" = pgvector ] && echo hnsw.ef_search || echo brainy.ef_search; }
opts_of() { [ "$1" = brainy_sq8 ] && echo ", quantization = sq8" || true; }
CANDIDATES="brainy pgvector"
[ "${BENCH_SQ8:-1}" = 1 ] && CANDIDATES="brainy brainy_sq8 pgvector"

SYSTEMS=()
for s in $CANDIDATES; do
	ext=$(ext_of $s)
	am=$(am_of $s)
	sql postgres -c "CREATE DATABASE ${s}_db"
	if ! sql ${s}_db -c "CREATE EXTENSION $ext" 2>/dev/null; then
		say "$s: extension $ext not installed, skipped"; continue
	fi
	if [ "$(sql ${s}_db -c "SELECT count(*) FROM pg_am WHERE amname = '$am'")" != 1 ]; then
		say "$s: no index access method $am, skipped"; continue
	fi
	SYSTEMS+=("$s")
done
[ "${#SYSTEMS[@]}" -gt 0 ] || die "nothing to benchmark"

# recall_at DB GUC EF: recall@10 over all queries
recall_at() {
	sql "$1" -c "SET $2 = $3" -c "
		SELECT round(avg(hits) / 10, 4) FROM (
			SELECT (SELECT count(*) FROM (
						SELECT i.embedding <-> q.embedding AS d FROM items i
						ORDER BY i.embedding <-> q.embedding LIMIT 10) r
					WHERE r.d <= t.kth * (1 + 1e-6)) AS hits
			FROM queries q JOIN truth t USING (id)) s"
}

declare -A R
for s in "${SYSTEMS[@]}"; do
	db=${s}_db
	am=$(am_of $s)
	guc=$(guc_of $s)
	opts=$(opts_of $s)
	say "$s: loading"
	sql "$db" <<-SQL
		CREATE TABLE items (id int PRIMARY KEY, embedding vector(784));
		\copy items FROM '$WORK/base.copy'
		CREATE TABLE queries (id int PRIMARY KEY, embedding vector(784));
		ALTER TABLE queries ALTER COLUMN embedding SET STORAGE plain;
		\copy queries FROM '$WORK/queries.copy'
		CREATE TABLE truth (id int PRIMARY KEY, ids int[], kth float8);
		\copy truth FROM '$WORK/truth.copy'
		VACUUM ANALYZE items; VACUUM ANALYZE queries; CHECKPOINT;
	SQL
	say "$s: CREATE INDEX USING $am (m = $M, ef_construction = $EFC$opts)"
	t0=$(date +%s.%N)
	sql "$db" -c "CREATE INDEX items_ann ON items USING $am (embedding vector_l2_ops) WITH (m = $M, ef_construction = $EFC$opts)"
	t1=$(date +%s.%N)
	R[$s,build]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	R[$s,size]=$(sql "$db" -c "SELECT round(pg_relation_size('items_ann') / 1048576.0, 1)")
	say "$s: built in ${R[$s,build]} s, ${R[$s,size]} MB"
	cat >"$WORK/$s.pgbench" <<-EOF
		\set qid random(1, $NQ)
		SELECT id FROM items ORDER BY embedding <-> (SELECT embedding FROM queries WHERE id = :qid) LIMIT 10;
	EOF
	for ef in $EFS; do
		R[$s,$ef,recall]=$(recall_at "$db" "$guc" "$ef")
		rm -f "$WORK"/pgbench_log.*
		(cd "$WORK" && PGOPTIONS="-c $guc=$ef" pgbench -n -h 127.0.0.1 -p "$PORT" -U postgres \
			-c 1 -T "$SECS" -f "$WORK/$s.pgbench" -l --log-prefix=pgbench_log "$db" \
			>"$WORK/pgbench.out" 2>&1) || { cat "$WORK/pgbench.out" >&2; die "pgbench failed"; }
		read -r qps p50 p99 <<<"$(cat "$WORK"/pgbench_log.* | awk '{ print $3 }' | sort -n |
			awk -v s="$SECS" '{ v[NR] = $1 } END {
				printf "%.0f %.2f %.2f\n", NR / s, v[int(NR * 0.5) + 1] / 1000, v[int(NR * 0.99) + 1] / 1000 }')"
		R[$s,$ef,qps]=$qps; R[$s,$ef,p50]=$p50; R[$s,$ef,p99]=$p99
		say "$s ef=$ef: recall ${R[$s,$ef,recall]}, $qps QPS, p99 $p99 ms"
	done
	say "$s: parallel CREATE INDEX (max_parallel_maintenance_workers = 2, parallel_workers = 2)"
	sql "$db" -c "DROP INDEX items_ann" -c "ALTER TABLE items SET (parallel_workers = 2)" -c "CHECKPOINT" >/dev/null
	t0=$(date +%s.%N)
	sql "$db" -c "SET max_parallel_maintenance_workers = 2" \
		-c "CREATE INDEX items_ann ON items USING $am (embedding vector_l2_ops) WITH (m = $M, ef_construction = $EFC$opts)"
	t1=$(date +%s.%N)
	R[$s,pbuild]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	R[$s,precall]=$(recall_at "$db" "$guc" "$PAR_EF")
	sql "$db" -c "ALTER TABLE items RESET (parallel_workers)"
	say "$s: parallel build ${R[$s,pbuild]} s, recall@10 at ef $PAR_EF ${R[$s,precall]} (serial build: ${R[$s,$PAR_EF,recall]:-n/a})"
done

v() { echo "${R[$1]:-n/a}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }
echo
echo "## ANN: Brainy brainy_hnsw vs pgvector hnsw, Fashion-MNIST $ROWS x 784, $NQ queries, m=$M, ef_construction=$EFC"
echo
echo "| measure | brainy | pgvector | brainy/pgvector |"
echo "|---|---:|---:|---:|"
echo "| build s (serial) | $(v brainy,build) | $(v pgvector,build) | $(ratio "$(v brainy,build)" "$(v pgvector,build)") |"
echo "| build s (parallel, 2 workers) | $(v brainy,pbuild) | $(v pgvector,pbuild) | $(ratio "$(v brainy,pbuild)" "$(v pgvector,pbuild)") |"
echo "| recall@10 at ef $PAR_EF, parallel build | $(v brainy,precall) | $(v pgvector,precall) | |"
echo "| index MB | $(v brainy,size) | $(v pgvector,size) | $(ratio "$(v brainy,size)" "$(v pgvector,size)") |"
echo
echo
echo "Per ef_search, on the serial builds:"
echo
echo "| ef_search | brainy recall@10 | brainy QPS | brainy p99 ms | pgvector recall@10 | pgvector QPS | pgvector p99 ms | QPS ratio |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
for ef in $EFS; do
	echo "| $ef | $(v brainy,$ef,recall) | $(v brainy,$ef,qps) | $(v brainy,$ef,p99) | $(v pgvector,$ef,recall) | $(v pgvector,$ef,qps) | $(v pgvector,$ef,p99) | $(ratio "$(v brainy,$ef,qps)" "$(v pgvector,$ef,qps)") |"
done

if [ -n "${R[brainy_sq8,build]:-}" ]; then
	echo
	echo "Brainy with quantization = sq8 (graph on 8-bit codes, re-ranked with full vectors):"
	echo
	echo "| measure | brainy sq8 | brainy | pgvector | sq8/pgvector |"
	echo "|---|---:|---:|---:|---:|"
	echo "| build s (serial) | $(v brainy_sq8,build) | $(v brainy,build) | $(v pgvector,build) | $(ratio "$(v brainy_sq8,build)" "$(v pgvector,build)") |"
	echo "| build s (parallel) | $(v brainy_sq8,pbuild) | $(v brainy,pbuild) | $(v pgvector,pbuild) | $(ratio "$(v brainy_sq8,pbuild)" "$(v pgvector,pbuild)") |"
	echo "| index MB | $(v brainy_sq8,size) | $(v brainy,size) | $(v pgvector,size) | $(ratio "$(v brainy_sq8,size)" "$(v pgvector,size)") |"
	echo
	echo "| ef_search | sq8 recall@10 | sq8 QPS | sq8 p99 ms | QPS ratio vs pgvector | QPS ratio vs brainy |"
	echo "|---:|---:|---:|---:|---:|---:|"
	for ef in $EFS; do
		echo "| $ef | $(v brainy_sq8,$ef,recall) | $(v brainy_sq8,$ef,qps) | $(v brainy_sq8,$ef,p99) | $(ratio "$(v brainy_sq8,$ef,qps)" "$(v pgvector,$ef,qps)") | $(ratio "$(v brainy_sq8,$ef,qps)" "$(v brainy,$ef,qps)") |"
	done
fi
