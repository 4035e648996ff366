package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.ChangeId;
import io.mmsync.engine.model.KeySql;
import io.mmsync.engine.model.Op;
import io.mmsync.engine.model.Page;
import io.mmsync.engine.model.Position;
import io.mmsync.engine.model.TableRef;
import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Issue 15: {@link PageAtOnce} applies a few inserts into one table in one request (the check, the
 * insert, the re-check, the position, COMMIT); it declines, rolled back whole, when the peer's own
 * queue holds a change of the table or a set-aside change of the origin waits, and the table then
 * goes the plain way until a plain page finds it clear. On a real server with the extension, as
 * the peer of origin "green".
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class PageAtOnceIT {
    private static final TableRef T = new TableRef("public", "t");
    private static PgCluster pg;

    @BeforeAll
    static void start() {
        pg = PgCluster.start("pageatonce");
        pg.execute("postgres", "CREATE EXTENSION mmsync; CREATE TABLE t (id int PRIMARY KEY, v text)");
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
    void aFewInsertsCommitInOneRequestWithTheirPosition() throws Exception {
        PageAtOnce atOnce = new PageAtOnce();
        PeerTables tables = new PeerTables("blue");
        RunExecutor executor = new RunExecutor(tables);
        try (Connection apply = pg.connect("postgres")) {
            tables.use(apply);
            Page page = inserts(apply, 101, 102, 103);
            Run one = atOnce.fits(page, tables);
            assertNotNull(one, "three inserts into one table fit");
            assertNotNull(atOnce.commit(apply, executor, "app", "green", page, one, true), "committed");
        }
        assertEquals("101:green|102:green|103:green", pg.queryString("postgres",
                "SELECT string_agg(id || ':' || v, '|' ORDER BY id) FROM t WHERE id BETWEEN 101 AND 103"));
        assertEquals(103, pg.queryLong("postgres", "SELECT last_id FROM mmsync.progress WHERE origin = 'green'"));
        assertEquals(0, pg.queryLong("postgres", "SELECT count(*) FROM mmsync.changes c JOIN mmsync.sync_tables st "
                + "ON st.relid = c.relid WHERE st.table_name = 't' AND (c.new->>'id')::int BETWEEN 101 AND 103"),
                "applied as green's: not queued again");
    }

    /** {@code own}: the failure by mmsync._fail (SQLSTATE MM002), else as on a peer without it (a cast: 22P02). */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void aQueuedLocalChangeOfTheTableDeclinesUntilAPlainPageFindsItClear(boolean own) throws Exception {
        PageAtOnce atOnce = new PageAtOnce();
        PeerTables tables = new PeerTables("blue");
        RunExecutor executor = new RunExecutor(tables);
        pg.execute("postgres", "INSERT INTO t VALUES (200, 'local')"); // queued here, for green
        long before = position();
        try (Connection apply = pg.connect("postgres")) {
            tables.use(apply);
            Page page = inserts(apply, 201, 202);
            Run one = atOnce.fits(page, tables);
            assertNotNull(one);
            assertNull(atOnce.commit(apply, executor, "app", "green", page, one, own), "declined: rolled back");
            exec(apply, "SELECT 1"); // the connection is usable again
            assertNull(atOnce.fits(page, tables), "the table goes the plain way now");
            atOnce.learned(Set.of(T), Set.of(), false);
            assertNotNull(atOnce.fits(page, tables), "until a plain page found its queue clear");
        }
        assertEquals(0, pg.queryLong("postgres", "SELECT count(*) FROM t WHERE id IN (201, 202)"), "nothing applied");
        assertEquals(before, position(), "the position did not move");
        pg.execute("postgres", "DELETE FROM t WHERE id = 200; DELETE FROM mmsync.changes");
    }

    @Test
    void aSetAsideChangeOfTheOriginDeclines() throws Exception {
        PageAtOnce atOnce = new PageAtOnce();
        PeerTables tables = new PeerTables("blue");
        RunExecutor executor = new RunExecutor(tables);
        pg.execute("postgres", "DELETE FROM mmsync.changes; INSERT INTO mmsync.set_aside (sync_name, origin, origin_change, "
                + "schema_name, table_name, op, key, error) VALUES ('app', 'green', 7, 'public', 'other', 'I', '1', 'test')");
        long before = position();
        try (Connection apply = pg.connect("postgres")) {
            tables.use(apply);
            Page page = inserts(apply, 301);
            Run one = atOnce.fits(page, tables);
            assertNotNull(one);
            assertNull(atOnce.commit(apply, executor, "app", "green", page, one, true), "declined: the set-aside change waits");
        } finally {
            pg.execute("postgres", "DELETE FROM mmsync.set_aside");
        }
        assertEquals(0, pg.queryLong("postgres", "SELECT count(*) FROM t WHERE id = 301"));
        assertEquals(before, position());
    }

    @Test
    void theFailureOnPurposeHasOurSqlstateAndThePeerSaysItHasIt() throws Exception {
        try (Connection c = pg.connect("postgres")) {
            assertEquals(true, new OnPurpose().own(c), "the extension has mmsync._fail");
            SQLException e = assertThrows(SQLException.class, () -> exec(c, "SELECT mmsync._fail('MM001', 'mmsync: test ' || 1)"));
            assertEquals("MM001", e.getSQLState());
            assertEquals(true, OnPurpose.is(e, OnPurpose.RACED, "mmsync: test 1"));
            SQLException bad = assertThrows(SQLException.class, () -> exec(c, "SELECT mmsync._fail('22P02', 'not ours')"));
            assertEquals("22023", bad.getSQLState(), "only codes of class MM are raised as given");
            exec(c, "SELECT 1"); // usable again
        }
        assertEquals(1, pg.queryLong("postgres", "SELECT count(*) FROM pg_catalog.pg_proc WHERE proname = '_fail'"));
    }

    @Test
    void pagesOfOtherShapesDoNotFit() throws Exception {
        PageAtOnce atOnce = new PageAtOnce();
        PeerTables tables = new PeerTables("blue");
        try (Connection apply = pg.connect("postgres")) {
            tables.use(apply);
            Page insertsAndUpdate = inserts(apply, 401);
            List<Change> changes = new ArrayList<>(insertsAndUpdate.changes());
            Change ins = changes.get(0);
            changes.add(new Change(ChangeId.valueOf(402), T, Op.UPDATE, Instant.now(), ins.key(), ins.key(), ins.newRow(), ins.newRow()));
            assertNull(atOnce.fits(new Page(changes, insertsAndUpdate.next(), true), tables), "an update takes the plain way");
        }
        assertEquals(0, pg.queryLong("postgres", "SELECT count(*) FROM t WHERE id = 401"));
    }

    private static long position() {
        return pg.queryLong("postgres", "SELECT coalesce(max(last_id), 0) FROM mmsync.progress WHERE origin = 'green'");
    }

    /** A page of inserts of rows {@code ids} into t (change id = row id), keys as the queue computes them. */
    private static Page inserts(Connection c, int... ids) throws SQLException {
        List<Change> changes = new ArrayList<>();
        for (int id : ids) {
            String row = "{\"id\": " + id + ", \"v\": \"green\"}";
            changes.add(new Change(ChangeId.valueOf(id), T, Op.INSERT, Instant.now(), key(c, id), null, null, row));
        }
        return new Page(changes, Position.of("1:1:", "2:2:", ChangeId.valueOf(ids[ids.length - 1])), true);
    }

    private static String key(Connection c, int id) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT " + KeySql.of("t.pk_cols",
                "pg_catalog.jsonb_build_object('id', " + id + ")") + " FROM mmsync.sync_tables t WHERE t.table_name = 't'")) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static void exec(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }
}
