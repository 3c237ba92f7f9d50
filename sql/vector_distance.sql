-- Distance operators and functions, checked on known values and against
-- the same sums computed in SQL with double precision.

SELECT '[1,2,3]'::vector <-> '[4,5,6]' AS l2,
	   '[1,2,3]'::vector <=> '[4,5,6]' AS cosine,
	   '[1,2,3]'::vector <#> '[4,5,6]' AS neg_ip,
	   '[1,2,3]'::vector <+> '[4,5,6]' AS l1;
SELECT l2_distance('[0,0]', '[3,4]'), inner_product('[1,2]', '[3,4]'),
	   cosine_distance('[1,0]', '[0,1]'), l1_distance('[0,0]', '[3,-4]');
SELECT cosine_distance('[1,2]', '[2,4]') AS parallel,
	   cosine_distance('[1,2]', '[-1,-2]') AS opposite,
	   cosine_distance('[3e38,3e38]', '[3e38,3e38]') AS huge;
-- sums beyond float4 range are recomputed in double, not returned as Infinity
SELECT '[3e38,3e38]'::vector <-> '[-3e38,-3e38]' AS l2,
	   '[3e38,3e38]'::vector <#> '[3e38,3e38]' AS neg_ip,
	   '[3e38,3e38]'::vector <+> '[-3e38,-3e38]' AS l1,
	   '[3e38,1]'::vector <=> '[-3e38,1]' AS cosine;
SELECT vector_dims('[1,2,3]'), vector_norm('[3,4]'), vector_norm('[0,0]');

-- cosine distance with a zero vector is NaN (the angle is undefined);
-- NaN sorts after every number, so such rows come last in ORDER BY <=>
SELECT cosine_distance('[0,0]', '[1,2]'), '[1,2]'::vector <=> '[0,0]',
	   '[0,0]'::vector <=> '[0,0]';
SELECT v, v <=> '[1,1]' AS d FROM (VALUES ('[0,0]'::vector), ('[1,2]'), ('[-1,-1]')) t(v)
ORDER BY v <=> '[1,1]';

-- every kernel against SQL arithmetic on pseudo-random vectors of odd sizes
CREATE TABLE vd (n int, a vector, b vector);
INSERT INTO vd
SELECT n,
	   (SELECT array_agg(sin(n * 7 + i * 1.3) * 10) FROM generate_series(1, n) i)::vector,
	   (SELECT array_agg(cos(n * 3 + i * 0.7) * 10) FROM generate_series(1, n) i)::vector
FROM unnest(ARRAY[1, 3, 7, 15, 17, 31, 784, 1536, 16000]) n;
WITH expected AS (
	SELECT n, a, b,
		   sqrt(sum((x - y) ^ 2)) AS l2, sum(x * y) AS ip,
		   sum(abs(x - y)) AS l1,
		   1 - sum(x * y) / sqrt(sum(x * x) * sum(y * y)) AS cos
	FROM vd, unnest(a::float8[], b::float8[]) AS u(x, y)
	GROUP BY n, a, b
)
SELECT n,
	   abs((a <-> b) - l2) <= 1e-5 * l2 AS l2_ok,
	   abs(-(a <#> b) - ip) <= 1e-5 * sum_abs_ok AS ip_ok,
	   abs(inner_product(a, b) - ip) <= 1e-5 * sum_abs_ok AS ip_fn_ok,
	   abs((a <+> b) - l1) <= 1e-5 * l1 AS l1_ok,
	   abs((a <=> b) - cos) <= 1e-5 AS cos_ok
FROM expected,
	 LATERAL (SELECT sum(abs(x * y)) AS sum_abs_ok
			  FROM unnest(a::float8[], b::float8[]) u(x, y)) s
ORDER BY n;
DROP TABLE vd;

-- dimension mismatch in every binary operator and function
SELECT '[1,2]'::vector <-> '[1,2,3]';
SELECT '[1,2]'::vector <=> '[1,2,3]';
SELECT '[1,2]'::vector <#> '[1,2,3]';
SELECT '[1,2]'::vector <+> '[1,2,3]';
SELECT l2_distance('[1,2]', '[1,2,3]');
SELECT cosine_distance('[1,2]', '[1,2,3]');
SELECT inner_product('[1,2]', '[1,2,3]');
SELECT l1_distance('[1,2]', '[1,2,3]');
SELECT vector_l2_squared_distance('[1,2]', '[1,2,3]');
SELECT '[1,2]'::vector + '[1,2,3]';
SELECT '[1,2]'::vector - '[1,2,3]';
SELECT '[1,2]'::vector * '[1,2,3]';

-- NULL in, NULL out
SELECT NULL::vector <-> '[1]', l2_distance('[1]', NULL);
