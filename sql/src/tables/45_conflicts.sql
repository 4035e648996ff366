-- Every conflict resolved on this node: two nodes changed the same row concurrently. Nothing is
-- discarded in silence: the losing version of the row is kept here until the DBA purges it
-- (DELETE FROM mmsync.conflicts WHERE detected_at < ...).
CREATE TABLE @extschema@.conflicts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    detected_at     timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    sync_name       text NOT NULL,
    schema_name     name NOT NULL,
    table_name      name NOT NULL,
    key             text NOT NULL,
    -- '<remote op>_<local op>', e.g. update_update, update_delete, insert_insert, delete_delete
    kind            text NOT NULL,
    strategy        text NOT NULL,
    -- 'remote_applied': the change from origin won; 'local_kept': this node's version won;
    -- 'merged': delta columns added up, the rest decided as the strategy says; 'pending': abort
    resolution      text NOT NULL CHECK (resolution IN ('remote_applied', 'local_kept', 'merged', 'pending', 'skipped')),
    origin          text NOT NULL,
    origin_change   bigint NOT NULL,
    remote_at       timestamptz,
    local_at        timestamptz,
    winning_row     jsonb,
    losing_row      jsonb,
    decision        text CHECK (decision IN ('apply', 'skip'))
);
CREATE INDEX conflicts_pending ON @extschema@.conflicts (origin, origin_change) WHERE resolution = 'pending';
-- status() counts a link's conflicts: an index-only scan instead of reading the table, which hot
-- rows updated on both nodes could fill quickly (merged deltas are counted in conflict_counts instead)
CREATE INDEX conflicts_link ON @extschema@.conflicts (sync_name, origin);

-- Changes from a peer that could not be applied here (a unique key other than the primary key,
-- a foreign key, a value the column cannot hold, ...), and updates or deletes on insert-only
-- tables. Every other change keeps flowing; the agent retries these until they apply.
CREATE TABLE @extschema@.set_aside (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sync_name       text NOT NULL,
    origin          text NOT NULL,
    origin_change   bigint,
    schema_name     name NOT NULL,
    table_name      name NOT NULL,
    op              "char" NOT NULL,
    key             text,
    old             jsonb,
    new             jsonb,
    changed_at      timestamptz,
    error           text NOT NULL,
    sqlstate        text,
    first_failed_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    last_tried_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    attempts        integer NOT NULL DEFAULT 1,
    UNIQUE (origin, origin_change)
);

-- Purge marks of a link: after the peer confirmed everything visible in confirmed_lo, its own
-- snapshot was peer_horizon. A change may leave the queue only once every change the peer
-- committed up to that horizon has been applied here, so that a concurrent change of the same
-- row still finds this node's version in the queue (conflict resolution 'latest' needs it).
CREATE TABLE @extschema@.purge_marks (
    sync_name       text NOT NULL,
    peer            text NOT NULL,
    confirmed_lo    pg_snapshot NOT NULL,
    peer_horizon    pg_snapshot NOT NULL,
    marked_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- the peer's clock when it took peer_horizon (its statement_timestamp(), before the
    -- snapshot): once this node has applied the peer up to peer_horizon, it has every change the
    -- peer made before this time, but for those of transactions still open then (issue 17:
    -- @extschema@._purge_row_versions)
    peer_horizon_at timestamptz
);
CREATE INDEX purge_marks_link ON @extschema@.purge_marks (sync_name, peer, id);
