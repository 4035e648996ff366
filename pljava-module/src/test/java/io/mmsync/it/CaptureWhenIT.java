package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 15: the rows the applier writes (mmsync.origin set) queue no capture trigger event: a
 * catch-up into the peer calls its capture functions not once (pg_stat_user_functions,
 * track_functions = all), while the peer's own writes are still captured and sent back. Issue 14:
 * with the C capture that is the library's hooks (the triggers have no WHEN clause, which cost
 * every writer's statement), with the PL/pgSQL one the WHEN clause (mmsync._capturing()). An
 * extension updated from 0.1.0 gets the triggers that exist so, with their arguments (json
 * columns) and enabled state kept, and set_capture switches them.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class CaptureWhenIT {
    static final String SCHEMA = "CREATE TABLE t (id int PRIMARY KEY, v text, j json); CREATE TABLE k (v text)";

    /** The calls of the capture functions in {@code node}'s statistics (0 if never called). */
    private static long captureCalls(PgCluster node) {
        return node.queryLong(Pair.DB, "SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions "
                + "WHERE schemaname = 'mmsync' AND funcname IN ('capture', 'capture_keyless')");
    }

    @Test
    void appliedRowsCallNoCaptureFunctionAndLocalRowsAreStillCaptured() {
        try (Pair pair = Pair.start(SCHEMA)) {
            for (PgCluster node : new PgCluster[] {pair.blue, pair.green}) {
                node.execute(Pair.DB, "ALTER DATABASE " + Pair.DB + " SET track_functions = 'all'");
            }
            pair.addSync("insert_only => 'k'");
            pair.startAgents();
            pair.awaitSyncOnGreen();
            pair.blue.execute(Pair.DB, "INSERT INTO t SELECT g, 'v' || g, '{ \"a\" : 1 }' FROM generate_series(1, 1000) g");
            pair.blue.execute(Pair.DB, "DO $$ BEGIN FOR i IN 0..19 LOOP "
                    + "INSERT INTO t SELECT g, 'small', NULL FROM generate_series(1001 + i * 10, 1010 + i * 10) g; COMMIT; END LOOP; END $$");
            pair.blue.execute(Pair.DB, "INSERT INTO k SELECT 'k' || g FROM generate_series(1, 300) g");
            pair.blue.execute(Pair.DB, "UPDATE t SET v = 'updated' WHERE id <= 50");
            pair.blue.execute(Pair.DB, "DELETE FROM t WHERE id > 1150");
            pair.awaitSynced();
            assertEquals(1150, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM t"));
            assertEquals(50, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM t WHERE v = 'updated'"));
            assertEquals(300, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM k"));
            assertEquals(Pair.fingerprint(pair.blue, "t"), Pair.fingerprint(pair.green, "t"));
            pair.stopAgents(); // their sessions end: the statistics of green's applier are reported

            // green's own writes: captured once each, in a session of their own (its statistics are reported at its end)
            pair.green.execute(Pair.DB, "INSERT INTO t VALUES (5001, 'green', NULL), (5002, 'green', NULL); INSERT INTO k VALUES ('g')");
            Waits.until(Duration.ofSeconds(30), "green's statistics count its own 3 captured rows",
                    () -> captureCalls(pair.green) >= 3);
            assertEquals(3, captureCalls(pair.green), "green's capture functions ran for its own 3 rows only, none of the "
                    + "1,670 rows its applier wrote");
            assertEquals(3, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.change_queue WHERE op = 'I'"));
            assertEquals(0, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.change_queue WHERE op <> 'I'"));

            pair.startAgents();
            pair.awaitSynced();
            assertEquals(2, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM t WHERE v = 'green'"));
            assertEquals(301, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM k"));
            assertEquals(Pair.fingerprint(pair.blue, "t"), Pair.fingerprint(pair.green, "t"));
        }
    }

    @Test
    void updateFrom010AddsTheClauseToExistingTriggersKeepingArgumentsAndState() {
        try (PgCluster c = PgCluster.start("capwhen")) {
            c.createDatabase(Pair.DB);
            c.execute(Pair.DB, "CREATE EXTENSION mmsync VERSION '0.1.0'");
            c.execute(Pair.DB, "CREATE TABLE t (id int PRIMARY KEY, v text, j json, \"j é'2\" json); CREATE TABLE k (v text); "
                    + "CREATE TABLE off (id int PRIMARY KEY)");
            c.execute(Pair.DB, "SELECT mmsync.add_node('blue', '" + c.conninfo(Pair.DB) + "', true); "
                    + "SELECT mmsync.add_node('green', 'host=127.0.0.1 port=1 dbname=app'); "
                    + "SELECT mmsync.add_sync('app', '{blue,green}', insert_only => 'k')");
            c.execute(Pair.DB, "ALTER TABLE off DISABLE TRIGGER mmsync_capture");
            String before = triggers(c);
            assertTrue(before.contains("capture('1', '{j,\"j é''2\"}')"), before);
            assertEquals(0, c.queryLong(Pair.DB, "SELECT count(*) FROM pg_trigger WHERE tgname = 'mmsync_capture' AND tgqual IS NOT NULL"));

            c.execute(Pair.DB, "ALTER EXTENSION mmsync UPDATE");

            // issue 14: with the C capture the triggers have no clause (the library's hooks skip them in
            // the applier's statements); with the PL/pgSQL one they have it
            assertEquals("c", c.queryString(Pair.DB, "SELECT mmsync.capture_impl()"));
            String when = " WHEN (mmsync._capturing()) EXECUTE FUNCTION ";
            String withWhen = before.replace(" EXECUTE FUNCTION mmsync.capture", when + "mmsync.capture");
            assertEquals(before, triggers(c));
            // a trigger created now reads the same as an updated one
            c.execute(Pair.DB, "SELECT mmsync._attach_table(1, 't'::regclass)");
            assertEquals(before, triggers(c));
            assertEquals("plpgsql", c.queryString(Pair.DB, "SELECT mmsync.set_capture('plpgsql')"));
            assertEquals(withWhen, triggers(c));
            c.execute(Pair.DB, "SELECT mmsync._attach_table(1, 't'::regclass)");
            assertEquals(withWhen, triggers(c));
            assertEquals("c", c.queryString(Pair.DB, "SELECT mmsync.set_capture('c')"));
            assertEquals(before, triggers(c));

            c.execute(Pair.DB, "INSERT INTO t VALUES (1, 'local', '{ \"x\" : 1 }', NULL); INSERT INTO k VALUES ('local'); "
                    + "INSERT INTO off VALUES (1)");
            c.execute(Pair.DB, "BEGIN; SELECT set_config('mmsync.origin', 'green', true); "
                    + "INSERT INTO t VALUES (2, 'applied', NULL, NULL); INSERT INTO k VALUES ('applied'); COMMIT");
            assertEquals("I:t:{ \"x\" : 1 } I:k:local", queued(c));

            // the clause in each implementation, evaluated by a role with no right on the mmsync schema
            c.execute(Pair.DB, "CREATE ROLE writer LOGIN; GRANT INSERT ON t, k TO writer");
            for (String impl : new String[] {"plpgsql", "c"}) {
                assertEquals(impl, c.queryString(Pair.DB, "SELECT mmsync.set_capture('" + impl + "')"));
                assertEquals(impl.equals("c") ? "c" : "sql", c.queryString(Pair.DB, "SELECT l.lanname FROM pg_proc p "
                        + "JOIN pg_language l ON l.oid = p.prolang WHERE p.oid = 'mmsync._capturing()'::regprocedure"));
                c.execute(Pair.DB, "DELETE FROM mmsync.changes");
                c.execute(Pair.DB, "SET ROLE writer; INSERT INTO t VALUES (10, 'by writer', NULL, NULL); INSERT INTO k VALUES ('" + impl + "'); "
                        + "BEGIN; SELECT set_config('mmsync.origin', 'green', true); INSERT INTO t VALUES (11, 'applied', NULL, NULL); "
                        + "INSERT INTO k VALUES ('applied'); COMMIT");
                assertEquals("I:t:by writer I:k:" + impl, queued(c), impl);
                assertEquals(impl.equals("c") ? before : withWhen, triggers(c), impl);
                c.execute(Pair.DB, "DELETE FROM t WHERE id >= 10; DELETE FROM mmsync.changes");
            }

            // issue 14: the C capture's hooks cover an applied COPY FROM too (no capture function called)
            // and put the table's triggers back after it: the same session's own COPY is captured
            c.execute(Pair.DB, "ALTER DATABASE " + Pair.DB + " SET track_functions = 'all'");
            // (the session loads the library first, as the applier does at connect: PeerStore.requireExtension)
            c.execute(Pair.DB, "SELECT mmsync._capturing(); BEGIN; SELECT set_config('mmsync.origin', 'green', true); "
                    + "COPY t (id, v) FROM PROGRAM 'printf ''20\\tcopied\\n21\\tcopied\\n'''; COMMIT; "
                    + "COPY t (id, v) FROM PROGRAM 'printf ''22\\tmine\\n'''");
            assertEquals(3, c.queryLong(Pair.DB, "SELECT count(*) FROM t WHERE id BETWEEN 20 AND 22"));
            assertEquals("I:t:mine", queued(c));
            Waits.until(Duration.ofSeconds(30), "the COPY session's function statistics are reported",
                    () -> captureCalls(c) >= 1);
            assertEquals(1, captureCalls(c), "the applied COPY called no capture function, the session's own one once");
        }
    }

    private static String queued(PgCluster c) {
        return c.queryString(Pair.DB, "SELECT string_agg(op::text || ':' || relid::regclass::text"
                + " || ':' || coalesce(new ->> 'j', new ->> 'v'), ' ' ORDER BY id) FROM mmsync.change_queue WHERE op = 'I'");
    }

    /** The capture triggers' definitions and enabled states, by table. */
    private static String triggers(PgCluster c) {
        return c.queryString(Pair.DB, "SELECT string_agg(pg_get_triggerdef(oid) || ' enabled=' || tgenabled::text, E'\\n' "
                + "ORDER BY tgrelid::regclass::text) FROM pg_trigger WHERE tgname = 'mmsync_capture'");
    }
}
