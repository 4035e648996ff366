package io.mmsync.engine.send;

import io.mmsync.engine.apply.Applier;
import io.mmsync.engine.model.Page;

import java.time.Instant;
import java.util.logging.Logger;

/**
 * Issue 15: a small page's way through the link in wall-clock microseconds, one INFO line per
 * page ({@code TRACE <table> <first key> ws=… wake=… b0=… …}) when the JVM runs with
 * {@code -Dmmsync.trace=true}; bench/lib/lagprobe.py sets them against the servers' commit
 * timestamps (the same host clock). Off by default: then each mark is one boolean test.
 */
final class LagTrace {
    static final boolean ON = Boolean.getBoolean("mmsync.trace");
    private static final Logger LOG = Logger.getLogger(LagTrace.class.getName());

    /** when the link last began to wait for a NOTIFY, and when that wait ended */
    long waitStart;
    long wake;
    long b0;
    /** the wait that ended before this turn (copied at {@link #turn}) */
    private long turnWaitStart;
    private long turnWake;
    long b1;
    long r1;
    long e1;
    long a0;
    long a1;

    /** Now, in microseconds since the epoch (0 when tracing is off). */
    static long now() {
        if (!ON) {
            return 0;
        }
        Instant t = Instant.now();
        return t.getEpochSecond() * 1_000_000L + t.getNano() / 1000;
    }

    /** A turn begins: the marks of the wait that led to it are its own. */
    void turn() {
        if (ON) {
            b0 = now();
            turnWaitStart = waitStart;
            turnWake = wake;
        }
    }

    /** The turn was run while the last page applied ({@link NextTurn}): its marks are that thread's. */
    void readAhead(NextTurn t) {
        if (ON) {
            turnWaitStart = t.waitStart;
            turnWake = t.wake;
            b0 = t.b0;
            b1 = t.b1;
        }
    }

    /** The page's line, once it is confirmed. */
    void page(Page page, Applier.Result r) {
        if (!ON || page.isEmpty()) {
            return;
        }
        long c1 = now();
        var first = page.changes().get(0);
        LOG.info("TRACE " + first.table().name() + " " + first.key().replace('\u001f', ',') + " ws=" + turnWaitStart
                + " wake=" + turnWake + " b0=" + b0 + " b1=" + b1 + " r1=" + r1 + " e1=" + e1 + " a0=" + a0 + " a1=" + a1
                + " res=" + r.resolveNanos / 1000 + " run=" + r.runNanos / 1000 + " com=" + r.commitNanos / 1000
                + " c1=" + c1 + " n=" + page.changes().size());
    }
}
