package io.mmsync.engine.apply;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * A request's failure on purpose at the peer (issue 15): a statement of a multi-statement request
 * fails so that the server skips the later ones (the position, COMMIT) and the transaction rolls
 * back ({@link PageEnd}'s re-check, {@link PageAtOnce}'s check). With the peer's
 * {@code mmsync._fail} (extension 0.2.0 as of issue 15) the error has an SQLSTATE of mmsync's own;
 * a peer whose extension lacks it (an earlier 0.2.0 build) gets the former way, a cast of the
 * message to integer (SQLSTATE 22P02), and both are recognised. Either leaves an ERROR line in the
 * peer's server log (docs/operations.md).
 */
final class OnPurpose {
    /** A local change raced the page: its decisions are stale. */
    static final String RACED = "MM001";
    /** The page needs the full apply ({@link PageAtOnce}). */
    static final String DECLINED = "MM002";
    private static final String HAS_FAIL_SQL = "SELECT coalesce(pg_catalog.has_function_privilege("
            + "pg_catalog.to_regprocedure('mmsync._fail(text,text)'), 'EXECUTE'), false)";

    private Connection conn;
    private boolean own;

    /** Whether {@code peer} has {@code mmsync._fail} for this session (asked once per connection). */
    boolean own(Connection peer) throws SQLException {
        if (peer != conn) {
            try (PreparedStatement st = peer.prepareStatement(HAS_FAIL_SQL); ResultSet rs = st.executeQuery()) {
                rs.next();
                own = rs.getBoolean(1);
            }
            conn = peer;
        }
        return own;
    }

    /**
     * An integer expression that fails with {@code sqlstate} and the text of {@code messageSql} (an
     * SQL text expression that must depend on a row, so the planner cannot fold it on a peer without
     * {@code mmsync._fail}).
     */
    static String raise(boolean own, String sqlstate, String messageSql) {
        return own ? "mmsync._fail('" + sqlstate + "', " + messageSql + ")" : "(" + messageSql + ")::int";
    }

    /** Whether {@code e} is the failure of {@link #raise} with {@code sqlstate} and a message starting {@code message}. */
    static boolean is(SQLException e, String sqlstate, String message) {
        String m = e.getMessage();
        return m != null && m.contains(message) && (sqlstate.equals(e.getSQLState()) || "22P02".equals(e.getSQLState()));
    }
}
