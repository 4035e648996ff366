package io.mmsync.engine.compare;

import io.mmsync.engine.conn.Connector;
import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Makes the rows a compare finds different equal on both nodes: the winner's version (or its
 * absence) is written on the other node with capture off, recorded in that node's
 * mmsync.conflicts (kind repair_insert / repair_update / repair_delete, with the replaced row) and
 * in this node's mmsync.compare_diffs (repaired = the winner). The winner is the node the DBA
 * names, else the one the sync's conflict strategy prefers (prefer, keep_local, apply_remote);
 * under latest or abort there is no such node (rows carry no change times), so a direction is
 * required.
 */
public final class Repair {
    /** What a repair did. */
    public static final class Outcome {
        public final Comparer.Outcome compared;
        public final String winner;
        public final int fixed;

        Outcome(Comparer.Outcome compared, String winner, int fixed) {
            this.compared = compared;
            this.winner = winner;
            this.fixed = fixed;
        }
    }

    private final SyncTarget target;
    private final Connector local;
    private final Duration wait;
    private final String prefer;
    private final Consumer<String> progress;

    /** {@code prefer}: the node whose rows win, or null for the sync's conflict strategy. */
    public Repair(SyncTarget target, Connector local, Duration wait, String prefer, Consumer<String> progress) {
        this.target = target;
        this.local = local;
        this.wait = wait;
        this.prefer = prefer;
        this.progress = progress;
    }

    public Outcome run() throws SQLException, InterruptedException {
        String winner;
        String how;
        try (Connection c = local.open("repair " + target.sync())) {
            String[] strategy = strategy(c, target.sync());
            winner = prefer != null ? prefer : strategy[1];
            how = prefer != null ? "repair: prefer " + prefer : "repair: " + strategy[0];
            if (winner == null) {
                throw new SQLException("mmsync: repair of sync \"" + target.sync() + "\" needs a direction: its conflict strategy "
                        + strategy[0] + " cannot decide between two rows without change times; say which node's rows win "
                        + "(--prefer " + target.here() + " or --prefer " + target.peer() + ")", "22023");
            }
            if (!winner.equals(target.here()) && !winner.equals(target.peer())) {
                throw new SQLException("mmsync: node \"" + winner + "\" is not a node of sync \"" + target.sync() + "\" ("
                        + target.here() + ", " + target.peer() + ")", "22023");
            }
        }
        Comparer.Outcome o = new Comparer(target, local, wait, progress).run();
        if (o.diffs.isEmpty()) {
            return new Outcome(o, winner, 0);
        }
        boolean loserIsHere = winner.equals(target.peer());
        Map<TableRef, List<Diff>> byTable = new LinkedHashMap<>();
        for (Diff d : o.diffs) {
            byTable.computeIfAbsent(d.table(), x -> new ArrayList<>()).add(d);
        }
        Connector loserNode = loserIsHere ? local : new Connector(target.peer(), target.peerConninfo());
        try (Connection loser = loserNode.open("repair " + target.sync())) {
            RowFixer fixer = new RowFixer(loser, winner, target.sync(), how, true);
            for (Map.Entry<TableRef, List<Diff>> e : byTable.entrySet()) {
                fixer.fix(e.getKey(), e.getValue(), loserIsHere);
                progress.accept(e.getKey() + ": " + e.getValue().size() + " rows made equal to " + winner + "'s");
            }
        }
        try (Connection c = local.open("repair " + target.sync());
             PreparedStatement st = c.prepareStatement("UPDATE mmsync.compare_diffs SET repaired = ?, repaired_at = now() WHERE run_id = ?")) {
            st.setString(1, winner);
            st.setLong(2, o.runId);
            st.executeUpdate();
        }
        return new Outcome(o, winner, o.diffs.size());
    }

    /** {strategy, the node it prefers or null} of the sync on this node. */
    static String[] strategy(Connection c, String sync) throws SQLException {
        try (PreparedStatement st = c.prepareStatement("SELECT conflict, CASE WHEN conflict IN ('prefer', 'keep_local', 'apply_remote') "
                + "THEN prefer END FROM mmsync.syncs WHERE name = ? AND NOT removed")) {
            st.setString(1, sync);
            try (ResultSet rs = st.executeQuery()) {
                if (!rs.next()) {
                    throw new SQLException("mmsync: sync \"" + sync + "\" does not exist on this node", "42704");
                }
                return new String[] {rs.getString(1), rs.getString(2)};
            }
        }
    }
}
