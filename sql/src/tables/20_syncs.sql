-- A sync: a set of tables kept identical on a set of nodes. id is local to this node;
-- name is the identity shared by all nodes. version orders configuration changes so that
-- agents can push the newest definition to peers.
CREATE TABLE @extschema@.syncs (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    nodes       text[] NOT NULL CHECK (cardinality(nodes) >= 2),
    conflict    text NOT NULL DEFAULT 'latest'
                CHECK (conflict IN ('latest', 'prefer', 'keep_local', 'apply_remote', 'abort')),
    prefer      text,
    -- 'interleave': each node's sequences of synced tables hand out disjoint values
    sequences   text NOT NULL DEFAULT 'none' CHECK (sequences IN ('none', 'interleave')),
    paused      boolean NOT NULL DEFAULT false,
    removed     boolean NOT NULL DEFAULT false,
    version     bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- how the nodes start (add_sync's initial): copy | merge | none, NULL when not chosen (only
    -- allowed while the tables were empty); initial_from: the node add_sync was called on, the
    -- source of a copy
    initial     text CHECK (initial IN ('copy', 'merge', 'none')),
    initial_from text
);

-- Tables of a sync. relid is this node's oid of the table; schema_name/table_name identify
-- it across nodes. pk_cols lists the primary key columns in key order.
CREATE TABLE @extschema@.sync_tables (
    sync_id     integer NOT NULL REFERENCES @extschema@.syncs (id) ON DELETE CASCADE,
    relid       oid NOT NULL UNIQUE,
    schema_name name NOT NULL,
    table_name  name NOT NULL,
    pk_cols     text[] NOT NULL,
    -- 'keyed': a primary key identifies rows; 'insert_only': a table without one whose inserts
    -- are replicated (updates and deletes on it are reported in @extschema@.set_aside)
    mode        text NOT NULL DEFAULT 'keyed' CHECK (mode IN ('keyed', 'insert_only')),
    CHECK (mode = 'insert_only' OR cardinality(pk_cols) >= 1),
    PRIMARY KEY (sync_id, relid),
    UNIQUE (schema_name, table_name)
);

-- Per-column apply policies. 'delta': an update adds the difference old -> new to the peer's
-- value instead of overwriting it, so counters incremented on both nodes add up.
CREATE TABLE @extschema@.column_policies (
    schema_name name NOT NULL,
    table_name  name NOT NULL,
    column_name name NOT NULL,
    policy      text NOT NULL CHECK (policy IN ('delta')),
    PRIMARY KEY (schema_name, table_name, column_name)
);
