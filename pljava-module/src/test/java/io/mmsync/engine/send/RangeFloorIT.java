package io.mmsync.engine.send;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The sample {@link RangeFloor} relies on, on a real server while other sessions take queue ids
 * as fast as they can (and set the sequence as the queue's rotation does): the last id it reads
 * must have been handed out already, so an id taken after the sample is always above it. nextval
 * writes the value 32 fetches ahead into the sequence's page while it logs it (under the buffer
 * lock); a plain SELECT from the sequence reads the page without that lock and could see it (or
 * last_value and is_called of two different states): a range started above it never sent the
 * changes with the ids in between, and was confirmed all the same.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class RangeFloorIT {
    static final String DB = "app";
    /** Reads to make (each followed by a nextval of the reader's own), 8,000 by default, by READERS sessions. */
    static final int SAMPLES = Integer.getInteger("mmsync.rangefloor.samples", 8_000);
    static final int READERS = 4;
    private static PgCluster pg;

    @BeforeAll
    static void start() {
        // small WAL buffers, filled by a writer below: nextval's log record often waits for WAL to
        // be written out, with the value 32 ahead in the page meanwhile
        pg = PgCluster.builder("rangefloor").setting("wal_buffers", "32kB").start();
        pg.createDatabase(DB);
        pg.execute(DB, "CREATE EXTENSION mmsync; CREATE TABLE wal (v text)");
    }

    @AfterAll
    static void stop() {
        if (pg != null) {
            pg.close();
        }
    }

    /**
     * Reads the last id, then takes one, until {@link #SAMPLES} / {@link #READERS} reads are done or
     * 20 read ahead: the sample every 10th time, else the sample's read of the last id as a slow
     * statement would make it: 1 ms after the scan of the sequence's page (a plain SELECT from the
     * sequence reads the page then, without the lock).
     */
    private static void read(List<String> ahead, AtomicLong samples, AtomicLong nulls) throws SQLException {
        String late = "SELECT " + RangeFloor.LAST_ID + " FROM mmsync.change_queue_id_seq s WHERE pg_catalog.pg_sleep(0.001) IS NOT NULL";
        try (Connection c = pg.connect(DB); Statement st = c.createStatement()) {
            for (int i = 0; i < SAMPLES / READERS && ahead.size() < 20; i++) {
                boolean whole = i % 10 == 0;
                Long last;
                try (ResultSet rs = st.executeQuery(whole ? RangeFloor.SAMPLE_SQL : late)) {
                    rs.next();
                    last = rs.getObject(1) == null ? null : rs.getLong(1);
                    if (whole) {
                        assertTrue(Long.parseLong(rs.getString(2)) > 0, "the sample's transaction id");
                    }
                }
                long next;
                try (ResultSet rs = st.executeQuery("SELECT nextval('mmsync.change_queue_id_seq')")) {
                    rs.next();
                    next = rs.getLong(1);
                }
                samples.incrementAndGet();
                if (last == null) {
                    nulls.incrementAndGet();
                } else if (next <= last) {
                    ahead.add((whole ? "sample" : "late read") + ": last id " + last + ", then nextval gave " + next);
                }
            }
        }
    }

    @Test
    void aSampleNeverReadsAnIdNotHandedOutYet() throws Exception {
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong taken = new AtomicLong();
        List<Thread> hammers = new ArrayList<>();
        List<Throwable> failed = new java.util.concurrent.CopyOnWriteArrayList<>();
        for (int i = 0; i < 3; i++) {
            // ids taken as the capture triggers take them, each after a setval (not is_called) as
            // the queue's rotation makes, so that each nextval logs (else every 32nd does); and WAL
            String sql = i == 2 ? "INSERT INTO wal SELECT repeat('x', 2000) FROM generate_series(1, 20); TRUNCATE wal"
                    : "SELECT setval('mmsync.change_queue_id_seq', nextval('mmsync.change_queue_id_seq') + 1, false)";
            Thread t = new Thread(() -> {
                try (Connection c = pg.connect(DB); Statement st = c.createStatement()) {
                    while (!stop.get()) {
                        st.execute(sql);
                        taken.incrementAndGet();
                    }
                } catch (SQLException | RuntimeException e) {
                    failed.add(e);
                }
            }, "nextval-" + i);
            t.setDaemon(true);
            t.start();
            hammers.add(t);
        }
        List<String> ahead = new java.util.concurrent.CopyOnWriteArrayList<>();
        AtomicLong samples = new AtomicLong();
        AtomicLong nulls = new AtomicLong();
        List<Thread> readers = new ArrayList<>();
        for (int r = 0; r < READERS; r++) {
            Thread t = new Thread(() -> {
                try {
                    read(ahead, samples, nulls);
                } catch (SQLException | RuntimeException | AssertionError e) {
                    failed.add(e);
                }
            }, "reader-" + r);
            t.start();
            readers.add(t);
        }
        try {
            for (Thread t : readers) {
                t.join(240_000);
            }
        } finally {
            stop.set(true);
            for (Thread t : hammers) {
                t.join(10_000);
            }
        }
        assertEquals(List.of(), failed);
        assertTrue(taken.get() > 1000, "the other sessions ran only " + taken.get() + " statements");
        assertEquals(List.of(), ahead, ahead.size() + " of " + samples + " samples read an id not handed out yet ("
                + nulls + " without a value)");
    }
}
