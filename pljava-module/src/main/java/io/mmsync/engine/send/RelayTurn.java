package io.mmsync.engine.send;

import io.mmsync.engine.apply.CopyRelay;
import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.ChangeId;
import io.mmsync.engine.model.Op;
import io.mmsync.engine.model.Page;
import io.mmsync.engine.model.PeerHorizon;
import io.mmsync.engine.model.Position;
import io.mmsync.engine.model.SyncState;
import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.OffsetDateTime;
import java.util.logging.Logger;

/**
 * Issue 15: the pages of a catch-up of inserts into one table, relayed as COPY text from the
 * origin's backend to the peer's ({@link CopyRelay}). After a full page of inserts into one table
 * (read and applied the plain way) the link asks the queue what the next page holds, without its
 * images ({@link #SUMMARY_SQL}: how many inserts into that table it begins with, the last one's
 * id); those (up to {@link #FACTOR} times the plain page's rows: nothing of them is held in the
 * JVM) are relayed as a page, cut before the first change of another kind. Any other page, or
 * one the relay gives back, goes the plain way, which decides it as always; after a page given
 * back the relay rests for {@link #REST} pages. The system property {@code mmsync.relay=false}
 * turns it off, {@code mmsync.relayFactor} sets the factor.
 */
final class RelayTurn {
    private static final Logger LOG = Logger.getLogger(RelayTurn.class.getName());
    static final boolean ENABLED = !"false".equals(System.getProperty("mmsync.relay"));
    /**
     * A relayed page holds this many times the plain page's rows (nothing of it is held in the JVM;
     * fewer pages, fewer turns: a turn's requests cost about a fifth of a 20,000-row page's time).
     */
    static final int FACTOR = Integer.getInteger("mmsync.relayFactor", 10);
    /** Plain pages after a page the relay gave back before it tries again. */
    static final int REST = 20;

    // the page's rows without their images, then the run of inserts into the expected table it begins with
    static final String SUMMARY_SQL = "WITH p AS MATERIALIZED (SELECT c.id, c.op, c.relid, c.at FROM mmsync.changes c "
            + "WHERE c.sync_id = ? AND c.id > ? AND pg_catalog.pg_visible_in_snapshot(c.xid, ?::pg_snapshot) "
            + "AND (?::pg_snapshot IS NULL OR NOT pg_catalog.pg_visible_in_snapshot(c.xid, ?::pg_snapshot)) "
            + "ORDER BY c.id LIMIT ?), "
            + "t AS MATERIALIZED (SELECT st.relid, st.mode = 'insert_only' AS insert_only FROM mmsync.sync_tables st "
            + "WHERE st.sync_id = ? AND st.schema_name::text = ? AND st.table_name::text = ?), "
            + "stop AS MATERIALIZED (SELECT pg_catalog.min(p.id) AS id FROM p WHERE p.op <> 'I' OR p.relid <> (SELECT t.relid FROM t)) "
            + "SELECT pg_catalog.count(*), pg_catalog.max(p.id), pg_catalog.max(p.at), (SELECT stop.id FROM stop), "
            + "(SELECT t.relid FROM t), (SELECT t.insert_only FROM t) "
            + "FROM p WHERE p.id < coalesce((SELECT stop.id FROM stop), " + Long.MAX_VALUE + ")";
    /** A run of inserts shorter than this goes the plain way (RunExecutor's plain insert minimum). */
    static final int MIN_ROWS = 100;

    private final CopyRelay relay;
    private final int rows;
    /** the table whose inserts the last page held (whole), or null: the next page is read the plain way */
    private TableRef table;
    private int resting;

    RelayTurn(String peerName, int pageRows) {
        this.relay = new CopyRelay(peerName);
        this.rows = (int) Math.min(Integer.MAX_VALUE, (long) pageRows * FACTOR);
    }

    /** A page read the plain way: whether the next one may be relayed (it is full, of inserts into one table). */
    void observe(Page page) {
        table = null;
        if (!ENABLED || page.rangeComplete() || page.isEmpty()) {
            return;
        }
        if (resting > 0) {
            resting--;
            return;
        }
        TableRef t = page.changes().get(0).table();
        for (Change c : page.changes()) {
            if (c.op() != Op.INSERT || !c.table().equals(t)) {
                return;
            }
        }
        table = t;
    }

    /** Whether the page after {@code pos} is to be asked for a relay (the link then reads no page ahead). */
    boolean due(Position pos) {
        return table != null && pos.hasOpenRange() && !pos.lastId().equals(ChangeId.NONE);
    }

    /**
     * What the page after {@code pos} holds, in the turn's transaction on {@code local} (with the
     * planner settings of {@link LocalTurn#SETTINGS_SQL}): the rows to relay, or null when the page
     * goes the plain way (the link reads it then, in the same transaction).
     */
    CopyRelay.Rows summary(Connection local, Connection peer, SyncState sync, Position pos) throws SQLException {
        TableRef expected = table;
        table = null;
        try (PreparedStatement st = local.prepareStatement(SUMMARY_SQL)) {
            st.setInt(1, sync.id);
            st.setLong(2, pos.lastId().asLong());
            st.setObject(3, pos.hi(), Types.OTHER);
            st.setObject(4, pos.lo(), Types.OTHER);
            st.setObject(5, pos.lo(), Types.OTHER);
            st.setInt(6, rows);
            st.setInt(7, sync.id);
            st.setString(8, expected.schema());
            st.setString(9, expected.name());
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                long n = rs.getLong(1);
                rs.getLong(4);
                boolean cut = !rs.wasNull();
                long relid = rs.getLong(5);
                if (n < MIN_ROWS || rs.wasNull()) {
                    LOG.fine(() -> "the page after " + pos + " is read the plain way: it begins with " + n
                            + " inserts into " + expected);
                    return null;
                }
                boolean insertOnly = rs.getBoolean(6);
                String list = relay.selectList(peer, sync, expected, insertOnly, "c.new");
                if (list == null) {
                    LOG.fine(() -> "pages of inserts into " + expected + " are read the plain way: the peer's table takes "
                            + "no relayed COPY text (no COPY, an array column, or a sync of three or more nodes)");
                    resting = Integer.MAX_VALUE;
                    return null;
                }
                ChangeId last = ChangeId.valueOf(rs.getLong(2));
                OffsetDateTime at = rs.getObject(3, OffsetDateTime.class);
                // the page ends the range when it is neither full nor cut before a change of another kind
                Position next = n < rows && !cut ? pos.rangeDone() : pos.advancedTo(last);
                String sql = "COPY (SELECT " + list + " FROM mmsync.changes c WHERE c.sync_id = " + sync.id
                        + " AND c.id > " + pos.lastId().asLong() + " AND c.id <= " + last.asLong()
                        + " AND c.relid = " + relid + " AND c.op = 'I' AND pg_catalog.pg_visible_in_snapshot(c.xid, "
                        + literal(pos.hi()) + "::pg_snapshot)" + (pos.lo() == null ? ""
                        : " AND NOT pg_catalog.pg_visible_in_snapshot(c.xid, " + literal(pos.lo()) + "::pg_snapshot)")
                        + " ORDER BY c.id) TO STDOUT";
                return new CopyRelay.Rows(expected, insertOnly, n, next, at == null ? null : at.toInstant(), sql);
            }
        }
    }

    /**
     * Relays the page (its own transactions on both connections): the peer's horizon after its
     * commit, or null when the page goes the plain way (the relay then rests).
     */
    PeerHorizon relay(Connection local, Connection peer, String syncName, String origin, CopyRelay.Rows page)
            throws SQLException {
        PeerHorizon h = relay.relay(local, peer, syncName, origin, page, LocalTurn.SETTINGS_SQL);
        if (h == null) {
            resting = REST;
        } else if (!page.next().hasOpenRange()) {
            table = null;
        } else {
            table = page.table();
        }
        return h;
    }

    private static String literal(String s) {
        return "'" + s.replace("'", "''") + "'";
    }
}
