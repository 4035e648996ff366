package io.mmsync.engine.compare;

import io.mmsync.engine.conn.Connector;
import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.logging.Logger;

/**
 * add_sync(..., initial => 'merge'), run by the link of the node add_sync ran on before it sends
 * changes: both nodes keep their rows. The tables are compared as {@link TableCompare} does (bucket
 * digests, then the keys of differing buckets); a key on one node only is copied to the other; a
 * key both hold differently gets the version of the node the sync's conflict strategy prefers
 * (prefer, keep_local, apply_remote), or this node's under latest and abort (rows carry no change
 * times), recorded in the losing node's mmsync.conflicts (kind merge) with the row it replaced.
 * Repeated until the tables compare equal (a pass lists at most TableCompare.MAX_KEYS keys per table).
 */
public final class InitialMerge {
    private static final Logger LOG = Logger.getLogger(InitialMerge.class.getName());
    static final int MAX_PASSES = 1000;

    private final String sync;
    private final String here;
    private final Connector local;
    private final Connector peer;
    private final ThreadFactory threads;
    private final Beat heartbeat;

    /** Called between tables and passes while the merge runs (the link's heartbeat in status()). */
    public interface Beat {
        void beat() throws SQLException;
    }

    public InitialMerge(String sync, String here, Connector local, Connector peer, ThreadFactory threads, Beat heartbeat) {
        this.sync = sync;
        this.here = here;
        this.local = local;
        this.peer = peer;
        this.threads = threads;
        this.heartbeat = heartbeat;
    }

    /** Merges; returns the number of rows written on either node. */
    public long run() throws SQLException, InterruptedException {
        long start = System.nanoTime();
        ExecutorService pool = Executors.newSingleThreadExecutor(threads);
        long written = 0;
        try (Connection lc = local.open("merge " + sync); Connection pc = peer.open("merge " + sync)) {
            lc.setNetworkTimeout(Runnable::run, 600_000);
            pc.setNetworkTimeout(Runnable::run, 600_000);
            String[] strategy = Repair.strategy(lc, sync);
            String winner = strategy[1] != null ? strategy[1] : here;
            String how = "merge: " + strategy[0] + (strategy[1] == null ? " (" + here + ", where add_sync ran, wins)" : "");
            mark(lc, pc, false);
            for (TableRef t : tables(lc)) {
                TableCompare tc = new TableCompare(t, pool);
                for (int pass = 0; pass < MAX_PASSES; pass++) {
                    heartbeat.beat();
                    TableCompare.Candidates c = tc.candidates(lc, pc, here, peer.nodeName());
                    if (c.keys.isEmpty()) {
                        break;
                    }
                    Map<String, String> h = tc.rows(lc, c.keys);
                    Map<String, String> p = tc.rows(pc, c.keys);
                    List<Diff> toPeer = new ArrayList<>();
                    List<Diff> toHere = new ArrayList<>();
                    for (String k : c.keys) {
                        Diff d = new Diff(t, k, h.get(k), p.get(k));
                        if (d.here() == null && d.peer() == null) {
                            continue; // deleted on both meanwhile
                        }
                        boolean hereWins = d.peer() == null || (d.here() != null && winner.equals(here));
                        (hereWins ? toPeer : toHere).add(d);
                    }
                    new RowFixer(pc, here, sync, how, false).fix(t, toPeer, false);
                    new RowFixer(lc, peer.nodeName(), sync, how, false).fix(t, toHere, true);
                    written += toPeer.size() + toHere.size();
                    LOG.info(String.format("mmsync merge %s %s<->%s: %s: %,d rows copied or reconciled to %s, %,d to %s", sync, here,
                            peer.nodeName(), t, toPeer.size(), peer.nodeName(), toHere.size(), here));
                }
            }
            mark(lc, pc, true);
        } finally {
            pool.shutdownNow();
        }
        LOG.info(String.format("mmsync merge %s %s<->%s: done, %,d rows written in %.1f s", sync, here, peer.nodeName(), written,
                (System.nanoTime() - start) / 1e9));
        return written;
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

    private List<TableRef> tables(Connection lc) throws SQLException {
        List<TableRef> out = new ArrayList<>();
        try (PreparedStatement st = lc.prepareStatement("SELECT t.schema_name, t.table_name FROM mmsync.sync_tables t "
                + "JOIN mmsync.syncs s ON s.id = t.sync_id WHERE s.name = ? AND t.mode = 'keyed' ORDER BY 1, 2")) {
            st.setString(1, sync);
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    out.add(new TableRef(rs.getString(1), rs.getString(2)));
                }
            }
        }
        return out;
    }
}
