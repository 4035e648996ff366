package io.mmsync.engine.conn;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Properties;

/**
 * Opens pgJDBC connections for a node's conninfo: the one way the engine and the health endpoint
 * reach a database. The engine's connections get {@link ConnInfo#jdbcProperties}'s timeouts; a
 * {@link #bounded} connector's (the health endpoint's) bound every wait to about its limit.
 */
public final class Connector {
    private final String nodeName;
    private final ConnInfo info;
    /** null: the engine's timeouts */
    private final Duration bound;

    public Connector(String nodeName, String conninfo) {
        this(nodeName, ConnInfo.parse(conninfo), null);
    }

    public Connector(String nodeName, ConnInfo info) {
        this(nodeName, info, null);
    }

    private Connector(String nodeName, ConnInfo info, Duration bound) {
        this.nodeName = nodeName;
        this.info = info;
        this.bound = bound;
    }

    /**
     * The same node, every wait in its connections (connect, login, socket, statement, lock)
     * bounded by about {@code limit}: a hung server then fails a probe on time instead of hanging it.
     */
    public Connector bounded(Duration limit) {
        return new Connector(nodeName, info, limit);
    }

    public String nodeName() {
        return nodeName;
    }

    public ConnInfo info() {
        return info;
    }

    /** A new connection in autocommit mode, application name "mmsync {@code purpose}"; the caller closes it. */
    public Connection open(String purpose) throws SQLException {
        Connection c = DriverManager.getConnection(info.jdbcUrl(), properties(purpose));
        c.setAutoCommit(true);
        return c;
    }

    /**
     * {@link #open}, for a session that waits for NOTIFYs: its sockets hand over a notification
     * without pgJDBC's extra millisecond ({@link QuickPeekSocketFactory}; its waits for
     * notifications must be 2 ms or more).
     */
    public Connection openListening(String purpose) throws SQLException {
        Properties p = properties(purpose);
        p.setProperty("socketFactory", QuickPeekSocketFactory.class.getName());
        Connection c = DriverManager.getConnection(info.jdbcUrl(), p);
        c.setAutoCommit(true);
        return c;
    }

    /**
     * {@link #open}, for a session that replaces an earlier one of the same purpose (the link's
     * applier after a reconnect): earlier sessions of that name, left by a dead connection, are
     * ended first and waited for ({@link StaleSessions#replace}). Not done when the node's conninfo names its own
     * application_name, which all our sessions then share.
     */
    public Connection openReplacing(String purpose) throws SQLException {
        Connection c = open(purpose);
        if (info.get("application_name") == null) {
            try {
                StaleSessions.replace(c, "mmsync " + purpose, nodeName);
            } catch (SQLException e) {
                c.close();
                throw e;
            }
        }
        return c;
    }

    /**
     * Ends this node's sessions of {@code purpose} that started before {@code c}'s and are still in a
     * transaction ({@link StaleSessions}); nothing when the conninfo names its own application_name.
     */
    public void endStale(Connection c, String purpose) {
        if (info.get("application_name") == null) {
            StaleSessions.end(c, "mmsync " + purpose, nodeName);
        }
    }

    /** The pgJDBC properties {@link #open} connects with. */
    Properties properties(String purpose) {
        Properties p = info.jdbcProperties("mmsync " + purpose);
        if (bound != null) {
            int seconds = (int) Math.max(1, (bound.toMillis() + 999) / 1000);
            p.setProperty("connectTimeout", Integer.toString(seconds));
            p.setProperty("loginTimeout", Integer.toString(seconds + 1));
            p.setProperty("socketTimeout", Integer.toString(seconds + 1));
            String ms = Long.toString(bound.toMillis());
            String options = p.getProperty("options", "");
            p.setProperty("options", (options + " -c statement_timeout=" + ms + " -c lock_timeout=" + ms
                    + " -c idle_in_transaction_session_timeout=" + Math.max(10_000, 10 * bound.toMillis())).trim());
        }
        return p;
    }

    @Override
    public String toString() {
        return nodeName + " (" + info + ")";
    }
}
