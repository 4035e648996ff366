package io.mmsync.engine.send;

import io.mmsync.engine.error.ErrorPolicy;
import io.mmsync.engine.time.Clock;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Purges the local queue through {@code mmsync._purge}, which (from extension 0.2.0, issue 14)
 * runs {@code mmsync._queue_maintain}: it deletes no row, it truncates whole queue tables every
 * peer has confirmed and rotates the current one, for every sync at once, one caller at a time
 * (a second returns at once). Each call is its own short transaction under a server-side
 * statement timeout, so a call never outlives the link's read timeout and an abandoned one (its
 * link reconnected) is ended by the server, not left to pile up. {@code more} (then
 * {@link #behind()}) says a table was due but its lock was not free: the link calls again at its
 * next turns. (With extension 0.1.0 the same call deletes at most {@value #ROWS_PER_CALL}
 * changes per call, 500 ms at most, and {@code more} says changes are left; one {@link #purge}
 * stops after {@link #BUSY} while changes flow, {@link #IDLE} otherwise.)
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

    private static final String CALL_SQL = "SET LOCAL statement_timeout = " + STATEMENT_TIMEOUT.toMillis()
            + "; SELECT purged, more FROM mmsync._purge(?, ?); COMMIT";

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
        // one round trip per call (issue 15: were three): BEGIN, the timeout, the call, COMMIT
        try (PreparedStatement st = local.prepareStatement(CALL_SQL)) {
            st.setInt(1, syncId);
            st.setInt(2, ROWS_PER_CALL);
            do {
                boolean rs = st.execute();
                while (!rs && st.getUpdateCount() != -1) {
                    rs = st.getMoreResults();
                }
                try (ResultSet r = st.getResultSet()) {
                    r.next();
                    total += r.getLong(1);
                    more = r.getBoolean(2);
                }
                local.commit(); // the server committed; this only checks the driver's state
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
