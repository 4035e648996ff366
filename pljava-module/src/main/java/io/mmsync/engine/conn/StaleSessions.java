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
            + " AND a.datname = me.datname AND a.usename = me.usename AND a.xact_start IS NOT NULL"
            + " AND a.backend_start < me.backend_start";

    private StaleSessions() {
    }

    /**
     * Terminates the sessions named {@code applicationName} that started before {@code c}'s session
     * and are in a transaction; returns their pids. A server that refuses (a role without the
     * right to signal them) is logged and skipped: the keepalives set by {@link ConnInfo} end them
     * on a real network within about a minute.
     */
    public static List<Integer> end(Connection c, String applicationName, String who) {
        List<Integer> ended = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(SQL)) {
            ps.setString(1, applicationName);
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
