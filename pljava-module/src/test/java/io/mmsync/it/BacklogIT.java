package io.mmsync.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A large backlog queued while blue's agent is stopped (one big transaction between many small
 * ones) drains, once the agent (a child JVM with -Xmx256m, as operators run it) is back, in bounded
 * batches: green's progress advances in many steps, never in one giant transaction, and the agent
 * survives. The queue is then purged to empty by the agent itself, in bounded steps.
 * <p>
 * {@code -Dmmsync.backlog=N} sets the number of changes: 200,000 by default (CI runs every test on
 * a loaded 2-core machine); {@code -Dmmsync.big=true} (test-env/soak-like manual runs) means
 * 1,000,000. Prints the drain rate, the purge time and the agent's peak RSS (no timing assertion:
 * machines differ).
 */
@Timeout(value = 1800, unit = TimeUnit.SECONDS)
class BacklogIT {
    static final int CHANGES = Integer.getInteger("mmsync.backlog", Boolean.getBoolean("mmsync.big") ? 1_000_000 : 200_000);
    /** The agent's page size (EngineConfig default): no page read into the JVM holds more. */
    static final int PAGE_ROWS = 5000;
    /**
     * A page of inserts into one table relayed as COPY text (io.mmsync.engine.send.RelayTurn.FACTOR,
     * issue 15) holds this many plain pages' rows; it passes through the agent as bytes, never whole.
     */
    static final int RELAY_FACTOR = 20;
    /** Changes per small transaction; 2% of the changes come in these. */
    static final int SMALL_TXN = 10;

    @Test
    void backlogDrainsInBoundedBatchesWithACappedHeapAndIsPurged() throws Exception {
        try (Pair pair = Pair.start("CREATE TABLE posts (id bigint PRIMARY KEY, channel int NOT NULL, "
                + "message text NOT NULL, props jsonb, edited timestamptz)")) {
            pair.addSync("");
            Agent.Child blueAgent = pair.childAgent(pair.blue);
            pair.childAgent(pair.green);
            pair.awaitSyncOnGreen();
            pair.blue.execute(Pair.DB, "INSERT INTO posts VALUES (0, 0, 'first', NULL, NULL)");
            pair.awaitSynced();
            blueAgent.stop();

            int small = CHANGES / 50 / SMALL_TXN * SMALL_TXN;
            int big = CHANGES - small;
            int bigUpdates = big / 4;
            int bigInserts = big - bigUpdates;
            long q0 = System.nanoTime();
            // half of the small transactions, the big one (inserts, then updates of a third of them), the other half
            smallTransactions(pair, 1, small / 2);
            long from = small / 2 + 1;
            StringBuilder bigTxn = new StringBuilder("DO $$ BEGIN ");
            for (long f = from; f < from + bigInserts; f += 250_000) {
                long to = Math.min(from + bigInserts - 1, f + 249_999);
                bigTxn.append("INSERT INTO posts SELECT g, g % 100, repeat(md5(g::text), 4), "
                        + "jsonb_build_object('n', g, 'tags', jsonb_build_array('a', 'b')), now() "
                        + "FROM generate_series(").append(f).append(", ").append(to).append(") g; ");
            }
            bigTxn.append("UPDATE posts SET message = message || ' (edited)' WHERE id >= ").append(from)
                    .append(" AND id < ").append(from + bigUpdates).append("; END $$");
            pair.blue.execute(Pair.DB, bigTxn.toString());
            smallTransactions(pair, from + bigInserts, small - small / 2);
            int rows = small + bigInserts;
            double queueSeconds = (System.nanoTime() - q0) / 1e9;
            long queued = pair.blue.queryLong(Pair.DB, "SELECT backlog FROM mmsync.status() WHERE peer = 'green'");
            assertEquals(CHANGES, queued, "changes queued while blue's agent was stopped");
            long queueBytes = pair.blue.queryLong(Pair.DB, "SELECT (pg_total_relation_size('mmsync.changes_0') + pg_total_relation_size('mmsync.changes_1') + pg_total_relation_size('mmsync.changes_2'))::bigint");
            long appliedBefore = Pair.applied(pair.green, "blue");
            long batchesBefore = batches(pair);

            // every step of green's progress, logged by a trigger in the peer transaction that applied it
            // (not sampled from outside: a sampler that stalls for a drain's length sees one step)
            pair.green.execute(Pair.DB, "CREATE SCHEMA testlog; CREATE TABLE testlog.steps "
                    + "(xid xid8 NOT NULL DEFAULT pg_current_xact_id(), applied bigint NOT NULL);"
                    + "CREATE FUNCTION testlog.step() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    + "INSERT INTO testlog.steps (applied) VALUES (NEW.applied - CASE TG_OP WHEN 'UPDATE' THEN OLD.applied ELSE 0 END); "
                    + "RETURN NULL; END $$;"
                    + "CREATE TRIGGER testlog_step AFTER INSERT OR UPDATE ON mmsync.progress FOR EACH ROW "
                    + "WHEN (NEW.origin = 'blue') EXECUTE FUNCTION testlog.step();"
                    + "ALTER TABLE mmsync.progress ENABLE ALWAYS TRIGGER testlog_step");
            long t0 = System.nanoTime();
            blueAgent.start();
            long[] peakRss = {0};
            Waits.until(Duration.ofSeconds(CHANGES / 500 + 300), Duration.ofMillis(50), "backlog applied on green", () -> {
                peakRss[0] = Math.max(peakRss[0], blueAgent.peakRssKib());
                return Pair.applied(pair.green, "blue") - appliedBefore == CHANGES;
            });
            double drainSeconds = (System.nanoTime() - t0) / 1e9;
            peakRss[0] = Math.max(peakRss[0], blueAgent.peakRssKib());
            long t1 = System.nanoTime();
            long[] queueLeft = {-1};
            Waits.until(Duration.ofSeconds(CHANGES / 2000 + 120), Duration.ofMillis(250), "queue purged on blue", () -> {
                queueLeft[0] = pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.changes");
                return queueLeft[0] == 0;
            });
            double purgeSeconds = (System.nanoTime() - t1) / 1e9;
            pair.awaitSynced();

            // green's progress, transaction by transaction: the big transaction arrived in steps, not at once
            List<Long> steps = new ArrayList<>();
            try (Connection g = pair.green.connect(Pair.DB); Statement st = g.createStatement();
                 ResultSet rs = st.executeQuery("SELECT sum(applied) FROM testlog.steps GROUP BY xid HAVING sum(applied) > 0 ORDER BY xid")) {
                while (rs.next()) {
                    steps.add(rs.getLong(1));
                }
            }
            long batches = batches(pair) - batchesBefore;
            System.out.printf("BacklogIT: %,d changes (%,d in one transaction, %,d in %,d small ones; queue %,d MB, queued in"
                            + " %.1f s) drained in %.1f s = %,.0f changes/s, %d peer transactions, %d progress steps seen;"
                            + " queue purged %.1f s after the drain; agent -Xmx256m peak RSS %,d MB%n",
                    CHANGES, big, small, small / SMALL_TXN, queueBytes >> 20, queueSeconds, drainSeconds,
                    CHANGES / drainSeconds, batches, steps.size(), purgeSeconds, peakRss[0] >> 10);
            assertTrue(blueAgent.isAlive(), "blue's agent (-Xmx256m) still runs");
            assertFalse(blueAgent.log().contains("OutOfMemoryError"), "no OutOfMemoryError in the agent's log");
            assertTrue(batches >= (CHANGES + PAGE_ROWS * RELAY_FACTOR - 1) / (PAGE_ROWS * RELAY_FACTOR),
                    "bounded batches: " + batches + " peer transactions for " + CHANGES + " changes");
            long maxStep = steps.stream().mapToLong(Long::longValue).max().orElse(0);
            assertEquals(CHANGES, steps.stream().mapToLong(Long::longValue).sum(), "the logged steps add up to the backlog");
            assertTrue(steps.size() >= 5, "green's progress advanced in many steps: " + steps);
            assertTrue(maxStep < big, "no step applied the big transaction whole: largest step " + maxStep);
            assertEquals(CHANGES, Pair.applied(pair.green, "blue") - appliedBefore, "each change applied once");
            assertEquals(Pair.fingerprint(pair.blue, "posts"), Pair.fingerprint(pair.green, "posts"));
            assertEquals(rows + 1, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM posts"));
            assertEquals("in sync", Pair.state(pair.blue, "green"));
            assertEquals(0, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.changes"), "blue's queue purged");
        }
    }

    /** {@code changes / SMALL_TXN} transactions of {@value #SMALL_TXN} inserts each, ids from {@code from}. */
    private static void smallTransactions(Pair pair, long from, int changes) {
        pair.blue.execute(Pair.DB, "DO $$ BEGIN FOR t IN 0.." + (changes / SMALL_TXN - 1) + " LOOP "
                + "INSERT INTO posts SELECT g, g % 100, 'small ' || g, NULL, NULL FROM generate_series("
                + from + " + t * " + SMALL_TXN + ", " + from + " + t * " + SMALL_TXN + " + " + (SMALL_TXN - 1) + ") g; "
                + "COMMIT; END LOOP; END $$");
    }

    private static long batches(Pair pair) {
        return pair.green.queryLong(Pair.DB, "SELECT coalesce(sum(batches), 0) FROM mmsync.progress WHERE origin = 'blue'");
    }
}
