package io.mmsync.engine.model;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Strategies and link states map to exactly the texts the extension's CHECK constraints allow, and back. */
class SqlTextTest {
    @Test
    void conflictStrategiesAreTheTextsOfMmsyncSyncsConflict() {
        assertEquals(List.of("latest", "prefer", "keep_local", "apply_remote", "abort"),
                Arrays.stream(ConflictStrategy.values()).map(ConflictStrategy::sql).collect(Collectors.toList()));
        for (ConflictStrategy s : ConflictStrategy.values()) {
            assertEquals(s, ConflictStrategy.fromSql(s.sql()));
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ConflictStrategy.fromSql("newest"));
        assertTrue(e.getMessage().contains("\"newest\"") && e.getMessage().contains("mmsync.syncs"), e.getMessage());
    }

    @Test
    void linkStatesAreTheTextsOfMmsyncLinksState() {
        assertEquals(List.of("starting", "connecting", "running", "disconnected", "paused", "error"),
                Arrays.stream(LinkState.values()).map(LinkState::sql).collect(Collectors.toList()));
        for (LinkState s : LinkState.values()) {
            assertEquals(s, LinkState.fromSql(s.sql()));
        }
        assertThrows(IllegalArgumentException.class, () -> LinkState.fromSql("Running"));
    }
}
