package io.mmsync.engine.send;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.ChangeId;
import io.mmsync.engine.model.Op;
import io.mmsync.engine.model.Page;
import io.mmsync.engine.model.Position;
import io.mmsync.engine.model.TableRef;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** How long a link waits after a page before its next turn (Pacing#steadyPause): pure decision, no sleep. */
class PacingTest {
    private static final TableRef T = new TableRef("public", "pgbench_accounts");

    private static Page page(int changes, boolean complete) {
        List<Change> list = new ArrayList<>();
        for (int i = 1; i <= changes; i++) {
            String row = "{\"aid\": " + i + ", \"abalance\": 0}";
            list.add(new Change(ChangeId.valueOf(i), T, Op.UPDATE, Instant.EPOCH, String.valueOf(i), String.valueOf(i), row, row));
        }
        Position at = Position.START.openRange("10:20:");
        return new Page(list, complete ? at.rangeDone() : at.advancedTo(ChangeId.valueOf(changes)), complete);
    }

    private static final long MS = 1_000_000L;

    @Test
    void smallPagesAndBacklogsNeverWait() {
        assertEquals(0, Pacing.pauseMillis(page(0, true), false, 10 * MS));
        assertEquals(0, Pacing.pauseMillis(page(Pacing.STEADY_PAGE - 1, true), false, MS));
        // a range read in several pages (a backlog) goes on at once, however long its pages
        assertEquals(0, Pacing.pauseMillis(page(Pacing.BUSY_PAGE * 10, false), false, MS));
        assertEquals(0, Pacing.pauseMillis(page(Pacing.STEADY_PAGE, false), true, MS));
    }

    @Test
    void aSteadyStreamWaitsABusyOneWayStreamLonger() {
        assertEquals(Pacing.STEADY_WAIT.toMillis(), Pacing.pauseMillis(page(Pacing.STEADY_PAGE, true), false, MS));
        assertEquals(Pacing.STEADY_WAIT.toMillis(), Pacing.pauseMillis(page(Pacing.BUSY_PAGE - 1, true), false, MS));
        // 64 changes over 20 ms: 3,200 a second
        assertEquals(Pacing.BUSY_WAIT.toMillis(), Pacing.pauseMillis(page(Pacing.BUSY_PAGE, true), false, 20 * MS));
        // the peer writes the page's tables too (two-way): its rows' locks are not held longer
        assertEquals(Pacing.STEADY_WAIT.toMillis(), Pacing.pauseMillis(page(Pacing.BUSY_PAGE * 4, true), true, 20 * MS));
        assertEquals(true, Pacing.BUSY_WAIT.compareTo(Pacing.STEADY_WAIT) > 0);
    }

    @Test
    void aLongPageOfALowRateIsNoBusyStream() {
        // 1,000 commits a second after a 200 ms stall: 200 changes over 200 ms, steady only
        assertEquals(Pacing.STEADY_WAIT.toMillis(), Pacing.pauseMillis(page(200, true), false, 200 * MS));
        // and the first page the link paces (no turn before it to measure from)
        assertEquals(Pacing.STEADY_WAIT.toMillis(), Pacing.pauseMillis(page(200, true), false, Long.MAX_VALUE));
        // just at the rate
        assertEquals(Pacing.BUSY_WAIT.toMillis(), Pacing.pauseMillis(page(Pacing.BUSY_RATE / 10, true), false, 100 * MS));
    }

    @Test
    void aBusyStreamStaysBusyAlittleBelowTheRate() {
        // 170 changes over 100 ms: 1,700 a second, below the rate that starts the busy wait
        assertEquals(Pacing.STEADY_WAIT.toMillis(), Pacing.pauseMillis(page(170, true), false, 100 * MS, false));
        // but above the one at which a busy stream stays busy
        assertEquals(Pacing.BUSY_WAIT.toMillis(), Pacing.pauseMillis(page(170, true), false, 100 * MS, true));
        // 1,000 commits a second leaves it
        assertEquals(Pacing.STEADY_WAIT.toMillis(), Pacing.pauseMillis(page(100, true), false, 100 * MS, true));
        // and so does a page the peer writes too, or a small one
        assertEquals(Pacing.STEADY_WAIT.toMillis(), Pacing.pauseMillis(page(170, true), true, 100 * MS, true));
        assertEquals(Pacing.STEADY_WAIT.toMillis(), Pacing.pauseMillis(page(Pacing.BUSY_PAGE - 1, true), false, MS, true));
    }
}
