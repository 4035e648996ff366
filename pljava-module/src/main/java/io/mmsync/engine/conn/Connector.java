package io.mmsync.engine.conn;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;

/** Opens pgJDBC connections for a node's conninfo; the engine's only way to reach a database. */
public final class Connector {
    private final String nodeName;
    private final ConnInfo info;

    public Connector(String nodeName, String conninfo) {
        this.nodeName = nodeName;
        this.info = ConnInfo.parse(conninfo);
    }

    public String nodeName() {
        return nodeName;
    }

    public ConnInfo info() {
        return info;
    }

    /** A new connection in autocommit mode; the caller closes it. */
    public Connection open(String purpose) throws SQLException {
        Connection c = DriverManager.getConnection(info.jdbcUrl(), info.jdbcProperties("mmsync " + purpose));
        c.setAutoCommit(true);
        return c;
    }

    @Override
    public String toString() {
        return nodeName + " (" + info + ")";
    }
}
