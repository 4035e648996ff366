package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.Map;

/** The peer's tables as the apply needs them ({@link TableShape}s), loaded once per connection and forgotten on reconnect or error. */
final class PeerTables implements RunPlanner.Constraints {
    private final String peerName;
    private final Map<TableRef, TableShape> shapes = new HashMap<>();
    private Connection conn;
    /** this node's newest queued change per row, between pages (a sync of two nodes; see {@link CompetitorCache}) */
    final CompetitorCache competitors = new CompetitorCache();

    PeerTables(String peerName) {
        this.peerName = peerName;
    }

    /** Binds the cache to a (new) peer connection. */
    void use(Connection peer) {
        if (peer != conn) {
            shapes.clear();
            competitors.reset();
            conn = peer;
        }
    }

    /** The name of the node whose tables these are. */
    String node() {
        return peerName;
    }

    void clear() {
        shapes.clear();
        competitors.clear();
    }

    @Override
    public TableConstraints of(Change c) throws SQLException {
        return get(c).constraints;
    }

    TableShape get(Change c) throws SQLException {
        return get(c.table(), c.insertOnly());
    }

    TableShape get(TableRef table, boolean insertOnly) throws SQLException {
        TableShape s = shapes.get(table);
        if (s == null) {
            s = TableShape.load(conn, table, peerName, insertOnly);
            shapes.put(table, s);
        }
        return s;
    }
}
