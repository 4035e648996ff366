package io.mmsync.engine.send;

import io.mmsync.engine.time.Clock;

import java.time.Duration;
import java.util.Objects;

/**
 * What a link runs with: page bounds, poll intervals (see {@link Wakeup}), heartbeat, and the
 * clock of its host. The engine makes it from its validated {@code EngineConfig}.
 */
public record LinkSettings(int pageRows, long pageBytes, Duration poll, Duration activePoll, Duration idleAfter,
                           Duration heartbeat, Clock clock) {
    public LinkSettings {
        Objects.requireNonNull(poll, "poll");
        Objects.requireNonNull(activePoll, "activePoll");
        Objects.requireNonNull(idleAfter, "idleAfter");
        Objects.requireNonNull(heartbeat, "heartbeat");
        Objects.requireNonNull(clock, "clock");
    }
}
