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

    PeerTables(String peerName) {
        this.peerName = peerName;
    }

    /** Binds the cache to a (new) peer connection. */
    void use(Connection peer) {
        if (peer != conn) {
            shapes.clear();
            conn = peer;
        }
    }

    void clear() {
        shapes.clear();
    }

    @Override
    public TableConstraints of(Change c) throws SQLException {
        return get(c).constraints;
    }

    TableShape get(Change c) throws SQLException {
        TableShape s = shapes.get(c.table());
        if (s == null) {
            s = TableShape.load(conn, c.table(), peerName, c.insertOnly());
            shapes.put(c.table(), s);
        }
        return s;
    }
}
