package io.mmsync.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Both nodes build a backlog while both agents are stopped (after a long outage of the link both
 * queues are full, and of the same tables), partly on the same rows; then both agents start. Each
 * side's apply must look up competitors in its own large queue for every page; both drain by
 * themselves, the rows both nodes changed converge, and every change is applied exactly once.
 * {@code -Dmmsync.backlog2=N} sets the changes per node (30,000 by default). Prints the drain rate.
 */
@Timeout(value = 900, unit = TimeUnit.SECONDS)
class TwoWayBacklogIT {
    static final int CHANGES = Integer.getInteger("mmsync.backlog2", 30_000);
    static final String SCHEMA = "CREATE TABLE posts (id bigint PRIMARY KEY, n int NOT NULL, v text);"
            + "CREATE TABLE pairs (a int, b text, n int NOT NULL, PRIMARY KEY (a, b));";

    @Test
    void bothQueuesFullOfTheSameTablesDrainAndConverge() throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.addSync("");
            Agent.Child[] agents = pair.childAgentsSynced();
            Agent.Child blueAgent = agents[0];
            Agent.Child greenAgent = agents[1];
            // shared rows both nodes will update while apart (single and composite keys)
            pair.blue.execute(Pair.DB, "INSERT INTO posts SELECT g, 0, 'shared' FROM generate_series(1, 1000) g;"
                    + "INSERT INTO pairs SELECT g, 'k' || g, 0 FROM generate_series(1, 1000) g");
            pair.awaitSynced();
            blueAgent.stop();
            greenAgent.stop();

            int own = CHANGES - 2000;
            // each node: its own inserts (blue odd ids, green even ids above the shared ones), then
            // one update of every shared row of both tables
            pair.blue.execute(Pair.DB, "INSERT INTO posts SELECT 1000 + 2 * g + 1, 1, md5(g::text) FROM generate_series(1, " + own + ") g");
            pair.green.execute(Pair.DB, "INSERT INTO posts SELECT 1000 + 2 * g, 2, md5(g::text) FROM generate_series(1, " + own + ") g");
            pair.blue.execute(Pair.DB, "UPDATE posts SET n = n + 1, v = 'blue' WHERE id <= 1000; UPDATE pairs SET n = 1 WHERE a <= 1000");
            pair.green.execute(Pair.DB, "UPDATE posts SET n = n + 2, v = 'green' WHERE id <= 1000; UPDATE pairs SET n = 2 WHERE a <= 1000");
            long blueBefore = Pair.applied(pair.green, "blue");
            long greenBefore = Pair.applied(pair.blue, "green");

            long t0 = System.nanoTime();
            blueAgent.start();
            greenAgent.start();
            Waits.until(Duration.ofSeconds(600), Duration.ofMillis(250), "both backlogs applied",
                    () -> Pair.applied(pair.green, "blue") - blueBefore == CHANGES
                            && Pair.applied(pair.blue, "green") - greenBefore == CHANGES);
            double seconds = (System.nanoTime() - t0) / 1e9;
            System.out.printf("TwoWayBacklogIT: %,d changes on each node drained both ways in %.1f s (%,.0f changes/s in all)%n",
                    CHANGES, seconds, 2 * CHANGES / seconds);
            pair.awaitSynced();
            for (String t : new String[] {"posts", "pairs"}) {
                assertEquals(Pair.fingerprint(pair.blue, t), Pair.fingerprint(pair.green, t), "table " + t + " differs");
            }
            assertEquals(1000 + 2L * own, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM posts"));
            // every shared row was changed on both nodes: one version won on both, the other is logged
            assertEquals(1000, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM posts WHERE id <= 1000 AND v IN ('blue', 'green')"));
            // each node sees every shared row's concurrent change as a conflict and logs it
            for (var node : new io.mmsync.testenv.PgCluster[] {pair.blue, pair.green}) {
                assertEquals(2000, node.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.conflicts"), "conflicts logged on " + node.name());
            }
            assertEquals(CHANGES, Pair.applied(pair.green, "blue") - blueBefore, "blue's changes applied on green exactly once");
            assertEquals(CHANGES, Pair.applied(pair.blue, "green") - greenBefore, "green's changes applied on blue exactly once");
        }
    }
}
