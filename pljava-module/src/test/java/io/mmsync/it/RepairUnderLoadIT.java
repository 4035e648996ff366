package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Repair and merge through the apply path while applications write: a repair run while both nodes
 * update the same rows (a delta column among them) ends with identical nodes and every increment
 * counted once; a merge of two nodes with 100,000+ keys on one side only copies them all in bulk,
 * while a delta column is updated on the node the merge started from, counted once on both.
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class RepairUnderLoadIT {
    /** Updates random rows of {@code table} with ids 1..{@code maxId} on one node: v, and c + 1 (counted when committed). */
    static final class Updater implements Runnable {
        private final PgCluster node;
        private final String table;
        private final int lo;
        private final int hi;
        private final AtomicBoolean stop;
        final AtomicLong increments = new AtomicLong();
        final AtomicReference<Throwable> failed = new AtomicReference<>();

        Updater(PgCluster node, String table, int lo, int hi, AtomicBoolean stop) {
            this.node = node;
            this.table = table;
            this.lo = lo;
            this.hi = hi;
            this.stop = stop;
        }

        Thread start() {
            Thread t = new Thread(this, "updater-" + node.name());
            t.setDaemon(true);
            t.start();
            return t;
        }

        @Override
        public void run() {
            try (Connection c = node.connect(Pair.DB);
                 PreparedStatement st = c.prepareStatement("UPDATE " + table + " SET v = ?, c = c + 1 WHERE id = ?")) {
                long k = 0;
                while (!stop.get()) {
                    st.setString(1, node.name() + " " + k++);
                    st.setInt(2, ThreadLocalRandom.current().nextInt(lo, hi + 1));
                    increments.addAndGet(st.executeUpdate());
                }
            } catch (SQLException | RuntimeException e) {
                failed.set(e);
            }
        }

        void check() {
            if (failed.get() != null) {
                throw new AssertionError("updater on " + node.name() + " failed", failed.get());
            }
        }
    }

    @Test
    void repairWhileBothNodesWriteTheSameRowsEndsIdenticalWithEveryIncrementCountedOnce() throws Exception {
        String schema = "CREATE TABLE hot (id int PRIMARY KEY, v text NOT NULL, c bigint NOT NULL);"
                + "INSERT INTO hot SELECT g, 'orig', 0 FROM generate_series(1, 1000) g;";
        try (Pair pair = Pair.start(schema)) {
            pair.addSync("initial => 'none', conflict => 'latest'");
            pair.blue.execute(Pair.DB, "SELECT mmsync.set_column_policy('hot', 'c', 'delta')");
            pair.startAgents();
            pair.awaitSyncOnGreen();
            pair.awaitSynced();
            // behind the sync's back: v of 250..350 on green, 400..409 gone on blue, 2000..2009 only on green
            Pair.exec(pair.green, "BEGIN; SET LOCAL mmsync.origin = 'test'; UPDATE hot SET v = 'drift' WHERE id BETWEEN 250 AND 350;"
                    + "INSERT INTO hot SELECT g, 'extra', 0 FROM generate_series(2000, 2009) g; COMMIT");
            Pair.exec(pair.blue, "BEGIN; SET LOCAL mmsync.origin = 'test'; DELETE FROM hot WHERE id BETWEEN 400 AND 409; COMMIT");

            AtomicBoolean stop = new AtomicBoolean();
            Updater onBlue = new Updater(pair.blue, "hot", 1, 300, stop);
            Updater onGreen = new Updater(pair.green, "hot", 1, 300, stop);
            onBlue.start();
            onGreen.start();
            Cli repaired;
            try {
                Waits.until(Duration.ofSeconds(60), "updates flowing", () -> onBlue.increments.get() > 100 && onGreen.increments.get() > 100);
                repaired = Cli.run("repair", "--db", pair.blue.conninfo(Pair.DB), "--prefer", "blue", "app");
            } finally {
                stop.set(true);
            }
            onBlue.check();
            onGreen.check();
            assertTrue(repaired.exit == 0 || repaired.exit == 1, repaired.toString());
            pair.awaitSynced();
            if (repaired.exit == 1) {
                // a key both nodes kept writing through every round: once quiet, one more run settles it
                Cli again = Cli.run("repair", "--db", pair.blue.conninfo(Pair.DB), "--prefer", "blue", "app");
                assertEquals(0, again.exit, again.toString());
            }
            assertEquals(Pair.fingerprint(pair.blue, "hot"), Pair.fingerprint(pair.green, "hot"));
            assertEquals(990, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM hot"), "blue's keys on both");
            long increments = onBlue.increments.get() + onGreen.increments.get();
            assertEquals(increments, pair.blue.queryLong(Pair.DB, "SELECT sum(c) FROM hot"), "every increment counted once on blue");
            assertEquals(increments, pair.green.queryLong(Pair.DB, "SELECT sum(c) FROM hot"), "every increment counted once on green");
            assertEquals("orig", pair.green.queryString(Pair.DB, "SELECT string_agg(DISTINCT v, ',') FROM hot WHERE id BETWEEN 301 AND 350"),
                    "the drift nobody wrote afterwards is repaired to blue's rows");
            // what the repair queued on blue, the winner, and what each key became
            assertEquals("D:20 U:50", pair.blue.queryString(Pair.DB, "SELECT string_agg(op::text || ':' || n, ' ' ORDER BY op) FROM "
                    + "(SELECT op, count(DISTINCT key) n FROM mmsync.repair_changes WHERE kind = 'repair' AND outcome = 'equal' "
                    + "AND ((key->>'id')::int > 300) GROUP BY op) x"));
            assertEquals(0, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.compare_diffs d JOIN mmsync.repair_changes r "
                    + "ON r.change_id = d.repair_change WHERE d.result IS DISTINCT FROM r.result"), "compare_diffs and repair_changes agree");
            assertEquals("in sync", Pair.state(pair.blue, "green"));
        }
    }

    @Test
    void mergeCopiesOneSideKeysInBulkAndCountsDeltaUpdatesDuringItOnce() throws Exception {
        // blue holds 1..160,000 and green 80,001..240,000: 80,000 keys on each side only; 100 rows differ
        String schema = "CREATE TABLE m (id int PRIMARY KEY, v text NOT NULL, c bigint NOT NULL);";
        try (Pair pair = Pair.start(schema)) {
            pair.blue.execute(Pair.DB, "INSERT INTO m SELECT g, 'o', 0 FROM generate_series(1, 160000) g");
            pair.green.execute(Pair.DB, "INSERT INTO m SELECT g, CASE WHEN g <= 80100 THEN 'green' ELSE 'o' END, 0 "
                    + "FROM generate_series(80001, 240000) g");
            pair.addSync("conflict => 'prefer', prefer => 'green', initial => 'merge'");
            pair.blue.execute(Pair.DB, "SELECT mmsync.set_column_policy('m', 'c', 'delta')");
            AtomicBoolean stop = new AtomicBoolean();
            // keys both hold, on blue, where the merge started: each increment must count once on both
            Updater onBlue = new Updater(pair.blue, "m", 80101, 80200, stop);
            onBlue.start();
            try {
                pair.startAgents();
                Waits.until(Duration.ofSeconds(400), "merge finished",
                        () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copies WHERE finished_at IS NOT NULL") == 1);
            } finally {
                stop.set(true);
            }
            onBlue.check();
            pair.awaitSynced();
            assertEquals(240_000, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM m"));
            assertEquals(240_000, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM m"));
            assertEquals(Pair.fingerprint(pair.blue, "m"), Pair.fingerprint(pair.green, "m"));
            assertEquals("green", pair.blue.queryString(Pair.DB, "SELECT string_agg(DISTINCT v, ',') FROM m WHERE id BETWEEN 80001 AND 80100"));
            assertEquals(onBlue.increments.get(), pair.green.queryLong(Pair.DB, "SELECT sum(c) FROM m"), "each increment once on green");
            assertEquals(onBlue.increments.get(), pair.blue.queryLong(Pair.DB, "SELECT sum(c) FROM m"), "each increment once on blue");
            // the one-side keys went through the queues: blue queued 80,000 inserts, green 80,000 and 100 updates
            assertEquals(80_000, pair.blue.queryLong(Pair.DB, "SELECT count(DISTINCT key) FROM mmsync.repair_changes WHERE kind = 'merge' AND op = 'I'"));
            assertEquals(80_000, pair.green.queryLong(Pair.DB, "SELECT count(DISTINCT key) FROM mmsync.repair_changes WHERE kind = 'merge' AND op = 'I'"));
            assertEquals(100, pair.green.queryLong(Pair.DB, "SELECT count(DISTINCT key) FROM mmsync.repair_changes WHERE kind = 'merge' "
                    + "AND op = 'U' AND (key->>'id')::int <= 80100"));
            assertEquals(100, pair.blue.queryLong(Pair.DB, "SELECT count(DISTINCT key) FROM mmsync.conflicts WHERE kind = 'merge' "
                    + "AND (key::jsonb->>'id')::int <= 80100"));
            assertEquals("in sync", Pair.state(pair.blue, "green"));
        }
    }
}
