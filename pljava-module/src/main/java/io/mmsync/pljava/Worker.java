package io.mmsync.pljava;

import java.lang.reflect.InvocationTargetException;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.function.Function;

/**
 * The engine's host inside PostgreSQL: entry points the mmsync background worker
 * (sql/worker/mmsync_worker.c) calls on the backend's main thread, each in a short transaction.
 * <ul>
 * <li>{@code mmsync.worker_tick()} every {@code mmsync.worker_tick_ms}: the first starts the same
 * {@link io.mmsync.engine.Engine} as the agent on daemon threads of its own (they reach the
 * databases only over pgJDBC, so they commit batch by batch and never touch SPI); every tick
 * passes the engine's log records to the server log and returns the engine's state.</li>
 * <li>{@code mmsync.worker_stop()} once, when the worker got SIGTERM: stops the engine.</li>
 * </ul>
 * The engine is loaded from the jar file {@code mmsync.worker_jar}, not from the copy installed
 * with sqlj.install_jar: PL/Java's loader reads classes and resources through SPI, which only the
 * main thread may use, so an engine thread that loaded a class between two ticks failed
 * (NoClassDefFoundError). State lives in static fields: one JVM per backend, one worker.
 */
public final class Worker {
    private static Function<String, String> host;
    /** The loader of the engine, kept across a stop and a new start (mmsync.worker_enabled off, on). */
    private static URLClassLoader loader;
    private static String loaderJar;

    private Worker() {
    }

    /** {@code mmsync.worker_tick()}: starts the engine on the first call; returns its state. */
    public static String tick() throws SQLException {
        if (host == null) {
            host = start();
        }
        return host.apply("tick");
    }

    /** {@code mmsync.worker_stop()}: stops the engine; returns how that went. */
    public static String stop() {
        if (host == null) {
            return "no engine was running";
        }
        String r = host.apply("stop");
        host = null;
        return r;
    }

    @SuppressWarnings("unchecked")
    private static Function<String, String> start() throws SQLException {
        String conninfo;
        String label;
        String jar;
        try (Connection c = DriverManager.getConnection("jdbc:default:connection");
             Statement st = c.createStatement()) {
            if (!"yes".equals(text(st, "SELECT CASE WHEN mmsync._worker_backend() THEN 'yes' END"))) {
                throw new SQLException("mmsync.worker_tick() runs only in the mmsync background worker, not in a session: add"
                        + " mmsync_worker to shared_preload_libraries, set mmsync.worker_database and restart the server"
                        + " (SELECT mmsync.worker_check() says what is missing)", "55000");
            }
            label = "worker pid " + text(st, "SELECT pg_catalog.pg_backend_pid()::text");
            jar = text(st, "SELECT pg_catalog.current_setting('mmsync.worker_jar')");
            conninfo = text(st, "SELECT coalesce(nullif(pg_catalog.current_setting('mmsync.worker_conninfo', true), ''),"
                    + " format('host=127.0.0.1 port=%s dbname=''%s'' user=''%s''', pg_catalog.current_setting('port'),"
                    + " replace(replace(pg_catalog.current_database(), '\\', '\\\\'), '''', '\\'''),"
                    + " replace(replace(current_user, '\\', '\\\\'), '''', '\\''')))");
        }
        Path path = Path.of(jar);
        if (!Files.isReadable(path)) {
            throw new SQLException("mmsync worker: the engine jar " + jar + " (mmsync.worker_jar) is missing or unreadable for the"
                    + " server's OS user: install it with installer/install.sh --pljava, or point mmsync.worker_jar at it", "58P01");
        }
        try {
            if (loader == null || !jar.equals(loaderJar)) {
                loader = new URLClassLoader("mmsync-engine", new URL[] {path.toUri().toURL()}, ClassLoader.getPlatformClassLoader());
                loaderJar = jar;
            }
            Class<?> cls = Class.forName("io.mmsync.pljava.WorkerHost", true, loader);
            return (Function<String, String>) cls.getMethod("start", String.class, String.class).invoke(null, conninfo, label);
        } catch (InvocationTargetException e) {
            Throwable t = e.getCause();
            throw new SQLException("mmsync worker: " + t.getMessage(), t instanceof SecurityException ? "42501" : "22023", t);
        } catch (SecurityException e) {
            throw new SQLException("mmsync worker: the Java policy denies " + e.getMessage() + ": add the grants of"
                    + " installer/mmsync-pljava.policy to a file named in pljava.policy_urls (installer/install.sh --pljava"
                    + " writes it) and restart the server", "42501", e);
        } catch (ReflectiveOperationException | MalformedURLException e) {
            throw new SQLException("mmsync worker: cannot load the engine from " + jar + " (" + e + "): install the jar with"
                    + " dependencies (pljava-module/target/mmsync.jar) with installer/install.sh --pljava", "58000", e);
        }
    }

    private static String text(Statement st, String sql) throws SQLException {
        try (ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }
}
