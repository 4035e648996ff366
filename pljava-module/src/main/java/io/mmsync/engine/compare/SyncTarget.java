package io.mmsync.engine.compare;

import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * What a compare (or repair) works on, read from the local node's catalog: a sync of two nodes,
 * the peer's conninfo, and the sync's keyed tables (all, or the one asked for).
 */
public final class SyncTarget {
    private final String sync;
    private final String here;
    private final String peer;
    private final String peerConninfo;
    private final List<TableRef> tables;

    private SyncTarget(String sync, String here, String peer, String peerConninfo, List<TableRef> tables) {
        this.sync = sync;
        this.here = here;
        this.peer = peer;
        this.peerConninfo = peerConninfo;
        this.tables = List.copyOf(tables);
    }

    /**
     * Loads sync {@code sync} from the local catalog; {@code table} (as in add_sync's table lists,
     * null for all) must be one of its keyed tables. Fails with a message naming what is wrong.
     */
    public static SyncTarget load(Connection local, String sync, String table) throws SQLException {
        return load(local, sync, table, null);
    }

    /**
     * As {@link #load(Connection, String, String)}, with the peer {@code peerName} of a sync of
     * three or more nodes (null: the first peer in the sync's node list).
     */
    public static SyncTarget load(Connection local, String sync, String table, String peerName) throws SQLException {
        String here;
        String peer = null;
        String conninfo = null;
        try (PreparedStatement st = local.prepareStatement("SELECT mmsync.local_node(), p.peer, n.conninfo "
                + "FROM mmsync.syncs s CROSS JOIN LATERAL pg_catalog.unnest(s.nodes) AS p(peer) "
                + "JOIN mmsync.nodes n ON n.name = p.peer AND NOT n.is_local WHERE s.name = ? AND NOT s.removed "
                + "AND (?::text IS NULL OR p.peer = ?) ORDER BY array_position(s.nodes, p.peer)")) {
            st.setString(1, sync);
            st.setString(2, peerName);
            st.setString(3, peerName);
            try (ResultSet rs = st.executeQuery()) {
                if (!rs.next()) {
                    throw new SQLException(peerName == null
                            ? "mmsync: sync \"" + sync + "\" does not exist on this node; see mmsync.status()"
                            : "mmsync: node " + peerName + " is not a peer in sync \"" + sync + "\" on this node; see mmsync.status()",
                            "42704");
                }
                here = rs.getString(1);
                peer = rs.getString(2);
                conninfo = rs.getString(3);
            }
        }
        List<TableRef> tables = new ArrayList<>();
        Long relid = null;
        if (table != null) {
            try (PreparedStatement st = local.prepareStatement("SELECT mmsync._resolve_table("
                    + "(SELECT t FROM mmsync._parse_table_list(?) t LIMIT 1))::bigint")) {
                st.setString(1, table);
                try (ResultSet rs = st.executeQuery()) {
                    rs.next();
                    relid = rs.getLong(1);
                }
            }
        }
        try (PreparedStatement st = local.prepareStatement("SELECT t.schema_name, t.table_name, t.mode FROM mmsync.sync_tables t "
                + "JOIN mmsync.syncs s ON s.id = t.sync_id WHERE s.name = ? AND (?::bigint IS NULL OR t.relid = ?::bigint::oid) "
                + "ORDER BY t.schema_name, t.table_name")) {
            st.setString(1, sync);
            st.setObject(2, relid);
            st.setObject(3, relid);
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    TableRef t = new TableRef(rs.getString(1), rs.getString(2));
                    if ("keyed".equals(rs.getString(3))) {
                        tables.add(t);
                    } else if (relid != null) {
                        throw new SQLException("mmsync: table " + t + " of sync \"" + sync + "\" has no primary key "
                                + "(insert-only) and cannot be compared by key", "42P16");
                    }
                }
            }
        }
        if (tables.isEmpty()) {
            throw new SQLException("mmsync: table " + table + " is not in sync \"" + sync + "\"; the sync's tables are in "
                    + "mmsync.sync_tables", "42P01");
        }
        return new SyncTarget(sync, here, peer, conninfo, tables);
    }

    public String sync() {
        return sync;
    }

    public String here() {
        return here;
    }

    public String peer() {
        return peer;
    }

    public String peerConninfo() {
        return peerConninfo;
    }

    public List<TableRef> tables() {
        return tables;
    }

    @Override
    public String toString() {
        return "sync " + sync + " (" + here + " and " + Objects.toString(peer) + ")";
    }
}
