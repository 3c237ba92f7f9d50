-- sum(vector) and avg(vector), serial and parallel.

CREATE TABLE va (g int, v vector(3));
INSERT INTO va VALUES (1, '[1,2,3]'), (1, '[3,2,1]'), (2, '[1,1,1]'), (2, NULL),
	(3, NULL);
SELECT sum(v), avg(v) FROM va;
SELECT g, sum(v), avg(v), count(v) FROM va GROUP BY g ORDER BY g;
SELECT sum(v), avg(v) FROM va WHERE false;

-- dimension mismatch
CREATE TABLE va_mixed (v vector);
INSERT INTO va_mixed VALUES ('[1,2]'), ('[1,2,3]');
SELECT sum(v) FROM va_mixed;
SELECT avg(v) FROM va_mixed;
DROP TABLE va_mixed;

-- the sum is kept in double precision; only the final value must fit float4
SELECT sum(v) FROM (VALUES ('[3e38]'::vector), ('[3e38]')) t(v);
SELECT avg(v) FROM (VALUES ('[3e38]'::vector), ('[3e38]')) t(v);
SELECT sum(v) FROM (VALUES ('[3e38]'::vector), ('[3e38]'), ('[-3e38]')) t(v);
SELECT sum(v) FROM (VALUES ('[1e8]'::vector), ('[1]'), ('[-1e8]')) t(v);

-- parallel aggregation (partial + combine) gives the serial result
CREATE TABLE va_big (v vector(4));
INSERT INTO va_big SELECT ARRAY[i, -i, i % 7, 1]::vector
FROM generate_series(1, 100000) i;
ANALYZE va_big;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT sum(v), avg(v) FROM va_big;
SELECT sum(v), avg(v) FROM va_big;
RESET max_parallel_workers_per_gather;
RESET min_parallel_table_scan_size;
RESET parallel_tuple_cost;
RESET parallel_setup_cost;
SELECT sum(v), avg(v) FROM va_big;
DROP TABLE va_big;

-- the transition functions called directly leave their input unchanged
SELECT vector_accum('{0}', '[1,2]'),
	   vector_accum(vector_accum('{0}', '[1,2]'), '[3,4]'),
	   vector_combine('{2,4,6}', '{0}'), vector_combine('{0}', '{1,1,1}');
SELECT vector_avg_final('{2,4,6}'), vector_sum_final('{0}');
SELECT vector_accum('{1,1,1}', '[1,2,3]');
SELECT vector_combine('{1,1,1}', '{1,1}');
SELECT vector_sum_final('{{1,2}}');
SELECT vector_avg_final('{1,NaN}');
SELECT vector_sum_final('{1,Infinity}');
SELECT vector_avg_final('{-1,2}');
DROP TABLE va;
