package io.mmsync.engine.send;

import java.sql.Connection;
import java.sql.SQLException;
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

    Connection local(Connection c) {
        local = c;
        return c;
    }

    Connection peer(Connection c) {
        peer = c;
        return c;
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
