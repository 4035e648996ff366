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
