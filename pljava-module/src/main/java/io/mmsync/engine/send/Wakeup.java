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
 * While changes keep coming the link polls every {@code activePoll}. Once it has found nothing
 * for {@code idleAfter} it declares itself idle by taking the advisory lock
 * ({@link #LOCK_CLASS}, sync id) exclusively on its local connection, and then waits for a NOTIFY
 * (or the poll interval). The capture trigger takes the same lock shared, once per writing
 * transaction, and sends a NOTIFY only when it cannot, that is when a sender is idle
 * ({@code mmsync.capture()}). A lock, not a flag in a table, because it leaves no race: the link
 * gets it only when every transaction that took it shared (and so sent no NOTIFY) has ended, and
 * the link then reads the queue once more; every later writer notifies. A lost connection
 * releases the lock, so a dead agent leaves nothing behind that would make writers notify.
 * <p>
 * Several links of one sync (more than one peer) share the lock: when another one holds it,
 * writers notify and every link listening wakes, so this link waits for the NOTIFY too. When
 * the lock is held shared (writers in flight), the link polls again, less often each time, up to
 * the poll interval.
 */
final class Wakeup {
    /** First key of the advisory lock, 'mmsy' in ASCII; the second is the sync id. */
    static final int LOCK_CLASS = 0x6d6d7379;

    private static final String TRY_LOCK_SQL = "SELECT pg_catalog.pg_try_advisory_lock(?, ?)";
    private static final String UNLOCK_SQL = "SELECT pg_catalog.pg_advisory_unlock(?, ?)";
    private static final String HELD_BY_OTHER_SQL = "SELECT EXISTS (SELECT FROM pg_catalog.pg_locks l "
            + "WHERE l.locktype = 'advisory' AND l.classid = ?::oid AND l.objid = ?::oid AND l.objsubid = 2 "
            + "AND l.mode = 'ExclusiveLock' AND l.granted AND l.pid <> pg_catalog.pg_backend_pid())";

    private final Duration activePoll;
    private final Duration idleAfter;
    private final Duration poll;
    private final Clock clock;

    private int syncId;
    private boolean idle;
    private long lastWork;
    private int busyTries;

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
        lastWork = clock.nanoTime();
    }

    /** The link read changes: keep polling; writers stop notifying. */
    void changesFound(Connection lc) throws SQLException {
        lastWork = clock.nanoTime();
        busyTries = 0;
        release(lc);
    }

    /** The queue held nothing new: waits as long as fits (or not at all, right after going idle). */
    void nothingFound(Connection lc, int currentSyncId) throws SQLException {
        if (currentSyncId != syncId) {
            // the sync was removed and added again under its name: another lock
            release(lc);
            syncId = currentSyncId;
        }
        if (idle) {
            await(lc, poll);
            return;
        }
        if (busy()) {
            await(lc, activePoll);
            return;
        }
        if (query(lc, TRY_LOCK_SQL)) {
            idle = true;
            busyTries = 0;
            return; // writers that did not notify have all ended: read once more, then sleep
        }
        if (query(lc, HELD_BY_OTHER_SQL)) {
            await(lc, poll); // another link of this sync is idle: writers notify
            return;
        }
        long ms = Math.min(poll.toMillis(), activePoll.toMillis() << Math.min(busyTries, 16));
        busyTries++;
        await(lc, Duration.ofMillis(Math.max(1, ms)));
    }

    /** True while changes keep coming: the link found some within the last {@code idleAfter}. */
    boolean busy() {
        return clock.nanoTime() - lastWork < idleAfter.toNanos();
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

    private boolean query(Connection lc, String sql) throws SQLException {
        try (PreparedStatement st = lc.prepareStatement(sql)) {
            st.setInt(1, LOCK_CLASS);
            st.setInt(2, syncId);
            try (ResultSet rs = st.executeQuery()) {
                return rs.next() && rs.getBoolean(1);
            }
        }
    }

    private static void await(Connection lc, Duration d) throws SQLException {
        lc.unwrap(PGConnection.class).getNotifications((int) Math.max(1, d.toMillis()));
    }
}
