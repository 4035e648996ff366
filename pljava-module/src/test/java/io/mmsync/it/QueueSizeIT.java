package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 14: the queue never bloats. Under a steady write load on blue, blue's agent is stopped,
 * {@link #BACKLOG} changes (200,000; MMSYNC_QUEUE_BACKLOG=1000000 for the figure) are
 * queued, the agent is started again; once it has caught up and a minute of load has followed,
 * the queue's tables (changes_0..2 with their index, on disk) are back near their size before the
 * catch-up, because whole tables are truncated, and they never held more than a handful of dead
 * tuples (nothing is deleted row by row). Nothing is lost: every change applied at green once,
 * tables identical.
 */
@Timeout(value = 1500, unit = TimeUnit.SECONDS)
class QueueSizeIT {
    /** Changes queued while the agent is down; MMSYNC_QUEUE_BACKLOG sets another (1000000: issue 14's figure). */
    static final int BACKLOG = Integer.parseInt(System.getenv().getOrDefault("MMSYNC_QUEUE_BACKLOG", "200000"));
    static final String QUEUE_BYTES = "SELECT (pg_total_relation_size('mmsync.changes_0') + pg_total_relation_size('mmsync.changes_1') + pg_total_relation_size('mmsync.changes_2'))::bigint";
    /** What the sender and maintenance did on blue: queue rows read, and writes of the small tables. */
    static final String SENDER_WORK = "SELECT (SELECT sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)) FROM pg_stat_user_tables "
            + "WHERE schemaname = 'mmsync' AND relname IN ('changes_0', 'changes_1', 'changes_2'))::text || ' queue rows read, ' "
            + "|| (SELECT string_agg(relname || ' ' || (n_tup_ins + n_tup_upd + n_tup_del), ', ' ORDER BY relname) FROM pg_stat_user_tables "
            + "WHERE schemaname = 'mmsync' AND relname IN ('purge_marks', 'links', 'queue_state', 'queue_tables')) || ' rows written'";
    static final String DEAD_TUPLES = "SELECT coalesce(sum(n_dead_tup), 0)::bigint FROM pg_stat_user_tables "
            + "WHERE schemaname = 'mmsync' AND relname IN ('changes_0', 'changes_1', 'changes_2')";

    @Test
    void queueReturnsToItsSizeAfterACatchUpAndNeverHoldsDeadTuples() throws Exception {
        try (Pair pair = Pair.start("CREATE TABLE load_blue (id bigint PRIMARY KEY, n int NOT NULL, v text);"
                + "CREATE TABLE bulk (id bigint PRIMARY KEY, v text NOT NULL)")) {
            pair.addSync("");
            Agent.Child blueAgent = pair.childAgentsSynced()[0];
            AtomicBoolean stop = new AtomicBoolean();
            Writer writer = new Writer(pair.blue, "load_blue", 0, 1, stop, 5000);
            Thread writing = writer.start("writer-blue");
            try {
                // warm-up: the load flows and the queue has rotated through its tables
                long warmEnd = System.nanoTime() + Duration.ofSeconds(20).toNanos();
                Waits.until(Duration.ofSeconds(120), "20 s of load, the queue rotated",
                        () -> System.nanoTime() > warmEnd && epoch(pair.blue) >= 3);
                long before = pair.blue.queryLong(Pair.DB, QUEUE_BYTES);

                blueAgent.stop();
                pair.blue.execute(Pair.DB, "INSERT INTO bulk SELECT g, md5(g::text) FROM generate_series(1, " + BACKLOG + ") g");
                long peak = pair.blue.queryLong(Pair.DB, QUEUE_BYTES);
                blueAgent.start();
                long target = writer.changes() + BACKLOG;
                Waits.until(Duration.ofSeconds(600), Duration.ofMillis(500), "backlog applied at green",
                        () -> Pair.applied(pair.green, "blue") >= target);

                String workBefore = pair.blue.queryString(Pair.DB, SENDER_WORK);
                long sentBefore = pair.blue.queryLong(Pair.DB, "SELECT rows_sent FROM mmsync.status()");
                long[] maxDead = {0};
                long loadEnd = System.nanoTime() + Duration.ofSeconds(60).toNanos();
                Waits.until(Duration.ofSeconds(180), Duration.ofMillis(500), "a minute of load after the catch-up", () -> {
                    maxDead[0] = Math.max(maxDead[0], pair.blue.queryLong(Pair.DB, DEAD_TUPLES));
                    return System.nanoTime() > loadEnd;
                });
                long after = pair.blue.queryLong(Pair.DB, QUEUE_BYTES);
                System.out.printf("QueueSizeIT: sender's work on blue over the minute of load (%,d changes sent): before %s; after %s%n",
                        pair.blue.queryLong(Pair.DB, "SELECT rows_sent FROM mmsync.status()") - sentBefore, workBefore,
                        pair.blue.queryString(Pair.DB, SENDER_WORK));
                System.out.printf("QueueSizeIT: queue %,d bytes before the catch-up, %,d with %,d changes queued, %,d a minute after;"
                        + " at most %,d dead tuples; epoch %d%n", before, peak, BACKLOG, after, maxDead[0], epoch(pair.blue));
                assertTrue(peak > 10 * (1 << 20), "the backlog filled the queue: " + peak + " bytes");
                assertTrue(after <= 2 * before + (1 << 20),
                        "queue back near its size: " + after + " bytes after, " + before + " before, " + peak + " at the peak");
                assertTrue(maxDead[0] <= 100, "dead tuples in the queue tables: at most " + maxDead[0]);
            } finally {
                stop.set(true);
                writing.join(60_000);
            }
            writer.check();
            pair.awaitSynced();
            assertEquals(writer.changes() + BACKLOG + 0L, Pair.applied(pair.green, "blue"), "each change applied once");
            for (String table : new String[] {"load_blue", "bulk"}) {
                assertEquals(Pair.fingerprint(pair.blue, table), Pair.fingerprint(pair.green, table), table);
            }
        }
    }

    private static long epoch(PgCluster node) {
        return node.queryLong(Pair.DB, "SELECT max(epoch) FROM mmsync.queue_tables");
    }
}
