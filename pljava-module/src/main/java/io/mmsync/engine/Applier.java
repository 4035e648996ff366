package io.mmsync.engine;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.Page;
import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Applies a page of an origin's changes at a peer in one peer transaction, together with the
 * new position in the peer's {@code mmsync.progress}: a crash at any instant leaves either both
 * or neither. The transaction sets {@code mmsync.origin}, so the peer's capture triggers do not
 * queue these rows again.
 */
final class Applier {
    private static final String PROGRESS_SQL = "INSERT INTO mmsync.progress AS p "
            + "(sync_name, origin, lo, hi, last_id, applied, batches, last_change_at, applied_at) "
            + "VALUES (?, ?, ?::pg_snapshot, ?::pg_snapshot, ?, ?, 1, ?, pg_catalog.now()) "
            + "ON CONFLICT (sync_name, origin) DO UPDATE SET lo = EXCLUDED.lo, hi = EXCLUDED.hi, "
            + "last_id = EXCLUDED.last_id, applied = p.applied + EXCLUDED.applied, batches = p.batches + 1, "
            + "last_change_at = coalesce(EXCLUDED.last_change_at, p.last_change_at), applied_at = pg_catalog.now()";

    private final String peerName;
    private final Map<TableRef, TableShape> shapes = new HashMap<>();

    Applier(String peerName) {
        this.peerName = peerName;
    }

    /** Forgets the peer's table shapes (after a reconnect or a schema error). */
    void resetShapes() {
        shapes.clear();
    }

    void apply(Connection peer, String syncName, String origin, Page page) throws SQLException {
        peer.setAutoCommit(false);
        try {
            try (PreparedStatement st = peer.prepareStatement("SELECT pg_catalog.set_config('mmsync.origin', ?, true)")) {
                st.setString(1, origin);
                st.execute();
            }
            for (List<Change> run : Runs.split(page.changes())) {
                applyRun(peer, run);
            }
            recordProgress(peer, syncName, origin, page);
            peer.commit();
        } catch (SQLException | RuntimeException e) {
            try {
                peer.rollback();
            } catch (SQLException re) {
                e.addSuppressed(re);
            }
            throw e;
        } finally {
            try {
                peer.setAutoCommit(true);
            } catch (SQLException ignored) {
                // the connection is broken; the caller reconnects and learns of it there
            }
        }
    }

    private void applyRun(Connection peer, List<Change> run) throws SQLException {
        Change first = run.get(0);
        TableShape shape = shape(peer, first.table());
        switch (first.op()) {
            case INSERT:
                execute(peer, shape.insertSql, jsonArray(run, Change::newRow));
                break;
            case DELETE:
                execute(peer, shape.deleteSql, jsonArray(run, Change::oldRow));
                break;
            case UPDATE:
                // A row missing here was deleted or moved here meanwhile: the update is skipped, not
                // turned into an insert, or the row would come back on this node only. (Conflict
                // resolution and the conflict log build on this.)
                if (first.movesKey()) {
                    try (PreparedStatement st = peer.prepareStatement(shape.moveSql)) {
                        st.setObject(1, first.oldRow(), Types.OTHER);
                        st.setObject(2, first.newRow(), Types.OTHER);
                        st.executeUpdate();
                    }
                } else {
                    execute(peer, shape.updateSql, jsonArray(run, Change::newRow));
                }
                break;
            default:
                throw new IllegalStateException("unhandled operation " + first.op());
        }
    }

    private TableShape shape(Connection peer, TableRef table) throws SQLException {
        TableShape s = shapes.get(table);
        if (s == null) {
            s = TableShape.load(peer, table, peerName);
            shapes.put(table, s);
        }
        return s;
    }

    private static int execute(Connection peer, String sql, String json) throws SQLException {
        try (PreparedStatement st = peer.prepareStatement(sql)) {
            st.setObject(1, json, Types.OTHER);
            return st.executeUpdate();
        }
    }

    private static String jsonArray(List<Change> run, Function<Change, String> row) {
        long size = 2;
        for (Change c : run) {
            size += c.weight();
        }
        StringBuilder sb = new StringBuilder((int) Math.min(Integer.MAX_VALUE - 16, size));
        sb.append('[');
        for (int i = 0; i < run.size(); i++) {
            if (i > 0) {
                sb.append(',');
            }
            sb.append(row.apply(run.get(i)));
        }
        return sb.append(']').toString();
    }

    private static void recordProgress(Connection peer, String syncName, String origin, Page page) throws SQLException {
        Instant last = null;
        for (Change c : page.changes()) {
            if (c.at() != null && (last == null || c.at().isAfter(last))) {
                last = c.at();
            }
        }
        try (PreparedStatement st = peer.prepareStatement(PROGRESS_SQL)) {
            st.setString(1, syncName);
            st.setString(2, origin);
            st.setString(3, page.next().lo());
            st.setString(4, page.next().hi());
            st.setLong(5, page.next().lastId().asLong());
            st.setLong(6, page.changes().size());
            st.setTimestamp(7, last == null ? null : Timestamp.from(last));
            st.executeUpdate();
        }
    }
}
