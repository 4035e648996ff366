package io.mmsync.engine.copy;

import io.mmsync.engine.conn.Connector;
import io.mmsync.engine.model.TableOrder;
import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.logging.Logger;

/**
 * The initial copy of a sync (add_sync(..., initial => 'copy')) from this node (the origin) to a
 * peer, run by the link before it sends changes. One REPEATABLE READ transaction on the origin
 * exports its snapshot S; parallel workers import it and stream the tables' key ranges into the
 * peer, each range in one peer transaction that records it done ({@link CopyWork}). Where the peer
 * runs the copy in replica mode (no foreign key checked) all tables' ranges go in one queue, parents
 * first, so workers move on to the next tables while the last ranges of one finish; otherwise table
 * by table, parents before children. Then, in one peer transaction, the link's position becomes S: changes visible in S are
 * in the copy, later ones are sent by the link; none lost, none applied twice.
 * <p>
 * Resumed after an interruption with a new snapshot S2: ranges not done are copied at S2; ranges
 * done at an older snapshot are compared (count and row hash on both nodes) and copied again only
 * when the origin's rows changed since, so that every range holds the origin's rows at S2.
 */
public final class InitialCopy {
    private static final Logger LOG = Logger.getLogger(InitialCopy.class.getName());
    /** Rows per range, about; -Dmmsync.copy.rangeRows changes it. */
    static final long RANGE_ROWS = Long.getLong("mmsync.copy.rangeRows", 50_000);
    /** Parallel readers and writers; -Dmmsync.copy.workers changes it. */
    static final int WORKERS = Integer.getInteger("mmsync.copy.workers", 4);
    /**
     * Whether a target table empty when its copy begins loses its plain secondary indexes until its
     * ranges are done, then gets them built from the data in one pass each, in parallel (as
     * pg_restore does); -Dmmsync.copy.deferIndexes=false keeps them (every copied row then updates
     * every index). The target records them (mmsync.copy_indexes) in the transaction that drops
     * them, so they come back after an interruption too: when the resumed copy has done the table,
     * before the hand-over, or when the sync is added again (mmsync.copy_restore_indexes() for a
     * sync removed mid-copy).
     */
    static final boolean DEFER_INDEXES = Boolean.parseBoolean(System.getProperty("mmsync.copy.deferIndexes", "true"));
    private static final long LOG_EVERY_NANOS = 10_000_000_000L;
    /**
     * Read timeout of the copy's connections (the link's 20 s is for bounded batches; planning the
     * ranges of a big table is one longer query).
     */
    static final int LONG_REQUEST_MILLIS = 600_000;

    private final String sync;
    private final String origin;
    private final Connector local;
    private final Connector peer;
    private final ThreadFactory threads;
    private final Beat heartbeat;
    private final CopyStore store;
    private final String logPrefix;

    public InitialCopy(String sync, String origin, Connector local, Connector peer, ThreadFactory threads, Beat heartbeat) {
        this.sync = sync;
        this.origin = origin;
        this.local = local;
        this.peer = peer;
        this.threads = threads;
        this.heartbeat = heartbeat;
        this.store = new CopyStore(sync, origin, peer.nodeName());
        this.logPrefix = "mmsync copy " + sync + " " + origin + "->" + peer.nodeName() + ": ";
    }

    /** Called about every second while the copy runs (the link's heartbeat in status()). */
    public interface Beat {
        void beat() throws SQLException;
    }

    /** "copy" or "merge" when the link of {@code sync} from {@code origin} to {@code target} must do that first, else null. */
    public static String pending(Connection local, Connection peer, String sync, String origin, String target) throws SQLException {
        return CopyStore.pending(local, peer, sync, origin, target);
    }

    /** Copies everything; returns the origin snapshot the peer now holds (the link's new lower bound). */
    public String run() throws SQLException, InterruptedException {
        long start = System.nanoTime();
        ExecutorService pool = Executors.newFixedThreadPool(WORKERS, threads);
        try (Connection exporter = local.open("copy " + sync + " snapshot"); Connection lc = local.open("copy " + sync + " progress");
             Connection pc = peer.open("copy " + sync + " plan")) {
            String exported;
            String snapshot;
            for (Connection c : new Connection[] {exporter, lc, pc}) {
                c.setNetworkTimeout(Runnable::run, LONG_REQUEST_MILLIS);
            }
            try (Statement st = exporter.createStatement()) {
                // the exporting transaction stays open, idle, while the workers copy
                st.execute("SET idle_in_transaction_session_timeout = 0");
                st.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
                try (ResultSet rs = st.executeQuery("SELECT pg_catalog.pg_export_snapshot(), pg_catalog.pg_current_snapshot()::text")) {
                    rs.next();
                    exported = rs.getString(1);
                    snapshot = rs.getString(2);
                }
            }
            // an earlier run's writer that a dead connection left inside a COPY holds its rows' keys
            peer.endStale(pc, "copy " + sync + " writer");
            store.started(pc, lc);
            List<TableRef> tables = tablesInOrder(lc);
            LOG.info(logPrefix + "copying " + tables.size() + " tables at snapshot " + snapshot + " with " + WORKERS + " workers");
            Map<TableRef, CopyPlan> plans = new LinkedHashMap<>();
            int ord = 0;
            for (TableRef t : tables) {
                CopyPlan s = CopyPlan.read(lc, pc, t, peer.nodeName());
                plans.put(t, s);
                store.tableRegistered(lc, t, ord++, s.estimatedRows);
            }
            long[] total = new long[2];
            // in replica mode no foreign key is checked: all tables' ranges in one queue, parents first
            boolean together = RangeCopier.REPLICA_ROLE && RangeCopier.mayUseReplicaRole(pc);
            try (CopyWork work = new CopyWork(() -> newCopier(exported, snapshot), () -> peer.open("copy " + sync + " index"),
                    store, logPrefix)) {
                List<CopyWork.TableJob> jobs = new ArrayList<>();
                for (CopyPlan s : plans.values()) {
                    jobs.add(prepare(s, exporter, pc, snapshot));
                }
                if (together) {
                    jobs.forEach(work::add);
                    runJobs(work, jobs, pool, pc, lc, total);
                } else {
                    for (CopyWork.TableJob j : jobs) { // parents' rows committed before their children's are checked
                        work.add(j);
                        runJobs(work, List.of(j), pool, pc, lc, total);
                    }
                }
            }
            long rows = total[0];
            long bytes = total[1];
            // normally none left: each table's were built after its ranges
            int late = store.restoreIndexes(pc, null, null);
            if (late > 0) {
                LOG.info(logPrefix + late + " indexes dropped by an earlier run of this copy built again");
            }
            store.handOver(pc, snapshot);
            store.finishedHere(lc, snapshot);
            try (Statement st = exporter.createStatement()) {
                st.execute("COMMIT");
            }
            double secs = (System.nanoTime() - start) / 1e9;
            LOG.info(String.format("%sdone: %,d rows, %.1f MB in %.1f s (%,.0f rows/s); changes after snapshot %s follow through "
                    + "the queue", logPrefix, rows, bytes / 1e6, secs, rows / Math.max(secs, 1e-3), snapshot));
            return snapshot;
        } finally {
            pool.shutdownNow();
        }
    }

    /** A table's ranges (planned now the first time, its indexes deferred then) and what is left of them. */
    private CopyWork.TableJob prepare(CopyPlan s, Connection exporter, Connection pc, String snapshot) throws SQLException {
        List<CopyRange> ranges = store.ranges(pc, s.table);
        if (ranges.isEmpty()) {
            ranges = plan(exporter, s);
            store.plan(pc, ranges);
            if (DEFER_INDEXES) {
                int n = store.deferIndexes(pc, s.table);
                if (n > 0) {
                    LOG.info(logPrefix + s.table + ": " + n + " secondary indexes on " + peer.nodeName() + " dropped until its rows "
                            + "are copied, then built (recorded in its mmsync.copy_indexes)");
                }
            }
        }
        List<CopyRange> todo = new ArrayList<>();
        int doneBefore = 0;
        for (CopyRange r : ranges) {
            if (r.doneSnapshot == null || !r.doneSnapshot.equals(snapshot)) {
                todo.add(r);
            }
            doneBefore += r.doneSnapshot != null ? 1 : 0;
        }
        if (doneBefore > 0) {
            LOG.info(logPrefix + s.table + ": resuming, " + doneBefore + " of " + ranges.size() + " ranges already done"
                    + " (each copied again only if its rows changed here since)");
        }
        return new CopyWork.TableJob(s, todo, store.deferredIndexes(pc, s.table));
    }

    /** Runs the queued work of {@code jobs} to its end, reporting each table's progress; adds rows and bytes to {@code total}. */
    private void runJobs(CopyWork work, List<CopyWork.TableJob> jobs, ExecutorService pool, Connection pc, Connection lc, long[] total)
            throws SQLException, InterruptedException {
        long started = System.nanoTime();
        long[] lastLog = {started};
        await(work.start(pool, WORKERS), () -> {
            boolean log = System.nanoTime() - lastLog[0] > LOG_EVERY_NANOS;
            if (log) {
                lastLog[0] = System.nanoTime();
            }
            for (CopyWork.TableJob j : jobs) {
                if (j.started() && !j.reported) {
                    report(j, pc, lc, started, log, total);
                }
            }
        });
        for (CopyWork.TableJob j : jobs) {
            if (!j.reported) {
                report(j, pc, lc, started, true, total);
            }
        }
    }

    /** The table's progress on the origin (finished once its ranges and indexes are done), and in the log. */
    private void report(CopyWork.TableJob j, Connection pc, Connection lc, long started, boolean log, long[] total) throws SQLException {
        long[] now = store.doneSoFar(pc, j.plan.table);
        boolean finished = j.done();
        store.tableProgress(lc, j.plan.table, now[0], now[1], finished);
        if (finished) {
            j.reported = true;
            total[0] += now[0];
            total[1] += now[1];
        }
        if (log || finished) {
            logProgress(j.plan, now, started);
        }
    }

    /** A step of the main thread while it waits (about every second). */
    private interface Tick {
        void run() throws SQLException;
    }

    /** Waits for the tasks, beating the heartbeat and running {@code tick} about every second; the first failure cancels the rest. */
    private void await(List<Future<?>> tasks, Tick tick) throws SQLException, InterruptedException {
        int next = 0;
        while (next < tasks.size()) {
            try {
                tasks.get(next).get(1, TimeUnit.SECONDS);
                next++;
                continue;
            } catch (TimeoutException e) {
                heartbeat.beat();
                tick.run();
            } catch (ExecutionException e) {
                throw failed(tasks, e);
            }
            // a worker that failed ends the copy now, not once the others have run out of work
            for (Future<?> f : tasks) {
                if (f.isDone() && !f.isCancelled()) {
                    try {
                        f.get();
                    } catch (ExecutionException e) {
                        throw failed(tasks, e);
                    }
                }
            }
        }
    }

    /** Cancels the other tasks; the failure's cause, to throw. */
    private static SQLException failed(List<Future<?>> tasks, ExecutionException e) {
        tasks.forEach(x -> x.cancel(true));
        Throwable c = e.getCause();
        if (c instanceof SQLException) {
            return (SQLException) c;
        }
        throw c instanceof RuntimeException ? (RuntimeException) c : new IllegalStateException(c);
    }

    private void logProgress(CopyPlan s, long[] done, long started) {
        double secs = (System.nanoTime() - started) / 1e9;
        LOG.info(String.format("%s%s: %,d of about %,d rows, %.1f MB, %.1f s", logPrefix, s.table, done[0],
                Math.max(done[0], s.estimatedRows), done[1] / 1e6, secs));
    }

    /** A worker's pair of connections: a reader in the exported snapshot, a writer on the target. */
    private RangeCopier newCopier(String exported, String snapshot) throws SQLException {
        Connection reader = local.open("copy " + sync + " reader");
        Connection writer;
        try {
            writer = peer.open("copy " + sync + " writer");
        } catch (SQLException e) {
            reader.close();
            throw e;
        }
        try {
            RangeCopier rc = new RangeCopier(reader, writer, exported, snapshot, origin, store);
            LOG.info(logPrefix + "worker connected: a reader here in the snapshot, a writer on " + peer.nodeName()
                    + (rc.replicaRole() ? " in replica mode" : ""));
            return rc;
        } catch (SQLException | RuntimeException e) {
            try {
                reader.close();
            } finally {
                writer.close();
            }
            throw e;
        }
    }

    private List<CopyRange> plan(Connection exporter, CopyPlan s) throws SQLException {
        List<String> bounds = new ArrayList<>();
        if (s.keyRow != null) {
            try (PreparedStatement st = exporter.prepareStatement("SELECT b FROM mmsync._copy_bounds(?::regclass, ?) AS b")) {
                st.setString(1, s.table.quoted());
                st.setLong(2, RANGE_ROWS);
                try (ResultSet rs = st.executeQuery()) {
                    while (rs.next()) {
                        bounds.add(rs.getString(1));
                    }
                }
            }
        }
        List<CopyRange> out = new ArrayList<>();
        for (int i = 0; i <= bounds.size(); i++) {
            out.add(new CopyRange(s.table, i, i == 0 ? null : bounds.get(i - 1), i == bounds.size() ? null : bounds.get(i), null));
        }
        return out;
    }

    /** The sync's tables, each after the tables its foreign keys reference (cycles: in name order). */
    private List<TableRef> tablesInOrder(Connection lc) throws SQLException {
        return TableOrder.parentsFirst(lc, sync, false);
    }
}
