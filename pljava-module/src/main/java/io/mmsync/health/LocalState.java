package io.mmsync.health;

import java.time.Instant;
import java.util.List;

/**
 * The local database as one probe saw it. {@code error} is null when the probe got its answer;
 * otherwise the other fields are unknown (false/null/empty). {@code startedAt} is the postmaster's
 * start time. {@code engineHost}: which host runs this node's engine, from mmsync.engine_host()
 * ("worker: mmsync engine (worker pid 4711) from 127.0.0.1", "agent: ...", "none"), or null when
 * not asked. {@code files}: the rows of mmsync.file_status() (file sync, issue 16).
 */
record LocalState(String error, String node, boolean inRecovery, boolean readOnly, String primary,
                  Instant startedAt, List<SyncRow> syncs, String engineHost, List<FileRow> files,
                  List<CopyRow> copies) {

    LocalState(String error, String node, boolean inRecovery, boolean readOnly, String primary,
               Instant startedAt, List<SyncRow> syncs) {
        this(error, node, inRecovery, readOnly, primary, startedAt, syncs, null, List.of(), List.of());
    }

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
                   long rowsApplied, String lastError, long conflicts, long setAside, long mergedDeltas, Instant verifiedAt) {
    }

    /**
     * One row of {@code mmsync.copy_status()} for a table whose initial copy is not done: rows and
     * bytes done, rate and estimated seconds left (null while unknown).
     */
    record CopyRow(String sync, String peer, String table, String state, long rowsDone, long rowsTotal, long bytesDone,
                   Double rowsPerSecond, Double etaSeconds) {
    }

    /** One row of {@code mmsync.file_status()}: a synced directory and what is still to come from one peer. */
    record FileRow(String sync, String name, String peer, long filesPending, long bytesPending, long filesSynced,
                   String lastFile, Instant lastFileAt, String lastError) {
    }
}
