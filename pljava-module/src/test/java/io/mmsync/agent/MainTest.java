package io.mmsync.agent;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The agent's command line (AgentHealthOptionsIT runs the agent itself). */
class MainTest {
    private static final String DB = "host=127.0.0.1 port=5432 dbname=app user=mmsync";

    @Test
    void optionsBecomeTheEngineAndHealthSettings() throws Exception {
        Main.Options o = Main.parse(new String[] {"agent", "--db", DB, "--page-rows", "100", "--poll-ms", "200",
                "--health-port", "8008", "--health-bind", "10.0.0.2"}, null);
        assertEquals(100, Main.engineConfig(o).pageRows());
        assertEquals(Duration.ofMillis(200), Main.engineConfig(o).poll());
        assertEquals(DB, Main.engineConfig(o).localConninfo());
        assertEquals(8008, Main.healthConfig(o).port());
        assertEquals("10.0.0.2", Main.healthConfig(o).bind());
    }

    @Test
    void theDatabaseMayComeFromTheEnvironmentAndTheEndpointIsOffByDefault() throws Exception {
        Main.Options o = Main.parse(new String[] {"agent"}, DB);
        assertEquals(DB, o.db());
        assertNull(Main.healthConfig(o));
        assertEquals(5000, Main.engineConfig(o).pageRows());
    }

    @Test
    void badCommandLinesAreRefusedWithWhatIsWrong() {
        assertEquals("say which database to serve: --db 'host=... port=... dbname=... user=...' (or MMSYNC_DB)",
                assertThrows(Main.UsageException.class, () -> Main.parse(new String[] {"agent"}, null)).getMessage());
        assertEquals("unknown or incomplete option \"--port\"",
                assertThrows(Main.UsageException.class, () -> Main.parse(new String[] {"agent", "--port", "1"}, DB)).getMessage());
        assertEquals("unknown or incomplete option \"--db\"",
                assertThrows(Main.UsageException.class, () -> Main.parse(new String[] {"agent", "--db"}, null)).getMessage());
        assertEquals("option --page-rows wants a number, not \"many\"", assertThrows(Main.UsageException.class,
                () -> Main.parse(new String[] {"agent", "--page-rows", "many"}, DB)).getMessage());
    }

    @Test
    void runAnswersUsageErrorsWithExitCode2() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
        PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8);
        assertEquals(2, Main.run(new String[] {"agent", "--db", DB, "--page-rows", "0"}, o, e));
        assertTrue(err.toString(StandardCharsets.UTF_8).startsWith("mmsync agent: page rows must be between 1 and 1000000"),
                err.toString(StandardCharsets.UTF_8));
        assertEquals(2, Main.run(new String[] {"frobnicate"}, o, e));
        assertEquals(0, Main.run(new String[] {"--help"}, o, e));
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("usage: mmsync agent"));
    }
}
