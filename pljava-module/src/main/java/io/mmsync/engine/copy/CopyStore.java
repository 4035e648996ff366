package io.mmsync.engine.copy;

import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;

/** The copy's records: ranges and hand-over on the target, progress per table on the origin. */
final class CopyStore {
    private final String sync;
    private final String origin;
    private final String target;

    CopyStore(String sync, String origin, String target) {
        this.sync = sync;
        this.origin = origin;
        this.target = target;
    }

    /**
     * What the origin must (still) do before the link sends changes: "copy" or "merge" (add_sync's
     * initial, when add_sync ran on this node and the target has not recorded it finished), else null.
     */
    static String pending(Connection local, Connection peer, String sync, String origin, String target) throws SQLException {
        String mode;
        try (PreparedStatement st = local.prepareStatement("SELECT s.initial FROM mmsync.syncs s WHERE s.name = ? AND NOT s.removed "
                + "AND s.initial IN ('copy', 'merge') AND s.initial_from = mmsync.local_node()")) {
            st.setString(1, sync);
            try (ResultSet rs = st.executeQuery()) {
                if (!rs.next()) {
                    return null;
                }
                mode = rs.getString(1);
            }
        }
        try (PreparedStatement st = peer.prepareStatement("SELECT finished_at IS NOT NULL FROM mmsync.copies "
                + "WHERE sync_name = ? AND origin = ? AND target = ?")) {
            st.setString(1, sync);
            st.setString(2, origin);
            st.setString(3, target);
            try (ResultSet rs = st.executeQuery()) {
                return !rs.next() || !rs.getBoolean(1) ? mode : null;
            }
        }
    }

    void started(Connection peer, Connection local) throws SQLException {
        for (Connection c : new Connection[] {peer, local}) {
            try (PreparedStatement st = c.prepareStatement("INSERT INTO mmsync.copies (sync_name, origin, target) VALUES (?, ?, ?) "
                    + "ON CONFLICT (sync_name, origin, target) DO NOTHING")) {
                st.setString(1, sync);
                st.setString(2, origin);
                st.setString(3, target);
                st.executeUpdate();
            }
        }
    }

    /** The target's ranges of the table (empty before it was planned). */
    List<CopyRange> ranges(Connection peer, TableRef t) throws SQLException {
        List<CopyRange> out = new ArrayList<>();
        try (PreparedStatement st = peer.prepareStatement("SELECT range_no, lo, hi, CASE WHEN done_at IS NOT NULL THEN snapshot::text END "
                + "FROM mmsync.copy_ranges WHERE sync_name = ? AND origin = ? AND schema_name = ? AND table_name = ? ORDER BY range_no")) {
            st.setString(1, sync);
            st.setString(2, origin);
            st.setString(3, t.schema());
            st.setString(4, t.name());
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    out.add(new CopyRange(t, rs.getInt(1), rs.getString(2), rs.getString(3), rs.getString(4)));
                }
            }
        }
        return out;
    }

    void plan(Connection peer, List<CopyRange> ranges) throws SQLException {
        try (PreparedStatement st = peer.prepareStatement("INSERT INTO mmsync.copy_ranges (sync_name, origin, schema_name, table_name, "
                + "range_no, lo, hi) VALUES (?, ?, ?, ?, ?, ?, ?)")) {
            for (CopyRange r : ranges) {
                st.setString(1, sync);
                st.setString(2, origin);
                st.setString(3, r.table.schema());
                st.setString(4, r.table.name());
                st.setInt(5, r.no);
                st.setString(6, r.lo);
                st.setString(7, r.hi);
                st.addBatch();
            }
            st.executeBatch();
        }
    }

    /** Marks the range done, in the peer transaction that copied it. */
    void rangeDone(Connection peer, CopyRange r, long rows, long bytes, String snapshot) throws SQLException {
        try (PreparedStatement st = peer.prepareStatement("UPDATE mmsync.copy_ranges SET rows = ?, bytes = ?, snapshot = ?::pg_snapshot, "
                + "done_at = now() WHERE sync_name = ? AND origin = ? AND schema_name = ? AND table_name = ? AND range_no = ?")) {
            st.setLong(1, rows);
            st.setLong(2, bytes);
            st.setObject(3, snapshot, Types.OTHER);
            st.setString(4, sync);
            st.setString(5, origin);
            st.setString(6, r.table.schema());
            st.setString(7, r.table.name());
            st.setInt(8, r.no);
            st.executeUpdate();
        }
    }

    /** A range done at an older snapshot that still holds what the origin holds now. */
    void rangeRefreshed(Connection peer, CopyRange r, String snapshot) throws SQLException {
        try (PreparedStatement st = peer.prepareStatement("UPDATE mmsync.copy_ranges SET snapshot = ?::pg_snapshot "
                + "WHERE sync_name = ? AND origin = ? AND schema_name = ? AND table_name = ? AND range_no = ?")) {
            st.setObject(1, snapshot, Types.OTHER);
            st.setString(2, sync);
            st.setString(3, origin);
            st.setString(4, r.table.schema());
            st.setString(5, r.table.name());
            st.setInt(6, r.no);
            st.executeUpdate();
        }
    }

    /**
     * Hands the link over to the queue, in one target transaction: the copy is finished at
     * {@code snapshot}, and the target has applied every change of the origin visible in it.
     */
    void handOver(Connection peer, String snapshot) throws SQLException {
        boolean auto = peer.getAutoCommit();
        peer.setAutoCommit(false);
        try {
            try (PreparedStatement st = peer.prepareStatement("UPDATE mmsync.copies SET snapshot = ?::pg_snapshot, finished_at = now() "
                    + "WHERE sync_name = ? AND origin = ? AND target = ?")) {
                st.setObject(1, snapshot, Types.OTHER);
                st.setString(2, sync);
                st.setString(3, origin);
                st.setString(4, target);
                st.executeUpdate();
            }
            try (PreparedStatement st = peer.prepareStatement("INSERT INTO mmsync.progress AS p (sync_name, origin, lo, hi, last_id) "
                    + "VALUES (?, ?, ?::pg_snapshot, NULL, 0) ON CONFLICT (sync_name, origin) DO UPDATE SET lo = EXCLUDED.lo, hi = NULL, "
                    + "last_id = 0")) {
                st.setString(1, sync);
                st.setString(2, origin);
                st.setObject(3, snapshot, Types.OTHER);
                st.executeUpdate();
            }
            peer.commit();
        } catch (SQLException | RuntimeException e) {
            peer.rollback();
            throw e;
        } finally {
            peer.setAutoCommit(auto);
        }
    }

    void finishedHere(Connection local, String snapshot) throws SQLException {
        try (PreparedStatement st = local.prepareStatement("UPDATE mmsync.copies SET snapshot = ?::pg_snapshot, finished_at = now() "
                + "WHERE sync_name = ? AND origin = ? AND target = ?")) {
            st.setObject(1, snapshot, Types.OTHER);
            st.setString(2, sync);
            st.setString(3, origin);
            st.setString(4, target);
            st.executeUpdate();
        }
    }

    /** The origin's progress row of a table: registered with its order and estimated rows. */
    void tableRegistered(Connection local, TableRef t, int ord, long rowsTotal) throws SQLException {
        try (PreparedStatement st = local.prepareStatement("INSERT INTO mmsync.copy_tables AS c (sync_name, target, schema_name, table_name, "
                + "ord, rows_total) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sync_name, target, schema_name, table_name) DO UPDATE "
                + "SET ord = EXCLUDED.ord, rows_total = EXCLUDED.rows_total")) {
            st.setString(1, sync);
            st.setString(2, target);
            st.setString(3, t.schema());
            st.setString(4, t.name());
            st.setInt(5, ord);
            st.setLong(6, rowsTotal);
            st.executeUpdate();
        }
    }

    /** Sets the origin's progress of a table (rows and bytes done so far, finished or not). */
    void tableProgress(Connection local, TableRef t, long rows, long bytes, boolean finished) throws SQLException {
        try (PreparedStatement st = local.prepareStatement("UPDATE mmsync.copy_tables SET rows_done = ?, bytes_done = ?, "
                + "started_at = coalesce(started_at, now()), updated_at = now(), finished_at = CASE WHEN ? THEN now() END "
                + "WHERE sync_name = ? AND target = ? AND schema_name = ? AND table_name = ?")) {
            st.setLong(1, rows);
            st.setLong(2, bytes);
            st.setBoolean(3, finished);
            st.setString(4, sync);
            st.setString(5, target);
            st.setString(6, t.schema());
            st.setString(7, t.name());
            st.executeUpdate();
        }
    }

    /** Rows and bytes of the table's ranges already done on the target (a resumed copy counts them). */
    long[] doneSoFar(Connection peer, TableRef t) throws SQLException {
        try (PreparedStatement st = peer.prepareStatement("SELECT coalesce(sum(rows), 0), coalesce(sum(bytes), 0) FROM mmsync.copy_ranges "
                + "WHERE sync_name = ? AND origin = ? AND schema_name = ? AND table_name = ? AND done_at IS NOT NULL")) {
            st.setString(1, sync);
            st.setString(2, origin);
            st.setString(3, t.schema());
            st.setString(4, t.name());
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                return new long[] {rs.getLong(1), rs.getLong(2)};
            }
        }
    }

    /**
     * Drops the plain secondary indexes of the target's table when it is empty, recording them in the
     * target's mmsync.copy_indexes in the same transaction (mmsync._copy_defer_indexes); returns how many.
     */
    int deferIndexes(Connection peer, TableRef t) throws SQLException {
        try (PreparedStatement st = peer.prepareStatement("SELECT mmsync._copy_defer_indexes(?, ?, ?::regclass)")) {
            st.setString(1, sync);
            st.setString(2, origin);
            st.setString(3, t.quoted());
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }

    /** The target's indexes of the table this sync's copy dropped and has not built again yet. */
    List<String> deferredIndexes(Connection peer, TableRef t) throws SQLException {
        List<String> out = new ArrayList<>();
        try (PreparedStatement st = peer.prepareStatement("SELECT index_name FROM mmsync.copy_indexes WHERE sync_name = ? "
                + "AND schema_name = ? AND table_name = ? ORDER BY index_name")) {
            st.setString(1, sync);
            st.setString(2, t.schema());
            st.setString(3, t.name());
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    out.add(rs.getString(1));
                }
            }
        }
        return out;
    }

    /**
     * Builds the target's dropped indexes of the sync (of one table and one index; null: all) and
     * forgets their records, in one transaction; no time limit (a big table's index takes minutes).
     */
    int restoreIndexes(Connection peer, TableRef t, String index) throws SQLException {
        try (Statement st = peer.createStatement()) {
            st.execute("SET statement_timeout = 0");
        }
        try (PreparedStatement st = peer.prepareStatement("SELECT mmsync._copy_restore_indexes(?, ?::regclass, ?)")) {
            st.setString(1, sync);
            st.setString(2, t == null ? null : t.quoted());
            st.setString(3, index);
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }
}
