package io.mmsync.engine.compare;

import io.mmsync.engine.conn.Connector;
import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * Compares the tables of a sync on its two nodes while writes go on, and tells real differences
 * from changes still in flight: every key found different is read again on both nodes after both
 * queues have applied everything committed before (mmsync.wait_synced on each node). A key equal
 * by then was in flight; one that still differs with the same rows on both sides as before the
 * wait is a real difference; one whose rows changed meanwhile is read again, a few rounds at most.
 * The outcome is recorded on this node (mmsync.compare_runs, compare_diffs) for mmsync.compare(),
 * and mirrored on the peer (with here and peer swapped) so that status() says 'differs' on both.
 */
public final class Comparer {
    private static final Logger LOG = Logger.getLogger(Comparer.class.getName());
    static final int ROUNDS = 5;

    /** A compare's result. */
    public static final class Outcome {
        public final long runId;
        public final List<Diff> diffs;
        /** keys beyond the listed ones that differed (see TableCompare.MAX_KEYS) */
        public final long more;
        public final long rowsHere;
        public final long rowsPeer;
        /** the run's record on the peer (0 when it could not be written there) */
        public final long peerRunId;
        /** keys that kept changing through every round (listed among diffs) */
        public final int unsettled;
        public final int inFlight;

        Outcome(long runId, List<Diff> diffs, long more, long rowsHere, long rowsPeer, int unsettled, int inFlight) {
            this(runId, 0, diffs, more, rowsHere, rowsPeer, unsettled, inFlight);
        }

        private Outcome(long runId, long peerRunId, List<Diff> diffs, long more, long rowsHere, long rowsPeer, int unsettled,
                        int inFlight) {
            this.runId = runId;
            this.peerRunId = peerRunId;
            this.diffs = List.copyOf(diffs);
            this.more = more;
            this.rowsHere = rowsHere;
            this.rowsPeer = rowsPeer;
            this.unsettled = unsettled;
            this.inFlight = inFlight;
        }

        Outcome recordedOnPeer(long id) {
            return new Outcome(runId, id, diffs, more, rowsHere, rowsPeer, unsettled, inFlight);
        }

        public boolean identical() {
            return diffs.isEmpty() && more == 0;
        }
    }

    private final SyncTarget target;
    private final Connector local;
    private final Connector peer;
    private final Duration waitTimeout;
    private final Consumer<String> progress;

    public Comparer(SyncTarget target, Connector local, Duration waitTimeout, Consumer<String> progress) {
        this.target = target;
        this.local = local;
        this.peer = new Connector(target.peer(), target.peerConninfo());
        this.waitTimeout = waitTimeout;
        this.progress = progress;
    }

    public Outcome run() throws SQLException, InterruptedException {
        ExecutorService pool = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "mmsync-compare-peer");
            t.setDaemon(true);
            return t;
        });
        try (Connection here = local.open("compare " + target.sync()); Connection there = peer.open("compare " + target.sync())) {
            // the link's 20 s read timeout is for bounded batches; hashing a big table is one longer query
            here.setNetworkTimeout(Runnable::run, 600_000);
            there.setNetworkTimeout(Runnable::run, 600_000);
            long runId = CompareLog.start(here, target);
            try {
                Outcome o = compare(here, there, pool, runId);
                CompareLog.finish(here, runId, o);
                return o.recordedOnPeer(CompareLog.mirror(there, target, o));
            } catch (SQLException | RuntimeException e) {
                CompareLog.failed(local, runId, e);
                throw e;
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private Outcome compare(Connection here, Connection there, ExecutorService pool, long runId)
            throws SQLException, InterruptedException {
        List<TableCompare.Candidates> found = new ArrayList<>();
        long rows = 0;
        long rowsPeer = 0;
        long more = 0;
        for (TableRef t : target.tables()) {
            long start = System.nanoTime();
            progress.accept(t + ": hashing on " + target.here() + " and " + target.peer());
            TableCompare.Candidates c = new TableCompare(t, pool).candidates(here, there, target.here(), target.peer());
            rows += c.rowsHere;
            rowsPeer += c.rowsPeer;
            more += c.more;
            progress.accept(String.format("%s: %,d rows on %s, %,d on %s, %,d keys differ%s (%.1f s)", t, c.rowsHere,
                    target.here(), c.rowsPeer, target.peer(), c.keys.size() + c.more,
                    c.keys.isEmpty() ? "" : " before the in-flight check", (System.nanoTime() - start) / 1e9));
            if (!c.keys.isEmpty()) {
                found.add(c);
            }
        }
        if (found.isEmpty()) {
            return new Outcome(runId, List.of(), more, rows, rowsPeer, 0, 0);
        }
        return recheck(here, there, found, runId, more, rows, rowsPeer);
    }

    private Outcome recheck(Connection here, Connection there, List<TableCompare.Candidates> found, long runId, long more,
                            long rows, long rowsPeer) throws SQLException, InterruptedException {
        Map<TableRef, Map<String, String[]>> pending = new HashMap<>();
        for (TableCompare.Candidates c : found) {
            pending.put(c.table, images(here, there, c.table, c.keys));
        }
        List<Diff> real = new ArrayList<>();
        int inFlight = 0;
        for (int round = 1; round <= ROUNDS && !pending.isEmpty(); round++) {
            progress.accept("waiting for both queues to apply what was committed before (round " + round + ")");
            waitSynced(here, target.here());
            waitSynced(there, target.peer());
            Map<TableRef, Map<String, String[]>> next = new HashMap<>();
            for (Map.Entry<TableRef, Map<String, String[]>> e : pending.entrySet()) {
                TableRef t = e.getKey();
                Map<String, String[]> now = images(here, there, t, new ArrayList<>(e.getValue().keySet()));
                for (Map.Entry<String, String[]> k : e.getValue().entrySet()) {
                    String[] was = k.getValue();
                    String[] is = now.get(k.getKey());
                    if (Objects.equals(is[0], is[1])) {
                        inFlight++;
                    } else if (Objects.equals(was[0], is[0]) && Objects.equals(was[1], is[1])) {
                        real.add(new Diff(t, k.getKey(), is[0], is[1]));
                    } else {
                        next.computeIfAbsent(t, x -> new HashMap<>()).put(k.getKey(), is);
                    }
                }
            }
            pending = next;
        }
        int unsettled = 0;
        for (Map.Entry<TableRef, Map<String, String[]>> e : pending.entrySet()) {
            for (Map.Entry<String, String[]> k : e.getValue().entrySet()) {
                real.add(new Diff(e.getKey(), k.getKey(), k.getValue()[0], k.getValue()[1]));
                unsettled++;
            }
        }
        if (unsettled > 0) {
            LOG.warning("mmsync compare " + target.sync() + ": " + unsettled + " keys kept changing through " + ROUNDS
                    + " rounds of waiting for the queues; reported as different");
        }
        return new Outcome(runId, real, more, rows, rowsPeer, unsettled, inFlight);
    }

    /** Key -> {row here, row on the peer} (jsonb text, null when absent). */
    private static Map<String, String[]> images(Connection here, Connection there, TableRef t, List<String> keys)
            throws SQLException {
        TableCompare tc = new TableCompare(t, null);
        Map<String, String> h = tc.rows(here, keys);
        Map<String, String> p = tc.rows(there, keys);
        Map<String, String[]> out = new HashMap<>();
        for (String k : keys) {
            out.put(k, new String[] {h.get(k), p.get(k)});
        }
        return out;
    }

    private void waitSynced(Connection c, String node) throws SQLException {
        try (PreparedStatement st = c.prepareStatement("SELECT mmsync.wait_synced(?, ?::interval)")) {
            st.setString(1, target.sync());
            st.setString(2, waitTimeout.toMillis() + " milliseconds");
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                if (!rs.getBoolean(1)) {
                    throw new SQLException("mmsync: compare of sync \"" + target.sync() + "\" cannot tell real differences from "
                            + "changes in flight: the changes queued on node " + node + " were not applied at its peer within "
                            + waitTimeout.toSeconds() + " s (are both agents running and the sync resumed? see mmsync.status())",
                            "55000");
                }
            }
        }
    }
}
