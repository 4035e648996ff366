package io.mmsync.engine.send;

import java.time.Duration;

/** Capped exponential back-off: first delay doubling up to the cap; reset after success. */
public final class Backoff {
    private final long firstMillis;
    private final long capMillis;
    private long next;
    private int failures;

    public Backoff(Duration first, Duration cap) {
        this.firstMillis = first.toMillis();
        this.capMillis = cap.toMillis();
        this.next = firstMillis;
    }

    /** The delay to wait after one more failure. */
    public Duration nextDelay() {
        long d = next;
        next = Math.min(capMillis, next * 2);
        failures++;
        return Duration.ofMillis(d);
    }

    public int failures() {
        return failures;
    }

    public void reset() {
        next = firstMillis;
        failures = 0;
    }
}
