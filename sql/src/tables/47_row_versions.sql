-- Row versions of syncs of three or more nodes (issue 17, docs/conflicts.md "Three or more
-- nodes"): for a row last written here by an apply, the version of the change that wrote it,
-- the pair (at, origin) that conflict resolution 'latest' compares (at first, then the node name,
-- the one sorting first winning a tie). A delete leaves a tombstone (deleted), so an older update
-- from a third node arriving later does not bring the row back. A row last written locally has its
-- version in the queue (the newest queued change of its key) instead, so writers pay nothing.
-- Written by the applying agent in its apply transaction, for syncs of three or more nodes only
-- (a two-node sync decides against its own queue alone and writes nothing here). key: the row's
-- primary key as the engine names it (one column's text, or the columns' texts joined by U+001F).
-- xid: the transaction that wrote the entry. Entries go once no older change can still arrive
-- (@extschema@._purge_row_versions).
CREATE TABLE @extschema@.row_versions (
    relid   oid NOT NULL,
    key     text NOT NULL,
    at      timestamptz NOT NULL,
    origin  text NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    xid     xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    PRIMARY KEY (relid, key)
);
CREATE INDEX row_versions_at ON @extschema@.row_versions (at);
