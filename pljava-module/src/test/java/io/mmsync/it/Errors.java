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
            StringBuilder sb = new StringBuilder();
            for (Throwable t = e; t != null; t = t.getCause()) {
                sb.append(t.getMessage()).append('\n');
            }
            return sb.toString();
        }
        throw new AssertionError("expected an error, got none");
    }
}
