-- Capture variants compared by bench/capture-cost (loaded into its scratch database after
-- CREATE EXTENSION mmsync and add_sync). capcost.use('<variant>') puts one variant's triggers
-- on every table of the sync; 'none' leaves the tables without any.
--   none       no trigger: the baseline
--   current    the installed extension's own triggers (whatever mmsync._attach_table makes)
--   v010       the row trigger of 0.1.0 as it was: to_jsonb, SECURITY DEFINER with SET
--              search_path, NOTIFY on every change, CHECK (op IN ...) on mmsync.changes
--   notify     v010 without the CHECK constraint
--   nonotify   notify without NOTIFY
--   noset      nonotify without the function's SET search_path clause (names qualified instead)
--   flag       noset, plus NOTIFY only while a flag row says the sender is idle (false here)
--   lock       nonotify, plus NOTIFY only when a shared advisory lock cannot be had (sender idle)
--   stmt       statement-level triggers with transition tables, one INSERT ... SELECT per statement
--   plain      current, but always into one table (what choosing one of the three costs)
--   nowhen     current without the triggers' WHEN (mmsync._capturing()) clause (what it costs a row; the
--              same as current with the C capture, whose triggers have none since issue 14's capture4)
--   when       current with the triggers' WHEN (mmsync._capturing()) clause (as before issue 14's capture4,
--              when the C capture's triggers had it too)
--   noidx      current without the queue's (sync_id, id) indexes (what the per-row index costs)
--   bare       nowhen and noidx together
--   c          current with capture() in C (mmsync.set_capture('c'): the library mmsync_capture)
--   plpgsql    current with capture() in PL/pgSQL (mmsync.set_capture('plpgsql'))
--   cidx       c with the queue's indexes at fillfactor 100 and without deduplication
--   cprev      capture() in C from the library mmsync_capture_prev, an earlier mmsync_capture.c built
--              under that name, to compare two versions side by side, e.g. (from the worktree):
--                mkdir /tmp/cprev; git show <commit>:sql/capture/mmsync_capture.c >/tmp/cprev/mmsync_capture_prev.c
--                printf 'MODULES = mmsync_capture_prev\nPG_CONFIG ?= pg_config\nPGXS := $(shell $(PG_CONFIG) --pgxs)\ninclude $(PGXS)\n' >/tmp/cprev/Makefile
--                make -C /tmp/cprev PG_CONFIG=<pg_config> with_llvm=no install
--   bucardo    Bucardo 5.6's capture as its validate_sync creates it (bucardo.schema): per table a
--              delta table (primary key columns, txntime DEFAULT now(); indexes on txntime and on
--              the key), a SECURITY DEFINER PL/pgSQL row trigger inserting the key (an update: the
--              old key, and the new one if it changed) and a statement trigger sending NOTIFY
CREATE SCHEMA capcost;

CREATE FUNCTION capcost.notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_old jsonb;
    v_new jsonb;
BEGIN
    IF pg_catalog.current_setting('mmsync.origin', true) <> '' THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        v_new := pg_catalog.to_jsonb(NEW);
    END IF;
    IF TG_OP <> 'INSERT' THEN
        v_old := pg_catalog.to_jsonb(OLD);
    END IF;
    INSERT INTO mmsync.changes_0 (sync_id, relid, op, old, new)
    VALUES (TG_ARGV[0]::integer, TG_RELID, pg_catalog.left(TG_OP, 1)::"char", v_old, v_new);
    PERFORM pg_catalog.pg_notify('mmsync_changes', '');
    RETURN NULL;
END
$$;

CREATE FUNCTION capcost.nonotify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_old jsonb;
    v_new jsonb;
BEGIN
    IF pg_catalog.current_setting('mmsync.origin', true) <> '' THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        v_new := pg_catalog.to_jsonb(NEW);
    END IF;
    IF TG_OP <> 'INSERT' THEN
        v_old := pg_catalog.to_jsonb(OLD);
    END IF;
    INSERT INTO mmsync.changes_0 (sync_id, relid, op, old, new)
    VALUES (TG_ARGV[0]::integer, TG_RELID, pg_catalog.left(TG_OP, 1)::"char", v_old, v_new);
    RETURN NULL;
END
$$;

CREATE FUNCTION capcost.noset() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF pg_catalog.current_setting('mmsync.origin', true) OPERATOR(pg_catalog.<>) '' THEN
        RETURN NULL;
    END IF;
    INSERT INTO mmsync.changes_0 (sync_id, relid, op, old, new)
    VALUES (TG_ARGV[0]::pg_catalog.int4, TG_RELID, pg_catalog.left(TG_OP, 1)::pg_catalog."char",
            CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN pg_catalog.to_jsonb(OLD) END,
            CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN pg_catalog.to_jsonb(NEW) END);
    RETURN NULL;
END
$$;

-- a sender's "I am idle, wake me" flag (false here: the sender polls, no NOTIFY is sent)
CREATE UNLOGGED TABLE capcost.wake (idle boolean NOT NULL);
INSERT INTO capcost.wake VALUES (false);

CREATE FUNCTION capcost.flag() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF pg_catalog.current_setting('mmsync.origin', true) OPERATOR(pg_catalog.<>) '' THEN
        RETURN NULL;
    END IF;
    INSERT INTO mmsync.changes_0 (sync_id, relid, op, old, new)
    VALUES (TG_ARGV[0]::pg_catalog.int4, TG_RELID, pg_catalog.left(TG_OP, 1)::pg_catalog."char",
            CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN pg_catalog.to_jsonb(OLD) END,
            CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN pg_catalog.to_jsonb(NEW) END);
    IF EXISTS (SELECT FROM capcost.wake w WHERE w.idle) THEN
        PERFORM pg_catalog.pg_notify('mmsync_changes', '');
    END IF;
    RETURN NULL;
END
$$;

-- flag as a lock: an idle sender holds advisory lock (1835889529, sync id) exclusively; a writer
-- that cannot take it shared notifies (not held here: no NOTIFY is sent)
CREATE FUNCTION capcost.lock() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF pg_catalog.current_setting('mmsync.origin', true) <> '' THEN
        RETURN NULL;
    END IF;
    INSERT INTO mmsync.changes_0 (sync_id, relid, op, old, new)
    VALUES (TG_ARGV[0]::integer, TG_RELID, pg_catalog.left(TG_OP, 1)::"char",
            CASE WHEN TG_OP <> 'INSERT' THEN pg_catalog.to_jsonb(OLD) END,
            CASE WHEN TG_OP <> 'DELETE' THEN pg_catalog.to_jsonb(NEW) END);
    IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(1835889529, TG_ARGV[0]::integer) THEN
        PERFORM pg_catalog.pg_notify('mmsync_changes', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION capcost.stmt() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF pg_catalog.current_setting('mmsync.origin', true) <> '' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO mmsync.changes_0 (sync_id, relid, op, new)
        SELECT TG_ARGV[0]::integer, TG_RELID, 'I', pg_catalog.to_jsonb(n) FROM capcost_new n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO mmsync.changes_0 (sync_id, relid, op, old)
        SELECT TG_ARGV[0]::integer, TG_RELID, 'D', pg_catalog.to_jsonb(o) FROM capcost_old o;
    ELSE
        -- old and new rows of an UPDATE are paired by their position in the transition tables
        INSERT INTO mmsync.changes_0 (sync_id, relid, op, old, new)
        SELECT TG_ARGV[0]::integer, TG_RELID, 'U', o.j, n.j
        FROM (SELECT pg_catalog.row_number() OVER () AS r, pg_catalog.to_jsonb(o) AS j FROM capcost_old o) o
        JOIN (SELECT pg_catalog.row_number() OVER () AS r, pg_catalog.to_jsonb(n) AS j FROM capcost_new n) n
          USING (r)
        ORDER BY r;
    END IF;
    RETURN NULL;
END
$$;

CREATE TABLE capcost.plain_queue (LIKE mmsync.changes_0 INCLUDING DEFAULTS) WITH (fillfactor = 100, autovacuum_enabled = false);
CREATE INDEX ON capcost.plain_queue (sync_id, id);

CREATE FUNCTION capcost.plain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF pg_catalog.current_setting('mmsync.origin', true) OPERATOR(pg_catalog.<>) '' THEN
        RETURN NULL;
    END IF;
    INSERT INTO capcost.plain_queue (sync_id, relid, op, old, new)
    VALUES (TG_ARGV[0]::pg_catalog.int4, TG_RELID, pg_catalog.left(TG_OP, 1)::pg_catalog."char",
            CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN pg_catalog.to_jsonb(OLD) END,
            CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN pg_catalog.to_jsonb(NEW) END);
    IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(1835889529, TG_ARGV[0]::pg_catalog.int4) THEN
        PERFORM pg_catalog.pg_notify('mmsync_changes', '');
    END IF;
    RETURN NULL;
END
$$;

-- Bucardo's per-table objects (bucardo.schema, validate_sync), made once per table
CREATE FUNCTION capcost.bucardo_setup(p_relid regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_rel  text := (SELECT relname FROM pg_class WHERE oid = p_relid);
    v_pk   text[] := mmsync._pk_cols(p_relid);
    v_cols text := (SELECT string_agg(format('%I', c), ',') FROM unnest(v_pk) c);
BEGIN
    IF to_regclass(format('capcost.%I', 'delta_' || v_rel)) IS NULL THEN
        EXECUTE format('CREATE TABLE capcost.%I AS SELECT %s, now()::timestamptz AS txntime FROM %s LIMIT 0',
                       'delta_' || v_rel, v_cols, p_relid);
        EXECUTE format('ALTER TABLE capcost.%I ALTER txntime SET NOT NULL, ALTER txntime SET DEFAULT now()', 'delta_' || v_rel);
        EXECUTE format('CREATE INDEX ON capcost.%I (txntime)', 'delta_' || v_rel);
        EXECUTE format('CREATE INDEX ON capcost.%I (%s)', 'delta_' || v_rel, v_cols);
        EXECUTE format($f$CREATE FUNCTION capcost.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER VOLATILE AS $b$
        BEGIN
        IF (TG_OP = 'INSERT') THEN
          INSERT INTO capcost.%I VALUES (%s);
        ELSIF (TG_OP = 'UPDATE') THEN
          INSERT INTO capcost.%I VALUES (%s);
          IF (%s) THEN
            INSERT INTO capcost.%I VALUES (%s);
          END IF;
        ELSE
          INSERT INTO capcost.%I VALUES (%s);
        END IF;
        RETURN NULL;
        END;
        $b$
        $f$, 'delta_' || v_rel,
            'delta_' || v_rel, (SELECT string_agg(format('NEW.%I', c), ',') FROM unnest(v_pk) c),
            'delta_' || v_rel, (SELECT string_agg(format('OLD.%I', c), ',') FROM unnest(v_pk) c),
            (SELECT string_agg(format('OLD.%I <> NEW.%I', c, c), ' OR ') FROM unnest(v_pk) c),
            'delta_' || v_rel, (SELECT string_agg(format('NEW.%I', c), ',') FROM unnest(v_pk) c),
            'delta_' || v_rel, (SELECT string_agg(format('OLD.%I', c), ',') FROM unnest(v_pk) c));
    END IF;
    EXECUTE format('TRUNCATE capcost.%I', 'delta_' || v_rel);
END
$$;
CREATE FUNCTION capcost.bucardo_kick() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    EXECUTE $nn$NOTIFY bucardo, 'kick_sync_cc'$nn$;
    RETURN NEW;
END;
$$;

CREATE FUNCTION capcost.use(p_variant text) RETURNS void
LANGUAGE plpgsql SET client_min_messages = warning AS $$
DECLARE
    v_t record;
    v_def text;
BEGIN
    ALTER TABLE mmsync.changes_0 DROP CONSTRAINT IF EXISTS capcost_op_check;
    -- noidx, bare: the queue without its per-row index (put back for every other variant)
    IF p_variant IN ('noidx', 'bare') THEN
        DROP INDEX IF EXISTS mmsync.changes_0_sync_id_id, mmsync.changes_1_sync_id_id, mmsync.changes_2_sync_id_id;
    ELSE
        CREATE INDEX IF NOT EXISTS changes_0_sync_id_id ON mmsync.changes_0 (sync_id, id);
        CREATE INDEX IF NOT EXISTS changes_1_sync_id_id ON mmsync.changes_1 (sync_id, id);
        CREATE INDEX IF NOT EXISTS changes_2_sync_id_id ON mmsync.changes_2 (sync_id, id);
    END IF;
    IF p_variant = 'cidx' THEN
        ALTER INDEX mmsync.changes_0_sync_id_id SET (fillfactor = 100, deduplicate_items = off);
        ALTER INDEX mmsync.changes_1_sync_id_id SET (fillfactor = 100, deduplicate_items = off);
        ALTER INDEX mmsync.changes_2_sync_id_id SET (fillfactor = 100, deduplicate_items = off);
    ELSIF p_variant NOT IN ('noidx', 'bare') THEN
        ALTER INDEX mmsync.changes_0_sync_id_id RESET (fillfactor, deduplicate_items);
        ALTER INDEX mmsync.changes_1_sync_id_id RESET (fillfactor, deduplicate_items);
        ALTER INDEX mmsync.changes_2_sync_id_id RESET (fillfactor, deduplicate_items);
    END IF;
    IF p_variant = 'v010' THEN
        ALTER TABLE mmsync.changes_0 ADD CONSTRAINT capcost_op_check CHECK (op IN ('I', 'U', 'D', 'T'));
    END IF;
    FOR v_t IN SELECT t.relid, t.sync_id FROM mmsync.sync_tables t ORDER BY t.relid LOOP
        PERFORM mmsync._drop_triggers(v_t.relid);
        EXECUTE coalesce((SELECT string_agg(format('DROP TRIGGER %I ON %s;', tgname, v_t.relid::regclass), ' ')
                          FROM pg_trigger WHERE tgrelid = v_t.relid AND tgname LIKE 'capcost%'), 'SELECT 1');
        CASE p_variant
        WHEN 'none' THEN
            NULL;
        WHEN 'current', 'noidx' THEN
            PERFORM mmsync._attach_table(v_t.sync_id, v_t.relid);
        WHEN 'when' THEN
            PERFORM mmsync._attach_table(v_t.sync_id, v_t.relid);
            SELECT pg_catalog.replace(pg_catalog.regexp_replace(pg_catalog.pg_get_triggerdef(g.oid), ' WHEN \(.*\) EXECUTE ', ' EXECUTE '),
                                      ' EXECUTE ', ' WHEN (mmsync._capturing()) EXECUTE ')
              INTO v_def FROM pg_trigger g WHERE g.tgrelid = v_t.relid AND g.tgname = 'mmsync_capture';
            EXECUTE format('DROP TRIGGER mmsync_capture ON %s', v_t.relid::regclass);
            EXECUTE v_def;
        WHEN 'nowhen', 'bare' THEN
            PERFORM mmsync._attach_table(v_t.sync_id, v_t.relid);
            SELECT pg_catalog.regexp_replace(pg_catalog.pg_get_triggerdef(g.oid), ' WHEN \(.*\) EXECUTE ', ' EXECUTE ')
              INTO v_def FROM pg_trigger g WHERE g.tgrelid = v_t.relid AND g.tgname = 'mmsync_capture';
            EXECUTE format('DROP TRIGGER mmsync_capture ON %s', v_t.relid::regclass);
            EXECUTE v_def;
        WHEN 'c', 'plpgsql', 'cidx' THEN
            PERFORM mmsync.set_capture(CASE p_variant WHEN 'cidx' THEN 'c' ELSE p_variant END);
            PERFORM mmsync._attach_table(v_t.sync_id, v_t.relid);
        WHEN 'cprev' THEN
            PERFORM mmsync.set_capture('plpgsql');
            CREATE OR REPLACE FUNCTION mmsync.capture() RETURNS trigger LANGUAGE c AS 'mmsync_capture_prev', 'mmsync_capture';
            PERFORM mmsync._attach_table(v_t.sync_id, v_t.relid);
        WHEN 'bucardo' THEN
            PERFORM capcost.bucardo_setup(v_t.relid);
            EXECUTE format('CREATE TRIGGER capcost AFTER INSERT OR UPDATE OR DELETE ON %s '
                           'FOR EACH ROW EXECUTE FUNCTION capcost.%I()', v_t.relid::regclass,
                           'delta_' || (SELECT relname FROM pg_class WHERE oid = v_t.relid));
            EXECUTE format('CREATE TRIGGER capcost_kick AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s '
                           'FOR EACH STATEMENT EXECUTE FUNCTION capcost.bucardo_kick()', v_t.relid::regclass);
        WHEN 'stmt' THEN
            EXECUTE format('CREATE TRIGGER capcost_i AFTER INSERT ON %s REFERENCING NEW TABLE AS capcost_new '
                           'FOR EACH STATEMENT EXECUTE FUNCTION capcost.stmt(%L)', v_t.relid::regclass, v_t.sync_id);
            EXECUTE format('CREATE TRIGGER capcost_u AFTER UPDATE ON %s REFERENCING OLD TABLE AS capcost_old '
                           'NEW TABLE AS capcost_new FOR EACH STATEMENT EXECUTE FUNCTION capcost.stmt(%L)',
                           v_t.relid::regclass, v_t.sync_id);
            EXECUTE format('CREATE TRIGGER capcost_d AFTER DELETE ON %s REFERENCING OLD TABLE AS capcost_old '
                           'FOR EACH STATEMENT EXECUTE FUNCTION capcost.stmt(%L)', v_t.relid::regclass, v_t.sync_id);
        WHEN 'v010' THEN
            EXECUTE format('CREATE TRIGGER capcost AFTER INSERT OR UPDATE OR DELETE ON %s '
                           'FOR EACH ROW EXECUTE FUNCTION capcost.notify(%L)', v_t.relid::regclass, v_t.sync_id);
        ELSE
            EXECUTE format('CREATE TRIGGER capcost AFTER INSERT OR UPDATE OR DELETE ON %s '
                           'FOR EACH ROW EXECUTE FUNCTION capcost.%I(%L)', v_t.relid::regclass, p_variant, v_t.sync_id);
        END CASE;
    END LOOP;
END
$$;
