package io.mmsync.engine.apply;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** Row images (as jsonb prints them) to COPY text; CopyCatchUpIT checks the round trip through PostgreSQL. */
class CopyTextTest {
    private static final List<String> COLS = List.of("id", "t", "j", "jb", "a", "n");

    private static String encode(String... rows) {
        byte[] b = CopyText.encode(List.of(rows), Function.identity(), COLS, "ssjbas");
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }

    @Test
    void scalarsStringsAndEscapes() {
        assertEquals("1\ttab\\there\\nnl\\\\bs \u00fc\u20ac\uD83D\uDE00 \"q\"\t\\N\t\\N\t\\N\t\\N\n",
                encode("{\"t\": \"tab\\there\\nnl\\\\bs \\u00fc\u20ac\uD83D\uDE00 \\\"q\\\"\", \"id\": 1}"));
        assertEquals("2\t\\\\x00ff\t\\N\t\\N\t\\N\t1.50\n", encode("{\"id\": 2, \"n\": 1.50, \"t\": \"\\\\x00ff\", \"extra\": {\"x\": [1, \"]\"]}}"));
        assertEquals("3\ttrue\t\\N\t\\N\t\\N\t-1e+100\n", encode("{\"id\": 3, \"t\": true, \"n\": -1e+100, \"j\": null}"));
        // values copied in bulk from the image (no escapes) next to decoded ones, in one run
        assertEquals("14\t\t\\N\t\\N\t\\N\t0\n15\t\u00fc\u20ac plain\t\\N\t\\N\t\\N\t\\N\n16\tx\\ty\t\\N\t\\N\t\\N\t2\n",
                encode("{\"n\": 0, \"t\": \"\", \"id\": 14}", "{\"t\": \"\u00fc\u20ac plain\", \"id\": 15}",
                        "{\"n\": 2, \"t\": \"x\\ty\", \"id\": 16}"));
    }

    @Test
    void jsonJsonbAndArrays() {
        assertEquals("4\t\\N\t{\"a\" : 1,  \"a\": \"x\\\\ty\"}\t{\"k\": [1, \"\\\\\"\", null]}\t{{\"1\",\"2\"},{\"3\",NULL}}\t\\N\n",
                encode("{\"a\": [[1, 2], [3, null]], \"j\": \"{\\\"a\\\" : 1,  \\\"a\\\": \\\"x\\\\ty\\\"}\", "
                        + "\"id\": 4, \"jb\": {\"k\": [1, \"\\\"\", null]}}"));
        assertEquals("5\t\\N\t\\N\t\\N\t{\"a,b\",\"{c}\",\"back\\\\\\\\slash\",\"\\\\\"q\\\\\"\",NULL,\"NULL\",\"\"}\t\\N\n",
                encode("{\"a\": [\"a,b\", \"{c}\", \"back\\\\slash\", \"\\\"q\\\"\", null, \"NULL\", \"\"], \"id\": 5}"));
        assertEquals("6\t\\N\t\\N\t\\N\t{}\t\\N\n", encode("{\"a\": [], \"id\": 6}"));
    }

    @Test
    void keysInAnyOrderEscapedOrUnknown() {
        // rows of one run whose keys come in different orders (the column guess misses), an escaped
        // key, keys of no column (skipped, however nested), and JSON escapes of every kind in a value
        assertEquals("11\ta\t\\N\t\\N\t\\N\t\\N\n"
                        + "12\tb\t\\N\t\\N\t\\N\t7\n"
                        + "13\t/\"\b\f\\n\\r\\t\\\\\u0001\t\\N\t\\N\t\\N\t\\N\n",
                encode("{\"t\": \"a\", \"id\": 11, \"zz\": [{\"id\": 1}, \"}\"]}",
                        "{\"n\": 7, \"id\": 12, \"\\u0074\": \"b\", \"i\": {\"t\": \"x\"}}",
                        "{\"id\": 13, \"t\": \"\\/\\\"\\b\\f\\n\\r\\t\\\\\\u0001\"}"));
    }

    @Test
    void keysAsJson() {
        assertEquals("\"plain\"", JsonText.string(new StringBuilder(), "plain").toString());
        assertEquals("\"a\\u001fb \\\"q\\\" \\\\ \\n\\t\\r \\u0000 \u00fc\u20ac\"",
                JsonText.string(new StringBuilder(), "a\u001fb \"q\" \\ \n\t\r \u0000 \u00fc\u20ac").toString());
        // what PostgreSQL reads back is the key: parsed here with Gson, as jsonb would
        String key = "1\u001f2 \"x\" \\ \n \u0007";
        assertEquals(key, com.google.gson.JsonParser.parseString(JsonText.string(new StringBuilder(), key).toString()).getAsString());
    }

    @Test
    void valuesCopyTextCannotCarryFallBack() {
        assertNull(encode("{\"id\": 7, \"t\": {\"composite\": 1}}"), "an object for a scalar column");
        assertNull(encode("{\"id\": 8, \"a\": [{\"x\": 1}]}"), "an object in an array");
        assertNull(encode("{\"id\": 9, \"j\": {\"x\": 1}}"), "a json column whose text the trigger did not keep");
        assertNull(encode("{\"id\": 10, \"t\": \"unterminated}"), "malformed");
    }

    @Test
    void encodesACatchUpPage() {
        List<String> rows = new ArrayList<>();
        for (int i = 0; i < 100_000; i++) {
            rows.add("{\"k\": " + (i % 1000) + ", \"id\": " + i + ", \"pad\": \"" + Integer.toHexString(i * 31) + "abcdef0123456789abcdef\"}");
        }
        byte[] b = null;
        for (int round = 0; round < 12; round++) {
            long t0 = System.nanoTime();
            b = CopyText.encode(rows, Function.identity(), List.of("id", "k", "pad"), "sss");
            long t1 = System.nanoTime();
            StringBuilder sb = new StringBuilder();
            for (String r : rows) {
                com.google.gson.JsonObject o = com.google.gson.JsonParser.parseString(r).getAsJsonObject();
                sb.append(o.get("id").getAsString()).append('\t').append(o.get("k").getAsString()).append('\t').append(o.get("pad").getAsString()).append('\n');
            }
            sb.toString().getBytes(StandardCharsets.UTF_8);
            System.out.printf("CopyTextTest: 100,000 rows encoded in %.1f ms (a Gson tree per row, for comparison: %.1f ms)%n", (t1 - t0) / 1e6, (System.nanoTime() - t1) / 1e6);
        }
        String text = new String(b, StandardCharsets.UTF_8);
        assertEquals(100_000, text.split("\n").length);
        assertEquals("99999\t999\t" + Integer.toHexString(99999 * 31) + "abcdef0123456789abcdef", text.split("\n")[99999]);
    }
}
