package io.mmsync.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A large backlog queued while blue's agent is stopped drains, once the agent (a child JVM with
 * -Xmx256m, as operators run it) is back, in bounded batches, and the queue is purged behind it.
 * 200,000 changes by default; -Dmmsync.big=true queues 1,000,000. Prints the drain rate and the
 * agent's peak RSS (no timing assertion: machines differ).
 */
@Timeout(value = 1800, unit = TimeUnit.SECONDS)
class BacklogTest {
    static final boolean BIG = Boolean.getBoolean("mmsync.big");
    /** Changes queued: 3/4 inserts, 1/4 updates. */
    static final int CHANGES = BIG ? 1_000_000 : 200_000;
    /** The agent's page size (EngineConfig default): no peer transaction carries more. */
    static final int PAGE_ROWS = 5000;

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

            int rows = CHANGES / 4 * 3;
            long q0 = System.nanoTime();
            for (int from = 1; from <= rows; from += 250_000) {
                int to = Math.min(rows, from + 249_999);
                pair.blue.execute(Pair.DB, "INSERT INTO posts SELECT g, g % 100, repeat(md5(g::text), 4), "
                        + "jsonb_build_object('n', g, 'tags', jsonb_build_array('a', 'b')), now() "
                        + "FROM generate_series(" + from + ", " + to + ") g");
            }
            pair.blue.execute(Pair.DB, "UPDATE posts SET message = message || ' (edited)' WHERE id % 3 = 0 AND id > 0");
            double queueSeconds = (System.nanoTime() - q0) / 1e9;
            long queued = pair.blue.queryLong(Pair.DB, "SELECT backlog FROM mmsync.status() WHERE peer = 'green'");
            assertEquals(CHANGES, queued, "changes queued while blue's agent was stopped");
            long queueBytes = pair.blue.queryLong(Pair.DB, "SELECT pg_total_relation_size('mmsync.changes')");
            long appliedBefore = Pair.applied(pair.green, "blue");
            long batchesBefore = batches(pair);

            long t0 = System.nanoTime();
            blueAgent.start();
            long[] peakRss = {0};
            Waits.until(Duration.ofSeconds(BIG ? 1500 : 600), "backlog applied on green", () -> {
                peakRss[0] = Math.max(peakRss[0], blueAgent.peakRssKib());
                return Pair.applied(pair.green, "blue") - appliedBefore == CHANGES;
            });
            double drainSeconds = (System.nanoTime() - t0) / 1e9;
            peakRss[0] = Math.max(peakRss[0], blueAgent.peakRssKib());
            Waits.until(Duration.ofSeconds(120), "queue purged on blue",
                    () -> pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.changes") == 0);
            double purgedSeconds = (System.nanoTime() - t0) / 1e9;
            pair.awaitSynced();

            long batches = batches(pair) - batchesBefore;
            System.out.printf("BacklogTest: %,d changes (queue %,d MB, queued in %.1f s) drained in %.1f s = %,.0f changes/s,"
                            + " %d peer transactions, queue purged after %.1f s; agent -Xmx256m peak RSS %,d MB%n",
                    CHANGES, queueBytes >> 20, queueSeconds, drainSeconds, CHANGES / drainSeconds, batches, purgedSeconds,
                    peakRss[0] >> 10);
            assertTrue(batches >= (CHANGES + PAGE_ROWS - 1) / PAGE_ROWS,
                    "bounded batches: " + batches + " peer transactions for " + CHANGES + " changes");
            assertEquals(CHANGES, Pair.applied(pair.green, "blue") - appliedBefore, "each change applied once");
            assertEquals(Pair.fingerprint(pair.blue, "posts"), Pair.fingerprint(pair.green, "posts"));
            assertEquals(rows + 1, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM posts"));
            assertEquals("in sync", Pair.state(pair.blue, "green"));
        }
    }

    private static long batches(Pair pair) {
        return pair.green.queryLong(Pair.DB, "SELECT coalesce(sum(batches), 0) FROM mmsync.progress WHERE origin = 'blue'");
    }
}
