package io.mmsync.engine;

import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * A table's columns and primary key as the peer has them, and the set-based statements that
 * apply a run of changes to it. Row images travel as one JSON array per statement and are turned
 * into typed rows by the peer itself ({@code jsonb_populate_recordset}), so every column type
 * round-trips through PostgreSQL's own input functions.
 */
final class TableShape {
    private static final String COLUMNS_SQL = "SELECT a.attname, "
            + "pg_catalog.array_position(i.indkey::int2[], a.attnum) AS pk_pos, "
            + "a.atttypid = 'pg_catalog.json'::pg_catalog.regtype AS is_json "
            + "FROM pg_catalog.pg_attribute a "
            + "LEFT JOIN pg_catalog.pg_index i ON i.indrelid = a.attrelid AND i.indisprimary "
            + "WHERE a.attrelid = ? AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
            + "ORDER BY a.attnum";

    final TableRef table;
    final List<String> columns;
    final List<String> pkColumns;
    /** json columns: their exact text travels as a JSON string (see mmsync.capture()). */
    final List<String> jsonColumns;
    final String insertSql;
    final String updateSql;
    final String moveSql;
    final String deleteSql;

    private TableShape(TableRef table, List<String> columns, List<String> pkColumns, List<String> jsonColumns) {
        this.table = table;
        this.columns = List.copyOf(columns);
        this.pkColumns = List.copyOf(pkColumns);
        this.jsonColumns = List.copyOf(jsonColumns);
        String t = table.quoted();
        String recordset = "pg_catalog.jsonb_populate_recordset(NULL::" + t + ", ?::jsonb) AS r";
        // with json columns, each element e.v is also read directly for their exact text
        String rows = jsonColumns.isEmpty() ? recordset
                : "pg_catalog.jsonb_array_elements(?::jsonb) AS e(v) CROSS JOIN LATERAL "
                + "pg_catalog.jsonb_populate_record(NULL::" + t + ", e.v) AS r";
        List<String> nonKey = columns.stream().filter(c -> !pkColumns.contains(c)).collect(Collectors.toList());
        this.insertSql = "INSERT INTO " + t + " AS d (" + join(columns, TableShape::q) + ") OVERRIDING SYSTEM VALUE SELECT "
                + join(columns, c -> value(c, "r", "e.v")) + " FROM " + rows + " "
                + "ON CONFLICT (" + join(pkColumns, TableShape::q) + ") DO "
                + (nonKey.isEmpty() ? "NOTHING" : "UPDATE SET " + join(nonKey, c -> q(c) + " = EXCLUDED." + q(c)));
        this.updateSql = "UPDATE " + t + " AS d SET "
                + join(nonKey.isEmpty() ? pkColumns : nonKey, c -> q(c) + " = " + value(c, "r", "e.v"))
                + " FROM " + rows + " WHERE " + keyMatch("r");
        this.moveSql = "UPDATE " + t + " AS d SET " + join(columns, c -> q(c) + " = " + value(c, "n", "x.nv"))
                + " FROM (SELECT ?::jsonb AS ov, ?::jsonb AS nv) AS x, "
                + "pg_catalog.jsonb_populate_record(NULL::" + t + ", x.ov) AS o, "
                + "pg_catalog.jsonb_populate_record(NULL::" + t + ", x.nv) AS n WHERE " + keyMatch("o");
        this.deleteSql = "DELETE FROM " + t + " AS d USING " + recordset + " WHERE " + keyMatch("r");
    }

    /** The value of column {@code c}: from the typed record, or the exact text for json. */
    private String value(String c, String record, String jsonb) {
        return jsonColumns.contains(c) ? "(" + jsonb + " ->> " + literal(c) + ")::pg_catalog.json" : record + "." + q(c);
    }

    private static String literal(String s) {
        return "'" + s.replace("'", "''") + "'";
    }

    /** Reads the table's shape from {@code conn}; fails with a message naming table and node. */
    static TableShape load(Connection conn, TableRef table, String nodeName) throws SQLException {
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
        List<String[]> keyed = new ArrayList<>();
        try (PreparedStatement st = conn.prepareStatement(COLUMNS_SQL)) {
            st.setLong(1, oid);
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    columns.add(rs.getString(1));
                    if (rs.getBoolean(3)) {
                        json.add(rs.getString(1));
                    }
                    int pos = rs.getInt(2);
                    if (!rs.wasNull()) {
                        keyed.add(new String[] {String.format("%05d", pos), rs.getString(1)});
                    }
                }
            }
        }
        if (keyed.isEmpty()) {
            throw new SQLException("mmsync: table " + table + " has no primary key on node " + nodeName, "42P10");
        }
        keyed.sort((a, b) -> a[0].compareTo(b[0]));
        List<String> pk = keyed.stream().map(k -> k[1]).collect(Collectors.toList());
        return new TableShape(table, columns, pk, json);
    }

    private String keyMatch(String alias) {
        return pkColumns.stream().map(c -> "d." + q(c) + " = " + alias + "." + q(c))
                .collect(Collectors.joining(" AND "));
    }

    private static String q(String ident) {
        return TableRef.quoteIdent(ident);
    }

    private static String join(List<String> items, Function<String, String> f) {
        return items.stream().map(f).collect(Collectors.joining(", "));
    }
}
