package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Both nodes change the same rows while the agents are down, blue first and green second, then
 * the agents run: under every strategy both nodes end identical and every losing version is in
 * mmsync.conflicts.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ConflictsIT {
    static final String SCHEMA = "CREATE TABLE rows (id int PRIMARY KEY, v text NOT NULL);"
            + "INSERT INTO rows VALUES (1, 'orig'), (3, 'orig'), (4, 'orig'), (5, 'orig'), (6, 'orig');";

    /** The six conflict kinds, blue's side made first, green's second (so green's is the latest). */
    private static void makeConflicts(Pair pair) throws Exception {
        Pair.exec(pair.blue, "UPDATE rows SET v = 'blue' WHERE id = 1");
        Pair.exec(pair.blue, "INSERT INTO rows VALUES (2, 'blue')");
        Pair.exec(pair.blue, "UPDATE rows SET v = 'blue' WHERE id = 3");
        Pair.exec(pair.blue, "DELETE FROM rows WHERE id = 4");
        Pair.exec(pair.blue, "DELETE FROM rows WHERE id = 5");
        Pair.exec(pair.blue, "DELETE FROM rows WHERE id = 6");
        Pair.exec(pair.green, "UPDATE rows SET v = 'green' WHERE id = 1");        // update / update
        Pair.exec(pair.green, "INSERT INTO rows VALUES (2, 'green')");            // insert / insert
        Pair.exec(pair.green, "DELETE FROM rows WHERE id = 3");                   // update / delete
        Pair.exec(pair.green, "UPDATE rows SET v = 'green' WHERE id = 4");        // delete / update
        Pair.exec(pair.green, "DELETE FROM rows WHERE id = 5");                   // delete / delete
        Pair.exec(pair.green, "DELETE FROM rows WHERE id = 6; INSERT INTO rows VALUES (6, 'green new')"); // re-insert
    }

    private static Pair pairWithConflicts(String syncArgs, boolean onGreen) throws Exception {
        Pair pair = Pair.start(SCHEMA);
        if (onGreen) {
            pair.green.execute(Pair.DB, "SELECT mmsync.add_node('green', '" + pair.green.conninfo(Pair.DB) + "', true)");
            pair.green.execute(Pair.DB, "SELECT mmsync.add_node('blue', '" + pair.blue.conninfo(Pair.DB) + "')");
            pair.green.execute(Pair.DB, "SELECT mmsync.add_sync('app', '{blue,green}', " + syncArgs + ", initial => 'none')");
        } else {
            pair.addSync(syncArgs + ", initial => 'none'"); // both start from the same rows
        }
        pair.startAgents();
        Waits.until(Duration.ofSeconds(60), "sync on both nodes", () -> pair.blue.queryLong(Pair.DB,
                "SELECT count(*) FROM mmsync.syncs") == 1 && pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.syncs") == 1);
        pair.stopAgents();
        makeConflicts(pair);
        pair.startAgents();
        return pair;
    }

    private static String rows(PgCluster c) {
        return c.queryString(Pair.DB, "SELECT coalesce(string_agg(id || '=' || v, ' ' ORDER BY id), '') FROM rows");
    }

    private static long conflicts(PgCluster c) {
        return c.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.conflicts");
    }

    @Test
    void latestWinsPerRowOnBothNodes() throws Exception {
        try (Pair pair = pairWithConflicts("conflict => 'latest'", false)) {
            pair.awaitSynced();
            assertEquals("1=green 2=green 4=green 6=green new", rows(pair.blue));
            assertEquals(rows(pair.blue), rows(pair.green));
            // blue lost update/update, insert/insert and update/delete: its versions are kept
            assertEquals("blue", pair.green.queryString(Pair.DB,
                    "SELECT losing_row->>'v' FROM mmsync.conflicts WHERE kind = 'update_update'"));
            assertEquals("local_kept", pair.green.queryString(Pair.DB,
                    "SELECT resolution FROM mmsync.conflicts WHERE kind = 'update_update'"));
            assertEquals("blue", pair.blue.queryString(Pair.DB,
                    "SELECT losing_row->>'v' FROM mmsync.conflicts WHERE kind = 'insert_insert'"));
            assertTrue(conflicts(pair.blue) >= 4 && conflicts(pair.green) >= 4,
                    "conflicts logged on both nodes: " + conflicts(pair.blue) + ", " + conflicts(pair.green));
            // status shows each node's count, per sync and peer (every conflict here is with the one peer)
            assertEquals(conflicts(pair.blue), pair.blue.queryLong(Pair.DB, "SELECT conflicts FROM mmsync.status() WHERE peer = 'green'"));
            assertEquals(conflicts(pair.green), pair.green.queryLong(Pair.DB, "SELECT conflicts FROM mmsync.status() WHERE peer = 'blue'"));
            assertEquals(0, pair.blue.queryLong(Pair.DB, "SELECT set_aside FROM mmsync.status() WHERE peer = 'green'"));
        }
    }

    @Test
    void preferBlueKeepsBluesVersion() throws Exception {
        try (Pair pair = pairWithConflicts("prefer => 'blue'", false)) {
            pair.awaitSynced();
            assertEquals(rows(pair.blue), rows(pair.green));
            assertTrue(rows(pair.blue).startsWith("1=blue 2=blue 3=blue"), rows(pair.blue));
            assertEquals("green", pair.blue.queryString(Pair.DB,
                    "SELECT losing_row->>'v' FROM mmsync.conflicts WHERE kind = 'update_update'"));
        }
    }

    @Test
    void keepLocalSetOnGreenKeepsGreensVersion() throws Exception {
        try (Pair pair = pairWithConflicts("conflict => 'keep_local'", true)) {
            pair.awaitSynced();
            assertEquals(rows(pair.blue), rows(pair.green));
            assertTrue(rows(pair.green).startsWith("1=green 2=green 4=green"), rows(pair.green));
            assertEquals("green", pair.blue.queryString(Pair.DB, "SELECT prefer FROM mmsync.syncs"));
        }
    }

    @Test
    void applyRemoteSetOnBlueTakesGreensVersion() throws Exception {
        try (Pair pair = pairWithConflicts("conflict => 'apply_remote'", false)) {
            pair.awaitSynced();
            assertEquals(rows(pair.blue), rows(pair.green));
            assertTrue(rows(pair.blue).startsWith("1=green 2=green 4=green"), rows(pair.blue));
        }
    }

    @Test
    void abortStopsUntilTheDbaDecides() throws Exception {
        try (Pair pair = pairWithConflicts("conflict => 'abort'", false)) {
            // the link pauses the sync, then records why: wait for both
            Waits.until(Duration.ofSeconds(60), "sync paused by a conflict, status saying why", () -> pair.blue.queryLong(
                    Pair.DB, "SELECT count(*) FROM mmsync.status() WHERE state = 'paused' "
                            + "AND last_error LIKE '%mmsync.resolve_conflict%'") == 1);
            String err = pair.blue.queryString(Pair.DB, "SELECT last_error FROM mmsync.status()");
            assertTrue(err.contains("under strategy abort"), "status says why: " + err);
            // the DBA keeps blue's version everywhere: green applies blue's changes, blue skips green's
            long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            while (!synced(pair)) {
                assertTrue(System.nanoTime() < deadline, "conflicts kept coming: " + rows(pair.blue) + " / " + rows(pair.green));
                for (long id : pending(pair.green)) {
                    pair.green.execute(Pair.DB, "SELECT mmsync.resolve_conflict(" + id + ", 'apply')");
                }
                for (long id : pending(pair.blue)) {
                    pair.blue.execute(Pair.DB, "SELECT mmsync.resolve_conflict(" + id + ", 'skip')");
                }
                pair.blue.execute(Pair.DB, "SELECT mmsync.resume('app') WHERE EXISTS (SELECT 1 FROM mmsync.syncs WHERE paused)");
                pair.green.execute(Pair.DB, "SELECT mmsync.resume('app') WHERE EXISTS (SELECT 1 FROM mmsync.syncs WHERE paused)");
                try {
                    Waits.until(Duration.ofSeconds(30), "progress or another decision needed",
                            () -> synced(pair) || !pending(pair.blue).isEmpty() || !pending(pair.green).isEmpty());
                } catch (AssertionError e) {
                    throw new AssertionError(e.getMessage() + "\nblue: " + dump(pair.blue) + "\ngreen: " + dump(pair.green), e);
                }
            }
            assertEquals(rows(pair.blue), rows(pair.green));
            assertTrue(rows(pair.blue).startsWith("1=blue 2=blue 3=blue"), rows(pair.blue));
            assertEquals(0, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.conflicts WHERE resolution = 'pending'"));
        }
    }

    private static String dump(PgCluster c) {
        return rows(c) + " | " + c.queryString(Pair.DB, "SELECT string_agg(s::text, '; ') FROM mmsync.status() s") + " | "
                + c.queryString(Pair.DB, "SELECT string_agg(concat_ws(' ', id, kind, resolution, decision, key), '; ') FROM mmsync.conflicts")
                + " | " + c.queryString(Pair.DB, "SELECT string_agg(concat_ws(' ', name, paused, version), '; ') FROM mmsync.syncs");
    }

    private static boolean synced(Pair pair) {
        for (PgCluster c : List.of(pair.blue, pair.green)) {
            if (c.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.status() WHERE state = 'in sync'") != 1) {
                return false;
            }
        }
        return rows(pair.blue).equals(rows(pair.green));
    }

    private static List<Long> pending(PgCluster c) {
        String ids = c.queryString(Pair.DB,
                "SELECT coalesce(string_agg(id::text, ','), '') FROM mmsync.conflicts WHERE resolution = 'pending' AND decision IS NULL");
        return ids.isEmpty() ? List.of() : java.util.Arrays.stream(ids.split(",")).map(Long::valueOf).toList();
    }

    @Test
    void uniqueKeyCollisionIsSetAsideWhileTenThousandChangesFlowPast() throws Exception {
        try (Pair pair = Pair.start("CREATE TABLE users (id int PRIMARY KEY, username text UNIQUE NOT NULL);"
                + "CREATE TABLE posts (id int PRIMARY KEY, body text);")) {
            pair.addSync("");
            pair.startAgents();
            pair.awaitSyncOnGreen();
            pair.stopAgents();
            Pair.exec(pair.blue, "INSERT INTO users VALUES (1, 'alice')");
            Pair.exec(pair.green, "INSERT INTO users VALUES (2, 'alice')");
            Pair.exec(pair.blue, "INSERT INTO posts SELECT g, 'post ' || g FROM generate_series(1, 10000) g");
            pair.startAgents();
            Waits.until(Duration.ofSeconds(120), "10,000 posts on green past the set-aside user",
                    () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM posts") == 10000);
            Waits.until(Duration.ofSeconds(60), "collision set aside on both nodes",
                    () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.set_aside WHERE sqlstate = '23505'") == 1
                            && pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.set_aside WHERE sqlstate = '23505'") == 1);
            assertTrue(pair.green.queryString(Pair.DB, "SELECT error FROM mmsync.set_aside").contains("users_username_key"));
            assertEquals("1 0", pair.green.queryString(Pair.DB, "SELECT set_aside || ' ' || conflicts FROM mmsync.status() WHERE peer = 'blue'"),
                    "status on green counts the change from blue set aside there");
            assertEquals("1 0", pair.blue.queryString(Pair.DB, "SELECT set_aside || ' ' || conflicts FROM mmsync.status() WHERE peer = 'green'"));
            // neither node says "in sync" while a change is set aside on either (issue 17): the
            // origin learns of its own change set aside at the peer from its sender
            Waits.until(Duration.ofSeconds(60), "blue's sender counted its change set aside on green",
                    () -> pair.blue.queryLong(Pair.DB, "SELECT peer_set_aside FROM mmsync.links WHERE peer = 'green'") == 1
                            && pair.green.queryLong(Pair.DB, "SELECT peer_set_aside FROM mmsync.links WHERE peer = 'blue'") == 1);
            for (PgCluster c : List.of(pair.blue, pair.green)) {
                assertEquals("differs", c.queryString(Pair.DB, "SELECT state FROM mmsync.status()"), c.name());
                assertTrue(c.queryString(Pair.DB, "SELECT last_error FROM mmsync.status()")
                        .contains("1 changes from node " + c.name() + " could not be applied on node "), c.name());
                assertEquals("f", c.queryString(Pair.DB, "SELECT mmsync.wait_synced('app', '300 milliseconds')"),
                        "wait_synced on " + c.name() + " while the peer holds its change set aside");
            }
            // the DBA renames one of them: the set-aside change is superseded or retried, both converge
            Pair.exec(pair.green, "UPDATE users SET username = 'alice2' WHERE id = 2");
            pair.awaitSynced();
            Waits.until(Duration.ofSeconds(60), "set-aside changes applied", () ->
                    pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.set_aside") == 0
                            && pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.set_aside") == 0);
            assertEquals(0, pair.green.queryLong(Pair.DB, "SELECT set_aside FROM mmsync.status() WHERE peer = 'blue'"));
            Waits.until(Duration.ofSeconds(60), "both nodes in sync again", () ->
                    "in sync".equals(pair.blue.queryString(Pair.DB, "SELECT state FROM mmsync.status()"))
                            && "in sync".equals(pair.green.queryString(Pair.DB, "SELECT state FROM mmsync.status()")));
            assertEquals("t", pair.blue.queryString(Pair.DB, "SELECT mmsync.wait_synced('app', '10 seconds')"));
            assertEquals("1=alice 2=alice2", pair.blue.queryString(Pair.DB,
                    "SELECT string_agg(id || '=' || username, ' ' ORDER BY id) FROM users"));
            assertEquals(Pair.fingerprint(pair.blue, "users"), Pair.fingerprint(pair.green, "users"));
            assertEquals(Pair.fingerprint(pair.blue, "posts"), Pair.fingerprint(pair.green, "posts"));
        }
    }

    /**
     * An update or delete from blue whose row green does not have (deleted there behind the sync's
     * back, no competing change queued): the update puts the row back, the delete finds nothing,
     * and green logs each as a conflict (update_missing, delete_missing), once, with blue's
     * version as the winning row; the nodes end identical.
     */
    @Test
    void updateAndDeleteOfMissingRowsAreLogged() throws Exception {
        try (Pair pair = Pair.start("CREATE TABLE rows (id int PRIMARY KEY, v text NOT NULL);"
                + "INSERT INTO rows SELECT g, 'orig' FROM generate_series(1, 20) g;")) {
            pair.addSync("initial => 'none'");
            pair.startAgents();
            pair.awaitSyncOnGreen();
            Pair.exec(pair.green, "BEGIN; SET LOCAL mmsync.origin = 'test'; DELETE FROM rows WHERE id IN (3, 4, 5, 6); COMMIT");
            Pair.exec(pair.blue, "UPDATE rows SET v = 'blue' WHERE id IN (1, 3, 4)");   // 3, 4 missing on green
            Pair.exec(pair.blue, "DELETE FROM rows WHERE id IN (2, 5, 6)");             // 5, 6 missing on green
            pair.awaitSynced();
            assertEquals("3|update_missing|remote_applied|blue 4|update_missing|remote_applied|blue "
                            + "5|delete_missing|remote_applied| 6|delete_missing|remote_applied|",
                    pair.green.queryString(Pair.DB, "SELECT string_agg(key || '|' || kind || '|' || resolution || '|' "
                            + "|| coalesce(winning_row ->> 'v', ''), ' ' ORDER BY key) FROM mmsync.conflicts"));
            assertEquals(0, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.conflicts"));
            assertEquals("1=blue 3=blue 4=blue", pair.green.queryString(Pair.DB,
                    "SELECT string_agg(id || '=' || v, ' ' ORDER BY id) FROM rows WHERE id <= 6"));
            assertEquals(Pair.fingerprint(pair.blue, "rows"), Pair.fingerprint(pair.green, "rows"));
        }
    }

    /**
     * A set-aside update retried once its row is gone here (deleted behind the sync's back while it
     * waited): the retry puts the row back and logs it as update_missing, once, as a page's update
     * of a missing row is; nothing stays set aside and the nodes end identical.
     */
    @Test
    void setAsideUpdateRetriedOntoAMissingRowIsLogged() throws Exception {
        try (Pair pair = Pair.start("CREATE TABLE users (id int PRIMARY KEY, username text UNIQUE NOT NULL);"
                + "INSERT INTO users VALUES (1, 'alice'), (2, 'bob');")) {
            pair.addSync("initial => 'none'");
            pair.startAgents();
            pair.awaitSyncOnGreen();
            Pair.exec(pair.green, "BEGIN; SET LOCAL mmsync.origin = 'test'; INSERT INTO users VALUES (9, 'carol'); COMMIT");
            Pair.exec(pair.blue, "UPDATE users SET username = 'carol' WHERE id = 1");
            Waits.until(Duration.ofSeconds(60), "blue's update set aside on green",
                    () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.set_aside WHERE sqlstate = '23505'") == 1);
            assertEquals(0, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.conflicts"));
            // the collision and the row itself go, behind the sync's back: the retry finds no row 1
            Pair.exec(pair.green, "BEGIN; SET LOCAL mmsync.origin = 'test'; DELETE FROM users WHERE id IN (1, 9); COMMIT");
            Waits.until(Duration.ofSeconds(60), "the set-aside update retried on green",
                    () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.set_aside") == 0);
            pair.awaitSynced();
            assertEquals("1|update_missing|remote_applied|carol", pair.green.queryString(Pair.DB,
                    "SELECT string_agg(key || '|' || kind || '|' || resolution || '|' || (winning_row ->> 'username'), ' ') "
                            + "FROM mmsync.conflicts"));
            assertEquals(0, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.conflicts"));
            assertEquals("1=carol 2=bob", pair.green.queryString(Pair.DB,
                    "SELECT string_agg(id || '=' || username, ' ' ORDER BY id) FROM users"));
            assertEquals(Pair.fingerprint(pair.blue, "users"), Pair.fingerprint(pair.green, "users"));
        }
    }

    @Test
    void truncateAndInterleavedSequences() throws Exception {
        try (Pair pair = Pair.start("CREATE TABLE msgs (id bigserial PRIMARY KEY, body text);"
                + "CREATE TABLE ids (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, body text);")) {
            pair.addSync("sequences => 'interleave'");
            pair.startAgents();
            pair.awaitSyncOnGreen();
            for (int i = 0; i < 20; i++) {
                Pair.exec(pair.blue, "INSERT INTO msgs (body) VALUES ('b'); INSERT INTO ids (body) VALUES ('b')");
                Pair.exec(pair.green, "INSERT INTO msgs (body) VALUES ('g'); INSERT INTO ids (body) VALUES ('g')");
            }
            pair.awaitSynced();
            assertEquals(40, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM msgs"));
            assertEquals(40, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM ids"));
            assertEquals(0, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM msgs WHERE (id % 2 = 1) <> (body = 'b')"));
            Pair.exec(pair.green, "TRUNCATE msgs");
            pair.awaitSynced();
            assertEquals(0, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM msgs"));
            assertEquals(40, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM ids"));
            assertNull(pair.blue.queryString(Pair.DB, "SELECT max(error) FROM mmsync.set_aside"));
        }
    }

    @Test
    void conflictsOnOddNamesAndKeysAreRecordedVerbatim() throws Exception {
        String table = "\"We\"\"ird \\ Tab\"";
        String key = "a\"b\\c\nd \u00fc";
        try (Pair pair = Pair.start("CREATE TABLE " + table + " (k text PRIMARY KEY, v text);"
                + "INSERT INTO " + table + " VALUES (E'a\"b\\\\c\\nd \u00fc', 'orig')")) {
            pair.addSync("initial => 'none'");
            pair.startAgents();
            pair.awaitSyncOnGreen();
            pair.stopAgents();
            Pair.exec(pair.blue, "UPDATE " + table + " SET v = 'blue'");
            Pair.exec(pair.green, "UPDATE " + table + " SET v = 'green'");
            pair.startAgents();
            pair.awaitSynced();
            assertEquals(Pair.fingerprint(pair.blue, table), Pair.fingerprint(pair.green, table));
            assertEquals("green", pair.blue.queryString(Pair.DB, "SELECT v FROM " + table));
            // green kept its later version, blue applied it: both record the same key and table
            for (PgCluster c : List.of(pair.blue, pair.green)) {
                assertEquals("We\"ird \\ Tab|" + key + "|green|blue", c.queryString(Pair.DB, "SELECT table_name || '|' || key || '|' "
                        + "|| coalesce(winning_row->>'v', '-') || '|' || coalesce(losing_row->>'v', '-') FROM mmsync.conflicts"), c.name());
            }
        }
    }
}
