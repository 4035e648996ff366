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
 * Without delta columns the balances are last-writer-wins (not sums), but the two nodes must
 * still end identical after pgbench's TPC-B-like script ran on both at once: every row's last
 * version wins on both nodes (this caught queue ids that did not follow the order of changes).
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class PgbenchLatestWinsTest {
    static final int SECONDS = Integer.getInteger("mmsync.pgbench.seconds", 10);

    @Test
    void tpcbWithoutDeltaColumnsConvergesUnderLatest() throws Exception {
        try (Pair pair = Pair.start(null)) {
            for (PgCluster c : List.of(pair.blue, pair.green)) {
                run(pgbench(c, "-i", "-s", "1", "--foreign-keys", "-q"), "pgbench -i on " + c.name());
            }
            pair.addSync("tables => 'all', insert_only => 'pgbench_history'");

            pair.startAgents();
            Waits.until(Duration.ofSeconds(60), "column policies on green",
                    () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.syncs") == 1);

            Process onBlue = start(pgbench(pair.blue, "-n", "-c", "4", "-j", "2", "-T", Integer.toString(SECONDS)));
            Process onGreen = start(pgbench(pair.green, "-n", "-c", "4", "-j", "2", "-T", Integer.toString(SECONDS)));
            long txBlue = transactions(onBlue);
            long txGreen = transactions(onGreen);
            assertTrue(txBlue > 0 && txGreen > 0, "both ran: " + txBlue + ", " + txGreen);
            pair.awaitSynced();

            for (String t : List.of("pgbench_accounts", "pgbench_tellers", "pgbench_branches", "pgbench_history")) {
                assertEquals(Pair.fingerprint(pair.blue, t), Pair.fingerprint(pair.green, t), t + " differs: " + diff(pair));
            }
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
