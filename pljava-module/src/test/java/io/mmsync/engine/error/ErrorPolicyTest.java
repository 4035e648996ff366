package io.mmsync.engine.error;

import io.mmsync.engine.error.ErrorPolicy.Kind;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.SocketTimeoutException;
import java.sql.SQLException;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** One case per SQLSTATE (class) the policy knows, and the error descriptions. */
class ErrorPolicyTest {
    private static SQLException sql(String state) {
        return new SQLException("error " + state, state);
    }

    /** classify, isDataError (set aside), gaveUpWaiting (retry later) for one SQLSTATE. */
    private static void assertRule(String state, Kind kind, boolean oneChange, boolean gaveUp) {
        SQLException e = sql(state);
        assertEquals(kind, ErrorPolicy.classify(e), state + " kind");
        assertEquals(oneChange, ErrorPolicy.isDataError(e), state + " one change's");
        assertEquals(gaveUp, ErrorPolicy.gaveUpWaiting(e), state + " gave up waiting");
    }

    @Test
    void authentication() {
        assertRule("28000", Kind.AUTHENTICATION, false, false); // invalid authorization specification
        assertRule("28P01", Kind.AUTHENTICATION, false, false); // invalid password
        assertRule("08004", Kind.AUTHENTICATION, false, false); // rejected, e.g. no password in the passfile
        assertEquals(Duration.ofSeconds(2), ErrorPolicy.minimumWait(Kind.AUTHENTICATION));
    }

    @Test
    void connection() {
        assertRule("08001", Kind.CONNECTION, false, false); // cannot connect
        assertRule("08006", Kind.CONNECTION, false, false); // connection failure
        assertRule("57P01", Kind.CONNECTION, false, false); // admin shutdown
        assertRule("57P03", Kind.CONNECTION, false, false); // cannot connect now (starting up)
        assertRule("53300", Kind.CONNECTION, false, false); // too many connections
        assertEquals(Duration.ZERO, ErrorPolicy.minimumWait(Kind.CONNECTION));
    }

    @Test
    void oneChangesDataOrTheDefinitionsItMeets() {
        assertRule("22P02", Kind.SCHEMA, true, false); // invalid text representation
        assertRule("22001", Kind.SCHEMA, true, false); // value too long
        assertRule("23505", Kind.SCHEMA, true, false); // unique violation (a second unique key)
        assertRule("23503", Kind.SCHEMA, true, false); // foreign key violation
        assertRule("42P01", Kind.SCHEMA, true, false); // undefined table
        assertRule("42703", Kind.SCHEMA, true, false); // undefined column
        assertRule("0A000", Kind.SCHEMA, true, false); // feature not supported
        assertRule("P0001", Kind.SCHEMA, true, false); // raise exception
        assertEquals(Duration.ofSeconds(2), ErrorPolicy.minimumWait(Kind.SCHEMA));
    }

    @Test
    void aMissingDatabaseOrSchemaIsTheLinksProblemNotOneChanges() {
        assertRule("3D000", Kind.SCHEMA, false, false);
        assertRule("3F000", Kind.SCHEMA, false, false);
    }

    @Test
    void theServerGaveUpWaiting() {
        assertRule("57014", Kind.OTHER, false, true); // statement timeout, query canceled
        assertRule("55P03", Kind.OTHER, false, true); // lock not available
    }

    @Test
    void anythingElse() {
        assertRule("40001", Kind.OTHER, false, false); // serialization failure
        assertRule("40P99", Kind.OTHER, false, false); // mmsync's pending conflict (abort strategy)
        assertRule("XX000", Kind.OTHER, false, false);
        assertEquals(Kind.OTHER, ErrorPolicy.classify(new SQLException("no state")));
        assertFalse(ErrorPolicy.isDataError(new SQLException("no state")));
        assertEquals(Kind.OTHER, ErrorPolicy.classify(new IllegalStateException("bug")));
        assertEquals(Duration.ZERO, ErrorPolicy.minimumWait(Kind.OTHER));
    }

    @Test
    void uniqueViolationIsItsOwnCase() {
        assertTrue(ErrorPolicy.isUniqueViolation(sql("23505")));
        assertFalse(ErrorPolicy.isUniqueViolation(sql("23503")));
    }

    @Test
    void classifyWalksTheCauseChain() {
        SQLException outer = new SQLException("wrapper", "XX000", new SQLException("inner", "28P01"));
        assertEquals(Kind.AUTHENTICATION, ErrorPolicy.classify(outer));
        assertEquals(Kind.CONNECTION, ErrorPolicy.classify(new RuntimeException(new IOException("reset"))));
        assertEquals(Kind.CONNECTION, ErrorPolicy.classify(new SQLException("I/O", "XX000", new SocketTimeoutException("Read timed out"))));
        // a timeout with no other rule: the chain goes on to the socket error under it
        assertEquals(Kind.CONNECTION, ErrorPolicy.classify(new SQLException("canceled", "57014", new IOException("x"))));
        // isDataError looks at the error itself only (the apply's own statement)
        assertFalse(ErrorPolicy.isDataError(new SQLException("wrapper", "XX000", sql("23505"))));
    }

    @Test
    void describeNamesTheSqlMessageAndWhatTheSocketSaid() {
        SQLException e = new SQLException("An I/O error occurred while sending to the backend.", "08006",
                new SocketTimeoutException("Read timed out"));
        assertEquals("An I/O error occurred while sending to the backend.: Read timed out", ErrorPolicy.describe(e));
        assertEquals("outer: inner message", ErrorPolicy.describe(new RuntimeException("x",
                new SQLException("outer:\n   inner   message", "42P01"))));
        assertEquals("IllegalStateException", ErrorPolicy.describe(new IllegalStateException()));
        String longMsg = "m".repeat(600);
        assertEquals("m".repeat(500) + "...", ErrorPolicy.describe(new SQLException(longMsg)));
        assertEquals("m".repeat(300) + "...", ErrorPolicy.describe(new SQLException(longMsg), 300));
    }
}
