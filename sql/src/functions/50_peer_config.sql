-- The definition of a sync as pushed by the local agent to a peer (see _receive_sync).
CREATE FUNCTION @extschema@._sync_def(p_name text, p_peer text) RETURNS jsonb
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

-- Called by a peer's agent: installs, changes or removes a sync here so that it matches the
-- pushed definition. Returns false when this node already has that version or a newer one.
CREATE FUNCTION @extschema@._receive_sync(p_def jsonb) RETURNS boolean
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
