package io.mmsync.it;

/** Captures the message of the error an action raises. */
final class Errors {
    interface Action {
        void run() throws Exception;
    }

    private Errors() {
    }

    static String of(Action a) {
        try {
            a.run();
        } catch (Exception e) {
            // the server's own words when there are any (the fixture's wrapper repeats the SQL)
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof java.sql.SQLException) {
                    return t.getMessage();
                }
            }
            return e.getMessage();
        }
        throw new AssertionError("expected an error, got none");
    }
}
