-- Which host runs this node's engine (issue 13): the session holding the engine's node lock
-- (advisory lock 1835889518, 1 of this database; see io.mmsync.engine.NodeLock), taken by the
-- agent beside the server and by the in-database worker alike, so at most one of them runs the
-- node. host: 'agent', 'worker' or 'none'; detail: the engine's application_name ("mmsync engine
-- (agent pid 812 on app1)" or "(worker pid 4711)"), the backend's pid, client address and since.
CREATE FUNCTION @extschema@.engine_host(OUT host text, OUT pid integer, OUT detail text, OUT since timestamptz)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(h.host, 'none'), h.pid, h.detail, h.since
    FROM (SELECT 1) AS one
    LEFT JOIN (
        SELECT CASE WHEN a.application_name LIKE 'mmsync engine (worker%' THEN 'worker' ELSE 'agent' END AS host,
               a.pid, a.application_name || coalesce(' from ' || host(a.client_addr), '') AS detail,
               a.backend_start AS since
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = 1835889518::oid AND l.objid = 1::oid AND l.objsubid = 2
        LIMIT 1) h ON true
$$;
