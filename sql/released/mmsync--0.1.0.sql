
-- ---- 00_header.sql
-- mmsync extension install script. Built by installer/build-sql.sh from sql/src/**/*.sql
-- (files are concatenated in path order). Do not edit a released script in place: add
-- sql/updates/mmsync--A--B.sql instead.
\echo Use "CREATE EXTENSION mmsync" to load this file. \quit

-- ---- functions/10_capture.sql
-- Row-level capture trigger, attached by _attach_table() as
--   AFTER INSERT OR UPDATE OR DELETE ... FOR EACH ROW EXECUTE FUNCTION capture('<sync id>').
-- This is the hottest code of mmsync (bench/capture-cost measures it). It is SECURITY DEFINER so
-- that application roles need no right on the queue (a role that could insert into
-- @extschema@.changes could make the peer apply rows it may not write).
-- It does not pin its search_path with a SET clause, which would cost a GUC save and restore
-- per row (about 5% of a pgbench -N transaction); instead every name in it is schema-qualified,
-- operators included (OPERATOR(pg_catalog.<>)), so the caller's search_path can resolve
-- nothing in it: keep it that way when editing.
-- Row images are jsonb (to_jsonb(row): matched by column name at the peer). A json column would be
-- normalised by that (key order, white space), so a table with json columns gets their names as
-- a second trigger argument and their exact text is kept as a JSON string instead.
-- Changes made by the mmsync applier run with mmsync.origin set and are not captured again
-- (no ping-pong), which needs no superuser rights.
-- Waking the sender: a NOTIFY per transaction serialises committers on the server's
-- NotifyQueueLock and wakes the sender at every commit, so one is sent only while a sender is
-- idle. An idle sender holds the advisory lock (1835889529 = 'mmsy', sync id) exclusively (see
-- io.mmsync.engine.Wakeup); a writer that gets it shared, kept to the end of its transaction,
-- knows that the sender is polling and sends nothing.
CREATE FUNCTION @extschema@.capture() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF pg_catalog.current_setting('mmsync.origin', true) OPERATOR(pg_catalog.<>) '' THEN
        RETURN NULL;
    END IF;
    IF TG_NARGS OPERATOR(pg_catalog.=) 1 THEN
        INSERT INTO @extschema@.changes (sync_id, relid, op, old, new)
        VALUES (TG_ARGV[0]::pg_catalog.int4, TG_RELID, pg_catalog.left(TG_OP, 1)::pg_catalog."char",
                CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN pg_catalog.to_jsonb(OLD) END,
                CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN pg_catalog.to_jsonb(NEW) END);
    ELSE
        INSERT INTO @extschema@.changes (sync_id, relid, op, old, new)
        VALUES (TG_ARGV[0]::pg_catalog.int4, TG_RELID, pg_catalog.left(TG_OP, 1)::pg_catalog."char",
                CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN @extschema@._keep_json_text(
                    pg_catalog.to_jsonb(OLD), pg_catalog.row_to_json(OLD), TG_ARGV[1]::pg_catalog.text[]) END,
                CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN @extschema@._keep_json_text(
                    pg_catalog.to_jsonb(NEW), pg_catalog.row_to_json(NEW), TG_ARGV[1]::pg_catalog.text[]) END);
    END IF;
    IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(1835889529, TG_ARGV[0]::pg_catalog.int4) THEN
        PERFORM pg_catalog.pg_notify('mmsync_changes', '');
    END IF;
    RETURN NULL;
END
$$;

-- Replaces the values of the named json columns by their exact text (a JSON string).
CREATE FUNCTION @extschema@._keep_json_text(p_row jsonb, p_json json, p_cols text[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_col text;
BEGIN
    FOREACH v_col IN ARRAY p_cols LOOP
        p_row := jsonb_set(p_row, ARRAY[v_col], coalesce(to_jsonb(p_json ->> v_col), 'null'::jsonb));
    END LOOP;
    RETURN p_row;
END
$$;

-- Capture for a table without a primary key synced as insert-only: inserts are queued; an
-- update or delete cannot be replicated (no key names the row), so it is reported in
-- @extschema@.set_aside and with a WARNING, never dropped in silence.
CREATE FUNCTION @extschema@.capture_keyless() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF pg_catalog.current_setting('mmsync.origin', true) <> '' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO @extschema@.changes (sync_id, relid, op, new)
        VALUES (TG_ARGV[0]::integer, TG_RELID, 'I', pg_catalog.to_jsonb(NEW));
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

-- Statement-level capture of TRUNCATE.
CREATE FUNCTION @extschema@.capture_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF pg_catalog.current_setting('mmsync.origin', true) <> '' THEN
        RETURN NULL;
    END IF;
    INSERT INTO @extschema@.changes (sync_id, relid, op) VALUES (TG_ARGV[0]::integer, TG_RELID, 'T');
    IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(1835889529, TG_ARGV[0]::integer) THEN
        PERFORM pg_catalog.pg_notify('mmsync_changes', '');
    END IF;
    RETURN NULL;
END
$$;

-- ---- functions/20_nodes.sql
-- Checks that p_conninfo is a well-formed libpq conninfo (key=value pairs) or URI, with only
-- known keywords and no password. Raises an error naming the problem; returns the conninfo.
CREATE FUNCTION @extschema@._check_conninfo(p_node text, p_conninfo text) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    v_rest  text := p_conninfo;
    v_m     text[];
    v_known text[] := ARRAY['host', 'hostaddr', 'port', 'dbname', 'user', 'passfile',
        'connect_timeout', 'application_name', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey',
        'sslcrl', 'sslpassword', 'target_session_attrs', 'options', 'keepalives',
        'keepalives_idle', 'keepalives_interval', 'keepalives_count', 'tcp_user_timeout',
        'channel_binding', 'gssencmode', 'krbsrvname', 'service'];
BEGIN
    IF p_conninfo IS NULL OR btrim(p_conninfo) = '' THEN
        RAISE EXCEPTION 'mmsync: conninfo for node "%" is empty', p_node;
    END IF;
    IF p_conninfo ~* '^postgres(ql)?://' THEN
        IF p_conninfo ~ '^[a-z]+://[^/@?]*:[^/@?]*@' OR p_conninfo ~* '[?&]password=' THEN
            RAISE EXCEPTION 'mmsync: conninfo for node "%" contains a password', p_node
                USING HINT = 'Put the password in a passfile (~/.pgpass or passfile=...) instead.';
        END IF;
        IF p_conninfo ~ '\s' THEN
            RAISE EXCEPTION 'mmsync: malformed connection URI for node "%": it contains white space', p_node;
        END IF;
        RETURN p_conninfo;
    END IF;
    LOOP
        v_rest := ltrim(v_rest);
        EXIT WHEN v_rest = '';
        v_m := regexp_match(v_rest, $re$^([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']+)(.*)$$re$);
        IF v_m IS NULL THEN
            RAISE EXCEPTION 'mmsync: malformed conninfo for node "%" near "%"', p_node, left(v_rest, 40)
                USING HINT = 'Use key=value pairs, e.g. ''host=10.0.0.2 port=5432 dbname=mattermost user=mmsync''.';
        END IF;
        IF lower(v_m[1]) = 'password' THEN
            RAISE EXCEPTION 'mmsync: conninfo for node "%" contains a password', p_node
                USING HINT = 'Put the password in a passfile (~/.pgpass or passfile=...) instead.';
        END IF;
        IF NOT lower(v_m[1]) = ANY (v_known) THEN
            RAISE EXCEPTION 'mmsync: unknown conninfo keyword "%" for node "%"', v_m[1], p_node;
        END IF;
        v_rest := v_m[3];
    END LOOP;
    RETURN p_conninfo;
END
$fn$;

CREATE FUNCTION @extschema@.add_node(p_name text, p_conninfo text, p_local boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_name IS NULL OR p_name !~ '^[a-z][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'mmsync: invalid node name %', quote_nullable(p_name)
            USING HINT = 'Node names are lower-case letters, digits and _, starting with a letter.';
    END IF;
    PERFORM @extschema@._check_conninfo(p_name, p_conninfo);
    IF p_local AND EXISTS (SELECT 1 FROM @extschema@.nodes WHERE is_local AND name <> p_name) THEN
        RAISE EXCEPTION 'mmsync: this database is already node "%"',
            (SELECT name FROM @extschema@.nodes WHERE is_local);
    END IF;
    INSERT INTO @extschema@.nodes (name, conninfo, is_local) VALUES (p_name, p_conninfo, p_local)
    ON CONFLICT (name) DO UPDATE SET conninfo = EXCLUDED.conninfo, is_local = EXCLUDED.is_local;
    RETURN p_name;
END
$$;

CREATE FUNCTION @extschema@.remove_node(p_name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_sync text;
BEGIN
    SELECT name INTO v_sync FROM @extschema@.syncs WHERE NOT removed AND p_name = ANY (nodes) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'mmsync: node "%" is still part of sync "%"', p_name, v_sync
            USING HINT = 'Remove the sync first with mmsync.remove_sync().';
    END IF;
    DELETE FROM @extschema@.nodes WHERE name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'mmsync: node "%" does not exist', p_name;
    END IF;
END
$$;

CREATE FUNCTION @extschema@.local_node() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT name FROM @extschema@.nodes WHERE is_local
$$;

-- ---- functions/30_tables.sql
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

-- Puts one table under a sync: records it and installs the capture trigger.
CREATE FUNCTION @extschema@._attach_table(p_sync_id integer, p_relid oid, p_mode text DEFAULT 'keyed') RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_pk    text[] := @extschema@._pk_cols(p_relid);
    v_other text;
    v_nsp   name;
    v_rel   name;
    v_json  text[];
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
                       'FOR EACH ROW EXECUTE FUNCTION @extschema@.capture_keyless(%L)', v_nsp, v_rel, p_sync_id);
        RETURN;
    END IF;
    SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO v_json FROM pg_attribute a
    WHERE a.attrelid = p_relid AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid = 'json'::regtype;
    EXECUTE format('CREATE TRIGGER mmsync_capture AFTER INSERT OR UPDATE OR DELETE ON %I.%I '
                   'FOR EACH ROW EXECUTE FUNCTION @extschema@.capture(%L%s)', v_nsp, v_rel, p_sync_id,
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

-- ---- functions/40_syncs.sql
-- add_sync: the equivalent of `bucardo add sync NAME dbs=blue:source,green:source tables=all`.
-- Installs capture triggers here; the local agent pushes the definition to every peer, which
-- installs the same sync and triggers (no second manual step).
--   tables  => 'all' (every table with a primary key in the user schemas) or a comma-separated
--              list: 'public.posts, "Audit Trail"."Login Events"'
--   exclude => tables to leave out, same syntax; an unqualified name matches in every schema
--   conflict => latest (default) | prefer (with prefer => node) | keep_local | apply_remote | abort
--   insert_only => tables without a primary key to sync insert-only (e.g. 'pgbench_history')
--   sequences => 'interleave': sequences of synced tables hand out disjoint values per node
CREATE FUNCTION @extschema@.add_sync(
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

-- ---- functions/45_conflicts.sql
-- Decides a conflict that stopped a sync under the 'abort' strategy: 'apply' takes the incoming
-- version, 'skip' keeps this node's. Then SELECT mmsync.resume('<sync>').
CREATE FUNCTION @extschema@.resolve_conflict(conflict_id bigint, decision text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_row @extschema@.conflicts;
BEGIN
    IF resolve_conflict.decision IS NULL OR resolve_conflict.decision NOT IN ('apply', 'skip') THEN
        RAISE EXCEPTION 'mmsync: unknown decision %', quote_nullable(resolve_conflict.decision)
            USING HINT = 'Use apply (take the incoming version) or skip (keep this node''s).';
    END IF;
    SELECT * INTO v_row FROM @extschema@.conflicts c WHERE c.id = resolve_conflict.conflict_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'mmsync: conflict % does not exist', resolve_conflict.conflict_id;
    ELSIF v_row.resolution <> 'pending' THEN
        RAISE EXCEPTION 'mmsync: conflict % is already resolved (%)', resolve_conflict.conflict_id, v_row.resolution;
    END IF;
    UPDATE @extschema@.conflicts c SET decision = resolve_conflict.decision WHERE c.id = resolve_conflict.conflict_id;
    RETURN format('conflict %s on %I.%I key (%s): %s; resume with SELECT mmsync.resume(%L)',
                  v_row.id, v_row.schema_name, v_row.table_name, v_row.key, resolve_conflict.decision, v_row.sync_name);
END
$$;

-- ---- functions/50_peer_config.sql
-- The definition of a sync as pushed by the local agent to a peer (see _receive_sync).
CREATE FUNCTION @extschema@._sync_def(p_name text, p_peer text) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object(
        'name', s.name, 'version', s.version, 'from', @extschema@.local_node(), 'you', p_peer,
        'nodes', (SELECT jsonb_object_agg(n.name, n.conninfo) FROM @extschema@.nodes n
                  WHERE n.name = ANY (s.nodes)),
        'members', to_jsonb(s.nodes), 'conflict', s.conflict, 'prefer', s.prefer,
        'sequences', s.sequences, 'paused', s.paused, 'removed', s.removed,
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

    SELECT id, version INTO v_id, v_cur FROM @extschema@.syncs WHERE name = v_name FOR UPDATE;
    IF FOUND AND v_cur >= (p_def->>'version')::bigint THEN
        RETURN false;
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

    INSERT INTO @extschema@.syncs AS s (name, nodes, conflict, prefer, sequences, paused, version)
    SELECT v_name, ARRAY(SELECT jsonb_array_elements_text(p_def->'members')), p_def->>'conflict',
           p_def->>'prefer', coalesce(p_def->>'sequences', 'none'), (p_def->>'paused')::boolean,
           (p_def->>'version')::bigint
    ON CONFLICT (name) DO UPDATE SET nodes = EXCLUDED.nodes, conflict = EXCLUDED.conflict,
        prefer = EXCLUDED.prefer, sequences = EXCLUDED.sequences, paused = EXCLUDED.paused,
        removed = false, version = EXCLUDED.version, updated_at = now()
    RETURNING s.id, (s.xmax = 0) INTO v_id, v_new;

    FOR v_tab IN SELECT * FROM jsonb_array_elements(p_def->'tables') LOOP
        v_relid := @extschema@._resolve_table(ARRAY[v_tab->>0, v_tab->>1]);
        v_want := v_want || v_relid;
        IF NOT EXISTS (SELECT 1 FROM @extschema@.sync_tables
                       WHERE sync_id = v_id AND relid = v_relid AND mode = coalesce(v_tab->>2, 'keyed')) THEN
            PERFORM @extschema@._attach_table(v_id, v_relid, coalesce(v_tab->>2, 'keyed'));
        END IF;
    END LOOP;
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

-- ---- functions/60_status.sql
-- Changes of a sync queued here that the peer has not applied yet, judged by the position the
-- local sender last confirmed (see @extschema@.links).
CREATE FUNCTION @extschema@._backlog(p_sync_id integer, p_peer text,
    OUT backlog bigint, OUT oldest timestamptz)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT count(*), min(c.at)
    FROM @extschema@.changes c
    JOIN @extschema@.syncs s ON s.id = c.sync_id
    LEFT JOIN @extschema@.links l ON l.sync_name = s.name AND l.peer = p_peer
    WHERE c.sync_id = p_sync_id
      AND (l.confirmed_lo IS NULL OR NOT pg_visible_in_snapshot(c.xid, l.confirmed_lo))
$$;

-- One row per sync and peer, readable at a glance in psql.
--   state: paused | disconnected | catching up | in sync | needs resync
--   backlog / lag_seconds: changes made here that the peer has not applied, and the age of
--   the oldest of them; rows_sent: changes applied at the peer; rows_applied: changes from
--   the peer applied here; last_error: the link's last error, preceded by a warning when the
--   backlog is over the sync's warning threshold (set_retention) or the peer needs a resync;
--   conflicts: conflicts between changes from the peer and this node's rows, recorded here in
--   @extschema@.conflicts (until the DBA deletes them); set_aside: changes from the peer that
--   could not be applied here yet (@extschema@.set_aside, retried until they apply).
CREATE FUNCTION @extschema@.status()
RETURNS TABLE (sync text, peer text, state text, backlog bigint, lag_seconds numeric,
               rows_sent bigint, rows_applied bigint, last_error text, conflicts bigint, set_aside bigint)
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
BEGIN
    FOR v_r IN
        SELECT s.id, s.name, s.paused, p.peer, l.state AS lstate, l.heartbeat_at, l.sent,
               l.last_error AS lerr, pr.applied
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
        backlog := v_b.backlog;
        lag_seconds := coalesce(round(extract(epoch FROM clock_timestamp() - v_b.oldest)::numeric, 3), 0);
        rows_sent := coalesce(v_r.sent, 0);
        rows_applied := coalesce(v_r.applied, 0);
        last_error := v_r.lerr;
        SELECT count(*) INTO conflicts FROM @extschema@.conflicts c WHERE c.sync_name = v_r.name AND c.origin = v_r.peer;
        IF v_r.paused THEN
            state := 'paused';
        ELSIF v_r.heartbeat_at IS NULL OR v_r.heartbeat_at < clock_timestamp() - interval '30 seconds' THEN
            state := 'disconnected';
            last_error := coalesce('agent not running: no heartbeat since '
                                   || to_char(v_r.heartbeat_at, 'YYYY-MM-DD HH24:MI:SS TZ'),
                                   'agent not running: no heartbeat yet');
        ELSIF v_r.lstate IN ('connecting', 'disconnected', 'error', 'starting') THEN
            state := 'disconnected';
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
        IF v_warn IS NOT NULL THEN
            last_error := v_warn || coalesce('; ' || last_error, '');
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;

-- Waits until every change of the sync committed here before the call has been applied at
-- every peer; returns true, or false on timeout. For scripts and tests: "applied up to X".
CREATE FUNCTION @extschema@.wait_synced(name text, timeout interval DEFAULT '60 seconds')
RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_id       integer := @extschema@._sync_id(wait_synced.name);
    v_deadline timestamptz := clock_timestamp() + wait_synced.timeout;
    v_max      bigint := (SELECT coalesce(max(id), 0) FROM @extschema@.changes WHERE sync_id = v_id);
BEGIN
    LOOP
        IF NOT EXISTS (
            SELECT 1 FROM @extschema@.changes c
            JOIN @extschema@.syncs s ON s.id = c.sync_id
            CROSS JOIN LATERAL unnest(s.nodes) AS p(peer)
            LEFT JOIN @extschema@.links l ON l.sync_name = s.name AND l.peer = p.peer
            WHERE c.sync_id = v_id AND c.id <= v_max AND p.peer <> @extschema@.local_node()
              AND (l.confirmed_lo IS NULL OR NOT pg_visible_in_snapshot(c.xid, l.confirmed_lo))) THEN
            RETURN true;
        END IF;
        IF clock_timestamp() > v_deadline THEN
            RETURN false;
        END IF;
        PERFORM pg_sleep(0.02);
    END LOOP;
END
$$;

-- ---- functions/65_purge.sql
-- Purges the queue of a sync (called by the agent after each completed range and while idle). A
-- change leaves the queue once every peer has confirmed it AND this node has applied everything
-- the peer committed before confirming it (see @extschema@.purge_marks): until then a concurrent
-- change of the same row arriving from the peer still finds this node's version here. A peer
-- marked as needing a resync (@extschema@.resync_needed) has had its queue dropped and is skipped.
--
-- Bounded, so that it never outlives the agent's read timeout nor piles up after a big catch-up
-- (a single DELETE of "every confirmed change" over a queue of 1,000,000 rows ran for minutes):
--   * one purge per sync at a time: a second caller (say, a link that reconnected while its old
--     purge still runs in a backend) returns at once (transaction-level advisory lock
--     (1835889520, sync id); 1835889520 is 'mmsp');
--   * it deletes by primary-key range from the oldest change up, 5,000 ids per statement, and
--     stops after p_limit changes or 500 ms, whichever comes first, or at the first change made
--     after a confirmed snapshot was taken (no later id can be confirmed: a transaction that
--     committed before that snapshot took all its ids before it);
--   * row locks are waited for at most 2 s (lock_not_available is raised; the caller retries later).
-- purged: changes deleted; more: true when it stopped on the limit or the time, so the caller
-- should call again (in a new transaction) soon.
CREATE FUNCTION @extschema@._purge(p_sync_id integer, p_limit integer DEFAULT 20000,
    OUT purged bigint, OUT more boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c_chunk    constant integer := 5000;
    v_deadline timestamptz := clock_timestamp() + interval '500 milliseconds';
    v_sync     text;
    v_peer     text;
    v_mark     record;
    v_snaps    pg_snapshot[] := '{}';
    v_xmax     xid8;
    v_from     bigint;
    v_n        bigint;
BEGIN
    purged := 0;
    more := false;
    IF NOT pg_try_advisory_xact_lock(1835889520, p_sync_id) THEN
        RETURN;
    END IF;
    PERFORM set_config('lock_timeout', '2s', true);
    SELECT s.name INTO v_sync FROM @extschema@.syncs s WHERE s.id = p_sync_id;
    FOR v_peer IN SELECT p FROM @extschema@.syncs s, unnest(s.nodes) p
                  WHERE s.id = p_sync_id AND p <> @extschema@.local_node()
                    AND NOT EXISTS (SELECT 1 FROM @extschema@.resync_needed x WHERE x.sync_name = s.name AND x.peer = p) LOOP
        SELECT m.id, m.confirmed_lo INTO v_mark
        FROM @extschema@.purge_marks m
        JOIN @extschema@.progress pr ON pr.sync_name = m.sync_name AND pr.origin = m.peer
        WHERE m.sync_name = v_sync AND m.peer = v_peer AND pr.lo IS NOT NULL
          AND pg_snapshot_xmax(m.peer_horizon) <= pg_snapshot_xmin(pr.lo)
        ORDER BY m.id DESC LIMIT 1;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        DELETE FROM @extschema@.purge_marks m WHERE m.sync_name = v_sync AND m.peer = v_peer AND m.id < v_mark.id;
        v_snaps := v_snaps || v_mark.confirmed_lo;
    END LOOP;
    IF cardinality(v_snaps) = 0 THEN
        RETURN;
    END IF;
    SELECT min(pg_snapshot_xmax(s)) INTO v_xmax FROM unnest(v_snaps) s;
    SELECT min(c.id) INTO v_from FROM @extschema@.changes c WHERE c.sync_id = p_sync_id;
    WHILE v_from IS NOT NULL LOOP
        DELETE FROM @extschema@.changes c
        WHERE c.id >= v_from AND c.id < v_from + c_chunk AND c.sync_id = p_sync_id
          AND NOT EXISTS (SELECT 1 FROM unnest(v_snaps) s WHERE NOT pg_visible_in_snapshot(c.xid, s));
        GET DIAGNOSTICS v_n = ROW_COUNT;
        purged := purged + v_n;
        EXIT WHEN EXISTS (SELECT 1 FROM @extschema@.changes c
                          WHERE c.id >= v_from AND c.id < v_from + c_chunk AND c.sync_id = p_sync_id
                            AND c.xid >= v_xmax);
        SELECT min(c.id) INTO v_from FROM @extschema@.changes c WHERE c.id >= v_from + c_chunk AND c.sync_id = p_sync_id;
        IF v_from IS NOT NULL AND (purged >= p_limit OR clock_timestamp() >= v_deadline) THEN
            more := true;
            EXIT;
        END IF;
    END LOOP;
END
$$;

-- Keeps the marks table small when the peer's horizon is not covered yet (peer idle or away):
-- at most the newest 1,000 marks of a link are kept.
CREATE FUNCTION @extschema@._add_purge_mark(p_sync text, p_peer text, p_lo pg_snapshot, p_horizon pg_snapshot)
RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO @extschema@.purge_marks (sync_name, peer, confirmed_lo, peer_horizon) VALUES (p_sync, p_peer, p_lo, p_horizon);
    DELETE FROM @extschema@.purge_marks m WHERE m.sync_name = p_sync AND m.peer = p_peer
      AND m.id <= (SELECT m2.id FROM @extschema@.purge_marks m2 WHERE m2.sync_name = p_sync AND m2.peer = p_peer
                   ORDER BY m2.id DESC OFFSET 1000 LIMIT 1);
$$;

-- ---- functions/70_health.sql
-- Designated write node and the queries of the agent's health endpoint (docs/health.md).

-- The designated write node as jsonb, set_at in UTC with microseconds so that two nodes render
-- the same setting identically (the health watcher compares these texts).
CREATE FUNCTION @extschema@._primary_setting() RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('node', p.node, 'version', p.version, 'set_on', p.set_on,
        'set_at', to_char(p.set_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
    FROM @extschema@.primary_node p
$$;

-- Makes p_node (NULL: nobody) the designated write node of the pair. Call it on either node:
-- the agents carry the newest setting (latest set_at, then set_on) to the peers within about a
-- second. /primary answers 200 on the designated node, and /writer makes HAProxy hand the writes
-- over to it once it is caught up (docs/health.md, "Planned switchover").
CREATE FUNCTION @extschema@.set_primary(node text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_local text := @extschema@.local_node();
    v_cur   record;
    v_at    timestamptz := clock_timestamp();
BEGIN
    IF v_local IS NULL THEN
        RAISE EXCEPTION 'mmsync: this database is not registered as a node'
            USING HINT = 'Call mmsync.add_node(''blue'', ''<conninfo>'', true) for this database first.';
    END IF;
    IF set_primary.node IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM @extschema@.nodes n WHERE n.name = set_primary.node) THEN
        RAISE EXCEPTION 'mmsync: node % does not exist', quote_literal(set_primary.node)
            USING HINT = 'Known nodes: ' || coalesce((SELECT string_agg(n.name, ', ' ORDER BY n.name)
                                                      FROM @extschema@.nodes n), 'none');
    END IF;
    SELECT p.version, p.set_at INTO v_cur FROM @extschema@.primary_node p FOR UPDATE;
    IF FOUND AND v_cur.set_at >= v_at THEN
        -- A setting received from a peer whose clock runs ahead: stay newer than it anyway.
        v_at := v_cur.set_at + interval '1 microsecond';
    END IF;
    INSERT INTO @extschema@.primary_node AS p (one, node, version, set_at, set_on)
    VALUES (true, set_primary.node, coalesce(v_cur.version, 0) + 1, v_at, v_local)
    ON CONFLICT (one) DO UPDATE SET node = EXCLUDED.node, version = EXCLUDED.version,
        set_at = EXCLUDED.set_at, set_on = EXCLUDED.set_on;
    PERFORM pg_notify('mmsync_primary', coalesce(set_primary.node, ''));
    RETURN CASE WHEN set_primary.node IS NULL
        THEN 'no designated write node any more; HAProxy''s static order decides'
        ELSE format('node "%s" is now the designated write node (set on "%s"); the agents carry it to the peers',
                    set_primary.node, v_local) END;
END
$$;

-- The designated write node, or NULL when none is set.
CREATE FUNCTION @extschema@.primary() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT p.node FROM @extschema@.primary_node p
$$;

-- Called by a health watcher with a peer's setting (see _primary_setting): takes it if it is
-- newer than the local one. Returns true if taken.
CREATE FUNCTION @extschema@._receive_primary(p_setting jsonb) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_at  timestamptz;
    v_on  text := p_setting->>'set_on';
    v_cur record;
BEGIN
    IF p_setting IS NULL OR jsonb_typeof(p_setting) <> 'object' OR v_on IS NULL
       OR p_setting->>'set_at' IS NULL OR p_setting->>'version' IS NULL THEN
        RAISE EXCEPTION 'mmsync: malformed designated-node setting %', p_setting;
    END IF;
    v_at := (p_setting->>'set_at')::timestamptz;
    SELECT p.set_at, p.set_on INTO v_cur FROM @extschema@.primary_node p FOR UPDATE;
    IF FOUND AND (v_cur.set_at, v_cur.set_on) >= (v_at, v_on) THEN
        RETURN false;
    END IF;
    INSERT INTO @extschema@.primary_node AS p (one, node, version, set_at, set_on)
    VALUES (true, p_setting->>'node', (p_setting->>'version')::bigint, v_at, v_on)
    ON CONFLICT (one) DO UPDATE SET node = EXCLUDED.node, version = EXCLUDED.version,
        set_at = EXCLUDED.set_at, set_on = EXCLUDED.set_on;
    PERFORM pg_notify('mmsync_primary', coalesce(p_setting->>'node', ''));
    RETURN true;
END
$$;

-- One tick of the local health watcher: beats this node's health heartbeat (at most once a
-- second, and only when the database is writable) and returns this node's name and its peers.
-- The conninfo goes to the agent only; the endpoint never shows it.
CREATE FUNCTION @extschema@._health_tick(p_started_at timestamptz,
    OUT node text, OUT peers jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    node := @extschema@.local_node();
    peers := coalesce((SELECT jsonb_object_agg(n.name, n.conninfo) FROM @extschema@.nodes n
                       WHERE NOT n.is_local), '{}');
    IF node IS NULL OR pg_is_in_recovery() OR current_setting('transaction_read_only')::boolean THEN
        RETURN;
    END IF;
    INSERT INTO @extschema@.health_beat AS b (node, started_at, beat_at)
    VALUES (node, p_started_at, clock_timestamp())
    ON CONFLICT ON CONSTRAINT health_beat_pkey DO UPDATE
        SET started_at = EXCLUDED.started_at, beat_at = EXCLUDED.beat_at
        WHERE b.beat_at < clock_timestamp() - interval '900 milliseconds' OR b.started_at <> EXCLUDED.started_at;
END
$$;

-- What a probe needs from the local database, in one round trip. started_at tells the endpoint
-- that the server restarted since it last took the writes.
CREATE FUNCTION @extschema@._health_local(OUT node text, OUT in_recovery boolean,
    OUT read_only boolean, OUT primary_node text, OUT started_at timestamptz)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT @extschema@.local_node(), pg_is_in_recovery(),
           current_setting('default_transaction_read_only')::boolean, @extschema@.primary(),
           pg_postmaster_start_time()
$$;

-- Asked locally by the watcher of peer p_peer: what this node still has to send to that peer,
-- summed over the syncs (backlog), the age of the oldest such change (lag_seconds), whether some
-- of it waits on a link that is not delivering (link_down: any state but "in sync" and "catching
-- up", e.g. disconnected, paused, needs resync), and the local designated-node setting.
CREATE FUNCTION @extschema@._health_link(p_peer text,
    OUT backlog bigint, OUT lag_seconds numeric, OUT link_down boolean, OUT primary_setting jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(sum(s.backlog), 0)::bigint, coalesce(max(s.lag_seconds), 0),
           coalesce(bool_or(s.backlog > 0 AND s.state NOT IN ('in sync', 'catching up')), false),
           @extschema@._primary_setting()
    FROM @extschema@.status() s WHERE s.peer = p_peer
$$;

-- Asked by the health watcher of node p_asker over its connection to this node: is this node
-- writable, what does it still have to send to p_asker (backlog, age of the oldest change, and
-- whether its link to p_asker is down with changes waiting), how old is this node's health
-- heartbeat (NULL: none), and its designated-node setting.
CREATE FUNCTION @extschema@._health_peer_view(p_asker text,
    OUT node text, OUT in_recovery boolean, OUT read_only boolean, OUT backlog bigint,
    OUT lag_seconds numeric, OUT link_down boolean, OUT beat_age_seconds numeric,
    OUT primary_setting jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT @extschema@.local_node(), pg_is_in_recovery(),
           current_setting('default_transaction_read_only')::boolean,
           l.backlog, l.lag_seconds, l.link_down,
           (SELECT round(extract(epoch FROM clock_timestamp() - b.beat_at)::numeric, 3)
            FROM @extschema@.health_beat b WHERE b.node = @extschema@.local_node()),
           l.primary_setting
    FROM @extschema@._health_link(p_asker) l
$$;

-- ---- functions/75_retention.sql
-- Queue retention: status warnings and limits for a peer that stays away (docs/operations.md).

-- The policy in force for a sync on this node: its row in retention, else the defaults.
CREATE FUNCTION @extschema@._retention_of(p_sync text,
    OUT max_changes bigint, OUT max_age interval, OUT warn_changes bigint, OUT warn_age interval)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT r.max_changes, r.max_age, coalesce(r.warn_changes, 1000000), coalesce(r.warn_age, interval '1 hour')
    FROM (SELECT 1) AS one LEFT JOIN @extschema@.retention r ON r.sync_name = p_sync
$$;

-- Sets the whole retention policy of a sync's queue on this node (call it on every node: each
-- applies its own). max_changes / max_age NULL: no limit. The warning thresholds default to
-- 1,000,000 changes and 1 hour, and to half the limit when a limit is lower than that.
-- Past a limit, the local agent marks the peer as needing a resync and drops what is queued for it.
CREATE FUNCTION @extschema@.set_retention(sync text, max_changes bigint DEFAULT NULL,
    max_age interval DEFAULT NULL, warn_changes bigint DEFAULT NULL, warn_age interval DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_warn_n bigint := coalesce(set_retention.warn_changes,
                                CASE WHEN set_retention.max_changes IS NULL THEN 1000000
                                     ELSE least(1000000, greatest(1, set_retention.max_changes / 2)) END);
    v_warn_a interval := coalesce(set_retention.warn_age,
                                  least(interval '1 hour', set_retention.max_age / 2));
BEGIN
    PERFORM @extschema@._sync_id(set_retention.sync);
    IF set_retention.max_changes IS NOT NULL AND set_retention.max_changes < 1 THEN
        RAISE EXCEPTION 'mmsync: max_changes for sync "%" must be at least 1, not %', set_retention.sync, set_retention.max_changes;
    END IF;
    IF set_retention.max_age IS NOT NULL AND set_retention.max_age <= interval '0' THEN
        RAISE EXCEPTION 'mmsync: max_age for sync "%" must be positive, not %', set_retention.sync, set_retention.max_age;
    END IF;
    IF v_warn_n < 1 OR v_warn_a <= interval '0' THEN
        RAISE EXCEPTION 'mmsync: warning thresholds for sync "%" must be positive (warn_changes %, warn_age %)',
            set_retention.sync, v_warn_n, v_warn_a;
    END IF;
    IF v_warn_n > set_retention.max_changes OR v_warn_a > set_retention.max_age THEN
        RAISE EXCEPTION 'mmsync: warning thresholds for sync "%" (% changes, %) must not exceed its limits (% changes, %)',
            set_retention.sync, v_warn_n, v_warn_a, set_retention.max_changes, set_retention.max_age;
    END IF;
    INSERT INTO @extschema@.retention AS r (sync_name, max_changes, max_age, warn_changes, warn_age)
    VALUES (set_retention.sync, set_retention.max_changes, set_retention.max_age, v_warn_n, v_warn_a)
    ON CONFLICT (sync_name) DO UPDATE SET max_changes = EXCLUDED.max_changes, max_age = EXCLUDED.max_age,
        warn_changes = EXCLUDED.warn_changes, warn_age = EXCLUDED.warn_age, updated_at = now();
    PERFORM pg_notify('mmsync_config', set_retention.sync);
    RETURN format('sync "%s": warn at %s changes or %s; %s', set_retention.sync, v_warn_n, v_warn_a,
        CASE WHEN set_retention.max_changes IS NULL AND set_retention.max_age IS NULL THEN 'no limit'
             ELSE 'a peer past ' || concat_ws(' or ', set_retention.max_changes || ' changes', set_retention.max_age::text)
                  || ' needs a resync' END);
END
$$;

-- Called by the local agent every round (and usable from cron while no agent runs): marks every
-- peer past a retention limit as needing a resync, dropping in the same transaction the changes
-- queued for it (a sender checks the mark after each read, so it never sends past the hole), and
-- keeps the queues of syncs with such peers purged. Returns one row per peer newly marked.
CREATE FUNCTION @extschema@._enforce_retention()
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
    FOR v IN
        SELECT s.id FROM @extschema@.syncs s
        WHERE NOT s.removed
          AND NOT EXISTS (SELECT 1 FROM unnest(s.nodes) AS p(peer)
                          WHERE p.peer <> @extschema@.local_node()
                            AND NOT EXISTS (SELECT 1 FROM @extschema@.resync_needed x
                                            WHERE x.sync_name = s.name AND x.peer = p.peer))
          AND EXISTS (SELECT 1 FROM @extschema@.changes c WHERE c.sync_id = s.id)
    LOOP
        DELETE FROM @extschema@.changes c WHERE c.sync_id = v.id;
    END LOOP;
END
$$;

-- After a resync of the peer (docs/operations.md): lets the local sender send to it again. From
-- this call on, changes made here queue for the peer again; copy the tables after it, not before.
CREATE FUNCTION @extschema@.clear_resync(sync text, peer text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM @extschema@._sync_id(clear_resync.sync);
    DELETE FROM @extschema@.resync_needed r WHERE r.sync_name = clear_resync.sync AND r.peer = clear_resync.peer;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'mmsync: node "%" of sync "%" is not marked as needing a resync', clear_resync.peer, clear_resync.sync;
    END IF;
    PERFORM pg_notify('mmsync_changes', 'kick');
    RETURN format('sync "%s": node "%s" gets changes again from now on', clear_resync.sync, clear_resync.peer);
END
$$;

-- ---- functions/90_privileges.sql
-- Nothing in the mmsync schema is usable by PUBLIC: nodes hold conninfo, the queue holds
-- row images. The capture trigger runs as the extension owner (SECURITY DEFINER), so application
-- roles need no right here. The role mmsync_admin (docs/operations.md: create it before
-- CREATE EXTENSION, or call grant_admin() afterwards) may use everything.
-- Note: the build puts functions/ before tables/, so the tables do not exist yet when this runs
-- (this is the last file of functions/, so every function does): tables get no PUBLIC rights by
-- default, and the grants for mmsync_admin reach them through the default privileges that
-- grant_admin() sets (which also cover objects that later upgrade scripts create).
REVOKE ALL ON ALL TABLES IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON SCHEMA @extschema@ FROM PUBLIC;

-- Lets p_role use the mmsync schema: monitor (status, wait_synced) and manage (add_node, add_sync,
-- pause, set_retention, ...). Managing a sync also creates triggers on the synced tables, which
-- needs their ownership. Only the extension owner (or a superuser) can call it.
CREATE FUNCTION @extschema@.grant_admin(p_role name DEFAULT 'mmsync_admin') RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_role) THEN
        RAISE EXCEPTION 'mmsync: role "%" does not exist', p_role
            USING HINT = format('CREATE ROLE %I NOLOGIN; then GRANT %I TO the DBAs', p_role, p_role);
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA @extschema@ TO %I', p_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA @extschema@ TO %I', p_role);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA @extschema@ TO %I', p_role);
    EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA @extschema@ TO %I', p_role);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA @extschema@ GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', p_role);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA @extschema@ GRANT USAGE, SELECT ON SEQUENCES TO %I', p_role);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA @extschema@ GRANT EXECUTE ON FUNCTIONS TO %I', p_role);
    RETURN format('role %s may use the mmsync schema', p_role);
END
$$;
REVOKE ALL ON FUNCTION @extschema@.grant_admin(name) FROM PUBLIC;

-- CREATE EXTENSION may run as a non-superuser, who cannot create roles: the role is an
-- installation step (CREATE ROLE mmsync_admin NOLOGIN), and it gets its rights here if it exists.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'mmsync_admin') THEN
        PERFORM @extschema@.grant_admin('mmsync_admin');
    END IF;
END
$$;

-- ---- tables/10_nodes.sql
-- Nodes of the mesh. Exactly one row is the local node. conninfo is a libpq conninfo or URI
-- *without* a password (passwords live in a passfile, see README).
CREATE TABLE @extschema@.nodes (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    conninfo    text NOT NULL,
    is_local    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX nodes_one_local ON @extschema@.nodes (is_local) WHERE is_local;
COMMENT ON TABLE @extschema@.nodes IS 'mmsync nodes; exactly one is_local row names this database';

-- ---- tables/20_syncs.sql
-- A sync: a set of tables kept identical on a set of nodes. id is local to this node;
-- name is the identity shared by all nodes. version orders configuration changes so that
-- agents can push the newest definition to peers.
CREATE TABLE @extschema@.syncs (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    nodes       text[] NOT NULL CHECK (cardinality(nodes) >= 2),
    conflict    text NOT NULL DEFAULT 'latest'
                CHECK (conflict IN ('latest', 'prefer', 'keep_local', 'apply_remote', 'abort')),
    prefer      text,
    -- 'interleave': each node's sequences of synced tables hand out disjoint values
    sequences   text NOT NULL DEFAULT 'none' CHECK (sequences IN ('none', 'interleave')),
    paused      boolean NOT NULL DEFAULT false,
    removed     boolean NOT NULL DEFAULT false,
    version     bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Tables of a sync. relid is this node's oid of the table; schema_name/table_name identify
-- it across nodes. pk_cols lists the primary key columns in key order.
CREATE TABLE @extschema@.sync_tables (
    sync_id     integer NOT NULL REFERENCES @extschema@.syncs (id) ON DELETE CASCADE,
    relid       oid NOT NULL UNIQUE,
    schema_name name NOT NULL,
    table_name  name NOT NULL,
    pk_cols     text[] NOT NULL,
    -- 'keyed': a primary key identifies rows; 'insert_only': a table without one whose inserts
    -- are replicated (updates and deletes on it are reported in @extschema@.set_aside)
    mode        text NOT NULL DEFAULT 'keyed' CHECK (mode IN ('keyed', 'insert_only')),
    CHECK (mode = 'insert_only' OR cardinality(pk_cols) >= 1),
    PRIMARY KEY (sync_id, relid),
    UNIQUE (schema_name, table_name)
);

-- Per-column apply policies. 'delta': an update adds the difference old -> new to the peer's
-- value instead of overwriting it, so counters incremented on both nodes add up.
CREATE TABLE @extschema@.column_policies (
    schema_name name NOT NULL,
    table_name  name NOT NULL,
    column_name name NOT NULL,
    policy      text NOT NULL CHECK (policy IN ('delta')),
    PRIMARY KEY (schema_name, table_name, column_name)
);

-- ---- tables/30_changes.sql
-- The capture queue. One row per row change, written by @extschema@.capture().
-- xid is the writing transaction's 64-bit id: senders select changes by commit snapshot
-- ("visible in hi, not visible in lo"), never by "id > last id", so a transaction that
-- commits after later-started ones is never skipped. Within a snapshot range rows are sent in
-- id order, which for one row is the order its changes were made.
CREATE TABLE @extschema@.changes (
    -- no CACHE: ids must follow the order in which changes were made across all sessions (a
    -- later change of a row waits for the earlier one's row lock, then takes a higher id)
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid         xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    sync_id     integer NOT NULL,
    relid       oid NOT NULL,
    -- I, U, D or T. No CHECK constraint: the executor re-reads a CHECK's expression from the
    -- catalog for every statement, which cost the capture trigger a quarter of its time per row;
    -- only the capture functions write this table
    op          "char" NOT NULL,
    -- when the row was changed (not when its transaction began): conflict resolution 'latest'
    -- compares these, so a change made after another was seen always carries a later time
    at          timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    old         jsonb,
    new         jsonb
);
ALTER TABLE @extschema@.changes SET (autovacuum_vacuum_scale_factor = 0.02);
COMMENT ON TABLE @extschema@.changes IS
    'mmsync capture queue: changes made on this node, purged once every peer has applied them';

-- ---- tables/40_progress.sql
-- Inbound progress, written by the *origin's* sender in the same transaction as the changes it
-- applies here, so a crash at any instant neither loses nor duplicates a change.
-- Position: every change of origin visible in snapshot lo is applied; of the range
-- (visible in hi, not in lo) the changes with id <= last_id are applied.
CREATE TABLE @extschema@.progress (
    sync_name       text NOT NULL,
    origin          text NOT NULL,
    lo              pg_snapshot,
    hi              pg_snapshot,
    last_id         bigint NOT NULL DEFAULT 0 CHECK (last_id >= 0),
    applied         bigint NOT NULL DEFAULT 0,
    batches         bigint NOT NULL DEFAULT 0,
    last_change_at  timestamptz,
    applied_at      timestamptz,
    PRIMARY KEY (sync_name, origin)
);

-- Outbound state of this node's sender for each (sync, peer), written by the local agent.
CREATE TABLE @extschema@.links (
    sync_name       text NOT NULL,
    peer            text NOT NULL,
    state           text NOT NULL DEFAULT 'starting'
                    CHECK (state IN ('starting', 'connecting', 'running', 'disconnected', 'paused', 'error')),
    confirmed_lo    pg_snapshot,
    sent            bigint NOT NULL DEFAULT 0,
    last_error      text,
    last_error_at   timestamptz,
    last_sent_at    timestamptz,
    heartbeat_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sync_name, peer)
);

-- ---- tables/45_conflicts.sql
-- Every conflict resolved on this node: two nodes changed the same row concurrently. Nothing is
-- discarded in silence: the losing version of the row is kept here until the DBA purges it
-- (DELETE FROM mmsync.conflicts WHERE detected_at < ...).
CREATE TABLE @extschema@.conflicts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    detected_at     timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    sync_name       text NOT NULL,
    schema_name     name NOT NULL,
    table_name      name NOT NULL,
    key             text NOT NULL,
    -- '<remote op>_<local op>', e.g. update_update, update_delete, insert_insert, delete_delete
    kind            text NOT NULL,
    strategy        text NOT NULL,
    -- 'remote_applied': the change from origin won; 'local_kept': this node's version won;
    -- 'merged': delta columns added up, the rest decided as the strategy says; 'pending': abort
    resolution      text NOT NULL CHECK (resolution IN ('remote_applied', 'local_kept', 'merged', 'pending', 'skipped')),
    origin          text NOT NULL,
    origin_change   bigint NOT NULL,
    remote_at       timestamptz,
    local_at        timestamptz,
    winning_row     jsonb,
    losing_row      jsonb,
    decision        text CHECK (decision IN ('apply', 'skip'))
);
CREATE INDEX conflicts_pending ON @extschema@.conflicts (origin, origin_change) WHERE resolution = 'pending';
-- status() counts a link's conflicts: an index-only scan instead of reading the table, which hot
-- rows updated on both nodes fill quickly (every merged delta is recorded)
CREATE INDEX conflicts_link ON @extschema@.conflicts (sync_name, origin);

-- Changes from a peer that could not be applied here (a unique key other than the primary key,
-- a foreign key, a value the column cannot hold, ...), and updates or deletes on insert-only
-- tables. Every other change keeps flowing; the agent retries these until they apply.
CREATE TABLE @extschema@.set_aside (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sync_name       text NOT NULL,
    origin          text NOT NULL,
    origin_change   bigint,
    schema_name     name NOT NULL,
    table_name      name NOT NULL,
    op              "char" NOT NULL,
    key             text,
    old             jsonb,
    new             jsonb,
    changed_at      timestamptz,
    error           text NOT NULL,
    sqlstate        text,
    first_failed_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    last_tried_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    attempts        integer NOT NULL DEFAULT 1,
    UNIQUE (origin, origin_change)
);

-- Purge marks of a link: after the peer confirmed everything visible in confirmed_lo, its own
-- snapshot was peer_horizon. A change may leave the queue only once every change the peer
-- committed up to that horizon has been applied here, so that a concurrent change of the same
-- row still finds this node's version in the queue (conflict resolution 'latest' needs it).
CREATE TABLE @extschema@.purge_marks (
    sync_name       text NOT NULL,
    peer            text NOT NULL,
    confirmed_lo    pg_snapshot NOT NULL,
    peer_horizon    pg_snapshot NOT NULL,
    marked_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY
);
CREATE INDEX purge_marks_link ON @extschema@.purge_marks (sync_name, peer, id);

-- ---- tables/50_health.sql
-- The designated write node of the pair (at most one row), set with @extschema@.set_primary() on
-- any node. The agents' health watchers carry it to the peers: everywhere the setting with the
-- highest (version, set_at, set_on) wins, so a DBA calls set_primary once, on either node.
-- node NULL means "no designated node": HAProxy's static order (blue active, green backup) decides.
CREATE TABLE @extschema@.primary_node (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),
    node        text CHECK (node ~ '^[a-z][a-z0-9_]{0,62}$'),
    version     bigint NOT NULL CHECK (version >= 1),
    set_at      timestamptz NOT NULL DEFAULT now(),
    set_on      text NOT NULL
);
COMMENT ON TABLE @extschema@.primary_node IS
    'mmsync designated write node (see set_primary()); carried between nodes by the agents';

-- Heartbeat of this node's health endpoint (written about once a second by the agent's health
-- watcher). A peer reads it to tell "PostgreSQL up but agent dead" from "ready": the designated
-- node only takes the writes back when its health endpoint runs. Unlogged: a beat needs no WAL
-- and is meaningless after a crash.
CREATE UNLOGGED TABLE @extschema@.health_beat (
    node        text PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    beat_at     timestamptz NOT NULL
);

-- ---- tables/60_retention.sql
-- Retention policy of a sync's queue on this node (set with @extschema@.set_retention(); a sync
-- without a row has the defaults: warnings only, no limit). Each node applies its own policy to
-- its own queue: it is the node's disk that a peer staying away fills.
--   warn_changes / warn_age: status() warns (in last_error) once a peer's backlog has this many
--     changes, or its oldest change is this old;
--   max_changes / max_age (NULL: no limit): past either, the local agent marks the peer as needing
--     a resync and drops the changes queued for it (see resync_needed and docs/operations.md).
CREATE TABLE @extschema@.retention (
    sync_name     text PRIMARY KEY REFERENCES @extschema@.syncs (name) ON DELETE CASCADE,
    max_changes   bigint CHECK (max_changes > 0),
    max_age       interval CHECK (max_age > interval '0'),
    warn_changes  bigint NOT NULL CHECK (warn_changes > 0),
    warn_age      interval NOT NULL CHECK (warn_age > interval '0'),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (warn_changes <= max_changes),
    CHECK (warn_age <= max_age)
);
COMMENT ON TABLE @extschema@.retention IS
    'mmsync queue retention per sync on this node (set_retention()); no row: warn at 1,000,000 changes or 1 hour, no limit';

-- Peers that went past a retention limit: the changes queued here for them were dropped, so the
-- local sender does not send them anything more (newer changes over a hole would make the peer
-- silently different); the queue is no longer kept for them. Cleared by clear_resync() once the
-- DBA has copied the tables (docs/operations.md, "Resync after the retention limit").
CREATE TABLE @extschema@.resync_needed (
    sync_name   text NOT NULL,
    peer        text NOT NULL,
    since       timestamptz NOT NULL DEFAULT now(),
    dropped     bigint NOT NULL CHECK (dropped >= 0),
    reason      text NOT NULL,
    PRIMARY KEY (sync_name, peer)
);
COMMENT ON TABLE @extschema@.resync_needed IS
    'mmsync peers past a retention limit: their queued changes were dropped; resync, then clear_resync()';
