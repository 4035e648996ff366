-- add_sync: the equivalent of `bucardo add sync NAME dbs=blue:source,green:source tables=all`.
-- Installs capture triggers here; the local agent pushes the definition to every peer, which
-- installs the same sync and triggers (no second manual step).
--   tables  => 'all' (every table with a primary key in the user schemas) or a comma-separated
--              list: 'public.posts, "Audit Trail"."Login Events"'
--   exclude => tables to leave out, same syntax; an unqualified name matches in every schema
CREATE FUNCTION @extschema@.add_sync(
    name text, nodes text[], tables text DEFAULT 'all', exclude text DEFAULT NULL,
    conflict text DEFAULT 'latest', prefer text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_local text := @extschema@.local_node();
    v_node  text;
    v_id    integer;
    v_relid oid;
    v_n     integer := 0;
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
    IF add_sync.conflict IS NULL OR add_sync.conflict NOT IN ('latest', 'prefer', 'keep_local', 'apply_remote', 'abort') THEN
        RAISE EXCEPTION 'mmsync: unknown conflict strategy %', quote_nullable(add_sync.conflict)
            USING HINT = 'Use latest, prefer, keep_local, apply_remote or abort.';
    END IF;
    IF add_sync.prefer IS NOT NULL AND NOT add_sync.prefer = ANY (add_sync.nodes) THEN
        RAISE EXCEPTION 'mmsync: prefer => "%" is not a node of sync "%"', add_sync.prefer, add_sync.name;
    END IF;
    IF EXISTS (SELECT 1 FROM @extschema@.syncs s WHERE s.name = add_sync.name AND NOT s.removed) THEN
        RAISE EXCEPTION 'mmsync: sync "%" already exists', add_sync.name
            USING HINT = 'Remove it first with mmsync.remove_sync(), or pick another name.';
    END IF;

    INSERT INTO @extschema@.syncs AS s (name, nodes, conflict, prefer)
    VALUES (add_sync.name, add_sync.nodes, add_sync.conflict, add_sync.prefer)
    ON CONFLICT (name) DO UPDATE SET nodes = EXCLUDED.nodes, conflict = EXCLUDED.conflict,
        prefer = EXCLUDED.prefer, paused = false, removed = false, version = s.version + 1,
        updated_at = now()
    RETURNING s.id INTO v_id;

    FOR v_relid IN SELECT * FROM @extschema@._select_tables(add_sync.tables, add_sync.exclude) LOOP
        PERFORM @extschema@._attach_table(v_id, v_relid);
        v_n := v_n + 1;
    END LOOP;
    IF v_n = 0 THEN
        RAISE EXCEPTION 'mmsync: sync "%" would have no tables', add_sync.name;
    END IF;
    PERFORM pg_notify('mmsync_config', add_sync.name);
    RETURN format('sync "%s": %s tables on %s', add_sync.name, v_n, array_to_string(add_sync.nodes, ', '));
END
$$;

CREATE FUNCTION @extschema@._sync_id(p_name text) RETURNS integer
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_id integer;
BEGIN
    SELECT id INTO v_id FROM @extschema@.syncs WHERE name = p_name AND NOT removed;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'mmsync: sync "%" does not exist', p_name USING ERRCODE = 'undefined_object';
    END IF;
    RETURN v_id;
END
$$;

CREATE FUNCTION @extschema@.remove_sync(name text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_id      integer := @extschema@._sync_id(remove_sync.name);
    v_relid   oid;
    v_pending bigint;
BEGIN
    FOR v_relid IN SELECT t.relid FROM @extschema@.sync_tables t WHERE t.sync_id = v_id LOOP
        PERFORM @extschema@._detach_table(v_relid);
    END LOOP;
    DELETE FROM @extschema@.changes c WHERE c.sync_id = v_id;
    GET DIAGNOSTICS v_pending = ROW_COUNT;
    IF v_pending > 0 THEN
        RAISE NOTICE 'mmsync: discarded % queued changes of sync "%"', v_pending, remove_sync.name;
    END IF;
    UPDATE @extschema@.syncs s SET removed = true, paused = false, version = s.version + 1, updated_at = now()
    WHERE s.id = v_id;
    DELETE FROM @extschema@.links l WHERE l.sync_name = remove_sync.name;
    PERFORM pg_notify('mmsync_config', remove_sync.name);
    RETURN format('sync "%s" removed', remove_sync.name);
END
$$;

CREATE FUNCTION @extschema@._set_paused(p_name text, p_paused boolean) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE @extschema@.syncs SET paused = p_paused, version = version + 1, updated_at = now()
    WHERE id = @extschema@._sync_id(p_name);
    PERFORM pg_notify('mmsync_config', p_name);
    RETURN format('sync "%s" %s', p_name, CASE WHEN p_paused THEN 'paused' ELSE 'resumed' END);
END
$$;

CREATE FUNCTION @extschema@.pause(name text) RETURNS text
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT @extschema@._set_paused(name, true)
$$;

CREATE FUNCTION @extschema@.resume(name text) RETURNS text
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT @extschema@._set_paused(name, false)
$$;

-- Wakes the local agent's senders at once (they also wake on every commit and poll anyway;
-- unlike Bucardo, a sync never needs a kick to recover).
CREATE FUNCTION @extschema@.kick(name text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM @extschema@._sync_id(kick.name);
    PERFORM pg_notify('mmsync_changes', 'kick');
    PERFORM pg_notify('mmsync_config', kick.name);
    RETURN format('sync "%s" kicked', kick.name);
END
$$;
