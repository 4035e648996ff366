package io.mmsync.engine.compare;

import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Types;

/**
 * Records what a repair made of each key, once the loser has applied the repair changes and both
 * nodes were read again: on the node the command ran from, mmsync.compare_diffs (repaired = the
 * winner, repair_change = the change's id in the winner's queue, result = the row both now hold),
 * and the same on the peer's copy of the compare run (see CompareLog.mirror);
 * on the winner, the change's mmsync.repair_changes row (outcome, result); on the loser,
 * mmsync.conflicts (kind repair_insert / repair_update / repair_delete, with the row it replaced).
 */
final class RepairRecord {
    private final String sync;
    private final long runId;
    private final long peerRunId;
    private final String winner;
    private final String strategy;

    RepairRecord(String sync, long runId, long peerRunId, String winner, String strategy) {
        this.sync = sync;
        this.runId = runId;
        this.peerRunId = peerRunId;
        this.winner = winner;
        this.strategy = strategy;
    }

    /**
     * Key {@code key} of {@code t} was read again on both nodes: {@code equal} whether they hold
     * the same row ({@code result}, null when neither has one); {@code q} the change queued for it
     * this round, or null when the rows were equal already when the winner locked them.
     * {@code there}: the peer of the node the command ran from (one of winnerNode, loserNode).
     */
    void checked(Connection here, Connection there, Connection winnerNode, Connection loserNode, TableRef t, String key, RepairQueue.Queued q,
                 boolean equal, String result) throws SQLException {
        if (q != null) {
            try (PreparedStatement st = winnerNode.prepareStatement("UPDATE mmsync.repair_changes SET outcome = ?, checked_at = now(), "
                    + "result = ?::jsonb WHERE change_id = ?")) {
                st.setString(1, equal ? "equal" : "differs");
                st.setObject(2, equal ? result : null, Types.OTHER);
                st.setLong(3, q.changeId());
                st.executeUpdate();
            }
        }
        if (!equal) {
            return;
        }
        repaired(here, runId, t, key, q, result);
        if (peerRunId != 0) {
            repaired(there, peerRunId, t, key, q, result);
        }
        if (q != null) {
            conflict(loserNode, sync, t, q, strategy, winner, q.op().equals("D") ? "repair_delete"
                    : q.op().equals("I") ? "repair_insert" : "repair_update");
        }
    }

    private void repaired(Connection c, long run, TableRef t, String key, RepairQueue.Queued q, String result)
            throws SQLException {
        try (PreparedStatement st = c.prepareStatement("UPDATE mmsync.compare_diffs SET repaired = ?, repaired_at = now(), "
                + "repair_change = ?, result = ?::jsonb WHERE run_id = ? AND schema_name = ? AND table_name = ? AND key = ?::jsonb")) {
            st.setString(1, winner);
            st.setObject(2, q == null ? null : q.changeId(), Types.BIGINT);
            st.setObject(3, result, Types.OTHER);
            st.setLong(4, run);
            st.setString(5, t.schema());
            st.setString(6, t.name());
            st.setObject(7, key, Types.OTHER);
            st.executeUpdate();
        }
    }

    /** The loser's record of a row the winner's change replaced (mmsync.conflicts, origin_change = the change). */
    static void conflict(Connection loserNode, String sync, TableRef t, RepairQueue.Queued q, String strategy, String winner,
                         String kind) throws SQLException {
        try (PreparedStatement st = loserNode.prepareStatement("INSERT INTO mmsync.conflicts (sync_name, schema_name, table_name, "
                + "key, kind, strategy, resolution, origin, origin_change, winning_row, losing_row) "
                + "VALUES (?, ?, ?, ?, ?, ?, 'remote_applied', ?, ?, ?::jsonb, ?::jsonb)")) {
            st.setString(1, sync);
            st.setString(2, t.schema());
            st.setString(3, t.name());
            st.setString(4, q.key());
            st.setString(5, kind);
            st.setString(6, strategy);
            st.setString(7, winner);
            st.setLong(8, q.changeId());
            st.setObject(9, q.next(), Types.OTHER);
            st.setObject(10, q.old(), Types.OTHER);
            st.executeUpdate();
        }
    }
}
