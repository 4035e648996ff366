package io.mmsync.engine.apply;

import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * A table's columns, primary key and column policies as the peer has them, and the set-based
 * statements that apply a run of changes to it. Row images travel as one JSON array per statement
 * and are turned into typed rows by the peer itself ({@code json_populate_record[set]}: the same
 * conversions as the jsonb variants, without building a jsonb value first), so every
 * column type round-trips through PostgreSQL's own input functions.
 */
final class TableShape {
    private static final String ELEMENTS = "pg_catalog.json_array_elements(?::json) WITH ORDINALITY AS e(v, i)";
    private static final String COLUMNS_SQL = "SELECT a.attname, "
            + "pg_catalog.array_position(i.indkey::int2[], a.attnum) AS pk_pos, "
            + "a.atttypid = 'pg_catalog.json'::pg_catalog.regtype AS is_json, "
            + "EXISTS (SELECT 1 FROM mmsync.column_policies p WHERE p.schema_name = n.nspname "
            + "  AND p.table_name = c.relname AND p.column_name = a.attname AND p.policy = 'delta') AS is_delta, "
            + CopyText.KIND_SQL + " AS copy_kind, "
            + "c.relkind IN ('r', 'p') AND NOT c.relhasrules AND NOT c.relrowsecurity AS copyable "
            + "FROM pg_catalog.pg_attribute a "
            + "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
            + CopyText.KIND_JOINS
            + "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            + "LEFT JOIN pg_catalog.pg_index i ON i.indrelid = a.attrelid AND i.indisprimary "
            + "WHERE a.attrelid = ? AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
            + "ORDER BY a.attnum";

    final TableRef table;
    final List<String> columns;
    final List<String> pkColumns;
    /** json columns: their exact text travels as a JSON string (see mmsync.capture()). */
    final List<String> jsonColumns;
    /** delta columns: updates add old -> new instead of overwriting (mmsync.set_column_policy). */
    final List<String> deltaColumns;
    final boolean insertOnly;
    /** foreign keys and further unique indexes: what {@link RunPlanner} may not reorder */
    final TableConstraints constraints;
    /**
     * How each column's image becomes COPY text ({@link CopyText}); null when the table takes no
     * COPY (a view, rules, row security, or a column type COPY text cannot take exactly).
     */
    final String copyKinds;
    /**
     * The statements built so far, by name: a page's runs ask for the same few again and again (issue
     * 15: building them each time was a tenth of the sending agent's CPU under a steady stream).
     * One link's thread only, as the shape itself ({@link PeerTables}).
     */
    private final Map<String, String> built = new HashMap<>();
    /**
     * Whether the peer's queue held a row change of this table at the last page's look
     * ({@link PageBegin}); true until a page has looked. Only then does a page lock the rows it
     * updates or deletes before its competitor lookup (see {@link PageBegin#lockAndMark}).
     */
    boolean queuedHere = true;

    private TableShape(TableRef table, List<String> columns, List<String> pkColumns, List<String> jsonColumns,
                       List<String> deltaColumns, boolean insertOnly, TableConstraints constraints, String copyKinds) {
        this.copyKinds = copyKinds;
        this.table = table;
        this.columns = List.copyOf(columns);
        this.pkColumns = List.copyOf(pkColumns);
        this.jsonColumns = List.copyOf(jsonColumns);
        this.deltaColumns = List.copyOf(deltaColumns);
        this.insertOnly = insertOnly;
        this.constraints = constraints;
    }

    /** Reads the table's shape from {@code conn}; fails with a message naming table and node. */
    static TableShape load(Connection conn, TableRef table, String nodeName, boolean insertOnly) throws SQLException {
        long oid;
        try (PreparedStatement st = conn.prepareStatement("SELECT pg_catalog.to_regclass(?)::oid")) {
            st.setString(1, table.quoted());
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                oid = rs.getLong(1);
                if (rs.wasNull()) {
                    throw new SQLException("mmsync: table " + table + " does not exist on node " + nodeName, "42P01");
                }
            }
        }
        List<String> columns = new ArrayList<>();
        List<String> json = new ArrayList<>();
        List<String> delta = new ArrayList<>();
        List<String[]> keyed = new ArrayList<>();
        StringBuilder kinds = new StringBuilder();
        boolean copyable = true;
        try (PreparedStatement st = conn.prepareStatement(COLUMNS_SQL)) {
            st.setLong(1, oid);
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    String col = rs.getString(1);
                    columns.add(col);
                    int pos = rs.getInt(2);
                    if (!rs.wasNull()) {
                        keyed.add(new String[] {String.format("%05d", pos), col});
                    }
                    if (rs.getBoolean(3)) {
                        json.add(col);
                    }
                    if (rs.getBoolean(4)) {
                        delta.add(col);
                    }
                    kinds.append(rs.getString(5));
                    copyable &= rs.getBoolean(6);
                }
            }
        }
        if (keyed.isEmpty() && !insertOnly) {
            throw new SQLException("mmsync: table " + table + " has no primary key on node " + nodeName, "42P10");
        }
        keyed.sort((a, b) -> a[0].compareTo(b[0]));
        List<String> pk = keyed.stream().map(k -> k[1]).collect(Collectors.toList());
        delta.removeAll(pk);
        String copyKinds = copyable && kinds.indexOf(String.valueOf(CopyText.NONE)) < 0 ? kinds.toString() : null;
        return new TableShape(table, columns, pk, json, delta, insertOnly, TableConstraints.load(conn, oid), copyKinds);
    }

    private String memo(String name, Supplier<String> sql) {
        String s = built.get(name);
        if (s == null) {
            s = sql.get();
            built.put(name, s);
        }
        return s;
    }

    boolean hasDelta() {
        return !deltaColumns.isEmpty();
    }

    private String t() {
        return table.quoted();
    }

    /** FROM items for a JSON array of row images bound to one parameter: alias r, element e.v. */
    private String rows() {
        return jsonColumns.isEmpty() ? "pg_catalog.json_populate_recordset(NULL::" + t() + ", ?::json) AS r"
                : "pg_catalog.json_array_elements(?::json) AS e(v)" + record();
    }

    /** Each element {@code e.v} of a JSON array as a typed row {@code r} of the table. */
    private String record() {
        return " CROSS JOIN LATERAL pg_catalog.json_populate_record(NULL::" + t() + ", e.v) AS r";
    }

    /** FROM items for a JSON array of {"o": old, "n": new}: aliases o and n, element e.v. */
    private String pairs() {
        return "pg_catalog.json_array_elements(?::json) AS e(v) "
                + "CROSS JOIN LATERAL pg_catalog.json_populate_record(NULL::" + t() + ", e.v -> 'o') AS o "
                + "CROSS JOIN LATERAL pg_catalog.json_populate_record(NULL::" + t() + ", e.v -> 'n') AS n";
    }

    /**
     * Whether {@link #deltaUpdateSql} takes the old and the new images as two JSON arrays (two
     * parameters, {@link #splitPairs}), each parsed once, where the {"o","n"} pairs of
     * {@link #pairs} are parsed five times (the array, each element twice, each image): a table
     * without json columns (whose exact text is read from the element) and without a column named
     * ordinality (the join's). Issue 15, CPU per change: the pgbench -N peer's update statement.
     */
    boolean splitPairs() {
        return jsonColumns.isEmpty() && !columns.contains("ordinality");
    }

    /** FROM items for two JSON arrays, the old images and the new ones in the same order: aliases o and n. */
    private String splitPairsFrom() {
        return "pg_catalog.json_populate_recordset(NULL::" + t() + ", ?::json) WITH ORDINALITY AS o "
                + "JOIN pg_catalog.json_populate_recordset(NULL::" + t() + ", ?::json) WITH ORDINALITY AS n "
                + "ON n.ordinality = o.ordinality";
    }

    private List<String> nonKey() {
        return columns.stream().filter(c -> !pkColumns.contains(c)).collect(Collectors.toList());
    }

    /** Plain insert: fails if one of the rows exists (for a table without key, the only insert). */
    String plainInsertSql() {
        return memo("plainInsert", () -> "INSERT INTO " + t() + " (" + join(columns, TableShape::q)
                + ") OVERRIDING SYSTEM VALUE SELECT " + join(columns, c -> value(c, "r", "e.v")) + " FROM " + rows());
    }

    /** COPY of the rows into the table (text format, columns in {@link #columns}' order). */
    String copySql() {
        return memo("copy", () -> "COPY " + t() + " (" + join(columns, TableShape::q) + ") FROM STDIN");
    }

    /** Upsert: the row images win over what the peer has. */
    String insertSql() {
        return memo("insert", () -> {
            if (insertOnly) {
                return plainInsertSql();
            }
            List<String> nonKey = nonKey();
            return "INSERT INTO " + t() + " AS d (" + join(columns, TableShape::q) + ") OVERRIDING SYSTEM VALUE SELECT "
                    + join(columns, c -> value(c, "r", "e.v")) + " FROM " + rows() + " "
                    + "ON CONFLICT (" + join(pkColumns, TableShape::q) + ") DO "
                    + (nonKey.isEmpty() ? "NOTHING" : "UPDATE SET " + join(nonKey, c -> q(c) + " = EXCLUDED." + q(c)));
        });
    }

    /** Insert the rows that are missing, leave existing ones alone. */
    String insertMissingSql() {
        return memo("insertMissing", () -> "INSERT INTO " + t() + " AS d (" + join(columns, TableShape::q)
                + ") OVERRIDING SYSTEM VALUE SELECT " + join(columns, c -> value(c, "r", "e.v")) + " FROM " + rows() + " "
                + "ON CONFLICT (" + join(pkColumns, TableShape::q) + ") DO NOTHING");
    }

    /** Update rows (same key) to their new images; rows missing here are not touched. */
    String updateSql() {
        return memo("update", () -> {
            List<String> nonKey = nonKey();
            return "UPDATE " + t() + " AS d SET "
                    + join(nonKey.isEmpty() ? pkColumns : nonKey, c -> q(c) + " = " + value(c, "r", "e.v"))
                    + " FROM " + rows() + " WHERE " + keyMatch("r");
        });
    }

    /**
     * Update from {"o","n"} pairs with delta columns: they get old -> new added, the other columns
     * the new values; with {@code deltaOnly} the other columns keep the peer's values. With
     * {@link #splitPairs()} the pairs come as two arrays, the old images and the new ones.
     */
    String deltaUpdateSql(boolean deltaOnly) {
        return memo(deltaOnly ? "deltaUpdateOnly" : "deltaUpdate", () -> {
            List<String> sets = new ArrayList<>();
            for (String c : nonKey()) {
                if (deltaColumns.contains(c)) {
                    sets.add(q(c) + " = COALESCE(d." + q(c) + ", 0) + (COALESCE(n." + q(c)
                            + ", 0) - COALESCE(o." + q(c) + ", 0))");
                } else if (!deltaOnly) {
                    sets.add(q(c) + " = " + value(c, "n", "(e.v -> 'n')"));
                }
            }
            return "UPDATE " + t() + " AS d SET " + String.join(", ", sets) + " FROM "
                    + (splitPairs() ? splitPairsFrom() : pairs()) + " WHERE " + keyMatch("o");
        });
    }

    /**
     * As {@link #deltaUpdateSql} for pairs that may update a row more than once: one update per
     * row, delta columns adding the sum of its deltas, the others set from its last image.
     */
    String deltaRepeatedSql(boolean deltaOnly) {
        return memo(deltaOnly ? "deltaRepeatedOnly" : "deltaRepeated", () -> {
            List<String> sets = new ArrayList<>();
            List<String> sums = new ArrayList<>();
            for (String c : nonKey()) {
                if (deltaColumns.contains(c)) {
                    String alias = "d" + sums.size();
                    sums.add("pg_catalog.sum(COALESCE((p.n)." + q(c) + ", 0) - COALESCE((p.o)." + q(c) + ", 0)) AS " + alias);
                    sets.add(q(c) + " = COALESCE(d." + q(c) + ", 0) + s." + alias);
                } else if (!deltaOnly) {
                    sets.add(q(c) + " = " + value(c, "(s.n)", "s.v"));
                }
            }
            List<String> keys = new ArrayList<>();
            for (int i = 0; i < pkColumns.size(); i++) {
                keys.add("(p.o)." + q(pkColumns.get(i)) + " AS k" + i);
            }
            String match = IntStream.range(0, pkColumns.size())
                    .mapToObj(i -> "d." + q(pkColumns.get(i)) + " = s.k" + i).collect(Collectors.joining(" AND "));
            return "UPDATE " + t() + " AS d SET " + String.join(", ", sets) + " FROM (SELECT " + String.join(", ", keys)
                    + ", " + String.join(", ", sums) + ", (pg_catalog.array_agg(p.n ORDER BY p.i DESC))[1] AS n, "
                    + "(pg_catalog.array_agg(p.v ORDER BY p.i DESC))[1] AS v "
                    + "FROM (SELECT e.i, e.v -> 'n' AS v, o, n FROM pg_catalog.json_array_elements(?::json) WITH ORDINALITY AS e(v, i) "
                    + "CROSS JOIN LATERAL pg_catalog.json_populate_record(NULL::" + t() + ", e.v -> 'o') AS o "
                    + "CROSS JOIN LATERAL pg_catalog.json_populate_record(NULL::" + t() + ", e.v -> 'n') AS n) AS p "
                    + "GROUP BY " + IntStream.range(0, pkColumns.size()).mapToObj(i -> "k" + i)
                    .collect(Collectors.joining(", ")) + ") AS s WHERE " + match;
        });
    }

    /** An update that moves the primary key: old image names the row, every column is set. */
    String moveSql() {
        return memo("move", () -> "UPDATE " + t() + " AS d SET "
                + join(columns, c -> q(c) + " = " + value(c, "n", "(e.v -> 'n')")) + " FROM " + pairs() + " WHERE " + keyMatch("o"));
    }

    /** Deletes the rows named by a JSON array of key-bearing images; returns the ordinals (from 1) of those not here. */
    String deleteReportingSql() {
        return memo("deleteReporting", () -> "WITH e AS MATERIALIZED (SELECT e.v, e.i FROM " + ELEMENTS + "), "
                + "x AS (DELETE FROM " + t() + " AS d USING e" + record() + " WHERE " + keyMatch("r") + " RETURNING e.i) "
                + "SELECT e.i FROM e WHERE NOT EXISTS (SELECT 1 FROM x WHERE x.i = e.i) ORDER BY e.i");
    }

    /** For a JSON array of key-bearing images: the ordinals (from 1) of those whose rows are not here. */
    String missingSql() {
        return memo("missing", () -> "SELECT e.i FROM " + ELEMENTS + record() + " WHERE NOT EXISTS (SELECT 1 FROM " + t()
                + " AS d WHERE " + keyMatch("r") + ") ORDER BY e.i");
    }

    /**
     * Locks the peer's rows named by a JSON array of key-bearing images, in key order, so that no
     * local transaction changes them between the conflict check and the apply.
     */
    String lockSql() {
        return memo("lock", () -> "SELECT 1 FROM " + t() + " AS d, pg_catalog.json_populate_recordset(NULL::" + t()
                + ", ?::json) AS r WHERE " + keyMatch("r") + " ORDER BY "
                + pkColumns.stream().map(c -> "d." + q(c)).collect(Collectors.joining(", ")) + " FOR UPDATE OF d");
    }

    /**
     * For a JSON array of key-bearing images: the ordinal of each image whose row exists here,
     * the row as jsonb text, and whether it equals the image.
     */
    String currentRowsSql() {
        String expected = "pg_catalog.to_jsonb(r)";
        for (String c : jsonColumns) {
            expected += " || pg_catalog.jsonb_build_object(" + literal(c) + ", pg_catalog.to_jsonb((e.v ->> "
                    + literal(c) + ")::pg_catalog.json))";
        }
        return "SELECT e.i, pg_catalog.to_jsonb(d)::text, pg_catalog.to_jsonb(d) = (" + expected + ") "
                + "FROM pg_catalog.jsonb_array_elements(?::jsonb) WITH ORDINALITY AS e(v, i) "
                + "CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(NULL::" + t() + ", e.v) AS r "
                + "JOIN " + t() + " AS d ON " + keyMatch("r");
    }

    /** The value of column {@code c}: from the typed record, or the exact text for json. */
    private String value(String c, String record, String jsonb) {
        return jsonColumns.contains(c) ? "(" + jsonb + " ->> " + literal(c) + ")::pg_catalog.json" : record + "." + q(c);
    }

    private String keyMatch(String alias) {
        return pkColumns.stream().map(c -> "d." + q(c) + " = " + alias + "." + q(c))
                .collect(Collectors.joining(" AND "));
    }

    private static String literal(String s) {
        return "'" + s.replace("'", "''") + "'";
    }

    private static String q(String ident) {
        return TableRef.quoteIdent(ident);
    }

    private static String join(List<String> items, Function<String, String> f) {
        return items.stream().map(f).collect(Collectors.joining(", "));
    }
}
