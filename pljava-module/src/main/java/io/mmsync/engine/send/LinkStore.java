package io.mmsync.engine.send;

import io.mmsync.engine.model.LinkState;
import io.mmsync.engine.model.PeerHorizon;
import io.mmsync.engine.model.Position;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;

/** The local row of a link in {@code mmsync.links}: state, errors, heartbeat, confirmed position; and the local sync's pause. */
final class LinkStore {
    private static final String STATE_SQL = "INSERT INTO mmsync.links AS l (sync_name, peer, state, last_error, "
            + "last_error_at, heartbeat_at) VALUES (?, ?, ?, ?, CASE WHEN ? THEN pg_catalog.now() END, pg_catalog.now()) "
            + "ON CONFLICT (sync_name, peer) DO UPDATE SET state = EXCLUDED.state, heartbeat_at = EXCLUDED.heartbeat_at, "
            + "last_error = CASE WHEN ? THEN EXCLUDED.last_error ELSE l.last_error END, "
            + "last_error_at = CASE WHEN ? THEN EXCLUDED.last_error_at ELSE l.last_error_at END";
    static final String CONFIRM_SQL = "UPDATE mmsync.links SET confirmed_lo = ?::pg_snapshot, "
            + "sent = sent + ?, last_sent_at = pg_catalog.now(), heartbeat_at = pg_catalog.now(), state = '" + LinkState.RUNNING.sql() + "', "
            + "last_error = NULL WHERE sync_name = ? AND peer = ?";

    private static final String CONFIRM_AND_MARK_SQL = CONFIRM_SQL
            + "; SELECT mmsync._add_purge_mark(?, ?, ?::pg_snapshot, ?::pg_snapshot, ?)";

    private final String syncName;
    private final String peer;
    LinkStore(String syncName, String peer) {
        this.syncName = syncName;
        this.peer = peer;
    }

    /** Records the state and beats the heartbeat; {@code error} replaces the last error if given. */
    void state(Connection local, LinkState state, String error) throws SQLException {
        try (PreparedStatement st = local.prepareStatement(STATE_SQL)) {
            boolean hasError = error != null;
            st.setString(1, syncName);
            st.setString(2, peer);
            st.setString(3, state.sql());
            st.setString(4, error);
            st.setBoolean(5, hasError);
            st.setBoolean(6, hasError);
            st.setBoolean(7, hasError);
            st.executeUpdate();
        }
    }

    /**
     * After a peer commit: the peer holds {@code pos}; {@code applied} more changes were sent.
     * With {@code peerHorizon} (the peer's snapshot after that commit, taken when a range is
     * complete) a purge mark is added.
     */
    void confirmed(Connection local, Position pos, int applied, PeerHorizon peerHorizon) throws SQLException {
        boolean mark = peerHorizon != null && pos.lo() != null;
        // with a mark: both in one request (issue 15: a round trip less)
        try (PreparedStatement st = local.prepareStatement(mark ? CONFIRM_AND_MARK_SQL : CONFIRM_SQL)) {
            st.setString(1, pos.lo());
            st.setLong(2, applied);
            st.setString(3, syncName);
            st.setString(4, peer);
            if (mark) {
                st.setString(5, syncName);
                st.setString(6, peer);
                st.setString(7, pos.lo());
                st.setString(8, peerHorizon.snapshot());
                st.setTimestamp(9, java.sql.Timestamp.from(peerHorizon.at()));
            }
            st.execute();
        }
    }

    /**
     * A confirmation put off to the next turn's first request ({@link LocalTurn}) while pages keep
     * coming: the peer's progress is the position's record, this row only reports it and lets the
     * purge go on; a confirmation lost with its session is made good by the next one (the counter
     * {@code sent} then misses that page).
     */
    record Confirm(String lo, long applied, String syncName, String peer) {
        int bind(java.sql.PreparedStatement st, int from) throws SQLException {
            st.setString(from, lo);
            st.setLong(from + 1, applied);
            st.setString(from + 2, syncName);
            st.setString(from + 3, peer);
            return from + 4;
        }
    }

    /** Sends a put-off confirmation in a request of its own (the link goes idle before a turn took it). */
    void confirm(Connection local, Confirm c) throws SQLException {
        try (PreparedStatement st = local.prepareStatement(CONFIRM_SQL)) {
            c.bind(st, 1);
            st.execute();
        }
    }

    /** A confirmation of {@code pos} with {@code applied} changes, to be sent with the next turn. */
    Confirm later(Position pos, long applied) {
        return new Confirm(pos.lo(), applied, syncName, peer);
    }

    /** Records how many changes of this node the peer holds set aside (mmsync.links.peer_set_aside). */
    void peerSetAside(Connection local, long count) throws SQLException {
        try (PreparedStatement st = local.prepareStatement(
                "UPDATE mmsync.links SET peer_set_aside = ? WHERE sync_name = ? AND peer = ?")) {
            st.setLong(1, count);
            st.setString(2, syncName);
            st.setString(3, peer);
            st.executeUpdate();
        }
    }

    /** Pauses the sync on the local node (the agent pushes the pause to the peers). */
    void pauseSync(Connection local) throws SQLException {
        try (PreparedStatement st = local.prepareStatement("SELECT mmsync.pause(?)")) {
            st.setString(1, syncName);
            st.execute();
        }
    }
}
