package io.mmsync.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 15: a catch-up of inserts into one table goes from blue's COPY TO straight into green's
 * COPY FROM (io.mmsync.engine.apply.CopyRelay, FINE "relayed page of ..."), and arrives exactly:
 * every scalar type's hard cases (text with tabs, newlines, backslashes, unicode; NaN, Infinity,
 * big numerics; json's exact text; jsonb objects, strings and numbers; bytea; an identity column),
 * in order with the updates that follow. A page the relay cannot keep a guarantee for goes the
 * plain way, logged: a table with an array column, a table green has a queued change of (the
 * conflict is then decided and logged as always), and a row green's table refuses (set aside).
 */
@Timeout(value = 900, unit = TimeUnit.SECONDS)
class RelayIT {
    static final String SCHEMA = "CREATE TABLE kinds (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, t text, n numeric, "
            + "f float8, r real, b boolean, ts timestamptz, d date, iv interval, j json, jb jsonb, ba bytea, u uuid, "
            + "vc varchar(40), twice bigint GENERATED ALWAYS AS (id * 2) STORED); "
            + "CREATE TABLE arr (id int PRIMARY KEY, a int[]); "
            + "CREATE TABLE posts (id int PRIMARY KEY, v text NOT NULL); "
            + "CREATE TABLE checked (id int PRIMARY KEY, v text NOT NULL); "
            + "CREATE TABLE runs_a (id int PRIMARY KEY, v text NOT NULL); CREATE TABLE runs_b (id int PRIMARY KEY, v text)";
    /** Several plain pages (5000): a relayed page (up to 100,000) and the plain pages after a cut. */
    static final int ROWS = 45_000;

    static String kindRows(int n) {
        return "INSERT INTO kinds (t, n, f, r, b, ts, d, iv, j, jb, ba, u, vc) SELECT "
                + "CASE g % 5 WHEN 0 THEN NULL WHEN 1 THEN E'tab\\there\\nnew line\\\\back slash \\\\N \\\\. \"q\" ''s'' ' || g "
                + "  WHEN 2 THEN 'unicode \u00fc \u20ac \uD83D\uDE00 ' || g WHEN 3 THEN E'\\r\\n\\\\x00' ELSE '' END, "
                + "CASE WHEN g % 7 = 0 THEN 'NaN'::numeric WHEN g % 7 = 1 THEN NULL ELSE g * 12345.678901234567890123 END, "
                + "(CASE g % 4 WHEN 0 THEN 'Infinity' WHEN 1 THEN '1e-300' WHEN 2 THEN 'NaN' ELSE (g / 3.0)::text END)::float8, "
                + "(g / 7.0)::real, CASE g % 3 WHEN 0 THEN true WHEN 1 THEN false END, "
                + "CASE WHEN g % 11 = 0 THEN 'infinity'::timestamptz ELSE '2026-12-06 12:34:56.789012+05:30'::timestamptz "
                + "  + g * interval '1 hour 1 second' END, date '1999-12-31' + g, g * interval '1 day 2 hours 3.5 seconds', "
                + "CASE g % 3 WHEN 0 THEN NULL WHEN 1 THEN '{\"b\": 1,  \"a\": [1, 2.50, \"x\\ty\"], \"a\" : 2}'::json ELSE '\"s\\\\t\"'::json END, "
                + "CASE g % 4 WHEN 0 THEN jsonb_build_object('g', g, 's', E'quote \" back \\\\ tab \\t nl \\n', "
                + "  'nested', jsonb_build_array(1, 2.50, NULL, true, '\u00fc'), 'big', 12345678901234567890.123456789) "
                + "  WHEN 1 THEN to_jsonb(E'a string\\twith tab ' || g) WHEN 2 THEN to_jsonb(g * 1.5) ELSE NULL END, "
                + "CASE g % 3 WHEN 0 THEN NULL ELSE decode(md5(g::text) || '00ff5c0a09', 'hex') END, md5(g::text)::uuid, "
                + "'vc ' || g FROM generate_series(1, " + n + ") g";
    }

    /** The agent log's lines about the relay and pages read the plain way (for failure messages). */
    static String relayLines(String log) {
        StringBuilder sb = new StringBuilder();
        for (String line : log.split("\n")) {
            if (line.contains("relay") || line.contains("plain way") || line.contains("page of")) {
                sb.append(line, 0, Math.min(line.length(), 300)).append('\n');
            }
        }
        return sb.toString();
    }

    @Test
    void insertsAreRelayedExactlyAndDoubtfulPagesGoThePlainWay() throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.addSync("");
            Agent.Child blueAgent = pair.childAgent(pair.blue, Map.of("MMSYNC_LOG_LEVEL", "FINE"));
            Agent.Child greenAgent = pair.childAgent(pair.green);
            pair.awaitSyncOnGreen();
            pair.awaitSynced();

            // every scalar type, then updates of some rows (after the inserts: per-row order); an array column
            blueAgent.stop();
            pair.blue.execute(Pair.DB, kindRows(ROWS));
            pair.blue.execute(Pair.DB, "UPDATE kinds SET t = coalesce(t, '') || ' updated' WHERE id % 1000 = 0");
            pair.blue.execute(Pair.DB, "INSERT INTO arr SELECT g, ARRAY[g, NULL] FROM generate_series(1, 12000) g");
            blueAgent.start();
            pair.awaitSynced();
            assertEquals(ROWS, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM kinds"));
            assertEquals(Pair.fingerprint(pair.blue, "kinds"), Pair.fingerprint(pair.green, "kinds"));
            assertEquals(ROWS / 1000, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM kinds WHERE t LIKE '% updated'"));
            assertEquals(Pair.fingerprint(pair.blue, "arr"), Pair.fingerprint(pair.green, "arr"));
            String log = Files.readString(pair.agentLog(pair.blue));
            assertTrue(log.contains("inserts into \"public\".\"kinds\" in "), "kinds went by relayed pages (FINE log):\n" + relayLines(log));
            assertTrue(log.contains("inserts into \"public\".\"kinds\" after "), "the first full page of kinds was relayed "
                    + "from its first change (FINE log):\n" + relayLines(log));
            assertTrue(log.contains("(cut before a change of another kind)"), "a relayed page of kinds ended before the "
                    + "first update (FINE log):\n" + relayLines(log));
            assertTrue(log.contains("pages of inserts into \"public\".\"arr\" are read the plain way"),
                    "arr (an array column) went the plain way (FINE log)");

            // green has a queued change of posts (its agent stopped): the relay declines, the plain
            // path finds the competitor and decides the conflict (latest: green's later insert stays)
            blueAgent.stop();
            greenAgent.stop();
            pair.blue.execute(Pair.DB, "INSERT INTO posts SELECT g, 'blue ' || g FROM generate_series(1, " + ROWS + ") g");
            pair.green.execute(Pair.DB, "INSERT INTO posts VALUES (30000, 'green')");
            blueAgent.start();
            Waits.until(Duration.ofSeconds(300), "blue's posts on green",
                    () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM posts") == ROWS
                            && Pair.applied(pair.green, "blue") > 0
                            && pair.blue.queryLong(Pair.DB, "SELECT backlog FROM mmsync.status() WHERE peer = 'green'") == 0);
            assertEquals("green", pair.green.queryString(Pair.DB, "SELECT v FROM posts WHERE id = 30000"));
            assertEquals(1, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.conflicts WHERE kind = 'insert_insert' "
                    + "AND losing_row->>'id' = '30000'"));
            assertEquals(ROWS - 1, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM posts WHERE v = 'blue ' || id"));
            log = Files.readString(pair.agentLog(pair.blue));
            assertTrue(log.contains("inserts into \"public\".\"posts\" goes the plain way: ERROR: mmsync: the relayed page "
                    + "takes the full apply: queued change"), "the relay declined posts (FINE log):\n" + relayLines(log));
            greenAgent.start();
            pair.awaitSynced();
            assertEquals(Pair.fingerprint(pair.blue, "posts"), Pair.fingerprint(pair.green, "posts"));

            // runs of inserts into two tables back to back, each longer than a page, then an update: each run's
            // first page is relayed from its first change, each relayed page cut before the other table's run
            blueAgent.stop();
            pair.blue.execute(Pair.DB, "INSERT INTO runs_a SELECT g, 'a ' || g FROM generate_series(1, 12000) g");
            pair.blue.execute(Pair.DB, "INSERT INTO runs_b SELECT g, CASE WHEN g % 3 = 0 THEN NULL ELSE E'b\\t' || g END "
                    + "FROM generate_series(1, 9000) g");
            pair.blue.execute(Pair.DB, "INSERT INTO runs_a SELECT g, 'a ' || g FROM generate_series(12001, 20000) g");
            pair.blue.execute(Pair.DB, "UPDATE runs_b SET v = 'b updated' WHERE id % 100 = 0");
            blueAgent.start();
            pair.awaitSynced();
            assertEquals(20_000, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM runs_a"));
            assertEquals(Pair.fingerprint(pair.blue, "runs_a"), Pair.fingerprint(pair.green, "runs_a"));
            assertEquals(Pair.fingerprint(pair.blue, "runs_b"), Pair.fingerprint(pair.green, "runs_b"));
            assertEquals(90, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM runs_b WHERE v = 'b updated'"));
            log = Files.readString(pair.agentLog(pair.blue));
            assertTrue(log.contains("inserts into \"public\".\"runs_a\" after ") && log.contains("inserts into \"public\".\"runs_b\" after ")
                    && log.contains("inserts into \"public\".\"runs_b\" in "),
                    "the first page of each run was relayed from its first change (FINE log):\n" + relayLines(log));

            // a row green's table refuses: the relayed page rolls back, the plain path sets that change aside
            pair.green.execute(Pair.DB, "ALTER TABLE checked ADD CONSTRAINT not_bad CHECK (v <> 'bad')");
            blueAgent.stop();
            pair.blue.execute(Pair.DB, "INSERT INTO checked SELECT g, CASE g WHEN 25000 THEN 'bad' ELSE 'ok ' || g END "
                    + "FROM generate_series(1, " + ROWS + ") g");
            blueAgent.start();
            Waits.until(Duration.ofSeconds(300), "checked's rows on green, one set aside",
                    () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM checked") == ROWS - 1
                            && pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.set_aside WHERE origin = 'blue'") == 1);
            assertEquals(0, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM checked WHERE id = 25000"));
            assertEquals(ROWS - 1, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM checked WHERE v = 'ok ' || id"));
            log = Files.readString(pair.agentLog(pair.blue));
            assertTrue(log.contains("inserts into \"public\".\"checked\" goes the plain way"), "the relayed page of checked "
                    + "was given back (FINE log):\n" + relayLines(log));
        }
    }
}
