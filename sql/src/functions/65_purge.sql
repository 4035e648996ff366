-- Purges the queue (called by the agent after each completed range and while idle): what was
-- a DELETE per change is now @extschema@._queue_maintain (truncates and rotates the queue's
-- tables, for every sync at once), and @extschema@._purge_row_versions (the row versions of
-- syncs of three or more nodes no change can still need). Kept with its 0.1.0 signature so that an agent works with
-- either version. purged: queue tables truncated; more: a table was due but its lock was not
-- free (the caller should call again soon).
CREATE FUNCTION @extschema@._purge(p_sync_id integer, p_limit integer DEFAULT 20000,
    OUT purged bigint, OUT more boolean)
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT m.truncated::bigint, m.waiting FROM @extschema@._queue_maintain() m, @extschema@._purge_row_versions() r
$$;

-- Keeps the marks table small when the peer's horizon is not covered yet (peer idle or away):
-- at most the newest 1,000 marks of a link are kept. p_horizon_at: the peer's clock when it took
-- p_horizon (NULL from an agent older than 0.2.0).
CREATE FUNCTION @extschema@._add_purge_mark(p_sync text, p_peer text, p_lo pg_snapshot, p_horizon pg_snapshot,
    p_horizon_at timestamptz DEFAULT NULL)
RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO @extschema@.purge_marks (sync_name, peer, confirmed_lo, peer_horizon, peer_horizon_at)
    VALUES (p_sync, p_peer, p_lo, p_horizon, p_horizon_at);
    DELETE FROM @extschema@.purge_marks m WHERE m.sync_name = p_sync AND m.peer = p_peer
      AND m.id <= (SELECT m2.id FROM @extschema@.purge_marks m2 WHERE m2.sync_name = p_sync AND m2.peer = p_peer
                   ORDER BY m2.id DESC OFFSET 1000 LIMIT 1);
$$;
