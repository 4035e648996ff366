-- mmsync 0.1.0 -> 0.2.0 (ALTER EXTENSION mmsync UPDATE TO '0.2.0').
-- Every change to sql/src/ since 0.1.0 has its step here. Until 0.2.0 is released, a function
-- that several changes touch is defined once, as 0.2.0 has it (its later change edits that step);
-- the UpgradeIT test checks that 0.1.0 + this script defines the same objects as a fresh 0.2.0.
\echo Use "ALTER EXTENSION mmsync UPDATE TO '0.2.0'" to load this file. \quit

-- issue 17: syncs of three or more nodes converge under latest only (see the issue 17 step at the end)
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM @extschema@.syncs WHERE NOT removed AND cardinality(nodes) > 2 AND conflict <> 'latest') THEN
        RAISE WARNING 'mmsync: syncs of three or more nodes can diverge under a conflict strategy other than latest: %',
            (SELECT string_agg(name || ' (' || conflict || ')', ', ') FROM @extschema@.syncs
             WHERE NOT removed AND cardinality(nodes) > 2 AND conflict <> 'latest')
            USING HINT = 'SELECT mmsync.set_conflict(name, ''latest''), with delta columns for counters; 0.2.0 refuses new ones.';
    END IF;
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
    IF (SELECT cardinality(ARRAY(SELECT DISTINCT unnest(s.nodes))) FROM @extschema@.syncs s
        WHERE s.name = add_file_sync.sync AND NOT s.removed) > 2 THEN
        RAISE EXCEPTION 'mmsync: sync "%" has three or more nodes; file syncs take a sync of two nodes', add_file_sync.sync
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'A file''s agreement is kept per file, not per peer, so three nodes could end with different files.',
                  HINT = 'Add a sync of two nodes for the files (mmsync.add_sync with the tables of your choice) and add the file sync to it.';
    END IF;
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

-- issue 12 (initial copy, merge, compare): add_sync's initial => 'copy' | 'merge' | 'none'; refuses
-- tables holding rows without it; the peer receives the choice with the definition
ALTER TABLE @extschema@.syncs ADD COLUMN initial text CHECK (initial IN ('copy', 'merge', 'none'));
ALTER TABLE @extschema@.syncs ADD COLUMN initial_from text;
-- syncs made before 0.2.0 assumed equal tables
UPDATE @extschema@.syncs SET initial = 'none';
DROP FUNCTION @extschema@.add_sync(text, text[], text, text, text, text, text, text);
CREATE FUNCTION @extschema@._tables_with_rows(p_sync_id integer, p_relids oid[] DEFAULT NULL) RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_t   record;
    v_has boolean;
    v_out text[] := '{}';
BEGIN
    FOR v_t IN SELECT t.relid, t.schema_name, t.table_name FROM @extschema@.sync_tables t
               WHERE t.sync_id = p_sync_id AND (p_relids IS NULL OR t.relid = ANY (p_relids))
               ORDER BY t.schema_name, t.table_name LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I)', v_t.schema_name, v_t.table_name) INTO v_has;
        IF v_has THEN
            v_out := v_out || format('%I.%I', v_t.schema_name, v_t.table_name);
        END IF;
    END LOOP;
    RETURN v_out;
END
$$;

CREATE FUNCTION @extschema@._refuse_unchosen_initial(p_sync_id integer, p_node text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_full text[] := @extschema@._tables_with_rows(p_sync_id);
    v_name text := (SELECT s.name FROM @extschema@.syncs s WHERE s.id = p_sync_id);
BEGIN
    IF cardinality(v_full) > 0 THEN
        RAISE EXCEPTION 'mmsync: sync "%": % of its tables hold rows on node "%" (%), and nothing says how the other node gets them',
            v_name, cardinality(v_full), p_node, array_to_string(v_full, ', ')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Say how the nodes start: add_sync(..., initial => ''copy'') makes the other node''s tables '
                      || 'equal to this node''s (they must be empty there), initial => ''merge'' keeps the rows of both '
                      || 'and reconciles differing ones, initial => ''none'' asserts that both nodes already hold the same rows.';
    END IF;
END
$$;

CREATE FUNCTION @extschema@._check_initial_here(p_sync_id integer, p_relids oid[], p_initial text, p_from text)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_full text[];
    v_name text := (SELECT s.name FROM @extschema@.syncs s WHERE s.id = p_sync_id);
    v_here text := @extschema@.local_node();
BEGIN
    IF p_initial IN ('none', 'merge') OR p_from = v_here THEN
        RETURN;
    END IF;
    v_full := @extschema@._tables_with_rows(p_sync_id, p_relids);
    IF cardinality(v_full) = 0 THEN
        RETURN;
    END IF;
    IF p_initial = 'copy' THEN
        RAISE EXCEPTION 'mmsync: sync "%" copies node "%"''s tables to node "%", but % hold rows on node "%"; the copy would overwrite them',
            v_name, p_from, v_here, array_to_string(v_full, ', '), v_here
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('To keep the rows of both nodes, remove the sync on node %s (mmsync.remove_sync(%L)) and add it '
                      || 'again with initial => ''merge''; to replace them, empty these tables on node %s first.', p_from, v_name, v_here);
    END IF;
    RAISE EXCEPTION 'mmsync: sync "%" from node "%" was added without an initial mode, but % hold rows on node "%"',
        v_name, p_from, array_to_string(v_full, ', '), v_here
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = format('Remove the sync on node %s (mmsync.remove_sync(%L)) and add it again with initial => ''copy'' '
                  || '(empty these tables here first), ''merge'' or ''none''.', p_from, v_name);
END
$$;

CREATE FUNCTION @extschema@.add_sync(
    name text, nodes text[], tables text DEFAULT 'all', exclude text DEFAULT NULL,
    conflict text DEFAULT 'latest', prefer text DEFAULT NULL, insert_only text DEFAULT NULL,
    sequences text DEFAULT 'none', initial text DEFAULT NULL)
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
    IF add_sync.initial IS NOT NULL AND add_sync.initial NOT IN ('copy', 'merge', 'none') THEN
        RAISE EXCEPTION 'mmsync: unknown initial mode %', quote_nullable(add_sync.initial)
            USING HINT = 'Use initial => ''copy'' | ''merge'' | ''none''.';
    END IF;
    IF EXISTS (SELECT 1 FROM @extschema@.syncs s WHERE s.name = add_sync.name AND NOT s.removed) THEN
        RAISE EXCEPTION 'mmsync: sync "%" already exists', add_sync.name
            USING HINT = 'Remove it first with mmsync.remove_sync(), or pick another name.';
    END IF;

    PERFORM @extschema@._forget_initial(add_sync.name);
    INSERT INTO @extschema@.syncs AS s (name, nodes, conflict, prefer, sequences, initial, initial_from)
    VALUES (add_sync.name, add_sync.nodes, v_conflict, v_prefer, add_sync.sequences, add_sync.initial, v_local)
    ON CONFLICT (name) DO UPDATE SET nodes = EXCLUDED.nodes, conflict = EXCLUDED.conflict,
        prefer = EXCLUDED.prefer, sequences = EXCLUDED.sequences, paused = false, removed = false,
        initial = EXCLUDED.initial, initial_from = EXCLUDED.initial_from,
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
    IF add_sync.initial IS NULL THEN
        PERFORM @extschema@._refuse_unchosen_initial(v_id, v_local);
    END IF;
    PERFORM pg_notify('mmsync_config', add_sync.name);
    RETURN format('sync "%s": %s tables on %s', add_sync.name, v_n, array_to_string(add_sync.nodes, ', '));
END
$$;

CREATE OR REPLACE FUNCTION @extschema@._sync_def(p_name text, p_peer text) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object(
        'name', s.name, 'version', s.version, 'from', @extschema@.local_node(), 'you', p_peer,
        'nodes', (SELECT jsonb_object_agg(n.name, n.conninfo) FROM @extschema@.nodes n
                  WHERE n.name = ANY (s.nodes)),
        'members', to_jsonb(s.nodes), 'conflict', s.conflict, 'prefer', s.prefer,
        'sequences', s.sequences, 'paused', s.paused, 'removed', s.removed,
        'initial', s.initial, 'initial_from', s.initial_from,
        'tables', coalesce((SELECT jsonb_agg(jsonb_build_array(t.schema_name, t.table_name, t.mode)
                                             ORDER BY t.schema_name, t.table_name)
                            FROM @extschema@.sync_tables t WHERE t.sync_id = s.id), '[]'),
        'policies', coalesce((SELECT jsonb_agg(jsonb_build_array(p.schema_name, p.table_name, p.column_name, p.policy))
                              FROM @extschema@.column_policies p JOIN @extschema@.sync_tables t
                                ON t.schema_name = p.schema_name AND t.table_name = p.table_name
                              WHERE t.sync_id = s.id), '[]'))
    FROM @extschema@.syncs s WHERE s.name = p_name
$$;

CREATE OR REPLACE FUNCTION @extschema@._receive_sync(p_def jsonb) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_name   text := p_def->>'name';
    v_you    text := p_def->>'you';
    v_local  text := @extschema@.local_node();
    v_id     integer;
    v_cur    bigint;
    v_node   record;
    v_relid  oid;
    v_want   oid[] := '{}';
    v_tab    jsonb;
    v_new    boolean;
    v_added  oid[] := '{}';
    v_gone   boolean;
BEGIN
    IF v_local IS NULL THEN
        INSERT INTO @extschema@.nodes (name, conninfo, is_local)
        VALUES (v_you, @extschema@._check_conninfo(v_you, p_def->'nodes'->>v_you), true);
    ELSIF v_local <> v_you THEN
        RAISE EXCEPTION 'mmsync: node "%" sent sync "%" to node "%", but this database is node "%"',
            p_def->>'from', v_name, v_you, v_local;
    END IF;
    FOR v_node IN SELECT key, value #>> '{}' AS conninfo FROM jsonb_each(p_def->'nodes') LOOP
        INSERT INTO @extschema@.nodes (name, conninfo)
        VALUES (v_node.key, @extschema@._check_conninfo(v_node.key, v_node.conninfo))
        ON CONFLICT (name) DO NOTHING;
    END LOOP;

    SELECT id, version, removed INTO v_id, v_cur, v_gone FROM @extschema@.syncs WHERE name = v_name FOR UPDATE;
    IF FOUND AND v_cur >= (p_def->>'version')::bigint THEN
        RETURN false;
    END IF;
    IF v_id IS NULL OR v_gone THEN
        PERFORM @extschema@._forget_initial(v_name);  -- added (again): an earlier copy's records are stale
    END IF;
    IF (p_def->>'removed')::boolean THEN
        IF v_id IS NOT NULL THEN
            PERFORM @extschema@._detach_table(t.relid) FROM @extschema@.sync_tables t WHERE t.sync_id = v_id;
            DELETE FROM @extschema@.changes WHERE sync_id = v_id;
            DELETE FROM @extschema@.links WHERE sync_name = v_name;
            UPDATE @extschema@.syncs SET removed = true, version = (p_def->>'version')::bigint,
                updated_at = now() WHERE id = v_id;
        END IF;
        PERFORM pg_notify('mmsync_config', v_name);
        RETURN true;
    END IF;

    INSERT INTO @extschema@.syncs AS s (name, nodes, conflict, prefer, sequences, paused, version, initial, initial_from)
    SELECT v_name, ARRAY(SELECT jsonb_array_elements_text(p_def->'members')), p_def->>'conflict',
           p_def->>'prefer', coalesce(p_def->>'sequences', 'none'), (p_def->>'paused')::boolean,
           (p_def->>'version')::bigint,
           -- a definition from a node before 0.2.0 has no initial mode: it assumed equal tables
           CASE WHEN p_def ? 'initial' THEN p_def->>'initial' ELSE 'none' END,
           coalesce(p_def->>'initial_from', p_def->>'from')
    ON CONFLICT (name) DO UPDATE SET nodes = EXCLUDED.nodes, conflict = EXCLUDED.conflict,
        prefer = EXCLUDED.prefer, sequences = EXCLUDED.sequences, paused = EXCLUDED.paused,
        initial = EXCLUDED.initial, initial_from = EXCLUDED.initial_from,
        removed = false, version = EXCLUDED.version, updated_at = now()
    RETURNING s.id, (s.xmax = 0) INTO v_id, v_new;

    FOR v_tab IN SELECT * FROM jsonb_array_elements(p_def->'tables') LOOP
        v_relid := @extschema@._resolve_table(ARRAY[v_tab->>0, v_tab->>1]);
        v_want := v_want || v_relid;
        IF NOT EXISTS (SELECT 1 FROM @extschema@.sync_tables
                       WHERE sync_id = v_id AND relid = v_relid AND mode = coalesce(v_tab->>2, 'keyed')) THEN
            PERFORM @extschema@._attach_table(v_id, v_relid, coalesce(v_tab->>2, 'keyed'));
            v_added := v_added || v_relid;
        END IF;
    END LOOP;
    PERFORM @extschema@._check_initial_here(v_id, v_added, s.initial, s.initial_from)
    FROM @extschema@.syncs s WHERE s.id = v_id;
    PERFORM @extschema@._detach_table(t.relid) FROM @extschema@.sync_tables t
    WHERE t.sync_id = v_id AND NOT t.relid = ANY (v_want);
    DELETE FROM @extschema@.column_policies p USING @extschema@.sync_tables t
    WHERE t.sync_id = v_id AND p.schema_name = t.schema_name AND p.table_name = t.table_name;
    INSERT INTO @extschema@.column_policies
    SELECT x->>0, x->>1, x->>2, x->>3 FROM jsonb_array_elements(coalesce(p_def->'policies', '[]')) x;
    IF v_new AND p_def->>'sequences' = 'interleave' THEN
        PERFORM @extschema@._interleave_sequences(v_id);
    END IF;
    PERFORM pg_notify('mmsync_config', v_name);
    PERFORM pg_notify('mmsync_changes', v_name);  -- wakes this node's senders: a resume pushed from a peer
    RETURN true;
END
$$;

REVOKE ALL ON FUNCTION @extschema@._tables_with_rows(integer, oid[]), @extschema@._refuse_unchosen_initial(integer, text),
    @extschema@._check_initial_here(integer, oid[], text, text),
    @extschema@.add_sync(text, text[], text, text, text, text, text, text, text) FROM PUBLIC;
-- issue 12 (compare): results recorded by `mmsync compare`, read by mmsync.compare()

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

CREATE FUNCTION @extschema@._key_sql(p_relid oid, p_alias text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_cols text[] := @extschema@._pk_cols(p_relid);
BEGIN
    IF v_cols IS NULL THEN
        RAISE EXCEPTION 'mmsync: table % has no primary key and cannot be compared by key', p_relid::regclass;
    END IF;
    RETURN 'jsonb_build_object(' || (SELECT string_agg(format('%L, %s.%I', c, p_alias, c), ', ' ORDER BY o)
                                     FROM unnest(v_cols) WITH ORDINALITY AS x(c, o)) || ')';
END
$$;

CREATE FUNCTION @extschema@._row_text_sql(p_relid oid, p_alias text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'ROW(' || string_agg(format('%s.%I', p_alias, a.attname), ', ' ORDER BY a.attname COLLATE "C") || ')::text'
    FROM pg_attribute a WHERE a.attrelid = p_relid AND a.attnum > 0 AND NOT a.attisdropped
$$;

CREATE FUNCTION @extschema@._bucket_sql(p_relid oid, p_alias text, p_buckets integer) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    -- the key's hash: of its values when every key type has a hash function of its own (a quarter
    -- cheaper than of its text), else of its text
    SELECT format(CASE WHEN bool_and(EXISTS (SELECT 1 FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod
                                             WHERE am.amname = 'hash' AND oc.opcdefault AND oc.opcintype = a.atttypid))
                       THEN '((hash_record_extended(ROW(%s), 12) %% %s + %s) %% %s)::integer'
                       ELSE '((hashtextextended(ROW(%s)::text, 12) %% %s + %s) %% %s)::integer' END,
                  string_agg(format('%s.%I', p_alias, x.c), ', ' ORDER BY x.o), p_buckets, p_buckets, p_buckets)
    FROM unnest(@extschema@._pk_cols(p_relid)) WITH ORDINALITY AS x(c, o)
    JOIN pg_attribute a ON a.attrelid = p_relid AND a.attname = x.c
$$;

CREATE FUNCTION @extschema@._range_hash(p_table regclass, p_buckets integer)
RETURNS TABLE (bucket integer, n bigint, h bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_buckets IS NULL OR p_buckets < 1 THEN
        RAISE EXCEPTION 'mmsync: bucket count must be positive, not %', p_buckets;
    END IF;
    PERFORM @extschema@._key_sql(p_table, 't'); -- refuses a table without a primary key
    RETURN QUERY EXECUTE format(
        'SELECT %s, count(*), bit_xor(hashtextextended(%s, 0)) FROM %s t GROUP BY 1',
        @extschema@._bucket_sql(p_table, 't', p_buckets), @extschema@._row_text_sql(p_table, 't'), p_table);
END
$$;

CREATE FUNCTION @extschema@._row_hashes(p_table regclass, p_buckets integer, p_which integer[])
RETURNS TABLE (bucket integer, key text, h bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT b, k, h FROM (SELECT %s AS b, %s::text AS k, hashtextextended(%s, 0) AS h FROM %s t WHERE %s = ANY ($1)) x '
        || 'ORDER BY b, k COLLATE "C"',
        @extschema@._bucket_sql(p_table, 't', p_buckets), @extschema@._key_sql(p_table, 't'),
        @extschema@._row_text_sql(p_table, 't'), p_table, @extschema@._bucket_sql(p_table, 't', p_buckets))
    USING p_which;
END
$$;

CREATE FUNCTION @extschema@._rows_by_key(p_table regclass, p_keys jsonb)
RETURNS TABLE (key text, "row" jsonb)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_cols text[] := @extschema@._pk_cols(p_table);
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT %s::text, to_jsonb(t) FROM %s t WHERE (%s) IN (SELECT %s FROM jsonb_populate_recordset(NULL::%s, $1) k)',
        @extschema@._key_sql(p_table, 't'), p_table,
        (SELECT string_agg(format('t.%I', c), ', ') FROM unnest(v_cols) c),
        (SELECT string_agg(format('k.%I', c), ', ') FROM unnest(v_cols) c), p_table)
    USING p_keys;
END
$$;

CREATE FUNCTION @extschema@.compare(sync text, table_name text DEFAULT NULL)
RETURNS TABLE (compared_at timestamptz, outcome text, "table" text, key jsonb, here jsonb, peer jsonb, repaired text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_run   record;
    v_relid oid;
    v_nsp   name;
    v_rel   name;
BEGIN
    PERFORM @extschema@._sync_id(compare.sync);
    IF compare.table_name IS NOT NULL THEN
        v_relid := @extschema@._resolve_table((SELECT t FROM @extschema@._parse_table_list(compare.table_name) t LIMIT 1));
        SELECT t.schema_name, t.table_name INTO v_nsp, v_rel FROM @extschema@.sync_tables t
        JOIN @extschema@.syncs s ON s.id = t.sync_id WHERE t.relid = v_relid AND s.name = compare.sync;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'mmsync: table % is not in sync "%"', v_relid::regclass, compare.sync
                USING HINT = 'See the tables of the sync in mmsync.sync_tables.';
        END IF;
    END IF;
    SELECT * INTO v_run FROM @extschema@.compare_runs r
    WHERE r.sync_name = compare.sync AND r.outcome <> 'running'
      AND (v_rel IS NULL OR format('%I.%I', v_nsp, v_rel) = ANY (r.tables))
    ORDER BY r.id DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'mmsync: sync "%"% has not been compared yet', compare.sync,
            CASE WHEN v_rel IS NOT NULL THEN format(' (table %I.%I)', v_nsp, v_rel) ELSE '' END
            USING HINT = format('Run `mmsync compare --db ''<conninfo of this database>'' %s%s` (exit code 0: identical, '
                || '1: different, 2: error); then call this function again.', compare.sync, coalesce(' ' || compare.table_name, ''));
    END IF;
    IF v_run.outcome = 'failed' THEN
        RAISE EXCEPTION 'mmsync: the last compare of sync "%" (%) failed: %', compare.sync, v_run.started_at, v_run.error;
    END IF;
    RETURN QUERY SELECT v_run.finished_at, v_run.outcome, format('%I.%I', d.schema_name, d.table_name), d.key, d.here, d.peer, d.repaired
        FROM @extschema@.compare_diffs d
        WHERE d.run_id = v_run.id AND (v_rel IS NULL OR (d.schema_name = v_nsp AND d.table_name = v_rel))
        ORDER BY d.schema_name, d.table_name, d.key;
    IF NOT FOUND THEN
        RETURN QUERY SELECT v_run.finished_at, v_run.outcome, NULL::text, NULL::jsonb, NULL::jsonb, NULL::jsonb, NULL::text;
    END IF;
END
$$;

REVOKE ALL ON FUNCTION @extschema@._key_sql(oid, text), @extschema@._row_text_sql(oid, text),
    @extschema@._bucket_sql(oid, text, integer), @extschema@._range_hash(regclass, integer),
    @extschema@._row_hashes(regclass, integer, integer[]), @extschema@._rows_by_key(regclass, jsonb),
    @extschema@.compare(text, text) FROM PUBLIC;

-- issue 12 (initial copy): records of copies (origin and target), copy_status(), status() says 'copying'
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
CREATE FUNCTION @extschema@._copy_bounds(p_table regclass, p_rows bigint) RETURNS SETOF text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_cols   text[] := @extschema@._pk_cols(p_table);
    v_lit    text;
    v_list   text;
    v_est    double precision;
    v_pages  double precision;
    v_ranges bigint;
    v_pct    double precision;
    v_bounds text[];
BEGIN
    IF v_cols IS NULL THEN
        RAISE EXCEPTION 'mmsync: table % has no primary key and cannot be copied in key ranges', p_table;
    END IF;
    SELECT c.reltuples, c.relpages INTO v_est, v_pages FROM pg_class c WHERE c.oid = p_table;
    p_rows := greatest(p_rows, 1);
    SELECT 'format(''ROW(' || string_agg('%L::' || replace(format_type(a.atttypid, a.atttypmod), '%', '%%'), ', ' ORDER BY x.o)
           || ')'', ' || string_agg(format('t.%I', x.c), ', ' ORDER BY x.o) || ')',
           string_agg(format('t.%I', x.c), ', ' ORDER BY x.o)
    INTO v_lit, v_list
    FROM unnest(v_cols) WITH ORDINALITY AS x(c, o)
    JOIN pg_attribute a ON a.attrelid = p_table AND a.attname = x.c;
    IF v_est >= 10 * p_rows THEN
        v_ranges := ceil(v_est / p_rows);
        -- about 20 keys per range, and never fewer than 64 pages: a sample of a few pages may hold
        -- no row at all, or the keys of one narrow stretch of an ordered key
        v_pct := least(100, greatest(100.0 * 20 * v_ranges / v_est, 100.0 * 64 / greatest(v_pages, 1)));
        EXECUTE format('SELECT array_agg(b ORDER BY rn) FROM (SELECT %s AS b, row_number() OVER (ORDER BY %s) AS rn, '
            || 'count(*) OVER () AS n FROM %s t TABLESAMPLE SYSTEM (%s)) x WHERE rn %% greatest(n / %s, 1) = 0 AND rn < n',
            v_lit, v_list, p_table, v_pct, v_ranges) INTO v_bounds;
        -- a sample too small to split the table as planned (the estimate was stale, or the pages
        -- drawn were nearly empty): every p_rows-th key, exactly
        IF coalesce(cardinality(v_bounds), 0) >= v_ranges / 2 THEN
            RETURN QUERY SELECT unnest(v_bounds);
            RETURN;
        END IF;
    END IF;
    RETURN QUERY EXECUTE format('SELECT b FROM (SELECT %s AS b, row_number() OVER (ORDER BY %s) AS rn FROM %s t) x '
        || 'WHERE rn %% %s = 0 ORDER BY rn', v_lit, v_list, p_table, p_rows);
END
$$;

CREATE FUNCTION @extschema@._copy_columns(p_table regclass) RETURNS TABLE (col name, typ text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
    WHERE a.attrelid = p_table AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
    ORDER BY a.attname COLLATE "C"
$$;

CREATE FUNCTION @extschema@.copy_status()
RETURNS TABLE (sync text, peer text, "table" text, state text, rows_done bigint, rows_total bigint, bytes_done bigint,
               rows_per_second numeric, eta_seconds numeric)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT t.sync_name, t.target, format('%I.%I', t.schema_name, t.table_name),
           CASE WHEN t.finished_at IS NOT NULL THEN 'done' WHEN t.started_at IS NULL THEN 'waiting' ELSE 'copying' END,
           t.rows_done, greatest(t.rows_total, t.rows_done), t.bytes_done,
           round(t.rows_done / nullif(extract(epoch FROM coalesce(t.finished_at, t.updated_at) - t.started_at), 0)::numeric, 0),
           CASE WHEN t.finished_at IS NULL AND t.rows_done > 0 THEN
               round(greatest(t.rows_total - t.rows_done, 0) * extract(epoch FROM t.updated_at - t.started_at)::numeric
                     / t.rows_done, 1) END
    FROM @extschema@.copy_tables t JOIN @extschema@.syncs s ON s.name = t.sync_name AND NOT s.removed
    ORDER BY t.sync_name, t.target, t.ord
$$;

CREATE FUNCTION @extschema@._copying(p_sync text, p_peer text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (
        SELECT 1 FROM @extschema@.syncs s
        WHERE s.name = p_sync AND NOT s.removed AND s.initial IN ('copy', 'merge') AND s.initial_from IN (p_peer, @extschema@.local_node())
          AND NOT EXISTS (SELECT 1 FROM @extschema@.copies c
                          WHERE c.sync_name = s.name AND c.origin = s.initial_from AND c.finished_at IS NOT NULL
                            AND c.target = CASE WHEN s.initial_from = p_peer THEN @extschema@.local_node() ELSE p_peer END))
$$;

REVOKE ALL ON FUNCTION @extschema@._copy_bounds(regclass, bigint), @extschema@._copy_columns(regclass),
    @extschema@.copy_status(), @extschema@._copying(text, text) FROM PUBLIC;

-- issue 12: a copy onto an empty table drops its plain secondary indexes until its rows are in,
-- then builds them (as pg_restore does); the target records them meanwhile
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

-- Drops the plain secondary indexes of p_table (not unique, no constraint's, not the replica
-- identity or clustered one, default tablespace, no comment or statistics target, not part of a
-- partitioned index) when the table is empty and this role owns it, recording each in
-- copy_indexes in the same transaction; returns how many. The copy builds them after the data.
CREATE FUNCTION @extschema@._copy_defer_indexes(p_sync text, p_origin text, p_table regclass) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_ix   record;
    v_n    integer := 0;
    v_rows boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = p_table AND c.relkind = 'r' AND NOT c.relispartition
                   AND pg_has_role(current_user, c.relowner, 'USAGE')) THEN
        RETURN 0;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s)', p_table) INTO v_rows;
    IF v_rows THEN
        RETURN 0;
    END IF;
    FOR v_ix IN
        SELECT n.nspname, ic.relname, pg_get_indexdef(i.indexrelid) AS def
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
        WHERE i.indrelid = p_table AND NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisexclusion
          AND i.indisvalid AND i.indisready AND NOT i.indisreplident AND NOT i.indisclustered AND ic.reltablespace = 0
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
                          AND d.deptype IN ('e', 'x', 'i'))
          AND NOT EXISTS (SELECT 1 FROM pg_description c WHERE c.classoid = 'pg_class'::regclass AND c.objoid = i.indexrelid)
          AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0)
          AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
        ORDER BY ic.relname
    LOOP
        INSERT INTO @extschema@.copy_indexes (schema_name, index_name, sync_name, origin, table_name, definition)
        SELECT v_ix.nspname, v_ix.relname, p_sync, p_origin, c.relname, v_ix.def FROM pg_class c WHERE c.oid = p_table;
        EXECUTE format('DROP INDEX %I.%I', v_ix.nspname, v_ix.relname);
        v_n := v_n + 1;
    END LOOP;
    RETURN v_n;
END
$$;

-- Builds the indexes a copy dropped (copy_indexes) and forgets their records, one transaction per
-- call: of one sync (NULL: all), one table (NULL: all), one index (NULL: all); returns how many.
-- An index that exists again is only forgotten; so is one whose table is gone.
CREATE FUNCTION @extschema@._copy_restore_indexes(p_sync text, p_table regclass DEFAULT NULL, p_index name DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_ix record;
    v_n  integer := 0;
BEGIN
    FOR v_ix IN
        SELECT x.schema_name, x.index_name, x.table_name, x.definition FROM @extschema@.copy_indexes x
        WHERE (p_sync IS NULL OR x.sync_name = p_sync) AND (p_index IS NULL OR x.index_name = p_index)
          AND (p_table IS NULL OR (x.schema_name, x.table_name) = (SELECT n.nspname, c.relname FROM pg_class c
                                   JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_table))
        ORDER BY x.schema_name, x.index_name
        FOR UPDATE OF x
    LOOP
        IF to_regclass(format('%I.%I', v_ix.schema_name, v_ix.table_name)) IS NOT NULL
           AND to_regclass(format('%I.%I', v_ix.schema_name, v_ix.index_name)) IS NULL THEN
            EXECUTE v_ix.definition;
            v_n := v_n + 1;
        END IF;
        DELETE FROM @extschema@.copy_indexes x WHERE (x.schema_name, x.index_name) = (v_ix.schema_name, v_ix.index_name);
    END LOOP;
    RETURN v_n;
END
$$;

-- For the DBA, on a copy's target: builds the indexes an initial copy of p_sync (NULL: of any
-- sync) dropped until its tables were copied, when that copy will not finish (the sync removed
-- meanwhile). Returns a line saying how many.
CREATE FUNCTION @extschema@.copy_restore_indexes(sync text DEFAULT NULL) RETURNS text
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT format('%s indexes built', @extschema@._copy_restore_indexes(copy_restore_indexes.sync))
$$;

REVOKE ALL ON FUNCTION @extschema@._copy_defer_indexes(text, text, regclass),
    @extschema@._copy_restore_indexes(text, regclass, name), @extschema@.copy_restore_indexes(text) FROM PUBLIC;

-- issue 12: a sync added again under the same name forgets its earlier copy's records (and builds
-- the indexes an unfinished copy dropped)
CREATE FUNCTION @extschema@._forget_initial(p_sync text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT @extschema@._copy_restore_indexes(p_sync);
    DELETE FROM @extschema@.copies WHERE sync_name = p_sync;
    DELETE FROM @extschema@.copy_ranges WHERE sync_name = p_sync;
    DELETE FROM @extschema@.copy_tables WHERE sync_name = p_sync;
$$;

REVOKE ALL ON FUNCTION @extschema@._forget_initial(text) FROM PUBLIC;

-- issue 14: the queue in three tables emptied by TRUNCATE (changes_0..2 behind the view
-- changes), _queue_maintain and _snapshot_meet, _purge calls it, the capture functions insert into
-- the queue tables. Rows queued before the update are moved into it with their ids and still sent.
CREATE FUNCTION @extschema@._queue_insert(p_id bigint, p_sync_id integer, p_relid oid, p_op "char",
    p_old jsonb, p_new jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF (p_id >> 24) % 3 = 0 THEN
        INSERT INTO @extschema@.changes_0 (id, sync_id, relid, op, old, new) VALUES (p_id, p_sync_id, p_relid, p_op, p_old, p_new);
    ELSIF (p_id >> 24) % 3 = 1 THEN
        INSERT INTO @extschema@.changes_1 (id, sync_id, relid, op, old, new) VALUES (p_id, p_sync_id, p_relid, p_op, p_old, p_new);
    ELSE
        INSERT INTO @extschema@.changes_2 (id, sync_id, relid, op, old, new) VALUES (p_id, p_sync_id, p_relid, p_op, p_old, p_new);
    END IF;
END
$$;

CREATE FUNCTION @extschema@._changes_write() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF (OLD.id >> 24) % 3 = 0 THEN
            DELETE FROM @extschema@.changes_0 c WHERE c.sync_id = OLD.sync_id AND c.id = OLD.id;
        ELSIF (OLD.id >> 24) % 3 = 1 THEN
            DELETE FROM @extschema@.changes_1 c WHERE c.sync_id = OLD.sync_id AND c.id = OLD.id;
        ELSE
            DELETE FROM @extschema@.changes_2 c WHERE c.sync_id = OLD.sync_id AND c.id = OLD.id;
        END IF;
        RETURN OLD;
    END IF;
    NEW.id := coalesce(NEW.id, nextval('@extschema@.change_queue_id_seq'));
    PERFORM @extschema@._queue_insert(NEW.id, NEW.sync_id, NEW.relid, NEW.op, NEW.old, NEW.new);
    RETURN NEW;
END
$$;

REVOKE ALL ON FUNCTION @extschema@._queue_insert(bigint, integer, oid, "char", jsonb, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._changes_write() FROM PUBLIC;
ALTER TABLE @extschema@.changes RENAME TO changes_0_1_0;
-- The capture queue (issue 14). One row per row change, written by @extschema@.capture() into
-- one of three tables, changes_0..2 (PgQ and Slony keep their queues this way): the queue is
-- never purged row by row; a table is emptied with TRUNCATE once every peer has confirmed
-- everything in it (@extschema@._queue_maintain), so it leaves no dead tuples and needs no
-- VACUUM (autovacuum is off on them).
--
-- Which table a change goes to follows from its id: ids of epoch e are e * 2^24 .. e * 2^24 +
-- 2^24 - 1 and go to changes_<e % 3>. Rotating to the next table is one setval of the id
-- sequence to the next epoch's first id, so the trigger looks nothing up per row, and ids keep
-- growing: for one row, id order is still the order its changes were made. Plain tables, not
-- partitions of one table: partitioning cost the capture trigger about 45,000 instructions per
-- pgbench -N transaction (7%; bench/capture-cost -I, variants current, direct and plain), with
-- routing or without. Only the capture functions write them (no CHECK of the id: a CHECK costs
-- every insert a catalog read).
--
-- xid is the writing transaction's 64-bit id: senders select changes by commit snapshot
-- ("visible in hi, not visible in lo"), never by "id > last id", so a transaction that commits
-- after later-started ones is never skipped. Within a snapshot range rows are sent in id order.
--
-- no CACHE: ids must follow the order in which changes were made across all sessions (a later
-- change of a row waits for the earlier one's row lock, then takes a higher id). Neither would
-- the transaction id and a counter per transaction do: a transaction that waits for another's row
-- lock may have taken its transaction id before that one, and the sender, which sends a snapshot
-- range's rows in id order, would then send the row's later change first.
CREATE SEQUENCE @extschema@.change_queue_id_seq NO CYCLE;
CREATE TABLE @extschema@.changes_0 (
    id          bigint NOT NULL DEFAULT pg_catalog.nextval('@extschema@.change_queue_id_seq'::pg_catalog.regclass),
    xid         xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    sync_id     integer NOT NULL,
    relid       oid NOT NULL,
    -- I, U, D or T. No CHECK constraint: the executor re-reads a CHECK's expression from the
    -- catalog for every statement, which cost the capture trigger a quarter of its time per row
    op          "char" NOT NULL,
    -- when the row was changed (not when its transaction began): conflict resolution 'latest'
    -- compares these, so a change made after another was seen always carries a later time
    at          timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    old         jsonb,
    new         jsonb
) WITH (fillfactor = 100, autovacuum_enabled = false, toast.autovacuum_enabled = false);
CREATE TABLE @extschema@.changes_1 (
    id          bigint NOT NULL DEFAULT pg_catalog.nextval('@extschema@.change_queue_id_seq'::pg_catalog.regclass),
    xid         xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    sync_id     integer NOT NULL,
    relid       oid NOT NULL,
    op          "char" NOT NULL,
    at          timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    old         jsonb,
    new         jsonb
) WITH (fillfactor = 100, autovacuum_enabled = false, toast.autovacuum_enabled = false);
CREATE TABLE @extschema@.changes_2 (
    id          bigint NOT NULL DEFAULT pg_catalog.nextval('@extschema@.change_queue_id_seq'::pg_catalog.regclass),
    xid         xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    sync_id     integer NOT NULL,
    relid       oid NOT NULL,
    op          "char" NOT NULL,
    at          timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    old         jsonb,
    new         jsonb
) WITH (fillfactor = 100, autovacuum_enabled = false, toast.autovacuum_enabled = false);
-- No primary key: the one index is what the sender walks (a sync's changes in id order).
CREATE INDEX changes_0_sync_id_id ON @extschema@.changes_0 (sync_id, id);
CREATE INDEX changes_1_sync_id_id ON @extschema@.changes_1 (sync_id, id);
CREATE INDEX changes_2_sync_id_id ON @extschema@.changes_2 (sync_id, id);
COMMENT ON TABLE @extschema@.changes_0 IS
    'mmsync capture queue, table 0 of 3 (ids of epochs 0, 3, 6, ...); truncated once every peer has applied it';
COMMENT ON TABLE @extschema@.changes_1 IS
    'mmsync capture queue, table 1 of 3 (ids of epochs 1, 4, 7, ...); truncated once every peer has applied it';
COMMENT ON TABLE @extschema@.changes_2 IS
    'mmsync capture queue, table 2 of 3 (ids of epochs 2, 5, 8, ...); truncated once every peer has applied it';
-- The three tables as one (maintenance, tests, bench); readers use @extschema@.changes.
CREATE VIEW @extschema@.change_queue AS
          SELECT q.id, q.xid, q.sync_id, q.relid, q.op, q.at, q.old, q.new FROM @extschema@.changes_0 q
UNION ALL SELECT q.id, q.xid, q.sync_id, q.relid, q.op, q.at, q.old, q.new FROM @extschema@.changes_1 q
UNION ALL SELECT q.id, q.xid, q.sync_id, q.relid, q.op, q.at, q.old, q.new FROM @extschema@.changes_2 q;

-- One row per queue table. epoch: the newest epoch of ids that went to it (NULL: never used);
-- first_epoch: the oldest epoch that may still have rows in it; ended: a snapshot taken after
-- the next epoch began, its xmax raised to a transaction id taken then (@extschema@._queue_ended;
-- NULL while it is the current table): every transaction that took an id of this table's epochs
-- has a lower transaction id, so once a snapshot every peer has confirmed has xmin >=
-- xmax(ended), nobody needs a row of the table; truncated: emptied since.
CREATE TABLE @extschema@.queue_tables (
    slot        integer PRIMARY KEY CHECK (slot BETWEEN 0 AND 2),
    epoch       bigint CHECK (epoch % 3 = slot),
    first_epoch bigint CHECK (first_epoch <= epoch),
    started     timestamptz,
    ended       pg_snapshot,
    truncated   boolean NOT NULL DEFAULT false
);

-- What @extschema@._queue_maintain last found: purged (changes visible in it are no longer
-- needed by any peer, the conflict window included: see @extschema@.purge_marks) and floor (the
-- first id of the oldest table still needed; tables below it wait to be truncated).
CREATE TABLE @extschema@.queue_state (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    purged  pg_snapshot,
    floor   bigint NOT NULL DEFAULT 0
);
INSERT INTO @extschema@.queue_state DEFAULT VALUES;

-- The queue as every reader sees it (senders, the conflict resolver's competitor lookup, status,
-- wait_synced, retention): the changes still needed, as if purged row by row at the last
-- _queue_maintain. Rows below floor are skipped by the index, not filtered one by one. DELETE
-- (drop_sync, retention) and INSERT (a capture function of 0.1.0 still running while the
-- extension is updated) go to the right table through @extschema@._changes_write().
-- old is the row before the change, whole: the C capture trigger queues of an update's old row
-- only the columns the update changed (new || old is the whole row; an update that changed
-- nothing has {}), which saves the writer the encoding and storing of the unchanged columns.
-- PL/pgSQL and 0.1.0 queue the whole old row, which || leaves as it is.
CREATE VIEW @extschema@.changes AS
SELECT c.id, c.xid, c.sync_id, c.relid, c.op, c.at,
       CASE WHEN c.op OPERATOR(pg_catalog.=) 'U' THEN c.new OPERATOR(pg_catalog.||) c.old ELSE c.old END AS old, c.new
FROM @extschema@.change_queue c
WHERE c.id >= (SELECT q.floor FROM @extschema@.queue_state q)
  AND NOT coalesce(pg_catalog.pg_visible_in_snapshot(c.xid, (SELECT q.purged FROM @extschema@.queue_state q)), false);
COMMENT ON VIEW @extschema@.changes IS
    'mmsync capture queue: changes made on this node that some peer may still need';
CREATE TRIGGER changes_write INSTEAD OF INSERT OR DELETE ON @extschema@.changes
    FOR EACH ROW EXECUTE FUNCTION @extschema@._changes_write();
-- the queued rows keep their ids; new ids start at the next epoch, so that the tables holding
-- the old rows are truncated only once every peer has confirmed all of them
INSERT INTO @extschema@.changes_0 (id, xid, sync_id, relid, op, at, old, new)
SELECT c.id, c.xid, c.sync_id, c.relid, c.op, c.at, c.old, c.new FROM @extschema@.changes_0_1_0 c WHERE (c.id >> 24) % 3 = 0 ORDER BY c.id;
INSERT INTO @extschema@.changes_1 (id, xid, sync_id, relid, op, at, old, new)
SELECT c.id, c.xid, c.sync_id, c.relid, c.op, c.at, c.old, c.new FROM @extschema@.changes_0_1_0 c WHERE (c.id >> 24) % 3 = 1 ORDER BY c.id;
INSERT INTO @extschema@.changes_2 (id, xid, sync_id, relid, op, at, old, new)
SELECT c.id, c.xid, c.sync_id, c.relid, c.op, c.at, c.old, c.new FROM @extschema@.changes_0_1_0 c WHERE (c.id >> 24) % 3 = 2 ORDER BY c.id;
DO $$
DECLARE
    v_e0 bigint := (SELECT (greatest(s.last_value, coalesce((SELECT max(c.id) FROM @extschema@.changes_0_1_0 c), 0)) >> 24) + 1
                    FROM @extschema@.changes_id_seq s);
    v_e  bigint;
BEGIN
    PERFORM pg_catalog.setval('@extschema@.change_queue_id_seq', v_e0 << 24, false);
    FOR v_slot IN 0..2 LOOP
        IF v_slot = v_e0 % 3 THEN
            INSERT INTO @extschema@.queue_tables (slot, epoch, first_epoch, started)
            VALUES (v_slot, v_e0, CASE WHEN v_e0 >= 3 THEN 0 ELSE v_e0 END, pg_catalog.now());
        ELSE
            v_e := v_e0 - 1 - ((v_e0 - 1 - v_slot) % 3 + 3) % 3;  -- the newest epoch before v_e0 of this slot
            IF v_e >= 0 THEN
                INSERT INTO @extschema@.queue_tables (slot, epoch, first_epoch, started, ended)
                VALUES (v_slot, v_e, 0, pg_catalog.now(), pg_catalog.pg_current_snapshot());
            ELSE
                INSERT INTO @extschema@.queue_tables (slot) VALUES (v_slot);
            END IF;
        END IF;
    END LOOP;
END
$$;
DROP TABLE @extschema@.changes_0_1_0;
CREATE OR REPLACE FUNCTION @extschema@.capture() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    v_id pg_catalog.int8;
BEGIN
    IF pg_catalog.current_setting('mmsync.origin', true) OPERATOR(pg_catalog.<>) '' THEN
        RETURN NULL;
    END IF;
    -- the id names the queue table: (id >> 24) % 3 (see @extschema@.changes_0)
    v_id := pg_catalog.nextval('@extschema@.change_queue_id_seq'::pg_catalog.regclass);
    IF TG_NARGS OPERATOR(pg_catalog.>) 1 THEN
        PERFORM @extschema@._queue_insert(v_id, TG_ARGV[0]::pg_catalog.int4, TG_RELID,
            pg_catalog.left(TG_OP, 1)::pg_catalog."char",
            CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN @extschema@._keep_json_text(
                pg_catalog.to_jsonb(OLD), pg_catalog.row_to_json(OLD), TG_ARGV[1]::pg_catalog.text[]) END,
            CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN @extschema@._keep_json_text(
                pg_catalog.to_jsonb(NEW), pg_catalog.row_to_json(NEW), TG_ARGV[1]::pg_catalog.text[]) END);
    ELSIF (v_id OPERATOR(pg_catalog.>>) 24) OPERATOR(pg_catalog.%) 3 OPERATOR(pg_catalog.=) 0 THEN
        INSERT INTO @extschema@.changes_0 (id, sync_id, relid, op, old, new)
        VALUES (v_id, TG_ARGV[0]::pg_catalog.int4, TG_RELID, pg_catalog.left(TG_OP, 1)::pg_catalog."char",
                CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN pg_catalog.to_jsonb(OLD) END,
                CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN pg_catalog.to_jsonb(NEW) END);
    ELSIF (v_id OPERATOR(pg_catalog.>>) 24) OPERATOR(pg_catalog.%) 3 OPERATOR(pg_catalog.=) 1 THEN
        INSERT INTO @extschema@.changes_1 (id, sync_id, relid, op, old, new)
        VALUES (v_id, TG_ARGV[0]::pg_catalog.int4, TG_RELID, pg_catalog.left(TG_OP, 1)::pg_catalog."char",
                CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN pg_catalog.to_jsonb(OLD) END,
                CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN pg_catalog.to_jsonb(NEW) END);
    ELSE
        INSERT INTO @extschema@.changes_2 (id, sync_id, relid, op, old, new)
        VALUES (v_id, TG_ARGV[0]::pg_catalog.int4, TG_RELID, pg_catalog.left(TG_OP, 1)::pg_catalog."char",
                CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN pg_catalog.to_jsonb(OLD) END,
                CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN pg_catalog.to_jsonb(NEW) END);
    END IF;
    IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(1835889529, TG_ARGV[0]::pg_catalog.int4) THEN
        PERFORM pg_catalog.pg_notify('mmsync_changes', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.capture_keyless() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF pg_catalog.current_setting('mmsync.origin', true) <> '' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM @extschema@._queue_insert(pg_catalog.nextval('@extschema@.change_queue_id_seq'),
            TG_ARGV[0]::integer, TG_RELID, 'I', NULL, pg_catalog.to_jsonb(NEW));
        IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(1835889529, TG_ARGV[0]::integer) THEN
            PERFORM pg_catalog.pg_notify('mmsync_changes', '');
        END IF;
    ELSE
        INSERT INTO @extschema@.set_aside (sync_name, origin, schema_name, table_name, op, old, new, error)
        SELECT s.name, coalesce(@extschema@.local_node(), '?'), TG_TABLE_SCHEMA, TG_TABLE_NAME,
               pg_catalog.left(TG_OP, 1)::"char", pg_catalog.to_jsonb(OLD),
               CASE WHEN TG_OP = 'UPDATE' THEN pg_catalog.to_jsonb(NEW) END,
               TG_OP || ' on insert-only table without primary key is not replicated'
        FROM @extschema@.syncs s WHERE s.id = TG_ARGV[0]::integer;
        RAISE WARNING 'mmsync: % on %.% is not replicated: the table has no primary key (insert-only sync)',
            TG_OP, pg_catalog.quote_ident(TG_TABLE_SCHEMA), pg_catalog.quote_ident(TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@._purge(p_sync_id integer, p_limit integer DEFAULT 20000,
    OUT purged bigint, OUT more boolean)
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT m.truncated::bigint, m.waiting FROM @extschema@._queue_maintain() m, @extschema@._purge_row_versions() r
$$;

CREATE FUNCTION @extschema@._queue_maintain(OUT truncated integer, OUT rotated boolean, OUT waiting boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c_rotate_after constant interval := interval '250 milliseconds';
    v_now     pg_snapshot;
    v_state   record;
    v_purged  pg_snapshot;
    v_snaps   pg_snapshot[] := '{}';
    v_blocked boolean := false;
    v_sync    record;
    v_peer    text;
    v_mark    record;
    v_cur     record;
    v_epoch   bigint;
    v_t       record;
    v_floor   bigint;
BEGIN
    truncated := 0;
    rotated := false;
    waiting := false;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'mmsync: queue maintenance needs READ COMMITTED, not %', current_setting('transaction_isolation')
            USING HINT = 'call it in a transaction of its own with the default isolation level';
    END IF;
    IF NOT pg_try_advisory_xact_lock(1835889520, 0) THEN
        RETURN;
    END IF;
    PERFORM set_config('lock_timeout', '20ms', true);
    v_now := pg_current_snapshot();

    -- the sequence ahead of the bookkeeping: record the switch now
    SELECT * INTO v_cur FROM @extschema@.queue_tables WHERE epoch IS NOT NULL AND ended IS NULL;
    -- read under the sequence's buffer lock: a SELECT from the sequence can see the value 32 ids
    -- ahead that nextval writes into its page while it logs (an epoch ended before its last id
    -- was handed out); NULL just after the rotation's setval, when last_value is the next id
    v_epoch := coalesce(pg_sequence_last_value('@extschema@.change_queue_id_seq'::regclass),
                        (SELECT s.last_value FROM @extschema@.change_queue_id_seq s)) >> 24;
    WHILE v_epoch > v_cur.epoch LOOP
        UPDATE @extschema@.queue_tables SET ended = @extschema@._queue_ended() WHERE slot = v_cur.slot;
        UPDATE @extschema@.queue_tables t
        SET first_epoch = CASE WHEN t.epoch IS NULL OR t.truncated THEN v_cur.epoch + 1 ELSE t.first_epoch END,
            epoch = v_cur.epoch + 1, started = now(), ended = NULL, truncated = false
        WHERE t.slot = (v_cur.epoch + 1) % 3
        RETURNING * INTO v_cur;
    END LOOP;

    -- 1. what no peer needs any more
    SELECT q.purged, q.floor INTO v_state FROM @extschema@.queue_state q;
    FOR v_sync IN SELECT s.id, s.name, s.nodes FROM @extschema@.syncs s LOOP
        FOR v_peer IN SELECT p FROM unnest(v_sync.nodes) p
                      WHERE p <> @extschema@.local_node()
                        AND NOT EXISTS (SELECT 1 FROM @extschema@.resync_needed x
                                        WHERE x.sync_name = v_sync.name AND x.peer = p) LOOP
            SELECT m.id, m.confirmed_lo INTO v_mark
            FROM @extschema@.purge_marks m
            JOIN @extschema@.progress pr ON pr.sync_name = m.sync_name AND pr.origin = m.peer
            WHERE m.sync_name = v_sync.name AND m.peer = v_peer AND pr.lo IS NOT NULL
              AND pg_snapshot_xmax(m.peer_horizon) <= pg_snapshot_xmin(pr.lo)
            ORDER BY m.id DESC LIMIT 1;
            IF FOUND THEN
                DELETE FROM @extschema@.purge_marks m
                WHERE m.sync_name = v_sync.name AND m.peer = v_peer AND m.id < v_mark.id;
                v_snaps := v_snaps || v_mark.confirmed_lo;
            ELSIF EXISTS (SELECT 1 FROM @extschema@.changes c WHERE c.sync_id = v_sync.id) THEN
                v_blocked := true;
            END IF;
        END LOOP;
    END LOOP;
    IF v_blocked THEN
        v_purged := v_state.purged;
    ELSE
        -- a sync that added no snapshot has no change in the queue, and every snapshot here was
        -- taken before the checks above: all it shows committed, they saw
        v_purged := CASE WHEN cardinality(v_snaps) = 0 THEN v_now ELSE @extschema@._snapshot_meet(v_snaps) END;
        IF v_purged::text IS DISTINCT FROM v_state.purged::text THEN
            UPDATE @extschema@.queue_state SET purged = v_purged;
        END IF;
    END IF;

    -- 2. truncate what nobody needs
    FOR v_t IN SELECT t.slot FROM @extschema@.queue_tables t
               WHERE t.ended IS NOT NULL AND NOT t.truncated AND v_purged IS NOT NULL
                 AND pg_snapshot_xmin(v_purged) >= pg_snapshot_xmax(t.ended)
               ORDER BY t.epoch LOOP
        BEGIN
            EXECUTE format('LOCK TABLE @extschema@.%I IN ACCESS EXCLUSIVE MODE', 'changes_' || v_t.slot);
            -- with the lock held, nobody is writing into the table; if the epoch ran out since
            -- the check above, a writer may have written into it and committed: next call
            IF (SELECT s.last_value >> 24 FROM @extschema@.change_queue_id_seq s) = v_cur.epoch THEN
                EXECUTE format('TRUNCATE @extschema@.%I', 'changes_' || v_t.slot);
                UPDATE @extschema@.queue_tables SET truncated = true WHERE slot = v_t.slot;
                truncated := truncated + 1;
            END IF;
        EXCEPTION WHEN lock_not_available THEN
            waiting := true;
        END;
    END LOOP;

    -- 3. the first id still needed
    SELECT min(t.first_epoch) << 24 INTO v_floor FROM @extschema@.queue_tables t
    WHERE t.epoch IS NOT NULL AND NOT t.truncated
      AND NOT coalesce(t.ended IS NOT NULL AND pg_snapshot_xmin(v_purged) >= pg_snapshot_xmax(t.ended), false);
    IF v_floor IS DISTINCT FROM v_state.floor THEN
        UPDATE @extschema@.queue_state SET floor = v_floor;
    END IF;

    -- 4. rotate
    IF v_cur.started <= now() - c_rotate_after
       AND EXISTS (SELECT 1 FROM @extschema@.queue_tables n
                   WHERE n.slot = (v_cur.epoch + 1) % 3 AND (n.epoch IS NULL OR n.truncated)) THEN
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM @extschema@.%I)', 'changes_' || v_cur.slot) INTO rotated;
        IF rotated THEN
            UPDATE @extschema@.queue_tables
            SET epoch = v_cur.epoch + 1, first_epoch = v_cur.epoch + 1, started = now(), ended = NULL, truncated = false
            WHERE slot = (v_cur.epoch + 1) % 3;
            -- never backwards (the epoch might just have run out by itself)
            PERFORM setval('@extschema@.change_queue_id_seq',
                           greatest((v_cur.epoch + 1) << 24, (SELECT s.last_value + 1 FROM @extschema@.change_queue_id_seq s)), false);
            -- after the setval: its xmax is above every transaction that took an id of the table
            UPDATE @extschema@.queue_tables SET ended = @extschema@._queue_ended() WHERE slot = v_cur.slot;
        END IF;
    END IF;
END
$$;

-- The meet of snapshots: a transaction is visible in it iff it is visible in every one of them.
CREATE FUNCTION @extschema@._snapshot_meet(p_snaps pg_snapshot[]) RETURNS pg_snapshot
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH b AS (SELECT min(pg_snapshot_xmin(s)) AS xmin, min(pg_snapshot_xmax(s)) AS xmax FROM unnest(p_snaps) s)
    SELECT (least(b.xmin, b.xmax)::text || ':' || b.xmax::text || ':'
            || coalesce((SELECT string_agg(d.x::text, ',' ORDER BY d.x)
                         FROM (SELECT DISTINCT x FROM unnest(p_snaps) s, pg_snapshot_xip(s) x WHERE x < b.xmax) d), ''))::pg_snapshot
    FROM b
$$;

REVOKE ALL ON FUNCTION @extschema@._queue_maintain() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._snapshot_meet(pg_snapshot[]) FROM PUBLIC;
-- issue 14: merged deltas counted per sync and origin (conflict_counts, status().merged_deltas), not logged
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

-- issues 14 and 17: TRUNCATE capture through the queue tables; the queued truncate carries how far its node
-- had applied each other node's changes, so the peer removes exactly the rows it had; refused outside
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
    IF (SELECT pg_catalog.cardinality(s.nodes) FROM @extschema@.syncs s WHERE s.id = TG_ARGV[0]::integer) > 2 THEN
        RAISE EXCEPTION 'mmsync: TRUNCATE of table %.% is refused: its sync has three or more nodes',
            pg_catalog.quote_ident(TG_TABLE_SCHEMA), pg_catalog.quote_ident(TG_TABLE_NAME)
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'The other nodes would also remove rows a third node wrote that this node had not received yet, '
                      || 'and the nodes would end different (docs/conflicts.md, "Three or more nodes").',
                  HINT = 'Use DELETE (each row deleted is a change decided like any other).';
    END IF;
    PERFORM @extschema@._queue_insert(pg_catalog.nextval('@extschema@.change_queue_id_seq'),
        TG_ARGV[0]::integer, TG_RELID, 'T', NULL, pg_catalog.jsonb_build_object('seen', coalesce(
        (SELECT pg_catalog.jsonb_object_agg(p.origin, pg_catalog.jsonb_build_object(
                'lo', p.lo::text, 'hi', p.hi::text, 'last_id', p.last_id))
         FROM @extschema@.progress p JOIN @extschema@.syncs s ON s.name = p.sync_name
         WHERE s.id = TG_ARGV[0]::integer), '{}'::jsonb)));
    IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(1835889529, TG_ARGV[0]::integer) THEN
        PERFORM pg_catalog.pg_notify('mmsync_changes', '');
    END IF;
    RETURN NULL;
END
$$;

-- status() of 0.2.0 (a new signature: DROP + CREATE): state 'copying' (issue 12) and 'differs' (issue 17),
-- merged_deltas (issue 14), engine: which host runs this node's engine (issue 13), verified_at: the last compare that found the nodes identical (issue 17)
DROP FUNCTION @extschema@.status();
CREATE FUNCTION @extschema@.status()
RETURNS TABLE (sync text, peer text, state text, backlog bigint, lag_seconds numeric,
               rows_sent bigint, rows_applied bigint, last_error text, conflicts bigint, set_aside bigint,
               merged_deltas bigint, engine text, verified_at timestamptz)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_local text := @extschema@.local_node();
    v_r     record;
    v_b     record;
    v_hb    timestamptz;
    v_ret   record;
    v_warn  text;
    v_rs    record;
    v_sa    record;
    v_gone  text;
    v_cmp   record;
    v_engine text;
BEGIN
    SELECT h.host || coalesce(' (pid ' || h.pid || ')', '') INTO v_engine FROM @extschema@.engine_host() h;
    FOR v_r IN
        SELECT s.id, s.name, s.paused, p.peer, l.state AS lstate, l.heartbeat_at, l.sent,
               l.last_error AS lerr, pr.applied, coalesce(l.peer_set_aside, 0) AS peer_set_aside
        FROM @extschema@.syncs s
        CROSS JOIN LATERAL unnest(s.nodes) AS p(peer)
        LEFT JOIN @extschema@.links l ON l.sync_name = s.name AND l.peer = p.peer
        LEFT JOIN @extschema@.progress pr ON pr.sync_name = s.name AND pr.origin = p.peer
        WHERE NOT s.removed AND p.peer IS DISTINCT FROM v_local
        ORDER BY s.name, p.peer
    LOOP
        SELECT * INTO v_b FROM @extschema@._backlog(v_r.id, v_r.peer);
        sync := v_r.name;
        peer := v_r.peer;
        engine := v_engine;
        backlog := v_b.backlog;
        lag_seconds := coalesce(round(extract(epoch FROM clock_timestamp() - v_b.oldest)::numeric, 3), 0);
        rows_sent := coalesce(v_r.sent, 0);
        rows_applied := coalesce(v_r.applied, 0);
        last_error := v_r.lerr;
        SELECT count(*) INTO conflicts FROM @extschema@.conflicts c WHERE c.sync_name = v_r.name AND c.origin = v_r.peer;
        merged_deltas := coalesce((SELECT n.merged FROM @extschema@.conflict_counts n
                                   WHERE n.sync_name = v_r.name AND n.origin = v_r.peer), 0);
        IF v_r.paused THEN
            state := 'paused';
        ELSIF v_r.heartbeat_at IS NULL OR v_r.heartbeat_at < clock_timestamp() - interval '30 seconds' THEN
            state := 'disconnected';
            last_error := coalesce('agent not running: no heartbeat since '
                                   || to_char(v_r.heartbeat_at, 'YYYY-MM-DD HH24:MI:SS TZ'),
                                   'agent not running: no heartbeat yet');
        ELSIF v_r.lstate IN ('connecting', 'disconnected', 'error', 'starting') THEN
            state := 'disconnected';
        ELSIF @extschema@._copying(v_r.name, v_r.peer) THEN
            state := 'copying';  -- initial => 'copy' not finished: see mmsync.copy_status()
        ELSIF v_b.backlog > 0 THEN
            state := 'catching up';
        ELSE
            state := 'in sync';
        END IF;
        SELECT * INTO v_ret FROM @extschema@._retention_of(v_r.name);
        SELECT * INTO v_rs FROM @extschema@.resync_needed x WHERE x.sync_name = v_r.name AND x.peer = v_r.peer;
        IF FOUND THEN
            state := 'needs resync';
            v_warn := format('node %s needs a resync: the %s changes queued for it were dropped at %s (%s; '
                             'retention limit of this node); nothing is sent to it until mmsync.clear_resync(%L, %L)',
                             v_r.peer, v_rs.dropped, to_char(v_rs.since, 'YYYY-MM-DD HH24:MI:SS TZ'), v_rs.reason,
                             v_r.name, v_r.peer);
        ELSIF v_b.backlog >= v_ret.warn_changes THEN
            v_warn := format('warning: %s changes queued for node %s, over the warning threshold of %s%s',
                             v_b.backlog, v_r.peer, v_ret.warn_changes,
                             CASE WHEN v_ret.max_changes IS NOT NULL
                                  THEN format(' (at more than %s it needs a resync)', v_ret.max_changes) ELSE '' END);
        ELSIF v_b.oldest < clock_timestamp() - v_ret.warn_age THEN
            v_warn := format('warning: a change queued for node %s is older than the warning threshold of %s%s',
                             v_r.peer, v_ret.warn_age,
                             CASE WHEN v_ret.max_age IS NOT NULL
                                  THEN format(' (at %s it needs a resync)', v_ret.max_age) ELSE '' END);
        ELSE
            v_warn := NULL;
        END IF;
        SELECT string_agg(format('%I.%I', t.schema_name, t.table_name), ', ' ORDER BY t.schema_name, t.table_name)
        INTO v_gone FROM @extschema@.sync_tables t
        WHERE t.sync_id = v_r.id AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.relid);
        IF v_gone IS NOT NULL THEN
            v_warn := concat_ws('; ', v_warn, format('table %s of sync %s was dropped on node %s: its changes are no longer'
                || ' captured here, and changes of it from node %s cannot be applied here; drop it on node %s too',
                v_gone, v_r.name, v_local, v_r.peer, v_r.peer));
        END IF;
        SELECT count(*) OVER () AS n, a.schema_name, a.table_name, a.error INTO v_sa
        FROM @extschema@.set_aside a WHERE a.sync_name = v_r.name AND a.origin = v_r.peer
        ORDER BY a.id LIMIT 1;
        set_aside := coalesce(v_sa.n, 0);
        IF FOUND THEN
            v_warn := concat_ws('; ', v_warn, format('%s changes from node %s could not be applied on node %s and are set aside'
                || ' (the first: table %I.%I: %s); they are retried until they apply',
                v_sa.n, v_r.peer, v_local, v_sa.schema_name, v_sa.table_name, v_sa.error));
        END IF;
        IF v_r.peer_set_aside > 0 THEN
            v_warn := concat_ws('; ', v_warn, format('%s changes from node %s could not be applied on node %s and are set aside'
                || ' there (mmsync.status() on node %s names the first); they are retried until they apply',
                v_r.peer_set_aside, v_local, v_r.peer, v_r.peer));
        END IF;
        -- the newest compare of the pair (from either node, by hand or scheduled) that found them identical
        SELECT max(r.finished_at) INTO verified_at FROM @extschema@.compare_runs r
        WHERE r.sync_name = v_r.name AND r.peer = v_r.peer AND r.outcome = 'identical';
        IF state IN ('in sync', 'catching up') THEN
            -- never "in sync" while the last compare here found rows that still differ (issue 17)
            SELECT r.id, r.finished_at,
                   (SELECT count(*) FROM @extschema@.compare_diffs d WHERE d.run_id = r.id AND d.repaired IS NULL) AS open
            INTO v_cmp FROM @extschema@.compare_runs r
            WHERE r.sync_name = v_r.name AND r.peer = v_r.peer AND r.outcome IN ('identical', 'different')
            ORDER BY r.id DESC LIMIT 1;
            IF FOUND AND v_cmp.open > 0 THEN
                state := 'differs';
                v_warn := concat_ws('; ', v_warn, format('%s rows differ between node %s and node %s (mmsync compare #%s'
                    || ' at %s; SELECT * FROM mmsync.compare(%L) lists them); mmsync repair makes them equal',
                    v_cmp.open, v_local, v_r.peer, v_cmp.id, to_char(v_cmp.finished_at, 'YYYY-MM-DD HH24:MI:SS TZ'), v_r.name));
            END IF;
        END IF;
        IF state = 'in sync' AND (set_aside > 0 OR v_r.peer_set_aside > 0) THEN
            state := 'differs';  -- changes set aside on either node: the nodes differ until they apply
        END IF;
        IF v_warn IS NOT NULL THEN
            last_error := v_warn || coalesce('; ' || last_error, '');
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION @extschema@.status() FROM PUBLIC;

-- json columns holding a bare JSON string kept their exact text without its quotes (the peer could not apply it)
CREATE OR REPLACE FUNCTION @extschema@._keep_json_text(p_row jsonb, p_json json, p_cols text[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_col text;
BEGIN
    FOREACH v_col IN ARRAY p_cols LOOP
        -- the json value's exact text (-> keeps a bare string's quotes, ->> would drop them); SQL NULL stays null
        p_row := jsonb_set(p_row, ARRAY[v_col], CASE WHEN p_row -> v_col = 'null'::jsonb THEN 'null'::jsonb
                                                     ELSE to_jsonb((p_json -> v_col)::text) END);
    END LOOP;
    RETURN p_row;
END
$$;

-- issue 17: syncs of three or more nodes converge under latest (row_versions written by the apply, purge
-- marks carry the peer's clock, _purge_row_versions called by _purge); add_sync takes a third node,
-- _check_conflict refuses the other strategies for such syncs
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
ALTER TABLE @extschema@.purge_marks ADD COLUMN peer_horizon_at timestamptz;
DROP FUNCTION @extschema@._add_purge_mark(text, text, pg_snapshot, pg_snapshot);
-- Keeps the marks table small when the peer's horizon is not covered yet (peer idle or away):
-- at most the newest 1,000 marks of a link are kept. p_horizon_at: the peer's clock when it took
-- p_horizon (NULL from an agent older than 0.2.0).
CREATE FUNCTION @extschema@._add_purge_mark(p_sync text, p_peer text, p_lo pg_snapshot, p_horizon pg_snapshot,
    p_horizon_at timestamptz DEFAULT NULL)
RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO @extschema@.purge_marks (sync_name, peer, confirmed_lo, peer_horizon, peer_horizon_at)
    VALUES (p_sync, p_peer, p_lo, p_horizon, p_horizon_at);
    DELETE FROM @extschema@.purge_marks m WHERE m.sync_name = p_sync AND m.peer = p_peer
      AND m.id <= (SELECT m2.id FROM @extschema@.purge_marks m2 WHERE m2.sync_name = p_sync AND m2.peer = p_peer
                   ORDER BY m2.id DESC OFFSET 1000 LIMIT 1);
$$;
REVOKE ALL ON FUNCTION @extschema@._add_purge_mark(text, text, pg_snapshot, pg_snapshot, timestamptz) FROM PUBLIC;
-- Row versions of syncs of three or more nodes (issue 17; table @extschema@.row_versions,
-- docs/conflicts.md "Three or more nodes"): which entries can go. Called by _purge (every link
-- after its confirmations and while idle); one caller at a time (advisory lock (1835889520, 1)),
-- a second returns at once. Costs nothing while the table is empty (every two-node sync).
--
-- An entry (at, origin) only ever matters against a change with a smaller pair that arrives
-- later: a newer one wins anyway. So for each sync it may go once this node has every change of
-- every other node made before at: for each peer, the newest purge mark whose peer horizon this
-- node has applied (the rule of _queue_maintain) says this node has every change the peer made
-- before peer_horizon_at, but for changes of transactions still open at that instant; p_margin
-- covers those (a transaction that stays open longer than p_margin after changing a row, on a
-- third node, could meet a purged version). A peer without such a mark (away, or never marked by
-- a 0.2.0 agent) keeps every entry of the sync. Entries of tables no longer synced go too.
CREATE FUNCTION @extschema@._purge_row_versions(p_margin interval DEFAULT interval '10 minutes')
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_sync  record;
    v_n     bigint;
    v_total bigint := 0;
BEGIN
    IF (NOT EXISTS (SELECT 1 FROM @extschema@.row_versions) AND NOT EXISTS (SELECT 1 FROM @extschema@.row_deltas))
       OR NOT pg_try_advisory_xact_lock(1835889520, 1) THEN
        RETURN 0;
    END IF;
    -- the delta logs (row_deltas) go by the same rules as the row versions, below
    DELETE FROM @extschema@.row_deltas d
    WHERE d.relid IN (
        WITH RECURSIVE r(relid) AS (
            SELECT min(x.relid) FROM @extschema@.row_deltas x
            UNION ALL
            SELECT (SELECT min(x.relid) FROM @extschema@.row_deltas x WHERE x.relid > r.relid) FROM r WHERE r.relid IS NOT NULL)
        SELECT r.relid FROM r WHERE r.relid IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM @extschema@.sync_tables st WHERE st.relid = r.relid));
    GET DIAGNOSTICS v_n = ROW_COUNT;
    v_total := v_n;
    -- tables no longer synced (one index probe per table that has entries)
    DELETE FROM @extschema@.row_versions v
    WHERE v.relid IN (
        WITH RECURSIVE r(relid) AS (
            SELECT min(x.relid) FROM @extschema@.row_versions x
            UNION ALL
            SELECT (SELECT min(x.relid) FROM @extschema@.row_versions x WHERE x.relid > r.relid) FROM r WHERE r.relid IS NOT NULL)
        SELECT r.relid FROM r WHERE r.relid IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM @extschema@.sync_tables st WHERE st.relid = r.relid));
    GET DIAGNOSTICS v_n = ROW_COUNT;
    v_total := v_total + v_n;
    FOR v_sync IN
        SELECT s.id, min(h.at) - p_margin AS upto
        FROM @extschema@.syncs s
        CROSS JOIN LATERAL unnest(s.nodes) AS p(peer)
        LEFT JOIN LATERAL (
            SELECT m.peer_horizon_at AS at
            FROM @extschema@.purge_marks m
            JOIN @extschema@.progress pr ON pr.sync_name = m.sync_name AND pr.origin = m.peer
            WHERE m.sync_name = s.name AND m.peer = p.peer AND pr.lo IS NOT NULL
              AND pg_snapshot_xmax(m.peer_horizon) <= pg_snapshot_xmin(pr.lo)
            ORDER BY m.id DESC LIMIT 1) h ON true
        WHERE NOT s.removed AND cardinality(s.nodes) > 2 AND p.peer <> @extschema@.local_node()
        GROUP BY s.id
        HAVING count(h.at) = count(*)
    LOOP
        DELETE FROM @extschema@.row_versions v USING @extschema@.sync_tables st
        WHERE st.sync_id = v_sync.id AND v.relid = st.relid AND v.at < v_sync.upto;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_total := v_total + v_n;
        DELETE FROM @extschema@.row_deltas d USING @extschema@.sync_tables st
        WHERE st.sync_id = v_sync.id AND d.relid = st.relid AND d.at < v_sync.upto;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_total := v_total + v_n;
    END LOOP;
    RETURN v_total;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._purge_row_versions(interval) FROM PUBLIC;
-- Validates a conflict strategy for a sync; keep_local and apply_remote are node priorities
-- seen from this node (keep_local here = prefer this node), so both nodes pick the same winner.
-- A sync of three or more nodes takes latest only (issue 17, docs/conflicts.md "Three or more
-- nodes"): the others cannot give every node the same result there.
CREATE OR REPLACE FUNCTION @extschema@._check_conflict(p_sync text, p_nodes text[], p_conflict text, p_prefer text,
    OUT conflict text, OUT prefer text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_local text := @extschema@.local_node();
BEGIN
    conflict := coalesce(p_conflict, 'latest');
    IF conflict = 'latest' AND p_prefer IS NOT NULL THEN
        conflict := 'prefer';
    END IF;
    IF conflict NOT IN ('latest', 'prefer', 'keep_local', 'apply_remote', 'abort') THEN
        RAISE EXCEPTION 'mmsync: unknown conflict strategy %', quote_nullable(p_conflict)
            USING HINT = 'Use latest, prefer (with prefer => node), keep_local, apply_remote or abort.';
    END IF;
    IF conflict <> 'latest' AND cardinality(ARRAY(SELECT DISTINCT unnest(p_nodes))) > 2 THEN
        RAISE EXCEPTION 'mmsync: conflict strategy % cannot be used by sync "%" of % nodes (%)', conflict, p_sync,
            cardinality(ARRAY(SELECT DISTINCT unnest(p_nodes))), array_to_string(p_nodes, ', ')
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = CASE conflict
                      WHEN 'abort' THEN 'With three or more nodes each node meets a different set of conflicts, so a '
                          || 'decision taken on one node could not be matched on the others.'
                      WHEN 'apply_remote' THEN 'apply_remote names the other node of a two-node sync; with three or more '
                          || 'nodes there is no one other node.'
                      ELSE 'A node priority needs to know whether an incoming change was made on top of the preferred '
                          || 'node''s version; with three or more nodes that takes a version vector per row, which '
                          || 'mmsync does not keep, so the nodes could end with different versions.' END,
                  HINT = 'Use conflict => ''latest'' (the change made last wins on every node), with '
                      || 'mmsync.set_column_policy(table, column, ''delta'') for counters incremented on several nodes; '
                      || 'or sync two nodes.';
    END IF;
    prefer := p_prefer;
    IF conflict = 'prefer' AND (prefer IS NULL OR NOT prefer = ANY (p_nodes)) THEN
        RAISE EXCEPTION 'mmsync: prefer => % is not a node of sync "%"', quote_nullable(prefer), p_sync
            USING HINT = 'Name the node whose version wins, e.g. prefer => ''blue''.';
    ELSIF conflict = 'keep_local' THEN
        prefer := v_local;
    ELSIF conflict = 'apply_remote' THEN
        IF cardinality(p_nodes) <> 2 THEN
            RAISE EXCEPTION 'mmsync: apply_remote needs a sync of exactly two nodes; use prefer => node';
        END IF;
        SELECT n INTO prefer FROM unnest(p_nodes) n WHERE n <> v_local;
    ELSIF conflict IN ('latest', 'abort') THEN
        prefer := NULL;
    END IF;
END
$$;

-- issue 14: the capture trigger in C (library mmsync_capture) where it is installed, else PL/pgSQL; set_capture, capture_impl
-- (issue 14, -N with the sync running: set_capture swaps capture_keyless to C as well, its PL/pgSQL kept in _capture_keyless_plpgsql)
CREATE FUNCTION @extschema@.set_capture(p_impl text DEFAULT 'auto') RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_src  text;
    v_srck text;
    v_want text := lower(btrim(coalesce(p_impl, 'auto')));
BEGIN
    IF v_want NOT IN ('auto', 'c', 'plpgsql') THEN
        RAISE EXCEPTION 'mmsync: set_capture(%): the implementation is auto, c or plpgsql', p_impl;
    END IF;
    IF v_want = 'auto' AND lower(coalesce(current_setting('mmsync.capture', true), '')) IN ('c', 'plpgsql') THEN
        v_want := lower(current_setting('mmsync.capture', true));
    END IF;
    SELECT p.prosrc INTO v_src FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
    WHERE p.oid = '@extschema@.capture()'::regprocedure AND l.lanname = 'plpgsql';
    IF FOUND THEN
        EXECUTE format('CREATE OR REPLACE FUNCTION @extschema@._capture_plpgsql() RETURNS trigger '
                       'LANGUAGE plpgsql SECURITY DEFINER AS %L', v_src);
        REVOKE ALL ON FUNCTION @extschema@._capture_plpgsql() FROM PUBLIC;
    ELSE
        SELECT p.prosrc INTO STRICT v_src FROM pg_proc p WHERE p.oid = '@extschema@._capture_plpgsql()'::regprocedure;
    END IF;
    -- capture_keyless likewise: its PL/pgSQL source is kept in _capture_keyless_plpgsql(), which the C
    -- one calls for an update or a delete (an insert it queues as capture() does)
    SELECT p.prosrc INTO v_srck FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
    WHERE p.oid = '@extschema@.capture_keyless()'::regprocedure AND l.lanname = 'plpgsql';
    IF FOUND THEN
        EXECUTE format('CREATE OR REPLACE FUNCTION @extschema@._capture_keyless_plpgsql() RETURNS trigger '
                       'LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS %L', v_srck);
        REVOKE ALL ON FUNCTION @extschema@._capture_keyless_plpgsql() FROM PUBLIC;
    ELSE
        SELECT p.prosrc INTO STRICT v_srck FROM pg_proc p WHERE p.oid = '@extschema@._capture_keyless_plpgsql()'::regprocedure;
    END IF;
    IF v_want IN ('auto', 'c') THEN
        BEGIN
            -- not SECURITY DEFINER: the C function checks no privilege (it writes the queue itself).
            -- Found through dynamic_library_path (default $libdir, i.e. pg_config --pkglibdir).
            CREATE OR REPLACE FUNCTION @extschema@.capture() RETURNS trigger
            LANGUAGE c AS 'mmsync_capture', 'mmsync_capture';
            -- the triggers' WHEN clause (issue 15, 11_capture_when.sql) in C too
            BEGIN
                CREATE OR REPLACE FUNCTION @extschema@._capturing() RETURNS boolean
                LANGUAGE c STABLE AS 'mmsync_capture', 'mmsync_capturing';
            EXCEPTION WHEN undefined_function THEN
                RAISE NOTICE 'mmsync: the capture triggers'' WHEN clause stays in SQL: %', SQLERRM
                    USING HINT = 'The library mmsync_capture is older than the extension: install it again with installer/install.sh.';
            END;
            -- the insert-only tables' trigger (issue 14): not SECURITY DEFINER either (the PL/pgSQL
            -- function it calls for an update or a delete is)
            BEGIN
                CREATE OR REPLACE FUNCTION @extschema@.capture_keyless() RETURNS trigger
                LANGUAGE c AS 'mmsync_capture', 'mmsync_capture_keyless';
            EXCEPTION WHEN undefined_function THEN
                RAISE NOTICE 'mmsync: the insert-only tables'' capture stays PL/pgSQL: %', SQLERRM
                    USING HINT = 'The library mmsync_capture is older than the extension: install it again with installer/install.sh.';
            END;
            -- the capture triggers' WHEN clause follows (issue 14, 11a_capture_triggers.sql; not
            -- there yet while an upgrade script runs this before defining it)
            IF pg_catalog.to_regprocedure('@extschema@._capture_triggers()') IS NOT NULL THEN
                PERFORM @extschema@._capture_triggers();
            END IF;
            RETURN 'c';
        EXCEPTION WHEN OTHERS THEN
            IF v_want = 'c' THEN
                RAISE EXCEPTION 'mmsync: the C capture trigger cannot be used: %', SQLERRM
                    USING HINT = 'Install the library mmsync_capture with installer/install.sh (needs postgresql-server-dev-15, gcc, make) '
                              || 'and call set_capture as a superuser; or keep the PL/pgSQL trigger: set_capture(''plpgsql'').';
            END IF;
            RAISE NOTICE 'mmsync: capture runs as PL/pgSQL: the C trigger cannot be used (%)', SQLERRM;
        END;
    END IF;
    EXECUTE format('CREATE OR REPLACE FUNCTION @extschema@.capture() RETURNS trigger '
                   'LANGUAGE plpgsql SECURITY DEFINER AS %L', v_src);
    EXECUTE format('CREATE OR REPLACE FUNCTION @extschema@.capture_keyless() RETURNS trigger '
                   'LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS %L', v_srck);
    CREATE OR REPLACE FUNCTION @extschema@._capturing() RETURNS boolean  -- as in 11_capture_when.sql
    LANGUAGE sql STABLE AS $f$
        SELECT COALESCE(pg_catalog.current_setting('mmsync.origin', true), '') OPERATOR(pg_catalog.=) ''
    $f$;
    IF pg_catalog.to_regprocedure('@extschema@._capture_triggers()') IS NOT NULL THEN
        PERFORM @extschema@._capture_triggers();
    END IF;
    RETURN 'plpgsql';
END
$$;

-- 'c' or 'plpgsql': which implementation capture() has now.
CREATE FUNCTION @extschema@.capture_impl() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT l.lanname::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
    WHERE p.oid = '@extschema@.capture()'::regprocedure
$$;

REVOKE ALL ON FUNCTION @extschema@.set_capture(text), @extschema@.capture_impl() FROM PUBLIC;
SELECT @extschema@.set_capture('auto');

-- issue 12 (repair and merge through the apply path): the winner queues repair changes; repair_changes records them
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

-- Issue 12: repair and merge through the normal apply path. The winning node queues the rows it
-- holds (or a delete where it holds none) as ordinary changes of its own queue, and its link sends
-- them to the peer like any other change: applied exactly once, in order with the other changes
-- of each row, resolved against the peer's own changes by the sync's conflict strategy, set aside
-- if the peer rejects them. mmsync.repair_changes says which queued changes were repairs.

-- The images of the given keys' rows (p_keys: a jsonb array of key objects) as the capture
-- trigger queues them: to_jsonb(row), json columns as their exact text. p_lock: FOR SHARE, so no
-- change of those rows can come between the image and the change queued with it.
CREATE FUNCTION @extschema@._row_images(p_table regclass, p_keys jsonb, p_lock boolean DEFAULT false)
RETURNS TABLE (key text, image jsonb)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_cols text[] := @extschema@._pk_cols(p_table);
    v_json text[];
BEGIN
    IF v_cols IS NULL THEN
        RAISE EXCEPTION 'mmsync: table % has no primary key and cannot be repaired by key', p_table;
    END IF;
    SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO v_json FROM pg_attribute a
    WHERE a.attrelid = p_table AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid = 'json'::regtype;
    RETURN QUERY EXECUTE format(
        'SELECT %s::text, %s FROM %s t WHERE (%s) IN (SELECT %s FROM jsonb_populate_recordset(NULL::%s, $1) k) ORDER BY %s%s',
        @extschema@._key_sql(p_table, 't'),
        CASE WHEN v_json IS NULL THEN 'to_jsonb(t)'
             ELSE format('@extschema@._keep_json_text(to_jsonb(t), row_to_json(t), %L)', v_json) END,
        p_table,
        (SELECT string_agg(format('t.%I', c), ', ') FROM unnest(v_cols) c),
        (SELECT string_agg(format('k.%I', c), ', ') FROM unnest(v_cols) c), p_table,
        (SELECT string_agg(format('t.%I', c), ', ') FROM unnest(v_cols) c),
        CASE WHEN p_lock THEN ' FOR SHARE OF t' ELSE '' END)
    USING p_keys;
END
$$;

-- Queues repair changes of one table on this node (the winner), in array order: p_changes is a
-- jsonb array of {"key": key object, "old": the peer's image or null, "new": this node's image or
-- null}: insert (no old), update (both), delete (no new); equal images are skipped. p_run: the
-- compare run (on the node the command ran from) or merge that asked. Returns each queued change.
-- The caller holds the rows' locks (_row_images with p_lock) in the same transaction.
CREATE FUNCTION @extschema@._repair_enqueue(p_sync text, p_table regclass, p_kind text, p_run bigint, p_changes jsonb)
RETURNS TABLE (key text, change_id bigint, op "char")
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_sync integer := @extschema@._sync_id(p_sync);
    v_nsp  name;
    v_rel  name;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM @extschema@.sync_tables t WHERE t.sync_id = v_sync AND t.relid = p_table AND t.mode = 'keyed') THEN
        RAISE EXCEPTION 'mmsync: table % is not a keyed table of sync "%"', p_table, p_sync;
    END IF;
    SELECT n.nspname, c.relname INTO v_nsp, v_rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_table;
    -- the transaction id first, then the queue ids, as capture does: the sender's range floor
    -- (send.RangeFloor) relies on a change's id being taken after its transaction's id
    PERFORM pg_catalog.pg_current_xact_id();
    -- set-based: ids in array order (nextval over the ordered rows), each change into the queue
    -- table its id names (see @extschema@.changes_0), and its record
    RETURN QUERY
    WITH q AS MATERIALIZED (
        SELECT y.key, y.old, y.new, y.op, nextval('@extschema@.change_queue_id_seq') AS id
        FROM (SELECT x.key, x.old, x.new,
                     (CASE WHEN x.new IS NULL THEN 'D' WHEN x.old IS NULL THEN 'I' ELSE 'U' END)::"char" AS op
              FROM ROWS FROM (jsonb_to_recordset(p_changes) AS (key jsonb, old jsonb, new jsonb)) WITH ORDINALITY AS x(key, old, new, ord)
              WHERE x.old IS DISTINCT FROM x.new ORDER BY x.ord) y),
    i0 AS (INSERT INTO @extschema@.changes_0 (id, sync_id, relid, op, old, new)
           SELECT q.id, v_sync, p_table, q.op, q.old, q.new FROM q WHERE (q.id >> 24) % 3 = 0),
    i1 AS (INSERT INTO @extschema@.changes_1 (id, sync_id, relid, op, old, new)
           SELECT q.id, v_sync, p_table, q.op, q.old, q.new FROM q WHERE (q.id >> 24) % 3 = 1),
    i2 AS (INSERT INTO @extschema@.changes_2 (id, sync_id, relid, op, old, new)
           SELECT q.id, v_sync, p_table, q.op, q.old, q.new FROM q WHERE (q.id >> 24) % 3 = 2),
    -- a merge's inserts: the row is the table's own now (no image kept twice)
    r AS (INSERT INTO @extschema@.repair_changes (change_id, sync_name, kind, run_id, schema_name, table_name, key, op, old, new)
          SELECT q.id, p_sync, p_kind, p_run, v_nsp, v_rel, q.key, q.op, q.old,
                 CASE WHEN p_kind = 'merge' AND q.op = 'I' THEN NULL ELSE q.new END FROM q)
    SELECT q.key::text, q.id, q.op FROM q ORDER BY q.id;
    IF FOUND THEN
        PERFORM pg_notify('mmsync_changes', '');
    END IF;
END
$$;
-- The keys among p_keys (a jsonb array of key objects) of which this node's queue holds a change
-- that a peer has not confirmed yet: a repair change queued for them on the peer would be made
-- from a row that is about to change there (and a delta column would count that change twice).
CREATE FUNCTION @extschema@._in_flight_keys(p_sync text, p_table regclass, p_keys jsonb)
RETURNS SETOF text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH pk AS (SELECT @extschema@._pk_cols(p_table) AS cols),
    u AS MATERIALIZED (
        SELECT c.old, c.new FROM @extschema@.changes c
        JOIN @extschema@.syncs s ON s.id = c.sync_id
        CROSS JOIN LATERAL unnest(s.nodes) AS p(peer)
        LEFT JOIN @extschema@.links l ON l.sync_name = s.name AND l.peer = p.peer
        WHERE s.name = p_sync AND NOT s.removed AND c.relid = p_table AND c.op <> 'T'
          AND p.peer <> @extschema@.local_node()
          AND (l.confirmed_lo IS NULL OR NOT pg_visible_in_snapshot(c.xid, l.confirmed_lo))),
    f AS MATERIALIZED (
        SELECT DISTINCT (SELECT string_agg(i.img ->> x.col, E'\x1f' ORDER BY x.ord)
                         FROM unnest(pk.cols) WITH ORDINALITY AS x(col, ord)) AS k
        FROM u CROSS JOIN pk CROSS JOIN LATERAL (VALUES (u.old), (u.new)) AS i(img) WHERE i.img IS NOT NULL)
    SELECT k.key::text FROM jsonb_array_elements(p_keys) AS k(key) CROSS JOIN pk
    WHERE (SELECT string_agg(k.key ->> x.col, E'\x1f' ORDER BY x.ord) FROM unnest(pk.cols) WITH ORDINALITY AS x(col, ord))
          IN (SELECT f.k FROM f)
$$;
REVOKE ALL ON FUNCTION @extschema@._row_images(regclass, jsonb, boolean),
    @extschema@._repair_enqueue(text, regclass, text, bigint, jsonb),
    @extschema@._in_flight_keys(text, regclass, jsonb) FROM PUBLIC;

-- issue 17: scheduled compares (verify_schedule, set_verify, _verify_due; status().verified_at above)
CREATE TABLE @extschema@.verify_schedule (
    sync_name   text PRIMARY KEY REFERENCES @extschema@.syncs (name) ON DELETE CASCADE,
    every       interval CHECK (every >= interval '1 second'),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE @extschema@.verify_schedule IS
    'mmsync scheduled compares per sync on this node (set_verify()); no row: once a day';

-- Sets how often this node's engine compares sync `sync` with each of its peers (NULL: never on a
-- schedule). The first scheduled compare runs `every` after the sync was added, or after the last
-- compare of the pair (from either node), whichever is later.
CREATE FUNCTION @extschema@.set_verify(sync text, every interval)
RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM @extschema@._sync_id(set_verify.sync);
    IF set_verify.every < interval '1 second' THEN
        RAISE EXCEPTION 'mmsync: the compare interval of sync "%" must be at least 1 second, not %', set_verify.sync, set_verify.every
            USING ERRCODE = 'invalid_parameter_value', HINT = 'NULL turns scheduled compares off.';
    END IF;
    INSERT INTO @extschema@.verify_schedule AS v (sync_name, every) VALUES (set_verify.sync, set_verify.every)
    ON CONFLICT (sync_name) DO UPDATE SET every = EXCLUDED.every, updated_at = now();
    PERFORM pg_notify('mmsync_config', set_verify.sync);
    RETURN CASE WHEN set_verify.every IS NULL
                THEN format('sync "%s": no scheduled compares on node %s (mmsync compare by hand)', set_verify.sync, @extschema@.local_node())
                ELSE format('sync "%s": node %s compares it with each peer every %s', set_verify.sync, @extschema@.local_node(), set_verify.every) END;
END
$$;

-- For the local engine: the (sync, peer) pairs whose scheduled compare is due: the sync is
-- running (not paused, no copy under way, the peer not waiting for a resync) and neither node has
-- compared the pair (or run a scheduled compare that failed) within the interval.
CREATE FUNCTION @extschema@._verify_due()
RETURNS TABLE (sync text, peer text, every interval)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.name, p.peer, coalesce(v.every, CASE WHEN v.sync_name IS NULL THEN interval '1 day' END)
    FROM @extschema@.syncs s
    CROSS JOIN LATERAL unnest(s.nodes) AS p(peer)
    LEFT JOIN @extschema@.verify_schedule v ON v.sync_name = s.name
    WHERE NOT s.removed AND NOT s.paused
      AND p.peer IS DISTINCT FROM @extschema@.local_node()
      AND @extschema@.local_node() = ANY (s.nodes)
      AND (v.sync_name IS NULL OR v.every IS NOT NULL)
      AND s.created_at < now() - coalesce(v.every, interval '1 day')
      AND NOT EXISTS (SELECT 1 FROM @extschema@.compare_runs r
                      WHERE r.sync_name = s.name AND r.peer = p.peer
                        AND r.started_at >= now() - coalesce(v.every, interval '1 day'))
      AND NOT EXISTS (SELECT 1 FROM @extschema@.resync_needed x WHERE x.sync_name = s.name AND x.peer = p.peer)
      AND NOT @extschema@._copying(s.name, p.peer)
    ORDER BY s.name, p.peer
$$;
REVOKE ALL ON TABLE @extschema@.verify_schedule FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.set_verify(text, interval), @extschema@._verify_due() FROM PUBLIC;

-- issue 17: delta columns exact in syncs of three or more nodes (the engine's DeltaRule): the delta logs
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

-- issue 15: capture triggers WHEN (mmsync._capturing(), false while mmsync.origin is set): the applier's rows queue no trigger event; _capturing (made by set_capture above), _attach_table, existing triggers recreated
-- (sql/src/functions/11_capture_when.sql, 95_capture_when.sql: the clause and why; set_capture('auto')
-- above made mmsync._capturing() in C or SQL.)

-- Puts one table under a sync: records it and installs the capture trigger. The rows the mmsync
-- applier writes queue no trigger event: with the C capture its hooks skip the trigger in the
-- applier's statements; with the PL/pgSQL one the trigger's WHEN clause (@extschema@._capturing).
CREATE OR REPLACE FUNCTION @extschema@._attach_table(p_sync_id integer, p_relid oid, p_mode text DEFAULT 'keyed') RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_pk    text[] := @extschema@._pk_cols(p_relid);
    v_other text;
    v_nsp   name;
    v_rel   name;
    v_json  text[];
    -- the WHEN clause with the PL/pgSQL capture only (11a_capture_triggers.sql)
    v_when  text := CASE WHEN @extschema@.capture_impl() = 'c' THEN '' ELSE 'WHEN (@extschema@._capturing()) ' END;
BEGIN
    SELECT n.nspname, c.relname INTO v_nsp, v_rel
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_relid;
    IF v_pk IS NULL AND p_mode = 'keyed' THEN
        RAISE EXCEPTION 'mmsync: table %.% has no primary key', quote_ident(v_nsp), quote_ident(v_rel)
            USING HINT = 'Add a primary key, leave the table out, or sync it insert-only (insert_only => ''...'').';
    END IF;
    SELECT s.name INTO v_other FROM @extschema@.sync_tables t JOIN @extschema@.syncs s ON s.id = t.sync_id
    WHERE t.relid = p_relid AND t.sync_id <> p_sync_id;
    IF FOUND THEN
        RAISE EXCEPTION 'mmsync: table %.% already belongs to sync "%"', quote_ident(v_nsp), quote_ident(v_rel), v_other;
    END IF;
    INSERT INTO @extschema@.sync_tables (sync_id, relid, schema_name, table_name, pk_cols, mode)
    VALUES (p_sync_id, p_relid, v_nsp, v_rel, coalesce(v_pk, '{}'), p_mode)
    ON CONFLICT (sync_id, relid) DO UPDATE SET pk_cols = EXCLUDED.pk_cols, mode = EXCLUDED.mode,
        schema_name = EXCLUDED.schema_name, table_name = EXCLUDED.table_name;
    PERFORM @extschema@._drop_triggers(p_relid);
    EXECUTE format('CREATE TRIGGER mmsync_truncate AFTER TRUNCATE ON %I.%I '
                   'FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.capture_truncate(%L)', v_nsp, v_rel, p_sync_id);
    IF p_mode = 'insert_only' THEN
        EXECUTE format('CREATE TRIGGER mmsync_capture AFTER INSERT OR UPDATE OR DELETE ON %I.%I '
                       'FOR EACH ROW %sEXECUTE FUNCTION @extschema@.capture_keyless(%L)',
                       v_nsp, v_rel, v_when, p_sync_id);
        RETURN;
    END IF;
    SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO v_json FROM pg_attribute a
    WHERE a.attrelid = p_relid AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid = 'json'::regtype;
    EXECUTE format('CREATE TRIGGER mmsync_capture AFTER INSERT OR UPDATE OR DELETE ON %I.%I '
                   'FOR EACH ROW %sEXECUTE FUNCTION @extschema@.capture(%L%s)',
                   v_nsp, v_rel, v_when, p_sync_id,
                   CASE WHEN v_json IS NULL THEN '' ELSE format(', %L', v_json) END);
END
$$;
REVOKE ALL ON FUNCTION @extschema@._capturing() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._capturing() TO PUBLIC;

-- The capture triggers that exist get the WHEN clause the capture implementation needs (PL/pgSQL:
-- with it, C: without) once, at the end of this script: @extschema@._capture_triggers() (issue 14).

-- issue 17: a queue table is truncated only once every transaction that wrote into it is confirmed
-- The record of a queue table's end (ended in @extschema@.queue_tables, issue 17), taken once the
-- id sequence is past the table's epochs: the snapshot now, with its xmax raised to a transaction
-- id taken now. A snapshot's own xmax will not do: it is one past the newest *finished*
-- transaction, so a transaction that took its id before, took a queue id of the table, and is
-- still running can be at or above it (and is not in the snapshot's xip either, which holds
-- only running ids below xmax). With such an xmax, the table was truncated once every peer had
-- confirmed a snapshot with that xmin, and the running transaction's change in it was gone before
-- it was sent: WaitSyncedIT and BurstEndIT found a writer's insert lost, its next change (an
-- update in the same transaction, in the next table) applied, wait_synced true. A transaction id
-- taken now is above every id taken before, and every transaction that took an id of the table
-- had its transaction id before that (the capture takes the queue id after the row's write): so
-- once xmin(purged) >= xmax(ended), each of them has finished and is confirmed by every peer.
-- The id is a subtransaction's, taken by a write in a block of its own: the transaction's own id
-- may be older than the switch (_queue_maintain writes before its setval).
CREATE FUNCTION @extschema@._queue_ended() RETURNS pg_snapshot
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_snap pg_snapshot := pg_current_snapshot();
    v_top  bigint := pg_current_xact_id()::text::bigint;
    v_sub  xid;
    v_now  bigint;
BEGIN
    BEGIN
        UPDATE @extschema@.queue_state SET floor = floor RETURNING xmin INTO v_sub;
    EXCEPTION WHEN raise_exception THEN
        RAISE;  -- never taken: the handler only makes the block a subtransaction, with an id of its own
    END;
    IF v_sub IS NULL THEN
        RAISE EXCEPTION 'mmsync: the queue state row is missing (internal error)'
            USING HINT = 'INSERT INTO mmsync.queue_state DEFAULT VALUES, then call mmsync._purge again';
    END IF;
    -- the subtransaction's 32-bit id in the top transaction's epoch (newer than it, by less than 2^31)
    v_now := v_top + ((v_sub::text::bigint - v_top % 4294967296) + 4294967296) % 4294967296;
    RETURN (pg_snapshot_xmin(v_snap)::text || ':' || greatest(pg_snapshot_xmax(v_snap)::text::bigint, v_now)::text || ':'
            || coalesce((SELECT string_agg(x::text, ',' ORDER BY x) FROM pg_snapshot_xip(v_snap) x), ''))::pg_snapshot;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._queue_ended() FROM PUBLIC;
-- tables ended before this update: their ended is bounded again, by a transaction id taken now
UPDATE @extschema@.queue_tables SET ended = @extschema@._queue_ended() WHERE ended IS NOT NULL AND NOT truncated;

-- issue 15: mmsync._fail, the engine's failures on purpose with SQLSTATEs of its own (MM001, MM002)
-- Raises an error with an SQLSTATE of mmsync's own (issue 15): the engine's multi-statement
-- requests call it to fail on purpose, so that the server skips the request's later statements
-- and rolls the transaction back (engine classes PageEnd, PageAtOnce; docs/operations.md). Codes:
-- MM001, a local change raced the page being applied; MM002, the page needs the full apply. An
-- engine whose peer lacks this function fails by casting the message to integer (SQLSTATE 22P02).
-- Declared to return integer so that it can stand in a query's select list; it never returns.
CREATE FUNCTION @extschema@._fail(p_sqlstate text, p_message text)
RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_sqlstate IS NULL OR p_sqlstate !~ '^MM[0-9]{3}$' THEN
        RAISE EXCEPTION 'mmsync._fail: SQLSTATE % is not one of mmsync''s (MM000 to MM999)', p_sqlstate
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RAISE EXCEPTION USING ERRCODE = p_sqlstate, MESSAGE = p_message;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._fail(text, text) FROM PUBLIC;

-- issue 17 (follow-up): a change the peer set aside is not "synced": links.peer_set_aside (the
-- sender's count of this node's changes set aside at the peer), status() says "differs" and names
-- them, wait_synced waits for them
ALTER TABLE @extschema@.links ADD COLUMN peer_set_aside bigint NOT NULL DEFAULT 0;
-- Waits until every change of the sync committed here before the call has been applied at
-- every peer; returns true, or false on timeout. For scripts and tests: "applied up to X". A change
-- the peer set aside (it could not apply it, see status()) is not applied: while a peer holds
-- changes of this node set aside, the call waits for their retries and on timeout returns false
-- with a NOTICE naming the peer.
CREATE OR REPLACE FUNCTION @extschema@.wait_synced(name text, timeout interval DEFAULT '60 seconds')
RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_id       integer := @extschema@._sync_id(wait_synced.name);
    v_deadline timestamptz := clock_timestamp() + wait_synced.timeout;
    v_max      bigint := (SELECT coalesce(max(id), 0) FROM @extschema@.changes WHERE sync_id = v_id);
    v_held     text;
BEGIN
    LOOP
        IF NOT EXISTS (
            SELECT 1 FROM @extschema@.changes c
            JOIN @extschema@.syncs s ON s.id = c.sync_id
            CROSS JOIN LATERAL unnest(s.nodes) AS p(peer)
            LEFT JOIN @extschema@.links l ON l.sync_name = s.name AND l.peer = p.peer
            WHERE c.sync_id = v_id AND c.id <= v_max AND p.peer <> @extschema@.local_node()
              AND (l.confirmed_lo IS NULL OR NOT pg_visible_in_snapshot(c.xid, l.confirmed_lo))) THEN
            -- every change confirmed: applied, unless the peer set it aside (links.peer_set_aside,
            -- written before the confirmation of the page that set it aside)
            SELECT string_agg(format('%s on node %s', l.peer_set_aside, l.peer), ', ' ORDER BY l.peer) INTO v_held
            FROM @extschema@.links l JOIN @extschema@.syncs s ON s.name = l.sync_name
            WHERE s.id = v_id AND l.peer_set_aside > 0 AND l.peer = ANY (s.nodes);
            IF v_held IS NULL THEN
                RETURN true;
            END IF;
        END IF;
        IF clock_timestamp() > v_deadline THEN
            IF v_held IS NOT NULL THEN
                RAISE NOTICE 'mmsync.wait_synced(%): changes of node % are set aside (could not be applied): %',
                    wait_synced.name, @extschema@.local_node(), v_held
                    USING HINT = 'mmsync.status() on that node names the first change and its error; they are retried until they apply';
            END IF;
            RETURN false;
        END IF;
        v_held := NULL;
        PERFORM pg_sleep(0.02);
    END LOOP;
END
$$;

-- issue 14: _enforce_retention looks at the queue only for a sync whose every peer is marked (it hashed the whole queue every round)
-- Called by the local agent every round (and usable from cron while no agent runs): marks every
-- peer past a retention limit as needing a resync, dropping in the same transaction the changes
-- queued for it (a sender checks the mark after each read, so it never sends past the hole), and
-- keeps the queues of syncs with such peers purged. Returns one row per peer newly marked.
CREATE OR REPLACE FUNCTION @extschema@._enforce_retention()
RETURNS TABLE (sync text, peer text, dropped bigint, reason text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v        record;
    v_n      bigint;
    v_oldest timestamptz;
    v_reason text;
BEGIN
    FOR v IN
        SELECT s.id, s.name, p.peer, r.max_changes, r.max_age, l.confirmed_lo
        FROM @extschema@.syncs s
        JOIN @extschema@.retention r ON r.sync_name = s.name
        CROSS JOIN LATERAL unnest(s.nodes) AS p(peer)
        LEFT JOIN @extschema@.links l ON l.sync_name = s.name AND l.peer = p.peer
        WHERE NOT s.removed AND p.peer <> @extschema@.local_node()
          AND (r.max_changes IS NOT NULL OR r.max_age IS NOT NULL)
          AND NOT EXISTS (SELECT 1 FROM @extschema@.resync_needed x WHERE x.sync_name = s.name AND x.peer = p.peer)
    LOOP
        v_reason := NULL;
        IF v.max_changes IS NOT NULL THEN
            SELECT count(*) INTO v_n FROM (
                SELECT 1 FROM @extschema@.changes c WHERE c.sync_id = v.id
                  AND (v.confirmed_lo IS NULL OR NOT pg_visible_in_snapshot(c.xid, v.confirmed_lo))
                LIMIT v.max_changes + 1) AS x;
            IF v_n > v.max_changes THEN
                v_reason := format('more than %s changes queued', v.max_changes);
            END IF;
        END IF;
        IF v_reason IS NULL AND v.max_age IS NOT NULL THEN
            SELECT c.at INTO v_oldest FROM @extschema@.changes c WHERE c.sync_id = v.id
              AND (v.confirmed_lo IS NULL OR NOT pg_visible_in_snapshot(c.xid, v.confirmed_lo))
            ORDER BY c.id LIMIT 1;
            IF v_oldest < now() - v.max_age THEN
                v_reason := format('a change queued for longer than %s', v.max_age);
            END IF;
        END IF;
        CONTINUE WHEN v_reason IS NULL;
        SELECT b.backlog INTO v_n FROM @extschema@._backlog(v.id, v.peer) b;
        INSERT INTO @extschema@.resync_needed (sync_name, peer, dropped, reason)
        VALUES (v.name, v.peer, v_n, v_reason);
        sync := v.name;
        peer := v.peer;
        dropped := v_n;
        reason := v_reason;
        RETURN NEXT;
    END LOOP;
    -- Nobody left to send to: the queue of a sync whose every peer is marked is dropped. (With a
    -- marked peer among others, _purge skips the marked one: the others still get everything.)
    -- The queue is looked at only for such a sync: with its EXISTS in this query the planner
    -- hashed the whole queue every round (issue 14: 24-31 ms a round under pgbench -N).
    FOR v IN
        SELECT s.id FROM @extschema@.syncs s
        WHERE NOT s.removed
          AND NOT EXISTS (SELECT 1 FROM unnest(s.nodes) AS p(peer)
                          WHERE p.peer <> @extschema@.local_node()
                            AND NOT EXISTS (SELECT 1 FROM @extschema@.resync_needed x
                                            WHERE x.sync_name = s.name AND x.peer = p.peer))
    LOOP
        IF EXISTS (SELECT 1 FROM @extschema@.changes c WHERE c.sync_id = v.id) THEN
            DELETE FROM @extschema@.changes c WHERE c.sync_id = v.id;
        END IF;
    END LOOP;
END
$$;

-- issue 14: the capture triggers lose their WHEN clause with the C capture (its hooks skip them in the applier's statements); _capture_triggers, set_capture and _attach_table above follow the implementation
-- The WHEN clause of the row capture triggers follows the implementation capture() has (issue 14):
-- C: no clause (the library's hooks make the applier's statements skip the capture trigger, see
-- mmsync_capture.c: capture_ExecutorStart; a writer's statement then no longer prepares the clause,
-- about 7,000 instructions per statement, a fifth of what capture added to a one-row statement);
-- PL/pgSQL: WHEN (@extschema@._capturing()) (11_capture_when.sql: without the library nothing
-- else keeps the applier's rows from queueing a trigger event each). _attach_table makes new
-- triggers so; set_capture calls this for those that exist. Arguments and enabled state are kept
-- (CREATE OR REPLACE TRIGGER: the table is never without its trigger). Returns how many it changed.
CREATE FUNCTION @extschema@._capture_triggers() RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t      record;
    v_when boolean := @extschema@.capture_impl() <> 'c';
    v_args text[];
    v_from int;
    v_n    int := 0;
BEGIN
    FOR t IN SELECT g.tgrelid, g.tgargs, g.tgnargs, g.tgenabled, p.proname
             FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_proc p ON p.oid = g.tgfoid
             WHERE g.tgname = 'mmsync_capture' AND (g.tgqual IS NOT NULL) <> v_when AND NOT g.tgisinternal
               AND g.tgfoid IN ('@extschema@.capture()'::pg_catalog.regprocedure,
                                '@extschema@.capture_keyless()'::pg_catalog.regprocedure)
             ORDER BY g.tgrelid LOOP
        -- tgargs: the arguments, each ended by a zero byte
        v_args := '{}';
        v_from := 0;
        FOR i IN 0 .. pg_catalog.length(t.tgargs) - 1 LOOP
            IF pg_catalog.get_byte(t.tgargs, i) = 0 THEN
                v_args := v_args || pg_catalog.convert_from(pg_catalog.substring(t.tgargs, v_from + 1, i - v_from),
                                                            pg_catalog.getdatabaseencoding());
                v_from := i + 1;
            END IF;
        END LOOP;
        IF pg_catalog.cardinality(v_args) <> t.tgnargs THEN
            RAISE EXCEPTION 'mmsync: the capture trigger of table % has % arguments, read %',
                t.tgrelid::pg_catalog.regclass, t.tgnargs, pg_catalog.cardinality(v_args);
        END IF;
        EXECUTE pg_catalog.format('CREATE OR REPLACE TRIGGER mmsync_capture AFTER INSERT OR UPDATE OR DELETE ON %s '
                                  'FOR EACH ROW %sEXECUTE FUNCTION @extschema@.%I(%s)',
                                  t.tgrelid::pg_catalog.regclass,
                                  CASE WHEN v_when THEN 'WHEN (@extschema@._capturing()) ' ELSE '' END, t.proname,
                                  (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(a), ', ' ORDER BY n)
                                   FROM pg_catalog.unnest(v_args) WITH ORDINALITY AS x(a, n)));
        IF t.tgenabled <> 'O' THEN
            EXECUTE pg_catalog.format('ALTER TABLE %s %s TRIGGER mmsync_capture', t.tgrelid::pg_catalog.regclass,
                                      CASE t.tgenabled WHEN 'D' THEN 'DISABLE' WHEN 'R' THEN 'ENABLE REPLICA'
                                                       ELSE 'ENABLE ALWAYS' END);
        END IF;
        v_n := v_n + 1;
    END LOOP;
    RETURN v_n;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._capture_triggers() FROM PUBLIC;
SELECT @extschema@._capture_triggers();
