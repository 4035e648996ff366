package io.mmsync.engine.files;

import io.mmsync.engine.conn.Connector;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadFactory;

/**
 * The file-sync part of a node's engine: one {@link FileSyncWorker} per synced directory
 * ({@code mmsync.file_syncs}), each on its own thread with its own connections, so files never
 * hold back row changes. The engine calls {@link #reconcile} on every round of its catalog watch.
 */
public final class FileSyncs {
    private final FileSettings settings;
    private final ThreadFactory threads;
    private final Connector local;
    private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(FileSyncs.class.getName());
    private final Map<String, FileSyncWorker> workers = new HashMap<>();
    private String lastError;
    /** version of each removed file sync whose removal this engine has pushed to the peers */
    private final Map<String, Long> removalsPushed = new HashMap<>();

    public FileSyncs(FileSettings settings, ThreadFactory threads, Connector local) {
        this.settings = settings;
        this.threads = threads;
        this.local = local;
    }

    /**
     * Starts a worker for each file sync that needs one and stops those whose file sync is gone. A
     * failure here is logged and tried again at the next round: it must not disturb the engine's
     * supervision of the row links.
     */
    public synchronized void reconcile(Connection c, String me) {
        try {
            reconcileOrFail(c, me);
        } catch (SQLException e) {
            String msg = "mmsync engine: cannot read the file syncs (mmsync.file_syncs): " + e.getMessage() + "; tried again next round";
            if (!msg.equals(lastError)) {
                LOG.warning(msg);
                lastError = msg;
            }
            return;
        }
        lastError = null;
    }

    private void reconcileOrFail(Connection c, String me) throws SQLException {
        Set<String> wanted = new HashSet<>();
        try (PreparedStatement st = c.prepareStatement("SELECT pg_catalog.to_regclass('mmsync.file_syncs') IS NOT NULL");
             ResultSet rs = st.executeQuery()) {
            if (!rs.next() || !rs.getBoolean(1)) {
                return; // an extension older than 0.2.0 (ALTER EXTENSION mmsync UPDATE): no file sync yet
            }
        }
        try (PreparedStatement st = c.prepareStatement("SELECT f.sync_name, f.name, f.version, f.removed FROM mmsync.file_syncs f "
                + "JOIN mmsync.syncs s ON s.name = f.sync_name AND NOT s.removed");
             ResultSet rs = st.executeQuery()) {
            while (rs.next()) {
                String sync = rs.getString(1);
                String name = rs.getString(2);
                long version = rs.getLong(3);
                boolean removed = rs.getBoolean(4);
                String key = sync + "/" + name;
                FileSyncWorker w = workers.get(key);
                if (w != null && w.isFinished()) {
                    workers.remove(key);
                    if (w.removalPushed() >= 0) {
                        removalsPushed.put(key, w.removalPushed());
                    }
                    w = null;
                }
                if (removed && Long.valueOf(version).equals(removalsPushed.get(key))) {
                    continue;
                }
                wanted.add(key);
                if (w == null) {
                    w = new FileSyncWorker(sync, name, me, local, settings);
                    workers.put(key, w);
                    Thread t = threads.newThread(w);
                    t.setName("mmsync-files-" + key);
                    t.start();
                }
            }
        }
        workers.entrySet().removeIf(e -> {
            if (!wanted.contains(e.getKey())) {
                e.getValue().stop();
                return true;
            }
            return false;
        });
    }

    public synchronized void stop() {
        workers.values().forEach(FileSyncWorker::stop);
        workers.clear();
    }
}
