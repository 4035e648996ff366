-- Designated write node and the queries of the agent's health endpoint (docs/health.md).

-- The designated write node as jsonb, set_at in UTC with microseconds so that two nodes render
-- the same setting identically (the health watcher compares these texts).
CREATE FUNCTION @extschema@._primary_setting() RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('node', p.node, 'version', p.version, 'set_on', p.set_on,
        'set_at', to_char(p.set_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
    FROM @extschema@.primary_node p
$$;

-- Makes p_node (NULL: nobody) the designated write node of the pair. Call it on either node:
-- the agents carry the newest setting (latest set_at, then set_on) to the peers within about a
-- second. /primary answers 200 on the designated node, and /writer makes HAProxy hand the writes
-- over to it once it is caught up (docs/health.md, "Planned switchover").
CREATE FUNCTION @extschema@.set_primary(node text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_local text := @extschema@.local_node();
    v_cur   record;
    v_at    timestamptz := clock_timestamp();
BEGIN
    IF v_local IS NULL THEN
        RAISE EXCEPTION 'mmsync: this database is not registered as a node'
            USING HINT = 'Call mmsync.add_node(''blue'', ''<conninfo>'', true) for this database first.';
    END IF;
    IF set_primary.node IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM @extschema@.nodes n WHERE n.name = set_primary.node) THEN
        RAISE EXCEPTION 'mmsync: node % does not exist', quote_literal(set_primary.node)
            USING HINT = 'Known nodes: ' || coalesce((SELECT string_agg(n.name, ', ' ORDER BY n.name)
                                                      FROM @extschema@.nodes n), 'none');
    END IF;
    SELECT p.version, p.set_at INTO v_cur FROM @extschema@.primary_node p FOR UPDATE;
    IF FOUND AND v_cur.set_at >= v_at THEN
        -- A setting received from a peer whose clock runs ahead: stay newer than it anyway.
        v_at := v_cur.set_at + interval '1 microsecond';
    END IF;
    INSERT INTO @extschema@.primary_node AS p (one, node, version, set_at, set_on)
    VALUES (true, set_primary.node, coalesce(v_cur.version, 0) + 1, v_at, v_local)
    ON CONFLICT (one) DO UPDATE SET node = EXCLUDED.node, version = EXCLUDED.version,
        set_at = EXCLUDED.set_at, set_on = EXCLUDED.set_on;
    PERFORM pg_notify('mmsync_primary', coalesce(set_primary.node, ''));
    RETURN CASE WHEN set_primary.node IS NULL
        THEN 'no designated write node any more; HAProxy''s static order decides'
        ELSE format('node "%s" is now the designated write node (set on "%s"); the agents carry it to the peers',
                    set_primary.node, v_local) END;
END
$$;

-- The designated write node, or NULL when none is set.
CREATE FUNCTION @extschema@.primary() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT p.node FROM @extschema@.primary_node p
$$;

-- Called by a health watcher with a peer's setting (see _primary_setting): takes it if it is
-- newer than the local one. Returns true if taken.
CREATE FUNCTION @extschema@._receive_primary(p_setting jsonb) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_at  timestamptz;
    v_on  text := p_setting->>'set_on';
    v_cur record;
BEGIN
    IF p_setting IS NULL OR jsonb_typeof(p_setting) <> 'object' OR v_on IS NULL
       OR p_setting->>'set_at' IS NULL OR p_setting->>'version' IS NULL THEN
        RAISE EXCEPTION 'mmsync: malformed designated-node setting %', p_setting;
    END IF;
    v_at := (p_setting->>'set_at')::timestamptz;
    SELECT p.set_at, p.set_on INTO v_cur FROM @extschema@.primary_node p FOR UPDATE;
    IF FOUND AND (v_cur.set_at, v_cur.set_on) >= (v_at, v_on) THEN
        RETURN false;
    END IF;
    INSERT INTO @extschema@.primary_node AS p (one, node, version, set_at, set_on)
    VALUES (true, p_setting->>'node', (p_setting->>'version')::bigint, v_at, v_on)
    ON CONFLICT (one) DO UPDATE SET node = EXCLUDED.node, version = EXCLUDED.version,
        set_at = EXCLUDED.set_at, set_on = EXCLUDED.set_on;
    PERFORM pg_notify('mmsync_primary', coalesce(p_setting->>'node', ''));
    RETURN true;
END
$$;

-- One tick of the local health watcher: beats this node's health heartbeat (at most once a
-- second, and only when the database is writable) and returns this node's name and its peers.
-- The conninfo goes to the agent only; the endpoint never shows it.
CREATE FUNCTION @extschema@._health_tick(p_started_at timestamptz,
    OUT node text, OUT peers jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    node := @extschema@.local_node();
    peers := coalesce((SELECT jsonb_object_agg(n.name, n.conninfo) FROM @extschema@.nodes n
                       WHERE NOT n.is_local), '{}');
    IF node IS NULL OR pg_is_in_recovery() OR current_setting('transaction_read_only')::boolean THEN
        RETURN;
    END IF;
    INSERT INTO @extschema@.health_beat AS b (node, started_at, beat_at)
    VALUES (node, p_started_at, clock_timestamp())
    ON CONFLICT ON CONSTRAINT health_beat_pkey DO UPDATE
        SET started_at = EXCLUDED.started_at, beat_at = EXCLUDED.beat_at
        WHERE b.beat_at < clock_timestamp() - interval '900 milliseconds' OR b.started_at <> EXCLUDED.started_at;
END
$$;

-- What a probe needs from the local database, in one round trip. started_at tells the endpoint
-- that the server restarted since it last took the writes.
CREATE FUNCTION @extschema@._health_local(OUT node text, OUT in_recovery boolean,
    OUT read_only boolean, OUT primary_node text, OUT started_at timestamptz)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT @extschema@.local_node(), pg_is_in_recovery(),
           current_setting('default_transaction_read_only')::boolean, @extschema@.primary(),
           pg_postmaster_start_time()
$$;

-- Asked locally by the watcher of peer p_peer: what this node still has to send to that peer,
-- summed over the syncs (backlog), the age of the oldest such change (lag_seconds), whether some
-- of it waits on a link that is not delivering (link_down: any state but "in sync" and "catching
-- up", e.g. disconnected, paused, needs resync), and the local designated-node setting.
CREATE FUNCTION @extschema@._health_link(p_peer text,
    OUT backlog bigint, OUT lag_seconds numeric, OUT link_down boolean, OUT primary_setting jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(sum(s.backlog), 0)::bigint, coalesce(max(s.lag_seconds), 0),
           coalesce(bool_or(s.backlog > 0 AND s.state NOT IN ('in sync', 'catching up')), false),
           @extschema@._primary_setting()
    FROM @extschema@.status() s WHERE s.peer = p_peer
$$;

-- Asked by the health watcher of node p_asker over its connection to this node: is this node
-- writable, what does it still have to send to p_asker (backlog, age of the oldest change, and
-- whether its link to p_asker is down with changes waiting), how old is this node's health
-- heartbeat (NULL: none), and its designated-node setting.
CREATE FUNCTION @extschema@._health_peer_view(p_asker text,
    OUT node text, OUT in_recovery boolean, OUT read_only boolean, OUT backlog bigint,
    OUT lag_seconds numeric, OUT link_down boolean, OUT beat_age_seconds numeric,
    OUT primary_setting jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT @extschema@.local_node(), pg_is_in_recovery(),
           current_setting('default_transaction_read_only')::boolean,
           l.backlog, l.lag_seconds, l.link_down,
           (SELECT round(extract(epoch FROM clock_timestamp() - b.beat_at)::numeric, 3)
            FROM @extschema@.health_beat b WHERE b.node = @extschema@.local_node()),
           l.primary_setting
    FROM @extschema@._health_link(p_asker) l
$$;
