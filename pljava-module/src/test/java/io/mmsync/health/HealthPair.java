package io.mmsync.health;

import io.mmsync.engine.Engine;
import io.mmsync.engine.EngineConfig;
import io.mmsync.it.Pair;
import io.mmsync.it.Waits;
import io.mmsync.testenv.PgCluster;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.function.UnaryOperator;

/**
 * The pair of {@link Pair} as the health tests need it: table t under sync "s", both nodes
 * registered on each, and on each node an in-process agent (engine + health endpoint on a free
 * port), as {@code mmsync agent --health-port} runs them.
 */
final class HealthPair implements AutoCloseable {
    static final String DB = Pair.DB;
    static final String TABLE = "CREATE TABLE public.t (id bigint PRIMARY KEY, payload text NOT NULL)";

    final Node blue;
    final Node green;
    private final Pair pair;

    private HealthPair(Pair pair, UnaryOperator<HealthConfig.Builder> health) {
        this.pair = pair;
        this.blue = new Node("blue", pair.blue, health);
        this.green = new Node("green", pair.green, health);
    }

    /** Starts both clusters and agents and waits until each endpoint has asked its peer. */
    static HealthPair start(String prefix, UnaryOperator<HealthConfig.Builder> health) {
        Pair pair = Pair.start(PgCluster.builder(prefix + "-blue"), PgCluster.builder(prefix + "-green"), TABLE, true);
        HealthPair p = new HealthPair(pair, health);
        try {
            p.setUp();
            return p;
        } catch (RuntimeException | Error e) {
            p.close();
            throw e;
        }
    }

    private void setUp() {
        PgCluster b = blue.pg;
        PgCluster g = green.pg;
        for (PgCluster c : new PgCluster[] {b, g}) {
            if (c.queryLong(DB, "SELECT count(*) FROM pg_proc WHERE proname = '_health_local'") != 1) {
                throw new IllegalStateException("the installed mmsync extension has no health functions: run installer/install.sh");
            }
        }
        g.execute(DB, "SELECT mmsync.add_node('green', '" + g.conninfo(DB) + "', true)");
        g.execute(DB, "SELECT mmsync.add_node('blue', '" + b.conninfo(DB) + "')");
        b.execute(DB, "SELECT mmsync.add_sync('s', ARRAY['blue', 'green'])");
        blue.startAgent();
        green.startAgent();
        Waits.until(Duration.ofSeconds(30), "sync s known on green",
                () -> g.queryLong(DB, "SELECT count(*) FROM mmsync.syncs WHERE name = 's'") == 1);
        for (Node n : new Node[] {blue, green}) {
            Waits.until(Duration.ofSeconds(30), n.name + " endpoint has asked its peer",
                    () -> n.get("/ready").status() == 200, () -> n.get("/ready").body());
        }
    }

    /** Rows of t on a node, see {@link Pair#fingerprint}. */
    static String fingerprint(PgCluster c) {
        return Pair.fingerprint(c, "t");
    }

    /** Waits until each node has sent everything it has to the other. */
    void awaitSynced() {
        for (Node n : new Node[] {blue, green}) {
            Waits.until(Duration.ofSeconds(60), n.name + " has sent everything", () ->
                    "t".equals(n.pg.queryString(DB, "SELECT mmsync.wait_synced('s', '2 s')")));
        }
    }

    @Override
    public void close() {
        try {
            blue.stopAgent();
            green.stopAgent();
        } finally {
            pair.close();
        }
    }

    /** One node: its cluster, its engine and its health endpoint. */
    static final class Node {
        final String name;
        final PgCluster pg;
        private final UnaryOperator<HealthConfig.Builder> healthSettings;
        private volatile Engine engine;
        private Thread engineThread;
        private HealthServer health;

        Node(String name, PgCluster pg, UnaryOperator<HealthConfig.Builder> healthSettings) {
            this.name = name;
            this.pg = pg;
            this.healthSettings = healthSettings;
        }

        String conninfo() {
            return pg.conninfo(DB);
        }

        synchronized void startAgent() {
            startEngine();
            try {
                health = HealthServer.start(healthSettings.apply(HealthConfig.builder().port(0)).build(), conninfo(),
                        () -> engine.lastLoop());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        synchronized void startEngine() {
            EngineConfig cfg = EngineConfig.builder(conninfo()).poll(Duration.ofMillis(200)).heartbeat(Duration.ofSeconds(1))
                    .build();
            engine = new Engine(cfg, Thread::new);
            engineThread = new Thread(engine, "test-engine-" + name);
            engineThread.start();
        }

        synchronized void stopEngine() {
            engine.stop();
            try {
                engineThread.join(15_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        synchronized void stopAgent() {
            if (health != null) {
                health.close();
                health = null;
            }
            if (engine != null) {
                stopEngine();
                engine = null;
            }
        }

        InetSocketAddress health() {
            return health.address();
        }

        Http.Response get(String path) {
            return Http.get(health(), path);
        }

        void sql(String sql) {
            try (Connection c = pg.connect(DB); Statement st = c.createStatement()) {
                st.execute(sql);
            } catch (SQLException e) {
                throw new IllegalStateException(name + ": " + e.getMessage() + "\nSQL: " + sql, e);
            }
        }
    }
}
