package io.mmsync.engine.apply;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The check that lets {@link PageEnd} skip the insert/insert re-check
 * ({@link PageEnd#LATE_COMMITS_SQL}): in an apply-like transaction that took the lookup's
 * snapshot, it must say yes exactly when another transaction that the snapshot did not see has
 * committed since (one open at the snapshot, or one begun after it), and no for this
 * transaction's own writes and savepoints and for transactions that rolled back. InsertRaceIT
 * shows the race end to end; this pins the check's cases one by one on a real server.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class LateCommitsIT {
    private static PgCluster pg;

    @BeforeAll
    static void start() {
        pg = PgCluster.start("latecommits");
        pg.execute("postgres", "CREATE TABLE t (id int PRIMARY KEY, v text)");
    }

    @AfterAll
    static void stop() {
        if (pg != null) {
            pg.close();
        }
    }

    @Test
    void nothingCommittedSinceTheSnapshotSkipsOwnWritesSavepointsAndRollbacks() throws Exception {
        try (Connection apply = pg.connect("postgres"); Connection other = pg.connect("postgres")) {
            apply.setAutoCommit(false);
            exec(apply, "INSERT INTO t VALUES (1, 'apply')"); // an xid before the snapshot, as a page with row locks
            String s1 = snapshot(apply);
            assertFalse(late(apply, s1), "nothing committed yet");
            exec(apply, "SAVEPOINT a; INSERT INTO t VALUES (2, 'apply'); ROLLBACK TO SAVEPOINT a; "
                    + "SAVEPOINT b; INSERT INTO t VALUES (3, 'apply'); RELEASE SAVEPOINT b");
            other.setAutoCommit(false);
            exec(other, "INSERT INTO t VALUES (4, 'other')");
            other.rollback();
            exec(other, "SELECT 1"); // read-only: no xid
            other.commit();
            assertFalse(late(apply, s1), "own subtransactions, a rollback and a read-only transaction are not late");
            apply.rollback();
        }
        assertEquals(0, pg.queryLong("postgres", "SELECT count(*) FROM t"), "every write above was rolled back");
    }

    @Test
    void aTransactionOpenAtTheSnapshotOrBegunAfterItThatCommitsIsLate() throws Exception {
        try (Connection apply = pg.connect("postgres"); Connection open = pg.connect("postgres");
             Connection later = pg.connect("postgres")) {
            open.setAutoCommit(false);
            exec(open, "INSERT INTO t VALUES (10, 'open at the snapshot')");
            apply.setAutoCommit(false);
            String s1 = snapshot(apply);
            assertFalse(late(apply, s1), "the open transaction has not committed");
            open.commit();
            assertTrue(late(apply, s1), "a transaction open at the snapshot committed");
            apply.rollback();

            apply.setAutoCommit(false);
            String s2 = snapshot(apply);
            assertFalse(late(apply, s2), "everything before this snapshot is visible in it");
            exec(later, "INSERT INTO t VALUES (11, 'begun after the snapshot')"); // autocommit
            assertTrue(late(apply, s2), "a transaction begun after the snapshot committed");
            apply.rollback();
        }
        assertEquals(2, pg.queryLong("postgres", "SELECT count(*) FROM t WHERE id IN (10, 11)"));
        pg.execute("postgres", "DELETE FROM t");
    }

    private static String snapshot(Connection c) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT pg_catalog.pg_current_snapshot()::text")) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static boolean late(Connection c, String snapshot) throws SQLException {
        try (PreparedStatement st = c.prepareStatement(PageEnd.LATE_COMMITS_SQL)) {
            st.setObject(1, snapshot, Types.OTHER);
            try (ResultSet rs = st.executeQuery()) {
                assertTrue(rs.next(), "the check returns one row");
                return rs.getBoolean(1);
            }
        }
    }

    private static void exec(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }
}
