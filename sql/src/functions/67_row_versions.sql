-- Row versions of syncs of three or more nodes (issue 17; table @extschema@.row_versions,
-- docs/conflicts.md "Three or more nodes"): which entries can go. Called by _purge (every link
-- after its confirmations and while idle); one caller at a time (advisory lock (1835889520, 1)),
-- a second returns at once. Costs nothing while the table is empty (every two-node sync).
--
-- An entry (at, origin) only ever matters against a change with a smaller pair that arrives
-- later: a newer one wins anyway. So for each sync it may go once this node has every change of
-- every other node made before at: for each peer, the newest purge mark whose peer horizon this
-- node has applied (the rule of _queue_maintain) says this node has every change the peer made
-- before peer_horizon_at, but for changes of transactions still open at that instant; p_margin
-- covers those (a transaction that stays open longer than p_margin after changing a row, on a
-- third node, could meet a purged version). A peer without such a mark (away, or never marked by
-- a 0.2.0 agent) keeps every entry of the sync. Entries of tables no longer synced go too.
CREATE FUNCTION @extschema@._purge_row_versions(p_margin interval DEFAULT interval '10 minutes')
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_sync  record;
    v_n     bigint;
    v_total bigint := 0;
BEGIN
    IF (NOT EXISTS (SELECT 1 FROM @extschema@.row_versions) AND NOT EXISTS (SELECT 1 FROM @extschema@.row_deltas))
       OR NOT pg_try_advisory_xact_lock(1835889520, 1) THEN
        RETURN 0;
    END IF;
    -- the delta logs (row_deltas) go by the same rules as the row versions, below
    DELETE FROM @extschema@.row_deltas d
    WHERE d.relid IN (
        WITH RECURSIVE r(relid) AS (
            SELECT min(x.relid) FROM @extschema@.row_deltas x
            UNION ALL
            SELECT (SELECT min(x.relid) FROM @extschema@.row_deltas x WHERE x.relid > r.relid) FROM r WHERE r.relid IS NOT NULL)
        SELECT r.relid FROM r WHERE r.relid IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM @extschema@.sync_tables st WHERE st.relid = r.relid));
    GET DIAGNOSTICS v_n = ROW_COUNT;
    v_total := v_n;
    -- tables no longer synced (one index probe per table that has entries)
    DELETE FROM @extschema@.row_versions v
    WHERE v.relid IN (
        WITH RECURSIVE r(relid) AS (
            SELECT min(x.relid) FROM @extschema@.row_versions x
            UNION ALL
            SELECT (SELECT min(x.relid) FROM @extschema@.row_versions x WHERE x.relid > r.relid) FROM r WHERE r.relid IS NOT NULL)
        SELECT r.relid FROM r WHERE r.relid IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM @extschema@.sync_tables st WHERE st.relid = r.relid));
    GET DIAGNOSTICS v_n = ROW_COUNT;
    v_total := v_total + v_n;
    FOR v_sync IN
        SELECT s.id, min(h.at) - p_margin AS upto
        FROM @extschema@.syncs s
        CROSS JOIN LATERAL unnest(s.nodes) AS p(peer)
        LEFT JOIN LATERAL (
            SELECT m.peer_horizon_at AS at
            FROM @extschema@.purge_marks m
            JOIN @extschema@.progress pr ON pr.sync_name = m.sync_name AND pr.origin = m.peer
            WHERE m.sync_name = s.name AND m.peer = p.peer AND pr.lo IS NOT NULL
              AND pg_snapshot_xmax(m.peer_horizon) <= pg_snapshot_xmin(pr.lo)
            ORDER BY m.id DESC LIMIT 1) h ON true
        WHERE NOT s.removed AND cardinality(s.nodes) > 2 AND p.peer <> @extschema@.local_node()
        GROUP BY s.id
        HAVING count(h.at) = count(*)
    LOOP
        DELETE FROM @extschema@.row_versions v USING @extschema@.sync_tables st
        WHERE st.sync_id = v_sync.id AND v.relid = st.relid AND v.at < v_sync.upto;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_total := v_total + v_n;
        DELETE FROM @extschema@.row_deltas d USING @extschema@.sync_tables st
        WHERE st.sync_id = v_sync.id AND d.relid = st.relid AND d.at < v_sync.upto;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_total := v_total + v_n;
    END LOOP;
    RETURN v_total;
END
$$;
