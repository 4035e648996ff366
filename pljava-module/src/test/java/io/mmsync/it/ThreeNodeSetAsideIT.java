package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A change set aside on one node of a sync of three, retried after a newer version of its row
 * from another node arrived there: the retry decides it against the row's version, as a page's
 * change is, so it loses there as it lost everywhere else (docs/conflicts.md "Three or more nodes").
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class ThreeNodeSetAsideIT {
    private static final String SCHEMA = "CREATE TABLE rows (id int PRIMARY KEY, v text NOT NULL);"
            + "INSERT INTO rows VALUES (1, 'orig'), (2, 'orig');";

    private static String rows(PgCluster c) {
        return c.queryString(Trio.DB, "SELECT string_agg(id || '=' || v, ' ' ORDER BY id) FROM rows");
    }

    @Test
    void aRetriedChangeOlderThanTheRowsVersionLoses() throws Exception {
        try (Trio trio = Trio.start(SCHEMA)) {
            trio.addSync("tables => 'rows', initial => 'none'");
            trio.startAgents();
            trio.awaitSyncEverywhere(0);
            for (PgCluster c : trio.all()) {
                trio.stopAgent(c);
            }
            // blue cannot hold red's value until the DBA drops this constraint
            trio.blue.execute(Trio.DB, "ALTER TABLE rows ADD CONSTRAINT no_red CHECK (v <> 'red')");
            Pair.exec(trio.red, "UPDATE rows SET v = 'red' WHERE id = 1; UPDATE rows SET v = 'red' WHERE id = 2");
            Pair.exec(trio.green, "UPDATE rows SET v = 'green' WHERE id = 1"); // newer than red's, row 1 only
            trio.startAgent(trio.red);
            Waits.until(Duration.ofSeconds(60), "red's changes set aside on blue",
                    () -> trio.blue.queryLong(Trio.DB, "SELECT count(*) FROM mmsync.set_aside WHERE origin = 'red'") == 2);
            trio.startAgent(trio.green);
            assertEquals("t", trio.green.queryString(Trio.DB, "SELECT mmsync.wait_synced('app', '120 seconds')"));
            trio.blue.execute(Trio.DB, "ALTER TABLE rows DROP CONSTRAINT no_red");
            Waits.until(Duration.ofSeconds(90), "blue's set-aside changes retried",
                    () -> trio.blue.queryLong(Trio.DB, "SELECT count(*) FROM mmsync.set_aside") == 0);
            trio.startAgent(trio.blue);
            trio.awaitSynced();
            // row 1: green's update is the newest everywhere; row 2: red's, applied by the retry
            for (PgCluster c : trio.all()) {
                assertEquals("1=green 2=red", rows(c), "rows on " + c.name());
            }
            assertEquals(1, trio.blue.queryLong(Trio.DB, "SELECT count(*) FROM mmsync.conflicts WHERE origin = 'red' "
                    + "AND key = '1' AND resolution = 'local_kept'"), "red's older update lost at blue when retried");
        }
    }
}
