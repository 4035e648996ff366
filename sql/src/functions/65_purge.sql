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
