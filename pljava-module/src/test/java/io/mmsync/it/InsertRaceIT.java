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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The insert/insert race of issue 17: the same new keys upserted on both nodes at the same
 * instant ({@code INSERT ... ON CONFLICT DO UPDATE}, as Mattermost's pluginkeyvaluestore does).
 * When a node applies the peer's insert of a key while its own insert of that key is not yet
 * committed, the competitor lookup finds nothing, then the apply's upsert waits on the unique
 * index for the local insert and overwrites it once it commits; the other node resolves the same
 * pair the other way. Each round uses fresh keys, written in transactions of several upserts on
 * both nodes at once (so that a local insert is often still open while the peer's arrives); after
 * each round both nodes must hold the same rows and both must have logged each insert/insert
 * conflict with the same winner.
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class InsertRaceIT {
    static final String SCHEMA = "CREATE TABLE kv (pluginid text, pkey text, v text NOT NULL, node text NOT NULL, "
            + "PRIMARY KEY (pluginid, pkey));";
    static final int ROUNDS = Integer.getInteger("mmsync.race.rounds", 6);
    static final int KEYS = 1200;
    static final int BATCH = 12;
    static final int THREADS_PER_NODE = 2;

    @Test
    void sameNewKeysUpsertedOnBothNodesConverge() throws Exception {
        // the in-process agents' applies that met the race and resolved the page again (FINE log)
        AtomicLong raced = new AtomicLong();
        Logger applier = Logger.getLogger("io.mmsync.engine.apply.Applier");
        Handler counter = new Handler() {
            @Override
            public void publish(LogRecord r) {
                if (r.getMessage() != null && r.getMessage().contains("raced a local write")) {
                    raced.incrementAndGet();
                }
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        counter.setLevel(Level.FINE);
        applier.setLevel(Level.FINE);
        applier.addHandler(counter);
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.addSync("conflict => 'latest'");
            pair.startAgents();
            pair.awaitSyncOnGreen();
            List<String> report = new ArrayList<>();
            int badRounds = 0;
            AtomicLong retries = new AtomicLong();
            ExecutorService pool = Executors.newFixedThreadPool(2 * THREADS_PER_NODE);
            try {
                for (int round = 0; round < ROUNDS; round++) {
                    String plugin = "round" + round;
                    CountDownLatch go = new CountDownLatch(1);
                    List<Future<?>> writers = new ArrayList<>();
                    for (PgCluster node : List.of(pair.blue, pair.green)) {
                        for (int t = 0; t < THREADS_PER_NODE; t++) {
                            int thread = t;
                            writers.add(pool.submit(() -> {
                                go.await();
                                upsertAll(node, plugin, thread, retries);
                                return null;
                            }));
                        }
                    }
                    go.countDown();
                    for (Future<?> f : writers) {
                        f.get(120, TimeUnit.SECONDS);
                    }
                    pair.awaitSynced();
                    long differ = differingKeys(pair, plugin);
                    String conflictsBlue = insertConflicts(pair.blue, plugin);
                    String conflictsGreen = insertConflicts(pair.green, plugin);
                    boolean conflictsSame = conflictsBlue.equals(conflictsGreen);
                    long conflicts = pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.conflicts "
                            + "WHERE kind = 'insert_insert' AND key LIKE '" + plugin + ",%'");
                    report.add(plugin + ": " + differ + " keys differ, " + conflicts + " insert_insert conflicts on blue, "
                            + (conflictsSame ? "same" : "NOT the same") + " on green");
                    if (differ > 0 || !conflictsSame) {
                        badRounds++;
                        report.add("  e.g. " + sample(pair, plugin));
                    }
                }
            } finally {
                pool.shutdownNow();
            }
            System.out.println("InsertRaceIT: " + badRounds + " of " + ROUNDS + " rounds diverged; writer retries "
                    + retries.get() + "; pages resolved again after a race: " + raced.get() + "\n  " + String.join("\n  ", report));
            assertEquals(0, badRounds, "rounds that ended with different nodes or conflict logs:\n" + String.join("\n", report));
            assertEquals(Pair.fingerprint(pair.blue, "kv"), Pair.fingerprint(pair.green, "kv"));
            assertEquals((long) ROUNDS * KEYS, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM kv"));
            for (PgCluster c : List.of(pair.blue, pair.green)) {
                assertEquals("in sync", Pair.state(c, c == pair.blue ? "green" : "blue"));
            }
            assertTrue(pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.conflicts WHERE kind = 'insert_insert'") > 0,
                    "the load made insert/insert conflicts");
        } finally {
            applier.removeHandler(counter);
            applier.setLevel(null);
        }
    }

    /**
     * The window the re-check alone leaves: green deletes a row and re-inserts it in a transaction
     * that stays open; blue deletes the row later (by the clock). Green's apply of blue's delete
     * finds the row gone (its own delete, a delete/delete: nothing to run) and, without the key
     * probe, commits before the re-insert does; blue then keeps its later delete and green the
     * re-insert. Now green's apply waits for the open insert and resolves again: the later delete
     * wins on both nodes.
     */
    @Test
    void deleteOfARowReinsertedInAnOpenLocalTransaction() throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.addSync("conflict => 'latest'");
            pair.startAgents();
            pair.awaitSyncOnGreen();
            Pair.exec(pair.blue, "INSERT INTO kv VALUES ('p', 'k', 'blue', 'blue')");
            pair.awaitSynced();
            pair.stopAgents();
            Pair.exec(pair.green, "DELETE FROM kv WHERE pkey = 'k'");
            try (Connection reinsert = pair.green.connect(Pair.DB)) {
                reinsert.setAutoCommit(false);
                try (PreparedStatement st = reinsert.prepareStatement("INSERT INTO kv VALUES ('p', 'k', 'green again', 'green')")) {
                    st.executeUpdate();
                }
                Pair.exec(pair.blue, "DELETE FROM kv WHERE pkey = 'k'"); // later than green's re-insert
                long before = Pair.applied(pair.green, "blue");
                pair.startAgents();
                Waits.until(Duration.ofSeconds(60), "blue's delete applied on green, or its apply waiting for the re-insert",
                        () -> Pair.applied(pair.green, "blue") > before || pair.green.queryLong(Pair.DB,
                                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = 'app'") > 0);
                reinsert.commit();
            }
            pair.awaitSynced();
            assertEquals(Pair.fingerprint(pair.blue, "kv"), Pair.fingerprint(pair.green, "kv"));
            assertEquals(0, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM kv"), "blue's later delete wins");
            assertEquals("delete_insert remote_applied", pair.green.queryString(Pair.DB,
                    "SELECT kind || ' ' || resolution FROM mmsync.conflicts WHERE kind <> 'delete_delete'"));
        }
    }

    /**
     * One writer thread: the round's keys in batches of {@link #BATCH}, every
     * {@link #THREADS_PER_NODE}-th batch from {@code thread}, one upsert per key, a transaction per
     * batch; a batch that meets a deadlock (with the apply or the other thread) runs again.
     */
    private static void upsertAll(PgCluster node, String plugin, int thread, AtomicLong retries) throws SQLException {
        try (Connection c = node.connect(Pair.DB);
             PreparedStatement st = c.prepareStatement("INSERT INTO kv VALUES (?, ?, ?, ?) "
                     + "ON CONFLICT (pluginid, pkey) DO UPDATE SET v = EXCLUDED.v, node = EXCLUDED.node")) {
            c.setAutoCommit(false);
            for (int b = thread; b * BATCH < KEYS; b += THREADS_PER_NODE) {
                while (true) {
                    try {
                        for (int k = b * BATCH; k < Math.min(KEYS, (b + 1) * BATCH); k++) {
                            st.setString(1, plugin);
                            st.setString(2, String.format("k%05d", k));
                            st.setString(3, node.name() + " " + plugin + " " + k);
                            st.setString(4, node.name());
                            st.executeUpdate();
                        }
                        c.commit();
                        break;
                    } catch (SQLException e) {
                        c.rollback();
                        if (!"40P01".equals(e.getSQLState()) && !"40001".equals(e.getSQLState())) {
                            throw e;
                        }
                        retries.incrementAndGet();
                    }
                }
            }
        }
    }

    /** Keys of the round whose rows differ between the nodes (present on one only, or different). */
    private static long differingKeys(Pair pair, String plugin) {
        String sql = "SELECT string_agg(pkey || '=' || v || '/' || node, ',' ORDER BY pkey) FROM kv WHERE pluginid = '" + plugin + "'";
        String[] blue = pair.blue.queryString(Pair.DB, sql).split(",");
        String[] green = pair.green.queryString(Pair.DB, sql).split(",");
        java.util.Set<String> a = new java.util.HashSet<>(List.of(blue));
        java.util.Set<String> b = new java.util.HashSet<>(List.of(green));
        java.util.Set<String> onlyA = new java.util.HashSet<>(a);
        onlyA.removeAll(b);
        java.util.Set<String> onlyB = new java.util.HashSet<>(b);
        onlyB.removeAll(a);
        return Math.max(onlyA.size(), onlyB.size());
    }

    /** The first key of the round that differs: both rows and both nodes' conflict entries for it. */
    private static String sample(Pair pair, String plugin) {
        String rows = "SELECT string_agg(pkey || '=' || node, ',' ORDER BY pkey) FROM kv WHERE pluginid = '" + plugin + "'";
        String[] blue = pair.blue.queryString(Pair.DB, rows).split(",");
        String[] green = pair.green.queryString(Pair.DB, rows).split(",");
        for (int i = 0; i < Math.min(blue.length, green.length); i++) {
            if (!blue[i].equals(green[i])) {
                String key = blue[i].substring(0, blue[i].indexOf('='));
                String log = "SELECT coalesce(string_agg(concat_ws(' ', kind, resolution, origin, remote_at, local_at), '; '), 'none') "
                        + "FROM mmsync.conflicts WHERE key = '" + plugin + "," + key + "'";
                return key + ": blue has " + blue[i] + ", green has " + green[i] + "; blue logged " + pair.blue.queryString(Pair.DB, log)
                        + "; green logged " + pair.green.queryString(Pair.DB, log);
            }
        }
        return "conflict logs differ only";
    }

    /** The round's insert/insert conflicts as key=winning node, in key order. */
    private static String insertConflicts(PgCluster c, String plugin) {
        return c.queryString(Pair.DB, "SELECT coalesce(string_agg(key || '=' || (winning_row ->> 'node'), ',' ORDER BY key), '') "
                + "FROM mmsync.conflicts WHERE kind = 'insert_insert' AND key LIKE '" + plugin + ",%'");
    }
}
