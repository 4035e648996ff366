package io.mmsync.engine.model;



/** The SQL form of {@link Change#key()}, shared by the reader and the resolver. */
public final class KeySql {
    private KeySql() {
    }

    /**
     * SQL for the key of the row image {@code image} (jsonb) of a table whose key columns are
     * {@code pkCols} (text[]): a one-column key (the usual case) read directly, a composite one
     * joined by U+001F. The form of {@link Change#key()}; the Resolver matches on it too.
     */
    public static String of(String pkCols, String image) {
        return "CASE WHEN pg_catalog.cardinality(" + pkCols + ") = 1 THEN " + image + " ->> " + pkCols + "[1] "
                + "ELSE (SELECT pg_catalog.string_agg(" + image + " ->> pk.col, E'\\x1f' ORDER BY pk.ord) "
                + "FROM pg_catalog.unnest(" + pkCols + ") WITH ORDINALITY AS pk(col, ord)) END";
    }
}
