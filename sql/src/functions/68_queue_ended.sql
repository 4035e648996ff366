-- The record of a queue table's end (ended in @extschema@.queue_tables, issue 17), taken once the
-- id sequence is past the table's epochs: the snapshot now, with its xmax raised to a transaction
-- id taken now. A snapshot's own xmax will not do: it is one past the newest *finished*
-- transaction, so a transaction that took its id before, took a queue id of the table, and is
-- still running can be at or above it (and is not in the snapshot's xip either, which holds
-- only running ids below xmax). With such an xmax, the table was truncated once every peer had
-- confirmed a snapshot with that xmin, and the running transaction's change in it was gone before
-- it was sent: WaitSyncedIT and BurstEndIT found a writer's insert lost, its next change (an
-- update in the same transaction, in the next table) applied, wait_synced true. A transaction id
-- taken now is above every id taken before, and every transaction that took an id of the table
-- had its transaction id before that (the capture takes the queue id after the row's write): so
-- once xmin(purged) >= xmax(ended), each of them has finished and is confirmed by every peer.
-- The id is a subtransaction's, taken by a write in a block of its own: the transaction's own id
-- may be older than the switch (_queue_maintain writes before its setval).
CREATE FUNCTION @extschema@._queue_ended() RETURNS pg_snapshot
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_snap pg_snapshot := pg_current_snapshot();
    v_top  bigint := pg_current_xact_id()::text::bigint;
    v_sub  xid;
    v_now  bigint;
BEGIN
    BEGIN
        UPDATE @extschema@.queue_state SET floor = floor RETURNING xmin INTO v_sub;
    EXCEPTION WHEN raise_exception THEN
        RAISE;  -- never taken: the handler only makes the block a subtransaction, with an id of its own
    END;
    IF v_sub IS NULL THEN
        RAISE EXCEPTION 'mmsync: the queue state row is missing (internal error)'
            USING HINT = 'INSERT INTO mmsync.queue_state DEFAULT VALUES, then call mmsync._purge again';
    END IF;
    -- the subtransaction's 32-bit id in the top transaction's epoch (newer than it, by less than 2^31)
    v_now := v_top + ((v_sub::text::bigint - v_top % 4294967296) + 4294967296) % 4294967296;
    RETURN (pg_snapshot_xmin(v_snap)::text || ':' || greatest(pg_snapshot_xmax(v_snap)::text::bigint, v_now)::text || ':'
            || coalesce((SELECT string_agg(x::text, ',' ORDER BY x) FROM pg_snapshot_xip(v_snap) x), ''))::pg_snapshot;
END
$$;
