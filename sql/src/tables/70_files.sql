-- File sync (issue 16): directories on the application servers kept identical through the
-- databases. Each node's agent scans its own copy of a directory and records every file in
-- files (contents, chunked and content-addressed, in file_chunks); the peer's agent reads those
-- rows and chunks over its connection to this database and writes the files on its own server.

-- A directory synced between the nodes of a sync. Configured on one node with add_file_sync();
-- the agents carry the definition (up to seq, which is local) to the peers, highest version wins.
CREATE TABLE @extschema@.file_syncs (
    sync_name     text NOT NULL,
    name          text NOT NULL CHECK (name <> '' AND length(name) <= 200),
    -- absolute path on every node, unless directories names another one for a node
    directory     text NOT NULL CHECK (directory ~ '^/' AND directory !~ '(^|/)\.\.(/|$)'),
    directories   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(directories) = 'object'),
    -- glob patterns (java.nio PathMatcher syntax) matched against the path relative to the
    -- directory and against the file name
    ignore        text[] NOT NULL DEFAULT '{}',
    max_file_size bigint NOT NULL DEFAULT 268435456 CHECK (max_file_size > 0),
    -- OS user that files written here from a peer get (NULL: the agent's user)
    owner         text,
    removed       boolean NOT NULL DEFAULT false,
    version       bigint NOT NULL DEFAULT 1,
    -- local: the last change number given to a row of files (taken under this row's lock, so
    -- change numbers follow commit order)
    seq           bigint NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sync_name, name)
);
COMMENT ON TABLE @extschema@.file_syncs IS 'mmsync synced directories (add_file_sync()); see docs/files.md';

-- This node's copy of each synced directory, as last recorded by its agent: one row per file
-- ever seen (a deleted file stays as a tombstone). origin is the node whose change this content
-- is; agreed is the content ('deleted' for a deletion) this node last knew the peer to have too,
-- so a change on both sides before they met is told from a change on one side.
CREATE TABLE @extschema@.files (
    sync_name   text NOT NULL,
    fs_name     text NOT NULL,
    path        text NOT NULL CHECK (path <> '' AND path !~ '^/' AND path !~ '(^|/)\.\.?(/|$)'),
    hash        text CHECK (hash ~ '^[0-9a-f]{64}$'),
    chunks      text[],
    size        bigint NOT NULL DEFAULT 0 CHECK (size >= 0),
    mode        integer NOT NULL DEFAULT 420,
    mtime_us    bigint NOT NULL DEFAULT 0,
    deleted     boolean NOT NULL DEFAULT false,
    origin      text NOT NULL,
    changed_at  timestamptz NOT NULL,
    agreed      text,
    seq         bigint NOT NULL,
    CHECK (deleted = (hash IS NULL)),
    PRIMARY KEY (sync_name, fs_name, path)
);
CREATE INDEX files_seq ON @extschema@.files (sync_name, fs_name, seq);

-- File contents in chunks of at most 1 MB, keyed by the chunk's SHA-256: a file renamed or
-- copied is stored (and sent) once. Already-compressed bundles are common: no compression.
CREATE TABLE @extschema@.file_chunks (
    hash        text PRIMARY KEY CHECK (hash ~ '^[0-9a-f]{64}$'),
    data        bytea NOT NULL
);
ALTER TABLE @extschema@.file_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- What this node's agent has taken from each peer's files (rows up to last_seq), and what it has
-- still to write: for status(), /status and /metrics.
CREATE TABLE @extschema@.file_progress (
    sync_name     text NOT NULL,
    fs_name       text NOT NULL,
    peer          text NOT NULL,
    last_seq      bigint NOT NULL DEFAULT 0,
    files_pending integer NOT NULL DEFAULT 0,
    bytes_pending bigint NOT NULL DEFAULT 0,
    files_synced  bigint NOT NULL DEFAULT 0,
    last_file     text,
    last_file_at  timestamptz,
    last_error    text,
    last_error_at timestamptz,
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sync_name, fs_name, peer)
);

-- Every file changed on both nodes before they met: which version was kept here, and where the
-- other one went (copy_path, a conflict copy beside the file, written by the node whose own
-- version lost). Nothing is dropped in silence.
CREATE TABLE @extschema@.file_conflicts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    detected_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    sync_name     text NOT NULL,
    fs_name       text NOT NULL,
    path          text NOT NULL,
    strategy      text NOT NULL,
    kept          text NOT NULL CHECK (kept IN ('local', 'remote')),
    peer          text NOT NULL,
    local_hash    text,
    remote_hash   text,
    local_at      timestamptz,
    remote_at     timestamptz,
    copy_path     text
);
