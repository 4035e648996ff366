package io.mmsync.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 17 (a change lost, wait_synced true): the queue's rotation while a writer runs whose
 * transaction id is the newest one taken. The writer inserts a row (its change goes to the current
 * queue table), the queue rotates, the writer updates another row (that change goes to the next
 * table) and commits. A peer then confirms a snapshot in which the writer still runs (its xmin is
 * the writer's id), as the link does while the writer is in flight. The old table must stay needed
 * until the writer's insert is sent: its end was recorded with the snapshot's xmax, one past the
 * newest finished transaction, which is not above a running one's id, so the table counted as
 * confirmed, the queue's floor passed it and the insert was never sent while the update was
 * (BurstEndIT found it after about 80 bursts, WaitSyncedIT once in CI). Here the interleaving is
 * made step by step, with the agents stopped.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class RotationRaceIT {
    private static final String NEXT_FREE = "SELECT n.epoch IS NULL OR n.truncated FROM mmsync.queue_tables c "
            + "JOIN mmsync.queue_tables n ON n.slot = (c.epoch + 1) % 3 WHERE c.epoch IS NOT NULL AND c.ended IS NULL";

    @Test
    void aWritersChangeInTheTableTheRotationEndsIsSent() throws Exception {
        try (Pair pair = Pair.start(WaitSyncedIT.SCHEMA)) {
            pair.addSync("initial => 'none'");
            pair.startAgents();
            pair.awaitSyncOnGreen();
            // a change of each node, applied at the other: blue's current queue table holds a row, and
            // blue holds green's position
            pair.blue.execute(Pair.DB, "INSERT INTO load VALUES (1, 0, 'one'), (3, 0, 'three')");
            pair.green.execute(Pair.DB, "INSERT INTO load VALUES (2, 0, 'two')");
            pair.awaitSynced();
            // the rotation made due: the next queue table free (emptied once green confirmed it) and the
            // current one holding a change green has applied (row 7) and older than 250 ms; meanwhile the
            // test holds the queue maintenance's lock, so that the agents neither rotate nor truncate
            try (Connection guard = pair.blue.connect(Pair.DB)) {
                Waits.until(Duration.ofSeconds(60), "the next queue table on blue free, with the maintenance lock held",
                        () -> {
                            try {
                                query(guard, "SELECT pg_advisory_unlock_all()::text");
                                pair.blue.queryString(Pair.DB, "SELECT truncated FROM mmsync._queue_maintain()");
                                query(guard, "SELECT pg_advisory_lock(1835889520, 0)::text");
                                return query(guard, NEXT_FREE).equals("t");
                            } catch (SQLException e) {
                                throw new IllegalStateException(e);
                            }
                        });
                pair.blue.execute(Pair.DB, "INSERT INTO load VALUES (7, 0, 'seven')");
                pair.awaitSynced();
                pair.stopAgents();
            }
            pair.blue.execute(Pair.DB, "UPDATE mmsync.queue_tables SET started = now() - interval '1 second' "
                    + "WHERE epoch IS NOT NULL AND ended IS NULL");
            String ended;
            long writerXid;
            long oldSlot = pair.blue.queryLong(Pair.DB, "SELECT slot FROM mmsync.queue_tables WHERE epoch IS NOT NULL AND ended IS NULL");
            try (Connection writer = pair.blue.connect(Pair.DB); Connection other = pair.blue.connect(Pair.DB)) {
                writer.setAutoCommit(false);
                exec(writer, "INSERT INTO load VALUES (5, 0, 'five')");
                long xid = Long.parseLong(query(writer, "SELECT pg_current_xact_id()::text"));
                // the writer's id is the newest: no transaction at or above it has finished
                long xmax = Long.parseLong(query(other, "SELECT pg_snapshot_xmax(pg_current_snapshot())::text"));
                assertTrue(xmax <= xid, "precondition: snapshot xmax " + xmax + " <= the writer's id " + xid);
                assertEquals("t", query(other, "SELECT rotated FROM mmsync._queue_maintain()"), "the queue rotated");
                ended = query(other, "SELECT ended::text FROM mmsync.queue_tables WHERE slot = " + oldSlot);
                writerXid = xid;
                exec(writer, "UPDATE load SET n = 1 WHERE id = 1");
                // green has applied everything blue committed so far: a snapshot now, where the writer
                // still runs, is what blue's link would confirm (the peer horizon: green is quiet)
                exec(other, "SELECT mmsync._add_purge_mark('app', 'green', pg_current_snapshot(), '1:1:'::pg_snapshot, now())");
                assertEquals(String.valueOf(xid), query(other, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text"),
                        "the confirmed snapshot's xmin is the writer's id");
                query(other, "SELECT truncated FROM mmsync._queue_maintain()");
                writer.commit();
                query(other, "SELECT truncated FROM mmsync._queue_maintain()");
            }
            long queued = pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.changes c WHERE c.new->>'id' = '5'");
            pair.startAgents();
            pair.awaitSynced();
            assertEquals("1:1:one|2:0:two|3:0:three|5:0:five|7:0:seven", rows(pair.green), "green (ended " + ended
                    + ", the writer's id " + writerXid + ")");
            assertEquals(1, queued, "the writer's insert was still queued on blue before the agents came back");
            assertTrue(Long.parseLong(ended.split(":")[1]) > writerXid, "xmax(ended) " + ended + " above the writer's id " + writerXid);
            assertEquals(Pair.fingerprint(pair.blue, "load"), Pair.fingerprint(pair.green, "load"));
        }
    }

    private static String rows(io.mmsync.testenv.PgCluster c) {
        return c.queryString(Pair.DB, "SELECT string_agg(id || ':' || n || ':' || v, '|' ORDER BY id) FROM load");
    }

    private static void exec(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }

    private static String query(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            String v = rs.getString(1);
            if ("true".equals(v) || "false".equals(v)) {
                return v.substring(0, 1);
            }
            return v;
        }
    }
}
