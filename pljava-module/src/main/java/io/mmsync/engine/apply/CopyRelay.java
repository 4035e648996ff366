package io.mmsync.engine.apply;

import io.mmsync.engine.error.ErrorPolicy;
import io.mmsync.engine.model.ChangeId;
import io.mmsync.engine.model.PeerHorizon;
import io.mmsync.engine.model.Position;
import io.mmsync.engine.model.TableRef;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;
import org.postgresql.copy.CopyOut;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.logging.Logger;

/**
 * Issue 15: a catch-up page of inserts into one table relayed as COPY text, the origin's backend
 * writing it ({@code COPY (SELECT ...) TO STDOUT} over the queue's images) and the peer's reading
 * it ({@code COPY ... FROM STDIN}) at the same time, the agent passing the bytes on: no image is
 * parsed in the JVM and no competitor lookup runs. The origin reads the page's window of the
 * queue once: each row comes with its id, whether it is an insert into the table, and its change
 * time; the first row that is not ends the page (neither it nor any row after it is passed on;
 * their columns are not written, so they cost the origin little). Each column gets the text
 * {@code json_populate_record} gives the column's input function, as {@link CopyText} does: the
 * image's {@code ->>} (a string's value, any other value's JSON text), a jsonb column its
 * {@code ->} (JSON null: NULL). The peer's transaction first checks what {@link PageAtOnce} checks
 * (no set-aside change of the origin, no change of the table in the peer's own queue: no
 * competitor), checks it again after the rows, then records the position and commits. Whenever a
 * guarantee is in doubt (the check, a row the table refuses, counts that differ) both
 * transactions roll back, {@link #relay} returns null and the page goes the plain way; the FINE
 * log says why.
 */
public final class CopyRelay {
    private static final Logger LOG = Logger.getLogger(CopyRelay.class.getName());
    static final String DECLINED = "mmsync: the relayed page takes the full apply";
    /** Bytes gathered from the origin's rows before they go to the peer in one message. */
    private static final int CHUNK = 1 << 16;
    /** The origin's COPY transaction: change times in UTC, so that their text orders as they do. */
    private static final String UTC_SQL = "SET LOCAL TimeZone = 'UTC'";

    private final PeerTables tables;
    private final OnPurpose onPurpose = new OnPurpose();
    private final SyncNodes nodes = new SyncNodes();

    public CopyRelay(String peerName) {
        this.tables = new PeerTables(peerName);
    }

    /** A page to relay: the table, and the origin's COPY of the window of at most {@code window} changes after the position. */
    public record Rows(TableRef table, boolean insertOnly, String originSql, int window) {
    }

    /** A relayed page: the peer's horizon after its commit, the changes it held, the position after it. */
    public record Relayed(PeerHorizon horizon, long rows, Position next) {
    }

    /**
     * The origin's COPY query of the window of at most {@code window} changes after {@code pos}
     * ({@code pageSql}: its rows' id, change time and image, in id order; {@code relid}: the
     * table's oid at the origin), each written with the columns of {@code table} as the peer has
     * them; null when the table cannot take a relayed page (no COPY into it, an array column, a
     * sync of three or more nodes).
     */
    public Rows rows(Connection peer, io.mmsync.engine.model.SyncState sync, TableRef table, boolean insertOnly,
                     String pageSql, long relid, int window) throws SQLException {
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
            String name = literal(shape.columns.get(i));
            switch (shape.copyKinds.charAt(i)) {
                case CopyText.SCALAR:
                case CopyText.JSON:
                    cols.add("CASE WHEN w.good THEN w.new ->> " + name + " END");
                    break;
                case CopyText.JSONB:
                    cols.add("CASE WHEN w.good THEN NULLIF(w.new -> " + name + ", 'null'::jsonb) END");
                    break;
                default:
                    return null;
            }
        }
        // no window function over the rows (a third of the query's CPU): each row says whether it is an insert
        // into the table, and only such rows are written out; the agent passes on the rows up to the first that is not
        String sql = "COPY (SELECT w.id, w.good, CASE WHEN w.good THEN w.at END, " + String.join(", ", cols)
                + " FROM (SELECT c.id, c.at, c.new, c.op = 'I' AND c.relid = " + relid + " AS good FROM (" + pageSql
                + ") AS c ORDER BY c.id LIMIT " + window + ") AS w) TO STDOUT";
        return new Rows(table, insertOnly, sql, window);
    }

    /**
     * Relays the page after {@code pos} from the origin ({@code local}, autocommit, free) into the
     * peer and commits it there with the position; null when the page must go the plain way (both
     * sides rolled back, the reason logged at FINE); a result without horizon when the window
     * begins with another change (nothing relayed: the plain way too, without a pause).
     */
    public Relayed relay(Connection local, Connection peer, String syncName, String origin, Rows page, Position pos,
                         String settingsSql) throws SQLException {
        tables.use(peer);
        boolean own = onPurpose.own(peer);
        TableShape shape = tables.get(page.table(), page.insertOnly());
        long t0 = System.nanoTime();
        peer.setAutoCommit(false);
        local.setAutoCommit(false);
        try {
            try (PreparedStatement st = peer.prepareStatement(checkSql(own))) {
                bindCheck(st, origin, page.table());
                st.execute();
            }
            try (java.sql.Statement st = local.createStatement()) {
                st.execute(settingsSql + "; " + UTC_SQL);
            }
            long t1 = System.nanoTime();
            Streamed s = stream(local, peer, page.originSql(), shape.copySql());
            local.commit();
            if (s.rows == 0) {
                peer.rollback();
                return new Relayed(null, 0, pos);
            }
            if (s.taken != s.rows) {
                throw new SQLException("mmsync: relayed page of " + s.rows + " rows into " + page.table()
                        + ": the peer took " + s.taken, "40001");
            }
            Position next = s.rows < page.window() && !s.cut ? pos.rangeDone() : pos.advancedTo(ChangeId.valueOf(s.last));
            long t2 = System.nanoTime();
            PeerHorizon h;
            try (PreparedStatement st = peer.prepareStatement(checkSql(own) + "; " + PageEnd.PROGRESS_SQL + "; "
                    + PageEnd.COMMIT_SQL)) {
                bindCheck(st, origin, page.table());
                st.setString(5, syncName);
                st.setString(6, origin);
                st.setString(7, next.lo());
                st.setString(8, next.hi());
                st.setLong(9, next.lastId().asLong());
                st.setLong(10, s.rows);
                st.setObject(11, s.lastAt, Types.OTHER);
                h = PageEnd.committed(peer, st);
            }
            long t3 = System.nanoTime();
            LOG.fine(() -> String.format("relayed page of %d inserts into %s in %.1f ms: check %.1f, copy %.1f, commit %.1f%s",
                    s.rows, page.table(), (t3 - t0) / 1e6, (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6,
                    s.cut ? " (cut before a change of another kind)" : ""));
            return new Relayed(h, s.rows, next);
        } catch (SQLException e) {
            rollback(peer, e);
            rollback(local, e);
            tables.clear();
            boolean declined = OnPurpose.is(e, OnPurpose.DECLINED, DECLINED);
            if (!declined && !ErrorPolicy.isDataError(e) && !"40001".equals(e.getSQLState())) {
                throw e;
            }
            LOG.fine(() -> "relayed page of inserts into " + page.table() + " goes the plain way: " + e.getMessage());
            return null;
        } finally {
            restore(peer);
            restore(local);
        }
    }

    /** What a relay's stream passed on: rows, the last one's id and change time (text, UTC), whether a change of another kind ended it, rows the peer took. */
    private static final class Streamed {
        long rows;
        long last;
        String lastAt;
        boolean cut;
        long taken;
    }

    /**
     * Copies the origin's rows into the peer as they come, each without its first three fields
     * (id, whether it is an insert into the table, change time), up to the first that is not.
     */
    private static Streamed stream(Connection local, Connection peer, String originSql, String copySql) throws SQLException {
        Streamed s = new Streamed();
        CopyIn in = peer.unwrap(PGConnection.class).getCopyAPI().copyIn(copySql);
        try {
            CopyOut out = local.unwrap(PGConnection.class).getCopyAPI().copyOut(originSql);
            byte[] chunk = new byte[CHUNK];
            byte[] maxAt = new byte[0];
            int len = 0;
            try {
                for (byte[] row = out.readFromCopy(); row != null; row = out.readFromCopy()) {
                    if (s.cut) {
                        continue; // after the window's first change of another kind: its rows are not passed on
                    }
                    int t1 = tab(row, 0);
                    int t2 = t1 + 2;
                    if (row[t1 + 1] != 't' || row[t2] != '\t') {
                        s.cut = true; // the window's first change of another kind
                        continue;
                    }
                    int t3 = tab(row, t2 + 1);
                    s.rows++;
                    s.last = digits(row, t1);
                    if (Arrays.compare(row, t2 + 1, t3, maxAt, 0, maxAt.length) > 0) {
                        maxAt = Arrays.copyOfRange(row, t2 + 1, t3);
                    }
                    int from = t3 + 1;
                    int n = row.length - from;
                    if (len + n > chunk.length) {
                        in.writeToCopy(chunk, 0, len);
                        len = 0;
                    }
                    if (n > chunk.length) {
                        in.writeToCopy(row, from, n);
                    } else {
                        System.arraycopy(row, from, chunk, len, n);
                        len += n;
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
            s.lastAt = maxAt.length == 0 ? null : new String(maxAt, StandardCharsets.US_ASCII);
            s.taken = in.endCopy();
            return s;
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

    private static int tab(byte[] row, int from) throws SQLException {
        for (int i = from; i < row.length; i++) {
            if (row[i] == '\t') {
                return i;
            }
        }
        throw new SQLException("mmsync: a relayed row from the origin has fewer fields than its query (internal error)", "XX000");
    }

    private static long digits(byte[] row, int end) {
        long v = 0;
        for (int i = 0; i < end; i++) {
            v = v * 10 + (row[i] - '0');
        }
        return v;
    }

    private static void bindCheck(PreparedStatement st, String origin, TableRef table) throws SQLException {
        st.setString(1, origin);
        st.setString(2, origin);
        st.setString(3, table.schema());
        st.setString(4, table.name());
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
