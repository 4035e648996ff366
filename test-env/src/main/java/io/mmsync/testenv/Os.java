package io.mmsync.testenv;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.logging.Logger;
import java.util.stream.Stream;

/** Small OS helpers for {@link PgCluster} (Linux: uses /proc). */
final class Os {

    private static final Logger LOG = Logger.getLogger(Os.class.getName());

    private Os() {
    }

    static boolean isRoot() {
        if ("root".equals(System.getProperty("user.name"))) {
            return true;
        }
        try {
            return Integer.valueOf(0).equals(Files.getAttribute(Path.of("/proc/self"), "unix:uid"));
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("no free port on 127.0.0.1", e);
        }
    }

    /** True if the process exists and is not a zombie (a SIGKILLed postmaster may linger unreaped). */
    static boolean alive(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            char state = stat.charAt(stat.lastIndexOf(')') + 2);
            return state != 'Z' && state != 'X';
        } catch (NoSuchFileException e) {
            return false;
        } catch (IOException | RuntimeException e) {
            return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
        }
    }

    /** Working directory of a process, if it can be read. */
    static Optional<Path> cwdOf(long pid) {
        try {
            return Optional.of(Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "cwd")));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** Live processes whose working directory is {@code dir} (every postgres server process chdirs to PGDATA). */
    static List<ProcessHandle> processesIn(Path dir) {
        List<ProcessHandle> out = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            procs.map(p -> p.getFileName().toString()).filter(f -> f.matches("\\d+")).map(Long::parseLong)
                    .filter(pid -> cwdOf(pid).map(dir::equals).orElse(false))
                    .forEach(pid -> ProcessHandle.of(pid).filter(ProcessHandle::isAlive).ifPresent(out::add));
        } catch (IOException | UncheckedIOException e) {
            LOG.fine("cannot list /proc: " + e);
        }
        return out;
    }

    /** Waits until no process runs in {@code dir}; SIGKILLs stragglers after {@code waitMs}. */
    static void awaitNoProcessesIn(Path dir, long waitMs) {
        long deadline = System.currentTimeMillis() + waitMs;
        List<ProcessHandle> left;
        while (!(left = processesIn(dir)).isEmpty()) {
            if (System.currentTimeMillis() > deadline) {
                LOG.warning("processes " + left + " still running in " + dir + "; sending SIGKILL");
                left.forEach(ProcessHandle::destroyForcibly);
                deadline = Long.MAX_VALUE;
            }
            sleep(50);
        }
    }

    static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException | UncheckedIOException e) {
            throw new IllegalStateException("cannot delete " + root + ": " + e, e);
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }
}
