package io.mmsync.it;

import io.mmsync.testenv.PgCluster;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Three real PostgreSQL 15 clusters (blue, green, red) with database {@code app}, the mmsync
 * extension and the test's schema on each, every node registered on every node (each with its
 * own view of how to reach the others, so a test can put a {@link TcpProxy} on one link only), and
 * one in-process agent per node that a test can stop and start again.
 */
final class Trio implements AutoCloseable {
    static final String DB = Pair.DB;
    static final List<String> NAMES = List.of("blue", "green", "red");

    final PgCluster blue;
    final PgCluster green;
    final PgCluster red;
    private final Map<String, Agent> agents = new LinkedHashMap<>();

    private Trio(PgCluster blue, PgCluster green, PgCluster red) {
        this.blue = blue;
        this.green = green;
        this.red = red;
    }

    /**
     * Starts the clusters, runs {@code schemaSql} on each and registers the three nodes on each,
     * directly ({@link #reach} changes how one node reaches another).
     */
    static Trio start(String schemaSql) {
        List<PgCluster> started = new ArrayList<>();
        try {
            for (String n : NAMES) {
                started.add(PgCluster.builder(n).start());
            }
        } catch (RuntimeException e) {
            started.forEach(PgCluster::close);
            throw e;
        }
        Trio t = new Trio(started.get(0), started.get(1), started.get(2));
        for (PgCluster c : t.all()) {
            c.createDatabase(DB);
            c.execute(DB, "CREATE EXTENSION mmsync");
            if (schemaSql != null && !schemaSql.isBlank()) {
                c.execute(DB, schemaSql);
            }
        }
        for (PgCluster c : t.all()) {
            for (PgCluster other : t.all()) {
                c.execute(DB, "SELECT mmsync.add_node('" + other.name() + "', 'host=127.0.0.1 port=" + other.port() + " dbname="
                        + DB + " user=postgres'" + (c == other ? ", true" : "") + ")");
            }
        }
        return t;
    }

    /** Registers again, on {@code from}, how it reaches {@code to}: at {@code port} (e.g. a {@link TcpProxy}'s). */
    void reach(PgCluster from, PgCluster to, int port) {
        from.execute(DB, "SELECT mmsync.add_node('" + to.name() + "', 'host=127.0.0.1 port=" + port + " dbname=" + DB
                + " user=postgres')");
    }

    List<PgCluster> all() {
        return List.of(blue, green, red);
    }

    /** add_sync of all three nodes on blue; the others get it from blue's agent. */
    void addSync(String args) {
        blue.execute(DB, "SELECT mmsync.add_sync('app', '{blue,green,red}'" + (args.isEmpty() ? "" : ", " + args) + ")");
    }

    void startAgents() {
        for (PgCluster c : all()) {
            startAgent(c);
        }
    }

    void startAgent(PgCluster c) {
        agents.put(c.name(), Agent.inProcess(c.conninfo(DB)));
    }

    void stopAgent(PgCluster c) {
        Agent a = agents.remove(c.name());
        if (a != null) {
            a.stop();
        }
    }

    /** Waits until the sync (and {@code policies} column policies) exist on every node. */
    void awaitSyncEverywhere(int policies) {
        Waits.until(Duration.ofSeconds(60), "sync pushed to green and red", () -> {
            for (PgCluster c : List.of(green, red)) {
                if (c.queryLong(DB, "SELECT count(*) FROM mmsync.syncs WHERE name = 'app' AND NOT removed") != 1
                        || c.queryLong(DB, "SELECT count(*) FROM mmsync.column_policies") != policies) {
                    return false;
                }
            }
            return true;
        });
    }

    /** Waits until each node's committed changes are applied at both others ("applied up to now"), twice round. */
    void awaitSynced() {
        for (int round = 0; round < 2; round++) {
            for (PgCluster c : all()) {
                String ok = c.queryString(DB, "SELECT mmsync.wait_synced('app', '120 seconds')");
                if (!"t".equals(ok)) {
                    throw new AssertionError("node " + c.name() + " did not sync within 120 s; status: "
                            + c.queryString(DB, "SELECT string_agg(s::text, '; ') FROM mmsync.status() s"));
                }
            }
        }
    }

    /** The table's fingerprint on each node, "blue=..., green=..., red=...". */
    String fingerprints(String table) {
        return all().stream().map(c -> c.name() + "=" + Pair.fingerprint(c, table)).collect(Collectors.joining(", "));
    }

    /** Whether the table is identical on the three nodes. */
    boolean same(String table) {
        return all().stream().map(c -> Pair.fingerprint(c, table)).distinct().count() == 1;
    }

    /** Waits for the nodes to be synced and the table identical on all three. */
    void awaitSame(String table) {
        awaitSynced();
        Waits.until(Duration.ofSeconds(30), table + " identical on the three nodes", () -> same(table),
                () -> fingerprints(table));
    }

    @Override
    public void close() {
        agents.values().forEach(Agent::stop);
        agents.clear();
        for (PgCluster c : List.of(red, green, blue)) {
            c.close();
        }
    }
}
