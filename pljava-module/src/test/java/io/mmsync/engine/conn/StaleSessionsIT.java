package io.mmsync.engine.conn;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A session of ours left inside a COPY with its row locks held (what a dead network path leaves
 * behind: the backend waits for the rest of the request, where no server timer runs) is ended by
 * the next session of the same purpose, which then takes the same rows at once; sessions of other
 * purposes, later sessions and sessions outside a transaction are left alone.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class StaleSessionsIT {
    static final String DB = "app";
    private static PgCluster pg;

    @BeforeAll
    static void start() {
        pg = PgCluster.start("stale");
        pg.createDatabase(DB);
        pg.execute(DB, "CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL); INSERT INTO t SELECT g, 0 FROM generate_series(1, 10) g");
    }

    @AfterAll
    static void stop() {
        if (pg != null) {
            pg.close();
        }
    }

    @Test
    void anAbandonedSessionInsideACopyIsEndedByItsSuccessor() throws Exception {
        Connector node = new Connector("green", pg.conninfo(DB));
        String purpose = "applier s from blue";
        Connection stale = node.open(purpose);
        Connection other = node.open("compare s");
        try {
            int stalePid = stale.unwrap(PGConnection.class).getBackendPID();
            int otherPid = other.unwrap(PGConnection.class).getBackendPID();
            stale.setAutoCommit(false);
            other.setAutoCommit(false);
            try (Statement st = stale.createStatement()) {
                st.executeUpdate("UPDATE t SET n = 1 WHERE id <= 5");
            }
            try (Statement st = other.createStatement()) {
                st.executeQuery("SELECT n FROM t WHERE id = 10 FOR UPDATE").close();
            }
            // inside a COPY, no data sent: the backend waits for the client, active, ClientRead
            CopyIn unfinished = stale.unwrap(PGConnection.class).getCopyAPI().copyIn("COPY t FROM STDIN");
            await("the stale session waits inside its COPY", () -> pg.queryLong(DB,
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = " + stalePid + " AND state = 'active' AND wait_event = 'ClientRead'") == 1);

            try (Connection next = node.openReplacing(purpose); Statement st = next.createStatement()) {
                st.execute("SET lock_timeout = '30s'");
                next.setAutoCommit(false);
                assertEquals(5, st.executeUpdate("UPDATE t SET n = 2 WHERE id <= 5"), "the successor updates the rows the stale session held");
                next.commit();
            }
            await("the stale session is gone", () -> pg.queryLong(DB, "SELECT count(*) FROM pg_stat_activity WHERE pid = " + stalePid) == 0);
            assertEquals(1, pg.queryLong(DB, "SELECT count(*) FROM pg_stat_activity WHERE pid = " + otherPid),
                    "a session of another purpose stays");
            assertEquals(10, pg.queryLong(DB, "SELECT sum(n) FROM t"), "the stale session's update was rolled back, the successor's committed");
        } finally {
            closeQuietly(stale);
            closeQuietly(other);
        }
    }

    @Test
    void sessionsOutsideATransactionAndLaterOnesAreLeftAlone() throws Exception {
        Connector node = new Connector("green", pg.conninfo(DB));
        String purpose = "applier s2 from blue";
        try (Connection idle = node.open(purpose); Connection first = node.open(purpose)) {
            int idlePid = idle.unwrap(PGConnection.class).getBackendPID();
            List<Integer> ended = StaleSessions.end(first, "mmsync " + purpose, "green");
            assertEquals(List.of(), ended, "an idle session outside a transaction is not ended");
            // a session that started after the one asking is not its predecessor
            try (Connection later = node.open(purpose); Statement st = later.createStatement()) {
                later.setAutoCommit(false);
                st.executeQuery("SELECT 1").close();
                assertEquals(List.of(), StaleSessions.end(first, "mmsync " + purpose, "green"), "a later session is not ended");
                later.rollback();
            }
            assertEquals(1, pg.queryLong(DB, "SELECT count(*) FROM pg_stat_activity WHERE pid = " + idlePid));
        }
    }

    private static void await(String what, java.util.function.BooleanSupplier cond) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after 30 s waiting for " + what);
            }
            Thread.sleep(20);
        }
    }

    private static void closeQuietly(Connection c) {
        try {
            c.close();
        } catch (SQLException | RuntimeException e) {
            // the server ended it: expected for the stale one
        }
    }
}
