-- mmsync 0.1.0 -> 0.2.0 (ALTER EXTENSION mmsync UPDATE TO '0.2.0').
-- Every change to sql/src/ since 0.1.0 has its step here, in the order it was made; the
-- UpgradeIT test checks that 0.1.0 + this script defines the same objects as a fresh 0.2.0.
\echo Use "ALTER EXTENSION mmsync UPDATE TO '0.2.0'" to load this file. \quit

-- issue 17: add_sync refuses a third node until syncs of three or more nodes converge
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM @extschema@.syncs WHERE NOT removed AND cardinality(nodes) > 2) THEN
        RAISE WARNING 'mmsync: syncs of three or more nodes can diverge under concurrent updates of the same rows: %',
            (SELECT string_agg(name, ', ') FROM @extschema@.syncs WHERE NOT removed AND cardinality(nodes) > 2)
            USING HINT = 'Remove them and sync two nodes; 0.2.0 refuses new ones.';
    END IF;
END
$$;
-- add_sync: the equivalent of `bucardo add sync NAME dbs=blue:source,green:source tables=all`.
-- Installs capture triggers here; the local agent pushes the definition to every peer, which
-- installs the same sync and triggers (no second manual step).
--   tables  => 'all' (every table with a primary key in the user schemas) or a comma-separated
--              list: 'public.posts, "Audit Trail"."Login Events"'
--   exclude => tables to leave out, same syntax; an unqualified name matches in every schema
--   conflict => latest (default) | prefer (with prefer => node) | keep_local | apply_remote | abort
--   insert_only => tables without a primary key to sync insert-only (e.g. 'pgbench_history')
--   sequences => 'interleave': sequences of synced tables hand out disjoint values per node
CREATE OR REPLACE FUNCTION @extschema@.add_sync(
    name text, nodes text[], tables text DEFAULT 'all', exclude text DEFAULT NULL,
    conflict text DEFAULT 'latest', prefer text DEFAULT NULL, insert_only text DEFAULT NULL,
    sequences text DEFAULT 'none')
RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_local text := @extschema@.local_node();
    v_node  text;
    v_id    integer;
    v_relid oid;
    v_n     integer := 0;
    v_conflict text;
    v_prefer   text;
BEGIN
    IF add_sync.name IS NULL OR add_sync.name !~ '^[a-z][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'mmsync: invalid sync name %', quote_nullable(add_sync.name)
            USING HINT = 'Sync names are lower-case letters, digits and _, starting with a letter.';
    END IF;
    IF v_local IS NULL THEN
        RAISE EXCEPTION 'mmsync: this database is not registered as a node'
            USING HINT = 'Call mmsync.add_node(''blue'', ''<conninfo>'', true) for this database first.';
    END IF;
    IF add_sync.nodes IS NULL OR cardinality(ARRAY(SELECT DISTINCT unnest(add_sync.nodes))) < 2 THEN
        RAISE EXCEPTION 'mmsync: sync "%" needs at least two distinct nodes', add_sync.name;
    END IF;
    IF cardinality(ARRAY(SELECT DISTINCT unnest(add_sync.nodes))) > 2 THEN
        RAISE EXCEPTION 'mmsync: sync "%" names % nodes (%); a sync has exactly two nodes for now',
            add_sync.name, cardinality(ARRAY(SELECT DISTINCT unnest(add_sync.nodes))),
            array_to_string(add_sync.nodes, ', ')
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'With three or more nodes, concurrent updates of the same rows can leave the nodes '
                      || 'different while status() says in sync. Sync two nodes (blue and green).';
    END IF;
    FOREACH v_node IN ARRAY add_sync.nodes LOOP
        IF NOT EXISTS (SELECT 1 FROM @extschema@.nodes n WHERE n.name = v_node) THEN
            RAISE EXCEPTION 'mmsync: node "%" does not exist', v_node
                USING HINT = 'Register it with mmsync.add_node(name, conninfo).';
        END IF;
    END LOOP;
    IF NOT v_local = ANY (add_sync.nodes) THEN
        RAISE EXCEPTION 'mmsync: sync "%" does not include this node "%"', add_sync.name, v_local;
    END IF;
    SELECT r.conflict, r.prefer INTO v_conflict, v_prefer
    FROM @extschema@._check_conflict(add_sync.name, add_sync.nodes, add_sync.conflict, add_sync.prefer) r;
    IF add_sync.sequences IS NULL OR add_sync.sequences NOT IN ('none', 'interleave') THEN
        RAISE EXCEPTION 'mmsync: unknown sequences mode %', quote_nullable(add_sync.sequences)
            USING HINT = 'Use none or interleave.';
    END IF;
    IF EXISTS (SELECT 1 FROM @extschema@.syncs s WHERE s.name = add_sync.name AND NOT s.removed) THEN
        RAISE EXCEPTION 'mmsync: sync "%" already exists', add_sync.name
            USING HINT = 'Remove it first with mmsync.remove_sync(), or pick another name.';
    END IF;

    INSERT INTO @extschema@.syncs AS s (name, nodes, conflict, prefer, sequences)
    VALUES (add_sync.name, add_sync.nodes, v_conflict, v_prefer, add_sync.sequences)
    ON CONFLICT (name) DO UPDATE SET nodes = EXCLUDED.nodes, conflict = EXCLUDED.conflict,
        prefer = EXCLUDED.prefer, sequences = EXCLUDED.sequences, paused = false, removed = false,
        version = s.version + 1, updated_at = now()
    RETURNING s.id INTO v_id;

    FOR v_relid IN SELECT * FROM @extschema@._select_tables(add_sync.tables, add_sync.exclude, add_sync.insert_only) LOOP
        PERFORM @extschema@._attach_table(v_id, v_relid);
        v_n := v_n + 1;
    END LOOP;
    FOR v_relid IN SELECT DISTINCT @extschema@._resolve_table(i.id)
                   FROM @extschema@._parse_table_list(add_sync.insert_only) i(id) LOOP
        PERFORM @extschema@._attach_table(v_id, v_relid, 'insert_only');
        v_n := v_n + 1;
    END LOOP;
    IF add_sync.sequences = 'interleave' THEN
        PERFORM @extschema@._interleave_sequences(v_id);
    END IF;
    IF v_n = 0 THEN
        RAISE EXCEPTION 'mmsync: sync "%" would have no tables', add_sync.name;
    END IF;
    PERFORM pg_notify('mmsync_config', add_sync.name);
    RETURN format('sync "%s": %s tables on %s', add_sync.name, v_n, array_to_string(add_sync.nodes, ', '));
END
$$;

-- issue 14: the queue in three tables emptied by TRUNCATE (changes_0..2 behind the view
-- changes), _queue_maintain and _snapshot_meet, _purge calls it, the capture functions insert into
-- the queue tables. Rows queued before the update are moved into it with their ids and still sent.
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

REVOKE ALL ON FUNCTION @extschema@._queue_insert(bigint, integer, oid, "char", jsonb, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._changes_write() FROM PUBLIC;
ALTER TABLE @extschema@.changes RENAME TO changes_0_1_0;
-- The capture queue (issue 14). One row per row change, written by @extschema@.capture() into
-- one of three tables, changes_0..2 (PgQ and Slony keep their queues this way): the queue is
-- never purged row by row; a table is emptied with TRUNCATE once every peer has confirmed
-- everything in it (@extschema@._queue_maintain), so it leaves no dead tuples and needs no
-- VACUUM (autovacuum is off on them).
--
-- Which table a change goes to follows from its id: ids of epoch e are e * 2^24 .. e * 2^24 +
-- 2^24 - 1 and go to changes_<e % 3>. Rotating to the next table is one setval of the id
-- sequence to the next epoch's first id, so the trigger looks nothing up per row, and ids keep
-- growing: for one row, id order is still the order its changes were made. Plain tables, not
-- partitions of one table: partitioning cost the capture trigger about 45,000 instructions per
-- pgbench -N transaction (7%; bench/capture-cost -I, variants current, direct and plain), with
-- routing or without. Only the capture functions write them (no CHECK of the id: a CHECK costs
-- every insert a catalog read).
--
-- xid is the writing transaction's 64-bit id: senders select changes by commit snapshot
-- ("visible in hi, not visible in lo"), never by "id > last id", so a transaction that commits
-- after later-started ones is never skipped. Within a snapshot range rows are sent in id order.
--
-- no CACHE: ids must follow the order in which changes were made across all sessions (a later
-- change of a row waits for the earlier one's row lock, then takes a higher id)
CREATE SEQUENCE @extschema@.change_queue_id_seq NO CYCLE;
CREATE TABLE @extschema@.changes_0 (
    id          bigint NOT NULL DEFAULT pg_catalog.nextval('@extschema@.change_queue_id_seq'::pg_catalog.regclass),
    xid         xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    sync_id     integer NOT NULL,
    relid       oid NOT NULL,
    -- I, U, D or T. No CHECK constraint: the executor re-reads a CHECK's expression from the
    -- catalog for every statement, which cost the capture trigger a quarter of its time per row
    op          "char" NOT NULL,
    -- when the row was changed (not when its transaction began): conflict resolution 'latest'
    -- compares these, so a change made after another was seen always carries a later time
    at          timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    old         jsonb,
    new         jsonb
) WITH (fillfactor = 100, autovacuum_enabled = false, toast.autovacuum_enabled = false);
CREATE TABLE @extschema@.changes_1 (
    id          bigint NOT NULL DEFAULT pg_catalog.nextval('@extschema@.change_queue_id_seq'::pg_catalog.regclass),
    xid         xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    sync_id     integer NOT NULL,
    relid       oid NOT NULL,
    op          "char" NOT NULL,
    at          timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    old         jsonb,
    new         jsonb
) WITH (fillfactor = 100, autovacuum_enabled = false, toast.autovacuum_enabled = false);
CREATE TABLE @extschema@.changes_2 (
    id          bigint NOT NULL DEFAULT pg_catalog.nextval('@extschema@.change_queue_id_seq'::pg_catalog.regclass),
    xid         xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    sync_id     integer NOT NULL,
    relid       oid NOT NULL,
    op          "char" NOT NULL,
    at          timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    old         jsonb,
    new         jsonb
) WITH (fillfactor = 100, autovacuum_enabled = false, toast.autovacuum_enabled = false);
-- No primary key: the one index is what the sender walks (a sync's changes in id order).
CREATE INDEX changes_0_sync_id_id ON @extschema@.changes_0 (sync_id, id);
CREATE INDEX changes_1_sync_id_id ON @extschema@.changes_1 (sync_id, id);
CREATE INDEX changes_2_sync_id_id ON @extschema@.changes_2 (sync_id, id);
COMMENT ON TABLE @extschema@.changes_0 IS
    'mmsync capture queue, table 0 of 3 (ids of epochs 0, 3, 6, ...); truncated once every peer has applied it';
COMMENT ON TABLE @extschema@.changes_1 IS
    'mmsync capture queue, table 1 of 3 (ids of epochs 1, 4, 7, ...); truncated once every peer has applied it';
COMMENT ON TABLE @extschema@.changes_2 IS
    'mmsync capture queue, table 2 of 3 (ids of epochs 2, 5, 8, ...); truncated once every peer has applied it';
-- The three tables as one (maintenance, tests, bench); readers use @extschema@.changes.
CREATE VIEW @extschema@.change_queue AS
          SELECT q.id, q.xid, q.sync_id, q.relid, q.op, q.at, q.old, q.new FROM @extschema@.changes_0 q
UNION ALL SELECT q.id, q.xid, q.sync_id, q.relid, q.op, q.at, q.old, q.new FROM @extschema@.changes_1 q
UNION ALL SELECT q.id, q.xid, q.sync_id, q.relid, q.op, q.at, q.old, q.new FROM @extschema@.changes_2 q;

-- One row per queue table. epoch: the newest epoch of ids that went to it (NULL: never used);
-- first_epoch: the oldest epoch that may still have rows in it; ended: a snapshot taken after
-- the next epoch began (NULL while it is the current table): every transaction that took an id
-- of this table's epochs is in progress or finished in it, so once a snapshot every peer has
-- confirmed has xmin >= xmax(ended), nobody needs a row of the table; truncated: emptied since.
CREATE TABLE @extschema@.queue_tables (
    slot        integer PRIMARY KEY CHECK (slot BETWEEN 0 AND 2),
    epoch       bigint CHECK (epoch % 3 = slot),
    first_epoch bigint CHECK (first_epoch <= epoch),
    started     timestamptz,
    ended       pg_snapshot,
    truncated   boolean NOT NULL DEFAULT false
);

-- What @extschema@._queue_maintain last found: purged (changes visible in it are no longer
-- needed by any peer, the conflict window included: see @extschema@.purge_marks) and floor (the
-- first id of the oldest table still needed; tables below it wait to be truncated).
CREATE TABLE @extschema@.queue_state (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    purged  pg_snapshot,
    floor   bigint NOT NULL DEFAULT 0
);
INSERT INTO @extschema@.queue_state DEFAULT VALUES;

-- The queue as every reader sees it (senders, the conflict resolver's competitor lookup, status,
-- wait_synced, retention): the changes still needed, as if purged row by row at the last
-- _queue_maintain. Rows below floor are skipped by the index, not filtered one by one. DELETE
-- (drop_sync, retention) and INSERT (a capture function of 0.1.0 still running while the
-- extension is updated) go to the right table through @extschema@._changes_write().
CREATE VIEW @extschema@.changes AS
SELECT c.id, c.xid, c.sync_id, c.relid, c.op, c.at, c.old, c.new
FROM @extschema@.change_queue c
WHERE c.id >= (SELECT q.floor FROM @extschema@.queue_state q)
  AND NOT coalesce(pg_catalog.pg_visible_in_snapshot(c.xid, (SELECT q.purged FROM @extschema@.queue_state q)), false);
COMMENT ON VIEW @extschema@.changes IS
    'mmsync capture queue: changes made on this node that some peer may still need';
CREATE TRIGGER changes_write INSTEAD OF INSERT OR DELETE ON @extschema@.changes
    FOR EACH ROW EXECUTE FUNCTION @extschema@._changes_write();
-- the queued rows keep their ids; new ids start at the next epoch, so that the tables holding
-- the old rows are truncated only once every peer has confirmed all of them
INSERT INTO @extschema@.changes_0 (id, xid, sync_id, relid, op, at, old, new)
SELECT c.id, c.xid, c.sync_id, c.relid, c.op, c.at, c.old, c.new FROM @extschema@.changes_0_1_0 c WHERE (c.id >> 24) % 3 = 0 ORDER BY c.id;
INSERT INTO @extschema@.changes_1 (id, xid, sync_id, relid, op, at, old, new)
SELECT c.id, c.xid, c.sync_id, c.relid, c.op, c.at, c.old, c.new FROM @extschema@.changes_0_1_0 c WHERE (c.id >> 24) % 3 = 1 ORDER BY c.id;
INSERT INTO @extschema@.changes_2 (id, xid, sync_id, relid, op, at, old, new)
SELECT c.id, c.xid, c.sync_id, c.relid, c.op, c.at, c.old, c.new FROM @extschema@.changes_0_1_0 c WHERE (c.id >> 24) % 3 = 2 ORDER BY c.id;
DO $$
DECLARE
    v_e0 bigint := (SELECT (greatest(s.last_value, coalesce((SELECT max(c.id) FROM @extschema@.changes_0_1_0 c), 0)) >> 24) + 1
                    FROM @extschema@.changes_id_seq s);
    v_e  bigint;
BEGIN
    PERFORM pg_catalog.setval('@extschema@.change_queue_id_seq', v_e0 << 24, false);
    FOR v_slot IN 0..2 LOOP
        IF v_slot = v_e0 % 3 THEN
            INSERT INTO @extschema@.queue_tables (slot, epoch, first_epoch, started)
            VALUES (v_slot, v_e0, CASE WHEN v_e0 >= 3 THEN 0 ELSE v_e0 END, pg_catalog.now());
        ELSE
            v_e := v_e0 - 1 - ((v_e0 - 1 - v_slot) % 3 + 3) % 3;  -- the newest epoch before v_e0 of this slot
            IF v_e >= 0 THEN
                INSERT INTO @extschema@.queue_tables (slot, epoch, first_epoch, started, ended)
                VALUES (v_slot, v_e, 0, pg_catalog.now(), pg_catalog.pg_current_snapshot());
            ELSE
                INSERT INTO @extschema@.queue_tables (slot) VALUES (v_slot);
            END IF;
        END IF;
    END LOOP;
END
$$;
DROP TABLE @extschema@.changes_0_1_0;
CREATE OR REPLACE FUNCTION @extschema@.capture() RETURNS trigger
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

CREATE OR REPLACE FUNCTION @extschema@.capture_keyless() RETURNS trigger
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

CREATE OR REPLACE FUNCTION @extschema@.capture_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF pg_catalog.current_setting('mmsync.origin', true) <> '' THEN
        RETURN NULL;
    END IF;
    PERFORM @extschema@._queue_insert(pg_catalog.nextval('@extschema@.change_queue_id_seq'),
        TG_ARGV[0]::integer, TG_RELID, 'T', NULL, NULL);
    IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(1835889529, TG_ARGV[0]::integer) THEN
        PERFORM pg_catalog.pg_notify('mmsync_changes', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@._purge(p_sync_id integer, p_limit integer DEFAULT 20000,
    OUT purged bigint, OUT more boolean)
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT m.truncated::bigint, m.waiting FROM @extschema@._queue_maintain() m
$$;

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
    SELECT s.last_value >> 24 INTO v_epoch FROM @extschema@.change_queue_id_seq s;
    WHILE v_epoch > v_cur.epoch LOOP
        UPDATE @extschema@.queue_tables SET ended = pg_current_snapshot() WHERE slot = v_cur.slot;
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
            -- a statement after the setval, so a snapshot taken after it
            UPDATE @extschema@.queue_tables SET ended = pg_current_snapshot() WHERE slot = v_cur.slot;
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

REVOKE ALL ON FUNCTION @extschema@._queue_maintain() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._snapshot_meet(pg_snapshot[]) FROM PUBLIC;
-- issue 14: merged deltas counted per sync and origin (conflict_counts, status().merged_deltas), not logged
-- Conflicts that lost nothing (issue 14), counted instead of logged: an update of a table with
-- delta columns met a concurrent update of the same row here, and the two versions differ only
-- in delta columns (whose deltas are added up, docs/conflicts.md). Two-way TPC-B makes thousands
-- per second; each would be a row of @extschema@.conflicts. Per sync and origin (the node the
-- incoming change came from), written by the origin's agent in its apply transaction; shown by
-- status() (merged_deltas) and the health endpoint's /metrics (mmsync_merged_deltas_total).
CREATE TABLE @extschema@.conflict_counts (
    sync_name text NOT NULL,
    origin    text NOT NULL,
    merged    bigint NOT NULL DEFAULT 0 CHECK (merged >= 0),
    PRIMARY KEY (sync_name, origin)
);
DROP FUNCTION @extschema@.status();
CREATE FUNCTION @extschema@.status()
RETURNS TABLE (sync text, peer text, state text, backlog bigint, lag_seconds numeric,
               rows_sent bigint, rows_applied bigint, last_error text, conflicts bigint, set_aside bigint,
               merged_deltas bigint)
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
BEGIN
    FOR v_r IN
        SELECT s.id, s.name, s.paused, p.peer, l.state AS lstate, l.heartbeat_at, l.sent,
               l.last_error AS lerr, pr.applied
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
        IF v_warn IS NOT NULL THEN
            last_error := v_warn || coalesce('; ' || last_error, '');
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION @extschema@.status() FROM PUBLIC;
