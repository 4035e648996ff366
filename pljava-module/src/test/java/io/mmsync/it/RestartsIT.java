package io.mmsync.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Both agents SIGKILLed {@link #KILLS} times at random points and each node's server restarted
 * under its running agent (once cleanly, once as a crash), while both nodes take writes and each
 * has a backlog in flight: the nodes end identical and every change is applied exactly once.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class RestartsIT {
    static final int KILLS = 10;
    static final String SCHEMA = "CREATE TABLE items (id bigint PRIMARY KEY, n int NOT NULL, v text);"
            + "CREATE TABLE load_blue (id bigint PRIMARY KEY, n int NOT NULL, v text);"
            + "CREATE TABLE load_green (id bigint PRIMARY KEY, n int NOT NULL, v text);";

    @Test
    void agentsKilledAtRandomAndServersRestartedUnderWriteLoad() throws Exception {
        long seed = Long.getLong("mmsync.seed", System.nanoTime());
        Random random = new Random(seed);
        System.out.println("RestartsIT seed " + seed + " (-Dmmsync.seed=" + seed + " repeats the fault timing)");
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.addSync("");
            Agent.Child[] agents = pair.childAgentsSynced();
            Agent.Child blueAgent = agents[0];
            Agent.Child greenAgent = agents[1];
            AtomicBoolean stop = new AtomicBoolean();
            Writer[] writers = Writer.onBothNodes(pair, stop, 3000);
            Writer onBlue = writers[0];
            Writer onGreen = writers[1];
            // a backlog in each direction, so that kills also land in the middle of full batches
            pair.blue.execute(Pair.DB, "INSERT INTO items SELECT g, 0, md5(g::text) FROM generate_series(1, 20000) g");
            pair.green.execute(Pair.DB, "INSERT INTO items SELECT g, 0, md5(g::text) FROM generate_series(100001, 120000) g");
            pair.blue.execute(Pair.DB, "UPDATE items SET n = n + 1 WHERE id <= 20000 AND id % 4 = 0");
            long bulk = 20000 + 5000;

            StringBuilder faults = new StringBuilder();
            for (int i = 0; i < KILLS; i++) {
                long before = progress(pair);
                Waits.until(Duration.ofSeconds(60), "a batch applied since the last fault", () -> progress(pair) > before);
                long delayNanos = random.nextInt(1500) * 1_000_000L;
                long from = System.nanoTime();
                Waits.until(Duration.ofSeconds(30), "a random point", () -> System.nanoTime() - from >= delayNanos);
                boolean blue = random.nextBoolean();
                (blue ? blueAgent : greenAgent).kill9();
                (blue ? blueAgent : greenAgent).start();
                faults.append(blue ? "B" : "G");
            }
            long before = progress(pair);
            Waits.until(Duration.ofSeconds(60), "a batch applied since the last fault", () -> progress(pair) > before);
            pair.blue.restart(); // local server of blue's agent, clean shutdown
            long beforeCrash = progress(pair);
            Waits.until(Duration.ofSeconds(60), "a batch applied after blue's restart", () -> progress(pair) > beforeCrash);
            long greenTxBefore = onGreen.transactions();
            pair.green.stopImmediate(); // local server of green's agent, crash and recovery
            pair.green.start();
            Waits.until(Duration.ofSeconds(60), "writes committed on green after its crash",
                    () -> onGreen.transactions() > greenTxBefore + 10);

            stop.set(true);
            onBlue.check();
            onGreen.check();
            assertTrue(blueAgent.isAlive() && greenAgent.isAlive(), "both agents survived the server restarts");
            pair.awaitSynced();
            System.out.println("RestartsIT: agent kills " + faults + " (B = blue, G = green), then blue restarted, green crashed;"
                    + " writer changes blue " + onBlue.changes() + ", green " + onGreen.changes()
                    + ", writer transactions in doubt or failed: blue " + onBlue.failures() + ", green " + onGreen.failures());
            for (String t : List.of("items", "load_blue", "load_green")) {
                assertEquals(Pair.fingerprint(pair.blue, t), Pair.fingerprint(pair.green, t), "table " + t + " differs");
            }
            assertEquals(bulk + onBlue.changes(), Pair.applied(pair.green, "blue"), "changes of blue applied on green exactly once");
            assertEquals(20000 + onGreen.changes(), Pair.applied(pair.blue, "green"), "changes of green applied on blue exactly once");
            assertEquals(40000, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM items"));
            assertEquals(5000, pair.green.queryLong(Pair.DB, "SELECT sum(n) FROM items"));
        }
    }

    private static long progress(Pair pair) {
        return Pair.applied(pair.green, "blue") + Pair.applied(pair.blue, "green");
    }
}
