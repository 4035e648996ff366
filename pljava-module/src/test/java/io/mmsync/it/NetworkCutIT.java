package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The network between the nodes cut while both take writes: each node reaches the other only
 * through a {@link TcpProxy}, which the test cuts (refused, or blackholed in the middle of a
 * batch) for {@link #CUT} and restores. Changes queue on both sides, status says disconnected,
 * then catching up, then in sync, and both nodes end identical with every change applied once.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 480, unit = TimeUnit.SECONDS)
class NetworkCutIT {
    /** How long the network stays cut (the issue asks for a minute: -Dmmsync.cut.seconds=60). */
    static final Duration CUT = Duration.ofSeconds(Long.getLong("mmsync.cut.seconds", 15));
    /**
     * Each node's read timeout for the other, through libpq's tcp_user_timeout keyword: shorter
     * than the default (20 s) so that a blackholed link is noticed well within {@link #CUT}.
     */
    static final int READ_TIMEOUT_MS = 4000;
    static final String SCHEMA = "CREATE TABLE items (id bigint PRIMARY KEY, n int NOT NULL, v text);"
            + "CREATE TABLE load_blue (id bigint PRIMARY KEY, n int NOT NULL, v text);"
            + "CREATE TABLE load_green (id bigint PRIMARY KEY, n int NOT NULL, v text);";
    static final List<String> TABLES = List.of("items", "load_blue", "load_green");

    private Pair pair;
    private TcpProxy toBlue;
    private TcpProxy toGreen;

    @AfterAll
    void tearDown() {
        if (pair != null) {
            pair.close();
        }
        for (TcpProxy p : new TcpProxy[] {toBlue, toGreen}) {
            if (p != null) {
                p.close();
            }
        }
    }

    @BeforeAll
    void startPairBehindProxies() {
        pair = Pair.start(SCHEMA);
        toBlue = TcpProxy.to("to-blue", pair.blue.port());
        toGreen = TcpProxy.to("to-green", pair.green.port());
        pair.registerNodes(toBlue.port(), toGreen.port(), "tcp_user_timeout=" + READ_TIMEOUT_MS);
        pair.addSync("");
        pair.childAgent(pair.blue);
        pair.childAgent(pair.green);
        pair.awaitSyncOnGreen();
    }

    @Test
    void blackholeInTheMiddleOfABatchWhileBothNodesWrite() throws Exception {
        long[] before = {Pair.applied(pair.green, "blue"), Pair.applied(pair.blue, "green")};
        AtomicBoolean stop = new AtomicBoolean();
        Writer onBlue = new Writer(pair.blue, "load_blue", 0, 1, stop, 2000);
        Writer onGreen = new Writer(pair.green, "load_green", 0, 1, stop, 2000);
        onBlue.start("writer-blue");
        onGreen.start("writer-green");
        // 40,000 fat changes on blue (about 16 MB) over a network of 2 MB/s: the backlog takes
        // seconds to arrive, so the cut falls in the middle of a page whatever the apply's speed
        int bulk = 40_000;
        try (StatusTrail blueSees = new StatusTrail(pair.blue, "green");
             StatusTrail greenSees = new StatusTrail(pair.green, "blue")) {
            toGreen.throttle(2L << 20);
            long t0 = System.nanoTime();
            long sentBefore = toGreen.sentToServer();
            pair.blue.execute(Pair.DB, "INSERT INTO items SELECT g, 0, repeat(md5(g::text), 12) FROM generate_series(1, " + bulk + ") g");
            // cut once 4 MB of the backlog (about a quarter) went through to green: what green has
            // applied by then moves in steps as large as a page (a relayed page can hold most of
            // the backlog), so it cannot time the cut
            Waits.until(Duration.ofSeconds(180), "4 MB of the backlog on its way to green",
                    () -> toGreen.sentToServer() - sentBefore >= 4L << 20);
            long cutAt = System.nanoTime();
            toGreen.cut(TcpProxy.Cut.BLACKHOLE);
            toBlue.cut(TcpProxy.Cut.BLACKHOLE);
            toGreen.throttle(0);
            System.out.println("cut at " + (Pair.applied(pair.green, "blue") - before[0]) + " applied, "
                    + (cutAt - t0) / 1_000_000 + " ms after the insert began");
            long appliedAtCut;
            try {
                awaitDisconnectedAndQueued(cutAt);
                appliedAtCut = Pair.applied(pair.green, "blue") - before[0];
                assertTrue(appliedAtCut < bulk, "the cut came before the backlog was through: " + appliedAtCut + " of " + bulk);
            } finally {
                toGreen.restore();
                toBlue.restore();
            }
            Waits.until(Duration.ofSeconds(30), "blue's next applier session ends any caught mid-request",
                    () -> appliersMidRequest(pair.green) == 0);

            Waits.until(Duration.ofSeconds(90), "both links catch up", () -> blueSees.sawInOrder("disconnected", "catching up")
                    && greenSees.sawInOrder("disconnected", "catching up"));
            stop.set(true);
            onBlue.check();
            onGreen.check();
            pair.awaitSynced();
            Waits.until(Duration.ofSeconds(30), "both links in sync",
                    () -> "in sync".equals(blueSees.last()) && "in sync".equals(greenSees.last()));
            System.out.println("status seen during the cut (" + CUT.toSeconds() + " s, blackhole mid-batch at "
                    + appliedAtCut + " of " + bulk + " applied):\n  " + blueSees + "\n  " + greenSees);
            assertTrue(blueSees.sawInOrder("disconnected", "catching up", "in sync"), blueSees.toString());
            assertTrue(greenSees.sawInOrder("disconnected", "catching up", "in sync"), greenSees.toString());
        }
        assertConverged(before, bulk + onBlue.changes(), onGreen.changes());
        assertTrue(onBlue.changes() > 0 && onGreen.changes() > 0, "both nodes took writes");
    }

    @Test
    void refusedConnectionsWhileBothNodesWrite() throws Exception {
        long[] before = {Pair.applied(pair.green, "blue"), Pair.applied(pair.blue, "green")};
        AtomicBoolean stop = new AtomicBoolean();
        // ids far above the other test's, which shares the pair
        Writer onBlue = new Writer(pair.blue, "load_blue", 1_000_000_000L, 1, stop, 2000);
        Writer onGreen = new Writer(pair.green, "load_green", 1_000_000_000L, 1, stop, 2000);
        onBlue.start("writer-blue");
        onGreen.start("writer-green");
        Waits.until(Duration.ofSeconds(60), "writes flowing both ways",
                () -> Pair.applied(pair.green, "blue") > before[0] + 50 && Pair.applied(pair.blue, "green") > before[1] + 50);
        try (StatusTrail blueSees = new StatusTrail(pair.blue, "green")) {
            long cutAt = System.nanoTime();
            toGreen.cut(TcpProxy.Cut.REFUSE);
            toBlue.cut(TcpProxy.Cut.REFUSE);
            // first the reset of the open connections, then every new attempt is refused
            try {
                Waits.until(Duration.ofSeconds(60), "blue reports green disconnected, connection refused",
                        () -> "disconnected".equals(Pair.state(pair.blue, "green"))
                                && String.valueOf(Pair.lastError(pair.blue, "green")).contains("refused"));
                String err = Pair.lastError(pair.blue, "green");
                assertTrue(err.startsWith("green: Connection to 127.0.0.1:" + toGreen.port() + " refused"), "last_error names the peer: " + err);
                Waits.until(CUT.plusSeconds(30), CUT.toSeconds() + " s of cut network",
                        () -> System.nanoTime() - cutAt >= CUT.toNanos());
            } finally {
                toGreen.restore();
                toBlue.restore();
            }
            stop.set(true);
            onBlue.check();
            onGreen.check();
            pair.awaitSynced();
            Waits.until(Duration.ofSeconds(30), "blue's link in sync", () -> "in sync".equals(blueSees.last()));
            System.out.println("status seen during the refused cut (" + CUT.toSeconds() + " s):\n  " + blueSees);
            assertTrue(blueSees.sawInOrder("disconnected", "catching up", "in sync"), blueSees.toString());
        }
        assertConverged(before, onBlue.changes(), onGreen.changes());
    }

    /**
     * While the blackhole holds: neither agent hangs in a read on the dead path, green ends the
     * transaction its abandoned applier was in, and both nodes queue changes for {@link #CUT}.
     */
    private void awaitDisconnectedAndQueued(long cutAt) {
        Waits.until(Duration.ofMillis(READ_TIMEOUT_MS * 3L + 10_000), "blue reports green disconnected",
                () -> "disconnected".equals(Pair.state(pair.blue, "green")));
        Waits.until(Duration.ofMillis(READ_TIMEOUT_MS * 3L + 10_000), "green reports blue disconnected",
                () -> "disconnected".equals(Pair.state(pair.green, "blue")));
        String err = Pair.lastError(pair.blue, "green");
        assertTrue(err.startsWith("green: ") && err.contains("timed out"), "last_error names the peer and the timeout: " + err);
        // the transaction green's backend was in when its client vanished is ended by green itself
        // (idle_in_transaction_session_timeout), so it cannot hold row locks against the retry.
        // A backend the cut caught in the middle of a request (inside a COPY, or between the
        // messages of a pipelined request such as the page's commit) waits for the rest of it:
        // no server timer runs there, and TCP keepalive does not end it while something between
        // answers for the dead client (this proxy does, as a NAT box or a load balancer would):
        // blue's next applier session ends it when it connects (StaleSessions, checked after).
        Waits.until(Duration.ofSeconds(30), "green ends the abandoned applier transaction (or it waits mid-request)",
                () -> appliersInTransaction(pair.green) == appliersMidRequest(pair.green));
        Waits.until(CUT.plusSeconds(30), CUT.toSeconds() + " s of cut network",
                () -> System.nanoTime() - cutAt >= CUT.toNanos());
        long blueBacklog = pair.blue.queryLong(Pair.DB, "SELECT backlog FROM mmsync.status() WHERE peer = 'green'");
        long greenBacklog = pair.green.queryLong(Pair.DB, "SELECT backlog FROM mmsync.status() WHERE peer = 'blue'");
        assertTrue(blueBacklog > 0 && greenBacklog > 0, "both nodes queued changes: " + blueBacklog + ", " + greenBacklog);
    }

    /** Tables identical, and each node applied exactly the changes the other made since {@code before}. */
    private void assertConverged(long[] before, long madeOnBlue, long madeOnGreen) {
        for (String t : TABLES) {
            assertEquals(Pair.fingerprint(pair.blue, t), Pair.fingerprint(pair.green, t), "table " + t + " differs");
        }
        assertEquals(madeOnBlue, Pair.applied(pair.green, "blue") - before[0], "changes of blue applied on green exactly once");
        assertEquals(madeOnGreen, Pair.applied(pair.blue, "green") - before[1], "changes of green applied on blue exactly once");
    }

    /** Appliers in a transaction waiting for the rest of a request from their client (inside COPY, or mid-pipeline). */
    private static long appliersMidRequest(PgCluster node) {
        return node.queryLong(Pair.DB, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'mmsync applier%'"
                + " AND xact_start IS NOT NULL AND state = 'active' AND wait_event = 'ClientRead'");
    }

    private static long appliersInTransaction(PgCluster node) {
        return node.queryLong(Pair.DB, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'mmsync applier%'"
                + " AND xact_start IS NOT NULL");
    }
}
