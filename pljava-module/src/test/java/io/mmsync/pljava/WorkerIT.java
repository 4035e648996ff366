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
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The engine inside both servers, hosted by the mmsync background worker through PL/Java: the
 * two-way scenario with writes on both nodes, then a conflict made while both workers were
 * switched off (mmsync.worker_enabled), resolved the same way on both nodes.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class WorkerIT {
    static final String SCHEMA = "CREATE TABLE t (id int PRIMARY KEY, node text NOT NULL, v int NOT NULL);"
            + "CREATE TABLE rows (id int PRIMARY KEY, v text NOT NULL); INSERT INTO rows VALUES (1, 'orig'), (2, 'orig');";
    private WorkerPair pair;

    @BeforeAll
    void start() {
        assumeTrue(WorkerPair.unavailable().isEmpty(), () -> WorkerPair.unavailable().orElse(""));
        pair = WorkerPair.start(SCHEMA);
        pair.addSync();
    }

    @AfterAll
    void stop() {
        if (pair != null) {
            WorkerPair.assertNoCrash(pair.blue);
            WorkerPair.assertNoCrash(pair.green);
            pair.close();
        }
    }

    /** {@code n} single-row transactions on {@code c}: inserts of ids from {@code first} by 2, every 10th also updated. */
    static int write(PgCluster c, String node, int first, int n) {
        int changes = 0;
        try (Connection conn = c.connect(WorkerPair.DB);
             PreparedStatement ins = conn.prepareStatement("INSERT INTO t VALUES (?, ?, 0)");
             PreparedStatement upd = conn.prepareStatement("UPDATE t SET v = v + 1 WHERE id = ?")) {
            ins.setString(2, node);
            for (int i = 0; i < n; i++) {
                int id = first + 2 * i;
                ins.setInt(1, id);
                ins.executeUpdate();
                changes++;
                if (i % 10 == 0) {
                    upd.setInt(1, id);
                    changes += upd.executeUpdate();
                }
            }
        } catch (SQLException e) {
            throw new AssertionError("writing on " + c.name() + ": " + e.getMessage(), e);
        }
        return changes;
    }

    @Test
    @Order(1)
    void twoWayWritesOnBothNodesWithTheWorkerAsHost() throws Exception {
        WorkerPair.until(Duration.ofSeconds(60), "both nodes' engines run in their workers", () ->
                WorkerPair.engineHost(pair.blue).equals("worker") && WorkerPair.engineHost(pair.green).equals("worker"));
        long bluePid = WorkerPair.workerPid(pair.blue);
        assertTrue(pair.blue.queryString(WorkerPair.DB, "SELECT detail FROM mmsync.engine_host()")
                .startsWith("mmsync engine (worker pid " + bluePid + ")"));
        int[] made = new int[2];
        Thread g = new Thread(() -> made[1] = write(pair.green, "green", 2, 3000));
        g.start();
        made[0] = write(pair.blue, "blue", 1, 3000);
        g.join();
        pair.awaitSynced();
        assertEquals(6000, pair.blue.queryLong(WorkerPair.DB, "SELECT count(*) FROM t"));
        assertEquals(WorkerPair.fingerprint(pair.blue, "t"), WorkerPair.fingerprint(pair.green, "t"));
        // every change applied once: the peer's progress counts exactly the changes made
        assertEquals(made[0], WorkerPair.applied(pair.green, "blue"));
        assertEquals(made[1], WorkerPair.applied(pair.blue, "green"));
        assertEquals(300, pair.green.queryLong(WorkerPair.DB, "SELECT sum(v) FROM t WHERE node = 'blue'"));
        assertEquals(List.of("in sync"), List.of(pair.blue.queryString(WorkerPair.DB, "SELECT string_agg(state, ',') FROM mmsync.status()")));
        for (PgCluster c : List.of(pair.blue, pair.green)) {
            long pid = WorkerPair.workerPid(c);
            System.out.printf("WorkerIT: %s worker pid %d RSS %d MB after 3,000 transactions each way%n", c.name(), pid,
                    WorkerPair.rssKb(pid) / 1024);
        }
        assertEquals(bluePid, WorkerPair.workerPid(pair.blue), "the worker kept running");
    }

    @Test
    @Order(2)
    void conflictMadeWhileBothWorkersWereOffResolvesTheSameOnBothNodes() {
        for (PgCluster c : List.of(pair.blue, pair.green)) {
            c.execute("postgres", "ALTER SYSTEM SET mmsync.worker_enabled = off");
            c.execute("postgres", "SELECT pg_reload_conf()");
        }
        WorkerPair.until(Duration.ofSeconds(30), "both workers stopped their engines", () ->
                WorkerPair.engineHost(pair.blue).equals("none") && WorkerPair.engineHost(pair.green).equals("none"));
        pair.blue.execute(WorkerPair.DB, "UPDATE rows SET v = 'blue' WHERE id = 1; INSERT INTO rows VALUES (3, 'blue')");
        pair.green.execute(WorkerPair.DB, "UPDATE rows SET v = 'green' WHERE id = 1; INSERT INTO rows VALUES (3, 'green')");
        for (PgCluster c : List.of(pair.blue, pair.green)) {
            c.execute("postgres", "ALTER SYSTEM SET mmsync.worker_enabled = on");
            c.execute("postgres", "SELECT pg_reload_conf()");
        }
        WorkerPair.until(Duration.ofSeconds(30), "both workers run their engines again", () ->
                WorkerPair.engineHost(pair.blue).equals("worker") && WorkerPair.engineHost(pair.green).equals("worker"));
        pair.awaitSynced();
        String rows = "SELECT string_agg(id || '=' || v, ' ' ORDER BY id) FROM rows";
        assertEquals(pair.blue.queryString(WorkerPair.DB, rows), pair.green.queryString(WorkerPair.DB, rows));
        // the latest change wins (green's, made second) and the losing versions are kept
        assertEquals("1=green 2=orig 3=green", pair.blue.queryString(WorkerPair.DB, rows));
        assertTrue(pair.blue.queryLong(WorkerPair.DB, "SELECT count(*) FROM mmsync.conflicts") >= 2);
        assertTrue(pair.green.queryLong(WorkerPair.DB, "SELECT count(*) FROM mmsync.conflicts") >= 2);
        assertEquals(WorkerPair.fingerprint(pair.blue, "t"), WorkerPair.fingerprint(pair.green, "t"));
        assertTrue(WorkerPair.logLines(pair.blue, "mmsync.worker_enabled is off").size() == 1,
                "blue's worker logged the switch-off once");
    }

    /** File sync needs an agent: the worker names the directories it leaves alone, and writes nothing there. */
    @Test
    @Order(3)
    void fileSyncIsLeftToAnAgentWithAWarning() throws Exception {
        java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("worker-files");
        pair.blue.execute(WorkerPair.DB, "SELECT mmsync.add_file_sync('app', '" + dir + "', name => 'plugins')");
        WorkerPair.until(Duration.ofSeconds(30), "blue's worker names the file sync it does not run",
                () -> !WorkerPair.logLines(pair.blue, "the file syncs app/plugins (" + dir + ") are not run by this host").isEmpty());
        assertEquals(0, pair.blue.queryLong(WorkerPair.DB, "SELECT count(*) FROM mmsync.files"), "nothing recorded by the worker");
        pair.blue.execute(WorkerPair.DB, "SELECT mmsync.remove_file_sync('app', 'plugins')");
    }
}
