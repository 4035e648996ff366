package io.mmsync.pljava;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Each way of setting the worker up wrong gets a clear message naming the fix, in the server log
 * (the worker keeps retrying, so fixing it needs no restart of the server) or as an error; after
 * each fix the worker runs the engine.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class WorkerBadInputIT {

    private static void awaitLog(PgCluster c, String text) {
        try {
            WorkerPair.until(Duration.ofSeconds(30), "server log of " + c.name() + " says: " + text,
                    () -> !WorkerPair.logLines(c, text).isEmpty());
        } catch (AssertionError e) {
            String log = WorkerPair.log(c);
            throw new AssertionError(e.getMessage() + "\n--- log tail ---\n" + log.substring(Math.max(0, log.length() - 5000)), e);
        }
    }

    private static void restartWorker(PgCluster c) {
        c.execute("postgres", "SELECT pg_reload_conf(), pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'mmsync worker'");
    }

    private static void awaitEngine(PgCluster c) {
        WorkerPair.until(Duration.ofSeconds(30), "the worker runs the engine", () -> WorkerPair.engineHost(c).equals("worker"));
    }

    @Test
    void eachMistakeIsNamedWithItsFixAndTheWorkerRecoversOnceFixed() {
        assumeTrue(WorkerPair.unavailable().isEmpty(), () -> WorkerPair.unavailable().orElse(""));
        try (PgCluster c = WorkerPair.startNode("bad")) {
            c.createDatabase(WorkerPair.DB);
            awaitLog(c, "the extension mmsync is not installed in database app: CREATE EXTENSION mmsync there");
            c.execute(WorkerPair.DB, "CREATE EXTENSION mmsync");
            awaitLog(c, "PL/Java is not installed in database app");
            c.execute(WorkerPair.DB, "CREATE EXTENSION pljava");
            awaitLog(c, "the Java entry points of mmsync are not declared in database app: run installer/install.sh --pljava");
            c.execute(WorkerPair.DB, "SELECT sqlj.install_jar('file:" + WorkerPair.JAR + "', 'mmsync', true)");
            c.execute(WorkerPair.DB, "SELECT sqlj.set_classpath('mmsync', 'mmsync')");
            c.execute(WorkerPair.DB, readDeclarations());
            awaitEngine(c);
            c.execute(WorkerPair.DB, "SELECT mmsync.add_node('bad', '" + c.conninfo(WorkerPair.DB) + "', true)");

            // the entry point called from a session
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> c.queryString(WorkerPair.DB, "SELECT mmsync.worker_tick()"));
            assertTrue(e.getMessage().contains("runs only in the mmsync background worker, not in a session: add mmsync_worker"
                    + " to shared_preload_libraries"), e.getMessage());
            assertEquals("ok", c.queryString(WorkerPair.DB, "SELECT mmsync.worker_check()"));

            // the engine jar missing
            c.execute("postgres", "ALTER SYSTEM SET mmsync.worker_jar = '/nonexistent/mmsync.jar'");
            restartWorker(c);
            awaitLog(c, "the engine jar /nonexistent/mmsync.jar (mmsync.worker_jar) is missing or unreadable for the server's OS user:"
                    + " install it with installer/install.sh --pljava");
            c.execute("postgres", "ALTER SYSTEM RESET mmsync.worker_jar");
            c.execute("postgres", "ALTER SYSTEM SET mmsync.worker_jar = '" + WorkerPair.JAR + "'");
            restartWorker(c);
            awaitEngine(c);

            // the policy lacking mmsync's grants
            c.execute("postgres", "ALTER SYSTEM SET pljava.policy_urls = '\"file:${org.postgresql.sysconfdir}/pljava.policy\",\"=\"'");
            restartWorker(c);
            awaitLog(c, "mmsync worker: the Java policy denies");
            assertTrue(WorkerPair.logLines(c, "mmsync worker: the Java policy denies").get(0).contains("pljava.policy_urls"));
            c.execute("postgres", "ALTER SYSTEM SET pljava.policy_urls = '\"file:${org.postgresql.sysconfdir}/pljava.policy\",\"file:"
                    + WorkerPair.policy() + "\",\"=\"'");
            restartWorker(c);
            awaitEngine(c);

            // PL/Java without libjvm_location
            c.execute("postgres", "ALTER SYSTEM SET pljava.libjvm_location = ''");
            restartWorker(c);
            awaitLog(c, "mmsync worker: cannot start the engine: pljava.libjvm_location is not set: set it to the libjvm.so of a JDK 17");
            c.execute("postgres", "ALTER SYSTEM SET pljava.libjvm_location = '"
                    + WorkerPair.javaHome().resolve("lib/server/libjvm.so") + "'");
            restartWorker(c);
            awaitEngine(c);
            WorkerPair.assertNoCrash(c);
        }
    }

    @Test
    void withoutThePreloadWorkerCheckSaysWhatToAdd() {
        assumeTrue(WorkerPair.unavailable().isEmpty(), () -> WorkerPair.unavailable().orElse(""));
        try (PgCluster c = PgCluster.start("nopreload")) {
            c.execute("postgres", "CREATE SCHEMA mmsync; CREATE FUNCTION mmsync.worker_check() RETURNS text"
                    + " LANGUAGE C STRICT AS 'mmsync_worker', 'mmsync_worker_check'");
            String answer = c.queryString("postgres", "SELECT mmsync.worker_check()");
            assertTrue(answer.startsWith("mmsync_worker is not in shared_preload_libraries: add it there"), answer);
        }
    }

    private static String readDeclarations() {
        try {
            return java.nio.file.Files.readString(WorkerPair.ROOT.resolve("sql/pljava/mmsync-pljava.sql"));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
