package io.mmsync.engine.send;

import io.mmsync.engine.model.ChangeId;
import io.mmsync.engine.model.Page;
import io.mmsync.engine.model.Position;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.sql.SQLException;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The read-ahead hands over a page only for the position it was read from, failures included. */
@Timeout(30)
class ReadAheadTest {
    private static final Position AT_5 = Position.START.openRange("10:20:").advancedTo(ChangeId.valueOf(5));
    private static final Position AT_9 = Position.START.openRange("10:20:").advancedTo(ChangeId.valueOf(9));

    private static Page page(Position next) {
        return new Page(List.of(), next, false);
    }

    @Test
    void handsOverThePageReadFromTheSamePosition() throws Exception {
        try (ReadAhead ra = new ReadAhead(Thread::new)) {
            Page p = page(AT_9);
            ra.start(AT_5, () -> p);
            ra.finish();
            assertSame(p, ra.take(Position.START.openRange("10:20:").advancedTo(ChangeId.valueOf(5))));
            assertNull(ra.take(AT_5), "a page is handed over once");
        }
    }

    @Test
    void aPageFromAnotherPositionIsDropped() throws Exception {
        try (ReadAhead ra = new ReadAhead(Thread::new)) {
            ra.start(AT_5, () -> page(AT_9));
            ra.finish();
            assertNull(ra.take(AT_9));
            assertNull(ra.take(AT_5));
        }
    }

    @Test
    void aFailedReadFailsTheTake() throws Exception {
        try (ReadAhead ra = new ReadAhead(Thread::new)) {
            ra.start(AT_5, () -> {
                throw new SQLException("queue gone", "42P01");
            });
            ra.finish();
            SQLException e = assertThrows(SQLException.class, () -> ra.take(AT_5));
            assertEquals("42P01", e.getSQLState());
        }
    }

    @Test
    void discardWaitsUntilTheReadHasEnded() throws Exception {
        CountDownLatch started = new CountDownLatch(1);
        AtomicBoolean ended = new AtomicBoolean();
        try (ReadAhead ra = new ReadAhead(Thread::new)) {
            ra.start(AT_5, () -> {
                started.countDown();
                Thread.sleep(200);
                ended.set(true);
                return page(AT_9);
            });
            assertTrue(started.await(10, TimeUnit.SECONDS));
            ra.discard();
            assertTrue(ended.get(), "the connection is free once discard returns");
            assertNull(ra.take(AT_5));
        }
    }
}
