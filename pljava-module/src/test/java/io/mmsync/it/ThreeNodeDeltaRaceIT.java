package io.mmsync.it;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Delta columns on three nodes writing at once (issue 17): pgbench on blue, green and red together
 * increments, deletes, deletes and re-inserts, and inserts the same 12 rows of {@code t} (v a delta
 * column), in 5 rounds, agents running (but red's in even rounds, so that red's changes reach the
 * others after newer ones). Each pgbench transaction copies the changes it queued into a ledger
 * table that is not synced, so the test knows every change of every node with the time, node and
 * id the engine orders them by. After each round the three nodes are identical and every row is
 * what the rule of docs/conflicts.md ("Three or more nodes", "Delta columns") computes from the
 * ledgers: the row exists iff its newest insert is newer than its newest delete; v is that
 * insert's v plus the deltas of every newer update; node is the newest of those changes' node.
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class ThreeNodeDeltaRaceIT {
    private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(ThreeNodeDeltaRaceIT.class.getName());
    private static final int ROWS = 12;
    private static final int ROUNDS = Integer.getInteger("mmsync.deltarace.rounds", 5);
    private static final int SECONDS = Integer.getInteger("mmsync.deltarace.seconds", 5);
    private static final String SCHEMA = "CREATE TABLE t (id int PRIMARY KEY, v bigint NOT NULL DEFAULT 0, node text);"
            + "CREATE TABLE ledger (node text NOT NULL, id bigint NOT NULL, op \"char\" NOT NULL, at timestamptz NOT NULL, "
            + "old jsonb, new jsonb)";
    private static final String TO_LEDGER = "INSERT INTO ledger SELECT '%s', c.id, c.op, c.at, c.old, c.new FROM mmsync.changes c "
            + "WHERE c.xid = pg_current_xact_id() AND c.relid = 't'::regclass;\n";

    @Test
    void threeNodesIncrementingDeletingAndReinsertingTheSameRows() throws Exception {
        try (Trio trio = Trio.start(SCHEMA)) {
            trio.addSync("tables => 't'");
            trio.blue.execute(Trio.DB, "SELECT mmsync.set_column_policy('t', 'v', 'delta')");
            trio.startAgents();
            trio.awaitSyncEverywhere(1);
            trio.blue.execute(Trio.DB, "BEGIN; INSERT INTO t SELECT i, 0, 'blue' FROM generate_series(1, " + ROWS + ") i; "
                    + String.format(TO_LEDGER, "blue") + "COMMIT");
            trio.awaitSame("t");
            Path dir = trio.blue.dataDir().getParent();
            for (int round = 1; round <= ROUNDS; round++) {
                // even rounds: red's agent is down while the three write, so red's changes reach blue and
                // green only afterwards, older than what those already applied from each other
                boolean hold = round % 2 == 0;
                if (hold) {
                    trio.stopAgent(trio.red);
                }
                long tx = pgbenchOnAll(trio, dir);
                if (hold) {
                    trio.startAgent(trio.red);
                }
                long t0 = System.nanoTime();
                trio.awaitSame("t");
                String expected = expected(trio);
                for (PgCluster c : trio.all()) {
                    assertEquals(expected, rows(c), "round " + round + ": t on " + c.name() + " against the ledgers");
                }
                LOG.info("round " + round + ": " + tx + " transactions, identical " + (System.nanoTime() - t0) / 1_000_000
                        + " ms after pgbench ended; rows " + trio.blue.queryLong(Trio.DB, "SELECT count(*) FROM t") + "; ledger "
                        + trio.all().stream().mapToLong(c -> c.queryLong(Trio.DB, "SELECT count(*) FROM ledger")).sum()
                        + " changes; row_deltas " + trio.blue.queryLong(Trio.DB, "SELECT count(*) FROM mmsync.row_deltas")
                        + " at blue");
            }
        }
    }

    private static String rows(PgCluster c) {
        return c.queryString(Trio.DB, "SELECT coalesce(string_agg(id || '=' || v || ':' || node, ' ' ORDER BY id), '') FROM t");
    }

    /** pgbench on the three nodes at once, each transaction one random change and its ledger copy; total transactions. */
    private static long pgbenchOnAll(Trio trio, Path dir) throws Exception {
        List<Process> runs = new ArrayList<>();
        for (PgCluster c : trio.all()) {
            String n = c.name();
            Path script = dir.resolve("delta-" + n + ".sql");
            Files.writeString(script, "\\set k random(1, " + ROWS + ")\n\\set d random(1, 9)\n\\set r random(1, 10)\n"
                    + "BEGIN;\n"
                    + "\\if :r <= 5\n"
                    + "UPDATE t SET v = v + :d, node = '" + n + "' WHERE id = :k;\n"
                    + "\\elif :r <= 7\n"
                    + "DELETE FROM t WHERE id = :k;\n"
                    + "INSERT INTO t (id, v, node) VALUES (:k, :d, '" + n + "') ON CONFLICT (id) DO NOTHING;\n"
                    + "\\elif :r = 8\n"
                    + "DELETE FROM t WHERE id = :k;\n"
                    + "\\else\n"
                    + "INSERT INTO t (id, v, node) VALUES (:k, :d, '" + n + "') ON CONFLICT (id) DO NOTHING;\n"
                    + "\\endif\n"
                    + String.format(TO_LEDGER, n)
                    + "COMMIT;\n");
            runs.add(new ProcessBuilder(PgCluster.pgBin().resolve("pgbench").toString(), "-h", "127.0.0.1", "-p",
                    Integer.toString(c.port()), "-U", "postgres", "-n", "-c", "2", "-T", Integer.toString(SECONDS),
                    "--max-tries=20", "-f", script.toString(), Trio.DB).redirectErrorStream(true).start());
        }
        long total = 0;
        for (Process p : runs) {
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(SECONDS + 60L, TimeUnit.SECONDS), "pgbench timed out");
            assertEquals(0, p.exitValue(), "pgbench failed: " + out);
            Matcher m = Pattern.compile("number of transactions actually processed: (\\d+)").matcher(out);
            assertTrue(m.find(), out);
            long tx = Long.parseLong(m.group(1));
            assertTrue(tx > 0, out);
            total += tx;
        }
        return total;
    }

    /** One change of the ledgers: its order (at, node sorting first, id) and images. */
    private record Change(String op, Instant at, String node, long id, JsonObject old, JsonObject now)
            implements Comparable<Change> {
        @Override
        public int compareTo(Change o) {
            int c = at.compareTo(o.at);
            if (c != 0) {
                return c;
            }
            c = o.node.compareTo(node);
            return c != 0 ? c : Long.compare(id, o.id);
        }
    }

    /** The table as the rule computes it from the three ledgers, in the form of {@link #rows}. */
    private static String expected(Trio trio) throws Exception {
        Map<Integer, List<Change>> byKey = new TreeMap<>();
        for (PgCluster c : trio.all()) {
            try (Connection conn = c.connect(Trio.DB); Statement st = conn.createStatement();
                 ResultSet rs = st.executeQuery("SELECT node, id, op, at, old::text, new::text FROM ledger")) {
                while (rs.next()) {
                    JsonObject old = rs.getString(5) == null ? null : JsonParser.parseString(rs.getString(5)).getAsJsonObject();
                    JsonObject now = rs.getString(6) == null ? null : JsonParser.parseString(rs.getString(6)).getAsJsonObject();
                    int key = (now != null ? now : old).get("id").getAsInt();
                    byKey.computeIfAbsent(key, k -> new ArrayList<>()).add(new Change(rs.getString(3),
                            rs.getTimestamp(4).toInstant(), rs.getString(1), rs.getLong(2), old, now));
                }
            }
        }
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<Integer, List<Change>> e : byKey.entrySet()) {
            Change born = null;
            Change removed = null;
            for (Change c : e.getValue()) {
                if (c.op.equals("I") && (born == null || c.compareTo(born) > 0)) {
                    born = c;
                } else if (c.op.equals("D") && (removed == null || c.compareTo(removed) > 0)) {
                    removed = c;
                }
            }
            if (born == null || (removed != null && removed.compareTo(born) > 0)) {
                continue;
            }
            long v = born.now.get("v").getAsLong();
            Change newest = born;
            for (Change c : e.getValue()) {
                if (c.op.equals("U") && c.compareTo(born) > 0) {
                    v += c.now.get("v").getAsLong() - c.old.get("v").getAsLong();
                    if (c.compareTo(newest) > 0) {
                        newest = c;
                    }
                }
            }
            sb.append(sb.length() > 0 ? " " : "").append(e.getKey()).append('=').append(v).append(':')
                    .append(newest.now.get("node").getAsString());
        }
        return sb.toString();
    }
}
