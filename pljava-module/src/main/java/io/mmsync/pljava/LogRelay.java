package io.mmsync.pljava;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * Carries the engine's log records to the server log from the backend's main thread. PL/Java's
 * own handler writes through elog(), which only the main thread may call (another thread waits
 * for the main thread to enter Java, so an engine thread that logged could stall up to a tick).
 * So the engine's threads only queue their records here, and each worker tick publishes them on
 * the main thread to the root logger's handlers (PL/Java's), which map levels to elog levels.
 */
final class LogRelay extends Handler {
    static final int CAPACITY = 10_000;
    private final ConcurrentLinkedQueue<LogRecord> queue = new ConcurrentLinkedQueue<>();
    private final AtomicInteger size = new AtomicInteger();
    private final AtomicInteger dropped = new AtomicInteger();

    /** Routes the records of loggers under {@code io.mmsync} into a new relay. */
    static LogRelay install() {
        LogRelay relay = new LogRelay();
        Logger top = Logger.getLogger("io.mmsync");
        top.setUseParentHandlers(false);
        // the root level follows log_min_messages (WARNING by default); the engine's INFO lines
        // (link up, link down) belong in the server log, as LOG
        Level root = Logger.getLogger("").getLevel();
        top.setLevel(root != null && root.intValue() < Level.INFO.intValue() ? root : Level.INFO);
        for (Handler h : top.getHandlers()) {
            top.removeHandler(h);
        }
        top.addHandler(relay);
        return relay;
    }

    @Override
    public void publish(LogRecord r) {
        if (size.incrementAndGet() > CAPACITY) {
            size.decrementAndGet();
            dropped.incrementAndGet();
            return;
        }
        queue.add(r);
    }

    /** Publishes the queued records to the root logger's handlers; call on the main thread only. */
    void drain() {
        List<LogRecord> batch = new ArrayList<>();
        for (LogRecord r; (r = queue.poll()) != null; ) {
            size.decrementAndGet();
            batch.add(r);
        }
        int lost = dropped.getAndSet(0);
        if (lost > 0) {
            batch.add(new LogRecord(Level.WARNING,
                    "mmsync worker: " + lost + " log records were dropped (more than " + CAPACITY + " between two ticks)"));
        }
        Handler[] targets = Logger.getLogger("").getHandlers();
        for (LogRecord r : batch) {
            r.setLevel(pgLevel(r.getLevel()));
            if (targets.length == 0) {
                System.err.println(r.getLevel() + ": " + r.getMessage());
            }
            for (Handler h : targets) {
                h.publish(r);
            }
        }
    }

    /** A JUL level that PL/Java's handler writes as LOG (it maps levels it does not know to LOG). */
    static final Level PG_LOG = new Level("LOG", 850) {
        private static final long serialVersionUID = 1L;
    };

    /**
     * PL/Java writes SEVERE as ERROR, which would abort the tick's transaction, and INFO as INFO,
     * which the server log leaves out by default: SEVERE and WARNING become WARNING, INFO and
     * CONFIG become LOG, finer levels stay (DEBUG1-3).
     */
    static Level pgLevel(Level l) {
        if (l.intValue() >= Level.WARNING.intValue()) {
            return Level.WARNING;
        }
        if (l.intValue() >= Level.CONFIG.intValue()) {
            return PG_LOG;
        }
        return l;
    }

    @Override
    public void flush() {
    }

    @Override
    public void close() {
    }
}
