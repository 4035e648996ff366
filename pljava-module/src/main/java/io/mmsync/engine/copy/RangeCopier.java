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
 * INSERT ... ON CONFLICT DO NOTHING. The target's capture is off for the copied rows (mmsync.origin),
 * and where its role may, its triggers do not even fire ({@link #REPLICA_ROLE}).
 */
final class RangeCopier implements AutoCloseable {
    /**
     * Whether the target's copy transactions skip the target's triggers where its role may
     * (-Dmmsync.copy.replicaRole=false: never): session_replication_role = replica, as pg_dump
     * --disable-triggers and logical replication's apply do. The copied rows are the origin's,
     * consistent at one snapshot and copied parents first, so foreign key checks add nothing; the
     * capture trigger would only return (the copy's rows are marked as the origin's).
     */
    static final boolean REPLICA_ROLE = Boolean.parseBoolean(System.getProperty("mmsync.copy.replicaRole", "true"));
    /** Bytes sent to the target per COPY message, about. */
    private static final int BUFFER = 256 * 1024;
    private final Connection source;
    private final Connection target;
    private final String origin;
    private final String snapshot;
    private final CopyStore store;
    /** whether the target's copy transactions run with session_replication_role = replica */
    private final boolean replicaRole;
    private final byte[] buffer = new byte[BUFFER];

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
            // a range in key order by the primary key's index, not a bitmap scan sorted afterwards (a
            // sort of the range that would spill past work_mem); no parallel workers: the copy's
            // workers are its parallelism
            st.execute("SET enable_sort = off; SET max_parallel_workers_per_gather = 0");
            st.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '" + exported.replace("'", "''") + "'");
        }
        replicaRole = REPLICA_ROLE && mayUseReplicaRole(target);
        target.setAutoCommit(false);
    }

    /** Whether this copier's target transactions run in replica mode. */
    boolean replicaRole() {
        return replicaRole;
    }

    /** Whether the target's role may set session_replication_role (a superuser, or GRANT SET ON PARAMETER). */
    static boolean mayUseReplicaRole(Connection target) throws SQLException {
        try (Statement st = target.createStatement();
             ResultSet rs = st.executeQuery("SELECT pg_catalog.has_parameter_privilege('session_replication_role', 'SET')")) {
            rs.next();
            return rs.getBoolean(1);
        }
    }

    /** Copies the range (refreshing it when done at an older snapshot); returns {rows, bytes}. */
    long[] copy(CopyPlan plan, CopyRange r) throws SQLException {
        try {
            try (Statement st = target.createStatement()) {
                // synchronous_commit off: the range is marked done in its own transaction, so a range
                // lost in a crash is not marked either and is copied again. mmsync._capturing() loads
                // the C capture library, whose hooks then skip the capture triggers in this session's
                // statements (issue 14: the triggers have no WHEN clause with the C capture)
                st.execute("SELECT mmsync._capturing(); SET LOCAL mmsync.origin = '" + origin.replace("'", "''") + "'; SET LOCAL synchronous_commit = off"
                        + (replicaRole ? "; SET LOCAL session_replication_role = replica" : ""));
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
            // rows come one per message: gathered into one message of about BUFFER bytes for the target
            int used = 0;
            while ((chunk = from.readFromCopy()) != null) {
                bytes += chunk.length;
                if (used + chunk.length > buffer.length) {
                    into.writeToCopy(buffer, 0, used);
                    used = 0;
                }
                if (chunk.length >= buffer.length) {
                    into.writeToCopy(chunk, 0, chunk.length);
                } else {
                    System.arraycopy(chunk, 0, buffer, used, chunk.length);
                    used += chunk.length;
                }
            }
            if (used > 0) {
                into.writeToCopy(buffer, 0, used);
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
