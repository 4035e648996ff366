package io.mmsync.engine.model;

import java.util.ArrayDeque;
import java.util.Iterator;

/**
 * Samples {transaction id N, last queue id L} of a node's queue, oldest first, each taken as
 * send.RangeFloor's SAMPLE_SQL explains (L read, then N assigned): every change of a transaction
 * whose id is at least a snapshot's xmin, where a sample's N is below it, has a queue id above that
 * sample's L. Used by the sender (a new range's first page) and the apply's competitor cache (the
 * changes committed since its last lookup). Thread-safe: the sender's read-ahead reads it too.
 */
public final class QueueIdSamples {
    /** {xid N, last value L}, oldest first */
    private final ArrayDeque<long[]> samples = new ArrayDeque<>();
    private final int max;

    /** Keeps at most {@code max} samples (the oldest go first). */
    public QueueIdSamples(int max) {
        this.max = max;
    }

    public synchronized void add(long xid, long lastValue) {
        samples.addLast(new long[] {xid, lastValue});
        if (samples.size() > max) {
            samples.removeFirst();
        }
    }

    /**
     * The queue id above which every change not visible in {@code snapshot} lies (0 when no sample
     * qualifies or no snapshot: the queue's floor). Drops the samples older than the one it uses:
     * later snapshots have a later xmin.
     */
    public synchronized long below(String snapshot) {
        if (snapshot == null) {
            return 0;
        }
        long xmin = Long.parseLong(snapshot.substring(0, snapshot.indexOf(':')));
        long[] best = null;
        int older = -1;
        for (Iterator<long[]> it = samples.iterator(); it.hasNext(); ) {
            long[] s = it.next();
            if (s[0] >= xmin) {
                break;
            }
            best = s;
            older++;
        }
        for (int i = 0; i < older; i++) {
            samples.removeFirst();
        }
        return best == null ? 0 : best[1];
    }

    public synchronized void clear() {
        samples.clear();
    }
}
