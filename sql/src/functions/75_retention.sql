-- Queue retention: status warnings and limits for a peer that stays away (docs/operations.md).

-- The policy in force for a sync on this node: its row in retention, else the defaults.
CREATE FUNCTION @extschema@._retention_of(p_sync text,
    OUT max_changes bigint, OUT max_age interval, OUT warn_changes bigint, OUT warn_age interval)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT r.max_changes, r.max_age, coalesce(r.warn_changes, 1000000), coalesce(r.warn_age, interval '1 hour')
    FROM (SELECT 1) AS one LEFT JOIN @extschema@.retention r ON r.sync_name = p_sync
$$;

-- Sets the whole retention policy of a sync's queue on this node (call it on every node: each
-- applies its own). max_changes / max_age NULL: no limit. The warning thresholds default to
-- 1,000,000 changes and 1 hour, and to half the limit when a limit is lower than that.
-- Past a limit, the local agent marks the peer as needing a resync and drops what is queued for it.
CREATE FUNCTION @extschema@.set_retention(sync text, max_changes bigint DEFAULT NULL,
    max_age interval DEFAULT NULL, warn_changes bigint DEFAULT NULL, warn_age interval DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_warn_n bigint := coalesce(set_retention.warn_changes,
                                CASE WHEN set_retention.max_changes IS NULL THEN 1000000
                                     ELSE least(1000000, greatest(1, set_retention.max_changes / 2)) END);
    v_warn_a interval := coalesce(set_retention.warn_age,
                                  least(interval '1 hour', set_retention.max_age / 2));
BEGIN
    PERFORM @extschema@._sync_id(set_retention.sync);
    IF set_retention.max_changes IS NOT NULL AND set_retention.max_changes < 1 THEN
        RAISE EXCEPTION 'mmsync: max_changes for sync "%" must be at least 1, not %', set_retention.sync, set_retention.max_changes;
    END IF;
    IF set_retention.max_age IS NOT NULL AND set_retention.max_age <= interval '0' THEN
        RAISE EXCEPTION 'mmsync: max_age for sync "%" must be positive, not %', set_retention.sync, set_retention.max_age;
    END IF;
    IF v_warn_n < 1 OR v_warn_a <= interval '0' THEN
        RAISE EXCEPTION 'mmsync: warning thresholds for sync "%" must be positive (warn_changes %, warn_age %)',
            set_retention.sync, v_warn_n, v_warn_a;
    END IF;
    IF v_warn_n > set_retention.max_changes OR v_warn_a > set_retention.max_age THEN
        RAISE EXCEPTION 'mmsync: warning thresholds for sync "%" (% changes, %) must not exceed its limits (% changes, %)',
            set_retention.sync, v_warn_n, v_warn_a, set_retention.max_changes, set_retention.max_age;
    END IF;
    INSERT INTO @extschema@.retention AS r (sync_name, max_changes, max_age, warn_changes, warn_age)
    VALUES (set_retention.sync, set_retention.max_changes, set_retention.max_age, v_warn_n, v_warn_a)
    ON CONFLICT (sync_name) DO UPDATE SET max_changes = EXCLUDED.max_changes, max_age = EXCLUDED.max_age,
        warn_changes = EXCLUDED.warn_changes, warn_age = EXCLUDED.warn_age, updated_at = now();
    PERFORM pg_notify('mmsync_config', set_retention.sync);
    RETURN format('sync "%s": warn at %s changes or %s; %s', set_retention.sync, v_warn_n, v_warn_a,
        CASE WHEN set_retention.max_changes IS NULL AND set_retention.max_age IS NULL THEN 'no limit'
             ELSE 'a peer past ' || concat_ws(' or ', set_retention.max_changes || ' changes', set_retention.max_age::text)
                  || ' needs a resync' END);
END
$$;

-- Called by the local agent every round (and usable from cron while no agent runs): marks every
-- peer past a retention limit as needing a resync, dropping in the same transaction the changes
-- queued for it (a sender checks the mark after each read, so it never sends past the hole), and
-- keeps the queues of syncs with such peers purged. Returns one row per peer newly marked.
CREATE FUNCTION @extschema@._enforce_retention()
RETURNS TABLE (sync text, peer text, dropped bigint, reason text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v        record;
    v_n      bigint;
    v_oldest timestamptz;
    v_reason text;
BEGIN
    FOR v IN
        SELECT s.id, s.name, p.peer, r.max_changes, r.max_age, l.confirmed_lo
        FROM @extschema@.syncs s
        JOIN @extschema@.retention r ON r.sync_name = s.name
        CROSS JOIN LATERAL unnest(s.nodes) AS p(peer)
        LEFT JOIN @extschema@.links l ON l.sync_name = s.name AND l.peer = p.peer
        WHERE NOT s.removed AND p.peer <> @extschema@.local_node()
          AND (r.max_changes IS NOT NULL OR r.max_age IS NOT NULL)
          AND NOT EXISTS (SELECT 1 FROM @extschema@.resync_needed x WHERE x.sync_name = s.name AND x.peer = p.peer)
    LOOP
        v_reason := NULL;
        IF v.max_changes IS NOT NULL THEN
            SELECT count(*) INTO v_n FROM (
                SELECT 1 FROM @extschema@.changes c WHERE c.sync_id = v.id
                  AND (v.confirmed_lo IS NULL OR NOT pg_visible_in_snapshot(c.xid, v.confirmed_lo))
                LIMIT v.max_changes + 1) AS x;
            IF v_n > v.max_changes THEN
                v_reason := format('more than %s changes queued', v.max_changes);
            END IF;
        END IF;
        IF v_reason IS NULL AND v.max_age IS NOT NULL THEN
            SELECT c.at INTO v_oldest FROM @extschema@.changes c WHERE c.sync_id = v.id
              AND (v.confirmed_lo IS NULL OR NOT pg_visible_in_snapshot(c.xid, v.confirmed_lo))
            ORDER BY c.id LIMIT 1;
            IF v_oldest < now() - v.max_age THEN
                v_reason := format('a change queued for longer than %s', v.max_age);
            END IF;
        END IF;
        CONTINUE WHEN v_reason IS NULL;
        SELECT b.backlog INTO v_n FROM @extschema@._backlog(v.id, v.peer) b;
        INSERT INTO @extschema@.resync_needed (sync_name, peer, dropped, reason)
        VALUES (v.name, v.peer, v_n, v_reason);
        sync := v.name;
        peer := v.peer;
        dropped := v_n;
        reason := v_reason;
        RETURN NEXT;
    END LOOP;
    -- Nobody left to send to: the queue of a sync whose every peer is marked is dropped. (With a
    -- marked peer among others, _purge skips the marked one: the others still get everything.)
    -- The queue is looked at only for such a sync: with its EXISTS in this query the planner
    -- hashed the whole queue every round (issue 14: 24-31 ms a round under pgbench -N).
    FOR v IN
        SELECT s.id FROM @extschema@.syncs s
        WHERE NOT s.removed
          AND NOT EXISTS (SELECT 1 FROM unnest(s.nodes) AS p(peer)
                          WHERE p.peer <> @extschema@.local_node()
                            AND NOT EXISTS (SELECT 1 FROM @extschema@.resync_needed x
                                            WHERE x.sync_name = s.name AND x.peer = p.peer))
    LOOP
        IF EXISTS (SELECT 1 FROM @extschema@.changes c WHERE c.sync_id = v.id) THEN
            DELETE FROM @extschema@.changes c WHERE c.sync_id = v.id;
        END IF;
    END LOOP;
END
$$;

-- After a resync of the peer (docs/operations.md): lets the local sender send to it again. From
-- this call on, changes made here queue for the peer again; copy the tables after it, not before.
CREATE FUNCTION @extschema@.clear_resync(sync text, peer text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM @extschema@._sync_id(clear_resync.sync);
    DELETE FROM @extschema@.resync_needed r WHERE r.sync_name = clear_resync.sync AND r.peer = clear_resync.peer;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'mmsync: node "%" of sync "%" is not marked as needing a resync', clear_resync.peer, clear_resync.sync;
    END IF;
    PERFORM pg_notify('mmsync_changes', 'kick');
    RETURN format('sync "%s": node "%s" gets changes again from now on', clear_resync.sync, clear_resync.peer);
END
$$;
