package io.mmsync.agent;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** mmsync compare / repair: a wrong command line is exit code 2 with what is wrong (CompareIT runs them on servers). */
class CompareCommandTest {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private int run(String... args) throws InterruptedException {
        return Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @Test
    void badCommandLinesAreExitCode2() throws InterruptedException {
        assertEquals(2, run("compare", "--db", "host=h dbname=d"));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("usage: mmsync compare --db '<conninfo of this node>'"), err.toString());
        assertEquals(2, run("compare", "--db", "host=h", "--wait", "soon", "app"));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("mmsync compare: --wait takes seconds, not \"soon\""));
        assertEquals(2, run("compare", "--db", "host=h", "--prefer", "blue", "app"), "--prefer is repair's");
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("mmsync compare: unknown or incomplete option \"--prefer\""));
        assertEquals(2, run("repair", "--db", "host=h", "app", "t", "extra"));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("usage: mmsync repair --db '<conninfo of this node>' [--wait SECONDS] [--prefer NODE]"));
        assertEquals("", out.toString(StandardCharsets.UTF_8));
    }
}
