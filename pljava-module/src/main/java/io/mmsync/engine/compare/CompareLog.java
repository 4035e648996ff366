package io.mmsync.engine.compare;

import io.mmsync.engine.conn.Connector;
import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Records compares in mmsync.compare_runs and compare_diffs: on the node they ran from, and a copy
 * on the peer with here and peer swapped, so that status() on either node says 'differs' while
 * rows the compare found are not repaired.
 */
final class CompareLog {
    private static final Logger LOG = Logger.getLogger(CompareLog.class.getName());

    private CompareLog() {
    }

    static long start(Connection here, SyncTarget target) throws SQLException {
        return start(here, target, target.peer());
    }

    private static long start(Connection here, SyncTarget target, String peer) throws SQLException {
        String[] schemas = target.tables().stream().map(TableRef::schema).toArray(String[]::new);
        String[] names = target.tables().stream().map(TableRef::name).toArray(String[]::new);
        // names as format('%I.%I') writes them, the form mmsync.compare() looks for
        try (PreparedStatement st = here.prepareStatement("INSERT INTO mmsync.compare_runs (sync_name, peer, tables) "
                + "SELECT ?, ?, ARRAY(SELECT pg_catalog.format('%I.%I', x.s, x.n) FROM ROWS FROM "
                + "(pg_catalog.unnest(?::text[]), pg_catalog.unnest(?::text[])) AS x(s, n)) RETURNING id")) {
            st.setString(1, target.sync());
            st.setString(2, peer);
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
            record(here, runId, o.diffs, o.rowsHere, o.more);
            here.commit();
        } catch (SQLException | RuntimeException e) {
            here.rollback();
            throw e;
        } finally {
            here.setAutoCommit(auto);
        }
    }

    /**
     * The run as the peer sees it (its rows "here", this node's "peer"), in one transaction on the
     * peer; returns its id there, or 0 with a warning when it cannot be written (the compare's own
     * record stands; only the peer's status() does not show 'differs').
     */
    static long mirror(Connection there, SyncTarget target, Comparer.Outcome o) {
        boolean auto = true;
        try {
            auto = there.getAutoCommit();
            there.setAutoCommit(false);
            long id = start(there, target, target.here());
            List<Diff> swapped = new ArrayList<>(o.diffs.size());
            for (Diff d : o.diffs) {
                swapped.add(new Diff(d.table(), d.key(), d.peer(), d.here()));
            }
            record(there, id, swapped, o.rowsPeer, o.more);
            there.commit();
            return id;
        } catch (SQLException | RuntimeException e) {
            try {
                there.rollback();
                there.setAutoCommit(auto);
            } catch (SQLException r) {
                e.addSuppressed(r);
            }
            LOG.log(Level.WARNING, "mmsync compare " + target.sync() + ": cannot record run on node " + target.peer()
                    + " (its mmsync.status() will not show what this compare found): " + e.getMessage());
            return 0;
        }
    }

    private static void record(Connection c, long runId, List<Diff> diffs, long rows, long more)
            throws SQLException {
        try (PreparedStatement st = c.prepareStatement("INSERT INTO mmsync.compare_diffs (run_id, schema_name, table_name, "
                + "key, here, peer) VALUES (?, ?, ?, ?::jsonb, ?::jsonb, ?::jsonb)")) {
            for (Diff d : diffs) {
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
        try (PreparedStatement st = c.prepareStatement("UPDATE mmsync.compare_runs SET finished_at = now(), rows_here = ?, "
                + "outcome = ?, differences = ? WHERE id = ?")) {
            st.setLong(1, rows);
            st.setString(2, diffs.isEmpty() && more == 0 ? "identical" : "different");
            st.setLong(3, diffs.size() + more);
            st.setLong(4, runId);
            st.executeUpdate();
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
