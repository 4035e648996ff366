package io.mmsync.it;

import io.mmsync.engine.Engine;
import io.mmsync.engine.EngineConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Issue 15: a link takes the idle-sender lock in the first request of a turn that follows a small
 * page (io.mmsync.engine.send.Wakeup, LocalTurn) and then sleeps until a writer's NOTIFY. Here the
 * poll interval is 10 s (the most the engine allows) and each wait of the test 5 s, so a change that
 * arrives was delivered by a wake-up (or a turn that did not sleep), or by a poll that happened to
 * fall into the wait: a writer that committed between the link's last read and its sleep without
 * notifying would leave its row behind until the next poll, and the test would time out (for
 * about half of such losses).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class WakeupNoPollIT {
    /** Well below the poll interval (10 s, the most the engine allows), well above a delivery's time. */
    private static final Duration ARRIVES = Duration.ofSeconds(5);
    Pair pair;
    Engine engine;
    Thread thread;

    @BeforeAll
    void start() {
        pair = Pair.start("CREATE TABLE t (id int PRIMARY KEY, v text);");
        pair.addSync("");
        // blue's sender only (the test writes on blue): poll and heartbeat beyond the test's waits
        engine = new Engine(EngineConfig.builder(pair.blue.conninfo(Pair.DB)).poll(Duration.ofSeconds(10))
                .heartbeat(Duration.ofSeconds(10)).build(), r -> {
                    Thread t = new Thread(r);
                    t.setDaemon(true);
                    return t;
                });
        thread = new Thread(engine, "test-engine-blue");
        thread.setDaemon(true);
        thread.start();
        pair.awaitSyncOnGreen();
    }

    @AfterAll
    void stop() throws InterruptedException {
        if (engine != null) {
            engine.stop();
            thread.join(TimeUnit.SECONDS.toMillis(20));
        }
        pair.close();
    }

    @Test
    void eachCommitOfAQuietWriterArrivesWithoutAPoll() {
        for (int i = 1; i <= 40; i++) {
            pair.blue.execute(Pair.DB, "INSERT INTO t VALUES (" + i + ", 'quiet " + i + "')");
            int id = i;
            Waits.until(ARRIVES, "row " + i + " on green (poll interval 10 s: a wake-up delivers it)",
                    () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM t WHERE id = " + id) == 1);
        }
        assertEquals(Pair.fingerprint(pair.blue, "t"), Pair.fingerprint(pair.green, "t"));
    }

    /**
     * After quiet commits a turn is one request whose page holds at most LocalTurn.QUICK_ROWS (64)
     * changes; a burst bigger than that is cut there and its range goes on by plain reads: every
     * change arrives, once.
     */
    @Test
    void aBurstAfterQuietCommitsArrivesWholeAndOnce() {
        pair.blue.execute(Pair.DB, "INSERT INTO t VALUES (9999, 'quiet before the burst')");
        Waits.until(ARRIVES, "row 9999 on green",
                () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM t WHERE id = 9999") == 1);
        long before = applied();
        pair.blue.execute(Pair.DB, "INSERT INTO t SELECT g, 'burst' FROM generate_series(10000, 10499) g");
        pair.blue.execute(Pair.DB, "UPDATE t SET v = 'burst, updated' WHERE id BETWEEN 10000 AND 10099");
        String want = Pair.fingerprint(pair.blue, "t");
        Waits.until(ARRIVES, "green has the burst (poll interval 10 s)", () -> want.equals(Pair.fingerprint(pair.green, "t")));
        assertEquals(500, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM t WHERE id BETWEEN 10000 AND 10499"));
        assertEquals(100, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM t WHERE v = 'burst, updated'"));
        assertEquals(600, applied() - before, "each change of the burst applied once");
    }

    private long applied() {
        return pair.green.queryLong(Pair.DB, "SELECT coalesce(sum(applied), 0) FROM mmsync.progress WHERE origin = 'blue'");
    }

    @Test
    void concurrentWritersLeaveNothingBehind() throws Exception {
        ExecutorService writers = Executors.newFixedThreadPool(3);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int w = 0; w < 3; w++) {
                int base = 1000 + w * 1000;
                done.add(writers.submit(() -> {
                    try (Connection c = pair.blue.connect(Pair.DB);
                         PreparedStatement ins = c.prepareStatement("INSERT INTO t VALUES (?, 'new')");
                         PreparedStatement upd = c.prepareStatement("UPDATE t SET v = 'updated ' || id WHERE id = ?")) {
                        for (int i = 0; i < 150; i++) {
                            ins.setInt(1, base + i);
                            ins.executeUpdate();
                            if (i % 3 == 0) {
                                upd.setInt(1, base + i);
                                upd.executeUpdate();
                            }
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get(120, TimeUnit.SECONDS);
            }
        } finally {
            writers.shutdownNow();
        }
        String want = Pair.fingerprint(pair.blue, "t");
        Waits.until(ARRIVES, "green has every row and update of the writers (poll interval 10 s)",
                () -> want.equals(Pair.fingerprint(pair.green, "t")));
        assertEquals(450, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM t WHERE id BETWEEN 1000 AND 3999"));
        assertEquals(150, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM t WHERE v LIKE 'updated %'"));
    }
}
