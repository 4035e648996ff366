package io.mmsync.it;

import io.mmsync.testenv.PgCluster;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Application load on one node that knows exactly how many row changes it committed, even when its
 * server crashes or restarts under it. Transaction k inserts row {@code first + k*step}, updates
 * the row of transaction k-10 and, when k % 7 == 0, deletes the row of transaction k-30 (which
 * nothing touches afterwards), so it makes 1 to 3 changes, all on this writer's own rows: two
 * writers with different {@code first} (mod {@code step}) never touch the same row. When a
 * transaction fails (even at COMMIT, where the outcome is unknown) the writer reconnects and looks
 * for the row it inserted to learn whether it committed; if not, it runs the same transaction again.
 * The table needs columns {@code (id bigint PRIMARY KEY, n int NOT NULL, v text)}.
 */
final class Writer implements Runnable {
    private final PgCluster node;
    private final String table;
    private final long first;
    private final long step;
    private final AtomicBoolean stop;
    private final long pauseNanos;
    private final AtomicLong changes = new AtomicLong();
    private final AtomicLong transactions = new AtomicLong();
    private final AtomicLong failures = new AtomicLong();
    private volatile Throwable fatal;

    Writer(PgCluster node, String table, long first, long step, AtomicBoolean stop, long pauseMicros) {
        this.node = node;
        this.table = table;
        this.first = first;
        this.step = step;
        this.stop = stop;
        this.pauseNanos = pauseMicros * 1000;
    }

    /**
     * The usual two-way load, started: a writer on blue's table load_blue and one on green's
     * load_green ({@code [0]} blue's, {@code [1]} green's), both pausing {@code pauseMicros}.
     */
    static Writer[] onBothNodes(Pair pair, AtomicBoolean stop, long pauseMicros) {
        Writer onBlue = new Writer(pair.blue, "load_blue", 0, 1, stop, pauseMicros);
        Writer onGreen = new Writer(pair.green, "load_green", 0, 1, stop, pauseMicros);
        onBlue.start("writer-blue");
        onGreen.start("writer-green");
        return new Writer[] {onBlue, onGreen};
    }

    /** Row changes committed so far (exact: a transaction in doubt is resolved before it counts). */
    long changes() {
        return changes.get();
    }

    long transactions() {
        return transactions.get();
    }

    /** Transactions that failed and were resolved (committed or run again). */
    long failures() {
        return failures.get();
    }

    /** A thread for this writer, started. */
    Thread start(String name) {
        Thread t = new Thread(this, name);
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** Rethrows what ended the writer abnormally, if anything did. */
    void check() {
        if (fatal != null) {
            throw new AssertionError("writer on " + node.name() + " failed", fatal);
        }
    }

    @Override
    public void run() {
        try {
            long k = 0;
            while (!stop.get()) {
                if (runOne(k)) {
                    changes.addAndGet(changesOf(k));
                    transactions.incrementAndGet();
                    k++;
                }
                if (pauseNanos > 0) {
                    LockSupport.parkNanos(pauseNanos); // pacing, so that two cores also serve the agents
                }
            }
        } catch (RuntimeException | Error e) {
            fatal = e;
        }
    }

    static int changesOf(long k) {
        return 1 + (k >= 10 ? 1 : 0) + (k >= 30 && k % 7 == 0 ? 1 : 0);
    }

    private long id(long k) {
        return first + k * step;
    }

    private Connection conn;

    /** True once transaction k is known to be committed; false if it must run again. */
    private boolean runOne(long k) {
        try {
            if (conn == null) {
                conn = node.connect(Pair.DB);
                conn.setAutoCommit(false);
            }
            try (PreparedStatement ins = conn.prepareStatement("INSERT INTO " + table + " VALUES (?, 0, md5(?::text))")) {
                ins.setLong(1, id(k));
                ins.setLong(2, id(k));
                ins.executeUpdate();
            }
            if (k >= 10) {
                exec("UPDATE " + table + " SET n = n + 1, v = md5(v) WHERE id = ?", id(k - 10), 1);
            }
            if (k >= 30 && k % 7 == 0) {
                exec("DELETE FROM " + table + " WHERE id = ?", id(k - 30), 1);
            }
            conn.commit();
            return true;
        } catch (SQLException e) {
            failures.incrementAndGet();
            closeQuietly();
            return committed(k);
        }
    }

    private void exec(String sql, long id, int expected) throws SQLException {
        try (PreparedStatement st = conn.prepareStatement(sql)) {
            st.setLong(1, id);
            int n = st.executeUpdate();
            if (n != expected) {
                throw new IllegalStateException(sql + " with id " + id + " on " + node.name() + " changed " + n + " rows");
            }
        }
    }

    /** After a failure: waits for the server, then tells whether transaction k committed. */
    private boolean committed(long k) {
        long deadline = System.nanoTime() + 180_000_000_000L;
        while (System.nanoTime() < deadline) {
            try (Connection c = node.connect(Pair.DB);
                 PreparedStatement st = c.prepareStatement("SELECT 1 FROM " + table + " WHERE id = ?")) {
                st.setLong(1, id(k));
                try (ResultSet rs = st.executeQuery()) {
                    return rs.next();
                }
            } catch (SQLException e) {
                LockSupport.parkNanos(100_000_000L); // the server is down or restarting: ask again
            }
        }
        throw new IllegalStateException("server " + node.name() + " did not come back within 180 s");
    }

    private void closeQuietly() {
        if (conn != null) {
            try {
                conn.close();
            } catch (SQLException e) {
                // the connection is broken already; the next transaction opens a new one
            }
            conn = null;
        }
    }
}
