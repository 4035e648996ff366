package io.mmsync.engine.apply;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link ConflictLog#lostNothing}: sure only where jsonb would surely find the other columns equal;
 * unsure cases go to the SQL (ConflictCountIT runs both ways against a server).
 */
class ConflictLogTest {
    private static final List<String> DELTA = List.of("bal");

    @Test
    void deltaColumnsMayDifferTheOthersMustBeWrittenAlike() {
        assertTrue(ConflictLog.lostNothing("{\"id\": 1, \"bal\": 15, \"v\": \"x\", \"f\": null, \"b\": true}",
                "{\"id\": 1, \"bal\": 12, \"v\": \"x\", \"f\": null, \"b\": true}", DELTA));
        assertFalse(ConflictLog.lostNothing("{\"id\": 1, \"bal\": 15, \"v\": \"y\"}", "{\"id\": 1, \"bal\": 12, \"v\": \"x\"}", DELTA));
        assertFalse(ConflictLog.lostNothing("{\"id\": 1, \"bal\": 15, \"f\": null}", "{\"id\": 1, \"bal\": 12, \"f\": \"x\"}", DELTA));
    }

    @Test
    void unsureCasesAreLeftToTheSql() {
        // equal in jsonb, but told apart here only by text: the SQL decides
        assertFalse(ConflictLog.lostNothing("{\"id\": 1, \"bal\": 1, \"n\": 1.0}", "{\"id\": 1, \"bal\": 2, \"n\": 1}", DELTA));
        assertFalse(ConflictLog.lostNothing("{\"id\": 1, \"j\": {\"a\": 1}}", "{\"id\": 1, \"j\": {\"a\": 1}}", DELTA));
        // a column missing from the losing image, a string against a number, not an object, not JSON
        assertFalse(ConflictLog.lostNothing("{\"id\": 1, \"v\": \"x\"}", "{\"id\": 1}", DELTA));
        assertFalse(ConflictLog.lostNothing("{\"id\": 1, \"v\": \"1\"}", "{\"id\": 1, \"v\": 1}", DELTA));
        assertFalse(ConflictLog.lostNothing("[1]", "[1]", DELTA));
        assertFalse(ConflictLog.lostNothing("{\"id\": ", "{\"id\": 1}", DELTA));
    }
}
