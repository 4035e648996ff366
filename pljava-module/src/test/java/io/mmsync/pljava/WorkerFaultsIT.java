package io.mmsync.pljava;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Faults with the engine hosted by the worker on both nodes: the peer stopped and started, the
 * worker terminated, the local server restarted (the worker comes back by itself, nobody logs
 * in), a fast shutdown in the middle of a backlog. After each, both nodes are identical and
 * every change was applied once; no server log shows a crash.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class WorkerFaultsIT {
    private WorkerPair pair;
    /** Changes made on each node so far (blue, green). */
    private final long[] made = new long[2];
    private int nextId = 1;

    @BeforeAll
    void start() {
        assumeTrue(WorkerPair.unavailable().isEmpty(), () -> WorkerPair.unavailable().orElse(""));
        pair = WorkerPair.start(WorkerIT.SCHEMA);
        pair.addSync();
        WorkerPair.until(Duration.ofSeconds(60), "both engines run in their workers", () ->
                WorkerPair.engineHost(pair.blue).equals("worker") && WorkerPair.engineHost(pair.green).equals("worker"));
    }

    @AfterAll
    void stop() {
        if (pair != null) {
            WorkerPair.assertNoCrash(pair.blue);
            WorkerPair.assertNoCrash(pair.green);
            pair.close();
        }
    }

    private void writeBoth(int n) {
        made[0] += WorkerIT.write(pair.blue, "blue", 2 * nextId - 1, n);
        made[1] += WorkerIT.write(pair.green, "green", 2 * nextId, n);
        nextId += n;
    }

    private void assertIdenticalAndExact() {
        pair.awaitSynced();
        assertEquals(WorkerPair.fingerprint(pair.blue, "t"), WorkerPair.fingerprint(pair.green, "t"));
        assertEquals(made[0], WorkerPair.applied(pair.green, "blue"), "changes of blue applied at green, each once");
        assertEquals(made[1], WorkerPair.applied(pair.blue, "green"), "changes of green applied at blue, each once");
    }

    @Test
    @Order(1)
    void peerStoppedAndStarted() {
        writeBoth(200);
        pair.green.stop();
        made[0] += WorkerIT.write(pair.blue, "blue", 2 * nextId - 1, 500);
        nextId += 500;
        pair.green.start();
        assertIdenticalAndExact();
    }

    @Test
    @Order(2)
    void workerTerminatedComesBack() {
        long pid = WorkerPair.workerPid(pair.blue);
        assertEquals(1, pair.blue.queryLong("postgres", "SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid));
        pair.blue.execute("postgres", "SELECT pg_terminate_backend(" + pid + ")");
        WorkerPair.until(Duration.ofSeconds(30), "a new worker on blue runs the engine", () ->
                WorkerPair.workerPid(pair.blue) != 0 && WorkerPair.workerPid(pair.blue) != pid
                        && WorkerPair.engineHost(pair.blue).equals("worker"));
        writeBoth(300);
        assertIdenticalAndExact();
        assertEquals(1, WorkerPair.logLines(pair.blue, "background worker \"mmsync worker\" (PID " + pid + ") exited with exit code 1").size());
        assertTrue(WorkerPair.logLines(pair.blue, "[" + pid + "] LOG:  mmsync worker: stopping (engine stopped in").size() == 1,
                "the terminated worker stopped its engine first");
    }

    @Test
    @Order(3)
    void localServerRestartedResumesWithNobodyLoggingIn() {
        writeBoth(100);
        pair.blue.stop();
        made[1] += WorkerIT.write(pair.green, "green", 2 * nextId, 200); // queued on green while blue is down
        pair.blue.start();
        long t0 = System.nanoTime();
        // a change made on blue right after it accepts connections reaches green through blue's new worker
        int probe = 2 * nextId - 1 + 400;
        pair.blue.execute(WorkerPair.DB, "INSERT INTO t VALUES (" + probe + ", 'blue', 0)");
        made[0]++;
        WorkerPair.until(Duration.ofSeconds(60), "blue's change applied at green", () ->
                pair.green.queryLong(WorkerPair.DB, "SELECT count(*) FROM t WHERE id = " + probe) == 1);
        double seconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf("WorkerFaultsIT: server start (accepting connections) to first change applied at the peer: %.2f s%n", seconds);
        nextId += 201;
        assertIdenticalAndExact();
        assertEquals("worker", WorkerPair.engineHost(pair.blue));
    }

    @Test
    @Order(4)
    void fastShutdownInTheMiddleOfABacklog() throws SQLException {
        long before = WorkerPair.applied(pair.green, "blue");
        int first = 1_000_000;
        int rows = 60_000;
        int middle = first + rows / 2;
        long pid;
        double seconds;
        // the apply is fast enough to take 60,000 rows between two looks: an uncommitted insert of
        // the backlog's middle row on green holds the applier there (it waits for that transaction
        // to decide about the key), so the shutdown comes with half the backlog still to apply;
        // rolled back after it, it leaves nothing behind
        try (Connection hold = pair.green.connect(WorkerPair.DB)) {
            hold.setAutoCommit(false);
            try (Statement st = hold.createStatement()) {
                st.execute("INSERT INTO t VALUES (" + middle + ", 'green', 0)");
            }
            pair.blue.execute(WorkerPair.DB, "INSERT INTO t SELECT g, 'blue', 0 FROM generate_series(" + first + ", "
                    + (first + rows - 1) + ") g");
            made[0] += rows;
            WorkerPair.until(Duration.ofSeconds(60), "green's applier waiting at the backlog's middle row", () ->
                    pair.green.queryLong(WorkerPair.DB, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE "
                            + "'mmsync applier%' AND wait_event_type = 'Lock'") > 0);
            pid = WorkerPair.workerPid(pair.blue);
            long t0 = System.nanoTime();
            pair.blue.stop();
            seconds = (System.nanoTime() - t0) / 1e9;
            hold.rollback();
        }
        long applied = WorkerPair.applied(pair.green, "blue") - before;
        System.out.printf("WorkerFaultsIT: pg_ctl stop -m fast with the worker mid-backlog (%d of %d applied): %.2f s%n",
                applied, rows, seconds);
        assertTrue(applied < rows, "stopped mid-backlog");
        assertFalse(WorkerPair.logLines(pair.blue, "[" + pid + "] LOG:  mmsync worker: stopping").isEmpty(),
                "the worker stopped its engine during the shutdown");
        pair.blue.start();
        assertIdenticalAndExact();
        assertEquals(rows, pair.green.queryLong(WorkerPair.DB, "SELECT count(*) FROM t WHERE id >= " + first));
        long after = WorkerPair.workerPid(pair.blue);
        System.out.printf("WorkerFaultsIT: blue's worker after draining the rest of the backlog: RSS %d MB, peak %d MB%n",
                WorkerPair.rssKb(after) / 1024, WorkerPair.peakRssKb(after) / 1024);
        assertNotEquals(pid, WorkerPair.workerPid(pair.blue));
    }

    @Test
    @Order(5)
    void noCrashInAnyLog() {
        for (PgCluster c : List.of(pair.blue, pair.green)) {
            WorkerPair.assertNoCrash(c);
            assertTrue(WorkerPair.logLines(c, "mmsync worker started").size() >= 1);
        }
    }
}
