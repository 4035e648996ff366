-- The capture queue. One row per row change, written by @extschema@.capture().
-- xid is the writing transaction's 64-bit id: senders select changes by commit snapshot
-- ("visible in hi, not visible in lo"), never by "id > last id", so a transaction that
-- commits after later-started ones is never skipped. Within a snapshot range rows are sent in
-- id order, which for one row is the order its changes were made.
CREATE TABLE @extschema@.changes (
    -- no CACHE: ids must follow the order in which changes were made across all sessions (a
    -- later change of a row waits for the earlier one's row lock, then takes a higher id)
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid         xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    sync_id     integer NOT NULL,
    relid       oid NOT NULL,
    -- I, U, D or T. No CHECK constraint: the executor re-reads a CHECK's expression from the
    -- catalog for every statement, which cost the capture trigger a quarter of its time per row;
    -- only the capture functions write this table
    op          "char" NOT NULL,
    -- when the row was changed (not when its transaction began): conflict resolution 'latest'
    -- compares these, so a change made after another was seen always carries a later time
    at          timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    old         jsonb,
    new         jsonb
);
ALTER TABLE @extschema@.changes SET (autovacuum_vacuum_scale_factor = 0.02);
COMMENT ON TABLE @extschema@.changes IS
    'mmsync capture queue: changes made on this node, purged once every peer has applied them';
