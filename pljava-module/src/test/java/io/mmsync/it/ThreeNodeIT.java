package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 17's first scenario on three clusters: 100 rows inserted on each node, then pgbench
 * updating random rows of all 300 on the three nodes at once ({@code v = v + 1} and the writing
 * node's name), agents running. The three end identical; with v a delta column, every row's v is
 * the sum of its increments (sum(v) = the transactions of the three pgbench runs).
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class ThreeNodeIT {
    private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(ThreeNodeIT.class.getName());
    static final int SECONDS = Integer.getInteger("mmsync.pgbench.seconds", 10);
    static final String SCHEMA = "CREATE TABLE t (id text PRIMARY KEY, v int NOT NULL DEFAULT 0, node text)";

    /** The sync of three nodes on an empty t, v a delta column or not, agents running, 100 rows inserted per node. */
    private static Trio trio(boolean delta) {
        Trio trio = Trio.start(SCHEMA);
        trio.addSync("tables => 't'");
        if (delta) {
            trio.blue.execute(Trio.DB, "SELECT mmsync.set_column_policy('t', 'v', 'delta')");
        }
        trio.startAgents();
        trio.awaitSyncEverywhere(delta ? 1 : 0);
        for (int k = 0; k < 3; k++) {
            PgCluster c = trio.all().get(k);
            c.execute(Trio.DB, "INSERT INTO t SELECT '" + (k + 1) + "-' || i, 0, '" + c.name() + "' FROM generate_series(1, 100) i");
        }
        trio.awaitSame("t");
        assertEquals(300, trio.red.queryLong(Trio.DB, "SELECT count(*) FROM t"));
        return trio;
    }

    /** pgbench on the three nodes at once; returns the transactions of all three. */
    private static long pgbenchOnAll(Trio trio, Path dir) throws Exception {
        List<Process> runs = new ArrayList<>();
        for (PgCluster c : trio.all()) {
            Path script = dir.resolve("update-" + c.name() + ".sql");
            Files.writeString(script, "\\set i random(1, 100)\n\\set n random(1, 3)\n"
                    + "UPDATE t SET v = v + 1, node = '" + c.name() + "' WHERE id = :n || '-' || :i;\n");
            runs.add(new ProcessBuilder(PgCluster.pgBin().resolve("pgbench").toString(), "-h", "127.0.0.1", "-p",
                    Integer.toString(c.port()), "-U", "postgres", "-n", "-c", "2", "-T", Integer.toString(SECONDS),
                    "-f", script.toString(), Trio.DB).redirectErrorStream(true).start());
        }
        long total = 0;
        for (Process p : runs) {
            long tx = transactions(p);
            assertTrue(tx > 0, "pgbench ran: " + tx);
            total += tx;
        }
        return total;
    }

    @Test
    void pgbenchOnThreeNodesAddsUpInADeltaColumn() throws Exception {
        try (Trio trio = trio(true)) {
            long tx = pgbenchOnAll(trio, trio.blue.dataDir().getParent());
            long t0 = System.nanoTime();
            trio.awaitSame("t");
            LOG.info(figures(trio, tx, t0));
            for (PgCluster c : trio.all()) {
                assertEquals(tx, c.queryLong(Trio.DB, "SELECT sum(v) FROM t"), "sum of the increments on " + c.name());
            }
            assertTrue(trio.blue.queryLong(Trio.DB, "SELECT count(*) FROM mmsync.row_deltas") > 0,
                    "the changes received of a table with delta columns are in its rows' logs");
            assertEquals(0, trio.blue.queryLong(Trio.DB, "SELECT count(*) FROM mmsync.row_versions"), "not in row_versions");
            versionsGoOnceNoOlderChangeCanArrive(trio);
        }
    }

    @Test
    void pgbenchOnThreeNodesConvergesUnderLatest() throws Exception {
        try (Trio trio = trio(false)) {
            long tx = pgbenchOnAll(trio, trio.blue.dataDir().getParent());
            long t0 = System.nanoTime();
            trio.awaitSame("t");
            LOG.info(figures(trio, tx, t0));
            long sum = trio.blue.queryLong(Trio.DB, "SELECT sum(v) FROM t");
            assertTrue(sum > 0 && sum <= tx, "concurrent increments of a plain column overwrite each other: " + sum + " of " + tx);
            // every row holds the newest version, on every node: the conflicts logged are decided alike
            for (PgCluster c : trio.all()) {
                assertEquals(0, c.queryLong(Trio.DB, "SELECT count(*) FROM mmsync.set_aside"), "nothing set aside on " + c.name());
            }
        }
    }

    /**
     * With no change made any more, each node's entries go once every peer's purge mark covers
     * them (with no margin for open transactions); with the default margin of 10 minutes they stay.
     */
    private static void versionsGoOnceNoOlderChangeCanArrive(Trio trio) {
        for (PgCluster c : trio.all()) {
            String count = "SELECT (SELECT count(*) FROM mmsync.row_versions) + (SELECT count(*) FROM mmsync.row_deltas)";
            long before = c.queryLong(Trio.DB, count);
            assertTrue(before > 0, "entries on " + c.name());
            assertEquals(0, c.queryLong(Trio.DB, "SELECT mmsync._purge_row_versions()"), "kept within the margin on " + c.name());
            assertEquals(before, c.queryLong(Trio.DB, count));
            Waits.until(Duration.ofSeconds(90), Duration.ofMillis(500), "row versions purged on " + c.name(), () -> {
                c.queryLong(Trio.DB, "SELECT mmsync._purge_row_versions('0 seconds')");
                return c.queryLong(Trio.DB, count) == 0;
            });
        }
    }

    @Test
    void whatCannotBeExactIsRefusedForThreeNodes() throws SQLException {
        try (Trio trio = Trio.start(SCHEMA)) {
            for (String args : List.of("conflict => 'prefer', prefer => 'blue'", "conflict => 'keep_local'",
                    "conflict => 'apply_remote'", "conflict => 'abort'")) {
                SQLException e = assertThrows(SQLException.class, () -> Pair.exec(trio.blue,
                        "SELECT mmsync.add_sync('app', '{blue,green,red}', tables => 't', " + args + ")"), args);
                assertEquals("0A000", e.getSQLState(), args + ": " + e.getMessage());
                assertTrue(e.getMessage().contains("cannot be used by sync \"app\" of 3 nodes"), e.getMessage());
                assertTrue(e.getMessage().contains("conflict => 'latest'"), "names what to use instead: " + e.getMessage());
            }
            assertEquals(0, trio.blue.queryLong(Trio.DB, "SELECT count(*) FROM mmsync.syncs"));
            Pair.exec(trio.blue, "SELECT mmsync.add_sync('app', '{blue,green,red}', tables => 't')");
            SQLException e = assertThrows(SQLException.class, () -> Pair.exec(trio.blue,
                    "SELECT mmsync.set_conflict('app', 'prefer', 'green')"));
            assertEquals("0A000", e.getSQLState(), e.getMessage());
            assertEquals("latest", trio.blue.queryString(Trio.DB, "SELECT conflict FROM mmsync.syncs WHERE name = 'app'"));
            SQLException files = assertThrows(SQLException.class, () -> Pair.exec(trio.blue,
                    "SELECT mmsync.add_file_sync('app', '/srv/plugins')"));
            assertEquals("0A000", files.getSQLState(), files.getMessage());
            assertEquals(0, trio.blue.queryLong(Trio.DB, "SELECT count(*) FROM mmsync.file_syncs"));
            Pair.exec(trio.blue, "INSERT INTO t VALUES ('1-1', 0, 'blue')");
            SQLException truncate = assertThrows(SQLException.class, () -> Pair.exec(trio.blue, "TRUNCATE t"));
            assertEquals("0A000", truncate.getSQLState(), truncate.getMessage());
            assertTrue(truncate.getMessage().contains("Use DELETE"), truncate.getMessage());
            assertEquals(1, trio.blue.queryLong(Trio.DB, "SELECT count(*) FROM t"));
            // two of the three nodes: every strategy as before
            Pair.exec(trio.blue, "CREATE TABLE u (id int PRIMARY KEY)");
            Pair.exec(trio.blue, "SELECT mmsync.add_sync('two', '{blue,green}', tables => 'u', conflict => 'keep_local')");
            assertEquals("keep_local/blue", trio.blue.queryString(Trio.DB,
                    "SELECT conflict || '/' || prefer FROM mmsync.syncs WHERE name = 'two'"));
        }
    }

    /** What a run did: transactions, time from the end of pgbench to identical nodes, conflicts and row versions per node. */
    private static String figures(Trio trio, long tx, long t0) {
        StringBuilder sb = new StringBuilder("three-node pgbench: " + tx + " transactions, identical "
                + (System.nanoTime() - t0) / 1_000_000 + " ms after pgbench ended;");
        for (PgCluster c : trio.all()) {
            sb.append(' ').append(c.name()).append(": ").append(c.queryString(Trio.DB,
                    "SELECT (SELECT count(*) FROM mmsync.conflicts) || ' conflicts logged, ' "
                    + "|| (SELECT coalesce(sum(merged), 0) FROM mmsync.conflict_counts) || ' merged deltas, ' "
                    + "|| (SELECT count(*) FROM mmsync.row_versions) || ' row versions'")).append(';');
        }
        return sb.toString();
    }

    private static long transactions(Process p) throws Exception {
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(SECONDS + 60L, TimeUnit.SECONDS), "pgbench timed out");
        assertEquals(0, p.exitValue(), "pgbench failed: " + out);
        Matcher m = Pattern.compile("number of transactions actually processed: (\\d+)").matcher(out);
        assertTrue(m.find(), out);
        return Long.parseLong(m.group(1));
    }
}
