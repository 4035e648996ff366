-- Issue 12: the results of compares run by `mmsync compare` (the agent's command line does the
-- work: a SQL function cannot reach the peer without dblink, see docs/compare.md); mmsync.compare()
-- reads them back in psql.
CREATE TABLE @extschema@.compare_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sync_name   text NOT NULL,
    peer        text NOT NULL,
    tables      text[] NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    rows_here   bigint NOT NULL DEFAULT 0,
    -- running | identical | different | failed
    outcome     text NOT NULL DEFAULT 'running' CHECK (outcome IN ('running', 'identical', 'different', 'failed')),
    differences bigint NOT NULL DEFAULT 0,
    error       text
);

-- One row per key that differs between the nodes, as each side held it after the recheck
-- (NULL: the row is missing on that side).
CREATE TABLE @extschema@.compare_diffs (
    run_id      bigint NOT NULL REFERENCES @extschema@.compare_runs (id) ON DELETE CASCADE,
    schema_name name NOT NULL,
    table_name  name NOT NULL,
    key         jsonb NOT NULL,
    here        jsonb,
    peer        jsonb,
    -- set by mmsync repair: the node whose row both now hold (the winner), once the peer applied
    -- the repair change (repair_change: its id in the winner's queue, see mmsync.repair_changes)
    -- and both nodes hold the same row (result; NULL: deleted on both)
    repaired    text,
    repaired_at timestamptz,
    repair_change bigint,
    result      jsonb,
    PRIMARY KEY (run_id, schema_name, table_name, key)
);
