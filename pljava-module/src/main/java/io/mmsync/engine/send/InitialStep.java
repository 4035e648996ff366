package io.mmsync.engine.send;

import io.mmsync.engine.compare.InitialMerge;
import io.mmsync.engine.conn.Connector;
import io.mmsync.engine.copy.InitialCopy;
import io.mmsync.engine.model.ChangeId;
import io.mmsync.engine.model.Position;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.concurrent.ThreadFactory;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * How a link starts from existing data (issue 12): before its first page of a session, a sync
 * added with {@code initial => 'copy' | 'merge'} whose copy or merge is not finished runs it
 * first: the peer's tables, then the queue (from the copy's snapshot).
 */
final class InitialStep {
    private static final Logger LOG = Logger.getLogger(InitialStep.class.getName());
    private final String syncName;
    private final String origin;
    private final Connector local;
    private final Connector peer;
    private final ThreadFactory threads;
    private boolean checked;
    private volatile boolean stopped;
    private InitialMerge merge;
    private Thread merging;

    InitialStep(String syncName, String origin, Connector local, Connector peer, ThreadFactory threads) {
        this.syncName = syncName;
        this.origin = origin;
        this.local = local;
        this.peer = peer;
        this.threads = threads;
    }

    /** A new session checks again. */
    void reset() {
        checked = false;
    }

    /**
     * Runs the pending copy or merge, once per session, after the definition's push (which makes
     * the peer forget an earlier copy of a sync added again). Returns the position to send from
     * after a copy; null when nothing was pending or a merge was started (beside the link).
     */
    /** Whether this session's initial step was looked at (runIfPending then does nothing). */
    boolean checked() {
        return checked;
    }

    Position runIfPending(Connection lc, Connection pc, Position current, InitialCopy.Beat beat) throws SQLException, InterruptedException {
        if (checked) {
            return null;
        }
        checked = true;
        String initial = InitialCopy.pending(lc, pc, syncName, origin, peer.nodeName());
        if (initial == null) {
            return null;
        }
        if (initial.equals("copy")) {
            return Position.of(new InitialCopy(syncName, origin, local, peer, threads, beat).run(), null, ChangeId.NONE);
        }
        startMerge();
        return null;
    }

    /**
     * A merge runs beside the links (its changes go through their queues: it waits for both to
     * drain), in a thread of its own that tries again after a failure until the merge is done or
     * the link stops.
     */
    private synchronized void startMerge() {
        if (merging != null && merging.isAlive()) {
            return;
        }
        InitialMerge m = new InitialMerge(syncName, origin, local, peer, threads);
        merge = m;
        merging = threads.newThread(() -> {
            Backoff backoff = new Backoff(Duration.ofSeconds(1), Duration.ofSeconds(30));
            while (!stopped) {
                try {
                    m.run();
                    return;
                } catch (SQLException | RuntimeException e) {
                    if (stopped) {
                        return;
                    }
                    Duration d = backoff.nextDelay();
                    LOG.log(Level.WARNING, "mmsync merge " + syncName + " " + origin + "<->" + peer.nodeName() + ": "
                            + e.getMessage() + "; trying again in " + d.toMillis() + " ms", e);
                    try {
                        Thread.sleep(d.toMillis());
                    } catch (InterruptedException ie) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        });
        merging.setName("mmsync-merge-" + syncName);
        merging.start();
    }

    /** Stops a merge in progress (the link stops). */
    synchronized void stop() {
        stopped = true;
        if (merge != null) {
            merge.stop();
        }
        if (merging != null) {
            merging.interrupt();
        }
    }
}
