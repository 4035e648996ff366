package io.mmsync.health;

import java.sql.Array;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.function.Predicate;

/**
 * A client writing rows into t through HAProxy, one autocommit INSERT at a time, reconnecting after
 * any error. Each acknowledged write records the port of the server that committed it
 * ({@code inet_server_port()}); with {@link #requireOnCommit} each write also counts, in the same
 * statement's snapshot, how many of the given ids the committing server already holds.
 * (Not {@code io.mmsync.it.Writer}: that one is load on one node that counts its changes exactly.)
 */
final class ProxyWriter implements AutoCloseable {
    /** An acknowledged (committed) write. {@code found} is -1 unless required ids were given. */
    record Ack(long id, int port, long nanos, int required, long found) {
    }

    private final String url;
    private final Thread thread;
    private final List<Ack> acks = new ArrayList<>();
    private final List<Long> uncertain = new ArrayList<>();
    private volatile long[] required;
    private volatile boolean stopping;
    private volatile String lastError;
    private long nextId;
    private int failures;

    ProxyWriter(int haproxyPort, long firstId) {
        this.url = "jdbc:postgresql://127.0.0.1:" + haproxyPort + "/" + HealthPair.DB;
        this.nextId = firstId;
        this.thread = new Thread(this::run, "test-writer");
    }

    ProxyWriter start() {
        thread.start();
        return this;
    }

    void requireOnCommit(long[] ids) {
        required = ids;
    }

    private void run() {
        Properties p = new Properties();
        p.setProperty("user", "postgres");
        p.setProperty("connectTimeout", "2");
        p.setProperty("socketTimeout", "5");
        p.setProperty("loginTimeout", "3");
        p.setProperty("sslmode", "disable");
        Connection c = null;
        while (!stopping) {
            long id = nextId++;
            long[] req = required;
            try {
                if (c == null) {
                    c = DriverManager.getConnection(url, p);
                }
                String sql = req == null ? "INSERT INTO t VALUES (?, ?) RETURNING inet_server_port(), -1::bigint"
                        : "INSERT INTO t VALUES (?, ?) RETURNING inet_server_port(), (SELECT count(*) FROM t WHERE id = ANY (?))";
                try (PreparedStatement st = c.prepareStatement(sql)) {
                    st.setLong(1, id);
                    st.setString(2, "row " + id);
                    if (req != null) {
                        Array a = c.createArrayOf("bigint", java.util.Arrays.stream(req).boxed().toArray());
                        st.setArray(3, a);
                    }
                    try (ResultSet rs = st.executeQuery()) {
                        rs.next();
                        Ack ack = new Ack(id, rs.getInt(1), System.nanoTime(), req == null ? -1 : req.length, rs.getLong(2));
                        synchronized (this) {
                            acks.add(ack);
                            notifyAll();
                        }
                    }
                }
            } catch (SQLException e) {
                synchronized (this) {
                    failures++;
                    uncertain.add(id);
                    lastError = e.getMessage();
                }
                Db.closeQuietly(c);
                c = null;
            }
            pace();
        }
        Db.closeQuietly(c);
    }

    private void pace() {
        try {
            Thread.sleep(5);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            stopping = true;
        }
    }

    synchronized List<Ack> acks() {
        return new ArrayList<>(acks);
    }

    synchronized int failures() {
        return failures;
    }

    synchronized List<Long> uncertain() {
        return new ArrayList<>(uncertain);
    }

    String lastError() {
        return lastError;
    }

    /** The first ack after {@code afterNanos} that matches, waiting up to {@code max}. */
    synchronized Ack await(long afterNanos, Predicate<Ack> match, Duration max, String what) throws InterruptedException {
        long deadline = System.nanoTime() + max.toNanos();
        int from = 0;
        while (true) {
            for (int i = from; i < acks.size(); i++) {
                Ack a = acks.get(i);
                if (a.nanos() > afterNanos && match.test(a)) {
                    return a;
                }
            }
            from = acks.size();
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new AssertionError("waited " + max.toMillis() + " ms for " + what + "; " + acks.size() + " acks, "
                        + failures + " failed writes, last error: " + lastError);
            }
            wait(Math.max(1, left / 1_000_000));
        }
    }

    /** Waits until {@code n} acks after {@code afterNanos} match. */
    void awaitCount(long afterNanos, Predicate<Ack> match, int n, Duration max, String what) throws InterruptedException {
        long after = afterNanos;
        for (int i = 0; i < n; i++) {
            after = await(after, match, max, what + " (" + (i + 1) + " of " + n + ")").nanos();
        }
    }

    long[] ackedIdsBefore(long nanos) {
        return acks().stream().filter(a -> a.nanos() < nanos).mapToLong(Ack::id).toArray();
    }

    @Override
    public void close() {
        stopping = true;
        try {
            thread.join(20_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
