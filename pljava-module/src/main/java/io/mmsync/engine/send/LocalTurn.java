package io.mmsync.engine.send;

import io.mmsync.engine.model.ConflictStrategy;
import io.mmsync.engine.model.Page;
import io.mmsync.engine.model.Position;
import io.mmsync.engine.model.SyncState;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * A turn's reads of the local node in one transaction and three round trips (issue 15: they were
 * six, one statement each): (1) the read's planner settings, the confirmation of the page before
 * when the link put it off ({@link LinkStore.Confirm}), the idle-sender lock when the link
 * wants it ({@link Wakeup}, taken before the sync's snapshot is: the range that snapshot opens
 * holds every change of a writer that did not notify) and the sync's row with that snapshot;
 * (2) the page ({@link ChangeReader#readOpen}); (3) whether the peer needs a resync (after the
 * read: see {@code Link}), the column signature ({@link ColumnCheck}) when the page has changes,
 * the lock's release when the link found changes while holding it, and COMMIT. Each statement of
 * the transaction has its own snapshot (read committed), in this order, as the separate
 * statements had.
 */
final class LocalTurn {
    // plan_cache_mode: the last request's CASE WHEN ? THEN (column signature) made the server plan
    // it again at every turn (a custom plan without the sub-select looked cheaper than the generic
    // one): 0.5 ms of the origin's CPU per turn, more than running it (issue 14, bench/README.md)
    static final String SETTINGS_SQL = "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off; SET LOCAL jit = off; "
            + "SET LOCAL plan_cache_mode = force_generic_plan";
    // 'armed': this session holds the lock now; 'other': another session (a link of the same sync to
    // another peer) holds it, so writers notify; 'busy': writers hold it shared, nobody will notify
    static final String ARM_SQL = "SELECT CASE WHEN pg_catalog.pg_try_advisory_lock(?, ?) THEN 'armed' "
            + "WHEN EXISTS (SELECT FROM pg_catalog.pg_locks l WHERE l.locktype = 'advisory' AND l.classid = ?::oid "
            + "AND l.objid = ?::oid AND l.objsubid = 2 AND l.mode = 'ExclusiveLock' AND l.granted "
            + "AND l.pid <> pg_catalog.pg_backend_pid()) THEN 'other' ELSE 'busy' END";
    private static final String BEGIN_SQL = SETTINGS_SQL + "; ";
    private static final String END_SQL = "SELECT (SELECT r.reason FROM mmsync.resync_needed r WHERE r.sync_name = ? "
            + "AND r.peer = ?), CASE WHEN ? THEN (" + ColumnCheck.SIGNATURE_SQL + ") END, "
            + "CASE WHEN ? THEN pg_catalog.pg_advisory_unlock(?, ?) END; COMMIT";

    /** The sync row's statement of a quick turn: its snapshot also goes to the setting the page query reads. */
    static final String QUICK_STATE_SQL = quickState(ChangeReader.STATE_SQL);
    private static final String QUICK_END_SQL = "SELECT (SELECT r.reason FROM mmsync.resync_needed r WHERE r.sync_name = ? "
            + "AND r.peer = ?), (" + ColumnCheck.SIGNATURE_SQL + "); COMMIT";
    /** Rows a quick turn's page reads at most (more make a page cut there, whose range goes on by plain reads). */
    static final int QUICK_ROWS = 64;

    private final String syncName;
    private final String peer;
    /** the lock attempt's outcome in this turn: 'armed', 'other', 'busy', or null (not tried) */
    private String armOutcome;
    private String resyncReason;
    private String signature;
    private long tables = -1;

    LocalTurn(String syncName, String peer) {
        this.syncName = syncName;
        this.peer = peer;
    }

    /**
     * Opens the turn's transaction: the settings, the put-off confirmation {@code confirm} if any,
     * the lock attempt when {@code armSyncId} is not null, and the sync's row (null if the sync is gone).
     */
    SyncState begin(Connection local, Integer armSyncId, LinkStore.Confirm confirm) throws SQLException {
        armOutcome = null;
        local.setAutoCommit(false);
        String sql = BEGIN_SQL + (confirm == null ? "" : LinkStore.CONFIRM_SQL + "; ") + (armSyncId == null ? "" : ARM_SQL + "; ")
                + ChangeReader.STATE_SQL;
        try (PreparedStatement st = local.prepareStatement(sql)) {
            int p = 1;
            if (confirm != null) {
                p = confirm.bind(st, p);
            }
            if (armSyncId != null) {
                p = bindArm(st, p, armSyncId);
            }
            st.setString(p, syncName);
            boolean rs = st.execute();
            while (true) {
                if (rs) {
                    try (ResultSet r = st.getResultSet()) {
                        if (r.getMetaData().getColumnCount() == 1) {
                            r.next();
                            armOutcome = r.getString(1);
                        } else {
                            if (!r.next()) {
                                return null;
                            }
                            tables = r.getLong(8);
                            return new SyncState(r.getString(1), r.getInt(2), r.getBoolean(3), r.getBoolean(4),
                                    r.getLong(5), syncName, ConflictStrategy.fromSql(r.getString(6)), r.getString(7));
                        }
                    }
                } else if (st.getUpdateCount() == -1) {
                    throw new SQLException("mmsync: the turn's first request returned no sync row (internal error)", "XX000");
                }
                rs = st.getMoreResults();
            }
        }
    }

    /** A quick turn's sync row (null if the sync is gone) and page (null then, or if the sync's id changed). */
    record Quick(SyncState sync, Page page) {
    }

    /**
     * Issue 15: a whole turn in one request, for a link whose last page was small (the wake-up's
     * regime, where a turn's requests are most of a commit's lag): what {@link #begin} sends, then
     * the first page of a new range after {@code pos} (at most {@link #QUICK_ROWS} changes; its upper
     * snapshot is the sync row's, passed on in a setting of the transaction), then what {@link #end}
     * reads (the column signature always, the lock is not released here: see Link) and COMMIT.
     * The statements run in the order of the three requests, each with its own snapshot.
     */
    Quick quick(Connection local, Integer armSyncId, LinkStore.Confirm confirm, ChangeReader reader, int syncId,
                Position pos) throws SQLException {
        armOutcome = null;
        resyncReason = null;
        signature = null;
        local.setAutoCommit(false);
        String sql = BEGIN_SQL + (confirm == null ? "" : LinkStore.CONFIRM_SQL + "; ") + (armSyncId == null ? "" : ARM_SQL + "; ")
                + QUICK_STATE_SQL + "; " + reader.quickSql() + "; " + QUICK_END_SQL;
        SyncState sync = null;
        Page page = null;
        boolean ended = false;
        try (PreparedStatement st = local.prepareStatement(sql)) {
            int p = 1;
            if (confirm != null) {
                p = confirm.bind(st, p);
            }
            if (armSyncId != null) {
                p = bindArm(st, p, armSyncId);
            }
            st.setString(p++, syncName);
            p = reader.bindQuick(st, p, syncId, pos, QUICK_ROWS);
            st.setString(p++, syncName);
            st.setString(p++, peer);
            st.setString(p, syncName);
            for (boolean rs = st.execute(); rs || st.getUpdateCount() != -1; rs = st.getMoreResults()) {
                if (!rs) {
                    continue;
                }
                try (ResultSet r = st.getResultSet()) {
                    int columns = r.getMetaData().getColumnCount();
                    if (columns == 1) {
                        r.next();
                        armOutcome = r.getString(1);
                    } else if (columns == 2) {
                        r.next();
                        resyncReason = r.getString(1);
                        signature = String.valueOf(r.getString(2));
                        ended = true;
                    } else if (sync == null && columns == 8) {
                        if (r.next()) {
                            tables = r.getLong(8);
                            sync = new SyncState(r.getString(1), r.getInt(2), r.getBoolean(3), r.getBoolean(4),
                                    r.getLong(5), syncName, ConflictStrategy.fromSql(r.getString(6)), r.getString(7));
                        }
                    } else if (sync != null && sync.id == syncId) {
                        page = reader.collect(r, pos.openRange(sync.snapshot), QUICK_ROWS);
                    }
                }
            }
        }
        if (!ended) {
            throw new SQLException("mmsync: the quick turn's request returned no resync mark (internal error)", "XX000");
        }
        // the server committed (the driver saw it idle): this only sets the mode back
        local.commit();
        local.setAutoCommit(true);
        return new Quick(sync, page);
    }

    private static int bindArm(PreparedStatement st, int p, int armSyncId) throws SQLException {
        st.setInt(p, Wakeup.LOCK_CLASS);
        st.setInt(p + 1, armSyncId);
        st.setInt(p + 2, Wakeup.LOCK_CLASS);
        st.setInt(p + 3, armSyncId);
        return p + 4;
    }

    private static String quickState(String stateSql) {
        String head = "SELECT pg_catalog.pg_current_snapshot()::text, ";
        if (!stateSql.startsWith(head)) {
            throw new IllegalStateException("LocalTurn: the sync row's query does not start as quickState expects");
        }
        return "SELECT pg_catalog.set_config('mmsync.turn_hi', pg_catalog.pg_current_snapshot()::text, true), "
                + stateSql.substring(head.length());
    }

    /** Synced tables (of any sync) counted by the sync row of the last {@link #begin}. */
    long tables() {
        return tables;
    }

    /** What the lock attempt in {@link #begin} found, or null when none was made. */
    String armOutcome() {
        return armOutcome;
    }

    /**
     * Ends the turn's transaction (COMMIT in the same round trip) after the page read: reads the
     * resync mark, the column signature when {@code withSignature}, and releases the idle-sender lock
     * of sync {@code unlockSyncId} when not null.
     */
    void end(Connection local, boolean withSignature, Integer unlockSyncId) throws SQLException {
        try (PreparedStatement st = local.prepareStatement(END_SQL)) {
            st.setString(1, syncName);
            st.setString(2, peer);
            st.setBoolean(3, withSignature);
            st.setString(4, syncName);
            st.setBoolean(5, unlockSyncId != null);
            st.setInt(6, Wakeup.LOCK_CLASS);
            st.setInt(7, unlockSyncId == null ? 0 : unlockSyncId);
            st.execute();
            try (ResultSet r = st.getResultSet()) {
                r.next();
                resyncReason = r.getString(1);
                signature = withSignature ? String.valueOf(r.getString(2)) : null;
            }
        }
        // the server committed (the driver saw it idle): this only sets the mode back
        local.commit();
        local.setAutoCommit(true);
    }

    /** Ends the turn's transaction without its reads (the link takes another path this turn). */
    static void close(Connection local) throws SQLException {
        local.commit();
        local.setAutoCommit(true);
    }

    /** Why the peer needs a resync, as of {@link #end}; null if it does not. */
    String resyncReason() {
        return resyncReason;
    }

    /** The column signature read by {@link #end}, or null if it was not asked for. */
    String signature() {
        return signature;
    }
}
