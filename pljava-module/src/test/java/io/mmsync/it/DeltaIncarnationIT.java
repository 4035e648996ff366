package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Delta columns of a row that one node deletes and inserts again while the other increments it
 * (docs/conflicts.md "Additive (delta) columns"): with the agents down, the two nodes make their
 * changes in a chosen order of time, then the agents run. Each node must end with the row's newest
 * insert's value plus the deltas made after that insert, the other columns from the newest change.
 * Rows 1-4 are re-inserted on blue and incremented on green, rows 11-14 the other way round.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class DeltaIncarnationIT {
    private static final String SCHEMA = "CREATE TABLE acct (id int PRIMARY KEY, v int NOT NULL, note text NOT NULL);"
            + "INSERT INTO acct SELECT i, 10, 'orig' FROM unnest(ARRAY[1, 2, 3, 4, 11, 12, 13, 14]) AS i;";

    /** The changes, in this order of time; {@code r} re-inserts, {@code i} increments, rows from {@code base}. */
    private static void changes(PgCluster r, PgCluster i, int base) throws Exception {
        String n = "'" + r.name() + " new'";
        // row base+0: the increment after the re-insert: it counts on the new row (0 + 1)
        Pair.exec(r, "DELETE FROM acct WHERE id = " + base + "; INSERT INTO acct VALUES (" + base + ", 0, " + n + ")");
        Pair.exec(i, "UPDATE acct SET v = v + 1, note = 'inc' WHERE id = " + base);
        // row base+1: the increment before the delete: gone with the old row (0)
        Pair.exec(i, "UPDATE acct SET v = v + 1, note = 'inc' WHERE id = " + (base + 1));
        Pair.exec(r, "DELETE FROM acct WHERE id = " + (base + 1) + "; INSERT INTO acct VALUES (" + (base + 1) + ", 0, " + n + ")");
        // row base+2: the increment between the delete and the insert: gone with the old row (0)
        Pair.exec(r, "DELETE FROM acct WHERE id = " + (base + 2));
        Pair.exec(i, "UPDATE acct SET v = v + 1, note = 'inc' WHERE id = " + (base + 2));
        Pair.exec(r, "INSERT INTO acct VALUES (" + (base + 2) + ", 0, " + n + ")");
        // row base+3: increments on both sides after the re-insert, on both incarnations (0 + 5 + 1 + 7)
        Pair.exec(r, "DELETE FROM acct WHERE id = " + (base + 3) + "; INSERT INTO acct VALUES (" + (base + 3) + ", 0, " + n + ")");
        Pair.exec(r, "UPDATE acct SET v = v + 5 WHERE id = " + (base + 3));
        Pair.exec(i, "UPDATE acct SET v = v + 1, note = 'inc' WHERE id = " + (base + 3));
        Pair.exec(r, "UPDATE acct SET v = v + 7 WHERE id = " + (base + 3));
    }

    private static String expected(String r, int base) {
        String n = r + " new";
        return base + "=1/inc " + (base + 1) + "=0/" + n + " " + (base + 2) + "=0/" + n + " " + (base + 3) + "=13/" + n;
    }

    private static String rows(PgCluster c) {
        return c.queryString(Pair.DB, "SELECT string_agg(id || '=' || v || '/' || note, ' ' ORDER BY id) FROM acct");
    }

    @Test
    void deltasCountOnlyOnTheNewestIncarnationWhateverTheOrder() throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.addSync("tables => 'acct', initial => 'none'");
            pair.blue.execute(Pair.DB, "SELECT mmsync.set_column_policy('acct', 'v', 'delta')");
            pair.startAgents();
            Waits.until(Duration.ofSeconds(60), "sync and column policy on green",
                    () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.column_policies") == 1
                            && pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.syncs") == 1);
            pair.stopAgents();
            changes(pair.blue, pair.green, 1);
            changes(pair.green, pair.blue, 11);
            pair.startAgents();
            pair.awaitSynced();
            String want = expected("blue", 1) + " " + expected("green", 11);
            assertEquals(want, rows(pair.blue), "blue");
            assertEquals(want, rows(pair.green), "green");
            assertEquals(Pair.fingerprint(pair.blue, "acct"), Pair.fingerprint(pair.green, "acct"));
        }
    }
}
