package io.mmsync.pljava;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The hand-written PL/Java declarations (sql/pljava/mmsync-pljava.sql) must name real public
 * static methods with matching types; and where the server has PL/Java, they must run there.
 */
class PlJavaDeclarationsIT {
    private static final Pattern DECL = Pattern.compile(
            "LANGUAGE java AS '([\\w.$\\[\\]]+)=([\\w.$]+)\\.(\\w+)\\(([^)]*)\\)'");

    static Path sqlFile() {
        return Path.of(System.getProperty("mmsync.root", ".."), "sql", "pljava", "mmsync-pljava.sql");
    }

    @Test
    void everyDeclaredFunctionResolvesToAPublicStaticMethod() throws Exception {
        Matcher m = DECL.matcher(Files.readString(sqlFile()));
        List<String> checked = new ArrayList<>();
        while (m.find()) {
            Class<?> cls = Class.forName(m.group(2));
            List<Class<?>> params = new ArrayList<>();
            for (String p : m.group(4).split(",")) {
                if (!p.isBlank()) {
                    params.add(Class.forName(p.trim()));
                }
            }
            Method method = cls.getMethod(m.group(3), params.toArray(new Class<?>[0]));
            assertTrue(Modifier.isStatic(method.getModifiers()), method + " must be static");
            assertEquals(m.group(1), method.getReturnType().getName(), "return type of " + method);
            checked.add(method.getName());
        }
        assertFalse(checked.isEmpty(), "no declarations found in " + sqlFile());
        assertEquals("0.2.0", Functions.javaVersion());
        assertEquals("mmsync@127.0.0.1:5432/app", Functions.checkConninfo("host=127.0.0.1 dbname=app user=mmsync"));
    }

    private static String readUnchecked(Path p) {
        try {
            return Files.readString(p);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void runsInsideTheServerWherePlJavaIsInstalled() {
        try (PgCluster pg = PgCluster.start("pljava")) {
            long available = pg.queryLong("postgres", "SELECT count(*) FROM pg_available_extensions WHERE name = 'pljava'");
            assumeTrue(available > 0, "PL/Java is not installed on this server (not in any registry these machines reach)");
            Path jar = Path.of(System.getProperty("mmsync.root", ".."), "pljava-module", "target", "mmsync.jar").toAbsolutePath();
            assumeTrue(Files.exists(jar), "the engine jar " + jar + " is not built yet (mvn package)");
            pg.execute("postgres", "CREATE EXTENSION pljava; CREATE SCHEMA mmsync");
            pg.execute("postgres", "SELECT sqlj.install_jar('file:" + jar + "', 'mmsync', true);"
                    + "SELECT sqlj.set_classpath('mmsync', 'mmsync')");
            pg.execute("postgres", readUnchecked(sqlFile()));
            assertEquals("0.2.0", pg.queryString("postgres", "SELECT mmsync.java_version()"));
        }
    }
}
