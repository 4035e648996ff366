package io.mmsync.engine.send;

import io.mmsync.engine.conn.Connector;
import io.mmsync.engine.model.LinkState;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * What a link tells the DBA about itself: its state and heartbeat in the local mmsync.links
 * (read by mmsync.status()), its last error, and a warning once when the peer needs a resync.
 */
final class LinkStatus {
    private static final Logger LOG = Logger.getLogger(LinkStatus.class.getName());
    private final LinkStore store;
    private final Pacing pacing;
    private final Connector local;
    private final String peerNode;
    private final String logPrefix;
    private boolean heldForResync;

    LinkStatus(LinkStore store, Pacing pacing, Connector local, String peerNode, String logPrefix) {
        this.store = store;
        this.pacing = pacing;
        this.local = local;
        this.peerNode = peerNode;
        this.logPrefix = logPrefix;
    }

    /** The heartbeat (state running) when due. */
    void beatIfDue(Connection lc) throws SQLException {
        if (pacing.heartbeatDue()) {
            store.state(lc, LinkState.RUNNING, null);
            pacing.beat();
        }
    }

    /** True while the peer is marked as needing a resync (mmsync.resync_needed, {@code reason}): nothing is sent. */
    boolean heldForResync(String reason) {
        if (reason != null && !heldForResync) {
            LOG.warning(logPrefix + "not sending: " + peerNode + " needs a resync (" + reason
                    + "); see mmsync.status() and docs/operations.md");
        }
        heldForResync = reason != null;
        return heldForResync;
    }

    /** Best effort, on a connection of its own: the local database may be the one that is down. */
    void recordError(LinkState state, String msg) {
        try (Connection lc = local.open("sender status")) {
            store.state(lc, state, msg);
        } catch (SQLException e) {
            LOG.log(Level.FINE, logPrefix + "cannot record error locally: " + e.getMessage());
        }
    }
}
