package io.mmsync.engine.send;

import io.mmsync.engine.model.ChangeId;
import io.mmsync.engine.model.ExtensionVersion;
import io.mmsync.engine.model.PeerHorizon;
import io.mmsync.engine.model.Position;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;

/** What a link reads from and writes to the peer besides the changes themselves. */
final class PeerStore {
    private PeerStore() {
    }

    /**
     * Fails with a clear message when the peer database lacks the mmsync extension or has an older
     * version than this engine needs.
     */
    static void requireExtension(Connection peer, String peerName) throws SQLException {
        ExtensionVersion.require(peer, peerName);
        // Issue 14: with the C capture, mmsync._capturing() is the library mmsync_capture's; calling it
        // loads the library into the applier's session, whose hooks then make every applied statement
        // skip the capture triggers, the first one included (the triggers have no WHEN clause with the
        // C capture; see sql/src/functions/11a_capture_triggers.sql). With the PL/pgSQL capture it is SQL.
        try (PreparedStatement st = peer.prepareStatement("SELECT mmsync._capturing()");
             ResultSet rs = st.executeQuery()) {
            rs.next();
        }
    }

    /** The position up to which the peer has applied {@code origin}'s changes of the sync. */
    static Position readPosition(Connection peer, String syncName, String origin) throws SQLException {
        try (PreparedStatement st = peer.prepareStatement(
                "SELECT lo::text, hi::text, last_id FROM mmsync.progress WHERE sync_name = ? AND origin = ?")) {
            st.setString(1, syncName);
            st.setString(2, origin);
            try (ResultSet rs = st.executeQuery()) {
                return rs.next() ? Position.of(rs.getString(1), rs.getString(2), ChangeId.valueOf(rs.getLong(3)))
                        : Position.START;
            }
        }
    }

    /** Pushes the local definition of a sync to the peer; true if the peer took it. */
    static boolean pushDefinition(Connection local, Connection peer, String syncName, String peerName)
            throws SQLException {
        String def;
        try (PreparedStatement st = local.prepareStatement("SELECT mmsync._sync_def(?, ?)::text")) {
            st.setString(1, syncName);
            st.setString(2, peerName);
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                def = rs.getString(1);
            }
        }
        if (def == null) {
            return false;
        }
        try (PreparedStatement st = peer.prepareStatement("SELECT mmsync._receive_sync(?::jsonb)")) {
            st.setObject(1, def, Types.OTHER);
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                return rs.getBoolean(1);
            }
        }
    }

    /** The peer's current snapshot and clock: its horizon right after an apply committed. */
    static PeerHorizon snapshot(Connection peer) throws SQLException {
        try (PreparedStatement st = peer.prepareStatement(PeerHorizon.SQL);
             ResultSet rs = st.executeQuery()) {
            rs.next();
            return new PeerHorizon(rs.getString(1), rs.getTimestamp(2).toInstant());
        }
    }
}
