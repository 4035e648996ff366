-- Which implementation runs the row capture trigger @extschema@.capture() (issue 14; docs/capture.md).
-- Two write the same queue rows: the C function mmsync_capture of the library
-- mmsync_capture (sql/capture/, installed into $libdir by installer/install.sh where the server's
-- headers and a compiler are), and the PL/pgSQL function of 10_capture.sql (the fallback).
-- Switching is CREATE OR REPLACE of capture() itself (its oid, which every capture trigger names,
-- stays), so no trigger is touched. The PL/pgSQL source is kept in @extschema@._capture_plpgsql()
-- (a copy of capture() as 10_capture.sql defines it, made here while capture() is PL/pgSQL).
-- The insert-only tables' trigger capture_keyless() is switched with it (its PL/pgSQL source kept in
-- @extschema@._capture_keyless_plpgsql(), which the C one calls for an update or a delete).
-- An install or upgrade script that (re)defines capture() or capture_keyless() in PL/pgSQL must
-- call set_capture('auto') after it.
CREATE FUNCTION @extschema@.set_capture(p_impl text DEFAULT 'auto') RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_src  text;
    v_srck text;
    v_want text := lower(btrim(coalesce(p_impl, 'auto')));
BEGIN
    IF v_want NOT IN ('auto', 'c', 'plpgsql') THEN
        RAISE EXCEPTION 'mmsync: set_capture(%): the implementation is auto, c or plpgsql', p_impl;
    END IF;
    IF v_want = 'auto' AND lower(coalesce(current_setting('mmsync.capture', true), '')) IN ('c', 'plpgsql') THEN
        v_want := lower(current_setting('mmsync.capture', true));
    END IF;
    SELECT p.prosrc INTO v_src FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
    WHERE p.oid = '@extschema@.capture()'::regprocedure AND l.lanname = 'plpgsql';
    IF FOUND THEN
        EXECUTE format('CREATE OR REPLACE FUNCTION @extschema@._capture_plpgsql() RETURNS trigger '
                       'LANGUAGE plpgsql SECURITY DEFINER AS %L', v_src);
        REVOKE ALL ON FUNCTION @extschema@._capture_plpgsql() FROM PUBLIC;
    ELSE
        SELECT p.prosrc INTO STRICT v_src FROM pg_proc p WHERE p.oid = '@extschema@._capture_plpgsql()'::regprocedure;
    END IF;
    -- capture_keyless likewise: its PL/pgSQL source is kept in _capture_keyless_plpgsql(), which the C
    -- one calls for an update or a delete (an insert it queues as capture() does)
    SELECT p.prosrc INTO v_srck FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
    WHERE p.oid = '@extschema@.capture_keyless()'::regprocedure AND l.lanname = 'plpgsql';
    IF FOUND THEN
        EXECUTE format('CREATE OR REPLACE FUNCTION @extschema@._capture_keyless_plpgsql() RETURNS trigger '
                       'LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS %L', v_srck);
        REVOKE ALL ON FUNCTION @extschema@._capture_keyless_plpgsql() FROM PUBLIC;
    ELSE
        SELECT p.prosrc INTO STRICT v_srck FROM pg_proc p WHERE p.oid = '@extschema@._capture_keyless_plpgsql()'::regprocedure;
    END IF;
    IF v_want IN ('auto', 'c') THEN
        BEGIN
            -- not SECURITY DEFINER: the C function checks no privilege (it writes the queue itself).
            -- Found through dynamic_library_path (default $libdir, i.e. pg_config --pkglibdir).
            CREATE OR REPLACE FUNCTION @extschema@.capture() RETURNS trigger
            LANGUAGE c AS 'mmsync_capture', 'mmsync_capture';
            -- the triggers' WHEN clause (issue 15, 11_capture_when.sql) in C too
            BEGIN
                CREATE OR REPLACE FUNCTION @extschema@._capturing() RETURNS boolean
                LANGUAGE c STABLE AS 'mmsync_capture', 'mmsync_capturing';
            EXCEPTION WHEN undefined_function THEN
                RAISE NOTICE 'mmsync: the capture triggers'' WHEN clause stays in SQL: %', SQLERRM
                    USING HINT = 'The library mmsync_capture is older than the extension: install it again with installer/install.sh.';
            END;
            -- the insert-only tables' trigger (issue 14): not SECURITY DEFINER either (the PL/pgSQL
            -- function it calls for an update or a delete is)
            BEGIN
                CREATE OR REPLACE FUNCTION @extschema@.capture_keyless() RETURNS trigger
                LANGUAGE c AS 'mmsync_capture', 'mmsync_capture_keyless';
            EXCEPTION WHEN undefined_function THEN
                RAISE NOTICE 'mmsync: the insert-only tables'' capture stays PL/pgSQL: %', SQLERRM
                    USING HINT = 'The library mmsync_capture is older than the extension: install it again with installer/install.sh.';
            END;
            -- the capture triggers' WHEN clause follows (issue 14, 11a_capture_triggers.sql; not
            -- there yet while an upgrade script runs this before defining it)
            IF pg_catalog.to_regprocedure('@extschema@._capture_triggers()') IS NOT NULL THEN
                PERFORM @extschema@._capture_triggers();
            END IF;
            RETURN 'c';
        EXCEPTION WHEN OTHERS THEN
            IF v_want = 'c' THEN
                RAISE EXCEPTION 'mmsync: the C capture trigger cannot be used: %', SQLERRM
                    USING HINT = 'Install the library mmsync_capture with installer/install.sh (needs postgresql-server-dev-15, gcc, make) '
                              || 'and call set_capture as a superuser; or keep the PL/pgSQL trigger: set_capture(''plpgsql'').';
            END IF;
            RAISE NOTICE 'mmsync: capture runs as PL/pgSQL: the C trigger cannot be used (%)', SQLERRM;
        END;
    END IF;
    EXECUTE format('CREATE OR REPLACE FUNCTION @extschema@.capture() RETURNS trigger '
                   'LANGUAGE plpgsql SECURITY DEFINER AS %L', v_src);
    EXECUTE format('CREATE OR REPLACE FUNCTION @extschema@.capture_keyless() RETURNS trigger '
                   'LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS %L', v_srck);
    CREATE OR REPLACE FUNCTION @extschema@._capturing() RETURNS boolean  -- as in 11_capture_when.sql
    LANGUAGE sql STABLE AS $f$
        SELECT COALESCE(pg_catalog.current_setting('mmsync.origin', true), '') OPERATOR(pg_catalog.=) ''
    $f$;
    IF pg_catalog.to_regprocedure('@extschema@._capture_triggers()') IS NOT NULL THEN
        PERFORM @extschema@._capture_triggers();
    END IF;
    RETURN 'plpgsql';
END
$$;

-- 'c' or 'plpgsql': which implementation capture() has now.
CREATE FUNCTION @extschema@.capture_impl() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT l.lanname::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
    WHERE p.oid = '@extschema@.capture()'::regprocedure
$$;

SELECT @extschema@.set_capture('auto');
