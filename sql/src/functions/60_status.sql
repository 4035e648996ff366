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
--   state: paused | disconnected | copying | catching up | in sync | differs | needs resync
--   (differs: the last mmsync compare, run from this node or the peer (it records its run on
--   both), found rows that differ and no mmsync repair has fixed them yet, a compare that finds
--   none clears it; or changes of one node are set aside on the other, see set_aside)
--   backlog / lag_seconds: changes made here that the peer has not applied, and the age of
--   the oldest of them; rows_sent: changes applied at the peer; rows_applied: changes from
--   the peer applied here; last_error: the link's last error, preceded by a warning when the
--   backlog is over the sync's warning threshold (set_retention) or the peer needs a resync;
--   conflicts: conflicts between changes from the peer and this node's rows, recorded here in
--   @extschema@.conflicts (until the DBA deletes them); set_aside: changes from the peer that
--   could not be applied here yet (@extschema@.set_aside, retried until they apply; changes of
--   this node set aside on the peer are named in last_error);
--   engine: which host runs this node's engine now (agent, worker, or none; with its pid), from
--   @extschema@.engine_host();
--   merged_deltas: conflicts of changes from the peer that lost nothing (the two versions differed
--   only in delta columns, added up): counted in @extschema@.conflict_counts, not logged.
--   verified_at: when a compare of the two nodes (mmsync compare, or the engine's scheduled one,
--   see set_verify) last found them identical; NULL: never.
CREATE FUNCTION @extschema@.status()
RETURNS TABLE (sync text, peer text, state text, backlog bigint, lag_seconds numeric,
               rows_sent bigint, rows_applied bigint, last_error text, conflicts bigint, set_aside bigint,
               merged_deltas bigint, engine text, verified_at timestamptz)
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
    v_cmp   record;
    v_engine text;
BEGIN
    SELECT h.host || coalesce(' (pid ' || h.pid || ')', '') INTO v_engine FROM @extschema@.engine_host() h;
    FOR v_r IN
        SELECT s.id, s.name, s.paused, p.peer, l.state AS lstate, l.heartbeat_at, l.sent,
               l.last_error AS lerr, pr.applied, coalesce(l.peer_set_aside, 0) AS peer_set_aside
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
        engine := v_engine;
        backlog := v_b.backlog;
        lag_seconds := coalesce(round(extract(epoch FROM clock_timestamp() - v_b.oldest)::numeric, 3), 0);
        rows_sent := coalesce(v_r.sent, 0);
        rows_applied := coalesce(v_r.applied, 0);
        last_error := v_r.lerr;
        SELECT count(*) INTO conflicts FROM @extschema@.conflicts c WHERE c.sync_name = v_r.name AND c.origin = v_r.peer;
        merged_deltas := coalesce((SELECT n.merged FROM @extschema@.conflict_counts n
                                   WHERE n.sync_name = v_r.name AND n.origin = v_r.peer), 0);
        IF v_r.paused THEN
            state := 'paused';
        ELSIF v_r.heartbeat_at IS NULL OR v_r.heartbeat_at < clock_timestamp() - interval '30 seconds' THEN
            state := 'disconnected';
            last_error := coalesce('agent not running: no heartbeat since '
                                   || to_char(v_r.heartbeat_at, 'YYYY-MM-DD HH24:MI:SS TZ'),
                                   'agent not running: no heartbeat yet');
        ELSIF v_r.lstate IN ('connecting', 'disconnected', 'error', 'starting') THEN
            state := 'disconnected';
        ELSIF @extschema@._copying(v_r.name, v_r.peer) THEN
            state := 'copying';  -- initial => 'copy' not finished: see mmsync.copy_status()
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
        IF v_r.peer_set_aside > 0 THEN
            v_warn := concat_ws('; ', v_warn, format('%s changes from node %s could not be applied on node %s and are set aside'
                || ' there (mmsync.status() on node %s names the first); they are retried until they apply',
                v_r.peer_set_aside, v_local, v_r.peer, v_r.peer));
        END IF;
        -- the newest compare of the pair (from either node, by hand or scheduled) that found them identical
        SELECT max(r.finished_at) INTO verified_at FROM @extschema@.compare_runs r
        WHERE r.sync_name = v_r.name AND r.peer = v_r.peer AND r.outcome = 'identical';
        IF state IN ('in sync', 'catching up') THEN
            -- never "in sync" while the last compare here found rows that still differ (issue 17)
            SELECT r.id, r.finished_at,
                   (SELECT count(*) FROM @extschema@.compare_diffs d WHERE d.run_id = r.id AND d.repaired IS NULL) AS open
            INTO v_cmp FROM @extschema@.compare_runs r
            WHERE r.sync_name = v_r.name AND r.peer = v_r.peer AND r.outcome IN ('identical', 'different')
            ORDER BY r.id DESC LIMIT 1;
            IF FOUND AND v_cmp.open > 0 THEN
                state := 'differs';
                v_warn := concat_ws('; ', v_warn, format('%s rows differ between node %s and node %s (mmsync compare #%s'
                    || ' at %s; SELECT * FROM mmsync.compare(%L) lists them); mmsync repair makes them equal',
                    v_cmp.open, v_local, v_r.peer, v_cmp.id, to_char(v_cmp.finished_at, 'YYYY-MM-DD HH24:MI:SS TZ'), v_r.name));
            END IF;
        END IF;
        IF state = 'in sync' AND (set_aside > 0 OR v_r.peer_set_aside > 0) THEN
            state := 'differs';  -- changes set aside on either node: the nodes differ until they apply
        END IF;
        IF v_warn IS NOT NULL THEN
            last_error := v_warn || coalesce('; ' || last_error, '');
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;

-- Waits until every change of the sync committed here before the call has been applied at
-- every peer; returns true, or false on timeout. For scripts and tests: "applied up to X". A change
-- the peer set aside (it could not apply it, see status()) is not applied: while a peer holds
-- changes of this node set aside, the call waits for their retries and on timeout returns false
-- with a NOTICE naming the peer.
CREATE FUNCTION @extschema@.wait_synced(name text, timeout interval DEFAULT '60 seconds')
RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_id       integer := @extschema@._sync_id(wait_synced.name);
    v_deadline timestamptz := clock_timestamp() + wait_synced.timeout;
    v_max      bigint := (SELECT coalesce(max(id), 0) FROM @extschema@.changes WHERE sync_id = v_id);
    v_held     text;
BEGIN
    LOOP
        IF NOT EXISTS (
            SELECT 1 FROM @extschema@.changes c
            JOIN @extschema@.syncs s ON s.id = c.sync_id
            CROSS JOIN LATERAL unnest(s.nodes) AS p(peer)
            LEFT JOIN @extschema@.links l ON l.sync_name = s.name AND l.peer = p.peer
            WHERE c.sync_id = v_id AND c.id <= v_max AND p.peer <> @extschema@.local_node()
              AND (l.confirmed_lo IS NULL OR NOT pg_visible_in_snapshot(c.xid, l.confirmed_lo))) THEN
            -- every change confirmed: applied, unless the peer set it aside (links.peer_set_aside,
            -- written before the confirmation of the page that set it aside)
            SELECT string_agg(format('%s on node %s', l.peer_set_aside, l.peer), ', ' ORDER BY l.peer) INTO v_held
            FROM @extschema@.links l JOIN @extschema@.syncs s ON s.name = l.sync_name
            WHERE s.id = v_id AND l.peer_set_aside > 0 AND l.peer = ANY (s.nodes);
            IF v_held IS NULL THEN
                RETURN true;
            END IF;
        END IF;
        IF clock_timestamp() > v_deadline THEN
            IF v_held IS NOT NULL THEN
                RAISE NOTICE 'mmsync.wait_synced(%): changes of node % are set aside (could not be applied): %',
                    wait_synced.name, @extschema@.local_node(), v_held
                    USING HINT = 'mmsync.status() on that node names the first change and its error; they are retried until they apply';
            END IF;
            RETURN false;
        END IF;
        v_held := NULL;
        PERFORM pg_sleep(0.02);
    END LOOP;
END
$$;
