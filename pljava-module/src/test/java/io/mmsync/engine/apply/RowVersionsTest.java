package io.mmsync.engine.apply;

import io.mmsync.engine.model.Op;
import org.junit.jupiter.api.Test;

import java.time.Instant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The order of row versions of syncs of three or more nodes: the same on every node. */
class RowVersionsTest {
    private static final Instant T = Instant.parse("2026-12-07T01:00:00.000001Z");

    @Test
    void laterWinsAndATieGoesToTheNameSortingFirst() {
        assertTrue(RowVersions.greater(T.plusNanos(1000), "red", T, "blue"));
        assertFalse(RowVersions.greater(T, "blue", T.plusNanos(1000), "red"));
        assertTrue(RowVersions.greater(T, "blue", T, "green"));
        assertFalse(RowVersions.greater(T, "green", T, "blue"));
        assertFalse(RowVersions.greater(T, "blue", T, "blue"), "a version is not greater than itself");
    }

    @Test
    void maxIsTheSameWhateverTheOrder() {
        RowVersions.Version a = new RowVersions.Version(T, "green", Op.UPDATE);
        RowVersions.Version b = new RowVersions.Version(T, "blue", Op.DELETE);
        RowVersions.Version c = new RowVersions.Version(T.minusSeconds(1), "red", Op.UPDATE);
        assertEquals(b, a.max(b));
        assertEquals(b, b.max(a));
        assertEquals(b, c.max(a).max(b));
        assertEquals(b, b.max(c).max(a));
        assertEquals(a, a.max(null));
    }
}
