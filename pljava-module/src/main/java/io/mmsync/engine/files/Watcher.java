package io.mmsync.engine.files;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Wakes the file sync when something changes under its directory (inotify through
 * {@link WatchService}, every directory registered as the scans find them). Only a wake-up: the
 * scan that follows decides what changed, and a periodic full rescan catches what a lost event
 * (an overflow, a directory made and filled between two scans) would miss.
 */
final class Watcher implements AutoCloseable {
    private final WatchService ws;
    private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(Watcher.class.getName());
    private final Map<Path, WatchKey> keys = new HashMap<>();
    /** set once registering failed (logged once) */
    private boolean full;

    Watcher() throws IOException {
        this.ws = FileSystems.getDefault().newWatchService();
    }

    /** Watches every directory of the last scan (new ones added, gone ones dropped). */
    void register(List<Path> dirs) {
        keys.entrySet().removeIf(e -> !e.getValue().isValid());
        for (Path d : dirs) {
            if (!keys.containsKey(d)) {
                try {
                    keys.put(d, d.register(ws, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_DELETE,
                            StandardWatchEventKinds.ENTRY_MODIFY));
                } catch (NoSuchFileException e) {
                    // gone since the scan; the next scan sees it
                    continue;
                } catch (IOException e) {
                    // typically the inotify limit (fs.inotify.max_user_watches): changes here are then
                    // found by the periodic rescan only
                    if (!full) {
                        full = true;
                        LOG.warning("mmsync file sync: cannot watch " + d + " (" + e.getMessage() + "); changes under it are found by "
                                + "the full rescan only (raise fs.inotify.max_user_watches)");
                    }
                }
            }
        }
    }

    /** Waits up to {@code millis} for a change; true if one came (all pending events are consumed). */
    boolean await(long millis) throws InterruptedException {
        try {
            WatchKey k = ws.poll(Math.max(1, millis), TimeUnit.MILLISECONDS);
            if (k == null) {
                return false;
            }
            while (k != null) {
                k.pollEvents();
                k.reset();
                k = ws.poll();
            }
            return true;
        } catch (ClosedWatchServiceException e) {
            return false;
        }
    }

    @Override
    public void close() throws IOException {
        ws.close();
    }
}
