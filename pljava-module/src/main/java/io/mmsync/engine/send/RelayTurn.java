package io.mmsync.engine.send;

import io.mmsync.engine.apply.CopyRelay;
import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.ChangeId;
import io.mmsync.engine.model.Op;
import io.mmsync.engine.model.Page;
import io.mmsync.engine.model.Position;
import io.mmsync.engine.model.SyncState;
import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.logging.Logger;

/**
 * Issue 15: the pages of a catch-up of inserts into one table, relayed as COPY text from the
 * origin's backend to the peer's ({@link CopyRelay}). A full page of inserts into one table read
 * the plain way is not applied: the link relays from its first change instead (once per position:
 * a relay given back or declined leaves the page to the plain way, and the next page may be
 * relayed). A relayed page is the window of up to {@link #FACTOR} times the plain page's changes
 * (nothing of it is held in the JVM), cut before its first change that is not an insert into that
 * table. A window that begins with another change, or a page the relay gives back, goes the plain
 * way, which decides it as always; after a page given back the relay rests for {@link #REST}
 * pages. The system property {@code mmsync.relay=false} turns it off, {@code mmsync.relayFactor}
 * sets the factor, {@code mmsync.relayTakeOver=false} applies the first page the plain way.
 */
final class RelayTurn {
    private static final Logger LOG = Logger.getLogger(RelayTurn.class.getName());
    static final boolean ENABLED = !"false".equals(System.getProperty("mmsync.relay"));
    /**
     * A relayed page holds up to this many times the plain page's rows (nothing of it is held in
     * the JVM; fewer pages, fewer turns: a turn's requests cost about a fifth of a 20,000-row page's time).
     */
    static final int FACTOR = Integer.getInteger("mmsync.relayFactor", 20);
    /** A relayed page holds no more than this many changes, whatever the plain page's size (one peer transaction). */
    static final int MAX_ROWS = 100_000;
    /**
     * Whether a full page of inserts into one table read the plain way is relayed from its first
     * change (instead of applied, the next one relayed); {@code mmsync.relayTakeOver=false} turns it off.
     */
    static final boolean TAKE_OVER = !"false".equals(System.getProperty("mmsync.relayTakeOver"));
    /** Plain pages after a page the relay gave back before it tries again. */
    static final int REST = 20;
    private static final String TABLE_SQL = "SELECT st.relid, st.mode = 'insert_only' FROM mmsync.sync_tables st "
            + "WHERE st.sync_id = ? AND st.schema_name::text = ? AND st.table_name::text = ?";

    private final CopyRelay relay;
    private final int rows;
    /** the table whose inserts the last page held (whole), or null: the next page is read the plain way */
    private TableRef table;
    private int resting;
    /** the last position a page read the plain way was to be relayed from (it is not again) */
    private Position tookOver;

    RelayTurn(String peerName, int pageRows) {
        this.relay = new CopyRelay(peerName);
        this.rows = (int) Math.max(pageRows, Math.min(MAX_ROWS, (long) pageRows * FACTOR));
    }

    /**
     * A page read the plain way, from {@code from}: when it is full, of inserts into one table, it
     * is not applied but relayed from its first change (the position returned; the link's next turn
     * relays it), unless a relay from that position was tried already (the relay gave it back, or
     * it is no longer due): then it is applied, and the next page may be relayed.
     */
    Position takeOver(Page page, Position from) {
        table = null;
        if (!ENABLED || page.rangeComplete() || page.isEmpty()) {
            return null;
        }
        if (resting > 0) {
            resting--;
            return null;
        }
        TableRef t = page.changes().get(0).table();
        for (Change c : page.changes()) {
            if (c.op() != Op.INSERT || !c.table().equals(t)) {
                return null;
            }
        }
        table = t;
        // no change of the range lies between the position and the page's first change
        Position start = from.advancedTo(ChangeId.valueOf(page.changes().get(0).id().asLong() - 1));
        if (!TAKE_OVER || start.equals(tookOver) || !due(start)) {
            return null;
        }
        tookOver = start;
        LOG.fine(() -> "the page of " + page.changes().size() + " inserts into " + t + " after " + from
                + " is relayed from its first change instead");
        return start;
    }

    /** Whether the page after {@code pos} is to be relayed (the link then reads no page ahead). */
    boolean due(Position pos) {
        // (a last id of NONE: a take-over of a range's first page whose first change is the queue's first)
        return table != null && pos.hasOpenRange();
    }

    /**
     * The relay of the page after {@code pos} (its table looked up in the turn's transaction on
     * {@code local}), or null when the page goes the plain way (the link reads it then, in the
     * same transaction).
     */
    CopyRelay.Rows prepare(Connection local, Connection peer, SyncState sync, Position pos) throws SQLException {
        TableRef t = table;
        table = null;
        long relid;
        boolean insertOnly;
        try (PreparedStatement st = local.prepareStatement(TABLE_SQL)) {
            st.setInt(1, sync.id);
            st.setString(2, t.schema());
            st.setString(3, t.name());
            try (ResultSet rs = st.executeQuery()) {
                if (!rs.next()) {
                    return null; // no longer synced: the plain way says so
                }
                relid = rs.getLong(1);
                insertOnly = rs.getBoolean(2);
            }
        }
        String pageSql = "SELECT c.id, c.op, c.relid, c.at, c.new FROM mmsync.changes c WHERE c.sync_id = " + sync.id
                + " AND c.id > " + pos.lastId().asLong() + " AND pg_catalog.pg_visible_in_snapshot(c.xid, "
                + literal(pos.hi()) + "::pg_snapshot)" + (pos.lo() == null ? ""
                : " AND NOT pg_catalog.pg_visible_in_snapshot(c.xid, " + literal(pos.lo()) + "::pg_snapshot)");
        CopyRelay.Rows r = relay.rows(peer, sync, t, insertOnly, pageSql, relid, rows);
        if (r == null) {
            LOG.fine(() -> "pages of inserts into " + t + " are read the plain way: the peer's table takes no relayed "
                    + "COPY text (no COPY, an array column, or a sync of three or more nodes)");
            resting = Integer.MAX_VALUE;
        }
        return r;
    }

    /**
     * Relays the page after {@code pos} (its own transactions on both connections): null when it
     * goes the plain way (after a page given back the relay rests).
     */
    CopyRelay.Relayed relay(Connection local, Connection peer, String syncName, String origin, CopyRelay.Rows page,
                            Position pos) throws SQLException {
        CopyRelay.Relayed r = relay.relay(local, peer, syncName, origin, page, pos, LocalTurn.SETTINGS_SQL);
        if (r == null) {
            resting = REST;
            return null;
        }
        if (r.horizon() == null) {
            LOG.fine(() -> "the page after " + pos + " is read the plain way: it begins with a change that is not an insert into "
                    + page.table());
            return null;
        }
        // after a page cut before another change the next one begins with it: the plain way
        table = r.next().hasOpenRange() && r.rows() == page.window() ? page.table() : null;
        return r;
    }

    private static String literal(String s) {
        return "'" + s.replace("'", "''") + "'";
    }
}
