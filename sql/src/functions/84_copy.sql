-- Issue 12: initial copy, driven by the origin's agent (io.mmsync.engine.copy).

-- Bounds splitting a table into ranges of about p_rows rows, in primary key order, as SQL row
-- literals (ROW('a'::text, 5::integer)) that compare with ROW(<key columns>) on an index. From a
-- sample of the table's pages (about 20 keys per range) when it is big enough to estimate, so
-- planning does not read the whole table; exact (every p_rows-th key) otherwise.
CREATE FUNCTION @extschema@._copy_bounds(p_table regclass, p_rows bigint) RETURNS SETOF text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_cols   text[] := @extschema@._pk_cols(p_table);
    v_lit    text;
    v_list   text;
    v_est    double precision := (SELECT c.reltuples FROM pg_class c WHERE c.oid = p_table);
    v_ranges bigint;
    v_pct    double precision;
BEGIN
    IF v_cols IS NULL THEN
        RAISE EXCEPTION 'mmsync: table % has no primary key and cannot be copied in key ranges', p_table;
    END IF;
    p_rows := greatest(p_rows, 1);
    SELECT 'format(''ROW(' || string_agg('%L::' || replace(format_type(a.atttypid, a.atttypmod), '%', '%%'), ', ' ORDER BY x.o)
           || ')'', ' || string_agg(format('t.%I', x.c), ', ' ORDER BY x.o) || ')',
           string_agg(format('t.%I', x.c), ', ' ORDER BY x.o)
    INTO v_lit, v_list
    FROM unnest(v_cols) WITH ORDINALITY AS x(c, o)
    JOIN pg_attribute a ON a.attrelid = p_table AND a.attname = x.c;
    IF v_est >= 10 * p_rows THEN
        v_ranges := ceil(v_est / p_rows);
        v_pct := least(100, 100.0 * 20 * v_ranges / v_est);
        RETURN QUERY EXECUTE format('SELECT b FROM (SELECT %s AS b, row_number() OVER (ORDER BY %s) AS rn, count(*) OVER () AS n '
            || 'FROM %s t TABLESAMPLE SYSTEM (%s)) x WHERE rn %% greatest(n / %s, 1) = 0 AND rn < n ORDER BY rn',
            v_lit, v_list, p_table, v_pct, v_ranges);
        RETURN;
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

-- Forgets the records of a sync's earlier initial copy or merge on this node: a sync added again
-- under the same name starts afresh (called by add_sync, and by _receive_sync for a sync that is
-- new here or was removed).
CREATE FUNCTION @extschema@._forget_initial(p_sync text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    DELETE FROM @extschema@.copies WHERE sync_name = p_sync;
    DELETE FROM @extschema@.copy_ranges WHERE sync_name = p_sync;
    DELETE FROM @extschema@.copy_tables WHERE sync_name = p_sync;
$$;
