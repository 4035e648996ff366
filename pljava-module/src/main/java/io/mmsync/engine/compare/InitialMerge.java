package io.mmsync.engine.compare;

import io.mmsync.engine.conn.Connector;
import io.mmsync.engine.model.TableOrder;
import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * add_sync(..., initial => 'merge'), started by the link of the node add_sync ran on and run beside
 * both links (which send as usual meanwhile): both nodes keep their rows. Each table is compared as
 * {@link TableCompare} does (bucket digests, then the keys of differing buckets, streamed in chunks
 * of {@link #CHUNK}: no limit on the keys, memory of one chunk); a key on one node only is queued
 * there as a change for the other ({@link RepairQueue}: through the normal apply path, inserts in
 * bulk); a key both hold differently gets the version of the node the sync's conflict strategy
 * prefers (prefer, keep_local, apply_remote), or this node's under latest and abort (rows carry no
 * change times), recorded in the losing node's mmsync.conflicts (kind merge) with the row it
 * replaced. Passes repeat, each after both queues drained, until the table compares equal.
 */
public final class InitialMerge {
    private static final Logger LOG = Logger.getLogger(InitialMerge.class.getName());
    static final int MAX_PASSES = 100;
    /** Keys worked on at a time; -Dmmsync.merge.chunk changes it. */
    static final int CHUNK = Integer.getInteger("mmsync.merge.chunk", 10_000);
    /** How long a pass waits for a queue to drain. */
    static final Duration WAIT = Duration.ofMinutes(10);

    private final String sync;
    private final String here;
    private final Connector local;
    private final Connector peer;
    private final ThreadFactory threads;
    private final List<Connection> open = new CopyOnWriteArrayList<>();
    private volatile boolean stopped;

    public InitialMerge(String sync, String here, Connector local, Connector peer, ThreadFactory threads) {
        this.sync = sync;
        this.here = here;
        this.local = local;
        this.peer = peer;
        this.threads = threads;
    }

    /** Stops a merge in progress: closes its connections (what it wrote stays; a later merge goes on). */
    public void stop() {
        stopped = true;
        for (Connection c : open) {
            try {
                c.close();
            } catch (SQLException e) {
                LOG.log(Level.FINE, "mmsync merge " + sync + ": closing a connection: " + e.getMessage());
            }
        }
    }

    private Connection open(Connector node, String purpose) throws SQLException {
        if (stopped) {
            throw new SQLException("mmsync merge " + sync + ": stopped", "57014");
        }
        Connection c = node.open("merge " + sync + " " + purpose);
        open.add(c);
        c.setNetworkTimeout(Runnable::run, (int) WAIT.toMillis() + 600_000);
        return c;
    }

    /** Merges; returns the number of changes queued on either node. */
    public long run() throws SQLException, InterruptedException {
        long start = System.nanoTime();
        ExecutorService pool = Executors.newSingleThreadExecutor(threads);
        long written = 0;
        try (Connection lc = open(local, "list"); Connection pc = open(peer, "list"); Connection la = open(local, "queue");
             Connection pa = open(peer, "queue"); Connection lw = open(local, "wait"); Connection pw = open(peer, "wait")) {
            String[] strategy = Repair.strategy(la, sync);
            String winner = strategy[1] != null ? strategy[1] : here;
            String how = "merge: " + strategy[0] + (strategy[1] == null ? " (" + here + ", where add_sync ran, wins)" : "");
            RepairQueue.Side mine = RepairQueue.Side.of(here, la, lw, WAIT);
            RepairQueue.Side theirs = RepairQueue.Side.of(peer.nodeName(), pa, pw, WAIT);
            RepairQueue queue = new RepairQueue(sync, "merge", null, WAIT, true);
            mark(la, pa, false);
            for (TableRef t : TableOrder.parentsFirst(la, sync, true)) {
                TableCompare tc = new TableCompare(t, pool);
                int pass = 0;
                while (true) {
                    if (++pass > MAX_PASSES) {
                        throw new SQLException("mmsync: merge of sync \"" + sync + "\": table " + t + " still differs after "
                                + MAX_PASSES + " passes (rows changing on both nodes throughout?); the agent tries again", "55000");
                    }
                    long[] n = new long[2];
                    TableCompare.Candidates c = tc.candidates(lc, pc, here, peer.nodeName(), CHUNK, chunk -> {
                        long[] m = reconcile(tc, t, chunk, mine, theirs, winner, queue, how);
                        n[0] += m[0];
                        n[1] += m[1];
                    });
                    if (c.more == 0 || n[0] + n[1] == 0) {
                        break; // equal, or differing only by changes in flight, which make the rows equal themselves
                    }
                    written += n[0] + n[1];
                    LOG.info(String.format("mmsync merge %s %s<->%s: %s pass %d: %,d keys differed; %,d changes queued for %s, "
                            + "%,d for %s", sync, here, peer.nodeName(), t, pass, c.more, n[0], peer.nodeName(), n[1], here));
                    // the next pass compares once both nodes applied what this one queued
                    RepairQueue.waitSynced(lw, sync, here, WAIT);
                    RepairQueue.waitSynced(pw, sync, peer.nodeName(), WAIT);
                }
            }
            mark(la, pa, true);
        } finally {
            pool.shutdownNow();
            open.clear();
        }
        LOG.info(String.format("mmsync merge %s %s<->%s: done, %,d changes queued in %.1f s", sync, here, peer.nodeName(), written,
                (System.nanoTime() - start) / 1e9));
        return written;
    }

    /** One chunk of differing keys: who holds what, each key queued on the node whose row wins. */
    private long[] reconcile(TableCompare tc, TableRef t, List<String> chunk, RepairQueue.Side mine, RepairQueue.Side theirs,
                             String winner, RepairQueue queue, String how) throws SQLException {
        long t0 = System.nanoTime();
        Map<String, String> h = tc.rows(mine.tx(), chunk);
        Map<String, String> p = tc.rows(theirs.tx(), chunk);
        long t1 = System.nanoTime();
        List<String> toPeer = new ArrayList<>();
        List<String> toHere = new ArrayList<>();
        for (String k : chunk) {
            String hr = h.get(k);
            String pr = p.get(k);
            if (hr == null && pr == null) {
                continue; // deleted on both meanwhile
            }
            boolean hereWins = pr == null || (hr != null && winner.equals(here));
            (hereWins ? toPeer : toHere).add(k);
        }
        long[] n = new long[2];
        for (RepairQueue.Queued q : queue.queue(mine, theirs, t, toPeer, true)) {
            n[0]++;
            if (q.old() != null) {
                RepairRecord.conflict(theirs.tx(), sync, t, q, how, here, "merge");
            }
        }
        for (RepairQueue.Queued q : queue.queue(theirs, mine, t, toHere, true)) {
            n[1]++;
            if (q.old() != null) {
                RepairRecord.conflict(mine.tx(), sync, t, q, how, peer.nodeName(), "merge");
            }
        }
        LOG.fine(() -> String.format("mmsync merge %s: %s: chunk of %,d keys: rows read in %.1f ms, queued in %.1f ms", sync, t,
                chunk.size(), (t1 - t0) / 1e6, (System.nanoTime() - t1) / 1e6));
        return n;
    }

    /** The merge's record on both nodes (mmsync.copies, as for a copy: status() says copying until it is finished). */
    private void mark(Connection lc, Connection pc, boolean finished) throws SQLException {
        for (Connection c : new Connection[] {pc, lc}) {
            try (PreparedStatement st = c.prepareStatement("INSERT INTO mmsync.copies AS c (sync_name, origin, target, finished_at) "
                    + "VALUES (?, ?, ?, CASE WHEN ? THEN now() END) ON CONFLICT (sync_name, origin, target) "
                    + "DO UPDATE SET finished_at = EXCLUDED.finished_at")) {
                st.setString(1, sync);
                st.setString(2, here);
                st.setString(3, peer.nodeName());
                st.setBoolean(4, finished);
                st.executeUpdate();
            }
        }
    }
}
