package io.mmsync.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 14: under a busy one-way stream (whole ranges of at least Pacing.BUSY_PAGE changes, a peer
 * that does not write the tables) the link waits longer between turns, so that its pages carry more
 * changes. A writer on blue commits transactions of 400 changes each (200 new rows, and the 200 rows
 * of the transaction before counted up), so every range it makes is that long, and fast enough for
 * Pacing.BUSY_RATE also at a load of 25 on 2 cores (where 160-change ones once fell short): the
 * longer waits happen (the link's FINE log says so), and every change still arrives once and in order: green
 * ends with exactly the rows and counts the writer's transactions imply, identical to blue's, and
 * green's progress counts each change applied once.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class BusyStreamIT {
    static final int BATCH = 200;
    static final int TRANSACTIONS = 75;

    @Test
    void aBusyStreamWaitsLongerAndArrivesWhole() throws Exception {
        Logger pacing = Logger.getLogger("io.mmsync.engine.send.Pacing");
        AtomicInteger busyWaits = new AtomicInteger();
        Handler counter = new Handler() {
            @Override
            public void publish(LogRecord r) {
                if (r.getMessage() != null && r.getMessage().startsWith("busy one-way stream")) {
                    busyWaits.incrementAndGet();
                }
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        Level level = pacing.getLevel();
        pacing.setLevel(Level.FINE);
        pacing.addHandler(counter);
        try (Pair pair = Pair.start(WaitSyncedIT.SCHEMA)) {
            pair.addSync("initial => 'none'");
            pair.startAgents();
            pair.awaitSyncOnGreen();
            try (Connection b = pair.blue.connect(Pair.DB);
                 PreparedStatement ins = b.prepareStatement("INSERT INTO load (id, n, v) SELECT g, 0, 'row ' || g "
                         + "FROM generate_series(?::bigint, ?::bigint) g");
                 PreparedStatement upd = b.prepareStatement("UPDATE load SET n = n + 1 WHERE id BETWEEN ? AND ?")) {
                b.setAutoCommit(false);
                for (int k = 0; k < TRANSACTIONS; k++) {
                    long first = (long) k * BATCH + 1;
                    ins.setLong(1, first);
                    ins.setLong(2, first + BATCH - 1);
                    ins.executeUpdate();
                    if (k > 0) {
                        upd.setLong(1, first - BATCH);
                        upd.setLong(2, first - 1);
                        assertEquals(BATCH, upd.executeUpdate());
                    }
                    b.commit();
                    Thread.sleep(5); // pacing of the load, not a wait for a condition: several ranges, not one
                }
            }
            pair.awaitSynced();
            String expected = (TRANSACTIONS * BATCH) + ":" + ((TRANSACTIONS - 1) * BATCH);
            assertEquals(expected, pair.green.queryString(Pair.DB, "SELECT count(*) || ':' || sum(n) FROM load"));
            assertEquals(Pair.fingerprint(pair.blue, "load"), Pair.fingerprint(pair.green, "load"));
            assertEquals((long) TRANSACTIONS * BATCH + (long) (TRANSACTIONS - 1) * BATCH, Pair.applied(pair.green, "blue"),
                    "changes applied at green, each once");
            assertTrue(busyWaits.get() > 0, "the link never waited as under a busy stream");
        } finally {
            pacing.removeHandler(counter);
            pacing.setLevel(level);
        }
    }
}
