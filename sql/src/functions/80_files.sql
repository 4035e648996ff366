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
