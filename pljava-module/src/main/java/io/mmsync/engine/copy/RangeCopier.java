package io.mmsync.engine.copy;

import io.mmsync.engine.error.ErrorPolicy;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;
import org.postgresql.copy.CopyOut;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Statement;

/**
 * Copies ranges from the origin's snapshot to the target, one target transaction per range: COPY
 * TO STDOUT on the origin streamed chunk by chunk into COPY FROM STDIN on the target (memory is one
 * chunk), the range marked done in the same transaction. Rows the target wrote itself meanwhile
 * (a unique violation) are kept: the range then goes through a staging table and
 * INSERT ... ON CONFLICT DO NOTHING. The target's capture is off for the copied rows (mmsync.origin).
 */
final class RangeCopier implements AutoCloseable {
    private final Connection source;
    private final Connection target;
    private final String origin;
    private final String snapshot;
    private final CopyStore store;

    /** Opens the two connections; the source one reads in the exported snapshot {@code exported}. */
    RangeCopier(Connection source, Connection target, String exported, String snapshot, String origin, CopyStore store)
            throws SQLException {
        this.source = source;
        this.target = target;
        this.origin = origin;
        this.snapshot = snapshot;
        this.store = store;
        source.setNetworkTimeout(Runnable::run, InitialCopy.LONG_REQUEST_MILLIS);
        target.setNetworkTimeout(Runnable::run, InitialCopy.LONG_REQUEST_MILLIS);
        try (Statement st = source.createStatement()) {
            st.execute("SET idle_in_transaction_session_timeout = 0");
            st.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '" + exported.replace("'", "''") + "'");
        }
        target.setAutoCommit(false);
    }

    /** Copies the range (refreshing it when done at an older snapshot); returns {rows, bytes}. */
    long[] copy(CopyPlan plan, CopyRange r) throws SQLException {
        try {
            try (Statement st = target.createStatement()) {
                st.execute("SET LOCAL mmsync.origin = '" + origin.replace("'", "''") + "'");
            }
            if (r.doneSnapshot != null) {
                if (sameDigest(plan, r)) {
                    store.rangeRefreshed(target, r, snapshot);
                    target.commit();
                    return new long[] {0, 0};
                }
                try (Statement st = target.createStatement()) {
                    st.executeUpdate("DELETE FROM " + plan.table.quoted() + " t WHERE " + r.where(plan.keyRow));
                }
            }
            long[] done;
            Savepoint sp = target.setSavepoint();
            try {
                done = stream(plan.copyOutSql(r), plan.copyInSql(plan.table.quoted()));
                target.releaseSavepoint(sp);
            } catch (SQLException e) {
                if (!ErrorPolicy.isUniqueViolation(e)) {
                    throw e;
                }
                target.rollback(sp);
                done = throughStaging(plan, r);
            }
            store.rangeDone(target, r, done[0], done[1], snapshot);
            target.commit();
            return done;
        } catch (SQLException | RuntimeException e) {
            rollbackQuietly(e);
            throw e;
        }
    }

    private long[] throughStaging(CopyPlan plan, CopyRange r) throws SQLException {
        try (Statement st = target.createStatement()) {
            st.execute("CREATE TEMP TABLE IF NOT EXISTS mmsync_copy_stage (LIKE " + plan.table.quoted() + ") ON COMMIT DROP");
            st.execute("TRUNCATE mmsync_copy_stage");
        }
        long[] done = stream(plan.copyOutSql(r), plan.copyInSql("mmsync_copy_stage"));
        try (Statement st = target.createStatement()) {
            st.executeUpdate("INSERT INTO " + plan.table.quoted() + " (" + plan.columnList + ") SELECT " + plan.columnList
                    + " FROM mmsync_copy_stage ON CONFLICT DO NOTHING");
            st.execute("DROP TABLE mmsync_copy_stage");
        }
        return done;
    }

    private long[] stream(String out, String in) throws SQLException {
        CopyOut from = source.unwrap(PGConnection.class).getCopyAPI().copyOut(out);
        CopyIn into = null;
        try {
            into = target.unwrap(PGConnection.class).getCopyAPI().copyIn(in);
            long bytes = 0;
            byte[] chunk;
            while ((chunk = from.readFromCopy()) != null) {
                into.writeToCopy(chunk, 0, chunk.length);
                bytes += chunk.length;
            }
            long rows = into.endCopy();
            return new long[] {rows, bytes};
        } finally {
            if (into != null && into.isActive()) {
                into.cancelCopy();
            }
            if (from.isActive()) {
                from.cancelCopy();
            }
        }
    }

    private boolean sameDigest(CopyPlan plan, CopyRange r) throws SQLException {
        return digest(source, plan, r).equals(digest(target, plan, r));
    }

    private static String digest(Connection c, CopyPlan plan, CopyRange r) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(plan.digestSql(r))) {
            rs.next();
            return rs.getLong(1) + ":" + rs.getLong(2);
        }
    }

    private void rollbackQuietly(Exception cause) {
        try {
            target.rollback();
        } catch (SQLException e) {
            cause.addSuppressed(e);
        }
    }

    @Override
    public void close() throws SQLException {
        try {
            source.close();
        } finally {
            target.close();
        }
    }
}
