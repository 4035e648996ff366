package io.mmsync.engine.copy;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;

/**
 * The copy's work and its workers: the key ranges of the tables added and, as soon as a table's
 * ranges are all done, the builds of the indexes its copy dropped (ahead of the ranges still
 * queued, so they overlap the copy of the next tables). A worker keeps its pair of connections (a
 * reader in the exported snapshot, a writer on the target: a {@link RangeCopier}) from table to
 * table until the copy ends; an index is built on a connection of its own.
 */
final class CopyWork implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(CopyWork.class.getName());

    /** Opens a worker's pair of connections. */
    interface CopierFactory {
        RangeCopier open() throws SQLException;
    }

    /** Opens a target connection (for an index build). */
    interface PeerFactory {
        Connection open() throws SQLException;
    }

    /** One table's share: ranges to copy, then indexes to build. */
    static final class TableJob {
        final CopyPlan plan;
        final List<CopyRange> todo;
        final List<String> indexes;
        private final AtomicInteger rangesLeft;
        private final AtomicInteger indexesLeft;
        private volatile boolean started;
        private volatile long indexesFrom;
        /** main thread: the table's end was reported */
        boolean reported;

        TableJob(CopyPlan plan, List<CopyRange> todo, List<String> indexes) {
            this.plan = plan;
            this.todo = List.copyOf(todo);
            this.indexes = List.copyOf(indexes);
            this.rangesLeft = new AtomicInteger(todo.size());
            this.indexesLeft = new AtomicInteger(indexes.size());
        }

        boolean started() {
            return started;
        }

        boolean done() {
            return rangesLeft.get() == 0 && indexesLeft.get() == 0;
        }
    }

    /** A range of a job, or (range null) one of its indexes. */
    private static final class Item {
        final TableJob job;
        final CopyRange range;
        final String index;

        Item(TableJob job, CopyRange range, String index) {
            this.job = job;
            this.range = range;
            this.index = index;
        }
    }

    private final LinkedBlockingDeque<Item> queue = new LinkedBlockingDeque<>();
    /** items queued or running */
    private final AtomicInteger pending = new AtomicInteger();
    private final ConcurrentLinkedDeque<RangeCopier> idle = new ConcurrentLinkedDeque<>();
    private final List<RangeCopier> opened = Collections.synchronizedList(new ArrayList<>());
    private final CopierFactory copiers;
    private final PeerFactory peers;
    private final CopyStore store;
    private final String logPrefix;

    CopyWork(CopierFactory copiers, PeerFactory peers, CopyStore store, String logPrefix) {
        this.copiers = copiers;
        this.peers = peers;
        this.store = store;
        this.logPrefix = logPrefix;
    }

    /** Queues the job's ranges (its indexes when it has none left to copy). */
    void add(TableJob job) {
        for (CopyRange r : job.todo) {
            pending.incrementAndGet();
            queue.addLast(new Item(job, r, null));
        }
        if (job.todo.isEmpty()) {
            queueIndexes(job);
        }
    }

    /** Starts {@code workers} workers; each ends when nothing is queued or running. */
    List<Future<?>> start(ExecutorService pool, int workers) {
        List<Future<?>> out = new ArrayList<>();
        for (int i = 0; i < workers; i++) {
            out.add(pool.submit(() -> {
                work();
                return null;
            }));
        }
        return out;
    }

    private void queueIndexes(TableJob job) {
        job.indexesFrom = System.nanoTime();
        for (String ix : job.indexes) {
            pending.incrementAndGet();
            queue.addFirst(new Item(job, null, ix));
        }
    }

    private void work() throws SQLException, InterruptedException {
        RangeCopier rc = null;
        try {
            while (true) {
                if (Thread.interrupted()) {
                    throw new InterruptedException("copy stopped");
                }
                Item it = queue.pollFirst(100, TimeUnit.MILLISECONDS);
                if (it == null) {
                    if (pending.get() == 0) {
                        return;
                    }
                    continue;
                }
                try {
                    it.job.started = true;
                    if (it.range != null) {
                        if (rc == null) {
                            rc = idle.pollFirst();
                            if (rc == null) {
                                rc = copiers.open();
                                opened.add(rc);
                            }
                        }
                        rc.copy(it.job.plan, it.range);
                        if (it.job.rangesLeft.decrementAndGet() == 0) {
                            queueIndexes(it.job);
                        }
                    } else {
                        build(it);
                    }
                } finally {
                    pending.decrementAndGet();
                }
            }
        } catch (SQLException | RuntimeException | InterruptedException e) {
            if (rc != null) {
                try {
                    rc.close(); // its connections' state is unknown
                } catch (SQLException c) {
                    e.addSuppressed(c);
                }
                rc = null;
            }
            throw e;
        } finally {
            if (rc != null) {
                idle.addFirst(rc);
            }
        }
    }

    private void build(Item it) throws SQLException {
        try (Connection c = peers.open()) {
            c.setNetworkTimeout(Runnable::run, 0); // a big table's index takes its time
            store.restoreIndexes(c, it.job.plan.table, it.index);
        }
        if (it.job.indexesLeft.decrementAndGet() == 0) {
            LOG.info(String.format("%s%s: %d secondary indexes built in %.1f s", logPrefix, it.job.plan.table, it.job.indexes.size(),
                    (System.nanoTime() - it.job.indexesFrom) / 1e9));
        }
    }

    @Override
    public void close() throws SQLException {
        SQLException first = null;
        synchronized (opened) {
            for (RangeCopier rc : opened) {
                try {
                    rc.close();
                } catch (SQLException e) {
                    if (first == null) {
                        first = e;
                    } else {
                        first.addSuppressed(e);
                    }
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
