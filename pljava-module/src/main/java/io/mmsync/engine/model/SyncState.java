package io.mmsync.engine.model;



/** A sync's row on the local node. */
public final class SyncState {
    public final String snapshot;
    public final int id;
    public final boolean paused;
    public final boolean removed;
    public final long version;
    public final String name;
    public final ConflictStrategy conflict;
    /** the node that wins conflicts under prefer, keep_local and apply_remote */
    public final String prefer;

    public SyncState(String snapshot, int id, boolean paused, boolean removed, long version, String name,
                     ConflictStrategy conflict, String prefer) {
        this.snapshot = snapshot;
        this.id = id;
        this.paused = paused;
        this.removed = removed;
        this.version = version;
        this.name = name;
        this.conflict = conflict;
        this.prefer = prefer;
    }
}
