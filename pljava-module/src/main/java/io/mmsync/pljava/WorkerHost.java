package io.mmsync.pljava;

import io.mmsync.engine.Engine;
import io.mmsync.engine.EngineConfig;
import io.mmsync.engine.Version;
import io.mmsync.engine.conn.ConnInfo;

import java.net.SocketPermission;
import java.security.AccessControlException;
import java.security.AccessController;
import java.util.List;
import java.util.PropertyPermission;
import java.util.concurrent.ThreadFactory;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The engine inside the worker, loaded by {@link Worker} from the jar file on disk (see there
 * why). Commands, all on the backend's main thread: "tick" passes the engine's log records to the
 * server log and returns its state; "stop" stops it. Only java.base types cross the boundary.
 */
public final class WorkerHost implements Function<String, String> {
    private static final Logger LOG = Logger.getLogger(WorkerHost.class.getName());
    static final long STOP_WAIT_MS = 5_000;
    private final String host;
    private final Engine engine;
    private final Thread thread;
    private final LogRelay logs;
    private volatile Throwable died;

    private WorkerHost(String conninfo, String host, LogRelay logs) {
        this.host = host;
        this.logs = logs;
        EngineConfig config = EngineConfig.builder(conninfo).host(host).fileSync(false).build();
        ThreadFactory daemons = r -> {
            Thread t = new Thread(r);
            t.setDaemon(true); // never keeps the JVM (and so the backend's exit) waiting
            t.setUncaughtExceptionHandler((th, e) -> {
                died = e;
                LOG.log(Level.SEVERE, "mmsync worker: thread " + th.getName() + " died", e);
            });
            return t;
        };
        engine = new Engine(config, daemons);
        thread = daemons.newThread(engine);
        thread.setName("mmsync-engine");
    }

    /**
     * Called reflectively by {@link Worker}: checks the policy grants, starts the engine and
     * returns the host's command function. Throws IllegalArgumentException or SecurityException
     * with the fix in the message.
     */
    public static Function<String, String> start(String conninfo, String host) {
        LogRelay logs = LogRelay.install();
        checkGrants(ConnInfo.parse(conninfo));
        try {
            // registers pgJDBC with DriverManager from this loader (its service lookup does not see it)
            Class.forName("org.postgresql.Driver");
        } catch (ClassNotFoundException e) {
            throw new IllegalArgumentException("pgJDBC is missing from the engine jar: mmsync.worker_jar must name the jar"
                    + " with dependencies (pljava-module/target/mmsync.jar)", e);
        }
        WorkerHost h = new WorkerHost(conninfo, host, logs);
        h.thread.start();
        LOG.info("mmsync worker: engine " + Version.get() + " started in " + host + " for " + ConnInfo.parse(conninfo));
        return h;
    }

    @Override
    public String apply(String command) {
        try {
            switch (command) {
                case "tick":
                    return state();
                case "stop":
                    return stop();
                case "version":
                    return Version.get();
                default:
                    throw new IllegalArgumentException("unknown worker command " + command);
            }
        } finally {
            logs.drain();
        }
    }

    private String state() {
        if (!thread.isAlive()) {
            // the C side exits on this answer, and the postmaster starts the worker afresh
            return "engine ended" + (died == null ? "" : ": " + died);
        }
        if (!engine.holdsNodeLock()) {
            return host + ": starting, or waiting for the node lock (another engine runs this node)";
        }
        String node = engine.localNode();
        List<String> links = engine.runningLinks();
        return host + ": node " + (node == null || node.isEmpty() ? "(not a node yet)" : node) + ", links " + links;
    }

    private String stop() {
        long t0 = System.nanoTime();
        engine.stop();
        try {
            thread.join(STOP_WAIT_MS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        return thread.isAlive()
                ? "the engine did not stop within " + STOP_WAIT_MS + " ms; the process exits anyway (an open peer transaction rolls back)"
                : "engine stopped in " + ms + " ms";
    }

    /**
     * The grants pgJDBC needs, checked up front so a missing one is named with its fix rather than
     * surfacing as a failed connection deep in a link.
     */
    private static void checkGrants(ConnInfo local) {
        try {
            AccessController.checkPermission(new SocketPermission(local.host() + ":" + local.port(), "connect,resolve"));
            AccessController.checkPermission(new PropertyPermission("*", "read"));
            AccessController.checkPermission(new RuntimePermission("modifyThread"));
        } catch (AccessControlException e) {
            throw new SecurityException("the Java policy denies " + e.getPermission() + " to mmsync's jar: add the grants of"
                    + " installer/mmsync-pljava.policy to a file named in pljava.policy_urls, for both the sqlj:mmsync and the"
                    + " file: code base of mmsync.worker_jar (installer/install.sh --pljava writes it), and restart the server", e);
        }
    }
}
