package io.mmsync.engine.compare;

import io.mmsync.engine.conn.Connector;
import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.logging.Level;
import java.util.logging.Logger;

/** Records compares on the node they ran from: mmsync.compare_runs and compare_diffs. */
final class CompareLog {
    private static final Logger LOG = Logger.getLogger(CompareLog.class.getName());

    private CompareLog() {
    }

    static long start(Connection here, SyncTarget target) throws SQLException {
        String[] schemas = target.tables().stream().map(TableRef::schema).toArray(String[]::new);
        String[] names = target.tables().stream().map(TableRef::name).toArray(String[]::new);
        // names as format('%I.%I') writes them, the form mmsync.compare() looks for
        try (PreparedStatement st = here.prepareStatement("INSERT INTO mmsync.compare_runs (sync_name, peer, tables) "
                + "SELECT ?, ?, ARRAY(SELECT pg_catalog.format('%I.%I', x.s, x.n) FROM ROWS FROM "
                + "(pg_catalog.unnest(?::text[]), pg_catalog.unnest(?::text[])) AS x(s, n)) RETURNING id")) {
            st.setString(1, target.sync());
            st.setString(2, target.peer());
            st.setArray(3, here.createArrayOf("text", schemas));
            st.setArray(4, here.createArrayOf("text", names));
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    static void finish(Connection here, long runId, Comparer.Outcome o) throws SQLException {
        boolean auto = here.getAutoCommit();
        here.setAutoCommit(false);
        try {
            try (PreparedStatement st = here.prepareStatement("INSERT INTO mmsync.compare_diffs (run_id, schema_name, table_name, "
                    + "key, here, peer) VALUES (?, ?, ?, ?::jsonb, ?::jsonb, ?::jsonb)")) {
                for (Diff d : o.diffs) {
                    st.setLong(1, runId);
                    st.setString(2, d.table().schema());
                    st.setString(3, d.table().name());
                    st.setObject(4, d.key(), Types.OTHER);
                    st.setObject(5, d.here(), Types.OTHER);
                    st.setObject(6, d.peer(), Types.OTHER);
                    st.addBatch();
                }
                st.executeBatch();
            }
            try (PreparedStatement st = here.prepareStatement("UPDATE mmsync.compare_runs SET finished_at = now(), rows_here = ?, "
                    + "outcome = ?, differences = ? WHERE id = ?")) {
                st.setLong(1, o.rowsHere);
                st.setString(2, o.identical() ? "identical" : "different");
                st.setLong(3, o.diffs.size() + o.more);
                st.setLong(4, runId);
                st.executeUpdate();
            }
            here.commit();
        } catch (SQLException | RuntimeException e) {
            here.rollback();
            throw e;
        } finally {
            here.setAutoCommit(auto);
        }
    }

    /** Best effort, on a new connection: the one in use may be what failed. */
    static void failed(Connector local, long runId, Exception cause) {
        try (Connection c = local.open("compare log");
             PreparedStatement st = c.prepareStatement("UPDATE mmsync.compare_runs SET finished_at = now(), outcome = 'failed', "
                     + "error = ? WHERE id = ?")) {
            st.setString(1, String.valueOf(cause.getMessage()));
            st.setLong(2, runId);
            st.executeUpdate();
        } catch (SQLException e) {
            LOG.log(Level.WARNING, "mmsync compare: cannot record the failure of run " + runId + ": " + e.getMessage());
        }
    }
}
