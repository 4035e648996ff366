package io.mmsync.health;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.mmsync.engine.conn.ConnInfo;
import io.mmsync.engine.time.Clock;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The health endpoint's background duty: every tick it beats this node's health heartbeat, learns
 * this node's name and its peers from the local catalog, and keeps one {@link PeerWatch} running
 * per peer. Probes read {@link #node()} and {@link #peers()}; they never wait for this thread.
 */
final class Watcher implements Runnable, AutoCloseable {
    private static final Logger LOG = Logger.getLogger(Watcher.class.getName());
    private static final String TICK_SQL = "SELECT node, peers::text FROM mmsync._health_tick(?)";

    private final ConnInfo local;
    private final Db db;
    private final HealthConfig config;
    private final Clock clock;
    private final Instant startedAt;
    private final Map<String, PeerWatch> watches = new HashMap<>();
    private final Map<String, String> badConninfo = new HashMap<>();
    private final Thread thread;

    private volatile boolean stopping;
    private volatile boolean ticked;
    private volatile String node;
    private volatile String lastError;
    private volatile Connection conn;

    Watcher(ConnInfo local, Db db, HealthConfig config, Clock clock) {
        this.local = local;
        this.db = db;
        this.config = config;
        this.clock = clock;
        this.startedAt = clock.instant();
        this.thread = new Thread(this, "mmsync-health-watcher");
        this.thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    /** True once a tick has read the node and its peers, so {@link #peers()} is complete. */
    boolean ticked() {
        return ticked;
    }

    /** This node's name as last read, or null. */
    String node() {
        return node;
    }

    /** Why the last local tick failed, or null. */
    String lastError() {
        return lastError;
    }

    /** The histories of the peers watched now, by name. */
    synchronized Map<String, PeerHistory> peers() {
        Map<String, PeerHistory> out = new TreeMap<>();
        watches.forEach((k, v) -> out.put(k, v.history()));
        return Collections.unmodifiableMap(out);
    }

    @Override
    public void run() {
        while (!stopping) {
            long started = clock.nanoTime();
            tick();
            long waitMs = config.tick().toMillis() - (clock.nanoTime() - started) / 1_000_000;
            if (waitMs > 0 && !stopping) {
                try {
                    Thread.sleep(waitMs);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
    }

    private void tick() {
        try {
            Connection c = conn;
            if (c == null) {
                c = db.open(local, "watcher");
                conn = c;
            }
            String me;
            Map<String, String> peerConninfo = new LinkedHashMap<>();
            try (PreparedStatement st = c.prepareStatement(TICK_SQL)) {
                st.setTimestamp(1, Timestamp.from(startedAt));
                try (ResultSet rs = st.executeQuery()) {
                    rs.next();
                    me = rs.getString(1);
                    JsonObject peers = JsonParser.parseString(rs.getString(2)).getAsJsonObject();
                    peers.entrySet().forEach(e -> peerConninfo.put(e.getKey(), e.getValue().getAsString()));
                }
            }
            if (lastError != null) {
                LOG.info("mmsync health: local database " + local + " answering again");
            }
            lastError = null;
            node = me;
            reconcile(me, peerConninfo);
            ticked = true;
        } catch (SQLException | RuntimeException e) {
            String msg = Db.describe(e);
            if (lastError == null) {
                LOG.warning("mmsync health: local database " + local + ": " + msg);
            } else {
                LOG.log(Level.FINE, "mmsync health: local database " + local + ": " + msg);
            }
            lastError = msg;
            Db.closeQuietly(conn);
            conn = null;
        }
    }

    private synchronized void reconcile(String me, Map<String, String> peerConninfo) {
        if (stopping) {
            return;
        }
        watches.entrySet().removeIf(e -> {
            String ci = me == null ? null : peerConninfo.get(e.getKey());
            if (ci == null || !e.getValue().serves(me, ci)) {
                e.getValue().stop();
                return true;
            }
            return false;
        });
        if (me == null) {
            return;
        }
        peerConninfo.forEach((peer, ci) -> {
            if (!watches.containsKey(peer)) {
                try {
                    PeerWatch w = new PeerWatch(me, peer, ci, local, db, config, clock);
                    watches.put(peer, w);
                    badConninfo.remove(peer);
                    w.start();
                } catch (IllegalArgumentException e) {
                    if (!ci.equals(badConninfo.put(peer, ci))) {
                        LOG.warning("mmsync health " + me + ": cannot watch peer " + peer + ": bad conninfo: "
                                + Redact.text(e.getMessage()));
                    }
                }
            }
        });
    }

    @Override
    public void close() {
        stopping = true;
        thread.interrupt();
        synchronized (this) {
            watches.values().forEach(PeerWatch::stop);
            watches.clear();
        }
        Db.closeQuietly(conn);
        conn = null;
    }
}
