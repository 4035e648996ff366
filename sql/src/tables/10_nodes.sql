-- Nodes of the mesh. Exactly one row is the local node. conninfo is a libpq conninfo or URI
-- *without* a password (passwords live in a passfile, see README).
CREATE TABLE @extschema@.nodes (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    conninfo    text NOT NULL,
    is_local    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX nodes_one_local ON @extschema@.nodes (is_local) WHERE is_local;
COMMENT ON TABLE @extschema@.nodes IS 'mmsync nodes; exactly one is_local row names this database';
