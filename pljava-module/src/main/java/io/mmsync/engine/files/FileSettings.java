package io.mmsync.engine.files;

import io.mmsync.engine.time.Clock;

import java.time.Duration;

/**
 * What the file sync takes from its host: how often to look at the peer ({@code poll}), the
 * heartbeat, how long a top-level entry must stay unchanged before it is recorded ({@code settle},
 * 1 s; system property {@code mmsync.files.settleMs}), the full rescan under the watcher
 * ({@code rescan}, 30 s; {@code mmsync.files.rescanMs}), and the clock.
 */
public record FileSettings(Duration poll, Duration heartbeat, Duration settle, Duration rescan, Clock clock) {
    public FileSettings {
        if (settle.isNegative() || rescan.isNegative() || rescan.isZero() || poll.isNegative() || poll.isZero()) {
            throw new IllegalArgumentException("file sync settings must be positive: poll " + poll + ", settle " + settle
                    + ", rescan " + rescan);
        }
    }

    /** With settle and rescan from the system properties (or their defaults). */
    public static FileSettings of(Duration poll, Duration heartbeat, Clock clock) {
        return new FileSettings(poll, heartbeat, Duration.ofMillis(Long.getLong("mmsync.files.settleMs", 1_000)),
                Duration.ofMillis(Long.getLong("mmsync.files.rescanMs", 30_000)), clock);
    }
}
