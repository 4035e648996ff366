-- Splits a comma-separated list of table names (each optionally schema-qualified and quoted,
-- as in SQL) into parsed identifiers.
CREATE FUNCTION @extschema@._parse_table_list(p_list text) RETURNS SETOF text[]
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_item text;
    v_ident text[];
BEGIN
    FOR v_item IN
        SELECT btrim(m[1]) FROM regexp_matches(coalesce(p_list, ''), '((?:"(?:[^"]|"")*"|[^,"])+)', 'g') AS m
    LOOP
        CONTINUE WHEN v_item = '';
        BEGIN
            v_ident := parse_ident(v_item);
        EXCEPTION WHEN invalid_parameter_value THEN
            RAISE EXCEPTION 'mmsync: % is not a valid table name', quote_literal(v_item)
                USING HINT = 'Write schema.table; quote names with capitals or spaces: "Audit Trail"."Login Events".';
        END;
        IF cardinality(v_ident) > 2 THEN
            RAISE EXCEPTION 'mmsync: % is not a valid table name (use schema.table)', quote_literal(v_item);
        END IF;
        RETURN NEXT v_ident;
    END LOOP;
END
$$;

-- Candidate tables: ordinary tables in user schemas that no extension owns.
CREATE FUNCTION @extschema@._user_tables() RETURNS TABLE (relid oid, schema_name name, table_name name)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.oid, n.nspname, c.relname
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND NOT c.relispartition
      AND n.nspname NOT IN ('pg_catalog', 'information_schema', '@extschema@')
      AND n.nspname !~ '^pg_(toast|temp)'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
$$;

-- Resolves one parsed name to a table; an unqualified name must match in exactly one schema.
CREATE FUNCTION @extschema@._resolve_table(p_ident text[]) RETURNS oid
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_oids oid[];
    v_name text := array_to_string(ARRAY(SELECT quote_ident(x) FROM unnest(p_ident) x), '.');
BEGIN
    SELECT array_agg(t.relid) INTO v_oids FROM @extschema@._user_tables() t
    WHERE t.table_name = p_ident[cardinality(p_ident)]
      AND (cardinality(p_ident) = 1 OR t.schema_name = p_ident[1]);
    IF v_oids IS NULL THEN
        RAISE EXCEPTION 'mmsync: table % does not exist', v_name
            USING ERRCODE = 'undefined_table';
    ELSIF cardinality(v_oids) > 1 THEN
        RAISE EXCEPTION 'mmsync: table name % is ambiguous; qualify it with its schema', v_name
            USING ERRCODE = 'ambiguous_alias';
    END IF;
    RETURN v_oids[1];
END
$$;

-- Primary key columns of a table in key order, or NULL when it has none.
CREATE FUNCTION @extschema@._pk_cols(p_relid oid) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT array_agg(a.attname::text ORDER BY k.ord)
    FROM pg_index i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indrelid = p_relid AND i.indisprimary
$$;

-- Puts one table under a sync: records it and installs the capture trigger. The rows the mmsync
-- applier writes queue no trigger event: with the C capture its hooks skip the trigger in the
-- applier's statements; with the PL/pgSQL one the trigger's WHEN clause (@extschema@._capturing).
CREATE FUNCTION @extschema@._attach_table(p_sync_id integer, p_relid oid, p_mode text DEFAULT 'keyed') RETURNS void
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

CREATE FUNCTION @extschema@._drop_triggers(p_relid oid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tg name;
BEGIN
    FOR v_tg IN SELECT tgname FROM pg_trigger WHERE tgrelid = p_relid AND tgname IN ('mmsync_capture', 'mmsync_truncate') LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', v_tg, p_relid::regclass);
    END LOOP;
END
$$;

CREATE FUNCTION @extschema@._detach_table(p_relid oid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM @extschema@._drop_triggers(p_relid);
    DELETE FROM @extschema@.sync_tables WHERE relid = p_relid;
END
$$;

-- Resolves a sync's table selection ('all' or a list, minus exclusions) to table oids.
-- With 'all', tables without a primary key are left out with a NOTICE naming them; a table
-- named explicitly must have one.
CREATE FUNCTION @extschema@._select_tables(p_tables text, p_exclude text, p_insert_only text DEFAULT NULL) RETURNS SETOF oid
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_ex    text[];
    v_t     record;
    v_skip  text[] := '{}';
BEGIN
    IF lower(btrim(coalesce(p_tables, 'all'))) = 'all' THEN
        FOR v_t IN
            SELECT u.relid, u.schema_name, u.table_name FROM @extschema@._user_tables() u
            ORDER BY u.schema_name, u.table_name
        LOOP
            IF EXISTS (SELECT 1 FROM @extschema@._parse_table_list(p_exclude) e(id)
                       WHERE e.id[cardinality(e.id)] = v_t.table_name
                         AND (cardinality(e.id) = 1 OR e.id[1] = v_t.schema_name)) THEN
                CONTINUE;
            END IF;
            IF @extschema@._pk_cols(v_t.relid) IS NULL THEN
                CONTINUE WHEN v_t.relid IN (SELECT @extschema@._resolve_table(i.id)
                                            FROM @extschema@._parse_table_list(p_insert_only) i(id));
                v_skip := v_skip || format('%I.%I', v_t.schema_name, v_t.table_name);
                CONTINUE;
            END IF;
            RETURN NEXT v_t.relid;
        END LOOP;
        IF cardinality(v_skip) > 0 THEN
            RAISE NOTICE 'mmsync: left out tables without a primary key: %', array_to_string(v_skip, ', ');
        END IF;
    ELSE
        RETURN QUERY
            SELECT DISTINCT @extschema@._resolve_table(t.id) FROM @extschema@._parse_table_list(p_tables) t(id)
            EXCEPT
            SELECT @extschema@._resolve_table(e.id) FROM @extschema@._parse_table_list(p_exclude) e(id);
    END IF;
END
$$;
