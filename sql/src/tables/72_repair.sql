-- Issue 12: the repair and merge changes this node queued (mmsync._repair_enqueue): which changes
-- of its queue were repairs, for which compare run or merge, what the peer held (old) and what it
-- was sent (new; not kept for a merge's inserts, whose row is the table's). mmsync repair fills
-- outcome and result once the peer has applied the change and both nodes were read again (result:
-- the row both then hold, NULL when deleted on both). Kept until the DBA deletes the rows.
CREATE TABLE @extschema@.repair_changes (
    change_id   bigint PRIMARY KEY,
    sync_name   text NOT NULL,
    -- repair | merge
    kind        text NOT NULL CHECK (kind IN ('repair', 'merge')),
    run_id      bigint,
    schema_name name NOT NULL,
    table_name  name NOT NULL,
    key         jsonb NOT NULL,
    op          "char" NOT NULL,
    old         jsonb,
    new         jsonb,
    queued_at   timestamptz NOT NULL DEFAULT now(),
    -- equal: both nodes hold the same row after the peer applied it; differs: they do not (changed
    -- meanwhile: the conflict strategy or the next round decides)
    outcome     text CHECK (outcome IN ('equal', 'differs')),
    checked_at  timestamptz,
    result      jsonb
);
CREATE INDEX repair_changes_run ON @extschema@.repair_changes (sync_name, run_id);
