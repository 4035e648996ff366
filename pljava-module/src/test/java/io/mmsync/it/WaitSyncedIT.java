package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the compare's in-flight check relies on, under the same two-way load as CompareIT: once
 * mmsync.wait_synced returned true on a node, the peer holds every change that node committed
 * before the call (each row of the node's writer there, as new or newer: the writer's rows only
 * move forward, inserted with n = 0, updated once to n = 1, some deleted). Checked round after
 * round while the writers run; a row found stale is looked at again after a full sync with the
 * writers stopped, which tells a lost change (still stale) from a wait that returned too early.
 * At the end both nodes hold exactly the rows the writers' counts imply.
 */
@Timeout(value = 900, unit = TimeUnit.SECONDS)
class WaitSyncedIT {
    /** How long the writers run, 30 s by default (-Dmmsync.waitsynced.seconds). */
    static final int SECONDS = Integer.getInteger("mmsync.waitsynced.seconds", 30);
    static final int MIN_ROUNDS = 6;
    static final String SCHEMA = "CREATE TABLE load (id bigint PRIMARY KEY, n int NOT NULL, v text);";

    @Test
    void thePeerHoldsEveryChangeCommittedBeforeTheCall() throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.addSync("initial => 'none'");
            pair.startAgents();
            pair.awaitSyncOnGreen();
            AtomicBoolean stop = new AtomicBoolean();
            Writer onBlue = new Writer(pair.blue, "load", 1, 2, stop, 2000);
            Writer onGreen = new Writer(pair.green, "load", 2, 2, stop, 2000);
            Thread blueThread = onBlue.start("writer-blue");
            Thread greenThread = onGreen.start("writer-green");
            List<String> stale = new ArrayList<>();
            List<String> diagnosis = new ArrayList<>();
            int rounds = 0;
            long deadline = System.nanoTime() + Duration.ofSeconds(SECONDS).toNanos();
            try (Connection b = pair.blue.connect(Pair.DB); Connection g = pair.green.connect(Pair.DB)) {
                // at least MIN_ROUNDS whatever the machine's speed (on a loaded one, each wait_synced takes longer)
                while ((System.nanoTime() < deadline || rounds < MIN_ROUNDS) && stale.isEmpty()) {
                    // as the compare does: both read, then both waits, then both read again
                    Map<Long, Integer> blueBefore = rows(b);
                    Map<Long, Integer> greenBefore = rows(g);
                    assertTrue(waitSynced(b), "wait_synced on blue timed out");
                    assertTrue(waitSynced(g), "wait_synced on green timed out");
                    Map<Long, Integer> blueAfter = rows(b);
                    Map<Long, Integer> greenAfter = rows(g);
                    stale.addAll(staleRows("blue", 1, blueBefore, rows(b), greenAfter));
                    stale.addAll(staleRows("green", 0, greenBefore, rows(g), blueAfter));
                    rounds++;
                    if (!stale.isEmpty()) {
                        diagnosis.add(Diagnose.state(pair, stale));
                    }
                }
            } finally {
                stop.set(true);
            }
            blueThread.join(30_000);
            greenThread.join(30_000);
            onBlue.check();
            onGreen.check();
            pair.awaitSynced();
            if (!stale.isEmpty()) {
                diagnosis.add("after the writers stopped and a full sync: " + Diagnose.rowsOnBoth(pair, stale));
            }
            assertEquals(List.of(), stale, "rows stale at the peer after wait_synced returned true (round " + rounds + "):\n"
                    + String.join("\n", diagnosis));
            assertTrue(rounds >= MIN_ROUNDS, "only " + rounds + " rounds");
            String expected = expected(onBlue.transactions()) + "+" + expected(onGreen.transactions());
            if (!expected.equals(contents(pair.blue)) || !expected.equals(contents(pair.green))) {
                throw new AssertionError(endDiagnosis(pair, expected));
            }
            for (PgCluster c : List.of(pair.blue, pair.green)) {
                assertEquals(expected(onBlue.transactions()) + "+" + expected(onGreen.transactions()), contents(c), c.name());
            }
            assertEquals(Pair.fingerprint(pair.blue, "load"), Pair.fingerprint(pair.green, "load"));
        }
    }

    /**
     * After a full sync the nodes do not hold what the writers' counts imply: which rows differ
     * between the nodes, their queued changes and the links' state, and whether they arrive later
     * (a wait_synced that returned too early) or never (a lost change).
     */
    private static String endDiagnosis(Pair pair, String expected) throws Exception {
        StringBuilder out = new StringBuilder("after the writers stopped and a full sync, expected " + expected + ", blue "
                + contents(pair.blue) + ", green " + contents(pair.green));
        List<String> differing = new ArrayList<>();
        try (Connection b = pair.blue.connect(Pair.DB); Connection g = pair.green.connect(Pair.DB)) {
            Map<Long, Integer> onBlue = rows(b);
            Map<Long, Integer> onGreen = rows(g);
            java.util.Set<Long> ids = new java.util.TreeSet<>(onBlue.keySet());
            ids.addAll(onGreen.keySet());
            for (long id : ids) {
                if (!java.util.Objects.equals(onBlue.get(id), onGreen.get(id))) {
                    differing.add("row " + id + " of " + (id % 2 == 1 ? "blue" : "green") + "'s writer");
                }
            }
            out.append("\nrows that differ between the nodes: ").append(differing.size()).append('\n')
                    .append(Diagnose.state(pair, differing));
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (System.nanoTime() < deadline && !rows(b).equals(rows(g))) {
                Thread.sleep(200);
            }
            out.append(rows(b).equals(rows(g)) ? "\nthe nodes became equal within 30 s more: wait_synced returned too early"
                    : "\nstill different 30 s later: " + Diagnose.rowsOnBoth(pair, differing));
        }
        return out.toString();
    }

    private static boolean waitSynced(Connection c) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT mmsync.wait_synced('app', '120 seconds')")) {
            rs.next();
            return rs.getBoolean(1);
        }
    }

    /** id -> n of every row of the table. */
    static Map<Long, Integer> rows(Connection c) throws SQLException {
        Map<Long, Integer> out = new TreeMap<>();
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT id, n FROM load")) {
            while (rs.next()) {
                out.put(rs.getLong(1), rs.getInt(2));
            }
        }
        return out;
    }

    /**
     * The rows of {@code origin}'s writer (id % 2 == parity) that the peer does not hold as new as
     * they were on the origin before the wait: missing there though not deleted on the origin
     * since, an older n, or still there though deleted on the origin before the wait.
     */
    static List<String> staleRows(String origin, int parity, Map<Long, Integer> before, Map<Long, Integer> originNow,
                                  Map<Long, Integer> peerAfter) {
        List<String> out = new ArrayList<>();
        long max = before.keySet().stream().filter(id -> id % 2 == parity).mapToLong(Long::longValue).max().orElse(0);
        for (long id = parity == 0 ? 2 : 1; id <= max; id += 2) {
            Integer was = before.get(id);
            Integer there = peerAfter.get(id);
            boolean stale = was == null ? there != null
                    : there == null ? originNow.containsKey(id) : there < was;
            if (stale) {
                out.add("row " + id + " of " + origin + "'s writer: " + was + " on " + origin + " before the wait, " + there
                        + " at the peer after it (null: absent)");
            }
        }
        return out;
    }

    /** "rows:sum(n)" a writer's k transactions leave (see Writer). */
    static String expected(long k) {
        long rows = 0;
        long sum = 0;
        for (long i = 0; i < k; i++) {
            boolean deleted = i + 30 < k && (i + 30) % 7 == 0;
            if (!deleted) {
                rows++;
                sum += i + 10 < k ? 1 : 0;
            }
        }
        return rows + ":" + sum;
    }

    /** "rows:sum(n)" of blue's writer's rows (odd ids), "+", the same of green's (even ids). */
    private static String contents(PgCluster c) {
        return c.queryString(Pair.DB, "SELECT (count(*) FILTER (WHERE id % 2 = 1)) || ':' || coalesce(sum(n) FILTER (WHERE id % 2 = 1), 0)"
                + " || '+' || (count(*) FILTER (WHERE id % 2 = 0)) || ':' || coalesce(sum(n) FILTER (WHERE id % 2 = 0), 0) FROM load");
    }
}
