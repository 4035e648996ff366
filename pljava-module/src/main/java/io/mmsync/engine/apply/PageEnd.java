package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.Page;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Instant;

/**
 * The end of a page's apply transaction: the re-check for local changes that raced the decisions,
 * the new position in the peer's {@code mmsync.progress}, and the commit, in two round trips (the
 * re-check and the position as one multi-statement request, then the commit), or in one when the
 * page has nothing to re-check (the position and COMMIT together). They were three.
 */
final class PageEnd {
    private static final String PROGRESS_SQL = "INSERT INTO mmsync.progress AS p "
            + "(sync_name, origin, lo, hi, last_id, applied, batches, last_change_at, applied_at) "
            + "VALUES (?, ?, ?::pg_snapshot, ?::pg_snapshot, ?, ?, 1, ?, pg_catalog.now()) "
            + "ON CONFLICT (sync_name, origin) DO UPDATE SET lo = EXCLUDED.lo, hi = EXCLUDED.hi, "
            + "last_id = EXCLUDED.last_id, applied = p.applied + EXCLUDED.applied, batches = p.batches + 1, "
            + "last_change_at = coalesce(EXCLUDED.last_change_at, p.last_change_at), applied_at = pg_catalog.now()";
    private static final String RACED_AND_PROGRESS_SQL = Resolver.LATE_COMPETITORS_SQL + "; " + PROGRESS_SQL;
    private static final String PROGRESS_AND_COMMIT_SQL = PROGRESS_SQL + "; COMMIT";

    private PageEnd() {
    }

    /**
     * Records the page's new position and commits; false (rolled back) when a change of this node
     * to one of the page's rows committed after the competitor lookup began and is newer than the
     * competitor the decision was made against (or there was none): the decisions are then stale
     * and the page must be resolved again. A local insert of a new key that had not committed when
     * the lookup ran is invisible to it and has no row to lock, but the apply's own insert of that
     * key waits for it on the unique index, so by now it has committed (or aborted) and is visible
     * here; a later local change of the row waits for this transaction instead, so it builds on the
     * applied version and is no competitor.
     */
    static boolean commit(Connection peer, Resolver.Outcome out, String syncName, String origin, Page page)
            throws SQLException {
        if (out.keys == null) {
            try (PreparedStatement st = peer.prepareStatement(PROGRESS_AND_COMMIT_SQL)) {
                progress(st, 1, syncName, origin, page);
                st.execute();
            }
            // the server committed; the driver saw it idle, so this only checks the state
            peer.commit();
            return true;
        }
        boolean raced = false;
        try (PreparedStatement st = peer.prepareStatement(RACED_AND_PROGRESS_SQL)) {
            st.setObject(1, out.keys.toString(), Types.OTHER);
            st.setObject(2, out.snapshot, Types.OTHER);
            progress(st, 3, syncName, origin, page);
            st.execute();
            try (ResultSet rs = st.getResultSet()) {
                while (rs.next() && !raced) {
                    Long decidedAgainst = out.competitorIds.get(rs.getInt(1));
                    raced = decidedAgainst == null || rs.getLong(4) > decidedAgainst;
                }
            }
        }
        if (raced) {
            peer.rollback();
            return false;
        }
        peer.commit();
        return true;
    }

    private static void progress(PreparedStatement st, int from, String syncName, String origin, Page page)
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
        st.setTimestamp(from + 6, last == null ? null : Timestamp.from(last));
    }
}
