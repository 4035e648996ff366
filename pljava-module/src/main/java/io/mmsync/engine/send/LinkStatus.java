package io.mmsync.engine.send;

import io.mmsync.engine.conn.Connector;
import io.mmsync.engine.model.LinkState;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
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
    /** the peer's set-aside count last written locally (-1: not yet this session) */
    private long peerSetAside = -1;

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

    /**
     * Counts the changes of {@code origin} the peer holds set aside (could not apply) and writes
     * the count to the local mmsync.links when it changed: status() and wait_synced read it there.
     * Called after a page that set changes aside, before that page is confirmed here (so
     * wait_synced never sees the confirmation without the count), and at every heartbeat, after
     * the set-aside retries.
     */
    void peerSetAside(Connection lc, Connection pc, String syncName, String origin) throws SQLException {
        long n;
        try (PreparedStatement st = pc.prepareStatement(
                "SELECT count(*) FROM mmsync.set_aside WHERE sync_name = ? AND origin = ?")) {
            st.setString(1, syncName);
            st.setString(2, origin);
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                n = rs.getLong(1);
            }
        }
        if (n != peerSetAside) {
            store.peerSetAside(lc, n);
            if (n > 0 && n > peerSetAside) {
                LOG.warning(logPrefix + n + " changes of this node are set aside at " + peerNode
                        + " (they could not be applied there; mmsync.status() there names the first)");
            }
            peerSetAside = n;
        }
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
