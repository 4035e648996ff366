package io.mmsync.health;

import io.mmsync.engine.conn.Connector;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The engine as the stand-alone health endpoint ({@code mmsync health}) sees it when the engine
 * runs elsewhere, in the in-database worker: alive while some engine holds this node's lock
 * (mmsync.engine_host() is not 'none'), looked at every second on one connection of its own.
 */
public final class EngineLockView implements EngineView, Runnable {
    private static final Logger LOG = Logger.getLogger(EngineLockView.class.getName());
    private static final Duration EVERY = Duration.ofSeconds(1);
    private final Connector local;
    private volatile Instant lastSeen = Instant.EPOCH;
    private volatile boolean stopping;

    public EngineLockView(String localConninfo) {
        this.local = new Connector("local", localConninfo);
    }

    @Override
    public Instant lastLoop() {
        return lastSeen;
    }

    public void stop() {
        stopping = true;
    }

    @Override
    public void run() {
        String lastError = null;
        while (!stopping) {
            try (Connection c = local.open("health engine watch"); Statement st = c.createStatement()) {
                lastError = null;
                while (!stopping) {
                    try (ResultSet rs = st.executeQuery("SELECT host FROM mmsync.engine_host()")) {
                        rs.next();
                        if (!"none".equals(rs.getString(1))) {
                            lastSeen = Instant.now();
                        }
                    }
                    Thread.sleep(EVERY.toMillis());
                }
            } catch (SQLException e) {
                if (!e.getMessage().equals(lastError)) {
                    LOG.log(Level.WARNING, "mmsync health: cannot see which engine runs this node: " + e.getMessage());
                    lastError = e.getMessage();
                }
                pause();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private void pause() {
        try {
            Thread.sleep(EVERY.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            stopping = true;
        }
    }
}
