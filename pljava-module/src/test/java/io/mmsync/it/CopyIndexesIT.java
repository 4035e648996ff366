package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A copy onto an empty table drops its plain secondary indexes until the rows are in, then builds
 * them (InitialCopy.DEFER_INDEXES): the peer ends with the same indexes as before, also when the
 * copy (two workers, parallel ranges) is killed halfway and resumed; indexes the copy must not drop
 * (unique, commented) stay throughout; a copy that will not finish leaves them recorded for
 * mmsync.copy_restore_indexes().
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class CopyIndexesIT {
    static final int ROWS = 100_000;
    static final String SCHEMA = "CREATE TABLE t (id bigint PRIMARY KEY, n int NOT NULL, v text, at timestamptz, code text);"
            + "CREATE INDEX t_n ON t (n);"
            + "CREATE INDEX t_lower_v ON t (lower(v)) WHERE n > 10;"
            + "CREATE UNIQUE INDEX t_code ON t (code);"
            + "CREATE INDEX t_at ON t (at); COMMENT ON INDEX t_at IS 'kept: it has a comment';"
            + "CREATE TABLE plain (id int PRIMARY KEY, v text);";
    static final String DATA = "INSERT INTO t SELECT g, g % 100, md5(g::text), '2026-01-01'::timestamptz + g * interval '1 s', 'c' || g "
            + "FROM generate_series(1, " + ROWS + ") g; INSERT INTO plain SELECT g, 'p' FROM generate_series(1, 50) g; ANALYZE;";
    /** Rows in whose ranges the copy's two workers are held when it is killed: about the 40th and the 60th of its 100 ranges. */
    static final long[] HELD = {40_000, 60_000};
    static final String INDEXES = "SELECT string_agg(indexdef, E'\\n' ORDER BY indexname) FROM pg_indexes WHERE tablename = 't'";

    @Test
    void indexesDroppedForTheCopyAreBuiltAfterItAlsoWhenKilledAndResumed() throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.blue.execute(Pair.DB, DATA);
            String before = pair.green.queryString(Pair.DB, INDEXES);
            pair.addSync("initial => 'copy'");
            Map<String, String> env = Map.of("JAVA_TOOL_OPTIONS", "-Dmmsync.copy.rangeRows=1000 -Dmmsync.copy.workers=2");
            // each of the two workers is held in the range of a row of HELD whatever the copy's speed
            // (killed once it had seen 3 ranges done, the copy could have done them all, or have a
            // range's commit on its way)
            long done;
            long total;
            RowHold hold = new RowHold(pair.green, "t", "INSERT", HELD[0], HELD[1]);
            try (hold) {
                Agent.Child blueAgent = pair.childAgent(pair.blue, env);
                pair.childAgent(pair.green);
                Waits.until(Duration.ofSeconds(300), Duration.ofMillis(50), "both copy workers wait in the ranges of rows "
                        + HELD[0] + " and " + HELD[1], () -> hold.waiting() == 2);
                blueAgent.kill9();
                done = pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copy_ranges WHERE done_at IS NOT NULL AND table_name = 't'");
                total = pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copy_ranges WHERE table_name = 't'");
                String lo = RowHold.boundKey("lo");
                String hi = RowHold.boundKey("hi");
                assertEquals(done, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copy_ranges WHERE table_name = 't' "
                        + "AND done_at IS NOT NULL AND " + hi + " <= " + HELD[1] + " AND NOT (coalesce(" + lo + ", 0) <= " + HELD[0]
                        + " AND " + hi + " > " + HELD[0] + ")"),
                        "the ranges below row " + HELD[1] + " but the one of row " + HELD[0] + ", and only those, done");
                hold.release();
            }
            assertTrue(done >= 3 && done < total, done + " of " + total + " ranges done when killed");
            // while the copy is stopped: the two plain indexes are dropped and recorded, the others are there
            assertEquals("t_lower_v,t_n", pair.green.queryString(Pair.DB,
                    "SELECT string_agg(index_name, ',' ORDER BY index_name) FROM mmsync.copy_indexes WHERE table_name = 't'"));
            assertEquals("t_at,t_code,t_pkey", pair.green.queryString(Pair.DB,
                    "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE tablename = 't'"));
            assertEquals(0, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copy_indexes WHERE table_name = 'plain'"));

            pair.childAgent(pair.blue, env);
            Waits.until(Duration.ofSeconds(300), "copy finished on green",
                    () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copies WHERE finished_at IS NOT NULL") == 1);
            hold.drop();
            pair.awaitSynced();
            for (String table : new String[] {"t", "plain"}) {
                assertEquals(Pair.fingerprint(pair.blue, table), Pair.fingerprint(pair.green, table), table);
            }
            assertEquals(before, pair.green.queryString(Pair.DB, INDEXES), "green's indexes as before the copy");
            assertEquals(0, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copy_indexes"));
            assertEquals(0, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
                    + "WHERE c.relname = 't' AND NOT (i.indisvalid AND i.indisready)"), "every index valid");
            assertEquals(ROWS / 100, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM t WHERE n = 7"));
            String log = Files.readString(pair.agentLog(pair.blue));
            assertTrue(log.contains("resuming, " + done + " of " + total + " ranges already done"), "the second agent resumed");
            assertTrue(log.contains("\"public\".\"t\": 2 secondary indexes built in"), "built after the resumed copy");
            System.out.printf("CopyIndexesIT: killed with %d of %d ranges done, resumed%n", done, total);
        }
    }

    @Test
    void onlyAnEmptyTableLosesItsIndexesAndTheyCanBeBuiltByHand() {
        try (Pair pair = Pair.start(SCHEMA)) {
            PgCluster g = pair.green;
            String before = g.queryString(Pair.DB, INDEXES);
            g.execute(Pair.DB, "INSERT INTO plain VALUES (1, 'x')");
            assertEquals(0, g.queryLong(Pair.DB, "SELECT mmsync._copy_defer_indexes('app', 'blue', 'plain')"), "plain has none");
            g.execute(Pair.DB, "INSERT INTO t VALUES (1, 1, 'x', now(), 'c1')");
            assertEquals(0, g.queryLong(Pair.DB, "SELECT mmsync._copy_defer_indexes('app', 'blue', 't')"), "t holds a row");
            assertEquals(before, g.queryString(Pair.DB, INDEXES));
            g.execute(Pair.DB, "DELETE FROM t");
            assertEquals(2, g.queryLong(Pair.DB, "SELECT mmsync._copy_defer_indexes('app', 'blue', 't')"));
            assertEquals("t_at,t_code,t_pkey", g.queryString(Pair.DB,
                    "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE tablename = 't'"));
            // a copy that will not finish (the sync removed meanwhile): the DBA builds them
            g.execute(Pair.DB, "INSERT INTO t SELECT g, g % 20, 'v' || g, now(), 'c' || g FROM generate_series(1, 1000) g");
            assertEquals("2 indexes built", g.queryString(Pair.DB, "SELECT mmsync.copy_restore_indexes()"));
            assertEquals(before, g.queryString(Pair.DB, INDEXES));
            assertEquals(0, g.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copy_indexes"));
            assertEquals(0, g.queryLong(Pair.DB, "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
                    + "WHERE c.relname = 't' AND NOT (i.indisvalid AND i.indisready)"), "every index valid");
            // one that exists again meanwhile is only forgotten; the sync added again builds what is left
            g.execute(Pair.DB, "DELETE FROM t");
            assertEquals(2, g.queryLong(Pair.DB, "SELECT mmsync._copy_defer_indexes('app', 'blue', 't')"));
            g.execute(Pair.DB, "CREATE INDEX t_n ON t (n)");
            g.execute(Pair.DB, "SELECT mmsync._forget_initial('app')");
            assertEquals(before, g.queryString(Pair.DB, INDEXES));
            assertEquals(0, g.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copy_indexes"));
        }
    }
}
