-- cluster: the cluster SQL functions in a session, without the background
-- worker (this server does not preload brainy): partition_of's fixed
-- vectors, a standalone health, config.json created on first use over a
-- file:// bucket, set_config's merges and refusals, privileges.
-- The worker, heartbeats and multi-node cases: test/suites/cluster_*.sh.

-- partition_of: xxHash64 of the text modulo 100 (no bucket configured)
SELECT brainy.partition_of('') AS empty, brainy.partition_of('a') AS a,
	brainy.partition_of('abc') AS abc, brainy.partition_of('42') AS n42;
SELECT count(DISTINCT brainy.partition_of(i::text)) FROM generate_series(1, 5000) i;
SELECT brainy.partition_of(NULL) IS NULL AS strict;

-- standalone: healthy, no warnings
SELECT brainy.health()->>'status' AS status, brainy.health()->>'role' AS role,
	jsonb_array_length(brainy.health()->'warnings') AS warnings;

-- a bucket: config.json is created on first use with the seed's defaults
SELECT set_config('brainy.storage',
	'file://' || current_setting('data_directory') || '/brainy_regress_cluster', false) IS NOT NULL AS configured;
SELECT brainy.config()->'version' AS version, brainy.config()->'settings' AS settings;
-- storage set but not preloaded: not a member, and health says why
SELECT brainy.health()->>'status' AS status, brainy.health()->'warnings'->>0 AS warning;

SELECT brainy.set_config('{"dimensions": 3, "distanceMetric": "cosine"}')->'settings' AS settings;
SELECT brainy.config()->'version' AS version;
SELECT brainy.set_config('{"embeddingModel": null}')->'settings'->'embeddingModel' AS model;
-- bad patches
SELECT brainy.set_config('{"dimensions": 0}');
SELECT brainy.set_config('{"dimensions": "3"}');
SELECT brainy.set_config('{"partitionCount": 1001}');
SELECT brainy.set_config('{"partitionStrategy": "range"}');
SELECT brainy.set_config('{"colour": "blue"}');
SELECT brainy.set_config('"text"');
SELECT brainy.set_config(NULL) IS NULL AS strict;
-- an empty cluster may change partitionCount: partition_of follows
SELECT brainy.set_config('{"partitionCount": 7}')->'settings'->'partitionCount' AS count;
SELECT brainy.partition_of('abc') AS abc_of_7;
SELECT brainy.set_config('{"partitionCount": 100}')->'version' AS version;
SELECT brainy.partition_of('abc') AS abc_of_100;

-- no instances (no worker), no statistics
SELECT count(*) FROM brainy.instances;
SELECT brainy.cluster_stats();

-- privileges: set_config is for superusers and brainy_admin; reading is for all
CREATE ROLE brainy_regress_plain;
SET ROLE brainy_regress_plain;
SELECT brainy.set_config('{}');
SELECT brainy.partition_of('abc');
SELECT count(*) FROM brainy.instances;
RESET ROLE;
DROP ROLE brainy_regress_plain;
