package io.mmsync.health;

import java.time.Instant;
import java.util.List;

/**
 * The local database as one probe saw it. {@code error} is null when the probe got its answer;
 * otherwise the other fields are unknown (false/null/empty). {@code startedAt} is the postmaster's
 * start time.
 */
record LocalState(String error, String node, boolean inRecovery, boolean readOnly, String primary,
                  Instant startedAt, List<SyncRow> syncs) {

    static LocalState failed(String error) {
        return new LocalState(error, null, false, false, null, null, List.of());
    }

    boolean up() {
        return error == null;
    }

    boolean writable() {
        return up() && !inRecovery && !readOnly;
    }

    /** One row of {@code mmsync.status()}: what this node sends to one peer for one sync. */
    record SyncRow(String sync, String peer, String state, long backlog, double lagSeconds, long rowsSent,
                   long rowsApplied, String lastError, long conflicts, long setAside, long mergedDeltas) {
    }
}
