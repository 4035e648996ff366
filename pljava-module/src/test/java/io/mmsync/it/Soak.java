package io.mmsync.it;

import io.mmsync.testenv.PgCluster;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The soak behind test-env/soak: writes on both nodes for a given time while injecting random
 * faults (an agent SIGKILLed, the peer stopped with -m immediate, the network cut through the
 * proxies, the local server restarted under its agent), then waits for quiescence and gives one
 * verdict: faults injected, changes written, changes lost (written at a node but not applied at the
 * other, by mmsync.progress), tables differing (by fingerprint).
 */
final class Soak {
    static final String SCHEMA = "CREATE TABLE load_blue (id bigint PRIMARY KEY, n int NOT NULL, v text);"
            + "CREATE TABLE load_green (id bigint PRIMARY KEY, n int NOT NULL, v text);"
            + "CREATE TABLE shared (id bigint PRIMARY KEY, n int NOT NULL, v text);";
    static final List<String> TABLES = List.of("load_blue", "load_green", "shared");

    /**
     * Pause of each of the four writers between its transactions: about 400 changes/s in all on
     * the test machine (2 cores for both servers, both agents and the writers), a load the pair
     * drains between faults. At full speed the backlogs of both nodes grow for the whole soak and
     * the final catch-up takes about as long as the soak (measured: 10 minutes, 1,000,000 changes).
     */
    static final long WRITER_PAUSE_MICROS = 20_000;
    /** The longest wait for quiescence after the writes stop. */
    static final Duration QUIESCENCE = Duration.ofMinutes(30);

    enum Fault { AGENT_KILL, PEER_STOP, NETWORK_CUT, LOCAL_RESTART }

    /** The outcome; {@link #ok()} when nothing was lost, doubled or left different. */
    static final class Verdict {
        final int faults;
        final long changes;
        final long lost;
        final long doubled;
        final int differingTables;

        Verdict(int faults, long changes, long lost, long doubled, int differingTables) {
            this.faults = faults;
            this.changes = changes;
            this.lost = lost;
            this.doubled = doubled;
            this.differingTables = differingTables;
        }

        boolean ok() {
            return lost == 0 && doubled == 0 && differingTables == 0;
        }

        @Override
        public String toString() {
            return "soak: faults=" + faults + " changes=" + changes + " lost=" + lost + " differing_tables=" + differingTables
                    + (doubled == 0 ? "" : " doubled=" + doubled);
        }
    }

    private final Duration duration;
    private final Random random;
    private final StringBuilder journal = new StringBuilder();
    private final long start = System.nanoTime();

    Soak(Duration duration, long seed) {
        this.duration = duration;
        this.random = new Random(seed);
        note("seed " + seed + ", " + duration.toSeconds() + " s of writes and faults");
    }

    /** What happened, one line per event, with seconds since the start. */
    String journal() {
        return journal.toString();
    }

    private void note(String event) {
        journal.append(String.format("%7.1fs %s%n", (System.nanoTime() - start) / 1e9, event));
    }

    Verdict run() throws Exception {
        try (Pair pair = Pair.start(SCHEMA);
             TcpProxy toBlue = TcpProxy.to("to-blue", pair.blue.port());
             TcpProxy toGreen = TcpProxy.to("to-green", pair.green.port())) {
            pair.registerNodes(toBlue.port(), toGreen.port(), "tcp_user_timeout=5000");
            pair.addSync("");
            Agent.Child blueAgent = pair.childAgent(pair.blue);
            Agent.Child greenAgent = pair.childAgent(pair.green);
            pair.awaitSyncOnGreen();
            AtomicBoolean stop = new AtomicBoolean();
            List<Writer> blueWriters = List.of(new Writer(pair.blue, "load_blue", 0, 1, stop, WRITER_PAUSE_MICROS),
                    new Writer(pair.blue, "shared", 0, 2, stop, WRITER_PAUSE_MICROS));
            List<Writer> greenWriters = List.of(new Writer(pair.green, "load_green", 0, 1, stop, WRITER_PAUSE_MICROS),
                    new Writer(pair.green, "shared", 1, 2, stop, WRITER_PAUSE_MICROS));
            List<Thread> threads = new ArrayList<>();
            blueWriters.forEach(w -> threads.add(w.start("soak-writer-blue")));
            greenWriters.forEach(w -> threads.add(w.start("soak-writer-green")));

            int faults = 0;
            Deque<Fault> next = new ArrayDeque<>();
            long end = System.nanoTime() + duration.toNanos();
            while (System.nanoTime() < end) {
                pause(2000 + random.nextInt(6000));
                if (System.nanoTime() >= end) {
                    break;
                }
                if (next.isEmpty()) {
                    // every kind once per round, in random order: a short soak still sees them all
                    List<Fault> round = new ArrayList<>(List.of(Fault.values()));
                    Collections.shuffle(round, random);
                    next.addAll(round);
                }
                Fault f = next.poll();
                boolean blue = random.nextBoolean();
                PgCluster node = blue ? pair.blue : pair.green;
                int ms = 2000 + random.nextInt(10_000);
                switch (f) {
                    case AGENT_KILL:
                        note("SIGKILL " + node.name() + "'s agent, restart it");
                        (blue ? blueAgent : greenAgent).kill9();
                        (blue ? blueAgent : greenAgent).start();
                        break;
                    case PEER_STOP:
                        note("stop " + node.name() + " -m immediate for " + ms + " ms");
                        node.stopImmediate();
                        pause(ms);
                        node.start();
                        break;
                    case NETWORK_CUT:
                        TcpProxy.Cut how = random.nextBoolean() ? TcpProxy.Cut.BLACKHOLE : TcpProxy.Cut.REFUSE;
                        note("cut the network (" + how + ") for " + ms + " ms");
                        toBlue.cut(how);
                        toGreen.cut(how);
                        pause(ms);
                        toBlue.restore();
                        toGreen.restore();
                        break;
                    case LOCAL_RESTART:
                        note("restart " + node.name() + "'s server under its agent");
                        node.restart();
                        break;
                    default:
                        throw new IllegalStateException("fault " + f);
                }
                faults++;
            }
            note("writes stop; waiting for quiescence");
            stop.set(true);
            for (Thread t : threads) {
                t.join(200_000);
            }
            blueWriters.forEach(Writer::check);
            greenWriters.forEach(Writer::check);
            if (!blueAgent.isAlive() || !greenAgent.isAlive()) {
                note("an agent exited by itself (see its log); restarting it for the verdict");
                if (!blueAgent.isAlive()) {
                    blueAgent.start();
                }
                if (!greenAgent.isAlive()) {
                    greenAgent.start();
                }
            }
            quiesce(pair);
            Verdict v = verdict(pair, faults, blueWriters, greenWriters);
            for (PgCluster c : List.of(pair.blue, pair.green)) {
                Path kept = Path.of("target", "soak-agent-" + c.name() + ".log");
                Files.copy(pair.agentLog(c), kept, StandardCopyOption.REPLACE_EXISTING);
                note(c.name() + "'s agent log: " + kept.toAbsolutePath());
            }
            return v;
        }
    }

    /** Waits (at most {@link #QUIESCENCE}) until each node's changes are applied at the other, noting progress. */
    private void quiesce(Pair pair) {
        long deadline = System.nanoTime() + QUIESCENCE.toNanos();
        long lastNote = 0;
        int synced = 0;
        while (System.nanoTime() < deadline) {
            try {
                boolean both = "t".equals(pair.blue.queryString(Pair.DB, "SELECT mmsync.wait_synced('app', '2 seconds')"))
                        && "t".equals(pair.green.queryString(Pair.DB, "SELECT mmsync.wait_synced('app', '2 seconds')"));
                synced = both ? synced + 1 : 0;
                if (synced == 2) {
                    note("quiescent");
                    return;
                }
                if (System.nanoTime() - lastNote > 10_000_000_000L) {
                    lastNote = System.nanoTime();
                    note("draining: blue->green " + row(pair.blue) + "; green->blue " + row(pair.green));
                }
            } catch (RuntimeException e) {
                note("draining: " + e.getMessage().lines().findFirst().orElse(""));
            }
        }
        note("NOT quiescent after " + QUIESCENCE.toMinutes() + " minutes");
    }

    private static String row(PgCluster c) {
        return c.queryString(Pair.DB, "SELECT state || ', backlog ' || backlog || ', ' || coalesce(last_error, 'no error') FROM mmsync.status()");
    }

    /** The queue tables' size on disk (with index), live and dead rows (issue 14: cleared by TRUNCATE, never vacuumed). */
    private static String queue(PgCluster c) {
        return c.queryString(Pair.DB, "SELECT pg_size_pretty(sum(pg_total_relation_size(relid))) || ', ' || sum(n_live_tup) "
                + "|| ' live, ' || sum(n_dead_tup) || ' dead rows' FROM pg_stat_user_tables "
                + "WHERE schemaname = 'mmsync' AND relname IN ('changes_0', 'changes_1', 'changes_2')");
    }

    private Verdict verdict(Pair pair, int faults, List<Writer> blueWriters, List<Writer> greenWriters) {
        long madeOnBlue = blueWriters.stream().mapToLong(Writer::changes).sum();
        long madeOnGreen = greenWriters.stream().mapToLong(Writer::changes).sum();
        long appliedOnGreen = Pair.applied(pair.green, "blue");
        long appliedOnBlue = Pair.applied(pair.blue, "green");
        note("blue made " + madeOnBlue + " changes, green applied " + appliedOnGreen + "; green made " + madeOnGreen
                + ", blue applied " + appliedOnBlue);
        note("queue at the end: blue " + queue(pair.blue) + "; green " + queue(pair.green));
        int differing = 0;
        for (String t : TABLES) {
            String b = Pair.fingerprint(pair.blue, t);
            String g = Pair.fingerprint(pair.green, t);
            if (!b.equals(g)) {
                differing++;
                note("table " + t + " differs: blue " + b + ", green " + g);
            }
        }
        long lost = Math.max(0, madeOnBlue - appliedOnGreen) + Math.max(0, madeOnGreen - appliedOnBlue);
        long doubled = Math.max(0, appliedOnGreen - madeOnBlue) + Math.max(0, appliedOnBlue - madeOnGreen);
        return new Verdict(faults, madeOnBlue + madeOnGreen, lost, doubled, differing);
    }

    /** Lets the pair run (and the writers write) for {@code ms}: the soak's own pacing. */
    private static void pause(long ms) {
        long until = System.nanoTime() + ms * 1_000_000L;
        Waits.until(Duration.ofMillis(ms + 60_000), ms + " ms of operation", () -> System.nanoTime() >= until);
    }
}
