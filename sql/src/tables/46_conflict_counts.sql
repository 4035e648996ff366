-- Conflicts that lost nothing (issue 14), counted instead of logged: an update of a table with
-- delta columns met a concurrent update of the same row here, and the two versions differ only
-- in delta columns (whose deltas are added up, docs/conflicts.md). Two-way TPC-B makes thousands
-- per second; each would be a row of @extschema@.conflicts. Per sync and origin (the node the
-- incoming change came from), written by the origin's agent in its apply transaction; shown by
-- status() (merged_deltas) and the health endpoint's /metrics (mmsync_merged_deltas_total).
CREATE TABLE @extschema@.conflict_counts (
    sync_name text NOT NULL,
    origin    text NOT NULL,
    merged    bigint NOT NULL DEFAULT 0 CHECK (merged >= 0),
    PRIMARY KEY (sync_name, origin)
);
