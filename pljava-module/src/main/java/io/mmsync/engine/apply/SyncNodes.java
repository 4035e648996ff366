package io.mmsync.engine.apply;

import io.mmsync.engine.model.SyncState;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * How many nodes a sync has, as the peer knows it (read once per version of the sync's local
 * definition): a sync of three or more nodes keeps row versions ({@link RowVersions}).
 */
final class SyncNodes {
    private String name;
    private long version = -1;
    private int count;

    int count(Connection peer, SyncState sync) throws SQLException {
        if (sync.name.equals(name) && sync.version == version) {
            return count;
        }
        try (PreparedStatement st = peer.prepareStatement("SELECT pg_catalog.cardinality(ARRAY(SELECT DISTINCT "
                + "pg_catalog.unnest(s.nodes))) FROM mmsync.syncs s WHERE s.name = ?")) {
            st.setString(1, sync.name);
            try (ResultSet rs = st.executeQuery()) {
                if (!rs.next()) {
                    throw new SQLException("mmsync: sync \"" + sync.name + "\" is not defined at the peer; "
                            + "the link pushes its definition before it applies, and tries again", "55000");
                }
                count = rs.getInt(1);
            }
        }
        name = sync.name;
        version = sync.version;
        return count;
    }
}
