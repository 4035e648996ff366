package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.ChangeId;
import io.mmsync.engine.model.KeySql;
import io.mmsync.engine.model.Op;
import io.mmsync.engine.model.Page;
import io.mmsync.engine.model.PeerHorizon;
import io.mmsync.engine.model.Position;
import io.mmsync.engine.model.TableRef;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * Issue 15: {@link PageEnd#commit} sends the re-check, the position, the page's last insert run
 * and COMMIT in one request; a re-check that finds a local change newer than the decision's makes
 * the request fail, so that the server skips the rest and the transaction rolls back. Here, on a
 * real server with the extension, an apply-like transaction (origin "green") commits when nothing
 * local raced it, and is rolled back whole (its writes, the deferred insert, the position) when a
 * local update of its row committed after its snapshot.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class RacedCommitIT {
    private static final TableRef T = new TableRef("public", "t");
    private static PgCluster pg;

    @BeforeAll
    static void start() {
        pg = PgCluster.start("racedcommit");
        pg.execute("postgres", "CREATE EXTENSION mmsync; CREATE TABLE t (id int PRIMARY KEY, v text); "
                + "INSERT INTO t VALUES (1, 'before')");
        pg.execute("postgres", "SELECT mmsync.add_node('blue', '" + pg.conninfo("postgres") + "', true); "
                + "SELECT mmsync.add_node('green', 'host=127.0.0.1 port=1 dbname=none'); "
                + "SELECT mmsync.add_sync('app', '{blue,green}', initial => 'none')");
    }

    @AfterAll
    static void stop() {
        if (pg != null) {
            pg.close();
        }
    }

    @Test
    void aPageWithoutALateLocalChangeCommitsWithItsDeferredInsertAndPosition() throws Exception {
        try (Connection apply = pg.connect("postgres")) {
            Resolver.Outcome out = outcome(apply, 1);
            exec(apply, "UPDATE t SET v = 'from green' WHERE id = 1");
            RunExecutor.Deferred insert = new RunExecutor.Deferred(
                    "INSERT INTO t SELECT * FROM pg_catalog.json_populate_recordset(NULL::t, ?::json)", "[{\"id\": 2, \"v\": \"deferred\"}]");
            PeerHorizon h = PageEnd.commit(apply, out, "app", "green", page(2), java.util.List.of(insert), true);
            assertNotNull(h, "committed");
            assertEquals("from green|deferred", pg.queryString("postgres", "SELECT string_agg(v, '|' ORDER BY id) FROM t WHERE id IN (1, 2)"));
            assertEquals(2, pg.queryLong("postgres", "SELECT last_id FROM mmsync.progress WHERE origin = 'green'"));
        }
    }

    @Test
    void aLateLocalUpdateOfThePagesRowRollsTheRequestBack() throws Exception {
        long before = pg.queryLong("postgres", "SELECT coalesce(max(last_id), 0) FROM mmsync.progress WHERE origin = 'green'");
        try (Connection apply = pg.connect("postgres"); Connection local = pg.connect("postgres")) {
            Resolver.Outcome out = outcome(apply, 1);
            exec(apply, "INSERT INTO t VALUES (3, 'from green')");
            exec(local, "UPDATE t SET v = 'local, late' WHERE id = 1"); // autocommit: queued, after the snapshot
            RunExecutor.Deferred insert = new RunExecutor.Deferred(
                    "INSERT INTO t SELECT * FROM pg_catalog.json_populate_recordset(NULL::t, ?::json)", "[{\"id\": 4, \"v\": \"deferred\"}]");
            assertNull(PageEnd.commit(apply, out, "app", "green", page(before + 10), java.util.List.of(insert), true), "raced: rolled back");
            exec(apply, "SELECT 1"); // the connection is usable again
        }
        assertEquals(0, pg.queryLong("postgres", "SELECT count(*) FROM t WHERE id IN (3, 4)"), "the apply's writes are gone");
        assertEquals("local, late", pg.queryString("postgres", "SELECT v FROM t WHERE id = 1"));
        assertEquals(before, pg.queryLong("postgres", "SELECT coalesce(max(last_id), 0) FROM mmsync.progress WHERE origin = 'green'"),
                "the position did not move");
    }

    /** An apply-like transaction begun, as PageBegin leaves it: origin set, the lookup's snapshot taken; one candidate, no competitor. */
    private static Resolver.Outcome outcome(Connection apply, int id) throws SQLException {
        apply.setAutoCommit(false);
        Resolver.Outcome out = new Resolver.Outcome();
        try (Statement st = apply.createStatement();
             ResultSet rs = st.executeQuery("SELECT pg_catalog.pg_current_snapshot()::text, pg_catalog.set_config('mmsync.origin', 'green', true)")) {
            rs.next();
            out.snapshot = rs.getString(1);
        }
        out.recheck = new LinkedHashMap<>();
        out.recheck.put(0, update(id, key(apply, id)));
        return out;
    }

    /** The key of row {@code id} as the queue's lookups compute it. */
    private static String key(Connection c, int id) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT " + KeySql.of("t.pk_cols",
                "pg_catalog.jsonb_build_object('id', " + id + ")") + " FROM mmsync.sync_tables t WHERE t.table_name = 't'")) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static Change update(int id, String key) {
        String row = "{\"id\": " + id + ", \"v\": \"from green\"}";
        return new Change(ChangeId.valueOf(1), T, Op.UPDATE, Instant.now(), key, key, row, row);
    }

    private static Page page(long lastId) {
        return new Page(List.of(update(1, "1")), Position.of("1:1:", "2:2:", ChangeId.valueOf(lastId)), true);
    }

    private static void exec(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }
}
