package io.mmsync.engine.send;

import org.postgresql.PGConnection;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;

/**
 * Issue 15: the next quick turn ({@link LocalTurn#quick}) while the peer applies a small page
 * that kept the idle-sender lock. A commit's NOTIFY that comes during the apply no longer waits
 * for it to end: this thread, waiting on the local connection meanwhile, runs the next turn at
 * once, and the link applies that page as soon as the peer has committed this one (a page is
 * still applied only after the one before it committed: the peer's position orders them). With
 * no NOTIFY during the apply it does nothing. The local connection is this thread's from
 * {@link #start} until {@link #finish} or {@link #discard} returns (the link uses it for nothing
 * else meanwhile). One thread per link, from the engine's thread factory, started on first use.
 */
final class NextTurn implements AutoCloseable {
    /** How long one wait for a NOTIFY lasts: once the apply ended, the link waits at most this for the thread. */
    static final int SLICE_MS = 2;

    private final ThreadFactory threads;
    private ExecutorService exec;
    private Future<LocalTurn.Quick> pending;
    private volatile boolean stop;
    /** {@link LagTrace} marks of the last turn run here (written by the thread, read after finish) */
    long waitStart;
    long wake;
    long b0;
    long b1;

    NextTurn(ThreadFactory threads) {
        this.threads = threads;
    }

    /** Waits on {@code local} for a NOTIFY until {@link #finish}; on one, runs {@code turn} (on the same connection). */
    void start(Connection local, Callable<LocalTurn.Quick> turn) {
        if (exec == null) {
            exec = Executors.newSingleThreadExecutor(threads);
        }
        discard();
        stop = false;
        pending = exec.submit(() -> {
            waitStart = LagTrace.now();
            PGConnection pg = local.unwrap(PGConnection.class);
            while (pg.getNotifications(SLICE_MS).length == 0) {
                if (stop) {
                    return null;
                }
            }
            wake = LagTrace.now();
            b0 = wake;
            LocalTurn.Quick q = turn.call();
            b1 = LagTrace.now();
            return q;
        });
    }

    /**
     * The turn run since {@link #start}, or null when no NOTIFY came (then after at most
     * {@link #SLICE_MS}); its failure is thrown. The local connection is the caller's again.
     */
    LocalTurn.Quick finish() throws SQLException, InterruptedException {
        if (pending == null) {
            return null;
        }
        stop = true;
        try {
            return pending.get();
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException) {
                throw (RuntimeException) c;
            }
            throw c instanceof SQLException ? (SQLException) c : new SQLException("mmsync: the next turn failed: " + c, c);
        } finally {
            pending = null;
        }
    }

    /** Forgets the turn, once the thread let go of the connection (a closed connection ends it at once). */
    void discard() {
        if (pending == null) {
            return;
        }
        stop = true;
        try {
            pending.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException e) {
            // the link's own error path reports what went wrong; this turn is not used
        }
        pending = null;
    }

    @Override
    public void close() {
        if (exec != null) {
            exec.shutdownNow();
        }
    }
}
