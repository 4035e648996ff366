-- Issue 12: repair and merge through the normal apply path. The winning node queues the rows it
-- holds (or a delete where it holds none) as ordinary changes of its own queue, and its link sends
-- them to the peer like any other change: applied exactly once, in order with the other changes
-- of each row, resolved against the peer's own changes by the sync's conflict strategy, set aside
-- if the peer rejects them. mmsync.repair_changes says which queued changes were repairs.

-- The images of the given keys' rows (p_keys: a jsonb array of key objects) as the capture
-- trigger queues them: to_jsonb(row), json columns as their exact text. p_lock: FOR SHARE, so no
-- change of those rows can come between the image and the change queued with it.
CREATE FUNCTION @extschema@._row_images(p_table regclass, p_keys jsonb, p_lock boolean DEFAULT false)
RETURNS TABLE (key text, image jsonb)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_cols text[] := @extschema@._pk_cols(p_table);
    v_json text[];
BEGIN
    IF v_cols IS NULL THEN
        RAISE EXCEPTION 'mmsync: table % has no primary key and cannot be repaired by key', p_table;
    END IF;
    SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO v_json FROM pg_attribute a
    WHERE a.attrelid = p_table AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid = 'json'::regtype;
    RETURN QUERY EXECUTE format(
        'SELECT %s::text, %s FROM %s t WHERE (%s) IN (SELECT %s FROM jsonb_populate_recordset(NULL::%s, $1) k) ORDER BY %s%s',
        @extschema@._key_sql(p_table, 't'),
        CASE WHEN v_json IS NULL THEN 'to_jsonb(t)'
             ELSE format('@extschema@._keep_json_text(to_jsonb(t), row_to_json(t), %L)', v_json) END,
        p_table,
        (SELECT string_agg(format('t.%I', c), ', ') FROM unnest(v_cols) c),
        (SELECT string_agg(format('k.%I', c), ', ') FROM unnest(v_cols) c), p_table,
        (SELECT string_agg(format('t.%I', c), ', ') FROM unnest(v_cols) c),
        CASE WHEN p_lock THEN ' FOR SHARE OF t' ELSE '' END)
    USING p_keys;
END
$$;

-- Queues repair changes of one table on this node (the winner), in array order: p_changes is a
-- jsonb array of {"key": key object, "old": the peer's image or null, "new": this node's image or
-- null}: insert (no old), update (both), delete (no new); equal images are skipped. p_run: the
-- compare run (on the node the command ran from) or merge that asked. Returns each queued change.
-- The caller holds the rows' locks (_row_images with p_lock) in the same transaction.
CREATE FUNCTION @extschema@._repair_enqueue(p_sync text, p_table regclass, p_kind text, p_run bigint, p_changes jsonb)
RETURNS TABLE (key text, change_id bigint, op "char")
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_sync integer := @extschema@._sync_id(p_sync);
    v_nsp  name;
    v_rel  name;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM @extschema@.sync_tables t WHERE t.sync_id = v_sync AND t.relid = p_table AND t.mode = 'keyed') THEN
        RAISE EXCEPTION 'mmsync: table % is not a keyed table of sync "%"', p_table, p_sync;
    END IF;
    SELECT n.nspname, c.relname INTO v_nsp, v_rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_table;
    -- the transaction id first, then the queue ids, as capture does: the sender's range floor
    -- (send.RangeFloor) relies on a change's id being taken after its transaction's id
    PERFORM pg_catalog.pg_current_xact_id();
    -- set-based: ids in array order (nextval over the ordered rows), each change into the queue
    -- table its id names (see @extschema@.changes_0), and its record
    RETURN QUERY
    WITH q AS MATERIALIZED (
        SELECT y.key, y.old, y.new, y.op, nextval('@extschema@.change_queue_id_seq') AS id
        FROM (SELECT x.key, x.old, x.new,
                     (CASE WHEN x.new IS NULL THEN 'D' WHEN x.old IS NULL THEN 'I' ELSE 'U' END)::"char" AS op
              FROM ROWS FROM (jsonb_to_recordset(p_changes) AS (key jsonb, old jsonb, new jsonb)) WITH ORDINALITY AS x(key, old, new, ord)
              WHERE x.old IS DISTINCT FROM x.new ORDER BY x.ord) y),
    i0 AS (INSERT INTO @extschema@.changes_0 (id, sync_id, relid, op, old, new)
           SELECT q.id, v_sync, p_table, q.op, q.old, q.new FROM q WHERE (q.id >> 24) % 3 = 0),
    i1 AS (INSERT INTO @extschema@.changes_1 (id, sync_id, relid, op, old, new)
           SELECT q.id, v_sync, p_table, q.op, q.old, q.new FROM q WHERE (q.id >> 24) % 3 = 1),
    i2 AS (INSERT INTO @extschema@.changes_2 (id, sync_id, relid, op, old, new)
           SELECT q.id, v_sync, p_table, q.op, q.old, q.new FROM q WHERE (q.id >> 24) % 3 = 2),
    -- a merge's inserts: the row is the table's own now (no image kept twice)
    r AS (INSERT INTO @extschema@.repair_changes (change_id, sync_name, kind, run_id, schema_name, table_name, key, op, old, new)
          SELECT q.id, p_sync, p_kind, p_run, v_nsp, v_rel, q.key, q.op, q.old,
                 CASE WHEN p_kind = 'merge' AND q.op = 'I' THEN NULL ELSE q.new END FROM q)
    SELECT q.key::text, q.id, q.op FROM q ORDER BY q.id;
    IF FOUND THEN
        PERFORM pg_notify('mmsync_changes', '');
    END IF;
END
$$;

-- The keys among p_keys (a jsonb array of key objects) of which this node's queue holds a change
-- that a peer has not confirmed yet: a repair change queued for them on the peer would be made
-- from a row that is about to change there (and a delta column would count that change twice).
CREATE FUNCTION @extschema@._in_flight_keys(p_sync text, p_table regclass, p_keys jsonb)
RETURNS SETOF text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH pk AS (SELECT @extschema@._pk_cols(p_table) AS cols),
    u AS MATERIALIZED (
        SELECT c.old, c.new FROM @extschema@.changes c
        JOIN @extschema@.syncs s ON s.id = c.sync_id
        CROSS JOIN LATERAL unnest(s.nodes) AS p(peer)
        LEFT JOIN @extschema@.links l ON l.sync_name = s.name AND l.peer = p.peer
        WHERE s.name = p_sync AND NOT s.removed AND c.relid = p_table AND c.op <> 'T'
          AND p.peer <> @extschema@.local_node()
          AND (l.confirmed_lo IS NULL OR NOT pg_visible_in_snapshot(c.xid, l.confirmed_lo))),
    f AS MATERIALIZED (
        SELECT DISTINCT (SELECT string_agg(i.img ->> x.col, E'\x1f' ORDER BY x.ord)
                         FROM unnest(pk.cols) WITH ORDINALITY AS x(col, ord)) AS k
        FROM u CROSS JOIN pk CROSS JOIN LATERAL (VALUES (u.old), (u.new)) AS i(img) WHERE i.img IS NOT NULL)
    SELECT k.key::text FROM jsonb_array_elements(p_keys) AS k(key) CROSS JOIN pk
    WHERE (SELECT string_agg(k.key ->> x.col, E'\x1f' ORDER BY x.ord) FROM unnest(pk.cols) WITH ORDINALITY AS x(col, ord))
          IN (SELECT f.k FROM f)
$$;
