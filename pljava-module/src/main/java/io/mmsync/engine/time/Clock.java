package io.mmsync.engine.time;

import java.time.Instant;

/**
 * The time as the engine and the health endpoint read it, given by their host so that tests
 * (and a host such as a PL/Java background worker) can control it: a monotonic clock for
 * intervals and the wall clock for instants shown to people.
 */
public interface Clock {
    /** The running system's clocks ({@link System#nanoTime()}, {@link Instant#now()}). */
    Clock SYSTEM = new Clock() {
        @Override
        public long nanoTime() {
            return System.nanoTime();
        }

        @Override
        public Instant instant() {
            return Instant.now();
        }
    };

    /** Monotonic nanoseconds, only meaningful as a difference (like {@link System#nanoTime()}). */
    long nanoTime();

    /** The current instant of the wall clock. */
    Instant instant();

    /** Nanoseconds since {@code start}, a value of {@link #nanoTime()}. */
    default long nanosSince(long start) {
        return nanoTime() - start;
    }
}
