package io.mmsync.engine.files;

import io.mmsync.engine.conn.Connector;

import java.io.IOException;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Keeps one synced directory of this node in step with its peers, on one thread: scans the
 * directory when the watcher wakes it (and every the rescan interval anyway), records what settled,
 * pushes the file sync's definition to the peers and takes their changes ({@link Puller}). Scanning
 * and writing on one thread means a file this node writes is never mistaken for a local change. A
 * peer that is down only stops the taking: local changes are still recorded and wait in the
 * database until the peer's agent takes them.
 */
final class FileSyncWorker implements Runnable {
    private static final Logger LOG = Logger.getLogger(FileSyncWorker.class.getName());

    private final String sync;
    private final String name;
    private final String me;
    private final Connector local;
    private final FileSettings config;
    private final Map<String, Peer> peers = new LinkedHashMap<>();
    private volatile boolean stopping;
    private volatile boolean finished;
    private volatile long removalPushed = -1;
    private volatile Connection openLocal;

    /** A peer's connection and what this worker knows of it. */
    private static final class Peer {
        final Connector connector;
        Connection conn;
        long pushed = -1;
        long retryAt;
        long failures;
        Puller puller;

        Peer(Connector connector) {
            this.connector = connector;
        }
    }

    FileSyncWorker(String sync, String name, String me, Connector local, FileSettings config) {
        this.sync = sync;
        this.name = name;
        this.me = me;
        this.local = local;
        this.config = config;
    }

    boolean isFinished() {
        return finished;
    }

    /** The version of the removal this worker pushed to every peer before it finished, or -1. */
    long removalPushed() {
        return removalPushed;
    }

    void stop() {
        stopping = true;
        close(openLocal);
    }

    @Override
    public void run() {
        long delay = 100;
        try {
            while (!stopping) {
                try (Connection lc = local.open("files " + sync + "/" + name)) {
                    openLocal = lc;
                    if (session(lc)) {
                        return;
                    }
                    delay = 100;
                } catch (SQLException | IOException | RuntimeException e) {
                    if (stopping) {
                        return;
                    }
                    LOG.log(delay == 100 ? Level.WARNING : Level.FINE, "mmsync file sync " + sync + "/" + name
                            + ": " + e.getMessage() + " (retrying in " + delay + " ms)", LOG.isLoggable(Level.FINE) ? e : null);
                    Thread.sleep(delay);
                    delay = Math.min(5_000, delay * 2);
                } finally {
                    peers.values().forEach(p -> close(p.conn));
                    peers.clear();
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            finished = true;
        }
    }

    /** One session on a local connection; true when the worker is done (file sync removed and pushed, or gone). */
    private boolean session(Connection lc) throws SQLException, IOException, InterruptedException {
        FileSyncDef def = FileStore.loadDef(lc, sync, name, me);
        if (def == null) {
            return true;
        }
        loadPeers(lc);
        if (def.removed()) {
            return pushRemoval(lc, def);
        }
        if (!Files.isDirectory(def.directory())) {
            String msg = def.label() + ": directory " + def.directory() + " does not exist on node " + me
                    + "; create it (or give this node another one with add_file_sync(..., directories => ...))";
            LOG.warning("mmsync " + msg);
            recordError(lc, msg);
            waitForChange(lc, def.version());
            return false;
        }
        FileStore store = new FileStore(sync, name);
        Map<String, FileEntry> index = store.loadIndex(lc);
        Scanner scanner = new Scanner(def, me, store, config.settle(), config.clock());
        DiskWriter writer = new DiskWriter(def.directory(), def.owner());
        int leftovers = writer.removeLeftovers();
        if (leftovers > 0) {
            LOG.info("mmsync " + def.label() + ": removed " + leftovers + " temporary files or directories left by an earlier run");
        }
        peers.forEach((n, p) -> p.puller = new Puller(def, me, n, store, writer, config.clock()));
        LOG.info("mmsync " + def.label() + ": running (" + index.size() + " files recorded)");
        try (Watcher watcher = new Watcher()) {
            long lastRescan = 0;
            long lastBeat = 0;
            boolean changed = true;
            String problem = null;
            while (!stopping) {
                long now = config.clock().nanoTime();
                if (changed || scanner.unsettled() || now - lastRescan >= config.rescan().toNanos()) {
                    boolean full = now - lastRescan >= config.rescan().toNanos();
                    watcher.register(scanner.scan(lc, index).directories);
                    if (full) {
                        lastRescan = now;
                        FileStore.collectGarbage(lc);
                    }
                }
                if (scanner.lastProblem() != null && !scanner.lastProblem().equals(problem)) {
                    problem = scanner.lastProblem();
                    recordError(lc, problem);
                }
                for (Map.Entry<String, Peer> e : peers.entrySet()) {
                    if (!def.paused()) { // mmsync.pause(sync): local changes are still recorded, nothing is taken
                        takeFrom(lc, def, e.getKey(), e.getValue(), index);
                    }
                    if (now - lastBeat >= config.heartbeat().toNanos()) {
                        store.beat(lc, e.getKey());
                    }
                }
                if (now - lastBeat >= config.heartbeat().toNanos()) {
                    lastBeat = now;
                }
                if (!def.equals(FileStore.loadDef(lc, sync, name, me))) {
                    return false; // changed, removed, paused, resumed or a new conflict strategy: a new session runs it
                }
                long wait = scanner.unsettled() ? Math.max(10, config.settle().toMillis() / 4) : config.poll().toMillis();
                changed = watcher.await(wait);
            }
        }
        return true;
    }

    /** Pushes the definition to the peer if it lacks it, then takes its changes; a failure is the peer's alone. */
    private void takeFrom(Connection lc, FileSyncDef def, String peerName, Peer p, Map<String, FileEntry> index)
            throws SQLException {
        if (config.clock().nanoTime() < p.retryAt) {
            return;
        }
        try {
            if (p.conn == null) {
                p.conn = p.connector.open("files " + sync + "/" + name + " for " + me);
            }
            push(lc, def, p);
            p.puller.pull(lc, p.conn, index);
            if (p.failures > 0) {
                LOG.info("mmsync " + def.label() + ": taking files from " + peerName + " again after " + p.failures + " failed attempts");
                p.failures = 0;
                new FileStore(sync, name).progress(lc, peerName, null, 0, 0, null, 0, true, null);
            }
        } catch (SQLException | IOException e) {
            if (isLocal(e, lc)) {
                throw e instanceof SQLException s ? s : new SQLException(e.getMessage(), e);
            }
            long delay = Math.min(5_000, 100L << Math.min(6, p.failures++));
            p.retryAt = config.clock().nanoTime() + delay * 1_000_000;
            close(p.conn);
            p.conn = null;
            String msg = peerName + ": " + e.getMessage();
            LOG.log(p.failures == 1 ? Level.WARNING : Level.FINE, "mmsync " + def.label() + ": cannot take files from " + msg
                    + " (retrying in " + delay + " ms)");
            recordError(lc, msg);
        }
    }

    /** An error of the local connection ends the session; anything else is the peer's (or the disk's, retried). */
    private static boolean isLocal(Exception e, Connection lc) {
        try {
            return e instanceof SQLException && (lc.isClosed() || !lc.isValid(2));
        } catch (SQLException x) {
            return true;
        }
    }

    private void push(Connection lc, FileSyncDef def, Peer p) throws SQLException {
        if (p.pushed >= def.version()) {
            return;
        }
        String json;
        try (PreparedStatement st = lc.prepareStatement("SELECT mmsync._file_sync_def(?, ?)::text")) {
            st.setString(1, sync);
            st.setString(2, name);
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                json = rs.getString(1);
            }
        }
        try (PreparedStatement st = p.conn.prepareStatement("SELECT mmsync._receive_file_sync(?::jsonb)")) {
            st.setObject(1, json, Types.OTHER);
            st.execute();
        }
        try (PreparedStatement st = p.conn.prepareStatement("SELECT version FROM mmsync.file_syncs WHERE sync_name = ? AND name = ?")) {
            st.setString(1, sync);
            st.setString(2, name);
            try (ResultSet rs = st.executeQuery()) {
                if (rs.next() && rs.getLong(1) >= def.version()) {
                    p.pushed = def.version(); // else the peer lacks the sync still: pushed again next turn
                }
            }
        }
    }

    private boolean pushRemoval(Connection lc, FileSyncDef def) throws InterruptedException {
        while (!stopping) {
            boolean all = true;
            for (Peer p : peers.values()) {
                try {
                    if (p.conn == null) {
                        p.conn = p.connector.open("files " + sync + "/" + name + " for " + me);
                    }
                    push(lc, def, p);
                    all &= p.pushed >= def.version();
                } catch (SQLException e) {
                    all = false;
                    close(p.conn);
                    p.conn = null;
                    LOG.fine("mmsync " + def.label() + ": removal not pushed yet: " + e.getMessage());
                }
            }
            if (all) {
                removalPushed = def.version();
                return true;
            }
            Thread.sleep(config.heartbeat().toMillis());
        }
        return true;
    }

    private void loadPeers(Connection lc) throws SQLException {
        try (PreparedStatement st = lc.prepareStatement("SELECT n.name, n.conninfo FROM mmsync.syncs s "
                + "CROSS JOIN LATERAL unnest(s.nodes) AS p(peer) JOIN mmsync.nodes n ON n.name = p.peer "
                + "WHERE s.name = ? AND NOT n.is_local ORDER BY 1")) {
            st.setString(1, sync);
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    peers.put(rs.getString(1), new Peer(new Connector(rs.getString(1), rs.getString(2))));
                }
            }
        }
    }

    private void recordError(Connection lc, String msg) throws SQLException {
        FileStore store = new FileStore(sync, name);
        for (String peer : peers.keySet()) {
            store.progress(lc, peer, null, 0, 0, null, 0, true, msg);
        }
    }

    private void waitForChange(Connection lc, long version) throws SQLException, InterruptedException {
        long until = config.clock().nanoTime() + config.heartbeat().toNanos();
        while (!stopping && config.clock().nanoTime() < until) {
            FileSyncDef d = FileStore.loadDef(lc, sync, name, me);
            if (d == null || d.version() != version) {
                return;
            }
            Thread.sleep(config.poll().toMillis());
        }
    }

    private static void close(Connection c) {
        if (c != null) {
            try {
                c.close();
            } catch (SQLException e) {
                LOG.log(Level.FINE, "mmsync file sync: close: " + e.getMessage());
            }
        }
    }
}
