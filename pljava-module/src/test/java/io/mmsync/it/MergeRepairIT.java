package io.mmsync.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * initial => 'merge' of two nodes that ran apart (inserts, updates, deletes on each), then
 * {@code mmsync repair} of rows changed behind the sync's back, by strategy or direction.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class MergeRepairIT {
    static final String SCHEMA = "CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL, n int NOT NULL);"
            + "INSERT INTO items SELECT g, 'orig', g FROM generate_series(1, 1000) g;";

    @Test
    void divergedNodesMergeThenRepairFixesDriftInTheDirectionAsked() throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.blue.execute(Pair.DB, "INSERT INTO items SELECT g, 'blue new', g FROM generate_series(1001, 1010) g;"
                    + "UPDATE items SET v = 'blue' WHERE id BETWEEN 1 AND 5; DELETE FROM items WHERE id BETWEEN 20 AND 24");
            pair.green.execute(Pair.DB, "INSERT INTO items SELECT g, 'green new', g FROM generate_series(2001, 2010) g;"
                    + "UPDATE items SET v = 'green' WHERE id BETWEEN 3 AND 8; DELETE FROM items WHERE id BETWEEN 30 AND 34;"
                    + "DELETE FROM items WHERE id = 1");
            pair.addSync("conflict => 'prefer', prefer => 'green', initial => 'merge'");
            pair.startAgents();
            Waits.until(Duration.ofSeconds(120), "merge finished",
                    () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.copies WHERE finished_at IS NOT NULL") == 1);
            pair.awaitSynced();
            assertEquals(Pair.fingerprint(pair.blue, "items"), Pair.fingerprint(pair.green, "items"));
            assertEquals(1020, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM items"), "the keys of both nodes");
            assertEquals("1=blue 2=orig 3=green 4=green 5=green 6=green 7=green 8=green 20=orig 30=orig 1001=blue new 2001=green new",
                    pair.blue.queryString(Pair.DB, "SELECT string_agg(id || '=' || v, ' ' ORDER BY id) FROM items "
                            + "WHERE id IN (1, 2, 3, 4, 5, 6, 7, 8, 20, 30, 1001, 2001)"));
            // the rows both held differently, reconciled by the strategy (green wins), logged where they changed
            assertEquals("2 3 4 5 6 7 8", pair.blue.queryString(Pair.DB, "SELECT string_agg(key::jsonb->>'id', ' ' ORDER BY (key::jsonb->>'id')::int) "
                    + "FROM mmsync.conflicts WHERE kind = 'merge'"));
            assertEquals("blue", pair.blue.queryString(Pair.DB, "SELECT losing_row->>'v' FROM mmsync.conflicts WHERE key::jsonb->>'id' = '3'"));
            assertEquals(0, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.conflicts WHERE kind = 'merge'"));
            // through the queues: each node queued the rows it gave the other (inserts, and green's updates of rows both held)
            assertEquals("I:16", pair.blue.queryString(Pair.DB, "SELECT string_agg(op::text || ':' || n, ' ' ORDER BY op) FROM "
                    + "(SELECT op, count(*) n FROM mmsync.repair_changes WHERE kind = 'merge' GROUP BY op) x"));
            assertEquals("I:15 U:7", pair.green.queryString(Pair.DB, "SELECT string_agg(op::text || ':' || n, ' ' ORDER BY op) FROM "
                    + "(SELECT op, count(*) n FROM mmsync.repair_changes WHERE kind = 'merge' GROUP BY op) x"));
            assertEquals("in sync", Pair.state(pair.blue, "green"));

            // drift behind the sync's back, capture off; repair by the strategy: green's rows win
            Pair.exec(pair.blue, "BEGIN; SET LOCAL mmsync.origin = 'test'; UPDATE items SET n = -50 WHERE id = 50; DELETE FROM items WHERE id = 51; COMMIT");
            Pair.exec(pair.green, "BEGIN; SET LOCAL mmsync.origin = 'test'; INSERT INTO items VALUES (3000, 'hidden', 0); COMMIT");
            String db = pair.blue.conninfo(Pair.DB);
            Cli repaired = Cli.run("repair", "--db", db, "app");
            assertEquals(0, repaired.exit, repaired.toString());
            assertTrue(repaired.out.startsWith("repaired: sync app, 3 rows made equal to green's"), repaired.out);
            assertEquals(Pair.fingerprint(pair.blue, "items"), Pair.fingerprint(pair.green, "items"));
            assertEquals("50=50 51=orig 3000=hidden", pair.blue.queryString(Pair.DB,
                    "SELECT string_agg(id || '=' || CASE WHEN id = 50 THEN n::text ELSE v END, ' ' ORDER BY id) FROM items WHERE id IN (50, 51, 3000)"));
            assertEquals("green green green", pair.blue.queryString(Pair.DB, "SELECT string_agg(repaired, ' ') FROM mmsync.compare('app')"));
            assertEquals("repair_insert repair_insert repair_update", pair.blue.queryString(Pair.DB,
                    "SELECT string_agg(kind, ' ' ORDER BY kind) FROM mmsync.conflicts WHERE kind LIKE 'repair%'"));
            // queued on green, the winner, as ordinary changes; what each key became is recorded on both sides
            assertEquals("U:50:equal I:51:equal I:3000:equal", pair.green.queryString(Pair.DB, "SELECT string_agg(op::text || ':' "
                    + "|| (key->>'id') || ':' || outcome, ' ' ORDER BY (key->>'id')::int) FROM mmsync.repair_changes WHERE kind = 'repair'"));
            assertEquals("50:50 51:orig 3000:hidden", pair.blue.queryString(Pair.DB, "SELECT string_agg((key->>'id') || ':' || "
                    + "CASE WHEN key->>'id' = '50' THEN result->>'n' ELSE result->>'v' END, ' ' ORDER BY (key->>'id')::int) "
                    + "FROM mmsync.compare_diffs WHERE repair_change IS NOT NULL"));
            assertEquals(0, Cli.run("compare", "--db", db, "app").exit);

            // under latest, a repair needs a direction: refused, nothing changed; then --prefer blue
            pair.blue.execute(Pair.DB, "SELECT mmsync.set_conflict('app', 'latest')");
            Pair.exec(pair.green, "BEGIN; SET LOCAL mmsync.origin = 'test'; UPDATE items SET v = 'green drift' WHERE id = 60; COMMIT");
            // never "in sync" while a compare found rows that differ (issue 17)
            Cli found = Cli.run("compare", "--db", db, "app");
            assertEquals(1, found.exit, found.toString());
            assertEquals("differs", Pair.state(pair.blue, "green"));
            assertEquals("differs", Pair.state(pair.green, "blue"), "the compare is recorded on the peer too");
            assertEquals("60:green drift", pair.green.queryString(Pair.DB, "SELECT string_agg((key->>'id') || ':' || (here->>'v'), ' ') "
                    + "FROM mmsync.compare('app')"), "green's copy of the run holds green's row as 'here'");
            String engine = pair.blue.queryString(Pair.DB, "SELECT engine FROM mmsync.status() WHERE peer = 'green'");
            assertTrue(engine.startsWith("agent (pid "), "status() names the host of blue's engine: " + engine);
            String why = pair.blue.queryString(Pair.DB, "SELECT last_error FROM mmsync.status() WHERE peer = 'green'");
            assertTrue(why.startsWith("1 rows differ between node blue and node green (mmsync compare #"), why);
            Cli refused = Cli.run("repair", "--db", db, "app");
            assertEquals(2, refused.exit, refused.toString());
            assertTrue(refused.err.contains("repair of sync \"app\" needs a direction: its conflict strategy latest cannot decide"),
                    refused.err);
            assertEquals("green drift", pair.green.queryString(Pair.DB, "SELECT v FROM items WHERE id = 60"));
            Cli toBlue = Cli.run("repair", "--db", db, "--prefer", "blue", "app", "items");
            assertEquals(0, toBlue.exit, toBlue.toString());
            assertEquals("orig", pair.green.queryString(Pair.DB, "SELECT v FROM items WHERE id = 60"));
            assertEquals("in sync", Pair.state(pair.blue, "green"), "the repair fixed what the compare found");
            assertEquals("in sync", Pair.state(pair.green, "blue"), "and the peer's copy of the run says so");
            assertEquals(Pair.fingerprint(pair.blue, "items"), Pair.fingerprint(pair.green, "items"));
            Cli wrongNode = Cli.run("repair", "--db", db, "--prefer", "purple", "app");
            assertEquals(2, wrongNode.exit);
            assertTrue(wrongNode.err.contains("node \"purple\" is not a node of sync \"app\""), wrongNode.err);
        }
    }
}
