package io.mmsync.engine.send;

import io.mmsync.engine.model.Page;
import io.mmsync.engine.time.Clock;

import java.time.Duration;

/**
 * When a {@link Link} beats its heartbeat, makes a purge mark (and purges), and pauses before the
 * next turn under a steady stream: the link's clocks, apart from what it does at those times.
 */
final class Pacing {
    private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(Pacing.class.getName());
    /**
     * While pages keep coming, purge marks and purges at most this often (issue 14: at 100 ms the
     * purge calls were a third of the origin backend's CPU under a steady stream).
     */
    static final Duration MARK_INTERVAL = Duration.ofSeconds(1);
    /** A page of a whole range this big means a steady stream: see {@link #steadyPause}. */
    static final int STEADY_PAGE = Integer.getInteger("mmsync.steadyPage", 32);
    static final Duration STEADY_WAIT = Duration.ofMillis(Long.getLong("mmsync.steadyWaitMs", 10));
    /** A page of a whole range this big, a peer that does not write the page's tables: a busy one-way stream. */
    static final int BUSY_PAGE = Integer.getInteger("mmsync.busyPage", 64);
    static final Duration BUSY_WAIT = Duration.ofMillis(Long.getLong("mmsync.busyWaitMs", 50));
    /** Changes a second (the page over the time since the last turn began) from which a stream is busy. */
    static final int BUSY_RATE = Integer.getInteger("mmsync.busyRate", 2000);

    private final Clock clock;
    private final Duration heartbeat;
    private long lastBeat;
    private long lastMark;
    /**
     * when the last two {@link #steadyPause}s ended, or 0: about when the turn of the page the next
     * one is given began, and the turn before, whose snapshot was that page's range's lower end
     */
    private long lastTurn;
    private long turnBefore;

    Pacing(Clock clock, Duration heartbeat) {
        this.clock = clock;
        this.heartbeat = heartbeat;
    }

    /** The link's state was just written (a heartbeat). */
    void beat() {
        lastBeat = clock.nanoTime();
    }

    /** A purge mark was just made. */
    void marked() {
        lastMark = clock.nanoTime();
    }

    boolean heartbeatDue() {
        return clock.nanoTime() - lastBeat >= heartbeat.toNanos();
    }

    /** Whether a purge mark (and purge) may be made now, see {@link #MARK_INTERVAL}. */
    boolean markDue() {
        return clock.nanoTime() - lastMark >= MARK_INTERVAL.toNanos();
    }

    /**
     * Under a steady stream (a whole range read, and it held {@link #STEADY_PAGE} changes or more)
     * the next turn waits {@link #STEADY_WAIT} first, so that it carries more changes: each turn
     * costs about as much CPU again as its changes do at -N's rates (three requests here, two or
     * three at the peer, their statements' planning and executor start, the agent's round trips;
     * issue 14). Smaller pages (a low commit rate, where lag counts) and a backlog (ranges read in
     * several pages) never wait.
     * <p>
     * A busy one-way stream (a whole range of {@link #BUSY_PAGE} changes or more, at {@link #BUSY_RATE}
     * changes a second or more over the page's range (from the turn before's start to its own), and {@code peerWrites} false: the peer's
     * queue held no change of the page's tables) waits {@link #BUSY_WAIT}: a turn cost about 3.5 ms
     * of CPU (origin backend 1.1, agent 1.5, peer backend 1.0; pgbench -N, turnprobe, issue 14)
     * whatever its size, so pages two or three times as long cut what the turns cost per change as
     * much; the lag of such a stream grows by the wait. Not when the peer writes the same tables
     * (two-way): a longer page holds its rows' locks there longer. Not below that rate, however
     * long the page: at 1,000 commits a second a stall makes one long page, and the wait would
     * then keep the next ones as long (the page of a wait is the rate times the wait and the turn).
     */
    void steadyPause(Page page, boolean peerWrites) throws InterruptedException {
        long wait = pauseMillis(page, peerWrites, turnBefore == 0 ? Long.MAX_VALUE : lastTurn - turnBefore);
        if (wait == BUSY_WAIT.toMillis() && wait != STEADY_WAIT.toMillis()) {
            LOG.fine(() -> "busy one-way stream: a page of " + page.changes().size() + " changes; the next turn in " + wait + " ms");
        }
        if (wait > 0) {
            Thread.sleep(wait);
        }
        turnBefore = lastTurn;
        lastTurn = clock.nanoTime();
    }

    /** How long {@link #steadyPause} waits after {@code page}, whose range's changes were committed over {@code rangeNanos}. */
    static long pauseMillis(Page page, boolean peerWrites, long rangeNanos) {
        if (!page.rangeComplete()) {
            return 0;
        }
        int n = page.changes().size();
        boolean busy = n >= BUSY_PAGE && !peerWrites && n * 1_000_000_000.0 / Math.max(1, rangeNanos) >= BUSY_RATE;
        return busy ? BUSY_WAIT.toMillis() : n >= STEADY_PAGE ? STEADY_WAIT.toMillis() : 0;
    }
}
