package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 16: a plugin installed on blue appears on green, identical (hashes and modes), whole, with
 * the configured owner, while row changes keep flowing; renamed and removed on blue, the same on
 * green. Agents are child JVMs with -Xmx256m, as in production. {@code -Dmmsync.files.bigMb=N}
 * sets the size of the plugin's binary (default 50 MiB).
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
@org.junit.jupiter.api.TestMethodOrder(org.junit.jupiter.api.MethodOrderer.MethodName.class)
class FileSyncIT {
    static final long BIG_MB = Long.getLong("mmsync.files.bigMb", 50);
    static final String SCHEMA = "CREATE TABLE ticks (id bigint PRIMARY KEY, at timestamptz NOT NULL, arrived timestamptz)";
    static final Path GC_LOGS = tempDir("mmsync-gc-");
    /** Settle time of the agents in these tests (1 s in production); GC logs to read the agents' heap from. */
    static final Map<String, String> AGENT_ENV = Map.of("JAVA_TOOL_OPTIONS", "-Dmmsync.files.settleMs=400 -Dmmsync.files.rescanMs=2000 "
            + "-Xlog:gc:file=" + GC_LOGS + "/gc-%p.log");

    static Pair pair;
    static Path blueDir;
    static Path greenDir;
    static Agent.Child[] agents;

    @BeforeAll
    static void start() throws Exception {
        pair = Pair.start(SCHEMA);
        // when each tick arrives on green: its lag
        pair.green.execute(Pair.DB, "CREATE FUNCTION arrived() RETURNS trigger LANGUAGE plpgsql AS "
                + "$$BEGIN NEW.arrived := clock_timestamp(); RETURN NEW; END$$; "
                + "CREATE TRIGGER zz_arrived BEFORE INSERT ON ticks FOR EACH ROW EXECUTE FUNCTION arrived()");
        Path root = Files.createTempDirectory("mmsync-files-");
        blueDir = Files.createDirectories(root.resolve("blue/plugins"));
        greenDir = Files.createDirectories(root.resolve("green/plugins"));
        pair.addSync("");
        agents = new Agent.Child[] {pair.childAgent(pair.blue, AGENT_ENV), pair.childAgent(pair.green, AGENT_ENV)};
        pair.awaitSyncOnGreen();
        pair.blue.execute(Pair.DB, "SELECT mmsync.add_file_sync('app', '" + blueDir + "', name => 'plugins', ignore => '*.log', "
                + "owner => 'postgres', max_file_size => " + ((BIG_MB + 1) << 20) + ", directories => '{\"green\": \"" + greenDir + "\"}')");
        Waits.until(Duration.ofSeconds(60), "file sync on green",
                () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.file_status() WHERE name = 'plugins'") == 1);
    }

    @AfterAll
    static void stop() {
        if (pair != null) {
            pair.close();
        }
    }

    @Test
    void pluginTreeAppearsWholeAndIdenticalWhileRowsFlow() throws Exception {
        Path build = Files.createTempDirectory("mmsync-plugin-build-");
        FileTrees.plugin(build.resolve("com.example.big"), "com.example.big", BIG_MB);
        Map<String, String> expected = new java.util.TreeMap<>();
        FileTrees.listing(build).forEach(expected::put);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong ticks = new AtomicLong();
        Thread writer = new Thread(() -> tick(pair.blue, stop, ticks), "ticks");
        FileTrees.HalfWrittenWatch watch = new FileTrees.HalfWrittenWatch(greenDir, expected, List.of("com.example.big"));
        Thread watcher = new Thread(watch, "green-watch");
        writer.start();
        watcher.start();
        Waits.until(Duration.ofSeconds(30), "ticks flowing for a while (the baseline lag)", () -> ticks.get() > 150);

        // installed on blue the way an unpacker does it: file by file into the plugins directory
        long t0 = System.nanoTime();
        copyTree(build.resolve("com.example.big"), blueDir.resolve("com.example.big"));
        long installedAt = System.nanoTime();
        Waits.until(Duration.ofMinutes(5), Duration.ofMillis(50), "plugin complete on green",
                () -> plugin(greenDir).equals(expected));
        long completeAt = System.nanoTime();
        Waits.until(Duration.ofSeconds(30), "more ticks after the transfer", () -> arrivedAfter(completeAt) > 5);
        stop.set(true);
        writer.join();
        watch.stop = true;
        watcher.join();

        assertEquals(expected, plugin(blueDir), "blue has the plugin as built");
        assertEquals(expected, plugin(greenDir), "green has the same files, hashes and modes");
        assertEquals(Map.of(), watch.violations, "no file seen half-written or plugin seen partial on green (" + watch.checks + " looks)");
        assertTrue(watch.checks > 10, "the watcher looked " + watch.checks + " times");
        PosixFileAttributes a = Files.readAttributes(greenDir.resolve("com.example.big/server/dist/plugin-linux-amd64"), PosixFileAttributes.class);
        assertEquals("postgres", a.owner().getName(), "owner as configured");
        // rows kept flowing: ticks committed on blue during the transfer arrived on green during it
        pair.awaitSynced();
        assertEquals(Pair.fingerprint(pair.blue, "(SELECT id, at FROM ticks)"), Pair.fingerprint(pair.green, "(SELECT id, at FROM ticks)"));
        long during = pair.green.queryLong(Pair.DB, "SELECT count(*) FROM ticks WHERE arrived < now() - interval '0 s' "
                + "AND at >= now() - make_interval(secs => " + secondsSince(installedAt) + ") "
                + "AND at < now() - make_interval(secs => " + secondsSince(completeAt) + ")");
        String lag = pair.green.queryString(Pair.DB, "SELECT round(extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY arrived - at)) * 1000) || ' / ' "
                + "|| round(extract(epoch FROM max(arrived - at)) * 1000) FROM ticks WHERE at >= now() - make_interval(secs => " + secondsSince(installedAt)
                + ") AND at < now() - make_interval(secs => " + secondsSince(completeAt) + ")");
        assertTrue(during > 0, "ticks committed during the transfer: " + during);
        String before = pair.green.queryString(Pair.DB, "SELECT round(extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY arrived - at)) * 1000) || ' / ' "
                + "|| round(extract(epoch FROM max(arrived - at)) * 1000) FROM ticks WHERE id > 50 AND at < now() - make_interval(secs => "
                + secondsSince(installedAt) + ")");
        long status = pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.file_status() WHERE files_pending = 0 AND bytes_pending = 0 "
                + "AND last_file LIKE 'com.example.big/%' AND files = " + expected.size());
        assertEquals(1, status, "file_status on green: nothing pending, last file of the plugin, all files recorded: "
                + pair.green.queryString(Pair.DB, "SELECT string_agg(s::text, '; ') FROM mmsync.file_status() s"));
        System.out.printf("FIGURES: %d MiB plugin (%d files): installed on blue in %.1f s, complete on green %.1f s after; "
                        + "%d ticks during it, row lag p50 / max %s ms (before it: %s ms); agent peak RSS blue %d MiB, green %d MiB; "
                        + "heap before / after GC at most blue %s MiB, green %s MiB (-Xmx256m)%n",
                BIG_MB, expected.size(), (installedAt - t0) / 1e9, (completeAt - installedAt) / 1e9, during, lag, before,
                agents[0].peakRssKib() / 1024, agents[1].peakRssKib() / 1024, peakHeapMib(agents[0].pid()), peakHeapMib(agents[1].pid()));
        for (PgCluster node : List.of(pair.blue, pair.green)) {
            Files.readAllLines(pair.agentLog(node)).stream().filter(l -> l.contains("com.example.big") || l.contains("MiB"))
                    .forEach(l -> System.out.println("FIGURES " + node.name() + ": " + l));
        }
    }

    @Test
    void bundleRenameAndRemovalFollow() throws Exception {
        Path build = Files.createTempDirectory("mmsync-bundle-build-");
        FileTrees.plugin(build.resolve("com.example.small"), "com.example.small", 1);
        FileTrees.tarGz(build.resolve("com.example.small"), blueDir.resolve("bundles/com.example.small.tar.gz"));
        FileTrees.text(blueDir.resolve("bundles/debug.log"), "ignored\n", "rw-r--r--");
        copyTree(build.resolve("com.example.small"), blueDir.resolve("com.example.small"));
        awaitSame("bundle and plugin on green");
        assertFalse(Files.exists(greenDir.resolve("bundles/debug.log")), "*.log is ignored");
        assertTrue(FileTrees.listing(greenDir).containsKey("bundles/com.example.small.tar.gz"));

        // upgraded in place on blue: green's copy is the old version whole or the new one whole, never a mix
        Path unit = greenDir.resolve("com.example.small");
        Map<String, String> old = FileTrees.listing(unit);
        FileTrees.UnitWatch watch = new FileTrees.UnitWatch(unit);
        Thread watcher = new Thread(watch, "green-unit-watch");
        watcher.start();
        Path onBlue = blueDir.resolve("com.example.small");
        Files.writeString(onBlue.resolve("plugin.json"), "{\"id\": \"com.example.small\", \"version\": \"1.1.0\"}\n");
        Files.delete(onBlue.resolve("assets/secret.key"));
        FileTrees.text(onBlue.resolve("webapp/dist/new.js"), "console.log('new');\n", "rw-r--r--");
        FileTrees.random(onBlue.resolve("server/dist/plugin-linux-amd64"), 1, 99);
        awaitSame("upgraded plugin on green");
        watch.stop = true;
        watcher.join();
        Map<String, String> upgraded = FileTrees.listing(unit);
        assertFalse(upgraded.equals(old));
        for (Map<String, String> look : watch.seen) {
            // (or absent, for the instant between the two renames of the swap)
            assertTrue(look.equals(old) || look.equals(upgraded) || look.isEmpty(), "green's plugin seen as neither the old nor the new version: " + look);
        }
        assertTrue(watch.looks > 10, "looked " + watch.looks + " times");
        awaitGreenLog("com.example.small: new version swapped in whole"); // the directory was swapped, not written file by file

        Files.move(blueDir.resolve("bundles/com.example.small.tar.gz"), blueDir.resolve("bundles/com.example.small-1.0.tar.gz"));
        Files.move(blueDir.resolve("com.example.small"), blueDir.resolve("com.example.renamed"));
        awaitSame("renames on green");
        assertFalse(Files.exists(greenDir.resolve("com.example.small")), "old plugin directory gone on green");
        assertTrue(Files.isRegularFile(greenDir.resolve("com.example.renamed/server/dist/plugin-linux-amd64")));

        deleteTree(blueDir.resolve("com.example.renamed"));
        Files.delete(blueDir.resolve("bundles/com.example.small-1.0.tar.gz"));
        awaitSame("removal on green");
        assertFalse(Files.exists(greenDir.resolve("com.example.renamed")), "removed plugin directory gone on green");
        awaitGreenLog("com.example.renamed removed whole"); // in one step
        assertFalse(Files.exists(greenDir.resolve("bundles/com.example.small-1.0.tar.gz")));
    }

    private static Path tempDir(String prefix) {
        try {
            return Files.createTempDirectory(prefix);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * From an agent's GC log, in MiB: the most heap in use before a collection (garbage included) and
     * the most left after one (what the engine really held), as "before / after".
     */
    static String peakHeapMib(long pid) throws java.io.IOException {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\\) (\\d+)M->(\\d+)M\\(\\d+M\\)")
                .matcher(Files.readString(GC_LOGS.resolve("gc-" + pid + ".log")));
        long before = 0;
        long after = 0;
        while (m.find()) {
            before = Math.max(before, Long.parseLong(m.group(1)));
            after = Math.max(after, Long.parseLong(m.group(2)));
        }
        return before + " / " + after;
    }

    /** Green's agent logs {@code line} (the log line comes right after the change is visible). */
    static void awaitGreenLog(String line) {
        Waits.until(Duration.ofSeconds(60), "green's agent logs: " + line, () -> {
            try {
                return Files.readString(pair.agentLog(pair.green)).contains(line);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
    }

    /** The files of the big plugin under {@code root}. */
    static Map<String, String> plugin(Path root) {
        Map<String, String> m = FileTrees.listing(root);
        m.keySet().removeIf(k -> !k.startsWith("com.example.big/"));
        return m;
    }

    /** Green's plugins equal blue's (ignored files left out). */
    static void awaitSame(String what) {
        Waits.until(Duration.ofSeconds(90), Duration.ofMillis(50), what, () -> {
            Map<String, String> b = FileTrees.listing(blueDir);
            b.keySet().removeIf(k -> k.endsWith(".log"));
            return b.equals(FileTrees.listing(greenDir));
        });
    }

    static void copyTree(Path from, Path to) throws Exception {
        try (var s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path t = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(t);
                } else {
                    Files.copy(p, t, java.nio.file.StandardCopyOption.COPY_ATTRIBUTES);
                }
            }
        }
    }

    static void deleteTree(Path p) throws Exception {
        try (var s = Files.walk(p)) {
            for (Path x : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(x);
            }
        }
    }

    private static double secondsSince(long nanos) {
        return (System.nanoTime() - nanos) / 1e9;
    }

    private static long arrivedAfter(long nanos) {
        return pair.green.queryLong(Pair.DB, "SELECT count(*) FROM ticks WHERE arrived >= now() - make_interval(secs => " + secondsSince(nanos) + ")");
    }

    /** A row on blue every 10 ms, each with the time it was committed (about). */
    private static void tick(PgCluster node, AtomicBoolean stop, AtomicLong n) {
        try (Connection c = node.connect(Pair.DB);
             PreparedStatement st = c.prepareStatement("INSERT INTO ticks (id, at) VALUES (?, clock_timestamp())")) {
            while (!stop.get()) {
                st.setLong(1, n.incrementAndGet());
                st.executeUpdate();
                Thread.sleep(10);
            }
        } catch (Exception e) {
            throw new AssertionError("tick writer failed", e);
        }
    }
}
