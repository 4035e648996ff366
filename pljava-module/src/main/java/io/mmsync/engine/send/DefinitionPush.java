package io.mmsync.engine.send;

import io.mmsync.engine.model.SyncState;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * The sync's definition pushed to the peer once per session and again whenever its version
 * moves (nodes, tables, strategies changed by the DBA).
 */
final class DefinitionPush {
    private final String syncName;
    private final String peerNode;
    private long pushedVersion = -1;

    DefinitionPush(String syncName, String peerNode) {
        this.syncName = syncName;
        this.peerNode = peerNode;
    }

    /** A new session: the next turn pushes again. */
    void reset() {
        pushedVersion = -1;
    }

    /** Whether the sync is gone or its definition is newer than the one the peer has. */
    boolean due(SyncState sync) {
        return sync == null || sync.version > pushedVersion;
    }

    /**
     * Pushes the sync's definition to the peer when {@link #due}; true when the sync is gone or
     * removed here.
     */
    boolean removedOrPushed(Connection lc, Connection pc, SyncState sync) throws SQLException {
        if (!due(sync)) {
            return false;
        }
        if (sync != null) {
            PeerStore.pushDefinition(lc, pc, syncName, peerNode);
            pushedVersion = sync.version;
        }
        return sync == null || sync.removed;
    }
}
