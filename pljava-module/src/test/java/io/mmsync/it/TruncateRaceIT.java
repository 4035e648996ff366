package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * TRUNCATE racing writes on the peer (issue 17): both nodes insert rows (and update each other's
 * recent ones) without pause while one of them truncates the table. The peer must remove exactly
 * the rows the truncating node had when it truncated: the other node's rows that were still on
 * their way to it stay on both nodes. Truncates on blue and on green, twice each; after each
 * round both nodes hold the same rows.
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class TruncateRaceIT {
    static final String SCHEMA = "CREATE TABLE reactions (userid text, postid text, emojiname text, createat bigint NOT NULL, "
            + "PRIMARY KEY (userid, postid, emojiname));"
            + "CREATE TABLE other (id int PRIMARY KEY, v text);"
            + "CREATE TABLE log (msg text, at int);";
    /** Transactions each writer commits before the truncate, and after it. */
    static final int TXNS = 150;

    @Test
    void truncateOnEitherNodeRemovesOnThePeerExactlyWhatItHad() throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.addSync("");
            pair.startAgents();
            pair.awaitSyncOnGreen();
            Pair.exec(pair.blue, "INSERT INTO other SELECT g, 'x' FROM generate_series(1, 100) g");
            List<String> report = new ArrayList<>();
            int bad = 0;
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                int round = 0;
                for (int rep = 0; rep < 2; rep++) {
                    for (PgCluster truncating : List.of(pair.blue, pair.green)) {
                        String prefix = "r" + round++;
                        AtomicBoolean stop = new AtomicBoolean();
                        List<AtomicLong> done = new ArrayList<>();
                        List<Future<?>> writers = new ArrayList<>();
                        for (PgCluster node : List.of(pair.blue, pair.green)) {
                            for (int t = 0; t < 2; t++) {
                                AtomicLong n = new AtomicLong();
                                done.add(n);
                                String user = prefix + node.name() + t;
                                String peerUser = prefix + (node == pair.blue ? pair.green : pair.blue).name() + t;
                                writers.add(pool.submit(() -> {
                                    write(node, user, peerUser, stop, n);
                                    return null;
                                }));
                            }
                        }
                        Waits.until(Duration.ofSeconds(120), "writers under way", () -> min(done) >= TXNS);
                        long before = min(done);
                        // what the other node's writers had committed before the truncate began
                        int first = truncating == pair.blue ? 2 : 0;
                        long[] otherBefore = {done.get(first).get(), done.get(first + 1).get()};
                        Pair.exec(truncating, "TRUNCATE reactions");
                        Waits.until(Duration.ofSeconds(120), "writers on after the truncate", () -> min(done) >= before + TXNS);
                        stop.set(true);
                        for (Future<?> f : writers) {
                            f.get(60, TimeUnit.SECONDS);
                        }
                        pair.awaitSynced();
                        String fb = Pair.fingerprint(pair.blue, "reactions");
                        String fg = Pair.fingerprint(pair.green, "reactions");
                        // of those, the rows still on both nodes: on their way to the truncating node when it truncated
                        String other = prefix + (truncating == pair.blue ? pair.green : pair.blue).name();
                        long kept = pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM reactions WHERE (userid = '" + other
                                + "0' AND substr(postid, 2)::int < " + 3 * otherBefore[0] + ") OR (userid = '" + other
                                + "1' AND substr(postid, 2)::int < " + 3 * otherBefore[1] + ")");
                        report.add(prefix + " (TRUNCATE on " + truncating.name() + "): blue " + fb + ", green " + fg
                                + "; rows of the other node in flight at the truncate, kept: " + kept);
                        if (!fb.equals(fg)) {
                            bad++;
                        }
                        assertTrue(pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM reactions WHERE userid LIKE '" + prefix + "%'") > 0,
                                "rows written after the truncate remain");
                    }
                }
            } finally {
                pool.shutdownNow();
            }
            System.out.println("TruncateRaceIT: " + bad + " of 4 rounds diverged\n  " + String.join("\n  ", report));
            assertEquals(0, bad, String.join("\n", report));
            assertEquals(100, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM other"), "other tables untouched");
            assertEquals(0, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.set_aside")
                    + pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.set_aside"));
        }
    }

    /**
     * The same, step by step: green's agent is stopped, so green's new row and its update of one of
     * blue's rows are on their way to blue when blue truncates. Green keeps exactly those two rows
     * (and loses blue's other row and its own row that blue had); when green's agent is back they
     * reach blue, which then holds the same two rows. The same for a table without primary key.
     */
    @Test
    void rowsOnTheirWayToTheTruncatingNodeStayOnBoth() throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.addSync("insert_only => 'log'");
            Agent blueAgent = Agent.inProcess(pair.blue.conninfo(Pair.DB));
            Agent greenAgent = Agent.inProcess(pair.green.conninfo(Pair.DB));
            try {
                pair.awaitSyncOnGreen();
                Pair.exec(pair.blue, "INSERT INTO reactions VALUES ('blue', 'p1', 'smile', 1), ('blue', 'p2', 'smile', 1)");
                Pair.exec(pair.green, "INSERT INTO reactions VALUES ('green', 'p1', 'smile', 1)");
                Pair.exec(pair.blue, "INSERT INTO log VALUES ('blue', 1)");
                Pair.exec(pair.green, "INSERT INTO log VALUES ('green', 1)");
                pair.awaitSynced();
                greenAgent.stop();
                Pair.exec(pair.green, "INSERT INTO reactions VALUES ('green', 'p2', 'smile', 2)");
                Pair.exec(pair.green, "UPDATE reactions SET createat = 2 WHERE userid = 'blue' AND postid = 'p1'");
                Pair.exec(pair.green, "INSERT INTO log VALUES ('green', 2)");
                // written in a subtransaction: the row's xmin is not the transaction's id
                Pair.exec(pair.green, "BEGIN; SAVEPOINT s; INSERT INTO reactions VALUES ('green', 'p3', 'smile', 3); "
                        + "RELEASE SAVEPOINT s; COMMIT");
                Pair.exec(pair.blue, "TRUNCATE reactions, log");
                String expected = "blue/p1/2 green/p2/2 green/p3/3";
                String rows = "SELECT coalesce(string_agg(userid || '/' || postid || '/' || createat, ' ' ORDER BY userid, postid), '') "
                        + "FROM reactions";
                String logRows = "SELECT coalesce(string_agg(msg || '/' || at, ' ' ORDER BY msg, at), '') FROM log";
                Waits.until(Duration.ofSeconds(60), "blue's truncate applied on green",
                        () -> pair.green.queryString(Pair.DB, rows).equals(expected)
                                && pair.green.queryString(Pair.DB, logRows).equals("green/2"));
                assertEquals("", pair.blue.queryString(Pair.DB, rows));
                greenAgent = Agent.inProcess(pair.green.conninfo(Pair.DB));
                pair.awaitSynced();
                assertEquals(expected, pair.blue.queryString(Pair.DB, rows));
                assertEquals(expected, pair.green.queryString(Pair.DB, rows));
                // a table without primary key (insert-only): green's row on its way stays, on both
                assertEquals("green/2", pair.blue.queryString(Pair.DB, logRows));
                assertEquals("green/2", pair.green.queryString(Pair.DB, logRows));
            } finally {
                greenAgent.stop();
                blueAgent.stop();
            }
        }
    }

    @Test
    void truncateOutsideReadCommittedIsRefusedWithTheAlternative() throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.addSync("");
            Pair.exec(pair.blue, "INSERT INTO reactions VALUES ('u', 'p', 'smile', 1)");
            SQLException e = org.junit.jupiter.api.Assertions.assertThrows(SQLException.class, () -> Pair.exec(pair.blue,
                    "BEGIN ISOLATION LEVEL REPEATABLE READ; TRUNCATE reactions; COMMIT"));
            assertEquals("0A000", e.getSQLState());
            assertTrue(e.getMessage().contains("TRUNCATE of synced table public.reactions needs a READ COMMITTED transaction")
                    && e.getMessage().contains("or use DELETE"), e.getMessage());
            assertEquals(1, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM reactions"));
            assertEquals(0, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.changes WHERE op = 'T'"));
            // in READ COMMITTED it is queued with what blue had applied of green (nothing yet)
            Pair.exec(pair.blue, "TRUNCATE reactions");
            assertEquals("{\"seen\": {}}", pair.blue.queryString(Pair.DB, "SELECT new::text FROM mmsync.changes WHERE op = 'T'"));
        }
    }

    private static long min(List<AtomicLong> counters) {
        return counters.stream().mapToLong(AtomicLong::get).min().orElse(0);
    }

    /**
     * Until {@code stop}: transactions of three new reactions of {@code user} and an update of a
     * recent reaction of {@code peerUser} (the same writer on the other node), counted in {@code n}.
     */
    private static void write(PgCluster node, String user, String peerUser, AtomicBoolean stop, AtomicLong n) throws SQLException {
        try (Connection c = node.connect(Pair.DB);
             PreparedStatement ins = c.prepareStatement("INSERT INTO reactions VALUES (?, ?, 'smile', ?)");
             PreparedStatement upd = c.prepareStatement("UPDATE reactions SET createat = createat + 1 "
                     + "WHERE userid = ? AND postid = ? AND emojiname = 'smile'")) {
            c.setAutoCommit(false);
            long i = 0;
            while (!stop.get()) {
                try {
                    for (int k = 0; k < 3; k++) {
                        ins.setString(1, user);
                        ins.setString(2, "p" + (i * 3 + k));
                        ins.setLong(3, i);
                        ins.executeUpdate();
                    }
                    upd.setString(1, peerUser);
                    upd.setString(2, "p" + Math.max(0, i * 3 - ThreadLocalRandom.current().nextInt(1, 30)));
                    upd.executeUpdate();
                    c.commit();
                    i++;
                    n.incrementAndGet();
                } catch (SQLException e) {
                    c.rollback();
                    if (!"40P01".equals(e.getSQLState()) && !"40001".equals(e.getSQLState())) {
                        throw e;
                    }
                }
            }
        }
    }
}
