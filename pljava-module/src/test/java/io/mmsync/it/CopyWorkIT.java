package io.mmsync.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The copy's two ways of scheduling (CopyWork): without replica mode on the peer (its foreign key
 * triggers fire) table by table, parents first, with two workers whose connections go from table to
 * table; in replica mode every table's ranges in one queue. Both end with green equal to blue.
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class CopyWorkIT {
    static final String SCHEMA = "CREATE TABLE a_child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES z_parent, v text);"
            .replace("CREATE TABLE a_child", "CREATE TABLE z_parent (id int PRIMARY KEY, v text); CREATE TABLE a_child")
            + "CREATE TABLE m_grandchild (id int PRIMARY KEY, child_id int NOT NULL REFERENCES a_child, v text);"
            + "CREATE INDEX m_grandchild_child ON m_grandchild (child_id);"
            + "CREATE TABLE solo (id int PRIMARY KEY, v text);";
    static final String DATA = "INSERT INTO z_parent SELECT g, 'p' || g FROM generate_series(1, 3000) g;"
            + "INSERT INTO a_child SELECT g, 1 + g % 3000, 'c' || g FROM generate_series(1, 6000) g;"
            + "INSERT INTO m_grandchild SELECT g, 1 + g % 6000, 'g' || g FROM generate_series(1, 9000) g;"
            + "INSERT INTO solo SELECT g, 's' FROM generate_series(1, 10) g; ANALYZE;";
    static final List<String> TABLES = List.of("z_parent", "a_child", "m_grandchild", "solo");

    @Test
    void withoutReplicaModeTablesGoParentsFirstOneByOne() throws Exception {
        copyAndCompare("-Dmmsync.copy.replicaRole=false", 4);
    }

    @Test
    void inReplicaModeAllRangesShareOneQueue() throws Exception {
        copyAndCompare("", 4);
    }

    /**
     * Each range leaves the origin in key order (ORDER BY the key, by its index), whatever the
     * origin's heap order: keys unrelated to it (random text ids, as Mattermost's) reach the target's
     * primary key as ascending runs, not as one random insert per row. One worker appends the ranges
     * in turn, so green's heap holds the rows in key order, where blue's holds them in insert order.
     */
    @Test
    void rangesArriveInKeyOrder() throws Exception {
        try (Pair pair = Pair.start("CREATE TABLE rnd (id text PRIMARY KEY, n int, v text);")) {
            pair.blue.execute(Pair.DB, "INSERT INTO rnd SELECT md5('k' || g), g, 'v' FROM generate_series(1, 20000) g; ANALYZE rnd;");
            String descents = "SELECT count(*) FROM (SELECT id < lag(id) OVER (ORDER BY ctid) AS down FROM rnd) x WHERE down";
            assertTrue(pair.blue.queryLong(Pair.DB, descents) > 5_000, "blue's heap is not in key order");
            // the plan's bounds come from a page sample: 200 plans of this 170-page table, each split in
            // ranges (a 2% sample of its pages drew none at all about once in 30 plans)
            long fewest = pair.blue.queryLong(Pair.DB, "SELECT min((SELECT count(*) FROM mmsync._copy_bounds('rnd'::regclass, 1000 + 0 * g))) "
                    + "FROM generate_series(1, 200) g");
            assertTrue(fewest >= 10, "a plan of 20,000 rows in ranges of 1,000 had " + fewest + " bounds");
            pair.addSync("initial => 'copy'");
            pair.childAgent(pair.blue, Map.of("JAVA_TOOL_OPTIONS", "-Dmmsync.copy.rangeRows=1000 -Dmmsync.copy.workers=1"));
            pair.childAgent(pair.green);
            Waits.until(Duration.ofSeconds(300), "copy finished on green",
                    () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copies WHERE finished_at IS NOT NULL") == 1);
            assertEquals(Pair.fingerprint(pair.blue, "rnd"), Pair.fingerprint(pair.green, "rnd"));
            assertEquals(20_000, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM rnd"));
            assertTrue(pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copy_ranges") >= 10, "copied in ranges");
            // rows of one width, so a range's rows do not go into room left on pages of an earlier one;
            // before the ORDER BY green held them in blue's heap order within each range (about 10,000 descents)
            long down = pair.green.queryLong(Pair.DB, descents);
            assertTrue(down < 100, down + " rows of green's heap follow a greater key: not in key order");
        }
    }

    private static void copyAndCompare(String options, int expectedTables) throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.blue.execute(Pair.DB, DATA);
            pair.addSync("initial => 'copy'");
            Map<String, String> env = Map.of("JAVA_TOOL_OPTIONS", "-Dmmsync.copy.rangeRows=500 -Dmmsync.copy.workers=2 " + options);
            pair.childAgent(pair.blue, env);
            pair.childAgent(pair.green);
            Waits.until(Duration.ofSeconds(300), "copy finished on green",
                    () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copies WHERE finished_at IS NOT NULL") == 1);
            pair.awaitSynced();
            for (String t : TABLES) {
                assertEquals(Pair.fingerprint(pair.blue, t), Pair.fingerprint(pair.green, t), t);
            }
            assertEquals(expectedTables, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copy_status() WHERE state = 'done'"));
            assertEquals(18_010, pair.blue.queryLong(Pair.DB, "SELECT sum(rows_done) FROM mmsync.copy_status()"));
            assertEquals(1, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM pg_indexes WHERE indexname = 'm_grandchild_child'"));
            assertEquals(0, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copy_indexes"));
            String log = Files.readString(pair.agentLog(pair.blue));
            assertTrue(log.contains("\"public\".\"m_grandchild\": 1 secondary indexes built in"), "grandchild's index built after its rows");
            // two workers at most, each with one reader on blue and one writer on green for the whole copy
            long workers = log.lines().filter(l -> l.contains("worker connected")).count();
            assertTrue(workers >= 1 && workers <= 2, workers + " workers connected");
        }
    }
}
