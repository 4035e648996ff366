-- Retention policy of a sync's queue on this node (set with @extschema@.set_retention(); a sync
-- without a row has the defaults: warnings only, no limit). Each node applies its own policy to
-- its own queue: it is the node's disk that a peer staying away fills.
--   warn_changes / warn_age: status() warns (in last_error) once a peer's backlog has this many
--     changes, or its oldest change is this old;
--   max_changes / max_age (NULL: no limit): past either, the local agent marks the peer as needing
--     a resync and drops the changes queued for it (see resync_needed and docs/operations.md).
CREATE TABLE @extschema@.retention (
    sync_name     text PRIMARY KEY REFERENCES @extschema@.syncs (name) ON DELETE CASCADE,
    max_changes   bigint CHECK (max_changes > 0),
    max_age       interval CHECK (max_age > interval '0'),
    warn_changes  bigint NOT NULL CHECK (warn_changes > 0),
    warn_age      interval NOT NULL CHECK (warn_age > interval '0'),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (warn_changes <= max_changes),
    CHECK (warn_age <= max_age)
);
COMMENT ON TABLE @extschema@.retention IS
    'mmsync queue retention per sync on this node (set_retention()); no row: warn at 1,000,000 changes or 1 hour, no limit';

-- Peers that went past a retention limit: the changes queued here for them were dropped, so the
-- local sender does not send them anything more (newer changes over a hole would make the peer
-- silently different); the queue is no longer kept for them. Cleared by clear_resync() once the
-- DBA has copied the tables (docs/operations.md, "Resync after the retention limit").
CREATE TABLE @extschema@.resync_needed (
    sync_name   text NOT NULL,
    peer        text NOT NULL,
    since       timestamptz NOT NULL DEFAULT now(),
    dropped     bigint NOT NULL CHECK (dropped >= 0),
    reason      text NOT NULL,
    PRIMARY KEY (sync_name, peer)
);
COMMENT ON TABLE @extschema@.resync_needed IS
    'mmsync peers past a retention limit: their queued changes were dropped; resync, then clear_resync()';
