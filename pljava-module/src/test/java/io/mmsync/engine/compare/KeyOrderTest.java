package io.mmsync.engine.compare;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The merge of both nodes' key lists relies on Java ordering keys exactly as PostgreSQL's
 * COLLATE "C" does (bytes of UTF-8), which String.compareTo does not for characters beyond U+FFFF.
 */
class KeyOrderTest {
    @Test
    void codePointOrderIsUtf8ByteOrder() {
        List<String> keys = new ArrayList<>(List.of("{\"id\": \"b\"}", "{\"id\": \"a\"}", "{\"id\": \"\uFB01\"}",
                "{\"id\": \"\uD83D\uDE00\"}", "{\"id\": \"\u00fc\"}", "{\"id\": \"a\\\"b\"}", "{\"id\": 10}", "{\"id\": 9}", "{\"id\": \"ab\"}"));
        List<String> byJava = new ArrayList<>(keys);
        byJava.sort(TableCompare::compareCodePoints);
        List<String> byBytes = new ArrayList<>(keys);
        byBytes.sort((x, y) -> Arrays.compareUnsigned(x.getBytes(StandardCharsets.UTF_8), y.getBytes(StandardCharsets.UTF_8)));
        assertEquals(byBytes, byJava);
        // where String.compareTo disagrees: U+FB01 sorts before U+1F600 in UTF-16 units, after it in bytes
        assertEquals(-1, Integer.signum(TableCompare.compareCodePoints("\uFB01", "\uD83D\uDE00")));
        assertEquals(1, Integer.signum("\uFB01".compareTo("\uD83D\uDE00")));
        assertEquals(0, TableCompare.compareCodePoints("same", "same"));
        assertEquals(-1, Integer.signum(TableCompare.compareCodePoints("pre", "prefix")));
    }
}
