package io.mmsync.engine;

import io.mmsync.engine.model.Change;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Instant;
import java.util.List;

/** Writes resolved conflicts into the peer's mmsync.conflicts, in the apply transaction. */
final class ConflictLog {
    private static final String INSERT_SQL = "INSERT INTO mmsync.conflicts (sync_name, schema_name, table_name, key, "
            + "kind, strategy, resolution, origin, origin_change, remote_at, local_at, winning_row, losing_row) "
            + "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?::jsonb)";
    private static final String DECIDED_SQL = "UPDATE mmsync.conflicts SET resolution = CASE decision "
            + "WHEN 'apply' THEN 'remote_applied' ELSE 'local_kept' END WHERE id = ?";

    /** One conflict as the peer resolved it. */
    static final class Entry {
        final String sync;
        final Change change;
        final String kind;
        final String strategy;
        final String resolution;
        final String origin;
        final Instant remoteAt;
        final Instant localAt;
        final String winningRow;
        final String losingRow;

        Entry(String sync, Change change, String kind, String strategy, String resolution, String origin,
              Instant remoteAt, Instant localAt, String winningRow, String losingRow) {
            this.sync = sync;
            this.change = change;
            this.kind = kind;
            this.strategy = strategy;
            this.resolution = resolution;
            this.origin = origin;
            this.remoteAt = remoteAt;
            this.localAt = localAt;
            this.winningRow = winningRow;
            this.losingRow = losingRow;
        }
    }

    private ConflictLog() {
    }

    static void write(Connection peer, List<Entry> entries, List<Long> decided) throws SQLException {
        if (!entries.isEmpty()) {
            try (PreparedStatement st = peer.prepareStatement(INSERT_SQL)) {
                for (Entry e : entries) {
                    st.setString(1, e.sync);
                    st.setString(2, e.change.table().schema());
                    st.setString(3, e.change.table().name());
                    st.setString(4, e.change.key().replace('\u001f', ','));
                    st.setString(5, e.kind);
                    st.setString(6, e.strategy);
                    st.setString(7, e.resolution);
                    st.setString(8, e.origin);
                    st.setLong(9, e.change.id().asLong());
                    st.setTimestamp(10, e.remoteAt == null ? null : Timestamp.from(e.remoteAt));
                    st.setTimestamp(11, e.localAt == null ? null : Timestamp.from(e.localAt));
                    st.setObject(12, e.winningRow, Types.OTHER);
                    st.setObject(13, e.losingRow, Types.OTHER);
                    st.addBatch();
                }
                st.executeBatch();
            }
        }
        if (!decided.isEmpty()) {
            try (PreparedStatement st = peer.prepareStatement(DECIDED_SQL)) {
                for (Long id : decided) {
                    st.setLong(1, id);
                    st.addBatch();
                }
                st.executeBatch();
            }
        }
    }
}
