-- The WHEN clause of the row capture triggers follows the implementation capture() has (issue 14):
-- C: no clause (the library's hooks make the applier's statements skip the capture trigger, see
-- mmsync_capture.c: capture_ExecutorStart; a writer's statement then no longer prepares the clause,
-- about 7,000 instructions per statement, a fifth of what capture added to a one-row statement);
-- PL/pgSQL: WHEN (@extschema@._capturing()) (11_capture_when.sql: without the library nothing
-- else keeps the applier's rows from queueing a trigger event each). _attach_table makes new
-- triggers so; set_capture calls this for those that exist. Arguments and enabled state are kept
-- (CREATE OR REPLACE TRIGGER: the table is never without its trigger). Returns how many it changed.
CREATE FUNCTION @extschema@._capture_triggers() RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t      record;
    v_when boolean := @extschema@.capture_impl() <> 'c';
    v_args text[];
    v_from int;
    v_n    int := 0;
BEGIN
    FOR t IN SELECT g.tgrelid, g.tgargs, g.tgnargs, g.tgenabled, p.proname
             FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_proc p ON p.oid = g.tgfoid
             WHERE g.tgname = 'mmsync_capture' AND (g.tgqual IS NOT NULL) <> v_when AND NOT g.tgisinternal
               AND g.tgfoid IN ('@extschema@.capture()'::pg_catalog.regprocedure,
                                '@extschema@.capture_keyless()'::pg_catalog.regprocedure)
             ORDER BY g.tgrelid LOOP
        -- tgargs: the arguments, each ended by a zero byte
        v_args := '{}';
        v_from := 0;
        FOR i IN 0 .. pg_catalog.length(t.tgargs) - 1 LOOP
            IF pg_catalog.get_byte(t.tgargs, i) = 0 THEN
                v_args := v_args || pg_catalog.convert_from(pg_catalog.substring(t.tgargs, v_from + 1, i - v_from),
                                                            pg_catalog.getdatabaseencoding());
                v_from := i + 1;
            END IF;
        END LOOP;
        IF pg_catalog.cardinality(v_args) <> t.tgnargs THEN
            RAISE EXCEPTION 'mmsync: the capture trigger of table % has % arguments, read %',
                t.tgrelid::pg_catalog.regclass, t.tgnargs, pg_catalog.cardinality(v_args);
        END IF;
        EXECUTE pg_catalog.format('CREATE OR REPLACE TRIGGER mmsync_capture AFTER INSERT OR UPDATE OR DELETE ON %s '
                                  'FOR EACH ROW %sEXECUTE FUNCTION @extschema@.%I(%s)',
                                  t.tgrelid::pg_catalog.regclass,
                                  CASE WHEN v_when THEN 'WHEN (@extschema@._capturing()) ' ELSE '' END, t.proname,
                                  (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(a), ', ' ORDER BY n)
                                   FROM pg_catalog.unnest(v_args) WITH ORDINALITY AS x(a, n)));
        IF t.tgenabled <> 'O' THEN
            EXECUTE pg_catalog.format('ALTER TABLE %s %s TRIGGER mmsync_capture', t.tgrelid::pg_catalog.regclass,
                                      CASE t.tgenabled WHEN 'D' THEN 'DISABLE' WHEN 'R' THEN 'ENABLE REPLICA'
                                                       ELSE 'ENABLE ALWAYS' END);
        END IF;
        v_n := v_n + 1;
    END LOOP;
    RETURN v_n;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._capture_triggers() FROM PUBLIC;
