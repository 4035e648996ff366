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

    /**
     * Claims the right to apply {@code origin}'s changes of the sync at the peer for this session
     * (a session-level advisory lock, released when the session ends), before the link reads its
     * position there: a session of an earlier connection that is still running a page (its client
     * gone, {@link io.mmsync.engine.conn.StaleSessions#replace}) could otherwise commit that page
     * after the position was read, and the page would be applied twice. Fails, naming the holder,
     * while another session holds it (the link retries).
     */
    static void claim(Connection peer, String syncName, String origin, String peerName) throws SQLException {
        try (PreparedStatement st = peer.prepareStatement("SELECT pg_catalog.pg_try_advisory_lock("
                + "pg_catalog.hashtext('mmsync applier'), pg_catalog.hashtext(? || '/' || ?))")) {
            st.setString(1, syncName);
            st.setString(2, origin);
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                if (rs.getBoolean(1)) {
                    return;
                }
            }
        }
        String holder = "another session";
        try (PreparedStatement st = peer.prepareStatement("SELECT 'session ' || l.pid || coalesce(' (' || "
                + "nullif(a.application_name, '') || ')', '') FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a "
                + "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
                + "AND l.classid = pg_catalog.hashtext('mmsync applier')::oid AND l.objid = pg_catalog.hashtext(? || '/' || ?)::oid "
                + "AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())")) {
            st.setString(1, syncName);
            st.setString(2, origin);
            try (ResultSet rs = st.executeQuery()) {
                if (rs.next()) {
                    holder = rs.getString(1);
                }
            }
        }
        throw new SQLException("mmsync: " + holder + " on node " + peerName + " is still applying changes from " + origin
                + " for sync " + syncName + " (it holds the applier's lock); the link waits for it to end and tries again",
                "55006");
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
