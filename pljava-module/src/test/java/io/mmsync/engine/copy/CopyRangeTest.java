package io.mmsync.engine.copy;

import io.mmsync.engine.model.TableRef;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The WHERE condition of a key range: lower bound inclusive, upper exclusive, open ends unbounded. */
class CopyRangeTest {
    static final TableRef T = new TableRef("public", "t");

    @Test
    void rangesCoverTheKeySpaceWithoutOverlap() {
        String key = "ROW(t.\"a\", t.\"b\")";
        assertEquals("true", new CopyRange(T, 0, null, null, null).where(key));
        assertEquals("true AND ROW(t.\"a\", t.\"b\") < ROW('x'::text, '5'::integer)",
                new CopyRange(T, 0, null, "ROW('x'::text, '5'::integer)", null).where(key));
        assertEquals("ROW(t.\"a\", t.\"b\") >= ROW('x'::text, '5'::integer) AND ROW(t.\"a\", t.\"b\") < ROW('y'::text, '1'::integer)",
                new CopyRange(T, 1, "ROW('x'::text, '5'::integer)", "ROW('y'::text, '1'::integer)", null).where(key));
        assertEquals("ROW(t.\"a\", t.\"b\") >= ROW('y'::text, '1'::integer)",
                new CopyRange(T, 2, "ROW('y'::text, '1'::integer)", null, null).where(key));
        assertEquals("true", new CopyRange(T, 0, null, null, null).where(null), "a table without a key is one range");
    }
}
