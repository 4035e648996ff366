package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.postgresql.copy.CopyManager;
import org.postgresql.core.BaseConnection;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A peer that stays away does not fill the other node's disk in silence: status warns past the
 * warning threshold, and past the retention limit the peer is marked as needing a resync and its
 * queue is dropped; the resync procedure of docs/operations.md then brings it back.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RetentionIT {
    static final String SCHEMA = "CREATE TABLE items (id bigint PRIMARY KEY, n int NOT NULL, v text);";

    Pair pair;

    @BeforeAll
    void start() {
        pair = Pair.start(SCHEMA);
        pair.addSync("");
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
    void warningThenLimitThenResync() throws Exception {
        pair.blue.execute(Pair.DB, "INSERT INTO items SELECT g, 0, 'before' FROM generate_series(1, 10) g");
        pair.awaitSynced();
        String set = pair.blue.queryString(Pair.DB, "SELECT mmsync.set_retention('app', max_changes => 300, warn_changes => 100)");
        assertEquals("sync \"app\": warn at 100 changes or 01:00:00; a peer past 300 changes needs a resync", set);

        pair.green.stop();
        pair.blue.execute(Pair.DB, "INSERT INTO items SELECT g, 0, 'while green is away' FROM generate_series(11, 160) g");
        Waits.until(Duration.ofSeconds(30), "status warns about the backlog", () -> String.valueOf(Pair.lastError(pair.blue, "green"))
                .startsWith("warning: 150 changes queued for node green, over the warning threshold of 100 (at more than 300 it needs a resync)"));
        Waits.until(Duration.ofSeconds(30), "blue's link notices green is away",
                () -> "disconnected".equals(Pair.state(pair.blue, "green")));
        assertEquals(150, pair.blue.queryLong(Pair.DB, "SELECT backlog FROM mmsync.status()"), "nothing dropped below the limit");

        pair.blue.execute(Pair.DB, "UPDATE items SET n = n + 1 WHERE id > 10");
        pair.blue.execute(Pair.DB, "UPDATE items SET n = n + 1 WHERE id > 10");
        Waits.until(Duration.ofSeconds(30), "the agent applies the limit", () -> "needs resync".equals(Pair.state(pair.blue, "green")));
        String err = Pair.lastError(pair.blue, "green");
        assertTrue(err.startsWith("node green needs a resync: the 450 changes queued for it were dropped at ")
                && err.contains("(more than 300 changes queued; retention limit of this node)")
                && err.contains("mmsync.clear_resync('app', 'green')"), err);
        Waits.until(Duration.ofSeconds(30), "queue dropped", () -> pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.changes") == 0);
        // changes made now are not kept for green either: the queue stays empty
        pair.blue.execute(Pair.DB, "INSERT INTO items VALUES (500, 0, 'after the limit')");
        Waits.until(Duration.ofSeconds(30), "queue kept empty", () -> pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.changes") == 0);

        // green comes back: blue's link must not send it anything over the hole
        pair.green.start();
        pair.green.execute(Pair.DB, "INSERT INTO items VALUES (900, 0, 'written on green')");
        Waits.until(Duration.ofSeconds(60), "green's change reaches blue",
                () -> pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM items WHERE id = 900") == 1);
        Waits.until(Duration.ofSeconds(30), "blue's link connected to green and holding",
                () -> pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.links WHERE peer = 'green' AND state = 'running'") == 1);
        pair.blue.execute(Pair.DB, "SELECT mmsync.kick('app')");
        assertEquals(10, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM items WHERE id < 900"), "nothing sent past the hole");
        assertEquals("needs resync", Pair.state(pair.blue, "green"));

        // the documented resync: clear, then copy blue's tables to green, then let it flow
        assertEquals("sync \"app\": node \"green\" gets changes again from now on",
                pair.blue.queryString(Pair.DB, "SELECT mmsync.clear_resync('app', 'green')"));
        pair.blue.execute(Pair.DB, "INSERT INTO items VALUES (501, 0, 'during the copy')");
        copyTable(pair.blue, pair.green, "items");
        pair.blue.execute(Pair.DB, "UPDATE items SET v = 'after the copy' WHERE id = 501");
        pair.awaitSynced();
        assertEquals(Pair.fingerprint(pair.blue, "items"), Pair.fingerprint(pair.green, "items"));
        assertEquals("in sync", Pair.state(pair.blue, "green"));
        assertEquals(163, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM items"));
    }

    @Test
    void setRetentionChecksItsArguments() throws Exception {
        assertTrue(Errors.of(() -> pair.blue.execute(Pair.DB, "SELECT mmsync.set_retention('nope', max_changes => 10)"))
                .contains("sync \"nope\" does not exist"));
        assertTrue(Errors.of(() -> pair.blue.execute(Pair.DB, "SELECT mmsync.set_retention('app', max_changes => 0)"))
                .contains("max_changes for sync \"app\" must be at least 1, not 0"));
        assertTrue(Errors.of(() -> pair.blue.execute(Pair.DB, "SELECT mmsync.set_retention('app', max_age => '-1 hour')"))
                .contains("max_age for sync \"app\" must be positive"));
        assertTrue(Errors.of(() -> pair.blue.execute(Pair.DB, "SELECT mmsync.set_retention('app', max_changes => 10, warn_changes => 20)"))
                .contains("must not exceed its limits"));
        assertEquals("sync \"app\": warn at 500000 changes or 00:30:00; a peer past 1000000 changes or 01:00:00 needs a resync",
                pair.blue.queryString(Pair.DB, "SELECT mmsync.set_retention('app', max_changes => 1000000, max_age => '1 hour')"));
        assertEquals("sync \"app\": warn at 1000000 changes or 01:00:00; no limit",
                pair.blue.queryString(Pair.DB, "SELECT mmsync.set_retention('app')"));
        assertTrue(Errors.of(() -> pair.blue.execute(Pair.DB, "SELECT mmsync.clear_resync('app', 'green')"))
                .contains("node \"green\" of sync \"app\" is not marked as needing a resync"));
    }

    /**
     * What docs/operations.md does with pg_dump and psql: replaces the table's rows on {@code to} by
     * {@code from}'s, in a session with mmsync.origin set so that {@code to} does not capture them.
     */
    static void copyTable(PgCluster from, PgCluster to, String table) throws Exception {
        ByteArrayOutputStream rows = new ByteArrayOutputStream();
        try (Connection c = from.connect(Pair.DB)) {
            new CopyManager(c.unwrap(BaseConnection.class)).copyOut("COPY " + table + " TO STDOUT", rows);
        }
        try (Connection c = to.connect(Pair.DB); Statement st = c.createStatement()) {
            c.setAutoCommit(false);
            st.execute("SET LOCAL mmsync.origin = 'resync'");
            st.execute("TRUNCATE " + table); // its lock holds the link's applier off until the copy commits
            new CopyManager(c.unwrap(BaseConnection.class)).copyIn("COPY " + table + " FROM STDIN", new ByteArrayInputStream(rows.toByteArray()));
            c.commit();
        }
    }
}
