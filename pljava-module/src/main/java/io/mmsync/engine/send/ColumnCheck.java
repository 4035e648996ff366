package io.mmsync.engine.send;

import io.mmsync.engine.model.TableRef;
import io.mmsync.engine.time.Clock;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Before a link sends a page, checks that the sync's tables have the same columns, of the same
 * types, here and at the peer. Row images are matched by column name: a column missing at the peer
 * would silently lose its values there, one missing here would be overwritten with NULL there, and
 * a different type converts values or fails on some rows only. Such a link stops with an error that
 * names the table, the column and both nodes (status shows it) and retries until the DBA has run
 * the same DDL on both nodes; nothing queued is lost meanwhile. Type modifiers (varchar(n),
 * numeric(p,s)) are not compared: a value one node cannot hold is a per-row problem (set aside).
 * A table missing at the peer is left to the sync definition push and the applier, which name it.
 * <p>
 * The local side is fingerprinted on every page (one catalog query, in the turn's last local
 * request: {@link LocalTurn}); the peer is compared again
 * when that fingerprint changes, after a reconnect, and at least every {@link #RECHECK_NANOS}.
 */
final class ColumnCheck {
    static final long RECHECK_NANOS = 10_000_000_000L;

    private static final String LOCAL_SQL = "SELECT t.schema_name::text, t.table_name::text, a.attname::text, "
            + "pg_catalog.format_type(a.atttypid, NULL) FROM mmsync.sync_tables t "
            + "JOIN mmsync.syncs s ON s.id = t.sync_id "
            + "JOIN pg_catalog.pg_attribute a ON a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped "
            + "AND a.attgenerated = '' WHERE s.name = ? ORDER BY 1, 2, 3";
    static final String SIGNATURE_SQL = "SELECT pg_catalog.md5(pg_catalog.string_agg(x::text, ',')) FROM ("
            + LOCAL_SQL + ") AS x";
    private static final String PEER_SQL = "SELECT n.nspname::text, c.relname::text, a.attname::text, "
            + "pg_catalog.format_type(a.atttypid, NULL) FROM pg_catalog.pg_class c "
            + "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            + "JOIN ROWS FROM (pg_catalog.unnest(?::text[]), pg_catalog.unnest(?::text[])) AS w(s, t) "
            + "ON w.s = n.nspname AND w.t = c.relname "
            + "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            + "AND a.attgenerated = '' WHERE c.relkind IN ('r', 'p')";

    private final String syncName;
    private final String localNode;
    private final String peerNode;
    private String verified;
    private long verifiedAt;
    private final Clock clock;

    ColumnCheck(String syncName, String localNode, String peerNode, Clock clock) {
        this.clock = clock;
        this.syncName = syncName;
        this.localNode = localNode;
        this.peerNode = peerNode;
    }

    /** Forgets what was verified (a new peer connection may reach a changed peer). */
    void reset() {
        verified = null;
    }

    /** Throws an SQLException naming table, column and nodes if the columns differ. */
    void verify(Connection local, Connection peer) throws SQLException {
        String sig;
        try (PreparedStatement st = local.prepareStatement(SIGNATURE_SQL)) {
            st.setString(1, syncName);
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                sig = String.valueOf(rs.getString(1));
            }
        }
        verify(local, peer, sig);
    }

    /**
     * As {@link #verify(Connection, Connection)} with the local signature already read (the
     * turn's last local request reads it, see {@link LocalTurn}): no round trip unless it changed
     * or the peer is due for a look.
     */
    void verify(Connection local, Connection peer, String sig) throws SQLException {
        if (sig.equals(verified) && clock.nanoTime() - verifiedAt < RECHECK_NANOS) {
            return;
        }
        Map<String, Map<String, String>> here = new TreeMap<>();
        try (PreparedStatement st = local.prepareStatement(LOCAL_SQL)) {
            st.setString(1, syncName);
            collect(st, here);
        }
        List<String> schemas = new ArrayList<>();
        List<String> tables = new ArrayList<>();
        for (String key : here.keySet()) {
            schemas.add(key.substring(0, key.indexOf('\u001f')));
            tables.add(key.substring(key.indexOf('\u001f') + 1));
        }
        Map<String, Map<String, String>> there = new TreeMap<>();
        try (PreparedStatement st = peer.prepareStatement(PEER_SQL)) {
            st.setArray(1, peer.createArrayOf("text", schemas.toArray()));
            st.setArray(2, peer.createArrayOf("text", tables.toArray()));
            collect(st, there);
        }
        compare(here, there);
        verified = sig;
        verifiedAt = clock.nanoTime();
    }

    private static void collect(PreparedStatement st, Map<String, Map<String, String>> into) throws SQLException {
        try (ResultSet rs = st.executeQuery()) {
            while (rs.next()) {
                into.computeIfAbsent(rs.getString(1) + '\u001f' + rs.getString(2), k -> new TreeMap<>())
                        .put(rs.getString(3), rs.getString(4));
            }
        }
    }

    private void compare(Map<String, Map<String, String>> here, Map<String, Map<String, String>> there) throws SQLException {
        for (Map.Entry<String, Map<String, String>> t : here.entrySet()) {
            Map<String, String> peerCols = there.get(t.getKey());
            if (peerCols == null) {
                continue; // a missing table: see the class comment
            }
            String table = display(t.getKey());
            for (Map.Entry<String, String> c : t.getValue().entrySet()) {
                String peerType = peerCols.get(c.getKey());
                if (peerType == null) {
                    throw new SQLException("mmsync: column " + table + "." + quote(c.getKey()) + " (" + c.getValue()
                            + ") of node " + localNode + " does not exist on node " + peerNode + " (sync " + syncName
                            + "); add it there: changes wait until both nodes have the same columns", "42703");
                }
                if (!peerType.equals(c.getValue())) {
                    throw new SQLException("mmsync: column " + table + "." + quote(c.getKey()) + " is " + peerType
                            + " on node " + peerNode + " but " + c.getValue() + " on node " + localNode + " (sync "
                            + syncName + "); make the types equal: changes wait until they are", "42804");
                }
            }
            for (String col : peerCols.keySet()) {
                if (!t.getValue().containsKey(col)) {
                    throw new SQLException("mmsync: column " + table + "." + quote(col) + " of node " + peerNode
                            + " does not exist on node " + localNode + " (sync " + syncName + "); add it here or drop it"
                            + " there: changes wait until both nodes have the same columns", "42703");
                }
            }
        }
    }

    private static String display(String key) {
        int i = key.indexOf('\u001f');
        return quote(key.substring(0, i)) + "." + quote(key.substring(i + 1));
    }

    /** As SQL's quote_ident: quoted only when it has to be (capitals, spaces, ...). */
    private static String quote(String ident) {
        return ident.matches("[a-z_][a-z0-9_$]*") ? ident : io.mmsync.engine.model.TableRef.quoteIdent(ident);
    }
}
