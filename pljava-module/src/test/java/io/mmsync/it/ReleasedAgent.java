package io.mmsync.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The agent of a released version, as an operator runs it before an upgrade: its jar built once
 * from this repository's history (the release's commit) and cached outside the clone
 * ({@code /var/cache/mmsync/released}, else the temp dir), started as a child JVM.
 */
final class ReleasedAgent implements AutoCloseable {
    /** Releases and the commits they were built from. */
    static final Map<String, String> COMMITS = Map.of("0.1.0", "1da165f200378aea591cf91e4d740f67137827f3");

    private final Process process;

    private ReleasedAgent(Process process) {
        this.process = process;
    }

    /** Starts the released agent for one node; its output goes to {@code log}. */
    static ReleasedAgent start(Path jar, String conninfo, Path log) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(List.of(java, "-Xmx256m", "-jar", jar.toString(), "agent", "--db", conninfo,
                "--poll-ms", "200"));
        pb.redirectErrorStream(true);
        pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        return new ReleasedAgent(pb.start());
    }

    /**
     * The jar of {@code version}, built from its commit if not cached yet; empty with the reason
     * printed when this clone lacks the commit (a shallow clone).
     */
    static synchronized Optional<Path> jar(String version) throws IOException, InterruptedException {
        String commit = COMMITS.get(version);
        if (commit == null) {
            throw new IllegalArgumentException("no commit known for release " + version);
        }
        Path cache = cacheDir().resolve(commit + ".jar");
        if (Files.isRegularFile(cache)) {
            return Optional.of(cache);
        }
        Path root = Path.of(System.getProperty("mmsync.root", "..")).toAbsolutePath().normalize();
        if (run(root, "git", "cat-file", "-e", commit + "^{commit}") != 0) {
            System.err.println("ReleasedAgent: commit " + commit + " of release " + version + " is not in " + root);
            return Optional.empty();
        }
        Path src = Files.createTempDirectory("mmsync-release-" + version);
        try {
            if (run(src, "bash", "-c", "git -C '" + root + "' archive --format=tar " + commit + " | tar -x -C '" + src + "'") != 0) {
                throw new IllegalStateException("git archive of " + commit + " failed");
            }
            if (run(src, "mvn", "-o", "-q", "-B", "-DskipTests", "package") != 0
                    && run(src, "mvn", "-q", "-B", "-DskipTests", "package") != 0) {
                throw new IllegalStateException("building release " + version + " (" + commit + ") failed; see the test output");
            }
            Path tmp = Files.createTempFile(cacheDir(), commit, ".part");
            Files.copy(src.resolve("pljava-module/target/mmsync.jar"), tmp, StandardCopyOption.REPLACE_EXISTING);
            Files.move(tmp, cache, StandardCopyOption.ATOMIC_MOVE);
            return Optional.of(cache);
        } finally {
            run(Path.of("/"), "rm", "-rf", src.toString());
        }
    }

    private static Path cacheDir() throws IOException {
        Path preferred = Path.of("/var/cache/mmsync/released");
        try {
            Files.createDirectories(preferred);
            if (Files.isWritable(preferred)) {
                return preferred;
            }
        } catch (IOException e) {
            // not root: the temp dir serves
        }
        return Files.createDirectories(Path.of(System.getProperty("java.io.tmpdir"), "mmsync-released"));
    }

    private static int run(Path dir, String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).inheritIO().start();
        if (!p.waitFor(10, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new IllegalStateException("timed out: " + String.join(" ", cmd));
        }
        return p.exitValue();
    }

    /** SIGTERM, as systemd stops it. */
    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
