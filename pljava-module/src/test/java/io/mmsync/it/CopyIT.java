package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * add_sync(..., initial => 'copy'): green, empty, becomes equal to blue while blue keeps writing;
 * the copy hands over to the queue exactly at its snapshot (a delta column would show a change
 * applied twice, the fingerprint one lost); killed halfway, it resumes from the ranges done.
 */
@Timeout(value = 900, unit = TimeUnit.SECONDS)
class CopyIT {
    /** Rows of the big table: 100,000 by default, -Dmmsync.copy.rows=1000000 for the size. */
    static final int ROWS = Integer.getInteger("mmsync.copy.rows", 100_000);
    static final String SCHEMA = "CREATE TABLE parent (id int PRIMARY KEY, name text);"
            + "CREATE TABLE child (id bigint PRIMARY KEY, parent_id int NOT NULL REFERENCES parent, body text, n int NOT NULL,"
            + " at timestamptz, tags text[], doc jsonb);"
            + "CREATE TABLE load (id bigint PRIMARY KEY, n int NOT NULL, v text);"
            + "CREATE TABLE \"Odd Keys\" (a text, b int, v text, PRIMARY KEY (a, b));";
    static final String DATA = "INSERT INTO parent SELECT g, 'parent ' || g FROM generate_series(1, 100) g;"
            + "INSERT INTO child SELECT g, 1 + g % 100, md5(g::text), 0, '2026-01-01'::timestamptz + g * interval '1 s',"
            + " ARRAY['a', g::text], jsonb_build_object('g', g) FROM generate_series(1, " + ROWS + ") g;"
            + "INSERT INTO \"Odd Keys\" SELECT 'k''\"' || g, g % 3, 'v' FROM generate_series(1, 300) g; ANALYZE;";
    static final List<String> TABLES = List.of("parent", "child", "load", "\"Odd Keys\"");
    /** The row in whose range the killed copy is held: about the 7th of its 20 ranges. */
    static final long HELD = ROWS * 3L / 10;

    @Test
    void emptyGreenBecomesEqualToBlueWhileBlueWrites() throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.blue.execute(Pair.DB, DATA);
            pair.addSync("initial => 'copy'");
            pair.blue.execute(Pair.DB, "SELECT mmsync.set_column_policy('child', 'n', 'delta')");
            AtomicBoolean stop = new AtomicBoolean();
            Writer writer = new Writer(pair.blue, "load", 1, 1, stop, 1000);
            Updater updater = new Updater(pair.blue, stop, 1);
            writer.start("writer-blue");
            updater.start();
            Waits.until(Duration.ofSeconds(60), "writes flowing", () -> writer.changes() > 100 && updater.updates.get() > 100);
            long startMs = System.currentTimeMillis();
            pair.startAgents();
            Waits.until(Duration.ofSeconds(60), Duration.ofMillis(20), "status says copying",
                    () -> "copying".equals(Pair.state(pair.blue, "green")));
            Waits.until(Duration.ofSeconds(600), "copy finished on green",
                    () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copies WHERE finished_at IS NOT NULL") == 1);
            long copyMs = System.currentTimeMillis() - startMs;
            Waits.until(Duration.ofSeconds(30), "writes after the copy", () -> updater.updates.get() > 0);
            long before = updater.updates.get();
            Waits.until(Duration.ofSeconds(60), "more updates after the hand-over", () -> updater.updates.get() > before + 50);
            stop.set(true);
            writer.check();
            updater.check();
            pair.awaitSynced();
            for (String t : TABLES) {
                assertEquals(Pair.fingerprint(pair.blue, t), Pair.fingerprint(pair.green, t), t);
            }
            assertEquals(updater.updates.get(), pair.green.queryLong(Pair.DB, "SELECT sum(n) FROM child"),
                    "every update of the delta column counted once on green");
            assertEquals("in sync", Pair.state(pair.blue, "green"));
            assertEquals(ROWS, pair.blue.queryLong(Pair.DB, "SELECT rows_done FROM mmsync.copy_status() WHERE \"table\" = 'public.child'"));
            assertEquals("done done done done", pair.blue.queryString(Pair.DB, "SELECT string_agg(state, ' ') FROM mmsync.copy_status()"));
            System.out.printf("CopyIT: %,d rows of child copied (with writes going on) in %.1f s, %,d updates, %,d load changes%n",
                    ROWS, copyMs / 1000.0, updater.updates.get(), writer.changes());
        }
    }

    @Test
    void killedHalfwayTheCopyResumesFromTheRangesDone() throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.blue.execute(Pair.DB, DATA);
            pair.addSync("initial => 'copy'");
            pair.blue.execute(Pair.DB, "SELECT mmsync.set_column_policy('child', 'n', 'delta')");
            Map<String, String> env = Map.of("JAVA_TOOL_OPTIONS", "-Dmmsync.copy.rangeRows=" + Math.max(1000, ROWS / 20)
                    + " -Dmmsync.copy.workers=1");
            AtomicBoolean stop = new AtomicBoolean();
            // rows of the upper half only: the ranges of the lower half, done first, stay as they were
            Updater updater = new Updater(pair.blue, stop, ROWS / 2);
            // the one worker is held in the range of row HELD whatever the copy's speed (killed once it
            // had seen 3 ranges done, the copy could have done them all, or have a range's commit on its way)
            long done;
            long total;
            String doneAt;
            RowHold hold = new RowHold(pair.green, "child", "INSERT", HELD);
            try (hold) {
                Agent.Child blueAgent = pair.childAgent(pair.blue, env);
                pair.childAgent(pair.green);
                updater.start();
                Waits.until(Duration.ofSeconds(300), Duration.ofMillis(50), "the copy waits in the range of row " + HELD,
                        () -> hold.waiting() == 1);
                blueAgent.kill9();
                done = pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copy_ranges WHERE done_at IS NOT NULL AND table_name = 'child'");
                total = pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copy_ranges WHERE table_name = 'child'");
                doneAt = pair.green.queryString(Pair.DB, "SELECT string_agg(range_no || '@' || done_at, ',' ORDER BY range_no) "
                        + "FROM mmsync.copy_ranges WHERE done_at IS NOT NULL AND table_name = 'child'");
                assertEquals(done, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copy_ranges WHERE table_name = 'child' "
                        + "AND done_at IS NOT NULL AND " + RowHold.boundKey("hi") + " <= " + HELD),
                        "the ranges below row " + HELD + ", and only those, done: " + doneAt);
                hold.release();
            }
            assertTrue(done >= 3 && done < total, done + " of " + total + " ranges done when killed");
            assertEquals(0, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copies WHERE finished_at IS NOT NULL"));
            pair.childAgent(pair.blue, env);
            Waits.until(Duration.ofSeconds(600), "copy finished on green",
                    () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copies WHERE finished_at IS NOT NULL") == 1);
            stop.set(true);
            updater.check();
            hold.drop();
            pair.awaitSynced();
            for (String t : TABLES) {
                assertEquals(Pair.fingerprint(pair.blue, t), Pair.fingerprint(pair.green, t), t);
            }
            assertEquals(updater.updates.get(), pair.green.queryLong(Pair.DB, "SELECT sum(n) FROM child"));
            // ranges done before the kill were not copied again: blue's rows in them did not change since
            long kept = pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copy_ranges WHERE table_name = 'child' "
                    + "AND range_no || '@' || done_at = ANY (string_to_array('" + doneAt + "', ','))");
            assertEquals(done, kept, "ranges done before the kill kept");
            assertTrue(java.nio.file.Files.readString(pair.agentLog(pair.blue)).contains("resuming, " + done + " of " + total
                    + " ranges already done"), "the second agent resumed");
            System.out.printf("CopyIT: resumed after %d of %d ranges, all kept as they were%n", done, total);
        }
    }

    @Test
    void badInputStopsTheCopyWithAMessageAndChangesNothing() throws Exception {
        try (Pair pair = Pair.start("CREATE TABLE t (id int PRIMARY KEY, v text)")) {
            pair.blue.execute(Pair.DB, "INSERT INTO t SELECT g, 'blue' FROM generate_series(1, 100) g");
            pair.green.execute(Pair.DB, "INSERT INTO t VALUES (1000, 'green''s own')");
            pair.addSync("initial => 'copy'");
            pair.startAgents();
            Waits.until(Duration.ofSeconds(60), "the refusal reported on blue", () -> String.valueOf(Pair.lastError(pair.blue, "green"))
                    .contains("but public.t hold rows on node \"green\"; the copy would overwrite them"));
            assertTrue(Pair.lastError(pair.blue, "green").contains("initial => 'merge'"), Pair.lastError(pair.blue, "green"));
            assertEquals("1000=green's own", pair.green.queryString(Pair.DB, "SELECT string_agg(id || '=' || v, ',') FROM t"));
            assertEquals(0, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.syncs"));

            // a column missing on green: the copy waits for it, then goes on
            pair.stopAgents();
            pair.green.execute(Pair.DB, "DELETE FROM t");
            pair.blue.execute(Pair.DB, "ALTER TABLE t ADD COLUMN extra int DEFAULT 7");
            pair.startAgents();
            Waits.until(Duration.ofSeconds(60), "missing column reported", () -> String.valueOf(Pair.lastError(pair.blue, "green"))
                    .contains("table \"public\".\"t\" on node green lacks column \"extra\" (integer)"));
            assertEquals(0, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM t"));
            pair.green.execute(Pair.DB, "ALTER TABLE t ADD COLUMN extra int");
            Waits.until(Duration.ofSeconds(60), "copy finished on green",
                    () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copies WHERE finished_at IS NOT NULL") == 1);
            pair.awaitSynced();
            assertEquals(Pair.fingerprint(pair.blue, "t"), Pair.fingerprint(pair.green, "t"));

            // removed and added again with copy: copied again (the first copy's records are forgotten)
            pair.blue.execute(Pair.DB, "SELECT mmsync.remove_sync('app')");
            Waits.until(Duration.ofSeconds(60), "sync removed on green",
                    () -> "t".equals(pair.green.queryString(Pair.DB, "SELECT removed FROM mmsync.syncs WHERE name = 'app'")));
            pair.green.execute(Pair.DB, "DELETE FROM t");
            pair.blue.execute(Pair.DB, "INSERT INTO t VALUES (500, 'while apart', 5)");
            pair.addSync("initial => 'copy'");
            Waits.until(Duration.ofSeconds(60), "copied again", () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM t") == 101
                    && pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copies WHERE finished_at IS NOT NULL") == 1);
            pair.awaitSynced();
            assertEquals(Pair.fingerprint(pair.blue, "t"), Pair.fingerprint(pair.green, "t"));
        }
    }

    /** Adds 1 to child.n of random rows, one per transaction, counting the commits. */
    static final class Updater implements Runnable {
        final AtomicLong updates = new AtomicLong();
        private final PgCluster node;
        private final AtomicBoolean stop;
        private final AtomicReference<Throwable> fatal = new AtomicReference<>();

        private final int from;

        /** Updates rows with ids from {@code from} to ROWS. */
        Updater(PgCluster node, AtomicBoolean stop, int from) {
            this.node = node;
            this.stop = stop;
            this.from = from;
        }

        void start() {
            Thread t = new Thread(this, "updater");
            t.setDaemon(true);
            t.start();
        }

        void check() {
            if (fatal.get() != null) {
                throw new AssertionError("updater failed", fatal.get());
            }
        }

        @Override
        public void run() {
            try (Connection c = node.connect(Pair.DB); PreparedStatement st = c.prepareStatement("UPDATE child SET n = n + 1 WHERE id = ?")) {
                while (!stop.get()) {
                    st.setLong(1, from + ThreadLocalRandom.current().nextInt(ROWS - from + 1));
                    if (st.executeUpdate() == 1) {
                        updates.incrementAndGet();
                    }
                    Thread.sleep(2);
                }
            } catch (SQLException | RuntimeException e) {
                fatal.set(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
