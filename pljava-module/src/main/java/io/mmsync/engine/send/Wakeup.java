package io.mmsync.engine.send;

import io.mmsync.engine.time.Clock;
import org.postgresql.PGConnection;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;

/**
 * How a link waits for new changes without a NOTIFY per commit. A NOTIFY per writing transaction
 * serialises committers on the server's NotifyQueueLock and wakes the sender once per commit:
 * about a third of what capture cost the writers (bench/capture-cost).
 * <p>
 * A link declares itself idle by holding the advisory lock ({@link #LOCK_CLASS}, sync id)
 * exclusively on its local connection, and then waits for a NOTIFY (or the poll interval). The
 * capture trigger takes the same lock shared, once per writing transaction, and sends a NOTIFY only
 * when it cannot, that is when a sender is idle ({@code mmsync.capture()}). A lock, not a flag in a
 * table, because it leaves no race: the link gets it only when every transaction that took it
 * shared (and so sent no NOTIFY) has ended, and it takes it in the first statement of a turn, before
 * the snapshot that opens the turn's range ({@link LocalTurn}), so the turn's read sees every such
 * writer's changes; every later writer notifies. A lost connection releases the lock, so a dead
 * agent leaves nothing behind that would make writers notify.
 * <p>
 * Issue 15: the link asks for the lock in any turn that follows a page of fewer than
 * {@link #ARM_BELOW} changes (or none), keeps it through pages smaller than that, and releases it
 * in the last request of a turn that found more: at a low commit rate each commit wakes the link
 * at once instead of at its next poll, at no round trip of its own, and after a small page (of a
 * range opened while it held the lock) the link waits at once, without a read that would find
 * nothing: whatever committed after the range's snapshot notifies. Under a steady stream (pages of
 * many changes) writers do not notify and the link reads page after page without waiting. While
 * the lock is held shared (writers in flight, which will not notify) the link looks again after
 * the active poll interval, and once no change came for {@code idleAfter}, less often each time,
 * up to the poll interval.
 * <p>
 * Several links of one sync (more than one peer) share the lock: when another one holds it,
 * writers notify and every link listening wakes, so this link waits for the NOTIFY too.
 */
final class Wakeup {
    /** First key of the advisory lock, 'mmsy' in ASCII; the second is the sync id. */
    static final int LOCK_CLASS = 0x6d6d7379;
    /** A page of fewer changes than this makes the next turn take the lock (see the class comment). */
    static final int ARM_BELOW = 8;

    private static final String UNLOCK_SQL = "SELECT pg_catalog.pg_advisory_unlock(?, ?)";

    private final Duration activePoll;
    private final Duration idleAfter;
    private final Duration poll;
    private final Clock clock;
    /** the waits' marks for {@link LagTrace} */
    final LagTrace trace = new LagTrace();

    /** the sync whose lock this session holds (or last asked for) */
    private int syncId;
    /** whether this session holds the lock */
    private boolean idle;
    private long lastWork;
    private int busyTries;
    /** changes in the last page read (0: none) */
    private int lastFound;
    /** the lock attempt of the current turn: 'armed', 'other', 'busy', or null (none made) */
    private String outcome;

    Wakeup(LinkSettings settings) {
        this.activePoll = settings.activePoll();
        this.idleAfter = settings.idleAfter();
        this.poll = settings.poll();
        this.clock = settings.clock();
    }

    /** A new local connection (holding no lock): starts out polling. */
    void start(int syncId) {
        this.syncId = syncId;
        idle = false;
        busyTries = 0;
        lastFound = ARM_BELOW;
        outcome = null;
        lastWork = clock.nanoTime();
    }

    /**
     * The sync id whose lock the coming turn should ask for in its first request, or null: asked
     * when the lock is not held and the last page was small (see the class comment).
     */
    Integer armFor(int currentSyncId) {
        outcome = null;
        if (idle || lastFound >= ARM_BELOW) {
            return null;
        }
        if (currentSyncId != syncId) {
            return null; // see nothingFound: the old sync's lock goes first
        }
        return currentSyncId;
    }

    /** What the turn's lock attempt found ({@link LocalTurn#armOutcome()}). */
    void armed(String what) {
        outcome = what;
        if ("armed".equals(what)) {
            idle = true;
            busyTries = 0;
        }
    }

    /** Whether the last page was small (or none): the regime where the link waits for a NOTIFY ({@link LocalTurn#quick}). */
    boolean quiet() {
        return lastFound < ARM_BELOW;
    }

    /** Releases the lock at once, in a request of its own (a quick turn that found many changes, see Link). */
    void releaseNow(Connection lc) throws SQLException {
        release(lc);
    }

    /** Whether this session holds the lock. */
    boolean holding() {
        return idle;
    }

    /** The sync id of the lock held, see {@link #holding()}. */
    int lockedSyncId() {
        return syncId;
    }

    /**
     * The link read {@code count} changes; {@code released}: the turn's last request released the
     * lock (a page of {@link #ARM_BELOW} changes or more: writers stop notifying while pages come).
     */
    void changesFound(int count, boolean released) {
        lastWork = clock.nanoTime();
        busyTries = 0;
        lastFound = count;
        if (released) {
            idle = false;
        }
    }

    /**
     * The queue held nothing new: waits as long as fits. {@code freshRange}: the turn's read opened a
     * new range (with a snapshot taken after the lock attempt); only such a read covers every writer
     * that did not notify, so a link that holds the lock but read an older range reads again at once.
     */
    void nothingFound(Connection lc, int currentSyncId, boolean freshRange) throws SQLException {
        lastFound = 0;
        if (currentSyncId != syncId) {
            // the sync was removed and added again under its name: another lock
            release(lc);
            syncId = currentSyncId;
            return;
        }
        if (idle) {
            if (freshRange) {
                await(lc, poll);
            }
            return;
        }
        if ("other".equals(outcome)) {
            await(lc, poll); // another link of this sync is idle: writers notify
            return;
        }
        if ("busy".equals(outcome)) {
            // writers in flight took the lock shared and will not notify: look again soon, every
            // active poll while changes keep coming, then less often each time, up to the poll interval
            long ms = busy() ? activePoll.toMillis() : Math.min(poll.toMillis(), activePoll.toMillis() << Math.min(busyTries++, 16));
            await(lc, Duration.ofMillis(Math.max(1, ms)));
        }
        // no attempt this turn (the page before was big): the next turn asks for the lock at once
    }

    /** True while changes keep coming: the link found some within the last {@code idleAfter}. */
    boolean busy() {
        return clock.nanoTime() - lastWork < idleAfter.toNanos();
    }

    /**
     * Whether a NOTIFY came while the link worked (the driver read it with a reply, or it waits in
     * the socket) or comes within the active poll interval: used up as any wait's. Issue 15: after a
     * small page that kept the lock, a link so woken starts its next turn at once, and the page's
     * confirmation goes with that turn's first request instead of delaying it by a round trip; a
     * link not woken so soon confirms, then waits as before.
     */
    boolean wokenSoon(Connection lc) throws SQLException {
        trace.waitStart = LagTrace.now();
        boolean woken = lc.unwrap(PGConnection.class).getNotifications(waitMillis(activePoll)).length > 0;
        trace.wake = LagTrace.now();
        return woken;
    }

    /** Waits the active poll interval (or until a NOTIFY), whatever the state: the link has work of its own. */
    void soon(Connection lc) throws SQLException {
        await(lc, activePoll);
    }

    /** Paused or held: no NOTIFY per commit is wanted; a kick or resume (or the poll interval) wakes. */
    void hold(Connection lc) throws SQLException {
        release(lc);
        lastWork = clock.nanoTime();
        await(lc, poll);
    }

    private void release(Connection lc) throws SQLException {
        if (idle) {
            query(lc, UNLOCK_SQL);
            idle = false;
        }
    }

    private void query(Connection lc, String sql) throws SQLException {
        try (PreparedStatement st = lc.prepareStatement(sql)) {
            st.setInt(1, LOCK_CLASS);
            st.setInt(2, syncId);
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
            }
        }
    }

    /** A wait in milliseconds, 2 at least: the link's connection returns from a 1 ms wait at once (QuickPeekSocketFactory). */
    static int waitMillis(Duration d) {
        return (int) Math.max(2, Math.min(Integer.MAX_VALUE, d.toMillis()));
    }

    private void await(Connection lc, Duration d) throws SQLException {
        trace.waitStart = LagTrace.now();
        lc.unwrap(PGConnection.class).getNotifications(waitMillis(d));
        trace.wake = LagTrace.now();
    }
}
