package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The end of a load, many times over (issue 17: WaitSyncedIT once ended with the peer lacking a
 * change its origin's writer made just before it stopped, though every check while the writers ran
 * was clean): both nodes' writers run a short burst (0.1 to 1.5 s), stop, and then
 * mmsync.wait_synced on each node must mean that the peer holds every row that node's writer
 * committed in the burst: rows and sum(n) exactly as the writer's count implies. Each burst writes
 * rows of its own id range (burst b: ids from b * 20,000,000), so the check is per burst. A burst
 * whose rows differ is diagnosed (queued changes, link, queue, position) and looked at again after
 * 30 s, which tells a lost change (still missing) from a wait that returned too early.
 */
@Timeout(value = 900, unit = TimeUnit.SECONDS)
class BurstEndIT {
    /** How long the bursts go on, 60 s by default (-Dmmsync.burstend.seconds). */
    static final int SECONDS = Integer.getInteger("mmsync.burstend.seconds", 60);
    static final long SPAN = 20_000_000L;
    static final int MIN_BURSTS = 6;

    @Test
    void eachBurstsLastChangesArriveBeforeWaitSyncedReturns() throws Exception {
        try (Pair pair = Pair.start(WaitSyncedIT.SCHEMA)) {
            pair.addSync("initial => 'none'");
            pair.startAgents();
            pair.awaitSyncOnGreen();
            Random random = new Random(Long.getLong("mmsync.burstend.seed", System.nanoTime()));
            long deadline = System.nanoTime() + Duration.ofSeconds(SECONDS).toNanos();
            int bursts = 0;
            List<String> failures = new ArrayList<>();
            // at least MIN_BURSTS whatever the machine's speed (on a loaded one, each wait_synced takes longer)
            while ((System.nanoTime() < deadline || bursts < MIN_BURSTS) && failures.isEmpty()) {
                long base = bursts * SPAN;
                AtomicBoolean stop = new AtomicBoolean();
                Writer onBlue = new Writer(pair.blue, "load", base + 1, 2, stop, 2000);
                Writer onGreen = new Writer(pair.green, "load", base + 2, 2, stop, 2000);
                Thread b = onBlue.start("writer-blue-" + bursts);
                Thread g = onGreen.start("writer-green-" + bursts);
                Thread.sleep(100 + random.nextInt(1400)); // the burst's length: pacing, not a wait for a condition
                stop.set(true);
                b.join(60_000);
                g.join(60_000);
                assertTrue(!b.isAlive() && !g.isAlive(), "a writer did not stop within 60 s");
                onBlue.check();
                onGreen.check();
                // the promise, node by node: once wait_synced returned on the origin, the peer holds its rows
                for (PgCluster origin : List.of(pair.green, pair.blue)) {
                    boolean fromBlue = origin == pair.blue;
                    PgCluster peer = fromBlue ? pair.green : pair.blue;
                    assertEquals("t", origin.queryString(Pair.DB, "SELECT mmsync.wait_synced('app', '120 seconds')"),
                            "wait_synced on " + origin.name() + " timed out");
                    String expected = WaitSyncedIT.expected((fromBlue ? onBlue : onGreen).transactions());
                    String onOrigin = contents(origin, base, fromBlue ? 1 : 0);
                    String atPeer = contents(peer, base, fromBlue ? 1 : 0);
                    if (!expected.equals(onOrigin) || !expected.equals(atPeer)) {
                        failures.add(diagnose(pair, base, fromBlue, bursts, expected, onOrigin, atPeer));
                    }
                }
                bursts++;
            }
            System.out.println("BurstEndIT: " + bursts + " bursts in " + SECONDS + " s");
            assertEquals(List.of(), failures, "after " + bursts + " bursts");
            assertTrue(bursts >= MIN_BURSTS, "only " + bursts + " bursts");
            assertEquals(Pair.fingerprint(pair.blue, "load"), Pair.fingerprint(pair.green, "load"));
        }
    }

    /** "rows:sum(n)" of the writer rows of the burst at {@code base} with id % 2 = parity. */
    private static String contents(PgCluster c, long base, int parity) {
        return c.queryString(Pair.DB, "SELECT count(*) || ':' || coalesce(sum(n), 0) FROM load WHERE id >= " + base
                + " AND id < " + (base + SPAN) + " AND id % 2 = " + parity);
    }

    private static String diagnose(Pair pair, long base, boolean fromBlue, int burst, String expected, String onOrigin,
                                   String atPeer) throws Exception {
        PgCluster origin = fromBlue ? pair.blue : pair.green;
        PgCluster peer = fromBlue ? pair.green : pair.blue;
        String range = "id >= " + base + " AND id < " + (base + SPAN) + " AND id % 2 = " + (fromBlue ? 1 : 0);
        // the rows that differ: on the origin and not at the peer with the same n, or at the peer only
        List<String> lines = new ArrayList<>();
        String originRows = origin.queryString(Pair.DB, "SELECT coalesce(string_agg(id || '/' || n, ',' ORDER BY id), '') FROM load WHERE " + range);
        String peerRows = peer.queryString(Pair.DB, "SELECT coalesce(string_agg(id || '/' || n, ',' ORDER BY id), '') FROM load WHERE " + range);
        java.util.Set<String> a = new java.util.TreeSet<>(List.of(originRows.split(",")));
        java.util.Set<String> p = new java.util.TreeSet<>(List.of(peerRows.split(",")));
        java.util.Set<Long> ids = new java.util.TreeSet<>();
        for (String s : a) {
            if (!p.contains(s) && !s.isEmpty()) {
                ids.add(Long.parseLong(s.substring(0, s.indexOf('/'))));
            }
        }
        for (String s : p) {
            if (!a.contains(s) && !s.isEmpty()) {
                ids.add(Long.parseLong(s.substring(0, s.indexOf('/'))));
            }
        }
        for (long id : ids) {
            lines.add("row " + id + " of " + origin.name() + "'s writer");
        }
        StringBuilder out = new StringBuilder("burst " + burst + ": " + origin.name() + "'s writer: expected " + expected
                + ", on " + origin.name() + " " + onOrigin + ", at " + peer.name() + " " + atPeer + "; rows that differ: "
                + ids + "\n" + Diagnose.state(pair, lines));
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (System.nanoTime() < deadline && !contents(peer, base, fromBlue ? 1 : 0).equals(onOrigin)) {
            Thread.sleep(200);
        }
        out.append(contents(peer, base, fromBlue ? 1 : 0).equals(onOrigin)
                ? "\nequal within 30 s more: wait_synced returned too early"
                : "\nstill different 30 s later: " + Diagnose.rowsOnBoth(pair, lines));
        return out.toString();
    }
}
