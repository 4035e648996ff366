-- Delta columns in syncs of three or more nodes are refused (issue 17, docs/conflicts.md "Three
-- or more nodes", "Delta columns"): with three nodes a delta column of a row that one node deletes
-- (and may insert again) while another increments it can end different on the nodes. Raises
-- feature_not_supported naming the sync, the table and the column when p_nodes holds more than two
-- distinct nodes; does nothing otherwise. Called by set_column_policy (a table already in such a
-- sync), add_sync (a table with a delta column put in one) and _receive_sync (a definition pushed
-- by a peer, e.g. one older than 0.2.0), before anything is kept.
CREATE FUNCTION @extschema@._refuse_many_delta(p_sync text, p_nodes text[], p_schema text, p_table text, p_column text)
RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_n integer := cardinality(ARRAY(SELECT DISTINCT unnest(p_nodes)));
BEGIN
    IF v_n > 2 THEN
        RAISE EXCEPTION 'mmsync: delta column %.%.% cannot be used by sync "%" of % nodes (%)', quote_ident(p_schema),
            quote_ident(p_table), quote_ident(p_column), p_sync, v_n, array_to_string(p_nodes, ', ')
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'With three or more nodes, increments of a row that one node deletes, or deletes and inserts '
                      || 'again, while another node increments it are not exact: the nodes could end with different '
                      || 'values while status() says in sync. Delta columns are exact in syncs of two nodes.',
                  HINT = format('Sync this table between two nodes (a sync of its own), or keep %s a plain column '
                      || 'under latest (the change made last wins on every node): '
                      || 'SELECT mmsync.set_column_policy(%L, %L, ''overwrite'').',
                      quote_ident(p_column), quote_ident(p_schema) || '.' || quote_ident(p_table), p_column);
    END IF;
END
$$;
