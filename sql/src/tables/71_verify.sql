-- Issue 17: compares the engine runs on its own, so that status() does not go on saying "in sync"
-- about nodes nobody has compared for long. One row per sync whose schedule a DBA set with
-- @extschema@.set_verify() on this node; a sync without a row is compared once a day. every NULL:
-- never on a schedule (mmsync compare by hand only). Each node applies its own schedule to its
-- own pairs; a compare records its run on both nodes, so the peer's engine does not repeat it.
CREATE TABLE @extschema@.verify_schedule (
    sync_name   text PRIMARY KEY REFERENCES @extschema@.syncs (name) ON DELETE CASCADE,
    every       interval CHECK (every >= interval '1 second'),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE @extschema@.verify_schedule IS
    'mmsync scheduled compares per sync on this node (set_verify()); no row: once a day';
