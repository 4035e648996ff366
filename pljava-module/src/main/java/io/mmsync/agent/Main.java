package io.mmsync.agent;

import io.mmsync.engine.Engine;
import io.mmsync.engine.EngineConfig;
import io.mmsync.engine.Version;
import io.mmsync.engine.time.Clock;
import io.mmsync.health.EngineLockView;
import io.mmsync.health.EngineView;
import io.mmsync.health.HealthConfig;
import io.mmsync.health.HealthServer;

import java.io.IOException;
import java.io.PrintStream;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * {@code java -jar mmsync.jar agent --db '<conninfo>'}: runs the engine for one node beside its
 * server until SIGTERM/SIGINT. All other configuration lives in that database's mmsync schema.
 */
public final class Main {
    private static final Logger LOG = Logger.getLogger(Main.class.getName());

    private Main() {
    }

    public static void main(String[] args) throws Exception {
        System.exit(run(args, System.out, System.err));
    }

    static int run(String[] args, PrintStream out, PrintStream err) throws InterruptedException {
        if (args.length == 0 || args[0].equals("--help") || args[0].equals("-h")) {
            usage(out);
            return args.length == 0 ? 2 : 0;
        }
        switch (args[0]) {
            case "version":
                out.println("mmsync " + Version.get());
                return 0;
            case "agent":
                return agent(args, err);
            case "health":
                return health(args, err);
            case "compare":
            case "repair":
                return CompareCommand.run(args, out, err);
            default:
                err.println("mmsync: unknown command \"" + args[0] + "\"");
                usage(err);
                return 2;
        }
    }

    /** The agent's command line, checked. */
    record Options(String db, Integer pageRows, Long pollMs, Integer healthPort, String healthBind) {
    }

    /** Thrown for a bad command line: the message is for the user, the exit code is 2. */
    static final class UsageException extends Exception {
        UsageException(String message) {
            super(message);
        }
    }

    private static int agent(String[] args, PrintStream err) throws InterruptedException {
        Options options;
        EngineConfig config;
        HealthConfig healthConfig;
        try {
            options = parse(args, System.getenv("MMSYNC_DB"));
            config = engineConfig(options);
            healthConfig = healthConfig(options);
        } catch (UsageException | IllegalArgumentException e) {
            err.println("mmsync agent: " + e.getMessage());
            return 2;
        }
        Logging.configure();
        Clock clock = Clock.SYSTEM;
        Engine engine = new Engine(config, r -> new Thread(r), clock);
        HealthServer health = null;
        if (healthConfig != null) {
            try {
                health = HealthServer.start(healthConfig, config.localConninfo(), EngineView.of(engine), clock);
            } catch (IOException e) {
                err.println("mmsync agent: health endpoint: " + e.getMessage());
                return 2;
            }
        }
        runUntilSignal(engine, health);
        return 0;
    }

    /** The options after "agent"; {@code db} defaults to {@code envDb} (MMSYNC_DB). */
    static Options parse(String[] args, String envDb) throws UsageException {
        String db = envDb;
        Integer pageRows = null;
        Long pollMs = null;
        Integer healthPort = null;
        String healthBind = HealthConfig.DEFAULT_BIND;
        for (int i = 1; i < args.length; i++) {
            String a = args[i];
            String v = i + 1 < args.length ? args[i + 1] : null;
            if (v == null || !OPTIONS.contains(a)) {
                throw new UsageException("unknown or incomplete option \"" + a + "\"");
            }
            i++;
            try {
                switch (a) {
                    case "--db":
                        db = v;
                        break;
                    case "--page-rows":
                        pageRows = Integer.valueOf(v);
                        break;
                    case "--poll-ms":
                        pollMs = Long.valueOf(v);
                        break;
                    case "--health-port":
                        healthPort = Integer.valueOf(v);
                        break;
                    default:
                        healthBind = v;
                }
            } catch (NumberFormatException e) {
                throw new UsageException("option " + a + " wants a number, not \"" + v + "\"");
            }
        }
        if (db == null) {
            throw new UsageException("say which database to serve: --db 'host=... port=... dbname=... user=...' (or MMSYNC_DB)");
        }
        return new Options(db, pageRows, pollMs, healthPort, healthBind);
    }

    private static final java.util.Set<String> OPTIONS = java.util.Set.of("--db", "--page-rows", "--poll-ms",
            "--health-port", "--health-bind");

    /** Throws IllegalArgumentException naming a bad setting. */
    static EngineConfig engineConfig(Options o) {
        EngineConfig.Builder b = EngineConfig.builder(o.db()).host(hostLabel());
        if (o.pageRows() != null) {
            b.pageRows(o.pageRows());
        }
        if (o.pollMs() != null) {
            b.poll(Duration.ofMillis(o.pollMs()));
        }
        return b.build();
    }

    /** The health endpoint's settings, or null when it is off (no --health-port). */
    static HealthConfig healthConfig(Options o) {
        return o.healthPort() == null ? null : HealthConfig.builder().port(o.healthPort()).bind(o.healthBind()).build();
    }

    /** Runs the engine until SIGTERM/SIGINT, then stops the endpoint and the engine (15 s at most). */
    private static void runUntilSignal(Engine engine, HealthServer health) throws InterruptedException {
        CountDownLatch done = new CountDownLatch(1);
        Thread main = new Thread(() -> {
            try {
                engine.run();
            } finally {
                done.countDown();
            }
        }, "mmsync-engine");
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            // java.util.logging may already be shut down by its own hook: say it on stderr too
            System.err.println("mmsync agent: stopping (signal)");
            LOG.info("mmsync agent: stopping (signal)");
            if (health != null) {
                health.close();
            }
            engine.stop();
            try {
                if (!done.await(15, TimeUnit.SECONDS)) {
                    System.err.println("mmsync agent: engine did not stop within 15 s");
                } else {
                    System.err.println("mmsync agent: stopped cleanly");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "mmsync-shutdown"));
        main.start();
        done.await();
    }

    /**
     * {@code mmsync health --db '<conninfo>' --health-port N [--health-bind ADDR]}: the health
     * endpoint alone, for a node whose engine runs in the in-database worker. It stays up while
     * the worker restarts, so HAProxy's checks do not flap; /liveness follows the node's engine
     * lock (mmsync.engine_host()).
     */
    private static int health(String[] args, PrintStream err) throws InterruptedException {
        Options o;
        HealthConfig config;
        try {
            o = parse(args, System.getenv("MMSYNC_DB"));
            config = healthConfig(o);
            if (config == null) {
                throw new UsageException("say which port to serve: --health-port N (8008 is usual)");
            }
        } catch (UsageException | IllegalArgumentException e) {
            err.println("mmsync health: " + e.getMessage());
            return 2;
        }
        Logging.configure();
        EngineLockView view = new EngineLockView(o.db());
        HealthServer server;
        try {
            server = HealthServer.start(config, o.db(), view, Clock.SYSTEM);
        } catch (IOException e) {
            err.println("mmsync health: " + e.getMessage());
            return 2;
        }
        Thread watch = new Thread(view, "mmsync-health-engine-watch");
        watch.setDaemon(true);
        watch.start();
        CountDownLatch done = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            view.stop();
            done.countDown();
        }, "mmsync-shutdown"));
        done.await();
        return 0;
    }

    /** "agent pid N on HOST" (HOST cut to fit the 40 characters of a host label). */
    static String hostLabel() {
        String host;
        try {
            host = java.net.InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            host = "?";
        }
        String label = "agent pid " + ProcessHandle.current().pid() + " on " + host;
        return label.length() > 40 ? label.substring(0, 40) : label;
    }

    private static void usage(PrintStream out) {
        out.println("usage: mmsync agent --db '<libpq conninfo of the local database>' [--page-rows N] [--poll-ms MS]");
        out.println("                    [--health-port N (off by default; 8008 is usual)] [--health-bind ADDR (default 127.0.0.1)]");
        out.println("       mmsync health --db '<conninfo>' --health-port N [--health-bind ADDR]   (the health endpoint alone,");
        out.println("                    for a node whose engine runs in the in-database worker)");
        out.println("       mmsync compare --db '<conninfo of this node>' [--wait SECONDS] SYNC [TABLE]");
        out.println("                    (exit code 0: identical, 1: different, 2: error)");
        out.println("       mmsync repair --db '<conninfo of this node>' [--wait SECONDS] [--prefer NODE] SYNC [TABLE]");
        out.println("       mmsync version");
    }
}
