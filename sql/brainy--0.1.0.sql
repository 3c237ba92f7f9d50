-- brainy--0.1.0.sql: the vector type, its operators, aggregates and casts,
-- the brainy_hnsw access method, and the operator functions of schema brainy.
-- The type, operators and access method are created in the schema CREATE
-- EXTENSION names; operator functions go into the schema brainy, which this
-- script creates (so it belongs to the extension and is dropped with it).

\echo Use "CREATE EXTENSION brainy" to load this file. \quit

-- the type ------------------------------------------------------------------

CREATE TYPE vector;

CREATE FUNCTION vector_in(cstring, oid, integer) RETURNS vector
	AS 'MODULE_PATHNAME', 'brainy_vector_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_out(vector) RETURNS cstring
	AS 'MODULE_PATHNAME', 'brainy_vector_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_typmod_in(cstring[]) RETURNS integer
	AS 'MODULE_PATHNAME', 'brainy_vector_typmod_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_typmod_out(integer) RETURNS cstring
	AS 'MODULE_PATHNAME', 'brainy_vector_typmod_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_recv(internal, oid, integer) RETURNS vector
	AS 'MODULE_PATHNAME', 'brainy_vector_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_send(vector) RETURNS bytea
	AS 'MODULE_PATHNAME', 'brainy_vector_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- STORAGE main: a vector that fits in a page stays in the row (no TOAST
-- look-up per row in a scan); only larger ones go out of line.
CREATE TYPE vector (
	INPUT = vector_in,
	OUTPUT = vector_out,
	TYPMOD_IN = vector_typmod_in,
	TYPMOD_OUT = vector_typmod_out,
	RECEIVE = vector_recv,
	SEND = vector_send,
	STORAGE = main,
	ALIGNMENT = int4
);

CREATE FUNCTION vector(vector, integer, boolean) RETURNS vector
	AS 'MODULE_PATHNAME', 'brainy_vector_coerce_typmod'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (vector AS vector)
	WITH FUNCTION vector(vector, integer, boolean) AS IMPLICIT;

-- casts to and from arrays ----------------------------------------------------

CREATE FUNCTION array_to_vector(integer[], integer, boolean) RETURNS vector
	AS 'MODULE_PATHNAME', 'brainy_array_to_vector' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_vector(real[], integer, boolean) RETURNS vector
	AS 'MODULE_PATHNAME', 'brainy_array_to_vector' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_vector(double precision[], integer, boolean) RETURNS vector
	AS 'MODULE_PATHNAME', 'brainy_array_to_vector' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_vector(numeric[], integer, boolean) RETURNS vector
	AS 'MODULE_PATHNAME', 'brainy_array_to_vector' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION vector_to_float4(vector, integer, boolean) RETURNS real[]
	AS 'MODULE_PATHNAME', 'brainy_vector_to_float4' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_to_float8(vector, integer, boolean) RETURNS double precision[]
	AS 'MODULE_PATHNAME', 'brainy_vector_to_float8' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_to_int4(vector, integer, boolean) RETURNS integer[]
	AS 'MODULE_PATHNAME', 'brainy_vector_to_int4' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_to_numeric(vector, integer, boolean) RETURNS numeric[]
	AS 'MODULE_PATHNAME', 'brainy_vector_to_numeric' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (integer[] AS vector)
	WITH FUNCTION array_to_vector(integer[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (real[] AS vector)
	WITH FUNCTION array_to_vector(real[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (double precision[] AS vector)
	WITH FUNCTION array_to_vector(double precision[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (numeric[] AS vector)
	WITH FUNCTION array_to_vector(numeric[], integer, boolean) AS ASSIGNMENT;

CREATE CAST (vector AS real[])
	WITH FUNCTION vector_to_float4(vector, integer, boolean) AS IMPLICIT;
CREATE CAST (vector AS double precision[])
	WITH FUNCTION vector_to_float8(vector, integer, boolean);
CREATE CAST (vector AS integer[])
	WITH FUNCTION vector_to_int4(vector, integer, boolean);
CREATE CAST (vector AS numeric[])
	WITH FUNCTION vector_to_numeric(vector, integer, boolean);

-- distances -----------------------------------------------------------------

CREATE FUNCTION l2_distance(vector, vector) RETURNS float8
	AS 'MODULE_PATHNAME', 'brainy_vector_l2_distance'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_l2_squared_distance(vector, vector) RETURNS float8
	AS 'MODULE_PATHNAME', 'brainy_vector_l2_squared_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION inner_product(vector, vector) RETURNS float8
	AS 'MODULE_PATHNAME', 'brainy_vector_inner_product'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_negative_inner_product(vector, vector) RETURNS float8
	AS 'MODULE_PATHNAME', 'brainy_vector_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cosine_distance(vector, vector) RETURNS float8
	AS 'MODULE_PATHNAME', 'brainy_vector_cosine_distance'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION l1_distance(vector, vector) RETURNS float8
	AS 'MODULE_PATHNAME', 'brainy_vector_l1_distance'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR <-> (
	LEFTARG = vector, RIGHTARG = vector, PROCEDURE = l2_distance,
	COMMUTATOR = '<->'
);
CREATE OPERATOR <#> (
	LEFTARG = vector, RIGHTARG = vector,
	PROCEDURE = vector_negative_inner_product, COMMUTATOR = '<#>'
);
CREATE OPERATOR <=> (
	LEFTARG = vector, RIGHTARG = vector, PROCEDURE = cosine_distance,
	COMMUTATOR = '<=>'
);
CREATE OPERATOR <+> (
	LEFTARG = vector, RIGHTARG = vector, PROCEDURE = l1_distance,
	COMMUTATOR = '<+>'
);

-- other functions -----------------------------------------------------------

CREATE FUNCTION vector_dims(vector) RETURNS integer
	AS 'MODULE_PATHNAME', 'brainy_vector_dims' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_norm(vector) RETURNS float8
	AS 'MODULE_PATHNAME', 'brainy_vector_norm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION l2_normalize(vector) RETURNS vector
	AS 'MODULE_PATHNAME', 'brainy_vector_l2_normalize'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION subvector(vector, integer, integer) RETURNS vector
	AS 'MODULE_PATHNAME', 'brainy_vector_subvector'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION brainy_kernel() RETURNS text
	AS 'MODULE_PATHNAME', 'brainy_kernel_name'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- arithmetic ----------------------------------------------------------------

CREATE FUNCTION vector_add(vector, vector) RETURNS vector
	AS 'MODULE_PATHNAME', 'brainy_vector_add' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_sub(vector, vector) RETURNS vector
	AS 'MODULE_PATHNAME', 'brainy_vector_sub' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_mul(vector, vector) RETURNS vector
	AS 'MODULE_PATHNAME', 'brainy_vector_mul' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_concat(vector, vector) RETURNS vector
	AS 'MODULE_PATHNAME', 'brainy_vector_concat' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR + (
	LEFTARG = vector, RIGHTARG = vector, PROCEDURE = vector_add,
	COMMUTATOR = +
);
CREATE OPERATOR - (
	LEFTARG = vector, RIGHTARG = vector, PROCEDURE = vector_sub
);
CREATE OPERATOR * (
	LEFTARG = vector, RIGHTARG = vector, PROCEDURE = vector_mul,
	COMMUTATOR = *
);
CREATE OPERATOR || (
	LEFTARG = vector, RIGHTARG = vector, PROCEDURE = vector_concat
);

-- comparison, btree and hash ------------------------------------------------

CREATE FUNCTION vector_lt(vector, vector) RETURNS bool
	AS 'MODULE_PATHNAME', 'brainy_vector_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_le(vector, vector) RETURNS bool
	AS 'MODULE_PATHNAME', 'brainy_vector_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_eq(vector, vector) RETURNS bool
	AS 'MODULE_PATHNAME', 'brainy_vector_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_ne(vector, vector) RETURNS bool
	AS 'MODULE_PATHNAME', 'brainy_vector_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_ge(vector, vector) RETURNS bool
	AS 'MODULE_PATHNAME', 'brainy_vector_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_gt(vector, vector) RETURNS bool
	AS 'MODULE_PATHNAME', 'brainy_vector_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_cmp(vector, vector) RETURNS integer
	AS 'MODULE_PATHNAME', 'brainy_vector_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_hash(vector) RETURNS integer
	AS 'MODULE_PATHNAME', 'brainy_vector_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_hash_extended(vector, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'brainy_vector_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR < (
	LEFTARG = vector, RIGHTARG = vector, PROCEDURE = vector_lt,
	COMMUTATOR = >, NEGATOR = >=,
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR <= (
	LEFTARG = vector, RIGHTARG = vector, PROCEDURE = vector_le,
	COMMUTATOR = >=, NEGATOR = >,
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR = (
	LEFTARG = vector, RIGHTARG = vector, PROCEDURE = vector_eq,
	COMMUTATOR = =, NEGATOR = <>,
	RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR <> (
	LEFTARG = vector, RIGHTARG = vector, PROCEDURE = vector_ne,
	COMMUTATOR = <>, NEGATOR = =,
	RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR >= (
	LEFTARG = vector, RIGHTARG = vector, PROCEDURE = vector_ge,
	COMMUTATOR = <=, NEGATOR = <,
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);
CREATE OPERATOR > (
	LEFTARG = vector, RIGHTARG = vector, PROCEDURE = vector_gt,
	COMMUTATOR = <, NEGATOR = <=,
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);

CREATE OPERATOR CLASS vector_ops
	DEFAULT FOR TYPE vector USING btree AS
	OPERATOR 1 <,
	OPERATOR 2 <=,
	OPERATOR 3 =,
	OPERATOR 4 >=,
	OPERATOR 5 >,
	FUNCTION 1 vector_cmp(vector, vector);

CREATE OPERATOR CLASS vector_ops
	DEFAULT FOR TYPE vector USING hash AS
	OPERATOR 1 =,
	FUNCTION 1 vector_hash(vector),
	FUNCTION 2 vector_hash_extended(vector, bigint);

-- aggregates ----------------------------------------------------------------

CREATE FUNCTION vector_accum(double precision[], vector) RETURNS double precision[]
	AS 'MODULE_PATHNAME', 'brainy_vector_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_combine(double precision[], double precision[]) RETURNS double precision[]
	AS 'MODULE_PATHNAME', 'brainy_vector_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_sum_final(double precision[]) RETURNS vector
	AS 'MODULE_PATHNAME', 'brainy_vector_sum_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_avg_final(double precision[]) RETURNS vector
	AS 'MODULE_PATHNAME', 'brainy_vector_avg_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE sum(vector) (
	SFUNC = vector_accum,
	STYPE = double precision[],
	FINALFUNC = vector_sum_final,
	COMBINEFUNC = vector_combine,
	INITCOND = '{0}',
	PARALLEL = SAFE
);

CREATE AGGREGATE avg(vector) (
	SFUNC = vector_accum,
	STYPE = double precision[],
	FINALFUNC = vector_avg_final,
	COMBINEFUNC = vector_combine,
	INITCOND = '{0}',
	PARALLEL = SAFE
);

-- brainy_hnsw index access method ---------------------------------------------

CREATE FUNCTION brainy_hnsw_handler(internal) RETURNS index_am_handler
	AS 'MODULE_PATHNAME', 'brainy_hnsw_handler' LANGUAGE C;

CREATE ACCESS METHOD brainy_hnsw TYPE INDEX HANDLER brainy_hnsw_handler;
COMMENT ON ACCESS METHOD brainy_hnsw IS 'HNSW approximate nearest neighbour index for vector';

-- support function 1 of each operator class: the metric (an HnswMetric code)
CREATE FUNCTION brainy_hnsw_l2_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME', 'brainy_hnsw_l2_support' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION brainy_hnsw_ip_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME', 'brainy_hnsw_ip_support' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION brainy_hnsw_cosine_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME', 'brainy_hnsw_cosine_support' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION brainy_hnsw_l1_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME', 'brainy_hnsw_l1_support' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OPERATOR CLASS vector_l2_ops
	FOR TYPE vector USING brainy_hnsw AS
	OPERATOR 1 <-> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 brainy_hnsw_l2_support(internal);

CREATE OPERATOR CLASS vector_ip_ops
	FOR TYPE vector USING brainy_hnsw AS
	OPERATOR 1 <#> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 brainy_hnsw_ip_support(internal);

CREATE OPERATOR CLASS vector_cosine_ops
	FOR TYPE vector USING brainy_hnsw AS
	OPERATOR 1 <=> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 brainy_hnsw_cosine_support(internal);

CREATE OPERATOR CLASS vector_l1_ops
	FOR TYPE vector USING brainy_hnsw AS
	OPERATOR 1 <+> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 brainy_hnsw_l1_support(internal);

-- structural check of a brainy_hnsw index (superuser only)
CREATE FUNCTION brainy_hnsw_check(regclass) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'brainy_hnsw_check' LANGUAGE C STRICT;
REVOKE ALL ON FUNCTION brainy_hnsw_check(regclass) FROM PUBLIC;

CREATE FUNCTION brainy_hnsw_merge_pending(index regclass, max_rows bigint DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'brainy_hnsw_merge_pending' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION brainy_hnsw_merge_pending(regclass, bigint) IS
	'links up to max_rows rows (all when NULL) of a brainy_hnsw index''s pending list (fastupdate) into its graph; returns the rows linked';
CREATE FUNCTION brainy_hnsw_pending_rows(index regclass) RETURNS bigint
	AS 'MODULE_PATHNAME', 'brainy_hnsw_pending_rows' LANGUAGE C STRICT STABLE;
COMMENT ON FUNCTION brainy_hnsw_pending_rows(regclass) IS
	'rows of a brainy_hnsw index''s pending list (fastupdate) not linked into its graph yet; NULL without SELECT on the table';

-- schema brainy: operator functions ------------------------------------------

CREATE SCHEMA brainy;
COMMENT ON SCHEMA brainy IS 'Brainy''s operator functions (bucket inspection, checks)';

-- the shared bucket (brainy.storage), superuser only
CREATE FUNCTION brainy.storage_list(prefix text DEFAULT '')
	RETURNS TABLE (key text, size bigint, etag text, last_modified timestamptz)
	AS 'MODULE_PATHNAME', 'brainy_storage_list' LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION brainy.storage_list(text) FROM PUBLIC;
COMMENT ON FUNCTION brainy.storage_list(text) IS 'objects in the shared bucket whose key starts with prefix';

CREATE FUNCTION brainy.storage_get(key text) RETURNS bytea
	AS 'MODULE_PATHNAME', 'brainy_storage_get' LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION brainy.storage_get(text) FROM PUBLIC;
COMMENT ON FUNCTION brainy.storage_get(text) IS 'the content of one object of the shared bucket';

CREATE FUNCTION brainy.storage_check()
	RETURNS TABLE (step text, ok boolean, detail text)
	AS 'MODULE_PATHNAME', 'brainy_storage_check' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION brainy.storage_check() FROM PUBLIC;
COMMENT ON FUNCTION brainy.storage_check() IS 'writes, reads, conditionally overwrites and deletes a probe object; one row per step';

-- cluster membership (docs/cluster.md) ----------------------------------------

-- Read-only views and functions are for everyone; what changes the cluster's
-- state is for superusers and members of brainy_admin (a role shared by the
-- whole PostgreSQL cluster: created here if missing, never dropped).
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'brainy_admin') THEN
		CREATE ROLE brainy_admin NOLOGIN;
	END IF;
END
$$;
GRANT USAGE ON SCHEMA brainy TO PUBLIC;

CREATE FUNCTION brainy.config() RETURNS jsonb
	AS 'MODULE_PATHNAME', 'brainy_config' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION brainy.config() IS 'the shared _brainy/config.json (created with the defaults if the bucket has none)';

CREATE FUNCTION brainy.set_config(patch jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'brainy_set_config' LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION brainy.set_config(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION brainy.set_config(jsonb) TO brainy_admin;
COMMENT ON FUNCTION brainy.set_config(jsonb) IS 'merges patch into config.json''s settings (compare-and-swap, retried on conflict); returns the new config';

CREATE FUNCTION brainy.partition_of(key text) RETURNS text
	AS 'MODULE_PATHNAME', 'brainy_partition_of' LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION brainy.partition_of(text) IS 'the partition of a primary key''s text form: p%03d of xxHash64(key) mod partitionCount';

CREATE FUNCTION brainy.health() RETURNS jsonb
	AS 'MODULE_PATHNAME', 'brainy_health' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION brainy.health() IS 'this node''s health: status, instanceId, role, uptime, metrics, warnings';

CREATE FUNCTION brainy.instance_list(
	OUT id text, OUT role text, OUT status text, OUT last_seen timestamptz,
	OUT age interval, OUT alive boolean, OUT endpoint text, OUT metrics jsonb)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'brainy_instance_list' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION brainy.instance_list() IS 'every heartbeat object in the bucket, with its age by the object store''s clock';

CREATE VIEW brainy.instances AS SELECT * FROM brainy.instance_list();
GRANT SELECT ON brainy.instances TO PUBLIC;
COMMENT ON VIEW brainy.instances IS 'every node seen in the bucket; alive = heartbeat younger than brainy.instance_timeout';

CREATE FUNCTION brainy.cluster_stats() RETURNS jsonb
	AS 'MODULE_PATHNAME', 'brainy_cluster_stats' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION brainy.cluster_stats() IS 'the per-node statistics objects (_brainy/stats/) summed, with the number of nodes';

-- replication through the bucket (docs/replication.md) ------------------------

-- The local catalog.  Rows here are written by brainy.publish/subscribe and
-- by the replication worker; users read them through the views below.

-- writer: one row per published collection
CREATE TABLE brainy.publication (
	collection text PRIMARY KEY,
	relid regclass NOT NULL,
	pk_column name NOT NULL,
	vector_column name NOT NULL,
	dimensions integer NOT NULL,
	published_seq bigint NOT NULL DEFAULT 0,	-- last segment written
	backfill_done boolean NOT NULL DEFAULT false,
	backfill_cursor text,			-- text form of the last primary key copied
	backfill_query text NOT NULL,	-- copies the next batch into the outbox
	created timestamptz NOT NULL DEFAULT now()
);

-- writer: captured changes not yet in a segment (same transaction as the change)
CREATE TABLE brainy.outbox (
	id bigserial PRIMARY KEY,
	collection text NOT NULL,
	op "char" NOT NULL CHECK (op IN ('I', 'U', 'D')),
	pk text NOT NULL,
	hlc bigint NOT NULL,			-- hybrid logical clock version of the change
	vec vector,						-- NULL for deletes
	doc jsonb						-- the other columns
);
-- A row is written once and read once: keep vectors up to ~2,000
-- dimensions inline and uncompressed (no pglz on capture, no decompression
-- on flush); larger ones go out of line, still uncompressed.
ALTER TABLE brainy.outbox SET (toast_tuple_target = 8160);
ALTER TABLE brainy.outbox ALTER COLUMN vec SET STORAGE EXTERNAL;

-- reader: one row per followed collection
CREATE TABLE brainy.subscription (
	collection text PRIMARY KEY,
	relid regclass NOT NULL,		-- the mirror table
	pk_column name NOT NULL,
	vector_column name NOT NULL,
	dimensions integer NOT NULL,
	schema_json jsonb NOT NULL,		-- _brainy/collections/<name>/schema.json at subscribe
	created timestamptz NOT NULL DEFAULT now()
);

-- reader: per collection and writer, the last segment applied (same
-- transaction as the apply)
CREATE TABLE brainy.subscription_writer (
	collection text NOT NULL REFERENCES brainy.subscription ON DELETE CASCADE,
	writer_id text NOT NULL,
	applied_seq bigint NOT NULL DEFAULT 0,
	applied_at timestamptz,
	PRIMARY KEY (collection, writer_id)
);

-- reader: the last-writer-wins version of every mirror row, and tombstones
-- of deleted rows (kept brainy.tombstone_retention)
CREATE TABLE brainy.row_version (
	collection text NOT NULL,
	pk text COLLATE "C" NOT NULL,	-- compared and sorted as bytes, like the apply does
	hlc bigint NOT NULL,
	writer_id text NOT NULL,
	deleted boolean NOT NULL,
	PRIMARY KEY (collection, pk)
);

REVOKE ALL ON brainy.publication, brainy.outbox, brainy.subscription,
	brainy.subscription_writer, brainy.row_version FROM PUBLIC;

-- a new hybrid logical clock value (capture triggers)
CREATE FUNCTION brainy._hlc_next() RETURNS bigint
	AS 'MODULE_PATHNAME', 'brainy_hlc_next_sql' LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- wakes the replication worker: flush now (true) or poll every writer now (false)
CREATE FUNCTION brainy._wake_worker(flush boolean) RETURNS void
	AS 'MODULE_PATHNAME', 'brainy_wake_worker_sql' LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION brainy._local_role() RETURNS text
	AS 'MODULE_PATHNAME', 'brainy_local_role' LANGUAGE C VOLATILE;
CREATE FUNCTION brainy._local_instance_id() RETURNS text
	AS 'MODULE_PATHNAME', 'brainy_local_instance_id' LANGUAGE C VOLATILE;
CREATE FUNCTION brainy._publish_schema(collection text, schema text) RETURNS void
	AS 'MODULE_PATHNAME', 'brainy_publish_schema' LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION brainy._publish_schema(text, text) FROM PUBLIC;
-- publishing is for superusers and brainy_admin; the capture functions run
-- as their publisher (SECURITY DEFINER), so whoever may write to a
-- published table can, without rights on the outbox
GRANT EXECUTE ON FUNCTION brainy._publish_schema(text, text) TO brainy_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON brainy.publication, brainy.outbox TO brainy_admin;
GRANT USAGE ON SEQUENCE brainy.outbox_id_seq TO brainy_admin;

-- the checks every replication function makes first
CREATE FUNCTION brainy._require_node(what text, roles text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	r text := brainy._local_role();
BEGIN
	IF current_setting('brainy.storage') = '' THEN
		RAISE EXCEPTION '% needs a cluster: brainy.storage is not set', what
			USING HINT = 'Set brainy.storage (e.g. file:///var/lib/brainy-bucket or s3://bucket/prefix) and brainy.role, with brainy in shared_preload_libraries, then restart.';
	END IF;
	IF current_database() <> current_setting('brainy.database') THEN
		RAISE EXCEPTION '% must run in database "%" (brainy.database), not "%"',
			what, current_setting('brainy.database'), current_database();
	END IF;
	IF r = 'none' THEN
		RAISE EXCEPTION '% needs a running cluster worker with a role; this node has none yet', what
			USING HINT = 'See brainy.health() for why (role, instance id, object store).';
	END IF;
	IF NOT r = ANY (roles) THEN
		RAISE EXCEPTION '% runs on a % node, and this node is a %', what, array_to_string(roles, ' or '), r
			USING HINT = 'Set brainy.role (or BRAINY_ROLE) to hybrid to both publish and subscribe.';
	END IF;
END
$$;

-- a capture trigger on TRUNCATE refuses it: the rows it removes could not
-- be published one by one
CREATE FUNCTION brainy._refuse_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'cannot truncate "%": it is published as collection "%"', TG_TABLE_NAME, TG_ARGV[0]
		USING HINT = 'Use DELETE (which is replicated), or brainy.unpublish() first.';
END
$$;

CREATE FUNCTION brainy.publish(tbl regclass, collection text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	c text := coalesce(collection, (SELECT relname FROM pg_class WHERE oid = tbl));
	kind "char";
	pk_attnums int2[];
	pk_col name;
	pk_type text;
	vec_col name;
	vec_typmod int;
	n_vec int;
	cfg_dims int;
	metric text;
	cols jsonb;
	doc_n text;
	doc_t text;
	n_other int;
	fn text;
	q text;
BEGIN
	PERFORM brainy._require_node('brainy.publish()', ARRAY['writer', 'hybrid']);
	IF c IS NULL OR c !~ '^[a-z][a-z0-9_]{0,62}$' THEN
		RAISE EXCEPTION 'invalid collection name "%"', c
			USING HINT = 'A collection name is 1 to 63 lower-case letters, digits and underscores, starting with a letter; pass one as the second argument.';
	END IF;
	IF EXISTS (SELECT 1 FROM brainy.publication p WHERE p.collection = c) THEN
		RAISE EXCEPTION 'collection "%" is already published (from table %)', c,
			(SELECT p.relid FROM brainy.publication p WHERE p.collection = c);
	END IF;
	IF EXISTS (SELECT 1 FROM brainy.publication p WHERE p.relid = tbl) THEN
		RAISE EXCEPTION 'table % is already published (as collection "%")', tbl,
			(SELECT p.collection FROM brainy.publication p WHERE p.relid = tbl);
	END IF;
	IF EXISTS (SELECT 1 FROM brainy.subscription s WHERE s.relid = tbl) THEN
		RAISE EXCEPTION 'table % is a mirror of collection "%": it cannot be published', tbl,
			(SELECT s.collection FROM brainy.subscription s WHERE s.relid = tbl);
	END IF;
	SELECT relkind INTO kind FROM pg_class WHERE oid = tbl;
	IF kind <> 'r' THEN
		RAISE EXCEPTION '% is not a table (only plain tables can be published)', tbl;
	END IF;

	SELECT conkey INTO pk_attnums FROM pg_constraint WHERE conrelid = tbl AND contype = 'p';
	IF pk_attnums IS NULL THEN
		RAISE EXCEPTION 'table % has no primary key', tbl
			USING HINT = 'Readers apply changes by primary key: add one (e.g. ALTER TABLE ... ADD PRIMARY KEY (id)).';
	END IF;
	IF array_length(pk_attnums, 1) <> 1 THEN
		RAISE EXCEPTION 'table % has a primary key of % columns; Brainy publishes single-column primary keys only',
			tbl, array_length(pk_attnums, 1);
	END IF;
	SELECT a.attname, format_type(a.atttypid, a.atttypmod) INTO pk_col, pk_type
		FROM pg_attribute a WHERE a.attrelid = tbl AND a.attnum = pk_attnums[1];

	SELECT count(*) INTO n_vec FROM pg_attribute a
		WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid = 'vector'::regtype;
	IF n_vec = 0 THEN
		RAISE EXCEPTION 'table % has no vector column', tbl;
	END IF;
	IF n_vec > 1 THEN
		RAISE EXCEPTION 'table % has % vector columns (%); Brainy publishes tables with exactly one',
			tbl, n_vec, (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a
				WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid = 'vector'::regtype);
	END IF;
	SELECT a.attname, a.atttypmod INTO vec_col, vec_typmod FROM pg_attribute a
		WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid = 'vector'::regtype;
	IF vec_typmod < 1 THEN
		RAISE EXCEPTION 'column %.% has no dimensions', tbl, quote_ident(vec_col)
			USING HINT = 'Declare it vector(n), e.g. ALTER TABLE ... ALTER COLUMN ... TYPE vector(768).';
	END IF;

	cfg_dims := (brainy.config()->'settings'->>'dimensions')::int;
	IF cfg_dims IS NULL THEN
		PERFORM brainy.set_config(jsonb_build_object('dimensions', vec_typmod));
	ELSIF cfg_dims <> vec_typmod THEN
		RAISE EXCEPTION 'column %.% is vector(%), but the cluster''s config.json says dimensions = %',
			tbl, quote_ident(vec_col), vec_typmod, cfg_dims
			USING HINT = 'Every collection of a Brainy cluster has the dimensions of config.json.';
	END IF;
	metric := coalesce(brainy.config()->'settings'->>'distanceMetric', '');

	SELECT jsonb_agg(jsonb_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum),
		   count(*) FILTER (WHERE a.attname NOT IN (pk_col, vec_col))
		INTO cols, n_other
		FROM pg_attribute a WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped;
	PERFORM brainy._publish_schema(c, jsonb_build_object(
		'formatVersion', 1, 'collection', c, 'primaryKey', pk_col, 'vectorColumn', vec_col,
		'dimensions', vec_typmod, 'distanceMetric', metric, 'columns', cols)::text);

	-- the other columns as one JSON object per row
	IF n_other = 0 THEN
		doc_n := 'NULL::jsonb';
		doc_t := 'NULL::jsonb';
	ELSIF n_other <= 50 THEN
		SELECT 'jsonb_build_object(' || string_agg(quote_literal(a.attname) || ', n.' || quote_ident(a.attname), ', ' ORDER BY a.attnum) || ')'
			INTO doc_n FROM pg_attribute a
			WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped AND a.attname NOT IN (pk_col, vec_col);
		doc_t := replace(doc_n, ', n.', ', t.');
	ELSE
		doc_n := format('(to_jsonb(n) - %L - %L)', pk_col, vec_col);
		doc_t := format('(to_jsonb(t) - %L - %L)', pk_col, vec_col);
	END IF;

	-- the capture function: set-based, one INSERT per statement
	fn := format('brainy.%I', 'capture_' || c);
	EXECUTE format($f$
CREATE FUNCTION %1$s() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO brainy.outbox (collection, op, pk, hlc, vec, doc)
		SELECT %2$L, CASE WHEN n.%4$I IS NULL THEN 'D' ELSE 'I' END, n.%3$I::text, brainy._hlc_next(), n.%4$I, %5$s
		FROM brainy_new n;
	ELSIF TG_OP = 'UPDATE' THEN
		INSERT INTO brainy.outbox (collection, op, pk, hlc)
		SELECT %2$L, 'D', o.%3$I::text, brainy._hlc_next()
		FROM brainy_old o WHERE NOT EXISTS (SELECT 1 FROM brainy_new n WHERE n.%3$I = o.%3$I);
		INSERT INTO brainy.outbox (collection, op, pk, hlc, vec, doc)
		SELECT %2$L, CASE WHEN n.%4$I IS NULL THEN 'D' ELSE 'U' END, n.%3$I::text, brainy._hlc_next(), n.%4$I, %5$s
		FROM brainy_new n;
	ELSE
		INSERT INTO brainy.outbox (collection, op, pk, hlc)
		SELECT %2$L, 'D', o.%3$I::text, brainy._hlc_next() FROM brainy_old o;
	END IF;
	RETURN NULL;
END
$body$ SECURITY DEFINER SET search_path = pg_catalog, public
$f$, fn, c, pk_col, vec_col, doc_n);
	EXECUTE format('CREATE TRIGGER brainy_capture_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS brainy_new FOR EACH STATEMENT EXECUTE FUNCTION %s()', tbl, fn);
	EXECUTE format('CREATE TRIGGER brainy_capture_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS brainy_old NEW TABLE AS brainy_new FOR EACH STATEMENT EXECUTE FUNCTION %s()', tbl, fn);
	EXECUTE format('CREATE TRIGGER brainy_capture_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS brainy_old FOR EACH STATEMENT EXECUTE FUNCTION %s()', tbl, fn);
	EXECUTE format('CREATE TRIGGER brainy_capture_truncate BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION brainy._refuse_truncate(%L)', tbl, c);

	-- the backfill: the next batch after the cursor, locked FOR SHARE so a
	-- concurrent update is either before (and read) or after (a newer version)
	q := format($q$
WITH b AS (
	SELECT t.%1$I AS k, t.%2$I AS v, %3$s AS d FROM ONLY %4$s t
	WHERE $1::text IS NULL OR t.%1$I > $1::text::%5$s
	ORDER BY t.%1$I LIMIT $2 FOR SHARE OF t
), ins AS (
	INSERT INTO brainy.outbox (collection, op, pk, hlc, vec, doc)
	SELECT %6$L, CASE WHEN b.v IS NULL THEN 'D' ELSE 'I' END, b.k::text, brainy._hlc_next(), b.v, b.d
	FROM (SELECT * FROM b ORDER BY k) b
)
SELECT count(*), (SELECT k::text FROM b ORDER BY k DESC LIMIT 1) FROM b
$q$, pk_col, vec_col, doc_t, tbl, pk_type, c);

	INSERT INTO brainy.publication (collection, relid, pk_column, vector_column, dimensions, backfill_query)
		VALUES (c, tbl, pk_col, vec_col, vec_typmod, q);
	PERFORM brainy._wake_worker(true);
	RETURN c;
END
$$;
COMMENT ON FUNCTION brainy.publish(regclass, text) IS 'publishes a table''s rows and changes to the bucket as a collection (default: the table''s name)';
REVOKE ALL ON FUNCTION brainy.publish(regclass, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION brainy.publish(regclass, text) TO brainy_admin;

-- one backfill batch (the replication worker calls it): rows copied
CREATE FUNCTION brainy._backfill_step(c text, batch integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	p brainy.publication;
	n bigint;
	last_key text;
BEGIN
	SELECT * INTO p FROM brainy.publication WHERE collection = c FOR UPDATE;
	IF NOT FOUND OR p.backfill_done THEN
		RETURN 0;
	END IF;
	EXECUTE p.backfill_query INTO n, last_key USING p.backfill_cursor, batch;
	IF n < batch THEN
		UPDATE brainy.publication SET backfill_done = true, backfill_cursor = coalesce(last_key, backfill_cursor)
			WHERE collection = c;
	ELSE
		UPDATE brainy.publication SET backfill_cursor = last_key WHERE collection = c;
	END IF;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION brainy._backfill_step(text, integer) FROM PUBLIC;

CREATE FUNCTION brainy.flush(collection text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	c text := collection;
	deadline timestamptz := clock_timestamp() + current_setting('brainy.wait_timeout')::interval;
	target bigint;
	me text;
	mine text;
	pending bigint;
	token text;
BEGIN
	PERFORM brainy._require_node('brainy.flush()', ARRAY['writer', 'hybrid']);
	IF c IS NOT NULL AND NOT EXISTS (SELECT 1 FROM brainy.publication p WHERE p.collection = c) THEN
		RAISE EXCEPTION 'collection "%" is not published on this node', c;
	END IF;
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION 'brainy.flush() must run at READ COMMITTED, not %', upper(current_setting('transaction_isolation'))
			USING HINT = 'It waits for the replication worker''s commits, which a repeatable-read snapshot cannot see.';
	END IF;
	mine := (pg_current_xact_id_if_assigned()::text::bigint % 4294967296)::text;
	IF mine IS NOT NULL AND EXISTS (SELECT 1 FROM brainy.outbox o WHERE o.xmin::text = mine) THEN
		RAISE EXCEPTION 'brainy.flush() must run after the transaction that changed published rows commits'
			USING HINT = 'Call it in a transaction of its own, after COMMIT.';
	END IF;
	me := brainy._local_instance_id();
	target := NULL;
	LOOP
		PERFORM brainy._wake_worker(true);
		IF target IS NULL AND NOT EXISTS (SELECT 1 FROM brainy.publication p
				WHERE (c IS NULL OR p.collection = c) AND NOT p.backfill_done) THEN
			-- the backfill is done: every row it copied has an id below this
			SELECT coalesce(max(o.id), 0) INTO target FROM brainy.outbox o WHERE c IS NULL OR o.collection = c;
		END IF;
		EXIT WHEN target IS NOT NULL AND NOT EXISTS (SELECT 1 FROM brainy.outbox o
			WHERE (c IS NULL OR o.collection = c) AND o.id <= target);
		IF clock_timestamp() > deadline THEN
			SELECT count(*) INTO pending FROM brainy.outbox o WHERE (c IS NULL OR o.collection = c)
				AND (target IS NULL OR o.id <= target);
			RAISE EXCEPTION 'brainy.flush() timed out after %: % change(s) still in the outbox%',
				current_setting('brainy.wait_timeout'), pending,
				CASE WHEN target IS NULL THEN ', backfill not finished' ELSE '' END
				USING HINT = 'See brainy.health() and brainy.publications for object store errors; brainy.wait_timeout sets the limit.';
		END IF;
		PERFORM pg_sleep(0.005);
	END LOOP;
	SELECT string_agg(p.collection || ':' || me || ':' || p.published_seq, ',' ORDER BY p.collection) INTO token
		FROM brainy.publication p WHERE c IS NULL OR p.collection = c;
	RETURN coalesce(token, '');
END
$$;
-- for every user (ingest services call it for read-your-writes): it only
-- reads the outbox and wakes the worker
ALTER FUNCTION brainy.flush(text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION brainy.flush(text) IS 'waits until every committed change (and the backfill) is in a segment; returns a token for brainy.wait_for() on readers';

CREATE FUNCTION brainy.unpublish(collection text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	p brainy.publication;
BEGIN
	SELECT * INTO p FROM brainy.publication x WHERE x.collection = unpublish.collection;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'collection "%" is not published on this node', unpublish.collection;
	END IF;
	-- publish what was committed before, then stop capturing (the lock the
	-- DROP TRIGGERs take), then publish what came in between
	PERFORM brainy.flush(p.collection);
	EXECUTE format('DROP TRIGGER IF EXISTS brainy_capture_insert ON %s', p.relid);
	EXECUTE format('DROP TRIGGER IF EXISTS brainy_capture_update ON %s', p.relid);
	EXECUTE format('DROP TRIGGER IF EXISTS brainy_capture_delete ON %s', p.relid);
	EXECUTE format('DROP TRIGGER IF EXISTS brainy_capture_truncate ON %s', p.relid);
	EXECUTE format('DROP FUNCTION IF EXISTS brainy.%I()', 'capture_' || p.collection);
	PERFORM brainy.flush(p.collection);
	DELETE FROM brainy.publication x WHERE x.collection = p.collection;
	PERFORM brainy._wake_worker(true);
END
$$;
COMMENT ON FUNCTION brainy.unpublish(text) IS 'stops publishing a collection (after flushing what was captured); the bucket keeps its log';
REVOKE ALL ON FUNCTION brainy.unpublish(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION brainy.unpublish(text) TO brainy_admin;

CREATE FUNCTION brainy._publication_state(
	OUT collection text, OUT rows_per_second double precision, OUT rows_published bigint,
	OUT last_flush_at timestamptz, OUT error text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'brainy_publication_state' LANGUAGE C VOLATILE;

CREATE VIEW brainy.publications AS
	SELECT p.collection, p.relid AS table_name, p.published_seq,
		(SELECT count(*) FROM brainy.outbox o WHERE o.collection = p.collection) AS outbox_pending,
		p.backfill_done, s.rows_per_second, s.rows_published, s.last_flush_at, s.error
	FROM brainy.publication p LEFT JOIN brainy._publication_state() s USING (collection);
COMMENT ON VIEW brainy.publications IS 'the collections this node publishes: last segment, outbox, backfill, throughput, errors';

-- reader: subscribe, unsubscribe, wait_for, brainy.subscriptions ---------------

CREATE FUNCTION brainy._fetch_schema(collection text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'brainy_fetch_schema' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION brainy._fetch_schema(text) IS 'a collection''s schema.json from the bucket, validated';
REVOKE ALL ON FUNCTION brainy._fetch_schema(text) FROM PUBLIC;

CREATE FUNCTION brainy._collection_writers(collection text) RETURNS TABLE (writer_id text)
	AS 'MODULE_PATHNAME', 'brainy_collection_writers' LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION brainy._collection_writers(text) FROM PUBLIC;

CREATE FUNCTION brainy._subscription_changed(collection text, mirror regclass) RETURNS void
	AS 'MODULE_PATHNAME', 'brainy_subscription_changed' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION brainy._subscription_changed(text, regclass) FROM PUBLIC;

-- the guard trigger of mirror tables: only the replication worker writes there
CREATE FUNCTION brainy._mirror_guard() RETURNS trigger
	AS 'MODULE_PATHNAME', 'brainy_mirror_guard' LANGUAGE C;

CREATE FUNCTION brainy.subscribe(collection text, "into" regclass DEFAULT NULL) RETURNS regclass
LANGUAGE plpgsql AS $$
DECLARE
	c text := collection;
	sch jsonb;
	pk_col text;
	vec_col text;
	dims int;
	metric text;
	opclass text;
	tbl regclass := "into";
	col jsonb;
	mine text[];
	theirs text[];
	i int;
	defs text := '';
	existing_pk int2[];
	n_idx int;
	w text;
BEGIN
	IF c IS NULL THEN
		RAISE EXCEPTION 'brainy.subscribe() needs a collection name, not NULL';
	END IF;
	IF c !~ '^[a-z][a-z0-9_]{0,62}$' THEN
		RAISE EXCEPTION 'invalid collection name "%"', c
			USING HINT = 'A collection name is 1 to 63 lower-case letters, digits and underscores, starting with a letter.';
	END IF;
	PERFORM brainy._require_node('brainy.subscribe()', ARRAY['reader', 'hybrid']);
	IF EXISTS (SELECT 1 FROM brainy.subscription s WHERE s.collection = c) THEN
		RAISE EXCEPTION 'collection "%" is already followed here (into table %)', c,
			(SELECT s.relid FROM brainy.subscription s WHERE s.collection = c);
	END IF;
	IF EXISTS (SELECT 1 FROM brainy.publication p WHERE p.collection = c) THEN
		RAISE EXCEPTION 'collection "%" is published by this node: a writer does not follow its own log', c;
	END IF;

	sch := brainy._fetch_schema(c);
	pk_col := sch->>'primaryKey';
	vec_col := sch->>'vectorColumn';
	dims := (sch->>'dimensions')::int;
	FOR col IN SELECT * FROM jsonb_array_elements(sch->'columns') LOOP
		IF to_regtype(col->>'type') IS NULL THEN
			RAISE EXCEPTION 'collection "%": column "%" has type "%", which this node does not know',
				c, col->>'name', col->>'type'
				USING HINT = 'Install the extension that defines it, or publish the collection without that column.';
		END IF;
	END LOOP;

	metric := lower(coalesce(nullif(brainy.config()->'settings'->>'distanceMetric', ''), nullif(sch->>'distanceMetric', ''), 'l2'));
	opclass := CASE
		WHEN metric IN ('l2', 'euclidean') THEN 'vector_l2_ops'
		WHEN metric IN ('cosine') THEN 'vector_cosine_ops'
		WHEN metric IN ('ip', 'inner_product', 'dot') THEN 'vector_ip_ops'
		WHEN metric IN ('l1', 'manhattan', 'taxicab') THEN 'vector_l1_ops'
	END;
	IF opclass IS NULL THEN
		RAISE EXCEPTION 'config.json distanceMetric "%" has no brainy_hnsw operator class', metric
			USING HINT = 'Use l2, cosine, ip or l1 (brainy.set_config).';
	END IF;

	IF tbl IS NULL THEN
		tbl := to_regclass(format('public.%I', c));
	END IF;
	IF tbl IS NULL THEN
		-- a new mirror table, with the published table's columns
		FOR col IN SELECT * FROM jsonb_array_elements(sch->'columns') LOOP
			defs := defs || format('%I %s, ', col->>'name', col->>'type');
		END LOOP;
		-- rows up to a page stay inline and uncompressed: pglz was a fifth of
		-- the apply's time on compressible vectors (Fashion-MNIST), and exact
		-- scans read them without decompressing (docs/vector.md)
		EXECUTE format('CREATE TABLE public.%I (%s PRIMARY KEY (%I)) WITH (toast_tuple_target = 8160)', c, defs, pk_col);
		tbl := format('public.%I', c)::regclass;
	ELSE
		-- adopt an existing table: same columns, empty, not in use elsewhere
		IF (SELECT relkind FROM pg_class WHERE oid = tbl) <> 'r' THEN
			RAISE EXCEPTION '% is not a table: a mirror must be a plain table', tbl;
		END IF;
		IF EXISTS (SELECT 1 FROM brainy.subscription s WHERE s.relid = tbl) THEN
			RAISE EXCEPTION 'table % is already the mirror of collection "%"', tbl,
				(SELECT s.collection FROM brainy.subscription s WHERE s.relid = tbl);
		END IF;
		IF EXISTS (SELECT 1 FROM brainy.publication p WHERE p.relid = tbl) THEN
			RAISE EXCEPTION 'table % is published (as collection "%"): it cannot be a mirror', tbl,
				(SELECT p.collection FROM brainy.publication p WHERE p.relid = tbl);
		END IF;
		SELECT array_agg(a.attname::text || ' ' || CASE WHEN a.atttypid = 'vector'::regtype
					THEN 'vector(' || a.atttypmod || ')' ELSE format_type(a.atttypid, a.atttypmod) END ORDER BY a.attnum)
			INTO mine FROM pg_attribute a WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped;
		SELECT array_agg((x->>'name') || ' ' || CASE WHEN x->>'name' = vec_col THEN 'vector(' || dims || ')'
					ELSE format_type(to_regtype(x->>'type'), CASE WHEN x->>'type' ~ '\(' THEN
						(SELECT a.atttypmod FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = x->>'name') ELSE -1 END) END
					ORDER BY o)
			INTO theirs FROM jsonb_array_elements(sch->'columns') WITH ORDINALITY AS t(x, o);
		FOR i IN 1 .. greatest(cardinality(mine), cardinality(theirs)) LOOP
			IF mine[i] IS DISTINCT FROM theirs[i] THEN
				RAISE EXCEPTION 'table % does not match collection "%": column % is "%" here and "%" in its schema.json',
					tbl, c, i, coalesce(mine[i], '(none)'), coalesce(theirs[i], '(none)')
					USING HINT = 'A mirror has the published table''s columns, in order, with the same types; subscribe into another table, or let brainy.subscribe() create one.';
			END IF;
		END LOOP;
		-- the published types with a typmod must match exactly
		FOR col IN SELECT * FROM jsonb_array_elements(sch->'columns') LOOP
			IF col->>'name' <> vec_col AND (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
					WHERE a.attrelid = tbl AND a.attname = col->>'name') <> col->>'type' THEN
				RAISE EXCEPTION 'table % does not match collection "%": column "%" is % here and % in its schema.json',
					tbl, c, col->>'name', (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
					WHERE a.attrelid = tbl AND a.attname = col->>'name'), col->>'type';
			END IF;
		END LOOP;
		EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM %s LIMIT 1) x', tbl) INTO i;
		IF i > 0 THEN
			RAISE EXCEPTION 'table % is not empty: a mirror starts empty and holds only replicated rows', tbl
				USING HINT = 'TRUNCATE it first, or subscribe into another table.';
		END IF;
		SELECT conkey INTO existing_pk FROM pg_constraint WHERE conrelid = tbl AND contype = 'p';
		IF existing_pk IS NULL THEN
			EXECUTE format('ALTER TABLE %s ADD PRIMARY KEY (%I)', tbl, pk_col);
		ELSIF existing_pk <> ARRAY[(SELECT a.attnum FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = pk_col)] THEN
			RAISE EXCEPTION 'table % has another primary key than collection "%" (%)', tbl, c, pk_col;
		END IF;
	END IF;

	-- the index for ORDER BY embedding <-> $1, unless one is there already
	SELECT count(*) INTO n_idx FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
		JOIN pg_am am ON am.oid = i.relam
		WHERE x.indrelid = tbl AND am.amname = 'brainy_hnsw'
		AND x.indkey[0] = (SELECT a.attnum FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = vec_col);
	IF n_idx = 0 THEN
		-- fastupdate: the apply appends rows to the pending list, and the
		-- replication worker links them into the graph between segments
		EXECUTE format('CREATE INDEX ON %s USING brainy_hnsw (%I %s) WITH (fastupdate = on)', tbl, vec_col, opclass);
	END IF;
	EXECUTE format('CREATE TRIGGER brainy_mirror_guard BEFORE INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION brainy._mirror_guard(%L)', tbl, c);
	EXECUTE format('CREATE TRIGGER brainy_mirror_guard_truncate BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION brainy._mirror_guard(%L)', tbl, c);

	INSERT INTO brainy.subscription (collection, relid, pk_column, vector_column, dimensions, schema_json)
		VALUES (c, tbl, pk_col, vec_col, dims, sch);
	FOR w IN SELECT x.writer_id FROM brainy._collection_writers(c) x LOOP
		INSERT INTO brainy.subscription_writer (collection, writer_id) VALUES (c, w) ON CONFLICT DO NOTHING;
	END LOOP;
	PERFORM brainy._subscription_changed(c, tbl);
	RETURN tbl;
END
$$;
COMMENT ON FUNCTION brainy.subscribe(text, regclass) IS 'follows a published collection into a local mirror table (created as public.<collection>, or the table given)';
REVOKE ALL ON FUNCTION brainy.subscribe(text, regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION brainy.subscribe(text, regclass) TO brainy_admin;

CREATE FUNCTION brainy.unsubscribe(collection text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	s brainy.subscription;
BEGIN
	SELECT * INTO s FROM brainy.subscription x WHERE x.collection = unsubscribe.collection FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'collection "%" is not followed on this node', unsubscribe.collection;
	END IF;
	IF to_regclass(s.relid::text) IS NOT NULL THEN
		EXECUTE format('DROP TRIGGER IF EXISTS brainy_mirror_guard ON %s', s.relid);
		EXECUTE format('DROP TRIGGER IF EXISTS brainy_mirror_guard_truncate ON %s', s.relid);
	END IF;
	DELETE FROM brainy.subscription x WHERE x.collection = s.collection;
	DELETE FROM brainy.row_version v WHERE v.collection = s.collection;
	PERFORM brainy._subscription_changed(s.collection, NULL);
END
$$;
COMMENT ON FUNCTION brainy.unsubscribe(text) IS 'stops following a collection; the mirror table stays, as an ordinary table';
REVOKE ALL ON FUNCTION brainy.unsubscribe(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION brainy.unsubscribe(text) TO brainy_admin;

CREATE FUNCTION brainy._subscription_state(
	OUT collection text, OUT writer_id text, OUT applied_seq bigint, OUT head_seq bigint,
	OUT lag_ms bigint, OUT rows_per_second double precision, OUT rows_applied bigint,
	OUT stopped boolean, OUT error text, OUT fresh_as_of timestamptz)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'brainy_subscription_state' LANGUAGE C VOLATILE;

CREATE VIEW brainy.subscriptions AS
	SELECT s.collection, s.relid AS mirror, w.writer_id, w.applied_seq,
		greatest(st.head_seq, w.applied_seq) AS head_seq, st.lag_ms, st.rows_per_second,
		CASE WHEN st.stopped THEN 'stopped' ELSE 'following' END AS state, st.error,
		w.applied_at, st.fresh_as_of,
		(SELECT sum(brainy_hnsw_pending_rows(x.indexrelid))::bigint FROM pg_catalog.pg_index x
			JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid JOIN pg_catalog.pg_am a ON a.oid = i.relam
			WHERE x.indrelid = s.relid AND a.amname = 'brainy_hnsw') AS unlinked_rows
	FROM brainy.subscription s
	LEFT JOIN brainy.subscription_writer w ON w.collection = s.collection
	LEFT JOIN brainy._subscription_state() st ON st.collection = s.collection AND st.writer_id = w.writer_id;
GRANT SELECT ON brainy.subscriptions TO PUBLIC;
COMMENT ON VIEW brainy.subscriptions IS 'the collections this node follows, one row per writer: applied and head seq, lag, rows/s, state, error, mirror rows not linked into its index graph yet';

-- brainy.wait_for(token): read-your-writes across nodes
CREATE FUNCTION brainy.wait_for(token text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	deadline timestamptz;
	part text;
	parts text[];
	m text[];
	cs text[] := '{}';
	ws text[] := '{}';
	seqs bigint[] := '{}';
	i int;
	done boolean;
	missing text;
BEGIN
	IF token IS NULL THEN
		RAISE EXCEPTION 'brainy.wait_for() needs a token, not NULL';
	END IF;
	parts := CASE WHEN btrim(token) = '' THEN '{}'::text[] ELSE string_to_array(token, ',') END;
	FOREACH part IN ARRAY parts LOOP
		m := regexp_match(btrim(part), '^([a-z][a-z0-9_]{0,62}):([A-Za-z0-9][A-Za-z0-9._-]{0,62}):([0-9]{1,18})$');
		IF m IS NULL THEN
			RAISE EXCEPTION 'invalid brainy.wait_for() token "%": "%" is not collection:writer:seq', token, part
				USING HINT = 'Pass the token brainy.flush() returned on the writer, e.g. ''items:writer-1:42''.';
		END IF;
		cs := cs || m[1];
		ws := ws || m[2];
		seqs := seqs || m[3]::bigint;
	END LOOP;
	IF cardinality(cs) = 0 THEN
		RETURN;
	END IF;
	PERFORM brainy._require_node('brainy.wait_for()', ARRAY['reader', 'hybrid']);
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION 'brainy.wait_for() must run at READ COMMITTED, not %', upper(current_setting('transaction_isolation'))
			USING HINT = 'It waits for the replication worker''s commits, which a repeatable-read snapshot cannot see.';
	END IF;
	FOR i IN 1 .. cardinality(cs) LOOP
		IF NOT EXISTS (SELECT 1 FROM brainy.subscription s WHERE s.collection = cs[i]) THEN
			RAISE EXCEPTION 'brainy.wait_for(): collection "%" is not followed on this node', cs[i]
				USING HINT = 'brainy.subscribe() it first.';
		END IF;
	END LOOP;
	deadline := clock_timestamp() + current_setting('brainy.wait_timeout')::interval;
	PERFORM brainy._wake_worker(false);
	LOOP
		done := true;
		missing := NULL;
		FOR i IN 1 .. cardinality(cs) LOOP
			IF NOT EXISTS (SELECT 1 FROM brainy.subscription_writer w
					WHERE w.collection = cs[i] AND w.writer_id = ws[i] AND w.applied_seq >= seqs[i]) THEN
				done := false;
				EXIT;
			END IF;
		END LOOP;
		EXIT WHEN done;
		IF clock_timestamp() > deadline THEN
			-- what is missing, for the message (not built at every look)
			FOR i IN 1 .. cardinality(cs) LOOP
				CONTINUE WHEN EXISTS (SELECT 1 FROM brainy.subscription_writer w
					WHERE w.collection = cs[i] AND w.writer_id = ws[i] AND w.applied_seq >= seqs[i]);
				missing := coalesce(missing || '; ', '') || format('collection "%s", writer "%s": seq %s wanted, %s',
					cs[i], ws[i], seqs[i], coalesce((SELECT format('%s applied%s', w.applied_seq,
						CASE WHEN st.stopped THEN ' (stream stopped: ' || st.error || ')' ELSE '' END)
						FROM brainy.subscription_writer w
						LEFT JOIN brainy._subscription_state() st ON st.collection = w.collection AND st.writer_id = w.writer_id
						WHERE w.collection = cs[i] AND w.writer_id = ws[i]), 'writer not known here yet'));
			END LOOP;
			RAISE EXCEPTION 'brainy.wait_for() timed out after %: %', current_setting('brainy.wait_timeout'), missing
				USING HINT = 'See brainy.subscriptions and brainy.health(); brainy.wait_timeout sets the limit.';
		END IF;
		PERFORM pg_sleep(0.01);
	END LOOP;
END
$$;
COMMENT ON FUNCTION brainy.wait_for(text) IS 'waits until every collection:writer:seq of a brainy.flush() token is applied on this node';
