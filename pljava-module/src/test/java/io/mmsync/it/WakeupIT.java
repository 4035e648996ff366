package io.mmsync.it;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;

import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * How writers wake a sender (io.mmsync.engine.Wakeup): no NOTIFY while a sender polls, one when
 * it is idle, which an idle sender shows by holding the advisory lock (1835889529, sync id).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class WakeupIT {
    private static final String IDLE_SENDER = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
            + "AND classid = 1835889529 AND objid = (SELECT id FROM mmsync.syncs WHERE name = 'app') "
            + "AND mode = 'ExclusiveLock' AND granted";

    Pair pair;

    @BeforeAll
    void start() {
        pair = Pair.start("CREATE TABLE t (id int PRIMARY KEY, v text);");
        pair.addSync("");
    }

    @AfterAll
    void stop() {
        pair.close();
    }

    @Test
    void writerTakesTheLockSharedAndSendsNoNotifyWhileNoSenderIsIdle() throws Exception {
        pair.stopAgents();
        Waits.until(Duration.ofSeconds(30), "no idle sender left", () -> pair.blue.queryLong(Pair.DB, IDLE_SENDER) == 0);
        try (Connection listener = pair.blue.connect(Pair.DB); Connection writer = pair.blue.connect(Pair.DB);
             Statement ls = listener.createStatement(); Statement ws = writer.createStatement()) {
            ls.execute("LISTEN mmsync_changes");
            writer.setAutoCommit(false);
            ws.execute("INSERT INTO t VALUES (1, 'busy')");
            ws.execute("UPDATE t SET v = 'busy again' WHERE id = 1");
            assertEquals(1, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    + "AND classid = 1835889529 AND mode = 'ShareLock' AND granted"), "the writer holds the lock shared");
            writer.commit();
            // the listener's query round trip delivers whatever was sent before it
            ls.execute("SELECT 1");
            PGNotification[] got = listener.unwrap(PGConnection.class).getNotifications(200);
            assertEquals(0, got.length, "no NOTIFY while no sender is idle");
            assertEquals(2, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.changes WHERE new ->> 'v' LIKE 'busy%'"),
                    "both changes queued");
        }
    }

    @Test
    void idleSenderHoldsTheLockAndTheNextWriterNotifiesIt() throws Exception {
        pair.startAgents();
        pair.awaitSyncOnGreen();
        Waits.until(Duration.ofSeconds(60), "blue's sender goes idle", () -> pair.blue.queryLong(Pair.DB, IDLE_SENDER) == 1);
        try (Connection listener = pair.blue.connect(Pair.DB); Statement ls = listener.createStatement()) {
            ls.execute("LISTEN mmsync_changes");
            // the sender releases the lock only when it finds changes, so it is still idle here
            pair.blue.execute(Pair.DB, "INSERT INTO t VALUES (2, 'wakes the sender')");
            PGNotification[] got = listener.unwrap(PGConnection.class).getNotifications(10_000);
            assertTrue(got.length > 0, "the writer notified the idle sender");
        }
        Waits.until(Duration.ofSeconds(60), "row on green",
                () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM t WHERE id = 2") == 1);
        Waits.until(Duration.ofSeconds(60), "blue's sender idle again", () -> pair.blue.queryLong(Pair.DB, IDLE_SENDER) == 1);
        pair.awaitSynced();
        assertEquals(Pair.fingerprint(pair.blue, "t"), Pair.fingerprint(pair.green, "t"));
    }
}
