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
    /**
     * While the last pause was a busy one-way stream's ({@link #BUSY_WAIT}): purge marks and purges
     * at most this often (issue 15: at 1 s, {@code mmsync._purge} and the queue's maintenance were
     * about a sixth of the origin backend's CPU under pgbench -N). The queue then holds a few
     * seconds more of changes; an idle link marks as before ({@link #idle}).
     */
    static final Duration BUSY_MARK_INTERVAL = Duration.ofMillis(Long.getLong("mmsync.busyMarkMs", 5000));
    /** A page of a whole range this big means a steady stream: see {@link #steadyPause}. */
    static final int STEADY_PAGE = Integer.getInteger("mmsync.steadyPage", 32);
    static final Duration STEADY_WAIT = Duration.ofMillis(Long.getLong("mmsync.steadyWaitMs", 10));
    /** A page of a whole range this big, a peer that does not write the page's tables: a busy one-way stream. */
    static final int BUSY_PAGE = Integer.getInteger("mmsync.busyPage", 64);
    static final Duration BUSY_WAIT = Duration.ofMillis(Long.getLong("mmsync.busyWaitMs", 50));
    /** Changes a second (the page over the time since the last turn began) from which a stream is busy. */
    static final int BUSY_RATE = Integer.getInteger("mmsync.busyRate", 2000);
    /**
     * Changes a second from which a stream that was busy at the last pause stays busy: a stream at
     * about {@link #BUSY_RATE} on a loaded machine went in and out of the busy regime, and its
     * small pages (10 ms waits) cost so much more CPU per change that the writers slowed below the
     * rate and it stayed out (pgbench -N at 1,041 TPS: 99 changes a page, issue 15).
     */
    static final int BUSY_RATE_STAY = BUSY_RATE * 3 / 4;

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
    /** whether the last {@link #steadyPause} waited as under a busy one-way stream */
    private boolean busy;

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
        return clock.nanoTime() - lastMark >= (busy ? BUSY_MARK_INTERVAL : MARK_INTERVAL).toNanos();
    }

    /** The link found nothing more to send: marks come at {@link #MARK_INTERVAL} again. */
    void idle() {
        busy = false;
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
     * much; the lag of such a stream grows by the wait. 50 ms by default: at 150 ms
     * ({@code -Dmmsync.busyWaitMs=150}) pages of pgbench -N held 970-1,200 changes instead of
     * 300-480 and the sync's CPU per change fell by a fifth to a third, but a busy stream's lag p50
     * went from 40-58 to 135-155 ms (docs/bench/cpu-per-change-2026-12-08-cpu5.md): a trade the
     * operator makes, not the default, while the gain is measured only on a loaded machine. Not
     * when the peer writes the same tables (two-way): a longer page holds its rows' locks there
     * longer. Not below that rate, however
     * long the page: at 1,000 commits a second a stall makes one long page, and the wait would
     * then keep the next ones as long (the page of a wait is the rate times the wait and the turn).
     */
    void steadyPause(Page page, boolean peerWrites) throws InterruptedException {
        long wait = pauseMillis(page, peerWrites, turnBefore == 0 ? Long.MAX_VALUE : lastTurn - turnBefore, busy);
        busy = wait == BUSY_WAIT.toMillis() && wait > STEADY_WAIT.toMillis();
        if (busy) {
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
        return pauseMillis(page, peerWrites, rangeNanos, false);
    }

    /** As {@link #pauseMillis(Page, boolean, long)}, after a busy wait when {@code wasBusy} ({@link #BUSY_RATE_STAY}). */
    static long pauseMillis(Page page, boolean peerWrites, long rangeNanos, boolean wasBusy) {
        if (!page.rangeComplete()) {
            return 0;
        }
        int n = page.changes().size();
        boolean busy = n >= BUSY_PAGE && !peerWrites
                && n * 1_000_000_000.0 / Math.max(1, rangeNanos) >= (wasBusy ? BUSY_RATE_STAY : BUSY_RATE);
        return busy ? BUSY_WAIT.toMillis() : n >= STEADY_PAGE ? STEADY_WAIT.toMillis() : 0;
    }
}
