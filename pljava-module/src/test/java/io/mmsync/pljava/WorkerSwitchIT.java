package io.mmsync.pljava;

import io.mmsync.engine.Engine;
import io.mmsync.engine.EngineConfig;
import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Switching blue from the worker to an agent and back while both nodes keep writing: the node
 * lock lets only one engine run the node (the other waits and names the holder), nothing is lost
 * and nothing applied twice.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class WorkerSwitchIT {
    /** Held strongly: JUL keeps loggers weakly, and a collected one loses its handler. */
    private static final Logger ENGINE_LOG = Logger.getLogger("io.mmsync.engine");

    /** Writes batches of 20 single-row transactions on {@code c} until {@code stop}; counts changes. */
    private static Thread writer(PgCluster c, String node, int first, AtomicBoolean stop, AtomicLong made) {
        Thread t = new Thread(() -> {
            int id = first;
            while (!stop.get()) {
                made.addAndGet(WorkerIT.write(c, node, id, 20));
                id += 40;
            }
        }, "writer-" + node);
        t.start();
        return t;
    }

    private static void setWorkerEnabled(PgCluster c, boolean on) {
        c.execute("postgres", "ALTER SYSTEM SET mmsync.worker_enabled = " + (on ? "on" : "off"));
        c.execute("postgres", "SELECT pg_reload_conf()");
    }

    @Test
    void switchingANodeFromWorkerToAgentAndBackLosesNothingAndNeverRunsBoth() throws Exception {
        assumeTrue(WorkerPair.unavailable().isEmpty(), () -> WorkerPair.unavailable().orElse(""));
        List<String> lockWarnings = new CopyOnWriteArrayList<>();
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord r) {
                if (r.getMessage().contains("another engine already runs this node")) {
                    lockWarnings.add(r.getMessage());
                }
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        ENGINE_LOG.addHandler(capture);
        try (WorkerPair pair = WorkerPair.start(WorkerIT.SCHEMA)) {
            pair.addSync();
            WorkerPair.until(Duration.ofSeconds(60), "both engines run in their workers", () ->
                    WorkerPair.engineHost(pair.blue).equals("worker") && WorkerPair.engineHost(pair.green).equals("worker"));
            long workerPid = WorkerPair.workerPid(pair.blue);
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong blueMade = new AtomicLong();
            AtomicLong greenMade = new AtomicLong();
            Thread wb = writer(pair.blue, "blue", 1, stop, blueMade);
            Thread wg = writer(pair.green, "green", 2, stop, greenMade);

            // an agent started for blue while the worker runs it waits, naming the worker
            Engine agent = new Engine(EngineConfig.builder(pair.blue.conninfo(WorkerPair.DB)).host("agent test").build(), Thread::new);
            Thread agentThread = new Thread(agent, "agent-blue");
            agentThread.start();
            WorkerPair.until(Duration.ofSeconds(30), "the agent says the worker holds the node", () -> !lockWarnings.isEmpty());
            assertTrue(lockWarnings.get(0).contains("\"mmsync engine (worker pid " + workerPid + ")\""), lockWarnings.get(0));
            assertFalse(agent.holdsNodeLock());
            assertEquals("worker", WorkerPair.engineHost(pair.blue));

            // worker -> agent: the worker stops its engine, the waiting agent takes the node over
            setWorkerEnabled(pair.blue, false);
            WorkerPair.until(Duration.ofSeconds(30), "the agent runs blue", () -> WorkerPair.engineHost(pair.blue).equals("agent"));
            // engine_host() sees the lock as soon as the server grants it; the agent learns it a moment later
            WorkerPair.until(Duration.ofSeconds(30), "the agent knows it holds the node lock", agent::holdsNodeLock);
            assertTrue(pair.blue.queryString(WorkerPair.DB, "SELECT detail FROM mmsync.engine_host()").startsWith("mmsync engine (agent test)"));
            WorkerPair.until(Duration.ofSeconds(30), "the agent's links send", () -> agent.runningLinks().size() == 1);

            // agent -> worker: the worker, on again, waits (naming the agent) until the agent stops
            setWorkerEnabled(pair.blue, true);
            WorkerPair.until(Duration.ofSeconds(30), "the worker names the agent in the server log", () -> !WorkerPair.logLines(
                    pair.blue, "another engine already runs this node: \"mmsync engine (agent test)\"").isEmpty());
            assertEquals("agent", WorkerPair.engineHost(pair.blue));
            agent.stop();
            agentThread.join(10_000);
            assertFalse(agentThread.isAlive(), "agent stopped");
            WorkerPair.until(Duration.ofSeconds(30), "the worker runs blue again", () -> WorkerPair.engineHost(pair.blue).equals("worker"));

            stop.set(true);
            wb.join();
            wg.join();
            pair.awaitSynced();
            assertEquals(WorkerPair.fingerprint(pair.blue, "t"), WorkerPair.fingerprint(pair.green, "t"));
            assertEquals(blueMade.get(), WorkerPair.applied(pair.green, "blue"), "blue's changes applied at green, each once");
            assertEquals(greenMade.get(), WorkerPair.applied(pair.blue, "green"), "green's changes applied at blue, each once");
            assertTrue(blueMade.get() > 0 && greenMade.get() > 0);
            System.out.printf("WorkerSwitchIT: %d + %d changes written during worker -> agent -> worker%n", blueMade.get(), greenMade.get());
            WorkerPair.assertNoCrash(pair.blue);
            WorkerPair.assertNoCrash(pair.green);
        } finally {
            ENGINE_LOG.removeHandler(capture);
        }
    }
}
