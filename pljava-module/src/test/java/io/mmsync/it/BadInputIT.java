package io.mmsync.it;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Wrong calls get an error that names the object, and change nothing. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class BadInputIT {
    Pair pair;

    @BeforeAll
    void start() {
        pair = Pair.start("CREATE TABLE posts (id int PRIMARY KEY, body text); CREATE TABLE heap (x int);"
                + "CREATE SCHEMA a; CREATE SCHEMA b; CREATE TABLE a.dup (id int PRIMARY KEY); CREATE TABLE b.dup (id int PRIMARY KEY);");
    }

    @AfterAll
    void stop() {
        pair.close();
    }

    @Test
    void unknownTable() {
        String err = addSync("tables => 'posts, public.missing'");
        assertTrue(err.contains("table public.missing does not exist"), err);
        assertNoSync();
    }

    @Test
    void tableWithoutPrimaryKey() {
        String err = addSync("tables => 'heap'");
        assertTrue(err.contains("table public.heap has no primary key"), err);
        assertNoSync();
    }

    @Test
    void ambiguousUnqualifiedName() {
        String err = addSync("tables => 'dup'");
        assertTrue(err.contains("table name dup is ambiguous"), err);
        assertNoSync();
    }

    @Test
    void malformedConninfoAndPasswordsAreRefused() {
        String err = Errors.of(() -> pair.blue.execute(Pair.DB, "SELECT mmsync.add_node('red', 'host=10.0.0.1 port')"));
        assertTrue(err.contains("malformed conninfo for node \"red\""), err);
        err = Errors.of(() -> pair.blue.execute(Pair.DB, "SELECT mmsync.add_node('red', 'host=h password=secret')"));
        assertTrue(err.contains("contains a password") && !err.contains("secret"), err);
        err = Errors.of(() -> pair.blue.execute(Pair.DB, "SELECT mmsync.add_node('red', 'postgresql://u:secret@h/db')"));
        assertTrue(err.contains("contains a password"), err);
        err = Errors.of(() -> pair.blue.execute(Pair.DB, "SELECT mmsync.add_node('red', 'host=h sslmod=require')"));
        assertTrue(err.contains("unknown conninfo keyword \"sslmod\""), err);
        assertEquals(0, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.nodes WHERE name = 'red'"));
    }

    @Test
    void unknownNodeStrategyAndDuplicateSync() {
        String err = Errors.of(() -> pair.blue.execute(Pair.DB, "SELECT mmsync.add_sync('s', '{blue,purple}')"));
        assertTrue(err.contains("node \"purple\" does not exist"), err);
        err = addSync("conflict => 'newest'");
        assertTrue(err.contains("unknown conflict strategy 'newest'"), err);
        assertNoSync();
        pair.blue.execute(Pair.DB, "SELECT mmsync.add_sync('dupe', '{blue,green}', tables => 'posts')");
        try {
            err = Errors.of(() -> pair.blue.execute(Pair.DB, "SELECT mmsync.add_sync('dupe', '{blue,green}', tables => 'a.dup')"));
            assertTrue(err.contains("sync \"dupe\" already exists"), err);
            assertEquals(1, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.sync_tables"));
        } finally {
            pair.blue.execute(Pair.DB, "SELECT mmsync.remove_sync('dupe')");
        }
        assertEquals(0, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM pg_trigger WHERE tgname = 'mmsync_capture'"));
    }

    @Test
    void threeNodesTakeLatestOnly() {
        pair.blue.execute(Pair.DB, "SELECT mmsync.add_node('red', 'host=127.0.0.1 port=1 dbname=app user=postgres')");
        try {
            String err = Errors.of(() -> pair.blue.execute(Pair.DB,
                    "SELECT mmsync.add_sync('s', '{blue,green,red}', tables => 'posts', conflict => 'abort')"));
            assertTrue(err.contains("conflict strategy abort cannot be used by sync \"s\" of 3 nodes (blue, green, red)"), err);
            assertTrue(err.contains("conflict => 'latest'"), err);
            assertNoSync();
        } finally {
            pair.blue.execute(Pair.DB, "SELECT mmsync.remove_node('red')");
        }
        assertEquals(0, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.nodes WHERE name = 'red'"));
    }

    @Test
    void unknownSyncInPauseKickRemove() {
        for (String f : new String[] {"pause", "resume", "kick", "remove_sync"}) {
            String err = Errors.of(() -> pair.blue.execute(Pair.DB, "SELECT mmsync." + f + "('nope')"));
            assertTrue(err.contains("sync \"nope\" does not exist"), f + ": " + err);
        }
    }

    private String addSync(String args) {
        return Errors.of(() -> pair.blue.execute(Pair.DB, "SELECT mmsync.add_sync('s', '{blue,green}', " + args + ")"));
    }

    private void assertNoSync() {
        assertEquals(0, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.syncs WHERE NOT removed"));
        assertEquals(0, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM pg_trigger WHERE tgname = 'mmsync_capture'"));
    }
}
