package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Faults of a sync of three nodes while the nodes write the same rows (latest; counters with a
 * delta column): one node down while the other two keep writing, then back; the link between two
 * nodes cut both ways while both still reach the third, then restored. The three end identical,
 * every counter the sum of what the three added to it.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class ThreeNodeFaultsIT {
    private static Trio trio() {
        Trio trio = Trio.start(ThreeNodeConflictsIT.SCHEMA);
        return trio;
    }

    private static void syncAndStart(Trio trio) {
        trio.addSync("tables => 'rows, counters', initial => 'none'");
        trio.blue.execute(Trio.DB, "SELECT mmsync.set_column_policy('counters', 'n', 'delta')");
        trio.startAgents();
        trio.awaitSyncEverywhere(1);
    }

    /** {@code nodes} write at once for {@code millis} (ThreeNodeConflictsIT's writer), adding to {@code added}. */
    private static void writeOn(List<PgCluster> nodes, long millis, AtomicLongArray added) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(nodes.size());
        try {
            long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
            List<Future<Integer>> writers = new ArrayList<>();
            for (PgCluster c : nodes) {
                writers.add(pool.submit(() -> ThreeNodeConflictsIT.write(c, until, added)));
            }
            for (Future<Integer> w : writers) {
                assertTrue(w.get(60, TimeUnit.SECONDS) > 10, "each node wrote");
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private static void assertConverged(Trio trio, AtomicLongArray added) {
        trio.awaitSame("rows");
        trio.awaitSame("counters");
        StringBuilder expected = new StringBuilder();
        for (int i = 1; i <= 10; i++) {
            expected.append(i > 1 ? " " : "").append(i).append('=').append(added.get(i));
        }
        for (PgCluster c : trio.all()) {
            assertEquals(expected.toString(), c.queryString(Trio.DB,
                    "SELECT string_agg(id || '=' || n, ' ' ORDER BY id) FROM counters"), "counters on " + c.name());
        }
    }

    /**
     * Red writes with its agent stopped (its changes stay queued), then its server stops; blue and
     * green write the same rows meanwhile; red comes back with its older changes still to send.
     */
    @Test
    void oneNodeDownWhileTheOthersWrite() throws Exception {
        try (Trio trio = trio()) {
            syncAndStart(trio);
            AtomicLongArray added = new AtomicLongArray(11);
            writeOn(trio.all(), 2000, added);
            trio.stopAgent(trio.red);
            writeOn(List.of(trio.red), 1000, added);
            trio.red.stop();
            writeOn(List.of(trio.blue, trio.green), 3000, added);
            assertEquals("t", trio.blue.queryString(Trio.DB, "SELECT count(*) > 0 FROM mmsync.changes"),
                    "blue keeps its changes for red");
            trio.red.start();
            trio.startAgent(trio.red);
            assertConverged(trio, added);
        }
    }

    /**
     * Blue reaches green, and green blue, through a proxy; both proxies refuse connections while
     * the three write, so blue's and green's changes reach each other only once the link is back
     * (each node sends its own changes only: red does not relay them).
     */
    @Test
    void oneLinkCutWhileBothEndsReachTheThird() throws Exception {
        try (Trio trio = trio();
             TcpProxy toGreen = TcpProxy.to("blue>green", trio.green.port());
             TcpProxy toBlue = TcpProxy.to("green>blue", trio.blue.port())) {
            trio.reach(trio.blue, trio.green, toGreen.port());
            trio.reach(trio.green, trio.blue, toBlue.port());
            syncAndStart(trio);
            AtomicLongArray added = new AtomicLongArray(11);
            writeOn(trio.all(), 1500, added);
            toGreen.cut(TcpProxy.Cut.REFUSE);
            toBlue.cut(TcpProxy.Cut.REFUSE);
            writeOn(trio.all(), 3000, added);
            // red has everything; blue and green have not each other's changes of the cut
            assertEquals("t", trio.red.queryString(Trio.DB, "SELECT mmsync.wait_synced('app', '60 seconds')"));
            assertTrue(trio.blue.queryLong(Trio.DB, "SELECT count(*) FROM mmsync.changes c JOIN mmsync.links l "
                    + "ON l.peer = 'green' WHERE NOT pg_visible_in_snapshot(c.xid, l.confirmed_lo)") > 0,
                    "blue's changes of the cut wait for green");
            toGreen.restore();
            toBlue.restore();
            assertConverged(trio, added);
        }
    }
}
