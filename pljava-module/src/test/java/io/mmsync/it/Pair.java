package io.mmsync.it;

import io.mmsync.testenv.PgCluster;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A blue/green pair of real PostgreSQL 15 clusters with database {@code app}, the mmsync
 * extension on both, both nodes registered on blue and a schema created on both by the test.
 * Agents are started by the test ({@link #startAgents()} or child processes).
 */
public final class Pair implements AutoCloseable {
    public static final String DB = "app";

    public final PgCluster blue;
    public final PgCluster green;
    private final List<Agent> agents = new ArrayList<>();

    private Pair(PgCluster blue, PgCluster green) {
        this.blue = blue;
        this.green = green;
    }

    /** Starts both clusters and runs {@code schemaSql} on both, then registers the nodes on blue. */
    static Pair start(String schemaSql) {
        return start(schemaSql, PgCluster.builder("green"), true);
    }

    /**
     * As {@link #start(String)}, green built from {@code greenBuilder} (e.g. with TLS settings), and
     * the extension created on green only if {@code extensionOnGreen}.
     */
    static Pair start(String schemaSql, PgCluster.Builder greenBuilder, boolean extensionOnGreen) {
        return start(PgCluster.builder("blue"), greenBuilder, schemaSql, extensionOnGreen);
    }

    /** As {@link #start(String, PgCluster.Builder, boolean)}, blue built from {@code blueBuilder} too. */
    public static Pair start(PgCluster.Builder blueBuilder, PgCluster.Builder greenBuilder, String schemaSql,
                             boolean extensionOnGreen) {
        PgCluster b = blueBuilder.start();
        PgCluster g;
        try {
            g = greenBuilder.start();
        } catch (RuntimeException e) {
            b.close();
            throw e;
        }
        Pair p = new Pair(b, g);
        for (PgCluster c : List.of(b, g)) {
            c.createDatabase(DB);
            if (c == b || extensionOnGreen) {
                c.execute(DB, "CREATE EXTENSION mmsync");
            }
            if (schemaSql != null && !schemaSql.isBlank()) {
                c.execute(DB, schemaSql);
            }
        }
        b.execute(DB, "SELECT mmsync.add_node('blue', '" + b.conninfo(DB) + "', true)");
        b.execute(DB, "SELECT mmsync.add_node('green', '" + g.conninfo(DB) + "')");
        return p;
    }

    /** add_sync on blue only; green gets it from blue's agent. */
    void addSync(String args) {
        blue.execute(DB, "SELECT mmsync.add_sync('app', '{blue,green}'" + (args.isEmpty() ? "" : ", " + args) + ")");
    }

    void startAgents() {
        agents.add(Agent.inProcess(blue.conninfo(DB)));
        agents.add(Agent.inProcess(green.conninfo(DB)));
    }

    Agent.Child childAgent(PgCluster node) {
        return childAgent(node, Map.of());
    }

    /** The agent command for {@code node} in a child JVM with {@code env} added; log in {@link #agentLog}. */
    Agent.Child childAgent(PgCluster node, Map<String, String> env) {
        Agent.Child a = new Agent.Child(node.conninfo(DB), agentLog(node), env);
        agents.add(a);
        return a;
    }

    /** Both nodes' agents as child JVMs ({@code [0]} blue's), once the sync has reached green. */
    Agent.Child[] childAgentsSynced() {
        Agent.Child[] agents = {childAgent(blue), childAgent(green)};
        awaitSyncOnGreen();
        return agents;
    }

    Path agentLog(PgCluster node) {
        return node.dataDir().getParent().resolve("agent-" + node.name() + ".log");
    }

    /**
     * Registers both nodes again on blue (before add_sync: green learns them from blue's agent), the
     * way the other node reaches each: blue at port {@code bluePort}, green at {@code greenPort}
     * (e.g. a {@link TcpProxy}), each conninfo with {@code extra} keywords appended.
     */
    void registerNodes(int bluePort, int greenPort, String extra) {
        String tail = extra.isEmpty() ? "" : " " + extra;
        blue.execute(DB, "SELECT mmsync.add_node('blue', 'host=127.0.0.1 port=" + bluePort + " dbname=" + DB
                + " user=postgres" + tail + "', true)");
        blue.execute(DB, "SELECT mmsync.add_node('green', 'host=127.0.0.1 port=" + greenPort + " dbname=" + DB
                + " user=postgres" + tail + "')");
    }

    /** Changes of {@code origin} applied at {@code at}, by mmsync.progress (each counted once). */
    static long applied(PgCluster at, String origin) {
        return at.queryLong(DB, "SELECT coalesce(sum(applied), 0) FROM mmsync.progress WHERE origin = '" + origin + "'");
    }

    /** The state of the link to {@code peer} in {@code at}'s mmsync.status(). */
    static String state(PgCluster at, String peer) {
        return at.queryString(DB, "SELECT state FROM mmsync.status() WHERE peer = '" + peer + "'");
    }

    static String lastError(PgCluster at, String peer) {
        return at.queryString(DB, "SELECT last_error FROM mmsync.status() WHERE peer = '" + peer + "'");
    }

    void stopAgents() {
        agents.forEach(Agent::stop);
        agents.clear();
    }

    /** Waits until the sync exists on green (pushed by blue's agent). */
    void awaitSyncOnGreen() {
        Waits.until(Duration.ofSeconds(60), "sync pushed to green",
                () -> green.queryLong(DB, "SELECT count(*) FROM mmsync.syncs WHERE name = 'app' AND NOT removed") == 1);
    }

    /** Waits until each node's committed changes are applied at the other ("applied up to now"). */
    void awaitSynced() {
        for (int round = 0; round < 2; round++) {
            for (PgCluster c : List.of(blue, green)) {
                String ok = c.queryString(DB, "SELECT mmsync.wait_synced('app', '120 seconds')");
                if (!"t".equals(ok)) {
                    throw new AssertionError("node " + c.name() + " did not sync within 120 s; status: "
                            + c.queryString(DB, "SELECT string_agg(s::text, '; ') FROM mmsync.status() s"));
                }
            }
        }
    }

    /** md5 of every row of the table, ordered: equal on both nodes iff the tables are identical. */
    public static String fingerprint(PgCluster c, String table) {
        return c.queryString(DB, "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '-') FROM "
                + table + " t");
    }

    static void exec(PgCluster c, String sql) throws SQLException {
        try (Connection conn = c.connect(DB); Statement st = conn.createStatement()) {
            st.execute(sql);
        }
    }

    Path dir() {
        return blue.dataDir().getParent();
    }

    @Override
    public void close() {
        stopAgents();
        green.close();
        blue.close();
    }
}
