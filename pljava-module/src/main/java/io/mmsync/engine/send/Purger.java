package io.mmsync.engine.send;

import io.mmsync.engine.error.ErrorPolicy;
import io.mmsync.engine.time.Clock;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Purges a sync's local queue in bounded steps through {@code mmsync._purge}, which deletes at
 * most {@value #ROWS_PER_CALL} changes (one 5,000-id chunk) or 500 ms worth per call and lets one
 * caller per sync in at a time. Each call is its own short transaction under a server-side
 * statement timeout, so a purge never outlives the link's read timeout and an abandoned one (its
 * link reconnected) is ended by the server, not left to pile up. One {@link #purge} stops after
 * its budget ({@link #BUSY} while changes flow, {@link #IDLE} otherwise), so sending is never
 * held up for long: with a second per purge, lag at 200 commits/s after a 200,000-change
 * catch-up had a p99 of 0.4-0.9 s, with 50 ms 0.16-0.2 s. (Steps of 500 rows and 10 ms did no
 * better: until the queue is purged, reading a new range scans what is left of it, so a slower
 * purge keeps every read slow for longer.) When a purge stopped with work left,
 * {@link #behind()} says so and the link purges again at its next turns, until the queue is down
 * to what the peers still need.
 */
final class Purger {
    private static final Logger LOG = Logger.getLogger(Purger.class.getName());
    static final int ROWS_PER_CALL = 5_000;
    /** While changes flow: this long at most (the next page waits for it). */
    static final Duration BUSY = Duration.ofMillis(50);
    /** Otherwise (a NOTIFY or the next poll waits for it). */
    static final Duration IDLE = Duration.ofMillis(250);
    /** Server-side bound on one call; far above what a call takes, far below the read timeout. */
    static final Duration STATEMENT_TIMEOUT = Duration.ofSeconds(10);

    private final String logPrefix;
    private boolean behind;
    private final Clock clock;

    Purger(String logPrefix, Clock clock) {
        this.clock = clock;
        this.logPrefix = logPrefix;
    }

    /** True when the last {@link #purge} left confirmed changes in the queue for a later call. */
    boolean behind() {
        return behind;
    }

    /**
     * Deletes changes every peer has applied, for about {@link #BUSY} ({@code busy}) or
     * {@link #IDLE} at most; returns how many.
     */
    long purge(Connection local, int syncId, boolean busy) throws SQLException {
        Duration budget = busy ? BUSY : IDLE;
        long deadline = clock.nanoTime() + budget.toNanos();
        long total = 0;
        boolean more = false;
        boolean autoCommit = local.getAutoCommit();
        local.setAutoCommit(false);
        try (Statement set = local.createStatement();
             PreparedStatement st = local.prepareStatement("SELECT purged, more FROM mmsync._purge(?, ?)")) {
            st.setInt(1, syncId);
            st.setInt(2, ROWS_PER_CALL);
            do {
                set.execute("SET LOCAL statement_timeout = " + STATEMENT_TIMEOUT.toMillis());
                try (ResultSet rs = st.executeQuery()) {
                    rs.next();
                    total += rs.getLong(1);
                    more = rs.getBoolean(2);
                }
                local.commit();
            } while (more && clock.nanoTime() < deadline);
        } catch (SQLException e) {
            rollbackQuietly(local);
            if (!ErrorPolicy.gaveUpWaiting(e)) {
                throw e;
            }
            // a slow or blocked step: what was committed before it stays purged; retried later
            LOG.info(logPrefix + "purge stopped after " + total + " changes (" + e.getMessage() + "); retried later");
            more = true;
        } finally {
            if (!local.isClosed()) {
                local.setAutoCommit(autoCommit);
            }
        }
        behind = more;
        if (total > 0) {
            LOG.fine(logPrefix + "purged " + total + " changes" + (more ? ", more to purge" : ""));
        }
        return total;
    }

    private void rollbackQuietly(Connection local) {
        try {
            local.rollback();
        } catch (SQLException e) {
            LOG.log(Level.FINE, logPrefix + "rollback after purge: " + e.getMessage());
        }
    }
}
