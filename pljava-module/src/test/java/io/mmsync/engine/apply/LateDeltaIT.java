package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.ChangeId;
import io.mmsync.engine.model.ConflictStrategy;
import io.mmsync.engine.model.KeySql;
import io.mmsync.engine.model.Op;
import io.mmsync.engine.model.Page;
import io.mmsync.engine.model.Position;
import io.mmsync.engine.model.SyncState;
import io.mmsync.engine.model.TableRef;
import io.mmsync.engine.time.Clock;
import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 15, two-way TPC-B: an update of a table with delta columns does not lock its row before
 * the competitor lookup; the row is locked by the update itself, sent with the commit request
 * ({@link LateDelta}). Here, on a real server with the extension (this node "blue", origin "green",
 * strategy latest, b.bal a delta column), a local transaction holds an update of the row a page
 * updates, open while the page applies, and commits once the apply waits for it. A local update of
 * the delta column alone does not make the page resolve again, whichever way the decision went;
 * one that changes another column does, and so does one of delta columns alone where the page's
 * update would set the other columns to different values: the later local change keeps its other
 * columns there, and every delta is added in each case. A row missing here makes the page apply
 * the plain way, which puts the row back.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class LateDeltaIT {
    private static final AtomicLong IDS = new AtomicLong(100);
    private static final TableRef B = new TableRef("public", "b");
    private static PgCluster pg;
    private static SyncState sync;
    private static final List<String> FINE = new ArrayList<>();
    private static final Handler HANDLER = new Handler() {
        @Override
        public void publish(LogRecord r) {
            synchronized (FINE) {
                FINE.add(r.getMessage());
            }
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };

    @BeforeAll
    static void start() throws SQLException {
        pg = PgCluster.start("latedelta");
        pg.execute("postgres", "CREATE EXTENSION mmsync; CREATE TABLE b (id int PRIMARY KEY, bal int NOT NULL, v text); "
                + "INSERT INTO b SELECT g, 10, 'x' FROM generate_series(1, 9) g");
        pg.execute("postgres", "SELECT mmsync.add_node('blue', '" + pg.conninfo("postgres") + "', true); "
                + "SELECT mmsync.add_node('green', 'host=127.0.0.1 port=1 dbname=none'); "
                + "SELECT mmsync.add_sync('app', '{blue,green}', initial => 'none'); "
                + "SELECT mmsync.set_column_policy('b', 'bal', 'delta')");
        sync = new SyncState(null, (int) pg.queryLong("postgres", "SELECT id FROM mmsync.syncs WHERE name = 'app'"), false, false,
                pg.queryLong("postgres", "SELECT version FROM mmsync.syncs WHERE name = 'app'"), "app", ConflictStrategy.LATEST, null);
        Logger log = Logger.getLogger(Applier.class.getName());
        log.setLevel(Level.FINE);
        log.addHandler(HANDLER);
    }

    @AfterAll
    static void stop() {
        Logger.getLogger(Applier.class.getName()).removeHandler(HANDLER);
        if (pg != null) {
            pg.close();
        }
    }

    @Test
    void aLateLocalDeltaUpdateLeavesALosingPageUpdateDecided() throws Exception {
        // the local update before the page is newer than the page's: its delta alone is added
        pg.execute("postgres", "UPDATE b SET bal = bal + 2 WHERE id = 1");
        long merged = merged();
        Race r = race(1, "x", Instant.now().minusSeconds(60), "UPDATE b SET bal = bal + 100 WHERE id = 1");
        assertTrue(r.waitedIn.contains("UPDATE \"public\".\"b\""), "the apply waited in its update sent with the commit: " + r.waitedIn);
        assertEquals(0, r.resolvedAgain, "decided once");
        assertEquals("117|x", row(1), "10 + 2 + 100 local, + 5 from green");
        assertEquals(merged + 1, merged(), "the merged delta against the earlier local update counted");
    }

    @Test
    void aLateLocalDeltaUpdateLeavesAWinningPageUpdateDecidedWhenTheOtherColumnsAgree() throws Exception {
        pg.execute("postgres", "UPDATE b SET bal = bal + 2 WHERE id = 2");
        Race r = race(2, "x", Instant.now().plusSeconds(60), "UPDATE b SET bal = bal + 100 WHERE id = 2");
        assertEquals(0, r.resolvedAgain, "decided once");
        assertEquals("117|x", row(2), "10 + 2 + 100 local, + 5 from green");
    }

    @Test
    void aLateLocalUpdateOfAnotherColumnMakesThePageResolveAgain() throws Exception {
        pg.execute("postgres", "UPDATE b SET bal = bal + 2 WHERE id = 3");
        long logged = pg.queryLong("postgres", "SELECT count(*) FROM mmsync.conflicts WHERE table_name = 'b' AND resolution = 'merged'");
        Race r = race(3, "x", Instant.now().minusSeconds(60), "UPDATE b SET bal = bal + 100, v = 'local' WHERE id = 3");
        assertEquals(1, r.resolvedAgain, "resolved again, with the local change as competitor");
        assertEquals("117|local", row(3), "the later local change keeps its column; every delta added");
        assertEquals(logged + 1, pg.queryLong("postgres",
                "SELECT count(*) FROM mmsync.conflicts WHERE table_name = 'b' AND resolution = 'merged'"),
                "the page's update lost its other columns to the late local change: logged");
    }

    @Test
    void aPageUpdateThatSetsAnotherColumnLocksItsRowFirstAndLosesToTheNewerLocalUpdate() throws Exception {
        // the page's update (a minute ago) is newer than the local update before it, which is backdated
        // two minutes: it would set v; the local update racing it, newer still, keeps v as it is. An
        // update that changes more than delta columns is not late (LateDelta.unlocked): its row is
        // locked first, so the apply waits for the local update and decides once, against it
        pg.execute("postgres", "UPDATE b SET bal = bal + 2 WHERE id = 4");
        for (int i = 0; i < 3; i++) {
            pg.execute("postgres", "UPDATE mmsync.changes_" + i + " SET at = at - interval '120 s' WHERE relid = 'b'::regclass");
        }
        Race r = race(4, "from green", Instant.now().minusSeconds(60), "UPDATE b SET bal = bal + 100 WHERE id = 4");
        assertTrue(r.waitedIn.contains("FOR UPDATE"), "the apply waited in its row locks, taken first: " + r.waitedIn);
        assertEquals(0, r.resolvedAgain, "decided once, with the local update as its competitor");
        assertEquals("117|x", row(4), "v as the later local update left it (as the other node keeps it); every delta added");
    }

    @Test
    void aRowMissingHereIsPutBackByThePlainApply() throws Exception {
        // a local update (the competitor: the row is hot, its update goes with the commit), then the row
        // deleted without a trace in the queue (as an apply of a peer's delete leaves it)
        pg.execute("postgres", "UPDATE b SET bal = bal + 2 WHERE id = 5");
        pg.execute("postgres", "BEGIN; SELECT set_config('mmsync.origin', 'green', true); DELETE FROM b WHERE id = 5; COMMIT");
        Applier applier = new Applier("blue", Clock.SYSTEM);
        int before = FINE.size();
        try (Connection apply = pg.connect("postgres")) {
            applier.apply(apply, sync, "green", page(update(apply, 5, "x", Instant.now())));
        }
        assertEquals("15|x", row(5), "the row returned with the page's image");
        assertTrue(messagesSince(before).stream().anyMatch(m -> m.contains("rows of a delta update are missing here")),
                "applied again the plain way: " + messagesSince(before));
    }

    /** What a race did: the statement the apply waited in, and how often the page was resolved again. */
    private record Race(String waitedIn, int resolvedAgain) {
    }

    /**
     * A fresh applier applies a page updating row 9 (its first look at the queue), then one updating
     * row {@code id} (bal 10 -> 15, v -> {@code v}, made at {@code at} at green) while a local
     * transaction holds {@code localSql}; commits the local one once the apply waits for it.
     */
    private static Race race(int id, String v, Instant at, String localSql) throws Exception {
        Applier applier = new Applier("blue", Clock.SYSTEM);
        try (Connection apply = pg.connect("postgres"); Connection local = pg.connect("postgres")) {
            applier.apply(apply, sync, "green", page(update(apply, 9, "x", Instant.now().minusSeconds(3600))));
            int before = FINE.size();
            int applyPid = pid(apply);
            Change racing = update(apply, id, v, at);
            local.setAutoCommit(false);
            exec(local, localSql);
            CompletableFuture<Applier.Result> done = CompletableFuture.supplyAsync(() -> {
                try {
                    return applier.apply(apply, sync, "green", page(racing));
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            });
            String waitedIn = null;
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (waitedIn == null && System.nanoTime() < until) {
                waitedIn = pg.queryString("postgres", "SELECT coalesce((SELECT query FROM pg_stat_activity WHERE pid = "
                        + applyPid + " AND wait_event_type = 'Lock'), '')");
                if (waitedIn != null && waitedIn.isEmpty()) {
                    waitedIn = null;
                }
                if (waitedIn == null) {
                    Thread.onSpinWait();
                }
            }
            local.commit();
            done.get(60, TimeUnit.SECONDS);
            int again = (int) messagesSince(before).stream().filter(m -> m.contains("resolving again")).count();
            return new Race(String.valueOf(waitedIn), again);
        }
    }

    private static List<String> messagesSince(int from) {
        synchronized (FINE) {
            return new ArrayList<>(FINE.subList(from, FINE.size()));
        }
    }

    private static String row(int id) {
        return pg.queryString("postgres", "SELECT bal || '|' || v FROM b WHERE id = " + id);
    }

    private static long merged() {
        return pg.queryLong("postgres", "SELECT coalesce(sum(merged), 0) FROM mmsync.conflict_counts WHERE origin = 'green'");
    }

    private static Page page(Change c) {
        long id = IDS.incrementAndGet();
        Change numbered = new Change(ChangeId.valueOf(id), c.table(), c.op(), c.at(), c.key(), c.newKey(), c.oldRow(), c.newRow());
        return new Page(List.of(numbered), Position.of("1:1:", "2:2:", ChangeId.valueOf(id)), true);
    }

    /** An update of row {@code id} made at green: bal 10 -> 15, v 'x' -> {@code v}. */
    private static Change update(Connection c, int id, String v, Instant at) throws SQLException {
        String key = key(c, id);
        return new Change(ChangeId.valueOf(1), B, Op.UPDATE, at, key, key, "{\"id\": " + id + ", \"bal\": 10, \"v\": \"x\"}",
                "{\"id\": " + id + ", \"bal\": 15, \"v\": \"" + v + "\"}");
    }

    /** The key of row {@code id} as the queue's lookups compute it. */
    private static String key(Connection c, int id) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT " + KeySql.of("t.pk_cols",
                "pg_catalog.jsonb_build_object('id', " + id + ")") + " FROM mmsync.sync_tables t WHERE t.table_name = 'b'")) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static int pid(Connection c) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT pg_catalog.pg_backend_pid()")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    private static void exec(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }
}
