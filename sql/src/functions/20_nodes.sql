-- Checks that p_conninfo is a well-formed libpq conninfo (key=value pairs) or URI, with only
-- known keywords and no password. Raises an error naming the problem; returns the conninfo.
CREATE FUNCTION @extschema@._check_conninfo(p_node text, p_conninfo text) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    v_rest  text := p_conninfo;
    v_m     text[];
    v_known text[] := ARRAY['host', 'hostaddr', 'port', 'dbname', 'user', 'passfile',
        'connect_timeout', 'application_name', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey',
        'sslcrl', 'sslpassword', 'target_session_attrs', 'options', 'keepalives',
        'keepalives_idle', 'keepalives_interval', 'keepalives_count', 'tcp_user_timeout',
        'channel_binding', 'gssencmode', 'krbsrvname', 'service'];
BEGIN
    IF p_conninfo IS NULL OR btrim(p_conninfo) = '' THEN
        RAISE EXCEPTION 'mmsync: conninfo for node "%" is empty', p_node;
    END IF;
    IF p_conninfo ~* '^postgres(ql)?://' THEN
        IF p_conninfo ~ '^[a-z]+://[^/@?]*:[^/@?]*@' OR p_conninfo ~* '[?&]password=' THEN
            RAISE EXCEPTION 'mmsync: conninfo for node "%" contains a password', p_node
                USING HINT = 'Put the password in a passfile (~/.pgpass or passfile=...) instead.';
        END IF;
        IF p_conninfo ~ '\s' THEN
            RAISE EXCEPTION 'mmsync: malformed connection URI for node "%": it contains white space', p_node;
        END IF;
        RETURN p_conninfo;
    END IF;
    LOOP
        v_rest := ltrim(v_rest);
        EXIT WHEN v_rest = '';
        v_m := regexp_match(v_rest, $re$^([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']+)(.*)$$re$);
        IF v_m IS NULL THEN
            RAISE EXCEPTION 'mmsync: malformed conninfo for node "%" near "%"', p_node, left(v_rest, 40)
                USING HINT = 'Use key=value pairs, e.g. ''host=10.0.0.2 port=5432 dbname=mattermost user=mmsync''.';
        END IF;
        IF lower(v_m[1]) = 'password' THEN
            RAISE EXCEPTION 'mmsync: conninfo for node "%" contains a password', p_node
                USING HINT = 'Put the password in a passfile (~/.pgpass or passfile=...) instead.';
        END IF;
        IF NOT lower(v_m[1]) = ANY (v_known) THEN
            RAISE EXCEPTION 'mmsync: unknown conninfo keyword "%" for node "%"', v_m[1], p_node;
        END IF;
        v_rest := v_m[3];
    END LOOP;
    RETURN p_conninfo;
END
$fn$;

CREATE FUNCTION @extschema@.add_node(p_name text, p_conninfo text, p_local boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_name IS NULL OR p_name !~ '^[a-z][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'mmsync: invalid node name %', quote_nullable(p_name)
            USING HINT = 'Node names are lower-case letters, digits and _, starting with a letter.';
    END IF;
    PERFORM @extschema@._check_conninfo(p_name, p_conninfo);
    IF p_local AND EXISTS (SELECT 1 FROM @extschema@.nodes WHERE is_local AND name <> p_name) THEN
        RAISE EXCEPTION 'mmsync: this database is already node "%"',
            (SELECT name FROM @extschema@.nodes WHERE is_local);
    END IF;
    INSERT INTO @extschema@.nodes (name, conninfo, is_local) VALUES (p_name, p_conninfo, p_local)
    ON CONFLICT (name) DO UPDATE SET conninfo = EXCLUDED.conninfo, is_local = EXCLUDED.is_local;
    RETURN p_name;
END
$$;

CREATE FUNCTION @extschema@.remove_node(p_name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_sync text;
BEGIN
    SELECT name INTO v_sync FROM @extschema@.syncs WHERE NOT removed AND p_name = ANY (nodes) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'mmsync: node "%" is still part of sync "%"', p_name, v_sync
            USING HINT = 'Remove the sync first with mmsync.remove_sync().';
    END IF;
    DELETE FROM @extschema@.nodes WHERE name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'mmsync: node "%" does not exist', p_name;
    END IF;
END
$$;

CREATE FUNCTION @extschema@.local_node() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT name FROM @extschema@.nodes WHERE is_local
$$;
