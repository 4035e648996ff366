package io.mmsync.health;

import io.mmsync.it.Waits;
import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code mmsync agent --health-port N --health-bind ADDR} as a real process. */
@Timeout(120)
class AgentHealthOptionsIT {
    private static Process agent(Path log, String... args) throws IOException {
        List<String> cmd = new java.util.ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "io.mmsync.agent.Main", "agent"));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    @Test
    void theAgentServesTheEndpointAndStopsItOnSigterm(@TempDir Path dir) throws Exception {
        try (PgCluster pg = PgCluster.start("agent-health")) {
            pg.createDatabase(HealthPair.DB);
            pg.execute(HealthPair.DB, "CREATE EXTENSION mmsync");
            pg.execute(HealthPair.DB, "SELECT mmsync.add_node('solo', '" + pg.conninfo(HealthPair.DB) + "', true)");
            int port = Haproxy.freePort();
            Path log = dir.resolve("agent.log");
            Process p = agent(log, "--db", pg.conninfo(HealthPair.DB), "--health-port", Integer.toString(port),
                    "--health-bind", "127.0.0.1");
            InetSocketAddress at = new InetSocketAddress("127.0.0.1", port);
            try {
                Waits.until(Duration.ofSeconds(30), "agent endpoint answers", () -> {
                    assertTrue(p.isAlive(), () -> "agent exited: " + read(log));
                    try (Socket s = new Socket()) {
                        s.connect(at, 200);
                        return true;
                    } catch (IOException e) {
                        return false;
                    }
                });
                assertEquals(200, Http.get(at, "/liveness").status());
                // the first probe of a cold JVM may miss the 1 s deadline on a loaded machine; later ones answer in ms
                Waits.until(Duration.ofSeconds(60), "PostgreSQL is healthy", () -> Http.get(at, "/health").status() == 200,
                        () -> Http.get(at, "/health").body());
                Waits.until(Duration.ofSeconds(60), "a node without peers is ready", () -> Http.get(at, "/ready").status() == 200,
                        () -> Http.get(at, "/ready").body());
            } finally {
                p.destroy();
                assertTrue(p.waitFor(30, TimeUnit.SECONDS), "agent stops on SIGTERM (endpoint closed in its shutdown hook)");
            }
            String out = read(log);
            assertTrue(out.contains("mmsync health endpoint listening on http://127.0.0.1:" + port), out);
            assertFalse(out.contains("password"), out);
            try (Socket s = new Socket()) {
                s.connect(at, 500);
                throw new AssertionError("port " + port + " still open after the agent stopped");
            } catch (IOException expected) {
                // closed, as it should be
            }
        }
    }

    @Test
    void theAgentRefusesABadHealthPortOrAPortInUse(@TempDir Path dir) throws Exception {
        Path log = dir.resolve("bad.log");
        Process p = agent(log, "--db", "host=127.0.0.1 port=1 dbname=x", "--health-port", "70000");
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(2, p.exitValue());
        assertTrue(read(log).contains("mmsync agent: health port must be between 1 and 65535, not 70000"), read(log));

        try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            Process q = agent(log, "--db", "host=127.0.0.1 port=1 dbname=x", "--health-port", Integer.toString(taken.getLocalPort()));
            assertTrue(q.waitFor(30, TimeUnit.SECONDS));
            assertEquals(2, q.exitValue());
            assertTrue(read(log).contains("mmsync agent: health endpoint: cannot listen on 127.0.0.1:" + taken.getLocalPort()),
                    read(log));
        }
    }

    private static String read(Path log) {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "<" + e + ">";
        }
    }
}
