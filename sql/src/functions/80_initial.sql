-- Issue 12: never say "in sync" about tables that were never compared or copied.

-- The synced tables of a sync that hold at least one row on this node, as schema.table names.
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

-- add_sync without initial => ...: refuses when a table holds rows on this node.
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

-- On a peer receiving a sync (see _receive_sync), for tables it attaches now: refuses a sync
-- whose tables hold rows here when no initial mode was chosen, and a copy onto a table that
-- holds rows here (the copy would overwrite them).
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
