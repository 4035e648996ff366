package io.mmsync.pljava;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.mmsync.health.EngineLockView;
import io.mmsync.health.HealthConfig;
import io.mmsync.health.HealthServer;
import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The stand-alone health endpoint ({@code mmsync health}: HealthServer with EngineLockView) of a
 * node whose engine runs in the worker: /status names the worker as the engine's host, /liveness
 * follows the node lock, and the endpoint keeps answering while the worker restarts.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class WorkerHealthIT {
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private static HttpResponse<String> get(int port, String path) {
        try {
            return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(10)).build(),
                    HttpResponse.BodyHandlers.ofString());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static int freePort() throws java.io.IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static String engineHost(int port) {
        JsonObject status = JsonParser.parseString(get(port, "/status").body()).getAsJsonObject();
        return status.getAsJsonObject("engine").get("host").getAsString();
    }

    @Test
    void statusNamesTheWorkerAndTheEndpointOutlivesItsRestart() throws Exception {
        assumeTrue(WorkerPair.unavailable().isEmpty(), () -> WorkerPair.unavailable().orElse(""));
        try (PgCluster c = WorkerPair.startNode("blue")) {
            WorkerPair.setUpNode(c, "");
            c.execute(WorkerPair.DB, "SELECT mmsync.add_node('blue', '" + c.conninfo(WorkerPair.DB) + "', true)");
            WorkerPair.until(Duration.ofSeconds(60), "the worker runs the engine", () -> WorkerPair.engineHost(c).equals("worker"));
            long pid = WorkerPair.workerPid(c);
            int port = freePort();
            EngineLockView view = new EngineLockView(c.conninfo(WorkerPair.DB));
            Thread watch = new Thread(view, "engine-watch");
            watch.setDaemon(true);
            watch.start();
            HealthServer server = HealthServer.start(HealthConfig.builder().port(port).build(), c.conninfo(WorkerPair.DB), view);
            try {
                WorkerPair.until(Duration.ofSeconds(30), "/liveness 200", () -> get(port, "/liveness").statusCode() == 200);
                assertTrue(engineHost(port).startsWith("worker: mmsync engine (worker pid " + pid + ")"), engineHost(port));
                c.execute("postgres", "SELECT pg_terminate_backend(" + pid + ")");
                WorkerPair.until(Duration.ofSeconds(30), "/status names the new worker", () -> {
                    String h = engineHost(port);
                    return h.startsWith("worker: mmsync engine (worker pid ") && !h.contains("pid " + pid + ")");
                });
                assertEquals(200, get(port, "/liveness").statusCode());
            } finally {
                server.close();
                view.stop();
            }
            WorkerPair.assertNoCrash(c);
        }
    }
}
