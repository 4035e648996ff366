package io.mmsync.it;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Waiting on conditions (never on fixed sleeps), with a deadline: the one wait helper of all tests. */
public final class Waits {
    private Waits() {
    }

    public static void until(Duration timeout, String what, BooleanSupplier condition) {
        until(timeout, Duration.ofMillis(20), what, condition, () -> null);
    }

    /** As {@link #until(Duration, String, BooleanSupplier)}; a timeout also reports {@code state} (the last state seen). */
    public static void until(Duration timeout, String what, BooleanSupplier condition, Supplier<String> state) {
        until(timeout, Duration.ofMillis(20), what, condition, state);
    }

    /** As {@link #until(Duration, String, BooleanSupplier)}, asking every {@code every} (for costly conditions). */
    public static void until(Duration timeout, Duration every, String what, BooleanSupplier condition) {
        until(timeout, every, what, condition, () -> null);
    }

    private static void until(Duration timeout, Duration every, String what, BooleanSupplier condition,
                              Supplier<String> state) {
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
        String seen = state.get();
        throw new AssertionError("timed out after " + timeout.toMillis() + " ms waiting for " + what
                + (seen == null ? "" : "; last state: " + seen) + (last == null ? "" : "; last error: " + last), last);
    }
}
