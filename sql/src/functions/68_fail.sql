-- Raises an error with an SQLSTATE of mmsync's own (issue 15): the engine's multi-statement
-- requests call it to fail on purpose, so that the server skips the request's later statements
-- and rolls the transaction back (engine classes PageEnd, PageAtOnce; docs/operations.md). Codes:
-- MM001, a local change raced the page being applied; MM002, the page needs the full apply. An
-- engine whose peer lacks this function fails by casting the message to integer (SQLSTATE 22P02).
-- Declared to return integer so that it can stand in a query's select list; it never returns.
CREATE FUNCTION @extschema@._fail(p_sqlstate text, p_message text)
RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_sqlstate IS NULL OR p_sqlstate !~ '^MM[0-9]{3}$' THEN
        RAISE EXCEPTION 'mmsync._fail: SQLSTATE % is not one of mmsync''s (MM000 to MM999)', p_sqlstate
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RAISE EXCEPTION USING ERRCODE = p_sqlstate, MESSAGE = p_message;
END
$$;
