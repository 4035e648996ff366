package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Issue 15 (CPU per change): a run of delta updates that updates a row a few times (at most
 * RunExecutor.MAX_LAYERS) applies as layers of distinct rows, each with the statement whose images
 * are parsed once; a hotter row takes the aggregating statement. Either way the peer ends where
 * the origin is: delta columns with every delta added, the other columns at the last image. Which
 * way it went shows in the peer's count of updated row versions (one per layer and row, or one per
 * row).
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class DeltaLayersIT {
    static final String SCHEMA = "CREATE TABLE acc (id int PRIMARY KEY, bal bigint NOT NULL DEFAULT 0, note text);"
            + "INSERT INTO acc (id) SELECT g FROM generate_series(1, 5) g;";

    private static long updatedOnGreen(Pair pair) {
        return pair.green.queryLong(Pair.DB, "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'acc'");
    }

    @Test
    void repeatedRowsApplyAsLayersOrAggregatedAndConverge() {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.addSync("initial => 'none'");
            pair.blue.execute(Pair.DB, "SELECT mmsync.set_column_policy('acc', 'bal', 'delta')");
            pair.startAgents();
            pair.awaitSyncOnGreen();
            Waits.until(Duration.ofSeconds(60), "the delta policy on green",
                    () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.column_policies") == 1);
            pair.stopAgents();
            long before = updatedOnGreen(pair);

            // one transaction, one page, one run: row 1 twice, row 2 once, row 3 three times
            pair.blue.execute(Pair.DB, "BEGIN; UPDATE acc SET bal = bal + 10, note = 'a1' WHERE id = 1;"
                    + "UPDATE acc SET bal = bal + 20, note = 'b1' WHERE id = 2; UPDATE acc SET bal = bal + 11, note = 'a2' WHERE id = 1;"
                    + "UPDATE acc SET bal = bal + 1 WHERE id = 3; UPDATE acc SET bal = bal + 2 WHERE id = 3;"
                    + "UPDATE acc SET bal = bal + 3, note = 'c3' WHERE id = 3; COMMIT");
            // green's own, later update of row 3 meanwhile: its delta merged, its note (none) wins (conflict latest)
            pair.green.execute(Pair.DB, "UPDATE acc SET bal = bal + 100 WHERE id = 3");
            pair.startAgents();
            pair.awaitSynced();
            assertEquals("1:21:a2 2:20:b1 3:106: 4:0: 5:0:", rows(pair.green));
            assertEquals(rows(pair.blue), rows(pair.green));
            Waits.until(Duration.ofSeconds(30), "green's statistics count the applied updates",
                    () -> updatedOnGreen(pair) >= before + 7);
            assertEquals(before + 7, updatedOnGreen(pair), "three layers (rows 1, 2, 3; 1, 3; 3): 6 row versions, "
                    + "and green's own update of row 3, sent back to blue");
            pair.stopAgents();

            // row 4 four times: the aggregating statement, one row version
            long before2 = updatedOnGreen(pair);
            pair.blue.execute(Pair.DB, "BEGIN; UPDATE acc SET bal = bal + 1 WHERE id = 4; UPDATE acc SET bal = bal + 2 WHERE id = 4;"
                    + "UPDATE acc SET bal = bal + 3 WHERE id = 4; UPDATE acc SET bal = bal + 4, note = 'd4' WHERE id = 4;"
                    + "UPDATE acc SET bal = bal + 5 WHERE id = 5; COMMIT");
            pair.startAgents();
            pair.awaitSynced();
            assertEquals("1:21:a2 2:20:b1 3:106: 4:10:d4 5:5:", rows(pair.green));
            assertEquals(rows(pair.blue), rows(pair.green));
            Waits.until(Duration.ofSeconds(30), "green's statistics count the applied updates",
                    () -> updatedOnGreen(pair) >= before2 + 2);
            assertEquals(before2 + 2, updatedOnGreen(pair), "rows 4 and 5, one row version each");
            assertEquals(Pair.fingerprint(pair.blue, "acc"), Pair.fingerprint(pair.green, "acc"));
        }
    }

    private static String rows(PgCluster c) {
        return c.queryString(Pair.DB, "SELECT string_agg(id || ':' || bal || ':' || coalesce(note, ''), ' ' ORDER BY id) FROM acc");
    }
}
