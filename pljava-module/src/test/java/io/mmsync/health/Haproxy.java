package io.mmsync.health;

import io.mmsync.it.Waits;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The real Debian HAProxy in the foreground with a config written by installer/haproxy-cfg. */
final class Haproxy implements AutoCloseable {
    static final String BIN = "/usr/sbin/haproxy";

    final int port;
    final Path config;
    final Path log;
    private final Process process;

    private Haproxy(int port, Path config, Path log, Process process) {
        this.port = port;
        this.config = config;
        this.log = log;
        this.process = process;
    }

    static Path root() {
        return Path.of(System.getProperty("mmsync.root", "..")).toAbsolutePath().normalize();
    }

    /** Runs installer/haproxy-cfg with {@code args} and returns its exit code; output goes to {@code out}. */
    static int generate(List<String> args, Path out) {
        List<String> cmd = new ArrayList<>(List.of("bash", root().resolve("installer/haproxy-cfg").toString()));
        cmd.addAll(args);
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("haproxy-cfg did not finish: " + cmd);
            }
            return p.exitValue();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Generates the config for the pair and starts HAProxy on a free loopback port. */
    static Haproxy start(HealthPair pair, Path dir) throws IOException {
        int port = freePort();
        Path cfg = dir.resolve("haproxy.cfg");
        Path out = dir.resolve("haproxy-cfg.out");
        int rc = generate(List.of(
                "--blue", "127.0.0.1:" + pair.blue.pg.port(), "--green", "127.0.0.1:" + pair.green.pg.port(),
                "--blue-health", "127.0.0.1:" + pair.blue.health().getPort(),
                "--green-health", "127.0.0.1:" + pair.green.health().getPort(),
                "--listen", "127.0.0.1:" + port, "-o", cfg.toString()), out);
        if (rc != 0) {
            throw new IllegalStateException("haproxy-cfg failed: " + Files.readString(out));
        }
        Path log = dir.resolve("haproxy.log");
        Process p = new ProcessBuilder(BIN, "-db", "-f", cfg.toString()).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        Haproxy h = new Haproxy(port, cfg, log, p);
        Waits.until(Duration.ofSeconds(60), "haproxy listening on " + port, () -> {
            if (!p.isAlive()) {
                throw new IllegalStateException("haproxy exited: " + h.logText());
            }
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 200);
                return true;
            } catch (IOException e) {
                return false;
            }
        });
        return h;
    }

    String logText() {
        try {
            return Files.exists(log) ? Files.readString(log) : "";
        } catch (IOException e) {
            return "<cannot read " + log + ": " + e + ">";
        }
    }

    static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
    }
}
