-- Decides a conflict that stopped a sync under the 'abort' strategy: 'apply' takes the incoming
-- version, 'skip' keeps this node's. Then SELECT mmsync.resume('<sync>').
CREATE FUNCTION @extschema@.resolve_conflict(conflict_id bigint, decision text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_row @extschema@.conflicts;
BEGIN
    IF resolve_conflict.decision IS NULL OR resolve_conflict.decision NOT IN ('apply', 'skip') THEN
        RAISE EXCEPTION 'mmsync: unknown decision %', quote_nullable(resolve_conflict.decision)
            USING HINT = 'Use apply (take the incoming version) or skip (keep this node''s).';
    END IF;
    SELECT * INTO v_row FROM @extschema@.conflicts c WHERE c.id = resolve_conflict.conflict_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'mmsync: conflict % does not exist', resolve_conflict.conflict_id;
    ELSIF v_row.resolution <> 'pending' THEN
        RAISE EXCEPTION 'mmsync: conflict % is already resolved (%)', resolve_conflict.conflict_id, v_row.resolution;
    END IF;
    UPDATE @extschema@.conflicts c SET decision = resolve_conflict.decision WHERE c.id = resolve_conflict.conflict_id;
    RETURN format('conflict %s on %I.%I key (%s): %s; resume with SELECT mmsync.resume(%L)',
                  v_row.id, v_row.schema_name, v_row.table_name, v_row.key, resolve_conflict.decision, v_row.sync_name);
END
$$;
