package io.mmsync.engine.send;

import io.mmsync.engine.model.QueueIdSamples;
import io.mmsync.engine.time.Clock;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * The lowest queue id a new snapshot range can hold, so that the first page of a range walks the
 * queue's index from there instead of from the oldest queue table still needed (issue 14: that
 * re-read hundreds of already-sent rows per change sent).
 *
 * <p>A range holds the changes not visible in its lower snapshot {@code lo}: their transactions'
 * ids are all at least {@code xmin(lo)}. A sample reads the last id the queue sequence handed out,
 * L (one handed out already: see {@link #SAMPLE_SQL}), and then takes a transaction id N for
 * itself, in that order. Every transaction id above N is assigned after N, so after L was read; a
 * transaction takes queue ids only once it has its id (the capture triggers run after the row is
 * written), so its queue ids are above L. Hence for a range
 * with {@code xmin(lo) > N}, every change in it has an id above L. Samples are taken at most every
 * {@link #EVERY_NANOS} (each costs the origin one transaction id) and kept until a newer one
 * qualifies; without a qualifying sample (a new session, a transaction open for longer than the
 * samples kept) the range starts where it did before: at the queue's floor.
 */
final class RangeFloor {
    static final long EVERY_NANOS = 100_000_000L;
    static final int MAX_SAMPLES = 2000;
    // pg_sequence_last_value reads the sequence's page under its buffer lock. A SELECT from the
    // sequence does not: while nextval logs, it writes the value 32 fetches ahead into the page
    // (under that lock) before the real one, so the SELECT could return ids not handed out yet, and
    // a range started above them never sent the changes that took them (found by CompareIT: an
    // update lost, the range confirmed). NULL (not is_called: just after the rotation's setval,
    // nothing handed out since): no sample this time.
    static final String LAST_ID = "pg_catalog.pg_sequence_last_value('mmsync.change_queue_id_seq'::pg_catalog.regclass)";
    static final String SAMPLE_SQL = "WITH l AS MATERIALIZED (SELECT " + LAST_ID + " AS last_value) "
            + "SELECT l.last_value, pg_catalog.pg_current_xact_id()::text FROM l";

    private final QueueIdSamples samples = new QueueIdSamples(MAX_SAMPLES);
    private final Clock clock;
    private long lastSample;
    private boolean sampled;

    RangeFloor(Clock clock) {
        this.clock = clock;
    }

    /** Takes a sample on {@code local} (autocommit) when the last one is older than {@link #EVERY_NANOS}. */
    void sampleIfDue(Connection local) throws SQLException {
        if (sampled && clock.nanosSince(lastSample) < EVERY_NANOS) {
            return;
        }
        try (Statement st = local.createStatement(); ResultSet rs = st.executeQuery(SAMPLE_SQL)) {
            rs.next();
            long lastValue = rs.getLong(1);
            if (!rs.wasNull()) {
                add(Long.parseLong(rs.getString(2)), lastValue);
            }
        }
        lastSample = clock.nanoTime();
        sampled = true;
    }

    void add(long xid, long lastValue) {
        samples.add(xid, lastValue);
    }

    /**
     * The id above which every change of the range opened after snapshot {@code lo} lies (0 when no
     * sample qualifies). Drops the samples older than the one it uses: later ranges have a later lo.
     */
    long below(String lo) {
        return samples.below(lo);
    }
}
