-- The WHEN clause of every row-level capture trigger (issue 15): false in the applier's
-- transactions (mmsync.origin set, see io.mmsync.engine.apply.PageBegin), so the rows a catch-up
-- applies queue no AFTER trigger event at all. Without it each applied row still had its event
-- queued, its tuple fetched again at the end of the statement and the trigger function called, only
-- to return at its first line (about a tenth of the peer's COPY). The capture functions keep their
-- own test of mmsync.origin (a trigger created by hand, or by 0.1.0, has no WHEN clause). The
-- setting is unknown (NULL) in a session that never set it and the C library is not loaded.
-- A trigger's WHEN clause is stored parsed, so the search_path of later sessions cannot change it.
CREATE FUNCTION @extschema@._capture_when() RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'COALESCE(pg_catalog.current_setting(''mmsync.origin'', true), '''') OPERATOR(pg_catalog.=) '''''::text
$$;
