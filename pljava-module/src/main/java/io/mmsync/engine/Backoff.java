package io.mmsync.engine;

import java.time.Duration;

/** Capped exponential back-off: first delay doubling up to the cap; reset after success. */
final class Backoff {
    private final long firstMillis;
    private final long capMillis;
    private long next;
    private int failures;

    Backoff(Duration first, Duration cap) {
        this.firstMillis = first.toMillis();
        this.capMillis = cap.toMillis();
        this.next = firstMillis;
    }

    /** The delay to wait after one more failure. */
    Duration nextDelay() {
        long d = next;
        next = Math.min(capMillis, next * 2);
        failures++;
        return Duration.ofMillis(d);
    }

    int failures() {
        return failures;
    }

    void reset() {
        next = firstMillis;
        failures = 0;
    }
}
