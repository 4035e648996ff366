package io.mmsync.pljava;

import io.mmsync.engine.Version;
import io.mmsync.engine.conn.ConnInfo;

/**
 * Entry points for PL/Java. They are plain static methods (PL/Java's API jar is in no registry
 * we can reach), declared by hand in {@code sql/pljava/mmsync-pljava.sql}; a test checks that
 * every declaration there resolves to a method here. The in-database engine host (a background
 * worker running {@link io.mmsync.engine.Engine}) comes in a later issue.
 */
public final class Functions {
    private Functions() {
    }

    /** {@code mmsync.java_version()}: the version of the Java engine loaded in this backend. */
    public static String javaVersion() {
        return Version.get();
    }

    /**
     * {@code mmsync.java_check_conninfo(text)}: how the engine reads a conninfo (user, host, port,
     * database), never the password; raises on a malformed one.
     */
    public static String checkConninfo(String conninfo) {
        return ConnInfo.parse(conninfo).toString();
    }
}
