import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Properties;
import org.postgresql.PGConnection;

/**
 * Issue 15 experiment (README.md): how long a committed row takes to reach a listening client
 * that reads it, by two ways of waiting, on one server, a writer committing at a fixed rate:
 * "notify": LISTEN, getNotifications (the agent's QuickPeekSocketFactory), then the read (the
 * agent's way today: two messages, backend -> client -> backend); "server": one request that waits
 * in the server (waitprobe_await_notify) and then reads. Blocks of each way alternate. Per row:
 * the time the client had its row minus the row's commit timestamp (same host clock). Also the
 * CPU seconds of the listening backend and of this process per block.
 *
 *   java -cp pljava-module/target/mmsync.jar bench/waitprobe/WaitProbe.java PORT RATE SECONDS ROUNDS
 */
public class WaitProbe {
    static final String READ = "SELECT id, extract(epoch FROM pg_catalog.pg_xact_commit_timestamp(xmin))::float8 FROM probe WHERE id > ? ORDER BY id";
    static volatile boolean stop;

    public static void main(String[] a) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + a[0] + "/postgres";
        int rate = Integer.parseInt(a[1]);
        int seconds = Integer.parseInt(a[2]);
        int rounds = Integer.parseInt(a[3]);
        Properties p = new Properties();
        p.setProperty("user", "postgres");
        p.setProperty("socketFactory", "io.mmsync.engine.conn.QuickPeekSocketFactory");
        try (Connection c = DriverManager.getConnection(url, p); Statement st = c.createStatement()) {
            st.execute("DROP TABLE IF EXISTS probe; CREATE TABLE probe (id bigserial PRIMARY KEY, v int)");
            st.execute("CREATE OR REPLACE FUNCTION waitprobe_await_notify(int) RETURNS boolean LANGUAGE c AS 'waitprobe'");
        }
        for (int r = 0; r < rounds; r++) {
            for (String mode : new String[] {"notify", "server"}) {
                run(url, p, mode, rate, seconds, r + 1);
            }
        }
    }

    static void run(String url, Properties p, String mode, int rate, int seconds, int round) throws Exception {
        try (Connection l = DriverManager.getConnection(url, p)) {
            long last;
            int pid;
            try (Statement st = l.createStatement()) {
                st.execute("TRUNCATE probe; SET plan_cache_mode = force_custom_plan; LISTEN probe");
                ResultSet rs = st.executeQuery("SELECT coalesce(max(id), 0), pg_backend_pid() FROM probe");
                rs.next();
                last = rs.getLong(1);
                pid = rs.getInt(2);
            }
            stop = false;
            Thread w = new Thread(() -> write(url, p, rate));
            List<Double> lags = new ArrayList<>();
            double cpu0 = cpu(pid), self0 = cpu(ProcessHandle.current().pid());
            int requests = 0;
            w.start();
            long end = System.nanoTime() + seconds * 1_000_000_000L;
            PGConnection pg = l.unwrap(PGConnection.class);
            // "server": the wait and the read in one request; the read's own check first (a row committed
            // before the wait began, whose notification the client already had, is read without waiting)
            String sql = "SELECT waitprobe_await_notify(1000) WHERE NOT EXISTS (SELECT FROM probe WHERE id > ?); " + READ;
            try (PreparedStatement read = l.prepareStatement(READ); PreparedStatement both = l.prepareStatement(sql)) {
                while (System.nanoTime() < end) {
                    ResultSet rs;
                    if (mode.equals("notify")) {
                        if (pg.getNotifications(1000).length == 0) {
                            continue;
                        }
                        read.setLong(1, last);
                        rs = read.executeQuery();
                    } else {
                        pg.getNotifications(); // stale: the request's own check covers what they announced
                        both.setLong(1, last);
                        both.setLong(2, last);
                        both.execute();
                        both.getMoreResults();
                        rs = both.getResultSet();
                    }
                    requests++;
                    Instant now = Instant.now();
                    double t = now.getEpochSecond() + now.getNano() / 1e9;
                    while (rs.next()) {
                        last = rs.getLong(1);
                        lags.add((t - rs.getDouble(2)) * 1000);
                    }
                    rs.close();
                }
            }
            stop = true;
            w.join();
            double cpu = cpu(pid) - cpu0, self = cpu(ProcessHandle.current().pid()) - self0;
            Collections.sort(lags);
            System.out.printf("{\"mode\": \"%s\", \"round\": %d, \"rate\": %d, \"rows\": %d, \"requests\": %d, \"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, "
                    + "\"backend_cpu_s\": %.2f, \"client_cpu_s\": %.2f, \"load\": \"%s\"}%n", mode, round, rate, lags.size(), requests,
                    pct(lags, 50), pct(lags, 90), pct(lags, 99), cpu, self, load());
        }
    }

    static void write(String url, Properties p, int rate) {
        try (Connection c = DriverManager.getConnection(url, p); Statement st = c.createStatement()) {
            long gap = 1_000_000_000L / rate, next = System.nanoTime();
            while (!stop) {
                st.execute("INSERT INTO probe (v) VALUES (1); NOTIFY probe");
                next += gap;
                long wait = next - System.nanoTime();
                if (wait > 0) {
                    Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                }
            }
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static double pct(List<Double> v, int p) {
        return v.isEmpty() ? Double.NaN : v.get(Math.min(v.size() - 1, v.size() * p / 100));
    }

    static double cpu(long pid) throws Exception {
        String[] f = new String(java.nio.file.Files.readAllBytes(java.nio.file.Path.of("/proc/" + pid + "/stat"))).split("\\) ")[1].split(" ");
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
    }

    static String load() throws Exception {
        return new String(java.nio.file.Files.readAllBytes(java.nio.file.Path.of("/proc/loadavg"))).split(" ")[0];
    }
}
