package io.mmsync.engine.model;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * The version of the mmsync extension a database has, against the one this engine was built
 * for (the jar's version, which is the extension's default_version of the same build). An engine
 * refuses a database whose extension is older: its SQL calls objects that only the update
 * creates. A newer extension is accepted (an agent keeps running through ALTER EXTENSION UPDATE
 * until it is restarted with the new jar).
 */
public final class ExtensionVersion implements Comparable<ExtensionVersion> {
    private static final String FALLBACK = "0.2.0";
    private final int[] parts;
    private final String text;

    private ExtensionVersion(String text) {
        String[] p = text.split("\\.");
        int[] n = new int[p.length];
        for (int i = 0; i < p.length; i++) {
            try {
                n[i] = Integer.parseInt(p[i].replaceAll("[^0-9].*$", ""));
            } catch (NumberFormatException e) {
                n[i] = 0;
            }
        }
        this.parts = n;
        this.text = text;
    }

    public static ExtensionVersion of(String text) {
        return new ExtensionVersion(text);
    }

    /** The version this engine was built as (jar manifest; the build's version when run from classes). */
    public static ExtensionVersion required() {
        String v = ExtensionVersion.class.getPackage().getImplementationVersion();
        return of(v != null ? v : FALLBACK);
    }

    /**
     * Fails with a message naming the node and the fix when its database lacks the extension or
     * has an older version of it than this engine needs.
     */
    public static void require(Connection c, String node) throws SQLException {
        try (PreparedStatement st = c.prepareStatement(
                "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'mmsync'");
             ResultSet rs = st.executeQuery()) {
            if (!rs.next()) {
                throw new SQLException("mmsync: the mmsync extension is not installed on node " + node
                        + "; run CREATE EXTENSION mmsync there", "3F000");
            }
            ExtensionVersion have = of(rs.getString(1));
            ExtensionVersion need = required();
            if (have.compareTo(need) < 0) {
                throw new SQLException("mmsync: the mmsync extension on node " + node + " is version " + have
                        + ", older than this engine (" + need + ") needs; install the new extension files there and run "
                        + "ALTER EXTENSION mmsync UPDATE", "0A000");
            }
        }
    }

    @Override
    public int compareTo(ExtensionVersion o) {
        for (int i = 0; i < Math.max(parts.length, o.parts.length); i++) {
            int a = i < parts.length ? parts[i] : 0;
            int b = i < o.parts.length ? o.parts[i] : 0;
            if (a != b) {
                return Integer.compare(a, b);
            }
        }
        return 0;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ExtensionVersion v && compareTo(v) == 0;
    }

    @Override
    public int hashCode() {
        int h = 0;
        int last = parts.length;
        while (last > 0 && parts[last - 1] == 0) {
            last--;
        }
        for (int i = 0; i < last; i++) {
            h = 31 * h + parts[i];
        }
        return h;
    }

    @Override
    public String toString() {
        return text;
    }
}
