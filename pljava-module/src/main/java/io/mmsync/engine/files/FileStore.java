package io.mmsync.engine.files;

import java.nio.file.Path;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** This node's records of a synced directory: {@code mmsync.files}, its chunks, progress and conflicts. */
final class FileStore {
    static final String ROW_COLUMNS = "path, hash, chunks, size, mode, mtime_us, deleted, origin, changed_at, agreed, seq";
    private static final String UPSERT = "INSERT INTO mmsync.files AS f (sync_name, fs_name, " + ROW_COLUMNS + ") "
            + "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sync_name, fs_name, path) DO UPDATE SET "
            + "hash = EXCLUDED.hash, chunks = EXCLUDED.chunks, size = EXCLUDED.size, mode = EXCLUDED.mode, "
            + "mtime_us = EXCLUDED.mtime_us, deleted = EXCLUDED.deleted, origin = EXCLUDED.origin, "
            + "changed_at = EXCLUDED.changed_at, agreed = EXCLUDED.agreed, seq = EXCLUDED.seq";

    private final String sync;
    private final String name;

    FileStore(String sync, String name) {
        this.sync = sync;
        this.name = name;
    }

    /** The definition as this node runs it, or null when the file sync (or its sync) is gone. */
    static FileSyncDef loadDef(Connection c, String sync, String name, String me) throws SQLException {
        try (PreparedStatement st = c.prepareStatement("SELECT coalesce(f.directories->>?, f.directory), f.ignore, "
                + "f.max_file_size, f.owner, f.version, f.removed OR s.removed, s.conflict, s.prefer, s.paused "
                + "FROM mmsync.file_syncs f JOIN mmsync.syncs s ON s.name = f.sync_name WHERE f.sync_name = ? AND f.name = ?")) {
            st.setString(1, me);
            st.setString(2, sync);
            st.setString(3, name);
            try (ResultSet rs = st.executeQuery()) {
                if (!rs.next()) {
                    return null;
                }
                return new FileSyncDef(sync, name, Path.of(rs.getString(1)), Arrays.asList((String[]) rs.getArray(2).getArray()),
                        rs.getLong(3), rs.getString(4), rs.getLong(5), rs.getBoolean(6), rs.getString(7), rs.getString(8),
                        rs.getBoolean(9));
            }
        }
    }

    /** Every file recorded here (tombstones included), by path. */
    Map<String, FileEntry> loadIndex(Connection c) throws SQLException {
        Map<String, FileEntry> index = new HashMap<>();
        try (PreparedStatement st = c.prepareStatement("SELECT " + ROW_COLUMNS + " FROM mmsync.files WHERE sync_name = ? AND fs_name = ?")) {
            st.setString(1, sync);
            st.setString(2, name);
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    FileEntry e = read(rs);
                    index.put(e.path(), e);
                }
            }
        }
        return index;
    }

    static FileEntry read(ResultSet rs) throws SQLException {
        Array chunks = rs.getArray(3);
        return new FileEntry(rs.getString(1), rs.getString(2), chunks == null ? List.of() : Arrays.asList((String[]) chunks.getArray()),
                rs.getLong(4), rs.getInt(5), rs.getLong(6), rs.getBoolean(7), rs.getString(8),
                rs.getTimestamp(9).toInstant(), rs.getString(10), rs.getLong(11));
    }

    /**
     * Records {@code entries} in one transaction; with {@code bump} they get the next change number
     * (taken under the file sync's row lock, so numbers follow commit order and the peer, reading
     * "above the last number I took", misses nothing). Returns the entries as stored.
     */
    List<FileEntry> record(Connection c, Collection<FileEntry> entries, boolean bump) throws SQLException {
        List<FileEntry> stored = new ArrayList<>();
        if (entries.isEmpty()) {
            return stored;
        }
        c.setAutoCommit(false);
        try {
            // the file sync's row, locked against remove_file_sync (which forgets what was recorded):
            // recorded before a removal, forgotten by it; after one, nothing is recorded
            long seq = -1;
            try (PreparedStatement st = c.prepareStatement(bump
                    ? "UPDATE mmsync.file_syncs SET seq = seq + 1 WHERE sync_name = ? AND name = ? AND NOT removed RETURNING seq"
                    : "SELECT seq FROM mmsync.file_syncs WHERE sync_name = ? AND name = ? AND NOT removed FOR SHARE")) {
                st.setString(1, sync);
                st.setString(2, name);
                try (ResultSet rs = st.executeQuery()) {
                    if (!rs.next()) {
                        throw new SQLException("mmsync: file sync " + sync + "/" + name + " was removed", "42704");
                    }
                    seq = bump ? rs.getLong(1) : -1;
                }
            }
            try (PreparedStatement st = c.prepareStatement(UPSERT)) {
                for (FileEntry e : entries) {
                    FileEntry s = bump ? new FileEntry(e.path(), e.hash(), e.chunks(), e.size(), e.mode(), e.mtimeUs(), e.deleted(),
                            e.origin(), e.changedAt(), e.agreed(), seq) : e;
                    st.setString(1, sync);
                    st.setString(2, name);
                    st.setString(3, s.path());
                    st.setString(4, s.hash());
                    st.setArray(5, s.deleted() ? null : c.createArrayOf("text", s.chunks().toArray()));
                    st.setLong(6, s.size());
                    st.setInt(7, s.mode());
                    st.setLong(8, s.mtimeUs());
                    st.setBoolean(9, s.deleted());
                    st.setString(10, s.origin());
                    st.setTimestamp(11, Timestamp.from(s.changedAt()));
                    st.setString(12, s.agreed());
                    st.setLong(13, s.seq());
                    st.addBatch();
                    stored.add(s);
                }
                st.executeBatch();
            }
            c.commit();
            return stored;
        } catch (SQLException | RuntimeException e) {
            c.rollback();
            throw e;
        } finally {
            c.setAutoCommit(true);
        }
    }

    /** Stores a chunk unless a chunk with its hash is there already. */
    static void putChunk(PreparedStatement insert, String hash, byte[] data, int len) throws SQLException {
        insert.setString(1, hash);
        insert.setBytes(2, len == data.length ? data : Arrays.copyOf(data, len));
        insert.executeUpdate();
    }

    static final String PUT_CHUNK = "INSERT INTO mmsync.file_chunks (hash, data) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING";

    /** Deletes chunks no file recorded here uses (left by files changed again, or by hashing a file that was changing). */
    static int collectGarbage(Connection c) throws SQLException {
        try (PreparedStatement st = c.prepareStatement("DELETE FROM mmsync.file_chunks c WHERE NOT EXISTS "
                + "(SELECT 1 FROM mmsync.files f WHERE NOT f.deleted AND c.hash = ANY (f.chunks))")) {
            return st.executeUpdate();
        }
    }

    long lastSeq(Connection c, String peer) throws SQLException {
        try (PreparedStatement st = c.prepareStatement(
                "SELECT last_seq FROM mmsync.file_progress WHERE sync_name = ? AND fs_name = ? AND peer = ?")) {
            st.setString(1, sync);
            st.setString(2, name);
            st.setString(3, peer);
            try (ResultSet rs = st.executeQuery()) {
                return rs.next() ? rs.getLong(1) : 0;
            }
        }
    }

    /**
     * Updates the progress row for {@code peer}: pending counts; {@code lastSeq} and
     * {@code lastFile} when not null; {@code error} replaces the last error when {@code setError}.
     */
    void progress(Connection c, String peer, Long lastSeq, int filesPending, long bytesPending, String lastFile,
                  int synced, boolean setError, String error) throws SQLException {
        try (PreparedStatement st = c.prepareStatement("INSERT INTO mmsync.file_progress AS p (sync_name, fs_name, peer, "
                + "last_seq, files_pending, bytes_pending, files_synced, last_file, last_file_at, last_error, last_error_at) "
                + "VALUES (?, ?, ?, coalesce(?, 0), ?, ?, ?, ?, CASE WHEN ?::text IS NOT NULL THEN now() END, ?, "
                + "CASE WHEN ?::text IS NOT NULL THEN now() END) "
                + "ON CONFLICT (sync_name, fs_name, peer) DO UPDATE SET last_seq = coalesce(?, p.last_seq), "
                + "files_pending = EXCLUDED.files_pending, bytes_pending = EXCLUDED.bytes_pending, "
                + "files_synced = p.files_synced + EXCLUDED.files_synced, "
                + "last_file = coalesce(EXCLUDED.last_file, p.last_file), last_file_at = coalesce(EXCLUDED.last_file_at, p.last_file_at), "
                + "last_error = CASE WHEN ? THEN EXCLUDED.last_error ELSE p.last_error END, "
                + "last_error_at = CASE WHEN ? THEN EXCLUDED.last_error_at ELSE p.last_error_at END, heartbeat_at = now()")) {
            st.setString(1, sync);
            st.setString(2, name);
            st.setString(3, peer);
            st.setObject(4, lastSeq, Types.BIGINT);
            st.setInt(5, filesPending);
            st.setLong(6, bytesPending);
            st.setInt(7, synced);
            st.setString(8, lastFile);
            st.setString(9, lastFile);
            st.setString(10, error);
            st.setString(11, error);
            st.setObject(12, lastSeq, Types.BIGINT);
            st.setBoolean(13, setError);
            st.setBoolean(14, setError);
            st.executeUpdate();
        }
    }

    /** Beats the heartbeat of the progress row for {@code peer} (the worker is alive). */
    void beat(Connection c, String peer) throws SQLException {
        try (PreparedStatement st = c.prepareStatement("INSERT INTO mmsync.file_progress AS p (sync_name, fs_name, peer) VALUES (?, ?, ?) "
                + "ON CONFLICT (sync_name, fs_name, peer) DO UPDATE SET heartbeat_at = now()")) {
            st.setString(1, sync);
            st.setString(2, name);
            st.setString(3, peer);
            st.executeUpdate();
        }
    }

    void conflict(Connection c, String path, String strategy, boolean keptLocal, String peer, FileEntry local, FileEntry remote,
                  String copyPath) throws SQLException {
        try (PreparedStatement st = c.prepareStatement("INSERT INTO mmsync.file_conflicts (sync_name, fs_name, path, strategy, "
                + "kept, peer, local_hash, remote_hash, local_at, remote_at, copy_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
            st.setString(1, sync);
            st.setString(2, name);
            st.setString(3, path);
            st.setString(4, strategy);
            st.setString(5, keptLocal ? "local" : "remote");
            st.setString(6, peer);
            st.setString(7, local.key());
            st.setString(8, remote.key());
            st.setTimestamp(9, Timestamp.from(local.changedAt()));
            st.setTimestamp(10, Timestamp.from(remote.changedAt()));
            st.setString(11, copyPath);
            st.executeUpdate();
        }
    }
}
