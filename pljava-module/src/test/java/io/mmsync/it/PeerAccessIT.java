package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The peer cannot be used as registered: a wrong password, the extension not installed there.
 * Status says so and names the peer, never shows a credential, the changes wait, and they flow as
 * soon as the DBA has fixed it, without restarting the agent.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class PeerAccessIT {
    static final String SCHEMA = "CREATE TABLE items (id int PRIMARY KEY, v text)";
    static final String RIGHT = "R1ght-s3cret-9f2c";
    static final String WRONG = "Wr0ng-s3cret-77ab";

    @Test
    void wrongPasswordIsReportedWithoutItAndTheFixedPassfileIsPickedUp() throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.green.createPasswordRole("pw_sync", RIGHT, "SUPERUSER");
            Path passfile = pair.dir().resolve("pgpass");
            writePassfile(passfile, pair.green, WRONG);
            pair.blue.execute(Pair.DB, "SELECT mmsync.add_node('green', 'host=127.0.0.1 port=" + pair.green.port()
                    + " dbname=" + Pair.DB + " user=pw_sync passfile=" + passfile + "')");
            pair.addSync("");
            pair.childAgent(pair.blue, Map.of("MMSYNC_LOG_LEVEL", "FINE"));
            pair.childAgent(pair.green);
            pair.blue.execute(Pair.DB, "INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 20) g");

            Waits.until(Duration.ofSeconds(30), "status reports the failed authentication",
                    () -> String.valueOf(Pair.lastError(pair.blue, "green")).contains("password authentication failed"));
            String err = Pair.lastError(pair.blue, "green");
            assertEquals("green: FATAL: password authentication failed for user \"pw_sync\"", err);
            assertEquals("disconnected", Pair.state(pair.blue, "green"));
            assertNoSecret(pair.blue.queryString(Pair.DB, "SELECT string_agg(s::text, ' ') FROM mmsync.status() s"), "status");
            assertNoSecret(pair.blue.queryString(Pair.DB, "SELECT string_agg(l::text, ' ') FROM mmsync.links l"), "mmsync.links");
            assertEquals(20, pair.blue.queryLong(Pair.DB, "SELECT backlog FROM mmsync.status()"), "changes wait");

            writePassfile(passfile, pair.green, RIGHT);
            pair.awaitSyncOnGreen();
            pair.awaitSynced();
            assertEquals(Pair.fingerprint(pair.blue, "items"), Pair.fingerprint(pair.green, "items"));
            assertEquals(20, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM items"));
            assertEquals("in sync", Pair.state(pair.blue, "green"));
            String log = Files.readString(pair.agentLog(pair.blue));
            assertTrue(log.contains("password authentication failed"), "the agent logged the failure (FINE, with stack traces)");
            assertNoSecret(log, "blue's agent log");
            assertNoSecret(Files.readString(pair.agentLog(pair.green)), "green's agent log");
            assertNoSecret(pair.green.queryString(Pair.DB, "SELECT string_agg(n::text, ' ') FROM mmsync.nodes n"), "green's nodes");
        }
    }

    @Test
    void extensionMissingOnThePeerIsReportedAndChangesFlowOnceItIsCreated() {
        try (Pair pair = Pair.start(SCHEMA, PgCluster.builder("green"), false)) {
            pair.addSync("");
            pair.startAgents();
            pair.blue.execute(Pair.DB, "INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 20) g");
            Waits.until(Duration.ofSeconds(30), "status reports the missing extension",
                    () -> String.valueOf(Pair.lastError(pair.blue, "green")).contains("extension"));
            assertEquals("green: mmsync: the mmsync extension is not installed on node green; run CREATE EXTENSION mmsync there",
                    Pair.lastError(pair.blue, "green"));
            assertEquals(20, pair.blue.queryLong(Pair.DB, "SELECT backlog FROM mmsync.status()"), "changes wait");

            pair.green.execute(Pair.DB, "CREATE EXTENSION mmsync");
            pair.awaitSyncOnGreen();
            pair.awaitSynced();
            assertEquals(Pair.fingerprint(pair.blue, "items"), Pair.fingerprint(pair.green, "items"));
            assertEquals(20, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM items"));
        }
    }

    /** A libpq passfile for green's pw_sync role, mode 0600 as libpq and mmsync require. */
    private static void writePassfile(Path file, PgCluster green, String password) throws Exception {
        Files.writeString(file, "# mmsync test\n127.0.0.1:" + green.port() + ":" + Pair.DB + ":pw_sync:" + password + "\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
    }

    private static void assertNoSecret(String text, String where) {
        assertFalse(text != null && (text.contains(RIGHT) || text.contains(WRONG)), where + " shows a password");
    }
}
