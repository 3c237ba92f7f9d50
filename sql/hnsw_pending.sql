-- brainy_hnsw with fastupdate: inserts go to the pending list, scans find
-- pending rows exactly and merge them with the graph's results, the list
-- is linked into the graph by brainy_hnsw_merge_pending() and VACUUM, and
-- inserts past pending_list_limit link their rows themselves.
SET client_min_messages = warning;

CREATE TABLE hp (id int PRIMARY KEY, v vector(3));
INSERT INTO hp SELECT i, ARRAY[sin(i), cos(i * 7), sin(i * 13)]::vector
	FROM generate_series(1, 300) i;
CREATE INDEX hp_l2 ON hp USING brainy_hnsw (v vector_l2_ops) WITH (fastupdate = on);
CREATE INDEX hp_cos ON hp USING brainy_hnsw (v vector_cosine_ops) WITH (fastupdate = on, m = 4, ef_construction = 16);

-- the build links everything: nothing pending
SELECT j->>'n_live' AS live, j->>'pending' AS pending FROM brainy_hnsw_check('hp_l2') j;

-- rows inserted after the build wait in the pending list
INSERT INTO hp SELECT i, ARRAY[sin(i), cos(i * 7), sin(i * 13)]::vector
	FROM generate_series(301, 600) i;
INSERT INTO hp VALUES (601, NULL), (602, '[0,0,0]');
SELECT j->>'n_live' AS live, j->>'pending' AS pending, (j->>'pending_pages')::int > 0 AS pages
	FROM brainy_hnsw_check('hp_l2') j;
SELECT brainy_hnsw_pending_rows('hp_l2') AS unlinked;
-- the zero vector is not indexed under cosine
SELECT j->>'n_live' AS live, j->>'pending' AS pending FROM brainy_hnsw_check('hp_cos') j;

-- scans: the same top 10 as an exact scan, for queries near old and new rows
CREATE FUNCTION hp_same(q vector, ops text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	a int[];
	b int[];
BEGIN
	SET LOCAL enable_seqscan = off;
	SET LOCAL brainy.ef_search = 100;
	IF ops = 'l2' THEN
		SELECT array_agg(id) INTO a FROM (SELECT id FROM hp ORDER BY v <-> q LIMIT 10) s;
	ELSE
		SELECT array_agg(id) INTO a FROM (SELECT id FROM hp ORDER BY v <=> q LIMIT 10) s;
	END IF;
	SET LOCAL enable_indexscan = off;
	SET LOCAL enable_seqscan = on;
	IF ops = 'l2' THEN
		SELECT array_agg(id) INTO b FROM (SELECT id FROM hp ORDER BY v <-> q, id LIMIT 10) s;
	ELSE
		SELECT array_agg(id) INTO b FROM (SELECT id FROM hp WHERE v <> '[0,0,0]' ORDER BY v <=> q, id LIMIT 10) s;
	END IF;
	RETURN a = b;
END $$;
SELECT count(*) FILTER (WHERE hp_same(v, 'l2')) AS l2_same,
	count(*) FILTER (WHERE hp_same(v, 'cos')) AS cos_same, count(*) AS queries
FROM hp WHERE id % 30 = 0;
EXPLAIN (COSTS OFF) SELECT id FROM hp ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 3;

-- a row is returned once even while it is both pending and linked
SET enable_seqscan = off;
SELECT count(*) AS rows, count(DISTINCT id) AS ids
	FROM (SELECT id FROM hp ORDER BY v <-> '[0,1,0]' LIMIT 1000) s;
RESET enable_seqscan;

-- deleted and updated rows while pending
DELETE FROM hp WHERE id BETWEEN 301 AND 320;
UPDATE hp SET v = '[9,9,9]' WHERE id = 321;
SET enable_seqscan = off;
SELECT id FROM hp ORDER BY v <-> '[9,9,9]' LIMIT 1;
SELECT count(*) AS deleted_found FROM (SELECT id FROM hp ORDER BY v <-> '[0,1,0]' LIMIT 1000) s
	WHERE id BETWEEN 301 AND 320;
RESET enable_seqscan;

-- merging: part, then the rest
SELECT brainy_hnsw_merge_pending('hp_l2', 100) AS linked;
-- pending counts the head page's linked rows until it is emptied; this does not
SELECT brainy_hnsw_pending_rows('hp_l2') AS unlinked;
SELECT j->>'ok' AS ok, j->>'n_live' AS live, j->>'pending' AS pending FROM brainy_hnsw_check('hp_l2') j;
SELECT count(*) FILTER (WHERE hp_same(v, 'l2')) AS l2_same, count(*) AS queries
FROM hp WHERE id % 30 = 0;
SELECT brainy_hnsw_merge_pending('hp_l2') AS linked;
SELECT j->>'ok' AS ok, j->>'n_live' AS live, j->>'pending' AS pending,
	j->>'pending_pages' AS pages, j->>'n_unreachable' AS unreachable
	FROM brainy_hnsw_check('hp_l2') j;
SELECT brainy_hnsw_merge_pending('hp_l2') AS nothing_left;
SELECT brainy_hnsw_pending_rows('hp_l2') AS unlinked;
-- not a brainy_hnsw index, not an index, no such relation: NULL
SELECT brainy_hnsw_pending_rows('hp_pkey') IS NULL AS btree, brainy_hnsw_pending_rows('hp') IS NULL AS tbl,
	brainy_hnsw_pending_rows(0) IS NULL AS nothing;
SELECT count(*) FILTER (WHERE hp_same(v, 'l2')) AS l2_same, count(*) AS queries
FROM hp WHERE id % 30 = 0;

-- emptied pages are reused by the next appends
SELECT (j->>'pages')::int AS pages_before FROM brainy_hnsw_check('hp_l2') j \gset
INSERT INTO hp SELECT i, ARRAY[cos(i), sin(i * 3), cos(i * 5)]::vector
	FROM generate_series(1001, 1100) i;
SELECT (j->>'pages')::int = :pages_before AS no_new_pages, j->>'pending' AS pending
	FROM brainy_hnsw_check('hp_l2') j;

-- VACUUM drops the dead pending rows and links the others
DELETE FROM hp WHERE id BETWEEN 1001 AND 1010;
VACUUM hp;
SELECT j->>'ok' AS ok, j->>'n_live' AS live, j->>'pending' AS pending FROM brainy_hnsw_check('hp_l2') j;
SELECT j->>'ok' AS ok, j->>'n_live' AS live, j->>'pending' AS pending FROM brainy_hnsw_check('hp_cos') j;
SELECT count(*) FILTER (WHERE hp_same(v, 'l2')) AS l2_same,
	count(*) FILTER (WHERE hp_same(v, 'cos')) AS cos_same, count(*) AS queries
FROM hp WHERE id % 30 = 0;

-- pending_list_limit: past it, inserts link their rows themselves
CREATE TABLE hl (id int, v vector(3));
CREATE INDEX hl_idx ON hl USING brainy_hnsw (v vector_l2_ops) WITH (fastupdate = on, pending_list_limit = 64);
INSERT INTO hl SELECT i, ARRAY[sin(i), cos(i), i / 1000.0]::vector FROM generate_series(1, 5000) i;
SELECT (j->>'pending')::int * 24 <= 64 * 1024 + 24 AS bounded,
	(j->>'pending')::int + (j->>'n_live')::int AS total FROM brainy_hnsw_check('hl_idx') j;
-- fastupdate off again: new rows go to the graph, the list stays until merged
ALTER INDEX hl_idx SET (fastupdate = off);
INSERT INTO hl VALUES (5001, '[1,1,1]');
SET enable_seqscan = off;
SELECT id FROM hl ORDER BY v <-> '[1,1,1]' LIMIT 1;
RESET enable_seqscan;
SELECT brainy_hnsw_merge_pending('hl_idx') > 0 AS linked;
SELECT j->>'ok' AS ok, j->>'n_live' AS live, j->>'pending' AS pending FROM brainy_hnsw_check('hl_idx') j;

-- bad options and arguments
CREATE INDEX ON hl USING brainy_hnsw (v vector_l2_ops) WITH (fastupdate = maybe);
CREATE INDEX ON hl USING brainy_hnsw (v vector_l2_ops) WITH (pending_list_limit = 10);
SELECT brainy_hnsw_merge_pending('hl_idx', -1);
SELECT brainy_hnsw_merge_pending('hl');
SELECT brainy_hnsw_merge_pending('hp_pkey');
SELECT brainy_hnsw_merge_pending(0);
-- wrong dimensions are refused on the pending path too
INSERT INTO hp VALUES (2000, '[1,2]');
INSERT INTO hp VALUES (2000, '[1,2,3,4]');

-- only the table's owner merges
CREATE ROLE hp_other;
GRANT SELECT, INSERT ON hp TO hp_other;
SET ROLE hp_other;
INSERT INTO hp VALUES (3000, '[3,3,3]');
SELECT brainy_hnsw_merge_pending('hp_l2');
-- with SELECT on the table it sees the count; without, NULL
SELECT brainy_hnsw_pending_rows('hp_l2') AS unlinked;
RESET ROLE;
REVOKE SELECT ON hp FROM hp_other;
SET ROLE hp_other;
SELECT brainy_hnsw_pending_rows('hp_l2') IS NULL AS hidden;
RESET ROLE;
DROP OWNED BY hp_other;
DROP ROLE hp_other;

-- a large vector fills pages of its own: 2,000 dimensions, 1 per page
CREATE TABLE hb (id int, v vector(2000));
CREATE INDEX hb_idx ON hb USING brainy_hnsw (v vector_l2_ops) WITH (fastupdate = on);
INSERT INTO hb SELECT i, (SELECT array_agg(sin(i * k)) FROM generate_series(1, 2000) k)::vector
	FROM generate_series(1, 5) i;
SELECT j->>'pending' AS pending, j->>'pending_pages' AS pages FROM brainy_hnsw_check('hb_idx') j;
SET enable_seqscan = off;
SELECT id FROM hb ORDER BY v <-> (SELECT v FROM hb WHERE id = 4) LIMIT 2;
RESET enable_seqscan;
VACUUM hb;
SELECT j->>'ok' AS ok, j->>'n_live' AS live, j->>'pending' AS pending FROM brainy_hnsw_check('hb_idx') j;

DROP TABLE hp, hl, hb;
DROP FUNCTION hp_same(vector, text);
