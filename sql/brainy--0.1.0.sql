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
	pk text NOT NULL,
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
