package io.mmsync.health;

import io.mmsync.engine.Engine;
import io.mmsync.engine.EngineConfig;
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
 * A real blue/green pair for the health tests: two clusters, database "app" with table t under
 * sync "s", and on each node an in-process agent (engine + health endpoint on a free port), as
 * {@code mmsync agent --health-port} runs them.
 */
final class Pair implements AutoCloseable {
    static final String DB = "app";
    static final String TABLE = "CREATE TABLE public.t (id bigint PRIMARY KEY, payload text NOT NULL)";

    final Node blue;
    final Node green;

    private Pair(Node blue, Node green) {
        this.blue = blue;
        this.green = green;
    }

    /** Starts both clusters and agents and waits until each endpoint has asked its peer. */
    static Pair start(String prefix, UnaryOperator<HealthConfig.Builder> health) {
        PgCluster b = PgCluster.start(prefix + "-blue");
        PgCluster g;
        try {
            g = PgCluster.start(prefix + "-green");
        } catch (RuntimeException e) {
            b.close();
            throw e;
        }
        Pair p = new Pair(new Node("blue", b, health), new Node("green", g, health));
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
            c.createDatabase(DB);
            requireHealthSql(c);
            c.execute(DB, TABLE);
        }
        b.execute(DB, "SELECT mmsync.add_node('blue', '" + b.conninfo(DB) + "', true)");
        b.execute(DB, "SELECT mmsync.add_node('green', '" + g.conninfo(DB) + "')");
        g.execute(DB, "SELECT mmsync.add_node('green', '" + g.conninfo(DB) + "', true)");
        g.execute(DB, "SELECT mmsync.add_node('blue', '" + b.conninfo(DB) + "')");
        b.execute(DB, "SELECT mmsync.add_sync('s', ARRAY['blue', 'green'])");
        blue.startAgent();
        green.startAgent();
        Wait.until(Duration.ofSeconds(30), "sync s known on green",
                () -> g.queryLong(DB, "SELECT count(*) FROM mmsync.syncs WHERE name = 's'") == 1);
        for (Node n : new Node[] {blue, green}) {
            Wait.until(Duration.ofSeconds(30), n.name + " endpoint has asked its peer",
                    () -> n.get("/ready").status() == 200, () -> n.get("/ready").body());
        }
    }

    private static void requireHealthSql(PgCluster c) {
        c.execute(DB, "CREATE EXTENSION mmsync");
        if (c.queryLong(DB, "SELECT count(*) FROM pg_proc WHERE proname = '_health_local'") != 1) {
            throw new IllegalStateException("the installed mmsync extension has no health functions: run installer/install.sh");
        }
    }

    /** Rows of t on a node as "count:md5 of the ordered rows". */
    static String fingerprint(PgCluster c) {
        return c.queryString(DB, "SELECT count(*) || ':' || coalesce(md5(string_agg(id || '=' || payload, ',' ORDER BY id)), '') FROM t");
    }

    /** Waits until each node has sent everything it has to the other. */
    void awaitSynced() {
        for (Node n : new Node[] {blue, green}) {
            Wait.until(Duration.ofSeconds(60), n.name + " has sent everything", () ->
                    "t".equals(n.pg.queryString(DB, "SELECT mmsync.wait_synced('s', '2 s')")));
        }
    }

    @Override
    public void close() {
        for (Node n : new Node[] {blue, green}) {
            try {
                n.stopAgent();
            } finally {
                n.pg.close();
            }
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
