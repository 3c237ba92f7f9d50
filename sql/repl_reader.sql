-- repl_reader: the reader's SQL API in a server that is not a cluster
-- member (this test server does not preload brainy): bad input and missing
-- settings give errors that say what is wrong, the mirror guard trigger
-- rejects user writes, brainy.consistency costs nothing on ordinary
-- tables, and nothing is left behind.  Following for real:
-- test/suites/repl_reader.sh.

-- no brainy.storage: not a cluster
SELECT brainy.subscribe('items');
SELECT brainy.unsubscribe('items');
SELECT brainy._fetch_schema('items');
SELECT * FROM brainy._collection_writers('items');

-- collection names are checked before anything else
SELECT brainy.subscribe('Items');
SELECT brainy.subscribe('');
SELECT brainy.subscribe(NULL);
SELECT brainy._fetch_schema('../x');
SELECT brainy._fetch_schema('a/b');

-- wait_for: tokens are collection:writer:seq[,...]
SELECT brainy.wait_for(NULL);
SELECT brainy.wait_for('items');
SELECT brainy.wait_for('items:w1');
SELECT brainy.wait_for('items:w1:x');
SELECT brainy.wait_for('items:w1:-1');
SELECT brainy.wait_for('items:w1:1,');
SELECT brainy.wait_for('Items:w1:1');
SELECT brainy.wait_for('items::1');
SELECT brainy.wait_for('items:w/1:1');
SELECT brainy.wait_for('items:w1:1234567890123456789');
-- an empty token (brainy.flush() with nothing published) waits for nothing
SELECT brainy.wait_for('');
-- a well-formed token still needs a cluster
SELECT brainy.wait_for('items:writer-1:3');
SELECT brainy.wait_for('items:writer-1:3, other:writer.2:0');

-- the view is empty, not an error
SELECT * FROM brainy.subscriptions;
SELECT * FROM brainy._subscription_state();

-- the guard trigger: only the replication worker writes to a mirror
CREATE TABLE mirror_items (id bigint PRIMARY KEY, embedding vector(3), title text);
INSERT INTO mirror_items VALUES (1, '[1,2,3]', 'before');
CREATE TRIGGER brainy_mirror_guard BEFORE INSERT OR UPDATE OR DELETE ON mirror_items
	FOR EACH ROW EXECUTE FUNCTION brainy._mirror_guard('items');
CREATE TRIGGER brainy_mirror_guard_truncate BEFORE TRUNCATE ON mirror_items
	FOR EACH STATEMENT EXECUTE FUNCTION brainy._mirror_guard('items');
INSERT INTO mirror_items VALUES (2, '[4,5,6]', 'user');
UPDATE mirror_items SET title = 'changed' WHERE id = 1;
DELETE FROM mirror_items WHERE id = 1;
TRUNCATE mirror_items;
COPY mirror_items FROM STDIN;
3	[7,8,9]	copied
\.
INSERT INTO mirror_items VALUES (1, '[1,1,1]', 'upsert') ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title;
-- reads are fine, and nothing changed
SELECT * FROM mirror_items;
-- a statement that touches no row does not fire a row trigger
UPDATE mirror_items SET title = 'none' WHERE id = 42;
-- not as a plain function
SELECT brainy._mirror_guard();

-- brainy.consistency: bounded and strong do nothing for tables that are not mirrors
SET brainy.consistency = strong;
SELECT count(*) FROM mirror_items;
SET brainy.consistency = bounded;
SET brainy.max_staleness = 0;
SELECT count(*) FROM mirror_items;
SET brainy.consistency = 'sometimes';
RESET brainy.consistency;
RESET brainy.max_staleness;

-- the catalog and the internal functions are not for users
CREATE ROLE repl_reader_plain;
SET ROLE repl_reader_plain;
SELECT count(*) FROM brainy.subscription;
SELECT count(*) FROM brainy.row_version;
SELECT brainy.subscribe('items');
SELECT brainy._fetch_schema('items');
SELECT count(*) FROM brainy.subscriptions;
RESET ROLE;
DROP ROLE repl_reader_plain;

-- nothing was subscribed
SELECT count(*) AS subscriptions FROM brainy.subscription;
SELECT count(*) AS writers FROM brainy.subscription_writer;
DROP TABLE mirror_items;
