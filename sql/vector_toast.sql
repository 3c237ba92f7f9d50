-- Vectors stored compressed or out of line (TOAST): distances must be the
-- same as on plain values, also when the query vector itself comes from a
-- table (and is detoasted once per call site and reused) and when it changes
-- between rescans (LATERAL).

CREATE TABLE vtoast (id int PRIMARY KEY, v vector);
-- 700 dims, mostly zeros: compressed inline under the default storage (main)
INSERT INTO vtoast
SELECT i, (SELECT array_agg(CASE WHEN j % 50 = i % 50 THEN i + j ELSE 0 END)
		   FROM generate_series(1, 700) j)::vector
FROM generate_series(1, 40) i;
-- 5000 dims: too large for a page, moved out of line
INSERT INTO vtoast
SELECT i, (SELECT array_agg(sin(i * j)) FROM generate_series(1, 5000) j)::vector
FROM generate_series(41, 60) i;
-- 700 dims stored out of line without compression
CREATE TABLE vtoast_ext (id int PRIMARY KEY, v vector);
ALTER TABLE vtoast_ext ALTER COLUMN v SET STORAGE external;
INSERT INTO vtoast_ext SELECT id, v::real[]::vector FROM vtoast WHERE id <= 40;

SELECT count(*) FILTER (WHERE pg_column_compression(v) IS NOT NULL) AS compressed,
	   count(*) FILTER (WHERE vector_dims(v) = 5000) AS large
FROM vtoast;
SELECT pg_relation_size(reltoastrelid) > 40 * 2800 AS ext_toasted
FROM pg_class WHERE relname = 'vtoast_ext';

-- the query vector from a subquery: the nearest is the row itself
SELECT id, v <-> (SELECT v FROM vtoast WHERE id = 7) AS d
FROM vtoast WHERE id <= 40 ORDER BY d, id LIMIT 3;
SELECT id, v <-> (SELECT v FROM vtoast WHERE id = 50) AS d
FROM vtoast WHERE id > 40 ORDER BY d, id LIMIT 1;
SELECT id, (SELECT v FROM vtoast_ext WHERE id = 7) <=> v AS d
FROM vtoast_ext ORDER BY d, id LIMIT 1;

-- every distance through TOAST equals the one on plain copies (the casts
-- through real[] build fresh, plain values)
CREATE FUNCTION toast_mismatches(tab regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	EXECUTE format($q$
		SELECT count(*) FROM %1$s a, %1$s b
		WHERE vector_dims(a.v) = vector_dims(b.v) AND (
			a.v <-> b.v <> a.v::real[]::vector <-> b.v::real[]::vector OR
			a.v <#> b.v <> a.v::real[]::vector <#> b.v::real[]::vector OR
			a.v <+> b.v <> a.v::real[]::vector <+> b.v::real[]::vector OR
			(a.v <=> b.v <> a.v::real[]::vector <=> b.v::real[]::vector))$q$, tab)
	INTO n;
	RETURN n;
END $$;
SELECT toast_mismatches('vtoast'), toast_mismatches('vtoast_ext');

-- the query vector changes between rescans: LATERAL nearest neighbour
SELECT count(*) AS rows,
	   count(*) FILTER (WHERE nn = expected) AS correct
FROM vtoast a,
	 LATERAL (SELECT b.id AS nn FROM vtoast b
			  WHERE b.id <> a.id AND vector_dims(b.v) = vector_dims(a.v)
			  ORDER BY b.v <-> a.v, b.id LIMIT 1) l,
	 LATERAL (SELECT b.id AS expected FROM vtoast b
			  WHERE b.id <> a.id AND vector_dims(b.v) = vector_dims(a.v)
			  ORDER BY b.v::real[]::vector <-> a.v::real[]::vector, b.id LIMIT 1) e;

DROP FUNCTION toast_mismatches(regclass);
DROP TABLE vtoast, vtoast_ext;
