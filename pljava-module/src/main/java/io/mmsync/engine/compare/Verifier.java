package io.mmsync.engine.compare;

import io.mmsync.engine.conn.Connector;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ThreadFactory;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The engine's scheduled compares (issue 17): so that status() does not go on saying "in sync"
 * about nodes that nobody compared for long, the engine compares each (sync, peer) pair that
 * mmsync._verify_due() names (once a day by default, mmsync.set_verify), one pair at a time on a
 * thread of its own, exactly as {@code mmsync compare} does: the run is recorded on both nodes,
 * status() shows its time as verified_at, and differences found make the state 'differs' on both.
 */
public final class Verifier {
    private static final Logger LOG = Logger.getLogger(Verifier.class.getName());
    /** how long a scheduled compare waits for both queues to drain before a recheck */
    private static final Duration WAIT = Duration.ofMinutes(10);
    /** how long a pair whose scheduled compare failed waits before the next try */
    private static final Duration RETRY = Duration.ofMinutes(1);

    private final Connector local;
    private final ThreadFactory threads;
    private Thread running;
    /** (sync:peer) -> System.nanoTime() of the last failed scheduled compare of the pair here */
    private final Map<String, Long> tried = new HashMap<>();

    public Verifier(Connector local, ThreadFactory threads) {
        this.local = local;
        this.threads = threads;
    }

    /** Starts the first due compare unless one is running; {@code c} is the engine's connection. */
    public synchronized void poll(Connection c) throws SQLException {
        if (running != null && running.isAlive()) {
            return;
        }
        long now = System.nanoTime();
        tried.values().removeIf(at -> now - at > RETRY.toNanos());
        String sync = null;
        String peer = null;
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT sync, peer FROM mmsync._verify_due()")) {
            while (rs.next() && sync == null) {
                if (!tried.containsKey(rs.getString(1) + ":" + rs.getString(2))) {
                    sync = rs.getString(1);
                    peer = rs.getString(2);
                }
            }
        }
        if (sync == null) {
            return;
        }
        String s = sync;
        String p = peer;
        Thread t = threads.newThread(() -> compare(s, p));
        t.setName("mmsync-verify-" + sync + ":" + peer);
        running = t;
        t.start();
    }

    /** Interrupts a running compare (the engine stops). */
    public synchronized void stop() {
        if (running != null) {
            running.interrupt();
            running = null;
        }
    }

    private synchronized void failed(String pair) {
        tried.put(pair, System.nanoTime());
    }

    private void compare(String sync, String peer) {
        long start = System.nanoTime();
        try {
            SyncTarget target;
            try (Connection c = local.open("scheduled compare " + sync)) {
                target = SyncTarget.load(c, sync, null, peer);
            }
            Comparer.Outcome o = new Comparer(target, local, WAIT, line -> LOG.fine("mmsync scheduled compare " + sync + ": " + line)).run();
            double secs = (System.nanoTime() - start) / 1e9;
            if (o.identical()) {
                LOG.info(String.format("mmsync scheduled compare: sync %s identical on %s and %s (%,d rows, %d tables, %.1f s)",
                        sync, target.here(), peer, o.rowsHere, target.tables().size(), secs));
            } else {
                LOG.warning(String.format("mmsync scheduled compare: sync %s: %,d keys differ between %s and %s (%.1f s); "
                                + "SELECT * FROM mmsync.compare('%s') lists them, mmsync repair makes them equal",
                        sync, o.diffs.size() + o.more, target.here(), peer, secs, sync));
            }
        } catch (SQLException | RuntimeException e) {
            // recorded as failed in compare_runs by the Comparer when it got that far; a compare that
            // fails before it records its run (the peer unreachable) would be due again at once
            failed(sync + ":" + peer);
            LOG.log(Level.WARNING, "mmsync scheduled compare of sync " + sync + " with " + peer + " failed (tried again in "
                    + RETRY.toMinutes() + " min): "
                    + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
