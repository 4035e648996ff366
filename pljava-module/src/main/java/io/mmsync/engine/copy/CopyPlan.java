package io.mmsync.engine.copy;

import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * What a copy needs to know of a table on both nodes: the columns it moves (the origin's, each
 * present on the target), whether COPY's binary format fits (every type the same on both), the
 * key row expression for ranges and the row text for the resume check.
 */
final class CopyPlan {
    final TableRef table;
    final String columnList;
    final boolean binary;
    /** ROW(t.k1, ...) over the primary key, null for a table without one */
    final String keyRow;
    /** t.k1, ... (the primary key's columns, in its order), null for a table without one */
    final String keyList;
    final String rowText;
    final long estimatedRows;

    private CopyPlan(TableRef table, String columnList, boolean binary, String keyRow, String keyList, String rowText,
            long estimatedRows) {
        this.table = table;
        this.columnList = columnList;
        this.binary = binary;
        this.keyRow = keyRow;
        this.keyList = keyList;
        this.rowText = rowText;
        this.estimatedRows = estimatedRows;
    }

    static CopyPlan read(Connection origin, Connection target, TableRef t, String targetName) throws SQLException {
        Map<String, String> here = columns(origin, t);
        Map<String, String> there = columns(target, t);
        if (there == null) {
            throw new SQLException("mmsync: table " + t + " does not exist on node " + targetName + "; create it there "
                    + "(the same columns as here) and the copy goes on", "42P01");
        }
        boolean binary = true;
        for (Map.Entry<String, String> c : here.entrySet()) {
            String type = there.get(c.getKey());
            if (type == null) {
                throw new SQLException("mmsync: table " + t + " on node " + targetName + " lacks column " + TableRef.quoteIdent(c.getKey())
                        + " (" + c.getValue() + "); add it there and the copy goes on", "42703");
            }
            binary &= type.equals(c.getValue());
        }
        String cols = here.keySet().stream().map(TableRef::quoteIdent).collect(Collectors.joining(", "));
        String keyRow = null;
        String keyList;
        String rowText;
        long estimate;
        try (PreparedStatement st = origin.prepareStatement("SELECT (SELECT pg_catalog.string_agg('t.' || pg_catalog.quote_ident(c), "
                + "', ' ORDER BY o) FROM pg_catalog.unnest(mmsync._pk_cols(r)) WITH ORDINALITY AS x(c, o)), "
                + "mmsync._row_text_sql(r, 't'), greatest(cl.reltuples, 0)::bigint "
                + "FROM pg_catalog.to_regclass(?) AS r JOIN pg_catalog.pg_class cl ON cl.oid = r")) {
            st.setString(1, t.quoted());
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                keyList = rs.getString(1);
                keyRow = keyList == null ? null : "ROW(" + keyList + ")";
                rowText = rs.getString(2);
                estimate = rs.getLong(3);
            }
        }
        return new CopyPlan(t, cols, binary, keyRow, keyList, rowText, estimate);
    }

    /** Column name -> type, in name order; null when the table does not exist there. */
    private static Map<String, String> columns(Connection c, TableRef t) throws SQLException {
        try (PreparedStatement st = c.prepareStatement("SELECT r IS NOT NULL, x.col, x.typ FROM pg_catalog.to_regclass(?) AS r "
                + "LEFT JOIN LATERAL mmsync._copy_columns(r) AS x ON true")) {
            st.setString(1, t.quoted());
            Map<String, String> out = new LinkedHashMap<>();
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    if (!rs.getBoolean(1)) {
                        return null;
                    }
                    out.put(rs.getString(2), rs.getString(3));
                }
            }
            return out;
        }
    }

    /**
     * The range's rows in key order: the target's primary key then takes them as a run of ascending
     * keys (each insert next to the one before, pages split full) instead of in the origin's heap
     * order, which for keys unrelated to it (random ids, as Mattermost's) costs the target a random
     * insert per row. The readers plan it as an index scan (no sort: {@link RangeCopier}).
     */
    String copyOutSql(CopyRange r) {
        return "COPY (SELECT " + columnList + " FROM " + table.quoted() + " t WHERE " + r.where(keyRow)
                + (keyList == null ? "" : " ORDER BY " + keyList) + ") TO STDOUT" + (binary ? " (FORMAT binary)" : "");
    }

    String copyInSql(String into) {
        return "COPY " + into + " (" + columnList + ") FROM STDIN" + (binary ? " (FORMAT binary)" : "");
    }

    String digestSql(CopyRange r) {
        return "SELECT pg_catalog.count(*), pg_catalog.bit_xor(pg_catalog.hashtextextended(" + rowText + ", 0)) FROM "
                + table.quoted() + " t WHERE " + r.where(keyRow);
    }
}
