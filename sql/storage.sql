-- storage: the operator functions of the shared bucket (brainy.storage_*),
-- over a file:// bucket in the data directory, and their privileges.
-- The S3 backend is tested against a real server in test/suites/objstore_s3.sh.

-- not configured yet (the first call loads the library and its settings)
SELECT * FROM brainy.storage_list('');
SHOW brainy.storage;
SHOW brainy.s3_force_path_style;
SHOW brainy.s3_timeout;

SELECT set_config('brainy.storage',
	'file://' || current_setting('data_directory') || '/brainy_regress_bucket', false) IS NOT NULL AS configured;

-- every step of the probe works on the file backend
SELECT step, ok FROM brainy.storage_check();
-- and leaves nothing behind
SELECT count(*) FROM brainy.storage_list('');

-- objects written by hand, as an operator might (COPY writes "text\n")
DO $$
BEGIN
	EXECUTE format('COPY (SELECT %L) TO %L', 'hello bucket',
		current_setting('data_directory') || '/brainy_regress_bucket/greeting.txt');
	EXECUTE format('COPY (SELECT %L) TO %L', '{"version": 1}',
		current_setting('data_directory') || '/brainy_regress_bucket/_brainy%d/probe%d/config.json');
END
$$;
SELECT key, size, length(etag) AS etag_len, last_modified > now() - interval '1 hour' AS recent
	FROM brainy.storage_list('') ORDER BY key;
SELECT key FROM brainy.storage_list('_brainy/');
SELECT key FROM brainy.storage_list('gr');
SELECT count(*) FROM brainy.storage_list('nothing/');
SELECT convert_from(brainy.storage_get('greeting.txt'), 'UTF8') AS greeting;
SELECT length(brainy.storage_get('_brainy/probe/config.json')) AS config_len;

-- bad keys and missing objects
SELECT brainy.storage_get('missing.txt');
SELECT brainy.storage_get('../postgresql.conf');
SELECT brainy.storage_get('/etc/passwd');
SELECT brainy.storage_get('');
SELECT brainy.storage_get(NULL) IS NULL AS strict;

-- a bad URL, and S3 without credentials: reported, never a crash
SET brainy.storage = 'ftp://example.com/x';
SELECT * FROM brainy.storage_list('');
SET brainy.s3_access_key_id = '';
SET brainy.s3_secret_access_key = '';
SET brainy.storage = 's3://no-credentials-bucket';
SELECT step, ok FROM brainy.storage_check();
SET brainy.s3_timeout = 10;
RESET brainy.s3_timeout;
RESET brainy.storage;

-- superuser only: functions and credential settings
CREATE ROLE regress_brainy_storage;
SET ROLE regress_brainy_storage;
SELECT * FROM brainy.storage_list('');
SELECT brainy.storage_get('greeting.txt');
SELECT * FROM brainy.storage_check();
SHOW brainy.s3_secret_access_key;
SHOW brainy.s3_access_key_id;
SELECT name FROM pg_settings WHERE name LIKE 'brainy.s3%' ORDER BY name;
SET brainy.storage = 'file:///tmp/x';
RESET ROLE;
DROP ROLE regress_brainy_storage;
