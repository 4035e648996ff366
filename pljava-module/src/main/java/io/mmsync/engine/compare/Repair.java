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
import java.util.Objects;
import java.util.function.Consumer;

/**
 * Makes the rows a compare finds different equal on both nodes, through the normal apply path: the
 * winner queues its version of each row (or a delete where it has none) as an ordinary change
 * ({@link RepairQueue}), its link sends it, the loser applies it like any change; then the repair
 * waits until the loser has applied them, reads both nodes again and records what each key became
 * ({@link RepairRecord}: this node's mmsync.compare_diffs, the winner's mmsync.repair_changes, the
 * loser's mmsync.conflicts with the row it replaced). A key that differs again (changed meanwhile)
 * gets another round, {@link #ROUNDS} at most. The winner is the node the DBA names, else the one
 * the sync's conflict strategy prefers (prefer, keep_local, apply_remote); under latest or abort
 * there is no such node (rows carry no change times), so a direction is required.
 */
public final class Repair {
    /** Rounds of queueing and checking, at most, for keys that changed again meanwhile. */
    static final int ROUNDS = 3;

    /** What a repair did. */
    public static final class Outcome {
        public final Comparer.Outcome compared;
        public final String winner;
        public final int fixed;
        /** keys still different after the last round (changed on both nodes throughout) */
        public final int left;

        Outcome(Comparer.Outcome compared, String winner, int fixed, int left) {
            this.compared = compared;
            this.winner = winner;
            this.fixed = fixed;
            this.left = left;
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
            return new Outcome(o, winner, 0, 0);
        }
        Map<TableRef, List<String>> pending = new LinkedHashMap<>();
        for (Diff d : o.diffs) {
            pending.computeIfAbsent(d.table(), x -> new ArrayList<>()).add(d.key());
        }
        boolean winnerIsHere = winner.equals(target.here());
        Connector peerNode = new Connector(target.peer(), target.peerConninfo());
        Connector winnerNode = winnerIsHere ? local : peerNode;
        Connector loserNode = winnerIsHere ? peerNode : local;
        String loserName = winnerIsHere ? target.peer() : target.here();
        RepairQueue queue = new RepairQueue(target.sync(), "repair", o.runId, wait, false);
        RepairRecord record = new RepairRecord(target.sync(), o.runId, o.peerRunId, winner, how);
        int fixed = 0;
        try (Connection wtx = winnerNode.open("repair " + target.sync()); Connection wwait = winnerNode.open("repair " + target.sync());
             Connection ltx = loserNode.open("repair " + target.sync()); Connection lwait = loserNode.open("repair " + target.sync());
             Connection here = local.open("repair " + target.sync())) {
            RepairQueue.Side win = RepairQueue.Side.of(winner, wtx, wwait, wait);
            RepairQueue.Side lose = RepairQueue.Side.of(loserName, ltx, lwait, wait);
            for (int round = 1; round <= ROUNDS && !pending.isEmpty(); round++) {
                Map<String, RepairQueue.Queued> queued = new LinkedHashMap<>();
                for (Map.Entry<TableRef, List<String>> e : pending.entrySet()) {
                    for (RepairQueue.Queued q : queue.queue(win, lose, e.getKey(), e.getValue(), false)) {
                        queued.put(e.getKey() + "\u0000" + q.key(), q);
                    }
                }
                progress.accept(String.format("round %d: %,d changes queued on %s; waiting for %s to apply them", round,
                        queued.size(), winner, loserName));
                RepairQueue.waitSynced(wwait, target.sync(), winner, wait);
                Map<TableRef, List<String>> next = new LinkedHashMap<>();
                for (Map.Entry<TableRef, List<String>> e : pending.entrySet()) {
                    TableRef t = e.getKey();
                    Map<String, String> w = RepairQueue.images(wtx, t, e.getValue(), false);
                    Map<String, String> l = RepairQueue.images(ltx, t, e.getValue(), false);
                    for (String k : e.getValue()) {
                        RepairQueue.Queued q = queued.get(t + "\u0000" + k);
                        boolean equal = Objects.equals(w.get(k), l.get(k));
                        record.checked(here, winnerIsHere ? ltx : wtx, wtx, ltx, t, k, q, equal, w.get(k));
                        if (equal) {
                            fixed++;
                        } else {
                            next.computeIfAbsent(t, x -> new ArrayList<>()).add(k);
                        }
                    }
                    progress.accept(t + ": " + (e.getValue().size() - next.getOrDefault(t, List.of()).size())
                            + " rows made equal to " + winner + "'s");
                }
                pending = next;
            }
        }
        int left = pending.values().stream().mapToInt(List::size).sum();
        return new Outcome(o, winner, fixed, left);
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
