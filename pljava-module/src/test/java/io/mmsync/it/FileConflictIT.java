package io.mmsync.it;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 16, the hard cases: a file changed on both nodes before they met (the later version kept,
 * the other kept beside it as a conflict copy and logged), a change made while the peer's agent is
 * down (delivered when it is back), a file written slowly (never seen half-written on the peer),
 * a file over the size limit and a symlink (refused, named).
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class FileConflictIT {
    static Pair pair;
    static Path blueDir;
    static Path greenDir;
    static Agent.Child blueAgent;
    static Agent.Child greenAgent;

    @BeforeAll
    static void start() throws Exception {
        pair = Pair.start("CREATE TABLE t (id int PRIMARY KEY, v text)");
        Path root = Files.createTempDirectory("mmsync-files-");
        blueDir = Files.createDirectories(root.resolve("blue/data"));
        greenDir = Files.createDirectories(root.resolve("green/data"));
        pair.addSync("");
        blueAgent = pair.childAgent(pair.blue, FileSyncIT.AGENT_ENV);
        greenAgent = pair.childAgent(pair.green, FileSyncIT.AGENT_ENV);
        pair.awaitSyncOnGreen();
        pair.blue.execute(Pair.DB, "SELECT mmsync.add_file_sync('app', '" + blueDir + "', name => 'data', max_file_size => 1048576, "
                + "directories => '{\"green\": \"" + greenDir + "\"}')");
        Waits.until(Duration.ofSeconds(60), "file sync on green",
                () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.file_status() WHERE name = 'data'") == 1);
    }

    @AfterAll
    static void stop() {
        if (pair != null) {
            pair.close();
        }
    }

    @Test
    void changedOnBothSidesKeepsTheLaterAndTheOtherAsConflictCopy() throws Exception {
        Path onBlue = blueDir.resolve("conf/settings.json");
        FileTrees.text(onBlue, "{\"v\": 0}\n", "rw-r--r--");
        awaitSame("first version on green");
        blueAgent.stop();
        greenAgent.stop();
        Instant now = Instant.now();
        Path onGreen = greenDir.resolve("conf/settings.json");
        Files.writeString(onGreen, "{\"v\": \"green\"}\n");
        Files.setLastModifiedTime(onGreen, FileTime.from(now.minusSeconds(60)));
        Files.writeString(onBlue, "{\"v\": \"blue\"}\n");
        Files.setLastModifiedTime(onBlue, FileTime.from(now));
        blueAgent.start();
        greenAgent.start();

        awaitSame("conflict resolved on both");
        Map<String, String> files = FileTrees.listing(greenDir);
        List<String> copies = files.keySet().stream().filter(k -> k.matches("conf/settings\\.sync-conflict-\\d{8}-\\d{6}-green\\.json")).toList();
        assertEquals(1, copies.size(), "one conflict copy of green's version: " + files.keySet());
        assertEquals("{\"v\": \"blue\"}\n", Files.readString(onGreen), "the later version (blue's) is kept on green");
        assertEquals("{\"v\": \"blue\"}\n", Files.readString(onBlue), "and on blue");
        assertEquals("{\"v\": \"green\"}\n", Files.readString(greenDir.resolve(copies.get(0))), "green's version kept beside it");
        // the copy is made on green while it settles the conflict, then travels to blue like any file
        Waits.until(Duration.ofSeconds(60), "the conflict copy on blue", () -> Files.exists(blueDir.resolve(copies.get(0))));
        assertEquals("{\"v\": \"green\"}\n", Files.readString(blueDir.resolve(copies.get(0))), "the conflict copy reached blue too");
        assertEquals(1, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.file_conflicts WHERE path = 'conf/settings.json' "
                + "AND kept = 'remote' AND peer = 'blue' AND strategy = 'latest' AND copy_path = '" + copies.get(0) + "'"), "logged on green");
    }

    @Test
    void changeWhileThePeerAgentIsDownArrivesWhenItIsBack() throws Exception {
        greenAgent.stop();
        FileTrees.text(blueDir.resolve("late/notes.txt"), "written while green's agent was down\n", "rw-r--r--");
        Waits.until(Duration.ofSeconds(60), "blue recorded the file", () -> pair.blue.queryLong(Pair.DB,
                "SELECT count(*) FROM mmsync.files WHERE path = 'late/notes.txt' AND NOT deleted") == 1);
        assertFalse(Files.exists(greenDir.resolve("late/notes.txt")), "not on green while its agent is down");
        greenAgent.start();
        awaitSame("delivered after green's agent is back");
        assertEquals("written while green's agent was down\n", Files.readString(greenDir.resolve("late/notes.txt")));
    }

    @Test
    void fileWrittenSlowlyIsNeverSeenHalfWritten() throws Exception {
        byte[] data = new byte[16 * 64 * 1024];
        new Random(7).nextBytes(data);
        Path build = Files.createTempDirectory("mmsync-slow-");
        Files.write(build.resolve("data.bin"), data);
        Map<String, String> expected = new java.util.TreeMap<>(Map.of("slow/data.bin", FileTrees.sha256(build.resolve("data.bin")) + " rw-r--r--"));
        FileTrees.HalfWrittenWatch watch = new FileTrees.HalfWrittenWatch(greenDir, expected, List.of());
        Thread watcher = new Thread(watch, "green-watch");
        watcher.start();
        Path slow = blueDir.resolve("slow/data.bin");
        Files.createDirectories(slow.getParent());
        try (OutputStream out = Files.newOutputStream(slow)) {
            for (int i = 0; i < 16; i++) {
                out.write(data, i * 64 * 1024, 64 * 1024);
                out.flush();
                Thread.sleep(150); // a slow writer (an upload), pausing less than the settle time (400 ms here)
            }
        }
        Files.setPosixFilePermissions(slow, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        awaitSame("slow file on green");
        watch.stop = true;
        watcher.join();
        assertEquals(expected.get("slow/data.bin"), FileTrees.listing(greenDir).get("slow/data.bin"));
        assertEquals(Map.of(), watch.violations, "never seen half-written (" + watch.checks + " looks)");
        assertEquals(1, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.files WHERE path = 'slow/data.bin' AND seq = "
                + "(SELECT max(seq) FROM mmsync.files WHERE path = 'slow/data.bin')"), "recorded once, complete");
    }

    @Test
    void tooLargeFilesAndSymlinksAreRefusedByName() throws Exception {
        FileTrees.random(blueDir.resolve("huge/too-big.bin"), 2, 1);
        Files.createSymbolicLink(blueDir.resolve("huge/link"), blueDir.resolve("huge/too-big.bin"));
        FileTrees.text(blueDir.resolve("huge/fine.txt"), "fine\n", "rw-r--r--");
        Waits.until(Duration.ofSeconds(60), "fine.txt on green", () -> Files.exists(greenDir.resolve("huge/fine.txt")));
        Waits.until(Duration.ofSeconds(30), "the refusal in status", () -> {
            String err = pair.blue.queryString(Pair.DB, "SELECT string_agg(last_error, ' ') FROM mmsync.file_status()");
            return err != null && (err.contains("huge/too-big.bin") && err.contains("max_file_size") || err.contains("huge/link"));
        });
        assertFalse(Files.exists(greenDir.resolve("huge/too-big.bin")), "over max_file_size: not synced");
        assertFalse(Files.exists(greenDir.resolve("huge/link"), java.nio.file.LinkOption.NOFOLLOW_LINKS), "symlink: not synced");
        String log = Files.readString(pair.agentLog(pair.blue));
        assertTrue(log.contains("huge/too-big.bin is 2097152 bytes, over the file sync's max_file_size of 1048576 bytes"), "named in the log");
        assertTrue(log.contains("huge/link is a symbolic link"), "named in the log");
    }

    @Test
    void pausedSyncHoldsFilesUntilResumed() throws Exception {
        pair.blue.execute(Pair.DB, "SELECT mmsync.pause('app')");
        Waits.until(Duration.ofSeconds(60), "pause reached green",
                () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.syncs WHERE name = 'app' AND paused") == 1);
        FileTrees.text(blueDir.resolve("paused/held.txt"), "held while paused\n", "rw-r--r--");
        Waits.until(Duration.ofSeconds(60), "blue recorded the file", () -> pair.blue.queryLong(Pair.DB,
                "SELECT count(*) FROM mmsync.files WHERE path = 'paused/held.txt'") == 1);
        String recordedAt = pair.blue.queryString(Pair.DB, "SELECT now()");
        Waits.until(Duration.ofSeconds(60), "green's worker beat after the file was recorded", () -> pair.green.queryLong(Pair.DB,
                "SELECT count(*) FROM mmsync.file_progress WHERE heartbeat_at > '" + recordedAt + "'::timestamptz + interval '1 s'") == 1);
        assertFalse(Files.exists(greenDir.resolve("paused/held.txt")), "not taken while the sync is paused");
        pair.blue.execute(Pair.DB, "SELECT mmsync.resume('app')");
        awaitSame("taken after resume");
        assertEquals("held while paused\n", Files.readString(greenDir.resolve("paused/held.txt")));
    }

    @Test
    void agentKilledInTheMiddleOfAPluginLeavesItAbsentOrWhole() throws Exception {
        Path build = Files.createTempDirectory("mmsync-kill-");
        for (int i = 0; i < 30; i++) {
            FileTrees.random(build.resolve("com.example.kill/server/part-" + i + ".bin"), 1, i);
        }
        Files.move(build.resolve("com.example.kill"), blueDir.resolve("com.example.kill")); // installed in one rename
        Map<String, String> plugin = FileTrees.listing(blueDir.resolve("com.example.kill"));
        Waits.until(Duration.ofSeconds(60), Duration.ofMillis(5), "green is taking the plugin", () -> pair.green.queryLong(Pair.DB,
                "SELECT coalesce(sum(files_pending), 0) FROM mmsync.file_progress") > 0);
        greenAgent.kill9();
        Path onGreen = greenDir.resolve("com.example.kill");
        Map<String, String> seen = Files.exists(onGreen) ? FileTrees.listing(onGreen) : Map.of();
        assertTrue(seen.isEmpty() || seen.equals(plugin), "after SIGKILL green's plugin is absent or whole, not " + seen.size() + " files");
        long staged;
        try (var walk = Files.list(greenDir)) {
            staged = walk.filter(p -> p.getFileName().toString().startsWith(".mmsync-stage-")).count();
        }
        System.out.println("KILL: green's agent killed with " + seen.size() + " of " + plugin.size() + " files visible, "
                + staged + " staging directories");
        greenAgent.start();
        awaitSame("the plugin on green after the agent's restart");
        try (var walk = Files.walk(greenDir)) {
            assertEquals(List.of(), walk.filter(p -> p.getFileName().toString().startsWith(".mmsync-")).toList(), "no leftovers");
        }
    }

    @Test
    void badArgumentsAreRefusedNamingTheValue() {
        Map<String, String> cases = new java.util.LinkedHashMap<>();
        cases.put("SELECT mmsync.add_file_sync('app', 'relative/dir')", "directory \"relative/dir\" of a file sync must be an absolute path");
        cases.put("SELECT mmsync.add_file_sync('app', '/srv/../etc')", "directory \"/srv/../etc\" of a file sync must be an absolute path without . or .. parts");
        cases.put("SELECT mmsync.add_file_sync('nosuch', '/srv/x')", "sync \"nosuch\" does not exist");
        cases.put("SELECT mmsync.add_file_sync('app', '/srv/x', max_file_size => 0)", "max_file_size of file sync \"/srv/x\" must be at least 1 byte, not 0");
        cases.put("SELECT mmsync.add_file_sync('app', '/srv/x', directories => '{\"green\": \"rel\"}')", "directory \"rel\" for node \"green\" must be an absolute path");
        cases.put("SELECT mmsync.add_file_sync('app', '/srv/x', owner => 'a b')", "owner \"a b\" of file sync \"/srv/x\" is not an OS user name");
        cases.put("SELECT mmsync.add_file_sync('app', '/srv/other', name => 'data')", "file sync \"data\" of sync \"app\" already exists");
        cases.put("SELECT mmsync.remove_file_sync('app', 'nosuch')", "file sync \"nosuch\" of sync \"app\" does not exist");
        cases.forEach((sql, want) -> {
            String err = Errors.of(() -> pair.blue.execute(Pair.DB, sql));
            assertTrue(err.contains(want), sql + " -> " + err);
        });
        assertEquals(1, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.file_syncs"), "nothing added");
    }

    static void awaitSame(String what) {
        Waits.until(Duration.ofSeconds(90), Duration.ofMillis(50), what, () -> {
            Map<String, String> b = FileTrees.listing(blueDir);
            b.keySet().removeIf(k -> k.startsWith("huge/"));
            Map<String, String> g = FileTrees.listing(greenDir);
            g.keySet().removeIf(k -> k.startsWith("huge/"));
            return b.equals(g);
        });
    }
}
