package io.mmsync.pljava;

import io.mmsync.testenv.PgCluster;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * Real PostgreSQL 15 clusters (MMSYNC_PG_BIN) with PL/Java and the mmsync worker: the worker
 * library preloaded for database {@code app}, PL/Java set up there with the engine jar installed
 * (sqlj) and the entry points declared, the policy of installer/mmsync-pljava.policy. A blue/green
 * pair registers both nodes on blue; the test adds the sync.
 */
final class WorkerPair implements AutoCloseable {
    static final String DB = "app";
    static final Path ROOT = Path.of(System.getProperty("mmsync.root", "..")).toAbsolutePath().normalize();
    static final Path BUILT_JAR = ROOT.resolve("pljava-module/target/mmsync.jar");
    /**
     * The built jar copied where the servers' OS user can read it (a clone under /root is not
     * readable by postgres); the policy is written next to it.
     */
    static final Path JAR = serverReadableCopy(BUILT_JAR);

    private static Path serverReadableCopy(Path jar) {
        if (!Files.exists(jar)) {
            return jar;
        }
        try {
            Path dir = Files.createTempDirectory(Path.of("/tmp"), "mmsync-pljava-test-",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
            Path copy = dir.resolve("mmsync.jar");
            Files.copy(jar, copy);
            Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("rw-r--r--"));
            dir.toFile().deleteOnExit();
            copy.toFile().deleteOnExit();
            dir.resolve("mmsync-pljava.policy").toFile().deleteOnExit();
            return copy;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot copy " + jar + " to /tmp for the test servers", e);
        }
    }

    final PgCluster blue;
    final PgCluster green;

    private WorkerPair(PgCluster blue, PgCluster green) {
        this.blue = blue;
        this.green = green;
    }

    /** Why these tests cannot run here (one line), or empty when they can. */
    static Optional<String> unavailable() {
        Path lib = PgCluster.pgBin().resolveSibling("lib");
        if (!hasFile(lib, "libpljava-so-")) {
            return Optional.of("PL/Java is not installed in " + lib + " (test-env/run-tests installs it from ../shared/vendor;"
                    + " or installer/pljava.sh SOURCE --pg-config " + PgCluster.pgBin().resolve("pg_config") + ")");
        }
        if (!Files.exists(lib.resolve("mmsync_worker.so"))) {
            return Optional.of("the mmsync worker library is not installed in " + lib + " (installer/install.sh --pljava)");
        }
        if (!Files.exists(JAR)) {
            return Optional.of("the engine jar " + BUILT_JAR + " is not built yet (mvn package)");
        }
        if (!Files.exists(javaHome().resolve("lib/server/libjvm.so"))) {
            return Optional.of("no libjvm.so under " + javaHome());
        }
        return Optional.empty();
    }

    private static boolean hasFile(Path dir, String prefix) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.anyMatch(p -> p.getFileName().toString().startsWith(prefix));
        } catch (IOException e) {
            return false;
        }
    }

    static Path javaHome() {
        Path jdk17 = Path.of("/usr/lib/jvm/java-17-openjdk-amd64");
        return Files.isDirectory(jdk17) ? jdk17 : Path.of(System.getProperty("java.home"));
    }

    /** A cluster with the worker configured (not yet set up in {@link #DB}: see {@link #setUpNode}). */
    static PgCluster startNode(String name) {
        PgCluster.Builder b = PgCluster.builder(name)
                .setting("shared_preload_libraries", "mmsync_worker")
                .setting("mmsync.worker_database", DB)
                .setting("mmsync.worker_restart_seconds", "1")
                .setting("mmsync.worker_jar", JAR.toString())
                .setting("pljava.libjvm_location", javaHome().resolve("lib/server/libjvm.so").toString())
                .setting("pljava.vmoptions", "-Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1");
        return b.setting("pljava.policy_urls", "\"file:${org.postgresql.sysconfdir}/pljava.policy\",\"file:" + policy() + "\",\"=\"")
                .start();
    }

    /** installer/mmsync-pljava.policy for the test jar, next to it (readable by the server). */
    static synchronized Path policy() {
        Path policy = JAR.resolveSibling("mmsync-pljava.policy");
        try {
            Files.writeString(policy, Files.readString(ROOT.resolve("installer/mmsync-pljava.policy"))
                    .replace("@WORKER_JAR@", JAR.toString()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return policy;
    }

    /** Database app with the extension, {@code schemaSql}, PL/Java, the jar and the entry points. */
    static void setUpNode(PgCluster c, String schemaSql) {
        c.createDatabase(DB);
        c.execute(DB, "CREATE EXTENSION mmsync");
        if (!schemaSql.isBlank()) {
            c.execute(DB, schemaSql);
        }
        c.execute(DB, "CREATE EXTENSION pljava");
        c.execute(DB, "SELECT sqlj.install_jar('file:" + JAR + "', 'mmsync', true)");
        c.execute(DB, "SELECT sqlj.set_classpath('mmsync', 'mmsync')");
        try {
            c.execute(DB, Files.readString(ROOT.resolve("sql/pljava/mmsync-pljava.sql")));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static WorkerPair start(String schemaSql) {
        PgCluster b = startNode("blue");
        PgCluster g;
        try {
            g = startNode("green");
        } catch (RuntimeException e) {
            b.close();
            throw e;
        }
        WorkerPair p = new WorkerPair(b, g);
        try {
            setUpNode(b, schemaSql);
            setUpNode(g, schemaSql);
            b.execute(DB, "SELECT mmsync.add_node('blue', '" + b.conninfo(DB) + "', true)");
            b.execute(DB, "SELECT mmsync.add_node('green', '" + g.conninfo(DB) + "')");
        } catch (RuntimeException e) {
            p.close();
            throw e;
        }
        return p;
    }

    /** The schemas seed the same rows on both nodes: initial => 'none' says so. */
    void addSync() {
        blue.execute(DB, "SELECT mmsync.add_sync('app', '{blue,green}', initial => 'none')");
        until(Duration.ofSeconds(60), "sync pushed to green by blue's worker",
                () -> green.queryLong(DB, "SELECT count(*) FROM mmsync.syncs WHERE name = 'app' AND NOT removed") == 1);
    }

    /** Waits until each node's committed changes are applied at the other. */
    void awaitSynced() {
        for (int round = 0; round < 2; round++) {
            for (PgCluster c : List.of(blue, green)) {
                if (!"t".equals(c.queryString(DB, "SELECT mmsync.wait_synced('app', '120 seconds')"))) {
                    throw new AssertionError("node " + c.name() + " did not sync within 120 s; status: "
                            + c.queryString(DB, "SELECT string_agg(s::text, '; ') FROM mmsync.status() s"));
                }
            }
        }
    }

    /** Changes of {@code origin} applied at {@code at} (mmsync.progress counts each once). */
    static long applied(PgCluster at, String origin) {
        return at.queryLong(DB, "SELECT coalesce(sum(applied), 0) FROM mmsync.progress WHERE origin = '" + origin + "'");
    }

    static String fingerprint(PgCluster c, String table) {
        return c.queryString(DB, "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '-') FROM "
                + table + " t");
    }

    /** The worker's pid, or 0 when none runs. */
    static long workerPid(PgCluster c) {
        return c.queryLong("postgres", "SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE backend_type = 'mmsync worker'");
    }

    /** engine_host(): "worker", "agent" or "none". */
    static String engineHost(PgCluster c) {
        return c.queryString(DB, "SELECT host FROM mmsync.engine_host()");
    }

    /** Resident memory of a process in kB (/proc/PID/status VmRSS). */
    static long rssKb(long pid) {
        return procStatusKb(pid, "VmRSS");
    }

    /** Peak resident memory of a process in kB (VmHWM). */
    static long peakRssKb(long pid) {
        return procStatusKb(pid, "VmHWM");
    }

    private static long procStatusKb(long pid, String field) {
        try {
            Matcher m = Pattern.compile(field + ":\\s+(\\d+) kB").matcher(Files.readString(Path.of("/proc/" + pid + "/status")));
            return m.find() ? Long.parseLong(m.group(1)) : -1;
        } catch (IOException e) {
            return -1;
        }
    }

    /** No crash in the server log: no backend killed by a signal, no crash restart, no PANIC. */
    static void assertNoCrash(PgCluster c) {
        String log = log(c);
        for (String bad : List.of("terminated by signal", "PANIC", "double free", "terminating any other active server processes",
                "all server processes terminated; reinitializing")) {
            assertFalse(log.contains(bad), "server log of " + c.name() + " has \"" + bad + "\":\n" + tail(log));
        }
    }

    static String log(PgCluster c) {
        try {
            return Files.readString(c.logFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Lines of the server log that contain {@code s}. */
    static List<String> logLines(PgCluster c, String s) {
        List<String> out = new ArrayList<>();
        for (String line : log(c).split("\n")) {
            if (line.contains(s)) {
                out.add(line);
            }
        }
        return out;
    }

    private static String tail(String log) {
        return log.length() > 6000 ? log.substring(log.length() - 6000) : log;
    }

    static void until(Duration timeout, String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try {
                if (condition.getAsBoolean()) {
                    return;
                }
            } catch (RuntimeException e) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("timed out after " + timeout + " waiting for: " + what + " (last error: " + e + ")", e);
                }
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout + " waiting for: " + what);
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for: " + what, e);
            }
        }
    }

    @Override
    public void close() {
        try {
            blue.close();
        } finally {
            green.close();
        }
    }
}
