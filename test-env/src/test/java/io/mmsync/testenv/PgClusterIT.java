package io.mmsync.testenv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class PgClusterIT {

    private static final String DB = "app";

    /** Creates db "app" with table t(id, v) holding ids 1..n. */
    private static void seed(PgCluster pg, int n) {
        pg.createDatabase(DB);
        pg.execute(DB, "CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL)");
        pg.execute(DB, "INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, " + n + ") g");
    }

    private static void assertData(PgCluster pg, long rows, long sum) {
        assertEquals(rows, pg.queryLong(DB, "SELECT count(*) FROM t"));
        assertEquals(sum, pg.queryLong(DB, "SELECT coalesce(sum(id), 0) FROM t"));
    }

    @Test
    @Timeout(120)
    void startsRealClusterAndStoresData() throws Exception {
        try (PgCluster pg = PgCluster.start("basic")) {
            assertTrue(pg.isRunning());
            assertTrue(Files.isRegularFile(pg.dataDir().resolve("PG_VERSION")));
            assertTrue(Files.isRegularFile(pg.logFile()));
            seed(pg, 1000);
            assertData(pg, 1000, 500_500);
            assertEquals("row 42", pg.queryString(DB, "SELECT v FROM t WHERE id = 42"));
            assertEquals(null, pg.queryString(DB, "SELECT NULL::text"));
            assertTrue(pg.queryString("postgres", "SELECT version()").startsWith("PostgreSQL 15"));
            assertEquals("127.0.0.1", pg.queryString("postgres", "SHOW listen_addresses"));
            assertEquals(String.valueOf(pg.port()), pg.queryString("postgres", "SHOW port"));
            assertEquals("basic", pg.queryString("postgres", "SHOW cluster_name"));
            assertEquals("UTF8", pg.queryString(DB, "SHOW server_encoding"));
            assertEquals("off", pg.queryString("postgres", "SHOW fsync"));
            assertEquals("on", pg.queryString("postgres", "SHOW synchronous_commit"));
            assertEquals(pg.dataDir().toString(), pg.queryString("postgres", "SHOW unix_socket_directories"));
            assertTrue(Files.exists(pg.dataDir().resolve(".s.PGSQL." + pg.port())));
            pg.createDatabase(DB); // idempotent
            assertEquals(1, pg.queryLong("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'app'"));
            try (Connection c = DriverManager.getConnection(pg.jdbcUrl(DB)); Statement st = c.createStatement()) {
                st.execute("INSERT INTO t VALUES (1001, 'via url')");
            }
            assertData(pg, 1001, 500_500 + 1001);
            assertEquals("host=127.0.0.1 port=" + pg.port() + " dbname=app user=postgres", pg.conninfo(DB));
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> pg.execute(DB, "INSERT INTO t VALUES (1, 'duplicate')"));
            assertTrue(e.getMessage().contains("23505"), e.getMessage());
        }
    }

    @Test
    @Timeout(120)
    void dataSurvivesRestart() {
        try (PgCluster pg = PgCluster.start("restart")) {
            int port = pg.port();
            seed(pg, 500);
            pg.restart();
            assertTrue(pg.isRunning());
            assertEquals(port, pg.port());
            assertData(pg, 500, 125_250);
            pg.stop();
            assertFalse(pg.isRunning());
            assertThrows(IllegalStateException.class, () -> pg.queryLong(DB, "SELECT 1"));
            pg.stop(); // no-op when stopped
            pg.start();
            assertData(pg, 500, 125_250);
        }
    }

    @Test
    @Timeout(120)
    void dataSurvivesStopImmediate() {
        try (PgCluster pg = PgCluster.start("immediate")) {
            seed(pg, 300);
            pg.execute(DB, "DELETE FROM t WHERE id > 200");
            pg.stopImmediate();
            assertFalse(pg.isRunning());
            pg.start();
            assertData(pg, 200, 20_100);
            pg.execute(DB, "INSERT INTO t VALUES (201, 'after recovery')");
            assertData(pg, 201, 20_301);
        }
    }

    @Test
    @Timeout(180)
    void dataSurvivesKillPostmaster() throws Exception {
        try (PgCluster pg = PgCluster.start("kill")) {
            seed(pg, 100);
            try (Connection held = pg.connect(DB)) { // a live backend when the postmaster dies
                pg.killPostmaster();
                assertFalse(pg.isRunning());
                assertTrue(Os.processesIn(pg.dataDir()).isEmpty(), "orphaned backends must be gone");
                assertThrows(SQLException.class, () -> {
                    try (Statement st = held.createStatement()) {
                        st.execute("SELECT 1");
                    }
                });
            }
            pg.start();
            assertTrue(pg.isRunning());
            assertData(pg, 100, 5050);
            pg.execute(DB, "INSERT INTO t VALUES (101, 'x')");
            pg.killPostmaster(); // twice in a row
            pg.start();
            assertData(pg, 101, 5151);
        }
    }

    @Test
    @Timeout(180)
    void twoClustersAreIndependent() {
        try (PgCluster blue = PgCluster.start("blue"); PgCluster green = PgCluster.start("green")) {
            assertNotEquals(blue.port(), green.port());
            assertNotEquals(blue.dataDir(), green.dataDir());
            seed(blue, 10);
            seed(green, 20);
            assertData(blue, 10, 55);
            assertData(green, 20, 210);
            blue.execute(DB, "DELETE FROM t");
            assertData(blue, 0, 0);
            assertData(green, 20, 210);
            assertNotEquals(blue.queryString("postgres", "SELECT system_identifier::text FROM pg_control_system()"),
                    green.queryString("postgres", "SELECT system_identifier::text FROM pg_control_system()"));
            blue.stopImmediate();
            assertTrue(green.isRunning());
            assertData(green, 20, 210);
            blue.start();
            assertData(blue, 0, 0);
        }
    }

    @Test
    @Timeout(120)
    void closeStopsAndRemovesDataDir() throws Exception {
        PgCluster pg = PgCluster.start("close");
        seed(pg, 5);
        Path data = pg.dataDir();
        Path base = data.getParent();
        assertTrue(Files.isDirectory(data));
        assertTrue(base.getFileName().toString().startsWith("mmsync-pg-close-"));
        pg.close();
        assertFalse(pg.isRunning());
        assertFalse(Files.exists(data));
        assertFalse(Files.exists(base));
        assertTrue(Os.processesIn(data).isEmpty());
        assertThrows(SQLException.class, () -> pg.connect("postgres").close());
        pg.close(); // second close is a no-op and never throws
        assertThrows(IllegalStateException.class, pg::start);
    }

    @Test
    @Timeout(120)
    void builderSettingsAndFixedPort() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            port = s.getLocalPort();
        }
        try (PgCluster pg = PgCluster.builder("custom").port(port)
                .settings(Map.of("wal_level", "logical", "max_replication_slots", "7"))
                .setting("mmsync.note", "it's quoted").start()) {
            assertEquals(port, pg.port());
            assertEquals("logical", pg.queryString("postgres", "SHOW wal_level"));
            assertEquals(7, pg.queryLong("postgres", "SHOW max_replication_slots"));
            assertEquals("it's quoted", pg.queryString("postgres", "SHOW mmsync.note"));
            pg.restart();
            assertEquals(String.valueOf(port), pg.queryString("postgres", "SHOW port"));
        }
    }

    @Test
    @Timeout(120)
    void pwUsersNeedScramPasswordOthersAreTrusted() throws Exception {
        try (PgCluster pg = PgCluster.start("auth")) {
            pg.createPasswordRole("pw_alice", "secret");
            pg.execute("postgres", "CREATE ROLE pw_carol LOGIN PASSWORD 'c4' IN ROLE " + PgCluster.PW_GROUP);
            pg.execute("postgres", "CREATE ROLE bob LOGIN");
            String url = "jdbc:postgresql://127.0.0.1:" + pg.port() + "/postgres";
            SQLException noPw = assertThrows(SQLException.class,
                    () -> DriverManager.getConnection(url + "?user=pw_alice&connectTimeout=10").close());
            assertTrue(noPw.getMessage().toLowerCase().contains("password"), noPw.getMessage());
            SQLException badPw = assertThrows(SQLException.class,
                    () -> DriverManager.getConnection(url + "?connectTimeout=10", "pw_alice", "wrong").close());
            assertEquals("28P01", badPw.getSQLState());
            try (Connection c = DriverManager.getConnection(url, "pw_alice", "secret");
                 Statement st = c.createStatement();
                 var rs = st.executeQuery("SELECT current_user")) {
                assertTrue(rs.next());
                assertEquals("pw_alice", rs.getString(1));
            }
            assertThrows(SQLException.class, () -> DriverManager.getConnection(url + "?user=pw_carol").close());
            try (Connection c = DriverManager.getConnection(url, "pw_carol", "c4")) {
                assertTrue(c.isValid(5));
            }
            try (Connection c = DriverManager.getConnection(url + "?user=bob")) {
                assertTrue(c.isValid(5));
            }
        }
    }

    @Test
    @Timeout(120)
    void failedStartReportsCommandAndServerLogAndCleansUp() throws Exception {
        try (ServerSocket busy = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> PgCluster.builder("busyport").port(busy.getLocalPort()).start());
            assertTrue(e.getMessage().contains("pg_ctl"), e.getMessage());
            assertTrue(e.getMessage().contains("server log tail"), e.getMessage());
            assertTrue(e.getMessage().contains("already in use"), e.getMessage());
        }
        try (var dirs = Files.list(Path.of("/tmp"))) {
            assertTrue(dirs.noneMatch(d -> d.getFileName().toString().startsWith("mmsync-pg-busyport-")));
        }
    }

    @Test
    @Timeout(30)
    void pgBinHasServerBinaries() {
        assertTrue(Files.isExecutable(PgCluster.pgBin().resolve("pg_ctl")));
        assertTrue(Files.isExecutable(PgCluster.pgBin().resolve("pgbench")));
        assertThrows(IllegalArgumentException.class, () -> PgCluster.builder("bad/name"));
    }
}
