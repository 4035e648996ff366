package io.mmsync.health;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The endpoint refuses contradictory settings at start, with the setting and value in the message. */
@Timeout(10)
class HealthConfigTest {
    @Test
    void defaults() {
        HealthConfig c = HealthConfig.builder().build();
        assertEquals("127.0.0.1", c.bind());
        assertEquals(8008, c.port());
        assertEquals(Lag.ofSeconds(1), c.defaultLag());
        assertEquals(Duration.ofSeconds(3), c.handover());
    }

    @Test
    void refusesBadSettings() {
        assertRefused(b -> b.port(70000), "health port must be between 1 and 65535, not 70000");
        assertRefused(b -> b.bind("no-such-host.invalid"), "does not resolve");
        assertRefused(b -> b.tick(Duration.ofSeconds(2)), "must be at least two watcher ticks");
        assertRefused(b -> b.handover(Duration.ofMillis(600)), "handover 600 ms must be at least two watcher ticks (1000 ms)");
        assertRefused(b -> b.probeTimeout(Duration.ofMillis(10)), "probe timeout must be between 100 ms and 10 s, not 10 ms");
        assertRefused(b -> b.livenessMax(Duration.ofSeconds(5)), "liveness limit must be at least 15 s");
        assertRefused(b -> b.stickiness(Duration.ofSeconds(1)), "stickiness must be at least 2 s");
    }

    private static void assertRefused(UnaryOperator<HealthConfig.Builder> change, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> change.apply(HealthConfig.builder()).build());
        assertTrue(e.getMessage().contains(message), e.getMessage());
    }
}
