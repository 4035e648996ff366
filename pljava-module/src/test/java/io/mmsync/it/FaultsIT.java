package io.mmsync.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Crashes and outages with the real agent process: nothing lost, nothing applied twice. */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class FaultsIT {
    /** Where the agent is killed: the apply of these changes of items on green (the updates come after all inserts). */
    static final Kill[] KILLS = {new Kill("INSERT", 50_000), new Kill("UPDATE", 10_000), new Kill("UPDATE", 40_000)};
    static final String SCHEMA = "CREATE TABLE items (id bigint PRIMARY KEY, n int NOT NULL, v text);"
            + "CREATE TABLE counters (id int PRIMARY KEY, hits bigint NOT NULL);";

    @Test
    void agentKilledMidBatchLosesAndDoublesNothing() throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.addSync("");
            Agent.Child blueAgent = pair.childAgent(pair.blue);
            pair.childAgent(pair.green);
            pair.awaitSyncOnGreen();
            // 150,000 changes queued in one go; each kill lands mid-stream whatever the apply's speed
            // (waiting to see another batch applied, the test could find the backlog applied whole):
            // the apply is held at a row of the inserts, then at two of the updates, killed there, and
            // let through once the agent is dead
            long[] appliedAtKill = new long[KILLS.length];
            try (RowHold hold = new RowHold(pair.green, "items", KILLS[0].op(), KILLS[0].id())) {
                pair.blue.execute(Pair.DB, "INSERT INTO items SELECT g, 0, md5(g::text) FROM generate_series(1, 100000) g");
                pair.blue.execute(Pair.DB, "UPDATE items SET n = n + 1 WHERE id <= 50000");
                // the sessions of killed agents, waiting at a held row until their replacement ends them
                Set<Integer> killed = new HashSet<>();
                for (int kill = 0; kill < KILLS.length; kill++) {
                    Kill at = KILLS[kill];
                    Waits.until(Duration.ofSeconds(120), "blue's apply held at the " + at + " on green",
                            () -> !killed.containsAll(hold.waiters()));
                    killed.addAll(hold.waiters());
                    blueAgent.kill9();
                    appliedAtKill[kill] = applied(pair);
                    if (kill + 1 < KILLS.length) {
                        hold.hold(KILLS[kill + 1].op(), KILLS[kill + 1].id());
                    }
                    hold.pass(at.op(), at.id());
                    blueAgent.start();
                }
                hold.release();
                pair.awaitSynced();
                hold.drop();
            }
            System.out.println("FaultsIT: killed at " + Arrays.toString(appliedAtKill) + " of 150000 applied");
            assertTrue(appliedAtKill[0] < appliedAtKill[1] && appliedAtKill[1] < appliedAtKill[2] && appliedAtKill[2] < 150000,
                    "each kill came further in the stream, before its end: " + Arrays.toString(appliedAtKill));
            assertEquals(150000, applied(pair), "every change applied exactly once");
            assertEquals(100000, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM items"));
            assertEquals(50000, pair.green.queryLong(Pair.DB, "SELECT sum(n) FROM items"));
            assertEquals(Pair.fingerprint(pair.blue, "items"), Pair.fingerprint(pair.green, "items"));
        }
    }

    @Test
    void peerDownChangesWaitStatusSaysSoAndTheyFlowWhenItIsBack() throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.addSync("");
            pair.startAgents();
            pair.awaitSyncOnGreen();
            pair.blue.execute(Pair.DB, "INSERT INTO counters VALUES (1, 0)");
            pair.awaitSynced();

            pair.green.stopImmediate();
            for (int i = 0; i < 50; i++) {
                pair.blue.execute(Pair.DB, "UPDATE counters SET hits = hits + 1 WHERE id = 1");
                pair.blue.execute(Pair.DB, "INSERT INTO items VALUES (" + i + ", " + i + ", 'while green was down')");
            }
            Waits.until(Duration.ofSeconds(30), "status shows green disconnected", () -> pair.blue.queryString(Pair.DB,
                    "SELECT state FROM mmsync.status() WHERE peer = 'green'").equals("disconnected"));
            assertEquals(100, pair.blue.queryLong(Pair.DB, "SELECT backlog FROM mmsync.status() WHERE peer = 'green'"));
            String err = pair.blue.queryString(Pair.DB, "SELECT last_error FROM mmsync.status() WHERE peer = 'green'");
            assertTrue(err != null && err.startsWith("green:"), "last error names the peer: " + err);

            pair.green.start();
            pair.awaitSynced();
            assertEquals(50, pair.green.queryLong(Pair.DB, "SELECT hits FROM counters WHERE id = 1"));
            assertEquals(50, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM items"));
            assertEquals("in sync", pair.blue.queryString(Pair.DB, "SELECT state FROM mmsync.status() WHERE peer = 'green'"));
        }
    }

    @Test
    void bothServersRestartedUnderRunningAgents() throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.addSync("");
            pair.startAgents();
            pair.awaitSyncOnGreen();
            pair.blue.execute(Pair.DB, "INSERT INTO items SELECT g, 1, 'before' FROM generate_series(1, 1000) g");
            pair.green.execute(Pair.DB, "INSERT INTO items SELECT g, 2, 'before' FROM generate_series(1001, 2000) g");
            pair.blue.restart();
            pair.green.restart();
            pair.blue.execute(Pair.DB, "INSERT INTO items SELECT g, 3, 'after' FROM generate_series(2001, 2500) g");
            // rows green wrote itself: blue's rows 1..1000 may not have reached green yet
            pair.green.execute(Pair.DB, "UPDATE items SET v = 'after' WHERE id BETWEEN 1001 AND 1100");
            pair.awaitSynced();
            assertEquals(2500, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM items"));
            assertEquals(600, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM items WHERE v = 'after'"));
            assertEquals(Pair.fingerprint(pair.blue, "items"), Pair.fingerprint(pair.green, "items"));
        }
    }

    private static long applied(Pair pair) {
        return pair.green.queryLong(Pair.DB, "SELECT coalesce(sum(applied), 0) FROM mmsync.progress WHERE origin = 'blue'");
    }

    /** The apply of row {@code id}'s {@code op} ('INSERT' or 'UPDATE') on green, where the agent is killed. */
    record Kill(String op, long id) {
        @Override
        public String toString() {
            return op + " of row " + id;
        }
    }
}
