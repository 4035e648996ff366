package io.mmsync.health;

import java.util.List;

/** The file sync's series of /metrics (issue 16), one per synced directory and peer. */
final class FileMetrics {
    private FileMetrics() {
    }

    static void append(StringBuilder b, List<LocalState.FileRow> files) {
        Reports.gauge(b, "mmsync_files_pending", "Files the peer recorded that this node has still to write.");
        files.forEach(f -> series(b, "mmsync_files_pending", f, f.filesPending()));
        Reports.gauge(b, "mmsync_file_bytes_pending", "Bytes of the files the peer recorded that this node has still to write.");
        files.forEach(f -> series(b, "mmsync_file_bytes_pending", f, f.bytesPending()));
        Reports.counter(b, "mmsync_files_synced_total", "Files (and deletions) from the peer written here.");
        files.forEach(f -> series(b, "mmsync_files_synced_total", f, f.filesSynced()));
        Reports.gauge(b, "mmsync_file_last_synced_timestamp_seconds", "When the last file from the peer was written here (Unix time; 0: none yet).");
        files.forEach(f -> series(b, "mmsync_file_last_synced_timestamp_seconds", f,
                f.lastFileAt() == null ? 0 : f.lastFileAt().getEpochSecond()));
        Reports.gauge(b, "mmsync_file_sync_error", "1 if the file sync reports an error now (see /status or mmsync.file_status()).");
        files.forEach(f -> series(b, "mmsync_file_sync_error", f, f.lastError() == null ? 0 : 1));
    }

    private static void series(StringBuilder b, String name, LocalState.FileRow f, double v) {
        b.append(name).append("{sync=\"").append(Reports.esc(f.sync())).append("\",directory=\"").append(Reports.esc(f.name()))
                .append("\",peer=\"").append(Reports.esc(f.peer())).append("\"} ").append(Reports.num(v)).append('\n');
    }
}
