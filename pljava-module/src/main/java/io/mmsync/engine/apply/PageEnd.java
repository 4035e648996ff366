package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.Page;
import io.mmsync.engine.model.PeerHorizon;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.List;

/**
 * The end of a page's apply transaction: the re-check for local changes that raced the decisions,
 * the new position in the peer's {@code mmsync.progress}, the commit and the peer's horizon right
 * after it ({@link PeerHorizon}, for the link's purge mark), in one round trip: the re-check, gated
 * by a cheap check whether anything local committed meanwhile, fails the request when the page
 * raced (see {@link #RACED}). A page of many keys asks the cheap check first (with the position)
 * and sends its keys in another request only when it says so, then commits.
 */
final class PageEnd {
    private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(PageEnd.class.getName());
    static final String PROGRESS_SQL = "INSERT INTO mmsync.progress AS p "
            + "(sync_name, origin, lo, hi, last_id, applied, batches, last_change_at, applied_at) "
            + "VALUES (?, ?, ?::pg_snapshot, ?::pg_snapshot, ?, ?, 1, ?, pg_catalog.now()) "
            + "ON CONFLICT (sync_name, origin) DO UPDATE SET lo = EXCLUDED.lo, hi = EXCLUDED.hi, "
            + "last_id = EXCLUDED.last_id, applied = p.applied + EXCLUDED.applied, batches = p.batches + 1, "
            + "last_change_at = coalesce(EXCLUDED.last_change_at, p.last_change_at), applied_at = pg_catalog.now()";
    /**
     * Whether a transaction other than this one committed after the lookup's snapshot (the
     * parameter) and before this statement's: one that was in progress in the first, or began
     * after it. Only such a transaction can have queued a change the lookup did not see, so
     * without one the re-check would find nothing. It costs a look at the commit log per
     * transaction begun while the page applied (more than {@link #MAX_XIDS}: assumed yes), not a
     * pass over the queue and the page's keys.
     */
    static final String LATE_COMMITS_SQL = "SELECT v.b - v.a > " + PageEnd.MAX_XIDS + " OR EXISTS (SELECT 1 FROM "
            + "(SELECT pg_catalog.pg_snapshot_xip(v.s1) AS x UNION ALL SELECT g::text::xid8 FROM pg_catalog.generate_series(v.a, "
            + "v.b - 1) AS g) AS t WHERE pg_catalog.pg_visible_in_snapshot(t.x, v.s2) AND pg_catalog.pg_xact_status(t.x) = 'committed') "
            + "FROM (SELECT w.s1, w.s2, pg_catalog.pg_snapshot_xmax(w.s1)::text::bigint AS a, "
            + "pg_catalog.pg_snapshot_xmax(w.s2)::text::bigint AS b FROM (SELECT ?::pg_snapshot AS s1, "
            + "pg_catalog.pg_current_snapshot() AS s2) AS w) AS v";
    /** Transactions begun during a page beyond which the check above does not look at each. */
    static final int MAX_XIDS = 10_000;
    /** Pages of at most this many candidates send their keys with the check (one request); larger ones only if it says so. */
    static final int KEYS_WITH_CHECK = 256;
    /**
     * The re-check, run only when the check says a transaction committed since the lookup, as a
     * statement that fails when it finds a change newer than the one a decision was made against
     * (or one where there was none): the request's later statements, the position and COMMIT, are
     * then skipped by the server and the transaction is rolled back (issue 15: the re-check, the
     * position and the commit in one round trip). The error ({@link OnPurpose}) has SQLSTATE
     * {@link OnPurpose#RACED} (22P02 on a peer without {@code mmsync._fail}) and {@link #RACED} in
     * its message.
     */
    static final String RACED = "mmsync: a local change raced the page";
    static final String COMMIT_SQL = "COMMIT; " + PeerHorizon.SQL;
    /**
     * The late changes that make a decision stale: newer than the competitor the decision was made
     * against (or there was none), and not an update of delta columns alone that leaves it as it is
     * ({@link LateDelta}). Parameters: the candidates' keys, the lookup's snapshot, {@link LateDelta#decided}.
     */
    private static final String RACED_FROM = "(" + CompetitorSql.LATE_COMPETITORS_SQL + ") AS r "
            + "LEFT JOIN pg_catalog.jsonb_to_recordset(?::jsonb) AS d(i int, c bigint, x boolean, n jsonb) "
            + "ON d.i = r.i WHERE (d.c IS NULL OR r.id > d.c) AND NOT " + LateDelta.HARMLESS_SQL;
    private static final String RACED_SQL = "SELECT r.id FROM " + RACED_FROM;

    private static final String[] FAIL_IF_RACED_AND_COMMIT_SQL = {failIfRacedSql(false) + "; " + PROGRESS_SQL + "; " + COMMIT_SQL,
        failIfRacedSql(true) + "; " + PROGRESS_SQL + "; " + COMMIT_SQL};
    private static final String LATE_COMMITS_AND_PROGRESS_SQL = LATE_COMMITS_SQL + "; " + PROGRESS_SQL;
    private static final String PROGRESS_AND_COMMIT_SQL = PROGRESS_SQL + "; " + COMMIT_SQL;

    private PageEnd() {
    }

    /** The re-check that fails the request when the page raced ({@code own}: with {@code mmsync._fail}, see {@link OnPurpose}). */
    static String failIfRacedSql(boolean own) {
        return "SELECT " + OnPurpose.raise(own, OnPurpose.RACED, "'" + RACED + ": change ' || r.id::text") + " FROM "
            + RACED_FROM + " AND (" + LATE_COMMITS_SQL + ")";
    }

    /**
     * Records the page's new position and commits, returning the peer's horizon right after the
     * commit; null (rolled back) when a change of this node
     * to one of the page's rows committed after the competitor lookup began and is newer than the
     * competitor the decision was made against (or there was none): the decisions are then stale
     * and the page must be resolved again. A local insert of a new key that had not committed when
     * the lookup ran is invisible to it and has no row to lock, but the apply's own insert of that
     * key waits for it on the unique index, so by now it has committed (or aborted) and is visible
     * here; a later local change of the row waits for this transaction instead, so it builds on the
     * applied version and is no competitor.
     * <p>
     * The re-check runs only when some transaction of this node committed since the lookup's
     * snapshot ({@link #LATE_COMMITS_SQL}); a page of many keys asks that first, without its keys,
     * and sends them only then (a catch-up's peer, where nothing local commits, never does).
     */
    static PeerHorizon commit(Connection peer, Resolver.Outcome out, String syncName, String origin, Page page,
                              List<RunExecutor.Deferred> last, boolean ownFailure) throws SQLException {
        // the page's last statements, if they were left for this request, go first
        StringBuilder heads = new StringBuilder();
        for (RunExecutor.Deferred d : last) {
            heads.append(d.sql()).append("; ");
        }
        String head = heads.toString();
        int p = 1;
        if (out.recheck == null) {
            try (PreparedStatement st = peer.prepareStatement(head + PROGRESS_AND_COMMIT_SQL)) {
                p = deferred(st, last);
                progress(st, p, syncName, origin, page);
                return committed(peer, st);
            }
        }
        if (out.recheck.size() <= KEYS_WITH_CHECK) {
            try (PreparedStatement st = peer.prepareStatement(head + FAIL_IF_RACED_AND_COMMIT_SQL[ownFailure ? 1 : 0])) {
                p = deferred(st, last);
                st.setObject(p, out.keys(), Types.OTHER);
                st.setObject(p + 1, out.snapshot, Types.OTHER);
                st.setObject(p + 2, LateDelta.decided(out), Types.OTHER);
                st.setObject(p + 3, out.snapshot, Types.OTHER);
                progress(st, p + 4, syncName, origin, page);
                return committed(peer, st);
            } catch (SQLException e) {
                if (!OnPurpose.is(e, OnPurpose.RACED, RACED)) {
                    throw e;
                }
                peer.rollback();
                return null;
            }
        }
        boolean late = false;
        try (PreparedStatement st = peer.prepareStatement(head + LATE_COMMITS_AND_PROGRESS_SQL)) {
            p = deferred(st, last);
            st.setObject(p, out.snapshot, Types.OTHER);
            progress(st, p + 1, syncName, origin, page);
            // the check's is the one result with a row (a deferred statement's guard, LateDelta, has none)
            for (boolean rs = st.execute(); rs || st.getUpdateCount() != -1; rs = st.getMoreResults()) {
                if (rs) {
                    try (ResultSet r = st.getResultSet()) {
                        if (r.next()) {
                            late = r.getBoolean(1);
                        }
                    }
                }
            }
        }
        if (late && recheck(peer, out)) {
            peer.rollback();
            return null;
        }
        try (PreparedStatement st = peer.prepareStatement(COMMIT_SQL)) {
            return committed(peer, st);
        }
    }

    /** Binds the deferred statements' rows, if any; the index of the next parameter. */
    private static int deferred(PreparedStatement st, List<RunExecutor.Deferred> last) throws SQLException {
        int p = 1;
        for (RunExecutor.Deferred d : last) {
            st.setObject(p++, d.json(), Types.OTHER);
            if (d.json2() != null) {
                st.setObject(p++, d.json2(), Types.OTHER);
            }
        }
        return p;
    }

    /**
     * Runs a request that ends in {@link #COMMIT_SQL}: the peer's horizon right after the commit.
     * The server committed; the driver saw it idle, so {@code commit()} only checks the state.
     */
    static PeerHorizon committed(Connection peer, PreparedStatement st) throws SQLException {
        PeerHorizon h = null;
        // the horizon is the one row of the last result (the re-check's, before it, has none; PageAtOnce's
        // check, first, has three columns)
        for (boolean rs = st.execute(); rs || st.getUpdateCount() != -1; rs = st.getMoreResults()) {
            if (rs) {
                try (ResultSet r = st.getResultSet()) {
                    if (r.getMetaData().getColumnCount() == 2 && r.next()) {
                        // as OffsetDateTime: pgJDBC's Timestamp goes through a Calendar per value
                        h = new PeerHorizon(r.getString(1), r.getObject(2, OffsetDateTime.class).toInstant());
                    }
                }
            }
        }
        if (h == null) {
            throw new SQLException("mmsync: the apply's commit request returned no horizon (internal error)", "XX000");
        }
        peer.commit();
        return h;
    }

    /** The re-check of a page of many keys, once local transactions committed since the lookup. */
    private static boolean recheck(Connection peer, Resolver.Outcome out) throws SQLException {
        LOG.fine(() -> "re-check of " + out.recheck.size() + " keys: local transactions committed since the lookup");
        try (PreparedStatement st = peer.prepareStatement(RACED_SQL)) {
            st.setObject(1, out.keys(), Types.OTHER);
            st.setObject(2, out.snapshot, Types.OTHER);
            st.setObject(3, LateDelta.decided(out), Types.OTHER);
            try (ResultSet rs = st.executeQuery()) {
                return rs.next();
            }
        }
    }

    static void progress(PreparedStatement st, int from, String syncName, String origin, Page page)
            throws SQLException {
        Instant last = null;
        for (Change c : page.changes()) {
            if (c.at() != null && (last == null || c.at().isAfter(last))) {
                last = c.at();
            }
        }
        st.setString(from, syncName);
        st.setString(from + 1, origin);
        st.setString(from + 2, page.next().lo());
        st.setString(from + 3, page.next().hi());
        st.setLong(from + 4, page.next().lastId().asLong());
        st.setLong(from + 5, page.changes().size());
        st.setObject(from + 6, last == null ? null : last.atOffset(ZoneOffset.UTC), Types.TIMESTAMP_WITH_TIMEZONE);
    }
}
