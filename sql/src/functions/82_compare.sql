-- Issue 12: compare. The agent's `mmsync compare` runs these on both nodes and compares the
-- results; rows never travel whole except those that differ.
-- Rows are grouped in p_buckets buckets by a hash of their primary key; a bucket's digest is the
-- row count and the XOR of 64-bit hashes of the rows' text, columns in name order (so the column
-- order of each node's table does not matter; to_jsonb would too, at three times the cost). Equal
-- digests: equal buckets (up to a 64-bit hash collision). Needs the same PostgreSQL major version
-- on both nodes (hash functions, text output of types).

-- The jsonb object of a table's primary key columns, as SQL over alias p_alias.
CREATE FUNCTION @extschema@._key_sql(p_relid oid, p_alias text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_cols text[] := @extschema@._pk_cols(p_relid);
BEGIN
    IF v_cols IS NULL THEN
        RAISE EXCEPTION 'mmsync: table % has no primary key and cannot be compared by key', p_relid::regclass;
    END IF;
    RETURN 'jsonb_build_object(' || (SELECT string_agg(format('%L, %s.%I', c, p_alias, c), ', ' ORDER BY o)
                                     FROM unnest(v_cols) WITH ORDINALITY AS x(c, o)) || ')';
END
$$;

-- SQL for a row's text, its columns in name order, over alias p_alias; and for its key's text.
CREATE FUNCTION @extschema@._row_text_sql(p_relid oid, p_alias text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'ROW(' || string_agg(format('%s.%I', p_alias, a.attname), ', ' ORDER BY a.attname COLLATE "C") || ')::text'
    FROM pg_attribute a WHERE a.attrelid = p_relid AND a.attnum > 0 AND NOT a.attisdropped
$$;

CREATE FUNCTION @extschema@._bucket_sql(p_relid oid, p_alias text, p_buckets integer) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    -- the key's hash: of its values when every key type has a hash function of its own (a quarter
    -- cheaper than of its text), else of its text
    SELECT format(CASE WHEN bool_and(EXISTS (SELECT 1 FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod
                                             WHERE am.amname = 'hash' AND oc.opcdefault AND oc.opcintype = a.atttypid))
                       THEN '((hash_record_extended(ROW(%s), 12) %% %s + %s) %% %s)::integer'
                       ELSE '((hashtextextended(ROW(%s)::text, 12) %% %s + %s) %% %s)::integer' END,
                  string_agg(format('%s.%I', p_alias, x.c), ', ' ORDER BY x.o), p_buckets, p_buckets, p_buckets)
    FROM unnest(@extschema@._pk_cols(p_relid)) WITH ORDINALITY AS x(c, o)
    JOIN pg_attribute a ON a.attrelid = p_relid AND a.attname = x.c
$$;

-- Digest of every bucket of the table (buckets without rows are absent).
CREATE FUNCTION @extschema@._range_hash(p_table regclass, p_buckets integer)
RETURNS TABLE (bucket integer, n bigint, h bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_buckets IS NULL OR p_buckets < 1 THEN
        RAISE EXCEPTION 'mmsync: bucket count must be positive, not %', p_buckets;
    END IF;
    PERFORM @extschema@._key_sql(p_table, 't'); -- refuses a table without a primary key
    RETURN QUERY EXECUTE format(
        'SELECT %s, count(*), bit_xor(hashtextextended(%s, 0)) FROM %s t GROUP BY 1',
        @extschema@._bucket_sql(p_table, 't', p_buckets), @extschema@._row_text_sql(p_table, 't'), p_table);
END
$$;

-- Key and row hash of every row in the given buckets, ordered by bucket, then key (bytewise).
CREATE FUNCTION @extschema@._row_hashes(p_table regclass, p_buckets integer, p_which integer[])
RETURNS TABLE (bucket integer, key text, h bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT b, k, h FROM (SELECT %s AS b, %s::text AS k, hashtextextended(%s, 0) AS h FROM %s t WHERE %s = ANY ($1)) x '
        || 'ORDER BY b, k COLLATE "C"',
        @extschema@._bucket_sql(p_table, 't', p_buckets), @extschema@._key_sql(p_table, 't'),
        @extschema@._row_text_sql(p_table, 't'), p_table, @extschema@._bucket_sql(p_table, 't', p_buckets))
    USING p_which;
END
$$;

-- The rows (jsonb) of the given keys (a jsonb array of key objects as _key_sql makes them);
-- keys without a row here are absent.
CREATE FUNCTION @extschema@._rows_by_key(p_table regclass, p_keys jsonb)
RETURNS TABLE (key text, "row" jsonb)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_cols text[] := @extschema@._pk_cols(p_table);
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT %s::text, to_jsonb(t) FROM %s t WHERE (%s) IN (SELECT %s FROM jsonb_populate_recordset(NULL::%s, $1) k)',
        @extschema@._key_sql(p_table, 't'), p_table,
        (SELECT string_agg(format('t.%I', c), ', ') FROM unnest(v_cols) c),
        (SELECT string_agg(format('k.%I', c), ', ') FROM unnest(v_cols) c), p_table)
    USING p_keys;
END
$$;

-- The differences found by the last `mmsync compare` of the sync (and table), recorded by it:
-- the agent's command line does the comparing, since a SQL function cannot reach the peer.
-- One row per differing key; none when the last compare found the nodes identical (see
-- mmsync.compare_runs for when it ran and its outcome).
CREATE FUNCTION @extschema@.compare(sync text, table_name text DEFAULT NULL)
RETURNS TABLE (compared_at timestamptz, outcome text, "table" text, key jsonb, here jsonb, peer jsonb, repaired text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_run   record;
    v_relid oid;
    v_nsp   name;
    v_rel   name;
BEGIN
    PERFORM @extschema@._sync_id(compare.sync);
    IF compare.table_name IS NOT NULL THEN
        v_relid := @extschema@._resolve_table((SELECT t FROM @extschema@._parse_table_list(compare.table_name) t LIMIT 1));
        SELECT t.schema_name, t.table_name INTO v_nsp, v_rel FROM @extschema@.sync_tables t
        JOIN @extschema@.syncs s ON s.id = t.sync_id WHERE t.relid = v_relid AND s.name = compare.sync;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'mmsync: table % is not in sync "%"', v_relid::regclass, compare.sync
                USING HINT = 'See the tables of the sync in mmsync.sync_tables.';
        END IF;
    END IF;
    SELECT * INTO v_run FROM @extschema@.compare_runs r
    WHERE r.sync_name = compare.sync AND r.outcome <> 'running'
      AND (v_rel IS NULL OR format('%I.%I', v_nsp, v_rel) = ANY (r.tables))
    ORDER BY r.id DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'mmsync: sync "%"% has not been compared yet', compare.sync,
            CASE WHEN v_rel IS NOT NULL THEN format(' (table %I.%I)', v_nsp, v_rel) ELSE '' END
            USING HINT = format('Run `mmsync compare --db ''<conninfo of this database>'' %s%s` (exit code 0: identical, '
                || '1: different, 2: error); then call this function again.', compare.sync, coalesce(' ' || compare.table_name, ''));
    END IF;
    IF v_run.outcome = 'failed' THEN
        RAISE EXCEPTION 'mmsync: the last compare of sync "%" (%) failed: %', compare.sync, v_run.started_at, v_run.error;
    END IF;
    RETURN QUERY SELECT v_run.finished_at, v_run.outcome, format('%I.%I', d.schema_name, d.table_name), d.key, d.here, d.peer, d.repaired
        FROM @extschema@.compare_diffs d
        WHERE d.run_id = v_run.id AND (v_rel IS NULL OR (d.schema_name = v_nsp AND d.table_name = v_rel))
        ORDER BY d.schema_name, d.table_name, d.key;
    IF NOT FOUND THEN
        RETURN QUERY SELECT v_run.finished_at, v_run.outcome, NULL::text, NULL::jsonb, NULL::jsonb, NULL::jsonb, NULL::text;
    END IF;
END
$$;
