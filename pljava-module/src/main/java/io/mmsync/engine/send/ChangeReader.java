package io.mmsync.engine.send;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.ChangeId;
import io.mmsync.engine.model.KeySql;
import io.mmsync.engine.model.Op;
import io.mmsync.engine.model.Page;
import io.mmsync.engine.model.Position;
import io.mmsync.engine.model.TableRef;
import io.mmsync.engine.time.Clock;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads the local queue ({@code mmsync.changes}) page by page. A page holds the changes of one
 * snapshot range ("visible in hi, not in lo") with id above the position's last id, in id
 * order, bounded by rows and bytes. Rows stream through a cursor: a page is never loaded whole
 * from the server before it is cut.
 */
final class ChangeReader {
    // The page is cut from the queue's primary key first (index scan from the last id, LIMIT),
    // then joined to the small catalog tables: the queue is never scanned whole for a page.
    static final String PAGE_SQL = "WITH p AS MATERIALIZED (SELECT c.id, c.relid, c.op, c.at, c.old, c.new "
            + "FROM mmsync.changes c WHERE c.sync_id = ? AND c.id > ? "
            + "AND pg_catalog.pg_visible_in_snapshot(c.xid, ?::pg_snapshot) "
            + "AND (?::pg_snapshot IS NULL OR NOT pg_catalog.pg_visible_in_snapshot(c.xid, ?::pg_snapshot)) "
            + "ORDER BY c.id LIMIT ?), "
            // the few synced tables, named: the side the join hashes, not the page's rows
            + "tabs AS MATERIALIZED (SELECT t.relid, t.pk_cols, t.mode, n.nspname, cl.relname FROM mmsync.sync_tables t "
            + "JOIN pg_catalog.pg_class cl ON cl.oid = t.relid JOIN pg_catalog.pg_namespace n ON n.oid = cl.relnamespace) "
            + "SELECT c.id, t.nspname, t.relname, c.op, c.at, c.old::text, c.new::text, "
            + "CASE WHEN c.op = 'T' OR t.mode = 'insert_only' THEN 'id:' || c.id ELSE "
            + KeySql.of("t.pk_cols", "coalesce(c.old, c.new)") + " END AS key, "
            + "CASE WHEN c.op = 'U' THEN " + KeySql.of("t.pk_cols", "c.new") + " END AS newkey, "
            + "t.mode = 'insert_only' AS insert_only "
            + "FROM p AS c JOIN tabs AS t ON t.relid = c.relid "
            + "ORDER BY c.id";

    static final String STATE_SQL = "SELECT pg_catalog.pg_current_snapshot()::text, s.id, s.paused, s.removed, s.version, "
            + "s.conflict, s.prefer FROM mmsync.syncs s WHERE s.name = ?";

    /** Rows of the first fetch of a page; later fetches hold about FETCH_BYTES each. */
    private static final int FIRST_FETCH = 64;
    private static final long FETCH_BYTES = 1L << 20;

    private final int maxRows;
    private final long maxBytes;
    /** where a new range's first page starts walking the queue's index */
    private final RangeFloor rangeFloor;

    ChangeReader(int maxRows, long maxBytes, Clock clock) {
        this.maxRows = maxRows;
        this.maxBytes = maxBytes;
        this.rangeFloor = new RangeFloor(clock);
    }

    /** Samples the queue's range floor when due ({@link RangeFloor}; its own transaction, autocommit). */
    void sampleFloor(Connection local) throws SQLException {
        rangeFloor.sampleIfDue(local);
    }

    /** Reads the next page after {@code pos}, which must have an open range, in a transaction of its own. */
    Page read(Connection local, int syncId, Position pos) throws SQLException {
        boolean wasAuto = local.getAutoCommit();
        local.setAutoCommit(false);
        try {
            try (Statement plan = local.createStatement()) {
                plan.execute(LocalTurn.SETTINGS_SQL);
            }
            Page page = readOpen(local, syncId, pos);
            local.commit();
            return page;
        } catch (SQLException | RuntimeException e) {
            local.rollback();
            throw e;
        } finally {
            local.setAutoCommit(wasAuto);
        }
    }

    /**
     * Reads the next page after {@code pos} in the transaction open on {@code local}, which has the
     * planner settings of {@link LocalTurn#SETTINGS_SQL}: a page walks the primary key from the last
     * id; without them the planner, which cannot estimate the snapshot filter, sorts everything
     * after the last id for each page (and JIT would compile the plan that enable_sort = off makes
     * look expensive).
     */
    Page readOpen(Connection local, int syncId, Position pos) throws SQLException {
        List<Change> changes = new ArrayList<>();
        long bytes = 0;
        boolean cut = false;
        try (PreparedStatement st = local.prepareStatement(PAGE_SQL)) {
            st.setFetchSize(FIRST_FETCH);
            st.setInt(1, syncId);
            // a range's first page starts above the ids no change of the range can have (RangeFloor)
            st.setLong(2, pos.lastId().equals(ChangeId.NONE) ? rangeFloor.below(pos.lo()) : pos.lastId().asLong());
            // untyped parameters: the server types them pg_snapshot and parses each once, not per row
            st.setObject(3, pos.hi(), Types.OTHER);
            st.setObject(4, pos.lo(), Types.OTHER);
            st.setObject(5, pos.lo(), Types.OTHER);
            st.setInt(6, maxRows);
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    Change c = toChange(rs);
                    changes.add(c);
                    bytes += c.weight();
                    if (changes.size() == FIRST_FETCH) {
                        // rows fetched per round trip: as many as fit FETCH_BYTES at the size seen so far
                        rs.setFetchSize((int) Math.max(FIRST_FETCH, Math.min(maxRows, FETCH_BYTES * FIRST_FETCH / bytes)));
                    }
                    if (bytes >= maxBytes && changes.size() < maxRows) {
                        cut = true;
                        break;
                    }
                }
            }
        }
        boolean complete = !cut && changes.size() < maxRows;
        Position next = complete ? pos.rangeDone()
                : pos.advancedTo(changes.get(changes.size() - 1).id());
        return new Page(changes, next, complete);
    }

    private static Change toChange(ResultSet rs) throws SQLException {
        Timestamp at = rs.getTimestamp(5);
        return new Change(ChangeId.valueOf(rs.getLong(1)), new TableRef(rs.getString(2), rs.getString(3)),
                Op.fromCode(rs.getString(4)), at == null ? null : at.toInstant(),
                rs.getString(8), rs.getString(9), rs.getString(6), rs.getString(7), rs.getBoolean(10));
    }
}
