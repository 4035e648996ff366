package io.mmsync.health;

import io.mmsync.engine.conn.ConnInfo;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** Per-request questions to the local database, each on a new connection and under a deadline. */
final class LocalProbe {
    private static final String LOCAL_SQL = "SELECT node, in_recovery, read_only, primary_node, started_at FROM mmsync._health_local()";
    private static final String STATUS_SQL = "SELECT sync, peer, state, backlog, lag_seconds, rows_sent, rows_applied, "
            + "last_error, conflicts, set_aside, (pg_catalog.to_jsonb(s) ->> 'merged_deltas')::bigint, "
            + "(pg_catalog.to_jsonb(s) ->> 'verified_at')::timestamptz "
            // merged_deltas, verified_at: from extension 0.2.0 (to_jsonb: the query works with 0.1.0 as well)
            + "FROM mmsync.status() s";

    /** Which host (agent or in-database worker) holds this node's engine lock. */
    private static final String ENGINE_SQL = "SELECT host || coalesce(': ' || detail, '') FROM mmsync.engine_host()";

    private final ConnInfo local;
    private final Db db;
    private final Duration deadline;

    LocalProbe(ConnInfo local, Db db, Duration deadline) {
        this.local = local;
        this.db = db;
        this.deadline = deadline;
    }

    /** Null if the local server accepted a connection and answered SELECT 1 in time, else why not. */
    String ping() {
        try {
            return db.within(deadline, () -> {
                try (Connection c = db.open(local, "probe"); Statement st = c.createStatement();
                     ResultSet rs = st.executeQuery("SELECT 1")) {
                    rs.next();
                    return rs.getInt(1) == 1 ? null : "SELECT 1 did not answer 1";
                }
            });
        } catch (Db.ProbeException e) {
            return e.getMessage();
        }
    }

    /** Node, writability and designated node; with {@code withSyncs} also the rows of mmsync.status(). */
    LocalState state(boolean withSyncs) {
        try {
            return db.within(deadline, () -> {
                try (Connection c = db.open(local, "probe")) {
                    return read(c, withSyncs);
                }
            });
        } catch (Db.ProbeException e) {
            return LocalState.failed(e.getMessage());
        }
    }

    private static LocalState read(Connection c, boolean withSyncs) throws SQLException {
        String node;
        boolean recovery;
        boolean readOnly;
        String primary;
        java.time.Instant started;
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(LOCAL_SQL)) {
            rs.next();
            node = rs.getString(1);
            recovery = rs.getBoolean(2);
            readOnly = rs.getBoolean(3);
            primary = rs.getString(4);
            started = rs.getTimestamp(5).toInstant();
        }
        List<LocalState.SyncRow> rows = new ArrayList<>();
        String engineHost = null;
        if (withSyncs && node != null) {
            try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(STATUS_SQL)) {
                while (rs.next()) {
                    rows.add(new LocalState.SyncRow(rs.getString(1), rs.getString(2), rs.getString(3), rs.getLong(4),
                            rs.getDouble(5), rs.getLong(6), rs.getLong(7), Redact.text(rs.getString(8)),
                            rs.getLong(9), rs.getLong(10), rs.getLong(11), rs.getTimestamp(12) == null ? null : rs.getTimestamp(12).toInstant()));
                }
            }
        }
        if (withSyncs && node != null) {
            try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(ENGINE_SQL)) {
                rs.next();
                engineHost = rs.getString(1);
            }
        }
        List<LocalState.FileRow> files = withSyncs && node != null ? files(c) : List.of();
        List<LocalState.CopyRow> copies = withSyncs && node != null ? copies(c) : List.of();
        return new LocalState(null, node, recovery, readOnly, primary, started, List.copyOf(rows), engineHost, files, copies);
    }

    /** The rows of mmsync.file_status() (none before the extension's 0.2.0, which brought file sync). */
    private static List<LocalState.FileRow> files(Connection c) throws SQLException {
        List<LocalState.FileRow> files = new ArrayList<>();
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT pg_catalog.to_regprocedure('mmsync.file_status()') IS NOT NULL")) {
            if (!rs.next() || !rs.getBoolean(1)) {
                return List.of();
            }
        }
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT sync, name, peer, files_pending, bytes_pending, files_synced, "
                     + "last_file, last_file_at, last_error FROM mmsync.file_status()")) {
            while (rs.next()) {
                java.sql.Timestamp at = rs.getTimestamp(8);
                files.add(new LocalState.FileRow(rs.getString(1), rs.getString(2), rs.getString(3), rs.getLong(4), rs.getLong(5),
                        rs.getLong(6), rs.getString(7), at == null ? null : at.toInstant(), Redact.text(rs.getString(9))));
            }
        }
        return List.copyOf(files);
    }

    /** The tables of mmsync.copy_status() whose initial copy is not done (none before 0.2.0). */
    private static List<LocalState.CopyRow> copies(Connection c) throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT pg_catalog.to_regprocedure('mmsync.copy_status()') IS NOT NULL")) {
            if (!rs.next() || !rs.getBoolean(1)) {
                return List.of();
            }
        }
        List<LocalState.CopyRow> copies = new ArrayList<>();
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT sync, peer, \"table\", state, rows_done, rows_total, bytes_done, "
                     + "rows_per_second::float8, eta_seconds::float8 FROM mmsync.copy_status() WHERE state <> 'done'")) {
            while (rs.next()) {
                double rate = rs.getDouble(8);
                Double r = rs.wasNull() ? null : rate;
                double eta = rs.getDouble(9);
                Double e = rs.wasNull() ? null : eta;
                copies.add(new LocalState.CopyRow(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4),
                        rs.getLong(5), rs.getLong(6), rs.getLong(7), r, e));
            }
        }
        return List.copyOf(copies);
    }
}
