-- The capture triggers' WHEN clause (11_capture_when.sql) runs as the role that writes the table:
-- it tells only whether the session is the mmsync applier's.
GRANT EXECUTE ON FUNCTION @extschema@._capturing() TO PUBLIC;
