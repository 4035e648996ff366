package io.mmsync.engine.send;

import io.mmsync.engine.compare.InitialMerge;
import io.mmsync.engine.conn.Connector;
import io.mmsync.engine.copy.InitialCopy;
import io.mmsync.engine.model.ChangeId;
import io.mmsync.engine.model.Position;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.concurrent.ThreadFactory;

/**
 * How a link starts from existing data (issue 12): before its first page of a session, a sync
 * added with {@code initial => 'copy' | 'merge'} whose copy or merge is not finished runs it
 * first: the peer's tables, then the queue (from the copy's snapshot).
 */
final class InitialStep {
    private final String syncName;
    private final String origin;
    private final Connector local;
    private final Connector peer;
    private final ThreadFactory threads;
    private boolean checked;

    InitialStep(String syncName, String origin, Connector local, Connector peer, ThreadFactory threads) {
        this.syncName = syncName;
        this.origin = origin;
        this.local = local;
        this.peer = peer;
        this.threads = threads;
    }

    /** A new session checks again. */
    void reset() {
        checked = false;
    }

    /**
     * Runs the pending copy or merge, once per session, after the definition's push (which makes
     * the peer forget an earlier copy of a sync added again). Returns the position to send from
     * after a copy, {@code current} after a merge, null when nothing was pending.
     */
    Position runIfPending(Connection lc, Connection pc, Position current, InitialCopy.Beat beat) throws SQLException, InterruptedException {
        if (checked) {
            return null;
        }
        checked = true;
        String initial = InitialCopy.pending(lc, pc, syncName, origin, peer.nodeName());
        if (initial == null) {
            return null;
        }
        if (initial.equals("copy")) {
            return Position.of(new InitialCopy(syncName, origin, local, peer, threads, beat).run(), null, ChangeId.NONE);
        }
        new InitialMerge(syncName, origin, local, peer, threads, beat::beat).run();
        return current;
    }
}
