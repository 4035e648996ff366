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
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 14: a page locks the rows it updates before its competitor lookup only for the tables
 * whose changes the peer's queue held at the last page's look ({@link TableShape#queuedHere}).
 * Here, on a real server with the extension (this node "blue", origin "green", strategy latest),
 * a local transaction holds an update of the row a page updates, open while the page applies: on
 * a table with nothing queued the apply waits in its UPDATE (no lock taken first), the re-check
 * finds the local change once it commits, and the page is resolved again; on a table with queued
 * local changes it waits in the lock statement and decides once. Either way the later local change
 * is kept and the conflict logged.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class ApplyLocksIT {
    private static final AtomicLong IDS = new AtomicLong(100);
    private static PgCluster pg;
    private static SyncState sync;

    @BeforeAll
    static void start() throws SQLException {
        pg = PgCluster.start("applylocks");
        pg.execute("postgres", "CREATE EXTENSION mmsync; CREATE TABLE t (id int PRIMARY KEY, v text); "
                + "CREATE TABLE u (id int PRIMARY KEY, v text); "
                + "INSERT INTO t SELECT g, 'before' FROM generate_series(1, 9) g; INSERT INTO u SELECT g, 'before' FROM generate_series(1, 9) g");
        pg.execute("postgres", "SELECT mmsync.add_node('blue', '" + pg.conninfo("postgres") + "', true); "
                + "SELECT mmsync.add_node('green', 'host=127.0.0.1 port=1 dbname=none'); "
                + "SELECT mmsync.add_sync('app', '{blue,green}', initial => 'none')");
        sync = new SyncState(null, (int) pg.queryLong("postgres", "SELECT id FROM mmsync.syncs WHERE name = 'app'"), false, false,
                pg.queryLong("postgres", "SELECT version FROM mmsync.syncs WHERE name = 'app'"), "app", ConflictStrategy.LATEST, null);
    }

    @AfterAll
    static void stop() {
        if (pg != null) {
            pg.close();
        }
    }

    @Test
    void aTableWithNothingQueuedIsNotLockedFirstAndARacingLocalUpdateIsCaughtByTheRecheck() throws Exception {
        assertEquals(0, pg.queryLong("postgres", "SELECT count(*) FROM mmsync.changes WHERE relid = 't'::regclass"));
        String waitedIn = raceOnRow("t", 1);
        assertTrue(waitedIn.startsWith("UPDATE"), "the apply waited in its update, no lock first: " + waitedIn);
        assertEquals("local", pg.queryString("postgres", "SELECT v FROM t WHERE id = 1"), "the later local change is kept");
        assertEquals("local_kept", pg.queryString("postgres",
                "SELECT string_agg(resolution, ',') FROM mmsync.conflicts WHERE table_name = 't'"));
        assertEquals("from green", pg.queryString("postgres", "SELECT v FROM t WHERE id = 3"), "the first page applied");
    }

    @Test
    void aTableWithQueuedLocalChangesIsLockedFirst() throws Exception {
        pg.execute("postgres", "UPDATE u SET v = 'queued' WHERE id = 9");
        String waitedIn = raceOnRow("u", 1);
        assertTrue(waitedIn.startsWith("SELECT 1 FROM \"public\".\"u\""), "the apply waited in the lock statement: " + waitedIn);
        assertEquals("local", pg.queryString("postgres", "SELECT v FROM u WHERE id = 1"), "the later local change is kept");
        assertEquals("local_kept", pg.queryString("postgres",
                "SELECT string_agg(resolution, ',') FROM mmsync.conflicts WHERE table_name = 'u'"));
    }

    /**
     * A fresh applier applies a page updating row 3 of {@code table} (its first look at the queue),
     * then one updating row {@code id}, made a minute ago at green, while a local transaction holds
     * an update of that row; commits the local one once the apply waits for it. Returns the
     * statement the apply waited in.
     */
    private static String raceOnRow(String table, int id) throws Exception {
        TableRef ref = new TableRef("public", table);
        Applier applier = new Applier("blue", Clock.SYSTEM);
        try (Connection apply = pg.connect("postgres"); Connection local = pg.connect("postgres")) {
            applier.apply(apply, sync, "green", page(update(apply, ref, 3, Instant.now().minusSeconds(60))));
            int applyPid = pid(apply);
            Change racing = update(apply, ref, id, Instant.now().minusSeconds(60));
            local.setAutoCommit(false);
            exec(local, "UPDATE " + table + " SET v = 'local' WHERE id = " + id);
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
                // a row always: queryString fails on none (the apply may not be waiting yet)
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
            return String.valueOf(waitedIn).strip(); // a statement after another in one request begins with a space
        }
    }

    private static Page page(Change c) {
        long id = IDS.incrementAndGet();
        Change numbered = new Change(ChangeId.valueOf(id), c.table(), c.op(), c.at(), c.key(), c.newKey(), c.oldRow(), c.newRow());
        return new Page(List.of(numbered), Position.of("1:1:", "2:2:", ChangeId.valueOf(id)), true);
    }

    private static Change update(Connection c, TableRef table, int id, Instant at) throws SQLException {
        String key = key(c, table.name(), id);
        String row = "{\"id\": " + id + ", \"v\": \"from green\"}";
        return new Change(ChangeId.valueOf(1), table, Op.UPDATE, at, key, key, row, row);
    }

    /** The key of row {@code id} as the queue's lookups compute it. */
    private static String key(Connection c, String table, int id) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT " + KeySql.of("t.pk_cols",
                "pg_catalog.jsonb_build_object('id', " + id + ")") + " FROM mmsync.sync_tables t WHERE t.table_name = '" + table + "'")) {
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
