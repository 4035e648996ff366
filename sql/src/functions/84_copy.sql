-- Issue 12: initial copy, driven by the origin's agent (io.mmsync.engine.copy).

-- Bounds splitting a table into ranges of about p_rows rows, in primary key order, as SQL row
-- literals (ROW('a'::text, 5::integer)) that compare with ROW(<key columns>) on an index. From a
-- sample of the table's pages (about 20 keys per range, 64 pages at least) when it is big enough to
-- estimate, so planning does not read the whole table; exact (every p_rows-th key) otherwise, and
-- when the sample held fewer than half the bounds it should have.
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

-- The columns a copy moves (not generated ones), in name order, with their types.
CREATE FUNCTION @extschema@._copy_columns(p_table regclass) RETURNS TABLE (col name, typ text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
    WHERE a.attrelid = p_table AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
    ORDER BY a.attname COLLATE "C"
$$;

-- Progress of the initial copies this node sends: per table rows and bytes done, rate, time left.
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

-- Whether the initial copy or merge between this node and p_peer (either way) of a sync added with
-- initial => 'copy' or 'merge' is not finished yet: status() says 'copying', never 'in sync', until it is.
CREATE FUNCTION @extschema@._copying(p_sync text, p_peer text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (
        SELECT 1 FROM @extschema@.syncs s
        WHERE s.name = p_sync AND NOT s.removed AND s.initial IN ('copy', 'merge') AND s.initial_from IN (p_peer, @extschema@.local_node())
          AND NOT EXISTS (SELECT 1 FROM @extschema@.copies c
                          WHERE c.sync_name = s.name AND c.origin = s.initial_from AND c.finished_at IS NOT NULL
                            AND c.target = CASE WHEN s.initial_from = p_peer THEN @extschema@.local_node() ELSE p_peer END))
$$;

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

-- Forgets the records of a sync's earlier initial copy or merge on this node: a sync added again
-- under the same name starts afresh (called by add_sync, and by _receive_sync for a sync that is
-- new here or was removed). Indexes an unfinished copy dropped are built first.
CREATE FUNCTION @extschema@._forget_initial(p_sync text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT @extschema@._copy_restore_indexes(p_sync);
    DELETE FROM @extschema@.copies WHERE sync_name = p_sync;
    DELETE FROM @extschema@.copy_ranges WHERE sync_name = p_sync;
    DELETE FROM @extschema@.copy_tables WHERE sync_name = p_sync;
$$;
