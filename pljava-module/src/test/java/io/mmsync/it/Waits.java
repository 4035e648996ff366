package io.mmsync.it;

import java.time.Duration;
import java.util.function.BooleanSupplier;

/** Waiting on conditions (never on fixed sleeps), with a deadline. */
final class Waits {
    private Waits() {
    }

    static void until(Duration timeout, String what, BooleanSupplier condition) {
        until(timeout, Duration.ofMillis(20), what, condition);
    }

    /** As {@link #until(Duration, String, BooleanSupplier)}, asking every {@code every} (for costly conditions). */
    static void until(Duration timeout, Duration every, String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + timeout.toNanos();
        RuntimeException last = null;
        while (System.nanoTime() < deadline) {
            try {
                if (condition.getAsBoolean()) {
                    return;
                }
                last = null;
            } catch (RuntimeException e) {
                last = e;
            }
            try {
                Thread.sleep(every.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted while waiting for " + what);
            }
        }
        throw new AssertionError("timed out after " + timeout.toSeconds() + " s waiting for " + what, last);
    }
}
