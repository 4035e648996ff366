package io.mmsync.health;

import io.mmsync.engine.conn.ConnInfo;
import io.mmsync.engine.time.Clock;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.Objects;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Asks one peer, every tick, over its own connection with short timeouts: is it writable, what
 * does it still have to send here, how old is its health heartbeat, which node does it think is
 * the designated write node. In the same tick it asks the local database what this node still has
 * to send to the peer. Answers go to a {@link PeerHistory}; probes read that and never wait for a
 * peer. When both sides answered and their designated-node settings differ, it hands each side the
 * other's setting; the newer one wins on both ({@code mmsync._receive_primary}).
 */
final class PeerWatch implements Runnable {
    private static final Logger LOG = Logger.getLogger(PeerWatch.class.getName());
    private static final String LINK_SQL = "SELECT backlog, lag_seconds, link_down, primary_setting::text FROM mmsync._health_link(?)";
    private static final String VIEW_SQL = "SELECT node, in_recovery, read_only, backlog, lag_seconds, link_down, "
            + "beat_age_seconds, primary_setting::text FROM mmsync._health_peer_view(?)";
    private static final String RECEIVE_SQL = "SELECT mmsync._receive_primary(?::jsonb)";

    private final String me;
    private final String peer;
    private final String conninfo;
    private final ConnInfo peerInfo;
    private final ConnInfo localInfo;
    private final Db db;
    private final HealthConfig config;
    private final Clock clock;
    private final PeerHistory history;
    private final String logPrefix;

    private volatile boolean stopping;
    private volatile Connection localConn;
    private volatile Connection peerConn;
    private volatile Thread thread;
    private Boolean lastReachable;

    PeerWatch(String me, String peer, String conninfo, ConnInfo localInfo, Db db, HealthConfig config, Clock clock) {
        this.me = me;
        this.peer = peer;
        this.conninfo = conninfo;
        this.peerInfo = ConnInfo.parse(conninfo);
        this.localInfo = localInfo;
        this.db = db;
        this.config = config;
        this.clock = clock;
        this.history = new PeerHistory(peer);
        this.logPrefix = "mmsync health " + me + ": peer " + peer + " (" + peerInfo + "): ";
    }

    PeerHistory history() {
        return history;
    }

    /** True if this watch still serves the same node name and conninfo. */
    boolean serves(String meNow, String conninfoNow) {
        return me.equals(meNow) && conninfo.equals(conninfoNow);
    }

    void start() {
        Thread t = new Thread(this, "mmsync-health-peer-" + peer);
        t.setDaemon(true);
        thread = t;
        t.start();
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
        closeAll();
    }

    /** Stops the thread; closing the connections ends a query in progress. */
    void stop() {
        stopping = true;
        closeAll();
        Thread t = thread;
        if (t != null) {
            t.interrupt();
        }
    }

    /** One round: local side, peer side, setting exchange. Package-private for tests. */
    void tick() {
        boolean localOk = false;
        long ourBacklog = 0;
        double ourLag = 0;
        boolean ourLinkDown = false;
        String localSetting = null;
        try {
            Connection lc = local();
            try (PreparedStatement st = lc.prepareStatement(LINK_SQL)) {
                st.setString(1, peer);
                try (ResultSet rs = st.executeQuery()) {
                    rs.next();
                    ourBacklog = rs.getLong(1);
                    ourLag = rs.getDouble(2);
                    ourLinkDown = rs.getBoolean(3);
                    localSetting = rs.getString(4);
                    localOk = true;
                }
            }
        } catch (SQLException | RuntimeException e) {
            LOG.log(Level.FINE, logPrefix + "local side: " + Db.describe(e));
            Db.closeQuietly(localConn);
            localConn = null;
        }
        PeerSample sample;
        String peerSetting = null;
        try {
            Connection pc = peer();
            try (PreparedStatement st = pc.prepareStatement(VIEW_SQL)) {
                st.setString(1, me);
                try (ResultSet rs = st.executeQuery()) {
                    rs.next();
                    double beat = rs.getDouble(7);
                    Double beatAge = rs.wasNull() ? null : beat;
                    peerSetting = rs.getString(8);
                    sample = new PeerSample(clock.instant(), null, rs.getString(1), rs.getBoolean(2), rs.getBoolean(3),
                            rs.getLong(4), rs.getDouble(5), rs.getBoolean(6), beatAge, localOk, ourBacklog, ourLag,
                            ourLinkDown);
                }
            }
        } catch (SQLException | RuntimeException e) {
            Db.closeQuietly(peerConn);
            peerConn = null;
            sample = new PeerSample(clock.instant(), Db.describe(e), null, false, false, 0, 0, false, null, localOk,
                    ourBacklog, ourLag, ourLinkDown);
        }
        if (stopping) {
            return;
        }
        history.add(sample);
        logReachability(sample);
        if (localOk && sample.reachable() && !Objects.equals(localSetting, peerSetting)) {
            exchangeSettings(localSetting, peerSetting);
        }
    }

    private void logReachability(PeerSample s) {
        if (lastReachable == null || lastReachable != s.reachable()) {
            if (s.reachable()) {
                LOG.info(logPrefix + (lastReachable == null ? "answering" : "answering again"));
            } else {
                LOG.warning(logPrefix + "unreachable: " + s.error());
            }
            lastReachable = s.reachable();
        }
    }

    private void exchangeSettings(String localSetting, String peerSetting) {
        try {
            if (peerSetting != null && receive(localConn, peerSetting)) {
                LOG.info(logPrefix + "took the designated write node setting from the peer: " + peerSetting);
            }
            if (localSetting != null && receive(peerConn, localSetting)) {
                LOG.info(logPrefix + "gave the peer this node's designated write node setting: " + localSetting);
            }
        } catch (SQLException | RuntimeException e) {
            LOG.warning(logPrefix + "cannot exchange the designated write node setting: " + Db.describe(e));
        }
    }

    private static boolean receive(Connection c, String setting) throws SQLException {
        if (c == null) {
            return false;
        }
        try (PreparedStatement st = c.prepareStatement(RECEIVE_SQL)) {
            st.setObject(1, setting, Types.OTHER);
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                return rs.getBoolean(1);
            }
        }
    }

    private Connection local() throws SQLException {
        Connection c = localConn;
        if (c == null) {
            c = db.open(localInfo, "watch of " + peer);
            localConn = c;
        }
        return c;
    }

    private Connection peer() throws SQLException {
        Connection c = peerConn;
        if (c == null) {
            c = db.open(peerInfo, "watch from " + me);
            peerConn = c;
        }
        return c;
    }

    private void closeAll() {
        Db.closeQuietly(localConn);
        Db.closeQuietly(peerConn);
        localConn = null;
        peerConn = null;
    }
}
