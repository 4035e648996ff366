package io.mmsync.health;

import io.mmsync.engine.Engine;

import java.time.Instant;

/** What the health endpoint needs from the engine: when its supervising loop last ran (no SQL). */
@FunctionalInterface
public interface EngineView {
    Instant lastLoop();

    static EngineView of(Engine engine) {
        return engine::lastLoop;
    }
}
