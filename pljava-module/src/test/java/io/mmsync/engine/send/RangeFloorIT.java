package io.mmsync.engine.send;

import io.mmsync.engine.time.Clock;
import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The sample {@link RangeFloor} relies on, on a real server while other sessions take queue ids
 * as fast as they can (one also sets the sequence ahead, not is_called, as the queue's rotation
 * does): the last id it reads must be one that some session was handed, so every id taken after
 * it is above it. nextval writes the value 32 fetches ahead into the sequence's page while it logs
 * it (under the buffer lock); a plain SELECT from the sequence reads the page without that lock
 * and could see it: a range started above it never sent the changes with the ids in between, and
 * was confirmed all the same.
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

    /** The sequence's next id; each is recorded in {@code handedOut}. */
    private static long take(Statement st, String sql, Set<Long> handedOut) throws SQLException {
        try (ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            long id = rs.getLong(1);
            handedOut.add(id);
            return id;
        }
    }

    /**
     * Reads the last id, then takes one, until {@link #SAMPLES} / {@link #READERS} reads are done or
     * 20 went wrong: the sample every 10th time, else the sample's read of the last id as a slow
     * statement would make it: 1 ms after the scan of the sequence's page (a plain SELECT from the
     * sequence reads the page then, without the lock). Returns the ids read (null: none).
     */
    private static List<Long> read(List<String> wrong, Set<Long> handedOut) throws SQLException {
        String late = "SELECT " + RangeFloor.LAST_ID + " FROM mmsync.change_queue_id_seq s WHERE pg_catalog.pg_sleep(0.001) IS NOT NULL";
        List<Long> read = new ArrayList<>();
        try (Connection c = pg.connect(DB); Statement st = c.createStatement()) {
            for (int i = 0; i < SAMPLES / READERS && wrong.size() < 20; i++) {
                boolean whole = i % 10 == 0;
                Long last;
                try (ResultSet rs = st.executeQuery(whole ? RangeFloor.SAMPLE_SQL : late)) {
                    rs.next();
                    last = rs.getObject(1) == null ? null : rs.getLong(1);
                    if (whole) {
                        assertTrue(Long.parseLong(rs.getString(2)) > 0, "the sample's transaction id");
                    }
                }
                long next = take(st, NEXTVAL, handedOut);
                read.add(last);
                if (last != null && next <= last) {
                    wrong.add((whole ? "sample" : "late read") + ": last id " + last + ", then nextval gave " + next);
                }
            }
        }
        return read;
    }

    static final String NEXTVAL = "SELECT nextval('mmsync.change_queue_id_seq')";
    // far enough ahead that the other sessions' ids taken meanwhile never pass it: the sequence
    // only moves forward, as with the rotation's setval to the next epoch
    static final long JUMP = 100_000;
    static final String SETVAL = "SELECT v.n, setval('mmsync.change_queue_id_seq', v.n + " + JUMP + ", false) "
            + "FROM (SELECT nextval('mmsync.change_queue_id_seq') AS n OFFSET 0) AS v";

    @Test
    void aSampleNeverReadsAnIdNotHandedOutYet() throws Exception {
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong statements = new AtomicLong();
        Set<Long> handedOut = ConcurrentHashMap.newKeySet();
        Set<Long> setTo = ConcurrentHashMap.newKeySet();
        List<Throwable> failed = new CopyOnWriteArrayList<>();
        try (Connection c = pg.connect(DB); Statement st = c.createStatement()) {
            take(st, NEXTVAL, handedOut); // from a state after a nextval, whatever ran before
        }
        List<Thread> threads = new ArrayList<>();
        // ids taken as the capture triggers take them; ids taken each after a setval (not is_called)
        // as the rotation's, so that each nextval logs (else every 32nd does); WAL
        for (String sql : List.of(NEXTVAL, SETVAL, "INSERT INTO wal SELECT repeat('x', 2000) FROM generate_series(1, 20); TRUNCATE wal")) {
            Thread t = new Thread(() -> {
                try (Connection c = pg.connect(DB); Statement st = c.createStatement()) {
                    while (!stop.get()) {
                        if (sql.startsWith("INSERT")) {
                            st.execute(sql);
                        } else {
                            long id = take(st, sql, handedOut);
                            if (sql.equals(SETVAL)) {
                                setTo.add(id + JUMP);
                            }
                        }
                        statements.incrementAndGet();
                    }
                } catch (SQLException | RuntimeException e) {
                    failed.add(e);
                }
            }, "load");
            t.setDaemon(true);
            t.start();
            threads.add(t);
        }
        List<String> wrong = new CopyOnWriteArrayList<>();
        List<Long> read = new CopyOnWriteArrayList<>();
        List<Thread> readers = new ArrayList<>();
        for (int r = 0; r < READERS; r++) {
            Thread t = new Thread(() -> {
                try {
                    read.addAll(read(wrong, handedOut));
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
            for (Thread t : threads) {
                t.join(10_000);
            }
        }
        assertEquals(List.of(), failed);
        assertTrue(statements.get() > 1000, "the other sessions ran only " + statements.get() + " statements");
        long none = read.stream().filter(java.util.Objects::isNull).count();
        // an id handed out, or (not is_called) the one before the next to be handed out
        read.stream().filter(id -> id != null && !handedOut.contains(id) && !setTo.contains(id + 1)).limit(20)
                .forEach(id -> wrong.add("last id " + id + " was never handed out"));
        assertEquals(List.of(), wrong, wrong.size() + " wrong of " + read.size() + " reads (" + none + " without a value)");
    }

    /**
     * Just after the rotation's setval (not is_called) the sequence has handed out nothing since: no
     * sample is kept then, and the next one, once due, is the id handed out after it.
     */
    @Test
    void noSampleRightAfterTheRotationsSetval() throws Exception {
        Clock ticking = new Clock() {
            private long now;

            @Override
            public long nanoTime() {
                now += RangeFloor.EVERY_NANOS;
                return now;
            }

            @Override
            public Instant instant() {
                return Instant.now();
            }
        };
        String later = Long.MAX_VALUE / 2 + ":" + Long.MAX_VALUE / 2 + ":"; // a range opened after every sample
        try (Connection c = pg.connect(DB); Statement st = c.createStatement()) {
            st.execute("SELECT setval('mmsync.change_queue_id_seq', nextval('mmsync.change_queue_id_seq') + 100, false)");
            RangeFloor f = new RangeFloor(ticking);
            f.sampleIfDue(c);
            assertEquals(0, f.below(later), "no sample while nothing was handed out since the setval");
            long id;
            try (ResultSet rs = st.executeQuery("SELECT nextval('mmsync.change_queue_id_seq')")) {
                rs.next();
                id = rs.getLong(1);
            }
            f.sampleIfDue(c);
            assertEquals(id, f.below(later));
        }
    }
}
