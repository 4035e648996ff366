package io.mmsync.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code mmsync compare} finds exactly the keys changed behind the sync's back (capture off), on
 * either node, while writes keep both queues busy, and nothing else; mmsync.compare() shows them.
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class CompareIT {
    /** Rows of the compared table: 100,000 by default, -Dmmsync.compare.rows=1000000 for the size. */
    static final int ROWS = Integer.getInteger("mmsync.compare.rows", 100_000);
    static final String SCHEMA = "CREATE TABLE big (id bigint PRIMARY KEY, a text, n int, at timestamptz);"
            + "INSERT INTO big SELECT g, md5(g::text), g % 1000, '2026-01-01'::timestamptz + g * interval '1 s' "
            + "FROM generate_series(1, " + ROWS + ") g; ANALYZE big;"
            + "CREATE TABLE load (id bigint PRIMARY KEY, n int NOT NULL, v text);"
            + "CREATE TABLE \"Odd Keys\" (a text, b int, v text, PRIMARY KEY (a, b));"
            + "INSERT INTO \"Odd Keys\" SELECT 'k\"' || g, g, 'v' FROM generate_series(1, 100) g;";

    @Test
    void findsExactlyTheKeysChangedBehindTheSyncsBackWhileWritesRun() throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.addSync("initial => 'none'"); // both nodes made the same rows
            pair.startAgents();
            pair.awaitSyncOnGreen();
            String db = pair.blue.conninfo(Pair.DB);

            Cli same = Cli.run("compare", "--db", db, "app");
            assertEquals(0, same.exit, same.toString());
            assertTrue(same.out.startsWith("identical: sync app, 3 tables, " + String.format("%,d", ROWS + 100) + " rows"), same.out);

            // behind the sync's back: capture off for these transactions
            Pair.exec(pair.green, "BEGIN; SET LOCAL mmsync.origin = 'test'; UPDATE big SET a = 'drift' WHERE id = 10;"
                    + "DELETE FROM big WHERE id = 20; INSERT INTO big VALUES (" + (ROWS + 1) + ", 'extra', 1, now());"
                    + "UPDATE \"Odd Keys\" SET v = 'w' WHERE a = 'k\"7' AND b = 7; COMMIT");
            Pair.exec(pair.blue, "BEGIN; SET LOCAL mmsync.origin = 'test'; UPDATE big SET n = -1 WHERE id = 30; COMMIT");

            AtomicBoolean stop = new AtomicBoolean();
            Writer onBlue = new Writer(pair.blue, "load", 1, 2, stop, 2000);
            Writer onGreen = new Writer(pair.green, "load", 2, 2, stop, 2000);
            onBlue.start("writer-blue");
            onGreen.start("writer-green");
            Waits.until(java.time.Duration.ofSeconds(60), "writes flowing", () -> onBlue.changes() > 50 && onGreen.changes() > 50);
            Cli diff;
            try {
                diff = Cli.run("compare", "--db", db, "app");
            } finally {
                stop.set(true);
            }
            onBlue.check();
            onGreen.check();
            if (diff.exit != 1 || !diff.out.startsWith("different: sync app, 5 keys differ between blue and green")) {
                // rows of the load table reported as different: in flight after all, or lost?
                String now = Diagnose.state(pair, Diagnose.loadKeys(diff.out));
                pair.awaitSynced();
                throw new AssertionError(diff + "\nthe load table's rows named above, then: " + now + "\nonce synced: "
                        + Diagnose.rowsOnBoth(pair, Diagnose.loadKeys(diff.out)) + "; load fingerprints " + Pair.fingerprint(pair.blue, "load")
                        + " on blue, " + Pair.fingerprint(pair.green, "load") + " on green");
            }
            assertEquals("public.\"Odd Keys\" {\"a\": \"k\\\"7\", \"b\": 7} differs|public.big {\"id\": 10} differs|public.big {\"id\": 20} missing on peer"
                            + "|public.big {\"id\": 30} differs|public.big {\"id\": " + (ROWS + 1) + "} missing here",
                    pair.blue.queryString(Pair.DB, "SELECT string_agg(\"table\" || ' ' || key || ' ' || CASE WHEN here IS NULL "
                            + "THEN 'missing here' WHEN peer IS NULL THEN 'missing on peer' ELSE 'differs' END, '|' "
                            + "ORDER BY \"table\" <> 'public.\"Odd Keys\"', (key->>'id')::bigint) FROM mmsync.compare('app')"));
            assertEquals("drift", pair.blue.queryString(Pair.DB, "SELECT peer->>'a' FROM mmsync.compare('app', 'big') WHERE key = '{\"id\": 10}'"));
            assertEquals("-1", pair.blue.queryString(Pair.DB, "SELECT here->>'n' FROM mmsync.compare('app', 'big') WHERE key = '{\"id\": 30}'"));

            // the table alone; the load table, written all along, is identical once drained
            pair.awaitSynced();
            Cli load = Cli.run("compare", "--db", pair.green.conninfo(Pair.DB), "app", "load");
            assertEquals(0, load.exit, load.toString());
            assertEquals(Pair.fingerprint(pair.blue, "load"), Pair.fingerprint(pair.green, "load"));
        }
    }

    @Test
    void badInputIsAnErrorNamingTheObject() {
        try (Pair pair = Pair.start("CREATE TABLE t (id int PRIMARY KEY); CREATE TABLE outside (id int PRIMARY KEY);")) {
            pair.blue.execute(Pair.DB, "SELECT mmsync.add_sync('app', '{blue,green}', tables => 't')");
            String db = pair.blue.conninfo(Pair.DB);
            Cli outside = Cli.run("compare", "--db", db, "app", "outside");
            assertEquals(2, outside.exit, outside.toString());
            assertTrue(outside.err.contains("table outside is not in sync \"app\""), outside.err);
            Cli noSync = Cli.run("compare", "--db", db, "nosuch");
            assertEquals(2, noSync.exit, noSync.toString());
            assertTrue(noSync.err.contains("sync \"nosuch\" does not exist"), noSync.err);
            String err = Errors.of(() -> pair.blue.execute(Pair.DB, "SELECT * FROM mmsync.compare('app', 'outside')"));
            assertTrue(err.contains("table public.outside is not in sync \"app\""), err);
            err = Errors.of(() -> pair.blue.execute(Pair.DB, "SELECT * FROM mmsync.compare('app')"));
            assertTrue(err.contains("sync \"app\" has not been compared yet"), err);
            // green has not received the table (no agent): the peer lacks the extension's sync, not the table
            pair.green.execute(Pair.DB, "DROP TABLE t");
            Cli missing = Cli.run("compare", "--db", db, "app");
            assertEquals(2, missing.exit, missing.toString());
            assertTrue(missing.err.contains("table \"public\".\"t\" does not exist on node green"), missing.err);
            assertEquals("failed", pair.blue.queryString(Pair.DB, "SELECT outcome FROM mmsync.compare_runs ORDER BY id DESC LIMIT 1"));
        }
    }
}
