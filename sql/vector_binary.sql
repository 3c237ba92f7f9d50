-- Binary send/recv: byte-compatible with pgvector (int16 dim, int16 unused,
-- float4 values, network byte order), and every malformed payload rejected.

-- the exact bytes pgvector sends for these values
SELECT vector_send('[1,2,3]');
SELECT vector_send('[-0.5]');
SELECT vector_send('[1,2,3]') = '\x000300003f8000004000000040400000'::bytea AS pgvector_bytes;

-- round trip through COPY ... (FORMAT binary), which uses send and recv
CREATE TABLE vb (v vector);
CREATE TABLE vb3 (v vector(3));
INSERT INTO vb VALUES ('[1,2,3]'), ('[0.1,-7e-12,3.4028235e38]'), (NULL);
CREATE TABLE vb_copy (v vector);
DO $$
DECLARE
	path text := current_setting('data_directory') || '/brainy_regress_copy.bin';
BEGIN
	EXECUTE format('COPY vb TO %L WITH (FORMAT binary)', path);
	EXECUTE format('COPY vb_copy FROM %L WITH (FORMAT binary)', path);
END $$;
SELECT a.v, a.v = b.v AS same FROM vb a JOIN vb_copy b ON a.v = b.v ORDER BY a.v;
SELECT count(*) FROM vb_copy WHERE v IS NULL;
DROP TABLE vb_copy;

-- feed one hand-made binary field into COPY FROM
CREATE FUNCTION copy_binary_field(tab regclass, field bytea) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	file bytea := '\x5047434f50590aff0d0a00'::bytea     -- signature
		|| '\x0000000000000000'::bytea                  -- flags, extension
		|| '\x0001'::bytea || int4send(length(field)) || field
		|| '\xffff'::bytea;                             -- trailer
	lo oid := lo_from_bytea(0, file);
BEGIN
	PERFORM lo_export(lo, 'brainy_regress_field.bin');
	PERFORM lo_unlink(lo);
	EXECUTE format('COPY %s FROM %L WITH (FORMAT binary)', tab,
				   'brainy_regress_field.bin');
END $$;

TRUNCATE vb;
SELECT copy_binary_field('vb', '\x000300003f8000004000000040400000');
SELECT copy_binary_field('vb3', '\x000300003f8000004000000040400000');
SELECT * FROM vb UNION ALL SELECT * FROM vb3;

-- malformed payloads
SELECT copy_binary_field('vb', '\x00000000');
SELECT copy_binary_field('vb', '\xffff0000');
SELECT copy_binary_field('vb', '\x3e810000');
SELECT copy_binary_field('vb', '\x000100013f800000');
SELECT copy_binary_field('vb', '\x000200003f800000');
SELECT copy_binary_field('vb', '\x000100003f80000000');
SELECT copy_binary_field('vb', '\x0001');
SELECT copy_binary_field('vb', '\x000100007fc00000');
SELECT copy_binary_field('vb', '\x00010000ff800000');
SELECT copy_binary_field('vb3', '\x000200003f80000040000000');
SELECT count(*) FROM vb;

DROP FUNCTION copy_binary_field(regclass, bytea);
DROP TABLE vb, vb3;
