-- brainy_hnsw: creation, options, plans, exactness on a small table,
-- inserts after build, deletes + VACUUM, iterative scans, NULL and zero
-- vectors, limits.
SET client_min_messages = warning;

CREATE TABLE hv (id int, v vector(3));
INSERT INTO hv SELECT i, ARRAY[sin(i), cos(i * 7), sin(i * 13)]::vector
	FROM generate_series(1, 600) i;
INSERT INTO hv VALUES (1000, NULL), (1001, '[0,0,0]');

-- one index per operator class, with and without options
CREATE INDEX hv_l2 ON hv USING brainy_hnsw (v vector_l2_ops);
CREATE INDEX hv_ip ON hv USING brainy_hnsw (v vector_ip_ops) WITH (m = 8, ef_construction = 32);
CREATE INDEX hv_cos ON hv USING brainy_hnsw (v vector_cosine_ops) WITH (m = 2, ef_construction = 4);
CREATE INDEX hv_l1 ON hv USING brainy_hnsw (v vector_l1_ops) WITH (ef_construction = 100);
SELECT c.relname, r.j->>'ok' AS ok, r.j->>'metric' AS metric, r.j->>'m' AS m,
	r.j->>'ef_construction' AS efc, r.j->>'n_live' AS live,
	r.j->>'n_unreachable' AS unreachable
FROM pg_class c, LATERAL (SELECT brainy_hnsw_check(c.oid) AS j) r
WHERE c.relname LIKE 'hv\_%' ORDER BY 1;

-- option and type errors
CREATE INDEX ON hv USING brainy_hnsw (v vector_l2_ops) WITH (m = 1);
CREATE INDEX ON hv USING brainy_hnsw (v vector_l2_ops) WITH (m = 101);
CREATE INDEX ON hv USING brainy_hnsw (v vector_l2_ops) WITH (ef_construction = 3);
CREATE INDEX ON hv USING brainy_hnsw (v vector_l2_ops) WITH (m = 40, ef_construction = 64);
CREATE INDEX ON hv USING brainy_hnsw (v vector_l2_ops) WITH (lists = 4);
CREATE INDEX ON hv USING brainy_hnsw (v);
CREATE INDEX ON hv USING brainy_hnsw (id vector_l2_ops);
CREATE INDEX ON hv USING brainy_hnsw (id);
ALTER INDEX hv_l2 SET (m = 200);

-- the index serves ORDER BY <op> LIMIT only
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM hv ORDER BY v <-> '[0.1,0.2,0.3]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM hv ORDER BY v <#> '[0.1,0.2,0.3]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM hv ORDER BY v <=> '[0.1,0.2,0.3]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM hv ORDER BY v <+> '[0.1,0.2,0.3]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM hv WHERE v = '[0.1,0.2,0.3]';
EXPLAIN (COSTS OFF) SELECT id FROM hv ORDER BY v LIMIT 5;

-- with a wide search the index gives the exact answer
SET brainy.ef_search = 1000;
CREATE FUNCTION hv_same(q vector) RETURNS TABLE (op text, same bool) LANGUAGE sql AS $$
	SELECT '<->', (SELECT array_agg(id) FROM (SELECT id FROM hv ORDER BY v <-> q LIMIT 10) s)
		= (SELECT array_agg(id) FROM (SELECT id FROM hv ORDER BY (v <-> q) + 0 LIMIT 10) s)
	UNION ALL
	SELECT '<#>', (SELECT array_agg(id) FROM (SELECT id FROM hv ORDER BY v <#> q LIMIT 10) s)
		= (SELECT array_agg(id) FROM (SELECT id FROM hv ORDER BY (v <#> q) + 0 LIMIT 10) s)
	UNION ALL
	SELECT '<=>', (SELECT array_agg(id) FROM (SELECT id FROM hv ORDER BY v <=> q LIMIT 10) s)
		= (SELECT array_agg(id) FROM (SELECT id FROM hv WHERE v <> '[0,0,0]' ORDER BY (v <=> q) + 0 LIMIT 10) s)
	UNION ALL
	SELECT '<+>', (SELECT array_agg(id) FROM (SELECT id FROM hv ORDER BY v <+> q LIMIT 10) s)
		= (SELECT array_agg(id) FROM (SELECT id FROM hv ORDER BY (v <+> q) + 0 LIMIT 10) s)
$$;
SELECT * FROM hv_same('[0.1,0.2,0.3]');
SELECT * FROM hv_same('[-0.9,0.4,0.05]');

-- NULL and zero vectors: not indexed (the zero vector is indexed by l2/ip/l1)
SELECT count(*) FROM (SELECT id FROM hv ORDER BY v <-> '[0,0,0]' LIMIT 1000) s;
SELECT count(*) FROM (SELECT id FROM hv ORDER BY v <=> '[1,1,1]' LIMIT 1000) s;
SELECT count(*) FROM (SELECT id FROM hv ORDER BY v <=> '[0,0,0]' LIMIT 5) s;
SELECT count(*) FROM (SELECT id FROM hv ORDER BY v <-> NULL LIMIT 5) s;
SELECT id FROM hv ORDER BY v <-> '[1,2]' LIMIT 1;

-- inserts after the build
INSERT INTO hv SELECT i, ARRAY[sin(i), cos(i * 7), sin(i * 13)]::vector
	FROM generate_series(601, 900) i;
INSERT INTO hv VALUES (1002, NULL), (1003, '[0,0,0]');
-- (incremental inserts under ip and cosine at tiny m can leave nodes
-- unreachable until VACUUM reconnects them: check l2 and l1 here)
SELECT * FROM hv_same('[0.1,0.2,0.3]') WHERE op IN ('<->', '<+>');
SELECT * FROM hv_same('[0.7,-0.2,0.5]') WHERE op IN ('<->', '<+>');
SELECT j->>'ok' AS ok, j->>'n_live' AS live FROM brainy_hnsw_check('hv_l2') j;
SELECT j->>'ok' AS ok, j->>'n_live' AS live FROM brainy_hnsw_check('hv_cos') j;
-- a VACUUM with nothing to delete still relinks unreachable nodes, after
-- which all four operators give the exact answer again
VACUUM hv;
SELECT c.relname, r.j->>'ok' AS ok, r.j->>'n_unreachable' AS unreachable
FROM pg_class c, LATERAL (SELECT brainy_hnsw_check(c.oid) AS j) r
WHERE c.relname LIKE 'hv\_%' ORDER BY 1;
SELECT * FROM hv_same('[0.1,0.2,0.3]');
SELECT * FROM hv_same('[0.7,-0.2,0.5]');

-- deletes and VACUUM: deleted rows are never returned, the others are found
DELETE FROM hv WHERE id % 3 = 0;
VACUUM hv;
SELECT j->>'ok' AS ok, j->>'n_live' AS live, j->>'n_deleted' AS deleted,
	j->>'n_dangling' AS dangling, j->>'n_unreachable' AS unreachable
FROM brainy_hnsw_check('hv_l2') j;
SELECT * FROM hv_same('[0.1,0.2,0.3]');
SELECT * FROM hv_same('[-0.3,-0.6,0.1]');
SELECT count(*) FROM (SELECT id FROM hv ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 1000) s WHERE id % 3 = 0;
SELECT count(*) FROM (SELECT id FROM hv ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 1000) s;
-- every row finds itself
SELECT count(*) FROM hv a WHERE v IS NOT NULL AND NOT EXISTS
	(SELECT 1 FROM (SELECT id FROM hv b ORDER BY b.v <-> a.v LIMIT 3) s WHERE s.id = a.id);
INSERT INTO hv SELECT i, ARRAY[sin(i), cos(i * 7), sin(i * 13)]::vector
	FROM generate_series(2001, 2100) i;
SELECT * FROM hv_same('[0.2,0.2,-0.3]') WHERE op IN ('<->', '<+>');

-- filtered queries: iterative scans fill the LIMIT
SET brainy.ef_search = 10;
SELECT count(*) FROM (SELECT id FROM hv WHERE id % 10 = 1 ORDER BY v <-> '[0.1,0.2,0.3]' LIMIT 20) s;
SET brainy.iterative_scan = relaxed_order;
SELECT count(*) FROM (SELECT id FROM hv WHERE id % 10 = 1 ORDER BY v <-> '[0.1,0.2,0.3]' LIMIT 20) s;
SET brainy.iterative_scan = strict_order;
SELECT count(*) FROM (SELECT id FROM hv WHERE id % 10 = 1 ORDER BY v <-> '[0.1,0.2,0.3]' LIMIT 20) s;
-- strict order: distances never decrease
SELECT bool_and(d >= prev) FROM (SELECT d, lag(d, 1, 0) OVER (ORDER BY n) AS prev
	FROM (SELECT row_number() OVER () AS n, d FROM
		(SELECT v <-> '[0.1,0.2,0.3]' AS d FROM hv WHERE id % 10 = 1 ORDER BY v <-> '[0.1,0.2,0.3]' LIMIT 50) s) t) u;
SET brainy.max_scan_tuples = 10;
SELECT count(*) <= 20 FROM (SELECT id FROM hv WHERE id % 10 = 1 ORDER BY v <-> '[0.1,0.2,0.3]' LIMIT 20) s;
RESET brainy.max_scan_tuples;
RESET brainy.iterative_scan;
SET brainy.iterative_scan = sometimes;
SET brainy.ef_search = 0;
SET brainy.ef_search = 1001;
SET brainy.nonexistent = 1;
RESET brainy.ef_search;
SHOW brainy.ef_search;
SHOW brainy.iterative_scan;
SHOW brainy.max_scan_tuples;

-- limits: a vector that does not fit a slot at m = 16 goes to vector pages
-- (still full precision, see hnsw_quant), one that fits at m = 4 stays in
-- the slot; columns without dimensions
CREATE TABLE hv_big (v vector(2000));
CREATE INDEX hv_big_16 ON hv_big USING brainy_hnsw (v vector_l2_ops);
CREATE INDEX hv_big_4 ON hv_big USING brainy_hnsw (v vector_l2_ops) WITH (m = 4);
SELECT c.relname, j->>'quantization' AS quantization, j->>'vectors' AS vectors
FROM pg_class c, LATERAL brainy_hnsw_check(c.oid) j
WHERE c.relname LIKE 'hv\_big\_%' ORDER BY 1;
CREATE TABLE hv_nodim (v vector);
CREATE INDEX ON hv_nodim USING brainy_hnsw (v vector_l2_ops);

-- unlogged tables, empty tables, REINDEX, TRUNCATE
CREATE UNLOGGED TABLE hv_unlogged (id int, v vector(2));
CREATE INDEX hv_unlogged_idx ON hv_unlogged USING brainy_hnsw (v vector_l2_ops);
INSERT INTO hv_unlogged SELECT i, ARRAY[i, i % 7] FROM generate_series(1, 100) i;
SELECT id FROM hv_unlogged ORDER BY v <-> '[50,3]' LIMIT 3;
TRUNCATE hv_unlogged;
SELECT count(*) FROM (SELECT id FROM hv_unlogged ORDER BY v <-> '[50,3]' LIMIT 3) s;
INSERT INTO hv_unlogged VALUES (1, '[1,1]');
REINDEX INDEX hv_unlogged_idx;
SELECT id FROM hv_unlogged ORDER BY v <-> '[50,3]' LIMIT 3;

-- VACUUM frees the slots of deleted rows; new rows reuse them (the node
-- count and the size stay), and every row is still found
CREATE TABLE hv_reuse (id int, v vector(8)) WITH (autovacuum_enabled = off);
INSERT INTO hv_reuse SELECT i, (SELECT array_agg(sin(i * 0.9 + j * 1.7)::real)
	FROM generate_series(1, 8) j)::vector FROM generate_series(1, 2000) i;
CREATE INDEX hv_reuse_idx ON hv_reuse USING brainy_hnsw (v vector_l2_ops) WITH (m = 8);
SELECT pg_relation_size('hv_reuse_idx') AS size_before \gset
DELETE FROM hv_reuse WHERE id % 2 = 0;
VACUUM hv_reuse;
INSERT INTO hv_reuse SELECT i, (SELECT array_agg(sin(i * 0.9 + j * 1.7)::real)
	FROM generate_series(1, 8) j)::vector FROM generate_series(2001, 2900) i;
SELECT j->>'ok' AS ok, j->>'n_nodes' AS nodes, j->>'n_live' AS live, j->>'n_deleted' AS deleted
FROM brainy_hnsw_check('hv_reuse_idx') j;
SELECT pg_relation_size('hv_reuse_idx') <= :size_before + 2 * 8192 AS size_kept;
SET enable_seqscan = off;
SET brainy.ef_search = 200;
SELECT count(*) FILTER (WHERE (SELECT id FROM hv_reuse ORDER BY v <-> q.v LIMIT 1) = q.id) AS found,
	count(*) AS rows FROM hv_reuse q WHERE q.id % 10 = 3;
RESET enable_seqscan;
RESET brainy.ef_search;

DROP TABLE hv, hv_big, hv_nodim, hv_unlogged, hv_reuse;
DROP FUNCTION hv_same(vector);
