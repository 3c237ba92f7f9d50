-- repl_writer: the writer's SQL API in a server that is not a cluster
-- member (this test server does not preload brainy): every entry point
-- fails with an error that says what is missing, and nothing is left
-- behind.  Publishing for real: test/suites/repl_*.sh.

CREATE TABLE repl_items (id bigint PRIMARY KEY, embedding vector(3), title text);

-- no brainy.storage: not a cluster
SELECT brainy.publish('repl_items');
SELECT brainy.flush();
SELECT brainy.unpublish('repl_items');

-- the clock needs the shared memory of a preloaded brainy
SELECT brainy._hlc_next();

-- nothing was captured or published
SELECT count(*) AS publications FROM brainy.publication;
SELECT count(*) AS outbox FROM brainy.outbox;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'repl_items'::regclass ORDER BY 1;
SELECT * FROM brainy.publications;

-- the catalog is for brainy_admin, not for every user; brainy.flush() is
CREATE ROLE repl_writer_user;
SET ROLE repl_writer_user;
SELECT count(*) FROM brainy.outbox;
SELECT brainy.publish('repl_items');
SELECT brainy.flush();
RESET ROLE;
SET ROLE brainy_admin;
SELECT count(*) AS outbox_for_admin FROM brainy.outbox;
RESET ROLE;
DROP ROLE repl_writer_user;

DROP TABLE repl_items;
