package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.sql.SQLException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Delta columns in syncs of three or more nodes are refused (issue 17, docs/conflicts.md "Three or
 * more nodes"): by set_column_policy on a table of such a sync (on the node that made the sync and
 * on one that received it), by add_sync of such a sync over a table with a delta column, and by
 * _receive_sync of a pushed definition that has one; each time with SQLSTATE 0A000, a message
 * naming the sync, the table and the column, why, and what to use instead, and nothing changed.
 * A sync made before 0.2.0 that has one anyway is not applied (the link reports the error) until
 * the column is set back; then it converges. Two-node syncs keep delta columns.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class ThreeNodeRefusalIT {
    private static final String SCHEMA = "CREATE TABLE t (id text PRIMARY KEY, v int NOT NULL DEFAULT 0, node text);"
            + "CREATE TABLE u (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0)";

    private static void assertRefused(SQLException e, String sync, String table, String column) {
        assertEquals("0A000", e.getSQLState(), e.getMessage());
        String m = e.getMessage();
        assertTrue(m.contains("delta column " + table + "." + column + " cannot be used by sync \"" + sync + "\" of 3 nodes"), m);
        assertTrue(m.contains("not exact"), "says why: " + m);
        assertTrue(m.contains("two nodes") && m.contains("'overwrite'"), "names what to use instead: " + m);
    }

    private static long policies(PgCluster c) {
        return c.queryLong(Trio.DB, "SELECT count(*) FROM mmsync.column_policies");
    }

    @Test
    void deltaColumnsAreRefusedInSyncsOfThreeNodes() throws SQLException {
        try (Trio trio = Trio.start(SCHEMA)) {
            // a delta column on a table in no sync yet: allowed; a sync of three over it: refused, nothing kept
            Pair.exec(trio.blue, "SELECT mmsync.set_column_policy('u', 'n', 'delta')");
            SQLException add = assertThrows(SQLException.class, () -> Pair.exec(trio.blue,
                    "SELECT mmsync.add_sync('app', '{blue,green,red}', tables => 't, u')"));
            assertRefused(add, "app", "public.u", "n");
            assertEquals(0, trio.blue.queryLong(Trio.DB, "SELECT count(*) FROM mmsync.syncs"), "no sync created");
            assertEquals(0, trio.blue.queryLong(Trio.DB, "SELECT count(*) FROM mmsync.sync_tables"));
            assertEquals(0, trio.blue.queryLong(Trio.DB, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'mmsync%'"),
                    "no capture trigger installed");
            assertEquals("public.u.n:delta", trio.blue.queryString(Trio.DB,
                    "SELECT string_agg(schema_name || '.' || table_name || '.' || column_name || ':' || policy, ',') "
                    + "FROM mmsync.column_policies"), "policy unchanged");
            // the same tables between two nodes: delta columns as before
            Pair.exec(trio.blue, "SELECT mmsync.add_sync('two', '{blue,green}', tables => 'u')");
            assertEquals(1, trio.blue.queryLong(Trio.DB, "SELECT count(*) FROM mmsync.sync_tables"));

            // a table of a sync of three: set_column_policy refuses, on the node that made the sync and on a peer
            Pair.exec(trio.blue, "SELECT mmsync.add_sync('app', '{blue,green,red}', tables => 't')");
            long version = trio.blue.queryLong(Trio.DB, "SELECT version FROM mmsync.syncs WHERE name = 'app'");
            SQLException set = assertThrows(SQLException.class, () -> Pair.exec(trio.blue,
                    "SELECT mmsync.set_column_policy('t', 'v', 'delta')"));
            assertRefused(set, "app", "public.t", "v");
            assertEquals(1, policies(trio.blue), "policy unchanged");
            assertEquals(version, trio.blue.queryLong(Trio.DB, "SELECT version FROM mmsync.syncs WHERE name = 'app'"));
            Pair.exec(trio.blue, "SELECT mmsync.set_column_policy('t', 'v', 'overwrite')"); // the default: still accepted
            assertEquals(1, policies(trio.blue));

            trio.startAgent(trio.blue);
            Waits.until(Duration.ofSeconds(60), "sync app pushed to green", () -> trio.green.queryLong(Trio.DB,
                    "SELECT count(*) FROM mmsync.syncs WHERE name = 'app' AND NOT removed") == 1);
            SQLException peer = assertThrows(SQLException.class, () -> Pair.exec(trio.green,
                    "SELECT mmsync.set_column_policy('t', 'v', 'delta')"));
            assertRefused(peer, "app", "public.t", "v");
            assertEquals(0, trio.green.queryLong(Trio.DB, "SELECT count(*) FROM mmsync.column_policies "
                    + "WHERE table_name = 't'"), "no policy on green");

            // a pushed definition of a sync of three with a delta column (as a node older than 0.2.0 would
            // send it): refused by the receiving node, which keeps what it had
            String def = trio.blue.queryString(Trio.DB, "SELECT (mmsync._sync_def('app', 'red') "
                    + "|| jsonb_build_object('version', 1000, 'policies', '[[\"public\",\"t\",\"v\",\"delta\"]]'::jsonb))::text");
            long redVersion = trio.red.queryLong(Trio.DB, "SELECT coalesce(max(version), 0) FROM mmsync.syncs WHERE name = 'app'");
            SQLException recv = assertThrows(SQLException.class, () -> Pair.exec(trio.red,
                    "SELECT mmsync._receive_sync('" + def.replace("'", "''") + "'::jsonb)"));
            assertRefused(recv, "app", "public.t", "v");
            assertEquals(0, policies(trio.red), "no policy on red");
            assertEquals(redVersion, trio.red.queryLong(Trio.DB,
                    "SELECT coalesce(max(version), 0) FROM mmsync.syncs WHERE name = 'app'"), "red's sync unchanged");
        }
    }

    /**
     * A sync of three with a delta column made before 0.2.0 refused it (here: the policy written
     * straight into mmsync.column_policies on every node): the agents do not apply its changes,
     * and the link says why instead of "in sync"; once the column is set back to overwrite on one
     * node (pushed to the others), the rows arrive and the three converge.
     */
    @Test
    void anOldSyncWithADeltaColumnIsNotAppliedUntilTheColumnIsSetBack() {
        try (Trio trio = Trio.start(SCHEMA)) {
            trio.addSync("tables => 't'");
            trio.startAgents();
            trio.awaitSyncEverywhere(0);
            for (PgCluster c : trio.all()) {
                c.execute(Trio.DB, "INSERT INTO mmsync.column_policies VALUES ('public', 't', 'v', 'delta')");
            }
            trio.blue.execute(Trio.DB, "INSERT INTO t VALUES ('b-1', 1, 'blue')");
            Waits.until(Duration.ofSeconds(60), "the link from blue to green reports the refusal", () -> {
                String err = Pair.lastError(trio.blue, "green");
                return err != null && err.contains("delta column v") && err.contains("'overwrite'");
            });
            assertTrue(!"in sync".equals(Pair.state(trio.blue, "green")), "not in sync: " + Pair.state(trio.blue, "green"));
            assertEquals(0, trio.green.queryLong(Trio.DB, "SELECT count(*) FROM t"), "nothing applied at green");
            assertEquals(0, trio.red.queryLong(Trio.DB, "SELECT count(*) FROM t"), "nothing applied at red");

            trio.blue.execute(Trio.DB, "SELECT mmsync.set_column_policy('t', 'v', 'overwrite')");
            trio.awaitSyncEverywhere(0);
            trio.awaitSame("t");
            for (PgCluster c : trio.all()) {
                assertEquals("b-1=1", c.queryString(Trio.DB, "SELECT string_agg(id || '=' || v, ',') FROM t"), c.name());
                Waits.until(Duration.ofSeconds(60), "in sync on " + c.name(), () -> "in sync".equals(c.queryString(Trio.DB,
                        "SELECT string_agg(DISTINCT state, ',') FROM mmsync.status()")));
            }
        }
    }
}
