-- brainy_hnsw with quantization = sq8: slots keep an 8-bit code, the graph
-- is searched on codes and the candidates re-ranked with the full vectors.
-- Checked: option values, the automatic choice by dimensions, results equal
-- to the exact scan on small tables with each operator class, the
-- quantizer trained at CREATE INDEX or by the insert that brings the 1000th
-- vector, inserts, deletes + VACUUM, REINDEX, 3000 and 7000 dimensions, and
-- full vectors in vector pages up to 16,000 dimensions.
SET client_min_messages = warning;

CREATE TABLE hq (id int, v vector(24));
INSERT INTO hq SELECT i, (SELECT array_agg(sin(i * 0.7 + j * 1.3 + (i % 5) * j)::real)
	FROM generate_series(1, 24) j)::vector
	FROM generate_series(1, 1500) i;

-- option values
CREATE INDEX ON hq USING brainy_hnsw (v vector_l2_ops) WITH (quantization = pq);
CREATE INDEX ON hq USING brainy_hnsw (v vector_l2_ops) WITH (quantization = '');

-- exact-scan equality for every operator class: with a wide search the
-- re-ranked results are the true nearest neighbours (compared by distance,
-- so rows at equal distances may come in either order)
CREATE FUNCTION hq_same(q vector, op text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE a numeric[]; b numeric[];
BEGIN
	SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off;
	EXECUTE format('SELECT array_agg(round(d::numeric, 4) ORDER BY d) FROM (SELECT v %s $1 AS d FROM hq ORDER BY v %s $1 LIMIT 10) s', op, op) INTO a USING q;
	SET LOCAL enable_indexscan = on; SET LOCAL enable_seqscan = off;
	EXECUTE format('SELECT array_agg(round(d::numeric, 4)) FROM (SELECT v %s $1 AS d FROM hq ORDER BY v %s $1 LIMIT 10) s', op, op) INTO b USING q;
	RETURN a = b;
END $$;

SET brainy.ef_search = 200;
CREATE INDEX hq_l2 ON hq USING brainy_hnsw (v vector_l2_ops) WITH (quantization = sq8);
SELECT j->>'ok' AS ok, j->>'quantization' AS quantization, j->>'trained' AS trained, j->>'n_live' AS live
FROM brainy_hnsw_check('hq_l2') j;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM hq ORDER BY v <-> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24]' LIMIT 5;
RESET enable_seqscan;
SELECT count(*) FILTER (WHERE hq_same(v, '<->')) AS same, count(*) AS queries FROM hq WHERE id % 100 = 7;
DROP INDEX hq_l2;
CREATE INDEX hq_ip ON hq USING brainy_hnsw (v vector_ip_ops) WITH (quantization = sq8);
SELECT count(*) FILTER (WHERE hq_same(v, '<#>')) AS same, count(*) AS queries FROM hq WHERE id % 100 = 7;
DROP INDEX hq_ip;
CREATE INDEX hq_cos ON hq USING brainy_hnsw (v vector_cosine_ops) WITH (quantization = sq8);
SELECT count(*) FILTER (WHERE hq_same(v, '<=>')) AS same, count(*) AS queries FROM hq WHERE id % 100 = 7;
DROP INDEX hq_cos;
CREATE INDEX hq_l1 ON hq USING brainy_hnsw (v vector_l1_ops) WITH (quantization = sq8);
SELECT count(*) FILTER (WHERE hq_same(v, '<+>')) AS same, count(*) AS queries FROM hq WHERE id % 100 = 7;

-- deletes, VACUUM, inserts after the build, REINDEX
DELETE FROM hq WHERE id % 4 = 0;
VACUUM hq;
INSERT INTO hq SELECT i, (SELECT array_agg(cos(i * 0.3 + j * 0.9)::real)
	FROM generate_series(1, 24) j)::vector
	FROM generate_series(2001, 2300) i;
SELECT j->>'ok' AS ok, j->>'n_live' AS live, j->>'n_deleted' AS deleted FROM brainy_hnsw_check('hq_l1') j;
SELECT count(*) FILTER (WHERE hq_same(v, '<+>')) AS same, count(*) AS queries FROM hq WHERE id % 100 IN (7, 50);
REINDEX INDEX hq_l1;
SELECT j->>'ok' AS ok, j->>'n_live' AS live, j->>'n_deleted' AS deleted FROM brainy_hnsw_check('hq_l1') j;
SELECT count(*) FILTER (WHERE hq_same(v, '<+>')) AS same, count(*) AS queries FROM hq WHERE id % 100 IN (7, 50);
DROP INDEX hq_l1;

-- an index built empty is trained by the insert that brings 1000 vectors;
-- the first 999 nodes keep no code and are scored with full vectors
TRUNCATE hq;
CREATE INDEX hq_l2 ON hq USING brainy_hnsw (v vector_l2_ops) WITH (quantization = sq8);
INSERT INTO hq SELECT i, (SELECT array_agg(sin(i * 0.7 + j * 1.3 + (i % 5) * j)::real)
	FROM generate_series(1, 24) j)::vector
	FROM generate_series(1, 999) i;
SELECT j->>'trained' AS trained, j->>'n_live' AS live FROM brainy_hnsw_check('hq_l2') j;
SELECT count(*) FILTER (WHERE hq_same(v, '<->')) AS same, count(*) AS queries FROM hq WHERE id % 100 = 7;
INSERT INTO hq SELECT i, (SELECT array_agg(sin(i * 0.7 + j * 1.3 + (i % 5) * j)::real)
	FROM generate_series(1, 24) j)::vector
	FROM generate_series(1000, 1600) i;
SELECT j->>'ok' AS ok, j->>'trained' AS trained, j->>'n_live' AS live FROM brainy_hnsw_check('hq_l2') j;
SELECT count(*) FILTER (WHERE hq_same(v, '<->')) AS same, count(*) AS queries FROM hq WHERE id % 100 = 7;

-- more dimensions than a full-precision slot holds: auto chooses sq8
CREATE TABLE hq_big (id int, v vector(3000));
INSERT INTO hq_big SELECT i, (SELECT array_agg(sin(i * 0.37 + j * 0.011 + (i % 7) * j * 0.001)::real)
	FROM generate_series(1, 3000) j)::vector
	FROM generate_series(1, 1200) i;
CREATE INDEX hq_big_idx ON hq_big USING brainy_hnsw (v vector_l2_ops);
SELECT j->>'ok' AS ok, j->>'quantization' AS quantization, j->>'trained' AS trained, j->>'dim' AS dim
FROM brainy_hnsw_check('hq_big_idx') j;
SET enable_seqscan = off;
SELECT count(*) AS found_itself FROM hq_big q
WHERE q.id % 100 = 3 AND (SELECT id FROM hq_big ORDER BY v <-> q.v LIMIT 1) = q.id;
RESET enable_seqscan;
-- vectors spanning several vector pages
CREATE TABLE hq_huge (id int, v vector(7000));
INSERT INTO hq_huge SELECT i, (SELECT array_agg(((i * 31 + j * 17) % 97)::real) FROM generate_series(1, 7000) j)::vector
	FROM generate_series(1, 30) i;
CREATE INDEX hq_huge_idx ON hq_huge USING brainy_hnsw (v vector_l2_ops) WITH (m = 8);
SELECT j->>'ok' AS ok, j->>'quantization' AS quantization, j->>'n_live' AS live FROM brainy_hnsw_check('hq_huge_idx') j;
SET enable_seqscan = off;
SELECT count(*) AS found_itself FROM hq_huge q
WHERE (SELECT id FROM hq_huge ORDER BY v <-> q.v LIMIT 1) = q.id;
RESET enable_seqscan;
-- past what a code fits (about 8,000 dimensions at m = 16): sq8 refuses,
-- auto and none keep full vectors in vector pages, up to 16,000 dimensions
CREATE TABLE hq_max (id int, v vector(16000));
CREATE INDEX ON hq_max USING brainy_hnsw (v vector_l2_ops) WITH (quantization = sq8);
INSERT INTO hq_max SELECT i, (SELECT array_agg((((j * 3) % 11) + i * 0.5)::real) FROM generate_series(1, 16000) j)::vector
	FROM generate_series(1, 20) i;
CREATE INDEX hq_max_idx ON hq_max USING brainy_hnsw (v vector_l2_ops);
SELECT j->>'ok' AS ok, j->>'quantization' AS quantization, j->>'vectors' AS vectors, j->>'n_live' AS live
FROM brainy_hnsw_check('hq_max_idx') j;
INSERT INTO hq_max SELECT i, (SELECT array_agg((((j * 5) % 13) + i * 0.5)::real) FROM generate_series(1, 16000) j)::vector
	FROM generate_series(21, 30) i;
SET enable_seqscan = off;
SELECT count(*) AS found_itself FROM hq_max q
WHERE (SELECT id FROM hq_max ORDER BY v <-> q.v LIMIT 1) = q.id;
-- freed slots are reused, the new vectors written over the old ones
DELETE FROM hq_max WHERE id > 20;
VACUUM hq_max;
INSERT INTO hq_max SELECT i, (SELECT array_agg((((j * 5) % 17) + i * 0.5)::real) FROM generate_series(1, 16000) j)::vector
	FROM generate_series(31, 40) i;
SELECT j->>'ok' AS ok, j->>'n_nodes' AS nodes, j->>'n_live' AS live FROM brainy_hnsw_check('hq_max_idx') j;
SELECT count(*) AS found_itself FROM hq_max q
WHERE (SELECT id FROM hq_max ORDER BY v <-> q.v LIMIT 1) = q.id;
RESET enable_seqscan;

DROP TABLE hq, hq_big, hq_huge, hq_max;
DROP FUNCTION hq_same(vector, text);
