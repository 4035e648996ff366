-- The capture queue (issue 14). One row per row change, written by @extschema@.capture() into
-- one of three tables, changes_0..2 (PgQ and Slony keep their queues this way): the queue is
-- never purged row by row; a table is emptied with TRUNCATE once every peer has confirmed
-- everything in it (@extschema@._queue_maintain), so it leaves no dead tuples and needs no
-- VACUUM (autovacuum is off on them).
--
-- Which table a change goes to follows from its id: ids of epoch e are e * 2^24 .. e * 2^24 +
-- 2^24 - 1 and go to changes_<e % 3>. Rotating to the next table is one setval of the id
-- sequence to the next epoch's first id, so the trigger looks nothing up per row, and ids keep
-- growing: for one row, id order is still the order its changes were made. Plain tables, not
-- partitions of one table: partitioning cost the capture trigger about 45,000 instructions per
-- pgbench -N transaction (7%; bench/capture-cost -I, variants current, direct and plain), with
-- routing or without. Only the capture functions write them (no CHECK of the id: a CHECK costs
-- every insert a catalog read).
--
-- xid is the writing transaction's 64-bit id: senders select changes by commit snapshot
-- ("visible in hi, not visible in lo"), never by "id > last id", so a transaction that commits
-- after later-started ones is never skipped. Within a snapshot range rows are sent in id order.
--
-- no CACHE: ids must follow the order in which changes were made across all sessions (a later
-- change of a row waits for the earlier one's row lock, then takes a higher id). Neither would
-- the transaction id and a counter per transaction do: a transaction that waits for another's row
-- lock may have taken its transaction id before that one, and the sender, which sends a snapshot
-- range's rows in id order, would then send the row's later change first.
CREATE SEQUENCE @extschema@.change_queue_id_seq NO CYCLE;
CREATE TABLE @extschema@.changes_0 (
    id          bigint NOT NULL DEFAULT pg_catalog.nextval('@extschema@.change_queue_id_seq'::pg_catalog.regclass),
    xid         xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    sync_id     integer NOT NULL,
    relid       oid NOT NULL,
    -- I, U, D or T. No CHECK constraint: the executor re-reads a CHECK's expression from the
    -- catalog for every statement, which cost the capture trigger a quarter of its time per row
    op          "char" NOT NULL,
    -- when the row was changed (not when its transaction began): conflict resolution 'latest'
    -- compares these, so a change made after another was seen always carries a later time
    at          timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    old         jsonb,
    new         jsonb
) WITH (fillfactor = 100, autovacuum_enabled = false, toast.autovacuum_enabled = false);
CREATE TABLE @extschema@.changes_1 (
    id          bigint NOT NULL DEFAULT pg_catalog.nextval('@extschema@.change_queue_id_seq'::pg_catalog.regclass),
    xid         xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    sync_id     integer NOT NULL,
    relid       oid NOT NULL,
    op          "char" NOT NULL,
    at          timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    old         jsonb,
    new         jsonb
) WITH (fillfactor = 100, autovacuum_enabled = false, toast.autovacuum_enabled = false);
CREATE TABLE @extschema@.changes_2 (
    id          bigint NOT NULL DEFAULT pg_catalog.nextval('@extschema@.change_queue_id_seq'::pg_catalog.regclass),
    xid         xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    sync_id     integer NOT NULL,
    relid       oid NOT NULL,
    op          "char" NOT NULL,
    at          timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    old         jsonb,
    new         jsonb
) WITH (fillfactor = 100, autovacuum_enabled = false, toast.autovacuum_enabled = false);
-- No primary key: the one index is what the sender walks (a sync's changes in id order).
CREATE INDEX changes_0_sync_id_id ON @extschema@.changes_0 (sync_id, id);
CREATE INDEX changes_1_sync_id_id ON @extschema@.changes_1 (sync_id, id);
CREATE INDEX changes_2_sync_id_id ON @extschema@.changes_2 (sync_id, id);
COMMENT ON TABLE @extschema@.changes_0 IS
    'mmsync capture queue, table 0 of 3 (ids of epochs 0, 3, 6, ...); truncated once every peer has applied it';
COMMENT ON TABLE @extschema@.changes_1 IS
    'mmsync capture queue, table 1 of 3 (ids of epochs 1, 4, 7, ...); truncated once every peer has applied it';
COMMENT ON TABLE @extschema@.changes_2 IS
    'mmsync capture queue, table 2 of 3 (ids of epochs 2, 5, 8, ...); truncated once every peer has applied it';
-- The three tables as one (maintenance, tests, bench); readers use @extschema@.changes.
CREATE VIEW @extschema@.change_queue AS
          SELECT q.id, q.xid, q.sync_id, q.relid, q.op, q.at, q.old, q.new FROM @extschema@.changes_0 q
UNION ALL SELECT q.id, q.xid, q.sync_id, q.relid, q.op, q.at, q.old, q.new FROM @extschema@.changes_1 q
UNION ALL SELECT q.id, q.xid, q.sync_id, q.relid, q.op, q.at, q.old, q.new FROM @extschema@.changes_2 q;

-- One row per queue table. epoch: the newest epoch of ids that went to it (NULL: never used);
-- first_epoch: the oldest epoch that may still have rows in it; ended: a snapshot taken after
-- the next epoch began, its xmax raised to a transaction id taken then (@extschema@._queue_ended;
-- NULL while it is the current table): every transaction that took an id of this table's epochs
-- has a lower transaction id, so once a snapshot every peer has confirmed has xmin >=
-- xmax(ended), nobody needs a row of the table; truncated: emptied since.
CREATE TABLE @extschema@.queue_tables (
    slot        integer PRIMARY KEY CHECK (slot BETWEEN 0 AND 2),
    epoch       bigint CHECK (epoch % 3 = slot),
    first_epoch bigint CHECK (first_epoch <= epoch),
    started     timestamptz,
    ended       pg_snapshot,
    truncated   boolean NOT NULL DEFAULT false
);
INSERT INTO @extschema@.queue_tables (slot, epoch, first_epoch, started) VALUES (0, 0, 0, pg_catalog.now());
INSERT INTO @extschema@.queue_tables (slot) VALUES (1), (2);

-- What @extschema@._queue_maintain last found: purged (changes visible in it are no longer
-- needed by any peer, the conflict window included: see @extschema@.purge_marks) and floor (the
-- first id of the oldest table still needed; tables below it wait to be truncated).
CREATE TABLE @extschema@.queue_state (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    purged  pg_snapshot,
    floor   bigint NOT NULL DEFAULT 0
);
INSERT INTO @extschema@.queue_state DEFAULT VALUES;

-- The queue as every reader sees it (senders, the conflict resolver's competitor lookup, status,
-- wait_synced, retention): the changes still needed, as if purged row by row at the last
-- _queue_maintain. Rows below floor are skipped by the index, not filtered one by one. DELETE
-- (drop_sync, retention) and INSERT (a capture function of 0.1.0 still running while the
-- extension is updated) go to the right table through @extschema@._changes_write().
-- old is the row before the change, whole: the C capture trigger queues of an update's old row
-- only the columns the update changed (new || old is the whole row; an update that changed
-- nothing has {}), which saves the writer the encoding and storing of the unchanged columns.
-- PL/pgSQL and 0.1.0 queue the whole old row, which || leaves as it is.
CREATE VIEW @extschema@.changes AS
SELECT c.id, c.xid, c.sync_id, c.relid, c.op, c.at,
       CASE WHEN c.op OPERATOR(pg_catalog.=) 'U' THEN c.new OPERATOR(pg_catalog.||) c.old ELSE c.old END AS old, c.new
FROM @extschema@.change_queue c
WHERE c.id >= (SELECT q.floor FROM @extschema@.queue_state q)
  AND NOT coalesce(pg_catalog.pg_visible_in_snapshot(c.xid, (SELECT q.purged FROM @extschema@.queue_state q)), false);
COMMENT ON VIEW @extschema@.changes IS
    'mmsync capture queue: changes made on this node that some peer may still need';
CREATE TRIGGER changes_write INSTEAD OF INSERT OR DELETE ON @extschema@.changes
    FOR EACH ROW EXECUTE FUNCTION @extschema@._changes_write();
