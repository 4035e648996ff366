package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The two-way path end to end on a real blue/green pair with both agents running. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class TwoWaySyncIT {
    static final String SCHEMA = String.join("\n",
            "CREATE TABLE posts (id bigint PRIMARY KEY, author text NOT NULL, body text, edited timestamptz);",
            "CREATE TABLE members (channel int, member int, role text, PRIMARY KEY (channel, member));",
            "CREATE TABLE typed (id int PRIMARY KEY, v varchar(64), t text, b bigint, i integer, flag boolean,",
            "  jb jsonb, js json, tags text[], nums int[], bin bytea, ts timestamptz, amount numeric, u uuid, f float8);",
            "CREATE SCHEMA \"Audit Trail\";",
            "CREATE TABLE \"Audit Trail\".\"Login Events\" (\"User Id\" int, \"At\" timestamptz, \"Note\" text,",
            "  PRIMARY KEY (\"User Id\", \"At\"));",
            "CREATE TABLE bulk (id int PRIMARY KEY, v text);",
            "CREATE TABLE load_blue (id bigint PRIMARY KEY, n int NOT NULL, v text);",
            "CREATE TABLE load_green (id bigint PRIMARY KEY, n int NOT NULL, v text);",
            "CREATE TABLE slow_tx (id int PRIMARY KEY, v text);",
            "CREATE TABLE db_migrations (version int PRIMARY KEY);",
            "CREATE TABLE no_key (x int);");
    static final List<String> TABLES = List.of("posts", "members", "typed", "\"Audit Trail\".\"Login Events\"", "bulk",
            "load_blue", "load_green", "slow_tx");

    Pair pair;

    @BeforeAll
    void start() {
        pair = Pair.start(SCHEMA);
        pair.addSync("exclude => 'db_migrations'");
        pair.startAgents();
        pair.awaitSyncOnGreen();
    }

    @AfterAll
    void stop() {
        if (pair != null) {
            pair.close();
        }
    }

    @Test
    void syncDefinitionAndTriggersReachGreenWithoutASecondStep() {
        assertEquals("posts,members,typed,Login Events,bulk,load_blue,load_green,slow_tx".split(",").length,
                pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.sync_tables"));
        assertEquals(0, pair.green.queryLong(Pair.DB,
                "SELECT count(*) FROM mmsync.sync_tables WHERE table_name IN ('db_migrations', 'no_key')"));
        assertEquals(8, pair.green.queryLong(Pair.DB,
                "SELECT count(*) FROM pg_trigger WHERE tgname = 'mmsync_capture'"));
    }

    @Test
    void insertUpdateDeleteFlowBothWays() throws Exception {
        Pair.exec(pair.blue, "INSERT INTO posts VALUES (1, 'blue', 'hello from blue', now())");
        Pair.exec(pair.green, "INSERT INTO posts VALUES (2, 'green', 'hello from green', now())");
        pair.awaitSynced();
        assertEquals("hello from blue", pair.green.queryString(Pair.DB, "SELECT body FROM posts WHERE id = 1"));
        assertEquals("hello from green", pair.blue.queryString(Pair.DB, "SELECT body FROM posts WHERE id = 2"));

        Pair.exec(pair.green, "UPDATE posts SET body = 'edited on green' WHERE id = 1");
        Pair.exec(pair.blue, "UPDATE posts SET body = 'edited on blue' WHERE id = 2");
        pair.awaitSynced();
        assertEquals("edited on green", pair.blue.queryString(Pair.DB, "SELECT body FROM posts WHERE id = 1"));
        assertEquals("edited on blue", pair.green.queryString(Pair.DB, "SELECT body FROM posts WHERE id = 2"));

        Pair.exec(pair.blue, "DELETE FROM posts WHERE id = 2");
        Pair.exec(pair.green, "DELETE FROM posts WHERE id = 1");
        pair.awaitSynced();
        assertEquals(0, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM posts WHERE id IN (1, 2)"));
        assertEquals(0, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM posts WHERE id IN (1, 2)"));
        assertSame("posts");
    }

    @Test
    void compositeKeysAndPrimaryKeyUpdates() throws Exception {
        Pair.exec(pair.blue, "INSERT INTO members SELECT c, m, 'member' FROM generate_series(1, 5) c, generate_series(1, 20) m");
        pair.awaitSynced();
        Pair.exec(pair.green, "UPDATE members SET role = 'admin' WHERE member = 1");
        pair.awaitSynced();
        Pair.exec(pair.blue, "UPDATE members SET member = member + 100 WHERE channel = 3");
        Pair.exec(pair.blue, "UPDATE members SET channel = 9, member = 9 WHERE channel = 4 AND member = 2");
        Pair.exec(pair.green, "DELETE FROM members WHERE channel = 5 AND member > 10");
        pair.awaitSynced();
        assertEquals(20, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM members WHERE channel = 3 AND member > 100"));
        assertEquals(1, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM members WHERE channel = 9 AND member = 9"));
        assertEquals(5, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM members WHERE role = 'admin'"));
        assertEquals("admin", pair.green.queryString(Pair.DB, "SELECT role FROM members WHERE channel = 3 AND member = 101"));
        assertEquals(90, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM members"));
        assertSame("members");
    }

    @Test
    void everyMattermostColumnTypeRoundTripsExactly() throws Exception {
        Pair.exec(pair.blue, "INSERT INTO typed VALUES "
                + "(1, 'varchar ü', 'Unicode: 日本語 emoji 🎉 quotes '' \" \\ tab\t nl\n end', 9223372036854775807, -2147483648, true,"
                + " '{\"b\": [1, 2.50, null], \"a\": {\"x\": \"ü\"}}', '{\"z\":1,  \"a\" : [ 1,2 ] , \"z\":2}',"
                + " ARRAY['a', NULL, 'c,d', '\"q\"'], '{{1,2},{3,4}}', '\\x00ff10', '2024-02-29 23:59:59.123456+05:30',"
                + " 12345678901234567890.000000000123, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 0.1),"
                + "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),"
                + "(3, '', '', 0, 0, false, 'null', 'null', '{}', '{}', '', 'infinity', 'NaN', '00000000-0000-0000-0000-000000000000', 'NaN')");
        // 10 MB values, text and bytea, written on green
        Pair.exec(pair.green, "INSERT INTO typed (id, t, bin) VALUES (4, repeat('x', 10 * 1024 * 1024),"
                + " decode(repeat('ab', 10 * 1024 * 1024), 'hex'))");
        pair.awaitSynced();
        assertSame("typed");
        assertEquals("{\"z\":1,  \"a\" : [ 1,2 ] , \"z\":2}", pair.green.queryString(Pair.DB, "SELECT js::text FROM typed WHERE id = 1"));
        assertEquals(10 * 1024 * 1024, pair.blue.queryLong(Pair.DB, "SELECT octet_length(bin) FROM typed WHERE id = 4"));
        Pair.exec(pair.green, "UPDATE typed SET js = '[ 3 ,4 ]', amount = 1.50, tags = '{x}' WHERE id = 1");
        pair.awaitSynced();
        assertSame("typed");
        assertEquals("1.50", pair.blue.queryString(Pair.DB, "SELECT amount::text FROM typed WHERE id = 1"));
        // json values that are not objects or arrays (a bare string, a number), inserted and updated
        Pair.exec(pair.blue, "INSERT INTO typed (id, js, jb) VALUES (5, '\"bare \\\"quoted\\\" string\"', '\"x\"'), (6, '42', '7')");
        pair.awaitSynced();
        assertSame("typed");
        assertEquals("\"bare \\\"quoted\\\" string\"", pair.green.queryString(Pair.DB, "SELECT js::text FROM typed WHERE id = 5"));
        assertEquals("42", pair.green.queryString(Pair.DB, "SELECT js::text FROM typed WHERE id = 6"));
        Pair.exec(pair.green, "UPDATE typed SET js = '\"changed\"' WHERE id = 6");
        pair.awaitSynced();
        assertSame("typed");
        assertEquals("\"changed\"", pair.blue.queryString(Pair.DB, "SELECT js::text FROM typed WHERE id = 6"));
    }

    @Test
    void tenThousandRowTransactionArrivesWhole() throws Exception {
        Pair.exec(pair.blue, "INSERT INTO bulk SELECT g, md5(g::text) FROM generate_series(1, 10000) g");
        pair.awaitSynced();
        assertEquals(10000, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM bulk"));
        Pair.exec(pair.green, "UPDATE bulk SET v = v || '!' WHERE id % 2 = 0");
        pair.awaitSynced();
        assertEquals(5000, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM bulk WHERE v LIKE '%!'"));
        assertSame("bulk");
    }

    @Test
    void quotedNamesSyncAndInjectionFailsCleanly() throws Exception {
        Pair.exec(pair.green, "INSERT INTO \"Audit Trail\".\"Login Events\" VALUES (7, '2024-01-01 10:00+00', 'it''s me')");
        pair.awaitSynced();
        assertEquals("it's me", pair.blue.queryString(Pair.DB, "SELECT \"Note\" FROM \"Audit Trail\".\"Login Events\""));
        assertSame("\"Audit Trail\".\"Login Events\"");

        String err = Errors.of(() -> pair.blue.execute(Pair.DB,
                "SELECT mmsync.add_sync('evil', '{blue,green}', tables => 'posts\"; DROP TABLE posts; --')"));
        assertTrue(err.contains("is not a valid table name") || err.contains("does not exist"), err);
        assertEquals(1, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM pg_tables WHERE tablename = 'posts'"));
    }

    @Test
    void concurrentWritersOnBothNodesConverge() throws Exception {
        AtomicBoolean stop = new AtomicBoolean();
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Integer>> writers = List.of(
                    pool.submit(() -> write(pair.blue, "load_blue", 0, stop)),
                    pool.submit(() -> write(pair.blue, "load_blue", 1, stop)),
                    pool.submit(() -> write(pair.green, "load_green", 0, stop)),
                    pool.submit(() -> write(pair.green, "load_green", 1, stop)));
            long end = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            Waits.until(Duration.ofSeconds(40), "20 s of writes", () -> System.nanoTime() > end);
            stop.set(true);
            int total = 0;
            for (Future<Integer> f : writers) {
                total += f.get(60, TimeUnit.SECONDS);
            }
            assertTrue(total > 100, "writers made progress: " + total);
        } finally {
            stop.set(true);
            pool.shutdownNow();
        }
        pair.awaitSynced();
        assertSame("load_blue");
        assertSame("load_green");
        assertTrue(pair.green.queryLong(Pair.DB, "SELECT count(*) FROM load_blue") > 0);
    }

    /** A writer: inserts, updates and deletes its own rows (parity p of the id) in small transactions. */
    private static int write(PgCluster node, String table, int parity, AtomicBoolean stop) throws Exception {
        int txs = 0;
        try (Connection c = node.connect(Pair.DB)) {
            c.setAutoCommit(false);
            try (PreparedStatement ins = c.prepareStatement("INSERT INTO " + table + " VALUES (?, 0, 'v')");
                 PreparedStatement upd = c.prepareStatement("UPDATE " + table + " SET n = n + 1, v = md5(random()::text) WHERE id = ?");
                 PreparedStatement del = c.prepareStatement("DELETE FROM " + table + " WHERE id = ?")) {
                for (long id = parity; !stop.get(); id += 2) {
                    ins.setLong(1, id);
                    ins.executeUpdate();
                    if (id >= 20) {
                        upd.setLong(1, id - 10);
                        upd.executeUpdate();
                    }
                    if (id % 7 == 0 && id >= 40) {
                        del.setLong(1, id - 30);
                        del.executeUpdate();
                    }
                    c.commit();
                    txs++;
                }
            }
        }
        return txs;
    }

    @Test
    void transactionOpenAcrossBatchesThatCommitsLastIsNotSkipped() throws Exception {
        try (Connection slow = pair.blue.connect(Pair.DB); Statement st = slow.createStatement()) {
            slow.setAutoCommit(false);
            st.execute("INSERT INTO slow_tx VALUES (1, 'opened first, committed last')");
            long before = pair.blue.queryLong(Pair.DB, "SELECT coalesce(max(batches), 0) FROM mmsync.progress");
            for (int i = 0; i < 5; i++) {
                Pair.exec(pair.blue, "INSERT INTO slow_tx SELECT g, 'later' FROM generate_series(" + (100 + i * 1500)
                        + ", " + (100 + i * 1500 + 1499) + ") g");
            }
            Waits.until(Duration.ofSeconds(60), "later transactions applied on green",
                    () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM slow_tx") == 7500);
            assertTrue(pair.green.queryLong(Pair.DB, "SELECT max(batches) FROM mmsync.progress") > before);
            assertEquals(0, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM slow_tx WHERE id = 1"));
            // the open transaction's change is the oldest in blue's queue: purging goes past it
            Waits.until(Duration.ofSeconds(60), "later changes purged on blue while the first transaction is open",
                    () -> pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.changes WHERE relid = 'slow_tx'::regclass") == 0);
            slow.commit();
        }
        pair.awaitSynced();
        assertEquals("opened first, committed last", pair.green.queryString(Pair.DB, "SELECT v FROM slow_tx WHERE id = 1"));
        assertSame("slow_tx");
    }

    @Test
    void statusIsReadableAndQueueIsPurged() throws Exception {
        Pair.exec(pair.blue, "INSERT INTO posts VALUES (500, 'blue', 'status check', now())");
        pair.awaitSynced();
        Waits.until(Duration.ofSeconds(30), "queue purged on blue",
                () -> pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.changes") == 0);
        assertEquals("app|green|in sync|0", pair.blue.queryString(Pair.DB,
                "SELECT sync || '|' || peer || '|' || state || '|' || backlog FROM mmsync.status()"));
        assertTrue(pair.green.queryLong(Pair.DB, "SELECT rows_applied FROM mmsync.status()") > 0);
    }

    private void assertSame(String table) {
        assertEquals(Pair.fingerprint(pair.blue, table), Pair.fingerprint(pair.green, table), "table " + table + " differs");
    }
}
