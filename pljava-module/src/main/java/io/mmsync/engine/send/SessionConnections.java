package io.mmsync.engine.send;

import io.mmsync.engine.conn.Connector;
import io.mmsync.engine.model.LinkState;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The two connections of a link's session (local, peer). Closing them from another thread
 * ({@link Link#stop()}) ends a wait or a query in progress at once.
 */
final class SessionConnections {
    private static final Logger LOG = Logger.getLogger(SessionConnections.class.getName());
    private final String logPrefix;
    private volatile Connection local;
    private volatile Connection peer;

    SessionConnections(String logPrefix) {
        this.logPrefix = logPrefix;
    }

    /**
     * Opens the session's two connections: the local one, listening for the capture trigger's
     * NOTIFY (the link's state says connecting meanwhile), then the peer's, which ends earlier
     * sessions of the applier's name and takes the applier's lock ({@link PeerStore#claim}).
     */
    void open(Connector localNode, Connector peerNode, LinkStore store, String syncName, String origin) throws SQLException {
        local = localNode.openListening("sender " + syncName + " to " + peerNode.nodeName());
        try (Statement st = local.createStatement()) {
            st.execute("LISTEN mmsync_changes");
        }
        store.state(local, LinkState.CONNECTING, null);
        peer = peerNode.openReplacing("applier " + syncName + " from " + origin);
        PeerStore.requireExtension(peer, peerNode.nodeName());
        PeerStore.claim(peer, syncName, origin, peerNode.nodeName());
    }

    Connection local() {
        return local;
    }

    Connection peer() {
        return peer;
    }

    /** Closes both, if open; a failure to close is only logged (the server may be the one that is down). */
    void closeQuietly() {
        for (Connection c : new Connection[] {local, peer}) {
            if (c != null) {
                try {
                    c.close();
                } catch (SQLException e) {
                    LOG.log(Level.FINE, logPrefix + "close: " + e.getMessage());
                }
            }
        }
        local = null;
        peer = null;
    }
}
