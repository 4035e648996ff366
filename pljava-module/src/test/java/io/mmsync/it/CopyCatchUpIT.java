package io.mmsync.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A catch-up whose long insert runs go to the peer as COPY (io.mmsync.engine.apply.CopyRun)
 * carries every common type exactly: text with tabs, newlines, backslashes and unicode, numeric
 * (NaN, big scales), floats (Infinity, NaN, tiny), timestamps (infinity), json (exact text:
 * white space, duplicate keys), jsonb, arrays (two dimensions, NULLs, quotes, braces, empty),
 * bytea, uuid, enum, range, domain, an identity column and a generated one. A table with a
 * composite column is applied by statement (logged at FINE) and arrives exactly too. A COPY that
 * meets a row the peer already has goes again as an upsert.
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class CopyCatchUpIT {
    static final String SCHEMA = "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy'); "
            + "CREATE DOMAIN short_text AS text CHECK (length(VALUE) < 100); "
            + "CREATE TYPE pair_t AS (a int, b text); "
            + "CREATE TABLE everything (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, t text, n numeric, "
            + "n2 numeric(12,4), f float8, r real, i int, si smallint, b boolean, ts timestamptz, tsn timestamp, d date, "
            + "tm time, iv interval, j json, jb jsonb, ia int[], ta text[], ba bytea, u uuid, m mood, st short_text, "
            + "rg int4range, ip inet, twice bigint GENERATED ALWAYS AS (id * 2) STORED); "
            + "CREATE TABLE composite_col (id int PRIMARY KEY, p pair_t, note text); "
            + "CREATE TABLE plaintext (id int PRIMARY KEY, t text)";

    /** Rows {@code from..to} of everything, each column's value cycling through its hard cases. */
    static String rows(int from, int to) {
        return "INSERT INTO everything (t, n, n2, f, r, i, si, b, ts, tsn, d, tm, iv, j, jb, ia, ta, ba, u, m, st, rg, ip) "
                + "SELECT CASE g % 5 WHEN 0 THEN NULL WHEN 1 THEN E'tab\\there\\nnew line\\\\back slash \\\\N \\\\. \"q\" ''s'' ' || g "
                + "  WHEN 2 THEN 'unicode \u00fc \u20ac \uD83D\uDE00 ' || g WHEN 3 THEN E'\\r\\n\\\\x00' ELSE '' END, "
                + "CASE WHEN g % 7 = 0 THEN 'NaN'::numeric WHEN g % 7 = 1 THEN NULL ELSE g * 12345.678901234567890123 END, "
                + "g / 7.0, (CASE g % 4 WHEN 0 THEN 'Infinity' WHEN 1 THEN '1e-300' WHEN 2 THEN 'NaN' ELSE (g / 3.0)::text END)::float8, "
                + "(g / 7.0)::real, g, (g % 100)::smallint, CASE g % 3 WHEN 0 THEN true WHEN 1 THEN false END, "
                + "CASE WHEN g % 11 = 0 THEN 'infinity'::timestamptz ELSE '2026-12-06 12:34:56.789012+05:30'::timestamptz "
                + "  + g * interval '1 hour 1 second' END, '2000-01-01'::timestamp + g * interval '1 day', date '1999-12-31' + g, "
                + "time '00:00:01.5' + g * interval '1 minute', g * interval '1 day 2 hours 3.5 seconds', "
                + "CASE g % 3 WHEN 0 THEN NULL WHEN 1 THEN '{\"b\": 1,  \"a\": [1, 2.50, \"x\\ty\"], \"a\" : 2}'::json ELSE '[ ]'::json END, "
                + "jsonb_build_object('g', g, 's', E'quote \" back \\\\ tab \\t nl \\n', 'nested', jsonb_build_array(1, 2.50, NULL, true, '\u00fc'), "
                + "  'big', 12345678901234567890.123456789), "
                + "CASE g % 4 WHEN 0 THEN NULL WHEN 1 THEN '{}'::int[] WHEN 2 THEN ARRAY[[g, 2], [3, NULL]] ELSE ARRAY[g] END, "
                + "CASE g % 3 WHEN 0 THEN ARRAY['a,b', '{c}', E'back\\\\slash', '\"q\"', NULL, 'NULL', '', E'tab\\tnl\\n', ' sp '] "
                + "  WHEN 1 THEN NULL ELSE ARRAY['\u00fc'] END, "
                + "CASE g % 3 WHEN 0 THEN NULL ELSE decode(md5(g::text) || '00ff5c0a09', 'hex') END, md5(g::text)::uuid, "
                + "(ARRAY['sad', 'ok', 'happy']::mood[])[g % 3 + 1], 'short ' || g, int4range(g, g + 10), "
                + "('10.0.' || (g % 256) || '.1/24')::inet "
                + "FROM generate_series(" + from + ", " + to + ") g";
    }

    @Test
    void everyCommonTypeRoundTripsThroughACopyCatchUp() throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.addSync("");
            Agent.Child blueAgent = pair.childAgent(pair.blue, Map.of("MMSYNC_LOG_LEVEL", "FINE"));
            pair.childAgent(pair.green);
            pair.awaitSyncOnGreen();
            pair.awaitSynced();
            blueAgent.stop();

            pair.blue.execute(Pair.DB, rows(1, 1500));
            pair.blue.execute(Pair.DB, "DO $$ BEGIN FOR t IN 0..29 LOOP " + rows(0, 9)
                    .replace("generate_series(0, 9)", "generate_series(1501 + t * 10, 1510 + t * 10)") + "; COMMIT; END LOOP; END $$");
            pair.blue.execute(Pair.DB, "INSERT INTO composite_col SELECT g, ROW(g, E'x\\t' || g)::pair_t, 'n' "
                    + "FROM generate_series(1, 300) g");
            blueAgent.start();
            pair.awaitSynced();

            assertEquals(1800, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM everything"));
            assertEquals(Pair.fingerprint(pair.blue, "everything"), Pair.fingerprint(pair.green, "everything"));
            assertEquals(300, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM composite_col"));
            assertEquals(Pair.fingerprint(pair.blue, "composite_col"), Pair.fingerprint(pair.green, "composite_col"));
            // the identity column's values came along (not new ones drawn on green)
            assertEquals(pair.blue.queryLong(Pair.DB, "SELECT sum(id * twice) FROM everything"),
                    pair.green.queryLong(Pair.DB, "SELECT sum(id * twice) FROM everything"));
            String log = Files.readString(pair.agentLog(pair.blue));
            assertFalse(log.contains("into \"public\".\"everything\" by statement"), "everything went by COPY:\n" + log);
            assertTrue(log.contains("into \"public\".\"composite_col\" by statement"), "composite_col went by statement (FINE log)");

            // a COPY that meets a row green already has (written there uncaptured, so no conflict):
            // the run goes again as an upsert, and the incoming version wins
            blueAgent.stop();
            pair.green.execute(Pair.DB, "BEGIN; SET LOCAL mmsync.origin = 'test'; "
                    + "INSERT INTO plaintext VALUES (2300, 'green only'); COMMIT");
            pair.blue.execute(Pair.DB, "INSERT INTO plaintext SELECT g, 'row ' || g FROM generate_series(2001, 2600) g");
            blueAgent.start();
            Waits.until(java.time.Duration.ofSeconds(120), "600 plaintext rows on green",
                    () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM plaintext") == 600);
            assertEquals(600, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM plaintext WHERE id > 2000 AND t = 'row ' || id"),
                    "every row of the run as blue wrote it, 2300 included");
        }
    }
}
