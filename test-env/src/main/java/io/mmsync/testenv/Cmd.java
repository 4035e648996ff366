package io.mmsync.testenv;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs an external command with a hard timeout and captures its combined stdout/stderr.
 *
 * <p>Output goes to a temp file rather than a pipe, so a daemon forked by the command
 * (e.g. the postmaster started by {@code pg_ctl start}) can never block us by keeping a pipe open.
 */
public final class Cmd {

    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(120);

    /** Result of a finished command. */
    public record Result(List<String> command, int exitCode, String output) {
        public boolean ok() {
            return exitCode == 0;
        }
    }

    /** Thrown when a command fails, times out or cannot be started. */
    public static final class CmdException extends RuntimeException {
        private final transient Result result;

        CmdException(String message, Result result, Throwable cause) {
            super(message, cause);
            this.result = result;
        }

        /** The result, or null if the command never ran to completion. */
        public Result result() {
            return result;
        }
    }

    private Cmd() {
    }

    /** Runs the command; throws {@link CmdException} on non-zero exit, timeout or I/O failure. */
    public static Result run(List<String> command, Path workDir, Duration timeout) {
        Result r = runAllowFailure(command, workDir, timeout);
        if (!r.ok()) {
            throw new CmdException("command failed (exit " + r.exitCode() + "): " + String.join(" ", command)
                    + "\n--- output ---\n" + r.output(), r, null);
        }
        return r;
    }

    /** Runs the command and returns its result whatever the exit code; throws only on timeout or I/O failure. */
    public static Result runAllowFailure(List<String> command, Path workDir, Duration timeout) {
        List<String> cmd = List.copyOf(command);
        String shown = String.join(" ", cmd);
        Path out = null;
        Process p = null;
        try {
            out = Files.createTempFile("mmsync-cmd-", ".out");
            ProcessBuilder pb = new ProcessBuilder(new ArrayList<>(cmd))
                    .redirectErrorStream(true)
                    .redirectOutput(out.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            if (workDir != null) {
                pb.directory(workDir.toFile());
            }
            p = pb.start();
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
                String o = readQuietly(out);
                throw new CmdException("command timed out after " + timeout.toSeconds() + "s: " + shown
                        + "\n--- output ---\n" + o, new Result(cmd, -1, o), null);
            }
            return new Result(cmd, p.exitValue(), readQuietly(out));
        } catch (IOException e) {
            throw new CmdException("could not run command: " + shown + ": " + e, null, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            if (p != null) {
                p.destroyForcibly();
            }
            throw new CmdException("interrupted while running: " + shown, null, e);
        } finally {
            if (out != null) {
                try {
                    Files.deleteIfExists(out);
                } catch (IOException ignored) {
                    // best effort
                }
            }
        }
    }

    static String readQuietly(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException | RuntimeException e) {
            try {
                return new String(Files.readAllBytes(file), StandardCharsets.ISO_8859_1);
            } catch (IOException e2) {
                return "<could not read output: " + e2 + ">";
            }
        }
    }

    /** Last {@code maxLines} lines of a text file, or a placeholder if it can't be read. */
    public static String tail(Path file, int maxLines) {
        if (file == null || !Files.exists(file)) {
            return "<no file " + file + ">";
        }
        String[] lines = readQuietly(file).split("\n", -1);
        int from = Math.max(0, lines.length - maxLines);
        return String.join("\n", java.util.Arrays.copyOfRange(lines, from, lines.length));
    }
}
