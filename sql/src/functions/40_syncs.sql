-- add_sync: the equivalent of `bucardo add sync NAME dbs=blue:source,green:source tables=all`.
-- Installs capture triggers here; the local agent pushes the definition to every peer, which
-- installs the same sync and triggers (no second manual step).
--   tables  => 'all' (every table with a primary key in the user schemas) or a comma-separated
--              list: 'public.posts, "Audit Trail"."Login Events"'
--   exclude => tables to leave out, same syntax; an unqualified name matches in every schema
--   conflict => latest (default) | prefer (with prefer => node) | keep_local | apply_remote | abort
--   insert_only => tables without a primary key to sync insert-only (e.g. 'pgbench_history')
--   sequences => 'interleave': sequences of synced tables hand out disjoint values per node
--   initial => how the nodes start (issue 12): 'copy' (the peers' tables are made equal to this
--              node's by the agent, while writes go on), 'merge' (both keep their rows; keys on one
--              side only are copied, differing rows reconciled by the conflict strategy), 'none'
--              (the DBA asserts the tables are equal). Required when a table holds rows here.
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
    -- and the local senders, which wait on mmsync_changes: a paused one resumes at once, not at its
    -- next poll (a paused sender gets no NOTIFY per commit)
    PERFORM pg_notify('mmsync_changes', p_name);
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

-- Wakes the local agent's senders at once (they poll anyway, and an idle one is woken by the
-- next commit; unlike Bucardo, a sync never needs a kick to recover).
CREATE FUNCTION @extschema@.kick(name text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM @extschema@._sync_id(kick.name);
    PERFORM pg_notify('mmsync_changes', 'kick');
    PERFORM pg_notify('mmsync_config', kick.name);
    RETURN format('sync "%s" kicked', kick.name);
END
$$;

-- Validates a conflict strategy for a sync; keep_local and apply_remote are node priorities
-- seen from this node (keep_local here = prefer this node), so both nodes pick the same winner.
-- A sync of three or more nodes takes latest only (issue 17, docs/conflicts.md "Three or more
-- nodes"): the others cannot give every node the same result there.
CREATE FUNCTION @extschema@._check_conflict(p_sync text, p_nodes text[], p_conflict text, p_prefer text,
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

-- Changes a sync's conflict strategy; pushed to the peers by the agent.
CREATE FUNCTION @extschema@.set_conflict(name text, conflict text, prefer text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_id integer := @extschema@._sync_id(set_conflict.name);
    v_c  text;
    v_p  text;
BEGIN
    SELECT r.conflict, r.prefer INTO v_c, v_p FROM @extschema@.syncs s,
        @extschema@._check_conflict(s.name, s.nodes, set_conflict.conflict, set_conflict.prefer) r WHERE s.id = v_id;
    UPDATE @extschema@.syncs s SET conflict = v_c, prefer = v_p, version = s.version + 1, updated_at = now()
    WHERE s.id = v_id;
    PERFORM pg_notify('mmsync_config', set_conflict.name);
    RETURN format('sync "%s": conflicts resolved by %s%s', set_conflict.name, v_c,
                  CASE WHEN v_p IS NOT NULL THEN format(' (%s wins)', v_p) ELSE '' END);
END
$$;

-- Sets a column's apply policy: 'delta' (an update adds old -> new to the peer's value) or
-- 'overwrite' (the default: the new value replaces the peer's).
CREATE FUNCTION @extschema@.set_column_policy(table_name text, column_name text, policy text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_relid oid := @extschema@._resolve_table((SELECT t FROM @extschema@._parse_table_list(set_column_policy.table_name) t LIMIT 1));
    v_nsp   name;
    v_rel   name;
    v_type  regtype;
    v_sync  integer;
BEGIN
    SELECT n.nspname, c.relname INTO v_nsp, v_rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = v_relid;
    SELECT a.atttypid::regtype INTO v_type FROM pg_attribute a
    WHERE a.attrelid = v_relid AND a.attname = set_column_policy.column_name AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'mmsync: column % of table %.% does not exist', quote_ident(set_column_policy.column_name),
            quote_ident(v_nsp), quote_ident(v_rel);
    END IF;
    IF set_column_policy.policy = 'delta' THEN
        IF v_type NOT IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype, 'numeric'::regtype,
                          'real'::regtype, 'double precision'::regtype) THEN
            RAISE EXCEPTION 'mmsync: column %.%.% is %, a delta column must be numeric', quote_ident(v_nsp),
                quote_ident(v_rel), quote_ident(set_column_policy.column_name), v_type;
        END IF;
        IF set_column_policy.column_name = ANY (@extschema@._pk_cols(v_relid)) THEN
            RAISE EXCEPTION 'mmsync: column % is part of the primary key of %.% and cannot be a delta column',
                quote_ident(set_column_policy.column_name), quote_ident(v_nsp), quote_ident(v_rel);
        END IF;
        INSERT INTO @extschema@.column_policies VALUES (v_nsp, v_rel, set_column_policy.column_name, 'delta')
        ON CONFLICT (schema_name, table_name, column_name) DO UPDATE SET policy = EXCLUDED.policy;
    ELSIF set_column_policy.policy = 'overwrite' THEN
        DELETE FROM @extschema@.column_policies p
        WHERE p.schema_name = v_nsp AND p.table_name = v_rel AND p.column_name = set_column_policy.column_name;
    ELSE
        RAISE EXCEPTION 'mmsync: unknown column policy %', quote_nullable(set_column_policy.policy)
            USING HINT = 'Use delta or overwrite.';
    END IF;
    SELECT t.sync_id INTO v_sync FROM @extschema@.sync_tables t WHERE t.relid = v_relid;
    IF FOUND THEN
        UPDATE @extschema@.syncs s SET version = s.version + 1, updated_at = now() WHERE s.id = v_sync;
        PERFORM pg_notify('mmsync_config', (SELECT s.name FROM @extschema@.syncs s WHERE s.id = v_sync));
    END IF;
    RETURN format('%I.%I.%I: %s', v_nsp, v_rel, set_column_policy.column_name, set_column_policy.policy);
END
$$;

-- Makes the sequences of a sync's tables hand out disjoint values on each node: increment by
-- the number of nodes, each node on its own residue (its position in the sync's node list).
CREATE FUNCTION @extschema@._interleave_sequences(p_sync_id integer) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_n    integer;
    v_pos  integer;
    v_seq  regclass;
    v_last bigint;
    v_next bigint;
    v_cnt  integer := 0;
BEGIN
    SELECT cardinality(s.nodes), array_position(s.nodes, @extschema@.local_node()) INTO v_n, v_pos
    FROM @extschema@.syncs s WHERE s.id = p_sync_id;
    FOR v_seq IN
        SELECT DISTINCT d.objid::regclass FROM pg_depend d JOIN @extschema@.sync_tables t ON t.relid = d.refobjid
        JOIN pg_class c ON c.oid = d.objid AND c.relkind = 'S'
        WHERE t.sync_id = p_sync_id AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    LOOP
        EXECUTE format('SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM %s', v_seq) INTO v_last;
        v_next := v_last + 1;
        v_next := v_next + ((v_pos - v_next) % v_n + v_n) % v_n;
        EXECUTE format('ALTER SEQUENCE %s INCREMENT BY %s', v_seq, v_n);
        PERFORM setval(v_seq, v_next, false);
        v_cnt := v_cnt + 1;
    END LOOP;
    RETURN v_cnt;
END
$$;
