package io.mmsync.testenv;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A real, throw-away PostgreSQL cluster for tests: initdb into a temp dir, listen on 127.0.0.1 only.
 * When the JVM runs as root, every cluster command runs as the {@code postgres} OS user via runuser.
 */
public final class PgCluster implements AutoCloseable {

    public static final String DEFAULT_BIN = "/usr/lib/postgresql/15/bin";
    private static final Logger LOG = Logger.getLogger(PgCluster.class.getName());
    private static final Duration CMD_TIMEOUT = Cmd.DEFAULT_TIMEOUT;
    private static final long WAIT_MS = 60_000;
    private static final boolean ROOT = Os.isRoot();
    /** Members of this NOLOGIN role must authenticate with scram-sha-256 over TCP (see {@link #createPasswordRole}). */
    public static final String PW_GROUP = "pw_users";
    private static final Pattern STALE_FILES = Pattern.compile("postmaster\\.pid|\\.s\\.PGSQL\\.\\d+(\\.lock)?");
    private static final Set<PgCluster> LIVE = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(
                () -> List.copyOf(LIVE).forEach(PgCluster::close), "mmsync-pgcluster-shutdown"));
    }

    private final String name;
    private final Path bin, baseDir, dataDir, logFile;
    private volatile int port;
    private volatile boolean closed;

    private PgCluster(String name, Path bin, Path baseDir, int port) {
        this.name = name; this.bin = bin; this.baseDir = baseDir; this.port = port;
        this.dataDir = baseDir.resolve("data");
        this.logFile = baseDir.resolve(name + ".log");
    }

    /** Starts a fresh cluster with default settings on a free port. */
    public static PgCluster start(String name) { return builder(name).start(); }

    public static Builder builder(String name) { return new Builder(name); }

    /** Server bin dir: env MMSYNC_PG_BIN, else {@value #DEFAULT_BIN}. */
    public static Path pgBin() {
        String env = System.getenv("MMSYNC_PG_BIN");
        return Path.of(env != null && !env.isBlank() ? env : DEFAULT_BIN);
    }

    /** Options for a new cluster. */
    public static final class Builder {
        private final String name;
        private Path binDir = pgBin();
        private final Map<String, String> settings = new LinkedHashMap<>();
        private int port;

        private Builder(String name) {
            if (name == null || !name.matches("[A-Za-z0-9_-]{1,40}")) {
                throw new IllegalArgumentException("cluster name must match [A-Za-z0-9_-]{1,40}: " + name);
            }
            this.name = name;
        }

        public Builder binDir(Path dir) { this.binDir = dir; return this; }

        /** Extra postgresql.conf setting; the value is single-quoted unless it already is. */
        public Builder setting(String key, String value) { settings.put(key, value); return this; }

        public Builder settings(Map<String, String> extra) { settings.putAll(extra); return this; }

        /** Fixed port (default: a free port on 127.0.0.1). */
        public Builder port(int port) { this.port = port; return this; }

        public PgCluster start() { return PgCluster.create(this); }
    }

    private static PgCluster create(Builder b) {
        Path base;
        try {
            Path tmp = Files.isDirectory(Path.of("/tmp")) ? Path.of("/tmp") : Path.of(System.getProperty("java.io.tmpdir"));
            base = Files.createTempDirectory(tmp, "mmsync-pg-" + b.name + "-").toRealPath();
            if (ROOT) {
                Files.setOwner(base, base.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("postgres"));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create temp dir for cluster " + b.name, e);
        }
        boolean autoPort = b.port == 0;
        PgCluster c = new PgCluster(b.name, b.binDir, base, autoPort ? Os.freePort() : b.port);
        LIVE.add(c);
        try {
            c.initdb();
            c.configure(b.settings);
            for (int attempt = 1; ; attempt++) {
                try {
                    c.start();
                    c.execute("postgres", "CREATE ROLE " + PW_GROUP + " NOLOGIN");
                    return c;
                } catch (IllegalStateException e) {
                    if (!autoPort || attempt >= 3 || !Cmd.tail(c.logFile, 30).contains("already in use")) throw e;
                    c.port = Os.freePort(); // lost a port race: append a new port line (last one wins)
                    c.appendConf("port = " + c.port + "\n");
                }
            }
        } catch (RuntimeException e) {
            c.close();
            throw e;
        }
    }

    private void initdb() {
        List<String> cmd = new ArrayList<>(List.of(bin.resolve("initdb").toString(), "-D", dataDir.toString(),
                "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"));
        if (!Cmd.runAllowFailure(asPg(cmd), baseDir, CMD_TIMEOUT).ok()) {
            LOG.info("initdb with --locale=C.UTF-8 failed for " + name + "; retrying with --no-locale");
            Os.deleteTree(dataDir);
            cmd.set(cmd.size() - 1, "--no-locale");
            Cmd.run(asPg(cmd), baseDir, CMD_TIMEOUT);
        }
    }

    private void configure(Map<String, String> extra) {
        StringBuilder sb = new StringBuilder("\n# --- mmsync test cluster settings ---\n")
                .append("listen_addresses = '127.0.0.1'\n")
                .append("port = ").append(port).append('\n')
                .append("unix_socket_directories = ").append(quote(dataDir.toString())).append('\n')
                .append("fsync = off\nfull_page_writes = off\n")
                .append("cluster_name = ").append(quote(name)).append('\n')
                .append("max_connections = 100\nlogging_collector = off\n");
        extra.forEach((k, v) -> sb.append(k).append(" = ").append(quote(v)).append('\n'));
        appendConf(sb.toString());
        // PostgreSQL < 16 has no regex user names in pg_hba.conf, so "/^pw_" alone would only match a role
        // literally named "/^pw_". Password roles are therefore (also) matched by membership in PW_GROUP.
        List<String> pwUsers = serverMajor() >= 16 ? List.of("/^pw_", "+" + PW_GROUP) : List.of("+" + PW_GROUP);
        StringBuilder hba = new StringBuilder("# mmsync test cluster: scram for pw_* roles, trust otherwise\n"
                + "local all all trust\nlocal replication all trust\n");
        for (String db : List.of("all", "replication")) {
            pwUsers.forEach(u -> hba.append("host ").append(db).append(' ').append(u).append(" 127.0.0.1/32 scram-sha-256\n"));
        }
        hba.append("host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n");
        write("pg_hba.conf", hba.toString(), StandardOpenOption.TRUNCATE_EXISTING);
    }

    private void appendConf(String text) { write("postgresql.conf", text, StandardOpenOption.APPEND); }

    /** Writes into an existing file initdb created, so it keeps its postgres ownership. */
    private void write(String file, String text, StandardOpenOption mode) {
        try {
            Files.writeString(dataDir.resolve(file), text, mode);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public String name() { return name; }
    public int port() { return port; }
    public Path dataDir() { return dataDir; }
    public Path logFile() { return logFile; }
    /** Bin dir this cluster was created with. */
    public Path binDir() { return bin; }

    public String jdbcUrl(String db) { return "jdbc:postgresql://127.0.0.1:" + port + "/" + db + "?user=postgres"; }

    /** libpq-style connection string, e.g. for psql, pgbench or CREATE SUBSCRIPTION ... CONNECTION. */
    public String conninfo(String db) { return "host=127.0.0.1 port=" + port + " dbname=" + db + " user=postgres"; }

    public Connection connect(String db) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", "postgres");
        p.setProperty("connectTimeout", "10");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/" + db, p);
    }

    /** Creates the database unless it already exists. */
    public void createDatabase(String db) {
        String literal = "'" + db.replace("'", "''") + "'";
        if (queryLong("postgres", "SELECT count(*) FROM pg_database WHERE datname = " + literal) == 0) {
            execute("postgres", "CREATE DATABASE " + quoteIdent(db));
        }
    }

    /**
     * Creates a LOGIN role with a password that must authenticate with scram-sha-256 over TCP (member of
     * {@link #PW_GROUP}; on PG 16+ every role named pw_* needs scram anyway). Options e.g. "REPLICATION", "SUPERUSER".
     */
    public void createPasswordRole(String role, String password, String... options) {
        execute("postgres", "CREATE ROLE " + quoteIdent(role) + " LOGIN PASSWORD '" + password.replace("'", "''")
                + "' " + String.join(" ", options) + " IN ROLE " + PW_GROUP);
    }

    public void execute(String db, String sql) { sql(db, sql, false); }

    /** First column of the first row as a long (the row and value must exist). */
    public long queryLong(String db, String sql) {
        String v = queryString(db, sql);
        if (v == null) throw new IllegalStateException("NULL result for: " + sql);
        return Long.parseLong(v.trim());
    }

    /** First column of the first row as text (null for SQL NULL); fails if there is no row. */
    public String queryString(String db, String sql) { return sql(db, sql, true); }

    private String sql(String db, String sql, boolean query) {
        try (Connection c = connect(db); Statement st = c.createStatement()) {
            if (!query) {
                st.execute(sql);
                return null;
            }
            try (ResultSet rs = st.executeQuery(sql)) {
                if (!rs.next()) throw new IllegalStateException("no rows for: " + sql);
                return rs.getString(1);
            }
        } catch (SQLException e) {
            throw new IllegalStateException("SQL failed on cluster " + name + " db " + db + " [" + e.getSQLState()
                    + "]: " + e.getMessage() + "\nSQL: " + sql, e);
        }
    }

    /** Starts a stopped cluster (same port and data dir) and waits until it accepts connections. */
    public synchronized void start() {
        if (closed) throw new IllegalStateException("cluster " + name + " is closed");
        if (isRunning()) return;
        Os.awaitNoProcessesIn(dataDir, WAIT_MS); // old backends of a killed postmaster still hold shared memory
        // Stale lock files of a dead postmaster: both hold its PID, which the new postmaster would take for a
        // live server while the killed one is still an unreaped zombie.
        try (Stream<Path> files = Files.list(dataDir)) {
            for (Path f : files.filter(f -> STALE_FILES.matcher(f.getFileName().toString()).matches()).toList()) {
                Files.deleteIfExists(f);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Cmd.Result r = Cmd.runAllowFailure(pgCtl("-l", logFile.toString(), "-w", "-t", "60", "start"),
                baseDir, CMD_TIMEOUT);
        if (!r.ok()) {
            throw new IllegalStateException("starting cluster " + name + " on port " + port + " failed (exit "
                    + r.exitCode() + "): " + String.join(" ", r.command()) + "\n--- output ---\n" + r.output()
                    + "\n--- server log tail (" + logFile + ") ---\n" + Cmd.tail(logFile, 40));
        }
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (true) {
            try (Connection c = connect("postgres"); Statement st = c.createStatement()) {
                st.execute("SELECT 1");
                return;
            } catch (SQLException e) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("cluster " + name + " started but does not accept connections: "
                            + e.getMessage() + "\n--- server log tail ---\n" + Cmd.tail(logFile, 40), e);
                }
                Os.sleep(200);
            }
        }
    }

    /** pg_ctl stop -m fast; no-op if not running. */
    public synchronized void stop() { pgCtlStop("fast"); }

    /** pg_ctl stop -m immediate (crash-like: recovery runs on next start); no-op if not running. */
    public synchronized void stopImmediate() { pgCtlStop("immediate"); }

    public synchronized void restart() { stop(); start(); }

    /** SIGKILLs the postmaster and waits for it and its orphaned backends to exit. */
    public synchronized void killPostmaster() {
        if (!isRunning()) throw new IllegalStateException("cluster " + name + " is not running");
        long pid = postmasterPid().orElseThrow();
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        for (long deadline = System.currentTimeMillis() + WAIT_MS; Os.alive(pid) && System.currentTimeMillis() < deadline; ) {
            Os.sleep(50);
        }
        Os.awaitNoProcessesIn(dataDir, WAIT_MS); // backends notice the postmaster's death and exit
    }

    /** True if postmaster.pid names a live process that is this cluster's postmaster (not a reused pid). */
    public boolean isRunning() {
        return postmasterPid().filter(Os::alive).map(pid -> Os.cwdOf(pid).map(dataDir::equals).orElse(true)).orElse(false);
    }

    /** Stops (immediate) and deletes the temp dir. Never throws. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        LIVE.remove(this);
        try {
            pgCtlStop("immediate");
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "stopping cluster " + name + " failed; killing its processes", e);
        }
        try {
            Os.processesIn(dataDir).forEach(ProcessHandle::destroyForcibly);
            Os.awaitNoProcessesIn(dataDir, WAIT_MS);
            Os.deleteTree(baseDir);
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "cleaning up cluster " + name + " (" + baseDir + ") failed", e);
        }
    }

    @Override
    public String toString() { return "PgCluster[" + name + " 127.0.0.1:" + port + " " + dataDir + "]"; }

    private void pgCtlStop(String mode) {
        if (!isRunning()) return;
        Cmd.run(pgCtl("-m", mode, "-w", "-t", "60", "stop"), baseDir, CMD_TIMEOUT);
    }

    private int serverMajor() {
        try {
            return Integer.parseInt(Files.readString(dataDir.resolve("PG_VERSION")).trim().split("\\.")[0]);
        } catch (IOException | RuntimeException e) {
            return 15;
        }
    }

    private Optional<Long> postmasterPid() {
        Path pidFile = dataDir.resolve("postmaster.pid");
        try {
            List<String> lines = Files.readAllLines(pidFile);
            return lines.isEmpty() ? Optional.empty() : Optional.of(Long.parseLong(lines.get(0).trim()));
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
    }

    private List<String> pgCtl(String... args) {
        List<String> l = new ArrayList<>(List.of(bin.resolve("pg_ctl").toString(), "-D", dataDir.toString()));
        l.addAll(List.of(args));
        return asPg(l);
    }

    /** Prefixes {@code runuser -u postgres --} when the JVM runs as root (root may not run initdb/postgres). */
    private List<String> asPg(List<String> cmd) {
        if (!ROOT) return cmd;
        List<String> l = new ArrayList<>(List.of("runuser", "-u", "postgres", "--"));
        l.addAll(cmd);
        return l;
    }

    static String quote(String v) {
        if (v.length() >= 2 && v.startsWith("'") && v.endsWith("'")) return v;
        return "'" + v.replace("\\", "\\\\").replace("'", "''") + "'";
    }

    static String quoteIdent(String ident) { return "\"" + ident.replace("\"", "\"\"") + "\""; }
}
