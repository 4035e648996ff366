package io.mmsync.health;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.mmsync.it.Waits;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Issue 16: the health endpoint's /status and /metrics show the file sync (pending, synced, last file, errors). */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class FileStatusIT {
    @Test
    void statusAndMetricsShowTheLastFileSynced() throws Exception {
        System.setProperty("mmsync.files.settleMs", "300");
        Path root = Files.createTempDirectory("mmsync-files-health-");
        Path blueDir = Files.createDirectories(root.resolve("blue"));
        Path greenDir = Files.createDirectories(root.resolve("green"));
        try (HealthPair pair = HealthPair.start("files", b -> b)) {
            pair.blue.sql("SELECT mmsync.add_file_sync('s', '" + blueDir + "', name => 'plugins', "
                    + "directories => '{\"green\": \"" + greenDir + "\"}')");
            Files.writeString(blueDir.resolve("hello.txt"), "hello\n");
            Waits.until(Duration.ofSeconds(60), "hello.txt on green", () -> Files.exists(greenDir.resolve("hello.txt")));
            Waits.until(Duration.ofSeconds(30), "green's /status names the file", () -> pair.green.get("/status").body().contains("hello.txt"));

            JsonObject status = JsonParser.parseString(pair.green.get("/status").body()).getAsJsonObject();
            JsonObject f = status.getAsJsonArray("files").get(0).getAsJsonObject();
            assertEquals("s", f.get("sync").getAsString());
            assertEquals("plugins", f.get("name").getAsString());
            assertEquals("blue", f.get("peer").getAsString());
            assertEquals(0, f.get("files_pending").getAsLong());
            assertEquals(0, f.get("bytes_pending").getAsLong());
            assertEquals(1, f.get("files_synced").getAsLong());
            assertEquals("hello.txt", f.get("last_file").getAsString());
            assertTrue(f.get("last_error").isJsonNull(), f.toString());
            String metrics = pair.green.get("/metrics").body();
            assertTrue(metrics.contains("mmsync_files_synced_total{sync=\"s\",directory=\"plugins\",peer=\"blue\"} 1\n"), metrics);
            assertTrue(metrics.contains("mmsync_files_pending{sync=\"s\",directory=\"plugins\",peer=\"blue\"} 0\n"), metrics);
            assertEquals("hello\n", Files.readString(greenDir.resolve("hello.txt")));

            // removed on blue: pushed to green, both forget their records, the files stay
            pair.blue.sql("SELECT mmsync.remove_file_sync('s', 'plugins')");
            Waits.until(Duration.ofSeconds(60), "removal reached green", () -> pair.green.pg.queryLong(HealthPair.DB,
                    "SELECT count(*) FROM mmsync.file_syncs WHERE name = 'plugins' AND removed") == 1);
            for (HealthPair.Node n : new HealthPair.Node[] {pair.blue, pair.green}) {
                // each node's file worker forgets its records once it has seen the removal (its next round)
                Waits.until(Duration.ofSeconds(30), n.name + " forgot the file sync",
                        () -> n.pg.queryLong(HealthPair.DB, "SELECT count(*) FROM mmsync.file_status()") == 0);
                assertEquals(0, n.pg.queryLong(HealthPair.DB, "SELECT count(*) FROM mmsync.file_status()"), n.name);
                assertEquals(0, n.pg.queryLong(HealthPair.DB, "SELECT count(*) FROM mmsync.files"), n.name);
                assertEquals(0, n.pg.queryLong(HealthPair.DB, "SELECT count(*) FROM mmsync.file_chunks"), n.name);
            }
            assertEquals("hello\n", Files.readString(greenDir.resolve("hello.txt")), "files stay");
            Waits.until(Duration.ofSeconds(30), "/status without the directory", () -> !pair.green.get("/status").body().contains("hello.txt"));
        } finally {
            System.clearProperty("mmsync.files.settleMs");
        }
    }
}
