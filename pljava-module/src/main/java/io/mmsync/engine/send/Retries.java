package io.mmsync.engine.send;

import io.mmsync.engine.error.ErrorPolicy;
import io.mmsync.engine.time.Clock;

import java.time.Duration;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * A link's retries after a failed session: capped back-off (100 ms doubling to 5 s, at least the
 * error kind's minimum), and a log line per new error or once a minute for one that comes back.
 */
final class Retries {
    private static final Logger LOG = Logger.getLogger(Link.class.getName());

    private final Backoff backoff = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(5));
    private final String logPrefix;
    private final Clock clock;
    private String lastLogged;
    private long lastLoggedAt;

    /** A failed session: what kind of error, its description, how long to wait before the next. */
    record Failure(ErrorPolicy.Kind kind, String message, Duration delay) {
    }

    Retries(String logPrefix, Clock clock) {
        this.logPrefix = logPrefix;
        this.clock = clock;
    }

    /**
     * The session got something done (a batch applied, or nothing left to send): the back-off
     * starts again from its first step. Not on connect alone, so that an error that comes back
     * right after every reconnect (a schema mismatch) is retried at a growing interval and logged
     * once a minute, not every two seconds.
     */
    void working() {
        if (backoff.failures() > 0) {
            LOG.info(logPrefix + "working again after " + backoff.failures() + " failed attempts");
            backoff.reset();
            lastLogged = null;
        }
    }

    /** Counts and logs a failed session; the wait before the next. */
    Failure failed(Exception e) {
        ErrorPolicy.Kind kind = ErrorPolicy.classify(e);
        String msg = ErrorPolicy.describe(e);
        Duration delay = backoff.nextDelay();
        Duration min = ErrorPolicy.minimumWait(kind);
        if (delay.compareTo(min) < 0) {
            delay = min;
        }
        long now = clock.nanoTime();
        if (!msg.equals(lastLogged) || now - lastLoggedAt > Duration.ofMinutes(1).toNanos()) {
            LOG.log(backoff.failures() == 1 ? Level.WARNING : Level.INFO, logPrefix + kind.name().toLowerCase()
                    + " error (attempt " + backoff.failures() + ", retrying in " + delay.toMillis() + " ms): " + msg,
                    LOG.isLoggable(Level.FINE) ? e : null);
            lastLogged = msg;
            lastLoggedAt = now;
        }
        return new Failure(kind, msg, delay);
    }
}
