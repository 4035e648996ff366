package io.mmsync.health;

import io.mmsync.it.Waits;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The real HAProxy in front of a real pair, configured by installer/haproxy-cfg (GET
 * /writer?lag=1s&backup=green, inter 1s fastinter 250ms downinter 500ms fall 2 rise 2), blue the
 * designated write node. Prints the failover figures for the issue note.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(300)
class HaproxyFailoverIT {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final long LAG_NANOS = Duration.ofSeconds(1).toNanos();

    private HealthPair pair;
    private Haproxy haproxy;
    private int bluePort;
    private int greenPort;

    @BeforeAll
    void start(@TempDir Path dir) throws Exception {
        pair = HealthPair.start("ha", b -> b);
        bluePort = pair.blue.pg.port();
        greenPort = pair.green.pg.port();
        pair.blue.sql("SELECT mmsync.set_primary('blue')");
        Waits.until(WAIT, "green knows blue is the designated node",
                () -> "blue".equals(pair.green.pg.queryString(HealthPair.DB, "SELECT mmsync.primary()")));
        haproxy = Haproxy.start(pair, dir);
    }

    @AfterAll
    void stop() throws Exception {
        try {
            if (haproxy != null) {
                System.out.println("--- haproxy log ---\n" + haproxy.logText());
                haproxy.close();
            }
        } finally {
            if (pair != null) {
                pair.close();
            }
        }
    }

    private boolean onBlue(ProxyWriter.Ack a) {
        return a.port() == bluePort;
    }

    private boolean onGreen(ProxyWriter.Ack a) {
        return a.port() == greenPort;
    }

    @Test
    @Order(1)
    void failsOverToGreenAndBackToBlueOnlyOnceBlueHasCaughtUp() throws Exception {
        ProxyWriter w = new ProxyWriter(haproxy.port, 1_000_000).start();
        ProxyWriter.Ack back;
        long blueUp;
        try {
            w.awaitCount(0, this::onBlue, 200, WAIT, "writes through HAProxy on blue");

            long crash = System.nanoTime();
            pair.blue.pg.killPostmaster();
            ProxyWriter.Ack first = w.await(crash, this::onGreen, WAIT, "a write on green after blue's crash");
            System.out.printf(Locale.ROOT, "failover: first write through HAProxy on green %.3f s after blue's crash%n",
                    (first.nanos() - crash) / 1e9);
            w.awaitCount(first.nanos(), this::onGreen, 300, WAIT, "writes on green while blue is down");

            long[] required = w.ackedIdsBefore(System.nanoTime() - LAG_NANOS);
            w.requireOnCommit(required);
            long restart = System.nanoTime();
            pair.blue.pg.start();
            blueUp = System.nanoTime();
            back = w.await(restart, this::onBlue, WAIT, "writes back on blue");
            System.out.printf(Locale.ROOT, "fail-back: first write on blue %.3f s after blue accepted connections again%n",
                    (back.nanos() - blueUp) / 1e9);
            assertEquals(required.length, back.found(), "when the first write after the restart landed on blue, blue held all "
                    + required.length + " rows acknowledged more than lag=1s before the restart");
            long stayed = w.acks().stream().filter(a -> a.nanos() > blueUp && a.nanos() < back.nanos() && onGreen(a)).count();
            assertTrue(stayed > 0, "traffic stayed on green after blue came back, until it had caught up");
            w.awaitCount(back.nanos(), this::onBlue, 300, WAIT, "writes staying on blue");
        } finally {
            w.close();
        }
        List<ProxyWriter.Ack> afterBack = w.acks().stream().filter(a -> a.nanos() >= back.nanos()).collect(Collectors.toList());
        assertTrue(afterBack.stream().allMatch(this::onBlue), "once back on blue, traffic stays there");
        System.out.println("writes: " + w.acks().size() + " acknowledged, " + w.failures() + " failed (last: " + w.lastError() + ")");
        assertIdenticalWithEveryAck(w);
    }

    @Test
    @Order(2)
    void plannedSwitchoverMovesTrafficToGreenAndBack() throws Exception {
        ProxyWriter w = new ProxyWriter(haproxy.port, 2_000_000).start();
        try {
            w.awaitCount(0, this::onBlue, 100, WAIT, "writes on blue");
            long switched = System.nanoTime();
            pair.blue.sql("SELECT mmsync.set_primary('green')");
            ProxyWriter.Ack g = w.await(switched, this::onGreen, WAIT, "writes moving to green");
            System.out.printf(Locale.ROOT, "switchover to green: traffic moved %.3f s after set_primary%n", (g.nanos() - switched) / 1e9);
            w.awaitCount(g.nanos(), this::onGreen, 200, WAIT, "writes staying on green");
            assertTrue(w.acks().stream().filter(a -> a.nanos() >= g.nanos()).allMatch(this::onGreen), "no write went back to blue");

            long back = System.nanoTime();
            pair.green.sql("SELECT mmsync.set_primary('blue')");
            ProxyWriter.Ack b = w.await(back, this::onBlue, WAIT, "writes moving back to blue");
            System.out.printf(Locale.ROOT, "switchover to blue: traffic moved %.3f s after set_primary%n", (b.nanos() - back) / 1e9);
            w.awaitCount(b.nanos(), this::onBlue, 200, WAIT, "writes staying on blue");
        } finally {
            w.close();
        }
        System.out.println("switchover writes: " + w.acks().size() + " acknowledged, " + w.failures()
                + " failed attempts (last: " + w.lastError() + ")");
        assertTrue(w.failures() <= 2, "a switchover costs each client connection at most the one statement cut when"
                + " HAProxy moves it; failed attempts: " + w.failures());
        assertIdenticalWithEveryAck(w);
    }

    @Test
    @Order(3)
    void failoverTimeFigures() throws Exception {
        List<Double> runs = new ArrayList<>();
        ProxyWriter w = new ProxyWriter(haproxy.port, 3_000_000).start();
        try {
            for (int run = 1; run <= 5; run++) {
                w.awaitCount(System.nanoTime(), this::onBlue, 50, WAIT, "writes on blue before run " + run);
                long crash = System.nanoTime();
                pair.blue.pg.killPostmaster();
                ProxyWriter.Ack first = w.await(crash, this::onGreen, WAIT, "first write on green, run " + run);
                runs.add((first.nanos() - crash) / 1e9);
                w.awaitCount(first.nanos(), this::onGreen, 50, WAIT, "writes on green, run " + run);
                long restart = System.nanoTime();
                pair.blue.pg.start();
                w.await(restart, this::onBlue, WAIT, "writes back on blue, run " + run);
            }
        } finally {
            w.close();
        }
        double[] sorted = runs.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        System.out.printf(Locale.ROOT, "FAILOVER FIGURES (blue postmaster SIGKILL -> first committed write via HAProxy on green),"
                        + " GET /writer?lag=1s&backup=green, inter 1s fastinter 250ms downinter 500ms fall 2 rise 2,"
                        + " timeout connect 500ms, retries 3, redispatch, watcher tick 500 ms:"
                        + " runs %s s, median %.3f s, max %.3f s%n",
                runs.stream().map(d -> String.format(Locale.ROOT, "%.3f", d)).collect(Collectors.toList()),
                sorted[sorted.length / 2], sorted[sorted.length - 1]);
        assertEquals(5, runs.size());
        assertIdenticalWithEveryAck(w);
    }

    /** Both nodes hold the same rows, and every acknowledged write is on both. */
    private void assertIdenticalWithEveryAck(ProxyWriter w) {
        pair.awaitSynced();
        String b = HealthPair.fingerprint(pair.blue.pg);
        assertEquals(b, HealthPair.fingerprint(pair.green.pg), "blue and green hold the same rows");
        long[] ids = w.acks().stream().mapToLong(ProxyWriter.Ack::id).toArray();
        String list = Arrays.stream(ids).mapToObj(Long::toString).collect(Collectors.joining(","));
        for (HealthPair.Node n : new HealthPair.Node[] {pair.blue, pair.green}) {
            assertEquals(ids.length, n.pg.queryLong(HealthPair.DB, "SELECT count(*) FROM t WHERE id = ANY ('{" + list + "}'::bigint[])"),
                    "every acknowledged write is on " + n.name);
        }
    }
}
