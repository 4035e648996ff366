package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Scheduled compares (issue 17): the engine compares the nodes on its own (mmsync.set_verify), so
 * status() shows when they were last found identical (verified_at) and turns to 'differs' on both
 * nodes once rows changed behind the sync's back, with nobody running mmsync compare.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class VerifyIT {
    static final String SCHEMA = "CREATE TABLE t (id int PRIMARY KEY, v text);"
            + "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 1000) g;";

    @Test
    void theEngineComparesOnItsOwnAndStatusSaysDiffersOnBothNodes() throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.addSync("tables => 't', initial => 'none'"); // both nodes made the same rows
            assertEquals("sync \"app\": node blue compares it with each peer every 00:00:01",
                    pair.blue.queryString(Pair.DB, "SELECT mmsync.set_verify('app', '1 second')"));
            pair.startAgents();
            pair.awaitSyncOnGreen();
            // green has the default (once a day, counted from the sync's creation): nothing due there
            assertEquals(0, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync._verify_due()"));

            Waits.until(Duration.ofSeconds(120), "a scheduled compare found the nodes identical, recorded on both",
                    () -> verified(pair.blue, "green") && verified(pair.green, "blue"));
            assertEquals("in sync", Pair.state(pair.blue, "green"));
            assertEquals("in sync", Pair.state(pair.green, "blue"));
            assertTrue(pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.compare_runs WHERE outcome = 'identical' "
                    + "AND rows_here = 1000") >= 1);

            // behind the sync's back on green: capture off for this transaction
            Pair.exec(pair.green, "BEGIN; SET LOCAL mmsync.origin = 'test'; UPDATE t SET v = 'drift' WHERE id = 7; COMMIT");
            Waits.until(Duration.ofSeconds(120), "status 'differs' on both nodes",
                    () -> "differs".equals(Pair.state(pair.blue, "green")) && "differs".equals(Pair.state(pair.green, "blue")),
                    () -> "blue: " + Pair.lastError(pair.blue, "green") + "; green: " + Pair.lastError(pair.green, "blue"));
            assertEquals("{\"id\": 7}|drift|v7", pair.blue.queryString(Pair.DB,
                    "SELECT key::text || '|' || (peer->>'v') || '|' || (here->>'v') FROM mmsync.compare('app')"));
            assertTrue(Pair.lastError(pair.blue, "green").contains("1 rows differ between node blue and node green"),
                    Pair.lastError(pair.blue, "green"));
            assertEquals("drift", pair.green.queryString(Pair.DB, "SELECT v FROM t WHERE id = 7"));
            assertEquals("v7", pair.blue.queryString(Pair.DB, "SELECT v FROM t WHERE id = 7"));

            // off: nothing due any more; the last verdict stays
            assertEquals("sync \"app\": no scheduled compares on node blue (mmsync compare by hand)",
                    pair.blue.queryString(Pair.DB, "SELECT mmsync.set_verify('app', NULL)"));
            assertEquals(0, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync._verify_due()"));
            assertEquals("differs", Pair.state(pair.blue, "green"));
        }
    }

    @Test
    void badInputNamesTheSyncAndChangesNothing() {
        try (Pair pair = Pair.start("CREATE TABLE t (id int PRIMARY KEY);")) {
            pair.addSync("tables => 't'");
            String err = Errors.of(() -> pair.blue.execute(Pair.DB, "SELECT mmsync.set_verify('nosuch', '1 hour')"));
            assertTrue(err.contains("nosuch"), err);
            err = Errors.of(() -> pair.blue.execute(Pair.DB, "SELECT mmsync.set_verify('app', '10 ms')"));
            assertTrue(err.contains("compare interval of sync \"app\" must be at least 1 second"), err);
            assertEquals(0, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.verify_schedule"));
        }
    }

    private static boolean verified(PgCluster at, String peer) {
        return at.queryString(Pair.DB, "SELECT verified_at IS NOT NULL FROM mmsync.status() WHERE peer = '" + peer + "'").equals("t");
    }
}
