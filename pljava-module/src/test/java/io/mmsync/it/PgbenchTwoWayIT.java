package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The acceptance test of additive columns: pgbench's TPC-B-like script on blue and on green at
 * the same time (with foreign keys, pgbench_history insert-only), then both nodes identical and
 * every balance equal to the sum of its deltas in the history of both nodes.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class PgbenchTwoWayIT {
    static final int SECONDS = Integer.getInteger("mmsync.pgbench.seconds", 10);

    /** Both nodes initialised by pgbench, the sync added (history insert-only), agents running. */
    private static Pair pair(boolean deltaColumns) throws Exception {
        Pair pair = Pair.start(null);
        for (PgCluster c : List.of(pair.blue, pair.green)) {
            run(pgbench(c, "-i", "-s", "1", "--foreign-keys", "-q"), "pgbench -i on " + c.name());
        }
        pair.addSync("tables => 'all', insert_only => 'pgbench_history', initial => 'none'"); // both initialised alike
        if (deltaColumns) {
            pair.blue.execute(Pair.DB, "SELECT mmsync.set_column_policy('pgbench_accounts', 'abalance', 'delta');"
                    + "SELECT mmsync.set_column_policy('pgbench_tellers', 'tbalance', 'delta');"
                    + "SELECT mmsync.set_column_policy('pgbench_branches', 'bbalance', 'delta')");
        }
        pair.startAgents();
        Waits.until(Duration.ofSeconds(60), "sync and column policies on green",
                () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.column_policies") == (deltaColumns ? 3 : 0)
                        && pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.syncs") == 1);
        return pair;
    }

    /** TPC-B on both nodes at once, 4 clients each; returns the transactions of blue and green. */
    private static long[] runOnBoth(Pair pair) throws Exception {
        Process onBlue = start(pgbench(pair.blue, "-n", "-c", "4", "-j", "2", "-T", Integer.toString(SECONDS)));
        Process onGreen = start(pgbench(pair.green, "-n", "-c", "4", "-j", "2", "-T", Integer.toString(SECONDS)));
        long[] tx = {transactions(onBlue), transactions(onGreen)};
        assertTrue(tx[0] > 0 && tx[1] > 0, "both ran: " + tx[0] + ", " + tx[1]);
        pair.awaitSynced();
        for (String t : List.of("pgbench_accounts", "pgbench_tellers", "pgbench_branches", "pgbench_history")) {
            assertEquals(Pair.fingerprint(pair.blue, t), Pair.fingerprint(pair.green, t), () -> t + " differs: " + diff(pair));
        }
        assertEquals(tx[0] + tx[1], pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM pgbench_history"));
        return tx;
    }

    /**
     * Without delta columns the balances are last-writer-wins (not sums), but every row's last
     * version must win on both nodes, so they still end identical (this caught queue ids that did
     * not follow the order in which changes were made).
     */
    @Test
    void tpcbWithoutDeltaColumnsConvergesUnderLatest() throws Exception {
        try (Pair pair = pair(false)) {
            runOnBoth(pair);
        }
    }

    @Test
    void tpcbOnBothNodesAddsUp() throws Exception {
        try (Pair pair = pair(true)) {
            runOnBoth(pair);
            for (PgCluster c : List.of(pair.blue, pair.green)) {
                for (String[] t : new String[][] {{"accounts", "aid", "abalance"}, {"tellers", "tid", "tbalance"},
                        {"branches", "bid", "bbalance"}}) {
                    assertEquals(0, c.queryLong(Pair.DB, "SELECT count(*) FROM pgbench_" + t[0] + " x LEFT JOIN (SELECT "
                            + t[1] + ", sum(delta) AS s FROM pgbench_history GROUP BY 1) h USING (" + t[1] + ") "
                            + "WHERE x." + t[2] + " <> coalesce(h.s, 0)"), t[0] + " on " + c.name());
                }
            }
            // concurrent updates of the one branch row are conflicts; their deltas were merged, not lost:
            // counted per sync and origin (status().merged_deltas), not a row each in mmsync.conflicts
            long merged = 0;
            for (PgCluster c : List.of(pair.blue, pair.green)) {
                long counted = c.queryLong(Pair.DB, "SELECT coalesce(sum(merged), 0) FROM mmsync.conflict_counts");
                assertEquals(counted, c.queryLong(Pair.DB, "SELECT coalesce(sum(merged_deltas), 0) FROM mmsync.status()"),
                        "status() shows the counter on " + c.name());
                assertEquals(0, c.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.conflicts WHERE kind = 'update_update' "
                        + "AND resolution IN ('merged', 'remote_applied') AND table_name IN ('pgbench_branches', 'pgbench_tellers')"),
                        "no merged delta of branches or tellers logged as a row on " + c.name() + ": " + diff(pair));
                merged += counted;
            }
            assertTrue(merged > 0, "merged deltas counted: " + merged);

            // an update of the keyless history cannot be replicated: it is reported, not dropped
            pair.blue.execute(Pair.DB, "UPDATE pgbench_history SET delta = delta WHERE ctid = (SELECT min(ctid) FROM pgbench_history)");
            assertEquals(1, pair.blue.queryLong(Pair.DB,
                    "SELECT count(*) FROM mmsync.set_aside WHERE table_name = 'pgbench_history' AND error LIKE 'UPDATE on insert-only%'"));
        }
    }

    private static String diff(Pair pair) {
        String q = "SELECT string_agg(aid || ':' || abalance || ':' || (SELECT coalesce(sum(delta), 0) FROM pgbench_history h "
                + "WHERE h.aid = a.aid), ' ' ORDER BY aid) FROM pgbench_accounts a WHERE abalance <> 0 OR aid IN (SELECT aid FROM pgbench_history)";
        java.util.Set<String> b = new java.util.TreeSet<>(List.of(pair.blue.queryString(Pair.DB, q).split(" ")));
        java.util.Set<String> g = new java.util.TreeSet<>(List.of(pair.green.queryString(Pair.DB, q).split(" ")));
        java.util.Set<String> onlyB = new java.util.TreeSet<>(b);
        onlyB.removeAll(g);
        java.util.Set<String> onlyG = new java.util.TreeSet<>(g);
        onlyG.removeAll(b);
        return "blue only " + onlyB.stream().limit(10).toList() + " green only " + onlyG.stream().limit(10).toList()
                + " conflicts blue: " + pair.blue.queryString(Pair.DB, "SELECT string_agg(kind || '/' || resolution || '/' || count, ', ') FROM (SELECT kind, resolution, count(*) FROM mmsync.conflicts GROUP BY 1, 2) x")
                + " green: " + pair.green.queryString(Pair.DB, "SELECT string_agg(kind || '/' || resolution || '/' || count, ', ') FROM (SELECT kind, resolution, count(*) FROM mmsync.conflicts GROUP BY 1, 2) x")
                + " set aside: " + pair.blue.queryString(Pair.DB, "SELECT count(*) FROM mmsync.set_aside") + "/"
                + pair.green.queryString(Pair.DB, "SELECT count(*) FROM mmsync.set_aside");
    }

    private static List<String> pgbench(PgCluster c, String... args) {
        List<String> cmd = new java.util.ArrayList<>(List.of(PgCluster.pgBin().resolve("pgbench").toString(),
                "-h", "127.0.0.1", "-p", Integer.toString(c.port()), "-U", "postgres"));
        cmd.addAll(List.of(args));
        cmd.add(Pair.DB);
        return cmd;
    }

    private static Process start(List<String> cmd) throws IOException {
        return new ProcessBuilder(cmd).redirectErrorStream(true).start();
    }

    private static String run(List<String> cmd, String what) throws Exception {
        Process p = start(cmd);
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), what + " timed out");
        assertEquals(0, p.exitValue(), what + " failed: " + out);
        return out;
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
