-- The changes of rows of tables with delta columns in syncs of three or more nodes that this node
-- received from the others, applied or not (issue 17, docs/conflicts.md "Three or more nodes",
-- "Delta columns"): with this node's own queued changes, a row's log, from which the engine decides
-- each incoming change (engine class DeltaRule): a row exists iff its newest insert is newer than
-- its newest delete, its delta columns are that insert's values plus the deltas of every newer
-- update. An update dropped because the row was gone is kept here, so that an older insert arriving
-- later from a third node counts it. Written by the applying agent in its apply transaction; two-
-- node syncs and tables without delta columns write nothing. key: as in row_versions; change_id:
-- the change's id in its origin's queue (with at and origin, its place in the order). Entries go
-- with the row versions (@extschema@._purge_row_versions).
CREATE TABLE @extschema@.row_deltas (
    relid     oid NOT NULL,
    key       text NOT NULL,
    origin    text NOT NULL,
    change_id bigint NOT NULL,
    op        "char" NOT NULL CHECK (op IN ('I', 'U', 'D')),
    at        timestamptz NOT NULL,
    old       jsonb,
    new       jsonb,
    PRIMARY KEY (relid, key, origin, change_id)
);
CREATE INDEX row_deltas_at ON @extschema@.row_deltas (at);
