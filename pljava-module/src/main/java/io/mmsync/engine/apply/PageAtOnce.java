package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.Op;
import io.mmsync.engine.model.Page;
import io.mmsync.engine.model.PeerHorizon;
import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Types;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Issue 15: a small page of inserts into one table applied in one request at the peer, where the
 * plain path takes two ({@link PageBegin}, then {@link PageEnd}): the origin mark and the check
 * that nothing needs the plain path's decisions (no set-aside change of the origin, no change of
 * the table in the peer's own queue: so no competitor), the insert, the re-check for local changes
 * that committed since that check's snapshot ({@link PageEnd}'s, with the snapshot passed on in a
 * setting), the position, COMMIT and the horizon. The check fails the request when the plain path
 * is needed ({@link #DECLINED}): the transaction is rolled back and the page goes the plain way,
 * which decides it as always. A table so declined (an ERROR line in the peer's log) goes the plain
 * way until a plain page finds its queue empty again, so a peer that writes the table itself
 * declines once per change of regime, not per page.
 */
final class PageAtOnce {
    private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(PageAtOnce.class.getName());
    /** The message of the check's failure ({@link OnPurpose#DECLINED}). */
    static final String DECLINED = "mmsync: the page takes the full apply";
    private static final String SNAP = "pg_catalog.current_setting('mmsync.page_snap')::pg_snapshot";
    /** the request's head and its re-check, without and with mmsync._fail (see OnPurpose) */
    private static final String[] CHECK_SQL = {checkSql(false), checkSql(true)};
    private static final String[] FAIL_IF_RACED_SQL = {withSnapshotSetting(PageEnd.failIfRacedSql(false)),
        withSnapshotSetting(PageEnd.failIfRacedSql(true))};

    /** tables declined (or seen with queued changes by a plain page) since a plain page last found them clear */
    private final Set<TableRef> declined = new HashSet<>();

    /**
     * The page's one run if the page fits: a few inserts (fewer than a plain insert's minimum, see
     * {@link RunExecutor#deferred}) into one table not declined lately, planned as one run; else null.
     */
    Run fits(Page page, PeerTables tables) throws SQLException {
        List<Change> changes = page.changes();
        if (changes.isEmpty() || changes.size() >= RunExecutor.PLAIN_INSERT_MIN) {
            return null;
        }
        TableRef table = changes.get(0).table();
        if (declined.contains(table)) {
            return null;
        }
        for (Change c : changes) {
            if (c.op() != Op.INSERT || !c.table().equals(table)) {
                return null;
            }
        }
        List<Run> runs = RunPlanner.plan(changes, c -> Action.APPLY, tables);
        return runs.size() == 1 ? runs.get(0) : null;
    }

    /**
     * What a plain attempt's first request found: {@code queued}, the tables of the page with
     * changes in the peer's queue; {@code setAside}, whether set-aside changes of the origin wait.
     */
    void learned(Collection<TableRef> pageTables, Set<TableRef> queued, boolean setAside) {
        for (TableRef t : pageTables) {
            if (setAside || queued.contains(t)) {
                declined.add(t);
            } else {
                declined.remove(t);
            }
        }
    }

    /**
     * Applies and commits the page whose one run {@code run} ({@link #fits}) is: the peer's horizon
     * after the commit, or null when the check declined or a local change raced the page (rolled
     * back: the page then goes the plain way).
     */
    PeerHorizon commit(Connection peer, RunExecutor executor, String syncName, String origin, Page page, Run run,
                       boolean ownFailure) throws SQLException {
        RunExecutor.Deferred insert = executor.deferred(run);
        if (insert == null) {
            return null;
        }
        Change first = run.first();
        boolean keyed = !first.insertOnly();
        int own = ownFailure ? 1 : 0;
        String sql = CHECK_SQL[own] + "; " + insert.sql() + "; " + (keyed ? FAIL_IF_RACED_SQL[own] + "; " : "") + PageEnd.PROGRESS_SQL
                + "; " + PageEnd.COMMIT_SQL;
        peer.setAutoCommit(false);
        try (PreparedStatement st = peer.prepareStatement(sql)) {
            st.setString(1, origin);
            st.setString(2, origin);
            st.setString(3, first.table().schema());
            st.setString(4, first.table().name());
            st.setObject(5, insert.json(), Types.OTHER);
            int p = 6;
            if (keyed) {
                Resolver.Outcome all = new Resolver.Outcome();
                all.recheck = candidates(page.changes());
                st.setObject(p, all.keys(), Types.OTHER);
                st.setObject(p + 1, "[]", Types.OTHER); // no competitor: the check found the queue empty
                p += 2;
            }
            PageEnd.progress(st, p, syncName, origin, page);
            return PageEnd.committed(peer, st);
        } catch (SQLException e) {
            try {
                peer.rollback();
            } catch (SQLException re) {
                e.addSuppressed(re);
                throw e;
            }
            boolean declinedNow = OnPurpose.is(e, OnPurpose.DECLINED, DECLINED);
            if (!declinedNow && !OnPurpose.is(e, OnPurpose.RACED, PageEnd.RACED)) {
                throw e;
            }
            if (declinedNow) {
                declined.add(first.table());
                LOG.fine(() -> "page of " + page.changes().size() + " inserts into " + first.table()
                        + " takes the full apply: " + e.getMessage());
            }
            return null;
        } finally {
            peer.setAutoCommit(true);
        }
    }

    // the failure's message holds a column: nothing the planner could fold on a peer without mmsync._fail
    private static String checkSql(boolean own) {
        return "SELECT pg_catalog.set_config('mmsync.origin', ?, true), "
            + "pg_catalog.set_config('mmsync.page_snap', pg_catalog.pg_current_snapshot()::text, true), "
            + "(SELECT " + OnPurpose.raise(own, OnPurpose.DECLINED, "'" + DECLINED + ": ' || w.what || ' ' || w.id::text") + " FROM ("
            + "SELECT 'set-aside change' AS what, s.origin_change AS id FROM mmsync.set_aside s "
            + "WHERE s.origin = ? AND s.origin_change IS NOT NULL "
            + "UNION ALL SELECT 'queued change', c.id FROM mmsync.sync_tables st JOIN mmsync.changes c ON c.relid = st.relid "
            + "WHERE st.schema_name::text = ? AND st.table_name::text = ? AND st.mode = 'keyed' AND c.op <> 'T') AS w LIMIT 1)";
    }

    private static Map<Integer, Change> candidates(List<Change> changes) {
        Map<Integer, Change> m = new LinkedHashMap<>();
        for (int i = 0; i < changes.size(); i++) {
            m.put(i, changes.get(i));
        }
        return m;
    }

    /** {@code sql} with its snapshot parameters (the lookup's snapshot) read from the check's setting. */
    private static String withSnapshotSetting(String sql) {
        String param = "?::pg_snapshot";
        int n = sql.split(java.util.regex.Pattern.quote(param), -1).length - 1;
        if (n != 2) {
            throw new IllegalStateException("PageAtOnce: the re-check has " + n + " snapshot parameters, 2 expected");
        }
        return sql.replace(param, SNAP);
    }
}
