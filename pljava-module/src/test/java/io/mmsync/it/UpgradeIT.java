package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Upgrading the extension from a released version (sql/released/) to the version in development
 * (default_version of sql/mmsync.control, reached through sql/updates/):
 * <ul>
 * <li>a fresh {@code CREATE EXTENSION mmsync} and, for every released version V,
 * {@code CREATE EXTENSION mmsync VERSION 'V'} followed by {@code ALTER EXTENSION mmsync UPDATE}
 * define exactly the same objects
 * ({@link ExtensionCatalog}); this is what keeps "every change to sql/src/ ships its upgrade
 * step" honest, and its failure names every object that differs;</li>
 * <li>the comparison does see each kind of change it claims to cover;</li>
 * <li>a running pair at 0.1.0, with changes queued on one node and the application writing on
 * both, updated on both nodes under that load: nothing is lost and the sync runs on.</li>
 * </ul>
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class UpgradeIT {
    /** The release the pair test starts from. */
    static final String RELEASED = "0.1.0";
    static final String UPDATE_SCRIPT = "sql/updates/mmsync--" + RELEASED + "--0.2.0.sql";
    private static PgCluster cluster;

    @BeforeAll
    static void startCluster() {
        cluster = PgCluster.start("upgrade");
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    /** A database with the extension as a fresh install of the default version. */
    private static SortedMap<String, String> fresh(String db) throws SQLException {
        cluster.createDatabase(db);
        cluster.execute(db, "CREATE EXTENSION mmsync");
        return ExtensionCatalog.of(cluster, db);
    }

    /**
     * From every released version (sql/released/, installed as mmsync--V.sql) to the default one:
     * CREATE EXTENSION mmsync VERSION 'V' + ALTER EXTENSION mmsync UPDATE = CREATE EXTENSION mmsync.
     */
    @Test
    void upgradeFromEachReleaseDefinesTheSameObjectsAsAFreshInstall() throws SQLException {
        SortedMap<String, String> fresh = fresh("fresh");
        String defaultVersion = cluster.queryString("fresh", "SELECT extversion FROM pg_extension WHERE extname = 'mmsync'");

        // the comparison reads what it should: a sample of objects of each kind is there
        for (String key : List.of("extension mmsync", "schema mmsync", "table mmsync.changes_0", "column mmsync.nodes.conninfo",
                "index mmsync.nodes_one_local", "constraint mmsync.nodes nodes_pkey", "sequence mmsync.change_queue_id_seq",
                "member table mmsync.changes_0", "comment on table mmsync.nodes")) {
            assertTrue(fresh.containsKey(key), "the catalog snapshot lacks " + key + "; it has " + fresh.keySet());
        }
        assertEquals(1, fresh.keySet().stream().filter(k -> k.startsWith("function mmsync.add_sync(")).count(), "add_sync read");
        long members = fresh.keySet().stream().filter(k -> k.startsWith("member ")).count();
        assertTrue(members > 40, "extension members read: " + members);

        List<String> released = List.of(cluster.queryString("fresh", "SELECT string_agg(version, ',' ORDER BY version)"
                + " FROM pg_available_extension_versions WHERE name = 'mmsync' AND version <> '" + defaultVersion + "'").split(","));
        assertTrue(released.contains(RELEASED), "released versions installed: " + released);
        StringBuilder failures = new StringBuilder();
        for (String version : released) {
            String db = "from_" + version.replace('.', '_');
            cluster.createDatabase(db);
            cluster.execute(db, "CREATE EXTENSION mmsync VERSION '" + version + "'");
            assertEquals(version, cluster.queryString(db, "SELECT extversion FROM pg_extension WHERE extname = 'mmsync'"));
            String path = cluster.queryString(db, "SELECT coalesce(path, 'none') FROM pg_extension_update_paths('mmsync')"
                    + " WHERE source = '" + version + "' AND target = '" + defaultVersion + "'");
            cluster.execute(db, "ALTER EXTENSION mmsync UPDATE");
            assertEquals(defaultVersion, cluster.queryString(db, "SELECT extversion FROM pg_extension WHERE extname = 'mmsync'"));
            Map<String, String[]> diffs = ExtensionCatalog.differences(fresh, ExtensionCatalog.of(cluster, db));
            if (!diffs.isEmpty()) {
                failures.append("\n\n").append(diffs.size()).append(diffs.size() == 1 ? " object differs" : " objects differ")
                        .append(" between a fresh CREATE EXTENSION mmsync (").append(defaultVersion)
                        .append(") and CREATE EXTENSION mmsync VERSION '").append(version)
                        .append("' + ALTER EXTENSION mmsync UPDATE (path ").append(path).append("):")
                        .append(ExtensionCatalog.report(diffs, "fresh " + defaultVersion, "upgraded from " + version));
            }
        }
        assertTrue(failures.length() == 0, "Every change to sql/src/ needs its step in sql/updates/ (now " + UPDATE_SCRIPT
                + "): CREATE OR REPLACE FUNCTION with the same text as in sql/src, DROP FUNCTION + CREATE FUNCTION and the "
                + "REVOKE of 90_privileges.sql for a new signature, ALTER TABLE ... ADD COLUMN (last in sql/src too), DROP of "
                + "what sql/src no longer has. Run installer/install.sh into your PostgreSQL after changing them." + failures);
    }

    @Test
    void comparisonSeesEachKindOfChange() throws SQLException {
        SortedMap<String, String> before = fresh("changed");
        String resume = cluster.queryString("changed", "SELECT pg_get_functiondef('mmsync.resume(text)'::regprocedure)");
        Map<String, String> changes = new LinkedHashMap<>();
        changes.put(resume.replaceFirst("AS \\$function\\$", "AS \\$function\\$\n-- a changed body"), "function mmsync.resume(text)");
        changes.put("ALTER FUNCTION mmsync.kick(text) SET work_mem = '1MB'", "function mmsync.kick(text)");
        changes.put("ALTER FUNCTION mmsync.pause(text) SECURITY DEFINER", "function mmsync.pause(text)");
        changes.put("ALTER FUNCTION mmsync.local_node() IMMUTABLE", "function mmsync.local_node()");
        changes.put("GRANT EXECUTE ON FUNCTION mmsync.status() TO PUBLIC", "function mmsync.status()");
        changes.put("ALTER TABLE mmsync.nodes ALTER COLUMN conninfo DROP NOT NULL", "column mmsync.nodes.conninfo");
        changes.put("ALTER TABLE mmsync.syncs ALTER COLUMN paused SET DEFAULT true", "column mmsync.syncs.paused");
        changes.put("ALTER TABLE mmsync.syncs ALTER COLUMN version TYPE numeric", "column mmsync.syncs.version");
        changes.put("ALTER TABLE mmsync.progress ADD COLUMN extra int", "column mmsync.progress.extra");
        changes.put("ALTER TABLE mmsync.nodes ADD CONSTRAINT nodes_extra CHECK (name <> '')", "constraint mmsync.nodes nodes_extra");
        changes.put("CREATE INDEX nodes_extra_idx ON mmsync.nodes (conninfo)", "index mmsync.nodes_extra_idx");
        changes.put("CREATE TRIGGER nodes_extra BEFORE UPDATE ON mmsync.nodes FOR EACH ROW "
                + "EXECUTE FUNCTION suppress_redundant_updates_trigger()", "trigger nodes_extra on mmsync.nodes");
        changes.put("CREATE VIEW mmsync.extra AS SELECT 1 AS one", "view mmsync.extra");
        changes.put("ALTER SEQUENCE mmsync.change_queue_id_seq INCREMENT BY 2", "sequence mmsync.change_queue_id_seq");
        changes.put("GRANT SELECT ON mmsync.nodes TO PUBLIC", "table mmsync.nodes");
        changes.put("GRANT USAGE ON SCHEMA mmsync TO PUBLIC", "schema mmsync");
        changes.put("ALTER EXTENSION mmsync DROP FUNCTION mmsync.remove_node(text)", "member function mmsync.remove_node(text)");
        changes.put("COMMENT ON TABLE mmsync.syncs IS 'changed'", "comment on table mmsync.syncs");
        changes.put("UPDATE pg_extension SET extconfig = ARRAY['mmsync.nodes'::regclass::oid], extcondition = ARRAY['']"
                + " WHERE extname = 'mmsync'", "config dump mmsync.nodes");
        for (String sql : changes.keySet()) {
            cluster.execute("changed", sql);
        }
        Map<String, String[]> diffs = ExtensionCatalog.differences(before, ExtensionCatalog.of(cluster, "changed"));
        List<String> unseen = changes.values().stream().filter(k -> !diffs.containsKey(k)).toList();
        assertTrue(unseen.isEmpty(), "the comparison missed " + unseen + "; it found:"
                + ExtensionCatalog.report(diffs, "before", "after"));
        String report = ExtensionCatalog.report(diffs, "before", "after");
        assertTrue(report.contains("+  SET work_mem TO '1MB'") && report.contains("+ -- a changed body"),
                "the report shows the differing lines:" + report);
    }

    static final String SCHEMA = "CREATE TABLE load_blue (id bigint PRIMARY KEY, n int NOT NULL, v text);"
            + "CREATE TABLE load_green (id bigint PRIMARY KEY, n int NOT NULL, v text);";

    /**
     * The upgrade as an operator does it: a pair at the released version synced by the released
     * agents, green's agent stopped so that its changes queue, the new extension files installed,
     * ALTER EXTENSION mmsync UPDATE on both nodes while the application writes and blue's released
     * agent still runs, then both agents restarted with the new jar: nothing lost, nothing applied
     * twice, and the sync runs on.
     */
    @Test
    void pairUpgradedUnderLoadWithQueuedChangesLosesNothingAndSyncsOn() throws Exception {
        Optional<Path> releasedJar = ReleasedAgent.jar(RELEASED);
        Assumptions.assumeTrue(releasedJar.isPresent(), "the release " + RELEASED + "'s commit is not in this clone");
        // Pair creates the default version; the schema script puts the released one in its place
        try (Pair pair = Pair.start("DROP EXTENSION mmsync; CREATE EXTENSION mmsync VERSION '" + RELEASED + "';" + SCHEMA)) {
            for (PgCluster node : List.of(pair.blue, pair.green)) {
                assertEquals(RELEASED, version(node));
            }
            Path logs = Files.createTempDirectory("upgrade-it");
            pair.addSync("");
            AtomicBoolean stop = new AtomicBoolean();
            Writer[] writers;
            try (ReleasedAgent blueAgent = ReleasedAgent.start(releasedJar.get(), pair.blue.conninfo(Pair.DB), logs.resolve("blue-old.log"))) {
                try (ReleasedAgent greenAgent = ReleasedAgent.start(releasedJar.get(), pair.green.conninfo(Pair.DB), logs.resolve("green-old.log"))) {
                    pair.awaitSyncOnGreen();
                    pair.blue.execute(Pair.DB, "INSERT INTO load_blue VALUES (-1, 0, 'at " + RELEASED + "')");
                    pair.green.execute(Pair.DB, "INSERT INTO load_green VALUES (-1, 0, 'at " + RELEASED + "')");
                    pair.awaitSynced();
                    assertEquals(1, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM load_blue"), "synced at " + RELEASED);
                }
                // green's agent has stopped; both nodes keep writing: green's changes queue on green
                writers = Writer.onBothNodes(pair, stop, 2000);
                Waits.until(Duration.ofSeconds(90), "changes queued on green",
                        () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.changes") >= 300
                                && writers[0].transactions() >= 300);

                // the update on both nodes while the application writes and blue's released agent runs
                for (PgCluster node : List.of(pair.blue, pair.green)) {
                    node.execute(Pair.DB, "ALTER EXTENSION mmsync UPDATE");
                }
                long greenTx = writers[1].transactions();
                long blueApplied = Pair.applied(pair.green, "blue");
                Waits.until(Duration.ofSeconds(60), "writes go on after the update, blue's released agent still sends",
                        () -> writers[1].transactions() > greenTx + 50 && Pair.applied(pair.green, "blue") > blueApplied);
            }
            stop.set(true);
            writers[0].check();
            writers[1].check();
            long queued = pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.changes");
            assertTrue(queued >= 300, "green's changes still queued after the update: " + queued);

            // both agents restarted with the new jar
            try (Agent blueNew = Agent.inProcess(pair.blue.conninfo(Pair.DB));
                 Agent greenNew = Agent.inProcess(pair.green.conninfo(Pair.DB))) {
                pair.awaitSynced();
                for (String t : List.of("load_blue", "load_green")) {
                    String fp = Pair.fingerprint(pair.blue, t);
                    assertEquals(fp, Pair.fingerprint(pair.green, t), "table " + t + " differs after the upgrade");
                    assertTrue(!fp.startsWith("0:"), t + " has rows: " + fp);
                }
                assertEquals(writers[0].changes() + 1, Pair.applied(pair.green, "blue"), "blue's changes applied on green once each");
                assertEquals(writers[1].changes() + 1, Pair.applied(pair.blue, "green"), "green's changes applied on blue once each");

                // the sync runs on: a new write on each node arrives at the other
                pair.blue.execute(Pair.DB, "INSERT INTO load_blue VALUES (-2, 0, 'after the upgrade')");
                pair.green.execute(Pair.DB, "INSERT INTO load_green VALUES (-2, 0, 'after the upgrade')");
                Waits.until(Duration.ofSeconds(60), "writes after the upgrade arrive both ways",
                        () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM load_blue WHERE id = -2") == 1
                                && pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM load_green WHERE id = -2") == 1);
                Waits.until(Duration.ofSeconds(30), "blue says in sync", () -> "in sync".equals(Pair.state(pair.blue, "green")));
            }
            String expected = pair.blue.queryString(Pair.DB, "SELECT default_version FROM pg_available_extensions WHERE name = 'mmsync'");
            assertTrue(!expected.equals(RELEASED), "default version " + expected);
            for (PgCluster node : List.of(pair.blue, pair.green)) {
                assertEquals(expected, version(node), "extversion on " + node.name());
            }
        }
    }

    /** The new agent refuses a node whose extension is older than it needs, naming the fix. */
    @Test
    void newAgentRefusesAnOlderExtension() throws Exception {
        try (Pair pair = Pair.start("DROP EXTENSION mmsync; CREATE EXTENSION mmsync VERSION '" + RELEASED + "';" + SCHEMA)) {
            try (java.sql.Connection c = java.sql.DriverManager.getConnection(pair.blue.jdbcUrl(Pair.DB))) {
                java.sql.SQLException e = org.junit.jupiter.api.Assertions.assertThrows(java.sql.SQLException.class,
                        () -> io.mmsync.engine.model.ExtensionVersion.require(c, "blue"));
                assertTrue(e.getMessage().contains("the mmsync extension on node blue is version " + RELEASED
                        + ", older than this engine (") && e.getMessage().contains("ALTER EXTENSION mmsync UPDATE"), e.getMessage());
                c.createStatement().execute("ALTER EXTENSION mmsync UPDATE");
                io.mmsync.engine.model.ExtensionVersion.require(c, "blue");
            }
            assertTrue(!RELEASED.equals(version(pair.blue)), "updated");
        }
    }

    private static String version(PgCluster node) {
        return node.queryString(Pair.DB, "SELECT extversion FROM pg_extension WHERE extname = 'mmsync'");
    }
}
