-- Casts between vector and integer[], real[], double precision[], numeric[].

SELECT ARRAY[1,2,3]::vector;
SELECT ARRAY[1.5,2.25]::real[]::vector;
SELECT ARRAY[1.5,2.25]::double precision[]::vector;
SELECT ARRAY[1.5,2.25]::numeric[]::vector;
SELECT ARRAY[1,2,3]::vector(3);
SELECT ARRAY[1,2,3]::vector(2);
SELECT '{1,2,3}'::real[]::vector(4);

SELECT '[1,2.5,-3]'::vector::real[];
SELECT '[1,2.5,-3]'::vector::double precision[];
SELECT '[1,2.5,-3.5]'::vector::integer[];
SELECT '[0.1,2.5,-3]'::vector::numeric[];
-- assignment from an array, and the implicit cast to real[]
CREATE TABLE vc (v vector(2));
INSERT INTO vc VALUES (ARRAY[1,2]), ('{3,4}'::real[]);
SELECT v, array_length(v::real[], 1) FROM vc ORDER BY v;
DROP TABLE vc;

-- bad arrays
SELECT '{}'::integer[]::vector;
SELECT '{{1,2},{3,4}}'::integer[]::vector;
SELECT ARRAY[1,NULL,3]::vector;
SELECT ARRAY['NaN']::real[]::vector;
SELECT ARRAY['Infinity']::real[]::vector;
SELECT ARRAY['-Infinity']::double precision[]::vector;
SELECT ARRAY['NaN']::double precision[]::vector;
SELECT ARRAY['NaN']::numeric[]::vector;
SELECT ARRAY['Infinity']::numeric[]::vector;
SELECT ARRAY[1e39]::double precision[]::vector;
SELECT ARRAY[1e-50]::double precision[]::vector;
SELECT ARRAY[1e39]::numeric[]::vector;
SELECT array_fill(1, ARRAY[16001])::vector;
SELECT vector_dims(array_fill(1, ARRAY[16000])::vector);
SELECT ARRAY['1','2']::text[]::vector;

-- vector values that do not fit integer
SELECT '[3e9]'::vector::integer[];
SELECT '[-3e9]'::vector::integer[];
