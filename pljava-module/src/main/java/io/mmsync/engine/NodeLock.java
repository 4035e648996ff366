package io.mmsync.engine;

import org.postgresql.PGConnection;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.function.BooleanSupplier;
import java.util.logging.Logger;

/**
 * Exactly one engine per node: the engine holds a session-level advisory lock on its watch
 * connection to the local database for as long as it runs links, whatever hosts it (the agent
 * beside the server or the worker inside it). A second engine for the same database waits, says
 * who holds the lock, and takes over when that one stops. {@code mmsync.engine_host()} reads the
 * same lock to say which host runs the node's engine.
 */
final class NodeLock {
    private static final Logger LOG = Logger.getLogger(NodeLock.class.getName());
    /** Keys of the lock: 'mmsn' in ASCII and 1 (advisory locks are per database already). */
    static final int KEY1 = 1835889518;
    static final int KEY2 = 1;
    private static final String HOLDER_SQL = "SELECT a.pid, a.application_name, a.client_addr, a.backend_start "
            + "FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
            + "WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()) "
            + "AND l.classid = " + KEY1 + "::oid AND l.objid = " + KEY2 + "::oid AND l.objsubid = 2 AND l.granted";

    private NodeLock() {
    }

    /**
     * Takes the lock on {@code c}, waiting (one try a second) while another engine holds it;
     * false if {@code stopping} became true first. A stop that closes {@code c} ends the wait
     * with an SQLException.
     */
    static boolean await(Connection c, BooleanSupplier stopping) throws SQLException {
        String warned = null;
        while (!stopping.getAsBoolean()) {
            try (Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT pg_catalog.pg_try_advisory_lock(" + KEY1 + ", " + KEY2 + ")")) {
                rs.next();
                if (rs.getBoolean(1)) {
                    if (warned != null) {
                        LOG.info("mmsync engine: the other engine of this node stopped; this one runs it now");
                    }
                    return true;
                }
            }
            String holder = holder(c);
            if (!holder.equals(warned)) {
                LOG.warning("mmsync engine: another engine already runs this node: " + holder + "; this one waits and"
                        + " takes over when it stops. Run either the agent or the in-database worker for a node, not both"
                        + " (stop the agent, or remove mmsync_worker from shared_preload_libraries / unset mmsync.worker_database)");
                warned = holder;
            }
            c.unwrap(PGConnection.class).getNotifications(1000);
        }
        return false;
    }

    /** Who holds the lock: its application_name, pid, client address and start, or "unknown". */
    static String holder(Connection c) throws SQLException {
        try (PreparedStatement st = c.prepareStatement(HOLDER_SQL); ResultSet rs = st.executeQuery()) {
            if (!rs.next()) {
                return "an engine that just stopped";
            }
            String addr = rs.getString(3);
            return "\"" + rs.getString(2) + "\" (backend pid " + rs.getInt(1)
                    + (addr == null ? "" : ", connected from " + addr) + ", since " + rs.getString(4) + ")";
        }
    }
}
