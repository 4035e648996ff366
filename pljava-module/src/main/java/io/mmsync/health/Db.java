package io.mmsync.health;

import io.mmsync.engine.conn.ConnInfo;
import io.mmsync.engine.conn.Connector;
import io.mmsync.engine.error.ErrorPolicy;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The health endpoint's own database access: connections with short timeouts at every level
 * (connect, login, socket, statement, lock), and a small bounded pool that runs a probe's database
 * work under a hard deadline, so that a hung server makes a probe answer 503 on time instead of
 * hanging it, and a flood of probes cannot use up max_connections. Never shares a connection with
 * the engine.
 */
final class Db implements AutoCloseable {
    /** At most this many probes talk to databases at once; more get "busy" (503). */
    static final int MAX_IN_FLIGHT = 8;

    private final Duration statementTimeout;
    private final ThreadPoolExecutor pool;

    Db(Duration statementTimeout) {
        this.statementTimeout = statementTimeout;
        AtomicInteger n = new AtomicInteger();
        this.pool = new ThreadPoolExecutor(1, MAX_IN_FLIGHT, 30, TimeUnit.SECONDS, new SynchronousQueue<>(), r -> {
            Thread t = new Thread(r, "mmsync-health-db-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    /** A new autocommit connection; every wait in it is bounded by about the statement timeout. */
    Connection open(ConnInfo info, String purpose) throws SQLException {
        return new Connector("health", info).bounded(statementTimeout).open("health " + purpose);
    }

    /**
     * Runs {@code work} on the pool and waits at most {@code deadline}. A late task is left to
     * finish on its own (its socket timeout ends it) and its result is dropped.
     */
    <T> T within(Duration deadline, Callable<T> work) throws ProbeException {
        Future<T> f;
        try {
            f = pool.submit(work);
        } catch (RejectedExecutionException e) {
            throw new ProbeException("busy: " + MAX_IN_FLIGHT + " probes already waiting for a database", e);
        }
        try {
            return f.get(deadline.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            throw new ProbeException("no answer within " + deadline.toMillis() + " ms", e);
        } catch (ExecutionException e) {
            Throwable c = e.getCause() == null ? e : e.getCause();
            throw new ProbeException(describe(c), c);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            f.cancel(true);
            throw new ProbeException("interrupted", e);
        }
    }

    /** One line as the engine describes errors ({@link ErrorPolicy#describe}), shorter, credentials masked. */
    static String describe(Throwable t) {
        return Redact.text(ErrorPolicy.describe(t, 300));
    }

    static void closeQuietly(Connection c) {
        if (c != null) {
            try {
                c.close();
            } catch (SQLException e) {
                // the connection is being dropped because it failed; there is nothing left to do with it
                java.util.logging.Logger.getLogger(Db.class.getName()).fine("close: " + e.getMessage());
            }
        }
    }

    @Override
    public void close() {
        pool.shutdownNow();
    }

    /** A probe could not get its answer from a database; the message says why (no credentials). */
    static final class ProbeException extends Exception {
        ProbeException(String message, Throwable cause) {
            super(Redact.text(message), cause);
        }
    }
}
