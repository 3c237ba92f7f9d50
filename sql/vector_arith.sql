-- Arithmetic, normalisation, subvector and concatenation.

SELECT '[1,2,3]'::vector + '[4,5,6]', '[1,2,3]'::vector - '[4,5,6]',
	   '[1,2,3]'::vector * '[4,5,6]';
SELECT '[1,2]'::vector || '[3]', '[1]'::vector || '[2]' || '[3]';
SELECT l2_normalize('[3,4]'), l2_normalize('[0,0]'), l2_normalize('[-2]');
SELECT vector_norm(l2_normalize('[1,2,3,4,5]')) BETWEEN 0.999999 AND 1.000001 AS unit;

-- overflow and underflow are errors, as for float4
SELECT '[3e38]'::vector + '[3e38]';
SELECT '[-3e38]'::vector - '[3e38]';
SELECT '[1e20,1]'::vector * '[1e20,1]';
SELECT '[1e-30]'::vector * '[1e-30]';
SELECT '[0]'::vector * '[1e-30]';

-- subvector(v, start, count) is 1-based and clips like substring()
SELECT subvector('[1,2,3,4,5]', 1, 3);
SELECT subvector('[1,2,3,4,5]', 3, 3);
SELECT subvector('[1,2,3,4,5]', 4, 10);
SELECT subvector('[1,2,3,4,5]', 0, 2);
SELECT subvector('[1,2,3,4,5]', -2, 5);
SELECT subvector('[1,2,3,4,5]', 6, 1);
SELECT subvector('[1,2,3,4,5]', 1, 0);
SELECT subvector('[1,2,3,4,5]', 0, 1);
SELECT subvector('[1,2,3,4,5]', 2, -1);
SELECT subvector('[1,2,3,4,5]', 2147483647, 2147483647);
SELECT subvector('[1,2,3,4,5]', -2147483648, 2147483647);

-- concatenation may not exceed 16000 dimensions
SELECT vector_dims(array_fill(1, ARRAY[8000])::vector || array_fill(2, ARRAY[8000])::vector);
SELECT array_fill(1, ARRAY[8000])::vector || array_fill(2, ARRAY[8001])::vector;
