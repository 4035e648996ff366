package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.ChangeId;
import io.mmsync.engine.model.ConflictStrategy;
import io.mmsync.engine.model.Op;
import io.mmsync.engine.model.TableRef;
import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * Issue 15, two-way TPC-B: the conflicts that lost nothing are counted in Java and sent as one
 * count with the commit request ({@link ConflictLog#split}); the rest go to the SQL that counts or
 * logs each, as every conflict did before. Here, on a real server with the extension, a page's worth
 * of conflicts of every shape (sure, unsure in Java, logged) is written both ways in a transaction
 * each, rolled back: the counts and the logged rows must be the same.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class ConflictCountIT {
    private static final TableRef B = new TableRef("public", "b");
    private static final TableRef C = new TableRef("public", "c");
    private static PgCluster pg;

    @BeforeAll
    static void start() throws SQLException {
        pg = PgCluster.start("conflictcount");
        pg.execute("postgres", "CREATE EXTENSION mmsync; "
                + "CREATE TABLE b (id int PRIMARY KEY, bal int NOT NULL, v text, n numeric, j jsonb); "
                + "CREATE TABLE c (id int PRIMARY KEY, bal int NOT NULL, v text)");
        pg.execute("postgres", "SELECT mmsync.add_node('blue', '" + pg.conninfo("postgres") + "', true); "
                + "SELECT mmsync.add_node('green', 'host=127.0.0.1 port=1 dbname=none'); "
                + "SELECT mmsync.add_sync('app', '{blue,green}', initial => 'none'); "
                + "SELECT mmsync.set_column_policy('b', 'bal', 'delta')");
    }

    @AfterAll
    static void stop() {
        if (pg != null) {
            pg.close();
        }
    }

    @Test
    void countsAndLogsAsTheSqlAloneDoes() throws Exception {
        List<ConflictLog.Entry> entries = new ArrayList<>();
        // sure in Java: the other columns written alike (a null too), merged or remote_applied
        entries.add(entry(B, "update_update", Resolution.MERGED, "{\"id\": 1, \"bal\": 15, \"v\": \"x\", \"n\": 2, \"j\": null}",
                "{\"id\": 1, \"bal\": 12, \"v\": \"x\", \"n\": 2, \"j\": null}"));
        entries.add(entry(B, "update_update", Resolution.REMOTE_APPLIED, "{\"id\": 2, \"bal\": 7, \"v\": null}",
                "{\"id\": 2, \"bal\": 9, \"v\": null}"));
        // unsure in Java, counted by the SQL: a number written two ways, a nested value
        entries.add(entry(B, "update_update", Resolution.MERGED, "{\"id\": 3, \"bal\": 15, \"v\": \"x\", \"n\": 1.0}",
                "{\"id\": 3, \"bal\": 12, \"v\": \"x\", \"n\": 1}"));
        entries.add(entry(B, "update_update", Resolution.MERGED, "{\"id\": 4, \"bal\": 15, \"j\": {\"a\": [1, 2]}}",
                "{\"id\": 4, \"bal\": 12, \"j\": {\"a\": [1, 2]}}"));
        // logged: another column differs, a column missing from the losing image, local_kept, another kind,
        // a table without delta columns
        entries.add(entry(B, "update_update", Resolution.MERGED, "{\"id\": 5, \"bal\": 15, \"v\": \"y\"}",
                "{\"id\": 5, \"bal\": 12, \"v\": \"x\"}"));
        entries.add(entry(B, "update_update", Resolution.MERGED, "{\"id\": 6, \"bal\": 15, \"v\": \"x\"}",
                "{\"id\": 6, \"bal\": 12}"));
        entries.add(entry(B, "update_update", Resolution.LOCAL_KEPT, "{\"id\": 7, \"bal\": 15, \"v\": \"x\"}",
                "{\"id\": 7, \"bal\": 12, \"v\": \"x\"}"));
        entries.add(entry(B, "update_delete", Resolution.REMOTE_APPLIED, "{\"id\": 8, \"bal\": 15, \"v\": \"x\"}",
                "{\"id\": 8, \"bal\": 12, \"v\": \"x\"}"));
        entries.add(entry(C, "update_update", Resolution.REMOTE_APPLIED, "{\"id\": 9, \"bal\": 15, \"v\": \"x\"}",
                "{\"id\": 9, \"bal\": 12, \"v\": \"x\"}"));
        try (Connection conn = pg.connect("postgres")) {
            conn.setAutoCommit(false);
            ConflictLog.write(conn, entries, List.of());
            String sqlAlone = state(conn);
            conn.rollback();

            PeerTables tables = new PeerTables("blue");
            tables.use(conn);
            ConflictLog.Split split = ConflictLog.split(entries, tables);
            assertEquals(7, split.rest().size(), "the two sure ones are counted in Java, the rest left to the SQL");
            assertNotNull(split.counts());
            ConflictLog.write(conn, split.rest(), List.of());
            try (PreparedStatement st = conn.prepareStatement(split.counts().sql())) {
                st.setObject(1, split.counts().json(), Types.OTHER);
                st.executeUpdate();
            }
            String split2 = state(conn);
            conn.rollback();
            assertEquals("4|5,6,7,8,9", sqlAlone, "the SQL alone counts 1-4 and logs 5-9");
            assertEquals(sqlAlone, split2, "the same counts and logged rows either way");
        }
    }

    private static String state(Connection conn) throws SQLException {
        try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(
                "SELECT (SELECT coalesce(sum(merged), 0) FROM mmsync.conflict_counts WHERE sync_name = 'app' AND origin = 'green') "
                        + "|| '|' || (SELECT coalesce(string_agg(key, ',' ORDER BY key), '') FROM mmsync.conflicts)")) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static ConflictLog.Entry entry(TableRef t, String kind, Resolution r, String winning, String losing) {
        String id = winning.replaceAll("^\\{\"id\": (\\d+).*", "$1");
        Change c = new Change(ChangeId.valueOf(Long.parseLong(id)), t, Op.UPDATE, Instant.now(), id, id, losing, winning);
        return new ConflictLog.Entry("app", c, kind, ConflictStrategy.LATEST, r, "green", Instant.now(), Instant.now(), winning, losing);
    }
}
