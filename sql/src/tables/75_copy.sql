-- Issue 12: initial copy (add_sync(..., initial => 'copy')). The origin's agent copies its tables to
-- the target; both nodes keep a record of it.
-- copies: one row per copy. On the target it is written in the transaction that hands the link
-- over to the queue (finished_at, with mmsync.progress.lo = snapshot); on the origin by the agent,
-- for status() (state 'copying' until finished_at is set).
CREATE TABLE @extschema@.copies (
    sync_name   text NOT NULL,
    origin      text NOT NULL,
    target      text NOT NULL,
    -- the origin's snapshot the copy read (the last one, after a resume)
    snapshot    pg_snapshot,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    PRIMARY KEY (sync_name, origin, target)
);

-- On the target: the key ranges of each table, each marked done in the transaction that copied it,
-- so an interrupted copy resumes from the ranges already done.
CREATE TABLE @extschema@.copy_ranges (
    sync_name   text NOT NULL,
    origin      text NOT NULL,
    schema_name name NOT NULL,
    table_name  name NOT NULL,
    range_no    integer NOT NULL,
    -- SQL row literals of the primary key bounds (lo inclusive, hi exclusive; NULL: unbounded)
    lo          text,
    hi          text,
    rows        bigint,
    bytes       bigint,
    snapshot    pg_snapshot,
    done_at     timestamptz,
    PRIMARY KEY (sync_name, origin, schema_name, table_name, range_no)
);

-- On the origin: progress per table, for mmsync.copy_status() and the log.
CREATE TABLE @extschema@.copy_tables (
    sync_name   text NOT NULL,
    target      text NOT NULL,
    schema_name name NOT NULL,
    table_name  name NOT NULL,
    ord         integer NOT NULL,
    rows_total  bigint NOT NULL DEFAULT 0,
    rows_done   bigint NOT NULL DEFAULT 0,
    bytes_done  bigint NOT NULL DEFAULT 0,
    started_at  timestamptz,
    updated_at  timestamptz,
    finished_at timestamptz,
    PRIMARY KEY (sync_name, target, schema_name, table_name)
);

-- On the target: secondary indexes of a table that was empty when its copy began, dropped in the
-- transaction that recorded them here and built again, from this definition, once the table's
-- ranges are all done (as pg_restore builds indexes after the data): after a resume too, before
-- the hand-over, when the sync is added again, or by mmsync.copy_restore_indexes().
CREATE TABLE @extschema@.copy_indexes (
    schema_name name NOT NULL,
    index_name  name NOT NULL,
    sync_name   text NOT NULL,
    origin      text NOT NULL,
    table_name  name NOT NULL,
    -- pg_get_indexdef() of the index
    definition  text NOT NULL,
    dropped_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schema_name, index_name)
);
