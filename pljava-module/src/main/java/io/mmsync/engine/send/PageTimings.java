package io.mmsync.engine.send;

import io.mmsync.engine.apply.Applier;

/** The FINE line of a page's phases: where a turn spends its time (bench/README.md reads it). */
final class PageTimings {
    private PageTimings() {
    }

    static String describe(int changes, Applier.Result r, long readNanos, long waitedNanos, long totalNanos) {
        return String.format("page of %d changes (%d statements) in %.1f ms: read %.1f, resolve %.1f, run %.1f, "
                + "commit %.1f, wait for read-ahead %.1f, confirm+purge %.1f", changes, r.runs, totalNanos / 1e6,
                readNanos / 1e6, r.resolveNanos / 1e6, r.runNanos / 1e6, r.commitNanos / 1e6, waitedNanos / 1e6,
                (totalNanos - readNanos - r.resolveNanos - r.runNanos - r.commitNanos - waitedNanos) / 1e6);
    }
}
