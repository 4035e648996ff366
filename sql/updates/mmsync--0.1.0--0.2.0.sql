-- mmsync 0.1.0 -> 0.2.0 (ALTER EXTENSION mmsync UPDATE TO '0.2.0').
-- Every change to sql/src/ since 0.1.0 has its step here, in the order it was made; the
-- UpgradeIT test checks that 0.1.0 + this script defines the same objects as a fresh 0.2.0.
\echo Use "ALTER EXTENSION mmsync UPDATE TO '0.2.0'" to load this file. \quit

-- issue 17: add_sync refuses a third node until syncs of three or more nodes converge
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM @extschema@.syncs WHERE NOT removed AND cardinality(nodes) > 2) THEN
        RAISE WARNING 'mmsync: syncs of three or more nodes can diverge under concurrent updates of the same rows: %',
            (SELECT string_agg(name, ', ') FROM @extschema@.syncs WHERE NOT removed AND cardinality(nodes) > 2)
            USING HINT = 'Remove them and sync two nodes; 0.2.0 refuses new ones.';
    END IF;
END
$$;
-- add_sync: the equivalent of `bucardo add sync NAME dbs=blue:source,green:source tables=all`.
-- Installs capture triggers here; the local agent pushes the definition to every peer, which
-- installs the same sync and triggers (no second manual step).
--   tables  => 'all' (every table with a primary key in the user schemas) or a comma-separated
--              list: 'public.posts, "Audit Trail"."Login Events"'
--   exclude => tables to leave out, same syntax; an unqualified name matches in every schema
--   conflict => latest (default) | prefer (with prefer => node) | keep_local | apply_remote | abort
--   insert_only => tables without a primary key to sync insert-only (e.g. 'pgbench_history')
--   sequences => 'interleave': sequences of synced tables hand out disjoint values per node
CREATE OR REPLACE FUNCTION @extschema@.add_sync(
    name text, nodes text[], tables text DEFAULT 'all', exclude text DEFAULT NULL,
    conflict text DEFAULT 'latest', prefer text DEFAULT NULL, insert_only text DEFAULT NULL,
    sequences text DEFAULT 'none')
RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_local text := @extschema@.local_node();
    v_node  text;
    v_id    integer;
    v_relid oid;
    v_n     integer := 0;
    v_conflict text;
    v_prefer   text;
BEGIN
    IF add_sync.name IS NULL OR add_sync.name !~ '^[a-z][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'mmsync: invalid sync name %', quote_nullable(add_sync.name)
            USING HINT = 'Sync names are lower-case letters, digits and _, starting with a letter.';
    END IF;
    IF v_local IS NULL THEN
        RAISE EXCEPTION 'mmsync: this database is not registered as a node'
            USING HINT = 'Call mmsync.add_node(''blue'', ''<conninfo>'', true) for this database first.';
    END IF;
    IF add_sync.nodes IS NULL OR cardinality(ARRAY(SELECT DISTINCT unnest(add_sync.nodes))) < 2 THEN
        RAISE EXCEPTION 'mmsync: sync "%" needs at least two distinct nodes', add_sync.name;
    END IF;
    IF cardinality(ARRAY(SELECT DISTINCT unnest(add_sync.nodes))) > 2 THEN
        RAISE EXCEPTION 'mmsync: sync "%" names % nodes (%); a sync has exactly two nodes for now',
            add_sync.name, cardinality(ARRAY(SELECT DISTINCT unnest(add_sync.nodes))),
            array_to_string(add_sync.nodes, ', ')
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'With three or more nodes, concurrent updates of the same rows can leave the nodes '
                      || 'different while status() says in sync. Sync two nodes (blue and green).';
    END IF;
    FOREACH v_node IN ARRAY add_sync.nodes LOOP
        IF NOT EXISTS (SELECT 1 FROM @extschema@.nodes n WHERE n.name = v_node) THEN
            RAISE EXCEPTION 'mmsync: node "%" does not exist', v_node
                USING HINT = 'Register it with mmsync.add_node(name, conninfo).';
        END IF;
    END LOOP;
    IF NOT v_local = ANY (add_sync.nodes) THEN
        RAISE EXCEPTION 'mmsync: sync "%" does not include this node "%"', add_sync.name, v_local;
    END IF;
    SELECT r.conflict, r.prefer INTO v_conflict, v_prefer
    FROM @extschema@._check_conflict(add_sync.name, add_sync.nodes, add_sync.conflict, add_sync.prefer) r;
    IF add_sync.sequences IS NULL OR add_sync.sequences NOT IN ('none', 'interleave') THEN
        RAISE EXCEPTION 'mmsync: unknown sequences mode %', quote_nullable(add_sync.sequences)
            USING HINT = 'Use none or interleave.';
    END IF;
    IF EXISTS (SELECT 1 FROM @extschema@.syncs s WHERE s.name = add_sync.name AND NOT s.removed) THEN
        RAISE EXCEPTION 'mmsync: sync "%" already exists', add_sync.name
            USING HINT = 'Remove it first with mmsync.remove_sync(), or pick another name.';
    END IF;

    INSERT INTO @extschema@.syncs AS s (name, nodes, conflict, prefer, sequences)
    VALUES (add_sync.name, add_sync.nodes, v_conflict, v_prefer, add_sync.sequences)
    ON CONFLICT (name) DO UPDATE SET nodes = EXCLUDED.nodes, conflict = EXCLUDED.conflict,
        prefer = EXCLUDED.prefer, sequences = EXCLUDED.sequences, paused = false, removed = false,
        version = s.version + 1, updated_at = now()
    RETURNING s.id INTO v_id;

    FOR v_relid IN SELECT * FROM @extschema@._select_tables(add_sync.tables, add_sync.exclude, add_sync.insert_only) LOOP
        PERFORM @extschema@._attach_table(v_id, v_relid);
        v_n := v_n + 1;
    END LOOP;
    FOR v_relid IN SELECT DISTINCT @extschema@._resolve_table(i.id)
                   FROM @extschema@._parse_table_list(add_sync.insert_only) i(id) LOOP
        PERFORM @extschema@._attach_table(v_id, v_relid, 'insert_only');
        v_n := v_n + 1;
    END LOOP;
    IF add_sync.sequences = 'interleave' THEN
        PERFORM @extschema@._interleave_sequences(v_id);
    END IF;
    IF v_n = 0 THEN
        RAISE EXCEPTION 'mmsync: sync "%" would have no tables', add_sync.name;
    END IF;
    PERFORM pg_notify('mmsync_config', add_sync.name);
    RETURN format('sync "%s": %s tables on %s', add_sync.name, v_n, array_to_string(add_sync.nodes, ', '));
END
$$;

-- issue 13 (in-database worker): engine_host() says whether the agent or the worker runs this node
CREATE FUNCTION @extschema@.engine_host(OUT host text, OUT pid integer, OUT detail text, OUT since timestamptz)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(h.host, 'none'), h.pid, h.detail, h.since
    FROM (SELECT 1) AS one
    LEFT JOIN (
        SELECT CASE WHEN a.application_name LIKE 'mmsync engine (worker%' THEN 'worker' ELSE 'agent' END AS host,
               a.pid, a.application_name || coalesce(' from ' || host(a.client_addr), '') AS detail,
               a.backend_start AS since
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = 1835889518::oid AND l.objid = 1::oid AND l.objsubid = 2
        LIMIT 1) h ON true
$$;
REVOKE ALL ON FUNCTION @extschema@.engine_host() FROM PUBLIC;

-- issue 16: file sync (plugins between the application servers): tables and functions
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

-- File sync (issue 16): configuration from psql; the agents do the rest (docs/files.md).

-- Syncs the directory between the nodes of a sync. Call it on one node: the agents carry it to
-- the peers. name identifies the directory across nodes (default: the directory); directories
-- gives another path on some nodes ('{"green": "/srv/mm/plugins"}'); ignore is a comma-separated
-- list of glob patterns ('*.log, tmp/**'); max_file_size in bytes; owner an OS user that files
-- written from a peer get.
CREATE FUNCTION @extschema@.add_file_sync(sync text, directory text, name text DEFAULT NULL,
    ignore text DEFAULT NULL, max_file_size bigint DEFAULT 268435456, owner text DEFAULT NULL,
    directories jsonb DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_name    text := coalesce(add_file_sync.name, rtrim(add_file_sync.directory, '/'));
    v_dir     text := rtrim(add_file_sync.directory, '/');
    v_ignore  text[];
    v_version bigint;
    v_key     text;
BEGIN
    PERFORM @extschema@._sync_id(add_file_sync.sync);
    IF v_dir IS NULL OR v_dir !~ '^/.' OR v_dir ~ '(^|/)\.\.?(/|$)' THEN
        RAISE EXCEPTION 'mmsync: directory "%" of a file sync must be an absolute path without . or .. parts', add_file_sync.directory;
    END IF;
    IF add_file_sync.max_file_size IS NULL OR add_file_sync.max_file_size < 1 THEN
        RAISE EXCEPTION 'mmsync: max_file_size of file sync "%" must be at least 1 byte, not %', v_name, add_file_sync.max_file_size;
    END IF;
    IF add_file_sync.directories IS NOT NULL THEN
        IF jsonb_typeof(add_file_sync.directories) <> 'object' THEN
            RAISE EXCEPTION 'mmsync: directories of file sync "%" must be a JSON object of node name to path, not %', v_name, add_file_sync.directories;
        END IF;
        FOR v_key IN SELECT jsonb_object_keys(add_file_sync.directories) LOOP
            IF add_file_sync.directories->>v_key !~ '^/.' OR add_file_sync.directories->>v_key ~ '(^|/)\.\.?(/|$)' THEN
                RAISE EXCEPTION 'mmsync: directory "%" for node "%" must be an absolute path without . or .. parts',
                    add_file_sync.directories->>v_key, v_key;
            END IF;
        END LOOP;
    END IF;
    IF add_file_sync.owner IS NOT NULL AND add_file_sync.owner !~ '^[A-Za-z0-9_][A-Za-z0-9_.-]*$' THEN
        RAISE EXCEPTION 'mmsync: owner "%" of file sync "%" is not an OS user name', add_file_sync.owner, v_name;
    END IF;
    v_ignore := ARRAY(SELECT btrim(p) FROM unnest(string_to_array(coalesce(add_file_sync.ignore, ''), ',')) p
                      WHERE btrim(p) <> '');
    SELECT f.version INTO v_version FROM @extschema@.file_syncs f
    WHERE f.sync_name = add_file_sync.sync AND f.name = v_name FOR UPDATE;
    IF FOUND AND EXISTS (SELECT 1 FROM @extschema@.file_syncs f
                         WHERE f.sync_name = add_file_sync.sync AND f.name = v_name AND NOT f.removed) THEN
        RAISE EXCEPTION 'mmsync: file sync "%" of sync "%" already exists', v_name, add_file_sync.sync
            USING HINT = 'Remove it first with mmsync.remove_file_sync(), or give another name.';
    END IF;
    INSERT INTO @extschema@.file_syncs AS f (sync_name, name, directory, directories, ignore, max_file_size, owner, version)
    VALUES (add_file_sync.sync, v_name, v_dir, coalesce(add_file_sync.directories, '{}'), v_ignore,
            add_file_sync.max_file_size, add_file_sync.owner, coalesce(v_version, 0) + 1)
    ON CONFLICT ON CONSTRAINT file_syncs_pkey DO UPDATE SET directory = EXCLUDED.directory,
        directories = EXCLUDED.directories, ignore = EXCLUDED.ignore, max_file_size = EXCLUDED.max_file_size,
        owner = EXCLUDED.owner, removed = false, version = EXCLUDED.version, updated_at = now();
    PERFORM pg_notify('mmsync_config', add_file_sync.sync);
    RETURN format('sync "%s": directory %s synced as "%s"', add_file_sync.sync, v_dir, v_name);
END
$$;

-- Stops syncing the directory on every node (pushed by the agents). Files stay where they are.
CREATE FUNCTION @extschema@.remove_file_sync(sync text, name text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE @extschema@.file_syncs f SET removed = true, version = f.version + 1, updated_at = now()
    WHERE f.sync_name = remove_file_sync.sync AND f.name = remove_file_sync.name AND NOT f.removed;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'mmsync: file sync "%" of sync "%" does not exist', remove_file_sync.name, remove_file_sync.sync
            USING ERRCODE = 'undefined_object', HINT = 'SELECT * FROM mmsync.file_status() lists them.';
    END IF;
    PERFORM @extschema@._forget_files(remove_file_sync.sync, remove_file_sync.name);
    PERFORM pg_notify('mmsync_config', remove_file_sync.sync);
    RETURN format('sync "%s": directory "%s" no longer synced (its files stay)', remove_file_sync.sync, remove_file_sync.name);
END
$$;

-- Drops what this node recorded of a removed file sync, and the chunks no file uses any more.
CREATE FUNCTION @extschema@._forget_files(p_sync text, p_name text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    DELETE FROM @extschema@.files WHERE sync_name = p_sync AND fs_name = p_name;
    DELETE FROM @extschema@.file_progress WHERE sync_name = p_sync AND fs_name = p_name;
    DELETE FROM @extschema@.file_chunks c
    WHERE NOT EXISTS (SELECT 1 FROM @extschema@.files f WHERE c.hash = ANY (f.chunks));
$$;

-- A row per synced directory and peer: the directory here, the files recorded here, what is
-- still to come from the peer (files_pending, bytes_pending), the last file written from it.
CREATE FUNCTION @extschema@.file_status()
RETURNS TABLE (sync text, name text, directory text, peer text, files bigint, bytes bigint,
               files_pending integer, bytes_pending bigint, files_synced bigint, last_file text,
               last_file_at timestamptz, last_error text, last_error_at timestamptz, heartbeat_at timestamptz)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT f.sync_name, f.name, coalesce(f.directories->>@extschema@.local_node(), f.directory), p.peer,
           (SELECT count(*) FROM @extschema@.files x WHERE x.sync_name = f.sync_name AND x.fs_name = f.name AND NOT x.deleted),
           (SELECT coalesce(sum(x.size), 0)::bigint FROM @extschema@.files x
            WHERE x.sync_name = f.sync_name AND x.fs_name = f.name AND NOT x.deleted),
           coalesce(g.files_pending, 0), coalesce(g.bytes_pending, 0), coalesce(g.files_synced, 0),
           g.last_file, g.last_file_at, g.last_error, g.last_error_at, g.heartbeat_at
    FROM @extschema@.file_syncs f
    JOIN @extschema@.syncs s ON s.name = f.sync_name AND NOT s.removed
    CROSS JOIN LATERAL unnest(s.nodes) AS p(peer)
    LEFT JOIN @extschema@.file_progress g ON g.sync_name = f.sync_name AND g.fs_name = f.name AND g.peer = p.peer
    WHERE NOT f.removed AND p.peer IS DISTINCT FROM @extschema@.local_node()
    ORDER BY 1, 2, 4
$$;

-- The definition of a file sync as the local agent pushes it to a peer.
CREATE FUNCTION @extschema@._file_sync_def(p_sync text, p_name text) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('sync', f.sync_name, 'name', f.name, 'directory', f.directory,
        'directories', f.directories, 'ignore', to_jsonb(f.ignore), 'max_file_size', f.max_file_size,
        'owner', f.owner, 'removed', f.removed, 'version', f.version)
    FROM @extschema@.file_syncs f WHERE f.sync_name = p_sync AND f.name = p_name
$$;

-- Called by a peer's agent: takes a file sync definition newer than this node's. Returns false
-- when this node has that version or a newer one, or does not have the sync (yet).
CREATE FUNCTION @extschema@._receive_file_sync(p_def jsonb) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_sync text := p_def->>'sync';
    v_name text := p_def->>'name';
    v_cur  bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM @extschema@.syncs WHERE syncs.name = v_sync AND NOT removed) THEN
        RETURN false;
    END IF;
    SELECT version INTO v_cur FROM @extschema@.file_syncs f WHERE f.sync_name = v_sync AND f.name = v_name FOR UPDATE;
    IF FOUND AND v_cur >= (p_def->>'version')::bigint THEN
        RETURN false;
    END IF;
    INSERT INTO @extschema@.file_syncs AS f (sync_name, name, directory, directories, ignore, max_file_size, owner, removed, version)
    VALUES (v_sync, v_name, p_def->>'directory', coalesce(p_def->'directories', '{}'),
            ARRAY(SELECT jsonb_array_elements_text(p_def->'ignore')), (p_def->>'max_file_size')::bigint,
            p_def->>'owner', (p_def->>'removed')::boolean, (p_def->>'version')::bigint)
    ON CONFLICT ON CONSTRAINT file_syncs_pkey DO UPDATE SET directory = EXCLUDED.directory,
        directories = EXCLUDED.directories, ignore = EXCLUDED.ignore, max_file_size = EXCLUDED.max_file_size,
        owner = EXCLUDED.owner, removed = EXCLUDED.removed, version = EXCLUDED.version, updated_at = now();
    IF (p_def->>'removed')::boolean THEN
        PERFORM @extschema@._forget_files(v_sync, v_name);
    END IF;
    PERFORM pg_notify('mmsync_config', v_sync);
    RETURN true;
END
$$;
-- issue 16: as 90_privileges.sql does for a fresh install: nothing of the file sync for PUBLIC
REVOKE ALL ON FUNCTION @extschema@.add_file_sync(text, text, text, text, bigint, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.remove_file_sync(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._forget_files(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.file_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._file_sync_def(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._receive_file_sync(jsonb) FROM PUBLIC;

-- issue 17: a replicated TRUNCATE removes on the peer exactly the rows the truncating node had
-- (the queued truncate carries the positions it had applied of each other node); refused outside
-- READ COMMITTED
CREATE OR REPLACE FUNCTION @extschema@.capture_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF pg_catalog.current_setting('mmsync.origin', true) <> '' THEN
        RETURN NULL;
    END IF;
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'mmsync: TRUNCATE of synced table %.% needs a READ COMMITTED transaction, not %',
            pg_catalog.quote_ident(TG_TABLE_SCHEMA), pg_catalog.quote_ident(TG_TABLE_NAME),
            pg_catalog.current_setting('transaction_isolation')
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'mmsync records which of the peer''s changes the TRUNCATE removes, which needs a snapshot taken '
                      || 'after the table''s lock: run it in a READ COMMITTED transaction, or use DELETE.';
    END IF;
    INSERT INTO @extschema@.changes (sync_id, relid, op, new)
    SELECT TG_ARGV[0]::integer, TG_RELID, 'T', pg_catalog.jsonb_build_object('seen', coalesce(
        (SELECT pg_catalog.jsonb_object_agg(p.origin, pg_catalog.jsonb_build_object(
                'lo', p.lo::text, 'hi', p.hi::text, 'last_id', p.last_id))
         FROM @extschema@.progress p JOIN @extschema@.syncs s ON s.name = p.sync_name
         WHERE s.id = TG_ARGV[0]::integer), '{}'::jsonb));
    IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(1835889529, TG_ARGV[0]::integer) THEN
        PERFORM pg_catalog.pg_notify('mmsync_changes', '');
    END IF;
    RETURN NULL;
END
$$;
