package io.mmsync.it;

import io.mmsync.engine.Engine;
import io.mmsync.engine.EngineConfig;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * An mmsync agent for one node in a test: either the engine on threads of this JVM, or the real
 * agent command in a child JVM (which a test can SIGKILL).
 */
abstract class Agent implements AutoCloseable {
    abstract void stop();

    @Override
    public void close() {
        stop();
    }

    static Agent inProcess(String conninfo) {
        return new InProcess(conninfo);
    }

    static Process process(String conninfo, Path log) {
        return process(conninfo, log, Map.of());
    }

    /** The agent command in a child JVM (heap capped as in production), {@code env} added. */
    static Process process(String conninfo, Path log, Map<String, String> env) {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(List.of(java, "-Xmx256m", "-cp", System.getProperty("java.class.path"),
                "io.mmsync.agent.Main", "agent", "--db", conninfo, "--poll-ms", "200"));
        pb.environment().putAll(env);
        pb.redirectErrorStream(true);
        pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        try {
            return pb.start();
        } catch (IOException e) {
            throw new IllegalStateException("cannot start agent process", e);
        }
    }

    /** The agent as a child JVM, as operators run it. */
    static final class Child extends Agent {
        private final String conninfo;
        private final Path log;
        private final Map<String, String> env;
        private Process process;

        Child(String conninfo, Path log) {
            this(conninfo, log, Map.of());
        }

        Child(String conninfo, Path log, Map<String, String> env) {
            this.conninfo = conninfo;
            this.log = log;
            this.env = Map.copyOf(env);
            start();
        }

        void start() {
            process = process(conninfo, log, env);
        }

        boolean isAlive() {
            return process.isAlive();
        }

        /** The process id of the agent running now. */
        long pid() {
            return process.pid();
        }

        /** Peak resident set size of the agent process so far (VmHWM), in KiB; -1 if unknown. */
        long peakRssKib() {
            try {
                for (String line : Files.readAllLines(Path.of("/proc", Long.toString(process.pid()), "status"))) {
                    if (line.startsWith("VmHWM:")) {
                        return Long.parseLong(line.replaceAll("[^0-9]", ""));
                    }
                }
            } catch (IOException | RuntimeException e) {
                return -1;
            }
            return -1;
        }

        /** SIGKILL: no shutdown hook runs, connections drop mid-transaction. */
        void kill9() throws InterruptedException {
            process.destroyForcibly();
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                throw new IllegalStateException("agent did not die");
            }
        }

        String log() throws IOException {
            return Files.readString(log);
        }

        @Override
        void stop() {
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

    private static final class InProcess extends Agent {
        private final Engine engine;
        private final Thread thread;

        InProcess(String conninfo) {
            engine = new Engine(EngineConfig.builder(conninfo).poll(Duration.ofMillis(200)).pageRows(1000).build(),
                    r -> {
                        Thread t = new Thread(r);
                        t.setDaemon(true);
                        return t;
                    });
            thread = new Thread(engine, "test-engine");
            thread.setDaemon(true);
            thread.start();
        }

        @Override
        void stop() {
            engine.stop();
            try {
                thread.join(TimeUnit.SECONDS.toMillis(20));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    static String classPathHint() {
        return System.getProperty("java.class.path").replace(File.pathSeparatorChar, '\n');
    }
}
