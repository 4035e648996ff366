package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 14: the capture trigger in C (library mmsync_capture) and its PL/pgSQL fallback queue the
 * same rows. The same statements run once with each implementation (mmsync.set_capture switches
 * capture() in place): every common column type, NULLs, json columns (kept as their exact text:
 * white space, bare strings, JSON null), a toasted value, a dropped and an added column, a delta
 * column, key updates, deletes, ON CONFLICT, a rolled-back savepoint; the queued rows must be equal
 * byte for byte (jsonb_send of old and new, op, relid, sync id) and in the same order. Then the
 * fallback: an extension created by a role that may not load C code captures with PL/pgSQL.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class CaptureImplIT {
    static final String DB = "capimpl";

    static final String SCHEMA = "CREATE TYPE mood AS ENUM ('sad', 'ok');"
            + "CREATE TYPE pair AS (a int, b text);"
            + "CREATE DOMAIN posint AS integer CHECK (VALUE > 0);"
            + "CREATE TABLE t (id int PRIMARY KEY, dropme text, b bool, s smallint, i int, l bigint, n numeric(10,2),"
            + " nn numeric, f4 real, f8 float8, tx text, vc varchar(10), ch char(5), d date, ts timestamp, tz timestamptz,"
            + " j json, j2 json, jb jsonb, u uuid, ba bytea, arr int[], tarr text[], m mood, p posint, iv interval,"
            + " pt point, x xml, c pair, big text, balance bigint NOT NULL DEFAULT 0);"
            + "ALTER TABLE t DROP COLUMN dropme;"
            + "CREATE TABLE k2 (a text, b int, v text, PRIMARY KEY (a, b));"
            + "CREATE TABLE sc (id uuid PRIMARY KEY, n numeric, f float4, iv interval, m mood, p posint, o oid, t time);"
            // insert-only (capture_keyless, in C since issue 14's -N work: an insert as capture() queues it, an
            // update or a delete set aside by the PL/pgSQL function it calls)
            + "CREATE TABLE ko (a int, b text, j json);";

    /** Run once per implementation, each time on emptied tables. */
    static final String[] STATEMENTS = {
        "INSERT INTO t VALUES (1, true, -3, 42, 9007199254740993, 12.50, 'NaN', 1.5, 1e300, 'hé \"q\" \\ x\ttab', 'vc', 'ab',"
            + " '2024-02-29', '2024-01-01 12:34:56.789', '2024-01-01 12:34:56+02', '  {\"b\":1,  \"a\" : [1, 2]}  ', 'null',"
            + " '{\"z\":1,\"a\":null}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff', '{1,NULL,3}', '{\"a b\",c}', 'ok', 7,"
            + " '1 day 2 hours', '(1,2)', '<a/>', '(5,\"x y\")', repeat('x', 10000), 100)",
        "INSERT INTO t (id) VALUES (2)",
        "INSERT INTO t (id, j, j2, f8, nn, s, l, tz) VALUES (3, '\"bare string\"', ' 12.0 ', 'Infinity', '-0.000100', 0,"
            + " -9223372036854775808, 'infinity'), (4, '[]', '{}', '-0', '1e-20', 32767, 0, '-infinity')",
        "INSERT INTO t (id, big, tx) SELECT 5, string_agg(md5(g::text), ''), repeat('é', 3000) FROM generate_series(1, 20000) g",
        "UPDATE t SET i = i + 1, tx = NULL, balance = balance + 5 WHERE id = 1",
        "UPDATE t SET id = 10 WHERE id = 2",
        "UPDATE t SET b = b, i = NULL WHERE id = 10",
        "DELETE FROM t WHERE id = 3",
        "ANALYZE t",
        "ALTER TABLE t ADD COLUMN added text DEFAULT 'dflt'",
        "UPDATE t SET balance = balance - 1 WHERE id IN (4, 5)",
        "INSERT INTO t (id, added) VALUES (6, NULL)",
        "INSERT INTO t (id, i) VALUES (6, 1) ON CONFLICT (id) DO UPDATE SET i = EXCLUDED.i + 1",
        "INSERT INTO k2 VALUES ('a', 1, 'v1'), ('b', 2, NULL)",
        "UPDATE k2 SET b = b + 10, v = 'v2' WHERE a = 'a'",
        "BEGIN; INSERT INTO k2 VALUES ('c', 3, 'kept'); SAVEPOINT s; INSERT INTO k2 VALUES ('d', 4, 'rolled back');"
            + " ROLLBACK TO SAVEPOINT s; UPDATE k2 SET v = 'after rollback' WHERE a = 'c'; COMMIT",
        "DELETE FROM k2",
        "INSERT INTO sc VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1.10, 'NaN', '-1 mon', 'sad', 1, 42, '01:02:03.5'),"
            + " ('b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', NULL, 1.25, NULL, NULL, NULL, NULL, NULL)",
        "UPDATE sc SET n = n * 3, f = '-Infinity' WHERE n IS NOT NULL",
        "INSERT INTO ko VALUES (1, 'x', ' {\"a\" : 1} '), (2, NULL, NULL)",
        "UPDATE ko SET b = 'y' WHERE a = 1",
        "DELETE FROM ko WHERE a = 2",
        "BEGIN; SAVEPOINT s; INSERT INTO ko VALUES (3, 'rolled back', NULL); ROLLBACK TO SAVEPOINT s;"
            + " INSERT INTO ko VALUES (4, 'kept', NULL); COMMIT",
    };
    /** What the statements set aside (updates and deletes of the insert-only table). */
    static final String SET_ASIDE = "SELECT string_agg(a.op::text || ' ' || a.table_name || ' ' || a.old::text || ' '"
            + " || coalesce(a.new::text, '-') || ' ' || a.error, ' | ' ORDER BY a.id) FROM mmsync.set_aside a";

    /** The queued rows, an update's old row whole as the view mmsync.changes shows it (new || old). */
    static final String QUEUED = "SELECT c.op, c.relid::regclass::text, c.sync_id, encode(jsonb_send(c.old), 'hex'),"
            + " encode(jsonb_send(c.new), 'hex'), c.old::text, c.new::text, c.xid::text::bigint > 0,"
            + " c.at BETWEEN now() - interval '1 hour' AND clock_timestamp()"
            + " FROM (SELECT q.id, q.op, q.relid, q.sync_id, q.xid, q.at, q.new,"
            + " CASE WHEN q.op = 'U' THEN q.new || q.old ELSE q.old END AS old FROM mmsync.change_queue q) c"
            + " WHERE c.op <> 'T' ORDER BY c.id";
    /** The columns each update's queued old row holds, as stored. */
    static final String UPDATE_OLD_KEYS = "SELECT string_agg(coalesce((SELECT string_agg(k, ',' ORDER BY k)"
            + " FROM jsonb_object_keys(c.old) k), '-'), ' | ' ORDER BY c.id) FROM mmsync.change_queue c WHERE c.op = 'U'";

    @Test
    void cAndPlpgsqlQueueIdenticalRows() throws Exception {
        try (PgCluster pg = PgCluster.start("capimpl")) {
            pg.createDatabase(DB);
            pg.execute(DB, "CREATE EXTENSION mmsync");
            assertEquals("c", pg.queryString(DB, "SELECT mmsync.capture_impl()"),
                    "the library mmsync_capture is installed (installer/install.sh), so CREATE EXTENSION picks the C trigger");
            pg.execute(DB, SCHEMA);
            pg.execute(DB, "SELECT mmsync.add_node('blue', '" + pg.conninfo(DB) + "', true);"
                    + "SELECT mmsync.add_node('green', 'host=127.0.0.1 port=1 dbname=none');"
                    + "SELECT mmsync.add_sync('s', '{blue,green}', tables => 't, k2, sc', insert_only => 'ko', initial => 'none');"
                    + "SELECT mmsync.set_column_policy('t', 'balance', 'delta')");

            List<String> byPlpgsql = run(pg, "plpgsql");
            String plpgsqlOld = pg.queryString(DB, UPDATE_OLD_KEYS);
            List<String> byC = run(pg, "c");
            assertEquals(28, byC.size(), "27 changes queued by the C trigger and what it set aside: " + byC);
            assertEquals(byPlpgsql, byC, "the C and the PL/pgSQL trigger queue the same rows (an update's old row read whole)");
            // the C trigger stores of an update's old row only what the update changed (not the
            // toasted big of row 5, nothing for an update that changed nothing); PL/pgSQL all of it.
            // 'added' of rows 4 and 5: a column added with a default after the row was written is
            // read from the catalog in the old row (a 4-byte header there, 1 byte in the new
            // row): not the same bytes, so queued (more than needed, never less)
            assertEquals("balance,i,tx | id | - | added,balance | added,balance | i | b,v | v | f,n", pg.queryString(DB, UPDATE_OLD_KEYS),
                    "columns of the old rows the C trigger queued for updates");
            assertTrue(plpgsqlOld.startsWith("arr,b,ba,balance,big,c,"), "PL/pgSQL queues the whole old row: " + plpgsqlOld);
            assertTrue(byC.stream().anyMatch(r -> r.contains("\"j\": \"{\\\"b\\\":1,  \\\"a\\\" : [1, 2]}\"")),
                    "a json column's exact text is kept (inner white space, key order): " + byC.get(0));
            assertTrue(byC.stream().anyMatch(r -> r.contains("\"j\": \"\\\"bare string\\\"\"")), "a bare JSON string keeps its quotes");
            assertTrue(byC.get(0).contains("\"j2\": null"), "a json null is queued as null: " + byC.get(0));
            assertTrue(byC.stream().noneMatch(r -> r.contains("rolled back")), "a rolled-back savepoint's row is not queued");
            assertEquals("c", pg.queryString(DB, "SELECT mmsync.capture_impl()"));
            assertEquals("c", pg.queryString(DB, "SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang"
                    + " WHERE p.oid = 'mmsync.capture_keyless()'::regprocedure"), "the insert-only tables' trigger runs in C too");
            assertTrue(byC.stream().anyMatch(r -> r.startsWith("I ko ") && r.contains("\"j\": {\"a\": 1}") && r.contains("\"b\": \"x\"")),
                    "an insert into the insert-only table is queued: " + byC);
            assertEquals("set aside: U ko {\"a\": 1, \"b\": \"x\", \"j\": {\"a\": 1}} "
                    + "{\"a\": 1, \"b\": \"y\", \"j\": {\"a\": 1}} "
                    + "UPDATE on insert-only table without primary key is not replicated | D ko {\"a\": 2, \"b\": null, \"j\": null} "
                    + "- DELETE on insert-only table without primary key is not replicated", byC.get(byC.size() - 1),
                    "the C trigger of the insert-only table sets an update and a delete aside, as PL/pgSQL does");
        }
    }

    /**
     * A queue table the C trigger's direct path cannot write (a column of a later version with a
     * default, an index on an expression): it inserts through SQL, and both triggers still queue
     * the same rows, the new column filled by its default.
     */
    @Test
    void aQueueColumnItDoesNotKnowIsFilledByItsDefault() throws Exception {
        try (PgCluster pg = PgCluster.start("capnewcol")) {
            pg.createDatabase(DB);
            pg.execute(DB, "CREATE EXTENSION mmsync");
            pg.execute(DB, SCHEMA);
            pg.execute(DB, "SELECT mmsync.add_node('blue', '" + pg.conninfo(DB) + "', true);"
                    + "SELECT mmsync.add_node('green', 'host=127.0.0.1 port=1 dbname=none');"
                    + "SELECT mmsync.add_sync('s', '{blue,green}', tables => 't, k2, sc', insert_only => 'ko', initial => 'none');"
                    + "ALTER TABLE mmsync.changes_0 ADD COLUMN later text NOT NULL DEFAULT 'filled';"
                    + "CREATE INDEX changes_0_op_lower ON mmsync.changes_0 (lower(op::text))");
            List<String> byPlpgsql = run(pg, "plpgsql");
            String plpgsqlOld = pg.queryString(DB, UPDATE_OLD_KEYS);
            List<String> byC = run(pg, "c");
            assertEquals(28, byC.size(), "27 changes queued by the C trigger and what it set aside: " + byC);
            assertEquals(byPlpgsql, byC, "the C and the PL/pgSQL trigger queue the same rows (an update's old row read whole)");
            // the C trigger stores of an update's old row only what the update changed (not the
            // toasted big of row 5, nothing for an update that changed nothing); PL/pgSQL all of it.
            // 'added' of rows 4 and 5: a column added with a default after the row was written is
            // read from the catalog in the old row (a 4-byte header there, 1 byte in the new
            // row): not the same bytes, so queued (more than needed, never less)
            assertEquals("balance,i,tx | id | - | added,balance | added,balance | i | b,v | v | f,n", pg.queryString(DB, UPDATE_OLD_KEYS),
                    "columns of the old rows the C trigger queued for updates");
            assertTrue(plpgsqlOld.startsWith("arr,b,ba,balance,big,c,"), "PL/pgSQL queues the whole old row: " + plpgsqlOld);
            assertEquals("27/27", pg.queryString(DB, "SELECT count(*) FILTER (WHERE later = 'filled') || '/' || count(*)"
                    + " FROM mmsync.changes_0 WHERE op <> 'T'"));
            try (Connection c = pg.connect(DB); Statement st = c.createStatement()) {
                st.execute("SET enable_seqscan = off");
                StringBuilder plan = new StringBuilder();
                try (ResultSet rs = st.executeQuery("EXPLAIN SELECT count(*) FROM mmsync.changes_0 WHERE lower(op::text) IN ('i', 'u', 'd')")) {
                    while (rs.next()) {
                        plan.append(rs.getString(1)).append('\n');
                    }
                }
                assertTrue(plan.toString().contains("changes_0_op_lower"), "the expression index is used: " + plan);
                assertEquals("27", one(st, "SELECT count(*) FROM mmsync.changes_0 WHERE lower(op::text) IN ('i', 'u', 'd')"),
                        "the expression index has every row");
            }
        }
    }

    /** Runs {@link #STATEMENTS} with capture() in {@code impl}, returns the queued changes, one line each. */
    static List<String> run(PgCluster pg, String impl) throws SQLException {
        assertEquals(impl, pg.queryString(DB, "SELECT mmsync.set_capture('" + impl + "')"));
        assertEquals(impl, pg.queryString(DB, "SELECT mmsync.capture_impl()"));
        pg.execute(DB, "ALTER TABLE t DROP COLUMN IF EXISTS added;"
                + " DELETE FROM t; DELETE FROM k2; DELETE FROM sc; TRUNCATE ko; TRUNCATE mmsync.changes_0, mmsync.changes_1, mmsync.changes_2,"
                + " mmsync.set_aside");
        List<String> rows = new ArrayList<>();
        try (Connection c = pg.connect(DB); Statement st = c.createStatement()) {
            for (String sql : STATEMENTS) {
                st.execute(sql);
            }
            try (ResultSet rs = st.executeQuery(QUEUED)) {
                while (rs.next()) {
                    assertTrue(rs.getBoolean(8) && rs.getBoolean(9), "xid and at filled: " + rs.getString(7));
                    rows.add(rs.getString(1) + " " + rs.getString(2) + " " + rs.getInt(3) + " old " + rs.getString(4)
                            + " new " + rs.getString(5) + " | " + rs.getString(6) + " | " + rs.getString(7));
                }
            }
            rows.add("set aside: " + one(st, SET_ASIDE));
        }
        return rows;
    }

    /**
     * The fallback: a database owner that is no superuser creates the extension; it may not create a
     * C function, so CREATE EXTENSION picks the PL/pgSQL trigger (with a NOTICE) and capture works.
     */
    @Test
    void withoutTheLibraryCaptureRunsAsPlpgsql() throws Exception {
        try (PgCluster pg = PgCluster.start("capfallback")) {
            pg.execute("postgres", "CREATE ROLE appowner LOGIN");
            pg.execute("postgres", "CREATE DATABASE " + DB + " OWNER appowner");
            try (Connection c = pg.connect(DB); Statement st = c.createStatement()) {
                st.execute("SET ROLE appowner");
                st.execute("CREATE EXTENSION mmsync");
                assertEquals("plpgsql", one(st, "SELECT mmsync.capture_impl()"));
                st.execute("CREATE TABLE t (id int PRIMARY KEY, v text, j json)");
                st.execute("SELECT mmsync.add_node('blue', '" + pg.conninfo(DB) + "', true);"
                        + "SELECT mmsync.add_node('green', 'host=127.0.0.1 port=1 dbname=none');"
                        + "SELECT mmsync.add_sync('s', '{blue,green}', tables => 't', initial => 'none')");
                st.execute("INSERT INTO t VALUES (1, 'a', ' \"s\" '); UPDATE t SET v = 'b'; DELETE FROM t");
                assertEquals("I {\"j\": \"\\\"s\\\"\", \"v\": \"a\", \"id\": 1}|U b|D ",
                        one(st, "SELECT string_agg(op::text || ' ' || CASE op WHEN 'I' THEN new::text WHEN 'U' THEN new->>'v' ELSE '' END,"
                                + " '|' ORDER BY id) FROM mmsync.change_queue WHERE op <> 'T'"));
                try {
                    st.execute("SELECT mmsync.set_capture('c')");
                    throw new AssertionError("set_capture('c') by a role that may not create C functions succeeded");
                } catch (SQLException e) {
                    assertTrue(e.getMessage().contains("the C capture trigger cannot be used"), e.getMessage());
                }
                assertEquals("plpgsql", one(st, "SELECT mmsync.capture_impl()"));
            }
            // a superuser may switch it to C afterwards; the existing trigger then runs in C
            pg.execute(DB, "SELECT mmsync.set_capture('c'); INSERT INTO t VALUES (2, 'c', NULL)");
            assertEquals("c|{\"j\": null, \"v\": \"c\", \"id\": 2}", pg.queryString(DB,
                    "SELECT mmsync.capture_impl() || '|' || (SELECT new::text FROM mmsync.change_queue WHERE new->>'id' = '2')"));
        }
    }

    /**
     * The fallback when the library is not there: with dynamic_library_path pointing elsewhere the
     * library cannot be found, 'auto' keeps PL/pgSQL (the NOTICE says why), 'c' refuses, and the
     * PL/pgSQL trigger captures; found again, 'auto' picks C.
     */
    @Test
    void aMissingLibraryLeavesPlpgsql() throws Exception {
        try (PgCluster pg = PgCluster.start("capmissing")) {
            pg.createDatabase(DB);
            pg.execute(DB, "CREATE EXTENSION mmsync; CREATE TABLE t (id int PRIMARY KEY, v text);"
                    + "SELECT mmsync.add_node('blue', '" + pg.conninfo(DB) + "', true);"
                    + "SELECT mmsync.add_node('green', 'host=127.0.0.1 port=1 dbname=none');"
                    + "SELECT mmsync.add_sync('s', '{blue,green}', tables => 't', initial => 'none')");
            try (Connection c = pg.connect(DB); Statement st = c.createStatement()) {
                st.execute("SET dynamic_library_path = '/nonexistent'");
                assertEquals("plpgsql", one(st, "SELECT mmsync.set_capture('auto')"));
                assertTrue(st.getWarnings() != null && st.getWarnings().getMessage().contains("capture runs as PL/pgSQL"),
                        "a NOTICE says why: " + st.getWarnings());
                try {
                    st.execute("SELECT mmsync.set_capture('c')");
                    throw new AssertionError("set_capture('c') without the library succeeded");
                } catch (SQLException e) {
                    assertTrue(e.getMessage().contains("the C capture trigger cannot be used"), e.getMessage());
                }
                st.execute("INSERT INTO t VALUES (1, 'by plpgsql')");
                assertEquals("plpgsql", one(st, "SELECT mmsync.capture_impl()"));
                st.execute("RESET dynamic_library_path");
                assertEquals("c", one(st, "SELECT mmsync.set_capture('auto')"));
                st.execute("INSERT INTO t VALUES (2, 'by c')");
            }
            assertEquals("I by plpgsql|I by c", pg.queryString(DB,
                    "SELECT string_agg(op::text || ' ' || (new->>'v'), '|' ORDER BY id) FROM mmsync.change_queue WHERE op <> 'T'"));
        }
    }

    static String one(Statement st, String sql) throws SQLException {
        try (ResultSet rs = st.executeQuery(sql)) {
            assertTrue(rs.next(), "a row for " + sql);
            return rs.getString(1);
        }
    }
}
