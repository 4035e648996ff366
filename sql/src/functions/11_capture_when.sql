-- The WHEN clause of every row-level capture trigger (issue 15): false in the applier's
-- transactions (mmsync.origin set, see io.mmsync.engine.apply.PageBegin), so the rows a catch-up
-- applies queue no AFTER trigger event at all. Without it each applied row still had its event
-- queued, its tuple fetched again at the end of the statement and the trigger function called, only
-- to return at its first line (a tenth of the peer's COPY with the C capture, a third with the
-- PL/pgSQL one). The capture functions keep their own test of mmsync.origin (a trigger created by
-- hand, or by 0.1.0, has no WHEN clause). set_capture (12_capture_impl.sql) gives it the
-- implementation capture() has: C (mmsync_capturing: a pointer's deref; the library defines the
-- setting) or this SQL one, which the planner inlines (no SET clause for that: every name is
-- qualified; the setting is unknown, NULL, in a session that never set it without the library).
-- Every role that writes a synced table evaluates it: EXECUTE for PUBLIC (95_capture_when.sql).
CREATE FUNCTION @extschema@._capturing() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(pg_catalog.current_setting('mmsync.origin', true), '') OPERATOR(pg_catalog.=) ''
$$;
