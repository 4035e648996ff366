-- Queue maintenance (issue 14): the queue's three tables (@extschema@.change_queue) are emptied
-- with TRUNCATE and rotated, never purged row by row. Called through @extschema@._purge by every
-- link after its confirmations and while idle; one caller at a time (transaction-level advisory
-- lock (1835889520, 0); 1835889520 is 'mmsp'): a second caller returns at once, so calls never
-- pile up. The caller bounds it with a statement_timeout; a table's lock is waited for at most
-- 20 ms (then it is skipped, waiting = true, and tried again at the next call), so neither the
-- readers nor, ever, the writers (they only insert into the current table) are held up.
--
-- 1. purged: the changes no peer needs any more, as _purge decided them row by row in 0.1.0: for
--    each sync and peer (not marked as needing a resync) the newest purge mark whose peer horizon
--    this node has applied (@extschema@.purge_marks: the conflict window is kept), and purged is
--    the meet of their confirmed snapshots (visible in it = visible in every one). A peer without
--    such a mark holds purged where it is, unless its sync has no change in the queue.
-- 2. A table that is no longer current (ended is set) is truncated once pg_snapshot_xmin(purged)
--    >= pg_snapshot_xmax(ended): every transaction that could write into it (it took an id of
--    the table's epoch before the next epoch began, and had its transaction id before that) has
--    finished, and each committed one is visible in every peer's confirmed snapshot. (ended's
--    xmax is a transaction id taken after the switch, @extschema@._queue_ended: a snapshot's
--    own xmax is one past the newest finished transaction, below a running one's id.)
-- 3. floor: the first id of the oldest table still needed (readers skip the rest by the index).
-- 4. Rotation: when the current table is 250 ms old and holds changes, and the next one is
--    empty, the id sequence is set to the next epoch's first id; ended is a snapshot taken after
--    that. If the sequence moved on without the bookkeeping (this transaction rolled back after
--    its setval, or an epoch's 2^24 ids ran out) the next call records the switch, with a later
--    (so safe) ended.
CREATE FUNCTION @extschema@._queue_maintain(OUT truncated integer, OUT rotated boolean, OUT waiting boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c_rotate_after constant interval := interval '250 milliseconds';
    v_now     pg_snapshot;
    v_state   record;
    v_purged  pg_snapshot;
    v_snaps   pg_snapshot[] := '{}';
    v_blocked boolean := false;
    v_sync    record;
    v_peer    text;
    v_mark    record;
    v_cur     record;
    v_epoch   bigint;
    v_t       record;
    v_floor   bigint;
BEGIN
    truncated := 0;
    rotated := false;
    waiting := false;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'mmsync: queue maintenance needs READ COMMITTED, not %', current_setting('transaction_isolation')
            USING HINT = 'call it in a transaction of its own with the default isolation level';
    END IF;
    IF NOT pg_try_advisory_xact_lock(1835889520, 0) THEN
        RETURN;
    END IF;
    PERFORM set_config('lock_timeout', '20ms', true);
    v_now := pg_current_snapshot();

    -- the sequence ahead of the bookkeeping: record the switch now
    SELECT * INTO v_cur FROM @extschema@.queue_tables WHERE epoch IS NOT NULL AND ended IS NULL;
    -- read under the sequence's buffer lock: a SELECT from the sequence can see the value 32 ids
    -- ahead that nextval writes into its page while it logs (an epoch ended before its last id
    -- was handed out); NULL just after the rotation's setval, when last_value is the next id
    v_epoch := coalesce(pg_sequence_last_value('@extschema@.change_queue_id_seq'::regclass),
                        (SELECT s.last_value FROM @extschema@.change_queue_id_seq s)) >> 24;
    WHILE v_epoch > v_cur.epoch LOOP
        UPDATE @extschema@.queue_tables SET ended = @extschema@._queue_ended() WHERE slot = v_cur.slot;
        UPDATE @extschema@.queue_tables t
        SET first_epoch = CASE WHEN t.epoch IS NULL OR t.truncated THEN v_cur.epoch + 1 ELSE t.first_epoch END,
            epoch = v_cur.epoch + 1, started = now(), ended = NULL, truncated = false
        WHERE t.slot = (v_cur.epoch + 1) % 3
        RETURNING * INTO v_cur;
    END LOOP;

    -- 1. what no peer needs any more
    SELECT q.purged, q.floor INTO v_state FROM @extschema@.queue_state q;
    FOR v_sync IN SELECT s.id, s.name, s.nodes FROM @extschema@.syncs s LOOP
        FOR v_peer IN SELECT p FROM unnest(v_sync.nodes) p
                      WHERE p <> @extschema@.local_node()
                        AND NOT EXISTS (SELECT 1 FROM @extschema@.resync_needed x
                                        WHERE x.sync_name = v_sync.name AND x.peer = p) LOOP
            SELECT m.id, m.confirmed_lo INTO v_mark
            FROM @extschema@.purge_marks m
            JOIN @extschema@.progress pr ON pr.sync_name = m.sync_name AND pr.origin = m.peer
            WHERE m.sync_name = v_sync.name AND m.peer = v_peer AND pr.lo IS NOT NULL
              AND pg_snapshot_xmax(m.peer_horizon) <= pg_snapshot_xmin(pr.lo)
            ORDER BY m.id DESC LIMIT 1;
            IF FOUND THEN
                DELETE FROM @extschema@.purge_marks m
                WHERE m.sync_name = v_sync.name AND m.peer = v_peer AND m.id < v_mark.id;
                v_snaps := v_snaps || v_mark.confirmed_lo;
            ELSIF EXISTS (SELECT 1 FROM @extschema@.changes c WHERE c.sync_id = v_sync.id) THEN
                v_blocked := true;
            END IF;
        END LOOP;
    END LOOP;
    IF v_blocked THEN
        v_purged := v_state.purged;
    ELSE
        -- a sync that added no snapshot has no change in the queue, and every snapshot here was
        -- taken before the checks above: all it shows committed, they saw
        v_purged := CASE WHEN cardinality(v_snaps) = 0 THEN v_now ELSE @extschema@._snapshot_meet(v_snaps) END;
        IF v_purged::text IS DISTINCT FROM v_state.purged::text THEN
            UPDATE @extschema@.queue_state SET purged = v_purged;
        END IF;
    END IF;

    -- 2. truncate what nobody needs
    FOR v_t IN SELECT t.slot FROM @extschema@.queue_tables t
               WHERE t.ended IS NOT NULL AND NOT t.truncated AND v_purged IS NOT NULL
                 AND pg_snapshot_xmin(v_purged) >= pg_snapshot_xmax(t.ended)
               ORDER BY t.epoch LOOP
        BEGIN
            EXECUTE format('LOCK TABLE @extschema@.%I IN ACCESS EXCLUSIVE MODE', 'changes_' || v_t.slot);
            -- with the lock held, nobody is writing into the table; if the epoch ran out since
            -- the check above, a writer may have written into it and committed: next call
            IF (SELECT s.last_value >> 24 FROM @extschema@.change_queue_id_seq s) = v_cur.epoch THEN
                EXECUTE format('TRUNCATE @extschema@.%I', 'changes_' || v_t.slot);
                UPDATE @extschema@.queue_tables SET truncated = true WHERE slot = v_t.slot;
                truncated := truncated + 1;
            END IF;
        EXCEPTION WHEN lock_not_available THEN
            waiting := true;
        END;
    END LOOP;

    -- 3. the first id still needed
    SELECT min(t.first_epoch) << 24 INTO v_floor FROM @extschema@.queue_tables t
    WHERE t.epoch IS NOT NULL AND NOT t.truncated
      AND NOT coalesce(t.ended IS NOT NULL AND pg_snapshot_xmin(v_purged) >= pg_snapshot_xmax(t.ended), false);
    IF v_floor IS DISTINCT FROM v_state.floor THEN
        UPDATE @extschema@.queue_state SET floor = v_floor;
    END IF;

    -- 4. rotate
    IF v_cur.started <= now() - c_rotate_after
       AND EXISTS (SELECT 1 FROM @extschema@.queue_tables n
                   WHERE n.slot = (v_cur.epoch + 1) % 3 AND (n.epoch IS NULL OR n.truncated)) THEN
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM @extschema@.%I)', 'changes_' || v_cur.slot) INTO rotated;
        IF rotated THEN
            UPDATE @extschema@.queue_tables
            SET epoch = v_cur.epoch + 1, first_epoch = v_cur.epoch + 1, started = now(), ended = NULL, truncated = false
            WHERE slot = (v_cur.epoch + 1) % 3;
            -- never backwards (the epoch might just have run out by itself)
            PERFORM setval('@extschema@.change_queue_id_seq',
                           greatest((v_cur.epoch + 1) << 24, (SELECT s.last_value + 1 FROM @extschema@.change_queue_id_seq s)), false);
            -- after the setval: its xmax is above every transaction that took an id of the table
            UPDATE @extschema@.queue_tables SET ended = @extschema@._queue_ended() WHERE slot = v_cur.slot;
        END IF;
    END IF;
END
$$;

-- The meet of snapshots: a transaction is visible in it iff it is visible in every one of them.
CREATE FUNCTION @extschema@._snapshot_meet(p_snaps pg_snapshot[]) RETURNS pg_snapshot
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH b AS (SELECT min(pg_snapshot_xmin(s)) AS xmin, min(pg_snapshot_xmax(s)) AS xmax FROM unnest(p_snaps) s)
    SELECT (least(b.xmin, b.xmax)::text || ':' || b.xmax::text || ':'
            || coalesce((SELECT string_agg(d.x::text, ',' ORDER BY d.x)
                         FROM (SELECT DISTINCT x FROM unnest(p_snaps) s, pg_snapshot_xip(s) x WHERE x < b.xmax) d), ''))::pg_snapshot
    FROM b
$$;
