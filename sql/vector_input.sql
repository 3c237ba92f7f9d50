-- Text input and output of vector: accepted forms and every malformed one.

-- accepted forms, white space tolerated around every token
SELECT '[1,2,3]'::vector;
SELECT '[1,2.5,-3e-2]'::vector;
SELECT '  [ 1 , 2.5 ,  -3 ]  '::vector;
SELECT E'\t[\n1,\t2\n]\n'::vector;
SELECT '[+1,-0,.5,5.,1E2,1e+2,0x10]'::vector;
SELECT '[1.17549435e-38,3.4028235e38,-3.4028235e38]'::vector;
-- shortest output that reads back exactly
SELECT '[0.1,0.2,0.3,1.0000001,123456789]'::vector;
SELECT v::text::vector = v AS round_trip
FROM (SELECT '[0.1,3.1415927,-2.7182817,1e-30,6.02214e23]'::vector AS v) s;
-- tiny values underflow to zero or a denormal like float4 input
SELECT '[1e-45,1e-50]'::vector;

-- malformed text
SELECT '[1,2'::vector;
SELECT '[1,,2]'::vector;
SELECT '[]'::vector;
SELECT '[ ]'::vector;
SELECT '1,2'::vector;
SELECT '[a]'::vector;
SELECT '[1,2]x'::vector;
SELECT '[1,2] ]'::vector;
SELECT '[1,2],[3]'::vector;
SELECT '[1 2]'::vector;
SELECT '[1,]'::vector;
SELECT '[,1]'::vector;
SELECT ''::vector;
SELECT '['::vector;
SELECT ']'::vector;
SELECT '[1.2.3]'::vector;
SELECT '[1e]'::vector;
SELECT '[--1]'::vector;
SELECT '[[1]]'::vector;

-- NaN and infinity are not vector values
SELECT '[NaN]'::vector;
SELECT '[1,nan,3]'::vector;
SELECT '[Infinity]'::vector;
SELECT '[-inf]'::vector;
SELECT '[1e39]'::vector;
SELECT '[-1e39]'::vector;

-- dimension limits: 16000 is the maximum
SELECT vector_dims(('[' || repeat('1,', 15999) || '1]')::vector);
SELECT ('[' || repeat('1,', 16000) || '1]')::vector;
SELECT ('[' || repeat(',', 100000) || ']')::vector;

-- in a table
CREATE TABLE vin (id int, v vector);
INSERT INTO vin VALUES (1, '[1,2,3]'), (2, '[4,5]'), (3, NULL);
SELECT * FROM vin ORDER BY id;
INSERT INTO vin VALUES (4, '[1,NaN]');
COPY vin FROM stdin;
5	[7,8,9]
\.
COPY vin FROM stdin;
6	[7,8,
\.
SELECT * FROM vin ORDER BY id;
DROP TABLE vin;
