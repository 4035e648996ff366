package io.mmsync.engine.error;

import java.io.IOException;
import java.sql.SQLException;
import java.time.Duration;

/**
 * Decides what a failure means for a link: whether the connections must be reopened and how
 * long to wait at least. The engine never gives up on a peer by itself (a sync must not stall
 * until someone kicks it), but it tells authentication and schema problems apart from outages
 * so that status and the log say what the DBA has to fix.
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

    private ErrorPolicy() {
    }

    public static Kind classify(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof SQLException) {
                String state = ((SQLException) c).getSQLState();
                if (state != null) {
                    // 08004: the server (or pgJDBC) rejected the connection, e.g. "no password was
                    // provided" when the passfile has no line for the peer: the DBA must act
                    if (state.startsWith("28") || state.equals("08004")) {
                        return Kind.AUTHENTICATION;
                    }
                    if (state.startsWith("08") || state.startsWith("57P") || state.equals("53300")) {
                        return Kind.CONNECTION;
                    }
                    if (state.startsWith("42") || state.startsWith("22") || state.startsWith("23")
                            || state.equals("3D000") || state.equals("3F000")) {
                        return Kind.SCHEMA;
                    }
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

    /**
     * A one-line description for status and logs: the innermost useful message, and for a lost
     * connection what the socket said ("Read timed out", "Connection reset"), which pgJDBC's own
     * message ("An I/O error occurred while sending to the backend") leaves out.
     */
    public static String describe(Throwable t) {
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
        return msg.length() > 500 ? msg.substring(0, 500) + "..." : msg;
    }
}
