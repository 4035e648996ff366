package io.mmsync.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The peer stopped with {@code pg_ctl stop -m immediate} for {@link #DOWN} (a minute by default)
 * while both nodes take writes (green's writer waits for its server and goes on when it is back):
 * blue's changes queue, its status says disconnected, then catching up, then in sync, with no
 * kick and no agent restart; both nodes end identical with every change applied exactly once.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class PeerStopIT {
    /** How long green stays down (-Dmmsync.stop.seconds to change it). */
    static final Duration DOWN = Duration.ofSeconds(Long.getLong("mmsync.stop.seconds", 60));
    static final String SCHEMA = "CREATE TABLE load_blue (id bigint PRIMARY KEY, n int NOT NULL, v text);"
            + "CREATE TABLE load_green (id bigint PRIMARY KEY, n int NOT NULL, v text);";

    private static String tail(Agent.Child agent) {
        try {
            List<String> lines = agent.log().lines().toList();
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (java.io.IOException e) {
            return "(no log: " + e + ")";
        }
    }

    @Test
    void peerStoppedImmediateForAMinuteWhileBothNodesWrite() throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.addSync("");
            Agent.Child[] agents = pair.childAgentsSynced();
            Agent.Child blueAgent = agents[0];
            Agent.Child greenAgent = agents[1];
            AtomicBoolean stop = new AtomicBoolean();
            Writer[] writers = Writer.onBothNodes(pair, stop, 5000);
            Writer onBlue = writers[0];
            Writer onGreen = writers[1];
            Waits.until(Duration.ofSeconds(60), "writes flowing both ways",
                    () -> Pair.applied(pair.green, "blue") > 50 && Pair.applied(pair.blue, "green") > 50);

            long backlogDown;
            try (StatusTrail blueSees = new StatusTrail(pair.blue, "green")) {
                long appliedDown = Pair.applied(pair.green, "blue");
                long downAt = System.nanoTime();
                pair.green.stopImmediate();
                Waits.until(Duration.ofSeconds(60), "blue's status shows green disconnected",
                        () -> "disconnected".equals(Pair.state(pair.blue, "green")));
                String err = Pair.lastError(pair.blue, "green");
                assertTrue(err != null && err.startsWith("green:"), "the error names the peer: " + err);
                Waits.until(DOWN.plusSeconds(30), DOWN.toSeconds() + " s with green down",
                        () -> System.nanoTime() - downAt >= DOWN.toNanos());
                backlogDown = pair.blue.queryLong(Pair.DB, "SELECT backlog FROM mmsync.status() WHERE peer = 'green'");
                assertTrue(backlogDown > 100, "blue's changes queued while green was down: " + backlogDown);
                long greenTx = onGreen.transactions();
                pair.green.start();
                Waits.until(Duration.ofSeconds(60), "green takes writes again", () -> onGreen.transactions() > greenTx + 20);
                Waits.until(Duration.ofSeconds(120), "blue's backlog drained by itself (no kick, no restart) while both write",
                        () -> Pair.applied(pair.green, "blue") - appliedDown >= backlogDown);
                stop.set(true);
                onBlue.check();
                onGreen.check();
                try {
                    pair.awaitSynced();
                } catch (AssertionError e) {
                    System.out.println("blue's agent:\n" + tail(blueAgent) + "\ngreen's agent:\n" + tail(greenAgent));
                    throw e;
                }
                // the trail samples every 100 ms: give it the time to see the state wait_synced saw
                Waits.until(Duration.ofSeconds(30), "blue's status trail reaches 'in sync'",
                        () -> blueSees.sawInOrder("disconnected", "catching up", "in sync"));
                System.out.println("PeerStopIT: green down " + DOWN.toSeconds() + " s, blue's backlog then " + backlogDown
                        + "; status seen on blue:\n  " + blueSees);
                assertTrue(blueSees.sawInOrder("disconnected", "catching up", "in sync"), blueSees.toString());
            }
            assertTrue(blueAgent.isAlive() && greenAgent.isAlive(), "both agents kept running");
            for (String t : List.of("load_blue", "load_green")) {
                assertEquals(Pair.fingerprint(pair.blue, t), Pair.fingerprint(pair.green, t), "table " + t + " differs");
            }
            assertEquals(onBlue.changes(), Pair.applied(pair.green, "blue"), "changes of blue applied on green exactly once");
            assertEquals(onGreen.changes(), Pair.applied(pair.blue, "green"), "changes of green applied on blue exactly once");
            assertEquals("in sync", Pair.state(pair.blue, "green"));
        }
    }
}
