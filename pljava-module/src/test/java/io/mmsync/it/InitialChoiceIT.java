package io.mmsync.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 12: add_sync never lets status() say "in sync" about tables that hold rows and were
 * never compared or copied: without initial => ... it refuses, here and on the peer.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class InitialChoiceIT {
    static final String SCHEMA = "CREATE TABLE posts (id int PRIMARY KEY, body text); CREATE TABLE users (id int PRIMARY KEY);";

    @Test
    void rowsHereWithoutAChoiceAreRefusedNamingTheTablesAndTheChoices() {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.blue.execute(Pair.DB, "INSERT INTO posts SELECT g, 'p' FROM generate_series(1, 1000) g");
            String err = Errors.of(() -> pair.addSync(""));
            assertTrue(err.contains("sync \"app\": 1 of its tables hold rows on node \"blue\" (public.posts)"), err);
            assertTrue(err.contains("initial => 'copy'") && err.contains("initial => 'merge'") && err.contains("initial => 'none'"), err);
            assertEquals(0, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.syncs"), "nothing changed");
            assertEquals(0, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'posts'::regclass"));

            err = Errors.of(() -> pair.addSync("initial => 'clone'"));
            assertTrue(err.contains("unknown initial mode 'clone'"), err);
            assertEquals(0, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.syncs"));

            // 'none': the DBA asserts both hold the same rows (green's 1,000 rows put there by the test)
            pair.green.execute(Pair.DB, "INSERT INTO posts SELECT g, 'p' FROM generate_series(1, 1000) g");
            pair.addSync("initial => 'none'");
            pair.startAgents();
            pair.awaitSyncOnGreen();
            assertEquals("none blue", pair.green.queryString(Pair.DB, "SELECT initial || ' ' || initial_from FROM mmsync.syncs"),
                    "the choice travels with the definition");
            pair.blue.execute(Pair.DB, "UPDATE posts SET body = 'changed' WHERE id = 7");
            pair.awaitSynced();
            assertEquals(Pair.fingerprint(pair.blue, "posts"), Pair.fingerprint(pair.green, "posts"));
        }
    }

    @Test
    void rowsOnlyOnThePeerWithoutAChoiceAreRefusedThereAndReportedHere() {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.green.execute(Pair.DB, "INSERT INTO users SELECT g FROM generate_series(1, 10) g");
            pair.addSync(""); // blue's tables are empty: allowed here
            pair.startAgents();
            Waits.until(Duration.ofSeconds(60), "green's refusal reported on blue", () -> {
                String e = Pair.lastError(pair.blue, "green");
                return e != null && e.contains("was added without an initial mode, but public.users hold rows on node \"green\"");
            });
            assertTrue(!"in sync".equals(Pair.state(pair.blue, "green")));
            assertEquals(0, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.syncs"), "green installed nothing");
            assertEquals(0, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'users'::regclass"));
            assertEquals(10, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM users"));
        }
    }
}
