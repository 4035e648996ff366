package io.mmsync.engine.apply;

import io.mmsync.engine.error.ErrorPolicy;
import io.mmsync.engine.model.PeerHorizon;
import io.mmsync.engine.model.Position;
import io.mmsync.engine.model.TableRef;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;
import org.postgresql.copy.CopyOut;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Logger;

/**
 * Issue 15: a catch-up page of inserts into one table relayed as COPY text, the origin's backend
 * writing it ({@code COPY (SELECT ...) TO STDOUT} over the queue's images) and the peer's reading
 * it ({@code COPY ... FROM STDIN}) at the same time, the agent passing the bytes on: no row is
 * parsed in the JVM and no competitor lookup runs. Each column gets the text {@link CopyText} would
 * give it (a JSON string its value, a number or boolean its JSON text, a jsonb column its JSON
 * text, JSON null \N); a value it would refuse fails the origin's COPY. The peer's transaction
 * first checks what {@link PageAtOnce} checks (no set-aside change of the origin, no change of the
 * table in the peer's own queue: no competitor), checks it again after the rows, then records the
 * position and commits. Whenever a guarantee is in doubt (the check, a row the table refuses, a
 * count that differs, a value COPY text cannot carry) both transactions roll back, {@link #relay}
 * returns null and the page goes the plain way; the FINE log says why.
 */
public final class CopyRelay {
    private static final Logger LOG = Logger.getLogger(CopyRelay.class.getName());
    static final String DECLINED = "mmsync: the relayed page takes the full apply";
    private static final String REFUSED = "mmsync: a value the relay does not carry";
    /** Bytes gathered from the origin's rows before they go to the peer in one message. */
    private static final int CHUNK = 1 << 16;

    private final PeerTables tables;
    private final OnPurpose onPurpose = new OnPurpose();
    private final SyncNodes nodes = new SyncNodes();

    public CopyRelay(String peerName) {
        this.tables = new PeerTables(peerName);
    }

    /** What the origin's queue holds for the page: its rows' table and count, the position after it. */
    public record Rows(TableRef table, boolean insertOnly, long rows, Position next, Instant lastAt, String originSql) {
    }

    /**
     * The select list the origin's COPY writes for {@code table} from the image {@code image} (an
     * SQL expression of type jsonb), columns in the peer's order; null when the table cannot take
     * a relayed page (no COPY into it, an array column, a sync of three or more nodes).
     */
    public String selectList(Connection peer, io.mmsync.engine.model.SyncState sync, TableRef table, boolean insertOnly,
                             String image) throws SQLException {
        tables.use(peer);
        if (nodes.count(peer, sync) > 2 || !peer.isWrapperFor(PGConnection.class)) {
            return null;
        }
        TableShape shape = tables.get(table, insertOnly);
        if (shape.copyKinds == null || shape.copyKinds.indexOf(CopyText.ARRAY) >= 0) {
            return null;
        }
        List<String> cols = new ArrayList<>();
        for (int i = 0; i < shape.columns.size(); i++) {
            String v = image + " -> " + literal(shape.columns.get(i));
            String text = image + " ->> " + literal(shape.columns.get(i));
            String refuse = "(" + OnPurpose.raise(false, OnPurpose.DECLINED, "'" + REFUSED + ": change ' || c.id::text") + ")::text";
            switch (shape.copyKinds.charAt(i)) {
                case CopyText.SCALAR:
                    cols.add("CASE WHEN pg_catalog.jsonb_typeof(" + v + ") IN ('object', 'array') THEN " + refuse
                            + " ELSE " + text + " END");
                    break;
                case CopyText.JSON:
                    cols.add("CASE WHEN pg_catalog.jsonb_typeof(" + v + ") NOT IN ('string', 'null') THEN " + refuse
                            + " ELSE " + text + " END");
                    break;
                case CopyText.JSONB:
                    cols.add("NULLIF(" + v + ", 'null'::jsonb)");
                    break;
                default:
                    return null;
            }
        }
        return String.join(", ", cols);
    }

    /**
     * Relays {@code page}'s rows from the origin ({@code local}, autocommit, free) into the peer and
     * commits them there with the position: the peer's horizon after the commit, or null when the
     * page must go the plain way (both sides rolled back, the reason logged at FINE).
     */
    public PeerHorizon relay(Connection local, Connection peer, String syncName, String origin, Rows page,
                             String settingsSql) throws SQLException {
        tables.use(peer);
        boolean own = onPurpose.own(peer);
        TableShape shape = tables.get(page.table(), page.insertOnly());
        long t0 = System.nanoTime();
        peer.setAutoCommit(false);
        local.setAutoCommit(false);
        try {
            try (PreparedStatement st = peer.prepareStatement(checkSql(own))) {
                st.setString(1, origin);
                st.setString(2, origin);
                st.setString(3, page.table().schema());
                st.setString(4, page.table().name());
                st.execute();
            }
            try (java.sql.Statement st = local.createStatement()) {
                st.execute(settingsSql);
            }
            long t1 = System.nanoTime();
            long[] counts = stream(local, peer, page.originSql(), shape.copySql());
            local.commit();
            if (counts[0] != page.rows() || counts[1] != page.rows()) {
                throw new SQLException("mmsync: relayed page of " + page.rows() + " rows into " + page.table()
                        + ": the origin wrote " + counts[0] + " and the peer took " + counts[1], "40001");
            }
            long t2 = System.nanoTime();
            PeerHorizon h;
            try (PreparedStatement st = peer.prepareStatement(checkSql(own) + "; " + PageEnd.PROGRESS_SQL + "; "
                    + PageEnd.COMMIT_SQL)) {
                st.setString(1, origin);
                st.setString(2, origin);
                st.setString(3, page.table().schema());
                st.setString(4, page.table().name());
                st.setString(5, syncName);
                st.setString(6, origin);
                st.setString(7, page.next().lo());
                st.setString(8, page.next().hi());
                st.setLong(9, page.next().lastId().asLong());
                st.setLong(10, page.rows());
                st.setObject(11, page.lastAt() == null ? null : page.lastAt().atOffset(ZoneOffset.UTC),
                        Types.TIMESTAMP_WITH_TIMEZONE);
                h = PageEnd.committed(peer, st);
            }
            long t3 = System.nanoTime();
            LOG.fine(() -> String.format("relayed page of %d inserts into %s in %.1f ms: check %.1f, copy %.1f, commit %.1f",
                    page.rows(), page.table(), (t3 - t0) / 1e6, (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6));
            return h;
        } catch (SQLException e) {
            rollback(peer, e);
            rollback(local, e);
            tables.clear();
            boolean declined = OnPurpose.is(e, OnPurpose.DECLINED, DECLINED) || OnPurpose.is(e, OnPurpose.DECLINED, REFUSED);
            if (!declined && !ErrorPolicy.isDataError(e) && !"40001".equals(e.getSQLState())) {
                throw e;
            }
            LOG.fine(() -> "relayed page of " + page.rows() + " inserts into " + page.table() + " goes the plain way: "
                    + e.getMessage());
            return null;
        } finally {
            restore(peer);
            restore(local);
        }
    }

    /** Copies the origin's rows into the peer as they come: rows the origin wrote, rows the peer took. */
    private static long[] stream(Connection local, Connection peer, String originSql, String copySql) throws SQLException {
        CopyIn in = peer.unwrap(PGConnection.class).getCopyAPI().copyIn(copySql);
        try {
            CopyOut out = local.unwrap(PGConnection.class).getCopyAPI().copyOut(originSql);
            byte[] chunk = new byte[CHUNK];
            int len = 0;
            try {
                for (byte[] row = out.readFromCopy(); row != null; row = out.readFromCopy()) {
                    if (len + row.length > chunk.length) {
                        in.writeToCopy(chunk, 0, len);
                        len = 0;
                    }
                    if (row.length > chunk.length) {
                        in.writeToCopy(row, 0, row.length);
                    } else {
                        System.arraycopy(row, 0, chunk, len, row.length);
                        len += row.length;
                    }
                }
            } finally {
                if (out.isActive()) {
                    out.cancelCopy();
                }
            }
            if (len > 0) {
                in.writeToCopy(chunk, 0, len);
            }
            long wrote = out.getHandledRowCount();
            return new long[] {wrote, in.endCopy()};
        } finally {
            if (in.isActive()) {
                try {
                    in.cancelCopy();
                } catch (SQLException ce) {
                    LOG.fine(() -> "cancelling the relay's COPY at the peer: " + ce.getMessage());
                }
            }
        }
    }

    // the PageAtOnce check: no set-aside change of the origin, no change of the table in the peer's queue (three
    // columns: PageEnd.committed takes the result of two for the horizon)
    private static String checkSql(boolean own) {
        return "SELECT pg_catalog.set_config('mmsync.origin', ?, true), 0 AS relay, "
            + "(SELECT " + OnPurpose.raise(own, OnPurpose.DECLINED, "'" + DECLINED + ": ' || w.what || ' ' || w.id::text") + " FROM ("
            + "SELECT 'set-aside change' AS what, s.origin_change AS id FROM mmsync.set_aside s "
            + "WHERE s.origin = ? AND s.origin_change IS NOT NULL "
            + "UNION ALL SELECT 'queued change', c.id FROM mmsync.sync_tables st JOIN mmsync.changes c ON c.relid = st.relid "
            + "WHERE st.schema_name::text = ? AND st.table_name::text = ? AND st.mode = 'keyed' AND c.op <> 'T') AS w LIMIT 1)";
    }

    private static String literal(String s) {
        return "'" + s.replace("'", "''") + "'";
    }

    private static void rollback(Connection c, SQLException e) {
        try {
            if (!c.getAutoCommit()) {
                c.rollback();
            }
        } catch (SQLException re) {
            e.addSuppressed(re);
        }
    }

    private static void restore(Connection c) {
        try {
            c.setAutoCommit(true);
        } catch (SQLException ignored) {
            // the connection is broken; the link reconnects and learns of it there
        }
    }
}
