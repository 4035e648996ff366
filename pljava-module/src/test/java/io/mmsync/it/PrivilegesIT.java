package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Nothing in the mmsync schema is usable by a plain role (PUBLIC), not even reading status; the
 * role mmsync_admin may use all of it; and an application role still writes synced tables (the
 * capture trigger needs no right of it).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PrivilegesIT {
    static final String DB = "app";

    @Test
    void plainRolesGetNothingAndMmsyncAdminGetsEverything() throws Exception {
        try (PgCluster c = PgCluster.start("privileges")) {
            c.execute("postgres", "CREATE ROLE mmsync_admin NOLOGIN");
            c.execute("postgres", "CREATE ROLE ops LOGIN IN ROLE mmsync_admin");
            c.execute("postgres", "CREATE ROLE app_user LOGIN");
            c.createDatabase(DB);
            c.execute(DB, "CREATE EXTENSION mmsync");
            c.execute(DB, "CREATE TABLE posts (id int PRIMARY KEY, v text); ALTER TABLE posts OWNER TO ops;"
                    + "GRANT SELECT, INSERT, UPDATE, DELETE ON posts TO app_user");

            assertEquals("0 0 0", rights(c, "app_user"), "PUBLIC: no function, table or schema right");
            assertEquals("0 0 0", rights(c, "PUBLIC"));
            assertEquals("t", c.queryString(DB, "SELECT has_function_privilege('public', 'mmsync._capturing()', 'EXECUTE')"),
                    "the one function PUBLIC may execute: the capture triggers' WHEN clause");
            for (String sql : List.of("SELECT * FROM mmsync.status()", "SELECT count(*) FROM mmsync.changes",
                    "SELECT conninfo FROM mmsync.nodes", "SELECT mmsync.add_node('red', 'host=h')",
                    "SELECT mmsync.grant_admin('app_user')", "SELECT mmsync.set_retention('app', max_changes => 1)")) {
                String err = Errors.of(() -> as(c, "app_user", sql));
                assertTrue(err.contains("permission denied for schema mmsync"), sql + ": " + err);
            }

            // a member of mmsync_admin registers nodes, adds a sync on a table it owns, reads status
            as(c, "ops", "SELECT mmsync.add_node('blue', 'host=127.0.0.1 port=" + c.port() + " dbname=app user=ops', true)");
            as(c, "ops", "SELECT mmsync.add_node('green', 'host=127.0.0.1 port=1 dbname=app user=ops')");
            assertEquals("sync \"app\": 1 tables on blue, green", as(c, "ops", "SELECT mmsync.add_sync('app', '{blue,green}')"));
            as(c, "ops", "SELECT mmsync.set_retention('app', max_changes => 1000000)");
            as(c, "app_user", "INSERT INTO posts VALUES (1, 'captured for an application role')");
            assertEquals("1", as(c, "ops", "SELECT backlog FROM mmsync.status()"));
            assertEquals("1", as(c, "ops", "SELECT count(*) FROM mmsync.changes"));
            assertEquals("all all all", rights(c, "mmsync_admin"));
            assertEquals("0 0 0", rights(c, "app_user"), "still nothing for the application role");

            // mmsync_admin created after CREATE EXTENSION: grant_admin() by the extension owner
            c.execute("postgres", "CREATE DATABASE late");
            c.execute("late", "CREATE EXTENSION mmsync");
            c.execute("postgres", "CREATE ROLE late_admin NOLOGIN");
            assertEquals("role late_admin may use the mmsync schema", c.queryString("late", "SELECT mmsync.grant_admin('late_admin')"));
            assertEquals("all all all", rights(c, "late", "late_admin"));
            assertTrue(Errors.of(() -> c.execute("late", "SELECT mmsync.grant_admin('nobody')"))
                    .contains("role \"nobody\" does not exist"));
        }
    }

    /** "functions tables schema": how many of the schema's objects the role may use, or "all". */
    private static String rights(PgCluster c, String role) {
        return rights(c, DB, role);
    }

    private static String rights(PgCluster c, String db, String role) {
        String r = role.equals("PUBLIC") ? "public" : role;
        return c.queryString(db, "SELECT concat_ws(' ', "
                + "(SELECT CASE WHEN bool_and(ok) THEN 'all' ELSE count(*) FILTER (WHERE ok)::text END FROM ("
                + "  SELECT has_function_privilege('" + r + "', p.oid, 'EXECUTE') AS ok FROM pg_proc p"
                // but _capturing(): the capture triggers' WHEN clause, which every writing role evaluates
                // (it tells only whether the session is the mmsync applier's; 95_capture_when.sql)
                + "  WHERE p.pronamespace = 'mmsync'::regnamespace AND p.proname <> '_capturing') f),"
                + "(SELECT CASE WHEN bool_and(ok) THEN 'all' ELSE count(*) FILTER (WHERE ok)::text END FROM ("
                + "  SELECT has_table_privilege('" + r + "', t.oid, 'SELECT') OR has_table_privilege('" + r + "', t.oid, 'INSERT') AS ok"
                + "  FROM pg_class t WHERE t.relnamespace = 'mmsync'::regnamespace AND t.relkind IN ('r', 'S')) t),"
                + "CASE WHEN has_schema_privilege('" + r + "', 'mmsync', 'USAGE') THEN 'all' ELSE '0' END)");
    }

    private static String as(PgCluster c, String user, String sql) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", user);
        try (Connection conn = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + c.port() + "/" + DB, p);
             Statement st = conn.createStatement()) {
            if (!st.execute(sql)) {
                return null;
            }
            try (ResultSet rs = st.getResultSet()) {
                return rs.next() ? rs.getString(1) : null;
            }
        }
    }
}
