-- The type modifier vector(n): its limits and its enforcement.

SELECT '[1,2,3]'::vector(3);
SELECT '[1,2]'::vector(3);
SELECT '[1,2,3,4]'::vector(3);
SELECT '[1,2,3]'::vector::vector(3);
SELECT '[1,2]'::vector::vector(3);

-- bad modifiers
CREATE TABLE vt0 (v vector(0));
CREATE TABLE vt_neg (v vector(-1));
CREATE TABLE vt_big (v vector(16001));
CREATE TABLE vt_two (v vector(3, 2));
CREATE TABLE vt_text (v vector('a'));
CREATE TABLE vt_max (v vector(16000));
DROP TABLE vt_max;

-- enforced on insert, update and COPY
CREATE TABLE vt (id int, v vector(3));
\d vt
INSERT INTO vt VALUES (1, '[1,2,3]');
INSERT INTO vt VALUES (2, '[1,2]');
INSERT INTO vt VALUES (3, '[1,2,3]'::vector(3) || '[4]');
UPDATE vt SET v = '[1,2,3,4]' WHERE id = 1;
COPY vt FROM stdin;
4	[1,2]
\.
INSERT INTO vt VALUES (5, ARRAY[1,2,3,4]);
SELECT * FROM vt ORDER BY id;
DROP TABLE vt;

-- the modifier as the catalogs show it
CREATE TABLE vt_fmt (a vector(3), b vector);
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'vt_fmt'::regclass AND attnum > 0 ORDER BY attnum;
DROP TABLE vt_fmt;
