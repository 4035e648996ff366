package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.stream.Collectors;

/**
 * Applies a TRUNCATE from the origin so that the peer loses exactly the rows the origin had when
 * it truncated. The origin's capture recorded, with the truncate, how far it had applied each
 * other node's changes ({@code {"seen": {"<node>": {"lo", "hi", "last_id"}}}}, a position as in
 * {@code mmsync.progress}). The peer's own changes past that position had not reached the origin:
 * they arrive there after the truncate and are applied on top of it, so the peer keeps the rows
 * whose current version such a change wrote (same key, and the row's {@code xmin} is that change's
 * transaction or, for a row written in a subtransaction, the row equals the change's image) and
 * deletes every other row. With nothing to keep, a plain TRUNCATE does it. A table without primary
 * key keeps the rows equal to such an image that its transaction wrote (a row written in a
 * subtransaction is not kept there: nothing else tells it apart from an equal row the origin had).
 * <p>
 * The table is locked against writers first (EXCLUSIVE: reads go on), so a local transaction that
 * was writing it has committed and its queued changes are visible; one that starts later waits
 * and writes after the truncate, as it does on the origin once it arrives there.
 * A truncate captured before positions were recorded (mmsync 0.1.0) is a plain TRUNCATE.
 */
final class TruncateApply {
    private TruncateApply() {
    }

    static void apply(Connection peer, TableShape shape, Change c, String localNode) throws SQLException {
        String t = shape.table.quoted();
        if (c.newRow() == null) {
            exec(peer, "TRUNCATE " + t);
            return;
        }
        exec(peer, "LOCK TABLE " + t + " IN EXCLUSIVE MODE");
        String keep = keepSql(shape);
        boolean any;
        try (PreparedStatement st = peer.prepareStatement("SELECT EXISTS (" + keep + ")")) {
            bind(st, c, localNode);
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                any = rs.getBoolean(1);
            }
        }
        if (!any) {
            exec(peer, "TRUNCATE " + t);
            return;
        }
        // the same row as the change, written by it: its transaction wrote the current version, or
        // (written in a subtransaction, whose id the queue does not hold) the version is its image
        String image = shape.jsonColumns.isEmpty() ? "pg_catalog.to_jsonb(d) = k.img"
                : "pg_catalog.to_jsonb(d) - " + textArray(shape) + " = k.img - " + textArray(shape);
        String match = shape.pkColumns.isEmpty() ? "k.x = d.xmin AND " + image
                : shape.pkColumns.stream().map(col -> "d." + q(col) + " = (k.r)." + q(col)).collect(Collectors.joining(" AND "))
                + " AND (k.x = d.xmin OR " + image + ")";
        try (PreparedStatement st = peer.prepareStatement("DELETE FROM " + t + " AS d WHERE NOT EXISTS (SELECT 1 FROM ("
                + keep + ") AS k WHERE " + match + ")")) {
            bind(st, c, localNode);
            st.executeUpdate();
        }
    }

    /**
     * This node's queued inserts and updates of the table that the origin had not applied when it
     * truncated: transaction (as xid), new image, and that image as a row of the table.
     */
    private static String keepSql(TableShape shape) {
        String t = shape.table.quoted();
        return "SELECT pg_catalog.xid(c.xid) AS x, c.new AS img, pg_catalog.jsonb_populate_record(NULL::" + t + ", c.new) AS r "
                + "FROM mmsync.changes c, (SELECT (j ->> 'lo')::pg_snapshot AS lo, (j ->> 'hi')::pg_snapshot AS hi, "
                + "  coalesce((j ->> 'last_id')::bigint, 0) AS last_id FROM (SELECT ?::jsonb -> 'seen' -> ? AS j) AS s) AS pos "
                + "WHERE c.relid = " + literal(t) + "::pg_catalog.regclass AND c.op IN ('I', 'U') "
                + "AND NOT coalesce(pg_catalog.pg_visible_in_snapshot(c.xid, pos.lo), false) "
                + "AND NOT coalesce(pg_catalog.pg_visible_in_snapshot(c.xid, pos.hi) AND c.id <= pos.last_id, false)";
    }

    private static void bind(PreparedStatement st, Change c, String localNode) throws SQLException {
        st.setObject(1, c.newRow(), Types.OTHER);
        st.setString(2, localNode);
    }

    private static void exec(Connection peer, String sql) throws SQLException {
        try (Statement st = peer.createStatement()) {
            st.execute(sql);
        }
    }

    private static String textArray(TableShape shape) {
        return "ARRAY[" + shape.jsonColumns.stream().map(TruncateApply::literal).collect(Collectors.joining(", ")) + "]::text[]";
    }

    private static String literal(String s) {
        return "'" + s.replace("'", "''") + "'";
    }

    private static String q(String ident) {
        return io.mmsync.engine.model.TableRef.quoteIdent(ident);
    }
}
