package io.mmsync.engine;

import io.mmsync.engine.compare.Verifier;
import io.mmsync.engine.conn.Connector;
import io.mmsync.engine.error.ErrorPolicy;
import io.mmsync.engine.files.FileSettings;
import io.mmsync.engine.files.FileSyncs;
import io.mmsync.engine.model.ExtensionVersion;
import io.mmsync.engine.send.Backoff;
import io.mmsync.engine.send.Link;
import io.mmsync.engine.send.LinkSettings;
import io.mmsync.engine.time.Clock;
import org.postgresql.PGConnection;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadFactory;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The engine of one node: watches the local {@code mmsync} catalog and runs a {@link Link} for each
 * (sync, peer). It knows nothing of its host: the agent and the PL/Java background worker both
 * build it from an {@link EngineConfig} and a {@link ThreadFactory}, call {@link #run()} on a
 * thread of theirs and {@link #stop()} to end it.
 */
public final class Engine implements Runnable {
    private static final Logger LOG = Logger.getLogger(Engine.class.getName());
    private static final String SYNCS_SQL = "SELECT s.name, s.removed, s.version, p.peer, n.conninfo "
            + "FROM mmsync.syncs s CROSS JOIN LATERAL pg_catalog.unnest(s.nodes) AS p(peer) "
            + "JOIN mmsync.nodes n ON n.name = p.peer WHERE NOT n.is_local";

    private final EngineConfig config;
    private final ThreadFactory threads;
    private final Connector local;
    private final Map<String, Link> links = new HashMap<>();
    private final Map<String, Long> removalsPushed = new HashMap<>();
    /** The peer conninfo each running link was started with (a changed one restarts the link). */
    private final Map<String, String> linkConninfo = new HashMap<>();
    private final Backoff backoff = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(5));
    private volatile boolean stopping;
    private volatile Connection watch;
    private volatile Instant lastLoop;
    private final Clock clock;
    private final LinkSettings linkSettings;
    private volatile String localNode;
    private volatile boolean lockHeld;
    /** the file-sync part (issue 16): a worker per synced directory */
    private final FileSyncs files;
    /** scheduled compares (issue 17): mmsync.set_verify, status().verified_at */
    private final Verifier verifier;
    /** the file syncs last named in the warning that this host does not run them */
    private String fileSyncsWarned;

    public Engine(EngineConfig config, ThreadFactory threads) {
        this(config, threads, Clock.SYSTEM);
    }

    /** With the host's clock (tests, or a host that has its own). */
    public Engine(EngineConfig config, ThreadFactory threads, Clock clock) {
        this.config = config;
        this.threads = threads;
        this.clock = clock;
        this.linkSettings = new LinkSettings(config.pageRows(), config.pageBytes(), config.poll(), config.activePoll(),
                config.idleAfter(), config.heartbeat(), clock);
        this.lastLoop = clock.instant();
        this.local = new Connector("local", config.localConninfo());
        this.files = new FileSyncs(FileSettings.of(config.poll(), config.heartbeat(), clock), threads, local);
        this.verifier = new Verifier(local, threads);
    }

    /** When the supervising loop last completed a round (for liveness checks). */
    public Instant lastLoop() {
        return lastLoop;
    }

    /** This node's name once known, else null. */
    public String localNode() {
        return localNode;
    }

    /** True while this engine holds the node lock (see NodeLock) and so runs the node's links. */
    public boolean holdsNodeLock() {
        return lockHeld;
    }

    /** Names ("sync:peer") of the links running now. */
    public synchronized List<String> runningLinks() {
        return new ArrayList<>(links.keySet());
    }

    @Override
    public void run() {
        LOG.info("mmsync engine starting for " + local.info());
        while (!stopping) {
            try (Connection c = local.open("engine (" + config.host() + ")")) {
                watch = c;
                ExtensionVersion.require(c, "of this engine (" + local.info() + ")");
                if (!NodeLock.await(c, () -> stopping)) {
                    break;
                }
                lockHeld = true;
                try (Statement st = c.createStatement()) {
                    st.execute("LISTEN mmsync_config");
                }
                backoff.reset();
                while (!stopping) {
                    reconcile(c);
                    lastLoop = clock.instant();
                    c.unwrap(PGConnection.class).getNotifications((int) config.heartbeat().toMillis());
                }
            } catch (SQLException | RuntimeException e) {
                if (lockHeld) {
                    // the node lock went with the connection: another engine may take it now
                    stopLinks();
                    lockHeld = false;
                }
                if (stopping) {
                    break;
                }
                Duration d = backoff.nextDelay();
                LOG.log(backoff.failures() == 1 ? Level.WARNING : Level.FINE, "mmsync engine: local database "
                        + local.info() + " unavailable (retrying in " + d.toMillis() + " ms): " + ErrorPolicy.describe(e));
                lastLoop = clock.instant();
                sleep(d);
            } finally {
                watch = null;
            }
        }
        lockHeld = false;
        stopLinks();
        LOG.info("mmsync engine stopped");
    }

    /** Stops the engine and all links; returns at once, {@link #run()} returns soon after. */
    public void stop() {
        stopping = true;
        Connection c = watch;
        if (c != null) {
            try {
                c.close();
            } catch (SQLException e) {
                LOG.log(Level.FINE, "mmsync engine: close: " + e.getMessage());
            }
        }
        stopLinks();
    }

    private void reconcile(Connection c) throws SQLException {
        String me;
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT mmsync.local_node()")) {
            rs.next();
            me = rs.getString(1);
        }
        if (me == null) {
            if (localNode == null) {
                LOG.info("mmsync engine: this database is not a node yet (mmsync.add_node(..., true)); waiting");
                localNode = "";
            }
            return;
        }
        localNode = me;
        Set<String> wanted = new HashSet<>();
        try (PreparedStatement st = c.prepareStatement(SYNCS_SQL); ResultSet rs = st.executeQuery()) {
            while (rs.next()) {
                String sync = rs.getString(1);
                boolean removed = rs.getBoolean(2);
                long version = rs.getLong(3);
                String peerName = rs.getString(4);
                String key = sync + ":" + peerName;
                if (removed && Long.valueOf(version).equals(removalsPushed.get(key))) {
                    continue;
                }
                wanted.add(key);
                startLink(key, sync, me, peerName, rs.getString(5), removed ? version : -1);
            }
        }
        enforceRetention(c);
        verifier.poll(c);
        if (config.fileSync()) {
            files.reconcile(c, me);
        } else {
            warnFileSyncsNotRun(c);
        }
        synchronized (this) {
            links.entrySet().removeIf(e -> {
                if (!wanted.contains(e.getKey())) {
                    e.getValue().stop();
                    linkConninfo.remove(e.getKey());
                    return true;
                }
                return false;
            });
        }
    }

    private synchronized void startLink(String key, String sync, String me, String peerName, String conninfo,
                                        long removalVersion) {
        Link existing = links.get(key);
        if (existing != null && !existing.isFinished()) {
            if (!conninfo.equals(linkConninfo.get(key))) {
                // add_node() with a new conninfo (a fixed host, port or TLS setting): stop this link;
                // a later round starts the new one once the old has finished, so that two senders
                // never work on the same (sync, peer) at once.
                LOG.info("mmsync engine: conninfo of node " + peerName + " changed; link " + key + " reconnects");
                existing.stop();
            }
            return;
        }
        if (existing != null && removalVersion >= 0) {
            removalsPushed.put(key, removalVersion);
            links.remove(key);
            return;
        }
        Link link;
        try {
            link = new Link(sync, me, local, new Connector(peerName, conninfo), linkSettings, threads);
        } catch (IllegalArgumentException e) {
            LOG.warning("mmsync engine: cannot start link " + key + ": bad conninfo for node " + peerName + ": " + e.getMessage());
            return;
        }
        links.put(key, link);
        linkConninfo.put(key, conninfo);
        Thread t = threads.newThread(link);
        t.setName("mmsync-link-" + key);
        t.start();
    }

    /**
     * Applies the retention limits (mmsync.set_retention): a peer whose backlog went past its sync's
     * limit is marked as needing a resync and the changes queued for it are dropped, so that a peer
     * that stays away cannot fill this node's disk. Runs every round (at least every heartbeat).
     */
    private void enforceRetention(Connection c) throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT sync, peer, dropped, reason FROM mmsync._enforce_retention()")) {
            while (rs.next()) {
                LOG.warning("mmsync engine: sync " + rs.getString(1) + ": node " + rs.getString(2) + " is past the retention limit ("
                        + rs.getString(4) + "): dropped the " + rs.getLong(3) + " changes queued for it; it needs a resync"
                        + " (see mmsync.status() and docs/operations.md)");
            }
        }
    }

    /** Once per set of directories: the file syncs this engine leaves to an agent (EngineConfig.fileSync). */
    private void warnFileSyncsNotRun(Connection c) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(
                "SELECT string_agg(f.sync_name || '/' || f.name || ' (' || f.directory || ')', ', ' ORDER BY f.sync_name, f.name) "
                        + "FROM mmsync.file_syncs f WHERE NOT f.removed")) {
            String dirs = rs.next() ? rs.getString(1) : null;
            if (dirs != null && !dirs.equals(fileSyncsWarned)) {
                LOG.warning("mmsync engine (" + config.host() + "): the file syncs " + dirs + " are not run by this host; "
                        + "the in-database worker does not write files on the server: a node that syncs files runs the agent as its engine (docs/files.md)");
            }
            fileSyncsWarned = dirs;
        }
    }

    private synchronized void stopLinks() {
        verifier.stop();
        files.stop();
        links.values().forEach(Link::stop);
        links.clear();
    }

    private void sleep(Duration d) {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            stopping = true;
        }
    }
}
