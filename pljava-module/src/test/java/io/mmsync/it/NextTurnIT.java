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
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Issue 15: while the peer applies a small page, a commit's NOTIFY makes the link read the next
 * page at once (io.mmsync.engine.send.NextTurn) and apply it as soon as the peer committed the
 * page before. A writer that commits small transactions about once a millisecond (about as long
 * as a page's apply) makes most pages so read: every change arrives once and in order (a hot row
 * counted up in each transaction ends with the writer's count), and the origin's link row counts
 * every change sent (the confirmation of a page whose next turn was read ahead goes with a later
 * one).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class NextTurnIT {
    private static final Duration ARRIVES = Duration.ofSeconds(60);
    Pair pair;
    Engine engine;
    Thread thread;

    @BeforeAll
    void start() {
        pair = Pair.start("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE TABLE hot (id int PRIMARY KEY, n int NOT NULL);");
        pair.addSync("");
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
        pair.blue.execute(Pair.DB, "INSERT INTO hot VALUES (1, 0)");
        Waits.until(ARRIVES, "the hot row on green", () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM hot") == 1);
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
    void aSteadyTrickleArrivesOnceInOrderAndIsCounted() throws Exception {
        long appliedBefore = pair.green.queryLong(Pair.DB, "SELECT coalesce(sum(applied), 0) FROM mmsync.progress WHERE origin = 'blue'");
        long sentBefore = sent();
        int inserts = 400;
        int hot = 200;
        try (Connection c = pair.blue.connect(Pair.DB);
             PreparedStatement ins = c.prepareStatement("INSERT INTO t VALUES (?, 'trickle')");
             PreparedStatement up = c.prepareStatement("UPDATE hot SET n = n + 1 WHERE id = 1")) {
            // inserts alone (the peer's one-request apply), then an insert and the hot row together
            for (int i = 1; i <= inserts + hot; i++) {
                if (i > inserts) {
                    c.setAutoCommit(false);
                }
                ins.setInt(1, i);
                ins.executeUpdate();
                if (i > inserts) {
                    up.executeUpdate();
                    c.commit();
                    c.setAutoCommit(true);
                }
                LockSupport.parkNanos(TimeUnit.MICROSECONDS.toNanos(800)); // the writer's pace, not a wait for the sync
            }
        }
        long changes = inserts + 2L * hot;
        String want = Pair.fingerprint(pair.blue, "t") + Pair.fingerprint(pair.blue, "hot");
        Waits.until(ARRIVES, "green has the trickle", () -> want.equals(Pair.fingerprint(pair.green, "t")
                + Pair.fingerprint(pair.green, "hot")));
        assertEquals(inserts + hot, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM t"));
        assertEquals(hot, pair.green.queryLong(Pair.DB, "SELECT n FROM hot WHERE id = 1"));
        assertEquals(changes, pair.green.queryLong(Pair.DB,
                "SELECT coalesce(sum(applied), 0) FROM mmsync.progress WHERE origin = 'blue'") - appliedBefore, "each change applied once");
        Waits.until(ARRIVES, "blue's link row counts every change sent", () -> sent() - sentBefore == changes);
        assertEquals(changes, sent() - sentBefore);
    }

    private long sent() {
        return pair.blue.queryLong(Pair.DB, "SELECT coalesce(sum(sent), 0) FROM mmsync.links WHERE peer = 'green'");
    }
}
