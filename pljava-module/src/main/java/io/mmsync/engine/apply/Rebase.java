package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.KeySql;
import io.mmsync.engine.model.Op;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;

/**
 * {@link Action#REBASE} made concrete: an incoming insert that meets a row of an older
 * incarnation (Decision.Incarnation) becomes an upsert of the row the node must end with. Its
 * delta columns: the insert's values plus the deltas of this node's queued updates of the key made
 * after the insert (by (at, node), as latest orders changes); its other columns: the insert's if it
 * won, else the row here. Only inserts conflicting on tables with delta columns come here, so the
 * queue scan is off the hot path.
 */
final class Rebase {
    private Rebase() {
    }

    /**
     * The insert {@code c} rewritten as an upsert of the resulting row. {@code base}: the image whose
     * other columns win (the insert's new row, or the row here as to_jsonb text); {@code here}: this
     * node's name, for ties in time.
     */
    static Change rewrite(Connection peer, Change c, TableShape shape, String base, String origin, String here)
            throws SQLException {
        try (PreparedStatement st = peer.prepareStatement(sql(shape))) {
            st.setObject(1, base, Types.OTHER);
            st.setObject(2, c.newRow(), Types.OTHER);
            st.setString(3, c.table().schema());
            st.setString(4, c.table().name());
            st.setString(5, c.key());
            Timestamp at = Timestamp.from(c.at());
            st.setTimestamp(6, at);
            st.setTimestamp(7, at);
            st.setBoolean(8, here.compareTo(origin) < 0);
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                return new Change(c.id(), c.table(), Op.INSERT, c.at(), c.key(), null, null, rs.getString(1));
            }
        }
    }

    /** The new image of this node's queued change {@code id} (an update), as jsonb text. */
    static String localImage(Connection peer, long id) throws SQLException {
        try (PreparedStatement st = peer.prepareStatement("SELECT c.new::text FROM mmsync.changes c WHERE c.id = ?")) {
            st.setLong(1, id);
            try (ResultSet rs = st.executeQuery()) {
                if (!rs.next() || rs.getString(1) == null) {
                    throw new SQLException("mmsync.changes has no new image for change " + id
                            + " (the competitor of a re-insert); it was purged during the apply: retry the page");
                }
                return rs.getString(1);
            }
        }
    }

    private static String sql(TableShape shape) {
        List<String> sums = new ArrayList<>();
        List<String> sets = new ArrayList<>();
        for (int i = 0; i < shape.deltaColumns.size(); i++) {
            String col = literal(shape.deltaColumns.get(i));
            sums.add("pg_catalog.sum(COALESCE((c.new ->> " + col + ")::numeric, 0) - COALESCE((c.old ->> " + col
                    + ")::numeric, 0)) AS d" + i);
            sets.add(col + ", COALESCE((i.ins ->> " + col + ")::numeric, 0) + COALESCE(s.d" + i + ", 0)");
        }
        return "WITH i AS (SELECT ?::jsonb AS base, ?::jsonb AS ins) "
                + "SELECT (i.base || pg_catalog.jsonb_build_object(" + String.join(", ", sets) + "))::text "
                + "FROM i, (SELECT " + String.join(", ", sums) + " FROM mmsync.changes c "
                + "JOIN mmsync.sync_tables st ON st.relid = c.relid "
                + "WHERE st.schema_name::text = ? AND st.table_name::text = ? AND c.op = 'U' "
                + "AND " + KeySql.of("st.pk_cols", "c.new") + " = ? "
                + "AND (c.at > ? OR (c.at = ? AND ?))) s";
    }

    private static String literal(String s) {
        return "'" + s.replace("'", "''") + "'";
    }
}
