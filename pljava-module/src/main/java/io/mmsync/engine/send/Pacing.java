package io.mmsync.engine.send;

import io.mmsync.engine.model.Page;
import io.mmsync.engine.time.Clock;

import java.time.Duration;

/**
 * When a {@link Link} beats its heartbeat, makes a purge mark (and purges), and pauses before the
 * next turn under a steady stream: the link's clocks, apart from what it does at those times.
 */
final class Pacing {
    /**
     * While pages keep coming, purge marks and purges at most this often (issue 14: at 100 ms the
     * purge calls were a third of the origin backend's CPU under a steady stream).
     */
    static final Duration MARK_INTERVAL = Duration.ofSeconds(1);
    /** A page of a whole range this big means a steady stream: see {@link #steadyPause}. */
    static final int STEADY_PAGE = Integer.getInteger("mmsync.steadyPage", 32);
    static final Duration STEADY_WAIT = Duration.ofMillis(Long.getLong("mmsync.steadyWaitMs", 10));

    private final Clock clock;
    private final Duration heartbeat;
    private long lastBeat;
    private long lastMark;

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
     */
    static void steadyPause(Page page) throws InterruptedException {
        if (page.rangeComplete() && page.changes().size() >= STEADY_PAGE && STEADY_WAIT.toMillis() > 0) {
            Thread.sleep(STEADY_WAIT.toMillis());
        }
    }
}
