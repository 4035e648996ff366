package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.ConflictStrategy;
import io.mmsync.engine.model.Op;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;

/**
 * Changes from the peer whose row is not here: an update (its row is put back as the change's new
 * version) or a delete (nothing to delete). No local change competed for the row (that is a
 * conflict the resolver decides): the row was deleted here before the conflict window, or never
 * arrived. Both nodes end equal either way, but the DBA sees each in mmsync.conflicts, as
 * {@code update_missing} or {@code delete_missing} with the resolution {@code remote_applied}
 * (issue 17: a lost insert shows there at once).
 */
final class MissingRows {
    private final List<Change> found = new ArrayList<>();

    /** The run's changes (the last update of each row) whose rows are not here; asked before they are put back. */
    static List<Change> ofUpdates(Connection peer, TableShape shape, List<Change> last) throws SQLException {
        return ordinals(peer, shape.missingSql(), RunExecutor.rows(last, Change::newRow), last);
    }

    /** Deletes the run's rows; returns the changes whose rows were not here. */
    static List<Change> delete(Connection peer, TableShape shape, List<Change> run) throws SQLException {
        return ordinals(peer, shape.deleteReportingSql(), RunExecutor.rows(run, Change::oldRow), run);
    }

    private static List<Change> ordinals(Connection peer, String sql, String json, List<Change> changes) throws SQLException {
        List<Change> out = new ArrayList<>();
        try (PreparedStatement st = peer.prepareStatement(sql)) {
            st.setObject(1, json, Types.OTHER);
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    out.add(changes.get(rs.getInt(1) - 1));
                }
            }
        }
        return out;
    }

    /** Remembers changes found missing by this attempt's runs. */
    void add(List<Change> changes) {
        found.addAll(changes);
    }

    /** How many are remembered (see {@link #keep}). */
    int size() {
        return found.size();
    }

    /** Forgets all but the first {@code n}: what a run rolled back to its savepoint found. */
    void keep(int n) {
        found.subList(n, found.size()).clear();
    }

    /** A new attempt: what an earlier (rolled back) one found is forgotten. */
    void clear() {
        found.clear();
    }

    /** This attempt's missing rows as conflict entries (then forgotten). */
    List<ConflictLog.Entry> entries(String sync, ConflictStrategy strategy, String origin) {
        List<ConflictLog.Entry> out = new ArrayList<>(found.size());
        for (Change c : found) {
            // an update's new version is what it put back; a delete leaves no row
            out.add(new ConflictLog.Entry(sync, c, c.op().name().toLowerCase() + "_missing", strategy,
                    Resolution.REMOTE_APPLIED, origin, c.at(), null, c.op() == Op.UPDATE ? c.newRow() : null, null));
        }
        found.clear();
        return out;
    }
}
