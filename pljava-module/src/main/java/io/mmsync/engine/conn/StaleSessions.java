package io.mmsync.engine.conn;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Ends the sessions a dead connection of ours left behind on a server. When the network path to a
 * peer dies while its backend is in the middle of a request of ours (inside a COPY, or between the
 * messages of a pipelined request), that backend waits for the rest of the request with its
 * transaction open and its row locks held: no server timer runs there, and TCP keepalive only ends
 * it if nothing between us answers for the dead client (a proxy, a NAT box or a load balancer
 * does). Our retry of the same rows would then wait on those locks. So a session that replaces
 * another (the link's applier after a reconnect, a copy's writers when the copy resumes) first
 * terminates the sessions of the same name, database and user that started before it and are still
 * in a transaction: they are ours and abandoned, since one engine runs a link at a time (the node
 * lock) and their client is gone.
 */
public final class StaleSessions {
    private static final Logger LOG = Logger.getLogger(StaleSessions.class.getName());
    private static final String SQL = "SELECT a.pid, a.state, a.wait_event, pg_terminate_backend(a.pid)"
            + " FROM pg_stat_activity a, pg_stat_activity me"
            + " WHERE me.pid = pg_backend_pid() AND a.application_name = ? AND a.pid <> me.pid"
            + " AND a.datname = me.datname AND a.usename = me.usename AND (? OR a.xact_start IS NOT NULL)"
            + " AND a.backend_start < me.backend_start";
    private static final String ALIVE_SQL = "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY (?)";
    /** How long a replacing session waits for the sessions it ended to be gone. */
    static final long EXIT_WAIT_MS = Long.getLong("mmsync.staleExitWaitMs", 10_000);

    private StaleSessions() {
    }

    /**
     * Terminates the sessions named {@code applicationName} that started before {@code c}'s session
     * and are in a transaction; returns their pids. A server that refuses (a role without the
     * right to signal them) is logged and skipped: the keepalives set by {@link ConnInfo} end them
     * on a real network within about a minute.
     */
    public static List<Integer> end(Connection c, String applicationName, String who) {
        return end(c, applicationName, who, false);
    }

    /**
     * Ends every session named {@code applicationName} that started before {@code c}'s, in a
     * transaction or not, and waits until they are gone; for a session of which only one may be
     * alive (the link's applier: one engine runs a link at a time). A dead client's backend goes on
     * running the request it had received, up to its COMMIT: a page applied and its position
     * recorded after the replacing session read the position would be applied twice. So the
     * replacing session reads the position only once they are gone; throws when one outlives {@link
     * #EXIT_WAIT_MS} (the caller retries), as the position could still move under it.
     */
    public static List<Integer> replace(Connection c, String applicationName, String who) throws SQLException {
        List<Integer> ended = end(c, applicationName, who, true);
        if (ended.isEmpty()) {
            return ended;
        }
        long deadline = System.nanoTime() + EXIT_WAIT_MS * 1_000_000L;
        try (PreparedStatement ps = c.prepareStatement(ALIVE_SQL)) {
            ps.setArray(1, c.createArrayOf("int4", ended.toArray()));
            while (true) {
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    if (rs.getLong(1) == 0) {
                        return ended;
                    }
                }
                if (System.nanoTime() > deadline) {
                    throw new SQLException(who + ": the abandoned sessions " + ended + " named \"" + applicationName
                            + "\" were told to end " + EXIT_WAIT_MS + " ms ago and are still there; a page they were "
                            + "applying could still commit, so the link waits for them and tries again", "55006");
                }
                try {
                    Thread.sleep(5);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new SQLException(who + ": interrupted while waiting for abandoned sessions to end", "57014", e);
                }
            }
        }
    }

    private static List<Integer> end(Connection c, String applicationName, String who, boolean anyState) {
        List<Integer> ended = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(SQL)) {
            ps.setString(1, applicationName);
            ps.setBoolean(2, anyState);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    if (rs.getBoolean(4)) {
                        ended.add(rs.getInt(1));
                    }
                    LOG.warning(who + ": ended an abandoned session of ours on the server (pid " + rs.getInt(1) + ", "
                            + rs.getString(2) + (rs.getString(3) == null ? "" : ", waiting on " + rs.getString(3))
                            + ") that held its transaction open after its connection died");
                }
            }
        } catch (SQLException e) {
            LOG.log(Level.WARNING, who + ": could not end abandoned sessions named \"" + applicationName + "\": " + e.getMessage());
        }
        return ended;
    }
}
