package io.mmsync.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The sender reads pages with one of two queries (io.mmsync.engine.send.ChangeReader): with up to
 * 16 synced tables through a nested loop over them, with more as a materialized page joined to
 * them. A backlog of inserts (10-row transactions), updates (two moving a key, one of them
 * composite), deletes over 3 synced tables, and the same over 21, arrives exactly either way and
 * in order (a row changed several times ends as its last version).
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class PageReadIT {
    private static final int TABLES = 20;

    private static String schema() {
        StringBuilder sb = new StringBuilder("CREATE TABLE pair_key (a int, b text, v int, PRIMARY KEY (a, b))");
        for (int i = 1; i <= TABLES; i++) {
            sb.append(String.format("; CREATE TABLE t%02d (id int PRIMARY KEY, v text, n int)", i));
        }
        return sb.toString();
    }

    /** A backlog over tables t01..t{@code upTo} and pair_key: 10-row transactions, then changes of those rows. */
    private static String backlog(int upTo, int base) {
        return "DO $$ BEGIN FOR g IN " + base + ".." + (base + 599) + " LOOP "
                + "EXECUTE format('INSERT INTO t%s VALUES ($1, $2, $1)', lpad(((g % " + upTo + ") + 1)::text, 2, '0')) "
                + "USING g, E'row \\t' || g; "
                + "INSERT INTO pair_key VALUES (g, 'k' || g, g); "
                + "IF g % 10 = 9 THEN COMMIT; END IF; END LOOP; "
                + "FOR g IN " + base + ".." + (base + 599) + " BY 3 LOOP "
                + "EXECUTE format('UPDATE t%s SET v = v || '' upd'', n = n + 1 WHERE id = $1', lpad(((g % " + upTo + ") + 1)::text, 2, '0')) USING g; "
                + "UPDATE pair_key SET v = v * 2 WHERE a = g AND b = 'k' || g; "
                + "END LOOP; COMMIT; "
                + "FOR g IN " + base + ".." + (base + 599) + " BY 7 LOOP "
                + "EXECUTE format('DELETE FROM t%s WHERE id = $1', lpad(((g % " + upTo + ") + 1)::text, 2, '0')) USING g; "
                + "END LOOP; "
                + "UPDATE t01 SET id = id + 100000 WHERE id = " + (base + upTo) + "; "
                + "UPDATE pair_key SET b = 'moved' WHERE a = " + (base + 1) + "; END $$";
    }

    @Test
    void fewTablesThroughTheNestedLoop() throws Exception {
        catchUp("tables => 'public.t01, public.t02, public.pair_key'", 2, "3 synced tables: pages are read through a nested loop");
    }

    @Test
    void manyTablesAsAMaterializedPage() throws Exception {
        catchUp("", TABLES, (TABLES + 1) + " synced tables: pages are read as a materialized page");
    }

    private static void catchUp(String syncArgs, int tables, String logLine) throws Exception {
        try (Pair pair = Pair.start(schema())) {
            pair.addSync(syncArgs);
            Agent.Child blueAgent = pair.childAgent(pair.blue, Map.of("MMSYNC_LOG_LEVEL", "FINE"));
            pair.childAgent(pair.green);
            pair.awaitSyncOnGreen();
            pair.awaitSynced();
            blueAgent.stop();
            pair.blue.execute(Pair.DB, backlog(tables, 1000));
            blueAgent.start();
            pair.awaitSynced();
            assertSame(pair, tables);
            assertTrue(Files.readString(pair.agentLog(pair.blue)).contains(logLine), "FINE log: " + logLine);
        }
    }

    private static void assertSame(Pair pair, int tables) {
        long rows = 0;
        for (int i = 1; i <= tables; i++) {
            String t = String.format("t%02d", i);
            assertEquals(Pair.fingerprint(pair.blue, t), Pair.fingerprint(pair.green, t), t);
            rows += pair.green.queryLong(Pair.DB, "SELECT count(*) FROM " + t);
        }
        assertEquals(Pair.fingerprint(pair.blue, "pair_key"), Pair.fingerprint(pair.green, "pair_key"), "pair_key");
        assertEquals(pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM pair_key"), pair.green.queryLong(Pair.DB, "SELECT count(*) FROM pair_key"));
        assertTrue(rows > 0, "rows arrived");
    }
}
