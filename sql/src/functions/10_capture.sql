-- Row-level capture trigger, attached by _attach_table() as
--   AFTER INSERT OR UPDATE OR DELETE ... FOR EACH ROW EXECUTE FUNCTION capture('<sync id>').
-- This is the hottest code of mmsync. It is SECURITY DEFINER so that application roles need no
-- right on the queue (a role that could insert into @extschema@.changes could make the peer apply
-- rows it may not write), and therefore pins its search_path.
-- Changes made by the mmsync applier run with mmsync.origin set and are not captured again
-- (no ping-pong), which needs no superuser rights.
CREATE FUNCTION @extschema@.capture() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF pg_catalog.current_setting('mmsync.origin', true) <> '' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO @extschema@.changes (sync_id, relid, op, new)
        VALUES (TG_ARGV[0]::integer, TG_RELID, 'I', pg_catalog.to_jsonb(NEW));
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO @extschema@.changes (sync_id, relid, op, old, new)
        VALUES (TG_ARGV[0]::integer, TG_RELID, 'U', pg_catalog.to_jsonb(OLD), pg_catalog.to_jsonb(NEW));
    ELSE
        INSERT INTO @extschema@.changes (sync_id, relid, op, old)
        VALUES (TG_ARGV[0]::integer, TG_RELID, 'D', pg_catalog.to_jsonb(OLD));
    END IF;
    PERFORM pg_catalog.pg_notify('mmsync_changes', '');
    RETURN NULL;
END
$$;
