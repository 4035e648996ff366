package io.mmsync.engine.files;

import java.nio.file.Path;
import java.util.List;

/**
 * A synced directory as this node runs it: its row of {@code mmsync.file_syncs} with the
 * directory resolved for this node, and its sync's conflict strategy and pause.
 */
record FileSyncDef(String sync, String name, Path directory, List<String> ignore, long maxFileSize, String owner,
                   long version, boolean removed, String conflict, String prefer, boolean paused) {
    FileSyncDef {
        ignore = List.copyOf(ignore);
    }

    String label() {
        return "file sync " + sync + "/" + name + " (" + directory + ")";
    }
}
