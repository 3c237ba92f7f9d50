-- Comparison operators, btree and hash support: ORDER BY, DISTINCT,
-- GROUP BY, unique indexes, hash and merge joins.

SELECT '[1,2]'::vector = '[1,2]', '[1,2]'::vector <> '[1,2]',
	   '[1,2]'::vector < '[1,3]', '[1,2]'::vector <= '[1,2]',
	   '[2]'::vector > '[1,9]', '[1,2]'::vector >= '[1,2,0]';
-- a prefix sorts first; -0 equals 0
SELECT '[1,2]'::vector < '[1,2,3]', '[-0]'::vector = '[0]';
SELECT vector_cmp('[1,2]', '[1,2]'), vector_cmp('[1]', '[2]'), vector_cmp('[3]', '[2]');

CREATE TABLE vcmp (id int, v vector);
INSERT INTO vcmp VALUES (1, '[3,1]'), (2, '[1,2]'), (3, '[1,2,0]'), (4, '[1,2]'),
	(5, '[-1,5]'), (6, '[0,0]'), (7, '[-0,0]'), (8, NULL);
SELECT id, v FROM vcmp ORDER BY v, id;
SELECT id, v FROM vcmp ORDER BY v DESC NULLS LAST, id;
SELECT count(DISTINCT v) FROM vcmp;
SELECT v, count(*) FROM vcmp GROUP BY v ORDER BY v;

-- hash aggregation and hash joins give the same groups as sorting
SET enable_sort = off;
SET enable_hashagg = on;
EXPLAIN (COSTS OFF) SELECT v, count(*) FROM vcmp GROUP BY v;
SELECT v, count(*) FROM vcmp GROUP BY v ORDER BY 2 DESC, 1;
RESET enable_sort;
SET enable_mergejoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT a.id, b.id FROM vcmp a JOIN vcmp b ON a.v = b.v;
SELECT a.id, b.id FROM vcmp a JOIN vcmp b ON a.v = b.v WHERE a.id < b.id ORDER BY 1, 2;
RESET enable_mergejoin;
RESET enable_nestloop;
RESET enable_hashagg;

-- the hash function folds -0 into 0 and the extended one honours its seed
SELECT vector_hash('[0,1]') = vector_hash('[-0,1]') AS same_hash,
	   vector_hash('[1,2]') <> vector_hash('[2,1]') AS differs,
	   (vector_hash_extended('[1,2]', 0) & 4294967295) =
		   (vector_hash('[1,2]')::bigint & 4294967295) AS extended_low_bits,
	   vector_hash_extended('[1,2]', 1) <> vector_hash_extended('[1,2]', 0) AS seeded;

-- btree and unique indexes
CREATE INDEX ON vcmp (v);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM vcmp WHERE v = '[1,2]';
SELECT id FROM vcmp WHERE v = '[1,2]' ORDER BY id;
SELECT id FROM vcmp WHERE v > '[1,2]' ORDER BY v, id;
RESET enable_seqscan;
CREATE UNIQUE INDEX vcmp_unique ON vcmp (v);
DELETE FROM vcmp WHERE id IN (4, 7);
CREATE UNIQUE INDEX vcmp_unique ON vcmp (v);
INSERT INTO vcmp VALUES (9, '[1,2]');
INSERT INTO vcmp VALUES (10, '[-0,0]');
CREATE INDEX vcmp_hash ON vcmp USING hash (v);
SET enable_seqscan = off;
SELECT id FROM vcmp WHERE v = '[3,1]';
RESET enable_seqscan;
DROP TABLE vcmp;
