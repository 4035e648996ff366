package io.mmsync.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;

import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** pause, resume, kick and remove_sync from psql, and the agent's clean stop on SIGTERM. */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class SyncLifecycleIT {
    @Test
    void pauseQueuesResumeFlowsRemoveDropsTriggersEverywhere() throws Exception {
        try (Pair pair = Pair.start("CREATE TABLE t (id int PRIMARY KEY, v text);")) {
            pair.addSync("");
            Agent.Child blueAgent = pair.childAgent(pair.blue);
            pair.childAgent(pair.green);
            pair.awaitSyncOnGreen();

            pair.blue.execute(Pair.DB, "SELECT mmsync.pause('app')");
            Waits.until(Duration.ofSeconds(30), "pause reaches green",
                    () -> pair.green.queryString(Pair.DB, "SELECT paused::text FROM mmsync.syncs").equals("true"));
            pair.blue.execute(Pair.DB, "INSERT INTO t SELECT g, 'paused' FROM generate_series(1, 100) g");
            pair.green.execute(Pair.DB, "INSERT INTO t VALUES (1000, 'green while paused')");
            Waits.until(Duration.ofSeconds(30), "status shows paused with the backlog",
                    () -> pair.blue.queryString(Pair.DB, "SELECT state || ':' || backlog FROM mmsync.status()").equals("paused:100"));
            assertEquals(0, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM t WHERE v = 'paused'"));

            // resume() itself wakes the senders (they wait on mmsync_changes), not just their next poll
            try (Connection listener = pair.green.connect(Pair.DB); Statement st = listener.createStatement()) {
                st.execute("LISTEN mmsync_changes");
                pair.green.execute(Pair.DB, "SELECT mmsync.resume('app')");
                PGNotification[] woken = listener.unwrap(PGConnection.class).getNotifications(30_000);
                assertTrue(woken != null && woken.length > 0, "resume() sent no NOTIFY on mmsync_changes");
            }
            pair.blue.execute(Pair.DB, "SELECT mmsync.kick('app')");
            pair.awaitSynced();
            assertEquals(101, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM t"));
            assertEquals(101, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM t"));

            blueAgent.stop();
            assertTrue(blueAgent.log().contains("mmsync agent: stopped cleanly"), "clean stop on SIGTERM:\n" + blueAgent.log());
            blueAgent.start();

            pair.blue.execute(Pair.DB, "SELECT mmsync.remove_sync('app')");
            Waits.until(Duration.ofSeconds(30), "triggers gone on green", () -> pair.green.queryLong(Pair.DB,
                    "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'mmsync%'") == 0);
            assertEquals(0, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'mmsync%'"));
            pair.blue.execute(Pair.DB, "INSERT INTO t VALUES (5000, 'not synced')");
            assertEquals(0, pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.changes"));
            assertEquals("", pair.green.queryString(Pair.DB, "SELECT coalesce(string_agg(sync, ','), '') FROM mmsync.status()"));
        }
    }
}
