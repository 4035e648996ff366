-- Purges the queue of a sync (called by the agent after each completed range). A change leaves
-- the queue once every peer has confirmed it AND this node has applied everything the peer
-- committed before confirming it (see @extschema@.purge_marks): until then a concurrent change
-- of the same row arriving from the peer still finds this node's version here. Replaces the
-- simpler _purge of 60_status.sql. Returns the number of changes deleted.
CREATE OR REPLACE FUNCTION @extschema@._purge(p_sync_id integer, p_limit integer DEFAULT 50000) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_sync  text;
    v_peer  text;
    v_mark  record;
    v_snaps pg_snapshot[] := '{}';
    v_n     bigint;
BEGIN
    SELECT s.name INTO v_sync FROM @extschema@.syncs s WHERE s.id = p_sync_id;
    FOR v_peer IN SELECT p FROM @extschema@.syncs s, unnest(s.nodes) p
                  WHERE s.id = p_sync_id AND p <> @extschema@.local_node() LOOP
        SELECT m.id, m.confirmed_lo INTO v_mark
        FROM @extschema@.purge_marks m
        JOIN @extschema@.progress pr ON pr.sync_name = m.sync_name AND pr.origin = m.peer
        WHERE m.sync_name = v_sync AND m.peer = v_peer AND pr.lo IS NOT NULL
          AND pg_snapshot_xmax(m.peer_horizon) <= pg_snapshot_xmin(pr.lo)
        ORDER BY m.id DESC LIMIT 1;
        IF NOT FOUND THEN
            RETURN 0;
        END IF;
        DELETE FROM @extschema@.purge_marks m WHERE m.sync_name = v_sync AND m.peer = v_peer AND m.id < v_mark.id;
        v_snaps := v_snaps || v_mark.confirmed_lo;
    END LOOP;
    IF cardinality(v_snaps) = 0 THEN
        RETURN 0;
    END IF;
    DELETE FROM @extschema@.changes WHERE id IN (
        SELECT c.id FROM @extschema@.changes c
        WHERE c.sync_id = p_sync_id
          AND NOT EXISTS (SELECT 1 FROM unnest(v_snaps) s WHERE NOT pg_visible_in_snapshot(c.xid, s))
        ORDER BY c.id LIMIT p_limit);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
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
