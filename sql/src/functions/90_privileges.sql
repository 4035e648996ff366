-- Nothing in the mmsync schema is usable by PUBLIC: nodes hold conninfo, the queue holds
-- row images. The capture trigger runs as the extension owner (SECURITY DEFINER), so application
-- roles need no right here. The role mmsync_admin (docs/operations.md: create it before
-- CREATE EXTENSION, or call grant_admin() afterwards) may use everything.
-- Note: the build puts functions/ before tables/, so the tables do not exist yet when this runs
-- (this is the last file of functions/, so every function does): tables get no PUBLIC rights by
-- default, and the grants for mmsync_admin reach them through the default privileges that
-- grant_admin() sets (which also cover objects that later upgrade scripts create).
REVOKE ALL ON ALL TABLES IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON SCHEMA @extschema@ FROM PUBLIC;

-- Lets p_role use the mmsync schema: monitor (status, wait_synced) and manage (add_node, add_sync,
-- pause, set_retention, ...). Managing a sync also creates triggers on the synced tables, which
-- needs their ownership. Only the extension owner (or a superuser) can call it.
CREATE FUNCTION @extschema@.grant_admin(p_role name DEFAULT 'mmsync_admin') RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_role) THEN
        RAISE EXCEPTION 'mmsync: role "%" does not exist', p_role
            USING HINT = format('CREATE ROLE %I NOLOGIN; then GRANT %I TO the DBAs', p_role, p_role);
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA @extschema@ TO %I', p_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA @extschema@ TO %I', p_role);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA @extschema@ TO %I', p_role);
    EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA @extschema@ TO %I', p_role);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA @extschema@ GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', p_role);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA @extschema@ GRANT USAGE, SELECT ON SEQUENCES TO %I', p_role);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA @extschema@ GRANT EXECUTE ON FUNCTIONS TO %I', p_role);
    RETURN format('role %s may use the mmsync schema', p_role);
END
$$;
REVOKE ALL ON FUNCTION @extschema@.grant_admin(name) FROM PUBLIC;

-- CREATE EXTENSION may run as a non-superuser, who cannot create roles: the role is an
-- installation step (CREATE ROLE mmsync_admin NOLOGIN), and it gets its rights here if it exists.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'mmsync_admin') THEN
        PERFORM @extschema@.grant_admin('mmsync_admin');
    END IF;
END
$$;
