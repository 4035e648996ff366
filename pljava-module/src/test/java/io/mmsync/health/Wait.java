package io.mmsync.health;

import java.time.Duration;
import java.util.function.Supplier;

/** Waits on a condition (polling), never for a fixed time; fails with what was awaited and the last state. */
final class Wait {
    private Wait() {
    }

    static void until(Duration max, String what, Supplier<Boolean> condition) {
        until(max, what, condition, () -> "");
    }

    static void until(Duration max, String what, Supplier<Boolean> condition, Supplier<String> state) {
        long deadline = System.nanoTime() + max.toNanos();
        RuntimeException last = null;
        while (true) {
            try {
                if (Boolean.TRUE.equals(condition.get())) {
                    return;
                }
                last = null;
            } catch (RuntimeException e) {
                last = e;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("waited " + max.toMillis() + " ms for: " + what + "; last state: " + state.get()
                        + (last == null ? "" : "; last error: " + last), last);
            }
            try {
                Thread.sleep(25);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted while waiting for: " + what, e);
            }
        }
    }
}
