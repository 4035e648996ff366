package io.mmsync.health;

import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** The file sync's /metrics series (issue 16): pending files and bytes, files synced, last file time, error. */
class FileMetricsTest {
    @Test
    void seriesPerDirectoryAndPeer() {
        StringBuilder b = new StringBuilder();
        FileMetrics.append(b, List.of(
                new LocalState.FileRow("app", "plugins", "green", 3, 52_428_800, 12, "p/x", Instant.ofEpochSecond(1_700_000_000), null),
                new LocalState.FileRow("app", "client \"plugins\"", "green", 0, 0, 0, null, null, "green: refused")));
        String m = b.toString();
        assertTrue(m.contains("mmsync_files_pending{sync=\"app\",directory=\"plugins\",peer=\"green\"} 3\n"), m);
        assertTrue(m.contains("mmsync_file_bytes_pending{sync=\"app\",directory=\"plugins\",peer=\"green\"} 52428800\n"), m);
        assertTrue(m.contains("mmsync_files_synced_total{sync=\"app\",directory=\"plugins\",peer=\"green\"} 12\n"), m);
        assertTrue(m.contains("mmsync_file_last_synced_timestamp_seconds{sync=\"app\",directory=\"plugins\",peer=\"green\"} 1700000000\n"), m);
        assertTrue(m.contains("mmsync_file_sync_error{sync=\"app\",directory=\"client \\\"plugins\\\"\",peer=\"green\"} 1\n"), m);
        assertTrue(m.contains("# TYPE mmsync_files_synced_total counter\n"), m);
    }
}
