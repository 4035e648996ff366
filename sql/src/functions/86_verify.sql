-- Issue 17: scheduled compares (the engine runs mmsync compare on its own, see verify_schedule).

-- Sets how often this node's engine compares sync `sync` with each of its peers (NULL: never on a
-- schedule). The first scheduled compare runs `every` after the sync was added, or after the last
-- compare of the pair (from either node), whichever is later.
CREATE FUNCTION @extschema@.set_verify(sync text, every interval)
RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM @extschema@._sync_id(set_verify.sync);
    IF set_verify.every < interval '1 second' THEN
        RAISE EXCEPTION 'mmsync: the compare interval of sync "%" must be at least 1 second, not %', set_verify.sync, set_verify.every
            USING ERRCODE = 'invalid_parameter_value', HINT = 'NULL turns scheduled compares off.';
    END IF;
    INSERT INTO @extschema@.verify_schedule AS v (sync_name, every) VALUES (set_verify.sync, set_verify.every)
    ON CONFLICT (sync_name) DO UPDATE SET every = EXCLUDED.every, updated_at = now();
    PERFORM pg_notify('mmsync_config', set_verify.sync);
    RETURN CASE WHEN set_verify.every IS NULL
                THEN format('sync "%s": no scheduled compares on node %s (mmsync compare by hand)', set_verify.sync, @extschema@.local_node())
                ELSE format('sync "%s": node %s compares it with each peer every %s', set_verify.sync, @extschema@.local_node(), set_verify.every) END;
END
$$;

-- For the local engine: the (sync, peer) pairs whose scheduled compare is due: the sync is
-- running (not paused, no copy under way, the peer not waiting for a resync) and neither node has
-- compared the pair (or run a scheduled compare that failed) within the interval.
CREATE FUNCTION @extschema@._verify_due()
RETURNS TABLE (sync text, peer text, every interval)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.name, p.peer, coalesce(v.every, CASE WHEN v.sync_name IS NULL THEN interval '1 day' END)
    FROM @extschema@.syncs s
    CROSS JOIN LATERAL unnest(s.nodes) AS p(peer)
    LEFT JOIN @extschema@.verify_schedule v ON v.sync_name = s.name
    WHERE NOT s.removed AND NOT s.paused
      AND p.peer IS DISTINCT FROM @extschema@.local_node()
      AND @extschema@.local_node() = ANY (s.nodes)
      AND (v.sync_name IS NULL OR v.every IS NOT NULL)
      AND s.created_at < now() - coalesce(v.every, interval '1 day')
      AND NOT EXISTS (SELECT 1 FROM @extschema@.compare_runs r
                      WHERE r.sync_name = s.name AND r.peer = p.peer
                        AND r.started_at >= now() - coalesce(v.every, interval '1 day'))
      AND NOT EXISTS (SELECT 1 FROM @extschema@.resync_needed x WHERE x.sync_name = s.name AND x.peer = p.peer)
      AND NOT @extschema@._copying(s.name, p.peer)
    ORDER BY s.name, p.peer
$$;
