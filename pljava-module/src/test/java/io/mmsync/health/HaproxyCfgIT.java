package io.mmsync.health;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** installer/haproxy-cfg writes configs the real HAProxy accepts, and refuses bad arguments. */
@Timeout(60)
class HaproxyCfgIT {
    @TempDir
    Path dir;

    private String generate(String... args) throws IOException {
        Path out = dir.resolve("out.txt");
        int rc = Haproxy.generate(List.of(args), out);
        String text = Files.readString(out);
        assertEquals(0, rc, text);
        return text;
    }

    private void assertHaproxyAccepts(String cfg) throws Exception {
        Path f = dir.resolve("haproxy.cfg");
        Files.writeString(f, cfg);
        Process p = new ProcessBuilder(Haproxy.BIN, "-c", "-f", f.toString()).redirectErrorStream(true).start();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.exitValue(), out + "\n" + cfg);
        assertTrue(out.contains("Configuration file is valid"), out);
    }

    @Test
    void writerConfigChecksTheEndpointWithBlueActiveAndGreenBackup() throws Exception {
        String cfg = generate("--blue", "10.0.0.1:5432", "--green", "10.0.0.2:5432", "--stats", "127.0.0.1:8404");
        assertHaproxyAccepts(cfg);
        assertTrue(cfg.contains("option httpchk GET /writer?lag=1s&backup=green\n"), cfg);
        assertTrue(cfg.contains("http-check expect status 200\n"), cfg);
        assertTrue(cfg.contains("default-server inter 1s fastinter 250ms downinter 500ms fall 2 rise 2 on-marked-down "
                + "shutdown-sessions on-marked-up shutdown-backup-sessions\n"), cfg);
        assertTrue(cfg.contains("server blue 10.0.0.1:5432 check addr 10.0.0.1 port 8008\n"), cfg);
        assertTrue(cfg.contains("server green 10.0.0.2:5432 check addr 10.0.0.2 port 8008 backup\n"), cfg);
        assertTrue(cfg.contains("bind 127.0.0.1:8404"), cfg);
    }

    @Test
    void otherVariantsAndNodeNames() throws Exception {
        String ready = generate("--blue", "127.0.0.2:5432", "--green", "localhost:5433", "--check", "ready", "--lag", "100",
                "--peer-required", "--health-port", "9000", "--blue-node", "dc_a", "--green-node", "dc_b");
        assertHaproxyAccepts(ready);
        assertTrue(ready.contains("option httpchk GET /ready?lag=100&peer=required\n"), ready);
        assertTrue(ready.contains("server dc_b localhost:5433 check addr localhost port 9000 backup"), ready);
        String pgsql = generate("--blue", "10.0.0.1:5432", "--green", "10.0.0.2:5432", "--check", "pgsql");
        assertHaproxyAccepts(pgsql);
        assertTrue(pgsql.contains("option pgsql-check user haproxy\n"), pgsql);
        assertTrue(!pgsql.contains("httpchk"), pgsql);
    }

    @Test
    void refusesBadArguments() throws IOException {
        List<String[]> bad = new ArrayList<>();
        bad.add(new String[] {"--green", "10.0.0.2:5432"});
        bad.add(new String[] {"--blue", "10.0.0.1", "--green", "10.0.0.2:5432"});
        bad.add(new String[] {"--blue", "a:1", "--green", "b:2", "--check", "tcp"});
        bad.add(new String[] {"--blue", "a:1", "--green", "b:2", "--lag", "soon"});
        bad.add(new String[] {"--blue", "a:1", "--green", "b:2", "--inter", "fast"});
        bad.add(new String[] {"--blue", "a:1", "--green", "b:2", "--blue-node", "green"});
        bad.add(new String[] {"--blue", "a:1", "--green", "b:2", "--frobnicate"});
        for (String[] args : bad) {
            Path out = dir.resolve("bad.txt");
            int rc = Haproxy.generate(List.of(args), out);
            String text = Files.readString(out);
            assertEquals(2, rc, String.join(" ", args) + ": " + text);
            assertTrue(text.startsWith("haproxy-cfg: "), text);
        }
    }
}
