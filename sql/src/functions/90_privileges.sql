-- Nothing in the mmsync schema is usable by PUBLIC: nodes hold conninfo, the queue holds
-- row images. The capture trigger runs as the extension owner (SECURITY DEFINER).
REVOKE ALL ON ALL TABLES IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON SCHEMA @extschema@ FROM PUBLIC;
