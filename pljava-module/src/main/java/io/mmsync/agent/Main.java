package io.mmsync.agent;

import io.mmsync.engine.Engine;
import io.mmsync.engine.EngineConfig;
import io.mmsync.engine.Version;
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
            case "compare":
            case "repair":
                return CompareCommand.run(args, out, err);
            default:
                err.println("mmsync: unknown command \"" + args[0] + "\"");
                usage(err);
                return 2;
        }
    }

    private static int agent(String[] args, PrintStream err) throws InterruptedException {
        String db = System.getenv("MMSYNC_DB");
        Integer pageRows = null;
        Long pollMs = null;
        Integer healthPort = null;
        String healthBind = HealthConfig.DEFAULT_BIND;
        for (int i = 1; i < args.length; i++) {
            String a = args[i];
            String v = i + 1 < args.length ? args[i + 1] : null;
            if (a.equals("--db") && v != null) {
                db = v;
                i++;
            } else if (a.equals("--page-rows") && v != null) {
                pageRows = Integer.valueOf(v);
                i++;
            } else if (a.equals("--poll-ms") && v != null) {
                pollMs = Long.valueOf(v);
                i++;
            } else if (a.equals("--health-port") && v != null) {
                healthPort = Integer.valueOf(v);
                i++;
            } else if (a.equals("--health-bind") && v != null) {
                healthBind = v;
                i++;
            } else {
                err.println("mmsync agent: unknown or incomplete option \"" + a + "\"");
                return 2;
            }
        }
        if (db == null) {
            err.println("mmsync agent: say which database to serve: --db 'host=... port=... dbname=... user=...' (or MMSYNC_DB)");
            return 2;
        }
        EngineConfig config;
        HealthConfig healthConfig = null;
        try {
            EngineConfig.Builder b = EngineConfig.builder(db);
            if (pageRows != null) {
                b.pageRows(pageRows);
            }
            if (pollMs != null) {
                b.poll(Duration.ofMillis(pollMs));
            }
            config = b.build();
            if (healthPort != null) {
                healthConfig = HealthConfig.builder().port(healthPort).bind(healthBind).build();
            }
        } catch (IllegalArgumentException e) {
            err.println("mmsync agent: " + e.getMessage());
            return 2;
        }
        Logging.configure();
        Engine engine = new Engine(config, r -> new Thread(r));
        HealthServer health = null;
        if (healthConfig != null) {
            try {
                health = HealthServer.start(healthConfig, config.localConninfo(), EngineView.of(engine));
            } catch (IOException e) {
                err.println("mmsync agent: health endpoint: " + e.getMessage());
                return 2;
            }
        }
        HealthServer healthServer = health;
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
            if (healthServer != null) {
                healthServer.close();
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
        return 0;
    }

    private static void usage(PrintStream out) {
        out.println("usage: mmsync agent --db '<libpq conninfo of the local database>' [--page-rows N] [--poll-ms MS]");
        out.println("                    [--health-port N (off by default; 8008 is usual)] [--health-bind ADDR (default 127.0.0.1)]");
        out.println("       mmsync compare --db '<conninfo of this node>' [--wait SECONDS] SYNC [TABLE]");
        out.println("                    (exit code 0: identical, 1: different, 2: error)");
        out.println("       mmsync repair --db '<conninfo of this node>' [--wait SECONDS] [--prefer NODE] SYNC [TABLE]");
        out.println("       mmsync version");
    }
}
