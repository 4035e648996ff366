package io.mmsync.engine.error;

import java.io.IOException;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;

/**
 * The one place that says what an error means, for the engine and the health endpoint: what kind
 * of failure it is for a link (whether to reconnect and how long to wait at least), whether it is
 * one change's problem (that change is set aside, the rest flows), whether the server only gave up
 * waiting (try again later), and how to describe it in one line. The engine never gives up on a
 * peer by itself (a sync must not stall until someone kicks it), but it tells authentication and
 * schema problems apart from outages so that status and the log say what the DBA has to fix.
 * Every SQLSTATE rule is in {@link #RULES}; ErrorPolicyTest has a case for each.
 */
public final class ErrorPolicy {
    public enum Kind {
        /** Connection refused, lost, server shutting down: reconnect with back-off. */
        CONNECTION,
        /** Wrong password, no such role, pg_hba rejection: retry slowly, the DBA must act. */
        AUTHENTICATION,
        /** Missing table/column/extension, wrong type, bad value: retry slowly after fixing. */
        SCHEMA,
        /** Anything else: reconnect with back-off. */
        OTHER
    }

    /** The plain INSERT of a run met a row that exists: the run is upserted instead. */
    public static final String UNIQUE_VIOLATION = "23505";

    /**
     * An SQLSTATE (or the class it starts with) and what it means. {@code oneChange}: caused by
     * one change's data or the definitions it meets, not by the connection or the server, so the
     * change can be set aside. {@code gaveUpWaiting}: the server ended a statement that waited too
     * long; what committed before stays, the work is retried later.
     */
    private record Rule(String sqlState, Kind kind, boolean oneChange, boolean gaveUpWaiting) {
        boolean matches(String state) {
            return state.startsWith(sqlState);
        }
    }

    /** First match wins: specific codes before their class. */
    private static final List<Rule> RULES = List.of(
            // the server (or pgJDBC) rejected the connection, e.g. "no password was provided" when
            // the passfile has no line for the peer: the DBA must act
            new Rule("08004", Kind.AUTHENTICATION, false, false),
            new Rule("28", Kind.AUTHENTICATION, false, false),
            new Rule("08", Kind.CONNECTION, false, false),
            // admin shutdown, crash shutdown, cannot connect now
            new Rule("57P", Kind.CONNECTION, false, false),
            // too many connections
            new Rule("53300", Kind.CONNECTION, false, false),
            // statement timeout / query canceled; lock not available (lock_timeout, NOWAIT)
            new Rule("57014", Kind.OTHER, false, true),
            new Rule("55P03", Kind.OTHER, false, true),
            // data exception: a value its column cannot hold
            new Rule("22", Kind.SCHEMA, true, false),
            // integrity constraint: a unique key other than the primary key, a foreign key, a check
            new Rule("23", Kind.SCHEMA, true, false),
            // syntax error or access rule violation: a missing table or column, a wrong type, a privilege
            new Rule("42", Kind.SCHEMA, true, false),
            // feature not supported (e.g. a generated column written)
            new Rule("0A", Kind.SCHEMA, true, false),
            // raised by a trigger or function (RAISE EXCEPTION)
            new Rule("P0001", Kind.SCHEMA, true, false),
            // database or schema missing: the whole link's problem, no one change's
            new Rule("3D000", Kind.SCHEMA, false, false),
            new Rule("3F000", Kind.SCHEMA, false, false));

    private ErrorPolicy() {
    }

    private static Rule rule(String state) {
        if (state != null) {
            for (Rule r : RULES) {
                if (r.matches(state)) {
                    return r;
                }
            }
        }
        return null;
    }

    /** What a link's failure is: the first SQLSTATE with a rule in the cause chain, or an I/O error. */
    public static Kind classify(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof SQLException) {
                Rule r = rule(((SQLException) c).getSQLState());
                if (r != null && r.kind() != Kind.OTHER) {
                    return r.kind();
                }
            }
            if (c instanceof IOException) {
                return Kind.CONNECTION;
            }
        }
        return Kind.OTHER;
    }

    /** The least wait before retrying after an error of this kind. */
    public static Duration minimumWait(Kind kind) {
        return kind == Kind.AUTHENTICATION || kind == Kind.SCHEMA ? Duration.ofSeconds(2) : Duration.ZERO;
    }

    /** True for errors caused by one change's data rather than by the connection or the server. */
    public static boolean isDataError(SQLException e) {
        Rule r = rule(e.getSQLState());
        return r != null && r.oneChange();
    }

    /** True when the server ended a statement that waited too long (statement or lock timeout). */
    public static boolean gaveUpWaiting(SQLException e) {
        Rule r = rule(e.getSQLState());
        return r != null && r.gaveUpWaiting();
    }

    public static boolean isUniqueViolation(SQLException e) {
        return UNIQUE_VIOLATION.equals(e.getSQLState());
    }

    /** {@link #describe(Throwable, int)} in at most 500 characters. */
    public static String describe(Throwable t) {
        return describe(t, 500);
    }

    /**
     * A one-line description for status and logs: the innermost useful message, and for a lost
     * connection what the socket said ("Read timed out", "Connection reset"), which pgJDBC's own
     * message ("An I/O error occurred while sending to the backend") leaves out; whitespace
     * folded, cut after {@code max} characters.
     */
    public static String describe(Throwable t, int max) {
        String msg = t.getMessage();
        Throwable sql = null;
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof SQLException && c.getMessage() != null) {
                msg = c.getMessage();
                sql = c;
                break;
            }
        }
        if (msg == null) {
            msg = t.getClass().getSimpleName();
        }
        for (Throwable c = sql; c != null; c = c.getCause()) {
            if (c instanceof IOException && c.getMessage() != null && !msg.contains(c.getMessage())) {
                msg = msg + ": " + c.getMessage();
                break;
            }
        }
        msg = msg.replaceAll("\\s+", " ").trim();
        return msg.length() > max ? msg.substring(0, max) + "..." : msg;
    }
}
