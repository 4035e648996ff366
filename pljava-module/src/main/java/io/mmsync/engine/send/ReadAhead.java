package io.mmsync.engine.send;

import io.mmsync.engine.model.Page;
import io.mmsync.engine.model.Position;

import java.sql.SQLException;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;

/**
 * Reads a link's next page from the local queue while the peer applies the current one: in a
 * backlog the two take about as long, so the drain takes about half the time. One thread per
 * link (from the engine's thread factory, started on first use), one page ahead at most. The
 * caller uses the local connection only once {@link #finish()} or {@link #discard()} has
 * returned: the read never overlaps anything else on that connection.
 */
final class ReadAhead implements AutoCloseable {
    private final ThreadFactory threads;
    private ExecutorService exec;
    private Future<Page> pending;
    private Position from;
    private Page done;
    private SQLException failed;

    ReadAhead(ThreadFactory threads) {
        this.threads = threads;
    }

    /** Starts reading the page that begins at {@code from}. */
    void start(Position from, Callable<Page> read) {
        if (exec == null) {
            exec = Executors.newSingleThreadExecutor(threads);
        }
        discard();
        this.from = from;
        this.pending = exec.submit(read);
    }

    /** Waits for the started read to end and keeps its page (or its failure) for {@link #take}. */
    void finish() throws InterruptedException {
        if (pending == null) {
            return;
        }
        try {
            done = pending.get();
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException) {
                throw (RuntimeException) c;
            }
            failed = c instanceof SQLException ? (SQLException) c
                    : new SQLException("mmsync: reading ahead failed: " + c, c);
        } finally {
            pending = null;
        }
    }

    /** The page read ahead from {@code pos}, or null if none was (the caller reads it itself). */
    Page take(Position pos) throws SQLException {
        Page p = done;
        SQLException f = failed;
        boolean same = pos.equals(from);
        done = null;
        failed = null;
        from = null;
        if (!same) {
            return null;
        }
        if (f != null) {
            throw f;
        }
        return p;
    }

    /** Forgets the page being read, once its read has ended (so that the connection is free). */
    void discard() {
        if (pending != null) {
            try {
                pending.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException e) {
                // the link's own error path reports what went wrong; this page is not used
            }
        }
        pending = null;
        done = null;
        failed = null;
        from = null;
    }

    @Override
    public void close() {
        if (exec != null) {
            exec.shutdownNow();
        }
    }
}
