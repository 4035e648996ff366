-- Row-level capture trigger, attached by _attach_table() as
--   AFTER INSERT OR UPDATE OR DELETE ... FOR EACH ROW EXECUTE FUNCTION capture('<sync id>').
-- This is the hottest code of mmsync (bench/capture-cost measures it). It is SECURITY DEFINER so
-- that application roles need no right on the queue (a role that could insert into
-- the queue could make the peer apply rows it may not write).
-- It does not pin its search_path with a SET clause, which would cost a GUC save and restore
-- per row (about 5% of a pgbench -N transaction); instead every name in it is schema-qualified,
-- operators included (OPERATOR(pg_catalog.<>)), so the caller's search_path can resolve
-- nothing in it: keep it that way when editing.
-- It inserts into the queue table its change's id names (one plan per table, see
-- @extschema@.changes_0 for why there are three and why they are not partitions).
-- Row images are jsonb (to_jsonb(row): matched by column name at the peer). A json column would be
-- normalised by that (key order, white space), so a table with json columns gets their names as
-- a second trigger argument and their exact text is kept as a JSON string instead.
-- Changes made by the mmsync applier run with mmsync.origin set and are not captured again
-- (no ping-pong), which needs no superuser rights.
-- Waking the sender: a NOTIFY per transaction serialises committers on the server's
-- NotifyQueueLock and wakes the sender at every commit, so one is sent only while a sender is
-- idle. An idle sender holds the advisory lock (1835889529 = 'mmsy', sync id) exclusively (see
-- io.mmsync.engine.send.Wakeup); a writer that gets it shared, kept to the end of its transaction,
-- knows that the sender is polling and sends nothing.
CREATE FUNCTION @extschema@.capture() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    v_id pg_catalog.int8;
BEGIN
    IF pg_catalog.current_setting('mmsync.origin', true) OPERATOR(pg_catalog.<>) '' THEN
        RETURN NULL;
    END IF;
    -- the id names the queue table: (id >> 24) % 3 (see @extschema@.changes_0)
    v_id := pg_catalog.nextval('@extschema@.change_queue_id_seq'::pg_catalog.regclass);
    IF TG_NARGS OPERATOR(pg_catalog.>) 1 THEN
        PERFORM @extschema@._queue_insert(v_id, TG_ARGV[0]::pg_catalog.int4, TG_RELID,
            pg_catalog.left(TG_OP, 1)::pg_catalog."char",
            CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN @extschema@._keep_json_text(
                pg_catalog.to_jsonb(OLD), pg_catalog.row_to_json(OLD), TG_ARGV[1]::pg_catalog.text[]) END,
            CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN @extschema@._keep_json_text(
                pg_catalog.to_jsonb(NEW), pg_catalog.row_to_json(NEW), TG_ARGV[1]::pg_catalog.text[]) END);
    ELSIF (v_id OPERATOR(pg_catalog.>>) 24) OPERATOR(pg_catalog.%) 3 OPERATOR(pg_catalog.=) 0 THEN
        INSERT INTO @extschema@.changes_0 (id, sync_id, relid, op, old, new)
        VALUES (v_id, TG_ARGV[0]::pg_catalog.int4, TG_RELID, pg_catalog.left(TG_OP, 1)::pg_catalog."char",
                CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN pg_catalog.to_jsonb(OLD) END,
                CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN pg_catalog.to_jsonb(NEW) END);
    ELSIF (v_id OPERATOR(pg_catalog.>>) 24) OPERATOR(pg_catalog.%) 3 OPERATOR(pg_catalog.=) 1 THEN
        INSERT INTO @extschema@.changes_1 (id, sync_id, relid, op, old, new)
        VALUES (v_id, TG_ARGV[0]::pg_catalog.int4, TG_RELID, pg_catalog.left(TG_OP, 1)::pg_catalog."char",
                CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN pg_catalog.to_jsonb(OLD) END,
                CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN pg_catalog.to_jsonb(NEW) END);
    ELSE
        INSERT INTO @extschema@.changes_2 (id, sync_id, relid, op, old, new)
        VALUES (v_id, TG_ARGV[0]::pg_catalog.int4, TG_RELID, pg_catalog.left(TG_OP, 1)::pg_catalog."char",
                CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN pg_catalog.to_jsonb(OLD) END,
                CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN pg_catalog.to_jsonb(NEW) END);
    END IF;
    IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(1835889529, TG_ARGV[0]::pg_catalog.int4) THEN
        PERFORM pg_catalog.pg_notify('mmsync_changes', '');
    END IF;
    RETURN NULL;
END
$$;

-- Queues one change into the table its id names (the other capture functions, and INSERT into
-- the view @extschema@.changes).
CREATE FUNCTION @extschema@._queue_insert(p_id bigint, p_sync_id integer, p_relid oid, p_op "char",
    p_old jsonb, p_new jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF (p_id >> 24) % 3 = 0 THEN
        INSERT INTO @extschema@.changes_0 (id, sync_id, relid, op, old, new) VALUES (p_id, p_sync_id, p_relid, p_op, p_old, p_new);
    ELSIF (p_id >> 24) % 3 = 1 THEN
        INSERT INTO @extschema@.changes_1 (id, sync_id, relid, op, old, new) VALUES (p_id, p_sync_id, p_relid, p_op, p_old, p_new);
    ELSE
        INSERT INTO @extschema@.changes_2 (id, sync_id, relid, op, old, new) VALUES (p_id, p_sync_id, p_relid, p_op, p_old, p_new);
    END IF;
END
$$;

-- INSTEAD OF INSERT OR DELETE on the view @extschema@.changes: DELETE (drop_sync, the retention
-- limit) removes the row from its table; INSERT (only a 0.1.0 capture function still running
-- while the extension is updated) queues it as capture() would.
CREATE FUNCTION @extschema@._changes_write() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF (OLD.id >> 24) % 3 = 0 THEN
            DELETE FROM @extschema@.changes_0 c WHERE c.sync_id = OLD.sync_id AND c.id = OLD.id;
        ELSIF (OLD.id >> 24) % 3 = 1 THEN
            DELETE FROM @extschema@.changes_1 c WHERE c.sync_id = OLD.sync_id AND c.id = OLD.id;
        ELSE
            DELETE FROM @extschema@.changes_2 c WHERE c.sync_id = OLD.sync_id AND c.id = OLD.id;
        END IF;
        RETURN OLD;
    END IF;
    NEW.id := coalesce(NEW.id, nextval('@extschema@.change_queue_id_seq'));
    PERFORM @extschema@._queue_insert(NEW.id, NEW.sync_id, NEW.relid, NEW.op, NEW.old, NEW.new);
    RETURN NEW;
END
$$;

-- Replaces the values of the named json columns by their exact text (a JSON string).
CREATE FUNCTION @extschema@._keep_json_text(p_row jsonb, p_json json, p_cols text[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_col text;
BEGIN
    FOREACH v_col IN ARRAY p_cols LOOP
        -- the json value's exact text (-> keeps a bare string's quotes, ->> would drop them); SQL NULL stays null
        p_row := jsonb_set(p_row, ARRAY[v_col], CASE WHEN p_row -> v_col = 'null'::jsonb THEN 'null'::jsonb
                                                     ELSE to_jsonb((p_json -> v_col)::text) END);
    END LOOP;
    RETURN p_row;
END
$$;

-- Capture for a table without a primary key synced as insert-only: inserts are queued; an
-- update or delete cannot be replicated (no key names the row), so it is reported in
-- @extschema@.set_aside and with a WARNING, never dropped in silence.
CREATE FUNCTION @extschema@.capture_keyless() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF pg_catalog.current_setting('mmsync.origin', true) <> '' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM @extschema@._queue_insert(pg_catalog.nextval('@extschema@.change_queue_id_seq'),
            TG_ARGV[0]::integer, TG_RELID, 'I', NULL, pg_catalog.to_jsonb(NEW));
        IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(1835889529, TG_ARGV[0]::integer) THEN
            PERFORM pg_catalog.pg_notify('mmsync_changes', '');
        END IF;
    ELSE
        INSERT INTO @extschema@.set_aside (sync_name, origin, schema_name, table_name, op, old, new, error)
        SELECT s.name, coalesce(@extschema@.local_node(), '?'), TG_TABLE_SCHEMA, TG_TABLE_NAME,
               pg_catalog.left(TG_OP, 1)::"char", pg_catalog.to_jsonb(OLD),
               CASE WHEN TG_OP = 'UPDATE' THEN pg_catalog.to_jsonb(NEW) END,
               TG_OP || ' on insert-only table without primary key is not replicated'
        FROM @extschema@.syncs s WHERE s.id = TG_ARGV[0]::integer;
        RAISE WARNING 'mmsync: % on %.% is not replicated: the table has no primary key (insert-only sync)',
            TG_OP, pg_catalog.quote_ident(TG_TABLE_SCHEMA), pg_catalog.quote_ident(TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END
$$;

-- Statement-level capture of TRUNCATE. The queued change carries how far this node had applied
-- each other node's changes when it truncated ({"seen": {node: {lo, hi, last_id}}}, positions as in
-- progress): the peer then removes exactly the rows this node had, and keeps its own rows that were
-- still on their way here (see docs/conflicts.md). The table's lock, taken before this trigger
-- runs, waits for any apply that wrote the table; the positions are read with a fresh snapshot
-- after it, which only READ COMMITTED gives.
CREATE FUNCTION @extschema@.capture_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF pg_catalog.current_setting('mmsync.origin', true) <> '' THEN
        RETURN NULL;
    END IF;
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'mmsync: TRUNCATE of synced table %.% needs a READ COMMITTED transaction, not %',
            pg_catalog.quote_ident(TG_TABLE_SCHEMA), pg_catalog.quote_ident(TG_TABLE_NAME),
            pg_catalog.current_setting('transaction_isolation')
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'mmsync records which of the peer''s changes the TRUNCATE removes, which needs a snapshot taken '
                      || 'after the table''s lock: run it in a READ COMMITTED transaction, or use DELETE.';
    END IF;
    IF (SELECT pg_catalog.cardinality(s.nodes) FROM @extschema@.syncs s WHERE s.id = TG_ARGV[0]::integer) > 2 THEN
        RAISE EXCEPTION 'mmsync: TRUNCATE of table %.% is refused: its sync has three or more nodes',
            pg_catalog.quote_ident(TG_TABLE_SCHEMA), pg_catalog.quote_ident(TG_TABLE_NAME)
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'The other nodes would also remove rows a third node wrote that this node had not received yet, '
                      || 'and the nodes would end different (docs/conflicts.md, "Three or more nodes").',
                  HINT = 'Use DELETE (each row deleted is a change decided like any other).';
    END IF;
    PERFORM @extschema@._queue_insert(pg_catalog.nextval('@extschema@.change_queue_id_seq'),
        TG_ARGV[0]::integer, TG_RELID, 'T', NULL, pg_catalog.jsonb_build_object('seen', coalesce(
        (SELECT pg_catalog.jsonb_object_agg(p.origin, pg_catalog.jsonb_build_object(
                'lo', p.lo::text, 'hi', p.hi::text, 'last_id', p.last_id))
         FROM @extschema@.progress p JOIN @extschema@.syncs s ON s.name = p.sync_name
         WHERE s.id = TG_ARGV[0]::integer), '{}'::jsonb)));
    IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(1835889529, TG_ARGV[0]::integer) THEN
        PERFORM pg_catalog.pg_notify('mmsync_changes', '');
    END IF;
    RETURN NULL;
END
$$;
