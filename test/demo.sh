#!/usr/bin/env bash
# demo.sh - see Brainy work in under a minute: installs what is needed,
# builds and installs the extension (test/lib/install-deps.sh), starts a
# throwaway PostgreSQL 15 on 127.0.0.1, loads 5,000 deterministic
# 64-dimensional vectors, runs a few queries, exact and through a brainy_hnsw
# index (each SQL statement is echoed before its result), and stops the
# server again; then starts a writer and a reader sharing a file:// bucket
# and shows brainy.instances.
#
#   bash test/demo.sh          (from the repository root, as root on Debian 12
#                               or as a user with the packages installed)
#
# All data is generated inside the server by SQL; nothing is read from the
# source tree by the server.  PGC_KEEP=1 keeps the cluster directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -d /usr/lib/postgresql/15/bin ]; then
	export PATH=/usr/lib/postgresql/15/bin:$PATH
	export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
fi

say() { echo "demo: $*"; }

say "installing dependencies and building brainy"
bash "$ROOT/test/lib/install-deps.sh"

# shellcheck source=lib/pgcluster.sh
. "$ROOT/test/lib/pgcluster.sh"
# initdb/pg_ctl run as postgres when we are root: start them from a directory
# that user can enter (the tree may be under /root, mode 700).
cd /
pgc_start demo		# stopped again when this script exits, also on failure
cd "$ROOT"
say "PostgreSQL $(pg_config --version | sed 's/^PostgreSQL //') running on 127.0.0.1:$PGC_demo_PORT (stopped when the demo ends)"
echo

# -a echoes every line of input (SQL and comments) before its result.
pgc_psql demo -a -d postgres <<'SQL'
-- ================================================================
-- Brainy demo
-- ================================================================
CREATE EXTENSION brainy;
SELECT extname, extversion FROM pg_extension WHERE extname = 'brainy';

-- The SIMD distance kernels picked for this CPU when brainy.so was loaded
-- (scalar, avx2 or avx512):
SELECT brainy_kernel();

-- Literals, dimensions and the four distance operators:
--   <-> Euclidean (L2)   <=> cosine distance
--   <#> negative inner product   <+> taxicab (L1)
SELECT '[1,2,3]'::vector(3) AS v, vector_dims('[1,2,3]'::vector) AS dims,
       '[1,2,3]'::vector <-> '[4,5,6]' AS l2,
       '[1,2,3]'::vector <=> '[4,5,6]' AS cosine,
       '[1,2,3]'::vector <#> '[4,5,6]' AS neg_inner,
       '[1,2,3]'::vector <+> '[4,5,6]' AS l1;

CREATE TABLE items (id bigint PRIMARY KEY, body text, embedding vector(64));

-- 5,000 items in 50 clusters: item i lies close to the centre of cluster
-- i % 50.  Every coordinate is a hash of (cluster, dimension) plus a little
-- hash "noise" of (item, dimension), so every run loads the same data.
-- The inner SELECT refers to i, so it is evaluated once per row.
INSERT INTO items (id, body, embedding)
SELECT i, 'item ' || i,
       (SELECT array_agg(hashint8((i % 50) * 64 + d)::float8 / 2147483648
                         + 0.1 * hashint8(1000000 + i * 64 + d)::float8 / 2147483648
                         ORDER BY d)
          FROM generate_series(1, 64) AS d)::vector(64)
FROM generate_series(1, 5000) AS i;
ANALYZE items;

SELECT count(*) AS items, min(vector_dims(embedding)) AS dims,
       pg_size_pretty(pg_total_relation_size('items')) AS table_size
FROM items;

SELECT id, body, subvector(embedding, 1, 4) AS first_4_of_64_dims
FROM items WHERE id = 42;

-- The 5 nearest neighbours of item 42 by L2 distance: all from its
-- cluster (ids 42 + 50k).
SELECT id, body,
       embedding <-> (SELECT embedding FROM items WHERE id = 42) AS l2_distance
FROM items WHERE id <> 42
ORDER BY l2_distance LIMIT 5;

-- ... and by cosine distance.
SELECT id, body,
       embedding <=> (SELECT embedding FROM items WHERE id = 42) AS cosine_distance
FROM items WHERE id <> 42
ORDER BY cosine_distance LIMIT 5;

-- Aggregates: sum and avg of the 100 vectors of cluster 42.  Their average
-- lies closer to item 42 than the nearest neighbour did.
SELECT count(*) AS n,
       subvector(sum(embedding), 1, 4) AS sum_first_4,
       subvector(avg(embedding), 1, 4) AS avg_first_4,
       avg(embedding) <-> (SELECT embedding FROM items WHERE id = 42) AS avg_to_item_42
FROM items WHERE id % 50 = 42;

-- An exact k-NN search: a sequential scan computing all 5,000 distances
-- with the SIMD kernel and a top-10 sort.
\timing on
SELECT array_agg(id) AS ten_nearest_to_item_4242
FROM (SELECT id FROM items
      ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = 4242)
      LIMIT 10) AS knn;
\timing off
EXPLAIN (ANALYZE, COSTS OFF)
SELECT id FROM items
ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = 4242)
LIMIT 10;
-- An HNSW index (approximate nearest neighbours, docs/hnsw.md) answers the
-- same query from a graph: built in memory, written as WAL-logged pages.
\timing on
CREATE INDEX items_embedding_idx ON items
  USING brainy_hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64);
\timing off
SELECT j->>'ok' AS graph_ok, j->>'n_live' AS nodes, j->>'quantization' AS quantization,
       pg_size_pretty(pg_relation_size('items_embedding_idx')) AS index_size
FROM brainy_hnsw_check('items_embedding_idx') j;
\timing on
SELECT array_agg(id) AS ten_nearest_to_item_4242
FROM (SELECT id FROM items
      ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = 4242)
      LIMIT 10) AS knn;
\timing off
EXPLAIN (ANALYZE, COSTS OFF)
SELECT id FROM items
ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = 4242)
LIMIT 10;
-- Recall of the index against the exact answer, over 100 query items
-- (brainy.ef_search, default 40, trades speed for recall):
SELECT round(avg(hits) / 10.0, 3) AS recall_at_10 FROM (
  SELECT (SELECT count(*) FROM
            (SELECT id FROM items ORDER BY embedding <-> q.embedding LIMIT 10) a
            JOIN (SELECT id FROM items ORDER BY (embedding <-> q.embedding) + 0 LIMIT 10) e
            USING (id)) AS hits
  FROM items q WHERE q.id % 50 = 7) s;
SQL

echo
pgc_stop demo

# ---------------------------------------------------------------------------
# A two-node cluster on one machine: a writer and a reader sharing a file://
# bucket in a temp dir (docs/cluster.md).  Short intervals so it shows in
# seconds.
# ---------------------------------------------------------------------------
say "starting a writer and a reader on a shared file:// bucket"
BUCKET_DIR=$(mktemp -d "${TMPDIR:-/tmp}/brainy-demo-bucket.XXXXXX")
chmod 755 "$BUCKET_DIR"
[ "$(id -u)" = 0 ] && chown "$PGC_OSUSER" "$BUCKET_DIR"
pgc_on_exit() { rm -rf "$BUCKET_DIR"; }
# shellcheck source=lib/cluster_nodes.sh
. "$ROOT/test/lib/cluster_nodes.sh"
CN_HEARTBEAT=2s CN_TIMEOUT=6s CN_POLL=1s
cd /
cn_start writer "file://$BUCKET_DIR" "brainy.role = 'writer'" "brainy.instance_id = 'demo-writer'" "brainy.log_level = 'info'" \
	"brainy.flush_interval = '200ms'"
cn_start reader "file://$BUCKET_DIR" "brainy.role = 'reader'" "brainy.instance_id = 'demo-reader'" "brainy.log_level = 'info'"
cd "$ROOT"
sleep 3
pgc_psql reader -a -d postgres <<'SQL'
-- Every node seen in the bucket (each writes a heartbeat every 2 s):
SELECT id, role, status, alive, age, endpoint FROM brainy.instances ORDER BY id;
-- The shared config, created by whichever node came first:
SELECT brainy.config();
SQL
echo
say "replication (docs/replication.md): the writer publishes a table, the reader follows it"
pgc_psql writer -a -d postgres <<'SQL'
CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(16), title text);
INSERT INTO items
SELECT i, (SELECT array_agg((x.base + random())::real)
           FROM generate_series(1, 16) d, (SELECT (i % 20) * 3 AS base) x)::vector,
       'item ' || i
FROM generate_series(1, 2000) i;
-- Publish it: the 2,000 rows already there are copied in the background
-- (the backfill), and every later change is captured in the same transaction.
SELECT brainy.publish('items');
SQL
pgc_psql reader -a -d postgres <<'SQL'
-- Follow it: a mirror table "items" with a brainy_hnsw index.
SELECT brainy.subscribe('items');
SQL
sleep 2
pgc_psql writer -a -d postgres <<'SQL'
-- New rows on the writer...
INSERT INTO items VALUES (5001, array_fill(100.5, ARRAY[16])::real[]::vector, 'fresh from the writer'),
                         (5002, array_fill(101.0, ARRAY[16])::real[]::vector, 'also fresh');
SQL
sleep 1.5
pgc_psql reader -a -d postgres <<'SQL'
-- ...are found on the reader a moment later, by its HNSW index (the writer
-- flushes within brainy.flush_interval, 200 ms here; the reader polls every
-- brainy.poll_interval, 1 s by default):
SELECT id, title, round((embedding <-> array_fill(100.7, ARRAY[16])::real[]::vector)::numeric, 2) AS distance
FROM items ORDER BY embedding <-> array_fill(100.7, ARRAY[16])::real[]::vector LIMIT 3;
EXPLAIN (COSTS OFF)
SELECT id FROM items ORDER BY embedding <-> array_fill(100.7, ARRAY[16])::real[]::vector LIMIT 3;
SELECT count(*) AS rows_on_reader FROM items;
SELECT collection, writer_id, applied_seq, lag_ms, state FROM brainy.subscriptions;
SQL
say "the mirror is written by replication only:"
pgc_psql reader -a -d postgres -c "INSERT INTO items VALUES (1, array_fill(0, ARRAY[16])::real[]::vector, 'nope')" || true
TOKEN=$(pgc_psql writer -At -d postgres -c "UPDATE items SET title = 'updated on the writer' WHERE id = 7" -c "SELECT brainy.flush()" | tail -n 1)
say "read-your-writes across nodes: brainy.flush() on the writer gave $TOKEN"
pgc_psql reader -a -d postgres <<SQL
SELECT brainy.wait_for('$TOKEN');
SELECT id, title FROM items WHERE id = 7;
SELECT jsonb_pretty(brainy.health()->'replication') AS replication_in_health;
SQL
echo
say "the bucket holds:"
find "$BUCKET_DIR" \( -name '*.json' -o -name '*.seg' \) | sed "s|$BUCKET_DIR/||; s|%d||g" | sort
pgc_stop reader
pgc_stop writer
say "done; the servers are stopped and their directories removed."
say "next: the README's Quick start, and 'bash test/all.sh' for the tests."
