package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The release archive that {@code mvn package} built (target/mmsync-&lt;version&gt;.tar.gz; failsafe
 * runs this test after package), as an operator uses it: unpacked into an empty directory,
 * {@code installer/install.sh --pg-config ... --prefix ...} into a private copy of PostgreSQL 15
 * (made here from the one MMSYNC_PG_BIN names, without mmsync's files; or the copy whose
 * pg_config -Dmmsync.release.pgconfig names) with no Maven on the PATH; two clusters of that
 * PostgreSQL synced by agents started with the systemd unit's ExecStart command line under the
 * prefix; a row written on each node appears on the other; SIGTERM stops each agent cleanly
 * with an exit code the unit counts as success. The unit is checked with systemd-analyze verify
 * when the machine has it, and its keys are checked in any case.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class ReleaseArchiveIT {
    private static final String DB = "app";
    private final List<AutoCloseable> cleanup = new ArrayList<>();
    private Path tmp;

    @AfterEach
    void cleanUp() throws Exception {
        for (int i = cleanup.size() - 1; i >= 0; i--) {
            cleanup.get(i).close();
        }
        if (tmp != null) {
            try (Stream<Path> walk = Files.walk(tmp)) {
                for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    @Test
    void archiveInstallsWithoutMavenAndItsAgentsSyncAPair() throws Exception {
        Path archive = archive();
        tmp = Files.createTempDirectory(Path.of("/tmp"), "mmsync-release-");
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x")); // postgres runs the copy

        // unpack into an empty directory: one top directory mmsync-<version> with what an operator needs
        Path unpacked = Files.createDirectory(tmp.resolve("unpacked"));
        run(List.of("tar", "xzf", archive.toString(), "-C", unpacked.toString()), Map.of());
        String[] top;
        try (Stream<Path> s = Files.list(unpacked)) {
            top = s.map(p -> p.getFileName().toString()).toArray(String[]::new);
        }
        assertEquals(1, top.length, "one top directory: " + Arrays.toString(top));
        assertTrue(top[0].matches("mmsync-\\d+\\.\\d+\\.\\d+.*"), top[0]);
        String version = top[0].substring("mmsync-".length());
        Path dist = unpacked.resolve(top[0]);
        for (String f : List.of("lib/mmsync.jar", "installer/install.sh", "installer/build-sql.sh", "installer/haproxy-cfg",
                "installer/deps.sh", "installer/systemd/mmsync-agent@.service", "installer/systemd/mmsync-agent.env.example",
                "sql/mmsync.control", "sql/src/00_header.sql", "sql/released/mmsync--0.1.0.sql",
                "sql/updates/mmsync--0.1.0--0.2.0.sql", "README.md", "docs/health.md", "docs/operations.md")) {
            assertTrue(Files.isRegularFile(dist.resolve(f)), "the archive has " + f);
        }
        assertTrue(Files.isExecutable(dist.resolve("installer/install.sh")) && Files.isExecutable(dist.resolve("installer/haproxy-cfg")),
                "scripts are executable");

        // install.sh into a private PostgreSQL, with an mvn on the PATH that records being called
        Path pgConfig = privatePostgres();
        Path extDir = Path.of(run(List.of(pgConfig.toString(), "--sharedir"), Map.of()).trim()).resolve("extension");
        Path fakeBin = Files.createDirectory(tmp.resolve("fakebin"));
        Path mvnCalled = tmp.resolve("mvn-called");
        Files.writeString(fakeBin.resolve("mvn"), "#!/bin/sh\ntouch '" + mvnCalled + "'\nexit 1\n");
        Files.setPosixFilePermissions(fakeBin.resolve("mvn"), PosixFilePermissions.fromString("rwxr-xr-x"));
        Path prefix = tmp.resolve("prefix");
        Map<String, String> noMaven = Map.of("PATH", fakeBin + ":" + System.getenv("PATH"));
        List<String> install = List.of(dist.resolve("installer/install.sh").toString(), "--pg-config", pgConfig.toString(),
                "--prefix", prefix.toString());
        String out = run(install, noMaven);
        run(install, noMaven); // idempotent
        assertTrue(!Files.exists(mvnCalled), "install.sh from the archive must not call Maven:\n" + out);
        assertArrayEquals(Files.readAllBytes(dist.resolve("lib/mmsync.jar")), Files.readAllBytes(prefix.resolve("lib/mmsync/mmsync.jar")),
                "the archive's jar installed as is");
        for (String f : List.of("mmsync.control", "mmsync--0.1.0.sql", "mmsync--0.1.0--0.2.0.sql", "mmsync--0.2.0.sql")) {
            assertTrue(Files.isRegularFile(extDir.resolve(f)), "install.sh installed " + f + " into " + extDir + ":\n" + out);
        }
        Path mmsync = prefix.resolve("bin/mmsync");
        assertEquals("mmsync " + version, run(List.of(mmsync.toString(), "version"), Map.of()).trim());

        // the unit: its keys, systemd-analyze verify if there is one, and its ExecStart under the prefix
        SystemdUnit unit = SystemdUnit.read(dist.resolve("installer/systemd/mmsync-agent@.service"), prefix);
        unit.checkKeys();
        unit.verifyWithSystemdAnalyze(tmp.resolve("units"));

        // two clusters of the private PostgreSQL, the extension from the archive, a sync
        Path bin = pgConfig.getParent();
        PgCluster blue = PgCluster.builder("blue").binDir(bin).start();
        cleanup.add(blue);
        PgCluster green = PgCluster.builder("green").binDir(bin).start();
        cleanup.add(green);
        for (PgCluster c : List.of(blue, green)) {
            c.createDatabase(DB);
            c.execute(DB, "CREATE EXTENSION mmsync");
            c.execute(DB, "CREATE TABLE t (id int PRIMARY KEY, v text)");
            assertEquals(version, c.queryString(DB, "SELECT extversion FROM pg_extension WHERE extname = 'mmsync'"));
        }
        blue.execute(DB, "SELECT mmsync.add_node('blue', '" + blue.conninfo(DB) + "', true)");
        blue.execute(DB, "SELECT mmsync.add_node('green', '" + green.conninfo(DB) + "')");
        blue.execute(DB, "SELECT mmsync.add_sync('app', '{blue,green}')");

        Process blueAgent = startAgent(unit, blue);
        Process greenAgent = startAgent(unit, green);
        Waits.until(Duration.ofSeconds(60), "sync pushed to green",
                () -> green.queryLong(DB, "SELECT count(*) FROM mmsync.syncs WHERE name = 'app' AND NOT removed") == 1);
        blue.execute(DB, "INSERT INTO t VALUES (1, 'written on blue')");
        green.execute(DB, "INSERT INTO t VALUES (2, 'written on green')");
        Waits.until(Duration.ofSeconds(60), "each node's row on the other",
                () -> green.queryLong(DB, "SELECT count(*) FROM t") == 2 && blue.queryLong(DB, "SELECT count(*) FROM t") == 2);
        assertEquals(Pair.fingerprint(blue, "t"), Pair.fingerprint(green, "t"));
        assertEquals("written on blue", green.queryString(DB, "SELECT v FROM t WHERE id = 1"));
        assertEquals("written on green", blue.queryString(DB, "SELECT v FROM t WHERE id = 2"));

        // SIGTERM, as systemd stops it: a clean stop whose exit code the unit counts as success
        for (Map.Entry<String, Process> a : Map.of("blue", blueAgent, "green", greenAgent).entrySet()) {
            Process p = a.getValue();
            p.destroy();
            assertTrue(p.waitFor(unit.stopTimeoutSeconds(), TimeUnit.SECONDS), a.getKey() + "'s agent stops within TimeoutStopSec");
            String log = Files.readString(agentLog(a.getKey()));
            assertTrue(log.contains("mmsync agent: stopped cleanly"), a.getKey() + "'s agent stopped cleanly:\n" + log);
            int exit = p.exitValue();
            assertTrue(exit == 0 || unit.successExitStatus().contains(exit), a.getKey() + "'s agent exit code " + exit
                    + " is a success for the unit (SuccessExitStatus=" + unit.successExitStatus() + ")");
            System.out.println("ReleaseArchiveIT: " + a.getKey() + "'s agent exited with " + exit + " on SIGTERM");
        }
        System.out.println("ReleaseArchiveIT: " + archive.getFileName() + " (" + Files.size(archive) + " bytes) installed into "
                + prefix + " and " + extDir);
    }

    /** The agent command line of the unit's ExecStart, with the environment its EnvironmentFile would give. */
    private Process startAgent(SystemdUnit unit, PgCluster node) throws IOException {
        Map<String, String> env = new LinkedHashMap<>(unit.environment());
        env.put("MMSYNC_DB", node.conninfo(DB));
        env.put("MMSYNC_AGENT_OPTS", "--poll-ms 200 --page-rows 1000");
        ProcessBuilder pb = new ProcessBuilder(unit.execStart(env));
        pb.environment().putAll(env);
        pb.redirectErrorStream(true);
        pb.redirectOutput(agentLog(node.name()).toFile());
        Process p = pb.start();
        cleanup.add(() -> {
            p.destroy();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        });
        return p;
    }

    private Path agentLog(String node) {
        return tmp.resolve("agent-" + node + ".log");
    }

    /** The newest target/mmsync-*.tar.gz of this module. */
    private static Path archive() throws IOException {
        Path target = Path.of(System.getProperty("basedir", System.getProperty("user.dir"))).resolve("target");
        Pattern name = Pattern.compile("mmsync-\\d+\\.\\d+\\.\\d+.*\\.tar\\.gz");
        try (Stream<Path> s = Files.exists(target) ? Files.list(target) : Stream.empty()) {
            return s.filter(p -> name.matcher(p.getFileName().toString()).matches())
                    .max(Comparator.comparing(p -> p.toFile().lastModified()))
                    .orElseThrow(() -> new AssertionError("no mmsync-<version>.tar.gz in " + target
                            + ": mvn package builds it (failsafe runs this test after package)"));
        }
    }

    /**
     * pg_config of a private PostgreSQL 15: the one -Dmmsync.release.pgconfig names, else a copy of
     * the installation MMSYNC_PG_BIN (or /usr/lib/postgresql/15/bin) belongs to, without mmsync's files.
     * PostgreSQL finds its share and lib dirs relative to its binaries, so the copy is self-contained.
     */
    private Path privatePostgres() throws IOException {
        String given = System.getProperty("mmsync.release.pgconfig");
        if (given != null && !given.isBlank()) {
            return Path.of(given);
        }
        Path bin = PgCluster.pgBin().toRealPath(); // <root>/lib/postgresql/15/bin
        Path major = bin.getParent();
        Path root = major.getParent().getParent().getParent();
        Path share = root.resolve("share/postgresql").resolve(major.getFileName());
        assertTrue(Files.isDirectory(share), "PostgreSQL's share dir " + share + " (for the copy of " + bin + ")");
        Path copy = tmp.resolve("pg");
        Files.createDirectories(copy.resolve("lib/postgresql"));
        Files.createDirectories(copy.resolve("share/postgresql"));
        run(List.of("cp", "-a", major.toString(), copy.resolve("lib/postgresql").toString()), Map.of());
        run(List.of("cp", "-a", share.toString(), copy.resolve("share/postgresql").toString()), Map.of());
        try (Stream<Path> s = Files.list(copy.resolve("share/postgresql").resolve(major.getFileName()).resolve("extension"))) {
            for (Path p : s.filter(p -> p.getFileName().toString().startsWith("mmsync")).toList()) {
                Files.delete(p);
            }
        }
        return copy.resolve("lib/postgresql").resolve(major.getFileName()).resolve("bin/pg_config");
    }

    /** Runs a command to its end (2 minutes at most); its output; fails on a non-zero exit. */
    static String run(List<String> cmd, Map<String, String> env) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().putAll(env);
        pb.redirectErrorStream(true);
        Path out = Files.createTempFile("mmsync-cmd-", ".out");
        try {
            pb.redirectOutput(out.toFile());
            Process p = pb.start();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError(String.join(" ", cmd) + " did not end within 120 s:\n" + Files.readString(out));
            }
            String text = Files.readString(out);
            if (p.exitValue() != 0) {
                throw new AssertionError(String.join(" ", cmd) + " exited with " + p.exitValue() + ":\n" + text);
            }
            return text;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted running " + cmd, e);
        } finally {
            Files.deleteIfExists(out);
        }
    }

    /** The keys of installer/systemd/mmsync-agent@.service this test relies on, with paths under a prefix. */
    record SystemdUnit(String text, Path prefix) {
        static SystemdUnit read(Path file, Path prefix) throws IOException {
            // install.sh --systemd rewrites /usr/local/ to its --prefix the same way
            return new SystemdUnit(Files.readString(file).replace("/usr/local/", prefix + "/"), prefix);
        }

        List<String> values(String key) {
            List<String> out = new ArrayList<>();
            Matcher m = Pattern.compile("(?m)^" + key + "=(.*)$").matcher(text);
            while (m.find()) {
                out.add(m.group(1).trim());
            }
            return out;
        }

        String value(String key) {
            List<String> v = values(key);
            assertEquals(1, v.size(), "one " + key + "= in the unit: " + v);
            return v.get(0);
        }

        void checkKeys() {
            assertEquals("mmsync", value("User"), "the agent runs as its own OS user");
            assertEquals("on-failure", value("Restart"));
            assertEquals("SIGTERM", value("KillSignal"));
            assertTrue(stopTimeoutSeconds() >= 20, "TimeoutStopSec leaves the agent its 15 s to stop: " + stopTimeoutSeconds());
            assertEquals("/etc/mmsync/%i.env", value("EnvironmentFile"), "conninfo from /etc/mmsync/<instance>.env");
            assertTrue(value("ExecStart").startsWith(prefix + "/bin/mmsync agent --db ${MMSYNC_DB}"), value("ExecStart"));
            assertTrue(environment().containsKey("MMSYNC_JAVA_OPTS"), "MMSYNC_JAVA_OPTS has a default: " + environment());
            for (String hardening : List.of("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes")) {
                assertTrue(text.contains("\n" + hardening + "\n"), "the unit has " + hardening);
            }
            assertTrue(!text.contains("MemoryDenyWriteExecute=yes"), "the JIT needs W+X memory");
        }

        /** systemd-analyze verify of the unit as instance "test" under the prefix: no complaint at all. */
        void verifyWithSystemdAnalyze(Path dir) throws IOException {
            Path analyze = Path.of("/usr/bin/systemd-analyze");
            if (!Files.isExecutable(analyze)) {
                System.out.println("ReleaseArchiveIT: no systemd-analyze here; the unit's keys were checked");
                return;
            }
            Files.createDirectories(dir);
            Path instance = dir.resolve("mmsync-agent@test.service");
            Files.writeString(instance, text);
            String out = run(List.of(analyze.toString(), "verify", instance.toString()), Map.of());
            assertEquals("", out.trim(), "systemd-analyze verify complains about the unit");
        }

        long stopTimeoutSeconds() {
            return Long.parseLong(value("TimeoutStopSec").replace("s", ""));
        }

        List<Integer> successExitStatus() {
            return values("SuccessExitStatus").stream().flatMap(v -> Arrays.stream(v.split("\\s+")))
                    .filter(s -> s.matches("\\d+")).map(Integer::valueOf).toList();
        }

        /** Environment=K=V lines. */
        Map<String, String> environment() {
            Map<String, String> env = new LinkedHashMap<>();
            for (String v : values("Environment")) {
                int eq = v.indexOf('=');
                env.put(v.substring(0, eq), v.substring(eq + 1));
            }
            return env;
        }

        /** ExecStart split as systemd does for these forms: ${VAR} is one word, $VAR splits on whitespace. */
        List<String> execStart(Map<String, String> env) {
            List<String> cmd = new ArrayList<>();
            for (String word : value("ExecStart").split("\\s+")) {
                Matcher whole = Pattern.compile("\\$\\{(\\w+)}").matcher(word);
                Matcher split = Pattern.compile("\\$(\\w+)").matcher(word);
                if (whole.matches()) {
                    cmd.add(env.getOrDefault(whole.group(1), ""));
                } else if (split.matches()) {
                    String v = env.getOrDefault(split.group(1), "").trim();
                    if (!v.isEmpty()) {
                        cmd.addAll(List.of(v.split("\\s+")));
                    }
                } else {
                    cmd.add(word);
                }
            }
            return cmd;
        }
    }
}
