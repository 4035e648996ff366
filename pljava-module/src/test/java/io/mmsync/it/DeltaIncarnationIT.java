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
 * Rows 1-4 are re-inserted on blue and incremented on green, rows 11-14 the other way round. A
 * second run races deletes (with and without a re-insert) against updates and deletes of the other
 * node: remove wins (rows 21-28 deleted on blue, 31-38 on green).
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
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

    private static final String GONE_SCHEMA = "CREATE TABLE acct (id int PRIMARY KEY, v int NOT NULL, note text NOT NULL);"
            + "INSERT INTO acct SELECT i, 10, 'orig' FROM generate_series(21, 28) i UNION ALL "
            + "SELECT i, 10, 'orig' FROM generate_series(31, 38) i;";

    /**
     * Deletes racing updates, in this order of time: {@code d} deletes (and sometimes inserts again),
     * {@code u} updates (and sometimes deletes), rows from {@code base}. Remove wins: a row is gone
     * unless inserted again after its newest delete.
     */
    private static void deletes(PgCluster d, PgCluster u, int base) throws Exception {
        String n = "'" + d.name() + " new'";
        String inc = "UPDATE acct SET v = v + 5, note = 'inc' WHERE id = ";
        // base+0: d +1, d deletes, then u +5 (newer than the delete, made before it arrived): gone
        Pair.exec(d, "UPDATE acct SET v = v + 1 WHERE id = " + base);
        Pair.exec(d, "DELETE FROM acct WHERE id = " + base);
        Pair.exec(u, inc + base);
        // base+1: u +5, then d deletes: gone
        Pair.exec(u, inc + (base + 1));
        Pair.exec(d, "DELETE FROM acct WHERE id = " + (base + 1));
        // base+2: d deletes, u +5, d inserts again: the insert's row (0)
        Pair.exec(d, "DELETE FROM acct WHERE id = " + (base + 2));
        Pair.exec(u, inc + (base + 2));
        Pair.exec(d, "INSERT INTO acct VALUES (" + (base + 2) + ", 0, " + n + ")");
        // base+3: d deletes and inserts again, then u +5: counts on the new row (0 + 5)
        Pair.exec(d, "DELETE FROM acct WHERE id = " + (base + 3) + "; INSERT INTO acct VALUES (" + (base + 3) + ", 0, " + n + ")");
        Pair.exec(u, inc + (base + 3));
        // base+4: both delete: gone
        Pair.exec(d, "DELETE FROM acct WHERE id = " + (base + 4));
        Pair.exec(u, "DELETE FROM acct WHERE id = " + (base + 4));
        // base+5: d deletes and inserts again, then u deletes (its old row): gone
        Pair.exec(d, "DELETE FROM acct WHERE id = " + (base + 5) + "; INSERT INTO acct VALUES (" + (base + 5) + ", 0, " + n + ")");
        Pair.exec(u, "DELETE FROM acct WHERE id = " + (base + 5));
        // base+6: u deletes, d +1, then d deletes and inserts again: the insert's row (0)
        Pair.exec(u, "DELETE FROM acct WHERE id = " + (base + 6));
        Pair.exec(d, "UPDATE acct SET v = v + 1 WHERE id = " + (base + 6));
        Pair.exec(d, "DELETE FROM acct WHERE id = " + (base + 6) + "; INSERT INTO acct VALUES (" + (base + 6) + ", 0, " + n + ")");
        // base+7: u +5, d +3, u deletes, d +4: gone
        Pair.exec(u, inc + (base + 7));
        Pair.exec(d, "UPDATE acct SET v = v + 3 WHERE id = " + (base + 7));
        Pair.exec(u, "DELETE FROM acct WHERE id = " + (base + 7));
        Pair.exec(d, "UPDATE acct SET v = v + 4 WHERE id = " + (base + 7));
    }

    private static String expectedAfterDeletes(String d, int base) {
        String n = d + " new";
        return (base + 2) + "=0/" + n + " " + (base + 3) + "=5/inc " + (base + 6) + "=0/" + n;
    }

    @Test
    void aDeleteWinsOverConcurrentUpdatesWhateverTheOrder() throws Exception {
        try (Pair pair = Pair.start(GONE_SCHEMA)) {
            pair.addSync("tables => 'acct', initial => 'none'");
            pair.blue.execute(Pair.DB, "SELECT mmsync.set_column_policy('acct', 'v', 'delta')");
            pair.startAgents();
            Waits.until(Duration.ofSeconds(60), "sync and column policy on green",
                    () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.column_policies") == 1
                            && pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.syncs") == 1);
            pair.stopAgents();
            deletes(pair.blue, pair.green, 21);
            deletes(pair.green, pair.blue, 31);
            pair.startAgents();
            pair.awaitSynced();
            String want = expectedAfterDeletes("blue", 21) + " " + expectedAfterDeletes("green", 31);
            assertEquals(want, rows(pair.blue), "blue");
            assertEquals(want, rows(pair.green), "green");
            assertEquals(Pair.fingerprint(pair.blue, "acct"), Pair.fingerprint(pair.green, "acct"));
        }
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
